/*
 * Intent matching: text in, intent out, no I/O. Rules are PCRE2 patterns,
 * compiled once (JIT where available) with a match limit; named groups become
 * slots. Configured rules are tried first in priority order (higher first, then
 * file order), then the built-in phrasings.
 */
#ifndef T0_INTENT_H
#define T0_INTENT_H

#include <jansson.h>
#include <stddef.h>

/* Built-in intent names a rule may map to. */
#define INTENT_HELP "help"
#define INTENT_OWNER "owner"         /* slot: service */
#define INTENT_ONCALL "oncall"       /* slot: target (service or team) */
#define INTENT_DEPS "dependencies"   /* slot: service  (what it depends on) */
#define INTENT_BLAST "blast_radius"  /* slot: service  (what depends on it) */
#define INTENT_RUNBOOK "runbook"     /* slot: query (service or alert text) */
#define INTENT_DESCRIBE "describe"   /* slot: service */
#define INTENT_AUDIT "audit"         /* optional slot: count */
#define INTENT_PING "ping"
#define INTENT_ECHO "echo"           /* slot: text */
#define INTENT_VERSION "version"
#define INTENT_UPTIME "uptime"
#define INTENT_REPLY "reply"         /* a configured rule with a fixed reply template */
#define INTENT_INCIDENT "incident"   /* slot: target (incident number, source id or service) */
#define INTENT_DEPLOYS "deploys"     /* slots: service, since (optional: "6h", "2d", a time) */
#define INTENT_SIMULATE_ALERT "simulate_alert" /* slots: service, alert (optional); a test */
/* Actions (runbooks/actions.h) */
#define INTENT_ACTION "action"               /* slots: action, target?, args? ("k=v ..."), others = params */
#define INTENT_ACTION_DRYRUN "action_dry_run" /* slot: request (an action request's text) */
#define INTENT_ACTION_AUDIT "action_audit"   /* slot: request_id */
#define INTENT_ACTIONS_LIST "actions"

#define INTENT_MAX_SLOTS 8
#define INTENT_MAX_TEXT 4000     /* longer input is refused before matching */
#define INTENT_MAX_SLOT_LEN 1000 /* longer slot values are cut (at a UTF-8 boundary) */
#define INTENT_MAX_RULES 1000    /* configured rules */
#define INTENT_MAX_COMMANDS 64   /* configured slash commands */
#define INTENT_MATCH_LIMIT 200000 /* pcre2_set_match_limit for every rule */
#define INTENT_DEPTH_LIMIT 10000  /* pcre2_set_depth_limit (interpreter only) */

struct intent_slot {
	char name[32];
	char *value; /* owned by the match */
};

struct intent_match {
	const char *intent;   /* one of the names above (borrowed from the engine) */
	const char *rule;     /* name of the rule that matched (borrowed) */
	const char *reply;    /* for INTENT_REPLY: the template, slots as {name} (borrowed) */
	int builtin;          /* 1 when a built-in phrasing matched */
	struct intent_slot slots[INTENT_MAX_SLOTS];
	size_t nslots;
};

struct intent_engine;

/*
 * rules: the `intents.rules` array from configuration (may be NULL). Each item:
 * {name, pattern, intent | reply, priority?, help?}. A pattern that does not
 * compile, or names an unknown intent, fails with "intents.rules[N].pattern: ..."
 * in err.
 */
struct intent_engine *intent_engine_new(const json_t *rules, char *err, size_t errlen);
void intent_engine_free(struct intent_engine *eng);

/*
 * Matches text (trimmed; a leading bot mention such as "@tier0" or "tier0:" is
 * ignored). Returns T0_OK with *m filled, T0_ENOTFOUND when nothing matched,
 * T0_ETOOBIG for overlong input. Release with intent_match_clear.
 * Patterns see the text after intent_text_normalize and without trailing
 * "?!." (only the built-in echo sees them). A rule that hits the match limit
 * counts as not matching; see intent_engine_limit_hits. Uses the engine's
 * shared match data: one caller at a time.
 */
int intent_match(struct intent_engine *eng, const char *text, struct intent_match *m);
void intent_match_clear(struct intent_match *m);
/* Borrowed slot value or NULL. */
const char *intent_slot(const struct intent_match *m, const char *name);

/*
 * Maps a slash command ("/whoowns", "/oncall", "/tier0") and its text to the text to match:
 * "/whoowns" + "checkout" -> "who owns checkout"; a bare "/tier0" -> "help". T0_ENOTFOUND for
 * an unknown command, T0_ETOOBIG when out is too small.
 */
int intent_command_text(const char *command, const char *text, char *out, size_t outlen);

/* Help lines: built-ins and configured rules with help text. cb is called once per line. */
void intent_help_each(const struct intent_engine *eng, void (*cb)(void *arg, const char *usage,
								  const char *help), void *arg);

/* Number of configured rules (built-in phrasings are not counted). */
size_t intent_rule_count(const struct intent_engine *eng);

/*
 * Configured slash commands: the `intents.commands` object, {"/cmd": "text prefix"}
 * (NULL clears them). Replaces earlier ones; they take precedence over the
 * built-in /tier0, /whoowns and /oncall. On a bad entry returns T0_EINVAL, logs
 * why and keeps the previous set.
 */
int intent_engine_set_commands(struct intent_engine *eng, const json_t *commands);
/* Like intent_command_text, trying eng's configured commands first (eng may be NULL). */
int intent_engine_command_text(const struct intent_engine *eng, const char *command,
			       const char *text, char *out, size_t outlen);

/* How many matches were cut short by the match, depth, heap or JIT stack limit. */
size_t intent_engine_limit_hits(const struct intent_engine *eng);

/*
 * The clean-up intent_match applies before matching: invalid UTF-8 bytes become
 * '?', curly quotes become straight ones, surrounding whitespace and a leading
 * bot mention ("@tier0", "<@U123>", "tier0:", "hey tier0") go. Trailing
 * punctuation is kept. T0_ETOOBIG when text is longer than INTENT_MAX_TEXT or
 * the result does not fit out.
 */
int intent_text_normalize(const char *text, char *out, size_t outlen);

#endif
