/* RFC 3339 times and UTC offsets: one parser for configuration, the CLI and audit export. */
#ifndef T0_TIMEPARSE_H
#define T0_TIMEPARSE_H

#include <stdint.h>

/*
 * "2026-01-05T09:00:00Z", "2026-01-05T10:00:00+01:00", fractions, or a date
 * ("2026-01-05", midnight). A time without an offset uses default_offset_min
 * (minutes east of UTC). Returns 0 and milliseconds since the epoch, or -1.
 */
int t0_time_parse(const char *s, int default_offset_min, int64_t *ms);
/* As default_offset_min: a time of day must carry its offset (RFC 3339 proper). */
#define T0_TIME_OFFSET_REQUIRED (-100000)
/* "UTC", "Z", "+HH:MM", "-HH:MM" -> minutes east of UTC; 0, or -1 when malformed. */
int t0_tz_parse(const char *tz, int *minutes);

#endif
