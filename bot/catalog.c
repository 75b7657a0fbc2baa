#include "bot/catalog.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "bot/yload.h"

#define CAT_MAX_NAME 63
#define CAT_MAX_REF 256
/* What a person types is cut off here; longer input finds nothing. */
#define CAT_MAX_QUERY 128

/* In catalog_find's preference order; Location last (never preferred). */
enum cat_kind {
	KIND_COMPONENT = 0,
	KIND_SYSTEM,
	KIND_API,
	KIND_RESOURCE,
	KIND_GROUP,
	KIND_USER,
	KIND_DOMAIN,
	KIND_LOCATION,
	KIND__COUNT,
};

static const char *const kind_lower[KIND__COUNT] = {
	"component", "system", "api", "resource", "group", "user", "domain", "location",
};

#define KB(k) (1u << (k))

/* The public entity plus what only this file needs; pub comes first so casts work. */
struct ent {
	struct cat_entity pub;
	int kind;
	size_t idx;   /* position in catalog->ents */
	size_t ndecl; /* rels[0..ndecl) come from the entity's own spec */
};

struct catalog {
	struct ent **ents;
	size_t n, cap;
	size_t *slots; /* open addressing by ref: entity index + 1, 0 = empty */
	size_t nslots; /* power of two */
};

static const char *const rel_names[CAT_REL__COUNT] = {
	"ownedBy",     "ownerOf",       "dependsOn",   "dependencyOf", "partOf",
	"hasPart",     "providesApi",   "apiProvidedBy", "consumesApi", "apiConsumedBy",
	"memberOf",    "hasMember",     "childOf",     "parentOf",
};

const char *cat_rel_name(int type)
{
	if (type < 0 || type >= CAT_REL__COUNT)
		return "unknown";
	return rel_names[type];
}

/* Pairs are adjacent in enum cat_rel_type: 2k and 2k+1 are each other's inverse. */
static int rel_inverse(int type)
{
	return type ^ 1;
}

/* ---- names and refs ---- */

static uint64_t hash_str(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static int kind_from_str(const char *s)
{
	for (int k = 0; k < KIND__COUNT; k++)
		if (strcasecmp(s, kind_lower[k]) == 0)
			return k;
	return -1;
}

/* Backstage: 1-63 chars, [a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)* */
static int valid_name(const char *s, size_t len)
{
	if (len < 1 || len > CAT_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (isalnum((unsigned char)s[i]))
			continue;
		if (s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
		if (i == 0 || i == len - 1 || !isalnum((unsigned char)s[i + 1]))
			return 0;
	}
	return 1;
}

/* DNS label: letters, digits and '-', not at either end; compared lower-cased. */
static int valid_namespace(const char *s, size_t len)
{
	if (len < 1 || len > CAT_MAX_NAME)
		return 0;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int valid_kind(const char *s, size_t len)
{
	if (len < 1 || len > CAT_MAX_NAME)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return 1;
}

static void copy_lower(char *dst, const char *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
}

/* Writes the canonical ref into out (CAT_MAX_REF bytes); 0 on success, -1 if malformed. */
static int ref_parse_buf(const char *ref, const char *default_kind, const char *default_ns,
			 char *out)
{
	const char *colon, *slash, *kind, *ns, *name, *rest;
	size_t klen, nslen, namelen;

	if (!ref)
		return -1;
	if (!default_ns)
		default_ns = "default";
	colon = strchr(ref, ':');
	slash = strchr(ref, '/');
	if (colon && (!slash || colon < slash)) {
		kind = ref;
		klen = (size_t)(colon - ref);
		rest = colon + 1;
	} else {
		if (!default_kind)
			return -1;
		kind = default_kind;
		klen = strlen(kind);
		rest = ref;
	}
	slash = strchr(rest, '/');
	if (slash) {
		ns = rest;
		nslen = (size_t)(slash - rest);
		name = slash + 1;
	} else {
		ns = default_ns;
		nslen = strlen(ns);
		name = rest;
	}
	namelen = strlen(name);
	if (!valid_kind(kind, klen) || !valid_namespace(ns, nslen) || !valid_name(name, namelen))
		return -1;
	copy_lower(out, kind, klen);
	out[klen] = ':';
	copy_lower(out + klen + 1, ns, nslen);
	out[klen + 1 + nslen] = '/';
	copy_lower(out + klen + 2 + nslen, name, namelen);
	out[klen + 2 + nslen + namelen] = '\0';
	return 0;
}

char *catalog_ref_parse(const char *ref, const char *default_kind, const char *default_ns)
{
	char buf[CAT_MAX_REF];

	if (ref_parse_buf(ref, default_kind, default_ns, buf) != 0)
		return NULL;
	return strdup(buf);
}

static int ref_has_kind(const char *ref)
{
	const char *colon = strchr(ref, ':'), *slash = strchr(ref, '/');

	return colon && (!slash || colon < slash);
}

/* ---- the ref index ---- */

static struct ent *lookup_ref(const struct catalog *cat, const char *canon)
{
	size_t mask, i;

	if (!cat || !cat->nslots)
		return NULL;
	mask = cat->nslots - 1;
	i = (size_t)hash_str(canon, 1469598103934665603ull) & mask;
	while (cat->slots[i]) {
		struct ent *e = cat->ents[cat->slots[i] - 1];

		if (strcmp(e->pub.ref, canon) == 0)
			return e;
		i = (i + 1) & mask;
	}
	return NULL;
}

static void slot_put(size_t *slots, size_t nslots, const char *ref, size_t value)
{
	size_t mask = nslots - 1;
	size_t i = (size_t)hash_str(ref, 1469598103934665603ull) & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = value;
}

static int index_grow(struct catalog *cat)
{
	size_t nslots = cat->nslots ? cat->nslots * 2 : 64;
	size_t *slots;

	if ((cat->n + 1) * 2 <= cat->nslots)
		return T0_OK;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return T0_ENOMEM;
	for (size_t i = 0; i < cat->n; i++)
		slot_put(slots, nslots, cat->ents[i]->pub.ref, i + 1);
	free(cat->slots);
	cat->slots = slots;
	cat->nslots = nslots;
	return T0_OK;
}

/* ---- lifecycle ---- */

struct catalog *catalog_new(void)
{
	return calloc(1, sizeof(struct catalog));
}

static void ent_free(struct ent *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->pub.nrels; i++)
		free(e->pub.rels[i].target_ref);
	free(e->pub.rels);
	free(e->pub.kind);
	free(e->pub.namespace);
	free(e->pub.name);
	free(e->pub.ref);
	free(e->pub.file);
	json_decref(e->pub.doc);
	free(e);
}

void catalog_free(struct catalog *cat)
{
	if (!cat)
		return;
	for (size_t i = 0; i < cat->n; i++)
		ent_free(cat->ents[i]);
	free(cat->ents);
	free(cat->slots);
	free(cat);
}

size_t catalog_count(const struct catalog *cat)
{
	return cat ? cat->n : 0;
}

struct cat_entity *catalog_at(const struct catalog *cat, size_t i)
{
	if (!cat || i >= cat->n)
		return NULL;
	return &cat->ents[i]->pub;
}

static int rel_push(struct ent *e, int type, char *target_ref_take, struct cat_entity *target)
{
	if (e->pub.nrels == e->pub.rels_cap) {
		size_t ncap = e->pub.rels_cap ? e->pub.rels_cap * 2 : 4;
		struct cat_rel *nr = realloc(e->pub.rels, ncap * sizeof(*nr));

		if (!nr) {
			free(target_ref_take);
			return T0_ENOMEM;
		}
		e->pub.rels = nr;
		e->pub.rels_cap = ncap;
	}
	e->pub.rels[e->pub.nrels].type = type;
	e->pub.rels[e->pub.nrels].target_ref = target_ref_take;
	e->pub.rels[e->pub.nrels].target = target;
	e->pub.nrels++;
	return T0_OK;
}

/* ---- validation ---- */

struct addctx {
	const struct ydoc *yd;
	const char *file;
	int doc;
	char label[CAT_MAX_REF];
	char *err;
	size_t errlen;
};

static int line_of_key(const struct addctx *c, const json_t *obj, const char *key)
{
	int line = 0, col = 0;

	if (!c->yd)
		return 0;
	if (obj && key && ydoc_key_pos(c->yd, obj, key, &line, &col) == 0)
		return line;
	return c->yd->line;
}

static int line_of_index(const struct addctx *c, const json_t *arr, size_t i)
{
	int line = 0, col = 0;

	if (!c->yd)
		return 0;
	if (ydoc_index_pos(c->yd, arr, i, &line, &col) == 0)
		return line;
	return c->yd->line;
}

static int add_fail(struct addctx *c, int rc, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add_fail(struct addctx *c, int rc, int line, const char *fmt, ...)
{
	char reason[512], where[64] = "", doc[48] = "", label[CAT_MAX_REF + 4] = "";
	va_list ap;

	if (!c->err || !c->errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	if (c->doc > 0)
		snprintf(doc, sizeof(doc), " document %d", c->doc);
	if (c->label[0])
		snprintf(label, sizeof(label), c->doc > 0 ? " (%s)" : " %s", c->label);
	snprintf(c->err, c->errlen, "%s%s:%s%s: %s", c->file ? c->file : "<entity>", where, doc,
		 label, reason);
	return rc;
}

/* A printable excerpt of a user-supplied string for messages. */
static const char *excerpt(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s[i] && i + 4 < len; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (s[i])
		memcpy(buf + i, "...", 4);
	else
		buf[i] = '\0';
	return buf;
}

struct relfield {
	unsigned kinds;
	const char *field;
	int is_list;
	int rel;
	const char *default_kind; /* NULL: Backstage has none; we warn and assume component */
};

static const struct relfield relfields[] = {
	{ KB(KIND_COMPONENT) | KB(KIND_API) | KB(KIND_RESOURCE) | KB(KIND_SYSTEM) | KB(KIND_DOMAIN),
	  "owner", 0, CAT_REL_OWNED_BY, "group" },
	{ KB(KIND_COMPONENT) | KB(KIND_API) | KB(KIND_RESOURCE), "system", 0, CAT_REL_PART_OF,
	  "system" },
	{ KB(KIND_SYSTEM), "domain", 0, CAT_REL_PART_OF, "domain" },
	{ KB(KIND_COMPONENT), "subcomponentOf", 0, CAT_REL_PART_OF, "component" },
	{ KB(KIND_DOMAIN), "subdomainOf", 0, CAT_REL_PART_OF, "domain" },
	{ KB(KIND_COMPONENT), "providesApis", 1, CAT_REL_PROVIDES_API, "api" },
	{ KB(KIND_COMPONENT), "consumesApis", 1, CAT_REL_CONSUMES_API, "api" },
	{ KB(KIND_COMPONENT) | KB(KIND_RESOURCE), "dependsOn", 1, CAT_REL_DEPENDS_ON, NULL },
	{ KB(KIND_COMPONENT) | KB(KIND_RESOURCE), "dependencyOf", 1, CAT_REL_DEPENDENCY_OF, NULL },
	{ KB(KIND_GROUP), "parent", 0, CAT_REL_CHILD_OF, "group" },
	{ KB(KIND_GROUP), "children", 1, CAT_REL_PARENT_OF, "group" },
	{ KB(KIND_GROUP), "members", 1, CAT_REL_HAS_MEMBER, "user" },
	{ KB(KIND_USER), "memberOf", 1, CAT_REL_MEMBER_OF, "group" },
};

struct reqfield {
	unsigned kinds;
	const char *field;
};

static const struct reqfield reqfields[] = {
	{ KB(KIND_COMPONENT) | KB(KIND_API) | KB(KIND_RESOURCE) | KB(KIND_GROUP), "type" },
	{ KB(KIND_COMPONENT) | KB(KIND_API), "lifecycle" },
	{ KB(KIND_COMPONENT) | KB(KIND_API) | KB(KIND_RESOURCE) | KB(KIND_SYSTEM) | KB(KIND_DOMAIN),
	  "owner" },
};

static int add_ref(struct addctx *c, struct ent *e, const struct relfield *f, const char *s,
		   int line, const char *where)
{
	char canon[CAT_MAX_REF], ex[80];
	const char *dk = f->default_kind;
	char *dup;

	if (!dk && !ref_has_kind(s)) {
		log_warn("catalog", "ref_without_kind", "file=%s doc=%d entity=%s field=%s ref=%s",
			 c->file ? c->file : "-", c->doc, c->label, where, excerpt(s, ex, sizeof(ex)));
		dk = "component";
	}
	if (ref_parse_buf(s, dk, e->pub.namespace, canon) != 0)
		return add_fail(c, T0_EINVAL, line, "invalid entity reference '%s' in %s",
				excerpt(s, ex, sizeof(ex)), where);
	dup = strdup(canon);
	if (!dup)
		return T0_ENOMEM;
	return rel_push(e, f->rel, dup, NULL);
}

static int add_relfields(struct addctx *c, struct ent *e, const json_t *spec)
{
	char where[96];
	int rc = T0_OK;

	for (size_t i = 0; i < T0_ARRAY_LEN(relfields) && rc == T0_OK; i++) {
		const struct relfield *f = &relfields[i];
		const json_t *v;

		if (!(f->kinds & KB(e->kind)) || !spec)
			continue;
		v = json_object_get(spec, f->field);
		if (!v || json_is_null(v))
			continue;
		snprintf(where, sizeof(where), "spec.%s", f->field);
		if (!f->is_list) {
			if (!json_is_string(v))
				return add_fail(c, T0_EINVAL, line_of_key(c, spec, f->field),
						"%s must be a string", where);
			rc = add_ref(c, e, f, json_string_value(v), line_of_key(c, spec, f->field),
				     where);
			continue;
		}
		if (!json_is_array(v))
			return add_fail(c, T0_EINVAL, line_of_key(c, spec, f->field),
					"%s must be a list", where);
		for (size_t j = 0; j < json_array_size(v) && rc == T0_OK; j++) {
			const json_t *it = json_array_get(v, j);

			snprintf(where, sizeof(where), "spec.%s[%zu]", f->field, j);
			if (!json_is_string(it))
				return add_fail(c, T0_EINVAL, line_of_index(c, v, j),
						"%s must be a string", where);
			rc = add_ref(c, e, f, json_string_value(it), line_of_index(c, v, j), where);
		}
	}
	return rc;
}

static int check_required(struct addctx *c, int kind, const json_t *spec, int spec_line)
{
	for (size_t i = 0; i < T0_ARRAY_LEN(reqfields); i++) {
		const json_t *v;

		if (!(reqfields[i].kinds & KB(kind)))
			continue;
		v = json_object_get(spec, reqfields[i].field);
		if (!v)
			return add_fail(c, T0_EINVAL, spec_line, "spec.%s is missing",
					reqfields[i].field);
		if (!json_is_string(v) || !json_string_value(v)[0])
			return add_fail(c, T0_EINVAL, line_of_key(c, spec, reqfields[i].field),
					"spec.%s must be a non-empty string", reqfields[i].field);
	}
	if (kind == KIND_API) {
		const json_t *d = json_object_get(spec, "definition");

		if (!d)
			return add_fail(c, T0_EINVAL, spec_line, "spec.definition is missing");
		/* A mapping is a $text/$json/$yaml substitution the catalog resolves. */
		if (!json_is_string(d) && !json_is_object(d))
			return add_fail(c, T0_EINVAL, line_of_key(c, spec, "definition"),
					"spec.definition must be a string or a mapping");
	}
	if (kind == KIND_GROUP) {
		const json_t *ch = json_object_get(spec, "children");

		if (!ch)
			return add_fail(c, T0_EINVAL, spec_line, "spec.children is missing");
		if (!json_is_array(ch))
			return add_fail(c, T0_EINVAL, line_of_key(c, spec, "children"),
					"spec.children must be a list");
	}
	return T0_OK;
}

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Borrowed shortcuts into the entity's own copy of the document. */
static void set_shortcuts(struct ent *e)
{
	const json_t *md = json_object_get(e->pub.doc, "metadata");
	const json_t *spec = json_object_get(e->pub.doc, "spec");
	const json_t *profile = json_object_get(spec, "profile");

	e->pub.title = str_at(md, "title");
	e->pub.description = str_at(md, "description");
	e->pub.type = str_at(spec, "type");
	e->pub.lifecycle = str_at(spec, "lifecycle");
	e->pub.display_name = str_at(profile, "displayName");
	e->pub.email = str_at(profile, "email");
}

static int add_entity(struct catalog *cat, const json_t *entity, struct addctx *c)
{
	const json_t *v, *md, *spec;
	const char *kind_s, *name, *ns = "default", *apiv;
	struct ent *e = NULL, *other;
	char ex[80], canon[CAT_MAX_REF];
	int kind, rc = T0_OK;

	if (c->err && c->errlen)
		c->err[0] = '\0';
	if (!cat || !entity)
		return T0_EINVAL;
	if (!json_is_object(entity))
		return add_fail(c, T0_EINVAL, c->yd ? c->yd->line : 0, "document is not a mapping");
	v = json_object_get(entity, "kind");
	if (!v)
		return add_fail(c, T0_EINVAL, line_of_key(c, NULL, NULL), "kind is missing");
	if (!json_is_string(v))
		return add_fail(c, T0_EINVAL, line_of_key(c, entity, "kind"), "kind must be a string");
	kind_s = json_string_value(v);
	kind = kind_from_str(kind_s);
	if (kind < 0) {
		log_warn("catalog", "skip_kind", "file=%s doc=%d kind=%s", c->file ? c->file : "-",
			 c->doc, excerpt(kind_s, ex, sizeof(ex)));
		return T0_OK;
	}
	snprintf(c->label, sizeof(c->label), "%s", excerpt(kind_s, ex, sizeof(ex)));
	v = json_object_get(entity, "apiVersion");
	if (!v)
		return add_fail(c, T0_EINVAL, line_of_key(c, NULL, NULL), "apiVersion is missing");
	apiv = json_string_value(v);
	if (!apiv || (strcmp(apiv, "backstage.io/v1alpha1") != 0 &&
		      strcmp(apiv, "backstage.io/v1beta1") != 0))
		return add_fail(c, T0_EINVAL, line_of_key(c, entity, "apiVersion"),
				"unsupported apiVersion '%s' (expected backstage.io/v1alpha1 or "
				"backstage.io/v1beta1)",
				apiv ? excerpt(apiv, ex, sizeof(ex)) : "(not a string)");
	md = json_object_get(entity, "metadata");
	if (!md)
		return add_fail(c, T0_EINVAL, line_of_key(c, NULL, NULL), "metadata is missing");
	if (!json_is_object(md))
		return add_fail(c, T0_EINVAL, line_of_key(c, entity, "metadata"),
				"metadata must be a mapping");
	v = json_object_get(md, "name");
	if (!v)
		return add_fail(c, T0_EINVAL, line_of_key(c, entity, "metadata"),
				"metadata.name is missing");
	name = json_string_value(v);
	if (!name || !valid_name(name, strlen(name)))
		return add_fail(c, T0_EINVAL, line_of_key(c, md, "name"),
				"invalid metadata.name '%s': 1-63 letters or digits separated by "
				"single '-', '_' or '.'",
				name ? excerpt(name, ex, sizeof(ex)) : "(not a string)");
	v = json_object_get(md, "namespace");
	if (v && !json_is_null(v)) {
		ns = json_string_value(v);
		if (!ns || !valid_namespace(ns, strlen(ns)))
			return add_fail(c, T0_EINVAL, line_of_key(c, md, "namespace"),
					"invalid metadata.namespace '%s': 1-63 letters, digits or "
					"'-', starting and ending with a letter or digit",
					ns ? excerpt(ns, ex, sizeof(ex)) : "(not a string)");
	}
	snprintf(canon, sizeof(canon), "%s:%s/%s", kind_lower[kind], ns, name);
	copy_lower(canon, canon, strlen(canon));
	snprintf(c->label, sizeof(c->label), "%s", canon);

	spec = json_object_get(entity, "spec");
	if (spec && !json_is_object(spec))
		return add_fail(c, T0_EINVAL, line_of_key(c, entity, "spec"),
				"spec must be a mapping");
	if (!spec && kind != KIND_USER && kind != KIND_LOCATION)
		return add_fail(c, T0_EINVAL, line_of_key(c, NULL, NULL), "spec is missing");
	if (spec) {
		rc = check_required(c, kind, spec, line_of_key(c, entity, "spec"));
		if (rc)
			return rc;
	}

	other = lookup_ref(cat, canon);
	if (other) {
		char first[64] = "";

		if (other->pub.doc_index > 0)
			snprintf(first, sizeof(first), " document %d", other->pub.doc_index);
		return add_fail(c, T0_EDUP, line_of_key(c, md, "name"),
				"duplicate entity, first defined in %s%s",
				other->pub.file ? other->pub.file : "<entity>", first);
	}
	if (cat->n >= CATALOG_MAX_ENTITIES)
		return add_fail(c, T0_ETOOBIG, 0, "more than %d entities", CATALOG_MAX_ENTITIES);

	e = calloc(1, sizeof(*e));
	if (!e)
		return T0_ENOMEM;
	e->kind = kind;
	e->pub.kind = strdup(kind_s);
	e->pub.namespace = strdup(ns);
	e->pub.name = strdup(name);
	e->pub.ref = strdup(canon);
	e->pub.file = c->file ? strdup(c->file) : NULL;
	e->pub.doc_index = c->doc;
	if (!e->pub.kind || !e->pub.namespace || !e->pub.name || !e->pub.ref ||
	    (c->file && !e->pub.file)) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = add_relfields(c, e, spec);
	if (rc)
		goto out;
	e->ndecl = e->pub.nrels;
	e->pub.doc = json_deep_copy(entity);
	if (!e->pub.doc) {
		rc = T0_ENOMEM;
		goto out;
	}
	set_shortcuts(e);

	if (cat->n == cat->cap) {
		size_t ncap = cat->cap ? cat->cap * 2 : 64;
		struct ent **ne = realloc(cat->ents, ncap * sizeof(*ne));

		if (!ne) {
			rc = T0_ENOMEM;
			goto out;
		}
		cat->ents = ne;
		cat->cap = ncap;
	}
	rc = index_grow(cat);
	if (rc)
		goto out;
	e->idx = cat->n;
	cat->ents[cat->n++] = e;
	slot_put(cat->slots, cat->nslots, e->pub.ref, cat->n);
	e = NULL;
out:
	ent_free(e);
	return rc;
}

int catalog_add(struct catalog *cat, const json_t *entity, const char *file, int doc_index,
		char *err, size_t errlen)
{
	struct addctx c = { .file = file, .doc = doc_index, .err = err, .errlen = errlen };

	return add_entity(cat, entity, &c);
}

int catalog_put(struct catalog *cat, const json_t *entity, const char *file, int doc_index,
		int *replaced, char *err, size_t errlen)
{
	struct catalog *tmp;
	struct ent *ne, *old;
	int rc;

	if (replaced)
		*replaced = 0;
	tmp = catalog_new();
	if (!tmp)
		return T0_ENOMEM;
	/* Validated and parsed on its own first, so a bad document changes nothing. */
	rc = catalog_add(tmp, entity, file, doc_index, err, errlen);
	if (rc != T0_OK || tmp->n == 0) {
		catalog_free(tmp);
		return rc;
	}
	ne = tmp->ents[0];
	old = lookup_ref(cat, ne->pub.ref);
	if (!old) {
		catalog_free(tmp);
		return catalog_add(cat, entity, file, doc_index, err, errlen);
	}
	/* Same struct, new contents: pointers to the entity stay valid. */
	for (size_t i = 0; i < old->pub.nrels; i++)
		free(old->pub.rels[i].target_ref);
	free(old->pub.rels);
	free(old->pub.kind);
	free(old->pub.namespace);
	free(old->pub.name);
	free(old->pub.ref);
	free(old->pub.file);
	json_decref(old->pub.doc);
	old->pub = ne->pub;
	old->kind = ne->kind;
	old->ndecl = ne->ndecl;
	free(ne);
	tmp->n = 0;
	catalog_free(tmp);
	if (replaced)
		*replaced = 1;
	return T0_OK;
}

int catalog_add_ydoc(struct catalog *cat, const struct ydoc *doc, char *err, size_t errlen)
{
	struct addctx c = { .err = err, .errlen = errlen };

	if (!doc)
		return T0_EINVAL;
	c.yd = doc;
	c.file = doc->file;
	c.doc = doc->index + 1;
	return add_entity(cat, doc->root, &c);
}

/* ---- relations ---- */

/* A set of (source entity, type, target ref) so no relation is recorded twice. */
struct relset {
	struct {
		size_t src, rel; /* entity index and position in its rels; src + 1, 0 = empty */
	} *slots;
	size_t nslots;
};

static size_t relset_hash(size_t src, int type, const char *ref)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)src * 0x9e3779b97f4a7c15ull);

	h = (h ^ (uint64_t)type) * 1099511628211ull;
	return (size_t)hash_str(ref, h);
}

/* Returns 1 when (src, type, ref) is present; otherwise records it as rels[rel] and returns 0. */
static int relset_check_put(struct relset *s, const struct catalog *cat, size_t src, int type,
			    const char *ref, size_t rel)
{
	size_t mask = s->nslots - 1, i = relset_hash(src, type, ref) & mask;

	while (s->slots[i].src) {
		const struct ent *e = cat->ents[s->slots[i].src - 1];
		const struct cat_rel *r = &e->pub.rels[s->slots[i].rel];

		if (s->slots[i].src - 1 == src && r->type == type && strcmp(r->target_ref, ref) == 0)
			return 1;
		i = (i + 1) & mask;
	}
	s->slots[i].src = src + 1;
	s->slots[i].rel = rel;
	return 0;
}

int catalog_finish(struct catalog *cat)
{
	struct relset set = { 0 };
	size_t total = 0;
	int rc = T0_OK;

	if (!cat)
		return T0_EINVAL;
	/* Start over from the declared relations so finishing twice gives the same graph. */
	for (size_t i = 0; i < cat->n; i++) {
		struct ent *e = cat->ents[i];

		for (size_t j = e->ndecl; j < e->pub.nrels; j++)
			free(e->pub.rels[j].target_ref);
		e->pub.nrels = e->ndecl;
		for (size_t j = 0; j < e->ndecl; j++)
			e->pub.rels[j].target = NULL;
		total += e->ndecl;
	}
	set.nslots = 64;
	while (set.nslots < total * 4)
		set.nslots *= 2;
	set.slots = calloc(set.nslots, sizeof(*set.slots));
	if (!set.slots)
		return T0_ENOMEM;

	/* Drop repeated declarations ("members: [a, a]"). */
	for (size_t i = 0; i < cat->n; i++) {
		struct ent *e = cat->ents[i];
		size_t keep = 0;

		for (size_t j = 0; j < e->ndecl; j++) {
			struct cat_rel r = e->pub.rels[j];

			e->pub.rels[keep] = r;
			if (relset_check_put(&set, cat, i, r.type, r.target_ref, keep))
				free(r.target_ref);
			else
				keep++;
		}
		e->ndecl = e->pub.nrels = keep;
	}

	for (size_t i = 0; i < cat->n && rc == T0_OK; i++) {
		struct ent *e = cat->ents[i];

		for (size_t j = 0; j < e->ndecl && rc == T0_OK; j++) {
			struct cat_rel *r = &e->pub.rels[j];
			struct ent *t = lookup_ref(cat, r->target_ref);
			int inv = rel_inverse(r->type);
			char *back;

			r->target = t ? &t->pub : NULL;
			if (!t)
				continue;
			if (relset_check_put(&set, cat, t->idx, inv, e->pub.ref, t->pub.nrels))
				continue;
			back = strdup(e->pub.ref);
			if (!back) {
				rc = T0_ENOMEM;
				break;
			}
			/* r may move if t == e and rels is reallocated; it is not used after this. */
			rc = rel_push(t, inv, back, &e->pub);
		}
	}
	free(set.slots);
	return rc;
}

/* ---- lookups ---- */

struct cat_entity *catalog_get(const struct catalog *cat, const char *ref)
{
	char canon[CAT_MAX_REF];
	struct ent *e;

	if (!cat || !ref)
		return NULL;
	if (ref_has_kind(ref)) {
		if (ref_parse_buf(ref, NULL, "default", canon) != 0)
			return NULL;
		e = lookup_ref(cat, canon);
		return e ? &e->pub : NULL;
	}
	/* A short ref never means a Location: those only steer the file loader. */
	for (int k = 0; k < KIND_LOCATION; k++) {
		if (ref_parse_buf(ref, kind_lower[k], "default", canon) != 0)
			return NULL;
		e = lookup_ref(cat, canon);
		if (e)
			return &e->pub;
	}
	return NULL;
}

/*
 * Lower-case; spaces, '_' and '-' (in runs) become one '-'; trimmed. Returns the
 * length, or -1 when the result would not fit.
 */
static int normalize(const char *s, char *out, size_t outlen)
{
	size_t n = 0;
	int sep = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isspace(ch) || ch == '_' || ch == '-') {
			sep = n > 0;
			continue;
		}
		if (n + 2 >= outlen)
			return -1;
		if (sep)
			out[n++] = '-';
		sep = 0;
		out[n++] = (char)tolower(ch);
	}
	out[n] = '\0';
	return (int)n;
}

static int better(int tier, const struct ent *e, int best_tier, const struct ent *best)
{
	int ns_e, ns_b;

	if (!best)
		return 1;
	if (tier != best_tier)
		return tier < best_tier;
	if (e->kind != best->kind)
		return e->kind < best->kind;
	ns_e = strcasecmp(e->pub.namespace, "default") != 0;
	ns_b = strcasecmp(best->pub.namespace, "default") != 0;
	if (ns_e != ns_b)
		return ns_e < ns_b;
	return e->idx < best->idx;
}

struct cat_entity *catalog_find(const struct catalog *cat, const char *name)
{
	char q[CAT_MAX_QUERY], raw[CAT_MAX_QUERY], buf[CAT_MAX_QUERY];
	const struct ent *best = NULL;
	int best_tier = 99;
	size_t len;

	if (!cat || !name)
		return NULL;
	while (isspace((unsigned char)*name))
		name++;
	len = strlen(name);
	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	if (!len || len >= sizeof(raw))
		return NULL;
	memcpy(raw, name, len);
	raw[len] = '\0';
	if (strchr(raw, ':') || strchr(raw, '/')) {
		struct cat_entity *e = catalog_get(cat, raw);

		if (e)
			return e;
	}
	if (normalize(raw, q, sizeof(q)) <= 0)
		return NULL;
	for (size_t i = 0; i < cat->n; i++) {
		const struct ent *e = cat->ents[i];
		int tier;

		if (e->kind == KIND_LOCATION)
			continue;
		if (strcasecmp(e->pub.name, raw) == 0)
			tier = 0;
		else if (normalize(e->pub.name, buf, sizeof(buf)) > 0 && strcmp(buf, q) == 0)
			tier = 1;
		else if (e->pub.title && normalize(e->pub.title, buf, sizeof(buf)) > 0 &&
			 strcmp(buf, q) == 0)
			tier = 2;
		else
			continue;
		if (better(tier, e, best_tier, best)) {
			best = e;
			best_tier = tier;
		}
	}
	return best ? (struct cat_entity *)&best->pub : NULL;
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions). */
static int osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
	int rows[3][CAT_MAX_QUERY + 1];
	int *pp = rows[0], *p = rows[1], *cur = rows[2];

	for (size_t j = 0; j <= lb; j++)
		p[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int *tmp;

		cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] != b[j - 1];
			int d = p[j] + 1;

			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (p[j - 1] + cost < d)
				d = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < d)
				d = pp[j - 2] + 1;
			cur[j] = d;
		}
		tmp = pp;
		pp = p;
		p = cur;
		cur = tmp;
	}
	return p[lb];
}

static int dist_within(const char *q, size_t lq, const char *s, int thr)
{
	char buf[CAT_MAX_QUERY];
	int ls = s ? normalize(s, buf, sizeof(buf)) : -1;
	int diff;

	if (ls <= 0)
		return -1;
	diff = ls > (int)lq ? ls - (int)lq : (int)lq - ls;
	if (diff > thr)
		return -1;
	return osa_distance(q, lq, buf, (size_t)ls);
}

const struct cat_entity *catalog_suggest(const struct catalog *cat, const char *name)
{
	char q[CAT_MAX_QUERY], buf[CAT_MAX_QUERY];
	const struct ent *best = NULL, *weak = NULL;
	int best_d = 0, weak_score = 0, lq, thr;

	if (!cat || !name)
		return NULL;
	lq = normalize(name, q, sizeof(q));
	if (lq <= 0)
		return NULL;
	thr = lq / 4 > 2 ? lq / 4 : 2;
	for (size_t i = 0; i < cat->n; i++) {
		const struct ent *e = cat->ents[i];
		int d = dist_within(q, (size_t)lq, e->pub.name, thr);
		int dt = dist_within(q, (size_t)lq, e->pub.title, thr);
		int ln;

		if (e->kind == KIND_LOCATION)
			continue;
		if (dt >= 0 && (d < 0 || dt < d))
			d = dt;
		if (d >= 0 && d <= thr) {
			if (!best || d < best_d ||
			    (d == best_d && (e->kind < best->kind ||
					     (e->kind == best->kind &&
					      strcmp(e->pub.ref, best->pub.ref) < 0)))) {
				best = e;
				best_d = d;
			}
			continue;
		}
		if (best || lq < 3)
			continue;
		ln = normalize(e->pub.name, buf, sizeof(buf));
		if (ln <= 0 || !strstr(buf, q))
			continue;
		/* A prefix beats a substring, then the shorter name, then kind order. */
		{
			int score = (strncmp(buf, q, (size_t)lq) == 0 ? 0 : 1000) + ln * 10 + e->kind;

			if (!weak || score < weak_score ||
			    (score == weak_score && strcmp(e->pub.ref, weak->pub.ref) < 0)) {
				weak = e;
				weak_score = score;
			}
		}
	}
	if (best)
		return &best->pub;
	return weak ? &weak->pub : NULL;
}

struct cat_entity *catalog_owner(const struct catalog *cat, const struct cat_entity *e)
{
	if (!cat || !e)
		return NULL;
	for (size_t i = 0; i < e->nrels; i++)
		if (e->rels[i].type == CAT_REL_OWNED_BY)
			return e->rels[i].target;
	return NULL;
}

struct cat_entity *catalog_user_by_email(const struct catalog *cat, const char *email)
{
	if (!cat || !email || !*email)
		return NULL;
	for (size_t i = 0; i < cat->n; i++) {
		struct ent *e = cat->ents[i];

		if (e->kind == KIND_USER && e->pub.email && strcasecmp(e->pub.email, email) == 0)
			return &e->pub;
	}
	return NULL;
}

struct cat_entity *catalog_user(const struct catalog *cat, const char *name)
{
	char canon[CAT_MAX_REF];
	struct ent *e;

	if (!cat || !name)
		return NULL;
	if (ref_parse_buf(name, "user", "default", canon) == 0) {
		e = lookup_ref(cat, canon);
		if (e && e->kind == KIND_USER)
			return &e->pub;
	}
	if (strchr(name, ':') || strchr(name, '/'))
		return NULL;
	/* A user of another namespace, by name alone. */
	for (size_t i = 0; i < cat->n; i++) {
		e = cat->ents[i];
		if (e->kind == KIND_USER && strcasecmp(e->pub.name, name) == 0)
			return &e->pub;
	}
	return NULL;
}

const char *catalog_annotation(const struct cat_entity *e, const char *key)
{
	const json_t *ann;

	if (!e || !key)
		return NULL;
	ann = json_object_get(json_object_get(e->doc, "metadata"), "annotations");
	return json_string_value(json_object_get(ann, key));
}

/* ---- walks ---- */

static int walk_follows(int dir, const struct ent *cur, int type)
{
	if (dir == CAT_WALK_DEPENDENCIES)
		return type == CAT_REL_DEPENDS_ON || type == CAT_REL_CONSUMES_API ||
		       (cur->kind == KIND_API && type == CAT_REL_API_PROVIDED_BY);
	return type == CAT_REL_DEPENDENCY_OF || type == CAT_REL_PROVIDES_API ||
	       (cur->kind == KIND_API && type == CAT_REL_API_CONSUMED_BY);
}

int catalog_walk(const struct catalog *cat, const struct cat_entity *e, int dir, int max_depth,
		 struct cat_walk_item **items, size_t *nitems)
{
	const struct ent *start = (const struct ent *)(const void *)e;
	const struct ent *cur;
	struct cat_walk_item *out = NULL;
	unsigned char *seen = NULL;
	size_t n = 0, cap = 0, head = 0;
	int depth = 0, rc = T0_OK;

	if (items)
		*items = NULL;
	if (nitems)
		*nitems = 0;
	if (!cat || !e || !items || !nitems)
		return T0_EINVAL;
	if (dir != CAT_WALK_DEPENDENCIES && dir != CAT_WALK_DEPENDENTS)
		return T0_EINVAL;
	if (start->idx >= cat->n || cat->ents[start->idx] != start)
		return T0_EINVAL;
	seen = calloc(cat->n, 1);
	if (!seen)
		return T0_ENOMEM;
	seen[start->idx] = 1;
	cur = start;
	for (;;) {
		if (!max_depth || depth < max_depth) {
			for (size_t i = 0; i < cur->pub.nrels; i++) {
				const struct cat_rel *r = &cur->pub.rels[i];
				const struct ent *t = (const struct ent *)(const void *)r->target;

				if (!t || !walk_follows(dir, cur, r->type) || seen[t->idx])
					continue;
				seen[t->idx] = 1;
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 16;
					struct cat_walk_item *no = realloc(out, ncap * sizeof(*no));

					if (!no) {
						rc = T0_ENOMEM;
						goto out;
					}
					out = no;
					cap = ncap;
				}
				out[n].entity = r->target;
				out[n].depth = depth + 1;
				out[n].via = (struct cat_entity *)&cur->pub;
				n++;
			}
		}
		if (head >= n)
			break;
		cur = (const struct ent *)(const void *)out[head].entity;
		depth = out[head].depth;
		head++;
	}
	*items = out;
	*nitems = n;
	out = NULL;
out:
	free(out);
	free(seen);
	return rc;
}
