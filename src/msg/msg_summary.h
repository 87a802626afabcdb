/*
 * msg_summary: the header summary of an RFC 5322 message, for listing.
 * Pure: raw bytes in, struct out (GMime does the parsing). Only the header
 * block is parsed, so the cost does not grow with the body.
 *
 * Subject and display names are decoded from RFC 2047 to UTF-8; group
 * syntax is flattened into its mailboxes; a header that is absent leaves its
 * field NULL / empty. Never fails on malformed input: what cannot be parsed
 * is left out.
 */
#ifndef MAILSCOPE_MSG_SUMMARY_H
#define MAILSCOPE_MSG_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

struct msg_addr {
	char *name;    /* decoded display name, or NULL */
	char *address; /* addr-spec, or "" when only a name could be parsed */
};

struct msg_summary {
	struct msg_addr *from;
	size_t nfrom;
	struct msg_addr *to;
	size_t nto;
	struct msg_addr *cc;
	size_t ncc;
	char *subject;    /* decoded UTF-8, NULL when absent */
	char *date;       /* Date: as sent (unfolded), NULL when absent */
	int64_t date_ms;  /* INT64_MIN when absent or unparseable */
	char *message_id; /* without the angle brackets, NULL when absent */
};

/* Call once per process before any parsing (initialises GMime). */
void msg_init(void);
void msg_shutdown(void);

void msg_summary_parse(const uint8_t *raw, size_t len, struct msg_summary *out);
void msg_summary_free(struct msg_summary *s);

#endif
