/*
 * Who may request and who may approve an action, and how many approvals a
 * request needs. Pure functions over the catalog: no I/O, no state.
 *
 * People are identified by their catalog User (found by e-mail, then by
 * name, from their platform identity); someone unknown to the catalog can
 * only be named explicitly as "platform:user_id" in a list.
 *
 * Approvals needed: low risk 0, high 1, critical 2 (a configured count may
 * raise that, never lower it); an environment listed as always needing
 * approval raises 0 to 1. The requester never counts as an approver, and two
 * approvals must come from two different people.
 */
#ifndef T0_POLICY_H
#define T0_POLICY_H

#include <stddef.h>

struct catalog;
struct cat_entity;

enum policy_risk { POLICY_RISK_LOW = 0, POLICY_RISK_HIGH, POLICY_RISK_CRITICAL };

const char *policy_risk_name(int risk);
/* "low" | "high" | "critical"; T0_EINVAL otherwise. */
int policy_risk_parse(const char *s, int *risk);

/* A set of people. Lists are borrowed by whoever fills it (an action definition). */
struct policy_who {
	int owners; /* the target's owner: the owning User, or members of the owning Group or its sub-groups */
	int anyone; /* anybody the catalog knows as a User */
	char **groups; /* catalog Group names or refs: their members, sub-groups included */
	size_t ngroups;
	char **users; /* catalog User names or refs, e-mails, or "platform:user_id" */
	size_t nusers;
};

/* One person, as an event names them. */
struct policy_person {
	const char *platform;
	const char *user_id;
	const char *email;            /* may be NULL */
	const struct cat_entity *user; /* catalog User, or NULL when unknown */
};

/*
 * A stable key for "the same person": the catalog User's ref when known,
 * else "platform:user_id". Used for votes and the self-approval check.
 */
void policy_person_key(const struct policy_person *p, char *out, size_t len);

/* Maps a platform identity to its catalog User: e-mail first, then user id as a User name. */
const struct cat_entity *policy_find_user(const struct catalog *cat, const char *email,
					  const char *user_id);

/*
 * 1 when p belongs to who (target may be NULL: then `owners` matches nobody).
 * why (may be NULL) says through which rule, e.g. "member of payments-team,
 * which owns payment-api"; or, on 0, why not.
 */
int policy_who_matches(const struct catalog *cat, const struct policy_who *who,
		       const struct policy_person *p, const struct cat_entity *target, char *why,
		       size_t whylen);

/* 1 when user (a catalog User) is a member of group or of one of its sub-groups. */
int policy_user_in_group(const struct catalog *cat, const struct cat_entity *user,
			 const struct cat_entity *group);

/* max(minimum for risk, configured (< 0 = unset)), and >= 1 when the environment requires it. */
int policy_required_approvals(int risk, int configured, int env_requires_approval);

struct policy_decision {
	int allowed;   /* may request at all */
	int approvals; /* approvals needed before it runs (0 = may run at once) */
	char reason[256];
};

/*
 * Decides a request. T0_OK with d filled (allowed or not); T0_EINVAL on bad
 * arguments.
 */
int policy_decide_request(const struct catalog *cat, const struct policy_who *requesters,
			  int risk, int configured_approvals, int env_requires_approval,
			  const struct policy_person *p, const struct cat_entity *target,
			  struct policy_decision *d);

/*
 * May `approver` approve (or deny) a request made by the person whose key is
 * requester_key (and e-mail requester_email, may be NULL)? T0_OK, or
 * T0_EDENIED with the reason in why: the requester themself, or not among
 * the approvers.
 */
int policy_check_approver(const struct catalog *cat, const struct policy_who *approvers,
			  const char *requester_key, const char *requester_email,
			  const struct policy_person *approver, const struct cat_entity *target,
			  char *why, size_t whylen);

#endif
