/*
 * The service catalog model: Backstage entities and the relations Backstage
 * computes between them. Local catalog-info.yaml files
 * (adapters/context/catalog_files.c) and, later, the Backstage API fill the same
 * model; handlers only query it.
 *
 * Entity references are "kind:namespace/name", lower-cased, e.g.
 * "component:default/payment-api". Lookups are case-insensitive.
 */
#ifndef T0_CATALOG_H
#define T0_CATALOG_H

#include <jansson.h>
#include <stddef.h>

enum cat_rel_type {
	CAT_REL_OWNED_BY = 0,
	CAT_REL_OWNER_OF,
	CAT_REL_DEPENDS_ON,
	CAT_REL_DEPENDENCY_OF,
	CAT_REL_PART_OF,
	CAT_REL_HAS_PART,
	CAT_REL_PROVIDES_API,
	CAT_REL_API_PROVIDED_BY,
	CAT_REL_CONSUMES_API,
	CAT_REL_API_CONSUMED_BY,
	CAT_REL_MEMBER_OF,
	CAT_REL_HAS_MEMBER,
	CAT_REL_CHILD_OF,
	CAT_REL_PARENT_OF,
	CAT_REL__COUNT,
};

/* "ownedBy", "dependsOn", ... as Backstage spells them. */
const char *cat_rel_name(int type);

struct cat_entity;

struct cat_rel {
	int type;                  /* enum cat_rel_type */
	char *target_ref;          /* canonical ref, always set */
	struct cat_entity *target; /* NULL when the target is not in the catalog */
};

struct cat_entity {
	char *kind;      /* as written: "Component" */
	char *namespace; /* "default" unless set */
	char *name;
	char *ref;       /* canonical "component:default/payment-api" */
	/* Shortcuts into doc (borrowed from it), NULL when absent. */
	const char *title, *description, *type, *lifecycle;
	const char *display_name, *email; /* User/Group spec.profile */
	json_t *doc;     /* the whole entity (owned) */
	char *file;      /* where it was read, for messages */
	int doc_index;   /* document number within that file */
	struct cat_rel *rels;
	size_t nrels, rels_cap;
};

struct catalog;

struct catalog *catalog_new(void);
void catalog_free(struct catalog *cat);

/*
 * Adds one entity document (a Backstage envelope). Validates apiVersion, kind,
 * metadata.name and the kind's required spec fields; on error writes
 * "file: document N (kind:ns/name): reason" into err and returns T0_EINVAL. A
 * duplicate ref is T0_EDUP (the message names both files). doc_index is the
 * 1-based document number (0 = not from a multi-document file: "document N" is
 * left out). Unknown kinds (Template, ...) are skipped with a warning and
 * return T0_OK. The catalog copies what it keeps.
 */
int catalog_add(struct catalog *cat, const json_t *entity, const char *file, int doc_index,
		char *err, size_t errlen);

/*
 * Adds an entity, or replaces the one with the same ref in place (the struct
 * cat_entity keeps its address, so pointers to it stay valid; strings
 * borrowed from the old document do not). For sources refreshed at run time
 * (Backstage). *replaced (may be NULL) says which. Call catalog_finish after
 * the last put. A document that fails validation changes nothing.
 */
int catalog_put(struct catalog *cat, const json_t *entity, const char *file, int doc_index,
		int *replaced, char *err, size_t errlen);

struct ydoc;
/*
 * catalog_add for a document read by yload: same checks, and messages also
 * carry the line, "file:line: document N (kind:ns/name): reason".
 */
int catalog_add_ydoc(struct catalog *cat, const struct ydoc *doc, char *err, size_t errlen);

/* At most this many entities in one catalog; more is T0_ETOOBIG. */
#define CATALOG_MAX_ENTITIES 200000
/* catalog_load_files reads at most this many files (Locations included). */
#define CATALOG_MAX_FILES 10000
/* Computes every relation from specs; call after the last catalog_add. */
int catalog_finish(struct catalog *cat);

size_t catalog_count(const struct catalog *cat);
struct cat_entity *catalog_at(const struct catalog *cat, size_t i);

/*
 * Parses "[kind:][namespace/]name" with the given default kind and namespace
 * into a canonical lower-case ref (caller frees). NULL on a malformed ref.
 */
char *catalog_ref_parse(const char *ref, const char *default_kind, const char *default_ns);

/*
 * By canonical or short ref; NULL when absent. A ref without a kind tries the
 * kinds in catalog_find's preference order.
 */
struct cat_entity *catalog_get(const struct catalog *cat, const char *ref);
/*
 * By what a person types: "payment-api", "Payment API", "component:payment-api".
 * Prefers Component, then System, API, Resource, Group, User, Domain. NULL when
 * nothing matches exactly.
 */
struct cat_entity *catalog_find(const struct catalog *cat, const char *name);
/*
 * The closest name within a small edit distance, for "did you mean"; NULL if none.
 * Distance (optimal string alignment) <= max(2, len/4) against the name or the
 * title; failing that, a name that starts with or contains what was typed
 * (at least 3 characters). Ties go to the kind preference order, then the name.
 */
const struct cat_entity *catalog_suggest(const struct catalog *cat, const char *name);

/* Owner of an entity (Group or User), or NULL. */
struct cat_entity *catalog_owner(const struct catalog *cat, const struct cat_entity *e);
/* The catalog User whose profile email matches (case-insensitive), or NULL. */
struct cat_entity *catalog_user_by_email(const struct catalog *cat, const char *email);
/* The catalog User by name or ref ("alice", "user:default/alice"), or NULL. */
struct cat_entity *catalog_user(const struct catalog *cat, const char *name);
/* Annotation value or NULL. */
const char *catalog_annotation(const struct cat_entity *e, const char *key);

/*
 * Walks the graph from e following dependsOn + consumesApi->apiProvidedBy
 * (direction CAT_WALK_DEPENDENCIES: what e needs) or the reverse
 * (CAT_WALK_DEPENDENTS: what breaks when e is down — the blast radius).
 * Each reachable entity is reported once with its shortest depth (1 = direct),
 * in breadth-first order; cycles are safe. max_depth 0 = unbounded.
 * An API is a node of its own: a consumer reaches the API at depth d and its
 * providers at d + 1 (and the reverse for dependents). *items is malloc'ed
 * (caller frees; NULL when nothing is reachable); e must belong to cat.
 */
enum cat_walk_dir { CAT_WALK_DEPENDENCIES = 0, CAT_WALK_DEPENDENTS };

struct cat_walk_item {
	struct cat_entity *entity;
	int depth;
	struct cat_entity *via; /* the entity it was reached from */
};

int catalog_walk(const struct catalog *cat, const struct cat_entity *e, int dir, int max_depth,
		 struct cat_walk_item **items, size_t *nitems);

/*
 * Loads every catalog file matched by the globs (relative globs resolve against
 * base_dir), following Location entities (targets relative to their file), then
 * calls catalog_finish. On error writes a message naming file and document.
 */
int catalog_load_files(struct catalog *cat, const char *const *globs, size_t nglobs,
		       const char *base_dir, char *err, size_t errlen);

#endif
