#include "adapters/chat/teams/teams_timer.h"

#include <stdlib.h>

#include "bot/loop.h"

uv_timer_t *teams_timer_new(struct t0_loop *l, void *data)
{
	uv_timer_t *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	uv_timer_init(loop_uv(l), t);
	t->data = data;
	return t;
}

static void on_closed(uv_handle_t *h)
{
	free(h);
}

void teams_timer_free(uv_timer_t *t)
{
	if (!t)
		return;
	if (uv_is_closing((uv_handle_t *)t)) {
		/* loop_free closed it already (its loop may be gone): only the memory is left. */
		free(t);
		return;
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, on_closed);
}
