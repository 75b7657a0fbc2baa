/*
 * Incident cards as platform-neutral replies: what fired, the service and its
 * owner, who is on call, what changed, the blast radius, similar incidents,
 * the runbook's first steps, the timeline and suggested-action buttons. Every
 * card is rendered from the store (incident row, timeline, deployments) and
 * the context snapshot assembled for it, so any event can re-render it.
 */
#include "bot/incident_priv.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/oncall.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "runbooks/runbook.h"
#include "store/store.h"

#define CARD_DEPLOYS 8
#define CARD_BLAST 8
#define CARD_TIMELINE 6
#define CARD_STEPS 3
#define SUMMARY_LINES 40
#define LINE 512

void incident_fmt_time(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static void fmt_hm(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%H:%M", &tm);
}

static const char *label_of(const struct cat_entity *e)
{
	if (e->display_name)
		return e->display_name;
	if (e->title)
		return e->title;
	return e->name;
}

static void upper(const char *s, char *out, size_t len)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < len; i++)
		out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	out[i] = '\0';
}

/* "12 min", "3 h 05 min" */
static void fmt_span(int64_t ms, char *out, size_t len)
{
	int64_t min = ms / 60000;

	if (min < 60)
		snprintf(out, len, "%lld min", (long long)min);
	else
		snprintf(out, len, "%lld h %02lld min", (long long)(min / 60), (long long)(min % 60));
}

/* Appends "fmt" to buf as a new line, within bounds. */
static void line_add(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void line_add(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*pos >= len)
		return;
	if (*pos && *pos + 1 < len)
		buf[(*pos)++] = '\n';
	va_start(ap, fmt);
	w = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (w > 0)
		*pos += (size_t)w < len - *pos ? (size_t)w : len - *pos - 1;
}

/* ---- sections ---- */

static void add_alert(struct reply *r, const struct store_incident *inc, const json_t *detail)
{
	const char *prio = json_string_value(json_object_get(detail, "priority"));
	const char *url = json_string_value(json_object_get(detail, "url"));
	json_int_t alerts = json_integer_value(json_object_get(detail, "alerts"));
	char buf[LINE], when[40];

	reply_add_section(r, "Alert", NULL);
	reply_add_field(r, "What fired", inc->title[0] ? inc->title : "(no title)");
	if (inc->severity || prio) {
		snprintf(buf, sizeof(buf), "%s%s%s", inc->severity ? inc->severity : "",
			 inc->severity && prio ? ", " : "", prio ? prio : "");
		reply_add_field(r, "Severity", buf);
	}
	incident_fmt_time(inc->created_ms, when, sizeof(when));
	snprintf(buf, sizeof(buf), "%s since %s", inc->status, when);
	reply_add_field(r, "Status", buf);
	if (alerts > 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)alerts);
		reply_add_field(r, "Alerts in group", buf);
	}
	snprintf(buf, sizeof(buf), "%s %s%s%s", inc->source, inc->external_id, url ? " " : "",
		 url ? url : "");
	reply_add_field(r, "Source", buf);
}

static void add_service(struct bot *b, struct reply *r, const struct cat_entity *e,
			const char *service)
{
	struct cat_entity *owner;
	const char *chan;
	char buf[LINE];

	if (!e) {
		reply_add_section(r, "Service", NULL);
		snprintf(buf, sizeof(buf), "%s (not in the catalog)", service && *service ? service
											: "unknown");
		reply_add_field(r, "Service", buf);
		return;
	}
	reply_add_section(r, "Service", e->description);
	snprintf(buf, sizeof(buf), "%s (%s)", e->name, e->ref);
	reply_add_field(r, "Service", buf);
	owner = catalog_owner(b->world->cat, e);
	if (owner) {
		snprintf(buf, sizeof(buf), "%s (%s)", label_of(owner), owner->ref);
		reply_add_field(r, "Owner", buf);
		if (owner->email)
			reply_add_field(r, "Contact", owner->email);
	}
	chan = catalog_annotation(e, INCIDENT_SLACK_ANNOTATION);
	if (!chan && owner)
		chan = catalog_annotation(owner, INCIDENT_SLACK_ANNOTATION);
	if (chan)
		reply_add_field(r, "Channel", chan);
}

static void add_oncall(struct bot *b, struct reply *r, const struct cat_entity *e,
		       const json_t *ctx)
{
	const json_t *list = json_object_get(ctx, "oncall"), *o;
	struct oncall_answer oa;
	char label[48], until[40], buf[LINE];
	size_t i;

	if (json_array_size(list)) {
		snprintf(buf, sizeof(buf), "On call (%s)",
			 json_string_value(json_object_get(ctx, "oncall_via")));
		reply_add_section(r, buf, NULL);
		json_array_foreach(list, i, o) {
			const char *email = json_string_value(json_object_get(o, "email"));
			const char *sched = json_string_value(json_object_get(o, "schedule"));
			json_int_t end = json_integer_value(json_object_get(o, "until_ms"));
			size_t pos = 0;

			snprintf(label, sizeof(label), "Level %d",
				 (int)json_integer_value(json_object_get(o, "level")));
			buf[0] = '\0';
			pos = (size_t)snprintf(buf, sizeof(buf), "%s",
					       json_string_value(json_object_get(o, "name")));
			if (email && *email && pos < sizeof(buf))
				pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, " <%s>", email);
			if (end > 0 && pos < sizeof(buf)) {
				incident_fmt_time(end, until, sizeof(until));
				pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, " until %s", until);
			}
			if (sched && *sched && pos < sizeof(buf))
				snprintf(buf + pos, sizeof(buf) - pos, " (%s)", sched);
			reply_add_field(r, label, buf);
		}
		return;
	}
	if (!e || oncall_for_entity(b->world->oncall, b->world->cat, e, t0_now_ms(), &oa) != T0_OK ||
	    !oa.nshifts) {
		reply_add_section(r, "On call", "No on-call schedule covers this service.");
		return;
	}
	snprintf(buf, sizeof(buf), "On call (schedule %s)", oa.schedule);
	reply_add_section(r, buf, NULL);
	for (i = 0; i < oa.nshifts; i++) {
		const struct oncall_shift *s = &oa.shifts[i];
		struct cat_entity *u = catalog_user(b->world->cat, s->user);
		struct cat_entity *next = s->next_user ? catalog_user(b->world->cat, s->next_user)
						       : NULL;

		incident_fmt_time(s->end_ms, until, sizeof(until));
		snprintf(label, sizeof(label), "Level %d", s->level);
		snprintf(buf, sizeof(buf), "%s%s%s%s until %s, then %s",
			 u ? label_of(u) : s->user, u && u->email ? " <" : "",
			 u && u->email ? u->email : "", u && u->email ? ">" : "", until,
			 next ? label_of(next) : s->next_user ? s->next_user : "?");
		reply_add_field(r, label, buf);
	}
}

struct deploy_acc {
	char *buf;
	size_t len, pos;
	int n, suspects;
	int64_t alert_ms;
	int limit;
	int with_date;
};

static int deploy_line(void *arg, const struct store_deployment *d)
{
	struct deploy_acc *acc = arg;
	char when[40], span[32], what[160];
	int suspect = acc->alert_ms && d->created_ms <= acc->alert_ms &&
		      acc->alert_ms - d->created_ms <= INC_DEPLOY_SUSPECT_MS;

	if (acc->n >= acc->limit) {
		acc->n++;
		return 0;
	}
	if (acc->with_date)
		incident_fmt_time(d->created_ms, when, sizeof(when));
	else {
		fmt_hm(d->created_ms, when, sizeof(when));
		strncat(when, " UTC", sizeof(when) - strlen(when) - 1);
	}
	snprintf(what, sizeof(what), "%s%s%s%s", d->version ? d->version : "(unknown version)",
		 d->ref && (!d->version || strcmp(d->ref, d->version)) ? " (" : "",
		 d->ref && (!d->version || strcmp(d->ref, d->version)) ? d->ref : "",
		 d->ref && (!d->version || strcmp(d->ref, d->version)) ? ")" : "");
	line_add(acc->buf, acc->len, &acc->pos, "%s%s %s%s%s by %s via %s%s%s", suspect ? "(!) " : "",
		 when, what, d->environment ? " to " : "", d->environment ? d->environment : "",
		 d->actor ? d->actor : "unknown", d->source, d->status ? ": " : "",
		 d->status ? d->status : "");
	if (suspect) {
		fmt_span(acc->alert_ms - d->created_ms, span, sizeof(span));
		line_add(acc->buf, acc->len, &acc->pos, "    %s before the alert", span);
		acc->suspects++;
	}
	acc->n++;
	return 0;
}

static void add_changes(struct bot *b, struct reply *r, const char *service, int64_t alert_ms)
{
	char buf[4096];
	struct deploy_acc acc = { .buf = buf, .len = sizeof(buf), .alert_ms = alert_ms,
				  .limit = CARD_DEPLOYS };

	buf[0] = '\0';
	if (service && *service)
		store_deployments_since(b->store, service, alert_ms - INC_DEPLOY_WINDOW_MS, 100,
					deploy_line, &acc);
	if (!acc.n) {
		reply_add_section(r, "Recent changes (24 h)",
				  "No deployments recorded in the 24 h before the alert.");
		return;
	}
	if (acc.n > acc.limit)
		line_add(buf, sizeof(buf), &acc.pos, "and %d more", acc.n - acc.limit);
	reply_add_section(r, acc.suspects ? "Recent changes (24 h) - (!) within 2 h before the alert"
					  : "Recent changes (24 h)",
			  buf);
}

static void add_blast(struct bot *b, struct reply *r, const struct cat_entity *e)
{
	struct cat_walk_item *items = NULL;
	size_t n = 0;
	char title[96], val[LINE];

	if (!e || catalog_walk(b->world->cat, e, CAT_WALK_DEPENDENTS, 0, &items, &n) != T0_OK)
		return;
	if (!n) {
		reply_add_section(r, "Blast radius", "Nothing in the catalog depends on it.");
		free(items);
		return;
	}
	snprintf(title, sizeof(title), "Blast radius: %zu dependent%s", n, n == 1 ? "" : "s");
	reply_add_section(r, title, NULL);
	for (size_t i = 0; i < n && i < CARD_BLAST; i++) {
		struct cat_entity *owner = catalog_owner(b->world->cat, items[i].entity);

		snprintf(val, sizeof(val), "%s, owned by %s%s%s", items[i].entity->kind,
			 owner ? label_of(owner) : "nobody", items[i].depth > 1 ? ", via " : "",
			 items[i].depth > 1 && items[i].via ? items[i].via->name : "");
		reply_add_field(r, items[i].entity->name, val);
	}
	if (n > CARD_BLAST) {
		snprintf(val, sizeof(val), "%zu more (ask: what depends on %s)", n - CARD_BLAST,
			 e->name);
		reply_add_field(r, "and", val);
	}
	free(items);
}

struct similar_acc {
	char *buf;
	size_t len, pos;
	int n;
};

static int similar_line(void *arg, const struct store_incident *inc)
{
	struct similar_acc *acc = arg;
	char when[40];

	incident_fmt_time(inc->created_ms, when, sizeof(when));
	line_add(acc->buf, acc->len, &acc->pos, "#%lld %s: %s (%s)", (long long)inc->id, when,
		 inc->title, inc->status);
	return ++acc->n >= INCIDENT_MAX_SIMILAR;
}

static void add_similar(struct bot *b, struct reply *r, const struct store_incident *inc,
			const char *service, const json_t *ctx)
{
	const json_t *list = json_object_get(ctx, "similar"), *o;
	char buf[4096], when[40];
	struct similar_acc acc = { .buf = buf, .len = sizeof(buf) };
	size_t i;
	int64_t now = inc ? inc->created_ms : t0_now_ms();

	buf[0] = '\0';
	if (service && *service)
		store_incident_recent(b->store, service, now - INC_SIMILAR_WINDOW_MS,
				      inc ? inc->id : 0, INCIDENT_MAX_SIMILAR, similar_line, &acc);
	json_array_foreach(list, i, o) {
		const char *url = json_string_value(json_object_get(o, "url"));

		incident_fmt_time(json_integer_value(json_object_get(o, "created_ms")), when,
				  sizeof(when));
		line_add(buf, sizeof(buf), &acc.pos, "%s: %s (%s)%s%s", when,
			 json_string_value(json_object_get(o, "title")),
			 json_string_value(json_object_get(o, "status")), url && *url ? " " : "",
			 url ? url : "");
		acc.n++;
	}
	if (acc.n)
		reply_add_section(r, "Similar incidents (30 days)", buf);
}

static const struct runbook *card_runbook(struct bot *b, const char *service, const char *title)
{
	const struct runbook *found[1];

	if (runbook_match(b->world->runbooks, service, title, found, 1) == 1)
		return found[0];
	return NULL;
}

static void add_runbook(struct bot *b, struct reply *r, const char *service, const char *title)
{
	const struct runbook *rb = card_runbook(b, service, title);
	char head[LINE], buf[2048];
	size_t pos = 0;

	if (!rb)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < rb->nsteps && i < CARD_STEPS; i++)
		line_add(buf, sizeof(buf), &pos, "%zu. %s", i + 1, rb->steps[i]);
	snprintf(head, sizeof(head), "Runbook: %s", rb->title);
	reply_add_section(r, head, pos ? buf : rb->summary);
}

struct tl_acc {
	char lines[CARD_TIMELINE * 3][200];
	size_t n;
};

static int timeline_line(void *arg, const struct store_incident_event *ev)
{
	struct tl_acc *acc = arg;
	json_t *d;
	const char *agent, *note, *kind = ev->kind;
	char hm[16];

	if (strncmp(kind, "message.", 8) == 0 || acc->n >= T0_ARRAY_LEN(acc->lines))
		return 0; /* our own posts are in the store, not worth a line on the card */
	d = json_loads(ev->detail, 0, NULL);
	agent = json_string_value(json_object_get(d, "agent"));
	note = json_string_value(json_object_get(d, "note"));
	if (strncmp(kind, "incident.", 9) == 0)
		kind += 9;
	fmt_hm(ev->ts_ms, hm, sizeof(hm));
	snprintf(acc->lines[acc->n++], sizeof(acc->lines[0]), "%s %s%s%s%s%.120s", hm, kind,
		 agent ? " by " : "", agent ? agent : "", note ? ": " : "", note ? note : "");
	json_decref(d);
	return 0;
}

static void add_timeline(struct bot *b, struct reply *r, const struct store_incident *inc)
{
	struct tl_acc *acc = calloc(1, sizeof(*acc));
	char buf[2048];
	size_t pos = 0;

	if (!acc)
		return;
	buf[0] = '\0';
	store_incident_events(b->store, inc->id, CARD_TIMELINE * 3, timeline_line, acc);
	/* The newest CARD_TIMELINE lines, oldest first. */
	for (size_t i = acc->n > CARD_TIMELINE ? acc->n - CARD_TIMELINE : 0; i < acc->n; i++)
		line_add(buf, sizeof(buf), &pos, "%s", acc->lines[i]);
	if (pos)
		reply_add_section(r, "Timeline (UTC)", buf);
	free(acc);
}

static void add_buttons(struct reply *r, const json_t *ctx)
{
	const json_t *actions = json_object_get(ctx, "actions"), *a;
	size_t i;

	json_array_foreach(actions, i, a) {
		const char *name = json_string_value(json_object_get(a, "name"));
		const char *id = json_string_value(json_object_get(a, "id"));
		char label[96];

		if (!name || !id)
			continue;
		snprintf(label, sizeof(label), "%c%s", name[0] >= 'a' && name[0] <= 'z'
						       ? name[0] - 32 : name[0], name + 1);
		reply_add_button(r, label, "action.propose", id, REPLY_STYLE_DEFAULT, NULL);
	}
}

static void add_sources(struct reply *r, const json_t *ctx)
{
	const json_t *sources = json_object_get(ctx, "sources"), *s;
	char buf[LINE], bad[LINE];
	size_t pos = 0, bpos = 0, i;

	buf[0] = bad[0] = '\0';
	json_array_foreach(sources, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *st = json_string_value(json_object_get(s, "status"));
		const char *msg = json_string_value(json_object_get(s, "msg"));
		int w;

		w = snprintf(buf + pos, sizeof(buf) - pos, "%s%s %s", pos ? ", " : "", name, st);
		if (w > 0 && (size_t)w < sizeof(buf) - pos)
			pos += (size_t)w;
		if (strcmp(st, "timed out") == 0 || strcmp(st, "failed") == 0) {
			w = snprintf(bad + bpos, sizeof(bad) - bpos, "%s%s %s%s%s%s", bpos ? "; " : "",
				     name, st, msg && *msg ? " (" : "", msg ? msg : "",
				     msg && *msg ? ")" : "");
			if (w > 0 && (size_t)w < sizeof(bad) - bpos)
				bpos += (size_t)w;
		}
	}
	if (pos)
		reply_add_context(r, "Sources: %s", buf);
	if (bpos)
		reply_add_context(r, "Partial context: %s", bad);
}

struct reply *incident_card(struct bot *b, const struct store_incident *inc, const json_t *ctx)
{
	struct reply *r = reply_new();
	json_t *detail = inc ? json_loads(inc->detail, 0, NULL) : NULL;
	const char *service = json_string_value(json_object_get(ctx, "service"));
	struct cat_entity *e;
	char st[32];

	if (!r)
		return NULL;
	if (!service || !*service)
		service = inc ? inc->service : NULL;
	e = service ? catalog_find(b->world->cat, service) : NULL;
	if (inc) {
		upper(inc->status, st, sizeof(st));
		reply_set_text(r, "%s: %s - %s%s", st, inc->title[0] ? inc->title : "(no title)",
			       e ? e->name : service ? service : "unknown service",
			       json_is_true(json_object_get(ctx, "partial")) ? " (partial context)"
									    : "");
		add_alert(r, inc, detail);
	} else {
		reply_set_text(r, "Context for %s (no open incident)%s",
			       e ? e->name : service ? service : "unknown service",
			       json_is_true(json_object_get(ctx, "partial")) ? " (partial)" : "");
	}
	add_service(b, r, e, service);
	add_oncall(b, r, e, ctx);
	add_changes(b, r, e ? e->name : service, inc ? inc->created_ms : t0_now_ms());
	add_blast(b, r, e);
	add_similar(b, r, inc, e ? e->name : service, ctx);
	add_runbook(b, r, e ? e->name : service, inc ? inc->title : NULL);
	if (inc)
		add_timeline(b, r, inc);
	add_buttons(r, ctx);
	add_sources(r, ctx);
	if (inc)
		reply_add_context(r, "Incident #%lld - ask \"/tier0 incident %lld\" to show it again",
				  (long long)inc->id, (long long)inc->id);
	reply_set_intent(r, "incident.card");
	json_decref(detail);
	return r;
}

struct reply *incident_summary(struct bot *b, const struct store_incident *incs, size_t n)
{
	struct reply *r = reply_new();
	size_t open = 0;
	char label[96], val[LINE], st[32];

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++)
		open += strcmp(incs[i].status, "resolved") != 0;
	reply_set_text(r, "Alert storm: %zu incidents (%zu open) - one summary instead of %zu "
			  "messages",
		       n, open, n);
	reply_add_section(r, "Incidents", NULL);
	for (size_t i = 0; i < n && i < SUMMARY_LINES; i++) {
		upper(incs[i].status, st, sizeof(st));
		snprintf(label, sizeof(label), "#%lld %s", (long long)incs[i].id,
			 incs[i].service ? incs[i].service : "?");
		snprintf(val, sizeof(val), "%s %s", st, incs[i].title);
		reply_add_field(r, label, val);
	}
	if (n > SUMMARY_LINES)
		reply_add_context(r, "and %zu more", n - SUMMARY_LINES);
	reply_add_context(r, "Ask \"/tier0 incident <number>\" for the full context of one.");
	reply_set_intent(r, "incident.summary");
	return r;
}

char *incident_thread_note(const struct incident_alert *a)
{
	const char *t = a->type, *what = NULL;
	char buf[LINE], hm[16];

	if (!t)
		return NULL;
	if (strcmp(t, "incident.acknowledged") == 0)
		what = "Acknowledged";
	else if (strcmp(t, "incident.unacknowledged") == 0)
		what = "Unacknowledged (back to triggered)";
	else if (strcmp(t, "incident.escalated") == 0)
		what = "Escalated";
	else if (strcmp(t, "incident.reassigned") == 0 || strcmp(t, "incident.delegated") == 0)
		what = "Reassigned";
	else if (strcmp(t, "incident.resolved") == 0 || strcmp(t, "alert.resolved") == 0)
		what = "Resolved";
	else if (strcmp(t, "incident.reopened") == 0)
		what = "Reopened";
	else if (strcmp(t, "incident.priority_updated") == 0)
		what = "Priority changed";
	else if (strcmp(t, "incident.annotated") == 0)
		what = "Note";
	if (!what)
		return NULL;
	fmt_hm(a->occurred_ms ? a->occurred_ms : t0_now_ms(), hm, sizeof(hm));
	snprintf(buf, sizeof(buf), "%s UTC %s%s%s%s%s%s%.300s", hm, what, a->agent ? " by " : "",
		 a->agent ? a->agent : "", a->priority && strcmp(what, "Priority changed") == 0
						   ? " to " : "",
		 a->priority && strcmp(what, "Priority changed") == 0 ? a->priority : "",
		 a->note ? ": " : "", a->note ? a->note : "");
	return strdup(buf);
}

/* Suggested actions of the matching runbook, as opaque single-use ids in the store. */
int incident_ctx_actions(struct bot *b, json_t *ctx, int64_t incident_id, const char *title)
{
	const char *service = json_string_value(json_object_get(ctx, "service"));
	const struct runbook *rb = card_runbook(b, service, title);
	json_t *list;

	if (!rb)
		return T0_OK;
	json_object_set_new(ctx, "runbook", json_pack("{ss ss}", "title", rb->title, "path",
						      rb->path));
	list = json_array();
	if (!list)
		return T0_ENOMEM;
	for (size_t i = 0; i < rb->nactions; i++) {
		struct store_incident_action a = { .incident_id = incident_id,
						   .created_ms = t0_now_ms() };
		unsigned char raw[16];

		if (RAND_bytes(raw, sizeof(raw)) != 1)
			break;
		for (size_t k = 0; k < sizeof(raw); k++)
			snprintf(a.id + 2 * k, 3, "%02x", raw[k]);
		snprintf(a.action, sizeof(a.action), "%s", rb->actions[i]);
		snprintf(a.service, sizeof(a.service), "%s", service ? service : "");
		snprintf(a.runbook, sizeof(a.runbook), "%s", rb->path);
		if (store_incident_action_put(b->store, &a) != T0_OK)
			continue;
		json_array_append_new(list, json_pack("{ss ss}", "name", rb->actions[i], "id", a.id));
	}
	json_object_set_new(ctx, "actions", list);
	return T0_OK;
}

int incident_deploys_answer(struct bot *b, const char *service, const char *shown_as,
			    int64_t since_ms, const json_t *sources, struct reply *r)
{
	char buf[8192], since[40];
	struct deploy_acc acc = { .buf = buf, .len = sizeof(buf), .limit = 20, .with_date = 1 };
	const json_t *s;
	size_t i;

	buf[0] = '\0';
	incident_fmt_time(since_ms, since, sizeof(since));
	store_deployments_since(b->store, service, since_ms, 200, deploy_line, &acc);
	if (!acc.n) {
		reply_set_text(r, "No deployments of %s recorded since %s.", service, since);
	} else {
		reply_set_text(r, "%d deployment%s of %s since %s%s%s%s", acc.n, acc.n == 1 ? "" : "s",
			       service, since, shown_as ? " (you asked for \"" : "",
			       shown_as ? shown_as : "", shown_as ? "\")" : "");
		if (acc.n > acc.limit) {
			size_t pos = strlen(buf);

			line_add(buf, sizeof(buf), &pos, "and %d more", acc.n - acc.limit);
		}
		reply_add_section(r, "Newest first", buf);
	}
	if (!acc.n && shown_as)
		reply_add_context(r, "(you asked for \"%s\")", shown_as);
	if (json_array_size(sources)) {
		char line[LINE];
		size_t pos = 0;

		line[0] = '\0';
		json_array_foreach(sources, i, s) {
			int w = snprintf(line + pos, sizeof(line) - pos, "%s%s %s", pos ? ", " : "",
					 json_string_value(json_object_get(s, "name")),
					 json_string_value(json_object_get(s, "status")));

			if (w > 0 && (size_t)w < sizeof(line) - pos)
				pos += (size_t)w;
		}
		reply_add_context(r, "Sources: %s; stored deployments (webhooks included)", line);
	}
	reply_set_intent(r, "deploys");
	return T0_OK;
}
