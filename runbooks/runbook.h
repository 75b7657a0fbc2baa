/*
 * Runbooks: Markdown documents with YAML front matter
 *
 *   ---
 *   title: Payment API error rate
 *   services: [payment-api, checkout]
 *   alerts: ['(?i)payment.*5xx', 'HighErrorRate']   # PCRE2, matched against alert text
 *   actions: [rollback, restart]                    # suggested action names
 *   ---
 *   # Payment API error rate
 *   ## Steps
 *   1. ...
 *
 * loaded from the paths in `runbooks.paths` (files, directories or globs) and
 * matched by service name and by alert text.
 */
#ifndef T0_RUNBOOK_H
#define T0_RUNBOOK_H

#include <stddef.h>

struct runbook {
	char *title;
	char *path;      /* where the full runbook lives */
	char *summary;   /* first paragraph of the body */
	char **steps;    /* first steps: numbered or bulleted items of the first list */
	size_t nsteps;
	char **services;
	size_t nservices;
	char **actions;
	size_t nactions;
	/* compiled alert patterns are private to runbook.c */
	void *priv;
};

struct runbook_set;

struct runbook_set *runbook_set_new(void);
void runbook_set_free(struct runbook_set *set);
/* Loads files; relative paths resolve against base_dir. err names file:line. */
int runbook_set_load(struct runbook_set *set, const char *const *paths, size_t npaths,
		     const char *base_dir, char *err, size_t errlen);
size_t runbook_set_count(const struct runbook_set *set);
const struct runbook *runbook_set_at(const struct runbook_set *set, size_t i);

/*
 * Best matches for a service name and/or alert text (either may be NULL), best
 * first: an alert pattern match ranks above a service match. Returns how many
 * were written to out (at most max).
 */
size_t runbook_match(const struct runbook_set *set, const char *service, const char *alert_text,
		     const struct runbook **out, size_t max);

#endif
