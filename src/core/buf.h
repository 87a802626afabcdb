/*
 * buf: a growable byte buffer. Owns its memory; buf_steal() hands the bytes
 * to the caller (who then frees them with free()) and leaves the buf empty.
 */
#ifndef MAILSCOPE_CORE_BUF_H
#define MAILSCOPE_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_byte(struct buf *b, uint8_t c);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates without counting the NUL in len; returns data as a C string. */
char *buf_cstr(struct buf *b);
uint8_t *buf_steal(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

#endif
