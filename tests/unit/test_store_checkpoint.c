/* The background WAL checkpointer: it copies pages back while the loop keeps writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/t0.h"
#include "store/store.h"

static void test_checkpointer_copies_the_wal_back_while_writes_go_on(void **state)
{
	char dir[] = "/tmp/t0ckpt.XXXXXX", path[64], wal[80], err[256];
	struct store *st = NULL;
	unsigned long long runs = 0, pages = 0;
	struct timespec pause = { 0, 20 * 1000000L };
	struct stat sb;
	int first = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_checkpointer_runs(st, &runs, &pages), T0_ENOTFOUND);
	assert_int_equal(store_checkpointer_start(st, 10), T0_OK);
	for (int i = 0; i < 400; i++) {
		char key[32];

		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(store_seen_mark(st, key, 1000, 1000, &first), T0_OK);
		if (i % 40 == 0)
			nanosleep(&pause, NULL);
	}
	nanosleep(&pause, NULL);
	nanosleep(&pause, NULL);
	assert_int_equal(store_checkpointer_runs(st, &runs, &pages), T0_OK);
	assert_true(runs >= 3);
	assert_true(pages > 0);
	/* The WAL is reused once checkpointed, not grown by every commit. */
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size < 400 * 4096);
	store_checkpointer_stop(st);
	assert_int_equal(store_checkpointer_runs(st, &runs, &pages), T0_ENOTFOUND);
	/* Everything written is there after the thread has gone. */
	assert_int_equal(store_seen_mark(st, "k399", 1000, 1000, &first), T0_OK);
	assert_int_equal(first, 0);
	store_close(st);
	unlink(path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	unlink(wal);
	rmdir(dir);
}

static void test_checkpointer_is_a_no_op_for_memory_stores(void **state)
{
	struct store *st = NULL;
	char err[256];

	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_checkpointer_start(st, 10), T0_OK);
	assert_int_equal(store_checkpointer_runs(st, NULL, NULL), T0_ENOTFOUND);
	assert_int_equal(store_checkpointer_start(st, 0), T0_EINVAL);
	store_close(st); /* stops nothing, frees everything */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checkpointer_copies_the_wal_back_while_writes_go_on),
		cmocka_unit_test(test_checkpointer_is_a_no_op_for_memory_stores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
