/*
 * authres: an Authentication-Results header field (RFC 8601) from the
 * outcomes of SPF, DKIM and DMARC. Pure: outcomes in, text out.
 *
 *   Authentication-Results: mailscope;
 *   	spf=pass smtp.mailfrom=example.com;
 *   	dkim=pass header.d=example.com header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh;
 *   	dmarc=pass (p=reject dis=none) header.from=example.com
 *
 * One resinfo per DKIM signature (2.7.1; "dkim=none" without any); a result
 * that is not pass carries reason="..." (2.2). SPF that was not checked is
 * left out rather than reported as "none" (which would claim there is no
 * record). ARC (RFC 8617 7.1) is arc=none, pass or fail, with
 * header.oldest-pass when an older set's AMS no longer verifies. Values
 * that are not tokens are quoted (RFC 2045 token / quoted-string).
 */
#ifndef MAILSCOPE_AUTH_AUTHRES_H
#define MAILSCOPE_AUTH_AUTHRES_H

#include <stddef.h>

struct spf_outcome;
struct dkim_outcome;
struct dmarc_outcome;
struct arc_outcome;

struct authres_input {
	const char *authserv_id;           /* "mailscope" when NULL */
	const struct spf_outcome *spf;     /* NULL: not checked (left out) */
	const struct dkim_outcome *dkim;   /* NULL: not checked (left out); n == 0: dkim=none */
	const struct dmarc_outcome *dmarc; /* NULL: not checked (left out) */
	const struct arc_outcome *arc;     /* NULL: not checked (left out) */
};

/*
 * The field's value (without "Authentication-Results:"). fold: each resinfo
 * on its own line ("\r\n\t"), else all on one line. Caller frees.
 */
char *authres_build(const struct authres_input *in, int fold);

#endif
