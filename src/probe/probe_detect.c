/*
 * probe_detect: the first connections to one address × port and what they
 * decide — TCP outcome, the port's mode, the greeting, EHLO before and after
 * TLS, STARTTLS and the main handshake with its certificate.
 *
 * The mode is found without asking the user and without ever sending before
 * a greeting on a plaintext port:
 *   main   connect, then wait for a greeting for a short window
 *          (PROBE_BANNER_WINDOW_MS + PROBE_BANNER_WINDOW_RTTS × connect time);
 *          a reply decides at once: plaintext (STARTTLS when EHLO offers it).
 *   hello  when the window passes in silence: a ClientHello on a fresh
 *          connection, while main keeps waiting up to the timeout.
 * Then the first decisive answer wins: a greeting on main → plaintext; TLS
 * back on hello → implicit TLS (an alert counts: the port speaks TLS); a
 * plaintext answer on hello that is not SMTP (HTTP) → not SMTP; an SMTP reply
 * on hello means a slow greeter, so main goes on waiting. Nothing on either
 * → silent; both closed → reset. The winner carries on as the port's main
 * conversation; the loser is closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "probe/probe_run_internal.h"

enum {
	MAIN_CONNECT,
	MAIN_BANNER,
	MAIN_BANNER_LATE,
	MAIN_EHLO,
	MAIN_STARTTLS,
	MAIN_TLS,
	MAIN_EHLO_TLS,
	MAIN_QUIT,
	HELLO_CONNECT,
	HELLO_TLS,
	HELLO_BANNER,
	HELLO_EHLO,
	HELLO_QUIT,
};

static void probe_detect_step(struct smtp_client *c, void *arg);

/* ---- shared helpers ---- */

void probe_reply_from_step(struct probe_reply *r, const struct smtp_client_step *st)
{
	if (st->error == SMTP_CLIENT_OK && st->code != 0)
		probe_reply_set(r, st->code, st->enhanced, st->text);
	else
		probe_reply_set(r, 0, NULL, st->text);
}

static void probe_cert_from_facts(struct probe_cert *pc, const struct tls_cert_facts *cf)
{
	pc->present = cf->present;
	if (!cf->present)
		return;
	probe_set_str(&pc->subject, cf->subject);
	probe_set_str(&pc->issuer, cf->issuer);
	probe_strlist_free(&pc->san);
	for (size_t i = 0; i < cf->nsan; i++)
		probe_strlist_add(&pc->san, cf->san[i]);
	snprintf(pc->not_before, sizeof pc->not_before, "%s", cf->not_before);
	snprintf(pc->not_after, sizeof pc->not_after, "%s", cf->not_after);
	pc->days_left = (int)cf->days_left;
	snprintf(pc->key, sizeof pc->key, "%s", cf->key);
	snprintf(pc->signature, sizeof pc->signature, "%s", cf->signature);
	snprintf(pc->fingerprint, sizeof pc->fingerprint, "%s", cf->fingerprint);
	pc->chain_valid = cf->chain_valid;
	pc->verify_error = probe_cert_error_from_openssl(cf->verify_error);
	probe_set_str(&pc->verify_text, cf->chain_valid || !cf->verify_text[0] ? NULL : cf->verify_text);
	probe_set_str(&pc->checked_name, cf->checked_name[0] ? cf->checked_name : NULL);
	pc->name_match = cf->name_match;
}

void probe_tls_from_client(struct probe_tls *t, const struct smtp_client *c, enum probe_tls_via via)
{
	const struct tls_client_facts *tf = smtp_client_tls(c);
	t->via = via;
	if (tf == NULL)
		return;
	snprintf(t->version, sizeof t->version, "%s", tf->version);
	snprintf(t->cipher, sizeof t->cipher, "%s", tf->cipher);
	probe_cert_from_facts(&t->cert, &tf->cert);
}

void probe_ehlo_from_client(struct probe_strlist *l, const struct smtp_client *c)
{
	const struct smtp_reply *r = smtp_client_reply(c);
	probe_strlist_free(l);
	for (size_t i = 1; r != NULL && i < r->nlines; i++)
		probe_strlist_add(l, smtp_reply_text(r, i));
}

char *probe_tls_error_text(const struct smtp_client *c)
{
	const char *line = "";
	const struct smtp_client_step *st = smtp_client_last(c);
	if (smtp_client_tls_answer(c, &line) == SMTP_CLIENT_TLS_ANSWER_NOT_TLS)
		return xasprintf("wrong version number: the server answered the ClientHello in plaintext: %s", line);
	return xstrdup(st != NULL && st->text != NULL ? st->text : "the TLS handshake failed");
}

/* "220 text" / "421-text": the start of an SMTP reply. */
static int probe_line_is_smtp(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
	       (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

static enum probe_tcp probe_tcp_from_client_error(enum smtp_client_error e)
{
	switch (e) {
	case SMTP_CLIENT_OK:
		return PROBE_TCP_OPEN;
	case SMTP_CLIENT_ERR_REFUSED:
		return PROBE_TCP_REFUSED;
	case SMTP_CLIENT_ERR_TIMEOUT:
		return PROBE_TCP_TIMEOUT;
	case SMTP_CLIENT_ERR_RESET:
		return PROBE_TCP_RESET;
	default: /* unreachable, and any other socket error (EACCES from a local firewall, ...) */
		return PROBE_TCP_UNREACHABLE;
	}
}

static void probe_ehlo_auth_plain(struct probe_target *t)
{
	probe_ehlo_auth_mechanisms(&t->p->ehlo, t->auth_mechs_plain, sizeof t->auth_mechs_plain);
}

/* ---- the main conversation after the decision ---- */

static void probe_quit(struct probe_task *k, int state)
{
	k->state = state;
	smtp_client_command(k->c, "quit", "QUIT", probe_detect_step, k);
}

static void probe_ehlo(struct probe_task *k, int state)
{
	char line[300];
	snprintf(line, sizeof line, "EHLO %s", k->t->run->o->ehlo_name);
	k->state = state;
	smtp_client_command(k->c, state == MAIN_EHLO ? "ehlo" : "ehlo_tls", line, probe_detect_step, k);
}

/* main got a greeting in plaintext: EHLO, then STARTTLS when offered. */
static void probe_plaintext_continue(struct probe_task *k)
{
	struct probe_port_facts *p = k->t->p;
	p->mode = PROBE_MODE_PLAINTEXT;
	if (p->banner.code != 220) {
		probe_quit(k, MAIN_QUIT); /* 421, 554: nothing else to learn, and the server is closing */
		return;
	}
	probe_ehlo(k, MAIN_EHLO);
}

/* hello completed a handshake from the first byte: the greeting inside TLS, then EHLO. */
static void probe_implicit_continue(struct probe_task *k)
{
	struct probe_port_facts *p = k->t->p;
	const struct smtp_client_step *st = smtp_client_last(k->c);
	p->mode = PROBE_MODE_IMPLICIT_TLS;
	p->tls.outcome = PROBE_TLS_OK;
	probe_tls_from_client(&p->tls, k->c, PROBE_TLS_VIA_IMPLICIT);
	p->timings_ms.tls_handshake = (int)st->ms;
	probe_tasks_after_mode(k->t);
	k->state = HELLO_BANNER;
	smtp_client_read_reply(k->c, "banner", 0, probe_detect_step, k);
}

static void probe_stop(struct probe_task **slot)
{
	if (*slot != NULL)
		probe_task_end(*slot);
}

/*
 * Called whenever main or hello learns something. Returns the task that goes
 * on as the port's conversation, or NULL (the caller ends its own task then,
 * unless it is main still waiting for its greeting).
 */
static struct probe_task *probe_decide(struct probe_target *t)
{
	struct probe_port_facts *p = t->p;
	if (t->decided)
		return NULL;
	if (t->main_state == PROBE_MAIN_BANNER) {
		t->decided = true;
		struct probe_task *k = t->main;
		probe_stop(&t->hello);
		probe_plaintext_continue(k);
		return k;
	}
	if (t->main_state == PROBE_MAIN_NOT_SMTP) {
		t->decided = true;
		p->mode = PROBE_MODE_NOT_SMTP;
		probe_stop(&t->hello);
		return NULL;
	}
	switch (t->hello_state) {
	case PROBE_HELLO_TLS: {
		t->decided = true;
		struct probe_task *k = t->hello;
		probe_stop(&t->main);
		probe_implicit_continue(k);
		return k;
	}
	case PROBE_HELLO_TLS_FAILED:
		t->decided = true;
		p->mode = PROBE_MODE_IMPLICIT_TLS;
		probe_stop(&t->main);
		probe_tasks_after_mode(t); /* which versions it does accept */
		return NULL;
	case PROBE_HELLO_NOT_SMTP:
		t->decided = true;
		p->mode = PROBE_MODE_NOT_SMTP;
		probe_reply_set(&p->banner, 0, NULL, t->hello_line);
		p->tls.via = PROBE_TLS_VIA_IMPLICIT;
		p->tls.outcome = PROBE_TLS_FAILED;
		probe_set_str(&p->tls.error, t->hello_error);
		probe_stop(&t->main);
		return NULL;
	case PROBE_HELLO_NONE:
	case PROBE_HELLO_PENDING:
		return NULL;
	case PROBE_HELLO_PLAIN_SMTP:
	case PROBE_HELLO_SILENT:
	case PROBE_HELLO_GONE:
		break;
	}
	if (t->main_state == PROBE_MAIN_WAITING)
		return NULL;
	t->decided = true;
	probe_stop(&t->main);
	if (t->hello_state == PROBE_HELLO_PLAIN_SMTP) {
		/* The greeting came only on the second connection: plaintext, nothing more is known. */
		p->mode = PROBE_MODE_PLAINTEXT;
		probe_reply_set(&p->banner, atoi(t->hello_line), NULL, t->hello_line + 4 - (t->hello_line[3] == '\0'));
	} else if (t->main_state == PROBE_MAIN_SILENT) {
		p->mode = PROBE_MODE_SILENT;
		p->tls.via = PROBE_TLS_VIA_IMPLICIT;
		p->tls.outcome = t->hello_state == PROBE_HELLO_SILENT ? PROBE_TLS_TIMEOUT : PROBE_TLS_FAILED;
		if (p->tls.outcome == PROBE_TLS_FAILED)
			probe_set_str(&p->tls.error, t->hello_error);
	} else {
		p->tcp = PROBE_TCP_RESET;
		probe_set_str(&p->tcp_error, t->gone_text);
	}
	return NULL;
}

/* ---- the two first connections ---- */

static int64_t probe_banner_window(const struct probe_target *t, int64_t connect_ms)
{
	int64_t window = PROBE_BANNER_WINDOW_MS + PROBE_BANNER_WINDOW_RTTS * connect_ms;
	return window < t->run->timeout_ms ? window : t->run->timeout_ms;
}

static void probe_hello_start(struct probe_target *t)
{
	struct probe_task *k = probe_task_new(t, PROBE_TASK_HELLO, "clienthello", t->run->tls);
	t->hello = k;
	t->hello_state = PROBE_HELLO_PENDING;
	k->state = HELLO_CONNECT;
	smtp_client_connect(k->c, "connect", (struct sockaddr *)&t->addr, t->addrlen, probe_detect_step, k);
}

void probe_detect_start(struct probe_target *t)
{
	struct probe_task *k = probe_task_new(t, PROBE_TASK_MAIN, "main", t->run->tls);
	t->start_ms = timeutil_monotonic_ms();
	t->main = k;
	k->state = MAIN_CONNECT;
	smtp_client_connect(k->c, "connect", (struct sockaddr *)&t->addr, t->addrlen, probe_detect_step, k);
}

/* main's wait for a greeting ended (one of the two windows). */
static void probe_main_banner(struct probe_task *k, const struct smtp_client_step *st)
{
	struct probe_target *t = k->t;
	struct probe_port_facts *p = t->p;
	int64_t waited = timeutil_monotonic_ms() - t->connected_ms;
	if (st->error == SMTP_CLIENT_ERR_TIMEOUT) {
		int64_t left = t->run->timeout_ms - waited;
		if (t->hello_state == PROBE_HELLO_NONE)
			probe_hello_start(t);
		if (k->state == MAIN_BANNER && left > 0) {
			k->state = MAIN_BANNER_LATE;
			smtp_client_read_reply(k->c, "banner_late", left, probe_detect_step, k);
			return;
		}
		p->timings_ms.banner = (int)waited;
		t->main_state = PROBE_MAIN_SILENT;
	} else if (st->error == SMTP_CLIENT_OK) {
		p->timings_ms.banner = (int)waited;
		probe_reply_from_step(&p->banner, st);
		t->main_state = PROBE_MAIN_BANNER;
	} else if (st->error == SMTP_CLIENT_ERR_PROTOCOL) {
		p->timings_ms.banner = (int)waited;
		probe_reply_set(&p->banner, 0, NULL, smtp_client_protocol_line(k->c));
		t->main_state = PROBE_MAIN_NOT_SMTP;
	} else {
		/* Closed or reset without a greeting: an implicit-TLS server may drop a client that stays
		 * silent, so a ClientHello still gets its chance before this counts as a reset. */
		probe_set_str(&t->gone_text, st->text);
		t->main_state = PROBE_MAIN_GONE;
		if (t->hello_state == PROBE_HELLO_NONE)
			probe_hello_start(t);
	}
	if (probe_decide(t) != k && t->main == k)
		probe_task_end(k);
}

/* hello's handshake ended. */
static void probe_hello_tls(struct probe_task *k, const struct smtp_client_step *st)
{
	struct probe_target *t = k->t;
	struct probe_port_facts *p = t->p;
	const char *line = "";
	if (st->error == SMTP_CLIENT_OK) {
		t->hello_state = PROBE_HELLO_TLS;
	} else {
		enum smtp_client_tls_answer a = smtp_client_tls_answer(k->c, &line);
		if (a == SMTP_CLIENT_TLS_ANSWER_TLS) {
			t->hello_state = PROBE_HELLO_TLS_FAILED;
			p->tls.outcome = PROBE_TLS_FAILED;
			probe_tls_from_client(&p->tls, k->c, PROBE_TLS_VIA_IMPLICIT);
			p->timings_ms.tls_handshake = (int)st->ms;
		} else if (a == SMTP_CLIENT_TLS_ANSWER_NOT_TLS) {
			t->hello_state = probe_line_is_smtp(line) ? PROBE_HELLO_PLAIN_SMTP : PROBE_HELLO_NOT_SMTP;
			snprintf(t->hello_line, sizeof t->hello_line, "%s", line);
		} else {
			t->hello_state = st->error == SMTP_CLIENT_ERR_TIMEOUT ? PROBE_HELLO_SILENT : PROBE_HELLO_GONE;
		}
		/* The words for tls.error: kept when the decision is about this handshake (implicit, silent, not SMTP).
		 */
		free(t->hello_error);
		t->hello_error = probe_tls_error_text(k->c);
		if (t->hello_state == PROBE_HELLO_TLS_FAILED)
			probe_set_str(&p->tls.error, t->hello_error);
	}
	if (probe_decide(t) != k && t->hello == k)
		probe_task_end(k);
}

static void probe_detect_step(struct smtp_client *c, void *arg)
{
	struct probe_task *k = arg;
	struct probe_target *t = k->t;
	struct probe_port_facts *p = t->p;
	const struct smtp_client_step *st = smtp_client_last(c);
	int ok = st->error == SMTP_CLIENT_OK;

	switch (k->state) {
	case MAIN_CONNECT:
		/* A timed-out connect waited the whole timeout (the timer may fire a few ms "early" by the clock). */
		p->timings_ms.connect =
		        (int)(st->error == SMTP_CLIENT_ERR_TIMEOUT && st->ms < t->run->timeout_ms ? t->run->timeout_ms
		                                                                                  : st->ms);
		p->tcp = probe_tcp_from_client_error(st->error);
		if (!ok) {
			probe_set_str(&p->tcp_error, st->text);
			t->decided = true;
			probe_task_end(k);
			return;
		}
		t->connected_ms = timeutil_monotonic_ms();
		k->state = MAIN_BANNER;
		smtp_client_read_reply(c, "banner", probe_banner_window(t, st->ms), probe_detect_step, k);
		return;
	case MAIN_BANNER:
	case MAIN_BANNER_LATE:
		probe_main_banner(k, st);
		return;
	case MAIN_EHLO:
		if (!ok || st->code != 250) {
			/* No EHLO (a HELO-only server): nothing is known of its extensions. */
			p->timings_ms.ehlo = ok ? (int)st->ms : -1;
			probe_tasks_after_mode(t);
			if (ok)
				probe_quit(k, MAIN_QUIT);
			else
				probe_task_end(k);
			return;
		}
		p->timings_ms.ehlo = (int)st->ms;
		probe_ehlo_from_client(&p->ehlo, c);
		probe_ehlo_auth_plain(t);
		p->starttls_offered = probe_ehlo_find(&p->ehlo, "STARTTLS") != NULL;
		p->mode = p->starttls_offered ? PROBE_MODE_STARTTLS : PROBE_MODE_PLAINTEXT;
		probe_tasks_after_mode(t);
		if (!p->starttls_offered) {
			probe_quit(k, MAIN_QUIT);
			return;
		}
		k->state = MAIN_STARTTLS;
		smtp_client_command(c, "starttls", "STARTTLS", probe_detect_step, k);
		return;
	case MAIN_STARTTLS:
		probe_reply_from_step(&p->starttls_reply, st);
		p->timings_ms.starttls = (int)st->ms;
		if (ok && st->code == 220) {
			k->state = MAIN_TLS;
			smtp_client_start_tls(c, "tls", probe_detect_step, k);
		} else if (ok) {
			probe_quit(k, MAIN_QUIT);
		} else {
			probe_task_end(k);
		}
		return;
	case MAIN_TLS:
		p->timings_ms.tls_handshake = (int)st->ms;
		probe_tls_from_client(&p->tls, c, PROBE_TLS_VIA_STARTTLS);
		if (!ok) {
			p->tls.outcome = st->error == SMTP_CLIENT_ERR_TIMEOUT ? PROBE_TLS_TIMEOUT : PROBE_TLS_FAILED;
			char *why = probe_tls_error_text(c);
			probe_set_str(&p->tls.error, why);
			free(why);
			probe_task_end(k);
			return;
		}
		p->tls.outcome = PROBE_TLS_OK;
		probe_ehlo(k, MAIN_EHLO_TLS);
		return;
	case MAIN_EHLO_TLS:
	case HELLO_EHLO:
		if (ok && st->code == 250) {
			probe_ehlo_from_client(&p->ehlo_after_tls, c);
			if (k->state == HELLO_EHLO)
				p->timings_ms.ehlo = (int)st->ms;
			probe_tasks_after_tls_ehlo(t);
		}
		if (smtp_client_connected(c))
			probe_quit(k, k->state == HELLO_EHLO ? HELLO_QUIT : MAIN_QUIT);
		else
			probe_task_end(k);
		return;
	case HELLO_CONNECT:
		if (!ok) {
			t->hello_state = PROBE_HELLO_GONE;
			probe_set_str(&t->hello_error, st->text);
			if (probe_decide(t) != k && t->hello == k)
				probe_task_end(k);
			return;
		}
		k->state = HELLO_TLS;
		smtp_client_start_tls(c, "tls", probe_detect_step, k);
		return;
	case HELLO_TLS:
		probe_hello_tls(k, st);
		return;
	case HELLO_BANNER:
		p->timings_ms.banner = (int)st->ms;
		probe_reply_from_step(&p->banner, st);
		if (ok && st->code == 220) {
			probe_ehlo(k, HELLO_EHLO);
			return;
		}
		if (ok)
			probe_quit(k, HELLO_QUIT);
		else
			probe_task_end(k);
		return;
	case MAIN_QUIT:
	case HELLO_QUIT:
	default:
		probe_task_end(k);
		return;
	}
}
