/*
 * smtp_commands: what each SMTP command means in each state.
 *
 * A session is a table (OpenSMTPD's design): one row per verb with a check
 * function (may the command run now? if not, it replies and says no) and a
 * proceed function (do it). Adding a command is adding a row. The end of a
 * message (DATA's final dot, BDAT LAST) hands it to the owner and answers
 * only when the owner calls smtp_delivery_done().
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"

/* First allocation for message data when the client did not announce SIZE. */
#define SMTP_DATA_INITIAL (16 * 1024)
/* Never pre-allocate more than this on the word of a SIZE= parameter. */
#define SMTP_DATA_PREALLOC_MAX (1024 * 1024)

/* Rows of the command table. */
#define SMTP_CMD_GROUP_END 0x1u /* RFC 2920 3.1: may only be the last command of a pipelined group */

struct smtp_command_row {
	unsigned flags;
	int (*check)(struct smtp_session *s, const struct smtp_command *cmd);
	void (*proceed)(struct smtp_session *s, const struct smtp_command *cmd);
};

int smtp_session_offers_starttls(const struct smtp_session *s)
{
	return s->srv->cfg.tls != NULL && !s->tls && s->lst->mode != SMTP_MODE_SUBMISSIONS;
}

int smtp_session_offers_auth(const struct smtp_session *s)
{
	return s->tls || s->srv->cfg.auth.allow_insecure;
}

static int smtp_is_submission(const struct smtp_session *s)
{
	return s->lst->mode == SMTP_MODE_SUBMISSION || s->lst->mode == SMTP_MODE_SUBMISSIONS;
}

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
	free(s->rec.helo);
	s->rec.helo = xstrdup(cmd->arg);
	s->esmtp = cmd->verb == SMTP_VERB_EHLO;
	s->state = SMTP_STATE_GREETED;
	char line[400];
	snprintf(line, sizeof line, "250%c%s greets [%s]", s->esmtp ? '-' : ' ', s->srv->hostname, s->client_ip);
	smtp_reply_line(s, line);
	if (!s->esmtp)
		return;
	snprintf(line, sizeof line, "250-SIZE %llu", (unsigned long long)smtp_session_limits(s)->max_message_size);
	smtp_reply_line(s, "250-PIPELINING");
	smtp_reply_line(s, line);
	smtp_reply_line(s, "250-8BITMIME");
	smtp_reply_line(s, "250-BINARYMIME");
	smtp_reply_line(s, "250-CHUNKING");
	smtp_reply_line(s, "250-SMTPUTF8");
	smtp_reply_line(s, "250-DSN");
	if (smtp_session_offers_starttls(s))
		smtp_reply_line(s, "250-STARTTLS");
	if (smtp_session_offers_auth(s))
		smtp_reply_line(s, "250-AUTH PLAIN LOGIN CRAM-MD5");
	smtp_reply_line(s, "250 ENHANCEDSTATUSCODES");
}

static int smtp_check_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (smtp_check_greeted(s, cmd) < 0)
		return -1;
	if (s->txn) {
		smtp_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return -1;
	}
	const struct smtp_auth_policy *ap = &s->srv->cfg.auth;
	if (ap->require_tls && !s->tls && s->lst->mode != SMTP_MODE_SUBMISSIONS) {
		smtp_diag(s, SMTP_DIAG_MAIL_BEFORE_STARTTLS, "MAIL FROM on plaintext %s listener %s with --require-tls",
		          smtp_mode_name(s->lst->mode), s->lst->addr);
		smtp_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return -1;
	}
	if (ap->required && smtp_is_submission(s) && !s->authenticated) {
		smtp_diag(s, SMTP_DIAG_MAIL_WITHOUT_AUTH, "MAIL FROM without AUTH on %s listener %s (--auth required)",
		          smtp_mode_name(s->lst->mode), s->lst->addr);
		smtp_reply(s, 530, "5.7.0", "Authentication required");
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
		else /* the announced size is a hint, not a promise: reserve at most the usual cap */
			buf_reserve(&t->data, cmd->bdat_size < SMTP_DATA_PREALLOC_MAX ? (size_t)cmd->bdat_size
			                                                              : SMTP_DATA_PREALLOC_MAX);
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
	smtp_session_close_after_reply(s, "quit");
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
	smtp_reply_line(s, "214-2.0.0 mailscope sandbox SMTP server; commands:");
	smtp_reply_line(s, "214-2.0.0   HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
	smtp_reply_line(s, "214 2.0.0 Every message is kept and shown by the API; see man mailscope");
}

static int smtp_check_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (s->tls) {
		smtp_reply(s, 503, "5.5.1", "Error: TLS is already active");
		return -1;
	}
	if (!smtp_session_offers_starttls(s)) {
		smtp_reply(s, 454, "4.7.0", "TLS not available on this listener");
		return -1;
	}
	if (s->txn) {
		/* RFC 3207 4: a client must not start TLS inside a transaction. */
		smtp_reply(s, 503, "5.5.1", "Error: STARTTLS inside a mail transaction; send RSET first");
		return -1;
	}
	return 0;
}

static void smtp_cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	char sample[200];
	size_t dropped = smtp_session_discard_input(s, sample, sizeof sample);
	if (dropped > 0) {
		/* CVE-2011-0411: never execute what was sent in the clear behind STARTTLS. */
		smtp_transcript_addf(s, 'C', "[%zu octets pipelined behind STARTTLS, discarded]", dropped);
		smtp_diag(s, SMTP_DIAG_STARTTLS_INJECTION_ATTEMPT,
		          "%zu octets after STARTTLS before the handshake: \"%s\"", dropped, sample);
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	s->tls_pending = 1;
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
        /* STARTTLS checks pipelining itself: what follows it is discarded, not refused. */
        [SMTP_VERB_STARTTLS] = {0, smtp_check_starttls, smtp_cmd_starttls},
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

/*
 * RFC 2920 3.1: after a command that ends a group the client must wait for
 * the reply; a client that was not offered PIPELINING (no EHLO) must always
 * wait. Input already waiting behind such a command proves it did not (as
 * Postfix's smtpd_forbid_unauth_pipelining). Returns -1 after closing.
 */
int smtp_session_check_pipelining(struct smtp_session *s, const char *verb, int group_end, int more_input)
{
	if (!more_input || !smtp_session_limits(s)->strict_pipelining || !(group_end || !s->esmtp))
		return 0;
	char sample[200];
	smtp_session_discard_input(s, sample, sizeof sample);
	if (s->esmtp)
		smtp_diag(s, SMTP_DIAG_PIPELINING_VIOLATION, "\"%s\" was already sent when %s arrived", sample, verb);
	else
		smtp_diag(s, SMTP_DIAG_PIPELINING_WITHOUT_EHLO, "\"%s\" was already sent behind %s without EHLO",
		          sample, verb);
	smtp_reply_nocount(
	        s, 554, "5.5.0", "Error: SMTP protocol synchronization: %s must wait for the reply to %s (RFC 2920)",
	        s->esmtp ? "the client" : "a client that did not use EHLO", s->esmtp ? verb : "each command");
	smtp_session_close_after_reply(s, "pipelining violation");
	return -1;
}

void smtp_session_command(struct smtp_session *s, const char *line, size_t len, int more_input)
{
	smtp_transcript_add(s, 'C', line, len);
	struct smtp_command cmd;
	struct smtp_parse_error perr;
	if (smtp_parse_command(line, len, &cmd, &perr) < 0) {
		smtp_session_parse_error(s, &perr);
		if (cmd.verb == SMTP_VERB_BDAT) {
			/* The chunk's length is unknown, so its bytes cannot be skipped: they would be read as
			 * commands. */
			smtp_session_close_after_reply(s, "unreadable BDAT size");
		}
		return;
	}
	const struct smtp_command_row *row = &smtp_commands[cmd.verb];
	if (cmd.verb != SMTP_VERB_STARTTLS &&
	    smtp_session_check_pipelining(s, smtp_verb_name(cmd.verb), row->flags & SMTP_CMD_GROUP_END, more_input) < 0)
		return;
	if (row->proceed == NULL) {
		smtp_reply(s, 502, "5.5.1", "Error: command not implemented");
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
	m->session_id = s->rec.id;
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
	smtp_transcript_addf(s, 'C', "[message: %zu octets by %s]", m->raw_len, transfer);
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

static void smtp_delivery_finish(struct smtp_delivery *d, const char *queue_id, const char *err, int no_space)
{
	struct smtp_session *s = d->session;
	s->delivery = NULL;
	free(d);
	if (s->dead) {
		smtp_session_process(s); /* frees it: the connection is gone */
		return;
	}
	s->state = s->helo ? SMTP_STATE_GREETED : SMTP_STATE_CONNECTED;
	if (queue_id) {
		s->rec.nmessages++;
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", queue_id);
	} else {
		log_error("session %llu from %s: message not stored: %s", (unsigned long long)s->no, s->client_ip,
		          err ? err : "unknown error");
		if (no_space)
			smtp_reply_nocount(s, 452, "4.3.1",
			                   "Error: insufficient system storage, message not accepted; try again later");
		else
			smtp_reply_nocount(s, 451, "4.3.0",
			                   "Error: local storage failure, message not accepted; try again");
	}
	smtp_session_process(s);
}

void smtp_delivery_done(struct smtp_delivery *d, const char *queue_id, const char *err)
{
	smtp_delivery_finish(d, queue_id, err, 0);
}

void smtp_delivery_no_space(struct smtp_delivery *d, const char *err)
{
	smtp_delivery_finish(d, NULL, err, 1);
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

void smtp_session_data_done(struct smtp_session *s)
{
	if (smtp_session_data_policy(s, &s->txn->reader) < 0) {
		smtp_transcript_addf(s, 'C', "[message: %llu octets, refused]",
		                     (unsigned long long)s->txn->reader.size);
		smtp_session_reset(s);
		return;
	}
	smtp_session_submit(s, "DATA");
}

void smtp_session_chunk_done(struct smtp_session *s)
{
	smtp_transcript_addf(s, 'C', "[chunk: %llu octets]", (unsigned long long)s->chunk_size);
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
