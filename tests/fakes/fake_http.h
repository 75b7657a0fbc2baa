/*
 * A scriptable HTTP/1.1 server on 127.0.0.1 for tests, running on the test's
 * uv loop (no threads). Each request is answered by the next canned response
 * queued for its method + path (the last one repeats once the queue is down
 * to it); no match gives 404. Every response carries "Connection: close" and
 * the connection is closed after it. Requests are recorded byte for byte.
 *
 *   struct fake_http *fh = fake_http_new(loop_uv(loop));
 *   fake_http_add(fh, "POST", "/api/chat.postMessage", 200,
 *                 "Content-Type: application/json\r\n", "{\"ok\":true}", 11, 0);
 *   ... point the client at fake_http_url(fh, "/api/chat.postMessage") ...
 *   const struct fake_http_req *r = fake_http_req(fh, 0);
 *   fake_http_free(fh);   handles finish closing when the loop runs next
 */
#ifndef T0_FAKE_HTTP_H
#define T0_FAKE_HTTP_H

#include <stddef.h>

#include <uv.h>

struct fake_http;

struct fake_http_req {
	char *method;
	char *target;  /* path and query as sent */
	char *path;    /* target without the query */
	char *raw;     /* request line, headers and body exactly as received */
	size_t raw_len;
	char *body;    /* points into raw */
	size_t body_len;
	size_t head_len; /* bytes of request line + headers + blank line */
};

/* Listens on 127.0.0.1, free port. NULL on failure. */
struct fake_http *fake_http_new(uv_loop_t *uv);
/* Safe with NULL. Memory is released once the loop has closed the handles. */
void fake_http_free(struct fake_http *fh);

int fake_http_port(const struct fake_http *fh);
/* "http://127.0.0.1:<port><path>" in a buffer owned by fh, valid until the next call. */
const char *fake_http_url(struct fake_http *fh, const char *path);

/*
 * Queues a response for method + path. headers: extra raw header lines, each
 * ending in "\r\n" (may be NULL). status 0 closes the connection without a
 * response. delay_ms > 0 waits that long before answering.
 */
int fake_http_add(struct fake_http *fh, const char *method, const char *path, int status,
		  const char *headers, const void *body, size_t body_len, int delay_ms);

/*
 * Forgets every response still queued for method + path (the next request
 * there gets 404 unless fake_http_add queues another): to change what a
 * route answers from now on.
 */
void fake_http_clear(struct fake_http *fh, const char *method, const char *path);

/* Called with each request as it is recorded (before it is answered); NULL removes it. */
void fake_http_on_request(struct fake_http *fh, void (*cb)(void *arg, const struct fake_http_req *r),
			  void *arg);

/* Requests received so far, in arrival order. */
size_t fake_http_count(const struct fake_http *fh);
const struct fake_http_req *fake_http_req(const struct fake_http *fh, size_t i);
/* Case-insensitive header lookup; copies the trimmed value into buf. NULL when absent. */
const char *fake_http_req_header(const struct fake_http_req *r, const char *name, char *buf,
				 size_t len);

#endif
