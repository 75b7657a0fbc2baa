/*
 * libFuzzer target: the bytes are one multi-document catalog file. Every
 * document goes through catalog_add_ydoc, then the graph is finished and
 * queried the way handlers do (walks, find, suggest, owner, users).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/catalog.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "bot/yload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A query taken from the input's first line, so lookups see fuzzer-chosen text. */
static void first_line(const uint8_t *data, size_t size, char *out, size_t outlen)
{
	size_t n = 0;

	while (n < size && n + 1 < outlen && data[n] != '\n' && data[n] != '\0') {
		out[n] = (char)data[n];
		n++;
	}
	out[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catalog *cat = NULL;
	struct ydocs docs = { 0 };
	char err[512], q[80];
	size_t n;

	log_set_level(LOG_LEVEL_ERR);
	if (yload_parse("fuzz.yaml", (const char *)data, size, &docs, err, sizeof(err)) != T0_OK)
		return 0;
	cat = catalog_new();
	if (!cat)
		goto out;
	for (size_t i = 0; i < docs.n; i++)
		(void)catalog_add_ydoc(cat, &docs.docs[i], err, sizeof(err));
	if (catalog_finish(cat) != T0_OK)
		goto out;
	n = catalog_count(cat);
	for (size_t i = 0; i < n && i < 16; i++) {
		struct cat_entity *e = catalog_at(cat, i);
		struct cat_walk_item *items = NULL;
		size_t nitems = 0;

		(void)catalog_owner(cat, e);
		(void)catalog_annotation(e, "github.com/project-slug");
		(void)catalog_get(cat, e->ref);
		(void)catalog_find(cat, e->name);
		if (e->title)
			(void)catalog_find(cat, e->title);
		if (e->email)
			(void)catalog_user_by_email(cat, e->email);
		if (catalog_walk(cat, e, CAT_WALK_DEPENDENCIES, 0, &items, &nitems) == T0_OK)
			free(items);
		items = NULL;
		if (catalog_walk(cat, e, CAT_WALK_DEPENDENTS, 3, &items, &nitems) == T0_OK)
			free(items);
	}
	first_line(data, size, q, sizeof(q));
	(void)catalog_find(cat, q);
	(void)catalog_suggest(cat, q);
	(void)catalog_user(cat, q);
	free(catalog_ref_parse(q, "component", "default"));
	(void)catalog_finish(cat);
out:
	catalog_free(cat);
	ydocs_free(&docs);
	return 0;
}
