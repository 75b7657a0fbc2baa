#include "bot/reply.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"

struct reply *reply_new(void)
{
	return calloc(1, sizeof(struct reply));
}

void reply_free(struct reply *r)
{
	if (!r)
		return;
	free(r->text);
	for (size_t i = 0; i < r->nsections; i++) {
		struct reply_section *s = &r->sections[i];

		free(s->title);
		free(s->text);
		for (size_t j = 0; j < s->nfields; j++) {
			free(s->fields[j].label);
			free(s->fields[j].value);
		}
		free(s->fields);
	}
	free(r->sections);
	for (size_t i = 0; i < r->nbuttons; i++) {
		free(r->buttons[i].label);
		free(r->buttons[i].action_id);
		free(r->buttons[i].value);
		free(r->buttons[i].confirm);
	}
	free(r->buttons);
	for (size_t i = 0; i < r->ncontext; i++)
		free(r->context[i]);
	free(r->context);
	free(r->intent);
	free(r);
}

/* strdup bounded by REPLY_MAX_TEXT; NULL stays NULL. Sets *rc on failure. */
static char *dup_bounded(const char *s, int *rc)
{
	char *d;

	if (!s)
		return NULL;
	if (strlen(s) > REPLY_MAX_TEXT) {
		*rc = T0_ETOOBIG;
		return NULL;
	}
	d = strdup(s);
	if (!d)
		*rc = T0_ENOMEM;
	return d;
}

static char *vformat(const char *fmt, va_list ap, int *rc) __attribute__((format(printf, 1, 0)));

static char *vformat(const char *fmt, va_list ap, int *rc)
{
	char *out = NULL;
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || n > REPLY_MAX_TEXT) {
		*rc = n < 0 ? T0_EINVAL : T0_ETOOBIG;
		return NULL;
	}
	out = malloc((size_t)n + 1);
	if (!out) {
		*rc = T0_ENOMEM;
		return NULL;
	}
	vsnprintf(out, (size_t)n + 1, fmt, ap);
	return out;
}

int reply_set_text(struct reply *r, const char *fmt, ...)
{
	int rc = T0_OK;
	char *t;
	va_list ap;

	va_start(ap, fmt);
	t = vformat(fmt, ap, &rc);
	va_end(ap);
	if (!t)
		return rc;
	free(r->text);
	r->text = t;
	return T0_OK;
}

int reply_add_section(struct reply *r, const char *title, const char *text)
{
	struct reply_section *ns;
	int rc = T0_OK;
	char *t, *x;

	if (r->nsections >= REPLY_MAX_SECTIONS)
		return T0_ETOOBIG;
	t = dup_bounded(title, &rc);
	x = dup_bounded(text, &rc);
	if (rc)
		goto fail;
	ns = realloc(r->sections, (r->nsections + 1) * sizeof(*ns));
	if (!ns) {
		rc = T0_ENOMEM;
		goto fail;
	}
	r->sections = ns;
	memset(&ns[r->nsections], 0, sizeof(ns[0]));
	ns[r->nsections].title = t;
	ns[r->nsections].text = x;
	r->nsections++;
	return T0_OK;
fail:
	free(t);
	free(x);
	return rc;
}

int reply_add_field(struct reply *r, const char *label, const char *value)
{
	struct reply_section *s;
	struct reply_field *nf;
	int rc = T0_OK;
	char *l, *v;

	if (!r->nsections && (rc = reply_add_section(r, NULL, NULL)))
		return rc;
	s = &r->sections[r->nsections - 1];
	if (s->nfields >= REPLY_MAX_FIELDS)
		return T0_ETOOBIG;
	l = dup_bounded(label ? label : "", &rc);
	v = dup_bounded(value ? value : "", &rc);
	if (rc)
		goto fail;
	nf = realloc(s->fields, (s->nfields + 1) * sizeof(*nf));
	if (!nf) {
		rc = T0_ENOMEM;
		goto fail;
	}
	s->fields = nf;
	nf[s->nfields].label = l;
	nf[s->nfields].value = v;
	s->nfields++;
	return T0_OK;
fail:
	free(l);
	free(v);
	return rc;
}

int reply_add_button(struct reply *r, const char *label, const char *action_id,
		     const char *value, int style, const char *confirm)
{
	struct reply_button *nb, b = { 0 };
	int rc = T0_OK;

	if (r->nbuttons >= REPLY_MAX_BUTTONS)
		return T0_ETOOBIG;
	b.label = dup_bounded(label, &rc);
	b.action_id = dup_bounded(action_id, &rc);
	b.value = dup_bounded(value ? value : "", &rc);
	b.confirm = dup_bounded(confirm, &rc);
	b.style = style;
	if (rc || !b.label || !b.action_id) {
		rc = rc ? rc : T0_EINVAL;
		goto fail;
	}
	nb = realloc(r->buttons, (r->nbuttons + 1) * sizeof(*nb));
	if (!nb) {
		rc = T0_ENOMEM;
		goto fail;
	}
	r->buttons = nb;
	nb[r->nbuttons++] = b;
	return T0_OK;
fail:
	free(b.label);
	free(b.action_id);
	free(b.value);
	free(b.confirm);
	return rc;
}

int reply_add_context(struct reply *r, const char *fmt, ...)
{
	int rc = T0_OK;
	char **nc, *t;
	va_list ap;

	if (r->ncontext >= REPLY_MAX_CONTEXT)
		return T0_ETOOBIG;
	va_start(ap, fmt);
	t = vformat(fmt, ap, &rc);
	va_end(ap);
	if (!t)
		return rc;
	nc = realloc(r->context, (r->ncontext + 1) * sizeof(*nc));
	if (!nc) {
		free(t);
		return T0_ENOMEM;
	}
	r->context = nc;
	nc[r->ncontext++] = t;
	return T0_OK;
}

int reply_set_intent(struct reply *r, const char *intent)
{
	char *d = strdup(intent ? intent : "");

	if (!d)
		return T0_ENOMEM;
	free(r->intent);
	r->intent = d;
	return T0_OK;
}

static const char *style_name(int style)
{
	return style == REPLY_STYLE_PRIMARY ? "primary"
	       : style == REPLY_STYLE_DANGER ? "danger"
					     : "default";
}

json_t *reply_to_json_obj(const struct reply *r)
{
	json_t *o = json_object(), *secs = json_array(), *btns = json_array(), *ctx = json_array();

	if (!o || !secs || !btns || !ctx)
		goto out;
	for (size_t i = 0; i < r->nsections; i++) {
		const struct reply_section *s = &r->sections[i];
		json_t *js = json_object(), *fs = json_array();

		for (size_t j = 0; j < s->nfields; j++)
			json_array_append_new(fs, json_pack("{s:s, s:s}", "label", s->fields[j].label,
							     "value", s->fields[j].value));
		if (s->title)
			json_object_set_new(js, "title", json_string(s->title));
		if (s->text)
			json_object_set_new(js, "text", json_string(s->text));
		json_object_set_new(js, "fields", fs);
		json_array_append_new(secs, js);
	}
	for (size_t i = 0; i < r->nbuttons; i++) {
		const struct reply_button *b = &r->buttons[i];
		json_t *jb = json_pack("{s:s, s:s, s:s, s:s}", "label", b->label, "action_id",
				       b->action_id, "value", b->value, "style", style_name(b->style));

		if (jb && b->confirm)
			json_object_set_new(jb, "confirm", json_string(b->confirm));
		json_array_append_new(btns, jb);
	}
	for (size_t i = 0; i < r->ncontext; i++)
		json_array_append_new(ctx, json_string(r->context[i]));
	json_object_set_new(o, "text", json_string(r->text ? r->text : ""));
	json_object_set_new(o, "sections", secs);
	json_object_set_new(o, "buttons", btns);
	json_object_set_new(o, "context", ctx);
	json_object_set_new(o, "ephemeral", json_boolean(r->visibility == REPLY_EPHEMERAL));
	if (r->intent)
		json_object_set_new(o, "intent", json_string(r->intent));
	return o;
out:
	json_decref(secs);
	json_decref(btns);
	json_decref(ctx);
	json_decref(o);
	return NULL;
}

char *reply_to_json(const struct reply *r)
{
	json_t *o = reply_to_json_obj(r);
	char *out = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return out;
}
