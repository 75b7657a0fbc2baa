/*
 * Shared by bot/incident*.c only: the manager, context assembly and card
 * rendering. See bot/incident.h for the public side.
 */
#ifndef T0_INCIDENT_PRIV_H
#define T0_INCIDENT_PRIV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bot/incident.h"

struct bot;
struct reply;
struct store_incident;
struct cat_entity;
struct t0_loop;

#define INC_ASM_NAMES 4 /* the sources every card reports on, configured or not */
extern const char *const incident_known_sources[INC_ASM_NAMES];

#define INC_DEPLOY_WINDOW_MS (24LL * 3600 * 1000)  /* "what changed": the day before */
#define INC_DEPLOY_SUSPECT_MS (2LL * 3600 * 1000)  /* flagged when this close before the alert */
#define INC_SIMILAR_WINDOW_MS (30LL * 24 * 3600 * 1000)

/* ---- context assembly (incident_ctx.c) ---- */

struct inc_asm;

/* What to assemble a context for; strings copied. */
struct inc_asm_req {
	const char *service;       /* hint: catalog name or a source's label */
	const char *pd_service_id;
	const char *pd_escalation_policy_id;
	const char *pd_incident_id;
	const char *title;         /* alert text, for the runbook match */
	int64_t alert_ms;          /* wall clock of the alert (deployment window) */
	uint64_t t0_ns;            /* when the alert arrived: the overall deadline runs from here */
	int roles;                 /* sources to ask (enum incident_src_role bits) */
	int64_t since_ms;          /* deployments from (0: 24 h before alert_ms) */
};

/*
 * Done exactly once, later (never from inside incident_asm_start): ctx is a
 * new JSON object the callee takes over ("service", "entity", "sources",
 * "oncall", "similar", "runbook", "actions", "elapsed_ms", ...).
 */
typedef void (*inc_asm_done)(void *arg, json_t *ctx);

int incident_asm_start(struct incident_mgr *m, const struct inc_asm_req *req, inc_asm_done done,
		       void *arg);
/* Ends every assembly of m now (done runs with what has arrived); for shutdown. */
void incident_asm_stop_all(struct incident_mgr *m);

/* The catalog entity for a service hint / PagerDuty service id, or NULL. */
struct cat_entity *incident_find_entity(struct bot *b, const char *service,
					const char *pd_service_id);

/* ---- rendering (incident_card.c) ---- */

/* The card of one incident (inc may be NULL: a service's context without an incident). */
struct reply *incident_card(struct bot *b, const struct store_incident *inc, const json_t *ctx);
/* One message for several incidents of a channel (an alert storm). */
struct reply *incident_summary(struct bot *b, const struct store_incident *incs, size_t n);
/*
 * Adds "runbook" and "actions" (suggested actions of the matching runbook, each
 * with an opaque id stored for the button; incident_id 0 = no incident) to ctx.
 */
int incident_ctx_actions(struct bot *b, json_t *ctx, int64_t incident_id, const char *title);
/* A one-line timeline note for the card's thread, or NULL when the event is not one. */
char *incident_thread_note(const struct incident_alert *a);
/* Deployments of a service since since_ms, from the store. */
int incident_deploys_answer(struct bot *b, const char *service, const char *shown_as,
			    int64_t since_ms, const json_t *sources, struct reply *r);
/* "2026-11-26 10:00 UTC" */
void incident_fmt_time(int64_t ms, char *out, size_t len);

/* ---- manager internals used by the intent handlers (incident_intents.c) ---- */

struct bot *incident_mgr_bot(struct incident_mgr *m);
struct t0_loop *incident_mgr_loop(struct incident_mgr *m);
int incident_mgr_timeouts(const struct incident_mgr *m, int *source_ms, int *overall_ms);
int incident_mgr_roles(const struct incident_mgr *m);
/* The context of an incident changed outside an event (re-rendered): edit its message. */
void incident_mgr_card_changed(struct incident_mgr *m, int64_t id);
/* Waits for the first message of an incident: cb(arg, rc, channel) once, later. */
typedef void (*incident_wait_cb)(void *arg, int rc, const char *channel);
int incident_mgr_wait_posted(struct incident_mgr *m, const char *source, const char *external_id,
			     incident_wait_cb cb, void *arg);
/* Registers the intent handlers (incident, deploys, simulate alert) and the action fallback. */
void incident_intents_register(void);
void incident_intents_unregister(void);

/* The registered sources (borrowed). */
size_t incident_mgr_sources(struct incident_mgr *m, const struct incident_source **out, size_t max);

#endif
