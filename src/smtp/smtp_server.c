/*
 * smtp_server: listeners, connection accounting and shutdown. The
 * conversation itself lives in smtp_session.c.
 */
#include "smtp/smtp_server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "smtp/smtp_auth_limit.h"
#include "smtp/smtp_internal.h"

/* Connections waiting in the kernel for accept(); large so load bursts are not refused. */
#define SMTP_LISTEN_BACKLOG 4096

static const char *const smtp_mode_names[] = {"smtp", "submission", "submissions"};

const char *smtp_mode_name(enum smtp_mode mode)
{
	return smtp_mode_names[mode];
}

void smtp_limits_default(struct smtp_limits *l)
{
	l->max_message_size = 25u * 1024 * 1024;
	l->max_recipients = 100;
	l->idle_timeout_ms = 300 * 1000;
	l->max_connections = 4096;
	l->max_connections_per_ip = 1024;
	l->soft_error_limit = 10;
	l->hard_error_limit = 20;
	l->error_delay_ms = 1000;
	l->bare_newline = SMTP_POLICY_ACCEPT;
	l->long_lines = SMTP_POLICY_ACCEPT;
	l->nul_bytes = SMTP_POLICY_ACCEPT;
	l->strict_pipelining = 1;
	l->implicit_tls_wait_ms = 3000;
	l->greeting_delay_ms = 0;
	l->transcript_max_bytes = 64 * 1024;
}

int smtp_listener_spec_parse(const char *s, struct smtp_listener_spec *out, char *err, size_t errlen)
{
	const char *at = strchr(s, '@');
	if (at == NULL) {
		snprintf(err, errlen, "'%s': expected MODE@HOST:PORT, e.g. submission@127.0.0.1:1587", s);
		return -1;
	}
	size_t mlen = (size_t)(at - s);
	int found = 0;
	for (int i = 0; i < 3; i++) {
		if (strlen(smtp_mode_names[i]) == mlen && strncmp(s, smtp_mode_names[i], mlen) == 0) {
			out->mode = (enum smtp_mode)i;
			found = 1;
		}
	}
	if (!found) {
		snprintf(err, errlen, "'%s': unknown mode '%.*s' (use smtp, submission or submissions)", s,
		         (int)(mlen > 32 ? 32 : mlen), s);
		return -1;
	}
	return addr_parse_hostport(at + 1, &out->addr, err, errlen);
}

struct smtp_server *smtp_server_new(struct event_base *base, const struct smtp_server_config *cfg)
{
	struct smtp_server *srv = xcalloc(1, sizeof *srv);
	srv->base = base;
	srv->cfg = *cfg;
	srv->hostname = xstrdup(cfg->hostname);
	srv->cfg.hostname = srv->hostname;
	if (cfg->auth.fail_limit || cfg->auth.fail_delay_ms > 0)
		srv->auth_limit = smtp_auth_limit_new(SMTP_AUTH_LIMIT_DEFAULT_ENTRIES, cfg->auth.fail_limit,
		                                      cfg->auth.fail_window_ms > 0 ? cfg->auth.fail_window_ms
		                                                                   : SMTP_AUTH_FAIL_DEFAULT_WINDOW);
	return srv;
}

static void smtp_server_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen,
                               void *arg)
{
	struct smtp_listener *lst = arg;
	smtp_session_start(lst, fd, sa);
}

static void smtp_server_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_listener *lst = arg;
	if (lst->evl)
		evconnlistener_enable(lst->evl);
}

static void smtp_server_accept_error(struct evconnlistener *evl, void *arg)
{
	struct smtp_listener *lst = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		/* Level-triggered: the backlog stays readable. Pause instead of spinning. */
		evconnlistener_disable(evl);
		if (lst->retry == NULL)
			lst->retry = evtimer_new(lst->srv->base, smtp_server_accept_retry, lst);
		struct timeval tv = {0, 250 * 1000};
		evtimer_add(lst->retry, &tv);
	}
	/* EMFILE/ENFILE: out of descriptors. libevent retries on the next readiness. */
	log_warn("accept on %s failed: %s", lst->addr, evutil_socket_error_to_string(e));
}

int smtp_server_listen(struct smtp_server *srv, const struct smtp_listener_spec *spec, char *bound_addr,
                       size_t bound_len, char *err, size_t errlen)
{
	if (spec->mode == SMTP_MODE_SUBMISSIONS && srv->cfg.tls == NULL) {
		snprintf(err, errlen, "submissions listener %s:%u needs TLS, which is not configured", spec->addr.host,
		         spec->addr.port);
		return -1;
	}
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char port[8];
	snprintf(port, sizeof port, "%u", spec->addr.port);
	int rc = getaddrinfo(spec->addr.host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", spec->addr.host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		const char *hint = "";
		if (e == EACCES && spec->addr.port < 1024)
			hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
		else if (e == EADDRINUSE)
			hint = " (another program listens there; pick another port with --listen)";
		else if (e == EADDRNOTAVAIL)
			hint = " (no interface has that address)";
		snprintf(err, errlen, "cannot listen on %s:%s: %s%s", spec->addr.host, port, strerror(e), hint);
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);

	struct smtp_listener *lst = xcalloc(1, sizeof *lst);
	lst->srv = srv;
	lst->mode = spec->mode;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	addr_format_sockaddr((struct sockaddr *)&ss, lst->addr, sizeof lst->addr);

	lst->evl = evconnlistener_new(srv->base, smtp_server_accept, lst, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                              SMTP_LISTEN_BACKLOG, fd);
	if (lst->evl == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", lst->addr, strerror(errno));
		close(fd);
		free(lst);
		return -1;
	}
	evconnlistener_set_error_cb(lst->evl, smtp_server_accept_error);
	lst->next = srv->listeners;
	srv->listeners = lst;
	snprintf(bound_addr, bound_len, "%s", lst->addr);
	return 0;
}

void smtp_server_stop_listening(struct smtp_server *srv)
{
	/* Sessions point at their listener: only the socket goes now, the struct in smtp_server_free. */
	for (struct smtp_listener *lst = srv->listeners; lst; lst = lst->next) {
		if (lst->evl) {
			evconnlistener_free(lst->evl);
			lst->evl = NULL;
		}
		if (lst->retry) {
			event_free(lst->retry);
			lst->retry = NULL;
		}
	}
}

static void smtp_server_free_listeners(struct smtp_server *srv)
{
	struct smtp_listener *lst = srv->listeners;
	while (lst) {
		struct smtp_listener *next = lst->next;
		free(lst);
		lst = next;
	}
	srv->listeners = NULL;
}

void smtp_server_shutdown_begin(struct smtp_server *srv)
{
	smtp_server_stop_listening(srv);
	srv->shutting_down = 1;
}

unsigned smtp_server_pending_deliveries(const struct smtp_server *srv)
{
	unsigned n = 0;
	for (const struct smtp_session *s = srv->sessions; s; s = s->next)
		n += s->delivery != NULL;
	return n;
}

unsigned smtp_server_session_count(const struct smtp_server *srv)
{
	return srv->nsessions;
}

/* FNV-1a over the address text: a small, even spread over the buckets. */
static unsigned smtp_server_ip_bucket(const char *ip)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)ip; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % SMTP_IP_BUCKETS;
}

static struct smtp_ip_count **smtp_server_ip_find(struct smtp_server *srv, const char *ip)
{
	struct smtp_ip_count **pp = &srv->ip_counts[smtp_server_ip_bucket(ip)];
	while (*pp && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

void smtp_server_session_added(struct smtp_server *srv, struct smtp_session *s)
{
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	s->no = ++srv->next_session_no;

	struct smtp_ip_count **pp = smtp_server_ip_find(srv, s->client_ip);
	if (*pp == NULL) {
		*pp = xcalloc(1, sizeof **pp);
		snprintf((*pp)->ip, sizeof(*pp)->ip, "%s", s->client_ip);
	}
	(*pp)->count++;
	s->ip_counted = 1;
}

void smtp_server_session_removed(struct smtp_server *srv, struct smtp_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	srv->nsessions--;

	if (!s->ip_counted)
		return;
	struct smtp_ip_count **pp = smtp_server_ip_find(srv, s->client_ip);
	if (*pp && --(*pp)->count == 0) {
		struct smtp_ip_count *dead = *pp;
		*pp = dead->next;
		free(dead);
	}
	s->ip_counted = 0;
}

/* How many sessions this client address has open now (used at accept). */
unsigned smtp_server_ip_sessions(struct smtp_server *srv, const char *ip)
{
	struct smtp_ip_count **pp = smtp_server_ip_find(srv, ip);
	return *pp ? (*pp)->count : 0;
}

void smtp_server_free(struct smtp_server *srv)
{
	if (srv == NULL)
		return;
	smtp_server_stop_listening(srv);
	while (srv->sessions)
		smtp_session_abort(srv->sessions, "421 4.3.2 Service shutting down, closing connection");
	smtp_server_free_listeners(srv);
	for (int i = 0; i < SMTP_IP_BUCKETS; i++) {
		while (srv->ip_counts[i]) {
			struct smtp_ip_count *n = srv->ip_counts[i]->next;
			free(srv->ip_counts[i]);
			srv->ip_counts[i] = n;
		}
	}
	smtp_auth_limit_free(srv->auth_limit);
	free(srv->hostname);
	free(srv);
}

void smtp_message_free(struct smtp_message *m)
{
	if (m == NULL)
		return;
	free(m->mail_from);
	for (size_t i = 0; i < m->nrcpts; i++) {
		free(m->rcpts[i].address);
		free(m->rcpts[i].orcpt);
	}
	free(m->rcpts);
	free(m->helo);
	free(m->client_ip);
	free(m->listener_addr);
	free(m->envid);
	free(m->raw);
	free(m);
}
