/*
 * From Slack's payloads to struct event and back. Socket Mode frames are
 * parsed here; each envelope is acknowledged first (its ack is queued on its
 * connection) and handled only once that ack has left, in arrival order, a
 * batch per loop turn. Handling an event: filter it (own and other bots'
 * messages, subtypes, channels not configured), look the person up
 * (users.info, cached) so the core can map them to a catalog User, dispatch
 * it, and deliver the reply: threaded in channels, through the response_url
 * for slash commands, by updating the original message after a button press.
 */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"

#define MAX_TEXT (40u * 1024) /* longer texts are cut before the core sees them */

/* One event on its way: waiting for a lookup, then for the core's answer. */
struct slack_job {
	struct slack *s;
	struct slack_job *prev, *next;
	int kind; /* enum event_kind */
	char *user_id, *channel, *thread, *event_id, *text, *command;
	char *action_id, *value, *label;
	char *email, *display_name;
	int is_dm;
	int check_channel; /* a configured channel given by name: conversations.info first */
	/* slash commands and buttons */
	char *response_url;
	int url_uses;
	int64_t created_ms;
	/* buttons: the message the button was on */
	json_t *orig_blocks;
	char *orig_text, *message_ts;
	int ephemeral_source;
	/* a slash command answered inside its ack */
	int sync_phase, replied;
	struct reply *sync_reply;
	uint64_t t0;
};

static void job_free(struct slack_job *j)
{
	struct slack *s = j->s;

	if (j->prev)
		j->prev->next = j->next;
	else if (s->jobs == j)
		s->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	free(j->user_id);
	free(j->channel);
	free(j->thread);
	free(j->event_id);
	free(j->text);
	free(j->command);
	free(j->action_id);
	free(j->value);
	free(j->label);
	free(j->email);
	free(j->display_name);
	free(j->response_url);
	json_decref(j->orig_blocks);
	free(j->orig_text);
	free(j->message_ts);
	reply_free(j->sync_reply);
	free(j);
}

static struct slack_job *job_new(struct slack *s, int kind)
{
	struct slack_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->s = s;
	j->kind = kind;
	j->created_ms = t0_now_ms();
	j->t0 = t0_mono_ns();
	j->next = s->jobs;
	if (s->jobs)
		s->jobs->prev = j;
	s->jobs = j;
	return j;
}

void slack_events_free(struct slack *s)
{
	while (s->jobs)
		job_free(s->jobs);
	while (s->work_head) {
		struct slack_env *e = s->work_head;

		s->work_head = e->next_work;
		e->in_work = 0;
		if (!e->conn)
			slack_env_free(e);
	}
	s->work_tail = NULL;
	s->work_n = 0;
}

void slack_env_free(struct slack_env *e)
{
	if (!e)
		return;
	json_decref(e->payload);
	free(e->frame);
	free(e);
}

static char *dup_json_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? strdup(v) : NULL;
}

static void ignored(struct slack *s, const char *why)
{
	char labels[64];

	s->ignored++;
	snprintf(labels, sizeof(labels), "reason=\"%s\"", why);
	metrics_counter_add("tier0_slack_events_ignored_total", labels, 1);
}

/*
 * Slack message text -> what a person typed: the leading mention of the bot
 * goes, <@U1|name> becomes @name, <#C1|name> #name, <url|label> the label,
 * <url> the url, <!here> @here; then &amp; &lt; &gt; are decoded.
 */
static char *plain_text(const char *in, const char *mention)
{
	size_t n = strlen(in), o = 0;
	char *out;
	const char *p = in;

	if (n > MAX_TEXT)
		n = MAX_TEXT;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	while (*p == ' ')
		p++;
	if (mention && strncmp(p, mention, strlen(mention)) == 0) {
		p += strlen(mention);
		if (*p == ':' || *p == ',')
			p++;
	}
	while (*p && (size_t)(p - in) < n) {
		if (*p == '<') {
			const char *close = strchr(p, '>');

			if (close && close - p < 4096) {
				const char *bar = memchr(p, '|', (size_t)(close - p));
				const char *body = p + 1, *label = bar ? bar + 1 : NULL;
				size_t bl = (size_t)((bar ? bar : close) - body);

				if (body[0] == '@' || body[0] == '#') {
					if (label) {
						out[o++] = body[0];
						memcpy(out + o, label, (size_t)(close - label));
						o += (size_t)(close - label);
					} else {
						memcpy(out + o, p, (size_t)(close - p + 1));
						o += (size_t)(close - p + 1);
					}
				} else if (body[0] == '!') {
					const char *w = label ? label : body + 1;
					size_t wl = label ? (size_t)(close - label) : bl - 1;

					if (!label)
						out[o++] = '@';
					memcpy(out + o, w, wl);
					o += wl;
				} else if (label) {
					memcpy(out + o, label, (size_t)(close - label));
					o += (size_t)(close - label);
				} else {
					memcpy(out + o, body, bl);
					o += bl;
				}
				p = close + 1;
				continue;
			}
		}
		if (*p == '&') {
			if (strncmp(p, "&amp;", 5) == 0) {
				out[o++] = '&';
				p += 5;
				continue;
			}
			if (strncmp(p, "&lt;", 4) == 0) {
				out[o++] = '<';
				p += 4;
				continue;
			}
			if (strncmp(p, "&gt;", 4) == 0) {
				out[o++] = '>';
				p += 4;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

/* ---- delivering replies ---- */

/* Several API calls that finish one adapter callback: the last ts, or the first error. */
struct group {
	int left;
	int rc;
	char ts[64];
	adapter_sent_cb cb;
	void *arg;
};

static void group_done(void *arg, int rc, const char *ts)
{
	struct group *g = arg;

	if (rc != T0_OK && g->rc == T0_OK)
		g->rc = rc;
	if (rc == T0_OK && ts)
		snprintf(g->ts, sizeof(g->ts), "%s", ts);
	if (--g->left > 0)
		return;
	if (g->cb)
		g->cb(g->arg, g->rc, g->rc == T0_OK ? g->ts : NULL);
	free(g);
}

static void on_group_api(void *arg, const struct slack_api_result *res)
{
	const char *ts = json_string_value(json_object_get(res->body, "ts"));

	if (!ts)
		ts = json_string_value(json_object_get(res->body, "message_ts"));
	group_done(arg, res->rc, ts);
}

static int post_ephemeral(struct slack *s, const char *channel, const char *user,
			  const char *thread, json_t *msg, struct group *g)
{
	json_t *args = json_pack("{s:s, s:s}", "channel", channel, "user", user);
	int rc;

	if (!args) {
		json_decref(msg);
		return T0_ENOMEM;
	}
	if (thread)
		json_object_set_new(args, "thread_ts", json_string(thread));
	json_object_update(args, msg);
	json_decref(msg);
	rc = slack_api_call(&s->api, "chat.postEphemeral", s->set.bot_token, args, 0, on_group_api, g);
	return rc;
}

/* Posts every message of a rendered reply; cb once with the last message's ts. */
static int send_rendered(struct slack *s, const char *channel, const char *thread,
			 const char *ephemeral_user, json_t *msgs, int coalescable,
			 adapter_sent_cb cb, void *arg)
{
	size_t n = json_array_size(msgs), i;
	struct group *g;
	json_t *m;

	g = calloc(1, sizeof(*g));
	if (!g || n == 0) {
		free(g);
		return n ? T0_ENOMEM : T0_EINVAL;
	}
	g->left = (int)n;
	g->cb = cb;
	g->arg = arg;
	json_array_foreach(msgs, i, m) {
		int rc;

		if (ephemeral_user)
			rc = post_ephemeral(s, channel, ephemeral_user, thread, json_incref(m), g);
		else
			rc = slack_queue_post(s->q, channel, thread, json_incref(m), coalescable && n == 1,
					      group_done, g);
		if (rc != T0_OK)
			group_done(g, rc, NULL);
	}
	return T0_OK;
}

static void log_sent(void *arg, int rc, const char *ts)
{
	if (rc != T0_OK && rc != T0_ECLOSED)
		log_warn("slack", "reply_failed", "rc=%s", t0_rc_str(rc));
}

int slack_send(void *state, const struct reply_target *to, const struct reply *r,
	       adapter_sent_cb cb, void *arg)
{
	struct slack *s = state;
	json_t *msgs;
	int rc, eph;

	if (!to || !to->channel || !r)
		return T0_EINVAL;
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	if (!msgs)
		return T0_ENOMEM;
	eph = r->visibility == REPLY_EPHEMERAL && to->user_id;
	rc = send_rendered(s, to->channel, to->thread, eph ? to->user_id : NULL, msgs,
			   r->nbuttons == 0 && !to->thread, cb, arg);
	json_decref(msgs);
	return rc;
}

struct update_ctx {
	adapter_sent_cb cb;
	void *arg;
	char ts[64];
};

static void on_updated(void *arg, const struct slack_api_result *res)
{
	struct update_ctx *u = arg;

	if (u->cb)
		u->cb(u->arg, res->rc, res->rc == T0_OK ? u->ts : NULL);
	free(u);
}

static int chat_update(struct slack *s, const char *channel, const char *ts, json_t *msg,
		       slack_api_cb cb, void *arg)
{
	json_t *args = json_pack("{s:s, s:s}", "channel", channel, "ts", ts);

	if (!args) {
		json_decref(msg);
		return T0_ENOMEM;
	}
	json_object_update(args, msg);
	json_decref(msg);
	return slack_api_call(&s->api, "chat.update", s->set.bot_token, args, 0, cb, arg);
}

int slack_update(void *state, const struct reply_target *to, const char *ts,
		 const struct reply *r, adapter_sent_cb cb, void *arg)
{
	struct slack *s = state;
	struct update_ctx *u;
	json_t *msgs;
	int rc;

	if (!to || !to->channel || !ts || !r || strlen(ts) >= sizeof(u->ts))
		return T0_EINVAL;
	msgs = slack_render(r, 1);
	u = calloc(1, sizeof(*u));
	if (!msgs || !u) {
		json_decref(msgs);
		free(u);
		return T0_ENOMEM;
	}
	u->cb = cb;
	u->arg = arg;
	snprintf(u->ts, sizeof(u->ts), "%s", ts);
	rc = chat_update(s, to->channel, ts, json_incref(json_array_get(msgs, 0)), on_updated, u);
	json_decref(msgs);
	if (rc != T0_OK)
		free(u);
	return rc;
}

/* A response_url is good for five uses within thirty minutes. */
static int url_usable(const struct slack_job *j)
{
	return j->response_url && j->url_uses < SLACK_RESPONSE_URL_USES &&
	       t0_now_ms() - j->created_ms < SLACK_RESPONSE_URL_TTL_MS;
}

static void url_post(struct slack_job *j, json_t *body)
{
	j->url_uses++;
	if (slack_api_post_url(&j->s->api, j->response_url, body, NULL, NULL) != T0_OK)
		log_warn("slack", "response_url_failed", "channel=%s", j->channel);
}

static json_t *command_body(const json_t *msg, int ephemeral)
{
	json_t *b = json_deep_copy(msg);

	if (b)
		json_object_set_new(b, "response_type",
				    json_string(ephemeral ? "ephemeral" : "in_channel"));
	return b;
}

static void deliver_command(struct slack_job *j, const struct reply *r, json_t *msgs, size_t from)
{
	struct slack *s = j->s;
	int eph = r->visibility == REPLY_EPHEMERAL;
	size_t i;

	for (i = from; i < json_array_size(msgs) && url_usable(j); i++) {
		json_t *b = command_body(json_array_get(msgs, i), eph);

		if (b)
			json_object_set_new(b, "replace_original", json_false());
		url_post(j, b);
	}
	if (i < json_array_size(msgs)) {
		/* the response_url is used up or expired: the Web API instead */
		json_t *rest = json_array();

		for (; i < json_array_size(msgs); i++)
			json_array_append(rest, json_array_get(msgs, i));
		send_rendered(s, j->channel, NULL, eph ? j->user_id : NULL, rest, 0, log_sent, NULL);
		json_decref(rest);
	}
}

/* chat.update refused (an old or foreign message): the response_url can still replace it. */
struct fallback {
	struct slack *s;
	json_t *msg;
	char *url;
};

static void on_decision_updated(void *arg, const struct slack_api_result *res)
{
	struct fallback *f = arg;

	if (!f)
		return;
	if (res->rc != T0_OK && res->rc != T0_ECLOSED && f->url && !f->s->stopping) {
		json_object_set_new(f->msg, "replace_original", json_true());
		slack_api_post_url(&f->s->api, f->url, json_incref(f->msg), NULL, NULL);
	}
	json_decref(f->msg);
	free(f->url);
	free(f);
}

static void deliver_interaction(struct slack_job *j, const struct reply *r, json_t *msgs)
{
	struct slack *s = j->s;
	char decision[512];
	json_t *msg;

	if (r->visibility == REPLY_EPHEMERAL) {
		/* only the person who clicked sees it; the message and its buttons stay */
		if (url_usable(j)) {
			json_t *b = command_body(json_array_get(msgs, 0), 1);

			if (b)
				json_object_set_new(b, "replace_original", json_false());
			url_post(j, b);
		} else if (j->channel && j->user_id) {
			json_t *one = json_pack("[O]", json_array_get(msgs, 0));

			send_rendered(s, j->channel, j->thread, j->user_id, one, 0, log_sent, NULL);
			json_decref(one);
		}
		return;
	}
	{
		char *label = j->label ? slack_escape(j->label) : NULL;

		snprintf(decision, sizeof(decision), "<@%s> chose *%s*", j->user_id,
			 label ? label : j->action_id);
		free(label);
	}
	msg = slack_render_decision(j->orig_blocks, j->orig_text, decision, r);
	if (!msg)
		return;
	if (!j->ephemeral_source && j->message_ts && j->channel) {
		/* the original message loses its buttons and shows the outcome */
		struct fallback *f = calloc(1, sizeof(*f));

		if (f) {
			f->s = s;
			f->msg = json_incref(msg);
			f->url = url_usable(j) ? strdup(j->response_url) : NULL;
		}
		if (chat_update(s, j->channel, j->message_ts, msg, on_decision_updated, f) != T0_OK &&
		    f) {
			json_decref(f->msg);
			free(f->url);
			free(f);
		}
		return;
	}
	if (url_usable(j)) {
		json_object_set_new(msg, "replace_original", json_true());
		url_post(j, msg);
		return;
	}
	json_decref(msg);
}

static void deliver(struct slack_job *j, struct reply *r)
{
	struct slack *s = j->s;
	json_t *msgs;

	if (!r) {
		log_debug("slack", "duplicate", "event_id=%s", j->event_id ? j->event_id : "");
		return;
	}
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	if (!msgs) {
		log_err("slack", "render_failed", "channel=%s", j->channel);
		return;
	}
	switch (j->kind) {
	case EVENT_COMMAND:
		deliver_command(j, r, msgs, 0);
		break;
	case EVENT_INTERACTION:
		deliver_interaction(j, r, msgs);
		break;
	default:
		/* ephemeral in a DM would be odd: the DM is private already */
		send_rendered(s, j->channel, j->thread,
			      r->visibility == REPLY_EPHEMERAL && !j->is_dm ? j->user_id : NULL, msgs,
			      0, log_sent, NULL);
		break;
	}
	json_decref(msgs);
}

static void on_reply(void *arg, struct reply *r)
{
	struct slack_job *j = arg;

	if (j->sync_phase) {
		j->replied = 1;
		j->sync_reply = r;
		return;
	}
	if (!j->s->stopping)
		deliver(j, r);
	reply_free(r);
	job_free(j);
}

static void dispatch(struct slack_job *j)
{
	struct slack *s = j->s;
	struct event ev = {
		.kind = j->kind,
		.actor = { .platform = SLACK_PLATFORM, .user_id = j->user_id,
			   .display_name = j->display_name, .email = j->email },
		.channel = j->channel,
		.thread = j->thread,
		.event_id = j->event_id,
		.text = j->text,
		.command = j->command,
		.action_id = j->action_id,
		.value = j->value,
		.is_dm = j->is_dm,
		/* The message a button was on, so later steps can edit it in place. */
		.message_ref = j->kind == EVENT_INTERACTION ? j->message_ts : NULL,
	};

	slack_commands_sync(s);
	s->events_dispatched++;
	bot_dispatch(s->ctx.bot, &ev, on_reply, j);
}

static void fill_user(struct slack_job *j, const json_t *user)
{
	const json_t *profile = json_object_get(user, "profile");
	const char *name = json_string_value(json_object_get(profile, "display_name"));

	if (!name || !*name)
		name = json_string_value(json_object_get(profile, "real_name"));
	if (!name || !*name)
		name = json_string_value(json_object_get(user, "real_name"));
	if (!name || !*name)
		name = json_string_value(json_object_get(user, "name"));
	free(j->display_name);
	free(j->email);
	j->display_name = name && *name ? strdup(name) : NULL;
	j->email = dup_json_str(profile, "email");
	if (j->email && !*j->email) {
		free(j->email);
		j->email = NULL;
	}
}

static void on_user(void *arg, const json_t *user)
{
	struct slack_job *j = arg;

	if (j->s->stopping) {
		job_free(j);
		return;
	}
	if (user)
		fill_user(j, user);
	dispatch(j);
}

static void job_user_then_dispatch(struct slack_job *j)
{
	const json_t *u;

	if (!j->user_id) {
		dispatch(j);
		return;
	}
	u = slack_cache_get(j->s->users, j->user_id);
	if (u) {
		fill_user(j, u);
		dispatch(j);
		return;
	}
	if (slack_cache_fetch(j->s->users, j->user_id, on_user, j) != T0_OK)
		dispatch(j); /* without email and name: the user id still identifies them */
}

/* Is the channel one of slack.channels (ids directly, names through conversations.info)? */
static int channel_listed(struct slack *s, const char *id, const json_t *info)
{
	const char *name = json_string_value(json_object_get(info, "name"));

	for (size_t i = 0; i < s->set.nchannels; i++)
		if (strcmp(s->set.channels[i], id) == 0 || (name && strcmp(s->set.channels[i], name) == 0))
			return 1;
	return 0;
}

static int channel_names_configured(const struct slack *s)
{
	for (size_t i = 0; i < s->set.nchannels; i++) {
		const char *c = s->set.channels[i];
		int id = (c[0] == 'C' || c[0] == 'G') && strlen(c) >= 9;

		for (size_t k = 1; id && c[k]; k++)
			if (!((c[k] >= 'A' && c[k] <= 'Z') || (c[k] >= '0' && c[k] <= '9')))
				id = 0;
		if (!id)
			return 1;
	}
	return 0;
}

static void on_channel(void *arg, const json_t *info)
{
	struct slack_job *j = arg;

	if (j->s->stopping || !info || !channel_listed(j->s, j->channel, info)) {
		if (!j->s->stopping)
			ignored(j->s, "channel_not_configured");
		job_free(j);
		return;
	}
	job_user_then_dispatch(j);
}

static void job_start(struct slack_job *j)
{
	struct slack *s = j->s;

	if (j->check_channel) {
		const json_t *info = slack_cache_get(s->chans, j->channel);

		if (info) {
			on_channel(j, info);
			return;
		}
		if (slack_cache_fetch(s->chans, j->channel, on_channel, j) != T0_OK) {
			ignored(s, "channel_lookup_failed");
			job_free(j);
		}
		return;
	}
	job_user_then_dispatch(j);
}

/* ---- events_api ---- */

static void handle_event_callback(struct slack *s, const json_t *payload, int retry)
{
	const char *ptype = json_string_value(json_object_get(payload, "type"));
	const json_t *ev = json_object_get(payload, "event");
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *subtype = json_string_value(json_object_get(ev, "subtype"));
	const char *user = json_string_value(json_object_get(ev, "user"));
	const char *bot_id = json_string_value(json_object_get(ev, "bot_id"));
	const char *channel = json_string_value(json_object_get(ev, "channel"));
	const char *ctype = json_string_value(json_object_get(ev, "channel_type"));
	const char *text = json_string_value(json_object_get(ev, "text"));
	const char *ts = json_string_value(json_object_get(ev, "ts"));
	const char *thread_ts = json_string_value(json_object_get(ev, "thread_ts"));
	const char *event_id = json_string_value(json_object_get(payload, "event_id"));
	struct slack_job *j;
	int dm = 0, listed = 0, by_name = 0;

	s->last_event_ms = t0_now_ms();
	if (!ptype || strcmp(ptype, "event_callback") != 0) {
		if (ptype && strcmp(ptype, "app_rate_limited") == 0)
			log_warn("slack", "app_rate_limited", "hint=Slack is dropping events for this app");
		ignored(s, "not_event_callback");
		return;
	}
	if (!type) {
		ignored(s, "no_event");
		return;
	}
	if (strcmp(type, "tokens_revoked") == 0 || strcmp(type, "app_uninstalled") == 0) {
		log_err("slack", type, "hint=the app lost its tokens; tier0 cannot post until it is reinstalled");
		s->fatal = 1;
		return;
	}
	if (strcmp(type, "app_mention") != 0 && strcmp(type, "message") != 0) {
		ignored(s, "event_type");
		return;
	}
	/* Never answer a bot, least of all ourselves: no loops. */
	if ((bot_id && s->bot_id && strcmp(bot_id, s->bot_id) == 0) ||
	    (user && s->bot_user_id && strcmp(user, s->bot_user_id) == 0)) {
		ignored(s, "own_message");
		return;
	}
	if (bot_id || (subtype && strcmp(subtype, "bot_message") == 0)) {
		ignored(s, "bot_message");
		return;
	}
	if (subtype && strcmp(subtype, "thread_broadcast") != 0 && strcmp(subtype, "file_share") != 0) {
		ignored(s, "subtype");
		return;
	}
	if (!user || !channel || !text || !ts) {
		ignored(s, "incomplete");
		return;
	}
	if (strcmp(type, "message") == 0) {
		dm = ctype && strcmp(ctype, "im") == 0;
		if (!dm) {
			listed = channel_listed(s, channel, NULL);
			by_name = !listed && channel_names_configured(s);
			if (!listed && !by_name) {
				ignored(s, "channel_not_configured");
				return;
			}
			/* A mention in a listed channel also arrives as app_mention: answer that one. */
			if (s->mention && strstr(text, s->mention)) {
				ignored(s, "mention_in_message");
				return;
			}
		}
	}
	if (retry > 0)
		log_info("slack", "redelivery", "event_id=%s retry=%d", event_id ? event_id : "", retry);
	j = job_new(s, EVENT_MESSAGE);
	if (!j)
		return;
	j->user_id = strdup(user);
	j->channel = strdup(channel);
	j->event_id = event_id ? strdup(event_id) : NULL;
	j->text = plain_text(text, s->mention);
	j->is_dm = dm;
	j->check_channel = by_name;
	/* In channels the answer goes in the thread; in a DM, beside the question. */
	if (thread_ts)
		j->thread = strdup(thread_ts);
	else if (!dm)
		j->thread = strdup(ts);
	if (!j->user_id || !j->channel || !j->text) {
		job_free(j);
		return;
	}
	job_start(j);
}

/* ---- slash commands ---- */

static json_t *ack_body(struct slack_job *j, struct reply *r)
{
	json_t *msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES), *b;

	if (!msgs)
		return NULL;
	b = command_body(json_array_get(msgs, 0), r->visibility == REPLY_EPHEMERAL);
	/* what does not fit in the ack follows through the response_url */
	if (json_array_size(msgs) > 1)
		deliver_command(j, r, msgs, 1);
	json_decref(msgs);
	return b;
}

void slack_command(struct slack *s, json_t *fields, json_t **ack_payload)
{
	const char *command = json_string_value(json_object_get(fields, "command"));
	const char *user = json_string_value(json_object_get(fields, "user_id"));
	const char *channel = json_string_value(json_object_get(fields, "channel_id"));
	const char *text = json_string_value(json_object_get(fields, "text"));
	const char *trigger = json_string_value(json_object_get(fields, "trigger_id"));
	const json_t *u;
	struct slack_job *j;

	s->last_event_ms = t0_now_ms();
	if (ack_payload)
		*ack_payload = NULL;
	if (!command || !user || !channel) {
		ignored(s, "incomplete_command");
		return;
	}
	j = job_new(s, EVENT_COMMAND);
	if (!j)
		return;
	j->command = strdup(command);
	j->user_id = strdup(user);
	j->channel = strdup(channel);
	j->text = plain_text(text ? text : "", NULL);
	j->response_url = dup_json_str(fields, "response_url");
	j->is_dm = strncmp(channel, "D", 1) == 0;
	if (trigger) {
		size_t n = strlen(trigger) + 8;

		j->event_id = malloc(n);
		if (j->event_id)
			snprintf(j->event_id, n, "cmd:%s", trigger);
	}
	if (!j->command || !j->user_id || !j->channel || !j->text) {
		job_free(j);
		return;
	}
	u = ack_payload ? slack_cache_get(s->users, user) : NULL;
	if (!u) {
		job_start(j);
		return;
	}
	/* Known person: the answer can ride on the acknowledgement. */
	fill_user(j, u);
	j->sync_phase = 1;
	dispatch(j);
	j->sync_phase = 0;
	if (!j->replied)
		return; /* answered later, through the response_url */
	if (j->sync_reply)
		*ack_payload = ack_body(j, j->sync_reply);
	job_free(j);
}

/* ---- interactivity ---- */

static void handle_interactive(struct slack *s, const json_t *p)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	const json_t *action = json_array_get(json_object_get(p, "actions"), 0);
	const json_t *container = json_object_get(p, "container");
	const json_t *message = json_object_get(p, "message");
	const char *user = json_string_value(json_object_get(json_object_get(p, "user"), "id"));
	const char *action_id = json_string_value(json_object_get(action, "action_id"));
	const char *channel = json_string_value(json_object_get(container, "channel_id"));
	const char *trigger = json_string_value(json_object_get(p, "trigger_id"));
	const char *action_ts = json_string_value(json_object_get(action, "action_ts"));
	struct slack_job *j;

	s->last_event_ms = t0_now_ms();
	if (!type || strcmp(type, "block_actions") != 0) {
		ignored(s, "interaction_type");
		return;
	}
	if (!channel)
		channel = json_string_value(json_object_get(json_object_get(p, "channel"), "id"));
	if (!user || !action_id) {
		ignored(s, "incomplete_interaction");
		return;
	}
	j = job_new(s, EVENT_INTERACTION);
	if (!j)
		return;
	j->user_id = strdup(user);
	j->channel = channel ? strdup(channel) : NULL;
	j->action_id = strdup(action_id);
	j->value = dup_json_str(action, "value");
	if (!j->value) /* selects carry the choice elsewhere */
		j->value = dup_json_str(json_object_get(action, "selected_option"), "value");
	j->label = dup_json_str(json_object_get(action, "text"), "text");
	j->response_url = dup_json_str(p, "response_url");
	j->thread = dup_json_str(container, "thread_ts");
	j->message_ts = dup_json_str(container, "message_ts");
	j->ephemeral_source = json_is_true(json_object_get(container, "is_ephemeral")) || !message;
	j->orig_blocks = json_incref(json_object_get(message, "blocks"));
	j->orig_text = dup_json_str(message, "text");
	if (trigger || action_ts) {
		size_t n = strlen(user) + strlen(action_id) + (trigger ? strlen(trigger) : strlen(action_ts)) + 16;

		j->event_id = malloc(n);
		if (j->event_id) {
			if (trigger)
				snprintf(j->event_id, n, "act:%s", trigger);
			else
				snprintf(j->event_id, n, "act:%s:%s:%s", user, action_id, action_ts);
		}
	}
	if (!j->user_id || !j->action_id) {
		job_free(j);
		return;
	}
	job_start(j);
}

/* ---- the work queue: acks first, then this ---- */

static void handle(struct slack *s, struct slack_env *e)
{
	switch (e->type) {
	case SLACK_ENV_EVENTS:
		handle_event_callback(s, e->payload, e->retry);
		break;
	case SLACK_ENV_INTERACTIVE:
		handle_interactive(s, e->payload);
		break;
	case SLACK_ENV_COMMAND:
		slack_command(s, e->payload, NULL);
		break;
	default:
		break;
	}
}

static void on_work(lws_sorted_usec_list_t *sul)
{
	struct slack *s = lws_container_of(sul, struct slack, sul_work);
	uint64_t until = t0_mono_ns() + SLACK_WORK_BUDGET_US * 1000u;
	int n = 0;

	s->work_scheduled = 0;
	/*
	 * Acks first: while one is still queued (its WRITEABLE comes in the poll
	 * phase, after this timer), wait a turn - a few turns at most, so a
	 * connection that cannot write does not hold up the work of others.
	 */
	if (slack_acks_pending(s) && s->work_deferred < 3) {
		s->work_deferred++;
		slack_work_kick(s);
		return;
	}
	s->work_deferred = 0;
	/* bounded in count and time, so frames keep being read and acknowledged in between */
	while (s->work_head && s->work_head->acked && n < SLACK_WORK_BATCH &&
	       (n == 0 || t0_mono_ns() < until)) {
		struct slack_env *e = s->work_head;

		s->work_head = e->next_work;
		if (!s->work_head)
			s->work_tail = NULL;
		s->work_n--;
		e->next_work = NULL;
		e->in_work = 0;
		handle(s, e);
		slack_env_free(e);
		n++;
	}
	if (s->work_head && s->work_head->acked)
		slack_work_kick(s);
}

void slack_work_kick(struct slack *s)
{
	if (s->work_scheduled || s->stopping || !s->work_head)
		return;
	s->work_scheduled = 1;
	slack_sul(s, &s->sul_work, on_work, 1);
}

void slack_work_push(struct slack *s, struct slack_env *e)
{
	if (s->work_n >= SLACK_MAX_WORK) {
		/* Slack redelivers what we cannot take; the ack already left, so log it */
		log_err("slack", "work_queue_full", "dropped_type=%d", e->type);
		e->in_work = 0;
		if (!e->conn)
			slack_env_free(e);
		return;
	}
	e->in_work = 1;
	e->next_work = NULL;
	if (s->work_tail)
		s->work_tail->next_work = e;
	else
		s->work_head = e;
	s->work_tail = e;
	s->work_n++;
	slack_work_kick(s);
}

/* ---- Socket Mode frames ---- */

static int env_type(const char *t)
{
	if (!t)
		return SLACK_ENV_OTHER;
	if (strcmp(t, "events_api") == 0)
		return SLACK_ENV_EVENTS;
	if (strcmp(t, "slash_commands") == 0)
		return SLACK_ENV_COMMAND;
	if (strcmp(t, "interactive") == 0)
		return SLACK_ENV_INTERACTIVE;
	return SLACK_ENV_OTHER;
}

void slack_on_frame(struct slack *s, struct slack_conn *c, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL), *ack = NULL, *ack_payload = NULL;
	const char *type, *id;
	struct slack_env *e;
	char labels[64];
	char *dump;
	size_t n;
	int work;

	if (!json_is_object(j) || s->stopping) {
		/* after stop nothing is acknowledged: Slack delivers it elsewhere or again */
		log_debug("slack", "frame_ignored", "bytes=%zu", len);
		json_decref(j);
		return;
	}
	type = json_string_value(json_object_get(j, "type"));
	id = json_string_value(json_object_get(j, "envelope_id"));
	if (type && strcmp(type, "hello") == 0) {
		slack_conn_hello(c, j);
		json_decref(j);
		return;
	}
	if (type && strcmp(type, "disconnect") == 0) {
		slack_conn_disconnect(c, json_string_value(json_object_get(j, "reason")));
		json_decref(j);
		return;
	}
	if (!id || !*id || strlen(id) > 256) {
		log_debug("slack", "frame_ignored", "type=%s", type ? type : "");
		json_decref(j);
		return;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(j);
		return;
	}
	s->envelopes++;
	e->received_ns = t0_mono_ns();
	e->type = env_type(type);
	e->retry = (int)json_integer_value(json_object_get(j, "retry_attempt"));
	e->payload = json_incref(json_object_get(j, "payload"));
	snprintf(labels, sizeof(labels), "type=\"%s\"",
		 e->type == SLACK_ENV_EVENTS ? "events_api" : e->type == SLACK_ENV_COMMAND ? "slash_commands"
		 : e->type == SLACK_ENV_INTERACTIVE ? "interactive" : "other");
	metrics_counter_add("tier0_slack_envelopes_total", labels, 1);
	work = e->type != SLACK_ENV_OTHER && json_is_object(e->payload);
	if (work && e->type == SLACK_ENV_COMMAND &&
	    json_is_true(json_object_get(j, "accepts_response_payload"))) {
		/* the command may be answered inside the ack itself */
		slack_command(s, e->payload, &ack_payload);
		work = 0;
	}
	ack = json_pack("{s:s, s:o}", "envelope_id", id, "payload",
			ack_payload ? ack_payload : json_object());
	dump = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
	json_decref(ack);
	json_decref(j);
	n = dump ? strlen(dump) : 0;
	e->frame = malloc(LWS_PRE + n + 1);
	if (!dump || !e->frame) {
		free(dump);
		slack_env_free(e);
		return;
	}
	memcpy(e->frame + LWS_PRE, dump, n + 1);
	e->frame_len = n;
	free(dump);
	e->in_work = work;
	slack_conn_ack(c, e);
	if (work)
		slack_work_push(s, e);
	else if (e->acked && !e->conn)
		slack_env_free(e);
}
