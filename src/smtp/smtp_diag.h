/*
 * smtp_diag: the client mistakes the sandbox can name. Each code has one row
 * in a table (smtp_diag.c): severity, what happened in words, and the fix.
 * docs/ARCHITECTURE.md lists the table; the same codes are used by the
 * probe command where the client side sees the same fault.
 */
#ifndef MAILSCOPE_SMTP_DIAG_H
#define MAILSCOPE_SMTP_DIAG_H

enum smtp_diag_code {
	SMTP_DIAG_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT,
	SMTP_DIAG_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT,
	SMTP_DIAG_PLAINTEXT_ON_IMPLICIT_TLS_PORT,
	SMTP_DIAG_HTTP_ON_SMTP_PORT,
	SMTP_DIAG_TLS_HANDSHAKE_FAILED,
	SMTP_DIAG_STARTTLS_INJECTION_ATTEMPT,
	SMTP_DIAG_EARLY_TALKER,
	SMTP_DIAG_AUTH_BEFORE_STARTTLS,
	SMTP_DIAG_AUTH_FAILED,
	SMTP_DIAG_MAIL_WITHOUT_AUTH,
	SMTP_DIAG_MAIL_BEFORE_STARTTLS,
	SMTP_DIAG_PIPELINING_VIOLATION,
	SMTP_DIAG_PIPELINING_WITHOUT_EHLO,
	SMTP_DIAG_TOO_MANY_ERRORS,
	SMTP_DIAG_IDLE_TIMEOUT,
	SMTP_DIAG__COUNT
};

enum smtp_diag_severity { SMTP_DIAG_INFO, SMTP_DIAG_WARNING, SMTP_DIAG_ERROR };

struct smtp_diag_def {
	const char *code; /* stable identifier, e.g. "auth_before_starttls" */
	enum smtp_diag_severity severity;
	const char *message; /* what the client did, in words */
	const char *fix;     /* what to change in the client's configuration */
};

const struct smtp_diag_def *smtp_diag_def(enum smtp_diag_code code);
const char *smtp_diag_severity_name(enum smtp_diag_severity s);

#endif
