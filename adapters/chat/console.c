/*
 * The console adapter: chat with tier0 in a terminal, or drive it with a
 * script on stdin (one message per line, replies on stdout, deterministic).
 * stdin is read on the loop whatever it is: a TTY, a pipe or a regular file.
 */
#include "adapters/chat/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "adapters/chat/console_render.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "intents/intent.h"

#define CONSOLE_LINE_MAX (INTENT_MAX_TEXT + 256)
#define CONSOLE_READ_CHUNK 65536

struct saved_button {
	char *action_id;
	char *value;
	char *confirm;
};

struct console {
	struct adapter_ctx ctx;
	uv_loop_t *uv;
	int fd;
	int interactive;
	int handle_type; /* uv_handle_type of stdin */
	union {
		uv_tty_t tty;
		uv_pipe_t pipe;
	} h;
	uv_fs_t fs_req;
	int64_t file_off;
	char *readbuf;
	int started, closing, closed, free_pending, eof;
	char line[CONSOLE_LINE_MAX];
	size_t line_len;
	int line_overflow;
	struct saved_button *buttons;
	size_t nbuttons;
	int pending_confirm; /* 1-based button waiting for y/n, 0 none */
	int waiting, in_dispatch, paused, file_reading;
	uint64_t posted;
	char *rest; /* input read but not yet handled while paused */
	size_t rest_len;
	FILE *out;
	uint64_t lines;
};

static void buttons_clear(struct console *c)
{
	for (size_t i = 0; i < c->nbuttons; i++) {
		free(c->buttons[i].action_id);
		free(c->buttons[i].value);
		free(c->buttons[i].confirm);
	}
	free(c->buttons);
	c->buttons = NULL;
	c->nbuttons = 0;
	c->pending_confirm = 0;
}

static void buttons_save(struct console *c, const struct reply *r)
{
	buttons_clear(c);
	if (!r->nbuttons)
		return;
	c->buttons = calloc(r->nbuttons, sizeof(*c->buttons));
	if (!c->buttons)
		return;
	for (size_t i = 0; i < r->nbuttons; i++) {
		c->buttons[i].action_id = strdup(r->buttons[i].action_id);
		c->buttons[i].value = strdup(r->buttons[i].value ? r->buttons[i].value : "");
		c->buttons[i].confirm = r->buttons[i].confirm ? strdup(r->buttons[i].confirm) : NULL;
		c->nbuttons++;
	}
}

static void prompt(struct console *c)
{
	if (c->interactive && !c->eof) {
		fputs("tier0> ", c->out);
		fflush(c->out);
	}
}

static void print_reply(struct console *c, const struct reply *r)
{
	size_t len = 0;
	char *text = console_render(r, &len);

	if (!text) {
		fputs("(reply too large to show)\n", c->out);
		return;
	}
	fwrite(text, 1, len, c->out);
	fputc('\n', c->out);
	fflush(c->out);
	free(text);
}

static void fill_actor(struct console *c, struct actor *a)
{
	const struct config *cfg = c->ctx.bot->world->cfg;
	struct cat_entity *u = catalog_user(c->ctx.bot->world->cat, cfg->console_user);

	a->platform = "console";
	a->user_id = cfg->console_user;
	a->display_name = u ? (u->display_name ? u->display_name : u->name) : cfg->console_user;
	a->email = cfg->console_email ? cfg->console_email : (u ? u->email : NULL);
}

static void pause_input(struct console *c);
static void resume_input(struct console *c);

static void on_reply(void *arg, struct reply *r)
{
	struct console *c = arg;

	if (r) {
		print_reply(c, r);
		buttons_save(c, r);
		reply_free(r);
	}
	c->waiting = 0;
	if (!c->in_dispatch && c->paused) {
		/* An answer that took a while: go on with the script where it stopped. */
		resume_input(c);
	}
}

/*
 * Lines are answered strictly in order: while an answer is outstanding, input
 * is paused, so a script's replies come out in the order of its lines.
 */
static void dispatch(struct console *c, struct event *ev)
{
	fill_actor(c, &ev->actor);
	ev->channel = c->ctx.bot->world->cfg->console_channel;
	c->waiting = 1;
	c->in_dispatch = 1;
	bot_dispatch(c->ctx.bot, ev, on_reply, c);
	c->in_dispatch = 0;
	if (c->waiting)
		pause_input(c);
}

static void press(struct console *c, size_t index)
{
	struct saved_button *b = &c->buttons[index];
	struct event ev = { .kind = EVENT_INTERACTION };
	char *action = strdup(b->action_id), *value = strdup(b->value);

	/* The event outlives the saved buttons, which the reply replaces. */
	if (action && value) {
		ev.action_id = action;
		ev.value = value;
		dispatch(c, &ev);
	}
	free(action);
	free(value);
}

static void on_line(struct console *c, char *line)
{
	struct event ev = { 0 };
	size_t n = strlen(line);
	char *cmd_end;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	c->lines++;
	if (!c->interactive) {
		char safe[CONSOLE_LINE_MAX];

		console_sanitize(line, safe, sizeof(safe));
		fprintf(c->out, "> %s\n", safe);
	}
	if (!*line)
		return;
	if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0) {
		c->eof = 1;
		if (c->ctx.request_stop)
			c->ctx.request_stop(c->ctx.request_stop_arg);
		return;
	}
	if (c->pending_confirm) {
		size_t idx = (size_t)c->pending_confirm - 1;

		c->pending_confirm = 0;
		if (strcmp(line, "y") == 0 || strcmp(line, "yes") == 0) {
			press(c, idx);
		} else {
			fputs("Cancelled.\n\n", c->out);
		}
		return;
	}
	if (c->nbuttons && strspn(line, "0123456789") == n && n < 4) {
		long choice = strtol(line, NULL, 10);

		if (choice >= 1 && (size_t)choice <= c->nbuttons) {
			struct saved_button *b = &c->buttons[choice - 1];

			if (b->confirm) {
				fprintf(c->out, "%s [y/N]\n", b->confirm);
				c->pending_confirm = (int)choice;
				return;
			}
			press(c, (size_t)choice - 1);
			return;
		}
	}
	if (line[0] == '/') {
		cmd_end = line + strcspn(line, " \t");
		ev.kind = EVENT_COMMAND;
		ev.text = *cmd_end ? cmd_end + 1 : "";
		if (*cmd_end)
			*cmd_end = '\0';
		ev.command = line;
		while (*ev.text == ' ' || *ev.text == '\t')
			ev.text++;
	} else {
		ev.kind = EVENT_MESSAGE;
		ev.text = line;
	}
	dispatch(c, &ev);
}

static void feed(struct console *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			if (c->line_overflow) {
				fprintf(c->out, "(line longer than %d bytes ignored)\n\n",
					CONSOLE_LINE_MAX - 1);
			} else {
				c->line[c->line_len] = '\0';
				on_line(c, c->line);
			}
			c->line_len = 0;
			c->line_overflow = 0;
			if (c->paused) {
				/* Keep the rest of this chunk for when the answer has come. */
				size_t left = len - i - 1;
				char *keep = left ? malloc(left) : NULL;

				if (left && keep) {
					memcpy(keep, data + i + 1, left);
					free(c->rest);
					c->rest = keep;
					c->rest_len = left;
				}
				return;
			}
			prompt(c);
			continue;
		}
		if (c->line_len + 1 >= sizeof(c->line)) {
			c->line_overflow = 1;
			continue;
		}
		c->line[c->line_len++] = data[i];
	}
}

static void at_eof(struct console *c)
{
	if (c->eof)
		return;
	if (c->line_len && !c->line_overflow) {
		c->line[c->line_len] = '\0';
		on_line(c, c->line);
	}
	c->line_len = 0;
	c->eof = 1;
	if (c->interactive)
		fputc('\n', c->out);
	fflush(c->out);
	if (c->ctx.request_stop)
		c->ctx.request_stop(c->ctx.request_stop_arg);
}

static void on_file_read(uv_fs_t *req);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct console *c = h->data;

	buf->base = c->readbuf;
	buf->len = CONSOLE_READ_CHUNK;
}

static void on_stream_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct console *c = s->data;

	if (n > 0) {
		if (!c->eof)
			feed(c, buf->base, (size_t)n);
		return;
	}
	if (n < 0) {
		if (n != UV_EOF)
			log_warn("console", "read_error", "error=%s", uv_strerror((int)n));
		uv_read_stop(s);
		at_eof(c);
	}
}

static int file_read_next(struct console *c)
{
	uv_buf_t buf = uv_buf_init(c->readbuf, CONSOLE_READ_CHUNK);

	c->fs_req.data = c;
	return uv_fs_read(c->uv, &c->fs_req, c->fd, &buf, 1, c->file_off, on_file_read);
}

static void on_file_read(uv_fs_t *req)
{
	struct console *c = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	c->file_reading = 0;
	if (n > 0 && !c->eof && !c->closing) {
		c->file_off += n;
		feed(c, c->readbuf, (size_t)n);
		if (c->paused)
			return; /* resume_input reads on */
		if (!c->eof && !c->closing && file_read_next(c) == 0) {
			c->file_reading = 1;
			return;
		}
	} else if (n < 0 && n != UV_ECANCELED) {
		log_warn("console", "read_error", "error=%s", uv_strerror((int)n));
	}
	c->closed = 1; /* no handle to close for a file */
	at_eof(c);
	if (c->free_pending)
		console_ops.free(c);
}

static void pause_input(struct console *c)
{
	if (c->paused)
		return;
	c->paused = 1;
	if (c->handle_type != UV_FILE && c->started && !c->closing && !c->closed)
		uv_read_stop((uv_stream_t *)&c->h);
}

static void resume_input(struct console *c)
{
	char *rest = c->rest;
	size_t len = c->rest_len;

	c->paused = 0;
	c->rest = NULL;
	c->rest_len = 0;
	if (rest) {
		feed(c, rest, len);
		free(rest);
		if (c->paused)
			return;
	}
	prompt(c);
	if (c->eof || c->closing || c->closed)
		return;
	if (c->handle_type == UV_FILE) {
		if (!c->file_reading && file_read_next(c) == 0)
			c->file_reading = 1;
		else if (!c->file_reading) {
			c->closed = 1;
			at_eof(c);
		}
		return;
	}
	uv_read_start((uv_stream_t *)&c->h, on_alloc, on_stream_read);
}

static int console_init(const struct adapter_ctx *ctx, void **state)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c)
		return T0_ENOMEM;
	c->readbuf = malloc(CONSOLE_READ_CHUNK);
	if (!c->readbuf) {
		free(c);
		return T0_ENOMEM;
	}
	c->ctx = *ctx;
	c->uv = (uv_loop_t *)ctx->uv;
	c->fd = STDIN_FILENO;
	c->out = stdout;
	c->handle_type = uv_guess_handle(c->fd);
	c->interactive = c->handle_type == UV_TTY && isatty(STDOUT_FILENO);
	*state = c;
	return T0_OK;
}

static int console_start(void *state)
{
	struct console *c = state;
	int err = 0;

	switch (c->handle_type) {
	case UV_TTY:
		err = uv_tty_init(c->uv, &c->h.tty, c->fd, 1);
		break;
	case UV_NAMED_PIPE:
		err = uv_pipe_init(c->uv, &c->h.pipe, 0);
		if (!err)
			err = uv_pipe_open(&c->h.pipe, c->fd);
		break;
	case UV_FILE: {
		c->started = 1;
		err = file_read_next(c);
		if (err) {
			log_err("console", "start_failed", "error=%s", uv_strerror(err));
			c->closed = 1;
			return T0_EIO;
		}
		c->file_reading = 1;
		goto started;
	}
	default:
		log_err("console", "start_failed", "error=stdin is neither a terminal, a pipe nor a file");
		return T0_EIO;
	}
	if (err) {
		log_err("console", "start_failed", "error=%s", uv_strerror(err));
		return T0_EIO;
	}
	c->h.tty.data = c; /* both union members start with the same handle header */
	c->started = 1;
	err = uv_read_start((uv_stream_t *)&c->h, on_alloc, on_stream_read);
	if (err) {
		log_err("console", "start_failed", "error=%s", uv_strerror(err));
		return T0_EIO;
	}
started:
	if (c->interactive) {
		fprintf(c->out,
			"tier0 %s console. You are %s in %s. Ask \"help\", or \"quit\" to leave.\n",
			T0_VERSION, c->ctx.bot->world->cfg->console_user,
			c->ctx.bot->world->cfg->console_channel);
		prompt(c);
	}
	return T0_OK;
}

static void free_state(struct console *c)
{
	buttons_clear(c);
	free(c->rest);
	free(c->readbuf);
	free(c);
}

static void on_closed(uv_handle_t *h)
{
	struct console *c = h->data;

	c->closed = 1;
	if (c->free_pending)
		free_state(c);
}

static void console_stop(void *state)
{
	struct console *c = state;

	if (!c->started || c->closing || c->closed)
		return;
	c->closing = 1;
	c->eof = 1;
	if (c->handle_type == UV_FILE) {
		if (c->file_reading)
			uv_cancel((uv_req_t *)&c->fs_req); /* on_file_read sees UV_ECANCELED */
		else
			c->closed = 1; /* paused between reads: nothing in flight */
		return;
	}
	if (c->handle_type == UV_TTY)
		uv_tty_reset_mode();
	uv_close((uv_handle_t *)&c->h, on_closed);
}

static void console_free(void *state)
{
	struct console *c = state;

	if (!c)
		return;
	if (c->started && !c->closed) {
		/* A close is in flight: the close callback frees. */
		console_stop(c);
		c->free_pending = 1;
		return;
	}
	free_state(c);
}

static int console_ready(void *state)
{
	struct console *c = state;

	return c->started && !c->eof;
}

static int console_send(void *state, const struct reply_target *to, const struct reply *r,
			adapter_sent_cb cb, void *arg)
{
	struct console *c = state;
	char ref[32];

	print_reply(c, r);
	snprintf(ref, sizeof(ref), "console:%llu", (unsigned long long)++c->posted);
	if (cb)
		cb(arg, T0_OK, ref);
	return T0_OK;
}

/* A terminal cannot edit what it printed: an update is printed again, marked. */
static int console_update(void *state, const struct reply_target *to, const char *message_ref,
			  const struct reply *r, adapter_sent_cb cb, void *arg)
{
	struct console *c = state;

	fprintf(c->out, "(update to %s)\n", message_ref ? message_ref : "?");
	print_reply(c, r);
	if (cb)
		cb(arg, T0_OK, message_ref);
	return T0_OK;
}

const struct adapter_ops console_ops = {
	.name = "console",
	.kind = ADAPTER_CHAT,
	.init = console_init,
	.start = console_start,
	.stop = console_stop,
	.free = console_free,
	.ready = console_ready,
	.send = console_send,
	.update = console_update,
};

uint64_t console_lines_read(void *state)
{
	return ((struct console *)state)->lines;
}
