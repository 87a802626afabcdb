/*
 * Unit tests for smtp_client and smtp_submit against scripted servers in the
 * same process (one libevent loop, a listener on 127.0.0.1): each server
 * follows a script of lines to send, client lines to expect and actions, so
 * the client's state machine meets what real sandboxes never send — EHLO
 * refused, no STARTTLS, malformed and pipelined replies, silence, a server
 * that hangs up, recipients partly refused, LOGIN and CRAM-MD5 challenges,
 * bytes injected behind the 220 to STARTTLS — and what it puts on the wire
 * (dot-stuffing, AUTH responses) is checked byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_submit.h"

/*
 * A script step: "S:text" sends text (CRLF added unless it ends with \n),
 * "C:prefix" waits for a client line that starts with prefix, "D" reads
 * DATA content up to CRLF.CRLF, "X" hangs up, "Z" goes silent.
 */
struct server {
	struct event_base *base;
	struct evconnlistener *lst;
	struct bufferevent *bev;
	const char *const *script;
	size_t pos;
	struct buf lines; /* every client line, LF-separated */
	struct buf data;  /* DATA content as received (still stuffed) */
	int mismatch;
	char mismatch_text[300];
	uint16_t port;
};

static void server_run(struct server *s);

static void server_close(struct server *s)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
}

/* "X": hang up once what was written has gone out. */
static void server_drained_cb(struct bufferevent *bev, void *arg)
{
	server_close(arg);
}

static void server_read_cb(struct bufferevent *bev, void *arg)
{
	server_run(arg);
}

static void server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct server *s = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		server_close(s);
}

static void server_run(struct server *s)
{
	while (s->bev != NULL && s->script[s->pos] != NULL) {
		const char *step = s->script[s->pos];
		struct evbuffer *in = bufferevent_get_input(s->bev);
		if (step[0] == 'S') {
			bufferevent_write(s->bev, step + 2, strlen(step + 2));
			if (step[strlen(step) - 1] != '\n')
				bufferevent_write(s->bev, "\r\n", 2);
		} else if (step[0] == 'C') {
			size_t n;
			char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
			if (line == NULL)
				return;
			buf_append(&s->lines, line, n);
			buf_append_byte(&s->lines, '\n');
			if (strncmp(line, step + 2, strlen(step + 2)) != 0 && !s->mismatch) {
				s->mismatch = 1;
				snprintf(s->mismatch_text, sizeof s->mismatch_text,
				         "step %zu: wanted \"%s\", got \"%s\"", s->pos, step + 2, line);
			}
			free(line);
		} else if (step[0] == 'D') {
			struct evbuffer_ptr end = evbuffer_search(in, "\r\n.\r\n", 5, NULL);
			if (end.pos < 0)
				return;
			size_t n = (size_t)end.pos + 5;
			buf_reserve(&s->data, n);
			evbuffer_remove(in, s->data.data + s->data.len, n);
			s->data.len += n;
		} else if (step[0] == 'X') {
			s->pos++;
			if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
				server_close(s);
			else
				bufferevent_setcb(s->bev, NULL, server_drained_cb, server_event_cb, s);
			return;
		} else if (step[0] == 'Z') {
			return;
		}
		s->pos++;
	}
}

static void server_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct server *s = arg;
	if (s->bev != NULL) {
		close(fd); /* one conversation at a time */
		return;
	}
	s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, server_read_cb, NULL, server_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->pos = 0;
	server_run(s);
}

static void server_start(struct server *s, struct event_base *base, const char *const *script)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	memset(s, 0, sizeof *s);
	s->base = base;
	s->script = script;
	buf_init(&s->lines);
	buf_init(&s->data);
	s->lst = evconnlistener_new_bind(base, server_accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                 (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(s->lst);
	struct sockaddr_in bound;
	socklen_t blen = sizeof bound;
	getsockname(evconnlistener_get_fd(s->lst), (struct sockaddr *)&bound, &blen);
	s->port = ntohs(bound.sin_port);
}

static void server_free(struct server *s)
{
	server_close(s);
	evconnlistener_free(s->lst);
	buf_free(&s->lines);
	buf_free(&s->data);
}

static struct sockaddr_in server_addr(const struct server *s)
{
	struct sockaddr_in sin = {
	        .sin_family = AF_INET, .sin_port = htons(s->port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return sin;
}

/* ---- running a submission ---- */

struct run {
	struct event_base *base;
	int done;
	struct buf transcript;
};

static void transcript_cb(void *arg, enum smtp_client_dir dir, const char *text, size_t len)
{
	struct run *r = arg;
	buf_printf(&r->transcript, "%s %.*s\n", smtp_client_dir_mark(dir), (int)len, text);
}

static void submit_done(struct smtp_submit *s, void *arg)
{
	struct run *r = arg;
	r->done = 1;
	event_base_loopbreak(r->base);
}

static const char *const RCPT1[] = {"bob@example.org"};
static const char *const RCPT2[] = {"bob@example.org", "nobody@example.org"};
static const char MESSAGE[] = "Subject: t\r\n\r\n.one dot\r\n..two dots\r\nend\r\n";

/* Runs one submission against the script; the caller frees the submit and the run's transcript. */
static struct smtp_submit *submit(struct event_base *base, struct server *srv, struct smtp_submit_plan *plan,
                                  struct run *r, struct buf *wire)
{
	struct sockaddr_in sin = server_addr(srv);
	memset(r, 0, sizeof *r);
	r->base = base;
	buf_init(&r->transcript);
	buf_init(wire);
	smtp_data_stuff((const uint8_t *)MESSAGE, sizeof MESSAGE - 1, wire);
	plan->addr = (struct sockaddr *)&sin;
	plan->addrlen = sizeof sin;
	plan->ehlo_name = "client.test";
	plan->mail_from = "alice@example.com";
	if (plan->rcpts == NULL) {
		plan->rcpts = RCPT1;
		plan->nrcpts = 1;
	}
	plan->wire = wire->data;
	plan->wire_len = wire->len;
	plan->message_size = sizeof MESSAGE - 1;
	if (plan->quit_after == 0)
		plan->quit_after = SMTP_STAGE__COUNT;
	struct smtp_client_config cc = {.base = base,
	                                .timeout_ms = 2000,
	                                .transcript = transcript_cb,
	                                .transcript_arg = r,
	                                .data_lines_shown = 100};
	struct smtp_submit *s = smtp_submit_start(&cc, plan, submit_done, r);
	while (!r->done)
		event_base_dispatch(base);
	return s;
}

static void check_script_done(const struct server *srv)
{
	if (srv->mismatch)
		fail_msg("%s", srv->mismatch_text);
}

/* ---- tests ---- */

static void test_full_conversation_and_dot_stuffing(void **state)
{
	static const char *const script[] = {"S:220 mx.test ESMTP",
	                                     "C:EHLO client.test",
	                                     "S:250-mx.test\r\n250-SIZE 1000\r\n250 8BITMIME",
	                                     "C:MAIL FROM:<alice@example.com> SIZE=41",
	                                     "S:250 2.1.0 Ok",
	                                     "C:RCPT TO:<bob@example.org>",
	                                     "S:250 2.1.5 Ok",
	                                     "C:DATA",
	                                     "S:354 go ahead",
	                                     "D",
	                                     "S:250 2.0.0 Ok: queued as ABC123",
	                                     "C:QUIT",
	                                     "S:221 2.0.0 Bye",
	                                     NULL};
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r;
	struct buf wire;
	struct smtp_submit_plan plan = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, script);
	struct smtp_submit *s = submit(base, &srv, &plan, &r, &wire);
	const struct smtp_submit_result *res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_true(res->ok);
	assert_int_equal(res->delivered, 1);
	assert_string_equal(res->messages[0].queue_id, "ABC123");
	assert_int_equal(res->tls_used, SMTP_TLS_NONE);
	/* The wire form: each line starting with '.' got one more, and the end-of-data line. */
	buf_cstr(&srv.data);
	assert_string_equal((const char *)srv.data.data, "Subject: t\r\n\r\n..one dot\r\n...two dots\r\nend\r\n.\r\n");
	size_t n;
	const struct smtp_client_step *st = smtp_client_steps(smtp_submit_client(s), &n);
	const char *names[] = {"connect", "banner", "ehlo", "mail", "rcpt", "data", "message", "quit"};
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(st[i].name, names[i]);
		assert_int_equal(st[i].error, SMTP_CLIENT_OK);
		assert_true(st[i].ms >= 0);
	}
	assert_int_equal(st[6].code, 250);
	assert_string_equal(st[6].enhanced, "2.0.0");
	assert_string_equal(st[6].text, "Ok: queued as ABC123");
	assert_non_null(strstr(buf_cstr(&r.transcript), "-> ..one dot\n"));
	assert_non_null(strstr(buf_cstr(&r.transcript), "<- 250-SIZE 1000\n"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);
	event_base_free(base);
}

static void test_helo_fallback_and_no_starttls(void **state)
{
	static const char *const script[] = {"S:220 old.test",
	                                     "C:EHLO client.test",
	                                     "S:502 5.5.1 EHLO not implemented",
	                                     "C:HELO client.test",
	                                     "S:250 old.test",
	                                     "C:QUIT",
	                                     "S:221 bye",
	                                     NULL};
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r;
	struct buf wire;
	struct smtp_submit_plan plan = {.tls = SMTP_TLS_STARTTLS};
	server_start(&srv, base, script);
	struct smtp_submit *s = submit(base, &srv, &plan, &r, &wire);
	const struct smtp_submit_result *res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_false(res->ok);
	assert_int_equal(res->failed_stage, SMTP_STAGE_TLS);
	assert_true(res->used_helo);
	assert_non_null(strstr(res->error, "refused EHLO"));
	assert_non_null(strstr(buf_cstr(&r.transcript), "** EHLO refused: trying HELO"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* --tls auto against a server without STARTTLS goes on in plaintext, and says so. */
	static const char *const plain[] = {"S:220 p.test", "C:EHLO",   "S:250 p.test", "C:MAIL",   "S:250 ok",
	                                    "C:RCPT",       "S:250 ok", "C:DATA",       "S:354 go", "D",
	                                    "S:250 ok",     "C:QUIT",   "S:221 bye",    NULL};
	struct smtp_submit_plan autoplan = {.tls = SMTP_TLS_AUTO};
	server_start(&srv, base, plain);
	s = submit(base, &srv, &autoplan, &r, &wire);
	res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_true(res->ok);
	assert_int_equal(res->tls_used, SMTP_TLS_NONE);
	assert_string_equal(res->messages[0].queue_id, "");
	assert_non_null(strstr(buf_cstr(&r.transcript), "offers no STARTTLS: going on without TLS"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);
	event_base_free(base);
}

static void test_malformed_silent_and_closed(void **state)
{
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r;
	struct buf wire;
	const struct smtp_submit_result *res;
	struct smtp_submit *s;

	/* Not SMTP at all: the error quotes what came. */
	static const char *const http[] = {"S:HTTP/1.1 400 Bad Request", "Z", NULL};
	struct smtp_submit_plan p1 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, http);
	s = submit(base, &srv, &p1, &r, &wire);
	res = smtp_submit_result(s);
	assert_int_equal(res->failed_stage, SMTP_STAGE_BANNER);
	assert_int_equal(smtp_client_last(smtp_submit_client(s))->error, SMTP_CLIENT_ERR_PROTOCOL);
	assert_non_null(strstr(res->error, "HTTP/1.1 400 Bad Request"));
	assert_string_equal(smtp_client_protocol_line(smtp_submit_client(s)), "HTTP/1.1 400 Bad Request");
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* Codes that change inside a reply. */
	static const char *const mixed[] = {"S:220-mx.test\r\n221 mx.test", "Z", NULL};
	struct smtp_submit_plan p2 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, mixed);
	s = submit(base, &srv, &p2, &r, &wire);
	res = smtp_submit_result(s);
	assert_int_equal(res->failed_stage, SMTP_STAGE_BANNER);
	assert_non_null(strstr(res->error, "has code 221, the first had 220"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* Silence: the banner step times out. */
	static const char *const silent[] = {"Z", NULL};
	struct smtp_submit_plan p3 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, silent);
	s = submit(base, &srv, &p3, &r, &wire);
	res = smtp_submit_result(s);
	assert_int_equal(res->failed_stage, SMTP_STAGE_BANNER);
	assert_int_equal(smtp_client_last(smtp_submit_client(s))->error, SMTP_CLIENT_ERR_TIMEOUT);
	assert_non_null(strstr(res->error, "no reply within 2000 ms"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* A server that hangs up after EHLO. */
	static const char *const gone[] = {"S:220 mx.test", "C:EHLO", "X", NULL};
	struct smtp_submit_plan p4 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, gone);
	s = submit(base, &srv, &p4, &r, &wire);
	res = smtp_submit_result(s);
	assert_int_equal(res->failed_stage, SMTP_STAGE_EHLO);
	assert_int_equal(smtp_client_last(smtp_submit_client(s))->error, SMTP_CLIENT_ERR_CLOSED);
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* 421 at greeting (throttling): the banner stage fails with the code. */
	static const char *const busy[] = {"S:421 4.7.0 mx.test too busy, try later", "C:QUIT", "S:221 bye", NULL};
	struct smtp_submit_plan p5 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, busy);
	s = submit(base, &srv, &p5, &r, &wire);
	res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_int_equal(res->failed_stage, SMTP_STAGE_BANNER);
	assert_int_equal(res->reply_code, 421);
	assert_string_equal(res->reply_enhanced, "4.7.0");
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);
	event_base_free(base);
}

static void test_recipients_partly_refused(void **state)
{
	static const char *const script[] = {"S:220 mx.test",
	                                     "C:EHLO",
	                                     "S:250 mx.test",
	                                     "C:MAIL",
	                                     "S:250 ok",
	                                     "C:RCPT TO:<bob@example.org>",
	                                     "S:250 ok",
	                                     "C:RCPT TO:<nobody@example.org>",
	                                     "S:550 5.1.1 no such user",
	                                     "C:DATA",
	                                     "S:354 go",
	                                     "D",
	                                     "S:250 ok id=1rAB-0001",
	                                     "C:QUIT",
	                                     "S:221 bye",
	                                     NULL};
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r;
	struct buf wire;
	struct smtp_submit_plan plan = {.tls = SMTP_TLS_NONE, .rcpts = RCPT2, .nrcpts = 2};
	server_start(&srv, base, script);
	struct smtp_submit *s = submit(base, &srv, &plan, &r, &wire);
	const struct smtp_submit_result *res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_true(res->ok);
	assert_true(res->rcpt_refused);
	assert_int_equal(res->delivered, 1);
	assert_int_equal(res->messages[0].rcpt_refused, 1);
	assert_string_equal(res->messages[0].queue_id, "1rAB-0001");
	assert_int_equal(res->reply_code, 550);
	assert_non_null(strstr(res->error, "550 5.1.1"));
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);

	/* All refused: the rcpt stage fails and no DATA is sent. */
	static const char *const none[] = {"S:220 mx.test", "C:EHLO",         "S:250 mx.test", "C:MAIL",    "S:250 ok",
	                                   "C:RCPT",        "S:550 5.1.1 no", "C:QUIT",        "S:221 bye", NULL};
	struct smtp_submit_plan p2 = {.tls = SMTP_TLS_NONE};
	server_start(&srv, base, none);
	s = submit(base, &srv, &p2, &r, &wire);
	res = smtp_submit_result(s);
	check_script_done(&srv);
	assert_false(res->ok);
	assert_int_equal(res->failed_stage, SMTP_STAGE_RCPT);
	smtp_submit_free(s);
	buf_free(&r.transcript);
	buf_free(&wire);
	server_free(&srv);
	event_base_free(base);
}

/* ---- the client's operations directly ---- */

struct ops {
	struct event_base *base;
	int done;
};

static void op_done(struct smtp_client *c, void *arg)
{
	struct ops *o = arg;
	o->done = 1;
	event_base_loopbreak(o->base);
}

static void wait_op(struct ops *o)
{
	while (!o->done)
		event_base_dispatch(o->base);
	o->done = 0;
}

static struct smtp_client *connect_to(struct event_base *base, struct server *srv, struct ops *o, struct run *r)
{
	struct sockaddr_in sin = server_addr(srv);
	struct smtp_client_config cc = {
	        .base = base, .timeout_ms = 2000, .transcript = transcript_cb, .transcript_arg = r};
	struct smtp_client *c = smtp_client_new(&cc);
	smtp_client_connect(c, "connect", (struct sockaddr *)&sin, sizeof sin, op_done, o);
	wait_op(o);
	assert_int_equal(smtp_client_last(c)->error, SMTP_CLIENT_OK);
	smtp_client_read_reply(c, "banner", 0, op_done, o);
	wait_op(o);
	assert_int_equal(smtp_client_last(c)->code, 220);
	return c;
}

static void test_auth_exchanges(void **state)
{
	/* LOGIN: "Username:" then "Password:", each answered in base64. */
	static const char *const login[] = {"S:220 mx.test",
	                                    "C:AUTH LOGIN",
	                                    "S:334 VXNlcm5hbWU6",
	                                    "C:dGlt",
	                                    "S:334 UGFzc3dvcmQ6",
	                                    "C:dGFuc3RhYWZ0YW5zdGFhZg==",
	                                    "S:235 2.7.0 ok",
	                                    "Z",
	                                    NULL};
	/* CRAM-MD5 with RFC 2195's own example. */
	static const char *const cram[] = {"S:220 mx.test",
	                                   "C:AUTH CRAM-MD5",
	                                   "S:334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
	                                   "C:dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
	                                   "S:235 ok",
	                                   "Z",
	                                   NULL};
	/* PLAIN, and a server that asks for more than a mechanism has: "*" cancels. */
	static const char *const plain[] = {"S:220 mx.test",
	                                    "C:AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
	                                    "S:334 ",
	                                    "C:AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
	                                    "S:334 more?",
	                                    "C:*",
	                                    "S:501 5.7.0 cancelled",
	                                    "Z",
	                                    NULL};
	const char *const *scripts[] = {login, cram, plain};
	enum smtp_auth_mech mechs[] = {SMTP_AUTH_LOGIN, SMTP_AUTH_CRAM_MD5, SMTP_AUTH_PLAIN};
	int codes[] = {235, 235, 501};
	for (int i = 0; i < 3; i++) {
		struct event_base *base = event_base_new();
		struct server srv;
		struct run r = {.base = base};
		struct ops o = {.base = base};
		buf_init(&r.transcript);
		server_start(&srv, base, scripts[i]);
		struct smtp_client *c = connect_to(base, &srv, &o, &r);
		smtp_client_auth(c, "auth", mechs[i], "tim", "tanstaaftanstaaf", op_done, &o);
		wait_op(&o);
		check_script_done(&srv);
		assert_int_equal(smtp_client_last(c)->code, codes[i]);
		const char *t = buf_cstr(&r.transcript);
		/* No secret and no SASL response in the transcript. */
		assert_null(strstr(t, "tanstaaf"));
		assert_null(strstr(t, "dGFuc3RhYWZ0YW5zdGFhZg"));
		assert_null(strstr(t, "dGltIGI5MTNh"));
		assert_null(strstr(t, "AHRpbQB0"));
		assert_non_null(strstr(t, "****"));
		smtp_client_free(c);
		buf_free(&r.transcript);
		server_free(&srv);
		event_base_free(base);
	}
}

static void test_raw_write_and_pipelined_replies(void **state)
{
	/* Both replies arrive in one segment; each read takes one. */
	static const char *const script[] = {
	        "S:220 mx.test", "C:NOOP", "C:NOOP", "S:250 2.0.0 one\r\n250 2.0.0 two\r\n", "Z", NULL};
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r = {.base = base};
	struct ops o = {.base = base};
	buf_init(&r.transcript);
	server_start(&srv, base, script);
	struct smtp_client *c = connect_to(base, &srv, &o, &r);
	assert_int_equal(smtp_client_write_raw(c, "NOOP\r\nNOOP\r\n", 12), 0);
	smtp_client_read_reply(c, "noop1", 0, op_done, &o);
	wait_op(&o);
	assert_string_equal(smtp_client_last(c)->text, "one");
	smtp_client_read_reply(c, "noop2", 0, op_done, &o);
	wait_op(&o);
	assert_string_equal(smtp_client_last(c)->text, "two");
	/* Nothing more comes: a short window times out. */
	smtp_client_read_reply(c, "more", 100, op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_last(c)->error, SMTP_CLIENT_ERR_TIMEOUT);
	check_script_done(&srv);
	assert_non_null(strstr(buf_cstr(&r.transcript), "-> NOOP\n-> NOOP\n"));
	smtp_client_free(c);
	buf_free(&r.transcript);
	server_free(&srv);
	event_base_free(base);
}

static void test_bytes_behind_starttls_discarded(void **state)
{
	/* A man in the middle (or a broken server) puts a reply behind the 220: it must never be read as one. */
	static const char *const script[] = {"S:220 mx.test", "C:STARTTLS", "S:220 go ahead\r\n250 injected\r\n", "X",
	                                     NULL};
	struct event_base *base = event_base_new();
	struct server srv;
	struct run r = {.base = base};
	struct ops o = {.base = base};
	char err[200];
	struct tls_client_config tc = {.verify = 0};
	struct tls_client *tls = tls_client_new(&tc, err, sizeof err);
	assert_non_null(tls);
	buf_init(&r.transcript);
	server_start(&srv, base, script);
	struct sockaddr_in sin = server_addr(&srv);
	struct smtp_client_config cc = {.base = base,
	                                .tls = tls,
	                                .servername = "mx.test",
	                                .timeout_ms = 2000,
	                                .transcript = transcript_cb,
	                                .transcript_arg = &r};
	struct smtp_client *c = smtp_client_new(&cc);
	smtp_client_connect(c, "connect", (struct sockaddr *)&sin, sizeof sin, op_done, &o);
	wait_op(&o);
	smtp_client_read_reply(c, "banner", 0, op_done, &o);
	wait_op(&o);
	smtp_client_command(c, "starttls", "STARTTLS", op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_last(c)->code, 220);
	smtp_client_start_tls(c, "tls", op_done, &o);
	wait_op(&o);
	assert_int_not_equal(smtp_client_last(c)->error, SMTP_CLIENT_OK); /* the "server" speaks no TLS */
	assert_int_equal(smtp_client_discarded_before_tls(c), 14);
	assert_non_null(strstr(buf_cstr(&r.transcript), "14 octets arrived before the TLS handshake"));
	assert_null(strstr(buf_cstr(&r.transcript), "<- 250 injected"));
	assert_non_null(smtp_client_tls(c));
	assert_false(smtp_client_connected(c));
	/* Operations on a closed client fail cleanly. */
	smtp_client_command(c, "noop", "NOOP", op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_last(c)->error, SMTP_CLIENT_ERR_STATE);
	smtp_client_free(c);
	tls_client_free(tls);
	buf_free(&r.transcript);
	server_free(&srv);
	event_base_free(base);
}

static void test_connect_refused_and_free_in_callback(void **state)
{
	struct event_base *base = event_base_new();
	/* A port nobody listens on: bind, note, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	struct ops o = {.base = base};
	struct smtp_client_config cc = {.base = base, .timeout_ms = 2000};
	struct smtp_client *c = smtp_client_new(&cc);
	smtp_client_connect(c, "connect", (struct sockaddr *)&sin, sizeof sin, op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_last(c)->error, SMTP_CLIENT_ERR_REFUSED);
	assert_non_null(strstr(smtp_client_last(c)->text, "refused"));
	assert_string_equal(smtp_client_error_name(SMTP_CLIENT_ERR_REFUSED), "refused");
	smtp_client_free(c);

	char err[200];
	struct sockaddr_storage ss;
	socklen_t sslen;
	assert_int_equal(smtp_client_resolve("127.0.0.1", 25, AF_UNSPEC, &ss, &sslen, err, sizeof err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(smtp_client_resolve("no-such-host.invalid", 25, AF_UNSPEC, &ss, &sslen, err, sizeof err), -1);
	assert_non_null(strstr(err, "no-such-host.invalid"));
	event_base_free(base);
}

/* What came back to a ClientHello: probe tells a plaintext greeter, an HTTP server and silence apart with it. */
static void tls_answer_case(const char *const *script, int64_t timeout_ms, enum smtp_client_tls_answer want,
                            const char *line, enum smtp_client_error err_want)
{
	struct event_base *base = event_base_new();
	struct server srv;
	struct ops o = {.base = base};
	char err[200];
	struct tls_client_config tc = {.verify = 0};
	struct tls_client *tls = tls_client_new(&tc, err, sizeof err);
	assert_non_null(tls);
	server_start(&srv, base, script);
	struct sockaddr_in sin = server_addr(&srv);
	struct smtp_client_config cc = {.base = base, .tls = tls, .servername = "mx.test", .timeout_ms = timeout_ms};
	struct smtp_client *c = smtp_client_new(&cc);
	smtp_client_connect(c, "connect", (struct sockaddr *)&sin, sizeof sin, op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_tls_answer(c, NULL), SMTP_CLIENT_TLS_ANSWER_NONE); /* no handshake yet */
	smtp_client_start_tls(c, "tls", op_done, &o);
	wait_op(&o);
	assert_int_equal(smtp_client_last(c)->error, err_want);
	const char *got = NULL;
	assert_int_equal(smtp_client_tls_answer(c, &got), want);
	assert_string_equal(got, line);
	smtp_client_free(c);
	tls_client_free(tls);
	server_free(&srv);
	event_base_free(base);
}

static void test_tls_answer(void **state)
{
	static const char *const greeter[] = {"S:220 mx.test ESMTP ready", "Z", NULL};
	static const char *const http[] = {"S:HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "Z", NULL};
	static const char *const silent[] = {"Z", NULL};
	tls_answer_case(greeter, 2000, SMTP_CLIENT_TLS_ANSWER_NOT_TLS, "220 mx.test ESMTP ready", SMTP_CLIENT_ERR_TLS);
	tls_answer_case(http, 2000, SMTP_CLIENT_TLS_ANSWER_NOT_TLS, "HTTP/1.1 400 Bad Request", SMTP_CLIENT_ERR_TLS);
	tls_answer_case(silent, 300, SMTP_CLIENT_TLS_ANSWER_NONE, "", SMTP_CLIENT_ERR_TIMEOUT);
}

static void test_names(void **state)
{
	enum smtp_tls_mode m;
	enum smtp_stage s;
	assert_int_equal(smtp_tls_mode_parse("STARTTLS", &m), 0);
	assert_int_equal(m, SMTP_TLS_STARTTLS);
	assert_int_equal(smtp_tls_mode_parse("ssl", &m), -1);
	assert_int_equal(smtp_stage_parse("rcpt", &s), 0);
	assert_int_equal(s, SMTP_STAGE_RCPT);
	assert_int_equal(smtp_stage_parse("quit", &s), -1);
	assert_string_equal(smtp_stage_name(SMTP_STAGE_DATA), "data");
	assert_string_equal(smtp_client_dir_mark(SMTP_DIR_RECV_TLS), "<~");
	assert_string_equal(smtp_client_dir_mark(SMTP_DIR_NOTE), "**");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_full_conversation_and_dot_stuffing),
	        cmocka_unit_test(test_helo_fallback_and_no_starttls),
	        cmocka_unit_test(test_malformed_silent_and_closed),
	        cmocka_unit_test(test_recipients_partly_refused),
	        cmocka_unit_test(test_auth_exchanges),
	        cmocka_unit_test(test_raw_write_and_pipelined_replies),
	        cmocka_unit_test(test_bytes_behind_starttls_discarded),
	        cmocka_unit_test(test_connect_refused_and_free_in_callback),
	        cmocka_unit_test(test_tls_answer),
	        cmocka_unit_test(test_names),
	};
	signal(SIGPIPE, SIG_IGN); /* as every mailscope command does: a peer that hung up is an error, not a signal */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
