/* tier0: the one result enum shared by every module. */
#ifndef T0_H
#define T0_H

#include <stddef.h>
#include <stdint.h>

/* New codes go at the end; numbers never change meaning. */
enum t0_rc {
	T0_OK = 0,
	T0_ENOMEM,
	T0_EINVAL,
	T0_ETIMEOUT,
	T0_EHTTP,
	T0_EPARSE,
	T0_EDB,
	T0_EDENIED,
	T0_ERATELIMIT,
	T0_ENOTFOUND,
	T0_EIO,
	T0_ECONFIG,
	T0_EDUP,
	T0_ETOOBIG,
	T0_ECLOSED,
	T0_EINTEGRITY,
};

const char *t0_rc_str(int rc);

/* Exit statuses of the tier0 binary. */
#define T0_EXIT_OK 0
#define T0_EXIT_RUNTIME 1
#define T0_EXIT_USAGE 2

#define T0_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in milliseconds since the epoch; tests may replace it. */
int64_t t0_now_ms(void);
void t0_set_fake_now_ms(int64_t ms); /* 0 restores the real clock */

/* Monotonic clock in nanoseconds, for latencies. */
uint64_t t0_mono_ns(void);

#endif
