/*
 * The Microsoft Teams chat adapter (Bot Framework): the messaging endpoint on
 * the inbound HTTP server, token checks, the connector client with its
 * outbound queue, Adaptive Card rendering, conversation references for
 * proactive posts. See docs/TEAMS.md.
 */
#ifndef T0_TEAMS_H
#define T0_TEAMS_H

#include <stddef.h>

#include "bot/adapter.h"

struct config;

extern const struct adapter_ops teams_ops;

/*
 * The Teams app package for an upload (docs/TEAMS.md): manifest.json with
 * the bot id, scopes and the commands list, and the two icons, written into
 * dir (which must exist). err says why on failure.
 */
int teams_package_write(const struct config *cfg, const char *dir, char *err, size_t errlen);

/* The `tier0 teams-package` subcommand (argv[0] is "teams-package"); an exit status. */
int teams_cli_package(int argc, char **argv);

#endif
