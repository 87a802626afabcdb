/*
 * Unit tests for tls_client: certificates made here with the OpenSSL API (a
 * test CA, a leaf it signed, an expired leaf, a leaf for another name, a
 * self-signed leaf, an RSA leaf), then real handshakes over a socketpair
 * between a plain OpenSSL server and tls_client's client, with verification
 * on and off: the facts (subject, SAN, issuer, dates, days left, key,
 * signature, chain validity with OpenSSL's error, name match, SNI), the
 * failures in words, version selection and a plaintext "server".
 */
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/xmalloc.h"
#include "tls/tls_client.h"

#define DAY (24 * 3600L)

/* ---- certificates ---- */

struct pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	char ca_file[4200];
	char dir[4000];
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A certificate for key, signed by issuer/issuer_key (NULL: self-signed), valid from..until (seconds from now). */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn, const char *san, long from,
                       long until, int is_ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), until);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"mailscope tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	X509 *signer = issuer != NULL ? issuer : x;
	add_ext(x, signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "CA:FALSE");
	add_ext(x, signer, NID_subject_key_identifier, "hash");
	add_ext(x, signer, NID_authority_key_identifier, "keyid");
	if (is_ca)
		add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	else
		add_ext(x, signer, NID_ext_key_usage, "serverAuth");
	if (san != NULL)
		add_ext(x, signer, NID_subject_alt_name, san);
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static int setup(void **state)
{
	struct pki *p = xcalloc(1, sizeof *p);
	const char *base = getenv("MAILSCOPE_TEST_TMP");
	if (base != NULL && *base) {
		mkdir(base, 0700);
		snprintf(p->dir, sizeof p->dir, "%s/tlsc-XXXXXX", base);
	} else {
		snprintf(p->dir, sizeof p->dir, "/tmp/mailscope-tlsc-XXXXXX");
	}
	assert_non_null(mkdtemp(p->dir));
	p->ca_key = EVP_EC_gen("P-256");
	assert_non_null(p->ca_key);
	p->ca = make_cert(p->ca_key, NULL, NULL, "mailscope test CA", NULL, -DAY, 365 * DAY, 1);
	snprintf(p->ca_file, sizeof p->ca_file, "%s/ca.pem", p->dir);
	FILE *f = fopen(p->ca_file, "w");
	assert_non_null(f);
	PEM_write_X509(f, p->ca);
	fclose(f);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pki *p = *state;
	unlink(p->ca_file);
	rmdir(p->dir);
	X509_free(p->ca);
	EVP_PKEY_free(p->ca_key);
	free(p);
	return 0;
}

/* ---- handshakes over a socketpair ---- */

struct hs {
	SSL *server, *client;
	int sfd, cfd;
	int s_done, s_ok, c_done, c_ok;
	char why[1024], reason[1024];
	char sni[256];
};

static int sni_cb(SSL *ssl, int *al, void *arg)
{
	struct hs *h = arg;
	const char *n = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(h->sni, sizeof h->sni, "%s", n ? n : "");
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *server_ctx(X509 *cert, EVP_PKEY *key, int max_version, int min_version)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	assert_non_null(c);
	if (min_version < TLS1_2_VERSION && min_version != 0) {
		SSL_CTX_set_security_level(c, 0);
		SSL_CTX_set_min_proto_version(c, min_version);
	}
	if (max_version)
		SSL_CTX_set_max_proto_version(c, max_version);
	assert_int_equal(SSL_CTX_use_certificate(c, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(c, key), 1);
	return c;
}

static void hs_run(struct hs *h, SSL_CTX *sctx, struct tls_client *tc, const char *name)
{
	int sv[2];
	memset(h, 0, sizeof *h);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	h->sfd = sv[0];
	h->cfd = sv[1];
	if (sctx != NULL) {
		SSL_CTX_set_tlsext_servername_callback(sctx, sni_cb);
		SSL_CTX_set_tlsext_servername_arg(sctx, h);
		h->server = SSL_new(sctx);
		SSL_set_fd(h->server, h->sfd);
	} else {
		/* A plaintext SMTP server: its greeting is all the client gets. */
		assert_int_equal(write(h->sfd, "220 mx.test ESMTP\r\n", 19), 19);
		h->s_done = 1;
	}
	h->client = tls_client_new_ssl(tc, name);
	SSL_set_fd(h->client, h->cfd);
	for (int i = 0; i < 10000 && !(h->c_done && h->s_done); i++) {
		if (!h->c_done) {
			int rc = SSL_connect(h->client);
			int e = SSL_get_error(h->client, rc);
			if (rc == 1) {
				h->c_done = h->c_ok = 1;
			} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				unsigned long codes[8], code;
				size_t n = 0;
				while ((code = ERR_get_error()) != 0)
					if (n < 8)
						codes[n++] = code;
				tls_client_describe_failure(h->client, codes, n, h->why, sizeof h->why, h->reason,
				                            sizeof h->reason);
				h->c_done = 1;
				shutdown(h->cfd, SHUT_RDWR);
			}
		}
		if (!h->s_done) {
			int rc = SSL_accept(h->server);
			int e = SSL_get_error(h->server, rc);
			if (rc == 1)
				h->s_done = h->s_ok = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				h->s_done = 1;
			ERR_clear_error();
		}
	}
	assert_true(h->c_done);
}

static void hs_free(struct hs *h)
{
	SSL_free(h->server);
	SSL_free(h->client);
	close(h->sfd);
	close(h->cfd);
}

static struct tls_client *client(const char *ca_file, int verify, int min, int max)
{
	char err[512];
	struct tls_client_config cfg = {.ca_file = ca_file, .verify = verify, .min_version = min, .max_version = max};
	struct tls_client *t = tls_client_new(&cfg, err, sizeof err);
	if (t == NULL)
		fail_msg("tls_client_new: %s", err);
	return t;
}

/* A leaf signed by the test CA (or self-signed when self is set), and its server context. */
static SSL_CTX *leaf_server(struct pki *p, EVP_PKEY *key, const char *cn, const char *san, long from, long until,
                            int self)
{
	X509 *x = make_cert(key, self ? NULL : p->ca, self ? NULL : p->ca_key, cn, san, from, until, 0);
	SSL_CTX *c = server_ctx(x, key, 0, 0);
	X509_free(x);
	return c;
}

static void test_valid_chain(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	SSL_CTX *s = leaf_server(p, key, "mail.test", "DNS:mail.test,DNS:*.mx.test,IP:127.0.0.1", -DAY, 30 * DAY, 0);
	struct tls_client *c = client(p->ca_file, 1, 0, 0);
	struct hs h;
	struct tls_client_facts f;

	hs_run(&h, s, c, "mail.test");
	assert_true(h.c_ok);
	assert_string_equal(h.sni, "mail.test");
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_string_equal(f.version, "TLSv1.3");
	assert_true(f.cipher[0] != '\0');
	assert_true(f.verified);
	assert_true(f.cert.present);
	assert_true(f.cert.chain_valid);
	assert_int_equal(f.cert.verify_error, 0);
	assert_string_equal(f.cert.verify_text, "");
	assert_true(f.cert.name_match);
	assert_string_equal(f.cert.checked_name, "mail.test");
	assert_string_equal(f.cert.subject, "CN=mail.test,O=mailscope tests");
	assert_string_equal(f.cert.issuer, "CN=mailscope test CA,O=mailscope tests");
	assert_int_equal(f.cert.nsan, 3);
	assert_string_equal(f.cert.san[0], "mail.test");
	assert_string_equal(f.cert.san[1], "*.mx.test");
	assert_string_equal(f.cert.san[2], "127.0.0.1");
	assert_string_equal(f.cert.key, "EC P-256");
	assert_string_equal(f.cert.signature, "ecdsa-with-SHA256");
	assert_true(f.cert.days_left == 29 || f.cert.days_left == 30);
	assert_int_equal(strlen(f.cert.fingerprint), 95);
	assert_int_equal(f.cert.chain_depth, 1);
	regex_t re;
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, f.cert.not_after, 0, NULL, 0), 0);
	assert_int_equal(regexec(&re, f.cert.not_before, 0, NULL, 0), 0);
	regfree(&re);
	tls_client_facts_clear(&f);
	hs_free(&h);

	/* A wildcard and an IP address match too; an IP literal is never sent as SNI. */
	hs_run(&h, s, c, "a.mx.test");
	assert_true(h.c_ok);
	hs_free(&h);
	hs_run(&h, s, c, "127.0.0.1");
	assert_true(h.c_ok);
	assert_string_equal(h.sni, "");
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_true(f.cert.name_match);
	tls_client_facts_clear(&f);
	hs_free(&h);
	/* A wildcard covers one label only. */
	hs_run(&h, s, c, "a.b.mx.test");
	assert_false(h.c_ok);
	hs_free(&h);

	tls_client_free(c);
	SSL_CTX_free(s);
	EVP_PKEY_free(key);
}

static void test_wrong_name(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	SSL_CTX *s = leaf_server(p, key, "mail.test", "DNS:mail.test", -DAY, 30 * DAY, 0);
	struct hs h;
	struct tls_client_facts f;

	/* Verification off: the handshake completes and the facts say what is wrong. */
	struct tls_client *c = client(p->ca_file, 0, 0, 0);
	hs_run(&h, s, c, "other.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_true(f.cert.chain_valid);
	assert_false(f.cert.name_match);
	assert_false(f.verified);
	assert_string_equal(f.cert.checked_name, "other.test");
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);

	/* Verification on: the handshake fails, and the words name both names. */
	c = client(p->ca_file, 1, 0, 0);
	hs_run(&h, s, c, "other.test");
	assert_false(h.c_ok);
	assert_non_null(strstr(h.why, "certificate verification failed: the certificate is for mail.test, not for "
	                              "other.test"));
	assert_non_null(strstr(h.why, "--servername"));
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_true(f.cert.present); /* kept from the verification */
	assert_false(f.cert.name_match);
	assert_string_equal(f.cert.subject, "CN=mail.test,O=mailscope tests");
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);
	EVP_PKEY_free(key);
}

static void test_expired(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	SSL_CTX *s = leaf_server(p, key, "mail.test", "DNS:mail.test", -30 * DAY, -2 * DAY - 3600, 0);
	struct hs h;
	struct tls_client_facts f;

	struct tls_client *c = client(p->ca_file, 0, 0, 0);
	hs_run(&h, s, c, "mail.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_false(f.cert.chain_valid);
	assert_int_equal(f.cert.verify_error, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_string_equal(f.cert.verify_text, "certificate has expired");
	assert_int_equal(f.cert.days_left, -3);
	assert_true(f.cert.name_match);
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);

	c = client(p->ca_file, 1, 0, 0);
	hs_run(&h, s, c, "mail.test");
	assert_false(h.c_ok);
	assert_non_null(strstr(h.why, "certificate verification failed: certificate has expired"));
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);
	EVP_PKEY_free(key);
}

static void test_self_signed_and_untrusted(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	SSL_CTX *s = leaf_server(p, key, "self.test", "DNS:self.test", -DAY, 10 * DAY, 1);
	struct hs h;
	struct tls_client_facts f;

	struct tls_client *c = client(p->ca_file, 0, 0, 0);
	hs_run(&h, s, c, "self.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_false(f.cert.chain_valid);
	assert_int_equal(f.cert.verify_error, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	assert_true(f.cert.name_match);
	assert_string_equal(f.cert.subject, f.cert.issuer);
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);

	c = client(p->ca_file, 1, 0, 0);
	hs_run(&h, s, c, "self.test");
	assert_false(h.c_ok);
	assert_non_null(strstr(h.why, "self-signed certificate"));
	assert_non_null(strstr(h.why, "--ca-file"));
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);

	/* A good chain the client does not trust (the system store has no test CA). */
	s = leaf_server(p, key, "mail.test", "DNS:mail.test", -DAY, 10 * DAY, 0);
	c = client(NULL, 0, 0, 0);
	hs_run(&h, s, c, "mail.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_false(f.cert.chain_valid);
	assert_int_equal(f.cert.verify_error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);
	EVP_PKEY_free(key);
}

static void test_rsa_key(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	assert_non_null(key);
	SSL_CTX *s = leaf_server(p, key, "rsa.test", "DNS:rsa.test", -DAY, 10 * DAY, 1);
	struct tls_client *c = client(NULL, 0, 0, 0);
	struct hs h;
	struct tls_client_facts f;
	hs_run(&h, s, c, "rsa.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_string_equal(f.cert.key, "RSA 2048");
	assert_string_equal(f.cert.signature, "sha256WithRSAEncryption");
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);
	EVP_PKEY_free(key);
}

static void test_versions(void **state)
{
	struct pki *p = *state;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = make_cert(key, p->ca, p->ca_key, "mail.test", "DNS:mail.test", -DAY, 10 * DAY, 0);
	struct hs h;
	struct tls_client_facts f;

	/* TLS 1.2 only, against a server that has 1.3. */
	SSL_CTX *s = server_ctx(x, key, 0, 0);
	struct tls_client *c = client(p->ca_file, 1, TLS1_2_VERSION, TLS1_2_VERSION);
	hs_run(&h, s, c, "mail.test");
	assert_true(h.c_ok);
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_string_equal(f.version, "TLSv1.2");
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);

	/* TLS 1.3 only, against a server that stops at 1.2: refused, in words. */
	s = server_ctx(x, key, TLS1_2_VERSION, 0);
	c = client(p->ca_file, 1, TLS1_3_VERSION, TLS1_3_VERSION);
	hs_run(&h, s, c, "mail.test");
	assert_false(h.c_ok);
	assert_non_null(strstr(h.why, "protocol version"));
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);

	/* TLS 1.0 needs security level 0 on both sides; the client context allows it. */
	s = server_ctx(x, key, TLS1_VERSION, TLS1_VERSION);
	c = client(p->ca_file, 0, TLS1_VERSION, TLS1_VERSION);
	hs_run(&h, s, c, "mail.test");
	if (h.c_ok) {
		tls_client_facts_get(h.client, time(NULL), &f);
		assert_string_equal(f.version, "TLSv1");
		tls_client_facts_clear(&f);
	} else {
		/* Some OpenSSL builds have no TLS 1.0 at all; the failure must still be in words. */
		assert_true(h.why[0] != '\0');
	}
	hs_free(&h);
	tls_client_free(c);
	SSL_CTX_free(s);

	X509_free(x);
	EVP_PKEY_free(key);
	assert_string_equal(tls_version_short_name(TLS1_3_VERSION), "1.3");
	assert_string_equal(tls_version_short_name(0), "");
}

static void test_plaintext_server(void **state)
{
	struct pki *p = *state;
	struct tls_client *c = client(p->ca_file, 1, 0, 0);
	struct hs h;
	struct tls_client_facts f;
	hs_run(&h, NULL, c, "mail.test");
	assert_false(h.c_ok);
	assert_non_null(strstr(h.why, "did not answer in TLS"));
	assert_non_null(strstr(h.why, "STARTTLS"));
	assert_true(h.reason[0] != '\0');
	tls_client_facts_get(h.client, time(NULL), &f);
	assert_false(f.cert.present);
	assert_false(f.cert.chain_valid);
	tls_client_facts_clear(&f);
	hs_free(&h);
	tls_client_free(c);
}

static void test_config_errors(void **state)
{
	struct pki *p = *state;
	char err[512];
	struct tls_client_config cfg = {.ca_file = "/nonexistent/ca.pem", .verify = 1};
	assert_null(tls_client_new(&cfg, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));

	char bad[4200];
	snprintf(bad, sizeof bad, "%s/garbage.pem", p->dir);
	FILE *f = fopen(bad, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	cfg.ca_file = bad;
	assert_null(tls_client_new(&cfg, err, sizeof err));
	assert_non_null(strstr(err, "garbage.pem"));
	unlink(bad);

	struct tls_client_config vers = {.min_version = TLS1_3_VERSION, .max_version = TLS1_2_VERSION};
	assert_null(tls_client_new(&vers, err, sizeof err));
	assert_non_null(strstr(err, "older than"));
	struct tls_client_config odd = {.min_version = 0x0300};
	assert_null(tls_client_new(&odd, err, sizeof err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid_chain),      cmocka_unit_test(test_wrong_name),
	        cmocka_unit_test(test_expired),          cmocka_unit_test(test_self_signed_and_untrusted),
	        cmocka_unit_test(test_rsa_key),          cmocka_unit_test(test_versions),
	        cmocka_unit_test(test_plaintext_server), cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
