/* The approval state machine: transitions, votes and buttons, each with its audit record. */
#include "runbooks/approval.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "bot/audit.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"

static const char *const state_names[] = {
	[APPROVAL_PROPOSED] = "proposed",   [APPROVAL_PENDING] = "pending",
	[APPROVAL_APPROVED] = "approved",   [APPROVAL_DENIED] = "denied",
	[APPROVAL_EXPIRED] = "expired",     [APPROVAL_CANCELLED] = "cancelled",
	[APPROVAL_EXECUTING] = "executing", [APPROVAL_SUCCEEDED] = "succeeded",
	[APPROVAL_FAILED] = "failed",
};

const char *approval_state_name(int state)
{
	if (state < 0 || (size_t)state >= T0_ARRAY_LEN(state_names))
		return "unknown";
	return state_names[state];
}

int approval_state_parse(const char *name)
{
	for (size_t i = 0; name && i < T0_ARRAY_LEN(state_names); i++)
		if (strcmp(name, state_names[i]) == 0)
			return (int)i;
	return -1;
}

int approval_state_final(int state)
{
	return state == APPROVAL_DENIED || state == APPROVAL_EXPIRED ||
	       state == APPROVAL_CANCELLED || state == APPROVAL_SUCCEEDED ||
	       state == APPROVAL_FAILED;
}

int approval_new_id(const char *prefix, char *out, size_t len)
{
	unsigned char raw[8];
	size_t pl = strlen(prefix);

	if (len < pl + 2 * sizeof(raw) + 1)
		return T0_EINVAL;
	/* Ids are capabilities (a button value approves): they must not be guessable. */
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		log_err("approval", "rand_failed", "bytes=%zu", sizeof(raw));
		return T0_EIO;
	}
	memcpy(out, prefix, pl);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + pl + 2 * i, 3, "%02x", raw[i]);
	return T0_OK;
}

int approval_audit(struct store *st, const struct actor *actor, const char *channel,
		   const char *kind, const char *request_id, const json_t *detail)
{
	json_t *d = detail ? json_deep_copy(detail) : json_object();
	int64_t seq = 0;
	int rc;

	if (!d)
		return T0_ENOMEM;
	json_object_set_new(d, "request_id", json_string(request_id));
	rc = store_begin(st);
	if (rc != T0_OK)
		goto out;
	rc = audit_append(st, actor, channel, kind, d, &seq);
	if (rc == T0_OK)
		rc = store_audit_request_add(st, request_id, seq);
	if (rc == T0_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
out:
	json_decref(d);
	return rc;
}

int approval_create(struct store *st, const struct store_approval *a, const struct actor *actor,
		    const char *channel, const char *const *kinds, json_t *const *details,
		    size_t n)
{
	int rc = store_begin(st);

	if (rc != T0_OK)
		return rc;
	rc = store_approval_insert(st, a);
	for (size_t i = 0; rc == T0_OK && i < n; i++)
		rc = approval_audit(st, actor, channel, kinds[i], a->id, details[i]);
	if (rc == T0_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	return rc;
}

static int transition_in_tx(struct store *st, const char *id, int from, int to, int64_t now_ms,
			    const char *decided_by, int64_t unexpired_at, const char *request_hash,
			    const struct actor *actor, const char *channel, const char *why,
			    int *changed)
{
	json_t *d;
	int rc;

	rc = store_approval_transition(st, id, approval_state_name(from), approval_state_name(to),
				       now_ms, decided_by, unexpired_at, request_hash, changed);
	if (rc != T0_OK || !*changed)
		return rc;
	d = json_pack("{s:s,s:s}", "from", approval_state_name(from), "to",
		      approval_state_name(to));
	if (!d)
		return T0_ENOMEM;
	if (why)
		json_object_set_new(d, "why", json_string(why));
	if (decided_by)
		json_object_set_new(d, "by", json_string(decided_by));
	rc = approval_audit(st, actor, channel, "action.state", id, d);
	json_decref(d);
	return rc;
}

int approval_transition(struct store *st, const char *id, int from, int to, int64_t now_ms,
			const char *decided_by, int64_t unexpired_at, const char *request_hash,
			const struct actor *actor, const char *channel, const char *why,
			int *changed)
{
	int ch = 0, rc;

	if (changed)
		*changed = 0;
	rc = store_begin(st);
	if (rc != T0_OK)
		return rc;
	rc = transition_in_tx(st, id, from, to, now_ms, decided_by, unexpired_at, request_hash,
			      actor, channel, why, &ch);
	if (rc == T0_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	if (rc == T0_OK && changed)
		*changed = ch;
	return rc;
}

int approval_vote(struct store *st, const char *id, const char *button_id, const char *voter_key,
		  int approve, int64_t now_ms, const struct actor *actor, const char *channel,
		  int *result, int *approvals)
{
	struct store_approval a = { 0 };
	json_t *d = NULL;
	int rc, used_now = 0, added = 0, changed = 0, n = 0, state;

	*result = APPROVAL_VOTE_NOT_PENDING;
	if (approvals)
		*approvals = 0;
	/* BEGIN IMMEDIATE: votes of two processes are serialised here. */
	rc = store_begin(st);
	if (rc != T0_OK)
		return rc;
	rc = store_approval_get(st, id, &a);
	if (rc != T0_OK)
		goto fail;
	state = approval_state_parse(a.state);
	if (state != APPROVAL_PENDING)
		goto done;
	if (a.expires_ms <= now_ms) {
		rc = transition_in_tx(st, id, APPROVAL_PENDING, APPROVAL_EXPIRED, now_ms, NULL, 0,
				      NULL, actor, channel, "no decision before it expired", &changed);
		if (rc != T0_OK)
			goto fail;
		*result = APPROVAL_VOTE_EXPIRED;
		goto done;
	}
	if (button_id) {
		rc = store_button_use(st, button_id, voter_key, now_ms, &used_now);
		if (rc != T0_OK)
			goto fail;
		if (!used_now) {
			*result = APPROVAL_VOTE_BUTTON_USED;
			goto done;
		}
	}
	rc = store_vote_add(st, id, voter_key, approve ? "approve" : "deny", now_ms, &added);
	if (rc != T0_OK)
		goto fail;
	if (!added) {
		/* Nothing changed: undo the button use too, so it stays usable by others. */
		store_rollback(st);
		*result = APPROVAL_VOTE_DUPLICATE;
		store_approval_clear(&a);
		return T0_OK;
	}
	rc = store_vote_count(st, id, "approve", &n);
	if (rc != T0_OK)
		goto fail;
	d = json_pack("{s:s,s:s,s:i,s:i}", "approver", voter_key, "vote",
		      approve ? "approve" : "deny", "approvals", n, "needed", a.needed);
	if (!d) {
		rc = T0_ENOMEM;
		goto fail;
	}
	rc = approval_audit(st, actor, channel, "action.approval", id, d);
	if (rc != T0_OK)
		goto fail;
	*result = APPROVAL_VOTE_RECORDED;
	if (!approve) {
		rc = transition_in_tx(st, id, APPROVAL_PENDING, APPROVAL_DENIED, now_ms, voter_key,
				      0, NULL, actor, channel, "denied by an approver", &changed);
		if (rc != T0_OK)
			goto fail;
		*result = changed ? APPROVAL_VOTE_DENIED : APPROVAL_VOTE_NOT_PENDING;
	} else if (n >= a.needed) {
		rc = transition_in_tx(st, id, APPROVAL_PENDING, APPROVAL_APPROVED, now_ms,
				      voter_key, now_ms, NULL, actor, channel,
				      "enough distinct approvals", &changed);
		if (rc != T0_OK)
			goto fail;
		*result = changed ? APPROVAL_VOTE_APPROVED : APPROVAL_VOTE_NOT_PENDING;
	}
	if (approvals)
		*approvals = n;
done:
	rc = store_commit(st);
	json_decref(d);
	store_approval_clear(&a);
	return rc;
fail:
	store_rollback(st);
	json_decref(d);
	store_approval_clear(&a);
	return rc;
}

int approval_buttons_issue(struct store *st, const char *id, const char *const *choices, size_t n,
			   char (*ids)[APPROVAL_ID_LEN], int64_t now_ms)
{
	int rc = store_begin(st);

	if (rc != T0_OK)
		return rc;
	rc = store_buttons_retire(st, id, now_ms);
	for (size_t i = 0; rc == T0_OK && i < n; i++) {
		rc = approval_new_id("b-", ids[i], APPROVAL_ID_LEN);
		if (rc == T0_OK)
			rc = store_button_add(st, ids[i], id, choices[i], now_ms);
	}
	if (rc == T0_OK)
		rc = store_commit(st);
	else
		store_rollback(st);
	return rc;
}
