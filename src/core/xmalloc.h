/*
 * xmalloc: allocation that either succeeds or does not return.
 *
 * Running out of memory is not an error a request can recover from in this
 * program, so callers never test for NULL: on failure these print a message
 * and abort. Errors a user can cause (I/O, bad input) are returned instead.
 */
#ifndef MAILSCOPE_CORE_XMALLOC_H
#define MAILSCOPE_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
