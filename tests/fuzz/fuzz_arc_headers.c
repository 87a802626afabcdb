/*
 * fuzz_arc_headers: the pure parts of ARC (arc_parse.c, and the AMS and AS
 * kinds of dkim_signature_parse_kind()).
 *
 * Any bytes go in as a message. A chain that parses OK has 1..ARC_MAX_SETS
 * sets whose field indexes are in the message and name the right fields,
 * cv=none at i=1 and cv=pass above; a failure always has a reason. Every
 * AMS and AS field is parsed as its kind (a parsed seal has no h= and is
 * relaxed; a parsed AMS signs From and never ARC-Seal; a failure has a
 * reason), and for a valid structure every seal's signed data is built: it
 * grows with the instance and never has a bare LF. An AAR instance that
 * parses is never 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/arc_parse.h"
#include "auth/dkim_canon.h"
#include "auth/dkim_parse.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_kind(const struct dkim_field *f, enum dkim_sig_kind kind)
{
	struct dkim_signature s;
	char err[256] = "";
	if (dkim_signature_parse_kind(f->raw + f->value_off, f->len - f->value_off, kind, &s, err, sizeof err) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (s.d == NULL || s.s == NULL || s.b_len == 0 || s.i == NULL || s.i[0] != '@')
		abort();
	if (kind == DKIM_SIG_ARC_SEAL && (s.nh != 0 || s.c_header != DKIM_CANON_RELAXED))
		abort();
	if (kind == DKIM_SIG_ARC_AMS) {
		int from = 0;
		for (size_t i = 0; i < s.nh; i++) {
			if (strcasecmp(s.h[i], "arc-seal") == 0)
				abort();
			from |= strcasecmp(s.h[i], "from") == 0;
		}
		if (!from || s.bh_len == 0)
			abort();
	}
	dkim_signature_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_message m;
	dkim_message_parse(data, size, &m);
	struct arc_chain *c = malloc(sizeof *c);
	unsigned inst = 99;
	char err[512] = "";
	enum arc_parse_status st = arc_chain_parse(&m, c, &inst, err, sizeof err);
	if (st == ARC_PARSE_FAIL && err[0] == '\0')
		abort();
	if (st == ARC_PARSE_OK) {
		if (c->n < 1 || c->n > ARC_MAX_SETS)
			abort();
		size_t last = 0;
		for (unsigned i = 1; i <= c->n; i++) {
			const struct arc_set *s = &c->sets[i];
			if (s->aar >= m.nfields || s->ams >= m.nfields || s->as >= m.nfields)
				abort();
			if (!dkim_field_is(&m.fields[s->aar], "ARC-Authentication-Results") ||
			    !dkim_field_is(&m.fields[s->ams], "ARC-Message-Signature") ||
			    !dkim_field_is(&m.fields[s->as], "ARC-Seal"))
				abort();
			if (s->cv != (i == 1 ? ARC_CV_NONE : ARC_CV_PASS))
				abort();
			struct buf b;
			buf_init(&b);
			arc_seal_data(&m, c, i, &b);
			if (b.len < last)
				abort();
			last = b.len;
			for (size_t k = 0; k < b.len; k++)
				if (b.data[k] == '\n' && (k == 0 || b.data[k - 1] != '\r'))
					abort();
			buf_free(&b);
		}
	}
	for (size_t k = 0; k < m.nfields; k++) {
		const struct dkim_field *f = &m.fields[k];
		unsigned a = 0;
		if (arc_aar_instance(f->raw + f->value_off, f->len - f->value_off, &a) == 0 && a == 0)
			abort();
		if (dkim_field_is(f, "ARC-Message-Signature"))
			parse_kind(f, DKIM_SIG_ARC_AMS);
		else if (dkim_field_is(f, "ARC-Seal"))
			parse_kind(f, DKIM_SIG_ARC_SEAL);
	}
	free(c);
	dkim_message_free(&m);
	return 0;
}
