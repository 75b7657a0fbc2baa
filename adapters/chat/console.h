#ifndef T0_CONSOLE_H
#define T0_CONSOLE_H

#include <stdint.h>

#include "bot/adapter.h"

extern const struct adapter_ops console_ops;

/* Lines read so far (benchmarks and tests). */
uint64_t console_lines_read(void *state);

#endif
