/*
 * probe_run: the I/O side of `mailscope probe`. Given a host, ports and
 * options, it resolves the host (A and AAAA, or its MX hosts by preference),
 * opens the connections for every address × port at once on one event_base
 * and fills struct probe_facts with what they observed. It never judges:
 * probe_rules turns the facts into findings.
 *
 * What it does per address × port (docs/ARCHITECTURE.md, "Probe: the I/O
 * side", says why each step is done the way it is):
 *  - connect (refused / timeout / unreachable / reset / open, with the time)
 *  - wait for a greeting for a short window; without one, a ClientHello on a
 *    fresh connection while the first keeps waiting: TLS back = implicit TLS,
 *    a greeting = plaintext, something else (HTTP) = not SMTP, nothing on
 *    either = silent. Nothing is ever sent before the greeting on the first
 *    connection.
 *  - EHLO before and after TLS, STARTTLS, the handshake and the certificate
 *    (checked against the name a client uses, never refused for failing)
 *  - in parallel once the mode is known, each on its own connection: TLS 1.0,
 *    1.1, 1.2 and 1.3 one by one; MAIL and "AUTH mech" (cancelled with "*",
 *    so no secret leaves) before STARTTLS; STARTTLS and NOOP in one write; a
 *    whole submission per client configuration that can be tried without
 *    sending a ClientHello to a plaintext port (smtp_submit, up to AUTH or
 *    MAIL, never RCPT or DATA); AUTH with each offered mechanism inside TLS
 *    when credentials are given; MAIL FROM:<> / RCPT TO / RSET only with
 *    --rcpt.
 * Every operation obeys the timeout; all connections run in parallel, so a
 * filtered port costs one timeout in total.
 */
#ifndef MAILSCOPE_PROBE_RUN_H
#define MAILSCOPE_PROBE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe/probe_facts.h"
#include "smtp/smtp_client.h"

/* Default timeout of every operation (connect, each reply, each handshake). */
#define PROBE_DEFAULT_TIMEOUT_MS 10000
/*
 * How long the first connection waits for a greeting before a ClientHello
 * goes out on a second one: this much plus PROBE_BANNER_WINDOW_RTTS times
 * the connect time (capped at the timeout). The first connection keeps
 * waiting meanwhile, so a slow greeter is still found to be plaintext.
 */
#define PROBE_BANNER_WINDOW_MS   150
#define PROBE_BANNER_WINDOW_RTTS 4
/* MX hosts probed at most with --mx (by preference). */
#define PROBE_MX_MAX 10
/* Addresses probed at most per host name. */
#define PROBE_ADDRESSES_MAX 16
/* Progress callbacks at most this often. */
#define PROBE_PROGRESS_MS 100

struct probe_progress {
	size_t done;         /* address × port pairs finished */
	size_t total;        /* all of them */
	int64_t elapsed_ms;  /* since the connections started */
	const char *waiting; /* "127.0.0.1:587": one that is still running, NULL when none */
};

struct probe_run_options {
	const char *host; /* as given: a name or an address literal */
	const int *ports; /* in the order given */
	size_t nports;
	int family;             /* AF_UNSPEC, or AF_INET / AF_INET6 for -4 / -6 */
	bool mx;                /* probe the MX hosts of host instead of host itself */
	const char *dns_cache;  /* --mx: answer DNS from this DNS-cache file (offline); NULL: the real DNS */
	const char *resolver;   /* --mx: ask this DNS resolver; NULL: /etc/resolv.conf */
	int64_t timeout_ms;     /* 0: PROBE_DEFAULT_TIMEOUT_MS */
	const char *user;       /* NULL: AUTH is not tested with credentials */
	const char *password;   /* with user; only ever sent inside TLS */
	const char *servername; /* the name certificates are checked against; NULL: the host (each MX host) */
	const char *ca_file;    /* trust these instead of the system store */
	const char *rcpt;       /* test RCPT TO this address (greylisting); NULL: never RCPT */
	const char *ehlo_name;  /* the name sent in EHLO */
	/* Called every PROBE_PROGRESS_MS while connections run; NULL: none. */
	void (*progress)(void *arg, const struct probe_progress *p);
	void *progress_arg;
	/* Every connection's transcript (address, port and which connection in tag); NULL: none. */
	void (*trace)(void *arg, const char *tag, enum smtp_client_dir dir, const char *text, size_t len);
	void *trace_arg;
	/* Things worth saying that are not facts (an MX host without addresses); NULL: dropped. */
	void (*note)(void *arg, const char *text);
	void *note_arg;
};

/*
 * Probes and fills f (initialised here; the caller frees it with
 * probe_facts_free, also after a failure). Returns 0 when the probe ran —
 * whatever it found, failures included — and -1 with a message in err when
 * nothing could be probed: the host (or its MX) does not resolve, or the
 * --ca-file or the DNS setup is unusable. The command exits 2 for -1.
 */
int probe_run(const struct probe_run_options *o, struct probe_facts *f, char *err, size_t errlen);

#endif
