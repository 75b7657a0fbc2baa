/*
 * Backstage catalog client (../shared/reference/catalog.md §4): resolves a
 * service by its pagerduty.com/service-id annotation, then by name (by-name,
 * then by-query), follows spec.owner to the owner group and its hasMember
 * relations to the members (by-refs), and puts what it found into the bot's
 * catalog model (bot/catalog.h) next to the local catalog files. Local files
 * win over Backstage for an entity both define. Answers are cached for
 * BACKSTAGE_TTL_MS; after a configuration reload the cached entities are
 * merged into the new catalog on the next lookup.
 */
#ifndef T0_BACKSTAGE_H
#define T0_BACKSTAGE_H

#include <stddef.h>
#include <stdint.h>

struct bot;
struct t0_loop;
struct incident_source;
struct backstage;

#define BACKSTAGE_TTL_MS (5LL * 60 * 1000)
#define BACKSTAGE_NEGATIVE_TTL_MS (60LL * 1000)
#define BACKSTAGE_MAX_CACHE 5000
#define BACKSTAGE_FILE "Backstage" /* cat_entity.file of entities it added */

/* url: the backend's base URL ("http://backstage:7007"; "/api/catalog" is appended unless present). */
struct backstage *backstage_new(struct bot *b, struct t0_loop *loop, const char *url,
				const char *token);
int backstage_start(struct backstage *bs);
/* Pending lookups complete (failed) now; new ones are refused. */
void backstage_shutdown(struct backstage *bs);
void backstage_free(struct backstage *bs);

/*
 * Resolves a service and fills the catalog; cb(arg, rc, name) once, later:
 * T0_OK with the entity's name, T0_ENOTFOUND, T0_ETIMEOUT, T0_EHTTP...
 */
typedef void (*backstage_cb)(void *arg, int rc, const char *entity_name);
int backstage_resolve(struct backstage *bs, const char *service, const char *pd_service_id,
		      long timeout_ms, backstage_cb cb, void *arg);

/* Entities fetched so far (tests). */
size_t backstage_cached(const struct backstage *bs);

/* The context source "Backstage" (role INC_SRC_CATALOG). */
int backstage_incident_source(struct backstage *bs, struct incident_source *out);

#endif
