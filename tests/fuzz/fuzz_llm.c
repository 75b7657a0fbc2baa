/*
 * libFuzzer target: arbitrary bytes as an LLM provider's response (both
 * parsers, both error readers, echoing the turn back) and through every
 * guardrail. Checked properties: a valid JSON document stays valid after
 * JSON-mode redaction and after per-value redaction; cleaned and rendered
 * text is valid UTF-8 and within its bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapters/llm/llm_provider.h"
#include "bot/llm.h"
#include "bot/llm_guard.h"
#include "bot/t0.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_provider(const struct llm_provider *p, const struct t0_llm *ops, const char *s,
			 size_t n)
{
	struct llm_turn *t = calloc(1, sizeof(*t));
	struct llm_tool_result res[8];
	char err[256], out[256];
	json_t *msgs;

	if (!t)
		return;
	p->error(s, n, out, sizeof(out));
	if (p->parse(s, n, t, err, sizeof(err)) == T0_OK) {
		msgs = json_array();
		for (size_t i = 0; i < t->ncalls && i < 8; i++) {
			res[i].call_id = t->calls[i].id;
			res[i].content = "result";
			res[i].is_error = t->calls[i].args == NULL;
		}
		if (t->ncalls <= 8)
			ops->append_turn(msgs, t, res, t->ncalls);
		json_decref(msgs);
	}
	llm_turn_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char *secrets[] = { (char *)"fuzz-secret-value", (char *)"content" };
	json_t *doc, *urls, *again;
	char *out, *text;
	size_t full = 0;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	one_provider(&llm_provider_anthropic, &llm_anthropic, s, size);
	one_provider(&llm_provider_openai, &llm_openai, s, size);

	doc = json_loads(s, 0, NULL);
	if (doc) {
		text = json_dumps(doc, JSON_COMPACT);
		out = text ? guard_redact(text, secrets, 1, 1, NULL) : NULL;
		if (out) {
			again = json_loads(out, 0, NULL);
			if (!again)
				abort(); /* JSON-mode redaction broke the document */
			json_decref(again);
		}
		free(out);
		free(text);
		if (guard_redact_json(doc, secrets, 2) >= 0) {
			text = json_dumps(doc, JSON_COMPACT);
			if (text && !(again = json_loads(text, 0, NULL)))
				abort();
			json_decref(again);
			free(text);
		}
		json_decref(doc);
	}
	out = guard_redact(s, secrets, 2, 0, NULL);
	free(out);
	out = guard_clean(s, 100, &full);
	if (out) {
		json_t *j = json_string(out);

		if (!j || strlen(out) > 100)
			abort(); /* not UTF-8, or over the bound */
		json_decref(j);
	}
	free(out);
	urls = json_array();
	guard_collect_urls(s, urls);
	out = guard_render(s, urls, 300);
	if (out) {
		json_t *j = json_string(out);

		if (!j || strlen(out) > 300)
			abort();
		json_decref(j);
	}
	free(out);
	json_decref(urls);
	free(s);
	return 0;
}
