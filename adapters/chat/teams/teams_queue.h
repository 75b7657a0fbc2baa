/*
 * The outbound queue in front of the Bot Connector. Per conversation: one
 * call at a time (order kept), a token bucket (burst, then one message per
 * interval), a pause honouring Retry-After after a 429 (or a backoff after
 * 412/502/503/504 and connection failures), bounded length. For the whole
 * bot: a calls-per-second bucket. During a storm, proactive posts waiting in
 * one conversation beyond coalesce_after are merged into one digest message,
 * and a queued update of a message is replaced by a newer update of it.
 */
#ifndef T0_TEAMS_QUEUE_H
#define T0_TEAMS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct t0_loop;
struct teams_connector;
struct teams_queue;

struct teams_pacing {
	int burst;
	int interval_ms;
	int global_per_second;
	int max_queue;
	int coalesce_after;
	int max_retries;
};

#define TEAMS_QUEUE_MAX_CONVS 10000
#define TEAMS_QUEUE_DIGEST_LINES 20
#define TEAMS_QUEUE_MAX_WAITERS 10000 /* callbacks merged into one message */
#define TEAMS_QUEUE_BACKOFF_MS 500
#define TEAMS_QUEUE_BACKOFF_CAP_MS 30000

/*
 * Builds the activity JSON of a digest: summaries of the first n merged
 * posts, total merged. Returns malloc'ed JSON or NULL.
 */
typedef char *(*teams_digest_fn)(void *arg, const char *const *summaries, size_t n,
				 size_t total);

/*
 * Completion of a queued message, exactly once: rc (T0_OK on 2xx; T0_EDENIED
 * for 401/403, T0_ENOTFOUND for 404, T0_ETOOBIG for 413, T0_ERATELIMIT when
 * still throttled after the retries, T0_ECLOSED at shutdown), the last HTTP
 * status (0 when none) and the id of the posted or updated activity (NULL
 * when unknown), borrowed for the call.
 */
typedef void (*teams_sent_cb)(void *arg, int rc, long status, const char *activity_id);

struct teams_msg {
	int op;                  /* TEAMS_OP_SEND, _REPLY or _UPDATE */
	const char *service_url;
	const char *conversation;
	const char *activity_id; /* reply: the activity answered; update: the one replaced */
	const char *body;        /* activity JSON */
	const char *summary;     /* one line for a digest (may be NULL) */
	int coalesce;            /* a proactive post that may merge into a digest */
};

struct teams_queue *teams_queue_new(struct t0_loop *l, struct teams_connector *c,
				    const struct teams_pacing *p, teams_digest_fn digest,
				    void *digest_arg);
/*
 * Shutdown has begun: what is queued still goes out, and the queue's timer
 * is closed as soon as nothing is left (so no handle outlives the loop).
 */
void teams_queue_stop(struct teams_queue *q);
/* Stops sending: queued messages complete with T0_ECLOSED; those on the wire finish normally. */
void teams_queue_close(struct teams_queue *q);
/* Frees (after close and after the connector is gone). NULL is fine. */
void teams_queue_free(struct teams_queue *q);

/*
 * Queues m (everything copied). T0_OK: cb runs exactly once, later.
 * T0_ERATELIMIT: the conversation's queue is full; T0_ECLOSED: closing;
 * cb never runs then.
 */
int teams_queue_push(struct teams_queue *q, const struct teams_msg *m, teams_sent_cb cb,
		     void *arg);

/* Messages waiting (not counting merged ones), over all conversations. */
size_t teams_queue_depth(const struct teams_queue *q);
/* Messages merged into a digest or replaced by a newer update, so far. */
uint64_t teams_queue_coalesced(const struct teams_queue *q);

#endif
