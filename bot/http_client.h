/*
 * Outbound HTTP on the shared curl multi: never blocks, completes exactly
 * once through a callback, retries with backoff. See docs/LOOP.md.
 *
 *   struct http_req req = { .method = "POST", .url = url,
 *       .headers = hdrs, .nheaders = 2, .body = json, .body_len = n,
 *       .timeout_ms = 5000, .max_retries = 3 };
 *   rc = http_request(loop, &req, on_done, ctx);
 *
 * Everything in req is copied; it may live on the caller's stack.
 * Authorization headers and bodies are never logged.
 */
#ifndef T0_HTTP_CLIENT_H
#define T0_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct t0_loop;
struct http_call;

#define HTTP_DEFAULT_TIMEOUT_MS 10000
#define HTTP_DEFAULT_MAX_RESPONSE (1024 * 1024)
#define HTTP_DEFAULT_BACKOFF_BASE_MS 200
#define HTTP_DEFAULT_BACKOFF_CAP_MS 10000
#define HTTP_DEFAULT_MAX_RETRY_AFTER_MS 60000
#define HTTP_MAX_HEADERS 64

struct http_req {
	const char *method;            /* "GET" when NULL */
	const char *url;               /* http:// or https:// only */
	const char *const *headers;    /* "Name: value" strings */
	size_t nheaders;               /* at most HTTP_MAX_HEADERS */
	const void *body;              /* sent when non-NULL (even if body_len is 0) */
	size_t body_len;
	long timeout_ms;               /* per attempt; 0 = HTTP_DEFAULT_TIMEOUT_MS */
	long deadline_ms;              /* across all attempts and waits; 0 = none */
	size_t max_response_bytes;     /* 0 = HTTP_DEFAULT_MAX_RESPONSE */
	int max_retries;               /* extra attempts after the first */
	int retry_5xx;                 /* also retry 500, 502, 504 (429 and 503 always) */
	long backoff_base_ms;          /* 0 = HTTP_DEFAULT_BACKOFF_BASE_MS */
	long backoff_cap_ms;           /* 0 = HTTP_DEFAULT_BACKOFF_CAP_MS */
	long max_retry_after_ms;       /* cap on Retry-After; 0 = HTTP_DEFAULT_MAX_RETRY_AFTER_MS */
	/*
	 * Also retry 529 (Anthropic's "overloaded"), honouring Retry-After there
	 * as on 429/503. On those statuses a retry-after-ms header (milliseconds,
	 * sent by the Anthropic and OpenAI APIs) takes precedence over Retry-After.
	 */
	int retry_overloaded;
};

struct http_resp {
	/*
	 * T0_OK when a response arrived (whatever its status), T0_ETIMEOUT,
	 * T0_ETOOBIG (body over max_response_bytes), T0_EHTTP (connection
	 * or protocol failure), T0_ECLOSED (loop shut down).
	 */
	int rc;
	long status;       /* 0 when no response */
	const char *body;  /* borrowed for the callback only; NUL-terminated */
	size_t body_len;
	int attempts;
	int64_t elapsed_ms;
	const struct http_call *call; /* for http_resp_header */
};

typedef void (*http_done_cb)(const struct http_resp *resp, void *arg);

/*
 * Starts the request. On T0_OK cb runs exactly once, later, from the loop
 * (never from inside this call). Any other rc: cb never runs.
 * *id (optional) receives a handle for http_cancel, valid until cb runs.
 */
int http_request_ex(struct t0_loop *l, const struct http_req *req, http_done_cb cb, void *arg,
		    struct http_call **id);
int http_request(struct t0_loop *l, const struct http_req *req, http_done_cb cb, void *arg);

/* Cancels a pending request: cb runs now with T0_ECLOSED. */
void http_cancel(struct http_call *call);

/*
 * Value of a response header of the last attempt (case-insensitive name);
 * NULL when absent. Borrowed for the callback only.
 */
const char *http_resp_header(const struct http_resp *resp, const char *name);

#endif
