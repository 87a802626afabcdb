/*
 * smtp_users: the users file of --users FILE and the check of finished
 * SMTP AUTH exchanges against it. See smtp_auth.h for the contract.
 *
 * File format, one account per line:
 *
 *     # a comment ('#' in the first column)
 *     alice:secret
 *     bob:pass:with:colons
 *
 * A line is split at its first ':', so user names cannot contain ':' and
 * passwords can. Everything after the ':' is the password, byte for byte:
 * leading and trailing spaces and tabs are part of it (a password may end in a
 * space). Lines may end in LF or CRLF, a UTF-8 byte order mark at the start is
 * skipped, and no line (comments included) may be longer than
 * SMTP_USERS_LINE_MAX octets. Lines of only spaces and tabs are blank. Every
 * other line must be valid UTF-8 without control characters (tab allowed),
 * with a non-empty user and password each below SMTP_AUTH_FIELD_MAX octets
 * (longer ones could never be sent in AUTH), and each user once. An empty
 * file is valid and has no users. User names are compared byte for byte
 * (case matters).
 *
 * Promises: only smtp_users_load does I/O; errors name the file, the line
 * and how to fix it; passwords are wiped before their memory is freed;
 * smtp_users_check compares secrets in constant time and does the same work
 * for an unknown user as for a known one. User names are not treated as
 * secret (the lookup is a binary search).
 */
#include "smtp/smtp_auth.h"

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest line (without its line end). Accounts are short; anything longer is a wrong file. */
#define SMTP_USERS_LINE_MAX 1024
/* Largest file we read: far more accounts than a sandbox needs. */
#define SMTP_USERS_FILE_MAX (16u << 20)
/* HMAC-MD5 is 16 octets, 32 hex digits (RFC 2195). */
#define SMTP_USERS_MD5_LEN 16

struct smtp_user {
	char *name;
	char *password;
	size_t password_len;
	size_t line; /* where it was defined, for duplicate errors */
};

struct smtp_users {
	struct smtp_user *v; /* sorted by name */
	size_t n;
};

static void smtp_users_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void smtp_users_fmt(char *dst, size_t cap, const char *fmt, ...)
{
	if (dst == NULL || cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

static void smtp_users_wipe(struct smtp_users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		explicit_bzero(u->v[i].password, u->v[i].password_len);
		free(u->v[i].password);
		free(u->v[i].name);
	}
	free(u->v);
	u->v = NULL;
	u->n = 0;
}

void smtp_users_free(struct smtp_users *u)
{
	if (u == NULL)
		return;
	smtp_users_wipe(u);
	free(u);
}

size_t smtp_users_count(const struct smtp_users *u)
{
	return u == NULL ? 0 : u->n;
}

static int smtp_users_cmp(const void *a, const void *b)
{
	const struct smtp_user *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Reads the whole file from fd into b. 0, or -1 with errno (EFBIG when too large). */
static int smtp_users_read_all(int fd, struct buf *b)
{
	for (;;) {
		buf_reserve(b, 4096);
		ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		b->len += (size_t)r;
		if (b->len > SMTP_USERS_FILE_MAX) {
			errno = EFBIG;
			return -1;
		}
	}
}

/* A control character other than tab (C0 or DEL). */
static int smtp_users_has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return 1;
	}
	return 0;
}

static int smtp_users_blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return 0;
	return 1;
}

/*
 * Parses one line into u (appending). 0, or -1 with err set. The line has
 * no line end; lineno counts from 1.
 */
static int smtp_users_parse_line(struct smtp_users *u, size_t *cap, const char *path, size_t lineno, const char *p,
                                 size_t n, char *err, size_t errlen)
{
	if (n > SMTP_USERS_LINE_MAX) {
		smtp_users_fmt(err, errlen, "%s:%zu: line longer than %d bytes; write one user:password per line", path,
		               lineno, SMTP_USERS_LINE_MAX);
		return -1;
	}
	if (n == 0 || p[0] == '#' || smtp_users_blank(p, n))
		return 0;
	if (!utf8_valid(p, n)) {
		smtp_users_fmt(err, errlen, "%s:%zu: not valid UTF-8; save the file as UTF-8", path, lineno);
		return -1;
	}
	if (smtp_users_has_control(p, n)) {
		smtp_users_fmt(err, errlen, "%s:%zu: control character in the line; remove it (only tab is allowed)",
		               path, lineno);
		return -1;
	}
	const char *colon = memchr(p, ':', n);
	if (colon == NULL) {
		smtp_users_fmt(err, errlen, "%s:%zu: no ':' in the line; write it as user:password", path, lineno);
		return -1;
	}
	size_t ulen = (size_t)(colon - p), plen = n - ulen - 1;
	if (ulen == 0) {
		smtp_users_fmt(err, errlen, "%s:%zu: empty user name; write the line as user:password", path, lineno);
		return -1;
	}
	if (plen == 0) {
		smtp_users_fmt(err, errlen, "%s:%zu: empty password; write the line as user:password", path, lineno);
		return -1;
	}
	if (ulen > SMTP_AUTH_FIELD_MAX - 1 || plen > SMTP_AUTH_FIELD_MAX - 1) {
		smtp_users_fmt(err, errlen, "%s:%zu: %s longer than %d bytes, which SMTP AUTH cannot carry; shorten it",
		               path, lineno, ulen > SMTP_AUTH_FIELD_MAX - 1 ? "user name" : "password",
		               SMTP_AUTH_FIELD_MAX - 1);
		return -1;
	}
	if (u->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		u->v = xrealloc(u->v, *cap * sizeof *u->v);
	}
	struct smtp_user *e = &u->v[u->n++];
	e->name = xstrndup(p, ulen);
	e->password = xstrndup(colon + 1, plen);
	e->password_len = plen;
	e->line = lineno;
	return 0;
}

/* Parses the file's bytes. 0, or -1 with err set. */
static int smtp_users_parse(struct smtp_users *u, const char *path, const char *data, size_t len, char *err,
                            size_t errlen)
{
	size_t cap = 0, lineno = 0, pos = 0;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (smtp_users_parse_line(u, &cap, path, lineno, line, n, err, errlen) < 0)
			return -1;
	}
	if (u->n > 1)
		qsort(u->v, u->n, sizeof *u->v, smtp_users_cmp);
	for (size_t i = 1; i < u->n; i++) {
		if (strcmp(u->v[i - 1].name, u->v[i].name) == 0) {
			smtp_users_fmt(err, errlen,
			               "%s:%zu: user \"%s\" is already defined on line %zu; keep one of the two lines",
			               path, u->v[i].line, u->v[i].name, u->v[i - 1].line);
			return -1;
		}
	}
	return 0;
}

struct smtp_users *smtp_users_load(const char *path, char *err, size_t errlen, char *warning, size_t warnlen)
{
	smtp_users_fmt(err, errlen, "%s", "");
	smtp_users_fmt(warning, warnlen, "%s", "");

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		smtp_users_fmt(err, errlen, "cannot open users file %s: %s; %s", path, strerror(e),
		               e == ENOENT ? "create it with one user:password per line"
		                           : "make it readable by the user mailscope runs as");
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		smtp_users_fmt(err, errlen, "cannot stat users file %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		smtp_users_fmt(err, errlen, "users file %s is not a regular file; give the path of a file", path);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 077) != 0)
		smtp_users_fmt(warning, warnlen, "%s is readable by group or others (mode %04o); chmod 600 %s", path,
		               (unsigned)(st.st_mode & 07777), path);

	struct buf b;
	buf_init(&b);
	int rc = smtp_users_read_all(fd, &b);
	int saved = errno;
	close(fd);
	struct smtp_users *u = NULL;
	if (rc < 0) {
		smtp_users_fmt(err, errlen, "cannot read users file %s: %s", path,
		               saved == EFBIG ? "larger than 16 MiB" : strerror(saved));
	} else {
		u = xcalloc(1, sizeof *u);
		if (smtp_users_parse(u, path, (const char *)b.data, b.len, err, errlen) < 0) {
			smtp_users_free(u);
			u = NULL;
		}
	}
	if (b.data != NULL)
		explicit_bzero(b.data, b.cap);
	buf_free(&b);
	return u;
}

static const struct smtp_user *smtp_users_find(const struct smtp_users *u, const char *name)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, u->v[mid].name);
		if (c == 0)
			return &u->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * 1 when the password equals the stored one. Both are copied into zeroed
 * buffers of the same fixed size and compared whole, lengths included, so
 * the time does not depend on where they differ or on how long either is.
 */
static int smtp_users_password_equal(const char *stored, size_t stored_len, const char *given)
{
	unsigned char a[SMTP_AUTH_FIELD_MAX] = {0}, b[SMTP_AUTH_FIELD_MAX] = {0};
	size_t given_len = strnlen(given, SMTP_AUTH_FIELD_MAX - 1);
	memcpy(a, stored, stored_len);
	memcpy(b, given, given_len);
	int diff = CRYPTO_memcmp(a, b, sizeof a);
	diff |= (int)(stored_len ^ given_len);
	explicit_bzero(a, sizeof a);
	explicit_bzero(b, sizeof b);
	return diff == 0;
}

/* RFC 2195 2: lowercase hex of HMAC-MD5(key = password, text = challenge) compared with the client's. */
static int smtp_users_cram_equal(const char *password, size_t password_len, const char *challenge,
                                 const char *digest_hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * SMTP_USERS_MD5_LEN + 1] = {0};
	static const char digits[] = "0123456789abcdef";

	if (HMAC(EVP_md5(), password, (int)password_len, (const unsigned char *)challenge, strlen(challenge), md,
	         &mdlen) == NULL ||
	    mdlen != SMTP_USERS_MD5_LEN)
		return 0;
	for (unsigned int i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0x0F];
	}
	char given[2 * SMTP_USERS_MD5_LEN + 1] = {0};
	memcpy(given, digest_hex, strnlen(digest_hex, 2 * SMTP_USERS_MD5_LEN));
	int diff = CRYPTO_memcmp(hex, given, sizeof hex);
	explicit_bzero(md, sizeof md);
	explicit_bzero(hex, sizeof hex);
	explicit_bzero(given, sizeof given);
	return diff == 0;
}

int smtp_users_check(const struct smtp_users *u, const struct smtp_auth_exchange *x)
{
	/* An unknown user is compared against this, so that it costs the same as a known one. */
	static const char dummy_password[] = "mailscope-no-such-user";

	if (u == NULL || x == NULL)
		return 0;
	size_t ulen = strnlen(x->user, sizeof x->user);
	size_t slen = strnlen(x->secret, sizeof x->secret);
	if (ulen == 0 || ulen == sizeof x->user || slen == sizeof x->secret)
		return 0; /* not a finished exchange */

	const struct smtp_user *e = smtp_users_find(u, x->user);
	const char *password = e != NULL ? e->password : dummy_password;
	size_t password_len = e != NULL ? e->password_len : sizeof dummy_password - 1;
	int ok = 0;

	switch (x->mech) {
	case SMTP_AUTH_PLAIN:
	case SMTP_AUTH_LOGIN:
		ok = smtp_users_password_equal(password, password_len, x->secret);
		/* RFC 4616 2: acting for someone else is not allowed here, only for oneself. */
		if (x->mech == SMTP_AUTH_PLAIN && x->authzid[0] != '\0' && strcmp(x->authzid, x->user) != 0)
			ok = 0;
		break;
	case SMTP_AUTH_CRAM_MD5:
		if (x->challenge[0] == '\0' || strnlen(x->challenge, sizeof x->challenge) == sizeof x->challenge)
			return 0;
		ok = smtp_users_cram_equal(password, password_len, x->challenge, x->secret);
		if (slen != 2 * SMTP_USERS_MD5_LEN)
			ok = 0;
		break;
	default:
		return 0;
	}
	/* An empty password never logs in (LOGIN lets the client send one). */
	if (slen == 0 || e == NULL)
		ok = 0;
	return ok;
}
