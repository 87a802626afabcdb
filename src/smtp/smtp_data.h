/*
 * smtp_data: the DATA reader (RFC 5321 4.5.2). Pure: bytes in, message bytes
 * out, across any split of the input into pieces.
 *
 * Lines are delimited by CRLF only. The message ends at CRLF "." CRLF (the
 * first line may be "." at once: an empty message). A line that starts with
 * "." loses that first dot. A bare LF or bare CR is message data and is kept
 * as it came (no "\n.\n" ends a message: that is how SMTP smuggling works);
 * the reader counts what it saw so the session can apply its policy.
 * Once the output would pass max_size, further bytes are dropped but the
 * reader keeps looking for the end so the session can answer after it.
 */
#ifndef MAILSCOPE_SMTP_DATA_H
#define MAILSCOPE_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 5322 2.1.1: a line is at most 998 characters excluding CRLF. */
#define SMTP_TEXT_LINE_MAX 998

enum smtp_data_state {
	SMTP_DATA_LINE_START,
	SMTP_DATA_IN_LINE,
	SMTP_DATA_CR,     /* a CR was seen; output waits for what follows */
	SMTP_DATA_DOT,    /* a "." at the start of a line */
	SMTP_DATA_DOT_CR, /* "." CR at the start of a line */
	SMTP_DATA_DONE,
};

struct smtp_data_reader {
	enum smtp_data_state state;
	uint64_t max_size; /* bytes of message beyond this are dropped */
	uint64_t size;     /* message bytes produced (including dropped ones) */
	size_t line_len;   /* octets in the current line so far */
	size_t longest_line;
	unsigned bare_lf, bare_cr, nul_bytes, long_lines;
	int overflow; /* size passed max_size */
};

void smtp_data_reader_init(struct smtp_data_reader *r, uint64_t max_size);
/*
 * Feed len bytes; message bytes are appended to out. Returns the number of
 * input bytes consumed: all of them, unless the end of data was reached, in
 * which case the bytes after the final CRLF are left for the command reader
 * and r->state is SMTP_DATA_DONE.
 */
size_t smtp_data_feed(struct smtp_data_reader *r, const uint8_t *in, size_t len, struct buf *out);

/*
 * Count bare CR, bare LF, NUL bytes and long lines of a message received
 * without dot-stuffing (BDAT), into the counters of *stats (zeroed first).
 */
void smtp_data_inspect(const uint8_t *p, size_t len, struct smtp_data_reader *stats);

/*
 * The other direction, for the client: msg as DATA content, appended to out.
 * A bare LF becomes CRLF (a file written on Unix; a bare CR stays as it is),
 * every line that starts with "." gets another one (RFC 5321 4.5.2.1), a
 * missing CRLF after the last line is added, and the end-of-data line
 * "." CRLF follows. smtp_data_feed() of the result gives back msg with its
 * line ends repaired. Returns the number of bare LFs repaired.
 */
size_t smtp_data_stuff(const uint8_t *msg, size_t len, struct buf *out);

#endif
