#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/catalog.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "bot/yload.h"

#define DATA_DIR T0_SOURCE_DIR "/tests/data/catalog"
#define BACKSTAGE_DIR T0_FIXTURES "/backstage"

struct fx {
	struct catalog *cat;
	char err[1024];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	log_set_level(LOG_LEVEL_ERR);
	f->cat = catalog_new();
	*state = f;
	return f->cat ? 0 : -1;
}

static int setup_graph(void **state)
{
	const char *globs[] = { "graph.yaml" };
	struct fx *f;

	if (setup(state))
		return -1;
	f = *state;
	if (catalog_load_files(f->cat, globs, 1, DATA_DIR, f->err, sizeof(f->err)) != T0_OK) {
		fprintf(stderr, "graph.yaml: %s\n", f->err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	catalog_free(f->cat);
	free(f);
	return 0;
}

/* How many relations of e have this type and target ref. */
static int nrel(const struct cat_entity *e, int type, const char *ref)
{
	int n = 0;

	for (size_t i = 0; i < e->nrels; i++)
		if (e->rels[i].type == type && strcmp(e->rels[i].target_ref, ref) == 0)
			n++;
	return n;
}

static const struct cat_rel *rel(const struct cat_entity *e, int type, const char *ref)
{
	for (size_t i = 0; i < e->nrels; i++)
		if (e->rels[i].type == type && strcmp(e->rels[i].target_ref, ref) == 0)
			return &e->rels[i];
	return NULL;
}

static struct cat_entity *get(struct fx *f, const char *ref)
{
	struct cat_entity *e = catalog_get(f->cat, ref);

	if (!e)
		fail_msg("no entity %s", ref);
	return e;
}

/* Parses yaml as a file called name and adds every document; returns the first error. */
static int add_yaml(struct fx *f, const char *name, const char *yaml)
{
	struct ydocs docs;
	int rc;

	rc = yload_parse(name, yaml, strlen(yaml), &docs, f->err, sizeof(f->err));
	if (rc)
		return rc;
	for (size_t i = 0; i < docs.n && rc == T0_OK; i++)
		rc = catalog_add_ydoc(f->cat, &docs.docs[i], f->err, sizeof(f->err));
	ydocs_free(&docs);
	if (rc == T0_OK)
		rc = catalog_finish(f->cat);
	return rc;
}

/* ---- Backstage fixtures ---- */

static void test_catalog_loads_backstage_fixtures(void **state)
{
	struct fx *f = *state;
	const char *globs[] = { "team-a-group.yaml", "artist-lookup-component.yaml",
				"artists-db-resource.yaml", "wayback-search-api.yaml",
				"pagerduty-api-schema-catalog-info.yaml" };
	struct cat_entity *team, *guest_dev, *artist, *db, *api, *schema, *janelle;
	const struct cat_rel *r;

	assert_int_equal(catalog_load_files(f->cat, globs, 5, BACKSTAGE_DIR, f->err,
					    sizeof(f->err)),
			 T0_OK);
	assert_int_equal(catalog_count(f->cat), 10);

	team = get(f, "group:default/team-a");
	assert_string_equal(team->kind, "Group");
	assert_string_equal(team->email, "team-a@example.com");
	assert_null(team->display_name);
	assert_int_equal(team->doc_index, 1);
	assert_non_null(strstr(team->file, "team-a-group.yaml"));
	/* four users of the default namespace plus the one in "development" */
	assert_int_equal(nrel(team, CAT_REL_HAS_MEMBER, "user:default/guest"), 1);
	assert_int_equal(nrel(team, CAT_REL_HAS_MEMBER, "user:development/guest"), 1);
	assert_int_equal(nrel(team, CAT_REL_HAS_MEMBER, "user:default/breanna.davison"), 1);
	r = rel(team, CAT_REL_CHILD_OF, "group:default/backstage");
	assert_non_null(r);
	assert_null(r->target); /* the parent group is not in these files */

	guest_dev = get(f, "user:development/guest");
	assert_string_equal(guest_dev->namespace, "development");
	assert_int_equal(guest_dev->doc_index, 6);
	r = rel(guest_dev, CAT_REL_MEMBER_OF, "group:default/team-a");
	assert_non_null(r);
	assert_ptr_equal(r->target, team);

	janelle = catalog_user_by_email(f->cat, "JANELLE-DAWE@example.com");
	assert_non_null(janelle);
	assert_string_equal(janelle->name, "janelle.dawe");
	assert_string_equal(janelle->display_name, "Janelle Dawe");

	artist = get(f, "component:default/artist-lookup");
	db = get(f, "resource:artists-db");
	r = rel(artist, CAT_REL_DEPENDS_ON, "resource:default/artists-db");
	assert_non_null(r);
	assert_ptr_equal(r->target, db);
	assert_int_equal(nrel(db, CAT_REL_DEPENDENCY_OF, "component:default/artist-lookup"), 1);
	r = rel(artist, CAT_REL_PART_OF, "system:default/artist-engagement-portal");
	assert_non_null(r);
	assert_null(r->target);
	assert_ptr_equal(catalog_owner(f->cat, artist), team);
	assert_string_equal(artist->lifecycle, "experimental");
	assert_string_equal(catalog_annotation(artist, "backstage.io/techdocs-ref"),
			    "url:https://github.com/jsqcloud/backstage/tree/master");

	api = get(f, "api:default/wayback-search");
	assert_string_equal(api->type, "openapi");
	assert_ptr_equal(catalog_owner(f->cat, api), team);

	schema = catalog_find(f->cat, "api-schema");
	assert_non_null(schema);
	assert_string_equal(schema->ref, "component:default/api-schema");
	assert_string_equal(catalog_annotation(schema, "github.com/project-slug"),
			    "pagerduty/api-schema");
	assert_string_equal(catalog_annotation(schema, "argocd/app-selector"),
			    "app.kubernetes.io/name=api-schema");
	assert_null(catalog_annotation(schema, "pagerduty.com/service-id"));
	assert_null(catalog_owner(f->cat, schema));
	assert_non_null(rel(schema, CAT_REL_OWNED_BY, "group:default/dev-ecosystem-and-public-apis"));
}

/* ---- refs ---- */

static void check_ref(const char *in, const char *dk, const char *dns, const char *want)
{
	char *got = catalog_ref_parse(in, dk, dns);

	if (!want) {
		if (got)
			fail_msg("'%s' parsed as '%s', expected NULL", in ? in : "(null)", got);
		return;
	}
	if (!got)
		fail_msg("'%s' did not parse", in ? in : "(null)");
	assert_string_equal(got, want);
	free(got);
}

static void test_catalog_ref_parse_defaults_and_lowercases(void **state)
{
	(void)state;
	check_ref("team-a", "group", "default", "group:default/team-a");
	check_ref("team-a", "group", NULL, "group:default/team-a");
	check_ref("Component:Default/Artist-Lookup", "group", "x", "component:default/artist-lookup");
	check_ref("resource:artists-db", "component", "ns1", "resource:ns1/artists-db");
	check_ref("development/guest", "user", "default", "user:development/guest");
	check_ref("API:wayback-search", NULL, NULL, "api:default/wayback-search");
	check_ref("breanna.davison", "user", "default", "user:default/breanna.davison");
}

static void test_catalog_ref_parse_rejects_malformed(void **state)
{
	(void)state;
	check_ref("", "group", "default", NULL);
	check_ref(":x", "group", "default", NULL);
	check_ref("component:", "group", "default", NULL);
	check_ref("component:ns/", "group", "default", NULL);
	check_ref("a/b/c", "group", "default", NULL);
	check_ref("ns/kind:name", "group", "default", NULL); /* ':' after '/' is not a kind */
	check_ref("two words", "group", "default", NULL);
	check_ref("foo", NULL, "default", NULL); /* no kind and no default */
	check_ref("-foo", "group", "default", NULL);
	check_ref("a--b", "group", "default", NULL);
	check_ref(NULL, "group", "default", NULL);
}

static void test_catalog_refs_default_to_the_entity_namespace(void **state)
{
	struct fx *f = *state;
	struct cat_entity *e;

	assert_int_equal(add_yaml(f, "ops.yaml",
				  "apiVersion: backstage.io/v1alpha1\n"
				  "kind: Component\n"
				  "metadata: {name: probe, namespace: ops}\n"
				  "spec:\n"
				  "  type: service\n"
				  "  lifecycle: production\n"
				  "  owner: sre\n"
				  "  system: monitoring\n"
				  "  consumesApis: [metrics]\n"
				  "  dependsOn: [db1, resource:default/db2]\n"),
			 T0_OK);
	e = get(f, "component:ops/probe");
	assert_int_equal(nrel(e, CAT_REL_OWNED_BY, "group:ops/sre"), 1);
	assert_int_equal(nrel(e, CAT_REL_PART_OF, "system:ops/monitoring"), 1);
	assert_int_equal(nrel(e, CAT_REL_CONSUMES_API, "api:ops/metrics"), 1);
	/* Backstage has no default kind for dependsOn; we assume component (with a warning). */
	assert_int_equal(nrel(e, CAT_REL_DEPENDS_ON, "component:ops/db1"), 1);
	assert_int_equal(nrel(e, CAT_REL_DEPENDS_ON, "resource:default/db2"), 1);
	assert_int_equal(e->nrels, 5);
}

/* ---- relations ---- */

static void test_catalog_relations_are_computed_both_ways(void **state)
{
	struct fx *f = *state;
	struct cat_entity *web = get(f, "component:web"), *webteam = get(f, "group:web-team");
	struct cat_entity *checkout = get(f, "component:checkout");
	struct cat_entity *payments = get(f, "component:payments");
	struct cat_entity *ledger = get(f, "component:ledger"), *shop = get(f, "system:shop");
	struct cat_entity *commerce = get(f, "domain:commerce");
	struct cat_entity *paydom = get(f, "domain:payments-domain");
	struct cat_entity *worker = get(f, "component:payments-worker");
	struct cat_entity *capi = get(f, "api:checkout-api"), *fraud = get(f, "component:fraud");
	struct cat_entity *papi = get(f, "api:payment-api"), *alice = get(f, "user:alice");
	struct cat_entity *bob = get(f, "user:bob"), *pteam = get(f, "group:payments-team");
	struct cat_entity *platform = get(f, "group:platform");
	const struct cat_rel *r;

	/* ownedBy / ownerOf */
	r = rel(web, CAT_REL_OWNED_BY, "group:default/web-team");
	assert_non_null(r);
	assert_ptr_equal(r->target, webteam);
	r = rel(webteam, CAT_REL_OWNER_OF, "component:default/web");
	assert_non_null(r);
	assert_ptr_equal(r->target, web);
	assert_int_equal(nrel(alice, CAT_REL_OWNER_OF, "component:default/payments-worker"), 1);
	/* dependsOn / dependencyOf, from dependsOn ... */
	assert_int_equal(nrel(checkout, CAT_REL_DEPENDS_ON, "component:default/payments"), 1);
	assert_int_equal(nrel(payments, CAT_REL_DEPENDENCY_OF, "component:default/checkout"), 1);
	/* ... and from dependencyOf */
	assert_int_equal(nrel(ledger, CAT_REL_DEPENDENCY_OF, "component:default/payments"), 1);
	r = rel(payments, CAT_REL_DEPENDS_ON, "component:default/ledger");
	assert_non_null(r);
	assert_ptr_equal(r->target, ledger);
	/* partOf / hasPart: system, domain, subcomponentOf, subdomainOf */
	assert_int_equal(nrel(web, CAT_REL_PART_OF, "system:default/shop"), 1);
	assert_int_equal(nrel(shop, CAT_REL_HAS_PART, "component:default/web"), 1);
	assert_int_equal(nrel(shop, CAT_REL_HAS_PART, "api:default/checkout-api"), 1);
	assert_int_equal(nrel(shop, CAT_REL_PART_OF, "domain:default/commerce"), 1);
	assert_int_equal(nrel(commerce, CAT_REL_HAS_PART, "system:default/shop"), 1);
	assert_int_equal(nrel(worker, CAT_REL_PART_OF, "component:default/payments"), 1);
	assert_int_equal(nrel(payments, CAT_REL_HAS_PART, "component:default/payments-worker"), 1);
	assert_int_equal(nrel(paydom, CAT_REL_PART_OF, "domain:default/commerce"), 1);
	assert_int_equal(nrel(commerce, CAT_REL_HAS_PART, "domain:default/payments-domain"), 1);
	/* providesApi / apiProvidedBy, consumesApi / apiConsumedBy */
	assert_int_equal(nrel(checkout, CAT_REL_PROVIDES_API, "api:default/checkout-api"), 1);
	assert_int_equal(nrel(capi, CAT_REL_API_PROVIDED_BY, "component:default/checkout"), 1);
	assert_int_equal(nrel(fraud, CAT_REL_CONSUMES_API, "api:default/payment-api"), 1);
	assert_int_equal(nrel(papi, CAT_REL_API_CONSUMED_BY, "component:default/fraud"), 1);
	/* memberOf / hasMember, from Group.members and from User.memberOf */
	assert_int_equal(nrel(pteam, CAT_REL_HAS_MEMBER, "user:default/alice"), 1);
	assert_int_equal(nrel(alice, CAT_REL_MEMBER_OF, "group:default/payments-team"), 1);
	assert_int_equal(nrel(bob, CAT_REL_MEMBER_OF, "group:default/web-team"), 1);
	assert_int_equal(nrel(webteam, CAT_REL_HAS_MEMBER, "user:default/bob"), 1);
	/* childOf / parentOf from Group.parent and Group.children, declared twice, kept once */
	assert_int_equal(nrel(pteam, CAT_REL_CHILD_OF, "group:default/platform"), 1);
	assert_int_equal(nrel(platform, CAT_REL_PARENT_OF, "group:default/payments-team"), 1);
	assert_int_equal(nrel(webteam, CAT_REL_CHILD_OF, "group:default/platform"), 1);
	assert_int_equal(nrel(platform, CAT_REL_PARENT_OF, "group:default/web-team"), 1);
	/* a target outside the catalog keeps its ref */
	r = rel(web, CAT_REL_DEPENDS_ON, "resource:default/cdn");
	assert_non_null(r);
	assert_null(r->target);
	assert_string_equal(cat_rel_name(CAT_REL_API_PROVIDED_BY), "apiProvidedBy");
	assert_string_equal(cat_rel_name(CAT_REL_PARENT_OF), "parentOf");
}

static void test_catalog_finish_twice_gives_the_same_relations(void **state)
{
	struct fx *f = *state;
	struct cat_entity *platform = get(f, "group:platform");
	size_t before = platform->nrels;

	assert_int_equal(catalog_finish(f->cat), T0_OK);
	assert_int_equal(platform->nrels, before);
	assert_int_equal(nrel(platform, CAT_REL_PARENT_OF, "group:default/payments-team"), 1);
}

static void test_catalog_duplicate_declarations_make_one_relation(void **state)
{
	struct fx *f = *state;
	struct cat_entity *g, *u;

	assert_int_equal(add_yaml(f, "dups.yaml",
				  "apiVersion: backstage.io/v1alpha1\n"
				  "kind: Group\n"
				  "metadata: {name: g}\n"
				  "spec: {type: team, children: [], members: [u, user:default/U]}\n"
				  "---\n"
				  "apiVersion: backstage.io/v1alpha1\n"
				  "kind: User\n"
				  "metadata: {name: u}\n"
				  "spec: {memberOf: [g, G]}\n"),
			 T0_OK);
	g = get(f, "group:g");
	u = get(f, "user:u");
	assert_int_equal(g->nrels, 1);
	assert_int_equal(u->nrels, 1);
	assert_ptr_equal(g->rels[0].target, u);
	assert_ptr_equal(u->rels[0].target, g);
}

/* ---- walks ---- */

static void expect_item(const struct cat_walk_item *it, const char *ref, int depth, const char *via)
{
	assert_string_equal(it->entity->ref, ref);
	assert_int_equal(it->depth, depth);
	assert_string_equal(it->via->ref, via);
}

static void test_catalog_blast_radius_is_transitive(void **state)
{
	struct fx *f = *state;
	struct cat_walk_item *it = NULL;
	size_t n = 0;

	assert_int_equal(catalog_walk(f->cat, get(f, "resource:payments-db"), CAT_WALK_DEPENDENTS,
				      0, &it, &n),
			 T0_OK);
	assert_int_equal(n, 6);
	expect_item(&it[0], "component:default/payments", 1, "resource:default/payments-db");
	expect_item(&it[1], "api:default/payment-api", 2, "component:default/payments");
	expect_item(&it[2], "component:default/checkout", 2, "component:default/payments");
	expect_item(&it[3], "component:default/fraud", 3, "api:default/payment-api");
	expect_item(&it[4], "api:default/checkout-api", 3, "component:default/checkout");
	expect_item(&it[5], "component:default/web", 4, "api:default/checkout-api");
	free(it);
}

static void test_catalog_dependencies_go_through_apis(void **state)
{
	struct fx *f = *state;
	struct cat_walk_item *it = NULL;
	size_t n = 0;

	assert_int_equal(catalog_walk(f->cat, get(f, "component:web"), CAT_WALK_DEPENDENCIES, 0,
				      &it, &n),
			 T0_OK);
	assert_int_equal(n, 5); /* resource:cdn is not in the catalog */
	expect_item(&it[0], "api:default/checkout-api", 1, "component:default/web");
	expect_item(&it[1], "component:default/checkout", 2, "api:default/checkout-api");
	expect_item(&it[2], "component:default/payments", 3, "component:default/checkout");
	expect_item(&it[3], "resource:default/payments-db", 4, "component:default/payments");
	expect_item(&it[4], "component:default/ledger", 4, "component:default/payments");
	free(it);
}

static void test_catalog_walk_respects_max_depth(void **state)
{
	struct fx *f = *state;
	struct cat_walk_item *it = NULL;
	size_t n = 0;

	assert_int_equal(catalog_walk(f->cat, get(f, "component:web"), CAT_WALK_DEPENDENCIES, 2,
				      &it, &n),
			 T0_OK);
	assert_int_equal(n, 2);
	expect_item(&it[1], "component:default/checkout", 2, "api:default/checkout-api");
	free(it);
	assert_int_equal(catalog_walk(f->cat, get(f, "component:ledger"), CAT_WALK_DEPENDENCIES, 0,
				      &it, &n),
			 T0_OK);
	assert_int_equal(n, 0);
	assert_null(it);
}

static void test_catalog_walk_survives_cycles(void **state)
{
	struct fx *f = *state;
	struct cat_walk_item *it = NULL;
	size_t n = 0;

	assert_int_equal(
		add_yaml(f, "cycle.yaml",
			 "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n"
			 "spec: {type: service, lifecycle: production, owner: t, dependsOn: [component:b]}\n"
			 "---\n"
			 "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: b}\n"
			 "spec: {type: service, lifecycle: production, owner: t, dependsOn: [component:c]}\n"
			 "---\n"
			 "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c}\n"
			 "spec: {type: service, lifecycle: production, owner: t, dependsOn: [component:a]}\n"),
		T0_OK);
	assert_int_equal(catalog_walk(f->cat, get(f, "component:a"), CAT_WALK_DEPENDENCIES, 0, &it,
				      &n),
			 T0_OK);
	assert_int_equal(n, 2);
	expect_item(&it[0], "component:default/b", 1, "component:default/a");
	expect_item(&it[1], "component:default/c", 2, "component:default/b");
	free(it);
	assert_int_equal(catalog_walk(f->cat, get(f, "component:a"), CAT_WALK_DEPENDENTS, 0, &it,
				      &n),
			 T0_OK);
	assert_int_equal(n, 2);
	expect_item(&it[0], "component:default/c", 1, "component:default/a");
	expect_item(&it[1], "component:default/b", 2, "component:default/c");
	free(it);
}

/* ---- lookups ---- */

static void test_catalog_find_accepts_what_people_type(void **state)
{
	struct fx *f = *state;
	struct cat_entity *e;

	e = catalog_find(f->cat, "Payment API");
	assert_non_null(e);
	assert_string_equal(e->ref, "api:default/payment-api");
	assert_ptr_equal(catalog_find(f->cat, "  PAYMENT-api "), e);
	assert_ptr_equal(catalog_find(f->cat, "payment_api"), e);
	/* Component is preferred over the System of the same name */
	assert_string_equal(catalog_find(f->cat, "Payments")->ref, "component:default/payments");
	assert_string_equal(catalog_find(f->cat, "system:payments")->ref, "system:default/payments");
	assert_string_equal(catalog_find(f->cat, "component:default/web")->ref,
			    "component:default/web");
	/* by title */
	assert_string_equal(catalog_find(f->cat, "web shop")->ref, "component:default/web");
	assert_string_equal(catalog_find(f->cat, "Payments Team")->ref, "group:default/payments-team");
	assert_null(catalog_find(f->cat, "payment-ap1"));
	assert_null(catalog_find(f->cat, ""));
	assert_null(catalog_find(f->cat, "location:shop-root"));
	assert_string_equal(catalog_get(f->cat, "payments")->ref, "component:default/payments");
	assert_null(catalog_get(f->cat, "component:nope"));
}

static void test_catalog_suggest_finds_near_misses(void **state)
{
	struct fx *f = *state;

	assert_string_equal(catalog_suggest(f->cat, "payment-ap1")->ref, "api:default/payment-api");
	assert_string_equal(catalog_suggest(f->cat, "Payment APl")->ref, "api:default/payment-api");
	/* a transposition; Component wins the tie with the System of the same name */
	assert_string_equal(catalog_suggest(f->cat, "paymnets")->ref, "component:default/payments");
	assert_string_equal(catalog_suggest(f->cat, "ledgr")->ref, "component:default/ledger");
	/* by title */
	assert_string_equal(catalog_suggest(f->cat, "web shp")->ref, "component:default/web");
	/* substring as a weaker suggestion */
	assert_string_equal(catalog_suggest(f->cat, "worker")->ref,
			    "component:default/payments-worker");
	assert_null(catalog_suggest(f->cat, "xyzzy-quux"));
	assert_null(catalog_suggest(f->cat, ""));
}

static void test_catalog_owner_and_users(void **state)
{
	struct fx *f = *state;

	assert_string_equal(catalog_owner(f->cat, get(f, "component:web"))->ref,
			    "group:default/web-team");
	assert_string_equal(catalog_owner(f->cat, get(f, "component:payments-worker"))->ref,
			    "user:default/alice");
	assert_null(catalog_owner(f->cat, get(f, "user:alice")));
	assert_string_equal(catalog_user_by_email(f->cat, "bob@example.com")->ref,
			    "user:default/bob");
	assert_null(catalog_user_by_email(f->cat, "nobody@example.com"));
	assert_string_equal(catalog_user(f->cat, "Alice")->ref, "user:default/alice");
	assert_string_equal(catalog_user(f->cat, "user:default/alice")->display_name,
			    "Alice Example");
	assert_null(catalog_user(f->cat, "platform")); /* a Group, not a User */
	assert_null(catalog_user(f->cat, "group:platform"));
	assert_string_equal(catalog_annotation(get(f, "component:web"), "github.com/project-slug"),
			    "example/web");
}

/* ---- validation ---- */

#define ENV "apiVersion: backstage.io/v1alpha1\n"

struct bad_case {
	const char *yaml;
	const char *msg;
};

static void test_catalog_validation_messages(void **state)
{
	struct fx *f = *state;
	static const struct bad_case cases[] = {
		{ "kind: Component\nmetadata: {name: x}\nspec: {}\n",
		  "bad.yaml:1: document 1 (Component): apiVersion is missing" },
		{ ENV "metadata: {name: x}\n", "bad.yaml:1: document 1: kind is missing" },
		{ ENV "kind: [Component]\n", "bad.yaml:2: document 1: kind must be a string" },
		{ "apiVersion: backstage.io/v2\nkind: Component\n",
		  "bad.yaml:1: document 1 (Component): unsupported apiVersion 'backstage.io/v2' "
		  "(expected backstage.io/v1alpha1 or backstage.io/v1beta1)" },
		{ ENV "kind: Component\nspec: {}\n",
		  "bad.yaml:1: document 1 (Component): metadata is missing" },
		{ ENV "kind: Component\nmetadata:\n  title: x\n",
		  "bad.yaml:3: document 1 (Component): metadata.name is missing" },
		{ ENV "kind: Component\nmetadata:\n  name: my service\n",
		  "bad.yaml:4: document 1 (Component): invalid metadata.name 'my service': 1-63 "
		  "letters or digits separated by single '-', '_' or '.'" },
		{ ENV "kind: Component\nmetadata:\n  name: a-\n",
		  "bad.yaml:4: document 1 (Component): invalid metadata.name 'a-': 1-63 "
		  "letters or digits separated by single '-', '_' or '.'" },
		{ ENV "kind: Component\nmetadata:\n  name: x\n  namespace: -ops\n",
		  "bad.yaml:5: document 1 (Component): invalid metadata.namespace '-ops': 1-63 "
		  "letters, digits or '-', starting and ending with a letter or digit" },
		{ ENV "kind: Component\nmetadata: {name: x}\n",
		  "bad.yaml:1: document 1 (component:default/x): spec is missing" },
		{ ENV "kind: Component\nmetadata: {name: x}\nspec: [a]\n",
		  "bad.yaml:4: document 1 (component:default/x): spec must be a mapping" },
		{ ENV "kind: Component\nmetadata: {name: x}\nspec:\n  type: service\n  owner: t\n",
		  "bad.yaml:4: document 1 (component:default/x): spec.lifecycle is missing" },
		{ ENV "kind: Component\nmetadata: {name: x}\nspec:\n  type: service\n  lifecycle: p\n",
		  "bad.yaml:4: document 1 (component:default/x): spec.owner is missing" },
		{ ENV "kind: Component\nmetadata: {name: x}\nspec:\n  lifecycle: p\n  owner: t\n",
		  "bad.yaml:4: document 1 (component:default/x): spec.type is missing" },
		{ ENV "kind: Component\nmetadata: {name: x}\nspec:\n  type: ''\n  lifecycle: p\n  owner: t\n",
		  "bad.yaml:5: document 1 (component:default/x): spec.type must be a non-empty string" },
		{ ENV "kind: API\nmetadata: {name: x}\nspec:\n  type: grpc\n  lifecycle: p\n  owner: t\n",
		  "bad.yaml:4: document 1 (api:default/x): spec.definition is missing" },
		{ ENV "kind: API\nmetadata: {name: x}\nspec:\n  type: grpc\n  lifecycle: p\n  owner: t\n"
		      "  definition: 3\n",
		  "bad.yaml:8: document 1 (api:default/x): spec.definition must be a string or a mapping" },
		{ ENV "kind: Resource\nmetadata: {name: x}\nspec:\n  type: database\n",
		  "bad.yaml:4: document 1 (resource:default/x): spec.owner is missing" },
		{ ENV "kind: System\nmetadata: {name: x}\nspec: {domain: d}\n",
		  "bad.yaml:4: document 1 (system:default/x): spec.owner is missing" },
		{ ENV "kind: Domain\nmetadata: {name: x}\nspec: {}\n",
		  "bad.yaml:4: document 1 (domain:default/x): spec.owner is missing" },
		{ ENV "kind: Group\nmetadata: {name: x}\nspec: {type: team}\n",
		  "bad.yaml:4: document 1 (group:default/x): spec.children is missing" },
		{ ENV "kind: Group\nmetadata: {name: x}\nspec: {type: team, children: x}\n",
		  "bad.yaml:4: document 1 (group:default/x): spec.children must be a list" },
		{ ENV "kind: Group\nmetadata: {name: x}\nspec: {children: []}\n",
		  "bad.yaml:4: document 1 (group:default/x): spec.type is missing" },
		{ ENV "kind: System\nmetadata: {name: x}\nspec:\n  owner: 'group:'\n",
		  "bad.yaml:5: document 1 (system:default/x): invalid entity reference 'group:' in "
		  "spec.owner" },
		{ ENV "kind: System\nmetadata: {name: x}\nspec:\n  owner: [a]\n",
		  "bad.yaml:5: document 1 (system:default/x): spec.owner must be a non-empty string" },
		{ ENV "kind: Resource\nmetadata: {name: x}\nspec:\n  type: db\n  owner: t\n"
		      "  dependsOn: resource:y\n",
		  "bad.yaml:7: document 1 (resource:default/x): spec.dependsOn must be a list" },
		{ ENV "kind: User\nmetadata: {name: x}\nspec:\n  memberOf:\n    - ok\n    - 'a/b/c'\n",
		  "bad.yaml:7: document 1 (user:default/x): invalid entity reference 'a/b/c' in "
		  "spec.memberOf[1]" },
		{ ENV "kind: User\nmetadata: {name: x}\nspec:\n  memberOf:\n    - 3\n",
		  "bad.yaml:6: document 1 (user:default/x): spec.memberOf[0] must be a string" },
		{ "- a\n- b\n", "bad.yaml:1: document 1: document is not a mapping" },
	};

	for (size_t i = 0; i < T0_ARRAY_LEN(cases); i++) {
		struct ydocs docs;
		int rc;

		assert_int_equal(yload_parse("bad.yaml", cases[i].yaml, strlen(cases[i].yaml), &docs,
					     f->err, sizeof(f->err)),
				 T0_OK);
		rc = catalog_add_ydoc(f->cat, &docs.docs[0], f->err, sizeof(f->err));
		ydocs_free(&docs);
		if (rc != T0_EINVAL || strcmp(f->err, cases[i].msg) != 0)
			fail_msg("case %zu: rc %d, message\n  got:  %s\n  want: %s", i, rc, f->err,
				 cases[i].msg);
	}
	assert_int_equal(catalog_count(f->cat), 0);
}

static void test_catalog_validation_names_the_document(void **state)
{
	struct fx *f = *state;
	json_t *good = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "backstage.io/v1beta1",
				 "kind", "User", "metadata", "name", "u1", "spec");
	json_t *bad = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "apiVersion",
				"backstage.io/v1alpha1", "kind", "Component", "metadata", "name",
				"svc", "spec", "type", "service", "lifecycle", "production");

	assert_int_equal(catalog_add(f->cat, good, "x.json", 1, f->err, sizeof(f->err)), T0_OK);
	assert_int_equal(catalog_add(f->cat, bad, "x.json", 3, f->err, sizeof(f->err)), T0_EINVAL);
	assert_string_equal(f->err, "x.json: document 3 (component:default/svc): spec.owner is missing");
	/* from a multi-document stream: the third document is the bad one */
	assert_int_equal(add_yaml(f, "multi.yaml",
				  ENV "kind: User\nmetadata: {name: a}\n---\n"
				  ENV "kind: User\nmetadata: {name: b}\n---\n"
				  ENV "kind: Component\nmetadata: {name: c}\nspec: {owner: t}\n"),
			 T0_EINVAL);
	assert_string_equal(f->err,
			    "multi.yaml:12: document 3 (component:default/c): spec.type is missing");
	json_decref(good);
	json_decref(bad);
}

static void test_catalog_unknown_kinds_are_skipped(void **state)
{
	struct fx *f = *state;

	assert_int_equal(add_yaml(f, "t.yaml",
				  "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\n"
				  "metadata: {name: t}\nspec: {}\n---\n"
				  ENV "kind: User\nmetadata: {name: a}\n"),
			 T0_OK);
	assert_int_equal(catalog_count(f->cat), 1);
	assert_non_null(catalog_get(f->cat, "user:a"));
}

static void test_catalog_duplicate_in_one_stream_is_edup(void **state)
{
	struct fx *f = *state;

	assert_int_equal(add_yaml(f, "d.yaml",
				  ENV "kind: User\nmetadata: {name: a}\n---\n"
				  ENV "kind: User\nmetadata: {name: A}\n"),
			 T0_EDUP);
	assert_string_equal(f->err, "d.yaml:7: document 2 (user:default/a): duplicate entity, first "
				    "defined in d.yaml document 1");
}

/* ---- loader ---- */

static void test_catalog_load_follows_locations(void **state)
{
	struct fx *f = *state;
	const char *globs[] = { "loader/root.yaml", "no-such-dir/*.yaml" };
	struct cat_entity *cart;

	assert_int_equal(catalog_load_files(f->cat, globs, 2, DATA_DIR, f->err, sizeof(f->err)),
			 T0_OK);
	/* 3 Locations, 1 Group, 1 User, 1 Component, 1 Resource; the Template is skipped */
	assert_int_equal(catalog_count(f->cat), 7);
	cart = get(f, "component:cart");
	assert_non_null(strstr(cart->file, "loader/services/cart.yaml"));
	assert_string_equal(catalog_owner(f->cat, cart)->ref, "group:default/shop-team");
	assert_non_null(rel(cart, CAT_REL_DEPENDS_ON, "resource:default/cart-db")->target);
	assert_non_null(catalog_get(f->cat, "location:loop-back"));
	assert_non_null(catalog_get(f->cat, "location:remote"));
	assert_string_equal(catalog_user_by_email(f->cat, "carol@example.com")->name, "carol");
	/* a Location never answers what a person types */
	assert_null(catalog_find(f->cat, "shop-root"));
	assert_null(catalog_get(f->cat, "shop-root"));
	assert_non_null(catalog_get(f->cat, "location:default/shop-root"));
}

static void test_catalog_load_reports_duplicates_across_files(void **state)
{
	struct fx *f = *state;
	const char *globs[] = { "dup/*.yaml" };
	char want[1024];

	assert_int_equal(catalog_load_files(f->cat, globs, 1, DATA_DIR, f->err, sizeof(f->err)),
			 T0_EDUP);
	snprintf(want, sizeof(want),
		 "%s/dup/b.yaml:12: document 2 (component:default/twin): duplicate entity, first "
		 "defined in %s/dup/a.yaml document 1",
		 DATA_DIR, DATA_DIR);
	assert_string_equal(f->err, want);
}

static void test_catalog_load_reports_yaml_errors_and_bad_locations(void **state)
{
	struct fx *f = *state;
	char tmpl[] = "/tmp/t0catXXXXXX", path[256], want[512];
	const char *dir = mkdtemp(tmpl);
	const char *globs[] = { "*.yaml" };
	FILE *fp;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(ENV "kind: Location\nmetadata: {name: l}\nspec: {type: file}\n", fp);
	fclose(fp);
	assert_int_equal(catalog_load_files(f->cat, globs, 1, dir, f->err, sizeof(f->err)), T0_EINVAL);
	snprintf(want, sizeof(want),
		 "%s: document 1 (location l): spec.target or spec.targets is required", path);
	assert_string_equal(f->err, want);

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(ENV "kind: [\n", fp);
	fclose(fp);
	catalog_free(f->cat);
	f->cat = catalog_new();
	assert_int_equal(catalog_load_files(f->cat, globs, 1, dir, f->err, sizeof(f->err)), T0_EPARSE);
	assert_non_null(strstr(f->err, "a.yaml:"));
	unlink(path);
	rmdir(dir);
}

/* ---- scale ---- */

static void test_catalog_handles_ten_thousand_entities(void **state)
{
	struct fx *f = *state;
	struct cat_walk_item *it = NULL;
	char name[64], ref[96];
	size_t n = 0;

	for (int i = 0; i < 10000; i++) {
		json_t *e;

		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(ref, sizeof(ref), "component:svc-%05d", i + 1);
		e = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s, s:[s]}}", "apiVersion",
			      "backstage.io/v1alpha1", "kind", "Component", "metadata", "name", name,
			      "spec", "type", "service", "lifecycle", "production", "owner", "team",
			      "dependsOn", ref);
		assert_int_equal(catalog_add(f->cat, e, "gen", i + 1, f->err, sizeof(f->err)), T0_OK);
		json_decref(e);
	}
	assert_int_equal(catalog_finish(f->cat), T0_OK);
	for (int i = 0; i < 10000; i += 7) {
		snprintf(ref, sizeof(ref), "Component:default/SVC-%05d", i);
		assert_int_equal(catalog_get(f->cat, ref)->doc_index, i + 1);
	}
	assert_int_equal(catalog_walk(f->cat, catalog_get(f->cat, "svc-09999"),
				      CAT_WALK_DEPENDENTS, 0, &it, &n),
			 T0_OK);
	assert_int_equal(n, 9999);
	assert_int_equal(it[n - 1].depth, 9999);
	assert_string_equal(it[n - 1].entity->name, "svc-00000");
	free(it);
	assert_string_equal(catalog_suggest(f->cat, "svc-0O042")->name, "svc-00042");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_catalog_loads_backstage_fixtures, setup, teardown),
		cmocka_unit_test(test_catalog_ref_parse_defaults_and_lowercases),
		cmocka_unit_test(test_catalog_ref_parse_rejects_malformed),
		cmocka_unit_test_setup_teardown(test_catalog_refs_default_to_the_entity_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_relations_are_computed_both_ways,
						setup_graph, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_finish_twice_gives_the_same_relations,
						setup_graph, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_duplicate_declarations_make_one_relation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_blast_radius_is_transitive, setup_graph,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_dependencies_go_through_apis, setup_graph,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_walk_respects_max_depth, setup_graph,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_walk_survives_cycles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_find_accepts_what_people_type, setup_graph,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_suggest_finds_near_misses, setup_graph,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_owner_and_users, setup_graph, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_validation_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_validation_names_the_document, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_unknown_kinds_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_duplicate_in_one_stream_is_edup, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_load_follows_locations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_load_reports_duplicates_across_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_load_reports_yaml_errors_and_bad_locations,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_handles_ten_thousand_entities, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
