/* The Teams app package: manifest fields Teams checks, and PNG icons that decode to their pixels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/chat/teams/teams_package.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"

#define APP "3f1c7a2e-9b4d-4e8a-a1c2-0d5e6f7a8b9c"

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

/* Walks the chunks (checking each CRC), inflates the stored blocks, compares the pixels. */
static void check_png(const unsigned char *png, size_t n, const unsigned char *rgba, int w, int h)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	unsigned char *z = malloc(n), *raw;
	size_t zl = 0, pos = 8, rl = 0, want = ((size_t)w * 4 + 1) * (size_t)h;
	int seen_end = 0;
	uint32_t a = 1, b = 0;

	assert_memory_equal(png, sig, 8);
	while (pos + 12 <= n) {
		uint32_t len = be32(png + pos);
		const unsigned char *type = png + pos + 4;

		assert_true(pos + 12 + len <= n);
		assert_int_equal(crc32_ref(type, len + 4), be32(png + pos + 8 + len));
		if (!memcmp(type, "IHDR", 4)) {
			assert_int_equal(be32(type + 4), w);
			assert_int_equal(be32(type + 8), h);
			assert_int_equal(type[12], 8);
			assert_int_equal(type[13], 6);
		} else if (!memcmp(type, "IDAT", 4)) {
			memcpy(z + zl, type + 4, len);
			zl += len;
		} else if (!memcmp(type, "IEND", 4)) {
			seen_end = 1;
		}
		pos += 12 + len;
	}
	assert_true(seen_end);
	assert_int_equal(pos, n);
	raw = malloc(want);
	/* zlib header, then stored blocks until BFINAL */
	assert_int_equal((z[0] * 256 + z[1]) % 31, 0);
	for (size_t p = 2;;) {
		int final = z[p] & 1;
		size_t len = z[p + 1] | (size_t)z[p + 2] << 8, nlen = z[p + 3] | (size_t)z[p + 4] << 8;

		assert_int_equal(z[p] & 6, 0); /* BTYPE 00: stored */
		assert_int_equal(len ^ 0xffff, nlen);
		assert_true(rl + len <= want);
		memcpy(raw + rl, z + p + 5, len);
		rl += len;
		p += 5 + len;
		if (final) {
			for (size_t i = 0; i < rl; i++) {
				a = (a + raw[i]) % 65521u;
				b = (b + a) % 65521u;
			}
			assert_int_equal(be32(z + p), (b << 16) | a);
			break;
		}
	}
	assert_int_equal(rl, want);
	for (int y = 0; y < h; y++) {
		assert_int_equal(raw[(size_t)y * ((size_t)w * 4 + 1)], 0);
		assert_memory_equal(raw + (size_t)y * ((size_t)w * 4 + 1) + 1,
				    rgba + (size_t)y * (size_t)w * 4, (size_t)w * 4);
	}
	free(raw);
	free(z);
}

static void test_package_icons_are_valid_png(void **state)
{
	unsigned char *rgba = NULL, *png = NULL;
	size_t n = 0;

	assert_int_equal(teams_icon_rgba(192, 0, &rgba), T0_OK);
	/* Full bleed: every pixel of the color icon is opaque; the corner is the accent colour. */
	for (size_t i = 0; i < 192 * 192; i++)
		assert_int_equal(rgba[i * 4 + 3], 255);
	assert_int_equal(rgba[0], 0x1f);
	assert_int_equal(rgba[2], 0xeb);
	assert_int_equal(teams_png_encode(rgba, 192, 192, &png, &n), T0_OK);
	check_png(png, n, rgba, 192, 192);
	free(rgba);
	free(png);

	assert_int_equal(teams_icon_rgba(32, 1, &rgba), T0_OK);
	/* Outline: white only, transparent background, the mark drawn. */
	assert_int_equal(rgba[3], 0);
	{
		int opaque = 0;

		for (size_t i = 0; i < 32 * 32; i++) {
			assert_int_equal(rgba[i * 4], 255);
			opaque += rgba[i * 4 + 3] == 255;
		}
		assert_true(opaque > 50);
	}
	assert_int_equal(teams_png_encode(rgba, 32, 32, &png, &n), T0_OK);
	check_png(png, n, rgba, 32, 32);
	free(rgba);
	free(png);
}

static void test_package_manifest_fields(void **state)
{
	const char *yaml = "teams:\n  app_id: " APP "\n  app_password: x\n";
	struct config *cfg = NULL;
	struct teams_package_opts o = { .website = "https://ops.example.com" };
	char err[256];
	json_t *m, *bot, *cmds, *c;
	size_t i;

	log_set_level(LOG_LEVEL_ERR);
	assert_int_equal(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)), T0_OK);
	m = teams_manifest_build(cfg, &o, err, sizeof(err));
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "id")), APP);
	bot = json_array_get(json_object_get(m, "bots"), 0);
	assert_string_equal(json_string_value(json_object_get(bot, "botId")), APP);
	assert_int_equal(json_array_size(json_object_get(bot, "scopes")), 3);
	cmds = json_object_get(json_array_get(json_object_get(bot, "commandLists"), 0), "commands");
	assert_true(json_array_size(cmds) >= 5 && json_array_size(cmds) <= 10);
	json_array_foreach(cmds, i, c) {
		assert_true(strlen(json_string_value(json_object_get(c, "title"))) <= 32);
		assert_true(strlen(json_string_value(json_object_get(c, "description"))) <= 128);
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(cmds, 1), "title")),
			    "who owns");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "icons"), "outline")),
			    "outline.png");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "developer"),
							      "privacyUrl")), "https://ops.example.com");
	json_decref(m);
	config_free(cfg);

	/* Without a teams section there is no bot id to put in it. */
	assert_int_equal(config_load_buffer("t.yaml", "{}", 2, &cfg, err, sizeof(err)), T0_OK);
	assert_null(teams_manifest_build(cfg, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "no teams section"));
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_package_icons_are_valid_png),
		cmocka_unit_test(test_package_manifest_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
