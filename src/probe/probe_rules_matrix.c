/*
 * probe_rules_matrix: what a client configured with no TLS, STARTTLS or
 * implicit TLS meets on each port, and which configuration to recommend.
 *
 * A matrix cell is what the I/O side observed when it tried that
 * configuration (probe_client_obs.tried); otherwise it is inferred from the
 * other facts, the way the client would fail: an implicit-TLS client reads a
 * plaintext "220 " as a TLS record and OpenSSL says "wrong version number"; a
 * STARTTLS client on an implicit-TLS port waits for a greeting that never
 * comes. A cell is never inferred to work from a missing fact: what was not
 * tested is "not tested".
 */
#include "probe/probe_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

static void cell(struct probe_client_result *c, enum probe_symptom s, const char *detail)
{
	c->symptom = s;
	free(c->detail);
	c->detail = detail ? xstrdup(detail) : NULL;
}

static void cell_reply(struct probe_client_result *c, enum probe_symptom s, const struct probe_reply *r)
{
	c->symptom = s;
	free(c->detail);
	c->detail = probe_reply_format(r);
}

static int reply_ok(const struct probe_reply *r)
{
	return r->code >= 200 && r->code < 300;
}

/* AUTH results, when credentials were tested: 1 some mechanism succeeded, 0 all failed, -1 none tested. */
static int auth_outcome(const struct probe_port_facts *p, char *detail, size_t detaillen)
{
	if (p->n_auth == 0)
		return -1;
	detail[0] = '\0';
	for (size_t i = 0; i < p->n_auth; i++) {
		if (reply_ok(&p->auth[i].reply))
			return 1;
		if (!detail[0]) {
			char *s = probe_reply_format(&p->auth[i].reply);
			snprintf(detail, detaillen, "AUTH %s: %s", p->auth[i].mechanism, s);
			free(s);
		}
	}
	return 0;
}

static const char *cert_problem(const struct probe_facts *f, const struct probe_cert *c, char *buf, size_t len)
{
	if (!c->present)
		return "the server sent no certificate";
	if (!c->chain_valid || c->verify_error != PROBE_CERT_OK || c->days_left < 0) {
		if (c->verify_text && c->verify_text[0])
			return c->verify_text;
		switch (c->verify_error) {
		case PROBE_CERT_EXPIRED:
			return "certificate has expired";
		case PROBE_CERT_NOT_YET_VALID:
			return "certificate is not yet valid";
		case PROBE_CERT_SELF_SIGNED:
			return "self-signed certificate";
		case PROBE_CERT_UNKNOWN_ISSUER:
			return "unable to get local issuer certificate";
		case PROBE_CERT_OK:
			if (c->days_left < 0)
				return "certificate has expired";
			break;
		case PROBE_CERT_OTHER:
			break;
		}
		return "certificate chain does not verify";
	}
	if (!c->name_match) {
		const char *name = c->checked_name ? c->checked_name : (f->servername ? f->servername : f->host);
		snprintf(buf, len, "hostname mismatch: the certificate is not valid for %s", name ? name : "the host");
		return buf;
	}
	return NULL;
}

/* A client inside TLS: handshake, certificate, (implicit) greeting, AUTH. */
static void tls_channel(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_client_result *c,
                        int implicit)
{
	const struct probe_tls *t = &p->tls;
	char buf[600];
	switch (t->outcome) {
	case PROBE_TLS_NOT_TRIED:
		cell(c, PROBE_SYMPTOM_NOT_TESTED, NULL);
		return;
	case PROBE_TLS_TIMEOUT:
		cell(c, PROBE_SYMPTOM_TLS_TIMEOUT, "no answer to the ClientHello");
		return;
	case PROBE_TLS_FAILED:
		cell(c,
		     t->error && strstr(t->error, "wrong version number") ? PROBE_SYMPTOM_WRONG_VERSION_NUMBER
		                                                          : PROBE_SYMPTOM_TLS_HANDSHAKE_FAILED,
		     t->error);
		return;
	case PROBE_TLS_OK:
		break;
	}
	const char *problem = cert_problem(f, &t->cert, buf, sizeof(buf));
	if (problem) {
		cell(c, PROBE_SYMPTOM_CERT_VERIFY_FAILED, problem);
		return;
	}
	if (implicit) {
		if (p->banner.code == 0) {
			cell(c, PROBE_SYMPTOM_BANNER_TIMEOUT, "no greeting inside TLS");
			return;
		}
		if (!reply_ok(&p->banner)) {
			cell_reply(c, PROBE_SYMPTOM_GREETING_REFUSED, &p->banner);
			return;
		}
	}
	if (f->credentials) {
		if (!probe_ehlo_find(&p->ehlo_after_tls, "AUTH")) {
			cell(c, PROBE_SYMPTOM_AUTH_NOT_OFFERED, "EHLO inside TLS lists no AUTH");
			return;
		}
		int a = auth_outcome(p, buf, sizeof(buf));
		if (a < 0) {
			cell(c, PROBE_SYMPTOM_NOT_TESTED, "AUTH was not tried");
			return;
		}
		if (a == 0) {
			cell(c, PROBE_SYMPTOM_AUTH_FAILED, buf);
			return;
		}
	}
	cell(c, PROBE_SYMPTOM_WORKS, NULL);
	c->encrypted = true;
}

/* A client that never starts TLS, on a port that greeted in plaintext. */
static void plaintext_channel(const struct probe_facts *f, const struct probe_port_facts *p,
                              struct probe_client_result *c)
{
	const struct probe_reply *m = &p->mail_before_tls;
	char buf[600];
	if (m->code == 0) {
		cell(c, PROBE_SYMPTOM_NOT_TESTED, "MAIL FROM was not tried without TLS");
		return;
	}
	if (probe_reply_demands_tls(m)) {
		cell_reply(c, PROBE_SYMPTOM_MUST_ISSUE_STARTTLS, m);
		return;
	}
	if (f->credentials) {
		if (!probe_ehlo_find(&p->ehlo, "AUTH")) {
			cell(c, PROBE_SYMPTOM_AUTH_NOT_OFFERED, "EHLO without TLS lists no AUTH");
			return;
		}
		if (p->auth_before_tls.code && probe_reply_demands_tls(&p->auth_before_tls)) {
			cell_reply(c, PROBE_SYMPTOM_MUST_ISSUE_STARTTLS, &p->auth_before_tls);
			return;
		}
		/* Inside TLS when TLS worked (they say whether the credentials are right), else on this channel. */
		int a = auth_outcome(p, buf, sizeof(buf));
		if (a == 0) {
			cell(c, PROBE_SYMPTOM_AUTH_FAILED, buf);
			return;
		}
		if (a < 0) {
			cell(c, PROBE_SYMPTOM_NOT_TESTED, "AUTH was not tried");
			return;
		}
		if (p->tls.outcome == PROBE_TLS_OK) {
			const struct probe_reply *ab = &p->auth_before_tls;
			if (ab->code == 0) {
				cell(c, PROBE_SYMPTOM_NOT_TESTED, "AUTH was not tried without TLS");
				return;
			}
			if (ab->code >= 400) {
				cell_reply(c, PROBE_SYMPTOM_AUTH_FAILED, ab);
				return;
			}
		}
	} else if (!reply_ok(m)) {
		cell_reply(c, PROBE_SYMPTOM_MAIL_REFUSED, m);
		return;
	}
	cell(c, PROBE_SYMPTOM_WORKS, NULL);
}

void probe_rules_matrix(const struct probe_facts *f, const struct probe_port_facts *p, struct probe_port_verdict *v)
{
	struct probe_client_result *none = &v->client[PROBE_CLIENT_NONE];
	struct probe_client_result *starttls = &v->client[PROBE_CLIENT_STARTTLS];
	struct probe_client_result *implicit = &v->client[PROBE_CLIENT_IMPLICIT_TLS];
	static const enum probe_symptom tcp_symptom[PROBE_TCP__COUNT] = {
	        [PROBE_TCP_OPEN] = PROBE_SYMPTOM_WORKS,
	        [PROBE_TCP_REFUSED] = PROBE_SYMPTOM_CONNECTION_REFUSED,
	        [PROBE_TCP_TIMEOUT] = PROBE_SYMPTOM_CONNECTION_TIMEOUT,
	        [PROBE_TCP_UNREACHABLE] = PROBE_SYMPTOM_UNREACHABLE,
	        [PROBE_TCP_RESET] = PROBE_SYMPTOM_CONNECTION_RESET,
	};

	if (p->tcp != PROBE_TCP_OPEN) {
		for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
			cell(&v->client[c], tcp_symptom[p->tcp], p->tcp_error);
	} else {
		switch (p->mode) {
		case PROBE_MODE_NONE:
		case PROBE_MODE__COUNT:
			for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
				cell(&v->client[c], PROBE_SYMPTOM_NOT_TESTED, NULL);
			break;
		case PROBE_MODE_SILENT:
			cell(none, PROBE_SYMPTOM_BANNER_TIMEOUT, "the port accepts connections but sends no greeting");
			cell(starttls, PROBE_SYMPTOM_BANNER_TIMEOUT,
			     "the port accepts connections but sends no greeting");
			tls_channel(f, p, implicit, 1);
			break;
		case PROBE_MODE_NOT_SMTP: {
			char *s = probe_reply_format(&p->banner);
			cell(none, PROBE_SYMPTOM_NOT_SMTP, s);
			cell(starttls, PROBE_SYMPTOM_NOT_SMTP, s);
			free(s);
			if (p->tls.outcome == PROBE_TLS_TIMEOUT)
				cell(implicit, PROBE_SYMPTOM_TLS_TIMEOUT, "no answer to the ClientHello");
			else
				cell(implicit, PROBE_SYMPTOM_WRONG_VERSION_NUMBER,
				     p->tls.error ? p->tls.error : "the answer to the ClientHello is not TLS");
			break;
		}
		case PROBE_MODE_PLAINTEXT:
		case PROBE_MODE_STARTTLS: {
			char *s = probe_reply_format(&p->banner);
			char *why = xasprintf("the server sends a plaintext greeting: %s", s);
			cell(implicit, PROBE_SYMPTOM_WRONG_VERSION_NUMBER, why);
			free(why);
			free(s);
			if (!reply_ok(&p->banner)) {
				cell_reply(none, PROBE_SYMPTOM_GREETING_REFUSED, &p->banner);
				cell_reply(starttls, PROBE_SYMPTOM_GREETING_REFUSED, &p->banner);
				break;
			}
			plaintext_channel(f, p, none);
			if (p->mode == PROBE_MODE_PLAINTEXT || !p->starttls_offered)
				cell(starttls, PROBE_SYMPTOM_STARTTLS_NOT_OFFERED, "EHLO lists no STARTTLS");
			else if (p->starttls_reply.code == 0)
				cell(starttls, PROBE_SYMPTOM_NOT_TESTED, "STARTTLS was not tried");
			else if (p->starttls_reply.code != 220)
				cell_reply(starttls, PROBE_SYMPTOM_STARTTLS_REFUSED, &p->starttls_reply);
			else
				tls_channel(f, p, starttls, 0);
			break;
		}
		case PROBE_MODE_IMPLICIT_TLS:
			cell(none, PROBE_SYMPTOM_BANNER_TIMEOUT,
			     "the port speaks implicit TLS: it expects a TLS handshake first");
			cell(starttls, PROBE_SYMPTOM_BANNER_TIMEOUT,
			     "the port speaks implicit TLS: it expects a TLS handshake first");
			tls_channel(f, p, implicit, 1);
			break;
		}
	}
	/* What was tried beats what is inferred. */
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++) {
		const struct probe_client_obs *o = &p->client[c];
		if (!o->tried)
			continue;
		cell(&v->client[c], o->symptom, o->detail);
		v->client[c].observed = true;
		v->client[c].encrypted = c != PROBE_CLIENT_NONE && o->symptom == PROBE_SYMPTOM_WORKS;
	}
}

enum probe_mode probe_client_mode(enum probe_client_tls c)
{
	switch (c) {
	case PROBE_CLIENT_NONE:
		return PROBE_MODE_PLAINTEXT;
	case PROBE_CLIENT_STARTTLS:
		return PROBE_MODE_STARTTLS;
	case PROBE_CLIENT_IMPLICIT_TLS:
	case PROBE_CLIENT__COUNT:
		break;
	}
	return PROBE_MODE_IMPLICIT_TLS;
}

/*
 * The decision order, as ranks (lower is better): 587 with STARTTLS; 465 with
 * implicit TLS; 2525; a port the user named; the standard ports in the other
 * TLS mode; any port without TLS; 25 last, since it is for relay.
 */
static int rank(int port, enum probe_client_tls c)
{
	enum probe_port_role role = probe_port_role(port);
	int tls = c != PROBE_CLIENT_NONE;
	if (port == 587 && c == PROBE_CLIENT_STARTTLS)
		return 1;
	if (port == 465 && c == PROBE_CLIENT_IMPLICIT_TLS)
		return 2;
	if (port == 2525 && tls)
		return c == PROBE_CLIENT_STARTTLS ? 3 : 4;
	if (role == PROBE_ROLE_OTHER && tls)
		return c == PROBE_CLIENT_STARTTLS ? 5 : 6;
	if (role != PROBE_ROLE_RELAY && tls)
		return 7;
	if (role != PROBE_ROLE_RELAY)
		return 8;
	return c == PROBE_CLIENT_STARTTLS ? 9 : c == PROBE_CLIENT_IMPLICIT_TLS ? 10 : 11;
}

static const char *config_words(enum probe_client_tls c)
{
	static const char *const w[PROBE_CLIENT__COUNT] = {"without TLS", "with STARTTLS", "with implicit TLS"};
	return w[c];
}

/* What a client set to c meets on port: "connection timed out", "works"; "not probed" when it was not tried. */
static void summarize(const struct probe_facts *f, const struct probe_result *r, int port, enum probe_client_tls c,
                      struct buf *b)
{
	const struct probe_client_result *seen = NULL;
	for (size_t i = 0; i < f->n_ports; i++) {
		if (f->ports[i]->port != port)
			continue;
		if (!seen || r->ports[i].client[c].symptom == PROBE_SYMPTOM_WORKS)
			seen = &r->ports[i].client[c];
	}
	if (!seen) {
		buf_append_str(b, "not probed");
		return;
	}
	buf_append_str(b, probe_symptom_words(seen->symptom));
	if (seen->detail && seen->symptom != PROBE_SYMPTOM_WORKS)
		buf_printf(b, " (%s)", seen->detail);
}

/* "port 587 with STARTTLS: connection timed out; port 465 with implicit TLS: ..." for the standard choices. */
static void standard_summary(const struct probe_facts *f, const struct probe_result *r, struct buf *b)
{
	buf_append_str(b, "port 587 with STARTTLS: ");
	summarize(f, r, 587, PROBE_CLIENT_STARTTLS, b);
	buf_append_str(b, "; port 465 with implicit TLS: ");
	summarize(f, r, 465, PROBE_CLIENT_IMPLICIT_TLS, b);
	buf_append_str(b, "; port 2525 with STARTTLS: ");
	summarize(f, r, 2525, PROBE_CLIENT_STARTTLS, b);
	buf_append_str(b, ".");
}

void probe_rules_recommend(const struct probe_facts *f, const struct probe_result *r, struct probe_recommendation *rec,
                           int *exit_status)
{
	/* Best fully working cell first; failing that, the best one that needs only a certificate or AUTH fix. */
	int best = -1, best_rank = 0, best_c = 0, pass;
	for (pass = 0; pass < 2 && best < 0; pass++) {
		for (size_t i = 0; i < f->n_ports; i++) {
			for (int c = 0; c < PROBE_CLIENT__COUNT; c++) {
				enum probe_symptom s = r->ports[i].client[c].symptom;
				if (pass == 0 ? s != PROBE_SYMPTOM_WORKS : probe_symptom_is_transport(s))
					continue;
				int k = rank(f->ports[i]->port, (enum probe_client_tls)c);
				if (best < 0 || k < best_rank ||
				    (k == best_rank && f->ports[i]->port < f->ports[best]->port)) {
					best = (int)i;
					best_rank = k;
					best_c = c;
				}
			}
		}
	}
	memset(rec, 0, sizeof(*rec));
	struct buf b;
	buf_init(&b);
	if (best < 0) {
		rec->tls = PROBE_MODE_NONE;
		buf_append_str(&b, "No port and TLS mode works: ");
		for (size_t i = 0; i < f->n_ports; i++) {
			const struct probe_client_result *cr = &r->ports[i].client[PROBE_CLIENT_STARTTLS];
			if (f->ports[i]->mode == PROBE_MODE_IMPLICIT_TLS)
				cr = &r->ports[i].client[PROBE_CLIENT_IMPLICIT_TLS];
			else if (f->ports[i]->mode == PROBE_MODE_PLAINTEXT)
				cr = &r->ports[i].client[PROBE_CLIENT_NONE];
			buf_printf(&b, "%sport %d on %s: %s", i ? "; " : "", f->ports[i]->port, f->ports[i]->address,
			           probe_symptom_words(cr->symptom));
		}
		if (f->n_ports == 0)
			buf_append_str(&b, "no port was probed");
		buf_append_str(&b, ". See the findings for each port.");
		rec->reason = buf_cstr(&b);
		*exit_status = 1;
		return;
	}

	const struct probe_port_facts *p = f->ports[best];
	const struct probe_client_result *cell_best = &r->ports[best].client[best_c];
	rec->port = p->port;
	snprintf(rec->address, sizeof(rec->address), "%s", p->address);
	rec->tls = probe_client_mode((enum probe_client_tls)best_c);
	rec->works = cell_best->symptom == PROBE_SYMPTOM_WORKS;

	buf_printf(&b, "Port %d %s%s", p->port, config_words((enum probe_client_tls)best_c),
	           rec->works ? " works: " : ": ");
	switch (best_rank) {
	case 1:
		buf_append_str(&b, "the standard submission setup (RFC 6409). The client connects in plaintext, "
		                   "upgrades with STARTTLS, then authenticates inside TLS.");
		break;
	case 2:
		buf_append_str(&b, "submission with TLS from the first byte (RFC 8314). The first choice, port 587 "
		                   "with STARTTLS, fails here: ");
		summarize(f, r, 587, PROBE_CLIENT_STARTTLS, &b);
		buf_append_str(&b, ".");
		break;
	case 3:
	case 4:
		buf_append_str(&b, "a non-standard submission port some providers offer where 587 and 465 are "
		                   "blocked. Here port 587 with STARTTLS fails: ");
		summarize(f, r, 587, PROBE_CLIENT_STARTTLS, &b);
		buf_append_str(&b, "; port 465 with implicit TLS fails: ");
		summarize(f, r, 465, PROBE_CLIENT_IMPLICIT_TLS, &b);
		buf_append_str(&b, ".");
		break;
	case 5:
	case 6:
	case 7: {
		int std_probed = 0;
		for (size_t i = 0; i < f->n_ports; i++)
			if (f->ports[i]->port == 587 || f->ports[i]->port == 465 || f->ports[i]->port == 2525)
				std_probed = 1;
		if (std_probed) {
			buf_append_str(&b, "none of the standard submission configurations works here: ");
			standard_summary(f, r, &b);
		} else {
			buf_append_str(&b,
			               "the best of the ports probed (the standard submission ports 587, 465 and 2525 "
			               "were not probed; add them with --ports to compare).");
		}
		break;
	}
	case 8:
		buf_append_str(&b, "unencrypted, so the password and the mail cross the network in the clear; use it "
		                   "only on a trusted network. No encrypted configuration works: ");
		standard_summary(f, r, &b);
		break;
	default:
		buf_append_str(&b, "port 25 is for relay between mail servers (MX): many networks block it outbound "
		                   "and providers often refuse AUTH there. Use it only to deliver mail to this host as "
		                   "its MX; an application should use a submission port, and none works here: ");
		standard_summary(f, r, &b);
		if (rec->tls == PROBE_MODE_PLAINTEXT)
			buf_append_str(&b, " This port has no encryption.");
		break;
	}
	if (!rec->works) {
		buf_printf(&b, " It does not work yet: a client fails with \"%s\"",
		           probe_symptom_words(cell_best->symptom));
		if (cell_best->detail)
			buf_printf(&b, " (%s)", cell_best->detail);
		buf_append_str(&b, "; fix that first (see the findings).");
	}
	rec->reason = buf_cstr(&b);

	/* Port 25 is not a submission configuration, unless port 25 is all the user asked about. */
	int only_25 = 1;
	for (size_t i = 0; i < f->n_ports; i++)
		if (f->ports[i]->port != 25)
			only_25 = 0;
	*exit_status = rec->works && (rec->port != 25 || only_25) ? 0 : 1;
}
