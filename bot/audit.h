/*
 * The tamper-evident audit chain. Each record's hash is SHA-256 over the
 * previous record's hash and a canonical serialisation of the record (a JSON
 * object with sorted keys, compact, detail canonicalised the same way), so an
 * edited or deleted row breaks every hash after it.
 */
#ifndef T0_AUDIT_H
#define T0_AUDIT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

struct store;
struct actor;

/*
 * Appends one record. detail is borrowed (may be NULL for {}). *seq_out may be NULL.
 * Returns T0_OK or T0_EDB.
 */
int audit_append(struct store *st, const struct actor *actor, const char *channel,
		 const char *kind, const json_t *detail, int64_t *seq_out);

/* Hex SHA-256 of prev_hash + canonical(row); out must hold 65 bytes. */
int audit_row_hash(const struct audit_row *row, char out[65]);

/*
 * Walks the whole chain. Returns T0_OK with *count rows when intact, or
 * T0_EINTEGRITY with *first_bad set to the first sequence number that fails
 * (a hash mismatch, a broken link or a gap).
 */
int audit_verify(struct store *st, int64_t *count, int64_t *first_bad);

/* Writes rows as JSON lines (since_ms 0 = all). */
int audit_export(struct store *st, int64_t since_ms, FILE *out);

/*
 * What `tier0 audit export` may filter on; zero/NULL fields do not filter.
 * request_id and action match detail.request_id and detail.action of the
 * action records (and the later records of the same request); user matches
 * user_id or user_name exactly.
 */
struct audit_filter {
	int64_t since_ms, until_ms; /* ts_ms >= since, ts_ms < until */
	const char *request_id;
	const char *user;
	const char *action;
};
int audit_export_filtered(struct store *st, const struct audit_filter *f, FILE *out);

/*
 * Parses an export lower bound: an RFC 3339 time ("2026-11-26T08:00:00Z",
 * optional fraction and +HH:MM offset), a date ("2026-11-26", midnight UTC),
 * or a duration back from now_ms ("45s", "30m", "24h", "7d", "2w").
 * Returns T0_OK with *out_ms, or T0_EINVAL.
 */
int audit_parse_since(const char *s, int64_t now_ms, int64_t *out_ms);

/* CLI entry points; return a process exit status and print their result. */
int audit_cli_verify(const char *db_path);
int audit_cli_export(const char *db_path, const char *since);
/* The same with the filters of `audit export` (until as since; NULLs do not filter). */
int audit_cli_export_filtered(const char *db_path, const char *since, const char *until,
			      const char *request_id, const char *user, const char *action);

#endif
