/*
 * fuzz_msg_summary: any bytes through msg_summary_parse(). Beyond "no
 * crash, no leak, no undefined behaviour" it checks the promises the API
 * makes to its JSON-emitting callers: every string valid UTF-8, every
 * address present (possibly ""), no date without a Date: text.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "msg/msg_summary.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_msg_summary_check(const char *s, int may_be_null)
{
	if (s == NULL) {
		if (!may_be_null)
			abort();
		return;
	}
	if (!g_utf8_validate(s, -1, NULL))
		abort();
}

static void fuzz_msg_summary_check_addrs(const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fuzz_msg_summary_check(a[i].name, 1);
		fuzz_msg_summary_check(a[i].address, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msg_init(); /* once per process; later calls return at once */
	struct msg_summary s;
	msg_summary_parse(data, size, &s);
	fuzz_msg_summary_check_addrs(s.from, s.nfrom);
	fuzz_msg_summary_check_addrs(s.to, s.nto);
	fuzz_msg_summary_check_addrs(s.cc, s.ncc);
	fuzz_msg_summary_check(s.subject, 1);
	fuzz_msg_summary_check(s.date, 1);
	fuzz_msg_summary_check(s.message_id, 1);
	if (s.date == NULL && s.date_ms != INT64_MIN)
		abort();
	msg_summary_free(&s);
	return 0;
}
