/*
 * arc_parse: an ARC chain's structure and the data a seal signs (RFC 8617
 * 4, 5.1.1, 5.2). See arc_parse.h.
 */
#include "auth/arc_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_parse.h"

#define ARC_AAR  "ARC-Authentication-Results"
#define ARC_AMS  "ARC-Message-Signature"
#define ARC_SEAL "ARC-Seal"

/* Room for the digits of an instance; larger numbers are invalid anyway. */
#define ARC_INSTANCE_DIGITS 9

static int arc_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* i= values: 1*DIGIT from 1 to ARC_MAX_SETS; above that the caller says "too many". */
static int arc_instance_value(const char *s, size_t n, unsigned *out)
{
	if (n == 0 || n > ARC_INSTANCE_DIGITS)
		return -1;
	unsigned v = 0;
	for (size_t k = 0; k < n; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[k] - '0');
	}
	if (v == 0)
		return -1;
	*out = v;
	return 0;
}

int arc_aar_instance(const char *value, size_t len, unsigned *i)
{
	size_t p = 0;
	while (p < len && arc_fws(value[p]))
		p++;
	if (p >= len || value[p] != 'i')
		return -1;
	p++;
	while (p < len && arc_fws(value[p]))
		p++;
	if (p >= len || value[p] != '=')
		return -1;
	p++;
	while (p < len && arc_fws(value[p]))
		p++;
	size_t d = p;
	while (p < len && value[p] >= '0' && value[p] <= '9')
		p++;
	if (arc_instance_value(value + d, p - d, i) != 0)
		return -1;
	while (p < len && arc_fws(value[p]))
		p++;
	return p < len && value[p] == ';' ? 0 : -1;
}

const char *arc_cv_name(enum arc_cv cv)
{
	return cv == ARC_CV_PASS ? "pass" : cv == ARC_CV_FAIL ? "fail" : "none";
}

/* An AMS or AS: its tag-list's i= (and for a seal cv=). 0, or -1 with the reason. */
static int arc_tags(const struct dkim_field *f, int seal, unsigned *inst, enum arc_cv *cv, char *err, size_t errlen)
{
	const char *name = seal ? ARC_SEAL : ARC_AMS;
	struct dkim_tag_list tl;
	char why[256] = "";
	if (dkim_tag_list_parse(f->raw + f->value_off, f->len - f->value_off, &tl, why, sizeof why) != 0) {
		snprintf(err, errlen, "an %s does not parse: %s", name, why);
		return -1;
	}
	int rc = -1;
	const char *i = dkim_tag_get(&tl, "i");
	const char *c = dkim_tag_get(&tl, "cv");
	if (i == NULL)
		snprintf(err, errlen, "an %s has no instance (i=)", name);
	else if (arc_instance_value(i, strlen(i), inst) != 0)
		snprintf(err, errlen, "an %s has i=%.20s, not an instance from 1 to %d", name, i, ARC_MAX_SETS);
	else if (seal && c == NULL)
		snprintf(err, errlen, "the %s i=%u has no cv=", name, *inst);
	else if (seal && strcasecmp(c, "none") != 0 && strcasecmp(c, "pass") != 0 && strcasecmp(c, "fail") != 0)
		snprintf(err, errlen, "the %s i=%u has cv=%.20s (none, pass or fail)", name, *inst, c);
	else
		rc = 0;
	if (rc == 0 && seal)
		*cv = strcasecmp(c, "none") == 0 ? ARC_CV_NONE : strcasecmp(c, "pass") == 0 ? ARC_CV_PASS : ARC_CV_FAIL;
	dkim_tag_list_free(&tl);
	return rc;
}

#define ARC_FAIL(k, ...)                                                                                               \
	do {                                                                                                           \
		*instance = (k);                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                                    \
		return ARC_PARSE_FAIL;                                                                                 \
	} while (0)

enum arc_parse_status arc_chain_parse(const struct dkim_message *m, struct arc_chain *out, unsigned *instance,
                                      char *err, size_t errlen)
{
	/* seen[i] bit 1: AAR, 2: AMS, 4: AS. */
	unsigned char seen[ARC_MAX_SETS + 1];
	memset(seen, 0, sizeof seen);
	memset(out, 0, sizeof *out);
	*instance = 0;
	int any = 0;
	unsigned top = 0;
	for (size_t k = 0; k < m->nfields; k++) {
		const struct dkim_field *f = &m->fields[k];
		int kind = dkim_field_is(f, ARC_AAR)    ? 1
		           : dkim_field_is(f, ARC_AMS)  ? 2
		           : dkim_field_is(f, ARC_SEAL) ? 4
		                                        : 0;
		if (kind == 0)
			continue;
		any = 1;
		unsigned i = 0;
		enum arc_cv cv = ARC_CV_NONE;
		if (kind == 1) {
			if (arc_aar_instance(f->raw + f->value_off, f->len - f->value_off, &i) != 0)
				ARC_FAIL(0,
				         "an " ARC_AAR " does not start with its instance (\"i=N;\", RFC 8617 4.1.1)");
		} else {
			char why[300];
			if (arc_tags(f, kind == 4, &i, &cv, why, sizeof why) != 0)
				ARC_FAIL(0, "%s", why);
		}
		if (i > ARC_MAX_SETS)
			ARC_FAIL(i, "instance %u: more than %d ARC sets (RFC 8617 4.2.1)", i, ARC_MAX_SETS);
		if (seen[i] & kind)
			ARC_FAIL(i, "two %s fields with i=%u", kind == 1 ? ARC_AAR : kind == 2 ? ARC_AMS : ARC_SEAL, i);
		seen[i] |= (unsigned char)kind;
		struct arc_set *s = &out->sets[i];
		if (kind == 1)
			s->aar = k;
		else if (kind == 2)
			s->ams = k;
		else {
			s->as = k;
			s->cv = cv;
		}
		if (i > top)
			top = i;
	}
	if (!any)
		return ARC_PARSE_NONE;
	/* 5.2 step 2: the newest seal's verdict on the chain it received comes first. */
	if ((seen[top] & 4) && out->sets[top].cv == ARC_CV_FAIL)
		ARC_FAIL(top, "the newest ARC-Seal (i=%u) says cv=fail: the chain was broken when it was sealed", top);
	for (unsigned i = 1; i <= top; i++) {
		if (seen[i] == 0)
			ARC_FAIL(i, "no ARC set with i=%u: the instances 1..%u are not contiguous", i, top);
		if (!(seen[i] & 1))
			ARC_FAIL(i, "the set i=%u has no " ARC_AAR, i);
		if (!(seen[i] & 2))
			ARC_FAIL(i, "the set i=%u has no " ARC_AMS, i);
		if (!(seen[i] & 4))
			ARC_FAIL(i, "the set i=%u has no " ARC_SEAL, i);
		enum arc_cv want = i == 1 ? ARC_CV_NONE : ARC_CV_PASS;
		if (out->sets[i].cv != want)
			ARC_FAIL(i, "the ARC-Seal i=%u says cv=%s where it must say cv=%s (RFC 8617 5.2 step 3)", i,
			         arc_cv_name(out->sets[i].cv), arc_cv_name(want));
	}
	out->n = top;
	return ARC_PARSE_OK;
}

void arc_seal_data(const struct dkim_message *m, const struct arc_chain *c, unsigned k, struct buf *out)
{
	for (unsigned i = 1; i <= k && i <= c->n; i++) {
		const struct dkim_field *aar = &m->fields[c->sets[i].aar];
		const struct dkim_field *ams = &m->fields[c->sets[i].ams];
		const struct dkim_field *as = &m->fields[c->sets[i].as];
		dkim_canon_header(DKIM_CANON_RELAXED, aar->raw, aar->len, 1, out);
		dkim_canon_header(DKIM_CANON_RELAXED, ams->raw, ams->len, 1, out);
		if (i < k) {
			dkim_canon_header(DKIM_CANON_RELAXED, as->raw, as->len, 1, out);
		} else {
			size_t sl;
			char *stripped = dkim_canon_strip_b(as->raw, as->len, &sl);
			dkim_canon_header(DKIM_CANON_RELAXED, stripped, sl, 0, out);
			free(stripped);
		}
	}
}
