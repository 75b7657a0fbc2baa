/*
 * libFuzzer target: arbitrary bytes through the YAML/JSON loader, then through
 * the configuration loader (env substitution, schema, *_file secrets, dump).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/config.h"
#include "bot/t0.h"
#include "bot/yload.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The variables config/tier0.example.yaml uses, so that seed validates to the end. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("T0_METRICS_TOKEN", "fuzz-metrics-token", 1);
	setenv("TIER0_ENV", "fuzz", 1);
	setenv("PAGERDUTY_TOKEN", "fuzz-pd", 1);
	setenv("GITHUB_TOKEN", "fuzz-gh", 1);
	setenv("ARGOCD_TOKEN", "fuzz-argo", 1);
	setenv("K8S_TOKEN", "fuzz-k8s", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ydocs docs;
	struct config *cfg = NULL;
	char err[512];
	int rc;

	rc = yload_parse("fuzz.yaml", (const char *)data, size, &docs, err, sizeof(err));
	if (rc == T0_OK) {
		/* Walk every position entry: they must point into live trees. */
		for (size_t i = 0; i < docs.n; i++) {
			const struct ydoc *d = &docs.docs[i];
			int line, col;

			for (size_t j = 0; j < d->npos; j++) {
				const struct ypos *e = &d->pos[j];

				if (e->key)
					ydoc_key_pos(d, e->parent, e->key, &line, &col);
			}
			if (d->root)
				ydoc_node_pos(d, d->root, &line, &col);
		}
		ydocs_free(&docs);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort(); /* the message must be terminated */
	}

	rc = config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err));
	if (rc == T0_OK) {
		FILE *null = fopen("/dev/null", "w");

		if (!cfg || !cfg->http_host || cfg->http_port < 1 || cfg->http_port > 65535)
			abort();
		if (null) {
			config_dump_masked(cfg, null);
			fclose(null);
		}
		free(config_path(cfg, "x"));
	} else if (cfg || err[0] == '\0') {
		abort(); /* a failure leaves nothing behind and always says why */
	}
	config_free(cfg);
	return 0;
}
