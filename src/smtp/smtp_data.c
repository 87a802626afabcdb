/* smtp_data: dot-unstuffing DATA reader. See smtp_data.h for the policy. */
#include "smtp/smtp_data.h"

#include <string.h>

void smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size)
{
	memset(r, 0, sizeof *r);
	r->state = SMTP_DATA_LINE_START;
	r->max_size = max_size;
}

/* Append to the message; what passes max_size is dropped (the message will be refused). */
static void smtp_data_emit(struct smtp_data_reader *r, struct buf *out, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	uint64_t room = r->size < r->max_size ? r->max_size - r->size : 0;
	r->size += n;
	if (n > room) {
		r->overflow = 1;
		n = (size_t)room;
	}
	buf_append(out, p, n);
}

static void smtp_data_line_grew(struct smtp_data_reader *r, size_t n)
{
	size_t before = r->line_len;
	r->line_len += n;
	if (before <= SMTP_TEXT_LINE_MAX && r->line_len > SMTP_TEXT_LINE_MAX)
		r->long_lines++;
	if (r->line_len > r->longest_line)
		r->longest_line = r->line_len;
}

size_t smtp_data_feed(struct smtp_data_reader *r, const uint8_t *in, size_t len, struct buf *out)
{
	static const uint8_t crlf[2] = {'\r', '\n'};
	static const uint8_t cr = '\r';
	size_t i = 0;

	while (i < len && r->state != SMTP_DATA_DONE) {
		uint8_t c = in[i];
		switch (r->state) {
		case SMTP_DATA_LINE_START:
			if (c == '.') {
				r->state = SMTP_DATA_DOT;
				i++;
				continue;
			}
			r->state = SMTP_DATA_IN_LINE;
			continue; /* reprocess c as line content */
		case SMTP_DATA_IN_LINE: {
			/* Fast path: copy the run of ordinary bytes up to the next CR or LF. */
			size_t start = i;
			while (i < len && in[i] != '\r' && in[i] != '\n') {
				if (in[i] == '\0')
					r->nul_bytes++;
				i++;
			}
			smtp_data_emit(r, out, in + start, i - start);
			smtp_data_line_grew(r, i - start);
			if (i == len)
				break;
			if (in[i] == '\r') {
				r->state = SMTP_DATA_CR;
			} else {
				/* Bare LF: data, not a line end. */
				r->bare_lf++;
				smtp_data_emit(r, out, in + i, 1);
				smtp_data_line_grew(r, 1);
			}
			i++;
			continue;
		}
		case SMTP_DATA_CR:
			if (c == '\n') {
				smtp_data_emit(r, out, crlf, 2);
				r->line_len = 0;
				r->state = SMTP_DATA_LINE_START;
				i++;
				continue;
			}
			/* Bare CR: keep it; c is looked at again in the line. */
			r->bare_cr++;
			smtp_data_emit(r, out, &cr, 1);
			smtp_data_line_grew(r, 1);
			r->state = SMTP_DATA_IN_LINE;
			continue;
		case SMTP_DATA_DOT:
			/* The leading dot is dropped (RFC 5321 4.5.2) whatever follows. */
			if (c == '\r') {
				r->state = SMTP_DATA_DOT_CR;
				i++;
				continue;
			}
			r->state = SMTP_DATA_IN_LINE;
			continue;
		case SMTP_DATA_DOT_CR:
			if (c == '\n') {
				r->state = SMTP_DATA_DONE;
				i++;
				continue;
			}
			/* "." CR x: the dot is gone and the CR was bare. */
			r->state = SMTP_DATA_CR;
			continue;
		case SMTP_DATA_DONE:
			break;
		}
	}
	return i;
}

void smtp_data_inspect(const uint8_t *p, size_t len, struct smtp_data_reader *stats)
{
	smtp_data_reader_init(stats, UINT64_MAX);
	stats->size = len;
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i++;
			line = 0;
			continue;
		}
		if (c == '\r')
			stats->bare_cr++;
		else if (c == '\n')
			stats->bare_lf++;
		else if (c == '\0')
			stats->nul_bytes++;
		if (++line == SMTP_TEXT_LINE_MAX + 1)
			stats->long_lines++;
		if (line > stats->longest_line)
			stats->longest_line = line;
	}
}

size_t smtp_data_stuff(const uint8_t *msg, size_t len, struct buf *out)
{
	size_t repaired = 0, i = 0;
	int line_start = 1;

	buf_reserve(out, len + len / 64 + 8);
	while (i < len) {
		if (line_start && msg[i] == '.')
			buf_append_byte(out, '.');
		/* Copy up to and including the next LF. */
		const uint8_t *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - msg) : len;
		buf_append(out, msg + i, end - i);
		if (nl == NULL) {
			i = len;
			line_start = 0;
			break;
		}
		if (end == 0 || msg[end - 1] != '\r') {
			buf_append_byte(out, '\r');
			repaired++;
		}
		buf_append_byte(out, '\n');
		i = end + 1;
		line_start = 1;
	}
	if (!line_start)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
	return repaired;
}
