/*
 * probe_rules: facts -> findings. The table below is the whole vocabulary of
 * findings; wording matters as much as in smtp_diag.c: these sentences are
 * what a developer reads when their app cannot send mail. The message says
 * what is wrong (or what a client will meet), the fix says what to change and
 * where; the evidence of each finding carries the particulars (replies,
 * errors, names), so the table stays fixed text.
 *
 * The matrix and the recommendation are in probe_rules_matrix.c.
 */
#include "probe/probe_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

static const struct probe_finding_def probe_finding_table[PROBE_F__COUNT] = {
        [PROBE_F_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT] =
                {"tls_clienthello_on_plaintext_port", SMTP_DIAG_WARNING,
                 "Port 465 speaks plaintext first here (STARTTLS), while clients expect implicit TLS on 465: a "
                 "client set to \"SSL/TLS\" (\"secure: true\", smtps://) fails with \"wrong version number\".",
                 "Configure the client for STARTTLS on this port (\"secure: false\" with STARTTLS required, smtp:// "
                 "with --ssl-reqd); on the server, 465 should be implicit TLS (RFC 8314; Postfix: "
                 "-o smtpd_tls_wrappermode=yes)."},
        [PROBE_F_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT] =
                {"silent_client_on_implicit_tls_port", SMTP_DIAG_WARNING,
                 "This port expects TLS from the first byte (implicit TLS), while clients expect a plaintext "
                 "greeting and STARTTLS on this port number: a client set to STARTTLS or no TLS waits for a greeting "
                 "that never comes (\"timeout waiting for banner\").",
                 "Configure the client for implicit TLS (\"SSL/TLS\", \"secure: true\", smtps://) on this port, or use "
                 "port 587 with STARTTLS."},
        [PROBE_F_AUTH_BEFORE_STARTTLS] =
                {"auth_before_starttls", SMTP_DIAG_INFO,
                 "AUTH is refused before STARTTLS, as it should be: a client that authenticates without STARTTLS gets "
                 "\"530 5.7.0 Must issue a STARTTLS command first\".",
                 "Configure the client for STARTTLS on this port (or implicit TLS on 465) so that it authenticates "
                 "inside TLS."},
        [PROBE_F_MAIL_BEFORE_STARTTLS] =
                {"mail_before_starttls", SMTP_DIAG_INFO,
                 "This port requires TLS before MAIL FROM: a client without STARTTLS gets \"530 5.7.0 Must issue a "
                 "STARTTLS command first\".",
                 "Configure STARTTLS in the client for this port (\"secure: false\" with STARTTLS required, smtp:// "
                 "with --ssl-reqd), or use implicit TLS on port 465."},
        [PROBE_F_TLS_HANDSHAKE_FAILED] =
                {"tls_handshake_failed", SMTP_DIAG_ERROR,
                 "The TLS handshake failed: no protocol version or cipher in common, or the server broke off (the "
                 "evidence has OpenSSL's words).",
                 "On the server, allow TLS 1.2 and 1.3 with current ciphers and check that the certificate and key "
                 "load (its log names the reason); a client limited to old TLS versions must be updated."},
        [PROBE_F_AUTH_FAILED] =
                {"auth_failed", SMTP_DIAG_ERROR,
                 "Authentication with the given credentials failed (the evidence names the mechanism and the reply: "
                 "535 5.7.8 is a wrong user name or password, 534 5.7.9 a mechanism too weak or an app password "
                 "needed, 538 encryption required, 454 a temporary server problem).",
                 "Check the user name (often the full address) and the password; many providers require an app "
                 "password or OAuth2 once two-factor login is on. Try another mechanism the server offers."},
        [PROBE_F_PORT_FILTERED] =
                {"port_filtered", SMTP_DIAG_WARNING,
                 "Connecting to this port timed out: nothing answered the connection attempt, so a firewall drops "
                 "it. Most often it is the network the probe runs from (cloud providers and ISPs block outbound port "
                 "25, some also 465 and 587); sometimes the server's own firewall.",
                 "Use another port (587, 465, 2525), or ask the network's administrator or cloud provider to allow "
                 "outbound connections to this port; compare from another network (nc -vz HOST PORT)."},
        [PROBE_F_PORT_REFUSED] = {"port_refused", SMTP_DIAG_INFO,
                                  "Nothing listens on this port: the connection was refused.",
                                  "Use a port the server offers; if this one should be open, enable the mail "
                                  "server's listener for it."},
        [PROBE_F_PORT_UNREACHABLE] =
                {"port_unreachable", SMTP_DIAG_WARNING,
                 "The address cannot be reached (network or host unreachable): no route to it. Common for IPv6 "
                 "addresses from a network without IPv6.",
                 "Use an address family that works (-4 or -6), or fix the route; clients that try this address first "
                 "fail or hang."},
        [PROBE_F_CONNECTION_RESET] =
                {"connection_reset", SMTP_DIAG_WARNING,
                 "The connection was reset before the server said anything: a firewall or the server drops "
                 "connections from this address (rate limit, blocklist, geo-blocking).",
                 "Check the server's access rules and logs for the probing address; retry later or from another "
                 "network."},
        [PROBE_F_SILENT_PORT] =
                {"silent_port", SMTP_DIAG_WARNING,
                 "The port accepts connections but never speaks: no SMTP greeting, and no answer to a TLS handshake "
                 "either (an overloaded server, a tarpit, or a proxy or load balancer with nothing behind it).",
                 "Check that the mail server itself listens on this port and look at its logs; a client here hangs "
                 "until its timeout."},
        [PROBE_F_NOT_SMTP] = {"not_smtp", SMTP_DIAG_ERROR,
                              "Something that is not an SMTP server answers on this port (the evidence shows what: "
                              "an HTTP server, for instance).",
                              "Point the client at the mail server's port; check port forwarding and which service "
                              "listens on this port."},
        [PROBE_F_GREETING_THROTTLED] =
                {"greeting_throttled", SMTP_DIAG_WARNING,
                 "The server greeted with a temporary refusal (421): too many connections, a rate limit, or a "
                 "temporary block of the client's address.",
                 "Retry later and open fewer connections at once (send several messages over one connection); if it "
                 "persists, ask the provider whether the sending address is rate-limited."},
        [PROBE_F_GREETING_REJECTED] =
                {"greeting_rejected", SMTP_DIAG_ERROR,
                 "The server greeted with a permanent refusal (5xx): it does not accept connections from this "
                 "address, often because the address is on a blocklist or is a dynamic or cloud address.",
                 "Read the greeting in the evidence for the reason (it often names a lookup URL); send from an "
                 "address the server accepts, or through the provider's submission service."},
        [PROBE_F_NO_TLS] =
                {"no_tls", SMTP_DIAG_ERROR,
                 "The port offers no encryption: neither STARTTLS nor TLS from the first byte. Passwords and mail "
                 "cross the network in the clear.",
                 "Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with a certificate), or use "
                 "a port with TLS; never authenticate over this port."},
        [PROBE_F_STARTTLS_FAILED] =
                {"starttls_failed", SMTP_DIAG_ERROR,
                 "The server offers STARTTLS but refused the STARTTLS command (for example \"454 4.7.0 TLS not "
                 "available\"): a client that requires TLS stops here.",
                 "Fix the server's TLS setup (certificate and key readable by the mail server; its log names the "
                 "reason), or use implicit TLS on port 465."},
        [PROBE_F_WEAK_TLS_VERSIONS] =
                {"weak_tls_versions", SMTP_DIAG_WARNING,
                 "The server still accepts TLS 1.0 or TLS 1.1, which are deprecated (RFC 8996).",
                 "Set the server's minimum to TLS 1.2 (Postfix: smtpd_tls_protocols = >=TLSv1.2 and "
                 "smtpd_tls_mandatory_protocols = >=TLSv1.2)."},
        [PROBE_F_CERTIFICATE_EXPIRED] =
                {"certificate_expired", SMTP_DIAG_ERROR,
                 "The server's certificate has expired: clients that verify certificates (the default in most "
                 "libraries) fail with \"certificate verify failed: certificate has expired\".",
                 "Renew the certificate and reload the mail server; make sure automatic renewal (certbot and the "
                 "like) also reloads the mail server, not only the web server."},
        [PROBE_F_CERTIFICATE_EXPIRING_SOON] =
                {"certificate_expiring_soon", SMTP_DIAG_WARNING,
                 "The server's certificate expires in less than 14 days.",
                 "Renew it now and check that renewal reloads the mail server, or clients will fail with "
                 "\"certificate has expired\"."},
        [PROBE_F_CERTIFICATE_NAME_MISMATCH] =
                {"certificate_name_mismatch", SMTP_DIAG_ERROR,
                 "The certificate does not name the host the client connects to: clients that verify fail with "
                 "\"hostname mismatch\" (\"certificate verify failed\").",
                 "Connect with a name the certificate lists (usually the provider's documented SMTP host, not an "
                 "alias or the IP address), or get a certificate that covers this name; --servername checks another "
                 "name."},
        [PROBE_F_CERTIFICATE_UNTRUSTED] =
                {"certificate_untrusted", SMTP_DIAG_ERROR,
                 "The certificate chain does not verify: self-signed, issued by a CA the client does not know, or "
                 "served without its intermediate certificate. Clients that verify fail with \"certificate verify "
                 "failed\".",
                 "Serve a certificate from a public CA with its full chain (fullchain.pem); for a private CA, give "
                 "the client (and the probe: --ca-file) that CA. Turning verification off in the client also hides "
                 "real attacks."},
        [PROBE_F_AUTH_OFFERED_BEFORE_TLS] =
                {"auth_offered_before_tls", SMTP_DIAG_WARNING,
                 "The server offers AUTH before STARTTLS: a client that does not insist on TLS may send its password "
                 "in the clear.",
                 "On the server, offer AUTH only inside TLS (Postfix: smtpd_tls_auth_only = yes); in the client, "
                 "require STARTTLS."},
        [PROBE_F_AUTH_ACCEPTED_BEFORE_TLS] =
                {"auth_accepted_before_tls", SMTP_DIAG_ERROR,
                 "The server accepts AUTH on the unencrypted connection (it went on with the exchange instead of "
                 "answering 530 or 538): passwords can cross the network in the clear.",
                 "Require TLS for AUTH on the server (Postfix: smtpd_tls_auth_only = yes) and require STARTTLS in "
                 "clients."},
        [PROBE_F_STARTTLS_NOT_ENFORCED] =
                {"starttls_not_enforced", SMTP_DIAG_WARNING,
                 "MAIL FROM is accepted before STARTTLS on a submission port: a client that forgets STARTTLS sends "
                 "mail unencrypted without noticing.",
                 "Require TLS on submission ports (Postfix master.cf: -o smtpd_tls_security_level=encrypt) and set "
                 "clients to require STARTTLS."},
        [PROBE_F_STARTTLS_INJECTION_VULNERABLE] =
                {"starttls_injection_vulnerable", SMTP_DIAG_ERROR,
                 "A command sent in the same packet as STARTTLS was executed after the TLS handshake "
                 "(CVE-2011-0411 and its relatives): someone on the path can inject commands into the encrypted "
                 "session.",
                 "Update the mail server: it must discard anything buffered behind STARTTLS. Until then prefer "
                 "implicit TLS on port 465."},
        [PROBE_F_AUTH_NOT_OFFERED] =
                {"auth_not_offered", SMTP_DIAG_WARNING,
                 "The server does not offer AUTH on this port, not even inside TLS: a client configured with a user "
                 "name and password fails with \"SMTP AUTH extension not supported by server\".",
                 "Use the provider's submission port (587 or 465), which offers AUTH; on your own server enable SASL "
                 "AUTH for this port (Postfix: -o smtpd_sasl_auth_enable=yes)."},
        [PROBE_F_GREYLISTED] =
                {"greylisted", SMTP_DIAG_WARNING,
                 "The test recipient got a temporary refusal (4xx): greylisting or a rate limit. A first delivery "
                 "attempt is delayed; a client that retries gets through.",
                 "Make sure the client (or its queue) retries after a 4xx reply instead of treating it as final; "
                 "authenticated submission is usually exempt from greylisting."},
        [PROBE_F_ADDRESSES_DISAGREE] =
                {"addresses_disagree", SMTP_DIAG_WARNING,
                 "The host's addresses do not behave alike on this port: it works on one address and fails on "
                 "another. A client may pick the failing one (often IPv6 first) and fail now and then.",
                 "Fix the failing address (firewall, a listener bound to IPv4 only, a missing IPv6 route) or remove "
                 "its DNS record until it works; meanwhile force the working address family in the client."},
};

const struct probe_finding_def *probe_finding_def(enum probe_finding_code code)
{
	return &probe_finding_table[code];
}

enum probe_port_role probe_port_role(int port)
{
	switch (port) {
	case 25:
		return PROBE_ROLE_RELAY;
	case 465:
		return PROBE_ROLE_SUBMISSIONS;
	case 587:
	case 2525:
		return PROBE_ROLE_SUBMISSION;
	default:
		return PROBE_ROLE_OTHER;
	}
}

static void add_finding(struct probe_result *r, enum probe_finding_code code, const struct probe_port_facts *p,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_finding(struct probe_result *r, enum probe_finding_code code, const struct probe_port_facts *p,
                        const char *fmt, ...)
{
	r->findings = xrealloc(r->findings, (r->n_findings + 1) * sizeof(*r->findings));
	struct probe_finding *fi = &r->findings[r->n_findings++];
	memset(fi, 0, sizeof(*fi));
	fi->code = code;
	if (p) {
		fi->port = p->port;
		snprintf(fi->address, sizeof(fi->address), "%s", p->address);
	}
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	fi->evidence = xmalloc((size_t)(n > 0 ? n : 0) + 1);
	vsnprintf(fi->evidence, (size_t)(n > 0 ? n : 0) + 1, fmt, ap2);
	va_end(ap2);
}

/* A reply that asks for TLS: 530/538, or a 5xx whose text mentions TLS ("Must issue a STARTTLS command first"). */
static const char *cert_error_words(const struct probe_cert *c)
{
	if (c->verify_text && c->verify_text[0])
		return c->verify_text;
	switch (c->verify_error) {
	case PROBE_CERT_OK:
		return "ok";
	case PROBE_CERT_EXPIRED:
		return "certificate has expired";
	case PROBE_CERT_NOT_YET_VALID:
		return "certificate is not yet valid (check the clocks)";
	case PROBE_CERT_SELF_SIGNED:
		return "self-signed certificate";
	case PROBE_CERT_UNKNOWN_ISSUER:
		return "unable to get local issuer certificate";
	case PROBE_CERT_OTHER:
		break;
	}
	return "certificate verify failed";
}

static void cert_names(const struct probe_cert *c, char *out, size_t outlen)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < c->san.n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", c->san.v[i]);
	if (c->san.n == 0)
		buf_printf(&b, "subject %s (no subjectAltName)", c->subject ? c->subject : "(none)");
	snprintf(out, outlen, "%s", buf_cstr(&b));
	buf_free(&b);
}

static void certificate_findings(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_result *r)
{
	const struct probe_cert *c = &p->tls.cert;
	if (!c->present)
		return;
	int expired = c->verify_error == PROBE_CERT_EXPIRED || c->days_left < 0;
	if (expired)
		add_finding(r, PROBE_F_CERTIFICATE_EXPIRED, p, "not after %s (%d days ago)", c->not_after,
		            -c->days_left);
	else if (c->days_left < PROBE_CERT_EXPIRING_SOON_DAYS)
		add_finding(r, PROBE_F_CERTIFICATE_EXPIRING_SOON, p, "not after %s (%d days left)", c->not_after,
		            c->days_left);
	if (!c->chain_valid && c->verify_error != PROBE_CERT_EXPIRED)
		add_finding(r, PROBE_F_CERTIFICATE_UNTRUSTED, p, "%s; issuer %s", cert_error_words(c),
		            c->issuer ? c->issuer : "(none)");
	if (!c->name_match) {
		char names[600];
		cert_names(c, names, sizeof(names));
		const char *name = c->checked_name ? c->checked_name : (f->servername ? f->servername : f->host);
		add_finding(r, PROBE_F_CERTIFICATE_NAME_MISMATCH, p, "checked %s; the certificate names %s",
		            name ? name : "(none)", names);
	}
}

static void tls_findings(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_result *r)
{
	const struct probe_tls *t = &p->tls;
	const char *via = t->via == PROBE_TLS_VIA_STARTTLS ? "after STARTTLS" : "implicit TLS";
	if (t->outcome == PROBE_TLS_FAILED || t->outcome == PROBE_TLS_TIMEOUT) {
		add_finding(r, PROBE_F_TLS_HANDSHAKE_FAILED, p, "%s: %s", via,
		            t->outcome == PROBE_TLS_TIMEOUT ? "no answer to the ClientHello"
		                                            : (t->error ? t->error : "handshake failed"));
		return;
	}
	if (t->outcome != PROBE_TLS_OK)
		return;
	if (t->versions[PROBE_TLS_1_0] == PROBE_ACCEPTED || t->versions[PROBE_TLS_1_1] == PROBE_ACCEPTED)
		add_finding(r, PROBE_F_WEAK_TLS_VERSIONS, p, "accepted:%s%s",
		            t->versions[PROBE_TLS_1_0] == PROBE_ACCEPTED ? " TLS 1.0" : "",
		            t->versions[PROBE_TLS_1_1] == PROBE_ACCEPTED ? " TLS 1.1" : "");
	certificate_findings(f, p, r);
}

/* MAIL and AUTH on the plaintext channel of a port that greeted in plaintext. */
static void plaintext_findings(const struct probe_port_facts *p, struct probe_result *r)
{
	int auth_offered = probe_ehlo_find(&p->ehlo, "AUTH") != NULL;
	const struct probe_reply *a = &p->auth_before_tls;
	if (a->code >= 200 && a->code < 400) {
		char *s = probe_reply_format(a);
		add_finding(r, PROBE_F_AUTH_ACCEPTED_BEFORE_TLS, p, "AUTH before TLS: %s", s);
		free(s);
	} else if (auth_offered) {
		add_finding(r, PROBE_F_AUTH_OFFERED_BEFORE_TLS, p, "EHLO before TLS: %s",
		            probe_ehlo_find(&p->ehlo, "AUTH"));
	}
	if (a->code && probe_reply_demands_tls(a)) {
		char *s = probe_reply_format(a);
		add_finding(r, PROBE_F_AUTH_BEFORE_STARTTLS, p, "AUTH before TLS: %s", s);
		free(s);
	}
	const struct probe_reply *m = &p->mail_before_tls;
	if (m->code && probe_reply_demands_tls(m)) {
		char *s = probe_reply_format(m);
		add_finding(r, PROBE_F_MAIL_BEFORE_STARTTLS, p, "MAIL FROM before TLS: %s", s);
		free(s);
	} else if (m->code >= 200 && m->code < 300 && p->mode == PROBE_MODE_STARTTLS &&
	           probe_port_role(p->port) == PROBE_ROLE_SUBMISSION) {
		char *s = probe_reply_format(m);
		add_finding(r, PROBE_F_STARTTLS_NOT_ENFORCED, p, "MAIL FROM before STARTTLS: %s", s);
		free(s);
	}
}

static void auth_findings(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_result *r)
{
	/* The EHLO a client authenticates after: inside TLS when TLS worked, else the plaintext one. */
	const struct probe_strlist *ehlo = NULL;
	if (p->tls.outcome == PROBE_TLS_OK)
		ehlo = &p->ehlo_after_tls;
	else if (p->mode == PROBE_MODE_PLAINTEXT)
		ehlo = &p->ehlo;
	enum probe_port_role role = probe_port_role(p->port);
	if (ehlo && ehlo->n > 0 && !probe_ehlo_find(ehlo, "AUTH") &&
	    (f->credentials || role == PROBE_ROLE_SUBMISSION || role == PROBE_ROLE_SUBMISSIONS))
		add_finding(r, PROBE_F_AUTH_NOT_OFFERED, p, "EHLO%s lists no AUTH",
		            ehlo == &p->ehlo_after_tls ? " inside TLS" : "");
	if (!f->credentials)
		return;
	for (size_t i = 0; i < p->n_auth; i++) {
		const struct probe_auth *a = &p->auth[i];
		if (a->reply.code >= 200 && a->reply.code < 300)
			continue;
		char *s = probe_reply_format(&a->reply);
		add_finding(r, PROBE_F_AUTH_FAILED, p, "AUTH %s: %s", a->mechanism, s);
		free(s);
	}
}

static void port_findings(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_result *r)
{
	const char *err = p->tcp_error;
	switch (p->tcp) {
	case PROBE_TCP_REFUSED:
		add_finding(r, PROBE_F_PORT_REFUSED, p, "connect to %s port %d: %s", p->address, p->port,
		            err ? err : "connection refused");
		return;
	case PROBE_TCP_TIMEOUT:
		if (p->timings_ms.connect >= 0)
			add_finding(r, PROBE_F_PORT_FILTERED, p, "connect to %s port %d: no answer within %d ms",
			            p->address, p->port, p->timings_ms.connect);
		else
			add_finding(r, PROBE_F_PORT_FILTERED, p, "connect to %s port %d: no answer", p->address,
			            p->port);
		return;
	case PROBE_TCP_UNREACHABLE:
		add_finding(r, PROBE_F_PORT_UNREACHABLE, p, "connect to %s port %d: %s", p->address, p->port,
		            err ? err : "no route to host");
		return;
	case PROBE_TCP_RESET:
		add_finding(r, PROBE_F_CONNECTION_RESET, p, "%s port %d: %s", p->address, p->port,
		            err ? err : "connection reset by peer");
		return;
	case PROBE_TCP_OPEN:
	case PROBE_TCP__COUNT:
		break;
	}

	enum probe_port_role role = probe_port_role(p->port);
	switch (p->mode) {
	case PROBE_MODE_NONE:
	case PROBE_MODE__COUNT:
		return;
	case PROBE_MODE_SILENT: {
		const char *tls = p->tls.outcome == PROBE_TLS_FAILED
		                          ? (p->tls.error ? p->tls.error : "failed")
		                          : (p->tls.outcome == PROBE_TLS_TIMEOUT ? "no answer" : "not tried");
		if (p->timings_ms.banner >= 0)
			add_finding(r, PROBE_F_SILENT_PORT, p, "no greeting within %d ms; TLS handshake: %s",
			            p->timings_ms.banner, tls);
		else
			add_finding(r, PROBE_F_SILENT_PORT, p, "no greeting; TLS handshake: %s", tls);
		return;
	}
	case PROBE_MODE_NOT_SMTP: {
		char *s = probe_reply_format(&p->banner);
		add_finding(r, PROBE_F_NOT_SMTP, p, "the port answered: %s", s);
		free(s);
		return;
	}
	case PROBE_MODE_PLAINTEXT:
	case PROBE_MODE_STARTTLS:
		if (role == PROBE_ROLE_SUBMISSIONS)
			add_finding(r, PROBE_F_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT, p, "port %d greeted in plaintext: %d",
			            p->port, p->banner.code);
		break;
	case PROBE_MODE_IMPLICIT_TLS:
		if (role == PROBE_ROLE_SUBMISSION || role == PROBE_ROLE_RELAY)
			add_finding(r, PROBE_F_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT, p,
			            "port %d sent no greeting and completed a TLS handshake from the first byte",
			            p->port);
		/* The handshake comes before the greeting: its findings stand even when the greeting refuses. */
		tls_findings(f, p, r);
		break;
	}

	if (p->banner.code >= 400) {
		char *s = probe_reply_format(&p->banner);
		add_finding(r, p->banner.code < 500 ? PROBE_F_GREETING_THROTTLED : PROBE_F_GREETING_REJECTED, p,
		            "greeting: %s", s);
		free(s);
		return;
	}

	if (p->mode == PROBE_MODE_PLAINTEXT) {
		add_finding(r, PROBE_F_NO_TLS, p, "EHLO lists no STARTTLS and the port does not speak TLS first");
	} else if (p->mode == PROBE_MODE_STARTTLS) {
		if (p->starttls_reply.code && p->starttls_reply.code != 220) {
			char *s = probe_reply_format(&p->starttls_reply);
			add_finding(r, PROBE_F_STARTTLS_FAILED, p, "STARTTLS: %s", s);
			free(s);
		} else {
			tls_findings(f, p, r);
		}
	}
	if (p->mode == PROBE_MODE_PLAINTEXT || p->mode == PROBE_MODE_STARTTLS)
		plaintext_findings(p, r);
	if (p->injection == PROBE_INJECTION_VULNERABLE)
		add_finding(r, PROBE_F_STARTTLS_INJECTION_VULNERABLE, p,
		            "sent \"STARTTLS\\r\\nNOOP\\r\\n\" in one write; the NOOP was answered inside TLS");
	auth_findings(f, p, r);
	if (p->rcpt.code >= 400 && p->rcpt.code < 500) {
		char *s = probe_reply_format(&p->rcpt);
		add_finding(r, PROBE_F_GREYLISTED, p, "RCPT TO: %s", s);
		free(s);
	}
}

static int port_works_somehow(const struct probe_port_verdict *v)
{
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
		if (v->client[c].symptom == PROBE_SYMPTOM_WORKS)
			return 1;
	return 0;
}

/* The same port on two addresses of the host: one works, the other does not. One finding per port. */
static void address_findings(const struct probe_facts *f, struct probe_result *r)
{
	for (size_t i = 0; i < f->n_ports; i++) {
		const struct probe_port_facts *p = f->ports[i];
		/* The first address where the port works speaks for the port (once per port number). */
		int first = 1;
		for (size_t j = 0; j < i; j++)
			if (f->ports[j]->port == p->port && port_works_somehow(&r->ports[j]))
				first = 0;
		if (!first || !port_works_somehow(&r->ports[i]))
			continue;
		for (size_t j = 0; j < f->n_ports; j++) {
			const struct probe_port_facts *q = f->ports[j];
			if (q->port != p->port || port_works_somehow(&r->ports[j]))
				continue;
			enum probe_client_tls c = PROBE_CLIENT_STARTTLS;
			for (int k = 0; k < PROBE_CLIENT__COUNT; k++)
				if (r->ports[i].client[k].symptom == PROBE_SYMPTOM_WORKS)
					c = (enum probe_client_tls)k;
			add_finding(r, PROBE_F_ADDRESSES_DISAGREE, NULL, "port %d works on %s but fails on %s: %s",
			            p->port, p->address, q->address,
			            probe_symptom_words(r->ports[j].client[c].symptom));
			r->findings[r->n_findings - 1].port = p->port;
			break;
		}
	}
}

static int finding_cmp(const void *a, const void *b)
{
	const struct probe_finding *x = a, *y = b;
	enum smtp_diag_severity sx = probe_finding_table[x->code].severity, sy = probe_finding_table[y->code].severity;
	if (sx != sy)
		return sx > sy ? -1 : 1; /* errors first */
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
	int c = strcmp(x->address, y->address);
	return c ? c : strcmp(x->evidence, y->evidence);
}

void probe_rules_evaluate(const struct probe_facts *f, struct probe_result *out)
{
	memset(out, 0, sizeof(*out));
	out->n_ports = f->n_ports;
	out->ports = xcalloc(f->n_ports ? f->n_ports : 1, sizeof(*out->ports));
	for (size_t i = 0; i < f->n_ports; i++)
		probe_rules_matrix(f, f->ports[i], &out->ports[i]);
	for (size_t i = 0; i < f->n_ports; i++)
		port_findings(f, f->ports[i], out);
	address_findings(f, out);
	if (out->n_findings > 1)
		qsort(out->findings, out->n_findings, sizeof(*out->findings), finding_cmp);
	probe_rules_recommend(f, out, &out->rec, &out->exit_status);
}

void probe_result_free(struct probe_result *r)
{
	for (size_t i = 0; i < r->n_findings; i++)
		free(r->findings[i].evidence);
	free(r->findings);
	for (size_t i = 0; i < r->n_ports; i++)
		for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
			free(r->ports[i].client[c].detail);
	free(r->ports);
	free(r->rec.reason);
	memset(r, 0, sizeof(*r));
}
