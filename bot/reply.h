/*
 * Platform-neutral reply: what the core says, before any adapter renders it as
 * Block Kit, an Adaptive Card or console text. A reply owns copies of every
 * string given to it.
 */
#ifndef T0_REPLY_H
#define T0_REPLY_H

#include <jansson.h>
#include <stddef.h>

enum reply_style { REPLY_STYLE_DEFAULT = 0, REPLY_STYLE_PRIMARY, REPLY_STYLE_DANGER };

enum reply_visibility {
	REPLY_IN_CHANNEL = 0, /* everyone in the conversation sees it */
	REPLY_EPHEMERAL,      /* only the person who asked */
};

struct reply_field {
	char *label;
	char *value;
};

struct reply_button {
	char *label;
	char *action_id; /* what the core routes on, e.g. "approval.approve" */
	char *value;     /* opaque single-use id, never the action itself */
	int style;       /* enum reply_style */
	char *confirm;   /* confirmation question for dangerous buttons, or NULL */
};

struct reply_section {
	char *title; /* may be NULL */
	char *text;  /* may be NULL; plain text, adapters escape it */
	struct reply_field *fields;
	size_t nfields;
};

struct reply {
	char *text; /* headline / fallback text */
	struct reply_section *sections;
	size_t nsections;
	struct reply_button *buttons;
	size_t nbuttons;
	char **context; /* small print lines */
	size_t ncontext;
	int visibility;
	char *intent; /* which intent produced it, for audit and metrics */
};

#define REPLY_MAX_SECTIONS 50
#define REPLY_MAX_FIELDS 100
#define REPLY_MAX_BUTTONS 25
#define REPLY_MAX_CONTEXT 20
#define REPLY_MAX_TEXT 40000

struct reply *reply_new(void);
void reply_free(struct reply *r);

/* Each returns T0_OK, T0_ENOMEM, or T0_ETOOBIG when a bound above is reached. */
int reply_set_text(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int reply_add_section(struct reply *r, const char *title, const char *text);
/* Adds a field to the last section (creating an untitled one if none). */
int reply_add_field(struct reply *r, const char *label, const char *value);
int reply_add_button(struct reply *r, const char *label, const char *action_id,
		     const char *value, int style, const char *confirm);
int reply_add_context(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int reply_set_intent(struct reply *r, const char *intent);

/* Serialises to a JSON object (for audit details and tests); caller frees. */
char *reply_to_json(const struct reply *r);
/* The same as a jansson object (new reference), or NULL. */
json_t *reply_to_json_obj(const struct reply *r);

#endif
