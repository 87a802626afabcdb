/*
 * smtp_parse: one SMTP command line in, a struct smtp_command out, plus the
 * interpretation of MAIL and RCPT parameters. See smtp_parse.h for the
 * contract.
 *
 * Everything here is pure: the argument of the line is copied into
 * cmd->storage_ and every string handed back points into that copy, so a
 * parsed command is self-contained and nothing is allocated. The parser is
 * strict about what it reports, so that the sandbox can name the client's
 * mistake, and lenient only where real clients commonly deviate: spaces
 * after "FROM:", bare addresses without <>, HELO names with underscores,
 * several spaces between parameters.
 *
 * Reasons are fixed ASCII text. They never echo raw client bytes, only
 * tokens this file has already checked to be letters, digits and hyphens,
 * because they end up verbatim in SMTP replies.
 */
#include "smtp/smtp_parse.h"

#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The longest verb or parameter keyword we echo back in a reason. */
#define SMTP_PARSE_ECHO_MAX 20
/* RFC 4954 4: a SASL mechanism name is 1 to 20 characters. */
#define SMTP_PARSE_SASL_MECH_MAX 20
/* RFC 1035 2.3.4: a DNS label is at most 63 octets. */
#define SMTP_PARSE_LABEL_MAX 63

/*
 * Storage budget for a line of A <= SMTP_COMMAND_LINE_MAX - 5 argument
 * octets: "" (1) + argument (A + 1) + address (<= path + 1) + local part
 * (<= 64 + 1) + parameters (each "k=v " becomes "k\0v\0", so no more than
 * the text after the path). Path and parameters share the argument, so
 * the total is below 2 * A + 64 + 4.
 */
_Static_assert(sizeof(((struct smtp_command *)0)->storage_) >= 2 * SMTP_COMMAND_LINE_MAX + SMTP_LOCAL_PART_MAX,
               "smtp_command.storage_ cannot hold the pieces of the longest command line");

/* One parse in progress: the line and where its pieces are being copied. */
struct smtp_parse_ctx {
	struct smtp_command *cmd;
	struct smtp_parse_error *err;
	const unsigned char *arg;     /* argument in the caller's line */
	const unsigned char *arg_end; /* trailing whitespace excluded */
	size_t used;                  /* bytes of cmd->storage_ handed out */
};

static const char *const smtp_parse_verb_names[SMTP_VERB__COUNT] = {
        [SMTP_VERB_UNKNOWN] = "UNKNOWN", [SMTP_VERB_HELO] = "HELO",         [SMTP_VERB_EHLO] = "EHLO",
        [SMTP_VERB_MAIL] = "MAIL",       [SMTP_VERB_RCPT] = "RCPT",         [SMTP_VERB_DATA] = "DATA",
        [SMTP_VERB_BDAT] = "BDAT",       [SMTP_VERB_RSET] = "RSET",         [SMTP_VERB_NOOP] = "NOOP",
        [SMTP_VERB_QUIT] = "QUIT",       [SMTP_VERB_VRFY] = "VRFY",         [SMTP_VERB_EXPN] = "EXPN",
        [SMTP_VERB_HELP] = "HELP",       [SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH",
};

const char *smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB__COUNT)
		return smtp_parse_verb_names[SMTP_VERB_UNKNOWN];
	return smtp_parse_verb_names[verb];
}

/* ---- character classes (ASCII only, independent of the C locale) ---- */

static int smtp_parse_is_alpha(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static int smtp_parse_is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static int smtp_parse_is_alnum(unsigned char ch)
{
	return smtp_parse_is_alpha(ch) || smtp_parse_is_digit(ch);
}

static int smtp_parse_is_hex(unsigned char ch)
{
	return smtp_parse_is_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/* RFC 3461 4: hexchar uses upper case hexadecimal digits only. */
static int smtp_parse_is_upper_hex(unsigned char ch)
{
	return smtp_parse_is_digit(ch) || (ch >= 'A' && ch <= 'F');
}

static int smtp_parse_is_ctl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/* RFC 5322 3.2.3 atext, the ASCII part (RFC 6531 adds UTF-8). */
static int smtp_parse_is_atext(unsigned char ch)
{
	return smtp_parse_is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

static unsigned char smtp_parse_lower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

/* Do the n bytes at p equal word, ignoring ASCII case? */
static int smtp_parse_ieq(const unsigned char *p, size_t n, const char *word)
{
	size_t i;

	if (strlen(word) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (smtp_parse_lower(p[i]) != smtp_parse_lower((unsigned char)word[i]))
			return 0;
	return 1;
}

static int smtp_parse_ieq_str(const char *s, const char *word)
{
	return smtp_parse_ieq((const unsigned char *)s, strlen(s), word);
}

/* Length of the well-formed UTF-8 sequence at p, or 0 (core/utf8.h has the rules). */
static size_t smtp_parse_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	return utf8_sequence_len(p, (size_t)(end - p));
}

/* ---- errors and storage ---- */

static int smtp_parse_fail(struct smtp_parse_ctx *c, enum smtp_parse_status status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int smtp_parse_fail(struct smtp_parse_ctx *c, enum smtp_parse_status status, const char *fmt, ...)
{
	va_list ap;

	if (c->err == NULL)
		return -1;
	c->err->status = status;
	va_start(ap, fmt);
	vsnprintf(c->err->reason, sizeof c->err->reason, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Copy n bytes to the storage of the command, NUL-terminated. Storage is
 * sized for the worst case of a line of SMTP_COMMAND_LINE_MAX octets, so
 * running out means the caller let a longer line through; refuse it rather
 * than overflow.
 */
static int smtp_parse_keep(struct smtp_parse_ctx *c, const unsigned char *s, size_t n, const char **out)
{
	char *dst;

	if (n >= sizeof c->cmd->storage_ - c->used)
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Line too long");
	dst = c->cmd->storage_ + c->used;
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
	c->used += n + 1;
	*out = dst;
	return 0;
}

/* Is this token safe to quote in a reason (letters, digits, hyphens)? */
static int smtp_parse_echoable(const unsigned char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > SMTP_PARSE_ECHO_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!smtp_parse_is_alnum(p[i]) && p[i] != '-')
			return 0;
	return 1;
}

/*
 * A plain-text argument (HELO name, VRFY string, ...): no control
 * characters, and any 8-bit bytes must be UTF-8.
 */
static int smtp_parse_check_text(struct smtp_parse_ctx *c, const char *what)
{
	const unsigned char *p = c->arg;
	size_t n;

	while (p < c->arg_end) {
		if (smtp_parse_is_ctl(*p))
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Control character in %s", what);
		n = smtp_parse_utf8_seq(p, c->arg_end);
		if (n == 0)
			return smtp_parse_fail(c, SMTP_PARSE_BAD_UTF8, "Invalid UTF-8 in %s", what);
		p += n;
	}
	return 0;
}

/* ---- domains and address literals (RFC 5321 4.1.2, 4.1.3) ---- */

/*
 * A domain of dot-separated labels: letters, digits and inner hyphens, or
 * RFC 6531 U-labels (any well-formed UTF-8 mixed with LDH characters; the
 * IDNA rules are left to whoever resolves the name). The 63-octet label
 * limit applies to ASCII labels; a U-label's limit is that of its A-label.
 */
static int smtp_parse_check_domain(struct smtp_parse_ctx *c, const unsigned char *p, const unsigned char *end,
                                   enum smtp_parse_status bad, int *non_ascii)
{
	const unsigned char *label = p, *q;
	size_t n;
	int utf8;

	if (p == end)
		return smtp_parse_fail(c, bad, "Missing domain after '@'");
	for (;;) {
		utf8 = 0;
		for (q = label; q < end && *q != '.';) {
			if (*q >= 0x80) {
				n = smtp_parse_utf8_seq(q, end);
				if (n == 0)
					return smtp_parse_fail(c, SMTP_PARSE_BAD_UTF8, "Invalid UTF-8 in domain");
				utf8 = 1;
				q += n;
			} else if (smtp_parse_is_alnum(*q) || *q == '-') {
				q++;
			} else if (*q == '_') {
				return smtp_parse_fail(c, bad,
				                       "Underscore in domain (only letters, digits and hyphens)");
			} else {
				return smtp_parse_fail(c, bad, "Invalid character in domain");
			}
		}
		if (q == label)
			return smtp_parse_fail(c, bad, "Empty label in domain (leading, trailing or double dot)");
		if (*label == '-' || q[-1] == '-')
			return smtp_parse_fail(c, bad, "Domain label starts or ends with a hyphen");
		if (!utf8 && (size_t)(q - label) > SMTP_PARSE_LABEL_MAX)
			return smtp_parse_fail(c, bad, "Domain label longer than %d characters", SMTP_PARSE_LABEL_MAX);
		if (utf8)
			*non_ascii = 1;
		if (q == end)
			return 0;
		label = q + 1;
	}
}

/* RFC 5321 IPv4-address-literal: four Snum (1*3DIGIT, 0..255) with dots. */
static int smtp_parse_ipv4(const unsigned char *p, const unsigned char *end)
{
	unsigned value, digits;
	int i;

	for (i = 0; i < 4; i++) {
		value = 0;
		digits = 0;
		while (p < end && smtp_parse_is_digit(*p) && digits < 3) {
			value = value * 10 + (unsigned)(*p - '0');
			p++;
			digits++;
		}
		if (digits == 0 || value > 255 || (p < end && smtp_parse_is_digit(*p)))
			return 0;
		if (i < 3) {
			if (p == end || *p != '.')
				return 0;
			p++;
		}
	}
	return p == end;
}

/*
 * RFC 5321 IPv6-addr: eight groups of 1-4 hex digits, or fewer with one
 * "::", optionally ending in an IPv4 address that counts as two groups.
 * Like RFC 4291 (and inet_pton), "::" may stand for a single group.
 */
static int smtp_parse_ipv6(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *q;
	int groups = 0, compressed = 0;

	if (end - p >= 2 && p[0] == ':' && p[1] == ':') {
		compressed = 1;
		p += 2;
		if (p == end)
			return 1;
	}
	for (;;) {
		for (q = p; q < end && smtp_parse_is_hex(*q); q++)
			;
		if (q < end && *q == '.') {
			/* The IPv4 tail must come last. */
			if (!smtp_parse_ipv4(p, end))
				return 0;
			groups += 2;
			break;
		}
		if (q == p || q - p > 4)
			return 0;
		groups++;
		p = q;
		if (groups > 8)
			return 0;
		if (p == end)
			break;
		if (*p != ':')
			return 0;
		p++;
		if (p < end && *p == ':') {
			if (compressed)
				return 0;
			compressed = 1;
			p++;
			if (p == end)
				break;
		} else if (p == end) {
			return 0; /* a single trailing colon */
		}
	}
	return compressed ? groups <= 7 : groups == 8;
}

/* The inside of "[...]": IPv4, "IPv6:..." or a General-address-literal. */
static int smtp_parse_check_literal(struct smtp_parse_ctx *c, const unsigned char *p, const unsigned char *end,
                                    enum smtp_parse_status bad)
{
	const unsigned char *colon, *q;

	if (p == end)
		return smtp_parse_fail(c, bad, "Empty address literal");
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL) {
		if (!smtp_parse_ipv4(p, end))
			return smtp_parse_fail(c, bad,
			                       "Invalid address literal (expected [192.0.2.1] or [IPv6:2001:db8::1])");
		return 0;
	}
	if (smtp_parse_ieq(p, (size_t)(colon - p), "IPv6")) {
		if (!smtp_parse_ipv6(colon + 1, end))
			return smtp_parse_fail(c, bad, "Invalid IPv6 address literal");
		return 0;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	if (colon == p || colon[-1] == '-')
		return smtp_parse_fail(c, bad, "Invalid address literal tag");
	for (q = p; q < colon; q++)
		if (!smtp_parse_is_alnum(*q) && *q != '-')
			return smtp_parse_fail(c, bad, "Invalid address literal tag");
	if (colon + 1 == end)
		return smtp_parse_fail(c, bad, "Empty address literal");
	for (q = colon + 1; q < end; q++)
		if (*q < 33 || *q > 126 || *q == '[' || *q == '\\')
			return smtp_parse_fail(c, bad, "Invalid character in address literal");
	return 0;
}

/* ---- paths (RFC 5321 4.1.2) ---- */

/*
 * A source route "@a,@b:" (RFC 5321 Appendix C: accepted and ignored). On
 * entry *pp is at the first '@'; on return just after the ':'.
 */
static int smtp_parse_route(struct smtp_parse_ctx *c, const unsigned char **pp, const unsigned char *end,
                            enum smtp_parse_status bad)
{
	const unsigned char *p = *pp, *q;
	int ignored = 0, first = 1;

	for (;;) {
		p++; /* the '@' */
		for (q = p; q < end && *q != ',' && *q != ':' && *q != '>'; q++)
			;
		if (q == end || *q == '>') {
			if (first)
				return smtp_parse_fail(c, bad, "Missing local part before '@'");
			return smtp_parse_fail(c, bad, "Source route must end with ':'");
		}
		if (q == p)
			return smtp_parse_fail(c, bad, "Empty domain in source route");
		if (smtp_parse_check_domain(c, p, q, bad, &ignored) < 0)
			return -1;
		p = q + 1;
		if (*q == ':')
			break;
		if (p == end || *p != '@')
			return smtp_parse_fail(c, bad, "Invalid source route (expected @domain after ',')");
		first = 0;
	}
	*pp = p;
	return 0;
}

/* Local-part = Dot-string / Quoted-string, both with RFC 6531 UTF-8. */
static int smtp_parse_local(struct smtp_parse_ctx *c, const unsigned char **pp, const unsigned char *end,
                            enum smtp_parse_status bad, int *non_ascii)
{
	const unsigned char *p = *pp, *start = p;
	size_t n;
	int after_dot = 1;

	if (p < end && *p == '"') {
		for (p++;;) {
			if (p == end)
				return smtp_parse_fail(c, bad, "Unterminated quoted local part");
			if (*p == '"') {
				p++;
				break;
			}
			if (*p == '\\') {
				/* quoted-pairSMTP = "\" %d32-126 */
				p++;
				if (p == end)
					return smtp_parse_fail(c, bad, "Unterminated quoted local part");
				if (*p < 32 || *p > 126)
					return smtp_parse_fail(c, bad, "Invalid quoted pair in local part");
				p++;
			} else if (*p >= 0x80) {
				n = smtp_parse_utf8_seq(p, end);
				if (n == 0)
					return smtp_parse_fail(c, SMTP_PARSE_BAD_UTF8, "Invalid UTF-8 in local part");
				*non_ascii = 1;
				p += n;
			} else if (smtp_parse_is_ctl(*p)) {
				return smtp_parse_fail(c, bad, "Control character in quoted local part");
			} else {
				p++;
			}
		}
		*pp = p;
		return 0;
	}
	while (p < end) {
		if (*p == '.') {
			if (after_dot)
				return smtp_parse_fail(c, bad,
				                       p == start ? "Local part starts with a dot"
				                                  : "Local part has two dots in a row");
			after_dot = 1;
			p++;
		} else if (smtp_parse_is_atext(*p)) {
			after_dot = 0;
			p++;
		} else if (*p >= 0x80) {
			n = smtp_parse_utf8_seq(p, end);
			if (n == 0)
				return smtp_parse_fail(c, SMTP_PARSE_BAD_UTF8, "Invalid UTF-8 in local part");
			*non_ascii = 1;
			after_dot = 0;
			p += n;
		} else {
			break;
		}
	}
	if (p == start) {
		if (p < end && *p == '@')
			return smtp_parse_fail(c, bad, "Missing local part before '@'");
		if (p == end || *p == '>')
			return smtp_parse_fail(c, bad, "Missing address");
		return smtp_parse_fail(c, bad, "Invalid character in local part");
	}
	if (after_dot)
		return smtp_parse_fail(c, bad, "Local part ends with a dot");
	*pp = p;
	return 0;
}

/*
 * The path of MAIL FROM: / RCPT TO:, starting at *pp (spaces after the
 * colon already skipped). On return *pp is just after the path.
 */
static int smtp_parse_path(struct smtp_parse_ctx *c, const unsigned char **pp, const unsigned char *end, int rcpt)
{
	struct smtp_path *path = &c->cmd->path;
	enum smtp_parse_status bad = rcpt ? SMTP_PARSE_BAD_RECIPIENT : SMTP_PARSE_BAD_SENDER;
	const unsigned char *start = *pp, *p = start, *mbox, *local_end, *dom, *dom_end, *q;
	size_t local_len;

	if (*p == '<') {
		path->bracketed = 1;
		p++;
		if (p < end && *p == '>') {
			if (rcpt)
				return smtp_parse_fail(c, bad, "The null path <> is not a valid recipient");
			path->null = 1;
			p++;
			if (p < end && *p != ' ')
				return smtp_parse_fail(c, bad, "Unexpected text after '>'");
			*pp = p;
			return 0;
		}
		if (p < end && *p == '@') {
			if (smtp_parse_route(c, &p, end, bad) < 0)
				return -1;
			path->has_route = 1;
		}
	} else if (*p == '@') {
		return smtp_parse_fail(c, bad, "Missing local part before '@'");
	}

	mbox = p;
	if (smtp_parse_local(c, &p, end, bad, &path->non_ascii) < 0)
		return -1;
	local_end = p;
	local_len = (size_t)(local_end - mbox);

	if (p == end || *p != '@') {
		int at_end = path->bracketed ? (p < end && *p == '>') : (p == end || *p == ' ');

		if (rcpt && at_end && !path->has_route && smtp_parse_ieq(mbox, local_len, "postmaster")) {
			/* RFC 5321 4.1.1.3: "<Postmaster>" needs no domain. */
			path->postmaster = 1;
			dom = dom_end = p;
		} else if (at_end || p == end) {
			if (path->bracketed && p == end)
				return smtp_parse_fail(c, bad, "Missing closing '>'");
			return smtp_parse_fail(c, bad, "Address has no domain (expected local@domain)");
		} else {
			return smtp_parse_fail(c, bad, "Invalid character in local part");
		}
	} else {
		p++; /* the '@' */
		dom = p;
		if (p < end && *p == '[') {
			q = memchr(p, ']', (size_t)(end - p));
			if (q == NULL)
				return smtp_parse_fail(c, bad, "Unterminated address literal");
			if (smtp_parse_check_literal(c, p + 1, q, bad) < 0)
				return -1;
			p = q + 1;
		} else {
			/* Inside <> the domain runs to the '>', so that a missing
			 * '>' is reported as such and not as a bad domain. */
			if (path->bracketed) {
				q = memchr(p, '>', (size_t)(end - p));
				if (q == NULL)
					return smtp_parse_fail(c, bad, "Missing closing '>'");
			} else {
				for (q = p; q < end && *q != ' '; q++)
					;
			}
			if (smtp_parse_check_domain(c, p, q, bad, &path->non_ascii) < 0)
				return -1;
			p = q;
		}
		dom_end = p;
	}

	if (path->bracketed) {
		if (p == end)
			return smtp_parse_fail(c, bad, "Missing closing '>'");
		if (*p != '>')
			return smtp_parse_fail(c, bad, "Unexpected text after the domain");
		p++;
	}
	if (p < end && *p != ' ')
		return smtp_parse_fail(
		        c, bad, path->bracketed ? "Unexpected text after '>'" : "Unexpected text after the domain");

	if (local_len > SMTP_LOCAL_PART_MAX)
		return smtp_parse_fail(c, SMTP_PARSE_PATH_TOO_LONG,
		                       "Local part longer than %d octets (RFC 5321 4.5.3.1.1)", SMTP_LOCAL_PART_MAX);
	if ((size_t)(dom_end - dom) > SMTP_DOMAIN_MAX)
		return smtp_parse_fail(c, SMTP_PARSE_PATH_TOO_LONG, "Domain longer than %d octets (RFC 5321 4.5.3.1.2)",
		                       SMTP_DOMAIN_MAX);
	if ((size_t)(p - start) > SMTP_PATH_MAX)
		return smtp_parse_fail(c, SMTP_PARSE_PATH_TOO_LONG, "Path longer than %d octets (RFC 5321 4.5.3.1.3)",
		                       SMTP_PATH_MAX);

	/* address = "local@domain" with the route left out; the domain is its
	 * tail, so only the local part needs a copy of its own. */
	if (smtp_parse_keep(c, mbox, (size_t)(dom_end - mbox), &path->address) < 0)
		return -1;
	if (path->postmaster) {
		path->local = path->address;
		path->domain = path->address + local_len;
	} else {
		if (smtp_parse_keep(c, mbox, local_len, &path->local) < 0)
			return -1;
		path->domain = path->address + local_len + 1;
	}
	*pp = p;
	return 0;
}

/*
 * ESMTP parameters after the path: SP-separated "keyword[=value]" (RFC 5321
 * 4.1.2 esmtp-param; values may be UTF-8 per RFC 6531). Only the form is
 * checked here; smtp_parse_mail_params()/smtp_parse_rcpt_params() decide
 * what the parameters mean.
 */
static int smtp_parse_params(struct smtp_parse_ctx *c, const unsigned char *p, const unsigned char *end)
{
	struct smtp_command *cmd = c->cmd;
	struct smtp_param *param;
	const unsigned char *tok, *kw_end, *q;
	size_t n;

	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			return 0;
		tok = p;
		while (p < end && *p != ' ')
			p++;
		for (kw_end = tok; kw_end < p && *kw_end != '='; kw_end++)
			;
		if (kw_end == tok || !smtp_parse_is_alnum(*tok))
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX,
			                       "Malformed parameter (expected KEYWORD or KEYWORD=value)");
		for (q = tok; q < kw_end; q++)
			if (!smtp_parse_is_alnum(*q) && *q != '-')
				return smtp_parse_fail(c, SMTP_PARSE_SYNTAX,
				                       "Malformed parameter (expected KEYWORD or KEYWORD=value)");
		for (q = kw_end < p ? kw_end + 1 : p; q < p; q += n) {
			if (smtp_parse_is_ctl(*q))
				return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Control character in parameter value");
			if (*q == '=')
				return smtp_parse_fail(c, SMTP_PARSE_SYNTAX,
				                       "'=' in parameter value (encode it as +3D)");
			n = smtp_parse_utf8_seq(q, p);
			if (n == 0)
				return smtp_parse_fail(c, SMTP_PARSE_BAD_UTF8, "Invalid UTF-8 in parameter value");
		}
		if (cmd->nparams == SMTP_MAX_PARAMS)
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Too many parameters (at most %d)",
			                       SMTP_MAX_PARAMS);
		param = &cmd->params[cmd->nparams];
		if (smtp_parse_keep(c, tok, (size_t)(kw_end - tok), &param->keyword) < 0)
			return -1;
		param->value = NULL;
		if (kw_end < p && smtp_parse_keep(c, kw_end + 1, (size_t)(p - kw_end - 1), &param->value) < 0)
			return -1;
		cmd->nparams++;
	}
}

/* MAIL FROM:<path> [params] and RCPT TO:<path> [params]. */
static int smtp_parse_mail_rcpt(struct smtp_parse_ctx *c, int rcpt)
{
	const char *prefix = rcpt ? "TO:" : "FROM:";
	const char *usage = rcpt ? "Syntax: RCPT TO:<address>" : "Syntax: MAIL FROM:<address>";
	const unsigned char *p = c->arg, *end = c->arg_end;
	size_t n = strlen(prefix);

	if ((size_t)(end - p) < n || !smtp_parse_ieq(p, n, prefix))
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "%s", usage);
	p += n;
	/* "MAIL FROM: <a@b>" breaks RFC 5321 but is common; accept it. */
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "%s", usage);
	if (smtp_parse_path(c, &p, end, rcpt) < 0)
		return -1;
	return smtp_parse_params(c, p, end);
}

/* BDAT chunk-size [LAST] (RFC 3030 3). */
static int smtp_parse_bdat(struct smtp_parse_ctx *c)
{
	const unsigned char *p = c->arg, *end = c->arg_end;
	uint64_t size = 0;
	unsigned digit;

	if (p == end || !smtp_parse_is_digit(*p))
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: BDAT size [LAST]");
	for (; p < end && smtp_parse_is_digit(*p); p++) {
		digit = (unsigned)(*p - '0');
		if (size > (UINT64_MAX - digit) / 10)
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "BDAT size is too large");
		size = size * 10 + digit;
	}
	c->cmd->bdat_size = size;
	if (p == end)
		return 0;
	if (*p != ' ')
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: BDAT size [LAST]");
	while (p < end && *p == ' ')
		p++;
	if (!smtp_parse_ieq(p, (size_t)(end - p), "LAST"))
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: BDAT size [LAST]");
	c->cmd->bdat_last = 1;
	return 0;
}

/*
 * AUTH mechanism [initial-response] (RFC 4954 4). The response is only
 * checked for shape here (smtp_auth decodes it) and never quoted back.
 */
static int smtp_parse_auth(struct smtp_parse_ctx *c)
{
	const unsigned char *p = c->arg, *end = c->arg_end, *mech = p;

	while (p < end && *p != ' ') {
		if (!smtp_parse_is_alnum(*p) && *p != '-' && *p != '_')
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: AUTH mechanism [initial-response]");
		p++;
	}
	if (p == mech || p - mech > SMTP_PARSE_SASL_MECH_MAX)
		return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: AUTH mechanism [initial-response]");
	while (p < end && *p == ' ')
		p++;
	for (; p < end; p++)
		if (*p < 33 || *p > 126)
			return smtp_parse_fail(c, SMTP_PARSE_SYNTAX, "Syntax: AUTH mechanism [initial-response]");
	return 0;
}

static enum smtp_verb smtp_parse_lookup_verb(const unsigned char *p, size_t n)
{
	int v;

	for (v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB__COUNT; v++)
		if (smtp_parse_ieq(p, n, smtp_parse_verb_names[v]))
			return (enum smtp_verb)v;
	return SMTP_VERB_UNKNOWN;
}

/* Every string of a fresh command is "" in storage, so that callers may
 * read any field even after an error. */
static void smtp_parse_reset(struct smtp_command *cmd)
{
	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->storage_[0] = '\0';
	cmd->arg = cmd->storage_;
	memset(&cmd->path, 0, sizeof cmd->path);
	cmd->path.local = cmd->storage_;
	cmd->path.domain = cmd->storage_;
	cmd->path.address = cmd->storage_;
	memset(cmd->params, 0, sizeof cmd->params);
	cmd->nparams = 0;
	cmd->bdat_size = 0;
	cmd->bdat_last = 0;
}

int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd, struct smtp_parse_error *err)
{
	struct smtp_parse_ctx c = {.cmd = cmd, .err = err, .used = 1};
	const unsigned char *p, *end, *verb_end;
	const char *name;

	smtp_parse_reset(cmd);
	if (err != NULL) {
		err->status = SMTP_PARSE_OK;
		err->reason[0] = '\0';
	}
	if (line == NULL) {
		if (len > 0)
			return smtp_parse_fail(&c, SMTP_PARSE_SYNTAX, "No command line");
		line = "";
	}
	p = (const unsigned char *)line;
	end = p + len;
	verb_end = memchr(p, ' ', len);
	if (verb_end == NULL)
		verb_end = end;
	/* Name the verb first, so that even a refused line can be counted. */
	cmd->verb = smtp_parse_lookup_verb(p, (size_t)(verb_end - p));

	if (len > SMTP_COMMAND_LINE_MAX)
		return smtp_parse_fail(&c, SMTP_PARSE_SYNTAX, "Line too long (RFC 5321 4.5.3.1.4 allows %d octets)",
		                       SMTP_COMMAND_LINE_MAX);
	if (memchr(p, '\0', len) != NULL)
		return smtp_parse_fail(&c, SMTP_PARSE_NUL, "NUL byte in command line");
	if (cmd->verb == SMTP_VERB_UNKNOWN) {
		if (len == 0)
			return smtp_parse_fail(&c, SMTP_PARSE_UNKNOWN_COMMAND, "Empty command line");
		if (smtp_parse_echoable(p, (size_t)(verb_end - p)))
			return smtp_parse_fail(&c, SMTP_PARSE_UNKNOWN_COMMAND, "Command not recognized: %.*s",
			                       (int)(verb_end - p), (const char *)p);
		return smtp_parse_fail(&c, SMTP_PARSE_UNKNOWN_COMMAND, "Command not recognized");
	}

	c.arg = verb_end;
	while (c.arg < end && *c.arg == ' ')
		c.arg++;
	c.arg_end = end;
	while (c.arg_end > c.arg && (c.arg_end[-1] == ' ' || c.arg_end[-1] == '\t'))
		c.arg_end--;
	if (smtp_parse_keep(&c, c.arg, (size_t)(c.arg_end - c.arg), &cmd->arg) < 0)
		return -1;

	name = smtp_verb_name(cmd->verb);
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		if (c.arg == c.arg_end)
			return smtp_parse_fail(&c, SMTP_PARSE_SYNTAX, "Syntax: %s hostname", name);
		return smtp_parse_check_text(&c, "hostname") < 0 ? -1 : 0;
	case SMTP_VERB_MAIL:
		return smtp_parse_mail_rcpt(&c, 0);
	case SMTP_VERB_RCPT:
		return smtp_parse_mail_rcpt(&c, 1);
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (c.arg != c.arg_end)
			return smtp_parse_fail(&c, SMTP_PARSE_SYNTAX, "Syntax: %s", name);
		return 0;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		/* RFC 5321 4.1.1.8, 4.1.1.9: an optional argument that the
		 * server may ignore; it is never interpreted, so any bytes do. */
		return 0;
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		if (c.arg == c.arg_end)
			return smtp_parse_fail(&c, SMTP_PARSE_SYNTAX, "Syntax: %s %s", name,
			                       cmd->verb == SMTP_VERB_VRFY ? "address" : "mailing-list");
		return smtp_parse_check_text(&c, "argument") < 0 ? -1 : 0;
	case SMTP_VERB_BDAT:
		return smtp_parse_bdat(&c);
	case SMTP_VERB_AUTH:
		return smtp_parse_auth(&c);
	case SMTP_VERB_UNKNOWN:
	case SMTP_VERB__COUNT:
		break;
	}
	return smtp_parse_fail(&c, SMTP_PARSE_UNKNOWN_COMMAND, "Command not recognized");
}

/* ---- ESMTP parameter meaning (RFC 1870, 3030, 3461, 4954, 6152, 6531) ---- */

static int smtp_parse_param_fail(struct smtp_param_error *err, enum smtp_param_status status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int smtp_parse_param_fail(struct smtp_param_error *err, enum smtp_param_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return -1;
}

static void smtp_parse_param_ok(struct smtp_param_error *err)
{
	if (err != NULL) {
		err->status = SMTP_PARAM_OK;
		err->reason[0] = '\0';
	}
}

static int smtp_parse_unknown_param(struct smtp_param_error *err, const char *verb, const char *keyword)
{
	size_t n = strlen(keyword);

	if (smtp_parse_echoable((const unsigned char *)keyword, n))
		return smtp_parse_param_fail(err, SMTP_PARAM_UNKNOWN, "Unsupported %s parameter %s", verb, keyword);
	return smtp_parse_param_fail(err, SMTP_PARAM_UNKNOWN, "Unsupported %s parameter", verb);
}

/*
 * RFC 3461 4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and
 * "=", hexchar = "+" and two upper case hex digits. With allow_utf8, also
 * well-formed UTF-8 (RFC 6533 utf-8 addresses in ORCPT).
 */
static int smtp_parse_xtext(const char *s, int allow_utf8)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t n;

	while (p < end) {
		if (*p == '+') {
			if (end - p < 3 || !smtp_parse_is_upper_hex(p[1]) || !smtp_parse_is_upper_hex(p[2]))
				return 0;
			p += 3;
		} else if (*p >= 33 && *p <= 126 && *p != '=') {
			p++;
		} else if (allow_utf8 && *p >= 0x80 && (n = smtp_parse_utf8_seq(p, end)) > 0) {
			p += n;
		} else {
			return 0;
		}
	}
	return 1;
}

/* Decimal digits only, fitting uint64_t. 0 on success, -1 not a number,
 * -2 too large. */
static int smtp_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned digit;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!smtp_parse_is_digit((unsigned char)*s))
			return -1;
		digit = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -2;
		v = v * 10 + digit;
	}
	*out = v;
	return 0;
}

enum {
	SMTP_PARSE_SEEN_SIZE = 1u << 0,
	SMTP_PARSE_SEEN_BODY = 1u << 1,
	SMTP_PARSE_SEEN_SMTPUTF8 = 1u << 2,
	SMTP_PARSE_SEEN_RET = 1u << 3,
	SMTP_PARSE_SEEN_ENVID = 1u << 4,
	SMTP_PARSE_SEEN_AUTH = 1u << 5,
	SMTP_PARSE_SEEN_NOTIFY = 1u << 6,
	SMTP_PARSE_SEEN_ORCPT = 1u << 7,
};

/*
 * Mark a keyword as seen. A keyword repeated with the same value is
 * accepted (Python's smtplib adds SMTPUTF8 itself even when the caller
 * already passed it, as its documentation suggests); repeated with a
 * different value it is refused: the client contradicts itself.
 */
static int smtp_parse_once(const struct smtp_command *cmd, size_t index, unsigned *seen, unsigned bit,
                           const char *keyword, struct smtp_param_error *err)
{
	if (*seen & bit) {
		const struct smtp_param *now = &cmd->params[index];
		for (size_t j = 0; j < index; j++) {
			const struct smtp_param *before = &cmd->params[j];
			if (before->keyword == NULL || strcasecmp(before->keyword, now->keyword) != 0)
				continue;
			int same = (before->value == NULL && now->value == NULL) ||
			           (before->value && now->value && strcmp(before->value, now->value) == 0);
			if (same)
				return 0;
		}
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "Conflicting %s parameters", keyword);
	}
	*seen |= bit;
	return 0;
}

int smtp_parse_mail_params(const struct smtp_command *cmd, struct smtp_mail_params *out, struct smtp_param_error *err)
{
	unsigned seen = 0;
	size_t i;
	int rc;

	memset(out, 0, sizeof *out);
	smtp_parse_param_ok(err);
	for (i = 0; i < cmd->nparams && i < SMTP_MAX_PARAMS; i++) {
		const char *kw = cmd->params[i].keyword, *v = cmd->params[i].value;

		if (kw == NULL)
			return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "Malformed parameter");
		if (smtp_parse_ieq_str(kw, "SIZE")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_SIZE, "SIZE", err) < 0)
				return -1;
			rc = v == NULL ? -1 : smtp_parse_u64(v, &out->size);
			if (rc == -2)
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "SIZE parameter is too large");
			if (rc < 0)
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "SIZE parameter needs a number");
			out->has_size = 1;
		} else if (smtp_parse_ieq_str(kw, "BODY")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_BODY, "BODY", err) < 0)
				return -1;
			if (v != NULL && smtp_parse_ieq_str(v, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (v != NULL && smtp_parse_ieq_str(v, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else if (v != NULL && smtp_parse_ieq_str(v, "BINARYMIME"))
				out->body = SMTP_BODY_BINARYMIME;
			else
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
				                             "BODY must be 7BIT, 8BITMIME or BINARYMIME");
		} else if (smtp_parse_ieq_str(kw, "SMTPUTF8")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_SMTPUTF8, "SMTPUTF8", err) < 0)
				return -1;
			if (v != NULL)
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "SMTPUTF8 takes no value");
			out->smtputf8 = 1;
		} else if (smtp_parse_ieq_str(kw, "RET")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_RET, "RET", err) < 0)
				return -1;
			if (v != NULL && smtp_parse_ieq_str(v, "FULL"))
				out->ret = SMTP_RET_FULL;
			else if (v != NULL && smtp_parse_ieq_str(v, "HDRS"))
				out->ret = SMTP_RET_HDRS;
			else
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "RET must be FULL or HDRS");
		} else if (smtp_parse_ieq_str(kw, "ENVID")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_ENVID, "ENVID", err) < 0)
				return -1;
			if (v == NULL || *v == '\0')
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "ENVID parameter needs a value");
			if (strlen(v) > SMTP_ENVID_MAX)
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
				                             "ENVID longer than %d characters (RFC 3461 4.4)",
				                             SMTP_ENVID_MAX);
			if (!smtp_parse_xtext(v, 0))
				return smtp_parse_param_fail(
				        err, SMTP_PARAM_INVALID,
				        "ENVID must be xtext (RFC 3461 4: encode + and = as +2B, +3D)");
			out->envid = v;
		} else if (smtp_parse_ieq_str(kw, "AUTH")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_AUTH, "AUTH", err) < 0)
				return -1;
			if (v == NULL || *v == '\0')
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
				                             "AUTH parameter needs a mailbox or <>");
			if (strcmp(v, "<>") != 0 && !smtp_parse_xtext(v, 0))
				return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
				                             "AUTH parameter must be <> or xtext (RFC 4954 5)");
			out->auth = v;
		} else {
			return smtp_parse_unknown_param(err, "MAIL", kw);
		}
	}
	return 0;
}

/* NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY in any order (RFC 3461 4.1). */
static int smtp_parse_notify(const char *v, unsigned *out, struct smtp_param_error *err)
{
	const char *usage = "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY";
	const char *item = v, *comma;
	unsigned bits = 0, bit;
	size_t n;

	if (v == NULL || *v == '\0')
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "%s", usage);
	for (;;) {
		comma = strchr(item, ',');
		n = comma != NULL ? (size_t)(comma - item) : strlen(item);
		if (smtp_parse_ieq((const unsigned char *)item, n, "NEVER"))
			bit = SMTP_NOTIFY_NEVER;
		else if (smtp_parse_ieq((const unsigned char *)item, n, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (smtp_parse_ieq((const unsigned char *)item, n, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (smtp_parse_ieq((const unsigned char *)item, n, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "%s", usage);
		if (bits & bit)
			return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "NOTIFY lists a value twice");
		bits |= bit;
		if (comma == NULL)
			break;
		item = comma + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
		                             "NOTIFY=NEVER cannot be combined with other values");
	*out = bits;
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2); addr-type is an RFC 822 atom. */
static int smtp_parse_orcpt(const char *v, struct smtp_param_error *err)
{
	const char *usage = "ORCPT must be addr-type;address, e.g. rfc822;user@example.com";
	const char *semi;
	const unsigned char *p;

	if (v == NULL || *v == '\0')
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "%s", usage);
	if (strlen(v) > SMTP_ORCPT_MAX)
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "ORCPT longer than %d characters (RFC 3461 4.2)",
		                             SMTP_ORCPT_MAX);
	semi = strchr(v, ';');
	if (semi == NULL || semi == v || semi[1] == '\0')
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "%s", usage);
	for (p = (const unsigned char *)v; p < (const unsigned char *)semi; p++)
		if (*p < 33 || *p > 126 || strchr("()<>@,;:\\\".[]", *p) != NULL)
			return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "%s", usage);
	if (!smtp_parse_xtext(semi + 1, smtp_parse_ieq((const unsigned char *)v, (size_t)(semi - v), "utf-8")))
		return smtp_parse_param_fail(err, SMTP_PARAM_INVALID,
		                             "ORCPT address must be xtext (RFC 3461 4: encode + and = as +2B, +3D)");
	return 0;
}

int smtp_parse_rcpt_params(const struct smtp_command *cmd, struct smtp_rcpt_params *out, struct smtp_param_error *err)
{
	unsigned seen = 0;
	size_t i;

	memset(out, 0, sizeof *out);
	smtp_parse_param_ok(err);
	for (i = 0; i < cmd->nparams && i < SMTP_MAX_PARAMS; i++) {
		const char *kw = cmd->params[i].keyword, *v = cmd->params[i].value;

		if (kw == NULL)
			return smtp_parse_param_fail(err, SMTP_PARAM_INVALID, "Malformed parameter");
		if (smtp_parse_ieq_str(kw, "NOTIFY")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_NOTIFY, "NOTIFY", err) < 0)
				return -1;
			if (smtp_parse_notify(v, &out->notify, err) < 0)
				return -1;
		} else if (smtp_parse_ieq_str(kw, "ORCPT")) {
			if (smtp_parse_once(cmd, i, &seen, SMTP_PARSE_SEEN_ORCPT, "ORCPT", err) < 0)
				return -1;
			if (smtp_parse_orcpt(v, err) < 0)
				return -1;
			out->orcpt = v;
		} else {
			return smtp_parse_unknown_param(err, "RCPT", kw);
		}
	}
	return 0;
}
