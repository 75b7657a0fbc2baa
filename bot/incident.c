/*
 * The incident manager: a bounded queue of alert events drained on the loop,
 * every event stored (incident row + timeline), one context assembly per new
 * incident, and one message per incident posted through a per-channel rate
 * limiter that folds an alert storm into summary messages.
 *
 * Per incident, at most one piece of work is in flight (a "live" entry):
 * events that arrive meanwhile only mark it dirty, and the card is updated
 * once the message exists. So two alerts for the same incident arriving
 * together never produce two messages. The message ref, its platform and
 * channel, and the assembled context are in the store, so after a restart
 * the next event edits the same message.
 */
#include "bot/incident.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "bot/adapter.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/incident_priv.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"

#define SEEN_TTL_MS (72LL * 3600 * 1000) /* PagerDuty retries for 48 h */
#define DRAIN_BATCH 128                  /* events processed per loop turn */
#define LIVE_BUCKETS 1024
#define CHAN_MAX 1024          /* distinct channels with pending work */
#define CHAN_MAX_WORK 20000    /* queued messages per channel */
#define DEFAULT_RATE 1.0       /* messages per second per channel (Slack's guidance) */
#define DEFAULT_BURST 3
#define INC_SUMMARY_MAX 500    /* incidents listed in one summary message */

enum live_state { LIVE_ASSEMBLING = 1, LIVE_QUEUED, LIVE_POSTING };
enum live_mode { MODE_POST = 1, MODE_UPDATE };

struct waiter {
	incident_wait_cb cb;
	void *arg;
	struct waiter *next;
};

struct chan;

/* An incident with work in flight. Removed when nothing is pending for it. */
struct live {
	int64_t id;
	int state, mode, dirty;
	uint64_t t0_ns; /* arrival of the event that started this work */
	struct chan *chan;
	struct waiter *waiters;
	struct live *next;
};

enum work_kind { W_POST = 1, W_UPDATE, W_SUMMARY_UPDATE, W_THREAD };

struct work {
	int kind;
	int64_t id;
	char *ref;  /* W_SUMMARY_UPDATE, W_THREAD: the message */
	char *text; /* W_THREAD */
	struct work *next;
};

/* A conversation with its own message budget (token bucket). */
struct chan {
	struct incident_mgr *m;
	char *platform; /* NULL: the first chat adapter */
	char *name;
	double tokens;
	uint64_t refill_ns;
	struct work *head, *tail;
	size_t nwork;
	uv_timer_t timer;
	int timer_armed, running;
	struct chan *next;
};

struct item {
	char *source, *external_id, *event_id, *type, *status, *title, *severity, *priority;
	char *service, *pd_service_id, *pd_ep_id, *url, *agent, *note, *detail_json;
	int64_t occurred_ms;
	int nalerts;
	uint64_t enq_ns;
};

struct incident_mgr {
	struct bot *b;
	struct t0_loop *loop;
	struct item *queue[INCIDENT_QUEUE_MAX];
	size_t qhead, qlen;
	uv_timer_t drain;
	int drain_armed, drain_init, closing;
	struct live *live[LIVE_BUCKETS];
	size_t nlive;
	struct chan *chans;
	size_t nchans;
	struct incident_source sources[INCIDENT_MAX_SOURCES];
	size_t nsources;
	double rate;
	int burst;
	int source_ms, overall_ms, timeouts_set;
	incident_posted_cb posted_cb;
	void *posted_arg;
	uint64_t inflight; /* posts and updates waiting for their chat adapter */
	struct pwaiter *pwaiters;
	int handles_open;  /* uv handles not yet closed (the manager frees after them) */
	int free_pending, stopped;
};

static struct incident_mgr *current_mgr;

const char *const incident_known_sources[INC_ASM_NAMES] = { "PagerDuty", "Backstage", "GitHub",
							     "Argo CD" };

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- live entries ---- */

static struct live *live_get(struct incident_mgr *m, int64_t id)
{
	for (struct live *l = m->live[(uint64_t)id % LIVE_BUCKETS]; l; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static struct live *live_new(struct incident_mgr *m, int64_t id, int mode, uint64_t t0_ns)
{
	struct live *l = calloc(1, sizeof(*l));
	size_t h = (uint64_t)id % LIVE_BUCKETS;

	if (!l)
		return NULL;
	l->id = id;
	l->mode = mode;
	l->state = LIVE_ASSEMBLING;
	l->t0_ns = t0_ns;
	l->next = m->live[h];
	m->live[h] = l;
	m->nlive++;
	return l;
}

static void waiters_fire(struct live *l, int rc, const char *channel)
{
	struct waiter *w = l->waiters;

	l->waiters = NULL;
	while (w) {
		struct waiter *n = w->next;

		w->cb(w->arg, rc, channel);
		free(w);
		w = n;
	}
}

/* rc tells waiters why no message came (T0_OK when it did and they were told already). */
static void live_remove_rc(struct incident_mgr *m, struct live *l, int rc)
{
	struct live **pp = &m->live[(uint64_t)l->id % LIVE_BUCKETS];

	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp)
		*pp = l->next;
	m->nlive--;
	waiters_fire(l, rc == T0_OK ? T0_ECLOSED : rc, NULL);
	free(l);
}

static void live_remove(struct incident_mgr *m, struct live *l)
{
	live_remove_rc(m, l, T0_ECLOSED);
}

/* Waiters for an incident not yet processed (the console's "simulate alert"). */
struct pwaiter {
	char *source, *external_id;
	incident_wait_cb cb;
	void *arg;
	struct pwaiter *next;
};

/* ---- items ---- */

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->source);
	free(it->external_id);
	free(it->event_id);
	free(it->type);
	free(it->status);
	free(it->title);
	free(it->severity);
	free(it->priority);
	free(it->service);
	free(it->pd_service_id);
	free(it->pd_ep_id);
	free(it->url);
	free(it->agent);
	free(it->note);
	free(it->detail_json);
	free(it);
}

static struct item *item_new(const struct incident_alert *a)
{
	struct item *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->source = dup_opt(a->source);
	it->external_id = dup_opt(a->external_id);
	it->event_id = dup_opt(a->event_id);
	it->type = dup_opt(a->type);
	it->status = dup_opt(a->status);
	it->title = dup_opt(a->title);
	it->severity = dup_opt(a->severity);
	it->priority = dup_opt(a->priority);
	it->service = dup_opt(a->service);
	it->pd_service_id = dup_opt(a->pd_service_id);
	it->pd_ep_id = dup_opt(a->pd_escalation_policy_id);
	it->url = dup_opt(a->url);
	it->agent = dup_opt(a->agent);
	it->note = dup_opt(a->note);
	it->detail_json = dup_opt(a->detail_json);
	it->occurred_ms = a->occurred_ms ? a->occurred_ms : t0_now_ms();
	it->nalerts = a->nalerts;
	it->enq_ns = t0_mono_ns();
	if (!it->source || !it->external_id || !it->type || (a->event_id && !it->event_id) ||
	    (a->status && !it->status) || (a->title && !it->title) ||
	    (a->severity && !it->severity) || (a->priority && !it->priority) ||
	    (a->service && !it->service) || (a->pd_service_id && !it->pd_service_id) ||
	    (a->pd_escalation_policy_id && !it->pd_ep_id) || (a->url && !it->url) ||
	    (a->agent && !it->agent) || (a->note && !it->note) ||
	    (a->detail_json && !it->detail_json)) {
		item_free(it);
		return NULL;
	}
	return it;
}

/* An item viewed as the public struct (for incident_thread_note). */
static struct incident_alert item_view(const struct item *it)
{
	struct incident_alert a = {
		.source = it->source,
		.external_id = it->external_id,
		.event_id = it->event_id,
		.type = it->type,
		.status = it->status,
		.title = it->title,
		.severity = it->severity,
		.priority = it->priority,
		.service = it->service,
		.pd_service_id = it->pd_service_id,
		.pd_escalation_policy_id = it->pd_ep_id,
		.url = it->url,
		.agent = it->agent,
		.note = it->note,
		.occurred_ms = it->occurred_ms,
		.nalerts = it->nalerts,
		.detail_json = it->detail_json,
	};
	return a;
}

/* ---- channels: a token bucket each, and an ordered list of work ---- */

static void chan_run(struct chan *c);

static void on_chan_timer(uv_timer_t *t)
{
	struct chan *c = t->data;

	c->timer_armed = 0;
	chan_run(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct incident_mgr *m = h->data;

	if (--m->handles_open == 0 && m->free_pending)
		free(m);
}

static void on_chan_closed(uv_handle_t *h)
{
	struct chan *c = h->data;
	struct incident_mgr *m = c->m;

	free(c->platform);
	free(c->name);
	free(c);
	if (--m->handles_open == 0 && m->free_pending)
		free(m);
}

static struct chan *chan_get(struct incident_mgr *m, const char *platform, const char *name)
{
	struct chan *c;

	for (c = m->chans; c; c = c->next)
		if (strcmp(c->name, name) == 0 &&
		    ((!c->platform && !platform) ||
		     (c->platform && platform && strcmp(c->platform, platform) == 0)))
			return c;
	if (m->nchans >= CHAN_MAX || !m->loop)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->m = m;
	c->name = strdup(name);
	c->platform = dup_opt(platform);
	if (!c->name || (platform && !c->platform)) {
		free(c->name);
		free(c->platform);
		free(c);
		return NULL;
	}
	c->tokens = m->burst;
	c->refill_ns = t0_mono_ns();
	uv_timer_init(loop_uv(m->loop), &c->timer);
	c->timer.data = c;
	m->handles_open++;
	c->next = m->chans;
	m->chans = c;
	m->nchans++;
	return c;
}

static void chan_refill(struct chan *c)
{
	uint64_t now = t0_mono_ns();
	double add = (double)(now - c->refill_ns) / 1e9 * c->m->rate;

	c->refill_ns = now;
	c->tokens += add;
	if (c->tokens > c->m->burst)
		c->tokens = c->m->burst;
}

static int work_queued(const struct chan *c, int kind, int64_t id, const char *ref)
{
	for (const struct work *w = c->head; w; w = w->next)
		if (w->kind == kind && w->id == id &&
		    (!ref || (w->ref && strcmp(w->ref, ref) == 0)))
			return 1;
	return 0;
}

static void work_free(struct work *w)
{
	free(w->ref);
	free(w->text);
	free(w);
}

static void chan_schedule(struct chan *c)
{
	if (c->timer_armed || c->running || c->m->closing)
		return;
	c->timer_armed = 1;
	uv_timer_start(&c->timer, on_chan_timer, 0, 0);
}

/* Queues a message; updates and summaries are coalesced (one pending per message). */
static int chan_push(struct chan *c, int kind, int64_t id, const char *ref, const char *text)
{
	struct work *w;

	if (c->m->closing)
		return T0_ECLOSED;
	if ((kind == W_UPDATE || kind == W_SUMMARY_UPDATE) && work_queued(c, kind, id, ref))
		return T0_OK;
	if (c->nwork >= CHAN_MAX_WORK) {
		metrics_counter_add("tier0_incident_channel_drops_total", NULL, 1);
		log_warn("incident", "channel_full", "channel=%s kind=%d incident=%lld", c->name, kind,
			 (long long)id);
		return T0_ETOOBIG;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return T0_ENOMEM;
	w->kind = kind;
	w->id = id;
	w->ref = dup_opt(ref);
	w->text = dup_opt(text);
	if ((ref && !w->ref) || (text && !w->text)) {
		work_free(w);
		return T0_ENOMEM;
	}
	if (c->tail)
		c->tail->next = w;
	else
		c->head = w;
	c->tail = w;
	c->nwork++;
	chan_schedule(c);
	return T0_OK;
}

/* ---- posting ---- */

struct post_ctx {
	struct incident_mgr *m;
	struct chan *chan;
	int kind;
	int summary; /* one message for several incidents */
	int calling, completed; /* the adapter may answer before its send returns */
	int64_t *ids;
	size_t nids;
	char *ref;
};

static void post_ctx_free(struct post_ctx *p)
{
	free(p->ids);
	free(p->ref);
	free(p);
}

/* Takes detail over. */
static void record_event(struct incident_mgr *m, int64_t id, const char *kind, json_t *detail)
{
	char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;

	if (store_incident_event_add(m->b->store, id, t0_now_ms(), kind, NULL, text) != T0_OK)
		log_err("incident", "timeline_failed", "incident=%lld kind=%s", (long long)id, kind);
	free(text);
	json_decref(detail);
}

static const char *platform_name(const struct incident_mgr *m, const struct chan *c)
{
	if (c->platform)
		return c->platform;
	return m->b->nchats ? m->b->chats[0].ops->name : NULL;
}

static void audit_message(struct incident_mgr *m, const char *kind, int64_t id, const char *channel,
			  const char *ref, int rc)
{
	struct actor bot = { .platform = "tier0", .user_id = "incidents" };
	json_t *d = json_pack("{sI ss* ss}", "incident", (json_int_t)id, "message_ref", ref, "rc",
			      t0_rc_str(rc));

	if (audit_append(m->b->store, &bot, channel, kind, d, NULL) != T0_OK)
		metrics_counter_add("tier0_audit_failures_total", NULL, 1);
	json_decref(d);
}

static void observe_latency(struct live *l)
{
	if (l && l->t0_ns)
		metrics_histogram_observe("tier0_incident_alert_to_message_seconds", NULL,
					  (double)(t0_mono_ns() - l->t0_ns) / 1e9);
}

static void requeue_if_dirty(struct incident_mgr *m, struct live *l, int summarized,
			     const char *ref)
{
	if (!l)
		return;
	if (l->dirty && l->chan) {
		l->dirty = 0;
		l->state = LIVE_QUEUED;
		l->mode = MODE_UPDATE;
		if (chan_push(l->chan, summarized ? W_SUMMARY_UPDATE : W_UPDATE,
			      summarized ? 0 : l->id, ref, NULL) == T0_OK)
			return;
	}
	live_remove(m, l);
}

static void on_posted(void *arg, int rc, const char *message_ref)
{
	struct post_ctx *p = arg;
	struct incident_mgr *m = p->m;
	struct chan *c = p->chan;
	int update = p->kind != W_POST;

	m->inflight--;
	if (rc == T0_OK && !update && !message_ref)
		rc = T0_EINVAL; /* an adapter that posted without telling where: cannot edit later */
	for (size_t i = 0; i < p->nids; i++) {
		struct live *l = live_get(m, p->ids[i]);
		const char *ref = update ? p->ref : message_ref;

		if (rc == T0_OK && !update) {
			if (store_incident_set_message(m->b->store, p->ids[i], platform_name(m, c),
						       c->name, ref) != T0_OK ||
			    (p->summary && store_incident_patch_detail(m->b->store, p->ids[i],
							       "{\"summarized\":true}") != T0_OK))
				log_err("incident", "store_message_failed", "incident=%lld",
					(long long)p->ids[i]);
		}
		record_event(m, p->ids[i], rc != T0_OK ? "message.failed"
					   : update ? "message.updated"
					   : p->summary ? "message.summarized"
							: "message.posted",
			     json_pack("{ss* ss si}", "message_ref", ref, "channel", c->name,
				       "incidents_in_message", (int)p->nids));
		if (l && !update) {
			observe_latency(l);
			waiters_fire(l, rc, c->name);
		}
		if (m->posted_cb)
			m->posted_cb(m->posted_arg, p->ids[i], update, rc);
		if (rc != T0_OK) {
			log_err("incident", update ? "update_failed" : "post_failed",
				"incident=%lld channel=%s rc=%s", (long long)p->ids[i], c->name,
				t0_rc_str(rc));
			if (l)
				live_remove_rc(m, l, rc);
			continue;
		}
		requeue_if_dirty(m, l, p->summary || p->kind == W_SUMMARY_UPDATE, ref);
	}
	if (p->nids)
		audit_message(m, update ? "incident.message_updated" : "incident.message_posted",
			      p->ids[0], c->name, update ? p->ref : message_ref, rc);
	metrics_counter_add(update ? "tier0_incident_messages_updated_total"
				   : "tier0_incident_messages_posted_total",
			    p->summary || p->kind == W_SUMMARY_UPDATE ? "kind=\"summary\""
								       : "kind=\"card\"",
			    1);
	if (p->calling)
		p->completed = 1; /* the caller frees p once the adapter's call returns */
	else
		post_ctx_free(p);
}

/*
 * Sends through the adapter and makes sure on_posted runs exactly once,
 * whether the adapter answers before returning, later, or refuses at once
 * without calling back.
 */
static void post_through(struct incident_mgr *m, struct post_ctx *p, int kind,
			 const struct reply_target *to, const struct reply *r)
{
	int rc;

	p->calling = 1;
	if (kind == W_POST)
		rc = bot_post(m->b, p->chan->platform, to, r, on_posted, p);
	else
		rc = bot_update(m->b, p->chan->platform, to, p->ref, r, on_posted, p);
	p->calling = 0;
	if (p->completed)
		post_ctx_free(p);
	else if (rc != T0_OK)
		on_posted(p, rc, NULL);
}

static int load_card(struct incident_mgr *m, int64_t id, struct reply **out,
		     struct store_incident *inc)
{
	json_t *detail, *ctx;
	int rc = store_incident_get(m->b->store, id, inc);

	if (rc != T0_OK)
		return rc;
	detail = json_loads(inc->detail, 0, NULL);
	ctx = json_object_get(detail, "context");
	*out = incident_card(m->b, inc, ctx);
	json_decref(detail);
	return *out ? T0_OK : T0_ENOMEM;
}

struct summary_collect {
	struct store_incident *incs;
	size_t n, cap;
	int64_t *ids;
};

static int collect_one(struct summary_collect *sc, int64_t id, struct store *st)
{
	if (sc->n == sc->cap) {
		size_t ncap = sc->cap ? sc->cap * 2 : 16;
		struct store_incident *ni = realloc(sc->incs, ncap * sizeof(*ni));
		int64_t *nids;

		if (!ni)
			return T0_ENOMEM;
		sc->incs = ni;
		nids = realloc(sc->ids, ncap * sizeof(*nids));
		if (!nids)
			return T0_ENOMEM;
		sc->ids = nids;
		sc->cap = ncap;
	}
	if (store_incident_get(st, id, &sc->incs[sc->n]) != T0_OK)
		return T0_OK; /* gone: leave it out */
	sc->ids[sc->n++] = id;
	return T0_OK;
}

static void collect_free(struct summary_collect *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		store_incident_clear(&sc->incs[i]);
	free(sc->incs);
	free(sc->ids);
}

struct by_ref {
	struct summary_collect *sc;
	struct store *st;
	const char *ref;
	const char *channel;
};

/* Sends one queued item; takes w. */
static void chan_send(struct chan *c, struct work *w)
{
	struct incident_mgr *m = c->m;
	struct reply_target to = { .channel = c->name };
	struct store_incident inc = { 0 };
	struct post_ctx *p = calloc(1, sizeof(*p));
	struct reply *r = NULL;
	/* A thread note is not the incident's message: it leaves the incident's state alone. */
	struct live *l = w->id && w->kind != W_THREAD ? live_get(m, w->id) : NULL;
	int rc = T0_ENOMEM;

	if (!p)
		goto fail;
	p->m = m;
	p->chan = c;
	p->kind = w->kind;
	switch (w->kind) {
	case W_POST:
	case W_UPDATE:
		p->ids = malloc(sizeof(int64_t));
		if (!p->ids)
			goto fail;
		p->ids[0] = w->id;
		p->nids = 1;
		if (l)
			l->dirty = 0; /* rendered from the store now: current up to this event */
		rc = load_card(m, w->id, &r, &inc);
		if (rc != T0_OK)
			goto fail;
		if (w->kind == W_UPDATE) {
			if (!inc.message_ref) {
				rc = T0_ENOTFOUND;
				goto fail;
			}
			p->ref = strdup(inc.message_ref);
			if (!p->ref)
				goto fail;
		}
		break;
	case W_SUMMARY_UPDATE: {
		struct summary_collect sc = { 0 };

		/* The incidents folded into this message, as the store knows them. */
		int64_t *ids = NULL;
		size_t n = 0;

		p->ref = strdup(w->ref);
		rc = p->ref ? store_incident_ids_by_message(m->b->store, c->name, w->ref,
							    INC_SUMMARY_MAX, &ids, &n)
			    : T0_ENOMEM;
		if (rc != T0_OK) {
			free(ids);
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			struct live *ml = live_get(m, ids[i]);

			if (ml) {
				ml->dirty = 0;
				ml->state = LIVE_POSTING;
			}
			collect_one(&sc, ids[i], m->b->store);
		}
		free(ids);
		p->summary = 1;
		if (!sc.n) {
			/* Nothing left in that message: leave it as it is. */
			collect_free(&sc);
			rc = T0_ENOTFOUND;
			goto fail;
		}
		r = incident_summary(m->b, sc.incs, sc.n);
		p->ids = sc.ids;
		p->nids = sc.n;
		sc.ids = NULL;
		collect_free(&sc);
		if (!r) {
			rc = T0_ENOMEM;
			goto fail;
		}
		break;
	}
	case W_THREAD:
		to.thread = w->ref;
		r = reply_new();
		if (!r || reply_set_text(r, "%s", w->text) != T0_OK)
			goto fail;
		reply_set_intent(r, "incident.timeline");
		break;
	}
	if (l)
		l->state = LIVE_POSTING;
	m->inflight++;
	if (w->kind == W_THREAD) {
		/* A thread note is not the incident's message: no bookkeeping on completion. */
		post_ctx_free(p);
		p = NULL;
		m->inflight--;
		rc = bot_post(m->b, c->platform, &to, r, NULL, NULL);
		if (rc != T0_OK)
			log_warn("incident", "thread_note_failed", "channel=%s rc=%s", c->name,
				 t0_rc_str(rc));
	} else {
		post_through(m, p, w->kind == W_POST ? W_POST : W_UPDATE, &to, r);
		p = NULL;
	}
	reply_free(r);
	store_incident_clear(&inc);
	work_free(w);
	return;
fail:
	if (p && p->nids) {
		m->inflight++;
		on_posted(p, rc, NULL);
		p = NULL;
	}
	if (p)
		post_ctx_free(p);
	reply_free(r);
	store_incident_clear(&inc);
	work_free(w);
}

/* Folds every queued new-incident post of c into one summary message. */
static void chan_send_summary(struct chan *c)
{
	struct incident_mgr *m = c->m;
	struct summary_collect sc = { 0 };
	struct work **pp = &c->head, *w;
	struct reply_target to = { .channel = c->name };
	struct post_ctx *p;
	struct reply *r;

	c->tail = NULL;
	while ((w = *pp)) {
		if (w->kind == W_POST) {
			struct live *l = live_get(m, w->id);

			*pp = w->next;
			c->nwork--;
			collect_one(&sc, w->id, m->b->store);
			if (l) {
				l->state = LIVE_POSTING;
				l->dirty = 0;
			}
			work_free(w);
			continue;
		}
		c->tail = w;
		pp = &w->next;
	}
	p = calloc(1, sizeof(*p));
	r = incident_summary(m->b, sc.incs, sc.n);
	if (!p || !r) {
		free(p);
		reply_free(r);
		for (size_t i = 0; i < sc.n; i++) {
			struct live *l = live_get(m, sc.ids[i]);

			if (l)
				live_remove(m, l);
		}
		collect_free(&sc);
		return;
	}
	p->m = m;
	p->chan = c;
	p->kind = W_POST;
	p->summary = 1;
	p->ids = sc.ids;
	p->nids = sc.n;
	sc.ids = NULL;
	collect_free(&sc);
	log_info("incident", "storm_summary", "channel=%s incidents=%zu", c->name, p->nids);
	metrics_counter_add("tier0_incident_storm_summaries_total", NULL, 1);
	m->inflight++;
	post_through(m, p, W_POST, &to, r);
	reply_free(r);
}

static size_t count_posts(const struct chan *c)
{
	size_t n = 0;

	for (const struct work *w = c->head; w; w = w->next)
		n += w->kind == W_POST;
	return n;
}

static void chan_run(struct chan *c)
{
	struct incident_mgr *m = c->m;

	if (c->running || m->closing)
		return;
	c->running = 1;
	chan_refill(c);
	while (c->head && c->tokens >= 1.0) {
		size_t posts = count_posts(c);
		struct work *w;

		c->tokens -= 1.0;
		/* More new incidents than the channel may take now: one summary for all. */
		if (posts >= 2 && (double)posts > c->tokens + 1.0) {
			chan_send_summary(c);
			continue;
		}
		w = c->head;
		c->head = w->next;
		if (!c->head)
			c->tail = NULL;
		c->nwork--;
		chan_send(c, w);
	}
	c->running = 0;
	if (c->head && !m->closing) {
		double wait_s = (1.0 - c->tokens) / m->rate;
		uint64_t ms = wait_s > 0 ? (uint64_t)(wait_s * 1000.0) + 1 : 1;

		c->timer_armed = 1;
		uv_timer_start(&c->timer, on_chan_timer, ms, 0);
	}
}

/* ---- where a card goes ---- */

static const char *annotation_channel(const struct cat_entity *e, const char **platform)
{
	const char *v;

	if (!e)
		return NULL;
	if ((v = catalog_annotation(e, INCIDENT_SLACK_ANNOTATION))) {
		*platform = "slack";
		return v;
	}
	if ((v = catalog_annotation(e, INCIDENT_TEAMS_ANNOTATION))) {
		*platform = "teams";
		return v;
	}
	return NULL;
}

static int chat_registered(const struct bot *b, const char *platform)
{
	for (size_t i = 0; i < b->nchats; i++)
		if (strcmp(b->chats[i].ops->name, platform) == 0)
			return 1;
	return 0;
}

/*
 * The entity's chat annotation, else its owner group's, else
 * incidents.default_channel. A platform with no running adapter falls back
 * to the first chat adapter (the console in the demo).
 */
static struct chan *target_chan(struct incident_mgr *m, const char *service)
{
	struct cat_entity *e = service ? catalog_find(m->b->world->cat, service) : NULL;
	const char *platform = NULL, *name = annotation_channel(e, &platform);

	if (!name && e)
		name = annotation_channel(catalog_owner(m->b->world->cat, e), &platform);
	if (!name) {
		name = m->b->world->cfg->incidents_default_channel;
		platform = NULL;
	}
	if (!name)
		return NULL;
	if (platform && !chat_registered(m->b, platform))
		platform = NULL;
	return chan_get(m, platform, name);
}

/* ---- processing ---- */

struct asm_ctx {
	struct incident_mgr *m;
	int64_t id;
};

static void save_context(struct incident_mgr *m, int64_t id, json_t *ctx)
{
	json_t *patch = json_pack("{sO}", "context", ctx);
	char *text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;

	if (!text || store_incident_patch_detail(m->b->store, id, text) != T0_OK)
		log_err("incident", "context_not_saved", "incident=%lld", (long long)id);
	free(text);
	json_decref(patch);
}

static void on_assembled(void *arg, json_t *ctx)
{
	struct asm_ctx *ac = arg;
	struct incident_mgr *m = ac->m;
	struct live *l = live_get(m, ac->id);
	struct store_incident inc = { 0 };

	if (!l) {
		json_decref(ctx);
		free(ac);
		return;
	}
	free(ac);
	if (store_incident_get(m->b->store, l->id, &inc) != T0_OK) {
		json_decref(ctx);
		live_remove(m, l);
		return;
	}
	if (ctx) {
		incident_ctx_actions(m->b, ctx, inc.id, inc.title);
		save_context(m, inc.id, ctx);
		json_decref(ctx);
	}
	if (m->closing) {
		/* Shutting down: the card is posted by the next event after the restart. */
		store_incident_clear(&inc);
		live_remove(m, l);
		return;
	}
	if (inc.message_ref) {
		l->chan = chan_get(m, inc.platform && chat_registered(m->b, inc.platform)
					      ? inc.platform : NULL,
				   inc.channel ? inc.channel : "");
		l->mode = MODE_UPDATE;
	} else {
		l->chan = target_chan(m, inc.service);
	}
	if (!l->chan) {
		log_warn("incident", "no_channel", "incident=%lld service=%s "
			 "hint=set incidents.default_channel or a slack.com/bot-notify annotation",
			 (long long)l->id, inc.service ? inc.service : "-");
		metrics_counter_add("tier0_incident_unrouted_total", NULL, 1);
		store_incident_clear(&inc);
		live_remove_rc(m, l, T0_ENOTFOUND);
		return;
	}
	l->state = LIVE_QUEUED;
	l->dirty = 0; /* the card is rendered from the store when sent: it is current */
	if (chan_push(l->chan, l->mode == MODE_POST ? W_POST : W_UPDATE, l->id, NULL, NULL) !=
	    T0_OK)
		live_remove(m, l);
	store_incident_clear(&inc);
}

static int start_assembly(struct incident_mgr *m, const struct store_incident *inc,
			  const struct item *it, int mode)
{
	struct live *l = live_new(m, inc->id, mode, it->enq_ns);
	struct asm_ctx *ac = calloc(1, sizeof(*ac));
	json_t *detail = json_loads(inc->detail, 0, NULL);
	struct inc_asm_req req = {
		.service = inc->service,
		.pd_service_id = json_string_value(json_object_get(detail, "pd_service_id")),
		.pd_escalation_policy_id =
			json_string_value(json_object_get(detail, "pd_escalation_policy_id")),
		.pd_incident_id = strcmp(inc->source, "pagerduty") == 0 ? inc->external_id : NULL,
		.title = inc->title,
		.alert_ms = inc->created_ms,
		.t0_ns = it->enq_ns,
		.roles = INC_SRC_ONCALL | INC_SRC_CATALOG | INC_SRC_DEPLOYS,
	};
	int rc;

	if (!l || !ac) {
		if (l)
			live_remove(m, l);
		free(ac);
		json_decref(detail);
		return T0_ENOMEM;
	}
	ac->m = m;
	ac->id = inc->id;
	rc = incident_asm_start(m, &req, on_assembled, ac);
	json_decref(detail);
	if (rc != T0_OK) {
		free(ac);
		live_remove(m, l);
	}
	return rc;
}

static const char *norm_status(const struct item *it, const char *current)
{
	if (it->status)
		return it->status;
	return current ? current : "triggered";
}

/* The catalog name for what the alert calls its service. */
static const char *service_name(struct incident_mgr *m, const struct item *it)
{
	struct cat_entity *e = incident_find_entity(m->b, it->service, it->pd_service_id);

	return e ? e->name : it->service;
}

/* What the incident row keeps (merged into its detail at every event). */
static json_t *item_detail(const struct item *it)
{
	json_t *d = json_object();

	if (!d)
		return NULL;
	if (it->url)
		json_object_set_new(d, "url", json_string(it->url));
	if (it->priority)
		json_object_set_new(d, "priority", json_string(it->priority));
	if (it->pd_service_id)
		json_object_set_new(d, "pd_service_id", json_string(it->pd_service_id));
	if (it->pd_ep_id)
		json_object_set_new(d, "pd_escalation_policy_id", json_string(it->pd_ep_id));
	if (it->nalerts)
		json_object_set_new(d, "alerts", json_integer(it->nalerts));
	return d;
}

/* What the timeline entry keeps: the event's own detail (e.g. every alert of a group). */
static json_t *event_detail(const struct item *it)
{
	json_t *d = it->detail_json ? json_loads(it->detail_json, 0, NULL) : NULL;

	if (!json_is_object(d)) {
		json_decref(d);
		d = json_object();
	}
	if (!d)
		return NULL;
	if (it->status)
		json_object_set_new(d, "status", json_string(it->status));
	if (it->agent)
		json_object_set_new(d, "agent", json_string(it->agent));
	if (it->note)
		json_object_set_new(d, "note", json_string(it->note));
	if (it->priority)
		json_object_set_new(d, "priority", json_string(it->priority));
	if (it->nalerts)
		json_object_set_new(d, "alerts", json_integer(it->nalerts));
	return d;
}

/* Stores the event in one transaction: the incident row, its timeline entry, the audit record. */
static int store_item(struct incident_mgr *m, const struct item *it, struct store_incident *out,
		      int *created)
{
	struct store_incident prev = { 0 }, in = { 0 };
	struct actor actor = { .platform = it->source, .user_id = it->agent };
	json_t *detail = item_detail(it), *ev = event_detail(it), *audit = NULL;
	char *dtext = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	char *etext = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	int64_t id = 0;
	int rc;

	if (!dtext || !etext) {
		rc = T0_ENOMEM;
		goto out;
	}
	if (!it->status)
		store_incident_find(m->b->store, it->source, it->external_id, &prev);
	in.source = it->source;
	in.external_id = it->external_id;
	in.service = (char *)service_name(m, it);
	in.title = it->title;
	in.status = (char *)norm_status(it, prev.status);
	in.severity = it->severity;
	in.created_ms = it->occurred_ms;
	in.updated_ms = it->occurred_ms;
	in.detail = dtext;
	rc = store_begin(m->b->store);
	if (rc != T0_OK)
		goto out;
	rc = store_incident_upsert(m->b->store, &in, &id, created);
	if (rc == T0_OK)
		rc = store_incident_event_add(m->b->store, id, it->occurred_ms, it->type,
					      it->event_id, etext);
	if (rc == T0_OK) {
		audit = json_pack("{sI ss ss ss* ss*}", "incident", (json_int_t)id, "source",
				  it->source, "type", it->type, "external_id", it->external_id,
				  "event_id", it->event_id);
		rc = audit_append(m->b->store, &actor, NULL, "incident.event", audit, NULL);
	}
	if (rc == T0_OK)
		rc = store_commit(m->b->store);
	else
		store_rollback(m->b->store);
	if (rc == T0_OK)
		rc = store_incident_get(m->b->store, id, out);
out:
	store_incident_clear(&prev);
	json_decref(detail);
	json_decref(ev);
	json_decref(audit);
	free(dtext);
	free(etext);
	return rc;
}

/* Hands waiters for this incident to its live entry, or tells them nothing will come. */
static void attach_waiters(struct incident_mgr *m, const struct item *it, int64_t id)
{
	struct pwaiter **pp = &m->pwaiters, *w;
	struct live *l = live_get(m, id);

	while ((w = *pp)) {
		if (strcmp(w->source, it->source) != 0 || strcmp(w->external_id, it->external_id)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (l) {
			struct waiter *lw = calloc(1, sizeof(*lw));

			if (lw) {
				lw->cb = w->cb;
				lw->arg = w->arg;
				lw->next = l->waiters;
				l->waiters = lw;
			} else {
				w->cb(w->arg, T0_ENOMEM, NULL);
			}
		} else {
			w->cb(w->arg, T0_ENOTFOUND, NULL);
		}
		free(w->source);
		free(w->external_id);
		free(w);
	}
}

static void process_item(struct incident_mgr *m, struct item *it)
{
	struct store_incident inc = { 0 };
	struct live *l;
	json_t *detail = NULL;
	char labels[128];
	int created = 0, rc;

	snprintf(labels, sizeof(labels), "source=\"%s\"", it->source);
	rc = store_item(m, it, &inc, &created);
	if (rc != T0_OK) {
		log_err("incident", "store_failed", "source=%s external_id=%s rc=%s", it->source,
			it->external_id, t0_rc_str(rc));
		metrics_counter_add("tier0_incident_store_failures_total", labels, 1);
		if (m->pwaiters)
			attach_waiters(m, it, 0);
		return;
	}
	metrics_counter_add("tier0_incident_events_total", labels, 1);
	log_info("incident", "event", "incident=%lld source=%s type=%s status=%s service=%s new=%d",
		 (long long)inc.id, it->source, it->type, inc.status,
		 inc.service ? inc.service : "-", created);
	if (m->closing)
		goto out; /* stored; messages wait for the restart */
	l = live_get(m, inc.id);
	if (l) {
		/* Work in flight for this incident: it picks the change up when it is done. */
		l->dirty = 1;
		goto out;
	}
	detail = json_loads(inc.detail, 0, NULL);
	if (!inc.message_ref) {
		start_assembly(m, &inc, it, MODE_POST);
	} else if (!json_object_get(detail, "context")) {
		/* Posted before a restart that lost the context: assemble it again, then edit. */
		start_assembly(m, &inc, it, MODE_UPDATE);
	} else {
		struct chan *c = chan_get(m, inc.platform && chat_registered(m->b, inc.platform)
						     ? inc.platform : NULL,
					  inc.channel ? inc.channel : "");
		int summarized = json_is_true(json_object_get(detail, "summarized"));
		struct incident_alert a = item_view(it);
		char *note = summarized ? NULL : incident_thread_note(&a);

		if (c && (l = live_new(m, inc.id, MODE_UPDATE, it->enq_ns))) {
			l->chan = c;
			l->state = LIVE_QUEUED;
			if (chan_push(c, summarized ? W_SUMMARY_UPDATE : W_UPDATE,
				      summarized ? 0 : inc.id, inc.message_ref, NULL) != T0_OK)
				live_remove(m, l);
			if (note)
				chan_push(c, W_THREAD, inc.id, inc.message_ref, note);
		}
		free(note);
	}
out:
	if (m->pwaiters)
		attach_waiters(m, it, inc.id);
	json_decref(detail);
	store_incident_clear(&inc);
}

static void gauge_queue(struct incident_mgr *m)
{
	metrics_gauge_set("tier0_incident_queue_depth", NULL, (double)m->qlen);
}

static void on_drain(uv_timer_t *t)
{
	struct incident_mgr *m = t->data;

	m->drain_armed = 0;
	for (int n = 0; n < DRAIN_BATCH && m->qlen && !m->closing; n++) {
		struct item *it = m->queue[m->qhead];

		m->queue[m->qhead] = NULL;
		m->qhead = (m->qhead + 1) % INCIDENT_QUEUE_MAX;
		m->qlen--;
		metrics_histogram_observe("tier0_incident_queue_wait_seconds", NULL,
					  (double)(t0_mono_ns() - it->enq_ns) / 1e9);
		process_item(m, it);
		item_free(it);
	}
	gauge_queue(m);
	if (m->qlen && !m->closing) {
		m->drain_armed = 1;
		uv_timer_start(&m->drain, on_drain, 0, 0);
	}
}

int incident_mgr_submit(struct incident_mgr *m, const struct incident_alert *a)
{
	struct item *it;
	char labels[96];

	if (!m || !a || !a->source || !a->external_id || !a->type || !*a->external_id)
		return T0_EINVAL;
	snprintf(labels, sizeof(labels), "source=\"%s\"", a->source);
	/* Full: refuse before marking the event seen, so the sender's retry is processed. */
	if (m->qlen >= INCIDENT_QUEUE_MAX || m->closing) {
		metrics_counter_add("tier0_incident_queue_drops_total", labels, 1);
		log_warn("incident", "queue_full", "source=%s depth=%zu", a->source, m->qlen);
		return T0_ETOOBIG;
	}
	if (a->event_id) {
		char key[512];
		int first = 1;

		snprintf(key, sizeof(key), "incident:%s:%s", a->source, a->event_id);
		if (store_seen_mark(m->b->store, key, t0_now_ms(), SEEN_TTL_MS, &first) == T0_OK &&
		    !first) {
			metrics_counter_add("tier0_incident_duplicates_total", labels, 1);
			log_info("incident", "duplicate", "source=%s event_id=%s", a->source,
				 a->event_id);
			return T0_EDUP;
		}
	}
	it = item_new(a);
	if (!it)
		return T0_ENOMEM;
	/* The timer exists from the first event on, so an unused manager holds no handle. */
	if (!m->drain_init) {
		uv_timer_init(loop_uv(m->loop), &m->drain);
		m->drain.data = m;
		m->drain_init = 1;
		m->handles_open++;
	}
	m->queue[(m->qhead + m->qlen) % INCIDENT_QUEUE_MAX] = it;
	m->qlen++;
	gauge_queue(m);
	if (!m->drain_armed) {
		m->drain_armed = 1;
		uv_timer_start(&m->drain, on_drain, 0, 0);
	}
	return T0_OK;
}

/* ---- lifetime ---- */

struct incident_mgr *incident_mgr_new(struct bot *b, struct t0_loop *loop)
{
	struct incident_mgr *m;

	if (!b || !loop)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->b = b;
	m->loop = loop;
	m->rate = DEFAULT_RATE;
	m->burst = DEFAULT_BURST;
	m->source_ms = b->world->cfg->incidents_source_timeout_ms;
	m->overall_ms = b->world->cfg->incidents_overall_timeout_ms;
	metrics_describe("tier0_incident_queue_depth", "Alert events waiting to be processed");
	metrics_describe("tier0_incident_queue_drops_total",
			 "Alert events refused because the queue was full");
	metrics_gauge_set("tier0_incident_queue_depth", NULL, 0);
	metrics_counter_add("tier0_incident_queue_drops_total", NULL, 0);
	current_mgr = m;
	return m;
}

void incident_mgr_stop(struct incident_mgr *m)
{
	size_t dropped = 0;

	if (!m || m->stopped)
		return;
	m->stopped = 1;
	m->closing = 1;
	/* Events already answered 2xx are kept: stored now, posted after the restart. */
	while (m->qlen) {
		struct item *it = m->queue[m->qhead];

		m->queue[m->qhead] = NULL;
		m->qhead = (m->qhead + 1) % INCIDENT_QUEUE_MAX;
		m->qlen--;
		process_item(m, it);
		item_free(it);
	}
	gauge_queue(m);
	incident_asm_stop_all(m);
	while (m->pwaiters) {
		struct pwaiter *w = m->pwaiters;

		m->pwaiters = w->next;
		w->cb(w->arg, T0_ECLOSED, NULL);
		free(w->source);
		free(w->external_id);
		free(w);
	}
	for (size_t i = 0; i < LIVE_BUCKETS; i++)
		while (m->live[i])
			live_remove(m, m->live[i]);
	while (m->chans) {
		struct chan *c = m->chans;

		m->chans = c->next;
		while (c->head) {
			struct work *w = c->head;

			c->head = w->next;
			work_free(w);
			dropped++;
		}
		uv_timer_stop(&c->timer);
		uv_close((uv_handle_t *)&c->timer, on_chan_closed);
	}
	m->nchans = 0;
	if (dropped)
		log_warn("incident", "messages_dropped", "count=%zu reason=shutdown", dropped);
	if (m->drain_init) {
		uv_timer_stop(&m->drain);
		uv_close((uv_handle_t *)&m->drain, on_handle_closed);
	}
}

void incident_mgr_free(struct incident_mgr *m)
{
	if (!m)
		return;
	if (current_mgr == m)
		current_mgr = NULL;
	incident_mgr_stop(m);
	m->free_pending = 1;
	if (m->handles_open == 0)
		free(m);
}

struct incident_mgr *incident_mgr_current(void)
{
	return current_mgr;
}

size_t incident_mgr_queue_depth(const struct incident_mgr *m)
{
	return m ? m->qlen : 0;
}

size_t incident_mgr_busy(const struct incident_mgr *m)
{
	size_t n;

	if (!m)
		return 0;
	n = m->qlen + m->nlive + (size_t)m->inflight;
	for (const struct chan *c = m->chans; c; c = c->next)
		n += c->nwork;
	return n;
}

int incident_source_register(struct incident_mgr *m, const struct incident_source *src)
{
	if (!m || !src || !src->name || !src->lookup)
		return T0_EINVAL;
	if (m->nsources >= INCIDENT_MAX_SOURCES)
		return T0_ETOOBIG;
	m->sources[m->nsources++] = *src;
	return T0_OK;
}

size_t incident_mgr_sources(struct incident_mgr *m, const struct incident_source **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nsources && n < max; i++)
		out[n++] = &m->sources[i];
	return n;
}

int incident_mgr_roles(const struct incident_mgr *m)
{
	int roles = 0;

	for (size_t i = 0; m && i < m->nsources; i++)
		roles |= m->sources[i].roles;
	return roles;
}

void incident_mgr_set_rate(struct incident_mgr *m, double per_second, int burst)
{
	if (!m || per_second <= 0 || burst < 1)
		return;
	m->rate = per_second;
	m->burst = burst;
	for (struct chan *c = m->chans; c; c = c->next)
		c->tokens = burst;
}

void incident_mgr_set_timeouts(struct incident_mgr *m, int source_ms, int overall_ms)
{
	if (!m || source_ms <= 0 || overall_ms <= 0)
		return;
	m->overall_ms = overall_ms;
	m->source_ms = source_ms < overall_ms ? source_ms : overall_ms;
	m->timeouts_set = 1;
}

int incident_mgr_timeouts(const struct incident_mgr *m, int *source_ms, int *overall_ms)
{
	const struct config *cfg = m->b->world->cfg;

	/* From the current configuration (a reload changes them), unless a test set its own. */
	*source_ms = m->timeouts_set ? m->source_ms : cfg->incidents_source_timeout_ms;
	*overall_ms = m->timeouts_set ? m->overall_ms : cfg->incidents_overall_timeout_ms;
	return T0_OK;
}

void incident_mgr_on_posted(struct incident_mgr *m, incident_posted_cb cb, void *arg)
{
	m->posted_cb = cb;
	m->posted_arg = arg;
}

struct bot *incident_mgr_bot(struct incident_mgr *m)
{
	return m->b;
}

struct t0_loop *incident_mgr_loop(struct incident_mgr *m)
{
	return m->loop;
}

void incident_mgr_card_changed(struct incident_mgr *m, int64_t id)
{
	struct store_incident inc = { 0 };
	struct chan *c;
	struct live *l;

	if (!m || live_get(m, id) || store_incident_get(m->b->store, id, &inc) != T0_OK)
		return;
	if (inc.message_ref && inc.channel) {
		c = chan_get(m, inc.platform && chat_registered(m->b, inc.platform) ? inc.platform
										     : NULL,
			     inc.channel);
		l = c ? live_new(m, id, MODE_UPDATE, t0_mono_ns()) : NULL;
		if (l) {
			json_t *detail = json_loads(inc.detail, 0, NULL);
			int summarized = json_is_true(json_object_get(detail, "summarized"));

			json_decref(detail);
			l->chan = c;
			l->state = LIVE_QUEUED;
			if (chan_push(c, summarized ? W_SUMMARY_UPDATE : W_UPDATE, summarized ? 0 : id,
				      inc.message_ref, NULL) != T0_OK)
				live_remove(m, l);
		}
	}
	store_incident_clear(&inc);
}

int incident_mgr_wait_posted(struct incident_mgr *m, const char *source, const char *external_id,
			     incident_wait_cb cb, void *arg)
{
	struct pwaiter *w = calloc(1, sizeof(*w));

	if (!w)
		return T0_ENOMEM;
	w->source = strdup(source);
	w->external_id = strdup(external_id);
	if (!w->source || !w->external_id) {
		free(w->source);
		free(w->external_id);
		free(w);
		return T0_ENOMEM;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = m->pwaiters;
	m->pwaiters = w;
	return T0_OK;
}

void incident_src_deploys_result(struct incident_src_result *res, int rc, int stored,
				 const char *error)
{
	memset(res, 0, sizeof(*res));
	res->deployments = stored;
	res->status = rc == T0_OK ? INC_SRC_OK
		      : rc == T0_ETIMEOUT ? INC_SRC_TIMEOUT
		      : rc == T0_EINVAL || rc == T0_ENOTFOUND ? INC_SRC_NODATA
							      : INC_SRC_FAILED;
	if (rc == T0_OK)
		snprintf(res->msg, sizeof(res->msg), "%d deployment%s", stored, stored == 1 ? "" : "s");
	else
		snprintf(res->msg, sizeof(res->msg), "%s", error ? error : t0_rc_str(rc));
}
