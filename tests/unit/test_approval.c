/*
 * The approval state machine in the store: migration v5 keeps v3 data,
 * transitions are conditional (one writer wins), buttons are single-use,
 * votes are one per person, and every step is an indexed audit record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "bot/audit.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "runbooks/approval.h"
#include "store/store.h"

struct fx {
	char dir[64];
	char db[128];
	struct store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	log_set_level(LOG_LEVEL_ERR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0appr.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/tier0.db", f->dir);
	assert_int_equal(store_open(f->db, &f->st, err, sizeof(err)), T0_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[256];

	store_close(f->st);
	for (const char *const *suf = (const char *const[]){ "", "-wal", "-shm", NULL }; *suf; suf++) {
		snprintf(path, sizeof(path), "%s%s", f->db, *suf);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void insert(struct fx *f, const char *id, const char *state, int needed, int64_t expires)
{
	struct store_approval a = {
		.id = (char *)id,
		.action = "rollback",
		.target = "component:default/payment-api",
		.params = "{\"environment\":\"production\"}",
		.request_hash = "h1",
		.requester = "user:default/alice",
		.state = (char *)state,
		.created_ms = 1000,
		.expires_ms = expires,
		.risk = "high",
		.needed = needed,
		.platform = "console",
		.channel = "#ops",
	};

	assert_int_equal(store_approval_insert(f->st, &a), T0_OK);
}

static void assert_state(struct fx *f, const char *id, const char *want)
{
	struct store_approval a;

	assert_int_equal(store_approval_get(f->st, id, &a), T0_OK);
	assert_string_equal(a.state, want);
	store_approval_clear(&a);
}

static void test_approval_migration_v5_keeps_v3_requests_and_votes(void **state)
{
	struct fx *f = *state;
	struct store *st = NULL;
	sqlite3 *db;
	char err[256], path[160];
	struct store_approval a;
	int n = 0, added = 1;

	snprintf(path, sizeof(path), "%s/v3.db", f->dir);
	assert_int_equal(store_open_at_version(path, 3, &st, err, sizeof(err)), T0_OK);
	store_close(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO approvals (id, action, target, request_hash, requester,"
				      " created_ms, expires_ms, updated_ms, decided_by, decided_ms)"
				      " VALUES ('old-1', 'restart', 'component:default/x', 'hh', 'bob',"
				      " 10, 20, 15, 'carol', 15);"
				      "INSERT INTO approval_votes VALUES ('old-1', 'carol', 'approve', 15);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	st = NULL;
	assert_int_equal(store_open(path, &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_approval_get(st, "old-1", &a), T0_OK);
	assert_string_equal(a.state, "pending");
	assert_string_equal(a.decided_by, "carol");
	assert_string_equal(a.risk, "high");
	assert_int_equal(a.needed, 1);
	assert_string_equal(a.origin, "typed");
	store_approval_clear(&a);
	assert_int_equal(store_vote_count(st, "old-1", "approve", &n), T0_OK);
	assert_int_equal(n, 1);
	/* Foreign keys are enforced again after the rebuild: no vote for a missing request. */
	assert_int_equal(store_vote_add(st, "no-such", "dave", "approve", 30, &added), T0_EDB);
	/* The new state is allowed. */
	assert_int_equal(store_approval_transition(st, "old-1", "pending", "proposed", 40, NULL, 0,
						   NULL, &added),
			 T0_OK);
	assert_true(added);
	store_close(st);
	unlink(path);
	snprintf(err, sizeof(err), "%s-wal", path);
	unlink(err);
	snprintf(err, sizeof(err), "%s-shm", path);
	unlink(err);
}

static void test_approval_transitions_are_conditional(void **state)
{
	struct fx *f = *state;
	int changed = -1;

	insert(f, "r-1", "pending", 1, 5000);
	/* Two writers move pending -> approved: one wins. */
	assert_int_equal(store_approval_transition(f->st, "r-1", "pending", "approved", 2000, "bob",
						   2000, NULL, &changed),
			 T0_OK);
	assert_true(changed);
	assert_int_equal(store_approval_transition(f->st, "r-1", "pending", "approved", 2001, "carol",
						   2001, NULL, &changed),
			 T0_OK);
	assert_false(changed);
	/* The claim needs the very hash that was approved. */
	assert_int_equal(store_approval_transition(f->st, "r-1", "approved", "executing", 2002, NULL,
						   0, "other-hash", &changed),
			 T0_OK);
	assert_false(changed);
	assert_int_equal(store_approval_transition(f->st, "r-1", "approved", "executing", 2002, NULL,
						   0, "h1", &changed),
			 T0_OK);
	assert_true(changed);
	assert_state(f, "r-1", "executing");
	/* No approval after expiry. */
	insert(f, "r-2", "pending", 1, 5000);
	assert_int_equal(store_approval_transition(f->st, "r-2", "pending", "approved", 5000, "bob",
						   5000, NULL, &changed),
			 T0_OK);
	assert_false(changed);
	/* An unknown state is refused by the table. */
	assert_int_equal(store_approval_transition(f->st, "r-2", "pending", "bogus", 1, NULL, 0, NULL,
						   &changed),
			 T0_EDB);
	assert_state(f, "r-2", "pending");
}

static void test_approval_buttons_are_single_use(void **state)
{
	struct fx *f = *state;
	static const char *const choices[] = { "approve", "deny" };
	char ids[2][APPROVAL_ID_LEN], ids2[2][APPROVAL_ID_LEN], aid[64], choice[16];
	int used = -1, now = 0;

	insert(f, "r-3", "pending", 1, 5000);
	assert_int_equal(approval_buttons_issue(f->st, "r-3", choices, 2, ids, 1000), T0_OK);
	assert_int_equal(strncmp(ids[0], "b-", 2), 0);
	assert_int_equal(strlen(ids[0]), 18);
	assert_string_not_equal(ids[0], ids[1]);
	assert_int_equal(store_button_get(f->st, ids[1], aid, sizeof(aid), choice, sizeof(choice),
					  &used),
			 T0_OK);
	assert_string_equal(aid, "r-3");
	assert_string_equal(choice, "deny");
	assert_false(used);
	assert_int_equal(store_button_use(f->st, ids[0], "bob", 1100, &now), T0_OK);
	assert_true(now);
	assert_int_equal(store_button_use(f->st, ids[0], "carol", 1101, &now), T0_OK);
	assert_false(now);
	/* New buttons retire the old ones. */
	assert_int_equal(approval_buttons_issue(f->st, "r-3", choices, 2, ids2, 1200), T0_OK);
	assert_int_equal(store_button_get(f->st, ids[1], aid, sizeof(aid), choice, sizeof(choice),
					  &used),
			 T0_OK);
	assert_true(used);
	assert_int_equal(store_button_get(f->st, "b-nope", aid, sizeof(aid), choice, sizeof(choice),
					  &used),
			 T0_ENOTFOUND);
}

static void test_approval_votes_one_per_person_distinct_for_critical(void **state)
{
	struct fx *f = *state;
	static const char *const choices[] = { "approve", "approve", "approve" };
	char ids[3][APPROVAL_ID_LEN];
	struct actor bob = { .platform = "console", .user_id = "bob" };
	int result = -1, n = 0;

	insert(f, "r-4", "pending", 2, 5000);
	assert_int_equal(approval_buttons_issue(f->st, "r-4", choices, 3, ids, 1000), T0_OK);
	assert_int_equal(approval_vote(f->st, "r-4", ids[0], "user:default/bob", 1, 1100, &bob, "#ops",
				       &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_RECORDED);
	assert_int_equal(n, 1);
	/* Bob again with another button: not a second approval, and the button stays usable. */
	assert_int_equal(approval_vote(f->st, "r-4", ids[1], "user:default/bob", 1, 1101, &bob, "#ops",
				       &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_DUPLICATE);
	/* A used button. */
	assert_int_equal(approval_vote(f->st, "r-4", ids[0], "user:default/carol", 1, 1102, NULL,
				       "#ops", &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_BUTTON_USED);
	assert_state(f, "r-4", "pending");
	/* Carol with the button Bob could not use: the second distinct approval. */
	assert_int_equal(approval_vote(f->st, "r-4", ids[1], "user:default/carol", 1, 1103, NULL,
				       "#ops", &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_APPROVED);
	assert_int_equal(n, 2);
	assert_state(f, "r-4", "approved");
	/* After the decision, votes do nothing. */
	assert_int_equal(approval_vote(f->st, "r-4", ids[2], "user:default/maria", 0, 1104, NULL,
				       "#ops", &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_NOT_PENDING);
	assert_state(f, "r-4", "approved");
}

static void test_approval_vote_after_expiry_expires_it(void **state)
{
	struct fx *f = *state;
	int result = -1, n = 0;

	insert(f, "r-5", "pending", 1, 5000);
	assert_int_equal(approval_vote(f->st, "r-5", NULL, "user:default/bob", 1, 5000, NULL, "#ops",
				       &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_EXPIRED);
	assert_state(f, "r-5", "expired");
	assert_int_equal(store_vote_count(f->st, "r-5", "approve", &n), T0_OK);
	assert_int_equal(n, 0);
}

static void test_approval_deny_decides(void **state)
{
	struct fx *f = *state;
	int result = -1, n = 0;
	struct store_approval a;

	insert(f, "r-6", "pending", 2, 5000);
	assert_int_equal(approval_vote(f->st, "r-6", NULL, "user:default/bob", 0, 1200, NULL, "#ops",
				       &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_DENIED);
	assert_int_equal(store_approval_get(f->st, "r-6", &a), T0_OK);
	assert_string_equal(a.state, "denied");
	assert_string_equal(a.decided_by, "user:default/bob");
	assert_int_equal(a.decided_ms, 1200);
	store_approval_clear(&a);
}

struct kinds {
	char list[512];
};

static int collect(void *arg, const struct audit_row *row)
{
	struct kinds *k = arg;
	size_t l = strlen(k->list);

	snprintf(k->list + l, sizeof(k->list) - l, "%s%s", l ? " " : "", row->kind);
	return 0;
}

static void test_approval_every_step_is_an_indexed_audit_record(void **state)
{
	struct fx *f = *state;
	struct store_approval a = {
		.id = "r-7", .action = "restart", .request_hash = "hx", .requester = "alice",
		.state = "proposed", .created_ms = 1, .expires_ms = 9000, .needed = 1,
	};
	const char *kinds[] = { "action.proposed" };
	json_t *d = json_pack("{s:s}", "why", "test");
	json_t *details[] = { d };
	struct kinds k = { { 0 } };
	int changed = 0, result = 0, n = 0;
	int64_t count = 0, bad = 0;

	assert_int_equal(approval_create(f->st, &a, NULL, "#ops", kinds, details, 1), T0_OK);
	json_decref(d);
	assert_int_equal(approval_transition(f->st, "r-7", APPROVAL_PROPOSED, APPROVAL_PENDING, 2,
					     NULL, 0, NULL, NULL, "#ops", "waiting", &changed),
			 T0_OK);
	assert_true(changed);
	/* A transition that does not apply writes nothing. */
	assert_int_equal(approval_transition(f->st, "r-7", APPROVAL_PROPOSED, APPROVAL_PENDING, 3,
					     NULL, 0, NULL, NULL, "#ops", "again", &changed),
			 T0_OK);
	assert_false(changed);
	assert_int_equal(approval_vote(f->st, "r-7", NULL, "bob", 1, 4, NULL, "#ops", &result, &n),
			 T0_OK);
	assert_int_equal(result, APPROVAL_VOTE_APPROVED);
	/* A record of another request is not in this chain. */
	assert_int_equal(approval_audit(f->st, NULL, "#ops", "action.request", "r-8", NULL), T0_OK);
	assert_int_equal(store_audit_request_each(f->st, "r-7", 100, collect, &k), T0_OK);
	assert_string_equal(k.list, "action.proposed action.state action.approval action.state");
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 5);
	/* A failed insert leaves neither the row nor its records. */
	json_t *d2 = json_object();
	json_t *details2[] = { d2 };

	assert_int_equal(approval_create(f->st, &a, NULL, "#ops", kinds, details2, 1), T0_EDUP);
	json_decref(d2);
	assert_int_equal(audit_verify(f->st, &count, &bad), T0_OK);
	assert_int_equal(count, 5);
}

static void test_approval_state_names(void **state)
{
	for (int s = APPROVAL_PROPOSED; s <= APPROVAL_FAILED; s++)
		assert_int_equal(approval_state_parse(approval_state_name(s)), s);
	assert_int_equal(approval_state_parse("bogus"), -1);
	assert_true(approval_state_final(APPROVAL_SUCCEEDED));
	assert_true(approval_state_final(APPROVAL_EXPIRED));
	assert_false(approval_state_final(APPROVAL_PENDING));
	assert_false(approval_state_final(APPROVAL_EXECUTING));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_approval_migration_v5_keeps_v3_requests_and_votes),
		T(test_approval_transitions_are_conditional),
		T(test_approval_buttons_are_single_use),
		T(test_approval_votes_one_per_person_distinct_for_critical),
		T(test_approval_vote_after_expiry_expires_it),
		T(test_approval_deny_decides),
		T(test_approval_every_step_is_an_indexed_audit_record),
		T(test_approval_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
