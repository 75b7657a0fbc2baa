#define _GNU_SOURCE /* asprintf */
/*
 * Backstage catalog client against a fake Backstage on 127.0.0.1 serving the
 * example entities of ../shared/fixtures/backstage with the relations a real
 * catalog adds (the fixtures are descriptors, so the fake synthesises them):
 * resolution by the pagerduty.com/service-id annotation, then by name (404 ->
 * by-query), owner group and members (by-refs) merged into the catalog model,
 * the TTL cache, local files winning, a reload, and a slow Backstage.
 */
#include "adapters/context/backstage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/t0.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/incident_env.h"

#define CONFIG                                                    \
	"log:\n  level: error\n"                                  \
	"store:\n  path: \":memory:\"\n"                          \
	"catalog:\n  files: [\"" T0_DEMO_DIR "/catalog/*.yaml\"]\n" \
	"incidents: {}\n"

struct fx {
	struct incident_env env;
	struct fake_http *fh;
	struct backstage *bs;
};

/* The component fixture as the catalog API serves it: annotations and relations added. */
static char *served_component(void)
{
	char *text = incident_env_fixture("backstage/artist-lookup-component.entity.json", NULL);
	json_t *e = json_loads(text, 0, NULL), *rels;
	char *out;

	assert_non_null(e);
	json_object_set_new(json_object_get(json_object_get(e, "metadata"), "annotations"),
			    "pagerduty.com/service-id", json_string("PART1ST"));
	json_object_set_new(json_object_get(e, "metadata"), "uid", json_string("0b5ad2e5"));
	rels = json_pack("[{ss ss}{ss ss}{ss ss}]", "type", "ownedBy", "targetRef",
			 "group:default/team-a", "type", "dependsOn", "targetRef",
			 "resource:default/artists-db", "type", "partOf", "targetRef",
			 "system:default/artist-engagement-portal");
	json_object_set_new(e, "relations", rels);
	out = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	free(text);
	return out;
}

static json_t *team_fixture(void)
{
	char *text = incident_env_fixture("backstage/team-a-group.entity.json", NULL);
	json_t *all = json_loads(text, 0, NULL);

	free(text);
	assert_true(json_is_array(all));
	return all;
}

static char *served_group(void)
{
	json_t *all = team_fixture(), *g = json_incref(json_array_get(all, 0)), *rels = json_array();
	char *out;

	for (size_t i = 1; i < 5; i++) {
		const char *name = json_string_value(json_object_get(
			json_object_get(json_array_get(all, i), "metadata"), "name"));
		char ref[128];

		snprintf(ref, sizeof(ref), "user:default/%s", name);
		json_array_append_new(rels, json_pack("{ss ss}", "type", "hasMember", "targetRef", ref));
	}
	json_object_set_new(g, "relations", rels);
	out = json_dumps(g, JSON_COMPACT);
	json_decref(g);
	json_decref(all);
	return out;
}

static char *served_users(void)
{
	json_t *all = team_fixture(), *items = json_array(), *resp;
	char *out;

	for (size_t i = 1; i < 5; i++)
		json_array_append(items, json_array_get(all, i));
	json_array_append_new(items, json_null()); /* a ref the catalog does not know */
	resp = json_pack("{so}", "items", items);
	out = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	json_decref(all);
	return out;
}

static void serve(struct fx *f, const char *method, const char *path, int status, char *body,
		  int delay_ms)
{
	assert_int_equal(fake_http_add(f->fh, method, path, status,
				       "Content-Type: application/json\r\n", body, strlen(body),
				       delay_ms),
			 T0_OK);
	free(body);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char url[128];

	assert_non_null(f);
	log_set_level(LOG_LEVEL_ERR);
	if (incident_env_open(&f->env, CONFIG, 0, -1) != T0_OK)
		fail_msg("env: %s", f->env.err);
	f->fh = fake_http_new(loop_uv(f->env.loop));
	assert_non_null(f->fh);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/"));
	f->bs = backstage_new(f->env.bot, f->env.loop, url, "bs-token");
	assert_non_null(f->bs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	backstage_shutdown(f->bs);
	fake_http_free(f->fh);
	incident_env_close(&f->env);
	backstage_free(f->bs);
	incident_env_cleanup(&f->env);
	free(f);
	return 0;
}

struct box {
	int done, rc;
	char name[128];
};

static void on_resolved(void *arg, int rc, const char *name)
{
	struct box *b = arg;

	b->done = 1;
	b->rc = rc;
	snprintf(b->name, sizeof(b->name), "%s", name ? name : "");
}

static int box_done(void *arg)
{
	return ((struct box *)arg)->done;
}

static void serve_team(struct fx *f)
{
	serve(f, "GET", "/api/catalog/entities/by-query", 200,
	      strdup("{\"items\":[]}"), 0); /* replaced below for tests that need a hit */
}

static void test_backstage_resolves_by_pagerduty_annotation_with_owner_and_members(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	struct cat_entity *e, *owner, *team;
	char *items = NULL, *comp = served_component(), buf[256];
	size_t members = 0;
	const struct fake_http_req *r;

	if (asprintf(&items, "{\"items\":[%s],\"totalItems\":1,\"pageInfo\":{}}", comp) < 0)
		fail();
	free(comp);
	serve(f, "GET", "/api/catalog/entities/by-query", 200, items, 0);
	serve(f, "GET", "/api/catalog/entities/by-name/group/default/team-a", 200, served_group(), 0);
	serve(f, "POST", "/api/catalog/entities/by-refs", 200, served_users(), 0);
	assert_null(catalog_find(f->env.bot->world->cat, "artist-lookup"));
	assert_int_equal(backstage_resolve(f->bs, "Artist Lookup", "PART1ST", 3000, on_resolved, &b),
			 T0_OK);
	assert_int_equal(b.done, 0);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	assert_string_equal(b.name, "artist-lookup");

	r = fake_http_req(f->fh, 0);
	assert_non_null(strstr(r->target, "filter=kind%3Dcomponent%2Cmetadata.annotations."
					  "pagerduty.com%2Fservice-id%3DPART1ST"));
	assert_string_equal(fake_http_req_header(r, "Authorization", buf, sizeof(buf)),
			    "Bearer bs-token");
	r = fake_http_req(f->fh, 2);
	assert_string_equal(r->method, "POST");
	assert_non_null(strstr(r->body, "\"entityRefs\""));
	assert_non_null(strstr(r->body, "user:default/janelle.dawe"));

	e = catalog_find(f->env.bot->world->cat, "artist-lookup");
	assert_non_null(e);
	assert_string_equal(e->file, BACKSTAGE_FILE);
	assert_int_equal(e->doc_index, 0);
	owner = catalog_owner(f->env.bot->world->cat, e);
	assert_non_null(owner);
	assert_string_equal(owner->ref, "group:default/team-a");
	team = catalog_get(f->env.bot->world->cat, "group:default/team-a");
	for (size_t i = 0; i < team->nrels; i++)
		members += team->rels[i].type == CAT_REL_HAS_MEMBER && team->rels[i].target;
	assert_int_equal(members, 4);
	assert_non_null(catalog_user_by_email(f->env.bot->world->cat, "nigel-manning@example.com"));
	assert_int_equal(backstage_cached(f->bs), 6); /* component, group, four users */
}

static void test_backstage_cache_answers_without_requests(void **state)
{
	struct fx *f = *state;
	struct box b1 = { 0 }, b2 = { 0 };
	char *comp = served_component(), *items = NULL;

	if (asprintf(&items, "{\"items\":[%s]}", comp) < 0)
		fail();
	free(comp);
	serve(f, "GET", "/api/catalog/entities/by-query", 200, items, 0);
	serve(f, "GET", "/api/catalog/entities/by-name/group/default/team-a", 200, served_group(), 0);
	serve(f, "POST", "/api/catalog/entities/by-refs", 200, served_users(), 0);
	backstage_resolve(f->bs, NULL, "PART1ST", 3000, on_resolved, &b1);
	assert_true(incident_env_run_until(&f->env, box_done, &b1, 5000));
	assert_int_equal(fake_http_count(f->fh), 3);
	backstage_resolve(f->bs, NULL, "PART1ST", 3000, on_resolved, &b2);
	assert_int_equal(b2.done, 0);
	assert_true(incident_env_run_until(&f->env, box_done, &b2, 5000));
	assert_int_equal(b2.rc, T0_OK);
	assert_string_equal(b2.name, "artist-lookup");
	assert_int_equal(fake_http_count(f->fh), 3);
}

static void test_backstage_name_404_falls_back_to_query(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };

	serve_team(f);
	assert_int_equal(backstage_resolve(f->bs, "wayback-thing", NULL, 3000, on_resolved, &b),
			 T0_OK);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_ENOTFOUND);
	assert_int_equal(fake_http_count(f->fh), 2);
	assert_string_equal(fake_http_req(f->fh, 0)->path,
			    "/api/catalog/entities/by-name/component/default/wayback-thing");
	assert_non_null(strstr(fake_http_req(f->fh, 1)->target,
			       "filter=kind%3Dcomponent%2Cmetadata.name%3Dwayback-thing"));
}

static void test_backstage_local_file_wins_and_reload_keeps_backstage_entities(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 }, b2 = { 0 };
	json_t *other = json_pack("{ss ss s{ss} s{ss ss ss}}", "apiVersion", "backstage.io/v1alpha1",
				  "kind", "Component", "metadata", "name", "payment-api", "spec",
				  "type", "service", "lifecycle", "production", "owner",
				  "someone-else");
	char *text = json_dumps(other, JSON_COMPACT);
	struct cat_entity *e;
	char err[256];

	json_decref(other);
	serve(f, "GET", "/api/catalog/entities/by-name/component/default/payment-api", 200, text, 0);
	backstage_resolve(f->bs, "payment-api", NULL, 3000, on_resolved, &b);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	e = catalog_find(f->env.bot->world->cat, "payment-api");
	assert_string_not_equal(e->file, BACKSTAGE_FILE);
	assert_string_equal(catalog_owner(f->env.bot->world->cat, e)->name, "payments-team");

	/* A component only Backstage knows, then a reload (a new catalog from the files). */
	text = served_component();
	{
		char *items = NULL;

		if (asprintf(&items, "{\"items\":[%s]}", text) < 0)
			fail();
		free(text);
		serve(f, "GET", "/api/catalog/entities/by-query", 200, items, 0);
	}
	b.done = 0;
	backstage_resolve(f->bs, NULL, "PART1ST", 3000, on_resolved, &b);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_non_null(catalog_find(f->env.bot->world->cat, "artist-lookup"));
	assert_int_equal(bot_reload(f->env.bot, err, sizeof(err)), T0_OK);
	assert_null(catalog_find(f->env.bot->world->cat, "artist-lookup"));
	backstage_resolve(f->bs, NULL, "PART1ST", 3000, on_resolved, &b2);
	assert_true(incident_env_run_until(&f->env, box_done, &b2, 5000));
	assert_int_equal(b2.rc, T0_OK);
	assert_non_null(catalog_find(f->env.bot->world->cat, "artist-lookup"));
}

struct src_box {
	int done;
	struct incident_src_result res;
};

static void on_src(void *arg, const struct incident_src_result *r)
{
	struct src_box *b = arg;

	b->res = *r;
	b->done = 1;
}

static int src_done(void *arg)
{
	return ((struct src_box *)arg)->done;
}

static void test_backstage_source_reports_a_slow_catalog_as_timed_out(void **state)
{
	struct fx *f = *state;
	struct incident_source src;
	struct src_box b = { 0 };
	struct incident_query q = { .service = "artist-lookup", .timeout_ms = 300 };
	uint64_t t0 = t0_mono_ns();

	serve(f, "GET", "/api/catalog/entities/by-name/component/default/artist-lookup", 200,
	      served_component(), 3000);
	assert_int_equal(backstage_incident_source(f->bs, &src), T0_OK);
	assert_string_equal(src.name, "Backstage");
	assert_int_equal(src.roles, INC_SRC_CATALOG);
	assert_int_equal(src.lookup(src.state, &q, on_src, &b), T0_OK);
	assert_true(incident_env_run_until(&f->env, src_done, &b, 5000));
	assert_int_equal(b.res.status, INC_SRC_TIMEOUT);
	assert_true((t0_mono_ns() - t0) / 1000000 < 1500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backstage_resolves_by_pagerduty_annotation_with_owner_and_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backstage_cache_answers_without_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backstage_name_404_falls_back_to_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backstage_local_file_wins_and_reload_keeps_backstage_entities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backstage_source_reports_a_slow_catalog_as_timed_out, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
