/*
 * Unit tests for the libunbound resolver (dns_unbound.c), offline: every
 * answer comes from libunbound's local zones, or from a forwarder on this
 * machine's loopback that the test runs itself (one that never answers:
 * the timeout; one that answers SERVFAIL). Nothing leaves 127.0.0.1: the
 * upstream of every resolver here is a loopback socket of this test.
 * (Names under .test are answered by libunbound's built-in local zones for
 * special-use names, so forwarded queries use example.net.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/dns.h"
#include "dns_test_util.h"

/* A UDP socket on 127.0.0.1 with a kernel-chosen port, as "127.0.0.1@PORT" in upstream. */
static int loopback_udp(char *upstream, size_t len)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(upstream, len, "127.0.0.1@%u", ntohs(sa.sin_port));
	return fd;
}

struct fixture {
	struct event_base *base;
	int dead_fd; /* the forwarder that never answers */
	char upstream[64];
	struct dns_resolver *r;
};

static struct dns_resolver *new_resolver(struct fixture *f, const char *upstream, int timeout_ms)
{
	char err[256];
	struct dns_unbound_config cfg = {.upstream = upstream, .timeout_ms = timeout_ms};
	struct dns_resolver *r = dns_unbound_new(f->base, &cfg, err, sizeof err);
	assert_non_null(r);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->base = event_base_new();
	f->dead_fd = loopback_udp(f->upstream, sizeof f->upstream);
	f->r = new_resolver(f, f->upstream, 2000);
	char err[256];
	const char *data[] = {
	        "a.example.test. 300 IN A 192.0.2.1",
	        "a.example.test. 300 IN A 192.0.2.2",
	        "a.example.test. 300 IN AAAA 2001:db8::1",
	        "a.example.test. 300 IN TXT \"v=spf1 \" \"-all\"",
	        "example.test. 300 IN MX 10 mx.example.test.",
	        "alias.example.test. 300 IN CNAME a.example.test.",
	        "1.2.0.192.in-addr.arpa. 300 IN PTR host.example.test.",
	        "_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 0aff10",
	};
	assert_int_equal(dns_unbound_add_zone(f->r, "example.test.", "static", err, sizeof err), 0);
	assert_int_equal(dns_unbound_add_zone(f->r, "2.0.192.in-addr.arpa.", "static", err, sizeof err), 0);
	for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
		assert_int_equal(dns_unbound_add_data(f->r, data[i], err, sizeof err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(f->r);
	close(f->dead_fd);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void test_local_records(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "a.example.test", DNS_T_A);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->n, 2);
	assert_int_equal(a->sec, DNS_SEC_UNKNOWN); /* no trust anchor: nothing validated */
	dns_answer_free(a);

	a = dns_query_sync(f->r, "A.Example.Test.", DNS_T_AAAA);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->rr[0].addr[1], 0x01);
	assert_int_equal(a->rr[0].addr[15], 0x01);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "a.example.test", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_OK);
	assert_string_equal(a->rr[0].text, "v=spf1 -all");
	assert_int_equal(a->rr[0].nchunks, 2);
	assert_string_equal(a->rr[0].chunks[0], "v=spf1 ");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "_25._tcp.mx.example.test", DNS_T_TLSA);
	dns_test_assert_tlsa(a);
	dns_answer_free(a);

	a = dns_query_sync(f->r, "example.test", DNS_T_MX);
	assert_int_equal(a->rcode, DNS_OK);
	assert_int_equal(a->rr[0].priority, 10);
	assert_string_equal(a->rr[0].text, "mx.example.test");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "1.2.0.192.in-addr.arpa", DNS_T_PTR);
	assert_int_equal(a->rcode, DNS_OK);
	assert_string_equal(a->rr[0].text, "host.example.test");
	dns_answer_free(a);

	a = dns_query_sync(f->r, "alias.example.test", DNS_T_CNAME);
	assert_int_equal(a->rcode, DNS_OK);
	assert_string_equal(a->rr[0].text, "a.example.test");
	dns_answer_free(a);
}

static void test_nxdomain_nodata(void **state)
{
	struct fixture *f = *state;
	struct dns_answer *a = dns_query_sync(f->r, "nope.example.test", DNS_T_A);
	assert_int_equal(a->rcode, DNS_NXDOMAIN);
	assert_int_equal(a->n, 0);
	dns_answer_free(a);
	a = dns_query_sync(f->r, "a.example.test", DNS_T_MX);
	assert_int_equal(a->rcode, DNS_NODATA);
	dns_answer_free(a);
	a = dns_query_sync(f->r, "bad..example.test", DNS_T_A);
	assert_int_equal(a->rcode, DNS_SERVFAIL);
	dns_answer_free(a);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct dns_resolver *r = new_resolver(f, f->upstream, 300);
	assert_non_null(strstr(dns_resolver_describe(r), f->upstream));
	struct dns_answer *a = dns_query_sync(r, "x.forwarded.example.net", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_TIMEOUT);
	assert_non_null(strstr(a->why, "300 ms"));
	dns_answer_free(a);
	dns_resolver_free(r);
}

/* Answers every query on fd with SERVFAIL (RFC 1035 4.1.1: same id, QR, the question echoed). */
static void servfail_responder(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	if (n < 12)
		return;
	buf[2] = (uint8_t)(0x80 | (buf[2] & 0x01)); /* QR, RD as asked */
	buf[3] = 0x80 | 2;                          /* RA, RCODE 2 */
	memset(buf + 6, 0, 6);                      /* no answer, authority, additional */
	/* Drop any EDNS OPT record the query carried: the question is all that is echoed. */
	size_t i = 12;
	while (i < (size_t)n && buf[i] != 0)
		i += buf[i] + 1u;
	i += 5;
	if (i <= (size_t)n)
		sendto(fd, buf, i, 0, (struct sockaddr *)&from, fl);
}

static void test_servfail(void **state)
{
	struct fixture *f = *state;
	char upstream[64];
	int fd = loopback_udp(upstream, sizeof upstream);
	struct event *ev = event_new(f->base, fd, EV_READ | EV_PERSIST, servfail_responder, NULL);
	event_add(ev, NULL);
	struct dns_resolver *r = new_resolver(f, upstream, 3000);
	struct dns_answer *a = dns_query_sync(r, "broken.example.net", DNS_T_TXT);
	assert_int_equal(a->rcode, DNS_SERVFAIL);
	dns_answer_free(a);
	dns_resolver_free(r);
	event_free(ev);
	close(fd);
}

static void never_cb(struct dns_answer *a, void *arg)
{
	(void)a;
	(void)arg;
	fail_msg("a cancelled query's callback ran");
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct dns_resolver *r = new_resolver(f, f->upstream, 200);
	struct dns_query *q = dns_query(r, "y.forwarded.example.net", DNS_T_A, never_cb, NULL);
	dns_query(r, "z.forwarded.example.net", DNS_T_A, never_cb, NULL);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	dns_query_cancel(q);
	dns_resolver_free(r); /* cancels z */
	struct timeval tv = {0, 300000};
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct dns_unbound_config cfg = {.upstream = "not-an-address"};
	assert_null(dns_unbound_new(f->base, &cfg, err, sizeof err));
	assert_non_null(strstr(err, "not-an-address"));
	struct dns_unbound_config cfg2 = {.upstream = f->upstream, .trust_anchor_file = "/nonexistent/root.key"};
	assert_null(dns_unbound_new(f->base, &cfg2, err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/root.key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_local_records, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nxdomain_nodata, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_servfail, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
