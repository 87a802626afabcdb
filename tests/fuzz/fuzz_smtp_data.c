/*
 * fuzz_smtp_data: the DATA reader must give the same message, the same
 * counters and the same end position however the input is split into
 * reads, and never write past its size limit. The first two input bytes
 * choose the split step and the size limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_feed(const uint8_t *in, size_t len, size_t step, uint64_t max, struct buf *out,
                        struct smtp_data_reader *r)
{
	smtp_data_reader_init(r, max);
	size_t pos = 0;
	while (pos < len && r->state != SMTP_DATA_DONE) {
		size_t n = len - pos < step ? len - pos : step;
		size_t used = smtp_data_feed(r, in + pos, n, out);
		if (used > n || (used < n && r->state != SMTP_DATA_DONE))
			abort();
		pos += used;
	}
	return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	uint64_t max = data[1] < 128 ? UINT64_MAX : (uint64_t)(data[1] - 128) * 8;
	data += 2;
	size -= 2;

	struct buf whole, split;
	struct smtp_data_reader rw, rs;
	buf_init(&whole);
	buf_init(&split);
	size_t cw = fuzz_feed(data, size, size ? size : 1, max, &whole, &rw);
	size_t cs = fuzz_feed(data, size, step, max, &split, &rs);
	if (cw != cs || whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len) != 0))
		abort();
	if (rw.state != rs.state || rw.bare_lf != rs.bare_lf || rw.bare_cr != rs.bare_cr ||
	    rw.nul_bytes != rs.nul_bytes || rw.long_lines != rs.long_lines || rw.size != rs.size)
		abort();
	if (whole.len > max)
		abort();
	/* Output never contains the terminator line and is never longer than the input. */
	if (whole.len > cw)
		abort();
	buf_free(&whole);
	buf_free(&split);
	return 0;
}
