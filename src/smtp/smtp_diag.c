/*
 * smtp_diag: the table of diagnostics. Wording matters here more than
 * anywhere: these sentences are what a developer reads when their app cannot
 * send mail. Say what the client did, then what to configure.
 */
#include "smtp/smtp_diag.h"

static const struct smtp_diag_def smtp_diag_table[SMTP_DIAG__COUNT] = {
        [SMTP_DIAG_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT] =
                {"tls_clienthello_on_plaintext_port", SMTP_DIAG_ERROR,
                 "The client started a TLS handshake at once, on a port that expects plaintext first and STARTTLS: "
                 "it is configured for implicit TLS (\"SSL/TLS\", \"secure: true\", smtps://) on a STARTTLS port.",
                 "Configure STARTTLS (\"secure: false\" with STARTTLS required, smtp:// with --ssl-reqd), or connect "
                 "to "
                 "the implicit-TLS port (465) instead."},
        [SMTP_DIAG_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT] =
                {"silent_client_on_implicit_tls_port", SMTP_DIAG_ERROR,
                 "The client connected to the implicit-TLS port and sent nothing: it is waiting for a plaintext "
                 "greeting, as STARTTLS-mode clients do, while this port expects a TLS handshake first.",
                 "Configure implicit TLS (\"SSL/TLS\", \"secure: true\", smtps://) for this port, or use port 587 with "
                 "STARTTLS."},
        [SMTP_DIAG_PLAINTEXT_ON_IMPLICIT_TLS_PORT] =
                {"plaintext_on_implicit_tls_port", SMTP_DIAG_ERROR,
                 "The client sent plaintext SMTP commands to the implicit-TLS port, which expects a TLS handshake "
                 "first.",
                 "Configure implicit TLS (\"SSL/TLS\", \"secure: true\", smtps://) for this port, or use port 587 with "
                 "STARTTLS."},
        [SMTP_DIAG_HTTP_ON_SMTP_PORT] =
                {"http_on_smtp_port", SMTP_DIAG_ERROR,
                 "An HTTP request arrived on an SMTP port: a browser, a health check or an HTTP client is pointed at "
                 "the mail port.",
                 "Use the HTTP API port (8025 by default) for HTTP, and an SMTP client for this port."},
        [SMTP_DIAG_TLS_HANDSHAKE_FAILED] =
                {"tls_handshake_failed", SMTP_DIAG_ERROR, "The TLS handshake failed.",
                 "See the evidence for the reason; the usual fixes are to trust the sandbox certificate (or turn off "
                 "certificate verification in the test client) and to allow TLS 1.2 or later."},
        [SMTP_DIAG_STARTTLS_INJECTION_ATTEMPT] =
                {"starttls_injection_attempt", SMTP_DIAG_WARNING,
                 "The client sent more commands right behind STARTTLS, before the TLS handshake. They were discarded "
                 "and never executed (CVE-2011-0411).",
                 "Wait for the 220 reply to STARTTLS and finish the handshake before sending anything else."},
        [SMTP_DIAG_EARLY_TALKER] =
                {"early_talker", SMTP_DIAG_WARNING,
                 "The client sent data before the server's greeting (RFC 5321 3.1 says to wait for it).",
                 "Wait for the 220 greeting before the first command."},
        [SMTP_DIAG_AUTH_BEFORE_STARTTLS] =
                {"auth_before_starttls", SMTP_DIAG_ERROR,
                 "The client tried to authenticate over an unencrypted connection; like real providers, the sandbox "
                 "answers \"530 Must issue a STARTTLS command first\".",
                 "Enable STARTTLS in the client (or use implicit TLS on port 465) so that AUTH happens inside TLS."},
        [SMTP_DIAG_AUTH_FAILED] =
                {"auth_failed", SMTP_DIAG_ERROR, "Authentication failed.",
                 "Check the user name and password the client sends (see the evidence for the mechanism and user)."},
        [SMTP_DIAG_MAIL_WITHOUT_AUTH] =
                {"mail_without_auth", SMTP_DIAG_ERROR,
                 "The client sent MAIL FROM without authenticating on a submission port that requires SMTP AUTH.",
                 "Configure SMTP AUTH (user name and password) in the client."},
        [SMTP_DIAG_MAIL_BEFORE_STARTTLS] = {"mail_before_starttls", SMTP_DIAG_ERROR,
                                            "The client sent MAIL FROM over plaintext on a port that requires TLS.",
                                            "Enable STARTTLS in the client, or use implicit TLS on port 465."},
        [SMTP_DIAG_PIPELINING_VIOLATION] =
                {"pipelining_violation", SMTP_DIAG_ERROR,
                 "The client sent further commands without waiting for the reply to a command that must end a "
                 "pipelined group (RFC 2920 3.1: EHLO, DATA, QUIT, NOOP, VRFY, EXPN, HELP, STARTTLS, AUTH).",
                 "Fix the client's pipelining, or run the sandbox with --pipelining lenient."},
        [SMTP_DIAG_PIPELINING_WITHOUT_EHLO] =
                {"pipelining_without_ehlo", SMTP_DIAG_ERROR,
                 "The client pipelined commands after HELO: PIPELINING is only offered in reply to EHLO.",
                 "Use EHLO, or wait for each reply."},
        [SMTP_DIAG_TOO_MANY_ERRORS] = {"too_many_errors", SMTP_DIAG_WARNING,
                                       "The client kept sending commands that failed and was disconnected.",
                                       "Read the replies in the transcript: each one names what was wrong."},
        [SMTP_DIAG_IDLE_TIMEOUT] =
                {"idle_timeout", SMTP_DIAG_WARNING,
                 "The client stopped talking and the session timed out (RFC 5321 4.5.3.2).",
                 "Make sure the client finishes the conversation (QUIT) and does not keep connections open idle."},
};

const struct smtp_diag_def *smtp_diag_def(enum smtp_diag_code code)
{
	return &smtp_diag_table[code];
}

const char *smtp_diag_severity_name(enum smtp_diag_severity s)
{
	static const char *const names[] = {"info", "warning", "error"};
	return names[s];
}
