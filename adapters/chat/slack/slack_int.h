/*
 * Inside the Slack adapter: the state shared by its files. Nothing outside
 * adapters/chat/slack/ includes this; the rest of tier0 sees slack.h only.
 *
 *   slack.c         adapter ops, start-up (auth.test), settings, metrics
 *   slack_events.c  envelopes and HTTP payloads -> struct event, replies back
 *   slack_socket.c  Socket Mode connections (lws client on the shared loop)
 *   slack_http.c    HTTP Events API mode (routes on the inbound server)
 *   slack_api.c     Web API calls, users.info / conversations.info caches
 *   slack_queue.c   outbound chat.postMessage queue: order, pacing, bursts
 *   slack_blocks.c  struct reply -> Block Kit, mrkdwn escaping, limits
 *   slack_sig.c     v0 request signatures
 */
#ifndef T0_SLACK_INT_H
#define T0_SLACK_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "bot/adapter.h"

struct http_call;
struct http_resp;
struct reply;
struct slack;
struct slack_conn;
struct slack_queue;
struct t0_loop;

#define SLACK_PLATFORM "slack"
#define SLACK_MAX_CONNECTIONS 10
#define SLACK_MAX_FRAME (1024u * 1024)      /* one websocket message, reassembled */
#define SLACK_HELLO_TIMEOUT_MS 15000        /* a connection that never says hello */
#define SLACK_CLOSE_GRACE_MS 2000           /* close frame sent -> hard drop */
#define SLACK_WORK_BATCH 64                 /* envelopes handled per loop turn, at most */
#define SLACK_WORK_BUDGET_US 1000           /* and for about this long */
#define SLACK_MAX_WORK 20000                /* envelopes waiting to be handled */
#define SLACK_HTTP_MAX_BODY (512u * 1024)   /* HTTP mode request body */
#define SLACK_SIG_WINDOW_S 300              /* v0 signature timestamp window */
#define SLACK_RESPONSE_URL_USES 5
#define SLACK_RESPONSE_URL_TTL_MS (30LL * 60 * 1000)
#define SLACK_CACHE_MAX 20000               /* users / channels kept */
#define SLACK_NEG_TTL_MS (60LL * 1000)      /* failed lookups are retried after */
#define SLACK_LINK_DISABLED_FACTOR 5        /* link_disabled waits 5 x reconnect_max_ms */

enum slack_mode { SLACK_MODE_SOCKET = 0, SLACK_MODE_HTTP };

/* The slack section, copied at init (a reload does not change a running adapter). */
struct slack_settings {
	char *app_token;
	char *bot_token;
	char *signing_secret;
	int mode;
	char *api_url;
	int connections;
	json_t *slash_commands; /* {"/cmd": "text"} (owned) */
	char **channels;        /* ids or names without '#' */
	size_t nchannels;
	int pacing;             /* pacing.enabled */
	int rate;               /* pacing.messages_per_second */
	int burst;              /* pacing.burst */
	int coalesce_after;     /* pacing.coalesce_after (0 = never) */
	int64_t users_ttl_ms;
	int ping_s, pong_s;
	int reconnect_min_ms, reconnect_max_ms;
};

int slack_settings_load(struct slack_settings *set, const json_t *section);
void slack_settings_clear(struct slack_settings *set);

/* ---- Web API (slack_api.c) ---- */

struct slack_api {
	struct t0_loop *loop;
	const char *base; /* api_url, borrowed */
};

struct slack_api_result {
	int rc;                 /* T0_OK: HTTP 200 and "ok": true */
	long status;            /* HTTP status, 0 when none */
	const char *error;      /* Slack's error code, or "http_<status>", "timeout", ... */
	const json_t *body;     /* the parsed answer (borrowed), NULL when not JSON */
	const struct http_resp *resp; /* for headers; borrowed */
	long retry_after_ms;    /* with a 429 */
};

typedef void (*slack_api_cb)(void *arg, const struct slack_api_result *res);

#define SLACK_API_FORM 0x1     /* form-encoded arguments (users.info, conversations.info) */
#define SLACK_API_NO_RETRY 0x2 /* the caller handles 429 and failures (the outbound queue) */

/*
 * POSTs method with args (taken over, may be NULL) and Bearer token. cb runs
 * exactly once, later; ok:false answers are logged with method and error.
 * Any rc other than T0_OK: cb never runs.
 */
int slack_api_call(struct slack_api *api, const char *method, const char *token, json_t *args,
		   int flags, slack_api_cb cb, void *arg);
/* POSTs a JSON body (taken over) to a response_url. */
int slack_api_post_url(struct slack_api *api, const char *url, json_t *body, slack_api_cb cb,
		       void *arg);
/* 1 for errors that mean the token itself is unusable (invalid_auth, ...). */
int slack_api_fatal_error(const char *error);

/*
 * Lazy lookups with a TTL (users.info, conversations.info): id -> the "user" or
 * "channel" object. Concurrent lookups of one id share one request.
 */
struct slack_cache;
typedef void (*slack_cache_cb)(void *arg, const json_t *obj); /* obj NULL: unknown */
struct slack_cache *slack_cache_new(struct slack_api *api, const char **token, const char *method,
				    const char *arg_name, const char *field, int64_t ttl_ms);
void slack_cache_free(struct slack_cache *c);
/* The cached object when fresh (borrowed until the next cache call), else NULL. */
const json_t *slack_cache_get(struct slack_cache *c, const char *id);
/* cb runs once: at once when the answer is known, else later. T0_OK or an error (cb not called). */
int slack_cache_fetch(struct slack_cache *c, const char *id, slack_cache_cb cb, void *arg);
size_t slack_cache_size(const struct slack_cache *c);

/* ---- outbound queue (slack_queue.c) ---- */

struct slack_queue *slack_queue_new(struct slack *s);
/* Cancels timers; queued messages fail with T0_ECLOSED. */
void slack_queue_stop(struct slack_queue *q);
void slack_queue_free(struct slack_queue *q);
/*
 * chat.postMessage msg ({"text", "blocks"}, taken over) to channel, in a thread
 * when thread_ts is set. Messages to one channel leave in order, paced; a
 * coalescable message (top level, no buttons) may become part of a burst
 * summary thread. cb (may be NULL) runs once with the posted ts.
 */
int slack_queue_post(struct slack_queue *q, const char *channel, const char *thread_ts,
		     json_t *msg, int coalescable, adapter_sent_cb cb, void *arg);
size_t slack_queue_depth(const struct slack_queue *q);

/* ---- Block Kit (slack_blocks.c) ---- */

#define SLACK_MAX_BLOCKS 50
#define SLACK_MAX_SECTION_TEXT 3000
#define SLACK_MAX_FIELD_TEXT 2000
#define SLACK_MAX_FIELDS 10
#define SLACK_MAX_CONTEXT_ELEMENTS 10
#define SLACK_MAX_ACTIONS 25
#define SLACK_MAX_BUTTON_TEXT 75
#define SLACK_MAX_BUTTON_VALUE 2000
#define SLACK_MAX_ACTION_ID 255
#define SLACK_MAX_MESSAGE_CHARS 12000 /* text across a message's blocks */
#define SLACK_MAX_FALLBACK 3000       /* top-level "text" */
#define SLACK_MAX_REPLY_MESSAGES 4    /* a long reply is split into at most this many */

/* mrkdwn text for s: & < > escaped (new string, NULL on allocation failure). */
char *slack_escape(const char *s);
/*
 * The reply as a JSON array of messages, each {"text": fallback, "blocks": [...]}:
 * split across messages when over Slack's limits, truncated visibly past
 * max_messages. New reference, NULL on allocation failure.
 */
json_t *slack_render(const struct reply *r, size_t max_messages);
/*
 * The message shown after a button was pressed: orig_blocks (the message as
 * posted; may be NULL) without its actions blocks, a context line saying who
 * chose what (mrkdwn, not escaped: it holds a <@U..> mention), then the reply.
 */
json_t *slack_render_decision(const json_t *orig_blocks, const char *orig_text,
			      const char *decision_mrkdwn, const struct reply *r);
/* "text" ellipsized to max characters (UTF-8 safe) with a visible marker. */
char *slack_truncate(const char *s, size_t max);

/* ---- signatures (slack_sig.c) ---- */

/* "v0=" + 64 hex digits + NUL. */
#define SLACK_SIG_LEN 68
int slack_sig_compute(const char *secret, const char *ts, const void *body, size_t len,
		      char out[SLACK_SIG_LEN]);
/* T0_OK, or T0_EDENIED with *why set ("missing", "stale", "mismatch", ...). */
int slack_sig_verify(const char *secret, const char *ts, const char *sig, const void *body,
		     size_t len, int64_t now_s, const char **why);

/* ---- envelopes and events (slack_events.c) ---- */

enum slack_env_type {
	SLACK_ENV_EVENTS = 0, /* events_api / HTTP event_callback */
	SLACK_ENV_COMMAND,    /* slash_commands / HTTP slash command */
	SLACK_ENV_INTERACTIVE,
	SLACK_ENV_OTHER,      /* acknowledged, nothing else */
};

/*
 * One envelope: its ack (Socket Mode) and the work it asks for. The work runs
 * only once the ack has left (acked) or cannot leave any more.
 */
struct slack_env {
	struct slack_env *next_ack;
	struct slack_env *next_work;
	struct slack_conn *conn; /* whose ack queue holds it, or NULL */
	unsigned char *frame;    /* LWS_PRE + ack text */
	size_t frame_len;
	int acked;
	int in_work;
	int type;                /* enum slack_env_type */
	int retry;               /* retry_attempt / X-Slack-Retry-Num */
	json_t *payload;         /* owned */
	uint64_t received_ns;
};

void slack_env_free(struct slack_env *e);
/* A complete text frame from a Socket Mode connection (Slack -> app). */
void slack_on_frame(struct slack *s, struct slack_conn *c, const char *text, size_t len);
/* Queues an envelope for handling (HTTP mode: already answered). Takes e. */
void slack_work_push(struct slack *s, struct slack_env *e);
/* Runs ready work on the next loop turn. */
void slack_work_kick(struct slack *s);
/*
 * A slash command (fields as a JSON object of strings). When the person is
 * known and the handler answers at once, *ack_payload receives the reply
 * ({"response_type", "text", "blocks"}, new reference) for the ack / HTTP
 * body; otherwise it stays NULL and the answer goes to the response_url.
 */
void slack_command(struct slack *s, json_t *fields, json_t **ack_payload);
/* Replies for events from the core, and for bot_post / bot_update. */
int slack_send(void *state, const struct reply_target *to, const struct reply *r,
	       adapter_sent_cb cb, void *arg);
int slack_update(void *state, const struct reply_target *to, const char *ts,
		 const struct reply *r, adapter_sent_cb cb, void *arg);
/* Frees jobs still waiting (at free). */
void slack_events_free(struct slack *s);

/* ---- Socket Mode (slack_socket.c) ---- */

/* Opens slack.connections connections; the first apps.connections.open already happened. */
int slack_socket_start(struct slack *s, json_t *first_open_answer);
void slack_socket_stop(struct slack *s);
/* Frees every connection object (after the loop is gone, or when nothing runs). */
void slack_socket_free(struct slack *s);
int slack_socket_ready(const struct slack *s);
/* Queues e's ack on c and asks for a write. */
void slack_conn_ack(struct slack_conn *c, struct slack_env *e);
/* A disconnect frame arrived on c. */
void slack_conn_disconnect(struct slack_conn *c, const char *reason);
/* hello arrived on c. */
void slack_conn_hello(struct slack_conn *c, const json_t *hello);
int slack_open_connections(const struct slack *s);
/* 1 while any connection has an ack waiting to be written. */
int slack_acks_pending(const struct slack *s);

/* ---- HTTP mode (slack_http.c) ---- */

int slack_http_start(struct slack *s);
/* Form field name from an x-www-form-urlencoded body, decoded (new string) or NULL. */
char *slack_form_get(const char *body, size_t len, const char *name);
/* The whole form as a JSON object of strings (new reference). */
json_t *slack_form_parse(const char *body, size_t len);

/* ---- the adapter state (slack.c) ---- */

struct slack_slot {
	struct slack *s;
	int index;
	struct slack_conn *primary; /* said hello, takes traffic */
	struct slack_conn *next;    /* being opened: a replacement or a reconnect */
	int attempt;                /* consecutive failures, for the backoff */
	int waiting;                /* sul_retry is scheduled */
	const char *retry_reason;
	lws_sorted_usec_list_t sul_retry;
};

struct slack_job;

struct slack {
	struct adapter_ctx ctx;
	struct slack_settings set;
	struct slack_api api;
	char *bot_user_id; /* auth.test user_id */
	char *bot_id;      /* auth.test bot_id */
	char *team_id;
	char *mention;     /* "<@Ubot>" */
	int started;
	int stopping;
	int fatal;         /* tokens refused while running: not ready */

	/* Socket Mode */
	struct slack_slot slots[SLACK_MAX_CONNECTIONS];
	struct slack_conn *conns; /* every connection object alive */
	struct slack_conn *dead;  /* closed, freed on the next turn */
	struct lws_vhost *vh_plain, *vh_tls;
	lws_retry_bo_t validity;  /* ping / pong hang-up policy for lws */
	unsigned next_conn_id;
	int num_connections;      /* from the last hello */
	lws_sorted_usec_list_t sul_reap;

	/* envelopes waiting for their ack to leave, then handled in order */
	struct slack_env *work_head, *work_tail;
	size_t work_n;
	lws_sorted_usec_list_t sul_work;
	int work_scheduled;
	int work_deferred;
	struct slack_job *jobs; /* waiting on a lookup or the core */

	struct slack_cache *users, *chans;
	struct slack_queue *q;

	lws_sorted_usec_list_t sul_tick; /* gauges that age */
	int64_t last_event_ms;
	const void *commands_world;      /* the world slack.slash_commands were merged into */

	/* counters for tests and benchmarks */
	uint64_t envelopes, acks, events_dispatched, ignored;
};

/* Schedules fn on sul after us microseconds unless the adapter is stopping. */
void slack_sul(struct slack *s, lws_sorted_usec_list_t *sul, sul_cb_t fn, int64_t us);
/* The core's slash commands include slack.slash_commands (merged on demand). */
void slack_commands_sync(struct slack *s);
void slack_gauges(struct slack *s);

#endif
