/*
 * Incident context on alert (docs/INCIDENTS.md). Sources of alerts
 * (PagerDuty and Alertmanager webhooks, the console's "simulate alert") hand
 * normalised alerts to incident_mgr_submit; the manager stores every one,
 * assembles the context of the incident (catalog, on-call, recent changes,
 * blast radius, similar incidents, runbook) by fanning out to the registered
 * context sources under a per-source and an overall deadline, and posts one
 * card per incident to the owning team's channel, updated in place later.
 *
 * Context sources (PagerDuty REST, Backstage, GitHub, Argo CD) are adapters:
 * they register a struct incident_source and answer lookups by callback.
 * Everything runs on the loop thread.
 */
#ifndef T0_INCIDENT_H
#define T0_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

struct bot;
struct t0_loop;

/* An alert or incident event, normalised. Strings are borrowed for the call. */
struct incident_alert {
	const char *source;      /* "pagerduty", "alertmanager", "simulated" (required) */
	const char *external_id; /* incident id at the source / Alertmanager groupKey (required) */
	const char *event_id;    /* de-duplication key at the source, or NULL */
	const char *type;        /* "incident.triggered", "alert.firing", ... (required) */
	const char *status;      /* triggered | acknowledged | resolved | firing; NULL keeps the current */
	const char *title;
	const char *severity;    /* critical, high, warning, ...; may be NULL */
	const char *priority;    /* "P1"; may be NULL */
	const char *service;     /* service name (catalog name or the source's label) */
	const char *pd_service_id;
	const char *pd_escalation_policy_id;
	const char *url;         /* link to the incident at the source */
	const char *agent;       /* who acted (acknowledged, annotated, ...) */
	const char *note;        /* note text, new assignees, ... */
	int64_t occurred_ms;     /* when it happened; 0 = now */
	int nalerts;             /* alerts in an Alertmanager group (0 = not applicable) */
	const char *detail_json; /* extra JSON object for the timeline, or NULL */
};

struct incident_mgr;

/* The manager of a bot. One per process (handlers find it through incident_mgr_current). */
struct incident_mgr *incident_mgr_new(struct bot *b, struct t0_loop *loop);
/*
 * Before loop_free (the app calls it from the adapter's stop): queued events
 * are stored (not posted), assemblies end with what they have, timers close,
 * queued messages are dropped. Then stop the context sources' clients.
 * Idempotent.
 */
void incident_mgr_stop(struct incident_mgr *m);
/* After loop_free. Calls stop first if needed (the loop must still exist then). NULL is fine. */
void incident_mgr_free(struct incident_mgr *m);
struct incident_mgr *incident_mgr_current(void);

/*
 * Queues one event for processing on a later loop turn and returns at once.
 * T0_OK queued; T0_EDUP its event_id was seen already (nothing to do);
 * T0_ETOOBIG the queue is full (counted as a drop; ask the sender to retry);
 * T0_EINVAL a required field is missing.
 */
int incident_mgr_submit(struct incident_mgr *m, const struct incident_alert *a);
size_t incident_mgr_queue_depth(const struct incident_mgr *m);
/* Events waiting, being assembled, or messages waiting for their channel's rate. */
size_t incident_mgr_busy(const struct incident_mgr *m);

/* ---- context sources ---- */

enum incident_src_status {
	INC_SRC_PENDING = 0,
	INC_SRC_OK,
	INC_SRC_NODATA,         /* answered, nothing relevant (no annotation, 404) */
	INC_SRC_TIMEOUT,
	INC_SRC_FAILED,
	INC_SRC_NOT_CONFIGURED,
};

enum incident_src_role {
	INC_SRC_ONCALL = 1,      /* on-call and similar incidents (PagerDuty) */
	INC_SRC_CATALOG = 2,     /* resolves and fills catalog entities (Backstage) */
	INC_SRC_DEPLOYS = 4,     /* stores deployments (GitHub, Argo CD) */
};

/* What a lookup is about. Strings are borrowed for the call only. */
struct incident_query {
	const char *service;          /* catalog entity name, or the alert's service hint */
	const char *pd_service_id;    /* from the alert or the entity's annotation */
	const char *pd_escalation_policy_id;
	const char *pd_incident_id;   /* when the alert came from PagerDuty */
	const char *github_slug;      /* github.com/project-slug */
	const char *argocd_app;       /* argocd/app-name */
	const char *argocd_selector;  /* argocd/app-selector */
	int64_t since_ms;             /* deployments: from when (wall clock) */
	long timeout_ms;              /* answer within this */
};

#define INCIDENT_MAX_ONCALL 10
#define INCIDENT_MAX_SIMILAR 5
#define INCIDENT_TEXT 256

struct incident_oncall {
	int level;
	char name[INCIDENT_TEXT];
	char email[INCIDENT_TEXT];
	char schedule[INCIDENT_TEXT];
	int64_t until_ms; /* 0 = open-ended */
};

struct incident_similar {
	char title[INCIDENT_TEXT];
	char status[32];
	char url[INCIDENT_TEXT];
	int64_t created_ms;
};

/* A source's answer; the callee fills what it knows. Borrowed by the callback. */
struct incident_src_result {
	int status;                    /* enum incident_src_status */
	char msg[160];                 /* why: "timed out", "HTTP 401", "no argocd/app-name" */
	struct incident_oncall oncall[INCIDENT_MAX_ONCALL];
	size_t noncall;
	struct incident_similar similar[INCIDENT_MAX_SIMILAR];
	size_t nsimilar;
	char entity_name[INCIDENT_TEXT]; /* INC_SRC_CATALOG: the entity it resolved and added */
	int deployments;                 /* INC_SRC_DEPLOYS: how many it stored */
};

typedef void (*incident_src_cb)(void *arg, const struct incident_src_result *res);

struct incident_source {
	const char *name; /* shown on cards: "PagerDuty", "Backstage", "GitHub", "Argo CD" */
	int roles;        /* enum incident_src_role bits */
	/*
	 * Starts a lookup and returns T0_OK; cb then runs exactly once, later
	 * (never from inside lookup), by q->timeout_ms (HTTP deadlines) or with
	 * T0_ECLOSED-like failure when the loop shuts down. Another rc: cb never runs.
	 */
	int (*lookup)(void *state, const struct incident_query *q, incident_src_cb cb, void *arg);
	void *state;
};

#define INCIDENT_MAX_SOURCES 8
/* The source is copied; state must outlive the manager's use (until incident_mgr_free). */
int incident_source_register(struct incident_mgr *m, const struct incident_source *src);

/*
 * The result of a deployment source's lookup (GitHub, Argo CD): status from
 * rc (timeout, no data, failure), "N deployments" or the error as message.
 */
void incident_src_deploys_result(struct incident_src_result *res, int rc, int stored,
				 const char *error);

/* ---- tuning for tests and benchmarks (defaults from incidents.* configuration) ---- */

/* Per-channel message rate: tokens per second and burst. */
void incident_mgr_set_rate(struct incident_mgr *m, double per_second, int burst);
void incident_mgr_set_timeouts(struct incident_mgr *m, int source_ms, int overall_ms);

/* Called after every card or summary posted/updated (tests, benchmarks). */
typedef void (*incident_posted_cb)(void *arg, int64_t incident_id, int is_update, int rc);
void incident_mgr_on_posted(struct incident_mgr *m, incident_posted_cb cb, void *arg);

#define INCIDENT_QUEUE_MAX 4096 /* events waiting to be processed */

/* Annotations read from catalog entities (and their owner groups) for the channel. */
#define INCIDENT_SLACK_ANNOTATION "slack.com/bot-notify"
#define INCIDENT_TEAMS_ANNOTATION "microsoft.com/teams-bot-notify"

#endif
