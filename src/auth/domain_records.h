/*
 * domain_records: the small TXT records `check domain` reads besides SPF,
 * DKIM, DMARC and MTA-STS: TLS-RPT at _smtp._tls.<domain> (RFC 8460 3)
 * and BIMI at default._bimi.<domain> (draft-brand-indicators-for-message-
 * identification). Pure and fuzzed: text in, struct or an error with the
 * reason out. Both are tag-lists like DKIM's (dkim_parse.h's parser) whose
 * first tag is the version.
 */
#ifndef MAILSCOPE_AUTH_DOMAIN_RECORDS_H
#define MAILSCOPE_AUTH_DOMAIN_RECORDS_H

#include <stddef.h>

/* Most rua= URIs kept. */
#define TLSRPT_MAX_RUA 8

struct tlsrpt_record {
	char *rua[TLSRPT_MAX_RUA]; /* mailto: or https: URIs as written */
	size_t nrua;
};

/* 1 when the text starts with "v=TLSRPTv1" (3: other TXT records at the name are discarded). */
int tlsrpt_record_is_v1(const char *txt, size_t len);
/* "v=TLSRPTv1; rua=mailto:...,https://...": 0 and *out (free with tlsrpt_record_free), or -1 with the reason. */
int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out, char *err, size_t errlen);
void tlsrpt_record_free(struct tlsrpt_record *r);

struct bimi_record {
	char *l; /* the logo's https: URI, or NULL when l= is empty (the domain declines BIMI) */
	char *a; /* the authority evidence (VMC) https: URI, or NULL */
	int declined;
	int l_not_svg; /* l= does not end in .svg (the format is SVG Tiny PS) */
};

/* 1 when the text starts with "v=BIMI1". */
int bimi_record_is_v1(const char *txt, size_t len);
/* "v=BIMI1; l=https://.../logo.svg; a=https://.../vmc.pem": 0 and *out, or -1 with the reason. */
int bimi_record_parse(const char *txt, size_t len, struct bimi_record *out, char *err, size_t errlen);
void bimi_record_free(struct bimi_record *r);

#endif
