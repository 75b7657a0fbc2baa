/*
 * The messaging endpoint: every POST is authenticated before its activity
 * is looked at; then messages, card actions (Action.Execute invokes and
 * Action.Submit messages) and conversation updates are handled, anything
 * else is acknowledged and ignored. An activity in progress is a "turn".
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "adapters/chat/teams/teams_card.h"
#include "adapters/chat/teams/teams_connector.h"
#include "adapters/chat/teams/teams_internal.h"
#include "adapters/chat/teams/teams_jwt.h"
#include "adapters/chat/teams/teams_keys.h"
#include "adapters/chat/teams/teams_timer.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/event.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"

#define INVOKE_TYPE_CARD TEAMS_CARD_CONTENT_TYPE
#define INVOKE_TYPE_MESSAGE "application/vnd.microsoft.activity.message"
#define INVOKE_TYPE_ERROR "application/vnd.microsoft.error"
#define TEXT_MAX (INTENT_MAX_TEXT + 1024)

enum turn_kind { TURN_OTHER = 0, TURN_MESSAGE, TURN_SUBMIT, TURN_INVOKE };

struct teams_turn {
	struct teams *t;
	struct teams_turn *prev, *next;
	int refs;
	/* the HTTP exchange */
	struct http_response *resp; /* inside the route handler only */
	struct http_deferred *d;
	int in_handler, answered;
	char *token;
	char remote[64];
	/* the activity */
	json_t *act;
	int kind;
	int waiting_keys, waiting_ident, dispatched, replied, late;
	uv_timer_t *timer;
	uint64_t start_ns;
};

/* ---- small helpers ---- */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

void teams_conv_split(const char *conv, char *base, size_t baselen, char *thread,
		      size_t threadlen)
{
	const char *m = conv ? strstr(conv, ";messageid=") : NULL;

	if (!conv)
		conv = "";
	if (m) {
		snprintf(base, baselen, "%.*s", (int)(m - conv), conv);
		snprintf(thread, threadlen, "%s", m + strlen(";messageid="));
	} else {
		snprintf(base, baselen, "%s", conv);
		if (threadlen)
			thread[0] = '\0';
	}
}

/* ---- text ---- */

struct tbuf {
	char *p;
	size_t len, cap;
	int full;
};

static void tput(struct tbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->full = 1;
		n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Names under which the bot is mentioned: entities whose mentioned.id is the bot. */
static int is_bot_mention(const char *inner, size_t n, const json_t *entities, const char *bot_id)
{
	size_t i;
	json_t *e;

	while (n && *inner == '@') {
		inner++;
		n--;
	}
	json_array_foreach(entities, i, e) {
		const json_t *m = json_object_get(e, "mentioned");
		const char *name = jstr(m, "name"), *text = jstr(e, "text");

		if (!jstr(e, "type") || strcmp(jstr(e, "type"), "mention") || !jstr(m, "id") ||
		    strcmp(jstr(m, "id"), bot_id))
			continue;
		if (name && strlen(name) == n && !strncasecmp(name, inner, n))
			return 1;
		/* The entity's own text, e.g. "<at>@Bot</at>" (docs and clients differ on the @). */
		if (text && !strncasecmp(text, "<at>", 4)) {
			const char *t = text + 4, *end = strstr(t, "</at>");

			while (end && t < end && *t == '@')
				t++;
			if (end && (size_t)(end - t) == n && !strncasecmp(t, inner, n))
				return 1;
		}
	}
	return 0;
}

static const struct {
	const char *name;
	const char *text;
} html_entities[] = {
	{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" },
	{ "&#39;", "'" }, { "&apos;", "'" }, { "&nbsp;", " " },
};

int teams_text_clean(const char *text, const json_t *entities, const char *bot_id, char *out,
		     size_t cap)
{
	struct tbuf b = { .p = out, .cap = cap };
	const char *p = text ? text : "";
	size_t start, end;

	if (!cap)
		return T0_ETOOBIG;
	out[0] = '\0';
	while (*p) {
		if (!strncasecmp(p, "<at>", 4)) {
			const char *close = strstr(p + 4, "</at>");

			if (close) {
				const char *inner = p + 4;
				size_t n = (size_t)(close - inner);

				if (!is_bot_mention(inner, n, entities, bot_id ? bot_id : "")) {
					if (*inner != '@')
						tput(&b, "@", 1);
					tput(&b, inner, n);
				}
				p = close + 5;
				continue;
			}
		}
		if (*p == '<' && (isalpha((unsigned char)p[1]) || p[1] == '/')) {
			/* Formatting markup from the client: <p>, <div>, <br> ... */
			const char *gt = strchr(p, '>');

			if (gt) {
				if (!strncasecmp(p, "<br", 3) || !strncasecmp(p, "</p", 3) ||
				    !strncasecmp(p, "</div", 5))
					tput(&b, "\n", 1);
				p = gt + 1;
				continue;
			}
		}
		if (*p == '&') {
			size_t i;

			for (i = 0; i < T0_ARRAY_LEN(html_entities); i++) {
				size_t n = strlen(html_entities[i].name);

				if (!strncmp(p, html_entities[i].name, n)) {
					tput(&b, html_entities[i].text, strlen(html_entities[i].text));
					p += n;
					break;
				}
			}
			if (i < T0_ARRAY_LEN(html_entities))
				continue;
		}
		tput(&b, p, 1);
		p++;
	}
	if (b.full)
		return T0_ETOOBIG;
	/* Trim, and fold the double spaces a removed mention leaves. */
	for (start = 0; out[start] && isspace((unsigned char)out[start]); start++)
		;
	end = strlen(out);
	while (end > start && isspace((unsigned char)out[end - 1]))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	for (char *q = out; (q = strstr(q, "  "));)
		memmove(q, q + 1, strlen(q + 1) + 1);
	return T0_OK;
}

/* ---- turn lifetime ---- */

static void turn_free(struct teams_turn *u)
{
	struct teams *t = u->t;

	if (u->prev)
		u->prev->next = u->next;
	else
		t->turns = u->next;
	if (u->next)
		u->next->prev = u->prev;
	t->nturns--;
	teams_timer_free(u->timer);
	if (u->d)
		http_deferred_finish(u->d); /* never answered: the connection is closed */
	if (u->token) {
		OPENSSL_cleanse(u->token, strlen(u->token));
		free(u->token);
	}
	json_decref(u->act);
	free(u);
}

static int turn_done(const struct teams_turn *u)
{
	return u->answered && !u->waiting_keys && !u->waiting_ident &&
	       (!u->dispatched || u->replied);
}

static void turn_hold(struct teams_turn *u)
{
	u->refs++;
}

/* Every entry point holds the turn; the last one out frees it when nothing is left to do. */
static void turn_drop(struct teams_turn *u)
{
	if (--u->refs == 0 && turn_done(u))
		turn_free(u);
}

void teams_turns_free_all(struct teams *t)
{
	while (t->turns)
		turn_free(t->turns);
}

static void wipe_token(struct teams_turn *u)
{
	if (u->token) {
		OPENSSL_cleanse(u->token, strlen(u->token));
		free(u->token);
		u->token = NULL;
	}
}

/* The response: now (inside the handler) or through the deferral. Takes body. */
static void answer_take(struct teams_turn *u, int status, const char *ctype, char *body, size_t len)
{
	struct http_response *r;

	if (u->answered) {
		free(body);
		return;
	}
	u->answered = 1;
	r = u->d ? http_deferred_response(u->d) : u->in_handler ? u->resp : NULL;
	if (r) {
		http_response_status(r, status);
		if (body)
			http_response_body_take(r, ctype, body, len);
		if (status == 401)
			http_response_header(r, "WWW-Authenticate", "Bearer");
	} else {
		free(body);
	}
	if (u->d) {
		http_deferred_finish(u->d);
		u->d = NULL;
	}
}

static void answer_text(struct teams_turn *u, int status, const char *text)
{
	char *b = text ? strdup(text) : NULL;

	answer_take(u, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0);
}

static void answer_json(struct teams_turn *u, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (!s) {
		answer_text(u, 500, "out of memory\n");
		return;
	}
	answer_take(u, status, "application/json; charset=utf-8", s, strlen(s));
}

/* Keeps the exchange open past the handler; 0 when that failed (answered 503). */
static int defer(struct teams_turn *u)
{
	if (u->d || !u->in_handler)
		return 1;
	u->d = http_response_defer(u->resp);
	if (!u->d) {
		answer_text(u, 503, "busy\n");
		return 0;
	}
	return 1;
}

/* ---- replies ---- */

static json_t *account(const json_t *a)
{
	json_t *o = json_object();

	if (jstr(a, "id"))
		json_object_set_new(o, "id", json_string(jstr(a, "id")));
	if (jstr(a, "name"))
		json_object_set_new(o, "name", json_string(jstr(a, "name")));
	return o;
}

/* The activity answering u's activity (bot-docs: from/recipient swapped, same conversation). */
static json_t *reply_activity(struct teams_turn *u, const struct reply *r)
{
	json_t *a = teams_activity_build(r, u->t->max_card_bytes, NULL);

	if (!a) {
		struct reply *fb = reply_new();

		if (fb && reply_set_text(fb, "That answer is too large to show in Teams.") == T0_OK)
			a = teams_activity_build(fb, u->t->max_card_bytes, NULL);
		reply_free(fb);
		if (!a)
			return NULL;
	}
	json_object_set_new(a, "from", account(json_object_get(u->act, "recipient")));
	json_object_set_new(a, "recipient", account(json_object_get(u->act, "from")));
	json_object_set_new(a, "conversation",
			    json_pack("{s:s}", "id", jstr(json_object_get(u->act, "conversation"), "id")));
	return a;
}

static void send_reply(struct teams_turn *u, const struct reply *r)
{
	const char *id = jstr(u->act, "id");
	json_t *a = reply_activity(u, r);

	if (!a)
		return;
	if (id)
		json_object_set_new(a, "replyToId", json_string(id));
	teams_post(u->t, id ? TEAMS_OP_REPLY : TEAMS_OP_SEND, jstr(u->act, "serviceUrl"),
		   jstr(json_object_get(u->act, "conversation"), "id"), id, a, NULL, 0, NULL, NULL);
}

/* Replaces the card the button was on, for everyone in the conversation. */
static void update_card(struct teams_turn *u, const struct reply *r)
{
	const char *target = jstr(u->act, "replyToId");
	json_t *a;

	if (!target) {
		send_reply(u, r);
		return;
	}
	a = reply_activity(u, r);
	if (!a)
		return;
	json_object_set_new(a, "id", json_string(target));
	teams_post(u->t, TEAMS_OP_UPDATE, jstr(u->act, "serviceUrl"),
		   jstr(json_object_get(u->act, "conversation"), "id"), target, a, NULL, 0, NULL,
		   NULL);
}

static json_t *invoke_body(int code, const char *type, json_t *value)
{
	return json_pack("{s:i, s:s, s:o}", "statusCode", code, "type", type, "value",
			 value ? value : json_null());
}

static void answer_invoke_message(struct teams_turn *u, const char *text)
{
	answer_json(u, 200, invoke_body(200, INVOKE_TYPE_MESSAGE, json_string(text)));
}

static void answer_invoke_card(struct teams_turn *u, json_t *card)
{
	answer_json(u, 200, invoke_body(200, INVOKE_TYPE_CARD, card));
}

static void observe(struct teams_turn *u)
{
	metrics_histogram_observe("tier0_teams_activity_duration_seconds", NULL,
				  (double)(t0_mono_ns() - u->start_ns) / 1e9);
}

static void on_reply(void *arg, struct reply *r)
{
	struct teams_turn *u = arg;
	int in_channel = r && r->visibility == REPLY_IN_CHANNEL;

	turn_hold(u);
	u->replied = 1;
	if (!r) {
		/* A duplicate delivery: it was answered the first time. */
		if (u->kind == TURN_INVOKE)
			answer_invoke_message(u, "Already handled.");
		turn_drop(u);
		return;
	}
	switch (u->kind) {
	case TURN_MESSAGE:
		send_reply(u, r);
		break;
	case TURN_SUBMIT:
		if (in_channel)
			update_card(u, r);
		else
			send_reply(u, r);
		break;
	case TURN_INVOKE:
		if (!u->answered) {
			if (in_channel) {
				json_t *card = teams_card_build(r, u->t->max_card_bytes, NULL);

				if (card) {
					answer_invoke_card(u, json_incref(card));
					json_decref(card);
					update_card(u, r); /* what the clicker sees, everyone sees */
				} else {
					answer_invoke_message(u, "That answer is too large to show in Teams.");
				}
			} else {
				/* Only for the clicker: a transient message, the card stays. */
				answer_invoke_message(u, r->text ? r->text : "Done.");
			}
		} else if (in_channel) {
			update_card(u, r); /* the holding card is replaced by the answer */
		} else {
			send_reply(u, r);
		}
		break;
	default:
		break;
	}
	observe(u);
	reply_free(r);
	turn_drop(u);
}

/* ---- dispatch ---- */

static void dispatch_now(struct teams_turn *u, const char *email)
{
	const json_t *act = u->act, *from = json_object_get(act, "from");
	const json_t *conv = json_object_get(act, "conversation"), *value;
	struct event ev = { .actor = { .platform = TEAMS_PLATFORM } };
	char base[TEAMS_MAX_ID], thread[64], evid[TEAMS_MAX_ID + 80];
	char *text = NULL;
	const char *ctype = jstr(conv, "conversationType");

	if (u->t->freeing)
		return;
	teams_conv_split(jstr(conv, "id"), base, sizeof(base), thread, sizeof(thread));
	ev.actor.user_id = jstr(from, "aadObjectId") ? jstr(from, "aadObjectId") : jstr(from, "id");
	ev.actor.display_name = jstr(from, "name");
	ev.actor.email = email && *email ? email : NULL;
	ev.channel = base;
	ev.thread = *thread ? thread : NULL;
	ev.is_dm = ctype && !strcmp(ctype, "personal");
	if (jstr(act, "id")) {
		snprintf(evid, sizeof(evid), "%s:%s", base, jstr(act, "id"));
		ev.event_id = evid;
	}
	if (u->kind == TURN_MESSAGE) {
		text = malloc(TEXT_MAX);
		if (!text)
			return;
		if (teams_text_clean(jstr(act, "text"), json_object_get(act, "entities"),
				     jstr(json_object_get(act, "recipient"), "id"), text,
				     TEXT_MAX) != T0_OK) {
			/* Longer than any request: the core refuses it with a clear answer. */
			snprintf(text, TEXT_MAX, "%.*s", (int)(TEXT_MAX - 1), jstr(act, "text"));
		}
		ev.kind = EVENT_MESSAGE;
		ev.text = text;
	} else {
		value = json_object_get(act, "value");
		if (u->kind == TURN_INVOKE)
			value = json_object_get(json_object_get(value, "action"), "data");
		ev.kind = EVENT_INTERACTION;
		ev.action_id = jstr(value, TEAMS_DATA_ACTION);
		if (!ev.action_id && u->kind == TURN_INVOKE)
			ev.action_id = jstr(json_object_get(json_object_get(act, "value"), "action"), "verb");
		ev.value = jstr(value, TEAMS_DATA_VALUE) ? jstr(value, TEAMS_DATA_VALUE) : "";
		/* The card's activity, so later steps of an approval update it in place. */
		ev.message_ref = jstr(act, "replyToId");
	}
	u->dispatched = 1;
	bot_dispatch(u->t->bot, &ev, on_reply, u);
	free(text);
}

/* ---- identity: the Teams user's e-mail, so the core finds the catalog User ---- */

static struct teams_ident *ident_find(struct teams *t, const char *key)
{
	int64_t now = t0_now_ms();

	for (size_t i = 0; i < t->nidents; i++)
		if (!strcmp(t->idents[i].key, key))
			return t->idents[i].expires_ms > now ? &t->idents[i] : NULL;
	return NULL;
}

static void ident_put(struct teams *t, const char *key, const char *email, int64_t ttl)
{
	struct teams_ident *slot = NULL;
	size_t i;

	if (strlen(key) >= sizeof(slot->key))
		return;
	for (i = 0; i < t->nidents; i++)
		if (!strcmp(t->idents[i].key, key))
			slot = &t->idents[i];
	if (!slot && t->nidents < TEAMS_IDENT_CACHE)
		slot = &t->idents[t->nidents++];
	if (!slot) {
		/* Full: replace the entry closest to expiry. */
		slot = &t->idents[0];
		for (i = 1; i < t->nidents; i++)
			if (t->idents[i].expires_ms < slot->expires_ms)
				slot = &t->idents[i];
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	snprintf(slot->email, sizeof(slot->email), "%s", email ? email : "");
	slot->expires_ms = t0_now_ms() + ttl;
}

static void on_member(void *arg, const struct teams_conn_result *res)
{
	struct teams_turn *u = arg;
	const char *uid = jstr(json_object_get(u->act, "from"), "id");
	const char *email = NULL;
	json_t *m = NULL;

	turn_hold(u);
	u->waiting_ident = 0;
	if (res->rc == T0_OK && res->status == 200) {
		m = json_loadb(res->body, res->body_len, 0, NULL);
		email = jstr(m, "email");
		/* The UPN is the sign-in name; most tenants make it the e-mail address. */
		if (!email || !strchr(email, '@'))
			email = jstr(m, "userPrincipalName");
		if (email && (!strchr(email, '@') || strlen(email) >= 320))
			email = NULL;
		ident_put(u->t, uid, email, TEAMS_IDENT_TTL_MS);
	} else if (res->rc != T0_ECLOSED) {
		log_info("teams", "member_lookup_failed", "status=%ld rc=%s", res->status,
			 t0_rc_str(res->rc));
		ident_put(u->t, uid, NULL, TEAMS_IDENT_NEG_TTL_MS);
	}
	if (res->rc != T0_ECLOSED)
		dispatch_now(u, email);
	json_decref(m);
	turn_drop(u);
}

/*
 * A catalog User that names the Entra object id, as Backstage's Microsoft
 * Graph ingestion annotates users: authoritative, no lookup needed.
 */
static const char *catalog_email_for_aad(struct teams *t, const char *aad)
{
	const struct catalog *cat = t->bot->world ? t->bot->world->cat : NULL;
	size_t n = cat ? catalog_count(cat) : 0;

	for (size_t i = 0; aad && i < n; i++) {
		const struct cat_entity *e = catalog_at(cat, i);
		const char *v;

		if (strcasecmp(e->kind, "User") || !e->email)
			continue;
		v = catalog_annotation(e, TEAMS_AAD_ANNOTATION);
		if (v && !strcasecmp(v, aad))
			return e->email;
	}
	return NULL;
}

/* Resolves who is asking (cached), then hands the event to the core. */
static void begin_dispatch(struct teams_turn *u)
{
	const json_t *from = json_object_get(u->act, "from");
	const char *uid = jstr(from, "id"), *surl = jstr(u->act, "serviceUrl");
	const char *conv = jstr(json_object_get(u->act, "conversation"), "id");
	struct teams_ident *id = uid ? ident_find(u->t, uid) : NULL;
	const char *email;
	char base[TEAMS_MAX_ID], thread[64];

	if (!id && uid && (email = catalog_email_for_aad(u->t, jstr(from, "aadObjectId")))) {
		ident_put(u->t, uid, email, TEAMS_IDENT_TTL_MS);
		id = ident_find(u->t, uid);
	}
	if (id || !uid || !surl || !conv) {
		dispatch_now(u, id ? id->email : NULL);
		return;
	}
	teams_conv_split(conv, base, sizeof(base), thread, sizeof(thread));
	u->waiting_ident = 1;
	if (teams_connector_call(u->t->conn, TEAMS_OP_MEMBER, surl, base, uid, NULL, on_member, u) !=
	    T0_OK) {
		u->waiting_ident = 0;
		dispatch_now(u, NULL);
	}
}

/* ---- activity types ---- */

static int has_member(const json_t *arr, const char *id)
{
	size_t i;
	json_t *m;

	json_array_foreach(arr, i, m)
		if (id && jstr(m, "id") && !strcmp(jstr(m, "id"), id))
			return 1;
	return 0;
}

static void on_conversation_update(struct teams_turn *u)
{
	const json_t *act = u->act, *cd = json_object_get(act, "channelData");
	const char *bot = jstr(json_object_get(act, "recipient"), "id");
	const char *ev = jstr(cd, "eventType");
	const char *chan = jstr(json_object_get(cd, "channel"), "id");
	char base[TEAMS_MAX_ID], thread[64];

	teams_conv_split(jstr(json_object_get(act, "conversation"), "id"), base, sizeof(base), thread,
			 sizeof(thread));
	if (has_member(json_object_get(act, "membersRemoved"), bot)) {
		log_info("teams", "bot_removed", "conversation=%s", base);
		teams_ref_mark_stale(u->t, base, 0);
		return;
	}
	if (ev && !strcmp(ev, "channelDeleted") && chan) {
		teams_ref_mark_stale(u->t, chan, 0);
		return;
	}
	if (has_member(json_object_get(act, "membersAdded"), bot))
		log_info("teams", "bot_added", "conversation=%s", base);
	teams_ref_save(u->t, act, NULL);
	/* A new channel of a team the bot is in can be posted to as well. */
	if (ev && !strcmp(ev, "channelCreated") && chan)
		teams_ref_save(u->t, act, chan);
}

static void on_installation_update(struct teams_turn *u)
{
	const char *action = jstr(u->act, "action");
	char base[TEAMS_MAX_ID], thread[64];

	teams_conv_split(jstr(json_object_get(u->act, "conversation"), "id"), base, sizeof(base),
			 thread, sizeof(thread));
	if (action && !strncmp(action, "remove", 6))
		teams_ref_mark_stale(u->t, base, 0);
	else
		teams_ref_save(u->t, u->act, NULL);
}

static void on_message(struct teams_turn *u)
{
	const json_t *value = json_object_get(u->act, "value");

	teams_ref_save(u->t, u->act, NULL); /* first contact makes proactive posts possible */
	if (json_is_object(value) && jstr(value, TEAMS_DATA_ACTION))
		u->kind = TURN_SUBMIT; /* Action.Submit: the fallback of our card buttons */
	else if (jstr(u->act, "text"))
		u->kind = TURN_MESSAGE;
	/* The connector wants a quick 200; the answer goes out through the connector. */
	answer_text(u, 200, NULL);
	if (u->kind != TURN_OTHER)
		begin_dispatch(u);
}

static void on_invoke_timeout(uv_timer_t *h)
{
	struct teams_turn *u = h->data;
	const json_t *action = json_object_get(json_object_get(u->act, "value"), "action");

	turn_hold(u);
	if (!u->answered) {
		/* Teams gives up on an invoke after some seconds: say it is in progress. */
		answer_invoke_card(u, teams_card_holding(jstr(action, "title")));
		u->late = 1;
		metrics_counter_add("tier0_teams_invoke_late_total", NULL, 1);
		log_info("teams", "invoke_late", "waited_ms=%d", u->t->invoke_timeout_ms);
	}
	turn_drop(u);
}

static void on_invoke(struct teams_turn *u)
{
	const char *name = jstr(u->act, "name");
	const json_t *value = json_object_get(u->act, "value");
	const json_t *action = json_object_get(value, "action");
	const char *type = jstr(action, "type"), *trigger = jstr(value, "trigger");

	if (!name || strcmp(name, "adaptiveCard/action")) {
		answer_text(u, 501, NULL); /* what the Bot Framework SDK answers */
		return;
	}
	if (!type || strcmp(type, "Action.Execute")) {
		answer_json(u, 400, invoke_body(400, INVOKE_TYPE_ERROR,
						json_pack("{s:s, s:s}", "code", "BadRequest",
							  "message", "expected an Action.Execute action")));
		return;
	}
	if (!jstr(json_object_get(action, "data"), TEAMS_DATA_ACTION) &&
	    (!jstr(action, "verb") || (trigger && !strcmp(trigger, "automatic")))) {
		/* A refresh of a card we did not make: nothing to route. */
		answer_invoke_message(u, "Nothing to refresh.");
		return;
	}
	teams_ref_save(u->t, u->act, NULL);
	u->kind = TURN_INVOKE;
	if (!defer(u))
		return;
	u->timer = teams_timer_new(u->t->loop, u);
	if (u->timer)
		uv_timer_start(u->timer, on_invoke_timeout, (uint64_t)u->t->invoke_timeout_ms, 0);
	begin_dispatch(u);
}

static const char *type_label(const char *type)
{
	static const char *const known[] = { "message", "invoke", "conversationUpdate",
					     "installationUpdate", "messageReaction", "typing",
					     "event", "messageUpdate", "messageDelete",
					     "endOfConversation", NULL };

	for (size_t i = 0; known[i]; i++)
		if (!strcmp(type, known[i]))
			return known[i];
	return "other";
}

static void process(struct teams_turn *u)
{
	const char *type = jstr(u->act, "type");
	char labels[64];

	if (!json_is_object(u->act) || !type || !jstr(u->act, "serviceUrl") ||
	    !jstr(json_object_get(u->act, "conversation"), "id") ||
	    strlen(jstr(json_object_get(u->act, "conversation"), "id")) >= TEAMS_MAX_ID) {
		answer_text(u, 400, "not an activity\n");
		return;
	}
	snprintf(labels, sizeof(labels), "type=\"%s\"", type_label(type));
	metrics_counter_add("tier0_teams_activities_total", labels, 1);
	log_debug("teams", "activity", "type=%s", type_label(type));
	if (!strcmp(type, "message")) {
		on_message(u);
	} else if (!strcmp(type, "invoke")) {
		on_invoke(u);
	} else if (!strcmp(type, "conversationUpdate")) {
		on_conversation_update(u);
		answer_text(u, 200, NULL);
	} else if (!strcmp(type, "installationUpdate")) {
		on_installation_update(u);
		answer_text(u, 200, NULL);
	} else {
		answer_text(u, 200, NULL); /* acknowledged, nothing to do */
	}
}

/* ---- authentication ---- */

static void auth_fail(struct teams_turn *u, int why)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", teams_auth_reason(why));
	metrics_counter_add("tier0_teams_auth_failures_total", labels, 1);
	/* Never the token: the reason and where it came from. */
	log_warn("teams", "auth_failed", "reason=%s remote=%s", teams_auth_reason(why), u->remote);
	wipe_token(u);
	answer_text(u, 401, "unauthorized\n");
}

static void verify_and_process(struct teams_turn *u)
{
	struct teams_jwt_expect e = {
		.issuer = TEAMS_JWT_ISSUER,
		.audience = u->t->app_id,
		.service_url = jstr(u->act, "serviceUrl"),
		.channel_id = jstr(u->act, "channelId"),
		.now_ms = t0_now_ms(),
		.skew_ms = TEAMS_JWT_SKEW_MS,
	};
	int a = teams_jwt_verify(teams_keys_set(u->t->keys), u->token, &e);

	if (a != TEAMS_AUTH_OK) {
		auth_fail(u, a);
		return;
	}
	wipe_token(u);
	process(u);
}

static void on_keys(void *arg, int rc)
{
	struct teams_turn *u = arg;

	turn_hold(u);
	u->waiting_keys = 0;
	if (rc == T0_ECLOSED)
		answer_text(u, 503, "shutting down\n");
	else
		verify_and_process(u); /* a failed refresh leaves the kid unknown: 401 */
	turn_drop(u);
}

static void authenticate(struct teams_turn *u)
{
	char kid[256];
	int ready = teams_keys_ready(u->t->keys);

	if (teams_jwt_kid(u->token, kid, sizeof(kid)) == 0 &&
	    (!ready || !teams_jwks_has(teams_keys_set(u->t->keys), kid))) {
		/* Keys not loaded yet, or rotated: wait for one refresh. */
		if (!defer(u))
			return;
		u->waiting_keys = 1;
		if (teams_keys_refresh(u->t->keys, ready ? kid : NULL, on_keys, u) == T0_OK)
			return;
		u->waiting_keys = 0; /* refresh refused (too soon): decide with what we have */
	}
	verify_and_process(u);
}

void teams_on_activity(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct teams *t = arg;
	const char *auth = http_request_header(req, "Authorization");
	struct teams_turn *u;

	if (!t->started || t->freeing) {
		http_response_status(resp, 503);
		http_response_body(resp, NULL, "not ready\n", 10);
		return;
	}
	if (t->nturns >= TEAMS_MAX_TURNS || !(u = calloc(1, sizeof(*u)))) {
		http_response_status(resp, 503);
		http_response_header(resp, "Retry-After", "1");
		http_response_body(resp, NULL, "busy\n", 5);
		return;
	}
	u->t = t;
	u->next = t->turns;
	if (t->turns)
		t->turns->prev = u;
	t->turns = u;
	t->nturns++;
	u->resp = resp;
	u->in_handler = 1;
	u->start_ns = t0_mono_ns();
	snprintf(u->remote, sizeof(u->remote), "%s", req->remote ? req->remote : "");
	turn_hold(u);
	/* The scheme is exactly "Bearer" (Bot Framework authentication, step 1). */
	if (!auth || strncmp(auth, "Bearer ", 7) || !auth[7]) {
		auth_fail(u, TEAMS_AUTH_MISSING);
	} else if (strlen(auth + 7) > TEAMS_JWT_MAX_TOKEN || !(u->token = strdup(auth + 7))) {
		auth_fail(u, TEAMS_AUTH_MALFORMED);
	} else {
		/* Parsed only to learn the serviceUrl and channel the token must name. */
		u->act = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
		authenticate(u);
	}
	if (!u->answered && !u->d)
		answer_text(u, 500, "internal error\n"); /* every path answers or defers */
	u->in_handler = 0;
	u->resp = NULL;
	turn_drop(u);
}
