/* Redaction, cleaning and rendering around the language model (see llm_guard.h). */
#include "bot/llm_guard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GUARD_MAX_URLS 500
#define GUARD_MAX_URL 2048
#define MENTION_REMOVED "[mention removed]"
#define LINK_REMOVED "[link removed]"

/* A growing output buffer; failure is sticky and reported at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static char *sb_done(struct sbuf *b)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	if (!b->p)
		return strdup("");
	return b->p;
}

/* Length of the UTF-8 sequence at p with its code point, or 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
		*cp = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
		return *cp >= 0x80 ? 2 : 0;
	}
	if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		*cp = ((uint32_t)(p[0] & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		return *cp >= 0x800 && (*cp < 0xd800 || *cp > 0xdfff) ? 3 : 0;
	}
	if ((p[0] & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80 &&
	    (p[3] & 0xc0) == 0x80) {
		*cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) |
		      ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
		return *cp >= 0x10000 && *cp <= 0x10ffff ? 4 : 0;
	}
	return 0;
}

/* Characters that change how text reads without being seen (or steer bidi layout). */
static int invisible(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7f && cp <= 0x9f) ||
	       cp == 0xad || cp == 0x34f || cp == 0x61c || cp == 0x180e ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) ||
	       (cp >= 0xfe00 && cp <= 0xfe0f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0xe0000 && cp <= 0xe007f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

char *guard_clean(const char *s, size_t max_bytes, size_t *full_len)
{
	struct sbuf b = { 0 };
	size_t cut = (size_t)-1;
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		uint32_t cp = 0;
		size_t n = utf8_decode(p, &cp);

		if (!n) {
			n = 1;
			cp = '?';
			if (max_bytes && cut == (size_t)-1 && b.len + 1 > max_bytes)
				cut = b.len;
			sb_add(&b, "?", 1);
			p += n;
			continue;
		}
		if (!invisible(cp)) {
			if (max_bytes && cut == (size_t)-1 && b.len + n > max_bytes)
				cut = b.len;
			sb_add(&b, (const char *)p, n);
		}
		p += n;
	}
	if (full_len)
		*full_len = b.len;
	if (!b.oom && cut != (size_t)-1 && b.p) {
		b.len = cut;
		b.p[cut] = '\0';
	}
	return sb_done(&b);
}

/* ---- redaction ---- */

static int tok_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static int bearer_char(unsigned char c)
{
	return tok_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* Token formats: a prefix at a word start, then at least min token characters. */
static const struct {
	const char *prefix;
	size_t min;
	int upper_alnum_exact; /* AWS key ids: exactly this many [A-Z0-9] */
} token_formats[] = {
	{ "xoxb-", 10, 0 }, { "xoxp-", 10, 0 }, { "xoxa-", 10, 0 }, { "xoxr-", 10, 0 },
	{ "xoxs-", 10, 0 }, { "xoxe-", 10, 0 }, { "xoxe.xoxp-", 10, 0 }, { "xapp-", 10, 0 },
	{ "ghp_", 20, 0 },  { "gho_", 20, 0 },  { "ghu_", 20, 0 },  { "ghs_", 20, 0 },
	{ "ghr_", 20, 0 },  { "github_pat_", 20, 0 }, { "glpat-", 20, 0 }, { "sk-", 20, 0 },
	{ "AKIA", 16, 1 },  { "ASIA", 16, 1 },
};

/* Length of a token starting at s (0 when none). */
static size_t match_token(const char *s, const char *start)
{
	if (s > start && (tok_char((unsigned char)s[-1]) || s[-1] == '.'))
		return 0;
	for (size_t i = 0; i < sizeof(token_formats) / sizeof(token_formats[0]); i++) {
		size_t pl = strlen(token_formats[i].prefix), n = 0;

		if (strncmp(s, token_formats[i].prefix, pl) != 0)
			continue;
		if (token_formats[i].upper_alnum_exact) {
			while (n < 17 && ((s[pl + n] >= 'A' && s[pl + n] <= 'Z') ||
					  (s[pl + n] >= '0' && s[pl + n] <= '9')))
				n++;
			if (n == token_formats[i].min && !tok_char((unsigned char)s[pl + n]))
				return pl + n;
			continue;
		}
		while (tok_char((unsigned char)s[pl + n]) || s[pl + n] == '.')
			n++;
		while (n && s[pl + n - 1] == '.') /* the end of a sentence */
			n--;
		if (n >= token_formats[i].min)
			return pl + n;
	}
	return 0;
}

/* "Bearer <token>" (any case): length of the token part after the space, or 0. */
static size_t match_bearer(const char *s, const char *start, size_t *skip)
{
	size_t n = 0, sp = 6;

	if (strncasecmp(s, "bearer", 6) != 0 || (s > start && tok_char((unsigned char)s[-1])))
		return 0;
	if (s[sp] != ' ' && s[sp] != '\t')
		return 0;
	while (s[sp] == ' ' || s[sp] == '\t')
		sp++;
	while (bearer_char((unsigned char)s[sp + n]))
		n++;
	if (n < 16)
		return 0;
	*skip = sp;
	return n;
}

/* A PEM block from "-----BEGIN " to its "-----END ...-----"; length or 0. */
static size_t match_pem(const char *s, int json_mode)
{
	const char *end, *close;

	if (strncmp(s, "-----BEGIN ", 11) != 0)
		return 0;
	end = strstr(s + 11, "-----END ");
	if (json_mode) {
		/* Never past the end of the JSON string the block sits in. */
		const char *q = s + 11;

		while (*q && *q != '"')
			q += (*q == '\\' && q[1]) ? 2 : 1;
		if (!end || end > q)
			return (size_t)(q - s);
	}
	if (!end)
		return strlen(s);
	close = strstr(end + 9, "-----");
	if (!close)
		return strlen(s);
	return (size_t)(close + 5 - s);
}

/* Slack incoming-webhook URLs carry their secret in the path. */
static size_t match_webhook(const char *s)
{
	static const char host[] = "hooks.slack.com/services/";
	size_t n = 0;

	if (strncmp(s, host, sizeof(host) - 1) != 0)
		return 0;
	s += sizeof(host) - 1;
	while (tok_char((unsigned char)s[n]) || s[n] == '/')
		n++;
	return n >= 8 ? sizeof(host) - 1 + n : 0;
}

char *guard_redact(const char *s, char *const *secrets, size_t nsecrets, int json_mode,
		   int *count)
{
	struct sbuf b = { 0 };
	const char *p = s ? s : "", *start = p;
	int n = 0;

	while (*p) {
		size_t len, skip = 0;
		int hit = 0;

		for (size_t i = 0; i < nsecrets; i++) {
			size_t sl = secrets[i] ? strlen(secrets[i]) : 0;

			if (sl >= 4 && strncmp(p, secrets[i], sl) == 0) {
				sb_str(&b, GUARD_REDACTED);
				p += sl;
				n++;
				hit = 1;
				break;
			}
		}
		if (hit)
			continue;
		if ((len = match_pem(p, json_mode)) != 0) {
			sb_str(&b, "[REDACTED PEM BLOCK]");
			p += len;
			n++;
			continue;
		}
		if ((len = match_token(p, start)) != 0) {
			sb_str(&b, GUARD_REDACTED);
			p += len;
			n++;
			continue;
		}
		if ((len = match_bearer(p, start, &skip)) != 0) {
			sb_add(&b, p, skip);
			sb_str(&b, GUARD_REDACTED);
			p += skip + len;
			n++;
			continue;
		}
		if ((len = match_webhook(p)) != 0) {
			sb_str(&b, "hooks.slack.com/services/" GUARD_REDACTED);
			p += len;
			n++;
			continue;
		}
		sb_add(&b, p, 1);
		p++;
	}
	if (count)
		*count = n;
	return sb_done(&b);
}

#define GUARD_MAX_DEPTH 128

static int redact_node(json_t *node, char *const *secrets, size_t nsecrets, int depth)
{
	const char *key;
	json_t *v;
	size_t i;
	int total = 0, n;

	if (depth > GUARD_MAX_DEPTH)
		return 0;
	if (json_is_string(node)) {
		char *out = guard_redact(json_string_value(node), secrets, nsecrets, 0, &n);

		if (!out)
			return -1;
		if (n && json_string_set(node, out) != 0)
			n = -1;
		free(out);
		return n;
	}
	if (json_is_array(node)) {
		json_array_foreach(node, i, v) {
			if ((n = redact_node(v, secrets, nsecrets, depth + 1)) < 0)
				return -1;
			total += n;
		}
	} else if (json_is_object(node)) {
		json_object_foreach(node, key, v) {
			if ((n = redact_node(v, secrets, nsecrets, depth + 1)) < 0)
				return -1;
			total += n;
		}
	}
	return total;
}

int guard_redact_json(json_t *root, char *const *secrets, size_t nsecrets)
{
	return redact_node(root, secrets, nsecrets, 0);
}

/* ---- links and mentions ---- */

static int url_char(unsigned char c)
{
	return c > 0x20 && c != '<' && c != '>' && c != '"' && c != '\'' && c != '`' && c != '|' &&
	       c != 0x7f;
}

/* Length of an http(s) URL at s (trailing sentence punctuation excluded), or 0. */
static size_t url_len(const char *s)
{
	size_t n;

	if (strncasecmp(s, "http://", 7) == 0)
		n = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		n = 8;
	else
		return 0;
	if (!url_char((unsigned char)s[n]))
		return 0;
	while (url_char((unsigned char)s[n]))
		n++;
	while (n > 8 && strchr(".,;:!?)]}*", s[n - 1]))
		n--;
	return n;
}

void guard_collect_urls(const char *text, json_t *urls)
{
	const char *p = text ? text : "";

	while (*p) {
		size_t n = (p == text || !url_char((unsigned char)p[-1]) || p[-1] == '(' ||
			    p[-1] == '|')
				   ? url_len(p)
				   : 0;
		size_t i;
		json_t *v;
		int dup = 0;

		if (!n) {
			p++;
			continue;
		}
		if (n < GUARD_MAX_URL && json_array_size(urls) < GUARD_MAX_URLS) {
			json_array_foreach(urls, i, v) {
				if (json_string_length(v) == n && memcmp(json_string_value(v), p, n) == 0) {
					dup = 1;
					break;
				}
			}
			if (!dup)
				json_array_append_new(urls, json_stringn(p, n));
		}
		p += n;
	}
}

static int url_allowed(const json_t *allowed, const char *u, size_t n)
{
	size_t i;
	json_t *v;

	json_array_foreach(allowed, i, v)
		if (json_string_length(v) == n && memcmp(json_string_value(v), u, n) == 0)
			return 1;
	return 0;
}

static const char *const bare_mentions[] = { "@channel", "@here", "@everyone" };

char *guard_render(const char *text, const json_t *allowed, size_t max_bytes)
{
	struct sbuf b = { 0 };
	char *clean = guard_clean(text, 0, NULL), *out;
	const char *p;

	if (!clean)
		return NULL;
	p = clean;
	while (*p) {
		size_t n;
		int done = 0;

		/* Slack's angle-bracket syntax: <@U1>, <!here>, <#C1|name>, <https://x|label>. */
		if (*p == '<' && (p[1] == '@' || p[1] == '!' || p[1] == '#')) {
			const char *close = strchr(p, '>');

			if (close && close - p < 200) {
				sb_str(&b, MENTION_REMOVED);
				p = close + 1;
				continue;
			}
		}
		if (*p == '<' && (n = url_len(p + 1)) != 0) {
			const char *q = p + 1 + n, *close;

			while (url_char((unsigned char)*q))
				q++;
			close = *q == '|' ? strchr(q, '>') : *q == '>' ? q : NULL;
			if (close && close - p < GUARD_MAX_URL) {
				if (*q == '|')
					sb_add(&b, q + 1, (size_t)(close - q - 1));
				if (url_allowed(allowed, p + 1, n)) {
					sb_str(&b, *q == '|' ? " (" : "");
					sb_add(&b, p + 1, n);
					sb_str(&b, *q == '|' ? ")" : "");
				} else {
					sb_str(&b, *q == '|' ? " " LINK_REMOVED : LINK_REMOVED);
				}
				p = close + 1;
				continue;
			}
		}
		/* Markdown: [label](url). */
		if (*p == '[') {
			const char *rb = strchr(p, ']');

			if (rb && rb - p < 500 && rb[1] == '(' && (n = url_len(rb + 2)) != 0 &&
			    rb[2 + n] == ')') {
				sb_add(&b, p + 1, (size_t)(rb - p - 1));
				if (url_allowed(allowed, rb + 2, n)) {
					sb_str(&b, " (");
					sb_add(&b, rb + 2, n);
					sb_str(&b, ")");
				} else {
					sb_str(&b, " " LINK_REMOVED);
				}
				p = rb + 3 + n;
				continue;
			}
		}
		if ((p == clean || !url_char((unsigned char)p[-1]) || p[-1] == '(') &&
		    (n = url_len(p)) != 0) {
			if (url_allowed(allowed, p, n))
				sb_add(&b, p, n);
			else
				sb_str(&b, LINK_REMOVED);
			p += n;
			continue;
		}
		if (*p == '@' && (p == clean || !tok_char((unsigned char)p[-1]))) {
			for (size_t i = 0; i < sizeof(bare_mentions) / sizeof(bare_mentions[0]); i++) {
				size_t ml = strlen(bare_mentions[i]);

				if (strncasecmp(p, bare_mentions[i], ml) == 0 &&
				    !tok_char((unsigned char)p[ml])) {
					sb_str(&b, MENTION_REMOVED);
					p += ml;
					done = 1;
					break;
				}
			}
			if (done)
				continue;
		}
		sb_add(&b, p, 1);
		p++;
	}
	free(clean);
	out = sb_done(&b);
	if (out && max_bytes && strlen(out) > max_bytes) {
		size_t cut = max_bytes > 3 ? max_bytes - 3 : 0;

		while (cut && ((unsigned char)out[cut] & 0xc0) == 0x80)
			cut--;
		memcpy(out + cut, "...", 4);
	}
	return out;
}
