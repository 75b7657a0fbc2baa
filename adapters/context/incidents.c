/*
 * The "incidents" source adapter: switched on by any of the sections
 * pagerduty, alertmanager, deployments, incidents, github, argocd or
 * catalog.backstage. It owns the incident manager (bot/incident.c), the
 * clients of the context sources it registers there, the webhook routes
 * (when the HTTP server runs) and the incident intents.
 */
#include <stdlib.h>
#include <string.h>

#include "adapters/context/argocd.h"
#include "adapters/context/backstage.h"
#include "adapters/context/github.h"
#include "adapters/context/incidents.h"
#include "adapters/context/intake.h"
#include "adapters/context/pagerduty.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_server.h"
#include "bot/incident.h"
#include "bot/incident_priv.h"
#include "bot/log.h"
#include "bot/t0.h"

struct incidents {
	struct intake in;
	struct pd_client *pd;
	struct backstage *bs;
	struct github *gh;
	struct argocd *argo;
	int routes;
};

static int incidents_configured(const struct config *cfg)
{
	return cfg->pagerduty_on || cfg->alertmanager_on || cfg->deployments_on ||
	       cfg->incidents_on || cfg->github_on || cfg->argocd_on || cfg->backstage_on;
}

static void incidents_free(void *state)
{
	struct incidents *s = state;

	if (!s)
		return;
	incident_intents_unregister();
	incident_mgr_free(s->in.m);
	pd_client_free(s->pd);
	backstage_free(s->bs);
	github_free(s->gh);
	argocd_free(s->argo);
	free(s);
}

static int add_route(struct incidents *s, struct http_server *http, const char *path,
		     http_handler fn)
{
	int rc = http_server_route(http, "POST", path, fn, &s->in);

	if (rc == T0_OK)
		s->routes++;
	else
		log_err("incidents", "route_failed", "path=%s rc=%s", path, t0_rc_str(rc));
	return rc;
}

static int incidents_init(const struct adapter_ctx *ctx, void **state)
{
	const struct config *cfg = ctx->bot->world->cfg;
	struct incidents *s = calloc(1, sizeof(*s));
	struct incident_source src;
	int rc = T0_OK;

	if (!s)
		return T0_ENOMEM;
	s->in.b = ctx->bot;
	s->in.m = incident_mgr_new(ctx->bot, ctx->loop);
	if (!s->in.m) {
		free(s);
		return T0_ENOMEM;
	}
	if (cfg->pagerduty_on && cfg->pd_token) {
		s->pd = pd_client_new_from_config(ctx->loop, cfg);
		if (!s->pd || pd_incident_source(s->pd, &src) != T0_OK ||
		    incident_source_register(s->in.m, &src) != T0_OK)
			rc = T0_ENOMEM;
	}
	if (rc == T0_OK && cfg->backstage_on) {
		s->bs = backstage_new(ctx->bot, ctx->loop, cfg->backstage_url, cfg->backstage_token);
		if (!s->bs || backstage_incident_source(s->bs, &src) != T0_OK ||
		    incident_source_register(s->in.m, &src) != T0_OK)
			rc = T0_ENOMEM;
	}
	if (rc == T0_OK && cfg->github_on) {
		s->gh = github_new(ctx->bot, ctx->loop, cfg->github_api_url, cfg->github_token);
		if (!s->gh || github_incident_source(s->gh, &src) != T0_OK ||
		    incident_source_register(s->in.m, &src) != T0_OK)
			rc = T0_ENOMEM;
	}
	if (rc == T0_OK && cfg->argocd_on) {
		s->argo = argocd_new(ctx->bot, ctx->loop, cfg->argocd_url, cfg->argocd_token);
		if (!s->argo || argocd_incident_source(s->argo, &src) != T0_OK ||
		    incident_source_register(s->in.m, &src) != T0_OK)
			rc = T0_ENOMEM;
	}
	if (rc == T0_OK && ctx->http) {
		if (cfg->pagerduty_on)
			rc = add_route(s, ctx->http, "/webhooks/pagerduty", pagerduty_webhook_handler);
		if (rc == T0_OK && cfg->alertmanager_on)
			rc = add_route(s, ctx->http, "/webhooks/alertmanager",
				       alertmanager_webhook_handler);
		if (rc == T0_OK && cfg->deployments_on)
			rc = add_route(s, ctx->http, "/webhooks/deployments", deploy_webhook_handler);
	}
	if (rc != T0_OK) {
		incidents_free(s);
		return rc;
	}
	if (cfg->pagerduty_on && !cfg->npd_webhook_secrets)
		log_warn("incidents", "no_webhook_secrets",
			 "hint=PagerDuty webhooks are refused until pagerduty.webhook_secrets is set");
	if (cfg->deployments_on && !cfg->deploy_webhook_secret)
		log_warn("incidents", "no_webhook_secret",
			 "hint=the deployment webhook is refused until deployments.webhook_secret is set");
	incident_intents_register();
	log_info("incidents", "ready", "routes=%d pagerduty_api=%d backstage=%d github=%d argocd=%d",
		 s->routes, s->pd != NULL, s->bs != NULL, s->gh != NULL, s->argo != NULL);
	*state = s;
	return T0_OK;
}

static int incidents_start(void *state)
{
	struct incidents *s = state;

	if (s->bs)
		backstage_start(s->bs);
	return T0_OK;
}

/* Before the loop is freed: nothing of ours may hold a timer or a request after this. */
static void incidents_stop(void *state)
{
	struct incidents *s = state;

	incident_mgr_stop(s->in.m);
	pd_client_shutdown(s->pd);
	backstage_shutdown(s->bs);
	github_shutdown(s->gh);
	argocd_shutdown(s->argo);
}

static int incidents_ready(void *state)
{
	return 1;
}

const struct adapter_ops incidents_ops = {
	.name = "incidents",
	.kind = ADAPTER_SOURCE,
	.configured = incidents_configured,
	.init = incidents_init,
	.start = incidents_start,
	.stop = incidents_stop,
	.free = incidents_free,
	.ready = incidents_ready,
};
