/*
 * dmarc_parse: a DMARC record's text into its tags (RFC 7489 6.3, 6.4;
 * np= from RFC 9091). Pure: text in, struct or an error with the reason
 * out.
 *
 * The record is a tag-list (RFC 6376 3.2, dkim_parse.h's parser) that
 * starts with v=DMARC1. p= is required; a missing or invalid p= makes the
 * record unusable unless it has a valid rua=, in which case it is read as
 * p=none (6.6.3). Any other tag with an invalid value is replaced by its
 * default and noted in warnings (6.3: "syntax errors in the remainder of
 * the record SHOULD be discarded in favor of default values"). Unknown
 * tags are ignored.
 */
#ifndef MAILSCOPE_AUTH_DMARC_PARSE_H
#define MAILSCOPE_AUTH_DMARC_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define DMARC_DEFAULT_RI  86400 /* ri= default, seconds */
#define DMARC_MAX_URIS    16    /* rua=/ruf= URIs kept (more are ignored, with a warning) */
#define DMARC_MAX_WARNING 8

enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };
enum dmarc_align { DMARC_ALIGN_RELAXED, DMARC_ALIGN_STRICT };

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp; /* p when not given */
	enum dmarc_policy np; /* sp when not given (RFC 9091) */
	int has_sp, has_np;
	int p_from_rua; /* p= missing or invalid, read as none because rua= is valid (6.6.3) */
	int pct;        /* 0..100, default 100 */
	enum dmarc_align adkim, aspf;
	char **rua, **ruf; /* URIs as written (a "!size" suffix kept) */
	size_t nrua, nruf;
	char *fo; /* default "0" */
	char *rf; /* default "afrf" */
	uint32_t ri;
	char *warnings[DMARC_MAX_WARNING];
	size_t nwarnings;
};

/* 1 when a TXT record's text starts with the tag v=DMARC1 (6.6.3: others are ignored). */
int dmarc_record_is_v1(const char *txt, size_t len);
/* 0 and *out (free with dmarc_record_free), or -1 with the reason (the record is unusable). */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *out, char *err, size_t errlen);
void dmarc_record_free(struct dmarc_record *r);

const char *dmarc_policy_name(enum dmarc_policy p); /* "none", "quarantine", "reject" */
const char *dmarc_align_name(enum dmarc_align a);   /* "r", "s" */

#endif
