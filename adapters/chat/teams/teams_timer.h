/*
 * Heap-allocated uv timers for the Teams adapter's objects. The app frees
 * adapters after loop_free, which closes stray handles itself: releasing a
 * timer must then only free its memory, not close it again.
 */
#ifndef T0_TEAMS_TIMER_H
#define T0_TEAMS_TIMER_H

#include <uv.h>

struct t0_loop;

/* An initialised, stopped timer with data set; NULL on allocation failure. */
uv_timer_t *teams_timer_new(struct t0_loop *l, void *data);
/* Stops and closes it (memory freed when closed); NULL is fine. */
void teams_timer_free(uv_timer_t *t);

#endif
