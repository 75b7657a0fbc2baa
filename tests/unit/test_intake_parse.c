/*
 * The webhook parsers on their own: PagerDuty V3 fixtures (incident payloads,
 * a note referencing its incident, priority and urgency, missing fields),
 * Alertmanager's service label and grouping, and tier0's deployment record.
 */
#include "adapters/context/intake.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bot/incident.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/incident_env.h"

static void parse_pd(const char *rel, struct incident_alert *a, json_t **holder)
{
	size_t len;
	char *body = incident_env_fixture(rel, &len), err[128];

	assert_non_null(body);
	assert_int_equal(pagerduty_webhook_parse(body, len, a, holder, err, sizeof(err)), T0_OK);
	free(body);
}

static void test_parse_pagerduty_triggered(void **state)
{
	struct incident_alert a;
	json_t *h = NULL;

	parse_pd("pagerduty/webhook_v3_incident_triggered.json", &a, &h);
	assert_string_equal(a.source, "pagerduty");
	assert_string_equal(a.external_id, "PFQZPSY");
	assert_string_equal(a.event_id, "01BZYIL05THJDFF2Y08X9SVMTU");
	assert_string_equal(a.type, "incident.triggered");
	assert_string_equal(a.status, "triggered");
	assert_string_equal(a.title, "Test Incident 3");
	assert_string_equal(a.severity, "high");
	assert_null(a.priority);
	assert_string_equal(a.service, "pig208");
	assert_string_equal(a.pd_service_id, "PA2P440");
	assert_string_equal(a.pd_escalation_policy_id, "PY82TC6");
	assert_string_equal(a.url, "https://pig208.pagerduty.com/incidents/PFQZPSY");
	assert_string_equal(a.agent, "PIG 208");
	assert_int_equal(a.occurred_ms, 1622813729781LL);
	json_decref(h);
}

static void test_parse_pagerduty_note_and_priority(void **state)
{
	struct incident_alert a;
	json_t *h = NULL;

	parse_pd("pagerduty/webhook_v3_incident_annotated.json", &a, &h);
	assert_string_equal(a.external_id, "Q3B15VLMF3ASBD");
	assert_string_equal(a.type, "incident.annotated");
	assert_null(a.status); /* a note does not change the incident's state */
	assert_string_equal(a.note, "Running KILL on long-running queries from the reporting-service.");
	assert_string_equal(a.agent, "Harsh Santwani");
	json_decref(h);
	parse_pd("pagerduty/webhook_v3_incident_priority_updated.json", &a, &h);
	assert_string_equal(a.external_id, "PGR0VU2");
	assert_string_equal(a.priority, "P1");
	assert_string_equal(a.service, "API Service");
	json_decref(h);
}

static void test_parse_pagerduty_refusals(void **state)
{
	struct incident_alert a;
	json_t *h = NULL;
	char err[128];
	const char *ping = "{\"event\":{\"id\":\"1\",\"event_type\":\"pagey.ping\",\"data\":{}}}";
	const char *noid = "{\"event\":{\"id\":\"1\",\"event_type\":\"incident.triggered\","
			   "\"data\":{\"type\":\"incident\"}}}";

	assert_int_equal(pagerduty_webhook_parse("[1]", 3, &a, &h, err, sizeof(err)), T0_EPARSE);
	json_decref(h);
	assert_int_equal(pagerduty_webhook_parse(ping, strlen(ping), &a, &h, err, sizeof(err)),
			 T0_ENOTFOUND);
	json_decref(h);
	assert_int_equal(pagerduty_webhook_parse(noid, strlen(noid), &a, &h, err, sizeof(err)),
			 T0_EPARSE);
	assert_string_equal(err, "incident id missing");
	json_decref(h);
}

static void test_parse_alertmanager_service_label_and_group(void **state)
{
	const char *body =
		"{\"version\":\"4\",\"groupKey\":\"{}/{}:{alertname=\\\"Lag\\\"}\",\"status\":\"firing\","
		"\"receiver\":\"r\",\"groupLabels\":{\"app\":\"email-worker\"},\"commonLabels\":"
		"{\"alertname\":\"Lag\",\"severity\":\"warning\"},\"commonAnnotations\":{\"summary\":"
		"\"consumer behind\"},\"externalURL\":\"http://am\",\"alerts\":["
		"{\"status\":\"firing\",\"labels\":{\"app\":\"email-worker\"},\"fingerprint\":\"x\"},"
		"{\"status\":\"resolved\",\"labels\":{\"app\":\"email-worker\"},\"fingerprint\":\"y\"}]}";
	struct incident_alert a, b;
	json_t *h = NULL, *h2 = NULL;
	char err[128];

	assert_int_equal(alertmanager_webhook_parse(body, strlen(body), "app", &a, &h, err,
						    sizeof(err)),
			 T0_OK);
	assert_string_equal(a.service, "email-worker"); /* from groupLabels */
	assert_string_equal(a.external_id, "{}/{}:{alertname=\"Lag\"}");
	assert_string_equal(a.type, "alert.firing");
	assert_string_equal(a.status, "triggered");
	assert_string_equal(a.title, "Lag: consumer behind");
	assert_string_equal(a.severity, "warning");
	assert_string_equal(a.note, "1 firing, 1 resolved");
	assert_int_equal(a.nalerts, 2);
	assert_non_null(strstr(a.detail_json, "\"fingerprint\":\"y\""));
	/* The same body again has the same event id (a redelivery); another label, no service. */
	assert_int_equal(alertmanager_webhook_parse(body, strlen(body), "service", &b, &h2, err,
						    sizeof(err)),
			 T0_OK);
	assert_string_equal(a.event_id, b.event_id);
	assert_null(b.service);
	json_decref(h);
	json_decref(h2);
}

static void test_parse_deployment_record(void **state)
{
	const char *ok = "{\"service\":\"payment-api\",\"version\":\"v1\",\"timestamp\":"
			 "\"2026-11-26T09:40:00+01:00\"}";
	const char *bad_time = "{\"service\":\"payment-api\",\"timestamp\":\"yesterday\"}";
	struct store_deployment d;
	json_t *h = NULL;
	char err[128];

	assert_int_equal(deploy_webhook_parse(NULL, ok, strlen(ok), NULL, &d, &h, err, sizeof(err)),
			 T0_OK);
	assert_string_equal(d.service, "payment-api");
	assert_string_equal(d.source, "webhook");
	assert_string_equal(d.status, "success");
	assert_int_equal(strlen(d.external_id), 32);
	assert_int_equal(d.created_ms, 1795682400000LL);
	json_decref(h);
	assert_int_equal(deploy_webhook_parse(NULL, bad_time, strlen(bad_time), NULL, &d, &h, err,
					      sizeof(err)),
			 T0_EPARSE);
	assert_string_equal(err, "\"timestamp\" is not an RFC 3339 time");
	json_decref(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pagerduty_triggered),
		cmocka_unit_test(test_parse_pagerduty_note_and_priority),
		cmocka_unit_test(test_parse_pagerduty_refusals),
		cmocka_unit_test(test_parse_alertmanager_service_label_and_group),
		cmocka_unit_test(test_parse_deployment_record),
	};

	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
