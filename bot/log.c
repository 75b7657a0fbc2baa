#include "bot/log.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "bot/t0.h"

#define LOG_LINE_MAX 4096

static int log_level = LOG_LEVEL_INFO;
static FILE *log_stream;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(int level)
{
	if (level < LOG_LEVEL_ERR)
		level = LOG_LEVEL_ERR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_LEVEL_DEBUG)
		return "info";
	return level_names[level];
}

int log_level_parse(const char *name, int *level)
{
	for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	if (strcmp(name, "err") == 0 || strcmp(name, "warning") == 0) {
		*level = name[0] == 'e' ? LOG_LEVEL_ERR : LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

void log_set_stream(FILE *fp)
{
	log_stream = fp;
}

/* Appends s[0..n) JSON-escaped to the buffer, never past its end. */
static size_t put_escaped(char *out, size_t pos, size_t cap, const char *s, size_t n)
{
	for (size_t i = 0; i < n && pos + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c == '\n') {
			out[pos++] = '\\';
			out[pos++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", c);
		} else {
			out[pos++] = (char)c;
		}
	}
	return pos;
}

static size_t put_raw(char *out, size_t pos, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (pos + n + 1 >= cap)
		n = cap > pos + 1 ? cap - pos - 1 : 0;
	memcpy(out + pos, s, n);
	return pos + n;
}

static int is_integer(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > 18)
		return 0;
	if (s[0] == '-')
		i = 1;
	if (i == n || (s[i] == '0' && n > i + 1))
		return 0;
	for (; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A field key starts at p: [a-z_][a-z0-9_.]* followed by '='. Returns key length or 0. */
static size_t key_at(const char *p)
{
	size_t n = 0;

	if (!(islower((unsigned char)p[0]) || p[0] == '_'))
		return 0;
	while (islower((unsigned char)p[n]) || isdigit((unsigned char)p[n]) || p[n] == '_' ||
	       p[n] == '.')
		n++;
	return p[n] == '=' ? n : 0;
}

static size_t put_fields(char *out, size_t pos, size_t cap, const char *f)
{
	const char *p = f;

	while (*p == ' ')
		p++;
	while (*p) {
		size_t klen = key_at(p);
		const char *v, *end;

		if (!klen) {
			/* Free text without a key: keep it as "detail". */
			pos = put_raw(out, pos, cap, ",\"detail\":\"");
			pos = put_escaped(out, pos, cap, p, strlen(p));
			pos = put_raw(out, pos, cap, "\"");
			break;
		}
		v = p + klen + 1;
		end = v;
		while (*end && !(end[0] == ' ' && key_at(end + 1)))
			end++;
		pos = put_raw(out, pos, cap, ",\"");
		pos = put_escaped(out, pos, cap, p, klen);
		pos = put_raw(out, pos, cap, "\":");
		if (is_integer(v, (size_t)(end - v))) {
			pos = put_escaped(out, pos, cap, v, (size_t)(end - v));
		} else {
			pos = put_raw(out, pos, cap, "\"");
			pos = put_escaped(out, pos, cap, v, (size_t)(end - v));
			pos = put_raw(out, pos, cap, "\"");
		}
		p = *end ? end + 1 : end;
	}
	return pos;
}

void log_emit(int level, const char *component, const char *msg, const char *fmt, ...)
{
	char fields[LOG_LINE_MAX / 2];
	char line[LOG_LINE_MAX];
	char ts[64];
	int64_t now = t0_now_ms();
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	size_t pos = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);

	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now % 1000));

	pos = put_raw(line, pos, sizeof(line), "{\"time\":\"");
	pos = put_raw(line, pos, sizeof(line), ts);
	pos = put_raw(line, pos, sizeof(line), "\",\"level\":\"");
	pos = put_raw(line, pos, sizeof(line), log_level_name(level));
	pos = put_raw(line, pos, sizeof(line), "\",\"component\":\"");
	pos = put_escaped(line, pos, sizeof(line), component, strlen(component));
	pos = put_raw(line, pos, sizeof(line), "\",\"msg\":\"");
	pos = put_escaped(line, pos, sizeof(line), msg, strlen(msg));
	pos = put_raw(line, pos, sizeof(line), "\"");
	pos = put_fields(line, pos, sizeof(line), fields);
	pos = put_raw(line, pos, sizeof(line), "}\n");

	fwrite(line, 1, pos, log_stream ? log_stream : stderr);
	fflush(log_stream ? log_stream : stderr);
}
