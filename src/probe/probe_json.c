/*
 * probe_json: facts + result -> the JSON document of `mailscope probe --json`.
 * Field names and meanings are fixed by docs/probe.schema.json; change both
 * together. A value that was not observed is null (or an empty list), never a
 * guess.
 */
#include "probe/probe_json.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_text.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/* A JSON string of text that may be anything the server sent; null for NULL. */
static json_t *jstr(const char *s)
{
	return json_text(s);
}

/* Fixed-size fields: "" means not observed. */
static json_t *jstr_or_null(const char *s)
{
	return s && s[0] ? jstr(s) : json_null();
}

static json_t *jms(int ms)
{
	return ms >= 0 ? json_integer(ms) : json_null();
}

static json_t *jreply(const struct probe_reply *r)
{
	if (r->code == 0 && r->text == NULL)
		return json_null();
	json_t *o = json_object();
	json_object_set_new(o, "reply_code", r->code ? json_integer(r->code) : json_null());
	json_object_set_new(o, "enhanced_code", jstr_or_null(r->enhanced));
	json_object_set_new(o, "text", jstr(r->text));
	return o;
}

static json_t *jlist(const struct probe_strlist *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, jstr(l->v[i]));
	return a;
}

/* The keyword of an EHLO line, upper-cased: "AUTH PLAIN LOGIN" -> "AUTH". */
static void keyword(const char *line, char *out, size_t outlen)
{
	size_t n = strcspn(line, " =");
	if (n >= outlen)
		n = outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
	out[n] = '\0';
}

/* Keywords of a that b lacks. */
static json_t *keyword_diff(const struct probe_strlist *a, const struct probe_strlist *b)
{
	json_t *out = json_array();
	for (size_t i = 0; i < a->n; i++) {
		char kw[64];
		keyword(a->v[i], kw, sizeof(kw));
		if (kw[0] && !probe_ehlo_find(b, kw))
			json_array_append_new(out, jstr(kw));
	}
	return out;
}

static json_t *jcert(const struct probe_cert *c)
{
	if (!c->present)
		return json_null();
	json_t *o = json_object();
	json_object_set_new(o, "subject", jstr(c->subject));
	json_object_set_new(o, "san", jlist(&c->san));
	json_object_set_new(o, "issuer", jstr(c->issuer));
	json_object_set_new(o, "not_before", jstr_or_null(c->not_before));
	json_object_set_new(o, "not_after", jstr_or_null(c->not_after));
	json_object_set_new(o, "days_left", json_integer(c->days_left));
	json_object_set_new(o, "key", jstr_or_null(c->key));
	json_object_set_new(o, "signature_algorithm", jstr_or_null(c->signature));
	json_object_set_new(o, "fingerprint_sha256", jstr_or_null(c->fingerprint));
	json_object_set_new(o, "chain_valid", json_boolean(c->chain_valid));
	static const char *const errors[] = {"ok",          "expired",        "not_yet_valid",
	                                     "self_signed", "unknown_issuer", "other"};
	json_object_set_new(o, "verify_error", c->chain_valid ? json_null() : json_string(errors[c->verify_error]));
	json_object_set_new(o, "verify_text", c->chain_valid ? json_null() : jstr(c->verify_text));
	json_object_set_new(o, "checked_name", jstr(c->checked_name));
	json_object_set_new(o, "name_match", json_boolean(c->name_match));
	return o;
}

static json_t *jtls(const struct probe_tls *t)
{
	if (t->via == PROBE_TLS_VIA_NONE || t->outcome == PROBE_TLS_NOT_TRIED)
		return json_null();
	static const char *const outcomes[] = {"not_tried", "ok", "failed", "timeout"};
	json_t *o = json_object();
	json_object_set_new(o, "via", json_string(t->via == PROBE_TLS_VIA_STARTTLS ? "starttls" : "implicit_tls"));
	json_object_set_new(o, "outcome", json_string(outcomes[t->outcome]));
	json_object_set_new(o, "version", jstr_or_null(t->version));
	json_object_set_new(o, "cipher", jstr_or_null(t->cipher));
	json_object_set_new(o, "error", jstr(t->error));
	json_t *v = json_object();
	for (int i = 0; i < PROBE_TLS_VERSION__COUNT; i++)
		json_object_set_new(v, probe_tls_version_name((enum probe_tls_version)i),
		                    json_string(probe_tri_name(t->versions[i])));
	json_object_set_new(o, "versions", v);
	json_object_set_new(o, "certificate", jcert(&t->cert));
	return o;
}

static json_t *jauth(const struct probe_port_facts *p)
{
	json_t *o = json_object();
	for (size_t i = 0; i < p->n_auth; i++) {
		const struct probe_auth *a = &p->auth[i];
		json_t *m = json_object();
		json_object_set_new(m, "reply_code", a->reply.code ? json_integer(a->reply.code) : json_null());
		json_object_set_new(m, "enhanced_code", jstr_or_null(a->reply.enhanced));
		json_object_set_new(m, "text", jstr(a->reply.text));
		json_object_set_new(m, "ok", json_boolean(a->reply.code >= 200 && a->reply.code < 300));
		if (utf8_valid(a->mechanism, strlen(a->mechanism))) {
			json_object_set_new(o, a->mechanism, m);
		} else {
			char *key = utf8_sanitize(a->mechanism, strlen(a->mechanism));
			json_object_set_new(o, key, m);
			free(key);
		}
	}
	return o;
}

/* The mechanisms a client would choose from: inside TLS when TLS worked, else on the plaintext channel. */
static json_t *jmechanisms(const struct probe_port_facts *p)
{
	const struct probe_strlist *ehlo = p->tls.outcome == PROBE_TLS_OK ? &p->ehlo_after_tls : &p->ehlo;
	char mechs[512];
	json_t *a = json_array();
	probe_ehlo_auth_mechanisms(ehlo, mechs, sizeof(mechs));
	for (char *s = mechs; *s;) {
		size_t n = strcspn(s, " ");
		json_t *m = json_stringn(s, n);
		if (m == NULL) /* not UTF-8 */
			m = json_string("?");
		json_array_append_new(a, m);
		s += n;
		while (*s == ' ')
			s++;
	}
	return a;
}

static json_t *jtimings(const struct probe_timings *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "connect", jms(t->connect));
	json_object_set_new(o, "banner", jms(t->banner));
	json_object_set_new(o, "ehlo", jms(t->ehlo));
	json_object_set_new(o, "starttls", jms(t->starttls));
	json_object_set_new(o, "tls_handshake", jms(t->tls_handshake));
	json_object_set_new(o, "auth", jms(t->auth));
	json_object_set_new(o, "total", jms(t->total));
	return o;
}

static json_t *jclients(const struct probe_port_verdict *v)
{
	json_t *a = json_array();
	for (int c = 0; c < PROBE_CLIENT__COUNT; c++) {
		const struct probe_client_result *cr = &v->client[c];
		json_t *o = json_object();
		json_object_set_new(o, "client_tls", json_string(probe_client_tls_name((enum probe_client_tls)c)));
		json_object_set_new(o, "works", json_boolean(cr->symptom == PROBE_SYMPTOM_WORKS));
		json_object_set_new(o, "encrypted", json_boolean(cr->encrypted));
		json_object_set_new(o, "result", json_string(probe_symptom_words(cr->symptom)));
		json_object_set_new(o, "detail", jstr(cr->detail));
		json_object_set_new(o, "observed", json_boolean(cr->observed));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *jport(const struct probe_port_facts *p, const struct probe_port_verdict *v)
{
	json_t *o = json_object();
	json_object_set_new(o, "port", json_integer(p->port));
	json_object_set_new(o, "address", jstr(p->address));
	json_object_set_new(o, "tcp", json_string(probe_tcp_name(p->tcp)));
	json_object_set_new(o, "tcp_error", jstr(p->tcp_error));
	json_object_set_new(o, "mode", json_string(probe_mode_name(p->mode)));
	json_object_set_new(o, "banner", jreply(&p->banner));
	json_object_set_new(o, "ehlo", jlist(&p->ehlo));
	json_object_set_new(o, "ehlo_after_tls", jlist(&p->ehlo_after_tls));
	if (p->ehlo.n && p->ehlo_after_tls.n) {
		json_t *ch = json_object();
		json_object_set_new(ch, "added", keyword_diff(&p->ehlo_after_tls, &p->ehlo));
		json_object_set_new(ch, "removed", keyword_diff(&p->ehlo, &p->ehlo_after_tls));
		json_object_set_new(o, "ehlo_changes", ch);
	} else {
		json_object_set_new(o, "ehlo_changes", json_null());
	}
	json_t *st = json_object();
	json_object_set_new(st, "offered", json_boolean(p->starttls_offered));
	json_object_set_new(st, "reply", jreply(&p->starttls_reply));
	json_object_set_new(o, "starttls", st);
	json_object_set_new(o, "tls", jtls(&p->tls));
	json_t *en = json_object();
	json_object_set_new(en, "mail_before_tls", jreply(&p->mail_before_tls));
	json_object_set_new(en, "auth_offered_before_tls",
	                    json_boolean(p->mode != PROBE_MODE_IMPLICIT_TLS && probe_ehlo_find(&p->ehlo, "AUTH")));
	json_object_set_new(en, "auth_before_tls", jreply(&p->auth_before_tls));
	json_object_set_new(o, "enforcement", en);
	json_object_set_new(o, "auth_mechanisms", jmechanisms(p));
	json_object_set_new(o, "auth", jauth(p));
	json_object_set_new(o, "rcpt", jreply(&p->rcpt));
	json_object_set_new(o, "starttls_injection", json_string(probe_injection_name(p->injection)));
	json_object_set_new(o, "timings_ms", jtimings(&p->timings_ms));
	json_object_set_new(o, "client_configs", jclients(v));
	return o;
}

static json_t *jfinding(const struct probe_finding *fi)
{
	const struct probe_finding_def *d = probe_finding_def(fi->code);
	json_t *o = json_object();
	json_object_set_new(o, "code", json_string(d->code));
	json_object_set_new(o, "severity", json_string(smtp_diag_severity_name(d->severity)));
	json_object_set_new(o, "message", json_string(d->message));
	json_object_set_new(o, "fix", json_string(d->fix));
	json_object_set_new(o, "port", fi->port ? json_integer(fi->port) : json_null());
	json_object_set_new(o, "address", jstr_or_null(fi->address));
	json_object_set_new(o, "evidence", jstr(fi->evidence));
	return o;
}

json_t *probe_json_document(const struct probe_facts *f, const struct probe_result *r)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "host", jstr(f->host ? f->host : ""));
	json_object_set_new(doc, "servername", jstr(f->servername));
	json_object_set_new(doc, "addresses", jlist(&f->addresses));
	json_object_set_new(doc, "credentials_tested", json_boolean(f->credentials));
	json_t *ports = json_array();
	for (size_t i = 0; i < f->n_ports; i++)
		json_array_append_new(ports, jport(f->ports[i], &r->ports[i]));
	json_object_set_new(doc, "ports", ports);
	json_t *findings = json_array();
	for (size_t i = 0; i < r->n_findings; i++)
		json_array_append_new(findings, jfinding(&r->findings[i]));
	json_object_set_new(doc, "findings", findings);
	json_t *rec = json_object();
	json_object_set_new(rec, "port", r->rec.port ? json_integer(r->rec.port) : json_null());
	json_object_set_new(rec, "address", jstr_or_null(r->rec.address));
	json_object_set_new(rec, "tls", json_string(probe_mode_name(r->rec.tls)));
	json_object_set_new(rec, "works", json_boolean(r->rec.works));
	json_object_set_new(rec, "reason", jstr(r->rec.reason ? r->rec.reason : ""));
	json_object_set_new(doc, "recommendation", rec);
	json_object_set_new(doc, "exit_status", json_integer(r->exit_status));
	return doc;
}

char *probe_json_dump(const struct probe_facts *f, const struct probe_result *r)
{
	json_t *doc = probe_json_document(f, r);
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (s == NULL)
		abort(); /* only on allocation failure: every string above is valid UTF-8 */
	char *out = xasprintf("%s\n", s);
	free(s);
	return out;
}
