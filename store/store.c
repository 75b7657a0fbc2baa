/*
 * SQLite store: open with pragmas, migrate, and a catalog of statements that
 * are prepared once on first use and reset after every use.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "store/migrations.h"
#include "store/store_priv.h"

#define STORE_BUSY_TIMEOUT_MS 5000
/* quick_check reads every page; above this size it would slow startup too much. */
#define STORE_QUICK_CHECK_MAX_BYTES (32LL * 1024 * 1024)
#define STORE_MAX_LAST_ROWS 1000

enum store_stmt {
	STMT_BEGIN = 0,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_USER_VERSION,
	STMT_SEEN_MARK,
	STMT_SEEN_EXPIRE,
	STMT_AUDIT_INSERT,
	STMT_AUDIT_TAIL,
	STMT_AUDIT_EACH,
	STMT_AUDIT_LAST_CHANNEL,
	STMT_AUDIT_LAST_ALL,
	STMT_LLM_USAGE_ADD,
	STMT_LLM_USAGE_TOTALS,
	STMT_CONV_REF_PUT,
	STMT_CONV_REF_GET,
	STMT_CONV_REF_STALE,
	STMT_CONV_REF_EACH,
	STMT_APPROVAL_INSERT,
	STMT_APPROVAL_GET,
	STMT_APPROVAL_TRANSITION,
	STMT_APPROVAL_SET_MESSAGE,
	STMT_APPROVAL_SET_RESULT,
	STMT_APPROVAL_EACH,
	STMT_VOTE_ADD,
	STMT_VOTE_COUNT,
	STMT_VOTE_LIST,
	STMT_BUTTON_ADD,
	STMT_BUTTON_GET,
	STMT_BUTTON_USE,
	STMT_BUTTON_RETIRE,
	STMT_AUDIT_REQUEST_ADD,
	STMT_AUDIT_REQUEST_EACH,
	STMT__COUNT
};

#define AUDIT_COLUMNS "seq, ts_ms, platform, user_id, user_name, channel, kind, detail, prev_hash, hash"
#define APPROVAL_COLUMNS                                                                          \
	"id, action, target, params, request_hash, requester, state, created_ms, expires_ms,"    \
	" updated_ms, decided_by, decided_ms, detail, risk, needed, origin, platform, channel,"   \
	" thread, message_ref, result"

static const char *const store_sql[STMT__COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT t0_nested",
	[STMT_RELEASE] = "RELEASE t0_nested",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO t0_nested",
	[STMT_USER_VERSION] = "PRAGMA user_version",
	/* The WHERE makes an unexpired key a no-op, so sqlite3_changes() tells new from seen. */
	[STMT_SEEN_MARK] = "INSERT INTO seen_events (key, expires_ms) VALUES (?1, ?2)"
			   " ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms"
			   " WHERE seen_events.expires_ms <= ?3",
	[STMT_SEEN_EXPIRE] = "DELETE FROM seen_events WHERE expires_ms <= ?1",
	[STMT_AUDIT_INSERT] = "INSERT INTO audit (" AUDIT_COLUMNS ")"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[STMT_AUDIT_TAIL] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[STMT_AUDIT_EACH] = "SELECT " AUDIT_COLUMNS " FROM audit"
			    " WHERE (?1 = 0 OR ts_ms >= ?1) AND (?2 IS NULL OR channel = ?2)"
			    " ORDER BY seq",
	[STMT_AUDIT_LAST_CHANNEL] = "SELECT * FROM (SELECT " AUDIT_COLUMNS " FROM audit"
				    " WHERE channel = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
	[STMT_AUDIT_LAST_ALL] = "SELECT * FROM (SELECT " AUDIT_COLUMNS " FROM audit"
				" ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
	[STMT_LLM_USAGE_ADD] = "INSERT INTO llm_usage (ts_ms, day, platform, user_id, channel,"
			       " purpose, provider, model, calls, input_tokens, output_tokens,"
			       " cache_tokens, cost_usd, outcome)"
			       " VALUES (?1, strftime('%Y-%m-%d', ?1 / 1000, 'unixepoch'), ?2, ?3,"
			       " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[STMT_LLM_USAGE_TOTALS] = "SELECT count(*), coalesce(sum(input_tokens + cache_tokens), 0),"
				  " coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0)"
				  " FROM llm_usage WHERE day = ?1 AND (?2 IS NULL OR user_id = ?2)",
	/* Seeing a conversation again makes its reference live again. */
	[STMT_CONV_REF_PUT] = "INSERT INTO conversation_refs (platform, conversation_id, ref, updated_ms,"
			      " stale) VALUES (?1, ?2, ?3, ?4, 0)"
			      " ON CONFLICT (platform, conversation_id) DO UPDATE SET"
			      " ref = excluded.ref, updated_ms = excluded.updated_ms, stale = 0",
	[STMT_CONV_REF_GET] = "SELECT ref, stale, updated_ms FROM conversation_refs"
			      " WHERE platform = ?1 AND conversation_id = ?2",
	[STMT_CONV_REF_STALE] = "UPDATE conversation_refs SET stale = ?3, updated_ms = ?4"
				" WHERE platform = ?1 AND conversation_id = ?2",
	[STMT_CONV_REF_EACH] = "SELECT conversation_id, ref, stale, updated_ms FROM conversation_refs"
			       " WHERE platform = ?1 AND (?2 OR stale = 0) ORDER BY conversation_id",
	[STMT_APPROVAL_INSERT] = "INSERT INTO approvals (" APPROVAL_COLUMNS ")"
				 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
				 " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
	[STMT_APPROVAL_GET] = "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE id = ?1",
	/*
	 * Every state change is this one conditional UPDATE: it applies only
	 * while the row is still in the expected state (and, when asked, not
	 * expired and still bound to the same request hash), so of two writers
	 * (two approvers, two processes, two replicas) exactly one changes it.
	 */
	[STMT_APPROVAL_TRANSITION] =
		"UPDATE approvals SET state = ?3, updated_ms = ?4,"
		" decided_by = CASE WHEN ?5 IS NOT NULL THEN ?5 ELSE decided_by END,"
		" decided_ms = CASE WHEN ?5 IS NOT NULL THEN ?4 ELSE decided_ms END"
		" WHERE id = ?1 AND state = ?2 AND (?6 = 0 OR expires_ms > ?6)"
		" AND (?7 IS NULL OR request_hash = ?7)",
	[STMT_APPROVAL_SET_MESSAGE] = "UPDATE approvals SET message_ref = ?2 WHERE id = ?1",
	[STMT_APPROVAL_SET_RESULT] = "UPDATE approvals SET result = ?2, updated_ms = ?3 WHERE id = ?1",
	[STMT_APPROVAL_EACH] = "SELECT " APPROVAL_COLUMNS " FROM approvals WHERE state = ?1"
			       " AND (?2 = 0 OR expires_ms <= ?2) AND (?3 = 0 OR updated_ms <= ?3)"
			       " ORDER BY created_ms LIMIT ?4",
	[STMT_VOTE_ADD] = "INSERT INTO approval_votes (approval_id, approver, vote, ts_ms)"
			  " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
	[STMT_VOTE_COUNT] = "SELECT count(*) FROM approval_votes WHERE approval_id = ?1 AND vote = ?2",
	[STMT_VOTE_LIST] = "SELECT approver, vote, ts_ms FROM approval_votes WHERE approval_id = ?1"
			   " ORDER BY ts_ms, approver",
	[STMT_BUTTON_ADD] = "INSERT INTO approval_buttons (id, approval_id, choice, created_ms)"
			    " VALUES (?1, ?2, ?3, ?4)",
	[STMT_BUTTON_GET] = "SELECT approval_id, choice, used_ms IS NOT NULL FROM approval_buttons"
			    " WHERE id = ?1",
	[STMT_BUTTON_USE] = "UPDATE approval_buttons SET used_ms = ?3, used_by = ?2"
			    " WHERE id = ?1 AND used_ms IS NULL",
	[STMT_BUTTON_RETIRE] = "UPDATE approval_buttons SET used_ms = ?2, used_by = ''"
			       " WHERE approval_id = ?1 AND used_ms IS NULL",
	[STMT_AUDIT_REQUEST_ADD] = "INSERT OR IGNORE INTO audit_requests (request_id, seq)"
				   " VALUES (?1, ?2)",
	[STMT_AUDIT_REQUEST_EACH] = "SELECT a.seq, a.ts_ms, a.platform, a.user_id, a.user_name,"
				    " a.channel, a.kind, a.detail, a.prev_hash, a.hash"
				    " FROM audit_requests r JOIN audit a ON a.seq = r.seq"
				    " WHERE r.request_id = ?1 ORDER BY a.seq LIMIT ?2",
};

struct store {
	sqlite3 *db;
	char *path;
	int readonly;
	int tx_depth; /* 0: autocommit; 1: BEGIN IMMEDIATE; >1: nested savepoints */
	sqlite3_stmt *stmt[STMT__COUNT];
	/* Statements of the other store_*.c files, keyed by their SQL text's address. */
	struct {
		const char *sql;
		sqlite3_stmt *s;
	} ext[STORE_MAX_EXT_STMTS];
	size_t next;
	struct store_ckpt *ckpt; /* background checkpointer, or NULL */
};

/*
 * The WAL checkpointer: a thread with its own connection to the same file
 * copies committed pages back into the database every interval. A passive
 * checkpoint from another connection never blocks the loop's writer, which
 * would otherwise run every 1000 pages' checkpoint inside one event's commit.
 */
struct store_ckpt {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int interval_ms;
	char *path;
	unsigned long long runs, pages;
};

/* About 4 MB of 4 KiB pages: small resets, each a short pause for writers. */
#define STORE_WAL_RESET_FRAMES 1000

static void *ckpt_main(void *arg)
{
	struct store_ckpt *c = arg;
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 50);
	/* A connection sees the WAL only once it has read the database: until then a checkpoint is a no-op. */
	sqlite3_exec(db, "PRAGMA journal_mode", NULL, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec until;
		int log = 0, done = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(c->interval_ms % 1000) * 1000000L;
		until.tv_sec += c->interval_ms / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cv, &c->mu, &until);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->mu);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		/*
		 * Under steady writes the WAL is never idle long enough for SQLite to
		 * start it over, so it would grow without end. Once it is large, a
		 * RESTART checkpoint (briefly holding writers off; nearly everything is
		 * already copied) lets the next write start it from the beginning.
		 */
		if (log > STORE_WAL_RESET_FRAMES) {
			int tlog = 0, tdone = 0;

			if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, &tlog,
						      &tdone) == SQLITE_OK)
				done = log;
		}
		pthread_mutex_lock(&c->mu);
		c->runs++;
		if (done > 0)
			c->pages += (unsigned long long)done;
	}
	pthread_mutex_unlock(&c->mu);
	sqlite3_close(db);
	return NULL;
}

int store_checkpointer_start(struct store *st, int interval_ms)
{
	struct store_ckpt *c;

	if (st == NULL || interval_ms <= 0)
		return T0_EINVAL;
	if (st->ckpt || st->readonly || strcmp(st->path, ":memory:") == 0)
		return T0_OK;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(st->path)) == NULL) {
		free(c);
		return T0_ENOMEM;
	}
	c->interval_ms = interval_ms;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c->path);
		free(c);
		return T0_EIO;
	}
	st->ckpt = c;
	/* The thread does it now; an inline checkpoint syncs inside an event's commit. */
	sqlite3_wal_autocheckpoint(st->db, 0);
	return T0_OK;
}

void store_checkpointer_stop(struct store *st)
{
	struct store_ckpt *c = st ? st->ckpt : NULL;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	log_debug("store", "checkpointer_stopped", "runs=%llu pages=%llu", c->runs, c->pages);
	free(c->path);
	free(c);
	st->ckpt = NULL;
	sqlite3_wal_autocheckpoint(st->db, 1000);
}

int store_checkpointer_runs(struct store *st, unsigned long long *runs, unsigned long long *pages)
{
	struct store_ckpt *c = st ? st->ckpt : NULL;

	if (c == NULL)
		return T0_ENOTFOUND;
	pthread_mutex_lock(&c->mu);
	if (runs)
		*runs = c->runs;
	if (pages)
		*pages = c->pages;
	pthread_mutex_unlock(&c->mu);
	return T0_OK;
}

static void store_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void store_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int store_schema_version(void)
{
	return store_migration_count();
}

/* Borrowed statement from the catalog, prepared on first use. NULL on failure (logged). */
static sqlite3_stmt *store_stmt(struct store *st, enum store_stmt id)
{
	int src;

	if (st->stmt[id] != NULL)
		return st->stmt[id];
	src = sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id],
				 NULL);
	if (src != SQLITE_OK) {
		log_err("store", "prepare", "stmt=%d err=%s", (int)id, sqlite3_errmsg(st->db));
		st->stmt[id] = NULL;
	}
	return st->stmt[id];
}

sqlite3 *store_sqlite(struct store *st)
{
	return st->db;
}

sqlite3_stmt *store_ext_stmt(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < st->next; i++)
		if (st->ext[i].sql == sql)
			return st->ext[i].s;
	if (st->next >= STORE_MAX_EXT_STMTS) {
		log_err("store", "prepare", "error=too many statements (max %d)", STORE_MAX_EXT_STMTS);
		return NULL;
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		log_err("store", "prepare", "err=%s", sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return NULL;
	}
	st->ext[st->next].sql = sql;
	st->ext[st->next].s = s;
	st->next++;
	return s;
}

void store_ext_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Resets and unbinds so no statement holds a read snapshot or borrowed text after use. */
static void store_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a statement of the catalog that returns no rows. */
static int store_exec_stmt(struct store *st, enum store_stmt id)
{
	sqlite3_stmt *s;
	int rc = T0_EDB;
	int src;

	s = store_stmt(st, id);
	if (s == NULL)
		goto out;
	src = sqlite3_step(s);
	if (src != SQLITE_DONE && src != SQLITE_ROW) {
		log_err("store", "exec", "stmt=%d err=%s", (int)id, sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

static int store_read_user_version(struct store *st, int *version)
{
	sqlite3_stmt *s;
	int rc = T0_EDB;

	s = store_stmt(st, STMT_USER_VERSION);
	if (s == NULL)
		goto out;
	if (sqlite3_step(s) != SQLITE_ROW)
		goto out;
	*version = sqlite3_column_int(s, 0);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_user_version(struct store *st, int *version)
{
	if (st == NULL || version == NULL)
		return T0_EINVAL;
	return store_read_user_version(st, version);
}

void store_close(struct store *st)
{
	size_t i;
	int src;

	if (st == NULL)
		return;
	store_checkpointer_stop(st);
	for (i = 0; i < STMT__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (i = 0; i < st->next; i++)
		sqlite3_finalize(st->ext[i].s);
	if (st->db != NULL) {
		src = sqlite3_close(st->db);
		if (src != SQLITE_OK)
			log_err("store", "close", "path=%s err=%s", st->path, sqlite3_errstr(src));
	}
	free(st->path);
	free(st);
}

/* Runs one open-time SQL text (pragmas, migrations); err gets the reason. */
static int store_exec_text(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int src;

	src = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (src != SQLITE_OK) {
		store_errf(err, errlen, "store: %s: %s", st->path,
			   msg != NULL ? msg : sqlite3_errstr(src));
		sqlite3_free(msg);
		return T0_EDB;
	}
	return T0_OK;
}

/* Single-value open-time query, integer result. */
static int store_query_int(struct store *st, const char *sql, int64_t *out, char *err,
			   size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = T0_OK;
	} else if (src == SQLITE_DONE) {
		*out = 0;
		rc = T0_OK;
	} else {
		store_errf(err, errlen, "store: %s: %s", st->path, sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(s);
	return rc;
}

/* Single-value open-time query, text result copied into out. */
static int store_query_text(struct store *st, const char *sql, char *out, size_t outlen,
			    char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *txt;
	int rc = T0_EDB;
	int src;

	out[0] = '\0';
	src = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		txt = sqlite3_column_text(s, 0);
		snprintf(out, outlen, "%s", txt != NULL ? (const char *)txt : "");
		rc = T0_OK;
	} else if (src == SQLITE_DONE) {
		rc = T0_OK;
	} else {
		store_errf(err, errlen, "store: %s: %s", st->path, sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(s);
	return rc;
}

/*
 * SQLite opens lazily: a directory, garbage or a truncated file only shows
 * up at the first read, so read the schema and a cheap integrity check now.
 */
static int store_check_readable(struct store *st, char *err, size_t errlen)
{
	int64_t n = 0, pages = 0, page_size = 0;
	char res[256];
	int rc;

	rc = store_query_int(st, "SELECT count(*) FROM sqlite_master", &n, err, errlen);
	if (rc != T0_OK) {
		store_errf(err, errlen, "store: %s: cannot read database: %s", st->path,
			   sqlite3_errmsg(st->db));
		goto out;
	}
	rc = store_query_int(st, "PRAGMA page_count", &pages, err, errlen);
	if (rc == T0_OK)
		rc = store_query_int(st, "PRAGMA page_size", &page_size, err, errlen);
	if (rc != T0_OK)
		goto out;
	if (pages * page_size > STORE_QUICK_CHECK_MAX_BYTES)
		goto out;
	rc = store_query_text(st, "PRAGMA quick_check", res, sizeof(res), err, errlen);
	if (rc != T0_OK)
		goto out;
	if (strcmp(res, "ok") != 0) {
		/* One line for the log; the full report is a `PRAGMA quick_check` away. */
		for (char *nl = res; (nl = strchr(nl, '\n')) != NULL;)
			*nl = ' ';
		store_errf(err, errlen, "store: %s: database is corrupt: %s", st->path, res);
		rc = T0_EDB;
	}
out:
	return rc;
}

static int store_pragmas(struct store *st, char *err, size_t errlen)
{
	char mode[32];
	int rc;

	rc = store_exec_text(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", err,
			     errlen);
	if (rc != T0_OK || st->readonly)
		goto out;
	rc = store_query_text(st, "PRAGMA journal_mode = WAL", mode, sizeof(mode), err, errlen);
	if (rc != T0_OK)
		goto out;
	/* In-memory databases report "memory"; anything else on a file is worth knowing. */
	if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
		log_warn("store", "journal_mode", "path=%s mode=%s", st->path, mode);
out:
	return rc;
}

/* Applies migration `from` -> from + 1 in its own transaction. */
static int store_migrate_one(struct store *st, int from, char *err, size_t errlen)
{
	char setv[64];
	char violation[256];
	int now = 0;
	int rc;

	/*
	 * Rebuilding a table (the only way to change a CHECK) drops the parent of
	 * foreign keys; with enforcement on that would cascade. The pragma is a
	 * no-op inside a transaction, so it goes first, and foreign_key_check
	 * proves the result consistent before the commit.
	 */
	rc = store_exec_text(st, "PRAGMA foreign_keys = OFF", err, errlen);
	if (rc != T0_OK)
		goto out;
	rc = store_exec_text(st, "BEGIN IMMEDIATE", err, errlen);
	if (rc != T0_OK)
		goto out;
	/* Another process may have migrated between our read and the write lock. */
	rc = store_read_user_version(st, &now);
	if (rc != T0_OK) {
		store_errf(err, errlen, "store: %s: cannot read user_version", st->path);
		goto fail;
	}
	if (now > from) {
		rc = store_exec_text(st, "COMMIT", err, errlen);
		goto out;
	}
	rc = store_exec_text(st, store_migration_sql(from), err, errlen);
	if (rc != T0_OK)
		goto fail;
	rc = store_query_text(st, "PRAGMA foreign_key_check", violation, sizeof(violation), err,
			      errlen);
	if (rc != T0_OK)
		goto fail;
	if (violation[0]) {
		store_errf(err, errlen, "store: %s: foreign key violation in table %s", st->path,
			   violation);
		rc = T0_EDB;
		goto fail;
	}
	snprintf(setv, sizeof(setv), "PRAGMA user_version = %d", from + 1);
	rc = store_exec_text(st, setv, err, errlen);
	if (rc != T0_OK)
		goto fail;
	rc = store_exec_text(st, "COMMIT", err, errlen);
	if (rc != T0_OK)
		goto fail;
	log_info("store", "migrated", "path=%s version=%d", st->path, from + 1);
	goto out;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (err != NULL && errlen > 0) {
		size_t used = strlen(err);

		snprintf(err + used, errlen - used, " (migration to version %d)", from + 1);
	}
out:
	/* Back on whatever happened; a failure here would leave the store unsafe. */
	if (store_exec_text(st, "PRAGMA foreign_keys = ON", NULL, 0) != T0_OK && rc == T0_OK)
		rc = T0_EDB;
	return rc;
}

static int store_open_common(const char *path, int target_version, int readonly,
			     struct store **out, char *err, size_t errlen)
{
	struct store *st = NULL;
	struct stat sb;
	int flags;
	int version = 0;
	int known = store_schema_version();
	int rc = T0_EDB;
	int src, v;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (out == NULL || path == NULL || path[0] == '\0' || target_version < 0 ||
	    target_version > known) {
		store_errf(err, errlen, "store: invalid open arguments");
		rc = T0_EINVAL;
		goto out;
	}
	if (strcmp(path, ":memory:") != 0 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		store_errf(err, errlen, "store: %s: is a directory", path);
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(path)) == NULL) {
		rc = T0_ENOMEM;
		store_errf(err, errlen, "store: %s: out of memory", path);
		goto out;
	}
	st->readonly = readonly;
	flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/* One connection per thread of use; no URI interpretation of the configured path. */
	flags |= SQLITE_OPEN_NOMUTEX;
	src = sqlite3_open_v2(path, &st->db, flags, NULL);
	if (src != SQLITE_OK) {
		store_errf(err, errlen, "store: cannot open %s: %s", path,
			   st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (!readonly && sqlite3_db_readonly(st->db, "main") == 1) {
		store_errf(err, errlen, "store: %s: database is not writable", path);
		goto out;
	}
	rc = store_check_readable(st, err, errlen);
	if (rc != T0_OK)
		goto out;
	rc = store_read_user_version(st, &version);
	if (rc != T0_OK) {
		store_errf(err, errlen, "store: %s: cannot read user_version", path);
		goto out;
	}
	if (version > known) {
		store_errf(err, errlen,
			   "store: %s: schema version %d is newer than this build knows (%d);"
			   " upgrade tier0",
			   path, version, known);
		rc = T0_EDB;
		goto out;
	}
	rc = store_pragmas(st, err, errlen);
	if (rc != T0_OK)
		goto out;
	if (readonly) {
		if (version < 1) {
			store_errf(err, errlen, "store: %s: not a tier0 database (user_version 0)",
				   path);
			rc = T0_EDB;
		}
		goto out;
	}
	for (v = version; v < target_version; v++) {
		rc = store_migrate_one(st, v, err, errlen);
		if (rc != T0_OK)
			goto out;
	}
	log_debug("store", "open", "path=%s version=%d", path,
		  version > target_version ? version : target_version);
out:
	if (rc == T0_OK) {
		*out = st;
	} else {
		if (rc == T0_EDB)
			log_err("store", "open", "path=%s err=%s", path != NULL ? path : "",
				err != NULL ? err : "");
		store_close(st);
	}
	return rc;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	return store_open_common(path, store_schema_version(), 0, out, err, errlen);
}

int store_open_at_version(const char *path, int target_version, struct store **out, char *err,
			  size_t errlen)
{
	return store_open_common(path, target_version, 0, out, err, errlen);
}

int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen)
{
	return store_open_common(path, 0, 1, out, err, errlen);
}

int store_begin(struct store *st)
{
	int rc;

	if (st == NULL)
		return T0_EINVAL;
	/* A failed statement can end a transaction behind our back; trust SQLite's view. */
	if (sqlite3_get_autocommit(st->db))
		st->tx_depth = 0;
	rc = store_exec_stmt(st, st->tx_depth == 0 ? STMT_BEGIN : STMT_SAVEPOINT);
	if (rc == T0_OK)
		st->tx_depth++;
	return rc;
}

int store_commit(struct store *st)
{
	int rc;

	if (st == NULL || st->tx_depth <= 0)
		return T0_EINVAL;
	if (sqlite3_get_autocommit(st->db)) {
		st->tx_depth = 0;
		log_err("store", "commit", "path=%s err=%s", st->path, "transaction already ended");
		return T0_EDB;
	}
	rc = store_exec_stmt(st, st->tx_depth == 1 ? STMT_COMMIT : STMT_RELEASE);
	if (rc == T0_OK)
		st->tx_depth--;
	return rc;
}

int store_rollback(struct store *st)
{
	int rc;

	if (st == NULL || st->tx_depth <= 0)
		return T0_EINVAL;
	if (sqlite3_get_autocommit(st->db)) {
		st->tx_depth = 0;
		return T0_OK;
	}
	if (st->tx_depth == 1) {
		rc = store_exec_stmt(st, STMT_ROLLBACK);
	} else {
		/* ROLLBACK TO keeps the savepoint open; RELEASE closes it. */
		rc = store_exec_stmt(st, STMT_ROLLBACK_TO);
		if (rc == T0_OK)
			rc = store_exec_stmt(st, STMT_RELEASE);
	}
	st->tx_depth--;
	return rc;
}

int store_seen_mark(struct store *st, const char *key, int64_t now_ms, int64_t ttl_ms,
		    int *first)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || key == NULL || first == NULL || ttl_ms <= 0) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_SEEN_MARK);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now_ms + ttl_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, now_ms) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	*first = sqlite3_changes(st->db) > 0;
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "seen_mark", "err=%s", sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

int store_seen_expire(struct store *st, int64_t now_ms, int *removed)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_SEEN_EXPIRE);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_int64(s, 1, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "seen_expire", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	if (removed != NULL)
		*removed = sqlite3_changes(st->db);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

static int store_bind_opt_text(sqlite3_stmt *s, int idx, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, idx);
	return sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

int store_audit_insert(struct store *st, const struct audit_row *row)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || row == NULL || row->kind == NULL || row->prev_hash == NULL ||
	    row->hash == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_AUDIT_INSERT);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_int64(s, 1, row->seq) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, row->ts_ms) != SQLITE_OK ||
	    store_bind_opt_text(s, 3, row->platform) != SQLITE_OK ||
	    store_bind_opt_text(s, 4, row->user_id) != SQLITE_OK ||
	    store_bind_opt_text(s, 5, row->user_name) != SQLITE_OK ||
	    store_bind_opt_text(s, 6, row->channel) != SQLITE_OK ||
	    sqlite3_bind_text(s, 7, row->kind, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 8, row->detail != NULL ? row->detail : "{}", -1,
			      SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 9, row->prev_hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 10, row->hash, -1, SQLITE_STATIC) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "audit_insert", "seq=%lld err=%s", (long long)row->seq,
		sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

int store_audit_tail(struct store *st, int64_t *seq, char hash[65])
{
	sqlite3_stmt *s = NULL;
	const unsigned char *h;
	int rc = T0_EDB;
	int src;

	if (st == NULL || seq == NULL || hash == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	*seq = 0;
	hash[0] = '\0';
	s = store_stmt(st, STMT_AUDIT_TAIL);
	if (s == NULL)
		goto out;
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		*seq = sqlite3_column_int64(s, 0);
		h = sqlite3_column_text(s, 1);
		snprintf(hash, 65, "%s", h != NULL ? (const char *)h : "");
	} else if (src != SQLITE_DONE) {
		log_err("store", "audit_tail", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

static const char *store_col_text(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

/* Steps s to the end, handing each row to cb. */
static int store_audit_walk(struct store *st, sqlite3_stmt *s, store_audit_cb cb, void *arg)
{
	struct audit_row row;
	int src;

	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.seq = sqlite3_column_int64(s, 0);
		row.ts_ms = sqlite3_column_int64(s, 1);
		row.platform = store_col_text(s, 2);
		row.user_id = store_col_text(s, 3);
		row.user_name = store_col_text(s, 4);
		row.channel = store_col_text(s, 5);
		row.kind = store_col_text(s, 6);
		row.detail = store_col_text(s, 7);
		row.prev_hash = store_col_text(s, 8);
		row.hash = store_col_text(s, 9);
		if (cb(arg, &row) != 0)
			return T0_OK;
	}
	if (src != SQLITE_DONE) {
		log_err("store", "audit_read", "err=%s", sqlite3_errmsg(st->db));
		return T0_EDB;
	}
	return T0_OK;
}

int store_audit_each(struct store *st, int64_t since_ms, const char *channel, store_audit_cb cb,
		     void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || cb == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_AUDIT_EACH);
	if (s == NULL)
		goto out;
	/* A callback that iterates again would reset the statement under us. */
	if (sqlite3_stmt_busy(s)) {
		s = NULL;
		rc = T0_EINVAL;
		goto out;
	}
	if (sqlite3_bind_int64(s, 1, since_ms) != SQLITE_OK ||
	    store_bind_opt_text(s, 2, channel) != SQLITE_OK)
		goto out;
	rc = store_audit_walk(st, s, cb, arg);
out:
	store_done(s);
	return rc;
}

int store_audit_last(struct store *st, const char *channel, int limit, store_audit_cb cb,
		     void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	if (st == NULL || cb == NULL || limit <= 0) {
		rc = T0_EINVAL;
		goto out;
	}
	if (limit > STORE_MAX_LAST_ROWS)
		limit = STORE_MAX_LAST_ROWS;
	s = store_stmt(st, channel != NULL ? STMT_AUDIT_LAST_CHANNEL : STMT_AUDIT_LAST_ALL);
	if (s == NULL)
		goto out;
	if (sqlite3_stmt_busy(s)) {
		s = NULL;
		rc = T0_EINVAL;
		goto out;
	}
	if (channel != NULL)
		src = sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC) == SQLITE_OK &&
			      sqlite3_bind_int(s, 2, limit) == SQLITE_OK
			      ? SQLITE_OK
			      : SQLITE_ERROR;
	else
		src = sqlite3_bind_int(s, 1, limit);
	if (src != SQLITE_OK)
		goto out;
	rc = store_audit_walk(st, s, cb, arg);
out:
	store_done(s);
	return rc;
}

int store_llm_usage_add(struct store *st, const struct store_llm_usage *u)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || u == NULL || u->provider == NULL || u->model == NULL ||
	    u->outcome == NULL || u->ts_ms < 0) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_LLM_USAGE_ADD);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_int64(s, 1, u->ts_ms) != SQLITE_OK ||
	    store_bind_opt_text(s, 2, u->platform) != SQLITE_OK ||
	    store_bind_opt_text(s, 3, u->user_id) != SQLITE_OK ||
	    store_bind_opt_text(s, 4, u->channel) != SQLITE_OK ||
	    sqlite3_bind_text(s, 5, u->purpose ? u->purpose : "agent", -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(s, 6, u->provider, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 7, u->model, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, u->calls) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 9, u->input_tokens) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 10, u->output_tokens) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 11, u->cache_tokens) != SQLITE_OK ||
	    sqlite3_bind_double(s, 12, u->cost_usd) != SQLITE_OK ||
	    sqlite3_bind_text(s, 13, u->outcome, -1, SQLITE_STATIC) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "llm_usage_add", "err=%s", sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

int store_llm_usage_totals(struct store *st, const char *day, const char *user_id,
			   struct store_llm_totals *out)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || day == NULL || out == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	s = store_stmt(st, STMT_LLM_USAGE_TOTALS);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC) != SQLITE_OK ||
	    store_bind_opt_text(s, 2, user_id) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		log_err("store", "llm_usage_totals", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	out->requests = sqlite3_column_int64(s, 0);
	out->input_tokens = sqlite3_column_int64(s, 1);
	out->output_tokens = sqlite3_column_int64(s, 2);
	out->cost_usd = sqlite3_column_double(s, 3);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

/* ---- conversation references ---- */

int store_conv_ref_put(struct store *st, const char *platform, const char *conversation_id,
		       const char *ref_json, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	if (st == NULL || platform == NULL || conversation_id == NULL || ref_json == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_CONV_REF_PUT);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, platform, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, conversation_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, ref_json, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_ms) != SQLITE_OK)
		goto fail;
	src = sqlite3_step(s);
	if (src != SQLITE_DONE) {
		/* The CHECK (json_valid(ref)) constraint: the caller's mistake. */
		if ((src & 0xff) == SQLITE_CONSTRAINT)
			rc = T0_EINVAL;
		goto fail;
	}
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "conv_ref_put", "platform=%s err=%s", platform, sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

int store_conv_ref_get(struct store *st, const char *platform, const char *conversation_id,
		       char **ref_json, int *stale, int64_t *updated_ms)
{
	sqlite3_stmt *s = NULL;
	const char *ref;
	int rc = T0_EDB;
	int src;

	if (ref_json != NULL)
		*ref_json = NULL;
	if (st == NULL || platform == NULL || conversation_id == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_CONV_REF_GET);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, platform, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, conversation_id, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	src = sqlite3_step(s);
	if (src == SQLITE_DONE) {
		rc = T0_ENOTFOUND;
		goto out;
	}
	if (src != SQLITE_ROW) {
		log_err("store", "conv_ref_get", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	if (ref_json != NULL) {
		ref = store_col_text(s, 0);
		*ref_json = strdup(ref != NULL ? ref : "{}");
		if (*ref_json == NULL) {
			rc = T0_ENOMEM;
			goto out;
		}
	}
	if (stale != NULL)
		*stale = sqlite3_column_int(s, 1);
	if (updated_ms != NULL)
		*updated_ms = sqlite3_column_int64(s, 2);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_conv_ref_set_stale(struct store *st, const char *platform, const char *conversation_id,
			     int stale, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || platform == NULL || conversation_id == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_CONV_REF_STALE);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, platform, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, conversation_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 3, stale ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "conv_ref_stale", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	rc = sqlite3_changes(st->db) > 0 ? T0_OK : T0_ENOTFOUND;
out:
	store_done(s);
	return rc;
}

int store_conv_ref_each(struct store *st, const char *platform, int include_stale,
			store_conv_ref_cb cb, void *arg)
{
	sqlite3_stmt *s = NULL;
	struct store_conv_ref row;
	int rc = T0_EDB;
	int src;

	if (st == NULL || platform == NULL || cb == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_CONV_REF_EACH);
	if (s == NULL)
		goto out;
	if (sqlite3_stmt_busy(s)) {
		s = NULL;
		rc = T0_EINVAL;
		goto out;
	}
	if (sqlite3_bind_text(s, 1, platform, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, include_stale ? 1 : 0) != SQLITE_OK)
		goto out;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		row.conversation_id = store_col_text(s, 0);
		row.ref = store_col_text(s, 1);
		row.stale = sqlite3_column_int(s, 2);
		row.updated_ms = sqlite3_column_int64(s, 3);
		if (cb(arg, &row) != 0)
			break;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE) {
		log_err("store", "conv_ref_each", "err=%s", sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

/* ---- approvals, votes, buttons ---- */

static char *col_dup(sqlite3_stmt *s, int col, int *oom)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	char *d;

	if (t == NULL)
		return NULL;
	d = strdup((const char *)t);
	if (d == NULL)
		*oom = 1;
	return d;
}

void store_approval_clear(struct store_approval *a)
{
	if (a == NULL)
		return;
	free(a->id);
	free(a->action);
	free(a->target);
	free(a->params);
	free(a->request_hash);
	free(a->requester);
	free(a->state);
	free(a->decided_by);
	free(a->detail);
	free(a->risk);
	free(a->origin);
	free(a->platform);
	free(a->channel);
	free(a->thread);
	free(a->message_ref);
	free(a->result);
	memset(a, 0, sizeof(*a));
}

static int approval_read(sqlite3_stmt *s, struct store_approval *a)
{
	int oom = 0;

	memset(a, 0, sizeof(*a));
	a->id = col_dup(s, 0, &oom);
	a->action = col_dup(s, 1, &oom);
	a->target = col_dup(s, 2, &oom);
	a->params = col_dup(s, 3, &oom);
	a->request_hash = col_dup(s, 4, &oom);
	a->requester = col_dup(s, 5, &oom);
	a->state = col_dup(s, 6, &oom);
	a->created_ms = sqlite3_column_int64(s, 7);
	a->expires_ms = sqlite3_column_int64(s, 8);
	a->updated_ms = sqlite3_column_int64(s, 9);
	a->decided_by = col_dup(s, 10, &oom);
	a->decided_ms = sqlite3_column_int64(s, 11);
	a->detail = col_dup(s, 12, &oom);
	a->risk = col_dup(s, 13, &oom);
	a->needed = sqlite3_column_int(s, 14);
	a->origin = col_dup(s, 15, &oom);
	a->platform = col_dup(s, 16, &oom);
	a->channel = col_dup(s, 17, &oom);
	a->thread = col_dup(s, 18, &oom);
	a->message_ref = col_dup(s, 19, &oom);
	a->result = col_dup(s, 20, &oom);
	if (oom) {
		store_approval_clear(a);
		return T0_ENOMEM;
	}
	return T0_OK;
}

int store_approval_insert(struct store *st, const struct store_approval *a)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || a == NULL || a->id == NULL || a->action == NULL ||
	    a->request_hash == NULL || a->requester == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_APPROVAL_INSERT);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, a->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, a->action, -1, SQLITE_STATIC) != SQLITE_OK ||
	    store_bind_opt_text(s, 3, a->target) != SQLITE_OK ||
	    sqlite3_bind_text(s, 4, a->params ? a->params : "{}", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 5, a->request_hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 6, a->requester, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 7, a->state ? a->state : "proposed", -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    sqlite3_bind_int64(s, 8, a->created_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 9, a->expires_ms) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 10, a->updated_ms ? a->updated_ms : a->created_ms) != SQLITE_OK ||
	    store_bind_opt_text(s, 11, a->decided_by) != SQLITE_OK ||
	    (a->decided_ms ? sqlite3_bind_int64(s, 12, a->decided_ms)
			   : sqlite3_bind_null(s, 12)) != SQLITE_OK ||
	    sqlite3_bind_text(s, 13, a->detail ? a->detail : "{}", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 14, a->risk ? a->risk : "high", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 15, a->needed) != SQLITE_OK ||
	    sqlite3_bind_text(s, 16, a->origin ? a->origin : "typed", -1, SQLITE_STATIC) !=
		    SQLITE_OK ||
	    store_bind_opt_text(s, 17, a->platform) != SQLITE_OK ||
	    store_bind_opt_text(s, 18, a->channel) != SQLITE_OK ||
	    store_bind_opt_text(s, 19, a->thread) != SQLITE_OK ||
	    store_bind_opt_text(s, 20, a->message_ref) != SQLITE_OK ||
	    store_bind_opt_text(s, 21, a->result) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "approval_insert", "id=%s err=%s", a->id, sqlite3_errmsg(st->db));
	if (sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = T0_EDUP;
out:
	store_done(s);
	return rc;
}

int store_approval_get(struct store *st, const char *id, struct store_approval *out)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	if (st == NULL || id == NULL || out == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	s = store_stmt(st, STMT_APPROVAL_GET);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		rc = approval_read(s, out);
	else if (src == SQLITE_DONE)
		rc = T0_ENOTFOUND;
	else
		log_err("store", "approval_get", "id=%s err=%s", id, sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

int store_approval_transition(struct store *st, const char *id, const char *from, const char *to,
			      int64_t now_ms, const char *decided_by, int64_t unexpired_at,
			      const char *request_hash, int *changed)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (changed != NULL)
		*changed = 0;
	if (st == NULL || id == NULL || from == NULL || to == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_APPROVAL_TRANSITION);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_ms) != SQLITE_OK ||
	    store_bind_opt_text(s, 5, decided_by) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, unexpired_at) != SQLITE_OK ||
	    store_bind_opt_text(s, 7, request_hash) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	if (changed != NULL)
		*changed = sqlite3_changes(st->db) > 0;
	rc = T0_OK;
	goto out;
fail:
	log_err("store", "approval_transition", "id=%s from=%s to=%s err=%s", id, from, to,
		sqlite3_errmsg(st->db));
out:
	store_done(s);
	return rc;
}

/* Runs a catalog statement that binds (text, text-or-null[, int64]) and returns no rows. */
static int store_exec_bound(struct store *st, enum store_stmt id, const char *a, const char *b,
			    int64_t n, const char *what)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || a == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, id);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC) != SQLITE_OK ||
	    store_bind_opt_text(s, 2, b) != SQLITE_OK ||
	    (sqlite3_bind_parameter_count(s) >= 3 && sqlite3_bind_int64(s, 3, n) != SQLITE_OK) ||
	    sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", what, "id=%s err=%s", a, sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_approval_set_message(struct store *st, const char *id, const char *message_ref)
{
	return store_exec_bound(st, STMT_APPROVAL_SET_MESSAGE, id, message_ref, 0,
				"approval_set_message");
}

int store_approval_set_result(struct store *st, const char *id, const char *result_json,
			      int64_t now_ms)
{
	return store_exec_bound(st, STMT_APPROVAL_SET_RESULT, id, result_json, now_ms,
				"approval_set_result");
}

int store_approval_each(struct store *st, const char *state, int64_t expires_before,
			int64_t updated_before, int limit, store_approval_cb cb, void *arg)
{
	struct store_approval *rows = NULL;
	sqlite3_stmt *s = NULL;
	size_t n = 0;
	int rc = T0_EDB;
	int src;

	if (st == NULL || state == NULL || cb == NULL || limit <= 0) {
		rc = T0_EINVAL;
		goto out;
	}
	if (limit > STORE_MAX_LAST_ROWS)
		limit = STORE_MAX_LAST_ROWS;
	rows = calloc((size_t)limit, sizeof(*rows));
	s = store_stmt(st, STMT_APPROVAL_EACH);
	if (rows == NULL || s == NULL) {
		rc = rows == NULL ? T0_ENOMEM : T0_EDB;
		goto out;
	}
	if (sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, expires_before) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, updated_before) != SQLITE_OK ||
	    sqlite3_bind_int(s, 4, limit) != SQLITE_OK)
		goto out;
	/* Rows are copied first: the callback may change them (transitions). */
	while ((src = sqlite3_step(s)) == SQLITE_ROW && n < (size_t)limit) {
		rc = approval_read(s, &rows[n]);
		if (rc != T0_OK)
			goto out;
		n++;
	}
	if (src != SQLITE_DONE && src != SQLITE_ROW) {
		log_err("store", "approval_each", "err=%s", sqlite3_errmsg(st->db));
		rc = T0_EDB;
		goto out;
	}
	store_done(s);
	s = NULL;
	rc = T0_OK;
	for (size_t i = 0; i < n; i++)
		if (cb(arg, &rows[i]) != 0)
			break;
out:
	store_done(s);
	for (size_t i = 0; rows != NULL && i < (size_t)limit; i++)
		store_approval_clear(&rows[i]);
	free(rows);
	return rc;
}

int store_vote_add(struct store *st, const char *approval_id, const char *approver,
		   const char *vote, int64_t ts_ms, int *added)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (added != NULL)
		*added = 0;
	if (st == NULL || approval_id == NULL || approver == NULL || vote == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_VOTE_ADD);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, approval_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, approver, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, vote, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, ts_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "vote_add", "id=%s err=%s", approval_id, sqlite3_errmsg(st->db));
		goto out;
	}
	if (added != NULL)
		*added = sqlite3_changes(st->db) > 0;
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_vote_count(struct store *st, const char *approval_id, const char *vote, int *n)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || approval_id == NULL || vote == NULL || n == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_VOTE_COUNT);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, approval_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, vote, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto out;
	*n = sqlite3_column_int(s, 0);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_vote_list(struct store *st, const char *approval_id, store_vote_cb cb, void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	if (st == NULL || approval_id == NULL || cb == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_VOTE_LIST);
	if (s == NULL)
		goto out;
	if (sqlite3_stmt_busy(s)) {
		s = NULL;
		rc = T0_EINVAL;
		goto out;
	}
	if (sqlite3_bind_text(s, 1, approval_id, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		if (cb(arg, store_col_text(s, 0), store_col_text(s, 1), sqlite3_column_int64(s, 2)))
			break;
	if (src != SQLITE_DONE && src != SQLITE_ROW)
		goto out;
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_button_add(struct store *st, const char *id, const char *approval_id, const char *choice,
		     int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || id == NULL || approval_id == NULL || choice == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_BUTTON_ADD);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, approval_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, choice, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "button_add", "approval=%s err=%s", approval_id,
			sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_button_get(struct store *st, const char *id, char *approval_id, size_t idlen,
		     char *choice, size_t choicelen, int *used)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;
	int src;

	if (st == NULL || id == NULL || approval_id == NULL || choice == NULL || used == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_BUTTON_GET);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		goto out;
	src = sqlite3_step(s);
	if (src == SQLITE_DONE) {
		rc = T0_ENOTFOUND;
		goto out;
	}
	if (src != SQLITE_ROW)
		goto out;
	snprintf(approval_id, idlen, "%s", store_col_text(s, 0) ? store_col_text(s, 0) : "");
	snprintf(choice, choicelen, "%s", store_col_text(s, 1) ? store_col_text(s, 1) : "");
	*used = sqlite3_column_int(s, 2);
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_button_use(struct store *st, const char *id, const char *used_by, int64_t now_ms,
		     int *used_now)
{
	int rc;

	if (used_now != NULL)
		*used_now = 0;
	rc = store_exec_bound(st, STMT_BUTTON_USE, id, used_by ? used_by : "", now_ms,
			      "button_use");
	if (rc == T0_OK && used_now != NULL)
		*used_now = sqlite3_changes(st->db) > 0;
	return rc;
}

int store_buttons_retire(struct store *st, const char *approval_id, int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || approval_id == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_BUTTON_RETIRE);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, approval_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, now_ms) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "buttons_retire", "approval=%s err=%s", approval_id,
			sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_audit_request_add(struct store *st, const char *request_id, int64_t seq)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || request_id == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	s = store_stmt(st, STMT_AUDIT_REQUEST_ADD);
	if (s == NULL)
		goto out;
	if (sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, seq) != SQLITE_OK || sqlite3_step(s) != SQLITE_DONE) {
		log_err("store", "audit_request_add", "request=%s err=%s", request_id,
			sqlite3_errmsg(st->db));
		goto out;
	}
	rc = T0_OK;
out:
	store_done(s);
	return rc;
}

int store_audit_request_each(struct store *st, const char *request_id, int limit,
			     store_audit_cb cb, void *arg)
{
	sqlite3_stmt *s = NULL;
	int rc = T0_EDB;

	if (st == NULL || request_id == NULL || cb == NULL || limit <= 0) {
		rc = T0_EINVAL;
		goto out;
	}
	if (limit > STORE_MAX_LAST_ROWS)
		limit = STORE_MAX_LAST_ROWS;
	s = store_stmt(st, STMT_AUDIT_REQUEST_EACH);
	if (s == NULL)
		goto out;
	if (sqlite3_stmt_busy(s)) {
		s = NULL;
		rc = T0_EINVAL;
		goto out;
	}
	if (sqlite3_bind_text(s, 1, request_id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, limit) != SQLITE_OK)
		goto out;
	rc = store_audit_walk(st, s, cb, arg);
out:
	store_done(s);
	return rc;
}
