/*
 * test_msg_inspect: whole messages taken apart. Each fixture in
 * tests/unit/fixtures/inspect/ is checked field by field (every header,
 * every part, both bodies, every attachment with its size and SHA-256,
 * precomputed with sha256sum, and its bytes through msg_attachment_content);
 * then charsets one by one, transfer encodings, which part is the body and
 * which an attachment, cid: references, the limits on nesting, parts and
 * headers, and malformed input. Every string must be valid UTF-8.
 */
#include <glib.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_inspect.h"

/* --------------------------------------------------------------- helpers */

static char *fixture_path(const char *name)
{
	const char *src = getenv("MAILSCOPE_SOURCE_DIR");
	if (src != NULL)
		return xasprintf("%s/tests/unit/fixtures/inspect/%s", src, name);
	/* __FILE__ is this file's path as the compiler saw it (absolute under CMake). */
	char *dir = g_path_get_dirname(__FILE__);
	char *path = xasprintf("%s/fixtures/inspect/%s", dir, name);
	g_free(dir);
	return path;
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
	char *path = fixture_path(name);
	gchar *data = NULL;
	gsize n = 0;
	if (!g_file_get_contents(path, &data, &n, NULL))
		fail_msg("cannot read fixture %s", path);
	free(path);
	uint8_t *copy = xmemdup(data, n);
	g_free(data);
	*len = n;
	return copy;
}

static void inspect_str(const char *raw, struct msg_inspection *in)
{
	msg_inspect((const uint8_t *)raw, strlen(raw), in);
}

static void assert_str(const char *actual, const char *expected)
{
	if (expected == NULL) {
		if (actual != NULL)
			fail_msg("expected NULL, got \"%s\"", actual);
		return;
	}
	if (actual == NULL)
		fail_msg("expected \"%s\", got NULL", expected);
	assert_string_equal(actual, expected);
}

static void assert_utf8(const char *s)
{
	if (s != NULL && !utf8_valid(s, strlen(s)))
		fail_msg("not valid UTF-8: %s", s);
}

static void sha256_hex(const uint8_t *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void assert_addrs_utf8(const struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_non_null(a[i].address);
		assert_utf8(a[i].name);
		assert_utf8(a[i].address);
	}
}

/* The promise to JSON-emitting callers: every string valid UTF-8, every index in range. */
static void assert_well_formed(const struct msg_inspection *in)
{
	for (size_t i = 0; i < in->nheaders; i++) {
		assert_non_null(in->headers[i].name);
		assert_non_null(in->headers[i].raw);
		assert_non_null(in->headers[i].decoded);
		assert_utf8(in->headers[i].name);
		assert_utf8(in->headers[i].raw);
		assert_utf8(in->headers[i].decoded);
	}
	assert_addrs_utf8(in->reply_to, in->nreply_to);
	assert_addrs_utf8(in->bcc, in->nbcc);
	assert_utf8(in->in_reply_to);
	assert_utf8(in->list_unsubscribe);
	assert_true(in->nparts <= MSG_INSPECT_MAX_PARTS);
	for (size_t i = 0; i < in->nparts; i++) {
		const struct msg_part *p = &in->parts[i];
		assert_int_equal(p->index, (int)i);
		assert_true(p->parent < (int)i);
		assert_true(p->depth <= MSG_INSPECT_MAX_DEPTH);
		if (i == 0)
			assert_int_equal(p->parent, -1);
		else
			assert_int_equal(p->depth, in->parts[p->parent].depth + 1);
		assert_non_null(p->content_type);
		assert_utf8(p->content_type);
		assert_utf8(p->charset);
		assert_utf8(p->transfer_encoding);
		assert_utf8(p->filename);
		assert_utf8(p->content_id);
	}
	assert_utf8(in->text);
	assert_utf8(in->html);
	assert_true(in->text_part >= -1 && in->text_part < (int)in->nparts);
	assert_true(in->html_part >= -1 && in->html_part < (int)in->nparts);
	assert_int_equal(in->text == NULL, in->text_part < 0);
	assert_int_equal(in->html == NULL, in->html_part < 0);
	for (size_t i = 0; i < in->nattachments; i++) {
		assert_int_equal(in->attachments[i].index, (int)i);
		assert_true(in->attachments[i].part >= 0 && in->attachments[i].part < (int)in->nparts);
		assert_utf8(in->attachments[i].filename);
		assert_utf8(in->attachments[i].content_id);
		assert_int_equal(strlen(in->attachments[i].sha256), 64);
	}
}

/* ------------------------------------------------------------- fixtures */

struct want_header {
	const char *name, *raw, *decoded;
};

struct want_part {
	int parent, depth;
	const char *type, *charset, *encoding, *disposition, *filename, *content_id;
	size_t size;
	int is_multipart, is_message;
};

struct want_attachment {
	int part;
	const char *filename, *type;
	size_t size;
	const char *sha256, *content_id;
	int is_inline;
};

struct want {
	const char *file;
	const struct want_header *headers;
	size_t nheaders;
	const struct want_part *parts;
	size_t nparts;
	int text_part, html_part;
	const char *text, *html;
	const struct want_attachment *attachments;
	size_t nattachments;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void assert_same_addrs(const struct msg_addr *a, size_t na, const struct msg_addr *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_str(a[i].name, b[i].name);
		assert_str(a[i].address, b[i].address);
	}
}

/*
 * Checks a fixture against its table and returns the inspection for
 * further checks (caller frees it and *raw).
 */
static void check_fixture(const struct want *w, struct msg_inspection *in, uint8_t **raw_out, size_t *len_out)
{
	size_t len;
	uint8_t *raw = read_fixture(w->file, &len);
	msg_inspect(raw, len, in);
	assert_well_formed(in);

	assert_int_equal(in->nheaders, w->nheaders);
	for (size_t i = 0; i < w->nheaders; i++) {
		assert_string_equal(in->headers[i].name, w->headers[i].name);
		assert_string_equal(in->headers[i].raw, w->headers[i].raw);
		assert_string_equal(in->headers[i].decoded, w->headers[i].decoded);
	}

	/* The summary is msg_summary_parse's, field for field. */
	struct msg_summary s;
	msg_summary_parse(raw, len, &s);
	assert_same_addrs(in->summary.from, in->summary.nfrom, s.from, s.nfrom);
	assert_same_addrs(in->summary.to, in->summary.nto, s.to, s.nto);
	assert_same_addrs(in->summary.cc, in->summary.ncc, s.cc, s.ncc);
	assert_str(in->summary.subject, s.subject);
	assert_str(in->summary.date, s.date);
	assert_int_equal(in->summary.date_ms, s.date_ms);
	assert_str(in->summary.message_id, s.message_id);
	msg_summary_free(&s);

	assert_int_equal(in->nparts, w->nparts);
	for (size_t i = 0; i < w->nparts; i++) {
		const struct msg_part *p = &in->parts[i];
		const struct want_part *e = &w->parts[i];
		assert_int_equal(p->index, (int)i);
		assert_int_equal(p->parent, e->parent);
		assert_int_equal(p->depth, e->depth);
		assert_string_equal(p->content_type, e->type);
		assert_str(p->charset, e->charset);
		assert_str(p->transfer_encoding, e->encoding);
		assert_str(p->disposition, e->disposition);
		assert_str(p->filename, e->filename);
		assert_str(p->content_id, e->content_id);
		assert_int_equal(p->size, e->size);
		assert_int_equal(p->is_multipart, e->is_multipart);
		assert_int_equal(p->is_message, e->is_message);
	}

	assert_int_equal(in->text_part, w->text_part);
	assert_int_equal(in->html_part, w->html_part);
	assert_str(in->text, w->text);
	assert_str(in->html, w->html);

	assert_int_equal(in->nattachments, w->nattachments);
	for (size_t i = 0; i < w->nattachments; i++) {
		const struct msg_attachment *a = &in->attachments[i];
		const struct want_attachment *e = &w->attachments[i];
		assert_int_equal(a->index, (int)i);
		assert_int_equal(a->part, e->part);
		assert_str(a->filename, e->filename);
		assert_string_equal(a->content_type, e->type);
		assert_int_equal(a->size, e->size);
		assert_string_equal(a->sha256, e->sha256);
		assert_str(a->content_id, e->content_id);
		assert_int_equal(a->is_inline, e->is_inline);

		/* The same bytes again through the rare path. */
		uint8_t *data = NULL;
		size_t dlen = 0;
		assert_int_equal(msg_attachment_content(raw, len, (int)i, &data, &dlen), 0);
		assert_int_equal(dlen, e->size);
		char hex[65];
		sha256_hex(data, dlen, hex);
		assert_string_equal(hex, e->sha256);
		free(data);
	}
	uint8_t *data = (uint8_t *)"untouched";
	size_t dlen = 99;
	assert_int_equal(msg_attachment_content(raw, len, (int)w->nattachments, &data, &dlen), -1);
	assert_null(data);
	assert_int_equal(dlen, 0);
	assert_int_equal(msg_attachment_content(raw, len, -1, &data, &dlen), -1);

	*raw_out = raw;
	*len_out = len;
}

static void assert_addr(const struct msg_addr *a, const char *name, const char *address)
{
	assert_str(a->name, name);
	assert_string_equal(a->address, address);
}

/* multipart/mixed > multipart/related > multipart/alternative; inline images; RFC 2231 filename. */
static void test_order_confirmation(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"Return-Path", "<bounce+8f3a@mail.shop.example>", "<bounce+8f3a@mail.shop.example>"},
	        {"Received",
	         "from mail.shop.example (mail.shop.example [203.0.113.7])\r\n\tby mx.mailscope.test with ESMTPS id "
	         "4F2A1C0D3\r\n\tfor <ann@example.com>; Tue, 12 Mar 2024 09:15:02 +0000",
	         "from mail.shop.example (mail.shop.example [203.0.113.7])\tby mx.mailscope.test with ESMTPS id "
	         "4F2A1C0D3\tfor <ann@example.com>; Tue, 12 Mar 2024 09:15:02 +0000"},
	        {"DKIM-Signature",
	         "v=1; a=rsa-sha256; d=shop.example; s=s1; c=relaxed/relaxed;\r\n\th=from:to:subject:date:message-id; "
	         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
	         "v=1; a=rsa-sha256; d=shop.example; s=s1; c=relaxed/relaxed;\th=from:to:subject:date:message-id; "
	         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ=="},
	        {"From", "\"Shop Example\" <orders@shop.example>", "\"Shop Example\" <orders@shop.example>"},
	        {"To", "Ann Example <ann@example.com>", "Ann Example <ann@example.com>"},
	        {"Reply-To", "Shop Support <support@shop.example>, \"Billing, Team\" <billing@shop.example>",
	         "Shop Support <support@shop.example>, \"Billing, Team\" <billing@shop.example>"},
	        {"Subject", "=?UTF-8?Q?Your_order_=E2=84=96_10234_is_confirmed_=E2=9C=94?=",
	         "Your order \u2116 10234 is confirmed \u2714"},
	        {"Date", "Tue, 12 Mar 2024 09:15:01 +0000", "Tue, 12 Mar 2024 09:15:01 +0000"},
	        {"Message-ID", "<20240312091501.10234@shop.example>", "<20240312091501.10234@shop.example>"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"List-Unsubscribe",
	         "<https://shop.example/unsub?u=ann%40example.com>,\r\n "
	         "<mailto:unsubscribe@shop.example?subject=unsub>",
	         "<https://shop.example/unsub?u=ann%40example.com>, <mailto:unsubscribe@shop.example?subject=unsub>"},
	        {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click", "List-Unsubscribe=One-Click"},
	        {"Content-Type", "multipart/mixed; boundary=\"=_mixed_001\"",
	         "multipart/mixed; boundary=\"=_mixed_001\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "multipart/related", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {1, 2, "multipart/alternative", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {2, 3, "text/plain", "utf-8", "quoted-printable", NULL, NULL, NULL, 177, 0, 0},
	        {2, 3, "text/html", "utf-8", "base64", NULL, NULL, NULL, 440, 0, 0},
	        {1, 2, "image/png", NULL, "base64", "inline", "logo.png", "logo@shop.example", 79, 0, 0},
	        {1, 2, "image/gif", NULL, "base64", NULL, NULL, "banner.top@shop.example", 43, 0, 0},
	        {1, 2, "image/png", NULL, "base64", NULL, NULL, "unused@shop.example", 73, 0, 0},
	        {0, 1, "application/pdf", NULL, "base64", "attachment",
	         "\u20ac Rechnung Nr. 10234 \u2013 M\u00e4rz.pdf", NULL, 340, 0, 0},
	};
	static const struct want_attachment attachments[] = {
	        {5, "logo.png", "image/png", 79, "038eb1cd67fd57d4e9d0c059eaa1fa6760a887e6f15f419a487a161928fe3116",
	         "logo@shop.example", 1},
	        {6, NULL, "image/gif", 43, "b1442e85b03bdcaf66dc58c7abb98745dd2687d86350be9a298a1d9382ac849b",
	         "banner.top@shop.example", 1},
	        {7, NULL, "image/png", 73, "68c41bb798155f8ad4c0280b6540e49f18457b263986fa6edbf58dc0821f3cb1",
	         "unused@shop.example", 0},
	        {8, "\u20ac Rechnung Nr. 10234 \u2013 M\u00e4rz.pdf", "application/pdf", 340,
	         "f9cf4d81689856f503595e656981f384af776b85ac54f1f847327ad2332eadeb", NULL, 0},
	};
	static const struct want w = {
	        "order_confirmation.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        3,
	        4,
	        "Hello Ann,\r\n\r\nthanks for your order \u2116 10234 \u2014 we\u2019re packing it now.\r\nTotal: "
	        "59,90 \u20ac\r\n\r\nTrack it: https://shop.example/orders/10234?utm_source=email\r\n\r\n\u2014 Shop "
	        "Example\r\n",
	        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Order 10234</title></head><body><img "
	        "src=\"cid:logo@shop.example\" alt=\"Shop Example\"><div "
	        "style=\"background:url(CID:Banner.Top@shop.example)\"></div><p>Hello Ann,</p><p>thanks for your "
	        "order \u2116&nbsp;10234 \u2014 we\u2019re packing it now.</p><p><strong>Total: "
	        "59,90&nbsp;\u20ac</strong></p><p><a href=\"https://shop.example/orders/10234?utm_source=email\">Track "
	        "your order</a></p></body></html>\r\n",
	        attachments,
	        N(attachments),
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	assert_int_equal(in.summary.nfrom, 1);
	assert_addr(&in.summary.from[0], "Shop Example", "orders@shop.example");
	assert_string_equal(in.summary.subject, "Your order \u2116 10234 is confirmed \u2714");
	assert_string_equal(in.summary.message_id, "20240312091501.10234@shop.example");
	assert_int_equal(in.nreply_to, 2);
	assert_addr(&in.reply_to[0], "Shop Support", "support@shop.example");
	assert_addr(&in.reply_to[1], "Billing, Team", "billing@shop.example");
	assert_int_equal(in.nbcc, 0);
	assert_null(in.in_reply_to);
	assert_string_equal(
	        in.list_unsubscribe,
	        "<https://shop.example/unsub?u=ann%40example.com>, <mailto:unsubscribe@shop.example?subject=unsub>");
	msg_inspection_free(&in);
	free(raw);
}

/* multipart/related > multipart/mixed > multipart/alternative; a text note before the alternative. */
static void test_nested_related(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "Reports <reports@reports.example>", "Reports <reports@reports.example>"},
	        {"To", "team@example.com", "team@example.com"},
	        {"Subject", "Weekly report", "Weekly report"},
	        {"Date", "Mon, 11 Mar 2024 07:00:00 +0100", "Mon, 11 Mar 2024 07:00:00 +0100"},
	        {"Message-ID", "<weekly-2024-11@reports.example>", "<weekly-2024-11@reports.example>"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "multipart/related; boundary=\"rel\"", "multipart/related; boundary=\"rel\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/related", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {1, 2, "text/plain", "us-ascii", NULL, NULL, NULL, NULL, 46, 0, 0},
	        {1, 2, "multipart/alternative", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {3, 3, "text/plain", "us-ascii", "7bit", NULL, NULL, NULL, 66, 0, 0},
	        {3, 3, "text/html", "utf-8", "quoted-printable", NULL, NULL, NULL, 137, 0, 0},
	        {1, 2, "text/csv", "utf-8", "8bit", "attachment", "report.csv", NULL, 64, 0, 0},
	        {0, 1, "image/png", NULL, "base64", NULL, NULL, "chart@reports.example", 73, 0, 0},
	};
	static const struct want_attachment attachments[] = {
	        {6, "report.csv", "text/csv", 64, "fe3f9d4e87923bac01e2d04cf6c220db5b724730b94d8c5a9ab9f25b737d9617",
	         NULL, 0},
	        /* referenced as cid:chart%40reports.example */
	        {7, NULL, "image/png", 73, "515e54cb4cef8608f2dd0beddb39fb5ceb139694757fde88f7b9255bccdb873d",
	         "chart@reports.example", 1},
	};
	static const struct want w = {
	        "nested_related.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        4, /* the text in the alternative, not the note before it */
	        5,
	        "Your weekly report is attached.\r\nOpen the chart below for details.",
	        "<html><body><h1>Weekly report</h1><p>Revenue grew 12\u00a0% \u2191</p><img "
	        "src=\"cid:chart%40reports.example\" width=\"8\" height=\"4\"></body></html>",
	        attachments,
	        N(attachments),
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	uint8_t *csv;
	size_t n;
	assert_int_equal(msg_attachment_content(raw, len, 0, &csv, &n), 0);
	const char want_csv[] = "date,revenue\r\n2024-03-04,1200\r\n2024-03-11,1344\r\nTotal,2544 \u20ac\r\n";
	assert_int_equal(n, strlen(want_csv));
	assert_memory_equal(csv, want_csv, n);
	free(csv);
	msg_inspection_free(&in);
	free(raw);
}

/* Filenames: RFC 2047 (padded B words split in two, Q, Latin-1), RFC 2231, raw UTF-8, Content-Type name. */
static void test_filenames(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "=?UTF-8?B?TWFyw61h?= <maria@example.es>", "Mar\u00eda <maria@example.es>"},
	        {"To", "hr@example.com", "hr@example.com"},
	        {"Subject", "Documents", "Documents"},
	        {"Date", "Wed, 13 Mar 2024 16:40:00 +0100", "Wed, 13 Mar 2024 16:40:00 +0100"},
	        {"Message-ID", "<docs.7781@example.es>", "<docs.7781@example.es>"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "multipart/mixed; boundary=\"files\"", "multipart/mixed; boundary=\"files\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "text/plain", "utf-8", NULL, NULL, NULL, NULL, 35, 0, 0},
	        {0, 1, "application/pdf", NULL, "base64", "attachment", "Contrat_sign\u00e9_final.pdf", NULL, 14, 0, 0},
	        {0, 1, "text/plain", "iso-8859-1", "base64", "attachment", "r\u00e9sum\u00e9 2024.txt", NULL, 12, 0, 0},
	        {0, 1, "text/plain", NULL, "base64", "attachment", "\u00e9t\u00e9.txt", NULL, 13, 0, 0},
	        {0, 1, "application/octet-stream", NULL, "base64", "attachment",
	         "a_very_long_file_name_that_was_split_across_two_parameters.txt", NULL, 10, 0, 0},
	        {0, 1, "image/gif", NULL, "base64", NULL, "\u0424\u043e\u0442\u043e.gif", NULL, 43, 0, 0},
	        {0, 1, "application/zip", NULL, "base64", NULL, "\u65e5\u672c\u8a9e\u30d5\u30a1\u30a4\u30eb.zip", NULL,
	         21, 0, 0},
	        {0, 1, "application/octet-stream", NULL, "base64", "attachment", "disposition-name.bin", NULL, 11, 0,
	         0},
	};
	static const struct want_attachment attachments[] = {
	        {2, "Contrat_sign\u00e9_final.pdf", "application/pdf", 14,
	         "9ead163876ab5b53b74f1a096e52d8dc27f58b9f38050770ab0a88ebe6720c32", NULL, 0},
	        {3, "r\u00e9sum\u00e9 2024.txt", "text/plain", 12,
	         "c014d1eb965a9d712460dc3890aa7edb47fa289a4109b327bab8d7246de11ce6", NULL, 0},
	        {4, "\u00e9t\u00e9.txt", "text/plain", 13,
	         "75230b21c7dd65ad081394f78134fbd90d0f7614b2710d1b75da302593da64ea", NULL, 0},
	        {5, "a_very_long_file_name_that_was_split_across_two_parameters.txt", "application/octet-stream", 10,
	         "1272a49868c41260330ce643f91dffd1114abc24bf149dfb4ebfb8833bbe5670", NULL, 0},
	        {6, "\u0424\u043e\u0442\u043e.gif", "image/gif", 43,
	         "b1442e85b03bdcaf66dc58c7abb98745dd2687d86350be9a298a1d9382ac849b", NULL, 0},
	        {7, "\u65e5\u672c\u8a9e\u30d5\u30a1\u30a4\u30eb.zip", "application/zip", 21,
	         "77b73bea72af209200e915f112258a2123f52ac7c80af10b66fa1cde1f9b984a", NULL, 0},
	        {8, "disposition-name.bin", "application/octet-stream", 11,
	         "19a79fba7584203bd735b7d6eef57e6cb08fcfd6e250ef41d34a3c28821ec448", NULL, 0},
	};
	static const struct want w = {
	        "rfc2047_filenames.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        1,
	        -1,
	        "Please find the documents attached.",
	        NULL,
	        attachments,
	        N(attachments),
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	assert_addr(&in.summary.from[0], "Mar\u00eda", "maria@example.es");
	msg_inspection_free(&in);
	free(raw);
}

/* ISO-8859-1 label, a Windows-1252 byte (0x80), raw 8-bit Latin-1 header values. */
static void test_latin1_text(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        /* raw: the Latin-1 byte is not UTF-8 and is repaired; decoded: GMime's 8-bit fallback */
	        {"From", "Caf\uFFFD <cafe@example.fr>", "Caf\u00e9 <cafe@example.fr>"},
	        {"To", "client@example.com", "client@example.com"},
	        {"Subject", "Re\uFFFDu", "Re\u00e7u"},
	        {"X-Greeting", "Gr\uFFFD\uFFFDe", "Gr\u00fc\u00dfe"},
	        {"Date", "Thu, 14 Mar 2024 08:00:00 +0100", "Thu, 14 Mar 2024 08:00:00 +0100"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "text/plain; charset=ISO-8859-1", "text/plain; charset=ISO-8859-1"},
	        {"Content-Transfer-Encoding", "quoted-printable", "quoted-printable"},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "text/plain", "iso-8859-1", "quoted-printable", NULL, NULL, NULL, 31, 0, 0},
	};
	static const struct want w = {
	        "latin1_text.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        0,
	        -1,
	        "Caf\u00e9 cr\u00e8me \u00e0 3,50 \u20ac \u2013 merci\u00a0!\r\n",
	        NULL,
	        NULL,
	        0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	assert_string_equal(in.summary.subject, "Re\u00e7u");
	assert_addr(&in.summary.from[0], "Caf\u00e9", "cafe@example.fr");
	msg_inspection_free(&in);
	free(raw);
}

/* Only an HTML part, Windows-1252, 8bit. */
static void test_html_only(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "Acme <news@acme.example>", "Acme <news@acme.example>"},
	        {"To", "ann@example.com", "ann@example.com"},
	        {"Subject", "Only HTML", "Only HTML"},
	        {"Date", "Fri, 15 Mar 2024 10:00:00 -0500", "Fri, 15 Mar 2024 10:00:00 -0500"},
	        {"Message-ID", "<only-html@acme.example>", "<only-html@acme.example>"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "text/html; charset=\"windows-1252\"", "text/html; charset=\"windows-1252\""},
	        {"Content-Transfer-Encoding", "8bit", "8bit"},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "text/html", "windows-1252", "8bit", NULL, NULL, NULL, 69, 0, 0},
	};
	static const struct want w = {
	        "html_only.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        -1,
	        0,
	        NULL,
	        "<html><body><p>\u201cSmart quotes\u201d \u2013 dashes\u2026 and Acme\u2122</p></body></html>\r\n",
	        NULL,
	        0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	msg_inspection_free(&in);
	free(raw);
}

/*
 * A 720 KB folded field before the MIME fields: GMime is given that field cut
 * at 64 KiB (its per-line reallocation is quadratic: 23 s for the hostile suite's 1 MB field
 * under ASan, on the event loop), while the header listing keeps every byte
 * and the MIME tree behind it is intact.
 */
static void test_huge_folded_field(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "From: a@example.com\r\nX-Folded: start");
	for (int i = 0; i < 10000; i++)
		buf_append_str(&b, "\r\n wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww");
	buf_append_str(&b, "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	                   "--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n"
	                   "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n"
	                   "\r\n%PDF\r\n--b--\r\n");
	struct msg_inspection in;
	msg_inspect(b.data, b.len, &in);
	assert_int_equal(in.nheaders, 4);
	assert_string_equal(in.headers[1].name, "X-Folded");
	assert_true(strlen(in.headers[1].raw) > 700000); /* the listing has the whole field */
	assert_int_equal(in.nparts, 3);
	assert_string_equal(in.parts[0].content_type, "multipart/mixed");
	assert_non_null(in.text);
	assert_string_equal(in.text, "the text");
	assert_int_equal(in.nattachments, 1);
	assert_string_equal(in.attachments[0].filename, "x.pdf");
	msg_inspection_free(&in);
	buf_free(&b);
}

/* Shift_JIS body with a CP932-only character (read as CP932), ISO-2022-JP and Shift_JIS encoded words. */
static void test_shift_jis(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>", "\u5c71\u7530 <yamada@example.jp>"},
	        {"To", "user@example.com", "user@example.com"},
	        {"Subject", "=?Shift_JIS?B?im2URoNSgVuDaILMgqiSbYLngrk=?=",
	         "\u78ba\u8a8d\u30b3\u30fc\u30c9\u306e\u304a\u77e5\u3089\u305b"},
	        {"Date", "Sat, 16 Mar 2024 12:00:00 +0900", "Sat, 16 Mar 2024 12:00:00 +0900"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "text/plain; charset=Shift_JIS", "text/plain; charset=Shift_JIS"},
	        {"Content-Transfer-Encoding", "base64", "base64"},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "text/plain", "shift_jis", "base64", NULL, NULL, NULL, 79, 0, 0},
	};
	static const struct want w = {
	        "shift_jis.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        0,
	        -1,
	        "\u5c71\u7530\u69d8\r\n\r\n\u3054\u767b\u9332\u3042\u308a\u304c\u3068\u3046\u3054\u3056\u3044\u307e"
	        "\u3059"
	        "\u3002\r\n\u78ba\u8a8d\u30b3\u30fc\u30c9\uff1a482917\r\n\u2460 \u3054\u6ce8\u610f\u304f\u3060\u3055"
	        "\u3044\r\n",
	        NULL,
	        NULL,
	        0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	assert_addr(&in.summary.from[0], "\u5c71\u7530", "yamada@example.jp");
	msg_inspection_free(&in);
	free(raw);
}

/* UTF-16 with a byte order mark (text) and UTF-16LE without one (HTML), astral characters included. */
static void test_utf16(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "sender@example.de", "sender@example.de"},
	        {"To", "receiver@example.com", "receiver@example.com"},
	        {"Subject", "UTF-16", "UTF-16"},
	        {"Date", "Sun, 17 Mar 2024 09:30:00 +0100", "Sun, 17 Mar 2024 09:30:00 +0100"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "multipart/alternative; boundary=\"u16\"", "multipart/alternative; boundary=\"u16\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/alternative", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "text/plain", "utf-16", "base64", NULL, NULL, NULL, 50, 0, 0},
	        {0, 1, "text/html", "utf-16le", "base64", NULL, NULL, NULL, 58, 0, 0},
	};
	static const struct want w = {
	        "utf16.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        1,
	        2,
	        "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u4f60\u597d \U0001F642\r\n",
	        "<p>Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u4f60\u597d \U0001F642</p>",
	        NULL,
	        0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	msg_inspection_free(&in);
	free(raw);
}

/* Only text, no MIME fields at all, LF line ends; Reply-To twice, Bcc, In-Reply-To, #133 in Subject. */
static void test_text_only(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"Received", "by 10.0.0.1 with SMTP id x;\n        Mon, 18 Mar 2024 11:00:00 -0700 (PDT)",
	         "by 10.0.0.1 with SMTP id x;        Mon, 18 Mar 2024 11:00:00 -0700 (PDT)"},
	        {"From", "Bob <bob@example.org>", "Bob <bob@example.org>"},
	        {"To", "\"Ann, Example\" <ann@example.com>", "\"Ann, Example\" <ann@example.com>"},
	        {"Cc", "carol@example.net", "carol@example.net"},
	        {"Bcc", "audit@example.org, =?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>",
	         "audit@example.org, J\u00f6rg <joerg@example.de>"},
	        {"Reply-To", "=?UTF-8?B?SMOpbMOobmU=?= <helene@example.fr>", "H\u00e9l\u00e8ne <helene@example.fr>"},
	        {"Reply-To", "second@example.org", "second@example.org"},
	        {"Subject", "=?UTF-8?B?UmU6IFBhc3N3b3JkIHJlc2V0IOKAkyA=?=\n =?UTF-8?B?eW91ciBjb2RlIGlzIDQ4MjkxNw==?=",
	         "Re: Password reset \u2013 your code is 482917"},
	        {"In-Reply-To", "<CAF=abc123@mail.example.com> <second@mail.example.com>",
	         "<CAF=abc123@mail.example.com> <second@mail.example.com>"},
	        {"References", "<first@mail.example.com>\n\t<CAF=abc123@mail.example.com>",
	         "<first@mail.example.com>\t<CAF=abc123@mail.example.com>"},
	        {"Date", "Mon, 18 Mar 2024 11:00:00 -0700", "Mon, 18 Mar 2024 11:00:00 -0700"},
	        {"Message-ID", "<reply.42@example.org>", "<reply.42@example.org>"},
	        {"X-Mailer", "plain-text-mailer 1.0", "plain-text-mailer 1.0"},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "text/plain", NULL, NULL, NULL, NULL, NULL, 39, 0, 0},
	};
	static const struct want w = {
	        "text_only.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        0,
	        -1,
	        "Hi Ann,\n\nyour code is 482917.\n\n-- \nBob\n",
	        NULL,
	        NULL,
	        0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	assert_string_equal(in.summary.subject, "Re: Password reset \u2013 your code is 482917");
	assert_int_equal(in.nreply_to, 2);
	assert_addr(&in.reply_to[0], "H\u00e9l\u00e8ne", "helene@example.fr");
	assert_addr(&in.reply_to[1], NULL, "second@example.org");
	assert_int_equal(in.nbcc, 2);
	assert_addr(&in.bcc[0], NULL, "audit@example.org");
	assert_addr(&in.bcc[1], "J\u00f6rg", "joerg@example.de");
	assert_string_equal(in.in_reply_to, "CAF=abc123@mail.example.com");
	assert_null(in.list_unsubscribe);
	assert_int_equal(in.summary.ncc, 1);
	msg_inspection_free(&in);
	free(raw);
}

/* Headers and no body at all: GMime's implicit text/plain part, empty. */
static void test_no_body(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "cron@server.example", "cron@server.example"},
	        {"To", "admin@example.com", "admin@example.com"},
	        {"Subject", "(no body)", "(no body)"},
	        {"Date", "Tue, 19 Mar 2024 00:00:00 +0000", "Tue, 19 Mar 2024 00:00:00 +0000"},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "text/plain", NULL, NULL, NULL, NULL, NULL, 0, 0, 0},
	};
	static const struct want w = {
	        "no_body.eml", headers, N(headers), parts, N(parts), 0, -1, "", NULL, NULL, 0,
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	msg_inspection_free(&in);
	free(raw);
}

/* A forwarded message/rfc822: its parts are children, its bodies are not the message's. */
static void test_forwarded(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "Ann <ann@example.com>", "Ann <ann@example.com>"},
	        {"To", "Dave <dave@example.com>", "Dave <dave@example.com>"},
	        {"Subject", "Fwd: Welcome to Example", "Fwd: Welcome to Example"},
	        {"Date", "Wed, 20 Mar 2024 14:00:00 +0000", "Wed, 20 Mar 2024 14:00:00 +0000"},
	        {"Message-ID", "<fwd.1@example.com>", "<fwd.1@example.com>"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "multipart/mixed; boundary=\"outer\"", "multipart/mixed; boundary=\"outer\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "text/plain", "utf-8", "8bit", NULL, NULL, NULL, 34, 0, 0},
	        {0, 1, "message/rfc822", NULL, NULL, "attachment", "Original message.eml", NULL, 0, 0, 1},
	        {2, 2, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {3, 3, "multipart/alternative", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {4, 4, "text/plain", "utf-8", NULL, NULL, NULL, NULL, 49, 0, 0},
	        {4, 4, "text/html", "utf-8", NULL, NULL, NULL, NULL, 69, 0, 0},
	        {3, 3, "application/pdf", NULL, "base64", "attachment", "terms.pdf", NULL, 24, 0, 0},
	};
	static const struct want_attachment attachments[] = {
	        {7, "terms.pdf", "application/pdf", 24,
	         "6dd14747be1e6844b8fa4bda7d16dc04dc71565c7de3cfc3476db74f331e829d", NULL, 0},
	};
	static const struct want w = {
	        "forwarded.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        1,
	        -1, /* the only HTML is the forwarded message's */
	        "FYI \u2014 see the forwarded message.",
	        NULL,
	        attachments,
	        N(attachments),
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	msg_inspection_free(&in);
	free(raw);
}

/* A boundary that never appears, bad base64 and QP, charsets nobody knows, a truncated part. */
static void test_malformed(void **state)
{
	(void)state;
	static const struct want_header headers[] = {
	        {"From", "broken@example.com", "broken@example.com"},
	        {"To", "x@example.com", "x@example.com"},
	        {"Subject", "Broken parts", "Broken parts"},
	        {"Date", "Thu, 21 Mar 2024 10:00:00 +0000", "Thu, 21 Mar 2024 10:00:00 +0000"},
	        {"MIME-Version", "1.0", "1.0"},
	        {"Content-Type", "multipart/mixed; boundary=\"outer\"", "multipart/mixed; boundary=\"outer\""},
	};
	static const struct want_part parts[] = {
	        {-1, 0, "multipart/mixed", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        /* its boundary never appears: no children, the text is lost in its preamble */
	        {0, 1, "multipart/alternative", NULL, NULL, NULL, NULL, NULL, 0, 1, 0},
	        {0, 1, "text/plain", "x-no-such-charset", "quoted-printable", NULL, NULL, NULL, 47, 0, 0},
	        {0, 1, "text/html", "bogus-8", "8bit", NULL, NULL, NULL, 15, 0, 0},
	        {0, 1, "application/octet-stream", NULL, "base64", NULL, "bad.b64", NULL, 12, 0, 0},
	        {0, 1, "image/png", NULL, "base64", NULL, "truncated.png", NULL, 42, 0, 0},
	};
	static const struct want_attachment attachments[] = {
	        /* the invalid characters are skipped: "Hello world!" */
	        {4, "bad.b64", "application/octet-stream", 12,
	         "c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a", NULL, 0},
	        {5, "truncated.png", "image/png", 42,
	         "ebb313d1c842f41f2e46d17c381c3c2a6bd004c30a5963871940cd3dd54c3fb8", NULL, 0},
	};
	static const struct want w = {
	        "malformed.eml",
	        headers,
	        N(headers),
	        parts,
	        N(parts),
	        2,
	        3,
	        /* unknown charset, valid UTF-8: UTF-8; bad QP escapes kept as written */
	        "Soft break, bad escape =ZZ, lower \u00e9, trailing ",
	        /* unknown charset, not UTF-8: Windows-1252 */
	        "<p>Caf\u00e9 \u20ac 5</p>",
	        attachments,
	        N(attachments),
	};
	struct msg_inspection in;
	uint8_t *raw;
	size_t len;
	check_fixture(&w, &in, &raw, &len);
	msg_inspection_free(&in);
	free(raw);
}

/* ------------------------------------------------------------- charsets */

struct charset_case {
	const char *charset; /* the parameter as written, or NULL for none */
	const char *body;
	size_t body_len; /* 0: strlen */
	const char *want;
};

static char *text_message(const char *content_type_params, const char *encoding, const char *body, size_t len,
                          size_t *out_len)
{
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "From: a@example.com\r\nSubject: charset\r\nMIME-Version: 1.0\r\nContent-Type: text/plain");
	if (content_type_params != NULL)
		buf_printf(&b, "; %s", content_type_params);
	buf_append_str(&b, "\r\n");
	if (encoding != NULL)
		buf_printf(&b, "Content-Transfer-Encoding: %s\r\n", encoding);
	buf_append_str(&b, "\r\n");
	buf_append(&b, body, len);
	buf_cstr(&b);
	return (char *)buf_steal(&b, out_len);
}

static void test_charsets(void **state)
{
	(void)state;
	static const struct charset_case cases[] = {
	        /* no label: UTF-8 if valid, else Windows-1252 */
	        {NULL, "caf\xc3\xa9", 0, "caf\u00e9"},
	        {NULL, "caf\xe9 \x80 \x93ok\x94", 0, "caf\u00e9 \u20ac \u201cok\u201d"},
	        /* UTF-8 / ASCII labels: the same rule catches the usual mislabels */
	        {"charset=us-ascii", "caf\xc3\xa9", 0, "caf\u00e9"},
	        {"charset=\"UTF-8\"", "caf\xe9", 0, "caf\u00e9"},
	        {"charset=utf8", "\xe2\x82\xac", 0, "\u20ac"},
	        /* a label iconv does not know */
	        {"charset=x-unknown-charset", "\xe2\x82\xac 5", 0, "\u20ac 5"},
	        {"charset=x-unknown-charset", "\xa3 5", 0, "\u00a3 5"},
	        /* not a charset name at all (glibc would read "//" as flags): unknown */
	        {"charset=\"shift_jis//IGNORE\"", "caf\xe9", 0, "caf\u00e9"},
	        /* Latin-1 labels read as Windows-1252; valid UTF-8 under them is UTF-8 */
	        {"charset=iso-8859-1", "\xe9t\xe9 \x80", 0, "\u00e9t\u00e9 \u20ac"},
	        {"charset=ISO-8859-1", "caf\xc3\xa9", 0, "caf\u00e9"},
	        {"charset=latin1", "na\xefve", 0, "na\u00efve"},
	        {"charset=windows-1252", "\x81\x8d", 0, "\xc2\x81\xc2\x8d"}, /* the holes, as WHATWG */
	        /* single-byte charsets through iconv */
	        {"charset=\"ISO-8859-15\"", "\xa4", 0, "\u20ac"},
	        {"charset=iso-8859-2",
	         "\xa3\xf3"
	         "d\xbc",
	         0, "\u0141\u00f3d\u017a"},
	        {"charset=koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", 0, "\u041f\u0440\u0438\u0432\u0435\u0442"},
	        {"charset=windows-1251", "\xcf\xf0\xe8\xe2\xe5\xf2", 0, "\u041f\u0440\u0438\u0432\u0435\u0442"},
	        /* multi-byte charsets, and the supersets senders mean */
	        {"charset=gb2312", "\x81@\xc4\xe3\xba\xc3", 0, "\u4e02\u4f60\u597d"},
	        {"charset=euc-kr", "\xbe\xc8\xb3\xe7", 0, "\uc548\ub155"},
	        {"charset=ks_c_5601-1987", "\xbe\xc8\xb3\xe7", 0, "\uc548\ub155"},
	        {"charset=iso-2022-jp", "\x1b$B$3$s$K$A$O\x1b(B", 0, "\u3053\u3093\u306b\u3061\u306f"},
	        {"charset=shift_jis", "\x82\xa0\x87\x40", 0, "\u3042\u2460"},
	        {"charset=big5", "\xa4\xa4\xa4\xe5", 0, "\u4e2d\u6587"},
	        {"charset=utf-7", "Hi Mom -+Jjo--!", 0, "Hi Mom -\u263a-!"},
	        /* cut short at the end: U+FFFD for the partial character */
	        {"charset=shift_jis", "\x82\xa0\x82", 0, "\u3042\uFFFD"},
	        /* invalid in the label's charset: wrong label, not UTF-8 either: Windows-1252 */
	        {"charset=shift_jis", "\x82 abc", 0, "\u201a abc"},
	        /* invalid in the label's charset but valid UTF-8: UTF-8 */
	        {"charset=euc-jp", "\xe2\x82\xac", 0, "\u20ac"},
	        /* byte order marks decide, whatever the label */
	        {"charset=utf-8", "\xef\xbb\xbfhello", 0, "hello"},
	        {"charset=iso-8859-1", "\xff\xfeh\0i\0", 6, "hi"},
	        {NULL, "\xfe\xff\0h\0i", 6, "hi"},
	        {"charset=utf-16", "\xff\xfeh\0i", 5, "h\uFFFD"},
	        {"charset=utf-16be", "\0h\0i", 4, "hi"},
	        /* NUL bytes cannot live in a C string */
	        {NULL, "a\0b", 3, "a\uFFFDb"},
	        {"charset=utf-8", "", 0, ""},
	};
	for (size_t i = 0; i < N(cases); i++) {
		const struct charset_case *c = &cases[i];
		size_t blen = c->body_len ? c->body_len : strlen(c->body);
		size_t len;
		char *raw = text_message(c->charset, "8bit", c->body, blen, &len);
		struct msg_inspection in;
		msg_inspect((const uint8_t *)raw, len, &in);
		assert_well_formed(&in);
		assert_int_equal(in.text_part, 0);
		if (strcmp(in.text, c->want) != 0)
			fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, c->charset ? c->charset : "no charset",
			         in.text, c->want);
		assert_int_equal(in.parts[0].size, blen);
		msg_inspection_free(&in);
		free(raw);
	}
}

/* --------------------------------------------------- transfer encodings */

static void test_transfer_encodings(void **state)
{
	(void)state;
	static const struct {
		const char *encoding, *body, *want_encoding, *want_text;
	} cases[] = {
	        {"base64", "SGVsbG8sIHdvcmxkIQ==\r\n", "base64", "Hello, world!"},
	        {"Base64", "SGVs\r\nbG8=\r\n", "base64", "Hello"},
	        {"quoted-printable", "soft =\r\nbreak =3D equals=20\r\nnext", "quoted-printable",
	         "soft break = equals \r\nnext"},
	        {"QUOTED-PRINTABLE (comment)", "a=3Db", "quoted-printable", "a=b"},
	        {"7bit", "plain", "7bit", "plain"},
	        {"binary", "bin\xc3\xa4r", "binary", "bin\u00e4r"},
	        {"x-uuencode", "begin 644 hi.txt\r\n#:&DA\r\n`\r\nend\r\n", "x-uuencode", "hi!"},
	        {"x-unknown", "as is", "x-unknown", "as is"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		size_t len;
		char *raw =
		        text_message("charset=utf-8", cases[i].encoding, cases[i].body, strlen(cases[i].body), &len);
		struct msg_inspection in;
		msg_inspect((const uint8_t *)raw, len, &in);
		assert_well_formed(&in);
		assert_int_equal(in.nparts, 1);
		assert_str(in.parts[0].transfer_encoding, cases[i].want_encoding);
		if (in.text == NULL || strcmp(in.text, cases[i].want_text) != 0)
			fail_msg("case %zu (%s): got \"%s\"", i, cases[i].encoding, in.text ? in.text : "(null)");
		assert_int_equal(in.parts[0].size, strlen(cases[i].want_text));
		msg_inspection_free(&in);
		free(raw);
	}
}

/* ------------------------------------------------ bodies and attachments */

static void test_body_choice(void **state)
{
	(void)state;
	struct msg_inspection in;

	/* An HTML attachment comes first; the body is the HTML after it. */
	inspect_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	            "--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=page.html\r\n\r\n"
	            "<p>attached</p>\r\n"
	            "--b\r\nContent-Type: text/html\r\n\r\n<p>body</p>\r\n"
	            "--b\r\nContent-Type: text/plain\r\n\r\nfirst text\r\n"
	            "--b\r\nContent-Type: text/plain\r\n\r\nsecond text\r\n--b--\r\n",
	            &in);
	assert_well_formed(&in);
	assert_int_equal(in.html_part, 2);
	assert_string_equal(in.html, "<p>body</p>");
	assert_int_equal(in.text_part, 3);
	assert_string_equal(in.text, "first text");
	/* the attached page is an attachment; the second text is neither */
	assert_int_equal(in.nattachments, 1);
	assert_int_equal(in.attachments[0].part, 1);
	assert_string_equal(in.attachments[0].filename, "page.html");
	assert_string_equal(in.attachments[0].content_type, "text/html");
	msg_inspection_free(&in);

	/* Only a text attachment: no text body. */
	inspect_str("Content-Type: text/plain\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nnotes\r\n",
	            &in);
	assert_well_formed(&in);
	assert_int_equal(in.text_part, -1);
	assert_null(in.text);
	assert_int_equal(in.nattachments, 1);
	assert_int_equal(in.attachments[0].part, 0);
	assert_int_equal(in.attachments[0].size, 7);
	msg_inspection_free(&in);

	/* A text part with a filename but no disposition is still the body (first found). */
	inspect_str("Content-Type: text/plain; name=readme.txt\r\n\r\nread me\r\n", &in);
	assert_int_equal(in.text_part, 0);
	assert_string_equal(in.text, "read me\r\n");
	assert_int_equal(in.nattachments, 0);
	msg_inspection_free(&in);

	/* Inline text with a Content-ID and a text/calendar without filename. */
	inspect_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	            "--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
	            "--b\r\nContent-Type: text/plain\r\nContent-ID: <note@x>\r\n\r\nnote\r\n"
	            "--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n"
	            "--b\r\nContent-Type: application/ics; name=invite.ics\r\n\r\nBEGIN:VCALENDAR\r\n--b--\r\n",
	            &in);
	assert_well_formed(&in);
	assert_int_equal(in.text_part, 1);
	assert_int_equal(in.nattachments, 2);
	assert_int_equal(in.attachments[0].part, 2);
	assert_string_equal(in.attachments[0].content_id, "note@x");
	assert_int_equal(in.attachments[0].is_inline, 0);
	assert_int_equal(in.attachments[1].part, 4);
	assert_string_equal(in.attachments[1].filename, "invite.ics");
	msg_inspection_free(&in);

	/* The whole message is an attached message: no bodies of its own. */
	inspect_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n",
	            &in);
	assert_well_formed(&in);
	assert_int_equal(in.nparts, 2);
	assert_int_equal(in.parts[0].is_message, 1);
	assert_int_equal(in.parts[1].parent, 0);
	assert_string_equal(in.parts[1].content_type, "text/html");
	assert_int_equal(in.text_part, -1);
	assert_int_equal(in.html_part, -1);
	assert_int_equal(in.nattachments, 0);
	msg_inspection_free(&in);

	/* A type we do not know in Content-Disposition is an attachment (RFC 2183 2.8). */
	inspect_str("Content-Type: text/plain\r\nContent-Disposition: X-Weird\r\n\r\nx\r\n", &in);
	assert_string_equal(in.parts[0].disposition, "attachment");
	assert_int_equal(in.text_part, -1);
	assert_int_equal(in.nattachments, 1);
	msg_inspection_free(&in);
}

static void test_cid_references(void **state)
{
	(void)state;
	struct msg_inspection in;
	inspect_str(
	        "Content-Type: multipart/related; boundary=b\r\n\r\n"
	        "--b\r\nContent-Type: text/html\r\n\r\n"
	        "<img src=\"CID:Logo@X\"><img srcset='cid:a%2Bb@x 2x, cid:other@x'>"
	        "<div style=\"background: url(cid:bg@x)\"></div>cid:\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n\r\n1\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-ID: <a+b@x>\r\n\r\n2\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-ID: <bg@x>\r\nContent-Disposition: attachment\r\n\r\n3\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-ID: <logo@x.other>\r\n\r\n4\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n\r\n5\r\n"
	        "--b\r\nContent-Type: image/png\r\nContent-ID: <other>\r\n\r\n6\r\n--b--\r\n",
	        &in);
	assert_well_formed(&in);
	assert_int_equal(in.nattachments, 6);
	assert_int_equal(in.attachments[0].is_inline, 1); /* referenced in another case */
	assert_int_equal(in.attachments[1].is_inline, 1); /* referenced %-encoded */
	assert_int_equal(in.attachments[2].is_inline, 1); /* referenced, though its disposition is attachment */
	assert_int_equal(in.attachments[3].is_inline, 0); /* a longer id is not a reference */
	assert_int_equal(in.attachments[4].is_inline, 1); /* disposition inline */
	assert_int_equal(in.attachments[5].is_inline, 0); /* "other" != "other@x" */
	msg_inspection_free(&in);

	/* cid: in the text body does not count, only in the HTML. */
	inspect_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	            "--b\r\nContent-Type: text/plain\r\n\r\nsee cid:img@x\r\n"
	            "--b\r\nContent-Type: image/png\r\nContent-ID: <img@x>\r\n\r\n1\r\n--b--\r\n",
	            &in);
	assert_int_equal(in.nattachments, 1);
	assert_int_equal(in.attachments[0].is_inline, 0);
	msg_inspection_free(&in);
}

/* ---------------------------------------------------------------- limits */

static void test_depth_limit(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "Subject: deep\r\n");
	for (int i = 0; i < 60; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_append_str(&b, "Content-Type: text/plain\r\n\r\ndeep down\r\n");
	struct msg_inspection in;
	msg_inspect(b.data, b.len, &in);
	assert_well_formed(&in);
	assert_int_equal(in.nparts, MSG_INSPECT_MAX_DEPTH + 1);
	assert_int_equal(in.parts[MSG_INSPECT_MAX_DEPTH].depth, MSG_INSPECT_MAX_DEPTH);
	assert_int_equal(in.text_part, -1); /* the text was below the limit */
	msg_inspection_free(&in);
	buf_free(&b);

	/* Messages inside messages. */
	buf_init(&b);
	buf_append_str(&b, "Subject: outer\r\n");
	for (int i = 0; i < 5; i++)
		buf_printf(&b, "Content-Type: message/rfc822\r\n\r\nSubject: level %d\r\n", i + 1);
	buf_append_str(&b, "Content-Type: image/gif\r\n\r\nGIF89a\r\n");
	msg_inspect(b.data, b.len, &in);
	assert_well_formed(&in);
	assert_int_equal(in.nparts, 6);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(in.parts[i].is_message, 1);
		assert_int_equal(in.parts[i].depth, i);
	}
	assert_string_equal(in.parts[5].content_type, "image/gif");
	assert_int_equal(in.nattachments, 1);
	assert_int_equal(in.attachments[0].part, 5);
	msg_inspection_free(&in);
	buf_free(&b);
}

static void test_parts_limit(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, "Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (int i = 0; i < 1500; i++)
		buf_printf(&b, "--b\r\nContent-Type: image/png\r\n\r\n%d\r\n", i);
	buf_append_str(&b, "--b--\r\n");
	struct msg_inspection in;
	msg_inspect(b.data, b.len, &in);
	assert_well_formed(&in);
	assert_int_equal(in.nparts, MSG_INSPECT_MAX_PARTS);
	assert_int_equal(in.nattachments, MSG_INSPECT_MAX_PARTS - 1);
	assert_int_equal(in.attachments[998].size, 3); /* "998" */
	uint8_t *data;
	size_t n;
	assert_int_equal(msg_attachment_content(b.data, b.len, 998, &data, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(data, "998", 3);
	free(data);
	assert_int_equal(msg_attachment_content(b.data, b.len, 999, &data, &n), -1);
	msg_inspection_free(&in);
	buf_free(&b);
}

static void test_headers_limit(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < MSG_INSPECT_MAX_HEADERS + 5; i++)
		buf_printf(&b, "X-H%d: %d\r\n", i, i);
	buf_append_str(&b, "\r\nbody\r\n");
	struct msg_inspection in;
	msg_inspect(b.data, b.len, &in);
	assert_int_equal(in.nheaders, MSG_INSPECT_MAX_HEADERS);
	assert_string_equal(in.headers[MSG_INSPECT_MAX_HEADERS - 1].name, "X-H9999");
	assert_string_equal(in.text, "body\r\n");
	msg_inspection_free(&in);
	buf_free(&b);
}

/* ------------------------------------------------------------ odd input */

static void test_header_oddities(void **state)
{
	(void)state;
	static const char raw[] = " continuation before any field\r\n"
	                          "Subject : spaced colon\r\n"
	                          "not a field at all\r\n"
	                          " continuation of the non-field\r\n"
	                          "X-Empty:\r\n"
	                          "X-Nul: a\0b\r\n"
	                          "X-Utf8: r\xc3\xa9sum\xc3\xa9\r\n"
	                          "X-Bad: \xff\xfe\r\n"
	                          "X-Words: =?utf-8?q?a?= =?utf-8?q?b?= c =?bogus?q?d?=\r\n"
	                          "List-Unsubscribe: =?utf-8?q?<mailto:u@x>?=\r\n"
	                          "In-Reply-To: no brackets here\r\n"
	                          "\r\n"
	                          "X-Not: a header, the body\r\n";
	struct msg_inspection in;
	msg_inspect((const uint8_t *)raw, sizeof raw - 1, &in);
	assert_well_formed(&in);
	assert_int_equal(in.nheaders, 8);
	assert_string_equal(in.headers[0].name, "Subject");
	assert_string_equal(in.headers[0].raw, "spaced colon");
	assert_string_equal(in.headers[1].name, "X-Empty");
	assert_string_equal(in.headers[1].raw, "");
	assert_string_equal(in.headers[1].decoded, "");
	assert_string_equal(in.headers[2].raw, "a\uFFFDb");
	assert_string_equal(in.headers[2].decoded, "a b");
	assert_string_equal(in.headers[3].raw, "r\u00e9sum\u00e9");
	assert_string_equal(in.headers[3].decoded, "r\u00e9sum\u00e9");
	assert_string_equal(in.headers[4].raw, "\uFFFD\uFFFD");
	/* adjacent encoded words join; GMime reads a word in an unknown charset as ASCII/UTF-8 */
	assert_string_equal(in.headers[5].decoded, "ab c d");
	assert_string_equal(in.list_unsubscribe, "<mailto:u@x>");
	assert_string_equal(in.in_reply_to, "no brackets here");
	assert_string_equal(in.summary.subject, "spaced colon");
	msg_inspection_free(&in);
}

static void test_empty_and_garbage(void **state)
{
	(void)state;
	static const char *const inputs[] = {
	        "",
	        "\r\n",
	        "\r\n\r\n",
	        "garbage without a colon\r\n\r\nbody\r\n",
	        "\xff\xfe\xfd",
	        "Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",
	        "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\n----\r\n",
	        "Content-Type: message/rfc822\r\n\r\n",
	        "Content-Type: /\r\nContent-Disposition: ;;;\r\nContent-ID: <>\r\n\r\n",
	        "Content-Type: text/plain; charset=\r\nContent-Transfer-Encoding:\r\n\r\nx",
	};
	for (size_t i = 0; i < N(inputs); i++) {
		struct msg_inspection in;
		inspect_str(inputs[i], &in);
		assert_well_formed(&in);
		msg_inspection_free(&in);
		msg_inspection_free(&in); /* freeing twice is harmless */
	}
	struct msg_inspection in;
	msg_inspect(NULL, 0, &in);
	assert_int_equal(in.nheaders, 0);
	assert_int_equal(in.nparts, 0);
	assert_int_equal(in.text_part, -1);
	assert_int_equal(in.html_part, -1);
	assert_int_equal(in.summary.date_ms, INT64_MIN);
	msg_inspection_free(&in);
	msg_inspection_free(NULL);
	uint8_t *data;
	size_t n;
	assert_int_equal(msg_attachment_content(NULL, 0, 0, &data, &n), -1);

	/* Content-ID without brackets, empty charset and encoding. */
	inspect_str("Content-Type: image/png; charset=\r\nContent-ID: bare@id\r\nContent-Transfer-Encoding:\r\n\r\nx",
	            &in);
	assert_null(in.parts[0].charset);
	assert_null(in.parts[0].transfer_encoding);
	assert_string_equal(in.parts[0].content_id, "bare@id");
	msg_inspection_free(&in);
}

/* Bytes after the end of the message are never read: the input is not NUL-terminated. */
static void test_exact_length(void **state)
{
	(void)state;
	static const char msg[] = "Subject: cut\r\nContent-Type: text/plain\r\n\r\nhello world";
	size_t len = sizeof msg - 1 - 6; /* "hello" */
	uint8_t *copy = xmemdup(msg, len);
	struct msg_inspection in;
	msg_inspect(copy, len, &in);
	assert_string_equal(in.text, "hello");
	msg_inspection_free(&in);
	free(copy);
}

int main(void)
{
	msg_init();
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_order_confirmation), cmocka_unit_test(test_nested_related),
	        cmocka_unit_test(test_filenames),          cmocka_unit_test(test_latin1_text),
	        cmocka_unit_test(test_html_only),          cmocka_unit_test(test_huge_folded_field),
	        cmocka_unit_test(test_shift_jis),          cmocka_unit_test(test_utf16),
	        cmocka_unit_test(test_text_only),          cmocka_unit_test(test_no_body),
	        cmocka_unit_test(test_forwarded),          cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_charsets),           cmocka_unit_test(test_transfer_encodings),
	        cmocka_unit_test(test_body_choice),        cmocka_unit_test(test_cid_references),
	        cmocka_unit_test(test_depth_limit),        cmocka_unit_test(test_parts_limit),
	        cmocka_unit_test(test_headers_limit),      cmocka_unit_test(test_header_oddities),
	        cmocka_unit_test(test_empty_and_garbage),  cmocka_unit_test(test_exact_length),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_shutdown();
	return rc;
}
