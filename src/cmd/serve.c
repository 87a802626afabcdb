/*
 * serve: `mailscope serve`, the sandbox. Options, wiring and output only:
 * the SMTP server hands each finished message to serve_on_message(), which
 * gives it an id and passes it to the store; the store's commit notice comes
 * back through its completion fd and becomes the client's 250.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/dns.h"
#include "auth/spam.h"
#include "cmd/check_internal.h"
#include "cmd/cmd.h"
#include "core/addr.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/units.h"
#include "core/xmalloc.h"
#include "http/http_server.h"
#include "msg/msg_summary.h"
#include "smtp/smtp_auth.h"
#include "smtp/smtp_server.h"
#include "store/store.h"
#include "tls/tls.h"

#include "cmd/serve_internal.h"
#include <jansson.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

struct serve_ctx {
	struct metrics *metrics;
	unsigned batch; /* acknowledgements in the current completion round (≈ one commit batch) */
	struct event_base *base;
	struct store *store;
	struct smtp_server *smtp;
	struct http_server *http;
	struct id_gen ids;
	int stopping;
	int store_open;
	struct tls_context *tls;
	struct smtp_users *users;
	struct dns_resolver *resolver;
};

static char *serve_take(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Moves what the SMTP session collected into the store's message type. */
static struct store_message *serve_convert(struct smtp_message *m, uint64_t id)
{
	struct store_message *sm = xcalloc(1, sizeof *sm);
	struct store_envelope *e = &sm->env;
	sm->id = id;
	sm->session_id = m->session_id;
	e->received_at_ms = m->received_at_ms;
	e->mail_from = m->mail_from;
	e->nrcpts = m->nrcpts;
	e->rcpts = xcalloc(m->nrcpts, sizeof *e->rcpts);
	for (size_t i = 0; i < m->nrcpts; i++) {
		e->rcpts[i].address = m->rcpts[i].address;
		e->rcpts[i].notify = m->rcpts[i].notify;
		e->rcpts[i].orcpt = m->rcpts[i].orcpt;
	}
	free(m->rcpts);
	e->helo = m->helo;
	e->helo_verb = serve_take(m->helo_verb);
	e->client_ip = m->client_ip;
	e->client_port = m->client_port;
	e->listener_mode = serve_take(m->listener_mode);
	e->listener_addr = m->listener_addr;
	e->transfer = serve_take(m->transfer);
	e->declared_size = m->declared_size;
	e->body = serve_take(m->body);
	e->smtputf8 = m->smtputf8;
	e->ret = serve_take(m->ret);
	e->envid = m->envid;
	e->bare_lf = m->bare_lf;
	e->bare_cr = m->bare_cr;
	e->long_lines = m->long_lines;
	e->nul_bytes = m->nul_bytes;
	sm->raw = m->raw;
	sm->raw_len = m->raw_len;
	free(m);
	return sm;
}

/* What the store's callback needs to answer the client and tell the API. */
struct serve_pending {
	struct serve_ctx *ctx;
	struct smtp_delivery *delivery;
	size_t size;
};

static void serve_stored(void *arg, uint64_t id, int status, const char *err)
{
	struct serve_pending *p = arg;
	struct serve_ctx *ctx = p->ctx;
	if (status == 0) {
		char text[ID_STRLEN + 1];
		id_format(id, text);
		smtp_delivery_done(p->delivery, text, NULL);
		/* The id carries the arrival time: this is the wait from end of data to the 250. */
		double latency = (double)(timeutil_now_ms() - id_time_ms(id)) / 1000.0;
		metrics_inc(ctx->metrics, "mailscope_messages_received_total", NULL, 1);
		metrics_inc(ctx->metrics, "mailscope_message_bytes_received_total", NULL, (double)p->size);
		metrics_observe(ctx->metrics, "mailscope_store_commit_latency_seconds", NULL, latency);
		ctx->batch++;
		http_server_message_stored(ctx->http, id);
	} else {
		metrics_inc(ctx->metrics, "mailscope_messages_failed_total", NULL, 1);
		if (status == STORE_NO_SPACE)
			smtp_delivery_no_space(p->delivery, err);
		else
			smtp_delivery_done(p->delivery, NULL, err);
	}
	free(p);
}

/* Another node committed (or deleted) a message (the PostgreSQL store): this node's API hears of it too. */
static void serve_remote_stored(void *arg, uint64_t id, int deleted)
{
	struct serve_ctx *ctx = arg;
	if (deleted)
		http_server_message_deleted(ctx->http, id);
	else
		http_server_message_stored(ctx->http, id);
}

static void serve_on_message(void *arg, struct smtp_message *m, struct smtp_delivery *d)
{
	struct serve_ctx *ctx = arg;
	uint64_t id = id_next(&ctx->ids, m->received_at_ms);
	struct serve_pending *p = xmalloc(sizeof *p);
	p->ctx = ctx;
	p->delivery = d;
	p->size = m->raw_len;
	store_submit(ctx->store, serve_convert(m, id), serve_stored, p);
}

static void serve_metrics_declare(struct metrics *m)
{
	static const double latency[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
	static const double batch[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
	metrics_declare(m, "mailscope_messages_received_total", METRICS_COUNTER, "Messages stored and acknowledged.",
	                NULL, 0);
	metrics_declare(m, "mailscope_message_bytes_received_total", METRICS_COUNTER, "Bytes of messages stored.", NULL,
	                0);
	metrics_declare(m, "mailscope_messages_failed_total", METRICS_COUNTER,
	                "Messages the store could not keep (answered 451, or 452 when full).", NULL, 0);
	metrics_declare(m, "mailscope_sessions_total", METRICS_COUNTER, "SMTP sessions by listener mode and TLS mode.",
	                NULL, 0);
	metrics_declare(m, "mailscope_diagnostics_total", METRICS_COUNTER, "Diagnostics recorded, by code.", NULL, 0);
	metrics_declare(m, "mailscope_auth_total", METRICS_COUNTER, "SMTP AUTH outcomes, by result and mechanism.",
	                NULL, 0);
	metrics_declare(m, "mailscope_store_commit_latency_seconds", METRICS_HISTOGRAM,
	                "From the end of a message's data to its 250 (includes the group commit).", latency,
	                sizeof latency / sizeof latency[0]);
	metrics_declare(m, "mailscope_store_batch_messages", METRICS_HISTOGRAM,
	                "Messages acknowledged per store completion round (about one group commit).", batch,
	                sizeof batch / sizeof batch[0]);
}

static char *serve_diagnostics_json(const struct smtp_session_record *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->ndiags; i++) {
		const struct smtp_diag_def *def = smtp_diag_def(r->diags[i].code);
		char at[40];
		timeutil_format_rfc3339(r->diags[i].at_ms, at, sizeof at);
		json_array_append_new(a, json_pack("{ssssssssssss}", "code", def->code, "severity",
		                                   smtp_diag_severity_name(def->severity), "message", def->message,
		                                   "fix", def->fix, "evidence", r->diags[i].evidence, "at", at));
	}
	char *text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

static void serve_on_session_end(void *arg, struct smtp_session_record *r)
{
	struct serve_ctx *ctx = arg;
	struct store_session *ss = xcalloc(1, sizeof *ss);
	ss->id = r->id;
	ss->started_at_ms = r->started_at_ms;
	ss->ended_at_ms = r->ended_at_ms;
	ss->listener_mode = serve_take(r->listener_mode);
	ss->listener_addr = r->listener_addr;
	r->listener_addr = NULL;
	ss->client_ip = r->client_ip;
	r->client_ip = NULL;
	ss->client_port = r->client_port;
	ss->helo = r->helo;
	r->helo = NULL;
	ss->tls_mode = serve_take(r->tls_mode);
	ss->tls_version = r->tls_version;
	ss->tls_cipher = r->tls_cipher;
	ss->tls_sni = r->tls_sni;
	r->tls_version = r->tls_cipher = r->tls_sni = NULL;
	ss->auth_user = r->auth_user;
	r->auth_user = NULL;
	ss->auth_mech = serve_take(r->auth_mech);
	ss->end_reason = serve_take(r->end_reason);
	ss->nmessages = r->nmessages;
	ss->nerrors = r->nerrors;
	if (r->omitted_lines) {
		char note[160];
		int n = snprintf(note, sizeof note,
		                 "%lld\t*\t%zu more lines left out (transcript limit, see --transcript-max)\n",
		                 (long long)(r->ended_at_ms - r->started_at_ms), r->omitted_lines);
		r->transcript = xrealloc(r->transcript, r->transcript_len + (size_t)n + 1);
		memcpy(r->transcript + r->transcript_len, note, (size_t)n);
		r->transcript_len += (size_t)n;
	}
	r->transcript = xrealloc(r->transcript, r->transcript_len + 1);
	r->transcript[r->transcript_len] = '\0';
	ss->transcript = r->transcript; /* the compact text form; the API turns it into JSON */
	r->transcript = NULL;
	ss->diagnostics_json = serve_diagnostics_json(r);
	ss->ncodes = r->ndiags;
	ss->codes = xcalloc(r->ndiags ? r->ndiags : 1, sizeof *ss->codes);
	for (size_t i = 0; i < r->ndiags; i++)
		ss->codes[i] = xstrdup(smtp_diag_def(r->diags[i].code)->code);
	char labels[160];
	snprintf(labels, sizeof labels, "listener=\"%s\",tls=\"%s\"", r->listener_mode,
	         r->tls_mode ? r->tls_mode : "none");
	metrics_inc(ctx->metrics, "mailscope_sessions_total", labels, 1);
	for (size_t i = 0; i < r->ndiags; i++) {
		snprintf(labels, sizeof labels, "code=\"%s\"", smtp_diag_def(r->diags[i].code)->code);
		metrics_inc(ctx->metrics, "mailscope_diagnostics_total", labels, 1);
	}
	if (r->auth_mech) {
		snprintf(labels, sizeof labels, "result=\"ok\",mechanism=\"%s\"", r->auth_mech);
		metrics_inc(ctx->metrics, "mailscope_auth_total", labels, 1);
	}
	for (size_t i = 0; i < r->ndiags; i++)
		if (r->diags[i].code == SMTP_DIAG_AUTH_FAILED)
			metrics_inc(ctx->metrics, "mailscope_auth_total", "result=\"failed\"", 1);
	http_server_session_ended(ctx->http, r->id, r->client_ip ? r->client_ip : ss->client_ip, r->listener_mode,
	                          (const char *const *)ss->codes, ss->ncodes);
	smtp_session_record_free(r);
	if (ctx->store_open)
		store_submit_session(ctx->store, ss);
	else
		store_session_free(ss);
}

static void serve_completions(evutil_socket_t fd, short what, void *arg)
{
	struct serve_ctx *ctx = arg;
	ctx->batch = 0;
	store_run_completions(ctx->store);
	if (ctx->batch)
		metrics_observe(ctx->metrics, "mailscope_store_batch_messages", NULL, ctx->batch);
}

static void serve_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve_ctx *ctx = arg;
	if (ctx->stopping) {
		ctx->stopping = 2;
		log_warn("second signal: exiting at once");
		event_base_loopbreak(ctx->base);
		return;
	}
	ctx->stopping = 1;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(ctx->base, NULL);
}

/* Allow as many descriptors as the hard limit permits; warn when it is below the connection limit. */
static void serve_raise_fd_limit(struct serve_options *o)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && o->limits.max_connections + SERVE_FD_RESERVE > rl.rlim_cur) {
		unsigned fit = rl.rlim_cur > SERVE_FD_RESERVE ? (unsigned)(rl.rlim_cur - SERVE_FD_RESERVE) : 1;
		log_warn("open-file limit is %llu: serving at most %u connections (raise it with ulimit -n)",
		         (unsigned long long)rl.rlim_cur, fit);
		o->limits.max_connections = fit;
	}
}

static int serve_write_ready(const char *path, char listen_addrs[][64], const struct serve_options *o,
                             const char *http_addr)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		log_error("cannot write ready file %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"pid\":%d,\"smtp\":[", (int)getpid());
	for (size_t i = 0; i < o->nlisteners; i++)
		fprintf(f, "%s{\"mode\":\"%s\",\"address\":\"%s\"}", i ? "," : "", smtp_mode_name(o->listeners[i].mode),
		        listen_addrs[i]);
	fprintf(f, "],\"http\":");
	if (http_addr)
		fprintf(f, "\"%s\"}\n", http_addr);
	else
		fprintf(f, "null}\n");
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		log_error("cannot write ready file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_options o;
	int rc = serve_parse(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	log_setup(o.log_level, o.log_format);
	signal(SIGPIPE, SIG_IGN);
	serve_raise_fd_limit(&o);
	msg_init();

	struct serve_ctx ctx = {0};
	id_gen_init(&ctx.ids);
	ctx.metrics = metrics_new();
	serve_metrics_declare(ctx.metrics);
	char err[512];
	ctx.store = store_open(&o.store, err, sizeof err);
	if (ctx.store == NULL) {
		fprintf(stderr, "mailscope serve: %s\n", err);
		metrics_free(ctx.metrics);
		msg_shutdown();
		return 1;
	}
	ctx.store_open = 1;
	/* Ids continue from the newest stored one, even if the clock stepped back since. */
	uint64_t latest;
	if (store_latest_id(ctx.store, &latest, err, sizeof err) == 0)
		ctx.ids.last = latest;
	int status = 1;
	/*
	 * The changelist merges the many enable/disable pairs a bufferevent makes
	 * within one loop iteration into at most one epoll_ctl per descriptor.
	 */
	struct event_config *evcfg = event_config_new();
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	ctx.base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	struct event *done_ev =
	        event_new(ctx.base, store_completion_fd(ctx.store), EV_READ | EV_PERSIST, serve_completions, &ctx);
	event_add(done_ev, NULL);
	store_attach(ctx.store, ctx.base, &ctx.ids, serve_remote_stored, &ctx);
	struct event *sigint = evsignal_new(ctx.base, SIGINT, serve_signal, &ctx);
	struct event *sigterm = evsignal_new(ctx.base, SIGTERM, serve_signal, &ctx);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);

	ctx.tls = tls_context_new(&o.tls, err, sizeof err);
	if (ctx.tls == NULL) {
		fprintf(stderr, "mailscope serve: %s\n", err);
		goto out;
	}
	if (o.users_file) {
		char warning[512] = "";
		ctx.users = smtp_users_load(o.users_file, err, sizeof err, warning, sizeof warning);
		if (ctx.users == NULL) {
			fprintf(stderr, "mailscope serve: --users: %s\n", err);
			goto out;
		}
		if (warning[0])
			log_warn("--users: %s", warning);
		o.auth.users = ctx.users;
	}
	struct smtp_server_config scfg = {
	        .hostname = o.hostname,
	        .limits = o.limits,
	        .auth = o.auth,
	        .tls = ctx.tls,
	        .ids = &ctx.ids,
	        .on_message = serve_on_message,
	        .on_message_arg = &ctx,
	        .on_session_end = serve_on_session_end,
	        .on_session_end_arg = &ctx,
	};
	ctx.smtp = smtp_server_new(ctx.base, &scfg);
	char bound[SERVE_MAX_LISTENERS][64];
	for (size_t i = 0; i < o.nlisteners; i++) {
		if (smtp_server_listen(ctx.smtp, &o.listeners[i], bound[i], sizeof bound[i], err, sizeof err) < 0) {
			fprintf(stderr, "mailscope serve: %s\n", err);
			goto out;
		}
	}
	char http_bound[64] = "";
	if (!o.http_off) {
		/* Authentication checks ask DNS on this loop; a resolver that cannot be set up is fatal only when
		 * asked for by name (--dns-cache, --resolver): without one, .../auth answers 503. */
		ctx.resolver = o.dns.dns_cache ? dns_cache_open(ctx.base, o.dns.dns_cache, err, sizeof err)
		                               : dns_unbound_new(ctx.base, &o.dns.unbound, err, sizeof err);
		if (ctx.resolver == NULL &&
		    (o.dns.dns_cache || o.dns.unbound.upstream || o.dns.unbound.trust_anchor_file)) {
			fprintf(stderr, "mailscope serve: %s\n", err);
			goto out;
		}
		if (ctx.resolver == NULL)
			log_warn("authentication checks are off: %s", err);
		struct http_options hopt = {.token = o.api_token,
		                            .cors_origin = o.cors_origin,
		                            .metrics = ctx.metrics,
		                            .web_dir = o.web_dir,
		                            .resolver = ctx.resolver,
		                            .authserv_id = o.authserv_id,
		                            .spam = &o.spam,
		                            .max_connections = o.http_max_connections,
		                            .request_timeout_ms = o.http_request_timeout_ms};
		ctx.http = http_server_new(ctx.base, ctx.store, &hopt);
		if (http_server_listen(ctx.http, &o.http, http_bound, sizeof http_bound, err, sizeof err) < 0) {
			fprintf(stderr, "mailscope serve: %s\n", err);
			goto out;
		}
	}

	printf("mailscope %s serving (pid %d)\n", MAILSCOPE_VERSION, (int)getpid());
	for (size_t i = 0; i < o.nlisteners; i++) {
		static const char *const notes[] = {"STARTTLS offered", "STARTTLS offered", "implicit TLS"};
		printf("  %-12s %s%s  (%s)\n", smtp_mode_name(o.listeners[i].mode),
		       o.listeners[i].mode == SMTP_MODE_SUBMISSIONS ? "smtps://" : "smtp://", bound[i],
		       notes[o.listeners[i].mode]);
	}
	printf("  %-12s %s %s\n", "tls", tls_context_generated(ctx.tls) ? "generated certificate" : "certificate",
	       tls_context_cert_path(ctx.tls));
	printf("  %-12s %s\n", "", tls_context_describe(ctx.tls));
	printf("  %-12s SHA-256 %s\n", "", tls_context_fingerprint(ctx.tls));
	printf("  %-12s %s%s\n", "auth",
	       o.auth.users ? "checked against --users" : "any credentials accepted (--auth any)",
	       o.auth.required ? ", required on submission ports" : "");
	if (!o.http_off) {
		printf("  %-12s http://%s/\n", "web UI", http_bound);
		printf("  %-12s http://%s/api/v1/ (OpenAPI: /api/v1/openapi.json)\n", "API", http_bound);
	}
	/* A PostgreSQL URI may hold a password: only its kind is printed. */
	printf("  %-12s %s (durability %s)\n", "data", o.store.url ? "PostgreSQL (--store)" : o.data_dir,
	       o.store.durability == STORE_DURABILITY_FULL ? "full" : "normal");
	fflush(stdout);
	if (o.ready_file && serve_write_ready(o.ready_file, bound, &o, o.http_off ? NULL : http_bound) < 0)
		goto out;

	event_base_dispatch(ctx.base);
	status = 0;

out:
	/*
	 * Orderly stop: read no more commands, commit what was handed over and
	 * answer those clients, give the replies a moment to leave, then close.
	 */
	if (ctx.smtp) {
		smtp_server_shutdown_begin(ctx.smtp);
		int64_t deadline = timeutil_monotonic_ms() + SERVE_DRAIN_MS;
		while (ctx.stopping < 2 && smtp_server_pending_deliveries(ctx.smtp) > 0 &&
		       timeutil_monotonic_ms() < deadline)
			event_base_loop(ctx.base, EVLOOP_ONCE);
		for (int i = 0; i < 10; i++)
			event_base_loop(ctx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		/* Sessions end here and hand their records to the store, which is still open. */
		smtp_server_free(ctx.smtp);
	}
	event_del(done_ev);
	store_close(ctx.store);
	ctx.store_open = 0;
	http_server_free(ctx.http);
	dns_resolver_free(ctx.resolver);
	tls_context_free(ctx.tls);
	smtp_users_free(ctx.users);
	metrics_free(ctx.metrics);
	event_free(done_ev);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(ctx.base);
	msg_shutdown();
	if (o.ready_file)
		unlink(o.ready_file);
	return status;
}
