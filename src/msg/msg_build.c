/*
 * msg_build: MIME messages for `mailscope send`, built with GMime 3.2. See
 * msg_build.h for what comes out.
 *
 * GMime does the encodings (RFC 2047 words, RFC 2231 parameters, base64,
 * quoted-printable) and the folding; this file decides the structure,
 * checks the caller's input and writes with CRLF line ends. Our own format
 * options are used (never GMime's global default), so nothing here touches
 * shared state after msg_init().
 */
#include "msg/msg_build.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "core/xmalloc.h"

/* RFC 5322 3.6.4: the id's right side; used when From has no domain we can take. */
#define MSG_BUILD_ID_DOMAIN "mailscope.invalid"
/* Longest header name we take (RFC 5322 sets none; 76 keeps "Name: " on one line). */
#define MSG_BUILD_NAME_MAX 76

/* Extensions and their types: the common attachment kinds, nothing exotic. */
static const struct {
	const char *ext;
	const char *type;
} msg_build_types[] = {
        {"txt", "text/plain"},
        {"log", "text/plain"},
        {"md", "text/markdown"},
        {"csv", "text/csv"},
        {"htm", "text/html"},
        {"html", "text/html"},
        {"css", "text/css"},
        {"ics", "text/calendar"},
        {"vcf", "text/vcard"},
        {"xml", "application/xml"},
        {"json", "application/json"},
        {"js", "text/javascript"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tgz", "application/gzip"},
        {"tar", "application/x-tar"},
        {"7z", "application/x-7z-compressed"},
        {"rtf", "application/rtf"},
        {"doc", "application/msword"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xls", "application/vnd.ms-excel"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"ppt", "application/vnd.ms-powerpoint"},
        {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
        {"odt", "application/vnd.oasis.opendocument.text"},
        {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
        {"eml", "message/rfc822"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"svg", "image/svg+xml"},
        {"ico", "image/vnd.microsoft.icon"},
        {"bmp", "image/bmp"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"mp3", "audio/mpeg"},
        {"wav", "audio/wav"},
        {"ogg", "audio/ogg"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mov", "video/quicktime"},
        {"p7s", "application/pkcs7-signature"},
        {"asc", "application/pgp-signature"},
};

const char *msg_build_guess_type(const char *filename)
{
	const char *dot = filename != NULL ? strrchr(filename, '.') : NULL;
	if (dot != NULL && dot[1] != '\0') {
		for (size_t i = 0; i < sizeof msg_build_types / sizeof msg_build_types[0]; i++)
			if (strcasecmp(dot + 1, msg_build_types[i].ext) == 0)
				return msg_build_types[i].type;
	}
	return "application/octet-stream";
}

/* ---- checks ---- */

static int msg_build_has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* RFC 5322 2.2: ftext is printable ASCII except ':'. */
static int msg_build_name_ok(const char *name, size_t n)
{
	if (n == 0 || n > MSG_BUILD_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 33 || name[i] > 126 || name[i] == ':')
			return 0;
	return 1;
}

/* One mailbox from spec, or NULL with err. The caller unrefs the list. */
static InternetAddressMailbox *msg_build_mailbox(const char *spec, InternetAddressList **list, char *err, size_t errlen)
{
	*list = NULL;
	if (spec == NULL || *spec == '\0') {
		snprintf(err, errlen, "an address is empty");
		return NULL;
	}
	if (msg_build_has_crlf(spec) || !utf8_valid(spec, strlen(spec))) {
		snprintf(err, errlen, "the address \"%.80s\" holds a line break or is not UTF-8", spec);
		return NULL;
	}
	InternetAddressList *l = internet_address_list_parse(NULL, spec);
	InternetAddress *ia =
	        l != NULL && internet_address_list_length(l) == 1 ? internet_address_list_get_address(l, 0) : NULL;
	if (ia == NULL || !INTERNET_ADDRESS_IS_MAILBOX(ia)) {
		snprintf(err, errlen,
		         "\"%.80s\" is not one address (give user@example.com or \"Name <user@example.com>\")", spec);
		if (l != NULL)
			g_object_unref(l);
		return NULL;
	}
	InternetAddressMailbox *mb = INTERNET_ADDRESS_MAILBOX(ia);
	const char *addr = internet_address_mailbox_get_addr(mb);
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	if (at == NULL || at == addr || at[1] == '\0' || strpbrk(addr, " \t<>()[],;\"\\") != NULL) {
		snprintf(err, errlen, "\"%.80s\" is not an address of the form user@example.com", spec);
		g_object_unref(l);
		return NULL;
	}
	*list = l;
	return mb;
}

int msg_build_address(const char *spec, char *addr, size_t addrlen, char *err, size_t errlen)
{
	InternetAddressList *l;
	InternetAddressMailbox *mb = msg_build_mailbox(spec, &l, err, errlen);
	if (mb == NULL)
		return -1;
	const char *a = internet_address_mailbox_get_addr(mb);
	if (strlen(a) >= addrlen) {
		snprintf(err, errlen, "the address \"%.80s\" is too long", a);
		g_object_unref(l);
		return -1;
	}
	snprintf(addr, addrlen, "%s", a);
	g_object_unref(l);
	return 0;
}

/* ---- parts ---- */

static int msg_build_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Text in canonical form (RFC 2046 4.1.1): every line break CRLF. Caller frees. */
static char *msg_build_crlf(const char *text)
{
	struct buf b;
	buf_init(&b);
	for (const char *p = text; *p; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			buf_append_byte(&b, '\r');
		buf_append_byte(&b, (uint8_t)*p);
	}
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

static GMimeObject *msg_build_text_part(const char *subtype, const char *given)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype(subtype);
	char *text = msg_build_crlf(given);
	/*
	 * Not g_mime_text_part_set_text(): it converts to the "best" charset
	 * (ISO-8859-1 for most European text). The content stays UTF-8, as sent.
	 */
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(text, strlen(text));
	GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_object_unref(stream);
	g_mime_part_set_content(GMIME_PART(part), content);
	g_object_unref(content);
	g_mime_text_part_set_charset(part, msg_build_ascii(text) ? "us-ascii" : "utf-8");
	/*
	 * 7bit when it can be, quoted-printable for mostly-ASCII text or long
	 * lines, base64 otherwise. GMime 3.2's quoted-printable encoder ends its
	 * output with a hard line break, which adds one to a text that had
	 * none: such a text goes in base64, which gives back its exact bytes.
	 */
	GMimeContentEncoding enc =
	        g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT);
	size_t n = strlen(text);
	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE && (n == 0 || text[n - 1] != '\n'))
		enc = GMIME_CONTENT_ENCODING_BASE64;
	g_mime_part_set_content_encoding(GMIME_PART(part), enc);
	free(text);
	return GMIME_OBJECT(part);
}

static GMimeObject *msg_build_attachment_part(const struct msg_build_attachment *a, char *err, size_t errlen)
{
	const char *type = a->content_type != NULL ? a->content_type : msg_build_guess_type(a->filename);
	const char *slash = strchr(type, '/');
	if (slash == NULL || slash == type || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
	    msg_build_has_crlf(type) || strpbrk(type, " ;\t") != NULL) {
		snprintf(err, errlen, "\"%.80s\" is not a content type (type/subtype)", type);
		return NULL;
	}
	if (a->filename == NULL || *a->filename == '\0' || msg_build_has_crlf(a->filename) ||
	    !utf8_valid(a->filename, strlen(a->filename))) {
		snprintf(err, errlen, "an attachment needs a filename of UTF-8 text without line breaks");
		return NULL;
	}
	char *major = xstrndup(type, (size_t)(slash - type));
	GMimePart *part = g_mime_part_new_with_type(major, slash + 1);
	free(major);
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)a->data, a->len);
	GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
	g_object_unref(stream);
	g_mime_part_set_content(part, content);
	g_object_unref(content);
	g_mime_part_set_filename(part, a->filename);
	g_mime_object_set_disposition(GMIME_OBJECT(part), GMIME_DISPOSITION_ATTACHMENT);
	/* Base64 for every attachment: its bytes come back exactly, whatever they are. */
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
	return GMIME_OBJECT(part);
}

static GMimeObject *msg_build_body(const struct msg_build_input *in, char *err, size_t errlen)
{
	GMimeObject *body;
	if (in->text != NULL && in->html != NULL) {
		GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
		GMimeObject *t = msg_build_text_part("plain", in->text), *h = msg_build_text_part("html", in->html);
		g_mime_multipart_add(alt, t);
		g_mime_multipart_add(alt, h);
		g_object_unref(t);
		g_object_unref(h);
		body = GMIME_OBJECT(alt);
	} else if (in->html != NULL) {
		body = msg_build_text_part("html", in->html);
	} else {
		body = msg_build_text_part("plain", in->text != NULL ? in->text : "");
	}
	if (in->nattachments == 0)
		return body;

	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, body);
	g_object_unref(body);
	for (size_t i = 0; i < in->nattachments; i++) {
		GMimeObject *p = msg_build_attachment_part(&in->attachments[i], err, errlen);
		if (p == NULL) {
			g_object_unref(mixed);
			return NULL;
		}
		g_mime_multipart_add(mixed, p);
		g_object_unref(p);
	}
	return GMIME_OBJECT(mixed);
}

/* ---- headers ---- */

static int msg_build_check_text(const char *what, const char *s, char *err, size_t errlen)
{
	if (s != NULL && !utf8_valid(s, strlen(s))) {
		snprintf(err, errlen, "the %s is not valid UTF-8", what);
		return -1;
	}
	return 0;
}

/* The domain of the From address for the Message-ID, or our own. */
static void msg_build_message_id(const struct msg_build_input *in, const char *from_addr, char *out, size_t outlen)
{
	const char *at = strrchr(from_addr, '@');
	const char *domain = at != NULL && at[1] != '\0' && msg_build_ascii(at + 1) ? at + 1 : MSG_BUILD_ID_DOMAIN;
	snprintf(out, outlen, "%llx.%016llx@%s", (unsigned long long)in->date_ms, (unsigned long long)in->nonce,
	         domain);
}

static int msg_build_extra_header(GMimeMessage *msg, const char *h, char *err, size_t errlen)
{
	static const char *const replaced[] = {"Subject", "Date", "Message-ID", "From", "To", "MIME-Version"};
	const char *colon = strchr(h, ':');
	if (colon == NULL || !msg_build_name_ok(h, (size_t)(colon - h))) {
		snprintf(err, errlen, "--header \"%.80s\": give \"Name: value\" with a name of printable ASCII", h);
		return -1;
	}
	if (msg_build_has_crlf(colon) || !utf8_valid(colon, strlen(colon))) {
		snprintf(err, errlen, "--header \"%.*s\": the value holds a line break or is not UTF-8",
		         (int)(colon - h), h);
		return -1;
	}
	char *name = xstrndup(h, (size_t)(colon - h));
	const char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(name, "Content-", 8) == 0) {
		snprintf(err, errlen,
		         "--header %s: Content-* headers come from the message's structure and cannot be set", name);
		free(name);
		return -1;
	}
	int replace = 0;
	for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++)
		if (strcasecmp(name, replaced[i]) == 0)
			replace = 1;
	if (replace)
		g_mime_object_set_header(GMIME_OBJECT(msg), name, value, "utf-8");
	else
		g_mime_object_append_header(GMIME_OBJECT(msg), name, value, "utf-8");
	free(name);
	return 0;
}

/* Adds the mailbox of spec to the message's list of type. */
static int msg_build_add_mailbox(GMimeMessage *msg, GMimeAddressType type, const char *spec, char *addr, size_t addrlen,
                                 char *err, size_t errlen)
{
	InternetAddressList *l;
	InternetAddressMailbox *mb = msg_build_mailbox(spec, &l, err, errlen);
	if (mb == NULL)
		return -1;
	const char *name = internet_address_get_name(INTERNET_ADDRESS(mb));
	g_mime_message_add_mailbox(msg, type, name != NULL && *name ? name : NULL,
	                           internet_address_mailbox_get_addr(mb));
	if (addr != NULL)
		snprintf(addr, addrlen, "%s", internet_address_mailbox_get_addr(mb));
	g_object_unref(l);
	return 0;
}

int msg_build(const struct msg_build_input *in, struct buf *out, char *err, size_t errlen)
{
	char from_addr[512] = "", id[600];
	int rc = -1;

	if (msg_build_check_text("subject", in->subject, err, errlen) < 0 ||
	    msg_build_check_text("text body", in->text, err, errlen) < 0 ||
	    msg_build_check_text("HTML body", in->html, err, errlen) < 0)
		return -1;
	if (in->subject != NULL && msg_build_has_crlf(in->subject)) {
		snprintf(err, errlen, "the subject holds a line break");
		return -1;
	}

	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeObject *body = NULL;
	GMimeFormatOptions *opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_format_options_set_param_encoding_method(opts, GMIME_PARAM_ENCODING_METHOD_RFC2231);

	GDateTime *date = g_date_time_new_from_unix_utc(in->date_ms / 1000);
	g_mime_message_set_date(msg, date);
	g_date_time_unref(date);
	if (msg_build_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, in->from, from_addr, sizeof from_addr, err, errlen) < 0)
		goto done;
	for (size_t i = 0; i < in->nto; i++)
		if (msg_build_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, in->to[i], NULL, 0, err, errlen) < 0)
			goto done;
	if (in->subject != NULL)
		g_mime_message_set_subject(msg, in->subject, "utf-8");
	msg_build_message_id(in, from_addr, id, sizeof id);
	g_mime_message_set_message_id(msg, id);
	g_mime_object_set_header(GMIME_OBJECT(msg), "MIME-Version", "1.0", NULL);

	body = msg_build_body(in, err, errlen);
	if (body == NULL)
		goto done;
	g_mime_message_set_mime_part(msg, body);
	for (size_t i = 0; i < in->nheaders; i++)
		if (msg_build_extra_header(msg, in->headers[i], err, errlen) < 0)
			goto done;

	char *text = g_mime_object_to_string(GMIME_OBJECT(msg), opts);
	if (text == NULL) {
		snprintf(err, errlen, "GMime could not write the message");
		goto done;
	}
	buf_append_str(out, text);
	/* GMime ends with the closing boundary; a message's last line ends with CRLF like every other. */
	if (out->len < 2 || out->data[out->len - 2] != '\r' || out->data[out->len - 1] != '\n')
		buf_append(out, "\r\n", 2);
	g_free(text);
	rc = 0;
done:
	if (body != NULL)
		g_object_unref(body);
	g_object_unref(msg);
	g_mime_format_options_free(opts);
	return rc;
}
