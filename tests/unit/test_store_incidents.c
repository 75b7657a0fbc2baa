/* Store: incidents (upsert, message ref, lookups), timelines, card buttons, deployments. */
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/t0.h"

static int setup(void **state)
{
	struct store *st = NULL;
	char err[256];

	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	return 0;
}

static int64_t add_incident(struct store *st, const char *src, const char *ext, const char *svc,
			    const char *status, int64_t ms, int *created)
{
	struct store_incident in = {
		.source = (char *)src,
		.external_id = (char *)ext,
		.service = (char *)svc,
		.title = "High error rate",
		.status = (char *)status,
		.created_ms = ms,
		.updated_ms = ms,
		.detail = "{\"a\":1}",
	};
	int64_t id = 0;

	assert_int_equal(store_incident_upsert(st, &in, &id, created), T0_OK);
	return id;
}

static void test_store_incident_upsert_inserts_then_updates_same_row(void **state)
{
	struct store *st = *state;
	struct store_incident got = { 0 };
	int created = -1;
	int64_t id1, id2, n = 0;

	id1 = add_incident(st, "pagerduty", "PFQZPSY", "payment-api", "triggered", 1000, &created);
	assert_int_equal(created, 1);
	id2 = add_incident(st, "pagerduty", "PFQZPSY", NULL, "acknowledged", 2000, &created);
	assert_int_equal(created, 0);
	assert_int_equal(id1, id2);
	/* Same external id from another source is another incident. */
	assert_int_not_equal(add_incident(st, "alertmanager", "PFQZPSY", "x", "firing", 3000, NULL),
			     id1);
	assert_int_equal(store_incident_count(st, &n), T0_OK);
	assert_int_equal(n, 2);

	assert_int_equal(store_incident_get(st, id1, &got), T0_OK);
	assert_string_equal(got.status, "acknowledged");
	assert_string_equal(got.service, "payment-api"); /* NULL keeps the old one */
	assert_int_equal(got.created_ms, 1000);
	assert_int_equal(got.updated_ms, 2000);
	assert_null(got.message_ref);
	store_incident_clear(&got);
	assert_int_equal(store_incident_get(st, 999, &got), T0_ENOTFOUND);
}

static void test_store_incident_message_ref_survives_updates(void **state)
{
	struct store *st = *state;
	struct store_incident got = { 0 };
	int64_t id = add_incident(st, "pagerduty", "P1", "checkout-web", "triggered", 1000, NULL);

	assert_int_equal(store_incident_set_message(st, id, "slack", "C123", "1700000000.000100"),
			 T0_OK);
	add_incident(st, "pagerduty", "P1", "checkout-web", "resolved", 5000, NULL);
	assert_int_equal(store_incident_find(st, "pagerduty", "P1", &got), T0_OK);
	assert_string_equal(got.platform, "slack");
	assert_string_equal(got.channel, "C123");
	assert_string_equal(got.message_ref, "1700000000.000100");
	assert_string_equal(got.status, "resolved");
	store_incident_clear(&got);
	assert_int_equal(store_incident_set_message(st, 4242, "slack", "C", "x"), T0_ENOTFOUND);
}

static int count_cb(void *arg, const struct store_incident *inc)
{
	(*(int *)arg)++;
	return 0;
}

static void test_store_incident_latest_and_recent(void **state)
{
	struct store *st = *state;
	struct store_incident got = { 0 };
	int64_t a, b;
	int n = 0;

	a = add_incident(st, "pagerduty", "A", "payment-api", "resolved", 1000, NULL);
	b = add_incident(st, "pagerduty", "B", "Payment-API", "triggered", 2000, NULL);
	add_incident(st, "pagerduty", "C", "other", "triggered", 3000, NULL);
	assert_int_equal(store_incident_latest(st, "payment-api", 0, &got), T0_OK);
	assert_int_equal(got.id, b);
	store_incident_clear(&got);
	add_incident(st, "pagerduty", "B", NULL, "resolved", 2500, NULL);
	assert_int_equal(store_incident_latest(st, "payment-api", 1, &got), T0_ENOTFOUND);
	assert_int_equal(store_incident_recent(st, "payment-api", 0, b, 10, count_cb, &n), T0_OK);
	assert_int_equal(n, 1); /* a only */
	n = 0;
	assert_int_equal(store_incident_recent(st, "payment-api", 1500, 0, 10, count_cb, &n), T0_OK);
	assert_int_equal(n, 1); /* b only */
	(void)a;
}

struct ev_list {
	char kinds[8][64];
	int n;
};

static int ev_cb(void *arg, const struct store_incident_event *ev)
{
	struct ev_list *l = arg;

	if (l->n < 8)
		snprintf(l->kinds[l->n++], sizeof(l->kinds[0]), "%s", ev->kind);
	return 0;
}

static void test_store_incident_timeline_in_order(void **state)
{
	struct store *st = *state;
	struct ev_list l = { .n = 0 };
	int64_t id = add_incident(st, "pagerduty", "T", "svc", "triggered", 1000, NULL), n = 0;

	assert_int_equal(store_incident_event_add(st, id, 1000, "incident.triggered", "E1", NULL),
			 T0_OK);
	assert_int_equal(store_incident_event_add(st, id, 1100, "message.posted", NULL,
						  "{\"ref\":\"m1\"}"),
			 T0_OK);
	assert_int_equal(store_incident_event_add(st, id, 1200, "incident.acknowledged", "E2", NULL),
			 T0_OK);
	assert_int_equal(store_incident_events(st, id, 2, ev_cb, &l), T0_OK);
	assert_int_equal(l.n, 2); /* the newest two, oldest first */
	assert_string_equal(l.kinds[0], "message.posted");
	assert_string_equal(l.kinds[1], "incident.acknowledged");
	assert_int_equal(store_incident_event_count(st, id, &n), T0_OK);
	assert_int_equal(n, 3);
	/* Not JSON: refused by the table's CHECK. */
	assert_int_equal(store_incident_event_add(st, id, 1300, "x", NULL, "{bad"), T0_EDB);
}

static void test_store_incident_action_roundtrip(void **state)
{
	struct store *st = *state;
	struct store_incident_action a = { .created_ms = 42 }, got;
	int64_t id = add_incident(st, "pagerduty", "X", "svc", "triggered", 1000, NULL);

	snprintf(a.id, sizeof(a.id), "0123456789abcdef0123456789abcdef");
	a.incident_id = id;
	snprintf(a.action, sizeof(a.action), "rollback");
	snprintf(a.service, sizeof(a.service), "payment-api");
	assert_int_equal(store_incident_action_put(st, &a), T0_OK);
	assert_int_equal(store_incident_action_put(st, &a), T0_EDB); /* ids are unique */
	assert_int_equal(store_incident_action_get(st, a.id, &got), T0_OK);
	assert_int_equal(got.incident_id, id);
	assert_string_equal(got.action, "rollback");
	assert_string_equal(got.service, "payment-api");
	assert_string_equal(got.runbook, "");
	assert_int_equal(store_incident_action_get(st, "nope", &got), T0_ENOTFOUND);
}

struct dep_list {
	char what[8][128];
	int n;
};

static int dep_cb(void *arg, const struct store_deployment *d)
{
	struct dep_list *l = arg;

	if (l->n < 8)
		snprintf(l->what[l->n++], sizeof(l->what[0]), "%s/%s/%s/%s", d->source,
			 d->version ? d->version : "-", d->status ? d->status : "-",
			 d->actor ? d->actor : "-");
	return 0;
}

static void test_store_deployments_upsert_and_since(void **state)
{
	struct store *st = *state;
	struct store_deployment d = {
		.service = "payment-api",
		.source = "github",
		.external_id = "145988746",
		.version = "f95f852",
		.ref = "master",
		.actor = "Codertocat",
		.environment = "production",
		.status = "in_progress",
		.created_ms = 10000,
	};
	struct dep_list l = { .n = 0 };
	int inserted = -1;

	assert_int_equal(store_deployment_upsert(st, &d, &inserted), T0_OK);
	assert_int_equal(inserted, 1);
	d.status = "success";
	d.actor = NULL; /* keeps the old actor */
	assert_int_equal(store_deployment_upsert(st, &d, &inserted), T0_OK);
	assert_int_equal(inserted, 0);
	d.source = "argocd";
	d.external_id = "23";
	d.version = "ea87599";
	d.actor = "foo@example.com";
	d.created_ms = 20000;
	assert_int_equal(store_deployment_upsert(st, &d, &inserted), T0_OK);
	assert_int_equal(inserted, 1);
	assert_int_equal(store_deployments_since(st, "PAYMENT-API", 0, 10, dep_cb, &l), T0_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.what[0], "argocd/ea87599/success/foo@example.com");
	assert_string_equal(l.what[1], "github/f95f852/success/Codertocat");
	l.n = 0;
	assert_int_equal(store_deployments_since(st, "payment-api", 15000, 10, dep_cb, &l), T0_OK);
	assert_int_equal(l.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_incident_upsert_inserts_then_updates_same_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_incident_message_ref_survives_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_incident_latest_and_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_incident_timeline_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_incident_action_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_deployments_upsert_and_since, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
