/* YAML/JSON loader: typing by the YAML 1.2 core schema, documents, aliases and
 * their limits, errors with file:line:col, positions of keys and items. */
#include "bot/yload.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"

struct fix {
	struct ydocs docs;
	char err[512];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	ydocs_free(&f->docs);
	free(f);
	return 0;
}

static int parse(struct fix *f, const char *yaml)
{
	ydocs_free(&f->docs);
	return yload_parse("t.yaml", yaml, strlen(yaml), &f->docs, f->err, sizeof(f->err));
}

/* Parses one document and compares it, as compact sorted JSON, with want. */
static void expect_json(struct fix *f, const char *yaml, const char *want)
{
	char *got;

	if (parse(f, yaml) != T0_OK)
		print_error("%s\n", f->err);
	assert_int_equal(f->docs.n, 1);
	got = json_dumps(f->docs.docs[0].root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		print_error("yaml:\n%s\ngot:  %s\nwant: %s\n", yaml, got, want);
	assert_string_equal(got, want);
	free(got);
}

static void expect_error(struct fix *f, const char *yaml, int rc, const char *prefix)
{
	int got = parse(f, yaml);

	if (got != rc || strncmp(f->err, prefix, strlen(prefix)) != 0)
		print_error("got rc %d: %s\nwant %d: %s...\n", got, f->err, rc, prefix);
	assert_int_equal(got, rc);
	assert_true(strncmp(f->err, prefix, strlen(prefix)) == 0);
	assert_int_equal(f->docs.n, 0);
	assert_null(f->docs.docs);
}

static void test_yload_plain_scalars_follow_core_schema(void **state)
{
	expect_json(*state,
		    "int: 42\nneg: -7\nplus: +3\nhex: 0x1F\noct: 0o17\n"
		    "f1: 1.5\nf2: 1e3\nf3: .5\nf4: -2.5E-1\n"
		    "t: true\nT: True\nf: FALSE\n"
		    "n1: ~\nn2: null\nn3:\n",
		    "{\"T\":true,\"f\":false,\"f1\":1.5,\"f2\":1000.0,\"f3\":0.5,\"f4\":-0.25,"
		    "\"hex\":31,\"int\":42,\"n1\":null,\"n2\":null,\"n3\":null,\"neg\":-7,"
		    "\"oct\":15,\"plus\":3,\"t\":true}");
}

static void test_yload_non_core_scalars_stay_strings(void **state)
{
	/* YAML 1.1 booleans, timestamps, infinities, versions and huge ints are text. */
	expect_json(*state,
		    "yes: yes\noff: off\nts: 2026-01-05T09:00:00Z\ndate: 2026-01-05\ninf: .inf\n"
		    "nan: .NaN\nver: 1.2.3\nbig: 99999999999999999999\nbadhex: 0xZZ\nexp: 1e\n",
		    "{\"badhex\":\"0xZZ\",\"big\":\"99999999999999999999\",\"date\":\"2026-01-05\","
		    "\"exp\":\"1e\",\"inf\":\".inf\",\"nan\":\".NaN\",\"off\":\"off\","
		    "\"ts\":\"2026-01-05T09:00:00Z\",\"ver\":\"1.2.3\",\"yes\":\"yes\"}");
}

static void test_yload_quoted_and_tagged_scalars_are_strings(void **state)
{
	expect_json(*state,
		    "a: \"42\"\nb: 'true'\nc: \"null\"\nd: !!str 7\ne: |\n  two\n  lines\n"
		    "f: \"tab\\there\"\n",
		    "{\"a\":\"42\",\"b\":\"true\",\"c\":\"null\",\"d\":\"7\",\"e\":\"two\\nlines\\n\","
		    "\"f\":\"tab\\there\"}");
}

static void test_yload_flow_style(void **state)
{
	expect_json(*state, "{a: [1, two, {b: null}], c: {}, d: []}",
		    "{\"a\":[1,\"two\",{\"b\":null}],\"c\":{},\"d\":[]}");
}

static void test_yload_json_input(void **state)
{
	expect_json(*state,
		    "{\"name\": \"svc\", \"n\": 3, \"ok\": false, \"x\": null, \"r\": 2.5,\n"
		    " \"list\": [\"a\", 1, true], \"esc\": \"q\\\"\\u00e9\"}",
		    "{\"esc\":\"q\\\"\u00e9\",\"list\":[\"a\",1,true],\"n\":3,\"name\":\"svc\","
		    "\"ok\":false,\"r\":2.5,\"x\":null}");
}

static void test_yload_multiple_documents(void **state)
{
	struct fix *f = *state;

	assert_int_equal(parse(f, "a: 1\n---\nb: 2\n---\n- x\n"), T0_OK);
	assert_int_equal(f->docs.n, 3);
	assert_int_equal(f->docs.docs[0].index, 0);
	assert_int_equal(f->docs.docs[2].index, 2);
	assert_int_equal(f->docs.docs[1].line, 2);
	assert_int_equal(json_integer_value(json_object_get(f->docs.docs[1].root, "b")), 2);
	assert_true(json_is_array(f->docs.docs[2].root));
	assert_string_equal(f->docs.docs[2].file, "t.yaml");
}

static void test_yload_empty_input_has_no_documents(void **state)
{
	struct fix *f = *state;

	assert_int_equal(parse(f, ""), T0_OK);
	assert_int_equal(f->docs.n, 0);
	assert_int_equal(parse(f, "---\n"), T0_OK);
	assert_int_equal(f->docs.n, 1);
	assert_true(json_is_null(f->docs.docs[0].root));
}

static void test_yload_anchors_and_aliases_copy(void **state)
{
	struct fix *f = *state;

	expect_json(f, "base: &b {x: 1, y: [a]}\ncopy: *b\ns: &s hello\nt: *s\n",
		    "{\"base\":{\"x\":1,\"y\":[\"a\"]},\"copy\":{\"x\":1,\"y\":[\"a\"]},"
		    "\"s\":\"hello\",\"t\":\"hello\"}");
	/* A copy, not a shared node: changing one leaves the other. */
	assert_ptr_not_equal(json_object_get(f->docs.docs[0].root, "base"),
			     json_object_get(f->docs.docs[0].root, "copy"));
}

static void test_yload_unknown_alias_is_an_error(void **state)
{
	expect_error(*state, "a: *nope\n", T0_EPARSE, "t.yaml:1:4: unknown alias '*nope'");
}

static void test_yload_alias_bomb_is_rejected(void **state)
{
	expect_error(*state,
		     "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
		     T0_EPARSE, "t.yaml:6:");
	assert_non_null(strstr(((struct fix *)*state)->err, "expands past the node limit"));
}

static void test_yload_self_referencing_alias_is_rejected(void **state)
{
	/* Each *a would copy a list that keeps growing: exponential without this check. */
	expect_error(*state, "a: &a [1, *a, *a]\n", T0_EPARSE,
		     "t.yaml:1:11: alias '*a' refers to a node still being defined");
}

static void test_yload_depth_limit(void **state)
{
	struct fix *f = *state;
	char deep[512];
	size_t n = 0;

	for (int i = 0; i < YLOAD_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i < YLOAD_MAX_DEPTH; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	assert_int_equal(parse(f, deep), T0_OK);

	n = 0;
	for (int i = 0; i < YLOAD_MAX_DEPTH + 2; i++)
		deep[n++] = '[';
	for (int i = 0; i < YLOAD_MAX_DEPTH + 2; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	expect_error(f, deep, T0_EPARSE, "t.yaml:1:66: nesting deeper than 64 levels");
}

static void test_yload_alias_cannot_exceed_depth_limit(void **state)
{
	struct fix *f = *state;
	char yaml[1024];
	size_t n = 0;

	/* A 40-deep anchor pasted 40 levels down would be 80 deep. */
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "a: &a ");
	for (int i = 0; i < 40; i++)
		yaml[n++] = '[';
	for (int i = 0; i < 40; i++)
		yaml[n++] = ']';
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "\nb: ");
	for (int i = 0; i < 40; i++)
		yaml[n++] = '[';
	n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "*a");
	for (int i = 0; i < 40; i++)
		yaml[n++] = ']';
	yaml[n++] = '\n';
	yaml[n] = '\0';
	expect_error(f, yaml, T0_EPARSE, "t.yaml:2:44: nesting deeper than 64 levels");
}

static void test_yload_duplicate_key_is_an_error(void **state)
{
	expect_error(*state, "a: 1\nb:\n  c: 1\n  c: 2\n", T0_EPARSE,
		     "t.yaml:4:3: duplicate key 'c'");
}

static void test_yload_non_scalar_key_is_an_error(void **state)
{
	expect_error(*state, "? [a, b]\n: 1\n", T0_EPARSE,
		     "t.yaml:1:3: mapping keys must be plain strings");
}

static void test_yload_invalid_yaml_names_line_and_column(void **state)
{
	expect_error(*state, "a: 1\nb: [1, 2\nc: 3\n", T0_EPARSE, "t.yaml:3:2: invalid YAML: ");
	expect_error(*state, "a: b: c\n", T0_EPARSE, "t.yaml:1:5: invalid YAML: ");
	expect_error(*state, "a: \"\xff\"\n", T0_EPARSE, "t.yaml:1:5: invalid YAML: ");
}

static void test_yload_too_big_input_is_rejected(void **state)
{
	struct fix *f = *state;

	assert_int_equal(yload_parse("big.yaml", "x", YLOAD_MAX_FILE + 1, &f->docs, f->err,
				     sizeof(f->err)),
			 T0_ETOOBIG);
	assert_string_equal(f->err, "big.yaml: larger than 8388608 bytes");
}

static void test_yload_positions_of_keys_and_items(void **state)
{
	struct fix *f = *state;
	const struct ydoc *d;
	const json_t *http, *list, *inner;
	int line = 0, col = 0;

	assert_int_equal(parse(f, "# comment\nhttp:\n  listen: x\n  port: 1\nlist:\n"
				  "  - a\n  -   b\n  - {k: v}\n"),
			 T0_OK);
	d = &f->docs.docs[0];
	http = json_object_get(d->root, "http");
	list = json_object_get(d->root, "list");
	inner = json_array_get(list, 2);

	assert_int_equal(ydoc_key_pos(d, d->root, "http", &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 1);
	assert_int_equal(ydoc_key_pos(d, http, "port", &line, &col), 0);
	assert_int_equal(line, 4);
	assert_int_equal(col, 3);
	assert_int_equal(ydoc_index_pos(d, list, 1, &line, &col), 0);
	assert_int_equal(line, 7);
	assert_int_equal(col, 7);
	assert_int_equal(ydoc_key_pos(d, inner, "k", &line, &col), 0);
	assert_int_equal(line, 8);
	assert_int_equal(col, 6);
	assert_int_equal(ydoc_node_pos(d, http, &line, &col), 0);
	assert_int_equal(line, 3);
	assert_int_equal(col, 3);
	assert_int_equal(ydoc_node_pos(d, inner, &line, &col), 0);
	assert_int_equal(line, 8);
	assert_int_equal(col, 5);

	line = col = -5;
	assert_int_equal(ydoc_key_pos(d, http, "missing", &line, &col), -1);
	assert_int_equal(ydoc_index_pos(d, list, 3, &line, &col), -1);
	assert_int_equal(line, -5);
	assert_int_equal(col, -5);
}

static void test_yload_file_reports_missing_file(void **state)
{
	struct fix *f = *state;

	assert_int_equal(yload_file("/nonexistent/t0.yaml", 0, &f->docs, f->err, sizeof(f->err)),
			 T0_ENOTFOUND);
	assert_string_equal(f->err, "/nonexistent/t0.yaml: cannot open: No such file or directory");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_yload_plain_scalars_follow_core_schema),
		T(test_yload_non_core_scalars_stay_strings),
		T(test_yload_quoted_and_tagged_scalars_are_strings),
		T(test_yload_flow_style),
		T(test_yload_json_input),
		T(test_yload_multiple_documents),
		T(test_yload_empty_input_has_no_documents),
		T(test_yload_anchors_and_aliases_copy),
		T(test_yload_unknown_alias_is_an_error),
		T(test_yload_alias_bomb_is_rejected),
		T(test_yload_self_referencing_alias_is_rejected),
		T(test_yload_depth_limit),
		T(test_yload_alias_cannot_exceed_depth_limit),
		T(test_yload_duplicate_key_is_an_error),
		T(test_yload_non_scalar_key_is_an_error),
		T(test_yload_invalid_yaml_names_line_and_column),
		T(test_yload_too_big_input_is_rejected),
		T(test_yload_positions_of_keys_and_items),
		T(test_yload_file_reports_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
