/*
 * smtp_session_auth: the AUTH command (RFC 4954) in a session. The SASL
 * mechanics are in smtp_auth.c; this file decides when AUTH may run, feeds
 * the exchange with client lines and turns its outcome into replies.
 *
 * Like real providers, AUTH is offered and accepted only inside TLS unless
 * --allow-insecure-auth. With --users the credentials are checked; without,
 * any credentials succeed and the user name is recorded (never the secret:
 * the transcript shows "****" for every SASL payload).
 *
 * Brute force: failed credentials are counted per client address across
 * connections (smtp_auth_limit.h). Past SMTP_AUTH_FAIL_FREE failures each 535
 * is held back on the session's timer (the loop goes on serving others), and
 * at --auth-fail-limit the address's AUTH gets 421 4.7.0 and the connection
 * closes until the window has passed. 421 rather than Gmail's "454 4.7.0 Too
 * many login attempts" (which leaves the connection open): a client guessing
 * passwords has no use for the connection, and 421 is the one reply that
 * says it is being closed (RFC 5321 3.8); both are temporary, so a real
 * client retries later instead of bouncing its mail.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_auth_limit.h"
#include "smtp/smtp_internal.h"

#define SMTP_AUTH_CHALLENGE_MAX 512

void smtp_session_auth_free(struct smtp_session *s)
{
	if (s->auth) {
		smtp_auth_exchange_clear(s->auth);
		free(s->auth);
		s->auth = NULL;
	}
}

static void smtp_session_auth_end(struct smtp_session *s)
{
	smtp_session_auth_free(s);
	if (s->state == SMTP_STATE_AUTH)
		s->state = SMTP_STATE_GREETED;
}

static void smtp_session_auth_fail(struct smtp_session *s, int code, const char *enh, const char *text)
{
	const char *mech = s->auth ? smtp_auth_mech_name(s->auth->mech) : "?";
	smtp_diag(s, SMTP_DIAG_AUTH_FAILED, "AUTH %s%s%s answered %d %s %s", mech,
	          s->auth && s->auth->user[0] ? " as user " : "", s->auth ? s->auth->user : "", code, enh, text);
	smtp_session_auth_end(s);
	smtp_reply(s, code, enh, "%s", text);
}

/* 421 and close: this address failed --auth-fail-limit times within the window. */
static void smtp_session_auth_cut_off(struct smtp_session *s, int64_t wait_ms)
{
	long secs = (long)((wait_ms + 999) / 1000);
	smtp_diag(s, SMTP_DIAG_AUTH_FAILED,
	          "AUTH refused: %u failed attempts from %s within %lld s (--auth-fail-limit)",
	          s->srv->cfg.auth.fail_limit, s->client_ip, (long long)(s->srv->cfg.auth.fail_window_ms / 1000));
	char line[400];
	snprintf(line, sizeof line,
	         "421 4.7.0 %s Error: too many failed AUTH attempts from %s; try again in %ld seconds, closing "
	         "connection",
	         s->srv->hostname, s->client_ip, secs);
	smtp_reply_line(s, line);
	smtp_session_close_after_reply(s, "too many failed AUTH attempts");
}

/* Wrong credentials: counted for the address, then 535 (delayed past the free failures) or the cut-off. */
static void smtp_session_auth_invalid(struct smtp_session *s)
{
	const struct smtp_auth_policy *p = &s->srv->cfg.auth;
	int64_t now = timeutil_monotonic_ms();
	unsigned n = smtp_auth_limit_fail(s->srv->auth_limit, s->client_ip, now);
	int64_t blocked = p->fail_limit ? smtp_auth_limit_blocked(s->srv->auth_limit, s->client_ip, now) : 0;
	if (blocked > 0) {
		smtp_session_auth_end(s);
		smtp_session_auth_cut_off(s, blocked);
		return;
	}
	smtp_session_auth_fail(s, 535, "5.7.8", "Authentication credentials invalid");
	int64_t delay = smtp_auth_limit_delay(p->fail_delay_ms, n);
	if (delay <= 0 || s->state == SMTP_STATE_CLOSING)
		return;
	/* Everything queued so far waits with the 535; the session's timer releases it (smtp_session.c). */
	if (s->held == NULL)
		s->held = evbuffer_new();
	evbuffer_prepend_buffer(s->held, s->out);
	smtp_transcript_addf(s, '*', "failed AUTH number %u from this address: reply delayed %lld ms", n,
	                     (long long)delay);
	smtp_session_arm_timer(s, delay);
	s->paused = 1;
}

static void smtp_session_auth_outcome(struct smtp_session *s, enum smtp_auth_status st, const char *challenge)
{
	switch (st) {
	case SMTP_AUTH_CONTINUE: {
		s->state = SMTP_STATE_AUTH;
		char line[SMTP_AUTH_CHALLENGE_MAX + 8];
		snprintf(line, sizeof line, "334 %s", challenge);
		smtp_reply_line(s, line);
		return;
	}
	case SMTP_AUTH_DONE: {
		const struct smtp_users *users = s->srv->cfg.auth.users;
		if (users && !smtp_users_check(users, s->auth)) {
			smtp_session_auth_invalid(s);
			return;
		}
		s->authenticated = 1;
		free(s->rec.auth_user);
		s->rec.auth_user = xstrdup(s->auth->user);
		s->rec.auth_mech = smtp_auth_mech_name(s->auth->mech);
		smtp_transcript_addf(s, '*', "authenticated as \"%s\" with %s%s", s->auth->user, s->rec.auth_mech,
		                     users ? "" : " (--auth any: credentials not checked)");
		smtp_session_auth_end(s);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		return;
	}
	case SMTP_AUTH_CANCELLED:
		smtp_session_auth_fail(s, 501, "5.7.0", "Authentication cancelled");
		return;
	case SMTP_AUTH_BAD_BASE64:
		smtp_session_auth_fail(s, 501, "5.5.2", "Invalid base64 data in the authentication response");
		return;
	case SMTP_AUTH_MALFORMED:
		smtp_session_auth_fail(s, 501, "5.5.2", "Malformed authentication response for this mechanism");
		return;
	case SMTP_AUTH_TOO_LONG:
		smtp_session_auth_fail(s, 500, "5.5.6", "Authentication field too long");
		return;
	case SMTP_AUTH_NO_INITIAL:
		smtp_session_auth_fail(s, 501, "5.5.4", "This mechanism does not take an initial response");
		return;
	}
}

void smtp_session_auth_command(struct smtp_session *s, const char *line, size_t len, int more_input)
{
	/* "AUTH" SP mechanism [SP initial-response] */
	const char *mech = line + 5;
	while (*mech == ' ')
		mech++;
	const char *mech_end = mech;
	while (*mech_end && *mech_end != ' ')
		mech_end++;
	const char *initial = mech_end;
	while (*initial == ' ')
		initial++;
	size_t ilen = strlen(initial);
	while (ilen > 0 && initial[ilen - 1] == ' ')
		ilen--;
	smtp_transcript_addf(s, 'C', "AUTH %.*s%s", (int)(mech_end - mech > 32 ? 32 : mech_end - mech), mech,
	                     ilen ? " ****" : "");

	enum smtp_auth_mech m;
	int known = smtp_auth_mech_parse(mech, (size_t)(mech_end - mech), &m) == 0;
	/* RFC 4954 4: AUTH ends a pipelined group, except a one-round mechanism with its initial response. */
	int group_end = !(known && m == SMTP_AUTH_PLAIN && ilen > 0);
	if (smtp_session_check_pipelining(s, "AUTH", group_end, more_input) < 0)
		return;
	if (s->state == SMTP_STATE_CONNECTED) {
		smtp_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (!smtp_session_offers_auth(s)) {
		smtp_diag(s, SMTP_DIAG_AUTH_BEFORE_STARTTLS, "AUTH %.*s on the plaintext %s listener %s",
		          (int)(mech_end - mech > 32 ? 32 : mech_end - mech), mech, smtp_mode_name(s->lst->mode),
		          s->lst->addr);
		smtp_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if (s->authenticated) {
		smtp_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	int64_t blocked = smtp_auth_limit_blocked(s->srv->auth_limit, s->client_ip, timeutil_monotonic_ms());
	if (blocked > 0 && s->srv->cfg.auth.fail_limit) {
		smtp_session_auth_cut_off(s, blocked);
		return;
	}
	if (s->txn) {
		smtp_reply(s, 503, "5.5.1", "Error: AUTH is not allowed during a mail transaction");
		return;
	}
	if (mech == mech_end) {
		smtp_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	if (!known) {
		smtp_reply(s, 504, "5.5.4", "Unrecognized authentication mechanism; use PLAIN, LOGIN or CRAM-MD5");
		return;
	}
	char initial_copy[SMTP_AUTH_LINE_MAX + 1];
	memcpy(initial_copy, initial, ilen);
	initial_copy[ilen] = '\0';
	s->auth = xcalloc(1, sizeof *s->auth);
	char challenge[SMTP_AUTH_CHALLENGE_MAX];
	enum smtp_auth_status st =
	        smtp_auth_start(s->auth, m, ilen ? initial_copy : NULL, s->srv->hostname, ++s->srv->auth_nonce,
	                        timeutil_now_ms() / 1000, challenge, sizeof challenge);
	explicit_bzero(initial_copy, ilen);
	smtp_session_auth_outcome(s, st, challenge);
}

void smtp_session_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	if (line == NULL) {
		smtp_session_auth_outcome(s, SMTP_AUTH_TOO_LONG, "");
		return;
	}
	smtp_transcript_add(s, 'C', len == 1 && line[0] == '*' ? "*" : "****", len == 1 && line[0] == '*' ? 1 : 4);
	char challenge[SMTP_AUTH_CHALLENGE_MAX];
	enum smtp_auth_status st = smtp_auth_step(s->auth, line, len, challenge, sizeof challenge);
	smtp_session_auth_outcome(s, st, challenge);
}
