/* Runs a function on a later loop turn (answers that must not come from inside the call). */
#ifndef T0_CTX_DEFER_H
#define T0_CTX_DEFER_H

struct t0_loop;

/* fn(arg) runs once on a later turn (also during loop_free's final turns). */
int ctx_defer(struct t0_loop *loop, void (*fn)(void *arg), void *arg);

#endif
