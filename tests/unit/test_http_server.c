/*
 * Unit tests for http_server's connection handling, in process: a real
 * loopback socket against the server on its own event loop.
 *
 * TCP_NODELAY: without it, a response larger than one segment kept its tail
 * back under Nagle until the client's delayed ACK, so every keep-alive
 * request after the first took 40 ms (found by bench/api at 1,000,000
 * messages). The test finds the server's side of the connection among this
 * process's descriptors and reads the option back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "http/http_server.h"

struct client {
	struct event_base *base;
	int fd;
	char buf[65536];
	size_t len;
};

static void client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	(void)what;
	ssize_t n = read(fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
	}
	if (n <= 0 || strstr(c->buf, "\r\n\r\n") != NULL)
		event_base_loopbreak(c->base);
}

static void give_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* The server's end of the connection whose peer is the local address of client_fd. */
static int server_side_fd(int client_fd)
{
	struct sockaddr_in mine;
	socklen_t len = sizeof mine;
	if (getsockname(client_fd, (struct sockaddr *)&mine, &len) != 0)
		return -1;
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof peer;
		if (fd == client_fd || getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
			continue;
		if (peer.sin_family == AF_INET && peer.sin_port == mine.sin_port &&
		    peer.sin_addr.s_addr == mine.sin_addr.s_addr)
			return fd;
	}
	return -1;
}

static void test_connections_are_nodelay(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	assert_non_null(base);
	struct http_options opt = {0};
	struct http_server *h = http_server_new(base, NULL, &opt);
	assert_non_null(h);
	struct hostport hp = {.host = "127.0.0.1", .port = 0};
	char bound[64], err[256];
	assert_int_equal(http_server_listen(h, &hp, bound, sizeof bound, err, sizeof err), 0);
	const char *colon = strrchr(bound, ':');
	assert_non_null(colon);

	struct client c = {.base = base};
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c.fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof sa), 0);
	static const char req[] = "GET /ui/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	assert_int_equal(write(c.fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));

	struct event *rd = event_new(base, c.fd, EV_READ | EV_PERSIST, client_read, &c);
	struct event *timeout = evtimer_new(base, give_up, base);
	struct timeval tv = {10, 0};
	event_add(rd, NULL);
	evtimer_add(timeout, &tv);
	event_base_dispatch(base);
	assert_non_null(strstr(c.buf, "HTTP/1.1 200"));

	int sfd = server_side_fd(c.fd);
	assert_true(sfd >= 0);
	int nodelay = 0;
	socklen_t len = sizeof nodelay;
	assert_int_equal(getsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
	assert_int_not_equal(nodelay, 0);

	event_free(rd);
	event_free(timeout);
	close(c.fd);
	http_server_free(h);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_connections_are_nodelay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
