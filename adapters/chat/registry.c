/* Every adapter this build knows: adding a platform is one line here. */
#include <string.h>

#include "adapters/chat/console.h"
#include "adapters/chat/teams/teams.h"
#include "adapters/llm/llm.h"
#include "adapters/context/incidents.h"
#include "adapters/chat/slack/slack.h"
#include "bot/adapter.h"
#include "runbooks/actions.h"

const struct adapter_ops *const adapter_registry[] = {
	&console_ops,
	&teams_ops,
	&llm_ops,
	&incidents_ops,
	&actions_ops, /* actions with approvals: handlers and the expiry sweep */
	&slack_ops,
	NULL,
};

const struct adapter_ops *adapter_find(const char *name)
{
	for (size_t i = 0; adapter_registry[i]; i++)
		if (strcmp(adapter_registry[i]->name, name) == 0)
			return adapter_registry[i];
	return NULL;
}
