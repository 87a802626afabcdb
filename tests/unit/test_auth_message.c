/*
 * Unit tests for auth_message (every check of one message, asynchronous):
 * the callback never runs inside auth_message_start(); SPF, DKIM, DMARC
 * and ARC results of an ed25519-signed message with the envelope (SPF
 * pass, DMARC pass through both) and without it (SPF not checked, left out
 * of Authentication-Results); two evaluations on one loop at once; a
 * cancelled evaluation never calls back and leaks nothing (ASan); the JSON
 * keys `check message --json` prints; fold on and off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "auth/arc.h"
#include "auth/auth_message.h"
#include "auth/dkim.h"
#include "auth/dmarc.h"
#include "auth/dns.h"
#include "auth/spf.h"
#include "dkim_test_signer.h"
#include "dns_test_util.h"

static const char *const MESSAGE = "From: Joe <joe@example.com>\r\n"
                                   "To: Suzie <suzie@example.net>\r\n"
                                   "Subject: dinner\r\n"
                                   "\r\n"
                                   "Are you hungry yet?\r\n";

struct fixture {
	struct event_base *base;
	struct dns_resolver *r;
	char *signed_msg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	EVP_PKEY *pk = test_key_ed25519();
	struct test_sign_opts o = {.a = "ed25519-sha256", .d = "example.com", .s = "sel", .l = -1};
	f->signed_msg = test_dkim_sign(pk, MESSAGE, &o);
	char *rec = test_key_record(pk, 0, NULL);
	EVP_PKEY_free(pk);
	json_t *z = json_pack("{s:{s:[s]}, s:{s:[s]}, s:{s:[s]}}", "sel._domainkey.example.com", "TXT", rec,
	                      "_dmarc.example.com", "TXT", "v=DMARC1; p=reject", "example.com", "TXT",
	                      "v=spf1 ip4:192.0.2.0/24 -all");
	free(rec);
	f->base = event_base_new();
	f->r = dns_test_cache(f->base, z);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_test_free(f->base, f->r);
	free(f->signed_msg);
	free(f);
	return 0;
}

struct got {
	struct auth_message_result *m;
	int calls;
};

static void on_done(struct auth_message_result *m, void *arg)
{
	struct got *g = arg;
	g->m = m;
	g->calls++;
}

static void test_async_with_envelope(void **state)
{
	struct fixture *f = *state;
	struct auth_message_request req = {.msg = (const uint8_t *)f->signed_msg,
	                                   .len = strlen(f->signed_msg),
	                                   .ip = "192.0.2.7",
	                                   .helo = "mx.example.com",
	                                   .mail_from = "bounce@example.com"};
	struct got a = {0}, b = {0};
	auth_message_start(f->r, &req, on_done, &a);
	req.ip = "203.0.113.1";
	auth_message_start(f->r, &req, on_done, &b);
	assert_int_equal(a.calls + b.calls, 0); /* never from inside the start */
	while (a.calls == 0 || b.calls == 0)
		assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.m->spf->result, SPF_RESULT_PASS);
	assert_int_equal(a.m->dkim->n, 1);
	assert_int_equal(a.m->dkim->sigs[0].result, DKIM_RESULT_PASS);
	assert_int_equal(a.m->dmarc->result, DMARC_RESULT_PASS);
	assert_true(a.m->dmarc->spf_aligned && a.m->dmarc->dkim_aligned);
	assert_int_equal(a.m->arc->result, ARC_RESULT_NONE);
	assert_non_null(strstr(a.m->authres, "spf=pass smtp.mailfrom=example.com"));
	assert_null(strchr(a.m->authres, '\r')); /* fold 0: one line */
	assert_non_null(strstr(a.m->received_spf, "client-ip=192.0.2.7"));
	assert_int_equal(json_array_size(a.m->findings), 0);
	/* The other evaluation, from an address the record does not list. */
	assert_int_equal(b.m->spf->result, SPF_RESULT_FAIL);
	assert_int_equal(b.m->dmarc->result, DMARC_RESULT_PASS); /* DKIM still aligns */
	assert_true(json_array_size(b.m->findings) >= 1);

	json_t *j = auth_message_json(a.m);
	const char *keys[] = {"spf", "dkim", "dmarc", "arc", "authentication_results", "received_spf", "findings"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_non_null(json_object_get(j, keys[i]));
	assert_int_equal(json_object_size(j), sizeof keys / sizeof keys[0]);
	json_decref(j);
	auth_message_result_free(a.m);
	auth_message_result_free(b.m);
}

static void test_without_envelope(void **state)
{
	struct fixture *f = *state;
	struct auth_message_request req = {
	        .msg = (const uint8_t *)f->signed_msg, .len = strlen(f->signed_msg), .fold = 1};
	struct auth_message_result *m = auth_message_sync(f->r, &req);
	assert_non_null(m);
	assert_null(m->spf);
	assert_null(m->received_spf);
	assert_null(strstr(m->authres, "spf="));
	assert_non_null(strstr(m->authres, ";\r\n\tdkim=pass"));
	assert_string_equal(json_string_value(json_array_get(m->findings, 0)),
	                    "SPF not checked: the envelope is not in the file; give --ip ADDR and --mail-from ADDR "
	                    "(and --helo NAME)");
	json_t *j = auth_message_json(m);
	assert_true(json_is_false(json_object_get(json_object_get(j, "spf"), "checked")));
	assert_true(json_is_null(json_object_get(j, "received_spf")));
	json_decref(j);
	auth_message_result_free(m);
	/* An IP without any identity (no MAIL FROM, no HELO): SPF is not checked either. */
	req.ip = "192.0.2.7";
	req.mail_from = "";
	m = auth_message_sync(f->r, &req);
	assert_null(m->spf);
	auth_message_result_free(m);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct auth_message_request req = {.msg = (const uint8_t *)f->signed_msg,
	                                   .len = strlen(f->signed_msg),
	                                   .ip = "192.0.2.7",
	                                   .mail_from = "bounce@example.com"};
	struct got g = {0};
	struct auth_message_check *c = auth_message_start(f->r, &req, on_done, &g);
	/* Part way: some checks done, DMARC maybe started. */
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (g.calls == 0)
		auth_message_cancel(c);
	else
		auth_message_result_free(g.m);
	int calls = g.calls;
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(g.calls, calls);
	/* Cancelled at once, before anything ran. */
	c = auth_message_start(f->r, &req, on_done, &g);
	auth_message_cancel(c);
	for (int i = 0; i < 20; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(g.calls, calls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_async_with_envelope, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_without_envelope, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
