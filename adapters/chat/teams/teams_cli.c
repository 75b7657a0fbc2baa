/* `tier0 teams-package`: writes the Teams app package files for an upload. */
#include "adapters/chat/teams/teams.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "adapters/chat/teams/teams_package.h"
#include "bot/config.h"
#include "bot/t0.h"

static const char usage_package[] =
	"usage: tier0 teams-package --config FILE --out DIR [options]\n"
	"\n"
	"Writes the Microsoft Teams app package files into DIR (created if missing):\n"
	"manifest.json (bot id = teams.app_id, scopes personal/team/groupChat, the commands\n"
	"list), color.png (192x192) and outline.png (32x32). Zip the three files (no folder)\n"
	"to upload them: scripts/teams-package.sh does both. See docs/TEAMS.md.\n"
	"\n"
	"  -c, --config FILE     configuration with a teams section\n"
	"  -o, --out DIR         where to write the files\n"
	"      --name NAME       short app name (default tier0)\n"
	"      --developer NAME  publisher shown in Teams\n"
	"      --website URL     publisher website (https); also privacy and terms by default\n"
	"      --privacy URL     privacy statement\n"
	"      --terms URL       terms of use\n"
	"      --app-version V   app version (default the tier0 version)\n";

int teams_cli_package(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "name", required_argument, NULL, 'n' },
		{ "developer", required_argument, NULL, 'D' },
		{ "website", required_argument, NULL, 'w' },
		{ "privacy", required_argument, NULL, 'p' },
		{ "terms", required_argument, NULL, 't' },
		{ "app-version", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct teams_package_opts o = { 0 };
	const char *config = NULL, *out = NULL;
	struct config *cfg = NULL;
	char err[1024];
	int ch, rc;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:o:h", longs, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'o': out = optarg; break;
		case 'n': o.name = optarg; break;
		case 'D': o.developer = optarg; break;
		case 'w': o.website = optarg; break;
		case 'p': o.privacy = optarg; break;
		case 't': o.terms = optarg; break;
		case 'V': o.version = optarg; break;
		case 'h':
			fputs(usage_package, stdout);
			return T0_EXIT_OK;
		default:
			fprintf(stderr, "tier0: unknown or incomplete option '%s'\n\n%s",
				argv[optind - 1], usage_package);
			return T0_EXIT_USAGE;
		}
	}
	if (optind < argc || !config || !out) {
		fprintf(stderr, "tier0: %s\n\n%s",
			optind < argc ? "unexpected argument" : "--config FILE and --out DIR are required",
			usage_package);
		return T0_EXIT_USAGE;
	}
	{
		const char *urls[] = { o.website, o.privacy, o.terms };

		for (size_t i = 0; i < T0_ARRAY_LEN(urls); i++)
			if (urls[i] && strncmp(urls[i], "https://", 8)) {
				fprintf(stderr, "tier0: URLs in the manifest must be https://, got '%s'\n",
					urls[i]);
				return T0_EXIT_USAGE;
			}
	}
	rc = config_load(config, &cfg, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return T0_EXIT_USAGE;
	}
	if (mkdir(out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "tier0: %s: %s\n", out, strerror(errno));
		config_free(cfg);
		return T0_EXIT_RUNTIME;
	}
	rc = teams_package_write_opts(cfg, &o, out, err, sizeof(err));
	config_free(cfg);
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return rc == T0_ECONFIG ? T0_EXIT_USAGE : T0_EXIT_RUNTIME;
	}
	printf("wrote %s/manifest.json, %s/color.png, %s/outline.png\n", out, out, out);
	return T0_EXIT_OK;
}
