/*
 * The audit chain: record = JSON object, hash = SHA-256(prev_hash || canonical
 * JSON). The exact definition is in docs/STORE.md so an auditor can re-verify
 * a database with other tools; keep the two in step.
 */
#include "bot/audit.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "bot/event.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "bot/timeparse.h"

#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
/* A detail larger than this is replaced by a marker so the record is still written. */
#define AUDIT_MAX_DETAIL_BYTES (256 * 1024)
/* Longest stored string field; longer values are cut (at a UTF-8 boundary). */
#define AUDIT_MAX_FIELD_BYTES 1024
#define AUDIT_CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define AUDIT_DETAIL_LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t audit_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Copy of s that is valid UTF-8 of at most AUDIT_MAX_FIELD_BYTES: invalid
 * bytes become '?', so a malformed name from a platform never stops a record.
 * NULL in, NULL out; otherwise the caller frees (NULL also on ENOMEM).
 */
static char *audit_clean_dup(const char *s, int *failed)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i = 0, o = 0, k;
	char *out;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	out = malloc((n < AUDIT_MAX_FIELD_BYTES ? n : AUDIT_MAX_FIELD_BYTES) + 1);
	if (out == NULL) {
		*failed = 1;
		return NULL;
	}
	while (i < n) {
		k = audit_utf8_len(p + i, n - i);
		if (k == 0) {
			k = 1;
			if (o + 1 > AUDIT_MAX_FIELD_BYTES)
				break;
			out[o++] = '?';
		} else {
			if (o + k > AUDIT_MAX_FIELD_BYTES)
				break;
			memcpy(out + o, p + i, k);
			o += k;
		}
		i += k;
	}
	out[o] = '\0';
	return out;
}

/* json string or null; NULL return means the text was not valid UTF-8. */
static json_t *audit_json_opt(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Sets key to a new value, failing when the value could not be built. */
static int audit_set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL)
		return -1;
	return json_object_set_new(obj, key, v);
}

/*
 * The canonical record: every field but hash, detail embedded as parsed JSON.
 * Returns NULL when a field is not valid UTF-8 or detail is not valid JSON.
 */
static json_t *audit_row_json_with(const struct audit_row *row, int with_hash,
				   const json_t *parsed)
{
	json_t *obj = NULL;
	json_t *detail = NULL;
	int bad = 0;

	obj = json_object();
	if (obj == NULL)
		goto fail;
	/* parsed: the detail row->detail was dumped from, which saves parsing it back. */
	if (parsed != NULL)
		detail = json_incref((json_t *)parsed);
	else
		detail = json_loads(row->detail != NULL ? row->detail : "{}",
				    AUDIT_DETAIL_LOAD_FLAGS, NULL);
	if (detail == NULL)
		goto fail;
	bad |= audit_set(obj, "seq", json_integer(row->seq));
	bad |= audit_set(obj, "ts_ms", json_integer(row->ts_ms));
	bad |= audit_set(obj, "platform", audit_json_opt(row->platform));
	bad |= audit_set(obj, "user_id", audit_json_opt(row->user_id));
	bad |= audit_set(obj, "user_name", audit_json_opt(row->user_name));
	bad |= audit_set(obj, "channel", audit_json_opt(row->channel));
	bad |= audit_set(obj, "kind", audit_json_opt(row->kind));
	bad |= audit_set(obj, "detail", detail);
	detail = NULL;
	bad |= audit_set(obj, "prev_hash", audit_json_opt(row->prev_hash));
	if (with_hash)
		bad |= audit_set(obj, "hash", audit_json_opt(row->hash));
	if (bad)
		goto fail;
	return obj;
fail:
	json_decref(detail);
	json_decref(obj);
	return NULL;
}

static json_t *audit_row_json(const struct audit_row *row, int with_hash)
{
	return audit_row_json_with(row, with_hash, NULL);
}

static void audit_hex(const unsigned char *md, unsigned int len, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < len && i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0x0f];
	}
	out[2 * i] = '\0';
}

/*
 * The canonical text of a row. With detail_canon (the detail already in
 * canonical form, as stored), the row is dumped with a null detail and the
 * text spliced in, so a large detail is not serialised twice. The splice is
 * safe: inside a JSON string every '"' is escaped, so the first ,"detail":null,
 * preceded by an unescaped quote is the member itself.
 */
static char *audit_canon(const struct audit_row *row, const char *detail_canon)
{
	static const char member[] = ",\"detail\":null,";
	json_t *obj = NULL;
	char *text = NULL, *out = NULL, *at;
	size_t tlen, dlen;

	if (detail_canon == NULL) {
		obj = audit_row_json(row, 0);
		out = obj != NULL ? json_dumps(obj, AUDIT_CANON_FLAGS) : NULL;
		json_decref(obj);
		return out;
	}
	obj = audit_row_json_with(row, 0, json_null());
	text = obj != NULL ? json_dumps(obj, AUDIT_CANON_FLAGS) : NULL;
	json_decref(obj);
	if (text == NULL || (at = strstr(text, member)) == NULL) {
		free(text);
		return NULL;
	}
	tlen = strlen(text);
	dlen = strlen(detail_canon);
	out = malloc(tlen - 4 + dlen + 1);
	if (out != NULL) {
		size_t head = (size_t)(at - text) + sizeof(member) - 1 - 5; /* up to "detail": */

		memcpy(out, text, head);
		memcpy(out + head, detail_canon, dlen);
		memcpy(out + head + dlen, at + sizeof(member) - 2, tlen - (size_t)(at - text) -
								   (sizeof(member) - 2) + 1);
	}
	free(text);
	return out;
}

static int audit_row_hash_with(const struct audit_row *row, const char *detail_canon,
			       char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	char *canon = NULL;
	int rc = T0_EPARSE;

	if (row == NULL || out == NULL || row->prev_hash == NULL) {
		rc = T0_EINVAL;
		goto out;
	}
	out[0] = '\0';
	canon = audit_canon(row, detail_canon);
	if (canon == NULL)
		goto out;
	rc = T0_EIO;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, row->prev_hash, strlen(row->prev_hash)) != 1 ||
	    EVP_DigestUpdate(ctx, canon, strlen(canon)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	audit_hex(md, mdlen, out);
	rc = T0_OK;
out:
	EVP_MD_CTX_free(ctx);
	free(canon);
	return rc;
}

int audit_row_hash(const struct audit_row *row, char out[65])
{
	return audit_row_hash_with(row, NULL, out);
}

/* Compact, sorted detail text for storage; oversized details become a marker. */
static char *audit_detail_text(const json_t *detail)
{
	json_t *marker = NULL;
	char *text;
	size_t len;

	text = json_dumps(detail, AUDIT_CANON_FLAGS);
	if (text == NULL)
		return NULL;
	len = strlen(text);
	if (len <= AUDIT_MAX_DETAIL_BYTES)
		return text;
	free(text);
	marker = json_pack("{s:b, s:I}", "truncated", 1, "bytes", (json_int_t)len);
	text = marker != NULL ? json_dumps(marker, AUDIT_CANON_FLAGS) : NULL;
	json_decref(marker);
	return text;
}

int audit_append(struct store *st, const struct actor *actor, const char *channel,
		 const char *kind, const json_t *detail, int64_t *seq_out)
{
	struct audit_row row;
	char tail_hash[65];
	char hash[65];
	char *f_platform = NULL, *f_user_id = NULL, *f_user_name = NULL, *f_channel = NULL;
	char *f_kind = NULL, *detail_text = NULL;
	int64_t tail_seq = 0;
	int in_tx = 0, failed = 0;
	int rc = T0_EINVAL;

	if (st == NULL || kind == NULL || kind[0] == '\0' ||
	    (detail != NULL && !json_is_object(detail)))
		goto out;
	rc = T0_ENOMEM;
	if (actor != NULL) {
		f_platform = audit_clean_dup(actor->platform, &failed);
		f_user_id = audit_clean_dup(actor->user_id, &failed);
		f_user_name = audit_clean_dup(actor->display_name, &failed);
	}
	f_channel = audit_clean_dup(channel, &failed);
	f_kind = audit_clean_dup(kind, &failed);
	detail_text = detail != NULL ? audit_detail_text(detail) : strdup("{}");
	if (failed || f_kind == NULL || detail_text == NULL)
		goto out;

	rc = store_begin(st);
	if (rc != T0_OK)
		goto out;
	in_tx = 1;
	rc = store_audit_tail(st, &tail_seq, tail_hash);
	if (rc != T0_OK)
		goto out;
	memset(&row, 0, sizeof(row));
	row.seq = tail_seq + 1;
	row.ts_ms = t0_now_ms();
	row.platform = f_platform;
	row.user_id = f_user_id;
	row.user_name = f_user_name;
	row.channel = f_channel;
	row.kind = f_kind;
	row.detail = detail_text;
	row.prev_hash = tail_seq == 0 ? AUDIT_ZERO_HASH : tail_hash;
	/* detail_text is canonical whether verbatim or the truncation marker. */
	rc = audit_row_hash_with(&row, detail_text, hash);
	if (rc != T0_OK)
		goto out;
	row.hash = hash;
	rc = store_audit_insert(st, &row);
	if (rc != T0_OK)
		goto out;
	rc = store_commit(st);
	if (rc != T0_OK)
		goto out;
	in_tx = 0;
	if (seq_out != NULL)
		*seq_out = row.seq;
out:
	if (in_tx)
		store_rollback(st);
	if (rc != T0_OK)
		log_err("audit", "append", "kind=%s rc=%s", kind != NULL ? kind : "",
			t0_rc_str(rc));
	free(f_platform);
	free(f_user_id);
	free(f_user_name);
	free(f_channel);
	free(f_kind);
	free(detail_text);
	return rc == T0_OK ? T0_OK : (rc == T0_EINVAL ? T0_EINVAL : T0_EDB);
}

struct audit_verify_state {
	int64_t expect;
	int64_t count;
	int64_t first_bad;
	char prev[65];
	char reason[160];
};

static int audit_verify_row(void *arg, const struct audit_row *row)
{
	struct audit_verify_state *vs = arg;
	char hash[65];
	int hrc;

	if (row->seq != vs->expect) {
		vs->first_bad = vs->expect;
		snprintf(vs->reason, sizeof(vs->reason),
			 "sequence gap: expected seq %" PRId64 ", found %" PRId64, vs->expect,
			 row->seq);
		return 1;
	}
	if (row->prev_hash == NULL || strcmp(row->prev_hash, vs->prev) != 0) {
		vs->first_bad = row->seq;
		snprintf(vs->reason, sizeof(vs->reason),
			 "prev_hash does not match the hash of the previous record");
		return 1;
	}
	hrc = audit_row_hash(row, hash);
	if (hrc != T0_OK) {
		vs->first_bad = row->seq;
		snprintf(vs->reason, sizeof(vs->reason),
			 "record cannot be canonicalised (invalid JSON detail or UTF-8)");
		return 1;
	}
	if (row->hash == NULL || strcmp(row->hash, hash) != 0) {
		vs->first_bad = row->seq;
		snprintf(vs->reason, sizeof(vs->reason), "hash mismatch (stored %.16s..., computed %.16s...)",
			 row->hash != NULL ? row->hash : "", hash);
		return 1;
	}
	snprintf(vs->prev, sizeof(vs->prev), "%s", row->hash);
	vs->expect++;
	vs->count++;
	return 0;
}

static int audit_verify_reason(struct store *st, int64_t *count, int64_t *first_bad,
			       char *reason, size_t reasonlen)
{
	struct audit_verify_state vs;
	int rc;

	memset(&vs, 0, sizeof(vs));
	vs.expect = 1;
	snprintf(vs.prev, sizeof(vs.prev), "%s", AUDIT_ZERO_HASH);
	rc = store_audit_each(st, 0, NULL, audit_verify_row, &vs);
	if (rc == T0_OK && vs.first_bad != 0)
		rc = T0_EINTEGRITY;
	if (count != NULL)
		*count = vs.count;
	if (first_bad != NULL)
		*first_bad = vs.first_bad;
	if (reason != NULL && reasonlen > 0)
		snprintf(reason, reasonlen, "%s", vs.reason);
	return rc;
}

int audit_verify(struct store *st, int64_t *count, int64_t *first_bad)
{
	if (st == NULL)
		return T0_EINVAL;
	return audit_verify_reason(st, count, first_bad, NULL, 0);
}

struct audit_export_state {
	FILE *out;
	int rc;
	const struct audit_filter *f;
	/* Request ids of the action named by f->action, seen so far (later records carry only the id). */
	char **ids;
	size_t nids, capids;
};

#define AUDIT_EXPORT_MAX_IDS 100000

static int audit_export_known_id(const struct audit_export_state *es, const char *id)
{
	for (size_t i = 0; id && i < es->nids; i++)
		if (strcmp(es->ids[i], id) == 0)
			return 1;
	return 0;
}

/* 1 when row passes the filter (the detail is parsed only when needed). */
static int audit_export_match(struct audit_export_state *es, const struct audit_row *row)
{
	const struct audit_filter *f = es->f;
	json_t *d;
	const char *rid, *act;
	int ok = 1;

	if (!f)
		return 1;
	if (f->until_ms > 0 && row->ts_ms >= f->until_ms)
		return 0;
	if (f->user && !((row->user_id && strcmp(row->user_id, f->user) == 0) ||
			 (row->user_name && strcmp(row->user_name, f->user) == 0)))
		return 0;
	if (!f->request_id && !f->action)
		return 1;
	d = json_loads(row->detail ? row->detail : "{}", 0, NULL);
	rid = json_string_value(json_object_get(d, "request_id"));
	act = json_string_value(json_object_get(d, "action"));
	if (f->request_id && (!rid || strcmp(rid, f->request_id) != 0))
		ok = 0;
	if (ok && f->action) {
		if (act && rid && strcmp(act, f->action) == 0 && !audit_export_known_id(es, rid) &&
		    es->nids < AUDIT_EXPORT_MAX_IDS) {
			if (es->nids == es->capids) {
				size_t nc = es->capids ? es->capids * 2 : 64;
				char **n = realloc(es->ids, nc * sizeof(*n));

				if (n) {
					es->ids = n;
					es->capids = nc;
				}
			}
			if (es->nids < es->capids && (es->ids[es->nids] = strdup(rid)))
				es->nids++;
		}
		ok = (act && strcmp(act, f->action) == 0) || audit_export_known_id(es, rid);
	}
	json_decref(d);
	return ok;
}

/* Export copy of a possibly tampered text field: never fails on bad UTF-8. */
static json_t *audit_export_str(const char *s)
{
	json_t *v;
	char *clean;
	int failed = 0;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	clean = audit_clean_dup(s, &failed);
	v = clean != NULL ? json_string(clean) : NULL;
	free(clean);
	return v;
}

static int audit_export_row(void *arg, const struct audit_row *row)
{
	struct audit_export_state *es = arg;
	json_t *obj;
	json_t *detail;
	int bad = 0;

	if (!audit_export_match(es, row))
		return 0;
	obj = audit_row_json(row, 1);
	if (obj == NULL) {
		/* A damaged row is still exported, with detail as a string. */
		obj = json_object();
		if (obj == NULL)
			goto nomem;
		detail = json_loads(row->detail != NULL ? row->detail : "{}",
				    AUDIT_DETAIL_LOAD_FLAGS, NULL);
		if (detail == NULL)
			detail = audit_export_str(row->detail);
		bad |= audit_set(obj, "seq", json_integer(row->seq));
		bad |= audit_set(obj, "ts_ms", json_integer(row->ts_ms));
		bad |= audit_set(obj, "platform", audit_export_str(row->platform));
		bad |= audit_set(obj, "user_id", audit_export_str(row->user_id));
		bad |= audit_set(obj, "user_name", audit_export_str(row->user_name));
		bad |= audit_set(obj, "channel", audit_export_str(row->channel));
		bad |= audit_set(obj, "kind", audit_export_str(row->kind));
		bad |= audit_set(obj, "detail", detail);
		bad |= audit_set(obj, "prev_hash", audit_export_str(row->prev_hash));
		bad |= audit_set(obj, "hash", audit_export_str(row->hash));
		if (bad) {
			json_decref(obj);
			goto nomem;
		}
	}
	if (json_dumpf(obj, es->out, AUDIT_CANON_FLAGS) != 0 || fputc('\n', es->out) == EOF)
		es->rc = T0_EIO;
	json_decref(obj);
	return es->rc != T0_OK;
nomem:
	es->rc = T0_ENOMEM;
	return 1;
}

int audit_export_filtered(struct store *st, const struct audit_filter *f, FILE *out)
{
	struct audit_export_state es = { .out = out, .rc = T0_OK, .f = f };
	int64_t since_ms = f ? f->since_ms : 0;
	int rc;

	if (st == NULL || out == NULL || since_ms < 0)
		return T0_EINVAL;
	rc = store_audit_each(st, since_ms, NULL, audit_export_row, &es);
	if (rc == T0_OK)
		rc = es.rc;
	if (rc == T0_OK && (fflush(out) != 0 || ferror(out)))
		rc = T0_EIO;
	for (size_t i = 0; i < es.nids; i++)
		free(es.ids[i]);
	free(es.ids);
	return rc;
}

int audit_export(struct store *st, int64_t since_ms, FILE *out)
{
	struct audit_filter f = { .since_ms = since_ms };

	return audit_export_filtered(st, &f, out);
}

int audit_parse_since(const char *s, int64_t now_ms, int64_t *out_ms)
{
	int64_t n = 0, unit;
	const char *p;

	if (s == NULL || out_ms == NULL || s[0] == '\0')
		return T0_EINVAL;
	for (p = s; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > 100000000) /* beyond any useful window, and no overflow below */
			return T0_EINVAL;
	}
	if (p != s && p[0] != '\0' && p[1] == '\0') {
		switch (p[0]) {
		case 's': unit = 1000; break;
		case 'm': unit = 60 * 1000; break;
		case 'h': unit = 3600 * 1000; break;
		case 'd': unit = 86400 * 1000; break;
		case 'w': unit = 7 * 86400 * 1000; break;
		default: return T0_EINVAL;
		}
		if (n == 0)
			return T0_EINVAL;
		*out_ms = now_ms - n * unit;
		if (*out_ms < 0)
			*out_ms = 0;
		return T0_OK;
	}
	if (t0_time_parse(s, T0_TIME_OFFSET_REQUIRED, out_ms) != 0 || *out_ms < 0)
		return T0_EINVAL;
	return T0_OK;
}

int audit_cli_verify(const char *db_path)
{
	struct store *st = NULL;
	char err[512];
	char reason[160];
	int64_t count = 0, first_bad = 0;
	int status = T0_EXIT_RUNTIME;
	int rc;

	rc = store_open_readonly(db_path, &st, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0 audit verify: %s\n", err);
		goto out;
	}
	rc = audit_verify_reason(st, &count, &first_bad, reason, sizeof(reason));
	if (rc == T0_OK) {
		printf("OK: %" PRId64 " records\n", count);
		status = T0_EXIT_OK;
	} else if (rc == T0_EINTEGRITY) {
		printf("BROKEN at seq %" PRId64 ": %s\n", first_bad, reason);
	} else {
		fprintf(stderr, "tier0 audit verify: %s: cannot read the audit chain (%s)\n",
			db_path, t0_rc_str(rc));
	}
	fflush(stdout);
out:
	store_close(st);
	return status;
}

int audit_cli_export(const char *db_path, const char *since)
{
	return audit_cli_export_filtered(db_path, since, NULL, NULL, NULL, NULL);
}

int audit_cli_export_filtered(const char *db_path, const char *since, const char *until,
			      const char *request_id, const char *user, const char *action)
{
	struct store *st = NULL;
	struct audit_filter f = { .request_id = request_id, .user = user, .action = action };
	char err[512];
	int64_t since_ms = 0;
	int status = T0_EXIT_RUNTIME;
	int rc;

	if (since != NULL && since[0] != '\0' &&
	    audit_parse_since(since, t0_now_ms(), &since_ms) != T0_OK) {
		fprintf(stderr,
			"tier0 audit export: invalid since value '%s': expected an RFC 3339 time"
			" (2026-11-26T08:00:00Z) or a duration (30m, 24h, 7d)\n",
			since);
		status = T0_EXIT_USAGE;
		goto out;
	}
	if (until != NULL && until[0] != '\0' &&
	    audit_parse_since(until, t0_now_ms(), &f.until_ms) != T0_OK) {
		fprintf(stderr,
			"tier0 audit export: invalid until value '%s': expected an RFC 3339 time"
			" (2026-11-26T08:00:00Z) or a duration (30m, 24h, 7d)\n",
			until);
		status = T0_EXIT_USAGE;
		goto out;
	}
	f.since_ms = since_ms;
	rc = store_open_readonly(db_path, &st, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0 audit export: %s\n", err);
		goto out;
	}
	rc = audit_export_filtered(st, &f, stdout);
	if (rc != T0_OK) {
		fprintf(stderr, "tier0 audit export: %s: export failed (%s)\n", db_path,
			t0_rc_str(rc));
		goto out;
	}
	status = T0_EXIT_OK;
out:
	store_close(st);
	return status;
}
