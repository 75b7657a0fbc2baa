/*
 * PagerDuty Webhooks V3 intake (see ../shared/reference/pagerduty.md §1):
 * the signature is checked over the raw body before anything else; a bad
 * one is answered 401 and logged, and the body is never parsed. Good events
 * are de-duplicated by event id and queued; PagerDuty gets 202 at once.
 */
#include "adapters/context/intake.h"

#include <jansson.h>
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
#include "bot/timeparse.h"

static const char *str_at(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *ref_field(const json_t *o, const char *ref, const char *key)
{
	return str_at(json_object_get(o, ref), key);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* Incident states PagerDuty reports; anything else keeps the stored status. */
static const char *pd_status(const char *s)
{
	if (!s)
		return NULL;
	if (strcmp(s, "triggered") == 0 || strcmp(s, "acknowledged") == 0 ||
	    strcmp(s, "resolved") == 0)
		return s;
	return NULL;
}

int pagerduty_webhook_parse(const char *body, size_t len, struct incident_alert *out,
			    json_t **holder, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *ev, *data, *inc;
	const char *type, *dtype, *when;
	int64_t ms = 0;

	memset(out, 0, sizeof(*out));
	*holder = NULL;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		set_err(err, errlen, "body is not JSON");
		return T0_EPARSE;
	}
	*holder = root;
	ev = json_object_get(root, "event");
	type = str_at(ev, "event_type");
	data = json_object_get(ev, "data");
	if (!json_is_object(ev) || !type || !str_at(ev, "id") || !json_is_object(data)) {
		set_err(err, errlen, "not a V3 webhook: event.id, event.event_type or event.data "
				     "missing");
		return T0_EPARSE;
	}
	/* service.*, pagey.ping and the like: nothing to show on an incident card. */
	if (strncmp(type, "incident.", 9) != 0) {
		set_err(err, errlen, "not an incident event");
		return T0_ENOTFOUND;
	}
	dtype = str_at(data, "type");
	/* Incident payloads carry the incident; notes, responders, status updates reference it. */
	inc = dtype && strcmp(dtype, "incident") == 0 ? data : json_object_get(data, "incident");
	if (!json_is_object(inc) || !str_at(inc, "id")) {
		set_err(err, errlen, "incident id missing");
		return T0_EPARSE;
	}
	out->source = "pagerduty";
	out->external_id = str_at(inc, "id");
	out->event_id = str_at(ev, "id");
	out->type = type;
	out->url = str_at(inc, "html_url");
	out->agent = ref_field(ev, "agent", "summary");
	when = str_at(ev, "occurred_at");
	if (when && t0_time_parse(when, T0_TIME_OFFSET_REQUIRED, &ms) == 0)
		out->occurred_ms = ms;
	if (inc == data) {
		out->status = pd_status(str_at(data, "status"));
		out->title = str_at(data, "title");
		out->severity = str_at(data, "urgency");
		out->priority = ref_field(data, "priority", "summary");
		out->service = ref_field(data, "service", "summary");
		out->pd_service_id = ref_field(data, "service", "id");
		out->pd_escalation_policy_id = ref_field(data, "escalation_policy", "id");
	} else {
		out->title = NULL; /* the reference's summary is the title, but keep what we have */
	}
	if (strcmp(type, "incident.annotated") == 0 ||
	    strcmp(type, "incident.status_update_published") == 0)
		out->note = str_at(data, "content") ? str_at(data, "content") : str_at(data, "message");
	else if (strcmp(type, "incident.reassigned") == 0 || strcmp(type, "incident.delegated") == 0) {
		const json_t *as = json_object_get(data, "assignees");
		const json_t *a = json_array_get(as, 0);

		out->note = a ? str_at(a, "summary") : ref_field(data, "escalation_policy", "summary");
	} else if (strcmp(type, "incident.escalated") == 0) {
		const json_t *a = json_array_get(json_object_get(data, "assignees"), 0);

		out->note = a ? str_at(a, "summary") : NULL;
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

	snprintf(labels, sizeof(labels), "source=\"pagerduty\",reason=\"%s\"", reason);
	metrics_counter_add("tier0_webhook_rejected_total", labels, 1);
}

void pagerduty_webhook_handler(const struct http_request *req, struct http_response *resp,
			       void *arg)
{
	struct intake *in = arg;
	const struct config *cfg = in->b->world->cfg;
	const char *sig = http_request_header(req, "x-pagerduty-signature");
	struct incident_alert a;
	json_t *holder = NULL;
	char err[160];
	int rc;

	rc = webhook_verify_pagerduty(sig, (const char *const *)cfg->pd_webhook_secrets,
				      cfg->npd_webhook_secrets, req->body, req->body_len);
	if (rc != T0_OK) {
		/* Repeated 401s get PagerDuty to disable the subscription: make them visible. */
		log_warn("pagerduty", "bad_signature", "remote=%s reason=%s bytes=%zu", req->remote,
			 !cfg->npd_webhook_secrets ? "no pagerduty.webhook_secrets configured"
			 : rc == T0_EINVAL	  ? "missing or malformed X-PagerDuty-Signature"
						  : "no signature matches any configured secret",
			 req->body_len);
		rejected("signature");
		answer(resp, 401, "{\"error\":\"bad signature\"}");
		return;
	}
	if (incident_mgr_queue_depth(in->m) >= INCIDENT_QUEUE_MAX) {
		/* Not processed: PagerDuty retries a 503, and nothing was marked seen. */
		rejected("queue_full");
		http_response_header(resp, "Retry-After", "5");
		answer(resp, 503, "{\"error\":\"busy\"}");
		return;
	}
	rc = pagerduty_webhook_parse(req->body, req->body_len, &a, &holder, err, sizeof(err));
	if (rc == T0_ENOTFOUND) {
		answer(resp, 202, "{\"status\":\"ignored\"}");
		goto out;
	}
	if (rc != T0_OK) {
		log_warn("pagerduty", "bad_payload", "remote=%s error=%s", req->remote, err);
		rejected("payload");
		answer(resp, 400, "{\"error\":\"not a PagerDuty V3 incident event\"}");
		goto out;
	}
	rc = incident_mgr_submit(in->m, &a);
	if (rc == T0_OK || rc == T0_EDUP) {
		answer(resp, 202, rc == T0_OK ? "{\"status\":\"accepted\"}"
					      : "{\"status\":\"duplicate\"}");
	} else if (rc == T0_ETOOBIG) {
		http_response_header(resp, "Retry-After", "5");
		answer(resp, 503, "{\"error\":\"busy\"}");
	} else {
		answer(resp, 500, "{\"error\":\"internal\"}");
	}
out:
	json_decref(holder);
}
