/*
 * A chat adapter for tests: records every post and update (target, thread,
 * message ref, the reply as JSON) and answers like a platform would, either
 * at once (like the console) or on a later loop turn after delay_ms (like
 * Slack's Web API). Register it with bot_chat_register(b, &fake_chat_ops, fc).
 */
#ifndef T0_FAKE_CHAT_H
#define T0_FAKE_CHAT_H

#include <stddef.h>

#include <uv.h>

#include "bot/adapter.h"

extern const struct adapter_ops fake_chat_ops; /* name "fake" */

struct fake_chat_msg {
	int is_update;
	char *channel;
	char *thread;      /* NULL for a top-level message */
	char *ref;         /* the message's ref (new for posts, edited for updates) */
	char *text;        /* the reply's headline */
	char *json;        /* reply_to_json */
};

struct fake_chat;

/* uv NULL: complete synchronously. Otherwise on the loop after delay_ms (0 = next turn). */
struct fake_chat *fake_chat_new(uv_loop_t *uv, int delay_ms);
void fake_chat_free(struct fake_chat *fc);
/* Refs start at "fake:<first>" (a restarted platform keeps counting). */
void fake_chat_set_first_ref(struct fake_chat *fc, unsigned first);
/* Every later send/update fails with rc (0 = succeed again). */
void fake_chat_fail(struct fake_chat *fc, int rc);

size_t fake_chat_count(const struct fake_chat *fc);
const struct fake_chat_msg *fake_chat_msg(const struct fake_chat *fc, size_t i);
/* Top-level posts (no thread), updates, thread replies. */
size_t fake_chat_posts(const struct fake_chat *fc);
size_t fake_chat_updates(const struct fake_chat *fc);
size_t fake_chat_thread_replies(const struct fake_chat *fc);
/* Sends and updates not yet completed. */
size_t fake_chat_pending(const struct fake_chat *fc);

#endif
