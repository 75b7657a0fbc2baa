/*
 * struct reply -> Block Kit. Every string from the core is plain text: it is
 * mrkdwn-escaped (& < > only, as Slack asks) before it goes into a mrkdwn
 * object, and cut to Slack's limits with a visible marker. A reply too big
 * for one message is split across several (at most max_messages); past that
 * the content is truncated visibly while the buttons and small print stay.
 */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/reply.h"
#include "bot/t0.h"

#define TRUNC_MARK " …(truncated)"
#define TRUNC_MARK_SHORT "…"

/* One block and the characters of text it carries (for the per-message budget). */
struct blk {
	json_t *b;
	size_t chars;
};

struct blist {
	struct blk *v;
	size_t n, cap;
	int oom;
};

static void blist_add(struct blist *l, json_t *b, size_t chars)
{
	if (!b) {
		l->oom = 1;
		return;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct blk *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv) {
			json_decref(b);
			l->oom = 1;
			return;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].b = b;
	l->v[l->n].chars = chars;
	l->n++;
}

static void blist_clear(struct blist *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i].b);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Characters (code points) in s; invalid bytes count one each. */
static size_t u8_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			n++;
	return n;
}

/* Byte offset of the first byte after max characters. */
static size_t u8_offset(const char *s, size_t max)
{
	size_t n = 0, i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == max)
				return i;
			n++;
		}
	}
	return i;
}

/* A copy of s with invalid UTF-8 bytes replaced by '?', so jansson accepts it. */
static char *u8_clean(const char *s)
{
	char *out = strdup(s ? s : "");

	if (!out)
		return NULL;
	for (unsigned char *p = (unsigned char *)out; *p;) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
					: (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t i;

		for (i = 1; n && i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (!n || i < n) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
	return out;
}

static json_t *jstr(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *c;

	if (j)
		return j;
	c = u8_clean(s);
	if (!c)
		return NULL;
	j = json_string(c);
	if (!j) /* overlong forms, surrogates: keep ASCII */
		for (unsigned char *p = (unsigned char *)c; *p; p++)
			if (*p >= 0x80)
				*p = '?';
	if (!j)
		j = json_string(c);
	free(c);
	return j;
}

char *slack_escape(const char *s)
{
	size_t n = 0;
	char *out, *o;

	if (!s)
		s = "";
	for (const char *p = s; *p; p++)
		n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		if (*p == '&') {
			memcpy(o, "&amp;", 5);
			o += 5;
		} else if (*p == '<') {
			memcpy(o, "&lt;", 4);
			o += 4;
		} else if (*p == '>') {
			memcpy(o, "&gt;", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

/* A cut at byte off must not split an entity such as "&amp;": move back to its '&'. */
static size_t entity_safe(const char *s, size_t off)
{
	for (size_t back = 1; back <= 5 && back <= off; back++) {
		char c = s[off - back];

		if (c == ';')
			break;
		if (c == '&')
			return off - back;
	}
	return off;
}

char *slack_truncate(const char *s, size_t max)
{
	const char *mark = max >= 40 ? TRUNC_MARK : TRUNC_MARK_SHORT;
	size_t keep, off, mlen = strlen(mark);
	char *out;

	if (!s)
		s = "";
	if (u8_len(s) <= max)
		return strdup(s);
	keep = max > u8_len(mark) ? max - u8_len(mark) : 0;
	off = entity_safe(s, u8_offset(s, keep));
	out = malloc(off + mlen + 1);
	if (!out)
		return NULL;
	memcpy(out, s, off);
	memcpy(out + off, mark, mlen + 1);
	return out;
}

static json_t *mrkdwn(const char *text)
{
	return json_pack("{s:s, s:o}", "type", "mrkdwn", "text", jstr(text));
}

static json_t *plain(const char *text)
{
	return json_pack("{s:s, s:o, s:b}", "type", "plain_text", "text", jstr(text), "emoji", 1);
}

/* Escaped, then truncated to max characters (new string). */
static char *esc_trunc(const char *s, size_t max)
{
	char *e = slack_escape(s), *t;

	if (!e)
		return NULL;
	t = slack_truncate(e, max);
	free(e);
	return t;
}

/* Slack reads & < > as control characters in plain_text objects too: escaped, then cut. */
static json_t *plain_trunc(const char *s, size_t max)
{
	char *t = esc_trunc(s, max);
	json_t *j;

	if (!t)
		return NULL;
	j = plain(t);
	free(t);
	return j;
}

/* Where to cut escaped text of at most max characters: a line break, a space, or hard. */
static size_t chunk_end(const char *s, size_t max)
{
	size_t hard = u8_offset(s, max), i;

	if (!s[hard])
		return hard;
	for (i = hard; i > hard / 2; i--)
		if (s[i] == '\n')
			return i + 1;
	for (i = hard; i > hard / 2; i--)
		if (s[i] == ' ')
			return i + 1;
	return entity_safe(s, hard);
}

static int count_fences(const char *s, size_t n)
{
	int k = 0;

	for (size_t i = 0; i + 2 < n; i++)
		if (s[i] == '`' && s[i + 1] == '`' && s[i + 2] == '`') {
			k++;
			i += 2;
		}
	return k;
}

/*
 * Adds escaped mrkdwn text as one or more section blocks of at most
 * SLACK_MAX_SECTION_TEXT characters; a code fence cut in two is closed at the
 * end of one block and opened again in the next.
 */
static void add_text_sections(struct blist *l, const char *text)
{
	const char *p = text;
	int open_fence = 0;

	while (*p) {
		size_t room = SLACK_MAX_SECTION_TEXT - 8, end = chunk_end(p, room);
		char *chunk = malloc(end + 16);
		size_t n = 0;

		if (!chunk) {
			l->oom = 1;
			return;
		}
		if (open_fence) {
			memcpy(chunk, "```\n", 4);
			n = 4;
		}
		memcpy(chunk + n, p, end);
		n += end;
		if ((count_fences(p, end) + open_fence) % 2) {
			memcpy(chunk + n, "\n```", 4);
			n += 4;
			open_fence = 1;
		} else {
			open_fence = 0;
		}
		chunk[n] = '\0';
		if (n) {
			json_t *b = json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(chunk));

			blist_add(l, b, u8_len(chunk));
		}
		free(chunk);
		p += end;
		if (end == 0) /* cannot happen with room > 0; never loop forever */
			break;
	}
}

static void add_reply_text(struct blist *l, const char *text)
{
	char *e;

	if (!text || !*text)
		return;
	e = slack_escape(text);
	if (!e) {
		l->oom = 1;
		return;
	}
	add_text_sections(l, e);
	free(e);
}

/* "*label*\nvalue", escaped, at most SLACK_MAX_FIELD_TEXT characters. */
static json_t *field_obj(const struct reply_field *f, size_t *chars)
{
	char *label = slack_escape(f->label ? f->label : ""), *value = slack_escape(f->value ? f->value : "");
	char *both = NULL, *cut = NULL;
	json_t *j = NULL;
	size_t n;

	if (!label || !value)
		goto out;
	n = strlen(label) + strlen(value) + 8;
	both = malloc(n);
	if (!both)
		goto out;
	if (*label && *value)
		snprintf(both, n, "*%s*\n%s", label, value);
	else if (*label)
		snprintf(both, n, "*%s*", label);
	else
		snprintf(both, n, "%s", *value ? value : " ");
	cut = slack_truncate(both, SLACK_MAX_FIELD_TEXT);
	if (!cut)
		goto out;
	*chars = u8_len(cut);
	j = mrkdwn(cut);
out:
	free(label);
	free(value);
	free(both);
	free(cut);
	return j;
}

static void add_section(struct blist *l, const struct reply_section *sec)
{
	char *title = NULL, *body = NULL, *joined = NULL;
	size_t i = 0;

	if (sec->title && *sec->title) {
		char *t = esc_trunc(sec->title, 200);

		if (!t) {
			l->oom = 1;
			return;
		}
		title = malloc(strlen(t) + 3);
		if (title)
			snprintf(title, strlen(t) + 3, "*%s*", t);
		free(t);
		if (!title) {
			l->oom = 1;
			return;
		}
	}
	if (sec->text && *sec->text) {
		body = slack_escape(sec->text);
		if (!body) {
			l->oom = 1;
			goto out;
		}
	}
	if (title && body) {
		size_t n = strlen(title) + strlen(body) + 2;

		joined = malloc(n);
		if (!joined) {
			l->oom = 1;
			goto out;
		}
		snprintf(joined, n, "%s\n%s", title, body);
	}
	/*
	 * Text (or just the title) goes into plain sections; the last of them
	 * carries the first group of fields, so a title sits on top of its fields.
	 */
	{
		const char *text = joined ? joined : title ? title : body;
		size_t first = l->n;

		if (text)
			add_text_sections(l, text);
		for (; i < sec->nfields;) {
			json_t *fields = json_array(), *blk;
			size_t chars = 0, k;

			if (!fields) {
				l->oom = 1;
				goto out;
			}
			for (k = 0; k < SLACK_MAX_FIELDS && i < sec->nfields; k++, i++) {
				size_t c = 0;

				json_array_append_new(fields, field_obj(&sec->fields[i], &c));
				chars += c;
			}
			if (l->n > first && i <= SLACK_MAX_FIELDS && !l->oom) {
				/* the first group joins the title/text block */
				blk = l->v[l->n - 1].b;
				json_object_set_new(blk, "fields", fields);
				l->v[l->n - 1].chars += chars;
				continue;
			}
			blk = json_pack("{s:s, s:o}", "type", "section", "fields", fields);
			blist_add(l, blk, chars);
		}
	}
out:
	free(title);
	free(body);
	free(joined);
}

static json_t *confirm_obj(const struct reply_button *b)
{
	char *q = NULL, *t = NULL;
	json_t *j = NULL;
	size_t n;

	if (b->confirm && *b->confirm) {
		q = strdup(b->confirm);
	} else {
		n = strlen(b->label) + 32;
		q = malloc(n);
		if (q)
			snprintf(q, n, "%s: are you sure?", b->label);
	}
	if (!q)
		return NULL;
	t = esc_trunc(q, 300);
	if (t)
		j = json_pack("{s:o, s:o, s:o, s:o, s:s}", "title", plain_trunc("Are you sure?", 100),
			      "text", mrkdwn(t), "confirm", plain_trunc(b->label, 30), "deny",
			      plain("Cancel"), "style",
			      b->style == REPLY_STYLE_DANGER ? "danger" : "primary");
	free(q);
	free(t);
	return j;
}

static json_t *button_obj(const struct reply_button *b)
{
	json_t *j = json_pack("{s:s, s:o, s:o, s:o}", "type", "button", "text",
			      plain_trunc(b->label, SLACK_MAX_BUTTON_TEXT), "action_id",
			      jstr(b->action_id), "value", jstr(b->value ? b->value : ""));

	if (!j)
		return NULL;
	if (b->style == REPLY_STYLE_PRIMARY)
		json_object_set_new(j, "style", json_string("primary"));
	else if (b->style == REPLY_STYLE_DANGER)
		json_object_set_new(j, "style", json_string("danger"));
	/* Danger buttons always ask first; others when the core asks for it. */
	if (b->style == REPLY_STYLE_DANGER || (b->confirm && *b->confirm))
		json_object_set_new(j, "confirm", confirm_obj(b));
	return j;
}

/*
 * Buttons in actions blocks: at most 25 per block, and a new block when an
 * action_id repeats (Slack wants them unique within a block). A button whose
 * action_id or value Slack would refuse is left out: cutting either would
 * change what the click means.
 */
static void add_buttons(struct blist *l, const struct reply *r)
{
	json_t *elems = NULL;
	size_t chars = 0;

	for (size_t i = 0; i < r->nbuttons; i++) {
		const struct reply_button *b = &r->buttons[i];
		int dup = 0;
		size_t k;
		json_t *e;

		if (strlen(b->action_id) > SLACK_MAX_ACTION_ID || !*b->action_id ||
		    (b->value && strlen(b->value) > SLACK_MAX_BUTTON_VALUE))
			continue;
		json_array_foreach(elems, k, e)
			if (strcmp(json_string_value(json_object_get(e, "action_id")), b->action_id) == 0)
				dup = 1;
		if (elems && (dup || json_array_size(elems) >= SLACK_MAX_ACTIONS)) {
			blist_add(l, json_pack("{s:s, s:o}", "type", "actions", "elements", elems), chars);
			elems = NULL;
			chars = 0;
		}
		if (!elems && !(elems = json_array())) {
			l->oom = 1;
			return;
		}
		json_array_append_new(elems, button_obj(b));
		chars += u8_len(b->label);
	}
	if (elems)
		blist_add(l, json_pack("{s:s, s:o}", "type", "actions", "elements", elems), chars);
}

static void add_context(struct blist *l, char *const *lines, size_t n)
{
	for (size_t i = 0; i < n;) {
		json_t *elems = json_array();
		size_t chars = 0;

		if (!elems) {
			l->oom = 1;
			return;
		}
		for (size_t k = 0; k < SLACK_MAX_CONTEXT_ELEMENTS && i < n; k++, i++) {
			char *t = esc_trunc(lines[i] ? lines[i] : "", 2000);

			if (!t) {
				l->oom = 1;
				break;
			}
			json_array_append_new(elems, mrkdwn(*t ? t : " "));
			chars += u8_len(t);
			free(t);
		}
		blist_add(l, json_pack("{s:s, s:o}", "type", "context", "elements", elems), chars);
	}
}

/* How many messages the blocks need (each <= SLACK_MAX_BLOCKS blocks and <= SLACK_MAX_MESSAGE_CHARS). */
static size_t pack_count(const struct blk *v, size_t n)
{
	size_t msgs = n ? 1 : 0, blocks = 0, chars = 0;

	for (size_t i = 0; i < n; i++) {
		if (blocks + 1 > SLACK_MAX_BLOCKS || (blocks && chars + v[i].chars > SLACK_MAX_MESSAGE_CHARS)) {
			msgs++;
			blocks = 0;
			chars = 0;
		}
		blocks++;
		chars += v[i].chars;
	}
	return msgs;
}

/* The top-level "text": the reply's headline, else its first words. Always set. */
static char *fallback_text(const struct reply *r)
{
	const char *src = r->text;

	for (size_t i = 0; (!src || !*src) && i < r->nsections; i++)
		src = r->sections[i].title && *r->sections[i].title ? r->sections[i].title
								    : r->sections[i].text;
	for (size_t i = 0; (!src || !*src) && i < r->ncontext; i++)
		src = r->context[i];
	if (!src || !*src)
		src = r->nbuttons ? "Choose an option" : "(no text)";
	return esc_trunc(src, SLACK_MAX_FALLBACK);
}

json_t *slack_render(const struct reply *r, size_t max_messages)
{
	struct blist content = { 0 }, trailer = { 0 }, all = { 0 };
	json_t *out = NULL, *msg = NULL, *blocks = NULL;
	char *fallback = NULL;
	size_t blocks_n = 0, chars = 0, dropped = 0;

	if (max_messages == 0)
		max_messages = 1;
	add_reply_text(&content, r->text);
	for (size_t i = 0; i < r->nsections; i++)
		add_section(&content, &r->sections[i]);
	add_buttons(&trailer, r);
	add_context(&trailer, r->context, r->ncontext);
	if (content.oom || trailer.oom)
		goto out;

	/* Too much for max_messages: drop content from the end and say so. */
	for (;;) {
		struct blk tmp[SLACK_MAX_BLOCKS * SLACK_MAX_REPLY_MESSAGES + 64];
		size_t n = 0;

		if (content.n + trailer.n + 1 > T0_ARRAY_LEN(tmp)) {
			dropped++;
			json_decref(content.v[--content.n].b);
			continue;
		}
		for (size_t i = 0; i < content.n; i++)
			tmp[n++] = content.v[i];
		if (dropped)
			tmp[n++] = (struct blk){ NULL, 40 };
		for (size_t i = 0; i < trailer.n; i++)
			tmp[n++] = trailer.v[i];
		if (pack_count(tmp, n) <= max_messages || content.n == 0)
			break;
		dropped++;
		json_decref(content.v[--content.n].b);
	}
	for (size_t i = 0; i < content.n; i++)
		blist_add(&all, json_incref(content.v[i].b), content.v[i].chars);
	if (dropped) {
		char note[96];

		snprintf(note, sizeof(note), "…(truncated: %zu more part%s not shown)", dropped,
			 dropped == 1 ? "" : "s");
		blist_add(&all, json_pack("{s:s, s:[o]}", "type", "context", "elements", mrkdwn(note)), 40);
	}
	for (size_t i = 0; i < trailer.n; i++)
		blist_add(&all, json_incref(trailer.v[i].b), trailer.v[i].chars);
	if (all.oom)
		goto out;

	fallback = fallback_text(r);
	out = json_array();
	if (!fallback || !out)
		goto fail;
	for (size_t i = 0; i < all.n; i++) {
		if (!blocks || blocks_n + 1 > SLACK_MAX_BLOCKS ||
		    (blocks_n && chars + all.v[i].chars > SLACK_MAX_MESSAGE_CHARS)) {
			msg = json_pack("{s:o, s:o}", "text",
					jstr(json_array_size(out) ? "(continued)" : fallback), "blocks",
					blocks = json_array());
			if (!msg || json_array_append_new(out, msg) != 0)
				goto fail;
			blocks_n = 0;
			chars = 0;
		}
		json_array_append(blocks, all.v[i].b);
		blocks_n++;
		chars += all.v[i].chars;
	}
	if (json_array_size(out) == 0) {
		/* Nothing but a headline that was empty: the fallback text alone. */
		msg = json_pack("{s:o, s:[]}", "text", jstr(fallback), "blocks");
		if (!msg || json_array_append_new(out, msg) != 0)
			goto fail;
	}
	goto out;
fail:
	json_decref(out);
	out = NULL;
out:
	free(fallback);
	blist_clear(&content);
	blist_clear(&trailer);
	blist_clear(&all);
	return out;
}

json_t *slack_render_decision(const json_t *orig_blocks, const char *orig_text,
			      const char *decision_mrkdwn, const struct reply *r)
{
	json_t *blocks = json_array(), *msg = NULL, *rendered = NULL, *b;
	const char *text = NULL;
	char *fallback = NULL;
	size_t i;

	if (!blocks)
		return NULL;
	json_array_foreach(orig_blocks, i, b) {
		const char *type = json_string_value(json_object_get(b, "type"));

		if (type && strcmp(type, "actions") == 0)
			continue;
		if (json_array_size(blocks) >= SLACK_MAX_BLOCKS / 2)
			break;
		json_array_append(blocks, b);
	}
	if (decision_mrkdwn && *decision_mrkdwn)
		json_array_append_new(blocks, json_pack("{s:s, s:[o]}", "type", "context", "elements",
							mrkdwn(decision_mrkdwn)));
	if (r) {
		rendered = slack_render(r, 1);
		json_array_foreach(json_object_get(json_array_get(rendered, 0), "blocks"), i, b) {
			if (json_array_size(blocks) >= SLACK_MAX_BLOCKS)
				break;
			json_array_append(blocks, b);
		}
		text = json_string_value(json_object_get(json_array_get(rendered, 0), "text"));
	}
	if (!text || !*text) {
		fallback = orig_text && *orig_text ? slack_truncate(orig_text, SLACK_MAX_FALLBACK)
						   : strdup("(updated)");
		text = fallback;
	}
	msg = json_pack("{s:o, s:o}", "text", jstr(text ? text : "(updated)"), "blocks", blocks);
	json_decref(rendered);
	free(fallback);
	return msg;
}
