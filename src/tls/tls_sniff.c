/*
 * tls_sniff: names the first bytes of a connection (TLS record, SSLv2 hello,
 * HTTP request, SMTP command, other) and pulls the facts a diagnostic needs
 * out of a ClientHello. See tls_sniff.h.
 *
 * Pure: no allocation, no I/O, no OpenSSL. Every length read from the input
 * is checked against the structure that contains it before it is used, and
 * no byte at or beyond len is ever read. A ClientHello split over several
 * handshake records is followed through them (the reader below skips record
 * headers); one cut short by the end of the input is reported with
 * complete = 0.
 */
#include "tls/tls_sniff.h"

#include <stdio.h>
#include <string.h>

/* RFC 8446 5.1: a record's fragment is at most 2^14 bytes. */
#define TLS_SNIFF_RECORD_MAX             16384
#define TLS_SNIFF_RECORD_HEADER          5
#define TLS_SNIFF_CONTENT_HANDSHAKE      0x16
#define TLS_SNIFF_HANDSHAKE_CLIENT_HELLO 1
#define TLS_SNIFF_RANDOM_LEN             32
#define TLS_SNIFF_SESSION_ID_MAX         32

#define TLS_SNIFF_EXT_SERVER_NAME        0
#define TLS_SNIFF_EXT_ALPN               16
#define TLS_SNIFF_EXT_SUPPORTED_VERSIONS 43
#define TLS_SNIFF_SNI_HOST_NAME          0

/* ---- first bytes ---- */

struct tls_sniff_word {
	enum tls_sniff_kind kind;
	const char *word;
};

/* HTTP methods are case-sensitive and end with a space; SMTP verbs are
 * matched without regard to case and end with a space, CR or LF. */
static const struct tls_sniff_word tls_sniff_words[] = {
        {TLS_SNIFF_HTTP, "GET"},      {TLS_SNIFF_HTTP, "POST"},   {TLS_SNIFF_HTTP, "HEAD"},
        {TLS_SNIFF_HTTP, "PUT"},      {TLS_SNIFF_HTTP, "DELETE"}, {TLS_SNIFF_HTTP, "OPTIONS"},
        {TLS_SNIFF_HTTP, "CONNECT"},  {TLS_SNIFF_HTTP, "PATCH"},  {TLS_SNIFF_HTTP, "TRACE"},
        {TLS_SNIFF_SMTP, "EHLO"},     {TLS_SNIFF_SMTP, "HELO"},   {TLS_SNIFF_SMTP, "MAIL"},
        {TLS_SNIFF_SMTP, "RCPT"},     {TLS_SNIFF_SMTP, "DATA"},   {TLS_SNIFF_SMTP, "QUIT"},
        {TLS_SNIFF_SMTP, "RSET"},     {TLS_SNIFF_SMTP, "NOOP"},   {TLS_SNIFF_SMTP, "AUTH"},
        {TLS_SNIFF_SMTP, "STARTTLS"}, {TLS_SNIFF_SMTP, "VRFY"},   {TLS_SNIFF_SMTP, "HELP"},
        {TLS_SNIFF_SMTP, "BDAT"},
};

static int tls_sniff_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int tls_sniff_word_char_eq(enum tls_sniff_kind kind, uint8_t got, char want)
{
	if (kind == TLS_SNIFF_SMTP)
		return tls_sniff_upper(got) == want;
	return got == (uint8_t)want;
}

static int tls_sniff_word_end(enum tls_sniff_kind kind, uint8_t c)
{
	if (kind == TLS_SNIFF_SMTP)
		return c == ' ' || c == '\r' || c == '\n';
	return c == ' ';
}

/* The kind of a word that p starts with; NEED_MORE when p is a proper prefix
 * of some word and its terminator; OTHER when no word fits. */
static enum tls_sniff_kind tls_sniff_word(const uint8_t *p, size_t len)
{
	int need_more = 0;

	for (size_t i = 0; i < sizeof tls_sniff_words / sizeof tls_sniff_words[0]; i++) {
		const struct tls_sniff_word *w = &tls_sniff_words[i];
		size_t wlen = strlen(w->word), n = len < wlen ? len : wlen, k;

		for (k = 0; k < n; k++)
			if (!tls_sniff_word_char_eq(w->kind, p[k], w->word[k]))
				break;
		if (k < n)
			continue;
		if (len <= wlen)
			need_more = 1;
		else if (tls_sniff_word_end(w->kind, p[wlen]))
			return w->kind;
	}
	return need_more ? TLS_SNIFF_NEED_MORE : TLS_SNIFF_OTHER;
}

enum tls_sniff_kind tls_sniff(const uint8_t *p, size_t len)
{
	if (len == 0)
		return TLS_SNIFF_NEED_MORE;
	if (p[0] == TLS_SNIFF_CONTENT_HANDSHAKE) {
		/* 0x16 0x03 0x00..0x04: a handshake record of SSL 3.0 .. TLS 1.3. */
		if (len >= 2 && p[1] != 0x03)
			return TLS_SNIFF_OTHER;
		if (len < 3)
			return TLS_SNIFF_NEED_MORE;
		return p[2] <= 0x04 ? TLS_SNIFF_TLS : TLS_SNIFF_OTHER;
	}
	if (p[0] & 0x80) {
		/* SSLv2 record: two length bytes (high bit set), then the message
		 * type, 1 = CLIENT-HELLO. */
		if (len < 3)
			return TLS_SNIFF_NEED_MORE;
		return p[2] == 1 ? TLS_SNIFF_SSL2 : TLS_SNIFF_OTHER;
	}
	return tls_sniff_word(p, len);
}

const char *tls_sniff_kind_name(enum tls_sniff_kind k)
{
	switch (k) {
	case TLS_SNIFF_NEED_MORE:
		return "need_more";
	case TLS_SNIFF_TLS:
		return "tls";
	case TLS_SNIFF_SSL2:
		return "ssl2";
	case TLS_SNIFF_HTTP:
		return "http";
	case TLS_SNIFF_SMTP:
		return "smtp";
	case TLS_SNIFF_OTHER:
		return "other";
	}
	return "other";
}

const char *tls_sniff_version_name(uint16_t v, char *buf, size_t buflen)
{
	static const char *const names[] = {"SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"};

	if (buflen == 0)
		return "";
	if (v >= 0x0300 && v <= 0x0304)
		snprintf(buf, buflen, "%s", names[v - 0x0300]);
	else if (v == 0x0002)
		snprintf(buf, buflen, "SSL 2.0");
	else
		snprintf(buf, buflen, "0x%04x", (unsigned)v);
	return buf;
}

/* ---- ClientHello ---- */

/*
 * Reads the handshake stream carried by consecutive handshake records, so
 * that the parser sees one contiguous message. off counts handshake bytes
 * consumed; containers (the message, a vector) are limits on off. Running out
 * of input sets truncated; a record that cannot carry the rest of a
 * ClientHello sets bad. Either stops all further reads.
 */
struct tls_sniff_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;      /* next input byte */
	size_t rec_left; /* fragment bytes left in the current record */
	size_t off;      /* handshake bytes consumed */
	int truncated;
	int bad;
};

static int tls_sniff_reader_ok(const struct tls_sniff_reader *r)
{
	return !r->truncated && !r->bad;
}

/* Makes the next handshake byte available at r->pos; 0 when it is. */
static int tls_sniff_reader_fill(struct tls_sniff_reader *r)
{
	if (!tls_sniff_reader_ok(r))
		return -1;
	while (r->rec_left == 0) {
		if (r->len - r->pos < TLS_SNIFF_RECORD_HEADER) {
			/* The next record header is cut short; what there is must still
			 * look like one. */
			size_t have = r->len - r->pos;
			if ((have >= 1 && r->p[r->pos] != TLS_SNIFF_CONTENT_HANDSHAKE) ||
			    (have >= 2 && r->p[r->pos + 1] != 0x03))
				r->bad = 1;
			else
				r->truncated = 1;
			return -1;
		}
		const uint8_t *h = r->p + r->pos;
		size_t n = (size_t)h[3] << 8 | h[4];
		/* Only handshake records may carry a ClientHello, and RFC 8446 5.1
		 * forbids empty handshake fragments. */
		if (h[0] != TLS_SNIFF_CONTENT_HANDSHAKE || h[1] != 0x03 || n == 0 || n > TLS_SNIFF_RECORD_MAX) {
			r->bad = 1;
			return -1;
		}
		r->pos += TLS_SNIFF_RECORD_HEADER;
		r->rec_left = n;
	}
	if (r->pos >= r->len) {
		r->truncated = 1;
		return -1;
	}
	return 0;
}

static int tls_sniff_read_u8(struct tls_sniff_reader *r, uint8_t *out)
{
	if (tls_sniff_reader_fill(r) < 0)
		return -1;
	*out = r->p[r->pos++];
	r->rec_left--;
	r->off++;
	return 0;
}

/* A big-endian number of nbytes (1..3) bytes. */
static int tls_sniff_read_uint(struct tls_sniff_reader *r, int nbytes, size_t *out)
{
	size_t v = 0;

	for (int i = 0; i < nbytes; i++) {
		uint8_t b;
		if (tls_sniff_read_u8(r, &b) < 0)
			return -1;
		v = v << 8 | b;
	}
	*out = v;
	return 0;
}

static int tls_sniff_skip(struct tls_sniff_reader *r, size_t n)
{
	while (n > 0) {
		if (tls_sniff_reader_fill(r) < 0)
			return -1;
		size_t avail = r->len - r->pos, take = n;
		if (take > r->rec_left)
			take = r->rec_left;
		if (take > avail)
			take = avail;
		r->pos += take;
		r->rec_left -= take;
		r->off += take;
		n -= take;
	}
	return 0;
}

/* A vector's length field: reads it and checks that the vector fits before
 * end (a limit on r->off). *vend receives where the vector ends. */
static int tls_sniff_read_vector(struct tls_sniff_reader *r, int nbytes, size_t end, size_t *n, size_t *vend)
{
	if (r->off + (size_t)nbytes > end) {
		r->bad = 1;
		return -1;
	}
	if (tls_sniff_read_uint(r, nbytes, n) < 0)
		return -1;
	if (*n > end - r->off) {
		r->bad = 1;
		return -1;
	}
	*vend = r->off + *n;
	return 0;
}

/* Copies n bytes of a name into out (cap bytes) when all of them are
 * printable ASCII other than space and they fit; otherwise out is "". The
 * bytes are consumed either way. Space is refused too, so the name is one
 * token in a key=value log line. */
static int tls_sniff_read_name(struct tls_sniff_reader *r, size_t n, char *out, size_t cap)
{
	int keep = n < cap;

	for (size_t i = 0; i < n; i++) {
		uint8_t c;
		if (tls_sniff_read_u8(r, &c) < 0) {
			out[0] = '\0'; /* no half names */
			return -1;
		}
		if (c <= 0x20 || c >= 0x7f)
			keep = 0;
		if (keep)
			out[i] = (char)c;
	}
	out[keep ? n : 0] = '\0';
	return 0;
}

/* RFC 6066 3: a list of {type, name}; the first host_name is kept. */
static int tls_sniff_ext_server_name(struct tls_sniff_reader *r, size_t end, struct tls_client_hello *out)
{
	size_t n, list_end;
	int seen = 0;

	if (tls_sniff_read_vector(r, 2, end, &n, &list_end) < 0)
		return -1;
	while (r->off < list_end) {
		uint8_t type;
		size_t name_len, name_end;

		/* The loop condition leaves at least the type byte in the list. */
		if (tls_sniff_read_u8(r, &type) < 0 || tls_sniff_read_vector(r, 2, list_end, &name_len, &name_end) < 0)
			return -1;
		if (type == TLS_SNIFF_SNI_HOST_NAME && !seen) {
			seen = 1;
			if (tls_sniff_read_name(r, name_len, out->sni, sizeof out->sni) < 0)
				return -1;
		} else if (tls_sniff_skip(r, name_len) < 0) {
			return -1;
		}
	}
	return 0;
}

/* GREASE values (RFC 8701) are 0x?a?a with equal bytes; they mean nothing. */
static int tls_sniff_is_grease(size_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* RFC 8446 4.2.1: the highest version offered. Real versions (0x03xx) rank
 * above anything else (drafts 0x7fxx, unknown values), which is reported
 * only when nothing real is offered. */
static int tls_sniff_ext_supported_versions(struct tls_sniff_reader *r, size_t end, struct tls_client_hello *out)
{
	size_t n, list_end, best_real = 0, best_other = 0;

	if (tls_sniff_read_vector(r, 1, end, &n, &list_end) < 0)
		return -1;
	if (n % 2 != 0) {
		r->bad = 1;
		return -1;
	}
	while (r->off < list_end) {
		size_t v;
		if (tls_sniff_read_uint(r, 2, &v) < 0)
			return -1;
		if (tls_sniff_is_grease(v))
			continue;
		if ((v >> 8) == 0x03) {
			if (v > best_real)
				best_real = v;
		} else if (v > best_other) {
			best_other = v;
		}
	}
	if (best_real != 0 || best_other != 0)
		out->max_version = (uint16_t)(best_real != 0 ? best_real : best_other);
	return 0;
}

/* RFC 7301 3.1: a list of non-empty protocol names; the first is kept. */
static int tls_sniff_ext_alpn(struct tls_sniff_reader *r, size_t end, struct tls_client_hello *out)
{
	size_t n, list_end, name_len, name_end;

	if (tls_sniff_read_vector(r, 2, end, &n, &list_end) < 0)
		return -1;
	out->has_alpn = 1;
	if (n == 0)
		return 0;
	if (tls_sniff_read_vector(r, 1, list_end, &name_len, &name_end) < 0)
		return -1;
	if (name_len == 0) {
		r->bad = 1;
		return -1;
	}
	if (tls_sniff_read_name(r, name_len, out->alpn_first, sizeof out->alpn_first) < 0)
		return -1;
	return tls_sniff_skip(r, list_end - r->off);
}

/* Known extensions are read at their first occurrence only (RFC 8446 4.2
 * forbids repeats; later ones are skipped), so that facts never change as
 * more of a hello arrives. */
static int tls_sniff_extensions(struct tls_sniff_reader *r, size_t end, struct tls_client_hello *out)
{
	size_t n, list_end;
	int seen_sni = 0, seen_versions = 0, seen_alpn = 0;

	if (tls_sniff_read_vector(r, 2, end, &n, &list_end) < 0)
		return -1;
	if (list_end != end) {
		/* Bytes after the extensions, inside the ClientHello. */
		r->bad = 1;
		return -1;
	}
	while (r->off < list_end) {
		size_t type, ext_len, ext_end;
		int rc;

		if (r->off + 2 > list_end) {
			r->bad = 1;
			return -1;
		}
		if (tls_sniff_read_uint(r, 2, &type) < 0 ||
		    tls_sniff_read_vector(r, 2, list_end, &ext_len, &ext_end) < 0)
			return -1;
		if (type == TLS_SNIFF_EXT_SERVER_NAME && !seen_sni) {
			seen_sni = 1;
			rc = ext_len == 0 ? 0 : tls_sniff_ext_server_name(r, ext_end, out);
		} else if (type == TLS_SNIFF_EXT_SUPPORTED_VERSIONS && !seen_versions) {
			seen_versions = 1;
			rc = tls_sniff_ext_supported_versions(r, ext_end, out);
		} else if (type == TLS_SNIFF_EXT_ALPN && !seen_alpn) {
			seen_alpn = 1;
			rc = tls_sniff_ext_alpn(r, ext_end, out);
		} else {
			rc = tls_sniff_skip(r, ext_len);
		}
		if (rc < 0)
			return -1;
		if (r->off != ext_end) {
			/* The extension's contents did not fill its length. */
			r->bad = 1;
			return -1;
		}
	}
	return 0;
}

/* The body of a handshake-record ClientHello, after its 4-byte header. */
static void tls_sniff_client_hello_body(struct tls_sniff_reader *r, size_t end, struct tls_client_hello *out)
{
	size_t v, n, vend;

	if (r->off + 2 + TLS_SNIFF_RANDOM_LEN > end) {
		r->bad = 1;
		return;
	}
	if (tls_sniff_read_uint(r, 2, &v) < 0)
		return;
	out->legacy_version = (uint16_t)v;
	out->max_version = (uint16_t)v;
	if (tls_sniff_skip(r, TLS_SNIFF_RANDOM_LEN) < 0)
		return;

	if (tls_sniff_read_vector(r, 1, end, &n, &vend) < 0)
		return;
	if (n > TLS_SNIFF_SESSION_ID_MAX) {
		r->bad = 1;
		return;
	}
	if (tls_sniff_skip(r, n) < 0)
		return;

	if (tls_sniff_read_vector(r, 2, end, &n, &vend) < 0)
		return;
	if (n < 2 || n % 2 != 0) {
		r->bad = 1;
		return;
	}
	out->ncipher_suites = (unsigned)(n / 2);
	if (tls_sniff_skip(r, n) < 0)
		return;

	if (tls_sniff_read_vector(r, 1, end, &n, &vend) < 0)
		return;
	if (n < 1) {
		r->bad = 1;
		return;
	}
	if (tls_sniff_skip(r, n) < 0)
		return;

	/* Extensions are optional before TLS 1.3 (RFC 5246 7.4.1.2). */
	if (r->off == end)
		return;
	tls_sniff_extensions(r, end, out);
}

/*
 * SSLv2-compatible CLIENT-HELLO (RFC 6101 E.2; RFC 5246 E.2): 2-byte length
 * with the high bit set, type 1, version, then the lengths of the cipher
 * specs (3 bytes each), the session id and the challenge. It has no
 * extensions, so no SNI or ALPN.
 */
static int tls_sniff_ssl2_hello(const uint8_t *p, size_t len, struct tls_client_hello *out)
{
	size_t rec_len, specs, sid, challenge;

	out->record_version = 0x0002;
	if (len < 3)
		return 0;
	if (p[2] != 1)
		return -1;
	rec_len = (size_t)(p[0] & 0x7f) << 8 | p[1];
	if (len < 11)
		return 0;
	out->legacy_version = (uint16_t)(p[3] << 8 | p[4]);
	out->max_version = out->legacy_version;
	specs = (size_t)p[5] << 8 | p[6];
	sid = (size_t)p[7] << 8 | p[8];
	challenge = (size_t)p[9] << 8 | p[10];
	if (specs % 3 != 0 || (sid != 0 && sid != 16) || challenge < 16 || challenge > 32 ||
	    rec_len != 9 + specs + sid + challenge)
		return -1;
	out->ncipher_suites = (unsigned)(specs / 3);
	out->complete = len >= 2 + rec_len;
	return 0;
}

int tls_sniff_client_hello(const uint8_t *p, size_t len, struct tls_client_hello *out)
{
	struct tls_sniff_reader r = {.p = p, .len = len};
	uint8_t type;
	size_t body_len;

	memset(out, 0, sizeof *out);
	if (len == 0)
		return -1;
	if (p[0] & 0x80)
		return tls_sniff_ssl2_hello(p, len, out);
	if (len >= 3)
		out->record_version = (uint16_t)(p[1] << 8 | p[2]);

	if (tls_sniff_read_u8(&r, &type) == 0 && type != TLS_SNIFF_HANDSHAKE_CLIENT_HELLO)
		r.bad = 1;
	if (tls_sniff_reader_ok(&r) && tls_sniff_read_uint(&r, 3, &body_len) == 0)
		tls_sniff_client_hello_body(&r, r.off + body_len, out);
	if (r.bad)
		return -1;
	out->complete = !r.truncated;
	return 0;
}
