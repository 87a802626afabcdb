/*
 * probe_report: facts + result -> the text a person reads. Order: the
 * recommendation (what to configure), the ports (what each client setting
 * meets), the certificate, the findings (what is wrong and how to fix it).
 * Everything that came from the server goes through safe_text().
 */
#include "probe/probe_report.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

#define C_RESET  "\033[0m"
#define C_BOLD   "\033[1m"
#define C_DIM    "\033[2m"
#define C_RED    "\033[31m"
#define C_GREEN  "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN   "\033[36m"

struct report {
	struct buf *out;
	const struct probe_report_options *opt;
	int width;
};

static const char *col(const struct report *rp, const char *code)
{
	return rp->opt->color ? code : "";
}

/*
 * Appends s with invalid UTF-8 repaired and every control character (C0, DEL,
 * C1) and bidirectional override written as \xNN or \u{NNNN}: a banner could
 * otherwise carry terminal escape sequences. Line breaks become " / ".
 */
static void safe_text(struct buf *b, const char *s)
{
	if (s == NULL)
		return;
	size_t len = strlen(s);
	const unsigned char *p = (const unsigned char *)s;
	while (len > 0) {
		uint32_t cp;
		size_t n = utf8_decode(p, len, &cp);
		if (cp == '\r' && len > 1 && p[1] == '\n') {
			p++, len--;
			continue;
		}
		if (cp == '\n' || cp == '\r')
			buf_append_str(b, " / ");
		else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			buf_printf(b, "\\x%02x", (unsigned)cp);
		else if (utf8_is_bidi_control(cp))
			buf_printf(b, "\\u{%04x}", (unsigned)cp);
		else
			utf8_append(b, cp);
		p += n;
		len -= n;
	}
}

static size_t columns(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/*
 * Appends text (already safe) wrapped at the report's width; the first line
 * continues whatever is on the current line (which is `used` columns wide),
 * the next lines start with `indent` spaces.
 */
static void wrap(struct report *rp, const char *text, size_t used, size_t indent)
{
	size_t width = (size_t)rp->width, col_now = used;
	const char *p = text;
	int first = 1;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (n == 0)
			break;
		size_t w = columns(p, n);
		if (!first && col_now + 1 + w > width && col_now > indent) {
			buf_append_byte(rp->out, '\n');
			for (size_t i = 0; i < indent; i++)
				buf_append_byte(rp->out, ' ');
			col_now = indent;
		} else if (!first) {
			buf_append_byte(rp->out, ' ');
			col_now++;
		}
		buf_append(rp->out, p, n);
		col_now += w;
		first = 0;
		p += n;
	}
	buf_append_byte(rp->out, '\n');
}

/* A paragraph from server text and fixed text: "prefix" + safe(s). */
static void para(struct report *rp, size_t indent, const char *color, const char *label, const char *s)
{
	struct buf t;
	buf_init(&t);
	if (label)
		buf_append_str(&t, label);
	safe_text(&t, s);
	for (size_t i = 0; i < indent; i++)
		buf_append_byte(rp->out, ' ');
	buf_append_str(rp->out, col(rp, color));
	wrap(rp, buf_cstr(&t), indent, indent);
	if (rp->opt->color && color[0]) {
		rp->out->len--; /* put the reset before the newline */
		buf_append_str(rp->out, C_RESET "\n");
	}
	buf_free(&t);
}

static const char *client_label(enum probe_client_tls c)
{
	static const char *const labels[PROBE_CLIENT__COUNT] = {"no TLS", "STARTTLS", "SSL/TLS"};
	return labels[c];
}

static int several_addresses(const struct probe_facts *f)
{
	for (size_t i = 1; i < f->n_ports; i++)
		if (strcmp(f->ports[i]->address, f->ports[0]->address) != 0)
			return 1;
	return 0;
}

static void header(struct report *rp, const struct probe_facts *f)
{
	struct buf t;
	buf_init(&t);
	buf_printf(&t, "%smailscope probe%s ", col(rp, C_BOLD), col(rp, C_RESET));
	safe_text(&t, f->host ? f->host : "");
	if (f->addresses.n) {
		buf_append_str(&t, " (");
		for (size_t i = 0; i < f->addresses.n; i++) {
			if (i)
				buf_append_str(&t, ", ");
			safe_text(&t, f->addresses.v[i]);
		}
		buf_append_str(&t, ")");
	}
	buf_printf(rp->out, "%s\n\n", buf_cstr(&t));
	buf_free(&t);
}

static void recommendation(struct report *rp, const struct probe_result *r)
{
	const struct probe_recommendation *rec = &r->rec;
	if (rec->tls == PROBE_MODE_NONE) {
		buf_printf(rp->out, "%sNo working configuration found.%s\n", col(rp, C_BOLD C_RED), col(rp, C_RESET));
	} else {
		const char *how = rec->tls == PROBE_MODE_STARTTLS       ? "with STARTTLS"
		                  : rec->tls == PROBE_MODE_IMPLICIT_TLS ? "with implicit TLS (\"SSL/TLS\")"
		                                                        : "without TLS (unencrypted)";
		if (rec->works)
			buf_printf(rp->out, "%sUse port %d %s.%s\n", col(rp, C_BOLD C_GREEN), rec->port, how,
			           col(rp, C_RESET));
		else
			buf_printf(rp->out, "%sBest option: port %d %s, once the problem below is fixed.%s\n",
			           col(rp, C_BOLD C_YELLOW), rec->port, how, col(rp, C_RESET));
	}
	para(rp, 2, "", NULL, rec->reason);
	buf_append_byte(rp->out, '\n');
}

/* The client configuration a port is meant for, by what it speaks. */
static enum probe_client_tls natural_config(const struct probe_port_facts *p)
{
	switch (p->mode) {
	case PROBE_MODE_IMPLICIT_TLS:
		return PROBE_CLIENT_IMPLICIT_TLS;
	case PROBE_MODE_STARTTLS:
		return PROBE_CLIENT_STARTTLS;
	default:
		return PROBE_CLIENT_NONE;
	}
}

static void port_line(struct report *rp, const struct probe_port_facts *p, const struct probe_port_verdict *v,
                      int show_address)
{
	struct buf t;
	buf_init(&t);
	buf_printf(&t, "  %-5d ", p->port);
	if (show_address) {
		size_t before = t.len;
		safe_text(&t, p->address);
		size_t w = columns((const char *)t.data + before, t.len - before);
		for (; w < 16; w++)
			buf_append_byte(&t, ' ');
		buf_append_byte(&t, ' ');
	}
	buf_printf(&t, "%-13s %-8s ", p->tcp == PROBE_TCP_OPEN ? probe_mode_name(p->mode) : "-",
	           p->tls.outcome == PROBE_TLS_OK && p->tls.version[0] ? p->tls.version : "-");
	buf_append_str(rp->out, buf_cstr(&t));
	size_t used = columns((const char *)t.data, t.len);
	buf_reset(&t);

	int works = 0;
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
		if (v->client[c].symptom == PROBE_SYMPTOM_WORKS)
			works++;
	const char *color;
	if (p->tcp != PROBE_TCP_OPEN) {
		color = C_DIM;
		buf_append_str(&t, probe_symptom_words(v->client[0].symptom));
		if (p->tcp == PROBE_TCP_TIMEOUT)
			buf_append_str(&t, " (filtered)");
	} else if (works) {
		color = C_GREEN;
		buf_append_str(&t, "works with");
		int n = 0;
		for (int c = PROBE_CLIENT__COUNT - 1; c >= 0; c--) {
			if (v->client[c].symptom != PROBE_SYMPTOM_WORKS)
				continue;
			buf_printf(&t, "%s %s", n++ ? "," : "",
			           c == PROBE_CLIENT_NONE ? "no TLS (unencrypted)"
			                                  : client_label((enum probe_client_tls)c));
		}
	} else {
		color = C_RED;
		const struct probe_client_result *cr = &v->client[natural_config(p)];
		buf_printf(&t, "fails: %s", probe_symptom_words(cr->symptom));
		if (cr->detail) {
			buf_append_str(&t, " (");
			safe_text(&t, cr->detail);
			buf_append_str(&t, ")");
		}
	}
	buf_append_str(rp->out, col(rp, color));
	wrap(rp, buf_cstr(&t), used, used);
	if (rp->opt->color) {
		rp->out->len--;
		buf_append_str(rp->out, C_RESET "\n");
	}
	if (p->tcp == PROBE_TCP_OPEN) {
		buf_reset(&t);
		for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
			buf_printf(&t, "%s%s: %s", c ? "; " : "", client_label((enum probe_client_tls)c),
			           probe_symptom_words(v->client[c].symptom));
		buf_append_str(rp->out, "        ");
		buf_append_str(rp->out, col(rp, C_DIM));
		wrap(rp, buf_cstr(&t), 8, 10);
		if (rp->opt->color) {
			rp->out->len--;
			buf_append_str(rp->out, C_RESET "\n");
		}
	}
	buf_free(&t);
}

static void ports(struct report *rp, const struct probe_facts *f, const struct probe_result *r)
{
	buf_printf(rp->out, "%sPorts%s ", col(rp, C_BOLD), col(rp, C_RESET));
	wrap(rp, "(under each: what a client set to no TLS, STARTTLS or SSL/TLS meets)", 6, 2);
	int addr = several_addresses(f);
	for (size_t i = 0; i < f->n_ports; i++)
		port_line(rp, f->ports[i], &r->ports[i], addr);
	if (f->n_ports == 0)
		buf_append_str(rp->out, "  (none probed)\n");
	buf_append_byte(rp->out, '\n');
}

/* The same certificate, judged the same way (a chain can verify on one port and not on another). */
static int same_cert(const struct probe_cert *a, const struct probe_cert *b)
{
	if (a->chain_valid != b->chain_valid || a->name_match != b->name_match || a->days_left != b->days_left)
		return 0;
	if (a->fingerprint[0] || b->fingerprint[0])
		return strcmp(a->fingerprint, b->fingerprint) == 0;
	return a->subject && b->subject && strcmp(a->subject, b->subject) == 0 &&
	       strcmp(a->not_after, b->not_after) == 0;
}

static void certificate(struct report *rp, const struct probe_facts *f, const struct probe_port_facts *p)
{
	const struct probe_cert *c = &p->tls.cert;
	struct buf t;
	buf_init(&t);
	int n = 0;
	for (size_t i = 0; i < f->n_ports; i++) {
		const struct probe_port_facts *q = f->ports[i];
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			if (f->ports[j]->port == q->port && f->ports[j]->tls.cert.present &&
			    same_cert(&f->ports[j]->tls.cert, &q->tls.cert))
				dup = 1;
		if (q->tls.cert.present && same_cert(c, &q->tls.cert) && !dup)
			buf_printf(&t, "%s %d", n++ ? "," : "", q->port);
	}
	buf_printf(rp->out, "%sCertificate%s (port%s%s)\n", col(rp, C_BOLD), col(rp, C_RESET), n > 1 ? "s" : "",
	           buf_cstr(&t));
	buf_reset(&t);

	safe_text(&t, c->subject ? c->subject : "(no subject)");
	buf_append_str(&t, ", issued by ");
	safe_text(&t, c->issuer ? c->issuer : "(unknown)");
	para(rp, 2, "", NULL, buf_cstr(&t));
	buf_reset(&t);
	for (size_t i = 0; i < c->san.n; i++) {
		if (i)
			buf_append_str(&t, ", ");
		safe_text(&t, c->san.v[i]);
	}
	para(rp, 2, "", "names: ", c->san.n ? buf_cstr(&t) : "(no subjectAltName)");
	buf_reset(&t);
	buf_printf(&t, "%s%s%s; valid until %s (%d days %s)", c->key[0] ? c->key : "key ?", c->signature[0] ? ", " : "",
	           c->signature, c->not_after[0] ? c->not_after : "?", c->days_left < 0 ? -c->days_left : c->days_left,
	           c->days_left < 0 ? "ago" : "left");
	para(rp, 2, c->days_left < 0 ? C_RED : (c->days_left < PROBE_CERT_EXPIRING_SOON_DAYS ? C_YELLOW : ""), NULL,
	     buf_cstr(&t));
	buf_reset(&t);
	if (c->chain_valid) {
		buf_append_str(&t, "chain: valid");
	} else {
		buf_append_str(&t, "chain: NOT valid: ");
		safe_text(&t, c->verify_text ? c->verify_text : "does not verify");
	}
	const char *name = c->checked_name ? c->checked_name : (f->servername ? f->servername : f->host);
	buf_append_str(&t, "; name ");
	safe_text(&t, name ? name : "?");
	buf_append_str(&t, c->name_match ? ": matches" : ": does NOT match");
	para(rp, 2, c->chain_valid && c->name_match ? C_GREEN : C_RED, NULL, buf_cstr(&t));
	buf_free(&t);
	buf_append_byte(rp->out, '\n');
}

static void certificates(struct report *rp, const struct probe_facts *f)
{
	for (size_t i = 0; i < f->n_ports; i++) {
		const struct probe_port_facts *p = f->ports[i];
		if (p->tls.outcome != PROBE_TLS_OK || !p->tls.cert.present)
			continue;
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			if (f->ports[j]->tls.outcome == PROBE_TLS_OK && f->ports[j]->tls.cert.present &&
			    same_cert(&f->ports[j]->tls.cert, &p->tls.cert))
				seen = 1;
		if (!seen)
			certificate(rp, f, p);
	}
}

static void findings(struct report *rp, const struct probe_facts *f, const struct probe_result *r)
{
	int addr = several_addresses(f);
	size_t counts[3] = {0, 0, 0};
	for (size_t i = 0; i < r->n_findings; i++)
		counts[probe_finding_def(r->findings[i].code)->severity]++;
	if (r->n_findings == 0) {
		buf_printf(rp->out, "%sFindings:%s none.\n", col(rp, C_BOLD), col(rp, C_RESET));
		return;
	}
	buf_printf(rp->out, "%sFindings%s (%zu error%s, %zu warning%s, %zu info)\n", col(rp, C_BOLD), col(rp, C_RESET),
	           counts[SMTP_DIAG_ERROR], counts[SMTP_DIAG_ERROR] == 1 ? "" : "s", counts[SMTP_DIAG_WARNING],
	           counts[SMTP_DIAG_WARNING] == 1 ? "" : "s", counts[SMTP_DIAG_INFO]);
	for (size_t i = 0; i < r->n_findings; i++) {
		const struct probe_finding *fi = &r->findings[i];
		/* The same finding on several addresses of the host is printed once. */
		int dup = 0, others = 0;
		for (size_t j = 0; j < r->n_findings; j++) {
			const struct probe_finding *g = &r->findings[j];
			if (j != i && g->code == fi->code && g->port == fi->port &&
			    strcmp(g->evidence, fi->evidence) == 0) {
				if (j < i)
					dup = 1;
				others++;
			}
		}
		if (dup)
			continue;
		const struct probe_finding_def *d = probe_finding_def(fi->code);
		static const char *const labels[] = {"INFO ", "WARN ", "ERROR"};
		static const char *const colors[] = {C_CYAN, C_YELLOW, C_RED};
		buf_printf(rp->out, "  %s%s%s  ", col(rp, colors[d->severity]), labels[d->severity], col(rp, C_RESET));
		if (fi->port)
			buf_printf(rp->out, "port %d", fi->port);
		else
			buf_append_str(rp->out, "host");
		if (fi->address[0] && !others && addr) {
			buf_append_str(rp->out, " on ");
			safe_text(rp->out, fi->address);
		} else if (others && addr) {
			buf_printf(rp->out, " (%d addresses)", others + 1);
		}
		buf_printf(rp->out, ": %s%s%s\n", col(rp, C_BOLD), d->code, col(rp, C_RESET));
		para(rp, 9, "", NULL, d->message);
		if (fi->evidence && fi->evidence[0])
			para(rp, 9, C_DIM, "seen: ", fi->evidence);
		para(rp, 9, "", "fix: ", d->fix);
	}
}

void probe_report_format(struct buf *out, const struct probe_facts *f, const struct probe_result *r,
                         const struct probe_report_options *opt)
{
	struct probe_report_options defaults = {0};
	struct report rp = {out, opt ? opt : &defaults, 0};
	rp.width = rp.opt->width > 20 ? rp.opt->width : PROBE_REPORT_WIDTH;
	header(&rp, f);
	recommendation(&rp, r);
	ports(&rp, f, r);
	certificates(&rp, f);
	findings(&rp, f, r);
}

int probe_report_write(FILE *fp, const struct probe_facts *f, const struct probe_result *r,
                       const struct probe_report_options *opt)
{
	struct buf b;
	buf_init(&b);
	probe_report_format(&b, f, r, opt);
	size_t n = fwrite(b.data, 1, b.len, fp);
	int rc = n == b.len && fflush(fp) == 0 ? 0 : -1;
	buf_free(&b);
	return rc;
}
