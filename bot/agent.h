/*
 * The LLM agent: answers what no rule understood (or, with llm.routing
 * always_in_dms, every direct message) by letting the configured model call
 * tools. The tools are the built-in read intents (owner, on-call,
 * dependencies, blast radius, runbook, describe; incident context and
 * deployments when handlers for "incident" / "deploys" are registered) run
 * through the same handlers as typed requests, plus propose_action, which
 * only ever creates a proposal through the actions module's hook: the model
 * can never execute or approve anything. Steps, tokens and wall time are
 * bounded; tool results are cleaned, redacted, truncated and fenced as
 * untrusted data; the model's text is rendered without links or mentions it
 * made up. Usage and cost go to the store (llm_usage), /metrics and the
 * audit chain; daily budgets per user and overall are checked before each
 * request. See docs/LLM.md.
 */
#ifndef T0_AGENT_H
#define T0_AGENT_H

#include <jansson.h>
#include <stddef.h>

struct bot;
struct cat_entity;
struct event;
struct reply;

/* Installs the agent as the router's fallback (the LLM adapter calls it at init). */
int agent_attach(struct bot *b);
void agent_detach(void);

#define AGENT_MAX_PROPOSALS 2 /* per request */

struct agent_proposal {
	const char *action;   /* what to do, as the model named it, e.g. "rollback" */
	const char *service;  /* on what: a catalog name */
	const json_t *params; /* further arguments, an object (maybe empty) */
	const char *reason;   /* the model's one-line justification */
	const struct event *ev; /* who asked, where (platform, user, channel) */
	const struct cat_entity *requester; /* catalog User of the person, or NULL */
};

/*
 * The actions module's entry point for propose_action: check policy, record
 * the request as proposed on the asking person's behalf and fill card with
 * what people see (summary, a "Request it" button for that person). Returns
 * T0_OK when the proposal is recorded, T0_EDENIED
 * when policy refuses it (why says why, in words for people), anything else
 * on failure (why says what). It must never execute anything itself.
 */
typedef int (*agent_propose_fn)(struct bot *b, const struct agent_proposal *p,
				struct reply *card, char *why, size_t whylen);
/* NULL (the default): propose_action answers that actions are not configured. */
void agent_set_propose_fn(agent_propose_fn fn);

#endif
