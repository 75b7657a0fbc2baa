/*
 * GitHub Deployments (../shared/reference/deployments.md §2): the recent
 * deployments of a repository (github.com/project-slug) and the newest status
 * of each, stored in the deployments table for "what changed".
 */
#ifndef T0_GITHUB_H
#define T0_GITHUB_H

#include <stdint.h>

struct bot;
struct t0_loop;
struct incident_source;
struct github;

#define GITHUB_MAX_DEPLOYMENTS 10 /* newest deployments read per lookup */

/* api_url "https://api.github.com" (GHES: https://host/api/v3); token may be NULL. */
struct github *github_new(struct bot *b, struct t0_loop *loop, const char *api_url,
			  const char *token);
void github_shutdown(struct github *gh);
void github_free(struct github *gh);

/*
 * Fetches and stores deployments of repo ("org/name") created since since_ms
 * under the catalog name service; cb(arg, rc, stored) once, later.
 */
typedef void (*github_cb)(void *arg, int rc, int stored, const char *error);
int github_fetch_deployments(struct github *gh, const char *repo, const char *service,
			     int64_t since_ms, long timeout_ms, github_cb cb, void *arg);

/* The context source "GitHub" (role INC_SRC_DEPLOYS). */
int github_incident_source(struct github *gh, struct incident_source *out);

#endif
