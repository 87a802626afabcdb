/*
 * dkim_canon: the message as DKIM sees it (RFC 6376 3.4, 3.7, 5.4.2).
 * Pure: bytes in, bytes out.
 *
 * dkim_canon_message() splits the raw message into header fields exactly
 * as received (folding kept) and the body. Line ends: CRLF; a message
 * stored with bare LF line ends (a .eml file written on Unix) is read as if
 * each bare LF were CRLF, which is what it was on the wire.
 *
 * Header canonicalization (3.4.1, 3.4.2) of one field; body
 * canonicalization (3.4.3, 3.4.4) of the whole body, then the l= limit is
 * applied by the caller on the canonical body (3.4.5). The DKIM-Signature
 * field itself is hashed with its b= value removed (3.7):
 * dkim_canon_strip_b().
 *
 * Does not: decode MIME, or repair anything else.
 */
#ifndef MAILSCOPE_AUTH_DKIM_CANON_H
#define MAILSCOPE_AUTH_DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "auth/dkim_parse.h"
#include "core/buf.h"

struct dkim_field {
	const char *raw; /* the field: name, colon, value with its folding; no final CRLF */
	size_t len;
	size_t name_len;  /* the name without WSP before the colon; len when there is no colon */
	size_t value_off; /* just after the colon (len when there is none) */
};

struct dkim_message {
	struct buf crlf; /* the message with CRLF line ends; fields and body point into it */
	struct dkim_field *fields;
	size_t nfields;
	const char *body;
	size_t body_len;
};

/* Never fails: a message without an empty line is all header and no body. Free with dkim_message_free(). */
void dkim_message_parse(const uint8_t *msg, size_t len, struct dkim_message *out);
void dkim_message_free(struct dkim_message *m);
/* 1 when field f's name is name (case-insensitive). */
int dkim_field_is(const struct dkim_field *f, const char *name);

/* Appends the canonical form of one field (raw, len as in dkim_field), with CRLF when crlf. */
void dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, int crlf, struct buf *out);
/* Appends the canonical body. */
void dkim_canon_body(enum dkim_canon c, const char *body, size_t len, struct buf *out);
/*
 * The DKIM-Signature field with the b= tag's value (and WSP inside it)
 * removed, the rest unchanged: caller frees, *outlen set.
 */
char *dkim_canon_strip_b(const char *raw, size_t len, size_t *outlen);

#endif
