#include "tests/fakes/fake_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAKE_MAX_REQUEST (4u * 1024 * 1024)

struct fake_resp {
	char *method;
	char *path;
	int status;
	char *headers;
	char *body;
	size_t body_len;
	int delay_ms;
	int used;
	struct fake_resp *next;
};

struct fake_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	struct fake_http *fh;
	char *buf;
	size_t len, cap;
	int answered;
	int open_handles;
	const struct fake_resp *resp;
	char *out;
	struct fake_conn *prev, *next;
};

struct fake_http {
	uv_tcp_t listener;
	uv_loop_t *uv;
	int port;
	int listener_open;
	int freeing;
	char url[1024];
	struct fake_resp *resps, *resps_tail;
	struct fake_http_req **reqs;
	size_t nreqs, reqs_cap;
	struct fake_conn *conns;
	void (*on_req)(void *arg, const struct fake_http_req *r);
	void *on_req_arg;
};

static void fh_destroy(struct fake_http *fh)
{
	struct fake_resp *r = fh->resps;

	while (r) {
		struct fake_resp *n = r->next;

		free(r->method);
		free(r->path);
		free(r->headers);
		free(r->body);
		free(r);
		r = n;
	}
	for (size_t i = 0; i < fh->nreqs; i++) {
		free(fh->reqs[i]->method);
		free(fh->reqs[i]->target);
		free(fh->reqs[i]->path);
		free(fh->reqs[i]->raw);
		free(fh->reqs[i]);
	}
	free(fh->reqs);
	free(fh);
}

static void fh_maybe_destroy(struct fake_http *fh)
{
	if (fh->freeing && !fh->listener_open && !fh->conns)
		fh_destroy(fh);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct fake_conn *c = h->data;
	struct fake_http *fh = c->fh;

	if (--c->open_handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		fh->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->buf);
	free(c->out);
	free(c);
	fh_maybe_destroy(fh);
}

static void conn_close(struct fake_conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Site Overloaded";
	default: return "Status";
	}
}

static void on_written(uv_write_t *w, int status)
{
	conn_close(w->data);
}

static void conn_respond(struct fake_conn *c)
{
	static const struct fake_resp not_found = { .status = 404, .body = "no route\n", .body_len = 9 };
	const struct fake_resp *r = c->resp ? c->resp : &not_found;
	char head[256];
	size_t hl, extra = r->headers ? strlen(r->headers) : 0, n;
	uv_buf_t b;

	if (r->status == 0) {
		conn_close(c);
		return;
	}
	hl = (size_t)snprintf(head, sizeof(head),
			      "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n",
			      r->status, reason(r->status), r->body_len);
	n = hl + extra + 2 + r->body_len;
	c->out = malloc(n);
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, hl);
	if (extra)
		memcpy(c->out + hl, r->headers, extra);
	memcpy(c->out + hl + extra, "\r\n", 2);
	if (r->body_len)
		memcpy(c->out + hl + extra + 2, r->body, r->body_len);
	b = uv_buf_init(c->out, (unsigned int)n);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
		conn_close(c);
}

static void on_delay(uv_timer_t *t)
{
	conn_respond(t->data);
}

/* Next queued response for the route; the last one stays for repeats. */
static const struct fake_resp *pick(struct fake_http *fh, const char *method, const char *path)
{
	struct fake_resp *first = NULL;

	for (struct fake_resp *r = fh->resps; r; r = r->next) {
		if (r->used || strcmp(r->method, method) || strcmp(r->path, path))
			continue;
		if (!first) {
			first = r;
			continue;
		}
		first->used = 1; /* another one follows */
		return first;
	}
	return first;
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Content-Length of the head, 0 when absent. */
static size_t head_content_length(const char *head, size_t head_len)
{
	const char *p = head;
	const char *end = head + head_len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if ((size_t)(eol - p) > 15 && !strncasecmp(p, "content-length:", 15))
			return strtoull(p + 15, NULL, 10);
		p = eol + 1;
	}
	return 0;
}

static char *find_head_end(char *buf, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return buf + i;
	return NULL;
}

static void conn_try_request(struct fake_conn *c)
{
	struct fake_http *fh = c->fh;
	struct fake_http_req *req;
	char *hend;
	size_t head_len, cl, sp1, sp2;

	if (c->answered)
		return;
	hend = find_head_end(c->buf, c->len);
	if (!hend)
		return;
	head_len = (size_t)(hend - c->buf) + 4;
	cl = head_content_length(c->buf, head_len);
	if (c->len < head_len + cl)
		return;
	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	req = calloc(1, sizeof(*req));
	if (!req)
		goto fail;
	sp1 = strcspn(c->buf, " \r\n");
	sp2 = sp1 + 1 + strcspn(c->buf + sp1 + 1, " \r\n");
	req->method = dupn(c->buf, sp1);
	req->target = dupn(c->buf + sp1 + 1, sp2 - sp1 - 1);
	req->raw = dupn(c->buf, head_len + cl);
	if (!req->method || !req->target || !req->raw)
		goto fail_req;
	req->path = dupn(req->target, strcspn(req->target, "?"));
	if (!req->path)
		goto fail_req;
	req->raw_len = head_len + cl;
	req->head_len = head_len;
	req->body = req->raw + head_len;
	req->body_len = cl;
	if (fh->nreqs == fh->reqs_cap) {
		size_t ncap = fh->reqs_cap ? fh->reqs_cap * 2 : 16;
		struct fake_http_req **nr = realloc(fh->reqs, ncap * sizeof(*nr));

		if (!nr)
			goto fail_req;
		fh->reqs = nr;
		fh->reqs_cap = ncap;
	}
	fh->reqs[fh->nreqs++] = req;
	if (fh->on_req)
		fh->on_req(fh->on_req_arg, req);
	c->resp = pick(fh, req->method, req->path);
	if (c->resp && c->resp->delay_ms > 0) {
		uv_timer_start(&c->timer, on_delay, (uint64_t)c->resp->delay_ms, 0);
		return;
	}
	conn_respond(c);
	return;
fail_req:
	free(req->method);
	free(req->target);
	free(req->path);
	free(req->raw);
	free(req);
fail:
	conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fake_conn *c = h->data;

	if (c->cap - c->len < 16384 && c->cap < FAKE_MAX_REQUEST) {
		size_t ncap = c->cap ? c->cap * 2 : 65536;
		char *nb = realloc(c->buf, ncap + 1);

		if (nb) {
			c->buf = nb;
			c->cap = ncap;
		}
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned int)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fake_conn *c = s->data;

	if (n < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (c->len >= c->cap && c->cap >= FAKE_MAX_REQUEST) {
		conn_close(c);
		return;
	}
	conn_try_request(c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct fake_http *fh = server->data;
	struct fake_conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->fh = fh;
	uv_tcp_init(fh->uv, &c->tcp);
	uv_timer_init(fh->uv, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = fh->conns;
	if (fh->conns)
		fh->conns->prev = c;
	fh->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c);
}

struct fake_http *fake_http_new(uv_loop_t *uv)
{
	struct fake_http *fh = calloc(1, sizeof(*fh));
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int blen = sizeof(bound);

	if (!fh)
		return NULL;
	fh->uv = uv;
	uv_tcp_init(uv, &fh->listener);
	fh->listener.data = fh;
	fh->listener_open = 1;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&fh->listener, (const struct sockaddr *)&sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&fh->listener, 64, on_connection) != 0 ||
	    uv_tcp_getsockname(&fh->listener, (struct sockaddr *)&bound, &blen) != 0) {
		fake_http_free(fh);
		return NULL;
	}
	fh->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return fh;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct fake_http *fh = h->data;

	fh->listener_open = 0;
	fh_maybe_destroy(fh);
}

void fake_http_free(struct fake_http *fh)
{
	if (!fh)
		return;
	fh->freeing = 1;
	for (struct fake_conn *c = fh->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&fh->listener, on_listener_closed);
}

int fake_http_port(const struct fake_http *fh)
{
	return fh->port;
}

const char *fake_http_url(struct fake_http *fh, const char *path)
{
	snprintf(fh->url, sizeof(fh->url), "http://127.0.0.1:%d%s", fh->port, path ? path : "");
	return fh->url;
}

int fake_http_add(struct fake_http *fh, const char *method, const char *path, int status,
		  const char *headers, const void *body, size_t body_len, int delay_ms)
{
	struct fake_resp *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->method = strdup(method);
	r->path = strdup(path);
	r->headers = headers ? strdup(headers) : NULL;
	r->body = malloc(body_len + 1);
	if (!r->method || !r->path || (headers && !r->headers) || !r->body) {
		free(r->method);
		free(r->path);
		free(r->headers);
		free(r->body);
		free(r);
		return -1;
	}
	if (body_len)
		memcpy(r->body, body, body_len);
	r->body_len = body_len;
	r->status = status;
	r->delay_ms = delay_ms;
	if (fh->resps_tail)
		fh->resps_tail->next = r;
	else
		fh->resps = r;
	fh->resps_tail = r;
	return 0;
}

void fake_http_on_request(struct fake_http *fh, void (*cb)(void *arg, const struct fake_http_req *r),
			  void *arg)
{
	fh->on_req = cb;
	fh->on_req_arg = arg;
}

void fake_http_clear(struct fake_http *fh, const char *method, const char *path)
{
	for (struct fake_resp *r = fh->resps; r; r = r->next)
		if (!strcmp(r->method, method) && !strcmp(r->path, path))
			r->used = 1;
}

size_t fake_http_count(const struct fake_http *fh)
{
	return fh->nreqs;
}

const struct fake_http_req *fake_http_req(const struct fake_http *fh, size_t i)
{
	return i < fh->nreqs ? fh->reqs[i] : NULL;
}

const char *fake_http_req_header(const struct fake_http_req *r, const char *name, char *buf,
				 size_t len)
{
	size_t nlen = strlen(name);
	const char *p = r->raw, *end = r->raw + r->head_len;

	p = memchr(p, '\n', (size_t)(end - p)); /* skip the request line */
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v;
		size_t vl;

		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && !strncasecmp(p, name, nlen) && p[nlen] == ':') {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vl = (size_t)(eol - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= len)
				vl = len - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
		p = eol;
	}
	return NULL;
}
