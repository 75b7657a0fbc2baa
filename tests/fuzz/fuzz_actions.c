/*
 * libFuzzer target: arbitrary parameter values through validation and request
 * rendering. Whatever the values, a rendered request keeps its template's
 * shape (path segments, query parameters, headers, JSON members) or is refused;
 * anything else aborts.
 *
 * Input: "k=v ..." arguments for action_args_parse, then a NUL, then raw bytes
 * used unvalidated as the values of seg, q and note (separated by NULs).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "runbooks/actions.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_text[] =
	"executors:\n"
	"  secrets: [{name: tok, value: fuzz-secret-value}]\n"
	"actions:\n"
	"  - name: web\n"
	"    target: {required: false}\n"
	"    params:\n"
	"      - {name: seg}\n"
	"      - {name: q}\n"
	"      - {name: note}\n"
	"      - {name: n, type: int, min: 0, max: 100}\n"
	"      - {name: env, allowed: [a, b], default: a}\n"
	"      - {name: id, pattern: 'P[A-Z0-9]{3,8}'}\n"
	"    executor:\n"
	"      type: http\n"
	"      method: POST\n"
	"      url: 'https://api.example/v1/{{params.seg}}/x?q={{params.q}}&fixed=1'\n"
	"      headers: {Authorization: 'Bearer {{secret.tok}}', X-Note: '{{params.note}}'}\n"
	"      body: {note: '{{params.note}}', n: '{{params.n}}', t: 'x {{params.q}} y'}\n";

static struct config *cfg;
static struct action_set *set;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_ERR);
	if (config_load_buffer("fuzz.yaml", cfg_text, strlen(cfg_text), &cfg, err, sizeof(err)) ||
	    !(set = action_set_new(cfg, err, sizeof(err)))) {
		fprintf(stderr, "fuzz_actions: %s\n", err);
		abort();
	}
	return 0;
}

static void check_shape(const struct action_http *h, const char *note)
{
	const char *q = strchr(h->url, '?');
	int slashes = 0, amps = 0;
	json_t *body;

	if (!q || strncmp(h->url, "https://api.example/", 20) != 0 || strchr(h->url, '#'))
		abort();
	for (const char *c = h->url + 19; c < q; c++)
		slashes += *c == '/';
	for (const char *c = q; *c; c++)
		amps += *c == '&' || (c > q && *c == '?');
	if (slashes != 3 || amps != 1 || h->nheaders != 2)
		abort();
	for (size_t i = 0; i < h->nheaders; i++)
		if (strpbrk(h->headers[i], "\r\n"))
			abort();
	body = json_loadb(h->body, h->body_len, 0, NULL);
	if (!body || json_object_size(body) != 3)
		abort();
	if (note && (!json_is_string(json_object_get(body, "note")) ||
		     strcmp(json_string_value(json_object_get(body, "note")), note) != 0))
		abort();
	json_decref(body);
}

static void render_check(const json_t *params, const char *note)
{
	struct action_render_in in = { .set = set, .def = action_find(set, "web"),
				       .params = params, .request_id = "r-0", .created_ms = 1 };
	struct action_http h;
	char err[256], hash[65];

	if (action_render(&in, 0, &h, err, sizeof(err)) == T0_OK) {
		check_shape(&h, note);
		action_http_clear(&h);
	}
	action_request_hash(&in, hash, NULL, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *vals[3] = { NULL, NULL, NULL };
	const char *end;
	json_t *given = NULL, *params = NULL, *raw;
	char err[256];
	size_t off, k = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* 1: arguments as a person types them, validated. */
	if (action_args_parse(buf, &given, err, sizeof(err)) == T0_OK) {
		if (action_params_resolve(set, action_find(set, "web"), given, &params, err,
					  sizeof(err)) == T0_OK) {
			render_check(params, json_string_value(json_object_get(params, "note")));
			json_decref(params);
		}
		json_decref(given);
	}
	/* 2: raw values, unvalidated: the renderer must hold on its own. */
	end = memchr(data, '\0', size);
	off = end ? (size_t)(end - (const char *)data) + 1 : size;
	while (off <= size && k < 3) {
		vals[k++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	raw = json_object();
	for (size_t i = 0; i < k; i++) {
		static const char *const names[] = { "seg", "q", "note" };
		json_t *v = json_string(vals[i]);

		if (v)
			json_object_set_new(raw, names[i], v);
	}
	if (json_object_get(raw, "seg"))
		render_check(raw, json_string_value(json_object_get(raw, "note")));
	json_decref(raw);
	free(buf);
	return 0;
}
