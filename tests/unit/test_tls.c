/*
 * Unit tests for the TLS context: the generated certificate (files, modes,
 * reuse, replacement of a broken one), operator certificates and their
 * errors, tls_parse_version, and real in-process handshakes over a
 * socketpair (an OpenSSL client that trusts the generated certificate,
 * checks host name and IP, and clients that fail in the ways
 * tls_describe_failure() must name).
 *
 * Each test works in its own folder under $MAILSCOPE_TEST_TMP (or /tmp).
 * Tests that need the openssl command line tool skip when it is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include "tls/tls.h"
#include "tls/tls_internal.h"
#include "tls/tls_sniff.h"

/* ---- scratch folders ---- */

struct fixture {
	char path[4096];
};

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	const char *base = getenv("MAILSCOPE_TEST_TMP");

	if (base != NULL && *base != '\0') {
		mkdir(base, 0700);
		snprintf(f->path, sizeof f->path, "%s/tls-XXXXXX", base);
	} else {
		snprintf(f->path, sizeof f->path, "/tmp/mailscope-tls-XXXXXX");
	}
	if (mkdtemp(f->path) == NULL) {
		snprintf(f->path, sizeof f->path, "/tmp/mailscope-tls-XXXXXX");
		assert_non_null(mkdtemp(f->path));
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* "<fixture>/<name>", owned by the caller. */
static char *at(void **state, const char *name)
{
	struct fixture *f = *state;
	return xasprintf("%s/%s", f->path, name);
}

static int have_openssl_cli(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *data = xmalloc(65536);

	assert_non_null(fp);
	*len = fread(data, 1, 65535, fp);
	data[*len] = '\0';
	fclose(fp);
	return data;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = read_file(from, &len);
	FILE *fp = fopen(to, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
	free(data);
}

static int mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static size_t count_entries(const char *dir)
{
	char *cmd = xasprintf("test $(ls -A '%s' | wc -l) -eq ", dir);
	size_t n;
	for (n = 0; n < 10; n++) {
		char *full = xasprintf("%s%zu", cmd, n);
		int rc = system(full);
		free(full);
		if (rc == 0)
			break;
	}
	free(cmd);
	return n;
}

/* ---- contexts ---- */

static struct tls_context *new_ctx(const char *data_dir, const char *hostname, int min_version)
{
	struct tls_config cfg = {.data_dir = data_dir, .hostname = hostname, .min_version = min_version};
	char err[1024] = "";
	struct tls_context *t = tls_context_new(&cfg, err, sizeof err);

	if (t == NULL)
		fail_msg("tls_context_new(%s): %s", data_dir, err);
	assert_int_equal(ERR_peek_error(), 0);
	return t;
}

/* Expects tls_context_new to fail with a message containing each of the
 * NULL-terminated strings that follow. */
static void expect_ctx_error(const struct tls_config *cfg, ...)
{
	char err[1024] = "";
	struct tls_context *t = tls_context_new(cfg, err, sizeof err);
	va_list ap;
	const char *want;

	if (t != NULL)
		fail_msg("tls_context_new succeeded; an error was expected");
	assert_int_equal(ERR_peek_error(), 0);
	va_start(ap, cfg);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(err, want) == NULL)
			fail_msg("error \"%s\" does not contain \"%s\"", err, want);
	va_end(ap);
}

/* "YYYY-MM-DD" ten years from today (UTC). */
static void ten_years_from_now(char *out, size_t outlen)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	tm.tm_year += 10;
	time_t later = timegm(&tm);
	gmtime_r(&later, &tm);
	strftime(out, outlen, "%Y-%m-%d", &tm);
}

static void check_fingerprint_format(const char *fp)
{
	assert_int_equal(strlen(fp), 95);
	for (size_t i = 0; i < 95; i++) {
		if (i % 3 == 2)
			assert_int_equal(fp[i], ':');
		else
			assert_non_null(strchr("0123456789ABCDEF", fp[i]));
	}
}

/* ---- tls_parse_version ---- */

static void test_parse_version(void **state)
{
	int v = -1;

	assert_int_equal(tls_parse_version("1.0", &v), 0);
	assert_int_equal(v, TLS1_VERSION);
	assert_int_equal(tls_parse_version("1.1", &v), 0);
	assert_int_equal(v, TLS1_1_VERSION);
	assert_int_equal(tls_parse_version("1.2", &v), 0);
	assert_int_equal(v, TLS1_2_VERSION);
	assert_int_equal(tls_parse_version("1.3", &v), 0);
	assert_int_equal(v, TLS1_3_VERSION);
	assert_int_equal(tls_parse_version("TLSv1.2", &v), 0);
	assert_int_equal(v, TLS1_2_VERSION);
	assert_int_equal(tls_parse_version("tlsv1.3", &v), 0);
	assert_int_equal(v, TLS1_3_VERSION);

	v = 7;
	assert_int_equal(tls_parse_version("1.4", &v), -1);
	assert_int_equal(tls_parse_version("", &v), -1);
	assert_int_equal(tls_parse_version("1", &v), -1);
	assert_int_equal(tls_parse_version("1.2 ", &v), -1);
	assert_int_equal(tls_parse_version("SSLv3", &v), -1);
	assert_int_equal(tls_parse_version("TLSv", &v), -1);
	assert_int_equal(tls_parse_version(NULL, &v), -1);
	assert_int_equal(v, 7);
}

/* ---- the generated certificate ---- */

static void test_generate_files_and_modes(void **state)
{
	char *dir = at(state, "data"), *cert = at(state, "data/tls-cert.pem"), *key = at(state, "data/tls-key.pem");
	struct tls_context *t = new_ctx(dir, "mail.example.test", 0);

	assert_true(tls_context_generated(t));
	assert_string_equal(tls_context_cert_path(t), cert);
	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(cert), 0644);
	assert_int_equal(mode_of(key), 0600);
	/* No temporary files left behind. */
	assert_int_equal(count_entries(dir), 2);
	check_fingerprint_format(tls_context_fingerprint(t));

	/* The files hold what the context uses. */
	X509 *x;
	EVP_PKEY *pkey;
	char err[512];
	assert_int_equal(tls_cert_read_cert(cert, "certificate file", &x, err, sizeof err), TLS_CERT_READ_OK);
	assert_int_equal(tls_cert_read_key(key, "key file", &pkey, err, sizeof err), TLS_CERT_READ_OK);
	assert_int_equal(X509_check_private_key(x, pkey), 1);
	assert_int_equal(EVP_PKEY_get_id(pkey), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pkey), 256);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	/* 128 random bits of serial: 16 octets, or 17 with a leading zero. */
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	assert_true(ASN1_STRING_length(serial) >= 15 && ASN1_STRING_length(serial) <= 17);
	/* Valid from an hour ago. */
	time_t hour_ago = time(NULL) - 3600 + 60, earlier = time(NULL) - 3600 - 60;
	assert_true(X509_cmp_time(X509_get0_notBefore(x), &hour_ago) < 0);
	assert_true(X509_cmp_time(X509_get0_notBefore(x), &earlier) > 0);
	/* Usable as its own trust anchor, for TLS servers. */
	assert_int_equal(X509_check_ca(x), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "mail.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_host(x, "other.example", 0, 0, NULL), 0);
	X509_free(x);
	EVP_PKEY_free(pkey);

	tls_context_free(t);
	free(dir);
	free(cert);
	free(key);
}

static void test_reuse_keeps_fingerprint(void **state)
{
	char *dir = at(state, "data"), *cert = at(state, "data/tls-cert.pem"), *key = at(state, "data/tls-key.pem");
	struct tls_context *a = new_ctx(dir, "mail.example.test", 0);
	size_t cert_len, key_len;
	char *cert_before = read_file(cert, &cert_len), *key_before = read_file(key, &key_len);

	/* A different host name does not replace a usable certificate. */
	struct tls_context *b = new_ctx(dir, "renamed.example.test", 0);
	assert_string_equal(tls_context_fingerprint(a), tls_context_fingerprint(b));
	assert_true(tls_context_generated(b));
	assert_string_equal(tls_context_describe(a), tls_context_describe(b));

	size_t len;
	char *after = read_file(cert, &len);
	assert_int_equal(len, cert_len);
	assert_memory_equal(after, cert_before, len);
	free(after);
	after = read_file(key, &len);
	assert_int_equal(len, key_len);
	assert_memory_equal(after, key_before, len);
	free(after);

	tls_context_free(a);
	tls_context_free(b);
	free(cert_before);
	free(key_before);
	free(dir);
	free(cert);
	free(key);
}

static void test_fingerprint_matches_openssl_cli(void **state)
{
	if (!have_openssl_cli())
		skip();
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	char *cmd = xasprintf("openssl x509 -noout -fingerprint -sha256 -in '%s'", tls_context_cert_path(t));
	char line[256] = "";
	FILE *p = popen(cmd, "r");

	assert_non_null(p);
	assert_non_null(fgets(line, sizeof line, p));
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	/* "sha256 Fingerprint=AB:CD:..." */
	const char *eq = strchr(line, '=');
	assert_non_null(eq);
	assert_string_equal(eq + 1, tls_context_fingerprint(t));
	tls_context_free(t);
	free(cmd);
	free(dir);
}

static void expect_describe(void **state, const char *sub, const char *hostname, const char *want_prefix)
{
	char *dir = at(state, sub), expires[32], *want;
	struct tls_context *t = new_ctx(dir, hostname, 0);

	ten_years_from_now(expires, sizeof expires);
	want = xasprintf("%s; expires %s", want_prefix, expires);
	assert_string_equal(tls_context_describe(t), want);
	tls_context_free(t);
	free(want);
	free(dir);
}

static void test_describe_and_host_names(void **state)
{
	expect_describe(state, "a", "mail.example.test",
	                "CN=mail.example.test; SAN localhost, 127.0.0.1, ::1, mail.example.test");
	expect_describe(state, "b", NULL, "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "c", "", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "d", "LocalHost", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "e", "bad_name.example", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "f", "-x.example", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "g", "Mail.Example.TEST",
	                "CN=Mail.Example.TEST; SAN localhost, 127.0.0.1, ::1, mail.example.test");
	expect_describe(state, "h", "10.1.2.3", "CN=10.1.2.3; SAN localhost, 127.0.0.1, ::1, 10.1.2.3");
	expect_describe(state, "i", "127.0.0.1", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "j", "::1", "CN=localhost; SAN localhost, 127.0.0.1, ::1");
	expect_describe(state, "k", "2001:db8::25", "CN=2001:db8::25; SAN localhost, 127.0.0.1, ::1, 2001:db8::25");
	expect_describe(state, "l", "mailscope", "CN=mailscope; SAN localhost, 127.0.0.1, ::1, mailscope");
	/* Longer than a CN may be (64), but a fine DNS name. */
	expect_describe(state, "m", "a23456789012345678901234567890.b23456789012345678901234567890.example",
	                "CN=localhost; SAN localhost, 127.0.0.1, ::1, "
	                "a23456789012345678901234567890.b23456789012345678901234567890.example");
}

static void test_dns_name_ok(void **state)
{
	char label63[80], label64[80], long_name[300];

	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	assert_true(tls_cert_dns_name_ok("mail.example.com"));
	assert_true(tls_cert_dns_name_ok("mailscope"));
	assert_true(tls_cert_dns_name_ok("xn--caf-dma.example"));
	assert_true(tls_cert_dns_name_ok("a-b.c-d.e1"));
	assert_true(tls_cert_dns_name_ok("1.2.3.example"));
	assert_true(tls_cert_dns_name_ok(label63));
	assert_false(tls_cert_dns_name_ok(label64));
	assert_false(tls_cert_dns_name_ok(""));
	assert_false(tls_cert_dns_name_ok("localhost"));
	assert_false(tls_cert_dns_name_ok("LOCALHOST"));
	assert_false(tls_cert_dns_name_ok("a..b"));
	assert_false(tls_cert_dns_name_ok(".a"));
	assert_false(tls_cert_dns_name_ok("a."));
	assert_false(tls_cert_dns_name_ok("-a.b"));
	assert_false(tls_cert_dns_name_ok("a-.b"));
	assert_false(tls_cert_dns_name_ok("a_b.c"));
	assert_false(tls_cert_dns_name_ok("a b"));
	assert_false(tls_cert_dns_name_ok("a,DNS:evil.example"));
	assert_false(tls_cert_dns_name_ok("10.0.0.1"));
	assert_false(tls_cert_dns_name_ok("::1"));
	assert_false(tls_cert_dns_name_ok("caf\xc3\xa9.example"));
	for (size_t i = 0; i < sizeof long_name - 1; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[253] = '\0';
	assert_true(tls_cert_dns_name_ok(long_name));
	long_name[253] = 'a';
	long_name[254] = '\0';
	assert_false(tls_cert_dns_name_ok(long_name));
}

/* A generated pair that cannot be used is replaced, with a log line. */
static void expect_regenerated(void **state, void (*damage)(void **state, const char *dir))
{
	char *dir = at(state, "data");
	struct tls_context *a = new_ctx(dir, NULL, 0);
	char old_fp[96];

	snprintf(old_fp, sizeof old_fp, "%s", tls_context_fingerprint(a));
	tls_context_free(a);
	damage(state, dir);
	struct tls_context *b = new_ctx(dir, NULL, 0);
	assert_string_not_equal(tls_context_fingerprint(b), old_fp);
	assert_true(tls_context_generated(b));
	/* And the new pair is kept from then on. */
	struct tls_context *c = new_ctx(dir, NULL, 0);
	assert_string_equal(tls_context_fingerprint(b), tls_context_fingerprint(c));
	tls_context_free(b);
	tls_context_free(c);
	free(dir);
}

static void damage_cert_garbage(void **state, const char *dir)
{
	char *cert = xasprintf("%s/tls-cert.pem", dir);
	write_file(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
	free(cert);
}

static void damage_key_garbage(void **state, const char *dir)
{
	char *key = xasprintf("%s/tls-key.pem", dir);
	write_file(key, "");
	free(key);
}

static void damage_key_missing(void **state, const char *dir)
{
	char *key = xasprintf("%s/tls-key.pem", dir);
	assert_int_equal(unlink(key), 0);
	free(key);
}

static void damage_cert_missing(void **state, const char *dir)
{
	char *cert = xasprintf("%s/tls-cert.pem", dir);
	assert_int_equal(unlink(cert), 0);
	free(cert);
}

static void damage_key_of_other_pair(void **state, const char *dir)
{
	char *other = at(state, "other"), *from = at(state, "other/tls-key.pem");
	char *to = xasprintf("%s/tls-key.pem", dir);
	tls_context_free(new_ctx(other, NULL, 0));
	copy_file(from, to);
	free(other);
	free(from);
	free(to);
}

/* Replaces the pair with one that expired a minute ago. */
static void damage_expired(void **state, const char *dir)
{
	X509 *x;
	EVP_PKEY *pkey;
	char err[256];
	char *cert = xasprintf("%s/tls-cert.pem", dir);
	char *key = xasprintf("%s/tls-key.pem", dir);

	assert_int_equal(tls_cert_generate("localhost", &x, &pkey, err, sizeof err), 0);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), -60));
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
	FILE *fp = fopen(cert, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	fp = fopen(key, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	X509_free(x);
	EVP_PKEY_free(pkey);
	free(cert);
	free(key);
}

static void test_corrupt_cert_regenerated(void **state)
{
	expect_regenerated(state, damage_cert_garbage);
}

static void test_corrupt_key_regenerated(void **state)
{
	expect_regenerated(state, damage_key_garbage);
}

static void test_half_pair_regenerated(void **state)
{
	expect_regenerated(state, damage_key_missing);
}

static void test_half_pair_cert_missing_regenerated(void **state)
{
	expect_regenerated(state, damage_cert_missing);
}

static void test_mismatched_pair_regenerated(void **state)
{
	expect_regenerated(state, damage_key_of_other_pair);
}

static void test_expired_regenerated(void **state)
{
	expect_regenerated(state, damage_expired);
}

/* A generated file that exists but cannot be read is an error: replacing
 * it would break whoever trusts it. */
static void test_unreadable_generated_is_error(void **state)
{
	char *dir = at(state, "data"), *cert = at(state, "data/tls-cert.pem"), *key = at(state, "data/tls-key.pem");
	struct tls_config cfg = {.data_dir = dir};

	tls_context_free(new_ctx(dir, NULL, 0));
	assert_int_equal(unlink(key), 0);
	assert_int_equal(mkdir(key, 0700), 0);
	expect_ctx_error(&cfg, key, "Is a directory", NULL);
	assert_int_equal(rmdir(key), 0);

	if (geteuid() != 0) {
		/* Permissions mean nothing to root. */
		tls_context_free(new_ctx(dir, NULL, 0));
		assert_int_equal(chmod(cert, 0), 0);
		expect_ctx_error(&cfg, cert, "Permission denied", NULL);
		assert_int_equal(chmod(cert, 0644), 0);
	}
	free(dir);
	free(cert);
	free(key);
}

static void test_no_data_dir(void **state)
{
	struct tls_config cfg = {0};
	expect_ctx_error(&cfg, "--tls-cert", "data folder", NULL);
}

static void test_bad_min_version(void **state)
{
	char *dir = at(state, "data");
	struct tls_config cfg = {.data_dir = dir, .min_version = 0x0300};

	expect_ctx_error(&cfg, "--tls-min-version", NULL);
	cfg.min_version = 0x0305;
	expect_ctx_error(&cfg, "--tls-min-version", NULL);
	free(dir);
}

static void test_context_defaults(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	SSL *ssl = tls_context_new_ssl(t);
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);

	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	assert_false(SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET);
	assert_true(SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS);
	assert_true(SSL_CTX_get_security_level(ctx) >= 1);
	assert_false(SSL_is_dtls(ssl));
	SSL_free(ssl);
	tls_context_free(t);

	t = new_ctx(dir, NULL, TLS1_3_VERSION);
	ssl = tls_context_new_ssl(t);
	assert_int_equal(SSL_CTX_get_min_proto_version(SSL_get_SSL_CTX(ssl)), TLS1_3_VERSION);
	SSL_free(ssl);
	tls_context_free(t);

	/* TLS 1.0 works in OpenSSL 3 only at security level 0. */
	t = new_ctx(dir, NULL, TLS1_VERSION);
	ssl = tls_context_new_ssl(t);
	assert_int_equal(SSL_CTX_get_min_proto_version(SSL_get_SSL_CTX(ssl)), TLS1_VERSION);
	assert_int_equal(SSL_CTX_get_security_level(SSL_get_SSL_CTX(ssl)), 0);
	SSL_free(ssl);
	tls_context_free(t);
	free(dir);
}

/* ---- operator certificates ---- */

static void test_operator_pair(void **state)
{
	char *gen = at(state, "gen"), *cert = at(state, "gen/tls-cert.pem"), *key = at(state, "gen/tls-key.pem");
	char *unused = at(state, "unused");
	struct tls_context *g = new_ctx(gen, "op.example", 0);
	struct tls_config cfg = {.cert_file = cert, .key_file = key, .data_dir = unused};
	char err[1024] = "";
	struct tls_context *t = tls_context_new(&cfg, err, sizeof err);

	if (t == NULL)
		fail_msg("%s", err);
	assert_false(tls_context_generated(t));
	assert_string_equal(tls_context_cert_path(t), cert);
	assert_string_equal(tls_context_fingerprint(t), tls_context_fingerprint(g));
	assert_string_equal(tls_context_describe(t), tls_context_describe(g));
	/* Nothing generated in the data folder. */
	struct stat st;
	assert_int_equal(stat(unused, &st), -1);
	tls_context_free(t);
	tls_context_free(g);
	free(gen);
	free(cert);
	free(key);
	free(unused);
}

static void test_operator_key_mismatch(void **state)
{
	char *a = at(state, "a"), *b = at(state, "b");
	char *cert = at(state, "a/tls-cert.pem"), *key = at(state, "b/tls-key.pem");
	struct tls_config cfg = {.cert_file = cert, .key_file = key};

	tls_context_free(new_ctx(a, NULL, 0));
	tls_context_free(new_ctx(b, NULL, 0));
	expect_ctx_error(&cfg, cert, key, "does not match", "--tls-key", NULL);
	free(a);
	free(b);
	free(cert);
	free(key);
}

static void test_operator_only_one_given(void **state)
{
	char *dir = at(state, "data");
	struct tls_config cfg = {.cert_file = "/x/cert.pem", .data_dir = dir};

	expect_ctx_error(&cfg, "--tls-cert was given without --tls-key", NULL);
	cfg.cert_file = NULL;
	cfg.key_file = "/x/key.pem";
	expect_ctx_error(&cfg, "--tls-key was given without --tls-cert", NULL);
	/* Nothing was generated either. */
	struct stat st;
	assert_int_equal(stat(dir, &st), -1);
	free(dir);
}

static void test_operator_missing_files(void **state)
{
	char *gen = at(state, "gen"), *cert = at(state, "gen/tls-cert.pem"), *key = at(state, "gen/tls-key.pem");
	char *missing = at(state, "nope.pem");
	struct tls_config cfg = {.cert_file = missing, .key_file = key};

	tls_context_free(new_ctx(gen, NULL, 0));
	expect_ctx_error(&cfg, missing, "No such file or directory", NULL);
	cfg.cert_file = cert;
	cfg.key_file = missing;
	expect_ctx_error(&cfg, missing, "No such file or directory", NULL);
	cfg.key_file = gen; /* a folder */
	expect_ctx_error(&cfg, gen, "Is a directory", NULL);
	free(gen);
	free(cert);
	free(key);
	free(missing);
}

/* A broken operator file is an error, and it is left as it was. */
static void test_operator_corrupt_is_error(void **state)
{
	char *gen = at(state, "gen"), *key = at(state, "gen/tls-key.pem"), *bad = at(state, "bad.pem");
	struct tls_config cfg = {.cert_file = bad, .key_file = key};
	size_t len;

	tls_context_free(new_ctx(gen, NULL, 0));
	write_file(bad, "hello\n");
	expect_ctx_error(&cfg, bad, "no PEM certificate", NULL);
	char *after = read_file(bad, &len);
	assert_string_equal(after, "hello\n");
	free(after);
	/* A certificate where the key should be. */
	cfg.cert_file = key;
	cfg.key_file = key;
	expect_ctx_error(&cfg, key, "no PEM certificate", NULL);
	free(gen);
	free(key);
	free(bad);
}

static void test_operator_encrypted_key(void **state)
{
	if (!have_openssl_cli())
		skip();
	char *gen = at(state, "gen"), *cert = at(state, "gen/tls-cert.pem"), *key = at(state, "gen/tls-key.pem");
	char *enc = at(state, "enc.pem");
	char *cmd = xasprintf("openssl pkey -in '%s' -aes256 -passout pass:secret -out '%s'", key, enc);
	struct tls_config cfg = {.cert_file = cert, .key_file = enc};

	tls_context_free(new_ctx(gen, NULL, 0));
	run(cmd);
	expect_ctx_error(&cfg, enc, "passphrase", "openssl pkey", NULL);
	free(gen);
	free(cert);
	free(key);
	free(enc);
	free(cmd);
}

/* ---- handshakes over a socketpair ---- */

struct side {
	int codes; /* describe a failure with tls_describe_failure_codes() */
	int done;
	int ok;
	char why[1024];
	char reason[1024];
};

struct handshake {
	SSL *server;
	SSL *client;
	int sfd;
	int cfd;
	struct side s;
	struct side c;
};

static void set_nonblocking(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void hs_start(struct handshake *h, struct tls_context *t, SSL_CTX *client_ctx)
{
	int sv[2];

	memset(h, 0, sizeof *h);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	set_nonblocking(sv[0]);
	set_nonblocking(sv[1]);
	h->sfd = sv[0];
	h->cfd = sv[1];
	h->server = tls_context_new_ssl(t);
	SSL_set_fd(h->server, h->sfd);
	if (client_ctx != NULL) {
		h->client = SSL_new(client_ctx);
		assert_non_null(h->client);
		SSL_set_fd(h->client, h->cfd);
	}
}

/* One handshake step of one side. Both sides share this thread's OpenSSL
 * error queue, so a failure is described (which empties the queue) at
 * once; a client that failed closes its socket, as a real one would. */
static void hs_step(SSL *ssl, int is_server, struct side *side, int fd)
{
	int rc, e;

	if (side->done)
		return;
	rc = is_server ? SSL_accept(ssl) : SSL_connect(ssl);
	if (rc == 1) {
		side->done = side->ok = 1;
		return;
	}
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	side->done = 1;
	if (side->codes) {
		unsigned long codes[8], code;
		size_t n = 0;
		while ((code = ERR_get_error()) != 0)
			if (n < 8)
				codes[n++] = code;
		tls_describe_failure_codes(codes, n, side->why, sizeof side->why, side->reason, sizeof side->reason);
	} else {
		tls_describe_failure(side->why, sizeof side->why, side->reason, sizeof side->reason);
	}
	if (!is_server)
		shutdown(fd, SHUT_RDWR);
}

static void hs_run(struct handshake *h)
{
	for (int i = 0; i < 10000 && !(h->s.done && (h->client == NULL || h->c.done)); i++) {
		if (h->client != NULL)
			hs_step(h->client, 0, &h->c, h->cfd);
		hs_step(h->server, 1, &h->s, h->sfd);
	}
	assert_true(h->s.done);
	assert_int_equal(ERR_peek_error(), 0);
}

static void hs_free(struct handshake *h)
{
	SSL_free(h->server);
	SSL_free(h->client);
	close(h->sfd);
	close(h->cfd);
}

static SSL_CTX *client_ctx(const char *cafile, int max_version)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	assert_non_null(c);
	if (cafile != NULL)
		assert_int_equal(SSL_CTX_load_verify_locations(c, cafile, NULL), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(c, max_version);
	return c;
}

static void fingerprint_of(X509 *x, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
	for (unsigned int i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
}

static void test_handshake_localhost(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	SSL_CTX *cctx = client_ctx(tls_context_cert_path(t), 0);
	struct handshake h;
	struct tls_session_info info;
	static const unsigned char alpn[] = "\x04smtp";

	hs_start(&h, t, cctx);
	SSL_set_tlsext_host_name(h.client, "localhost");
	assert_int_equal(SSL_set1_host(h.client, "localhost"), 1);
	assert_int_equal(SSL_set_alpn_protos(h.client, alpn, sizeof alpn - 1), 0);

	/* The ClientHello as the sandbox sees it before answering. */
	uint8_t first[4096];
	assert_int_equal(SSL_connect(h.client), -1);
	ssize_t n = recv(h.sfd, first, sizeof first, MSG_PEEK);
	assert_true(n > 0);
	assert_int_equal(tls_sniff(first, (size_t)n), TLS_SNIFF_TLS);
	struct tls_client_hello hello;
	assert_int_equal(tls_sniff_client_hello(first, (size_t)n, &hello), 0);
	assert_true(hello.complete);
	assert_string_equal(hello.sni, "localhost");
	assert_int_equal(hello.max_version, 0x0304);
	assert_true(hello.has_alpn);
	assert_string_equal(hello.alpn_first, "smtp");

	hs_run(&h);
	if (!h.s.ok || !h.c.ok)
		fail_msg("server: %s / client: %s", h.s.why, h.c.why);
	assert_int_equal(SSL_get_verify_result(h.client), X509_V_OK);

	tls_session_info_get(h.server, &info);
	assert_string_equal(info.version, "TLSv1.3");
	assert_true(strncmp(info.cipher, "TLS_", 4) == 0);
	assert_string_equal(info.sni, "localhost");
	assert_string_equal(info.alpn, ""); /* offered, but the server selects none */

	/* The client saw the certificate whose fingerprint we print. */
	char fp[128];
	X509 *peer = SSL_get1_peer_certificate(h.client);
	assert_non_null(peer);
	fingerprint_of(peer, fp);
	assert_string_equal(fp, tls_context_fingerprint(t));
	X509_free(peer);

	/* Data flows both ways. */
	char buf[16];
	assert_int_equal(SSL_write(h.client, "EHLO x\r\n", 8), 8);
	assert_int_equal(SSL_read(h.server, buf, sizeof buf), 8);
	assert_memory_equal(buf, "EHLO x\r\n", 8);

	hs_free(&h);
	SSL_CTX_free(cctx);
	tls_context_free(t);
	free(dir);
}

static void expect_ip_handshake(struct tls_context *t, const char *ip)
{
	SSL_CTX *cctx = client_ctx(tls_context_cert_path(t), 0);
	struct handshake h;
	struct tls_session_info info;

	hs_start(&h, t, cctx);
	assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h.client), ip), 1);
	hs_run(&h);
	if (!h.s.ok || !h.c.ok)
		fail_msg("%s: server: %s / client: %s", ip, h.s.why, h.c.why);
	assert_int_equal(SSL_get_verify_result(h.client), X509_V_OK);
	tls_session_info_get(h.server, &info);
	assert_string_equal(info.sni, "");
	assert_string_equal(info.version, "TLSv1.3");
	hs_free(&h);
	SSL_CTX_free(cctx);
}

static void test_handshake_ip(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, "10.9.8.7", 0);

	expect_ip_handshake(t, "127.0.0.1");
	expect_ip_handshake(t, "::1");
	expect_ip_handshake(t, "10.9.8.7");
	tls_context_free(t);
	free(dir);
}

static void test_handshake_host_name(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, "mail.example.test", 0);
	SSL_CTX *cctx = client_ctx(tls_context_cert_path(t), TLS1_2_VERSION);
	struct handshake h;
	struct tls_session_info info;

	hs_start(&h, t, cctx);
	SSL_set_tlsext_host_name(h.client, "mail.example.test");
	assert_int_equal(SSL_set1_host(h.client, "mail.example.test"), 1);
	hs_run(&h);
	if (!h.s.ok || !h.c.ok)
		fail_msg("server: %s / client: %s", h.s.why, h.c.why);
	tls_session_info_get(h.server, &info);
	assert_string_equal(info.version, "TLSv1.2");
	assert_string_equal(info.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_string_equal(info.sni, "mail.example.test");
	hs_free(&h);

	/* A name the certificate does not list. */
	hs_start(&h, t, cctx);
	SSL_set_tlsext_host_name(h.client, "other.example");
	assert_int_equal(SSL_set1_host(h.client, "other.example"), 1);
	hs_run(&h);
	assert_false(h.s.ok);
	assert_false(h.c.ok);
	assert_int_equal(SSL_get_verify_result(h.client), X509_V_ERR_HOSTNAME_MISMATCH);
	assert_non_null(strstr(h.s.why, "the client rejected our certificate (alert: bad certificate)"));
	assert_non_null(strstr(h.s.why, "the name it connected to is not in it"));
	assert_non_null(strstr(h.s.reason, "alert bad certificate"));
	hs_free(&h);

	SSL_CTX_free(cctx);
	tls_context_free(t);
	free(dir);
}

static void test_handshake_untrusted(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	SSL_CTX *cctx = client_ctx(NULL, 0);
	struct handshake h;

	hs_start(&h, t, cctx);
	hs_run(&h);
	assert_false(h.s.ok);
	assert_false(h.c.ok);
	assert_int_equal(SSL_get_verify_result(h.client), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	assert_non_null(strstr(h.s.why, "the client rejected our certificate (alert: unknown CA): trust the mailscope "
	                                "certificate"));
	assert_non_null(strstr(h.s.reason, "tlsv1 alert unknown ca (SSL alert number 48)"));
	assert_non_null(strstr(h.s.reason, "error:0A000418"));
	char why_from_queue[1024];
	snprintf(why_from_queue, sizeof why_from_queue, "%s", h.s.why);
	hs_free(&h);

	/* The same from error codes already taken off the queue. */
	hs_start(&h, t, cctx);
	h.s.codes = 1;
	hs_run(&h);
	assert_false(h.s.ok);
	assert_string_equal(h.s.why, why_from_queue);
	assert_string_equal(h.s.reason, "error:0A000418:SSL routines::tlsv1 alert unknown ca");
	hs_free(&h);
	SSL_CTX_free(cctx);
	tls_context_free(t);
	free(dir);
}

/* A client that cannot go above TLS 1.1. OpenSSL 3 refuses TLS 1.1 on its
 * own at the default security level, so the client is set to level 0. */
static SSL_CTX *tls11_client(void)
{
	SSL_CTX *c = client_ctx(NULL, TLS1_1_VERSION);

	SSL_CTX_set_security_level(c, 0);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

static void test_handshake_old_client_refused(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	SSL_CTX *cctx = tls11_client();
	struct handshake h;

	hs_start(&h, t, cctx);
	hs_run(&h);
	assert_false(h.s.ok);
	assert_false(h.c.ok);
	assert_non_null(strstr(h.s.why, "client offered only an older protocol version; this server requires TLS 1.2 "
	                                "or later (--tls-min-version)"));
	assert_non_null(strstr(h.s.reason, "unsupported protocol"));
	hs_free(&h);
	tls_context_free(t);

	/* The same with a TLS 1.3 minimum and a TLS 1.2 client. */
	SSL_CTX *c12 = client_ctx(NULL, TLS1_2_VERSION);
	SSL_CTX_set_verify(c12, SSL_VERIFY_NONE, NULL);
	t = new_ctx(dir, NULL, TLS1_3_VERSION);
	hs_start(&h, t, c12);
	hs_run(&h);
	assert_false(h.s.ok);
	assert_non_null(strstr(h.s.why, "older protocol version"));
	hs_free(&h);
	SSL_CTX_free(c12);
	tls_context_free(t);

	/* With --tls-min-version 1.0 the old client gets in. */
	t = new_ctx(dir, NULL, TLS1_VERSION);
	hs_start(&h, t, cctx);
	hs_run(&h);
	if (!h.s.ok || !h.c.ok)
		fail_msg("server: %s / client: %s", h.s.why, h.c.why);
	struct tls_session_info info;
	tls_session_info_get(h.server, &info);
	assert_string_equal(info.version, "TLSv1.1");
	hs_free(&h);
	tls_context_free(t);

	SSL_CTX_free(cctx);
	free(dir);
}

static void test_handshake_no_shared_cipher(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	SSL_CTX *cctx = client_ctx(NULL, TLS1_2_VERSION);
	struct handshake h;

	/* RSA key exchange only: nothing an ECDSA certificate can serve. */
	assert_int_equal(SSL_CTX_set_cipher_list(cctx, "AES128-SHA:AES256-GCM-SHA384"), 1);
	hs_start(&h, t, cctx);
	hs_run(&h);
	assert_false(h.s.ok);
	assert_non_null(strstr(h.s.why, "no cipher suite in common with the client"));
	assert_non_null(strstr(h.s.reason, "no shared cipher"));
	hs_free(&h);
	SSL_CTX_free(cctx);
	tls_context_free(t);
	free(dir);
}

/* Bytes a client writes instead of a handshake; then it closes. */
static void expect_raw(struct tls_context *t, const void *bytes, size_t len, const char *want_why,
                       const char *want_reason)
{
	struct handshake h;

	hs_start(&h, t, NULL);
	assert_int_equal(write(h.cfd, bytes, len), (ssize_t)len);
	shutdown(h.cfd, SHUT_WR);
	hs_run(&h);
	assert_false(h.s.ok);
	if (strstr(h.s.why, want_why) == NULL)
		fail_msg("why \"%s\" does not contain \"%s\"", h.s.why, want_why);
	if (strstr(h.s.reason, want_reason) == NULL)
		fail_msg("reason \"%s\" does not contain \"%s\"", h.s.reason, want_reason);
	hs_free(&h);
}

static void test_handshake_not_tls(void **state)
{
	char *dir = at(state, "data");
	struct tls_context *t = new_ctx(dir, NULL, 0);
	static const uint8_t sslv2_tls10[] = {0x80, 0x2b, 0x01, 0x03, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x10, 0x01,
	                                      0x00, 0x80, 0x07, 0x00, 0xc0, 0x00, 0x00, 0x35, 0x00, 0x00, 0x2f, 0x00,
	                                      0x00, 0x0a, 0x00, 0x00, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	                                      0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

	expect_raw(t, "EHLO client.example\r\n", 21, "not TLS: the client sent plaintext", "wrong version number");
	expect_raw(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, "not TLS: the client sent an HTTP request",
	           "http request");
	expect_raw(t, "CONNECT x:465 HTTP/1.1\r\n\r\n", 26, "HTTP proxy request", "https proxy request");
	expect_raw(t, sslv2_tls10, sizeof sslv2_tls10, "older protocol version", "unsupported protocol");
	/* The start of a ClientHello, then the connection closes. */
	expect_raw(t, "\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", 11,
	           "the client closed the connection during the handshake", "unexpected eof");
	tls_context_free(t);
	free(dir);
}

static void test_describe_failure_queue(void **state)
{
	char why[512], reason[512];

	/* Nothing queued: a reset or a silent close. */
	ERR_clear_error();
	tls_describe_failure(why, sizeof why, reason, sizeof reason);
	assert_non_null(strstr(why, "without an error from OpenSSL"));
	assert_string_equal(reason, "");

	/* No row for it: OpenSSL's words. */
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET);
	tls_describe_failure(why, sizeof why, reason, sizeof reason);
	assert_string_equal(why, "the TLS handshake failed: bad packet");
	assert_non_null(strstr(reason, "SSL routines::bad packet"));
	assert_int_equal(ERR_peek_error(), 0);

	/* The first error with a row wins; reason lists them all. */
	ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	ERR_raise(ERR_LIB_SSL, SSL_R_HTTP_REQUEST);
	tls_describe_failure(why, sizeof why, reason, sizeof reason);
	assert_non_null(strstr(why, "no cipher suite in common"));
	assert_non_null(strstr(reason, "bad packet; "));
	assert_non_null(strstr(reason, "no shared cipher; "));
	assert_non_null(strstr(reason, "http request"));
	assert_int_equal(ERR_peek_error(), 0);

	/* Another library's error with the same number is not an SSL reason. */
	ERR_raise(ERR_LIB_X509, SSL_R_NO_SHARED_CIPHER);
	tls_describe_failure(why, sizeof why, reason, sizeof reason);
	assert_null(strstr(why, "no cipher suite"));

	/* Small buffers are filled, not overrun; the queue still empties. */
	char tiny_why[8], tiny_reason[8];
	ERR_raise(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER);
	tls_describe_failure(tiny_why, sizeof tiny_why, tiny_reason, sizeof tiny_reason);
	assert_string_equal(tiny_why, "not TLS");
	assert_int_equal(strlen(tiny_reason), 7);
	assert_int_equal(ERR_peek_error(), 0);
	ERR_raise(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER);
	tls_describe_failure(tiny_why, 0, tiny_reason, 0);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_describe_failure_codes(void **state)
{
	char why[512], reason[512];
	unsigned long codes[3];

	tls_describe_failure_codes(NULL, 0, why, sizeof why, reason, sizeof reason);
	assert_non_null(strstr(why, "without an error from OpenSSL"));
	assert_string_equal(reason, "");

	codes[0] = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_BAD_PACKET);
	codes[1] = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNEXPECTED_EOF_WHILE_READING);
	codes[2] = 0;                               /* ignored */
	ERR_raise(ERR_LIB_SSL, SSL_R_HTTP_REQUEST); /* the queue is not looked at, nor emptied */
	tls_describe_failure_codes(codes, 3, why, sizeof why, reason, sizeof reason);
	assert_non_null(strstr(why, "the client closed the connection during the handshake"));
	assert_string_equal(reason, "error:0A0000F0:SSL routines::bad packet; "
	                            "error:0A000126:SSL routines::unexpected eof while reading");
	assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_R_HTTP_REQUEST);
	ERR_clear_error();

	codes[0] = ERR_PACK(ERR_LIB_SSL, 0, SSL_R_VERSION_TOO_LOW);
	tls_describe_failure_codes(codes, 1, why, sizeof why, reason, sizeof reason);
	assert_non_null(strstr(why, "older protocol version"));
}

static void test_session_info_null(void **state)
{
	struct tls_session_info info;

	memset(&info, 'x', sizeof info);
	tls_session_info_get(NULL, &info);
	assert_string_equal(info.version, "");
	assert_string_equal(info.cipher, "");
	assert_string_equal(info.sni, "");
	assert_string_equal(info.alpn, "");
}

/* An operator chain (leaf + intermediate) made with the openssl tool is
 * served whole: a client that trusts only the CA verifies the leaf. */
static void test_operator_chain_from_openssl_cli(void **state)
{
	if (!have_openssl_cli())
		skip();
	struct fixture *f = *state;
	char *cmd = xasprintf(
	        "cd '%s' && "
	        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
	        "-subj '/CN=Test CA' -days 30 2>/dev/null && "
	        "openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj '/CN=smtp.example.org' "
	        "2>/dev/null && "
	        "printf 'subjectAltName=DNS:smtp.example.org\\n' > ext.cnf && "
	        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 30 "
	        "-extfile ext.cnf 2>/dev/null && cat leaf.pem ca.pem > chain.pem",
	        f->path);
	char *chain = at(state, "chain.pem"), *key = at(state, "leaf.key"), *ca = at(state, "ca.pem");
	struct tls_config cfg = {.cert_file = chain, .key_file = key};
	char err[1024] = "";

	run(cmd);
	struct tls_context *t = tls_context_new(&cfg, err, sizeof err);
	if (t == NULL)
		fail_msg("%s", err);
	assert_false(tls_context_generated(t));
	assert_true(strncmp(tls_context_describe(t), "CN=smtp.example.org; SAN smtp.example.org; expires ", 51) == 0);

	SSL_CTX *cctx = client_ctx(ca, 0);
	struct handshake h;
	hs_start(&h, t, cctx);
	SSL_set_tlsext_host_name(h.client, "smtp.example.org");
	assert_int_equal(SSL_set1_host(h.client, "smtp.example.org"), 1);
	hs_run(&h);
	if (!h.s.ok || !h.c.ok)
		fail_msg("server: %s / client: %s", h.s.why, h.c.why);
	assert_int_equal(SSL_get_verify_result(h.client), X509_V_OK);
	assert_int_equal(sk_X509_num(SSL_get_peer_cert_chain(h.client)), 2);
	hs_free(&h);
	SSL_CTX_free(cctx);
	tls_context_free(t);

	/* The leaf's key with the CA's certificate first: a mismatch. */
	char *ca_key = at(state, "ca.key");
	cfg.cert_file = chain;
	cfg.key_file = ca_key;
	expect_ctx_error(&cfg, ca_key, chain, "does not match", NULL);

	free(ca_key);
	free(cmd);
	free(chain);
	free(key);
	free(ca);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_parse_version),
	        T(test_generate_files_and_modes),
	        T(test_reuse_keeps_fingerprint),
	        T(test_fingerprint_matches_openssl_cli),
	        T(test_describe_and_host_names),
	        T(test_dns_name_ok),
	        T(test_corrupt_cert_regenerated),
	        T(test_corrupt_key_regenerated),
	        T(test_half_pair_regenerated),
	        T(test_half_pair_cert_missing_regenerated),
	        T(test_mismatched_pair_regenerated),
	        T(test_expired_regenerated),
	        T(test_unreadable_generated_is_error),
	        T(test_no_data_dir),
	        T(test_bad_min_version),
	        T(test_context_defaults),
	        T(test_operator_pair),
	        T(test_operator_key_mismatch),
	        T(test_operator_only_one_given),
	        T(test_operator_missing_files),
	        T(test_operator_corrupt_is_error),
	        T(test_operator_encrypted_key),
	        T(test_operator_chain_from_openssl_cli),
	        T(test_handshake_localhost),
	        T(test_handshake_ip),
	        T(test_handshake_host_name),
	        T(test_handshake_untrusted),
	        T(test_handshake_old_client_refused),
	        T(test_handshake_no_shared_cipher),
	        T(test_handshake_not_tls),
	        T(test_describe_failure_queue),
	        T(test_describe_failure_codes),
	        T(test_session_info_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
