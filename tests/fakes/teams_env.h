/*
 * A Teams test bench: one loop, the fake Bot Framework, a bot on the demo
 * catalog with an in-memory store, the inbound HTTP server and the Teams
 * adapter pointed at the fake. Activities are posted to the adapter the way
 * the Bot Connector posts them (signed bearer token), fixtures rewritten so
 * that their serviceUrl is the fake's.
 */
#ifndef T0_TEAMS_ENV_H
#define T0_TEAMS_ENV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct bot;
struct fake_bf;
struct http_server;
struct t0_loop;

#define TEAMS_ENV_APP "3f1c7a2e-9b4d-4e8a-a1c2-0d5e6f7a8b9c"
#define TEAMS_ENV_NOW_S 1764151200LL /* 2025-11-26T10:00:00Z, the fake clock */

struct teams_env {
	struct t0_loop *l;
	uv_timer_t guard, tick;
	struct fake_bf *fb;
	struct bot *bot;
	struct http_server *srv;
	void *state; /* the adapter's */
	int port;
	int stopped_by_guard;
};

struct teams_env_result {
	int done;
	int rc;
	long status;
	char body[65536];
	char ctype[128];
	int64_t elapsed_ms;
	struct t0_loop *stop; /* stopped when the answer arrives (teams_env_post) */
};

/*
 * extra_yaml: lines added inside the teams section (indented two spaces),
 * e.g. "  invoke_timeout_ms: 300\n". start: 1 runs the adapter until it is
 * ready (token and keys fetched). NULL on failure.
 */
struct teams_env *teams_env_new(const char *extra_yaml, int start);
/* The same with another catalog (a glob, absolute or relative to the working directory). */
struct teams_env *teams_env_new_catalog(const char *catalog_glob, const char *extra_yaml, int start);
void teams_env_free(struct teams_env *e);

/* Runs the loop until pred(arg) is true (checked every 5 ms) or ms pass; returns pred's value. */
int teams_env_run_until(struct teams_env *e, int (*pred)(void *arg), void *arg, uint64_t ms);
void teams_env_run_for(struct teams_env *e, uint64_t ms);

/* A fixture file of fixtures/teams/ as JSON (new reference), serviceUrl set to the fake's. */
json_t *teams_env_fixture(struct teams_env *e, const char *name);

/* A valid token for act (audience, serviceurl, times from the fake clock); caller frees. */
char *teams_env_token(struct teams_env *e, const json_t *act);

/*
 * POSTs act to the adapter's endpoint with "Authorization: Bearer <token>"
 * (no header when token is NULL) and runs the loop until the answer.
 */
void teams_env_post(struct teams_env *e, const json_t *act, const char *token,
		    struct teams_env_result *r);
/* Starts the POST without waiting; r->done turns 1 with the answer. */
void teams_env_post_async(struct teams_env *e, const json_t *act, const char *token,
			  struct teams_env_result *r);

/* Queues an answer of the fake connector for method + the path of (conv, suffix, activity). */
void teams_env_connector(struct teams_env *e, const char *method, const char *conv,
			 const char *suffix, const char *activity, int status, const char *headers,
			 const char *body);

#endif
