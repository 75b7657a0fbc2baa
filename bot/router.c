/* Event -> intent -> handler -> reply, with every step in the audit chain. */
#include "bot/bot.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/adapter.h"
#include "bot/audit.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/handlers.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"
#include "store/store.h"

#define SEEN_TTL_MS (24LL * 3600 * 1000)

/* A JSON string of s with bytes that are not valid UTF-8 replaced by '?', so nothing is dropped. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p; p++) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
					 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t i;

		for (i = 1; n && i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (!n || i < n) {
			*p = '?';
			continue;
		}
		p += n - 1;
	}
	j = json_string(copy);
	if (!j) /* overlong forms and surrogates: keep ASCII only */
		for (unsigned char *p = (unsigned char *)copy; *p; p++)
			if (*p >= 0x80)
				*p = '?';
	if (!j)
		j = json_string(copy);
	free(copy);
	return j;
}

static json_t *event_detail(const struct event *ev)
{
	json_t *d = json_object();

	if (!d)
		return NULL;
	json_object_set_new(d, "kind", json_string(event_kind_name(ev->kind)));
	if (ev->text)
		json_object_set_new(d, "text", json_text(ev->text));
	if (ev->command)
		json_object_set_new(d, "command", json_text(ev->command));
	if (ev->action_id)
		json_object_set_new(d, "action_id", json_text(ev->action_id));
	if (ev->value)
		json_object_set_new(d, "value", json_text(ev->value));
	if (ev->thread)
		json_object_set_new(d, "thread", json_text(ev->thread));
	if (ev->event_id)
		json_object_set_new(d, "event_id", json_text(ev->event_id));
	return d;
}

static json_t *match_detail(const struct intent_match *m, int matched, const struct reply *r)
{
	json_t *d = json_object(), *slots = json_object(), *rj = reply_to_json_obj(r);

	json_object_set_new(d, "intent", json_string(matched ? m->intent : "unknown"));
	if (matched && m->rule)
		json_object_set_new(d, "rule", json_string(m->rule));
	json_object_set_new(d, "understood_by", json_string(!matched ? "none"
							    : m->builtin ? "builtin-rule"
									 : "configured-rule"));
	for (size_t i = 0; matched && i < m->nslots; i++)
		json_object_set_new(slots, m->slots[i].name, json_string(m->slots[i].value));
	json_object_set_new(d, "slots", slots);
	json_object_set_new(d, "reply", rj ? rj : json_null());
	return d;
}

/* The text to match for an event, in buf; NULL when the event carries none. */
static const char *event_text(struct bot *b, const struct event *ev, char *buf, size_t len)
{
	switch (ev->kind) {
	case EVENT_MESSAGE:
		return ev->text;
	case EVENT_COMMAND:
		if (intent_engine_command_text(b->world->intents, ev->command ? ev->command : "",
					       ev->text ? ev->text : "", buf, len) == T0_OK)
			return buf;
		return NULL;
	case EVENT_INTERACTION:
		/* "retry" buttons carry a corrected request, e.g. after "did you mean". */
		if (ev->action_id && strcmp(ev->action_id, "retry") == 0 && ev->value) {
			if (ev->value[0] == '/') {
				const char *sp = strchr(ev->value, ' ');
				char cmd[64];

				if (!sp || (size_t)(sp - ev->value) >= sizeof(cmd))
					return NULL;
				memcpy(cmd, ev->value, (size_t)(sp - ev->value));
				cmd[sp - ev->value] = '\0';
				if (intent_engine_command_text(b->world->intents, cmd, sp + 1, buf,
							       len) == T0_OK)
					return buf;
				return NULL;
			}
			return ev->value;
		}
		return NULL;
	default:
		return NULL;
	}
}

static router_fallback_fn router_fallback;

void router_set_fallback(router_fallback_fn fn)
{
	router_fallback = fn;
}

int router_fallback_call(struct bot *b, const struct handler_req *req, const char *text, int stage,
			 struct reply *r)
{
	if (!router_fallback || !text)
		return T0_ENOTFOUND;
	return router_fallback(b, req, text, stage, r) == T0_OK ? T0_OK : T0_ENOTFOUND;
}

/* One event being answered; lives until the reply is audited and handed over. */
struct bot_pending {
	struct bot *b;
	bot_reply_cb cb;
	void *arg;
	char *platform, *user_id, *display_name, *email, *channel;
	int kind;
	int matched;
	int taken;
	uint64_t t0;
	struct intent_match m; /* owns its slot values */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void pending_free(struct bot_pending *p)
{
	intent_match_clear(&p->m);
	free(p->platform);
	free(p->user_id);
	free(p->display_name);
	free(p->email);
	free(p->channel);
	free(p);
}

/* Audits the reply, counts it and hands it to the adapter. Takes r and p. */
static void pending_complete(struct bot_pending *p, struct reply *r)
{
	struct actor actor = {
		.platform = p->platform,
		.user_id = p->user_id,
		.display_name = p->display_name,
		.email = p->email,
	};
	struct bot *b = p->b;
	json_t *detail;
	char labels[160];
	double secs = (double)(t0_mono_ns() - p->t0) / 1e9;

	if (!r) {
		r = reply_new();
		if (r)
			reply_set_text(r, "Something went wrong answering that. It has been logged.");
	}
	if (r && !r->intent)
		reply_set_intent(r, p->matched ? p->m.intent : "unknown");
	if (r) {
		detail = match_detail(&p->m, p->matched, r);
		if (audit_append(b->store, &actor, p->channel, "reply.sent", detail, NULL) != T0_OK) {
			log_err("router", "audit_failed", "kind=reply.sent channel=%s", p->channel);
			metrics_counter_add("tier0_audit_failures_total", NULL, 1);
		}
		json_decref(detail);
		snprintf(labels, sizeof(labels), "platform=\"%s\",kind=\"%s\",intent=\"%s\"",
			 p->platform ? p->platform : "", event_kind_name(p->kind),
			 r->intent ? r->intent : "");
		metrics_counter_add("tier0_events_total", labels, 1);
		snprintf(labels, sizeof(labels), "platform=\"%s\"", p->platform ? p->platform : "");
		metrics_histogram_observe("tier0_event_duration_seconds", labels, secs);
		log_info("router", "handled", "platform=%s channel=%s user=%s intent=%s us=%llu",
			 p->platform, p->channel, p->user_id, r->intent,
			 (unsigned long long)((t0_mono_ns() - p->t0) / 1000));
	}
	p->cb(p->arg, r);
	pending_free(p);
}

struct bot_pending *bot_pending_take(const struct handler_req *req)
{
	struct bot_pending *p = req->pending ? *req->pending : NULL;

	if (!p || p->taken)
		return NULL;
	p->taken = 1;
	p->b->pending++;
	return p;
}

int bot_pending_available(const struct handler_req *req)
{
	return req->pending && *req->pending && !(*req->pending)->taken;
}

void bot_pending_finish(struct bot_pending *p, struct reply *r)
{
	if (!p)
		return;
	p->b->pending--;
	pending_complete(p, r);
}

static int copy_actor(struct bot_pending *p, const struct event *ev)
{
	p->platform = dup_or_null(ev->actor.platform ? ev->actor.platform : "unknown");
	p->user_id = dup_or_null(ev->actor.user_id);
	p->display_name = dup_or_null(ev->actor.display_name);
	p->email = dup_or_null(ev->actor.email);
	p->channel = dup_or_null(ev->channel);
	return p->platform && (!ev->actor.user_id || p->user_id) &&
			       (!ev->actor.display_name || p->display_name) &&
			       (!ev->actor.email || p->email) && (!ev->channel || p->channel)
		       ? T0_OK
		       : T0_ENOMEM;
}

void bot_dispatch(struct bot *b, const struct event *ev, bot_reply_cb cb, void *arg)
{
	struct bot_pending *p = NULL, *slot;
	struct handler_req req = { .ev = ev };
	struct reply *r = NULL;
	json_t *detail = NULL;
	char buf[INTENT_MAX_TEXT + 256];
	const char *text;
	handler_fn action_fn = NULL;
	/* The dedupe mark and the receipt share one commit: one WAL write, not two. */
	int in_tx = store_begin(b->store) == T0_OK;
	int rc, answered;

	if (ev->event_id) {
		char key[512];
		int first = 1;

		snprintf(key, sizeof(key), "event:%s:%s", ev->actor.platform, ev->event_id);
		if (store_seen_mark(b->store, key, t0_now_ms(), SEEN_TTL_MS, &first) == T0_OK &&
		    !first) {
			log_info("router", "duplicate", "platform=%s event_id=%s", ev->actor.platform,
				 ev->event_id);
			metrics_counter_add("tier0_events_duplicate_total", NULL, 1);
			if (in_tx)
				store_commit(b->store);
			cb(arg, NULL);
			return;
		}
	}
	b->events_handled++;

	if (ev->actor.email)
		req.requester = catalog_user_by_email(b->world->cat, ev->actor.email);
	if (!req.requester && ev->actor.user_id)
		req.requester = catalog_user(b->world->cat, ev->actor.user_id);

	detail = event_detail(ev);
	if (audit_append(b->store, &ev->actor, ev->channel, "message.received", detail, NULL) != T0_OK) {
		log_err("router", "audit_failed", "kind=message.received channel=%s", ev->channel);
		metrics_counter_add("tier0_audit_failures_total", NULL, 1);
	}
	json_decref(detail);
	if (in_tx && store_commit(b->store) != T0_OK) {
		log_err("router", "commit_failed", "kind=message.received channel=%s", ev->channel);
		store_rollback(b->store);
	}

	p = calloc(1, sizeof(*p));
	r = reply_new();
	if (!p || !r || copy_actor(p, ev) != T0_OK) {
		if (p)
			pending_free(p);
		reply_free(r);
		cb(arg, NULL);
		return;
	}
	p->b = b;
	p->cb = cb;
	p->arg = arg;
	p->kind = ev->kind;
	p->t0 = t0_mono_ns();
	slot = p;
	req.m = &p->m;
	req.pending = &slot;

	if (ev->kind == EVENT_INTERACTION && ev->action_id)
		action_fn = handler_for_action(ev->action_id);
	text = action_fn ? NULL : event_text(b, ev, buf, sizeof(buf));
	answered = router_fallback_call(b, &req, text, ROUTER_BEFORE_RULES, r) == T0_OK;
	rc = answered ? T0_OK : text ? intent_match(b->world->intents, text, &p->m) : T0_ENOTFOUND;
	if (answered) {
		/* The fallback (the LLM in "always_in_dms" routing) took it before the rules. */
	} else if (action_fn) {
		rc = action_fn(b, &req, r);
		reply_set_intent(r, ev->action_id);
	} else if (rc == T0_OK) {
		handler_fn fn = handler_for(p->m.intent);

		p->matched = 1;
		rc = fn ? fn(b, &req, r) : handler_unknown(b, &req, r);
		if (!p->taken)
			reply_set_intent(r, p->m.intent);
	} else if (rc == T0_ETOOBIG) {
		reply_set_text(r, "That message is too long for me (at most %d characters).",
			       INTENT_MAX_TEXT);
		reply_set_intent(r, "too_long");
		rc = T0_OK;
	} else if (ev->kind == EVENT_INTERACTION) {
		reply_set_text(r, "That button is no longer active.");
		reply_set_intent(r, "interaction_unknown");
		rc = T0_OK;
	} else {
		handler_unknown(b, &req, r);
		if (!r->intent) /* the fallback may have named its answer */
			reply_set_intent(r, "unknown");
		rc = T0_OK;
	}
	if (p->taken) {
		/* The handler answers later through bot_pending_finish. */
		reply_free(r);
		return;
	}
	if (rc != T0_OK) {
		log_err("router", "handler_failed", "intent=%s rc=%s", p->matched ? p->m.intent : "",
			t0_rc_str(rc));
		reply_set_text(r, "Something went wrong answering that (%s). It has been logged.",
			       t0_rc_str(rc));
	}
	pending_complete(p, r);
}

/* bot_handle's rendezvous with a reply that may come after it has returned. */
struct sync_box {
	struct reply *r;
	int done;
	int abandoned;
};

static void sync_cb(void *arg, struct reply *r)
{
	struct sync_box *box = arg;

	if (box->abandoned) {
		reply_free(r);
		free(box);
		return;
	}
	box->r = r;
	box->done = 1;
}

struct reply *bot_handle(struct bot *b, const struct event *ev)
{
	struct sync_box *box = calloc(1, sizeof(*box));
	struct reply *r;

	if (!box)
		return NULL;
	bot_dispatch(b, ev, sync_cb, box);
	if (box->done) {
		r = box->r;
		free(box);
		return r;
	}
	box->abandoned = 1;
	r = reply_new();
	if (r) {
		reply_set_text(r, "Working on it...");
		reply_set_intent(r, "pending");
	}
	return r;
}

int bot_chat_register(struct bot *b, const struct adapter_ops *ops, void *state)
{
	if (b->nchats >= BOT_MAX_CHATS)
		return T0_ETOOBIG;
	b->chats[b->nchats].ops = ops;
	b->chats[b->nchats].state = state;
	b->nchats++;
	return T0_OK;
}

void bot_chat_unregister_all(struct bot *b)
{
	b->nchats = 0;
}

static struct bot_chat *chat_for(struct bot *b, const char *platform)
{
	for (size_t i = 0; i < b->nchats; i++)
		if (!platform || strcmp(b->chats[i].ops->name, platform) == 0)
			return &b->chats[i];
	return NULL;
}

int bot_post(struct bot *b, const char *platform, const struct reply_target *to,
	     const struct reply *r, void (*cb)(void *arg, int rc, const char *message_ref),
	     void *arg)
{
	struct bot_chat *c = chat_for(b, platform);

	if (!c || !c->ops->send)
		return T0_ENOTFOUND;
	return c->ops->send(c->state, to, r, cb, arg);
}

int bot_update(struct bot *b, const char *platform, const struct reply_target *to,
	       const char *message_ref, const struct reply *r,
	       void (*cb)(void *arg, int rc, const char *message_ref), void *arg)
{
	struct bot_chat *c = chat_for(b, platform);

	if (!c || !c->ops->update)
		return T0_ENOTFOUND;
	return c->ops->update(c->state, to, message_ref, r, cb, arg);
}
