/*
 * Log facade: one JSON object per line on stderr (or a chosen stream).
 *
 *   log_info("store", "open", "path=%s version=%d", path, v);
 *
 * prints {"time":"2026-11-26T08:00:00.123Z","level":"info","component":"store",
 * "msg":"open","path":"/var/lib/tier0.db","version":3}. The format string holds
 * space-separated key=value fields; a new field starts at a space followed by
 * an identifier and '='. Values that look like integers are emitted as numbers.
 * The level is tested before anything is formatted. Never pass secrets.
 */
#ifndef T0_LOG_H
#define T0_LOG_H

#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(int level);
int log_get_level(void);
/* "error" | "warn" | "info" | "debug" -> level; returns 0 or -1 when unknown. */
int log_level_parse(const char *name, int *level);
const char *log_level_name(int level);
/* NULL restores stderr. The stream is borrowed. */
void log_set_stream(FILE *fp);

void log_emit(int level, const char *component, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_at(lvl, comp, msg, ...)                                            \
	do {                                                                   \
		if ((lvl) <= log_get_level())                                  \
			log_emit((lvl), (comp), (msg), __VA_ARGS__);           \
	} while (0)
#define log_err(comp, msg, ...) log_at(LOG_LEVEL_ERR, comp, msg, __VA_ARGS__)
#define log_warn(comp, msg, ...) log_at(LOG_LEVEL_WARN, comp, msg, __VA_ARGS__)
#define log_info(comp, msg, ...) log_at(LOG_LEVEL_INFO, comp, msg, __VA_ARGS__)
#define log_debug(comp, msg, ...) log_at(LOG_LEVEL_DEBUG, comp, msg, __VA_ARGS__)

#endif
