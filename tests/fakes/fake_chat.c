#include "tests/fakes/fake_chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/reply.h"
#include "bot/t0.h"

struct fc_pending {
	uv_timer_t t;
	struct fake_chat *fc;
	adapter_sent_cb cb;
	void *arg;
	int rc;
	char ref[64];
};

struct fake_chat {
	uv_loop_t *uv;
	int delay_ms;
	unsigned next_ref;
	int fail_rc;
	struct fake_chat_msg *msgs;
	size_t n, cap;
	size_t pending;
	int freeing;
};

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct fake_chat *fake_chat_new(uv_loop_t *uv, int delay_ms)
{
	struct fake_chat *fc = calloc(1, sizeof(*fc));

	if (!fc)
		return NULL;
	fc->uv = uv;
	fc->delay_ms = delay_ms;
	fc->next_ref = 1;
	return fc;
}

static void fc_destroy(struct fake_chat *fc)
{
	for (size_t i = 0; i < fc->n; i++) {
		free(fc->msgs[i].channel);
		free(fc->msgs[i].thread);
		free(fc->msgs[i].ref);
		free(fc->msgs[i].text);
		free(fc->msgs[i].json);
	}
	free(fc->msgs);
	free(fc);
}

void fake_chat_free(struct fake_chat *fc)
{
	if (!fc)
		return;
	if (fc->pending) {
		fc->freeing = 1; /* the last completion frees */
		return;
	}
	fc_destroy(fc);
}

void fake_chat_set_first_ref(struct fake_chat *fc, unsigned first)
{
	fc->next_ref = first;
}

void fake_chat_fail(struct fake_chat *fc, int rc)
{
	fc->fail_rc = rc;
}

static void pending_closed(uv_handle_t *h)
{
	struct fc_pending *p = h->data;
	struct fake_chat *fc = p->fc;

	free(p);
	if (--fc->pending == 0 && fc->freeing)
		fc_destroy(fc);
}

static void pending_fire(uv_timer_t *t)
{
	struct fc_pending *p = t->data;

	if (p->cb && !p->fc->freeing)
		p->cb(p->arg, p->rc, p->rc == T0_OK ? p->ref : NULL);
	uv_close((uv_handle_t *)&p->t, pending_closed);
}

static int record(struct fake_chat *fc, int is_update, const struct reply_target *to,
		  const char *ref, const struct reply *r, adapter_sent_cb cb, void *arg)
{
	struct fake_chat_msg *m;
	struct fc_pending *p;
	char newref[64];

	if (!is_update) {
		snprintf(newref, sizeof(newref), "fake:%u", fc->next_ref++);
		ref = newref;
	}
	if (fc->n == fc->cap) {
		size_t ncap = fc->cap ? fc->cap * 2 : 64;
		struct fake_chat_msg *nm = realloc(fc->msgs, ncap * sizeof(*nm));

		if (!nm)
			return T0_ENOMEM;
		fc->msgs = nm;
		fc->cap = ncap;
	}
	m = &fc->msgs[fc->n++];
	memset(m, 0, sizeof(*m));
	m->is_update = is_update;
	m->channel = dup_opt(to ? to->channel : NULL);
	m->thread = dup_opt(to ? to->thread : NULL);
	m->ref = dup_opt(ref);
	m->text = dup_opt(r ? r->text : NULL);
	m->json = r ? reply_to_json(r) : NULL;
	if (!fc->uv) {
		if (cb)
			cb(arg, fc->fail_rc ? fc->fail_rc : T0_OK, fc->fail_rc ? NULL : ref);
		return T0_OK;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return T0_ENOMEM;
	p->fc = fc;
	p->cb = cb;
	p->arg = arg;
	p->rc = fc->fail_rc ? fc->fail_rc : T0_OK;
	snprintf(p->ref, sizeof(p->ref), "%s", ref ? ref : "");
	uv_timer_init(fc->uv, &p->t);
	p->t.data = p;
	fc->pending++;
	uv_timer_start(&p->t, pending_fire, (uint64_t)fc->delay_ms, 0);
	return T0_OK;
}

static int fc_send(void *state, const struct reply_target *to, const struct reply *r,
		   adapter_sent_cb cb, void *arg)
{
	return record(state, 0, to, NULL, r, cb, arg);
}

static int fc_update(void *state, const struct reply_target *to, const char *message_ref,
		     const struct reply *r, adapter_sent_cb cb, void *arg)
{
	return record(state, 1, to, message_ref, r, cb, arg);
}

const struct adapter_ops fake_chat_ops = {
	.name = "fake",
	.kind = ADAPTER_CHAT,
	.send = fc_send,
	.update = fc_update,
};

size_t fake_chat_count(const struct fake_chat *fc)
{
	return fc->n;
}

const struct fake_chat_msg *fake_chat_msg(const struct fake_chat *fc, size_t i)
{
	return i < fc->n ? &fc->msgs[i] : NULL;
}

size_t fake_chat_posts(const struct fake_chat *fc)
{
	size_t n = 0;

	for (size_t i = 0; i < fc->n; i++)
		n += !fc->msgs[i].is_update && !fc->msgs[i].thread;
	return n;
}

size_t fake_chat_updates(const struct fake_chat *fc)
{
	size_t n = 0;

	for (size_t i = 0; i < fc->n; i++)
		n += fc->msgs[i].is_update;
	return n;
}

size_t fake_chat_thread_replies(const struct fake_chat *fc)
{
	size_t n = 0;

	for (size_t i = 0; i < fc->n; i++)
		n += !fc->msgs[i].is_update && fc->msgs[i].thread;
	return n;
}

size_t fake_chat_pending(const struct fake_chat *fc)
{
	return fc->pending;
}
