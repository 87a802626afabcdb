/*
 * Unit tests for probe_rules: every finding code produced from a hand-built
 * facts struct (and the whole table covered), the shared codes spelled as the
 * sandbox spells them, the client-configuration matrix, and the decision
 * order of the recommendation with its exit status.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509_vfy.h>

#include "probe/probe_rules.h"
#include "probe_test_facts.h"
#include "smtp/smtp_diag.h"

static const struct probe_finding *find(const struct probe_result *r, enum probe_finding_code code, int port)
{
	for (size_t i = 0; i < r->n_findings; i++)
		if (r->findings[i].code == code && (port < 0 || r->findings[i].port == port))
			return &r->findings[i];
	return NULL;
}

/* ---- one case per finding code ---- */

static void c_clienthello_on_plaintext(struct probe_facts *f)
{
	fx_starttls(f, "192.0.2.1", 465);
}
static void c_silent_client_on_implicit(struct probe_facts *f)
{
	fx_implicit(f, "192.0.2.1", 587);
}
static void c_auth_before_starttls(struct probe_facts *f)
{
	fx_starttls(f, "192.0.2.1", 587);
}
static void c_tls_handshake_failed(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	p->tls.outcome = PROBE_TLS_FAILED;
	probe_set_str(&p->tls.error, "no protocol version in common (alert: protocol version)");
}
static void c_auth_failed(struct probe_facts *f)
{
	f->credentials = true;
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	fx_auth(p, "PLAIN", 535, "5.7.8", "Error: authentication failed");
	fx_auth(p, "LOGIN", 235, "2.7.0", "Authentication successful");
}
static void c_port_filtered(struct probe_facts *f)
{
	fx_closed(f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
}
static void c_port_refused(struct probe_facts *f)
{
	fx_closed(f, "192.0.2.1", 2525, PROBE_TCP_REFUSED);
}
static void c_port_unreachable(struct probe_facts *f)
{
	fx_closed(f, "2001:db8::1", 587, PROBE_TCP_UNREACHABLE);
}
static void c_connection_reset(struct probe_facts *f)
{
	fx_closed(f, "192.0.2.1", 25, PROBE_TCP_RESET);
}
static void c_silent_port(struct probe_facts *f)
{
	struct probe_port_facts *p = probe_facts_add_port(f, "192.0.2.1", 587);
	p->mode = PROBE_MODE_SILENT;
	p->tls.via = PROBE_TLS_VIA_IMPLICIT;
	p->tls.outcome = PROBE_TLS_TIMEOUT;
	p->timings_ms.banner = 3000;
}
static void c_not_smtp(struct probe_facts *f)
{
	struct probe_port_facts *p = probe_facts_add_port(f, "192.0.2.1", 587);
	p->mode = PROBE_MODE_NOT_SMTP;
	probe_reply_set(&p->banner, 0, NULL, "HTTP/1.1 400 Bad Request");
	p->tls.via = PROBE_TLS_VIA_IMPLICIT;
	p->tls.outcome = PROBE_TLS_FAILED;
	probe_set_str(&p->tls.error, "wrong version number");
}
static void c_greeting_throttled(struct probe_facts *f)
{
	struct probe_port_facts *p = probe_facts_add_port(f, "192.0.2.1", 587);
	p->mode = PROBE_MODE_PLAINTEXT;
	probe_reply_set(&p->banner, 421, "4.7.0", "mail.example.com Too many connections, try again later");
}
static void c_greeting_rejected(struct probe_facts *f)
{
	struct probe_port_facts *p = probe_facts_add_port(f, "192.0.2.1", 25);
	p->mode = PROBE_MODE_PLAINTEXT;
	probe_reply_set(&p->banner, 554, "5.7.1", "Service unavailable; client host blocked using zen.example");
}
static void c_no_tls(struct probe_facts *f)
{
	fx_plaintext(f, "192.0.2.1", 587);
}
static void c_starttls_failed(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	probe_reply_set(&p->starttls_reply, 454, "4.7.0", "TLS not available due to local problem");
	p->tls.outcome = PROBE_TLS_NOT_TRIED;
}
static void c_weak_tls(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.versions[PROBE_TLS_1_0] = PROBE_ACCEPTED;
}
static void c_cert_expired(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.cert.days_left = -30;
	p->tls.cert.chain_valid = false;
	p->tls.cert.verify_error = PROBE_CERT_EXPIRED;
	probe_set_str(&p->tls.cert.verify_text, "certificate has expired");
}
static void c_cert_expiring(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.cert.days_left = 5;
}
static void c_cert_mismatch(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.cert.name_match = false;
	probe_set_str(&p->tls.cert.checked_name, "smtp.example.org");
}
static void c_cert_untrusted(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.cert.chain_valid = false;
	p->tls.cert.verify_error = PROBE_CERT_SELF_SIGNED;
	probe_set_str(&p->tls.cert.verify_text, "self-signed certificate");
}
static void c_auth_offered_before_tls(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	probe_strlist_add(&p->ehlo, "AUTH PLAIN LOGIN");
}
static void c_auth_accepted_before_tls(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	probe_strlist_add(&p->ehlo, "AUTH PLAIN LOGIN");
	probe_reply_set(&p->auth_before_tls, 334, NULL, "VXNlcm5hbWU6");
}
static void c_starttls_not_enforced(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	probe_reply_set(&p->mail_before_tls, 250, "2.1.0", "Ok");
}
static void c_injection(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	p->injection = PROBE_INJECTION_VULNERABLE;
}
static void c_auth_not_offered(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	probe_strlist_free(&p->ehlo_after_tls);
	fx_ehlo_common(&p->ehlo_after_tls);
}
static void c_greylisted(struct probe_facts *f)
{
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 25);
	probe_reply_set(&p->rcpt, 450, "4.7.1", "<probe@example.net>: Recipient address rejected: Greylisted");
}
static void c_addresses_disagree(struct probe_facts *f)
{
	fx_starttls(f, "192.0.2.1", 587);
	fx_closed(f, "2001:db8::1", 587, PROBE_TCP_TIMEOUT);
}
/* The failing address first (probe lists AAAA before A, as clients try them): still one finding. */
static void c_addresses_disagree_failing_first(struct probe_facts *f)
{
	fx_closed(f, "2001:db8::1", 587, PROBE_TCP_REFUSED);
	fx_starttls(f, "192.0.2.1", 587);
}

static const struct {
	enum probe_finding_code code;
	int port;
	void (*build)(struct probe_facts *f);
} cases[] = {
        {PROBE_F_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT, 465, c_clienthello_on_plaintext},
        {PROBE_F_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT, 587, c_silent_client_on_implicit},
        {PROBE_F_AUTH_BEFORE_STARTTLS, 587, c_auth_before_starttls},
        {PROBE_F_MAIL_BEFORE_STARTTLS, 587, c_auth_before_starttls},
        {PROBE_F_TLS_HANDSHAKE_FAILED, 587, c_tls_handshake_failed},
        {PROBE_F_AUTH_FAILED, 587, c_auth_failed},
        {PROBE_F_PORT_FILTERED, 587, c_port_filtered},
        {PROBE_F_PORT_REFUSED, 2525, c_port_refused},
        {PROBE_F_PORT_UNREACHABLE, 587, c_port_unreachable},
        {PROBE_F_CONNECTION_RESET, 25, c_connection_reset},
        {PROBE_F_SILENT_PORT, 587, c_silent_port},
        {PROBE_F_NOT_SMTP, 587, c_not_smtp},
        {PROBE_F_GREETING_THROTTLED, 587, c_greeting_throttled},
        {PROBE_F_GREETING_REJECTED, 25, c_greeting_rejected},
        {PROBE_F_NO_TLS, 587, c_no_tls},
        {PROBE_F_STARTTLS_FAILED, 587, c_starttls_failed},
        {PROBE_F_WEAK_TLS_VERSIONS, 465, c_weak_tls},
        {PROBE_F_CERTIFICATE_EXPIRED, 465, c_cert_expired},
        {PROBE_F_CERTIFICATE_EXPIRING_SOON, 465, c_cert_expiring},
        {PROBE_F_CERTIFICATE_NAME_MISMATCH, 465, c_cert_mismatch},
        {PROBE_F_CERTIFICATE_UNTRUSTED, 465, c_cert_untrusted},
        {PROBE_F_AUTH_OFFERED_BEFORE_TLS, 587, c_auth_offered_before_tls},
        {PROBE_F_AUTH_ACCEPTED_BEFORE_TLS, 587, c_auth_accepted_before_tls},
        {PROBE_F_STARTTLS_NOT_ENFORCED, 587, c_starttls_not_enforced},
        {PROBE_F_STARTTLS_INJECTION_VULNERABLE, 587, c_injection},
        {PROBE_F_AUTH_NOT_OFFERED, 587, c_auth_not_offered},
        {PROBE_F_GREYLISTED, 25, c_greylisted},
        {PROBE_F_ADDRESSES_DISAGREE, 587, c_addresses_disagree},
        {PROBE_F_ADDRESSES_DISAGREE, 587, c_addresses_disagree_failing_first},
};

static void test_every_finding_code(void **state)
{
	int covered[PROBE_F__COUNT] = {0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe_facts f;
		probe_facts_init(&f, "mail.example.com");
		cases[i].build(&f);
		struct probe_result r;
		probe_rules_evaluate(&f, &r);
		const struct probe_finding *fi = find(&r, cases[i].code, cases[i].port);
		if (fi == NULL)
			fail_msg("case %zu: no %s on port %d", i, probe_finding_def(cases[i].code)->code,
			         cases[i].port);
		assert_non_null(fi->evidence);
		assert_true(fi->evidence[0] != '\0');
		covered[cases[i].code] = 1;
		probe_result_free(&r);
		probe_facts_free(&f);
	}
	for (int c = 0; c < PROBE_F__COUNT; c++) {
		const struct probe_finding_def *d = probe_finding_def((enum probe_finding_code)c);
		assert_non_null(d->code);
		assert_non_null(d->message);
		assert_non_null(d->fix);
		if (!covered[c])
			fail_msg("finding %s has no test case", d->code);
		for (int k = 0; k < c; k++)
			assert_string_not_equal(d->code, probe_finding_def((enum probe_finding_code)k)->code);
	}
}

/* Where the probe sees the sandbox's fault from the client side, the code is the sandbox's, letter for letter. */
static void test_shared_codes(void **state)
{
	static const struct {
		enum probe_finding_code probe;
		enum smtp_diag_code diag;
	} shared[] = {
	        {PROBE_F_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT, SMTP_DIAG_TLS_CLIENTHELLO_ON_PLAINTEXT_PORT},
	        {PROBE_F_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT, SMTP_DIAG_SILENT_CLIENT_ON_IMPLICIT_TLS_PORT},
	        {PROBE_F_AUTH_BEFORE_STARTTLS, SMTP_DIAG_AUTH_BEFORE_STARTTLS},
	        {PROBE_F_MAIL_BEFORE_STARTTLS, SMTP_DIAG_MAIL_BEFORE_STARTTLS},
	        {PROBE_F_TLS_HANDSHAKE_FAILED, SMTP_DIAG_TLS_HANDSHAKE_FAILED},
	        {PROBE_F_AUTH_FAILED, SMTP_DIAG_AUTH_FAILED},
	};
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		assert_string_equal(probe_finding_def(shared[i].probe)->code, smtp_diag_def(shared[i].diag)->code);
}

/* A well-run server: only the two informational findings that explain what a plaintext client meets. */
static void test_healthy_server_is_quiet(void **state)
{
	struct probe_facts f;
	probe_facts_init(&f, "mail.example.com");
	fx_starttls(&f, "192.0.2.1", 587);
	fx_implicit(&f, "192.0.2.1", 465);
	struct probe_result r;
	probe_rules_evaluate(&f, &r);
	for (size_t i = 0; i < r.n_findings; i++)
		assert_int_equal(probe_finding_def(r.findings[i].code)->severity, SMTP_DIAG_INFO);
	assert_non_null(find(&r, PROBE_F_MAIL_BEFORE_STARTTLS, 587));
	assert_int_equal(r.exit_status, 0);
	probe_result_free(&r);
	probe_facts_free(&f);
}

static void test_findings_sorted_by_severity(void **state)
{
	struct probe_facts f;
	probe_facts_init(&f, "mail.example.com");
	c_cert_expired(&f);
	c_port_refused(&f);
	c_port_filtered(&f);
	struct probe_result r;
	probe_rules_evaluate(&f, &r);
	assert_true(r.n_findings >= 3);
	for (size_t i = 1; i < r.n_findings; i++)
		assert_true(probe_finding_def(r.findings[i - 1].code)->severity >=
		            probe_finding_def(r.findings[i].code)->severity);
	assert_int_equal(r.findings[0].code, PROBE_F_CERTIFICATE_EXPIRED);
	probe_result_free(&r);
	probe_facts_free(&f);
}

/* ---- the matrix ---- */

static void eval_one(void (*build)(struct probe_facts *), struct probe_facts *f, struct probe_result *r)
{
	probe_facts_init(f, "mail.example.com");
	build(f);
	probe_rules_evaluate(f, r);
}

#define CELL(r, i, c) ((r).ports[i].client[PROBE_CLIENT_##c].symptom)

static void test_matrix(void **state)
{
	struct probe_facts f;
	struct probe_result r;
	struct probe_port_facts *p;

	eval_one(c_auth_before_starttls, &f, &r); /* healthy 587 */
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_MUST_ISSUE_STARTTLS);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_WORKS);
	assert_true(r.ports[0].client[PROBE_CLIENT_STARTTLS].encrypted);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_WRONG_VERSION_NUMBER);
	assert_string_equal(probe_symptom_words(CELL(r, 0, IMPLICIT_TLS)), "wrong version number");
	assert_non_null(strstr(r.ports[0].client[PROBE_CLIENT_NONE].detail, "530 5.7.0"));
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_weak_tls, &f, &r); /* implicit 465 */
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_BANNER_TIMEOUT);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_BANNER_TIMEOUT);
	assert_string_equal(probe_symptom_words(CELL(r, 0, STARTTLS)), "timeout waiting for banner");
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_WORKS);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_port_refused, &f, &r);
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
		assert_int_equal(r.ports[0].client[c].symptom, PROBE_SYMPTOM_CONNECTION_REFUSED);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_silent_port, &f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_BANNER_TIMEOUT);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_TLS_TIMEOUT);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_not_smtp, &f, &r);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_NOT_SMTP);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_WRONG_VERSION_NUMBER);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_cert_untrusted, &f, &r);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_CERT_VERIFY_FAILED);
	assert_string_equal(r.ports[0].client[PROBE_CLIENT_IMPLICIT_TLS].detail, "self-signed certificate");
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_cert_mismatch, &f, &r);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_CERT_VERIFY_FAILED);
	assert_non_null(strstr(r.ports[0].client[PROBE_CLIENT_IMPLICIT_TLS].detail, "hostname mismatch"));
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_starttls_not_enforced, &f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_WORKS);
	assert_false(r.ports[0].client[PROBE_CLIENT_NONE].encrypted);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_starttls_failed, &f, &r);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_STARTTLS_REFUSED);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_no_tls, &f, &r);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_STARTTLS_NOT_OFFERED);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_WORKS);
	probe_result_free(&r);
	probe_facts_free(&f);

	eval_one(c_greeting_throttled, &f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_GREETING_REFUSED);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_GREETING_REFUSED);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* With credentials: wrong ones fail every TLS configuration; no AUTH means "not supported". */
	eval_one(c_auth_failed, &f, &r); /* LOGIN succeeded: works */
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_WORKS);
	probe_result_free(&r);
	probe_facts_free(&f);
	probe_facts_init(&f, "mail.example.com");
	f.credentials = true;
	fx_auth(fx_starttls(&f, "192.0.2.1", 587), "PLAIN", 535, "5.7.8", "Error: authentication failed");
	probe_rules_evaluate(&f, &r);
	assert_int_equal(CELL(r, 0, STARTTLS), PROBE_SYMPTOM_AUTH_FAILED);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_MUST_ISSUE_STARTTLS);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Credentials right (inside TLS) and AUTH accepted in the clear: a client without TLS gets through. */
	probe_facts_init(&f, "mail.example.com");
	f.credentials = true;
	p = fx_starttls(&f, "192.0.2.1", 25);
	probe_reply_set(&p->mail_before_tls, 250, "2.1.0", "Ok");
	probe_strlist_add(&p->ehlo, "AUTH PLAIN LOGIN");
	probe_reply_set(&p->auth_before_tls, 334, NULL, "");
	fx_auth(p, "PLAIN", 235, "2.7.0", "Authentication successful");
	probe_rules_evaluate(&f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_WORKS);
	assert_false(r.ports[0].client[PROBE_CLIENT_NONE].encrypted);
	probe_result_free(&r);
	probe_reply_free(&p->auth_before_tls); /* ... but only if AUTH was tried without TLS */
	probe_rules_evaluate(&f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_NOT_TESTED);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* A fact that is missing is "not tested", never "works". */
	probe_facts_init(&f, "mail.example.com");
	probe_reply_free(&fx_starttls(&f, "192.0.2.1", 587)->mail_before_tls);
	probe_rules_evaluate(&f, &r);
	assert_int_equal(CELL(r, 0, NONE), PROBE_SYMPTOM_NOT_TESTED);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* What the I/O side tried beats what the rules infer. */
	probe_facts_init(&f, "mail.example.com");
	p = fx_starttls(&f, "192.0.2.1", 587);
	probe_client_obs_set(&p->client[PROBE_CLIENT_IMPLICIT_TLS], PROBE_SYMPTOM_TLS_TIMEOUT, "no ServerHello");
	probe_rules_evaluate(&f, &r);
	assert_int_equal(CELL(r, 0, IMPLICIT_TLS), PROBE_SYMPTOM_TLS_TIMEOUT);
	assert_true(r.ports[0].client[PROBE_CLIENT_IMPLICIT_TLS].observed);
	assert_string_equal(r.ports[0].client[PROBE_CLIENT_IMPLICIT_TLS].detail, "no ServerHello");
	assert_false(r.ports[0].client[PROBE_CLIENT_STARTTLS].observed);
	probe_result_free(&r);
	probe_facts_free(&f);
}

/* ---- the recommendation ---- */

static void recommend(struct probe_facts *f, struct probe_result *r, int port, enum probe_mode tls, int exit_status)
{
	probe_rules_evaluate(f, r);
	assert_non_null(r->rec.reason);
	if (r->rec.port != port || r->rec.tls != tls || r->exit_status != exit_status)
		fail_msg("recommended %d %s exit %d, expected %d %s exit %d: %s", r->rec.port,
		         probe_mode_name(r->rec.tls), r->exit_status, port, probe_mode_name(tls), exit_status,
		         r->rec.reason);
}

static void test_recommendation_order(void **state)
{
	struct probe_facts f;
	struct probe_result r;

	/* Everything works: 587 with STARTTLS. */
	probe_facts_init(&f, "mail.example.com");
	fx_implicit(&f, "192.0.2.1", 465);
	fx_starttls(&f, "192.0.2.1", 25);
	fx_starttls(&f, "192.0.2.1", 2525);
	fx_starttls(&f, "192.0.2.1", 587);
	recommend(&f, &r, 587, PROBE_MODE_STARTTLS, 0);
	assert_true(r.rec.works);
	assert_non_null(strstr(r.rec.reason, "RFC 6409"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* 587 filtered, 465 works: 465, and the reason says why not 587. */
	probe_facts_init(&f, "mail.example.com");
	fx_closed(&f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
	fx_implicit(&f, "192.0.2.1", 465);
	fx_starttls(&f, "192.0.2.1", 2525);
	recommend(&f, &r, 465, PROBE_MODE_IMPLICIT_TLS, 0);
	assert_non_null(strstr(r.rec.reason, "port 587 with STARTTLS, fails here: connection timed out"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Only non-standard ports probed (a sandbox on 1587/1025): the reason must not claim the
	 * standard ports fail when they were never probed. */
	probe_facts_init(&f, "127.0.0.1");
	fx_starttls(&f, "127.0.0.1", 1587);
	fx_implicit(&f, "127.0.0.1", 1465);
	recommend(&f, &r, 1587, PROBE_MODE_STARTTLS, 0);
	assert_null(strstr(r.rec.reason, "none of the standard"));
	assert_non_null(strstr(r.rec.reason, "were not probed"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Only 2525. */
	probe_facts_init(&f, "mail.example.com");
	fx_closed(&f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
	fx_closed(&f, "192.0.2.1", 465, PROBE_TCP_REFUSED);
	fx_closed(&f, "192.0.2.1", 25, PROBE_TCP_TIMEOUT);
	fx_starttls(&f, "192.0.2.1", 2525);
	recommend(&f, &r, 2525, PROBE_MODE_STARTTLS, 0);
	assert_non_null(strstr(r.rec.reason, "port 465 with implicit TLS fails: connection refused"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Only 25: recommended for relay only; not a submission configuration, so exit 1. */
	probe_facts_init(&f, "mail.example.com");
	fx_closed(&f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
	fx_closed(&f, "192.0.2.1", 465, PROBE_TCP_TIMEOUT);
	fx_closed(&f, "192.0.2.1", 2525, PROBE_TCP_REFUSED);
	fx_starttls(&f, "192.0.2.1", 25);
	recommend(&f, &r, 25, PROBE_MODE_STARTTLS, 1);
	assert_non_null(strstr(r.rec.reason, "relay"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* ... unless port 25 is all the user asked about. */
	probe_facts_init(&f, "mx.example.com");
	fx_starttls(&f, "192.0.2.1", 25);
	recommend(&f, &r, 25, PROBE_MODE_STARTTLS, 0);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Nothing: none, exit 1, and the reason names each port's symptom. */
	probe_facts_init(&f, "mail.example.com");
	fx_closed(&f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
	fx_closed(&f, "192.0.2.1", 465, PROBE_TCP_REFUSED);
	recommend(&f, &r, 0, PROBE_MODE_NONE, 1);
	assert_false(r.rec.works);
	assert_non_null(strstr(r.rec.reason, "port 587 on 192.0.2.1: connection timed out"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* No port at all. */
	probe_facts_init(&f, "mail.example.com");
	recommend(&f, &r, 0, PROBE_MODE_NONE, 1);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* A port the user named beats 25; STARTTLS first. */
	probe_facts_init(&f, "localhost");
	fx_starttls(&f, "127.0.0.1", 25);
	fx_implicit(&f, "127.0.0.1", 1465);
	fx_starttls(&f, "127.0.0.1", 1587);
	recommend(&f, &r, 1587, PROBE_MODE_STARTTLS, 0);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* 587 speaking implicit TLS (misconfigured) still beats no TLS elsewhere. */
	probe_facts_init(&f, "mail.example.com");
	fx_implicit(&f, "192.0.2.1", 587);
	c_no_tls(&f); /* another 587 entry, plaintext */
	f.ports[1]->port = 2525;
	recommend(&f, &r, 587, PROBE_MODE_IMPLICIT_TLS, 0);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Only plaintext works: recommended with the warning, exit 0. */
	probe_facts_init(&f, "mail.example.com");
	c_no_tls(&f);
	recommend(&f, &r, 587, PROBE_MODE_PLAINTEXT, 0);
	assert_non_null(strstr(r.rec.reason, "in the clear"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* 587 would work but its certificate expired: recommended as "needs a fix", exit 1. */
	probe_facts_init(&f, "mail.example.com");
	struct probe_port_facts *p = fx_starttls(&f, "192.0.2.1", 587);
	p->tls.cert.days_left = -3;
	p->tls.cert.chain_valid = false;
	p->tls.cert.verify_error = PROBE_CERT_EXPIRED;
	fx_closed(&f, "192.0.2.1", 465, PROBE_TCP_REFUSED);
	recommend(&f, &r, 587, PROBE_MODE_STARTTLS, 1);
	assert_false(r.rec.works);
	assert_non_null(strstr(r.rec.reason, "certificate has expired"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* A fully working 465 beats a 587 that needs a fix. */
	probe_facts_init(&f, "mail.example.com");
	p = fx_starttls(&f, "192.0.2.1", 587);
	p->tls.cert.name_match = false;
	fx_implicit(&f, "192.0.2.1", 465);
	recommend(&f, &r, 465, PROBE_MODE_IMPLICIT_TLS, 0);
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Wrong credentials everywhere: the transport is named, exit 1. */
	probe_facts_init(&f, "mail.example.com");
	f.credentials = true;
	fx_auth(fx_starttls(&f, "192.0.2.1", 587), "PLAIN", 535, "5.7.8", "Error: authentication failed");
	recommend(&f, &r, 587, PROBE_MODE_STARTTLS, 1);
	assert_non_null(strstr(r.rec.reason, "authentication failed"));
	probe_result_free(&r);
	probe_facts_free(&f);

	/* Works on one address: recommended, with addresses_disagree. */
	probe_facts_init(&f, "mail.example.com");
	c_addresses_disagree(&f);
	recommend(&f, &r, 587, PROBE_MODE_STARTTLS, 0);
	assert_string_equal(r.rec.address, "192.0.2.1");
	probe_result_free(&r);
	probe_facts_free(&f);
}

static void test_facts_helpers(void **state)
{
	struct probe_strlist l = {0};
	probe_strlist_add(&l, "PIPELINING");
	probe_strlist_add(&l, "auth PLAIN LOGIN");
	probe_strlist_add(&l, "AUTH=LOGIN CRAM-MD5");
	assert_non_null(probe_ehlo_find(&l, "AUTH"));
	assert_null(probe_ehlo_find(&l, "STARTTLS"));
	assert_null(probe_ehlo_find(&l, "PIPE"));
	char mechs[64];
	assert_int_equal(probe_ehlo_auth_mechanisms(&l, mechs, sizeof(mechs)), 3);
	assert_string_equal(mechs, "PLAIN LOGIN CRAM-MD5");
	probe_strlist_free(&l);

	struct probe_reply r = {0};
	char *s = probe_reply_format(&r);
	assert_string_equal(s, "(no reply)");
	free(s);
	probe_reply_set(&r, 250, NULL, "first\nsecond");
	s = probe_reply_format(&r);
	assert_string_equal(s, "250 first / second");
	free(s);
	probe_reply_set(&r, 530, "5.7.0", "Must issue a STARTTLS command first");
	assert_true(probe_reply_demands_tls(&r));
	probe_reply_set(&r, 530, "5.7.0", "Authentication required");
	assert_false(probe_reply_demands_tls(&r));
	probe_reply_set(&r, 538, "5.7.11", "Encryption required for requested authentication mechanism");
	assert_true(probe_reply_demands_tls(&r));
	probe_reply_free(&r);

	assert_int_equal(probe_tcp_from_errno(ECONNREFUSED), PROBE_TCP_REFUSED);
	assert_int_equal(probe_tcp_from_errno(ETIMEDOUT), PROBE_TCP_TIMEOUT);
	assert_int_equal(probe_tcp_from_errno(EHOSTUNREACH), PROBE_TCP_UNREACHABLE);
	assert_int_equal(probe_tcp_from_errno(ENETUNREACH), PROBE_TCP_UNREACHABLE);
	assert_int_equal(probe_tcp_from_errno(ECONNRESET), PROBE_TCP_RESET);
	assert_int_equal(probe_cert_error_from_openssl(X509_V_OK), PROBE_CERT_OK);
	assert_int_equal(probe_cert_error_from_openssl(X509_V_ERR_CERT_HAS_EXPIRED), PROBE_CERT_EXPIRED);
	assert_int_equal(probe_cert_error_from_openssl(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), PROBE_CERT_SELF_SIGNED);
	assert_int_equal(probe_cert_error_from_openssl(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
	                 PROBE_CERT_UNKNOWN_ISSUER);
	assert_int_equal(probe_cert_error_from_openssl(X509_V_ERR_HOSTNAME_MISMATCH), PROBE_CERT_OTHER);

	for (int m = 0; m < PROBE_MODE__COUNT; m++)
		assert_non_null(probe_mode_name((enum probe_mode)m));
	for (int s2 = 0; s2 < PROBE_SYMPTOM__COUNT; s2++)
		assert_non_null(probe_symptom_words((enum probe_symptom)s2));
	assert_string_equal(probe_mode_name(probe_client_mode(PROBE_CLIENT_IMPLICIT_TLS)), "implicit_tls");
	assert_string_equal(probe_mode_name(probe_client_mode(PROBE_CLIENT_STARTTLS)), "starttls");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_finding_code),
	        cmocka_unit_test(test_shared_codes),
	        cmocka_unit_test(test_healthy_server_is_quiet),
	        cmocka_unit_test(test_findings_sorted_by_severity),
	        cmocka_unit_test(test_matrix),
	        cmocka_unit_test(test_recommendation_order),
	        cmocka_unit_test(test_facts_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
