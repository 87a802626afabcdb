/*
 * smtp_session: one SMTP conversation (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING, BINARYMIME, DSN).
 *
 * A session is a table: an enum of states (smtp_internal.h) and one row per
 * command with a check function (may the command run now?) and a proceed
 * function (do it). Input is consumed in one place, smtp_session_process(),
 * which reads command lines, DATA content or BDAT chunks depending on the
 * state, and stops whenever the session must wait: for the store to commit
 * a message, for a delayed error reply, or for the client to read replies.
 *
 * Promises: replies go out in command order; a message is acknowledged with
 * 250 only after smtp_delivery_done() reports it stored; bad input gets a
 * reply naming the problem and the session goes on, except where the RFCs
 * or the error limits say to close.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"

/* The kernel hands us at most this much unread input per session. */
#define SMTP_INPUT_HIGH_WATER (256 * 1024)
/* A client that does not read its replies is not given more work. */
#define SMTP_OUTPUT_HIGH_WATER (64 * 1024)
/* First allocation for message data when the client did not announce SIZE. */
#define SMTP_DATA_INITIAL (16 * 1024)
/* Never pre-allocate more than this on the word of a SIZE= parameter. */
#define SMTP_DATA_PREALLOC_MAX (1024 * 1024)

/* Rows of the command table. */
#define SMTP_CMD_GROUP_END 0x1u /* RFC 2920 3.1: may only be the last command of a pipelined group */
#define SMTP_CMD_NOT_ERROR 0x2u /* failures of this command are not counted as client errors */

struct smtp_command_row {
	unsigned flags;
	int (*check)(struct smtp_session *s, const struct smtp_command *cmd);
	void (*proceed)(struct smtp_session *s, const struct smtp_command *cmd);
};

static void smtp_session_process(struct smtp_session *s);
static void smtp_session_free(struct smtp_session *s);
static void smtp_session_close_after_reply(struct smtp_session *s);
static void smtp_session_flush(struct smtp_session *s);

/* ---------- replies ---------- */

static const struct smtp_limits *smtp_session_limits(const struct smtp_session *s)
{
	return &s->srv->cfg.limits;
}

static void smtp_session_tarpit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	evbuffer_add_buffer(s->out, s->held);
	s->paused = 0;
	smtp_session_process(s);
}

/*
 * Every reply goes through here. Replies of 400 and above count as client
 * errors (unless the caller says otherwise); past the soft limit each such
 * reply is held back for error_delay, and at the hard limit the session
 * ends with 421 (Postfix's smtpd_soft/hard_error_limit).
 */
__attribute__((format(printf, 5, 0))) static void
smtp_session_vreply(struct smtp_session *s, int counts_as_error, int code, const char *enh, const char *fmt, va_list ap)
{
	const struct smtp_limits *lim = smtp_session_limits(s);
	struct evbuffer *out = s->out;
	int delay = 0;

	if (code >= 400 && counts_as_error) {
		s->errors++;
		if (lim->soft_error_limit && s->errors > lim->soft_error_limit && lim->error_delay_ms > 0)
			delay = 1;
	}
	if (delay) {
		if (s->held == NULL)
			s->held = evbuffer_new();
		out = s->held;
	}
	if (*enh)
		evbuffer_add_printf(out, "%d %s ", code, enh);
	else
		evbuffer_add_printf(out, "%d ", code);
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);

	if (code >= 400 && counts_as_error && lim->hard_error_limit && s->errors >= lim->hard_error_limit) {
		evbuffer_add_printf(out, "421 4.7.0 %s Error: too many errors, closing connection\r\n",
		                    s->srv->hostname);
		log_info("session %llu from %s: closed after %u errors", (unsigned long long)s->no, s->client_ip,
		         s->errors);
		if (delay) {
			evbuffer_add_buffer(s->out, s->held);
			delay = 0;
		}
		smtp_session_close_after_reply(s);
	}
	if (delay) {
		if (s->delay_ev == NULL)
			s->delay_ev = evtimer_new(s->srv->base, smtp_session_tarpit_cb, s);
		struct timeval tv = {lim->error_delay_ms / 1000, (lim->error_delay_ms % 1000) * 1000};
		evtimer_add(s->delay_ev, &tv);
		s->paused = 1;
	}
}

__attribute__((format(printf, 4, 5))) static void smtp_reply(struct smtp_session *s, int code, const char *enh,
                                                             const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_session_vreply(s, 1, code, enh, fmt, ap);
	va_end(ap);
}

/* A failure that is not the client's fault (or is ordinary flow, like 452 too many recipients). */
__attribute__((format(printf, 4, 5))) static void smtp_reply_nocount(struct smtp_session *s, int code, const char *enh,
                                                                     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_session_vreply(s, 0, code, enh, fmt, ap);
	va_end(ap);
}

/* ---------- lifecycle ---------- */

static void smtp_txn_free(struct smtp_txn *t)
{
	if (t == NULL)
		return;
	free(t->mail_from);
	free(t->envid);
	for (size_t i = 0; i < t->nrcpts; i++) {
		free(t->rcpts[i].address);
		free(t->rcpts[i].orcpt);
	}
	free(t->rcpts);
	buf_free(&t->data);
	free(t);
}

static void smtp_session_reset(struct smtp_session *s)
{
	smtp_txn_free(s->txn);
	s->txn = NULL;
	s->state = s->helo ? SMTP_STATE_GREETED : SMTP_STATE_CONNECTED;
}

static void smtp_session_free(struct smtp_session *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (!s->dead)
		smtp_server_session_removed(s->srv, s);
	if (s->delivery) {
		/* The store still holds the message: keep the struct until it answers. */
		s->dead = 1;
		return;
	}
	smtp_txn_free(s->txn);
	if (s->delay_ev)
		event_free(s->delay_ev);
	if (s->held)
		evbuffer_free(s->held);
	if (s->out)
		evbuffer_free(s->out);
	free(s->helo);
	free(s);
}

/* Nothing more is read; smtp_session_flush() closes once the last reply is written. */
static void smtp_session_close_after_reply(struct smtp_session *s)
{
	s->state = SMTP_STATE_CLOSING;
	s->paused = 0;
	bufferevent_disable(s->bev, EV_READ);
}

/*
 * Replies are staged in s->out and sent here. When nothing is waiting in the
 * bufferevent, the bytes are written at once (a reply is nearly always
 * smaller than the socket buffer); only what the kernel does not take goes
 * through the bufferevent's write event. This saves the two epoll_ctl calls
 * per reply that enabling and disabling the write event costs.
 */
static void smtp_session_send(struct smtp_session *s)
{
	if (evbuffer_get_length(s->out) == 0)
		return;
	if (s->broken) {
		evbuffer_drain(s->out, evbuffer_get_length(s->out));
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		if (evbuffer_write(s->out, bufferevent_getfd(s->bev)) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			s->broken = 1; /* reset by the client: nothing more to say */
			evbuffer_drain(s->out, evbuffer_get_length(s->out));
			return;
		}
	}
	if (evbuffer_get_length(s->out) > 0)
		bufferevent_write_buffer(s->bev, s->out);
}

/* Sends what is staged; frees the session when it is done. The caller must not touch s afterwards. */
static void smtp_session_flush(struct smtp_session *s)
{
	smtp_session_send(s);
	if (s->broken || (s->state == SMTP_STATE_CLOSING && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0))
		smtp_session_free(s);
}

void smtp_session_abort(struct smtp_session *s, const char *reply)
{
	if (s->bev) {
		/* One non-blocking attempt to send what is queued: the socket closes right after. */
		struct evbuffer *out = bufferevent_get_output(s->bev);
		evbuffer_add_buffer(out, s->out);
		if (s->state != SMTP_STATE_CLOSING)
			evbuffer_add(out, reply, strlen(reply));
		/* The bufferevent owns the front of its output buffer, so copy it out and write(2) it. */
		size_t len = evbuffer_get_length(out);
		unsigned char *data = evbuffer_pullup(out, -1);
		if (len && data) {
			ssize_t unused = write(bufferevent_getfd(s->bev), data, len);
			(void)unused;
		}
	}
	smtp_session_free(s);
}

/* ---------- commands ---------- */

static int smtp_check_greeted(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (s->state == SMTP_STATE_CONNECTED) {
		smtp_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return -1;
	}
	return 0;
}

static void smtp_cmd_helo(struct smtp_session *s, const struct smtp_command *cmd)
{
	/* EHLO/HELO in the middle of a transaction is an implicit RSET (RFC 5321 4.1.4). */
	smtp_txn_free(s->txn);
	s->txn = NULL;
	free(s->helo);
	s->helo = xstrdup(cmd->arg);
	s->esmtp = cmd->verb == SMTP_VERB_EHLO;
	s->state = SMTP_STATE_GREETED;
	struct evbuffer *out = s->out;
	if (!s->esmtp) {
		evbuffer_add_printf(out, "250 %s greets [%s]\r\n", s->srv->hostname, s->client_ip);
		return;
	}
	evbuffer_add_printf(out,
	                    "250-%s greets [%s]\r\n"
	                    "250-PIPELINING\r\n"
	                    "250-SIZE %llu\r\n"
	                    "250-8BITMIME\r\n"
	                    "250-BINARYMIME\r\n"
	                    "250-CHUNKING\r\n"
	                    "250-SMTPUTF8\r\n"
	                    "250-DSN\r\n"
	                    "250 ENHANCEDSTATUSCODES\r\n",
	                    s->srv->hostname, s->client_ip,
	                    (unsigned long long)smtp_session_limits(s)->max_message_size);
}

static int smtp_check_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (smtp_check_greeted(s, cmd) < 0)
		return -1;
	if (s->txn) {
		smtp_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return -1;
	}
	return 0;
}

static int smtp_session_param_error(struct smtp_session *s, const struct smtp_param_error *perr)
{
	if (perr->status == SMTP_PARAM_UNKNOWN)
		smtp_reply(s, 555, "5.5.4", "%s", perr->reason);
	else
		smtp_reply(s, 501, "5.5.4", "%s", perr->reason);
	return -1;
}

static void smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_mail_params mp;
	struct smtp_param_error perr;
	if (smtp_parse_mail_params(cmd, &mp, &perr) < 0) {
		smtp_session_param_error(s, &perr);
		return;
	}
	if (cmd->path.non_ascii && !mp.smtputf8) {
		smtp_reply(s, 553, "5.6.7", "Error: non-ASCII sender address needs the SMTPUTF8 parameter");
		return;
	}
	uint64_t max = smtp_session_limits(s)->max_message_size;
	if (mp.has_size && mp.size > max) {
		/* RFC 1870 6.1: refuse at once when the announced size is too big. */
		smtp_reply_nocount(s, 552, "5.3.4", "Error: message size %llu exceeds the limit of %llu octets",
		                   (unsigned long long)mp.size, (unsigned long long)max);
		return;
	}
	struct smtp_txn *t = xcalloc(1, sizeof *t);
	t->mail_from = xstrdup(cmd->path.null ? "" : cmd->path.address);
	t->params = mp;
	t->envid = mp.envid ? xstrdup(mp.envid) : NULL;
	t->params.envid = NULL;
	t->params.auth = NULL;
	buf_init(&t->data);
	s->txn = t;
	s->state = SMTP_STATE_MAIL;
	smtp_reply(s, 250, "2.1.0", "Ok");
}

static int smtp_check_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (smtp_check_greeted(s, cmd) < 0)
		return -1;
	if (s->txn == NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	if (s->txn->used_bdat) {
		smtp_reply(s, 503, "5.5.1", "Error: RCPT after BDAT; send RSET to start over");
		return -1;
	}
	return 0;
}

static void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_txn *t = s->txn;
	struct smtp_rcpt_params rp;
	struct smtp_param_error perr;
	if (smtp_parse_rcpt_params(cmd, &rp, &perr) < 0) {
		smtp_session_param_error(s, &perr);
		return;
	}
	if (cmd->path.non_ascii && !t->params.smtputf8) {
		smtp_reply(s, 553, "5.6.7", "Error: non-ASCII recipient address needs SMTPUTF8 on MAIL FROM");
		return;
	}
	if (t->nrcpts >= smtp_session_limits(s)->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452 and the client sends the rest in another transaction. */
		smtp_reply_nocount(s, 452, "4.5.3", "Error: too many recipients (limit %u per message)",
		                   smtp_session_limits(s)->max_recipients);
		return;
	}
	if (t->nrcpts == t->rcpts_cap) {
		t->rcpts_cap = t->rcpts_cap ? 2 * t->rcpts_cap : 4;
		t->rcpts = xrealloc(t->rcpts, t->rcpts_cap * sizeof *t->rcpts);
	}
	struct smtp_rcpt *r = &t->rcpts[t->nrcpts++];
	r->address = xstrdup(cmd->path.postmaster ? "postmaster" : cmd->path.address);
	r->notify = rp.notify;
	r->orcpt = rp.orcpt ? xstrdup(rp.orcpt) : NULL;
	s->state = SMTP_STATE_RCPT;
	smtp_reply(s, 250, "2.1.5", "Ok");
}

static int smtp_check_transaction_ready(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (smtp_check_greeted(s, cmd) < 0)
		return -1;
	if (s->txn == NULL) {
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	if (s->txn->nrcpts == 0) {
		smtp_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return -1;
	}
	return 0;
}

static int smtp_check_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (smtp_check_transaction_ready(s, cmd) < 0)
		return -1;
	if (s->txn->params.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME content can only be sent with BDAT. */
		smtp_reply(s, 503, "5.5.1", "Error: BODY=BINARYMIME needs BDAT, not DATA");
		return -1;
	}
	if (s->txn->used_bdat) {
		smtp_reply(s, 503, "5.5.1", "Error: DATA after BDAT in one transaction");
		return -1;
	}
	return 0;
}

static void smtp_txn_prepare_data(struct smtp_session *s)
{
	struct smtp_txn *t = s->txn;
	uint64_t max = smtp_session_limits(s)->max_message_size;
	size_t want = SMTP_DATA_INITIAL;
	if (t->params.has_size && t->params.size > want)
		want = t->params.size < SMTP_DATA_PREALLOC_MAX ? (size_t)t->params.size : SMTP_DATA_PREALLOC_MAX;
	if (t->data.cap == 0)
		buf_reserve(&t->data, want);
	smtp_data_reader_init(&t->reader, max);
}

static void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_txn_prepare_data(s);
	s->state = SMTP_STATE_DATA;
	smtp_reply(s, 354, "", "End data with <CR><LF>.<CR><LF>");
}

static int smtp_check_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	/* Whatever the verdict, the chunk must be read: the client sends it without waiting. */
	s->chunk_remaining = cmd->bdat_size;
	s->chunk_size = cmd->bdat_size;
	s->chunk_last = cmd->bdat_last;
	if (s->state == SMTP_STATE_CONNECTED || s->txn == NULL)
		s->chunk_fate = SMTP_CHUNK_NO_MAIL;
	else if (s->txn->nrcpts == 0)
		s->chunk_fate = SMTP_CHUNK_NO_RCPT;
	else
		s->chunk_fate = SMTP_CHUNK_KEEP;
	return 0;
}

static void smtp_session_chunk_done(struct smtp_session *s);

static void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (s->chunk_fate == SMTP_CHUNK_KEEP) {
		struct smtp_txn *t = s->txn;
		uint64_t max = smtp_session_limits(s)->max_message_size;
		if (!t->used_bdat) {
			t->used_bdat = 1;
			smtp_txn_prepare_data(s);
		}
		if (cmd->bdat_size > max || t->data.len + cmd->bdat_size > max)
			s->chunk_fate = SMTP_CHUNK_TOO_BIG;
		else
			buf_reserve(&t->data, (size_t)cmd->bdat_size);
	}
	s->state = SMTP_STATE_BDAT;
	if (s->chunk_remaining == 0)
		smtp_session_chunk_done(s);
}

static void smtp_cmd_rset(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_session_reset(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void smtp_cmd_noop(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void smtp_cmd_quit(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_reply(s, 221, "2.0.0", "Bye");
	smtp_session_close_after_reply(s);
}

static void smtp_cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd)
{
	/* RFC 5321 3.5.3: 252 when the server will not say whether a mailbox exists. */
	smtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void smtp_cmd_expn(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_reply(s, 502, "5.5.1", "Error: EXPN is not supported");
}

static void smtp_cmd_help(struct smtp_session *s, const struct smtp_command *cmd)
{
	evbuffer_add_printf(s->out, "214-2.0.0 mailscope sandbox SMTP server; commands:\r\n"
	                            "214-2.0.0   HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n"
	                            "214 2.0.0 Every message is kept and shown by the API; see man mailscope\r\n");
}

static void smtp_cmd_not_implemented(struct smtp_session *s, const struct smtp_command *cmd)
{
	smtp_reply(s, 502, "5.5.1", "Error: %s is not available on this listener", smtp_verb_name(cmd->verb));
}

static const struct smtp_command_row smtp_commands[SMTP_VERB__COUNT] = {
        [SMTP_VERB_HELO] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_helo},
        [SMTP_VERB_EHLO] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_helo},
        [SMTP_VERB_MAIL] = {0, smtp_check_mail, smtp_cmd_mail},
        [SMTP_VERB_RCPT] = {0, smtp_check_rcpt, smtp_cmd_rcpt},
        [SMTP_VERB_DATA] = {SMTP_CMD_GROUP_END, smtp_check_data, smtp_cmd_data},
        [SMTP_VERB_BDAT] = {0, smtp_check_bdat, smtp_cmd_bdat},
        [SMTP_VERB_RSET] = {0, NULL, smtp_cmd_rset},
        [SMTP_VERB_NOOP] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_noop},
        [SMTP_VERB_QUIT] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_quit},
        [SMTP_VERB_VRFY] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_vrfy},
        [SMTP_VERB_EXPN] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_expn},
        [SMTP_VERB_HELP] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_help},
        [SMTP_VERB_STARTTLS] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_not_implemented},
        [SMTP_VERB_AUTH] = {SMTP_CMD_GROUP_END, NULL, smtp_cmd_not_implemented},
};

static void smtp_session_parse_error(struct smtp_session *s, const struct smtp_parse_error *err)
{
	switch (err->status) {
	case SMTP_PARSE_UNKNOWN_COMMAND:
		smtp_reply(s, 500, "5.5.2", "Error: command not recognized");
		break;
	case SMTP_PARSE_NUL:
		smtp_reply(s, 500, "5.5.2", "Error: NUL character in command line");
		break;
	case SMTP_PARSE_BAD_SENDER:
		smtp_reply(s, 501, "5.1.7", "%s", err->reason);
		break;
	case SMTP_PARSE_BAD_RECIPIENT:
		smtp_reply(s, 501, "5.1.3", "%s", err->reason);
		break;
	case SMTP_PARSE_BAD_UTF8:
		smtp_reply(s, 501, "5.6.7", "%s", err->reason);
		break;
	case SMTP_PARSE_SYNTAX:
	case SMTP_PARSE_PATH_TOO_LONG:
	default:
		smtp_reply(s, 501, "5.5.4", "%s", err->reason);
		break;
	}
}

static void smtp_session_command(struct smtp_session *s, const char *line, size_t len, int more_input)
{
	struct smtp_command cmd;
	struct smtp_parse_error perr;
	if (smtp_parse_command(line, len, &cmd, &perr) < 0) {
		smtp_session_parse_error(s, &perr);
		return;
	}
	const struct smtp_command_row *row = &smtp_commands[cmd.verb];
	/*
	 * RFC 2920 3.1: after a command that ends a group the client must wait
	 * for the reply; a client that was not offered PIPELINING (no EHLO) must
	 * always wait. Input already waiting behind such a command proves it did
	 * not (as Postfix's smtpd_forbid_unauth_pipelining).
	 */
	if (more_input && smtp_session_limits(s)->strict_pipelining &&
	    ((row->flags & SMTP_CMD_GROUP_END) || !s->esmtp)) {
		log_info("session %llu from %s: pipelining violation after %s", (unsigned long long)s->no, s->client_ip,
		         smtp_verb_name(cmd.verb));
		smtp_reply_nocount(s, 554, "5.5.0",
		                   "Error: SMTP protocol synchronization: %s must wait for the reply to %s (RFC 2920)",
		                   s->esmtp ? "the client" : "a client that did not use EHLO",
		                   s->esmtp ? smtp_verb_name(cmd.verb) : "each command");
		smtp_session_close_after_reply(s);
		return;
	}
	if (row->check && row->check(s, &cmd) < 0)
		return;
	row->proceed(s, &cmd);
}

/* ---------- message hand-over ---------- */

static void smtp_session_submit(struct smtp_session *s, const char *transfer)
{
	struct smtp_txn *t = s->txn;
	struct smtp_message *m = xcalloc(1, sizeof *m);
	m->received_at_ms = timeutil_now_ms();
	m->mail_from = t->mail_from;
	t->mail_from = NULL;
	m->rcpts = t->rcpts;
	m->nrcpts = t->nrcpts;
	t->rcpts = NULL;
	t->nrcpts = 0;
	m->helo = xstrdup(s->helo ? s->helo : "");
	m->helo_verb = s->esmtp ? "EHLO" : "HELO";
	m->client_ip = xstrdup(s->client_ip);
	m->client_port = s->client_port;
	m->listener_mode = smtp_mode_name(s->lst->mode);
	m->listener_addr = xstrdup(s->lst->addr);
	m->transfer = transfer;
	m->declared_size = t->params.has_size ? (int64_t)t->params.size : -1;
	static const char *const bodies[] = {NULL, "7BIT", "8BITMIME", "BINARYMIME"};
	m->body = bodies[t->params.body];
	m->smtputf8 = t->params.smtputf8;
	m->ret = t->params.ret == SMTP_RET_FULL ? "FULL" : t->params.ret == SMTP_RET_HDRS ? "HDRS" : NULL;
	m->envid = t->envid;
	t->envid = NULL;
	m->bare_lf = (int)t->reader.bare_lf;
	m->bare_cr = (int)t->reader.bare_cr;
	m->long_lines = (int)t->reader.long_lines;
	m->nul_bytes = (int)t->reader.nul_bytes;
	m->raw = buf_steal(&t->data, &m->raw_len);
	smtp_txn_free(t);
	s->txn = NULL;

	/*
	 * Reading stays enabled while the store works (toggling it costs two
	 * epoll_ctl calls per message); smtp_session_process() simply leaves
	 * pipelined input alone until the reply has been sent.
	 */
	s->state = SMTP_STATE_COMMIT;
	s->delivery = xcalloc(1, sizeof *s->delivery);
	s->delivery->session = s;
	s->srv->cfg.on_message(s->srv->cfg.on_message_arg, m, s->delivery);
}

void smtp_delivery_done(struct smtp_delivery *d, const char *queue_id, const char *err)
{
	struct smtp_session *s = d->session;
	s->delivery = NULL;
	free(d);
	if (s->dead) {
		smtp_session_free(s);
		return;
	}
	s->state = s->helo ? SMTP_STATE_GREETED : SMTP_STATE_CONNECTED;
	if (queue_id) {
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", queue_id);
	} else {
		log_error("session %llu from %s: message not stored: %s", (unsigned long long)s->no, s->client_ip,
		          err ? err : "unknown error");
		smtp_reply_nocount(s, 451, "4.3.0", "Error: local storage failure, message not accepted; try again");
	}
	smtp_session_process(s);
}

/* The policy checks of docs/ARCHITECTURE.md "Bad input". Returns -1 after replying. */
static int smtp_session_data_policy(struct smtp_session *s, const struct smtp_data_reader *r)
{
	const struct smtp_limits *lim = smtp_session_limits(s);
	if (r->overflow) {
		smtp_reply_nocount(s, 552, "5.3.4", "Error: message exceeds the limit of %llu octets",
		                   (unsigned long long)lim->max_message_size);
		return -1;
	}
	if (s->txn->params.body == SMTP_BODY_BINARYMIME)
		return 0;
	if (lim->bare_newline == SMTP_POLICY_REJECT && (r->bare_lf || r->bare_cr)) {
		smtp_reply_nocount(s, 554, "5.6.0",
		                   "Error: message contains bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)");
		return -1;
	}
	if (lim->long_lines == SMTP_POLICY_REJECT && r->long_lines) {
		smtp_reply_nocount(s, 554, "5.6.0", "Error: message has lines over 998 octets (RFC 5322 2.1.1)");
		return -1;
	}
	if (lim->nul_bytes == SMTP_POLICY_REJECT && r->nul_bytes) {
		smtp_reply_nocount(s, 554, "5.6.0", "Error: message contains NUL bytes");
		return -1;
	}
	return 0;
}

static void smtp_session_data_done(struct smtp_session *s)
{
	if (smtp_session_data_policy(s, &s->txn->reader) < 0) {
		smtp_session_reset(s);
		return;
	}
	smtp_session_submit(s, "DATA");
}

static void smtp_session_chunk_done(struct smtp_session *s)
{
	switch (s->chunk_fate) {
	case SMTP_CHUNK_NO_MAIL:
		s->state = s->helo ? SMTP_STATE_GREETED : SMTP_STATE_CONNECTED;
		smtp_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	case SMTP_CHUNK_NO_RCPT:
		s->state = SMTP_STATE_MAIL;
		smtp_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return;
	case SMTP_CHUNK_TOO_BIG:
		smtp_session_reset(s);
		smtp_reply_nocount(s, 552, "5.3.4", "Error: message exceeds the limit of %llu octets",
		                   (unsigned long long)smtp_session_limits(s)->max_message_size);
		return;
	case SMTP_CHUNK_KEEP:
		break;
	}
	if (!s->chunk_last) {
		s->state = SMTP_STATE_RCPT;
		smtp_reply(s, 250, "2.0.0", "%llu octets received", (unsigned long long)s->chunk_size);
		return;
	}
	struct smtp_txn *t = s->txn;
	smtp_data_inspect(t->data.data, t->data.len, &t->reader);
	if (smtp_session_data_policy(s, &t->reader) < 0) {
		smtp_session_reset(s);
		return;
	}
	smtp_session_submit(s, "BDAT");
}

/* ---------- input ---------- */

/* DATA content: returns 1 when it made progress. */
static int smtp_session_read_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
		return 0;
	struct smtp_txn *t = s->txn;
	size_t used = smtp_data_feed(&t->reader, v.iov_base, v.iov_len, &t->data);
	evbuffer_drain(in, used);
	if (t->reader.state == SMTP_DATA_DONE)
		smtp_session_data_done(s);
	return 1;
}

static int smtp_session_read_chunk(struct smtp_session *s, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	if (avail == 0)
		return 0;
	size_t n = s->chunk_remaining < avail ? (size_t)s->chunk_remaining : avail;
	if (s->chunk_fate == SMTP_CHUNK_KEEP) {
		struct buf *b = &s->txn->data;
		buf_reserve(b, n);
		evbuffer_remove(in, b->data + b->len, n);
		b->len += n;
	} else {
		evbuffer_drain(in, n);
	}
	s->chunk_remaining -= n;
	if (s->chunk_remaining == 0)
		smtp_session_chunk_done(s);
	return 1;
}

/* A command line: returns 1 when it consumed one. */
static int smtp_session_read_line(struct smtp_session *s, struct evbuffer *in)
{
	size_t eol_len = 0;
	struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		size_t avail = evbuffer_get_length(in);
		if (avail > SMTP_COMMAND_LINE_MAX) {
			/* Too long already: drop it and answer when its end arrives. */
			evbuffer_drain(in, avail);
			s->discarding_line = 1;
		}
		return 0;
	}
	size_t total = (size_t)p.pos + eol_len;
	if (s->discarding_line || total > SMTP_COMMAND_LINE_MAX) {
		evbuffer_drain(in, total);
		s->discarding_line = 0;
		smtp_reply(s, 500, "5.5.2",
		           "Error: line too long (the limit is %d octets with CRLF, RFC 5321 4.5.3.1.4)",
		           SMTP_COMMAND_LINE_MAX);
		return 1;
	}
	char line[SMTP_COMMAND_LINE_MAX + 1];
	evbuffer_remove(in, line, total);
	size_t len = (size_t)p.pos;
	/* CRLF is the line end; a bare LF is accepted too (stated policy). */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	smtp_session_command(s, line, len, evbuffer_get_length(in) > 0);
	return 1;
}

/* Consumes input as far as the state allows. Returns 1 when it stopped for want of input. */
static int smtp_session_consume(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	for (;;) {
		if (s->paused || s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_CLOSING ||
		    s->srv->shutting_down || s->broken)
			return 0;
		if (evbuffer_get_length(s->out) > SMTP_OUTPUT_HIGH_WATER)
			smtp_session_send(s);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_OUTPUT_HIGH_WATER) {
			/* Resumed from the write callback once the client has read its replies. */
			s->paused = 1;
			bufferevent_disable(s->bev, EV_READ);
			return 0;
		}
		int progress;
		if (s->state == SMTP_STATE_DATA)
			progress = smtp_session_read_data(s, in);
		else if (s->state == SMTP_STATE_BDAT)
			progress = smtp_session_read_chunk(s, in);
		else
			progress = smtp_session_read_line(s, in);
		if (!progress)
			return 1;
	}
}

static void smtp_session_process(struct smtp_session *s)
{
	if (smtp_session_consume(s) && s->eof) {
		/* The client closed its side and nothing complete is left to answer. */
		smtp_session_close_after_reply(s);
	}
	smtp_session_flush(s);
}

static void smtp_session_read_cb(struct bufferevent *bev, void *arg)
{
	smtp_session_process(arg);
}

static void smtp_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_STATE_CLOSING) {
		smtp_session_free(s);
		return;
	}
	if (s->paused && (s->delay_ev == NULL || !evtimer_pending(s->delay_ev, NULL))) {
		s->paused = 0;
		if (!s->eof)
			bufferevent_enable(s->bev, EV_READ);
		smtp_session_process(s);
	}
}

static void smtp_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_READING) && s->state == SMTP_STATE_COMMIT) {
			/* We are the slow party (the store is committing): not the client's idleness. */
			bufferevent_enable(s->bev, EV_READ);
			return;
		}
		if ((what & BEV_EVENT_READING) && s->state != SMTP_STATE_CLOSING) {
			/* RFC 5321 4.5.3.2: the client was silent for too long. */
			evbuffer_add_printf(s->out, "421 4.4.2 %s Error: timeout exceeded, closing connection\r\n",
			                    s->srv->hostname);
			log_info("session %llu from %s: idle timeout", (unsigned long long)s->no, s->client_ip);
			smtp_session_close_after_reply(s);
			smtp_session_flush(s);
			return;
		}
		/* The client does not read what we write. */
		smtp_session_free(s);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		s->eof = 1;
		if (s->state == SMTP_STATE_CLOSING) {
			smtp_session_free(s);
			return;
		}
		bufferevent_disable(s->bev, EV_READ);
		smtp_session_process(s);
		return;
	}
	/* BEV_EVENT_ERROR: reset by peer and the like. */
	smtp_session_free(s);
}

void smtp_session_start(struct smtp_listener *lst, int fd, const struct sockaddr *sa)
{
	struct smtp_server *srv = lst->srv;
	const struct smtp_limits *lim = &srv->cfg.limits;
	struct smtp_session *s = xcalloc(1, sizeof *s);
	s->srv = srv;
	s->lst = lst;
	addr_format_ip(sa, s->client_ip, sizeof s->client_ip);
	s->client_port = addr_port(sa);
	s->state = SMTP_STATE_CONNECTED;

	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	s->out = evbuffer_new();
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb, smtp_session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_HIGH_WATER);
	if (lim->idle_timeout_ms > 0) {
		struct timeval tv = {lim->idle_timeout_ms / 1000, (lim->idle_timeout_ms % 1000) * 1000};
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	}

	int over_total = lim->max_connections && srv->nsessions >= lim->max_connections;
	int over_ip = lim->max_connections_per_ip &&
	              smtp_server_ip_sessions(srv, s->client_ip) >= lim->max_connections_per_ip;
	smtp_server_session_added(srv, s);
	if (over_total || over_ip) {
		log_warn("refusing %s: %s", s->client_ip,
		         over_total ? "too many connections" : "too many connections from this address");
		evbuffer_add_printf(s->out, "421 4.7.0 %s Error: too many connections%s, try again later\r\n",
		                    srv->hostname, over_total ? "" : " from your address");
		smtp_session_close_after_reply(s);
		smtp_session_flush(s);
		return;
	}
	evbuffer_add_printf(s->out, "220 %s ESMTP mailscope\r\n", srv->hostname);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtp_session_flush(s);
}
