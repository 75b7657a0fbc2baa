#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/catalog.h"
#include "bot/oncall.h"
#include "bot/t0.h"
#include "bot/yload.h"

#define HOUR (3600LL * 1000)
#define WEEK (168 * HOUR)
/* 2026-01-05T09:00:00Z */
#define START 1767603600000LL

static const char demo[] =
	"[{\"name\": \"payments-primary\", \"team\": \"payments-team\","
	"  \"start\": \"2026-01-05T09:00:00Z\", \"shift_hours\": 168,"
	"  \"levels\": [[\"alice\", \"bob\", \"carol\"], [\"dana\"]]},"
	" {\"name\": \"identity\", \"team\": \"group:default/Identity-Team\","
	"  \"timezone\": \"+02:00\", \"start\": \"2026-01-05T11:00:00\", \"shift_hours\": 24,"
	"  \"levels\": [[\"erin\", \"frank\"]]},"
	" {\"name\": \"commerce\", \"team\": \"group:commerce\","
	"  \"start\": \"2026-01-05T09:00:00Z\","
	"  \"levels\": [[\"maria\"], [\"nora\", \"oscar\"]]}]";

struct fx {
	struct oncall *oc;
	char err[256];
};

static struct oncall *load(const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	struct oncall *oc;

	assert_non_null(j);
	oc = oncall_new(j, err, errlen);
	json_decref(j);
	return oc;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->oc = load(demo, f->err, sizeof(f->err));
	assert_non_null(f->oc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	oncall_free(f->oc);
	free(f);
	return 0;
}

static void test_oncall_parse_time_handles_offsets_and_calendar(void **state)
{
	int64_t ms;
	int tz;

	(void)state;
	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00Z", 0, &ms), 0);
	assert_int_equal(ms, START);
	assert_int_equal(oncall_parse_time("2026-01-05T11:00:00+02:00", 0, &ms), 0);
	assert_int_equal(ms, START);
	assert_int_equal(oncall_parse_time("2026-01-05t04:30:00-04:30", 0, &ms), 0);
	assert_int_equal(ms, START);
	/* no offset: the schedule's time zone applies */
	assert_int_equal(oncall_parse_time("2026-01-05T11:00:00", 120, &ms), 0);
	assert_int_equal(ms, START);
	/* an explicit offset wins over the time zone */
	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00Z", -300, &ms), 0);
	assert_int_equal(ms, START);
	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00.25Z", 0, &ms), 0);
	assert_int_equal(ms, START + 250);
	assert_int_equal(oncall_parse_time("2024-02-29T23:59:59Z", 0, &ms), 0);
	assert_int_equal(ms, 1709251199000LL);
	assert_int_equal(oncall_parse_time("1970-01-01T00:00:00Z", 0, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(oncall_parse_time("1970-01-01T00:00:00+01:00", 0, &ms), 0);
	assert_int_equal(ms, -3600000LL);
	assert_int_equal(oncall_parse_time("2100-03-01", 0, &ms), 0);
	assert_int_equal(ms, 4107542400000LL);

	assert_int_equal(oncall_parse_time("2023-02-29T00:00:00Z", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("1900-02-29T00:00:00Z", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("2026-13-01T00:00:00Z", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("2026-01-05T24:00:00Z", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("2026-01-05T09:00Z", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00+0200", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00Z junk", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("next monday", 0, &ms), -1);
	assert_int_equal(oncall_parse_time("", 0, &ms), -1);

	assert_int_equal(oncall_parse_tz("UTC", &tz), 0);
	assert_int_equal(tz, 0);
	assert_int_equal(oncall_parse_tz("-05:30", &tz), 0);
	assert_int_equal(tz, -330);
	assert_int_equal(oncall_parse_tz("Europe/Paris", &tz), -1);
	assert_int_equal(oncall_parse_tz("+25:00", &tz), -1);
}

static void test_oncall_rotation_advances_each_shift(void **state)
{
	struct fx *f = *state;
	struct oncall_answer a;

	assert_int_equal(oncall_for_team(f->oc, "payments-team", START, &a), T0_OK);
	assert_string_equal(a.schedule, "payments-primary");
	assert_string_equal(a.team, "group:default/payments-team");
	assert_string_equal(a.shifts[0].user, "alice");
	assert_string_equal(a.shifts[0].next_user, "bob");
	assert_int_equal(a.shifts[0].start_ms, START);
	assert_int_equal(a.shifts[0].end_ms, START + WEEK);

	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + WEEK - 1, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "alice");
	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + WEEK, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "bob");
	assert_string_equal(a.shifts[0].next_user, "carol");
	assert_int_equal(a.shifts[0].start_ms, START + WEEK);
	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + 2 * WEEK + HOUR, &a),
			 T0_OK);
	assert_string_equal(a.shifts[0].user, "carol");
	assert_string_equal(a.shifts[0].next_user, "alice");
	/* wraps around */
	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + 3 * WEEK, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "alice");
	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + 100 * WEEK + 5, &a),
			 T0_OK);
	assert_string_equal(a.shifts[0].user, "bob"); /* 100 mod 3 = 1 */
	assert_int_equal(a.shifts[0].start_ms, START + 100 * WEEK);
}

static void test_oncall_before_start_is_first_member(void **state)
{
	struct fx *f = *state;
	struct oncall_answer a;

	assert_int_equal(oncall_for_team(f->oc, "payments-team", START - 10 * WEEK, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "alice");
	assert_string_equal(a.shifts[0].next_user, "bob");
	assert_int_equal(a.shifts[0].start_ms, START);
	assert_int_equal(a.shifts[0].end_ms, START + WEEK);
	assert_int_equal(oncall_for_team(f->oc, "payments-team", START - 1, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "alice");
}

static void test_oncall_levels_rotate_independently(void **state)
{
	struct fx *f = *state;
	struct oncall_answer a;

	assert_int_equal(oncall_for_team(f->oc, "payments-team", START + WEEK, &a), T0_OK);
	assert_int_equal(a.nshifts, 2);
	assert_int_equal(a.shifts[0].level, 1);
	assert_int_equal(a.shifts[1].level, 2);
	assert_string_equal(a.shifts[1].user, "dana");
	assert_string_equal(a.shifts[1].next_user, "dana");

	/* default shift_hours is a week; level 2 has its own length */
	assert_int_equal(oncall_for_team(f->oc, "commerce", START + WEEK, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "maria");
	assert_string_equal(a.shifts[1].user, "oscar");
	assert_string_equal(a.shifts[1].next_user, "nora");
	assert_int_equal(a.shifts[1].end_ms, START + 2 * WEEK);
}

static void test_oncall_start_without_offset_uses_timezone(void **state)
{
	struct fx *f = *state;
	struct oncall_answer a;

	/* 11:00 at +02:00 is 09:00Z; daily shifts */
	assert_int_equal(oncall_for_team(f->oc, "identity-team", START, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "erin");
	assert_int_equal(a.shifts[0].start_ms, START);
	assert_int_equal(a.shifts[0].end_ms, START + 24 * HOUR);
	assert_int_equal(oncall_for_team(f->oc, "identity-team", START + 24 * HOUR - 1, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "erin");
	assert_int_equal(oncall_for_team(f->oc, "identity-team", START + 24 * HOUR, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "frank");
}

static void test_oncall_team_lookup_by_name_and_ref(void **state)
{
	struct fx *f = *state;
	struct oncall_answer a;
	static const char *const names[] = {"payments-team", "Payments-Team",
					    "group:payments-team",
					    "group:default/payments-team",
					    "GROUP:DEFAULT/PAYMENTS-TEAM"};
	size_t i;

	for (i = 0; i < T0_ARRAY_LEN(names); i++) {
		assert_int_equal(oncall_for_team(f->oc, names[i], START, &a), T0_OK);
		assert_string_equal(a.schedule, "payments-primary");
	}
	/* configured as a ref, found by its name */
	assert_int_equal(oncall_for_team(f->oc, "identity-team", START, &a), T0_OK);
	assert_string_equal(a.team, "group:default/identity-team");
	assert_int_equal(oncall_for_team(f->oc, "ghost-team", START, &a), T0_ENOTFOUND);
	assert_int_equal(oncall_for_team(f->oc, "user:default/payments-team", START, &a),
			 T0_ENOTFOUND);
	assert_int_equal(oncall_for_team(f->oc, "group:other/payments-team", START, &a),
			 T0_ENOTFOUND);
	assert_int_equal(oncall_for_team(f->oc, "", START, &a), T0_EINVAL);
	assert_int_equal(oncall_for_team(NULL, "payments-team", START, &a), T0_EINVAL);
}

static void expect_bad(const char *json, const char *want)
{
	char err[256];
	struct oncall *oc = load(json, err, sizeof(err));

	assert_null(oc);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

#define ITEM(extra)                                                                        \
	"[{\"name\": \"ok\", \"team\": \"t\", \"start\": \"2026-01-05T09:00:00Z\","       \
	" \"levels\": [[\"a\"]]}, {\"name\": \"x\", \"team\": \"t\"," extra "}]"

static void test_oncall_bad_schedule_items_are_rejected(void **state)
{
	char err[256];
	struct oncall *oc;

	(void)state;
	expect_bad("{}", "oncall.schedules: must be a list");
	expect_bad("[42]", "oncall.schedules[0]: item: must be a mapping");
	expect_bad("[{\"team\": \"t\"}]", "oncall.schedules[0]: name: required");
	expect_bad("[{\"name\": \"n\"}]", "oncall.schedules[0] (n): team: required");
	expect_bad(ITEM("\"levels\": [[\"a\"]]"), "oncall.schedules[1] (x): start: required");
	expect_bad(ITEM("\"start\": \"monday\", \"levels\": [[\"a\"]]"),
		   "oncall.schedules[1] (x): start: not an RFC 3339 time");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"timezone\": \"Europe/Paris\","
			" \"levels\": [[\"a\"]]"),
		   "(x): timezone");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"shift_hours\": 0,"
			" \"levels\": [[\"a\"]]"),
		   "(x): shift_hours");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"shift_hours\": \"168\","
			" \"levels\": [[\"a\"]]"),
		   "(x): shift_hours");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"shift_hours\": 1.5,"
			" \"levels\": [[\"a\"]]"),
		   "(x): shift_hours");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\""), "(x): levels: must be a list");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"levels\": []"), "(x): levels");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\","
			" \"levels\": [[\"a\"],[\"b\"],[\"c\"],[\"d\"],[\"e\"],[\"f\"]]"),
		   "(x): levels: must be a list of 1 to 5");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"levels\": [[\"a\"], []]"),
		   "(x): levels[1]: must be a non-empty list");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"levels\": [\"a\"]"),
		   "(x): levels[0]: must be a non-empty list");
	expect_bad(ITEM("\"start\": \"2026-01-05T09:00:00Z\", \"levels\": [[\"a\", 7]]"),
		   "(x): levels[0][1]: must be a non-empty user name");
	expect_bad("[{\"name\": \"d\", \"team\": \"t\", \"start\": \"2026-01-05\", \"levels\": [[\"a\"]]},"
		   " {\"name\": \"D\", \"team\": \"u\", \"start\": \"2026-01-05\", \"levels\": [[\"a\"]]}]",
		   "oncall.schedules[1] (D): name: duplicate");
	expect_bad("[{\"name\": \"n\", \"team\": \"group:\", \"start\": \"2026-01-05\","
		   " \"levels\": [[\"a\"]]}]",
		   "(n): team: not a valid group ref");

	/* no schedules at all is fine */
	oc = oncall_new(NULL, err, sizeof(err));
	assert_non_null(oc);
	assert_int_equal(oncall_count(oc), 0);
	oncall_free(oc);
	oncall_free(NULL);
}

/* ---- oncall_for_entity over hand-built entities (no catalog.c needed) ---- */

struct ent {
	struct cat_entity e;
	struct cat_rel rels[4];
};

static void ent_init(struct ent *x, const char *kind, const char *name, const char *ref)
{
	memset(x, 0, sizeof(*x));
	x->e.kind = (char *)kind;
	x->e.namespace = (char *)"default";
	x->e.name = (char *)name;
	x->e.ref = (char *)ref;
	x->e.rels = x->rels;
}

static void rel(struct ent *from, int type, struct ent *to, const char *ref)
{
	struct cat_rel *r = &from->rels[from->e.nrels++];

	r->type = type;
	r->target = to ? &to->e : NULL;
	r->target_ref = (char *)ref;
}

static void test_oncall_for_entity_walks_owner_and_parents(void **state)
{
	struct fx *f = *state;
	struct ent svc, team, dept, user, usvc, orphan, g1, g2;
	struct oncall_answer a;

	ent_init(&dept, "Group", "commerce", "group:default/commerce");
	ent_init(&team, "Group", "checkout-team", "group:default/checkout-team");
	rel(&team, CAT_REL_CHILD_OF, &dept, dept.e.ref);
	ent_init(&svc, "Component", "checkout-web", "component:default/checkout-web");
	rel(&svc, CAT_REL_DEPENDS_ON, NULL, "resource:default/db");
	rel(&svc, CAT_REL_OWNED_BY, &team, team.e.ref);

	/* checkout-team has no schedule: its parent commerce has */
	assert_int_equal(oncall_for_entity(f->oc, NULL, &svc.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "commerce");
	assert_int_equal(oncall_for_entity(f->oc, NULL, &team.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "commerce");

	/* a Group with its own schedule */
	ent_init(&g1, "Group", "payments-team", "group:default/payments-team");
	rel(&g1, CAT_REL_CHILD_OF, &dept, dept.e.ref);
	assert_int_equal(oncall_for_entity(f->oc, NULL, &g1.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "payments-primary");

	/* owner not in the catalog, but scheduled by ref */
	ent_init(&orphan, "API", "payments-api", "api:default/payments-api");
	rel(&orphan, CAT_REL_OWNED_BY, NULL, "group:default/payments-team");
	assert_int_equal(oncall_for_entity(f->oc, NULL, &orphan.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "payments-primary");

	/* owned by a user: the user's groups */
	ent_init(&user, "User", "erin", "user:default/erin");
	rel(&user, CAT_REL_MEMBER_OF, NULL, "group:default/identity-team");
	ent_init(&usvc, "Component", "tool", "component:default/tool");
	rel(&usvc, CAT_REL_OWNED_BY, &user, user.e.ref);
	assert_int_equal(oncall_for_entity(f->oc, NULL, &usvc.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "identity");
	assert_int_equal(oncall_for_entity(f->oc, NULL, &user.e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "identity");

	/* a cycle of unscheduled parents ends */
	ent_init(&g1, "Group", "g1", "group:default/g1");
	ent_init(&g2, "Group", "g2", "group:default/g2");
	rel(&g1, CAT_REL_CHILD_OF, &g2, g2.e.ref);
	rel(&g2, CAT_REL_CHILD_OF, &g1, g1.e.ref);
	assert_int_equal(oncall_for_entity(f->oc, NULL, &g1.e, START, &a), T0_ENOTFOUND);
	ent_init(&svc, "Component", "lonely", "component:default/lonely");
	assert_int_equal(oncall_for_entity(f->oc, NULL, &svc.e, START, &a), T0_ENOTFOUND);
}

static void test_oncall_for_entity_stops_after_five_parents(void **state)
{
	struct fx *f = *state;
	struct ent g[8];
	struct oncall_answer a;
	char refs[8][64];
	int i;

	/* g0 -> g1 -> ... -> g6 = commerce: six hops up is too far */
	for (i = 0; i < 7; i++) {
		snprintf(refs[i], sizeof(refs[i]), "group:default/g%d", i);
		ent_init(&g[i], "Group", refs[i] + 14, i == 6 ? "group:default/commerce" : refs[i]);
	}
	for (i = 0; i < 6; i++)
		rel(&g[i], CAT_REL_CHILD_OF, &g[i + 1], g[i + 1].e.ref);
	assert_int_equal(oncall_for_entity(f->oc, NULL, &g[0].e, START, &a), T0_ENOTFOUND);
	assert_int_equal(oncall_for_entity(f->oc, NULL, &g[1].e, START, &a), T0_OK);
	assert_string_equal(a.schedule, "commerce");
}

/* The demo configuration loads and every user in its schedules is a catalog User. */
static void test_oncall_demo_schedules_load_and_name_catalog_users(void **state)
{
	static const char *const files[] = {"org.yaml", "payments.yaml", "identity.yaml",
					    "discovery.yaml", "notifications.yaml"};
	struct ydocs cfg, cat[T0_ARRAY_LEN(files)];
	struct oncall_answer a;
	struct oncall *oc;
	const json_t *scheds, *sc, *lv, *u;
	char err[512], path[256];
	size_t i, j, k, l, d, found;

	(void)state;
	assert_int_equal(yload_file("config/demo/tier0.yaml", 0, &cfg, err, sizeof(err)), T0_OK);
	scheds = json_object_get(json_object_get(cfg.docs[0].root, "oncall"), "schedules");
	oc = oncall_new(scheds, err, sizeof(err));
	assert_non_null(oc);
	assert_int_equal(oncall_count(oc), 4);
	assert_int_equal(oncall_for_team(oc, "group:default/payments-team", START, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "alice");
	assert_int_equal(oncall_for_team(oc, "payments-team", START + WEEK, &a), T0_OK);
	assert_string_equal(a.shifts[0].user, "bob");
	assert_string_equal(a.shifts[1].user, "maria");

	for (i = 0; i < T0_ARRAY_LEN(files); i++) {
		snprintf(path, sizeof(path), "config/demo/catalog/%s", files[i]);
		assert_int_equal(yload_file(path, 0, &cat[i], err, sizeof(err)), T0_OK);
	}
	json_array_foreach(scheds, i, sc) {
		json_array_foreach(json_object_get(sc, "levels"), l, lv) {
			json_array_foreach(lv, k, u) {
				found = 0;
				for (j = 0; j < T0_ARRAY_LEN(files); j++)
					for (d = 0; d < cat[j].n; d++) {
						const json_t *m = json_object_get(cat[j].docs[d].root,
										  "metadata");
						const char *kind = json_string_value(
							json_object_get(cat[j].docs[d].root, "kind"));

						found += kind && strcmp(kind, "User") == 0 &&
							 json_equal(json_object_get(m, "name"), u);
					}
				if (found != 1)
					fail_msg("schedule user %s is not one catalog User",
						 json_string_value(u));
			}
		}
	}
	for (i = 0; i < T0_ARRAY_LEN(files); i++)
		ydocs_free(&cat[i]);
	oncall_free(oc);
	ydocs_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_oncall_parse_time_handles_offsets_and_calendar),
		T(test_oncall_rotation_advances_each_shift),
		T(test_oncall_before_start_is_first_member),
		T(test_oncall_levels_rotate_independently),
		T(test_oncall_start_without_offset_uses_timezone),
		T(test_oncall_team_lookup_by_name_and_ref),
		T(test_oncall_bad_schedule_items_are_rejected),
		T(test_oncall_for_entity_walks_owner_and_parents),
		T(test_oncall_for_entity_stops_after_five_parents),
		T(test_oncall_demo_schedules_load_and_name_catalog_users),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
