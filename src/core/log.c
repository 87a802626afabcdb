/* log: leveled single-line logging to stderr in text or JSON. See log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timeutil.h"

static enum log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, enum log_format format)
{
	log_min = min;
	log_fmt = format;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int log_enabled(enum log_level level)
{
	return level >= log_min;
}

static void log_json_string(struct buf *b, const char *s)
{
	buf_append_byte(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			buf_append_byte(b, '\\');
			buf_append_byte(b, *p);
		} else if (*p < 0x20) {
			buf_printf(b, "\\u%04x", *p);
		} else {
			buf_append_byte(b, *p);
		}
	}
	buf_append_byte(b, '"');
}

void log_event(enum log_level level, const char *msg, const char *const *kv, size_t nkv)
{
	if (level < log_min)
		return;
	char stamp[40];
	timeutil_format_rfc3339(timeutil_now_ms(), stamp, sizeof stamp);
	struct buf b;
	buf_init(&b);
	if (log_fmt == LOG_FORMAT_JSON) {
		buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", stamp, log_names[level]);
		log_json_string(&b, msg);
		for (size_t i = 0; i < nkv; i++) {
			buf_append_byte(&b, ',');
			log_json_string(&b, kv[2 * i]);
			buf_append_byte(&b, ':');
			log_json_string(&b, kv[2 * i + 1] ? kv[2 * i + 1] : "");
		}
		buf_append_str(&b, "}\n");
	} else {
		buf_printf(&b, "%s %-5s %s", stamp, log_names[level], msg);
		for (size_t i = 0; i < nkv; i++) {
			const char *v = kv[2 * i + 1] ? kv[2 * i + 1] : "";
			if (*v == '\0' || strpbrk(v, " \"=\t"))
				buf_printf(&b, " %s=", kv[2 * i]), log_json_string(&b, v);
			else
				buf_printf(&b, " %s=%s", kv[2 * i], v);
		}
		buf_append_byte(&b, '\n');
	}
	ssize_t unused = write(STDERR_FILENO, b.data, b.len);
	(void)unused;
	buf_free(&b);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < log_min)
		return;
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);

	char stamp[40];
	timeutil_format_rfc3339(timeutil_now_ms(), stamp, sizeof stamp);

	struct buf b;
	buf_init(&b);
	if (log_fmt == LOG_FORMAT_JSON) {
		buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", stamp, log_names[level]);
		log_json_string(&b, text);
		buf_append_str(&b, "}\n");
	} else {
		buf_printf(&b, "%s %-5s %s\n", stamp, log_names[level], text);
	}
	ssize_t unused = write(STDERR_FILENO, b.data, b.len);
	(void)unused;
	buf_free(&b);
}
