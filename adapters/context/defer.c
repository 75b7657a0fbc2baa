#include "adapters/context/defer.h"

#include <stdlib.h>
#include <uv.h>

#include "bot/loop.h"
#include "bot/t0.h"

struct deferred {
	uv_timer_t t;
	void (*fn)(void *arg);
	void *arg;
};

static void deferred_closed(uv_handle_t *h)
{
	free(h->data);
}

static void deferred_fire(uv_timer_t *t)
{
	struct deferred *d = t->data;

	d->fn(d->arg);
	uv_close((uv_handle_t *)&d->t, deferred_closed);
}

int ctx_defer(struct t0_loop *loop, void (*fn)(void *arg), void *arg)
{
	struct deferred *d;

	if (!loop || !fn || loop_closing(loop))
		return T0_ECLOSED;
	d = calloc(1, sizeof(*d));
	if (!d)
		return T0_ENOMEM;
	d->fn = fn;
	d->arg = arg;
	uv_timer_init(loop_uv(loop), &d->t);
	d->t.data = d;
	uv_timer_start(&d->t, deferred_fire, 0, 0);
	return T0_OK;
}
