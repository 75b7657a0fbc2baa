/*
 * The action request flow: a typed request, an LLM proposal or a suggestion
 * button becomes a request (validated, checked by policy and rate limits,
 * rendered and bound to a hash), waits for approvals on a card with
 * single-use buttons, runs exactly once, and reports in place. Every step is
 * an audit record linked by the request id. See docs/ACTIONS.md.
 */
#include "runbooks/actions.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "bot/adapter.h"
#include "bot/agent.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/handlers.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/policy.h"
#include "bot/ratelimit.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"
#include "runbooks/approval.h"
#include "store/store.h"

#define RT_MAX 8
#define SWEEP_INTERVAL_MS 30000
#define SWEEP_BATCH 100
#define STALE_MARGIN_MS 60000
#define MAX_RESPONSE_BYTES (256 * 1024)
#define SHOW_BODY_MAX 1500

enum origin { ORIGIN_TYPED = 0, ORIGIN_LLM, ORIGIN_SUGGESTION };
static const char *const origin_names[] = { "typed", "llm", "suggestion" };

/* ---- runtime per bot ---- */

struct job {
	struct job *prev, *next;
	struct actions_rt *rt; /* NULL once the runtime went away */
	char id[APPROVAL_ID_LEN];
};

struct actions_rt {
	struct bot *b;
	struct ratelimiter *rl;
	struct breaker_set *br;
	struct job *jobs;
	size_t inflight;
};

static struct {
	struct bot *b;
	struct actions_rt *rt;
} rt_table[RT_MAX];

static struct actions_rt *rt_get(struct bot *b)
{
	size_t free_slot = RT_MAX;
	struct actions_rt *rt;

	for (size_t i = 0; i < RT_MAX; i++) {
		if (rt_table[i].b == b)
			return rt_table[i].rt;
		if (!rt_table[i].b && free_slot == RT_MAX)
			free_slot = i;
	}
	if (free_slot == RT_MAX)
		return NULL;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	rt->b = b;
	rt->rl = ratelimiter_new(0);
	rt->br = breaker_set_new(0);
	if (!rt->rl || !rt->br) {
		ratelimiter_free(rt->rl);
		breaker_set_free(rt->br);
		free(rt);
		return NULL;
	}
	rt_table[free_slot].b = b;
	rt_table[free_slot].rt = rt;
	return rt;
}

void actions_detach(struct bot *b)
{
	for (size_t i = 0; i < RT_MAX; i++) {
		struct actions_rt *rt = rt_table[i].rt;

		if (rt_table[i].b != b)
			continue;
		/* Jobs still out (the loop was not freed first) finish without us. */
		for (struct job *j = rt->jobs; j; j = j->next)
			j->rt = NULL;
		ratelimiter_free(rt->rl);
		breaker_set_free(rt->br);
		free(rt);
		rt_table[i].b = NULL;
		rt_table[i].rt = NULL;
	}
}

size_t actions_inflight(struct bot *b)
{
	for (size_t i = 0; i < RT_MAX; i++)
		if (rt_table[i].b == b)
			return rt_table[i].rt->inflight;
	return 0;
}

static void job_add(struct actions_rt *rt, struct job *j)
{
	j->rt = rt;
	j->prev = NULL;
	j->next = rt->jobs;
	if (rt->jobs)
		rt->jobs->prev = j;
	rt->jobs = j;
	rt->inflight++;
	rt->b->pending++;
}

/* Unlinks j; returns its runtime (NULL when detached meanwhile). */
static struct actions_rt *job_remove(struct job *j)
{
	struct actions_rt *rt = j->rt;

	if (!rt)
		return NULL;
	if (j->prev)
		j->prev->next = j->next;
	else
		rt->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	rt->inflight--;
	rt->b->pending--;
	return rt;
}

static int job_running(struct actions_rt *rt, const char *id)
{
	for (struct job *j = rt->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0)
			return 1;
	return 0;
}

/* ---- people ---- */

struct person {
	struct policy_person pp;
	char key[320];
	const char *name;
	struct actor actor;
};

static void person_init(struct bot *b, struct person *p, const char *platform, const char *user_id,
			const char *email, const char *display)
{
	memset(p, 0, sizeof(*p));
	p->pp.platform = platform ? platform : "unknown";
	p->pp.user_id = user_id;
	p->pp.email = email;
	p->pp.user = policy_find_user(b->world->cat, email, user_id);
	if (!p->pp.email && p->pp.user)
		p->pp.email = p->pp.user->email;
	policy_person_key(&p->pp, p->key, sizeof(p->key));
	p->name = display ? display
		  : p->pp.user ? (p->pp.user->display_name ? p->pp.user->display_name
							   : p->pp.user->name)
		  : user_id ? user_id
			    : "someone";
	p->actor.platform = p->pp.platform;
	p->actor.user_id = user_id;
	p->actor.display_name = p->name;
	p->actor.email = p->pp.email;
}

static void person_from_event(struct bot *b, const struct event *ev, struct person *p)
{
	person_init(b, p, ev->actor.platform, ev->actor.user_id, ev->actor.email,
		    ev->actor.display_name);
}

static json_t *person_json(const struct person *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "key", json_string(p->key));
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "platform", json_string(p->pp.platform));
	if (p->pp.user_id)
		json_object_set_new(o, "user_id", json_string(p->pp.user_id));
	if (p->pp.email)
		json_object_set_new(o, "email", json_string(p->pp.email));
	return o;
}

/* The display name of a person key (catalog ref or platform:id). */
static const char *key_name(struct bot *b, const char *key)
{
	const struct cat_entity *u = catalog_get(b->world->cat, key);

	if (u)
		return u->display_name ? u->display_name : u->name;
	return key;
}

/* ---- formatting ---- */

static void fmt_hm(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%H:%M UTC", &tm);
}

static void params_text(const json_t *params, char *out, size_t len)
{
	const char *k;
	json_t *v;
	size_t pos = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)params, k, v) {
		char *val = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
		int w = snprintf(out + pos, len - pos, "%s%s=%s", pos ? ", " : "", k,
				 val ? val : json_string_value(v));

		free(val);
		if (w < 0 || (size_t)w >= len - pos)
			break;
		pos += (size_t)w;
	}
	if (!out[0])
		snprintf(out, len, "none");
}

static void label(const char *scope, char *out, size_t len, const char *a, const char *b)
{
	snprintf(out, len, "%s=\"%s\"%s%s%s%s", scope, a, b ? "," : "", b ? "result=\"" : "",
		 b ? b : "", b ? "\"" : "");
}

static void count_request(const char *action, const char *result)
{
	char l[160];

	label("action", l, sizeof(l), action, result);
	metrics_counter_add("tier0_actions_requests_total", l, 1);
}

/* ---- cards ---- */

struct votes_text {
	struct bot *b;
	char buf[512];
	size_t pos;
	int n;
};

static int vote_line(void *arg, const char *approver, const char *vote, int64_t ts)
{
	struct votes_text *vt = arg;
	int w;

	if (strcmp(vote, "approve") != 0)
		return 0;
	w = snprintf(vt->buf + vt->pos, sizeof(vt->buf) - vt->pos, "%s%s", vt->n ? ", " : "",
		     key_name(vt->b, approver));
	if (w > 0 && (size_t)w < sizeof(vt->buf) - vt->pos)
		vt->pos += (size_t)w;
	vt->n++;
	return 0;
}

static const char *button_label(const char *choice, int *style, const char **confirm)
{
	*confirm = NULL;
	if (strcmp(choice, "approve") == 0) {
		*style = REPLY_STYLE_PRIMARY;
		return "Approve";
	}
	if (strcmp(choice, "deny") == 0) {
		*style = REPLY_STYLE_DANGER;
		return "Deny";
	}
	if (strcmp(choice, "confirm") == 0) {
		*style = REPLY_STYLE_PRIMARY;
		return "Request it";
	}
	*style = REPLY_STYLE_DEFAULT;
	return "Cancel";
}

/* The request's card, rebuilt from the store (so it survives restarts), with fresh buttons. */
static struct reply *card_build(struct bot *b, const struct store_approval *a, const char *headline,
				const char *const *choices, size_t nchoices)
{
	struct reply *r = reply_new();
	json_t *detail = json_loads(a->detail ? a->detail : "{}", 0, NULL);
	json_t *params = json_loads(a->params ? a->params : "{}", 0, NULL);
	const json_t *shown = json_object_get(detail, "request");
	const json_t *hdrs = json_object_get(shown, "headers");
	const char *requester = json_string_value(
		json_object_get(json_object_get(detail, "requester"), "name"));
	const char *tname = json_string_value(json_object_get(detail, "target_name"));
	struct votes_text vt = { .b = b };
	char line[1024], when[32];
	int state = approval_state_parse(a->state);
	size_t i;
	json_t *h;

	if (!r)
		goto out;
	reply_set_text(r, "%s", headline);
	reply_set_intent(r, "action");
	snprintf(line, sizeof(line), "%s %s", json_string_value(json_object_get(shown, "method")),
		 json_string_value(json_object_get(shown, "url")));
	reply_add_section(r, "What will run", line);
	if (json_array_size(hdrs)) {
		size_t pos = 0;

		line[0] = '\0';
		json_array_foreach(hdrs, i, h) {
			int w = snprintf(line + pos, sizeof(line) - pos, "%s%s", pos ? "; " : "",
					 json_string_value(h));

			if (w < 0 || (size_t)w >= sizeof(line) - pos)
				break;
			pos += (size_t)w;
		}
		reply_add_field(r, "Headers", line);
	}
	if (json_object_get(shown, "body")) {
		char *body = json_dumps(json_object_get(shown, "body"),
					JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

		if (body && strlen(body) > SHOW_BODY_MAX)
			strcpy(body + SHOW_BODY_MAX - 4, " ...");
		reply_add_field(r, "Body", body ? body : "?");
		free(body);
	}
	reply_add_section(r, "Request", NULL);
	snprintf(line, sizeof(line), "%s (%s risk)", a->action, a->risk ? a->risk : "?");
	reply_add_field(r, "Action", line);
	if (a->target) {
		snprintf(line, sizeof(line), "%s (%s)", tname ? tname : a->target, a->target);
		reply_add_field(r, "Target", line);
	}
	params_text(params, line, sizeof(line));
	reply_add_field(r, "Parameters", line);
	reply_add_field(r, "Requested by", requester ? requester : a->requester);
	if (state < 0) {
		/* A dry run: no row, no votes. */
		if (a->needed > 0)
			snprintf(line, sizeof(line), "%d needed for a real run", a->needed);
		else
			snprintf(line, sizeof(line), "not needed");
		reply_add_field(r, "Approvals", line);
	} else if (a->needed > 0) {
		store_vote_list(b->store, a->id, vote_line, &vt);
		snprintf(line, sizeof(line), "%d of %d%s%s", vt.n, a->needed, vt.n ? ": " : "",
			 vt.buf);
		reply_add_field(r, "Approvals", line);
	} else {
		reply_add_field(r, "Approvals", "not needed");
	}
	if (state >= 0) {
		/* "policy" decided what needed no approval; the Approvals line says so. */
		int by = a->decided_by && strcmp(a->decided_by, "policy") != 0;

		snprintf(line, sizeof(line), "%s%s%s%s", a->state,
			 by ? (state == APPROVAL_DENIED || state == APPROVAL_CANCELLED ? " by "
										   : " (decided by ")
			    : "",
			 by ? key_name(b, a->decided_by) : "",
			 by && state != APPROVAL_DENIED && state != APPROVAL_CANCELLED ? ")" : "");
		reply_add_field(r, "State", line);
	}
	if (state == APPROVAL_PENDING || state == APPROVAL_PROPOSED) {
		int64_t left = a->expires_ms - t0_now_ms();
		char dur[32];

		fmt_hm(a->expires_ms, when, sizeof(when));
		rl_duration_format(left, dur, sizeof(dur));
		snprintf(line, sizeof(line), "%s (in %s)", when, dur);
		reply_add_field(r, "Expires", line);
	}
	if (a->result) {
		json_t *res = json_loads(a->result, 0, NULL);
		const char *why = json_string_value(json_object_get(res, "why"));
		const json_t *st = json_object_get(res, "status");

		if (json_is_integer(st) && !(why && strncmp(why, "HTTP ", 5) == 0))
			snprintf(line, sizeof(line), "HTTP %lld: %s",
				 (long long)json_integer_value(st), why ? why : "");
		else
			snprintf(line, sizeof(line), "%s", why ? why : "");
		reply_add_field(r, "Outcome", line);
		json_decref(res);
	}
	if (nchoices) {
		char ids[4][APPROVAL_ID_LEN];

		if (nchoices > 4 || approval_buttons_issue(b->store, a->id, choices, nchoices, ids,
							   t0_now_ms()) != T0_OK) {
			reply_add_context(r, "(buttons unavailable: the store failed)");
		} else {
			for (i = 0; i < nchoices; i++) {
				int style;
				const char *confirm;
				const char *lbl = button_label(choices[i], &style, &confirm);
				char action_id[48];

				snprintf(action_id, sizeof(action_id), "approval.%s", choices[i]);
				reply_add_button(r, lbl, action_id, ids[i], style, confirm);
			}
		}
	} else if (state >= 0) {
		store_buttons_retire(b->store, a->id, t0_now_ms());
	}
	if (state >= 0)
		reply_add_context(r, "request %s · audit: /tier0 audit %s", a->id, a->id);
	else
		reply_add_context(r, "dry run %s · audit: /tier0 audit %s", a->id, a->id);
out:
	json_decref(detail);
	json_decref(params);
	return r;
}

static struct reply *card_for(struct bot *b, const char *id, const char *headline,
			      const char *const *choices, size_t n)
{
	struct store_approval a;
	struct reply *r;

	if (store_approval_get(b->store, id, &a) != T0_OK)
		return NULL;
	r = card_build(b, &a, headline, choices, n);
	store_approval_clear(&a);
	return r;
}

/* Copies a card into the reply being answered. */
static void reply_take(struct reply *dst, struct reply *src)
{
	struct reply tmp;

	if (!src)
		return;
	tmp = *dst;
	*dst = *src;
	*src = tmp;
	reply_free(src);
}

/* ---- telling people: update the card in place, or post a new message ---- */

struct post_ctx {
	struct bot *b;
	char id[APPROVAL_ID_LEN];
};

static void on_posted(void *arg, int rc, const char *message_ref)
{
	struct post_ctx *pc = arg;

	if (rc == T0_OK && message_ref)
		store_approval_set_message(pc->b->store, pc->id, message_ref);
	free(pc);
}

static void notify(struct bot *b, const char *id, const char *headline)
{
	struct store_approval a;
	struct reply *card;
	struct reply_target to;
	int rc = T0_ENOTFOUND;

	if (store_approval_get(b->store, id, &a) != T0_OK)
		return;
	card = card_build(b, &a, headline, NULL, 0);
	to.channel = a.channel;
	to.thread = a.thread;
	to.user_id = NULL;
	if (card && a.message_ref)
		rc = bot_update(b, a.platform, &to, a.message_ref, card, NULL, NULL);
	if (card && rc != T0_OK) {
		struct post_ctx *pc = calloc(1, sizeof(*pc));

		if (pc) {
			pc->b = b;
			snprintf(pc->id, sizeof(pc->id), "%s", a.id);
			rc = bot_post(b, a.platform, &to, card, on_posted, pc);
			if (rc != T0_OK)
				free(pc);
		}
	}
	if (rc != T0_OK)
		log_info("actions", "notify_skipped", "request=%s rc=%s", id, t0_rc_str(rc));
	reply_free(card);
	store_approval_clear(&a);
}

/* ---- execution ---- */

struct exec_job {
	struct job job;
	struct bot *b;
	struct action_http req;
	char action[80];
	char channel[256];
	uint64_t t0;
};

static int requester_from_detail(struct bot *b, const json_t *detail, struct person *p)
{
	const json_t *rq = json_object_get(detail, "requester");

	if (!json_is_object(rq))
		return T0_EINVAL;
	person_init(b, p, json_string_value(json_object_get(rq, "platform")),
		    json_string_value(json_object_get(rq, "user_id")),
		    json_string_value(json_object_get(rq, "email")),
		    json_string_value(json_object_get(rq, "name")));
	return T0_OK;
}

/* Fails an approved request that may not run after all (a precondition failed). */
static void fail_approved(struct bot *b, const struct store_approval *a, const char *why)
{
	json_t *res = json_pack("{s:s}", "why", why);
	char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
	int changed = 0;

	if (store_begin(b->store) == T0_OK) {
		if (approval_transition(b->store, a->id, APPROVAL_APPROVED, APPROVAL_FAILED,
					t0_now_ms(), NULL, 0, NULL, NULL, a->channel, why,
					&changed) == T0_OK &&
		    changed) {
			json_t *d = json_pack("{s:s,s:s}", "state", "failed", "why", why);

			store_approval_set_result(b->store, a->id, text, t0_now_ms());
			approval_audit(b->store, NULL, a->channel, "action.outcome", a->id, d);
			json_decref(d);
		}
		store_commit(b->store);
	}
	log_warn("actions", "precondition_failed", "request=%s action=%s why=%s", a->id, a->action,
		 why);
	count_request(a->action, "precondition_failed");
	free(text);
	json_decref(res);
}

static void on_exec_done(const struct http_resp *resp, void *arg)
{
	struct exec_job *ej = arg;
	struct actions_rt *rt = job_remove(&ej->job);
	struct bot *b = ej->b;
	const struct action_set *set = b->world->actions;
	const struct action_def *def = action_find(set, ej->action);
	char why[300], keep[ACTION_DEFAULT_KEEP_BYTES * 32 + 1], l[160];
	size_t keep_n = set ? set->policy.keep_response_bytes : ACTION_DEFAULT_KEEP_BYTES;
	json_t *result = NULL, *d = NULL;
	char *text = NULL;
	int ok = 0, changed = 0, opened = 0;
	double secs = (double)(t0_mono_ns() - ej->t0) / 1e9;

	if (!rt) {
		/* The bot went away (shutdown without the loop first): nothing to tell. */
		goto out;
	}
	if (keep_n >= sizeof(keep))
		keep_n = sizeof(keep) - 1;
	keep[0] = '\0';
	if (resp->rc == T0_OK && resp->body) {
		size_t n = resp->body_len < keep_n ? resp->body_len : keep_n;

		/* Cut at a UTF-8 boundary so the kept text stays valid JSON. */
		while (n > 0 && n < resp->body_len && ((unsigned char)resp->body[n] & 0xc0) == 0x80)
			n--;
		memcpy(keep, resp->body, n);
		keep[n] = '\0';
		action_mask_secrets(set, keep);
	}
	if (resp->rc != T0_OK) {
		snprintf(why, sizeof(why), "%s",
			 resp->rc == T0_ETIMEOUT ? "no answer before the timeout (it may still have run)"
			 : resp->rc == T0_ECLOSED ? "tier0 shut down while it ran (outcome unknown)"
			 : resp->rc == T0_ETOOBIG ? "the answer was too large"
						  : "the request failed (connection)");
	} else if (!def) {
		snprintf(why, sizeof(why), "HTTP %ld (the action is no longer configured to judge it)",
			 resp->status);
	} else {
		ok = action_success(set, def, NULL, resp->status, resp->body, resp->body_len, why,
				    sizeof(why));
	}
	result = json_pack("{s:s,s:s,s:I}", "why", why, "rc", t0_rc_str(resp->rc), "elapsed_ms",
			   (json_int_t)resp->elapsed_ms);
	if (result && resp->rc == T0_OK) {
		json_t *kept = json_string(keep);

		json_object_set_new(result, "status", json_integer(resp->status));
		json_object_set_new(result, "body", kept ? kept : json_string("(not UTF-8)"));
		if (resp->body_len > keep_n)
			json_object_set_new(result, "body_truncated", json_true());
	}
	text = result ? json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (store_begin(b->store) == T0_OK) {
		approval_audit(b->store, NULL, ej->channel, "action.response", ej->job.id, result);
		approval_transition(b->store, ej->job.id, APPROVAL_EXECUTING,
				    ok ? APPROVAL_SUCCEEDED : APPROVAL_FAILED, t0_now_ms(), NULL, 0,
				    NULL, NULL, ej->channel, why, &changed);
		store_approval_set_result(b->store, ej->job.id, text, t0_now_ms());
		d = json_pack("{s:s,s:s}", "state", ok ? "succeeded" : "failed", "why", why);
		approval_audit(b->store, NULL, ej->channel, "action.outcome", ej->job.id, d);
		if (store_commit(b->store) != T0_OK)
			log_err("actions", "outcome_not_stored", "request=%s", ej->job.id);
	}
	if (set)
		opened = breaker_record(rt->br, ej->action, ok, set->policy.breaker_failures,
					set->policy.breaker_pause_ms, t0_now_ms());
	if (opened) {
		label("action", l, sizeof(l), ej->action, NULL);
		metrics_counter_add("tier0_actions_circuit_open_total", l, 1);
		log_warn("actions", "circuit_open", "action=%s failures=%d", ej->action,
			 breaker_failures(rt->br, ej->action));
	}
	label("action", l, sizeof(l), ej->action, ok ? "succeeded" : "failed");
	metrics_counter_add("tier0_actions_executions_total", l, 1);
	label("action", l, sizeof(l), ej->action, NULL);
	metrics_histogram_observe("tier0_actions_execution_duration_seconds", l, secs);
	log_info("actions", "executed", "request=%s action=%s status=%ld rc=%s ok=%d ms=%lld",
		 ej->job.id, ej->action, resp->status, t0_rc_str(resp->rc), ok,
		 (long long)resp->elapsed_ms);
	{
		char head[400];

		snprintf(head, sizeof(head), "%s %s %s: %s%s", ok ? "Done:" : "Failed:", ej->action,
			 ok ? "succeeded" : "failed", why,
			 opened ? " (the action is now paused after repeated failures)" : "");
		notify(b, ej->job.id, head);
	}
out:
	free(text);
	json_decref(result);
	json_decref(d);
	action_http_clear(&ej->req);
	free(ej);
}

/*
 * Runs an approved request: preconditions again (the action, the target, the
 * requester's rights, the circuit breaker, the very same rendered request),
 * then the one claim approved -> executing, then the HTTP call. T0_OK when
 * the call started (or another writer had claimed it); otherwise the request
 * is failed with the reason in why.
 */
static int execute(struct actions_rt *rt, const char *id, char *why, size_t whylen)
{
	struct bot *b = rt->b;
	const struct action_set *set = b->world->actions;
	const struct action_def *def;
	const struct cat_entity *target = NULL;
	struct store_approval a = { 0 };
	struct policy_decision dec;
	struct person req;
	struct action_render_in in;
	struct exec_job *ej = NULL;
	struct http_req hr = { 0 };
	json_t *detail = NULL, *params = NULL, *shown = NULL, *d = NULL;
	char hash[65], err[300];
	int64_t retry = 0;
	int rc, changed = 0;

	why[0] = '\0';
	rc = store_approval_get(b->store, id, &a);
	if (rc != T0_OK) {
		snprintf(why, whylen, "request %s is not in the store", id);
		return rc;
	}
	if (approval_state_parse(a.state) != APPROVAL_APPROVED) {
		snprintf(why, whylen, "request %s is %s, not approved", id, a.state);
		rc = T0_OK;
		goto out;
	}
	detail = json_loads(a.detail ? a.detail : "{}", 0, NULL);
	params = json_loads(a.params ? a.params : "{}", 0, NULL);
	def = action_find(set, a.action);
	if (!def) {
		snprintf(why, whylen, "the action %s is no longer configured", a.action);
		goto fail;
	}
	if (a.target && !(target = catalog_get(b->world->cat, a.target))) {
		snprintf(why, whylen, "%s is no longer in the catalog", a.target);
		goto fail;
	}
	if (requester_from_detail(b, detail, &req) != T0_OK) {
		snprintf(why, whylen, "the request does not say who asked for it");
		goto fail;
	}
	policy_decide_request(b->world->cat, &def->requesters, def->risk, def->approvals, 0,
			      &req.pp, target, &dec);
	if (!dec.allowed) {
		snprintf(why, whylen, "the requester may no longer request it (%s)", dec.reason);
		goto fail;
	}
	if (breaker_allow(rt->br, def->name, t0_now_ms(), &retry) != T0_OK) {
		char dur[32];

		rl_duration_format(retry, dur, sizeof(dur));
		snprintf(why, whylen, "%s is paused after repeated failures (for %s more)", def->name,
			 dur);
		goto fail;
	}
	memset(&in, 0, sizeof(in));
	in.set = set;
	in.def = def;
	in.target = target;
	in.params = params;
	in.request_id = a.id;
	in.created_ms = a.created_ms;
	in.requester_name = req.name;
	in.requester_email = req.pp.email;
	in.requester_user_id = req.pp.user_id;
	if (action_request_hash(&in, hash, &shown, err, sizeof(err)) != T0_OK) {
		snprintf(why, whylen, "the request cannot be prepared any more: %s", err);
		goto fail;
	}
	if (strcmp(hash, a.request_hash) != 0) {
		snprintf(why, whylen,
			 "what would run now differs from what was approved (the configuration or "
			 "the catalog changed); the approval does not apply, ask again");
		goto fail;
	}
	if (!b->loop) {
		snprintf(why, whylen, "no event loop to run it on");
		goto fail;
	}
	ej = calloc(1, sizeof(*ej));
	if (!ej || action_render(&in, 0, &ej->req, err, sizeof(err)) != T0_OK) {
		snprintf(why, whylen, "the request cannot be rendered: %s", ej ? err : "out of memory");
		goto fail;
	}
	/* The one claim: of every process that gets here, one moves it to executing. */
	rc = approval_transition(b->store, id, APPROVAL_APPROVED, APPROVAL_EXECUTING, t0_now_ms(),
				 NULL, 0, a.request_hash, NULL, a.channel, "preconditions hold",
				 &changed);
	if (rc != T0_OK || !changed) {
		snprintf(why, whylen, "%s", rc != T0_OK ? "the store failed" : "already claimed");
		action_http_clear(&ej->req);
		free(ej);
		ej = NULL;
		goto out;
	}
	d = json_pack("{s:O,s:s}", "request", shown, "request_hash", hash);
	approval_audit(b->store, NULL, a.channel, "action.execute", id, d);
	snprintf(ej->job.id, sizeof(ej->job.id), "%s", id);
	snprintf(ej->action, sizeof(ej->action), "%s", def->name);
	snprintf(ej->channel, sizeof(ej->channel), "%s", a.channel ? a.channel : "");
	ej->b = b;
	ej->t0 = t0_mono_ns();
	hr.method = ej->req.method;
	hr.url = ej->req.url;
	hr.headers = (const char *const *)ej->req.headers;
	hr.nheaders = ej->req.nheaders;
	hr.body = ej->req.body;
	hr.body_len = ej->req.body_len;
	hr.timeout_ms = (long)def->timeout_ms;
	hr.deadline_ms = (long)def->timeout_ms;
	hr.max_response_bytes = MAX_RESPONSE_BYTES;
	hr.max_retries = 0; /* never twice: a retried POST may run twice */
	job_add(rt, &ej->job);
	rc = http_request(b->loop, &hr, on_exec_done, ej);
	if (rc != T0_OK) {
		struct http_resp fake = { .rc = rc };

		/* Report it the same way as a failed call. */
		on_exec_done(&fake, ej);
	}
	ej = NULL;
	rc = T0_OK;
	goto out;
fail:
	fail_approved(b, &a, why);
	rc = T0_EDENIED;
out:
	if (ej) {
		action_http_clear(&ej->req);
		free(ej);
	}
	json_decref(d);
	json_decref(shown);
	json_decref(detail);
	json_decref(params);
	store_approval_clear(&a);
	return rc;
}

/* ---- requests ---- */

struct req_ctx {
	struct job job; /* for the asynchronous Argo CD history look-up */
	struct bot *b;
	struct bot_pending *bp; /* answer the event later */
	int post_when_done;     /* or post the card (action_propose) */
	int origin;
	int dry_run;
	char *action;
	char *target;           /* as given */
	char *target_ref;       /* resolved */
	json_t *given;          /* parameters as given */
	json_t *params;         /* resolved */
	json_t *interpretation;
	char *prompt;
	char *platform, *user_id, *email, *display, *channel, *thread;
	struct person person;
	int audited_request;
	int lookup_done;
};

static void req_free(struct req_ctx *c)
{
	if (!c)
		return;
	free(c->action);
	free(c->target);
	free(c->target_ref);
	json_decref(c->given);
	json_decref(c->params);
	json_decref(c->interpretation);
	free(c->prompt);
	free(c->platform);
	free(c->user_id);
	free(c->email);
	free(c->display);
	free(c->channel);
	free(c->thread);
	free(c);
}

static char *sdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct req_ctx *req_new(struct bot *b, const struct event *ev, const char *action,
			       const char *target, const json_t *given, int origin, int dry_run)
{
	struct req_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->b = b;
	c->origin = origin;
	c->dry_run = dry_run;
	c->action = sdup(action);
	c->target = sdup(target);
	c->given = given ? json_deep_copy(given) : json_object();
	c->prompt = sdup(ev->text);
	c->platform = sdup(ev->actor.platform ? ev->actor.platform : "unknown");
	c->user_id = sdup(ev->actor.user_id);
	c->email = sdup(ev->actor.email);
	c->display = sdup(ev->actor.display_name);
	c->channel = sdup(ev->channel);
	c->thread = sdup(ev->thread);
	if (!c->action || !c->given || !c->platform || (target && !c->target) ||
	    (ev->text && !c->prompt) || (ev->actor.user_id && !c->user_id) ||
	    (ev->actor.email && !c->email) || (ev->actor.display_name && !c->display) ||
	    (ev->channel && !c->channel) || (ev->thread && !c->thread) ||
	    approval_new_id("r-", c->job.id, sizeof(c->job.id)) != T0_OK) {
		req_free(c);
		return NULL;
	}
	person_init(b, &c->person, c->platform, c->user_id, c->email, c->display);
	return c;
}

static void req_audit(struct req_ctx *c, const char *kind, json_t *detail)
{
	if (approval_audit(c->b->store, &c->person.actor, c->channel, kind, c->job.id, detail) !=
	    T0_OK) {
		log_err("actions", "audit_failed", "request=%s kind=%s", c->job.id, kind);
		metrics_counter_add("tier0_audit_failures_total", NULL, 1);
	}
}

/* The first record of every request: what was asked and how it was understood. */
static void req_audit_request(struct req_ctx *c)
{
	json_t *d, *rq;

	if (c->audited_request)
		return;
	c->audited_request = 1;
	rq = person_json(&c->person);
	d = json_pack("{s:s,s:s,s:O,s:b,s:o}", "action", c->action, "origin",
		      origin_names[c->origin], "params", c->given, "dry_run", c->dry_run,
		      "requester", rq ? rq : json_null());
	if (!d)
		return;
	if (c->target)
		json_object_set_new(d, "target", json_string(c->target));
	if (c->prompt)
		json_object_set_new(d, "prompt", json_string(c->prompt));
	if (c->interpretation)
		json_object_set(d, "interpretation", c->interpretation);
	req_audit(c, "action.request", d);
	json_decref(d);
}

static int refuse(struct req_ctx *c, struct reply *r, int rc, const char *stage,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(struct req_ctx *c, struct reply *r, int rc, const char *stage, const char *fmt,
		  ...)
{
	char msg[600];
	va_list ap;
	json_t *d;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	req_audit_request(c);
	d = json_pack("{s:s,s:s}", "stage", stage, "reason", msg);
	req_audit(c, "action.refused", d);
	json_decref(d);
	reply_set_text(r, "%s", msg);
	reply_set_intent(r, "action");
	reply_add_context(r, "request %s", c->job.id);
	count_request(c->action && action_find(c->b->world->actions, c->action) ? c->action : "unknown",
		      stage);
	return rc;
}

static const char *scope_names[] = { "global", "per user", "per channel", "per action",
				     "per target" };
static const char *scope_labels[] = { "global", "user", "channel", "action", "target" };

/* Rate limits: all five buckets or none. T0_OK, or T0_ERATELIMIT with r explaining. */
static int req_limits(struct actions_rt *rt, struct req_ctx *c, const struct action_def *def,
		      struct reply *r)
{
	const struct action_policy *pol = &c->b->world->actions->policy;
	struct rl_check checks[5];
	int scopes[5];
	size_t n = 0, failed = 0;
	char keys[5][400], spec[32], dur[32], when[32], l[64];
	int64_t retry = 0;
	json_t *d;

	if (pol->has_global) {
		snprintf(keys[n], sizeof(keys[n]), "global");
		checks[n] = (struct rl_check){ keys[n], &pol->global, 1 };
		scopes[n++] = 0;
	}
	if (pol->has_user) {
		snprintf(keys[n], sizeof(keys[n]), "user:%s", c->person.key);
		checks[n] = (struct rl_check){ keys[n], &pol->per_user, 1 };
		scopes[n++] = 1;
	}
	if (pol->has_channel) {
		snprintf(keys[n], sizeof(keys[n]), "channel:%s:%s", c->platform,
			 c->channel ? c->channel : "");
		checks[n] = (struct rl_check){ keys[n], &pol->per_channel, 1 };
		scopes[n++] = 2;
	}
	if (def->has_rate) {
		snprintf(keys[n], sizeof(keys[n]), "action:%s", def->name);
		checks[n] = (struct rl_check){ keys[n], &def->rate, 1 };
		scopes[n++] = 3;
	}
	if (pol->has_target && c->target_ref) {
		snprintf(keys[n], sizeof(keys[n]), "target:%s", c->target_ref);
		checks[n] = (struct rl_check){ keys[n], &pol->per_target, 1 };
		scopes[n++] = 4;
	}
	if (!n || ratelimiter_take_all(rt->rl, checks, n, t0_now_ms(), &failed, &retry) == T0_OK)
		return T0_OK;
	{
		int s = scopes[failed];

		rl_spec_format(checks[failed].spec, spec, sizeof(spec));
		rl_duration_format(retry, dur, sizeof(dur));
		fmt_hm(t0_now_ms() + retry, when, sizeof(when));
		snprintf(l, sizeof(l), "scope=\"%s\"", scope_labels[s]);
		metrics_counter_add("tier0_actions_limited_total", l, 1);
		d = json_pack("{s:s,s:s,s:I}", "scope", scope_labels[s], "limit", spec,
			      "retry_after_ms", (json_int_t)retry);
		req_audit_request(c);
		req_audit(c, "action.limited", d);
		json_decref(d);
		reply_set_text(r,
			       "Too many action requests (%s limit %s). Try again in %s (at %s).",
			       scope_names[s], spec, dur, when);
		reply_set_intent(r, "action");
		count_request(def->name, "limited");
	}
	return T0_ERATELIMIT;
}

static void lookup_start(struct actions_rt *rt, struct req_ctx *c, const struct action_def *def,
			 const char *param, struct reply *r, int *async);

/*
 * Everything after the look-up: render, dry run, breaker, limits, the row,
 * and then the card (or the execution of a request that needs no approval).
 */
static int req_finish(struct actions_rt *rt, struct req_ctx *c, struct reply *r)
{
	struct bot *b = c->b;
	const struct action_set *set = b->world->actions;
	const struct action_def *def = action_find(set, c->action);
	const struct cat_entity *target = c->target_ref ? catalog_get(b->world->cat, c->target_ref)
						       : NULL;
	struct policy_decision dec;
	struct action_render_in in = { 0 };
	struct store_approval row = { 0 };
	json_t *shown = NULL, *detail = NULL, *d = NULL;
	char hash[65], err[400], head[300];
	char *params_text_json = NULL, *detail_text = NULL;
	const char *env;
	int env_needs = 0, rc, changed = 0;
	int64_t now = t0_now_ms(), retry = 0;

	if (!def || (c->target_ref && !target))
		return refuse(c, r, T0_ENOTFOUND, "changed",
			      "The action or its target changed while I was looking it up; ask again.");
	env = action_environment(c->params);
	for (size_t i = 0; env && i < set->policy.napproval_envs; i++)
		if (strcasecmp(env, set->policy.approval_envs[i]) == 0)
			env_needs = 1;
	policy_decide_request(b->world->cat, &def->requesters, def->risk, def->approvals, env_needs,
			      &c->person.pp, target, &dec);
	d = json_pack("{s:s,s:i,s:s,s:s}", "decision", dec.allowed ? "allowed" : "refused",
		      "approvals_needed", dec.approvals, "risk", policy_risk_name(def->risk),
		      "reason", dec.reason);
	if (env)
		json_object_set_new(d, "environment", json_string(env));
	req_audit_request(c);
	req_audit(c, "action.policy", d);
	json_decref(d);
	d = NULL;
	if (!dec.allowed) {
		reply_set_text(r, "You can't request %s%s%s: %s.", def->name, target ? " on " : "",
			       target ? target->name : "", dec.reason);
		reply_add_context(r, "request %s", c->job.id);
		reply_set_intent(r, "action");
		count_request(def->name, "denied");
		return T0_EDENIED;
	}
	in.set = set;
	in.def = def;
	in.target = target;
	in.params = c->params;
	in.request_id = c->job.id;
	in.created_ms = now;
	in.requester_name = c->person.name;
	in.requester_email = c->person.pp.email;
	in.requester_user_id = c->person.pp.user_id;
	rc = action_request_hash(&in, hash, &shown, err, sizeof(err));
	if (rc != T0_OK)
		return refuse(c, r, T0_EINVAL, "render", "I can't prepare %s%s%s: %s.", def->name,
			      target ? " for " : "", target ? target->name : "", err);
	if (c->dry_run) {
		struct reply *card;

		d = json_pack("{s:O,s:s}", "request", shown, "request_hash", hash);
		req_audit(c, "action.dry_run", d);
		json_decref(d);
		d = NULL;
		/* A card needs a row; a dry run has none, so build it by hand. */
		row.id = c->job.id;
		row.action = def->name;
		row.target = c->target_ref;
		row.state = "dry run";
		row.risk = (char *)policy_risk_name(def->risk);
		row.needed = dec.approvals;
		row.requester = c->person.key;
		detail = json_pack("{s:O,s:{s:s},s:s}", "request", shown, "requester", "name",
				   c->person.name, "target_name", target ? target->name : "");
		params_text_json = json_dumps(c->params, JSON_COMPACT | JSON_SORT_KEYS);
		detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
		row.params = params_text_json;
		row.detail = detail_text;
		row.expires_ms = now;
		snprintf(head, sizeof(head), "Dry run of %s%s%s: this is exactly what would be sent. "
			 "Nothing was sent.", def->name, target ? " on " : "",
			 target ? target->name : "");
		card = card_build(b, &row, head, NULL, 0);
		reply_take(r, card);
		if (dec.approvals)
			reply_add_context(r, "A real run would need %d approval%s.", dec.approvals,
					  dec.approvals == 1 ? "" : "s");
		count_request(def->name, "dry_run");
		rc = T0_OK;
		goto out;
	}
	if (breaker_allow(rt->br, def->name, now, &retry) != T0_OK) {
		char dur[32];

		rl_duration_format(retry, dur, sizeof(dur));
		d = json_pack("{s:s,s:I}", "scope", "circuit_breaker", "retry_after_ms",
			      (json_int_t)retry);
		req_audit(c, "action.limited", d);
		metrics_counter_add("tier0_actions_limited_total", "scope=\"circuit_breaker\"", 1);
		reply_set_text(r,
			       "%s is paused after %d failures in a row. Try again in %s, or fix "
			       "the cause first.",
			       def->name, breaker_failures(rt->br, def->name), dur);
		reply_set_intent(r, "action");
		count_request(def->name, "paused");
		rc = T0_ERATELIMIT;
		goto out;
	}
	rc = req_limits(rt, c, def, r);
	if (rc != T0_OK)
		goto out;

	detail = json_pack("{s:O,s:o,s:s,s:s}", "request", shown, "requester",
			   person_json(&c->person), "target_name", target ? target->name : "",
			   "environment", env ? env : "");
	if (detail && c->prompt)
		json_object_set_new(detail, "prompt", json_string(c->prompt));
	params_text_json = json_dumps(c->params, JSON_COMPACT | JSON_SORT_KEYS);
	detail_text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!params_text_json || !detail_text) {
		rc = T0_ENOMEM;
		goto out;
	}
	row.id = c->job.id;
	row.action = def->name;
	row.target = c->target_ref;
	row.params = params_text_json;
	row.request_hash = hash;
	row.requester = c->person.key;
	row.state = "proposed";
	row.created_ms = now;
	row.expires_ms = now + set->policy.expiry_ms;
	row.updated_ms = now;
	row.detail = detail_text;
	row.risk = (char *)policy_risk_name(def->risk);
	row.needed = dec.approvals;
	row.origin = (char *)origin_names[c->origin];
	row.platform = c->platform;
	row.channel = c->channel;
	row.thread = c->thread;
	{
		const char *kinds[] = { "action.proposed" };
		json_t *dd = json_pack("{s:O,s:s,s:O,s:i,s:s,s:I}", "request", shown, "request_hash",
				       hash, "params", c->params, "approvals_needed", dec.approvals,
				       "risk", policy_risk_name(def->risk), "expires_ms",
				       (json_int_t)row.expires_ms);
		json_t *details[] = { dd };

		rc = dd ? approval_create(b->store, &row, &c->person.actor, c->channel, kinds,
					  details, 1)
			: T0_ENOMEM;
		json_decref(dd);
		if (rc != T0_OK)
			goto out;
	}
	if (c->origin != ORIGIN_TYPED) {
		static const char *const choices[] = { "confirm", "cancel" };
		struct reply *card;

		snprintf(head, sizeof(head),
			 "Proposed for %s: %s%s%s. Nothing runs until you press \"Request it\"%s.",
			 c->person.name, def->name, target ? " on " : "", target ? target->name : "",
			 dec.approvals ? " (then it needs approval)" : "");
		card = card_for(b, c->job.id, head, choices, 2);
		reply_take(r, card);
		count_request(def->name, "proposed");
		rc = T0_OK;
		goto out;
	}
	rc = T0_OK;
	{
		/* Typed: the person asked for exactly this; go on as policy says. */
		struct reply *card = NULL;

		if (dec.approvals == 0) {
			char why[300];

			approval_transition(b->store, c->job.id, APPROVAL_PROPOSED, APPROVAL_APPROVED,
					    now, "policy", 0, NULL, &c->person.actor, c->channel,
					    "low risk: no approval needed", &changed);
			count_request(def->name, "approved");
			if (execute(rt, c->job.id, why, sizeof(why)) == T0_OK) {
				snprintf(head, sizeof(head), "Running %s%s%s (no approval needed).",
					 def->name, target ? " on " : "", target ? target->name : "");
			} else {
				snprintf(head, sizeof(head), "Not run: %s.", why);
			}
			card = card_for(b, c->job.id, head, NULL, 0);
		} else {
			static const char *const choices[] = { "approve", "deny", "cancel" };

			approval_transition(b->store, c->job.id, APPROVAL_PROPOSED, APPROVAL_PENDING,
					    now, NULL, 0, NULL, &c->person.actor, c->channel,
					    "waiting for approval", &changed);
			snprintf(head, sizeof(head),
				 "%s requests %s%s%s: needs %d approval%s from someone else (%s risk%s).",
				 c->person.name, def->name, target ? " on " : "",
				 target ? target->name : "", dec.approvals,
				 dec.approvals == 1 ? "" : "s", policy_risk_name(def->risk),
				 env_needs ? ", approval-only environment" : "");
			card = card_for(b, c->job.id, head, choices, 3);
			count_request(def->name, "pending");
		}
		reply_take(r, card);
	}
out:
	json_decref(d);
	json_decref(shown);
	json_decref(detail);
	free(params_text_json);
	free(detail_text);
	return rc;
}

/*
 * Everything up to the look-up: the action, its target, its parameters.
 * *async = 1 when a look-up took c over (the answer comes later).
 */
static int req_start(struct actions_rt *rt, struct req_ctx *c, struct reply *r, int *async)
{
	struct bot *b = c->b;
	const struct action_set *set = b->world->actions;
	const struct action_def *def;
	const struct cat_entity *target = NULL;
	const char *lookup;
	char err[400];

	*async = 0;
	if (!set || set->n == 0)
		return refuse(c, r, T0_ENOTFOUND, "unknown", "No actions are configured here.");
	def = action_find(set, c->action);
	if (!def) {
		char list[400] = "";

		for (size_t i = 0; i < set->n; i++) {
			size_t l = strlen(list);

			snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", set->defs[i].name);
		}
		return refuse(c, r, T0_ENOTFOUND, "unknown",
			      "I don't know an action called \"%s\". Actions here: %s.", c->action,
			      list);
	}
	if (c->target) {
		target = catalog_find(b->world->cat, c->target);
		if (!target) {
			const struct cat_entity *near = catalog_suggest(b->world->cat, c->target);

			if (near)
				return refuse(c, r, T0_ENOTFOUND, "target",
					      "I don't know \"%s\" in the catalog. Did you mean %s?",
					      c->target, near->name);
			return refuse(c, r, T0_ENOTFOUND, "target",
				      "I don't know \"%s\" in the catalog.", c->target);
		}
		if (def->target_kind && strcasecmp(def->target_kind, target->kind) != 0)
			return refuse(c, r, T0_EINVAL, "target", "%s works on %s entities; %s is a %s.",
				      def->name, def->target_kind, target->name, target->kind);
		c->target_ref = strdup(target->ref);
		if (!c->target_ref)
			return T0_ENOMEM;
	} else if (def->target_required) {
		return refuse(c, r, T0_EINVAL, "target", "%s needs a target: %s <%s>.", def->name,
			      def->name, def->target_kind ? def->target_kind : "entity");
	}
	if (action_params_resolve(set, def, c->given, &c->params, err, sizeof(err)) != T0_OK)
		return refuse(c, r, T0_EINVAL, "params", "I can't request %s: %s.", def->name, err);
	lookup = c->lookup_done ? NULL : action_rollback_lookup_param(def, c->params);
	if (lookup) {
		lookup_start(rt, c, def, lookup, r, async);
		if (*async)
			return T0_OK;
		return T0_OK; /* r says why not */
	}
	return req_finish(rt, c, r);
}

/* ---- the Argo CD history look-up (rollback without a history id) ---- */

struct lookup_job {
	struct job job;
	struct req_ctx *c;
	char param[64];
	char app[256];
};

static void req_deliver(struct req_ctx *c, struct reply *r)
{
	if (c->bp) {
		bot_pending_finish(c->bp, r);
		return;
	}
	if (c->post_when_done) {
		struct reply_target to = { .channel = c->channel, .thread = c->thread };

		if (bot_post(c->b, c->platform, &to, r, NULL, NULL) != T0_OK)
			log_info("actions", "notify_skipped", "request=%s", c->job.id);
	}
	reply_free(r);
}

static void on_lookup_done(const struct http_resp *resp, void *arg)
{
	struct lookup_job *lj = arg;
	struct actions_rt *rt = job_remove(&lj->job);
	struct req_ctx *c = lj->c;
	struct reply *r = reply_new();
	char rev[64], at[64];
	long long id = 0;

	if (!rt || !r) {
		/* Detached: the bot may be gone, so nobody is told. */
		reply_free(r);
		goto out;
	}
	if (resp->rc != T0_OK || resp->status != 200) {
		refuse(c, r, T0_EHTTP, "lookup",
		       "I could not read %s from Argo CD to pick the revision to roll back to (%s%s%ld). "
		       "Say which one: %s %s %s=<history id>.",
		       lj->app, resp->rc != T0_OK ? t0_rc_str(resp->rc) : "HTTP",
		       resp->rc != T0_OK ? " " : " ", resp->status, c->action,
		       c->target ? c->target : "", lj->param);
	} else if (action_argocd_previous(resp->body, resp->body_len, &id, rev, sizeof(rev), at,
					  sizeof(at)) != T0_OK) {
		refuse(c, r, T0_ENOTFOUND, "lookup",
		       "Argo CD has no earlier revision of %s to roll back to.", lj->app);
	} else {
		json_t *d = json_pack("{s:s,s:I,s:s,s:s}", "app", lj->app, "history_id",
				      (json_int_t)id, "revision", rev, "deployed_at", at);

		req_audit_request(c);
		req_audit(c, "action.lookup", d);
		json_decref(d);
		json_object_set_new(c->params, lj->param, json_integer(id));
		json_object_set_new(c->given, lj->param, json_integer(id));
		c->lookup_done = 1;
		req_finish(rt, c, r);
		reply_add_context(r, "Rolls back to revision %.12s (history %lld, deployed %s).", rev,
				  id, at);
	}
	req_deliver(c, r);
out:
	req_free(c);
	free(lj);
}

static void lookup_start(struct actions_rt *rt, struct req_ctx *c, const struct action_def *def,
			 const char *param, struct reply *r, int *async)
{
	const struct action_set *set = c->b->world->actions;
	const struct cat_entity *target = c->target_ref ? catalog_get(c->b->world->cat, c->target_ref)
						       : NULL;
	struct lookup_job *lj = calloc(1, sizeof(*lj));
	struct action_render_in in = { .set = set, .def = def, .target = target,
				       .params = c->params };
	char hdr[600], err[300], url[ACTION_MAX_URL + 300];
	const char *headers[2];
	struct http_req hr = { 0 };
	const char *app = NULL;
	char *app_v = NULL;

	*async = 0;
	if (!lj) {
		refuse(c, r, T0_ENOMEM, "lookup", "Out of memory.");
		return;
	}
	/* The app name is rendered like the request would render it. */
	{
		struct action_def copy = *def;

		copy.exec.type = ACTION_EXEC_ARGOCD_SYNC;
		copy.exec.revision = NULL;
		in.def = &copy;
		{
			struct action_http h;

			if (action_render(&in, 1, &h, err, sizeof(err)) != T0_OK) {
				free(lj);
				refuse(c, r, T0_EINVAL, "render", "I can't prepare %s: %s.", def->name,
				       err);
				return;
			}
			/* .../applications/<app>/sync -> the application URL */
			snprintf(url, sizeof(url), "%s", h.url);
			action_http_clear(&h);
		}
	}
	{
		char *tail = strstr(url, "/sync");

		if (tail && tail[5] == '\0')
			*tail = '\0';
		app = strrchr(url, '/');
		app_v = app ? strdup(app + 1) : NULL;
	}
	if (!c->b->loop) {
		free(app_v);
		free(lj);
		refuse(c, r, T0_EINVAL, "lookup", "%s needs %s=<history id> here.", def->name, param);
		return;
	}
	snprintf(lj->param, sizeof(lj->param), "%s", param);
	snprintf(lj->app, sizeof(lj->app), "%s", app_v ? app_v : "?");
	free(app_v);
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", set->argocd.token);
	headers[0] = hdr;
	headers[1] = "Accept: application/json";
	hr.method = "GET";
	hr.url = url;
	hr.headers = headers;
	hr.nheaders = 2;
	hr.timeout_ms = 10000;
	hr.deadline_ms = 15000;
	hr.max_retries = 2; /* a read: retrying is harmless */
	hr.max_response_bytes = 4 * 1024 * 1024;
	lj->c = c;
	snprintf(lj->job.id, sizeof(lj->job.id), "%s", c->job.id);
	job_add(rt, &lj->job);
	if (http_request(c->b->loop, &hr, on_lookup_done, lj) != T0_OK) {
		job_remove(&lj->job);
		free(lj);
		refuse(c, r, T0_EHTTP, "lookup", "I could not ask Argo CD for %s's history.",
		       def->name);
		return;
	}
	memset(hdr, 0, sizeof(hdr));
	*async = 1;
}

/*
 * Common entry: takes c over. For an event handler (req != NULL) a look-up
 * answers later through bot_pending; for action_propose the card is posted.
 */
static int req_run(struct req_ctx *c, const struct handler_req *req, struct reply *r)
{
	struct actions_rt *rt = rt_get(c->b);
	int async = 0, rc;

	if (!rt) {
		req_free(c);
		reply_set_text(r, "Actions are unavailable (out of memory).");
		return T0_ENOMEM;
	}
	rc = req_start(rt, c, r, &async);
	if (async) {
		if (req) {
			c->bp = bot_pending_take(req);
			if (!c->bp) {
				/* Not deferrable: answer now that the card will be posted. */
				c->post_when_done = 1;
				reply_set_text(r, "Looking up the revision to roll back to; the request "
						  "follows in a moment.");
			}
		} else {
			c->post_when_done = 1;
			reply_set_text(r, "Looking up the revision to roll back to; the proposal "
					  "follows in a moment.");
		}
		return T0_OK;
	}
	req_free(c);
	return rc;
}

/* ---- intent handlers ---- */

static json_t *interpretation_json(const struct handler_req *req)
{
	const struct intent_match *m = req->m;
	json_t *d = json_object(), *slots = json_object();

	if (!d || !slots) {
		json_decref(d);
		json_decref(slots);
		return NULL;
	}
	for (size_t i = 0; m && i < m->nslots; i++)
		json_object_set_new(slots, m->slots[i].name, json_string(m->slots[i].value));
	json_object_set_new(d, "intent", json_string(m && m->intent ? m->intent : ""));
	if (m && m->rule)
		json_object_set_new(d, "rule", json_string(m->rule));
	json_object_set_new(d, "understood_by",
			    json_string(m && m->builtin ? "builtin-rule" : "configured-rule"));
	json_object_set_new(d, "slots", slots);
	return d;
}

/* action name from the verb: "roll back" -> "rollback", lower-case */
static void action_name_from(const char *verb, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = verb; p && *p && o + 1 < len; p++)
		if (*p != ' ' && *p != '\t')
			out[o++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
	out[o] = '\0';
}

static int request_from_match(struct bot *b, const struct handler_req *req,
			      const struct intent_match *m, int dry_run, struct reply *r)
{
	const char *verb = intent_slot(m, "action"), *args = intent_slot(m, "args");
	json_t *given = NULL;
	struct req_ctx *c;
	char action[80], err[300];
	int rc;

	reply_set_intent(r, "action");
	action_name_from(verb, action, sizeof(action));
	if (!action[0]) {
		reply_set_text(r, "Which action? Try \"actions\" for the list.");
		return T0_OK;
	}
	rc = action_args_parse(args, &given, err, sizeof(err));
	if (rc == T0_OK) {
		/* Other named slots are parameters ("scale X to 5" -> replicas=5). */
		for (size_t i = 0; i < m->nslots; i++) {
			const char *n = m->slots[i].name;

			if (strcmp(n, "action") && strcmp(n, "target") && strcmp(n, "args") &&
			    strcmp(n, "request") && !json_object_get(given, n))
				json_object_set_new(given, n, json_string(m->slots[i].value));
		}
	}
	c = req_new(b, req->ev, action, intent_slot(m, "target"), given, ORIGIN_TYPED, dry_run);
	json_decref(given);
	if (!c)
		return T0_ENOMEM;
	c->interpretation = interpretation_json(req);
	if (rc != T0_OK) {
		refuse(c, r, T0_EINVAL, "params", "I can't read the parameters: %s.", err);
		req_free(c);
		return T0_OK;
	}
	req_run(c, req, r);
	return T0_OK;
}

static int h_action(struct bot *b, const struct handler_req *req, struct reply *r)
{
	return request_from_match(b, req, req->m, 0, r);
}

static int h_action_dry_run(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *text = intent_slot(req->m, "request");
	struct intent_match m;
	int rc;

	reply_set_intent(r, "action_dry_run");
	if (!text || intent_match(b->world->intents, text, &m) != T0_OK ||
	    strcmp(m.intent, INTENT_ACTION) != 0) {
		char run[INTENT_MAX_TEXT + 8];

		/* "dry-run argo-rollback payment-api" is "dry-run run argo-rollback ...". */
		if (text)
			intent_match_clear(&m);
		snprintf(run, sizeof(run), "run %s", text ? text : "");
		if (!text || strlen(text) >= INTENT_MAX_TEXT ||
		    intent_match(b->world->intents, run, &m) != T0_OK ||
		    strcmp(m.intent, INTENT_ACTION) != 0) {
			if (text)
				intent_match_clear(&m);
			reply_set_text(r, "dry-run what? For example: dry-run rollback payment-api");
			return T0_OK;
		}
	}
	rc = request_from_match(b, req, &m, 1, r);
	intent_match_clear(&m);
	return rc;
}

static int h_actions_list(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const struct action_set *set = b->world->actions;
	char line[600];

	reply_set_intent(r, "actions");
	if (!set || !set->n) {
		reply_set_text(r, "No actions are configured here.");
		return T0_OK;
	}
	reply_set_text(r, "Actions you can request (approvals depend on risk and environment):");
	reply_add_section(r, NULL, NULL);
	for (size_t i = 0; i < set->n; i++) {
		const struct action_def *d = &set->defs[i];
		size_t pos;

		pos = (size_t)snprintf(line, sizeof(line), "%s (%s risk)", d->description ? d->description : "",
				       policy_risk_name(d->risk));
		for (size_t j = 0; j < d->nparams && pos < sizeof(line); j++) {
			int w = snprintf(line + pos, sizeof(line) - pos, "%s%s%s", j ? ", " : "; ",
					 d->params[j].name, d->params[j].required ? "*" : "");

			if (w < 0)
				break;
			pos += (size_t)w;
		}
		reply_add_field(r, d->name, line);
	}
	reply_add_context(r, "run <action> <target> name=value ... · dry-run <request> shows what "
			     "would be sent");
	return T0_OK;
}

/* ---- audit of one request ---- */

struct chain_view {
	struct reply *r;
	int n, bad;
};

static int chain_line(void *arg, const struct audit_row *row)
{
	struct chain_view *cv = arg;
	json_t *d = json_loads(row->detail ? row->detail : "{}", 0, NULL);
	char when[32], lbl[96], text[400], hash[65];
	const char *who = row->user_name ? row->user_name : row->user_id ? row->user_id : "tier0";
	const char *s1 = NULL;

	if (audit_row_hash(row, hash) != T0_OK || strcmp(hash, row->hash) != 0)
		cv->bad++;
	fmt_hm(row->ts_ms, when, sizeof(when));
	snprintf(lbl, sizeof(lbl), "#%lld %s %s", (long long)row->seq, when, row->kind);
	if (!strcmp(row->kind, "action.request"))
		s1 = json_string_value(json_object_get(d, "prompt"));
	else if (!strcmp(row->kind, "action.policy") || !strcmp(row->kind, "action.refused"))
		s1 = json_string_value(json_object_get(d, "reason"));
	else if (!strcmp(row->kind, "action.state") || !strcmp(row->kind, "action.outcome"))
		s1 = json_string_value(json_object_get(d, "why"));
	if (!strcmp(row->kind, "action.state"))
		snprintf(text, sizeof(text), "%s: %s -> %s (%s)", who,
			 json_string_value(json_object_get(d, "from")),
			 json_string_value(json_object_get(d, "to")), s1 ? s1 : "");
	else if (!strcmp(row->kind, "action.approval"))
		snprintf(text, sizeof(text), "%s: %s (%lld of %lld)", who,
			 json_string_value(json_object_get(d, "vote")),
			 (long long)json_integer_value(json_object_get(d, "approvals")),
			 (long long)json_integer_value(json_object_get(d, "needed")));
	else if (!strcmp(row->kind, "action.execute") || !strcmp(row->kind, "action.dry_run"))
		snprintf(text, sizeof(text), "%s %s",
			 json_string_value(json_object_get(json_object_get(d, "request"), "method")),
			 json_string_value(json_object_get(json_object_get(d, "request"), "url")));
	else if (!strcmp(row->kind, "action.response"))
		snprintf(text, sizeof(text), "HTTP %lld %s",
			 (long long)json_integer_value(json_object_get(d, "status")),
			 json_string_value(json_object_get(d, "rc")));
	else
		snprintf(text, sizeof(text), "%s%s%.300s", who, s1 ? ": " : "", s1 ? s1 : "");
	{
		char full[500];

		snprintf(full, sizeof(full), "%s · %.12s", text, row->hash);
		reply_add_field(cv->r, lbl, full);
	}
	cv->n++;
	json_decref(d);
	return 0;
}

static int h_action_audit(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *id = intent_slot(req->m, "request_id");
	const struct action_set *set = b->world->actions;
	struct store_approval a = { 0 };
	struct chain_view cv = { .r = r };
	struct person p;
	const struct action_def *def;
	int allowed = 0, rc;

	reply_set_intent(r, "action_audit");
	person_from_event(b, req->ev, &p);
	rc = store_approval_get(b->store, id ? id : "", &a);
	def = rc == T0_OK ? action_find(set, a.action) : NULL;
	if (set && policy_who_matches(b->world->cat, &set->policy.audit_viewers, &p.pp,
				      a.target ? catalog_get(b->world->cat, a.target) : NULL, NULL, 0))
		allowed = 1;
	if (rc == T0_OK && strcmp(a.requester, p.key) == 0)
		allowed = 1;
	if (rc == T0_OK && def &&
	    policy_who_matches(b->world->cat, &def->approvers, &p.pp,
			       a.target ? catalog_get(b->world->cat, a.target) : NULL, NULL, 0))
		allowed = 1;
	if (rc != T0_OK && rc != T0_ENOTFOUND) {
		store_approval_clear(&a);
		return rc;
	}
	if (!allowed) {
		/* Same answer for "no such request" and "not yours": ids are not probed. */
		reply_set_text(r, "I can't show the audit of %s to you: only its requester, its "
				  "approvers and the audit viewers may see it.", id ? id : "?");
		store_approval_clear(&a);
		return T0_OK;
	}
	reply_add_section(r, NULL, NULL);
	rc = store_audit_request_each(b->store, id, 200, chain_line, &cv);
	if (rc != T0_OK) {
		store_approval_clear(&a);
		return rc;
	}
	if (rc == T0_OK && a.id)
		reply_set_text(r, "Audit of %s: %s%s%s, %s; %d record%s", id, a.action,
			       a.target ? " on " : "", a.target ? a.target : "", a.state, cv.n,
			       cv.n == 1 ? "" : "s");
	else
		reply_set_text(r, "Audit of %s: %d record%s", id, cv.n, cv.n == 1 ? "" : "s");
	reply_add_context(r, "%s", cv.bad ? "WARNING: some records do not match their hash"
					  : "each record matches its hash; check the whole chain "
					    "with tier0 audit verify");
	reply_add_context(r, "export: tier0 audit export --db <store> --request %s", id);
	store_approval_clear(&a);
	return T0_OK;
}

/* ---- buttons ---- */

static int expired_answer(struct bot *b, const struct store_approval *a, struct reply *r)
{
	char when[32];
	char dur[32];

	fmt_hm(a->expires_ms, when, sizeof(when));
	rl_duration_format(a->expires_ms - a->created_ms, dur, sizeof(dur));
	reply_set_text(r,
		       "This request (%s %s%s) expired at %s, %s after it was made, before it was "
		       "decided. Nothing ran. Ask again to start a new request.",
		       a->action, a->target ? "on " : "", a->target ? a->target : "", when, dur);
	reply_add_context(r, "request %s", a->id);
	return T0_OK;
}

static int expire_now(struct bot *b, const struct store_approval *a, const struct actor *actor)
{
	int changed = 0, st = approval_state_parse(a->state);

	if (st != APPROVAL_PENDING && st != APPROVAL_PROPOSED)
		return 0;
	approval_transition(b->store, a->id, st, APPROVAL_EXPIRED, t0_now_ms(), NULL, 0, NULL, actor,
			    a->channel, "no decision before it expired", &changed);
	if (changed)
		store_buttons_retire(b->store, a->id, t0_now_ms());
	return changed;
}

static void remember_message(struct bot *b, const struct store_approval *a, const struct event *ev)
{
	if (ev->message_ref && !a->message_ref)
		store_approval_set_message(b->store, a->id, ev->message_ref);
}

/* Updates the card where it lives (when its message is known) as well as answering the click. */
static void update_in_place(struct bot *b, const char *id, const struct reply *card)
{
	struct store_approval a;

	if (!card || store_approval_get(b->store, id, &a) != T0_OK)
		return;
	if (a.message_ref) {
		struct reply_target to = { .channel = a.channel, .thread = a.thread };

		bot_update(b, a.platform, &to, a.message_ref, card, NULL, NULL);
	}
	store_approval_clear(&a);
}

static int on_confirm(struct actions_rt *rt, const struct handler_req *req,
		      const struct store_approval *a, const char *button, const struct person *p,
		      struct reply *r)
{
	struct bot *b = rt->b;
	const struct action_def *def = action_find(b->world->actions, a->action);
	const struct cat_entity *target = a->target ? catalog_get(b->world->cat, a->target) : NULL;
	struct policy_decision dec;
	json_t *params = json_loads(a->params ? a->params : "{}", 0, NULL);
	const char *env = action_environment(params);
	char head[300], why[300];
	int used = 0, changed = 0, env_needs = 0;
	struct reply *card = NULL;

	if (strcmp(a->requester, p->key) != 0) {
		reply_set_text(r, "Only the person it was proposed for can request it; you can ask "
				  "for it yourself.");
		json_decref(params);
		return T0_OK;
	}
	if (!def) {
		json_decref(params);
		reply_set_text(r, "The action %s is no longer configured.", a->action);
		return T0_OK;
	}
	for (size_t i = 0; env && i < b->world->actions->policy.napproval_envs; i++)
		if (strcasecmp(env, b->world->actions->policy.approval_envs[i]) == 0)
			env_needs = 1;
	json_decref(params);
	policy_decide_request(b->world->cat, &def->requesters, def->risk, def->approvals, env_needs,
			      &p->pp, target, &dec);
	if (!dec.allowed) {
		reply_set_text(r, "You can't request %s: %s.", def->name, dec.reason);
		return T0_OK;
	}
	if (store_button_use(b->store, button, p->key, t0_now_ms(), &used) != T0_OK || !used) {
		reply_set_text(r, "That button was used already.");
		return T0_OK;
	}
	if (dec.approvals == 0) {
		approval_transition(b->store, a->id, APPROVAL_PROPOSED, APPROVAL_APPROVED, t0_now_ms(),
				    "policy", t0_now_ms(), NULL,
				    &p->actor, a->channel, "confirmed; low risk needs no approval",
				    &changed);
		if (!changed) {
			reply_set_text(r, "This request changed meanwhile; nothing was done.");
			return T0_OK;
		}
		if (execute(rt, a->id, why, sizeof(why)) == T0_OK)
			snprintf(head, sizeof(head), "Running %s (confirmed by %s; no approval needed).",
				 def->name, p->name);
		else
			snprintf(head, sizeof(head), "Not run: %s.", why);
		card = card_for(b, a->id, head, NULL, 0);
	} else {
		static const char *const choices[] = { "approve", "deny", "cancel" };

		approval_transition(b->store, a->id, APPROVAL_PROPOSED, APPROVAL_PENDING, t0_now_ms(),
				    NULL, t0_now_ms(), NULL, &p->actor, a->channel,
				    "confirmed by the requester; waiting for approval", &changed);
		if (!changed) {
			reply_set_text(r, "This request changed meanwhile; nothing was done.");
			return T0_OK;
		}
		snprintf(head, sizeof(head), "%s requests %s%s%s: needs %d approval%s from someone else.",
			 p->name, def->name, target ? " on " : "", target ? target->name : "",
			 dec.approvals, dec.approvals == 1 ? "" : "s");
		card = card_for(b, a->id, head, choices, 3);
	}
	update_in_place(b, a->id, card);
	reply_take(r, card);
	return T0_OK;
}

static int h_approval(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const struct event *ev = req->ev;
	const char *choice_wanted = ev->action_id + strlen("approval.");
	struct actions_rt *rt = rt_get(b);
	struct store_approval a = { 0 };
	struct person p;
	const struct action_def *def;
	char approval_id[APPROVAL_ID_LEN + 8], choice[16], why[300], head[400];
	int used = 0, rc, state, result = 0, approvals = 0;
	struct reply *card = NULL;

	reply_set_intent(r, ev->action_id);
	if (!rt)
		return T0_ENOMEM;
	rc = ev->value ? store_button_get(b->store, ev->value, approval_id, sizeof(approval_id),
					  choice, sizeof(choice), &used)
		       : T0_ENOTFOUND;
	if (rc == T0_ENOTFOUND || (rc == T0_OK && strcmp(choice, choice_wanted) != 0)) {
		reply_set_text(r, "That button is not valid (any more).");
		return T0_OK;
	}
	if (rc != T0_OK)
		return rc;
	rc = store_approval_get(b->store, approval_id, &a);
	if (rc != T0_OK)
		return rc == T0_ENOTFOUND ? (reply_set_text(r, "That request is gone."), T0_OK) : rc;
	person_from_event(b, ev, &p);
	remember_message(b, &a, ev);
	state = approval_state_parse(a.state);
	if ((state == APPROVAL_PENDING || state == APPROVAL_PROPOSED) &&
	    a.expires_ms <= t0_now_ms()) {
		expire_now(b, &a, &p.actor);
		state = APPROVAL_EXPIRED;
	}
	if (state == APPROVAL_EXPIRED) {
		expired_answer(b, &a, r);
		goto out;
	}
	if (used && (state == APPROVAL_PENDING || state == APPROVAL_PROPOSED)) {
		reply_set_text(r, "That button was used already; use the latest message of %s.",
			       a.id);
		goto out;
	}
	if (state != APPROVAL_PENDING && state != APPROVAL_PROPOSED) {
		reply_set_text(r, "Request %s is %s already%s%s; nothing to decide.", a.id, a.state,
			       a.decided_by ? " (by " : "",
			       a.decided_by ? key_name(b, a.decided_by) : "");
		if (a.decided_by)
			reply_set_text(r, "Request %s is %s already (by %s); nothing to decide.",
				       a.id, a.state, key_name(b, a.decided_by));
		goto out;
	}
	def = action_find(b->world->actions, a.action);
	if (!strcmp(choice, "confirm")) {
		if (state != APPROVAL_PROPOSED) {
			reply_set_text(r, "Request %s is %s; nothing to confirm.", a.id, a.state);
			goto out;
		}
		rc = on_confirm(rt, req, &a, ev->value, &p, r);
		goto out;
	}
	if (!strcmp(choice, "cancel")) {
		int changed = 0;

		if (strcmp(a.requester, p.key) != 0) {
			reply_set_text(r, "Only the requester can cancel; approvers can deny.");
			goto out;
		}
		if (store_button_use(b->store, ev->value, p.key, t0_now_ms(), &used) != T0_OK ||
		    !used) {
			reply_set_text(r, "That button was used already.");
			goto out;
		}
		approval_transition(b->store, a.id, state, APPROVAL_CANCELLED, t0_now_ms(), p.key, 0,
				    NULL, &p.actor, a.channel, "cancelled by the requester", &changed);
		snprintf(head, sizeof(head), "%s cancelled %s. Nothing ran.", p.name, a.action);
		card = card_for(b, a.id, changed ? head : "This request changed meanwhile.", NULL, 0);
		update_in_place(b, a.id, card);
		reply_take(r, card);
		goto out;
	}
	/* approve or deny */
	if (state != APPROVAL_PENDING) {
		reply_set_text(r, "Request %s is %s; the requester has to confirm it first.", a.id,
			       a.state);
		goto out;
	}
	if (!def) {
		reply_set_text(r, "The action %s is no longer configured; it cannot be approved.",
			       a.action);
		goto out;
	}
	{
		json_t *detail = json_loads(a.detail ? a.detail : "{}", 0, NULL);
		const char *remail = json_string_value(
			json_object_get(json_object_get(detail, "requester"), "email"));

		rc = policy_check_approver(b->world->cat, &def->approvers, a.requester, remail, &p.pp,
					   a.target ? catalog_get(b->world->cat, a.target) : NULL,
					   why, sizeof(why));
		json_decref(detail);
	}
	if (rc != T0_OK) {
		json_t *d = json_pack("{s:s,s:s,s:s}", "approver", p.key, "vote", choice, "refused", why);

		approval_audit(b->store, &p.actor, ev->channel, "action.approval_refused", a.id, d);
		json_decref(d);
		reply_set_text(r, "You can't %s this: %s.", choice, why);
		reply_add_context(r, "request %s", a.id);
		metrics_counter_add("tier0_actions_votes_total", "vote=\"refused\"", 1);
		rc = T0_OK;
		goto out;
	}
	rc = approval_vote(b->store, a.id, ev->value, p.key, !strcmp(choice, "approve"), t0_now_ms(),
			   &p.actor, ev->channel, &result, &approvals);
	if (rc != T0_OK)
		goto out;
	switch (result) {
	case APPROVAL_VOTE_DUPLICATE:
		reply_set_text(r, "You have voted on %s already; it needs someone else now.", a.id);
		goto out;
	case APPROVAL_VOTE_BUTTON_USED:
		reply_set_text(r, "That button was used already; use the latest message of %s.",
			       a.id);
		goto out;
	case APPROVAL_VOTE_EXPIRED:
		expired_answer(b, &a, r);
		goto out;
	case APPROVAL_VOTE_NOT_PENDING:
		reply_set_text(r, "Request %s was decided meanwhile; your vote was not needed.", a.id);
		goto out;
	case APPROVAL_VOTE_DENIED:
		metrics_counter_add("tier0_actions_votes_total", "vote=\"deny\"", 1);
		snprintf(head, sizeof(head), "Denied by %s. %s did not run.", p.name, a.action);
		card = card_for(b, a.id, head, NULL, 0);
		break;
	case APPROVAL_VOTE_APPROVED:
		metrics_counter_add("tier0_actions_votes_total", "vote=\"approve\"", 1);
		if (execute(rt, a.id, why, sizeof(why)) == T0_OK)
			snprintf(head, sizeof(head), "Approved by %s. Running %s now.", p.name,
				 a.action);
		else
			snprintf(head, sizeof(head), "Approved by %s, but not run: %s.", p.name, why);
		card = card_for(b, a.id, head, NULL, 0);
		break;
	default: {
		static const char *const choices[] = { "approve", "deny", "cancel" };

		metrics_counter_add("tier0_actions_votes_total", "vote=\"approve\"", 1);
		snprintf(head, sizeof(head), "Approved by %s (%d of %d). It needs %d more, from "
			 "someone else.", p.name, approvals, a.needed, a.needed - approvals);
		card = card_for(b, a.id, head, choices, 3);
		break;
	}
	}
	update_in_place(b, a.id, card);
	reply_take(r, card);
out:
	store_approval_clear(&a);
	return rc == T0_OK || rc == T0_EDENIED ? T0_OK : rc;
}

/* ---- proposals: the LLM and suggestion buttons ---- */

static int propose(struct bot *b, const struct event *ev, const char *action, const char *target,
		   const json_t *params, const json_t *interpretation, int origin,
		   const struct handler_req *req, struct reply *r, char *request_id, size_t idlen)
{
	struct req_ctx *c;
	int rc;

	if (!b || !ev || !action || !r)
		return T0_EINVAL;
	c = req_new(b, ev, action, target, params, origin, 0);
	if (!c)
		return T0_ENOMEM;
	if (interpretation)
		c->interpretation = json_deep_copy(interpretation);
	if (request_id && idlen)
		snprintf(request_id, idlen, "%s", c->job.id);
	rc = req_run(c, req, r);
	return rc;
}

int action_propose(struct bot *b, const struct event *ev, const char *action, const char *target,
		   const json_t *params, const json_t *tool_call, struct reply *r,
		   char *request_id, size_t idlen)
{
	json_t *interp = json_pack("{s:s,s:O?}", "understood_by", "llm", "tool_call", tool_call);
	int rc = propose(b, ev, action, target, params, interp, ORIGIN_LLM, NULL, r, request_id,
			 idlen);

	json_decref(interp);
	return rc;
}

static int h_propose_button(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *v = req->ev->value ? req->ev->value : "";
	const char *colon = strchr(v, ':');
	char action[80];
	json_t *interp;
	int rc;

	reply_set_intent(r, ACTION_PROPOSE_BUTTON);
	if (!*v || (colon && (size_t)(colon - v) >= sizeof(action)) ||
	    (!colon && strlen(v) >= sizeof(action))) {
		reply_set_text(r, "That suggestion is not valid.");
		return T0_OK;
	}
	snprintf(action, sizeof(action), "%.*s", colon ? (int)(colon - v) : (int)strlen(v), v);
	interp = json_pack("{s:s,s:s}", "understood_by", "suggestion-button", "value", v);
	rc = propose(b, req->ev, action, colon && colon[1] ? colon + 1 : NULL, NULL, interp,
		     ORIGIN_SUGGESTION, req, r, NULL, 0);
	json_decref(interp);
	return rc == T0_OK || rc == T0_EDENIED || rc == T0_ENOTFOUND || rc == T0_EINVAL ||
			       rc == T0_ERATELIMIT
		       ? T0_OK
		       : rc;
}

int actions_agent_propose(struct bot *b, const struct agent_proposal *p, struct reply *card,
			  char *why, size_t whylen)
{
	json_t *call;
	int rc;

	if (!b || !p || !card)
		return T0_EINVAL;
	/* The tool call as the model made it is the interpretation in the audit chain. */
	call = json_pack("{s:s,s:s?,s:s?,s:O?,s:s?}", "tool", "propose_action", "action", p->action,
			 "service", p->service, "params", p->params, "reason", p->reason);
	rc = action_propose(b, p->ev, p->action ? p->action : "", p->service, p->params, call, card,
			    NULL, 0);
	json_decref(call);
	if (why && whylen)
		snprintf(why, whylen, "%s", card->text ? card->text : t0_rc_str(rc));
	/* Limits and unknown names are refusals the person should hear about, like policy. */
	if (rc == T0_ERATELIMIT || rc == T0_ENOTFOUND || rc == T0_EINVAL)
		rc = T0_EDENIED;
	return rc;
}

int actions_register_handlers(void)
{
	int rc = handler_register(INTENT_ACTION, h_action);

	if (rc == T0_OK)
		rc = handler_register(INTENT_ACTION_DRYRUN, h_action_dry_run);
	if (rc == T0_OK)
		rc = handler_register(INTENT_ACTION_AUDIT, h_action_audit);
	if (rc == T0_OK)
		rc = handler_register(INTENT_ACTIONS_LIST, h_actions_list);
	if (rc == T0_OK)
		rc = handler_register_action("approval.", h_approval);
	if (rc == T0_OK)
		rc = handler_register_action(ACTION_PROPOSE_BUTTON, h_propose_button);
	/* The LLM agent's propose_action tool lands here (bot/agent.h). */
	if (rc == T0_OK)
		agent_set_propose_fn(actions_agent_propose);
	return rc;
}

/* ---- the sweep: expiries and interrupted executions ---- */

struct sweep_ctx {
	struct actions_rt *rt;
	int changed;
	int64_t now;
};

static int sweep_expire(void *arg, const struct store_approval *a)
{
	struct sweep_ctx *sc = arg;

	if (expire_now(sc->rt->b, a, NULL)) {
		char head[300];

		sc->changed++;
		snprintf(head, sizeof(head), "Expired: %s %s%s was not decided in time. Nothing ran.",
			 a->action, a->target ? "on " : "", a->target ? a->target : "");
		notify(sc->rt->b, a->id, head);
	}
	return 0;
}

static int sweep_stale(void *arg, const struct store_approval *a)
{
	struct sweep_ctx *sc = arg;
	const struct action_def *def = action_find(sc->rt->b->world->actions, a->action);
	int64_t limit = (def ? def->timeout_ms : ACTION_DEFAULT_TIMEOUT_MS) + STALE_MARGIN_MS;
	int from = approval_state_parse(a->state), changed = 0;
	const char *why = from == APPROVAL_EXECUTING
				  ? "interrupted: tier0 stopped while it ran (outcome unknown; check "
				    "the target)"
				  : "approved but never started (tier0 stopped); ask again";

	if (a->updated_ms + limit > sc->now || job_running(sc->rt, a->id))
		return 0;
	approval_transition(sc->rt->b->store, a->id, from, APPROVAL_FAILED, sc->now, NULL, 0, NULL,
			    NULL, a->channel, why, &changed);
	if (changed) {
		json_t *res = json_pack("{s:s}", "why", why);
		char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
		char head[300];

		store_approval_set_result(sc->rt->b->store, a->id, text, sc->now);
		approval_audit(sc->rt->b->store, NULL, a->channel, "action.outcome", a->id, res);
		free(text);
		json_decref(res);
		sc->changed++;
		snprintf(head, sizeof(head), "Failed: %s %s.", a->action, why);
		notify(sc->rt->b, a->id, head);
	}
	return 0;
}

int actions_sweep(struct bot *b)
{
	struct actions_rt *rt = rt_get(b);
	struct sweep_ctx sc = { .rt = rt, .now = t0_now_ms() };

	if (!rt)
		return 0;
	store_approval_each(b->store, "pending", sc.now, 0, SWEEP_BATCH, sweep_expire, &sc);
	store_approval_each(b->store, "proposed", sc.now, 0, SWEEP_BATCH, sweep_expire, &sc);
	store_approval_each(b->store, "executing", 0, sc.now - STALE_MARGIN_MS, SWEEP_BATCH,
			    sweep_stale, &sc);
	store_approval_each(b->store, "approved", 0, sc.now - STALE_MARGIN_MS, SWEEP_BATCH,
			    sweep_stale, &sc);
	if (sc.changed)
		log_info("actions", "swept", "changed=%d", sc.changed);
	return sc.changed;
}

/* ---- the adapter: registration and the periodic sweep ---- */

struct actions_adapter {
	struct bot *bot;
	uv_timer_t timer;
	int timer_on;
};

static int actions_configured(const struct config *cfg)
{
	return cfg && json_array_size(cfg->actions) > 0;
}

static int actions_init(const struct adapter_ctx *ctx, void **state)
{
	struct actions_adapter *aa = calloc(1, sizeof(*aa));
	int rc;

	if (!aa)
		return T0_ENOMEM;
	rc = actions_register_handlers();
	if (rc != T0_OK || !rt_get(ctx->bot)) {
		free(aa);
		return rc != T0_OK ? rc : T0_ENOMEM;
	}
	aa->bot = ctx->bot;
	if (ctx->uv && uv_timer_init(ctx->uv, &aa->timer) == 0) {
		aa->timer.data = aa;
		aa->timer_on = 1;
	}
	*state = aa;
	return T0_OK;
}

static void on_sweep(uv_timer_t *t)
{
	struct actions_adapter *aa = t->data;

	actions_sweep(aa->bot);
}

static int actions_start(void *state)
{
	struct actions_adapter *aa = state;

	/* The first sweep settles what a previous run left (expired, interrupted). */
	actions_sweep(aa->bot);
	if (aa->timer_on)
		uv_timer_start(&aa->timer, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
	return T0_OK;
}

static void actions_stop(void *state)
{
	struct actions_adapter *aa = state;

	if (aa->timer_on) {
		uv_timer_stop(&aa->timer);
		uv_close((uv_handle_t *)&aa->timer, NULL);
		aa->timer_on = 0;
	}
}

static void actions_free(void *state)
{
	struct actions_adapter *aa = state;

	if (!aa)
		return;
	/* stop() closed the timer and the loop ran its close before free is called. */
	actions_detach(aa->bot);
	free(aa);
}

const struct adapter_ops actions_ops = {
	.name = "actions",
	.kind = ADAPTER_SOURCE,
	.configured = actions_configured,
	.init = actions_init,
	.start = actions_start,
	.stop = actions_stop,
	.free = actions_free,
};
