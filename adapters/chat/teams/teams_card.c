/* Reply -> Teams message or Adaptive Card, escaped and size-bounded. */
#include "adapters/chat/teams/teams_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/reply.h"
#include "bot/t0.h"

/* Text caps tried in turn when a message is too large; 0 = no cap. */
static const size_t card_caps[] = { 0, 4000, 2000, 1000, 500, 250, 120 };
#define CARD_CUT_MARK " … (cut)"
/* Fields that fit side by side in columns rather than a fact list. */
#define CARD_COLUMNS_MAX 3
#define CARD_COLUMN_LABEL_MAX 24
#define CARD_COLUMN_VALUE_MAX 32

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap * 2 : 64;
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

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3- and 4-byte forms, surrogates and code points past U+10FFFF */
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}

static int at_line_start(const char *s, const char *p)
{
	while (p > s && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	return p == s || p[-1] == '\n';
}

char *teams_md_escape(const char *s, int html)
{
	struct buf b = { 0 };
	const char *p;

	if (!s)
		s = "";
	buf_put(&b, "", 0);
	for (p = s; *p;) {
		size_t n;

		/* A URL stays as written so that it still links. */
		if ((!strncmp(p, "https://", 8) || !strncmp(p, "http://", 7)) &&
		    (p == s || strchr(" \t\n(<", p[-1]))) {
			n = strcspn(p, " \t\r\n<>\"");
			while (n && strchr(".,;:)!?", p[n - 1]))
				n--;
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)p[i] >= 0x80 && !utf8_len((const unsigned char *)p + i))
					n = i;
			if (n > 8) {
				buf_put(&b, p, n);
				p += n;
				continue;
			}
		}
		n = utf8_len((const unsigned char *)p);
		if (!n) {
			buf_put(&b, "?", 1);
			p++;
			continue;
		}
		if (n > 1) {
			buf_put(&b, p, n);
			p += n;
			continue;
		}
		switch (*p) {
		case '\\': case '*': case '_': case '[': case ']': case '`': case '~':
			buf_put(&b, "\\", 1);
			buf_put(&b, p, 1);
			break;
		case '-': case '+': case '#': case '>': case '|':
			if (at_line_start(s, p) || *p == '|')
				buf_put(&b, "\\", 1);
			if (*p == '>' && html)
				buf_put(&b, "&gt;", 4);
			else
				buf_put(&b, p, 1);
			break;
		case '<':
			buf_put(&b, html ? "&lt;" : "<", html ? 4 : 1);
			break;
		case '&':
			buf_put(&b, html ? "&amp;" : "&", html ? 5 : 1);
			break;
		case '\r':
			break;
		default:
			/* "1. " at a line start would become a numbered list */
			if (*p >= '0' && *p <= '9' && at_line_start(s, p)) {
				size_t d = strspn(p, "0123456789");

				if (p[d] == '.' || p[d] == ')') {
					buf_put(&b, p, d);
					buf_put(&b, "\\", 1);
					buf_put(&b, p + d, 1);
					p += d + 1;
					continue;
				}
			}
			if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
				buf_put(&b, " ", 1);
			else
				buf_put(&b, p, 1);
			break;
		}
		p++;
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Escaped text cut at cap bytes of source (at a character boundary), marked when cut. */
static json_t *md_string(const char *s, int html, size_t cap, int *cut)
{
	char *src = NULL, *esc;
	json_t *j;

	if (!s)
		s = "";
	if (cap && strlen(s) > cap) {
		size_t n = cap;

		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		src = malloc(n + sizeof(CARD_CUT_MARK));
		if (!src)
			return NULL;
		memcpy(src, s, n);
		memcpy(src + n, CARD_CUT_MARK, sizeof(CARD_CUT_MARK));
		*cut = 1;
		s = src;
	}
	esc = teams_md_escape(s, html);
	free(src);
	if (!esc)
		return NULL;
	j = json_string(esc);
	free(esc);
	return j;
}

static json_t *text_block(const char *text, size_t cap, int *cut, const char *weight,
			  const char *size, int subtle)
{
	json_t *tb = json_object();

	json_object_set_new(tb, "type", json_string("TextBlock"));
	json_object_set_new(tb, "text", md_string(text, 0, cap, cut));
	json_object_set_new(tb, "wrap", json_true());
	if (weight)
		json_object_set_new(tb, "weight", json_string(weight));
	if (size)
		json_object_set_new(tb, "size", json_string(size));
	if (subtle)
		json_object_set_new(tb, "isSubtle", json_true());
	return tb;
}

static int fields_fit_columns(const struct reply_section *s)
{
	if (s->nfields < 2 || s->nfields > CARD_COLUMNS_MAX)
		return 0;
	for (size_t i = 0; i < s->nfields; i++)
		if (strlen(s->fields[i].label ? s->fields[i].label : "") > CARD_COLUMN_LABEL_MAX ||
		    strlen(s->fields[i].value ? s->fields[i].value : "") > CARD_COLUMN_VALUE_MAX)
			return 0;
	return 1;
}

/* A few short fields read best side by side; many or long ones as a fact list. */
static json_t *fields_element(const struct reply_section *s, size_t cap, int *cut)
{
	json_t *el = json_object(), *arr = json_array();

	if (fields_fit_columns(s)) {
		json_object_set_new(el, "type", json_string("ColumnSet"));
		for (size_t i = 0; i < s->nfields; i++) {
			json_t *col = json_object(), *items = json_array();

			json_array_append_new(items, text_block(s->fields[i].label, cap, cut, NULL,
								"Small", 1));
			json_array_append_new(items, text_block(s->fields[i].value, cap, cut,
								"Bolder", NULL, 0));
			json_object_set_new(col, "type", json_string("Column"));
			json_object_set_new(col, "width", json_string("stretch"));
			json_object_set_new(col, "items", items);
			json_array_append_new(arr, col);
		}
		json_object_set_new(el, "columns", arr);
		return el;
	}
	json_object_set_new(el, "type", json_string("FactSet"));
	for (size_t i = 0; i < s->nfields; i++) {
		json_t *fact = json_object();

		json_object_set_new(fact, "title", md_string(s->fields[i].label, 0, cap, cut));
		json_object_set_new(fact, "value", md_string(s->fields[i].value, 0, cap, cut));
		json_array_append_new(arr, fact);
	}
	json_object_set_new(el, "facts", arr);
	return el;
}

static json_t *button_data(const struct reply_button *bt)
{
	json_t *d = json_object();

	json_object_set_new(d, TEAMS_DATA_ACTION, json_string(bt->action_id ? bt->action_id : ""));
	json_object_set_new(d, TEAMS_DATA_VALUE, json_string(bt->value ? bt->value : ""));
	return d;
}

static const char *button_style(int style)
{
	switch (style) {
	case REPLY_STYLE_PRIMARY:
		return "positive";
	case REPLY_STYLE_DANGER:
		return "destructive";
	default:
		return NULL;
	}
}

/* Label strings are plain in Teams (no markdown): only invalid UTF-8 is fixed. */
static json_t *plain_string(const char *s)
{
	json_t *j;
	char *copy;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (unsigned char *p = (unsigned char *)copy; *p;) {
		size_t n = utf8_len(p);

		if (!n)
			*p++ = '?';
		else
			p += n;
	}
	j = json_string(copy);
	free(copy);
	return j;
}

/*
 * Action.Execute, so the click arrives as an adaptiveCard/action invoke that
 * the bot answers with the updated card; clients without Universal Actions
 * fall back to Action.Submit (a message activity carrying the same data).
 */
static json_t *execute_action(const struct reply_button *bt, const char *title)
{
	json_t *a = json_object(), *fb = json_object();
	const char *style = button_style(bt->style);

	json_object_set_new(a, "type", json_string("Action.Execute"));
	json_object_set_new(a, "title", plain_string(title));
	json_object_set_new(a, "verb", plain_string(bt->action_id));
	json_object_set_new(a, "data", button_data(bt));
	if (style)
		json_object_set_new(a, "style", json_string(style));
	json_object_set_new(fb, "type", json_string("Action.Submit"));
	json_object_set_new(fb, "title", plain_string(title));
	json_object_set_new(fb, "data", button_data(bt));
	if (style)
		json_object_set_new(fb, "style", json_string(style));
	json_object_set_new(a, "fallback", fb);
	return a;
}

/* A dangerous button opens its question first; the real action sits inside. */
static json_t *button_action(const struct reply_button *bt, size_t cap, int *cut)
{
	json_t *a, *card, *body, *acts;

	if (!bt->confirm)
		return execute_action(bt, bt->label);
	a = json_object();
	card = json_object();
	body = json_array();
	acts = json_array();
	json_array_append_new(body, text_block(bt->confirm, cap, cut, NULL, NULL, 0));
	json_array_append_new(acts, execute_action(bt, "Confirm"));
	json_object_set_new(card, "type", json_string("AdaptiveCard"));
	json_object_set_new(card, "body", body);
	json_object_set_new(card, "actions", acts);
	json_object_set_new(a, "type", json_string("Action.ShowCard"));
	json_object_set_new(a, "title", plain_string(bt->label));
	json_object_set_new(a, "card", card);
	return a;
}

struct render_opts {
	size_t cap;          /* text cap, 0 = none */
	size_t max_sections; /* sections shown */
	size_t max_fields;   /* fields per section shown */
	size_t max_context;  /* context lines shown */
	int note;            /* add the visible "trimmed" note */
};

static json_t *card_render(const struct reply *r, const struct render_opts *o, int *cut)
{
	json_t *card = json_object(), *body = json_array(), *ms = json_object();
	size_t nsec = r->nsections < o->max_sections ? r->nsections : o->max_sections;
	size_t nctx = r->ncontext < o->max_context ? r->ncontext : o->max_context;
	size_t dropped_fields = 0;

	json_object_set_new(card, "type", json_string("AdaptiveCard"));
	json_object_set_new(card, "$schema",
			    json_string("http://adaptivecards.io/schemas/adaptive-card.json"));
	json_object_set_new(card, "version", json_string(TEAMS_CARD_VERSION));
	if (r->text && *r->text)
		json_array_append_new(body, text_block(r->text, o->cap, cut,
						       r->nsections ? "Bolder" : NULL,
						       r->nsections ? "Medium" : NULL, 0));
	for (size_t i = 0; i < nsec; i++) {
		const struct reply_section *s = &r->sections[i];
		struct reply_section shown = *s;

		if (s->title) {
			json_t *tb = text_block(s->title, o->cap, cut, "Bolder", NULL, 0);

			json_object_set_new(tb, "separator", json_true());
			json_object_set_new(tb, "spacing", json_string("Medium"));
			json_array_append_new(body, tb);
		}
		if (s->text && *s->text)
			json_array_append_new(body, text_block(s->text, o->cap, cut, NULL, NULL, 0));
		if (shown.nfields > o->max_fields) {
			dropped_fields += shown.nfields - o->max_fields;
			shown.nfields = o->max_fields;
		}
		if (shown.nfields)
			json_array_append_new(body, fields_element(&shown, o->cap, cut));
	}
	for (size_t i = 0; i < nctx; i++)
		json_array_append_new(body, text_block(r->context[i], o->cap, cut, NULL, "Small", 1));
	if (o->note) {
		char note[200];
		size_t left = r->nsections - nsec + (r->ncontext - nctx);

		if (left || dropped_fields)
			snprintf(note, sizeof(note),
				 "Trimmed to fit a Teams message: %s%zu section(s) or line(s) and %zu "
				 "field(s) left out.", *cut ? "long text cut, " : "", left,
				 dropped_fields);
		else
			snprintf(note, sizeof(note), "Trimmed to fit a Teams message%s.",
				 *cut ? ": long text cut" : "");
		json_array_append_new(body, text_block(note, 0, cut, NULL, "Small", 1));
	}
	for (size_t i = 0; i < r->nbuttons; i += TEAMS_CARD_ACTIONS_PER_SET) {
		json_t *set = json_object(), *acts = json_array();

		for (size_t j = i; j < r->nbuttons && j < i + TEAMS_CARD_ACTIONS_PER_SET; j++)
			json_array_append_new(acts, button_action(&r->buttons[j], o->cap, cut));
		json_object_set_new(set, "type", json_string("ActionSet"));
		json_object_set_new(set, "actions", acts);
		json_array_append_new(body, set);
	}
	json_object_set_new(card, "body", body);
	/* Full width: incident facts are hard to read in the narrow default. */
	json_object_set_new(ms, "width", json_string("Full"));
	json_object_set_new(card, "msteams", ms);
	return card;
}

int teams_reply_needs_card(const struct reply *r)
{
	return r->nsections || r->nbuttons || r->ncontext;
}

static size_t json_size(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	size_t n = s ? strlen(s) : (size_t)-1;

	free(s);
	return n;
}

static json_t *wrap_activity(const struct reply *r, json_t *card, size_t cap, int *cut)
{
	json_t *act = json_object();

	json_object_set_new(act, "type", json_string("message"));
	if (card) {
		json_t *att = json_object(), *atts = json_array();

		json_object_set_new(att, "contentType", json_string(TEAMS_CARD_CONTENT_TYPE));
		json_object_set_new(att, "content", card);
		json_array_append_new(atts, att);
		json_object_set_new(act, "attachments", atts);
		/* Shown in notifications and by clients that cannot render the card. */
		if (r->text && *r->text) {
			int ignored = 0;
			json_t *sum = md_string(r->text, 0, 200, &ignored);

			json_object_set_new(act, "summary", sum ? sum : json_string(""));
		}
	} else {
		json_object_set_new(act, "textFormat", json_string("markdown"));
		json_object_set_new(act, "text", md_string(r->text, 1, cap, cut));
	}
	return act;
}

/*
 * Renders with growing cuts until the result fits: shorter texts first, then
 * fewer fields and sections. A cut result always carries the visible note.
 */
static json_t *build(const struct reply *r, size_t max_bytes, int *trimmed, int activity)
{
	struct render_opts o = { .max_sections = r->nsections, .max_fields = REPLY_MAX_FIELDS,
				 .max_context = r->ncontext };
	json_t *out = NULL;
	int cut;

	if (trimmed)
		*trimmed = 0;
	for (size_t step = 0;; step++) {
		size_t ci = step < T0_ARRAY_LEN(card_caps) ? step : T0_ARRAY_LEN(card_caps) - 1;
		json_t *card = NULL;

		cut = 0;
		o.cap = card_caps[ci];
		o.note = step > 0;
		if (step >= T0_ARRAY_LEN(card_caps)) {
			/* Texts are as short as they get: drop fields, then sections. */
			if (o.max_fields > 4)
				o.max_fields = 4;
			else if (o.max_sections > 0)
				o.max_sections--;
			else if (o.max_fields > 0)
				o.max_fields = 0;
			else if (o.max_context > 0)
				o.max_context--;
			else
				break;
		}
		if (teams_reply_needs_card(r) || !activity) {
			card = card_render(r, &o, &cut);
			if (!card)
				return NULL;
		}
		out = activity ? wrap_activity(r, card, o.cap, &cut) : card;
		if (!out)
			return NULL;
		if (json_size(out) <= max_bytes) {
			if (trimmed)
				*trimmed = step > 0;
			return out;
		}
		json_decref(out);
		out = NULL;
		if (!teams_reply_needs_card(r) && activity && step + 1 >= T0_ARRAY_LEN(card_caps))
			break;
	}
	return NULL;
}

json_t *teams_activity_build(const struct reply *r, size_t max_bytes, int *trimmed)
{
	return r ? build(r, max_bytes, trimmed, 1) : NULL;
}

json_t *teams_card_build(const struct reply *r, size_t max_bytes, int *trimmed)
{
	return r ? build(r, max_bytes, trimmed, 0) : NULL;
}

json_t *teams_card_holding(const char *what)
{
	char line[300];
	struct reply r = { 0 };
	struct render_opts o = { .max_sections = 0, .max_fields = 0, .max_context = 1 };
	char *ctx[1] = { "The result will replace this card." };
	int cut = 0;

	snprintf(line, sizeof(line), "Working on it: %s …", what && *what ? what : "your request");
	r.text = line;
	r.context = ctx;
	r.ncontext = 1;
	o.cap = 250;
	return card_render(&r, &o, &cut);
}

char *teams_digest_build(const char *const *summaries, size_t n, size_t total, size_t max_bytes)
{
	struct reply r = { 0 };
	struct reply_section sec = { 0 };
	char head[160], *out = NULL;
	json_t *a;
	struct buf b = { 0 };

	snprintf(head, sizeof(head), "%zu updates arrived while messages to this conversation were "
		 "being paced", total);
	for (size_t i = 0; i < n; i++) {
		buf_put(&b, "• ", strlen("• "));
		buf_put(&b, summaries[i], strlen(summaries[i]));
		buf_put(&b, "\n", 1);
	}
	if (total > n) {
		char more[64];

		snprintf(more, sizeof(more), "… and %zu more", total - n);
		buf_put(&b, more, strlen(more));
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	sec.text = b.p;
	r.text = head;
	r.sections = &sec;
	r.nsections = 1;
	a = teams_activity_build(&r, max_bytes, NULL);
	if (a)
		out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	free(b.p);
	return out;
}
