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
size_t oncall_count(const struct oncall *oc);

/*
 * "2026-01-05T09:00:00Z", "2026-01-05T11:00:00.250+02:00", "2026-01-05 09:00:00"
 * or "2026-01-05" -> ms since the epoch; a time without an offset is read at
 * default_offset_min minutes east of UTC. Returns 0, or -1 when malformed.
 */
int oncall_parse_time(const char *s, int default_offset_min, int64_t *ms);
/* "UTC", "Z", "+02:00", "-05:30" -> minutes east of UTC; 0 or -1. */
int oncall_parse_tz(const char *tz, int *minutes);

/*
 * Who is on call now for a team (group ref or name, case-insensitive; the first
 * schedule of that team wins). T0_ENOTFOUND when no schedule. Shift index =
 * floor((now - start) / shift); level L's user = levels[L][index mod len]. Before
 * start the first members are on call and the shift is [start, start + shift).
 */
int oncall_for_team(const struct oncall *oc, const char *team, int64_t now_ms,
		    struct oncall_answer *out);
/*
 * For a service or any entity: its owner group's schedule, else the schedule of
 * the owner's parent groups (childOf, up to 5 levels up). For a Group: its own,
 * then its parents'. For a User, or an entity owned by a User: the schedules of
 * the user's groups (memberOf). Reads the relations that catalog_finish computed.
 */
int oncall_for_entity(const struct oncall *oc, const struct catalog *cat,
		      const struct cat_entity *e, int64_t now_ms, struct oncall_answer *out);

#endif
