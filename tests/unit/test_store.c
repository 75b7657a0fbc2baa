/*
 * Store: open, pragmas, migrations, seen events, audit rows, transactions,
 * and the constraints of every table. A second raw sqlite3 connection checks
 * what the store did to the file.
 */
/* nftw() for removing the scratch directory. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fx {
	char dir[64];
	char db[128];
	char err[512];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0_store_XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/tier0.db", f->dir);
	log_set_level(LOG_LEVEL_ERR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Raw connection for inspecting and poking the file behind the store's back. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL),
			 SQLITE_OK);
	return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static struct audit_row fake_row(int64_t seq, int64_t ts, const char *channel)
{
	struct audit_row r = {
		.seq = seq,
		.ts_ms = ts,
		.platform = "console",
		.user_id = "alice",
		.user_name = "Alice",
		.channel = channel,
		.kind = "test",
		.detail = "{\"n\":1}",
		.prev_hash = HASH_A,
		.hash = HASH_B,
	};
	return r;
}

struct collect {
	int n;
	int64_t seqs[16];
	char channels[16][16];
};

static int collect_cb(void *arg, const struct audit_row *row)
{
	struct collect *c = arg;

	if (c->n < 16) {
		c->seqs[c->n] = row->seq;
		snprintf(c->channels[c->n], sizeof(c->channels[0]), "%s",
			 row->channel ? row->channel : "(null)");
	}
	c->n++;
	return 0;
}

static void test_store_memory_open_applies_all_migrations(void **state)
{
	struct store *st = NULL;
	char err[256];
	int v = -1;

	(void)state;
	assert_true(store_schema_version() >= 2);
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_user_version(st, &v), T0_OK);
	assert_int_equal(v, store_schema_version());
	store_close(st);
	store_close(NULL);
}

static const char *const tables_by_version[][6] = {
	{ NULL },
	{ "audit", "seen_events", NULL },
	{ "incidents", "deployments", "conversation_refs", NULL },
	{ "approvals", "approval_votes", NULL },
	{ "llm_usage", NULL },
	{ "incident_events", "incident_actions", NULL },
	{ "approval_buttons", "audit_requests", NULL },
};

static int table_exists(sqlite3 *db, const char *name)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
	return raw_int(db, sql) == 1;
}

static void test_store_migrates_from_empty_and_each_earlier_version(void **state)
{
	struct fx *f = *state;
	int known = store_schema_version();
	int from, v, t, i, first;

	assert_int_equal((int)T0_ARRAY_LEN(tables_by_version), known + 1);
	for (from = 0; from < known; from++) {
		struct store *st = NULL;
		struct audit_row r = fake_row(1, 1000, "C1");
		int64_t seq = 0;
		char hash[65];
		sqlite3 *db;

		snprintf(f->db, sizeof(f->db), "%s/v%d.db", f->dir, from);
		assert_int_equal(store_open_at_version(f->db, from, &st, f->err, sizeof(f->err)),
				 T0_OK);
		assert_int_equal(store_user_version(st, &v), T0_OK);
		assert_int_equal(v, from);
		/* Only the tables of versions <= from exist. */
		db = raw_open(f->db);
		for (t = 1; t <= known; t++)
			for (i = 0; tables_by_version[t][i] != NULL; i++)
				assert_int_equal(table_exists(db, tables_by_version[t][i]), t <= from);
		sqlite3_close(db);
		if (from >= 1) {
			assert_int_equal(store_audit_insert(st, &r), T0_OK);
			assert_int_equal(store_seen_mark(st, "evt-1", 1000, 60000, &first), T0_OK);
			assert_int_equal(first, 1);
		}
		store_close(st);

		st = NULL;
		assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
		assert_int_equal(store_user_version(st, &v), T0_OK);
		assert_int_equal(v, known);
		db = raw_open(f->db);
		for (t = 1; t <= known; t++)
			for (i = 0; tables_by_version[t][i] != NULL; i++)
				assert_true(table_exists(db, tables_by_version[t][i]));
		sqlite3_close(db);
		assert_int_equal(store_audit_tail(st, &seq, hash), T0_OK);
		if (from >= 1) {
			/* Data written at the old version survives the upgrade. */
			assert_int_equal(seq, 1);
			assert_string_equal(hash, HASH_B);
			assert_int_equal(store_seen_mark(st, "evt-1", 2000, 60000, &first), T0_OK);
			assert_int_equal(first, 0);
		} else {
			assert_int_equal(seq, 0);
			assert_string_equal(hash, "");
		}
		store_close(st);
	}
}

static void test_store_open_at_lower_version_never_downgrades(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	int v = 0;

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	store_close(st);
	st = NULL;
	assert_int_equal(store_open_at_version(f->db, 1, &st, f->err, sizeof(f->err)), T0_OK);
	assert_int_equal(store_user_version(st, &v), T0_OK);
	assert_int_equal(v, store_schema_version());
	store_close(st);
	st = NULL;
	assert_int_equal(store_open_at_version(f->db, store_schema_version() + 1, &st, f->err,
					       sizeof(f->err)),
			 T0_EINVAL);
	assert_null(st);
}

static void test_store_rejects_newer_schema_version(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char sql[64];
	sqlite3 *db;

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	store_close(st);
	st = NULL;
	db = raw_open(f->db);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_version() + 1);
	assert_int_equal(raw_exec(db, sql), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, "newer"));
	assert_non_null(strstr(f->err, f->db));
	assert_int_equal(store_open_readonly(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	/* The refused file is left as it was. */
	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), store_schema_version() + 1);
	sqlite3_close(db);
}

static void test_store_rejects_garbage_file(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	unsigned char junk[8192];
	size_t sizes[] = { 7, 100, sizeof(junk) };
	size_t i, k;

	for (k = 0; k < T0_ARRAY_LEN(sizes); k++) {
		for (i = 0; i < sizes[k]; i++)
			junk[i] = (unsigned char)(i * 131 + 7 + k);
		write_file(f->db, junk, sizes[k]);
		f->err[0] = '\0';
		assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
		assert_null(st);
		assert_non_null(strstr(f->err, f->db));
		assert_non_null(strstr(f->err, "not a database"));
		assert_int_equal(store_open_readonly(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
		assert_null(st);
	}
}

static void test_store_rejects_database_with_damaged_pages(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	unsigned char junk[4096 * 4];
	char key[32];
	int fd, i, first;
	sqlite3 *db;

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	for (i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "key-%04d-padding-padding", i);
		assert_int_equal(store_seen_mark(st, key, 1, 1000, &first), T0_OK);
	}
	store_close(st);
	st = NULL;
	/* Fold the WAL back so the damage below hits the only copy of the pages. */
	db = raw_open(f->db);
	assert_int_equal(raw_exec(db, "PRAGMA journal_mode = DELETE"), SQLITE_OK);
	sqlite3_close(db);

	memset(junk, 0xA5, sizeof(junk));
	fd = open(f->db, O_WRONLY);
	assert_true(fd >= 0);
	/* Keep page 1 (header, schema) intact; smash the pages after it. */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
	close(fd);

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, f->db));
}

static void test_store_rejects_directory_and_unwritable_paths(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	char path[256];

	assert_int_equal(store_open(f->dir, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, f->dir));
	assert_non_null(strstr(f->err, "directory"));

	snprintf(path, sizeof(path), "%s/no/such/dir/tier0.db", f->dir);
	assert_int_equal(store_open(path, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, path));

	/* Even root cannot create files in /proc. */
	assert_int_equal(store_open("/proc/tier0-test.db", &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, "/proc/tier0-test.db"));

	assert_int_equal(store_open("", &st, f->err, sizeof(f->err)), T0_EINVAL);
	assert_int_equal(store_open(NULL, &st, f->err, sizeof(f->err)), T0_EINVAL);
}

static void test_store_readonly_open_never_creates_or_migrates(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	sqlite3 *db;
	int v = -1;

	assert_int_equal(store_open_readonly(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_false(file_exists(f->db));
	assert_non_null(strstr(f->err, f->db));

	/* A foreign SQLite file stays foreign. */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(raw_exec(db, "CREATE TABLE other (x)"), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open_readonly(f->db, &st, f->err, sizeof(f->err)), T0_EDB);
	assert_null(st);
	assert_non_null(strstr(f->err, "not a tier0 database"));
	db = raw_open(f->db);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 0);
	assert_false(table_exists(db, "audit"));
	sqlite3_close(db);

	remove(f->db);
	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	store_close(st);
	st = NULL;
	assert_int_equal(store_open_readonly(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	assert_int_equal(store_user_version(st, &v), T0_OK);
	assert_int_equal(v, store_schema_version());
	store_close(st);
}

static void test_store_file_database_is_in_wal_mode(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	const unsigned char *mode;
	sqlite3_stmt *s = NULL;
	sqlite3 *db;

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	db = raw_open(f->db);
	/* Reading the mode without setting it: WAL is persistent in the file. */
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	mode = sqlite3_column_text(s, 0);
	assert_string_equal((const char *)mode, "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	store_close(st);
}

static void test_store_seen_mark_dedupes_until_expiry(void **state)
{
	struct store *st = NULL;
	char err[256];
	int first = -1, removed = -1;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_seen_mark(st, "k", 1000, 500, &first), T0_OK);
	assert_int_equal(first, 1);
	assert_int_equal(store_seen_mark(st, "k", 1200, 500, &first), T0_OK);
	assert_int_equal(first, 0);
	assert_int_equal(store_seen_mark(st, "other", 1200, 500, &first), T0_OK);
	assert_int_equal(first, 1);
	/* Expired at 1500: new again, and the expiry is renewed to 2000. */
	assert_int_equal(store_seen_mark(st, "k", 1500, 500, &first), T0_OK);
	assert_int_equal(first, 1);
	assert_int_equal(store_seen_mark(st, "k", 1999, 500, &first), T0_OK);
	assert_int_equal(first, 0);
	/* A repeat does not extend the expiry: still new at 2000. */
	assert_int_equal(store_seen_mark(st, "k", 2000, 500, &first), T0_OK);
	assert_int_equal(first, 1);

	/* "other" expired at 1700; "k" lives until 2500. */
	assert_int_equal(store_seen_expire(st, 1699, &removed), T0_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(store_seen_expire(st, 1700, &removed), T0_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(store_seen_expire(st, 2500, NULL), T0_OK);
	assert_int_equal(store_seen_expire(st, 9999, &removed), T0_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(store_seen_mark(st, "other", 3000, 500, &first), T0_OK);
	assert_int_equal(first, 1);

	assert_int_equal(store_seen_mark(st, NULL, 1, 1, &first), T0_EINVAL);
	assert_int_equal(store_seen_mark(st, "k", 1, 0, &first), T0_EINVAL);
	assert_int_equal(store_seen_mark(st, "k", 1, 1, NULL), T0_EINVAL);
	store_close(st);
}

static void test_store_audit_insert_tail_and_iterate(void **state)
{
	struct store *st = NULL;
	struct collect c;
	struct audit_row r;
	char err[256];
	char hash[65];
	int64_t seq = -1;
	int i;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_audit_tail(st, &seq, hash), T0_OK);
	assert_int_equal(seq, 0);
	assert_string_equal(hash, "");
	for (i = 1; i <= 6; i++) {
		r = fake_row(i, i * 1000, i % 2 ? "odd" : "even");
		if (i == 6)
			r.channel = NULL;
		assert_int_equal(store_audit_insert(st, &r), T0_OK);
	}
	/* seq is the primary key: a second row 3 is refused. */
	r = fake_row(3, 1, "odd");
	assert_int_equal(store_audit_insert(st, &r), T0_EDB);
	r = fake_row(7, 1, "odd");
	r.hash = "short";
	assert_int_equal(store_audit_insert(st, &r), T0_EDB);
	r.kind = NULL;
	assert_int_equal(store_audit_insert(st, &r), T0_EINVAL);

	assert_int_equal(store_audit_tail(st, &seq, hash), T0_OK);
	assert_int_equal(seq, 6);
	assert_string_equal(hash, HASH_B);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_audit_each(st, 0, NULL, collect_cb, &c), T0_OK);
	assert_int_equal(c.n, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(c.seqs[i], i + 1);
	assert_string_equal(c.channels[5], "(null)");

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_audit_each(st, 3000, "odd", collect_cb, &c), T0_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[0], 3);
	assert_int_equal(c.seqs[1], 5);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_audit_last(st, "even", 2, collect_cb, &c), T0_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[0], 2);
	assert_int_equal(c.seqs[1], 4);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_audit_last(st, NULL, 3, collect_cb, &c), T0_OK);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.seqs[0], 4);
	assert_int_equal(c.seqs[2], 6);
	assert_int_equal(store_audit_last(st, NULL, 0, collect_cb, &c), T0_EINVAL);
	store_close(st);
}

static int stop_after_two(void *arg, const struct audit_row *row)
{
	int *n = arg;

	(void)row;
	return ++*n >= 2;
}

struct reenter {
	struct store *st;
	int inner_rc;
};

static int reenter_cb(void *arg, const struct audit_row *row)
{
	struct reenter *re = arg;
	int n = 0;

	(void)row;
	re->inner_rc = store_audit_each(re->st, 0, NULL, stop_after_two, &n);
	return 1;
}

static void test_store_audit_each_stops_and_refuses_reentry(void **state)
{
	struct store *st = NULL;
	struct audit_row r;
	struct reenter re;
	char err[256];
	int n = 0, i;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	for (i = 1; i <= 4; i++) {
		r = fake_row(i, i, "c");
		assert_int_equal(store_audit_insert(st, &r), T0_OK);
	}
	assert_int_equal(store_audit_each(st, 0, NULL, stop_after_two, &n), T0_OK);
	assert_int_equal(n, 2);
	re.st = st;
	re.inner_rc = -1;
	assert_int_equal(store_audit_each(st, 0, NULL, reenter_cb, &re), T0_OK);
	assert_int_equal(re.inner_rc, T0_EINVAL);
	/* The statement is usable again afterwards. */
	n = 0;
	assert_int_equal(store_audit_each(st, 0, NULL, stop_after_two, &n), T0_OK);
	assert_int_equal(n, 2);
	store_close(st);
}

static void test_store_nested_transactions_are_savepoints(void **state)
{
	struct store *st = NULL;
	struct audit_row r;
	char err[256];
	char hash[65];
	int64_t seq = 0;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_commit(st), T0_EINVAL);
	assert_int_equal(store_rollback(st), T0_EINVAL);

	assert_int_equal(store_begin(st), T0_OK);
	r = fake_row(1, 1, "c");
	assert_int_equal(store_audit_insert(st, &r), T0_OK);
	assert_int_equal(store_begin(st), T0_OK);
	r = fake_row(2, 2, "c");
	assert_int_equal(store_audit_insert(st, &r), T0_OK);
	assert_int_equal(store_rollback(st), T0_OK); /* undoes only row 2 */
	assert_int_equal(store_commit(st), T0_OK);
	assert_int_equal(store_audit_tail(st, &seq, hash), T0_OK);
	assert_int_equal(seq, 1);

	assert_int_equal(store_begin(st), T0_OK);
	r = fake_row(2, 2, "c");
	assert_int_equal(store_audit_insert(st, &r), T0_OK);
	assert_int_equal(store_rollback(st), T0_OK);
	assert_int_equal(store_audit_tail(st, &seq, hash), T0_OK);
	assert_int_equal(seq, 1);
	store_close(st);
}

static void test_store_tables_enforce_constraints(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	sqlite3 *db;

	assert_int_equal(store_open(f->db, &st, f->err, sizeof(f->err)), T0_OK);
	db = raw_open(f->db);

	/* audit rows are append-only. */
	assert_int_equal(raw_exec(db, "INSERT INTO audit (seq, ts_ms, kind, prev_hash, hash) VALUES"
				      " (1, 1, 'k', '" HASH_A "', '" HASH_B "')"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "UPDATE audit SET kind = 'x' WHERE seq = 1"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "DELETE FROM audit WHERE seq = 1"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO audit (seq, ts_ms, kind, prev_hash, hash)"
					  " VALUES (0, 1, 'k', '" HASH_A "', '" HASH_B "')"),
			     SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit"), 1);

	/* incidents: one row per (source, external_id); detail must be JSON. */
	assert_int_equal(raw_exec(db, "INSERT INTO incidents (source, external_id, status, created_ms,"
				      " updated_ms) VALUES ('pagerduty', 'P1', 'triggered', 1, 1)"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO incidents (source, external_id, status,"
					  " created_ms, updated_ms) VALUES ('pagerduty', 'P1',"
					  " 'triggered', 2, 2)"),
			     SQLITE_OK);
	assert_int_equal(raw_exec(db, "INSERT INTO incidents (source, external_id, status, created_ms,"
				      " updated_ms) VALUES ('alertmanager', 'P1', 'firing', 2, 2)"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO incidents (source, external_id, status,"
					  " created_ms, updated_ms, detail) VALUES ('x', 'y', 's', 1,"
					  " 1, 'not json')"),
			     SQLITE_OK);

	/* deployments: UNIQUE(source, external_id), service required. */
	assert_int_equal(raw_exec(db, "INSERT INTO deployments (service, source, external_id,"
				      " created_ms) VALUES ('checkout', 'github', 'd1', 1)"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO deployments (service, source, external_id,"
					  " created_ms) VALUES ('checkout', 'github', 'd1', 2)"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO deployments (source, external_id, created_ms)"
					  " VALUES ('github', 'd2', 2)"),
			     SQLITE_OK);

	/* approvals: known states, expiry not before creation. */
	assert_int_equal(raw_exec(db, "INSERT INTO approvals (id, action, request_hash, requester,"
				      " created_ms, expires_ms, updated_ms) VALUES ('a1', 'restart',"
				      " 'h', 'alice', 1, 100, 1)"),
			 SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM approvals WHERE state = 'pending'"), 1);
	assert_int_not_equal(raw_exec(db, "UPDATE approvals SET state = 'bogus' WHERE id = 'a1'"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO approvals (id, action, request_hash, requester,"
					  " created_ms, expires_ms, updated_ms) VALUES ('a2',"
					  " 'restart', 'h', 'alice', 100, 1, 1)"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO approvals (id, action, request_hash, requester,"
					  " created_ms, expires_ms, updated_ms) VALUES ('a1',"
					  " 'restart', 'h', 'bob', 1, 100, 1)"),
			     SQLITE_OK);

	/* approval_votes: one vote per approver, only for an existing approval. */
	assert_int_equal(raw_exec(db, "INSERT INTO approval_votes VALUES ('a1', 'bob', 'approve', 5)"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO approval_votes VALUES ('a1', 'bob', 'deny', 6)"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO approval_votes VALUES ('nope', 'bob',"
					  " 'approve', 6)"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO approval_votes VALUES ('a1', 'carol', 'maybe',"
					  " 6)"),
			     SQLITE_OK);
	assert_int_equal(raw_exec(db, "DELETE FROM approvals WHERE id = 'a1'"), SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM approval_votes"), 0);

	/* conversation_refs: one per (platform, conversation_id); stale is a flag. */
	assert_int_equal(raw_exec(db, "INSERT INTO conversation_refs (platform, conversation_id, ref,"
				      " updated_ms) VALUES ('teams', 'c1', '{}', 1)"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO conversation_refs (platform, conversation_id,"
					  " ref, updated_ms) VALUES ('teams', 'c1', '{}', 2)"),
			     SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "UPDATE conversation_refs SET stale = 2"), SQLITE_OK);

	/* seen_events: the key is unique. */
	assert_int_equal(raw_exec(db, "INSERT INTO seen_events VALUES ('e', 1)"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "INSERT INTO seen_events VALUES ('e', 2)"), SQLITE_OK);
	sqlite3_close(db);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_memory_open_applies_all_migrations, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_migrates_from_empty_and_each_earlier_version,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_open_at_lower_version_never_downgrades,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_rejects_newer_schema_version, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_rejects_garbage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_rejects_database_with_damaged_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_rejects_directory_and_unwritable_paths,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_readonly_open_never_creates_or_migrates,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_file_database_is_in_wal_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_seen_mark_dedupes_until_expiry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_audit_insert_tail_and_iterate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_audit_each_stops_and_refuses_reentry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_nested_transactions_are_savepoints, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_tables_enforce_constraints, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
