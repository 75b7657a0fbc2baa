#include "bot/event.h"

const char *event_kind_name(int kind)
{
	switch (kind) {
	case EVENT_MESSAGE:
		return "message";
	case EVENT_COMMAND:
		return "command";
	case EVENT_INTERACTION:
		return "interaction";
	case EVENT_ALERT:
		return "alert";
	case EVENT_DEPLOY:
		return "deploy";
	default:
		return "unknown";
	}
}
