/*
 * Intents of the incident module: "incident <number|service>" (the card,
 * re-rendered with a fresh context), "deploys <service> [since]" / "what
 * changed in <service> in the last 6h", and the test intent "simulate alert
 * <service> [alert]". Also answers suggested-action buttons until an actions
 * module takes them over.
 */
#include "bot/incident_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/handlers.h"
#include "bot/log.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"
#include "store/store.h"

#define DEFAULT_SINCE_MS (24LL * 3600 * 1000)

/* ---- helpers ---- */

/* The catalog entity for what was typed: exact, else a name that starts with it. */
static struct cat_entity *find_service(struct bot *b, const char *name)
{
	struct cat_entity *e = catalog_find(b->world->cat, name);
	const struct cat_entity *near;

	if (e || !name || strlen(name) < 3)
		return e;
	near = catalog_suggest(b->world->cat, name);
	if (near && strncasecmp(near->name, name, strlen(name)) == 0)
		return catalog_find(b->world->cat, near->name);
	return NULL;
}

static void not_known(struct bot *b, const char *name, struct reply *r)
{
	const struct cat_entity *near = catalog_suggest(b->world->cat, name);

	if (near)
		reply_set_text(r, "I don't know \"%s\", and no incident has that number. Did you mean "
				  "%s?",
			       name, near->name);
	else
		reply_set_text(r, "I don't know \"%s\", and no incident has that number.", name);
}

/* A context without any source: every known source shown as not configured. */
static json_t *local_ctx(const char *service)
{
	json_t *ctx = json_object(), *sources = json_array();

	for (size_t i = 0; i < INC_ASM_NAMES && sources; i++)
		json_array_append_new(sources, json_pack("{ss ss ss}", "name",
							 incident_known_sources[i], "status",
							 "not configured", "msg", ""));
	json_object_set_new(ctx, "service", json_string(service ? service : ""));
	json_object_set_new(ctx, "sources", sources);
	return ctx;
}

/* "6 hours" -> "6h" for audit_parse_since; times and dates are kept. */
static int since_parse(const char *s, int64_t now, int64_t *out)
{
	char buf[64];
	size_t n = 0;
	const char *unit;

	if (!s || !*s) {
		*out = now - DEFAULT_SINCE_MS;
		return T0_OK;
	}
	if (audit_parse_since(s, now, out) == T0_OK)
		return T0_OK;
	while (isdigit((unsigned char)*s) && n + 2 < sizeof(buf))
		buf[n++] = *s++;
	while (*s == ' ')
		s++;
	if (!n)
		return T0_EINVAL;
	unit = s;
	if (strncasecmp(unit, "w", 1) == 0)
		buf[n++] = 'w';
	else if (strncasecmp(unit, "d", 1) == 0)
		buf[n++] = 'd';
	else if (strncasecmp(unit, "h", 1) == 0)
		buf[n++] = 'h';
	else if (strncasecmp(unit, "m", 1) == 0)
		buf[n++] = 'm';
	else if (strncasecmp(unit, "s", 1) == 0)
		buf[n++] = 's';
	else
		return T0_EINVAL;
	buf[n] = '\0';
	return audit_parse_since(buf, now, out);
}

/* ---- incident <number|service> ---- */

struct show {
	struct bot_pending *p;
	struct incident_mgr *m;
	int64_t id;
	char *service;
};

static void show_done(void *arg, json_t *ctx)
{
	struct show *s = arg;
	struct bot *b = incident_mgr_bot(s->m);
	struct store_incident inc = { 0 };
	struct reply *r = NULL;

	if (s->id && store_incident_get(b->store, s->id, &inc) == T0_OK) {
		if (ctx) {
			json_t *patch;
			char *text;

			incident_ctx_actions(b, ctx, inc.id, inc.title);
			patch = json_pack("{sO}", "context", ctx);
			text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
			/* The next event's card update uses this fresher context. */
			if (!text || store_incident_patch_detail(b->store, inc.id, text) != T0_OK)
				log_warn("incident", "context_not_saved", "incident=%lld",
					 (long long)inc.id);
			free(text);
			json_decref(patch);
		}
		r = incident_card(b, &inc, ctx);
	} else {
		if (ctx)
			incident_ctx_actions(b, ctx, 0, NULL);
		r = incident_card(b, NULL, ctx);
	}
	store_incident_clear(&inc);
	json_decref(ctx);
	bot_pending_finish(s->p, r);
	free(s->service);
	free(s);
}

static int find_incident(struct bot *b, const char *target, struct store_incident *out)
{
	static const char *const sources[] = { "pagerduty", "alertmanager", "simulated" };
	const char *num = target[0] == '#' ? target + 1 : target;
	char *end = NULL;
	long long id;

	if (isdigit((unsigned char)*num)) {
		id = strtoll(num, &end, 10);
		if (end && !*end && store_incident_get(b->store, id, out) == T0_OK)
			return T0_OK;
	}
	for (size_t i = 0; i < T0_ARRAY_LEN(sources); i++)
		if (store_incident_find(b->store, sources[i], target, out) == T0_OK)
			return T0_OK;
	return T0_ENOTFOUND;
}

static int h_incident(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *target = intent_slot(req->m, "target");
	struct incident_mgr *m = incident_mgr_current();
	struct store_incident inc = { 0 };
	struct cat_entity *e = NULL;
	const char *service = NULL;
	struct show *s;
	int rc;

	if (!target || !*target) {
		reply_set_text(r, "Which incident? For example: /tier0 incident payment-api");
		return T0_OK;
	}
	if (find_incident(b, target, &inc) != T0_OK) {
		e = find_service(b, target);
		if (e && store_incident_latest(b->store, e->name, 1, &inc) != T0_OK)
			store_incident_clear(&inc);
		if (!e && !(m && (incident_mgr_roles(m) & INC_SRC_CATALOG))) {
			not_known(b, target, r);
			return T0_OK;
		}
		service = e ? e->name : target;
	} else {
		service = inc.service;
	}
	if (!m || !bot_pending_available(req)) {
		/*
		 * No incidents section, or a caller that cannot wait (the LLM agent's
		 * tools): the local and stored data only.
		 */
		json_t *ctx = local_ctx(service);
		struct reply *card;

		incident_ctx_actions(b, ctx, inc.id, inc.id ? inc.title : NULL);
		card = incident_card(b, inc.id ? &inc : NULL, ctx);
		json_decref(ctx);
		store_incident_clear(&inc);
		if (!card)
			return T0_ENOMEM;
		/* The handler fills r: move the card's content over. */
		*r = *card;
		free(card);
		return T0_OK;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->service = strdup(service ? service : target))) {
		free(s);
		store_incident_clear(&inc);
		return T0_ENOMEM;
	}
	s->m = m;
	s->id = inc.id;
	{
		json_t *detail = inc.detail ? json_loads(inc.detail, 0, NULL) : NULL;
		struct inc_asm_req ar = {
			.service = s->service,
			.pd_service_id = json_string_value(json_object_get(detail, "pd_service_id")),
			.pd_escalation_policy_id = json_string_value(
				json_object_get(detail, "pd_escalation_policy_id")),
			.pd_incident_id = inc.source && strcmp(inc.source, "pagerduty") == 0
						  ? inc.external_id : NULL,
			.title = inc.title,
			.alert_ms = inc.id ? inc.created_ms : t0_now_ms(),
			.roles = INC_SRC_ONCALL | INC_SRC_CATALOG | INC_SRC_DEPLOYS,
		};

		s->p = bot_pending_take(req);
		rc = s->p ? incident_asm_start(m, &ar, show_done, s) : T0_EINVAL;
		json_decref(detail);
	}
	store_incident_clear(&inc);
	if (rc != T0_OK) {
		int taken = s->p != NULL;

		if (taken)
			bot_pending_finish(s->p, NULL);
		free(s->service);
		free(s);
		return taken ? T0_OK : rc;
	}
	return T0_OK;
}

/* ---- deploys <service> [since] ---- */

struct deploys {
	struct bot_pending *p;
	struct bot *b;
	char *service, *asked;
	int64_t since_ms;
};

static void deploys_done(void *arg, json_t *ctx)
{
	struct deploys *d = arg;
	struct reply *r = reply_new();
	json_t *sources = json_array(), *s;
	size_t i;

	/* Only the deployment sources matter to this answer. */
	json_array_foreach(json_object_get(ctx, "sources"), i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));

		if (name && strcmp(name, "Backstage") != 0 && strcmp(name, "PagerDuty") != 0)
			json_array_append(sources, s);
	}
	/* Backstage may have resolved what was typed to a catalog name: the store uses that. */
	const char *resolved = json_string_value(json_object_get(ctx, "service"));

	if (r)
		incident_deploys_answer(d->b, resolved && *resolved ? resolved : d->service, d->asked,
					d->since_ms, sources, r);
	json_decref(sources);
	json_decref(ctx);
	bot_pending_finish(d->p, r);
	free(d->service);
	free(d->asked);
	free(d);
}

static int h_deploys(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *name = intent_slot(req->m, "service");
	const char *since_s = intent_slot(req->m, "since");
	struct incident_mgr *m = incident_mgr_current();
	struct cat_entity *e;
	struct deploys *d;
	int64_t since;
	int rc;

	if (!name || !*name) {
		reply_set_text(r, "Deployments of which service? For example: deploys payment-api 6h");
		return T0_OK;
	}
	if (since_parse(since_s, t0_now_ms(), &since) != T0_OK) {
		reply_set_text(r, "I can't read \"%s\" as a time: try 6h, 2d, 2026-11-26 or "
				  "2026-11-26T08:00:00Z.",
			       since_s);
		return T0_OK;
	}
	e = find_service(b, name);
	/* Stored deployments only when no source is configured or the caller cannot wait. */
	if (!m || !(incident_mgr_roles(m) & INC_SRC_DEPLOYS) || !bot_pending_available(req)) {
		json_t *ctx = local_ctx(e ? e->name : name), *sources = json_array(), *s;
		size_t i;

		json_array_foreach(json_object_get(ctx, "sources"), i, s) {
			const char *sn = json_string_value(json_object_get(s, "name"));

			if (strcmp(sn, "GitHub") == 0 || strcmp(sn, "Argo CD") == 0)
				json_array_append(sources, s);
		}
		rc = incident_deploys_answer(b, e ? e->name : name,
					     e && strcasecmp(e->name, name) ? name : NULL, since,
					     sources, r);
		json_decref(sources);
		json_decref(ctx);
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return T0_ENOMEM;
	d->b = b;
	d->since_ms = since;
	d->service = strdup(e ? e->name : name);
	d->asked = e && strcasecmp(e->name, name) ? strdup(name) : NULL;
	if (!d->service) {
		free(d->asked);
		free(d);
		return T0_ENOMEM;
	}
	{
		struct inc_asm_req ar = {
			.service = d->service,
			.alert_ms = t0_now_ms(),
			.since_ms = since,
			.roles = INC_SRC_DEPLOYS | INC_SRC_CATALOG,
		};

		d->p = bot_pending_take(req);
		rc = d->p ? incident_asm_start(m, &ar, deploys_done, d) : T0_EINVAL;
	}
	if (rc != T0_OK) {
		if (d->p)
			bot_pending_finish(d->p, NULL);
		free(d->service);
		free(d->asked);
		free(d);
	}
	return T0_OK;
}

/* ---- simulate alert <service> [alert] ---- */

struct sim {
	struct bot_pending *p;
	char *service, *alert;
};

static void sim_posted(void *arg, int rc, const char *channel)
{
	struct sim *s = arg;
	struct reply *r = reply_new();

	if (r && rc == T0_OK)
		reply_set_text(r, "Simulated alert %s on %s: the incident card went to %s. This was "
				  "a test: nobody was paged.",
			       s->alert, s->service, channel ? channel : "the channel");
	else if (r && rc == T0_ENOTFOUND)
		reply_set_text(r, "Simulated alert %s on %s was stored, but no channel is known for "
				  "it: set incidents.default_channel, or a %s annotation on the service "
				  "or its owner.",
			       s->alert, s->service, INCIDENT_SLACK_ANNOTATION);
	else if (r)
		reply_set_text(r, "Simulated alert %s on %s was stored, but its card could not be "
				  "posted (%s).",
			       s->alert, s->service, t0_rc_str(rc));
	if (r)
		reply_set_intent(r, INTENT_SIMULATE_ALERT);
	bot_pending_finish(s->p, r);
	free(s->service);
	free(s->alert);
	free(s);
}

static int h_simulate(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *name = intent_slot(req->m, "service");
	const char *alert = intent_slot(req->m, "alert");
	struct incident_mgr *m = incident_mgr_current();
	struct cat_entity *e;
	struct sim *s;
	char ext[96], title[300];
	int64_t count = 0;
	int rc;

	if (!m) {
		reply_set_text(r, "Incident intake is not configured: add an incidents: section to "
				  "the configuration.");
		return T0_OK;
	}
	if (!name || !*name) {
		reply_set_text(r, "Simulate an alert on which service? For example: simulate alert "
				  "payment-api HighErrorRate");
		return T0_OK;
	}
	e = find_service(b, name);
	if (!alert || !*alert)
		alert = "HighErrorRate";
	store_incident_count(b->store, &count);
	snprintf(ext, sizeof(ext), "sim-%lld-%lld", (long long)t0_now_ms(), (long long)count + 1);
	snprintf(title, sizeof(title), "[SIMULATED] %s on %s", alert, e ? e->name : name);
	s = calloc(1, sizeof(*s));
	if (!s)
		return T0_ENOMEM;
	s->service = strdup(e ? e->name : name);
	s->alert = strdup(alert);
	if (!s->service || !s->alert) {
		free(s->service);
		free(s->alert);
		free(s);
		return T0_ENOMEM;
	}
	{
		struct incident_alert a = {
			.source = "simulated",
			.external_id = ext,
			.event_id = ext,
			.type = "alert.firing",
			.status = "triggered",
			.title = title,
			.severity = "critical",
			.service = s->service,
			.agent = req->ev->actor.user_id,
			.note = "simulated from chat",
		};

		s->p = bot_pending_take(req);
		rc = s->p ? incident_mgr_wait_posted(m, "simulated", ext, sim_posted, s) : T0_EINVAL;
		if (rc == T0_OK)
			rc = incident_mgr_submit(m, &a);
	}
	if (rc != T0_OK) {
		log_warn("incident", "simulate_failed", "rc=%s", t0_rc_str(rc));
		/* The waiter stays registered and is told at shutdown; answer now. */
		if (s->p) {
			struct reply *err = reply_new();

			if (err)
				reply_set_text(err, "Could not queue the simulated alert (%s).",
					       t0_rc_str(rc));
			bot_pending_finish(s->p, err);
			s->p = NULL;
		}
		return T0_OK;
	}
	return T0_OK;
}

/* ---- suggested-action buttons, until an actions module registers ---- */

static int h_action_fallback(struct bot *b, const struct handler_req *req, struct reply *r)
{
	struct store_incident_action a;

	if (req->ev->value && store_incident_action_get(b->store, req->ev->value, &a) == T0_OK)
		reply_set_text(r, "Actions are not configured on this tier0, so \"%s\"%s%s cannot be "
				  "proposed from here. Follow the runbook%s%s.",
			       a.action, a.service[0] ? " for " : "", a.service,
			       a.runbook[0] ? ": " : "", a.runbook);
	else
		reply_set_text(r, "Actions are not configured on this tier0.");
	r->visibility = REPLY_EPHEMERAL;
	return T0_OK;
}

static int action_fallback_registered;

void incident_intents_register(void)
{
	handler_register(INTENT_INCIDENT, h_incident);
	handler_register(INTENT_DEPLOYS, h_deploys);
	handler_register(INTENT_SIMULATE_ALERT, h_simulate);
	/* The actions module answers these once it is there; never replace it. */
	if (!handler_for_action("action.propose")) {
		handler_register_action("action.", h_action_fallback);
		action_fallback_registered = 1;
	}
}

void incident_intents_unregister(void)
{
	handler_register(INTENT_INCIDENT, NULL);
	handler_register(INTENT_DEPLOYS, NULL);
	handler_register(INTENT_SIMULATE_ALERT, NULL);
	if (action_fallback_registered && handler_for_action("action.propose") == h_action_fallback)
		handler_register_action("action.", NULL);
	action_fallback_registered = 0;
}
