/*
 * msg_inspect: everything a test wants to know about one stored message,
 * from its raw RFC 5322 bytes (GMime 3.2). Pure: bytes in, struct out; never
 * fails on malformed input (what cannot be parsed is left out), every string
 * it returns is valid UTF-8 (the API emits them as JSON).
 *
 * What it does not do: links and one-time codes (msg_links.h, msg_codes.h
 * work on the bodies found here), user patterns (msg_pattern.h).
 */
#ifndef MAILSCOPE_MSG_INSPECT_H
#define MAILSCOPE_MSG_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "msg/msg_summary.h"

/*
 * Limits on what one message can make us build (hostile nesting, header
 * floods). Parts past MSG_INSPECT_MAX_PARTS, or nested deeper than
 * MSG_INSPECT_MAX_DEPTH (the top-level part is depth 0), and header fields
 * past MSG_INSPECT_MAX_HEADERS are left out of the result.
 */
#define MSG_INSPECT_MAX_PARTS   1000
#define MSG_INSPECT_MAX_DEPTH   50
#define MSG_INSPECT_MAX_HEADERS 10000

struct msg_header {
	char *name;    /* as in the message */
	char *raw;     /* the value as in the message, folding kept, 8-bit repaired to UTF-8 */
	char *decoded; /* unfolded, RFC 2047 decoded to UTF-8 */
};

struct msg_part {
	int index;  /* depth-first order; 0 is the message's top-level part */
	int parent; /* -1 for the top-level part */
	int depth;
	char *content_type;      /* "text/plain", lower-case */
	char *charset;           /* lower-case, or NULL */
	char *transfer_encoding; /* "base64", "quoted-printable", "7bit" ... or NULL */
	char *disposition;       /* "inline", "attachment" or NULL */
	char *filename;          /* RFC 2231 / RFC 2047 decoded, or NULL */
	char *content_id;        /* without <>, or NULL */
	size_t size;             /* decoded size (leaf parts); 0 for multiparts and message/rfc822 parts */
	int is_multipart;
	int is_message; /* message/rfc822: its parts follow as children */
};

struct msg_attachment {
	int index;      /* 0.. in order of appearance; the API's /attachments/{index} */
	int part;       /* index into parts */
	char *filename; /* decoded; NULL when the part has none */
	char *content_type;
	size_t size;      /* decoded bytes */
	char sha256[65];  /* lower-case hex of the decoded bytes */
	char *content_id; /* without <>, or NULL */
	int is_inline;    /* Content-Disposition inline, or referenced by cid: from the HTML body */
};

struct msg_inspection {
	struct msg_header *headers; /* in order */
	size_t nheaders;
	struct msg_summary summary; /* from, to, cc, subject, date, message_id (as msg_summary_parse) */
	struct msg_addr *reply_to;
	size_t nreply_to;
	struct msg_addr *bcc;
	size_t nbcc;
	char *in_reply_to;      /* without <>, or NULL */
	char *list_unsubscribe; /* the header's decoded value, or NULL */
	struct msg_part *parts;
	size_t nparts;
	/*
	 * The best bodies: for text the first text/plain part that is not an
	 * attachment (preferring the one in a multipart/alternative beside the
	 * HTML), for HTML the first text/html likewise. Decoded from their
	 * transfer encoding and charset to UTF-8. NULL when absent.
	 */
	char *text;
	char *html;
	int text_part; /* index into parts, -1 */
	int html_part;
	struct msg_attachment *attachments;
	size_t nattachments;
};

void msg_inspect(const uint8_t *raw, size_t len, struct msg_inspection *out);
void msg_inspection_free(struct msg_inspection *in);

/*
 * The decoded content of attachment `index` (as numbered by msg_inspect).
 * Returns 0 and fills data and dlen (caller frees data), or -1 when there is no such
 * attachment.
 */
int msg_attachment_content(const uint8_t *raw, size_t len, int index, uint8_t **data, size_t *dlen);

#endif
