/* Requesters, approvers and approval counts from the catalog and configuration lists. */
#include "bot/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/catalog.h"
#include "bot/t0.h"

/* Group nesting followed upwards from a user's groups; deeper trees are cut. */
#define POLICY_MAX_GROUP_DEPTH 16

static const char *const risk_names[] = { "low", "high", "critical" };

const char *policy_risk_name(int risk)
{
	if (risk < 0 || (size_t)risk >= T0_ARRAY_LEN(risk_names))
		return "unknown";
	return risk_names[risk];
}

int policy_risk_parse(const char *s, int *risk)
{
	for (size_t i = 0; s && i < T0_ARRAY_LEN(risk_names); i++) {
		if (strcmp(s, risk_names[i]) == 0) {
			*risk = (int)i;
			return T0_OK;
		}
	}
	return T0_EINVAL;
}

void policy_person_key(const struct policy_person *p, char *out, size_t len)
{
	if (p->user)
		snprintf(out, len, "%s", p->user->ref);
	else
		snprintf(out, len, "%s:%s", p->platform ? p->platform : "unknown",
			 p->user_id ? p->user_id : "");
}

const struct cat_entity *policy_find_user(const struct catalog *cat, const char *email,
					  const char *user_id)
{
	const struct cat_entity *u = NULL;

	if (email && *email)
		u = catalog_user_by_email(cat, email);
	if (!u && user_id && *user_id)
		u = catalog_user(cat, user_id);
	return u;
}

static const struct cat_entity *group_by_name(const struct catalog *cat, const char *name)
{
	char *ref = catalog_ref_parse(name, "group", "default");
	const struct cat_entity *g = ref ? catalog_get(cat, ref) : NULL;

	free(ref);
	if (g && strcasecmp(g->kind, "Group") != 0)
		g = NULL;
	return g;
}

/* 1 when g is group or one of its descendants (walking g's parents). */
static int group_within(const struct cat_entity *g, const struct cat_entity *group)
{
	for (int depth = 0; g && depth < POLICY_MAX_GROUP_DEPTH; depth++) {
		const struct cat_entity *parent = NULL;

		if (g == group)
			return 1;
		for (size_t i = 0; i < g->nrels; i++) {
			if (g->rels[i].type == CAT_REL_CHILD_OF) {
				parent = g->rels[i].target;
				break;
			}
		}
		g = parent;
	}
	return 0;
}

int policy_user_in_group(const struct catalog *cat, const struct cat_entity *user,
			 const struct cat_entity *group)
{
	if (!user || !group)
		return 0;
	for (size_t i = 0; i < user->nrels; i++)
		if (user->rels[i].type == CAT_REL_MEMBER_OF &&
		    group_within(user->rels[i].target, group))
			return 1;
	return 0;
}

static int person_is(const struct catalog *cat, const struct policy_person *p, const char *entry)
{
	const struct cat_entity *u;
	size_t plen;

	if (!entry || !*entry)
		return 0;
	if (strchr(entry, '@'))
		return (p->email && strcasecmp(p->email, entry) == 0) ||
		       (p->user && p->user->email && strcasecmp(p->user->email, entry) == 0);
	/* "slack:U123": a platform identity, for people the catalog does not know. */
	plen = p->platform ? strlen(p->platform) : 0;
	if (plen && p->user_id && strncmp(entry, p->platform, plen) == 0 && entry[plen] == ':' &&
	    strcmp(entry + plen + 1, p->user_id) == 0)
		return 1;
	if (!p->user)
		return 0;
	u = catalog_user(cat, entry);
	return u && u == p->user;
}

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

int policy_who_matches(const struct catalog *cat, const struct policy_who *who,
		       const struct policy_person *p, const struct cat_entity *target, char *why,
		       size_t whylen)
{
	const char *name = p->user ? p->user->name : p->user_id ? p->user_id : "someone";

	if (!who || !p) {
		say(why, whylen, "%s%s", "nobody is allowed", "");
		return 0;
	}
	for (size_t i = 0; i < who->nusers; i++) {
		if (person_is(cat, p, who->users[i])) {
			say(why, whylen, "%s is listed by name (%s)", name, who->users[i]);
			return 1;
		}
	}
	if (who->owners && target && p->user) {
		const struct cat_entity *owner = catalog_owner(cat, target);

		if (owner && owner == p->user) {
			say(why, whylen, "%s owns %s", name, target->name);
			return 1;
		}
		if (owner && strcasecmp(owner->kind, "Group") == 0 &&
		    policy_user_in_group(cat, p->user, owner)) {
			char buf[160];

			snprintf(buf, sizeof(buf), "%s, which owns %s", owner->name, target->name);
			say(why, whylen, "%s is a member of %s", name, buf);
			return 1;
		}
	}
	for (size_t i = 0; i < who->ngroups && p->user; i++) {
		const struct cat_entity *g = group_by_name(cat, who->groups[i]);

		if (g && policy_user_in_group(cat, p->user, g)) {
			say(why, whylen, "%s is a member of %s", name, g->name);
			return 1;
		}
	}
	if (who->anyone && p->user) {
		say(why, whylen, "%s is in the catalog%s", name, "");
		return 1;
	}
	if (!p->user) {
		say(why, whylen, "%s is not a catalog User (no match for their e-mail or name)", name);
	} else {
		/* Say who is: the people named, the owners, the groups. */
		char who_text[200] = "";
		size_t pos = 0;
		const struct cat_entity *owner = who->owners && target ? catalog_owner(cat, target)
								      : NULL;

		if (who->owners && target)
			pos += (size_t)snprintf(who_text + pos, sizeof(who_text) - pos,
						"owners of %s%s%s%s", target->name,
						owner ? " (" : "", owner ? owner->name : "",
						owner ? ")" : "");
		for (size_t i = 0; i < who->ngroups && pos < sizeof(who_text); i++)
			pos += (size_t)snprintf(who_text + pos, sizeof(who_text) - pos, "%s%s",
						pos ? ", " : "members of ", who->groups[i]);
		if (who->nusers && pos < sizeof(who_text))
			snprintf(who_text + pos, sizeof(who_text) - pos, "%s%zu named user%s",
				 pos ? ", " : "", who->nusers, who->nusers == 1 ? "" : "s");
		say(why, whylen, "%s is not among the people allowed%s%s%s", name,
		    who_text[0] ? " (" : "", who_text, who_text[0] ? ")" : "");
	}
	return 0;
}

int policy_required_approvals(int risk, int configured, int env_requires_approval)
{
	int n = risk == POLICY_RISK_CRITICAL ? 2 : risk == POLICY_RISK_HIGH ? 1 : 0;

	if (configured > n)
		n = configured;
	if (env_requires_approval && n < 1)
		n = 1;
	return n;
}

int policy_decide_request(const struct catalog *cat, const struct policy_who *requesters,
			  int risk, int configured_approvals, int env_requires_approval,
			  const struct policy_person *p, const struct cat_entity *target,
			  struct policy_decision *d)
{
	char why[200];

	if (!d || !p || !requesters)
		return T0_EINVAL;
	memset(d, 0, sizeof(*d));
	why[0] = '\0';
	d->allowed = policy_who_matches(cat, requesters, p, target, why, sizeof(why));
	d->approvals = policy_required_approvals(risk, configured_approvals, env_requires_approval);
	if (!d->allowed)
		snprintf(d->reason, sizeof(d->reason), "not allowed to request: %s", why);
	else if (d->approvals == 0)
		snprintf(d->reason, sizeof(d->reason), "allowed (%s); %s risk runs without approval",
			 why, policy_risk_name(risk));
	else
		snprintf(d->reason, sizeof(d->reason), "allowed (%s); %s risk%s needs %d approval%s",
			 why, policy_risk_name(risk),
			 env_requires_approval ? " in an approval-only environment" : "",
			 d->approvals, d->approvals == 1 ? "" : "s");
	return T0_OK;
}

int policy_check_approver(const struct catalog *cat, const struct policy_who *approvers,
			  const char *requester_key, const char *requester_email,
			  const struct policy_person *approver, const struct cat_entity *target,
			  char *why, size_t whylen)
{
	char key[300], inner[200];
	const char *email = approver->email;

	if (!email && approver->user)
		email = approver->user->email;
	policy_person_key(approver, key, sizeof(key));
	if ((requester_key && strcmp(key, requester_key) == 0) ||
	    (requester_email && email && strcasecmp(requester_email, email) == 0)) {
		say(why, whylen, "%s%s", "you made this request, and nobody approves their own", "");
		return T0_EDENIED;
	}
	if (!policy_who_matches(cat, approvers, approver, target, inner, sizeof(inner))) {
		say(why, whylen, "not an approver of this action: %s%s", inner, "");
		return T0_EDENIED;
	}
	say(why, whylen, "%s%s", inner, "");
	return T0_OK;
}
