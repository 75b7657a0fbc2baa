#include "bot/urlenc.h"

int t0_url_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!cap)
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			   *p == '~';

		if (o + (keep ? 1 : 3) >= cap) {
			out[0] = '\0';
			return -1;
		}
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}
