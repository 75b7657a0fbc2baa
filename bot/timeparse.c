/* RFC 3339 times and UTC offsets, without timegm or the TZ environment. */
#include "bot/timeparse.h"

#include <ctype.h>
#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* Exactly n digits at *p; advances. */
static int digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* "+HH:MM" / "-HH:MM" / "Z" / "UTC" -> minutes east of UTC; -1 on error. */
static int parse_offset(const char **p, int *minutes)
{
	const char *s = *p;
	int sign, hh, mm;

	if (*s == 'Z' || *s == 'z') {
		*minutes = 0;
		*p = s + 1;
		return 0;
	}
	if (strncmp(s, "UTC", 3) == 0) {
		*minutes = 0;
		*p = s + 3;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s == '-' ? -1 : 1;
	s++;
	if (digits(&s, 2, &hh) || *s++ != ':' || digits(&s, 2, &mm) || hh > 23 || mm > 59)
		return -1;
	*minutes = sign * (hh * 60 + mm);
	*p = s;
	return 0;
}

int t0_tz_parse(const char *tz, int *minutes)
{
	const char *p = tz;

	if (!tz || parse_offset(&p, minutes) != 0 || *p)
		return -1;
	return 0;
}

int t0_time_parse(const char *s, int default_offset_min, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0, fdig = 0, off = default_offset_min;
	int64_t days, secs;

	if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
		    digits(&p, 2, &ss))
			return -1;
		/* a leap second is read as the last second of its minute */
		if (hh > 23 || mi > 59 || ss > 60)
			return -1;
		if (ss == 60)
			ss = 59;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			while (isdigit((unsigned char)*p)) {
				if (fdig < 3) {
					frac = frac * 10 + (*p - '0');
					fdig++;
				}
				p++;
			}
			while (fdig < 3) {
				frac *= 10;
				fdig++;
			}
		}
		if (*p && parse_offset(&p, &off) != 0)
			return -1;
		if (off == T0_TIME_OFFSET_REQUIRED)
			return -1;
	}
	if (*p)
		return -1;
	if (off == T0_TIME_OFFSET_REQUIRED)
		off = 0; /* a bare date is midnight UTC */
	days = days_from_civil(y, mo, d);
	secs = days * 86400 + hh * 3600 + mi * 60 + ss - (int64_t)off * 60;
	*ms = secs * 1000 + frac;
	return 0;
}
