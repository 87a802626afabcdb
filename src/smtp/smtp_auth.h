/*
 * smtp_auth: SMTP AUTH (RFC 4954) with the SASL mechanisms PLAIN (RFC 4616),
 * LOGIN (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195).
 *
 * The exchange is a pure state machine: the session feeds it the AUTH
 * command's initial response and each following client line, and it answers
 * with a challenge to send (334), a finished set of credentials, or an error
 * class the session maps to a reply. Checking the credentials is separate
 * (smtp_users_check), so that --auth any can accept and record them.
 *
 * Secrets (passwords, CRAM-MD5 digests) live only in struct smtp_auth_exchange
 * and are wiped by smtp_auth_exchange_clear(); nothing here logs.
 */
#ifndef MAILSCOPE_SMTP_AUTH_H
#define MAILSCOPE_SMTP_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* RFC 4954 4: AUTH commands and responses of at least 12288 octets. */
#define SMTP_AUTH_LINE_MAX  12288
#define SMTP_AUTH_FIELD_MAX 256 /* user names, authzid, passwords after decoding */

enum smtp_auth_mech { SMTP_AUTH_PLAIN, SMTP_AUTH_LOGIN, SMTP_AUTH_CRAM_MD5, SMTP_AUTH__COUNT };

/* Case-insensitive; 0 on success, -1 for a mechanism we do not offer. */
int smtp_auth_mech_parse(const char *name, size_t len, enum smtp_auth_mech *out);
const char *smtp_auth_mech_name(enum smtp_auth_mech m);

enum smtp_auth_status {
	SMTP_AUTH_CONTINUE = 0, /* send "334 " + challenge */
	SMTP_AUTH_DONE,         /* credentials complete: check them */
	SMTP_AUTH_CANCELLED,    /* client sent "*": 501 5.7.0 */
	SMTP_AUTH_BAD_BASE64,   /* 501 5.5.2 */
	SMTP_AUTH_MALFORMED,    /* decoded but not what the mechanism expects: 501 5.5.2 */
	SMTP_AUTH_TOO_LONG,     /* a field over SMTP_AUTH_FIELD_MAX: 500 5.5.6 */
	SMTP_AUTH_NO_INITIAL,   /* the mechanism does not take an initial response (CRAM-MD5): 501 5.5.4 */
};

struct smtp_auth_exchange {
	enum smtp_auth_mech mech;
	int step;
	char challenge[160];               /* CRAM-MD5: "<nonce.timestamp@host>", not encoded */
	char authzid[SMTP_AUTH_FIELD_MAX]; /* PLAIN only; "" when absent */
	char user[SMTP_AUTH_FIELD_MAX];
	char secret[SMTP_AUTH_FIELD_MAX]; /* PLAIN/LOGIN: the password; CRAM-MD5: the hex digest */
};

/*
 * Starts an exchange. initial is the initial response as sent after the
 * mechanism name ("=" stands for an empty one, RFC 4954 4), or NULL when there
 * was none. On SMTP_AUTH_CONTINUE, challenge receives the base64 text for the
 * 334 reply (possibly ""). nonce and now_s make the CRAM-MD5 challenge unique.
 */
enum smtp_auth_status smtp_auth_start(struct smtp_auth_exchange *x, enum smtp_auth_mech mech, const char *initial,
                                      const char *hostname, uint64_t nonce, int64_t now_s, char *challenge,
                                      size_t challenge_cap);
/* One client line (without CRLF) during the exchange. */
enum smtp_auth_status smtp_auth_step(struct smtp_auth_exchange *x, const char *line, size_t len, char *challenge,
                                     size_t challenge_cap);
void smtp_auth_exchange_clear(struct smtp_auth_exchange *x);

/* Strict base64 (RFC 4648 4: alphabet, padding, no whitespace). Returns the decoded length or -1. */
long smtp_auth_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap);
/* Returns the encoded length (NUL-terminated), or -1 when out is too small. */
long smtp_auth_b64_encode(const uint8_t *in, size_t len, char *out, size_t outcap);

/* ---- the client's side (smtp_auth_client.c) ----
 *
 * Each returns the encoded length (NUL-terminated in out) or -1 when out is
 * too small or an input does not fit the mechanism (a NUL in a user name or
 * password, a challenge that is not base64). out holds a secret afterwards:
 * the caller wipes it (explicit_bzero) once sent, and shows "****" instead.
 */
/* PLAIN (RFC 4616): base64 of authzid NUL user NUL password; authzid may be NULL. */
long smtp_auth_client_plain(const char *authzid, const char *user, const char *password, char *out, size_t outcap);
/* LOGIN: base64 of one field (the user name, then the password). */
long smtp_auth_client_login(const char *field, char *out, size_t outcap);
/* CRAM-MD5 (RFC 2195): base64 of user SP hex(HMAC-MD5(password, challenge)), challenge as sent after "334 ". */
long smtp_auth_client_cram(const char *user, const char *password, const char *challenge_b64, char *out, size_t outcap);

/* ---- users file (--users FILE): "user:password" per line, '#' comments ---- */

struct smtp_users;

/*
 * Loads the file. warning receives a non-empty text when the file can be
 * read by group or others ("... is readable by others (mode 0644); chmod 600 ...").
 * Returns NULL with err filled on unreadable files or bad lines (naming the line number).
 */
struct smtp_users *smtp_users_load(const char *path, char *err, size_t errlen, char *warning, size_t warnlen);
void smtp_users_free(struct smtp_users *u);
size_t smtp_users_count(const struct smtp_users *u);
/* 1 when the finished exchange's credentials are right, 0 otherwise (constant-time comparisons). */
int smtp_users_check(const struct smtp_users *u, const struct smtp_auth_exchange *x);

#endif
