/*
 * Action definitions from the configuration, parameter validation, and the
 * rendering of an action into one HTTP request. Every executor, the built-in
 * ones included, goes through the same URL builder (path segment and query
 * escaping), the same header check and jansson for bodies, so a parameter
 * can change values but never the shape of a request.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runbooks/actions.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"

/* ---- small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *dup_opt(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Copies a JSON list of strings (other items become their text). */
static int strv_from_json(const json_t *arr, char ***out, size_t *n)
{
	size_t i;
	json_t *it;
	char buf[64];

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return T0_OK;
	*out = calloc(json_array_size(arr), sizeof(char *));
	if (!*out)
		return T0_ENOMEM;
	json_array_foreach(arr, i, it) {
		const char *s = json_string_value(it);

		if (!s && json_is_integer(it)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(it));
			s = buf;
		} else if (!s && json_is_boolean(it)) {
			s = json_is_true(it) ? "true" : "false";
		}
		if (!s)
			continue;
		if (!((*out)[*n] = strdup(s)))
			return T0_ENOMEM;
		(*n)++;
	}
	return T0_OK;
}

/* Growable string with a hard cap. */
struct sbuf {
	char *p;
	size_t len, cap, max;
	int over;
};

static int sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->over)
		return -1;
	if (b->len + n + 1 > b->max) {
		b->over = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->len + n + 1)
			nc *= 2;
		if (nc > b->max)
			nc = b->max;
		np = realloc(b->p, nc);
		if (!np) {
			b->over = 1;
			return -1;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int sb_put(struct sbuf *b, const char *s)
{
	return sb_putn(b, s, strlen(s));
}

static char *sb_take(struct sbuf *b)
{
	char *p = b->p;

	if (!p && !b->over)
		p = strdup("");
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *action_exec_type_name(int type)
{
	static const char *const names[] = { "http", "pagerduty", "github_workflow",
					     "argocd_sync", "argocd_rollback" };

	if (type < 0 || (size_t)type >= T0_ARRAY_LEN(names))
		return "unknown";
	return names[type];
}

static int exec_type_parse(const char *s, int *type)
{
	for (int i = ACTION_EXEC_HTTP; i <= ACTION_EXEC_ARGOCD_ROLLBACK; i++) {
		if (s && strcmp(s, action_exec_type_name(i)) == 0) {
			*type = i;
			return T0_OK;
		}
	}
	return T0_EINVAL;
}

/* ---- templates ---- */

enum tpl_src { SRC_PARAM = 0, SRC_TARGET, SRC_ENTITY, SRC_ANNOTATION, SRC_REQUESTER, SRC_REQUEST,
	       SRC_SECRET };

/* Where a rendered value lands, which decides how it is escaped. */
enum tpl_ctx { CTX_RAW = 0, CTX_PATH, CTX_QUERY, CTX_HEADER, CTX_JSON };

#define TPL_MAX_NAME 256

struct tpl_ph {
	int src;
	char name[TPL_MAX_NAME];
	int multi; /* "| path": several path segments */
};

static const char *const entity_fields[] = { "name", "namespace", "kind", "ref", "title" };
static const char *const requester_fields[] = { "email", "name", "user_id" };
static const char *const request_fields[] = { "id", "created" };

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/*
 * Parses the placeholder at s ("{{ ... }}"). Returns its length, or 0 with
 * err set when it is malformed or names something unknown.
 */
static size_t tpl_parse_ph(const char *s, struct tpl_ph *ph, char *err, size_t errlen)
{
	const char *p = s + 2, *end = strstr(s + 2, "}}");
	char expr[TPL_MAX_NAME + 32], filter[32];
	size_t n;
	const char *bar;

	memset(ph, 0, sizeof(*ph));
	if (!end) {
		set_err(err, errlen, "unclosed placeholder '{{' (expected '}}')");
		return 0;
	}
	n = (size_t)(end - p);
	if (n >= sizeof(expr)) {
		set_err(err, errlen, "placeholder longer than %d characters", TPL_MAX_NAME);
		return 0;
	}
	memcpy(expr, p, n);
	expr[n] = '\0';
	filter[0] = '\0';
	bar = strchr(expr, '|');
	if (bar) {
		const char *f = bar + 1;
		size_t fl;

		while (*f == ' ')
			f++;
		fl = strlen(f);
		while (fl && f[fl - 1] == ' ')
			fl--;
		if (fl >= sizeof(filter))
			fl = sizeof(filter) - 1;
		memcpy(filter, f, fl);
		filter[fl] = '\0';
		expr[bar - expr] = '\0';
	}
	/* trim */
	{
		char *a = expr;
		size_t l;

		while (*a == ' ')
			a++;
		l = strlen(a);
		while (l && a[l - 1] == ' ')
			l--;
		memmove(expr, a, l);
		expr[l] = '\0';
	}
	if (!expr[0] || strpbrk(expr, " {}\t\n")) {
		set_err(err, errlen, "malformed placeholder '{{%.*s}}'", (int)n, p);
		return 0;
	}
	if (filter[0]) {
		if (strcmp(filter, "path") != 0) {
			set_err(err, errlen, "unknown filter '%s' in '{{%.*s}}' (only 'path')", filter,
				(int)n, p);
			return 0;
		}
		ph->multi = 1;
	}
	if (strncmp(expr, "params.", 7) == 0 && expr[7]) {
		ph->src = SRC_PARAM;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 7);
	} else if (strcmp(expr, "target") == 0) {
		ph->src = SRC_TARGET;
	} else if (strncmp(expr, "entity.annotations.", 19) == 0 && expr[19]) {
		ph->src = SRC_ANNOTATION;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 19);
	} else if (strncmp(expr, "entity.", 7) == 0 &&
		   in_list(expr + 7, entity_fields, T0_ARRAY_LEN(entity_fields))) {
		ph->src = SRC_ENTITY;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 7);
	} else if (strncmp(expr, "requester.", 10) == 0 &&
		   in_list(expr + 10, requester_fields, T0_ARRAY_LEN(requester_fields))) {
		ph->src = SRC_REQUESTER;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 10);
	} else if (strncmp(expr, "request.", 8) == 0 &&
		   in_list(expr + 8, request_fields, T0_ARRAY_LEN(request_fields))) {
		ph->src = SRC_REQUEST;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 8);
	} else if (strncmp(expr, "secret.", 7) == 0 && expr[7]) {
		ph->src = SRC_SECRET;
		snprintf(ph->name, sizeof(ph->name), "%s", expr + 7);
	} else {
		set_err(err, errlen,
			"unknown placeholder '{{%s}}' (known: params.NAME, target, entity.name, "
			"entity.annotations.KEY, requester.email, request.id, secret.NAME, ...)",
			expr);
		return 0;
	}
	return (size_t)(end + 2 - s);
}

/* What a template may refer to, for validation at load. */
struct tpl_known {
	const json_t *params;  /* the action's params list (config JSON), or NULL */
	const struct action_set *set; /* for secret names, or NULL (not checked) */
};

static int tpl_known_param(const struct tpl_known *k, const char *name)
{
	size_t i;
	json_t *p;

	if (strcmp(name, "environment") == 0)
		return 1; /* implied by `environments` */
	json_array_foreach(k->params, i, p)
		if (jstr(p, "name") && strcmp(jstr(p, "name"), name) == 0)
			return 1;
	return 0;
}

/* Validates every placeholder of tpl for context ctx. */
static int tpl_check(const char *tpl, const struct tpl_known *k, int ctx, char *err, size_t errlen)
{
	const char *s = tpl;

	if (!tpl)
		return T0_OK;
	if (strlen(tpl) > ACTION_MAX_TEMPLATE) {
		set_err(err, errlen, "template longer than %d bytes", ACTION_MAX_TEMPLATE);
		return T0_EINVAL;
	}
	while ((s = strstr(s, "{{")) != NULL) {
		struct tpl_ph ph;
		size_t n = tpl_parse_ph(s, &ph, err, errlen);

		if (!n)
			return T0_EINVAL;
		if (ph.multi && ctx != CTX_PATH) {
			set_err(err, errlen, "'| path' is only allowed in a URL path");
			return T0_EINVAL;
		}
		if (ph.src == SRC_PARAM && !tpl_known_param(k, ph.name)) {
			set_err(err, errlen, "'{{params.%s}}' names no parameter of this action",
				ph.name);
			return T0_EINVAL;
		}
		if (ph.src == SRC_SECRET && k->set) {
			size_t i;

			for (i = 0; i < k->set->nsecrets; i++)
				if (strcmp(k->set->secrets[i].name, ph.name) == 0)
					break;
			if (i == k->set->nsecrets) {
				set_err(err, errlen,
					"'{{secret.%s}}' is not defined in executors.secrets", ph.name);
				return T0_EINVAL;
			}
		}
		s += n;
	}
	if (strstr(tpl, "}}") && !strstr(tpl, "{{")) {
		set_err(err, errlen, "stray '}}' without '{{'");
		return T0_EINVAL;
	}
	return T0_OK;
}

/* Bytes a header value or a raw value may never hold. */
static int has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 1;
	return 0;
}

static void fmt_rfc3339(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * The value of a placeholder as text (in buf or borrowed), and for a
 * parameter its typed JSON value. NULL with err when it has none.
 */
static const char *ph_value(const struct action_render_in *in, int masked, const struct tpl_ph *ph,
			    char *buf, size_t len, const json_t **typed, char *err, size_t errlen)
{
	const struct cat_entity *t = in->target;
	const json_t *v;

	if (typed)
		*typed = NULL;
	switch (ph->src) {
	case SRC_PARAM:
		v = json_object_get(in->params, ph->name);
		if (typed)
			*typed = v;
		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(buf, len, "%lld", (long long)json_integer_value(v));
			return buf;
		}
		if (json_is_boolean(v))
			return json_is_true(v) ? "true" : "false";
		/* An optional parameter left out renders as nothing (null as a whole JSON value). */
		for (size_t i = 0; !v && in->def && i < in->def->nparams; i++)
			if (strcmp(in->def->params[i].name, ph->name) == 0)
				return "";
		set_err(err, errlen, "parameter '%s' has no value", ph->name);
		return NULL;
	case SRC_TARGET:
	case SRC_ENTITY:
	case SRC_ANNOTATION:
		if (!t) {
			set_err(err, errlen, "this request has no target entity");
			return NULL;
		}
		if (ph->src == SRC_TARGET || strcmp(ph->name, "name") == 0)
			return t->name;
		if (ph->src == SRC_ANNOTATION) {
			const char *a = catalog_annotation(t, ph->name);

			if (!a)
				set_err(err, errlen, "%s has no annotation '%s' in the catalog", t->name,
					ph->name);
			return a;
		}
		if (strcmp(ph->name, "namespace") == 0)
			return t->namespace;
		if (strcmp(ph->name, "kind") == 0)
			return t->kind;
		if (strcmp(ph->name, "ref") == 0)
			return t->ref;
		return t->title ? t->title : t->name;
	case SRC_REQUESTER: {
		const char *r = strcmp(ph->name, "email") == 0 ? in->requester_email
				: strcmp(ph->name, "name") == 0 ? in->requester_name
								: in->requester_user_id;

		if (!r)
			set_err(err, errlen, "the requester has no %s", ph->name);
		return r;
	}
	case SRC_REQUEST:
		if (strcmp(ph->name, "id") == 0)
			return in->request_id ? in->request_id : "";
		fmt_rfc3339(in->created_ms, buf, len);
		return buf;
	case SRC_SECRET:
		if (masked)
			return ACTION_MASK;
		for (size_t i = 0; in->set && i < in->set->nsecrets; i++)
			if (strcmp(in->set->secrets[i].name, ph->name) == 0)
				return in->set->secrets[i].value;
		set_err(err, errlen, "secret '%s' is not defined", ph->name);
		return NULL;
	default:
		return NULL;
	}
}

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int pct_encode(struct sbuf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		char enc[4] = { '%', hex[*p >> 4], hex[*p & 15], 0 };

		if (unreserved(*p)) {
			if (sb_putn(b, (const char *)p, 1))
				return -1;
		} else if (sb_put(b, enc)) {
			return -1;
		}
	}
	return 0;
}

/* Appends a value for ctx, escaped or checked. T0_EINVAL with err when it cannot land safely. */
static int land(struct sbuf *out, const char *v, int ctx, int multi, const char *what, char *err,
		size_t errlen)
{
	switch (ctx) {
	case CTX_PATH:
		if (!*v) {
			set_err(err, errlen, "%s: a value would leave an empty path segment", what);
			return T0_EINVAL;
		}
		if (!multi)
			return pct_encode(out, v) ? T0_ETOOBIG : T0_OK;
		{
			/* "org/repo": each segment escaped; no empty, "." or ".." segment. */
			const char *seg = v;
			int nseg = 0;

			for (;;) {
				const char *slash = strchr(seg, '/');
				size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
				char piece[ACTION_MAX_VALUE_LEN + 1];

				if (n == 0 || n > ACTION_MAX_VALUE_LEN || (n == 1 && seg[0] == '.') ||
				    (n == 2 && seg[0] == '.' && seg[1] == '.') || ++nseg > 16) {
					set_err(err, errlen,
						"%s: '%s' is not a usable path (empty, '.' or '..' segment)",
						what, v);
					return T0_EINVAL;
				}
				memcpy(piece, seg, n);
				piece[n] = '\0';
				if ((nseg > 1 && sb_put(out, "/")) || pct_encode(out, piece))
					return T0_ETOOBIG;
				if (!slash)
					break;
				seg = slash + 1;
			}
			return T0_OK;
		}
	case CTX_QUERY:
		return pct_encode(out, v) ? T0_ETOOBIG : T0_OK;
	case CTX_JSON:
		/* Becomes a JSON string through jansson: any text is safe there. */
		return sb_put(out, v) ? T0_ETOOBIG : T0_OK;
	case CTX_HEADER:
	case CTX_RAW:
	default:
		if (has_control(v)) {
			set_err(err, errlen, "%s: a value holds a control character (newline?)", what);
			return T0_EINVAL;
		}
		return sb_put(out, v) ? T0_ETOOBIG : T0_OK;
	}
}

/* Renders tpl for ctx into out (appending). */
static int tpl_render(const struct action_render_in *in, int masked, const char *tpl, int ctx,
		      struct sbuf *out, const char *what, char *err, size_t errlen)
{
	const char *s = tpl;
	int rc;

	while (*s) {
		const char *open = strstr(s, "{{");
		struct tpl_ph ph;
		char buf[64];
		const char *v;
		size_t n;

		if (!open) {
			if (sb_put(out, s))
				return T0_ETOOBIG;
			break;
		}
		if (sb_putn(out, s, (size_t)(open - s)))
			return T0_ETOOBIG;
		n = tpl_parse_ph(open, &ph, err, errlen);
		if (!n)
			return T0_EINVAL;
		v = ph_value(in, masked, &ph, buf, sizeof(buf), NULL, err, errlen);
		if (!v)
			return T0_EINVAL;
		rc = land(out, v, ctx, ph.multi, what, err, errlen);
		if (rc != T0_OK)
			return rc;
		s = open + n;
	}
	return out->over ? T0_ETOOBIG : T0_OK;
}

/* A raw value (a built-in's field) rendered to a new string. */
static char *tpl_render_raw(const struct action_render_in *in, int masked, const char *tpl,
			    const char *what, char *err, size_t errlen)
{
	struct sbuf b = { .max = ACTION_MAX_VALUE_LEN + 1 };
	int rc = tpl_render(in, masked, tpl, CTX_RAW, &b, what, err, errlen);

	if (rc != T0_OK) {
		if (rc == T0_ETOOBIG)
			set_err(err, errlen, "%s: longer than %d bytes", what, ACTION_MAX_VALUE_LEN);
		free(b.p);
		return NULL;
	}
	return sb_take(&b);
}

/* A JSON template value: strings rendered (a lone placeholder keeps its type), the rest copied. */
static json_t *tpl_render_json(const struct action_render_in *in, int masked, const json_t *t,
			       int depth, char *err, size_t errlen)
{
	if (depth > 32) {
		set_err(err, errlen, "body: nested deeper than 32 levels");
		return NULL;
	}
	if (json_is_string(t)) {
		const char *s = json_string_value(t);
		struct tpl_ph ph;
		size_t n;

		if (strncmp(s, "{{", 2) == 0 && (n = tpl_parse_ph(s, &ph, err, errlen)) &&
		    s[n] == '\0') {
			const json_t *typed = NULL;
			char buf[64];
			const char *v = ph_value(in, masked, &ph, buf, sizeof(buf), &typed, err, errlen);

			if (!v)
				return NULL;
			if (ph.src == SRC_PARAM && !typed)
				return json_null();
			if (typed && (json_is_integer(typed) || json_is_boolean(typed)))
				return json_copy((json_t *)typed);
			return json_string(v);
		}
		{
			struct sbuf b = { .max = ACTION_MAX_BODY };
			json_t *j;

			if (tpl_render(in, masked, s, CTX_JSON, &b, "body", err, errlen) != T0_OK) {
				free(b.p);
				return NULL;
			}
			j = json_string(b.p ? b.p : "");
			free(b.p);
			if (!j)
				set_err(err, errlen, "body: a value is not valid UTF-8");
			return j;
		}
	}
	if (json_is_object(t)) {
		json_t *o = json_object();
		const char *k;
		json_t *v;

		if (!o)
			return NULL;
		json_object_foreach((json_t *)t, k, v) {
			json_t *c = tpl_render_json(in, masked, v, depth + 1, err, errlen);

			if (!c || json_object_set_new(o, k, c)) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	if (json_is_array(t)) {
		json_t *a = json_array();
		size_t i;
		json_t *v;

		if (!a)
			return NULL;
		json_array_foreach(t, i, v) {
			json_t *c = tpl_render_json(in, masked, v, depth + 1, err, errlen);

			if (!c || json_array_append_new(a, c)) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	return json_deep_copy(t);
}

/* Checks every string of a JSON template; keys must be literal. */
static int tpl_check_json(const json_t *t, const struct tpl_known *k, int depth, char *err,
			  size_t errlen)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 32) {
		set_err(err, errlen, "nested deeper than 32 levels");
		return T0_EINVAL;
	}
	if (json_is_string(t))
		return tpl_check(json_string_value(t), k, CTX_RAW, err, errlen);
	if (json_is_object(t)) {
		json_object_foreach((json_t *)t, key, v) {
			if (strstr(key, "{{")) {
				set_err(err, errlen, "placeholders are not allowed in keys ('%s')", key);
				return T0_EINVAL;
			}
			if (tpl_check_json(v, k, depth + 1, err, errlen) != T0_OK)
				return T0_EINVAL;
		}
	}
	if (json_is_array(t))
		json_array_foreach(t, i, v)
			if (tpl_check_json(v, k, depth + 1, err, errlen) != T0_OK)
				return T0_EINVAL;
	return T0_OK;
}

/*
 * A URL template: "scheme://authority" literal (no placeholder before the
 * path), then a path, then an optional query. No fragment.
 */
static int url_split(const char *tpl, size_t *auth_end, size_t *query_at, char *err, size_t errlen)
{
	const char *sep = strstr(tpl, "://"), *p, *ph;
	size_t i;

	if (!sep || (strncasecmp(tpl, "http://", 7) != 0 && strncasecmp(tpl, "https://", 8) != 0)) {
		set_err(err, errlen, "must start with http:// or https://");
		return T0_EINVAL;
	}
	p = sep + 3;
	i = strcspn(p, "/?");
	ph = strstr(tpl, "{{");
	if (i == 0 || (ph && ph < p + i) || memchr(p, '@', i)) {
		set_err(err, errlen,
			"the scheme and host must be written out (no placeholder, no user@)");
		return T0_EINVAL;
	}
	if (strchr(tpl, '#')) {
		set_err(err, errlen, "a URL template cannot have a fragment ('#')");
		return T0_EINVAL;
	}
	*auth_end = (size_t)(p - tpl) + i;
	/* The first '?' outside a placeholder starts the query. */
	*query_at = strlen(tpl);
	for (const char *q = tpl + *auth_end; *q; q++) {
		if (q[0] == '{' && q[1] == '{') {
			const char *close = strstr(q, "}}");

			if (!close)
				break;
			q = close + 1;
			continue;
		}
		if (*q == '?') {
			*query_at = (size_t)(q - tpl);
			break;
		}
	}
	return T0_OK;
}

/* Refuses a rendered path with "." or ".." segments (the template's own literals included). */
static int path_ok(const char *url, size_t auth_end, char *err, size_t errlen)
{
	const char *p = url + auth_end, *end = p + strcspn(p, "?");

	while (p < end) {
		const char *seg = p + (*p == '/'), *next = seg;
		size_t n;

		while (next < end && *next != '/')
			next++;
		n = (size_t)(next - seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
			set_err(err, errlen, "url: a value would change the path ('.' or '..' segment)");
			return T0_EINVAL;
		}
		p = next;
	}
	return T0_OK;
}

static int render_url(const struct action_render_in *in, int masked, const char *tpl, char **out,
		      char *err, size_t errlen)
{
	struct sbuf b = { .max = ACTION_MAX_URL + 1 };
	size_t auth_end = 0, query_at = 0;
	char *path = NULL, *query = NULL;
	int rc;

	rc = url_split(tpl, &auth_end, &query_at, err, errlen);
	if (rc != T0_OK)
		return rc;
	path = strndup(tpl + auth_end, query_at - auth_end);
	query = tpl[query_at] ? strdup(tpl + query_at) : NULL;
	if (!path || (tpl[query_at] && !query)) {
		rc = T0_ENOMEM;
		goto out;
	}
	sb_putn(&b, tpl, auth_end);
	rc = tpl_render(in, masked, path, CTX_PATH, &b, "url", err, errlen);
	if (rc == T0_OK && query)
		rc = tpl_render(in, masked, query, CTX_QUERY, &b, "url", err, errlen);
	if (rc == T0_ETOOBIG)
		set_err(err, errlen, "url: longer than %d bytes", ACTION_MAX_URL);
	if (rc == T0_OK)
		rc = path_ok(b.p, auth_end, err, errlen);
	if (rc == T0_OK)
		*out = sb_take(&b);
out:
	free(b.p);
	free(path);
	free(query);
	return rc;
}

/* ---- the request model and the built-ins ---- */

void action_http_clear(struct action_http *h)
{
	if (!h)
		return;
	free(h->method);
	free(h->url);
	strv_free(h->headers, h->nheaders);
	free(h->body);
	memset(h, 0, sizeof(*h));
}

static int http_add_header(struct action_http *h, const char *name, const char *value, char *err,
			   size_t errlen)
{
	char **nh;
	size_t n = strlen(name) + strlen(value) + 3;

	if (h->nheaders >= ACTION_MAX_HEADERS) {
		set_err(err, errlen, "more than %d headers", ACTION_MAX_HEADERS);
		return T0_ETOOBIG;
	}
	if (has_control(value)) {
		set_err(err, errlen, "header %s: a value holds a control character (newline?)", name);
		return T0_EINVAL;
	}
	nh = realloc(h->headers, (h->nheaders + 1) * sizeof(*nh));
	if (!nh)
		return T0_ENOMEM;
	h->headers = nh;
	if (!(nh[h->nheaders] = malloc(n)))
		return T0_ENOMEM;
	snprintf(nh[h->nheaders], n, "%s: %s", name, value);
	h->nheaders++;
	return T0_OK;
}

static int http_set_json_body(struct action_http *h, const json_t *body, char *err, size_t errlen)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);

	if (!text)
		return T0_ENOMEM;
	if (strlen(text) > ACTION_MAX_BODY) {
		free(text);
		set_err(err, errlen, "body: longer than %d bytes", ACTION_MAX_BODY);
		return T0_ETOOBIG;
	}
	h->body = text;
	h->body_len = strlen(text);
	return T0_OK;
}

/* base_url + "/" + escaped pieces. */
struct url_builder {
	struct sbuf b;
};

static int ub_literal(struct url_builder *u, const char *s)
{
	return sb_put(&u->b, s) ? T0_ETOOBIG : T0_OK;
}

static int ub_segment(struct url_builder *u, const char *value, int multi, const char *what,
		      char *err, size_t errlen)
{
	if (!value || !*value) {
		set_err(err, errlen, "%s is empty", what);
		return T0_EINVAL;
	}
	if (!multi && (strcmp(value, ".") == 0 || strcmp(value, "..") == 0)) {
		set_err(err, errlen, "%s: '%s' would change the path", what, value);
		return T0_EINVAL;
	}
	return land(&u->b, value, CTX_PATH, multi, what, err, errlen);
}

struct builtin_vals {
	char *a, *b, *c, *d; /* rendered field templates */
};

static void bv_clear(struct builtin_vals *v)
{
	free(v->a);
	free(v->b);
	free(v->c);
	free(v->d);
	memset(v, 0, sizeof(*v));
}

static int render_builtin(const struct action_render_in *in, int masked, struct action_http *h,
			  char *err, size_t errlen)
{
	const struct action_exec *x = &in->def->exec;
	const struct action_set *set = in->set;
	struct url_builder u = { .b = { .max = ACTION_MAX_URL + 1 } };
	struct builtin_vals v = { 0 };
	json_t *body = NULL;
	char auth[600];
	int rc = T0_EINVAL;

	switch (x->type) {
	case ACTION_EXEC_PAGERDUTY: {
		const char *from;

		if (!(v.a = tpl_render_raw(in, masked, x->incident, "incident", err, errlen)))
			goto out;
		v.b = x->from ? tpl_render_raw(in, masked, x->from, "from", err, errlen) : NULL;
		if (x->from && !v.b)
			goto out;
		from = v.b && *v.b ? v.b : in->requester_email ? in->requester_email
								: set->pagerduty.from;
		if (!from || !*from) {
			set_err(err, errlen, "pagerduty: no From e-mail (the requester has none and "
					     "executors.pagerduty.from is not set)");
			goto out;
		}
		if ((rc = ub_literal(&u, set->pagerduty.base_url)) ||
		    (rc = ub_literal(&u, "/incidents/")) ||
		    (rc = ub_segment(&u, v.a, 0, "incident", err, errlen)))
			goto out;
		h->method = strdup("PUT");
		snprintf(auth, sizeof(auth), "Token token=%s",
			 masked ? ACTION_MASK : set->pagerduty.token);
		if ((rc = http_add_header(h, "Authorization", auth, err, errlen)) ||
		    (rc = http_add_header(h, "Accept", "application/vnd.pagerduty+json;version=2", err,
					  errlen)) ||
		    (rc = http_add_header(h, "Content-Type", "application/json", err, errlen)) ||
		    (rc = http_add_header(h, "From", from, err, errlen)))
			goto out;
		body = json_pack("{s:{s:s,s:s}}", "incident", "type", "incident_reference", "status",
				 x->pd_status);
		break;
	}
	case ACTION_EXEC_GITHUB_WORKFLOW: {
		json_t *inputs = json_object();
		const char *k;
		json_t *tv;

		if (!inputs) {
			rc = T0_ENOMEM;
			goto out;
		}
		if (!(v.a = tpl_render_raw(in, masked, x->repo, "repo", err, errlen)) ||
		    !(v.b = tpl_render_raw(in, masked, x->workflow, "workflow", err, errlen)) ||
		    !(v.c = tpl_render_raw(in, masked, x->ref ? x->ref : "main", "ref", err, errlen))) {
			json_decref(inputs);
			goto out;
		}
		json_object_foreach(x->inputs, k, tv) {
			char what[96];
			char *val;

			snprintf(what, sizeof(what), "inputs.%s", k);
			val = tpl_render_raw(in, masked, json_string_value(tv), what, err, errlen);
			if (!val || json_object_set_new(inputs, k, json_string(val))) {
				free(val);
				json_decref(inputs);
				goto out;
			}
			free(val);
		}
		if ((rc = ub_literal(&u, set->github.base_url)) || (rc = ub_literal(&u, "/repos/")) ||
		    (rc = ub_segment(&u, v.a, 1, "repo", err, errlen)) ||
		    (rc = ub_literal(&u, "/actions/workflows/")) ||
		    (rc = ub_segment(&u, v.b, 0, "workflow", err, errlen)) ||
		    (rc = ub_literal(&u, "/dispatches"))) {
			json_decref(inputs);
			goto out;
		}
		h->method = strdup("POST");
		snprintf(auth, sizeof(auth), "Bearer %s", masked ? ACTION_MASK : set->github.token);
		if ((rc = http_add_header(h, "Authorization", auth, err, errlen)) ||
		    (rc = http_add_header(h, "Accept", "application/vnd.github+json", err, errlen)) ||
		    (rc = http_add_header(h, "X-GitHub-Api-Version", "2022-11-28", err, errlen)) ||
		    (rc = http_add_header(h, "Content-Type", "application/json", err, errlen)) ||
		    (rc = http_add_header(h, "User-Agent", "tier0", err, errlen))) {
			json_decref(inputs);
			goto out;
		}
		body = json_pack("{s:s,s:o}", "ref", v.c, "inputs", inputs);
		break;
	}
	case ACTION_EXEC_ARGOCD_SYNC:
	case ACTION_EXEC_ARGOCD_ROLLBACK: {
		int rollback = x->type == ACTION_EXEC_ARGOCD_ROLLBACK;

		if (!(v.a = tpl_render_raw(in, masked, x->app, "app", err, errlen)))
			goto out;
		if ((rc = ub_literal(&u, set->argocd.base_url)) ||
		    (rc = ub_literal(&u, "/api/v1/applications/")) ||
		    (rc = ub_segment(&u, v.a, 0, "app", err, errlen)) ||
		    (rc = ub_literal(&u, rollback ? "/rollback" : "/sync")))
			goto out;
		rc = T0_EINVAL;
		body = json_pack("{s:b}", "prune", x->prune);
		if (!body)
			goto out;
		if (rollback) {
			char *end = NULL;
			long long id;

			if (!(v.b = tpl_render_raw(in, masked, x->rollback_id, "id", err, errlen)))
				goto out;
			errno = 0;
			id = strtoll(v.b, &end, 10);
			if (!*v.b || *end || errno || id < 0) {
				set_err(err, errlen, "id: '%s' is not an Argo CD history id", v.b);
				goto out;
			}
			json_object_set_new(body, "id", json_integer(id));
		} else if (x->revision) {
			if (!(v.b = tpl_render_raw(in, masked, x->revision, "revision", err, errlen)))
				goto out;
			if (*v.b)
				json_object_set_new(body, "revision", json_string(v.b));
		}
		h->method = strdup("POST");
		snprintf(auth, sizeof(auth), "Bearer %s", masked ? ACTION_MASK : set->argocd.token);
		if ((rc = http_add_header(h, "Authorization", auth, err, errlen)) ||
		    (rc = http_add_header(h, "Content-Type", "application/json", err, errlen)))
			goto out;
		break;
	}
	default:
		set_err(err, errlen, "unknown executor type");
		goto out;
	}
	if (!body || !h->method) {
		rc = T0_ENOMEM;
		goto out;
	}
	if (u.b.over) {
		set_err(err, errlen, "url: longer than %d bytes", ACTION_MAX_URL);
		rc = T0_ETOOBIG;
		goto out;
	}
	h->url = sb_take(&u.b);
	rc = h->url ? http_set_json_body(h, body, err, errlen) : T0_ENOMEM;
out:
	free(u.b.p);
	json_decref(body);
	bv_clear(&v);
	return rc;
}

int action_render(const struct action_render_in *in, int masked, struct action_http *out,
		  char *err, size_t errlen)
{
	const struct action_exec *x;
	int rc;

	if (!in || !in->def || !in->set || !out)
		return T0_EINVAL;
	memset(out, 0, sizeof(*out));
	x = &in->def->exec;
	if (x->type != ACTION_EXEC_HTTP) {
		rc = render_builtin(in, masked, out, err, errlen);
		goto done;
	}
	out->method = strdup(x->method ? x->method : "POST");
	if (!out->method) {
		rc = T0_ENOMEM;
		goto done;
	}
	rc = render_url(in, masked, x->url, &out->url, err, errlen);
	for (size_t i = 0; rc == T0_OK && i < x->nheaders; i++) {
		struct sbuf b = { .max = ACTION_MAX_VALUE_LEN * 4 };
		char what[160];

		snprintf(what, sizeof(what), "header %s", x->header_names[i]);
		rc = tpl_render(in, masked, x->header_values[i], CTX_HEADER, &b, what, err, errlen);
		if (rc == T0_OK)
			rc = http_add_header(out, x->header_names[i], b.p ? b.p : "", err, errlen);
		else if (rc == T0_ETOOBIG)
			set_err(err, errlen, "%s: too long", what);
		free(b.p);
	}
	if (rc == T0_OK && x->body) {
		json_t *body = tpl_render_json(in, masked, x->body, 0, err, errlen);

		rc = body ? http_set_json_body(out, body, err, errlen) : T0_EINVAL;
		json_decref(body);
	}
done:
	if (rc != T0_OK)
		action_http_clear(out);
	return rc;
}

json_t *action_http_json(const struct action_http *h)
{
	json_t *o = json_object(), *hs = json_array(), *body = NULL;

	if (!o || !hs) {
		json_decref(o);
		json_decref(hs);
		return NULL;
	}
	json_object_set_new(o, "method", json_string(h->method ? h->method : ""));
	json_object_set_new(o, "url", json_string(h->url ? h->url : ""));
	for (size_t i = 0; i < h->nheaders; i++)
		json_array_append_new(hs, json_string(h->headers[i]));
	json_object_set_new(o, "headers", hs);
	if (h->body) {
		body = json_loadb(h->body, h->body_len, JSON_DECODE_ANY, NULL);
		if (!body)
			body = json_stringn(h->body, h->body_len);
		json_object_set_new(o, "body", body ? body : json_null());
	}
	return o;
}

int action_request_hash(const struct action_render_in *in, char out[65], json_t **shown, char *err,
			size_t errlen)
{
	struct action_http h;
	json_t *doc = NULL, *req = NULL;
	char *text = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc;

	if (shown)
		*shown = NULL;
	rc = action_render(in, 1, &h, err, errlen);
	if (rc != T0_OK)
		return rc;
	req = action_http_json(&h);
	action_http_clear(&h);
	doc = json_object();
	if (!req || !doc) {
		rc = T0_ENOMEM;
		goto out;
	}
	json_object_set_new(doc, "action", json_string(in->def->name));
	json_object_set_new(doc, "executor", json_string(action_exec_type_name(in->def->exec.type)));
	json_object_set_new(doc, "target", in->target ? json_string(in->target->ref) : json_null());
	json_object_set_new(doc, "params", in->params ? json_deep_copy(in->params) : json_object());
	json_object_set(doc, "request", req);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || !EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL)) {
		rc = T0_ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	if (shown) {
		*shown = req;
		req = NULL;
	}
out:
	free(text);
	json_decref(doc);
	json_decref(req);
	return rc;
}

static void mask_one(char *s, const char *val)
{
	size_t vl = val ? strlen(val) : 0, ml = strlen(ACTION_MASK);
	char *hit;

	/* Short values would mask half the text; secrets are long. */
	if (vl < 4)
		return;
	while ((hit = strstr(s, val)) != NULL) {
		if (vl >= ml) {
			memcpy(hit, ACTION_MASK, ml);
			memmove(hit + ml, hit + vl, strlen(hit + vl) + 1);
		} else {
			memset(hit, '*', vl);
		}
	}
}

void action_mask_secrets(const struct action_set *set, char *s)
{
	if (!set || !s)
		return;
	for (size_t i = 0; i < set->nsecrets; i++)
		mask_one(s, set->secrets[i].value);
	mask_one(s, set->pagerduty.token);
	mask_one(s, set->github.token);
	mask_one(s, set->argocd.token);
}

/* ---- success criteria ---- */

static const json_t *json_path(const json_t *root, const char *path)
{
	char part[128];
	const json_t *cur = root;

	while (cur && *path) {
		size_t n = strcspn(path, ".");

		if (n == 0 || n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		if (json_is_array(cur) && strspn(part, "0123456789") == n)
			cur = json_array_get(cur, (size_t)strtoul(part, NULL, 10));
		else
			cur = json_object_get(cur, part);
		path += n + (path[n] == '.');
	}
	return cur;
}

int action_success(const struct action_set *set, const struct action_def *def,
		   const struct action_render_in *in, long status, const char *body, size_t len,
		   char *why, size_t whylen)
{
	const struct action_exec *x = &def->exec;
	const char *field = x->json_field;
	json_t *equals_pd = NULL;
	const json_t *equals = x->equals;
	int ok = 0;

	if (x->ok_status) {
		for (size_t i = 0; i < x->nok_status; i++)
			if (x->ok_status[i] == status)
				ok = 1;
	} else if (x->type == ACTION_EXEC_GITHUB_WORKFLOW) {
		ok = status == 204 || status == 200;
	} else if (x->type == ACTION_EXEC_ARGOCD_SYNC || x->type == ACTION_EXEC_ARGOCD_ROLLBACK ||
		   x->type == ACTION_EXEC_PAGERDUTY) {
		ok = status == 200;
	} else {
		ok = status >= 200 && status < 300;
	}
	if (!ok) {
		set_err(why, whylen, "HTTP status %ld is not a success for this action", status);
		return 0;
	}
	if (!field && x->type == ACTION_EXEC_PAGERDUTY) {
		/* PagerDuty answers 200 with the incident as it now is. */
		field = "incident.status";
		equals_pd = json_string(x->pd_status);
		equals = equals_pd;
	}
	if (field) {
		json_t *doc = body ? json_loadb(body, len, JSON_DECODE_ANY, NULL) : NULL;
		const json_t *v = doc ? json_path(doc, field) : NULL;

		if (!v) {
			set_err(why, whylen, "the response has no '%s'", field);
			ok = 0;
		} else if (equals ? !json_equal((json_t *)v, (json_t *)equals)
				  : (json_is_null(v) || json_is_false(v))) {
			char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			set_err(why, whylen, "'%s' is %.80s, not what success needs", field,
				got ? got : "?");
			free(got);
			ok = 0;
		} else {
			set_err(why, whylen, "HTTP %ld and '%s' as expected", status, field);
		}
		json_decref(doc);
	} else {
		set_err(why, whylen, "HTTP %ld", status);
	}
	json_decref(equals_pd);
	(void)set;
	(void)in;
	return ok;
}

/* ---- Argo CD history ---- */

const char *action_rollback_lookup_param(const struct action_def *def, const json_t *params)
{
	static char name[TPL_MAX_NAME];
	struct tpl_ph ph;
	const char *t;
	size_t n;

	if (!def || def->exec.type != ACTION_EXEC_ARGOCD_ROLLBACK || !def->exec.rollback_id)
		return NULL;
	t = def->exec.rollback_id;
	if (strncmp(t, "{{", 2) != 0 || !(n = tpl_parse_ph(t, &ph, NULL, 0)) || t[n] ||
	    ph.src != SRC_PARAM)
		return NULL;
	if (json_object_get(params, ph.name))
		return NULL;
	snprintf(name, sizeof(name), "%s", ph.name);
	return name;
}

int action_argocd_previous(const char *app_json, size_t len, long long *id, char *revision,
			   size_t revlen, char *deployed_at, size_t datelen)
{
	json_t *doc = json_loadb(app_json, len, 0, NULL);
	const json_t *hist = json_path(doc, "status.history");
	const char *newest;
	size_t n = json_array_size(hist);
	int rc = T0_ENOTFOUND;

	if (!doc || !json_is_array(hist) || n < 2)
		goto out;
	/* History is appended oldest to newest; the last entry is what runs now. */
	newest = jstr(json_array_get(hist, n - 1), "revision");
	for (size_t i = n - 1; i-- > 0;) {
		const json_t *e = json_array_get(hist, i);
		const char *rev = jstr(e, "revision");

		if (!rev || !json_is_integer(json_object_get(e, "id")))
			continue;
		if (newest && strcmp(rev, newest) == 0)
			continue;
		*id = json_integer_value(json_object_get(e, "id"));
		snprintf(revision, revlen, "%s", rev);
		snprintf(deployed_at, datelen, "%s", jstr(e, "deployedAt") ? jstr(e, "deployedAt") : "");
		rc = T0_OK;
		break;
	}
out:
	json_decref(doc);
	return rc;
}

/* ---- parameters ---- */

const char *action_environment(const json_t *params)
{
	return json_string_value(json_object_get(params, "environment"));
}

static int utf8_ok_no_control(const char *s)
{
	return !has_control(s);
}

static int parse_int(const char *s, long long *out)
{
	char *end = NULL;

	if (!s || !*s || strlen(s) > 19)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

/* A given value converted to the parameter's type. NULL with err on a mismatch. */
static json_t *param_value(const struct action_set *set, const struct action_param *p,
			   const json_t *given, char *err, size_t errlen)
{
	const char *s = json_string_value(given);
	char buf[64];
	json_t *v = NULL;

	switch (p->type) {
	case ACTION_PARAM_INT: {
		long long n;

		if (json_is_integer(given))
			n = json_integer_value(given);
		else if (!s || parse_int(s, &n)) {
			set_err(err, errlen, "%s must be a whole number", p->name);
			return NULL;
		}
		if ((p->has_min && n < p->min) || (p->has_max && n > p->max)) {
			if (p->has_min && p->has_max)
				set_err(err, errlen, "%s must be between %lld and %lld, got %lld",
					p->name, p->min, p->max, n);
			else if (p->has_min)
				set_err(err, errlen, "%s must be at least %lld, got %lld", p->name,
					p->min, n);
			else
				set_err(err, errlen, "%s must be at most %lld, got %lld", p->name,
					p->max, n);
			return NULL;
		}
		snprintf(buf, sizeof(buf), "%lld", n);
		s = buf;
		v = json_integer(n);
		break;
	}
	case ACTION_PARAM_BOOL:
		if (json_is_boolean(given))
			return json_copy((json_t *)given);
		if (s && (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1")))
			return json_true();
		if (s && (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0")))
			return json_false();
		set_err(err, errlen, "%s must be true or false", p->name);
		return NULL;
	default:
		if (json_is_integer(given)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(given));
			s = buf;
		}
		if (!s) {
			set_err(err, errlen, "%s must be text", p->name);
			return NULL;
		}
		if (strlen(s) > ACTION_MAX_VALUE_LEN) {
			set_err(err, errlen, "%s is longer than %d bytes", p->name,
				ACTION_MAX_VALUE_LEN);
			return NULL;
		}
		if (!utf8_ok_no_control(s)) {
			set_err(err, errlen, "%s holds a control character (newline, tab, ...)",
				p->name);
			return NULL;
		}
		v = json_string(s);
		if (!v) {
			set_err(err, errlen, "%s is not valid UTF-8", p->name);
			return NULL;
		}
		break;
	}
	if (!v)
		return NULL;
	if (p->nallowed) {
		size_t i;

		for (i = 0; i < p->nallowed; i++)
			if (strcmp(p->allowed[i], s) == 0)
				break;
		if (i == p->nallowed) {
			char list[256] = "";

			for (i = 0; i < p->nallowed; i++) {
				size_t l = strlen(list);

				snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "",
					 p->allowed[i]);
			}
			set_err(err, errlen, "%s must be one of %s, got '%.64s'", p->name, list, s);
			json_decref(v);
			return NULL;
		}
	}
	if (p->pattern) {
		int mrc = pcre2_match(p->pattern, (PCRE2_SPTR)s, strlen(s), 0, 0, set->md,
				      set->mctx);

		if (mrc < 0) {
			if (mrc != PCRE2_ERROR_NOMATCH)
				log_warn("actions", "pattern_error", "param=%s rc=%d", p->name, mrc);
			set_err(err, errlen, "%s '%.64s' does not match the pattern %s", p->name, s,
				p->pattern_src);
			json_decref(v);
			return NULL;
		}
	}
	return v;
}

int action_params_resolve(const struct action_set *set, const struct action_def *def,
			  const json_t *given, json_t **out, char *err, size_t errlen)
{
	json_t *res = json_object();
	const char *k;
	json_t *gv;
	int rc = T0_EINVAL;

	*out = NULL;
	if (!res)
		return T0_ENOMEM;
	if (given && !json_is_object(given)) {
		set_err(err, errlen, "parameters must be name=value pairs");
		goto out;
	}
	json_object_foreach((json_t *)given, k, gv) {
		size_t i;

		for (i = 0; i < def->nparams; i++)
			if (strcmp(def->params[i].name, k) == 0)
				break;
		if (i == def->nparams) {
			char list[256] = "";

			for (i = 0; i < def->nparams; i++) {
				size_t l = strlen(list);

				snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "",
					 def->params[i].name);
			}
			set_err(err, errlen, "%s has no parameter '%.64s'%s%s", def->name, k,
				def->nparams ? " (it has: " : " (it takes none)",
				def->nparams ? list : "");
			if (def->nparams) {
				size_t l = strlen(err);

				snprintf(err + l, errlen > l ? errlen - l : 0, ")");
			}
			goto out;
		}
	}
	for (size_t i = 0; i < def->nparams; i++) {
		const struct action_param *p = &def->params[i];
		const json_t *g = json_object_get(given, p->name);
		json_t *v;

		if (!g && p->def) {
			json_object_set(res, p->name, p->def);
			continue;
		}
		if (!g) {
			if (p->required) {
				set_err(err, errlen, "%s needs %s%s%s (say %s=...)", def->name, p->name,
					p->description ? ": " : "",
					p->description ? p->description : "", p->name);
				goto out;
			}
			continue;
		}
		v = param_value(set, p, g, err, errlen);
		if (!v)
			goto out;
		json_object_set_new(res, p->name, v);
	}
	*out = res;
	res = NULL;
	rc = T0_OK;
out:
	json_decref(res);
	return rc;
}

int action_args_parse(const char *text, json_t **out, char *err, size_t errlen)
{
	json_t *o = json_object();
	const char *p = text ? text : "";
	char key[64];
	struct sbuf val = { .max = ACTION_MAX_VALUE_LEN + 2 };
	int rc = T0_EINVAL;

	*out = NULL;
	if (!o)
		return T0_ENOMEM;
	for (;;) {
		size_t kl;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		kl = strcspn(p, "= \t");
		if (p[kl] != '=' || kl == 0 || kl >= sizeof(key)) {
			set_err(err, errlen, "expected name=value, got '%.*s'", (int)strcspn(p, " \t"),
				p);
			goto out;
		}
		memcpy(key, p, kl);
		key[kl] = '\0';
		p += kl + 1;
		val.len = 0;
		if (val.p)
			val.p[0] = '\0';
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			const char *close = strchr(p, q);

			if (!close) {
				set_err(err, errlen, "unclosed quote in %s=", key);
				goto out;
			}
			if (sb_putn(&val, p, (size_t)(close - p)))
				goto toolong;
			p = close + 1;
		} else {
			size_t vl = strcspn(p, " \t");

			if (sb_putn(&val, p, vl))
				goto toolong;
			p += vl;
		}
		if (json_object_get(o, key)) {
			set_err(err, errlen, "%s is given twice", key);
			goto out;
		}
		if (json_object_set_new(o, key, json_string(val.p ? val.p : ""))) {
			set_err(err, errlen, "%s is not valid UTF-8", key);
			goto out;
		}
	}
	*out = o;
	o = NULL;
	rc = T0_OK;
	goto out;
toolong:
	set_err(err, errlen, "a value is longer than %d bytes", ACTION_MAX_VALUE_LEN);
out:
	free(val.p);
	json_decref(o);
	return rc;
}

/* ---- definitions ---- */

static void who_clear(struct policy_who *w)
{
	strv_free(w->groups, w->ngroups);
	strv_free(w->users, w->nusers);
	memset(w, 0, sizeof(*w));
}

/* absent -> the default (owners of the target) */
static int who_from_json(const json_t *j, struct policy_who *w, int default_owners)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if (!json_is_object(j)) {
		w->owners = default_owners;
		return T0_OK;
	}
	w->anyone = json_is_true(json_object_get(j, "anyone"));
	rc = strv_from_json(json_object_get(j, "groups"), &w->groups, &w->ngroups);
	if (rc == T0_OK)
		rc = strv_from_json(json_object_get(j, "users"), &w->users, &w->nusers);
	/* `owners` left out means: the default, unless someone else is named. */
	if (json_is_boolean(json_object_get(j, "owners")))
		w->owners = json_is_true(json_object_get(j, "owners"));
	else
		w->owners = !w->anyone && !w->ngroups && !w->nusers ? default_owners : 0;
	return rc;
}

static void def_clear(struct action_def *d)
{
	for (size_t i = 0; d->params && i < d->nparams; i++) {
		struct action_param *p = &d->params[i];

		free(p->name);
		free(p->description);
		json_decref(p->def);
		strv_free(p->allowed, p->nallowed);
		free(p->pattern_src);
		pcre2_code_free(p->pattern);
	}
	free(d->params);
	free(d->name);
	free(d->description);
	free(d->target_kind);
	who_clear(&d->requesters);
	who_clear(&d->approvers);
	strv_free(d->environments, d->nenvs);
	free(d->exec.method);
	free(d->exec.url);
	strv_free(d->exec.header_names, d->exec.nheaders);
	strv_free(d->exec.header_values, d->exec.nheaders);
	json_decref(d->exec.body);
	free(d->exec.incident);
	free(d->exec.pd_status);
	free(d->exec.from);
	free(d->exec.repo);
	free(d->exec.workflow);
	free(d->exec.ref);
	json_decref(d->exec.inputs);
	free(d->exec.app);
	free(d->exec.revision);
	free(d->exec.rollback_id);
	free(d->exec.ok_status);
	free(d->exec.json_field);
	json_decref(d->exec.equals);
	memset(d, 0, sizeof(*d));
}

void action_set_free(struct action_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		def_clear(&set->defs[i]);
	free(set->defs);
	strv_free(set->policy.approval_envs, set->policy.napproval_envs);
	who_clear(&set->policy.audit_viewers);
	free(set->pagerduty.base_url);
	free(set->pagerduty.token);
	free(set->pagerduty.from);
	free(set->github.base_url);
	free(set->github.token);
	free(set->argocd.base_url);
	free(set->argocd.token);
	for (size_t i = 0; i < set->nsecrets; i++) {
		free(set->secrets[i].name);
		if (set->secrets[i].value) {
			memset(set->secrets[i].value, 0, strlen(set->secrets[i].value));
			free(set->secrets[i].value);
		}
	}
	free(set->secrets);
	pcre2_match_data_free(set->md);
	pcre2_match_context_free(set->mctx);
	free(set);
}

const struct action_def *action_find(const struct action_set *set, const char *name)
{
	for (size_t i = 0; set && name && i < set->n; i++)
		if (strcasecmp(set->defs[i].name, name) == 0)
			return &set->defs[i];
	return NULL;
}

json_t *action_set_describe(const struct action_set *set)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && set && i < set->n; i++) {
		const struct action_def *d = &set->defs[i];
		json_t *o = json_object(), *ps = json_array();

		for (size_t j = 0; o && ps && j < d->nparams; j++) {
			const struct action_param *p = &d->params[j];
			json_t *pj = json_pack("{s:s,s:s,s:b}", "name", p->name, "type",
					       p->type == ACTION_PARAM_INT ? "integer"
					       : p->type == ACTION_PARAM_BOOL ? "boolean"
									      : "string",
					       "required", p->required && !p->def);

			if (!pj)
				continue;
			if (p->description)
				json_object_set_new(pj, "description", json_string(p->description));
			if (p->nallowed) {
				json_t *al = json_array();

				for (size_t k = 0; al && k < p->nallowed; k++)
					json_array_append_new(al, json_string(p->allowed[k]));
				json_object_set_new(pj, "allowed", al);
			}
			if (p->pattern_src)
				json_object_set_new(pj, "pattern", json_string(p->pattern_src));
			if (p->def)
				json_object_set(pj, "default", p->def);
			json_array_append_new(ps, pj);
		}
		if (!o || !ps) {
			json_decref(o);
			json_decref(ps);
			continue;
		}
		json_object_set_new(o, "name", json_string(d->name));
		json_object_set_new(o, "description", json_string(d->description ? d->description : ""));
		json_object_set_new(o, "risk", json_string(policy_risk_name(d->risk)));
		json_object_set_new(o, "target_kind", d->target_kind ? json_string(d->target_kind)
								     : json_null());
		json_object_set_new(o, "params", ps);
		json_array_append_new(arr, o);
	}
	return arr;
}

static int endpoint_from(const json_t *j, struct action_endpoint *e, const char *def_base)
{
	int oom = 0;
	const char *base = jstr(j, "base_url") ? jstr(j, "base_url") : def_base;

	e->base_url = dup_opt(base, &oom);
	e->token = dup_opt(jstr(j, "token"), &oom);
	e->from = dup_opt(jstr(j, "from"), &oom);
	if (e->base_url) {
		size_t n = strlen(e->base_url);

		while (n && e->base_url[n - 1] == '/')
			e->base_url[--n] = '\0';
	}
	return oom ? T0_ENOMEM : T0_OK;
}

static int spec_from(const json_t *obj, const char *key, struct rl_spec *spec, int *has)
{
	const char *s = jstr(obj, key);

	*has = 0;
	if (!s)
		return T0_OK;
	if (rl_spec_parse(s, spec) != T0_OK)
		return T0_EINVAL; /* validated by config.c; a build without it still refuses */
	*has = 1;
	return T0_OK;
}

static int compile_pattern(struct action_param *p, const char *src, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off = 0;
	int ec = 0;
	uint32_t jit = 0;

	/* The whole value must match: anchored at both ends at compile time, so JIT applies. */
	p->pattern = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
				   PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &off, NULL);
	if (!p->pattern) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		set_err(err, errlen, "pattern: PCRE2 error at offset %zu: %s", (size_t)off,
			(const char *)msg);
		return T0_EINVAL;
	}
	if (pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit)
		pcre2_jit_compile(p->pattern, PCRE2_JIT_COMPLETE);
	p->pattern_src = strdup(src);
	return p->pattern_src ? T0_OK : T0_ENOMEM;
}

static int param_from(struct action_set *set, struct action_param *p, const json_t *j, char *err,
		      size_t errlen)
{
	const char *type = jstr(j, "type");
	const json_t *def = json_object_get(j, "default");
	int oom = 0, rc;

	p->name = dup_opt(jstr(j, "name"), &oom);
	p->description = dup_opt(jstr(j, "description"), &oom);
	p->type = type && !strcmp(type, "int") ? ACTION_PARAM_INT
		  : type && !strcmp(type, "bool") ? ACTION_PARAM_BOOL
						  : ACTION_PARAM_STRING;
	p->required = json_is_true(json_object_get(j, "required"));
	if (json_is_integer(json_object_get(j, "min"))) {
		p->has_min = 1;
		p->min = json_integer_value(json_object_get(j, "min"));
	}
	if (json_is_integer(json_object_get(j, "max"))) {
		p->has_max = 1;
		p->max = json_integer_value(json_object_get(j, "max"));
	}
	if (oom)
		return T0_ENOMEM;
	rc = strv_from_json(json_object_get(j, "allowed"), &p->allowed, &p->nallowed);
	if (rc == T0_OK && jstr(j, "pattern"))
		rc = compile_pattern(p, jstr(j, "pattern"), err, errlen);
	if (rc == T0_OK && def && !json_is_null(def)) {
		char why[256];

		p->def = param_value(set, p, def, why, sizeof(why));
		if (!p->def) {
			set_err(err, errlen, "default: %s", why);
			rc = T0_EINVAL;
		}
	}
	return rc;
}

static int exec_from(struct action_exec *x, const json_t *j)
{
	const json_t *hdrs = json_object_get(j, "headers"), *succ = json_object_get(j, "success");
	const char *k;
	json_t *v;
	int oom = 0;

	exec_type_parse(jstr(j, "type"), &x->type);
	x->method = dup_opt(jstr(j, "method"), &oom);
	x->url = dup_opt(jstr(j, "url"), &oom);
	if (json_is_object(hdrs) && json_object_size(hdrs)) {
		x->header_names = calloc(json_object_size(hdrs), sizeof(char *));
		x->header_values = calloc(json_object_size(hdrs), sizeof(char *));
		if (!x->header_names || !x->header_values)
			return T0_ENOMEM;
		json_object_foreach((json_t *)hdrs, k, v) {
			x->header_names[x->nheaders] = dup_opt(k, &oom);
			x->header_values[x->nheaders] =
				dup_opt(json_string_value(v) ? json_string_value(v) : "", &oom);
			x->nheaders++;
		}
	}
	if (json_object_get(j, "body") && !json_is_null(json_object_get(j, "body")))
		x->body = json_deep_copy(json_object_get(j, "body"));
	x->incident = dup_opt(jstr(j, "incident"), &oom);
	x->pd_status = dup_opt(jstr(j, "status"), &oom);
	x->from = dup_opt(jstr(j, "from"), &oom);
	x->repo = dup_opt(jstr(j, "repo") ? jstr(j, "repo")
					  : "{{entity.annotations.github.com/project-slug}}",
			  &oom);
	x->workflow = dup_opt(jstr(j, "workflow"), &oom);
	x->ref = dup_opt(jstr(j, "ref"), &oom);
	x->inputs = json_is_object(json_object_get(j, "inputs"))
			    ? json_deep_copy(json_object_get(j, "inputs"))
			    : json_object();
	x->app = dup_opt(jstr(j, "app") ? jstr(j, "app") : "{{entity.annotations.argocd/app-name}}",
			 &oom);
	x->revision = dup_opt(jstr(j, "revision"), &oom);
	x->rollback_id = dup_opt(jstr(j, "id"), &oom);
	x->prune = json_is_true(json_object_get(j, "prune"));
	if (json_is_object(succ)) {
		const json_t *st = json_object_get(succ, "status");
		size_t i;

		if (json_is_array(st) && json_array_size(st)) {
			x->ok_status = calloc(json_array_size(st), sizeof(long));
			if (!x->ok_status)
				return T0_ENOMEM;
			json_array_foreach(st, i, v)
				x->ok_status[x->nok_status++] = (long)json_integer_value(v);
		}
		x->json_field = dup_opt(jstr(succ, "json_field"), &oom);
		if (json_object_get(succ, "equals") && !json_is_null(json_object_get(succ, "equals")))
			x->equals = json_deep_copy(json_object_get(succ, "equals"));
	}
	if (oom || !x->inputs || (x->body == NULL && json_object_get(j, "body") &&
				  !json_is_null(json_object_get(j, "body"))))
		return T0_ENOMEM;
	return T0_OK;
}

/* Every template of an action, checked against its params and the set's secrets. */
static int def_check_templates(const struct action_set *set, const json_t *item, char *err,
			       size_t errlen)
{
	const json_t *ex = json_object_get(item, "executor");
	struct tpl_known k = { .params = json_object_get(item, "params"), .set = set };
	static const char *const raw_fields[] = { "incident", "from", "repo", "workflow", "ref",
						  "app", "revision", "id" };
	char sub[256];
	const char *key;
	json_t *v;

	if (jstr(ex, "url")) {
		size_t a, q;

		if (url_split(jstr(ex, "url"), &a, &q, sub, sizeof(sub)) != T0_OK) {
			set_err(err, errlen, "executor.url: %s", sub);
			return T0_EINVAL;
		}
		{
			const char *u = jstr(ex, "url");
			char *path = strndup(u + a, q - a);
			int bad = !path || tpl_check(path, &k, CTX_PATH, sub, sizeof(sub)) != T0_OK ||
				  (u[q] && tpl_check(u + q, &k, CTX_QUERY, sub, sizeof(sub)) != T0_OK);

			free(path);
			if (bad) {
				set_err(err, errlen, "executor.url: %s", sub);
				return T0_EINVAL;
			}
		}
	}
	json_object_foreach(json_object_get(ex, "headers"), key, v) {
		size_t i;

		for (i = 0; key[i]; i++)
			if (!isalnum((unsigned char)key[i]) && !strchr("!#$%&'*+-.^_`|~", key[i]))
				break;
		if (!key[0] || key[i] || strlen(key) > 128) {
			set_err(err, errlen, "executor.headers: '%.64s' is not a header name", key);
			return T0_EINVAL;
		}
		if (tpl_check(json_string_value(v), &k, CTX_HEADER, sub, sizeof(sub)) != T0_OK) {
			set_err(err, errlen, "executor.headers.%s: %s", key, sub);
			return T0_EINVAL;
		}
	}
	if (json_object_get(ex, "body") &&
	    tpl_check_json(json_object_get(ex, "body"), &k, 0, sub, sizeof(sub)) != T0_OK) {
		set_err(err, errlen, "executor.body: %s", sub);
		return T0_EINVAL;
	}
	json_object_foreach(json_object_get(ex, "inputs"), key, v) {
		if (tpl_check(json_string_value(v), &k, CTX_RAW, sub, sizeof(sub)) != T0_OK) {
			set_err(err, errlen, "executor.inputs.%s: %s", key, sub);
			return T0_EINVAL;
		}
	}
	for (size_t i = 0; i < T0_ARRAY_LEN(raw_fields); i++) {
		if (tpl_check(jstr(ex, raw_fields[i]), &k, CTX_RAW, sub, sizeof(sub)) != T0_OK) {
			set_err(err, errlen, "executor.%s: %s", raw_fields[i], sub);
			return T0_EINVAL;
		}
	}
	return T0_OK;
}

int action_item_validate(const json_t *item, char *err, size_t errlen)
{
	const json_t *ex = json_object_get(item, "executor"), *params = json_object_get(item, "params");
	const char *name = jstr(item, "name"), *type = jstr(ex, "type");
	int t = -1;
	size_t i, j;
	json_t *p, *q;
	static const struct {
		int type;
		const char *field;
	} needs[] = {
		{ ACTION_EXEC_HTTP, "url" },
		{ ACTION_EXEC_PAGERDUTY, "incident" },
		{ ACTION_EXEC_PAGERDUTY, "status" },
		{ ACTION_EXEC_GITHUB_WORKFLOW, "workflow" },
		{ ACTION_EXEC_ARGOCD_ROLLBACK, "id" },
	};
	static const char *const only_http[] = { "method", "url", "headers", "body" };

	if (name) {
		for (i = 0; name[i]; i++)
			if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
			      (i && (name[i] == '-' || name[i] == '_'))))
				break;
		if (!name[0] || name[i] || i > 64 || !islower((unsigned char)name[0])) {
			set_err(err, errlen,
				"name: '%.64s' must be lower-case letters, digits, '-' or '_' "
				"(starting with a letter, at most 64)",
				name);
			return T0_EINVAL;
		}
	}
	if (exec_type_parse(type, &t) != T0_OK) {
		set_err(err, errlen, "executor.type: unknown '%s'", type ? type : "");
		return T0_EINVAL;
	}
	for (i = 0; i < T0_ARRAY_LEN(needs); i++) {
		if (needs[i].type == t && !jstr(ex, needs[i].field)) {
			set_err(err, errlen, "executor.%s: required for type %s", needs[i].field, type);
			return T0_EINVAL;
		}
	}
	for (i = 0; t != ACTION_EXEC_HTTP && i < T0_ARRAY_LEN(only_http); i++) {
		if (json_object_get(ex, only_http[i])) {
			set_err(err, errlen, "executor.%s: only for type http", only_http[i]);
			return T0_EINVAL;
		}
	}
	if (t == ACTION_EXEC_PAGERDUTY && strcmp(jstr(ex, "status"), "acknowledged") != 0 &&
	    strcmp(jstr(ex, "status"), "resolved") != 0) {
		set_err(err, errlen, "executor.status: expected acknowledged or resolved, got '%s'",
			jstr(ex, "status"));
		return T0_EINVAL;
	}
	if (json_array_size(params) > ACTION_MAX_PARAMS) {
		set_err(err, errlen, "params: at most %d parameters", ACTION_MAX_PARAMS);
		return T0_EINVAL;
	}
	json_array_foreach(params, i, p) {
		const char *pn = jstr(p, "name"), *ptype = jstr(p, "type");

		for (j = 0; pn && pn[j]; j++)
			if (!isalnum((unsigned char)pn[j]) && pn[j] != '_')
				break;
		if (!pn || !pn[0] || pn[j] || j > 64) {
			set_err(err, errlen, "params[%zu].name: letters, digits and '_' only", i);
			return T0_EINVAL;
		}
		json_array_foreach(params, j, q)
			if (j < i && jstr(q, "name") && strcmp(jstr(q, "name"), pn) == 0) {
				set_err(err, errlen, "params[%zu].name: duplicate parameter '%s'", i,
					pn);
				return T0_EINVAL;
			}
		if ((json_object_get(p, "min") || json_object_get(p, "max")) &&
		    (!ptype || strcmp(ptype, "int") != 0)) {
			set_err(err, errlen, "params[%zu]: min and max are for type int", i);
			return T0_EINVAL;
		}
	}
	if (json_object_get(item, "environments") && !json_array_size(json_object_get(item, "environments"))) {
		set_err(err, errlen, "environments: list at least one, or leave the key out");
		return T0_EINVAL;
	}
	/* Defaults and patterns: build the parameters once, then throw them away. */
	{
		struct action_set tmp = { 0 };
		struct action_param ap;
		char sub[256];
		int rc = T0_OK;

		tmp.mctx = pcre2_match_context_create(NULL);
		tmp.md = pcre2_match_data_create(1, NULL);
		if (!tmp.mctx || !tmp.md)
			rc = T0_ENOMEM;
		json_array_foreach(params, i, p) {
			if (rc != T0_OK)
				break;
			memset(&ap, 0, sizeof(ap));
			rc = param_from(&tmp, &ap, p, sub, sizeof(sub));
			if (rc == T0_EINVAL)
				set_err(err, errlen, "params[%zu].%s", i, sub);
			free(ap.name);
			free(ap.description);
			json_decref(ap.def);
			strv_free(ap.allowed, ap.nallowed);
			free(ap.pattern_src);
			pcre2_code_free(ap.pattern);
		}
		pcre2_match_data_free(tmp.md);
		pcre2_match_context_free(tmp.mctx);
		if (rc != T0_OK)
			return rc;
	}
	return def_check_templates(NULL, item, err, errlen);
}

static int def_from(struct action_set *set, struct action_def *d, const json_t *item, char *err,
		    size_t errlen)
{
	const json_t *target = json_object_get(item, "target"), *appr = json_object_get(item, "approvals");
	const json_t *params = json_object_get(item, "params");
	int oom = 0, rc;
	size_t i;
	json_t *p;
	int has_env_param = 0;

	d->name = dup_opt(jstr(item, "name"), &oom);
	d->description = dup_opt(jstr(item, "description"), &oom);
	d->target_kind = dup_opt(jstr(target, "kind"), &oom);
	d->target_required = !json_is_false(json_object_get(target, "required"));
	if (!json_is_object(target))
		d->target_required = 1;
	if (policy_risk_parse(jstr(item, "risk") ? jstr(item, "risk") : "high", &d->risk) != T0_OK)
		d->risk = POLICY_RISK_HIGH;
	d->approvals = json_is_integer(json_object_get(appr, "count"))
			       ? (int)json_integer_value(json_object_get(appr, "count"))
			       : -1;
	d->dry_run = !json_is_false(json_object_get(item, "dry_run"));
	d->timeout_ms = ACTION_DEFAULT_TIMEOUT_MS;
	if (jstr(item, "timeout") && rl_duration_parse(jstr(item, "timeout"), &d->timeout_ms) != T0_OK)
		d->timeout_ms = ACTION_DEFAULT_TIMEOUT_MS;
	if (oom)
		return T0_ENOMEM;
	rc = spec_from(item, "rate_limit", &d->rate, &d->has_rate);
	if (rc == T0_OK)
		rc = who_from_json(json_object_get(item, "requesters"), &d->requesters, 1);
	if (rc == T0_OK)
		rc = who_from_json(json_object_get(appr, "approvers"), &d->approvers, 1);
	if (rc == T0_OK)
		rc = strv_from_json(json_object_get(item, "environments"), &d->environments, &d->nenvs);
	if (rc != T0_OK)
		return rc;
	json_array_foreach(params, i, p)
		if (jstr(p, "name") && strcmp(jstr(p, "name"), "environment") == 0)
			has_env_param = 1;
	d->params = calloc(json_array_size(params) + 1, sizeof(*d->params));
	if (!d->params)
		return T0_ENOMEM;
	json_array_foreach(params, i, p) {
		rc = param_from(set, &d->params[d->nparams], p, err, errlen);
		d->nparams++;
		if (rc != T0_OK)
			return rc;
	}
	if (d->nenvs && !has_env_param) {
		/* `environments` implies an "environment" parameter limited to them. */
		struct action_param *ep = &d->params[d->nparams++];

		ep->name = strdup("environment");
		ep->description = strdup("where to run it");
		ep->type = ACTION_PARAM_STRING;
		ep->allowed = calloc(d->nenvs, sizeof(char *));
		if (!ep->name || !ep->description || !ep->allowed)
			return T0_ENOMEM;
		for (size_t e = 0; e < d->nenvs; e++) {
			if (!(ep->allowed[e] = strdup(d->environments[e])))
				return T0_ENOMEM;
			ep->nallowed++;
		}
		ep->def = json_string(d->environments[0]);
		if (!ep->def)
			return T0_ENOMEM;
	}
	return exec_from(&d->exec, json_object_get(item, "executor"));
}

struct action_set *action_set_new(const struct config *cfg, char *err, size_t errlen)
{
	const json_t *tree = cfg ? cfg->tree : NULL;
	const json_t *actions = json_object_get(tree, "actions");
	const json_t *pol = json_object_get(tree, "action_policy");
	const json_t *ex = json_object_get(tree, "executors");
	const json_t *limits = json_object_get(pol, "rate_limits");
	const json_t *cb = json_object_get(pol, "circuit_breaker");
	const json_t *secrets = json_object_get(ex, "secrets");
	struct action_set *set = calloc(1, sizeof(*set));
	const char *file = cfg && cfg->file ? cfg->file : "config";
	char sub[512];
	size_t i;
	json_t *it;
	int rc = T0_ENOMEM;

	if (!set)
		goto out;
	set->mctx = pcre2_match_context_create(NULL);
	set->md = pcre2_match_data_create(1, NULL);
	if (!set->mctx || !set->md)
		goto out;
	pcre2_set_match_limit(set->mctx, ACTION_MATCH_LIMIT);
	pcre2_set_depth_limit(set->mctx, ACTION_MATCH_LIMIT / 10);

	set->policy.expiry_ms = ACTION_DEFAULT_EXPIRY_MS;
	if (jstr(pol, "expiry"))
		rl_duration_parse(jstr(pol, "expiry"), &set->policy.expiry_ms);
	set->policy.keep_response_bytes = ACTION_DEFAULT_KEEP_BYTES;
	if (json_is_integer(json_object_get(pol, "keep_response_bytes")))
		set->policy.keep_response_bytes =
			(size_t)json_integer_value(json_object_get(pol, "keep_response_bytes"));
	set->policy.breaker_failures = 3;
	set->policy.breaker_pause_ms = 15 * 60 * 1000;
	if (json_is_integer(json_object_get(cb, "failures")))
		set->policy.breaker_failures = (int)json_integer_value(json_object_get(cb, "failures"));
	if (jstr(cb, "pause"))
		rl_duration_parse(jstr(cb, "pause"), &set->policy.breaker_pause_ms);
	rc = strv_from_json(json_object_get(pol, "approval_environments"), &set->policy.approval_envs,
			    &set->policy.napproval_envs);
	if (rc == T0_OK)
		rc = who_from_json(json_object_get(pol, "audit_viewers"), &set->policy.audit_viewers, 0);
	if (rc == T0_OK &&
	    (spec_from(limits, "global", &set->policy.global, &set->policy.has_global) ||
	     spec_from(limits, "per_user", &set->policy.per_user, &set->policy.has_user) ||
	     spec_from(limits, "per_channel", &set->policy.per_channel, &set->policy.has_channel) ||
	     spec_from(limits, "per_target", &set->policy.per_target, &set->policy.has_target))) {
		set_err(err, errlen, "%s: action_policy.rate_limits: expected \"N/period\"", file);
		rc = T0_ECONFIG;
		goto out;
	}
	if (rc == T0_OK)
		rc = endpoint_from(json_object_get(ex, "pagerduty"), &set->pagerduty,
				   "https://api.pagerduty.com");
	if (rc == T0_OK)
		rc = endpoint_from(json_object_get(ex, "github"), &set->github, "https://api.github.com");
	if (rc == T0_OK)
		rc = endpoint_from(json_object_get(ex, "argocd"), &set->argocd, NULL);
	if (rc != T0_OK)
		goto out;
	if (json_array_size(secrets)) {
		set->secrets = calloc(json_array_size(secrets), sizeof(*set->secrets));
		if (!set->secrets)
			goto out;
		json_array_foreach(secrets, i, it) {
			int oom = 0;

			set->secrets[i].name = dup_opt(jstr(it, "name"), &oom);
			set->secrets[i].value = dup_opt(jstr(it, "value"), &oom);
			set->nsecrets++;
			if (oom)
				goto out;
		}
	}
	if (json_array_size(actions) > ACTION_MAX_ACTIONS) {
		set_err(err, errlen, "%s: actions: at most %d actions", file, ACTION_MAX_ACTIONS);
		rc = T0_ECONFIG;
		goto out;
	}
	set->defs = calloc(json_array_size(actions) + 1, sizeof(*set->defs));
	if (!set->defs)
		goto out;
	json_array_foreach(actions, i, it) {
		struct action_def *d = &set->defs[set->n];
		const char *need = NULL;

		set->n++;
		sub[0] = '\0';
		rc = def_check_templates(set, it, sub, sizeof(sub));
		if (rc == T0_OK)
			rc = def_from(set, d, it, sub, sizeof(sub));
		if (rc == T0_ENOMEM)
			goto out;
		if (rc != T0_OK) {
			set_err(err, errlen, "%s: actions[%zu]: %s", file, i, sub);
			rc = T0_ECONFIG;
			goto out;
		}
		for (size_t k = 0; k + 1 < set->n; k++) {
			if (strcasecmp(set->defs[k].name, d->name) == 0) {
				set_err(err, errlen, "%s: actions[%zu].name: duplicate action '%s'",
					file, i, d->name);
				rc = T0_ECONFIG;
				goto out;
			}
		}
		if (d->exec.type == ACTION_EXEC_PAGERDUTY && !set->pagerduty.token)
			need = "executors.pagerduty.token";
		else if (d->exec.type == ACTION_EXEC_GITHUB_WORKFLOW && !set->github.token)
			need = "executors.github.token";
		else if ((d->exec.type == ACTION_EXEC_ARGOCD_SYNC ||
			  d->exec.type == ACTION_EXEC_ARGOCD_ROLLBACK) &&
			 (!set->argocd.base_url || !set->argocd.token))
			need = "executors.argocd.base_url and executors.argocd.token";
		if (need) {
			set_err(err, errlen, "%s: actions[%zu] (%s): executor %s needs %s", file, i,
				d->name, action_exec_type_name(d->exec.type), need);
			rc = T0_ECONFIG;
			goto out;
		}
	}
	rc = T0_OK;
out:
	if (rc != T0_OK) {
		if (rc == T0_ENOMEM)
			set_err(err, errlen, "%s: actions: out of memory", file);
		action_set_free(set);
		return NULL;
	}
	return set;
}
