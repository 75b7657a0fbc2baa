/*
 * The Teams app package: manifest.json (bot id, scopes, commands) and the two
 * icons Teams requires (color 192x192, outline 32x32 white on transparent),
 * drawn here and written as PNG with stored (uncompressed) deflate blocks, so
 * no image library or zlib is needed.
 */
#include "adapters/chat/teams/teams.h"
#include "adapters/chat/teams/teams_package.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/config.h"
#include "bot/t0.h"
#include "intents/intent.h"

#define PKG_MANIFEST_VERSION "1.16"
#define PKG_MAX_COMMANDS 10 /* Teams: at most 10 commands per command list */
#define PKG_TITLE_MAX 32
#define PKG_DESC_MAX 128
#define PKG_ACCENT "#1F6FEB"

/* ---- PNG ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

struct pbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
};

static void put(struct pbuf *b, const void *d, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		unsigned char *np;

		while (ncap < b->len + n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put32(struct pbuf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(b, x, 4);
}

static void chunk(struct pbuf *b, const char *type, const unsigned char *data, size_t n)
{
	uint32_t crc;

	put32(b, (uint32_t)n);
	put(b, type, 4);
	put(b, data, n);
	crc = crc32_update(0, (const unsigned char *)type, 4);
	crc = crc32_update(crc, data, n);
	put32(b, crc);
}

/* rgba: w*h*4 bytes. The PNG in *out (malloc'ed). */
int teams_png_encode(const unsigned char *rgba, int w, int h, unsigned char **out, size_t *outlen)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	struct pbuf png = { 0 }, z = { 0 };
	unsigned char ihdr[13];
	size_t row = (size_t)w * 4 + 1, raw_len = row * (size_t)h, done = 0;
	uint32_t a = 1, bsum = 0;
	unsigned char *raw;

	if (w <= 0 || h <= 0 || w > 4096 || h > 4096)
		return T0_EINVAL;
	crc_init();
	raw = malloc(raw_len);
	if (!raw)
		return T0_ENOMEM;
	for (int y = 0; y < h; y++) {
		raw[(size_t)y * row] = 0; /* filter: none */
		memcpy(raw + (size_t)y * row + 1, rgba + (size_t)y * (size_t)w * 4, (size_t)w * 4);
	}
	/* zlib: header, stored blocks, Adler-32 */
	put(&z, "\x78\x01", 2);
	while (done < raw_len || raw_len == 0) {
		size_t n = raw_len - done > 65535 ? 65535 : raw_len - done;
		unsigned char hdr[5] = { (unsigned char)(done + n == raw_len), (unsigned char)n,
					 (unsigned char)(n >> 8), (unsigned char)~n,
					 (unsigned char)(~n >> 8) };

		put(&z, hdr, 5);
		put(&z, raw + done, n);
		done += n;
		if (!raw_len)
			break;
	}
	for (size_t i = 0; i < raw_len; i++) {
		a = (a + raw[i]) % 65521u;
		bsum = (bsum + a) % 65521u;
	}
	put32(&z, (bsum << 16) | a);
	free(raw);
	ihdr[0] = (unsigned char)(w >> 24);
	ihdr[1] = (unsigned char)(w >> 16);
	ihdr[2] = (unsigned char)(w >> 8);
	ihdr[3] = (unsigned char)w;
	ihdr[4] = (unsigned char)(h >> 24);
	ihdr[5] = (unsigned char)(h >> 16);
	ihdr[6] = (unsigned char)(h >> 8);
	ihdr[7] = (unsigned char)h;
	ihdr[8] = 8;  /* bit depth */
	ihdr[9] = 6;  /* RGBA */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering */
	ihdr[12] = 0; /* no interlace */
	put(&png, sig, sizeof(sig));
	chunk(&png, "IHDR", ihdr, sizeof(ihdr));
	if (!z.oom)
		chunk(&png, "IDAT", z.p, z.len);
	chunk(&png, "IEND", NULL, 0);
	free(z.p);
	if (png.oom || z.oom) {
		free(png.p);
		return T0_ENOMEM;
	}
	*out = png.p;
	*outlen = png.len;
	return T0_OK;
}

/*
 * The tier0 mark: a ring with a dot, like a "0" on a target. Coverage is
 * sampled 4x4 per pixel so the edges are smooth at 32 pixels too.
 */
static double mark_coverage(double x, double y, double size)
{
	double c = size / 2.0, r = hypot(x - c, y - c);
	double outer = size * 0.40, inner = size * 0.28, dot = size * 0.09;

	return (r <= outer && r >= inner) || r <= dot ? 1.0 : 0.0;
}

int teams_icon_rgba(int size, int outline, unsigned char **out)
{
	unsigned char *px = malloc((size_t)size * (size_t)size * 4);

	if (!px)
		return T0_ENOMEM;
	for (int y = 0; y < size; y++)
		for (int x = 0; x < size; x++) {
			unsigned char *p = px + ((size_t)y * (size_t)size + (size_t)x) * 4;
			double cov = 0;

			for (int sy = 0; sy < 4; sy++)
				for (int sx = 0; sx < 4; sx++)
					cov += mark_coverage(x + (sx + 0.5) / 4.0, y + (sy + 0.5) / 4.0,
							     size);
			cov /= 16.0;
			if (outline) {
				/* White on transparent, as Teams requires for the outline icon. */
				p[0] = p[1] = p[2] = 255;
				p[3] = (unsigned char)lround(cov * 255.0);
			} else {
				/* White mark on the accent colour, full bleed. */
				p[0] = (unsigned char)lround(0x1f + (255 - 0x1f) * cov);
				p[1] = (unsigned char)lround(0x6f + (255 - 0x6f) * cov);
				p[2] = (unsigned char)lround(0xeb + (255 - 0xeb) * cov);
				p[3] = 255;
			}
		}
	*out = px;
	return T0_OK;
}

/* ---- manifest ---- */

struct cmds {
	json_t *arr;
};

/* "who owns <service>" -> "who owns"; a placeholder in the middle keeps the whole usage. */
static void command_title(const char *usage, char *out, size_t cap)
{
	size_t n = strcspn(usage, "<[");
	const char *rest = usage + n;

	if (*rest) {
		const char *close = strpbrk(rest, ">]");

		if (close && close[1] == '\0') {
			while (n && usage[n - 1] == ' ')
				n--;
			snprintf(out, cap, "%.*s", (int)n, usage);
			return;
		}
	}
	snprintf(out, cap, "%s", usage);
}

static void add_command(void *arg, const char *usage, const char *help)
{
	struct cmds *c = arg;
	char title[128], desc[256];
	size_t i;
	json_t *cmd;

	if (json_array_size(c->arr) >= PKG_MAX_COMMANDS || !usage || !*usage)
		return;
	command_title(usage, title, sizeof(title));
	if (!*title || strlen(title) > PKG_TITLE_MAX)
		return;
	json_array_foreach(c->arr, i, cmd)
		if (!strcmp(json_string_value(json_object_get(cmd, "title")), title))
			return;
	snprintf(desc, sizeof(desc), "%s%s%s%s", help ? help : "", strcmp(title, usage) ? " (" : "",
		 strcmp(title, usage) ? usage : "", strcmp(title, usage) ? ")" : "");
	if (strlen(desc) > PKG_DESC_MAX)
		desc[PKG_DESC_MAX] = '\0';
	json_array_append_new(c->arr, json_pack("{s:s, s:s}", "title", title, "description", desc));
}

json_t *teams_manifest_build(const struct config *cfg, const struct teams_package_opts *o,
			     char *err, size_t errlen)
{
	struct intent_engine *eng;
	struct cmds c = { .arr = json_array() };
	char ierr[512];
	json_t *m;

	if (!cfg->teams_enabled || !cfg->teams_app_id) {
		snprintf(err, errlen, "the configuration has no teams section (teams.app_id)");
		json_decref(c.arr);
		return NULL;
	}
	eng = intent_engine_new(cfg->intent_rules, ierr, sizeof(ierr));
	if (!eng) {
		snprintf(err, errlen, "%s", ierr);
		json_decref(c.arr);
		return NULL;
	}
	intent_help_each(eng, add_command, &c);
	intent_engine_free(eng);
	m = json_pack(
		"{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s},"
		" s:{s:s, s:s}, s:s, s:[{s:s, s:[s, s, s], s:b, s:b, s:[{s:[s, s, s], s:o}]}],"
		" s:[s, s], s:[]}",
		"$schema",
		"https://developer.microsoft.com/en-us/json-schemas/teams/v" PKG_MANIFEST_VERSION
		"/MicrosoftTeams.schema.json",
		"manifestVersion", PKG_MANIFEST_VERSION,
		"version", o->version ? o->version : T0_VERSION,
		"id", cfg->teams_app_id,
		"developer",
		"name", o->developer ? o->developer : "tier0 operators",
		"websiteUrl", o->website ? o->website : "https://example.com/tier0",
		"privacyUrl", o->privacy ? o->privacy : (o->website ? o->website : "https://example.com/tier0/privacy"),
		"termsOfUseUrl", o->terms ? o->terms : (o->website ? o->website : "https://example.com/tier0/terms"),
		"name", "short", o->name ? o->name : "tier0", "full",
		"tier0 incident assistant",
		"description", "short", "Ownership, on-call, runbooks and approvals for incidents.",
		"full",
		"tier0 answers who owns a service and who is on call, posts incident context "
		"(owner, recent deploys, runbook) to the owning team's channel, and lets approvers "
		"decide on operational actions with card buttons. Every step is audited.",
		"icons", "color", "color.png", "outline", "outline.png",
		"accentColor", PKG_ACCENT,
		"bots",
		"botId", cfg->teams_app_id,
		"scopes", "personal", "team", "groupChat",
		"supportsFiles", 0,
		"isNotificationOnly", 0,
		"commandLists",
		"scopes", "personal", "team", "groupChat",
		"commands", c.arr,
		"permissions", "identity", "messageTeamMembers",
		"validDomains");
	if (!m)
		snprintf(err, errlen, "out of memory");
	return m;
}

static int write_file(const char *dir, const char *name, const void *data, size_t n, char *err,
		      size_t errlen)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp || fwrite(data, 1, n, fp) != n) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fp)
			fclose(fp);
		return T0_EIO;
	}
	if (fclose(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return T0_EIO;
	}
	return T0_OK;
}

static int write_icon(const char *dir, const char *name, int size, int outline, char *err,
		      size_t errlen)
{
	unsigned char *rgba = NULL, *png = NULL;
	size_t n = 0;
	int rc = teams_icon_rgba(size, outline, &rgba);

	if (rc == T0_OK)
		rc = teams_png_encode(rgba, size, size, &png, &n);
	if (rc == T0_OK)
		rc = write_file(dir, name, png, n, err, errlen);
	else
		snprintf(err, errlen, "cannot draw %s: %s", name, t0_rc_str(rc));
	free(rgba);
	free(png);
	return rc;
}

int teams_package_write_opts(const struct config *cfg, const struct teams_package_opts *o,
			     const char *dir, char *err, size_t errlen)
{
	json_t *m = teams_manifest_build(cfg, o, err, errlen);
	char *text;
	int rc;

	if (!m)
		return T0_ECONFIG;
	text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(m);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return T0_ENOMEM;
	}
	rc = write_file(dir, "manifest.json", text, strlen(text), err, errlen);
	free(text);
	if (rc == T0_OK)
		rc = write_icon(dir, "color.png", 192, 0, err, errlen);
	if (rc == T0_OK)
		rc = write_icon(dir, "outline.png", 32, 1, err, errlen);
	return rc;
}

int teams_package_write(const struct config *cfg, const char *dir, char *err, size_t errlen)
{
	struct teams_package_opts o = { 0 };

	return teams_package_write_opts(cfg, &o, dir, err, errlen);
}
