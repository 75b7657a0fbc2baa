#define _GNU_SOURCE /* strcasestr */
#include "bot/handlers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/oncall.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"
#include "runbooks/runbook.h"
#include "store/store.h"

#define LIST_MAX 40 /* entities listed in one answer before "and N more" */

static const char *entity_label(const struct cat_entity *e)
{
	if (e->display_name)
		return e->display_name;
	if (e->title)
		return e->title;
	return e->name;
}

/* Paths shown to people are relative to the configuration's directory. */
static const char *rel_path(const struct bot *b, const char *path)
{
	const char *base = b->world->cfg->base_dir;
	size_t n = base ? strlen(base) : 0;

	if (path && n && strncmp(path, base, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

static void fmt_time(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm);
}

static const char *kind_lower(const struct cat_entity *e, char *buf, size_t len)
{
	size_t i;

	for (i = 0; e->kind[i] && i + 1 < len; i++)
		buf[i] = (char)(e->kind[i] >= 'A' && e->kind[i] <= 'Z' ? e->kind[i] + 32 : e->kind[i]);
	buf[i] = '\0';
	return buf;
}

/*
 * Finds the entity a slot names, or explains in the reply why not (with a
 * "did you mean" when a close name exists). NULL means the reply is written.
 */
static struct cat_entity *resolve(struct bot *b, const struct handler_req *req, const char *name,
				  struct reply *r)
{
	const struct cat_entity *near;
	struct cat_entity *e;

	if (!name || !*name) {
		reply_set_text(r, "Which service? For example: who owns payment-api");
		return NULL;
	}
	e = catalog_find(b->world->cat, name);
	if (e)
		return e;
	near = catalog_suggest(b->world->cat, name);
	if (!near) {
		/* "what is X" / "show X" also catch small talk: answer that with help. */
		if (strcmp(req->m->intent, INTENT_DESCRIBE) == 0 && req->m->builtin)
			handler_unknown(b, req, r);
		else
			reply_set_text(r, "I don't know \"%s\" in the catalog.", name);
		return NULL;
	}
	reply_set_text(r, "I don't know \"%s\". Did you mean %s?", name, near->name);
	/* A button that asks the same question about the suggested name. */
	if (req->ev->text) {
		const char *text = req->ev->text, *at = strcasestr(text, name);
		char again[INTENT_MAX_TEXT + 64];

		if (at && strlen(text) < INTENT_MAX_TEXT) {
			snprintf(again, sizeof(again), "%.*s%s%s", (int)(at - text), text, near->name,
				 at + strlen(name));
			if (req->ev->kind == EVENT_COMMAND && req->ev->command) {
				char full[sizeof(again) + 64];

				snprintf(full, sizeof(full), "%s %s", req->ev->command, again);
				reply_add_button(r, near->name, "retry", full, REPLY_STYLE_PRIMARY, NULL);
			} else {
				reply_add_button(r, near->name, "retry", again, REPLY_STYLE_PRIMARY, NULL);
			}
		}
	}
	return NULL;
}

static int h_help(struct bot *b, const struct handler_req *req, struct reply *r);

static void help_line(void *arg, const char *usage, const char *help)
{
	struct reply *r = arg;

	reply_add_field(r, usage, help ? help : "");
}

static int h_help(struct bot *b, const struct handler_req *req, struct reply *r)
{
	reply_set_text(r, "Here is what I can do:");
	reply_add_section(r, "Commands", NULL);
	intent_help_each(b->world->intents, help_line, r);
	reply_add_context(r, "Slash commands: /tier0 <request>, /whoowns <service>, /oncall <service or team>");
	r->visibility = REPLY_EPHEMERAL;
	return T0_OK;
}

/* The first entity of a kind, for examples drawn from the organisation's own catalog. */
static const char *example_name(struct bot *b, const char *kind, const char *fallback)
{
	for (size_t i = 0; i < catalog_count(b->world->cat); i++) {
		const struct cat_entity *e = catalog_at(b->world->cat, i);

		if (strcasecmp(e->kind, kind) == 0)
			return e->name;
	}
	return fallback;
}

int handler_unknown(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *svc = example_name(b, "Component", "<service>");

	/* Not understood by the rules: the LLM, when one is configured, may answer instead. */
	if (req->ev && (req->ev->kind == EVENT_MESSAGE || req->ev->kind == EVENT_COMMAND) &&
	    router_fallback_call(b, req, req->ev->text, ROUTER_NO_RULE, r) == T0_OK)
		return T0_OK;

	reply_set_text(r, "Sorry, I didn't understand that. Try \"who owns %s\", "
			  "\"who is on call for %s\", \"what depends on %s\", "
			  "\"runbook for %s\", or \"help\".",
		       svc, example_name(b, "Group", "<team>"), example_name(b, "Resource", svc), svc);
	r->visibility = REPLY_EPHEMERAL;
	return T0_OK;
}

static void add_members(struct bot *b, const struct cat_entity *group, struct reply *r)
{
	char line[1024];
	size_t pos = 0, n = 0;

	line[0] = '\0';
	for (size_t i = 0; i < group->nrels; i++) {
		const struct cat_rel *rel = &group->rels[i];
		const char *name;
		int w;

		if (rel->type != CAT_REL_HAS_MEMBER)
			continue;
		name = rel->target ? entity_label(rel->target) : rel->target_ref;
		w = snprintf(line + pos, sizeof(line) - pos, "%s%s", n ? ", " : "", name);
		if (w < 0 || (size_t)w >= sizeof(line) - pos)
			break;
		pos += (size_t)w;
		n++;
	}
	if (n)
		reply_add_field(r, "Members", line);
}

static void add_oncall_field(struct bot *b, const struct cat_entity *e, struct reply *r)
{
	struct oncall_answer oa;
	char line[256];

	if (oncall_for_entity(b->world->oncall, b->world->cat, e, t0_now_ms(), &oa) != T0_OK ||
	    !oa.nshifts)
		return;
	{
		struct cat_entity *u = catalog_user(b->world->cat, oa.shifts[0].user);

		snprintf(line, sizeof(line), "%s (level 1, schedule %s)",
			 u ? entity_label(u) : oa.shifts[0].user, oa.schedule);
	}
	reply_add_field(r, "On call now", line);
}

static const char *channel_of(const struct cat_entity *e)
{
	const char *c = catalog_annotation(e, "slack.com/channel");

	return c ? c : catalog_annotation(e, "slack.com/bot-notify");
}

static int h_owner(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *name = intent_slot(req->m, "service");
	struct cat_entity *e = resolve(b, req, name, r), *owner;
	const char *chan;
	char buf[512];

	if (!e)
		return T0_OK;
	owner = catalog_owner(b->world->cat, e);
	if (!owner) {
		reply_set_text(r, "%s has no owner in the catalog.", e->name);
		return T0_OK;
	}
	reply_set_text(r, "%s is owned by %s", e->name, entity_label(owner));
	reply_add_section(r, e->name, e->description);
	snprintf(buf, sizeof(buf), "%s (%s)", entity_label(owner), owner->ref);
	reply_add_field(r, "Owner", buf);
	if (owner->email)
		reply_add_field(r, "Contact", owner->email);
	chan = channel_of(owner);
	if (!chan)
		chan = channel_of(e);
	if (chan)
		reply_add_field(r, "Channel", chan);
	add_members(b, owner, r);
	add_oncall_field(b, e, r);
	reply_add_context(r, "From the catalog: %s", e->file ? rel_path(b, e->file) : e->ref);
	return T0_OK;
}

static int h_oncall(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *name = intent_slot(req->m, "target");
	struct cat_entity *e = resolve(b, req, name, r);
	struct oncall_answer oa;
	char until[40], line[256];
	int rc;

	if (!e)
		return T0_OK;
	rc = oncall_for_entity(b->world->oncall, b->world->cat, e, t0_now_ms(), &oa);
	if (rc != T0_OK || !oa.nshifts) {
		struct cat_entity *owner = catalog_owner(b->world->cat, e);

		reply_set_text(r, "No on-call schedule covers %s%s%s.", e->name,
			       owner ? ", owned by " : "", owner ? entity_label(owner) : "");
		return T0_OK;
	}
	{
		struct cat_entity *u = catalog_user(b->world->cat, oa.shifts[0].user);

		reply_set_text(r, "On call for %s: %s", e->name, u ? entity_label(u) : oa.shifts[0].user);
	}
	reply_add_section(r, NULL, NULL);
	snprintf(line, sizeof(line), "%s (%s)", oa.schedule, oa.team);
	reply_add_field(r, "Schedule", line);
	for (size_t i = 0; i < oa.nshifts; i++) {
		const struct oncall_shift *s = &oa.shifts[i];
		struct cat_entity *u = catalog_user(b->world->cat, s->user);
		struct cat_entity *next = s->next_user ? catalog_user(b->world->cat, s->next_user)
						       : NULL;
		char label[32];

		fmt_time(s->end_ms, until, sizeof(until));
		snprintf(label, sizeof(label), "Level %d", s->level);
		snprintf(line, sizeof(line), "%s%s%s%s until %s, then %s", u ? entity_label(u) : s->user,
			 u && u->email ? " <" : "", u && u->email ? u->email : "",
			 u && u->email ? ">" : "", until,
			 next ? entity_label(next) : s->next_user ? s->next_user : "?");
		reply_add_field(r, label, line);
	}
	return T0_OK;
}

static int walk_reply(struct bot *b, const struct handler_req *req, struct reply *r, int dir)
{
	const char *name = intent_slot(req->m, "service");
	struct cat_entity *e = resolve(b, req, name, r);
	struct cat_walk_item *items = NULL;
	size_t n = 0, direct = 0;
	int depth = 0, rc;

	if (!e)
		return T0_OK;
	rc = catalog_walk(b->world->cat, e, dir, 0, &items, &n);
	if (rc != T0_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		direct += items[i].depth == 1;
	if (!n) {
		reply_set_text(r, dir == CAT_WALK_DEPENDENTS ? "Nothing in the catalog depends on %s."
							     : "%s has no dependencies in the catalog.",
			       e->name);
		goto out;
	}
	if (dir == CAT_WALK_DEPENDENTS)
		reply_set_text(r, "If %s is down, %zu entit%s may be affected (%zu direct)", e->name, n,
			       n == 1 ? "y" : "ies", direct);
	else
		reply_set_text(r, "%s depends on %zu entit%s (%zu direct)", e->name, n,
			       n == 1 ? "y" : "ies", direct);
	for (size_t i = 0; i < n && i < LIST_MAX; i++) {
		const struct cat_walk_item *it = &items[i];
		struct cat_entity *owner = catalog_owner(b->world->cat, it->entity);
		char title[64], kb[32], val[512];

		if (it->depth != depth) {
			depth = it->depth;
			snprintf(title, sizeof(title), depth == 1 ? "Direct" : "Depth %d", depth);
			reply_add_section(r, title, NULL);
		}
		if (depth > 1 && it->via)
			snprintf(val, sizeof(val), "%s, owned by %s, via %s",
				 kind_lower(it->entity, kb, sizeof(kb)),
				 owner ? entity_label(owner) : "nobody", it->via->name);
		else
			snprintf(val, sizeof(val), "%s, owned by %s", kind_lower(it->entity, kb, sizeof(kb)),
				 owner ? entity_label(owner) : "nobody");
		reply_add_field(r, it->entity->name, val);
	}
	if (n > LIST_MAX)
		reply_add_context(r, "and %zu more", n - LIST_MAX);
out:
	free(items);
	return T0_OK;
}

static int h_deps(struct bot *b, const struct handler_req *req, struct reply *r)
{
	return walk_reply(b, req, r, CAT_WALK_DEPENDENCIES);
}

static int h_blast(struct bot *b, const struct handler_req *req, struct reply *r)
{
	return walk_reply(b, req, r, CAT_WALK_DEPENDENTS);
}

static int h_runbook(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *q = intent_slot(req->m, "query");
	const struct runbook *found[4];
	struct cat_entity *e = q ? catalog_find(b->world->cat, q) : NULL;
	size_t n;

	if (!q || !*q) {
		reply_set_text(r, "Runbook for which service or alert?");
		return T0_OK;
	}
	n = runbook_match(b->world->runbooks, e ? e->name : q, q, found, T0_ARRAY_LEN(found));
	if (!n) {
		const struct cat_entity *near = e ? NULL : catalog_suggest(b->world->cat, q);

		if (near)
			reply_set_text(r, "No runbook matches \"%s\". Did you mean %s?", q, near->name);
		else
			reply_set_text(r, "No runbook matches \"%s\".", q);
		return T0_OK;
	}
	reply_set_text(r, "Runbook: %s", found[0]->title);
	reply_add_section(r, found[0]->title, found[0]->summary);
	if (found[0]->nsteps) {
		char buf[2048];
		size_t pos = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < found[0]->nsteps && i < 5; i++) {
			int w = snprintf(buf + pos, sizeof(buf) - pos, "%s%zu. %s", i ? "\n" : "", i + 1,
					 found[0]->steps[i]);

			if (w < 0 || (size_t)w >= sizeof(buf) - pos)
				break;
			pos += (size_t)w;
		}
		reply_add_section(r, "First steps", buf);
	}
	if (found[0]->nactions) {
		char buf[512];
		size_t pos = 0;

		buf[0] = '\0';
		for (size_t i = 0; i < found[0]->nactions; i++) {
			int w = snprintf(buf + pos, sizeof(buf) - pos, "%s%s", i ? ", " : "",
					 found[0]->actions[i]);

			if (w < 0 || (size_t)w >= sizeof(buf) - pos)
				break;
			pos += (size_t)w;
		}
		reply_add_field(r, "Suggested actions", buf);
	}
	reply_add_context(r, "Full runbook: %s", rel_path(b, found[0]->path));
	for (size_t i = 1; i < n; i++)
		reply_add_context(r, "Also relevant: %s (%s)", found[i]->title,
				  rel_path(b, found[i]->path));
	return T0_OK;
}

static void add_refs(struct reply *r, const struct cat_entity *e, int type, const char *label)
{
	char buf[1024];
	size_t pos = 0, n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e->nrels; i++) {
		const struct cat_rel *rel = &e->rels[i];
		int w;

		if (rel->type != type)
			continue;
		w = snprintf(buf + pos, sizeof(buf) - pos, "%s%s", n ? ", " : "",
			     rel->target ? rel->target->name : rel->target_ref);
		if (w < 0 || (size_t)w >= sizeof(buf) - pos)
			break;
		pos += (size_t)w;
		n++;
	}
	if (n)
		reply_add_field(r, label, buf);
}

static int h_describe(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *name = intent_slot(req->m, "service");
	struct cat_entity *e = resolve(b, req, name, r), *owner;
	json_t *ann, *links, *v;
	const char *k;
	char buf[512];
	size_t i;

	if (!e)
		return T0_OK;
	reply_set_text(r, "%s (%s)", entity_label(e), e->ref);
	reply_add_section(r, e->name, e->description);
	if (e->type)
		reply_add_field(r, "Type", e->type);
	if (e->lifecycle)
		reply_add_field(r, "Lifecycle", e->lifecycle);
	owner = catalog_owner(b->world->cat, e);
	if (owner) {
		snprintf(buf, sizeof(buf), "%s (%s)", entity_label(owner), owner->ref);
		reply_add_field(r, "Owner", buf);
	}
	add_refs(r, e, CAT_REL_PART_OF, "Part of");
	add_refs(r, e, CAT_REL_PROVIDES_API, "Provides APIs");
	add_refs(r, e, CAT_REL_CONSUMES_API, "Consumes APIs");
	add_refs(r, e, CAT_REL_DEPENDS_ON, "Depends on");
	add_refs(r, e, CAT_REL_DEPENDENCY_OF, "Dependency of");
	add_refs(r, e, CAT_REL_HAS_MEMBER, "Members");
	add_refs(r, e, CAT_REL_MEMBER_OF, "Member of");
	if (e->email)
		reply_add_field(r, "Email", e->email);

	links = json_object_get(json_object_get(e->doc, "metadata"), "links");
	if (json_is_array(links) && json_array_size(links)) {
		reply_add_section(r, "Links", NULL);
		json_array_foreach(links, i, v) {
			const char *url = json_string_value(json_object_get(v, "url"));
			const char *title = json_string_value(json_object_get(v, "title"));

			if (url)
				reply_add_field(r, title ? title : "link", url);
		}
	}
	ann = json_object_get(json_object_get(e->doc, "metadata"), "annotations");
	if (json_is_object(ann) && json_object_size(ann)) {
		reply_add_section(r, "Annotations", NULL);
		json_object_foreach(ann, k, v) {
			if (json_is_string(v))
				reply_add_field(r, k, json_string_value(v));
		}
	}
	reply_add_context(r, "From the catalog: %s", e->file ? rel_path(b, e->file) : e->ref);
	return T0_OK;
}

struct audit_list {
	struct reply *r;
	int n;
};

static int audit_line(void *arg, const struct audit_row *row)
{
	struct audit_list *al = arg;
	char when[40], label[64], summary[300];
	json_t *d = json_loads(row->detail ? row->detail : "{}", 0, NULL);
	const char *text = json_string_value(json_object_get(d, "text"));
	const char *command = json_string_value(json_object_get(d, "command"));
	const char *action = json_string_value(json_object_get(d, "action_id"));
	const char *intent = json_string_value(json_object_get(d, "intent"));
	const char *who = row->user_name ? row->user_name : row->user_id ? row->user_id : "?";

	fmt_time(row->ts_ms, when, sizeof(when));
	snprintf(label, sizeof(label), "#%lld %s", (long long)row->seq, when);
	if (command)
		snprintf(summary, sizeof(summary), "%s %s: %s %.200s", who, row->kind, command,
			 text ? text : "");
	else if (action)
		snprintf(summary, sizeof(summary), "%s %s: pressed %s", who, row->kind, action);
	else if (text)
		snprintf(summary, sizeof(summary), "%s %s: %.200s", who, row->kind, text);
	else
		snprintf(summary, sizeof(summary), "%s %s%s%s", who, row->kind, intent ? " " : "",
			 intent ? intent : "");
	reply_add_field(al->r, label, summary);
	al->n++;
	json_decref(d);
	return 0;
}

static int h_audit(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *count = intent_slot(req->m, "count");
	struct audit_list al = { .r = r };
	int limit = count ? atoi(count) : 10;
	int rc;

	if (limit <= 0 || limit > 50)
		limit = limit <= 0 ? 10 : 50;
	reply_add_section(r, NULL, NULL);
	rc = store_audit_last(b->store, req->ev->channel, limit, audit_line, &al);
	if (rc != T0_OK)
		return rc;
	reply_set_text(r, "Last %d audit entr%s for %s", al.n, al.n == 1 ? "y" : "ies",
		       req->ev->channel);
	reply_add_context(r, "Verify the whole chain with: tier0 audit verify --db <store.path>");
	return T0_OK;
}

static int h_ping(struct bot *b, const struct handler_req *req, struct reply *r)
{
	return reply_set_text(r, "pong");
}

static int h_echo(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *t = intent_slot(req->m, "text");

	/* Plain text in the model: each adapter escapes it for its platform. */
	return reply_set_text(r, "%s", t ? t : "");
}

static int h_version(struct bot *b, const struct handler_req *req, struct reply *r)
{
	return reply_set_text(r, "tier0 %s", T0_VERSION);
}

static int h_uptime(struct bot *b, const struct handler_req *req, struct reply *r)
{
	int64_t s = (t0_now_ms() - b->started_ms) / 1000;
	char since[40];

	if (s < 0)
		s = 0;
	fmt_time(b->started_ms, since, sizeof(since));
	return reply_set_text(r, "up %lldd %lldh %lldm %llds since %s, %llu events handled",
			      (long long)(s / 86400), (long long)(s % 86400 / 3600),
			      (long long)(s % 3600 / 60), (long long)(s % 60), since,
			      (unsigned long long)b->events_handled);
}

int handler_reply_template(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const char *t = req->m->reply ? req->m->reply : "";
	char out[4096];
	size_t pos = 0;

	while (*t && pos + 1 < sizeof(out)) {
		const char *close = *t == '{' ? strchr(t, '}') : NULL;

		if (close && close - t - 1 < 32) {
			char name[32];
			const char *v;

			memcpy(name, t + 1, (size_t)(close - t - 1));
			name[close - t - 1] = '\0';
			v = intent_slot(req->m, name);
			if (v) {
				int w = snprintf(out + pos, sizeof(out) - pos, "%s", v);

				pos += (w < 0) ? 0 : (size_t)w;
				if (pos >= sizeof(out))
					pos = sizeof(out) - 1;
				t = close + 1;
				continue;
			}
		}
		out[pos++] = *t++;
	}
	out[pos] = '\0';
	return reply_set_text(r, "%s", out);
}

static const struct {
	const char *intent;
	handler_fn fn;
} handlers[] = {
	{ INTENT_HELP, h_help },
	{ INTENT_OWNER, h_owner },
	{ INTENT_ONCALL, h_oncall },
	{ INTENT_DEPS, h_deps },
	{ INTENT_BLAST, h_blast },
	{ INTENT_RUNBOOK, h_runbook },
	{ INTENT_DESCRIBE, h_describe },
	{ INTENT_AUDIT, h_audit },
	{ INTENT_PING, h_ping },
	{ INTENT_ECHO, h_echo },
	{ INTENT_VERSION, h_version },
	{ INTENT_UPTIME, h_uptime },
	{ INTENT_REPLY, handler_reply_template },
};

/*
 * Handlers registered at run time by modules that live outside this file
 * (incidents, actions, the LLM agent) and by tests; they take precedence.
 */
#define HANDLER_MAX_REGISTERED 32

static struct {
	char name[64];
	handler_fn fn;
	int is_action;
} registered[HANDLER_MAX_REGISTERED];
static size_t nregistered;

static int register_one(const char *name, handler_fn fn, int is_action)
{
	for (size_t i = 0; i < nregistered; i++) {
		if (registered[i].is_action == is_action && strcmp(registered[i].name, name) == 0) {
			registered[i].fn = fn; /* re-registering replaces; NULL removes */
			return T0_OK;
		}
	}
	if (!fn)
		return T0_OK;
	if (nregistered >= HANDLER_MAX_REGISTERED || strlen(name) >= sizeof(registered[0].name))
		return T0_ETOOBIG;
	snprintf(registered[nregistered].name, sizeof(registered[0].name), "%s", name);
	registered[nregistered].fn = fn;
	registered[nregistered].is_action = is_action;
	nregistered++;
	return T0_OK;
}

int handler_register(const char *intent, handler_fn fn)
{
	return register_one(intent, fn, 0);
}

int handler_register_action(const char *prefix, handler_fn fn)
{
	return register_one(prefix, fn, 1);
}

handler_fn handler_for(const char *intent)
{
	for (size_t i = 0; i < nregistered; i++)
		if (!registered[i].is_action && registered[i].fn &&
		    strcmp(registered[i].name, intent) == 0)
			return registered[i].fn;
	for (size_t i = 0; i < T0_ARRAY_LEN(handlers); i++)
		if (strcmp(handlers[i].intent, intent) == 0)
			return handlers[i].fn;
	return NULL;
}

/* Buttons whose action id starts with a prefix here go to its handler. */
static const struct {
	const char *prefix;
	handler_fn fn;
} action_handlers[] = {
	{ NULL, NULL },
};

handler_fn handler_for_action(const char *action_id)
{
	for (size_t i = 0; i < nregistered; i++)
		if (registered[i].is_action && registered[i].fn &&
		    strncmp(action_id, registered[i].name, strlen(registered[i].name)) == 0)
			return registered[i].fn;
	for (size_t i = 0; i < T0_ARRAY_LEN(action_handlers); i++)
		if (action_handlers[i].prefix &&
		    strncmp(action_id, action_handlers[i].prefix, strlen(action_handlers[i].prefix)) == 0)
			return action_handlers[i].fn;
	return NULL;
}
