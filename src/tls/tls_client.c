/*
 * tls_client: client contexts, per-connection verification state and the
 * certificate facts. See tls_client.h.
 *
 * How verification works: every connection runs OpenSSL's chain
 * verification with our callback, which keeps the leaf certificate and the
 * first chain error for the facts, and checks the name at depth 0. With
 * verify off the callback always answers "go on", so the handshake
 * completes whatever the certificate is; with verify on it answers what
 * OpenSSL (and the name check) decided, and a failure becomes the alert a
 * real client would send. The name is checked by us (X509_check_host /
 * X509_check_ip_asc) and not through SSL_set1_host, so that a wrong name and
 * a broken chain are reported separately.
 */
#include "tls/tls_client.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/xmalloc.h"
#include "tls/tls_internal.h"

#define TLS_CLIENT_DEFAULT_MIN     TLS1_2_VERSION
#define TLS_CLIENT_SECONDS_PER_DAY 86400

/* What one connection's verification saw; lives in the SSL's ex_data and dies with it. */
struct tls_client_conn {
	int verify;
	char name[256];
	X509 *leaf;
	int chain_error; /* first X509_V_ERR_* below depth-0 name checks; X509_V_OK when none */
	int name_failed; /* verify was on and the name did not match */
	int sent;        /* certificates the server sent */
};

struct tls_client {
	SSL_CTX *ctx;
	int verify;
};

static int tls_client_ex_index = -1;
static pthread_once_t tls_client_ex_once = PTHREAD_ONCE_INIT;

static void tls_client_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct tls_client_conn *c = ptr;
	if (c == NULL)
		return;
	X509_free(c->leaf);
	free(c);
}

static void tls_client_ex_init(void)
{
	tls_client_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_client_conn_free);
}

static struct tls_client_conn *tls_client_conn_of(SSL *ssl)
{
	pthread_once(&tls_client_ex_once, tls_client_ex_init);
	return ssl != NULL && tls_client_ex_index >= 0 ? SSL_get_ex_data(ssl, tls_client_ex_index) : NULL;
}

const char *tls_version_short_name(int version)
{
	switch (version) {
	case TLS1_VERSION:
		return "1.0";
	case TLS1_1_VERSION:
		return "1.1";
	case TLS1_2_VERSION:
		return "1.2";
	case TLS1_3_VERSION:
		return "1.3";
	default:
		return "";
	}
}

/* ---- names ---- */

static int tls_client_is_ip(const char *name)
{
	unsigned char b[16];
	return inet_pton(AF_INET, name, b) == 1 || inet_pton(AF_INET6, name, b) == 1;
}

int tls_cert_name_matches(X509 *x, const char *name)
{
	int r;
	if (x == NULL || name == NULL || *name == '\0')
		return 0;
	if (tls_client_is_ip(name))
		r = X509_check_ip_asc(x, name, 0);
	else
		r = X509_check_host(x, name, strlen(name), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	ERR_clear_error();
	return r == 1;
}

/* ---- verification ---- */

static int tls_client_verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_client_conn *c = tls_client_conn_of(ssl);
	if (c == NULL)
		return ok;
	if (c->leaf == NULL) {
		X509 *leaf = X509_STORE_CTX_get0_cert(store);
		STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(store);
		if (leaf != NULL && X509_up_ref(leaf) == 1)
			c->leaf = leaf;
		c->sent = 1 + (untrusted != NULL ? sk_X509_num(untrusted) : 0);
		/* OpenSSL passes the leaf separately; the untrusted stack holds the whole chain as sent. */
		if (untrusted != NULL && sk_X509_num(untrusted) > 0 && X509_cmp(sk_X509_value(untrusted, 0), leaf) == 0)
			c->sent--;
	}
	if (!ok && c->chain_error == X509_V_OK)
		c->chain_error = X509_STORE_CTX_get_error(store);
	if (!c->verify)
		return 1;
	if (ok && X509_STORE_CTX_get_error_depth(store) == 0 && c->name[0] != '\0' && !c->name_failed &&
	    !tls_cert_name_matches(X509_STORE_CTX_get_current_cert(store), c->name)) {
		c->name_failed = 1;
		X509_STORE_CTX_set_error(store, tls_client_is_ip(c->name) ? X509_V_ERR_IP_ADDRESS_MISMATCH
		                                                          : X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return ok;
}

/* ---- the context ---- */

static int tls_client_version_ok(int v)
{
	return v == 0 || v == TLS1_VERSION || v == TLS1_1_VERSION || v == TLS1_2_VERSION || v == TLS1_3_VERSION;
}

struct tls_client *tls_client_new(const struct tls_client_config *cfg, char *err, size_t errlen)
{
	int min = cfg->min_version ? cfg->min_version : TLS_CLIENT_DEFAULT_MIN;
	int max = cfg->max_version;
	char why[256];

	pthread_once(&tls_client_ex_once, tls_client_ex_init);
	if (!tls_client_version_ok(min) || !tls_client_version_ok(max)) {
		snprintf(err, errlen, "unsupported TLS version: use 1.0, 1.1, 1.2 or 1.3");
		return NULL;
	}
	if (max != 0 && max < min) {
		snprintf(err, errlen, "the newest TLS version allowed (%s) is older than the oldest (%s)",
		         tls_version_short_name(max), tls_version_short_name(min));
		return NULL;
	}
	if (cfg->ca_file != NULL) {
		X509 *probe;
		if (tls_cert_read_cert(cfg->ca_file, "--ca-file", &probe, err, errlen) != TLS_CERT_READ_OK)
			return NULL;
		X509_free(probe);
	}

	ERR_clear_error();
	struct tls_client *t = xcalloc(1, sizeof *t);
	t->verify = cfg->verify;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->ctx == NULL) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(err, errlen, "cannot create a TLS client context: %s", why);
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx, min);
	SSL_CTX_set_max_proto_version(t->ctx, max);
	if (min < TLS1_2_VERSION) {
		/* Only for finding out what a server accepts (see tls_client.h): old versions, old servers. */
		SSL_CTX_set_security_level(t->ctx, 0);
		SSL_CTX_set_options(t->ctx, SSL_OP_LEGACY_SERVER_CONNECT);
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Every connection pays a full handshake: what is measured and probed is the server's handshake. */
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, tls_client_verify_cb);
	if (cfg->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1) {
			tls_context_error_text(why, sizeof why, 0);
			snprintf(err, errlen, "cannot use the certificates in %s (--ca-file): %s", cfg->ca_file, why);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(err, errlen, "cannot load the system's trusted certificates: %s (give --ca-file)", why);
		goto fail;
	}
	ERR_clear_error();
	return t;
fail:
	ERR_clear_error();
	tls_client_free(t);
	return NULL;
}

void tls_client_free(struct tls_client *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int tls_client_verifies(const struct tls_client *t)
{
	return t->verify;
}

SSL *tls_client_new_ssl(struct tls_client *t, const char *servername)
{
	SSL *ssl = SSL_new(t->ctx);
	struct tls_client_conn *c = xcalloc(1, sizeof *c);

	if (ssl == NULL) {
		fprintf(stderr, "mailscope: out of memory (SSL_new)\n");
		abort();
	}
	c->verify = t->verify;
	c->chain_error = X509_V_OK;
	if (servername != NULL)
		snprintf(c->name, sizeof c->name, "%s", servername);
	SSL_set_ex_data(ssl, tls_client_ex_index, c);
	SSL_set_connect_state(ssl);
	if (c->name[0] != '\0' && !tls_client_is_ip(c->name))
		SSL_set_tlsext_host_name(ssl, c->name);
	ERR_clear_error();
	return ssl;
}

/* ---- certificate facts ---- */

static void tls_client_name_text(X509_NAME *name, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	out[0] = '\0';
	if (b == NULL || name == NULL) {
		BIO_free(b);
		return;
	}
	/* RFC 2253 escapes everything outside ASCII, so the text is safe to print. */
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		int n = BIO_read(b, out, (int)outlen - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

static void tls_client_time_text(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;
	out[0] = '\0';
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t tls_client_days_left(const ASN1_TIME *not_after, int64_t now_s)
{
	ASN1_TIME *now = ASN1_TIME_set(NULL, (time_t)now_s);
	int days = 0, secs = 0;
	int64_t left = 0;
	if (now != NULL && not_after != NULL && ASN1_TIME_diff(&days, &secs, now, not_after) == 1) {
		int64_t total = (int64_t)days * TLS_CLIENT_SECONDS_PER_DAY + secs;
		/* Whole days, rounded down: expired an hour ago is -1, not 0. */
		left = total >= 0 ? total / TLS_CLIENT_SECONDS_PER_DAY
		                  : -((-total + TLS_CLIENT_SECONDS_PER_DAY - 1) / TLS_CLIENT_SECONDS_PER_DAY);
	}
	ASN1_TIME_free(now);
	return left;
}

static void tls_client_key_text(X509 *x, char *out, size_t outlen)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64];
	size_t glen = 0;

	out[0] = '\0';
	if (pk == NULL)
		return;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		snprintf(out, outlen, "RSA %d", EVP_PKEY_get_bits(pk));
		break;
	case EVP_PKEY_DSA:
		snprintf(out, outlen, "DSA %d", EVP_PKEY_get_bits(pk));
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen) == 1) {
			const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
			snprintf(out, outlen, "EC %.24s", nist != NULL ? nist : group);
		} else {
			snprintf(out, outlen, "EC %d", EVP_PKEY_get_bits(pk));
		}
		break;
	case EVP_PKEY_ED25519:
		snprintf(out, outlen, "Ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(out, outlen, "Ed448");
		break;
	default:
		snprintf(out, outlen, "%s %d", OBJ_nid2sn(EVP_PKEY_get_base_id(pk)), EVP_PKEY_get_bits(pk));
		break;
	}
}

static void tls_client_add_san(struct tls_cert_facts *f, const char *s)
{
	if (f->nsan >= TLS_CERT_SAN_MAX)
		return;
	f->san = xrealloc(f->san, (f->nsan + 1) * sizeof *f->san);
	f->san[f->nsan++] = xstrdup(s);
}

static void tls_client_sans(X509 *x, struct tls_cert_facts *f)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gen = sk_GENERAL_NAME_value(names, i);
		int type;
		const ASN1_STRING *s = GENERAL_NAME_get0_value(gen, &type);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		int n = ASN1_STRING_length(s);
		char text[300];
		if (type == GEN_DNS && n > 0 && (size_t)n < sizeof text) {
			for (int k = 0; k < n; k++)
				text[k] = d[k] > 0x20 && d[k] < 0x7f ? (char)d[k] : '?';
			text[n] = '\0';
			tls_client_add_san(f, text);
		} else if (type == GEN_IPADD && (n == 4 || n == 16) &&
		           inet_ntop(n == 4 ? AF_INET : AF_INET6, d, text, sizeof text) != NULL) {
			tls_client_add_san(f, text);
		}
	}
	GENERAL_NAMES_free(names);
}

static void tls_client_fingerprint(X509 *x, char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t pos = 0;
	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) != 1)
		return;
	for (unsigned int i = 0; i < n && pos + 4 <= outlen; i++)
		pos += (size_t)snprintf(out + pos, outlen - pos, "%02X%s", md[i], i + 1 < n ? ":" : "");
}

void tls_cert_facts_from_x509(X509 *x, const char *name, int64_t now_s, struct tls_cert_facts *out)
{
	memset(out, 0, sizeof *out);
	out->chain_valid = 1;
	if (x == NULL)
		return;
	out->present = 1;
	tls_client_name_text(X509_get_subject_name(x), out->subject, sizeof out->subject);
	tls_client_name_text(X509_get_issuer_name(x), out->issuer, sizeof out->issuer);
	tls_client_sans(x, out);
	tls_client_time_text(X509_get0_notBefore(x), out->not_before, sizeof out->not_before);
	tls_client_time_text(X509_get0_notAfter(x), out->not_after, sizeof out->not_after);
	out->days_left = tls_client_days_left(X509_get0_notAfter(x), now_s);
	tls_client_key_text(x, out->key, sizeof out->key);
	const char *sig = OBJ_nid2ln(X509_get_signature_nid(x));
	snprintf(out->signature, sizeof out->signature, "%s", sig != NULL ? sig : "");
	tls_client_fingerprint(x, out->fingerprint, sizeof out->fingerprint);
	out->chain_depth = 1;
	if (name != NULL && *name != '\0') {
		snprintf(out->checked_name, sizeof out->checked_name, "%s", name);
		out->name_match = tls_cert_name_matches(x, name);
	}
	ERR_clear_error();
}

void tls_cert_facts_clear(struct tls_cert_facts *f)
{
	for (size_t i = 0; i < f->nsan; i++)
		free(f->san[i]);
	free(f->san);
	memset(f, 0, sizeof *f);
}

void tls_client_facts_get(SSL *ssl, int64_t now_s, struct tls_client_facts *out)
{
	struct tls_client_conn *c = tls_client_conn_of(ssl);
	memset(out, 0, sizeof *out);
	if (ssl == NULL)
		return;
	if (SSL_is_init_finished(ssl)) {
		const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
		snprintf(out->version, sizeof out->version, "%s", SSL_get_version(ssl));
		snprintf(out->cipher, sizeof out->cipher, "%s", cipher != NULL ? SSL_CIPHER_get_name(cipher) : "");
	}
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	if (leaf == NULL && c != NULL)
		leaf = c->leaf;
	tls_cert_facts_from_x509(leaf, c != NULL ? c->name : NULL, now_s, &out->cert);
	if (leaf == NULL) {
		out->cert.chain_valid = 0;
		return;
	}
	int err = c != NULL ? c->chain_error : (int)SSL_get_verify_result(ssl);
	out->cert.verify_error = err;
	out->cert.chain_valid = err == X509_V_OK;
	if (err != X509_V_OK)
		snprintf(out->cert.verify_text, sizeof out->cert.verify_text, "%s", X509_verify_cert_error_string(err));
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	if (chain != NULL)
		out->cert.chain_depth = sk_X509_num(chain);
	else if (c != NULL && c->sent > 0)
		out->cert.chain_depth = c->sent;
	out->verified = out->cert.chain_valid && (out->cert.checked_name[0] == '\0' || out->cert.name_match);
}

void tls_client_facts_clear(struct tls_client_facts *f)
{
	tls_cert_facts_clear(&f->cert);
	memset(f, 0, sizeof *f);
}

/* ---- failures in words ---- */

#define TLS_CLIENT_NOT_TLS                                                                                             \
	"the server did not answer in TLS (it sent plaintext, most likely an SMTP greeting): this port expects "       \
	"STARTTLS or no TLS; use STARTTLS here (--tls starttls), or the implicit-TLS port (465)"

static const struct tls_failure_row tls_client_failures[] = {
        {SSL_R_WRONG_VERSION_NUMBER, TLS_CLIENT_NOT_TLS},
        {SSL_R_PACKET_LENGTH_TOO_LONG, TLS_CLIENT_NOT_TLS},
        {SSL_R_UNKNOWN_PROTOCOL, TLS_CLIENT_NOT_TLS},
        {SSL_R_RECORD_LENGTH_MISMATCH, TLS_CLIENT_NOT_TLS},
        {SSL_R_HTTP_REQUEST, TLS_CLIENT_NOT_TLS},
        {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
         "the server refused the TLS versions we offered (alert: protocol version): it needs a version outside the "
         "allowed range"},
        {SSL_R_UNSUPPORTED_PROTOCOL,
         "the server chose a TLS version outside the allowed range (an old server that only speaks TLS 1.0/1.1?)"},
        {SSL_R_VERSION_TOO_LOW, "the server chose a TLS version older than the allowed minimum"},
        {SSL_R_NO_PROTOCOLS_AVAILABLE,
         "no TLS version is available with these settings (TLS 1.0 and 1.1 need OpenSSL's security level 0)"},
        {SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE,
         "the server aborted the handshake (alert: handshake failure): no protocol version, cipher suite or key "
         "exchange group in common"},
        {SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY,
         "the server found our parameters too weak (alert: insufficient security)"},
        {SSL_R_NO_SHARED_CIPHER, "no cipher suite in common with the server"},
        {SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED,
         "the server does not support secure renegotiation (RFC 5746), which OpenSSL 3 requires: the server's TLS "
         "library is very old"},
        {SSL_R_DH_KEY_TOO_SMALL, "the server's Diffie-Hellman key is too small for OpenSSL's security level"},
        {SSL_R_EE_KEY_TOO_SMALL, "the server's certificate key is too small for OpenSSL's security level"},
        {SSL_R_CA_KEY_TOO_SMALL, "a CA key in the server's chain is too small for OpenSSL's security level"},
        {SSL_R_CA_MD_TOO_WEAK,
         "a certificate in the server's chain is signed with a digest that is too weak (SHA-1, MD5)"},
        {SSL_R_TLSV1_UNRECOGNIZED_NAME,
         "the server does not know the name we asked for in SNI (alert: unrecognized name): check --servername"},
        {SSL_R_TLSV1_ALERT_INTERNAL_ERROR, "the server failed internally during the handshake (alert: internal error)"},
        {SSL_R_TLSV1_ALERT_ACCESS_DENIED, "the server refused the connection (alert: access denied)"},
        {SSL_R_TLSV1_ALERT_DECODE_ERROR, "the server could not decode our handshake (alert: decode error)"},
        {SSL_R_UNEXPECTED_EOF_WHILE_READING,
         "the server closed the connection during the TLS handshake (some servers do so when they accept nothing "
         "we offered)"},
};

/* "certificate verification failed: ..." with the fix, from what the verify callback saw. */
static int tls_client_describe_verify(SSL *ssl, char *why, size_t whylen)
{
	struct tls_client_conn *c = tls_client_conn_of(ssl);
	if (c == NULL)
		return -1;
	if (c->chain_error != X509_V_OK) {
		const char *fix;
		switch (c->chain_error) {
		case X509_V_ERR_CERT_HAS_EXPIRED:
			fix = "the server must renew its certificate (or skip verification with --insecure to test "
			      "anyway)";
			break;
		case X509_V_ERR_CERT_NOT_YET_VALID:
			fix = "the certificate is not valid yet: check the clocks of both machines";
			break;
		case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
			fix = "trust the server's certificate or its CA with --ca-file FILE (for mailscope serve: "
			      "DATA/tls-cert.pem), let the server send its intermediate certificates, or skip "
			      "verification with --insecure";
			break;
		default:
			fix = "fix the server's certificate chain, or skip verification with --insecure";
			break;
		}
		snprintf(why, whylen, "certificate verification failed: %s: %s",
		         X509_verify_cert_error_string(c->chain_error), fix);
		return 0;
	}
	if (c->name_failed) {
		struct tls_cert_facts f;
		tls_cert_facts_from_x509(c->leaf, NULL, 0, &f);
		char names[200] = "";
		size_t pos = 0;
		for (size_t i = 0; i < f.nsan && pos + 2 < sizeof names; i++)
			pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s%s", i ? ", " : "", f.san[i]);
		snprintf(why, whylen,
		         "certificate verification failed: the certificate is for %s, not for %s: connect with a name "
		         "it "
		         "carries (--servername NAME), or skip verification with --insecure",
		         names[0] ? names : (f.subject[0] ? f.subject : "other names"), c->name);
		tls_cert_facts_clear(&f);
		return 0;
	}
	return -1;
}

void tls_client_describe_failure(SSL *ssl, const unsigned long *codes, size_t n, char *why, size_t whylen, char *reason,
                                 size_t reasonlen)
{
	tls_failure_describe_codes(tls_client_failures, sizeof tls_client_failures / sizeof tls_client_failures[0],
	                           codes, n, why, whylen, reason, reasonlen);
	for (size_t i = 0; i < n; i++) {
		if (ERR_GET_LIB(codes[i]) == ERR_LIB_SSL &&
		    ERR_GET_REASON(codes[i]) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
			tls_client_describe_verify(ssl, why, whylen);
			return;
		}
	}
}
