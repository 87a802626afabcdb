/*
 * smtp_submit: the submission state machine of smtp_submit.h. One state per
 * thing we wait for; each client operation's callback lands in
 * smtp_submit_step(), which moves on according to the state. Failures go
 * through smtp_submit_fail() (QUIT when the connection is still there, then
 * done), success through smtp_submit_quit().
 */
#include "smtp/smtp_submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

/* MAIL/RCPT lines: the path (256) and parameters, well under RFC 5321's 512. */
#define SMTP_SUBMIT_LINE_MAX 600

enum smtp_submit_state {
	ST_CONNECT,
	ST_TLS_IMPLICIT,
	ST_BANNER,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_TLS,
	ST_EHLO_TLS,
	ST_AUTH,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_DATA_END,
	ST_QUIT,
	ST_DONE,
};

struct smtp_submit {
	struct smtp_client *c;
	struct smtp_submit_plan plan;
	struct tls_client *tls;
	struct sockaddr_storage addr;
	smtp_submit_cb cb;
	void *arg;
	struct smtp_submit_result res;
	enum smtp_submit_state st;
	enum smtp_tls_mode mode; /* what is being tried now (auto becomes one of the others) */
	int auto_retried;
	unsigned msg;
	size_t rcpt;
	unsigned accepted;
	int64_t msg_start;
};

static void smtp_submit_step(struct smtp_client *c, void *arg);

static const char *const smtp_tls_mode_names[] = {"none", "starttls", "implicit", "auto"};
static const char *const smtp_stage_names[SMTP_STAGE__COUNT] = {"connect", "banner", "ehlo", "tls",
                                                                "auth",    "mail",   "rcpt", "data"};

const char *smtp_tls_mode_name(enum smtp_tls_mode m)
{
	return (unsigned)m < 4 ? smtp_tls_mode_names[m] : "unknown";
}

int smtp_tls_mode_parse(const char *s, enum smtp_tls_mode *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, smtp_tls_mode_names[i]) == 0) {
			*out = (enum smtp_tls_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *smtp_stage_name(enum smtp_stage s)
{
	return (unsigned)s < SMTP_STAGE__COUNT ? smtp_stage_names[s] : "none";
}

int smtp_stage_parse(const char *s, enum smtp_stage *out)
{
	for (int i = 0; i < SMTP_STAGE__COUNT; i++) {
		if (strcasecmp(s, smtp_stage_names[i]) == 0) {
			*out = (enum smtp_stage)i;
			return 0;
		}
	}
	return -1;
}

/* ---- ending ---- */

static void smtp_submit_done(struct smtp_submit *s)
{
	smtp_client_close(s->c);
	s->st = ST_DONE;
	s->cb(s, s->arg);
}

static void smtp_submit_quit(struct smtp_submit *s)
{
	if (!smtp_client_connected(s->c)) {
		smtp_submit_done(s);
		return;
	}
	s->st = ST_QUIT;
	smtp_client_command(s->c, "quit", "QUIT", smtp_submit_step, s);
}

/* The step's outcome in words: its error, or the reply ("535 5.7.8 Authentication failed"). */
static char *smtp_submit_describe(struct smtp_submit *s, const char *what)
{
	const struct smtp_client_step *st = smtp_client_last(s->c);
	struct buf b;
	buf_init(&b);
	if (what != NULL)
		buf_printf(&b, "%s: ", what);
	if (st == NULL) {
		buf_append_str(&b, "failed");
	} else if (st->error != SMTP_CLIENT_OK) {
		buf_append_str(&b, st->text ? st->text : smtp_client_error_name(st->error));
	} else {
		buf_printf(&b, "the server replied %d%s%s", st->code, st->enhanced[0] ? " " : "", st->enhanced);
		if (st->text != NULL && st->text[0] != '\0') {
			buf_append_byte(&b, ' ');
			for (const char *p = st->text; *p; p++)
				buf_append_byte(&b, *p == '\n' ? ' ' : (uint8_t)*p);
		}
	}
	buf_cstr(&b);
	return (char *)buf_steal(&b, NULL);
}

/* Fails the submission at stage; text NULL describes the last step. QUIT follows when the connection is up. */
static void smtp_submit_fail(struct smtp_submit *s, enum smtp_stage stage, const char *what, const char *text)
{
	const struct smtp_client_step *st = smtp_client_last(s->c);
	s->res.ok = 0;
	s->res.failed_stage = stage;
	free(s->res.error);
	s->res.error = text != NULL ? xasprintf("%s: %s", what, text) : smtp_submit_describe(s, what);
	/* what NULL: the step's own text says it all (connect). */
	if (text == NULL && st != NULL && st->error == SMTP_CLIENT_OK) {
		s->res.reply_code = st->code;
		snprintf(s->res.reply_enhanced, sizeof s->res.reply_enhanced, "%s", st->enhanced);
	}
	if (text != NULL)
		smtp_client_note(s->c, "%s", s->res.error);
	if (st != NULL && st->error != SMTP_CLIENT_OK && st->error != SMTP_CLIENT_ERR_TIMEOUT) {
		smtp_submit_done(s); /* the connection is gone or useless */
		return;
	}
	if (st != NULL && st->error == SMTP_CLIENT_ERR_TIMEOUT) {
		smtp_submit_done(s); /* a server that does not answer will not answer QUIT either */
		return;
	}
	smtp_submit_quit(s);
}

/* ---- the conversation ---- */

static void smtp_submit_connect(struct smtp_submit *s)
{
	s->st = ST_CONNECT;
	smtp_client_connect(s->c, "connect", (const struct sockaddr *)&s->addr, s->plan.addrlen, smtp_submit_step, s);
}

static void smtp_submit_ehlo(struct smtp_submit *s, enum smtp_submit_state st)
{
	char line[SMTP_SUBMIT_LINE_MAX];
	s->st = st;
	snprintf(line, sizeof line, "%s %s", st == ST_HELO ? "HELO" : "EHLO", s->plan.ehlo_name);
	smtp_client_command(s->c,
	                    st == ST_HELO       ? "helo"
	                    : st == ST_EHLO_TLS ? "ehlo_tls"
	                                        : "ehlo",
	                    line, smtp_submit_step, s);
}

/* The EHLO keywords in force now. */
static const struct smtp_ehlo *smtp_submit_ext(const struct smtp_submit *s)
{
	return s->res.tls_used == SMTP_TLS_STARTTLS ? &s->res.ehlo_tls : &s->res.ehlo;
}

static void smtp_submit_mail(struct smtp_submit *s);

static void smtp_submit_auth(struct smtp_submit *s)
{
	const struct smtp_ehlo *e = smtp_submit_ext(s);
	static const enum smtp_auth_mech pref[] = {SMTP_AUTH_PLAIN, SMTP_AUTH_LOGIN, SMTP_AUTH_CRAM_MD5};
	char offered[300] = "";

	if (s->plan.user == NULL) {
		smtp_submit_mail(s);
		return;
	}
	for (size_t i = 0, pos = 0; i < e->nauth_mechs && pos + 2 < sizeof offered; i++)
		pos += (size_t)snprintf(offered + pos, sizeof offered - pos, "%s%s", i ? " " : "", e->auth_mechs[i]);
	if (!(e->ext & SMTP_EXT_AUTH)) {
		int plain = !smtp_client_in_tls(s->c);
		smtp_submit_fail(s, SMTP_STAGE_AUTH, "AUTH",
		                 plain && (e->ext & SMTP_EXT_STARTTLS)
		                         ? "the server does not offer AUTH before TLS (it offers STARTTLS): use --tls "
		                           "starttls"
		                         : "the server does not offer AUTH (no AUTH keyword in its EHLO reply)");
		return;
	}
	int mech = s->plan.auth_mech;
	if (mech >= 0 && !(e->auth & (1u << mech))) {
		char text[400];
		snprintf(text, sizeof text, "the server does not offer %s; it offers: %s",
		         smtp_auth_mech_name((enum smtp_auth_mech)mech), offered[0] ? offered : "none");
		smtp_submit_fail(s, SMTP_STAGE_AUTH, "AUTH", text);
		return;
	}
	for (size_t i = 0; mech < 0 && i < sizeof pref / sizeof pref[0]; i++)
		if (e->auth & (1u << pref[i]))
			mech = (int)pref[i];
	if (mech < 0) {
		char text[400];
		snprintf(text, sizeof text,
		         "no mechanism in common: the server offers %s; mailscope speaks PLAIN, LOGIN "
		         "and CRAM-MD5",
		         offered[0] ? offered : "none");
		smtp_submit_fail(s, SMTP_STAGE_AUTH, "AUTH", text);
		return;
	}
	s->res.auth_mech = (enum smtp_auth_mech)mech;
	s->st = ST_AUTH;
	smtp_client_auth(s->c, "auth", (enum smtp_auth_mech)mech, s->plan.user, s->plan.password, smtp_submit_step, s);
}

static void smtp_submit_mail(struct smtp_submit *s)
{
	const struct smtp_ehlo *e = smtp_submit_ext(s);
	char line[SMTP_SUBMIT_LINE_MAX];
	int n;

	if (s->plan.smtputf8 && !(e->ext & SMTP_EXT_SMTPUTF8) && !s->res.used_helo) {
		smtp_submit_fail(s, SMTP_STAGE_MAIL, "MAIL",
		                 "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)");
		return;
	}
	s->res.messages[s->msg].delivered = 0;
	s->res.nmessages = s->msg + 1;
	s->accepted = 0;
	s->rcpt = 0;
	s->msg_start = timeutil_monotonic_ms();
	n = snprintf(line, sizeof line, "MAIL FROM:<%s>", s->plan.mail_from);
	if (e->ext & SMTP_EXT_SIZE)
		n += snprintf(line + n, sizeof line - (size_t)n, " SIZE=%zu", s->plan.message_size);
	if (s->plan.eight_bit && (e->ext & SMTP_EXT_8BITMIME))
		n += snprintf(line + n, sizeof line - (size_t)n, " BODY=8BITMIME");
	if (s->plan.smtputf8 && (e->ext & SMTP_EXT_SMTPUTF8))
		snprintf(line + n, sizeof line - (size_t)n, " SMTPUTF8");
	s->st = ST_MAIL;
	smtp_client_command(s->c, "mail", line, smtp_submit_step, s);
}

static void smtp_submit_rcpt(struct smtp_submit *s)
{
	char line[SMTP_SUBMIT_LINE_MAX];
	snprintf(line, sizeof line, "RCPT TO:<%s>", s->plan.rcpts[s->rcpt]);
	s->st = ST_RCPT;
	smtp_client_command(s->c, "rcpt", line, smtp_submit_step, s);
}

/* After the (last) EHLO: TLS decisions are made; AUTH and the transaction follow. */
static void smtp_submit_after_ehlo(struct smtp_submit *s)
{
	if (s->plan.quit_after == SMTP_STAGE_TLS) {
		smtp_client_note(s->c, "no TLS on this connection: quitting where TLS would have started");
		smtp_submit_quit(s);
		return;
	}
	if (s->plan.quit_after == SMTP_STAGE_AUTH && s->plan.user == NULL) {
		smtp_submit_quit(s);
		return;
	}
	smtp_submit_auth(s);
}

static void smtp_submit_tls_done(struct smtp_submit *s, enum smtp_tls_mode how)
{
	s->res.tls_used = how;
	s->res.tls_handshakes++;
	if (s->plan.insecure_note != NULL && s->tls != NULL && !tls_client_verifies(s->tls))
		smtp_client_note(s->c, "%s", s->plan.insecure_note);
}

/* The first EHLO (or HELO) got its 250: decide about STARTTLS. */
static void smtp_submit_greeted(struct smtp_submit *s)
{
	if (s->plan.quit_after == SMTP_STAGE_EHLO) {
		smtp_submit_quit(s);
		return;
	}
	int offered = (s->res.ehlo.ext & SMTP_EXT_STARTTLS) != 0;
	if (s->mode == SMTP_TLS_AUTO) {
		if (offered) {
			s->mode = SMTP_TLS_STARTTLS;
		} else {
			smtp_client_note(s->c, "the server offers no STARTTLS: going on without TLS (--tls auto)");
			s->mode = SMTP_TLS_NONE;
		}
	}
	if (s->mode == SMTP_TLS_STARTTLS) {
		if (!offered) {
			smtp_submit_fail(s, SMTP_STAGE_TLS, "STARTTLS",
			                 s->res.used_helo
			                         ? "the server refused EHLO, so it cannot offer STARTTLS"
			                         : "the server does not offer STARTTLS (no STARTTLS keyword in its "
			                           "EHLO reply): use --tls implicit on its implicit-TLS port (465), "
			                           "or --tls none");
			return;
		}
		s->st = ST_STARTTLS;
		smtp_client_command(s->c, "starttls", "STARTTLS", smtp_submit_step, s);
		return;
	}
	smtp_submit_after_ehlo(s);
}

static int smtp_submit_ok(const struct smtp_client_step *st, int code)
{
	return st->error == SMTP_CLIENT_OK && (code == 250 ? st->code / 100 == 2 : st->code == code);
}

static void smtp_submit_step(struct smtp_client *c, void *arg)
{
	struct smtp_submit *s = arg;
	const struct smtp_client_step *st = smtp_client_last(c);
	struct smtp_submit_message *m = &s->res.messages[s->msg];

	switch (s->st) {
	case ST_CONNECT:
		if (st->error != SMTP_CLIENT_OK) {
			smtp_submit_fail(s, SMTP_STAGE_CONNECT, NULL, NULL);
			return;
		}
		if (s->plan.quit_after == SMTP_STAGE_CONNECT) {
			smtp_submit_done(s);
			return;
		}
		if (s->mode == SMTP_TLS_IMPLICIT) {
			s->st = ST_TLS_IMPLICIT;
			smtp_client_start_tls(c, "tls", smtp_submit_step, s);
			return;
		}
		s->st = ST_BANNER;
		smtp_client_read_reply(c, "banner", s->mode == SMTP_TLS_AUTO ? s->plan.auto_banner_ms : 0,
		                       smtp_submit_step, s);
		return;
	case ST_TLS_IMPLICIT:
		if (st->error != SMTP_CLIENT_OK) {
			smtp_submit_fail(s, SMTP_STAGE_TLS, "TLS handshake", NULL);
			return;
		}
		smtp_submit_tls_done(s, SMTP_TLS_IMPLICIT);
		if (s->plan.quit_after == SMTP_STAGE_TLS) {
			smtp_submit_done(s); /* no banner yet: nothing may be sent before it */
			return;
		}
		s->st = ST_BANNER;
		smtp_client_read_reply(c, "banner", 0, smtp_submit_step, s);
		return;
	case ST_BANNER:
		if (st->error == SMTP_CLIENT_ERR_TIMEOUT && s->mode == SMTP_TLS_AUTO && !s->auto_retried) {
			smtp_client_note(
			        c, "no banner within %lld ms: trying implicit TLS on a new connection (--tls auto)",
			        (long long)s->plan.auto_banner_ms);
			s->auto_retried = 1;
			s->mode = SMTP_TLS_IMPLICIT;
			smtp_submit_connect(s);
			return;
		}
		if (!smtp_submit_ok(st, 220)) {
			smtp_submit_fail(s, SMTP_STAGE_BANNER, "greeting", NULL);
			return;
		}
		if (s->plan.quit_after == SMTP_STAGE_BANNER) {
			smtp_submit_quit(s);
			return;
		}
		smtp_submit_ehlo(s, ST_EHLO);
		return;
	case ST_EHLO:
		if (st->error == SMTP_CLIENT_OK && st->code >= 500 && st->code <= 504) {
			smtp_client_note(c, "EHLO refused: trying HELO (no extensions)");
			smtp_submit_ehlo(s, ST_HELO);
			return;
		}
		if (!smtp_submit_ok(st, 250) || smtp_ehlo_parse(smtp_client_reply(c), &s->res.ehlo) < 0) {
			smtp_submit_fail(s, SMTP_STAGE_EHLO, "EHLO", NULL);
			return;
		}
		smtp_submit_greeted(s);
		return;
	case ST_HELO:
		if (!smtp_submit_ok(st, 250)) {
			smtp_submit_fail(s, SMTP_STAGE_EHLO, "HELO", NULL);
			return;
		}
		s->res.used_helo = 1;
		smtp_submit_greeted(s);
		return;
	case ST_STARTTLS:
		if (!smtp_submit_ok(st, 220)) {
			smtp_submit_fail(s, SMTP_STAGE_TLS, "STARTTLS", NULL);
			return;
		}
		s->st = ST_TLS;
		smtp_client_start_tls(c, "tls", smtp_submit_step, s);
		return;
	case ST_TLS:
		if (st->error != SMTP_CLIENT_OK) {
			smtp_submit_fail(s, SMTP_STAGE_TLS, "TLS handshake", NULL);
			return;
		}
		smtp_submit_tls_done(s, SMTP_TLS_STARTTLS);
		if (s->plan.quit_after == SMTP_STAGE_TLS) {
			smtp_submit_quit(s);
			return;
		}
		smtp_submit_ehlo(s, ST_EHLO_TLS);
		return;
	case ST_EHLO_TLS:
		if (!smtp_submit_ok(st, 250) || smtp_ehlo_parse(smtp_client_reply(c), &s->res.ehlo_tls) < 0) {
			smtp_submit_fail(s, SMTP_STAGE_EHLO, "EHLO after STARTTLS", NULL);
			return;
		}
		if (s->plan.quit_after == SMTP_STAGE_AUTH && s->plan.user == NULL) {
			smtp_submit_quit(s);
			return;
		}
		smtp_submit_auth(s);
		return;
	case ST_AUTH:
		if (!smtp_submit_ok(st, 235)) {
			smtp_submit_fail(s, SMTP_STAGE_AUTH, "AUTH", NULL);
			return;
		}
		s->res.auth_done = 1;
		if (s->plan.quit_after == SMTP_STAGE_AUTH) {
			smtp_submit_quit(s);
			return;
		}
		smtp_submit_mail(s);
		return;
	case ST_MAIL:
		if (!smtp_submit_ok(st, 250)) {
			smtp_submit_fail(s, SMTP_STAGE_MAIL, "MAIL FROM", NULL);
			return;
		}
		if (s->plan.quit_after == SMTP_STAGE_MAIL) {
			smtp_submit_quit(s);
			return;
		}
		smtp_submit_rcpt(s);
		return;
	case ST_RCPT:
		if (st->error != SMTP_CLIENT_OK) {
			smtp_submit_fail(s, SMTP_STAGE_RCPT, "RCPT TO", NULL);
			return;
		}
		if (st->code / 100 == 2) {
			s->accepted++;
		} else {
			m->rcpt_refused++;
			s->res.rcpt_refused = 1;
			free(s->res.error);
			s->res.error = smtp_submit_describe(s, "RCPT TO");
			s->res.reply_code = st->code;
			snprintf(s->res.reply_enhanced, sizeof s->res.reply_enhanced, "%s", st->enhanced);
		}
		if (++s->rcpt < s->plan.nrcpts) {
			smtp_submit_rcpt(s);
			return;
		}
		if (s->accepted == 0) {
			smtp_submit_fail(s, SMTP_STAGE_RCPT, "RCPT TO", NULL);
			return;
		}
		if (s->plan.quit_after == SMTP_STAGE_RCPT) {
			smtp_submit_quit(s);
			return;
		}
		s->st = ST_DATA;
		smtp_client_command(c, "data", "DATA", smtp_submit_step, s);
		return;
	case ST_DATA:
		if (!smtp_submit_ok(st, 354)) {
			smtp_submit_fail(s, SMTP_STAGE_DATA, "DATA", NULL);
			return;
		}
		s->st = ST_DATA_END;
		smtp_client_data(c, "message", s->plan.wire, s->plan.wire_len, smtp_submit_step, s);
		return;
	case ST_DATA_END:
		if (!smtp_submit_ok(st, 250)) {
			smtp_submit_fail(s, SMTP_STAGE_DATA, "end of data", NULL);
			return;
		}
		m->delivered = 1;
		m->latency_ms = timeutil_monotonic_ms() - s->msg_start;
		smtp_reply_queue_id(smtp_client_reply(c), m->queue_id, sizeof m->queue_id);
		s->res.delivered++;
		if (++s->msg < s->plan.messages) {
			smtp_submit_mail(s);
			return;
		}
		smtp_submit_quit(s);
		return;
	case ST_QUIT:
		smtp_submit_done(s);
		return;
	case ST_DONE:
		return;
	}
}

/* ---- the object ---- */

struct smtp_submit *smtp_submit_start(const struct smtp_client_config *cc, const struct smtp_submit_plan *plan,
                                      smtp_submit_cb cb, void *arg)
{
	struct smtp_submit *s = xcalloc(1, sizeof *s);
	s->plan = *plan;
	if (s->plan.messages == 0)
		s->plan.messages = 1;
	if (s->plan.auto_banner_ms <= 0)
		s->plan.auto_banner_ms = SMTP_SUBMIT_AUTO_BANNER_MS;
	if (plan->addrlen <= sizeof s->addr)
		memcpy(&s->addr, plan->addr, plan->addrlen);
	s->plan.addr = (const struct sockaddr *)&s->addr;
	s->cb = cb;
	s->arg = arg;
	s->tls = cc->tls;
	s->c = smtp_client_new(cc);
	s->res.ok = 1;
	s->res.failed_stage = SMTP_STAGE__COUNT;
	s->res.auth_mech = SMTP_AUTH__COUNT;
	s->res.messages = xcalloc(s->plan.messages, sizeof *s->res.messages);
	s->mode = plan->tls;
	if (s->mode == SMTP_TLS_AUTO) {
		uint16_t port = addr_port(s->plan.addr);
		if (port == SMTP_SUBMIT_IMPLICIT_PORT || port == SMTP_SUBMIT_IMPLICIT_PORT_LOCAL) {
			smtp_client_note(s->c, "port %u: implicit TLS (--tls auto)", (unsigned)port);
			s->mode = SMTP_TLS_IMPLICIT;
		}
	}
	smtp_submit_connect(s);
	return s;
}

void smtp_submit_free(struct smtp_submit *s)
{
	if (s == NULL)
		return;
	smtp_client_free(s->c);
	smtp_ehlo_free(&s->res.ehlo);
	smtp_ehlo_free(&s->res.ehlo_tls);
	free(s->res.messages);
	free(s->res.error);
	free(s);
}

const struct smtp_submit_result *smtp_submit_result(const struct smtp_submit *s)
{
	return &s->res;
}

struct smtp_client *smtp_submit_client(const struct smtp_submit *s)
{
	return s->c;
}
