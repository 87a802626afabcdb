/*
 * smtp_parse: one SMTP command line in, a struct out (RFC 5321, 1870, 3030,
 * 3461, 6152, 6531). Pure: no I/O, no allocation, no global state; safe to
 * fuzz. The session layer (smtp_server.c) decides what a command means in
 * its state; this file only decides what the bytes say.
 *
 * What it promises:
 *  - the verb is matched case-insensitively; unknown verbs are reported as
 *    SMTP_VERB_UNKNOWN with status SMTP_PARSE_UNKNOWN_COMMAND;
 *  - MAIL FROM / RCPT TO paths are split into local part and domain and
 *    checked against RFC 5321 4.1.2 (dot-string or quoted-string local part,
 *    domain of LDH labels or an address literal) with the RFC 6531 UTF-8
 *    extensions; "<>" (MAIL only), "<postmaster>" (RCPT only) and source
 *    routes ("<@a,@b:user@c>", accepted and ignored per RFC 5321 Appendix C)
 *    are understood; the RFC 5321 4.5.3.1 length limits are enforced;
 *  - ESMTP parameters are split into keyword/value pairs; their meaning is
 *    checked by smtp_parse_mail_params() / smtp_parse_rcpt_params().
 * What it does not do: reading lines from the network, the 512-octet line
 * limit (the reader enforces it before calling), or state checks.
 */
#ifndef MAILSCOPE_SMTP_PARSE_H
#define MAILSCOPE_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define SMTP_COMMAND_LINE_MAX 512
/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_PART_MAX 64
#define SMTP_DOMAIN_MAX     255
#define SMTP_PATH_MAX       256
#define SMTP_MAX_PARAMS     16
#define SMTP_ENVID_MAX      100 /* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX      500 /* RFC 3461 4.2 */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB__COUNT
};

enum smtp_parse_status {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_UNKNOWN_COMMAND, /* 500 5.5.2 */
	SMTP_PARSE_SYNTAX,          /* 501 5.5.4: malformed arguments */
	SMTP_PARSE_BAD_SENDER,      /* 501 5.1.7: MAIL FROM path syntax */
	SMTP_PARSE_BAD_RECIPIENT,   /* 501 5.1.3: RCPT TO path syntax */
	SMTP_PARSE_PATH_TOO_LONG,   /* 501 5.5.4 with a reason naming the RFC 5321 limit */
	SMTP_PARSE_NUL,             /* 500 5.5.2: NUL byte in the command line */
	SMTP_PARSE_BAD_UTF8,        /* 501 5.6.7: invalid UTF-8 */
};

struct smtp_parse_error {
	enum smtp_parse_status status;
	char reason[160]; /* human text for the reply, no CRLF, ASCII */
};

struct smtp_param {
	const char *keyword; /* as sent (compare case-insensitively) */
	const char *value;   /* NULL when the parameter had no "=" */
};

struct smtp_path {
	int null;            /* "<>" (MAIL FROM only) */
	int postmaster;      /* "<postmaster>" without a domain (RCPT TO only) */
	int has_route;       /* a source route was present and has been dropped */
	int bracketed;       /* the path was inside <>; bare addresses are accepted but noted */
	int non_ascii;       /* UTF-8 in local part or domain: needs SMTPUTF8 (RFC 6531) */
	const char *local;   /* local part exactly as sent, quotes included; "" for <> */
	const char *domain;  /* domain or address literal as sent; "" for <> and <postmaster> */
	const char *address; /* "local@domain" as sent, route removed; "" for <>, "postmaster" */
};

struct smtp_command {
	enum smtp_verb verb;
	/* Everything after the verb and its separating space(s), trailing
	 * whitespace removed; "" when there is none. For HELO/EHLO the domain,
	 * for VRFY/EXPN/HELP the argument, for AUTH "MECH [initial-response]". */
	const char *arg;
	struct smtp_path path; /* MAIL, RCPT */
	struct smtp_param params[SMTP_MAX_PARAMS];
	size_t nparams;
	uint64_t bdat_size; /* BDAT */
	int bdat_last;      /* BDAT ... LAST */
	/* Private: the strings above point into this storage: the argument,
	 * then NUL-terminated copies of the address, the local part and the
	 * parameters (at most twice the line plus a local part). */
	char storage_[2 * SMTP_COMMAND_LINE_MAX + SMTP_LOCAL_PART_MAX + 8];
};

/*
 * Parse one command line. `line` holds `len` bytes without the CRLF (the
 * reader strips it). Returns 0 and fills *cmd, or -1 and fills *err; on error
 * cmd->verb still names the verb when it was recognised, so the caller can
 * count errors per command.
 */
int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd, struct smtp_parse_error *err);

const char *smtp_verb_name(enum smtp_verb verb);

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER   0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY   0x8u

struct smtp_mail_params {
	int has_size;
	uint64_t size;       /* SIZE= (RFC 1870) */
	enum smtp_body body; /* BODY= (RFC 6152, RFC 3030) */
	int smtputf8;        /* SMTPUTF8 (RFC 6531) */
	enum smtp_ret ret;   /* RET= (RFC 3461) */
	const char *envid;   /* ENVID= as sent (xtext), NULL if absent */
	const char *auth;    /* AUTH= (RFC 4954 5), NULL if absent */
};

struct smtp_rcpt_params {
	unsigned notify;   /* SMTP_NOTIFY_* bits; 0 when NOTIFY= was not given */
	const char *orcpt; /* ORCPT= as sent ("rfc822;user@example.com" in xtext), NULL if absent */
};

/* Parameter status codes map to replies: unknown keyword -> 555 5.5.4,
 * bad or duplicate value -> 501 5.5.4. */
enum smtp_param_status {
	SMTP_PARAM_OK = 0,
	SMTP_PARAM_UNKNOWN, /* 555 5.5.4 */
	SMTP_PARAM_INVALID, /* 501 5.5.4 */
};

struct smtp_param_error {
	enum smtp_param_status status;
	char reason[160];
};

/* Interpret cmd->params of a MAIL / RCPT command. Pointers in *out point into cmd. */
int smtp_parse_mail_params(const struct smtp_command *cmd, struct smtp_mail_params *out, struct smtp_param_error *err);
int smtp_parse_rcpt_params(const struct smtp_command *cmd, struct smtp_rcpt_params *out, struct smtp_param_error *err);

#endif
