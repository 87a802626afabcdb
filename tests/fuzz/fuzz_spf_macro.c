/*
 * fuzz_spf_macro: the SPF macro expander (spf_macro.c).
 *
 * The first byte chooses the kind (domain-spec, modifier value,
 * explanation); the rest is the macro string. The syntax check and the
 * expansion must agree (an expansion may only fail beyond that for its
 * length limit); an expansion is printable ASCII (the values given are)
 * and within the limit; the helpers never read past the string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/spf_macro.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spf_macro_vars fuzz_vars = {
        .s = "Strong-Bad+tag@Email.Example.com",
        .l = "Strong-Bad+tag",
        .o = "Email.Example.com",
        .d = "a-b.c_d.e/f=g,h.example.org",
        .i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1",
        .p = "mx.example.org",
        .v = "ip6",
        .h = "[192.0.2.1]",
        .c = "2001:db8::cb01",
        .r = "~checker&co",
        .t = 1700000000,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum spf_macro_kind kind = (enum spf_macro_kind)(data[0] % 3);
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	char err[160] = "";
	int checked = spf_macro_check(s, len, kind, err, sizeof err);
	if (checked != 0 && err[0] == '\0')
		abort();
	struct buf out;
	buf_init(&out);
	char err2[160] = "";
	int expanded = spf_macro_expand(s, len, kind, &fuzz_vars, &out, err2, sizeof err2);
	if (checked != 0 && expanded == 0)
		abort();
	if (checked == 0 && expanded != 0 && strstr(err2, "limit") == NULL && strstr(err2, "too long") == NULL)
		abort();
	if (expanded == 0) {
		if (out.len > SPF_MACRO_OUT_MAX + 3 * 64)
			abort();
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] < 0x20 || out.data[i] > 0x7e)
				abort();
	} else if (out.len != 0) {
		abort(); /* a failed expansion leaves nothing behind */
	}
	size_t lit = 0;
	spf_macro_ends_with_expand(s, len, &lit);
	if (lit > len)
		abort();
	spf_macro_uses(s, len, 'p');
	buf_free(&out);
	return 0;
}
