/*
 * A running incident module for tests and benchmarks: configuration written
 * to a temporary directory ("@DIR@" in the text is replaced by it), the bot,
 * the loop, optionally the inbound HTTP server, a fake chat adapter and the
 * "incidents" adapter, wired as the app wires them.
 */
#ifndef T0_INCIDENT_ENV_H
#define T0_INCIDENT_ENV_H

#include <stddef.h>

struct bot;
struct t0_loop;
struct http_server;
struct fake_chat;
struct incident_mgr;

struct incident_env {
	char dir[64];
	struct t0_loop *loop;
	struct bot *bot;
	struct http_server *http;
	struct fake_chat *chat;
	void *adapter;
	struct incident_mgr *mgr;
	char err[1024];
};

/* chat_delay_ms < 0: the fake chat answers synchronously. dir is kept across open/close. */
int incident_env_open(struct incident_env *e, const char *config_yaml, int with_http,
		      int chat_delay_ms);
/* Stops the adapter, frees the loop, the bot and the fakes (not the directory). */
void incident_env_close(struct incident_env *e);
/* Removes the directory. */
void incident_env_cleanup(struct incident_env *e);

/* Runs the loop until done(arg) is non-zero or timeout_ms passes; returns done's last value. */
int incident_env_run_until(struct incident_env *e, int (*done)(void *arg), void *arg,
			   int timeout_ms);
/* Runs the loop for ms milliseconds. */
void incident_env_run_for(struct incident_env *e, int ms);

/* POSTs body to our own server; returns the HTTP status (0 on failure) after the answer. */
long incident_env_post(struct incident_env *e, const char *path, const char *const *headers,
		       size_t nheaders, const char *body, size_t len);

/* Reads a fixture file (T0_FIXTURES/<rel>) into a malloc'ed buffer. */
char *incident_env_fixture(const char *rel, size_t *len);

#endif
