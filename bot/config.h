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

	/* slack (adapters/chat/slack): on when the file has a slack section. */
	int slack_enabled;
	const json_t *slack; /* the effective section with defaults (borrowed from tree) */
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
