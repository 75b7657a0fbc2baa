#include "bot/t0.h"

#include <time.h>

static const char *const rc_names[] = {
	[T0_OK] = "T0_OK",
	[T0_ENOMEM] = "T0_ENOMEM",
	[T0_EINVAL] = "T0_EINVAL",
	[T0_ETIMEOUT] = "T0_ETIMEOUT",
	[T0_EHTTP] = "T0_EHTTP",
	[T0_EPARSE] = "T0_EPARSE",
	[T0_EDB] = "T0_EDB",
	[T0_EDENIED] = "T0_EDENIED",
	[T0_ERATELIMIT] = "T0_ERATELIMIT",
	[T0_ENOTFOUND] = "T0_ENOTFOUND",
	[T0_EIO] = "T0_EIO",
	[T0_ECONFIG] = "T0_ECONFIG",
	[T0_EDUP] = "T0_EDUP",
	[T0_ETOOBIG] = "T0_ETOOBIG",
	[T0_ECLOSED] = "T0_ECLOSED",
	[T0_EINTEGRITY] = "T0_EINTEGRITY",
};

const char *t0_rc_str(int rc)
{
	if (rc < 0 || (size_t)rc >= T0_ARRAY_LEN(rc_names) || !rc_names[rc])
		return "T0_EUNKNOWN";
	return rc_names[rc];
}

static int64_t fake_now_ms;

void t0_set_fake_now_ms(int64_t ms)
{
	fake_now_ms = ms;
}

int64_t t0_now_ms(void)
{
	struct timespec ts;

	if (fake_now_ms)
		return fake_now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t t0_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
