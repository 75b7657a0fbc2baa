/*
 * On-call from schedules in configuration (`oncall.schedules`); PagerDuty
 * replaces or complements this later behind the same questions.
 *
 *   oncall:
 *     schedules:
 *       - name: payments-primary
 *         team: payments-team            # catalog Group (ref or name)
 *         timezone: UTC                  # only UTC offsets: UTC, +02:00, -05:00
 *         start: 2026-01-05T09:00:00Z    # first handoff
 *         shift_hours: 168               # rotation length
 *         levels:                        # escalation levels, level 1 first
 *           - [alice, bob, carol]        # catalog Users, rotating each shift
 *           - [dana]
 */
#ifndef T0_ONCALL_H
#define T0_ONCALL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct catalog;
struct cat_entity;

#define ONCALL_MAX_LEVELS 5

struct oncall_shift {
	int level;         /* 1-based escalation level */
	const char *user;  /* user name as configured (borrowed from the schedule) */
	int64_t start_ms;  /* this shift */
	int64_t end_ms;
	const char *next_user; /* who takes over at end_ms */
};

struct oncall_answer {
	const char *schedule; /* borrowed */
	const char *team;     /* canonical group ref (borrowed) */
	struct oncall_shift shifts[ONCALL_MAX_LEVELS];
	size_t nshifts;
};

struct oncall;

/* schedules: the `oncall.schedules` array (may be NULL). err names the item and key. */
struct oncall *oncall_new(const json_t *schedules, char *err, size_t errlen);
void oncall_free(struct oncall *oc);

/* Who is on call now for a team (group ref or name). T0_ENOTFOUND when no schedule. */
int oncall_for_team(const struct oncall *oc, const char *team, int64_t now_ms,
		    struct oncall_answer *out);
/*
 * For a service or any entity: its owner group's schedule, else the schedule of
 * the owner's parent groups. For a Group: its own.
 */
int oncall_for_entity(const struct oncall *oc, const struct catalog *cat,
		      const struct cat_entity *e, int64_t now_ms, struct oncall_answer *out);

#endif
