/*
 * Incident context benchmark (issue: alert-to-message latency, a hanging
 * source, storm throughput). Everything runs in this process on 127.0.0.1:
 * fake PagerDuty, Backstage, GitHub and Argo CD (tests/fakes/fake_http)
 * answering every request after a fixed delay, the real HTTP server taking
 * the webhooks, a fake chat adapter recording the cards.
 *
 *   ./build/bench/bench_incident [alerts] [delay_ms]     (default 50 alerts, 50 ms)
 *
 * 1. latency: one PagerDuty webhook at a time for payment-api (whose catalog
 *    entry names a PagerDuty service, a GitHub repository and an Argo CD
 *    app); time from sending the webhook to the card reaching the chat, and
 *    the slowest source's own time, per alert. The channel's message rate is
 *    lifted for this run (each alert is a new incident in the same channel).
 * 2. hanging: Argo CD never answers in time; the source deadline equals the
 *    overall one (1 s here), so the card waits for the overall deadline.
 * 3. storm: 500 Alertmanager notifications as fast as they can be sent,
 *    across 20 services (100 alert groups), with the default message rate.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters/context/argocd.h"
#include "adapters/context/backstage.h"
#include "adapters/context/github.h"
#include "adapters/context/pagerduty.h"
#include "bot/bot.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_chat.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/incident_env.h"

#define CONFIG                                                    \
	"log:\n  level: error\n"                                  \
	"store:\n  path: \"@DIR@/tier0.db\"\n"                    \
	"catalog:\n  files: [\"" T0_DEMO_DIR "/catalog/*.yaml\"]\n" \
	"runbooks:\n  paths: [\"" T0_DEMO_DIR "/runbooks\"]\n"    \
	"pagerduty:\n  webhook_secrets: [bench-secret]\n"         \
	"alertmanager: {}\n"                                      \
	"incidents:\n  default_channel: \"#incidents\"\n"

struct clients {
	struct fake_http *fh;
	struct pd_client *pd;
	struct backstage *bs;
	struct github *gh;
	struct argocd *ac;
};

static void add(struct fake_http *fh, const char *method, const char *path, const char *body,
		int delay)
{
	fake_http_add(fh, method, path, 200, "Content-Type: application/json\r\n", body,
		      strlen(body), delay);
}

static void add_fixture(struct fake_http *fh, const char *path, const char *rel, int delay)
{
	size_t len = 0;
	char *body = incident_env_fixture(rel, &len);

	if (!body) {
		fprintf(stderr, "fixture %s missing\n", rel);
		exit(1);
	}
	fake_http_add(fh, "GET", path, 200, "Content-Type: application/json\r\n", body, len, delay);
	free(body);
}

static void start_fakes(struct incident_env *e, struct clients *c, int delay, int argo_delay)
{
	char url[128];
	struct pd_client_opts o = { .token = "bench", .from_email = "bench@example.com" };
	struct incident_source src;
	char *text = incident_env_fixture("github/webhook_deployment_status_created.json", NULL);
	json_t *hook = json_loads(text, 0, NULL);
	json_t *list = json_pack("[O]", json_object_get(hook, "deployment"));
	json_t *st = json_pack("[O]", json_object_get(hook, "deployment_status"));
	char *l = json_dumps(list, JSON_COMPACT), *s = json_dumps(st, JSON_COMPACT);

	c->fh = fake_http_new(loop_uv(e->loop));
	snprintf(url, sizeof(url), "%s", fake_http_url(c->fh, ""));
	/* PagerDuty: service -> escalation policy -> on-calls, and recent incidents. */
	add_fixture(c->fh, "/services/PQ7X2KA", "pagerduty/rest_get_service.json", delay);
	add_fixture(c->fh, "/oncalls", "pagerduty/rest_list_oncalls.json", delay);
	add(c->fh, "GET", "/incidents", "{\"incidents\":[],\"more\":false}", delay);
	/* Backstage: a refresh of the component (it is also in the local files). */
	add(c->fh, "GET", "/api/catalog/entities/by-query", "{\"items\":[]}", delay);
	add(c->fh, "GET", "/api/catalog/entities/by-name/component/default/payment-api",
	    "{\"apiVersion\":\"backstage.io/v1alpha1\",\"kind\":\"Component\",\"metadata\":"
	    "{\"name\":\"payment-api\"},\"spec\":{\"type\":\"service\",\"lifecycle\":\"production\","
	    "\"owner\":\"payments-team\"}}",
	    delay);
	/* GitHub: the deployment list, then its newest status. */
	add(c->fh, "GET", "/repos/example-org/payment-api/deployments", l, delay);
	add(c->fh, "GET", "/repos/example-org/payment-api/deployments/145988746/statuses", s, delay);
	/* Argo CD: the application with its history. */
	add_fixture(c->fh, "/api/v1/applications/payment-api-prod",
		    "argocd/application_velero-test_with_history.json", argo_delay);
	free(l);
	free(s);
	json_decref(list);
	json_decref(st);
	json_decref(hook);
	free(text);

	o.api_url = url;
	c->pd = pd_client_new(e->loop, &o);
	c->bs = backstage_new(e->bot, e->loop, url, "bench");
	c->gh = github_new(e->bot, e->loop, url, "bench");
	c->ac = argocd_new(e->bot, e->loop, url, "bench");
	pd_incident_source(c->pd, &src);
	incident_source_register(e->mgr, &src);
	backstage_incident_source(c->bs, &src);
	incident_source_register(e->mgr, &src);
	github_incident_source(c->gh, &src);
	incident_source_register(e->mgr, &src);
	argocd_incident_source(c->ac, &src);
	incident_source_register(e->mgr, &src);
}

static void stop_all(struct incident_env *e, struct clients *c)
{
	pd_client_shutdown(c->pd);
	backstage_shutdown(c->bs);
	github_shutdown(c->gh);
	argocd_shutdown(c->ac);
	fake_http_free(c->fh);
	incident_env_close(e);
	pd_client_free(c->pd);
	backstage_free(c->bs);
	github_free(c->gh);
	argocd_free(c->ac);
	incident_env_cleanup(e);
}

struct posted {
	uint64_t t_ns;
	int64_t id;
	int n;
};

static void on_posted(void *arg, int64_t id, int is_update, int rc)
{
	struct posted *p = arg;

	if (!is_update && rc == T0_OK) {
		p->t_ns = t0_mono_ns();
		p->id = id;
		p->n++;
	}
}

struct want {
	struct posted *p;
	int n;
};

static int reached(void *arg)
{
	struct want *w = arg;

	return w->p->n >= w->n;
}

static long send_pd(struct incident_env *e, int i)
{
	char body[2048], hex[65], sig[100];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const char *headers[] = { "Content-Type: application/json", sig };

	snprintf(body, sizeof(body),
		 "{\"event\":{\"id\":\"bench-%d\",\"event_type\":\"incident.triggered\","
		 "\"resource_type\":\"incident\",\"occurred_at\":\"2026-11-26T10:00:00Z\","
		 "\"agent\":null,\"client\":null,\"data\":{\"id\":\"PBENCH%d\",\"type\":\"incident\","
		 "\"number\":%d,\"status\":\"triggered\",\"title\":\"High error rate\","
		 "\"service\":{\"id\":\"PQ7X2KA\",\"type\":\"service_reference\",\"summary\":"
		 "\"Payment API\"},\"escalation_policy\":null,\"urgency\":\"high\"}}}",
		 i, i, i);
	HMAC(EVP_sha256(), "bench-secret", 12, (const unsigned char *)body, strlen(body), mac, &n);
	for (unsigned int k = 0; k < n; k++)
		snprintf(hex + 2 * k, 3, "%02x", mac[k]);
	snprintf(sig, sizeof(sig), "X-PagerDuty-Signature: v1=%s", hex);
	return incident_env_post(e, "/webhooks/pagerduty", headers, 2, body, strlen(body));
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

/* The slowest source's own time for an incident, from the context stored with it. */
static double slowest_source(struct incident_env *e, int64_t id, const char **name)
{
	struct store_incident inc = { 0 };
	json_t *d, *s;
	size_t i;
	double max = 0;
	static char who[32];

	if (store_incident_get(e->bot->store, id, &inc) != T0_OK)
		return -1;
	d = json_loads(inc.detail, 0, NULL);
	json_array_foreach(json_object_get(json_object_get(d, "context"), "sources"), i, s) {
		double ms = (double)json_integer_value(json_object_get(s, "ms"));

		if (ms > max) {
			max = ms;
			snprintf(who, sizeof(who), "%s", json_string_value(json_object_get(s, "name")));
		}
	}
	*name = who;
	json_decref(d);
	store_incident_clear(&inc);
	return max;
}

static int bench_latency(int alerts, int delay)
{
	struct incident_env e = { 0 };
	struct clients c = { 0 };
	struct posted p = { 0 };
	double *total = calloc((size_t)alerts, sizeof(double));
	double *slow = calloc((size_t)alerts, sizeof(double));
	double *gap = calloc((size_t)alerts, sizeof(double));
	const char *slow_name = "";

	if (incident_env_open(&e, CONFIG, 1, 0) != T0_OK) {
		fprintf(stderr, "env: %s\n", e.err);
		return 1;
	}
	start_fakes(&e, &c, delay, delay);
	incident_mgr_set_rate(e.mgr, 100000, 100000);
	incident_mgr_on_posted(e.mgr, on_posted, &p);
	for (int i = 0; i < alerts; i++) {
		struct want w = { &p, i + 1 };
		uint64_t t0 = t0_mono_ns();

		if (send_pd(&e, i) != 202) {
			fprintf(stderr, "webhook refused\n");
			return 1;
		}
		if (!incident_env_run_until(&e, reached, &w, 10000)) {
			fprintf(stderr, "no card for alert %d\n", i);
			return 1;
		}
		total[i] = (double)(p.t_ns - t0) / 1e6;
		slow[i] = slowest_source(&e, p.id, &slow_name);
		gap[i] = total[i] - slow[i];
	}
	qsort(total, (size_t)alerts, sizeof(double), cmp_d);
	qsort(slow, (size_t)alerts, sizeof(double), cmp_d);
	qsort(gap, (size_t)alerts, sizeof(double), cmp_d);
	printf("latency: %d alerts, every fake answering in %d ms (slowest source: %s)\n", alerts,
	       delay, slow_name);
	printf("  webhook -> card   p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", pct(total, alerts, .5),
	       pct(total, alerts, .99), total[alerts - 1]);
	printf("  slowest source    p50 %.1f ms  p99 %.1f ms\n", pct(slow, alerts, .5),
	       pct(slow, alerts, .99));
	printf("  card - slowest    p50 %.1f ms  p99 %.1f ms  max %.1f ms  (target p99 <= 100 ms)\n",
	       pct(gap, alerts, .5), pct(gap, alerts, .99), gap[alerts - 1]);
	stop_all(&e, &c);
	free(total);
	free(slow);
	free(gap);
	return 0;
}

static int bench_hanging(int runs, int delay)
{
	struct incident_env e = { 0 };
	struct clients c = { 0 };
	struct posted p = { 0 };
	double v[16], sum = 0;

	if (runs > 16)
		runs = 16;
	if (incident_env_open(&e, CONFIG, 1, 0) != T0_OK) {
		fprintf(stderr, "env: %s\n", e.err);
		return 1;
	}
	start_fakes(&e, &c, delay, 60000); /* Argo CD hangs */
	incident_mgr_set_rate(e.mgr, 100000, 100000);
	incident_mgr_set_timeouts(e.mgr, 1000, 1000);
	incident_mgr_on_posted(e.mgr, on_posted, &p);
	for (int i = 0; i < runs; i++) {
		struct want w = { &p, i + 1 };
		uint64_t t0 = t0_mono_ns();

		send_pd(&e, 1000 + i);
		incident_env_run_until(&e, reached, &w, 10000);
		v[i] = (double)(p.t_ns - t0) / 1e6;
		sum += v[i];
	}
	qsort(v, (size_t)runs, sizeof(double), cmp_d);
	printf("hanging Argo CD, overall deadline 1000 ms: %d alerts, card after min %.1f ms, "
	       "mean %.1f ms, max %.1f ms (target 1000 +- 50 ms)\n",
	       runs, v[0], sum / runs, v[runs - 1]);
	stop_all(&e, &c);
	return 0;
}

static int all_stored(void *arg)
{
	struct incident_env *e = arg;

	return !incident_mgr_queue_depth(e->mgr);
}

static int settled(void *arg)
{
	struct incident_env *e = arg;

	return !incident_mgr_busy(e->mgr) && !fake_chat_pending(e->chat);
}

static int bench_storm(int delay)
{
	static const char *const names[] = { "HighErrorRate", "HighLatency", "PodCrashLooping",
					     "DiskFull", "ErrorBudgetBurn" };
	static const char *const services[20] = {
		"payment-api", "checkout-web", "ledger-service", "fraud-scorer", "auth-service",
		"user-profile", "session-store-sync", "product-catalog", "search-api",
		"recommendation-engine", "inventory-service", "notification-service", "email-worker",
		"legacy-a", "legacy-b", "legacy-c", "legacy-d", "legacy-e", "legacy-f", "legacy-g",
	};
	struct incident_env e = { 0 };
	struct clients c = { 0 };
	char body[1024];
	const char *headers[] = { "Content-Type: application/json" };
	uint64_t t0, t_sent, t_stored, t_done;
	int64_t incidents = 0;

	if (incident_env_open(&e, CONFIG, 1, 0) != T0_OK) {
		fprintf(stderr, "env: %s\n", e.err);
		return 1;
	}
	start_fakes(&e, &c, delay, delay);
	t0 = t0_mono_ns();
	for (int i = 0; i < 500; i++) {
		const char *svc = services[i % 20], *name = names[(i / 20) % 5];

		snprintf(body, sizeof(body),
			 "{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"%s\\\",service=\\\"%s\\\"}\","
			 "\"status\":\"firing\",\"receiver\":\"tier0\",\"groupLabels\":{},"
			 "\"commonLabels\":{\"alertname\":\"%s\",\"service\":\"%s\"},"
			 "\"commonAnnotations\":{},\"externalURL\":\"http://am\",\"alerts\":[{"
			 "\"status\":\"firing\",\"labels\":{\"alertname\":\"%s\",\"service\":\"%s\"},"
			 "\"annotations\":{},\"startsAt\":\"2026-11-26T09:00:00Z\",\"fingerprint\":"
			 "\"f%d\"}]}",
			 name, svc, name, svc, name, svc, i);
		if (incident_env_post(&e, "/webhooks/alertmanager", headers, 1, body, strlen(body)) !=
		    200) {
			fprintf(stderr, "notification %d refused\n", i);
			return 1;
		}
	}
	t_sent = t0_mono_ns();
	incident_env_run_until(&e, all_stored, &e, 60000);
	t_stored = t0_mono_ns();
	incident_env_run_until(&e, settled, &e, 120000);
	t_done = t0_mono_ns();
	store_incident_count(e.bot->store, &incidents);
	printf("storm: 500 alerts, 20 services, %lld incidents\n", (long long)incidents);
	printf("  all sent (each answered) in %.2f s = %.0f alerts/s; all stored after %.2f s\n",
	       (double)(t_sent - t0) / 1e9, 500 / ((double)(t_sent - t0) / 1e9),
	       (double)(t_stored - t0) / 1e9);
	printf("  messages: %zu posted (cards and summaries), %zu updates; %.0f summaries; "
	       "queue drops %.0f; settled after %.1f s (channel rate 1 msg/s, burst 3)\n",
	       fake_chat_posts(e.chat), fake_chat_updates(e.chat),
	       metrics_value("tier0_incident_storm_summaries_total", NULL),
	       metrics_value("tier0_incident_queue_drops_total", NULL),
	       (double)(t_done - t0) / 1e9);
	stop_all(&e, &c);
	return 0;
}

int main(int argc, char **argv)
{
	int alerts = argc > 1 ? atoi(argv[1]) : 50;
	int delay = argc > 2 ? atoi(argv[2]) : 50;

	log_set_level(LOG_LEVEL_ERR);
	if (alerts < 1)
		alerts = 50;
	if (bench_latency(alerts, delay) != 0 || bench_hanging(5, delay) != 0 ||
	    bench_storm(delay) != 0)
		return 1;
	return 0;
}
