/* domain_records: TLS-RPT (RFC 8460 3) and BIMI records. See domain_records.h. */
#include "auth/domain_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_parse.h"
#include "core/xmalloc.h"

/* The version tag first, exactly (case-sensitive), then ';', whitespace or the end. */
static int domain_records_version(const char *txt, size_t len, const char *v)
{
	size_t n = strlen(v);
	return len >= n && memcmp(txt, v, n) == 0 && (len == n || txt[n] == ';' || txt[n] == ' ' || txt[n] == '\t');
}

/* The tag-list with the version as its first tag; 0 or -1 with the reason. */
static int domain_records_tags(const char *txt, size_t len, const char *version, struct dkim_tag_list *l, char *err,
                               size_t errlen)
{
	if (memchr(txt, '\0', len)) {
		snprintf(err, errlen, "the record holds a NUL byte");
		return -1;
	}
	if (!domain_records_version(txt, len, version)) {
		snprintf(err, errlen, "the record must start with \"%s\"", version);
		return -1;
	}
	if (dkim_tag_list_parse(txt, len, l, err, errlen) != 0)
		return -1;
	return 0;
}

int tlsrpt_record_is_v1(const char *txt, size_t len)
{
	return domain_records_version(txt, len, "v=TLSRPTv1");
}

int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct dkim_tag_list l;
	if (domain_records_tags(txt, len, "v=TLSRPTv1", &l, err, errlen) != 0)
		return -1;
	const char *rua = dkim_tag_get(&l, "rua");
	int rc = 0;
	if (rua == NULL || rua[0] == '\0') {
		snprintf(err, errlen, "rua= is missing: where reports go (mailto: or https:)");
		rc = -1;
	}
	for (const char *p = rua; rc == 0 && p && *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		size_t n = (size_t)(t - p);
		if (!(n > 7 && strncasecmp(p, "mailto:", 7) == 0) && !(n > 8 && strncasecmp(p, "https://", 8) == 0)) {
			snprintf(err, errlen, "rua= URI \"%.*s\" is neither mailto: nor https:", (int)(n > 60 ? 60 : n),
			         p);
			rc = -1;
			break;
		}
		if (out->nrua < TLSRPT_MAX_RUA)
			out->rua[out->nrua++] = xstrndup(p, n);
		p = e;
	}
	if (rc == 0 && out->nrua == 0) {
		snprintf(err, errlen, "rua= holds no URI");
		rc = -1;
	}
	dkim_tag_list_free(&l);
	if (rc != 0)
		tlsrpt_record_free(out);
	return rc;
}

void tlsrpt_record_free(struct tlsrpt_record *r)
{
	for (size_t i = 0; i < r->nrua; i++)
		free(r->rua[i]);
	memset(r, 0, sizeof *r);
}

int bimi_record_is_v1(const char *txt, size_t len)
{
	return domain_records_version(txt, len, "v=BIMI1");
}

static int bimi_https(const char *s)
{
	return strncasecmp(s, "https://", 8) == 0 && s[8] != '\0';
}

int bimi_record_parse(const char *txt, size_t len, struct bimi_record *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	struct dkim_tag_list l;
	if (domain_records_tags(txt, len, "v=BIMI1", &l, err, errlen) != 0)
		return -1;
	const char *logo = dkim_tag_get(&l, "l"), *a = dkim_tag_get(&l, "a");
	int rc = 0;
	if ((logo == NULL || logo[0] == '\0') && (a == NULL || a[0] == '\0')) {
		out->declined = 1;
	} else if (logo == NULL || !bimi_https(logo)) {
		snprintf(err, errlen, "l= must be the https: URI of the logo (SVG)");
		rc = -1;
	} else if (a && a[0] && !bimi_https(a)) {
		snprintf(err, errlen, "a= must be the https: URI of the mark certificate (PEM)");
		rc = -1;
	} else {
		out->l = xstrdup(logo);
		out->a = a && a[0] ? xstrdup(a) : NULL;
		size_t n = strlen(logo);
		out->l_not_svg = !(n >= 4 && strcasecmp(logo + n - 4, ".svg") == 0);
	}
	dkim_tag_list_free(&l);
	return rc;
}

void bimi_record_free(struct bimi_record *r)
{
	free(r->l);
	free(r->a);
	memset(r, 0, sizeof *r);
}
