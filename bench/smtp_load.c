/*
 * smtp_load: a small SMTP load client for bench/ingest, because Postfix's
 * smtp-source cannot speak TLS. It does what smtp-source does without -d:
 * `sessions` connections in parallel, each delivers one message and QUITs,
 * until `messages` messages have been tried; then one line of results.
 *
 * Promises: one libevent loop, no pipelining (every command waits for its
 * reply, as smtp-source does, so that both measure the same thing), every TLS
 * connection pays a full handshake (one SSL_CTX, no session cache, no
 * resumption), and the server is verified against --cafile unless --insecure.
 * Every failure (refused connection, TLS failure, unexpected reply, early
 * close, timeout) counts as one error and the first one is printed with the
 * server's reply text. A failed message is not retried, so a run always ends.
 *
 * Memory: the sessions are allocated once; per message only libevent and
 * OpenSSL allocate (bufferevents, evbuffer chains, the SSL object).
 *
 * Not a test of the server's correctness, and not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SMTP_LOAD_DEFAULT_SESSIONS   1
#define SMTP_LOAD_DEFAULT_MESSAGES   1
#define SMTP_LOAD_DEFAULT_LENGTH     1024
#define SMTP_LOAD_DEFAULT_EHLO       "smtp-load.invalid"
#define SMTP_LOAD_DEFAULT_FROM       "smtp-load@example.com"
#define SMTP_LOAD_DEFAULT_TO         "sink@example.com"
#define SMTP_LOAD_DEFAULT_SERVERNAME "localhost" /* the name mailscope's generated certificate carries */
#define SMTP_LOAD_DEFAULT_TIMEOUT    30          /* seconds without progress before a connection counts as failed */
#define SMTP_LOAD_SUBJECT            "smtp-load test message"
#define SMTP_LOAD_HEADER_FORMAT      "From: <%s>\r\nTo: <%s>\r\nSubject: %s%s\r\nDate: %s\r\n"
#define SMTP_LOAD_COMMAND_MAX        512  /* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_LOAD_REPLY_LINE_MAX     4096 /* a longer reply line is an error (RFC 5321 allows 512) */
#define SMTP_LOAD_REPLY_TEXT_MAX     512  /* reply text kept for the error report */
#define SMTP_LOAD_ERROR_MAX          1024 /* the first error, as printed */
#define SMTP_LOAD_BODY_LINE_OCTETS   78   /* body line length including its CRLF (RFC 5322 2.1.1) */
/* Messages up to this size are copied into one buffer chain (one write, one TLS record); larger bodies are
 * referenced, not copied, so that a session holds no copy of a big message. */
#define SMTP_LOAD_COPY_MAX 16384

enum smtp_load_mode {
	SMTP_LOAD_PLAIN,
	SMTP_LOAD_STARTTLS,
	SMTP_LOAD_IMPLICIT,
};

struct smtp_load_options {
	int sessions;
	int messages;
	int length;
	enum smtp_load_mode mode;
	const char *ehlo;
	const char *from;
	const char *to;
	const char *auth; /* user:pass, or NULL */
	const char *cafile;
	int insecure;
	const char *servername;
	int timeout;
	const char *target; /* host:port */
};

/*
 * One connection's progress: the step names what we wait for. Every step
 * that waits for a reply has the code that lets it move on; the connection
 * steps have none.
 */
enum smtp_load_step {
	SMTP_LOAD_CONNECT,
	SMTP_LOAD_HANDSHAKE,
	SMTP_LOAD_GREETING,
	SMTP_LOAD_EHLO,
	SMTP_LOAD_STARTTLS_REPLY,
	SMTP_LOAD_AUTH,
	SMTP_LOAD_MAIL,
	SMTP_LOAD_RCPT,
	SMTP_LOAD_DATA,
	SMTP_LOAD_DOT,
	SMTP_LOAD_QUIT,
};

static const struct smtp_load_step_row {
	const char *waiting; /* for error text: "... while waiting for %s", or "%s: ..." */
	int expect;          /* the code that moves on; 250 also takes any other 2yz */
} smtp_load_steps[] = {
        [SMTP_LOAD_CONNECT] = {"connect", 0},
        [SMTP_LOAD_HANDSHAKE] = {"TLS handshake", 0},
        [SMTP_LOAD_GREETING] = {"the greeting", 220},
        [SMTP_LOAD_EHLO] = {"the reply to EHLO", 250},
        [SMTP_LOAD_STARTTLS_REPLY] = {"the reply to STARTTLS", 220},
        [SMTP_LOAD_AUTH] = {"the reply to AUTH PLAIN", 235},
        [SMTP_LOAD_MAIL] = {"the reply to MAIL FROM", 250},
        [SMTP_LOAD_RCPT] = {"the reply to RCPT TO", 250},
        [SMTP_LOAD_DATA] = {"the reply to DATA", 354},
        [SMTP_LOAD_DOT] = {"the reply to the end of data", 250},
        [SMTP_LOAD_QUIT] = {"the reply to QUIT", 221},
};

struct smtp_load;

struct smtp_load_session {
	struct smtp_load *ctx;
	struct bufferevent *bev;
	evutil_socket_t fd;    /* ours while the bufferevent is plaintext; -1 once an OpenSSL bufferevent owns it */
	SSL *ssl;              /* owned by the OpenSSL bufferevent */
	struct event *next_ev; /* starts the next connection from the loop after a failure inside start */
	enum smtp_load_step step;
	unsigned seq; /* which message this connection delivers, from 1 */
	int tls;      /* handshake finished */
	int code;     /* code of the reply being read; 0 between replies */
	size_t reply_len;
	char reply[SMTP_LOAD_REPLY_TEXT_MAX];
};

struct smtp_load {
	struct smtp_load_options opt;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct sockaddr_storage addr;
	int addrlen;
	const struct timeval *timeout;

	/* What every connection sends, prepared once. */
	char ehlo_cmd[SMTP_LOAD_COMMAND_MAX + 1];
	char mail_cmd[SMTP_LOAD_COMMAND_MAX + 1];
	char rcpt_cmd[SMTP_LOAD_COMMAND_MAX + 1];
	char *auth_cmd;
	char *header; /* From, To, Subject, Date */
	size_t header_len;
	char msgid_suffix[128]; /* Message-ID: <SEQ.suffix>; the same width for every message of a run */
	size_t msgid_len;
	char *body; /* empty line, body lines, ".\r\n" */
	size_t body_len;

	unsigned started, finished, accepted, errors, connections, handshakes, resumed;
	struct timespec t0, t1;
	const char *tls_version, *tls_cipher; /* of the first handshake; static strings in libssl */
	char first_error[SMTP_LOAD_ERROR_MAX];
	struct smtp_load_session *sessions;
};

static int smtp_load_session_start(struct smtp_load_session *s);

/* ---- setup ---- */

static void smtp_load_usage(FILE *f)
{
	fprintf(f,
	        "usage: smtp-load [-s sessions] [-m messages] [-l length] [--mode plain|starttls|implicit]\n"
	        "                 [--ehlo name] [--from a] [--to b] [--auth user:pass]\n"
	        "                 [--cafile f | --insecure] [--servername name] [--timeout seconds] host:port\n"
	        "  -s N             connections in parallel (default %d)\n"
	        "  -m N             messages to send, one per connection (default %d)\n"
	        "  -l N             message size in bytes, headers included (default %d)\n"
	        "  --mode M         plain (default), starttls, or implicit (TLS from the first byte)\n"
	        "  --auth U:P       AUTH PLAIN with an initial response after EHLO\n"
	        "  --cafile F       verify the server's certificate against F (default: system CAs)\n"
	        "  --insecure       do not verify the server's certificate\n"
	        "  --servername N   SNI and the name the certificate must carry (default %s)\n"
	        "  --timeout S      a connection that makes no progress for S seconds fails (default %d)\n"
	        "Every TLS connection makes a full handshake: sessions are never resumed.\n",
	        SMTP_LOAD_DEFAULT_SESSIONS, SMTP_LOAD_DEFAULT_MESSAGES, SMTP_LOAD_DEFAULT_LENGTH,
	        SMTP_LOAD_DEFAULT_SERVERNAME, SMTP_LOAD_DEFAULT_TIMEOUT);
}

static int smtp_load_parse_count(const char *name, const char *s, int min, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > INT_MAX) {
		fprintf(stderr, "smtp-load: %s must be a whole number from %d to %d, not '%s'\n", name, min, INT_MAX,
		        s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Text that goes into a command or header line must not end that line early. */
static int smtp_load_check_text(const char *name, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "smtp-load: %s contains a control character; give it without CR, LF or NUL\n",
			        name);
			return -1;
		}
	}
	return 0;
}

static int smtp_load_parse_options(struct smtp_load_options *o, int argc, char **argv)
{
	enum {
		OPT_MODE = 256,
		OPT_EHLO,
		OPT_FROM,
		OPT_TO,
		OPT_AUTH,
		OPT_CAFILE,
		OPT_INSECURE,
		OPT_SERVERNAME,
		OPT_TIMEOUT
	};
	static const struct option longopts[] = {
	        {"mode", required_argument, NULL, OPT_MODE},
	        {"ehlo", required_argument, NULL, OPT_EHLO},
	        {"from", required_argument, NULL, OPT_FROM},
	        {"to", required_argument, NULL, OPT_TO},
	        {"auth", required_argument, NULL, OPT_AUTH},
	        {"cafile", required_argument, NULL, OPT_CAFILE},
	        {"insecure", no_argument, NULL, OPT_INSECURE},
	        {"servername", required_argument, NULL, OPT_SERVERNAME},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};

	*o = (struct smtp_load_options){
	        .sessions = SMTP_LOAD_DEFAULT_SESSIONS,
	        .messages = SMTP_LOAD_DEFAULT_MESSAGES,
	        .length = SMTP_LOAD_DEFAULT_LENGTH,
	        .mode = SMTP_LOAD_PLAIN,
	        .ehlo = SMTP_LOAD_DEFAULT_EHLO,
	        .from = SMTP_LOAD_DEFAULT_FROM,
	        .to = SMTP_LOAD_DEFAULT_TO,
	        .servername = SMTP_LOAD_DEFAULT_SERVERNAME,
	        .timeout = SMTP_LOAD_DEFAULT_TIMEOUT,
	};
	int c;
	while ((c = getopt_long(argc, argv, "s:m:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (smtp_load_parse_count("-s", optarg, 1, &o->sessions) < 0)
				return -1;
			break;
		case 'm':
			if (smtp_load_parse_count("-m", optarg, 1, &o->messages) < 0)
				return -1;
			break;
		case 'l':
			if (smtp_load_parse_count("-l", optarg, 0, &o->length) < 0)
				return -1;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "plain") == 0) {
				o->mode = SMTP_LOAD_PLAIN;
			} else if (strcmp(optarg, "starttls") == 0) {
				o->mode = SMTP_LOAD_STARTTLS;
			} else if (strcmp(optarg, "implicit") == 0) {
				o->mode = SMTP_LOAD_IMPLICIT;
			} else {
				fprintf(stderr, "smtp-load: --mode is plain, starttls or implicit, not '%s'\n", optarg);
				return -1;
			}
			break;
		case OPT_EHLO:
			o->ehlo = optarg;
			break;
		case OPT_FROM:
			o->from = optarg;
			break;
		case OPT_TO:
			o->to = optarg;
			break;
		case OPT_AUTH:
			if (strchr(optarg, ':') == NULL) {
				fprintf(stderr, "smtp-load: --auth takes user:password\n");
				return -1;
			}
			o->auth = optarg;
			break;
		case OPT_CAFILE:
			o->cafile = optarg;
			break;
		case OPT_INSECURE:
			o->insecure = 1;
			break;
		case OPT_SERVERNAME:
			o->servername = optarg;
			break;
		case OPT_TIMEOUT:
			if (smtp_load_parse_count("--timeout", optarg, 1, &o->timeout) < 0)
				return -1;
			break;
		case 'h':
			smtp_load_usage(stdout);
			exit(0);
		default:
			smtp_load_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		smtp_load_usage(stderr);
		return -1;
	}
	o->target = argv[optind];
	if (o->cafile && o->insecure) {
		fprintf(stderr, "smtp-load: --cafile and --insecure exclude each other: verify, or do not\n");
		return -1;
	}
	if (smtp_load_check_text("--ehlo", o->ehlo) < 0 || smtp_load_check_text("--from", o->from) < 0 ||
	    smtp_load_check_text("--to", o->to) < 0 || smtp_load_check_text("--servername", o->servername) < 0 ||
	    (o->auth && smtp_load_check_text("--auth", o->auth) < 0))
		return -1;
	if (o->sessions > o->messages)
		o->sessions = o->messages;
	return 0;
}

/* host:port, [v6]:port, or name:port (resolved once; the first address is used). */
static int smtp_load_resolve(struct smtp_load *ctx)
{
	const char *target = ctx->opt.target;
	ctx->addrlen = (int)sizeof ctx->addr;
	if (evutil_parse_sockaddr_port(target, (struct sockaddr *)&ctx->addr, &ctx->addrlen) == 0)
		return 0;

	const char *colon = strrchr(target, ':');
	if (colon == NULL || colon == target || colon[1] == '\0') {
		fprintf(stderr, "smtp-load: '%s' is not host:port\n", target);
		return -1;
	}
	char host[256];
	size_t n = (size_t)(colon - target);
	if (n >= sizeof host) {
		fprintf(stderr, "smtp-load: host name in '%s' is too long\n", target);
		return -1;
	}
	memcpy(host, target, n);
	host[n] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "smtp-load: cannot resolve '%s': %s\n", target, gai_strerror(rc));
		return -1;
	}
	memcpy(&ctx->addr, res->ai_addr, res->ai_addrlen);
	ctx->addrlen = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* out = verb arg close CRLF, checked against the command line limit. */
static int smtp_load_format_command(char *out, const char *name, const char *verb, const char *arg, const char *close)
{
	int n = snprintf(out, SMTP_LOAD_COMMAND_MAX + 1, "%s%s%s\r\n", verb, arg, close);
	if (n < 0 || n > SMTP_LOAD_COMMAND_MAX) {
		fprintf(stderr, "smtp-load: %s makes a command longer than %d octets\n", name, SMTP_LOAD_COMMAND_MAX);
		return -1;
	}
	return 0;
}

/* AUTH PLAIN with an initial response (RFC 4954, RFC 4616): base64 of "\0user\0password". */
static void smtp_load_build_auth(struct smtp_load *ctx)
{
	const char *a = ctx->opt.auth;
	size_t userlen = (size_t)(strchr(a, ':') - a);
	size_t passlen = strlen(a) - userlen - 1;
	size_t rawlen = userlen + passlen + 2;
	unsigned char *raw = malloc(rawlen);
	size_t b64cap = 4 * ((rawlen + 2) / 3) + 1;
	ctx->auth_cmd = malloc(b64cap + sizeof "AUTH PLAIN \r\n");
	if (raw == NULL || ctx->auth_cmd == NULL) {
		fprintf(stderr, "smtp-load: out of memory\n");
		exit(2);
	}
	raw[0] = '\0';
	memcpy(raw + 1, a, userlen);
	raw[1 + userlen] = '\0';
	memcpy(raw + 2 + userlen, a + userlen + 1, passlen);
	strcpy(ctx->auth_cmd, "AUTH PLAIN ");
	int n = EVP_EncodeBlock((unsigned char *)ctx->auth_cmd + strlen("AUTH PLAIN "), raw, (int)rawlen);
	strcpy(ctx->auth_cmd + strlen("AUTH PLAIN ") + n, "\r\n");
	OPENSSL_cleanse(raw, rawlen);
	free(raw);
}

/*
 * The message is `length` bytes with its headers (smtp-source's -l counts
 * only the payload): From, To, Subject, Date, Message-ID, an empty line, then
 * lines of 'X' of at most 78 octets with their CRLF. Only the Message-ID
 * differs between messages and its width is fixed, so the body is built once.
 * Headers longer than `length` make a message of the headers alone.
 */
static int smtp_load_build_message(struct smtp_load *ctx)
{
	const struct smtp_load_options *o = &ctx->opt;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(ctx->msgid_suffix, sizeof ctx->msgid_suffix, "%lld.%ld@%.60s", (long long)now, (long)getpid(),
	         o->ehlo);
	ctx->msgid_len = strlen("Message-ID: <") + 10 + 1 + strlen(ctx->msgid_suffix) + strlen(">\r\n");

	int n = snprintf(NULL, 0, SMTP_LOAD_HEADER_FORMAT, o->from, o->to, SMTP_LOAD_SUBJECT, "", date);
	long rest = (long)o->length - n - (long)ctx->msgid_len - 2; /* octets left for body lines */
	/* One octet cannot be a line of its own: it goes into the Subject instead. */
	const char *pad = "";
	if (rest == 1) {
		pad = ".";
		n++;
		rest = 0;
	}
	if (rest < 0)
		rest = 0;
	ctx->header_len = (size_t)n;
	ctx->header = malloc((size_t)n + 1);
	ctx->body_len = 2 + (size_t)rest + 3;
	ctx->body = malloc(ctx->body_len);
	if (ctx->header == NULL || ctx->body == NULL) {
		fprintf(stderr, "smtp-load: out of memory for a %d-byte message\n", o->length);
		return -1;
	}
	snprintf(ctx->header, (size_t)n + 1, SMTP_LOAD_HEADER_FORMAT, o->from, o->to, SMTP_LOAD_SUBJECT, pad, date);

	/* rest octets in ceil(rest / 78) lines of nearly equal length: each at least 2 octets (its CRLF). */
	char *p = ctx->body;
	*p++ = '\r';
	*p++ = '\n';
	long lines = (rest + SMTP_LOAD_BODY_LINE_OCTETS - 1) / SMTP_LOAD_BODY_LINE_OCTETS;
	for (long i = 0; i < lines; i++) {
		long len = rest / lines + (i < rest % lines ? 1 : 0);
		memset(p, 'X', (size_t)len - 2);
		p += len - 2;
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, ".\r\n", 3);
	return 0;
}

static int smtp_load_tls_setup(struct smtp_load *ctx)
{
	const struct smtp_load_options *o = &ctx->opt;
	ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ctx->ssl_ctx == NULL) {
		fprintf(stderr, "smtp-load: cannot create a TLS context\n");
		return -1;
	}
	/* Every connection is a new client with no memory of the last one: a full handshake each time. */
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	if (o->insecure) {
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	int ok = o->cafile ? SSL_CTX_load_verify_locations(ctx->ssl_ctx, o->cafile, NULL)
	                   : SSL_CTX_set_default_verify_paths(ctx->ssl_ctx);
	if (!ok) {
		char text[256];
		ERR_error_string_n(ERR_get_error(), text, sizeof text);
		fprintf(stderr, "smtp-load: cannot load CA certificates%s%s: %s\n", o->cafile ? " from " : "",
		        o->cafile ? o->cafile : "", text);
		return -1;
	}
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

/* ---- one connection ---- */

static double smtp_load_seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* The slot is free again: count it, then start the next message or end the run. */
static void smtp_load_session_next(struct smtp_load_session *s)
{
	struct smtp_load *ctx = s->ctx;
	ctx->finished++;
	if (ctx->finished == (unsigned)ctx->opt.messages) {
		clock_gettime(CLOCK_MONOTONIC, &ctx->t1);
		event_base_loopbreak(ctx->base);
		return;
	}
	if (ctx->started < (unsigned)ctx->opt.messages)
		smtp_load_session_start(s);
}

static void smtp_load_session_next_cb(evutil_socket_t fd, short what, void *arg)
{
	smtp_load_session_next(arg);
}

/* Frees the connection. A clean end says goodbye in TLS too (close_notify, RFC 8446 6.1). */
static void smtp_load_session_close(struct smtp_load_session *s, int clean)
{
	if (s->bev) {
		if (clean && s->ssl && s->tls)
			SSL_shutdown(s->ssl);
		bufferevent_free(s->bev); /* an OpenSSL bufferevent also frees its SSL and closes its socket */
		s->bev = NULL;
		s->ssl = NULL;
	}
	if (s->fd >= 0) {
		evutil_closesocket(s->fd);
		s->fd = -1;
	}
}

/*
 * Counts one error, keeps the first one's text, and ends the connection.
 * Returns -1 so that callers can `return smtp_load_session_fail(...)`.
 * With defer set, the next connection starts from the loop, not from here
 * (the failure happened inside smtp_load_session_start).
 */
static int smtp_load_session_fail_v(struct smtp_load_session *s, int defer, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

static int smtp_load_session_fail_v(struct smtp_load_session *s, int defer, const char *fmt, va_list ap)
{
	struct smtp_load *ctx = s->ctx;
	ctx->errors++;
	if (ctx->errors == 1) {
		int n = snprintf(ctx->first_error, sizeof ctx->first_error, "%s, message %u: ", ctx->opt.target,
		                 s->seq);
		if (n > 0 && (size_t)n < sizeof ctx->first_error)
			vsnprintf(ctx->first_error + n, sizeof ctx->first_error - (size_t)n, fmt, ap);
	}
	smtp_load_session_close(s, 0);
	if (defer)
		event_active(s->next_ev, EV_TIMEOUT, 0);
	else
		smtp_load_session_next(s);
	return -1;
}

static int smtp_load_session_fail(struct smtp_load_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static int smtp_load_session_fail_deferred(struct smtp_load_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int smtp_load_session_fail(struct smtp_load_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = smtp_load_session_fail_v(s, 0, fmt, ap);
	va_end(ap);
	return r;
}

static int smtp_load_session_fail_deferred(struct smtp_load_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = smtp_load_session_fail_v(s, 1, fmt, ap);
	va_end(ap);
	return r;
}

/* Sends one command and waits for its reply in the given step. */
static int smtp_load_session_send(struct smtp_load_session *s, enum smtp_load_step step, const char *cmd)
{
	s->step = step;
	s->code = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
	bufferevent_write(s->bev, cmd, strlen(cmd));
	return 0;
}

/* The message, then the end-of-data dot: copied into one chain when small, the body referenced when large. */
static int smtp_load_session_send_message(struct smtp_load_session *s)
{
	struct smtp_load *ctx = s->ctx;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char msgid[sizeof ctx->msgid_suffix + 32];
	snprintf(msgid, sizeof msgid, "Message-ID: <%010u.%s>\r\n", s->seq, ctx->msgid_suffix);
	size_t total = ctx->header_len + ctx->msgid_len + ctx->body_len;

	s->step = SMTP_LOAD_DOT;
	s->code = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
	if (total <= SMTP_LOAD_COPY_MAX) {
		evbuffer_expand(out, total);
		evbuffer_add(out, ctx->header, ctx->header_len);
		evbuffer_add(out, msgid, ctx->msgid_len);
		evbuffer_add(out, ctx->body, ctx->body_len);
	} else {
		evbuffer_add(out, ctx->header, ctx->header_len);
		evbuffer_add(out, msgid, ctx->msgid_len);
		evbuffer_add_reference(out, ctx->body, ctx->body_len, NULL, NULL);
	}
	return 0;
}

/* After EHLO (the one inside TLS when there is STARTTLS): AUTH if asked for, then the transaction. */
static int smtp_load_session_begin(struct smtp_load_session *s)
{
	struct smtp_load *ctx = s->ctx;
	if (ctx->auth_cmd)
		return smtp_load_session_send(s, SMTP_LOAD_AUTH, ctx->auth_cmd);
	return smtp_load_session_send(s, SMTP_LOAD_MAIL, ctx->mail_cmd);
}

static void smtp_load_session_read(struct bufferevent *bev, void *arg);
static void smtp_load_session_event(struct bufferevent *bev, short what, void *arg);

/*
 * Hands the connected socket to OpenSSL. The plaintext bufferevent goes
 * first, without closing the socket; from here the OpenSSL bufferevent owns
 * the socket and the SSL. Returns -1: the caller must not touch the old
 * bufferevent again.
 */
static int smtp_load_session_start_tls(struct smtp_load_session *s)
{
	struct smtp_load *ctx = s->ctx;
	bufferevent_free(s->bev);
	s->bev = NULL;
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	if (ssl == NULL)
		return smtp_load_session_fail(s, "cannot create a TLS connection");
	SSL_set_tlsext_host_name(ssl, ctx->opt.servername);
	if (!ctx->opt.insecure)
		SSL_set1_host(ssl, ctx->opt.servername);
	s->bev = bufferevent_openssl_socket_new(ctx->base, s->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		return smtp_load_session_fail(s, "cannot start TLS");
	}
	s->fd = -1;
	s->ssl = ssl;
	s->step = SMTP_LOAD_HANDSHAKE;
	s->code = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1); /* an early close is an EOF, not a TLS error */
	bufferevent_setcb(s->bev, smtp_load_session_read, NULL, smtp_load_session_event, s);
	bufferevent_set_timeouts(s->bev, ctx->timeout, ctx->timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return -1;
}

static int smtp_load_reply_ok(int code, int expect)
{
	return code == expect || (expect == 250 && code / 100 == 2);
}

/*
 * A complete reply arrived for the current step: check it and send what
 * comes next. Returns 0 when the connection goes on reading the same
 * bufferevent, -1 when it was closed or replaced.
 */
static int smtp_load_session_reply(struct smtp_load_session *s, struct evbuffer *in)
{
	struct smtp_load *ctx = s->ctx;
	const struct smtp_load_step_row *row = &smtp_load_steps[s->step];
	if (!smtp_load_reply_ok(s->code, row->expect))
		return smtp_load_session_fail(s, "unexpected reply while waiting for %s: %s", row->waiting, s->reply);

	switch (s->step) {
	case SMTP_LOAD_GREETING:
		return smtp_load_session_send(s, SMTP_LOAD_EHLO, ctx->ehlo_cmd);
	case SMTP_LOAD_EHLO:
		if (ctx->opt.mode == SMTP_LOAD_STARTTLS && !s->tls)
			return smtp_load_session_send(s, SMTP_LOAD_STARTTLS_REPLY, "STARTTLS\r\n");
		return smtp_load_session_begin(s);
	case SMTP_LOAD_STARTTLS_REPLY:
		/* Plaintext behind the 220 would be replies injected before TLS (the client's side of
		 * CVE-2011-0411): an error, not something to read after the handshake or to drop silently. */
		if (evbuffer_get_length(in) > 0)
			return smtp_load_session_fail(s, "server sent %zu bytes after its 220 to STARTTLS",
			                              evbuffer_get_length(in));
		return smtp_load_session_start_tls(s);
	case SMTP_LOAD_AUTH:
		return smtp_load_session_send(s, SMTP_LOAD_MAIL, ctx->mail_cmd);
	case SMTP_LOAD_MAIL:
		return smtp_load_session_send(s, SMTP_LOAD_RCPT, ctx->rcpt_cmd);
	case SMTP_LOAD_RCPT:
		return smtp_load_session_send(s, SMTP_LOAD_DATA, "DATA\r\n");
	case SMTP_LOAD_DATA:
		return smtp_load_session_send_message(s);
	case SMTP_LOAD_DOT:
		ctx->accepted++;
		return smtp_load_session_send(s, SMTP_LOAD_QUIT, "QUIT\r\n");
	case SMTP_LOAD_QUIT:
		smtp_load_session_close(s, 1);
		smtp_load_session_next(s);
		return -1;
	case SMTP_LOAD_CONNECT:
	case SMTP_LOAD_HANDSHAKE:
		break;
	}
	return smtp_load_session_fail(s, "server sent a reply before it was asked: %s", s->reply);
}

/* Keeps the reply's text for the error report, lines joined by " / ", cut at SMTP_LOAD_REPLY_TEXT_MAX. */
static void smtp_load_session_keep(struct smtp_load_session *s, struct evbuffer *in, size_t n)
{
	size_t room = sizeof s->reply - 1 - s->reply_len;
	if (s->reply_len > 0 && room >= 3) {
		memcpy(s->reply + s->reply_len, " / ", 3);
		s->reply_len += 3;
		room -= 3;
	}
	if (n > room)
		n = room;
	evbuffer_copyout(in, s->reply + s->reply_len, n);
	s->reply_len += n;
	s->reply[s->reply_len] = '\0';
}

/* Reads reply lines: "NNN-text" continues a reply, "NNN text" or "NNN" ends it (RFC 5321 4.2.1). */
static void smtp_load_session_read(struct bufferevent *bev, void *arg)
{
	struct smtp_load_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > SMTP_LOAD_REPLY_LINE_MAX) {
				smtp_load_session_fail(s, "reply line longer than %d octets while waiting for %s",
				                       SMTP_LOAD_REPLY_LINE_MAX, smtp_load_steps[s->step].waiting);
			}
			return;
		}
		size_t n = (size_t)eol.pos;
		unsigned char head[4] = {0};
		evbuffer_copyout(in, head, n < 4 ? n : 4);
		smtp_load_session_keep(s, in, n);
		evbuffer_drain(in, n + eol_len);

		if (n < 3 || head[0] < '2' || head[0] > '5' || head[1] < '0' || head[1] > '9' || head[2] < '0' ||
		    head[2] > '9' || (n > 3 && head[3] != ' ' && head[3] != '-')) {
			smtp_load_session_fail(s, "malformed reply while waiting for %s: %s",
			                       smtp_load_steps[s->step].waiting, s->reply);
			return;
		}
		int code = (head[0] - '0') * 100 + (head[1] - '0') * 10 + (head[2] - '0');
		if (s->code != 0 && code != s->code) {
			smtp_load_session_fail(s, "reply lines with different codes while waiting for %s: %s",
			                       smtp_load_steps[s->step].waiting, s->reply);
			return;
		}
		s->code = code;
		if (n > 3 && head[3] == '-')
			continue;
		if (smtp_load_session_reply(s, in) < 0)
			return;
	}
}

/* Why a connection failed, in words: the OpenSSL errors of this bufferevent, else the socket's errno. */
static void smtp_load_session_describe_error(struct smtp_load_session *s, int err, char *out, size_t outlen)
{
	size_t len = 0;
	out[0] = '\0';
	if (s->ssl) {
		unsigned long e;
		while ((e = bufferevent_get_openssl_error(s->bev)) != 0 && len + 3 < outlen) {
			/* libevent also queues SSL_get_error()'s result, which is no OpenSSL error code: skip it. */
			if (ERR_GET_LIB(e) == 0)
				continue;
			if (len > 0) {
				memcpy(out + len, "; ", 2);
				len += 2;
			}
			ERR_error_string_n(e, out + len, outlen - len);
			len += strlen(out + len);
		}
		long v = SSL_get_verify_result(s->ssl);
		if (v != X509_V_OK && len + 1 < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%scertificate: %s", len ? "; " : "",
			                        X509_verify_cert_error_string(v));
		ERR_clear_error();
	}
	if (len == 0)
		snprintf(out, outlen, "%s", err ? evutil_socket_error_to_string(err) : "connection failed");
}

static void smtp_load_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_load_session *s = arg;
	struct smtp_load *ctx = s->ctx;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (s->step == SMTP_LOAD_CONNECT) {
			ctx->connections++;
			if (ctx->opt.mode == SMTP_LOAD_IMPLICIT) {
				smtp_load_session_start_tls(s);
				return;
			}
			s->step = SMTP_LOAD_GREETING;
			bufferevent_enable(bev, EV_READ);
			return;
		}
		/* The TLS handshake finished. */
		s->tls = 1;
		ctx->handshakes++;
		if (SSL_session_reused(s->ssl))
			ctx->resumed++;
		if (ctx->tls_version == NULL) {
			ctx->tls_version = SSL_get_version(s->ssl);
			ctx->tls_cipher = SSL_get_cipher_name(s->ssl);
		}
		if (ctx->opt.mode == SMTP_LOAD_IMPLICIT)
			s->step = SMTP_LOAD_GREETING;
		else
			smtp_load_session_send(s, SMTP_LOAD_EHLO, ctx->ehlo_cmd);
		return;
	}

	/* The connection steps name themselves; the others say which reply did not come. */
	const char *waiting = smtp_load_steps[s->step].waiting;
	char why[SMTP_LOAD_ERROR_MAX / 2];
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "no progress for %d s", ctx->opt.timeout);
	else if (what & BEV_EVENT_EOF) {
		struct evbuffer *in = bufferevent_get_input(bev);
		snprintf(why, sizeof why, "server closed the connection%s",
		         evbuffer_get_length(in) ? " in the middle of a line" : "");
		smtp_load_session_keep(s, in, evbuffer_get_length(in));
	} else
		smtp_load_session_describe_error(s, err, why, sizeof why);
	if (s->step <= SMTP_LOAD_HANDSHAKE)
		smtp_load_session_fail(s, "%s: %s", waiting, why);
	else
		smtp_load_session_fail(s, "%s while waiting for %s%s%s", why, waiting,
		                       s->reply_len ? "; reply so far: " : "", s->reply);
}

/* Opens a connection for the next message. */
static int smtp_load_session_start(struct smtp_load_session *s)
{
	struct smtp_load *ctx = s->ctx;
	s->seq = ++ctx->started;
	s->step = SMTP_LOAD_CONNECT;
	s->tls = 0;
	s->code = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
	s->ssl = NULL;

	s->fd = socket(ctx->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return smtp_load_session_fail_deferred(s, "socket: %s", strerror(errno));
	/* No BEV_OPT_CLOSE_ON_FREE: for STARTTLS and implicit TLS the socket outlives this bufferevent. */
	s->bev = bufferevent_socket_new(ctx->base, s->fd, 0);
	if (s->bev == NULL)
		return smtp_load_session_fail_deferred(s, "cannot create a bufferevent");
	bufferevent_setcb(s->bev, smtp_load_session_read, NULL, smtp_load_session_event, s);
	bufferevent_set_timeouts(s->bev, ctx->timeout, ctx->timeout);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ctx->addr, ctx->addrlen) < 0)
		return smtp_load_session_fail_deferred(s, "connect: %s",
		                                       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	return 0;
}

/* ---- the run ---- */

static const char *smtp_load_mode_name(enum smtp_load_mode m)
{
	switch (m) {
	case SMTP_LOAD_STARTTLS:
		return "STARTTLS";
	case SMTP_LOAD_IMPLICIT:
		return "implicit TLS";
	case SMTP_LOAD_PLAIN:
		break;
	}
	return "plain";
}

static void smtp_load_report(const struct smtp_load *ctx)
{
	const struct smtp_load_options *o = &ctx->opt;
	double secs = smtp_load_seconds(&ctx->t0, &ctx->t1);
	if (secs <= 0)
		secs = 1e-9;
	int tls = o->mode != SMTP_LOAD_PLAIN;
	printf("smtp-load: %u messages in %.3f s: %.0f msg/s, %.0f %s/s, %u errors (%s, %d sessions, %d bytes",
	       ctx->accepted, secs, ctx->accepted / secs, (tls ? ctx->handshakes : ctx->connections) / secs,
	       tls ? "handshakes" : "connections", ctx->errors, smtp_load_mode_name(o->mode), o->sessions, o->length);
	if (tls)
		printf(", %s%s%s, %s; a full handshake on every connection, no session resumption (%u resumed)",
		       ctx->tls_version ? ctx->tls_version : "no handshake completed", ctx->tls_cipher ? " " : "",
		       ctx->tls_cipher ? ctx->tls_cipher : "", o->insecure ? "verify off" : "verify on", ctx->resumed);
	printf(")\n");
	fflush(stdout);
	if (ctx->errors)
		fprintf(stderr, "smtp-load: first error: %s\n", ctx->first_error);
}

static int smtp_load_prepare(struct smtp_load *ctx)
{
	const struct smtp_load_options *o = &ctx->opt;
	if (smtp_load_resolve(ctx) < 0)
		return -1;
	if (smtp_load_format_command(ctx->ehlo_cmd, "--ehlo", "EHLO ", o->ehlo, "") < 0 ||
	    smtp_load_format_command(ctx->mail_cmd, "--from", "MAIL FROM:<", o->from, ">") < 0 ||
	    smtp_load_format_command(ctx->rcpt_cmd, "--to", "RCPT TO:<", o->to, ">") < 0)
		return -1;
	if (o->auth)
		smtp_load_build_auth(ctx);
	if (smtp_load_build_message(ctx) < 0)
		return -1;
	if (o->mode != SMTP_LOAD_PLAIN && smtp_load_tls_setup(ctx) < 0)
		return -1;
	ctx->base = event_base_new();
	if (ctx->base == NULL) {
		fprintf(stderr, "smtp-load: cannot create the event loop\n");
		return -1;
	}
	struct timeval tv = {.tv_sec = o->timeout};
	ctx->timeout = event_base_init_common_timeout(ctx->base, &tv);
	ctx->sessions = calloc((size_t)o->sessions, sizeof *ctx->sessions);
	if (ctx->sessions == NULL) {
		fprintf(stderr, "smtp-load: out of memory for %d sessions\n", o->sessions);
		return -1;
	}
	for (int i = 0; i < o->sessions; i++) {
		struct smtp_load_session *s = &ctx->sessions[i];
		s->ctx = ctx;
		s->fd = -1;
		s->next_ev = event_new(ctx->base, -1, 0, smtp_load_session_next_cb, s);
		if (s->next_ev == NULL) {
			fprintf(stderr, "smtp-load: cannot create an event\n");
			return -1;
		}
	}
	return 0;
}

static void smtp_load_cleanup(struct smtp_load *ctx)
{
	if (ctx->sessions) {
		for (int i = 0; i < ctx->opt.sessions; i++) {
			smtp_load_session_close(&ctx->sessions[i], 0);
			if (ctx->sessions[i].next_ev)
				event_free(ctx->sessions[i].next_ev);
		}
		free(ctx->sessions);
	}
	if (ctx->base)
		event_base_free(ctx->base);
	if (ctx->ssl_ctx)
		SSL_CTX_free(ctx->ssl_ctx);
	free(ctx->auth_cmd);
	free(ctx->header);
	free(ctx->body);
}

int main(int argc, char **argv)
{
	struct smtp_load ctx = {0};
	if (smtp_load_parse_options(&ctx.opt, argc, argv) < 0)
		return 2;
	/* A server that closes first must not kill us with SIGPIPE: writes fail and are counted instead. */
	signal(SIGPIPE, SIG_IGN);
	if (smtp_load_prepare(&ctx) < 0) {
		smtp_load_cleanup(&ctx);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &ctx.t0);
	for (int i = 0; i < ctx.opt.sessions; i++)
		smtp_load_session_start(&ctx.sessions[i]);
	event_base_dispatch(ctx.base);
	smtp_load_report(&ctx);
	int failed = ctx.errors > 0 || ctx.accepted != (unsigned)ctx.opt.messages;
	smtp_load_cleanup(&ctx);
	return failed ? 1 : 0;
}
