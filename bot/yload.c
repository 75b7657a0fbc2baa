#include "bot/yload.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "bot/t0.h"

struct anchor {
	char *name;
	json_t *value; /* borrowed from the tree being built */
	size_t nodes;  /* counted when first aliased; the node is complete by then */
	int height;    /* levels below value (0 for a scalar) */
	int done;      /* 0 while a container is still being parsed */
};

struct parser {
	yaml_parser_t yp;
	const char *name;
	const char *buf; /* the input, to place reader errors that carry only an offset */
	size_t len;
	char *err;
	size_t errlen;
	struct ydoc *doc;
	size_t nodes;
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
};

static int fail(struct parser *p, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, int line, int col, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d:%d: %s", p->name, line, col, msg);
	return T0_EPARSE;
}

static int pos_push(struct ydoc *d, const json_t *parent, const json_t *node, const char *key,
		    size_t index, int line, int col)
{
	struct ypos *e;

	if (d->npos == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct ypos *np = realloc(d->pos, ncap * sizeof(*np));

		if (!np)
			return T0_ENOMEM;
		d->pos = np;
		d->cap = ncap;
	}
	e = &d->pos[d->npos];
	e->parent = parent;
	e->node = node;
	e->key = NULL;
	if (key && !(e->key = strdup(key)))
		return T0_ENOMEM;
	e->index = index;
	e->line = line;
	e->col = col;
	d->npos++;
	return T0_OK;
}

static int match_all(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return 1;
	return 0;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *resolve_plain(const char *s, size_t len)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	char *end = NULL;

	if (strlen(s) != len) /* embedded NUL: keep as text */
		return json_stringn(s, len);
	if (match_all(s, nulls))
		return json_null();
	if (match_all(s, trues))
		return json_true();
	if (match_all(s, falses))
		return json_false();
	if (match_all(s, infs) || match_all(s, ninfs) || match_all(s, nans))
		return json_string(s); /* JSON has no infinities: keep the text */

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		const char *digits = s + 2;
		int base = s[1] == 'x' ? 16 : 8;
		long long v;

		errno = 0;
		v = strtoll(digits, &end, base);
		if (*end == '\0' && errno == 0 && digits[0] != '-' && digits[0] != '+')
			return json_integer(v);
		return json_stringn(s, len);
	}

	{
		size_t i = 0, digits = 0;

		if (s[i] == '-' || s[i] == '+')
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
		if (digits > 0 && i == len) {
			long long v;

			errno = 0;
			v = strtoll(s, &end, 10);
			if (errno == 0 && *end == '\0')
				return json_integer(v);
			return json_stringn(s, len);
		}
	}

	{
		/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
		size_t i = 0, mant = 0;

		if (s[i] == '-' || s[i] == '+')
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			i++;
			mant++;
		}
		if (i < len && s[i] == '.') {
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9') {
				i++;
				mant++;
			}
		}
		if (mant > 0 && i < len && (s[i] == 'e' || s[i] == 'E')) {
			size_t exp = 0;

			i++;
			if (i < len && (s[i] == '-' || s[i] == '+'))
				i++;
			while (i < len && s[i] >= '0' && s[i] <= '9') {
				i++;
				exp++;
			}
			if (!exp)
				mant = 0;
		}
		if (mant > 0 && i == len) {
			double v = strtod(s, &end);

			if (*end == '\0' && isfinite(v))
				return json_real(v);
		}
	}
	return json_stringn(s, len);
}

/*
 * Counts the nodes of a finished tree and its height. Every tree built here is
 * at most YLOAD_MAX_DEPTH deep (aliases are checked before they are expanded),
 * so the recursion is bounded; the depth argument keeps it so regardless.
 */
static size_t measure(const json_t *v, int depth, int *height)
{
	size_t n = 1;
	int h = 0;

	*height = 0;
	if (depth > YLOAD_MAX_DEPTH)
		return n;
	if (json_is_object(v)) {
		const char *k;
		json_t *c;

		json_object_foreach((json_t *)v, k, c) {
			n += measure(c, depth + 1, &h);
			if (h + 1 > *height)
				*height = h + 1;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *c;

		json_array_foreach(v, i, c) {
			n += measure(c, depth + 1, &h);
			if (h + 1 > *height)
				*height = h + 1;
		}
	}
	return n;
}

static int anchor_add(struct parser *p, const char *name, json_t *value, int done)
{
	if (p->nanchors == p->anchors_cap) {
		size_t ncap = p->anchors_cap ? p->anchors_cap * 2 : 8;
		struct anchor *na = realloc(p->anchors, ncap * sizeof(*na));

		if (!na)
			return T0_ENOMEM;
		p->anchors = na;
		p->anchors_cap = ncap;
	}
	p->anchors[p->nanchors].name = strdup(name);
	if (!p->anchors[p->nanchors].name)
		return T0_ENOMEM;
	p->anchors[p->nanchors].value = value;
	p->anchors[p->nanchors].nodes = 0;
	p->anchors[p->nanchors].height = 0;
	p->anchors[p->nanchors].done = done;
	p->nanchors++;
	return T0_OK;
}

static void anchors_clear(struct parser *p)
{
	for (size_t i = 0; i < p->nanchors; i++)
		free(p->anchors[i].name);
	p->nanchors = 0;
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev)) {
		int line = (int)p->yp.problem_mark.line + 1;
		int col = (int)p->yp.problem_mark.column + 1;
		char msg[256];

		if (p->yp.error == YAML_READER_ERROR) {
			size_t off = p->yp.problem_offset < p->len ? p->yp.problem_offset : p->len;

			line = 1;
			col = 1;
			for (size_t i = 0; i < off; i++) {
				if (p->buf[i] == '\n') {
					line++;
					col = 1;
				} else {
					col++;
				}
			}
		}

		snprintf(msg, sizeof(msg), "%s%s%s", p->yp.problem ? p->yp.problem : "syntax error",
			 p->yp.context ? " " : "", p->yp.context ? p->yp.context : "");
		return fail(p, line, col, "invalid YAML: %s", msg);
	}
	return T0_OK;
}

/* Parses the node that starts with ev (consumed by the caller afterwards). */
static int parse_node(struct parser *p, yaml_event_t *ev, int depth, json_t **out);

static int parse_mapping(struct parser *p, json_t *obj, int depth)
{
	for (;;) {
		yaml_event_t kev, vev;
		json_t *val = NULL;
		char *key;
		int line, col, rc;

		rc = next_event(p, &kev);
		if (rc)
			return rc;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			return T0_OK;
		}
		line = (int)kev.start_mark.line + 1;
		col = (int)kev.start_mark.column + 1;
		if (kev.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&kev);
			return fail(p, line, col, "mapping keys must be plain strings");
		}
		key = strndup((const char *)kev.data.scalar.value, kev.data.scalar.length);
		yaml_event_delete(&kev);
		if (!key)
			return T0_ENOMEM;
		if (json_object_get(obj, key)) {
			rc = fail(p, line, col, "duplicate key '%s'", key);
			free(key);
			return rc;
		}
		rc = next_event(p, &vev);
		if (rc == T0_OK) {
			rc = parse_node(p, &vev, depth + 1, &val);
			yaml_event_delete(&vev);
		}
		if (rc == T0_OK && json_object_set_new(obj, key, val) != 0)
			rc = T0_ENOMEM;
		if (rc == T0_OK)
			rc = pos_push(p->doc, obj, NULL, key, 0, line, col);
		free(key);
		if (rc)
			return rc;
	}
}

static int parse_sequence(struct parser *p, json_t *arr, int depth)
{
	for (size_t i = 0;; i++) {
		yaml_event_t ev;
		json_t *val = NULL;
		int line, col, rc;

		rc = next_event(p, &ev);
		if (rc)
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return T0_OK;
		}
		line = (int)ev.start_mark.line + 1;
		col = (int)ev.start_mark.column + 1;
		rc = parse_node(p, &ev, depth + 1, &val);
		yaml_event_delete(&ev);
		if (rc == T0_OK && json_array_append_new(arr, val) != 0)
			rc = T0_ENOMEM;
		if (rc == T0_OK)
			rc = pos_push(p->doc, arr, NULL, NULL, i, line, col);
		if (rc)
			return rc;
	}
}

static int parse_node(struct parser *p, yaml_event_t *ev, int depth, json_t **out)
{
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;
	const char *anchor = NULL;
	json_t *v = NULL;
	size_t aidx;
	int rc = T0_OK;

	if (depth > YLOAD_MAX_DEPTH)
		return fail(p, line, col, "nesting deeper than %d levels", YLOAD_MAX_DEPTH);
	if (++p->nodes > YLOAD_MAX_NODES)
		return fail(p, line, col, "document has too many nodes");

	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *s = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;
		const char *tag = (const char *)ev->data.scalar.tag;

		anchor = (const char *)ev->data.scalar.anchor;
		if (tag && strcmp(tag, YAML_STR_TAG) == 0)
			v = json_stringn(s, len);
		else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			v = resolve_plain(s, len);
		else
			v = json_stringn(s, len);
		if (!v)
			return fail(p, line, col, "scalar is not valid UTF-8");
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		v = json_array();
		if (!v)
			return T0_ENOMEM;
		if (anchor && (rc = anchor_add(p, anchor, v, 0)))
			break;
		aidx = anchor ? p->nanchors - 1 : (size_t)-1;
		anchor = NULL;
		rc = pos_push(p->doc, NULL, v, NULL, 0, line, col);
		if (rc == T0_OK)
			rc = parse_sequence(p, v, depth);
		if (rc == T0_OK && aidx != (size_t)-1)
			p->anchors[aidx].done = 1;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		v = json_object();
		if (!v)
			return T0_ENOMEM;
		if (anchor && (rc = anchor_add(p, anchor, v, 0)))
			break;
		aidx = anchor ? p->nanchors - 1 : (size_t)-1;
		anchor = NULL;
		rc = pos_push(p->doc, NULL, v, NULL, 0, line, col);
		if (rc == T0_OK)
			rc = parse_mapping(p, v, depth);
		if (rc == T0_OK && aidx != (size_t)-1)
			p->anchors[aidx].done = 1;
		break;
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		struct anchor *a = NULL;

		for (size_t i = p->nanchors; i > 0; i--) {
			if (strcmp(p->anchors[i - 1].name, name) == 0) {
				a = &p->anchors[i - 1];
				break;
			}
		}
		if (!a)
			return fail(p, line, col, "unknown alias '*%s'", name);
		/* A container aliased from inside itself would grow with every use. */
		if (!a->done)
			return fail(p, line, col, "alias '*%s' refers to a node still being defined",
				    name);
		if (!a->nodes)
			a->nodes = measure(a->value, 0, &a->height);
		if (depth + a->height > YLOAD_MAX_DEPTH)
			return fail(p, line, col, "nesting deeper than %d levels", YLOAD_MAX_DEPTH);
		/* The alias node itself was counted above. */
		if (p->nodes - 1 + a->nodes > YLOAD_MAX_NODES)
			return fail(p, line, col, "alias '*%s' expands past the node limit", name);
		p->nodes += a->nodes - 1;
		v = json_deep_copy(a->value);
		if (!v)
			return T0_ENOMEM;
		break;
	}
	default:
		return fail(p, line, col, "unexpected YAML event");
	}

	if (rc == T0_OK && anchor)
		rc = anchor_add(p, anchor, v, 1);
	if (rc) {
		json_decref(v);
		return rc;
	}
	*out = v;
	return T0_OK;
}

static int doc_push(struct ydocs *out, const char *name, int index, int line)
{
	struct ydoc *nd = realloc(out->docs, (out->n + 1) * sizeof(*nd));

	if (!nd)
		return T0_ENOMEM;
	out->docs = nd;
	memset(&nd[out->n], 0, sizeof(nd[out->n]));
	nd[out->n].file = strdup(name);
	if (!nd[out->n].file)
		return T0_ENOMEM;
	nd[out->n].index = index;
	nd[out->n].line = line;
	out->n++;
	return T0_OK;
}

int yload_parse(const char *name, const char *buf, size_t len, struct ydocs *out, char *err,
		size_t errlen)
{
	struct parser p;
	int rc = T0_OK, done = 0, index = 0;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.buf = buf;
	p.len = len;
	p.err = err;
	p.errlen = errlen;
	if (errlen)
		err[0] = '\0';
	if (len > YLOAD_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes", name, YLOAD_MAX_FILE);
		return T0_ETOOBIG;
	}
	if (!yaml_parser_initialize(&p.yp))
		return T0_ENOMEM;
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);

	while (!done && rc == T0_OK) {
		yaml_event_t ev;

		rc = next_event(&p, &ev);
		if (rc)
			break;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			rc = doc_push(out, name, index++, (int)ev.start_mark.line + 1);
			if (rc == T0_OK)
				p.doc = &out->docs[out->n - 1];
			anchors_clear(&p);
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (p.doc && !p.doc->root)
				p.doc->root = json_null();
			p.doc = NULL;
			break;
		case YAML_STREAM_START_EVENT:
			break;
		default:
			if (!p.doc || p.doc->root) {
				rc = fail(&p, (int)ev.start_mark.line + 1,
					  (int)ev.start_mark.column + 1, "unexpected content");
				break;
			}
			rc = parse_node(&p, &ev, 0, &p.doc->root);
			break;
		}
		yaml_event_delete(&ev);
	}

	anchors_clear(&p);
	free(p.anchors);
	yaml_parser_delete(&p.yp);
	if (rc)
		ydocs_free(out);
	return rc;
}

int yload_read_file(const char *path, size_t max_bytes, char **bufp, size_t *lenp, char *err,
		    size_t errlen)
{
	FILE *fp = NULL;
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int rc = T0_OK;

	if (!max_bytes)
		max_bytes = YLOAD_MAX_FILE;
	fp = fopen(path, "rb");
	if (!fp) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return errno == ENOENT ? T0_ENOTFOUND : T0_EIO;
	}
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", path);
		rc = T0_EIO;
		goto out;
	}
	buf = malloc(max_bytes + 1);
	if (!buf) {
		rc = T0_ENOMEM;
		goto out;
	}
	len = fread(buf, 1, max_bytes + 1, fp);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		rc = T0_EIO;
		goto out;
	}
	if (len > max_bytes) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max_bytes);
		rc = T0_ETOOBIG;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
out:
	free(buf);
	fclose(fp);
	return rc;
}

int yload_file(const char *path, size_t max_bytes, struct ydocs *out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = yload_read_file(path, max_bytes, &buf, &len, err, errlen);
	if (rc)
		return rc;
	rc = yload_parse(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

void ydocs_free(struct ydocs *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		struct ydoc *doc = &d->docs[i];

		for (size_t j = 0; j < doc->npos; j++)
			free(doc->pos[j].key);
		free(doc->pos);
		json_decref(doc->root);
		free(doc->file);
	}
	free(d->docs);
	d->docs = NULL;
	d->n = 0;
}

int ydoc_key_pos(const struct ydoc *d, const json_t *obj, const char *key, int *line, int *col)
{
	for (size_t i = 0; d && i < d->npos; i++) {
		const struct ypos *e = &d->pos[i];

		if (e->parent == obj && e->key && strcmp(e->key, key) == 0) {
			*line = e->line;
			*col = e->col;
			return 0;
		}
	}
	return -1;
}

int ydoc_index_pos(const struct ydoc *d, const json_t *arr, size_t index, int *line, int *col)
{
	for (size_t i = 0; d && i < d->npos; i++) {
		const struct ypos *e = &d->pos[i];

		if (e->parent == arr && !e->key && e->index == index) {
			*line = e->line;
			*col = e->col;
			return 0;
		}
	}
	return -1;
}

int ydoc_node_pos(const struct ydoc *d, const json_t *node, int *line, int *col)
{
	for (size_t i = 0; d && i < d->npos; i++) {
		const struct ypos *e = &d->pos[i];

		if (!e->parent && e->node == node) {
			*line = e->line;
			*col = e->col;
			return 0;
		}
	}
	return -1;
}
