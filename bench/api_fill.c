/*
 * api_fill: fills a mail server with a realistic mix of messages, for
 * bench/api (which then measures listing, search and wait-for on the store).
 * smtp-load sends one fixed message; a query benchmark needs mail that looks
 * like what an application under test sends.
 *
 * The mix (weights in api_fill_kinds): invoices (a quarter of them with a
 * PDF attachment; half say "paid"), password resets (text + HTML, a reset
 * link), one-time codes ("Your code is 123456"), shipping notices with a
 * tracking number, welcome mails with a verification link, HTML-only
 * newsletters of random words (1 in 100 mentions "zeppelin", the rare
 * word) and monthly reports with a CSV attachment: about 10 % of messages
 * have an attachment. Recipients are --inboxes addresses user00000@DOMAIN ...
 * drawn from a Zipf distribution (exponent --zipf, default 1: user00000
 * gets about 10 % of all mail, the coldest a few per 100,000); 8 % of
 * messages have a second recipient.
 *
 * Every message is a pure function of (--seed, its number), whatever the
 * order in which sessions send them, so two runs with the same options store
 * the same mail, and the counts printed at the end (one JSON line, for the
 * accepted messages) are what searches over the store must find.
 *
 * Promises: one libevent loop, plain SMTP only; --sessions connections in
 * parallel, each sends up to --per-connection messages (MAIL, RCPT and DATA
 * pipelined as RFC 2920 allows, the message after the 354), then QUITs;
 * any unexpected reply or a timeout counts one error, ends that connection
 * and is not retried (its message is not counted), so a run always ends.
 * Filler words never contain the words the counts are about.
 *
 * Not a test of the server's correctness, and not installed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define API_FILL_REPLY_LINE_MAX 4096
#define API_FILL_REPLY_TEXT_MAX 512
#define API_FILL_ERROR_MAX      1024
#define API_FILL_MAX_RCPTS      2
#define API_FILL_WRAP           72 /* body lines are wrapped after this many octets */

/* ---- the mix ---- */

enum api_fill_kind {
	API_FILL_INVOICE,
	API_FILL_RESET,
	API_FILL_CODE,
	API_FILL_SHIPPING,
	API_FILL_WELCOME,
	API_FILL_NEWSLETTER,
	API_FILL_REPORT,
	API_FILL_NKINDS,
};

static const struct {
	const char *name;
	int weight; /* per 100 */
} api_fill_kinds[API_FILL_NKINDS] = {
        [API_FILL_INVOICE] = {"invoice", 20}, [API_FILL_RESET] = {"password_reset", 15},
        [API_FILL_CODE] = {"code", 20},       [API_FILL_SHIPPING] = {"shipping", 15},
        [API_FILL_WELCOME] = {"welcome", 10}, [API_FILL_NEWSLETTER] = {"newsletter", 15},
        [API_FILL_REPORT] = {"report", 5},
};

/* Filler vocabulary: none of these is a word the counts are about (invoice, paid, password, reset, code,
 * shipped, tracking, zeppelin, verify, attachment ...). */
static const char *const api_fill_words[] = {
        "account",  "action",   "address", "agenda",   "answer",   "april",     "area",     "article",  "autumn",
        "balance",  "basket",   "benefit", "board",    "bonus",    "branch",    "brief",    "budget",   "button",
        "calendar", "campaign", "capital", "career",   "catalog",  "center",    "chapter",  "choice",   "city",
        "client",   "closing",  "coffee",  "colour",   "comment",  "company",   "contract", "corner",   "country",
        "course",   "credit",   "culture", "customer", "daily",    "dashboard", "data",     "decision", "design",
        "desk",     "detail",   "digital", "dinner",   "direct",   "discount",  "draft",    "early",    "economy",
        "edition",  "energy",   "engine",  "event",    "example",  "expert",    "factory",  "feature",  "field",
        "figure",   "final",    "finance", "focus",    "forecast", "format",    "forum",    "friday",   "future",
        "garden",   "gateway",  "global",  "goal",     "group",    "growth",    "guide",    "harbor",   "health",
        "history",  "holiday",  "hotel",   "idea",     "image",    "impact",    "income",   "industry", "insight",
        "island",   "journal",  "journey", "kitchen",  "launch",   "leader",    "lesson",   "letter",   "library",
        "limit",    "local",    "market",  "meeting",  "member",   "method",    "metric",   "minute",   "mobile",
        "model",    "moment",   "monday",  "morning",  "network",  "night",     "notice",   "number",   "object",
        "office",   "online",   "option",  "orange",   "outcome",  "owner",     "package",  "partner",  "people",
        "period",   "picture",  "planet",  "player",   "pocket",   "policy",    "portal",   "premium",  "private",
        "product",  "profile",  "program", "project",  "public",   "quality",   "quarter",  "question", "radio",
        "record",   "region",   "release", "remote",   "request",  "research",  "result",   "review",   "river",
        "roadmap",  "sales",    "sample",  "schedule", "science",  "season",    "second",   "section",  "service",
        "session",  "signal",   "simple",  "single",   "social",   "software",  "source",   "special",  "sport",
        "spring",   "station",  "status",  "storage",  "story",    "strategy",  "street",   "studio",   "summary",
        "summer",   "support",  "survey",  "system",   "table",    "target",    "team",     "theme",    "ticket",
        "today",    "topic",    "total",   "tower",    "training", "travel",    "trend",    "update",   "upgrade",
        "valley",   "value",    "version", "video",    "village",  "vision",    "visitor",  "volume",   "weather",
        "webinar",  "weekend",  "window",  "winter",   "workshop", "world",     "yellow",
};
#define API_FILL_NWORDS (sizeof api_fill_words / sizeof api_fill_words[0])

static const char *const api_fill_names[] = {
        "Alice", "Bob",  "Carla", "David",  "Emma",  "Farid", "Grace", "Hiro", "Ines",  "Jonas",
        "Kofi",  "Lena", "Mateo", "Nadia",  "Omar",  "Priya", "Quinn", "Rosa", "Sven",  "Tariq",
        "Uma",   "Vera", "Wei",   "Ximena", "Yusuf", "Zoe",   "Anna",  "Ben",  "Chloe", "Dmitri",
};
#define API_FILL_NNAMES (sizeof api_fill_names / sizeof api_fill_names[0])

static const char *const api_fill_carriers[] = {"UPS", "DHL", "FedEx", "USPS", "La Poste", "Royal Mail"};
static const char *const api_fill_months[] = {"January", "February", "March",     "April",   "May",      "June",
                                              "July",    "August",   "September", "October", "November", "December"};

/* What the accepted messages contain, for checking search results. */
struct api_fill_stats {
	uint64_t kinds[API_FILL_NKINDS];
	uint64_t with_attachment;
	uint64_t invoice_paid;
	uint64_t rare_word; /* "zeppelin" */
	uint64_t two_recipients;
	uint64_t hot_inbox; /* messages with user00000 among their recipients */
	uint64_t bytes;
};

/* One message, as generated: what to count once it is accepted. */
struct api_fill_facts {
	enum api_fill_kind kind;
	int attachment, paid, rare, nrcpt, hot;
};

/* ---- options and state ---- */

struct api_fill_options {
	int sessions;
	int messages;
	int per_connection;
	int inboxes;
	double zipf;
	uint64_t seed;
	const char *domain;
	int timeout;
	const char *target;
};

enum api_fill_step {
	API_FILL_CONNECT,
	API_FILL_GREETING,
	API_FILL_EHLO,
	API_FILL_ENVELOPE, /* the replies to MAIL, RCPT... and DATA */
	API_FILL_DOT,
	API_FILL_QUIT,
};

static const char *const api_fill_waiting[] = {
        [API_FILL_CONNECT] = "connect",
        [API_FILL_GREETING] = "the greeting",
        [API_FILL_EHLO] = "the reply to EHLO",
        [API_FILL_ENVELOPE] = "the replies to MAIL, RCPT and DATA",
        [API_FILL_DOT] = "the reply to the end of data",
        [API_FILL_QUIT] = "the reply to QUIT",
};

struct api_fill;

struct api_fill_session {
	struct api_fill *ctx;
	struct bufferevent *bev;
	struct event *next_ev;
	enum api_fill_step step;
	int sent_here;    /* messages sent on this connection */
	int replies_left; /* in API_FILL_ENVELOPE: replies still to come (MAIL, each RCPT, DATA) */
	unsigned seq;     /* the message in flight, from 0 */
	struct api_fill_facts facts;
	size_t msg_len;
	char *msg; /* the message in flight, with its end-of-data line */
	size_t msg_cap;
	int code;
	size_t reply_len;
	char reply[API_FILL_REPLY_TEXT_MAX];
};

struct api_fill {
	struct api_fill_options opt;
	struct event_base *base;
	struct event *progress_ev;
	struct sockaddr_storage addr;
	int addrlen;
	const struct timeval *timeout;
	double *cdf; /* Zipf cumulative weights over the inboxes */
	unsigned next_seq, accepted, errors, connections, active;
	unsigned progress_step, progress_next;
	struct api_fill_stats stats;
	struct timespec t0, t1;
	char first_error[API_FILL_ERROR_MAX];
	struct api_fill_session *sessions;
};

/* ---- random numbers: one generator per message, seeded from (seed, number) ---- */

static uint64_t api_fill_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned api_fill_below(uint64_t *s, unsigned n)
{
	return (unsigned)(api_fill_rand(s) % n);
}

static double api_fill_unit(uint64_t *s)
{
	return (double)(api_fill_rand(s) >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int api_fill_chance(uint64_t *s, unsigned percent)
{
	return api_fill_below(s, 100) < percent;
}

static unsigned api_fill_inbox(const struct api_fill *ctx, uint64_t *s)
{
	double u = api_fill_unit(s);
	unsigned lo = 0, hi = (unsigned)ctx->opt.inboxes - 1;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (ctx->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* ---- building a message ---- */

struct api_fill_text {
	char *p;
	size_t len, cap;
	size_t line; /* octets on the current line */
};

static void api_fill_reserve(struct api_fill_text *t, size_t more)
{
	if (t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *p = realloc(t->p, cap);
	if (p == NULL) {
		fprintf(stderr, "api-fill: out of memory\n");
		exit(2);
	}
	t->p = p;
	t->cap = cap;
}

static void api_fill_add(struct api_fill_text *t, const char *s, size_t n)
{
	api_fill_reserve(t, n);
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	for (size_t i = 0; i < n; i++)
		t->line = s[i] == '\n' ? 0 : t->line + 1;
}

static void api_fill_printf(struct api_fill_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void api_fill_printf(struct api_fill_text *t, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	api_fill_add(t, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A word, wrapped onto a new line once the line is long. */
static void api_fill_word(struct api_fill_text *t, const char *w)
{
	if (t->line > 0 && t->line + 1 + strlen(w) > API_FILL_WRAP)
		api_fill_add(t, "\r\n", 2);
	else if (t->line > 0)
		api_fill_add(t, " ", 1);
	api_fill_add(t, w, strlen(w));
}

/* n filler words as sentences; with rare set, one of them is "zeppelin". */
static void api_fill_words_run(struct api_fill_text *t, uint64_t *s, unsigned n, int rare)
{
	unsigned rare_at = rare ? api_fill_below(s, n) : n;
	unsigned sentence = 0;
	char w[64];
	for (unsigned i = 0; i < n; i++) {
		const char *word = i == rare_at ? "zeppelin" : api_fill_words[api_fill_below(s, API_FILL_NWORDS)];
		int end = i + 1 == n || (sentence >= 5 && api_fill_chance(s, 20));
		snprintf(w, sizeof w, "%s%s", word, end ? "." : "");
		if (sentence == 0 && w[0] >= 'a' && w[0] <= 'z')
			w[0] = (char)(w[0] - 'a' + 'A');
		api_fill_word(t, w);
		sentence = end ? 0 : sentence + 1;
	}
}

/* Bytes as base64 lines of 76 characters. */
static void api_fill_base64(struct api_fill_text *t, const unsigned char *raw, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t ll = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		line[ll++] = b64[(v >> 18) & 63];
		line[ll++] = b64[(v >> 12) & 63];
		line[ll++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		line[ll++] = i + 2 < n ? b64[v & 63] : '=';
		if (ll == 76 || i + 3 >= n) {
			api_fill_add(t, line, ll);
			api_fill_add(t, "\r\n", 2);
			ll = 0;
		}
	}
}

/* A fake PDF: its magic, then n pseudo-random bytes in all, in base64. */
static void api_fill_pdf(struct api_fill_text *t, uint64_t *s, size_t n)
{
	static const char head[] = "%PDF-1.4\n";
	unsigned char *raw = malloc(n + sizeof head);
	if (raw == NULL)
		exit(2);
	memcpy(raw, head, sizeof head - 1);
	for (size_t i = sizeof head - 1; i < n; i++)
		raw[i] = (unsigned char)api_fill_rand(s);
	api_fill_base64(t, raw, n);
	free(raw);
}

/* A CSV of `rows` rows, in base64. */
static void api_fill_csv(struct api_fill_text *t, uint64_t *s, unsigned rows)
{
	struct api_fill_text csv = {0};
	api_fill_printf(&csv, "date,metric,value\n");
	for (unsigned i = 0; i < rows; i++)
		api_fill_printf(&csv, "2026-%02u-%02u,%s,%u\n", 1 + api_fill_below(s, 12), 1 + api_fill_below(s, 28),
		                api_fill_words[api_fill_below(s, API_FILL_NWORDS)], api_fill_below(s, 100000));
	api_fill_base64(t, (const unsigned char *)csv.p, csv.len);
	free(csv.p);
}

static enum api_fill_kind api_fill_pick_kind(uint64_t *s)
{
	unsigned r = api_fill_below(s, 100), acc = 0;
	for (int k = 0; k < API_FILL_NKINDS; k++) {
		acc += (unsigned)api_fill_kinds[k].weight;
		if (r < acc)
			return (enum api_fill_kind)k;
	}
	return API_FILL_INVOICE;
}

/*
 * Builds message seq into the session: the envelope commands (MAIL, RCPT...,
 * DATA, pipelined) in *env, the message with its end-of-data line in s->msg.
 */
static void api_fill_build(struct api_fill *ctx, struct api_fill_session *ses, struct api_fill_text *env)
{
	uint64_t r = ctx->opt.seed * 0x2545f4914f6cdd1dULL + ses->seq;
	api_fill_rand(&r);
	struct api_fill_facts f = {.kind = api_fill_pick_kind(&r)};
	const char *domain = ctx->opt.domain;

	unsigned rcpt[API_FILL_MAX_RCPTS];
	f.nrcpt = 1;
	rcpt[0] = api_fill_inbox(ctx, &r);
	if (api_fill_chance(&r, 8)) {
		rcpt[1] = api_fill_inbox(ctx, &r);
		if (rcpt[1] != rcpt[0])
			f.nrcpt = 2;
	}
	for (int i = 0; i < f.nrcpt; i++)
		f.hot |= rcpt[i] == 0;
	const char *name = api_fill_names[api_fill_below(&r, API_FILL_NNAMES)];
	unsigned order = 100000 + api_fill_below(&r, 900000);

	static const struct {
		const char *display, *address;
	} senders[API_FILL_NKINDS] = {
	        [API_FILL_INVOICE] = {"Acme Billing", "billing@acme-shop.example"},
	        [API_FILL_RESET] = {"Example Accounts", "security@accounts.example"},
	        [API_FILL_CODE] = {"Example Sign-in", "no-reply@auth.example"},
	        [API_FILL_SHIPPING] = {"Parcel Express", "shipping@parcel.example"},
	        [API_FILL_WELCOME] = {"Example App Team", "hello@example-app.example"},
	        [API_FILL_NEWSLETTER] = {"The Weekly", "news@newsletter.example"},
	        [API_FILL_REPORT] = {"Analytics", "reports@analytics.example"},
	};
	const char *from = senders[f.kind].address;

	env->len = env->line = 0;
	api_fill_printf(env, "MAIL FROM:<%s>\r\n", from);
	for (int i = 0; i < f.nrcpt; i++)
		api_fill_printf(env, "RCPT TO:<user%05u@%s>\r\n", rcpt[i], domain);
	api_fill_add(env, "DATA\r\n", 6);
	ses->replies_left = 2 + f.nrcpt;

	struct api_fill_text m = {.p = ses->msg, .cap = ses->msg_cap};
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	api_fill_printf(&m, "From: \"%s\" <%s>\r\nTo: %s <user%05u@%s>", senders[f.kind].display, from, name, rcpt[0],
	                domain);
	if (f.nrcpt == 2)
		api_fill_printf(&m, ", <user%05u@%s>", rcpt[1], domain);
	api_fill_printf(&m, "\r\nDate: %s\r\nMessage-ID: <%u.%llu@api-fill.invalid>\r\nMIME-Version: 1.0\r\n", date,
	                ses->seq, (unsigned long long)ctx->opt.seed);

	const char *boundary = "=_api_fill_boundary_7f3a";
	switch (f.kind) {
	case API_FILL_INVOICE: {
		unsigned inv = 1 + ses->seq;
		f.paid = api_fill_chance(&r, 50);
		f.attachment = api_fill_chance(&r, 25);
		api_fill_printf(&m, "Subject: Invoice INV-%07u for order %u\r\n", inv, order);
		if (f.attachment)
			api_fill_printf(&m,
			                "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\n"
			                "Content-Type: text/plain; charset=utf-8\r\n\r\n",
			                boundary, boundary);
		else
			api_fill_printf(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
		api_fill_printf(&m,
		                "Hello %s,\r\n\r\nPlease find your invoice INV-%07u for order %u below.\r\n\r\n"
		                "Amount: $%u.%02u\r\n%s\r\n\r\n",
		                name, inv, order, 5 + api_fill_below(&r, 2000), api_fill_below(&r, 100),
		                f.paid ? "This invoice has been paid. Thank you!" : "Payment is due within 30 days.");
		m.line = 0;
		api_fill_words_run(&m, &r, 20 + api_fill_below(&r, 30), 0);
		api_fill_printf(&m, "\r\n\r\nAcme Shop, 1 Market Street\r\n");
		if (f.attachment) {
			api_fill_printf(&m,
			                "\r\n--%s\r\nContent-Type: application/pdf; name=\"INV-%07u.pdf\"\r\n"
			                "Content-Disposition: attachment; filename=\"INV-%07u.pdf\"\r\n"
			                "Content-Transfer-Encoding: base64\r\n\r\n",
			                boundary, inv, inv);
			api_fill_pdf(&m, &r, 900 + api_fill_below(&r, 1200));
			api_fill_printf(&m, "--%s--\r\n", boundary);
		}
		break;
	}
	case API_FILL_RESET: {
		unsigned long long token = (unsigned long long)api_fill_rand(&r);
		api_fill_printf(
		        &m,
		        "Subject: Reset your password\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
		        "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		        "Hi %s,\r\n\r\nSomeone asked for a password reset for your account. To choose a new\r\n"
		        "password, open this link within one hour:\r\n\r\n"
		        "https://accounts.example/reset?token=%016llx\r\n\r\n"
		        "If you did not ask for this, you can ignore this email.\r\n\r\n"
		        "--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		        "<html><body><p>Hi %s,</p>\r\n<p>Someone asked for a password reset for your account.</p>\r\n"
		        "<p><a href=\"https://accounts.example/reset?token=%016llx\">Choose a new password</a></p>\r\n"
		        "<p>If you did not ask for this, you can ignore this email.</p></body></html>\r\n--%s--\r\n",
		        boundary, boundary, name, token, boundary, name, token, boundary);
		break;
	}
	case API_FILL_CODE: {
		unsigned code = api_fill_below(&r, 1000000);
		if (api_fill_chance(&r, 50))
			api_fill_printf(&m, "Subject: Your code is %06u\r\n", code);
		else
			api_fill_printf(&m, "Subject: %06u is your verification code\r\n", code);
		api_fill_printf(&m,
		                "Content-Type: text/plain; charset=utf-8\r\n\r\nHi %s,\r\n\r\nYour code is %06u. "
		                "It expires in 10 minutes.\r\n\r\nIf this was not you, secure your account.\r\n",
		                name, code);
		break;
	}
	case API_FILL_SHIPPING: {
		const char *carrier =
		        api_fill_carriers[api_fill_below(&r, sizeof api_fill_carriers / sizeof *api_fill_carriers)];
		api_fill_printf(&m,
		                "Subject: Your order %u has shipped\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		                "Good news, %s: your order %u has shipped with %s.\r\n\r\n"
		                "Tracking number: 1Z%010llu\r\nEstimated delivery: %u %s.\r\n\r\n",
		                order, name, order, carrier, (unsigned long long)(api_fill_rand(&r) % 10000000000ULL),
		                1 + api_fill_below(&r, 28), api_fill_months[api_fill_below(&r, 12)]);
		m.line = 0;
		api_fill_words_run(&m, &r, 10 + api_fill_below(&r, 20), 0);
		api_fill_add(&m, "\r\n", 2);
		break;
	}
	case API_FILL_WELCOME:
		api_fill_printf(&m,
		                "Subject: Welcome to Example App, %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		                "Welcome, %s!\r\n\r\nPlease confirm your email address to finish signing up:\r\n"
		                "https://example-app.example/confirm?u=%u&t=%016llx\r\n\r\n",
		                name, name, ses->seq, (unsigned long long)api_fill_rand(&r));
		m.line = 0;
		api_fill_words_run(&m, &r, 15 + api_fill_below(&r, 15), 0);
		api_fill_add(&m, "\r\n", 2);
		break;
	case API_FILL_NEWSLETTER: {
		f.rare = api_fill_chance(&r, 1);
		const char *a = api_fill_words[api_fill_below(&r, API_FILL_NWORDS)];
		const char *b = api_fill_words[api_fill_below(&r, API_FILL_NWORDS)];
		const char *c = api_fill_words[api_fill_below(&r, API_FILL_NWORDS)];
		api_fill_printf(
		        &m,
		        "Subject: Weekly digest: %s, %s and %s\r\n"
		        "List-Unsubscribe: <https://newsletter.example/unsubscribe?u=%u>\r\n"
		        "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n<h1>This week: %s</h1>\r\n",
		        a, b, c, ses->seq, a);
		unsigned paragraphs = 3 + api_fill_below(&r, 4), rare_in = api_fill_below(&r, paragraphs);
		for (unsigned i = 0; i < paragraphs; i++) {
			api_fill_add(&m, "<p>", 3);
			api_fill_words_run(&m, &r, 25 + api_fill_below(&r, 30), f.rare && i == rare_in);
			api_fill_add(&m, "</p>\r\n", 6);
		}
		api_fill_printf(&m,
		                "<p><a href=\"https://newsletter.example/unsubscribe?u=%u\">Unsubscribe</a></p>\r\n"
		                "</body></html>\r\n",
		                ses->seq);
		break;
	}
	case API_FILL_REPORT: {
		f.attachment = 1;
		const char *month = api_fill_months[api_fill_below(&r, 12)];
		api_fill_printf(
		        &m,
		        "Subject: Your monthly report for %s\r\nContent-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
		        "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
		        "Hello %s,\r\n\r\nYour report for %s is attached.\r\n\r\n",
		        month, boundary, boundary, name, month);
		m.line = 0;
		api_fill_words_run(&m, &r, 10 + api_fill_below(&r, 10), 0);
		api_fill_printf(&m,
		                "\r\n\r\n--%s\r\nContent-Type: text/csv; name=\"report-%u.csv\"\r\n"
		                "Content-Disposition: attachment; filename=\"report-%u.csv\"\r\n"
		                "Content-Transfer-Encoding: base64\r\n\r\n",
		                boundary, ses->seq, ses->seq);
		api_fill_csv(&m, &r, 20 + api_fill_below(&r, 30));
		api_fill_printf(&m, "--%s--\r\n", boundary);
		break;
	}
	case API_FILL_NKINDS:
		break;
	}
	api_fill_add(&m, ".\r\n", 3);
	ses->msg = m.p;
	ses->msg_cap = m.cap;
	ses->msg_len = m.len;
	ses->facts = f;
}

static void api_fill_count(struct api_fill *ctx, const struct api_fill_session *s)
{
	const struct api_fill_facts *f = &s->facts;
	struct api_fill_stats *st = &ctx->stats;
	st->kinds[f->kind]++;
	st->with_attachment += f->attachment != 0;
	st->invoice_paid += f->paid != 0;
	st->rare_word += f->rare != 0;
	st->two_recipients += f->nrcpt == 2;
	st->hot_inbox += f->hot != 0;
	st->bytes += s->msg_len - 3;
}

/* ---- options ---- */

static void api_fill_usage(FILE *f)
{
	fprintf(f, "usage: api-fill [-s sessions] [-m messages] [--per-connection N] [--inboxes N] [--zipf S]\n"
	           "                [--seed N] [--domain D] [--timeout seconds] host:port\n"
	           "  -s N               connections in parallel (default 64)\n"
	           "  -m N               messages to send (default 1000)\n"
	           "  --per-connection N messages per connection before QUIT (default 10)\n"
	           "  --inboxes N        recipients user00000@D ... (default 10000), Zipf-distributed\n"
	           "  --zipf S           the distribution's exponent (default 1.0; 0 = uniform)\n"
	           "  --seed N           the mix's seed (default 1): same options, same mail\n"
	           "  --domain D         recipients' domain (default example.test)\n"
	           "Prints one result line, then one JSON line of counts over the accepted messages.\n");
}

static int api_fill_parse_int(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "api-fill: %s must be a whole number from %ld to %ld, not '%s'\n", name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int api_fill_parse_options(struct api_fill_options *o, int argc, char **argv)
{
	enum { OPT_PER = 256, OPT_INBOXES, OPT_ZIPF, OPT_SEED, OPT_DOMAIN, OPT_TIMEOUT };
	static const struct option longopts[] = {
	        {"per-connection", required_argument, NULL, OPT_PER},
	        {"inboxes", required_argument, NULL, OPT_INBOXES},
	        {"zipf", required_argument, NULL, OPT_ZIPF},
	        {"seed", required_argument, NULL, OPT_SEED},
	        {"domain", required_argument, NULL, OPT_DOMAIN},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	*o = (struct api_fill_options){.sessions = 64,
	                               .messages = 1000,
	                               .per_connection = 10,
	                               .inboxes = 10000,
	                               .zipf = 1.0,
	                               .seed = 1,
	                               .domain = "example.test",
	                               .timeout = 60};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "s:m:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (api_fill_parse_int("-s", optarg, 1, 100000, &v) < 0)
				return -1;
			o->sessions = (int)v;
			break;
		case 'm':
			if (api_fill_parse_int("-m", optarg, 1, INT_MAX, &v) < 0)
				return -1;
			o->messages = (int)v;
			break;
		case OPT_PER:
			if (api_fill_parse_int("--per-connection", optarg, 1, INT_MAX, &v) < 0)
				return -1;
			o->per_connection = (int)v;
			break;
		case OPT_INBOXES:
			if (api_fill_parse_int("--inboxes", optarg, 1, 100000, &v) < 0)
				return -1;
			o->inboxes = (int)v;
			break;
		case OPT_ZIPF: {
			char *end;
			o->zipf = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || o->zipf < 0 || o->zipf > 5) {
				fprintf(stderr, "api-fill: --zipf takes a number from 0 to 5\n");
				return -1;
			}
			break;
		}
		case OPT_SEED:
			if (api_fill_parse_int("--seed", optarg, 0, LONG_MAX, &v) < 0)
				return -1;
			o->seed = (uint64_t)v;
			break;
		case OPT_DOMAIN:
			for (const char *p = optarg; *p; p++)
				if (*p <= ' ' || *p == '>' || *p == '<' || *p == 0x7f) {
					fprintf(stderr, "api-fill: --domain must be a plain domain name\n");
					return -1;
				}
			o->domain = optarg;
			break;
		case OPT_TIMEOUT:
			if (api_fill_parse_int("--timeout", optarg, 1, 3600, &v) < 0)
				return -1;
			o->timeout = (int)v;
			break;
		case 'h':
			api_fill_usage(stdout);
			exit(0);
		default:
			api_fill_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		api_fill_usage(stderr);
		return -1;
	}
	o->target = argv[optind];
	return 0;
}

/* ---- one connection ---- */

static int api_fill_session_start(struct api_fill_session *s);

static double api_fill_seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static int api_fill_done(const struct api_fill *ctx)
{
	return ctx->next_seq >= (unsigned)ctx->opt.messages;
}

static void api_fill_session_close(struct api_fill_session *s)
{
	if (s->bev) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->ctx->active--;
	}
}

/* The slot is free: open the next connection, or end the run when none is left and none is open. */
static void api_fill_session_next(struct api_fill_session *s)
{
	struct api_fill *ctx = s->ctx;
	if (!api_fill_done(ctx)) {
		api_fill_session_start(s);
		return;
	}
	if (ctx->active == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ctx->t1);
		event_base_loopbreak(ctx->base);
	}
}

static void api_fill_session_next_cb(evutil_socket_t fd, short what, void *arg)
{
	api_fill_session_next(arg);
}

static int api_fill_session_fail(struct api_fill_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Counts an error, keeps the first one's text, ends the connection; the next one starts from the loop. */
static int api_fill_session_fail(struct api_fill_session *s, const char *fmt, ...)
{
	struct api_fill *ctx = s->ctx;
	ctx->errors++;
	if (ctx->errors == 1) {
		int n = snprintf(ctx->first_error, sizeof ctx->first_error, "message %u: ", s->seq);
		va_list ap;
		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof ctx->first_error)
			vsnprintf(ctx->first_error + n, sizeof ctx->first_error - (size_t)n, fmt, ap);
		va_end(ap);
	}
	api_fill_session_close(s);
	event_active(s->next_ev, EV_TIMEOUT, 0);
	return -1;
}

static void api_fill_expect(struct api_fill_session *s, enum api_fill_step step)
{
	s->step = step;
	s->code = 0;
	s->reply_len = 0;
	s->reply[0] = '\0';
}

/* The next message on this connection: its envelope, pipelined. */
static int api_fill_session_mail(struct api_fill_session *s)
{
	struct api_fill *ctx = s->ctx;
	static struct api_fill_text env;
	s->seq = ctx->next_seq++;
	s->sent_here++;
	api_fill_build(ctx, s, &env);
	api_fill_expect(s, API_FILL_ENVELOPE);
	bufferevent_write(s->bev, env.p, env.len);
	return 0;
}

static int api_fill_reply_ok(enum api_fill_step step, int code, int last)
{
	switch (step) {
	case API_FILL_GREETING:
		return code == 220;
	case API_FILL_ENVELOPE:
		return last ? code == 354 : code / 100 == 2;
	case API_FILL_QUIT:
		return code == 221;
	default:
		return code / 100 == 2;
	}
}

static int api_fill_session_reply(struct api_fill_session *s)
{
	struct api_fill *ctx = s->ctx;
	int last = s->step == API_FILL_ENVELOPE ? s->replies_left == 1 : 1;
	if (!api_fill_reply_ok(s->step, s->code, last))
		return api_fill_session_fail(s, "unexpected reply while waiting for %s: %s", api_fill_waiting[s->step],
		                             s->reply);
	switch (s->step) {
	case API_FILL_GREETING:
		api_fill_expect(s, API_FILL_EHLO);
		bufferevent_write(s->bev, "EHLO api-fill.invalid\r\n", 23);
		return 0;
	case API_FILL_EHLO:
		if (api_fill_done(ctx)) { /* the others took the last messages while this one connected */
			api_fill_expect(s, API_FILL_QUIT);
			bufferevent_write(s->bev, "QUIT\r\n", 6);
			return 0;
		}
		return api_fill_session_mail(s);
	case API_FILL_ENVELOPE:
		if (--s->replies_left > 0) {
			s->code = 0;
			s->reply_len = 0;
			s->reply[0] = '\0';
			return 0;
		}
		api_fill_expect(s, API_FILL_DOT);
		bufferevent_write(s->bev, s->msg, s->msg_len);
		return 0;
	case API_FILL_DOT:
		ctx->accepted++;
		api_fill_count(ctx, s);
		if (s->sent_here < ctx->opt.per_connection && !api_fill_done(ctx))
			return api_fill_session_mail(s);
		api_fill_expect(s, API_FILL_QUIT);
		bufferevent_write(s->bev, "QUIT\r\n", 6);
		return 0;
	case API_FILL_QUIT:
		api_fill_session_close(s);
		api_fill_session_next(s);
		return -1;
	case API_FILL_CONNECT:
		break;
	}
	return api_fill_session_fail(s, "reply before a command: %s", s->reply);
}

static void api_fill_session_keep(struct api_fill_session *s, struct evbuffer *in, size_t n)
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

static void api_fill_session_read(struct bufferevent *bev, void *arg)
{
	struct api_fill_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > API_FILL_REPLY_LINE_MAX)
				api_fill_session_fail(s, "reply line too long while waiting for %s",
				                      api_fill_waiting[s->step]);
			return;
		}
		size_t n = (size_t)eol.pos;
		unsigned char head[4] = {0};
		evbuffer_copyout(in, head, n < 4 ? n : 4);
		api_fill_session_keep(s, in, n);
		evbuffer_drain(in, n + eol_len);
		if (n < 3 || head[0] < '2' || head[0] > '5' || head[1] < '0' || head[1] > '9' || head[2] < '0' ||
		    head[2] > '9' || (n > 3 && head[3] != ' ' && head[3] != '-')) {
			api_fill_session_fail(s, "malformed reply while waiting for %s: %s", api_fill_waiting[s->step],
			                      s->reply);
			return;
		}
		s->code = (head[0] - '0') * 100 + (head[1] - '0') * 10 + (head[2] - '0');
		if (n > 3 && head[3] == '-')
			continue;
		if (api_fill_session_reply(s) < 0)
			return;
	}
}

static void api_fill_session_event(struct bufferevent *bev, short what, void *arg)
{
	struct api_fill_session *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_CONNECTED) {
		s->ctx->connections++;
		api_fill_expect(s, API_FILL_GREETING);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		api_fill_session_fail(s, "no progress for %d s while waiting for %s", s->ctx->opt.timeout,
		                      api_fill_waiting[s->step]);
	else if (what & BEV_EVENT_EOF)
		api_fill_session_fail(s, "server closed the connection while waiting for %s",
		                      api_fill_waiting[s->step]);
	else
		api_fill_session_fail(s, "%s while waiting for %s", evutil_socket_error_to_string(err),
		                      api_fill_waiting[s->step]);
}

static int api_fill_session_start(struct api_fill_session *s)
{
	struct api_fill *ctx = s->ctx;
	s->sent_here = 0;
	api_fill_expect(s, API_FILL_CONNECT);
	s->bev = bufferevent_socket_new(ctx->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		fprintf(stderr, "api-fill: cannot create a bufferevent\n");
		exit(2);
	}
	ctx->active++;
	bufferevent_setcb(s->bev, api_fill_session_read, NULL, api_fill_session_event, s);
	bufferevent_set_timeouts(s->bev, ctx->timeout, ctx->timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ctx->addr, ctx->addrlen) < 0)
		return api_fill_session_fail(s, "connect: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	return 0;
}

/* ---- the run ---- */

static void api_fill_progress(evutil_socket_t fd, short what, void *arg)
{
	struct api_fill *ctx = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = api_fill_seconds(&ctx->t0, &now);
	fprintf(stderr, "api-fill: %u of %d messages accepted, %.0f s, %.0f msg/s\n", ctx->accepted, ctx->opt.messages,
	        secs, secs > 0 ? ctx->accepted / secs : 0.0);
}

static int api_fill_resolve(struct api_fill *ctx)
{
	const char *target = ctx->opt.target;
	ctx->addrlen = (int)sizeof ctx->addr;
	if (evutil_parse_sockaddr_port(target, (struct sockaddr *)&ctx->addr, &ctx->addrlen) == 0)
		return 0;
	const char *colon = strrchr(target, ':');
	if (colon == NULL || colon == target || colon[1] == '\0' || (size_t)(colon - target) >= 256) {
		fprintf(stderr, "api-fill: '%s' is not host:port\n", target);
		return -1;
	}
	char host[256];
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "api-fill: cannot resolve '%s': %s\n", target, gai_strerror(rc));
		return -1;
	}
	memcpy(&ctx->addr, res->ai_addr, res->ai_addrlen);
	ctx->addrlen = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void api_fill_report(const struct api_fill *ctx)
{
	const struct api_fill_options *o = &ctx->opt;
	double secs = api_fill_seconds(&ctx->t0, &ctx->t1);
	if (secs <= 0)
		secs = 1e-9;
	printf("api-fill: %u messages in %.3f s: %.0f msg/s, %u connections, %u errors (%d sessions, %d per "
	       "connection, %d inboxes, zipf %.2f, seed %llu)\n",
	       ctx->accepted, secs, ctx->accepted / secs, ctx->connections, ctx->errors, o->sessions, o->per_connection,
	       o->inboxes, o->zipf, (unsigned long long)o->seed);
	const struct api_fill_stats *st = &ctx->stats;
	printf("{\"accepted\": %u, \"seconds\": %.3f, \"errors\": %u, \"kinds\": {", ctx->accepted, secs, ctx->errors);
	for (int k = 0; k < API_FILL_NKINDS; k++)
		printf("%s\"%s\": %llu", k ? ", " : "", api_fill_kinds[k].name, (unsigned long long)st->kinds[k]);
	printf("}, \"with_attachment\": %llu, \"invoice_paid\": %llu, \"rare_word\": %llu, \"two_recipients\": %llu, "
	       "\"hot_inbox\": %llu, \"bytes\": %llu}\n",
	       (unsigned long long)st->with_attachment, (unsigned long long)st->invoice_paid,
	       (unsigned long long)st->rare_word, (unsigned long long)st->two_recipients,
	       (unsigned long long)st->hot_inbox, (unsigned long long)st->bytes);
	fflush(stdout);
	if (ctx->errors)
		fprintf(stderr, "api-fill: first error: %s\n", ctx->first_error);
}

int main(int argc, char **argv)
{
	struct api_fill ctx = {0};
	if (api_fill_parse_options(&ctx.opt, argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (api_fill_resolve(&ctx) < 0)
		return 2;

	ctx.cdf = malloc((size_t)ctx.opt.inboxes * sizeof *ctx.cdf);
	ctx.sessions = calloc((size_t)ctx.opt.sessions, sizeof *ctx.sessions);
	ctx.base = event_base_new();
	if (ctx.cdf == NULL || ctx.sessions == NULL || ctx.base == NULL) {
		fprintf(stderr, "api-fill: out of memory\n");
		return 2;
	}
	double sum = 0;
	for (int i = 0; i < ctx.opt.inboxes; i++)
		sum += 1.0 / pow(i + 1, ctx.opt.zipf);
	double acc = 0;
	for (int i = 0; i < ctx.opt.inboxes; i++) {
		acc += 1.0 / pow(i + 1, ctx.opt.zipf) / sum;
		ctx.cdf[i] = acc;
	}
	ctx.cdf[ctx.opt.inboxes - 1] = 2.0; /* every draw lands somewhere */

	struct timeval tv = {.tv_sec = ctx.opt.timeout};
	ctx.timeout = event_base_init_common_timeout(ctx.base, &tv);
	struct timeval every = {.tv_sec = 10};
	ctx.progress_ev = event_new(ctx.base, -1, EV_PERSIST, api_fill_progress, &ctx);
	event_add(ctx.progress_ev, &every);

	int n = ctx.opt.sessions;
	long needed = ((long)ctx.opt.messages + ctx.opt.per_connection - 1) / ctx.opt.per_connection;
	if (n > needed)
		n = (int)needed;
	clock_gettime(CLOCK_MONOTONIC, &ctx.t0);
	for (int i = 0; i < n; i++) {
		struct api_fill_session *s = &ctx.sessions[i];
		s->ctx = &ctx;
		s->next_ev = event_new(ctx.base, -1, 0, api_fill_session_next_cb, s);
		api_fill_session_start(s);
	}
	event_base_dispatch(ctx.base);
	api_fill_report(&ctx);
	int failed = ctx.errors > 0 || ctx.accepted != (unsigned)ctx.opt.messages;
	for (int i = 0; i < n; i++) {
		api_fill_session_close(&ctx.sessions[i]);
		event_free(ctx.sessions[i].next_ev);
		free(ctx.sessions[i].msg);
	}
	event_free(ctx.progress_ev);
	event_base_free(ctx.base);
	free(ctx.sessions);
	free(ctx.cdf);
	return failed ? 1 : 0;
}
