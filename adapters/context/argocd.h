/*
 * Argo CD application history (../shared/reference/deployments.md §5): each
 * completed sync in status.history, plus a running or failed operation,
 * stored in the deployments table for "what changed".
 */
#ifndef T0_ARGOCD_H
#define T0_ARGOCD_H

#include <stdint.h>

struct bot;
struct t0_loop;
struct incident_source;
struct argocd;

/* url: the Argo CD server ("https://argocd.example.com"); "/api/v1" is appended. */
struct argocd *argocd_new(struct bot *b, struct t0_loop *loop, const char *url, const char *token);
void argocd_shutdown(struct argocd *ac);
void argocd_free(struct argocd *ac);

/*
 * Stores the history of application app (or of every application matching
 * selector when app is NULL) since since_ms under service; cb once, later.
 */
typedef void (*argocd_cb)(void *arg, int rc, int stored, const char *error);
int argocd_fetch_history(struct argocd *ac, const char *app, const char *selector,
			 const char *service, int64_t since_ms, long timeout_ms, argocd_cb cb,
			 void *arg);

/* The context source "Argo CD" (role INC_SRC_DEPLOYS). */
int argocd_incident_source(struct argocd *ac, struct incident_source *out);

#endif
