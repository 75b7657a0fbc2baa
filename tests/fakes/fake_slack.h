/*
 * A fake Slack on 127.0.0.1 for tests and benchmarks, on the caller's loop:
 *
 *  - the Web API (POST /api/<method>) on an inbound HTTP server: auth.test
 *    (with an x-oauth-scopes header), apps.connections.open (answers a
 *    ws://127.0.0.1:<port>/link/?ticket=N URL), chat.postMessage, chat.update,
 *    chat.postEphemeral, users.info, conversations.info; plus response_url
 *    hooks (POST /hooks/response?n=N). Every call is recorded; failures
 *    (429 with Retry-After, ok:false errors) can be scripted per method.
 *  - Socket Mode: a websocket server (lws, same loop) that says hello, sends
 *    envelopes round-robin over the connections that said hello, records each
 *    ack (and its latency), and redelivers what was not acknowledged when a
 *    connection ends (retry_attempt + 1, retry_reason "timeout"), like Slack.
 *    A connection can be asked to disconnect (any reason), dropped abruptly
 *    (no close frame) or frozen (stops reading: pings go unanswered).
 *
 * Free it after loop_free (its callbacks run while the loop tears down).
 */
#ifndef T0_FAKE_SLACK_H
#define T0_FAKE_SLACK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct t0_loop;
struct fake_slack;

struct fake_slack_call {
	char method[64];   /* "chat.postMessage", ..., or "response_url" */
	char *auth;        /* Authorization header value, or NULL */
	char *content_type;
	char *body;
	size_t body_len;
	json_t *args;      /* the body parsed: JSON, or a form as an object of strings */
	char *query;       /* response_url: "n=3" */
	int status;        /* what the fake answered */
	char ts[32];       /* the ts it gave (posts) */
	uint64_t at_ns;    /* t0_mono_ns() on arrival */
};

struct fake_slack_env {
	char id[48];
	char type[24];
	int retry;         /* retry_attempt of the latest delivery */
	int deliveries;
	int conn;          /* connection (accept order, from 0) of the latest delivery */
	uint64_t sent_ns;  /* latest delivery written */
	uint64_t acked_ns; /* first ack, 0 when none */
	int acks;
	json_t *ack_payload; /* payload of the first ack, or NULL */
	int tag;           /* the caller's number for it */
};

struct fake_slack *fake_slack_new(struct t0_loop *l);
void fake_slack_free(struct fake_slack *fs);

/* "http://127.0.0.1:<port>/api/" (owned by fs). */
const char *fake_slack_api_url(const struct fake_slack *fs);
int fake_slack_ws_port(const struct fake_slack *fs);
/* "http://127.0.0.1:<port>/hooks/response?n=<n>" into buf. */
const char *fake_slack_response_url(const struct fake_slack *fs, int n, char *buf, size_t len);

/* ---- Web API behaviour ---- */

/* auth.test: error NULL = ok (bot user id, bot id as given); scopes for x-oauth-scopes. */
void fake_slack_set_auth(struct fake_slack *fs, const char *error, const char *bot_user,
			 const char *bot_id, const char *scopes);
/* apps.connections.open answers ok:false with error (NULL = ok again). */
void fake_slack_set_open_error(struct fake_slack *fs, const char *error);
/*
 * The next count calls of method get this answer instead: HTTP status,
 * extra headers ("Retry-After: 1\r\n") and body.
 */
void fake_slack_fail_next(struct fake_slack *fs, const char *method, int status,
			  const char *headers, const char *body, int count);
void fake_slack_add_user(struct fake_slack *fs, const char *id, const char *name,
			 const char *email);
void fake_slack_add_channel(struct fake_slack *fs, const char *id, const char *name);
/* 0 keeps counting calls but not their bodies (benchmarks). */
void fake_slack_set_record(struct fake_slack *fs, int on);

size_t fake_slack_ncalls(const struct fake_slack *fs);
const struct fake_slack_call *fake_slack_call_at(const struct fake_slack *fs, size_t i);
/* Calls of one method so far (also when not recorded). */
size_t fake_slack_count(const struct fake_slack *fs, const char *method);
/* The nth recorded call of method (0 = first), or NULL. */
const struct fake_slack_call *fake_slack_nth(const struct fake_slack *fs, const char *method,
					     size_t n);

/* Called for every Web API call as it arrives (benchmarks). */
typedef void (*fake_slack_call_cb)(void *arg, const struct fake_slack_call *c);
void fake_slack_on_call(struct fake_slack *fs, fake_slack_call_cb cb, void *arg);
/* Called for every ack as it arrives. */
typedef void (*fake_slack_ack_cb)(void *arg, const struct fake_slack_env *e, uint64_t latency_ns);
void fake_slack_on_ack(struct fake_slack *fs, fake_slack_ack_cb cb, void *arg);

/* ---- Socket Mode ---- */

/* The hello frame (default: the shape of the fixture, num_connections patched). */
void fake_slack_set_hello(struct fake_slack *fs, const char *json);
/* 0: new connections get no hello (a client must give up on them). */
void fake_slack_set_send_hello(struct fake_slack *fs, int on);

/* The host apps.connections.open names (default "127.0.0.1"; "localhost" makes the client resolve it). */
void fake_slack_set_ws_host(struct fake_slack *fs, const char *host);
/*
 * Serves Socket Mode over TLS as well (cert and key: PEM files) and makes
 * apps.connections.open answer wss:// URLs. 0 on success.
 */
int fake_slack_enable_tls(struct fake_slack *fs, const char *cert, const char *key);

/* Connections that said hello and are still up (frozen ones excluded). */
int fake_slack_open_conns(const struct fake_slack *fs);
/* Connections accepted so far. */
int fake_slack_accepted(const struct fake_slack *fs);
/* Index of the most recently accepted connection still up, or -1. */
int fake_slack_last_conn(const struct fake_slack *fs);

/*
 * Queues an envelope of type ("events_api", "slash_commands", "interactive")
 * around payload (borrowed); sent now if a connection is up, else when one is.
 * Returns its index.
 */
int fake_slack_send_envelope(struct fake_slack *fs, const char *type, const json_t *payload,
			     int retry, int accepts_response_payload, int tag);
/*
 * Replays a whole envelope frame as written (a fixture file's text), keeping
 * its envelope_id; the ack is recorded like any other. Returns its index.
 */
int fake_slack_send_frame(struct fake_slack *fs, const char *text, int tag);
/* Any text frame on connection conn (-1: the next one up). */
int fake_slack_send_raw(struct fake_slack *fs, int conn, const char *text);

size_t fake_slack_nenvs(const struct fake_slack *fs);
const struct fake_slack_env *fake_slack_env_at(const struct fake_slack *fs, size_t i);
/* Envelopes acknowledged at least once / not yet delivered. */
size_t fake_slack_acked(const struct fake_slack *fs);
size_t fake_slack_pending(const struct fake_slack *fs);

/* A disconnect frame ({"type":"disconnect","reason":...}) on conn; frame NULL builds it. */
int fake_slack_disconnect(struct fake_slack *fs, int conn, const char *reason, const char *frame);
/* Ends conn without a close frame (the TCP connection just goes). */
int fake_slack_drop(struct fake_slack *fs, int conn);
/* conn stops reading and sending: pings are never answered. */
int fake_slack_freeze(struct fake_slack *fs, int conn);

#endif
