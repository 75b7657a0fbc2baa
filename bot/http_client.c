#include "bot/http_client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "bot/curl_api.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define HTTP_HOST_MAX 256

struct http_call {
	struct loop_job job;
	struct loop_xfer xfer;
	struct t0_loop *l;
	CURL *easy;
	struct curl_slist *hdrs;
	char *method;
	char *url;
	char host[HTTP_HOST_MAX]; /* for logs: never the path, query or userinfo */
	char *body;
	size_t body_len;
	int has_body;
	long timeout_ms;
	uint64_t deadline_ns; /* 0 = none */
	size_t max_resp;
	int max_retries;
	int retry_5xx;
	int retry_overloaded;
	long backoff_base_ms, backoff_cap_ms, max_retry_after_ms;
	char *resp;
	size_t resp_len, resp_cap;
	int toobig;
	uv_timer_t timer;
	int attempts;
	uint64_t start_ns;
	int in_flight;
	http_done_cb cb;
	void *arg;
};

static uint64_t rng_state;

/* Jitter only needs to spread clients apart, not resist prediction. */
static uint64_t rng_next(void)
{
	uint64_t x;

	if (!rng_state)
		rng_state = t0_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void url_host(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	for (size_t i = 0; i < n; i++)
		if (p[i] == '@') {
			p += i + 1;
			n -= i + 1;
			i = (size_t)-1;
		}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_call *c = userp;
	size_t n = size * nmemb;

	if (n > c->max_resp - c->resp_len) {
		c->toobig = 1;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (c->resp_len + n + 1 > c->resp_cap) {
		size_t ncap = c->resp_cap ? c->resp_cap * 2 : 4096;
		char *np;

		while (ncap < c->resp_len + n + 1)
			ncap *= 2;
		if (ncap > c->max_resp + 1)
			ncap = c->max_resp + 1;
		np = realloc(c->resp, ncap);
		if (!np)
			return 0;
		c->resp = np;
		c->resp_cap = ncap;
	}
	memcpy(c->resp + c->resp_len, data, n);
	c->resp_len += n;
	return n;
}

static int64_t elapsed_ms(const struct http_call *c)
{
	return (int64_t)((t0_mono_ns() - c->start_ns) / 1000000u);
}

static void on_call_closed(uv_handle_t *h)
{
	free(h->data);
}

static void call_free(struct http_call *c)
{
	if (c->easy)
		t0_curl.easy_cleanup(c->easy);
	t0_curl.slist_free_all(c->hdrs);
	free(c->method);
	free(c->url);
	free(c->body);
	free(c->resp);
	/* The struct holds the timer handle, so it goes when the timer is closed. */
	uv_close((uv_handle_t *)&c->timer, on_call_closed);
}

static const char *result_class(int rc, long status, char *buf, size_t len)
{
	switch (rc) {
	case T0_OK:
		snprintf(buf, len, "%ldxx", status / 100);
		return buf;
	case T0_ETIMEOUT:
		return "timeout";
	case T0_ETOOBIG:
		return "toobig";
	case T0_ECLOSED:
		return "closed";
	default:
		return "error";
	}
}

static void finish(struct http_call *c, int rc, long status)
{
	struct http_resp resp;
	char cls[16], labels[64];

	loop_job_remove(c->l, &c->job);
	uv_timer_stop(&c->timer);
	memset(&resp, 0, sizeof(resp));
	resp.rc = rc;
	resp.status = status;
	resp.body = c->resp ? c->resp : "";
	resp.body_len = c->resp ? c->resp_len : 0;
	if (c->resp)
		c->resp[c->resp_len] = '\0';
	resp.attempts = c->attempts;
	resp.elapsed_ms = elapsed_ms(c);
	resp.call = c;
	snprintf(labels, sizeof(labels), "result=\"%s\"", result_class(rc, status, cls, sizeof(cls)));
	metrics_counter_add("tier0_http_client_requests_total", labels, 1);
	metrics_histogram_observe("tier0_http_client_request_duration_seconds", NULL,
				  (double)resp.elapsed_ms / 1000.0);
	if (rc != T0_OK && rc != T0_ECLOSED)
		log_warn("http", "request_failed", "method=%s host=%s rc=%s attempts=%d ms=%lld",
			 c->method, c->host, t0_rc_str(rc), c->attempts, (long long)resp.elapsed_ms);
	else
		log_debug("http", "request_done", "method=%s host=%s status=%ld attempts=%d ms=%lld",
			  c->method, c->host, status, c->attempts, (long long)resp.elapsed_ms);
	c->cb(&resp, c->arg);
	call_free(c);
}

static int attempt_start(struct http_call *c)
{
	long timeout = c->timeout_ms;
	int rc;

	if (c->deadline_ns) {
		uint64_t now = t0_mono_ns();
		long left;

		if (now >= c->deadline_ns)
			return T0_ETIMEOUT;
		left = (long)((c->deadline_ns - now) / 1000000u);
		if (left < 1)
			left = 1;
		if (left < timeout)
			timeout = left;
	}
	if (!c->easy) {
		c->easy = t0_curl.easy_init();
		if (!c->easy)
			return T0_ENOMEM;
	} else {
		t0_curl.easy_reset(c->easy);
	}
	c->attempts++;
	c->resp_len = 0;
	c->toobig = 0;
	t0_curl.easy_setopt(c->easy, CURLOPT_URL, c->url);
	t0_curl.easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	t0_curl.easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	t0_curl.easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
	t0_curl.easy_setopt(c->easy, CURLOPT_USERAGENT, "tier0/" T0_VERSION);
	t0_curl.easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_write);
	t0_curl.easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	t0_curl.easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_resp);
	t0_curl.easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout);
	t0_curl.easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout);
	if (!strcmp(c->method, "HEAD")) {
		t0_curl.easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	} else if (c->has_body) {
		t0_curl.easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
		t0_curl.easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
		if (strcmp(c->method, "POST"))
			t0_curl.easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->method);
	} else if (!strcmp(c->method, "GET")) {
		t0_curl.easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	} else {
		t0_curl.easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->method);
	}
	log_debug("http", "attempt", "method=%s host=%s attempt=%d timeout_ms=%ld", c->method,
		  c->host, c->attempts, timeout);
	rc = loop_xfer_start(c->l, c->easy, &c->xfer);
	if (rc == T0_OK)
		c->in_flight = 1;
	return rc;
}

static void on_retry_timer(uv_timer_t *t)
{
	struct http_call *c = t->data;
	int rc = attempt_start(c);

	if (rc != T0_OK)
		finish(c, rc == T0_ETIMEOUT ? T0_ETIMEOUT : T0_EHTTP, 0);
}

/* retry-after-ms: a non-negative number of milliseconds; -1 when absent or unparsable. */
static long retry_after_ms_header(struct http_call *c)
{
	struct curl_header *h = NULL;
	char *end;
	double ms;

	if (t0_curl.easy_header(c->easy, "retry-after-ms", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	ms = strtod(h->value, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == h->value || *end || !(ms >= 0))
		return -1;
	return ms > 86400000.0 ? 86400000L : (long)ms;
}

/* Retry-After: delay-seconds or an HTTP-date; -1 when absent or unparsable. */
static long retry_after_ms(struct http_call *c)
{
	struct curl_header *h = NULL;
	const char *v;
	time_t when;
	long ms = retry_after_ms_header(c);

	if (ms >= 0)
		return ms;
	if (t0_curl.easy_header(c->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return -1;
	v = h->value;
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		char *end;
		unsigned long long s = strtoull(v, &end, 10);

		while (*end == ' ' || *end == '\t')
			end++;
		if (*end)
			return -1;
		return s > 86400 ? 86400L * 1000 : (long)s * 1000;
	}
	when = t0_curl.getdate(v, NULL);
	if (when == (time_t)-1)
		return -1;
	when -= (time_t)(t0_now_ms() / 1000);
	if (when <= 0)
		return 0;
	return when > 86400 ? 86400L * 1000 : (long)when * 1000;
}

static long backoff_ms(const struct http_call *c)
{
	long ceiling = c->backoff_base_ms;

	for (int i = 1; i < c->attempts && ceiling < c->backoff_cap_ms; i++)
		ceiling *= 2;
	if (ceiling > c->backoff_cap_ms)
		ceiling = c->backoff_cap_ms;
	return (long)(rng_next() % ((uint64_t)ceiling + 1));
}

/* Schedules another attempt; 0 when it was not possible (no budget left). */
static int schedule_retry(struct http_call *c, long status)
{
	long delay = -1;

	if (c->attempts > c->max_retries)
		return 0;
	if (status == 429 || status == 503 || status == 529) {
		delay = retry_after_ms(c);
		if (delay > c->max_retry_after_ms)
			delay = c->max_retry_after_ms;
	}
	if (delay < 0)
		delay = backoff_ms(c);
	if (c->deadline_ns && t0_mono_ns() + (uint64_t)delay * 1000000u >= c->deadline_ns)
		return 0;
	metrics_counter_add("tier0_http_client_retries_total", NULL, 1);
	log_debug("http", "retry", "method=%s host=%s status=%ld delay_ms=%ld attempt=%d", c->method,
		  c->host, status, delay, c->attempts);
	uv_timer_start(&c->timer, on_retry_timer, (uint64_t)delay, 0);
	return 1;
}

static void on_xfer_done(struct loop_xfer *x, CURL *easy, CURLcode result)
{
	struct http_call *c = (struct http_call *)((char *)x - offsetof(struct http_call, xfer));
	long status = 0;
	int rc, retry = 0;

	c->in_flight = 0;
	switch (result) {
	case CURLE_OK:
		t0_curl.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		rc = T0_OK;
		retry = status == 429 || status == 503 ||
			(c->retry_5xx && (status == 500 || status == 502 || status == 504)) ||
			(c->retry_overloaded && status == 529);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		/* The server may have acted on it; a retry could repeat a side effect. */
		rc = T0_ETIMEOUT;
		break;
	case CURLE_FILESIZE_EXCEEDED:
		rc = T0_ETOOBIG;
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		rc = T0_EHTTP;
		retry = 1;
		break;
	default:
		rc = c->toobig ? T0_ETOOBIG : T0_EHTTP;
		break;
	}
	if (rc == T0_EHTTP)
		log_debug("http", "attempt_failed", "host=%s curl=%s", c->host, t0_curl.easy_strerror(result));
	if (retry && schedule_retry(c, status))
		return;
	finish(c, rc, status);
}

static void on_cancel(struct loop_job *job)
{
	struct http_call *c = (struct http_call *)job;

	if (c->in_flight) {
		loop_xfer_abort(c->l, c->easy);
		c->in_flight = 0;
	}
	finish(c, T0_ECLOSED, 0);
}

void http_cancel(struct http_call *call)
{
	if (call)
		on_cancel(&call->job);
}

static int call_setup(struct http_call *c, const struct http_req *req)
{
	c->method = strdup(req->method ? req->method : "GET");
	c->url = strdup(req->url);
	if (!c->method || !c->url)
		return T0_ENOMEM;
	url_host(c->url, c->host, sizeof(c->host));
	for (size_t i = 0; i < req->nheaders; i++) {
		struct curl_slist *n;

		if (!req->headers[i] || strpbrk(req->headers[i], "\r\n"))
			return T0_EINVAL;
		n = t0_curl.slist_append(c->hdrs, req->headers[i]);
		if (!n)
			return T0_ENOMEM;
		c->hdrs = n;
	}
	/* No "Expect: 100-continue" round trip, whatever the body size. */
	if (!(c->hdrs = t0_curl.slist_append(c->hdrs, "Expect:")))
		return T0_ENOMEM;
	if (req->body) {
		c->has_body = 1;
		c->body_len = req->body_len;
		c->body = malloc(req->body_len + 1);
		if (!c->body)
			return T0_ENOMEM;
		memcpy(c->body, req->body, req->body_len);
	}
	c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	c->max_resp = req->max_response_bytes ? req->max_response_bytes : HTTP_DEFAULT_MAX_RESPONSE;
	c->max_retries = req->max_retries > 0 ? req->max_retries : 0;
	c->retry_5xx = req->retry_5xx;
	c->retry_overloaded = req->retry_overloaded;
	c->backoff_base_ms = req->backoff_base_ms > 0 ? req->backoff_base_ms : HTTP_DEFAULT_BACKOFF_BASE_MS;
	c->backoff_cap_ms = req->backoff_cap_ms > 0 ? req->backoff_cap_ms : HTTP_DEFAULT_BACKOFF_CAP_MS;
	c->max_retry_after_ms = req->max_retry_after_ms > 0 ? req->max_retry_after_ms
							    : HTTP_DEFAULT_MAX_RETRY_AFTER_MS;
	c->start_ns = t0_mono_ns();
	if (req->deadline_ms > 0)
		c->deadline_ns = c->start_ns + (uint64_t)req->deadline_ms * 1000000u;
	return T0_OK;
}

int http_request_ex(struct t0_loop *l, const struct http_req *req, http_done_cb cb, void *arg,
		    struct http_call **id)
{
	struct http_call *c = NULL;
	int rc;

	if (id)
		*id = NULL;
	if (!l || !req || !req->url || !cb || req->nheaders > HTTP_MAX_HEADERS ||
	    (req->nheaders && !req->headers))
		return T0_EINVAL;
	if (strncasecmp(req->url, "http://", 7) && strncasecmp(req->url, "https://", 8))
		return T0_EINVAL;
	if (loop_closing(l))
		return T0_ECLOSED;
	rc = loop_curl_ready(l);
	if (rc != T0_OK)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return T0_ENOMEM;
	c->l = l;
	c->cb = cb;
	c->arg = arg;
	c->job.cancel = on_cancel;
	c->xfer.done = on_xfer_done;
	uv_timer_init(loop_uv(l), &c->timer);
	c->timer.data = c;
	rc = call_setup(c, req);
	if (rc == T0_OK)
		rc = attempt_start(c);
	if (rc != T0_OK) {
		call_free(c);
		return rc;
	}
	loop_job_add(l, &c->job);
	if (id)
		*id = c;
	return T0_OK;
}

int http_request(struct t0_loop *l, const struct http_req *req, http_done_cb cb, void *arg)
{
	return http_request_ex(l, req, cb, arg, NULL);
}

const char *http_resp_header(const struct http_resp *resp, const char *name)
{
	struct curl_header *h = NULL;

	if (!resp || !resp->call || !resp->call->easy || !name)
		return NULL;
	if (t0_curl.easy_header(resp->call->easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}
