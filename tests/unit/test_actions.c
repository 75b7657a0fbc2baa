/*
 * Action definitions, parameter validation and request rendering: every
 * value lands escaped for where it lands, so no parameter changes a URL's
 * path or query, adds a header, or changes a JSON body's structure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "runbooks/actions.h"

static const char test_config[] =
	"executors:\n"
	"  secrets:\n"
	"    - name: tok\n"
	"      value: s3cr3t-value-42\n"
	"  pagerduty:\n"
	"    base_url: https://pd.example\n"
	"    token: pd-token-123\n"
	"    from: bot@example.com\n"
	"  github:\n"
	"    base_url: https://gh.example/api/v3/\n"
	"    token: gh-token-123\n"
	"  argocd:\n"
	"    base_url: https://argo.example\n"
	"    token: argo-token-123\n"
	"actions:\n"
	"  - name: web\n"
	"    target: {required: false}\n"
	"    risk: low\n"
	"    params:\n"
	"      - {name: seg}\n"
	"      - {name: q}\n"
	"      - {name: note}\n"
	"      - {name: n, type: int}\n"
	"      - {name: flag, type: bool}\n"
	"    executor:\n"
	"      type: http\n"
	"      method: POST\n"
	"      url: 'https://api.example/v1/items/{{params.seg}}/sub?q={{params.q}}&fixed=1'\n"
	"      headers:\n"
	"        Authorization: 'Bearer {{secret.tok}}'\n"
	"        X-Note: '{{params.note}}'\n"
	"      body:\n"
	"        note: '{{params.note}}'\n"
	"        count: '{{params.n}}'\n"
	"        flag: '{{params.flag}}'\n"
	"        text: 'n={{params.n}} {{params.note}}'\n"
	"        nested: ['{{params.seg}}', 7, null]\n"
	"        missing: '{{params.q}}'\n"
	"  - name: repo\n"
	"    target: {required: false}\n"
	"    params: [{name: slug}]\n"
	"    executor:\n"
	"      type: http\n"
	"      method: GET\n"
	"      url: 'https://api.example/repos/{{params.slug | path}}/x'\n"
	"  - name: pd-ack\n"
	"    target: {required: false}\n"
	"    params: [{name: incident, required: true, pattern: 'P[A-Z0-9]{5,13}'}]\n"
	"    risk: low\n"
	"    executor: {type: pagerduty, incident: '{{params.incident}}', status: acknowledged}\n"
	"  - name: deploy\n"
	"    params:\n"
	"      - {name: version, required: true, pattern: 'v[0-9]+\\.[0-9]+\\.[0-9]+'}\n"
	"      - {name: environment, allowed: [production, staging], default: staging}\n"
	"      - {name: replicas, type: int, min: 1, max: 20, default: 3}\n"
	"    executor:\n"
	"      type: github_workflow\n"
	"      workflow: deploy.yml\n"
	"      inputs: {version: '{{params.version}}', env: '{{params.environment}}',"
	" who: '{{requester.email}}'}\n"
	"  - name: sync\n"
	"    params: [{name: revision}]\n"
	"    executor: {type: argocd_sync, revision: '{{params.revision}}', prune: true}\n"
	"  - name: argo-rollback\n"
	"    params: [{name: history_id, type: int, min: 0}]\n"
	"    executor: {type: argocd_rollback, id: '{{params.history_id}}'}\n"
	"  - name: k8s\n"
	"    environments: [production, staging]\n"
	"    executor:\n"
	"      type: http\n"
	"      method: PATCH\n"
	"      url: 'https://k8s.example/ns/{{entity.annotations.backstage.io/kubernetes-namespace}}/"
	"deployments/{{entity.name}}'\n"
	"      body: {env: '{{params.environment}}', at: '{{request.created}}', id: '{{request.id}}'}\n"
	"      success: {status: [200, 201], json_field: status.phase, equals: Running}\n";

static struct config *cfg;
static struct action_set *set;
static struct catalog *cat;

static int setup(void **state)
{
	char err[1024];
	json_t *svc;

	log_set_level(LOG_LEVEL_ERR);
	if (config_load_buffer("t.yaml", test_config, strlen(test_config), &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	set = action_set_new(cfg, err, sizeof(err));
	if (!set)
		fail_msg("%s", err);
	cat = catalog_new();
	svc = json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:s,s:s}},s:{s:s,s:s,s:s}}", "apiVersion",
			"backstage.io/v1alpha1", "kind", "Component", "metadata", "name",
			"payment-api", "annotations", "github.com/project-slug",
			"example-org/payment-api", "argocd/app-name", "payment-api-prod",
			"backstage.io/kubernetes-namespace", "payments", "spec", "type", "service",
			"lifecycle", "production", "owner", "payments-team");
	assert_int_equal(catalog_add(cat, svc, "t", 0, err, sizeof(err)), T0_OK);
	json_decref(svc);
	assert_int_equal(catalog_finish(cat), T0_OK);
	return 0;
}

static int teardown(void **state)
{
	action_set_free(set);
	config_free(cfg);
	catalog_free(cat);
	return 0;
}

static const struct action_def *def(const char *name)
{
	const struct action_def *d = action_find(set, name);

	assert_non_null(d);
	return d;
}

/* Renders with params given as JSON text (not validated: the renderer must be safe on its own). */
static int render(const char *action, const char *params_json, int masked, struct action_http *h,
		  char *err, size_t errlen)
{
	json_t *params = json_loads(params_json, 0, NULL);
	struct action_render_in in = {
		.set = set,
		.def = def(action),
		.target = catalog_find(cat, "payment-api"),
		.params = params,
		.request_id = "r-0123456789abcdef",
		.created_ms = 1795680000000LL,
		.requester_name = "Alice Martin",
		.requester_email = "alice.martin@example.com",
		.requester_user_id = "alice",
	};
	int rc;

	assert_non_null(params);
	rc = action_render(&in, masked, h, err, errlen);
	json_decref(params);
	return rc;
}

static void test_actions_render_generic_http_request(void **state)
{
	struct action_http h;
	char err[256];
	json_t *body;

	assert_int_equal(render("web",
				"{\"seg\":\"item-7\",\"q\":\"error rate\",\"note\":\"hi\",\"n\":5,"
				"\"flag\":true}",
				0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.method, "POST");
	assert_string_equal(h.url, "https://api.example/v1/items/item-7/sub?q=error%20rate&fixed=1");
	assert_int_equal(h.nheaders, 2);
	assert_string_equal(h.headers[0], "Authorization: Bearer s3cr3t-value-42");
	assert_string_equal(h.headers[1], "X-Note: hi");
	body = json_loadb(h.body, h.body_len, 0, NULL);
	assert_non_null(body);
	/* A lone placeholder keeps its type; text around it makes a string. */
	assert_int_equal(json_integer_value(json_object_get(body, "count")), 5);
	assert_true(json_is_true(json_object_get(body, "flag")));
	assert_string_equal(json_string_value(json_object_get(body, "text")), "n=5 hi");
	assert_string_equal(json_string_value(json_array_get(json_object_get(body, "nested"), 0)),
			    "item-7");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(body, "nested"), 1)), 7);
	assert_string_equal(json_string_value(json_object_get(body, "missing")), "error rate");
	json_decref(body);
	action_http_clear(&h);

	/* An optional parameter left out: nothing in text, null as a whole JSON value. */
	assert_int_equal(render("web", "{\"seg\":\"a\",\"note\":\"x\"}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url, "https://api.example/v1/items/a/sub?q=&fixed=1");
	body = json_loadb(h.body, h.body_len, 0, NULL);
	assert_true(json_is_null(json_object_get(body, "missing")));
	assert_true(json_is_null(json_object_get(body, "count")));
	json_decref(body);
	action_http_clear(&h);
}

static void test_actions_path_injection_is_escaped_or_refused(void **state)
{
	static const struct {
		const char *seg;
		const char *url; /* NULL: refused */
	} cases[] = {
		{ "../admin", "https://api.example/v1/items/..%2Fadmin/sub?q=&fixed=1" },
		{ "a/b", "https://api.example/v1/items/a%2Fb/sub?q=&fixed=1" },
		{ "%2F..%2F", "https://api.example/v1/items/%252F..%252F/sub?q=&fixed=1" },
		{ "x?admin=1", "https://api.example/v1/items/x%3Fadmin%3D1/sub?q=&fixed=1" },
		{ "x#frag", "https://api.example/v1/items/x%23frag/sub?q=&fixed=1" },
		{ "a b\"c'", "https://api.example/v1/items/a%20b%22c%27/sub?q=&fixed=1" },
		{ "caf\u00e9", "https://api.example/v1/items/caf%C3%A9/sub?q=&fixed=1" },
		{ "line\nbreak", "https://api.example/v1/items/line%0Abreak/sub?q=&fixed=1" },
		{ "...", "https://api.example/v1/items/.../sub?q=&fixed=1" },
		{ "..", NULL },
		{ ".", NULL },
		{ "", NULL },
	};
	char params[256], err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct action_http h;
		json_t *p = json_pack("{s:s,s:s}", "seg", cases[i].seg, "note", "n");
		char *text = json_dumps(p, 0);
		int rc;

		snprintf(params, sizeof(params), "%s", text);
		free(text);
		json_decref(p);
		rc = render("web", params, 0, &h, err, sizeof(err));
		if (!cases[i].url) {
			if (rc != T0_EINVAL)
				fail_msg("seg '%s' was not refused", cases[i].seg);
			assert_non_null(strstr(err, "path"));
			continue;
		}
		assert_int_equal(rc, T0_OK);
		assert_string_equal(h.url, cases[i].url);
		action_http_clear(&h);
	}
}

static void test_actions_query_injection_is_escaped(void **state)
{
	struct action_http h;
	char err[256];

	assert_int_equal(render("web",
				"{\"seg\":\"s\",\"q\":\"x&admin=1#z?+/%\",\"note\":\"n\"}", 0, &h,
				err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url,
			    "https://api.example/v1/items/s/sub?q=x%26admin%3D1%23z%3F%2B%2F%25&fixed=1");
	action_http_clear(&h);
}

static void test_actions_header_injection_is_refused(void **state)
{
	static const char *const bad[] = { "hi\r\nX-Evil: 1", "hi\nX-Evil: 1", "a\rb", "nul\x01" };
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct action_http h;
		json_t *p = json_pack("{s:s,s:s}", "seg", "s", "note", bad[i]);
		char *text = json_dumps(p, 0);

		assert_int_equal(render("web", text, 0, &h, err, sizeof(err)), T0_EINVAL);
		assert_non_null(strstr(err, "control character"));
		free(text);
		json_decref(p);
	}
}

static void test_actions_json_breakout_stays_one_string(void **state)
{
	static const char *const evil[] = {
		"\", \"admin\": true, \"x\": \"",
		"\\\"}, {\"admin\": 1",
		"</script>{{params.seg}}",
		"\\u0022admin\\u0022",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		/* The header refuses nothing here; the body is what is tested. */
		json_t *p = json_pack("{s:s,s:s}", "seg", "s", "note", evil[i]);
		char *text = json_dumps(p, 0);
		struct action_http h;
		json_t *body;

		assert_int_equal(render("web", text, 0, &h, err, sizeof(err)), T0_OK);
		body = json_loadb(h.body, h.body_len, 0, NULL);
		assert_non_null(body);
		assert_int_equal(json_object_size(body), 6);
		assert_null(json_object_get(body, "admin"));
		/* The value is exactly what was given: a placeholder inside is not expanded. */
		assert_string_equal(json_string_value(json_object_get(body, "note")), evil[i]);
		json_decref(body);
		action_http_clear(&h);
		free(text);
		json_decref(p);
	}
}

/*
 * Property: whatever the values, a rendered request has the template's shape
 * (same path segments, same query parameters, same headers, same JSON keys)
 * or is refused. Values are drawn from the characters that matter.
 */
static void test_actions_random_values_never_change_the_shape(void **state)
{
	static const char alphabet[] = "./%?#&=+ \"'\\{}[]:@;,\n\r\t\x01\x7f~-_aZ09";
	static const char *const pieces[] = { "..", "%2F", "%2e%2e", "{{params.seg}}", "\u00e9",
					      "\",\"admin\":true,\"x\":\"", "\r\nX-Evil: 1", "//" };
	unsigned seed = 12345;
	int rendered = 0, refused = 0;

	for (int i = 0; i < 3000; i++) {
		char v[64];
		size_t n = 0, len;
		json_t *p;
		char *ptext, err[256];
		struct action_http h;
		int rc;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 12;
		for (size_t k = 0; k < len && n < 40; k++) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 5 == 0) {
				const char *pc = pieces[(seed >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];

				if (n + strlen(pc) < sizeof(v) - 1) {
					memcpy(v + n, pc, strlen(pc));
					n += strlen(pc);
				}
			} else {
				v[n++] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			}
		}
		v[n] = '\0';
		p = json_pack("{s:s,s:s,s:s}", "seg", v, "q", v, "note", v);
		if (!p)
			continue; /* not UTF-8 */
		ptext = json_dumps(p, 0);
		rc = render("web", ptext, 0, &h, err, sizeof(err));
		if (rc != T0_OK) {
			/* Refused only for a value that cannot land: a bad segment or a control character. */
			if (!strstr(err, "path") && !strstr(err, "control character"))
				fail_msg("'%s' refused for another reason: %s", v, err);
			refused++;
		} else {
			const char *path = h.url + strlen("https://api.example");
			const char *q = strchr(h.url, '?');
			int slashes = 0, amps = 0;
			json_t *body;

			for (const char *c = path; c < q; c++)
				slashes += *c == '/';
			for (const char *c = q; *c; c++)
				amps += *c == '&';
			assert_int_equal(slashes, 4);
			assert_int_equal(amps, 1);
			assert_null(strchr(h.url, '#'));
			assert_null(strchr(q + 1, '?'));
			assert_int_equal(strncmp(q, "?q=", 3), 0);
			assert_non_null(strstr(q, "&fixed=1"));
			assert_int_equal(h.nheaders, 2);
			for (size_t k = 0; k < h.nheaders; k++)
				assert_null(strpbrk(h.headers[k], "\r\n"));
			body = json_loadb(h.body, h.body_len, 0, NULL);
			assert_non_null(body);
			assert_int_equal(json_object_size(body), 6);
			assert_string_equal(json_string_value(json_object_get(body, "note")), v);
			json_decref(body);
			action_http_clear(&h);
			rendered++;
		}
		free(ptext);
		json_decref(p);
	}
	/* Both outcomes were exercised. */
	assert_true(rendered > 500);
	assert_true(refused > 100);
}

static void test_actions_multi_segment_paths(void **state)
{
	struct action_http h;
	char err[256];
	static const char *const bad[] = { "org/../x", "org//x", "../etc/passwd", "org/.", "/org",
					   "org/" };

	assert_int_equal(render("repo", "{\"slug\":\"org/my repo\"}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url, "https://api.example/repos/org/my%20repo/x");
	action_http_clear(&h);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char params[128];

		snprintf(params, sizeof(params), "{\"slug\":\"%s\"}", bad[i]);
		if (render("repo", params, 0, &h, err, sizeof(err)) != T0_EINVAL)
			fail_msg("slug '%s' was not refused", bad[i]);
	}
}

static void test_actions_masked_render_hides_secrets_and_hash_ignores_them(void **state)
{
	struct action_http h;
	char err[256], h1[65], h2[65], h3[65];
	json_t *params = json_pack("{s:s,s:s}", "seg", "s", "note", "n");
	struct action_render_in in = {
		.set = set, .def = def("web"), .params = params, .request_id = "r-1",
		.created_ms = 1,
	};
	json_t *shown = NULL;
	char *text;
	char *saved;

	assert_int_equal(action_render(&in, 1, &h, err, sizeof(err)), T0_OK);
	assert_string_equal(h.headers[0], "Authorization: Bearer ********");
	action_http_clear(&h);
	assert_int_equal(action_request_hash(&in, h1, &shown, err, sizeof(err)), T0_OK);
	text = json_dumps(shown, 0);
	assert_null(strstr(text, "s3cr3t"));
	free(text);
	json_decref(shown);
	/* A rotated secret does not change what was approved. */
	saved = set->secrets[0].value;
	set->secrets[0].value = "rotated-secret-99";
	assert_int_equal(action_request_hash(&in, h2, NULL, err, sizeof(err)), T0_OK);
	set->secrets[0].value = saved;
	assert_string_equal(h1, h2);
	/* Any other difference does. */
	json_object_set_new(params, "note", json_string("m"));
	assert_int_equal(action_request_hash(&in, h3, NULL, err, sizeof(err)), T0_OK);
	assert_string_not_equal(h1, h3);
	json_decref(params);
	/* Masking a response body. */
	{
		char body[] = "{\"echo\":\"Bearer s3cr3t-value-42 and pd-token-123\"}";

		action_mask_secrets(set, body);
		assert_string_equal(body, "{\"echo\":\"Bearer ******** and ********\"}");
	}
}

static void test_actions_builtin_pagerduty_request(void **state)
{
	struct action_http h;
	char err[256];
	json_t *body, *expect;

	assert_int_equal(render("pd-ack", "{\"incident\":\"PABC123\"}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.method, "PUT");
	assert_string_equal(h.url, "https://pd.example/incidents/PABC123");
	assert_string_equal(h.headers[0], "Authorization: Token token=pd-token-123");
	assert_string_equal(h.headers[1], "Accept: application/vnd.pagerduty+json;version=2");
	assert_string_equal(h.headers[3], "From: alice.martin@example.com");
	body = json_loadb(h.body, h.body_len, 0, NULL);
	/* The request body of the PagerDuty OpenAPI example, exactly. */
	expect = json_load_file(T0_FIXTURES "/pagerduty/rest_update_incident_request.json", 0, NULL);
	assert_non_null(expect);
	assert_true(json_equal(body, expect));
	json_decref(body);
	json_decref(expect);
	action_http_clear(&h);
	/* An id cannot leave its segment. */
	assert_int_equal(render("pd-ack", "{\"incident\":\"P1/../../users\"}", 1, &h, err,
				sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url, "https://pd.example/incidents/P1%2F..%2F..%2Fusers");
	assert_string_equal(h.headers[0], "Authorization: Token token=********");
	action_http_clear(&h);
}

static void test_actions_builtin_pagerduty_from_falls_back_to_config(void **state)
{
	json_t *params = json_pack("{s:s}", "incident", "PABC123");
	struct action_render_in in = { .set = set, .def = def("pd-ack"), .params = params };
	struct action_http h;
	char err[256];

	assert_int_equal(action_render(&in, 0, &h, err, sizeof(err)), T0_OK);
	assert_string_equal(h.headers[3], "From: bot@example.com");
	action_http_clear(&h);
	json_decref(params);
}

static void test_actions_builtin_github_workflow_dispatch(void **state)
{
	struct action_http h;
	char err[256];
	json_t *body;

	assert_int_equal(render("deploy", "{\"version\":\"v1.2.3\",\"environment\":\"production\"}", 0,
				&h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.method, "POST");
	assert_string_equal(
		h.url, "https://gh.example/api/v3/repos/example-org/payment-api/actions/workflows/"
		       "deploy.yml/dispatches");
	assert_string_equal(h.headers[0], "Authorization: Bearer gh-token-123");
	assert_string_equal(h.headers[2], "X-GitHub-Api-Version: 2022-11-28");
	body = json_loadb(h.body, h.body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "ref")), "main");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "inputs"),
							      "version")),
			    "v1.2.3");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "inputs"), "who")),
			    "alice.martin@example.com");
	json_decref(body);
	action_http_clear(&h);
}

static void test_actions_builtin_argocd_sync_and_rollback(void **state)
{
	struct action_http h;
	char err[256];

	assert_int_equal(render("sync", "{\"revision\":\"abc1234\"}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url, "https://argo.example/api/v1/applications/payment-api-prod/sync");
	assert_string_equal(h.body, "{\"prune\":true,\"revision\":\"abc1234\"}");
	action_http_clear(&h);
	/* No revision: Argo CD syncs to the app's target. */
	assert_int_equal(render("sync", "{}", 0, &h, err, sizeof(err)), T0_OK);
	assert_string_equal(h.body, "{\"prune\":true}");
	action_http_clear(&h);
	assert_int_equal(render("argo-rollback", "{\"history_id\":22}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url,
			    "https://argo.example/api/v1/applications/payment-api-prod/rollback");
	assert_string_equal(h.body, "{\"id\":22,\"prune\":false}");
	action_http_clear(&h);
	assert_int_equal(render("argo-rollback", "{\"history_id\":\"22; drop\"}", 0, &h, err,
				sizeof(err)),
			 T0_EINVAL);
	assert_non_null(strstr(err, "history id"));
}

static void test_actions_entity_annotations_and_request_fields(void **state)
{
	struct action_http h;
	char err[256];
	json_t *body;

	assert_int_equal(render("k8s", "{\"environment\":\"staging\"}", 0, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(h.url, "https://k8s.example/ns/payments/deployments/payment-api");
	body = json_loadb(h.body, h.body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "at")), "2026-11-26T08:00:00Z");
	assert_string_equal(json_string_value(json_object_get(body, "id")), "r-0123456789abcdef");
	json_decref(body);
	action_http_clear(&h);
	/* No target: an annotation cannot be rendered. */
	{
		json_t *params = json_pack("{s:s}", "environment", "staging");
		struct action_render_in in = { .set = set, .def = def("k8s"), .params = params };

		assert_int_equal(action_render(&in, 0, &h, err, sizeof(err)), T0_EINVAL);
		assert_non_null(strstr(err, "no target"));
		json_decref(params);
	}
}

static int resolve(const char *action, const char *given_json, json_t **out, char *err,
		   size_t errlen)
{
	json_t *given = given_json ? json_loads(given_json, 0, NULL) : NULL;
	int rc = action_params_resolve(set, def(action), given, out, err, errlen);

	json_decref(given);
	return rc;
}

static void test_actions_params_are_validated(void **state)
{
	json_t *p = NULL;
	char err[256];
	static const struct {
		const char *given;
		const char *err_has;
	} bad[] = {
		{ "{}", "deploy needs version" },
		{ "{\"version\":\"1.2.3\"}", "does not match the pattern" },
		{ "{\"version\":\"v1.2.3-rc\"}", "does not match" }, /* whole value must match */
		{ "{\"version\":\"xv1.2.3\"}", "does not match" },
		{ "{\"version\":\"v1.2.3\",\"environment\":\"prod\"}", "must be one of production, staging" },
		{ "{\"version\":\"v1.2.3\",\"replicas\":\"0\"}", "between 1 and 20" },
		{ "{\"version\":\"v1.2.3\",\"replicas\":\"5x\"}", "whole number" },
		{ "{\"version\":\"v1.2.3\",\"colour\":\"red\"}", "has no parameter 'colour'" },
		{ "{\"version\":\"v1.2.3\\n\"}", "control character" },
	};

	assert_int_equal(resolve("deploy", "{\"version\":\"v1.2.3\",\"replicas\":\"7\"}", &p, err,
				 sizeof(err)),
			 T0_OK);
	/* Defaults filled, types applied. */
	assert_string_equal(json_string_value(json_object_get(p, "environment")), "staging");
	assert_int_equal(json_integer_value(json_object_get(p, "replicas")), 7);
	json_decref(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = NULL;
		assert_int_equal(resolve("deploy", bad[i].given, &p, err, sizeof(err)), T0_EINVAL);
		assert_null(p);
		if (!strstr(err, bad[i].err_has))
			fail_msg("%s: '%s' lacks '%s'", bad[i].given, err, bad[i].err_has);
	}
	/* Booleans */
	assert_int_equal(resolve("web", "{\"flag\":\"yes\"}", &p, err, sizeof(err)), T0_OK);
	assert_true(json_is_true(json_object_get(p, "flag")));
	json_decref(p);
	assert_int_equal(resolve("web", "{\"flag\":\"maybe\"}", &p, err, sizeof(err)), T0_EINVAL);
	/* Too long */
	{
		char *big = malloc(ACTION_MAX_VALUE_LEN + 20);
		json_t *g = json_object();

		memset(big, 'a', ACTION_MAX_VALUE_LEN + 10);
		big[ACTION_MAX_VALUE_LEN + 10] = '\0';
		json_object_set_new(g, "seg", json_string(big));
		assert_int_equal(action_params_resolve(set, def("web"), g, &p, err, sizeof(err)),
				 T0_EINVAL);
		assert_non_null(strstr(err, "longer than"));
		json_decref(g);
		free(big);
	}
	/* `environments` adds an environment parameter with its allowed values and default. */
	assert_int_equal(resolve("k8s", NULL, &p, err, sizeof(err)), T0_OK);
	assert_string_equal(action_environment(p), "production");
	json_decref(p);
	assert_int_equal(resolve("k8s", "{\"environment\":\"qa\"}", &p, err, sizeof(err)), T0_EINVAL);
}

static void test_actions_args_parse(void **state)
{
	json_t *o = NULL;
	char err[128];

	assert_int_equal(action_args_parse("a=1 b='two words' c=\"x=y\" d=", &o, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(json_string_value(json_object_get(o, "a")), "1");
	assert_string_equal(json_string_value(json_object_get(o, "b")), "two words");
	assert_string_equal(json_string_value(json_object_get(o, "c")), "x=y");
	assert_string_equal(json_string_value(json_object_get(o, "d")), "");
	json_decref(o);
	assert_int_equal(action_args_parse(NULL, &o, err, sizeof(err)), T0_OK);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
	assert_int_equal(action_args_parse("a=1 oops", &o, err, sizeof(err)), T0_EINVAL);
	assert_non_null(strstr(err, "name=value"));
	assert_int_equal(action_args_parse("a='open", &o, err, sizeof(err)), T0_EINVAL);
	assert_int_equal(action_args_parse("a=1 a=2", &o, err, sizeof(err)), T0_EINVAL);
}

#define RUNNING "{\"status\":{\"phase\":\"Running\"}}"
#define FAILED "{\"status\":{\"phase\":\"Failed\"}}"

static void test_actions_success_criteria(void **state)
{
	char why[256];
	static const char pd_ok[] = "{\"incident\":{\"status\":\"acknowledged\"}}";
	static const char pd_other[] = "{\"incident\":{\"status\":\"triggered\"}}";
	char *fixture = NULL;
	json_t *f = json_load_file(T0_FIXTURES "/pagerduty/rest_update_incident_response.json", 0,
				   NULL);

	assert_non_null(f);
	fixture = json_dumps(f, 0);
	/* Generic http: any 2xx unless configured. */
	assert_true(action_success(set, def("web"), NULL, 204, NULL, 0, why, sizeof(why)));
	assert_false(action_success(set, def("web"), NULL, 302, NULL, 0, why, sizeof(why)));
	assert_non_null(strstr(why, "302"));
	/* Configured: status list and a JSON field. */
	assert_true(action_success(set, def("k8s"), NULL, 201, RUNNING, strlen(RUNNING), why, sizeof(why)));
	assert_false(action_success(set, def("k8s"), NULL, 202, RUNNING, strlen(RUNNING), why, sizeof(why)));
	assert_false(action_success(set, def("k8s"), NULL, 200, FAILED, strlen(FAILED), why, sizeof(why)));
	assert_non_null(strstr(why, "status.phase"));
	assert_false(action_success(set, def("k8s"), NULL, 200, "not json", 8, why, sizeof(why)));
	/* PagerDuty: 200 and the incident now in the requested status. */
	assert_true(action_success(set, def("pd-ack"), NULL, 200, pd_ok, strlen(pd_ok), why,
				   sizeof(why)));
	assert_false(action_success(set, def("pd-ack"), NULL, 200, pd_other, strlen(pd_other), why,
				    sizeof(why)));
	/* The real example answer of the API: its status decides. */
	assert_int_equal(action_success(set, def("pd-ack"), NULL, 200, fixture, strlen(fixture), why,
					sizeof(why)),
			 strcmp(json_string_value(json_object_get(json_object_get(f, "incident"),
								  "status")),
				"acknowledged") == 0);
	/* GitHub workflow_dispatch: 204 (or 200 with run details). */
	assert_true(action_success(set, def("deploy"), NULL, 204, NULL, 0, why, sizeof(why)));
	assert_false(action_success(set, def("deploy"), NULL, 422, NULL, 0, why, sizeof(why)));
	free(fixture);
	json_decref(f);
}

static void test_actions_argocd_previous_revision_from_real_history(void **state)
{
	json_t *app = json_load_file(T0_FIXTURES "/argocd/application_velero-test_with_history.json",
				     0, NULL);
	json_t *hist;
	char *text, rev[64], at[64];
	long long id = 0;

	assert_non_null(app);
	text = json_dumps(app, 0);
	/* In the captured app every entry has the same revision: nothing to roll back to. */
	assert_int_equal(action_argocd_previous(text, strlen(text), &id, rev, sizeof(rev), at,
						sizeof(at)),
			 T0_ENOTFOUND);
	free(text);
	/* With an earlier different revision, that one (the newest such) is chosen. */
	hist = json_object_get(json_object_get(app, "status"), "history");
	json_object_set_new(json_array_get(hist, 6), "revision", json_string("0ld0ld"));
	json_object_set_new(json_array_get(hist, 3), "revision", json_string("older"));
	text = json_dumps(app, 0);
	assert_int_equal(action_argocd_previous(text, strlen(text), &id, rev, sizeof(rev), at,
						sizeof(at)),
			 T0_OK);
	assert_int_equal(id, 20);
	assert_string_equal(rev, "0ld0ld");
	assert_string_equal(at, "2024-03-04T22:56:15Z");
	free(text);
	json_decref(app);
	assert_int_equal(action_argocd_previous("{}", 2, &id, rev, sizeof(rev), at, sizeof(at)),
			 T0_ENOTFOUND);
	/* The look-up is needed only when the id is not given. */
	assert_string_equal(action_rollback_lookup_param(def("argo-rollback"), NULL), "history_id");
	{
		json_t *p = json_pack("{s:i}", "history_id", 3);

		assert_null(action_rollback_lookup_param(def("argo-rollback"), p));
		json_decref(p);
	}
	assert_null(action_rollback_lookup_param(def("sync"), NULL));
}

static void test_actions_describe_lists_tools(void **state)
{
	json_t *d = action_set_describe(set);
	const json_t *deploy = NULL;
	size_t i;
	json_t *it;

	json_array_foreach(d, i, it)
		if (!strcmp(json_string_value(json_object_get(it, "name")), "deploy"))
			deploy = it;
	assert_non_null(deploy);
	assert_string_equal(json_string_value(json_object_get(deploy, "risk")), "high");
	assert_int_equal(json_array_size(json_object_get(deploy, "params")), 3);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions_render_generic_http_request),
		cmocka_unit_test(test_actions_path_injection_is_escaped_or_refused),
		cmocka_unit_test(test_actions_query_injection_is_escaped),
		cmocka_unit_test(test_actions_header_injection_is_refused),
		cmocka_unit_test(test_actions_json_breakout_stays_one_string),
		cmocka_unit_test(test_actions_random_values_never_change_the_shape),
		cmocka_unit_test(test_actions_multi_segment_paths),
		cmocka_unit_test(test_actions_masked_render_hides_secrets_and_hash_ignores_them),
		cmocka_unit_test(test_actions_builtin_pagerduty_request),
		cmocka_unit_test(test_actions_builtin_pagerduty_from_falls_back_to_config),
		cmocka_unit_test(test_actions_builtin_github_workflow_dispatch),
		cmocka_unit_test(test_actions_builtin_argocd_sync_and_rollback),
		cmocka_unit_test(test_actions_entity_annotations_and_request_fields),
		cmocka_unit_test(test_actions_params_are_validated),
		cmocka_unit_test(test_actions_args_parse),
		cmocka_unit_test(test_actions_success_criteria),
		cmocka_unit_test(test_actions_argocd_previous_revision_from_real_history),
		cmocka_unit_test(test_actions_describe_lists_tools),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
