/*
 * smtp_session_auth: the AUTH command (RFC 4954) in a session. The SASL
 * mechanics are in smtp_auth.c; this file decides when AUTH may run, feeds
 * the exchange with client lines and turns its outcome into replies.
 *
 * Like real providers, AUTH is offered and accepted only inside TLS unless
 * --allow-insecure-auth. With --users the credentials are checked; without,
 * any credentials succeed and the user name is recorded (never the secret:
 * the transcript shows "****" for every SASL payload).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "core/xmalloc.h"
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
			smtp_session_auth_fail(s, 535, "5.7.8", "Authentication credentials invalid");
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
