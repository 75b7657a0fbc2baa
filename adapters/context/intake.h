/*
 * Inbound alert and deployment webhooks (adapters/context): verify, parse into
 * the core's normalised structs, hand over, answer at once.
 *
 *   POST /webhooks/pagerduty     PagerDuty Webhooks V3, X-PagerDuty-Signature
 *   POST /webhooks/alertmanager  Alertmanager webhook payload version 4, optional bearer token
 *   POST /webhooks/deployments   tier0's generic deployment record (or GitHub's
 *                                deployment_status), HMAC-SHA256 with deployments.webhook_secret
 *
 * Secrets are read from the current configuration at each request, so a
 * reload (SIGHUP) rotates them.
 */
#ifndef T0_INTAKE_H
#define T0_INTAKE_H

#include <stddef.h>
#include <stdint.h>

struct bot;
struct incident_mgr;
struct incident_alert;
struct http_request;
struct http_response;
struct store_deployment;

struct intake {
	struct bot *b;
	struct incident_mgr *m;
};

void pagerduty_webhook_handler(const struct http_request *req, struct http_response *resp,
			       void *arg);
void alertmanager_webhook_handler(const struct http_request *req, struct http_response *resp,
				  void *arg);
void deploy_webhook_handler(const struct http_request *req, struct http_response *resp, void *arg);

/*
 * Parsers, for the handlers and tests. Each fills *out with strings that point
 * into *holder (a jansson tree the caller frees with json_decref).
 * T0_OK, T0_EPARSE (not JSON / not the expected shape), or T0_ENOTFOUND (valid,
 * but not an event tier0 acts on, e.g. a service.* or ping event).
 */
struct json_t;
int pagerduty_webhook_parse(const char *body, size_t len, struct incident_alert *out,
			    struct json_t **holder, char *err, size_t errlen);
/* service_label: which label names the service (alertmanager.service_label). */
int alertmanager_webhook_parse(const char *body, size_t len, const char *service_label,
			       struct incident_alert *out, struct json_t **holder, char *err,
			       size_t errlen);
/*
 * A deployment record: tier0's own shape, or GitHub's deployment_status
 * (github_event "deployment_status"; the service is found by the repository's
 * github.com/project-slug annotation).
 */
int deploy_webhook_parse(struct bot *b, const char *body, size_t len, const char *github_event,
			 struct store_deployment *out, struct json_t **holder, char *err,
			 size_t errlen);

#endif
