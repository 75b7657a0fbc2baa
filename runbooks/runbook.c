#include "runbooks/runbook.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "bot/yload.h"

struct rb_priv {
	pcre2_code **alerts;
	char **alert_src;
	size_t nalerts;
	char *owner;
	char **tags;
	size_t ntags;
	char *realpath; /* identity, so overlapping paths load a file once */
};

struct runbook_set {
	struct runbook **items;
	size_t n, cap;
	pcre2_match_context *mctx;
	pcre2_match_data *md; /* reused by every match; the daemon has one thread */
};

/* how a file was reached: an explicitly named file must be a runbook */
enum { RB_EXPLICIT = 0, RB_SCANNED };

static void strv_free(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void runbook_free(struct runbook *rb)
{
	struct rb_priv *p;
	size_t i;

	if (!rb)
		return;
	p = rb->priv;
	if (p) {
		for (i = 0; i < p->nalerts; i++)
			pcre2_code_free(p->alerts[i]);
		free(p->alerts);
		strv_free(p->alert_src, p->nalerts);
		free(p->owner);
		strv_free(p->tags, p->ntags);
		free(p->realpath);
		free(p);
	}
	free(rb->title);
	free(rb->path);
	free(rb->summary);
	strv_free(rb->steps, rb->nsteps);
	strv_free(rb->services, rb->nservices);
	strv_free(rb->actions, rb->nactions);
	free(rb);
}

struct runbook_set *runbook_set_new(void)
{
	struct runbook_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->mctx = pcre2_match_context_create(NULL);
	set->md = pcre2_match_data_create(1, NULL);
	if (!set->mctx || !set->md) {
		runbook_set_free(set);
		return NULL;
	}
	pcre2_set_match_limit(set->mctx, RUNBOOK_MATCH_LIMIT);
	pcre2_set_depth_limit(set->mctx, RUNBOOK_MATCH_LIMIT / 10);
	return set;
}

void runbook_set_free(struct runbook_set *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->n; i++)
		runbook_free(set->items[i]);
	free(set->items);
	pcre2_match_data_free(set->md);
	pcre2_match_context_free(set->mctx);
	free(set);
}

size_t runbook_set_count(const struct runbook_set *set)
{
	return set ? set->n : 0;
}

const struct runbook *runbook_set_at(const struct runbook_set *set, size_t i)
{
	return set && i < set->n ? set->items[i] : NULL;
}

const char *runbook_owner(const struct runbook *rb)
{
	const struct rb_priv *p = rb ? rb->priv : NULL;

	return p ? p->owner : NULL;
}

const char *const *runbook_tags(const struct runbook *rb, size_t *n)
{
	const struct rb_priv *p = rb ? rb->priv : NULL;

	*n = p ? p->ntags : 0;
	return p ? (const char *const *)p->tags : NULL;
}

/* ---- Markdown body ---------------------------------------------------- */

struct line {
	const char *s;
	size_t len;
};

static int is_blank(const struct line *l)
{
	size_t i;

	for (i = 0; i < l->len; i++)
		if (!isspace((unsigned char)l->s[i]))
			return 0;
	return 1;
}

static size_t indent_of(const struct line *l)
{
	size_t i = 0, w = 0;

	for (; i < l->len && (l->s[i] == ' ' || l->s[i] == '\t'); i++)
		w += l->s[i] == '\t' ? 4 : 1;
	return w;
}

static const char *skip_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

static int is_fence(const struct line *l)
{
	const char *s = skip_ws(l->s, l->s + l->len);
	size_t left = (size_t)(l->s + l->len - s);

	return left >= 3 && (strncmp(s, "```", 3) == 0 || strncmp(s, "~~~", 3) == 0);
}

/* ATX heading: level 1-6 and its text, or 0. */
static int heading(const struct line *l, const char **text, size_t *tlen)
{
	const char *s = l->s, *end = l->s + l->len;
	int level = 0;

	if (indent_of(l) > 3)
		return 0;
	s = skip_ws(s, end);
	while (s < end && *s == '#' && level < 7) {
		s++;
		level++;
	}
	if (level == 0 || level > 6 || (s < end && *s != ' ' && *s != '\t'))
		return 0;
	s = skip_ws(s, end);
	while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == '#'))
		end--;
	*text = s;
	*tlen = (size_t)(end - s);
	return level;
}

/* List item marker: returns the item text start, or NULL. */
static const char *list_item(const struct line *l, int *ordered)
{
	const char *s = l->s, *end = l->s + l->len, *p;

	s = skip_ws(s, end);
	if (s < end && (*s == '-' || *s == '*' || *s == '+')) {
		p = s + 1;
		if (p < end && (*p == ' ' || *p == '\t')) {
			/* "---" and "* * *" are rules, not items */
			*ordered = 0;
			return skip_ws(p, end);
		}
		return NULL;
	}
	p = s;
	while (p < end && isdigit((unsigned char)*p) && p - s < 9)
		p++;
	if (p == s || p >= end || (*p != '.' && *p != ')'))
		return NULL;
	p++;
	if (p < end && *p != ' ' && *p != '\t')
		return NULL;
	*ordered = 1;
	return skip_ws(p, end);
}

static int steps_heading(const char *t, size_t n)
{
	static const char *const names[] = {"steps", "first steps", "mitigation",
					    "immediate steps", "mitigation steps", "triage"};
	size_t i;

	while (n && (t[n - 1] == ':' || isspace((unsigned char)t[n - 1])))
		n--;
	for (i = 0; i < T0_ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && strncasecmp(t, names[i], n) == 0)
			return 1;
	return 0;
}

/* Appends src (collapsing runs of white space) to a bounded buffer. */
static void buf_add(char *buf, size_t cap, size_t *len, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && *len + 1 < cap; i++) {
		char c = src[i];

		if (isspace((unsigned char)c)) {
			if (*len == 0 || buf[*len - 1] == ' ')
				continue;
			c = ' ';
		}
		buf[(*len)++] = c;
	}
	buf[*len] = '\0';
}

/* Trims trailing spaces and never leaves half a UTF-8 sequence at the end. */
static char *buf_finish(char *buf, size_t len)
{
	size_t k = len, need;
	unsigned char c;

	while (k > 0 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80 && len - k < 3)
		k--;
	if (k > 0 && ((unsigned char)buf[k - 1] & 0x80)) {
		c = (unsigned char)buf[k - 1];
		need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
		if (len - (k - 1) < need)
			len = k - 1; /* cut inside a sequence by the length bound */
	}
	while (len && buf[len - 1] == ' ')
		len--;
	buf[len] = '\0';
	return strdup(buf);
}

struct body {
	struct line *lines;
	size_t n;
	unsigned char *in_code; /* per line: inside a fenced block */
};

static int body_split(const char *s, size_t len, struct body *b)
{
	size_t cap = 1, i, k = 0;
	const char *p = s, *end = s + len;
	int code = 0;

	for (i = 0; i < len; i++)
		cap += s[i] == '\n';
	b->lines = calloc(cap, sizeof(*b->lines));
	b->in_code = calloc(cap, 1);
	if (!b->lines || !b->in_code)
		return T0_ENOMEM;
	while (p < end && k < cap) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n && p[n - 1] == '\r')
			n--;
		b->lines[k].s = p;
		b->lines[k].len = n;
		if (is_fence(&b->lines[k])) {
			b->in_code[k] = 1;
			code = !code;
		} else {
			b->in_code[k] = (unsigned char)code;
		}
		k++;
		p = nl ? nl + 1 : end;
	}
	b->n = k;
	return T0_OK;
}

static int extract_summary(const struct body *b, char **out)
{
	char buf[RUNBOOK_MAX_SUMMARY + 1];
	size_t i, len = 0, start = 0;
	const char *t;
	size_t tl;
	int ordered;

	buf[0] = '\0';
	for (i = 0; i < b->n; i++)
		if (!b->in_code[i] && heading(&b->lines[i], &t, &tl)) {
			start = i + 1;
			break;
		}
	for (i = start; i < b->n; i++) {
		const struct line *l = &b->lines[i];
		const char *c = skip_ws(l->s, l->s + l->len);
		/* quotes, tables and HTML are not the summary */
		int para = !b->in_code[i] && !is_blank(l) && !heading(l, &t, &tl) &&
			   !list_item(l, &ordered) && indent_of(l) < 4 && *c != '>' &&
			   *c != '|' && *c != '<';

		if (para) {
			if (len)
				buf_add(buf, sizeof(buf), &len, " ", 1);
			buf_add(buf, sizeof(buf), &len, l->s, l->len);
		} else if (len) {
			break;
		}
	}
	*out = NULL;
	if (len && !(*out = buf_finish(buf, len)))
		return T0_ENOMEM;
	return T0_OK;
}

/* Collects the items of the list starting at line first. */
static int collect_list(const struct body *b, size_t first, struct runbook *rb)
{
	char buf[RUNBOOK_MAX_STEP_LEN + 1];
	size_t i, len = 0, base = indent_of(&b->lines[first]);
	int ordered0 = 0, ordered, have = 0, blank = 0, rc = T0_OK;
	const char *txt, *t;
	size_t tl;

	rb->steps = calloc(RUNBOOK_MAX_STEPS, sizeof(char *));
	if (!rb->steps)
		return T0_ENOMEM;
	list_item(&b->lines[first], &ordered0);
	for (i = first; i < b->n; i++) {
		const struct line *l = &b->lines[i];
		size_t ind = indent_of(l);

		if (is_blank(l) && !b->in_code[i]) {
			blank = 1;
			continue;
		}
		txt = b->in_code[i] ? NULL : list_item(l, &ordered);
		if (txt && ind <= base + 1 && ordered == ordered0) {
			if (have) {
				if (rb->nsteps == RUNBOOK_MAX_STEPS)
					break;
				if (!(rb->steps[rb->nsteps++] = buf_finish(buf, len)))
					return T0_ENOMEM;
			}
			len = 0;
			buf[0] = '\0';
			buf_add(buf, sizeof(buf), &len, txt, (size_t)(l->s + l->len - txt));
			have = 1;
			blank = 0;
			continue;
		}
		/* anything less indented than an item's text ends the list */
		if (ind <= base || (!b->in_code[i] && heading(l, &t, &tl)))
			break;
		/* continuation of the current item; nested lists and code are details */
		if (!blank && !txt && !b->in_code[i] && !is_fence(l)) {
			buf_add(buf, sizeof(buf), &len, " ", 1);
			buf_add(buf, sizeof(buf), &len, l->s, l->len);
		}
		blank = 0;
	}
	if (have && rb->nsteps < RUNBOOK_MAX_STEPS) {
		if (!(rb->steps[rb->nsteps++] = buf_finish(buf, len)))
			rc = T0_ENOMEM;
	}
	return rc;
}

static int extract_steps(const struct body *b, struct runbook *rb)
{
	size_t i, first_list = SIZE_MAX, chosen = SIZE_MAX;
	int in_steps = 0, ordered;
	const char *t;
	size_t tl;

	for (i = 0; i < b->n && chosen == SIZE_MAX; i++) {
		const struct line *l = &b->lines[i];

		if (b->in_code[i])
			continue;
		if (heading(l, &t, &tl)) {
			in_steps = steps_heading(t, tl);
			continue;
		}
		if (indent_of(l) > 3 || !list_item(l, &ordered))
			continue;
		if (first_list == SIZE_MAX)
			first_list = i;
		if (in_steps)
			chosen = i;
	}
	if (chosen == SIZE_MAX)
		chosen = first_list;
	if (chosen == SIZE_MAX)
		return T0_OK;
	return collect_list(b, chosen, rb);
}

/* ---- front matter ----------------------------------------------------- */

static int fm_fail(char *err, size_t errlen, const char *file, int line, const char *what,
		   const char *why)
{
	snprintf(err, errlen, "%s:%d: %s: %s", file, line, what, why);
	return T0_EPARSE;
}

static int key_line(const struct ydoc *d, const json_t *obj, const char *key)
{
	int line = d->line, col = 0;

	ydoc_key_pos(d, obj, key, &line, &col);
	return line;
}

/* A list of strings (a single string counts as a list of one). */
static int str_list(const struct ydoc *d, const json_t *root, const char *key, size_t max,
		    char ***out, size_t *nout, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, key), *it;
	char **vec = NULL;
	size_t n, i;
	int line, col;

	*out = NULL;
	*nout = 0;
	if (!v || json_is_null(v))
		return T0_OK;
	if (json_is_string(v)) {
		n = 1;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
	} else {
		return fm_fail(err, errlen, d->file, key_line(d, root, key), key,
			       "must be a list of strings");
	}
	if (n > max)
		return fm_fail(err, errlen, d->file, key_line(d, root, key), key,
			       "too many items");
	if (n == 0)
		return T0_OK;
	vec = calloc(n, sizeof(*vec));
	if (!vec)
		return T0_ENOMEM;
	for (i = 0; i < n; i++) {
		it = json_is_string(v) ? v : json_array_get(v, i);
		if (!json_is_string(it) || json_string_length(it) == 0 ||
		    json_string_length(it) > RUNBOOK_MAX_ITEM_LEN) {
			line = key_line(d, root, key);
			if (json_is_array(v))
				ydoc_index_pos(d, v, i, &line, &col);
			strv_free(vec, i);
			snprintf(err, errlen, "%s:%d: %s[%zu]: must be a non-empty string of at most %d bytes",
				 d->file, line, key, i, RUNBOOK_MAX_ITEM_LEN);
			return T0_EPARSE;
		}
		if (!(vec[i] = strdup(json_string_value(it)))) {
			strv_free(vec, i);
			return T0_ENOMEM;
		}
	}
	*out = vec;
	*nout = n;
	return T0_OK;
}

static int compile_alerts(const struct ydoc *d, const json_t *root, struct rb_priv *p, char *err,
			  size_t errlen)
{
	const json_t *v = json_object_get(root, "alerts");
	size_t i;
	int rc, line, col;

	rc = str_list(d, root, "alerts", RUNBOOK_MAX_ALERTS, &p->alert_src, &p->nalerts, err,
		      errlen);
	if (rc || !p->nalerts)
		return rc;
	p->alerts = calloc(p->nalerts, sizeof(*p->alerts));
	if (!p->alerts)
		return T0_ENOMEM;
	for (i = 0; i < p->nalerts; i++) {
		int ecode;
		PCRE2_SIZE eoff;
		PCRE2_UCHAR msg[160];

		p->alerts[i] = pcre2_compile((PCRE2_SPTR)p->alert_src[i], PCRE2_ZERO_TERMINATED,
					     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
		if (p->alerts[i])
			continue;
		pcre2_get_error_message(ecode, msg, sizeof(msg));
		line = key_line(d, root, "alerts");
		if (json_is_array(v))
			ydoc_index_pos(d, v, i, &line, &col);
		snprintf(err, errlen, "%s:%d: alerts[%zu]: bad pattern '%s': %s at offset %zu",
			 d->file, line, i, p->alert_src[i], (const char *)msg, (size_t)eoff);
		return T0_EPARSE;
	}
	return T0_OK;
}

static int parse_front_matter(const struct ydoc *d, struct runbook *rb, char *err, size_t errlen)
{
	static const char *const known[] = {"title", "services", "alerts", "actions", "owner", "tags"};
	struct rb_priv *p = rb->priv;
	const json_t *root = d->root, *v;
	const char *key;
	int rc;

	if (!json_is_object(root))
		return fm_fail(err, errlen, d->file, d->line, "front matter", "must be a mapping");
	json_object_foreach((json_t *)root, key, v) {
		size_t i, ok = 0;

		for (i = 0; i < T0_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok)
			log_warn("runbook", "unknown key", "file=%s line=%d key=%s", d->file,
				 key_line(d, root, key), key);
	}
	v = json_object_get(root, "title");
	if (!v)
		return fm_fail(err, errlen, d->file, d->line, "title", "required key is missing");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > RUNBOOK_MAX_ITEM_LEN)
		return fm_fail(err, errlen, d->file, key_line(d, root, "title"), "title",
			       "must be a non-empty string");
	if (!(rb->title = strdup(json_string_value(v))))
		return T0_ENOMEM;
	v = json_object_get(root, "owner");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return fm_fail(err, errlen, d->file, key_line(d, root, "owner"), "owner",
				       "must be a string");
		if (!(p->owner = strdup(json_string_value(v))))
			return T0_ENOMEM;
	}
	rc = str_list(d, root, "services", RUNBOOK_MAX_LIST, &rb->services, &rb->nservices, err,
		      errlen);
	if (rc == T0_OK)
		rc = str_list(d, root, "actions", RUNBOOK_MAX_LIST, &rb->actions, &rb->nactions,
			      err, errlen);
	if (rc == T0_OK)
		rc = str_list(d, root, "tags", RUNBOOK_MAX_LIST, &p->tags, &p->ntags, err, errlen);
	if (rc == T0_OK)
		rc = compile_alerts(d, root, p, err, errlen);
	return rc;
}

/* The front matter's end: offset of the closing "---" line, and the body after it. */
static int split_front_matter(const char *buf, size_t len, size_t *fm_end, size_t *body)
{
	size_t off;

	if (len < 3 || strncmp(buf, "---", 3) != 0)
		return -1;
	off = 3;
	while (off < len && (buf[off] == ' ' || buf[off] == '\t' || buf[off] == '\r'))
		off++;
	if (off < len && buf[off] != '\n')
		return -1;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t start = nl ? (size_t)(nl - buf) + 1 : len, e, n;

		if (start >= len)
			break;
		nl = memchr(buf + start, '\n', len - start);
		e = nl ? (size_t)(nl - buf) : len;
		n = e - start;
		while (n && (buf[start + n - 1] == '\r' || buf[start + n - 1] == ' ' ||
			     buf[start + n - 1] == '\t'))
			n--;
		if (n == 3 && (strncmp(buf + start, "---", 3) == 0 ||
			       strncmp(buf + start, "...", 3) == 0)) {
			*fm_end = start;
			*body = nl ? e + 1 : len;
			return 0;
		}
		off = start;
	}
	return -1;
}

/*
 * Loads one file. *rbp stays NULL (and T0_OK is returned) when a scanned file
 * has no front matter: a README next to the runbooks is not an error.
 */
static int load_one(const char *path, int how, struct runbook **rbp, char *err, size_t errlen)
{
	struct runbook *rb = NULL;
	struct ydocs docs = {0};
	struct body b = {0};
	char *buf = NULL;
	size_t len = 0, fm_end = 0, body_off = 0;
	int rc;

	*rbp = NULL;
	rc = yload_read_file(path, RUNBOOK_MAX_FILE, &buf, &len, err, errlen);
	if (rc)
		goto out;
	/* a UTF-8 byte order mark is not content */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		memmove(buf, buf + 3, len - 3 + 1);
		len -= 3;
	}
	if (split_front_matter(buf, len, &fm_end, &body_off) != 0) {
		if (how == RB_SCANNED) {
			log_warn("runbook", "skip", "file=%s reason=no_front_matter", path);
			goto out;
		}
		snprintf(err, errlen, "%s:1: no front matter: a runbook starts with a '---' line",
			 path);
		rc = T0_EPARSE;
		goto out;
	}
	/*
	 * Parsing from the opening "---" (a YAML document start) keeps the
	 * parser's line numbers equal to the file's.
	 */
	rc = yload_parse(path, buf, fm_end, &docs, err, errlen);
	if (rc)
		goto out;
	if (docs.n != 1) {
		snprintf(err, errlen, "%s:1: front matter must be one YAML mapping", path);
		rc = T0_EPARSE;
		goto out;
	}
	rb = calloc(1, sizeof(*rb));
	if (!rb || !(rb->priv = calloc(1, sizeof(struct rb_priv))) || !(rb->path = strdup(path))) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = parse_front_matter(&docs.docs[0], rb, err, errlen);
	if (rc)
		goto out;
	rc = body_split(buf + body_off, len - body_off, &b);
	if (rc == T0_OK)
		rc = extract_summary(&b, &rb->summary);
	if (rc == T0_OK)
		rc = extract_steps(&b, rb);
	if (rc)
		goto out;
	*rbp = rb;
	rb = NULL;
out:
	free(b.lines);
	free(b.in_code);
	ydocs_free(&docs);
	runbook_free(rb);
	free(buf);
	return rc;
}

/* ---- paths -------------------------------------------------------------- */

static int set_push(struct runbook_set *set, struct runbook *rb, char *err, size_t errlen)
{
	struct rb_priv *p = rb->priv;
	char rp[PATH_MAX];
	size_t i;

	if (realpath(rb->path, rp) && !(p->realpath = strdup(rp)))
		return T0_ENOMEM;
	for (i = 0; p->realpath && i < set->n; i++) {
		const struct rb_priv *q = set->items[i]->priv;

		if (q->realpath && strcmp(q->realpath, p->realpath) == 0) {
			runbook_free(rb);
			return T0_OK;
		}
	}
	if (set->n == RUNBOOK_MAX_COUNT) {
		snprintf(err, errlen, "%s: more than %d runbooks", rb->path, RUNBOOK_MAX_COUNT);
		runbook_free(rb);
		return T0_ETOOBIG;
	}
	if (set->n == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 16;
		struct runbook **ni = realloc(set->items, ncap * sizeof(*ni));

		if (!ni) {
			runbook_free(rb);
			return T0_ENOMEM;
		}
		set->items = ni;
		set->cap = ncap;
	}
	set->items[set->n++] = rb;
	return T0_OK;
}

static int load_path(struct runbook_set *set, const char *path, int how, char *err, size_t errlen)
{
	struct runbook *rb = NULL;
	int rc = load_one(path, how, &rb, err, errlen);

	if (rc == T0_OK && rb)
		rc = set_push(set, rb, err, errlen);
	if (rc == T0_OK && rb)
		log_debug("runbook", "load", "file=%s", path);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix_md(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && strcasecmp(name + n - 3, ".md") == 0;
}

static int load_dir(struct runbook_set *set, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int rc = T0_OK;

	if (!d) {
		snprintf(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
		return T0_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		char *full;

		if (de->d_name[0] == '.' || !has_suffix_md(de->d_name))
			continue;
		if (n == RUNBOOK_MAX_COUNT) {
			snprintf(err, errlen, "%s: more than %d files", dir, RUNBOOK_MAX_COUNT);
			rc = T0_ETOOBIG;
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn) {
				rc = T0_ENOMEM;
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		full = malloc(strlen(dir) + strlen(de->d_name) + 2);
		if (!full) {
			rc = T0_ENOMEM;
			goto out;
		}
		sprintf(full, "%s/%s", dir, de->d_name);
		names[n++] = full;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n && rc == T0_OK; i++) {
		struct stat st;

		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			rc = load_path(set, names[i], RB_SCANNED, err, errlen);
	}
out:
	strv_free(names, n);
	closedir(d);
	return rc;
}

static int load_glob(struct runbook_set *set, const char *pattern, char *err, size_t errlen)
{
	glob_t g;
	size_t i;
	int rc = T0_OK, grc;

	memset(&g, 0, sizeof(g));
	grc = glob(pattern, 0, NULL, &g);
	if (grc == GLOB_NOMATCH) {
		log_warn("runbook", "glob", "pattern=%s matches=0", pattern);
		goto out;
	}
	if (grc != 0) {
		snprintf(err, errlen, "%s: glob failed", pattern);
		rc = grc == GLOB_NOSPACE ? T0_ENOMEM : T0_EIO;
		goto out;
	}
	/* glob() sorts by the collation order; determinism needs byte order */
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_str);
	for (i = 0; i < g.gl_pathc && rc == T0_OK; i++) {
		struct stat st;

		if (stat(g.gl_pathv[i], &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = load_dir(set, g.gl_pathv[i], err, errlen);
		else if (S_ISREG(st.st_mode))
			rc = load_path(set, g.gl_pathv[i], RB_SCANNED, err, errlen);
	}
out:
	globfree(&g);
	return rc;
}

int runbook_set_load(struct runbook_set *set, const char *const *paths, size_t npaths,
		     const char *base_dir, char *err, size_t errlen)
{
	size_t i, before;
	char *full = NULL;
	int rc = T0_OK;

	if (errlen)
		err[0] = '\0';
	if (!set || (npaths && !paths))
		return T0_EINVAL;
	before = set->n;
	for (i = 0; i < npaths && rc == T0_OK; i++) {
		const char *p = paths[i];
		struct stat st;

		if (!p || !*p) {
			snprintf(err, errlen, "runbooks.paths[%zu]: empty path", i);
			rc = T0_EINVAL;
			break;
		}
		free(full);
		if (p[0] == '/' || !base_dir || !*base_dir) {
			full = strdup(p);
		} else {
			full = malloc(strlen(base_dir) + strlen(p) + 2);
			if (full)
				sprintf(full, "%s/%s", base_dir, p);
		}
		if (!full) {
			rc = T0_ENOMEM;
			break;
		}
		if (strpbrk(p, "*?[")) {
			rc = load_glob(set, full, err, errlen);
		} else if (stat(full, &st) != 0) {
			snprintf(err, errlen, "%s: %s", full, strerror(errno));
			rc = errno == ENOENT ? T0_ENOTFOUND : T0_EIO;
		} else if (S_ISDIR(st.st_mode)) {
			rc = load_dir(set, full, err, errlen);
		} else {
			rc = load_path(set, full, RB_EXPLICIT, err, errlen);
		}
	}
	free(full);
	if (rc != T0_OK) {
		/* all or nothing: a half-loaded set would hide the broken file */
		while (set->n > before)
			runbook_free(set->items[--set->n]);
	}
	return rc;
}

/* ---- matching ----------------------------------------------------------- */

static int word_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

/* needle occurs in hay case-insensitively, not as part of a longer name */
static int contains_name(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	const char *p;

	if (!n)
		return 0;
	for (p = hay; *p; p++) {
		if (strncasecmp(p, needle, n) != 0)
			continue;
		if ((p == hay || !word_char((unsigned char)p[-1])) &&
		    !word_char((unsigned char)p[n]))
			return 1;
	}
	return 0;
}

static int score(const struct runbook_set *set, const struct runbook *rb, const char *service,
		 const char *alert)
{
	const struct rb_priv *p = rb->priv;
	int s = 0;
	size_t i;

	if (alert && *alert) {
		size_t alen = strnlen(alert, RUNBOOK_MAX_ALERT_TEXT);

		for (i = 0; i < p->nalerts; i++) {
			if (pcre2_match(p->alerts[i], (PCRE2_SPTR)alert, alen, 0, 0, set->md,
					set->mctx) >= 0) {
				s += 4;
				break;
			}
		}
	}
	for (i = 0; i < rb->nservices; i++) {
		if ((service && strcasecmp(service, rb->services[i]) == 0) ||
		    (alert && contains_name(alert, rb->services[i]))) {
			/* The first listed service is the one the runbook is about. */
			s += i == 0 ? 2 : 1;
			break;
		}
	}
	return s;
}

size_t runbook_match(const struct runbook_set *set, const char *service, const char *alert_text,
		     const struct runbook **out, size_t max)
{
	unsigned char scores[RUNBOOK_MAX_COUNT];
	size_t i, n = 0;
	int want;

	if (!set || !out || !max)
		return 0;
	for (i = 0; i < set->n; i++)
		scores[i] = (unsigned char)score(set, set->items[i], service, alert_text);
	/* one pass per score keeps load order within a score */
	for (want = 6; want >= 1 && n < max; want--)
		for (i = 0; i < set->n && n < max; i++)
			if (scores[i] == want)
				out[n++] = set->items[i];
	return n;
}
