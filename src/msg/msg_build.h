/*
 * msg_build: a correct MIME message from its parts, for `mailscope send`
 * (GMime 3.2). Pure: the date and the Message-ID's randomness are passed
 * in, files are read by the caller.
 *
 * What comes out:
 *  - Date, From, To, Subject (when given), Message-ID, MIME-Version, then
 *    the extra headers in their order; subject and display names outside
 *    ASCII are RFC 2047 encoded words.
 *  - text only: text/plain; HTML only: text/html; both: multipart/alternative
 *    (text first, RFC 2046 5.1.4); with attachments: multipart/mixed around
 *    that body and one part per attachment (base64, Content-Disposition
 *    attachment, the filename RFC 2231 encoded when not ASCII, the type from
 *    the extension unless given, application/octet-stream otherwise).
 *  - text parts are UTF-8 (us-ascii when they are ASCII) in 7bit,
 *    quoted-printable or base64, whichever keeps every line within 998
 *    octets; the message is 7-bit clean and every line ends with CRLF.
 * Extra headers ("Name: value") replace a generated one of the same name
 * (Subject, Date, Message-ID, From, To, MIME-Version) and are appended
 * otherwise; Content-* headers are refused (they belong to the MIME
 * structure), as are names outside RFC 5322's field-name characters and
 * values with CR or LF (header injection).
 */
#ifndef MAILSCOPE_MSG_BUILD_H
#define MAILSCOPE_MSG_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct msg_build_attachment {
	const char *filename;     /* as the recipient sees it (no folder), UTF-8 */
	const char *content_type; /* "type/subtype"; NULL = guessed from the filename's extension */
	const uint8_t *data;
	size_t len;
};

struct msg_build_input {
	const char *from;      /* "Name <addr>" or "addr" */
	const char *const *to; /* each "Name <addr>" or "addr" */
	size_t nto;
	const char *subject; /* UTF-8; NULL = no Subject header */
	const char *text;    /* UTF-8 body; NULL = none */
	const char *html;    /* UTF-8 HTML body; NULL = none (neither: an empty text/plain) */
	const struct msg_build_attachment *attachments;
	size_t nattachments;
	const char *const *headers; /* "Name: value", UTF-8 */
	size_t nheaders;
	int64_t date_ms; /* for Date (UTC) and the Message-ID */
	uint64_t nonce;  /* random: makes the Message-ID unique */
};

/* Call msg_init() (msg_summary.h) once first. Appends the message to out; -1 with err on bad input. */
int msg_build(const struct msg_build_input *in, struct buf *out, char *err, size_t errlen);

/* The addr-spec of "Name <addr>" or "addr" (for MAIL FROM / RCPT TO); -1 with err when it is not one address. */
int msg_build_address(const char *spec, char *addr, size_t addrlen, char *err, size_t errlen);

/* "application/pdf" for "report.pdf"; application/octet-stream when the extension is unknown. */
const char *msg_build_guess_type(const char *filename);

#endif
