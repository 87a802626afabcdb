/*
 * fuzz_spf_record: the SPF record parser (spf_parse.c).
 *
 * Any bytes go in. A record that parses must keep spf_parse.h's promises:
 * it starts with "v=spf1", every term is visible ASCII, qualifiers and
 * CIDR lengths are in range, each mechanism has the arguments its grammar
 * allows, and every domain-spec (and redirect=, exp=) passes
 * spf_domain_spec_check(). The terms written back as a record parse again
 * to the same mechanisms. A record that does not parse has a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/spf_parse.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_spec(const char *spec)
{
	char err[400];
	if (spec && spf_domain_spec_check(spec, strlen(spec), err, sizeof err) != 0)
		abort();
}

static void fuzz_check_record(const struct spf_record *r)
{
	for (size_t i = 0; i < r->nterms; i++) {
		const struct spf_term *t = &r->terms[i];
		if (t->text == NULL || t->text[0] == '\0')
			abort();
		for (const char *p = t->text; *p; p++)
			if (*p < 0x21 || *p > 0x7e)
				abort();
		if (t->qualifier != SPF_RESULT_PASS && t->qualifier != SPF_RESULT_FAIL &&
		    t->qualifier != SPF_RESULT_SOFTFAIL && t->qualifier != SPF_RESULT_NEUTRAL)
			abort();
		if (t->cidr4 < 0 || t->cidr4 > 32 || t->cidr6 < 0 || t->cidr6 > 128)
			abort();
		switch (t->mech) {
		case SPF_MECH_INCLUDE:
		case SPF_MECH_EXISTS:
			if (t->domain_spec == NULL)
				abort();
			break;
		case SPF_MECH_ALL:
		case SPF_MECH_IP4:
		case SPF_MECH_IP6:
			if (t->domain_spec != NULL)
				abort();
			break;
		default:
			break;
		}
		fuzz_check_spec(t->domain_spec);
	}
	fuzz_check_spec(r->redirect);
	fuzz_check_spec(r->exp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_record r;
	char err[400] = "";
	const char *txt = (const char *)data;
	int is_v1 = spf_record_is_v1(txt, size);
	if (spf_record_parse(txt, size, &r, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!is_v1)
		abort();
	fuzz_check_record(&r);

	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "v=spf1");
	for (size_t i = 0; i < r.nterms; i++) {
		buf_append_byte(&b, ' ');
		buf_append_str(&b, r.terms[i].text);
	}
	struct spf_record again;
	if (spf_record_parse((const char *)b.data, b.len, &again, err, sizeof err) != 0)
		abort();
	if (again.nterms != r.nterms)
		abort();
	for (size_t i = 0; i < r.nterms; i++)
		if (again.terms[i].mech != r.terms[i].mech || again.terms[i].cidr4 != r.terms[i].cidr4 ||
		    again.terms[i].cidr6 != r.terms[i].cidr6 || memcmp(again.terms[i].addr, r.terms[i].addr, 16) != 0)
			abort();
	spf_record_free(&again);
	buf_free(&b);
	spf_record_free(&r);
	return 0;
}
