/*
 * fuzz_msg_inspect: any bytes through msg_inspect() and
 * msg_attachment_content(). Beyond "no crash, no leak, no undefined
 * behaviour" it checks what the API promises its JSON-emitting callers:
 * every string valid UTF-8, the tree well formed (indices, parents, depths
 * within the limits), bodies and their part indices agreeing, and each
 * attachment's bytes, fetched again, of the size and SHA-256 reported.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "msg/msg_inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_msg_inspect_check(const char *s, int may_be_null)
{
	if (s == NULL) {
		if (!may_be_null)
			abort();
		return;
	}
	if (!utf8_valid(s, strlen(s)))
		abort();
}

static void fuzz_msg_inspect_check_addrs(const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fuzz_msg_inspect_check(a[i].name, 1);
		fuzz_msg_inspect_check(a[i].address, 0);
	}
}

static void fuzz_msg_inspect_sha256(const uint8_t *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		abort();
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msg_init(); /* once per process; later calls return at once */
	struct msg_inspection in;
	msg_inspect(data, size, &in);

	if (in.nheaders > MSG_INSPECT_MAX_HEADERS)
		abort();
	for (size_t i = 0; i < in.nheaders; i++) {
		fuzz_msg_inspect_check(in.headers[i].name, 0);
		fuzz_msg_inspect_check(in.headers[i].raw, 0);
		fuzz_msg_inspect_check(in.headers[i].decoded, 0);
	}
	fuzz_msg_inspect_check_addrs(in.summary.from, in.summary.nfrom);
	fuzz_msg_inspect_check_addrs(in.summary.to, in.summary.nto);
	fuzz_msg_inspect_check_addrs(in.summary.cc, in.summary.ncc);
	fuzz_msg_inspect_check_addrs(in.reply_to, in.nreply_to);
	fuzz_msg_inspect_check_addrs(in.bcc, in.nbcc);
	fuzz_msg_inspect_check(in.summary.subject, 1);
	fuzz_msg_inspect_check(in.in_reply_to, 1);
	fuzz_msg_inspect_check(in.list_unsubscribe, 1);

	if (in.nparts > MSG_INSPECT_MAX_PARTS)
		abort();
	for (size_t i = 0; i < in.nparts; i++) {
		const struct msg_part *p = &in.parts[i];
		if (p->index != (int)i || p->parent >= (int)i || p->depth > MSG_INSPECT_MAX_DEPTH)
			abort();
		if (i == 0 ? p->parent != -1 || p->depth != 0
		           : p->parent < 0 || p->depth != in.parts[p->parent].depth + 1)
			abort();
		if (p->parent >= 0 && !in.parts[p->parent].is_multipart && !in.parts[p->parent].is_message)
			abort();
		if ((p->is_multipart || p->is_message) && p->size != 0)
			abort();
		fuzz_msg_inspect_check(p->content_type, 0);
		fuzz_msg_inspect_check(p->charset, 1);
		fuzz_msg_inspect_check(p->transfer_encoding, 1);
		fuzz_msg_inspect_check(p->disposition, 1);
		fuzz_msg_inspect_check(p->filename, 1);
		fuzz_msg_inspect_check(p->content_id, 1);
	}
	fuzz_msg_inspect_check(in.text, 1);
	fuzz_msg_inspect_check(in.html, 1);
	if ((in.text == NULL) != (in.text_part < 0) || (in.html == NULL) != (in.html_part < 0))
		abort();
	if (in.text_part >= (int)in.nparts || in.html_part >= (int)in.nparts)
		abort();
	if (in.text_part >= 0 && strcmp(in.parts[in.text_part].content_type, "text/plain") != 0)
		abort();
	if (in.html_part >= 0 && strcmp(in.parts[in.html_part].content_type, "text/html") != 0)
		abort();

	for (size_t i = 0; i < in.nattachments; i++) {
		const struct msg_attachment *a = &in.attachments[i];
		if (a->index != (int)i || a->part < 0 || a->part >= (int)in.nparts || a->part == in.text_part ||
		    a->part == in.html_part || in.parts[a->part].size != a->size || strlen(a->sha256) != 64)
			abort();
		if (i > 0 && a->part <= in.attachments[i - 1].part)
			abort();
		fuzz_msg_inspect_check(a->filename, 1);
		fuzz_msg_inspect_check(a->content_type, 0);
		fuzz_msg_inspect_check(a->content_id, 1);
	}
	/* The rare path numbers attachments the same way (checked on the first and the last). */
	for (size_t k = 0; k < 2 && k < in.nattachments; k++) {
		size_t i = k == 0 ? 0 : in.nattachments - 1;
		uint8_t *bytes = NULL;
		size_t n = 0;
		if (msg_attachment_content(data, size, (int)i, &bytes, &n) != 0 || n != in.attachments[i].size)
			abort();
		char hex[65];
		fuzz_msg_inspect_sha256(bytes, n, hex);
		if (strcmp(hex, in.attachments[i].sha256) != 0)
			abort();
		free(bytes);
	}
	uint8_t *none = NULL;
	size_t nlen = 0;
	if (msg_attachment_content(data, size, (int)in.nattachments, &none, &nlen) != -1 || none != NULL)
		abort();

	msg_inspection_free(&in);
	return 0;
}
