/*
 * What adapters hand to the core: one normalised event per message, slash
 * command or button click. Strings are borrowed for the duration of the
 * bot_on_event() call; the core copies what it keeps.
 */
#ifndef T0_EVENT_H
#define T0_EVENT_H

enum event_kind {
	EVENT_MESSAGE = 0,
	EVENT_COMMAND,     /* slash command: command = "/whoowns", text = "checkout" */
	EVENT_INTERACTION, /* button: action_id + value */
	EVENT_ALERT,
	EVENT_DEPLOY,
};

struct actor {
	const char *platform;     /* "console", "slack", "teams" */
	const char *user_id;      /* platform user id */
	const char *display_name; /* may be NULL */
	const char *email;        /* may be NULL; maps the person to a catalog User */
};

struct event {
	int kind; /* enum event_kind */
	struct actor actor;
	const char *channel;   /* conversation id */
	const char *thread;    /* thread id or NULL */
	const char *event_id;  /* platform id for de-duplication, or NULL */
	const char *text;      /* message text, or slash command arguments */
	const char *command;   /* "/tier0", "/whoowns", ... for EVENT_COMMAND */
	const char *action_id; /* EVENT_INTERACTION */
	const char *value;     /* EVENT_INTERACTION */
	int is_dm;             /* direct message to the bot */
	/*
	 * EVENT_INTERACTION: the platform's id of the message that carried the
	 * button (Slack container.message_ts, Teams replyToId), so that the card
	 * can be updated in place; NULL when unknown.
	 */
	const char *message_ref;
};

const char *event_kind_name(int kind);

#endif
