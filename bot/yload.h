/*
 * One loader for YAML and JSON (JSON is read as YAML flow style): libyaml events
 * become a jansson tree, and the position of every mapping key, sequence item and
 * container is kept so that validation can name file:line:column.
 *
 * Used for the configuration, catalog-info.yaml files and runbook front matter.
 * Plain scalars are typed by the YAML 1.2 core schema (null, bool, int, float,
 * otherwise string); quoted scalars are always strings. Anchors and aliases are
 * expanded within a node budget; nesting depth and input size are bounded.
 */
#ifndef T0_YLOAD_H
#define T0_YLOAD_H

#include <jansson.h>
#include <stddef.h>

#define YLOAD_MAX_DEPTH 64
#define YLOAD_MAX_NODES 200000
#define YLOAD_MAX_FILE (8u * 1024 * 1024)

struct ypos {
	const json_t *parent; /* object or array holding the item; NULL for a node entry */
	const json_t *node;   /* for node entries: the container itself */
	char *key;            /* mapping key, NULL for sequence items and node entries */
	size_t index;         /* sequence index */
	int line, col;        /* 1-based */
};

struct ydoc {
	char *file;   /* name used in messages (owned) */
	int index;    /* 0-based document number within the stream */
	int line;     /* line where the document starts */
	json_t *root; /* owned */
	struct ypos *pos;
	size_t npos, cap;
};

struct ydocs {
	struct ydoc *docs;
	size_t n;
};

/*
 * Parses every document of buf. On failure returns T0_EPARSE (or T0_ETOOBIG)
 * and writes "name:line:col: reason" into err. The result belongs to the caller.
 */
int yload_parse(const char *name, const char *buf, size_t len, struct ydocs *out, char *err,
		size_t errlen);
/* Reads path (at most max_bytes, 0 = YLOAD_MAX_FILE) and parses it. */
int yload_file(const char *path, size_t max_bytes, struct ydocs *out, char *err, size_t errlen);
void ydocs_free(struct ydocs *d);

/* Positions; return 0 when found, -1 otherwise (line/col then untouched). */
int ydoc_key_pos(const struct ydoc *d, const json_t *obj, const char *key, int *line, int *col);
int ydoc_index_pos(const struct ydoc *d, const json_t *arr, size_t index, int *line, int *col);
int ydoc_node_pos(const struct ydoc *d, const json_t *node, int *line, int *col);

/* Reads a whole file of at most max_bytes into a NUL-terminated buffer (caller frees). */
int yload_read_file(const char *path, size_t max_bytes, char **buf, size_t *len, char *err,
		    size_t errlen);

#endif
