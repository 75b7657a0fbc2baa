/*
 * The approval state machine of action requests, persisted in the store:
 *
 *   proposed -> pending -> approved | denied | expired | cancelled
 *            -> approved (no approval needed)        approved -> executing
 *   executing -> succeeded | failed                   approved -> failed (preconditions)
 *
 * Every transition is one conditional UPDATE (store_approval_transition) in
 * a transaction together with the audit record that describes it, so two
 * approvers clicking at once, in one process or two, produce one approval and
 * one execution. Each audit record carries "request_id" and is indexed by it
 * (store_audit_request_*), which links the chain of one request.
 */
#ifndef T0_APPROVAL_H
#define T0_APPROVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct actor;
struct store;
struct store_approval;

enum approval_state {
	APPROVAL_PROPOSED = 0,
	APPROVAL_PENDING,
	APPROVAL_APPROVED,
	APPROVAL_DENIED,
	APPROVAL_EXPIRED,
	APPROVAL_CANCELLED,
	APPROVAL_EXECUTING,
	APPROVAL_SUCCEEDED,
	APPROVAL_FAILED,
};

const char *approval_state_name(int state);
/* -1 for an unknown name. */
int approval_state_parse(const char *name);
/* denied, expired, cancelled, succeeded, failed */
int approval_state_final(int state);

#define APPROVAL_ID_LEN 40

/* A fresh random id, prefix + 16 hex characters ("r-1f0c..." for requests, "b-..." for buttons). */
int approval_new_id(const char *prefix, char *out, size_t len);

/*
 * Appends an audit record for request_id (added to detail, which is borrowed
 * and may be NULL) and indexes it; joins the caller's transaction if one is open.
 */
int approval_audit(struct store *st, const struct actor *actor, const char *channel,
		   const char *kind, const char *request_id, const json_t *detail);

/*
 * Inserts a request and its first audit records (kinds[i] with details[i])
 * in one transaction.
 */
int approval_create(struct store *st, const struct store_approval *a, const struct actor *actor,
		    const char *channel, const char *const *kinds, json_t *const *details,
		    size_t n);

/*
 * One transition with its audit record ("action.state" with from, to and
 * why) in one transaction. unexpired_at and request_hash as for
 * store_approval_transition. *changed = 1 when this call moved it.
 */
int approval_transition(struct store *st, const char *id, int from, int to, int64_t now_ms,
			const char *decided_by, int64_t unexpired_at, const char *request_hash,
			const struct actor *actor, const char *channel, const char *why,
			int *changed);

enum approval_vote_result {
	APPROVAL_VOTE_RECORDED = 0, /* counted; more approvals needed */
	APPROVAL_VOTE_APPROVED,     /* this vote completed the approvals: pending -> approved */
	APPROVAL_VOTE_DENIED,       /* pending -> denied */
	APPROVAL_VOTE_DUPLICATE,    /* this person has voted already */
	APPROVAL_VOTE_BUTTON_USED,  /* the button id was used already */
	APPROVAL_VOTE_NOT_PENDING,  /* decided meanwhile */
	APPROVAL_VOTE_EXPIRED,      /* expired: pending -> expired now */
};

/*
 * A vote, in one transaction: consumes the single-use button, checks the
 * request is pending and unexpired, records the vote (one per person),
 * audits it ("action.approval"), and moves pending -> denied on a deny or
 * pending -> approved once `needed` distinct approvals are there.
 * *approvals receives the number of approvals after this vote.
 */
int approval_vote(struct store *st, const char *id, const char *button_id, const char *voter_key,
		  int approve, int64_t now_ms, const struct actor *actor, const char *channel,
		  int *result, int *approvals);

/*
 * Replaces a request's buttons: every unused button of it is retired, and
 * one new single-use id per choice is written to ids[i].
 */
int approval_buttons_issue(struct store *st, const char *id, const char *const *choices, size_t n,
			   char (*ids)[APPROVAL_ID_LEN], int64_t now_ms);

#endif
