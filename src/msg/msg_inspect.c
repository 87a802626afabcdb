/*
 * msg_inspect: one message taken apart for tests: headers, MIME tree,
 * best text and HTML bodies in UTF-8, attachments with their SHA-256.
 * See msg_inspect.h.
 *
 * How it works:
 *   - Header fields are split here, by the same rules as msg_summary.c (the
 *     block ends at the first empty line; continuation lines join the field
 *     before them; lines that are not fields are skipped), because GMime
 *     files Content-* fields under the MIME part rather than the message
 *     and we want every field in its order. Decoded values go through
 *     GMime's RFC 2047 decoder. Reply-To, Bcc and In-Reply-To are handed to
 *     msg_summary_parse() as To, Cc and Message-ID fields of a small header
 *     block of our own, so their addresses and ids are parsed exactly as
 *     the summary's (with its GMime work-arounds).
 *   - The MIME tree is GMime's (g_mime_parser over the bytes), walked depth
 *     first: the top-level part is index 0, the part of an attached
 *     message/rfc822 is a child of that part. Parts past
 *     MSG_INSPECT_MAX_PARTS or deeper than MSG_INSPECT_MAX_DEPTH are left
 *     out. (GMime 3.2.13 itself stops nesting at 1024 multiparts and 512
 *     messages, so its recursion cannot exhaust the stack.)
 *   - Bodies: text/plain (html: text/html) leaf parts that are not
 *     "Content-Disposition: attachment" and not inside an attached message;
 *     the first one inside a multipart/alternative wins, else the first.
 *   - Attachments: every other leaf part with disposition attachment, a
 *     filename, a Content-ID, or a type other than text/... Only the
 *     tree's shape decides this, so msg_attachment_content() can number
 *     them again without decoding anything else.
 *   - Content is decoded from its transfer encoding by GMime's data
 *     wrapper (each leaf once; its size, and the hash of attachments, come
 *     from those bytes).
 *
 * Charsets (msg_inspect_to_utf8): a byte order mark decides first (UTF-8,
 * UTF-16LE/BE), as browsers do. No charset, or a US-ASCII/UTF-8 label:
 * UTF-8 if the bytes are valid UTF-8, else Windows-1252. Any other label
 * is converted with iconv through GMime (g_mime_iconv_open knows the
 * aliases), reading a few labels as the superset senders mean by them
 * (ISO-8859-1 -> Windows-1252, GB2312 -> GB18030, Shift_JIS -> CP932,
 * EUC-KR -> CP949; WHATWG Encoding does the same). A label iconv does not
 * know, or bytes that are invalid in it, means the label is wrong: UTF-8
 * if valid, else Windows-1252. The one exception: bytes labelled as Latin-1
 * that are valid UTF-8 with 8-bit characters are UTF-8 (a common mislabel;
 * real Latin-1 text is almost never valid UTF-8). GMime's charset filter
 * is not used because it drops invalid bytes silently, which would hide a
 * wrong label. NUL bytes become U+FFFD so the text survives as a C string.
 *
 * GMime 3.2.13 defects: adjacent padded base64 encoded words decode cut
 * short (GMime issue #133), in header values as msg_summary.c found and
 * also in parameters (an Outlook filename split over several B words), so
 * such values are rewritten as Q words before GMime decodes them
 * (msg_rfc2047.h); the address parser's leak is avoided by leaving
 * addresses to msg_summary_parse().
 *
 * Header values: raw keeps the bytes after the colon (leading blanks and
 * the final line ending dropped, folding kept), with NUL as U+FFFD and
 * invalid UTF-8 repaired; decoded is unfolded, trimmed, NUL as space (as
 * msg_summary.c reads values), then RFC 2047 decoded.
 *
 * Promises: never fails, never reads past len, every string valid UTF-8.
 * Thread-safe once msg_init() has run.
 */
#include "msg/msg_inspect.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "msg/msg_rfc2047.h"

/* As msg_summary.c: the header block is cut here whatever the input. */
#define MSG_INSPECT_HEADER_BLOCK_MAX (1024 * 1024)
/*
 * What of one top-level header field GMime is given (msg_inspect_gmime_copy()).
 * GMime grows a field by reallocating it for every folded line, so a 1 MB
 * field of 15,000 lines costs quadratic copying wherever realloc cannot
 * grow in place (23 s under ASan for one message, on the event loop). The
 * header listing is ours (msg_inspect_headers(), whole fields); GMime only
 * needs the fields that shape the MIME tree, which are never this long.
 */
#define MSG_INSPECT_GMIME_FIELD_MAX (64 * 1024)
/* Longer than any charset name iconv knows. */
#define MSG_INSPECT_CHARSET_MAX 64
/* A cid: reference longer than this is not a Content-ID we could have. */
#define MSG_INSPECT_CID_MAX 998

static const char msg_inspect_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---------------------------------------------------------------- strings */

/* An xmalloc'ed valid UTF-8 copy of s[0..n), or NULL for NULL. */
static char *msg_inspect_utf8n(const char *s, size_t n)
{
	return s != NULL ? utf8_copy_valid(s, n) : NULL;
}

static char *msg_inspect_utf8(const char *s)
{
	return s != NULL ? msg_inspect_utf8n(s, strlen(s)) : NULL;
}

/* Takes a g_malloc'ed string: its valid UTF-8 copy, or NULL. */
static char *msg_inspect_from_glib(char *s)
{
	char *copy = msg_inspect_utf8(s);
	g_free(s);
	return copy;
}

/* A valid UTF-8, ASCII-lower-cased, trimmed copy; NULL for NULL or empty. */
static char *msg_inspect_lower(const char *s)
{
	if (s == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n == 0)
		return NULL;
	char *copy = msg_inspect_utf8n(s, n);
	for (char *p = copy; *p; p++)
		*p = g_ascii_tolower(*p);
	return copy;
}

/* RFC 2047 decoding of unstructured text (GMime, with the #133 work-around); valid UTF-8. */
static char *msg_inspect_decode_text(const char *value)
{
	char *fixed = msg_rfc2047_b_runs_to_q(value);
	char *decoded = msg_inspect_from_glib(g_mime_utils_header_decode_text(NULL, fixed ? fixed : value));
	free(fixed);
	return decoded;
}

/* ---------------------------------------------------------------- headers */

/* One field of the header block, pointing into the message. */
struct msg_inspect_field {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *value; /* just after the colon, to the end of the field's last line */
	size_t value_len;
};

/* As msg_summary.c: the header block ends at the first empty line, capped. */
static size_t msg_inspect_header_len(const uint8_t *raw, size_t len)
{
	size_t limit = len < MSG_INSPECT_HEADER_BLOCK_MAX ? len : MSG_INSPECT_HEADER_BLOCK_MAX;
	size_t pos = 0;
	while (pos < limit) {
		if (raw[pos] == '\n')
			return pos;
		if (raw[pos] == '\r' && pos + 1 < len && raw[pos + 1] == '\n')
			return pos;
		const uint8_t *nl = memchr(raw + pos, '\n', limit - pos);
		if (nl == NULL)
			return limit;
		pos = (size_t)(nl - raw) + 1;
	}
	return limit;
}

/* Length of the field name at the start of a line, 0 when the line is not a field; *value_at after the colon. */
static size_t msg_inspect_field_name(const uint8_t *line, size_t len, size_t *value_at)
{
	size_t i = 0;
	while (i < len && line[i] > 32 && line[i] < 127 && line[i] != ':')
		i++;
	size_t name_len = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (name_len == 0 || i == len || line[i] != ':')
		return 0;
	*value_at = i + 1;
	return name_len;
}

/* Splits the header block into fields (at most MSG_INSPECT_MAX_HEADERS); caller frees the array. */
static struct msg_inspect_field *msg_inspect_split(const uint8_t *raw, size_t len, size_t *count)
{
	struct msg_inspect_field *fields = NULL;
	size_t n = 0, cap = 0;
	int open = 0; /* the last field may still take continuation lines */
	size_t hlen = msg_inspect_header_len(raw, len);
	size_t pos = 0;
	while (pos < hlen) {
		const uint8_t *line = raw + pos;
		const uint8_t *nl = memchr(line, '\n', hlen - pos);
		size_t line_len = nl ? (size_t)(nl - line) + 1 : hlen - pos;
		pos += line_len;
		if (line[0] == ' ' || line[0] == '\t') {
			if (open)
				fields[n - 1].value_len = (size_t)(line + line_len - fields[n - 1].value);
			continue;
		}
		size_t value_at = 0;
		size_t name_len = msg_inspect_field_name(line, line_len, &value_at);
		open = name_len > 0 && n < MSG_INSPECT_MAX_HEADERS;
		if (!open)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			fields = xrealloc(fields, cap * sizeof *fields);
		}
		fields[n++] = (struct msg_inspect_field){line, name_len, line + value_at, line_len - value_at};
	}
	*count = n;
	return fields;
}

/*
 * The raw value: leading blanks and the final line ending dropped, folding
 * kept; NUL bytes become U+FFFD, invalid UTF-8 is repaired.
 */
static char *msg_inspect_raw_value(const struct msg_inspect_field *f)
{
	const uint8_t *v = f->value;
	size_t n = f->value_len;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[n - 1] == '\r')
		n--;
	if (memchr(v, '\0', n) == NULL)
		return msg_inspect_utf8n((const char *)v, n);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\0')
			buf_append_str(&b, msg_inspect_replacement);
		else
			buf_append_byte(&b, v[i]);
	}
	char *copy = msg_inspect_utf8n((const char *)b.data, b.len);
	buf_free(&b);
	return copy;
}

/* The unfolded value (line endings dropped, NUL as space, trimmed), as msg_summary.c reads it. */
static void msg_inspect_unfold(const struct msg_inspect_field *f, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < f->value_len; i++) {
		uint8_t c = f->value[i];
		if (c == '\r' || c == '\n')
			continue;
		if (out->len == 0 && (c == ' ' || c == '\t'))
			continue;
		buf_append_byte(out, c == '\0' ? ' ' : c);
	}
	while (out->len > 0 && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
		out->len--;
	buf_cstr(out);
}

static int msg_inspect_field_is(const struct msg_inspect_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && g_ascii_strncasecmp((const char *)f->name, name, n) == 0;
}

/*
 * Headers in order, and the fields taken from them: Reply-To, Bcc and
 * In-Reply-To through msg_summary_parse() (see the file comment),
 * List-Unsubscribe as its decoded value.
 */
static void msg_inspect_headers(const uint8_t *raw, size_t len, struct msg_inspection *out)
{
	size_t n = 0;
	struct msg_inspect_field *fields = msg_inspect_split(raw, len, &n);
	out->headers = n > 0 ? xcalloc(n, sizeof *out->headers) : NULL;
	out->nheaders = n;

	struct buf value, extra;
	buf_init(&value);
	buf_init(&extra);
	int have_in_reply_to = 0;
	for (size_t i = 0; i < n; i++) {
		struct msg_header *h = &out->headers[i];
		h->name = xstrndup((const char *)fields[i].name, fields[i].name_len);
		h->raw = msg_inspect_raw_value(&fields[i]);
		msg_inspect_unfold(&fields[i], &value);
		h->decoded = msg_inspect_decode_text((const char *)value.data);

		const char *as = NULL;
		if (msg_inspect_field_is(&fields[i], "reply-to")) {
			as = "To: ";
		} else if (msg_inspect_field_is(&fields[i], "bcc")) {
			as = "Cc: ";
		} else if (msg_inspect_field_is(&fields[i], "in-reply-to") && !have_in_reply_to) {
			as = "Message-ID: ";
			have_in_reply_to = 1;
		} else if (msg_inspect_field_is(&fields[i], "list-unsubscribe") && out->list_unsubscribe == NULL) {
			out->list_unsubscribe = xstrdup(h->decoded);
		}
		if (as != NULL) {
			buf_append_str(&extra, as);
			buf_append(&extra, value.data, value.len);
			buf_append_str(&extra, "\r\n");
		}
	}
	if (extra.len > 0) {
		struct msg_summary s;
		msg_summary_parse(extra.data, extra.len, &s);
		out->reply_to = s.to;
		out->nreply_to = s.nto;
		out->bcc = s.cc;
		out->nbcc = s.ncc;
		out->in_reply_to = s.message_id;
		s.to = s.cc = NULL;
		s.nto = s.ncc = 0;
		s.message_id = NULL;
		msg_summary_free(&s);
	}
	buf_free(&value);
	buf_free(&extra);
	free(fields);
}

/* --------------------------------------------------------------- charsets */

/* Windows-1252 0x80-0x9F as WHATWG decodes them (the five holes map to C1 controls). */
static const uint16_t msg_inspect_cp1252[32] = {
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Windows-1252 to UTF-8: never fails, every byte is a character. */
static void msg_inspect_from_cp1252(const uint8_t *d, size_t n, struct buf *out)
{
	buf_reserve(out, n * 3 + 1); /* at most three bytes a character */
	uint8_t *o = out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		unsigned cp = d[i];
		if (cp >= 0x80 && cp < 0xA0)
			cp = msg_inspect_cp1252[cp - 0x80];
		if (cp < 0x80) {
			*o++ = (uint8_t)cp;
		} else if (cp < 0x800) {
			*o++ = (uint8_t)(0xC0 | cp >> 6);
			*o++ = (uint8_t)(0x80 | (cp & 0x3F));
		} else {
			*o++ = (uint8_t)(0xE0 | cp >> 12);
			*o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
			*o++ = (uint8_t)(0x80 | (cp & 0x3F));
		}
	}
	out->len = (size_t)(o - out->data);
}

/*
 * iconv from charset to UTF-8 through GMime (its name table and cache).
 * Returns 0, or -1 when iconv does not know the charset or the bytes are
 * invalid in it; a sequence cut short at the very end becomes U+FFFD.
 */
static int msg_inspect_iconv(const uint8_t *d, size_t n, const char *charset, struct buf *out)
{
	iconv_t cd = g_mime_iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	buf_reset(out);
	buf_reserve(out, n * 2 + 16);
	char *in = (char *)d;
	size_t inleft = n;
	int rc = 0;
	while (inleft > 0) {
		char *o = (char *)out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		out->len = (size_t)((uint8_t *)o - out->data);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG) {
			buf_reserve(out, inleft * 2 + 64);
		} else if (errno == EINVAL) {
			buf_append_str(out, msg_inspect_replacement);
			break;
		} else {
			rc = -1;
			break;
		}
	}
	if (rc == 0) {
		/* Shift states (ISO-2022-JP, UTF-7) end with a reset sequence. */
		buf_reserve(out, 16);
		char *o = (char *)out->data + out->len;
		size_t oleft = out->cap - out->len - 1;
		iconv(cd, NULL, NULL, &o, &oleft);
		out->len = (size_t)((uint8_t *)o - out->data);
	}
	g_mime_iconv_close(cd);
	return rc;
}

static int msg_inspect_charset_in(const char *cs, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(cs, names[i]) == 0)
			return 1;
	return 0;
}

static const char *const msg_inspect_utf8_labels[] = {
        "utf-8",     "utf8",    "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "unicode-1-1-utf-8",
        "x-unknown", "unknown", "default",  NULL,
};
static const char *const msg_inspect_latin1_labels[] = {
        "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1",         "windows-1252",
        "cp1252",     "x-cp1252",  "cp819",      "ibm819", "iso-ir-100", NULL,
};

/* The charset senders mean by a label (WHATWG Encoding's reading of these labels). */
static const char *msg_inspect_superset(const char *cs)
{
	static const struct {
		const char *label, *charset;
	} map[] = {
	        {"gb2312", "gb18030"},    {"gbk", "gb18030"},          {"x-gbk", "gb18030"},
	        {"euc-cn", "gb18030"},    {"shift_jis", "cp932"},      {"shift-jis", "cp932"},
	        {"sjis", "cp932"},        {"x-sjis", "cp932"},         {"ms_kanji", "cp932"},
	        {"euc-kr", "cp949"},      {"ks_c_5601-1987", "cp949"}, {"iso-8859-9", "windows-1254"},
	        {"iso-8859-11", "cp874"}, {"tis-620", "cp874"},        {"big5", "big5-hkscs"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(cs, map[i].label) == 0)
			return map[i].charset;
	return cs;
}

/*
 * Only plain charset names reach iconv: a label with "//" would be read by
 * glibc as conversion flags, and anything that is not a name is unknown.
 */
static int msg_inspect_charset_name_ok(const char *cs)
{
	size_t n = 0;
	for (; cs[n] != '\0'; n++)
		if (!g_ascii_isalnum(cs[n]) && !strchr("-_.:+()", cs[n]))
			return 0;
	return n > 0 && n <= MSG_INSPECT_CHARSET_MAX;
}

static int msg_inspect_has_8bit(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i] >= 0x80)
			return 1;
	return 0;
}

/* Decoded body bytes to a NUL-terminated valid UTF-8 string by the rules of the file comment. */
static char *msg_inspect_to_utf8(const uint8_t *d, size_t n, const char *charset)
{
	struct buf out;
	buf_init(&out);
	int done = 0;
	if (n >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) {
		d += 3; /* BOM: UTF-8 whatever the label says */
		n -= 3;
		charset = NULL;
	} else if (n >= 2 && ((d[0] == 0xFF && d[1] == 0xFE) || (d[0] == 0xFE && d[1] == 0xFF))) {
		done = msg_inspect_iconv(d + 2, n - 2, d[0] == 0xFF ? "UTF-16LE" : "UTF-16BE", &out) == 0;
	}
	if (!done && charset != NULL && !msg_inspect_charset_in(charset, msg_inspect_utf8_labels)) {
		if (msg_inspect_charset_in(charset, msg_inspect_latin1_labels)) {
			if (!msg_inspect_has_8bit(d, n) || !utf8_valid((const char *)d, n)) {
				msg_inspect_from_cp1252(d, n, &out);
				done = 1;
			}
		} else if (msg_inspect_charset_name_ok(charset)) {
			const char *super = msg_inspect_superset(charset);
			done = msg_inspect_iconv(d, n, super, &out) == 0 ||
			       (super != charset && msg_inspect_iconv(d, n, charset, &out) == 0);
		}
	}
	if (!done) {
		buf_reset(&out);
		if (utf8_valid((const char *)d, n))
			buf_append(&out, d, n);
		else
			msg_inspect_from_cp1252(d, n, &out);
	}

	/* A BOM that the conversion kept, NUL bytes, and anything still invalid. */
	buf_cstr(&out);
	if (out.len >= 3 && memcmp(out.data, "\xEF\xBB\xBF", 3) == 0) {
		memmove(out.data, out.data + 3, out.len - 3 + 1);
		out.len -= 3;
	}
	if (memchr(out.data, '\0', out.len) == NULL && utf8_valid((const char *)out.data, out.len))
		return (char *)buf_steal(&out, NULL); /* the usual case: no copy */
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < out.len; i++) {
		if (out.data[i] == '\0')
			buf_append_str(&b, msg_inspect_replacement);
		else
			buf_append_byte(&b, out.data[i]);
	}
	char *result = msg_inspect_utf8n((const char *)b.data, b.len);
	buf_free(&b);
	buf_free(&out);
	return result;
}

/* ------------------------------------------------------------- MIME tree */

/* What the walk knows about a part beyond struct msg_part. */
struct msg_inspect_node {
	GMimeObject *obj;   /* borrowed from the message */
	int in_alternative; /* below a multipart/alternative */
	int in_message;     /* below an attached message/rfc822 */
};

/* A parsed message and its walked tree; shared by msg_inspect and msg_attachment_content. */
struct msg_inspect_tree {
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *message;
	struct msg_part *parts;
	struct msg_inspect_node *nodes;
	size_t n, cap;
	int text_part, html_part;
	int *attachments; /* part indices */
	size_t nattachments;
};

/* Content-Transfer-Encoding's first token, lower-case, or NULL. */
static char *msg_inspect_encoding(GMimeObject *obj)
{
	const char *v = g_mime_object_get_header(obj, "Content-Transfer-Encoding");
	if (v == NULL)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strcspn(v, " \t\r\n;(");
	char *token = xstrndup(v, n);
	char *lower = msg_inspect_lower(token);
	free(token);
	return lower;
}

/* "inline", "attachment" (also for a type we do not know: RFC 2183 2.8) or NULL. */
static char *msg_inspect_disposition(GMimeObject *obj)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
	const char *v = d != NULL ? g_mime_content_disposition_get_disposition(d) : NULL;
	char *lower = msg_inspect_lower(v);
	if (lower == NULL)
		return NULL;
	int is_inline = strcmp(lower, "inline") == 0;
	free(lower);
	return xstrdup(is_inline ? "inline" : "attachment");
}

/*
 * Content-Disposition's filename, else Content-Type's name: GMime decodes
 * RFC 2231 (continuations, charset) and RFC 2047. When the raw field has B
 * words, it is parsed again after the #133 work-around.
 */
static char *msg_inspect_filename(GMimeObject *obj)
{
	int from_disposition = 1;
	const char *fn = g_mime_object_get_content_disposition_parameter(obj, "filename");
	if (fn == NULL || *fn == '\0') {
		from_disposition = 0;
		fn = g_mime_object_get_content_type_parameter(obj, "name");
	}
	if (fn == NULL || *fn == '\0')
		return NULL;

	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	GMimeHeader *h =
	        list ? g_mime_header_list_get_header(list, from_disposition ? "Content-Disposition" : "Content-Type")
	             : NULL;
	const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
	char *fixed = raw ? msg_rfc2047_b_runs_to_q(raw) : NULL;
	if (fixed == NULL)
		return msg_inspect_utf8(fn);
	char *result = NULL;
	if (from_disposition) {
		GMimeContentDisposition *d = g_mime_content_disposition_parse(NULL, fixed);
		const char *v = d ? g_mime_content_disposition_get_parameter(d, "filename") : NULL;
		result = msg_inspect_utf8(v != NULL && *v != '\0' ? v : fn);
		if (d)
			g_object_unref(d);
	} else {
		GMimeContentType *ct = g_mime_content_type_parse(NULL, fixed);
		const char *v = ct ? g_mime_content_type_get_parameter(ct, "name") : NULL;
		result = msg_inspect_utf8(v != NULL && *v != '\0' ? v : fn);
		if (ct)
			g_object_unref(ct);
	}
	free(fixed);
	return result;
}

static void msg_inspect_walk(struct msg_inspect_tree *t, GMimeObject *obj, int parent, int depth, int in_alt,
                             int in_msg)
{
	if (obj == NULL || depth > MSG_INSPECT_MAX_DEPTH || t->n >= MSG_INSPECT_MAX_PARTS)
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->parts = xrealloc(t->parts, t->cap * sizeof *t->parts);
		t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
	}
	int index = (int)t->n++;
	struct msg_part *p = &t->parts[index];
	memset(p, 0, sizeof *p);
	p->index = index;
	p->parent = parent;
	p->depth = depth;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *mime_type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	p->content_type = msg_inspect_lower(mime_type);
	g_free(mime_type);
	if (p->content_type == NULL)
		p->content_type = xstrdup("application/octet-stream");
	p->charset = msg_inspect_lower(g_mime_object_get_content_type_parameter(obj, "charset"));
	p->transfer_encoding = msg_inspect_encoding(obj);
	p->disposition = msg_inspect_disposition(obj);
	p->filename = msg_inspect_filename(obj);
	const char *cid = g_mime_object_get_content_id(obj);
	p->content_id = cid != NULL && *cid != '\0' ? msg_inspect_utf8(cid) : NULL;
	p->is_multipart = GMIME_IS_MULTIPART(obj);
	p->is_message = GMIME_IS_MESSAGE_PART(obj);
	t->nodes[index] = (struct msg_inspect_node){obj, in_alt, in_msg};

	if (p->is_multipart) {
		int child_alt = in_alt || strcmp(p->content_type, "multipart/alternative") == 0;
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int count = g_mime_multipart_get_count(mp);
		for (int i = 0; i < count && t->n < MSG_INSPECT_MAX_PARTS; i++)
			msg_inspect_walk(t, g_mime_multipart_get_part(mp, i), index, depth + 1, child_alt, in_msg);
	} else if (p->is_message) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m != NULL)
			msg_inspect_walk(t, g_mime_message_get_mime_part(m), index, depth + 1, 0, 1);
	}
}

static int msg_inspect_is_leaf(const struct msg_inspect_tree *t, size_t i)
{
	return GMIME_IS_PART(t->nodes[i].obj);
}

/* The body of one type: the first candidate inside a multipart/alternative, else the first. */
static int msg_inspect_pick_body(const struct msg_inspect_tree *t, const char *type)
{
	int first = -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct msg_part *p = &t->parts[i];
		if (!msg_inspect_is_leaf(t, i) || t->nodes[i].in_message || strcmp(p->content_type, type) != 0 ||
		    (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0))
			continue;
		if (t->nodes[i].in_alternative)
			return (int)i;
		if (first < 0)
			first = (int)i;
	}
	return first;
}

/*
 * The bytes GMime parses: raw itself, or (when a top-level header field is
 * longer than MSG_INSPECT_GMIME_FIELD_MAX) a copy whose over-long fields
 * lose their folded lines past that size; the body is the same bytes.
 * Returns NULL when raw can be used as it is.
 */
static uint8_t *msg_inspect_gmime_copy(const uint8_t *raw, size_t len, size_t *out_len)
{
	struct buf b;
	int cut = 0;
	size_t field = 0, pos = 0;
	buf_init(&b);
	while (pos < len) {
		const uint8_t *nl = memchr(raw + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - raw) + 1 : len;
		size_t n = end - pos;
		int blank = raw[pos] == '\n' || (raw[pos] == '\r' && n >= 2 && raw[pos + 1] == '\n');
		if (blank)
			break; /* the header block ends: the rest goes as it is */
		if (raw[pos] == ' ' || raw[pos] == '\t') {
			if (field + n > MSG_INSPECT_GMIME_FIELD_MAX) {
				cut = 1;
				pos = end;
				continue;
			}
			field += n;
		} else {
			field = n;
		}
		buf_append(&b, raw + pos, n);
		pos = end;
	}
	if (!cut) {
		buf_free(&b);
		return NULL;
	}
	buf_append(&b, raw + pos, len - pos);
	*out_len = b.len;
	return b.data;
}

/* Parses raw, walks the tree, picks the bodies and the attachments. */
static void msg_inspect_tree_build(struct msg_inspect_tree *t, const uint8_t *raw, size_t len)
{
	memset(t, 0, sizeof *t);
	t->text_part = t->html_part = -1;
	if (raw == NULL || len == 0)
		return;
	size_t copy_len = 0;
	uint8_t *copy = msg_inspect_gmime_copy(raw, len, &copy_len);
	if (copy != NULL) {
		raw = copy;
		len = copy_len;
	}
	if (len > G_MAXUINT)
		len = G_MAXUINT; /* GByteArray's limit; far beyond any message size limit */
	t->stream = g_mime_stream_mem_new_with_buffer((const char *)raw, len); /* copies */
	free(copy);
	t->parser = g_mime_parser_new_with_stream(t->stream);
	t->message = g_mime_parser_construct_message(t->parser, NULL);
	if (t->message == NULL)
		return;
	msg_inspect_walk(t, g_mime_message_get_mime_part(t->message), -1, 0, 0, 0);

	t->text_part = msg_inspect_pick_body(t, "text/plain");
	t->html_part = msg_inspect_pick_body(t, "text/html");
	for (size_t i = 0; i < t->n; i++) {
		const struct msg_part *p = &t->parts[i];
		if (!msg_inspect_is_leaf(t, i) || (int)i == t->text_part || (int)i == t->html_part)
			continue;
		if ((p->disposition != NULL && strcmp(p->disposition, "attachment") == 0) || p->filename != NULL ||
		    p->content_id != NULL || strncmp(p->content_type, "text/", 5) != 0) {
			if (t->nattachments == 0)
				t->attachments = xcalloc(t->n, sizeof *t->attachments);
			t->attachments[t->nattachments++] = (int)i;
		}
	}
}

/* Frees the GMime objects and the walk's bookkeeping; parts are freed unless taken (set to NULL). */
static void msg_inspect_tree_free(struct msg_inspect_tree *t)
{
	if (t->parts != NULL) {
		for (size_t i = 0; i < t->n; i++) {
			struct msg_part *p = &t->parts[i];
			free(p->content_type);
			free(p->charset);
			free(p->transfer_encoding);
			free(p->disposition);
			free(p->filename);
			free(p->content_id);
		}
		free(t->parts);
	}
	free(t->nodes);
	free(t->attachments);
	if (t->message)
		g_object_unref(t->message);
	if (t->parser)
		g_object_unref(t->parser);
	if (t->stream)
		g_object_unref(t->stream);
}

/* The content of a leaf part decoded from its transfer encoding, in a GMimeStreamMem the caller unrefs. */
static GMimeStream *msg_inspect_decode(GMimeObject *obj, const uint8_t **data, size_t *len)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeDataWrapper *content = GMIME_IS_PART(obj) ? g_mime_part_get_content(GMIME_PART(obj)) : NULL;
	if (content != NULL)
		g_mime_data_wrapper_write_to_stream(content, mem);
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	*data = bytes->data != NULL ? bytes->data : (const uint8_t *)"";
	*len = bytes->len;
	return mem;
}

/* ----------------------------------------------------------- attachments */

static void msg_inspect_sha256(const uint8_t *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		fprintf(stderr, "mailscope: SHA-256 failed in OpenSSL\n");
		abort();
	}
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

static int msg_inspect_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)g_ascii_tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Marks the attachments whose Content-ID the HTML body references as
 * "cid:ID" (RFC 2392: the id is %-encoded; compared without regard to
 * ASCII case). One pass over the HTML, each reference looked up among the
 * attachments' ids: linear in the size of the HTML.
 */
static void msg_inspect_mark_cids(struct msg_inspection *out)
{
	GHashTable *ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (size_t i = 0; i < out->nattachments; i++)
		if (out->attachments[i].content_id != NULL)
			g_hash_table_insert(ids, g_ascii_strdown(out->attachments[i].content_id, -1),
			                    GINT_TO_POINTER(0));
	if (g_hash_table_size(ids) == 0) {
		g_hash_table_destroy(ids);
		return;
	}

	const uint8_t *h = (const uint8_t *)out->html;
	size_t n = strlen(out->html);
	struct buf ref;
	buf_init(&ref);
	for (size_t i = 0; i + 4 <= n; i++) {
		if (g_ascii_tolower(h[i]) != 'c' || g_ascii_tolower(h[i + 1]) != 'i' ||
		    g_ascii_tolower(h[i + 2]) != 'd' || h[i + 3] != ':')
			continue;
		buf_reset(&ref);
		size_t j = i + 4;
		while (j < n && ref.len <= MSG_INSPECT_CID_MAX && !strchr("\"'<>() \t\r\n\\", h[j])) {
			int hi, lo;
			if (h[j] == '%' && j + 2 < n && (hi = msg_inspect_hex(h[j + 1])) >= 0 &&
			    (lo = msg_inspect_hex(h[j + 2])) >= 0) {
				buf_append_byte(&ref, (uint8_t)g_ascii_tolower((char)(hi << 4 | lo)));
				j += 3;
			} else {
				buf_append_byte(&ref, (uint8_t)g_ascii_tolower(h[j]));
				j++;
			}
		}
		if (ref.len > 0 && ref.len <= MSG_INSPECT_CID_MAX) {
			gpointer key;
			if (g_hash_table_lookup_extended(ids, buf_cstr(&ref), &key, NULL))
				g_hash_table_insert(ids, g_strdup(key), GINT_TO_POINTER(1));
		}
		i = j - 1;
	}
	buf_free(&ref);
	for (size_t i = 0; i < out->nattachments; i++) {
		struct msg_attachment *a = &out->attachments[i];
		if (a->content_id == NULL || a->is_inline)
			continue;
		char *key = g_ascii_strdown(a->content_id, -1);
		a->is_inline = GPOINTER_TO_INT(g_hash_table_lookup(ids, key));
		g_free(key);
	}
	g_hash_table_destroy(ids);
}

/* ------------------------------------------------------------------- API */

void msg_inspect(const uint8_t *raw, size_t len, struct msg_inspection *out)
{
	memset(out, 0, sizeof *out);
	out->text_part = out->html_part = -1;
	msg_summary_parse(raw, len, &out->summary);
	if (raw == NULL)
		return;
	msg_inspect_headers(raw, len, out);

	struct msg_inspect_tree t;
	msg_inspect_tree_build(&t, raw, len);
	out->text_part = t.text_part;
	out->html_part = t.html_part;
	if (t.nattachments > 0)
		out->attachments = xcalloc(t.nattachments, sizeof *out->attachments);

	size_t next_attachment = 0;
	for (size_t i = 0; i < t.n; i++) {
		struct msg_part *p = &t.parts[i];
		if (!msg_inspect_is_leaf(&t, i))
			continue;
		const uint8_t *data;
		GMimeStream *mem = msg_inspect_decode(t.nodes[i].obj, &data, &p->size);
		if ((int)i == t.text_part)
			out->text = msg_inspect_to_utf8(data, p->size, p->charset);
		if ((int)i == t.html_part)
			out->html = msg_inspect_to_utf8(data, p->size, p->charset);
		if (next_attachment < t.nattachments && t.attachments[next_attachment] == (int)i) {
			struct msg_attachment *a = &out->attachments[next_attachment];
			a->index = (int)next_attachment;
			a->part = (int)i;
			a->filename = p->filename ? xstrdup(p->filename) : NULL;
			a->content_type = xstrdup(p->content_type);
			a->content_id = p->content_id ? xstrdup(p->content_id) : NULL;
			a->size = p->size;
			msg_inspect_sha256(data, p->size, a->sha256);
			a->is_inline = p->disposition != NULL && strcmp(p->disposition, "inline") == 0;
			next_attachment++;
		}
		g_object_unref(mem);
	}
	out->nattachments = t.nattachments;
	if (out->html != NULL)
		msg_inspect_mark_cids(out);

	/* The parts' strings move to the result. */
	out->parts = t.parts;
	out->nparts = t.n;
	t.parts = NULL;
	msg_inspect_tree_free(&t);
}

int msg_attachment_content(const uint8_t *raw, size_t len, int index, uint8_t **data, size_t *dlen)
{
	*data = NULL;
	*dlen = 0;
	struct msg_inspect_tree t;
	msg_inspect_tree_build(&t, raw, len);
	int rc = -1;
	if (index >= 0 && (size_t)index < t.nattachments) {
		const uint8_t *bytes;
		size_t n;
		GMimeStream *mem = msg_inspect_decode(t.nodes[t.attachments[index]].obj, &bytes, &n);
		*data = xmemdup(bytes, n);
		*dlen = n;
		g_object_unref(mem);
		rc = 0;
	}
	msg_inspect_tree_free(&t);
	return rc;
}

static void msg_inspect_free_addrs(struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].address);
	}
	free(a);
}

void msg_inspection_free(struct msg_inspection *in)
{
	if (in == NULL)
		return;
	for (size_t i = 0; i < in->nheaders; i++) {
		free(in->headers[i].name);
		free(in->headers[i].raw);
		free(in->headers[i].decoded);
	}
	free(in->headers);
	msg_summary_free(&in->summary);
	msg_inspect_free_addrs(in->reply_to, in->nreply_to);
	msg_inspect_free_addrs(in->bcc, in->nbcc);
	free(in->in_reply_to);
	free(in->list_unsubscribe);
	for (size_t i = 0; i < in->nparts; i++) {
		struct msg_part *p = &in->parts[i];
		free(p->content_type);
		free(p->charset);
		free(p->transfer_encoding);
		free(p->disposition);
		free(p->filename);
		free(p->content_id);
	}
	free(in->parts);
	free(in->text);
	free(in->html);
	for (size_t i = 0; i < in->nattachments; i++) {
		free(in->attachments[i].filename);
		free(in->attachments[i].content_type);
		free(in->attachments[i].content_id);
	}
	free(in->attachments);
	memset(in, 0, sizeof *in);
	in->text_part = in->html_part = -1;
	in->summary.date_ms = INT64_MIN;
}
