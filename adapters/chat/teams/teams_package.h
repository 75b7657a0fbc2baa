/* Building the Teams app package (manifest and icons); see teams.h and docs/TEAMS.md. */
#ifndef T0_TEAMS_PACKAGE_H
#define T0_TEAMS_PACKAGE_H

#include <jansson.h>
#include <stddef.h>

struct config;

/* What the manifest says about the app and its publisher; NULL = a default. */
struct teams_package_opts {
	const char *name;      /* short name, "tier0" */
	const char *developer; /* publisher name */
	const char *website;   /* https URL; also privacy/terms when those are not given */
	const char *privacy;
	const char *terms;
	const char *version;   /* app version, default the tier0 version */
};

/* The manifest (new reference), or NULL with err set. */
json_t *teams_manifest_build(const struct config *cfg, const struct teams_package_opts *o,
			     char *err, size_t errlen);
int teams_package_write_opts(const struct config *cfg, const struct teams_package_opts *o,
			     const char *dir, char *err, size_t errlen);

/* The icon's pixels, size x size RGBA (caller frees). outline: white on transparent. */
int teams_icon_rgba(int size, int outline, unsigned char **out);
/* An RGBA image as PNG (caller frees *out). */
int teams_png_encode(const unsigned char *rgba, int w, int h, unsigned char **out,
		     size_t *outlen);

#endif
