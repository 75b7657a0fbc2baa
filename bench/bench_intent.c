/*
 * Intent matching throughput: the built-in phrasings plus 100 generated
 * configured rules, fed a mix of realistic chat messages (hits on built-ins,
 * hits on configured rules, and misses that try every rule) for about 1.5 s.
 *
 *   ./build/bench/bench_intent [seconds]     (-v as the first argument lists the mix)
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"
#include "intents/intent.h"

#define NCONFIGURED 100

static const char *const teams[] = {"payments", "checkout", "search", "platform", "identity",
				    "ledger", "storage", "growth", "mobile", "data"};

/* Ten rule shapes, each instantiated for ten teams: typical site-specific additions. */
static json_t *make_rules(void)
{
	json_t *rules = json_array();
	char name[64], pattern[256], reply[256];

	for (size_t i = 0; i < NCONFIGURED; i++) {
		const char *team = teams[i % T0_ARRAY_LEN(teams)];
		json_t *r = json_object();

		snprintf(name, sizeof(name), "rule-%zu", i);
		switch (i / T0_ARRAY_LEN(teams)) {
		case 0:
			snprintf(pattern, sizeof(pattern),
				 "^(?:deploy|ship)\\s+(?<service>%s-[a-z0-9-]+)\\s+to\\s+(?<env>prod|staging|dev)$",
				 team);
			snprintf(reply, sizeof(reply), "Deploys of {service} go through the %s pipeline",
				 team);
			break;
		case 1:
			snprintf(pattern, sizeof(pattern),
				 "^(?:status|health)\\s+(?:of\\s+)?(?<service>%s(?:-[a-z0-9]+)*)$", team);
			snprintf(reply, sizeof(reply), "https://status.example.com/%s/{service}", team);
			break;
		case 2:
			snprintf(pattern, sizeof(pattern), "^%s\\s+dashboards?$", team);
			snprintf(reply, sizeof(reply), "https://grafana.example.com/d/%s", team);
			break;
		case 3:
			snprintf(pattern, sizeof(pattern),
				 "^(?:where|how)\\s+(?:do|can)\\s+i\\s+(?:reach|contact)\\s+(?:the\\s+)?%s(?:\\s+team)?$",
				 team);
			snprintf(reply, sizeof(reply), "#team-%s on Slack", team);
			break;
		case 4:
			json_object_set_new(r, "intent", json_string(INTENT_RUNBOOK));
			snprintf(pattern, sizeof(pattern),
				 "^(?<query>%s-[a-z]+\\s+(?:is\\s+)?(?:down|broken|slow))$", team);
			break;
		case 5:
			snprintf(pattern, sizeof(pattern), "^who\\s+leads\\s+(?<service>%s[a-z-]*)$", team);
			json_object_set_new(r, "intent", json_string(INTENT_OWNER));
			break;
		case 6:
			snprintf(pattern, sizeof(pattern),
				 "^(?:sla|slo)\\s+(?:for\\s+)?(?<service>%s[\\w-]*)(?:\\s+(?<window>\\d+d))?$",
				 team);
			snprintf(reply, sizeof(reply), "SLOs for {service}: https://slo.example.com/%s", team);
			break;
		case 7:
			snprintf(pattern, sizeof(pattern), "\\b%s\\s+(?:incident|outage)\\s+#?(?<id>\\d{1,6})\\b", team);
			snprintf(reply, sizeof(reply), "Incident {id}: https://incidents.example.com/{id}");
			break;
		case 8:
			snprintf(pattern, sizeof(pattern), "^(?:escalate|page)\\s+%s\\s+(?<level>l[1-3])$", team);
			snprintf(reply, sizeof(reply), "Escalation for %s level {level}: use PagerDuty", team);
			break;
		default:
			snprintf(pattern, sizeof(pattern), "^(?:logs|traces)\\s+(?:for\\s+)?(?<service>%s-\\S+)$",
				 team);
			snprintf(reply, sizeof(reply), "https://logs.example.com/?q=service:{service}");
			break;
		}
		json_object_set_new(r, "name", json_string(name));
		json_object_set_new(r, "pattern", json_string(pattern));
		if (!json_object_get(r, "intent"))
			json_object_set_new(r, "reply", json_string(reply));
		json_object_set_new(r, "priority", json_integer((json_int_t)(i % 3)));
		json_array_append_new(rules, r);
	}
	return rules;
}

static const char *const messages[] = {
	"who owns checkout",
	"@tier0 who owns payments-api?",
	"<@U024BE7LH> who is on call for platform",
	"who's on call for storage?",
	"what depends on postgres-main",
	"what does checkout depend on?",
	"blast radius of redis",
	"runbook for HighErrorRate on checkout",
	"how do I fix disk full on db-1",
	"describe ledger",
	"tell me about the search service",
	"audit 20",
	"ping",
	"help",
	"version",
	"uptime",
	"echo hello world",
	"deploy payments-api to prod",
	"status of checkout-web",
	"ledger dashboards",
	"how can I reach the identity team",
	"storage-gateway is down",
	"who leads growth-experiments",
	"slo for data-pipeline 30d",
	"anyone looking at the payments outage #4521?",
	"escalate mobile l2",
	"logs for search-indexer",
	"thanks!",
	"good morning team",
	"is anyone else seeing 502s on the checkout page right now?",
	"I think the deploy broke something, rolling back",
	"can someone review my PR https://github.com/example/repo/pull/123",
	"lunch?",
	"the dashboard for ledger looks weird since 10:42 UTC, latency p99 went from 120ms to 900ms",
	"rollback payments",
	"restart checkout",
	"+1",
	"ack",
	"which team owns Payment API",
	"impact of dns going down",
	"who uses kafka",
	"payments on call",
	"inventory dependencies",
	"what breaks if the auth service goes down",
	"playbook for payments latency",
	"show audit",
	"last 50 audit entries",
	"who is the owner of billing",
	"tier0: oncall checkout",
	"hey tier0 what can you do",
};

int main(int argc, char **argv)
{
	int verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	double seconds = argc > 1 + verbose ? atof(argv[1 + verbose]) : 1.5;
	char err[256] = "";
	json_t *rules = make_rules();
	struct intent_engine *eng = intent_engine_new(rules, err, sizeof(err));
	struct intent_match m;
	uint64_t start, now, deadline;
	size_t n = 0, hits = 0;
	uint32_t jit = 0;
	double elapsed;

	json_decref(rules);
	if (!eng) {
		fprintf(stderr, "bench_intent: %s\n", err);
		return 1;
	}
	pcre2_config(PCRE2_CONFIG_JIT, &jit);
	for (size_t i = 0; verbose && i < T0_ARRAY_LEN(messages); i++) {
		int rc = intent_match(eng, messages[i], &m);

		printf("%-40.40s -> %s %s\n", messages[i], rc == T0_OK ? m.intent : t0_rc_str(rc),
		       rc == T0_OK ? m.rule : "");
		intent_match_clear(&m);
	}
	start = t0_mono_ns();
	deadline = start + (uint64_t)(seconds * 1e9);
	do {
		/* Check the clock once per pass over the mix, not per message. */
		for (size_t i = 0; i < T0_ARRAY_LEN(messages); i++) {
			if (intent_match(eng, messages[i], &m) == T0_OK)
				hits++;
			intent_match_clear(&m);
		}
		n += T0_ARRAY_LEN(messages);
		now = t0_mono_ns();
	} while (now < deadline);
	elapsed = (double)(now - start) / 1e9;
	printf("intent_match: %zu configured rules + built-ins, jit=%s, %zu messages in the mix "
	       "(%zu%% matched)\n",
	       intent_rule_count(eng), jit ? "yes" : "no", T0_ARRAY_LEN(messages), hits * 100 / n);
	printf("%zu messages in %.2f s: %.0f messages/s, %.0f ns/message\n", n, elapsed,
	       (double)n / elapsed, elapsed * 1e9 / (double)n);
	intent_engine_free(eng);
	return 0;
}
