/*
 * probe_facts: what `mailscope probe` observed, and nothing else. The I/O side
 * (the connection attempts, built on smtp_client) fills one struct
 * probe_port_facts per address × port; probe_rules turns the facts into
 * findings, a client-configuration matrix and a recommendation; probe_json and
 * probe_report print them. Keeping the observations apart from their meaning
 * lets the rules be tested with hand-built facts, without a network.
 *
 * Conventions:
 *  - A value that was not observed stays at its zero/"not tested" state:
 *    reply code 0, NULL text, PROBE_UNTESTED, timings -1 (probe_facts_add_port
 *    sets them). The rules never guess from a missing value that something
 *    works.
 *  - Strings are either small fixed arrays (versions, codes, names) or owned
 *    heap strings (char *: text from the server, which can be long). Owned
 *    strings are set with probe_set_str() and freed by probe_facts_free().
 *    They are raw bytes as received (without NUL): whoever prints them makes
 *    them safe (probe_json repairs UTF-8, probe_report escapes controls).
 *  - Ports live behind pointers so that a struct probe_port_facts * stays
 *    valid while more ports are added.
 */
#ifndef MAILSCOPE_PROBE_FACTS_H
#define MAILSCOPE_PROBE_FACTS_H

#include <stdbool.h>
#include <stddef.h>

/* How the TCP connect ended. */
enum probe_tcp {
	PROBE_TCP_OPEN,
	PROBE_TCP_REFUSED,     /* RST to the SYN: nothing listens */
	PROBE_TCP_TIMEOUT,     /* no answer to the SYN: a firewall drops it (filtered) */
	PROBE_TCP_UNREACHABLE, /* ICMP unreachable / no route (ENETUNREACH, EHOSTUNREACH) */
	PROBE_TCP_RESET,       /* connected, then reset before the first reply */
	PROBE_TCP__COUNT
};

/* What the port speaks, as decided by the I/O side (banner first, then a ClientHello on a fresh connection). */
enum probe_mode {
	PROBE_MODE_NONE,         /* TCP did not connect */
	PROBE_MODE_PLAINTEXT,    /* SMTP greeting in plaintext, no STARTTLS offered */
	PROBE_MODE_STARTTLS,     /* SMTP greeting in plaintext, STARTTLS offered */
	PROBE_MODE_IMPLICIT_TLS, /* TLS from the first byte (the handshake got a TLS answer) */
	PROBE_MODE_SILENT,       /* connected, but neither a greeting nor a TLS answer */
	PROBE_MODE_NOT_SMTP,     /* something answered that is not SMTP (e.g. HTTP) */
	PROBE_MODE__COUNT
};

/* A check that was tried or not. */
enum probe_tri {
	PROBE_UNTESTED,
	PROBE_ACCEPTED,
	PROBE_REFUSED,
};

/* TLS protocol versions tried one by one. */
enum probe_tls_version { PROBE_TLS_1_0, PROBE_TLS_1_1, PROBE_TLS_1_2, PROBE_TLS_1_3, PROBE_TLS_VERSION__COUNT };

enum probe_tls_via { PROBE_TLS_VIA_NONE, PROBE_TLS_VIA_STARTTLS, PROBE_TLS_VIA_IMPLICIT };

enum probe_tls_outcome {
	PROBE_TLS_NOT_TRIED,
	PROBE_TLS_OK,      /* handshake completed (whether or not the certificate verifies) */
	PROBE_TLS_FAILED,  /* the handshake failed; tls.error says how */
	PROBE_TLS_TIMEOUT, /* no answer to the ClientHello */
};

/* Why the chain did not verify (mapped from X509_V_ERR_* by the I/O side). */
enum probe_cert_error {
	PROBE_CERT_OK,
	PROBE_CERT_EXPIRED,
	PROBE_CERT_NOT_YET_VALID,
	PROBE_CERT_SELF_SIGNED,    /* self-signed leaf, or a self-signed root not in the trust store */
	PROBE_CERT_UNKNOWN_ISSUER, /* unable to get the issuer: unknown CA or a missing intermediate */
	PROBE_CERT_OTHER,
};

enum probe_injection { PROBE_INJECTION_NOT_TESTED, PROBE_INJECTION_SAFE, PROBE_INJECTION_VULNERABLE };

/* The three ways a client can be configured, as in `mailscope send --tls`. */
enum probe_client_tls { PROBE_CLIENT_NONE, PROBE_CLIENT_STARTTLS, PROBE_CLIENT_IMPLICIT_TLS, PROBE_CLIENT__COUNT };

/*
 * What a client sees. PROBE_SYMPTOM_WORKS is success; the rest are the words
 * a client prints (probe_symptom_words()). probe_symptom_is_transport() tells
 * transport failures (the port and mode are wrong) from failures that a fix
 * on the server or in the credentials would cure (certificate, AUTH).
 */
enum probe_symptom {
	PROBE_SYMPTOM_WORKS,
	PROBE_SYMPTOM_NOT_TESTED,
	PROBE_SYMPTOM_CONNECTION_REFUSED,
	PROBE_SYMPTOM_CONNECTION_TIMEOUT,
	PROBE_SYMPTOM_UNREACHABLE,
	PROBE_SYMPTOM_CONNECTION_RESET,
	PROBE_SYMPTOM_BANNER_TIMEOUT,
	PROBE_SYMPTOM_NOT_SMTP,
	PROBE_SYMPTOM_GREETING_REFUSED,
	PROBE_SYMPTOM_WRONG_VERSION_NUMBER,
	PROBE_SYMPTOM_TLS_TIMEOUT,
	PROBE_SYMPTOM_TLS_HANDSHAKE_FAILED,
	PROBE_SYMPTOM_STARTTLS_NOT_OFFERED,
	PROBE_SYMPTOM_STARTTLS_REFUSED,
	PROBE_SYMPTOM_MUST_ISSUE_STARTTLS,
	PROBE_SYMPTOM_MAIL_REFUSED,
	PROBE_SYMPTOM_CERT_VERIFY_FAILED,
	PROBE_SYMPTOM_AUTH_NOT_OFFERED,
	PROBE_SYMPTOM_AUTH_FAILED,
	PROBE_SYMPTOM__COUNT
};

/* One SMTP reply as seen. code 0: no reply (not sent, or the connection ended). */
struct probe_reply {
	int code;          /* 220, 530, ... */
	char enhanced[16]; /* RFC 3463 "5.7.0", "" when the reply has none */
	char *text;        /* the reply's text without codes, lines joined with "\n"; owned, NULL when none */
};

/* A list of owned strings (EHLO keywords, SAN entries, addresses). */
struct probe_strlist {
	char **v;
	size_t n;
};

struct probe_cert {
	bool present;             /* the server sent a certificate */
	char *subject;            /* one-line DN, "CN=mail.example.com"; owned */
	char *issuer;             /* one-line DN; owned */
	struct probe_strlist san; /* "DNS:mail.example.com", "IP:192.0.2.1" as printed by OpenSSL, without the prefix */
	char not_before[32];      /* RFC 3339 UTC, "2026-01-01T00:00:00Z" */
	char not_after[32];
	int days_left;         /* whole days from the probe's clock to not_after; negative once expired */
	char key[32];          /* "RSA 2048", "EC P-256", "Ed25519" */
	char signature[64];    /* signature algorithm, "ecdsa-with-SHA256" */
	char fingerprint[100]; /* SHA-256 of the DER, "AB:CD:..." */
	bool chain_valid;      /* verified against the system store or --ca-file */
	enum probe_cert_error verify_error;
	char *verify_text;  /* OpenSSL's words for verify_error; owned, NULL when valid */
	char *checked_name; /* the name checked for name_match (--servername or the host); owned */
	bool name_match;
};

struct probe_tls {
	enum probe_tls_via via;
	enum probe_tls_outcome outcome;
	char version[16]; /* negotiated: "TLSv1.3" */
	char cipher[64];  /* "TLS_AES_256_GCM_SHA384" */
	char *error;      /* the handshake failure in words (tls_describe_failure); owned */
	enum probe_tri versions[PROBE_TLS_VERSION__COUNT]; /* each version tried alone */
	struct probe_cert cert;
};

/* AUTH with --user/--password-env, one mechanism at a time, inside TLS when the port has it. */
struct probe_auth {
	char mechanism[32];       /* "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2" */
	struct probe_reply reply; /* the final reply: 235, 535 5.7.8, 534, 538, 454 ... */
};

/* What a client configured one way observed when the I/O side actually tried it. */
struct probe_client_obs {
	bool tried;
	enum probe_symptom symptom; /* PROBE_SYMPTOM_WORKS when it got through */
	char *detail;               /* the reply or error text behind the symptom; owned */
};

/* How long each step took, in milliseconds; -1 when the step did not happen. total: the port's whole probe. */
struct probe_timings {
	int connect;
	int banner;
	int ehlo;
	int starttls;
	int tls_handshake;
	int auth;
	int total;
};

struct probe_port_facts {
	char address[64]; /* the IP address probed, "192.0.2.1" or "2001:db8::1" */
	int port;
	enum probe_tcp tcp;
	char *tcp_error; /* strerror-like words for refused/unreachable/reset; owned */
	enum probe_mode mode;

	/*
	 * The greeting: in plaintext, or the first reply inside TLS on an implicit
	 * port. For PROBE_MODE_NOT_SMTP, code is 0 and text holds the first line
	 * that came back (e.g. "HTTP/1.1 400 Bad Request").
	 */
	struct probe_reply banner;
	struct probe_strlist ehlo;           /* EHLO keywords with their parameters, before TLS */
	struct probe_strlist ehlo_after_tls; /* after STARTTLS, or the only EHLO on an implicit port */

	bool starttls_offered;
	struct probe_reply starttls_reply; /* reply to STARTTLS; code 0 when not sent */
	struct probe_tls tls;              /* the STARTTLS or implicit-TLS handshake of this port */

	/* Enforcement, on the plaintext channel before STARTTLS. */
	/* reply to MAIL FROM on the plaintext channel (before STARTTLS, or the only channel of a plaintext
	 * port); code 0 when not tested */
	struct probe_reply mail_before_tls;
	struct probe_reply auth_before_tls; /* reply to "AUTH mech" before TLS (then cancelled: no secret is sent) */

	struct probe_auth *auth; /* one per tested mechanism */
	size_t n_auth;

	struct probe_reply rcpt; /* reply to a test RCPT TO (a 4xx is greylisting or a rate limit) */
	enum probe_injection injection;

	struct probe_client_obs client[PROBE_CLIENT__COUNT];
	struct probe_timings timings_ms;
};

struct probe_facts {
	char *host;                     /* as given; owned */
	char *servername;               /* the name certificates are checked against; owned, NULL = host */
	struct probe_strlist addresses; /* every address of host that was probed */
	bool credentials;               /* --user was given: AUTH was tested with real credentials */
	struct probe_port_facts **ports;
	size_t n_ports;
};

/* ---- building and freeing ---- */

void probe_facts_init(struct probe_facts *f, const char *host);
void probe_facts_free(struct probe_facts *f);
/* A new port entry, zeroed but for timings (-1); the pointer stays valid until probe_facts_free(). */
struct probe_port_facts *probe_facts_add_port(struct probe_facts *f, const char *address, int port);
/* A new AUTH result on p; the pointer is valid until the next call. */
struct probe_auth *probe_port_add_auth(struct probe_port_facts *p, const char *mechanism);

/* Replaces *dst with a copy of s (NULL clears it). */
void probe_set_str(char **dst, const char *s);
void probe_strlist_add(struct probe_strlist *l, const char *s);
void probe_strlist_free(struct probe_strlist *l);
/* Sets a reply: code, enhanced code (may be NULL) and text (may be NULL). */
void probe_reply_set(struct probe_reply *r, int code, const char *enhanced, const char *text);
/* "530 5.7.0 Must issue a STARTTLS command first" (lines joined by " / "), "(no reply)" for code 0; caller frees. */
char *probe_reply_format(const struct probe_reply *r);
/* A refusal that asks for TLS: 538, or a 5xx whose text mentions TLS ("530 5.7.0 Must issue a STARTTLS command
 * first") or encryption. */
int probe_reply_demands_tls(const struct probe_reply *r);
void probe_reply_free(struct probe_reply *r);
void probe_client_obs_set(struct probe_client_obs *o, enum probe_symptom s, const char *detail);

/* For the I/O side: a failed connect's errno as a TCP outcome (ETIMEDOUT -> timeout, EHOSTUNREACH ->
 * unreachable ...; anything unknown is unreachable), and X509_V_ERR_* as a probe_cert_error. */
enum probe_tcp probe_tcp_from_errno(int err);
enum probe_cert_error probe_cert_error_from_openssl(long verify_result);

/* ---- reading ---- */

/* The EHLO line whose keyword (first word, case-insensitive) is kw, or NULL. */
const char *probe_ehlo_find(const struct probe_strlist *ehlo, const char *kw);
/* The mechanisms after "AUTH" (or "AUTH=") in an EHLO list, space-separated, into out; 0 when none offered. */
size_t probe_ehlo_auth_mechanisms(const struct probe_strlist *ehlo, char *out, size_t outlen);

/* Stable words (JSON values, report): "open", "starttls", "1.2", "implicit_tls", "wrong version number". */
const char *probe_tcp_name(enum probe_tcp t);
const char *probe_mode_name(enum probe_mode m);
const char *probe_tri_name(enum probe_tri t);
const char *probe_tls_version_name(enum probe_tls_version v);
const char *probe_client_tls_name(enum probe_client_tls c);
const char *probe_injection_name(enum probe_injection i);
const char *probe_symptom_words(enum probe_symptom s);
/* 1 when the symptom means this transport (port × TLS mode) cannot work at all; 0 for WORKS, certificate and AUTH. */
int probe_symptom_is_transport(enum probe_symptom s);

#endif
