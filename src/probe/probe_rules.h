/*
 * probe_rules: the troubleshooting matrix as code. Pure: facts in
 * (probe_facts.h), findings, a client-configuration matrix per port and a
 * recommendation out. No I/O, no clock, no global state.
 *
 * Findings come from one table (probe_rules.c), like the sandbox's
 * smtp_diag.c; where the client side sees the same fault as the sandbox
 * names, the code is the sandbox's (tls_clienthello_on_plaintext_port,
 * silent_client_on_implicit_tls_port, auth_before_starttls,
 * mail_before_starttls, tls_handshake_failed, auth_failed).
 * docs/ARCHITECTURE.md ("Probe findings") lists the table.
 *
 * The recommendation follows the decision order: 587 with STARTTLS if it
 * works; else 465 with implicit TLS; else 2525; else another port the user
 * named; 25 only for relay. A configuration "works" when a client set that way
 * gets through connect, greeting, TLS with a verified certificate, and AUTH
 * when credentials were tested.
 */
#ifndef MAILSCOPE_PROBE_RULES_H
#define MAILSCOPE_PROBE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "probe/probe_facts.h"
#include "smtp/smtp_diag.h"

/* A certificate that expires in fewer days than this is reported. */
#define PROBE_CERT_EXPIRING_SOON_DAYS 14

enum probe_finding_code {
	/* shared with the sandbox (smtp_diag.c) */
	PROBE_F_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT,
	PROBE_F_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT,
	PROBE_F_AUTH_BEFORE_STARTTLS,
	PROBE_F_MAIL_BEFORE_STARTTLS,
	PROBE_F_TLS_HANDSHAKE_FAILED,
	PROBE_F_AUTH_FAILED,
	/* probe only */
	PROBE_F_PORT_FILTERED,
	PROBE_F_PORT_REFUSED,
	PROBE_F_PORT_UNREACHABLE,
	PROBE_F_CONNECTION_RESET,
	PROBE_F_SILENT_PORT,
	PROBE_F_NOT_SMTP,
	PROBE_F_GREETING_THROTTLED,
	PROBE_F_GREETING_REJECTED,
	PROBE_F_NO_TLS,
	PROBE_F_STARTTLS_FAILED,
	PROBE_F_WEAK_TLS_VERSIONS,
	PROBE_F_CERTIFICATE_EXPIRED,
	PROBE_F_CERTIFICATE_EXPIRING_SOON,
	PROBE_F_CERTIFICATE_NAME_MISMATCH,
	PROBE_F_CERTIFICATE_UNTRUSTED,
	PROBE_F_AUTH_OFFERED_BEFORE_TLS,
	PROBE_F_AUTH_ACCEPTED_BEFORE_TLS,
	PROBE_F_STARTTLS_NOT_ENFORCED,
	PROBE_F_STARTTLS_INJECTION_VULNERABLE,
	PROBE_F_AUTH_NOT_OFFERED,
	PROBE_F_GREYLISTED,
	PROBE_F_ADDRESSES_DISAGREE,
	PROBE_F__COUNT
};

struct probe_finding_def {
	const char *code; /* stable identifier */
	enum smtp_diag_severity severity;
	const char *message; /* what is wrong with the endpoint (or what a client will meet), in words */
	const char *fix;     /* what to configure: in the client, or on the server when it is the server's fault */
};

const struct probe_finding_def *probe_finding_def(enum probe_finding_code code);

struct probe_finding {
	enum probe_finding_code code;
	int port;         /* 0: about the host as a whole */
	char address[64]; /* "" when about every address */
	char *evidence;   /* the particulars: replies, errors, names; owned */
};

/* One cell of the client-configuration matrix. */
struct probe_client_result {
	enum probe_symptom symptom; /* PROBE_SYMPTOM_WORKS or what the client sees */
	bool encrypted;             /* the configuration encrypts (STARTTLS or implicit TLS got through) */
	bool observed;              /* the I/O side tried it (else inferred from the other facts) */
	char *detail;               /* reply or error behind the symptom; owned, may be NULL */
};

/* The matrix row of one address × port (same order as facts->ports). */
struct probe_port_verdict {
	struct probe_client_result client[PROBE_CLIENT__COUNT];
};

struct probe_recommendation {
	int port;            /* 0: nothing works */
	char address[64];    /* where it was seen working */
	enum probe_mode tls; /* PROBE_MODE_STARTTLS, _IMPLICIT_TLS, _PLAINTEXT; PROBE_MODE_NONE when nothing */
	bool works;          /* false: the best configuration needs a fix first (certificate, credentials) */
	char *reason;        /* in words; owned */
};

struct probe_result {
	struct probe_finding *findings; /* errors first, then warnings, then info; by port within each */
	size_t n_findings;
	struct probe_port_verdict *ports; /* parallel to facts->ports */
	size_t n_ports;
	struct probe_recommendation rec;
	/* 0 when a working submission configuration exists (port 25 counts only when it was the only port
	 * probed), 1 when none does. 2 (usage or resolution error) is the command's to return. */
	int exit_status;
};

void probe_rules_evaluate(const struct probe_facts *f, struct probe_result *out);
void probe_result_free(struct probe_result *r);

/* The port's conventional role: 25 relay, 465 implicit TLS submission, 587 and 2525 STARTTLS submission. */
enum probe_port_role { PROBE_ROLE_OTHER, PROBE_ROLE_RELAY, PROBE_ROLE_SUBMISSION, PROBE_ROLE_SUBMISSIONS };
enum probe_port_role probe_port_role(int port);

/* "starttls" for PROBE_CLIENT_STARTTLS etc.: the mode words of recommendation.tls. */
enum probe_mode probe_client_mode(enum probe_client_tls c);

/* Matrix and recommendation (probe_rules_matrix.c); probe_rules_evaluate() calls them. */
void probe_rules_matrix(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_port_verdict *v);
void probe_rules_recommend(const struct probe_facts *f, const struct probe_result *r, struct probe_recommendation *rec,
                           int *exit_status);

#endif
