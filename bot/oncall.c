#include "bot/oncall.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/catalog.h"
#include "bot/t0.h"
#include "bot/timeparse.h"

#define ONCALL_MAX_SCHEDULES 256
#define ONCALL_MAX_MEMBERS 100
#define ONCALL_MAX_NAME 256
#define ONCALL_MAX_SHIFT_HOURS (24 * 366 * 10)
#define ONCALL_MAX_GROUP_HOPS 5

struct schedule {
	char *name;
	char *team;     /* as configured */
	char *team_ref; /* canonical "group:default/payments-team" */
	int64_t start_ms;
	int64_t shift_ms;
	char **users[ONCALL_MAX_LEVELS];
	size_t nusers[ONCALL_MAX_LEVELS];
	size_t nlevels;
};

struct oncall {
	struct schedule *scheds;
	size_t n;
};

static void schedule_clear(struct schedule *s)
{
	size_t l, i;

	free(s->name);
	free(s->team);
	free(s->team_ref);
	for (l = 0; l < ONCALL_MAX_LEVELS; l++) {
		for (i = 0; s->users[l] && i < s->nusers[l]; i++)
			free(s->users[l][i]);
		free(s->users[l]);
	}
	memset(s, 0, sizeof(*s));
}

void oncall_free(struct oncall *oc)
{
	size_t i;

	if (!oc)
		return;
	for (i = 0; i < oc->n; i++)
		schedule_clear(&oc->scheds[i]);
	free(oc->scheds);
	free(oc);
}

/*
 * "[kind:][namespace/]name" -> "group:default/name", lower-cased. The catalog
 * has its own parser; this copy keeps on-call usable without a catalog.
 */
static char *group_ref(const char *s)
{
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');
	const char *kind = "group", *ns = "default", *name = s;
	size_t klen = 5, nslen = 7, nlen, i, len;
	char *out;

	if (colon && (!slash || colon < slash)) {
		kind = s;
		klen = (size_t)(colon - s);
		s = colon + 1;
		name = s;
	}
	slash = strchr(s, '/');
	if (slash) {
		ns = s;
		nslen = (size_t)(slash - s);
		name = slash + 1;
	}
	nlen = strlen(name);
	if (!klen || !nslen || !nlen || strchr(name, '/') || strchr(name, ':'))
		return NULL;
	len = klen + 1 + nslen + 1 + nlen;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	snprintf(out, len + 1, "%.*s:%.*s/%s", (int)klen, kind, (int)nslen, ns, name);
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

int oncall_parse_tz(const char *tz, int *minutes)
{
	return t0_tz_parse(tz, minutes);
}

int oncall_parse_time(const char *s, int default_offset_min, int64_t *ms)
{
	return t0_time_parse(s, default_offset_min, ms);
}

/* ---- configuration -------------------------------------------------------- */

static int item_fail(char *err, size_t errlen, size_t i, const char *name, const char *key,
		     const char *why)
{
	if (name)
		snprintf(err, errlen, "oncall.schedules[%zu] (%s): %s: %s", i, name, key, why);
	else
		snprintf(err, errlen, "oncall.schedules[%zu]: %s: %s", i, key, why);
	return T0_ECONFIG;
}

static const char *req_string(const json_t *item, const char *key)
{
	const json_t *v = json_object_get(item, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > ONCALL_MAX_NAME)
		return NULL;
	return json_string_value(v);
}

static int parse_levels(const json_t *levels, struct schedule *s, size_t i, char *err,
			size_t errlen)
{
	size_t l, k, n;
	char what[64];

	if (!json_is_array(levels) || json_array_size(levels) < 1 ||
	    json_array_size(levels) > ONCALL_MAX_LEVELS)
		return item_fail(err, errlen, i, s->name, "levels",
				 "must be a list of 1 to 5 lists of user names");
	for (l = 0; l < json_array_size(levels); l++) {
		const json_t *lv = json_array_get(levels, l);

		snprintf(what, sizeof(what), "levels[%zu]", l);
		n = json_array_size(lv);
		if (!json_is_array(lv) || n < 1 || n > ONCALL_MAX_MEMBERS)
			return item_fail(err, errlen, i, s->name, what,
					 "must be a non-empty list of user names");
		s->users[l] = calloc(n, sizeof(char *));
		if (!s->users[l])
			return T0_ENOMEM;
		s->nlevels = l + 1;
		for (k = 0; k < n; k++) {
			const json_t *u = json_array_get(lv, k);

			if (!json_is_string(u) || json_string_length(u) == 0 ||
			    json_string_length(u) > ONCALL_MAX_NAME) {
				snprintf(what, sizeof(what), "levels[%zu][%zu]", l, k);
				return item_fail(err, errlen, i, s->name, what,
						 "must be a non-empty user name");
			}
			if (!(s->users[l][k] = strdup(json_string_value(u))))
				return T0_ENOMEM;
			s->nusers[l] = k + 1;
		}
	}
	return T0_OK;
}

static int parse_schedule(const json_t *item, size_t i, struct schedule *s, char *err,
			  size_t errlen)
{
	const json_t *v;
	const char *name, *team, *start;
	int tz_min = 0;

	if (!json_is_object(item))
		return item_fail(err, errlen, i, NULL, "item", "must be a mapping");
	name = req_string(item, "name");
	if (!name)
		return item_fail(err, errlen, i, NULL, "name", "required non-empty string");
	if (!(s->name = strdup(name)))
		return T0_ENOMEM;
	team = req_string(item, "team");
	if (!team)
		return item_fail(err, errlen, i, name, "team",
				 "required group name or ref (group:default/name)");
	s->team = strdup(team);
	s->team_ref = group_ref(team);
	if (!s->team)
		return T0_ENOMEM;
	if (!s->team_ref)
		return item_fail(err, errlen, i, name, "team", "not a valid group ref");
	v = json_object_get(item, "timezone");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || oncall_parse_tz(json_string_value(v), &tz_min) != 0)
			return item_fail(err, errlen, i, name, "timezone",
					 "must be \"UTC\" or an offset like \"+02:00\"");
	}
	start = req_string(item, "start");
	if (!start)
		return item_fail(err, errlen, i, name, "start",
				 "required RFC 3339 time, e.g. 2026-01-05T09:00:00Z");
	if (oncall_parse_time(start, tz_min, &s->start_ms) != 0)
		return item_fail(err, errlen, i, name, "start",
				 "not an RFC 3339 time, e.g. 2026-01-05T09:00:00Z");
	v = json_object_get(item, "shift_hours");
	s->shift_ms = 168LL * 3600 * 1000;
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > ONCALL_MAX_SHIFT_HOURS)
			return item_fail(err, errlen, i, name, "shift_hours",
					 "must be a whole number of hours > 0");
		s->shift_ms = (int64_t)json_integer_value(v) * 3600 * 1000;
	}
	return parse_levels(json_object_get(item, "levels"), s, i, err, errlen);
}

struct oncall *oncall_new(const json_t *schedules, char *err, size_t errlen)
{
	struct oncall *oc = NULL;
	size_t i, n;
	int rc = T0_OK;

	if (errlen)
		err[0] = '\0';
	if (schedules && !json_is_null(schedules) && !json_is_array(schedules)) {
		snprintf(err, errlen, "oncall.schedules: must be a list");
		return NULL;
	}
	n = json_array_size(schedules);
	if (n > ONCALL_MAX_SCHEDULES) {
		snprintf(err, errlen, "oncall.schedules: more than %d schedules",
			 ONCALL_MAX_SCHEDULES);
		return NULL;
	}
	oc = calloc(1, sizeof(*oc));
	if (!oc || (n && !(oc->scheds = calloc(n, sizeof(*oc->scheds))))) {
		rc = T0_ENOMEM;
		goto out;
	}
	for (i = 0; i < n && rc == T0_OK; i++) {
		size_t j;

		oc->n = i + 1; /* so that oncall_free releases a half-parsed item */
		rc = parse_schedule(json_array_get(schedules, i), i, &oc->scheds[i], err, errlen);
		for (j = 0; rc == T0_OK && j < i; j++)
			if (strcasecmp(oc->scheds[j].name, oc->scheds[i].name) == 0)
				rc = item_fail(err, errlen, i, oc->scheds[i].name, "name",
					       "duplicate schedule name");
	}
out:
	if (rc != T0_OK) {
		if (rc == T0_ENOMEM)
			snprintf(err, errlen, "oncall.schedules: out of memory");
		oncall_free(oc);
		oc = NULL;
	}
	return oc;
}

/* ---- questions ------------------------------------------------------------ */

size_t oncall_count(const struct oncall *oc)
{
	return oc ? oc->n : 0;
}

static void answer(const struct schedule *s, int64_t now_ms, struct oncall_answer *out)
{
	int64_t idx = 0, shift_start = s->start_ms;
	size_t l;

	memset(out, 0, sizeof(*out));
	out->schedule = s->name;
	out->team = s->team_ref;
	/* before the first handoff the first member holds the pager until the second one */
	if (now_ms >= s->start_ms) {
		/* unsigned: no overflow for any now_ms after a year-0000 start */
		idx = (int64_t)(((uint64_t)now_ms - (uint64_t)s->start_ms) / (uint64_t)s->shift_ms);
		shift_start = s->start_ms + idx * s->shift_ms;
	}
	for (l = 0; l < s->nlevels; l++) {
		struct oncall_shift *sh = &out->shifts[l];
		size_t len = s->nusers[l];

		sh->level = (int)l + 1;
		sh->user = s->users[l][(size_t)(idx % (int64_t)len)];
		sh->next_user = s->users[l][(size_t)((idx + 1) % (int64_t)len)];
		sh->start_ms = shift_start;
		sh->end_ms = shift_start + s->shift_ms;
	}
	out->nshifts = s->nlevels;
}

static const struct schedule *find_ref(const struct oncall *oc, const char *ref)
{
	size_t i;

	for (i = 0; i < oc->n; i++)
		if (strcasecmp(oc->scheds[i].team_ref, ref) == 0)
			return &oc->scheds[i];
	return NULL;
}

int oncall_for_team(const struct oncall *oc, const char *team, int64_t now_ms,
		    struct oncall_answer *out)
{
	const struct schedule *s = NULL;
	char *ref;
	size_t i;

	if (!oc || !team || !*team || !out)
		return T0_EINVAL;
	ref = group_ref(team);
	if (ref)
		s = find_ref(oc, ref);
	free(ref);
	/* a configured team that is not a ref ("Payments Team") still matches as typed */
	for (i = 0; !s && i < oc->n; i++)
		if (strcasecmp(oc->scheds[i].team, team) == 0)
			s = &oc->scheds[i];
	if (!s)
		return T0_ENOTFOUND;
	answer(s, now_ms, out);
	return T0_OK;
}

static const struct cat_rel *first_rel(const struct cat_entity *e, int type)
{
	size_t i;

	for (i = 0; e && i < e->nrels; i++)
		if (e->rels[i].type == type)
			return &e->rels[i];
	return NULL;
}

/*
 * Tries group and then its parents (childOf) up to ONCALL_MAX_GROUP_HOPS. A
 * parent missing from the catalog can still have a schedule by its ref.
 */
static int for_group(const struct oncall *oc, const struct cat_entity *g, const char *ref,
		     int64_t now_ms, struct oncall_answer *out)
{
	const struct cat_rel *r;
	int hop;

	for (hop = 0; hop <= ONCALL_MAX_GROUP_HOPS && ref; hop++) {
		if (oncall_for_team(oc, ref, now_ms, out) == T0_OK)
			return T0_OK;
		r = first_rel(g, CAT_REL_CHILD_OF);
		if (!r)
			break;
		g = r->target;
		ref = r->target_ref;
	}
	return T0_ENOTFOUND;
}

static int is_kind(const struct cat_entity *e, const char *kind)
{
	return e && e->kind && strcasecmp(e->kind, kind) == 0;
}

int oncall_for_entity(const struct oncall *oc, const struct catalog *cat,
		      const struct cat_entity *e, int64_t now_ms, struct oncall_answer *out)
{
	const struct cat_entity *who = NULL;
	const struct cat_rel *r;
	const char *who_ref = NULL;
	size_t i;

	(void)cat; /* relations on the entity are enough; catalog_finish computed them */
	if (!oc || !e || !out)
		return T0_EINVAL;
	if (is_kind(e, "Group")) {
		who = e;
		who_ref = e->ref;
	} else if (is_kind(e, "User")) {
		who = e;
	} else if ((r = first_rel(e, CAT_REL_OWNED_BY)) != NULL) {
		who = r->target;
		who_ref = r->target_ref;
	}
	if (who_ref && strncasecmp(who_ref, "user:", 5) != 0)
		return for_group(oc, who, who_ref, now_ms, out);
	/* owned by a person (or asked about one): the schedules of their groups */
	for (i = 0; who && i < who->nrels; i++) {
		r = &who->rels[i];
		if (r->type == CAT_REL_MEMBER_OF &&
		    for_group(oc, r->target, r->target_ref, now_ms, out) == T0_OK)
			return T0_OK;
	}
	return T0_ENOTFOUND;
}
