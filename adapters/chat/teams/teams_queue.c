/* Per-conversation pacing, throttling retries and storm coalescing for Teams. */
#include "adapters/chat/teams/teams_queue.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "adapters/chat/teams/teams_connector.h"
#include "adapters/chat/teams/teams_timer.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

struct q_waiter {
	teams_sent_cb cb;
	void *arg;
};

struct q_item {
	struct q_item *next;
	int op;
	char *service_url;
	char *activity_id;
	char *body;     /* NULL for a digest: built when sent */
	int coalesce;
	int digest;
	char *summaries[TEAMS_QUEUE_DIGEST_LINES];
	size_t nsum, total;
	struct q_waiter *w;
	size_t nw, wcap;
	int attempts;
};

struct q_conv {
	struct q_conv *next;
	struct teams_queue *q;
	char *id;
	struct q_item *head, *tail;
	size_t n;
	int in_flight;
	double tokens;
	uint64_t refill_ns;
	uint64_t paused_until_ns;
};

struct teams_queue {
	struct t0_loop *l;
	struct teams_connector *c;
	struct teams_pacing p;
	teams_digest_fn digest;
	void *digest_arg;
	struct q_conv *convs;
	size_t nconvs;
	size_t depth;
	double gtokens;
	uint64_t grefill_ns;
	uv_timer_t *timer; /* NULL once stopped and idle */
	int closing;
	int stopping;
	size_t inflight;
	uint64_t coalesced;
	uint64_t rng;
};

static void schedule_pump(struct teams_queue *q, uint64_t ms);

static void item_free(struct q_item *it)
{
	free(it->service_url);
	free(it->activity_id);
	free(it->body);
	for (size_t i = 0; i < it->nsum; i++)
		free(it->summaries[i]);
	free(it->w);
	free(it);
}

static int item_add_waiter(struct q_item *it, teams_sent_cb cb, void *arg)
{
	if (it->nw == it->wcap) {
		size_t ncap = it->wcap ? it->wcap * 2 : 2;
		struct q_waiter *nw;

		if (ncap > TEAMS_QUEUE_MAX_WAITERS)
			return T0_ERATELIMIT;
		nw = realloc(it->w, ncap * sizeof(*nw));
		if (!nw)
			return T0_ENOMEM;
		it->w = nw;
		it->wcap = ncap;
	}
	it->w[it->nw].cb = cb;
	it->w[it->nw].arg = arg;
	it->nw++;
	return T0_OK;
}

static void item_complete(struct q_item *it, int rc, long status, const char *id)
{
	for (size_t i = 0; i < it->nw; i++)
		if (it->w[i].cb)
			it->w[i].cb(it->w[i].arg, rc, status, id);
	item_free(it);
}

static void set_depth_gauge(struct teams_queue *q)
{
	metrics_gauge_set("tier0_teams_queue_depth", NULL, (double)q->depth);
}

static struct q_item *conv_pop(struct q_conv *cv)
{
	struct q_item *it = cv->head;

	if (!it)
		return NULL;
	cv->head = it->next;
	if (!cv->head)
		cv->tail = NULL;
	cv->n--;
	cv->q->depth--;
	set_depth_gauge(cv->q);
	return it;
}

static void conv_free(struct q_conv *cv)
{
	free(cv->id);
	free(cv);
}

static void refill(struct teams_queue *q, struct q_conv *cv, uint64_t now)
{
	double add;

	if (now > cv->refill_ns) {
		add = (double)(now - cv->refill_ns) / ((double)q->p.interval_ms * 1e6);
		cv->tokens = cv->tokens + add > q->p.burst ? q->p.burst : cv->tokens + add;
		cv->refill_ns = now;
	}
	if (now > q->grefill_ns) {
		add = (double)(now - q->grefill_ns) * q->p.global_per_second / 1e9;
		q->gtokens = q->gtokens + add > q->p.global_per_second ? q->p.global_per_second
								       : q->gtokens + add;
		q->grefill_ns = now;
	}
}

static uint64_t jitter(struct teams_queue *q, uint64_t ms)
{
	q->rng ^= q->rng << 13;
	q->rng ^= q->rng >> 7;
	q->rng ^= q->rng << 17;
	return ms / 2 + (ms ? q->rng % (ms / 2 + 1) : 0);
}

static int rc_for_status(long status)
{
	switch (status) {
	case 401:
	case 403:
		return T0_EDENIED;
	case 404:
		return T0_ENOTFOUND;
	case 413:
		return T0_ETOOBIG;
	case 429:
		return T0_ERATELIMIT;
	default:
		return T0_EHTTP;
	}
}

static int retryable(const struct teams_conn_result *res)
{
	if (res->rc == T0_EHTTP)
		return 1; /* no connection: nothing reached Teams */
	if (res->rc != T0_OK)
		return 0;
	return res->status == 429 || res->status == 412 || res->status == 502 ||
	       res->status == 503 || res->status == 504;
}

static char *new_id(const struct teams_conn_result *res)
{
	json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(j, "id"));
	char *out = id ? strdup(id) : NULL;

	json_decref(j);
	return out;
}

static void on_sent(void *arg, const struct teams_conn_result *res)
{
	struct q_conv *cv = arg;
	struct teams_queue *q = cv->q;
	struct q_item *it = cv->head;
	char *id;

	cv->in_flight = 0;
	q->inflight--;
	if (!it) /* cannot happen: the head stays while in flight */
		return;
	if (!q->closing && retryable(res) && it->attempts < q->p.max_retries) {
		uint64_t delay = res->retry_after_ms >= 0
					 ? (uint64_t)res->retry_after_ms
					 : jitter(q, (uint64_t)TEAMS_QUEUE_BACKOFF_MS << (it->attempts < 6 ? it->attempts : 6));

		if (res->retry_after_ms < 0 && delay > TEAMS_QUEUE_BACKOFF_CAP_MS)
			delay = TEAMS_QUEUE_BACKOFF_CAP_MS;
		it->attempts++;
		cv->paused_until_ns = t0_mono_ns() + delay * 1000000u;
		if (res->status == 429)
			metrics_counter_add("tier0_teams_throttled_total", NULL, 1);
		metrics_counter_add("tier0_teams_queue_retries_total", NULL, 1);
		log_info("teams", "connector_retry", "op=%s status=%ld attempt=%d delay_ms=%llu",
			 teams_op_name(it->op), res->status, it->attempts, (unsigned long long)delay);
		schedule_pump(q, delay);
		return;
	}
	it = conv_pop(cv);
	if (res->rc == T0_OK && res->status >= 200 && res->status < 300) {
		id = new_id(res);
		item_complete(it, T0_OK, res->status, id ? id : it->activity_id);
		free(id);
	} else {
		item_complete(it, res->rc != T0_OK ? res->rc : rc_for_status(res->status), res->status,
			      NULL);
	}
	schedule_pump(q, 0);
}

static void dispatch(struct teams_queue *q, struct q_conv *cv)
{
	struct q_item *it = cv->head;
	char *digest = NULL;
	const char *body = it->body;
	int rc;

	if (it->digest) {
		digest = q->digest(q->digest_arg, (const char *const *)it->summaries, it->nsum,
				   it->total);
		body = digest;
		if (!body) {
			item_complete(conv_pop(cv), T0_ENOMEM, 0, NULL);
			return;
		}
	}
	cv->in_flight = 1;
	q->inflight++;
	rc = teams_connector_call(q->c, it->op, it->service_url, cv->id, it->activity_id, body,
				  on_sent, cv);
	free(digest);
	if (rc != T0_OK) {
		cv->in_flight = 0;
		q->inflight--;
		log_warn("teams", "connector_call_failed", "op=%s rc=%s", teams_op_name(it->op),
			 t0_rc_str(rc));
		item_complete(conv_pop(cv), rc, 0, NULL);
	}
}

/* Sends what the buckets allow; sleeps until the next token or pause end. */
static void pump(struct teams_queue *q)
{
	uint64_t now = t0_mono_ns(), wake = UINT64_MAX;
	struct q_conv **pp = &q->convs, *first = q->convs;
	int first_served = 0;

	if (q->closing)
		return;
	/*
	 * dispatch() may complete an item at once, and its callback may queue
	 * more (adding conversations at the head): only the links after pp are
	 * relied on.
	 */
	while (*pp) {
		struct q_conv *cv = *pp;
		uint64_t w;

		refill(q, cv, now);
		if (!cv->head && !cv->in_flight) {
			/* Idle with a full bucket: forget it (memory stays bounded). */
			if (cv->tokens >= q->p.burst) {
				*pp = cv->next;
				q->nconvs--;
				if (cv == first)
					first = NULL;
				conv_free(cv);
				continue;
			}
			pp = &cv->next;
			continue;
		}
		if (!cv->head || cv->in_flight) {
			pp = &cv->next;
			continue;
		}
		if (cv->paused_until_ns > now) {
			w = cv->paused_until_ns - now;
		} else if (cv->tokens < 1.0) {
			w = (uint64_t)((1.0 - cv->tokens) * q->p.interval_ms * 1e6) + 1;
		} else if (q->gtokens < 1.0) {
			w = (uint64_t)((1.0 - q->gtokens) * 1e9 / q->p.global_per_second) + 1;
		} else {
			cv->tokens -= 1.0;
			q->gtokens -= 1.0;
			if (cv == first)
				first_served = 1;
			dispatch(q, cv);
			pp = &cv->next;
			continue;
		}
		if (w < wake)
			wake = w;
		pp = &cv->next;
	}
	/* Take turns: the conversation served first goes to the back. */
	if (first_served && q->convs == first && first->next) {
		struct q_conv *last = first;

		while (last->next)
			last = last->next;
		q->convs = first->next;
		first->next = NULL;
		last->next = first;
	}
	if (wake != UINT64_MAX)
		schedule_pump(q, (wake + 999999u) / 1000000u);
	else if (q->stopping && !q->depth && !q->inflight && q->timer) {
		teams_timer_free(q->timer); /* drained during shutdown: leave no handle behind */
		q->timer = NULL;
	}
}

static void on_timer(uv_timer_t *t)
{
	pump(t->data);
}

static void schedule_pump(struct teams_queue *q, uint64_t ms)
{
	if (q->closing)
		return;
	if (!q->timer && !(q->timer = teams_timer_new(q->l, q)))
		return;
	/* An earlier wake-up wins: only shorten a pending timer. */
	if (uv_is_active((uv_handle_t *)q->timer) && uv_timer_get_due_in(q->timer) <= ms)
		return;
	uv_timer_start(q->timer, on_timer, ms, 0);
}

struct teams_queue *teams_queue_new(struct t0_loop *l, struct teams_connector *c,
				    const struct teams_pacing *p, teams_digest_fn digest,
				    void *digest_arg)
{
	struct teams_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->timer = teams_timer_new(l, q);
	if (!q->timer) {
		free(q);
		return NULL;
	}
	q->l = l;
	q->c = c;
	q->p = *p;
	if (q->p.burst < 1)
		q->p.burst = 1;
	if (q->p.interval_ms < 1)
		q->p.interval_ms = 1;
	if (q->p.global_per_second < 1)
		q->p.global_per_second = 1;
	if (q->p.max_queue < 1)
		q->p.max_queue = 1;
	if (q->p.coalesce_after < 1)
		q->p.coalesce_after = 1;
	q->digest = digest;
	q->digest_arg = digest_arg;
	q->gtokens = q->p.global_per_second;
	q->grefill_ns = t0_mono_ns();
	q->rng = t0_mono_ns() ^ ((uint64_t)getpid() << 20) ^ 0x2545f4914f6cdd1dull;
	return q;
}

static struct q_conv *conv_get(struct teams_queue *q, const char *id)
{
	struct q_conv *cv;

	for (cv = q->convs; cv; cv = cv->next)
		if (!strcmp(cv->id, id))
			return cv;
	if (q->nconvs >= TEAMS_QUEUE_MAX_CONVS)
		return NULL;
	cv = calloc(1, sizeof(*cv));
	if (!cv || !(cv->id = strdup(id))) {
		free(cv);
		return NULL;
	}
	cv->q = q;
	cv->tokens = q->p.burst;
	cv->refill_ns = t0_mono_ns();
	cv->next = q->convs;
	q->convs = cv;
	q->nconvs++;
	return cv;
}

/* Queued items after the one on the wire (those can still change). */
static struct q_item *first_pending(struct q_conv *cv)
{
	return cv->in_flight && cv->head ? cv->head->next : cv->head;
}

static int add_summary(struct q_item *d, const char *summary)
{
	d->total++;
	if (d->nsum < TEAMS_QUEUE_DIGEST_LINES) {
		d->summaries[d->nsum] = strdup(summary && *summary ? summary : "(no text)");
		if (!d->summaries[d->nsum])
			return T0_ENOMEM;
		d->nsum++;
	}
	return T0_OK;
}

static void append(struct q_conv *cv, struct q_item *it)
{
	if (cv->tail)
		cv->tail->next = it;
	else
		cv->head = it;
	cv->tail = it;
	cv->n++;
	cv->q->depth++;
	set_depth_gauge(cv->q);
}

static int try_coalesce(struct teams_queue *q, struct q_conv *cv, const struct teams_msg *m,
			teams_sent_cb cb, void *arg)
{
	struct q_item *it, *d;
	size_t posts = 0;
	int rc;

	if (m->op == TEAMS_OP_UPDATE) {
		/* A newer version of the same message supersedes the queued one. */
		for (it = first_pending(cv); it; it = it->next)
			if (it->op == TEAMS_OP_UPDATE && !strcmp(it->activity_id, m->activity_id)) {
				char *nb = strdup(m->body);

				if (!nb)
					return T0_ENOMEM;
				rc = item_add_waiter(it, cb, arg);
				if (rc != T0_OK) {
					free(nb);
					return rc;
				}
				free(it->body);
				it->body = nb;
				q->coalesced++;
				metrics_counter_add("tier0_teams_coalesced_total", "kind=\"update\"", 1);
				return T0_OK;
			}
		return T0_ENOTFOUND;
	}
	if (!m->coalesce)
		return T0_ENOTFOUND;
	for (it = first_pending(cv); it; it = it->next)
		if (it->coalesce && !it->digest)
			posts++;
	if (posts < (size_t)q->p.coalesce_after)
		return T0_ENOTFOUND;
	d = cv->tail && cv->tail->digest && cv->tail != (cv->in_flight ? cv->head : NULL)
		    ? cv->tail : NULL;
	if (!d) {
		if (cv->n >= (size_t)q->p.max_queue)
			return T0_ERATELIMIT;
		d = calloc(1, sizeof(*d));
		if (!d || !(d->service_url = strdup(m->service_url))) {
			free(d);
			return T0_ENOMEM;
		}
		d->op = TEAMS_OP_SEND;
		d->digest = 1;
		d->coalesce = 1;
		append(cv, d);
		log_info("teams", "coalescing", "waiting=%zu", posts);
	}
	rc = item_add_waiter(d, cb, arg);
	if (rc == T0_OK)
		rc = add_summary(d, m->summary);
	if (rc == T0_OK) {
		q->coalesced++;
		metrics_counter_add("tier0_teams_coalesced_total", "kind=\"post\"", 1);
	}
	return rc;
}

int teams_queue_push(struct teams_queue *q, const struct teams_msg *m, teams_sent_cb cb,
		     void *arg)
{
	struct q_conv *cv;
	struct q_item *it;
	int rc;

	if (!q || !m || !m->conversation || !m->service_url || !m->body ||
	    (m->op != TEAMS_OP_SEND && !m->activity_id))
		return T0_EINVAL;
	if (q->closing)
		return T0_ECLOSED;
	cv = conv_get(q, m->conversation);
	if (!cv)
		return T0_ERATELIMIT;
	rc = try_coalesce(q, cv, m, cb, arg);
	if (rc != T0_ENOTFOUND) {
		if (rc == T0_OK)
			schedule_pump(q, 0);
		return rc;
	}
	if (cv->n >= (size_t)q->p.max_queue) {
		metrics_counter_add("tier0_teams_queue_full_total", NULL, 1);
		return T0_ERATELIMIT;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return T0_ENOMEM;
	it->op = m->op;
	it->coalesce = m->coalesce;
	it->service_url = strdup(m->service_url);
	it->activity_id = m->activity_id ? strdup(m->activity_id) : NULL;
	it->body = strdup(m->body);
	if (!it->service_url || !it->body || (m->activity_id && !it->activity_id) ||
	    item_add_waiter(it, cb, arg) != T0_OK) {
		item_free(it);
		return T0_ENOMEM;
	}
	append(cv, it);
	schedule_pump(q, 0);
	return T0_OK;
}

void teams_queue_stop(struct teams_queue *q)
{
	if (!q)
		return;
	q->stopping = 1;
	if (!q->depth && !q->inflight && q->timer) {
		teams_timer_free(q->timer);
		q->timer = NULL;
	}
}

void teams_queue_close(struct teams_queue *q)
{
	if (!q || q->closing)
		return;
	q->closing = 1;
	if (q->timer)
		uv_timer_stop(q->timer);
	for (struct q_conv *cv = q->convs; cv; cv = cv->next) {
		/* The one on the wire finishes through the connector. */
		struct q_item *keep = cv->in_flight ? cv->head : NULL;
		struct q_item *it = keep ? keep->next : cv->head;

		if (keep) {
			keep->next = NULL;
			cv->tail = keep;
		} else {
			cv->head = cv->tail = NULL;
		}
		while (it) {
			struct q_item *n = it->next;

			cv->n--;
			q->depth--;
			item_complete(it, T0_ECLOSED, 0, NULL);
			it = n;
		}
	}
	set_depth_gauge(q);
}

void teams_queue_free(struct teams_queue *q)
{
	if (!q)
		return;
	teams_queue_close(q);
	while (q->convs) {
		struct q_conv *cv = q->convs;

		q->convs = cv->next;
		while (cv->head)
			item_complete(conv_pop(cv), T0_ECLOSED, 0, NULL);
		conv_free(cv);
	}
	teams_timer_free(q->timer);
	free(q);
}

size_t teams_queue_depth(const struct teams_queue *q)
{
	return q ? q->depth : 0;
}

uint64_t teams_queue_coalesced(const struct teams_queue *q)
{
	return q ? q->coalesced : 0;
}
