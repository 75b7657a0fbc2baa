/*
 * Alertmanager webhook intake (payload version 4). One notification is one
 * alert group (groupKey): it becomes one incident, firing or resolved; the
 * service comes from a configurable label (alertmanager.service_label,
 * default "service"). Alertmanager sends no event id, so identical
 * redeliveries are recognised by a hash of the body.
 *
 *   {"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","status":"firing",
 *    "receiver":"tier0","groupLabels":{...},"commonLabels":{...},
 *    "commonAnnotations":{...},"externalURL":"http://alertmanager:9093",
 *    "truncatedAlerts":0,"alerts":[{"status":"firing","labels":{...},
 *    "annotations":{...},"startsAt":"...","endsAt":"...","generatorURL":"...",
 *    "fingerprint":"..."}]}
 */
#include "adapters/context/intake.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "adapters/context/webhook_sig.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_server.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define AM_TIMELINE_ALERTS 50 /* alerts of one notification kept in its timeline entry */

static const char *label(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* Strings the parsed alert points at, kept alive in the holder tree. */
static const char *keep(json_t *holder, const char *key, const char *value)
{
	json_t *s = json_string(value);

	if (!s || json_object_set_new(json_object_get(holder, "tier0"), key, s) != 0)
		return NULL;
	return json_string_value(json_object_get(json_object_get(holder, "tier0"), key));
}

int alertmanager_webhook_parse(const char *body, size_t len, const char *service_label,
			       struct incident_alert *out, json_t **holder, char *err,
			       size_t errlen)
{
	json_error_t jerr;
	json_t *root, *alerts, *common, *groupl, *ann, *first, *a, *brief;
	const char *status, *gk, *svc, *name, *summary;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], title[512], detail_note[128];
	size_t i, firing = 0;
	char *dj;

	memset(out, 0, sizeof(*out));
	*holder = NULL;
	root = json_loadb(body, len, 0, &jerr);
	if (!root) {
		set_err(err, errlen, "body is not JSON");
		return T0_EPARSE;
	}
	*holder = root;
	gk = label(root, "groupKey");
	status = label(root, "status");
	alerts = json_object_get(root, "alerts");
	if (!gk || !*gk || !status || !json_is_array(alerts)) {
		set_err(err, errlen, "not an Alertmanager notification: groupKey, status or alerts "
				     "missing");
		return T0_EPARSE;
	}
	if (!label(root, "version") || strcmp(label(root, "version"), "4") != 0)
		log_warn("alertmanager", "version", "version=%s expected=4",
			 label(root, "version") ? label(root, "version") : "(none)");
	if (json_object_set_new(root, "tier0", json_object()) != 0)
		return T0_ENOMEM;
	common = json_object_get(root, "commonLabels");
	groupl = json_object_get(root, "groupLabels");
	ann = json_object_get(root, "commonAnnotations");
	first = json_array_get(alerts, 0);
	svc = label(common, service_label);
	if (!svc)
		svc = label(groupl, service_label);
	if (!svc)
		svc = label(json_object_get(first, "labels"), service_label);
	name = label(common, "alertname");
	if (!name)
		name = label(json_object_get(first, "labels"), "alertname");
	summary = label(ann, "summary");
	if (!summary)
		summary = label(json_object_get(first, "annotations"), "summary");
	brief = json_array();
	json_array_foreach(alerts, i, a) {
		const char *st = label(a, "status");

		firing += st && strcmp(st, "firing") == 0;
		if (i < AM_TIMELINE_ALERTS)
			json_array_append_new(brief,
					      json_pack("{ss* ss* ss* ss*}", "fingerprint",
							label(a, "fingerprint"), "status", st,
							"alertname",
							label(json_object_get(a, "labels"),
							      "alertname"),
							"startsAt", label(a, "startsAt")));
	}
	snprintf(title, sizeof(title), "%s%s%s", name ? name : "Alert", summary ? ": " : "",
		 summary ? summary : "");
	snprintf(detail_note, sizeof(detail_note), "%zu firing, %zu resolved", firing,
		 json_array_size(alerts) - firing);
	SHA256((const unsigned char *)body, len, digest);
	for (i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	/* The event happens now; each alert's startsAt is kept in the timeline entry. */
	{
		json_t *d = json_object();

		json_object_set_new(d, "alerts", brief);
		if (label(root, "receiver"))
			json_object_set_new(d, "receiver", json_string(label(root, "receiver")));
		json_object_set_new(d, "truncated",
				    json_integer(json_integer_value(json_object_get(root,
										    "truncatedAlerts"))));
		dj = d ? json_dumps(d, JSON_COMPACT) : NULL;
		json_decref(d);
	}
	out->source = "alertmanager";
	out->external_id = gk;
	out->event_id = keep(root, "event_id", hex);
	out->type = strcmp(status, "resolved") == 0 ? "alert.resolved" : "alert.firing";
	out->status = strcmp(status, "resolved") == 0 ? "resolved" : "triggered";
	out->title = keep(root, "title", title);
	out->severity = label(common, "severity") ? label(common, "severity")
						  : label(json_object_get(first, "labels"), "severity");
	out->service = svc;
	out->url = label(root, "externalURL") ? label(root, "externalURL")
					      : label(first, "generatorURL");
	out->note = keep(root, "note", detail_note);
	out->nalerts = (int)json_array_size(alerts);
	out->detail_json = dj ? keep(root, "detail", dj) : NULL;
	free(dj);
	if (!out->event_id || !out->title || !out->note) {
		set_err(err, errlen, "out of memory");
		return T0_ENOMEM;
	}
	return T0_OK;
}

static void answer(struct http_response *resp, int status, const char *json)
{
	http_response_status(resp, status);
	http_response_body(resp, "application/json", json, strlen(json));
}

static void rejected(const char *reason)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "source=\"alertmanager\",reason=\"%s\"", reason);
	metrics_counter_add("tier0_webhook_rejected_total", labels, 1);
}

void alertmanager_webhook_handler(const struct http_request *req, struct http_response *resp,
				  void *arg)
{
	struct intake *in = arg;
	const struct config *cfg = in->b->world->cfg;
	struct incident_alert a;
	json_t *holder = NULL;
	char err[160];
	int rc;

	if (webhook_verify_bearer(http_request_header(req, "authorization"), cfg->am_token) !=
	    T0_OK) {
		log_warn("alertmanager", "bad_token", "remote=%s bytes=%zu", req->remote,
			 req->body_len);
		rejected("token");
		answer(resp, 401, "{\"error\":\"unauthorized\"}");
		return;
	}
	if (incident_mgr_queue_depth(in->m) >= INCIDENT_QUEUE_MAX) {
		rejected("queue_full");
		http_response_header(resp, "Retry-After", "5");
		answer(resp, 503, "{\"error\":\"busy\"}");
		return;
	}
	rc = alertmanager_webhook_parse(req->body, req->body_len,
					cfg->am_service_label ? cfg->am_service_label : "service",
					&a, &holder, err, sizeof(err));
	if (rc != T0_OK) {
		log_warn("alertmanager", "bad_payload", "remote=%s error=%s", req->remote, err);
		rejected("payload");
		answer(resp, 400, "{\"error\":\"not an Alertmanager webhook notification\"}");
		goto out;
	}
	rc = incident_mgr_submit(in->m, &a);
	if (rc == T0_OK || rc == T0_EDUP)
		answer(resp, 200, rc == T0_OK ? "{\"status\":\"accepted\"}"
					      : "{\"status\":\"duplicate\"}");
	else if (rc == T0_ETOOBIG) {
		/* Alertmanager retries failed notifications itself. */
		http_response_header(resp, "Retry-After", "5");
		answer(resp, 503, "{\"error\":\"busy\"}");
	} else
		answer(resp, 500, "{\"error\":\"internal\"}");
out:
	json_decref(holder);
}
