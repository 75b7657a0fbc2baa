/*
 * Actions: what tier0 can do about an incident, defined in the `actions:`
 * section of the configuration (see docs/ACTIONS.md), with typed and
 * validated parameters, a target entity, a risk, approvals, rate limits and
 * an executor. This header has three parts:
 *
 *   1. definitions (built from the configuration with the world),
 *   2. parameters (validation) and request templating (rendering an HTTP
 *      request with every value escaped for where it lands),
 *   3. the request flow entry points used by chat handlers, the LLM agent
 *      (action_propose) and the incident card (button "action.propose").
 *
 * Templates: strings may hold placeholders {{ expr }} where expr is one of
 *   params.NAME                a parameter (validated before rendering)
 *   target                     the target entity's name
 *   entity.name | entity.namespace | entity.kind | entity.ref | entity.title
 *   entity.annotations.KEY     an annotation of the target ("argocd/app-name")
 *   requester.email | requester.name | requester.user_id
 *   request.id | request.created   (RFC 3339, the time the request was made)
 *   secret.NAME                a value of executors.secrets (masked in every display)
 * and, in a URL path only, {{ expr | path }} for a value that is several path
 * segments ("org/repo"). Where a placeholder lands decides its escaping: URL
 * path segment (percent-encoded, "/" included; "." and ".." refused), URL
 * query (percent-encoded), header value (control characters refused), JSON
 * (built as a JSON value, never spliced as text). A template can therefore
 * not be steered into another path, query parameter, header or JSON member
 * by any parameter value.
 */
#ifndef T0_ACTIONS_H
#define T0_ACTIONS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/policy.h"
#include "bot/ratelimit.h"

struct adapter_ops;
struct bot;
struct cat_entity;
struct config;
struct event;
struct reply;

#define ACTION_MAX_ACTIONS 200
#define ACTION_MAX_PARAMS 16
#define ACTION_MAX_VALUE_LEN 1000     /* bytes per parameter value */
#define ACTION_MAX_HEADERS 32
#define ACTION_MAX_URL 4096
#define ACTION_MAX_BODY (64 * 1024)   /* rendered request body */
#define ACTION_MAX_TEMPLATE 8192      /* template source */
#define ACTION_DEFAULT_TIMEOUT_MS 30000
#define ACTION_DEFAULT_EXPIRY_MS (30LL * 60 * 1000)
#define ACTION_DEFAULT_KEEP_BYTES 2048
#define ACTION_MATCH_LIMIT 100000     /* PCRE2 match limit per parameter pattern */
#define ACTION_MASK "********"

enum action_param_type { ACTION_PARAM_STRING = 0, ACTION_PARAM_INT, ACTION_PARAM_BOOL };

enum action_exec_type {
	ACTION_EXEC_HTTP = 0,        /* generic: method, url, headers, body templates */
	ACTION_EXEC_PAGERDUTY,       /* PUT /incidents/{id} acknowledge | resolve (REST v2, From header) */
	ACTION_EXEC_GITHUB_WORKFLOW, /* POST .../actions/workflows/{wf}/dispatches */
	ACTION_EXEC_ARGOCD_SYNC,     /* POST /api/v1/applications/{app}/sync */
	ACTION_EXEC_ARGOCD_ROLLBACK, /* POST /api/v1/applications/{app}/rollback */
};

const char *action_exec_type_name(int type);

struct action_param {
	char *name;
	char *description;
	int type;            /* enum action_param_type */
	int required;
	json_t *def;         /* typed default, or NULL */
	char **allowed;      /* allowed values as text, or NULL */
	size_t nallowed;
	char *pattern_src;   /* PCRE2, must match the whole value */
	void *pattern;       /* pcre2_code */
	int has_min, has_max;
	long long min, max;  /* ACTION_PARAM_INT */
};

struct action_exec {
	int type; /* enum action_exec_type */
	/* http */
	char *method;
	char *url;
	char **header_names;
	char **header_values; /* templates */
	size_t nheaders;
	json_t *body;         /* JSON template: strings are templates; NULL = no body */
	/* built-ins: templates rendered as plain values, then escaped where they land */
	char *incident, *pd_status, *from;  /* pagerduty */
	char *repo, *workflow, *ref;        /* github_workflow */
	json_t *inputs;                     /* github_workflow: name -> template */
	char *app, *revision, *rollback_id; /* argocd */
	int prune;
	/* success criteria */
	long *ok_status;      /* NULL = any 2xx (built-ins have their own defaults) */
	size_t nok_status;
	char *json_field;     /* "incident.status", "items.0.name" */
	json_t *equals;       /* NULL: the field must be present and not null/false */
};

struct action_def {
	char *name;
	char *description;
	struct action_param *params;
	size_t nparams;
	char *target_kind;   /* "Component", or NULL for any kind */
	int target_required;
	int risk;            /* enum policy_risk */
	int approvals;       /* configured count, -1 when unset */
	struct policy_who requesters;
	struct policy_who approvers;
	char **environments; /* allowed environments (the "environment" parameter), or NULL */
	size_t nenvs;
	struct action_exec exec;
	int64_t timeout_ms;
	struct rl_spec rate;
	int has_rate;
	int dry_run;         /* "dry-run <action>" allowed */
};

struct action_policy {
	int64_t expiry_ms;
	char **approval_envs; /* environments that always need an approval */
	size_t napproval_envs;
	struct policy_who audit_viewers;
	struct rl_spec global, per_user, per_channel, per_target;
	int has_global, has_user, has_channel, has_target;
	int breaker_failures; /* 0 = no circuit breaker */
	int64_t breaker_pause_ms;
	size_t keep_response_bytes;
};

struct action_endpoint {
	char *base_url; /* without trailing slash */
	char *token;    /* secret */
	char *from;     /* pagerduty: default From e-mail */
};

struct action_secret {
	char *name;
	char *value;
};

struct action_set {
	struct action_def *defs;
	size_t n;
	struct action_policy policy;
	struct action_endpoint pagerduty, github, argocd;
	struct action_secret *secrets;
	size_t nsecrets;
	void *mctx; /* pcre2_match_context */
	void *md;   /* pcre2_match_data */
};

/*
 * Builds the set from cfg's `actions`, `action_policy` and `executors`
 * sections (validated already by config_load). An empty set when there are
 * none. NULL with a message on error (duplicate names, unknown secrets).
 */
struct action_set *action_set_new(const struct config *cfg, char *err, size_t errlen);
void action_set_free(struct action_set *set);
const struct action_def *action_find(const struct action_set *set, const char *name);
/* Name and description of each action, for help and the LLM's tool list (new reference). */
json_t *action_set_describe(const struct action_set *set);

/*
 * Checks of one `actions[]` item the schema cannot express: executor fields
 * per type, templates (syntax, known params, URL authority literal), defaults
 * against their own rules. For config.c; err gets "key.path: reason".
 */
int action_item_validate(const json_t *item, char *err, size_t errlen);

/* ---- parameters ---- */

/*
 * Builds the typed parameters of a request from what was given (an object
 * of name -> string, integer or boolean; NULL = nothing): unknown names,
 * missing required ones, wrong types, values failing pattern, allowed list
 * or range are errors with a sentence in err. Defaults are filled in.
 * *out is a new object.
 */
int action_params_resolve(const struct action_set *set, const struct action_def *def,
			  const json_t *given, json_t **out, char *err, size_t errlen);

/*
 * Parses "k=v k2='a b' k3=\"c\"" into an object of strings. T0_EINVAL with
 * err on malformed input (a word without '=', an unclosed quote).
 */
int action_args_parse(const char *text, json_t **out, char *err, size_t errlen);

/* The request's environment: the "environment" parameter, or NULL. Borrowed from params. */
const char *action_environment(const json_t *params);

/* ---- rendering ---- */

struct action_render_in {
	const struct action_set *set;
	const struct action_def *def;
	const struct cat_entity *target; /* may be NULL */
	const json_t *params;            /* resolved */
	const char *request_id;
	int64_t created_ms;
	const char *requester_name;
	const char *requester_email;
	const char *requester_user_id;
};

struct action_http {
	char *method;
	char *url;
	char **headers; /* "Name: value" */
	size_t nheaders;
	char *body;     /* NULL when there is none */
	size_t body_len;
};

/*
 * Renders the HTTP request. masked != 0 replaces secrets by ACTION_MASK (for
 * display, audit and the approval hash). T0_EINVAL with a sentence in err when
 * a value cannot land safely (a "..", a control character in a header) or a
 * placeholder has no value (missing annotation).
 */
int action_render(const struct action_render_in *in, int masked, struct action_http *out,
		  char *err, size_t errlen);
void action_http_clear(struct action_http *h);
/* {"method","url","headers":[...],"body":<JSON or text>} (new reference). */
json_t *action_http_json(const struct action_http *h);

/*
 * What an approval is bound to: SHA-256 (hex) over the canonical JSON of the
 * action, executor type, target ref, parameters and the masked rendered
 * request. *shown (optional) receives the masked request JSON.
 */
int action_request_hash(const struct action_render_in *in, char out[65], json_t **shown,
			char *err, size_t errlen);

/*
 * Applies the success criteria to a response. 1 = success; why (may be
 * NULL) says what failed or matched.
 */
int action_success(const struct action_set *set, const struct action_def *def,
		   const struct action_render_in *in, long status, const char *body, size_t len,
		   char *why, size_t whylen);

/*
 * argocd_rollback with no history id: the parameter the id template names
 * ("history_id" for id: "{{params.history_id}}"), when it has no value in
 * params; NULL when nothing needs looking up.
 */
const char *action_rollback_lookup_param(const struct action_def *def, const json_t *params);
/*
 * From an Argo CD Application JSON, the history entry to roll back to: the
 * newest one whose revision differs from the newest entry's. T0_ENOTFOUND
 * when there is none; *id, revision (copied, 64 bytes) and deployed_at.
 */
int action_argocd_previous(const char *app_json, size_t len, long long *id, char *revision,
			   size_t revlen, char *deployed_at, size_t datelen);

/* Replaces every secret value of set found in s by ACTION_MASK, in place (shortens only). */
void action_mask_secrets(const struct action_set *set, char *s);

/* ---- request flow (runbooks/action_flow.c) ---- */

/*
 * Registers the intents ("action", "action_dry_run", "action_audit",
 * "actions") and the buttons ("approval.*", "action.propose") with the
 * router. The actions adapter (actions_ops) calls it at init; tests call it
 * directly. Idempotent.
 */
int actions_register_handlers(void);

/*
 * Runtime state of one bot (rate limit buckets, circuit breakers, requests
 * running): created on first use, freed by actions_detach (the adapter's
 * free does it). Tests that make their own bots call actions_detach before
 * bot_free.
 */
void actions_detach(struct bot *b);
/* Requests started and not finished in this process (executions, look-ups). */
size_t actions_inflight(struct bot *b);
/*
 * Expires due requests (pending or proposed past their expiry) and updates
 * their messages; fails executions interrupted by a restart. The adapter runs
 * it every 30 s; returns how many requests changed.
 */
int actions_sweep(struct bot *b);

/*
 * An action proposed on a person's behalf: by the LLM agent (its
 * propose_action tool call) or any caller that is not the person typing the
 * exact request. The request is the person's own, with exactly their rights:
 * the same policy, rate limits, circuit breaker and approvals apply as if
 * they had typed "run <action> <target> k=v ...". It starts in state
 * "proposed" and nothing runs until that same person presses "Request" on
 * the card (then approvers are asked, or a low-risk action runs).
 *
 *   b          the bot
 *   ev         the event of the person's message (actor, channel, thread); borrowed
 *   action     action name, e.g. "rollback"
 *   target     entity name or ref ("payment-api", "component:default/payment-api"),
 *              or NULL for an action without a target
 *   params     object of name -> string | integer | boolean, or NULL; borrowed
 *   tool_call  the LLM's tool call as JSON (audited as the interpretation), or NULL; borrowed
 *   r          the reply to fill: the card with what will run, or why not
 *   request_id receives the request id ("r-" + 16 hex) when one was made (may be NULL)
 *
 * Returns T0_OK when the proposal was made (card in r); T0_ENOTFOUND (no
 * such action or target), T0_EINVAL (bad parameters), T0_EDENIED (policy),
 * T0_ERATELIMIT (limited or paused; r says when to retry): r explains.
 * Synchronous, except argocd_rollback without a history id, which looks it
 * up first: then r says so and the card follows through bot_post.
 */
int action_propose(struct bot *b, const struct event *ev, const char *action, const char *target,
		   const json_t *params, const json_t *tool_call, struct reply *r,
		   char *request_id, size_t idlen);

/*
 * The same for the LLM agent's propose_action tool (bot/agent.h,
 * agent_propose_fn): actions_register_handlers installs it with
 * agent_set_propose_fn. The model's tool call (action, service, params,
 * reason) is audited as the interpretation. T0_OK: a proposal was made (the
 * card, with "Request it" / "Cancel" for the person, is in card); T0_EDENIED:
 * refused (policy, limits, unknown action or target, bad parameters), why
 * says so in words for people; other codes on failure. Never runs anything.
 */
struct agent_proposal;
int actions_agent_propose(struct bot *b, const struct agent_proposal *p, struct reply *card,
			  char *why, size_t whylen);

/*
 * Button contract for cards that suggest actions (the incident card):
 *   action_id "action.propose", value "<action>:<entity ref>", e.g.
 *   "rollback:component:default/payment-api" (the entity part may be a short
 *   name; the value may also be "<action>" alone for an action without a
 *   target). A click is a NEW proposal by the person who clicked, exactly as
 *   action_propose with that person's event: policy applies to them, and they
 *   confirm on the card before anything is asked or run. The value names no
 *   parameters: defaults apply (the card shows them).
 */
#define ACTION_PROPOSE_BUTTON "action.propose"

/* Chat adapter-like source that runs the expiry sweep (registered in adapter_registry). */
extern const struct adapter_ops actions_ops;

#endif
