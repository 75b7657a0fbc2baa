/*
 * The PCRE2 intent engine: configured rules and built-in phrasings compiled
 * once, matched in order against one cleaned-up message with a shared match
 * data block and a match context that bounds the work per rule.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "intents/intent.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/log.h"
#include "bot/t0.h"

#define RULE_BUILTIN 0x1u
#define RULE_RAW 0x2u /* matched against the text with its trailing punctuation */

#define MAX_NAME_LEN 64
#define MAX_COMMAND_LEN 32
#define JIT_STACK_MIN (32u * 1024)
#define JIT_STACK_MAX (512u * 1024)
#define HEAP_LIMIT_KIB 8192u

struct rule_group {
	char name[sizeof(((struct intent_slot *)0)->name)];
	uint32_t num;
};

struct intent_rule {
	char *name;
	const char *intent; /* static string */
	char *reply;
	char *help;
	json_int_t priority;
	size_t order;
	unsigned flags;
	pcre2_code *code;
	struct rule_group groups[INTENT_MAX_SLOTS];
	size_t ngroups;
};

struct command_alias {
	char *command;
	char *prefix;
};

struct intent_engine {
	struct intent_rule *rules; /* configured (sorted) then built-in */
	size_t nrules, nconfigured;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	struct command_alias *commands;
	size_t ncommands;
	size_t limit_hits;
};

/* Pieces of the built-in patterns. A name is letters, digits and "_-./:" and spaces. */
#define Q "[\"'`]?"
#define NAME_FIRST "[\\p{L}\\p{N}_./]"
#define NAME_CHAR "[\\p{L}\\p{N}_\\-./: ]"
#define SLOT(n) "(?<" n ">" Q NAME_FIRST NAME_CHAR "{0,127}" Q ")"
#define SLOT_LAZY(n) "(?<" n ">" Q NAME_FIRST NAME_CHAR "{0,127}?" Q ")"
#define SVC SLOT("service")
#define TARGET SLOT("target")
#define QUERY "(?<query>\\S.*)"
/* A trailing form ("payments owner") must not start with a question word. */
#define NOT_QUESTION "(?!(?:who|whom|whose|what|which|where|when|why|how|is|are|does|do|can)\\b)"
#define BE "(?:\\s+is|'s|s)"
#define ONCALL "on[\\s-]?call"
/* "6h", "6 hours", "30m", "2d", "2026-11-26", "2026-11-26T08:00:00Z" */
#define SINCE                                                                              \
	"(?<since>\\d{1,4}\\s*(?:s|sec|secs|seconds?|m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?)" \
	"|\\d{4}-\\d{2}-\\d{2}(?:[tT ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:[zZ]|[+-]\\d{2}:\\d{2})?)?)"

struct builtin_phrase {
	const char *intent;
	const char *pattern;
	unsigned flags;
};

/* Order matters: the first phrase that matches wins, so the catch-all "describe" comes last. */
static const struct builtin_phrase builtin_phrases[] = {
	{INTENT_HELP, "^(?:help|what\\s+can\\s+you\\s+do|(?:list\\s+)?commands|usage|\\?+)$", 0},
	{INTENT_PING, "^(?:ping|are\\s+you\\s+(?:there|alive|up))$", 0},
	{INTENT_VERSION, "^(?:version|what\\s+version(?:\\s+are\\s+you(?:\\s+running)?)?)$", 0},
	{INTENT_UPTIME, "^(?:uptime|how\\s+long\\s+have\\s+you\\s+been\\s+(?:up|running))$", 0},
	{INTENT_ECHO, "^echo\\s+(?<text>.+)$", RULE_RAW},
	/* Actions: before the generic audit rows and before "show X" (describe). */
	{INTENT_ACTION_AUDIT,
	 "^(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?audit\\s+(?:(?:trail|chain|log)\\s+)?(?:for\\s+|of\\s+)?"
	 "(?:request\\s+)?(?<request_id>r-[0-9a-f]{4,32})$",
	 0},
	{INTENT_ACTION_DRYRUN, "^dry[\\s-]?run\\s+(?<request>\\S.*)$", 0},
	{INTENT_ACTIONS_LIST,
	 "^(?:list\\s+(?:the\\s+)?|show\\s+(?:me\\s+)?(?:the\\s+)?|what\\s+)?(?:available\\s+)?actions"
	 "(?:\\s+(?:are\\s+there|can\\s+i\\s+(?:run|request)))?$",
	 0},
	{INTENT_ACTION,
	 "^(?<action>scale)\\s+" SLOT_LAZY("target") "\\s+to\\s+(?<replicas>\\d{1,6})(?:\\s+replicas?)?"
	 "(?:\\s+(?<args>[A-Za-z_]\\w*=.*))?$",
	 0},
	{INTENT_ACTION,
	 "^(?:please\\s+)?(?<action>rollback|roll\\s+back|restart|redeploy|sync|resync)\\s+"
	 SLOT_LAZY("target") "(?:\\s+(?<args>[A-Za-z_]\\w*=.*))?$",
	 0},
	{INTENT_ACTION,
	 "^run\\s+(?<action>[a-z][a-z0-9_-]{0,63})(?:\\s+(?<target>[^\\s=]+))?"
	 "(?:\\s+(?<args>[A-Za-z_]\\w*=.*))?$",
	 0},
	{INTENT_AUDIT,
	 "^(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?audit(?:\\s+(?:log|trail|entries))?"
	 "(?:\\s+(?<count>\\d{1,4}))?$",
	 0},
	{INTENT_AUDIT,
	 "^(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?(?:last|latest|recent)(?:\\s+(?<count>\\d{1,4}))?"
	 "\\s+audit(?:\\s+(?:log|trail))?(?:\\s+(?:entries|events|records|lines))?$",
	 0},
	{INTENT_OWNER, "^who\\s+owns\\s+" SVC "$", 0},
	{INTENT_OWNER, "^(?:(?:who|what)" BE "\\s+the\\s+)?owners?\\s+(?:of|for)\\s+" SVC "$", 0},
	{INTENT_OWNER, "^whose\\s+is\\s+" SVC "$", 0},
	{INTENT_OWNER, "^who\\s+(?:maintains|runs)\\s+" SVC "$", 0},
	{INTENT_OWNER, "^(?:which|what)\\s+team\\s+(?:owns|maintains|runs)\\s+" SVC "$", 0},
	{INTENT_OWNER, "^who" BE "\\s+responsible\\s+for\\s+" SVC "$", 0},
	{INTENT_OWNER, "^" NOT_QUESTION SVC "\\s+owners?$", 0},
	{INTENT_ONCALL,
	 "^who" BE "\\s+(?:currently\\s+)?" ONCALL "(?:\\s+(?:for|on|at))?\\s+" TARGET "$", 0},
	{INTENT_ONCALL, "^" ONCALL "(?:\\s+(?:for|on|at))?\\s+" TARGET "$", 0},
	{INTENT_ONCALL,
	 "^who\\s+(?:do|should|can)\\s+(?:i|we)\\s+page\\s+(?:for|about)\\s+" TARGET "$", 0},
	{INTENT_ONCALL, "^" NOT_QUESTION TARGET "\\s+" ONCALL "$", 0},
	{INTENT_BLAST, "^(?:what|who)\\s+depends\\s+on\\s+" SVC "$", 0},
	{INTENT_BLAST,
	 "^(?:(?:what|show)(?:\\s+is|'s)?\\s+(?:me\\s+)?the\\s+)?blast\\s+radius\\s+(?:of\\s+|for\\s+)?" SVC
	 "$",
	 0},
	{INTENT_BLAST,
	 "^what\\s+(?:breaks|would\\s+break|fails|would\\s+fail|is\\s+affected)\\s+if\\s+" SVC
	 "\\s+(?:is\\s+down|goes\\s+down|went\\s+down|fails|dies|breaks)$",
	 0},
	{INTENT_BLAST,
	 "^(?:what(?:\\s+is|'s)\\s+the\\s+)?impact\\s+of\\s+" SLOT_LAZY("service")
	 "(?:\\s+(?:going|being)\\s+down|\\s+failing|\\s+outage)?$",
	 0},
	{INTENT_BLAST, "^who\\s+(?:uses|calls|consumes)\\s+" SVC "$", 0},
	{INTENT_BLAST, "^(?:dependents|consumers|callers)\\s+(?:of\\s+)?" SVC "$", 0},
	{INTENT_BLAST, "^" NOT_QUESTION SVC "\\s+(?:dependents|blast\\s+radius)$", 0},
	{INTENT_DEPS, "^what\\s+does\\s+" SVC "\\s+(?:depend|rely)\\s+(?:on|upon)$", 0},
	{INTENT_DEPS,
	 "^(?:(?:what|show)(?:\\s+are|'re)?\\s+(?:me\\s+)?(?:the\\s+)?)?(?:dependencies|deps)\\s+"
	 "(?:of\\s+|for\\s+)?" SVC "$",
	 0},
	{INTENT_DEPS, "^" NOT_QUESTION SVC "\\s+(?:dependencies|deps)$", 0},
	{INTENT_RUNBOOK,
	 "^(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?(?:runbook|playbook)s?\\s+(?:for\\s+|about\\s+|on\\s+)?" QUERY
	 "$",
	 0},
	{INTENT_RUNBOOK,
	 "^how\\s+(?:do\\s+(?:i|we)|to|can\\s+(?:i|we)|should\\s+(?:i|we))\\s+"
	 "(?:fix|handle|mitigate|resolve|debug|troubleshoot)\\s+" QUERY "$",
	 0},
	{INTENT_RUNBOOK, "^what\\s+(?:do|should)\\s+(?:i|we)\\s+do\\s+(?:about|with|for)\\s+" QUERY "$", 0},
	{INTENT_INCIDENT,
	 "^(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?incident(?:\\s+context)?\\s+(?:for\\s+|on\\s+|of\\s+)?"
	 "(?<target>#?" NAME_FIRST "[\\p{L}\\p{N}_\\-./:]{0,127})$",
	 0},
	{INTENT_DEPLOYS,
	 "^(?:(?:show\\s+(?:me\\s+)?)?(?:the\\s+)?(?:recent\\s+|latest\\s+)?deploy(?:s|ments))\\s+"
	 "(?:of\\s+|for\\s+|to\\s+)?" SLOT_LAZY("service") "(?:\\s+(?:since\\s+|in\\s+the\\s+(?:last|past)\\s+"
	 "|(?:last|past)\\s+)?" SINCE ")?$",
	 0},
	{INTENT_DEPLOYS,
	 "^what(?:'s|\\s+has|\\s+was|\\s+got)?\\s+(?:changed|deployed)\\s+(?:in|on|for|to|with)\\s+"
	 SLOT_LAZY("service") "(?:\\s+(?:since\\s+|(?:in\\s+)?the\\s+(?:last|past)\\s+|(?:last|past)\\s+)"
	 SINCE ")?(?:\\s+recently)?$",
	 0},
	{INTENT_SIMULATE_ALERT,
	 "^simulate\\s+(?:an?\\s+)?alert\\s+(?:for\\s+|on\\s+)?(?<service>" NAME_FIRST
	 "[\\p{L}\\p{N}_\\-./:]{0,127})(?:\\s+(?<alert>\\S.{0,200}))?$",
	 0},
	{INTENT_DESCRIBE, "^info\\s+(?:on|about|for)\\s+" SVC "$", 0},
	{INTENT_DESCRIBE, "^(?:describe|info|show(?:\\s+me)?|about|tell\\s+me\\s+about)\\s+" SVC "$", 0},
	{INTENT_DESCRIBE, "^what(?:\\s+is|'s)\\s+" SVC "$", 0},
};

struct builtin_help {
	const char *intent;
	const char *usage;
	const char *help;
	const char *slot; /* required slot, or NULL */
};

static const struct builtin_help builtin_intents[] = {
	{INTENT_HELP, "help", "list what I can do", NULL},
	{INTENT_OWNER, "who owns <service>", "the team that owns a service", "service"},
	{INTENT_ONCALL, "who is on call for <service|team>", "who is on call right now", "target"},
	{INTENT_DEPS, "what does <service> depend on", "what a service depends on", "service"},
	{INTENT_BLAST, "what depends on <service>", "blast radius: everything that depends on a service",
	 "service"},
	{INTENT_RUNBOOK, "runbook for <service or alert>", "find the runbook to follow", "query"},
	{INTENT_DESCRIBE, "describe <service>", "a service's catalog entry", "service"},
	{INTENT_INCIDENT, "incident <number|service>", "the full context of an incident, or of a service",
	 "target"},
	{INTENT_DEPLOYS, "deploys <service> [since]", "what changed: recent deployments (default 24h)",
	 "service"},
	{INTENT_SIMULATE_ALERT, "simulate alert <service> [alert]",
	 "test: post an incident card for a made-up alert (no page is sent)", "service"},
	{INTENT_AUDIT, "audit [count]", "the latest audit entries", NULL},
	{INTENT_PING, "ping", "check that I am listening", NULL},
	{INTENT_ECHO, "echo <text>", "repeat text back", "text"},
	{INTENT_VERSION, "version", "the running version", NULL},
	{INTENT_UPTIME, "uptime", "how long I have been running", NULL},
	{INTENT_ACTION, "run <action> <target> [name=value ...]",
	 "request an action; also rollback|restart|sync <service>, scale <service> to <n>", "action"},
	{INTENT_ACTION_DRYRUN, "dry-run <request>", "show exactly what an action would send, without sending it",
	 "request"},
	{INTENT_ACTIONS_LIST, "actions", "the actions you can request", NULL},
	{INTENT_ACTION_AUDIT, "audit <request-id>", "the audit chain of one action request", "request_id"},
};

static const struct {
	const char *command;
	const char *prefix;
} builtin_commands[] = {
	{"/tier0", ""},
	{"/whoowns", "who owns"},
	{"/oncall", "who is on call for"},
};

/* Words that can never be a whole service, team or query ("who is on call for"). */
static const char *const slot_stopwords[] = {
	"for", "of", "on", "at", "about", "the", "a", "an", "is", "it", "me", "us", "to", "in", "with",
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *intent_name_lookup(const char *name)
{
	for (size_t i = 0; i < T0_ARRAY_LEN(builtin_intents); i++)
		if (strcmp(builtin_intents[i].intent, name) == 0)
			return builtin_intents[i].intent;
	return NULL;
}

static const char *required_slot(const char *intent)
{
	for (size_t i = 0; i < T0_ARRAY_LEN(builtin_intents); i++)
		if (strcmp(builtin_intents[i].intent, intent) == 0)
			return builtin_intents[i].slot;
	return NULL;
}

static void rule_clear(struct intent_rule *r)
{
	free(r->name);
	free(r->reply);
	free(r->help);
	pcre2_code_free(r->code);
	memset(r, 0, sizeof(*r));
}

/*
 * Compiles r->code from pattern and records its named groups. On failure err
 * gets "<where>: ..." and the rule keeps no code.
 */
static int rule_compile(struct intent_rule *r, const char *pattern, uint32_t options, int use_jit,
			const char *where, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE erroff = 0;
	PCRE2_SPTR table = NULL;
	uint32_t count = 0, entry = 0;
	int errcode = 0, rc = T0_ECONFIG;

	r->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				PCRE2_UTF | PCRE2_CASELESS | options, &errcode, &erroff, NULL);
	if (!r->code) {
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		set_err(err, errlen, "%s: PCRE2 error at offset %zu: %s", where, (size_t)erroff,
			(const char *)msg);
		goto out;
	}
	pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
	pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &table);
	if (count > INTENT_MAX_SLOTS) {
		set_err(err, errlen, "%s: too many named groups (max %d)", where, INTENT_MAX_SLOTS);
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = table + (size_t)i * entry;
		const char *name = (const char *)e + 2;

		if (strlen(name) >= sizeof(r->groups[0].name)) {
			set_err(err, errlen, "%s: group name '%s' is longer than %zu characters", where,
				name, sizeof(r->groups[0].name) - 1);
			goto out;
		}
		r->groups[i].num = (uint32_t)((e[0] << 8) | e[1]);
		strcpy(r->groups[i].name, name);
	}
	r->ngroups = count;
	if (use_jit) {
		int jrc = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);

		/* The interpreter still works, with the same limits. */
		if (jrc != 0)
			log_debug("intent", "jit_failed", "rule=%s rc=%d", r->name, jrc);
	}
	rc = T0_OK;
out:
	if (rc != T0_OK) {
		pcre2_code_free(r->code);
		r->code = NULL;
	}
	return rc;
}

static int rule_has_group(const struct intent_rule *r, const char *name)
{
	for (size_t i = 0; i < r->ngroups; i++)
		if (strcmp(r->groups[i].name, name) == 0)
			return 1;
	return 0;
}

static char *dup_str(const char *s, int *rc)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*rc = T0_ENOMEM;
	return d;
}

static int rule_from_config(struct intent_rule *r, const json_t *item, size_t idx, int use_jit,
			    char *err, size_t errlen)
{
	static const char *const keys[] = {"name", "pattern", "intent", "reply", "priority", "help"};
	const json_t *name, *pattern, *intent, *reply, *priority, *help;
	const char *key;
	const char *slot;
	json_t *val;
	char where[64];
	int rc = T0_ECONFIG;

	if (!json_is_object(item)) {
		set_err(err, errlen, "intents.rules[%zu]: must be a mapping", idx);
		goto out;
	}
	json_object_foreach((json_t *)item, key, val) {
		size_t k;

		for (k = 0; k < T0_ARRAY_LEN(keys); k++)
			if (strcmp(key, keys[k]) == 0)
				break;
		if (k == T0_ARRAY_LEN(keys)) {
			set_err(err, errlen, "intents.rules[%zu]: unknown key '%.64s'", idx, key);
			goto out;
		}
	}
	name = json_object_get(item, "name");
	pattern = json_object_get(item, "pattern");
	intent = json_object_get(item, "intent");
	reply = json_object_get(item, "reply");
	priority = json_object_get(item, "priority");
	help = json_object_get(item, "help");
	if (!json_is_string(name) || json_string_length(name) == 0) {
		set_err(err, errlen, "intents.rules[%zu].name: required non-empty string", idx);
		goto out;
	}
	if (json_string_length(name) > MAX_NAME_LEN) {
		set_err(err, errlen, "intents.rules[%zu].name: longer than %d characters", idx, MAX_NAME_LEN);
		goto out;
	}
	if (!json_is_string(pattern) || json_string_length(pattern) == 0) {
		set_err(err, errlen, "intents.rules[%zu].pattern: required non-empty string", idx);
		goto out;
	}
	if ((intent != NULL) == (reply != NULL)) {
		set_err(err, errlen, "intents.rules[%zu]: needs exactly one of intent or reply", idx);
		goto out;
	}
	if (intent && !json_is_string(intent)) {
		set_err(err, errlen, "intents.rules[%zu].intent: must be a string", idx);
		goto out;
	}
	if (intent && !(r->intent = intent_name_lookup(json_string_value(intent)))) {
		set_err(err, errlen, "intents.rules[%zu].intent: unknown intent '%.64s'", idx,
			json_string_value(intent));
		goto out;
	}
	if (reply && (!json_is_string(reply) || json_string_length(reply) == 0)) {
		set_err(err, errlen, "intents.rules[%zu].reply: must be a non-empty string", idx);
		goto out;
	}
	if (priority && !json_is_integer(priority)) {
		set_err(err, errlen, "intents.rules[%zu].priority: must be an integer", idx);
		goto out;
	}
	if (help && !json_is_string(help)) {
		set_err(err, errlen, "intents.rules[%zu].help: must be a string", idx);
		goto out;
	}
	if (reply)
		r->intent = INTENT_REPLY;
	r->priority = priority ? json_integer_value(priority) : 0;
	r->order = idx;
	rc = T0_OK;
	r->name = dup_str(json_string_value(name), &rc);
	r->reply = dup_str(json_string_value(reply), &rc);
	r->help = help && json_string_length(help) ? dup_str(json_string_value(help), &rc) : NULL;
	if (rc != T0_OK) {
		set_err(err, errlen, "intents.rules[%zu]: out of memory", idx);
		goto out;
	}
	snprintf(where, sizeof(where), "intents.rules[%zu].pattern", idx);
	rc = rule_compile(r, json_string_value(pattern), 0, use_jit, where, err, errlen);
	if (rc != T0_OK)
		goto out;
	slot = required_slot(r->intent);
	if (slot && !rule_has_group(r, slot)) {
		set_err(err, errlen, "%s: intent '%s' needs a named group (?<%s>...)", where, r->intent,
			slot);
		rc = T0_ECONFIG;
		goto out;
	}
out:
	return rc;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct intent_rule *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order);
}

struct intent_engine *intent_engine_new(const json_t *rules, char *err, size_t errlen)
{
	struct intent_engine *eng = NULL;
	size_t nconf = 0, total, idx;
	uint32_t jit = 0, maxcap = 0;
	int rc = T0_ENOMEM;

	if (err && errlen)
		err[0] = '\0';
	if (rules && !json_is_null(rules)) {
		if (!json_is_array(rules)) {
			set_err(err, errlen, "intents.rules: must be a list");
			rc = T0_ECONFIG;
			goto out;
		}
		nconf = json_array_size(rules);
		if (nconf > INTENT_MAX_RULES) {
			set_err(err, errlen, "intents.rules: too many rules (max %d)", INTENT_MAX_RULES);
			rc = T0_ECONFIG;
			goto out;
		}
	}
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto out;
	total = nconf + T0_ARRAY_LEN(builtin_phrases);
	eng->rules = calloc(total, sizeof(*eng->rules));
	if (!eng->rules)
		goto out;
	if (pcre2_config(PCRE2_CONFIG_JIT, &jit) < 0)
		jit = 0;
	for (idx = 0; idx < nconf; idx++) {
		rc = rule_from_config(&eng->rules[idx], json_array_get(rules, idx), idx, (int)jit, err,
				      errlen);
		eng->nrules = idx + 1;
		if (rc != T0_OK)
			goto out;
		for (size_t j = 0; j < idx; j++) {
			if (strcmp(eng->rules[j].name, eng->rules[idx].name) == 0) {
				set_err(err, errlen, "intents.rules[%zu].name: duplicate rule name '%s'",
					idx, eng->rules[idx].name);
				rc = T0_ECONFIG;
				goto out;
			}
		}
	}
	eng->nconfigured = nconf;
	qsort(eng->rules, nconf, sizeof(*eng->rules), rule_cmp);
	for (size_t i = 0; i < T0_ARRAY_LEN(builtin_phrases); i++) {
		struct intent_rule *r = &eng->rules[nconf + i];
		char name[64], where[64];
		int ok = T0_OK;

		snprintf(name, sizeof(name), "builtin:%s#%zu", builtin_phrases[i].intent, i);
		snprintf(where, sizeof(where), "builtin phrase %zu", i);
		r->name = dup_str(name, &ok);
		r->intent = builtin_phrases[i].intent;
		r->flags = RULE_BUILTIN | builtin_phrases[i].flags;
		r->order = i;
		eng->nrules = nconf + i + 1;
		if (ok != T0_OK) {
			rc = ok;
			goto out;
		}
		rc = rule_compile(r, builtin_phrases[i].pattern,
				  (r->flags & RULE_RAW) ? PCRE2_DOTALL : 0, (int)jit, where, err, errlen);
		if (rc != T0_OK)
			goto out; /* a bug in the table above; the unit tests catch it */
	}
	for (size_t i = 0; i < eng->nrules; i++) {
		uint32_t cap = 0;

		pcre2_pattern_info(eng->rules[i].code, PCRE2_INFO_CAPTURECOUNT, &cap);
		if (cap > maxcap)
			maxcap = cap;
	}
	rc = T0_ENOMEM;
	eng->md = pcre2_match_data_create(maxcap + 1, NULL);
	eng->mctx = pcre2_match_context_create(NULL);
	if (!eng->md || !eng->mctx)
		goto out;
	pcre2_set_match_limit(eng->mctx, INTENT_MATCH_LIMIT);
	pcre2_set_depth_limit(eng->mctx, INTENT_DEPTH_LIMIT);
	pcre2_set_heap_limit(eng->mctx, HEAP_LIMIT_KIB);
	if (jit) {
		eng->jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		if (eng->jit_stack)
			pcre2_jit_stack_assign(eng->mctx, NULL, eng->jit_stack);
	}
	rc = T0_OK;
	log_debug("intent", "engine", "rules=%zu builtin=%zu jit=%u", nconf,
		  T0_ARRAY_LEN(builtin_phrases), jit);
out:
	if (rc != T0_OK) {
		if (rc == T0_ENOMEM)
			set_err(err, errlen, "intents: out of memory");
		intent_engine_free(eng);
		return NULL;
	}
	return eng;
}

static void commands_free(struct command_alias *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].command);
		free(c[i].prefix);
	}
	free(c);
}

void intent_engine_free(struct intent_engine *eng)
{
	if (!eng)
		return;
	for (size_t i = 0; i < eng->nrules; i++)
		rule_clear(&eng->rules[i]);
	free(eng->rules);
	pcre2_match_data_free(eng->md);
	pcre2_match_context_free(eng->mctx);
	pcre2_jit_stack_free(eng->jit_stack);
	commands_free(eng->commands, eng->ncommands);
	free(eng);
}

size_t intent_rule_count(const struct intent_engine *eng)
{
	return eng ? eng->nconfigured : 0;
}

size_t intent_engine_limit_hits(const struct intent_engine *eng)
{
	return eng ? eng->limit_hits : 0;
}

void intent_match_clear(struct intent_match *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots && i < INTENT_MAX_SLOTS; i++)
		free(m->slots[i].value);
	memset(m, 0, sizeof(*m));
}

const char *intent_slot(const struct intent_match *m, const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->nslots; i++)
		if (strcmp(m->slots[i].name, name) == 0)
			return m->slots[i].value;
	return NULL;
}

static int strip_prefix_ci(char **s, size_t *len, const char *prefix)
{
	size_t n = strlen(prefix);

	if (*len <= n || strncasecmp(*s, prefix, n) != 0)
		return 0;
	*s += n;
	*len -= n;
	return 1;
}

static int is_stopword(const char *s, size_t len)
{
	for (size_t i = 0; i < T0_ARRAY_LEN(slot_stopwords); i++)
		if (strlen(slot_stopwords[i]) == len && strncasecmp(s, slot_stopwords[i], len) == 0)
			return 1;
	return 0;
}

/*
 * Cleans a name-like slot in place: surrounding quotes and backticks, a
 * leading "the ", a trailing " service", runs of spaces. Returns the new
 * length; 0 means the slot is not a usable name.
 */
static size_t clean_name(char *buf, size_t len, int is_query)
{
	char *s = buf;
	size_t o = 0;

	while (len > 0 && is_space((unsigned char)s[0])) {
		s++;
		len--;
	}
	while (len > 0 && is_space((unsigned char)s[len - 1]))
		len--;
	if (len >= 2 && (s[0] == '"' || s[0] == '\'' || s[0] == '`') && s[len - 1] == s[0]) {
		s++;
		len -= 2;
	}
	while (len > 0 && is_space((unsigned char)s[0])) {
		s++;
		len--;
	}
	strip_prefix_ci(&s, &len, "the ");
	if (!is_query && len > 8 && strncasecmp(s + len - 8, " service", 8) == 0)
		len -= 8;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_space(c)) {
			if (o == 0 || buf[o - 1] == ' ')
				continue;
			c = ' ';
		}
		buf[o++] = (char)c;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
	if (is_stopword(buf, o))
		return 0;
	return o;
}

/* Cuts len to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/* Copies the named groups of r into m. T0_ENOTFOUND when a name slot is unusable. */
static int fill_slots(const struct intent_rule *r, const char *subject, const PCRE2_SIZE *ov,
		      struct intent_match *m)
{
	int rc = T0_OK;

	for (size_t i = 0; i < r->ngroups; i++) {
		const char *name = r->groups[i].name;
		PCRE2_SIZE b = ov[2 * r->groups[i].num], e = ov[2 * r->groups[i].num + 1];
		struct intent_slot *slot = &m->slots[m->nslots];
		size_t len;
		char *v;

		if (b == PCRE2_UNSET || e < b)
			continue;
		len = e - b;
		v = malloc(len + 1);
		if (!v) {
			rc = T0_ENOMEM;
			goto out;
		}
		memcpy(v, subject + b, len);
		v[len] = '\0';
		if (strcmp(name, "text") == 0 && strcmp(r->intent, INTENT_ECHO) == 0) {
			/* echo repeats exactly what it was given */
		} else if (strcmp(name, "service") == 0 || strcmp(name, "target") == 0 ||
			   strcmp(name, "query") == 0) {
			len = clean_name(v, len, strcmp(name, "query") == 0);
			if (len == 0) {
				free(v);
				rc = T0_ENOTFOUND;
				goto out;
			}
		} else {
			size_t s = 0;

			while (s < len && is_space((unsigned char)v[s]))
				s++;
			while (len > s && is_space((unsigned char)v[len - 1]))
				len--;
			memmove(v, v + s, len - s);
			len -= s;
		}
		len = utf8_cut(v, len, INTENT_MAX_SLOT_LEN);
		v[len] = '\0';
		snprintf(slot->name, sizeof(slot->name), "%s", name);
		slot->value = v;
		m->nslots++;
	}
	rc = T0_OK;
out:
	return rc;
}

/* Copy of the cleaned text without trailing "?!." (kept when nothing else is left). */
static size_t strip_trailing_punct(const char *clean, size_t len, char *out)
{
	size_t n = len;

	while (n > 0 && (clean[n - 1] == '?' || clean[n - 1] == '!' || clean[n - 1] == '.' ||
			 is_space((unsigned char)clean[n - 1])))
		n--;
	if (n == 0)
		n = len;
	memcpy(out, clean, n);
	out[n] = '\0';
	return n;
}

int intent_match(struct intent_engine *eng, const char *text, struct intent_match *m)
{
	char clean[INTENT_MAX_TEXT + 1], stripped[INTENT_MAX_TEXT + 1];
	size_t clen, slen;
	int rc;

	if (m)
		memset(m, 0, sizeof(*m));
	if (!eng || !text || !m)
		return T0_EINVAL;
	rc = intent_text_normalize(text, clean, sizeof(clean));
	if (rc != T0_OK)
		goto out;
	clen = strlen(clean);
	if (clen == 0) {
		rc = T0_ENOTFOUND;
		goto out;
	}
	slen = strip_trailing_punct(clean, clen, stripped);
	rc = T0_ENOTFOUND;
	for (size_t i = 0; i < eng->nrules; i++) {
		const struct intent_rule *r = &eng->rules[i];
		const char *subject = (r->flags & RULE_RAW) ? clean : stripped;
		size_t sublen = (r->flags & RULE_RAW) ? clen : slen;
		int mrc;

		/* The text was validated as UTF-8 by intent_text_normalize. */
		mrc = pcre2_match(r->code, (PCRE2_SPTR)subject, sublen, 0, PCRE2_NO_UTF_CHECK, eng->md,
				  eng->mctx);
		if (mrc == PCRE2_ERROR_NOMATCH)
			continue;
		if (mrc < 0) {
			if (mrc == PCRE2_ERROR_MATCHLIMIT || mrc == PCRE2_ERROR_DEPTHLIMIT ||
			    mrc == PCRE2_ERROR_HEAPLIMIT || mrc == PCRE2_ERROR_JIT_STACKLIMIT)
				eng->limit_hits++;
			log_warn("intent", "match_error", "rule=%s rc=%d", r->name, mrc);
			continue;
		}
		rc = fill_slots(r, subject, pcre2_get_ovector_pointer(eng->md), m);
		if (rc == T0_ENOTFOUND) {
			intent_match_clear(m);
			continue;
		}
		if (rc != T0_OK)
			goto out;
		m->intent = r->intent;
		m->rule = r->name;
		m->reply = r->reply;
		m->builtin = (r->flags & RULE_BUILTIN) != 0;
		goto out;
	}
out:
	if (rc != T0_OK)
		intent_match_clear(m);
	return rc;
}

void intent_help_each(const struct intent_engine *eng,
		      void (*cb)(void *arg, const char *usage, const char *help), void *arg)
{
	if (!cb)
		return;
	for (size_t i = 0; i < T0_ARRAY_LEN(builtin_intents); i++)
		cb(arg, builtin_intents[i].usage, builtin_intents[i].help);
	if (!eng)
		return;
	for (size_t i = 0; i < eng->nconfigured; i++)
		if (eng->rules[i].help)
			cb(arg, eng->rules[i].name, eng->rules[i].help);
}

/* Writes prefix + " " + trimmed text into out. */
static int compose(const char *prefix, const char *text, char *out, size_t outlen)
{
	size_t tl, pl = strlen(prefix), need;

	if (!text)
		text = "";
	while (is_space((unsigned char)*text))
		text++;
	tl = strlen(text);
	while (tl > 0 && is_space((unsigned char)text[tl - 1]))
		tl--;
	if (pl == 0 && tl == 0) {
		/* A bare "/tier0" asks what the bot can do. */
		prefix = INTENT_HELP;
		pl = strlen(prefix);
	}
	need = pl + (pl && tl ? 1 : 0) + tl;
	if (need >= outlen)
		return T0_ETOOBIG;
	memcpy(out, prefix, pl);
	if (pl && tl)
		out[pl++] = ' ';
	memcpy(out + pl, text, tl);
	out[pl + tl] = '\0';
	return T0_OK;
}

/* "/cmd" equals command, ignoring case and a missing slash on either side. */
static int command_is(const char *a, const char *b)
{
	if (a[0] == '/')
		a++;
	if (b[0] == '/')
		b++;
	return strcasecmp(a, b) == 0;
}

int intent_engine_command_text(const struct intent_engine *eng, const char *command,
			       const char *text, char *out, size_t outlen)
{
	if (!command || !out || outlen == 0)
		return T0_EINVAL;
	for (size_t i = 0; eng && i < eng->ncommands; i++)
		if (command_is(eng->commands[i].command, command))
			return compose(eng->commands[i].prefix, text, out, outlen);
	for (size_t i = 0; i < T0_ARRAY_LEN(builtin_commands); i++)
		if (command_is(builtin_commands[i].command, command))
			return compose(builtin_commands[i].prefix, text, out, outlen);
	return T0_ENOTFOUND;
}

int intent_command_text(const char *command, const char *text, char *out, size_t outlen)
{
	return intent_engine_command_text(NULL, command, text, out, outlen);
}

static int command_name_ok(const char *c)
{
	size_t n = strlen(c);

	if (n < 2 || n > MAX_COMMAND_LEN || c[0] != '/')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)c[i]) && c[i] != '-' && c[i] != '_')
			return 0;
	return 1;
}

int intent_engine_set_commands(struct intent_engine *eng, const json_t *commands)
{
	struct command_alias *list = NULL;
	size_t n = 0;
	const char *key;
	json_t *val;
	int rc = T0_EINVAL;

	if (!eng)
		goto out;
	if (commands && !json_is_null(commands)) {
		if (!json_is_object(commands)) {
			log_err("intent", "config", "key=intents.commands error=%s", "must be a mapping");
			goto out;
		}
		if (json_object_size(commands) > INTENT_MAX_COMMANDS) {
			log_err("intent", "config", "key=intents.commands error=%s max=%d",
				"too many commands", INTENT_MAX_COMMANDS);
			goto out;
		}
		list = calloc(json_object_size(commands) + 1, sizeof(*list));
		if (!list) {
			rc = T0_ENOMEM;
			goto out;
		}
		json_object_foreach((json_t *)commands, key, val) {
			int ok = T0_OK;

			if (!command_name_ok(key)) {
				log_err("intent", "config", "key=intents.commands command=%.40s error=%s",
					key, "a command is '/' then letters, digits, '-' or '_'");
				goto out;
			}
			if (!json_is_string(val) || json_string_length(val) == 0 ||
			    json_string_length(val) > INTENT_MAX_TEXT) {
				log_err("intent", "config", "key=intents.commands command=%s error=%s",
					key, "the text prefix must be a non-empty string");
				goto out;
			}
			list[n].command = dup_str(key, &ok);
			list[n].prefix = dup_str(json_string_value(val), &ok);
			n++;
			if (ok != T0_OK) {
				rc = ok;
				goto out;
			}
		}
	}
	commands_free(eng->commands, eng->ncommands);
	eng->commands = list;
	eng->ncommands = n;
	list = NULL;
	n = 0;
	rc = T0_OK;
out:
	commands_free(list, n);
	return rc;
}
