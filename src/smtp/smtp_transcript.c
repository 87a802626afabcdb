/*
 * smtp_transcript: the record every session keeps of itself: both sides of
 * the conversation with timestamps, and the diagnostics that name what the
 * client did wrong. Message content never enters the transcript (only its
 * size), and AUTH secrets are replaced before they get here.
 *
 * The transcript is bounded (limits.transcript_max_bytes): past it, lines
 * are counted but not kept, so a client flooding commands costs memory once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/utf8.h"
#include "core/xmalloc.h"
#include "smtp/smtp_internal.h"

/* A line longer than this is cut (with a note of how long it was). */
#define SMTP_TRANSCRIPT_LINE_MAX 1024

/*
 * Characters that are valid UTF-8 but not text: C1 controls, and the bidi
 * embeddings, overrides, isolates and marks that would make a line read
 * differently from what the client sent (U+202A-U+202E, U+2066-U+2069,
 * U+200E, U+200F, U+061C; the set http_parse refuses in file names).
 */
static int smtp_transcript_hidden(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || utf8_is_bidi_control(cp);
}

/*
 * Printable ASCII and UTF-8 text are kept; every other byte is written as
 * \r, \n, \t or \xNN, and a hidden character as the \xNN of each of its
 * bytes (all of them, or none when they do not fit).
 */
void smtp_transcript_escape(const char *in, size_t len, size_t max, char *out, size_t outlen)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0;
	if (outlen == 0)
		return;
	while (i < len && i < max && o + 8 < outlen) {
		uint32_t cp = p[i];
		size_t n = p[i] >= 0x80 ? utf8_decode(p + i, len - i, &cp) : 1;
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			out[o++] = (char)p[i++];
		} else if (n > 1 && !smtp_transcript_hidden(cp)) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
		} else if (n > 1) {
			if (o + 4 * n >= outlen)
				break;
			for (size_t k = 0; k < n; k++)
				o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i + k]);
			i += n;
		} else {
			const char *esc = p[i] == '\r' ? "\\r" : p[i] == '\n' ? "\\n" : p[i] == '\t' ? "\\t" : NULL;
			if (esc)
				o += (size_t)snprintf(out + o, outlen - o, "%s", esc);
			else
				o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i]);
			i++;
		}
	}
	if (i < len && o + 4 < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
}

void smtp_transcript_add(struct smtp_session *s, char dir, const char *text, size_t len)
{
	struct smtp_session_record *r = &s->rec;
	size_t max = smtp_session_limits(s)->transcript_max_bytes;
	if (r->transcript_len + len > max) {
		r->omitted_lines++;
		return;
	}
	/* Worst case: every byte escaped as \xNN, plus the time, the direction and a length note. */
	size_t need = (len < SMTP_TRANSCRIPT_LINE_MAX ? len : SMTP_TRANSCRIPT_LINE_MAX) * 4 + 64;
	if (r->transcript_cap - r->transcript_len < need) {
		size_t cap = r->transcript_cap ? r->transcript_cap : 512;
		while (cap - r->transcript_len < need)
			cap *= 2;
		r->transcript = xrealloc(r->transcript, cap);
		r->transcript_cap = cap;
	}
	char *p = r->transcript + r->transcript_len;
	size_t room = r->transcript_cap - r->transcript_len;
	int n = snprintf(p, room, "%lld\t%c\t", (long long)(timeutil_now_ms() - r->started_at_ms), dir);
	smtp_transcript_escape(text, len, SMTP_TRANSCRIPT_LINE_MAX, p + n, room - (size_t)n);
	n += (int)strlen(p + n);
	if (len > SMTP_TRANSCRIPT_LINE_MAX)
		n += snprintf(p + n, room - (size_t)n, " [%zu octets]", len);
	p[n++] = '\n';
	r->transcript_len += (size_t)n;
	r->nlines++;
}

void smtp_transcript_addf(struct smtp_session *s, char dir, const char *fmt, ...)
{
	char text[SMTP_TRANSCRIPT_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	smtp_transcript_add(s, dir, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

void smtp_diag(struct smtp_session *s, enum smtp_diag_code code, const char *evidence_fmt, ...)
{
	struct smtp_session_record *r = &s->rec;
	/* The same fault twice in one session says nothing new. */
	for (size_t i = 0; i < r->ndiags; i++)
		if (r->diags[i].code == code)
			return;
	char evidence[1024];
	va_list ap;
	va_start(ap, evidence_fmt);
	vsnprintf(evidence, sizeof evidence, evidence_fmt, ap);
	va_end(ap);

	r->diags = xrealloc(r->diags, (r->ndiags + 1) * sizeof *r->diags);
	struct smtp_diag_event *e = &r->diags[r->ndiags++];
	e->code = code;
	e->evidence = utf8_sanitize(evidence, strlen(evidence));
	e->at_ms = timeutil_now_ms();

	const struct smtp_diag_def *def = smtp_diag_def(code);
	smtp_transcript_addf(s, '*', "diagnostic %s: %s", def->code, e->evidence);
	char session[ID_STRLEN + 1], port[8];
	id_format(r->id, session);
	snprintf(port, sizeof port, "%u", s->client_port);
	const char *kv[] = {
	        "event",       "diagnostic",
	        "code",        def->code,
	        "severity",    smtp_diag_severity_name(def->severity),
	        "session",     session,
	        "client",      s->client_ip,
	        "client_port", port,
	        "listener",    s->lst->addr,
	        "mode",        smtp_mode_name(s->lst->mode),
	        "message",     def->message,
	        "fix",         def->fix,
	        "evidence",    e->evidence,
	};
	log_event(def->severity == SMTP_DIAG_ERROR ? LOG_WARN : LOG_INFO, "diagnostic", kv,
	          sizeof kv / sizeof kv[0] / 2);
}

void smtp_session_record_free(struct smtp_session_record *r)
{
	if (r == NULL)
		return;
	smtp_session_record_clear(r);
	free(r);
}

void smtp_session_record_clear(struct smtp_session_record *r)
{
	free(r->listener_addr);
	free(r->client_ip);
	free(r->helo);
	free(r->tls_version);
	free(r->tls_cipher);
	free(r->tls_sni);
	free(r->auth_user);
	free(r->transcript);
	for (size_t i = 0; i < r->ndiags; i++)
		free(r->diags[i].evidence);
	free(r->diags);
	memset(r, 0, sizeof *r);
}
