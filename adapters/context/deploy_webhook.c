/*
 * POST /webhooks/deployments: any CI records a deployment, signed with the
 * shared secret deployments.webhook_secret:
 *
 *   X-Tier0-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
 *   {"service": "payment-api", "version": "v2.14.1", "ref": "a1b2c3d",
 *    "environment": "production", "actor": "bob", "status": "success",
 *    "timestamp": "2026-11-26T09:40:00Z", "url": "https://ci.example.com/run/42",
 *    "id": "ci-run-42"}
 *
 * Only "service" is required; status defaults to "success", timestamp to now,
 * id to a hash of the body. GitHub's own deployment_status webhook (header
 * X-GitHub-Event, signature X-Hub-Signature-256 with the same secret) is
 * understood too; its repository maps to a service by the
 * github.com/project-slug annotation. Deployments are stored at once.
 */
#include "adapters/context/intake.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "adapters/context/webhook_sig.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "bot/timeparse.h"
#include "store/store.h"

#define DEPLOY_MAX_FIELD 512

static const char *str_at(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s && strlen(s) <= DEPLOY_MAX_FIELD ? s : NULL;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

static const char *keep(json_t *root, const char *key, const char *value)
{
	json_t *box = json_object_get(root, "tier0");

	if (!box) {
		box = json_object();
		if (!box || json_object_set_new(root, "tier0", box) != 0)
			return NULL;
	}
	if (json_object_set_new(box, key, json_string(value)) != 0)
		return NULL;
	return json_string_value(json_object_get(box, key));
}

/* The catalog component whose github.com/project-slug is repo (case-insensitive). */
static const char *service_for_repo(struct bot *b, const char *repo)
{
	for (size_t i = 0; repo && i < catalog_count(b->world->cat); i++) {
		const struct cat_entity *e = catalog_at(b->world->cat, i);
		const char *slug = catalog_annotation(e, "github.com/project-slug");

		if (slug && strcasecmp(slug, repo) == 0)
			return e->name;
	}
	return NULL;
}

static int parse_github(struct bot *b, json_t *root, const char *event,
			struct store_deployment *out, char *err, size_t errlen)
{
	const json_t *dep = json_object_get(root, "deployment");
	const json_t *st = json_object_get(root, "deployment_status");
	const char *repo = str_at(json_object_get(root, "repository"), "full_name");
	const char *when, *svc;
	char id[64];
	int64_t ms = 0;

	if (strcmp(event, "deployment_status") != 0 && strcmp(event, "deployment") != 0) {
		set_err(err, errlen, "GitHub event other than deployment or deployment_status");
		return T0_ENOTFOUND;
	}
	if (!json_is_object(dep) || !json_is_integer(json_object_get(dep, "id")) || !repo) {
		set_err(err, errlen, "deployment or repository missing");
		return T0_EPARSE;
	}
	svc = service_for_repo(b, repo);
	if (!svc) {
		set_err(err, errlen, "no catalog entity has this repository as github.com/project-slug");
		return T0_ENOTFOUND;
	}
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(dep, "id")));
	when = str_at(dep, "created_at");
	if (when)
		t0_time_parse(when, T0_TIME_OFFSET_REQUIRED, &ms);
	out->service = svc;
	out->source = "github";
	out->external_id = keep(root, "id", id);
	out->version = str_at(dep, "sha");
	out->ref = str_at(dep, "ref");
	out->actor = str_at(json_object_get(dep, "creator"), "login");
	out->environment = str_at(dep, "environment");
	out->status = json_is_object(st) ? str_at(st, "state") : "pending";
	out->created_ms = ms ? ms : t0_now_ms();
	out->url = json_is_object(st) && str_at(st, "target_url") ? str_at(st, "target_url")
								  : str_at(dep, "url");
	if (out->version && strlen(out->version) > 7) {
		char sha[8];

		memcpy(sha, out->version, 7);
		sha[7] = '\0';
		out->version = keep(root, "short", sha);
	}
	return out->external_id ? T0_OK : T0_ENOMEM;
}

int deploy_webhook_parse(struct bot *b, const char *body, size_t len, const char *github_event,
			 struct store_deployment *out, json_t **holder, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const char *when;
	int64_t ms = 0;

	memset(out, 0, sizeof(*out));
	*holder = NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		set_err(err, errlen, "body is not a JSON object");
		return T0_EPARSE;
	}
	*holder = root;
	if (github_event)
		return parse_github(b, root, github_event, out, err, errlen);
	out->service = str_at(root, "service");
	if (!out->service) {
		set_err(err, errlen, "\"service\" is required (a string of at most 512 bytes)");
		return T0_EPARSE;
	}
	when = str_at(root, "timestamp");
	if (!when)
		when = str_at(root, "started_at");
	if (when && t0_time_parse(when, T0_TIME_OFFSET_REQUIRED, &ms) != 0) {
		set_err(err, errlen, "\"timestamp\" is not an RFC 3339 time");
		return T0_EPARSE;
	}
	out->source = "webhook";
	out->external_id = str_at(root, "id");
	if (!out->external_id) {
		unsigned char d[SHA256_DIGEST_LENGTH];
		char hex[33];

		SHA256((const unsigned char *)body, len, d);
		for (size_t i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		out->external_id = keep(root, "id", hex);
	}
	out->version = str_at(root, "version");
	out->ref = str_at(root, "ref") ? str_at(root, "ref") : str_at(root, "revision");
	out->actor = str_at(root, "actor");
	out->environment = str_at(root, "environment");
	out->status = str_at(root, "status") ? str_at(root, "status") : "success";
	out->created_ms = ms ? ms : t0_now_ms();
	out->url = str_at(root, "url");
	return out->external_id ? T0_OK : T0_ENOMEM;
}

static void answer(struct http_response *resp, int status, const char *json)
{
	http_response_status(resp, status);
	http_response_body(resp, "application/json", json, strlen(json));
}

static void rejected(const char *reason)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "source=\"deployments\",reason=\"%s\"", reason);
	metrics_counter_add("tier0_webhook_rejected_total", labels, 1);
}

void deploy_webhook_handler(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct intake *in = arg;
	const struct config *cfg = in->b->world->cfg;
	const char *gh = http_request_header(req, "x-github-event");
	const char *sig = http_request_header(req, gh ? "x-hub-signature-256" : "x-tier0-signature");
	struct actor actor = { .platform = "webhook", .user_id = "deployments" };
	struct store_deployment d;
	json_t *holder = NULL, *audit = NULL;
	char err[160], out[256];
	int rc, inserted = 0;

	if (!cfg->deploy_webhook_secret ||
	    webhook_verify_sha256(sig, cfg->deploy_webhook_secret, req->body, req->body_len) !=
		    T0_OK) {
		log_warn("deployments", "bad_signature", "remote=%s reason=%s", req->remote,
			 !cfg->deploy_webhook_secret ? "no deployments.webhook_secret configured"
			 : !sig ? "signature header missing"
				: "signature does not match");
		rejected("signature");
		answer(resp, 401, "{\"error\":\"bad signature\"}");
		return;
	}
	if (gh && strcmp(gh, "ping") == 0) {
		answer(resp, 200, "{\"status\":\"pong\"}");
		return;
	}
	rc = deploy_webhook_parse(in->b, req->body, req->body_len, gh, &d, &holder, err,
				  sizeof(err));
	if (rc == T0_ENOTFOUND) {
		log_info("deployments", "ignored", "remote=%s reason=%s", req->remote, err);
		answer(resp, 202, "{\"status\":\"ignored\"}");
		goto out;
	}
	if (rc != T0_OK) {
		log_warn("deployments", "bad_payload", "remote=%s error=%s", req->remote, err);
		rejected("payload");
		snprintf(out, sizeof(out), "{\"error\":\"%s\"}", "invalid deployment record");
		answer(resp, 400, out);
		goto out;
	}
	rc = store_begin(in->b->store);
	if (rc == T0_OK)
		rc = store_deployment_upsert(in->b->store, &d, &inserted);
	if (rc == T0_OK) {
		audit = json_pack("{ss ss ss ss* ss*}", "service", d.service, "source", d.source,
				  "external_id", d.external_id, "version", d.version, "status",
				  d.status);
		rc = audit_append(in->b->store, &actor, NULL, "deployment.recorded", audit, NULL);
	}
	if (rc == T0_OK)
		rc = store_commit(in->b->store);
	else
		store_rollback(in->b->store);
	if (rc != T0_OK) {
		answer(resp, 500, "{\"error\":\"could not store\"}");
		goto out;
	}
	metrics_counter_add("tier0_deployments_recorded_total", "source=\"webhook\"", 1);
	log_info("deployments", "recorded", "service=%s source=%s id=%s new=%d", d.service,
		 d.source, d.external_id, inserted);
	snprintf(out, sizeof(out), "{\"status\":\"%s\"}", inserted ? "stored" : "updated");
	answer(resp, inserted ? 201 : 200, out);
out:
	json_decref(audit);
	json_decref(holder);
}
