/*
 * spf_macro: RFC 7208 section 7, macro strings. Pure: a string and the
 * values of the macro letters in, the expansion (or the syntax error) out.
 *
 *   %{s} sender  %{l} its local-part  %{o} its domain  %{d} the current domain
 *   %{i} the IP (dotted quad, or 32 dot-separated nibbles for IPv6)
 *   %{p} the validated name of the IP (the caller looks it up; "unknown")
 *   %{v} "in-addr" or "ip6"  %{h} HELO domain
 *   explanation strings only: %{c} the IP as usually written, %{r} the
 *   checking host, %{t} the time in seconds since the epoch
 * Transformers: a count of right-hand parts to keep (1..; 0 is an error),
 * 'r' to reverse, delimiters out of ".-+,/_=" (default '.'); the parts are
 * joined with '.'. An upper-case letter URL-escapes the value (everything
 * but ALPHA DIGIT "-._~" as %XX). %% is '%', %_ a space, %- "%20".
 *
 * Does not: look anything up, or check that the result is a domain name
 * (spf_parse.c checks a domain-spec's syntax, spf_eval.c the expansion).
 */
#ifndef MAILSCOPE_AUTH_SPF_MACRO_H
#define MAILSCOPE_AUTH_SPF_MACRO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Longest expansion; beyond it the expansion is an error (a record cannot make us build megabytes). */
#define SPF_MACRO_OUT_MAX 4096
/* Transformer counts above this mean "all parts" (RFC 7208 7.3: at least 127 must work). */
#define SPF_MACRO_PARTS_MAX 128

enum spf_macro_kind {
	SPF_MACRO_DOMAIN,  /* a domain-spec: slodipvh, no spaces */
	SPF_MACRO_STRING,  /* an unknown modifier's value: every letter, no spaces */
	SPF_MACRO_EXPLAIN, /* an explanation TXT record: every letter, and spaces */
};

struct spf_macro_vars {
	const char *s, *l, *o, *d, *i, *p, *v, *h, *c, *r; /* NULL expands as "" */
	int64_t t;
};

/* 0 when s[0..len) is well-formed for kind, else -1 with the reason. */
int spf_macro_check(const char *s, size_t len, enum spf_macro_kind kind, char *err, size_t errlen);
/* Appends the expansion to out. -1 with the reason on a syntax error or an over-long result. */
int spf_macro_expand(const char *s, size_t len, enum spf_macro_kind kind, const struct spf_macro_vars *v,
                     struct buf *out, char *err, size_t errlen);
/* 1 when the string uses the macro letter (either case), e.g. 'p' to know a PTR lookup is due. */
int spf_macro_uses(const char *s, size_t len, char letter);
/*
 * 1 when a well-formed macro string ends with a macro-expand (%{..}, %%, %_
 * or %-), for the domain-end rule of a domain-spec; *literal_start is where
 * its trailing literal text begins.
 */
int spf_macro_ends_with_expand(const char *s, size_t len, size_t *literal_start);

#endif
