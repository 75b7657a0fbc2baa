#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "runbooks/runbook.h"

struct fx {
	char dir[64];
	struct runbook_set *set;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/t0-runbook-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->set = runbook_set_new();
	assert_non_null(f->set);
	log_set_level(LOG_LEVEL_ERR); /* expected warnings would clutter the output */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	char p[512];

	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	runbook_set_free(f->set);
	free(f);
	return 0;
}

static void write_file(struct fx *f, const char *name, const char *text)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	fclose(fp);
}

static int load1(struct fx *f, const char *path)
{
	const char *paths[] = {path};

	return runbook_set_load(f->set, paths, 1, f->dir, f->err, sizeof(f->err));
}

static const struct runbook *by_title(const struct runbook_set *set, const char *title)
{
	size_t i;

	for (i = 0; i < runbook_set_count(set); i++)
		if (strcmp(runbook_set_at(set, i)->title, title) == 0)
			return runbook_set_at(set, i);
	return NULL;
}

static const char basic[] = "---\n"
			    "title: Basic\n"
			    "services: [svc-a, Svc-B]\n"
			    "alerts: ['(?i)disk.*full']\n"
			    "actions: [restart]\n"
			    "owner: team-x\n"
			    "tags: [storage]\n"
			    "---\n"
			    "Intro text before any heading.\n"
			    "\n"
			    "# Basic\n"
			    "\n"
			    "## Overview\n"
			    "\n"
			    "The summary starts here\n"
			    "and continues   on a second line.\n"
			    "\n"
			    "Second paragraph.\n"
			    "\n"
			    "- not a step\n"
			    "\n"
			    "## First steps:\n"
			    "\n"
			    "1. Look at the dashboard.\n"
			    "2. Run `df -h`\n"
			    "   and read it.\n"
			    "   - nested detail\n"
			    "3)  Restart   it.\n"
			    "\n"
			    "Paragraph after the list.\n"
			    "\n"
			    "4. A list after a paragraph is another list.\n";

static void test_runbook_demo_directory_loads_in_name_order(void **state)
{
	struct fx *f = *state;
	const char *paths[] = {"runbooks"};
	const struct runbook *rb;
	size_t i;

	assert_int_equal(runbook_set_load(f->set, paths, 1, "config/demo", f->err, sizeof(f->err)),
			 T0_OK);
	assert_true(runbook_set_count(f->set) >= 5);
	for (i = 1; i < runbook_set_count(f->set); i++)
		assert_true(strcmp(runbook_set_at(f->set, i - 1)->path,
				   runbook_set_at(f->set, i)->path) < 0);
	for (i = 0; i < runbook_set_count(f->set); i++) {
		rb = runbook_set_at(f->set, i);
		assert_non_null(rb->summary);
		assert_true(rb->nsteps >= 3);
		assert_true(rb->nservices >= 1);
		assert_true(rb->nactions >= 1);
	}
	rb = by_title(f->set, "Payment API high error rate");
	assert_non_null(rb);
	assert_string_equal(rb->steps[0],
			    "Acknowledge the page and post in #payments-oncall that you are on it.");
	assert_string_equal(runbook_owner(rb), "payments-team");
	assert_non_null(strstr(rb->path, "config/demo/runbooks/payment-api-high-error-rate.md"));
}

static void test_runbook_front_matter_fields_are_read(void **state)
{
	struct fx *f = *state;
	const struct runbook *rb;
	const char *const *tags;
	size_t ntags;

	write_file(f, "basic.md", basic);
	assert_int_equal(load1(f, "basic.md"), T0_OK);
	assert_int_equal(runbook_set_count(f->set), 1);
	rb = runbook_set_at(f->set, 0);
	assert_string_equal(rb->title, "Basic");
	assert_int_equal(rb->nservices, 2);
	assert_string_equal(rb->services[1], "Svc-B");
	assert_int_equal(rb->nactions, 1);
	assert_string_equal(rb->actions[0], "restart");
	assert_string_equal(runbook_owner(rb), "team-x");
	tags = runbook_tags(rb, &ntags);
	assert_int_equal(ntags, 1);
	assert_string_equal(tags[0], "storage");
}

static void test_runbook_summary_is_first_paragraph_after_first_heading(void **state)
{
	struct fx *f = *state;

	write_file(f, "basic.md", basic);
	assert_int_equal(load1(f, "basic.md"), T0_OK);
	assert_string_equal(runbook_set_at(f->set, 0)->summary,
			    "The summary starts here and continues on a second line.");
}

static void test_runbook_steps_come_from_the_steps_heading(void **state)
{
	struct fx *f = *state;
	const struct runbook *rb;

	write_file(f, "basic.md", basic);
	assert_int_equal(load1(f, "basic.md"), T0_OK);
	rb = runbook_set_at(f->set, 0);
	assert_int_equal(rb->nsteps, 3);
	assert_string_equal(rb->steps[0], "Look at the dashboard.");
	assert_string_equal(rb->steps[1], "Run `df -h` and read it.");
	assert_string_equal(rb->steps[2], "Restart it.");
}

static void test_runbook_steps_fall_back_to_first_list(void **state)
{
	struct fx *f = *state;
	const struct runbook *rb;

	write_file(f, "a.md", "---\ntitle: A\n---\n# A\n\nSome text.\n\n```\n- in code\n```\n"
			      "* one\n* two\n\n* three\n\n## Notes\n\n- later\n");
	assert_int_equal(load1(f, "a.md"), T0_OK);
	rb = runbook_set_at(f->set, 0);
	assert_int_equal(rb->nsteps, 3);
	assert_string_equal(rb->steps[0], "one");
	assert_string_equal(rb->steps[2], "three");
	assert_string_equal(rb->summary, "Some text.");
}

static void test_runbook_steps_are_bounded(void **state)
{
	struct fx *f = *state;
	char text[8192], *p = text;
	const struct runbook *rb;
	int i;

	p += sprintf(p, "---\ntitle: Many\n---\n# Many\n\n## Steps\n\n");
	for (i = 1; i <= 14; i++)
		p += sprintf(p, "%d. step %d\n", i, i);
	p += sprintf(p, "15. ");
	for (i = 0; i < 1000; i++)
		*p++ = 'x';
	*p = '\0';
	write_file(f, "many.md", text);
	assert_int_equal(load1(f, "many.md"), T0_OK);
	rb = runbook_set_at(f->set, 0);
	assert_int_equal(rb->nsteps, RUNBOOK_MAX_STEPS);
	assert_string_equal(rb->steps[9], "step 10");
	assert_null(rb->summary);
}

static void test_runbook_long_step_is_truncated(void **state)
{
	struct fx *f = *state;
	char text[4096], *p = text;
	int i;

	p += sprintf(p, "---\ntitle: Long\n---\n- ");
	for (i = 0; i < 1000; i++)
		*p++ = 'y';
	*p = '\0';
	write_file(f, "long.md", text);
	assert_int_equal(load1(f, "long.md"), T0_OK);
	assert_int_equal(strlen(runbook_set_at(f->set, 0)->steps[0]), RUNBOOK_MAX_STEP_LEN);
}

static void test_runbook_missing_title_names_file_and_line(void **state)
{
	struct fx *f = *state;
	char want[256];

	write_file(f, "notitle.md", "---\nservices: [a]\n---\n# x\n");
	assert_int_equal(load1(f, "notitle.md"), T0_EPARSE);
	snprintf(want, sizeof(want), "%s/notitle.md:1: title", f->dir);
	assert_non_null(strstr(f->err, want));
	assert_int_equal(runbook_set_count(f->set), 0);
}

static void test_runbook_bad_yaml_names_the_file_line(void **state)
{
	struct fx *f = *state;
	char want[256];

	/* the stray ']' is on line 4 of the file (line 3 of the front matter) */
	write_file(f, "bad.md", "---\ntitle: Bad\nservices: [a, b]\nactions: ]\n---\n# x\n");
	assert_int_equal(load1(f, "bad.md"), T0_EPARSE);
	snprintf(want, sizeof(want), "%s/bad.md:4:", f->dir);
	assert_non_null(strstr(f->err, want));
}

static void test_runbook_bad_regex_names_the_pattern(void **state)
{
	struct fx *f = *state;
	char want[256];

	write_file(f, "re.md", "---\ntitle: Re\nalerts:\n  - 'fine'\n  - '(?i)broken(['\n---\n");
	assert_int_equal(load1(f, "re.md"), T0_EPARSE);
	snprintf(want, sizeof(want), "%s/re.md:5: alerts[1]: bad pattern '(?i)broken(['", f->dir);
	assert_non_null(strstr(f->err, want));
}

static void test_runbook_wrong_types_are_errors(void **state)
{
	struct fx *f = *state;

	write_file(f, "t.md", "---\ntitle: T\nservices: {a: 1}\n---\n");
	assert_int_equal(load1(f, "t.md"), T0_EPARSE);
	assert_non_null(strstr(f->err, "t.md:3: services"));
	write_file(f, "u.md", "---\ntitle: [x]\n---\n");
	assert_int_equal(load1(f, "u.md"), T0_EPARSE);
	assert_non_null(strstr(f->err, "u.md:2: title"));
	write_file(f, "v.md", "---\ntitle: V\nactions: [ok, 3]\n---\n");
	assert_int_equal(load1(f, "v.md"), T0_EPARSE);
	assert_non_null(strstr(f->err, "v.md:3: actions[1]"));
	write_file(f, "w.md", "---\n- a list\n---\n");
	assert_int_equal(load1(f, "w.md"), T0_EPARSE);
	assert_non_null(strstr(f->err, "must be a mapping"));
}

static void test_runbook_unknown_key_is_only_a_warning(void **state)
{
	struct fx *f = *state;

	write_file(f, "k.md", "---\ntitle: K\nseverity: high\n---\n");
	assert_int_equal(load1(f, "k.md"), T0_OK);
	assert_int_equal(runbook_set_count(f->set), 1);
}

static void test_runbook_named_file_without_front_matter_is_an_error(void **state)
{
	struct fx *f = *state;

	write_file(f, "plain.md", "# Just markdown\n\n1. one\n");
	assert_int_equal(load1(f, "plain.md"), T0_EPARSE);
	assert_non_null(strstr(f->err, "plain.md:1: no front matter"));
	write_file(f, "open.md", "---\ntitle: never closed\n");
	assert_int_equal(load1(f, "open.md"), T0_EPARSE);
}

static void test_runbook_directory_skips_files_without_front_matter(void **state)
{
	struct fx *f = *state;

	write_file(f, "README.md", "# Runbooks\n\nThis folder holds runbooks.\n");
	write_file(f, "b.md", "---\ntitle: B\n---\n");
	write_file(f, "a.md", "---\ntitle: A\n---\n");
	write_file(f, "notes.txt", "---\ntitle: not markdown\n---\n");
	assert_int_equal(load1(f, "."), T0_OK);
	assert_int_equal(runbook_set_count(f->set), 2);
	assert_string_equal(runbook_set_at(f->set, 0)->title, "A");
	assert_string_equal(runbook_set_at(f->set, 1)->title, "B");
}

static void test_runbook_glob_and_overlap_load_each_file_once(void **state)
{
	struct fx *f = *state;
	const char *paths[] = {"b-*.md", ".", "a.md"};

	write_file(f, "a.md", "---\ntitle: A\n---\n");
	write_file(f, "b-2.md", "---\ntitle: B2\n---\n");
	write_file(f, "b-1.md", "---\ntitle: B1\n---\n");
	assert_int_equal(runbook_set_load(f->set, paths, 3, f->dir, f->err, sizeof(f->err)), T0_OK);
	assert_int_equal(runbook_set_count(f->set), 3);
	assert_string_equal(runbook_set_at(f->set, 0)->title, "B1");
	assert_string_equal(runbook_set_at(f->set, 1)->title, "B2");
	assert_string_equal(runbook_set_at(f->set, 2)->title, "A");
}

static void test_runbook_truncation_keeps_utf8_whole(void **state)
{
	struct fx *f = *state;
	char text[4096], *p = text;
	const char *step;
	int i;

	/* 'a' + 255 x "é" (2 bytes) = 511 bytes; the next "é" would end at 513 */
	p += sprintf(p, "---\ntitle: Utf\n---\n- a");
	for (i = 0; i < 300; i++)
		p += sprintf(p, "\xc3\xa9");
	write_file(f, "utf.md", text);
	assert_int_equal(load1(f, "utf.md"), T0_OK);
	step = runbook_set_at(f->set, 0)->steps[0];
	assert_int_equal(strlen(step), 511);
	assert_memory_equal(step + 509, "\xc3\xa9", 2);
}

static void test_runbook_failed_load_keeps_nothing_and_missing_path_fails(void **state)
{
	struct fx *f = *state;

	write_file(f, "a.md", "---\ntitle: A\n---\n");
	write_file(f, "z.md", "---\ntitle: [\n---\n");
	assert_int_equal(load1(f, "."), T0_EPARSE);
	assert_int_equal(runbook_set_count(f->set), 0);
	assert_int_equal(load1(f, "nope.md"), T0_ENOTFOUND);
	assert_non_null(strstr(f->err, "nope.md"));
}

static void test_runbook_oversized_file_is_rejected(void **state)
{
	struct fx *f = *state;
	size_t n = RUNBOOK_MAX_FILE + 10;
	char *big = malloc(n + 1);

	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, "---\ntitle: Big\n---\n", 19);
	big[n] = '\0';
	write_file(f, "big.md", big);
	free(big);
	assert_int_equal(load1(f, "big.md"), T0_ETOOBIG);
}

static void load_match_set(struct fx *f)
{
	write_file(f, "1-generic.md", "---\ntitle: Generic errors\nalerts: ['(?i)high.?error.?rate']\n---\n");
	write_file(f, "2-pay.md", "---\ntitle: Payments\nservices: [payment-api]\n"
				  "alerts: ['(?i)high.?error.?rate']\n---\n");
	write_file(f, "3-svc.md", "---\ntitle: Payments db\nservices: [Payment-API, ledger]\n---\n");
	write_file(f, "4-other.md", "---\ntitle: Other\nservices: [auth-service]\nalerts: [Disk]\n---\n");
	assert_int_equal(load1(f, "."), T0_OK);
	assert_int_equal(runbook_set_count(f->set), 4);
}

static void test_runbook_match_by_service_is_case_insensitive(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	load_match_set(f);
	assert_int_equal(runbook_match(f->set, "PAYMENT-api", NULL, out, 8), 2);
	assert_string_equal(out[0]->title, "Payments");
	assert_string_equal(out[1]->title, "Payments db");
}

static void test_runbook_match_by_alert_text(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	load_match_set(f);
	assert_int_equal(runbook_match(f->set, NULL, "HIGH ERROR RATE on checkout", out, 8), 2);
	assert_string_equal(out[0]->title, "Generic errors");
	assert_string_equal(out[1]->title, "Payments");
	/* patterns are case-sensitive unless they say (?i) */
	assert_int_equal(runbook_match(f->set, NULL, "disk almost full", out, 8), 0);
	assert_int_equal(runbook_match(f->set, NULL, "Disk almost full", out, 8), 1);
}

static void test_runbook_match_ranks_alert_and_service_first(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	load_match_set(f);
	/* alert + service > alert > service only; ties by load order */
	assert_int_equal(runbook_match(f->set, "payment-api", "High error rate", out, 8), 3);
	assert_string_equal(out[0]->title, "Payments");
	assert_string_equal(out[1]->title, "Generic errors");
	assert_string_equal(out[2]->title, "Payments db");
	assert_int_equal(runbook_match(f->set, "payment-api", "High error rate", out, 1), 1);
	assert_string_equal(out[0]->title, "Payments");
}

static void test_runbook_match_service_named_in_alert_text(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	load_match_set(f);
	assert_int_equal(runbook_match(f->set, NULL, "[FIRING] Ledger lagging", out, 8), 1);
	assert_string_equal(out[0]->title, "Payments db");
	/* a longer name that merely contains a service name does not count */
	assert_int_equal(runbook_match(f->set, NULL, "ledger-replica lagging", out, 8), 0);
}

static void test_runbook_match_prefers_the_runbook_about_the_service(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	write_file(f, "1-shared.md", "---\ntitle: Certificates\nservices: [web, payment-api]\n---\n");
	write_file(f, "2-own.md", "---\ntitle: Payment API\nservices: [payment-api, web]\n---\n");
	assert_int_equal(load1(f, "."), T0_OK);
	/* payment-api is 2-own's first service: it outranks the earlier shared runbook */
	assert_int_equal(runbook_match(f->set, "payment-api", NULL, out, 8), 2);
	assert_string_equal(out[0]->title, "Payment API");
	assert_string_equal(out[1]->title, "Certificates");
	assert_int_equal(runbook_match(f->set, "web", NULL, out, 8), 2);
	assert_string_equal(out[0]->title, "Certificates");
}

static void test_runbook_no_match(void **state)
{
	struct fx *f = *state;
	const struct runbook *out[8];

	load_match_set(f);
	assert_int_equal(runbook_match(f->set, "unknown", "all quiet", out, 8), 0);
	assert_int_equal(runbook_match(f->set, NULL, NULL, out, 8), 0);
	assert_int_equal(runbook_match(f->set, "payment-api", NULL, out, 0), 0);
	assert_int_equal(runbook_match(NULL, "payment-api", NULL, out, 8), 0);
}

static void test_runbook_demo_matches_realistic_alerts(void **state)
{
	struct fx *f = *state;
	const char *paths[] = {"runbooks"};
	const struct runbook *out[8];

	assert_int_equal(runbook_set_load(f->set, paths, 1, "config/demo", f->err, sizeof(f->err)),
			 T0_OK);
	assert_true(runbook_match(f->set, NULL, "[FIRING:1] KafkaConsumerGroupLag email-worker",
				  out, 8) >= 1);
	assert_string_equal(out[0]->title, "Kafka consumer lag");
	assert_true(runbook_match(f->set, "payment-api", "HighErrorRate payment-api 5xx > 2%", out,
				  8) >= 1);
	assert_string_equal(out[0]->title, "Payment API high error rate");
	assert_true(runbook_match(f->set, NULL, "Login failures above 5% on auth-service", out,
				  8) >= 1);
	assert_string_equal(out[0]->title, "Auth service latency and login failures");
	/* invalid UTF-8 in alert text is not an error */
	assert_int_equal(runbook_match(f->set, NULL, "\xff\xfe disk", out, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_runbook_demo_directory_loads_in_name_order),
		T(test_runbook_front_matter_fields_are_read),
		T(test_runbook_summary_is_first_paragraph_after_first_heading),
		T(test_runbook_steps_come_from_the_steps_heading),
		T(test_runbook_steps_fall_back_to_first_list),
		T(test_runbook_steps_are_bounded),
		T(test_runbook_long_step_is_truncated),
		T(test_runbook_missing_title_names_file_and_line),
		T(test_runbook_bad_yaml_names_the_file_line),
		T(test_runbook_bad_regex_names_the_pattern),
		T(test_runbook_wrong_types_are_errors),
		T(test_runbook_unknown_key_is_only_a_warning),
		T(test_runbook_named_file_without_front_matter_is_an_error),
		T(test_runbook_directory_skips_files_without_front_matter),
		T(test_runbook_glob_and_overlap_load_each_file_once),
		T(test_runbook_truncation_keeps_utf8_whole),
		T(test_runbook_failed_load_keeps_nothing_and_missing_path_fails),
		T(test_runbook_oversized_file_is_rejected),
		T(test_runbook_match_by_service_is_case_insensitive),
		T(test_runbook_match_by_alert_text),
		T(test_runbook_match_ranks_alert_and_service_first),
		T(test_runbook_match_service_named_in_alert_text),
		T(test_runbook_match_prefers_the_runbook_about_the_service),
		T(test_runbook_no_match),
		T(test_runbook_demo_matches_realistic_alerts),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
