/*
 * probe_facts: building, freeing and reading the observations of a probe.
 * No I/O and no judgement here: see probe_rules.c for what the facts mean.
 */
#include "probe/probe_facts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509_vfy.h>

#include "core/buf.h"
#include "core/xmalloc.h"

void probe_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

void probe_strlist_add(struct probe_strlist *l, const char *s)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

void probe_strlist_free(struct probe_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void probe_reply_set(struct probe_reply *r, int code, const char *enhanced, const char *text)
{
	r->code = code;
	r->enhanced[0] = '\0';
	if (enhanced) {
		strncpy(r->enhanced, enhanced, sizeof(r->enhanced) - 1);
		r->enhanced[sizeof(r->enhanced) - 1] = '\0';
	}
	probe_set_str(&r->text, text);
}

char *probe_reply_format(const struct probe_reply *r)
{
	if (r->code == 0 && r->text == NULL)
		return xstrdup("(no reply)");
	struct buf b;
	buf_init(&b);
	if (r->code)
		buf_printf(&b, "%d", r->code);
	if (r->enhanced[0])
		buf_printf(&b, " %s", r->enhanced);
	if (r->text && r->text[0]) {
		if (b.len)
			buf_append_byte(&b, ' ');
		for (const char *p = r->text; *p; p++) {
			if (*p == '\n')
				buf_append_str(&b, " / ");
			else if (*p != '\r')
				buf_append_byte(&b, (uint8_t)*p);
		}
	}
	return buf_cstr(&b);
}

int probe_reply_demands_tls(const struct probe_reply *r)
{
	if (r->code == 538)
		return 1;
	if (r->code < 500 || r->code > 599 || r->text == NULL)
		return 0;
	return strcasestr(r->text, "TLS") != NULL || strcasestr(r->text, "encrypt") != NULL;
}

void probe_reply_free(struct probe_reply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

void probe_client_obs_set(struct probe_client_obs *o, enum probe_symptom s, const char *detail)
{
	o->tried = true;
	o->symptom = s;
	probe_set_str(&o->detail, detail);
}

void probe_facts_init(struct probe_facts *f, const char *host)
{
	memset(f, 0, sizeof(*f));
	probe_set_str(&f->host, host);
}

static void probe_cert_free(struct probe_cert *c)
{
	free(c->subject);
	free(c->issuer);
	probe_strlist_free(&c->san);
	free(c->verify_text);
	free(c->checked_name);
}

static void probe_port_free(struct probe_port_facts *p)
{
	free(p->tcp_error);
	probe_reply_free(&p->banner);
	probe_strlist_free(&p->ehlo);
	probe_strlist_free(&p->ehlo_after_tls);
	probe_reply_free(&p->starttls_reply);
	free(p->tls.error);
	probe_cert_free(&p->tls.cert);
	probe_reply_free(&p->mail_before_tls);
	probe_reply_free(&p->auth_before_tls);
	for (size_t i = 0; i < p->n_auth; i++)
		probe_reply_free(&p->auth[i].reply);
	free(p->auth);
	probe_reply_free(&p->rcpt);
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++)
		free(p->client[c].detail);
	free(p);
}

void probe_facts_free(struct probe_facts *f)
{
	for (size_t i = 0; i < f->n_ports; i++)
		probe_port_free(f->ports[i]);
	free(f->ports);
	free(f->host);
	free(f->servername);
	probe_strlist_free(&f->addresses);
	memset(f, 0, sizeof(*f));
}

struct probe_port_facts *probe_facts_add_port(struct probe_facts *f, const char *address, int port)
{
	struct probe_port_facts *p = xcalloc(1, sizeof(*p));
	strncpy(p->address, address ? address : "", sizeof(p->address) - 1);
	p->port = port;
	p->timings_ms = (struct probe_timings){-1, -1, -1, -1, -1, -1, -1};
	f->ports = xrealloc(f->ports, (f->n_ports + 1) * sizeof(*f->ports));
	f->ports[f->n_ports++] = p;
	return p;
}

struct probe_auth *probe_port_add_auth(struct probe_port_facts *p, const char *mechanism)
{
	p->auth = xrealloc(p->auth, (p->n_auth + 1) * sizeof(*p->auth));
	struct probe_auth *a = &p->auth[p->n_auth++];
	memset(a, 0, sizeof(*a));
	strncpy(a->mechanism, mechanism, sizeof(a->mechanism) - 1);
	return a;
}

enum probe_tcp probe_tcp_from_errno(int err)
{
	switch (err) {
	case 0:
		return PROBE_TCP_OPEN;
	case ECONNREFUSED:
		return PROBE_TCP_REFUSED;
	case ETIMEDOUT:
		return PROBE_TCP_TIMEOUT;
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
		return PROBE_TCP_RESET;
	default: /* ENETUNREACH, EHOSTUNREACH, ENETDOWN, EHOSTDOWN, EADDRNOTAVAIL, ... */
		return PROBE_TCP_UNREACHABLE;
	}
}

enum probe_cert_error probe_cert_error_from_openssl(long verify_result)
{
	switch (verify_result) {
	case X509_V_OK:
		return PROBE_CERT_OK;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return PROBE_CERT_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return PROBE_CERT_NOT_YET_VALID;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return PROBE_CERT_SELF_SIGNED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return PROBE_CERT_UNKNOWN_ISSUER;
	default:
		return PROBE_CERT_OTHER;
	}
}

/* The keyword of an EHLO line is its first word; "AUTH=LOGIN" (old syntax) counts as AUTH. */
static size_t probe_ehlo_keyword_len(const char *line)
{
	size_t n = strcspn(line, " =");
	return n;
}

const char *probe_ehlo_find(const struct probe_strlist *ehlo, const char *kw)
{
	size_t kwlen = strlen(kw);
	for (size_t i = 0; i < ehlo->n; i++) {
		const char *line = ehlo->v[i];
		if (probe_ehlo_keyword_len(line) == kwlen && strncasecmp(line, kw, kwlen) == 0)
			return line;
	}
	return NULL;
}

size_t probe_ehlo_auth_mechanisms(const struct probe_strlist *ehlo, char *out, size_t outlen)
{
	size_t used = 0, count = 0;
	if (outlen)
		out[0] = '\0';
	for (size_t i = 0; i < ehlo->n; i++) {
		const char *line = ehlo->v[i];
		if (probe_ehlo_keyword_len(line) != 4 || strncasecmp(line, "AUTH", 4) != 0)
			continue;
		const char *p = line + 4;
		while (*p) {
			while (*p == ' ' || *p == '=')
				p++;
			size_t n = strcspn(p, " ");
			if (n == 0)
				break;
			/* The same mechanism may appear in "AUTH" and "AUTH=" lines: list it once. */
			int dup = 0;
			for (const char *q = out; q && *q;) {
				size_t m = strcspn(q, " ");
				if (m == n && strncasecmp(q, p, n) == 0)
					dup = 1;
				q += m;
				while (*q == ' ')
					q++;
			}
			if (!dup && used + n + 2 <= outlen) {
				if (used)
					out[used++] = ' ';
				memcpy(out + used, p, n);
				used += n;
				out[used] = '\0';
				count++;
			}
			p += n;
		}
	}
	return count;
}

const char *probe_tcp_name(enum probe_tcp t)
{
	static const char *const names[PROBE_TCP__COUNT] = {"open", "refused", "timeout", "unreachable", "reset"};
	return names[t];
}

const char *probe_mode_name(enum probe_mode m)
{
	static const char *const names[PROBE_MODE__COUNT] = {"none",         "plaintext", "starttls",
	                                                     "implicit_tls", "silent",    "not_smtp"};
	return names[m];
}

const char *probe_tri_name(enum probe_tri t)
{
	static const char *const names[] = {"not_tested", "accepted", "refused"};
	return names[t];
}

const char *probe_tls_version_name(enum probe_tls_version v)
{
	static const char *const names[PROBE_TLS_VERSION__COUNT] = {"1.0", "1.1", "1.2", "1.3"};
	return names[v];
}

const char *probe_client_tls_name(enum probe_client_tls c)
{
	static const char *const names[PROBE_CLIENT__COUNT] = {"none", "starttls", "implicit_tls"};
	return names[c];
}

const char *probe_injection_name(enum probe_injection i)
{
	static const char *const names[] = {"not_tested", "safe", "vulnerable"};
	return names[i];
}

/* The words a client (smtplib, curl, swaks, nodemailer, OpenSSL) shows for each symptom, shortened. */
const char *probe_symptom_words(enum probe_symptom s)
{
	static const char *const words[PROBE_SYMPTOM__COUNT] = {
	        [PROBE_SYMPTOM_WORKS] = "works",
	        [PROBE_SYMPTOM_NOT_TESTED] = "not tested",
	        [PROBE_SYMPTOM_CONNECTION_REFUSED] = "connection refused",
	        [PROBE_SYMPTOM_CONNECTION_TIMEOUT] = "connection timed out",
	        [PROBE_SYMPTOM_UNREACHABLE] = "network unreachable",
	        [PROBE_SYMPTOM_CONNECTION_RESET] = "connection reset by peer",
	        [PROBE_SYMPTOM_BANNER_TIMEOUT] = "timeout waiting for banner",
	        [PROBE_SYMPTOM_NOT_SMTP] = "not an SMTP server",
	        [PROBE_SYMPTOM_GREETING_REFUSED] = "greeting refused",
	        [PROBE_SYMPTOM_WRONG_VERSION_NUMBER] = "wrong version number",
	        [PROBE_SYMPTOM_TLS_TIMEOUT] = "TLS handshake timed out",
	        [PROBE_SYMPTOM_TLS_HANDSHAKE_FAILED] = "TLS handshake failed",
	        [PROBE_SYMPTOM_STARTTLS_NOT_OFFERED] = "STARTTLS extension not supported by server",
	        [PROBE_SYMPTOM_STARTTLS_REFUSED] = "STARTTLS refused",
	        [PROBE_SYMPTOM_MUST_ISSUE_STARTTLS] = "Must issue STARTTLS first",
	        [PROBE_SYMPTOM_MAIL_REFUSED] = "MAIL FROM refused",
	        [PROBE_SYMPTOM_CERT_VERIFY_FAILED] = "certificate verify failed",
	        [PROBE_SYMPTOM_AUTH_NOT_OFFERED] = "SMTP AUTH extension not supported by server",
	        [PROBE_SYMPTOM_AUTH_FAILED] = "authentication failed",
	};
	return words[s];
}

int probe_symptom_is_transport(enum probe_symptom s)
{
	return s != PROBE_SYMPTOM_WORKS && s != PROBE_SYMPTOM_CERT_VERIFY_FAILED && s != PROBE_SYMPTOM_AUTH_FAILED;
}
