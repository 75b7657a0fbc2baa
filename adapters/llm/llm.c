/*
 * The LLM adapter (adapter_ops "llm") and the HTTP plumbing both providers
 * share: URL, headers, a redacted request body, deadline, retries on 429 /
 * 5xx / 529 honouring retry-after, bounded responses, exactly one callback.
 */
#include "adapters/llm/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/llm/llm_provider.h"
#include "bot/agent.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_client.h"
#include "bot/llm.h"
#include "bot/llm_guard.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define LLM_URL_MAX 2048
#define LLM_BACKOFF_BASE_MS 500  /* the official SDKs: 0.5 s doubling ... */
#define LLM_BACKOFF_CAP_MS 8000  /* ... up to 8 s */

char *llm_strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

json_t *llm_tool_schema(const struct llm_tool_def *def)
{
	json_t *s = def->schema_json ? json_loads(def->schema_json, 0, NULL) : NULL;

	if (!json_is_object(s)) {
		json_decref(s);
		s = json_pack("{s:s, s:{}}", "type", "object", "properties");
	}
	return s;
}

/* A proxy's HTML page or a gateway message: its first bytes, cleaned, on one line. */
void llm_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	char *clean = guard_clean(body, len < 200 ? len : 200, NULL);
	size_t n;

	snprintf(out, outlen, "%s", clean && *clean ? clean : "(empty body)");
	free(clean);
	for (n = 0; out[n]; n++)
		if (out[n] == '\n' || out[n] == '\t')
			out[n] = ' ';
}

struct llm_http {
	const struct llm_provider *p;
	llm_done_cb cb;
	void *arg;
};

static const char *call_result(const struct llm_result *res, char *buf, size_t len)
{
	if (res->rc == T0_OK)
		return "ok";
	if (res->status) {
		snprintf(buf, len, "http_%ld", res->status);
		return buf;
	}
	return res->rc == T0_ETIMEOUT ? "timeout" : res->rc == T0_ECLOSED ? "closed" : "error";
}

static void on_http_done(const struct http_resp *resp, void *arg)
{
	struct llm_http *h = arg;
	struct llm_result res;
	const char *rid = http_resp_header(resp, h->p->request_id_header);
	char labels[128], buf[32];

	memset(&res, 0, sizeof(res));
	res.status = resp->status;
	res.attempts = resp->attempts;
	res.elapsed_ms = resp->elapsed_ms;
	snprintf(res.request_id, sizeof(res.request_id), "%s", rid ? rid : "");
	if (resp->rc != T0_OK) {
		res.rc = resp->rc;
		snprintf(res.error, sizeof(res.error), "%s", t0_rc_str(resp->rc));
	} else if (resp->status >= 200 && resp->status < 300) {
		res.turn = calloc(1, sizeof(*res.turn));
		res.rc = res.turn ? h->p->parse(resp->body, resp->body_len, res.turn, res.error,
						sizeof(res.error))
				  : T0_ENOMEM;
		if (res.rc != T0_OK) {
			llm_turn_free(res.turn);
			res.turn = NULL;
		}
	} else {
		char detail[200];

		res.rc = T0_EHTTP;
		h->p->error(resp->body, resp->body_len, detail, sizeof(detail));
		snprintf(res.error, sizeof(res.error), "HTTP %ld %s", resp->status, detail);
	}
	snprintf(labels, sizeof(labels), "provider=\"%s\",result=\"%s\"", h->p->name,
		 call_result(&res, buf, sizeof(buf)));
	metrics_counter_add("tier0_llm_calls_total", labels, 1);
	if (res.rc == T0_OK)
		log_info("llm", "call", "provider=%s status=%ld attempts=%d ms=%lld request_id=%s "
			 "stop=%s input=%lld output=%lld tool_calls=%zu",
			 h->p->name, res.status, res.attempts, (long long)res.elapsed_ms,
			 res.request_id, res.turn->stop_raw, (long long)res.turn->usage.input,
			 (long long)res.turn->usage.output, res.turn->ncalls);
	else
		log_warn("llm", "call_failed", "provider=%s status=%ld attempts=%d ms=%lld "
			 "request_id=%s rc=%s error=%s",
			 h->p->name, res.status, res.attempts, (long long)res.elapsed_ms,
			 res.request_id, t0_rc_str(res.rc), res.error);
	h->cb(h->arg, &res);
	llm_turn_free(res.turn);
	free(h);
}

int llm_http_complete(const struct llm_provider *p, struct t0_loop *loop,
		      const struct config *cfg, const struct llm_call *call, llm_done_cb cb,
		      void *arg)
{
	char (*hdrs)[LLM_HEADER_MAX] = NULL;
	const char *hp[LLM_MAX_HEADERS];
	struct llm_http *h = NULL;
	char url[LLM_URL_MAX];
	json_t *body = NULL, *copy = NULL;
	char *clean = NULL;
	size_t nh = 0;
	int rc;

	if (!loop || !cfg || !cfg->llm_api_url || !call || !call->messages || !cb)
		return T0_EINVAL;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", cfg->llm_api_url, p->path) >= sizeof(url))
		return T0_ETOOBIG;
	hdrs = calloc(LLM_MAX_HEADERS, sizeof(*hdrs));
	h = calloc(1, sizeof(*h));
	if (!hdrs || !h) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = p->headers(cfg, hdrs, LLM_MAX_HEADERS, &nh);
	if (rc != T0_OK)
		goto out;
	/*
	 * Last line of defence: whatever went into the conversation was redacted
	 * on the way in; every string of the body is checked again (on a copy:
	 * the body shares the conversation's messages).
	 */
	body = p->body(cfg, call);
	copy = body ? json_deep_copy(body) : NULL;
	if (!copy || guard_redact_json(copy, cfg->secrets, cfg->nsecrets) < 0 ||
	    !(clean = json_dumps(copy, JSON_COMPACT))) {
		rc = T0_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nh; i++)
		hp[i] = hdrs[i];
	h->p = p;
	h->cb = cb;
	h->arg = arg;
	{
		struct http_req req = {
			.method = "POST",
			.url = url,
			.headers = hp,
			.nheaders = nh,
			.body = clean,
			.body_len = strlen(clean),
			.timeout_ms = cfg->llm_timeout_ms,
			.deadline_ms = call->deadline_ms,
			.max_response_bytes = LLM_MAX_RESPONSE,
			.max_retries = cfg->llm_retries,
			.retry_5xx = 1,
			.retry_overloaded = 1,
			.backoff_base_ms = LLM_BACKOFF_BASE_MS,
			.backoff_cap_ms = LLM_BACKOFF_CAP_MS,
			.max_retry_after_ms = 60000,
		};

		rc = http_request(loop, &req, on_http_done, h);
	}
	if (rc == T0_OK)
		h = NULL;
out:
	if (hdrs) {
		/* They held the API key. */
		memset(hdrs, 0, LLM_MAX_HEADERS * sizeof(*hdrs));
		free(hdrs);
	}
	free(h);
	json_decref(body);
	json_decref(copy);
	free(clean);
	return rc;
}

/* ---- the adapter ---- */

struct llm_state {
	struct bot *bot;
};

static int llm_configured(const struct config *cfg)
{
	return cfg->llm_provider != NULL;
}

static int llm_init(const struct adapter_ctx *ctx, void **state)
{
	struct llm_state *s = calloc(1, sizeof(*s));
	const struct config *cfg = ctx->bot->world->cfg;
	int rc;

	if (!s)
		return T0_ENOMEM;
	s->bot = ctx->bot;
	rc = llm_register(&llm_anthropic);
	if (rc == T0_OK)
		rc = llm_register(&llm_openai);
	if (rc == T0_OK)
		rc = agent_attach(ctx->bot);
	if (rc != T0_OK) {
		free(s);
		return rc;
	}
	log_info("llm", "configured", "provider=%s model=%s routing=%d", cfg->llm_provider,
		 cfg->llm_model, cfg->llm_routing);
	*state = s;
	return T0_OK;
}

static int llm_start(void *state)
{
	return T0_OK;
}

static void llm_stop(void *state)
{
}

static void llm_free(void *state)
{
	if (!state)
		return;
	agent_detach();
	llm_unregister_all();
	free(state);
}

/* Nothing to connect to ahead of time: a provider outage shows per request. */
static int llm_ready(void *state)
{
	return 1;
}

const struct adapter_ops llm_ops = {
	.name = "llm",
	.kind = ADAPTER_LLM,
	.configured = llm_configured,
	.init = llm_init,
	.start = llm_start,
	.stop = llm_stop,
	.free = llm_free,
	.ready = llm_ready,
};
