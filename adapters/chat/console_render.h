/* Plain-text rendering of a reply for the terminal; deterministic for golden tests. */
#ifndef T0_CONSOLE_RENDER_H
#define T0_CONSOLE_RENDER_H

#include <stddef.h>

struct reply;

/*
 * Renders r into a NUL-terminated buffer the caller frees. Control characters,
 * C1 controls and bidirectional overrides are replaced so that nothing a user
 * typed can drive the terminal. Buttons become numbered choices.
 */
char *console_render(const struct reply *r, size_t *len);

/* Copies s into out (at most outlen-1 bytes) with unsafe characters replaced by '?'. */
size_t console_sanitize(const char *s, char *out, size_t outlen);

#endif
