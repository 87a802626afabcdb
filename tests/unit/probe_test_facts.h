/*
 * Hand-built probe facts shared by test_probe_rules.c, test_probe_json.c and
 * test_probe_report.c: what the I/O side would record for well-behaved and
 * misbehaving ports. Each builder starts from a healthy port and the tests
 * break one thing at a time.
 */
#ifndef MAILSCOPE_TESTS_PROBE_TEST_FACTS_H
#define MAILSCOPE_TESTS_PROBE_TEST_FACTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_facts.h"

static inline void fx_cert(struct probe_cert *c, const char *name, int days_left)
{
	c->present = true;
	char dn[300];
	snprintf(dn, sizeof(dn), "CN=%s", name);
	probe_set_str(&c->subject, dn);
	probe_set_str(&c->issuer, "CN=mailscope test CA,O=mailscope");
	probe_strlist_add(&c->san, name);
	probe_strlist_add(&c->san, "127.0.0.1");
	snprintf(c->not_before, sizeof(c->not_before), "2026-01-01T00:00:00Z");
	snprintf(c->not_after, sizeof(c->not_after), "2027-01-01T00:00:00Z");
	c->days_left = days_left;
	snprintf(c->key, sizeof(c->key), "EC P-256");
	snprintf(c->signature, sizeof(c->signature), "ecdsa-with-SHA256");
	snprintf(c->fingerprint, sizeof(c->fingerprint), "AB:CD:EF:%02X", (unsigned)strlen(name));
	c->chain_valid = true;
	c->verify_error = PROBE_CERT_OK;
	probe_set_str(&c->checked_name, name);
	c->name_match = true;
}

static inline void fx_tls_ok(struct probe_port_facts *p, enum probe_tls_via via, const char *name)
{
	p->tls.via = via;
	p->tls.outcome = PROBE_TLS_OK;
	snprintf(p->tls.version, sizeof(p->tls.version), "TLSv1.3");
	snprintf(p->tls.cipher, sizeof(p->tls.cipher), "TLS_AES_256_GCM_SHA384");
	p->tls.versions[PROBE_TLS_1_0] = PROBE_REFUSED;
	p->tls.versions[PROBE_TLS_1_1] = PROBE_REFUSED;
	p->tls.versions[PROBE_TLS_1_2] = PROBE_ACCEPTED;
	p->tls.versions[PROBE_TLS_1_3] = PROBE_ACCEPTED;
	fx_cert(&p->tls.cert, name, 200);
}

static inline void fx_ehlo_common(struct probe_strlist *l)
{
	probe_strlist_add(l, "PIPELINING");
	probe_strlist_add(l, "SIZE 10240000");
	probe_strlist_add(l, "ENHANCEDSTATUSCODES");
	probe_strlist_add(l, "8BITMIME");
}

/* A port with STARTTLS done right: 530 before TLS, AUTH only inside TLS. */
static inline struct probe_port_facts *fx_starttls(struct probe_facts *f, const char *addr, int port)
{
	struct probe_port_facts *p = probe_facts_add_port(f, addr, port);
	p->tcp = PROBE_TCP_OPEN;
	p->mode = PROBE_MODE_STARTTLS;
	probe_reply_set(&p->banner, 220, NULL, "mail.example.com ESMTP Postfix");
	fx_ehlo_common(&p->ehlo);
	probe_strlist_add(&p->ehlo, "STARTTLS");
	p->starttls_offered = true;
	probe_reply_set(&p->starttls_reply, 220, "2.0.0", "Ready to start TLS");
	fx_tls_ok(p, PROBE_TLS_VIA_STARTTLS, "mail.example.com");
	fx_ehlo_common(&p->ehlo_after_tls);
	probe_strlist_add(&p->ehlo_after_tls, "AUTH PLAIN LOGIN");
	probe_reply_set(&p->mail_before_tls, 530, "5.7.0", "Must issue a STARTTLS command first");
	probe_reply_set(&p->auth_before_tls, 530, "5.7.0", "Must issue a STARTTLS command first");
	probe_reply_set(&p->rcpt, 554, "5.7.1", "<probe@example.net>: Relay access denied");
	p->injection = PROBE_INJECTION_SAFE;
	p->timings_ms = (struct probe_timings){2, 5, 7, 9, 14, -1, 40};
	return p;
}

/* A port without any TLS that accepts MAIL in plaintext. */
static inline struct probe_port_facts *fx_plaintext(struct probe_facts *f, const char *addr, int port)
{
	struct probe_port_facts *p = probe_facts_add_port(f, addr, port);
	p->tcp = PROBE_TCP_OPEN;
	p->mode = PROBE_MODE_PLAINTEXT;
	probe_reply_set(&p->banner, 220, NULL, "relay.example.com ESMTP");
	fx_ehlo_common(&p->ehlo);
	probe_reply_set(&p->mail_before_tls, 250, "2.1.0", "Ok");
	p->timings_ms = (struct probe_timings){1, 3, 5, -1, -1, -1, 9};
	return p;
}

/* A port with implicit TLS (465) done right. */
static inline struct probe_port_facts *fx_implicit(struct probe_facts *f, const char *addr, int port)
{
	struct probe_port_facts *p = probe_facts_add_port(f, addr, port);
	p->tcp = PROBE_TCP_OPEN;
	p->mode = PROBE_MODE_IMPLICIT_TLS;
	fx_tls_ok(p, PROBE_TLS_VIA_IMPLICIT, "mail.example.com");
	probe_reply_set(&p->banner, 220, NULL, "mail.example.com ESMTP Postfix");
	fx_ehlo_common(&p->ehlo_after_tls);
	probe_strlist_add(&p->ehlo_after_tls, "AUTH PLAIN LOGIN");
	p->timings_ms = (struct probe_timings){2, 1010, 1020, -1, 12, -1, 1030};
	return p;
}

/* A port whose TCP connect ended as t. */
static inline struct probe_port_facts *fx_closed(struct probe_facts *f, const char *addr, int port, enum probe_tcp t)
{
	struct probe_port_facts *p = probe_facts_add_port(f, addr, port);
	p->tcp = t;
	p->mode = PROBE_MODE_NONE;
	p->timings_ms.connect = t == PROBE_TCP_TIMEOUT ? 5000 : 1;
	if (t == PROBE_TCP_REFUSED)
		probe_set_str(&p->tcp_error, "Connection refused");
	return p;
}

/* Adds credentials results to a port: each mechanism with its reply. */
static inline void fx_auth(struct probe_port_facts *p, const char *mech, int code, const char *enh, const char *text)
{
	struct probe_auth *a = probe_port_add_auth(p, mech);
	probe_reply_set(&a->reply, code, enh, text);
}

/* ---- whole scenarios (used for the JSON schema check and the report) ---- */

/* A well-run provider: 587 STARTTLS and 465 implicit; 2525 closed; 25 blocked by the local network. */
static inline void fx_scenario_healthy(struct probe_facts *f)
{
	probe_strlist_add(&f->addresses, "192.0.2.1");
	fx_starttls(f, "192.0.2.1", 587);
	fx_implicit(f, "192.0.2.1", 465);
	fx_closed(f, "192.0.2.1", 2525, PROBE_TCP_REFUSED);
	fx_closed(f, "192.0.2.1", 25, PROBE_TCP_TIMEOUT);
}

/* Everything a server can get wrong, one port at a time. */
static inline void fx_scenario_broken(struct probe_facts *f)
{
	probe_strlist_add(&f->addresses, "192.0.2.1");
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 465); /* plaintext on 465, injectable */
	probe_reply_set(&p->mail_before_tls, 250, "2.1.0", "Ok");
	p->injection = PROBE_INJECTION_VULNERABLE;
	p = fx_implicit(f, "192.0.2.1", 587); /* implicit on 587, expired */
	p->tls.cert.days_left = -10;
	p->tls.cert.chain_valid = false;
	p->tls.cert.verify_error = PROBE_CERT_EXPIRED;
	probe_set_str(&p->tls.cert.verify_text, "certificate has expired");
	p = fx_plaintext(f, "192.0.2.1", 25); /* no TLS, AUTH in the clear, greylisting */
	probe_strlist_add(&p->ehlo, "AUTH PLAIN LOGIN");
	probe_reply_set(&p->auth_before_tls, 334, NULL, "");
	probe_reply_set(&p->mail_before_tls, 250, "2.1.0", "Ok");
	probe_reply_set(&p->rcpt, 450, "4.7.1", "<probe@example.net>: Recipient address rejected: Greylisted");
	p = probe_facts_add_port(f, "192.0.2.1", 2525); /* silent */
	p->mode = PROBE_MODE_SILENT;
	p->tls.via = PROBE_TLS_VIA_IMPLICIT;
	p->tls.outcome = PROBE_TLS_TIMEOUT;
	p->timings_ms = (struct probe_timings){1, 3000, -1, -1, 3000, -1, 6001};
}

/* Nothing works. */
static inline void fx_scenario_nothing(struct probe_facts *f)
{
	probe_strlist_add(&f->addresses, "192.0.2.1");
	fx_closed(f, "192.0.2.1", 587, PROBE_TCP_TIMEOUT);
	fx_closed(f, "192.0.2.1", 465, PROBE_TCP_REFUSED);
	fx_closed(f, "192.0.2.1", 25, PROBE_TCP_RESET);
	struct probe_port_facts *p = probe_facts_add_port(f, "192.0.2.1", 2525);
	p->mode = PROBE_MODE_NOT_SMTP;
	probe_reply_set(&p->banner, 0, NULL, "HTTP/1.1 400 Bad Request");
	p->tls.via = PROBE_TLS_VIA_IMPLICIT;
	p->tls.outcome = PROBE_TLS_FAILED;
	probe_set_str(&p->tls.error, "wrong version number");
}

/* Two addresses, credentials, certificate troubles on 465. */
static inline void fx_scenario_dual_stack(struct probe_facts *f)
{
	probe_set_str(&f->servername, "smtp.example.com");
	probe_strlist_add(&f->addresses, "192.0.2.1");
	probe_strlist_add(&f->addresses, "2001:db8::1");
	f->credentials = true;
	struct probe_port_facts *p = fx_starttls(f, "192.0.2.1", 587);
	fx_auth(p, "PLAIN", 235, "2.7.0", "Authentication successful");
	fx_auth(p, "LOGIN", 535, "5.7.8", "Error: authentication failed: UGFzc3dvcmQ6");
	p->timings_ms.auth = 30;
	p = fx_closed(f, "2001:db8::1", 587, PROBE_TCP_UNREACHABLE);
	probe_set_str(&p->tcp_error, "Network is unreachable");
	p = fx_implicit(f, "192.0.2.1", 465);
	p->tls.versions[PROBE_TLS_1_1] = PROBE_ACCEPTED;
	p->tls.cert.days_left = 3;
	p->tls.cert.chain_valid = false;
	p->tls.cert.verify_error = PROBE_CERT_SELF_SIGNED;
	probe_set_str(&p->tls.cert.verify_text, "self-signed certificate");
	p->tls.cert.name_match = false;
	probe_set_str(&p->tls.cert.checked_name, "smtp.example.com");
	fx_auth(p, "PLAIN", 454, "4.7.0", "Temporary authentication failure");
	probe_client_obs_set(&p->client[PROBE_CLIENT_STARTTLS], PROBE_SYMPTOM_BANNER_TIMEOUT, "no greeting in 3000 ms");
	p = fx_implicit(f, "2001:db8::1", 465);
	fx_auth(p, "PLAIN", 235, "2.7.0", "Authentication successful");
}

/* Hostile bytes from the server: invalid UTF-8, terminal escapes, bidi overrides. */
static inline void fx_scenario_hostile(struct probe_facts *f)
{
	probe_strlist_add(&f->addresses, "127.0.0.1");
	f->credentials = true;
	struct probe_port_facts *p = fx_starttls(f, "127.0.0.1", 587);
	probe_reply_set(&p->banner, 220, NULL,
	                "evil\x1b[2J\x1b]0;owned\x07 \xff\xfe host \xe2\x80\xae"
	                "dlrow\r\nline2");
	probe_strlist_add(&p->ehlo_after_tls, "X-\xc3\x28"
	                                      "BAD");
	probe_strlist_add(&p->tls.cert.san, "\x1b[31mred.example\xff\xe2\x80\xae"
	                                    "dlrow\r\nline2");
	fx_auth(p, "X\xffMECH", 535, "5.7.8", "no \x1b[5m");
	p = probe_facts_add_port(f, "127.0.0.1", 465);
	p->mode = PROBE_MODE_PLAINTEXT;
	probe_reply_set(&p->banner, 421, "4.7.0",
	                "Too many connections\x9b"
	                "2J");
	p = probe_facts_add_port(f, "127.0.0.1", 25);
	p->mode = PROBE_MODE_PLAINTEXT;
	probe_reply_set(&p->banner, 554, "5.7.1",
	                "blocked \xc2\x9b"
	                "2J");
}

static const struct {
	const char *name;
	void (*build)(struct probe_facts *f);
} fx_scenarios[] = {
        {"healthy", fx_scenario_healthy},       {"broken", fx_scenario_broken},   {"nothing", fx_scenario_nothing},
        {"dual_stack", fx_scenario_dual_stack}, {"hostile", fx_scenario_hostile},
};

#endif
