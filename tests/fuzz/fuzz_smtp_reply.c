/*
 * fuzz_smtp_reply: the reply parser, the EHLO keyword parser and the queue
 * id finder.
 *
 * The first byte chooses the limits: bit 0 strict CRLF, bit 1 a small line
 * limit (24 octets), bit 2 a small line count (3). The rest is fed three
 * ways: all at once, one byte at a time, and in pieces of a size taken from
 * the second byte; the three runs must give the same sequence of replies and
 * errors (a parser that depends on how the network splits its input is a
 * bug). Every reply must keep smtp_reply.h's promises: at least one line,
 * within the limits, every line starting with the same code in range, '-'
 * after the code on all lines but the last, an enhanced code only of the
 * right form and class; every EHLO parse of a 250 reply has upper-case
 * keyword names; a queue id is printable ASCII.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_EVENTS 4096

struct fuzz_event {
	int status; /* SMTP_REPLY_DONE or SMTP_REPLY_ERROR */
	int code;   /* or the error */
	size_t nlines;
};

static void fuzz_check_reply(const struct smtp_reply *r, const struct smtp_reply_limits *lim)
{
	if (r->nlines < 1 || r->nlines > lim->lines_max)
		abort();
	if (r->code < 200 || r->code > 559 || (r->code / 10) % 10 > 5)
		abort();
	char code[4];
	snprintf(code, sizeof code, "%03d", r->code);
	for (size_t i = 0; i < r->nlines; i++) {
		const char *l = r->lines[i];
		size_t n = strlen(l);
		if (n < 3 || n + 1 > lim->line_max || memcmp(l, code, 3) != 0)
			abort();
		int last = i + 1 == r->nlines;
		if (last && n > 3 && l[3] != ' ')
			abort();
		if (!last && (n < 4 || l[3] != '-'))
			abort();
		if (strchr(l, '\n') != NULL)
			abort();
		const char *t = smtp_reply_text(r, i), *tp = smtp_reply_text_plain(r, i);
		if (t < l || t > l + n || tp < t || tp > l + n)
			abort();
	}
	size_t en = strlen(r->enhanced);
	if (en > 0) {
		if (en < 5 || r->enhanced[0] != code[0] || r->enhanced[1] != '.')
			abort();
		if (strncmp(smtp_reply_text(r, 0), r->enhanced, en) != 0)
			abort();
	}
	char id[64];
	if (smtp_reply_queue_id(r, id, sizeof id) == 0) {
		if (id[0] == '\0' || r->code / 100 != 2)
			abort();
		for (const char *p = id; *p; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				abort();
	}
	struct smtp_ehlo e;
	if (smtp_ehlo_parse(r, &e) == 0) {
		if (r->code != 250 || e.domain == NULL || e.nkeywords >= r->nlines)
			abort();
		for (size_t i = 0; i < e.nkeywords; i++) {
			for (const char *p = e.keywords[i].name; *p; p++)
				if (islower((unsigned char)*p))
					abort();
			free(smtp_ehlo_keyword_text(&e.keywords[i]));
		}
		for (size_t i = 0; i < e.nauth_mechs; i++)
			if (e.auth_mechs[i][0] == '\0')
				abort();
		if (e.nauth_mechs > 0 && !(e.ext & SMTP_EXT_AUTH))
			abort();
	} else if (r->code == 250) {
		abort();
	}
	smtp_ehlo_free(&e);
}

/* Runs the parser over data in pieces of step (0: all at once); returns the number of events. */
static size_t fuzz_run(const uint8_t *data, size_t size, size_t step, const struct smtp_reply_limits *lim,
                       struct fuzz_event *ev)
{
	struct smtp_reply_parser p;
	size_t nev = 0, pos = 0;
	smtp_reply_parser_init(&p, lim);
	while (pos < size) {
		size_t piece = step == 0 || size - pos < step ? size - pos : step;
		size_t off = 0;
		while (off < piece) {
			struct smtp_reply r;
			size_t used = 0;
			enum smtp_reply_status st = smtp_reply_feed(&p, data + pos + off, piece - off, &used, &r);
			if (used > piece - off)
				abort();
			off += used;
			if (st == SMTP_REPLY_MORE) {
				if (off != piece)
					abort();
				break;
			}
			if (used == 0)
				abort(); /* no progress */
			if (nev < FUZZ_MAX_EVENTS) {
				ev[nev].status = st;
				ev[nev].code = st == SMTP_REPLY_DONE ? r.code : (int)p.error;
				ev[nev].nlines = st == SMTP_REPLY_DONE ? r.nlines : 0;
			}
			nev++;
			if (st == SMTP_REPLY_DONE) {
				fuzz_check_reply(&r, &p.limits);
				smtp_reply_free(&r);
			} else if (p.error == SMTP_REPLY_ERR_NONE || p.error_text[0] == '\0') {
				abort();
			}
		}
		pos += piece;
	}
	smtp_reply_parser_free(&p);
	return nev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_event a[FUZZ_MAX_EVENTS], b[FUZZ_MAX_EVENTS], c[FUZZ_MAX_EVENTS];
	if (size < 2)
		return 0;
	struct smtp_reply_limits lim = {
	        .strict_crlf = data[0] & 1,
	        .line_max = (data[0] & 2) ? 24 : SMTP_REPLY_LINE_MAX,
	        .lines_max = (data[0] & 4) ? 3 : SMTP_REPLY_LINES_MAX,
	};
	size_t step = data[1] % 17 + 1;
	data += 2;
	size -= 2;

	size_t na = fuzz_run(data, size, 0, &lim, a);
	size_t nb = fuzz_run(data, size, 1, &lim, b);
	size_t nc = fuzz_run(data, size, step, &lim, c);
	if (na != nb || na != nc)
		abort();
	size_t n = na < FUZZ_MAX_EVENTS ? na : FUZZ_MAX_EVENTS;
	if (memcmp(a, b, n * sizeof a[0]) != 0 || memcmp(a, c, n * sizeof a[0]) != 0)
		abort();
	return 0;
}
