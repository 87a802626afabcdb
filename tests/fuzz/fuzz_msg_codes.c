/*
 * fuzz_msg_codes: any bytes through msg_codes_extract(). The input is split
 * at NUL bytes into subject, text and HTML; the HTML goes through
 * msg_html_text() as callers do. Checks: scores within the threshold and 1,
 * best first, values 4-10 ASCII letters and digits and unique, code and
 * context valid UTF-8, context at most a few hundred bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "msg/msg_codes.h"
#include "msg/msg_links.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_msg_codes_split(const uint8_t *data, size_t size, char *part[3])
{
	size_t start = 0;
	for (int k = 0; k < 3; k++) {
		size_t end = start;
		while (end < size && data[end] != 0)
			end++;
		if (start > size) {
			part[k] = NULL;
			continue;
		}
		part[k] = malloc(end - start + 1);
		memcpy(part[k], data + start, end - start);
		part[k][end - start] = '\0';
		start = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[3];
	fuzz_msg_codes_split(data, size, part);
	char *html_text = part[2] ? msg_html_text(part[2]) : NULL;
	struct msg_codes c;
	/* the raw third part as well: html_text is any text to this function */
	for (int round = 0; round < 2; round++) {
		msg_codes_extract(part[0], part[1], round == 0 ? html_text : part[2], &c);
		for (size_t i = 0; i < c.n; i++) {
			const struct msg_code *k = &c.items[i];
			if (!(k->score >= 0.3 - 1e-9 && k->score <= 1.0))
				abort();
			if (i > 0 && c.items[i - 1].score < k->score)
				abort();
			size_t n = strlen(k->value);
			if (n < 4 || n > 10)
				abort();
			for (size_t j = 0; j < n; j++) {
				char ch = k->value[j];
				if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
					abort();
			}
			if (k->code[0] == '\0' || !utf8_valid(k->code, strlen(k->code)))
				abort();
			if (!utf8_valid(k->context, strlen(k->context)) || strlen(k->context) > 640)
				abort();
			for (size_t j = 0; j < i && c.n < 256; j++) {
				if (strcmp(c.items[j].value, k->value) == 0)
					abort();
			}
		}
		msg_codes_free(&c);
	}
	free(html_text);
	for (int k = 0; k < 3; k++)
		free(part[k]);
	return 0;
}
