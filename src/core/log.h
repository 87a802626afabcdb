/*
 * log: one line per event on stderr, as text or JSON (--log-format).
 *
 * Each line is written with a single write(2), so lines from the writer
 * thread and the event loop never interleave. Keys passed to log_event()
 * become JSON fields or key=value pairs in text mode.
 */
#ifndef MAILSCOPE_CORE_LOG_H
#define MAILSCOPE_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_setup(enum log_level min, enum log_format format);
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A structured event: kv holds nkv key/value pairs (2 * nkv strings). In
 * JSON each pair is a field beside "msg"; in text they follow the message as
 * key=value, quoted when the value has spaces.
 */
void log_event(enum log_level level, const char *msg, const char *const *kv, size_t nkv);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
