/*
 * Outbound chat.postMessage queue. Per channel: one request in flight at a
 * time (so messages arrive in the order they were queued, also across a 429),
 * a token bucket of `burst` messages refilled at `messages_per_second`, and
 * burst coalescing: when `coalesce_after` top-level messages without buttons
 * are waiting, one summary message is posted and those messages (and the ones
 * that follow within a minute) go into its thread, several per post. With
 * pacing off (benchmarks) only the ordering remains.
 */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define Q_MAX_ITEMS 10000           /* queued messages over all channels */
#define Q_MAX_ATTEMPTS 3            /* for connection failures and 5xx */
#define Q_BURST_WINDOW_MS 60000     /* later messages join the burst thread */
#define Q_BATCH_MAX_ITEMS 20        /* messages folded into one thread post */
#define Q_BATCH_MAX_CHARS 10000
#define Q_MAX_PAUSE_MS (10LL * 60 * 1000)

struct q_item {
	struct q_item *next;
	char *thread_ts;
	json_t *msg; /* {"text", "blocks"} */
	int coalescable;
	int attempts;
	adapter_sent_cb cb;
	void *arg;
};

struct q_chan;

/* What one request carries: a single message, a batch for a burst thread, or the summary. */
struct q_send {
	struct q_chan *ch;
	struct q_item *items; /* sent in this request, in order */
	int summary;          /* the burst summary (no items) */
	int update;           /* the summary's final count (chat.update) */
};

struct q_chan {
	struct slack_queue *q;
	struct q_chan *next;
	char *id;
	struct q_item *head, *tail;
	size_t n;
	double tokens;
	int64_t refill_ms;
	int inflight;
	int64_t paused_until_ms;
	lws_sorted_usec_list_t sul;
	/* burst thread */
	char *burst_ts;
	int64_t burst_until_ms, burst_first_ms;
	size_t burst_count;
	int burst_dirty;
	int64_t no_summary_until; /* a refused summary: send one by one for a while */
};

struct slack_queue {
	struct slack *s;
	struct q_chan *chans;
	size_t depth;
	int stopped;
};

static void pump(struct q_chan *ch);

static void gauge(struct slack_queue *q)
{
	metrics_gauge_set("tier0_slack_outbound_queue_depth", NULL, (double)q->depth);
}

struct slack_queue *slack_queue_new(struct slack *s)
{
	struct slack_queue *q = calloc(1, sizeof(*q));

	if (q)
		q->s = s;
	return q;
}

static void item_free(struct q_item *it)
{
	json_decref(it->msg);
	free(it->thread_ts);
	free(it);
}

static void item_done(struct q_item *it, int rc, const char *ts)
{
	if (it->cb)
		it->cb(it->arg, rc, ts);
	item_free(it);
}

static void chan_free(struct q_chan *ch)
{
	lws_sul_cancel(&ch->sul);
	free(ch->id);
	free(ch->burst_ts);
	free(ch);
}

static void fail_all(struct q_chan *ch, int rc)
{
	while (ch->head) {
		struct q_item *it = ch->head;

		ch->head = it->next;
		ch->n--;
		ch->q->depth--;
		item_done(it, rc, NULL);
	}
	ch->tail = NULL;
}

void slack_queue_stop(struct slack_queue *q)
{
	if (!q || q->stopped)
		return;
	q->stopped = 1;
	for (struct q_chan *ch = q->chans; ch; ch = ch->next) {
		lws_sul_cancel(&ch->sul);
		fail_all(ch, T0_ECLOSED);
	}
	gauge(q);
}

void slack_queue_free(struct slack_queue *q)
{
	if (!q)
		return;
	slack_queue_stop(q);
	while (q->chans) {
		struct q_chan *ch = q->chans;

		q->chans = ch->next;
		chan_free(ch);
	}
	free(q);
}

size_t slack_queue_depth(const struct slack_queue *q)
{
	return q ? q->depth : 0;
}

static struct q_chan *chan_get(struct slack_queue *q, const char *id)
{
	struct q_chan *ch;

	for (ch = q->chans; ch; ch = ch->next)
		if (strcmp(ch->id, id) == 0)
			return ch;
	ch = calloc(1, sizeof(*ch));
	if (!ch || !(ch->id = strdup(id))) {
		free(ch);
		return NULL;
	}
	ch->q = q;
	ch->tokens = q->s->set.burst;
	ch->refill_ms = t0_now_ms();
	ch->next = q->chans;
	q->chans = ch;
	return ch;
}

/* A channel with nothing queued, nothing in flight and a full bucket is forgotten. */
static int chan_idle(const struct q_chan *ch, int64_t now)
{
	const struct slack_settings *set = &ch->q->s->set;
	double tokens = ch->tokens + (double)(now - ch->refill_ms) * set->rate / 1000.0;

	return !ch->head && !ch->inflight && !ch->burst_dirty && now >= ch->burst_until_ms &&
	       now >= ch->paused_until_ms && (!set->pacing || tokens >= set->burst);
}

static void chan_reap(struct slack_queue *q)
{
	int64_t now = t0_now_ms();
	struct q_chan **pp = &q->chans;

	while (*pp) {
		struct q_chan *ch = *pp;

		if (chan_idle(ch, now)) {
			*pp = ch->next;
			chan_free(ch);
			continue;
		}
		pp = &ch->next;
	}
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct q_chan *ch = lws_container_of(sul, struct q_chan, sul);

	pump(ch);
}

static void chan_wait(struct q_chan *ch, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	slack_sul(ch->q->s, &ch->sul, on_timer, ms * 1000);
}

static void put_back(struct q_chan *ch, struct q_item *items)
{
	struct q_item *last = items;

	if (!items)
		return;
	while (last->next)
		last = last->next;
	last->next = ch->head;
	ch->head = items;
	if (!ch->tail)
		ch->tail = last;
	for (struct q_item *it = items; it; it = it->next) {
		ch->n++;
		ch->q->depth++;
	}
}

static void on_sent(void *arg, const struct slack_api_result *res)
{
	struct q_send *snd = arg;
	struct q_chan *ch = snd->ch;
	struct slack_queue *q = ch->q;
	const char *ts = json_string_value(json_object_get(res->body, "ts"));
	int64_t now = t0_now_ms();
	struct q_item *items = snd->items;

	ch->inflight = 0;
	if (snd->update) {
		free(snd);
		pump(ch);
		return;
	}
	if (res->rc == T0_OK) {
		if (snd->summary && ts) {
			free(ch->burst_ts);
			ch->burst_ts = strdup(ts);
			ch->burst_first_ms = now;
			ch->burst_until_ms = now + Q_BURST_WINDOW_MS;
			ch->burst_count = 0;
		}
		while (items) {
			struct q_item *it = items;

			items = it->next;
			item_done(it, T0_OK, ts);
		}
	} else if (res->rc == T0_ECLOSED || q->stopped) {
		while (items) {
			struct q_item *it = items;

			items = it->next;
			item_done(it, T0_ECLOSED, NULL);
		}
	} else if (res->rc == T0_ERATELIMIT) {
		/* Slack asked this channel to wait: keep the order, try the same again. */
		int64_t wait = res->retry_after_ms > Q_MAX_PAUSE_MS ? Q_MAX_PAUSE_MS : res->retry_after_ms;

		ch->paused_until_ms = now + wait;
		metrics_counter_add("tier0_slack_ratelimited_total", "method=\"chat.postMessage\"", 1);
		log_warn("slack", "channel_paused", "channel=%s retry_after_ms=%lld", ch->id,
			 (long long)wait);
		put_back(ch, items);
	} else if ((res->rc == T0_EHTTP && (res->status == 0 || res->status >= 500)) &&
		   (!items || items->attempts + 1 < Q_MAX_ATTEMPTS)) {
		/* Connection failure or 5xx: Slack did not post it; retry with a pause. */
		for (struct q_item *it = items; it; it = it->next)
			it->attempts++;
		ch->paused_until_ms = now + 1000LL * (items ? items->attempts : 1);
		put_back(ch, items);
	} else {
		/* Slack refused (channel_not_found, msg_too_long, ...) or the answer was lost. */
		log_err("slack", "post_failed", "channel=%s error=%s messages=%d", ch->id,
			res->error ? res->error : "unknown", snd->summary ? 0 : 1);
		if (snd->summary)
			ch->no_summary_until = now + Q_BURST_WINDOW_MS;
		while (items) {
			struct q_item *it = items;

			items = it->next;
			item_done(it, res->rc == T0_OK ? T0_EHTTP : res->rc, NULL);
		}
	}
	free(snd);
	gauge(q);
	if (!q->stopped)
		pump(ch);
}

static int post(struct q_chan *ch, struct q_send *snd, json_t *msg, const char *thread_ts,
		const char *method, const char *ts)
{
	struct slack *s = ch->q->s;
	json_t *args = json_object();
	int rc;

	if (!args) {
		json_decref(msg);
		return T0_ENOMEM;
	}
	json_object_set_new(args, "channel", json_string(ch->id));
	if (ts)
		json_object_set_new(args, "ts", json_string(ts));
	if (thread_ts)
		json_object_set_new(args, "thread_ts", json_string(thread_ts));
	json_object_update(args, msg);
	json_decref(msg);
	if (!ts) {
		json_object_set_new(args, "unfurl_links", json_false());
		json_object_set_new(args, "unfurl_media", json_false());
	}
	ch->inflight = 1;
	rc = slack_api_call(&s->api, method, s->set.bot_token, args, SLACK_API_NO_RETRY, on_sent,
			    snd);
	if (rc != T0_OK)
		ch->inflight = 0;
	return rc;
}

/* Leading messages that may be folded into a burst thread. */
static size_t leading_run(const struct q_chan *ch)
{
	size_t n = 0;

	for (const struct q_item *it = ch->head; it && it->coalescable && !it->thread_ts; it = it->next)
		n++;
	return n;
}

static size_t blocks_chars(const json_t *msg)
{
	char *d = json_dumps(json_object_get(msg, "blocks"), JSON_COMPACT);
	size_t n = d ? strlen(d) : 0;

	free(d);
	return n;
}

/* Takes up to Q_BATCH_MAX_ITEMS leading messages into one thread post. */
static json_t *take_batch(struct q_chan *ch, struct q_item **taken)
{
	json_t *blocks = json_array(), *msg;
	struct q_item **tail = taken;
	size_t k = 0, chars = 0;

	*taken = NULL;
	while (ch->head && ch->head->coalescable && !ch->head->thread_ts && k < Q_BATCH_MAX_ITEMS) {
		struct q_item *it = ch->head;
		const json_t *ib = json_object_get(it->msg, "blocks");
		size_t c = blocks_chars(it->msg);
		size_t i;
		json_t *b;

		if (k && (json_array_size(blocks) + json_array_size(ib) + 1 > SLACK_MAX_BLOCKS ||
			  chars + c > Q_BATCH_MAX_CHARS))
			break;
		if (k)
			json_array_append_new(blocks, json_pack("{s:s}", "type", "divider"));
		json_array_foreach(ib, i, b)
			json_array_append(blocks, b);
		if (json_array_size(ib) == 0)
			json_array_append_new(blocks,
					      json_pack("{s:s, s:{s:s, s:O}}", "type", "section", "text",
							"type", "mrkdwn", "text",
							json_object_get(it->msg, "text")));
		chars += c;
		ch->head = it->next;
		if (!ch->head)
			ch->tail = NULL;
		ch->n--;
		ch->q->depth--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		k++;
	}
	msg = json_pack("{s:s, s:o}", "text", k == 1 ? "" : "Several messages", "blocks", blocks);
	if (k == 1 && msg)
		json_object_set(msg, "text", json_object_get((*taken)->msg, "text"));
	else if (msg) {
		char t[64];

		snprintf(t, sizeof(t), "%zu messages", k);
		json_object_set_new(msg, "text", json_string(t));
	}
	ch->burst_count += k;
	ch->burst_dirty = 1;
	ch->burst_until_ms = t0_now_ms() + Q_BURST_WINDOW_MS;
	metrics_counter_add("tier0_slack_coalesced_total", NULL, (double)k);
	return msg;
}

static json_t *summary_msg(const struct q_chan *ch, size_t n, int final)
{
	char text[256];

	if (final)
		snprintf(text, sizeof(text),
			 "*%zu messages* arrived in a burst; they are in the thread below.",
			 ch->burst_count);
	else
		snprintf(text, sizeof(text),
			 "*%zu messages* are arriving at once; they follow in the thread below.", n);
	return json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}]}", "text", text, "blocks", "type", "section",
			 "text", "type", "mrkdwn", "text", text);
}

static void pump(struct q_chan *ch)
{
	struct slack_queue *q = ch->q;
	const struct slack_settings *set = &q->s->set;
	int64_t now = t0_now_ms();
	struct q_send *snd;
	json_t *msg;
	int rc;

	if (q->stopped || ch->inflight)
		return;
	if (now < ch->paused_until_ms) {
		chan_wait(ch, ch->paused_until_ms - now);
		return;
	}
	if (!ch->head) {
		if (ch->burst_dirty && ch->burst_ts) {
			/* The burst is over for now: the summary says how many it held. */
			ch->burst_dirty = 0;
			snd = calloc(1, sizeof(*snd));
			if (snd) {
				snd->ch = ch;
				snd->update = 1;
				if (post(ch, snd, summary_msg(ch, 0, 1), NULL, "chat.update",
					 ch->burst_ts) != T0_OK)
					free(snd);
			}
			return;
		}
		chan_reap(q);
		return;
	}
	if (set->pacing) {
		ch->tokens += (double)(now - ch->refill_ms) * set->rate / 1000.0;
		if (ch->tokens > set->burst)
			ch->tokens = set->burst;
		ch->refill_ms = now;
		if (ch->tokens < 1.0) {
			chan_wait(ch, (int64_t)((1.0 - ch->tokens) * 1000.0 / set->rate) + 1);
			return;
		}
	}
	snd = calloc(1, sizeof(*snd));
	if (!snd)
		return;
	snd->ch = ch;
	if (set->pacing && set->coalesce_after > 0 && ch->head->coalescable && !ch->head->thread_ts &&
	    ch->burst_ts && now < ch->burst_until_ms) {
		msg = take_batch(ch, &snd->items);
		rc = post(ch, snd, msg, ch->burst_ts, "chat.postMessage", NULL);
	} else if (set->pacing && set->coalesce_after > 0 && now >= ch->no_summary_until &&
		   leading_run(ch) >= (size_t)set->coalesce_after) {
		snd->summary = 1;
		log_info("slack", "burst", "channel=%s queued=%zu", ch->id, ch->n);
		rc = post(ch, snd, summary_msg(ch, leading_run(ch), 0), NULL, "chat.postMessage",
			  NULL);
	} else {
		struct q_item *it = ch->head;

		ch->head = it->next;
		if (!ch->head)
			ch->tail = NULL;
		ch->n--;
		q->depth--;
		it->next = NULL;
		snd->items = it;
		rc = post(ch, snd, json_incref(it->msg), it->thread_ts, "chat.postMessage", NULL);
	}
	if (set->pacing)
		ch->tokens -= 1.0;
	if (rc != T0_OK) {
		struct slack_api_result res = { .rc = rc, .error = "not_sent" };

		ch->inflight = 1;
		on_sent(snd, &res);
	}
	gauge(q);
}

int slack_queue_post(struct slack_queue *q, const char *channel, const char *thread_ts,
		     json_t *msg, int coalescable, adapter_sent_cb cb, void *arg)
{
	struct q_item *it;
	struct q_chan *ch;

	if (q->stopped || q->depth >= Q_MAX_ITEMS) {
		json_decref(msg);
		if (!q->stopped)
			log_err("slack", "queue_full", "channel=%s depth=%zu", channel, q->depth);
		return q->stopped ? T0_ECLOSED : T0_ETOOBIG;
	}
	ch = chan_get(q, channel);
	it = calloc(1, sizeof(*it));
	if (!ch || !it || (thread_ts && !(it->thread_ts = strdup(thread_ts)))) {
		free(it);
		json_decref(msg);
		return T0_ENOMEM;
	}
	it->msg = msg;
	it->coalescable = coalescable;
	it->cb = cb;
	it->arg = arg;
	if (ch->tail)
		ch->tail->next = it;
	else
		ch->head = it;
	ch->tail = it;
	ch->n++;
	q->depth++;
	gauge(q);
	pump(ch);
	return T0_OK;
}
