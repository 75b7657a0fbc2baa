/*
 * Bot Connector REST calls at an activity's serviceUrl, with a bearer token
 * from teams_token (a 401 fetches a new token and retries once). Retries for
 * throttling belong to the outbound queue (teams_queue.h), so a call here is
 * one attempt plus at most that one token retry.
 *
 *   POST {serviceUrl}v3/conversations/{conv}/activities             send
 *   POST {serviceUrl}v3/conversations/{conv}/activities/{id}        reply
 *   PUT  {serviceUrl}v3/conversations/{conv}/activities/{id}        update
 *   GET  {serviceUrl}v3/conversations/{conv}/members/{id}           member
 */
#ifndef T0_TEAMS_CONNECTOR_H
#define T0_TEAMS_CONNECTOR_H

#include <stddef.h>

struct t0_loop;
struct teams_token;
struct teams_connector;

enum teams_op { TEAMS_OP_SEND = 0, TEAMS_OP_REPLY, TEAMS_OP_UPDATE, TEAMS_OP_MEMBER };

#define TEAMS_CONNECTOR_TIMEOUT_MS 15000
#define TEAMS_CONNECTOR_MAX_URL 4096

const char *teams_op_name(int op);

struct teams_conn_result {
	int rc;              /* T0_OK when a response arrived (any status) */
	long status;
	const char *body;    /* borrowed for the callback */
	size_t body_len;
	long retry_after_ms; /* Retry-After of a 429/503, -1 when absent */
};
typedef void (*teams_conn_cb)(void *arg, const struct teams_conn_result *res);

struct teams_connector *teams_connector_new(struct t0_loop *l, struct teams_token *tok);
/* Calls still running complete with T0_ECLOSED first. NULL is fine. */
void teams_connector_free(struct teams_connector *c);
/* New calls are refused with T0_ECLOSED from now on. */
void teams_connector_close(struct teams_connector *c);

/*
 * Starts one call; cb runs exactly once, later (T0_OK), or never (any other
 * rc). body is JSON (copied) for send, reply and update.
 */
int teams_connector_call(struct teams_connector *c, int op, const char *service_url,
			 const char *conv, const char *id, const char *body, teams_conn_cb cb,
			 void *arg);

/* The URL of a call: serviceUrl joined with exactly one '/', ids percent-encoded. */
int teams_connector_url(char *out, size_t cap, int op, const char *service_url, const char *conv,
			const char *id);

#endif
