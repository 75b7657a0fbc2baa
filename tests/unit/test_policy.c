/*
 * The policy matrix over the demo organisation: who may request and approve
 * by ownership, groups (with sub-groups), named users, e-mails and platform
 * ids; approvals by risk and environment; never one's own request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/policy.h"
#include "bot/t0.h"

#define DEMO "config/demo/tier0.yaml"

static struct bot_world *world;

static int setup(void **state)
{
	struct config *cfg = NULL;
	char err[1024];

	log_set_level(LOG_LEVEL_ERR);
	assert_int_equal(config_load(DEMO, &cfg, err, sizeof(err)), T0_OK);
	assert_int_equal(bot_world_build(cfg, &world, err, sizeof(err)), T0_OK);
	return 0;
}

static int teardown(void **state)
{
	bot_world_free(world);
	return 0;
}

/* A person as a platform names them: e-mail (may be NULL) and user id. */
static struct policy_person person(const char *platform, const char *user_id, const char *email)
{
	struct policy_person p = { .platform = platform, .user_id = user_id, .email = email };

	p.user = policy_find_user(world->cat, email, user_id);
	return p;
}

static const struct cat_entity *entity(const char *name)
{
	const struct cat_entity *e = catalog_find(world->cat, name);

	assert_non_null(e);
	return e;
}

static void test_policy_identity_maps_by_email_then_name(void **state)
{
	struct policy_person p = person("slack", "U0ALICE", "Alice.Martin@example.com");
	char key[128];

	assert_non_null(p.user);
	assert_string_equal(p.user->name, "alice");
	policy_person_key(&p, key, sizeof(key));
	assert_string_equal(key, "user:default/alice");
	/* The console uses the user name. */
	p = person("console", "bob", NULL);
	assert_non_null(p.user);
	assert_string_equal(p.user->name, "bob");
	/* Unknown people are keyed by platform identity. */
	p = person("slack", "U999", "stranger@elsewhere.org");
	assert_null(p.user);
	policy_person_key(&p, key, sizeof(key));
	assert_string_equal(key, "slack:U999");
}

struct row {
	const char *who;  /* console user name, or "slack:ID" for an unknown person */
	int owners, anyone;
	const char *groups;
	const char *users;
	const char *target;
	int expect;
};

static char **split(const char *csv, size_t *n)
{
	char **v = calloc(8, sizeof(char *));
	char *copy = csv ? strdup(csv) : NULL, *save = NULL;

	*n = 0;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && *n < 8;
	     t = strtok_r(NULL, ",", &save))
		v[(*n)++] = strdup(t);
	free(copy);
	return v;
}

static void test_policy_matrix_of_requesters(void **state)
{
	static const struct row rows[] = {
		/* owners of payment-api: the payments-team, not its parent department */
		{ "alice", 1, 0, NULL, NULL, "payment-api", 1 },
		{ "bob", 1, 0, NULL, NULL, "payment-api", 1 },
		{ "maria", 1, 0, NULL, NULL, "payment-api", 0 },
		{ "oscar", 1, 0, NULL, NULL, "payment-api", 0 },
		{ "dave", 1, 0, NULL, NULL, "payment-api", 0 },
		{ "dave", 1, 0, NULL, NULL, "identity-db", 1 },
		{ "slack:U999", 1, 0, NULL, NULL, "payment-api", 0 },
		/* a group counts its sub-groups' members */
		{ "maria", 0, 0, "commerce-engineering", NULL, "payment-api", 1 },
		{ "alice", 0, 0, "commerce-engineering", NULL, "payment-api", 1 },
		{ "grace", 0, 0, "commerce-engineering", NULL, "payment-api", 1 },
		{ "oscar", 0, 0, "commerce-engineering", NULL, "payment-api", 0 },
		{ "sam", 0, 0, "commerce-engineering", NULL, "payment-api", 0 },
		{ "sam", 0, 0, "engineering", NULL, "payment-api", 1 },
		{ "dave", 0, 0, "group:default/platform-engineering", NULL, NULL, 1 },
		/* named users: by name, ref, e-mail, or platform id for the unknown */
		{ "oscar", 0, 0, NULL, "oscar", "payment-api", 1 },
		{ "oscar", 0, 0, NULL, "user:default/oscar", "payment-api", 1 },
		{ "sam", 0, 0, NULL, "sam.okoro@example.com", "payment-api", 1 },
		{ "slack:U999", 0, 0, NULL, "slack:U999", "payment-api", 1 },
		{ "slack:U998", 0, 0, NULL, "slack:U999", "payment-api", 0 },
		{ "slack:U999", 0, 0, NULL, "teams:U999", "payment-api", 0 },
		/* anyone the catalog knows, not strangers */
		{ "ken", 0, 1, NULL, NULL, NULL, 1 },
		{ "slack:U999", 0, 1, NULL, NULL, NULL, 0 },
		/* owners without a target: nobody */
		{ "alice", 1, 0, NULL, NULL, NULL, 0 },
		/* nobody at all */
		{ "alice", 0, 0, NULL, NULL, "payment-api", 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *rw = &rows[i];
		struct policy_who who = { .owners = rw->owners, .anyone = rw->anyone };
		struct policy_person p = strncmp(rw->who, "slack:", 6) == 0
						 ? person("slack", rw->who + 6, NULL)
						 : person("console", rw->who, NULL);
		char why[256] = "";
		int got;

		who.groups = split(rw->groups, &who.ngroups);
		who.users = split(rw->users, &who.nusers);
		got = policy_who_matches(world->cat, &who, &p, rw->target ? entity(rw->target) : NULL,
					 why, sizeof(why));
		if (got != rw->expect)
			fail_msg("row %zu (%s on %s): got %d, want %d: %s", i, rw->who,
				 rw->target ? rw->target : "-", got, rw->expect, why);
		assert_true(why[0] != '\0');
		for (size_t k = 0; k < who.ngroups; k++)
			free(who.groups[k]);
		for (size_t k = 0; k < who.nusers; k++)
			free(who.users[k]);
		free(who.groups);
		free(who.users);
	}
}

static void test_policy_required_approvals_by_risk_and_environment(void **state)
{
	/* risk, configured (-1 unset), env requires, expected */
	static const int rows[][4] = {
		{ POLICY_RISK_LOW, -1, 0, 0 },      { POLICY_RISK_HIGH, -1, 0, 1 },
		{ POLICY_RISK_CRITICAL, -1, 0, 2 }, { POLICY_RISK_LOW, -1, 1, 1 },
		{ POLICY_RISK_HIGH, -1, 1, 1 },     { POLICY_RISK_CRITICAL, -1, 1, 2 },
		{ POLICY_RISK_HIGH, 3, 0, 3 },      { POLICY_RISK_CRITICAL, 0, 0, 2 },
		{ POLICY_RISK_CRITICAL, 1, 0, 2 },  { POLICY_RISK_LOW, 0, 0, 0 },
		{ POLICY_RISK_LOW, 2, 0, 2 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(policy_required_approvals(rows[i][0], rows[i][1], rows[i][2]),
				 rows[i][3]);
}

static void test_policy_decision_explains_itself(void **state)
{
	struct policy_who owners = { .owners = 1 };
	struct policy_person alice = person("console", "alice", NULL);
	struct policy_person oscar = person("console", "oscar", NULL);
	struct policy_decision d;

	assert_int_equal(policy_decide_request(world->cat, &owners, POLICY_RISK_LOW, -1, 0, &alice,
					       entity("payment-api"), &d),
			 T0_OK);
	assert_true(d.allowed);
	assert_int_equal(d.approvals, 0);
	assert_non_null(strstr(d.reason, "payments-team"));
	assert_int_equal(policy_decide_request(world->cat, &owners, POLICY_RISK_LOW, -1, 1, &alice,
					       entity("payment-api"), &d),
			 T0_OK);
	assert_int_equal(d.approvals, 1);
	assert_non_null(strstr(d.reason, "approval-only environment"));
	assert_int_equal(policy_decide_request(world->cat, &owners, POLICY_RISK_CRITICAL, -1, 0,
					       &oscar, entity("payment-api"), &d),
			 T0_OK);
	assert_false(d.allowed);
	assert_non_null(strstr(d.reason, "owners of payment-api (payments-team)"));
}

static void test_policy_never_self_approval(void **state)
{
	struct policy_who approvers = { .owners = 1, .anyone = 1 };
	struct policy_person alice = person("console", "alice", NULL);
	struct policy_person alice_slack = person("slack", "U0ALICE", "alice.martin@example.com");
	struct policy_person bob = person("console", "bob", NULL);
	struct policy_person stranger = person("slack", "U777", "x@y.z");
	char key[128], why[256];

	policy_person_key(&alice, key, sizeof(key));
	/* The same person, on the console or on Slack. */
	assert_int_equal(policy_check_approver(world->cat, &approvers, key, NULL, &alice, NULL, why,
					       sizeof(why)),
			 T0_EDENIED);
	assert_non_null(strstr(why, "your own") ? strstr(why, "your own") : strstr(why, "own"));
	assert_int_equal(policy_check_approver(world->cat, &approvers, key, NULL, &alice_slack,
					       NULL, why, sizeof(why)),
			 T0_EDENIED);
	/* An unmapped requester is matched by e-mail. */
	assert_int_equal(policy_check_approver(world->cat, &approvers, "teams:abc", "x@y.z",
					       &stranger, NULL, why, sizeof(why)),
			 T0_EDENIED);
	/* Someone else is fine. */
	assert_int_equal(policy_check_approver(world->cat, &approvers, key,
					       "alice.martin@example.com", &bob,
					       entity("payment-api"), why, sizeof(why)),
			 T0_OK);
	/* Not an approver at all. */
	approvers.anyone = 0;
	assert_int_equal(policy_check_approver(world->cat, &approvers, key, NULL,
					       &(struct policy_person){ .platform = "console",
									.user_id = "oscar",
									.user = catalog_user(world->cat,
											     "oscar") },
					       entity("payment-api"), why, sizeof(why)),
			 T0_EDENIED);
	assert_non_null(strstr(why, "not an approver"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_identity_maps_by_email_then_name),
		cmocka_unit_test(test_policy_matrix_of_requesters),
		cmocka_unit_test(test_policy_required_approvals_by_risk_and_environment),
		cmocka_unit_test(test_policy_decision_explains_itself),
		cmocka_unit_test(test_policy_never_self_approval),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
