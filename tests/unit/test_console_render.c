#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/chat/console_render.h"
#include "bot/reply.h"
#include "bot/t0.h"

static void test_render_text_sections_fields_buttons_context(void **state)
{
	struct reply *r = reply_new();
	char *out;

	assert_int_equal(reply_set_text(r, "payment-api is owned by %s", "Payments Team"), T0_OK);
	assert_int_equal(reply_add_section(r, "payment-api", "Takes card payments.\nPCI scope."), T0_OK);
	assert_int_equal(reply_add_field(r, "Owner", "Payments Team"), T0_OK);
	assert_int_equal(reply_add_button(r, "Approve", "approval.approve", "a1", REPLY_STYLE_PRIMARY, NULL), T0_OK);
	assert_int_equal(reply_add_button(r, "Roll back", "action.rollback", "a2", REPLY_STYLE_DANGER, "Sure?"), T0_OK);
	assert_int_equal(reply_add_context(r, "From the catalog: %s", "payments.yaml"), T0_OK);
	out = console_render(r, NULL);
	assert_non_null(out);
	assert_string_equal(out, "payment-api is owned by Payments Team\n"
				 "  == payment-api ==\n"
				 "  Takes card payments.\n"
				 "  PCI scope.\n"
				 "  Owner: Payments Team\n"
				 "  [1] Approve\n"
				 "  [2] Roll back (!)\n"
				 "  (type the number to choose)\n"
				 "  -- From the catalog: payments.yaml\n");
	free(out);
	reply_free(r);
}

static void test_render_strips_terminal_escapes_and_bidi(void **state)
{
	struct reply *r = reply_new();
	char *out;

	/* ESC [2J (clear screen), a C1 CSI (U+009B), BEL, and RLO (U+202E). */
	assert_int_equal(reply_set_text(r, "a\x1b[2Jb\xc2\x9b" "31mc\x07" "d\xe2\x80\xae" "e"), T0_OK);
	out = console_render(r, NULL);
	assert_string_equal(out, "a?[2Jb?31mc?d?e\n");
	free(out);
	reply_free(r);
}

static void test_sanitize_keeps_utf8_and_bounds_output(void **state)
{
	char out[8];

	assert_int_equal(console_sanitize("h\xc3\xa9llo", out, sizeof(out)), 6);
	assert_string_equal(out, "h\xc3\xa9llo");
	assert_int_equal(console_sanitize("0123456789", out, sizeof(out)), 7);
	assert_string_equal(out, "0123456");
}

static void test_reply_bounds_are_enforced(void **state)
{
	struct reply *r = reply_new();
	char *big = malloc(REPLY_MAX_TEXT + 2);

	memset(big, 'x', REPLY_MAX_TEXT + 1);
	big[REPLY_MAX_TEXT + 1] = '\0';
	assert_int_equal(reply_add_section(r, big, NULL), T0_ETOOBIG);
	for (int i = 0; i < REPLY_MAX_BUTTONS; i++)
		assert_int_equal(reply_add_button(r, "b", "x", "v", 0, NULL), T0_OK);
	assert_int_equal(reply_add_button(r, "b", "x", "v", 0, NULL), T0_ETOOBIG);
	assert_int_equal(reply_add_button(r, NULL, "x", "v", 0, NULL), T0_ETOOBIG);
	free(big);
	reply_free(r);
}

static void test_reply_to_json_is_canonical(void **state)
{
	struct reply *r = reply_new();
	char *js;

	reply_set_text(r, "hi");
	reply_add_field(r, "k", "v");
	reply_add_button(r, "Go", "retry", "who owns x", REPLY_STYLE_PRIMARY, NULL);
	reply_set_intent(r, "owner");
	js = reply_to_json(r);
	assert_string_equal(js, "{\"buttons\":[{\"action_id\":\"retry\",\"label\":\"Go\",\"style\":"
				"\"primary\",\"value\":\"who owns x\"}],\"context\":[],\"ephemeral\":"
				"false,\"intent\":\"owner\",\"sections\":[{\"fields\":[{\"label\":\"k\","
				"\"value\":\"v\"}]}],\"text\":\"hi\"}");
	free(js);
	reply_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_text_sections_fields_buttons_context),
		cmocka_unit_test(test_render_strips_terminal_escapes_and_bidi),
		cmocka_unit_test(test_sanitize_keeps_utf8_and_bounds_output),
		cmocka_unit_test(test_reply_bounds_are_enforced),
		cmocka_unit_test(test_reply_to_json_is_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
