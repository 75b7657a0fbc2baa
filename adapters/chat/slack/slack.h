/*
 * The Slack chat adapter: Socket Mode (or the HTTP Events API), the Web API,
 * slash commands, buttons, Block Kit. Switched on by the `slack` section of the
 * configuration. See docs/SLACK.md.
 */
#ifndef T0_SLACK_H
#define T0_SLACK_H

#include <stddef.h>
#include <stdio.h>

#include "bot/adapter.h"

struct config;
struct t0_loop;

extern const struct adapter_ops slack_ops;

/*
 * For `tier0 check-config`: calls auth.test with slack.bot_token on loop l
 * (running it until the answer) and compares the token's scopes (the
 * x-oauth-scopes header) with what tier0 needs. T0_OK when all is there;
 * T0_ECONFIG when the token is refused or a scope is missing; T0_EHTTP when
 * Slack could not be asked. msg says which, in one line.
 */
int slack_check_scopes(struct t0_loop *l, const struct config *cfg, char *msg, size_t msglen);

/*
 * The check-config hook: nothing when the configuration has no slack section;
 * otherwise runs slack_check_scopes on a loop of its own and prints one line
 * to out. Returns an exit status: 0, or 2 for a refused token or a missing
 * scope (an unreachable Slack is a warning, not an error).
 */
int slack_check_config(const struct config *cfg, FILE *out);

/* The scopes tier0 needs (space separated), for docs and the manifest test. */
const char *slack_required_scopes(const struct config *cfg);

#endif
