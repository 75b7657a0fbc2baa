/*
 * Context assembly: every registered source is asked at once, each with its
 * own deadline (incidents.source_timeout) inside the overall one
 * (incidents.overall_timeout, counted from the alert's arrival). Whatever
 * has answered by then is the context; the rest is reported as timed out.
 *
 * When the service is not in the catalog yet and a catalog source (Backstage)
 * is configured, the sources that need the entity's annotations (GitHub,
 * Argo CD) start as soon as the catalog source has resolved it.
 */
#include "bot/incident_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define MAX_SLOTS (INCIDENT_MAX_SOURCES + INC_ASM_NAMES)
#define PD_ANNOTATION "pagerduty.com/service-id"

struct inc_asm;

struct slot {
	struct inc_asm *a;
	const struct incident_source *src; /* NULL: a known source that is not configured */
	const char *name;
	int status;
	char msg[160];
	struct incident_src_result *res;
	uint64_t start_ns, done_ns;
	int launched, answered;
};

struct inc_asm {
	struct incident_mgr *m;
	struct bot *b;
	char *service, *pd_sid, *pd_ep, *pd_inc, *title;
	int64_t alert_ms, since_ms;
	uint64_t t0_ns;
	int source_ms, overall_ms;
	struct slot slots[MAX_SLOTS];
	size_t nslots;
	int outstanding, finished, timer_open;
	uv_timer_t timer;
	inc_asm_done done;
	void *arg;
	char *entity; /* resolved catalog name */
	struct inc_asm *prev, *next; /* every assembly not yet finished */
};

static struct inc_asm *running;

/* ---- entity resolution ---- */

/*
 * PagerDuty service id -> entity, cached as a position in the catalog and
 * checked on every hit (a reload may put a new catalog at the same address),
 * so a stale entry costs a scan, never a dangling pointer.
 */
#define PD_CACHE 64
static struct {
	char sid[64];
	size_t idx;
	int valid;
} pd_cache[PD_CACHE];

static size_t pd_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % PD_CACHE;
}

static struct cat_entity *by_pd_service(const struct catalog *cat, const char *sid)
{
	size_t h = pd_hash(sid), n = catalog_count(cat);
	struct cat_entity *e;

	if (pd_cache[h].valid && strcmp(pd_cache[h].sid, sid) == 0 && pd_cache[h].idx < n) {
		const char *v;

		e = catalog_at(cat, pd_cache[h].idx);
		v = catalog_annotation(e, PD_ANNOTATION);
		if (v && strcmp(v, sid) == 0)
			return e;
	}
	for (size_t i = 0; i < n; i++) {
		const char *v;

		e = catalog_at(cat, i);
		v = catalog_annotation(e, PD_ANNOTATION);
		if (v && strcmp(v, sid) == 0) {
			if (strlen(sid) < sizeof(pd_cache[h].sid)) {
				snprintf(pd_cache[h].sid, sizeof(pd_cache[h].sid), "%s", sid);
				pd_cache[h].idx = i;
				pd_cache[h].valid = 1;
			}
			return e;
		}
	}
	return NULL;
}

struct cat_entity *incident_find_entity(struct bot *b, const char *service,
					const char *pd_service_id)
{
	struct cat_entity *e = NULL;

	if (pd_service_id && *pd_service_id)
		e = by_pd_service(b->world->cat, pd_service_id);
	if (!e && service && *service)
		e = catalog_find(b->world->cat, service);
	return e;
}

/* ---- assembly ---- */

static const char *status_word(int st)
{
	switch (st) {
	case INC_SRC_OK:
		return "ok";
	case INC_SRC_NODATA:
		return "no data";
	case INC_SRC_TIMEOUT:
		return "timed out";
	case INC_SRC_FAILED:
		return "failed";
	case INC_SRC_NOT_CONFIGURED:
		return "not configured";
	default:
		return "pending";
	}
}

static void asm_free(struct inc_asm *a)
{
	for (size_t i = 0; i < a->nslots; i++)
		free(a->slots[i].res);
	free(a->service);
	free(a->pd_sid);
	free(a->pd_ep);
	free(a->pd_inc);
	free(a->title);
	free(a->entity);
	free(a);
}

static void on_timer_closed(uv_handle_t *h)
{
	asm_free(h->data);
}

static void asm_release(struct inc_asm *a)
{
	if (!a->finished || a->outstanding > 0)
		return;
	if (a->timer_open) {
		a->timer_open = 0;
		uv_close((uv_handle_t *)&a->timer, on_timer_closed);
		return;
	}
	asm_free(a);
}

static json_t *oncall_json(const struct incident_src_result *r, const char *via)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->noncall; i++) {
		const struct incident_oncall *o = &r->oncall[i];

		json_array_append_new(arr, json_pack("{si ss ss ss sI ss}", "level", o->level,
						     "name", o->name, "email", o->email, "schedule",
						     o->schedule, "until_ms", (json_int_t)o->until_ms,
						     "via", via));
	}
	return arr;
}

static json_t *similar_json(const struct incident_src_result *r)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < r->nsimilar; i++) {
		const struct incident_similar *s = &r->similar[i];

		json_array_append_new(arr, json_pack("{ss ss ss sI}", "title", s->title, "status",
						     s->status, "url", s->url, "created_ms",
						     (json_int_t)s->created_ms));
	}
	return arr;
}

static json_t *build_ctx(struct inc_asm *a)
{
	struct cat_entity *e = a->entity ? catalog_find(a->b->world->cat, a->entity)
					 : incident_find_entity(a->b, a->service, a->pd_sid);
	json_t *ctx = json_object(), *sources = json_array();
	uint64_t now = t0_mono_ns();
	int partial = 0;

	if (!ctx || !sources) {
		json_decref(ctx);
		json_decref(sources);
		return NULL;
	}
	json_object_set_new(ctx, "service", json_string(e ? e->name : a->service ? a->service : ""));
	json_object_set_new(ctx, "entity", e ? json_string(e->ref) : json_null());
	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];
		json_t *o;
		int st = s->status;

		if (s->launched && !s->answered) {
			st = INC_SRC_TIMEOUT;
			snprintf(s->msg, sizeof(s->msg), "no answer within %d ms", a->overall_ms);
		} else if (!s->launched && s->src) {
			st = INC_SRC_NODATA;
			if (!s->msg[0])
				snprintf(s->msg, sizeof(s->msg), "service not in the catalog");
		}
		partial |= st == INC_SRC_TIMEOUT || st == INC_SRC_FAILED;
		o = json_pack("{ss ss ss}", "name", s->name, "status", status_word(st), "msg", s->msg);
		if (o && s->answered)
			json_object_set_new(o, "ms", json_integer((json_int_t)((s->done_ns -
										s->start_ns) /
									       1000000)));
		json_array_append_new(sources, o);
		if (s->answered && s->res && st == INC_SRC_OK && s->res->noncall &&
		    !json_object_get(ctx, "oncall")) {
			json_object_set_new(ctx, "oncall", oncall_json(s->res, s->name));
			json_object_set_new(ctx, "oncall_via", json_string(s->name));
		}
		if (s->answered && s->res && st == INC_SRC_OK && s->res->nsimilar &&
		    !json_object_get(ctx, "similar"))
			json_object_set_new(ctx, "similar", similar_json(s->res));
		if (s->src) {
			char labels[96];

			snprintf(labels, sizeof(labels), "source=\"%s\",result=\"%s\"", s->name,
				 status_word(st));
			metrics_counter_add("tier0_incident_source_lookups_total", labels, 1);
		}
	}
	json_object_set_new(ctx, "sources", sources);
	json_object_set_new(ctx, "partial", json_boolean(partial));
	json_object_set_new(ctx, "elapsed_ms",
			    json_integer((json_int_t)((now - a->t0_ns) / 1000000)));
	json_object_set_new(ctx, "assembled_ms", json_integer(t0_now_ms()));
	return ctx;
}

static void asm_finish(struct inc_asm *a)
{
	json_t *ctx;

	if (a->finished)
		return;
	a->finished = 1;
	if (a->prev)
		a->prev->next = a->next;
	else if (running == a)
		running = a->next;
	if (a->next)
		a->next->prev = a->prev;
	if (a->timer_open)
		uv_timer_stop(&a->timer);
	ctx = build_ctx(a);
	metrics_histogram_observe("tier0_incident_context_seconds", NULL,
				  (double)(t0_mono_ns() - a->t0_ns) / 1e9);
	a->done(a->arg, ctx);
	asm_release(a);
}

static void on_overall(uv_timer_t *t)
{
	struct inc_asm *a = t->data;

	for (size_t i = 0; i < a->nslots; i++)
		if (a->slots[i].launched && !a->slots[i].answered)
			log_warn("incident", "source_timeout", "source=%s service=%s ms=%d",
				 a->slots[i].name, a->service ? a->service : "-", a->overall_ms);
	asm_finish(a);
}

static int all_done(const struct inc_asm *a)
{
	for (size_t i = 0; i < a->nslots; i++) {
		const struct slot *s = &a->slots[i];

		if (s->src && (!s->launched || !s->answered) && s->status == INC_SRC_PENDING)
			return 0;
	}
	return 1;
}

static long remaining_ms(const struct inc_asm *a)
{
	uint64_t el = (t0_mono_ns() - a->t0_ns) / 1000000;
	long left = (long)a->overall_ms - (long)el;

	return left > 1 ? left : 1;
}

static void slot_answer(void *arg, const struct incident_src_result *res);

static void launch(struct inc_asm *a, struct slot *s, const struct cat_entity *e)
{
	struct incident_query q = {
		.service = e ? e->name : a->service,
		.pd_service_id = a->pd_sid,
		.pd_escalation_policy_id = a->pd_ep,
		.pd_incident_id = a->pd_inc,
		.since_ms = a->since_ms ? a->since_ms : a->alert_ms - INC_DEPLOY_WINDOW_MS,
	};
	long left = remaining_ms(a);
	int rc;

	if (e) {
		if (!q.pd_service_id)
			q.pd_service_id = catalog_annotation(e, PD_ANNOTATION);
		q.github_slug = catalog_annotation(e, "github.com/project-slug");
		q.argocd_app = catalog_annotation(e, "argocd/app-name");
		q.argocd_selector = catalog_annotation(e, "argocd/app-selector");
	}
	q.timeout_ms = a->source_ms < left ? a->source_ms : left;
	s->launched = 1;
	s->start_ns = t0_mono_ns();
	a->outstanding++;
	rc = s->src->lookup(s->src->state, &q, slot_answer, s);
	if (rc != T0_OK) {
		a->outstanding--;
		s->answered = 1;
		s->done_ns = t0_mono_ns();
		s->status = INC_SRC_FAILED;
		snprintf(s->msg, sizeof(s->msg), "could not start: %s", t0_rc_str(rc));
	}
}

/* Starts what can start: everything once the entity is known. */
static void launch_ready(struct inc_asm *a)
{
	struct cat_entity *e = a->entity ? catalog_find(a->b->world->cat, a->entity)
					 : incident_find_entity(a->b, a->service, a->pd_sid);
	int catalog_pending = 0;

	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];

		if (s->src && (s->src->roles & INC_SRC_CATALOG) && !s->answered)
			catalog_pending = 1;
	}
	for (size_t i = 0; i < a->nslots; i++) {
		struct slot *s = &a->slots[i];
		int needs_entity;

		if (!s->src || s->launched || s->answered)
			continue;
		needs_entity = (s->src->roles & INC_SRC_DEPLOYS) ||
			       ((s->src->roles & INC_SRC_ONCALL) && !a->pd_sid);
		if (s->src->roles & INC_SRC_CATALOG)
			needs_entity = 0;
		if (needs_entity && !e && catalog_pending)
			continue; /* wait for the catalog source */
		launch(a, s, e);
	}
}

static void slot_answer(void *arg, const struct incident_src_result *res)
{
	struct slot *s = arg;
	struct inc_asm *a = s->a;

	a->outstanding--;
	if (a->finished || s->answered) {
		asm_release(a);
		return;
	}
	s->answered = 1;
	s->done_ns = t0_mono_ns();
	s->status = res ? res->status : INC_SRC_FAILED;
	if (s->status == INC_SRC_PENDING)
		s->status = INC_SRC_FAILED;
	snprintf(s->msg, sizeof(s->msg), "%s", res ? res->msg : "no result");
	if (res) {
		s->res = malloc(sizeof(*s->res));
		if (s->res)
			memcpy(s->res, res, sizeof(*res));
	}
	if ((s->src->roles & INC_SRC_CATALOG) && res && res->status == INC_SRC_OK &&
	    res->entity_name[0] && !a->entity)
		a->entity = strdup(res->entity_name);
	if (!a->finished)
		launch_ready(a);
	if (all_done(a))
		asm_finish(a);
	else
		asm_release(a);
}

static void on_start(uv_timer_t *t)
{
	struct inc_asm *a = t->data;

	/* The overall deadline from here on (the timer was borrowed for this first turn). */
	uv_timer_start(&a->timer, on_overall, (uint64_t)remaining_ms(a), 0);
	launch_ready(a);
	if (all_done(a))
		asm_finish(a);
}

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

int incident_asm_start(struct incident_mgr *m, const struct inc_asm_req *req, inc_asm_done done,
		       void *arg)
{
	const struct incident_source *srcs[INCIDENT_MAX_SOURCES];
	struct inc_asm *a;
	size_t n;

	if (!m || !req || !done)
		return T0_EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return T0_ENOMEM;
	a->m = m;
	a->b = incident_mgr_bot(m);
	a->service = dup_opt(req->service);
	a->pd_sid = dup_opt(req->pd_service_id);
	a->pd_ep = dup_opt(req->pd_escalation_policy_id);
	a->pd_inc = dup_opt(req->pd_incident_id);
	a->title = dup_opt(req->title);
	if ((req->service && !a->service) || (req->pd_service_id && !a->pd_sid) ||
	    (req->pd_escalation_policy_id && !a->pd_ep) || (req->pd_incident_id && !a->pd_inc) ||
	    (req->title && !a->title)) {
		asm_free(a);
		return T0_ENOMEM;
	}
	a->alert_ms = req->alert_ms ? req->alert_ms : t0_now_ms();
	a->t0_ns = req->t0_ns ? req->t0_ns : t0_mono_ns();
	a->since_ms = req->since_ms;
	incident_mgr_timeouts(m, &a->source_ms, &a->overall_ms);
	a->done = done;
	a->arg = arg;

	n = incident_mgr_sources(m, srcs, INCIDENT_MAX_SOURCES);
	for (size_t i = 0; i < n; i++) {
		if (!(srcs[i]->roles & req->roles))
			continue;
		a->slots[a->nslots].a = a;
		a->slots[a->nslots].src = srcs[i];
		a->slots[a->nslots].name = srcs[i]->name;
		a->nslots++;
	}
	/* Known sources that are not configured still get a line on the card. */
	for (size_t k = 0; k < INC_ASM_NAMES; k++) {
		int have = 0;

		for (size_t i = 0; i < n; i++)
			have |= strcmp(srcs[i]->name, incident_known_sources[k]) == 0;
		if (have || a->nslots >= MAX_SLOTS)
			continue;
		a->slots[a->nslots].a = a;
		a->slots[a->nslots].name = incident_known_sources[k];
		a->slots[a->nslots].status = INC_SRC_NOT_CONFIGURED;
		a->nslots++;
	}
	/* Sources start on the next loop turn, so done never runs inside this call. */
	uv_timer_init(loop_uv(incident_mgr_loop(m)), &a->timer);
	a->timer.data = a;
	a->timer_open = 1;
	uv_timer_start(&a->timer, on_start, 0, 0);
	a->next = running;
	if (running)
		running->prev = a;
	running = a;
	return T0_OK;
}

void incident_asm_stop_all(struct incident_mgr *m)
{
	struct inc_asm *a = running, *next;

	for (; a; a = next) {
		next = a->next;
		if (a->m == m)
			asm_finish(a); /* unlinks a; next is still linked */
	}
}
