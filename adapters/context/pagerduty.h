/*
 * PagerDuty REST API v2 client (../shared/reference/pagerduty.md §2): on the
 * shared curl multi, never blocking, each call completed exactly once through
 * its callback. Reads serve the incident context; the writes (acknowledge,
 * resolve, reassign, add a note; with the required From header) are the
 * executors the actions module calls.
 *
 *   struct pd_client *pd = pd_client_new_from_config(loop, cfg);
 *   pd_incident_acknowledge(pd, "PT4KHLK", NULL, on_done, ctx);   From: pagerduty.from_email
 *   ...
 *   pd_client_shutdown(pd);   (before loop_free: pending calls end with T0_ECLOSED)
 *   pd_client_free(pd);
 *
 * Errors: 429 waits for ratelimit-reset (or Retry-After) when that fits the
 * call's deadline and then retries; requests made meanwhile wait too. Other
 * statuses are reported with PagerDuty's error message and code.
 */
#ifndef T0_PAGERDUTY_H
#define T0_PAGERDUTY_H

#include <jansson.h>
#include <stddef.h>

struct config;
struct t0_loop;
struct incident_source;
struct pd_client;

struct pd_client_opts {
	const char *api_url;    /* "https://api.pagerduty.com" (no trailing slash needed) */
	const char *token;      /* REST API key: "Authorization: Token token=<key>" */
	const char *from_email; /* default From for writes */
	long timeout_ms;        /* per call (all pages and 429 waits); 0 = 10000 */
};

struct pd_client *pd_client_new(struct t0_loop *loop, const struct pd_client_opts *o);
/* From pagerduty.api_url, pagerduty.token, pagerduty.from_email. NULL without a token. */
struct pd_client *pd_client_new_from_config(struct t0_loop *loop, const struct config *cfg);
/* Fails every pending call with T0_ECLOSED (callbacks run here); new calls are refused. */
void pd_client_shutdown(struct pd_client *c);
/* Shuts down if needed, then frees once the last timer handle has closed. NULL is fine. */
void pd_client_free(struct pd_client *c);

struct pd_result {
	/*
	 * T0_OK (2xx, body parsed), T0_EHTTP (another status: see status,
	 * error, error_code; or no connection), T0_ETIMEOUT, T0_ERATELIMIT (429
	 * and the wait would pass the deadline), T0_EPARSE (not JSON),
	 * T0_ECLOSED (shut down).
	 */
	int rc;
	long status;
	const char *error;   /* PagerDuty's error.message, or a short reason */
	int error_code;      /* error.code, e.g. 1001 "incident already resolved"; 0 if none */
	const json_t *data;  /* response body; for lists {"<key>": [every page], "more": false} */
};

typedef void (*pd_done_cb)(void *arg, const struct pd_result *res);

/* Reads. timeout_ms 0 = the client's. Lists follow limit/offset pages (at most 10 pages). */
int pd_get_service(struct pd_client *c, const char *service_id, long timeout_ms, pd_done_cb cb,
		   void *arg);
int pd_get_incident(struct pd_client *c, const char *incident_id, long timeout_ms, pd_done_cb cb,
		    void *arg);
int pd_list_log_entries(struct pd_client *c, const char *incident_id, long timeout_ms,
			pd_done_cb cb, void *arg);
/* Who is on call now for an escalation policy, every level, users included. */
int pd_list_oncalls(struct pd_client *c, const char *escalation_policy_id, long timeout_ms,
		    pd_done_cb cb, void *arg);
/* Incidents of a service created since since_ms, newest first. */
int pd_list_incidents(struct pd_client *c, const char *service_id, long long since_ms, int limit,
		      long timeout_ms, pd_done_cb cb, void *arg);

/*
 * Writes (PUT /incidents/{id}, POST /incidents/{id}/notes). from: the
 * acting user's PagerDuty e-mail, NULL = pagerduty.from_email; without either
 * the call is refused with T0_EINVAL (PagerDuty would answer 400).
 */
int pd_incident_acknowledge(struct pd_client *c, const char *incident_id, const char *from,
			    pd_done_cb cb, void *arg);
int pd_incident_resolve(struct pd_client *c, const char *incident_id, const char *from,
			const char *resolution, pd_done_cb cb, void *arg);
/* Assigns to these users (PagerDuty user ids), replacing the current assignees. */
int pd_incident_reassign(struct pd_client *c, const char *incident_id, const char *from,
			 const char *const *user_ids, size_t nusers, pd_done_cb cb, void *arg);
int pd_incident_add_note(struct pd_client *c, const char *incident_id, const char *from,
			 const char *content, pd_done_cb cb, void *arg);

/* The context source "PagerDuty": on-call levels and recent incidents of the service. */
int pd_incident_source(struct pd_client *c, struct incident_source *out);

#endif
