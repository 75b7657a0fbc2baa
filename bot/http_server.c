#include "bot/http_server.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define HS_METHOD_MAX 8
#define HS_SCRATCH 8192     /* header values looked up by one handler */
#define HS_WRITE_CHUNK 16384
#define HS_CHUNK_EXT_MAX 256

struct hs_route {
	char method[HS_METHOD_MAX];
	char *path;
	http_handler handler;
	void *arg;
};

struct http_server {
	struct t0_loop *l;
	struct lws_vhost *vh;
	int port;
	size_t max_body;
	int freeing; /* owner called free; the struct waits for PROTOCOL_DESTROY */
	struct hs_route routes[HTTP_SERVER_MAX_ROUTES];
	size_t nroutes;
	char vhost_name[32];
	char iface[64];
};

struct http_response {
	int status;
	char ctype[128];
	char *body;
	size_t body_len;
	char extra[HTTP_SERVER_MAX_EXTRA_HEADERS]; /* "name\0value\0" pairs */
	size_t extra_len;
	int close_after;
};

enum hs_chunk_state {
	CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
	CH_TRAILER_START, CH_TRAILER_LINE, CH_TRAILER_LF, CH_END_LF, CH_DONE,
};

enum hs_state { HS_READING, HS_RESPONDING, HS_DEFERRED };

/* A response the handler will give later; outlives the connection if need be. */
struct http_deferred {
	struct hs_sess *s; /* NULL once the client has gone */
};

/* Per connection; lws zeroes it. Reset at each new transaction. */
struct hs_sess {
	struct lws *wsi;
	int state;
	char method[HS_METHOD_MAX];
	char path[HTTP_SERVER_MAX_PATH];
	const struct hs_route *route;
	char *body;
	size_t body_len;
	int chunked;
	int ch_state;
	int ch_digits;
	size_t ch_left;
	size_t ch_ext;
	uint64_t start_ns;
	struct http_response resp;
	struct http_deferred *deferred; /* the handler answers later */
	size_t sent;
	int headers_sent;
	char scratch[HS_SCRATCH];
	size_t scratch_len;
};

static struct http_server *srv_of(struct lws *wsi)
{
	return lws_vhost_user(lws_get_vhost(wsi));
}

static void sess_reset(struct hs_sess *s)
{
	if (s->deferred)
		s->deferred->s = NULL; /* the owner's finish will only free it */
	free(s->body);
	free(s->resp.body);
	memset(s, 0, offsetof(struct hs_sess, scratch));
	s->scratch_len = 0;
}

void http_response_status(struct http_response *resp, int status)
{
	if (status >= 100 && status <= 599)
		resp->status = status;
}

int http_response_body_take(struct http_response *resp, const char *content_type, char *body,
			    size_t len)
{
	if (content_type && (strlen(content_type) >= sizeof(resp->ctype) ||
			     strpbrk(content_type, "\r\n"))) {
		free(body);
		return T0_EINVAL;
	}
	free(resp->body);
	resp->body = body;
	resp->body_len = body ? len : 0;
	snprintf(resp->ctype, sizeof(resp->ctype), "%s",
		 content_type ? content_type : "text/plain; charset=utf-8");
	return T0_OK;
}

int http_response_body(struct http_response *resp, const char *content_type, const void *body,
		       size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return T0_ENOMEM;
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	return http_response_body_take(resp, content_type, copy, len);
}

int http_response_header(struct http_response *resp, const char *name, const char *value)
{
	size_t nl, vl;

	if (!name || !value || !*name || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
		return T0_EINVAL;
	nl = strlen(name);
	vl = strlen(value);
	/* lws wants "name:"; keep room for the colon added at write time. */
	if (resp->extra_len + nl + vl + 3 > sizeof(resp->extra))
		return T0_ETOOBIG;
	memcpy(resp->extra + resp->extra_len, name, nl + 1);
	resp->extra_len += nl + 1;
	memcpy(resp->extra + resp->extra_len, value, vl + 1);
	resp->extra_len += vl + 1;
	return T0_OK;
}

static void set_simple(struct hs_sess *s, int status, const char *text)
{
	http_response_status(&s->resp, status);
	http_response_body(&s->resp, NULL, text, strlen(text));
}

static void record_metrics(struct hs_sess *s)
{
	char labels[HTTP_SERVER_MAX_PATH + 64];
	const char *route = s->route ? s->route->path : "other";

	/* Only registered paths become label values, so series stay bounded. */
	snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",code=\"%d\"",
		 s->route ? s->method : "other", route, s->resp.status);
	metrics_counter_add("tier0_http_requests_total", labels, 1);
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	metrics_histogram_observe("tier0_http_request_duration_seconds", labels,
				  (double)(t0_mono_ns() - s->start_ns) / 1e9);
}

static int start_response(struct hs_sess *s)
{
	if (!s->resp.status)
		s->resp.status = 200;
	s->state = HS_RESPONDING;
	record_metrics(s);
	lws_callback_on_writable(s->wsi);
	return 0;
}

/* Answer now and close: whatever body is still on the wire is never read. */
static int refuse(struct hs_sess *s, int status, const char *text)
{
	free(s->resp.body);
	memset(&s->resp, 0, sizeof(s->resp));
	set_simple(s, status, text);
	s->resp.close_after = 1;
	return start_response(s);
}

/* lws keeps each query argument as a fragment; join them back with '&'. */
static void query_copy(struct lws *wsi, char *out, size_t len)
{
	size_t used = 0;
	char frag[1024];

	out[0] = '\0';
	for (int i = 0; i < 64; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);

		if (n <= 0)
			break;
		if (used + (size_t)n + 2 > len)
			break;
		if (used)
			out[used++] = '&';
		memcpy(out + used, frag, (size_t)n);
		used += (size_t)n;
		out[used] = '\0';
	}
}

static int dispatch(struct hs_sess *s)
{
	struct http_server *srv = srv_of(s->wsi);
	struct http_request req;
	char query[2048] = "", remote[64] = "";

	if (!srv || srv->freeing || !s->route)
		return refuse(s, 503, "shutting down\n");
	query_copy(s->wsi, query, sizeof(query));
	lws_get_peer_simple(s->wsi, remote, sizeof(remote));
	memset(&req, 0, sizeof(req));
	req.method = s->method;
	req.path = s->path;
	req.query = query;
	req.body = s->body ? s->body : "";
	req.body_len = s->body_len;
	req.remote = remote;
	req.priv = s;
	s->route->handler(&req, &s->resp, s->route->arg);
	if (s->deferred) {
		/* Bounded, so a deferral that is never finished cannot hold the connection. */
		s->state = HS_DEFERRED;
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_REASON_BASE + 1, HTTP_DEFER_MAX_SECS);
		return 0;
	}
	return start_response(s);
}

struct http_deferred *http_response_defer(struct http_response *resp)
{
	struct hs_sess *s;

	if (!resp)
		return NULL;
	s = (struct hs_sess *)((char *)resp - offsetof(struct hs_sess, resp));
	if (s->state != HS_READING)
		return NULL;
	if (!s->deferred) {
		s->deferred = calloc(1, sizeof(*s->deferred));
		if (!s->deferred)
			return NULL;
		s->deferred->s = s;
	}
	return s->deferred;
}

struct http_response *http_deferred_response(struct http_deferred *d)
{
	return d && d->s ? &d->s->resp : NULL;
}

void http_deferred_finish(struct http_deferred *d)
{
	struct hs_sess *s;

	if (!d)
		return;
	s = d->s;
	free(d);
	if (!s)
		return;
	s->deferred = NULL;
	if (s->state != HS_DEFERRED)
		return; /* finished from inside the handler: dispatch answers */
	lws_set_timeout(s->wsi, NO_PENDING_TIMEOUT, 0);
	start_response(s);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	struct hs_sess *s;
	char lname[128];
	size_t n;
	int len = -1, tok = -1;
	char *dst;

	if (!req || !name || !(s = req->priv))
		return NULL;
	n = strlen(name);
	if (!n || n + 2 > sizeof(lname))
		return NULL;
	for (size_t i = 0; i < n; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[n] = ':';
	lname[n + 1] = '\0';
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *ts = (const char *)lws_token_to_string((enum lws_token_indexes)t);

		if (ts && !strcmp(ts, lname)) {
			tok = t;
			break;
		}
	}
	if (tok >= 0)
		len = lws_hdr_total_length(s->wsi, (enum lws_token_indexes)tok);
	else
		len = lws_hdr_custom_length(s->wsi, lname, (int)n + 1);
	if (len < 0 || (tok >= 0 && len == 0))
		return NULL;
	if ((size_t)len + 1 > sizeof(s->scratch) - s->scratch_len)
		return NULL;
	dst = s->scratch + s->scratch_len;
	if (tok >= 0)
		len = lws_hdr_copy(s->wsi, dst, len + 1, (enum lws_token_indexes)tok);
	else
		len = lws_hdr_custom_copy(s->wsi, dst, len + 1, lname, (int)n + 1);
	if (len < 0)
		return NULL;
	dst[len] = '\0';
	s->scratch_len += (size_t)len + 1;
	return dst;
}

static int body_append(struct hs_sess *s, size_t max, const char *p, size_t n)
{
	char *nb;

	if (n > max - s->body_len)
		return T0_ETOOBIG;
	nb = realloc(s->body, s->body_len + n + 1);
	if (!nb)
		return T0_ENOMEM;
	s->body = nb;
	memcpy(s->body + s->body_len, p, n);
	s->body_len += n;
	s->body[s->body_len] = '\0';
	return T0_OK;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes chunked framing: 0 more please, 1 body complete, or a T0_ rc. */
static int chunk_feed(struct hs_sess *s, size_t max, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int c = (unsigned char)p[i];

		switch (s->ch_state) {
		case CH_SIZE:
			if (hexval(c) >= 0) {
				if (s->ch_left > (max >> 4) + 1)
					return T0_ETOOBIG;
				s->ch_left = s->ch_left * 16 + (size_t)hexval(c);
				s->ch_digits++;
			} else if (s->ch_digits && (c == ';' || c == ' ' || c == '\t')) {
				s->ch_state = CH_EXT;
			} else if (s->ch_digits && c == '\r') {
				s->ch_state = CH_SIZE_LF;
			} else {
				return T0_EPARSE;
			}
			if (s->ch_left > max - s->body_len)
				return T0_ETOOBIG;
			i++;
			break;
		case CH_EXT:
			if (c == '\r')
				s->ch_state = CH_SIZE_LF;
			else if (++s->ch_ext > HS_CHUNK_EXT_MAX)
				return T0_EPARSE;
			i++;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				return T0_EPARSE;
			s->ch_state = s->ch_left ? CH_DATA : CH_TRAILER_START;
			i++;
			break;
		case CH_DATA: {
			size_t take = n - i < s->ch_left ? n - i : s->ch_left;
			int rc = body_append(s, max, p + i, take);

			if (rc != T0_OK)
				return rc;
			s->ch_left -= take;
			i += take;
			if (!s->ch_left)
				s->ch_state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
		case CH_TRAILER_LF:
		case CH_END_LF:
		case CH_DATA_LF:
			if (c != (s->ch_state == CH_DATA_CR ? '\r' : '\n'))
				return T0_EPARSE;
			if (s->ch_state == CH_DATA_CR) {
				s->ch_state = CH_DATA_LF;
			} else if (s->ch_state == CH_DATA_LF) {
				s->ch_state = CH_SIZE;
				s->ch_digits = 0;
				s->ch_ext = 0;
			} else if (s->ch_state == CH_TRAILER_LF) {
				s->ch_state = CH_TRAILER_START;
			} else {
				s->ch_state = CH_DONE;
				return 1;
			}
			i++;
			break;
		case CH_TRAILER_START:
			s->ch_state = c == '\r' ? CH_END_LF : CH_TRAILER_LINE;
			i++;
			break;
		case CH_TRAILER_LINE:
			if (c == '\r')
				s->ch_state = CH_TRAILER_LF;
			else if (++s->ch_ext > HS_CHUNK_EXT_MAX * 16)
				return T0_EPARSE;
			i++;
			break;
		default:
			return 1;
		}
	}
	return 0;
}

static int on_body(struct hs_sess *s, const char *in, size_t len)
{
	struct http_server *srv = srv_of(s->wsi);
	size_t max = srv ? srv->max_body : 0;
	int rc;

	if (s->state != HS_READING)
		return 0; /* already answering (413 and friends): drop the rest */
	if (s->chunked) {
		rc = chunk_feed(s, max, in, len);
		if (rc == 1)
			return dispatch(s);
	} else {
		rc = body_append(s, max, in, len);
	}
	if (rc == T0_ETOOBIG)
		return refuse(s, 413, "request body too large\n");
	if (rc == T0_EPARSE)
		return refuse(s, 400, "bad chunked body\n");
	if (rc < 0 || rc == T0_ENOMEM)
		return refuse(s, 500, "out of memory\n");
	return 0;
}

static int header_has_token(struct lws *wsi, enum lws_token_indexes tok, const char *word)
{
	char v[128];
	int n = lws_hdr_copy(wsi, v, sizeof(v), tok);

	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		v[i] = (char)tolower((unsigned char)v[i]);
	return strstr(v, word) != NULL;
}

static int on_http(struct hs_sess *s, struct lws *wsi, const char *in)
{
	static const char *const names[] = {
		[LWSHUMETH_GET] = "GET", [LWSHUMETH_POST] = "POST", [LWSHUMETH_OPTIONS] = "OPTIONS",
		[LWSHUMETH_PUT] = "PUT", [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
		[LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
	};
	struct http_server *srv = srv_of(wsi);
	char allow[128] = "", cl[32];
	char *uri = NULL;
	int uri_len = 0, m, path_known = 0;

	sess_reset(s);
	s->wsi = wsi;
	s->start_ns = t0_mono_ns();
	m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	if (m < 0 || m >= (int)T0_ARRAY_LEN(names) || !names[m])
		return refuse(s, 400, "bad request\n");
	snprintf(s->method, sizeof(s->method), "%s", names[m]);
	if (!in || strlen(in) >= sizeof(s->path))
		return refuse(s, 414, "uri too long\n");
	snprintf(s->path, sizeof(s->path), "%s", in);
	if (!srv || srv->freeing)
		return refuse(s, 503, "shutting down\n");
	for (size_t i = 0; i < srv->nroutes; i++) {
		if (strcmp(srv->routes[i].path, s->path))
			continue;
		path_known = 1;
		if (!strcmp(srv->routes[i].method, s->method))
			s->route = &srv->routes[i];
		else if (strlen(allow) + strlen(srv->routes[i].method) + 3 < sizeof(allow))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				 *allow ? ", " : "", srv->routes[i].method);
	}
	if (!path_known)
		return refuse(s, 404, "not found\n");
	if (!s->route) {
		refuse(s, 405, "method not allowed\n");
		http_response_header(&s->resp, "Allow", allow);
		return 0;
	}
	if (m != LWSHUMETH_POST && m != LWSHUMETH_PUT && m != LWSHUMETH_PATCH)
		return dispatch(s); /* lws reads no body for these */
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);

		if (*end || !isdigit((unsigned char)cl[0]))
			return refuse(s, 400, "bad content-length\n");
		if (v > srv->max_body)
			return refuse(s, 413, "request body too large\n");
		if (!v)
			return dispatch(s); /* lws sends no body callbacks for an empty PUT */
		return 0; /* body, then BODY_COMPLETION (lws handles an explicit 0) */
	}
	if (header_has_token(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, "chunked")) {
		/* lws 4.1 hands chunked framing through raw; we decode it. */
		s->chunked = 1;
		s->resp.close_after = 1;
		return 0;
	}
	return refuse(s, 411, "length required\n");
}

static int write_headers(struct hs_sess *s)
{
	unsigned char buf[LWS_PRE + HTTP_SERVER_MAX_EXTRA_HEADERS + 512];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	const char *x = s->resp.extra;

	if (lws_add_http_common_headers(s->wsi, (unsigned int)s->resp.status,
					s->resp.body_len || *s->resp.ctype ? s->resp.ctype : NULL,
					(lws_filepos_t)s->resp.body_len, &p, end))
		return -1;
	while (x < s->resp.extra + s->resp.extra_len) {
		char name[HTTP_SERVER_MAX_EXTRA_HEADERS + 2];
		const char *v = x + strlen(x) + 1;

		snprintf(name, sizeof(name), "%s:", x);
		if (lws_add_http_header_by_name(s->wsi, (const unsigned char *)name,
						(const unsigned char *)v, (int)strlen(v), &p, end))
			return -1;
		x = v + strlen(v) + 1;
	}
	if (s->resp.close_after &&
	    lws_add_http_header_by_token(s->wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
					 5, &p, end))
		return -1;
	if (lws_finalize_write_http_header(s->wsi, start, &p, end))
		return -1;
	s->headers_sent = 1;
	return 0;
}

static int on_writeable(struct hs_sess *s)
{
	unsigned char buf[LWS_PRE + HS_WRITE_CHUNK];
	struct lws *wsi;
	size_t n;
	int last;

	if (s->state != HS_RESPONDING)
		return 0; /* lws may call with nothing to send */
	if (!s->headers_sent) {
		if (write_headers(s))
			return -1;
		if (s->resp.body_len) {
			lws_callback_on_writable(s->wsi);
			return 0;
		}
	} else {
		n = s->resp.body_len - s->sent;
		if (n > HS_WRITE_CHUNK)
			n = HS_WRITE_CHUNK;
		last = s->sent + n == s->resp.body_len;
		memcpy(buf + LWS_PRE, s->resp.body + s->sent, n);
		if (lws_write(s->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
		    (int)n)
			return -1;
		s->sent += n;
		if (!last) {
			lws_callback_on_writable(s->wsi);
			return 0;
		}
	}
	if (s->resp.close_after)
		return -1;
	wsi = s->wsi;
	sess_reset(s);
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static void srv_destroy(struct http_server *srv)
{
	for (size_t i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].path);
	free(srv);
}

static int hs_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct hs_sess *s = user;
	struct http_server *srv;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(s, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(s, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (s->state == HS_READING && !s->chunked)
			return dispatch(s);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return on_writeable(s);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (s)
			sess_reset(s);
		return 0;
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		srv = lws_vhost_user(lws_get_vhost(wsi));
		if (!srv)
			return 0;
		srv->vh = NULL;
		if (srv->freeing)
			srv_destroy(srv);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols hs_protocols[] = {
	{ "http", hs_callback, sizeof(struct hs_sess), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static unsigned int vhost_seq;

struct http_server *http_server_new(struct t0_loop *l, const char *host, int port, size_t max_body,
				    char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct http_server *srv;
	size_t hl;

	if (!l || !loop_lws(l) || port < 0 || port > 65535 || !max_body) {
		snprintf(err, errlen, "invalid http server arguments");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->l = l;
	srv->max_body = max_body;
	if (host && *host == '[') {
		host++;
		hl = strcspn(host, "]");
	} else {
		hl = host ? strlen(host) : 0;
	}
	if (hl >= sizeof(srv->iface)) {
		snprintf(err, errlen, "listen host too long");
		free(srv);
		return NULL;
	}
	if (hl)
		memcpy(srv->iface, host, hl);
	snprintf(srv->vhost_name, sizeof(srv->vhost_name), "http-%u", ++vhost_seq);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = *srv->iface && strcmp(srv->iface, "0.0.0.0") && strcmp(srv->iface, "::")
			     ? srv->iface : NULL;
	if (strchr(srv->iface, '.') || !strcmp(srv->iface, "localhost"))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = hs_protocols;
	info.vhost_name = srv->vhost_name;
	info.user = srv;
	info.keepalive_timeout = 5;
	info.timeout_secs = 10;
	srv->vh = lws_create_vhost(loop_lws(l), &info);
	if (!srv->vh) {
		snprintf(err, errlen, "cannot listen on %s:%d", *srv->iface ? srv->iface : "*", port);
		free(srv);
		return NULL;
	}
	/*
	 * lws would init the vhost's protocol on its first service; do it now
	 * so PROTOCOL_DESTROY (which frees srv after http_server_free) is
	 * guaranteed even if the loop never ran in between.
	 */
	if (lws_protocol_init(loop_lws(l)))
		log_warn("http", "protocol_init", "vhost=%s", srv->vhost_name);
	srv->port = lws_get_vhost_listen_port(srv->vh);
	log_info("http", "listen", "host=%s port=%d", *srv->iface ? srv->iface : "*", srv->port);
	return srv;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (!srv->vh) {
		srv_destroy(srv);
		return;
	}
	/* lws tears the vhost down over the next loop turns and calls PROTOCOL_DESTROY. */
	srv->freeing = 1;
	lws_vhost_destroy(srv->vh);
}

int http_server_port(const struct http_server *srv)
{
	return srv ? srv->port : 0;
}

int http_server_route(struct http_server *srv, const char *method, const char *path,
		      http_handler handler, void *arg)
{
	struct hs_route *r;

	if (!srv || !method || !path || !handler || *path != '/' ||
	    strlen(method) >= HS_METHOD_MAX || strlen(path) >= HTTP_SERVER_MAX_PATH ||
	    strpbrk(path, "\"\\\n"))
		return T0_EINVAL;
	for (size_t i = 0; i < srv->nroutes; i++)
		if (!strcmp(srv->routes[i].method, method) && !strcmp(srv->routes[i].path, path))
			return T0_EDUP;
	if (srv->nroutes == HTTP_SERVER_MAX_ROUTES)
		return T0_ETOOBIG;
	r = &srv->routes[srv->nroutes];
	r->path = strdup(path);
	if (!r->path)
		return T0_ENOMEM;
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->handler = handler;
	r->arg = arg;
	srv->nroutes++;
	return T0_OK;
}

/* Hashing first makes the compare independent of the token's length. */
static int token_matches(const char *given, const char *want)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)given, strlen(given), a);
	SHA256((const unsigned char *)want, strlen(want), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

void http_metrics_handler(const struct http_request *req, struct http_response *resp, void *arg)
{
	const char *token = arg;
	char *text = NULL;
	size_t len = 0;

	if (token && *token) {
		const char *auth = http_request_header(req, "Authorization");

		if (!auth || strncasecmp(auth, "Bearer ", 7) || !token_matches(auth + 7, token)) {
			http_response_status(resp, 401);
			http_response_header(resp, "WWW-Authenticate", "Bearer");
			http_response_body(resp, NULL, "unauthorized\n", 13);
			return;
		}
	}
	if (metrics_render(&text, &len) != T0_OK) {
		http_response_status(resp, 500);
		http_response_body(resp, NULL, "metrics unavailable\n", 20);
		return;
	}
	http_response_status(resp, 200);
	http_response_body_take(resp, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
