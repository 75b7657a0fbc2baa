/*
 * The one event loop: a libuv loop that carries libwebsockets (as a foreign
 * loop) and libcurl's multi interface (through uv_poll_t and uv_timer_t).
 * Everything here is called from the loop thread only. See docs/LOOP.md.
 *
 *   struct t0_loop *l = loop_new(err, sizeof(err));
 *   ... create http servers, start requests, loop_on_signal(...) ...
 *   loop_run(l);        returns after loop_stop()
 *   loop_free(l);       fails pending work with T0_ECLOSED, closes everything
 */
#ifndef T0_LOOP_H
#define T0_LOOP_H

#include <stddef.h>

#include <curl/curl.h>
#include <uv.h>

struct t0_loop;
struct lws_context;

/* NULL on failure with the reason in err. Also ignores SIGPIPE process-wide. */
struct t0_loop *loop_new(char *err, size_t errlen);
/*
 * Fails every pending outbound request with T0_ECLOSED (callbacks run here),
 * destroys the lws context and lets the loop run until every handle is
 * closed. Not from inside a loop callback. NULL is fine.
 */
void loop_free(struct t0_loop *l);

/* Borrowed; valid until loop_free. */
uv_loop_t *loop_uv(struct t0_loop *l);
struct lws_context *loop_lws(struct t0_loop *l);

/* Runs until loop_stop() is called (from a callback). Returns T0_OK. */
int loop_run(struct t0_loop *l);
void loop_stop(struct t0_loop *l);
/* Non-zero once loop_free has begun: new work is refused with T0_ECLOSED. */
int loop_closing(const struct t0_loop *l);

/* Outbound requests started and not yet completed (including retry waits). */
size_t loop_inflight(const struct t0_loop *l);

typedef void (*loop_signal_cb)(struct t0_loop *l, int signum, void *arg);
/* Calls cb on the loop when signum arrives; handles live until loop_free. */
int loop_on_signal(struct t0_loop *l, int signum, loop_signal_cb cb, void *arg);

/*
 * For modules built on the loop (the HTTP client): pending work that must
 * finish exactly once. loop_free calls cancel() for every job still added;
 * cancel must remove nothing itself (the loop already unlinked it) and must
 * complete the job's owner with T0_ECLOSED.
 */
struct loop_job {
	struct loop_job *prev, *next;
	void (*cancel)(struct loop_job *job);
};
void loop_job_add(struct t0_loop *l, struct loop_job *job);
void loop_job_remove(struct t0_loop *l, struct loop_job *job);

/*
 * A curl transfer on the shared multi. loop_xfer_start sets CURLOPT_PRIVATE
 * to x and adds easy to the multi; done() runs once when curl finishes, after
 * the easy was removed from the multi. loop_xfer_abort removes a running
 * easy without calling done().
 */
struct loop_xfer {
	void (*done)(struct loop_xfer *x, CURL *easy, CURLcode result);
};
int loop_xfer_start(struct t0_loop *l, CURL *easy, struct loop_xfer *x);
/*
 * curl is initialised lazily; call this before curl_easy_init so that the
 * global init happens here, on the loop thread, exactly once.
 */
int loop_curl_ready(struct t0_loop *l);
void loop_xfer_abort(struct t0_loop *l, CURL *easy);

#endif
