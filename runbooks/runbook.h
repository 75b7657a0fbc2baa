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

/* Bounds: oversized input is an error (files, counts) or truncated (text). */
#define RUNBOOK_MAX_FILE (256u * 1024)  /* bytes per runbook file */
#define RUNBOOK_MAX_COUNT 1000          /* runbooks per set */
#define RUNBOOK_MAX_STEPS 10            /* steps kept per runbook */
#define RUNBOOK_MAX_STEP_LEN 512        /* bytes per step, longer ones are cut */
#define RUNBOOK_MAX_SUMMARY 1024        /* bytes of summary, longer ones are cut */
#define RUNBOOK_MAX_LIST 64             /* services, actions, tags per runbook */
#define RUNBOOK_MAX_ALERTS 32           /* alert patterns per runbook */
#define RUNBOOK_MAX_ITEM_LEN 256        /* bytes per title, service, action, pattern */
#define RUNBOOK_MAX_ALERT_TEXT 4096     /* bytes of alert text matched */
#define RUNBOOK_MATCH_LIMIT 100000      /* PCRE2 match limit per pattern */

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
/*
 * Loads files; relative paths resolve against base_dir. err names file:line.
 * A path is a file, a directory (its *.md files, not recursive, in byte order)
 * or a glob. A file named explicitly must have front matter; files found by a
 * directory or glob without front matter are skipped with a warning (README.md).
 * A file reached twice loads once. On error nothing from this call is kept.
 */
int runbook_set_load(struct runbook_set *set, const char *const *paths, size_t npaths,
		     const char *base_dir, char *err, size_t errlen);
size_t runbook_set_count(const struct runbook_set *set);
const struct runbook *runbook_set_at(const struct runbook_set *set, size_t i);

/* Front matter `owner` (NULL when absent) and `tags`; borrowed from the runbook. */
const char *runbook_owner(const struct runbook *rb);
const char *const *runbook_tags(const struct runbook *rb, size_t *n);

/*
 * Best matches for a service name and/or alert text (either may be NULL), best
 * first: an alert pattern match ranks above a service match. Returns how many
 * were written to out (at most max).
 *
 * Score = 4 when an alert pattern matches alert_text, + 2 when service equals
 * the runbook's first listed service (+ 1 for another listed one; case-
 * insensitive; a listed service appearing as a word in alert_text counts the
 * same); ties keep load order.
 */
size_t runbook_match(const struct runbook_set *set, const char *service, const char *alert_text,
		     const struct runbook **out, size_t max);

#endif
