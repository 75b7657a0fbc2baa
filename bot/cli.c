#include "bot/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/chat/teams/teams.h"
#include "adapters/chat/slack/slack.h"
#include "bot/app.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "bot/timeparse.h"

static const char usage_main[] =
	"usage: tier0 <command> [options]\n"
	"\n"
	"commands:\n"
	"  run --config FILE          run the daemon (HTTP endpoints, chat adapters)\n"
	"  console --config FILE      chat with tier0 in this terminal (or pipe a script to stdin)\n"
	"  demo [--db FILE]           the console on the bundled demo organisation\n"
	"  check-config --config FILE validate a configuration and print it, secrets masked\n"
	"  audit verify --db FILE     check the audit chain; exit 1 when it is broken\n"
	"  audit export --db FILE [--since TIME] [--until TIME] [--request ID] [--user U] [--action A]\n"
	"                             print audit records as JSON lines\n"
	"  teams-package --config FILE --out DIR  write the Microsoft Teams app package files\n"
	"  version                    print the version\n"
	"\n"
	"Every command takes --help. Exit status: 0 ok, 1 runtime failure, 2 usage or configuration error.\n";

static const char usage_run[] =
	"usage: tier0 run --config FILE [-v]\n"
	"\n"
	"Runs the daemon: the HTTP server on http.listen (/healthz, /readyz, /metrics) and every\n"
	"configured chat adapter. SIGTERM or SIGINT stop it gracefully; SIGHUP reloads the\n"
	"configuration (a bad one is logged and the old one kept).\n"
	"\n"
	"  -c, --config FILE   configuration file (YAML or JSON)\n"
	"  -v, --verbose       debug logging\n";

static const char usage_console[] =
	"usage: tier0 console --config FILE [-v]\n"
	"\n"
	"Chat with tier0 in the terminal. With stdin not a terminal, reads one message per line to\n"
	"the end and prints each reply: a deterministic script for tests. A line starting with /\n"
	"is a slash command (/whoowns checkout); a number picks a button of the last reply.\n"
	"\n"
	"  -c, --config FILE   configuration file (YAML or JSON)\n"
	"  -v, --verbose       debug logging\n";

static const char usage_demo[] =
	"usage: tier0 demo [--db FILE] [-v]\n"
	"\n"
	"The console on the bundled demo organisation (config/demo/): no accounts needed.\n"
	"The demo's audit chain goes to FILE (default ./tier0-demo.db).\n"
	"\n"
	"  --db FILE           SQLite file for the demo's store\n"
	"  -v, --verbose       debug logging\n";

static const char usage_check[] =
	"usage: tier0 check-config --config FILE\n"
	"\n"
	"Validates the configuration and everything it names (catalog files, runbooks, rules),\n"
	"prints the effective configuration with secrets masked, and exits 0; or names the file,\n"
	"line, column and key of the first problem and exits 2.\n";

static const char usage_audit[] =
	"usage: tier0 audit verify --db FILE\n"
	"       tier0 audit export --db FILE [--since TIME] [--until TIME] [--request ID]\n"
	"                          [--user USER] [--action ACTION]\n"
	"\n"
	"verify walks the whole chain: prints \"OK: N records\" and exits 0, or the first broken\n"
	"sequence number and exits 1. export prints records as JSON lines; TIME is RFC 3339\n"
	"(2026-11-26T08:00:00Z) or a duration back from now (30m, 24h, 7d). --request keeps one\n"
	"action request's chain (r-...), --action the chains of one action, --user the records\n"
	"of one user id or name.\n";

/* For reproducible demos and golden tests: TIER0_FAKE_NOW=2026-11-26T10:00:00Z. */
static int apply_fake_now(void)
{
	const char *s = getenv("TIER0_FAKE_NOW");
	int64_t ms = 0;

	if (!s || !*s)
		return 0;
	if (t0_time_parse(s, T0_TIME_OFFSET_REQUIRED, &ms) != 0 || ms <= 0) {
		fprintf(stderr, "tier0: TIER0_FAKE_NOW: expected an RFC 3339 time, got '%s'\n", s);
		return -1;
	}
	t0_set_fake_now_ms(ms);
	return 0;
}

struct cli_opts {
	const char *config;
	const char *db;
	const char *since;
	const char *until;
	const char *request;
	const char *user;
	const char *action;
	int verbose;
	int help;
};

/* Parses options after the subcommand; returns 0, or 2 after printing usage. */
static int parse_opts(int argc, char **argv, struct cli_opts *o, const char *usage)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "request", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'U' },
		{ "action", required_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:d:s:u:r:U:a:vh", longs, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 's':
			o->since = optarg;
			break;
		case 'u':
			o->until = optarg;
			break;
		case 'r':
			o->request = optarg;
			break;
		case 'U':
			o->user = optarg;
			break;
		case 'a':
			o->action = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			o->help = 1;
			break;
		default:
			fprintf(stderr, "tier0: unknown or incomplete option '%s'\n\n%s",
				argv[optind - 1], usage);
			return T0_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tier0: unexpected argument '%s'\n\n%s", argv[optind], usage);
		return T0_EXIT_USAGE;
	}
	if (o->verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	return 0;
}

static int need(const char *value, const char *what, const char *usage)
{
	if (value)
		return 0;
	fprintf(stderr, "tier0: %s is required\n\n%s", what, usage);
	return T0_EXIT_USAGE;
}

static int cmd_check_config(int argc, char **argv)
{
	struct cli_opts o;
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	char err[1024];
	int rc;

	if ((rc = parse_opts(argc, argv, &o, usage_check)))
		return rc;
	if (o.help) {
		fputs(usage_check, stdout);
		return T0_EXIT_OK;
	}
	if ((rc = need(o.config, "--config FILE", usage_check)))
		return rc;
	rc = config_load(o.config, &cfg, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return T0_EXIT_USAGE;
	}
	config_dump_masked(cfg, stdout);
	rc = bot_world_build(cfg, &w, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return T0_EXIT_USAGE;
	}
	/* Adapters that can ask their platform whether the credentials will do. */
	rc = slack_check_config(w->cfg, stderr);
	if (rc != T0_EXIT_OK) {
		bot_world_free(w);
		return rc;
	}
	fprintf(stderr, "tier0: %s is valid\n", o.config);
	bot_world_free(w);
	return T0_EXIT_OK;
}

/* Where the bundled demo lives: $TIER0_DEMO_DIR, next to the binary, or the source tree. */
static int demo_dir(char *out, size_t len)
{
	const char *env = getenv("TIER0_DEMO_DIR");
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/../config/demo/tier0.yaml", exe);
		if (access(probe, R_OK) == 0) {
			snprintf(out, len, "%s/../config/demo", exe);
			return 0;
		}
		snprintf(probe, sizeof(probe), "%s/../share/tier0/demo/tier0.yaml", exe);
		if (access(probe, R_OK) == 0) {
			snprintf(out, len, "%s/../share/tier0/demo", exe);
			return 0;
		}
	}
	snprintf(out, len, "%s", T0_DEMO_DIR);
	return 0;
}

static int cmd_app(int argc, char **argv, int mode)
{
	const char *usage = mode == APP_RUN ? usage_run : mode == APP_DEMO ? usage_demo : usage_console;
	struct app_opts ao = { .mode = mode };
	char path[PATH_MAX + 32], dir[PATH_MAX];
	struct cli_opts o;
	int rc;

	if ((rc = parse_opts(argc, argv, &o, usage)))
		return rc;
	if (o.help) {
		fputs(usage, stdout);
		return T0_EXIT_OK;
	}
	if (mode == APP_DEMO) {
		demo_dir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/tier0.yaml", dir);
		ao.config = path;
		ao.db = o.db ? o.db : "tier0-demo.db";
	} else {
		if ((rc = need(o.config, "--config FILE", usage)))
			return rc;
		ao.config = o.config;
		ao.db = o.db;
	}
	ao.verbose = o.verbose;
	return app_main(&ao);
}

static int cmd_audit(int argc, char **argv)
{
	struct cli_opts o;
	const char *verb = argc >= 2 ? argv[1] : NULL;
	int rc;

	if (!verb || strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0) {
		fputs(usage_audit, verb ? stdout : stderr);
		return verb ? T0_EXIT_OK : T0_EXIT_USAGE;
	}
	if (strcmp(verb, "verify") != 0 && strcmp(verb, "export") != 0) {
		fprintf(stderr, "tier0: unknown audit command '%s'\n\n%s", verb, usage_audit);
		return T0_EXIT_USAGE;
	}
	if ((rc = parse_opts(argc - 1, argv + 1, &o, usage_audit)))
		return rc;
	if (o.help) {
		fputs(usage_audit, stdout);
		return T0_EXIT_OK;
	}
	if ((rc = need(o.db, "--db FILE", usage_audit)))
		return rc;
	if (strcmp(verb, "verify") == 0) {
		if (o.since || o.until || o.request || o.user || o.action) {
			fprintf(stderr, "tier0: filters apply to export only\n\n%s", usage_audit);
			return T0_EXIT_USAGE;
		}
		return audit_cli_verify(o.db);
	}
	return audit_cli_export_filtered(o.db, o.since, o.until, o.request, o.user, o.action);
}

int cli_main(int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : NULL;

	if (apply_fake_now() != 0)
		return T0_EXIT_USAGE;
	if (!cmd) {
		fputs(usage_main, stderr);
		return T0_EXIT_USAGE;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return T0_EXIT_OK;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			fputs("usage: tier0 version\n\nPrints the version.\n", stdout);
			return T0_EXIT_OK;
		}
		printf("tier0 %s\n", T0_VERSION);
		return T0_EXIT_OK;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_app(argc - 1, argv + 1, APP_RUN);
	if (strcmp(cmd, "console") == 0)
		return cmd_app(argc - 1, argv + 1, APP_CONSOLE);
	if (strcmp(cmd, "demo") == 0)
		return cmd_app(argc - 1, argv + 1, APP_DEMO);
	if (strcmp(cmd, "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(cmd, "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	if (strcmp(cmd, "teams-package") == 0)
		return teams_cli_package(argc - 1, argv + 1);
	fprintf(stderr, "tier0: unknown command '%s'\n\n%s", cmd, usage_main);
	return T0_EXIT_USAGE;
}
