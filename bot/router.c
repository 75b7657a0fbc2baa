/* Event -> intent -> handler -> reply, with every step in the audit chain. */
#include "bot/bot.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct reply *bot_handle(struct bot *b, const struct event *ev)
{
	struct intent_match m;
	struct handler_req req = { .ev = ev, .m = &m };
	struct reply *r = NULL;
	json_t *detail = NULL;
	char buf[INTENT_MAX_TEXT + 256];
	const char *text;
	uint64_t t0 = t0_mono_ns();
	int matched = 0, rc;

	memset(&m, 0, sizeof(m));
	if (ev->event_id) {
		char key[512];
		int first = 1;

		snprintf(key, sizeof(key), "event:%s:%s", ev->actor.platform, ev->event_id);
		if (store_seen_mark(b->store, key, t0_now_ms(), SEEN_TTL_MS, &first) == T0_OK &&
		    !first) {
			log_info("router", "duplicate", "platform=%s event_id=%s", ev->actor.platform,
				 ev->event_id);
			metrics_counter_add("tier0_events_duplicate_total", NULL, 1);
			return NULL;
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

	r = reply_new();
	if (!r)
		return NULL;

	text = event_text(b, ev, buf, sizeof(buf));
	rc = text ? intent_match(b->world->intents, text, &m) : T0_ENOTFOUND;
	if (rc == T0_OK) {
		handler_fn fn = handler_for(m.intent);

		matched = 1;
		rc = fn ? fn(b, &req, r) : handler_unknown(b, &req, r);
		if (rc != T0_OK) {
			log_err("router", "handler_failed", "intent=%s rc=%s", m.intent, t0_rc_str(rc));
			reply_set_text(r, "Something went wrong answering that (%s). It has been logged.",
				       t0_rc_str(rc));
		}
		reply_set_intent(r, m.intent);
	} else if (rc == T0_ETOOBIG) {
		reply_set_text(r, "That message is too long for me (at most %d characters).",
			       INTENT_MAX_TEXT);
		reply_set_intent(r, "too_long");
	} else if (ev->kind == EVENT_INTERACTION) {
		reply_set_text(r, "That button is no longer active.");
		reply_set_intent(r, "interaction_unknown");
	} else {
		handler_unknown(b, &req, r);
		reply_set_intent(r, "unknown");
	}

	detail = match_detail(&m, matched, r);
	if (audit_append(b->store, &ev->actor, ev->channel, "reply.sent", detail, NULL) != T0_OK) {
		log_err("router", "audit_failed", "kind=reply.sent channel=%s", ev->channel);
		metrics_counter_add("tier0_audit_failures_total", NULL, 1);
	}
	json_decref(detail);

	{
		char labels[160];
		double secs = (double)(t0_mono_ns() - t0) / 1e9;

		snprintf(labels, sizeof(labels), "platform=\"%s\",kind=\"%s\",intent=\"%s\"",
			 ev->actor.platform, event_kind_name(ev->kind), r->intent ? r->intent : "");
		metrics_counter_add("tier0_events_total", labels, 1);
		snprintf(labels, sizeof(labels), "platform=\"%s\"", ev->actor.platform);
		metrics_histogram_observe("tier0_event_duration_seconds", labels, secs);
	}
	log_info("router", "handled", "platform=%s channel=%s user=%s intent=%s us=%llu",
		 ev->actor.platform, ev->channel, ev->actor.user_id, r->intent,
		 (unsigned long long)((t0_mono_ns() - t0) / 1000));
	intent_match_clear(&m);
	return r;
}
