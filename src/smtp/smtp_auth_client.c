/*
 * smtp_auth_client: the client's SASL responses for PLAIN, LOGIN and
 * CRAM-MD5, built on the strict base64 of smtp_auth.c. Pure; every buffer
 * that held a secret is wiped before returning. See smtp_auth.h.
 */
#include "smtp/smtp_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <string.h>

/* RFC 2195: HMAC-MD5 is 16 octets, sent as 32 hex digits. */
#define SMTP_AUTH_CLIENT_MD5_LEN 16

long smtp_auth_client_plain(const char *authzid, const char *user, const char *password, char *out, size_t outcap)
{
	uint8_t msg[3 * SMTP_AUTH_FIELD_MAX];
	size_t a = authzid ? strlen(authzid) : 0, u = strlen(user), p = strlen(password);
	if (a >= SMTP_AUTH_FIELD_MAX || u >= SMTP_AUTH_FIELD_MAX || p >= SMTP_AUTH_FIELD_MAX || u == 0)
		return -1;
	size_t n = 0;
	memcpy(msg + n, authzid ? authzid : "", a);
	n += a;
	msg[n++] = 0;
	memcpy(msg + n, user, u);
	n += u;
	msg[n++] = 0;
	memcpy(msg + n, password, p);
	n += p;
	long r = smtp_auth_b64_encode(msg, n, out, outcap);
	explicit_bzero(msg, sizeof msg);
	return r;
}

long smtp_auth_client_login(const char *field, char *out, size_t outcap)
{
	size_t n = strlen(field);
	if (n >= SMTP_AUTH_FIELD_MAX)
		return -1;
	return smtp_auth_b64_encode((const uint8_t *)field, n, out, outcap);
}

long smtp_auth_client_cram(const char *user, const char *password, const char *challenge_b64, char *out, size_t outcap)
{
	uint8_t challenge[SMTP_AUTH_LINE_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char msg[SMTP_AUTH_FIELD_MAX + 1 + 2 * SMTP_AUTH_CLIENT_MD5_LEN + 1];
	size_t u = strlen(user), p = strlen(password);
	long r = -1;

	if (u == 0 || u >= SMTP_AUTH_FIELD_MAX || p >= SMTP_AUTH_FIELD_MAX)
		return -1;
	long clen = smtp_auth_b64_decode(challenge_b64, strlen(challenge_b64), challenge, sizeof challenge);
	if (clen < 0)
		return -1;
	if (HMAC(EVP_md5(), password, (int)p, challenge, (size_t)clen, md, &mdlen) == NULL ||
	    mdlen != SMTP_AUTH_CLIENT_MD5_LEN)
		goto done;
	int n = snprintf(msg, sizeof msg, "%s ", user);
	for (unsigned int i = 0; i < mdlen; i++)
		n += snprintf(msg + n, sizeof msg - (size_t)n, "%02x", md[i]);
	r = smtp_auth_b64_encode((const uint8_t *)msg, (size_t)n, out, outcap);
done:
	explicit_bzero(md, sizeof md);
	explicit_bzero(msg, sizeof msg);
	return r;
}
