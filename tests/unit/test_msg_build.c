/*
 * Unit tests for msg_build: every message built is read back with the
 * project's own inspection (msg_inspect) and each field checked — headers,
 * RFC 2047 subject and names, the MIME structure for text, HTML, both and
 * attachments, RFC 2231 filenames, guessed types, attachment bytes (SHA-256
 * and content), CRLF line ends and the 998-octet line limit — and bad input
 * is refused with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg/msg_build.h"
#include "msg/msg_inspect.h"
#include "msg/msg_summary.h"

static const char *const TO[] = {"Bob <bob@example.org>", "José Ñandú <jose@example.org>"};

static struct msg_build_input base_input(void)
{
	struct msg_build_input in = {
	        .from = "Ålice Example <alice@example.com>",
	        .to = TO,
	        .nto = 2,
	        .subject = "Grüße from mailscope ✓",
	        .date_ms = 1700000000123,
	        .nonce = 0x1234abcd,
	};
	return in;
}

/* Every line ends with CRLF, none is longer than 998 octets, nothing outside 7-bit ASCII. */
static void check_wire_form(const struct buf *b)
{
	size_t line = 0;
	assert_true(b->len >= 2);
	assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
	for (size_t i = 0; i < b->len; i++) {
		uint8_t c = b->data[i];
		assert_true(c < 0x80);
		if (c == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r');
			assert_true(line <= 999); /* 998 + the CR */
			line = 0;
		} else {
			line++;
		}
	}
}

static void build(const struct msg_build_input *in, struct buf *b, struct msg_inspection *out)
{
	char err[300];
	buf_init(b);
	if (msg_build(in, b, err, sizeof err) != 0)
		fail_msg("msg_build: %s", err);
	check_wire_form(b);
	msg_inspect(b->data, b->len, out);
}

static const char *header(const struct msg_inspection *in, const char *name)
{
	for (size_t i = 0; i < in->nheaders; i++)
		if (strcasecmp(in->headers[i].name, name) == 0)
			return in->headers[i].decoded;
	return NULL;
}

static void test_text_only(void **state)
{
	struct msg_build_input in = base_input();
	struct buf b;
	struct msg_inspection m;
	in.text = "Hello Bob,\nline two\n.starts with a dot\n";
	build(&in, &b, &m);
	assert_string_equal(m.summary.subject, "Grüße from mailscope ✓");
	assert_int_equal(m.summary.nfrom, 1);
	assert_string_equal(m.summary.from[0].name, "Ålice Example");
	assert_string_equal(m.summary.from[0].address, "alice@example.com");
	assert_int_equal(m.summary.nto, 2);
	assert_string_equal(m.summary.to[0].address, "bob@example.org");
	assert_string_equal(m.summary.to[1].name, "José Ñandú");
	assert_string_equal(m.summary.to[1].address, "jose@example.org");
	assert_string_equal(m.summary.message_id, "18bcfe5687b.000000001234abcd@example.com");
	assert_int_equal(m.summary.date_ms, 1700000000000);
	assert_string_equal(header(&m, "MIME-Version"), "1.0");
	assert_int_equal(m.nparts, 1);
	assert_string_equal(m.parts[0].content_type, "text/plain");
	assert_string_equal(m.text, "Hello Bob,\r\nline two\r\n.starts with a dot\r\n");
	assert_null(m.html);
	assert_int_equal(m.nattachments, 0);
	/* The subject went out as encoded words, not raw UTF-8. */
	assert_non_null(strstr(buf_cstr(&b), "Subject: =?"));
	msg_inspection_free(&m);
	buf_free(&b);
}

static void test_html_only_and_alternative(void **state)
{
	struct msg_build_input in = base_input();
	struct buf b;
	struct msg_inspection m;
	in.html = "<p>Héllo <b>Bob</b></p>";
	build(&in, &b, &m);
	assert_int_equal(m.nparts, 1);
	assert_string_equal(m.parts[0].content_type, "text/html");
	assert_string_equal(m.parts[0].charset, "utf-8");
	assert_string_equal(m.html, "<p>Héllo <b>Bob</b></p>");
	msg_inspection_free(&m);
	buf_free(&b);

	in.text = "Hello Bob";
	build(&in, &b, &m);
	assert_int_equal(m.nparts, 3);
	assert_string_equal(m.parts[0].content_type, "multipart/alternative");
	assert_string_equal(m.parts[1].content_type, "text/plain");
	assert_string_equal(m.parts[2].content_type, "text/html");
	assert_string_equal(m.text, "Hello Bob");
	assert_string_equal(m.html, "<p>Héllo <b>Bob</b></p>");
	msg_inspection_free(&m);
	buf_free(&b);
}

static void test_attachments(void **state)
{
	static const uint8_t bin[] = {0x00, 0xff, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a, 0x80, 'x'};
	struct msg_build_attachment att[] = {
	        {"résumé final — versión 2.pdf", NULL, bin, sizeof bin},
	        {"notes.TXT", NULL, (const uint8_t *)"plain\n", 6},
	        {"data.unknownext", NULL, bin, 3},
	        {"given.bin", "image/x-custom", bin, 1},
	};
	struct msg_build_input in = base_input();
	struct buf b;
	struct msg_inspection m;
	in.text = "see attached";
	in.html = "<p>see attached</p>";
	in.attachments = att;
	in.nattachments = 4;
	build(&in, &b, &m);
	assert_string_equal(m.parts[0].content_type, "multipart/mixed");
	assert_string_equal(m.parts[1].content_type, "multipart/alternative");
	assert_string_equal(m.text, "see attached");
	assert_string_equal(m.html, "<p>see attached</p>");
	assert_int_equal(m.nattachments, 4);
	assert_string_equal(m.attachments[0].filename, "résumé final — versión 2.pdf");
	assert_string_equal(m.attachments[0].content_type, "application/pdf");
	assert_int_equal(m.attachments[0].size, sizeof bin);
	assert_false(m.attachments[0].is_inline);
	assert_string_equal(m.attachments[1].content_type, "text/plain");
	assert_string_equal(m.attachments[2].content_type, "application/octet-stream");
	assert_string_equal(m.attachments[3].content_type, "image/x-custom");
	/* RFC 2231 for the name outside ASCII. */
	assert_non_null(strstr(buf_cstr(&b), "filename*="));
	for (int i = 0; i < 4; i++) {
		uint8_t *data;
		size_t len;
		assert_int_equal(msg_attachment_content(b.data, b.len, i, &data, &len), 0);
		assert_int_equal(len, att[i].len);
		assert_memory_equal(data, att[i].data, len);
		free(data);
	}
	msg_inspection_free(&m);
	buf_free(&b);
}

/* Bodies come back byte for byte in every encoding: 7bit, quoted-printable (with and without a final line break). */
static void test_bodies_exact(void **state)
{
	static const char *const bodies[] = {"plain ascii",
	                                     "plain ascii\n",
	                                     "accentué\n",
	                                     "accentué",
	                                     "A long English sentence with one accentué word in it\nand more\n",
	                                     "ünïcödé ✓ ☀ 日本語",
	                                     "line\n\nwith blank\n",
	                                     "trailing space \n",
	                                     ""};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct msg_build_input in = base_input();
		struct buf b;
		struct msg_inspection m;
		char want[200];
		in.text = bodies[i];
		in.html = bodies[i];
		build(&in, &b, &m);
		/* Line ends come back as CRLF. */
		size_t n = 0;
		for (const char *p = bodies[i]; *p; p++) {
			if (*p == '\n')
				want[n++] = '\r';
			want[n++] = *p;
		}
		want[n] = '\0';
		assert_string_equal(m.html != NULL ? m.html : "", want);
		/* The bodies go out as UTF-8, never converted to a legacy charset (é would be =E9). */
		assert_null(strstr(buf_cstr(&b), "charset=iso-8859"));
		assert_null(strstr(buf_cstr(&b), "=E9"));
		msg_inspection_free(&m);
		buf_free(&b);
	}
}

static void test_long_lines_and_no_body(void **state)
{
	struct msg_build_input in = base_input();
	struct buf b;
	struct msg_inspection m;
	char *text = malloc(5001);
	memset(text, 'x', 5000);
	text[5000] = '\0';
	in.text = text;
	build(&in, &b, &m); /* check_wire_form: no line over 998 */
	assert_string_equal(m.text, text);
	msg_inspection_free(&m);
	buf_free(&b);
	free(text);

	in.text = NULL;
	in.subject = NULL;
	build(&in, &b, &m);
	assert_null(m.summary.subject);
	assert_string_equal(m.parts[0].content_type, "text/plain");
	msg_inspection_free(&m);
	buf_free(&b);
}

static void test_extra_headers(void **state)
{
	const char *hdrs[] = {"X-Campaign: spring ☀", "Reply-To: help@example.com", "Subject: replaced",
	                      "X-Campaign: second"};
	struct msg_build_input in = base_input();
	struct buf b;
	struct msg_inspection m;
	in.text = "x";
	in.headers = hdrs;
	in.nheaders = 4;
	build(&in, &b, &m);
	assert_string_equal(m.summary.subject, "replaced");
	assert_int_equal(m.nreply_to, 1);
	assert_string_equal(m.reply_to[0].address, "help@example.com");
	int campaigns = 0;
	for (size_t i = 0; i < m.nheaders; i++)
		if (strcasecmp(m.headers[i].name, "X-Campaign") == 0)
			campaigns++;
	assert_int_equal(campaigns, 2);
	assert_string_equal(header(&m, "X-Campaign"), "spring ☀");
	msg_inspection_free(&m);
	buf_free(&b);
}

static void expect_error(struct msg_build_input in, const char *want)
{
	struct buf b;
	char err[300] = "";
	buf_init(&b);
	assert_int_equal(msg_build(&in, &b, err, sizeof err), -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, want);
	buf_free(&b);
}

static void test_bad_input(void **state)
{
	struct msg_build_input in = base_input();
	in.text = "x";
	in.from = "not an address";
	expect_error(in, "not an address");
	in = base_input();
	in.from = "a@b.example\r\nBcc: evil@example.com";
	expect_error(in, "line break");
	in = base_input();
	in.subject = "hi\r\nBcc: evil@example.com";
	expect_error(in, "line break");
	in = base_input();
	in.subject = "\xff\xfe";
	expect_error(in, "UTF-8");
	const char *h1[] = {"Content-Type: text/html"};
	in = base_input();
	in.headers = h1;
	in.nheaders = 1;
	expect_error(in, "Content-");
	const char *h2[] = {"No colon here"};
	in.headers = h2;
	expect_error(in, "Name: value");
	const char *h3[] = {"X-A: b\r\nBcc: c"};
	in.headers = h3;
	expect_error(in, "line break");
	const char *h4[] = {"Bad Name: v"};
	in.headers = h4;
	expect_error(in, "printable ASCII");
	struct msg_build_attachment att = {"x.bin", "nonsense", (const uint8_t *)"a", 1};
	in = base_input();
	in.attachments = &att;
	in.nattachments = 1;
	expect_error(in, "content type");
}

static void test_address_and_types(void **state)
{
	char a[300], err[300];
	assert_int_equal(msg_build_address("Alice <alice@example.com>", a, sizeof a, err, sizeof err), 0);
	assert_string_equal(a, "alice@example.com");
	assert_int_equal(msg_build_address("bob@example.org", a, sizeof a, err, sizeof err), 0);
	assert_string_equal(a, "bob@example.org");
	assert_int_equal(msg_build_address("\"Doe, John\" <john@example.net>", a, sizeof a, err, sizeof err), 0);
	assert_string_equal(a, "john@example.net");
	assert_int_equal(msg_build_address("a@b.example, c@d.example", a, sizeof a, err, sizeof err), -1);
	assert_int_equal(msg_build_address("", a, sizeof a, err, sizeof err), -1);
	assert_int_equal(msg_build_address("nobody", a, sizeof a, err, sizeof err), -1);
	assert_int_equal(msg_build_address("<x@y.example>\n", a, sizeof a, err, sizeof err), -1);
	assert_string_equal(msg_build_guess_type("a.PNG"), "image/png");
	assert_string_equal(msg_build_guess_type("archive.tar.gz"), "application/gzip");
	assert_string_equal(msg_build_guess_type("noext"), "application/octet-stream");
	assert_string_equal(msg_build_guess_type("trailing."), "application/octet-stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_text_only),
	        cmocka_unit_test(test_html_only_and_alternative),
	        cmocka_unit_test(test_attachments),
	        cmocka_unit_test(test_bodies_exact),
	        cmocka_unit_test(test_long_lines_and_no_body),
	        cmocka_unit_test(test_extra_headers),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_address_and_types),
	};
	msg_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	msg_shutdown();
	return rc;
}
