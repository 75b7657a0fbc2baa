/*
 * Deployment sources against fakes on 127.0.0.1: GitHub Deployments (the
 * deployment and deployment_status objects of the octokit fixtures, served
 * as the REST endpoints return them) and Argo CD (the velero-test
 * Application with its history). Both store into the deployments table; the
 * "deploys" intent asks them (fan-out with deadlines) and answers from the
 * store, also when a source is down.
 */
#include "adapters/context/argocd.h"
#include "adapters/context/github.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "bot/event.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "bot/timeparse.h"
#include "store/store.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/incident_env.h"

#define CONFIG                                                    \
	"log:\n  level: error\n"                                  \
	"store:\n  path: \"@DIR@/tier0.db\"\n"                    \
	"catalog:\n  files: [\"@DIR@/velero.yaml\"]\n"            \
	"incidents:\n  source_timeout: 1s\n  overall_timeout: 2s\n"

#define VELERO                                                                    \
	"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n"         \
	"  name: velero\n  annotations:\n"                                        \
	"    github.com/project-slug: Codertocat/Hello-World\n"                   \
	"    argocd/app-name: velero-test\n"                                      \
	"spec:\n  type: service\n  lifecycle: production\n  owner: sre\n---\n"    \
	"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: sre\n" \
	"spec:\n  type: team\n  children: []\n"

struct fx {
	struct incident_env env;
	struct fake_http *fh;
	struct github *gh;
	struct argocd *ac;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[256], url[128];
	FILE *fp;

	assert_non_null(f);
	log_set_level(LOG_LEVEL_ERR);
	snprintf(f->env.dir, sizeof(f->env.dir), "/tmp/t0dep.XXXXXX");
	assert_non_null(mkdtemp(f->env.dir));
	snprintf(path, sizeof(path), "%s/velero.yaml", f->env.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(VELERO, fp);
	fclose(fp);
	if (incident_env_open(&f->env, CONFIG, 0, -1) != T0_OK)
		fail_msg("env: %s", f->env.err);
	f->fh = fake_http_new(loop_uv(f->env.loop));
	assert_non_null(f->fh);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, ""));
	f->gh = github_new(f->env.bot, f->env.loop, url, "gh-token");
	f->ac = argocd_new(f->env.bot, f->env.loop, url, "argo-token");
	assert_non_null(f->gh);
	assert_non_null(f->ac);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	github_shutdown(f->gh);
	argocd_shutdown(f->ac);
	fake_http_free(f->fh);
	incident_env_close(&f->env);
	github_free(f->gh);
	argocd_free(f->ac);
	incident_env_cleanup(&f->env);
	free(f);
	return 0;
}

/* The REST list returns deployment objects; the fixture wraps one in a webhook. */
static void serve_github(struct fx *f, int status_delay_ms)
{
	char *text = incident_env_fixture("github/webhook_deployment_status_created.json", NULL);
	json_t *hook = json_loads(text, 0, NULL);
	json_t *list = json_pack("[O]", json_object_get(hook, "deployment"));
	json_t *statuses = json_pack("[O]", json_object_get(hook, "deployment_status"));
	char *l = json_dumps(list, JSON_COMPACT), *s = json_dumps(statuses, JSON_COMPACT);

	fake_http_add(f->fh, "GET", "/repos/Codertocat/Hello-World/deployments", 200,
		      "Content-Type: application/json\r\n", l, strlen(l), 0);
	fake_http_add(f->fh, "GET", "/repos/Codertocat/Hello-World/deployments/145988746/statuses",
		      200, "Content-Type: application/json\r\n", s, strlen(s), status_delay_ms);
	free(l);
	free(s);
	json_decref(list);
	json_decref(statuses);
	json_decref(hook);
	free(text);
}

static void serve_argo(struct fx *f, int delay_ms)
{
	size_t len;
	char *app = incident_env_fixture("argocd/application_velero-test_with_history.json", &len);

	fake_http_add(f->fh, "GET", "/api/v1/applications/velero-test", 200,
		      "Content-Type: application/json\r\n", app, len, delay_ms);
	free(app);
}

struct box {
	int done, rc, stored;
	char err[160];
};

static void on_fetched(void *arg, int rc, int stored, const char *error)
{
	struct box *b = arg;

	b->done = 1;
	b->rc = rc;
	b->stored = stored;
	snprintf(b->err, sizeof(b->err), "%s", error ? error : "");
}

static int box_done(void *arg)
{
	return ((struct box *)arg)->done;
}

static int64_t at(const char *s)
{
	int64_t ms = 0;

	assert_int_equal(t0_time_parse(s, T0_TIME_OFFSET_REQUIRED, &ms), 0);
	return ms;
}

struct rows {
	char line[16][200];
	int n;
};

static int row_cb(void *arg, const struct store_deployment *d)
{
	struct rows *r = arg;

	if (r->n < 16)
		snprintf(r->line[r->n++], sizeof(r->line[0]), "%s %s %s %s %s %s", d->source,
			 d->external_id, d->version ? d->version : "-", d->status ? d->status : "-",
			 d->actor ? d->actor : "-", d->environment ? d->environment : "-");
	return 0;
}

static void test_github_stores_deployments_with_their_latest_status(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	struct rows r = { .n = 0 };
	char buf[200];
	const struct fake_http_req *req;

	serve_github(f, 0);
	assert_int_equal(github_fetch_deployments(f->gh, "Codertocat/Hello-World", "velero",
						  at("2019-05-15T00:00:00Z"), 3000, on_fetched, &b),
			 T0_OK);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(b.stored, 1);
	assert_int_equal(fake_http_count(f->fh), 2);
	req = fake_http_req(f->fh, 0);
	assert_non_null(strstr(req->target, "per_page=10"));
	assert_string_equal(fake_http_req_header(req, "Authorization", buf, sizeof(buf)),
			    "Bearer gh-token");
	assert_string_equal(fake_http_req_header(req, "Accept", buf, sizeof(buf)),
			    "application/vnd.github+json");
	assert_string_equal(fake_http_req_header(req, "X-GitHub-Api-Version", buf, sizeof(buf)),
			    "2022-11-28");
	assert_non_null(fake_http_req_header(req, "User-Agent", buf, sizeof(buf)));
	assert_non_null(strstr(fake_http_req(f->fh, 1)->target, "statuses?per_page=1"));
	store_deployments_since(f->env.bot->store, "velero", 0, 10, row_cb, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.line[0], "github 145988746 f95f852 success Codertocat production");
}

static void test_github_window_and_bad_slugs(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 }, c = { 0 }, d = { 0 };

	serve_github(f, 0);
	/* The only deployment is older than the window: no status is asked for. */
	github_fetch_deployments(f->gh, "Codertocat/Hello-World", "velero", at("2020-01-01T00:00:00Z"),
				 3000, on_fetched, &b);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(b.stored, 0);
	assert_int_equal(fake_http_count(f->fh), 1);
	assert_int_equal(github_fetch_deployments(f->gh, NULL, "velero", 0, 3000, on_fetched, &c),
			 T0_OK);
	assert_int_equal(c.done, 0);
	assert_true(incident_env_run_until(&f->env, box_done, &c, 5000));
	assert_int_equal(c.rc, T0_EINVAL);
	assert_string_equal(c.err, "no github.com/project-slug annotation");
	github_fetch_deployments(f->gh, "../etc/passwd", "velero", 0, 3000, on_fetched, &d);
	assert_true(incident_env_run_until(&f->env, box_done, &d, 5000));
	assert_string_equal(d.err, "invalid github.com/project-slug");
	assert_int_equal(fake_http_count(f->fh), 1);
}

static void test_argocd_stores_the_history_and_credits_the_initiator(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	struct rows r = { .n = 0 };
	char buf[200];

	serve_argo(f, 0);
	assert_int_equal(argocd_fetch_history(f->ac, "velero-test", NULL, "velero",
					      at("2024-03-04T00:00:00Z"), 3000, on_fetched, &b),
			 T0_OK);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(b.stored, 10); /* history ids 14..23 */
	assert_string_equal(fake_http_req_header(fake_http_req(f->fh, 0), "Authorization", buf,
						 sizeof(buf)),
			    "Bearer argo-token");
	store_deployments_since(f->env.bot->store, "velero", 0, 16, row_cb, &r);
	assert_int_equal(r.n, 10);
	/* Newest first: the last sync, started by foo@example.com's operation. */
	assert_string_equal(r.line[0],
			    "argocd velero-test#23 ea87599 success foo@example.com "
			    "gke-alpha-01-europe-west1");
	assert_string_equal(r.line[1],
			    "argocd velero-test#22 ea87599 success - gke-alpha-01-europe-west1");
	/* A later window keeps only the syncs of the 5th. */
	memset(&b, 0, sizeof(b));
	argocd_fetch_history(f->ac, "velero-test", NULL, "velero", at("2024-03-05T00:00:00Z"), 3000,
			     on_fetched, &b);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.stored, 3);
}

static void test_argocd_selector_missing_app_and_forbidden(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 }, c = { 0 }, d = { 0 };
	const char *empty = "{\"metadata\":{},\"items\":null}";
	const char *denied = "{\"error\":\"permission denied\",\"code\":7,\"message\":"
			     "\"permission denied\"}";

	fake_http_add(f->fh, "GET", "/api/v1/applications", 200, NULL, empty, strlen(empty), 0);
	fake_http_add(f->fh, "GET", "/api/v1/applications/secret-app", 403, NULL, denied,
		      strlen(denied), 0);
	argocd_fetch_history(f->ac, NULL, "app.kubernetes.io/name=api-schema", "api-schema", 0, 3000,
			     on_fetched, &b);
	assert_true(incident_env_run_until(&f->env, box_done, &b, 5000));
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(b.stored, 0);
	assert_non_null(strstr(fake_http_req(f->fh, 0)->target,
			       "selector=app.kubernetes.io%2Fname%3Dapi-schema"));
	argocd_fetch_history(f->ac, "secret-app", NULL, "x", 0, 3000, on_fetched, &c);
	assert_true(incident_env_run_until(&f->env, box_done, &c, 5000));
	assert_int_equal(c.rc, T0_ENOTFOUND);
	assert_non_null(strstr(c.err, "HTTP 403"));
	argocd_fetch_history(f->ac, NULL, NULL, "x", 0, 3000, on_fetched, &d);
	assert_true(incident_env_run_until(&f->env, box_done, &d, 5000));
	assert_string_equal(d.err, "no argocd/app-name annotation");
}

struct answer {
	int done;
	char *json;
};

static void on_reply(void *arg, struct reply *r)
{
	struct answer *a = arg;

	a->json = r ? reply_to_json(r) : NULL;
	reply_free(r);
	a->done = 1;
}

static int answered(void *arg)
{
	return ((struct answer *)arg)->done;
}

static char *ask(struct fx *f, const char *text)
{
	struct event ev = { .kind = EVENT_MESSAGE, .text = text, .channel = "C1" };
	struct answer a = { 0 };

	ev.actor.platform = "test";
	ev.actor.user_id = "u1";
	bot_dispatch(f->env.bot, &ev, on_reply, &a);
	assert_true(incident_env_run_until(&f->env, answered, &a, 10000));
	assert_non_null(a.json);
	return a.json;
}

static void register_sources(struct fx *f)
{
	struct incident_source src;

	assert_int_equal(github_incident_source(f->gh, &src), T0_OK);
	assert_int_equal(incident_source_register(f->env.mgr, &src), T0_OK);
	assert_int_equal(argocd_incident_source(f->ac, &src), T0_OK);
	assert_int_equal(incident_source_register(f->env.mgr, &src), T0_OK);
}

static void test_deploys_intent_asks_both_sources(void **state)
{
	struct fx *f = *state;
	char *json;

	serve_github(f, 0);
	serve_argo(f, 0);
	register_sources(f);
	json = ask(f, "deploys velero since 2019-01-01");
	assert_non_null(strstr(json, "11 deployments of velero since 2019-01-01 00:00 UTC"));
	assert_non_null(strstr(json, "ea87599 (test-lla) to gke-alpha-01-europe-west1 by "
				     "foo@example.com via argocd: success"));
	assert_non_null(strstr(json, "f95f852 (master) to production by Codertocat via github: "
				     "success"));
	assert_non_null(strstr(json, "Sources: GitHub ok, Argo CD ok"));
	free(json);
}

static void test_deploys_intent_answers_from_the_store_when_a_source_hangs(void **state)
{
	struct fx *f = *state;
	char *json;
	uint64_t t0;

	/* Stored earlier, then Argo CD hangs: GitHub and the store still answer, in time. */
	serve_github(f, 0);
	serve_argo(f, 10000);
	register_sources(f);
	t0 = t0_mono_ns();
	json = ask(f, "what changed in velero since 2019-01-01");
	assert_true((t0_mono_ns() - t0) / 1000000 < 2600);
	assert_non_null(strstr(json, "1 deployment of velero"));
	assert_non_null(strstr(json, "GitHub ok"));
	assert_non_null(strstr(json, "Argo CD timed out"));
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_github_stores_deployments_with_their_latest_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_github_window_and_bad_slugs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argocd_stores_the_history_and_credits_the_initiator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argocd_selector_missing_app_and_forbidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deploys_intent_asks_both_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deploys_intent_answers_from_the_store_when_a_source_hangs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
