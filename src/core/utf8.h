/*
 * utf8: validation (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF) and repair of text that must be valid UTF-8 (JSON output).
 */
#ifndef MAILSCOPE_CORE_UTF8_H
#define MAILSCOPE_CORE_UTF8_H

#include <stddef.h>

/* Length of the valid sequence at p (1..4), or 0 if p does not start one. */
size_t utf8_sequence_len(const unsigned char *p, size_t avail);
int utf8_valid(const char *s, size_t len);
/* A copy with every invalid byte replaced by U+FFFD; caller frees. */
char *utf8_sanitize(const char *s, size_t len);

#endif
