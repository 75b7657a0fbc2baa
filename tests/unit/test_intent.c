/* Intent engine: built-in phrasings, configured rules, limits and commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "intents/intent.h"

struct phrase_case {
	const char *text;
	const char *intent; /* NULL: must not match at all */
	const char *slot;   /* slot to check, or NULL */
	const char *value;  /* expected value; NULL: slot must be absent */
};

static int setup_builtin(void **state)
{
	char err[256];
	struct intent_engine *eng = intent_engine_new(NULL, err, sizeof(err));

	if (!eng)
		return -1;
	*state = eng;
	return 0;
}

static int teardown_engine(void **state)
{
	intent_engine_free(*state);
	return 0;
}

/* Sends log lines to a temporary file; log_capture_end returns them (caller frees). */
static FILE *log_capture_begin(void)
{
	FILE *fp = tmpfile();

	assert_non_null(fp);
	log_set_stream(fp);
	return fp;
}

static char *log_capture_end(FILE *fp)
{
	char *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(buf);
	log_set_stream(NULL);
	rewind(fp);
	n = fread(buf, 1, 8191, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static json_t *parse_json(const char *s)
{
	json_error_t jerr;
	json_t *j = json_loads(s, 0, &jerr);

	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, s);
	return j;
}

static struct intent_engine *engine_from(const char *rules_json)
{
	char err[256] = "";
	json_t *rules = parse_json(rules_json);
	struct intent_engine *eng = intent_engine_new(rules, err, sizeof(err));

	json_decref(rules);
	if (!eng)
		fail_msg("engine: %s", err);
	return eng;
}

static void check_case(struct intent_engine *eng, const struct phrase_case *c)
{
	struct intent_match m;
	int rc = intent_match(eng, c->text, &m);

	if (!c->intent) {
		if (rc != T0_ENOTFOUND)
			fail_msg("'%s': expected no match, got %s (rule %s)", c->text,
				 rc == T0_OK ? m.intent : t0_rc_str(rc), rc == T0_OK ? m.rule : "-");
		intent_match_clear(&m);
		return;
	}
	if (rc != T0_OK)
		fail_msg("'%s': expected %s, got %s", c->text, c->intent, t0_rc_str(rc));
	if (strcmp(m.intent, c->intent) != 0)
		fail_msg("'%s': expected %s, got %s (rule %s)", c->text, c->intent, m.intent, m.rule);
	if (c->slot) {
		const char *v = intent_slot(&m, c->slot);

		if (!c->value && v)
			fail_msg("'%s': slot %s should be absent, got '%s'", c->text, c->slot, v);
		if (c->value && (!v || strcmp(v, c->value) != 0))
			fail_msg("'%s': slot %s expected '%s', got '%s'", c->text, c->slot, c->value,
				 v ? v : "(none)");
	}
	intent_match_clear(&m);
}

static void check_cases(struct intent_engine *eng, const struct phrase_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		check_case(eng, &cases[i]);
}

static void test_intent_builtin_phrasings_map_to_intents_and_slots(void **state)
{
	static const struct phrase_case cases[] = {
		{"help", INTENT_HELP, NULL, NULL},
		{"what can you do", INTENT_HELP, NULL, NULL},
		{"commands", INTENT_HELP, NULL, NULL},
		{"?", INTENT_HELP, NULL, NULL},
		{"who owns checkout", INTENT_OWNER, "service", "checkout"},
		{"owner of payments-api", INTENT_OWNER, "service", "payments-api"},
		{"who is the owner of billing", INTENT_OWNER, "service", "billing"},
		{"whose is search", INTENT_OWNER, "service", "search"},
		{"ledger owner", INTENT_OWNER, "service", "ledger"},
		{"who maintains auth.v2", INTENT_OWNER, "service", "auth.v2"},
		{"which team owns Payment API", INTENT_OWNER, "service", "Payment API"},
		{"who's responsible for web/frontend", INTENT_OWNER, "service", "web/frontend"},
		{"who is on call for payments", INTENT_ONCALL, "target", "payments"},
		{"who's on call for team-sre", INTENT_ONCALL, "target", "team-sre"},
		{"oncall checkout", INTENT_ONCALL, "target", "checkout"},
		{"on-call for storage", INTENT_ONCALL, "target", "storage"},
		{"who is oncall platform", INTENT_ONCALL, "target", "platform"},
		{"who do I page for kafka", INTENT_ONCALL, "target", "kafka"},
		{"payments on call", INTENT_ONCALL, "target", "payments"},
		{"what does checkout depend on", INTENT_DEPS, "service", "checkout"},
		{"dependencies of orders", INTENT_DEPS, "service", "orders"},
		{"deps cart", INTENT_DEPS, "service", "cart"},
		{"inventory dependencies", INTENT_DEPS, "service", "inventory"},
		{"what depends on postgres-main", INTENT_BLAST, "service", "postgres-main"},
		{"blast radius of redis", INTENT_BLAST, "service", "redis"},
		{"blast radius auth", INTENT_BLAST, "service", "auth"},
		{"what breaks if payments is down", INTENT_BLAST, "service", "payments"},
		{"what breaks if the payments service goes down", INTENT_BLAST, "service", "payments"},
		{"impact of dns", INTENT_BLAST, "service", "dns"},
		{"impact of dns going down", INTENT_BLAST, "service", "dns"},
		{"who uses ledger", INTENT_BLAST, "service", "ledger"},
		{"dependents of kafka", INTENT_BLAST, "service", "kafka"},
		{"runbook for checkout", INTENT_RUNBOOK, "query", "checkout"},
		{"runbook HighErrorRate on checkout", INTENT_RUNBOOK, "query", "HighErrorRate on checkout"},
		{"how do I fix disk full on db-1", INTENT_RUNBOOK, "query", "disk full on db-1"},
		{"playbook for payments latency", INTENT_RUNBOOK, "query", "payments latency"},
		{"what do I do about the 5xx spike", INTENT_RUNBOOK, "query", "5xx spike"},
		{"describe checkout", INTENT_DESCRIBE, "service", "checkout"},
		{"tell me about payments", INTENT_DESCRIBE, "service", "payments"},
		{"what is component:default/ledger", INTENT_DESCRIBE, "service",
		 "component:default/ledger"},
		{"info search", INTENT_DESCRIBE, "service", "search"},
		{"show cart", INTENT_DESCRIBE, "service", "cart"},
		{"audit", INTENT_AUDIT, "count", NULL},
		{"audit log", INTENT_AUDIT, "count", NULL},
		{"show audit", INTENT_AUDIT, "count", NULL},
		{"audit 20", INTENT_AUDIT, "count", "20"},
		{"last 20 audit entries", INTENT_AUDIT, "count", "20"},
		{"ping", INTENT_PING, NULL, NULL},
		{"echo hello, world!", INTENT_ECHO, "text", "hello, world!"},
		{"echo what?", INTENT_ECHO, "text", "what?"},
		{"version", INTENT_VERSION, NULL, NULL},
		{"uptime", INTENT_UPTIME, NULL, NULL},
	};

	check_cases(*state, cases, T0_ARRAY_LEN(cases));
}

static void test_intent_matching_ignores_case(void **state)
{
	static const struct phrase_case cases[] = {
		{"WHO OWNS Checkout", INTENT_OWNER, "service", "Checkout"},
		{"Who Is On Call For Payments", INTENT_ONCALL, "target", "Payments"},
		{"HELP", INTENT_HELP, NULL, NULL},
		{"What Depends On Redis", INTENT_BLAST, "service", "Redis"},
		{"Echo Keep THIS", INTENT_ECHO, "text", "Keep THIS"},
	};

	check_cases(*state, cases, T0_ARRAY_LEN(cases));
}

static void test_intent_leading_mentions_are_stripped(void **state)
{
	static const struct phrase_case cases[] = {
		{"@tier0 who owns checkout", INTENT_OWNER, "service", "checkout"},
		{"<@U123ABC> who owns checkout", INTENT_OWNER, "service", "checkout"},
		{"<@U123ABC|tier0>: ping", INTENT_PING, NULL, NULL},
		{"tier0: who is on call for payments", INTENT_ONCALL, "target", "payments"},
		{"tier0, describe cart", INTENT_DESCRIBE, "service", "cart"},
		{"hey tier0 who owns search", INTENT_OWNER, "service", "search"},
		{"Hey @tier0, uptime", INTENT_UPTIME, NULL, NULL},
		{"  @TIER0   help  ", INTENT_HELP, NULL, NULL},
		{"<at>tier0</at> version", INTENT_VERSION, NULL, NULL},
		/* "tier0x" is not the bot */
		{"@tier0x ping", NULL, NULL, NULL},
		{"@tier0", NULL, NULL, NULL},
	};

	check_cases(*state, cases, T0_ARRAY_LEN(cases));
}

static void test_intent_trailing_punctuation_and_quotes_are_ignored(void **state)
{
	static const struct phrase_case cases[] = {
		{"who owns checkout?", INTENT_OWNER, "service", "checkout"},
		{"who owns checkout ?!", INTENT_OWNER, "service", "checkout"},
		{"describe api.v2.", INTENT_DESCRIBE, "service", "api.v2"},
		{"who owns \xe2\x80\x9cpayments\xe2\x80\x9d?", INTENT_OWNER, "service", "payments"},
		{"who owns \xe2\x80\x98ledger\xe2\x80\x99", INTENT_OWNER, "service", "ledger"},
		{"who owns `cart`", INTENT_OWNER, "service", "cart"},
		{"who\xe2\x80\x99s on call for payments?", INTENT_ONCALL, "target", "payments"},
		{"who owns the   checkout   service", INTENT_OWNER, "service", "checkout"},
		{"??", INTENT_HELP, NULL, NULL},
		{"echo  spaced   out.", INTENT_ECHO, "text", "spaced   out."},
	};

	check_cases(*state, cases, T0_ARRAY_LEN(cases));
}

static void test_intent_near_misses_do_not_match_a_wrong_intent(void **state)
{
	static const struct phrase_case cases[] = {
		{"who owns", NULL, NULL, NULL},
		{"who owns?", NULL, NULL, NULL},
		{"who is on call", NULL, NULL, NULL},
		{"who is on call for", NULL, NULL, NULL},
		{"owner of", NULL, NULL, NULL},
		{"the owner", NULL, NULL, NULL},
		{"reboot payments", NULL, NULL, NULL},
		{"reboot checkout now", NULL, NULL, NULL},
		{"page payments", NULL, NULL, NULL},
		{"echo", NULL, NULL, NULL},
		{"runbook", NULL, NULL, NULL},
		{"runbook for", NULL, NULL, NULL},
		{"describe", NULL, NULL, NULL},
		{"show me", NULL, NULL, NULL},
		{"what is", NULL, NULL, NULL},
		{"pingpong", NULL, NULL, NULL},
		{"helpful tips", NULL, NULL, NULL},
		{"audit everything", NULL, NULL, NULL},
		{"what does checkout depend on", INTENT_DEPS, "service", "checkout"},
		{"what depends on checkout", INTENT_BLAST, "service", "checkout"},
		{"show audit", INTENT_AUDIT, NULL, NULL},
		{"who is the owner of payments", INTENT_OWNER, "service", "payments"},
		{"what is the blast radius of auth", INTENT_BLAST, "service", "auth"},
	};

	check_cases(*state, cases, T0_ARRAY_LEN(cases));
}

static void test_intent_unknown_and_empty_text_not_found(void **state)
{
	static const char *const texts[] = {"", "   ", "\t\n", "hello there", "deploy v2 to prod",
					    "!!!", "@tier0 ", "\xff\xfe garbage \xc3"};
	struct intent_match m;

	for (size_t i = 0; i < T0_ARRAY_LEN(texts); i++) {
		int rc = intent_match(*state, texts[i], &m);

		if (rc != T0_ENOTFOUND)
			fail_msg("'%s': expected T0_ENOTFOUND, got %s", texts[i], t0_rc_str(rc));
		assert_null(m.intent);
		assert_int_equal(m.nslots, 0);
	}
}

static void test_intent_overlong_input_is_refused(void **state)
{
	char *text = malloc(INTENT_MAX_TEXT + 2);
	struct intent_match m;

	assert_non_null(text);
	memcpy(text, "echo ", 5);
	memset(text + 5, 'x', INTENT_MAX_TEXT - 5);
	text[INTENT_MAX_TEXT] = '\0';
	assert_int_equal(intent_match(*state, text, &m), T0_OK);
	assert_string_equal(m.intent, INTENT_ECHO);
	/* the slot is capped */
	assert_int_equal(strlen(intent_slot(&m, "text")), INTENT_MAX_SLOT_LEN);
	intent_match_clear(&m);
	text[INTENT_MAX_TEXT] = 'x';
	text[INTENT_MAX_TEXT + 1] = '\0';
	assert_int_equal(intent_match(*state, text, &m), T0_ETOOBIG);
	assert_null(m.intent);
	free(text);
}

static void test_intent_random_input_gives_match_or_not_found(void **state)
{
	static const char *const pieces[] = {
		"who", "owns", " ", "  ", "?", "!", ".", "@tier0", "<@U1>", "tier0:", "hey", "\xe2\x80\x9c",
		"\xe2\x80\x99", "\xff", "\xc3", "'", "`", "\"", "on call", "for", "the", "service", "of",
		"what", "depends", "on", "echo", "audit", "12345", "payments", "-", "/", ":", "\t", "\n",
		"runbook", "describe", "\xc3\xa9", "is", "down", "blast radius", "deps", "x",
	};
	uint32_t seed = 12345;
	char text[512];
	struct intent_match m;

	for (int iter = 0; iter < 5000; iter++) {
		size_t len = 0, count;
		int rc;

		seed = seed * 1103515245u + 12345u;
		count = (seed >> 16) % 12;
		text[0] = '\0';
		for (size_t k = 0; k < count; k++) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			p = pieces[(seed >> 16) % T0_ARRAY_LEN(pieces)];
			if (len + strlen(p) + 1 >= sizeof(text))
				break;
			memcpy(text + len, p, strlen(p) + 1);
			len += strlen(p);
		}
		rc = intent_match(*state, text, &m);
		if (rc != T0_OK && rc != T0_ENOTFOUND)
			fail_msg("'%s': %s", text, t0_rc_str(rc));
		if (rc == T0_OK) {
			assert_non_null(m.intent);
			assert_non_null(m.rule);
			for (size_t i = 0; i < m.nslots; i++) {
				assert_non_null(m.slots[i].value);
				assert_true(strlen(m.slots[i].value) <= INTENT_MAX_SLOT_LEN);
			}
		} else {
			assert_null(m.intent);
		}
		intent_match_clear(&m);
	}
}

static void test_intent_null_arguments_are_refused(void **state)
{
	struct intent_match m;
	char out[16];

	assert_int_equal(intent_match(NULL, "ping", &m), T0_EINVAL);
	assert_int_equal(intent_match(*state, NULL, &m), T0_EINVAL);
	assert_int_equal(intent_match(*state, "ping", NULL), T0_EINVAL);
	assert_int_equal(intent_command_text(NULL, "x", out, sizeof(out)), T0_EINVAL);
	assert_null(intent_slot(NULL, "x"));
	assert_int_equal(intent_rule_count(*state), 0);
	intent_match_clear(NULL);
	intent_engine_free(NULL);
}

static void test_intent_configured_rules_override_builtins_by_priority(void **state)
{
	struct intent_engine *eng = engine_from(
		"[{\"name\": \"tie-first\", \"pattern\": \"^who owns (?<service>\\\\S+)$\","
		"  \"intent\": \"describe\"},"
		" {\"name\": \"tie-second\", \"pattern\": \"^who owns (?<service>\\\\S+)$\","
		"  \"intent\": \"owner\"},"
		" {\"name\": \"urgent\", \"pattern\": \"^who owns (?<service>pay\\\\S*)$\","
		"  \"intent\": \"blast_radius\", \"priority\": 10},"
		" {\"name\": \"low\", \"pattern\": \"^ping$\", \"reply\": \"pong!\", \"priority\": -5}]");
	struct intent_match m;

	assert_int_equal(intent_rule_count(eng), 4);
	/* the higher priority wins although it comes later in the file */
	assert_int_equal(intent_match(eng, "who owns payments", &m), T0_OK);
	assert_string_equal(m.rule, "urgent");
	assert_string_equal(m.intent, INTENT_BLAST);
	assert_int_equal(m.builtin, 0);
	assert_string_equal(intent_slot(&m, "service"), "payments");
	intent_match_clear(&m);
	/* equal priority: file order; both beat the built-in owner phrasing */
	assert_int_equal(intent_match(eng, "who owns checkout", &m), T0_OK);
	assert_string_equal(m.rule, "tie-first");
	assert_string_equal(m.intent, INTENT_DESCRIBE);
	intent_match_clear(&m);
	/* a negative priority still comes before the built-ins */
	assert_int_equal(intent_match(eng, "ping", &m), T0_OK);
	assert_string_equal(m.rule, "low");
	assert_string_equal(m.intent, INTENT_REPLY);
	intent_match_clear(&m);
	/* built-ins still answer what no rule covers */
	assert_int_equal(intent_match(eng, "who owns the cart service", &m), T0_OK);
	assert_int_equal(m.builtin, 1);
	assert_string_equal(m.intent, INTENT_OWNER);
	assert_string_equal(intent_slot(&m, "service"), "cart");
	intent_match_clear(&m);
	assert_int_equal(intent_match(eng, "who maintains cart", &m), T0_OK);
	assert_int_equal(m.builtin, 1);
	assert_string_equal(m.intent, INTENT_OWNER);
	intent_match_clear(&m);
	intent_engine_free(eng);
}

static void test_intent_reply_rule_exposes_template_and_slots(void **state)
{
	struct intent_engine *eng = engine_from(
		"[{\"name\": \"status-page\","
		"  \"pattern\": \"^(?:is\\\\s+)?(?<svc>[a-z-]+)\\\\s+(?:status|down)(?:\\\\s+in\\\\s+(?<region>\\\\S+))?$\","
		"  \"reply\": \"Status of {svc} ({region}): https://status.example.com/{svc}\","
		"  \"help\": \"link to the status page\"}]");
	struct intent_match m;

	assert_int_equal(intent_match(eng, "@tier0 is checkout down in eu-west-1?", &m), T0_OK);
	assert_string_equal(m.intent, INTENT_REPLY);
	assert_string_equal(m.rule, "status-page");
	assert_string_equal(m.reply, "Status of {svc} ({region}): https://status.example.com/{svc}");
	assert_int_equal(m.nslots, 2);
	assert_string_equal(intent_slot(&m, "svc"), "checkout");
	assert_string_equal(intent_slot(&m, "region"), "eu-west-1");
	assert_null(intent_slot(&m, "nope"));
	intent_match_clear(&m);
	/* an optional group that did not take part is not a slot */
	assert_int_equal(intent_match(eng, "Checkout status", &m), T0_OK);
	assert_string_equal(intent_slot(&m, "svc"), "Checkout");
	assert_null(intent_slot(&m, "region"));
	intent_match_clear(&m);
	intent_engine_free(eng);
}

static void test_intent_rule_errors_name_the_rule_and_field(void **state)
{
	static const struct {
		const char *json;
		const char *err;
	} cases[] = {
		{"{}", "intents.rules: must be a list"},
		{"[\"x\"]", "intents.rules[0]: must be a mapping"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\", \"prio\": 1}]",
		 "intents.rules[0]: unknown key 'prio'"},
		{"[{\"pattern\": \"^a$\", \"intent\": \"ping\"}]",
		 "intents.rules[0].name: required non-empty string"},
		{"[{\"name\": \"a\", \"intent\": \"ping\"}]",
		 "intents.rules[0].pattern: required non-empty string"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\"}]",
		 "intents.rules[0]: needs exactly one of intent or reply"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\", \"reply\": \"x\"}]",
		 "intents.rules[0]: needs exactly one of intent or reply"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": 3}]",
		 "intents.rules[0].intent: must be a string"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\"},"
		 " {\"name\": \"b\", \"pattern\": \"^b$\", \"intent\": \"rollback\"}]",
		 "intents.rules[1].intent: unknown intent 'rollback'"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"reply\"}]",
		 "intents.rules[0].intent: unknown intent 'reply'"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"reply\": \"\"}]",
		 "intents.rules[0].reply: must be a non-empty string"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\", \"priority\": \"high\"}]",
		 "intents.rules[0].priority: must be an integer"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\", \"help\": 1}]",
		 "intents.rules[0].help: must be a string"},
		{"[{\"name\": \"a\", \"pattern\": \"^(a$\", \"intent\": \"ping\"}]",
		 "intents.rules[0].pattern: PCRE2 error at offset 4: missing closing parenthesis"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\"},"
		 " {\"name\": \"b\", \"pattern\": \"a{2,1}\", \"reply\": \"r\"}]",
		 "intents.rules[1].pattern: PCRE2 error at offset 5: numbers out of order in {} quantifier"},
		{"[{\"name\": \"a\", \"pattern\": \"^who (?<svc>.+)$\", \"intent\": \"owner\"}]",
		 "intents.rules[0].pattern: intent 'owner' needs a named group (?<service>...)"},
		{"[{\"name\": \"a\", \"pattern\": \"(?<a>1)(?<b>2)(?<c>3)(?<d>4)(?<e>5)(?<f>6)(?<g>7)(?<h>8)(?<i>9)\","
		 " \"reply\": \"r\"}]",
		 "intents.rules[0].pattern: too many named groups (max 8)"},
		{"[{\"name\": \"a\", \"pattern\": \"(?<abcdefghijklmnopqrstuvwxyz012345>1)\", \"reply\": \"r\"}]",
		 "intents.rules[0].pattern: group name 'abcdefghijklmnopqrstuvwxyz012345' is longer than 31 characters"},
		{"[{\"name\": \"a\", \"pattern\": \"^a$\", \"intent\": \"ping\"},"
		 " {\"name\": \"a\", \"pattern\": \"^b$\", \"intent\": \"ping\"}]",
		 "intents.rules[1].name: duplicate rule name 'a'"},
	};

	for (size_t i = 0; i < T0_ARRAY_LEN(cases); i++) {
		char err[256] = "";
		json_t *rules = parse_json(cases[i].json);
		struct intent_engine *eng = intent_engine_new(rules, err, sizeof(err));

		json_decref(rules);
		if (eng) {
			intent_engine_free(eng);
			fail_msg("case %zu: engine built from %s", i, cases[i].json);
		}
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].err, err);
	}
}

static void test_intent_catastrophic_pattern_hits_match_limit(void **state)
{
	struct intent_engine *eng = engine_from(
		"[{\"name\": \"evil\", \"pattern\": \"^(a+)+$\", \"reply\": \"never\"}]");
	char text[3001];
	struct intent_match m;
	uint64_t t0, elapsed;
	FILE *logfp;
	char *logged;

	memset(text, 'a', sizeof(text) - 2);
	text[sizeof(text) - 2] = 'b';
	text[sizeof(text) - 1] = '\0';
	logfp = log_capture_begin();
	t0 = t0_mono_ns();
	assert_int_equal(intent_match(eng, text, &m), T0_ENOTFOUND);
	elapsed = t0_mono_ns() - t0;
	logged = log_capture_end(logfp);
	assert_non_null(strstr(logged, "\"rule\":\"evil\""));
	free(logged);
	assert_int_equal(intent_engine_limit_hits(eng), 1);
	if (elapsed > 1000000000ull)
		fail_msg("match took %llu ms", (unsigned long long)(elapsed / 1000000));
	/* the engine keeps working afterwards */
	assert_int_equal(intent_match(eng, "aaaa", &m), T0_OK);
	assert_string_equal(m.rule, "evil");
	intent_match_clear(&m);
	intent_engine_free(eng);
}

static void test_intent_slot_values_are_capped(void **state)
{
	struct intent_engine *eng = engine_from(
		"[{\"name\": \"note\", \"pattern\": \"^note (?<body>.+)$\", \"reply\": \"{body}\"}]");
	char text[INTENT_MAX_TEXT + 1];
	struct intent_match m;
	const char *v;

	memcpy(text, "note ", 5);
	/* two-byte characters, so a cut in the wrong place would split one */
	for (size_t i = 5; i + 2 <= 1505; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[1505] = '\0';
	assert_int_equal(intent_match(eng, text, &m), T0_OK);
	v = intent_slot(&m, "body");
	assert_non_null(v);
	assert_true(strlen(v) <= INTENT_MAX_SLOT_LEN);
	assert_true(strlen(v) >= INTENT_MAX_SLOT_LEN - 1);
	assert_int_equal(strlen(v) % 2, 0);
	intent_match_clear(&m);
	intent_engine_free(eng);
}

static void test_intent_normalize_rewrites_quotes_and_invalid_utf8(void **state)
{
	char out[64];

	assert_int_equal(intent_text_normalize("  \xe2\x80\x9chi\xe2\x80\x9d \xe2\x80\x98x\xe2\x80\x99 ", out,
					       sizeof(out)),
			 T0_OK);
	assert_string_equal(out, "\"hi\" 'x'");
	assert_int_equal(intent_text_normalize("a\xff" "b\xed\xa0\x80" "c", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "a?b???c");
	assert_int_equal(intent_text_normalize("hey tier0, who owns x?", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who owns x?");
	assert_int_equal(intent_text_normalize("tier0 ping", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "tier0 ping");
	assert_int_equal(intent_text_normalize("0123456789", out, 8), T0_ETOOBIG);
}

static void test_intent_command_text_maps_slash_commands(void **state)
{
	char out[64];

	assert_int_equal(intent_command_text("/tier0", "who owns x", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who owns x");
	assert_int_equal(intent_command_text("/whoowns", " checkout ", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who owns checkout");
	assert_int_equal(intent_command_text("/oncall", "payments", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who is on call for payments");
	assert_int_equal(intent_command_text("/tier0", "", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "help");
	assert_int_equal(intent_command_text("/rollback", "payments", out, sizeof(out)), T0_ENOTFOUND);
	assert_int_equal(intent_command_text("/oncall", "payments", out, 20), T0_ETOOBIG);
}

static void test_intent_configured_commands_take_precedence(void **state)
{
	struct intent_engine *eng = *state;
	json_t *cmds = parse_json("{\"/deps\": \"what does\", \"/oncall\": \"who do I page for\"}");
	json_t *bad = parse_json("{\"deps\": \"what does\"}");
	char out[64];
	struct intent_match m;
	FILE *logfp;
	char *logged;

	assert_int_equal(intent_engine_set_commands(eng, cmds), T0_OK);
	assert_int_equal(intent_engine_command_text(eng, "/oncall", "kafka", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who do I page for kafka");
	assert_int_equal(intent_match(eng, out, &m), T0_OK);
	assert_string_equal(m.intent, INTENT_ONCALL);
	intent_match_clear(&m);
	assert_int_equal(intent_engine_command_text(eng, "/whoowns", "cart", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who owns cart");
	assert_int_equal(intent_engine_command_text(eng, "/deps", "x", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "what does x");
	/* a bad map is refused and the previous one stays */
	logfp = log_capture_begin();
	assert_int_equal(intent_engine_set_commands(eng, bad), T0_EINVAL);
	logged = log_capture_end(logfp);
	assert_non_null(strstr(logged, "\"command\":\"deps\""));
	free(logged);
	assert_int_equal(intent_engine_command_text(eng, "/deps", "x", out, sizeof(out)), T0_OK);
	assert_int_equal(intent_engine_set_commands(eng, NULL), T0_OK);
	assert_int_equal(intent_engine_command_text(eng, "/deps", "x", out, sizeof(out)), T0_ENOTFOUND);
	json_decref(cmds);
	json_decref(bad);
}

struct help_seen {
	size_t n;
	int saw_owner, saw_rule, saw_helpless;
};

static void help_cb(void *arg, const char *usage, const char *help)
{
	struct help_seen *h = arg;

	h->n++;
	if (strcmp(usage, "who owns <service>") == 0 && help[0])
		h->saw_owner = 1;
	if (strcmp(usage, "status-page") == 0 && strcmp(help, "link to the status page") == 0)
		h->saw_rule = 1;
	if (strcmp(usage, "quiet") == 0)
		h->saw_helpless = 1;
}

static void test_intent_help_lists_builtins_and_rules_with_help(void **state)
{
	struct intent_engine *eng = engine_from(
		"[{\"name\": \"status-page\", \"pattern\": \"^status$\", \"reply\": \"ok\","
		"  \"help\": \"link to the status page\"},"
		" {\"name\": \"quiet\", \"pattern\": \"^shh$\", \"reply\": \"...\"}]");
	struct help_seen h = {0};

	intent_help_each(eng, help_cb, &h);
	assert_int_equal(h.n, 20); /* 19 built-in intents + 1 rule with help */
	assert_true(h.saw_owner);
	assert_true(h.saw_rule);
	assert_false(h.saw_helpless);
	intent_engine_free(eng);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intent_builtin_phrasings_map_to_intents_and_slots,
						setup_builtin, teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_matching_ignores_case, setup_builtin,
						teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_leading_mentions_are_stripped, setup_builtin,
						teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_trailing_punctuation_and_quotes_are_ignored,
						setup_builtin, teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_near_misses_do_not_match_a_wrong_intent,
						setup_builtin, teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_unknown_and_empty_text_not_found,
						setup_builtin, teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_overlong_input_is_refused, setup_builtin,
						teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_random_input_gives_match_or_not_found,
						setup_builtin, teardown_engine),
		cmocka_unit_test_setup_teardown(test_intent_null_arguments_are_refused, setup_builtin,
						teardown_engine),
		cmocka_unit_test(test_intent_configured_rules_override_builtins_by_priority),
		cmocka_unit_test(test_intent_reply_rule_exposes_template_and_slots),
		cmocka_unit_test(test_intent_rule_errors_name_the_rule_and_field),
		cmocka_unit_test(test_intent_catastrophic_pattern_hits_match_limit),
		cmocka_unit_test(test_intent_slot_values_are_capped),
		cmocka_unit_test(test_intent_normalize_rewrites_quotes_and_invalid_utf8),
		cmocka_unit_test(test_intent_command_text_maps_slash_commands),
		cmocka_unit_test_setup_teardown(test_intent_configured_commands_take_precedence,
						setup_builtin, teardown_engine),
		cmocka_unit_test(test_intent_help_lists_builtins_and_rules_with_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
