/* Percent-encoding of one URL path segment or query value (RFC 3986 unreserved kept). */
#ifndef T0_URLENC_H
#define T0_URLENC_H

#include <stddef.h>

/*
 * Writes s percent-encoded into out (NUL-terminated). Returns 0, or -1 when it
 * does not fit: out is then empty, never a truncated id that could name
 * another resource.
 */
int t0_url_encode(const char *s, char *out, size_t cap);

#endif
