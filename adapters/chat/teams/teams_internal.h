/*
 * What the Teams adapter's files share: the adapter state and the functions
 * one file offers the others. Not for use outside adapters/chat/teams and
 * its tests.
 */
#ifndef T0_TEAMS_INTERNAL_H
#define T0_TEAMS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/adapter.h"

struct bot;
struct http_request;
struct http_response;
struct reply;
struct t0_loop;
struct teams_connector;
struct teams_keys;
struct teams_queue;
struct teams_token;
struct teams_turn;

#define TEAMS_PLATFORM "teams"
#define TEAMS_MAX_TURNS 1024          /* activities being handled at once */
#define TEAMS_IDENT_CACHE 1024        /* Teams user -> e-mail */
#define TEAMS_IDENT_TTL_MS (3600LL * 1000)
#define TEAMS_IDENT_NEG_TTL_MS (300LL * 1000)
#define TEAMS_MAX_ID 512              /* conversation, activity and user ids */
/* Catalog User annotation holding the Entra object id (Backstage's Microsoft Graph provider). */
#define TEAMS_AAD_ANNOTATION "graph.microsoft.com/user-id"

struct teams_ident {
	char key[TEAMS_MAX_ID];    /* the Teams user id ("29:...") */
	char email[320];           /* "" when Teams gave none */
	int64_t expires_ms;
};

struct teams {
	struct adapter_ctx ctx;
	struct bot *bot;
	struct t0_loop *loop;
	char *app_id;
	char bot_id[64];           /* "28:<app id>": the bot in conversations */
	char *path;
	int invoke_timeout_ms;
	size_t max_card_bytes;
	struct teams_keys *keys;
	struct teams_token *token;
	struct teams_connector *conn;
	struct teams_queue *queue;
	struct teams_turn *turns;
	size_t nturns;
	struct teams_ident *idents;
	size_t nidents;
	int started, stopping, freeing;
};

/* teams_activity.c: the messaging endpoint. */
void teams_on_activity(const struct http_request *req, struct http_response *resp, void *arg);
/* Drops every activity still being handled (adapter free). */
void teams_turns_free_all(struct teams *t);
/*
 * The text to match: the bot's own <at> mention removed (by entity id, so a
 * user named like the bot is kept), other mentions as "@Name", tags dropped,
 * HTML entities decoded, trimmed. Into out; T0_ETOOBIG when it does not fit.
 */
int teams_text_clean(const char *text, const json_t *entities, const char *bot_id, char *out,
		     size_t cap);
/* The conversation id without ";messageid=..." into out; the thread root id into thread (or ""). */
void teams_conv_split(const char *conv, char *base, size_t baselen, char *thread,
		      size_t threadlen);

/* teams.c: conversation references and sending. */
/* Saves (or refreshes) the reference of the activity's conversation; key NULL = its base id. */
int teams_ref_save(struct teams *t, const json_t *act, const char *conv_id);
void teams_ref_mark_stale(struct teams *t, const char *conv_id, long status);
/*
 * Queues an activity (body: a built activity object, taken over) into a
 * conversation. op: TEAMS_OP_SEND/_REPLY/_UPDATE; activity_id as for the
 * queue. cb (may be NULL) runs exactly once with rc and the new id.
 */
int teams_post(struct teams *t, int op, const char *service_url, const char *conv,
	       const char *activity_id, json_t *body, const char *summary, int coalesce,
	       adapter_sent_cb cb, void *arg);

#endif
