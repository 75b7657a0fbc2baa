/*
 * Configuration: a YAML or JSON file read by bot/yload into a jansson tree,
 * ${ENV} substituted, *_file secrets read, validated strictly against the schema
 * in config.c (unknown key or wrong type -> "file:line:col: key.path: reason"),
 * then exposed as typed fields. Relative paths resolve against the directory of
 * the configuration file.
 */
#ifndef T0_CONFIG_H
#define T0_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct config {
	char *file;     /* path as given */
	char *base_dir; /* directory of file, absolute */
	json_t *tree;   /* effective configuration: defaults applied, env substituted, secrets read */

	int log_level;            /* log.level */
	char *store_path;         /* store.path, resolved against base_dir; ":memory:" allowed */
	char *http_listen;        /* http.listen "127.0.0.1:8080" ([::1]:8080 for IPv6) */
	char *http_host;          /* parsed from http_listen */
	int http_port;
	size_t http_max_body;     /* http.max_body_bytes */
	int http_enabled;         /* http.enabled */
	int shutdown_grace_ms;    /* shutdown.grace_ms */

	char **catalog_files;     /* catalog.files (globs, unresolved) */
	size_t ncatalog_files;
	char **runbook_paths;     /* runbooks.paths */
	size_t nrunbook_paths;

	char *console_user;       /* console.user; default: the local Unix user */
	char *console_email;      /* console.email, may be NULL */
	char *console_channel;    /* console.channel, default "console" */

	const json_t *oncall_schedules; /* oncall.schedules (borrowed from tree), may be NULL */
	const json_t *intent_rules;     /* intents.rules (borrowed from tree), may be NULL */
	json_t *command_aliases;        /* intents.commands: {"/whoowns": "who owns"} (borrowed) */

	/* Every secret value read, so logs and dumps can redact them (owned). */
	char **secrets;
	size_t nsecrets;

	/* llm: the language model behind free-form questions (docs/LLM.md). */
	char *llm_provider;            /* "anthropic" | "openai"; NULL = no LLM configured */
	char *llm_api_url;             /* base URL; the provider's default when not set */
	const char *llm_api_key;       /* secret (borrowed from tree), may be NULL */
	char *llm_model;
	char *llm_anthropic_version;   /* anthropic-version header */
	char *llm_max_tokens_field;    /* openai: "max_completion_tokens" | "max_tokens" */
	int llm_max_tokens;            /* output cap per model call */
	int llm_timeout_ms;            /* per HTTP attempt (llm.timeout, seconds) */
	int llm_retries;               /* extra attempts on 429 / 5xx / 529 / connection errors */
	int llm_routing;               /* enum cfg_llm_routing */
	int llm_max_steps;             /* model calls per request */
	long long llm_max_request_tokens; /* input + output tokens across one request */
	int llm_max_wall_ms;           /* wall time of one request (llm.max_seconds) */
	int llm_max_tool_result_bytes; /* one tool result as sent to the model */
	double llm_price_input;        /* USD per million input tokens */
	double llm_price_output;       /* USD per million output tokens */
	double llm_price_cached_input; /* USD per million cached input tokens (OpenAI) */
	double llm_budget_user_daily_usd; /* 0 = no limit */
	double llm_budget_daily_usd;
	long long llm_budget_user_daily_tokens;
	long long llm_budget_daily_tokens;
	int llm_incident_summary;      /* llm.incident_summary */

	/* teams: Microsoft Teams (adapters/chat/teams, docs/TEAMS.md); strings owned */
	int teams_enabled;           /* the section is present (it then has app_id and app_password) */
	char *teams_app_id;          /* Microsoft App ID (GUID) */
	char *teams_app_password;    /* secret: client secret for the token endpoint */
	char *teams_tenant_id;       /* single-tenant bots; NULL for multi-tenant */
	char *teams_token_url;       /* given, or derived from the tenant */
	char *teams_openid_url;      /* Bot Framework OpenID metadata */
	char *teams_path;            /* messaging endpoint, "/api/messages" */
	int teams_invoke_timeout_ms; /* wait for an invoke's answer before a holding card */
	int teams_jwks_refresh_s;
	int teams_max_card_bytes;
	int teams_pacing_burst;      /* per conversation: burst, then one per interval_ms */
	int teams_pacing_interval_ms;
	int teams_pacing_global_per_second;
	int teams_pacing_max_queue;  /* per conversation */
	int teams_pacing_coalesce_after;
	int teams_pacing_max_retries;

	/*
	 * Incident context (docs/INCIDENTS.md): sections pagerduty, alertmanager,
	 * catalog.backstage, github, argocd, deployments, incidents. *_on is 1 when
	 * the file has the section (validation fills absent ones with defaults).
	 * Strings are owned; NULL when not set.
	 */
	int pagerduty_on, alertmanager_on, backstage_on, github_on, argocd_on, deployments_on;
	int incidents_on;
	char *pd_api_url;             /* pagerduty.api_url */
	char *pd_token;               /* pagerduty.token (secret) */
	char *pd_from_email;          /* pagerduty.from_email */
	char **pd_webhook_secrets;    /* pagerduty.webhook_secrets (secrets, for rotation) */
	size_t npd_webhook_secrets;
	char *am_token;               /* alertmanager.token (secret) */
	char *am_service_label;       /* alertmanager.service_label */
	char *backstage_url;          /* catalog.backstage.url */
	char *backstage_token;        /* catalog.backstage.token (secret) */
	char *github_api_url;         /* github.api_url */
	char *github_token;           /* github.token (secret) */
	char *argocd_url;             /* argocd.url */
	char *argocd_token;           /* argocd.token (secret) */
	char *deploy_webhook_secret;  /* deployments.webhook_secret (secret) */
	char *incidents_default_channel;  /* incidents.default_channel */
	int incidents_source_timeout_ms;  /* incidents.source_timeout */
	int incidents_overall_timeout_ms; /* incidents.overall_timeout */
	/* actions, action_policy, executors (runbooks/actions.h; borrowed from tree) */
	const json_t *actions;       /* list, possibly empty */
	const json_t *action_policy; /* object */
	const json_t *executors;     /* object */

	/* slack (adapters/chat/slack): on when the file has a slack section. */
	int slack_enabled;
	const json_t *slack; /* the effective section with defaults (borrowed from tree) */
};

enum cfg_llm_routing {
	CFG_LLM_OFF = 0,       /* rules only */
	CFG_LLM_FALLBACK,      /* the LLM answers what no rule matched */
	CFG_LLM_ALWAYS_IN_DMS, /* ... and every direct message, before the rules */
};

/*
 * Loads and validates. On error returns T0_ECONFIG (or T0_ENOTFOUND/T0_EIO for
 * an unreadable file) and writes one line naming file:line:col and the key path
 * into err.
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
/* Same, from a buffer; name is used in messages and base_dir is the CWD. */
int config_load_buffer(const char *name, const char *buf, size_t len, struct config **out,
		       char *err, size_t errlen);
void config_free(struct config *cfg);

/* Prints the effective configuration as YAML-ish JSON with every secret masked. */
int config_dump_masked(const struct config *cfg, FILE *out);

/* Resolves p against the config directory (caller frees). Absolute p is copied. */
char *config_path(const struct config *cfg, const char *p);

#endif
