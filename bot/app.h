/* The process: configuration, store, loop, HTTP endpoints, adapters, signals. */
#ifndef T0_APP_H
#define T0_APP_H

enum app_mode { APP_RUN = 0, APP_CONSOLE, APP_DEMO };

struct app_opts {
	int mode;           /* enum app_mode */
	const char *config; /* configuration file */
	const char *db;     /* overrides store.path when set */
	int verbose;
};

/* Runs until stopped; returns the process exit status. */
int app_main(const struct app_opts *o);

#endif
