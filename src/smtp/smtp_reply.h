/*
 * smtp_reply: the client's side of RFC 5321 4.2, pure. Bytes in (in pieces of
 * any size), complete replies out: the 3-digit code, every line as received,
 * the enhanced status code (RFC 3463 / RFC 2034) when the first line carries
 * one. Also the EHLO reply as a list of keywords (RFC 5321 4.1.1.1) and the
 * queue id of a 250 after DATA. No I/O; safe to fuzz.
 *
 * What it accepts (the policy, see smtp_reply.c for why):
 *  - lines end with CRLF; a bare LF also ends a line (many servers and
 *    middleboxes send them) unless limits.strict_crlf, and each one is
 *    counted in reply.bare_lf so a prober can report it. A CR that is not
 *    followed by LF is text.
 *  - a line is "NNN" CRLF, "NNN-text" CRLF (more follow) or "NNN text"
 *    CRLF (the last), NNN of [2-5][0-5][0-9]. Every line of one reply has
 *    the same code.
 *  - at most limits.line_max octets per line (CRLF included) and
 *    limits.lines_max lines per reply; RFC 5321 4.5.3.1.5 says 512 octets,
 *    real servers send longer EHLO lines, so the default is generous.
 *  - text may hold any byte but NUL (a NUL is an error); it is kept as is,
 *    so callers escape it for display and repair it for JSON.
 * What it refuses, each with its own error and a message naming the line:
 * a line that does not start with three digits, a bad fourth character,
 * codes that change within a reply, a code out of range, a line or reply
 * over the limits, NUL. After an error the parser drops the broken reply and
 * continues with the next line, so a caller may go on reading if it wants.
 */
#ifndef MAILSCOPE_SMTP_REPLY_H
#define MAILSCOPE_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Defaults for struct smtp_reply_limits (0 there means these). */
#define SMTP_REPLY_LINE_MAX  4096 /* octets per line, CRLF included */
#define SMTP_REPLY_LINES_MAX 256  /* lines per reply */
/* "5.7.8": class, subject and detail of at most 3 digits each (RFC 3463 2). */
#define SMTP_REPLY_ENHANCED_MAX 12

struct smtp_reply_limits {
	size_t line_max;
	size_t lines_max;
	int strict_crlf; /* 1: a bare LF is an error instead of a line end */
};

struct smtp_reply {
	int code;                               /* 220, 250, 535 ... */
	char enhanced[SMTP_REPLY_ENHANCED_MAX]; /* "5.7.8", or "" when the first line has none */
	char **lines;                           /* each line as received, without its line end, NUL-terminated */
	size_t nlines;                          /* at least 1 */
	unsigned bare_lf;                       /* lines of this reply that ended with a bare LF */
};

enum smtp_reply_status {
	SMTP_REPLY_MORE = 0, /* every byte used; no complete reply yet */
	SMTP_REPLY_DONE,     /* a complete reply is in *out */
	SMTP_REPLY_ERROR,    /* a malformed reply: parser->error says what */
};

enum smtp_reply_error {
	SMTP_REPLY_ERR_NONE = 0,
	SMTP_REPLY_ERR_NO_CODE,     /* the line does not start with three digits */
	SMTP_REPLY_ERR_BAD_CODE,    /* three digits, but not [2-5][0-5][0-9] */
	SMTP_REPLY_ERR_SEPARATOR,   /* the fourth character is not '-', ' ' or the line end */
	SMTP_REPLY_ERR_MIXED_CODES, /* a continuation line with another code */
	SMTP_REPLY_ERR_TOO_LONG,    /* a line over line_max */
	SMTP_REPLY_ERR_TOO_MANY,    /* more than lines_max lines */
	SMTP_REPLY_ERR_NUL,         /* a NUL byte */
	SMTP_REPLY_ERR_BARE_LF,     /* strict_crlf and a line ended with a bare LF */
};

struct smtp_reply_parser {
	struct smtp_reply_limits limits;
	struct buf line;       /* the current line so far */
	int discarding;        /* dropping the rest of a line that was too long */
	struct smtp_reply cur; /* lines of the reply being read */
	size_t lines_cap;
	enum smtp_reply_error error;
	char error_text[200]; /* "line 2 of the reply has code 251, the first had 250" */
	char error_line[256]; /* the offending line as received (cut, and at a NUL), for "what came instead" */
};

/* limits may be NULL for the defaults. */
void smtp_reply_parser_init(struct smtp_reply_parser *p, const struct smtp_reply_limits *limits);
void smtp_reply_parser_free(struct smtp_reply_parser *p);
/* Forgets a partial line or reply (after STARTTLS, input from before the handshake means nothing). */
void smtp_reply_parser_reset(struct smtp_reply_parser *p);
/* 1 when some bytes of a reply that is not complete are buffered. */
int smtp_reply_parser_pending(const struct smtp_reply_parser *p);

/*
 * Feeds len bytes. Stops after the first complete reply (DONE: *out is
 * filled and owned by the caller, free it with smtp_reply_free) or the first
 * error; *used says how many bytes were consumed, so the caller feeds the
 * rest again. MORE means all len bytes were used.
 */
enum smtp_reply_status smtp_reply_feed(struct smtp_reply_parser *p, const uint8_t *data, size_t len, size_t *used,
                                       struct smtp_reply *out);

void smtp_reply_free(struct smtp_reply *r);
/* A deep copy. */
void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src);
/* Line i's text: after "NNN-" or "NNN " ("" for a bare "NNN"). */
const char *smtp_reply_text(const struct smtp_reply *r, size_t i);
/* The same without a leading enhanced status code equal to r->enhanced (RFC 2034 puts it on every line). */
const char *smtp_reply_text_plain(const struct smtp_reply *r, size_t i);
/* Short English name of an error ("codes differ between lines"). */
const char *smtp_reply_error_name(enum smtp_reply_error e);

/*
 * The queue id a server gave in its 250 after the end of data: "queued as
 * ID" (Postfix, mailscope), "id=ID" (Exim), "ID Message accepted" (Sendmail),
 * "<ID> ... Queued mail" (Microsoft), "OK NNN ID - gsmtp" (Gmail). Returns 0
 * and the id in out, or -1 when no form matched. Only printable ASCII goes
 * into out.
 */
int smtp_reply_queue_id(const struct smtp_reply *r, char *out, size_t outlen);

/* ---- EHLO (RFC 5321 4.1.1.1) ---- */

/* Service extensions the client cares about, as bits of smtp_ehlo.ext. */
enum smtp_ext {
	SMTP_EXT_STARTTLS = 1u << 0,            /* RFC 3207 */
	SMTP_EXT_AUTH = 1u << 1,                /* RFC 4954 (also the old "AUTH=" form) */
	SMTP_EXT_SIZE = 1u << 2,                /* RFC 1870 */
	SMTP_EXT_PIPELINING = 1u << 3,          /* RFC 2920 */
	SMTP_EXT_CHUNKING = 1u << 4,            /* RFC 3030 */
	SMTP_EXT_8BITMIME = 1u << 5,            /* RFC 6152 */
	SMTP_EXT_BINARYMIME = 1u << 6,          /* RFC 3030 */
	SMTP_EXT_SMTPUTF8 = 1u << 7,            /* RFC 6531 */
	SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 8, /* RFC 2034 */
	SMTP_EXT_DSN = 1u << 9,                 /* RFC 3461 */
	SMTP_EXT_REQUIRETLS = 1u << 10,         /* RFC 8689 */
};
#define SMTP_EXT__COUNT 11

struct smtp_ehlo_keyword {
	char *name;   /* upper-cased: "SIZE", "AUTH", "X-FOO"; for the old form "AUTH=LOGIN" it is "AUTH" */
	char *params; /* the rest of the line after one space, as sent; "" when none */
	int known;    /* one of enum smtp_ext */
};

struct smtp_ehlo {
	char *domain;      /* the first word of the first line (the server's name) */
	char *greeting;    /* the rest of the first line, "" when none */
	unsigned ext;      /* enum smtp_ext bits */
	int size_given;    /* SIZE came with a number */
	uint64_t size;     /* that number (0: the server declares no limit) */
	unsigned auth;     /* bit (1 << enum smtp_auth_mech) for each mechanism we can use */
	char **auth_mechs; /* every mechanism offered, upper-cased, without duplicates, in order */
	size_t nauth_mechs;
	struct smtp_ehlo_keyword *keywords; /* every line after the first, in order */
	size_t nkeywords;
	unsigned malformed; /* lines whose keyword is not ALPHA/DIGIT *(ALPHA/DIGIT/"-"); kept as keywords */
};

/* Parses a 250 reply to EHLO (any other code: -1, *out zeroed). */
int smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);
void smtp_ehlo_free(struct smtp_ehlo *e);
/* "STARTTLS" for SMTP_EXT_STARTTLS; NULL for anything that is not exactly one bit. */
const char *smtp_ext_name(unsigned bit);
/* The keyword line as shown in reports: "SIZE 26214400", "AUTH PLAIN LOGIN". Caller frees. */
char *smtp_ehlo_keyword_text(const struct smtp_ehlo_keyword *k);

#endif
