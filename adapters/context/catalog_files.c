/*
 * Local catalog-info.yaml files: globs from the configuration, each file read
 * as a multi-document YAML stream, Location entities followed like the
 * Backstage file provider does (relative targets against the Location's file).
 */
#include "bot/catalog.h"

#include <errno.h>
#include <stdarg.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "bot/yload.h"

#define CATF_MAX_PATH 4096
/* Glob results waiting to be read; generous, since duplicates are dropped only when read. */
#define CATF_MAX_QUEUE (CATALOG_MAX_FILES * 4)

struct loader {
	struct catalog *cat;
	char **queue; /* paths to read, in order (owned) */
	size_t nq, capq, head;
	char **seen; /* open addressing set of realpaths already read (owned) */
	size_t nseen, capseen;
	char *err;
	size_t errlen;
};

static int fail(struct loader *l, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, int rc, const char *fmt, ...)
{
	va_list ap;

	if (l->err && l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err, l->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static size_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* 1 if already seen, 0 if newly recorded, -1 on allocation failure. */
static int seen_check_put(struct loader *l, const char *rp)
{
	size_t mask, i;

	if ((l->nseen + 1) * 2 > l->capseen) {
		size_t ncap = l->capseen ? l->capseen * 2 : 64;
		char **ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -1;
		for (size_t j = 0; j < l->capseen; j++) {
			if (!l->seen[j])
				continue;
			i = path_hash(l->seen[j]) & (ncap - 1);
			while (ns[i])
				i = (i + 1) & (ncap - 1);
			ns[i] = l->seen[j];
		}
		free(l->seen);
		l->seen = ns;
		l->capseen = ncap;
	}
	mask = l->capseen - 1;
	i = path_hash(rp) & mask;
	while (l->seen[i]) {
		if (strcmp(l->seen[i], rp) == 0)
			return 1;
		i = (i + 1) & mask;
	}
	l->seen[i] = strdup(rp);
	if (!l->seen[i])
		return -1;
	l->nseen++;
	return 0;
}

static int queue_push(struct loader *l, const char *path)
{
	if (l->nq >= CATF_MAX_QUEUE)
		return fail(l, T0_ETOOBIG, "catalog: more than %d files matched", CATF_MAX_QUEUE);
	if (l->nq == l->capq) {
		size_t ncap = l->capq ? l->capq * 2 : 32;
		char **nq = realloc(l->queue, ncap * sizeof(*nq));

		if (!nq)
			return T0_ENOMEM;
		l->queue = nq;
		l->capq = ncap;
	}
	l->queue[l->nq] = strdup(path);
	if (!l->queue[l->nq])
		return T0_ENOMEM;
	l->nq++;
	return T0_OK;
}

/* Expands pattern (relative to dir unless absolute) and queues every regular file it matches. */
static int expand(struct loader *l, const char *pattern, const char *dir, const char *from)
{
	char path[CATF_MAX_PATH];
	glob_t g;
	int grc, n, rc = T0_OK;

	/* "./x" reads better in messages as "x"; ".//x" is still relative. */
	while (pattern[0] == '.' && pattern[1] == '/') {
		pattern += 2;
		while (pattern[0] == '/')
			pattern++;
	}
	if (pattern[0] == '/' || !dir || !dir[0])
		n = snprintf(path, sizeof(path), "%s", pattern);
	else
		n = snprintf(path, sizeof(path), "%s/%s", dir, pattern);
	if (n < 0 || (size_t)n >= sizeof(path))
		return fail(l, T0_EINVAL, "%s: catalog path too long: %.64s...", from, pattern);
	memset(&g, 0, sizeof(g));
	grc = glob(path, 0, NULL, &g);
	if (grc == GLOB_NOSPACE) {
		rc = T0_ENOMEM;
		goto out;
	}
	if (grc == GLOB_NOMATCH || grc != 0) {
		log_warn("catalog", "no_match", "from=%s glob=%s", from, path);
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc && rc == T0_OK; i++) {
		struct stat st;

		if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			log_warn("catalog", "skip_dir", "from=%s path=%s", from, g.gl_pathv[i]);
			continue;
		}
		rc = queue_push(l, g.gl_pathv[i]);
	}
out:
	globfree(&g);
	return rc;
}

/* The directory part of path ("." when there is none) into out. */
static void dir_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

static int follow_target(struct loader *l, const struct ydoc *d, const char *type,
			 const char *target, const char *dir)
{
	if (strcasecmp(type, "file") != 0 || strstr(target, "://")) {
		log_warn("catalog", "skip_target", "file=%s doc=%d type=%s target=%s", d->file,
			 d->index + 1, type, target);
		return T0_OK;
	}
	return expand(l, target, dir, d->file);
}

static int follow_location(struct loader *l, const struct ydoc *d)
{
	const json_t *spec = json_object_get(d->root, "spec");
	const json_t *target = json_object_get(spec, "target");
	const json_t *targets = json_object_get(spec, "targets");
	const json_t *type = json_object_get(spec, "type");
	const char *name = json_string_value(json_object_get(json_object_get(d->root, "metadata"),
							      "name"));
	char dir[CATF_MAX_PATH];
	int rc = T0_OK;

	/* A Location inside a file location is a file location unless it says otherwise. */
	if (type && !json_is_string(type))
		return fail(l, T0_EINVAL, "%s: document %d (location %s): spec.type must be a string",
			    d->file, d->index + 1, name);
	if ((target && !json_is_string(target)) || (targets && !json_is_array(targets)))
		return fail(l, T0_EINVAL,
			    "%s: document %d (location %s): spec.target must be a string and "
			    "spec.targets a list",
			    d->file, d->index + 1, name);
	if (!target && !targets)
		return fail(l, T0_EINVAL,
			    "%s: document %d (location %s): spec.target or spec.targets is required",
			    d->file, d->index + 1, name);
	dir_of(d->file, dir, sizeof(dir));
	if (target)
		rc = follow_target(l, d, type ? json_string_value(type) : "file",
				   json_string_value(target), dir);
	for (size_t i = 0; targets && i < json_array_size(targets) && rc == T0_OK; i++) {
		const json_t *t = json_array_get(targets, i);

		if (!json_is_string(t))
			return fail(l, T0_EINVAL,
				    "%s: document %d (location %s): spec.targets[%zu] must be a "
				    "string",
				    d->file, d->index + 1, name, i);
		rc = follow_target(l, d, type ? json_string_value(type) : "file",
				   json_string_value(t), dir);
	}
	return rc;
}

static int load_one(struct loader *l, const char *path)
{
	struct ydocs docs = { 0 };
	char rp[PATH_MAX];
	int rc, s;

	if (!realpath(path, rp))
		return fail(l, T0_EIO, "%s: cannot resolve: %s", path, strerror(errno));
	s = seen_check_put(l, rp);
	if (s < 0)
		return T0_ENOMEM;
	if (s > 0) {
		log_debug("catalog", "skip_seen", "path=%s", path);
		return T0_OK;
	}
	if (l->nseen > CATALOG_MAX_FILES)
		return fail(l, T0_ETOOBIG, "%s: catalog has more than %d files", path,
			    CATALOG_MAX_FILES);
	rc = yload_file(path, 0, &docs, l->err, l->errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < docs.n && rc == T0_OK; i++) {
		const struct ydoc *d = &docs.docs[i];
		const char *kind;

		if (json_is_null(d->root))
			continue; /* an empty document, e.g. after a trailing "---" */
		rc = catalog_add_ydoc(l->cat, d, l->err, l->errlen);
		if (rc)
			break;
		kind = json_string_value(json_object_get(d->root, "kind"));
		if (kind && strcasecmp(kind, "Location") == 0)
			rc = follow_location(l, d);
	}
	ydocs_free(&docs);
	return rc;
}

int catalog_load_files(struct catalog *cat, const char *const *globs, size_t nglobs,
		       const char *base_dir, char *err, size_t errlen)
{
	struct loader l = { .cat = cat, .err = err, .errlen = errlen };
	int rc = T0_OK;

	if (err && errlen)
		err[0] = '\0';
	if (!cat || (nglobs && !globs))
		return T0_EINVAL;
	for (size_t i = 0; i < nglobs && rc == T0_OK; i++)
		if (globs[i])
			rc = expand(&l, globs[i], base_dir, "catalog.files");
	while (rc == T0_OK && l.head < l.nq) {
		rc = load_one(&l, l.queue[l.head]);
		l.head++;
	}
	if (rc == T0_OK)
		rc = catalog_finish(cat);
	if (rc == T0_OK)
		log_info("catalog", "loaded", "files=%zu entities=%zu", l.nseen, catalog_count(cat));
	for (size_t i = 0; i < l.nq; i++)
		free(l.queue[i]);
	free(l.queue);
	for (size_t i = 0; i < l.capseen; i++)
		free(l.seen[i]);
	free(l.seen);
	return rc;
}
