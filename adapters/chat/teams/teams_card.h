/*
 * Teams rendering of the platform-neutral reply (no I/O): plain replies
 * become a markdown message, structured ones an Adaptive Card (TextBlock,
 * FactSet, ColumnSet, ActionSet) whose buttons are Action.Execute (Universal
 * Actions) with an Action.Submit fallback. Everything the core wrote is
 * escaped for Teams markdown; a message over the size budget is trimmed with
 * a visible note. See docs/TEAMS.md.
 */
#ifndef T0_TEAMS_CARD_H
#define T0_TEAMS_CARD_H

#include <jansson.h>
#include <stddef.h>

struct reply;

#define TEAMS_CARD_CONTENT_TYPE "application/vnd.microsoft.card.adaptive"
#define TEAMS_CARD_VERSION "1.5"
/* Keys of a button's data: what comes back in an invoke or a submit. */
#define TEAMS_DATA_ACTION "t0_action"
#define TEAMS_DATA_VALUE "t0_value"
/* Buttons per ActionSet: Teams shows about this many in one row. */
#define TEAMS_CARD_ACTIONS_PER_SET 5

/*
 * Escapes text for Teams markdown (card TextBlocks when html is 0, message
 * text when 1: then also &, < and >). URLs are left intact, invalid UTF-8
 * bytes become '?'. Caller frees; NULL on allocation failure.
 */
char *teams_md_escape(const char *s, int html);

/*
 * The message activity body for r: {"type":"message", ...} with either
 * "text" (plain replies) or one Adaptive Card attachment. Its compact JSON
 * fits max_bytes: longer content is cut and says so. *trimmed (may be NULL)
 * is set to 1 when something was cut. New reference, NULL on failure.
 */
json_t *teams_activity_build(const struct reply *r, size_t max_bytes, int *trimmed);

/* Just the card (new reference), for invoke answers; same trimming. */
json_t *teams_card_build(const struct reply *r, size_t max_bytes, int *trimmed);

/* A card saying an action is in progress; its result replaces the message later. */
json_t *teams_card_holding(const char *what);

/*
 * The activity JSON of a storm digest: one card listing the first n
 * summaries of total merged posts. malloc'ed text, NULL on failure.
 */
char *teams_digest_build(const char *const *summaries, size_t n, size_t total, size_t max_bytes);

/* 1 when r renders as a card rather than text. */
int teams_reply_needs_card(const struct reply *r);

#endif
