/*
 * Inbound HTTP: one listening lws vhost on the shared loop, exact-path
 * routes, synchronous handlers, bounded request bodies. See docs/LOOP.md.
 *
 *   srv = http_server_new(loop, "127.0.0.1", 8080, 1 << 20, err, sizeof(err));
 *   http_server_route(srv, "GET", "/healthz", on_health, app);
 *
 * Unknown path → 404, known path with another method → 405 (with Allow),
 * body over max_body → 413 (Content-Length checked before any body is read,
 * chunked bodies counted as they stream; never more than max_body bytes are
 * buffered), POST/PUT/PATCH with neither Content-Length nor chunked → 411.
 * Malformed requests are refused by lws itself.
 */
#ifndef T0_HTTP_SERVER_H
#define T0_HTTP_SERVER_H

#include <stddef.h>

struct t0_loop;
struct http_server;
struct http_response;

#define HTTP_SERVER_MAX_ROUTES 64
#define HTTP_SERVER_MAX_PATH 1024
#define HTTP_SERVER_MAX_EXTRA_HEADERS 2048

/* Everything is borrowed for the duration of the handler call only. */
struct http_request {
	const char *method;  /* "GET", "POST", ... */
	const char *path;    /* URL-decoded by lws, without the query */
	const char *query;   /* "" when absent; args joined with '&' */
	const char *body;    /* NUL-terminated; may contain NULs (use body_len) */
	size_t body_len;
	const char *remote;  /* peer address, e.g. "127.0.0.1" */
	void *priv;          /* for http_request_header */
};

/* Case-insensitive; NULL when absent. Borrowed for the handler call only. */
const char *http_request_header(const struct http_request *req, const char *name);

/*
 * A handler fills resp with the setters below; without any, the answer is
 * 200 with an empty body. Handlers must not block.
 */
typedef void (*http_handler)(const struct http_request *req, struct http_response *resp, void *arg);

void http_response_status(struct http_response *resp, int status);
/* Copies body. content_type NULL means "text/plain; charset=utf-8". */
int http_response_body(struct http_response *resp, const char *content_type, const void *body,
		       size_t len);
/* Takes over body (malloc'ed), also on failure. */
int http_response_body_take(struct http_response *resp, const char *content_type, char *body,
			    size_t len);
/* Extra header, e.g. ("Retry-After", "5"); no CR/LF allowed. */
int http_response_header(struct http_response *resp, const char *name, const char *value);

/*
 * Deferred answers, for handlers that must wait on the loop (a key fetch, an
 * answer computed asynchronously). Inside the handler:
 *
 *   struct http_deferred *d = http_response_defer(resp);
 *
 * and the response is not sent when the handler returns. Later, from the
 * loop: fill http_deferred_response(d) with the setters above (NULL when the
 * client has gone: nothing to fill) and call http_deferred_finish(d), exactly
 * once, which sends it (or only frees d). A deferral that is never finished is
 * cut off by closing the connection after HTTP_DEFER_MAX_SECS; d must still
 * be finished to be freed. NULL on allocation failure (answer at once then).
 */
#define HTTP_DEFER_MAX_SECS 60
struct http_deferred;
struct http_deferred *http_response_defer(struct http_response *resp);
struct http_response *http_deferred_response(struct http_deferred *d);
void http_deferred_finish(struct http_deferred *d);

/*
 * host: an IPv4 or IPv6 address ("127.0.0.1", "::1" or "[::1]"); "0.0.0.0",
 * "::" or NULL listen on all addresses. port 0 picks a free port.
 */
struct http_server *http_server_new(struct t0_loop *l, const char *host, int port, size_t max_body,
				    char *err, size_t errlen);
/* Closes the listener; open connections are closed by lws shortly after. NULL is fine. */
void http_server_free(struct http_server *srv);
/* The port actually listened on. */
int http_server_port(const struct http_server *srv);
/* method and path are copied; the same method + path twice is T0_EDUP. */
int http_server_route(struct http_server *srv, const char *method, const char *path,
		      http_handler handler, void *arg);

/*
 * Ready-made GET /metrics handler (Prometheus text format 0.0.4). arg is the
 * bearer token as a NUL-terminated string, or NULL/"" for no auth; it is
 * borrowed and must outlive the server. Wrong or missing token → 401.
 */
void http_metrics_handler(const struct http_request *req, struct http_response *resp, void *arg);

#endif
