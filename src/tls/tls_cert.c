/*
 * tls_cert: the certificate mailscope makes for itself when the operator
 * gives none, and reading PEM certificates and keys with messages that name
 * the file.
 *
 * The generated pair lives in the data folder as tls-cert.pem (0644) and
 * tls-key.pem (0600) and is reused across restarts, so that a client that
 * pinned or trusted it keeps working. It is replaced only when it cannot be
 * used: missing, half of a pair, unparseable, mismatched or expired; each
 * replacement is logged with its reason. A file that exists but cannot be
 * read (permissions) is an error: replacing it would break clients that
 * trust it, and the operator can fix or delete it.
 *
 * The certificate is its own trust anchor: clients pin it with a CA file
 * (Python's create_default_context(cafile=...), curl --cacert, openssl
 * s_client -CAfile). OpenSSL accepts a self-signed certificate as an anchor
 * only if it may sign certificates, so it carries basicConstraints
 * CA:TRUE (critical), keyUsage digitalSignature + keyCertSign (critical),
 * extendedKeyUsage serverAuth, and subject/authority key identifiers, which
 * also satisfies the X509_STRICT checks newer Pythons turn on. Files are
 * written to a temporary name (created O_EXCL, mode 0600) and renamed into
 * place, so a crash never leaves half a file under the real name.
 */
#include "tls/tls_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/xmalloc.h"

#define TLS_CERT_VALID_YEARS      10
#define TLS_CERT_BACKDATE_SECONDS 3600 /* for clients whose clock lags ours */
#define TLS_CERT_SERIAL_BYTES     16   /* 128 random bits (RFC 5280 4.1.2.2 allows up to 20 octets) */
#define TLS_CERT_CN_MAX           64   /* RFC 5280 ub-common-name */
#define TLS_CERT_DNS_NAME_MAX     253
#define TLS_CERT_DNS_LABEL_MAX    63
#define TLS_CERT_ORGANIZATION     "mailscope"
#define TLS_CERT_DEFAULT_NAME     "localhost"

/* ---- reading ---- */

/* OpenSSL asks for a passphrase through this; we never have one. */
static int tls_cert_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	*(int *)u = 1;
	return -1;
}

static FILE *tls_cert_open(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(EISDIR));
		fclose(f);
		return NULL;
	}
	return f;
}

enum tls_cert_read tls_cert_read_cert(const char *path, const char *what, X509 **out, char *err, size_t errlen)
{
	char why[256];
	int asked = 0;
	FILE *f = tls_cert_open(path, what, err, errlen);

	*out = NULL;
	if (f == NULL)
		return TLS_CERT_READ_IO;
	ERR_clear_error();
	*out = PEM_read_X509(f, NULL, tls_cert_no_passphrase, &asked);
	fclose(f);
	if (*out == NULL) {
		tls_context_error_text(why, sizeof why, 0);
		snprintf(
		        err, errlen,
		        "%s %s holds no PEM certificate (%s): give a file that starts with -----BEGIN CERTIFICATE-----",
		        what, path, why[0] ? why : "empty");
		return TLS_CERT_READ_BAD;
	}
	return TLS_CERT_READ_OK;
}

enum tls_cert_read tls_cert_read_key(const char *path, const char *what, EVP_PKEY **out, char *err, size_t errlen)
{
	char why[256];
	int asked = 0;
	FILE *f = tls_cert_open(path, what, err, errlen);

	*out = NULL;
	if (f == NULL)
		return TLS_CERT_READ_IO;
	ERR_clear_error();
	*out = PEM_read_PrivateKey(f, NULL, tls_cert_no_passphrase, &asked);
	fclose(f);
	if (*out != NULL)
		return TLS_CERT_READ_OK;
	tls_context_error_text(why, sizeof why, 0);
	if (asked)
		snprintf(err, errlen,
		         "%s %s is protected by a passphrase; mailscope needs it unencrypted: "
		         "openssl pkey -in %s -out key-plain.pem",
		         what, path, path);
	else
		snprintf(err, errlen,
		         "%s %s holds no PEM private key (%s): give a file that starts with -----BEGIN ... PRIVATE "
		         "KEY-----",
		         what, path, why[0] ? why : "empty");
	return TLS_CERT_READ_BAD;
}

/* ---- generating ---- */

int tls_cert_dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	int last_numeric = 1;

	if (len == 0 || len > TLS_CERT_DNS_NAME_MAX || strcasecmp(s, TLS_CERT_DEFAULT_NAME) == 0)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			/* A label is 1-63 characters and neither starts nor ends with '-'. */
			if (label == 0 || label > TLS_CERT_DNS_LABEL_MAX || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			if (c == '\0')
				break;
			label = 0;
			last_numeric = 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c < '0' || c > '9')
			last_numeric = 0;
		label++;
	}
	/* An all-numeric last label is an IPv4 address, not a name (RFC 3696 2). */
	return !last_numeric;
}

/* An IP address other than the loopback ones every certificate names. */
static int tls_cert_extra_ip(const char *s)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, s, a) == 1)
		return strcmp(s, "127.0.0.1") != 0;
	if (inet_pton(AF_INET6, s, a) == 1)
		return memcmp(a, &in6addr_loopback, sizeof a) != 0;
	return 0;
}

static int tls_cert_add_dns(GENERAL_NAMES *names, const char *dns)
{
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	char lower[TLS_CERT_DNS_NAME_MAX + 1];
	size_t n = strlen(dns);

	if (n > TLS_CERT_DNS_NAME_MAX)
		n = 0; /* callers check; an empty name fails below */
	/* Names are case-insensitive; lower case is how they are usually shown. */
	for (size_t i = 0; i <= n; i++)
		lower[i] = dns[i] >= 'A' && dns[i] <= 'Z' ? (char)(dns[i] - 'A' + 'a') : dns[i];
	lower[n] = '\0';
	if (n == 0 || gen == NULL || s == NULL || !ASN1_STRING_set(s, lower, (int)n)) {
		GENERAL_NAME_free(gen);
		ASN1_IA5STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(gen, GEN_DNS, s);
	if (!sk_GENERAL_NAME_push(names, gen)) {
		GENERAL_NAME_free(gen);
		return -1;
	}
	return 0;
}

static int tls_cert_add_ip(GENERAL_NAMES *names, const char *ip)
{
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_OCTET_STRING *s = a2i_IPADDRESS(ip);

	if (gen == NULL || s == NULL) {
		GENERAL_NAME_free(gen);
		ASN1_OCTET_STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(gen, GEN_IPADD, s);
	if (!sk_GENERAL_NAME_push(names, gen)) {
		GENERAL_NAME_free(gen);
		return -1;
	}
	return 0;
}

/* SAN: localhost, 127.0.0.1, ::1, then the host name (as a DNS name or, if
 * it is an address, as an IP). */
static int tls_cert_add_san(X509 *x, const char *hostname)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	int rc = -1;

	if (names == NULL)
		return -1;
	if (tls_cert_add_dns(names, TLS_CERT_DEFAULT_NAME) == 0 && tls_cert_add_ip(names, "127.0.0.1") == 0 &&
	    tls_cert_add_ip(names, "::1") == 0) {
		rc = 0;
		if (tls_cert_dns_name_ok(hostname))
			rc = tls_cert_add_dns(names, hostname);
		else if (tls_cert_extra_ip(hostname))
			rc = tls_cert_add_ip(names, hostname);
	}
	if (rc == 0 && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
		rc = -1;
	GENERAL_NAMES_free(names);
	return rc;
}

/* Extensions that OpenSSL's configuration syntax says well; the order
 * matters: the authority key identifier copies the subject's. */
static int tls_cert_add_extensions(X509 *x)
{
	static const struct {
		int nid;
		const char *value;
	} exts[] = {
	        {NID_basic_constraints, "critical,CA:TRUE"},
	        {NID_key_usage, "critical,digitalSignature,keyCertSign"},
	        {NID_ext_key_usage, "serverAuth"},
	        {NID_subject_key_identifier, "hash"},
	        {NID_authority_key_identifier, "keyid:always"},
	};
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		if (ext == NULL)
			return -1;
		int ok = X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		if (!ok)
			return -1;
	}
	return 0;
}

static int tls_cert_set_serial(X509 *x)
{
	unsigned char bytes[TLS_CERT_SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(bytes, sizeof bytes) != 1)
		return -1;
	bytes[sizeof bytes - 1] |= 1; /* never zero (RFC 5280 4.1.2.2: positive) */
	bn = BN_bin2bn(bytes, sizeof bytes, NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Ten calendar years from now (29 February becomes 1 March). */
static int tls_cert_set_not_after(X509 *x)
{
	time_t now = time(NULL), later;
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		return -1;
	tm.tm_year += TLS_CERT_VALID_YEARS;
	later = timegm(&tm);
	return later == (time_t)-1 || ASN1_TIME_set(X509_getm_notAfter(x), later) == NULL ? -1 : 0;
}

static int tls_cert_set_names(X509 *x, const char *hostname)
{
	X509_NAME *name = X509_get_subject_name(x);
	const char *cn = TLS_CERT_DEFAULT_NAME;

	if (strlen(hostname) <= TLS_CERT_CN_MAX && (tls_cert_dns_name_ok(hostname) || tls_cert_extra_ip(hostname)))
		cn = hostname;
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)TLS_CERT_ORGANIZATION, -1, -1,
	                                0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		return -1;
	return 0;
}

int tls_cert_generate(const char *hostname, X509 **cert, EVP_PKEY **key, char *err, size_t errlen)
{
	char why[256];
	EVP_PKEY *pkey;
	X509 *x = NULL;

	if (hostname == NULL)
		hostname = "";
	*cert = NULL;
	*key = NULL;
	ERR_clear_error();
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pkey == NULL)
		goto fail;
	x = X509_new();
	if (x == NULL || !X509_set_version(x, X509_VERSION_3) || tls_cert_set_serial(x) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -TLS_CERT_BACKDATE_SECONDS) == NULL ||
	    tls_cert_set_not_after(x) < 0 || tls_cert_set_names(x, hostname) < 0 || !X509_set_pubkey(x, pkey) ||
	    tls_cert_add_san(x, hostname) < 0 || tls_cert_add_extensions(x) < 0 ||
	    X509_sign(x, pkey, EVP_sha256()) <= 0)
		goto fail;
	*cert = x;
	*key = pkey;
	return 0;

fail:
	tls_context_error_text(why, sizeof why, 0);
	snprintf(err, errlen, "cannot generate a TLS certificate: %s", why[0] ? why : "OpenSSL failed");
	X509_free(x);
	EVP_PKEY_free(pkey);
	return -1;
}

/* ---- the pair in the data folder ---- */

static int tls_cert_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes the bytes in mem to dir/name with the given mode, through a
 * temporary file created O_EXCL with mode 0600 and renamed into place. */
static int tls_cert_write_file(const char *dir, const char *name, mode_t mode, BIO *mem, char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, name);
	char *data;
	long len = BIO_get_mem_data(mem, &data);
	int fd = mkostemp(tmp, O_CLOEXEC), rc = -1;

	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) < 0 || tls_cert_write_all(fd, data, (size_t)len) < 0 || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(tmp);
	return rc;
}

/* The key first: a crash between the two renames leaves a new key with the
 * old certificate, which the next start sees as a mismatch and replaces. */
static int tls_cert_write_pair(const char *dir, X509 *x, EVP_PKEY *pkey, char *err, size_t errlen)
{
	/* secmem: the key's PEM is wiped when the BIO is freed. */
	BIO *key_pem = BIO_new(BIO_s_secmem()), *cert_pem = BIO_new(BIO_s_mem());
	int rc = -1, dfd;

	if (key_pem == NULL || cert_pem == NULL ||
	    !PEM_write_bio_PrivateKey(key_pem, pkey, NULL, NULL, 0, NULL, NULL) || !PEM_write_bio_X509(cert_pem, x)) {
		ERR_clear_error();
		snprintf(err, errlen, "cannot encode the generated certificate");
		goto out;
	}
	if (tls_cert_write_file(dir, TLS_KEY_FILE_NAME, 0600, key_pem, err, errlen) < 0 ||
	    tls_cert_write_file(dir, TLS_CERT_FILE_NAME, 0644, cert_pem, err, errlen) < 0)
		goto out;
	/* Make the renames durable. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	BIO_free(key_pem);
	BIO_free(cert_pem);
	return rc;
}

/*
 * Can the pair at cert_path/key_path be used again? 1 yes; 0 no, with why
 * saying what is wrong ("" when neither file exists); -1 when a file exists
 * but cannot be read (err).
 */
static int tls_cert_reusable(const char *cert_path, const char *key_path, char *why, size_t whylen, char *err,
                             size_t errlen)
{
	struct stat st;
	int have_cert = stat(cert_path, &st) == 0, have_key;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;
	enum tls_cert_read r;
	int rc = 0;

	if (!have_cert && errno != ENOENT) {
		snprintf(err, errlen, "cannot read certificate file %s: %s", cert_path, strerror(errno));
		return -1;
	}
	have_key = stat(key_path, &st) == 0;
	if (!have_key && errno != ENOENT) {
		snprintf(err, errlen, "cannot read key file %s: %s", key_path, strerror(errno));
		return -1;
	}
	why[0] = '\0';
	if (!have_cert && !have_key)
		return 0;
	if (!have_cert || !have_key) {
		snprintf(why, whylen, "found %s but not %s", have_cert ? cert_path : key_path,
		         have_cert ? key_path : cert_path);
		return 0;
	}

	r = tls_cert_read_cert(cert_path, "certificate file", &x, why, whylen);
	if (r == TLS_CERT_READ_IO) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (r == TLS_CERT_READ_OK) {
		r = tls_cert_read_key(key_path, "key file", &pkey, why, whylen);
		if (r == TLS_CERT_READ_IO) {
			snprintf(err, errlen, "%s", why);
			rc = -1;
		} else if (r == TLS_CERT_READ_OK && X509_check_private_key(x, pkey) != 1) {
			snprintf(why, whylen, "%s does not match %s", key_path, cert_path);
		} else if (r == TLS_CERT_READ_OK && X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
			snprintf(why, whylen, "%s has expired", cert_path);
		} else if (r == TLS_CERT_READ_OK) {
			rc = 1;
		}
	}
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

/* A reused certificate made for another host name still works for
 * localhost; say how to get one for the new name. */
static void tls_cert_check_hostname(const char *cert_path, const char *key_path, const char *hostname)
{
	X509 *x;
	char err[512];
	int covered;

	if (hostname == NULL || !(tls_cert_dns_name_ok(hostname) || tls_cert_extra_ip(hostname)))
		return;
	if (tls_cert_read_cert(cert_path, "certificate file", &x, err, sizeof err) != TLS_CERT_READ_OK)
		return;
	if (tls_cert_extra_ip(hostname))
		covered = X509_check_ip_asc(x, hostname, 0) == 1;
	else
		covered = X509_check_host(x, hostname, 0, 0, NULL) == 1;
	ERR_clear_error();
	X509_free(x);
	if (!covered)
		log_info("tls: the generated certificate %s does not name %s; delete it and %s to generate one that "
		         "does",
		         cert_path, hostname, key_path);
}

int tls_cert_ensure(const char *data_dir, const char *hostname, char **cert_path, char **key_path, char *err,
                    size_t errlen)
{
	char why[512];
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	*cert_path = NULL;
	*key_path = NULL;
	if (data_dir == NULL || *data_dir == '\0') {
		snprintf(err, errlen,
		         "no TLS certificate given and no data folder to keep a generated one in: pass --tls-cert and "
		         "--tls-key, or a data folder");
		return -1;
	}
	if (mkdir(data_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
		return -1;
	}
	*cert_path = xasprintf("%s/%s", data_dir, TLS_CERT_FILE_NAME);
	*key_path = xasprintf("%s/%s", data_dir, TLS_KEY_FILE_NAME);

	rc = tls_cert_reusable(*cert_path, *key_path, why, sizeof why, err, errlen);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		tls_cert_check_hostname(*cert_path, *key_path, hostname);
		return 0;
	}
	if (why[0] != '\0')
		log_warn("tls: %s; generating a new self-signed certificate (clients that trusted the old one must "
		         "trust the new one)",
		         why);
	if (tls_cert_generate(hostname, &x, &pkey, err, errlen) < 0 ||
	    tls_cert_write_pair(data_dir, x, pkey, err, errlen) < 0)
		goto fail;
	X509_free(x);
	EVP_PKEY_free(pkey);
	log_info("tls: generated a self-signed certificate in %s", *cert_path);
	return 0;

fail:
	X509_free(x);
	EVP_PKEY_free(pkey);
	free(*cert_path);
	free(*key_path);
	*cert_path = NULL;
	*key_path = NULL;
	return -1;
}
