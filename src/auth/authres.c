/*
 * authres: the Authentication-Results header field (RFC 8601). See
 * authres.h.
 */
#include "auth/authres.h"

#include <string.h>

#include "auth/arc.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "core/buf.h"
#include "core/xmalloc.h"

/* A pvalue (2.2): as it is when it needs no quoting, else a quoted-string. */
static void authres_value(struct buf *b, const char *v)
{
	int plain = v[0] != '\0';
	for (const char *p = v; *p && plain; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || strchr("()<>,;:\\\"[]?=", c))
			plain = 0;
	}
	/* '@' and '/' are tspecials but RFC 8601's pvalue allows local-part@domain and base64 as they are. */
	if (plain) {
		buf_append_str(b, v);
		return;
	}
	buf_append_byte(b, '"');
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			buf_append_byte(b, '\\');
		if (c == '\r' || c == '\n')
			c = ' ';
		buf_append_byte(b, c);
	}
	buf_append_byte(b, '"');
}

static void authres_sep(struct buf *b, int fold)
{
	buf_append_str(b, fold ? ";\r\n\t" : "; ");
}

static void authres_reason(struct buf *b, const char *result, const char *reason)
{
	if (reason && reason[0] && strcmp(result, "pass") != 0) {
		buf_append_str(b, " reason=");
		/* Always quoted: a reason is prose. */
		buf_append_byte(b, '"');
		for (const char *p = reason; *p; p++) {
			char c = *p;
			if (c == '"' || c == '\\')
				buf_append_byte(b, '\\');
			buf_append_byte(b, (unsigned char)(c == '\r' || c == '\n' ? ' ' : c));
		}
		buf_append_byte(b, '"');
	}
}

char *authres_build(const struct authres_input *in, int fold)
{
	struct buf b;
	buf_init(&b);
	authres_value(&b, in->authserv_id ? in->authserv_id : "mailscope");
	int any = 0;
	if (in->spf) {
		const struct spf_outcome *s = in->spf;
		const char *r = spf_result_name(s->result);
		authres_sep(&b, fold);
		buf_printf(&b, "spf=%s", r);
		authres_reason(&b, r, s->result == SPF_RESULT_FAIL && s->explanation ? s->explanation : s->reason);
		if (s->domain) {
			int helo = s->scope && strcmp(s->scope, "helo") == 0;
			buf_append_str(&b, helo ? " smtp.helo=" : " smtp.mailfrom=");
			authres_value(&b, s->domain);
		}
		any = 1;
	}
	if (in->dkim) {
		if (in->dkim->n == 0) {
			authres_sep(&b, fold);
			buf_append_str(&b, "dkim=none");
		}
		for (size_t i = 0; i < in->dkim->n; i++) {
			const struct dkim_sig_result *s = &in->dkim->sigs[i];
			const char *r = dkim_result_name(s->result);
			authres_sep(&b, fold);
			buf_printf(&b, "dkim=%s", r);
			authres_reason(&b, r, s->reason);
			if (s->domain) {
				buf_append_str(&b, " header.d=");
				authres_value(&b, s->domain);
			}
			if (s->auid) {
				buf_append_str(&b, " header.i=");
				authres_value(&b, s->auid);
			}
			if (s->selector) {
				buf_append_str(&b, " header.s=");
				authres_value(&b, s->selector);
			}
			if (s->algorithm) {
				buf_append_str(&b, " header.a=");
				authres_value(&b, s->algorithm);
			}
			if (s->b_prefix) {
				buf_append_str(&b, " header.b=");
				authres_value(&b, s->b_prefix);
			}
		}
		any = 1;
	}
	if (in->dmarc) {
		const struct dmarc_outcome *d = in->dmarc;
		const char *r = dmarc_result_name(d->result);
		authres_sep(&b, fold);
		buf_printf(&b, "dmarc=%s", r);
		if (d->record && (d->result == DMARC_RESULT_PASS || d->result == DMARC_RESULT_FAIL))
			buf_printf(&b, " (%s=%s dis=%s)", d->policy_tag ? d->policy_tag : "p",
			           dmarc_policy_name(d->policy), dmarc_policy_name(d->disposition));
		authres_reason(&b, r, d->result == DMARC_RESULT_PASS ? NULL : d->reason);
		if (d->from_domain) {
			buf_append_str(&b, " header.from=");
			authres_value(&b, d->from_domain);
		}
		any = 1;
	}
	if (in->arc) {
		const struct arc_outcome *a = in->arc;
		const char *r = arc_result_name(a->result);
		authres_sep(&b, fold);
		buf_printf(&b, "arc=%s", r);
		authres_reason(&b, r, a->result == ARC_RESULT_FAIL ? a->reason : NULL);
		/* RFC 8617 7.1's header.oldest-pass: only when an older set's AMS no longer verifies. */
		if (a->result == ARC_RESULT_PASS && a->oldest_pass > 1)
			buf_printf(&b, " header.oldest-pass=%u", a->oldest_pass);
		any = 1;
	}
	if (!any) {
		/* 2.2: no method was applied. */
		buf_append_str(&b, "; none");
	}
	buf_cstr(&b);
	size_t n;
	return (char *)buf_steal(&b, &n);
}
