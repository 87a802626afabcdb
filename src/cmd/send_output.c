/*
 * send_output: what `mailscope send` prints: the live transcript (swaks
 * style, control bytes escaped so a hostile server cannot drive the
 * terminal) and the JSON object of a conversation (steps, EHLO keywords,
 * TLS facts, queue ids, transcript). Text that came from the network is
 * made valid UTF-8 before it goes into JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/send_internal.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"

/* Control bytes (but tab) and DEL as \xNN; the rest as it came. */
static void send_escape(const char *text, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			buf_printf(out, "\\x%02X", c);
		else
			buf_append_byte(out, c);
	}
	buf_cstr(out);
}

static json_t *send_json_text(const char *s)
{
	char *v = utf8_copy_valid(s, strlen(s));
	json_t *j = json_string(v);
	if (v != s)
		free(v);
	return j;
}

void send_transcript_cb(void *arg, enum smtp_client_dir dir, const char *text, size_t len)
{
	struct send_transcript *tr = arg;
	struct buf b;
	buf_init(&b);
	send_escape(text, len, &b);
	if (tr->print) {
		printf("%s %s\n", smtp_client_dir_mark(dir), buf_cstr(&b));
		fflush(stdout);
	}
	if (tr->lines != NULL) {
		json_t *line = json_object();
		json_object_set_new(line, "t", json_integer(timeutil_monotonic_ms() - tr->start_ms));
		json_object_set_new(line, "dir", json_string(smtp_client_dir_mark(dir)));
		json_object_set_new(line, "text", send_json_text(buf_cstr(&b)));
		json_array_append_new(tr->lines, line);
	}
	buf_free(&b);
}

void send_json_print(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s != NULL) {
		puts(s);
		free(s);
	}
}

static json_t *send_json_str_or_null(const char *s)
{
	return s != NULL && *s ? send_json_text(s) : json_null();
}

json_t *send_json_tls(const struct tls_client_facts *f)
{
	json_t *t = json_object();
	json_object_set_new(t, "version", send_json_str_or_null(f->version));
	json_object_set_new(t, "cipher", send_json_str_or_null(f->cipher));
	json_object_set_new(t, "verified", json_boolean(f->verified));
	const struct tls_cert_facts *c = &f->cert;
	if (!c->present) {
		json_object_set_new(t, "certificate", json_null());
		return t;
	}
	json_t *cert = json_object();
	json_t *san = json_array();
	for (size_t i = 0; i < c->nsan; i++)
		json_array_append_new(san, send_json_text(c->san[i]));
	json_object_set_new(cert, "subject", send_json_text(c->subject));
	json_object_set_new(cert, "san", san);
	json_object_set_new(cert, "issuer", send_json_text(c->issuer));
	json_object_set_new(cert, "not_before", send_json_str_or_null(c->not_before));
	json_object_set_new(cert, "not_after", send_json_str_or_null(c->not_after));
	json_object_set_new(cert, "days_left", json_integer(c->days_left));
	json_object_set_new(cert, "key", send_json_str_or_null(c->key));
	json_object_set_new(cert, "signature", send_json_str_or_null(c->signature));
	json_object_set_new(cert, "fingerprint_sha256", send_json_str_or_null(c->fingerprint));
	json_object_set_new(cert, "chain_valid", json_boolean(c->chain_valid));
	json_object_set_new(cert, "verify_error", send_json_str_or_null(c->verify_text));
	json_object_set_new(cert, "chain_length", json_integer(c->chain_depth));
	json_object_set_new(cert, "checked_name", send_json_str_or_null(c->checked_name));
	json_object_set_new(cert, "name_match", json_boolean(c->name_match));
	json_object_set_new(t, "certificate", cert);
	return t;
}

static json_t *send_json_ehlo(const struct smtp_ehlo *e)
{
	if (e->domain == NULL)
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; i < e->nkeywords; i++) {
		char *k = smtp_ehlo_keyword_text(&e->keywords[i]);
		json_array_append_new(a, send_json_text(k));
		free(k);
	}
	return a;
}

static json_t *send_json_steps(const struct smtp_client *c)
{
	size_t n;
	const struct smtp_client_step *st = smtp_client_steps(c, &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_object();
		json_object_set_new(s, "step", json_string(st[i].name));
		json_object_set_new(s, "ok", json_boolean(st[i].error == SMTP_CLIENT_OK));
		json_object_set_new(s, "error",
		                    st[i].error == SMTP_CLIENT_OK ? json_null()
		                                                  : json_string(smtp_client_error_name(st[i].error)));
		json_object_set_new(s, "code", st[i].code ? json_integer(st[i].code) : json_null());
		json_object_set_new(s, "enhanced_code", send_json_str_or_null(st[i].enhanced));
		json_object_set_new(s, "text", st[i].text != NULL ? send_json_text(st[i].text) : json_null());
		json_object_set_new(s, "start_ms", json_integer(st[i].start_ms));
		json_object_set_new(s, "ms", json_integer(st[i].ms));
		json_array_append_new(a, s);
	}
	return a;
}

json_t *send_json_single(const struct send_options *o, const struct sockaddr *addr, const struct smtp_submit *s,
                         int exit_code, const char *error, json_t *transcript)
{
	const struct smtp_submit_result *r = smtp_submit_result(s);
	struct smtp_client *c = smtp_submit_client(s);
	char where[80];
	json_t *j = json_object();

	addr_format_sockaddr(addr, where, sizeof where);
	json_object_set_new(j, "server", send_json_text(o->server.host));
	json_object_set_new(j, "address", json_string(where));
	json_object_set_new(j, "port", json_integer(o->server.port));
	json_object_set_new(j, "tls_mode", json_string(smtp_tls_mode_name(o->tls)));
	json_object_set_new(j, "tls_used", json_string(smtp_tls_mode_name(r->tls_used)));
	json_object_set_new(j, "ok", json_boolean(exit_code == SEND_EXIT_OK));
	json_object_set_new(j, "exit_code", json_integer(exit_code));
	if (exit_code == SEND_EXIT_OK) {
		json_object_set_new(j, "failure", json_null());
	} else {
		json_t *f = json_object();
		json_object_set_new(f, "stage", json_string(r->ok ? "rcpt" : smtp_stage_name(r->failed_stage)));
		json_object_set_new(f, "code", r->reply_code ? json_integer(r->reply_code) : json_null());
		json_object_set_new(f, "enhanced_code", send_json_str_or_null(r->reply_enhanced));
		json_object_set_new(f, "message", send_json_str_or_null(error));
		json_object_set_new(j, "failure", f);
	}
	json_object_set_new(j, "quit_after",
	                    o->quit_after == SMTP_STAGE__COUNT ? json_null()
	                                                       : json_string(smtp_stage_name(o->quit_after)));
	json_object_set_new(j, "steps", send_json_steps(c));
	json_object_set_new(j, "ehlo", send_json_ehlo(&r->ehlo));
	json_object_set_new(j, "ehlo_after_tls", send_json_ehlo(&r->ehlo_tls));
	json_object_set_new(j, "helo_fallback", json_boolean(r->used_helo));
	const struct tls_client_facts *tls = smtp_client_tls(c);
	json_object_set_new(j, "tls", tls != NULL ? send_json_tls(tls) : json_null());
	if (r->auth_mech < SMTP_AUTH__COUNT) {
		json_t *a = json_object();
		json_object_set_new(a, "mechanism", json_string(smtp_auth_mech_name(r->auth_mech)));
		json_object_set_new(a, "user", send_json_text(o->user));
		json_object_set_new(a, "ok", json_boolean(r->auth_done));
		json_object_set_new(j, "auth", a);
	} else {
		json_object_set_new(j, "auth", json_null());
	}
	json_t *msgs = json_array();
	const char *first_id = NULL;
	for (unsigned i = 0; i < r->nmessages; i++) {
		json_t *m = json_object();
		json_object_set_new(m, "delivered", json_boolean(r->messages[i].delivered));
		json_object_set_new(m, "queued_as", send_json_str_or_null(r->messages[i].queue_id));
		json_object_set_new(m, "latency_ms",
		                    r->messages[i].delivered ? json_integer(r->messages[i].latency_ms) : json_null());
		json_object_set_new(m, "recipients_refused", json_integer(r->messages[i].rcpt_refused));
		json_array_append_new(msgs, m);
		if (first_id == NULL && r->messages[i].queue_id[0])
			first_id = r->messages[i].queue_id;
	}
	json_object_set_new(j, "messages", msgs);
	json_object_set_new(j, "queued_as", send_json_str_or_null(first_id));
	json_object_set_new(j, "elapsed_ms", json_integer(smtp_client_elapsed_ms(c)));
	json_object_set_new(j, "transcript", transcript != NULL ? transcript : json_array());
	return j;
}
