/*
 * Guardrails around the language model, all pure functions (no I/O):
 *
 * - guard_redact: secrets out of everything sent to a provider (token
 *   formats: Slack xoxb-/xoxp-/xapp-, GitHub ghp_/github_pat_, OpenAI and
 *   Anthropic sk-, GitLab glpat-, AWS AKIA/ASIA key ids, Bearer tokens, PEM
 *   blocks, Slack webhook paths; and every configured secret, cfg->secrets);
 * - guard_clean: tool output made safe to show a model: invisible and
 *   bidirectional control characters and other controls removed, invalid
 *   UTF-8 replaced, cut to a bound at a character boundary;
 * - guard_render: model text made safe to show people: mentions it wrote
 *   (<@U123>, <!channel>, @here) neutralised, links not present in the data
 *   it was given (tool results, the question) removed.
 *
 * Every function returns a new string (caller frees) or NULL when out of memory.
 */
#ifndef T0_LLM_GUARD_H
#define T0_LLM_GUARD_H

#include <jansson.h>
#include <stddef.h>

#define GUARD_REDACTED "[REDACTED]"

/*
 * Replaces secrets. json_mode: s is a serialised JSON document; a PEM block
 * without its END line is then cut at the end of its JSON string, never past
 * it, so the document stays valid. *count (may be NULL) gets the number of
 * replacements. Configured secrets shorter than 4 bytes are ignored.
 */
char *guard_redact(const char *s, char *const *secrets, size_t nsecrets, int json_mode,
		   int *count);

/*
 * The same for every string value of a JSON tree, in place (object keys are
 * left alone, so the document keeps its shape whatever the secrets are).
 * Nesting deeper than 128 levels is not visited. Returns the number of
 * replacements, or -1 when out of memory.
 */
int guard_redact_json(json_t *root, char *const *secrets, size_t nsecrets);

/*
 * Removes zero-width and bidi controls (U+200B-U+200F, U+202A-U+202E,
 * U+2060-U+2064, U+2066-U+2069, U+FEFF, U+00AD, U+061C, U+180E, tag
 * characters U+E0000-U+E007F, variation selectors, U+FFF9-U+FFFB), C0/C1
 * controls other than tab and newline; invalid UTF-8 bytes become '?'. The
 * result is at most max_bytes (0 = no limit), cut at a character boundary;
 * *full_len (may be NULL) is the cleaned length before the cut.
 */
char *guard_clean(const char *s, size_t max_bytes, size_t *full_len);

/* Adds every http(s) URL in text to the array urls (strings, no duplicates, at most 500). */
void guard_collect_urls(const char *text, json_t *urls);

/*
 * Model text for people: cleaned as guard_clean, then Slack mentions
 * (<@U..>, <!channel>, <!here>, <!subteam^..>, <#C..>) and bare @channel,
 * @here, @everyone become "[mention removed]"; a URL (bare, <url|label> or
 * [label](url)) stays only when it is in allowed (an array of strings, may be
 * NULL), else it becomes "[link removed]" (a label is kept as text). At most
 * max_bytes (0 = no limit), cut with "...".
 */
char *guard_render(const char *text, const json_t *allowed, size_t max_bytes);

#endif
