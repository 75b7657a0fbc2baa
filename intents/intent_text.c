/*
 * Text clean-up before matching. Pure string work on bounded buffers; no
 * allocation.
 */
#include "intents/intent.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "bot/t0.h"

/* The name people address the bot by in plain text. */
#define BOT_NAME "tier0"

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_word(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Case-insensitive prefix test; returns the prefix length or 0. */
static size_t prefix_ci(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncasecmp(s, prefix, n) == 0 ? n : 0;
}

/* Bytes taken by a mention at s ("@tier0", "<@U123|name>", "<at>tier0</at>"), or 0. */
static size_t mention_at(const char *s, int bare_ok)
{
	size_t n;

	if (s[0] == '<' && s[1] == '@') {
		n = 2;
		while (isalnum((unsigned char)s[n]))
			n++;
		if (n == 2)
			return 0;
		if (s[n] == '|') {
			while (s[n] && s[n] != '>' && n < 128)
				n++;
		}
		return s[n] == '>' ? n + 1 : 0;
	}
	if ((n = prefix_ci(s, "<at>")) > 0) {
		const char *end = strstr(s, "</at>");

		if (!end || end - s > 128)
			return 0;
		return (size_t)(end - s) + 5;
	}
	n = s[0] == '@' ? 1 : 0;
	if (!n && !bare_ok) {
		/* Bare "tier0" only counts when followed by ':' or ','. */
		n = prefix_ci(s, BOT_NAME);
		return n && (s[n] == ':' || s[n] == ',') ? n : 0;
	}
	if (!prefix_ci(s + n, BOT_NAME))
		return 0;
	n += strlen(BOT_NAME);
	return is_word((unsigned char)s[n]) ? 0 : n;
}

/* Bytes of a leading mention plus the separator and space after it, or 0. */
static size_t strip_mention(const char *s)
{
	static const char *const greetings[] = {"hey", "hi", "hello", "yo", "ok"};
	size_t n = 0, g, m;

	for (size_t i = 0; i < T0_ARRAY_LEN(greetings) && !n; i++) {
		g = prefix_ci(s, greetings[i]);
		if (!g || (!is_space((unsigned char)s[g]) && s[g] != ','))
			continue;
		while (is_space((unsigned char)s[g]) || s[g] == ',')
			g++;
		m = mention_at(s + g, 1);
		if (m)
			n = g + m;
	}
	if (!n)
		n = mention_at(s, 0);
	if (!n)
		return 0;
	if (s[n] == ':' || s[n] == ',')
		n++;
	while (is_space((unsigned char)s[n]))
		n++;
	return n;
}

int intent_text_normalize(const char *text, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len, o = 0, start = 0, end, skip;

	if (!text || !out || outlen == 0)
		return T0_EINVAL;
	len = strlen(text);
	if (len > INTENT_MAX_TEXT || len >= outlen)
		return T0_ETOOBIG;
	/* Every rewrite below is the same length or shorter, so out never overflows. */
	for (size_t i = 0; i < len;) {
		size_t sl = utf8_seq_len(p + i, len - i);

		if (sl == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (sl == 3 && p[i] == 0xE2 && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0x98 || p[i + 2] == 0x99 || p[i + 2] == 0x9B))
			out[o++] = '\'';
		else if (sl == 3 && p[i] == 0xE2 && p[i + 1] == 0x80 &&
			 (p[i + 2] == 0x9C || p[i + 2] == 0x9D || p[i + 2] == 0x9F))
			out[o++] = '"';
		else if (sl == 2 && p[i] == 0xC2 && p[i + 1] == 0xA0)
			out[o++] = ' '; /* no-break space, common in pasted text */
		else {
			memcpy(out + o, p + i, sl);
			o += sl;
		}
		i += sl;
	}
	out[o] = '\0';
	while (start < o && is_space((unsigned char)out[start]))
		start++;
	skip = strip_mention(out + start);
	start += skip;
	end = o;
	while (end > start && is_space((unsigned char)out[end - 1]))
		end--;
	memmove(out, out + start, end - start);
	out[end - start] = '\0';
	return T0_OK;
}
