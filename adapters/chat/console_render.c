#include "adapters/chat/console_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/reply.h"

#define RENDER_MAX (256u * 1024)

struct sbuf {
	char *p;
	size_t len, cap;
	int full;
};

/* Length of a character sequence that must not reach the terminal at s, or 0. */
static size_t unsafe_at(const unsigned char *s)
{
	if (s[0] < 0x20 && s[0] != '\n' && s[0] != '\t')
		return 1;
	if (s[0] == 0x7f)
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f) /* C1 controls */
		return 2;
	if (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae) /* LRE..RLO */
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9) /* LRI..PDI */
		return 3;
	return 0;
}

size_t console_sanitize(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	if (!outlen)
		return 0;
	while (*p && n + 1 < outlen) {
		size_t bad = unsafe_at(p);

		if (bad) {
			out[n++] = '?';
			p += bad;
			continue;
		}
		out[n++] = (char)*p++;
	}
	out[n] = '\0';
	return n;
}

static void put(struct sbuf *b, const char *s)
{
	size_t need = strlen(s) + 1;
	const unsigned char *p = (const unsigned char *)s;

	if (b->full)
		return;
	if (b->len + need > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;

		while (ncap < b->len + need)
			ncap *= 2;
		if (ncap > RENDER_MAX) {
			b->full = 1;
			return;
		}
		np = realloc(b->p, ncap);
		if (!np) {
			b->full = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	while (*p) {
		size_t bad = unsafe_at(p);

		if (bad) {
			b->p[b->len++] = '?';
			p += bad;
		} else {
			b->p[b->len++] = (char)*p++;
		}
	}
	b->p[b->len] = '\0';
}

/* Writes text with every line after the first indented by ind. */
static void put_indented(struct sbuf *b, const char *ind, const char *text)
{
	const char *line = text;

	put(b, ind);
	while (*line) {
		const char *nl = strchr(line, '\n');
		char chunk[1024];
		size_t n = nl ? (size_t)(nl - line) : strlen(line);

		while (n > 0) {
			size_t take = n < sizeof(chunk) - 1 ? n : sizeof(chunk) - 1;

			memcpy(chunk, line, take);
			chunk[take] = '\0';
			put(b, chunk);
			line += take;
			n -= take;
		}
		if (!nl)
			break;
		put(b, "\n");
		put(b, ind);
		line = nl + 1;
	}
	put(b, "\n");
}

char *console_render(const struct reply *r, size_t *len)
{
	struct sbuf b = { 0 };
	char num[32];

	put(&b, "");
	if (r->text)
		put_indented(&b, "", r->text);
	for (size_t i = 0; i < r->nsections; i++) {
		const struct reply_section *s = &r->sections[i];

		if (s->title) {
			put(&b, "  == ");
			put(&b, s->title);
			put(&b, " ==\n");
		}
		if (s->text)
			put_indented(&b, "  ", s->text);
		for (size_t j = 0; j < s->nfields; j++) {
			put(&b, "  ");
			put(&b, s->fields[j].label);
			put(&b, ": ");
			put_indented(&b, "", s->fields[j].value);
		}
	}
	for (size_t i = 0; i < r->nbuttons; i++) {
		snprintf(num, sizeof(num), "  [%zu] ", i + 1);
		put(&b, num);
		put(&b, r->buttons[i].label);
		if (r->buttons[i].style == REPLY_STYLE_DANGER)
			put(&b, " (!)");
		put(&b, "\n");
	}
	if (r->nbuttons)
		put(&b, "  (type the number to choose)\n");
	for (size_t i = 0; i < r->ncontext; i++) {
		put(&b, "  -- ");
		put(&b, r->context[i]);
		put(&b, "\n");
	}
	if (b.full) {
		free(b.p);
		return NULL;
	}
	if (len)
		*len = b.len;
	return b.p;
}
