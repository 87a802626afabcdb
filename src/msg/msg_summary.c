/*
 * msg_summary: the header summary of a message (From, To, Cc, Subject,
 * Date, Message-ID) for listings. See msg_summary.h.
 *
 * How it works: the header block is cut off at the first empty line (CRLF
 * or LF) and never looked past, so a 50 MB attachment costs nothing. That
 * block is split into fields here (name ":" value, continuation lines
 * starting with SP or HTAB), because that part of RFC 5322 is trivial and
 * doing it ourselves lets lines that are not fields at all be skipped
 * without losing the ones after them. The contents of the fields we want
 * are handed to GMime's own parsers: the address-list parser (groups,
 * quoting, RFC 2047 display names), the RFC 2047 text decoder with its
 * fallback charsets for raw 8-bit bytes (UTF-8, then ISO-8859-1), the date
 * parser and the msg-id parser. Two defects of GMime 3.2.13 (Debian 12)
 * are worked around before it sees a value, each explained where it is
 * done: padded base64 encoded words in a row (msg_rfc2047.h), and a leak
 * on an unterminated comment in an address.
 *
 * Promises: never fails and never reads past len; every string in the
 * result is valid UTF-8 (whatever GMime returns is checked again, and
 * invalid sequences become U+FFFD), so callers may put them in JSON as is.
 * From/To/Cc collect every occurrence of their header; Subject, Date and
 * Message-ID take the first.
 * Thread-safe once msg_init() has run: no state outside the call.
 */
#include "msg/msg_summary.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "msg/msg_rfc2047.h"

/*
 * A header block longer than this (a message with no blank line, or a
 * hostile one) is cut here: the summary stays cheap whatever the input.
 * Real header blocks, DKIM and Received chains included, are a few KiB.
 */
#define MSG_SUMMARY_HEADER_MAX (1024 * 1024)
/* Groups cannot nest in RFC 5322; GMime's loose parser might still produce it. */
#define MSG_SUMMARY_GROUP_DEPTH_MAX 4

enum msg_summary_field {
	MSG_SUMMARY_FIELD_NONE = 0,
	MSG_SUMMARY_FIELD_FROM,
	MSG_SUMMARY_FIELD_TO,
	MSG_SUMMARY_FIELD_CC,
	MSG_SUMMARY_FIELD_SUBJECT,
	MSG_SUMMARY_FIELD_DATE,
	MSG_SUMMARY_FIELD_MESSAGE_ID,
};

static const struct {
	const char *name;
	enum msg_summary_field field;
} msg_summary_fields[] = {
        {"from", MSG_SUMMARY_FIELD_FROM}, {"to", MSG_SUMMARY_FIELD_TO},
        {"cc", MSG_SUMMARY_FIELD_CC},     {"subject", MSG_SUMMARY_FIELD_SUBJECT},
        {"date", MSG_SUMMARY_FIELD_DATE}, {"message-id", MSG_SUMMARY_FIELD_MESSAGE_ID},
};

/* One address array of the result while it grows. */
struct msg_summary_addrs {
	struct msg_addr **items;
	size_t *n;
	size_t cap;
};

/* The state of one msg_summary_parse() call. */
struct msg_summary_state {
	struct msg_summary *out;
	struct msg_summary_addrs from, to, cc;
	enum msg_summary_field current; /* field whose value is being collected */
	struct buf value;               /* its unfolded value so far */
};

/*
 * GMime is initialised once per process, whoever asks first (the store
 * asks in store_open()). g_mime_init() itself is not thread-safe, and
 * GMime cannot be initialised again after g_mime_shutdown() (its type
 * registries stay destroyed), so msg_shutdown() is for the very end of
 * the process and msg_init() after it does nothing.
 */
static pthread_once_t msg_summary_once = PTHREAD_ONCE_INIT;
static atomic_int msg_summary_gmime_up;

static void msg_summary_init_once(void)
{
	g_mime_init();
	atomic_store(&msg_summary_gmime_up, 1);
}

void msg_init(void)
{
	pthread_once(&msg_summary_once, msg_summary_init_once);
}

void msg_shutdown(void)
{
	if (atomic_exchange(&msg_summary_gmime_up, 0))
		g_mime_shutdown();
}

/* A copy of s that is valid UTF-8 (invalid sequences become U+FFFD). */
static char *msg_summary_utf8_dup(const char *s)
{
	if (g_utf8_validate(s, -1, NULL))
		return xstrdup(s);
	char *valid = g_utf8_make_valid(s, -1);
	char *copy = xstrdup(valid);
	g_free(valid);
	return copy;
}

/* Takes a g_malloc'ed string, returns an xmalloc'ed valid UTF-8 copy, or NULL for NULL. */
static char *msg_summary_from_glib(char *s)
{
	if (s == NULL)
		return NULL;
	char *copy = msg_summary_utf8_dup(s);
	g_free(s);
	return copy;
}

static int msg_summary_is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims leading and trailing whitespace of a NUL-terminated string in place. */
static char *msg_summary_trim(char *s)
{
	while (msg_summary_is_wsp((uint8_t)*s))
		s++;
	size_t len = strlen(s);
	while (len > 0 && msg_summary_is_wsp((uint8_t)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* g_mime_utils_header_decode_text() with the B-word work-around (msg_rfc2047.h); returns an xmalloc'ed UTF-8 string. */
static char *msg_summary_decode_text(const char *value)
{
	char *fixed = msg_rfc2047_b_words_to_q(value);
	char *decoded = msg_summary_from_glib(g_mime_utils_header_decode_text(NULL, fixed ? fixed : value));
	free(fixed);
	return decoded;
}

/*
 * Length of the header block: up to and including the line ending of the
 * last header line, or all of raw when there is no empty line. Capped at
 * MSG_SUMMARY_HEADER_MAX.
 */
static size_t msg_summary_header_len(const uint8_t *raw, size_t len)
{
	size_t limit = len < MSG_SUMMARY_HEADER_MAX ? len : MSG_SUMMARY_HEADER_MAX;
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

static enum msg_summary_field msg_summary_field_of(const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < sizeof msg_summary_fields / sizeof msg_summary_fields[0]; i++) {
		const char *want = msg_summary_fields[i].name;
		if (strlen(want) == len && g_ascii_strncasecmp((const char *)name, want, len) == 0)
			return msg_summary_fields[i].field;
	}
	return MSG_SUMMARY_FIELD_NONE;
}

/*
 * Appends one line's worth of field value to the unfolded value: line
 * endings are dropped (unfolding keeps the WSP that starts the next line)
 * and NUL bytes, which cannot live in a C string, become spaces.
 */
static void msg_summary_append_value(struct buf *value, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\r' || c == '\n')
			continue;
		buf_append_byte(value, c == '\0' ? ' ' : c);
	}
}

static void msg_summary_push_addr(struct msg_summary_addrs *list, const char *name, const char *addr)
{
	if (*list->n == list->cap) {
		list->cap = list->cap ? list->cap * 2 : 4;
		*list->items = xrealloc(*list->items, list->cap * sizeof **list->items);
	}
	struct msg_addr *a = &(*list->items)[(*list->n)++];
	a->name = name != NULL && *name != '\0' ? msg_summary_utf8_dup(name) : NULL;
	a->address = msg_summary_utf8_dup(addr != NULL ? addr : "");
}

/* Flattens groups into their members, keeping the order of the header. */
static void msg_summary_add_list(struct msg_summary_addrs *list, InternetAddressList *ial, int depth)
{
	int n = internet_address_list_length(ial);
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(ial, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			msg_summary_push_addr(list, internet_address_get_name(ia),
			                      internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
		} else if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < MSG_SUMMARY_GROUP_DEPTH_MAX) {
			InternetAddressList *members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
			if (members != NULL)
				msg_summary_add_list(list, members, depth + 1);
		}
	}
}

/*
 * GMime 3.2.13's address parser leaks the addr-spec it has just parsed
 * when an unterminated comment follows it ("r@[](", found by the fuzzer).
 * Closing what the value leaves open (a quoted string, comments) before
 * parsing keeps it off that path; a well-formed value comes back as NULL.
 * GMime does not always see the quotes where this scan does (a 10-minute
 * fuzz run found `"m, r@[](U], "\"quote\ "`), so when the value has a
 * domain literal, the only way onto that path, parentheses are also counted
 * as if no quote existed, and the larger shortfall is closed.
 */
static char *msg_summary_close_open(const char *value)
{
	int quoted = 0, depth = 0, escaped = 0;
	int raw_depth = 0, raw_escaped = 0;
	if (strchr(value, '[') != NULL) {
		for (const char *p = value; *p; p++) {
			if (raw_escaped)
				raw_escaped = 0;
			else if (*p == '\\')
				raw_escaped = 1;
			else if (*p == '(')
				raw_depth++;
			else if (*p == ')' && raw_depth > 0)
				raw_depth--;
		}
	}
	for (const char *p = value; *p; p++) {
		if (escaped) {
			escaped = 0;
		} else if (*p == '\\' && (quoted || depth > 0)) {
			escaped = 1;
		} else if (quoted) {
			quoted = *p != '"';
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && depth > 0) {
			depth--;
		} else if (*p == '"' && depth == 0) {
			quoted = 1;
		}
	}
	if (raw_depth > depth)
		depth = raw_depth;
	if (!quoted && depth == 0)
		return NULL;
	struct buf b;
	buf_init(&b);
	buf_append_str(&b, value);
	if (escaped || raw_escaped)
		buf_append_byte(&b, ' '); /* the trailing backslash must not quote what we add */
	if (quoted)
		buf_append_byte(&b, '"');
	while (depth-- > 0)
		buf_append_byte(&b, ')');
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

/*
 * A value in which GMime finds no mailbox and no group at all ("From: Just
 * A Name") is kept as a name without an address, so a listing still shows
 * who it claims to be from. An empty group ("undisclosed-recipients:;")
 * is a real, empty list and adds nothing.
 */
static void msg_summary_parse_addresses(struct msg_summary_addrs *list, const char *value)
{
	char *closed = msg_summary_close_open(value);
	char *fixed = msg_rfc2047_b_words_to_q(closed ? closed : value);
	InternetAddressList *ial = internet_address_list_parse(NULL, fixed ? fixed : closed ? closed : value);
	if (ial != NULL && internet_address_list_length(ial) > 0) {
		msg_summary_add_list(list, ial, 0);
	} else if (*value != '\0') {
		char *name = msg_summary_decode_text(value);
		msg_summary_push_addr(list, name, "");
		free(name);
	}
	if (ial != NULL)
		g_object_unref(ial);
	free(fixed);
	free(closed);
}

static int64_t msg_summary_parse_date(const char *value)
{
	GDateTime *dt = g_mime_utils_header_decode_date(value);
	if (dt == NULL)
		return INT64_MIN;
	int64_t ms = (int64_t)g_date_time_to_unix(dt) * 1000 + g_date_time_get_microsecond(dt) / 1000;
	g_date_time_unref(dt);
	return ms;
}

/* A Message-ID that GMime's msg-id parser rejects is kept as sent, minus the brackets. */
static char *msg_summary_message_id(char *value)
{
	char *id = g_mime_utils_decode_message_id(value);
	if (id != NULL && *id != '\0')
		return msg_summary_from_glib(id);
	g_free(id);
	size_t len = strlen(value);
	if (len >= 2 && value[0] == '<' && value[len - 1] == '>') {
		value[len - 1] = '\0';
		value = msg_summary_trim(value + 1);
	}
	return msg_summary_utf8_dup(value);
}

/* Decodes the collected value of the current field into the result. */
static void msg_summary_take_field(struct msg_summary_state *st)
{
	struct msg_summary *out = st->out;
	char *value = msg_summary_trim(buf_cstr(&st->value));
	switch (st->current) {
	case MSG_SUMMARY_FIELD_FROM:
		msg_summary_parse_addresses(&st->from, value);
		break;
	case MSG_SUMMARY_FIELD_TO:
		msg_summary_parse_addresses(&st->to, value);
		break;
	case MSG_SUMMARY_FIELD_CC:
		msg_summary_parse_addresses(&st->cc, value);
		break;
	case MSG_SUMMARY_FIELD_SUBJECT:
		if (out->subject == NULL)
			out->subject = msg_summary_decode_text(value);
		break;
	case MSG_SUMMARY_FIELD_DATE:
		if (out->date == NULL) {
			out->date = msg_summary_utf8_dup(value);
			out->date_ms = msg_summary_parse_date(value);
		}
		break;
	case MSG_SUMMARY_FIELD_MESSAGE_ID:
		if (out->message_id == NULL)
			out->message_id = msg_summary_message_id(value);
		break;
	case MSG_SUMMARY_FIELD_NONE:
		break;
	}
	st->current = MSG_SUMMARY_FIELD_NONE;
	buf_reset(&st->value);
}

/*
 * The field name of a line that starts a field, or 0 when the line is not
 * a field ("name" ":" with printable ASCII but no colon in the name; the
 * obsolete syntax of RFC 5322 4.5 allows whitespace before the colon).
 * *value_at receives the offset just after the colon.
 */
static size_t msg_summary_field_name(const uint8_t *line, size_t len, size_t *value_at)
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

void msg_summary_parse(const uint8_t *raw, size_t len, struct msg_summary *out)
{
	memset(out, 0, sizeof *out);
	out->date_ms = INT64_MIN;
	if (raw == NULL)
		return;

	struct msg_summary_state st = {
	        .out = out,
	        .from = {&out->from, &out->nfrom, 0},
	        .to = {&out->to, &out->nto, 0},
	        .cc = {&out->cc, &out->ncc, 0},
	        .current = MSG_SUMMARY_FIELD_NONE,
	};
	buf_init(&st.value);

	size_t hlen = msg_summary_header_len(raw, len);
	size_t pos = 0;
	while (pos < hlen) {
		const uint8_t *line = raw + pos;
		const uint8_t *nl = memchr(line, '\n', hlen - pos);
		size_t line_len = nl ? (size_t)(nl - line) : hlen - pos;
		pos += line_len + (nl ? 1 : 0);

		if (line[0] == ' ' || line[0] == '\t') {
			/* A continuation line belongs to the field before it. */
			if (st.current != MSG_SUMMARY_FIELD_NONE)
				msg_summary_append_value(&st.value, line, line_len);
			continue;
		}
		if (st.current != MSG_SUMMARY_FIELD_NONE)
			msg_summary_take_field(&st);
		size_t value_at = 0;
		size_t name_len = msg_summary_field_name(line, line_len, &value_at);
		if (name_len == 0)
			continue; /* not a field: skipped, the fields after it still count */
		st.current = msg_summary_field_of(line, name_len);
		if (st.current != MSG_SUMMARY_FIELD_NONE)
			msg_summary_append_value(&st.value, line + value_at, line_len - value_at);
	}
	if (st.current != MSG_SUMMARY_FIELD_NONE)
		msg_summary_take_field(&st);
	buf_free(&st.value);
}

static void msg_summary_free_addrs(struct msg_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].address);
	}
	free(a);
}

void msg_summary_free(struct msg_summary *s)
{
	if (s == NULL)
		return;
	msg_summary_free_addrs(s->from, s->nfrom);
	msg_summary_free_addrs(s->to, s->nto);
	msg_summary_free_addrs(s->cc, s->ncc);
	free(s->subject);
	free(s->date);
	free(s->message_id);
	memset(s, 0, sizeof *s);
	s->date_ms = INT64_MIN;
}
