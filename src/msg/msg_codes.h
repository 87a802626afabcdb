/*
 * msg_codes: one-time codes (OTP, verification, login, 2FA) in a message,
 * ranked by how likely each is the code a test wants. Pure.
 *
 * Candidates are 4-10 digits, or digits grouped like "123-456" / "123 456",
 * or alphanumeric tokens (4-10 chars, at least one digit and one letter)
 * when labelled by a code word. A candidate's score grows with nearby code
 * words in several languages (code, OTP, verification, passcode, one-time,
 * PIN, Bestätigungscode, código, code de vérification, codice, 验证码, ...),
 * with being alone on its line or in a <strong>-like emphasis, and with the
 * subject mentioning a code; it is dropped when it looks like a date, a year,
 * a time, a price or amount, a phone number, an order/invoice number, a ZIP
 * code next to an address, or part of a URL. The rules are a table in
 * msg_codes.c, documented in docs/ARCHITECTURE.md.
 */
#ifndef MAILSCOPE_MSG_CODES_H
#define MAILSCOPE_MSG_CODES_H

#include <stddef.h>

struct msg_code {
	char *code;    /* as written, e.g. "123-456"; */
	char *value;   /* the code without separators, e.g. "123456" (what a test types) */
	char *context; /* the sentence (or line) it appears in, trimmed, at most ~200 chars */
	double score;  /* 0..1; higher is more likely the code */
};

struct msg_codes {
	struct msg_code *items; /* best first; candidates under a minimum score are left out */
	size_t n;
};

/* Any argument may be NULL. html_text is the visible text of the HTML body (msg_html_text). */
void msg_codes_extract(const char *subject, const char *text, const char *html_text, struct msg_codes *out);
void msg_codes_free(struct msg_codes *c);

#endif
