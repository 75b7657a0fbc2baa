#include "bot/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "bot/curl_api.h"
#include "bot/log.h"
#include "bot/t0.h"

/* One uv_poll_t per socket curl asks us to watch. */
struct curl_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct t0_loop *l;
	struct curl_sock *prev, *next;
};

struct loop_sig {
	uv_signal_t h;
	struct t0_loop *l;
	loop_signal_cb cb;
	void *arg;
	struct loop_sig *next;
};

struct t0_loop {
	uv_loop_t uv;
	int uv_ok;
	/* Keeps uv_run alive until loop_stop, whatever else is active. */
	uv_async_t keepalive;
	int keepalive_ok;
	CURLM *multi;
	uv_timer_t curl_timer;
	int curl_timer_ok;
	int curl_global_ok;
	struct curl_sock *socks;
	struct lws_context *lws; /* lws writes NULL here once destroyed */
	struct loop_sig *sigs;
	struct loop_job *jobs;
	size_t njobs;
	int stop;
	int closing;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* lws logs through our JSON facade; it hands us one line with a newline. */
static void lws_log_emit(int level, const char *line)
{
	char buf[512];
	size_t n = strlen(line);

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, line, n);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (level & LLL_ERR)
		log_err("lws", "log", "line=%s", buf);
	else
		log_warn("lws", "log", "line=%s", buf);
}

static void check_done(struct t0_loop *l)
{
	CURLMsg *msg;
	int left;

	while ((msg = t0_curl.multi_info_read(l->multi, &left))) {
		struct loop_xfer *x = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		t0_curl.easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		/* msg is invalid after this; everything needed was copied. */
		t0_curl.multi_remove_handle(l->multi, easy);
		if (x && x->done)
			x->done(x, easy, result);
	}
}

static void on_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sock_close(struct t0_loop *l, struct curl_sock *cs)
{
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		l->socks = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	uv_close((uv_handle_t *)&cs->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct curl_sock *cs = h->data;
	struct t0_loop *l = cs->l;
	int flags = 0, running = 0;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* cs may be closed by the socket callback from here on. */
	t0_curl.multi_socket_action(l->multi, cs->fd, flags, &running);
	check_done(l);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct t0_loop *l = userp;
	struct curl_sock *cs = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (cs) {
			t0_curl.multi_assign(l->multi, fd, NULL);
			sock_close(l, cs);
		}
		return 0;
	}
	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return -1;
		if (uv_poll_init_socket(&l->uv, &cs->poll, fd) != 0) {
			log_err("loop", "poll_init", "fd=%d", (int)fd);
			free(cs);
			return -1;
		}
		cs->fd = fd;
		cs->l = l;
		cs->poll.data = cs;
		cs->next = l->socks;
		if (l->socks)
			l->socks->prev = cs;
		l->socks = cs;
		t0_curl.multi_assign(l->multi, fd, cs);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&cs->poll, events, on_poll);
	return 0;
}

static void on_curl_timer_fire(uv_timer_t *t)
{
	struct t0_loop *l = t->data;
	int running = 0;

	t0_curl.multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(l);
}

/* curl forbids socket_action from inside this callback, hence the uv timer (even for 0 ms). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct t0_loop *l = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&l->curl_timer);
	else
		uv_timer_start(&l->curl_timer, on_curl_timer_fire, (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_keepalive(uv_async_t *a)
{
}

#define LOOP_MAX_FDS 4096

static int lws_init(struct t0_loop *l, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	void *loops[1] = { &l->uv };

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.foreign_loops = loops;
	info.pcontext = &l->lws;
	/* Slack and webhook requests carry several signature headers. */
	info.max_http_header_data = 8192;
	/*
	 * lws sizes its fd lookup table by this (default: RLIMIT_NOFILE, which can be
	 * a million): a bot needs a few hundred sockets, not megabytes of table.
	 */
	info.fd_limit_per_thread = LOOP_MAX_FDS;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	l->lws = lws_create_context(&info);
	if (!l->lws) {
		set_err(err, errlen, "lws_create_context failed (is libwebsockets-evlib_uv installed?)");
		return T0_EIO;
	}
	return T0_OK;
}

/*
 * curl (and through it OpenSSL, GnuTLS for LDAP, p11-kit) is initialised on
 * the first outbound request, not at start: a daemon that calls nothing out
 * does not carry several megabytes of TLS state.
 */
int loop_curl_ready(struct t0_loop *l)
{
	if (l->multi)
		return T0_OK;
	if (l->closing)
		return T0_ECLOSED;
	if (!l->curl_global_ok) {
		if (t0_curl_load() != T0_OK)
			return T0_EIO;
		if (t0_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_err("loop", "curl_init_failed", "");
			return T0_EHTTP;
		}
		l->curl_global_ok = 1;
	}
	l->multi = t0_curl.multi_init();
	if (!l->multi) {
		log_err("loop", "curl_init_failed", "what=multi");
		return T0_ENOMEM;
	}
	t0_curl.multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	t0_curl.multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	t0_curl.multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	t0_curl.multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	return T0_OK;
}

struct t0_loop *loop_new(char *err, size_t errlen)
{
	struct t0_loop *l = calloc(1, sizeof(*l));

	if (!l) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	/* A peer closing mid-write must fail that write, not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&l->uv) != 0) {
		set_err(err, errlen, "uv_loop_init failed");
		goto fail;
	}
	l->uv_ok = 1;
	if (uv_async_init(&l->uv, &l->keepalive, on_keepalive) != 0) {
		set_err(err, errlen, "uv_async_init failed");
		goto fail;
	}
	l->keepalive_ok = 1;
	uv_timer_init(&l->uv, &l->curl_timer);
	l->curl_timer.data = l;
	l->curl_timer_ok = 1;
	if (lws_init(l, err, errlen) != T0_OK)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

uv_loop_t *loop_uv(struct t0_loop *l)
{
	return &l->uv;
}

struct lws_context *loop_lws(struct t0_loop *l)
{
	return l->lws;
}

int loop_run(struct t0_loop *l)
{
	while (!l->stop)
		uv_run(&l->uv, UV_RUN_DEFAULT);
	l->stop = 0;
	return T0_OK;
}

void loop_stop(struct t0_loop *l)
{
	l->stop = 1;
	uv_stop(&l->uv);
}

int loop_closing(const struct t0_loop *l)
{
	return l->closing;
}

size_t loop_inflight(const struct t0_loop *l)
{
	return l->njobs;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct loop_sig *s = h->data;

	s->cb(s->l, signum, s->arg);
}

int loop_on_signal(struct t0_loop *l, int signum, loop_signal_cb cb, void *arg)
{
	struct loop_sig *s;

	if (!cb || l->closing)
		return T0_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return T0_ENOMEM;
	if (uv_signal_init(&l->uv, &s->h) != 0) {
		free(s);
		return T0_EIO;
	}
	s->h.data = s;
	s->l = l;
	s->cb = cb;
	s->arg = arg;
	s->next = l->sigs;
	l->sigs = s;
	if (uv_signal_start(&s->h, on_signal, signum) != 0) {
		log_err("loop", "signal", "signum=%d", signum);
		return T0_EINVAL; /* s stays on the list and is closed in loop_free */
	}
	return T0_OK;
}

void loop_job_add(struct t0_loop *l, struct loop_job *job)
{
	job->prev = NULL;
	job->next = l->jobs;
	if (l->jobs)
		l->jobs->prev = job;
	l->jobs = job;
	l->njobs++;
}

void loop_job_remove(struct t0_loop *l, struct loop_job *job)
{
	if (job->prev)
		job->prev->next = job->next;
	else if (l->jobs == job)
		l->jobs = job->next;
	else
		return; /* not on the list */
	if (job->next)
		job->next->prev = job->prev;
	job->prev = job->next = NULL;
	l->njobs--;
}

int loop_xfer_start(struct t0_loop *l, CURL *easy, struct loop_xfer *x)
{
	int rc;

	if (l->closing)
		return T0_ECLOSED;
	rc = loop_curl_ready(l);
	if (rc != T0_OK)
		return rc;
	t0_curl.easy_setopt(easy, CURLOPT_PRIVATE, x);
	if (t0_curl.multi_add_handle(l->multi, easy) != CURLM_OK)
		return T0_EHTTP;
	return T0_OK;
}

void loop_xfer_abort(struct t0_loop *l, CURL *easy)
{
	if (l->multi)
		t0_curl.multi_remove_handle(l->multi, easy);
}

static void on_sig_closed(uv_handle_t *h)
{
	free(h->data);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) {
		log_warn("loop", "stray_handle", "type=%s", uv_handle_type_name(uv_handle_get_type(h)));
		uv_close(h, NULL);
	}
}

void loop_free(struct t0_loop *l)
{
	if (!l)
		return;
	l->closing = 1;
	/* Owners get T0_ECLOSED now, while curl and the loop still work. */
	while (l->jobs) {
		struct loop_job *j = l->jobs;

		loop_job_remove(l, j);
		j->cancel(j);
	}
	if (l->multi) {
		t0_curl.multi_cleanup(l->multi);
		l->multi = NULL;
	}
	while (l->socks)
		sock_close(l, l->socks);
	if (l->curl_timer_ok)
		uv_close((uv_handle_t *)&l->curl_timer, NULL);
	while (l->sigs) {
		struct loop_sig *s = l->sigs;

		l->sigs = s->next;
		uv_close((uv_handle_t *)&s->h, on_sig_closed);
	}
	if (l->keepalive_ok)
		uv_close((uv_handle_t *)&l->keepalive, NULL);
	/*
	 * On a foreign loop lws only starts closing its handles here; the
	 * context is freed from their close callbacks, so the loop must run
	 * until lws has cleared l->lws through info.pcontext.
	 */
	if (l->lws)
		lws_context_destroy(l->lws);
	if (l->uv_ok) {
		uv_run(&l->uv, UV_RUN_DEFAULT);
		for (int i = 0; l->lws && i < 3; i++) {
			lws_context_destroy(l->lws);
			uv_run(&l->uv, UV_RUN_DEFAULT);
		}
		if (l->lws)
			log_err("loop", "lws_not_destroyed", "%s", "");
		if (uv_loop_close(&l->uv) == UV_EBUSY) {
			uv_walk(&l->uv, close_walk, NULL);
			uv_run(&l->uv, UV_RUN_DEFAULT);
			if (uv_loop_close(&l->uv) != 0)
				log_err("loop", "uv_loop_close", "%s", "busy");
		}
	}
	if (l->curl_global_ok)
		t0_curl.global_cleanup();
	free(l);
}
