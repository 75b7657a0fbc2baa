/*
 * Audit chain: append, verify, tampering through the sqlite3 CLI (as an
 * attacker with file access would), canonical form, export and the CLI.
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
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bot/audit.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define T_20261126 1795680000000LL /* 2026-11-26T08:00:00Z */

struct fx {
	char dir[64];
	char db[128];
	char out[128];
	char err[512];
	struct store *st;
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
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0_audit_XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/tier0.db", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.txt", f->dir);
	log_set_level(LOG_LEVEL_ERR);
	if (store_open(f->db, &f->st, f->err, sizeof(f->err)) != T0_OK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	t0_set_fake_now_ms(0);
	store_close(f->st);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static const struct actor alice = {
	.platform = "slack", .user_id = "U1", .display_name = "Alice", .email = NULL
};

/* Appends n records at ts 1000, 2000, ... with a detail naming the step. */
static void append_n(struct fx *f, int n)
{
	int64_t seq = 0;
	json_t *d;
	int i;

	for (i = 1; i <= n; i++) {
		t0_set_fake_now_ms((int64_t)i * 1000);
		d = json_pack("{s:i, s:s, s:{s:b}}", "step", i, "text", "restart checkout",
			      "nested", "ok", 1);
		assert_non_null(d);
		assert_int_equal(audit_append(f->st, &alice, "C42", "action.request", d, &seq), T0_OK);
		assert_int_equal(seq, i);
		json_decref(d);
	}
	t0_set_fake_now_ms(0);
}

/* Runs the sqlite3 command-line shell on db; returns its exit status. */
static int sqlite_cli(const char *db, const char *sql)
{
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		execlp("sqlite3", "sqlite3", "-batch", db, sql, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One integer from a read-only raw connection; -2 when the result is not an integer. */
static int64_t raw_int(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_type(s, 0) == SQLITE_INTEGER ? sqlite3_column_int64(s, 0) : -2;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void expect_broken_at(struct fx *f, int64_t want_bad, int64_t want_count)
{
	int64_t count = -1, bad = -1;

	assert_int_equal(audit_verify(f->st, &count, &bad), T0_EINTEGRITY);
	assert_int_equal(bad, want_bad);
	assert_int_equal(count, want_count);
}

/* Runs fn with stdout redirected to f->out; returns fn's status, output in buf. */
static int capture_stdout(struct fx *f, int (*fn)(const char *, const char *), const char *a,
			  const char *b, char *buf, size_t buflen)
{
	int saved, fd, status;
	ssize_t n;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	status = fn(a, b);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	fd = open(f->out, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, buflen - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return status;
}

static int cli_verify(const char *path, const char *unused)
{
	(void)unused;
	return audit_cli_verify(path);
}

static int cli_export(const char *path, const char *since)
{
	return audit_cli_export(path, since);
}

struct rows {
	int n;
	struct {
		int64_t seq;
		char prev[65];
		char hash[65];
		char user_name[64];
		char platform[16];
		char detail[256];
	} r[8];
};

static int rows_cb(void *arg, const struct audit_row *row)
{
	struct rows *rs = arg;

	if (rs->n < 8) {
		rs->r[rs->n].seq = row->seq;
		snprintf(rs->r[rs->n].prev, 65, "%s", row->prev_hash);
		snprintf(rs->r[rs->n].hash, 65, "%s", row->hash);
		snprintf(rs->r[rs->n].user_name, 64, "%s", row->user_name ? row->user_name : "(null)");
		snprintf(rs->r[rs->n].platform, 16, "%s", row->platform ? row->platform : "(null)");
		snprintf(rs->r[rs->n].detail, 256, "%s", row->detail);
	}
	rs->n++;
	return 0;
}

static void test_audit_append_links_records_and_verifies(void **state)
{
	struct fx *f = *state;
	struct rows rs;
	int64_t count = -1, bad = -1;
	int i;

	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 0);
	append_n(f, 5);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 5);
	assert_int_equal(bad, 0);

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(store_audit_each(f->st, 0, NULL, rows_cb, &rs), T0_OK);
	assert_int_equal(rs.n, 5);
	assert_string_equal(rs.r[0].prev, ZERO_HASH);
	for (i = 1; i < 5; i++)
		assert_string_equal(rs.r[i].prev, rs.r[i - 1].hash);
	assert_string_equal(rs.r[0].user_name, "Alice");
	/* Stored detail is the compact, key-sorted form. */
	assert_string_equal(rs.r[0].detail, "{\"nested\":{\"ok\":true},\"step\":1,\"text\":\"restart checkout\"}");
}

static void test_audit_detects_row_edited_with_sqlite_cli(void **state)
{
	struct fx *f = *state;

	append_n(f, 5);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_update;"
					   " UPDATE audit SET detail = '{\"step\":3,\"text\":\"nothing to see\"}'"
					   " WHERE seq = 3;"),
			 0);
	expect_broken_at(f, 3, 2);
}

static void test_audit_detects_row_deleted_from_middle(void **state)
{
	struct fx *f = *state;

	append_n(f, 6);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 4;"),
			 0);
	expect_broken_at(f, 4, 3);
}

static void test_audit_detects_deletion_with_renumbering(void **state)
{
	struct fx *f = *state;

	/* A smarter attacker closes the gap; the link from seq 3 to the old seq 4 breaks. */
	append_n(f, 5);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_delete; DROP TRIGGER audit_no_update;"
					   " DELETE FROM audit WHERE seq = 3;"
					   " UPDATE audit SET seq = seq - 1 WHERE seq > 3;"),
			 0);
	expect_broken_at(f, 3, 2);
}

static void test_audit_detects_edited_hash_and_user(void **state)
{
	struct fx *f = *state;

	append_n(f, 5);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_update; UPDATE audit SET hash ="
					   " '1111111111111111111111111111111111111111111111111111111111111111'"
					   " WHERE seq = 4;"),
			 0);
	expect_broken_at(f, 4, 3);

	/* Editing a column other than detail is caught as well. */
	assert_int_equal(sqlite_cli(f->db, "UPDATE audit SET user_name = 'Mallory' WHERE seq = 2;"), 0);
	expect_broken_at(f, 2, 1);
}

static void test_audit_detects_unparseable_detail(void **state)
{
	struct fx *f = *state;

	append_n(f, 3);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_update;"
					   " UPDATE audit SET detail = '{broken' WHERE seq = 1;"),
			 0);
	expect_broken_at(f, 1, 0);
}

static void test_audit_hash_ignores_detail_key_order_and_spacing(void **state)
{
	struct audit_row r = {
		.seq = 7,
		.ts_ms = 123,
		.platform = "teams",
		.user_id = "u",
		.user_name = NULL,
		.channel = "c",
		.kind = "k",
		.prev_hash = ZERO_HASH,
	};
	char h1[65], h2[65], h3[65];

	(void)state;
	r.detail = "{\"b\":1,\"a\":{\"d\":[1,2],\"c\":\"x\"}}";
	assert_int_equal(audit_row_hash(&r, h1), T0_OK);
	r.detail = " { \"a\" : { \"c\" : \"x\", \"d\" : [ 1, 2 ] }, \"b\" : 1 } ";
	assert_int_equal(audit_row_hash(&r, h2), T0_OK);
	assert_string_equal(h1, h2);
	assert_int_equal(strlen(h1), 64);
	/* Array order is content, not layout. */
	r.detail = "{\"b\":1,\"a\":{\"d\":[2,1],\"c\":\"x\"}}";
	assert_int_equal(audit_row_hash(&r, h3), T0_OK);
	assert_string_not_equal(h1, h3);
	/* A NULL detail hashes as {}; a duplicate key is not canonical. */
	r.detail = NULL;
	assert_int_equal(audit_row_hash(&r, h2), T0_OK);
	r.detail = "{}";
	assert_int_equal(audit_row_hash(&r, h3), T0_OK);
	assert_string_equal(h2, h3);
	r.detail = "{\"a\":1,\"a\":2}";
	assert_int_not_equal(audit_row_hash(&r, h3), T0_OK);
}

static void test_audit_hash_matches_documented_vector(void **state)
{
	/* The vector in docs/STORE.md, computed there with an independent Python script. */
	struct audit_row r = {
		.seq = 1,
		.ts_ms = T_20261126,
		.platform = "slack",
		.user_id = "U123",
		.user_name = "Zo\xc3\xab",
		.channel = "C42",
		.kind = "action.request",
		.detail = "{\"b\":[1,2.5,1e20,{\"y\":true,\"x\":null}],"
			  "\"a\":\"snow \xe2\x98\x83 \\\"q\\\" \\\\ /\\n\\u001f\"}",
		.prev_hash = ZERO_HASH,
	};
	char h[65];

	(void)state;
	assert_int_equal(audit_row_hash(&r, h), T0_OK);
	assert_string_equal(h, "6f8dee496f49e03ba3623dcd3437c08bd3bbe10d1b014392b0a72e4b58a0d1f3");
}

static void test_audit_append_joins_caller_transaction(void **state)
{
	struct fx *f = *state;
	int64_t count = -1, bad = -1;

	assert_int_equal(store_begin(f->st), T0_OK);
	assert_int_equal(audit_append(f->st, &alice, "C1", "approval.vote", NULL, NULL), T0_OK);
	assert_int_equal(store_rollback(f->st), T0_OK);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 0);

	assert_int_equal(store_begin(f->st), T0_OK);
	assert_int_equal(audit_append(f->st, &alice, "C1", "approval.vote", NULL, NULL), T0_OK);
	assert_int_equal(audit_append(f->st, NULL, NULL, "system.start", NULL, NULL), T0_OK);
	assert_int_equal(store_commit(f->st), T0_OK);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 2);
}

static void test_audit_append_rejects_bad_arguments(void **state)
{
	struct fx *f = *state;
	json_t *arr = json_array();
	int64_t count = -1, bad = -1;

	assert_int_equal(audit_append(f->st, &alice, "C1", NULL, NULL, NULL), T0_EINVAL);
	assert_int_equal(audit_append(f->st, &alice, "C1", "", NULL, NULL), T0_EINVAL);
	assert_int_equal(audit_append(f->st, &alice, "C1", "k", arr, NULL), T0_EINVAL);
	assert_int_equal(audit_append(NULL, &alice, "C1", "k", NULL, NULL), T0_EINVAL);
	json_decref(arr);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 0);
}

static void test_audit_append_cleans_invalid_utf8_and_null_actor(void **state)
{
	struct fx *f = *state;
	struct actor bad_name = { .platform = "slack", .user_id = "U9", .display_name = "Bo\xff\xfe" };
	struct rows rs;
	int64_t count = -1, bad = -1;

	assert_int_equal(audit_append(f->st, &bad_name, "C1", "message", NULL, NULL), T0_OK);
	assert_int_equal(audit_append(f->st, NULL, NULL, "system.start", NULL, NULL), T0_OK);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 2);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(store_audit_each(f->st, 0, NULL, rows_cb, &rs), T0_OK);
	assert_string_equal(rs.r[0].user_name, "Bo??");
	assert_string_equal(rs.r[1].platform, "(null)");
	assert_string_equal(rs.r[1].detail, "{}");
}

static void test_audit_export_filters_by_time_and_embeds_detail(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	json_t *line;
	json_error_t jerr;
	char *save = NULL, *tok;
	int n = 0;

	append_n(f, 4);
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	assert_int_equal(audit_export(f->st, 3000, mem), T0_OK);
	fclose(mem);
	for (tok = strtok_r(buf, "\n", &save); tok != NULL; tok = strtok_r(NULL, "\n", &save)) {
		line = json_loads(tok, 0, &jerr);
		assert_non_null(line);
		assert_int_equal(json_integer_value(json_object_get(line, "seq")), 3 + n);
		assert_int_equal(json_integer_value(json_object_get(line, "ts_ms")), (3 + n) * 1000);
		assert_true(json_is_object(json_object_get(line, "detail")));
		assert_int_equal(json_integer_value(json_object_get(json_object_get(line, "detail"),
								    "step")),
				 3 + n);
		assert_int_equal(strlen(json_string_value(json_object_get(line, "hash"))), 64);
		assert_int_equal(strlen(json_string_value(json_object_get(line, "prev_hash"))), 64);
		assert_string_equal(json_string_value(json_object_get(line, "user_id")), "U1");
		assert_string_equal(json_string_value(json_object_get(line, "channel")), "C42");
		json_decref(line);
		n++;
	}
	assert_int_equal(n, 2);
	free(buf);

	buf = NULL;
	mem = open_memstream(&buf, &len);
	assert_int_equal(audit_export(f->st, 0, mem), T0_OK);
	fclose(mem);
	for (n = 0, tok = buf; (tok = strchr(tok, '\n')) != NULL; tok++)
		n++;
	assert_int_equal(n, 4);
	free(buf);
}

static void test_audit_two_connections_interleave_into_one_chain(void **state)
{
	struct fx *f = *state;
	struct store *st2 = NULL;
	int64_t count = -1, bad = -1, seq = 0;
	int i;

	/* Two processes (here: two connections) share the file; the tail is read under the write lock. */
	assert_int_equal(store_open(f->db, &st2, f->err, sizeof(f->err)), T0_OK);
	for (i = 0; i < 10; i++) {
		assert_int_equal(audit_append(i % 2 ? st2 : f->st, &alice, "C1", "step", NULL, &seq),
				 T0_OK);
		assert_int_equal(seq, i + 1);
	}
	assert_int_equal(audit_verify(st2, &count, &bad), T0_OK);
	assert_int_equal(count, 10);
	store_close(st2);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 10);
}

static void test_audit_export_keeps_damaged_rows(void **state)
{
	struct fx *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	append_n(f, 2);
	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_update;"
					   " UPDATE audit SET detail = '{oops', user_name = CAST(X'FF41' AS TEXT)"
					   " WHERE seq = 2;"),
			 0);
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	assert_int_equal(audit_export(f->st, 0, mem), T0_OK);
	fclose(mem);
	/* The damaged row is still exported, its detail as a string. */
	assert_non_null(strstr(buf, "\"seq\":2"));
	assert_non_null(strstr(buf, "\"detail\":\"{oops\""));
	assert_non_null(strstr(buf, "\"user_name\":\"?A\""));
	free(buf);
}

static void test_audit_parse_since_accepts_times_and_durations(void **state)
{
	const int64_t now = T_20261126 + 3600 * 1000;
	int64_t ms = -1;

	(void)state;
	assert_int_equal(audit_parse_since("24h", now, &ms), T0_OK);
	assert_int_equal(ms, now - 24LL * 3600 * 1000);
	assert_int_equal(audit_parse_since("30m", now, &ms), T0_OK);
	assert_int_equal(ms, now - 30LL * 60 * 1000);
	assert_int_equal(audit_parse_since("7d", now, &ms), T0_OK);
	assert_int_equal(ms, now - 7LL * 86400 * 1000);
	assert_int_equal(audit_parse_since("45s", now, &ms), T0_OK);
	assert_int_equal(ms, now - 45000);
	assert_int_equal(audit_parse_since("2w", now, &ms), T0_OK);
	assert_int_equal(ms, now - 14LL * 86400 * 1000);

	assert_int_equal(audit_parse_since("2026-11-26T08:00:00Z", now, &ms), T0_OK);
	assert_int_equal(ms, T_20261126);
	assert_int_equal(audit_parse_since("2026-11-26T10:00:00.250+02:00", now, &ms), T0_OK);
	assert_int_equal(ms, T_20261126 + 250);
	assert_int_equal(audit_parse_since("2026-11-26t03:30:00-04:30", now, &ms), T0_OK);
	assert_int_equal(ms, T_20261126);
	assert_int_equal(audit_parse_since("2026-11-26", now, &ms), T0_OK);
	assert_int_equal(ms, T_20261126 - 8 * 3600 * 1000);
	assert_int_equal(audit_parse_since("1970-01-01T00:00:00Z", now, &ms), T0_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(audit_parse_since("2024-02-29T00:00:00Z", now, &ms), T0_OK);
	assert_int_equal(ms, 1709164800000LL);

	const char *bad[] = { "", "24", "h", "24x", "-5h", "0h", "1.5h", "24 h", "99999999999d",
			      "2026-11-26T08:00:00", "2026-13-01T00:00:00Z", "2025-02-29",
			      "2026-11-26T24:00:00Z", "2026-11-26T08:00:00Zjunk",
			      "2026-11-26T08:00:00+2:00", "yesterday", "2026-11-26T08:00:00.Z" };
	for (size_t i = 0; i < T0_ARRAY_LEN(bad); i++) {
		ms = -1;
		assert_int_equal(audit_parse_since(bad[i], now, &ms), T0_EINVAL);
	}
	assert_int_equal(audit_parse_since(NULL, now, &ms), T0_EINVAL);
}

static void test_audit_cli_verify_reports_ok_and_broken(void **state)
{
	struct fx *f = *state;
	char buf[512];

	append_n(f, 5);
	assert_int_equal(capture_stdout(f, cli_verify, f->db, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "OK: 5 records\n");

	assert_int_equal(sqlite_cli(f->db, "DROP TRIGGER audit_no_update;"
					   " UPDATE audit SET kind = 'harmless' WHERE seq = 3;"),
			 0);
	assert_int_equal(capture_stdout(f, cli_verify, f->db, NULL, buf, sizeof(buf)), 1);
	assert_true(strncmp(buf, "BROKEN at seq 3: ", 17) == 0);
	assert_non_null(strstr(buf, "hash mismatch"));
}

static void test_audit_cli_verify_fails_on_unusable_files(void **state)
{
	struct fx *f = *state;
	char path[256];
	char buf[512];
	FILE *fp;

	/* Missing file: an error, and nothing is created. */
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	assert_int_equal(capture_stdout(f, cli_verify, path, NULL, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "");
	assert_int_not_equal(access(path, F_OK), 0);

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("this is not an sqlite database, not even close. ", fp);
	fclose(fp);
	assert_int_equal(capture_stdout(f, cli_verify, path, NULL, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "");

	/* A foreign SQLite database is refused and left unmigrated. */
	snprintf(path, sizeof(path), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite_cli(path, "CREATE TABLE notes (x);"), 0);
	assert_int_equal(capture_stdout(f, cli_verify, path, NULL, buf, sizeof(buf)), 1);
	assert_int_equal(capture_stdout(f, cli_export, path, NULL, buf, sizeof(buf)), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 0);
	assert_int_equal(raw_int(path, "PRAGMA journal_mode"), -2); /* still "delete", not "wal" */
	assert_int_equal(capture_stdout(f, cli_verify, f->dir, NULL, buf, sizeof(buf)), 1);
}

static void test_audit_cli_export_since_and_exit_statuses(void **state)
{
	struct fx *f = *state;
	char buf[4096];
	char path[256];
	char *p;
	int lines = 0;

	append_n(f, 3);
	assert_int_equal(capture_stdout(f, cli_export, f->db, "1970-01-01T00:00:02Z", buf,
					sizeof(buf)),
			 0);
	for (p = buf; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 2);
	assert_non_null(strstr(buf, "\"seq\":2"));
	assert_null(strstr(buf, "\"seq\":1,"));

	/* Rows are at ts 1-3 s after the epoch: a relative window from now excludes them. */
	assert_int_equal(capture_stdout(f, cli_export, f->db, "24h", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(capture_stdout(f, cli_export, f->db, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"seq\":1,"));

	assert_int_equal(capture_stdout(f, cli_export, f->db, "yesterday", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "");
	assert_int_equal(capture_stdout(f, cli_export, f->db, "24", buf, sizeof(buf)), 2);
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	assert_int_equal(capture_stdout(f, cli_export, path, "24h", buf, sizeof(buf)), 1);
	assert_int_not_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_audit_append_links_records_and_verifies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_detects_row_edited_with_sqlite_cli, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_detects_row_deleted_from_middle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_detects_deletion_with_renumbering, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_detects_edited_hash_and_user, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_detects_unparseable_detail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_hash_ignores_detail_key_order_and_spacing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_hash_matches_documented_vector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_joins_caller_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_rejects_bad_arguments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_cleans_invalid_utf8_and_null_actor,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_export_filters_by_time_and_embeds_detail,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_two_connections_interleave_into_one_chain,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_export_keeps_damaged_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_parse_since_accepts_times_and_durations,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_cli_verify_reports_ok_and_broken, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_cli_verify_fails_on_unusable_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_cli_export_since_and_exit_statuses, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
