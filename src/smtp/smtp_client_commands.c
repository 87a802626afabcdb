/*
 * smtp_client_commands: the operations of the conversation: waiting for a
 * reply, commands, AUTH and its SASL rounds, raw bytes, DATA. Part of
 * smtp_client (see smtp_client.h, smtp_client_internal.h).
 *
 * A command is one line and one awaited reply; AUTH sends its first line
 * (with PLAIN's initial response) and answers each 334 from the engine
 * (smtp_client_auth_next) until the final reply; DATA hands the wire form
 * of a message to the output by reference. SASL payloads are shown as
 * "****" in the transcript and wiped from memory once sent; message data is
 * shown up to data_lines_shown lines.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "smtp/smtp_client_internal.h"

/* Longest command line we build (AUTH lines carry base64 of up to three 255-octet fields). */
#define SMTP_CLIENT_LINE_MAX (SMTP_AUTH_LINE_MAX + 3)
/* A SASL response: base64 of at most three fields of SMTP_AUTH_FIELD_MAX and two separators. */
#define SMTP_CLIENT_RESPONSE_MAX ((3 * SMTP_AUTH_FIELD_MAX + 2 + 2) / 3 * 4 + 1)

/* Each line of data (split at LF, CRLF not shown), at most max lines; returns the number of lines. */
static size_t smtp_client_show_lines(struct smtp_client *c, const uint8_t *p, size_t len, size_t max)
{
	enum smtp_client_dir dir = c->in_tls ? SMTP_DIR_SENT_TLS : SMTP_DIR_SENT;
	size_t lines = 0, i = 0;
	while (i < len) {
		const uint8_t *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t n = end - i;
		if (n > 0 && p[i + n - 1] == '\r')
			n--;
		if (lines < max)
			smtp_client_show(c, dir, (const char *)p + i, n);
		lines++;
		i = nl ? end + 1 : len;
	}
	return lines;
}

/* ---- AUTH ---- */

static void smtp_client_send_line(struct smtp_client *c, const char *line, const char *shown)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	smtp_client_show(c, c->in_tls ? SMTP_DIR_SENT_TLS : SMTP_DIR_SENT, shown, strlen(shown));
	evbuffer_add(out, line, strlen(line));
	evbuffer_add(out, "\r\n", 2);
}

/* A 334 during AUTH: the next response, or "*" when the mechanism has nothing more to say. */
void smtp_client_auth_next(struct smtp_client *c)
{
	char resp[SMTP_CLIENT_RESPONSE_MAX];
	long n = -1;
	int round = c->op.auth_round++;
	if (c->op.mech == SMTP_AUTH_LOGIN && round == 0)
		n = smtp_auth_client_login(c->op.user, resp, sizeof resp);
	else if (c->op.mech == SMTP_AUTH_LOGIN && round == 1)
		n = smtp_auth_client_login(c->op.password, resp, sizeof resp);
	else if (c->op.mech == SMTP_AUTH_CRAM_MD5 && round == 0)
		n = smtp_auth_client_cram(c->op.user, c->op.password, smtp_reply_text(&c->reply, 0), resp, sizeof resp);
	else if (c->op.mech == SMTP_AUTH_PLAIN && round == 0) /* a server that ignored the initial response */
		n = smtp_auth_client_plain(NULL, c->op.user, c->op.password, resp, sizeof resp);
	if (n < 0) {
		/* RFC 4954 4: "*" cancels; the server answers 501 and the step ends with that reply. */
		smtp_client_note(c,
		                 "the server asked for more than %s has to say (or sent a bad challenge): cancelling",
		                 smtp_auth_mech_name(c->op.mech));
		smtp_client_send_line(c, "*", "*");
	} else {
		smtp_client_send_line(c, resp, "****");
	}
	explicit_bzero(resp, sizeof resp);
	if (c->op.auth_round >= (c->op.mech == SMTP_AUTH_LOGIN ? 2 : 1))
		smtp_client_wipe_secrets(c); /* nothing more to send but "*" */
	smtp_client_schedule(c);
}

/* ---- the operations ---- */

int smtp_client_usable(struct smtp_client *c, const char *step, smtp_client_cb cb, void *arg)
{
	if (c->bev == NULL) {
		smtp_client_begin_failed(c, step, cb, arg, SMTP_CLIENT_ERR_STATE, "not connected");
		return 0;
	}
	return 1;
}

void smtp_client_read_reply(struct smtp_client *c, const char *step, int64_t timeout_ms, smtp_client_cb cb, void *arg)
{
	if (!smtp_client_usable(c, step, cb, arg))
		return;
	smtp_client_begin(c, OP_REPLY, step, timeout_ms, cb, arg);
	smtp_client_schedule(c);
}

void smtp_client_command_shown(struct smtp_client *c, const char *step, const char *line, const char *shown,
                               smtp_client_cb cb, void *arg)
{
	if (!smtp_client_usable(c, step, cb, arg))
		return;
	smtp_client_begin(c, OP_REPLY, step, 0, cb, arg);
	smtp_client_send_line(c, line, shown);
	smtp_client_schedule(c);
}

void smtp_client_command(struct smtp_client *c, const char *step, const char *line, smtp_client_cb cb, void *arg)
{
	smtp_client_command_shown(c, step, line, line, cb, arg);
}

int smtp_client_write_raw(struct smtp_client *c, const void *data, size_t len)
{
	if (c->bev == NULL)
		return -1;
	smtp_client_show_lines(c, data, len, SIZE_MAX);
	bufferevent_write(c->bev, data, len);
	return 0;
}

void smtp_client_auth(struct smtp_client *c, const char *step, enum smtp_auth_mech mech, const char *user,
                      const char *password, smtp_client_cb cb, void *arg)
{
	char line[SMTP_CLIENT_LINE_MAX], resp[SMTP_CLIENT_RESPONSE_MAX];
	if (!smtp_client_usable(c, step, cb, arg))
		return;
	if (strlen(user) >= SMTP_AUTH_FIELD_MAX || strlen(password) >= SMTP_AUTH_FIELD_MAX || *user == '\0') {
		smtp_client_begin_failed(c, step, cb, arg, SMTP_CLIENT_ERR_AUTH,
		                         "the user name must be 1 to 255 octets and the password at most 255");
		return;
	}
	smtp_client_begin(c, OP_AUTH, step, 0, cb, arg);
	c->op.mech = mech;
	snprintf(c->op.user, sizeof c->op.user, "%s", user);
	snprintf(c->op.password, sizeof c->op.password, "%s", password);
	if (mech == SMTP_AUTH_PLAIN) {
		/* RFC 4954 4: PLAIN with an initial response saves a round trip. */
		if (smtp_auth_client_plain(NULL, user, password, resp, sizeof resp) < 0) {
			smtp_client_wipe_secrets(c);
			smtp_client_begin_failed(c, step, cb, arg, SMTP_CLIENT_ERR_AUTH,
			                         "the user name or password cannot be sent with PLAIN");
			return;
		}
		snprintf(line, sizeof line, "AUTH PLAIN %s", resp);
		smtp_client_send_line(c, line, "AUTH PLAIN ****");
		explicit_bzero(line, sizeof line);
		explicit_bzero(resp, sizeof resp);
	} else {
		snprintf(line, sizeof line, "AUTH %s", smtp_auth_mech_name(mech));
		smtp_client_send_line(c, line, line);
	}
	smtp_client_schedule(c);
}

void smtp_client_data(struct smtp_client *c, const char *step, const uint8_t *wire, size_t len, smtp_client_cb cb,
                      void *arg)
{
	if (!smtp_client_usable(c, step, cb, arg))
		return;
	smtp_client_begin(c, OP_REPLY, step, 0, cb, arg);
	if (c->cfg.transcript != NULL) {
		size_t lines = smtp_client_show_lines(c, wire, len, c->cfg.data_lines_shown);
		if (lines > c->cfg.data_lines_shown)
			smtp_client_note(c, "%zu more lines of message data not shown (%zu octets in all)",
			                 lines - c->cfg.data_lines_shown, len);
	}
	evbuffer_add_reference(bufferevent_get_output(c->bev), wire, len, NULL, NULL);
	smtp_client_schedule(c);
}
