/*
 * Test harness for the Slack adapter: a loop, the fake Slack, the demo world
 * (SQLite in memory) and one Slack adapter pointed at the fake. Tests drive
 * the loop with slack_h_run_until and look at what the fake recorded.
 */
#ifndef T0_SLACK_HARNESS_H
#define T0_SLACK_HARNESS_H

#include <stdint.h>

#include <uv.h>

#include "bot/adapter.h"

struct bot;
struct fake_slack;
struct http_server;
struct t0_loop;

struct slack_h {
	struct t0_loop *l;
	struct fake_slack *fs;
	struct bot *bot;
	struct http_server *http; /* HTTP mode: the bot's inbound server */
	void *state;              /* the adapter */
	int started;
	uv_timer_t guard, poll;
	int (*pred)(void *);
	void *pred_arg;
	int met;
	char err[1024];
};

/*
 * Builds everything; slack_yaml holds extra keys of the slack section (each
 * line indented two spaces), http_mode switches slack.mode to http with an
 * inbound server on a free port. 0 on success, else -1 with h->err.
 */
int slack_h_init(struct slack_h *h, const char *slack_yaml, int http_mode);
/* The adapter's start(): its rc. */
int slack_h_start(struct slack_h *h);
/* Runs the loop until pred(arg) is true or ms pass; returns 1 when pred held. */
int slack_h_run_until(struct slack_h *h, int (*pred)(void *), void *arg, int ms);
void slack_h_run_for(struct slack_h *h, int ms);
/* stop, loop_free, free: the order the app uses. */
void slack_h_free(struct slack_h *h);

/* A fixture file's text (T0_FIXTURES-relative path), malloc'ed, or NULL. */
char *slack_h_fixture(const char *fixtures_dir, const char *rel);

#endif
