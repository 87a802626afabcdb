/*
 * fuzz_received_spf: the Received-SPF builder (received_spf.c), which
 * writes domains, addresses and reasons from outside into a header field.
 *
 * The first byte chooses the result, the identity, folding and which
 * fields are absent; the rest is NUL-separated fields: client IP, MAIL
 * FROM, HELO, receiver, sender, domain, mechanism, reason. The output must
 * be one header field: no CR or LF except the fold "\r\n\t", no line that
 * is only whitespace, no line break at all unless folding was asked for,
 * printable ASCII, space, tab or 8-bit bytes only, and it starts with the
 * result word.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/received_spf.h"
#include "auth/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RSPF_FIELDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	char *copy = malloc(size);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	char *f[FUZZ_RSPF_FIELDS] = {0};
	char *p = copy;
	char *end = copy + size - 1;
	for (int i = 0; i < FUZZ_RSPF_FIELDS && p <= end; i++) {
		f[i] = p;
		p += strlen(p) + 1;
	}
	struct spf_outcome o = {.result = (enum spf_result)(mode % 7),
	                        .scope = (mode & 0x08) ? "helo" : "mfrom",
	                        .sender = f[4],
	                        .domain = f[5],
	                        .mechanism = (mode & 0x40) ? NULL : f[6],
	                        .reason = f[7]};
	struct received_spf_input in = {.spf = &o,
	                                .client_ip = f[0],
	                                .mail_from = f[1],
	                                .helo = (mode & 0x20) ? NULL : f[2],
	                                .receiver = (mode & 0x80) ? NULL : f[3]};
	int fold = (mode & 0x10) != 0;
	char *s = received_spf_build(&in, fold);
	const char *word = spf_result_name(o.result);
	if (strncmp(s, word, strlen(word)) != 0 || (s[strlen(word)] != ' ' && s[strlen(word)] != '\r'))
		abort();
	for (const char *q = s; *q; q++) {
		unsigned char c = (unsigned char)*q;
		if (c == '\r') {
			if (!fold || q[1] != '\n' || q[2] != '\t')
				abort();
			/* A fold is followed by a word, never by more whitespace or the end. */
			if (q[3] == '\0' || q[3] == ' ' || q[3] == '\t' || q[3] == '\r')
				abort();
			q += 2;
			continue;
		}
		if (c == '\n' || c == '\t' || c < 0x20 || c == 0x7f)
			abort();
	}
	if (s[strlen(s) - 1] == ' ')
		abort();
	free(s);
	free(copy);
	return 0;
}
