/*
 * send_load: `mailscope send --count N --parallel M [--per-connection K]`,
 * the project's own load generator. M conversations run at once on one
 * event loop; each delivers up to K messages on its connection and QUITs;
 * a finished one is replaced while messages remain. Nothing is retried, so
 * a run always ends; every failure is counted under its stage.
 *
 * Measures: messages delivered and failed, connections, completed TLS
 * handshakes, the wall time, and each message's latency from MAIL to the
 * reply after the data (p50 and p99 by sorting; max). A progress line is
 * redrawn on standard error when it is a terminal.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/send_internal.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

#define SEND_LOAD_PROGRESS_MS 250

struct send_load {
	const struct send_options *o;
	struct event_base *base;
	const struct smtp_client_config *cc;
	struct smtp_submit_plan plan;
	uint64_t assigned, tried, delivered, failed;
	uint64_t connections, handshakes;
	uint64_t errors[SMTP_STAGE__COUNT];
	unsigned active;
	int64_t *lat;
	size_t nlat;
	int64_t start_ms;
	char *first_error;
	int progress_shown;
	struct event *progress;
};

/* One conversation and the messages it was given. */
struct send_load_conn {
	struct send_load *l;
	unsigned messages;
};

static void send_load_done(struct smtp_submit *s, void *arg);

static void send_load_start_one(struct send_load *l)
{
	uint64_t left = l->o->count - l->assigned;
	struct send_load_conn *c = xcalloc(1, sizeof *c);
	c->l = l;
	c->messages = (unsigned)(left < l->o->per_connection ? left : l->o->per_connection);
	l->assigned += c->messages;
	l->active++;
	l->plan.messages = c->messages;
	smtp_submit_start(l->cc, &l->plan, send_load_done, c);
}

static double send_load_rate(uint64_t n, int64_t ms)
{
	return ms > 0 ? (double)n * 1000.0 / (double)ms : 0.0;
}

static void send_load_progress_line(struct send_load *l, int final)
{
	int64_t ms = timeutil_monotonic_ms() - l->start_ms;
	fprintf(stderr, "\r  %llu/%llu delivered, %llu failed, %.0f msg/s%s", (unsigned long long)l->delivered,
	        (unsigned long long)l->o->count, (unsigned long long)l->failed, send_load_rate(l->delivered, ms),
	        final ? "\n" : "   ");
	fflush(stderr);
	l->progress_shown = 1;
}

static void send_load_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	send_load_progress_line(arg, 0);
}

static void send_load_done(struct smtp_submit *s, void *arg)
{
	struct send_load_conn *c = arg;
	struct send_load *l = c->l;
	const struct smtp_submit_result *r = smtp_submit_result(s);

	l->connections++;
	l->handshakes += (uint64_t)r->tls_handshakes;
	l->delivered += r->delivered;
	l->tried += c->messages;
	for (unsigned i = 0; i < r->nmessages; i++) {
		if (r->messages[i].delivered) {
			l->lat = xrealloc(l->lat, (l->nlat + 1) * sizeof *l->lat);
			l->lat[l->nlat++] = r->messages[i].latency_ms;
		}
	}
	if (!r->ok) {
		/* Stopping early (--quit-after) delivers nothing and fails nothing. */
		l->failed += c->messages - r->delivered;
		l->errors[r->failed_stage]++;
	} else if (r->rcpt_refused) {
		l->errors[SMTP_STAGE_RCPT]++;
	}
	if ((!r->ok || r->rcpt_refused) && l->first_error == NULL && r->error != NULL)
		l->first_error = xasprintf("%s: %s", r->ok ? "rcpt" : smtp_stage_name(r->failed_stage), r->error);
	smtp_submit_free(s);
	free(c);
	l->active--;
	if (l->assigned < l->o->count)
		send_load_start_one(l);
	else if (l->active == 0)
		event_base_loopbreak(l->base);
}

static int send_load_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The value at quantile q (0..1) of the sorted latencies, nearest rank. */
static int64_t send_load_quantile(const struct send_load *l, double q)
{
	if (l->nlat == 0)
		return 0;
	size_t rank = (size_t)(q * (double)l->nlat + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > l->nlat)
		rank = l->nlat;
	return l->lat[rank - 1];
}

static int send_load_exit(const struct send_load *l)
{
	for (int s = 0; s < SMTP_STAGE__COUNT; s++)
		if (l->errors[s] > 0)
			return send_exit_for_stage((enum smtp_stage)s);
	return SEND_EXIT_OK;
}

static void send_load_report_text(const struct send_load *l, int64_t ms)
{
	printf("messages: %llu delivered, %llu failed, %llu tried in %.2f s\n", (unsigned long long)l->delivered,
	       (unsigned long long)l->failed, (unsigned long long)l->tried, (double)ms / 1000.0);
	printf("rate: %.1f msg/s; %llu connections, %llu TLS handshakes (%.1f/s)\n", send_load_rate(l->delivered, ms),
	       (unsigned long long)l->connections, (unsigned long long)l->handshakes,
	       send_load_rate(l->handshakes, ms));
	if (l->nlat > 0)
		printf("latency (MAIL to the reply after the data): p50 %lld ms, p99 %lld ms, max %lld ms\n",
		       (long long)send_load_quantile(l, 0.50), (long long)send_load_quantile(l, 0.99),
		       (long long)l->lat[l->nlat - 1]);
	printf("errors by stage:");
	int any = 0;
	for (int s = 0; s < SMTP_STAGE__COUNT; s++) {
		if (l->errors[s] > 0) {
			printf("%s %s %llu", any ? "," : "", smtp_stage_name((enum smtp_stage)s),
			       (unsigned long long)l->errors[s]);
			any = 1;
		}
	}
	printf("%s\n", any ? "" : " none");
	if (l->first_error != NULL)
		printf("first error: %s\n", l->first_error);
}

static void send_load_report_json(const struct send_load *l, int64_t ms, int rc)
{
	json_t *j = json_object(), *msgs = json_object(), *errs = json_object(), *lat = json_object();
	json_object_set_new(j, "mode", json_string("load"));
	json_object_set_new(j, "server", json_string(l->o->server.host));
	json_object_set_new(j, "port", json_integer(l->o->server.port));
	json_object_set_new(j, "tls_mode", json_string(smtp_tls_mode_name(l->o->tls)));
	json_object_set_new(j, "ok", json_boolean(rc == SEND_EXIT_OK));
	json_object_set_new(j, "exit_code", json_integer(rc));
	json_object_set_new(msgs, "tried", json_integer((json_int_t)l->tried));
	json_object_set_new(msgs, "delivered", json_integer((json_int_t)l->delivered));
	json_object_set_new(msgs, "failed", json_integer((json_int_t)l->failed));
	json_object_set_new(j, "messages", msgs);
	json_object_set_new(j, "parallel", json_integer((json_int_t)l->o->parallel));
	json_object_set_new(j, "per_connection", json_integer((json_int_t)l->o->per_connection));
	json_object_set_new(j, "connections", json_integer((json_int_t)l->connections));
	json_object_set_new(j, "tls_handshakes", json_integer((json_int_t)l->handshakes));
	json_object_set_new(j, "elapsed_ms", json_integer(ms));
	json_object_set_new(j, "msg_per_s", json_real(send_load_rate(l->delivered, ms)));
	json_object_set_new(j, "handshakes_per_s", json_real(send_load_rate(l->handshakes, ms)));
	json_object_set_new(lat, "p50", json_integer(send_load_quantile(l, 0.50)));
	json_object_set_new(lat, "p99", json_integer(send_load_quantile(l, 0.99)));
	json_object_set_new(lat, "max", json_integer(l->nlat ? l->lat[l->nlat - 1] : 0));
	json_object_set_new(j, "latency_ms", l->nlat ? lat : json_null());
	if (!l->nlat)
		json_decref(lat);
	for (int s = 0; s < SMTP_STAGE__COUNT; s++)
		json_object_set_new(errs, smtp_stage_name((enum smtp_stage)s), json_integer((json_int_t)l->errors[s]));
	json_object_set_new(j, "errors", errs);
	json_object_set_new(j, "first_error", l->first_error ? json_string(l->first_error) : json_null());
	send_json_print(j);
	json_decref(j);
}

int send_load_run(const struct send_options *o, struct event_base *base, const struct smtp_client_config *cc,
                  const struct smtp_submit_plan *plan)
{
	struct send_load l = {.o = o, .base = base, .cc = cc, .plan = *plan};
	l.start_ms = timeutil_monotonic_ms();
	if (!o->json && !o->quiet && isatty(STDERR_FILENO)) {
		struct timeval tv = {SEND_LOAD_PROGRESS_MS / 1000, (SEND_LOAD_PROGRESS_MS % 1000) * 1000};
		l.progress = event_new(base, -1, EV_PERSIST, send_load_progress_cb, &l);
		event_add(l.progress, &tv);
	}
	for (uint64_t i = 0; i < o->parallel && l.assigned < o->count; i++)
		send_load_start_one(&l);
	while (l.active > 0)
		event_base_dispatch(base);
	int64_t ms = timeutil_monotonic_ms() - l.start_ms;
	if (l.progress != NULL) {
		event_free(l.progress);
		send_load_progress_line(&l, 1);
	}
	if (l.nlat > 1)
		qsort(l.lat, l.nlat, sizeof *l.lat, send_load_cmp);
	int rc = send_load_exit(&l);
	if (o->json)
		send_load_report_json(&l, ms, rc);
	else if (!o->quiet)
		send_load_report_text(&l, ms);
	if (rc != SEND_EXIT_OK && l.first_error != NULL)
		fprintf(stderr, "%s: %llu of %llu messages failed; first error: %s\n", SEND_PROG,
		        (unsigned long long)l.failed, (unsigned long long)l.tried, l.first_error);
	fflush(stdout);
	free(l.lat);
	free(l.first_error);
	return rc;
}
