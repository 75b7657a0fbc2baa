/*
 * PagerDuty REST v2 client against a fake PagerDuty on 127.0.0.1 replaying
 * the OpenAPI examples in ../shared/fixtures/pagerduty: headers, on-calls,
 * pagination, 429 with ratelimit-reset (waited for, or refused past the
 * deadline), the writes with their From header and bodies, error bodies,
 * the "PagerDuty" context source, shutdown.
 */
#include "adapters/context/pagerduty.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/incident_env.h"

struct fx {
	struct t0_loop *loop;
	struct fake_http *fh;
	struct pd_client *pd;
	char url[128];
};

struct box {
	int done, rc, error_code, count;
	long status;
	char error[200];
	json_t *data;
	uint64_t t_ns;
};

static void on_done(void *arg, const struct pd_result *r)
{
	struct box *b = arg;

	b->done = 1;
	b->count++;
	b->rc = r->rc;
	b->status = r->status;
	b->error_code = r->error_code;
	snprintf(b->error, sizeof(b->error), "%s", r->error ? r->error : "");
	json_decref(b->data);
	b->data = r->data ? json_deep_copy(r->data) : NULL;
	b->t_ns = t0_mono_ns();
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

static void run_until(struct fx *f, int *flag, int ms)
{
	uv_timer_t t;
	uint64_t end = t0_mono_ns() + (uint64_t)ms * 1000000;

	uv_timer_init(loop_uv(f->loop), &t);
	uv_timer_start(&t, tick, 5, 5);
	while (!*flag && t0_mono_ns() < end)
		uv_run(loop_uv(f->loop), UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop_uv(f->loop), UV_RUN_NOWAIT);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	struct pd_client_opts o = { .token = "pd-test-token", .from_email = "bot@example.com" };

	assert_non_null(f);
	log_set_level(LOG_LEVEL_ERR);
	f->loop = loop_new(err, sizeof(err));
	assert_non_null(f->loop);
	f->fh = fake_http_new(loop_uv(f->loop));
	assert_non_null(f->fh);
	snprintf(f->url, sizeof(f->url), "%s", fake_http_url(f->fh, ""));
	o.api_url = f->url;
	f->pd = pd_client_new(f->loop, &o);
	assert_non_null(f->pd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pd_client_shutdown(f->pd);
	fake_http_free(f->fh);
	loop_free(f->loop);
	pd_client_free(f->pd);
	metrics_reset();
	free(f);
	return 0;
}

static void serve_fixture(struct fx *f, const char *method, const char *path, int status,
			  const char *headers, const char *rel, int delay_ms)
{
	size_t len = 0;
	char *body = incident_env_fixture(rel, &len);

	assert_non_null(body);
	assert_int_equal(fake_http_add(f->fh, method, path, status,
				       headers ? headers : "Content-Type: application/json\r\n", body,
				       len, delay_ms),
			 T0_OK);
	free(body);
}

static const char *hdr(const struct fake_http_req *r, const char *name, char *buf, size_t len)
{
	const char *v = fake_http_req_header(r, name, buf, len);

	return v ? v : "";
}

static void test_pd_oncalls_sends_auth_version_and_filters(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	char buf[256];
	const struct fake_http_req *r;

	serve_fixture(f, "GET", "/oncalls", 200, NULL, "pagerduty/rest_list_oncalls.json", 0);
	assert_int_equal(pd_list_oncalls(f->pd, "PT20YPA", 2000, on_done, &b), T0_OK);
	assert_int_equal(b.done, 0); /* never from inside the call */
	run_until(f, &b.done, 5000);
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(json_array_size(json_object_get(b.data, "oncalls")), 1);
	assert_int_equal(fake_http_count(f->fh), 1);
	r = fake_http_req(f->fh, 0);
	assert_string_equal(r->method, "GET");
	assert_non_null(strstr(r->target, "escalation_policy_ids%5B%5D=PT20YPA"));
	assert_non_null(strstr(r->target, "include%5B%5D=users"));
	assert_non_null(strstr(r->target, "limit=100&offset=0"));
	assert_string_equal(hdr(r, "Authorization", buf, sizeof(buf)), "Token token=pd-test-token");
	assert_string_equal(hdr(r, "Accept", buf, sizeof(buf)),
			    "application/vnd.pagerduty+json;version=2");
	json_decref(b.data);
}

static void test_pd_list_follows_pages(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	const char *p1 = "{\"incidents\":[{\"id\":\"A\"}],\"limit\":100,\"offset\":0,\"more\":true}";
	const char *p2 = "{\"incidents\":[{\"id\":\"B\"}],\"limit\":100,\"offset\":100,\"more\":false}";

	fake_http_add(f->fh, "GET", "/incidents", 200, NULL, p1, strlen(p1), 0);
	fake_http_add(f->fh, "GET", "/incidents", 200, NULL, p2, strlen(p2), 0);
	assert_int_equal(pd_list_incidents(f->pd, "PIJ90N7", 0, 0, 3000, on_done, &b), T0_OK);
	run_until(f, &b.done, 5000);
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(json_array_size(json_object_get(b.data, "incidents")), 2);
	assert_int_equal(fake_http_count(f->fh), 2);
	assert_non_null(strstr(fake_http_req(f->fh, 0)->target, "offset=0"));
	assert_non_null(strstr(fake_http_req(f->fh, 1)->target, "offset=100"));
	assert_non_null(strstr(fake_http_req(f->fh, 0)->target, "service_ids%5B%5D=PIJ90N7"));
	assert_non_null(strstr(fake_http_req(f->fh, 0)->target, "sort_by=created_at%3Adesc"));
	json_decref(b.data);
}

static void test_pd_429_waits_for_ratelimit_reset_then_retries(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	uint64_t t0 = t0_mono_ns();
	double waited;

	serve_fixture(f, "GET", "/services/PIJ90N7", 429,
		      "Content-Type: application/json\r\nratelimit-limit: 960\r\n"
		      "ratelimit-remaining: 0\r\nratelimit-reset: 1\r\n",
		      "pagerduty/rest_error_429_rate_limited.json", 0);
	serve_fixture(f, "GET", "/services/PIJ90N7", 200, NULL, "pagerduty/rest_get_service.json", 0);
	assert_int_equal(pd_get_service(f->pd, "PIJ90N7", 5000, on_done, &b), T0_OK);
	run_until(f, &b.done, 8000);
	waited = (double)(b.t_ns - t0) / 1e6;
	assert_int_equal(b.rc, T0_OK);
	assert_int_equal(fake_http_count(f->fh), 2);
	assert_true(waited >= 900 && waited < 4000);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(b.data, "service"),
						    "escalation_policy"),
				    "id")),
			    "PT20YPA");
	assert_true(metrics_value("tier0_pagerduty_rate_limited_total", NULL) == 1);
	json_decref(b.data);
}

static void test_pd_429_past_the_deadline_fails_fast(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 }, b2 = { 0 };
	uint64_t t0 = t0_mono_ns();

	serve_fixture(f, "GET", "/incidents/PT4KHLK", 429,
		      "Content-Type: application/json\r\nratelimit-reset: 20\r\n",
		      "pagerduty/rest_error_429_rate_limited.json", 0);
	assert_int_equal(pd_get_incident(f->pd, "PT4KHLK", 1000, on_done, &b), T0_OK);
	run_until(f, &b.done, 5000);
	assert_int_equal(b.rc, T0_ERATELIMIT);
	assert_int_equal(b.status, 429);
	assert_true((b.t_ns - t0) / 1000000 < 900);
	/* Meanwhile everyone waits for the reset: no new request reaches PagerDuty. */
	assert_int_equal(pd_get_incident(f->pd, "PT4KHLK", 1000, on_done, &b2), T0_OK);
	run_until(f, &b2.done, 5000);
	assert_int_equal(b2.rc, T0_ERATELIMIT);
	assert_int_equal(fake_http_count(f->fh), 1);
}

static void expect_body(const struct fake_http_req *r, const char *want)
{
	json_t *got = json_loadb(r->body, r->body_len, 0, NULL), *exp = json_loads(want, 0, NULL);

	assert_non_null(got);
	assert_non_null(exp);
	if (!json_equal(got, exp))
		fail_msg("body %.*s, want %s", (int)r->body_len, r->body, want);
	json_decref(got);
	json_decref(exp);
}

static void test_pd_writes_send_from_and_the_documented_bodies(void **state)
{
	struct fx *f = *state;
	struct box a = { 0 }, res = { 0 }, re = { 0 }, n = { 0 };
	char buf[256], *ack_req;
	const char *users[] = { "PXPGF42" };
	const char *note = "{\"note\":{\"id\":\"PWL7QXS\",\"content\":\"Firefighters are on the scene.\"}}";

	serve_fixture(f, "PUT", "/incidents/PT4KHLK", 200, NULL,
		      "pagerduty/rest_update_incident_response.json", 0);
	fake_http_add(f->fh, "POST", "/incidents/PT4KHLK/notes", 201, NULL, note, strlen(note), 0);
	assert_int_equal(pd_incident_acknowledge(f->pd, "PT4KHLK", NULL, on_done, &a), T0_OK);
	run_until(f, &a.done, 5000);
	assert_int_equal(a.rc, T0_OK);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a.data, "incident"),
							      "id")),
			    "PT4KHLK");
	ack_req = incident_env_fixture("pagerduty/rest_update_incident_request.json", NULL);
	expect_body(fake_http_req(f->fh, 0), ack_req);
	free(ack_req);
	assert_string_equal(hdr(fake_http_req(f->fh, 0), "From", buf, sizeof(buf)),
			    "bot@example.com");
	assert_string_equal(hdr(fake_http_req(f->fh, 0), "Content-Type", buf, sizeof(buf)),
			    "application/json");

	assert_int_equal(pd_incident_resolve(f->pd, "PT4KHLK", "alice@example.com", "rolled back",
					     on_done, &res),
			 T0_OK);
	run_until(f, &res.done, 5000);
	assert_int_equal(res.rc, T0_OK);
	expect_body(fake_http_req(f->fh, 1),
		    "{\"incident\":{\"type\":\"incident_reference\",\"status\":\"resolved\","
		    "\"resolution\":\"rolled back\"}}");
	assert_string_equal(hdr(fake_http_req(f->fh, 1), "From", buf, sizeof(buf)),
			    "alice@example.com");

	assert_int_equal(pd_incident_reassign(f->pd, "PT4KHLK", NULL, users, 1, on_done, &re), T0_OK);
	run_until(f, &re.done, 5000);
	expect_body(fake_http_req(f->fh, 2),
		    "{\"incident\":{\"type\":\"incident_reference\",\"assignments\":[{\"assignee\":"
		    "{\"id\":\"PXPGF42\",\"type\":\"user_reference\"}}]}}");

	assert_int_equal(pd_incident_add_note(f->pd, "PT4KHLK", NULL, "Firefighters are on the scene.",
					      on_done, &n),
			 T0_OK);
	run_until(f, &n.done, 5000);
	assert_int_equal(n.rc, T0_OK);
	assert_int_equal(n.status, 201);
	assert_string_equal(fake_http_req(f->fh, 3)->method, "POST");
	expect_body(fake_http_req(f->fh, 3), "{\"note\":{\"content\":\"Firefighters are on the scene.\"}}");
	json_decref(a.data);
	json_decref(res.data);
	json_decref(re.data);
	json_decref(n.data);
}

static void test_pd_write_without_from_is_refused(void **state)
{
	struct fx *f = *state;
	struct pd_client_opts o = { .api_url = f->url, .token = "t" };
	struct pd_client *nofrom = pd_client_new(f->loop, &o);
	struct box b = { 0 };

	assert_non_null(nofrom);
	assert_int_equal(pd_incident_acknowledge(nofrom, "PT4KHLK", NULL, on_done, &b), T0_EINVAL);
	assert_int_equal(pd_incident_add_note(f->pd, "PT4KHLK", NULL, "", on_done, &b), T0_EINVAL);
	assert_int_equal(pd_incident_acknowledge(f->pd, "", NULL, on_done, &b), T0_EINVAL);
	assert_int_equal(fake_http_count(f->fh), 0);
	assert_null(pd_client_new(f->loop, &(struct pd_client_opts){ .api_url = f->url }));
	pd_client_free(nofrom);
}

static void test_pd_error_body_is_reported(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };
	const char *err = "{\"error\":{\"message\":\"Incident Already Resolved\",\"code\":1001,"
			  "\"errors\":[\"Incident Already Resolved\"]}}";

	fake_http_add(f->fh, "PUT", "/incidents/PT4KHLK", 400, NULL, err, strlen(err), 0);
	assert_int_equal(pd_incident_resolve(f->pd, "PT4KHLK", NULL, NULL, on_done, &b), T0_OK);
	run_until(f, &b.done, 5000);
	assert_int_equal(b.rc, T0_EHTTP);
	assert_int_equal(b.status, 400);
	assert_int_equal(b.error_code, 1001);
	assert_string_equal(b.error, "Incident Already Resolved");
	assert_int_equal(fake_http_count(f->fh), 1); /* a write is never retried */
	json_decref(b.data);
}

static void test_pd_incident_and_log_entries(void **state)
{
	struct fx *f = *state;
	struct box i = { 0 }, l = { 0 };
	const char *logs = "{\"log_entries\":[{\"id\":\"Q1\",\"type\":\"trigger_log_entry\"},"
			   "{\"id\":\"Q2\",\"type\":\"acknowledge_log_entry\"}],\"more\":false}";

	serve_fixture(f, "GET", "/incidents/PT4KHLK", 200, NULL,
		      "pagerduty/rest_update_incident_response.json", 0);
	fake_http_add(f->fh, "GET", "/incidents/PT4KHLK/log_entries", 200, NULL, logs, strlen(logs),
		      0);
	assert_int_equal(pd_get_incident(f->pd, "PT4KHLK", 0, on_done, &i), T0_OK);
	assert_int_equal(pd_list_log_entries(f->pd, "PT4KHLK", 0, on_done, &l), T0_OK);
	run_until(f, &i.done, 5000);
	run_until(f, &l.done, 5000);
	assert_int_equal(i.rc, T0_OK);
	assert_string_equal(json_string_value(json_object_get(json_object_get(i.data, "incident"),
							      "status")),
			    "resolved");
	assert_int_equal(l.rc, T0_OK);
	assert_int_equal(json_array_size(json_object_get(l.data, "log_entries")), 2);
	json_decref(i.data);
	json_decref(l.data);
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

static void test_pd_context_source_oncall_and_similar(void **state)
{
	struct fx *f = *state;
	struct incident_source src;
	struct src_box b = { 0 };
	struct incident_query q = { .service = "mail", .pd_service_id = "PIJ90N7", .timeout_ms = 3000 };

	serve_fixture(f, "GET", "/services/PIJ90N7", 200, NULL, "pagerduty/rest_get_service.json", 0);
	serve_fixture(f, "GET", "/oncalls", 200, NULL, "pagerduty/rest_list_oncalls.json", 0);
	serve_fixture(f, "GET", "/incidents", 200, NULL, "pagerduty/rest_list_incidents.json", 0);
	assert_int_equal(pd_incident_source(f->pd, &src), T0_OK);
	assert_string_equal(src.name, "PagerDuty");
	assert_int_equal(src.lookup(src.state, &q, on_src, &b), T0_OK);
	run_until(f, &b.done, 5000);
	assert_int_equal(b.res.status, INC_SRC_OK);
	assert_int_equal(b.res.noncall, 1);
	assert_int_equal(b.res.oncall[0].level, 2);
	assert_string_equal(b.res.oncall[0].name, "Tim Wright");
	assert_string_equal(b.res.oncall[0].schedule, "Daily Engineering Rotation");
	assert_true(b.res.oncall[0].until_ms > 0);
	assert_int_equal(b.res.nsimilar, 1);
	assert_string_equal(b.res.similar[0].title, "The server is on fire.");
	assert_string_equal(b.res.similar[0].status, "resolved");
	/* The escalation policy came from the service. */
	{
		int saw = 0;

		for (size_t i = 0; i < fake_http_count(f->fh); i++)
			saw |= strstr(fake_http_req(f->fh, i)->target,
				      "escalation_policy_ids%5B%5D=PT20YPA") != NULL;
		assert_true(saw);
	}
}

static void test_pd_context_source_without_a_service_id(void **state)
{
	struct fx *f = *state;
	struct incident_source src;
	struct src_box b = { 0 };
	struct incident_query q = { .service = "x", .timeout_ms = 1000 };

	pd_incident_source(f->pd, &src);
	assert_int_equal(src.lookup(src.state, &q, on_src, &b), T0_OK);
	assert_int_equal(b.done, 0);
	run_until(f, &b.done, 2000);
	assert_int_equal(b.res.status, INC_SRC_NODATA);
	assert_string_equal(b.res.msg, "no pagerduty.com/service-id annotation");
	assert_int_equal(fake_http_count(f->fh), 0);
}

static void test_pd_context_source_slow_pagerduty_times_out(void **state)
{
	struct fx *f = *state;
	struct incident_source src;
	struct src_box b = { 0 };
	struct incident_query q = { .pd_escalation_policy_id = "PT20YPA", .timeout_ms = 300 };
	uint64_t t0 = t0_mono_ns();

	serve_fixture(f, "GET", "/oncalls", 200, NULL, "pagerduty/rest_list_oncalls.json", 3000);
	pd_incident_source(f->pd, &src);
	assert_int_equal(src.lookup(src.state, &q, on_src, &b), T0_OK);
	run_until(f, &b.done, 5000);
	assert_int_equal(b.res.status, INC_SRC_TIMEOUT);
	assert_true((t0_mono_ns() - t0) / 1000000 < 1500);
}

static void test_pd_shutdown_fails_pending_calls(void **state)
{
	struct fx *f = *state;
	struct box b = { 0 };

	serve_fixture(f, "GET", "/incidents/SLOW", 200, NULL,
		      "pagerduty/rest_update_incident_response.json", 5000);
	assert_int_equal(pd_get_incident(f->pd, "SLOW", 10000, on_done, &b), T0_OK);
	run_until(f, &b.done, 200); /* the request is on the wire */
	assert_int_equal(b.done, 0);
	pd_client_shutdown(f->pd);
	assert_int_equal(b.done, 1);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.rc, T0_ECLOSED);
	assert_int_equal(pd_get_incident(f->pd, "X", 0, on_done, &b), T0_ECLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pd_oncalls_sends_auth_version_and_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_list_follows_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_429_waits_for_ratelimit_reset_then_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_429_past_the_deadline_fails_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_writes_send_from_and_the_documented_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_write_without_from_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_error_body_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_incident_and_log_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_context_source_oncall_and_similar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_context_source_without_a_service_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_context_source_slow_pagerduty_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pd_shutdown_fails_pending_calls, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
