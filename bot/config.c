#include "bot/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "bot/log.h"
#include "bot/ratelimit.h"
#include "bot/t0.h"
#include "bot/yload.h"
#include "runbooks/actions.h"

#define CFG_MAX_PATH 512          /* longest key path in a message */
#define CFG_MAX_STRING (256 * 1024) /* longest string after ${ENV} substitution */
#define CFG_MAX_SECRET (64 * 1024)  /* largest *_file secret */
#define CFG_MAX_SECRETS 256
#define CFG_MASK "********"

/*
 * The schema. Each section is one table of keys; a key is a scalar (string,
 * int, bool), a section (object with its own table), a list (of scalars or of
 * objects described by a table) or a map (string keys, string values).
 * Validation walks the document along the schema only, so its recursion is
 * bounded by the schema's depth, whatever the input.
 */
enum cfg_kind {
	CFG_ANY = 0, /* checked by the key's check function only */
	CFG_STR,
	CFG_INT,
	CFG_BOOL,
	CFG_OBJ,
	CFG_LIST,
	CFG_MAP,
};

#define CFG_REQ 0x1u    /* must be present */
#define CFG_DEF 0x2u    /* has a default (def_str / def_int), applied when absent */
#define CFG_SECRET 0x4u /* never printed; may be read from KEY_file */
#define CFG_RANGE 0x8u  /* CFG_INT: min..max */
#define CFG_OPTSEC 0x10u /* CFG_OBJ: an optional section, not created when absent */

struct vctx;

/*
 * Where a value sits. It becomes line:col only when an error is reported:
 * position lookups are linear, and most values never need one. A value
 * without a position (copied by an alias, or a default) takes its parent's.
 */
struct loc {
	const struct loc *up;
	const json_t *node;   /* a container: its own position is tried first */
	const json_t *parent; /* object or array holding the value */
	const char *key;      /* key in parent; NULL: index in parent */
	size_t index;
	int line, col;        /* a fixed position, when line > 0 */
};

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	unsigned flags;
	enum cfg_kind item;         /* CFG_LIST / CFG_MAP: kind of each item */
	const struct cfg_key *keys; /* CFG_OBJ, or CFG_LIST of CFG_OBJ: the object's keys */
	const char *def_str;
	long long def_int;          /* CFG_INT and CFG_BOOL defaults */
	long long min, max;
	const char *const *oneof;   /* CFG_STR: allowed values */
	/* Extra check after the generic ones; for a CFG_LIST it sees each item,
	 * except with item CFG_ANY, where it sees the whole list and checks it all. */
	int (*check)(struct vctx *v, json_t *val, const char *path, const struct loc *at);
};

struct vctx {
	const struct ydoc *doc; /* NULL when there is no document */
	const char *file;
	char *err;
	size_t errlen;
	struct config *cfg;
};

static int check_listen(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_timezone(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_rfc3339(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_levels(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_rule(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_pattern(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_commands(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_llm(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_llm_url(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_money(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_seconds(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_teams(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_teams_url(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_teams_path(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_guid(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_tenant(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_url(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_duration(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_nonempty(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_secret_list(struct vctx *v, json_t *val, const char *path, const struct loc *at);

static int check_period(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_rate(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_base_url(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_scalars(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_action(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_slack(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_slack_api_url(struct vctx *v, json_t *val, const char *path, const struct loc *at);
static int check_slack_channel(struct vctx *v, json_t *val, const char *path, const struct loc *at);

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };

static const struct cfg_key log_keys[] = {
	{ .name = "level", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "info",
	  .oneof = log_levels },
	{ 0 },
};

static const struct cfg_key store_keys[] = {
	{ .name = "path", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "tier0.db" },
	{ 0 },
};

static const struct cfg_key http_keys[] = {
	{ .name = "enabled", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 1 },
	{ .name = "listen", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "127.0.0.1:8080",
	  .check = check_listen },
	{ .name = "max_body_bytes", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 1048576, .min = 1, .max = INT_MAX },
	{ .name = "metrics_token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key shutdown_keys[] = {
	{ .name = "grace_ms", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 10000,
	  .min = 0, .max = INT_MAX },
	{ 0 },
};

/* catalog.backstage: the Backstage catalog API, merged with the local files. */
static const struct cfg_key backstage_keys[] = {
	{ .name = "url", .kind = CFG_STR, .flags = CFG_REQ, .check = check_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key catalog_keys[] = {
	{ .name = "files", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_STR },
	{ .name = "backstage", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = backstage_keys },
	{ 0 },
};

static const struct cfg_key runbooks_keys[] = {
	{ .name = "paths", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_STR },
	{ 0 },
};

/* console.user's default depends on the process; config_fill applies it. */
static const struct cfg_key console_keys[] = {
	{ .name = "user", .kind = CFG_STR },
	{ .name = "email", .kind = CFG_STR },
	{ .name = "channel", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "console" },
	{ 0 },
};

static const struct cfg_key schedule_keys[] = {
	{ .name = "name", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "team", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "timezone", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "UTC",
	  .check = check_timezone },
	{ .name = "start", .kind = CFG_STR, .flags = CFG_REQ, .check = check_rfc3339 },
	{ .name = "shift_hours", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 168,
	  .min = 1, .max = 24 * 366 },
	{ .name = "levels", .kind = CFG_LIST, .flags = CFG_REQ, .item = CFG_ANY,
	  .check = check_levels },
	{ 0 },
};

static const struct cfg_key oncall_keys[] = {
	{ .name = "schedules", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_OBJ,
	  .keys = schedule_keys },
	{ 0 },
};

static const struct cfg_key rule_keys[] = {
	{ .name = "name", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "pattern", .kind = CFG_STR, .flags = CFG_REQ, .check = check_pattern },
	{ .name = "intent", .kind = CFG_STR },
	{ .name = "reply", .kind = CFG_STR },
	{ .name = "priority", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 0,
	  .min = -1000000, .max = 1000000 },
	{ .name = "help", .kind = CFG_STR },
	{ 0 },
};

static const struct cfg_key intents_keys[] = {
	{ .name = "rules", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_OBJ, .keys = rule_keys,
	  .check = check_rule },
	{ .name = "commands", .kind = CFG_MAP, .flags = CFG_DEF, .item = CFG_STR,
	  .check = check_commands },
	{ 0 },
};

static const char *const llm_providers[] = { "anthropic", "openai", NULL };
static const char *const llm_routings[] = { "off", "fallback", "always_in_dms", NULL };
static const char *const llm_token_fields[] = { "max_completion_tokens", "max_tokens", NULL };

/*
 * No provider means no LLM. Prices and budgets are numbers (integer or not),
 * so they are CFG_ANY with a check; config_fill reads them as doubles.
 */
static const struct cfg_key llm_keys[] = {
	{ .name = "provider", .kind = CFG_STR, .oneof = llm_providers },
	{ .name = "api_url", .kind = CFG_STR, .check = check_llm_url },
	{ .name = "api_key", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "model", .kind = CFG_STR },
	{ .name = "max_tokens", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 1024,
	  .min = 16, .max = 200000 },
	{ .name = "timeout", .kind = CFG_ANY, .check = check_seconds },
	{ .name = "retries", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 2,
	  .min = 0, .max = 10 },
	{ .name = "routing", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "fallback",
	  .oneof = llm_routings },
	{ .name = "max_steps", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 6,
	  .min = 1, .max = 20 },
	{ .name = "max_request_tokens", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 60000, .min = 100, .max = 10000000 },
	{ .name = "max_seconds", .kind = CFG_ANY, .check = check_seconds },
	{ .name = "max_tool_result_bytes", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 8000, .min = 256, .max = 1000000 },
	{ .name = "price_input_per_mtok", .kind = CFG_ANY, .check = check_money },
	{ .name = "price_output_per_mtok", .kind = CFG_ANY, .check = check_money },
	{ .name = "price_cached_input_per_mtok", .kind = CFG_ANY, .check = check_money },
	{ .name = "budget_user_daily_usd", .kind = CFG_ANY, .check = check_money },
	{ .name = "budget_daily_usd", .kind = CFG_ANY, .check = check_money },
	{ .name = "budget_user_daily_tokens", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 0, .min = 0, .max = (long long)1 << 50 },
	{ .name = "budget_daily_tokens", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 0, .min = 0, .max = (long long)1 << 50 },
	{ .name = "anthropic_version", .kind = CFG_STR, .flags = CFG_DEF,
	  .def_str = "2023-06-01" },
	{ .name = "max_tokens_field", .kind = CFG_STR, .flags = CFG_DEF,
	  .def_str = "max_completion_tokens", .oneof = llm_token_fields },
	{ .name = "incident_summary", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 0 },
	{ 0 },
};

/* teams: Microsoft Teams through the Bot Framework (docs/TEAMS.md). */
static const struct cfg_key teams_pacing_keys[] = {
	{ .name = "burst", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 7,
	  .min = 1, .max = 100 },
	{ .name = "interval_ms", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 1000,
	  .min = 10, .max = 600000 },
	{ .name = "global_per_second", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 30,
	  .min = 1, .max = 1000 },
	{ .name = "max_queue", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 50,
	  .min = 1, .max = 10000 },
	{ .name = "coalesce_after", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 5,
	  .min = 1, .max = 1000 },
	{ .name = "max_retries", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 5,
	  .min = 0, .max = 20 },
	{ 0 },
};

static const struct cfg_key teams_keys[] = {
	{ .name = "app_id", .kind = CFG_STR, .check = check_guid },
	{ .name = "app_password", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "tenant_id", .kind = CFG_STR, .check = check_tenant },
	{ .name = "token_url", .kind = CFG_STR, .check = check_teams_url },
	{ .name = "openid_url", .kind = CFG_STR, .flags = CFG_DEF,
	  .def_str = "https://login.botframework.com/v1/.well-known/openidconfiguration",
	  .check = check_teams_url },
	{ .name = "path", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "/api/messages",
	  .check = check_teams_path },
	{ .name = "invoke_timeout_ms", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 4000, .min = 100, .max = 14000 },
	{ .name = "jwks_refresh_s", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 86400, .min = 60, .max = 7 * 86400 },
	{ .name = "max_card_bytes", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 28000, .min = 2000, .max = 100000 },
	{ .name = "pacing", .kind = CFG_OBJ, .keys = teams_pacing_keys },
	{ 0 },
};

/* ---- incident context: intake, sources, deployments (docs/INCIDENTS.md) ---- */

static const struct cfg_key pagerduty_keys[] = {
	{ .name = "api_url", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "https://api.pagerduty.com",
	  .check = check_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "from_email", .kind = CFG_STR, .check = check_nonempty },
	/* A list, for rotation; the _file form holds one secret per line. */
	{ .name = "webhook_secrets", .kind = CFG_LIST, .flags = CFG_SECRET, .item = CFG_ANY,
	  .check = check_secret_list },
	{ 0 },
};

static const struct cfg_key alertmanager_keys[] = {
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "service_label", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "service",
	  .check = check_nonempty },
	{ 0 },
};

static const struct cfg_key github_keys[] = {
	{ .name = "api_url", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "https://api.github.com",
	  .check = check_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key argocd_keys[] = {
	{ .name = "url", .kind = CFG_STR, .flags = CFG_REQ, .check = check_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key deployments_keys[] = {
	{ .name = "webhook_secret", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key incidents_keys[] = {
	{ .name = "default_channel", .kind = CFG_STR, .check = check_nonempty },
	/* Milliseconds, or a duration string: "3s", "2500ms", "1m". */
	{ .name = "source_timeout", .kind = CFG_ANY, .flags = CFG_DEF, .def_int = 3000,
	  .check = check_duration },
	{ .name = "overall_timeout", .kind = CFG_ANY, .flags = CFG_DEF, .def_int = 5000,
	  .check = check_duration },
	{ 0 },
};

/* ---- actions, action_policy, executors (runbooks/actions.h, docs/ACTIONS.md) ---- */

static const char *const risk_levels[] = { "low", "high", "critical", NULL };
static const char *const param_types[] = { "string", "int", "bool", NULL };
static const char *const exec_types[] = { "http", "pagerduty", "github_workflow", "argocd_sync",
					  "argocd_rollback", NULL };
static const char *const http_methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };
static const char *const pd_statuses[] = { "acknowledged", "resolved", NULL };

static const struct cfg_key who_keys[] = {
	{ .name = "owners", .kind = CFG_BOOL },
	{ .name = "anyone", .kind = CFG_BOOL },
	{ .name = "groups", .kind = CFG_LIST, .item = CFG_STR },
	{ .name = "users", .kind = CFG_LIST, .item = CFG_STR },
	{ 0 },
};

static const struct cfg_key action_target_keys[] = {
	{ .name = "kind", .kind = CFG_STR },
	{ .name = "required", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 1 },
	{ 0 },
};

static const struct cfg_key action_param_keys[] = {
	{ .name = "name", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "type", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "string",
	  .oneof = param_types },
	{ .name = "description", .kind = CFG_STR },
	{ .name = "required", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 0 },
	{ .name = "default", .kind = CFG_ANY, .check = check_scalars },
	{ .name = "allowed", .kind = CFG_LIST, .item = CFG_ANY, .check = check_scalars },
	{ .name = "pattern", .kind = CFG_STR, .check = check_pattern },
	{ .name = "min", .kind = CFG_INT },
	{ .name = "max", .kind = CFG_INT },
	{ 0 },
};

static const struct cfg_key action_approvals_keys[] = {
	{ .name = "count", .kind = CFG_INT, .flags = CFG_RANGE, .min = 0, .max = 10 },
	{ .name = "approvers", .kind = CFG_OBJ, .keys = who_keys },
	{ 0 },
};

static const struct cfg_key action_success_keys[] = {
	{ .name = "status", .kind = CFG_LIST, .item = CFG_INT },
	{ .name = "json_field", .kind = CFG_STR },
	{ .name = "equals", .kind = CFG_ANY },
	{ 0 },
};

static const struct cfg_key action_exec_keys[] = {
	{ .name = "type", .kind = CFG_STR, .flags = CFG_REQ, .oneof = exec_types },
	{ .name = "method", .kind = CFG_STR, .oneof = http_methods },
	{ .name = "url", .kind = CFG_STR },
	{ .name = "headers", .kind = CFG_MAP, .item = CFG_STR },
	{ .name = "body", .kind = CFG_ANY },
	{ .name = "incident", .kind = CFG_STR },
	{ .name = "status", .kind = CFG_STR, .oneof = pd_statuses },
	{ .name = "from", .kind = CFG_STR },
	{ .name = "repo", .kind = CFG_STR },
	{ .name = "workflow", .kind = CFG_STR },
	{ .name = "ref", .kind = CFG_STR },
	{ .name = "inputs", .kind = CFG_MAP, .item = CFG_STR },
	{ .name = "app", .kind = CFG_STR },
	{ .name = "revision", .kind = CFG_STR },
	{ .name = "id", .kind = CFG_STR },
	{ .name = "prune", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 0 },
	{ .name = "success", .kind = CFG_OBJ, .keys = action_success_keys },
	{ 0 },
};

static const struct cfg_key action_keys[] = {
	{ .name = "name", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "description", .kind = CFG_STR },
	{ .name = "target", .kind = CFG_OBJ, .keys = action_target_keys },
	{ .name = "params", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_OBJ,
	  .keys = action_param_keys },
	{ .name = "risk", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "high", .oneof = risk_levels },
	{ .name = "approvals", .kind = CFG_OBJ, .keys = action_approvals_keys },
	{ .name = "requesters", .kind = CFG_OBJ, .keys = who_keys },
	{ .name = "environments", .kind = CFG_LIST, .item = CFG_STR },
	{ .name = "executor", .kind = CFG_OBJ, .flags = CFG_REQ, .keys = action_exec_keys },
	{ .name = "timeout", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "30s",
	  .check = check_period },
	{ .name = "rate_limit", .kind = CFG_STR, .check = check_rate },
	{ .name = "dry_run", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 1 },
	{ 0 },
};

static const struct cfg_key action_limits_keys[] = {
	{ .name = "global", .kind = CFG_STR, .check = check_rate },
	{ .name = "per_user", .kind = CFG_STR, .check = check_rate },
	{ .name = "per_channel", .kind = CFG_STR, .check = check_rate },
	{ .name = "per_target", .kind = CFG_STR, .check = check_rate },
	{ 0 },
};

static const struct cfg_key action_breaker_keys[] = {
	{ .name = "failures", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 3, .min = 0,
	  .max = 1000 },
	{ .name = "pause", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "15m",
	  .check = check_period },
	{ 0 },
};

static const struct cfg_key action_policy_keys[] = {
	{ .name = "expiry", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "30m",
	  .check = check_period },
	{ .name = "approval_environments", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_STR },
	{ .name = "audit_viewers", .kind = CFG_OBJ, .keys = who_keys },
	{ .name = "rate_limits", .kind = CFG_OBJ, .keys = action_limits_keys },
	{ .name = "circuit_breaker", .kind = CFG_OBJ, .keys = action_breaker_keys },
	{ .name = "keep_response_bytes", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 2048, .min = 0, .max = 65536 },
	{ 0 },
};

static const struct cfg_key exec_pagerduty_keys[] = {
	{ .name = "base_url", .kind = CFG_STR, .flags = CFG_DEF,
	  .def_str = "https://api.pagerduty.com", .check = check_base_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "from", .kind = CFG_STR },
	{ 0 },
};

static const struct cfg_key exec_github_keys[] = {
	{ .name = "base_url", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "https://api.github.com",
	  .check = check_base_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key exec_argocd_keys[] = {
	{ .name = "base_url", .kind = CFG_STR, .check = check_base_url },
	{ .name = "token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ 0 },
};

static const struct cfg_key exec_secret_keys[] = {
	{ .name = "name", .kind = CFG_STR, .flags = CFG_REQ },
	{ .name = "value", .kind = CFG_STR, .flags = CFG_REQ | CFG_SECRET },
	{ 0 },
};

static const struct cfg_key executors_keys[] = {
	{ .name = "pagerduty", .kind = CFG_OBJ, .keys = exec_pagerduty_keys },
	{ .name = "github", .kind = CFG_OBJ, .keys = exec_github_keys },
	{ .name = "argocd", .kind = CFG_OBJ, .keys = exec_argocd_keys },
	{ .name = "secrets", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_OBJ,
	  .keys = exec_secret_keys },
	{ 0 },
};

static const char *const slack_modes[] = { "socket", "http", NULL };

/* Outbound pacing per channel (adapters/chat/slack/slack_queue.c). */
static const struct cfg_key slack_pacing_keys[] = {
	{ .name = "enabled", .kind = CFG_BOOL, .flags = CFG_DEF, .def_int = 1 },
	{ .name = "messages_per_second", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 1, .min = 1, .max = 100 },
	{ .name = "burst", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 3, .min = 1,
	  .max = 100 },
	{ .name = "coalesce_after", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 10,
	  .min = 0, .max = 10000 },
	{ 0 },
};

/*
 * The slack section switches the Slack adapter on; which tokens are required
 * depends on slack.mode, so check_slack looks at the section as a whole.
 */
static const struct cfg_key slack_keys[] = {
	{ .name = "app_token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "bot_token", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "signing_secret", .kind = CFG_STR, .flags = CFG_SECRET },
	{ .name = "mode", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "socket",
	  .oneof = slack_modes },
	{ .name = "api_url", .kind = CFG_STR, .flags = CFG_DEF, .def_str = "https://slack.com/api/",
	  .check = check_slack_api_url },
	{ .name = "connections", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 1,
	  .min = 1, .max = 10 },
	{ .name = "slash_commands", .kind = CFG_MAP, .flags = CFG_DEF, .item = CFG_STR,
	  .check = check_commands },
	{ .name = "channels", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_STR,
	  .check = check_slack_channel },
	{ .name = "pacing", .kind = CFG_OBJ, .keys = slack_pacing_keys },
	{ .name = "users_cache_ttl_s", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 3600, .min = 0, .max = 7 * 86400 },
	{ .name = "ping_interval_s", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 10,
	  .min = 1, .max = 300 },
	{ .name = "pong_timeout_s", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE, .def_int = 10,
	  .min = 1, .max = 300 },
	{ .name = "reconnect_min_ms", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 1000, .min = 10, .max = 600000 },
	{ .name = "reconnect_max_ms", .kind = CFG_INT, .flags = CFG_DEF | CFG_RANGE,
	  .def_int = 60000, .min = 10, .max = 3600000 },
	{ 0 },
};

/* Top level: one line per section. A new section is one table plus one line here. */
static const struct cfg_key root_keys[] = {
	{ .name = "log", .kind = CFG_OBJ, .keys = log_keys },
	{ .name = "store", .kind = CFG_OBJ, .keys = store_keys },
	{ .name = "http", .kind = CFG_OBJ, .keys = http_keys },
	{ .name = "shutdown", .kind = CFG_OBJ, .keys = shutdown_keys },
	{ .name = "catalog", .kind = CFG_OBJ, .keys = catalog_keys },
	{ .name = "runbooks", .kind = CFG_OBJ, .keys = runbooks_keys },
	{ .name = "console", .kind = CFG_OBJ, .keys = console_keys },
	{ .name = "oncall", .kind = CFG_OBJ, .keys = oncall_keys },
	{ .name = "intents", .kind = CFG_OBJ, .keys = intents_keys },
	{ .name = "llm", .kind = CFG_OBJ, .keys = llm_keys, .check = check_llm },
	{ .name = "teams", .kind = CFG_OBJ, .keys = teams_keys, .check = check_teams },
	{ .name = "pagerduty", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = pagerduty_keys },
	{ .name = "alertmanager", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = alertmanager_keys },
	{ .name = "github", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = github_keys },
	{ .name = "argocd", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = argocd_keys },
	{ .name = "deployments", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = deployments_keys },
	{ .name = "incidents", .kind = CFG_OBJ, .flags = CFG_OPTSEC, .keys = incidents_keys },
	{ .name = "actions", .kind = CFG_LIST, .flags = CFG_DEF, .item = CFG_OBJ, .keys = action_keys,
	  .check = check_action },
	{ .name = "action_policy", .kind = CFG_OBJ, .keys = action_policy_keys },
	{ .name = "executors", .kind = CFG_OBJ, .keys = executors_keys },
	{ .name = "slack", .kind = CFG_OBJ, .keys = slack_keys, .check = check_slack },
	{ 0 },
};

static void loc_resolve(struct vctx *v, const struct loc *at, int *line, int *col)
{
	for (; at; at = at->up) {
		if (at->line > 0) {
			*line = at->line;
			*col = at->col;
			return;
		}
		if (at->node && ydoc_node_pos(v->doc, at->node, line, col) == 0)
			return;
		if (at->parent && at->key && ydoc_key_pos(v->doc, at->parent, at->key, line, col) == 0)
			return;
		if (at->parent && !at->key &&
		    ydoc_index_pos(v->doc, at->parent, at->index, line, col) == 0)
			return;
	}
}

static int verr(struct vctx *v, const struct loc *at, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int verr(struct vctx *v, const struct loc *at, const char *path, const char *fmt, ...)
{
	char msg[512];
	int line = 1, col = 1;
	va_list ap;

	loc_resolve(v, at, &line, &col);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(v->err, v->errlen, "%s:%d:%d: %s: %s", v->file, line, col,
		 path[0] ? path : "(top level)", msg);
	return T0_ECONFIG;
}

static const char *json_kind_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static const char *kind_name(enum cfg_kind k)
{
	switch (k) {
	case CFG_STR:
		return "a string";
	case CFG_INT:
		return "an integer";
	case CFG_BOOL:
		return "a boolean";
	case CFG_OBJ:
	case CFG_MAP:
		return "a mapping";
	case CFG_LIST:
		return "a list";
	default:
		return "a value";
	}
}

static int kind_matches(enum cfg_kind k, const json_t *j)
{
	switch (k) {
	case CFG_STR:
		return json_is_string(j);
	case CFG_INT:
		return json_is_integer(j);
	case CFG_BOOL:
		return json_is_boolean(j);
	case CFG_OBJ:
	case CFG_MAP:
		return json_is_object(j);
	case CFG_LIST:
		return json_is_array(j);
	default:
		return 1;
	}
}

/* Appends ".key" (or "key" at the top) or "[i]" to a path; truncation is harmless. */
static void path_key(char *out, size_t outlen, const char *path, const char *key)
{
	snprintf(out, outlen, "%s%s%s", path, path[0] ? "." : "", key);
}

static void path_index(char *out, size_t outlen, const char *path, size_t i)
{
	snprintf(out, outlen, "%s[%zu]", path, i);
}

static int env_name_char(char c, int first)
{
	if (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
		return 1;
	return !first && c >= '0' && c <= '9';
}

/* Replaces ${NAME} in a string value in place; "$${" stands for a literal "${". */
static int subst_string(struct vctx *v, json_t *str, const char *path, const struct loc *at)
{
	const char *s = json_string_value(str);
	size_t len = json_string_length(str);
	char *buf = NULL;
	size_t n = 0;
	int rc = T0_OK;

	if (memchr(s, '\0', len)) {
		rc = verr(v, at, path, "strings must not contain NUL characters");
		goto out;
	}
	if (!strstr(s, "${"))
		goto out;
	buf = malloc(CFG_MAX_STRING + 1);
	if (!buf) {
		rc = T0_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < len;) {
		const char *piece = s + i;
		size_t plen = 1;

		if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
			piece = "${";
			plen = 2;
			i += 3;
		} else if (s[i] == '$' && s[i + 1] == '{') {
			size_t j = i + 2;
			char name[256];
			const char *val;

			while (j < len && j - (i + 2) < sizeof(name) - 1 &&
			       env_name_char(s[j], j == i + 2))
				j++;
			if (j == i + 2 || j >= len || s[j] != '}') {
				rc = verr(v, at, path,
					  "malformed environment reference at offset %zu "
					  "(expected ${NAME}, or $${ for a literal ${)", i);
				goto out;
			}
			memcpy(name, s + i + 2, j - (i + 2));
			name[j - (i + 2)] = '\0';
			val = getenv(name);
			if (!val) {
				rc = verr(v, at, path, "environment variable '%s' is not set",
					  name);
				goto out;
			}
			piece = val;
			plen = strlen(val);
			i = j + 1;
		} else {
			i++;
		}
		if (n + plen > CFG_MAX_STRING) {
			rc = verr(v, at, path, "longer than %d bytes after substitution",
				  CFG_MAX_STRING);
			goto out;
		}
		memcpy(buf + n, piece, plen);
		n += plen;
	}
	if (json_string_setn(str, buf, n) != 0)
		rc = verr(v, at, path, "not valid UTF-8 after substitution");
out:
	free(buf);
	return rc;
}

static int secret_add(struct config *cfg, const char *s)
{
	char **ns;

	if (!s[0])
		return T0_OK;
	for (size_t i = 0; i < cfg->nsecrets; i++)
		if (strcmp(cfg->secrets[i], s) == 0)
			return T0_OK;
	if (cfg->nsecrets >= CFG_MAX_SECRETS)
		return T0_ETOOBIG;
	ns = realloc(cfg->secrets, (cfg->nsecrets + 1) * sizeof(*ns));
	if (!ns)
		return T0_ENOMEM;
	cfg->secrets = ns;
	if (!(ns[cfg->nsecrets] = strdup(s)))
		return T0_ENOMEM;
	cfg->nsecrets++;
	return T0_OK;
}

static int walk_object(struct vctx *v, json_t *obj, const struct cfg_key *keys, const char *path,
		       const struct loc *at);

static const struct cfg_key *key_find(const struct cfg_key *keys, const char *name)
{
	for (; keys->name; keys++)
		if (strcmp(keys->name, name) == 0)
			return keys;
	return NULL;
}

/* "metrics_token_file" -> the secret key "metrics_token", or NULL. */
static const struct cfg_key *secret_file_key(const struct cfg_key *keys, const char *name)
{
	size_t len = strlen(name);

	if (len <= 5 || strcmp(name + len - 5, "_file") != 0)
		return NULL;
	for (; keys->name; keys++)
		if ((keys->flags & CFG_SECRET) && strlen(keys->name) == len - 5 &&
		    strncmp(keys->name, name, len - 5) == 0)
			return keys;
	return NULL;
}

static int walk_scalar(struct vctx *v, const struct cfg_key *k, enum cfg_kind kind, json_t *val,
		       const char *path, const struct loc *at)
{
	int rc;

	if (!kind_matches(kind, val))
		return verr(v, at, path, "expected %s, got %s", kind_name(kind),
			    json_kind_name(val));
	if (kind == CFG_STR) {
		rc = subst_string(v, val, path, at);
		if (rc)
			return rc;
		if (k && k->oneof) {
			const char *s = json_string_value(val);
			char list[256] = "";
			size_t i;

			for (i = 0; k->oneof[i]; i++)
				if (strcmp(k->oneof[i], s) == 0)
					return T0_OK;
			for (i = 0; k->oneof[i]; i++) {
				size_t l = strlen(list);

				snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "",
					 k->oneof[i]);
			}
			return verr(v, at, path, "expected one of %s, got '%s'", list, s);
		}
	}
	if (kind == CFG_INT && k && (k->flags & CFG_RANGE)) {
		long long n = json_integer_value(val);

		if (n < k->min || n > k->max) {
			if (k->max == INT_MAX)
				return verr(v, at, path, "must be at least %lld, got %lld",
					    k->min, n);
			return verr(v, at, path, "must be between %lld and %lld, got %lld",
				    k->min, k->max, n);
		}
	}
	return T0_OK;
}

/* Validates one value of key k (present and not null). */
static int walk_value(struct vctx *v, const struct cfg_key *k, json_t *val, const char *path,
		      const struct loc *at)
{
	char sub[CFG_MAX_PATH];
	int rc = T0_OK;

	if (!kind_matches(k->kind, val))
		return verr(v, at, path, "expected %s, got %s", kind_name(k->kind),
			    json_kind_name(val));
	switch (k->kind) {
	case CFG_OBJ:
		rc = walk_object(v, val, k->keys, path, &(struct loc){ .up = at, .node = val });
		break;
	case CFG_LIST: {
		size_t i;
		json_t *item;

		json_array_foreach(val, i, item) {
			struct loc il = { .up = at, .node = item, .parent = val, .index = i };

			path_index(sub, sizeof(sub), path, i);
			if (k->item == CFG_OBJ) {
				if (!json_is_object(item))
					return verr(v, &il, sub, "expected a mapping, got %s",
						    json_kind_name(item));
				rc = walk_object(v, item, k->keys, sub, &il);
			} else if (k->item != CFG_ANY) {
				rc = walk_scalar(v, NULL, k->item, item, sub, &il);
			}
			if (rc == T0_OK && k->check && k->item != CFG_ANY)
				rc = k->check(v, item, sub, &il);
			if (rc)
				return rc;
		}
		if (k->check && k->item == CFG_ANY)
			rc = k->check(v, val, path, at);
		return rc;
	}
	case CFG_MAP: {
		const char *name;
		json_t *item;

		json_object_foreach(val, name, item) {
			struct loc il = { .up = at, .parent = val, .key = name };

			path_key(sub, sizeof(sub), path, name);
			rc = walk_scalar(v, NULL, k->item, item, sub, &il);
			if (rc)
				return rc;
		}
		break;
	}
	default:
		rc = walk_scalar(v, k, k->kind, val, path, at);
		break;
	}
	if (rc == T0_OK && k->check)
		rc = k->check(v, val, path, at);
	return rc;
}

static json_t *default_value(const struct cfg_key *k)
{
	switch (k->kind) {
	case CFG_STR:
		return json_string(k->def_str);
	case CFG_INT:
		return json_integer(k->def_int);
	case CFG_BOOL:
		return json_boolean(k->def_int);
	case CFG_LIST:
		return json_array();
	case CFG_OBJ:
	case CFG_MAP:
		return json_object();
	case CFG_ANY:
		return json_integer(k->def_int); /* durations: milliseconds */
	default:
		return NULL;
	}
}

/*
 * Reads a secret file of at most CFG_MAX_SECRET bytes. Only regular files: a
 * FIFO or a device named by mistake must not block or stream forever.
 */
static int secret_read(const char *path, char *buf, size_t *len, const char **reason)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc = T0_OK;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*reason = strerror(errno);
		return T0_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*reason = "not a regular file";
		rc = T0_EIO;
		goto out;
	}
	while (got <= CFG_MAX_SECRET) {
		n = read(fd, buf + got, CFG_MAX_SECRET + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*reason = strerror(errno);
			rc = T0_EIO;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CFG_MAX_SECRET) {
		*reason = "larger than 64 KiB";
		rc = T0_ETOOBIG;
		goto out;
	}
	*len = got;
out:
	close(fd);
	return rc;
}

/* Reads KEY_file into KEY: bounded, trailing newline stripped. */
static int read_secret_file(struct vctx *v, json_t *obj, const struct cfg_key *k,
			    const char *fkey, const char *path, const struct loc *at)
{
	json_t *fval = json_object_get(obj, fkey);
	const char *reason = "";
	char *full = NULL, *buf = NULL;
	size_t len = 0;
	int rc;

	full = config_path(v->cfg, json_string_value(fval));
	buf = malloc(CFG_MAX_SECRET + 1);
	if (!full || !buf) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = secret_read(full, buf, &len, &reason);
	if (rc) {
		rc = verr(v, at, path, "cannot read secret file '%s': %s", full, reason);
		goto out;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len == 0 || memchr(buf, '\0', len)) {
		rc = verr(v, at, path, "secret file '%s' is empty or holds a NUL byte", full);
		goto out;
	}
	if (json_object_set_new(obj, k->name, json_stringn(buf, len)) != 0) {
		rc = verr(v, at, path, "secret file '%s' is not valid UTF-8", full);
		goto out;
	}
out:
	if (buf)
		memset(buf, 0, CFG_MAX_SECRET + 1);
	free(buf);
	free(full);
	return rc;
}

/*
 * KEY_file for a list of secrets (pagerduty.webhook_secrets): one secret per
 * line, blank lines ignored, so a rotation is adding a line and later removing one.
 */
static int read_secret_list_file(struct vctx *v, json_t *obj, const struct cfg_key *k,
				 const char *fkey, const char *path, const struct loc *at)
{
	json_t *fval = json_object_get(obj, fkey), *list = NULL;
	const char *reason = "";
	char *full = NULL, *buf = NULL;
	size_t len = 0, i = 0;
	int rc;

	full = config_path(v->cfg, json_string_value(fval));
	buf = malloc(CFG_MAX_SECRET + 1);
	list = json_array();
	if (!full || !buf || !list) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = secret_read(full, buf, &len, &reason);
	if (rc) {
		rc = verr(v, at, path, "cannot read secret file '%s': %s", full, reason);
		goto out;
	}
	if (memchr(buf, '\0', len)) {
		rc = verr(v, at, path, "secret file '%s' holds a NUL byte", full);
		goto out;
	}
	while (i < len) {
		size_t start = i, end;

		while (i < len && buf[i] != '\n')
			i++;
		end = i++;
		if (end > start && buf[end - 1] == '\r')
			end--;
		if (end == start)
			continue;
		if (json_array_append_new(list, json_stringn(buf + start, end - start)) != 0) {
			rc = verr(v, at, path, "secret file '%s' is not valid UTF-8", full);
			goto out;
		}
	}
	if (json_array_size(list) == 0) {
		rc = verr(v, at, path, "secret file '%s' is empty", full);
		goto out;
	}
	if (json_object_set(obj, k->name, list) != 0)
		rc = T0_ENOMEM;
out:
	if (buf)
		memset(buf, 0, CFG_MAX_SECRET + 1);
	free(buf);
	free(full);
	json_decref(list);
	return rc;
}

static int walk_object(struct vctx *v, json_t *obj, const struct cfg_key *keys, const char *path,
		       const struct loc *at)
{
	char sub[CFG_MAX_PATH];
	const char *name;
	json_t *val;
	int rc;

	/* Document order first, so the first mistake in the file is the one reported. */
	json_object_foreach(obj, name, val) {
		const struct cfg_key *k = key_find(keys, name);
		struct loc kl = { .up = at, .parent = obj, .key = name };

		path_key(sub, sizeof(sub), path, name);
		if (!k && secret_file_key(keys, name)) {
			if (json_is_null(val))
				continue;
			if (!json_is_string(val))
				return verr(v, &kl, sub, "expected a string, got %s",
					    json_kind_name(val));
			rc = subst_string(v, val, sub, &kl);
			if (rc)
				return rc;
			continue;
		}
		if (!k) {
			char known[512] = "";
			const struct cfg_key *e;

			for (e = keys; e->name; e++) {
				size_t l = strlen(known);

				snprintf(known + l, sizeof(known) - l, "%s%s%s%s", e == keys ? "" : ", ",
					 e->name, e->flags & CFG_SECRET ? ", " : "",
					 e->flags & CFG_SECRET ? e->name : "");
				if (e->flags & CFG_SECRET) {
					l = strlen(known);
					snprintf(known + l, sizeof(known) - l, "_file");
				}
			}
			return verr(v, &kl, sub, "unknown key '%s' (known keys: %s)", name,
				    known);
		}
		if (json_is_null(val))
			continue;
		rc = walk_value(v, k, val, sub, &kl);
		if (rc)
			return rc;
	}

	/* Then the schema: secrets from files, required keys, defaults. */
	for (const struct cfg_key *k = keys; k->name; k++) {
		val = json_object_get(obj, k->name);
		if (val && json_is_null(val)) {
			json_object_del(obj, k->name);
			val = NULL;
		}
		path_key(sub, sizeof(sub), path, k->name);
		if (k->flags & CFG_SECRET) {
			char fkey[128];
			json_t *fval;

			snprintf(fkey, sizeof(fkey), "%s_file", k->name);
			fval = json_object_get(obj, fkey);
			if (fval && json_is_null(fval)) {
				json_object_del(obj, fkey);
				fval = NULL;
			}
			if (fval) {
				char fpath[CFG_MAX_PATH];
				struct loc fl = { .up = at, .parent = obj, .key = fkey };

				path_key(fpath, sizeof(fpath), path, fkey);
				if (val)
					return verr(v, &fl, fpath,
						    "set either '%s' or '%s', not both", k->name,
						    fkey);
				if (k->kind == CFG_LIST)
					rc = read_secret_list_file(v, obj, k, fkey, fpath, &fl);
				else
					rc = read_secret_file(v, obj, k, fkey, fpath, &fl);
				if (rc)
					return rc;
				val = json_object_get(obj, k->name);
			}
			if (val && json_is_array(val)) {
				size_t i;
				json_t *item;

				json_array_foreach(val, i, item) {
					if (json_is_string(item) &&
					    secret_add(v->cfg, json_string_value(item)) != T0_OK)
						return verr(v, at, sub, "too many secrets");
				}
			} else if (val) {
				rc = secret_add(v->cfg, json_string_value(val));
				if (rc)
					return verr(v, at, sub, "too many secrets");
			}
		}
		if (val)
			continue;
		if (k->flags & CFG_REQ)
			return verr(v, at, sub, "required key is missing");
		if (k->kind == CFG_OBJ && (k->flags & CFG_OPTSEC))
			continue; /* its presence switches something on */
		if (k->kind == CFG_OBJ) {
			json_t *sec = json_object();

			if (!sec || json_object_set_new(obj, k->name, sec) != 0)
				return T0_ENOMEM;
			rc = walk_object(v, sec, k->keys, sub, at);
			if (rc)
				return rc;
		} else if (k->flags & CFG_DEF) {
			json_t *d = default_value(k);

			if (!d || json_object_set_new(obj, k->name, d) != 0)
				return T0_ENOMEM;
		}
	}
	return T0_OK;
}

/* ---- checks beyond types ---- */

static int parse_port(const char *s, int *port)
{
	long n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 65535)
			return -1;
		n = n * 10 + (*s - '0');
	}
	*port = (int)n;
	return 0;
}

/* "host:port" or "[v6]:port" -> host (brackets removed, caller frees) and port. */
static int listen_split(const char *s, char **host, int *port)
{
	const char *colon;
	size_t hlen;
	const char *h;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || close == s + 1)
			return -1;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		h = s;
		hlen = (size_t)(colon - s);
	}
	if (parse_port(colon + 1, port) != 0)
		return -2;
	*host = strndup(h, hlen);
	return *host ? 0 : -3;
}

static int check_listen(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);
	char *host = NULL;
	int port = 0, r;

	r = listen_split(s, &host, &port);
	free(host);
	if (r == -3)
		return T0_ENOMEM;
	if (r == -1)
		return verr(v, at, path,
			    "expected \"host:port\" (IPv6 in brackets: \"[::1]:8080\"), got '%s'", s);
	if (r == -2 || port < 1 || port > 65535)
		return verr(v, at, path, "port must be a number from 1 to 65535, in '%s'",
			    s);
	return T0_OK;
}

static int two_digits(const char *s, int *out)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

/* "+HH:MM" / "-HH:MM" with HH <= max_hours; returns 0 when valid. */
static int parse_offset(const char *s, int max_hours)
{
	int hh, mm;

	if ((s[0] != '+' && s[0] != '-') || two_digits(s + 1, &hh) || s[3] != ':' ||
	    two_digits(s + 4, &mm) || s[6] != '\0')
		return -1;
	return hh <= max_hours && mm < 60 ? 0 : -1;
}

static int check_timezone(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);

	if (strcmp(s, "UTC") == 0 || parse_offset(s, 14) == 0)
		return T0_OK;
	return verr(v, at, path, "expected \"UTC\" or an offset like \"+02:00\", got '%s'", s);
}

static int rfc3339_valid(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y1, y2, mo, d, h, mi, sec, year;

	if (two_digits(s, &y1) || two_digits(s + 2, &y2) || s[4] != '-' || two_digits(s + 5, &mo) ||
	    s[7] != '-' || two_digits(s + 8, &d))
		return 0;
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return 0;
	if (two_digits(s + 11, &h) || s[13] != ':' || two_digits(s + 14, &mi) || s[16] != ':' ||
	    two_digits(s + 17, &sec))
		return 0;
	year = y1 * 100 + y2;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return 0;
	if (mo == 2 && d == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return 0;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		return 1;
	return parse_offset(s, 23) == 0;
}

static int check_rfc3339(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);

	if (strlen(s) >= 20 && rfc3339_valid(s))
		return T0_OK;
	return verr(v, at, path,
		    "expected an RFC 3339 time like \"2026-01-05T09:00:00Z\", got '%s'", s);
}

static int check_levels(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	char sub[CFG_MAX_PATH], sub2[CFG_MAX_PATH];
	size_t i, j;
	json_t *level, *user;
	int rc;

	if (json_array_size(val) < 1 || json_array_size(val) > 5)
		return verr(v, at, path, "expected 1 to 5 escalation levels, got %zu",
			    json_array_size(val));
	json_array_foreach(val, i, level) {
		struct loc il = { .up = at, .parent = val, .index = i };

		path_index(sub, sizeof(sub), path, i);
		if (!json_is_array(level) || json_array_size(level) == 0)
			return verr(v, &il, sub, "expected a non-empty list of user names, got %s",
				    json_is_array(level) ? "an empty list" : json_kind_name(level));
		json_array_foreach(level, j, user) {
			struct loc ul = { .up = &il, .parent = level, .index = j };

			path_index(sub2, sizeof(sub2), sub, j);
			rc = walk_scalar(v, NULL, CFG_STR, user, sub2, &ul);
			if (rc)
				return rc;
			if (json_string_length(user) == 0)
				return verr(v, &ul, sub2, "user name must not be empty");
		}
	}
	return T0_OK;
}

static int check_rule(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	int has_intent = json_is_string(json_object_get(val, "intent"));
	int has_reply = json_is_string(json_object_get(val, "reply"));

	if (has_intent == has_reply)
		return verr(v, at, path, "needs exactly one of 'intent' or 'reply'%s",
			    has_intent ? ", not both" : "");
	return T0_OK;
}

static int check_pattern(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	pcre2_code *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off = 0;
	int errcode = 0;

	re = pcre2_compile((PCRE2_SPTR)json_string_value(val), json_string_length(val),
			   PCRE2_UTF, &errcode, &off, NULL);
	if (re) {
		pcre2_code_free(re);
		return T0_OK;
	}
	if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "error %d", errcode);
	return verr(v, at, path, "invalid regular expression at offset %zu: %s",
		    (size_t)off, (const char *)msg);
}

static int check_commands(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	char sub[CFG_MAX_PATH];
	const char *name;
	json_t *item;

	json_object_foreach(val, name, item) {
		struct loc il = { .up = at, .parent = val, .key = name };

		if (name[0] == '/' && name[1] != '\0' && !strchr(name, ' '))
			continue;
		path_key(sub, sizeof(sub), path, name);
		return verr(v, &il, sub, "command must start with '/' and have no spaces");
	}
	return T0_OK;
}

/* A number (integer or decimal) of US dollars, >= 0. */
static int check_money(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	if (!json_is_number(val))
		return verr(v, at, path, "expected a number, got %s", json_kind_name(val));
	if (json_number_value(val) < 0 || json_number_value(val) > 1e9)
		return verr(v, at, path, "must be between 0 and 1000000000, got %g",
			    json_number_value(val));
	return T0_OK;
}

/* A duration in seconds, decimals allowed (0.5), from 0.05 to 3600. */
static int check_seconds(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	if (!json_is_number(val))
		return verr(v, at, path, "expected a number of seconds, got %s", json_kind_name(val));
	if (json_number_value(val) < 0.05 || json_number_value(val) > 3600)
		return verr(v, at, path, "must be between 0.05 and 3600 seconds, got %g",
			    json_number_value(val));
	return T0_OK;
}

static int check_llm_url(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);

	if ((strncmp(s, "https://", 8) == 0 && s[8]) || (strncmp(s, "http://", 7) == 0 && s[7]))
		return T0_OK;
	return verr(v, at, path, "expected an http:// or https:// URL, got '%s'", s);
}

/* The section as a whole: a provider needs a model, and settings need a provider. */
static int check_llm(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	static const char *const needs_provider[] = { "model", "api_url", "api_key" };
	char sub[CFG_MAX_PATH];

	if (json_object_get(val, "provider")) {
		if (!json_object_get(val, "model")) {
			path_key(sub, sizeof(sub), path, "model");
			return verr(v, at, sub, "required when llm.provider is set");
		}
		return T0_OK;
	}
	for (size_t i = 0; i < T0_ARRAY_LEN(needs_provider); i++) {
		if (json_object_get(val, needs_provider[i])) {
			path_key(sub, sizeof(sub), path, "provider");
			return verr(v, at, sub,
				    "required (anthropic or openai) when llm.%s is set",
				    needs_provider[i]);
		}
	}
	return T0_OK;
}

/* A present teams section needs the bot's identity; its absence switches Teams off. */
static int check_teams(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	char sub[CFG_MAX_PATH];

	path_key(sub, sizeof(sub), path, "app_id");
	if (!json_object_get(val, "app_id"))
		return verr(v, at, sub, "required key is missing");
	path_key(sub, sizeof(sub), path, "app_password");
	if (!json_object_get(val, "app_password"))
		return verr(v, at, sub, "required key is missing (or app_password_file)");
	return T0_OK;
}

/* Tokens and keys come over these: https, except to a loopback test server. */
static int check_teams_url(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);
	static const char *const loopback[] = { "http://127.0.0.1", "http://localhost",
						"http://[::1]", NULL };

	if (!strncmp(s, "https://", 8) && s[8] && !strpbrk(s, " \t\r\n"))
		return T0_OK;
	for (size_t i = 0; loopback[i]; i++) {
		size_t n = strlen(loopback[i]);

		if (!strncmp(s, loopback[i], n) && (s[n] == ':' || s[n] == '/' || !s[n]) &&
		    !strpbrk(s, " \t\r\n"))
			return T0_OK;
	}
	return verr(v, at, path, "expected an https:// URL (http:// only to localhost), got '%s'", s);
}

static int check_teams_path(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);

	if (s[0] == '/' && strlen(s) < 512 && !strpbrk(s, "?# \"\\\t\r\n"))
		return T0_OK;
	return verr(v, at, path, "expected a path starting with '/' (no query, no spaces), got '%s'",
		    s);
}

static int is_guid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };

	for (size_t g = 0; g < T0_ARRAY_LEN(groups); g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return 0;
		if (g + 1 < T0_ARRAY_LEN(groups) && *s++ != '-')
			return 0;
	}
	return *s == '\0';
}

static int check_guid(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	if (is_guid(json_string_value(val)))
		return T0_OK;
	return verr(v, at, path,
		    "expected the Microsoft App ID, a GUID like 00000000-0000-0000-0000-000000000000, got '%s'",
		    json_string_value(val));
}

/* A directory (tenant) id GUID or a verified domain such as contoso.onmicrosoft.com. */
static int check_tenant(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);
	size_t n = strlen(s);

	if (n && n < 256 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n)
		return T0_OK;
	return verr(v, at, path, "expected a tenant id (GUID) or domain, got '%s'", s);
}

static int check_url(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);
	const char *host;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return verr(v, at, path, "expected an http:// or https:// URL, got '%s'", s);
	if (!*host || *host == '/' || strpbrk(s, " \t\r\n?#"))
		return verr(v, at, path, "expected a URL with a host and no query, got '%s'", s);
	return T0_OK;
}

static int check_nonempty(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	if (json_is_string(val) && json_string_length(val) == 0)
		return verr(v, at, path, "must not be empty");
	if (json_is_array(val) && json_array_size(val) == 0)
		return verr(v, at, path, "must not be an empty list");
	return T0_OK;
}

/* A non-empty list of non-empty strings (${ENV} substituted). */
static int check_secret_list(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	char sub[CFG_MAX_PATH];
	size_t i;
	json_t *item;
	int rc;

	if (json_array_size(val) == 0)
		return verr(v, at, path, "must not be an empty list");
	json_array_foreach(val, i, item) {
		struct loc il = { .up = at, .node = item, .parent = val, .index = i };

		path_index(sub, sizeof(sub), path, i);
		rc = walk_scalar(v, NULL, CFG_STR, item, sub, &il);
		if (rc)
			return rc;
		if (json_string_length(item) == 0)
			return verr(v, &il, sub, "must not be empty");
	}
	return T0_OK;
}

/* "3s", "2500ms", "1m", or an integer (milliseconds) -> ms; -1 when malformed. */
static long long duration_ms(const json_t *val)
{
	const char *s, *unit;
	long long n = 0;

	if (json_is_integer(val))
		return json_integer_value(val);
	if (!json_is_string(val))
		return -1;
	s = json_string_value(val);
	if (*s < '0' || *s > '9')
		return -1;
	for (unit = s; *unit >= '0' && *unit <= '9'; unit++) {
		n = n * 10 + (*unit - '0');
		if (n > 86400000LL)
			return -1;
	}
	if (strcmp(unit, "ms") == 0)
		return n;
	if (strcmp(unit, "s") == 0)
		return n * 1000;
	if (strcmp(unit, "m") == 0)
		return n * 60000;
	return -1;
}

#define CFG_TIMEOUT_MIN_MS 100
#define CFG_TIMEOUT_MAX_MS 120000

static int check_duration(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	long long ms;
	int rc;

	if (json_is_string(val)) {
		rc = subst_string(v, val, path, at);
		if (rc)
			return rc;
	} else if (!json_is_integer(val)) {
		return verr(v, at, path,
			    "expected milliseconds or a duration like \"3s\", got %s",
			    json_kind_name(val));
	}
	ms = duration_ms(val);
	if (ms < 0)
		return verr(v, at, path,
			    "expected milliseconds or a duration like \"3s\", \"2500ms\", \"1m\", got '%s'",
			    json_string_value(val));
	if (ms < CFG_TIMEOUT_MIN_MS || ms > CFG_TIMEOUT_MAX_MS)
		return verr(v, at, path, "must be between %dms and %ds, got %lldms",
			    CFG_TIMEOUT_MIN_MS, CFG_TIMEOUT_MAX_MS / 1000, ms);
	return T0_OK;
}

static int check_period(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	int64_t ms;

	if (rl_duration_parse(json_string_value(val), &ms) == T0_OK)
		return T0_OK;
	return verr(v, at, path, "expected a duration like \"30s\", \"10m\", \"2h\", got '%s'",
		    json_string_value(val));
}

static int check_rate(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	struct rl_spec spec;

	if (rl_spec_parse(json_string_value(val), &spec) == T0_OK)
		return T0_OK;
	return verr(v, at, path,
		    "expected a rate like \"3/10m\" (N requests per period), got '%s'",
		    json_string_value(val));
}

static int check_base_url(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *s = json_string_value(val);

	if ((strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
	    !strpbrk(s, "?#@ ") && strlen(s) > 8 && strlen(s) < 1024)
		return T0_OK;
	return verr(v, at, path, "expected an http:// or https:// URL without query, got '%s'", s);
}

/* A default or each allowed value: a string, an integer or a boolean. */
static int check_scalars(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	size_t i;
	json_t *it;

	if (!json_is_array(val)) {
		if (json_is_string(val) || json_is_integer(val) || json_is_boolean(val))
			return T0_OK;
		return verr(v, at, path, "expected a string, an integer or a boolean, got %s",
			    json_kind_name(val));
	}
	json_array_foreach(val, i, it) {
		struct loc il = { .up = at, .parent = val, .index = i };
		char sub[CFG_MAX_PATH];

		path_index(sub, sizeof(sub), path, i);
		if (!json_is_string(it) && !json_is_integer(it) && !json_is_boolean(it))
			return verr(v, &il, sub, "expected a string, an integer or a boolean, got %s",
				    json_kind_name(it));
	}
	return T0_OK;
}

static int check_action(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	char msg[400];

	if (action_item_validate(val, msg, sizeof(msg)) == T0_OK)
		return T0_OK;
	return verr(v, at, path, "%s", msg);
}

/* A token of the right kind: "xoxb-" for the bot, "xapp-" for Socket Mode. */
static int slack_token_check(struct vctx *v, json_t *sec, const char *path, const struct loc *at,
			     const char *key, const char *prefix, const char *what)
{
	const json_t *t = json_object_get(sec, key);
	char sub[CFG_MAX_PATH];
	struct loc kl = { .up = at, .parent = sec, .key = key };

	path_key(sub, sizeof(sub), path, key);
	if (!json_is_string(t) || json_string_length(t) == 0)
		return verr(v, at, sub, "required key is missing (%s)", what);
	if (prefix && strncmp(json_string_value(t), prefix, strlen(prefix)) != 0)
		return verr(v, &kl, sub, "expected a token starting with '%s' (%s)", prefix, what);
	return T0_OK;
}

static int check_slack(struct vctx *v, json_t *val, const char *path, const struct loc *at)
{
	const char *mode = json_string_value(json_object_get(val, "mode"));
	int rc;

	rc = slack_token_check(v, val, path, at, "bot_token", "xoxb-",
			       "the bot token from OAuth & Permissions");
	if (rc == T0_OK && (!mode || strcmp(mode, "socket") == 0))
		rc = slack_token_check(v, val, path, at, "app_token", "xapp-",
				       "an app-level token with connections:write, for Socket Mode");
	if (rc == T0_OK && mode && strcmp(mode, "http") == 0)
		rc = slack_token_check(v, val, path, at, "signing_secret", NULL,
				       "the signing secret, for HTTP mode");
	if (rc == T0_OK &&
	    json_integer_value(json_object_get(val, "reconnect_min_ms")) >
		    json_integer_value(json_object_get(val, "reconnect_max_ms")))
		rc = verr(v, at, path, "reconnect_min_ms must not exceed reconnect_max_ms");
	if (rc == T0_OK)
		v->cfg->slack_enabled = 1;
	return rc;
}

static int check_slack_api_url(struct vctx *v, json_t *val, const char *path,
			       const struct loc *at)
{
	const char *s = json_string_value(val);
	size_t n = strlen(s);

	if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || n < 9 ||
	    s[n - 1] != '/')
		return verr(v, at, path,
			    "expected an http(s) URL ending in '/', like \"https://slack.com/api/\", "
			    "got '%s'", s);
	return T0_OK;
}

/* A channel id (C..., G...) or a name ("#ops" or "ops"). */
static int check_slack_channel(struct vctx *v, json_t *val, const char *path,
			       const struct loc *at)
{
	const char *s = json_string_value(val);

	if (s[0] == '#')
		s++;
	if (!s[0] || strlen(s) > 80 || strpbrk(s, " ,<>@"))
		return verr(v, at, path,
			    "expected a channel id (C0123ABCD) or name (#ops), got '%s'",
			    json_string_value(val));
	return T0_OK;
}

/* ---- typed fields ---- */

static const json_t *tree_get(const json_t *tree, const char *section, const char *key)
{
	return json_object_get(json_object_get(tree, section), key);
}

static int str_list(const json_t *arr, char ***out, size_t *n)
{
	size_t i;
	json_t *item;

	*n = 0;
	*out = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!*out)
		return T0_ENOMEM;
	json_array_foreach(arr, i, item) {
		if (!((*out)[i] = strdup(json_string_value(item))))
			return T0_ENOMEM;
		(*n)++;
	}
	return T0_OK;
}

static char *default_user(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return strdup(u);
	pw = getpwuid(getuid());
	if (pw && pw->pw_name && *pw->pw_name)
		return strdup(pw->pw_name);
	return strdup("operator");
}

static double num_or(const json_t *j, double def)
{
	return json_is_number(j) ? json_number_value(j) : def;
}

static int config_fill_llm(struct config *cfg)
{
	const json_t *llm = json_object_get(cfg->tree, "llm");
	const char *provider = json_string_value(json_object_get(llm, "provider"));
	const char *url = json_string_value(json_object_get(llm, "api_url"));
	const char *routing = json_string_value(json_object_get(llm, "routing"));
	const char *model = json_string_value(json_object_get(llm, "model"));

	if (!provider)
		return T0_OK;
	if (!url)
		url = strcmp(provider, "anthropic") == 0 ? "https://api.anthropic.com"
							 : "https://api.openai.com/v1";
	cfg->llm_provider = strdup(provider);
	cfg->llm_api_url = strdup(url);
	cfg->llm_model = strdup(model ? model : "");
	cfg->llm_anthropic_version =
		strdup(json_string_value(json_object_get(llm, "anthropic_version")));
	cfg->llm_max_tokens_field =
		strdup(json_string_value(json_object_get(llm, "max_tokens_field")));
	if (!cfg->llm_provider || !cfg->llm_api_url || !cfg->llm_model ||
	    !cfg->llm_anthropic_version || !cfg->llm_max_tokens_field)
		return T0_ENOMEM;
	/* A trailing slash would double up when the endpoint path is appended. */
	for (size_t n = strlen(cfg->llm_api_url); n > 8 && cfg->llm_api_url[n - 1] == '/'; n--)
		cfg->llm_api_url[n - 1] = '\0';
	cfg->llm_api_key = json_string_value(json_object_get(llm, "api_key"));
	cfg->llm_max_tokens = (int)json_integer_value(json_object_get(llm, "max_tokens"));
	cfg->llm_timeout_ms = (int)(num_or(json_object_get(llm, "timeout"), 60) * 1000);
	cfg->llm_retries = (int)json_integer_value(json_object_get(llm, "retries"));
	cfg->llm_routing = strcmp(routing, "off") == 0	     ? CFG_LLM_OFF
			   : strcmp(routing, "fallback") == 0 ? CFG_LLM_FALLBACK
							      : CFG_LLM_ALWAYS_IN_DMS;
	cfg->llm_max_steps = (int)json_integer_value(json_object_get(llm, "max_steps"));
	cfg->llm_max_request_tokens = json_integer_value(json_object_get(llm, "max_request_tokens"));
	cfg->llm_max_wall_ms = (int)(num_or(json_object_get(llm, "max_seconds"), 120) * 1000);
	cfg->llm_max_tool_result_bytes =
		(int)json_integer_value(json_object_get(llm, "max_tool_result_bytes"));
	cfg->llm_price_input = num_or(json_object_get(llm, "price_input_per_mtok"), 0);
	cfg->llm_price_output = num_or(json_object_get(llm, "price_output_per_mtok"), 0);
	cfg->llm_price_cached_input =
		num_or(json_object_get(llm, "price_cached_input_per_mtok"), cfg->llm_price_input);
	cfg->llm_budget_user_daily_usd = num_or(json_object_get(llm, "budget_user_daily_usd"), 0);
	cfg->llm_budget_daily_usd = num_or(json_object_get(llm, "budget_daily_usd"), 0);
	cfg->llm_budget_user_daily_tokens =
		json_integer_value(json_object_get(llm, "budget_user_daily_tokens"));
	cfg->llm_budget_daily_tokens = json_integer_value(json_object_get(llm, "budget_daily_tokens"));
	cfg->llm_incident_summary = json_is_true(json_object_get(llm, "incident_summary"));
	return T0_OK;
}

static char *opt_strdup(const json_t *j)
{
	return j ? strdup(json_string_value(j)) : NULL;
}

static int config_fill_teams(struct config *cfg)
{
	const json_t *t = json_object_get(cfg->tree, "teams");
	const json_t *p = json_object_get(t, "pacing");
	const json_t *tok = json_object_get(t, "token_url");
	const char *tenant;
	char url[512];

	cfg->teams_enabled = json_object_get(t, "app_id") != NULL;
	cfg->teams_openid_url = opt_strdup(json_object_get(t, "openid_url"));
	cfg->teams_path = opt_strdup(json_object_get(t, "path"));
	if (!cfg->teams_openid_url || !cfg->teams_path)
		return T0_ENOMEM;
	cfg->teams_invoke_timeout_ms = (int)json_integer_value(json_object_get(t, "invoke_timeout_ms"));
	cfg->teams_jwks_refresh_s = (int)json_integer_value(json_object_get(t, "jwks_refresh_s"));
	cfg->teams_max_card_bytes = (int)json_integer_value(json_object_get(t, "max_card_bytes"));
	cfg->teams_pacing_burst = (int)json_integer_value(json_object_get(p, "burst"));
	cfg->teams_pacing_interval_ms = (int)json_integer_value(json_object_get(p, "interval_ms"));
	cfg->teams_pacing_global_per_second =
		(int)json_integer_value(json_object_get(p, "global_per_second"));
	cfg->teams_pacing_max_queue = (int)json_integer_value(json_object_get(p, "max_queue"));
	cfg->teams_pacing_coalesce_after = (int)json_integer_value(json_object_get(p, "coalesce_after"));
	cfg->teams_pacing_max_retries = (int)json_integer_value(json_object_get(p, "max_retries"));
	if (!cfg->teams_enabled)
		return T0_OK;
	cfg->teams_app_id = opt_strdup(json_object_get(t, "app_id"));
	cfg->teams_app_password = opt_strdup(json_object_get(t, "app_password"));
	cfg->teams_tenant_id = opt_strdup(json_object_get(t, "tenant_id"));
	if (!cfg->teams_app_id || !cfg->teams_app_password ||
	    (json_object_get(t, "tenant_id") && !cfg->teams_tenant_id))
		return T0_ENOMEM;
	if (tok) {
		cfg->teams_token_url = opt_strdup(tok);
	} else {
		/* Multi-tenant bots get their tokens from the botframework.com tenant. */
		tenant = cfg->teams_tenant_id ? cfg->teams_tenant_id : "botframework.com";
		snprintf(url, sizeof(url), "https://login.microsoftonline.com/%s/oauth2/v2.0/token",
			 tenant);
		cfg->teams_token_url = strdup(url);
	}
	return cfg->teams_token_url ? T0_OK : T0_ENOMEM;
}

/* Copies an optional string of the tree (NULL when absent); 0 only when out of memory. */
static int opt_str(const json_t *v, char **out)
{
	*out = NULL;
	if (!json_is_string(v))
		return 1;
	*out = strdup(json_string_value(v));
	return *out != NULL;
}

static int config_fill_incidents(struct config *cfg)
{
	json_t *tree = cfg->tree;
	const json_t *pd = json_object_get(tree, "pagerduty");
	const json_t *bs = json_object_get(json_object_get(tree, "catalog"), "backstage");
	const json_t *secrets = json_object_get(pd, "webhook_secrets");
	long long st, ot;
	int ok = 1;

	ok &= opt_str(json_object_get(pd, "api_url"), &cfg->pd_api_url);
	ok &= opt_str(json_object_get(pd, "token"), &cfg->pd_token);
	ok &= opt_str(json_object_get(pd, "from_email"), &cfg->pd_from_email);
	ok &= opt_str(tree_get(tree, "alertmanager", "token"), &cfg->am_token);
	ok &= opt_str(tree_get(tree, "alertmanager", "service_label"), &cfg->am_service_label);
	ok &= opt_str(json_object_get(bs, "url"), &cfg->backstage_url);
	ok &= opt_str(json_object_get(bs, "token"), &cfg->backstage_token);
	ok &= opt_str(tree_get(tree, "github", "api_url"), &cfg->github_api_url);
	ok &= opt_str(tree_get(tree, "github", "token"), &cfg->github_token);
	ok &= opt_str(tree_get(tree, "argocd", "url"), &cfg->argocd_url);
	ok &= opt_str(tree_get(tree, "argocd", "token"), &cfg->argocd_token);
	ok &= opt_str(tree_get(tree, "deployments", "webhook_secret"), &cfg->deploy_webhook_secret);
	ok &= opt_str(tree_get(tree, "incidents", "default_channel"),
		      &cfg->incidents_default_channel);
	if (!ok)
		return T0_ENOMEM;
	if (json_is_array(secrets) &&
	    str_list(secrets, &cfg->pd_webhook_secrets, &cfg->npd_webhook_secrets) != T0_OK)
		return T0_ENOMEM;
	st = duration_ms(tree_get(tree, "incidents", "source_timeout"));
	ot = duration_ms(tree_get(tree, "incidents", "overall_timeout"));
	if (ot <= 0)
		ot = 5000; /* no incidents section: the defaults */
	if (st <= 0)
		st = 3000;
	cfg->incidents_overall_timeout_ms = (int)ot;
	/* A source cannot usefully wait longer than the whole card does. */
	cfg->incidents_source_timeout_ms = (int)(st < ot ? st : ot);
	return T0_OK;
}

static int config_fill(struct config *cfg)
{
	json_t *tree = cfg->tree;
	json_t *console = json_object_get(tree, "console");
	const char *store;
	const json_t *email;
	int rc;

	if (!json_object_get(console, "user")) {
		char *u = default_user();

		if (!u || json_object_set_new(console, "user", json_string(u)) != 0) {
			free(u);
			return T0_ENOMEM;
		}
		free(u);
	}
	if (log_level_parse(json_string_value(tree_get(tree, "log", "level")), &cfg->log_level))
		cfg->log_level = LOG_LEVEL_INFO;

	store = json_string_value(tree_get(tree, "store", "path"));
	cfg->store_path = strcmp(store, ":memory:") == 0 ? strdup(store) : config_path(cfg, store);
	cfg->http_listen = strdup(json_string_value(tree_get(tree, "http", "listen")));
	if (!cfg->store_path || !cfg->http_listen)
		return T0_ENOMEM;
	if (listen_split(cfg->http_listen, &cfg->http_host, &cfg->http_port) != 0)
		return T0_ENOMEM; /* validated already: only allocation can fail */
	cfg->http_max_body = (size_t)json_integer_value(tree_get(tree, "http", "max_body_bytes"));
	cfg->http_enabled = json_is_true(tree_get(tree, "http", "enabled"));
	cfg->shutdown_grace_ms = (int)json_integer_value(tree_get(tree, "shutdown", "grace_ms"));

	rc = str_list(tree_get(tree, "catalog", "files"), &cfg->catalog_files, &cfg->ncatalog_files);
	if (rc == T0_OK)
		rc = str_list(tree_get(tree, "runbooks", "paths"), &cfg->runbook_paths,
			      &cfg->nrunbook_paths);
	if (rc)
		return rc;

	cfg->console_user = strdup(json_string_value(tree_get(tree, "console", "user")));
	cfg->console_channel = strdup(json_string_value(tree_get(tree, "console", "channel")));
	email = tree_get(tree, "console", "email");
	if (email && !(cfg->console_email = strdup(json_string_value(email))))
		return T0_ENOMEM;
	if (!cfg->console_user || !cfg->console_channel)
		return T0_ENOMEM;

	cfg->oncall_schedules = tree_get(tree, "oncall", "schedules");
	cfg->intent_rules = tree_get(tree, "intents", "rules");
	cfg->command_aliases = (json_t *)tree_get(tree, "intents", "commands");
	cfg->actions = json_object_get(tree, "actions");
	cfg->action_policy = json_object_get(tree, "action_policy");
	cfg->executors = json_object_get(tree, "executors");
	rc = config_fill_llm(cfg);
	if (rc != T0_OK)
		return rc;
	rc = config_fill_teams(cfg);
	if (rc != T0_OK)
		return rc;
	rc = config_fill_incidents(cfg);
	if (rc != T0_OK)
		return rc;
	cfg->slack = json_object_get(tree, "slack");
	return T0_OK;
}

/* A section switches its adapter on when the file has it as a mapping (even an empty one). */
static void note_sections(struct config *cfg, const json_t *tree)
{
	const json_t *cat = json_object_get(tree, "catalog");

	cfg->pagerduty_on = json_is_object(json_object_get(tree, "pagerduty"));
	cfg->alertmanager_on = json_is_object(json_object_get(tree, "alertmanager"));
	cfg->github_on = json_is_object(json_object_get(tree, "github"));
	cfg->argocd_on = json_is_object(json_object_get(tree, "argocd"));
	cfg->deployments_on = json_is_object(json_object_get(tree, "deployments"));
	cfg->incidents_on = json_is_object(json_object_get(tree, "incidents"));
	cfg->backstage_on = json_is_object(cat) && json_is_object(json_object_get(cat, "backstage"));
}

static int set_base_dir(struct config *cfg, const char *path)
{
	char *dir = NULL, *real = NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	int rc = T0_OK;

	if (slash)
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	else
		dir = strdup(".");
	if (!dir)
		return T0_ENOMEM;
	real = realpath(dir, NULL);
	if (!real) {
		rc = errno == ENOMEM ? T0_ENOMEM : T0_EIO;
		goto out;
	}
	cfg->base_dir = real;
out:
	free(dir);
	return rc;
}

static int config_build(const char *name, const char *path, const char *buf, size_t len,
			struct config **out, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	struct ydocs docs = { 0 };
	struct vctx v = { 0 };
	json_t *root = NULL;
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->file = strdup(name))) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = set_base_dir(cfg, path);
	if (rc) {
		snprintf(err, errlen, "%s: cannot resolve the configuration directory: %s", name,
			 strerror(errno));
		goto out;
	}
	rc = yload_parse(name, buf, len, &docs, err, errlen);
	if (rc) {
		if (rc != T0_ENOMEM)
			rc = T0_ECONFIG;
		goto out;
	}
	v.file = name;
	v.err = err;
	v.errlen = errlen;
	v.cfg = cfg;
	if (docs.n > 1) {
		rc = verr(&v, &(struct loc){ .line = docs.docs[1].line, .col = 1 }, "",
			  "expected exactly one YAML document, found a second one");
		goto out;
	}
	if (docs.n == 1) {
		v.doc = &docs.docs[0];
		root = v.doc->root;
	}
	if (!root || json_is_null(root)) {
		cfg->tree = json_object(); /* an empty file means all defaults */
	} else if (!json_is_object(root)) {
		struct loc rl = { .node = root, .line = 0 };
		struct loc dl = { .line = v.doc->line, .col = 1 };

		rl.up = &dl;
		rc = verr(&v, &rl, "", "expected a mapping, got %s", json_kind_name(root));
		goto out;
	} else {
		cfg->tree = json_incref(root);
	}
	if (!cfg->tree) {
		rc = T0_ENOMEM;
		goto out;
	}
	/* Validation fills absent sections with defaults: note which ones the file has. */
	note_sections(cfg, cfg->tree);
	rc = walk_object(&v, cfg->tree, root_keys, "", &(struct loc){ .node = cfg->tree });
	if (rc)
		goto out;
	rc = config_fill(cfg);
	if (rc == T0_ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc == T0_OK) {
		*out = cfg;
		cfg = NULL;
	}
out:
	ydocs_free(&docs);
	config_free(cfg);
	return rc;
}

int config_load_buffer(const char *name, const char *buf, size_t len, struct config **out,
		       char *err, size_t errlen)
{
	return config_build(name, NULL, buf, len, out, err, errlen);
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = yload_read_file(path, 0, &buf, &len, err, errlen);
	if (rc == T0_ETOOBIG)
		rc = T0_ECONFIG;
	if (rc == T0_OK)
		rc = config_build(path, path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	free(cfg->base_dir);
	json_decref(cfg->tree);
	free(cfg->store_path);
	free(cfg->http_listen);
	free(cfg->http_host);
	for (size_t i = 0; i < cfg->ncatalog_files; i++)
		free(cfg->catalog_files[i]);
	free(cfg->catalog_files);
	for (size_t i = 0; i < cfg->nrunbook_paths; i++)
		free(cfg->runbook_paths[i]);
	free(cfg->runbook_paths);
	free(cfg->console_user);
	free(cfg->console_email);
	free(cfg->console_channel);
	free(cfg->llm_provider);
	free(cfg->llm_api_url);
	free(cfg->llm_model);
	free(cfg->llm_anthropic_version);
	free(cfg->llm_max_tokens_field);
	for (size_t i = 0; i < cfg->nsecrets; i++) {
		memset(cfg->secrets[i], 0, strlen(cfg->secrets[i]));
		free(cfg->secrets[i]);
	}
	free(cfg->secrets);
	free(cfg->teams_app_id);
	if (cfg->teams_app_password)
		memset(cfg->teams_app_password, 0, strlen(cfg->teams_app_password));
	free(cfg->teams_app_password);
	free(cfg->teams_tenant_id);
	free(cfg->teams_token_url);
	free(cfg->teams_openid_url);
	free(cfg->teams_path);
	free(cfg->pd_api_url);
	free(cfg->pd_token);
	free(cfg->pd_from_email);
	for (size_t i = 0; i < cfg->npd_webhook_secrets; i++)
		free(cfg->pd_webhook_secrets[i]);
	free(cfg->pd_webhook_secrets);
	free(cfg->am_token);
	free(cfg->am_service_label);
	free(cfg->backstage_url);
	free(cfg->backstage_token);
	free(cfg->github_api_url);
	free(cfg->github_token);
	free(cfg->argocd_url);
	free(cfg->argocd_token);
	free(cfg->deploy_webhook_secret);
	free(cfg->incidents_default_channel);
	free(cfg);
}

/*
 * Masks a copy of the tree: secret keys of the schema become CFG_MASK, and any
 * other string holding a secret (pasted through ${ENV}) is masked whole.
 */
static void mask_tree(const struct config *cfg, json_t *node, const struct cfg_key *keys)
{
	const char *name;
	json_t *val;
	size_t i;

	if (json_is_array(node)) {
		json_array_foreach(node, i, val) {
			if (json_is_string(val) || !keys)
				mask_tree(cfg, val, NULL);
			else
				mask_tree(cfg, val, keys);
		}
		return;
	}
	if (json_is_string(node)) {
		for (i = 0; i < cfg->nsecrets; i++)
			if (strstr(json_string_value(node), cfg->secrets[i]))
				json_string_set(node, CFG_MASK);
		return;
	}
	if (!json_is_object(node))
		return;
	json_object_foreach(node, name, val) {
		const struct cfg_key *k = keys ? key_find(keys, name) : NULL;

		if (k && (k->flags & CFG_SECRET) && json_is_string(val))
			json_string_set(val, CFG_MASK);
		else if (k && (k->flags & CFG_SECRET) && json_is_array(val)) {
			json_t *item;

			json_array_foreach(val, i, item)
				if (json_is_string(item))
					json_string_set(item, CFG_MASK);
		}
		else if (k && k->kind == CFG_OBJ)
			mask_tree(cfg, val, k->keys);
		else if (k && k->kind == CFG_LIST && k->item == CFG_OBJ)
			mask_tree(cfg, val, k->keys);
		else if (json_is_object(val) || json_is_array(val) || json_is_string(val))
			mask_tree(cfg, val, NULL);
	}
}

int config_dump_masked(const struct config *cfg, FILE *out)
{
	json_t *copy = json_deep_copy(cfg->tree);
	int rc = T0_OK;

	if (!copy)
		return T0_ENOMEM;
	mask_tree(cfg, copy, root_keys);
	if (json_dumpf(copy, out, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fputc('\n', out) == EOF)
		rc = T0_EIO;
	json_decref(copy);
	return rc;
}

char *config_path(const struct config *cfg, const char *p)
{
	char *out;
	size_t n;

	if (!p)
		return NULL;
	if (p[0] == '/' || !cfg || !cfg->base_dir)
		return strdup(p);
	n = strlen(cfg->base_dir) + strlen(p) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%s", cfg->base_dir, p);
	return out;
}
