/*
 * Unit tests for the client's SASL responses (smtp_auth_client.c): each is
 * fed to the server's own exchange (smtp_auth_start/step) and checked with
 * smtp_users_check, RFC 2195's example is reproduced, and inputs that
 * cannot be sent are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/smtp_auth.h"

static struct smtp_users *users_file(void)
{
	char path[] = "/tmp/mailscope-auth-client-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "tim:tanstaaftanstaaf\nbob:pass:with:colons\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char err[300], warn[300];
	struct smtp_users *u = smtp_users_load(path, err, sizeof err, warn, sizeof warn);
	unlink(path);
	assert_non_null(u);
	return u;
}

static void test_plain(void **state)
{
	struct smtp_users *u = users_file();
	char resp[600], ch[200];
	struct smtp_auth_exchange x;
	assert_true(smtp_auth_client_plain(NULL, "bob", "pass:with:colons", resp, sizeof resp) > 0);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, resp, "mx", 1, 2, ch, sizeof ch), SMTP_AUTH_DONE);
	assert_string_equal(x.user, "bob");
	assert_true(smtp_users_check(u, &x));
	smtp_auth_exchange_clear(&x);
	assert_true(smtp_auth_client_plain("bob", "bob", "wrong", resp, sizeof resp) > 0);
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_PLAIN, resp, "mx", 1, 2, ch, sizeof ch), SMTP_AUTH_DONE);
	assert_string_equal(x.authzid, "bob");
	assert_false(smtp_users_check(u, &x));
	smtp_auth_exchange_clear(&x);
	/* RFC 4616's example: "\0tim\0tanstaaftanstaaf". */
	assert_true(smtp_auth_client_plain(NULL, "tim", "tanstaaftanstaaf", resp, sizeof resp) > 0);
	assert_string_equal(resp, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	/* Too small a buffer, an empty user, a field too long. */
	assert_int_equal(smtp_auth_client_plain(NULL, "tim", "x", resp, 4), -1);
	assert_int_equal(smtp_auth_client_plain(NULL, "", "x", resp, sizeof resp), -1);
	char big[SMTP_AUTH_FIELD_MAX + 1];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(smtp_auth_client_plain(NULL, "tim", big, resp, sizeof resp), -1);
	smtp_users_free(u);
}

static void test_login(void **state)
{
	struct smtp_users *u = users_file();
	char user[100], pass[100], ch[200];
	struct smtp_auth_exchange x;
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_LOGIN, NULL, "mx", 1, 2, ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_true(smtp_auth_client_login("tim", user, sizeof user) > 0);
	assert_int_equal(smtp_auth_step(&x, user, strlen(user), ch, sizeof ch), SMTP_AUTH_CONTINUE);
	assert_true(smtp_auth_client_login("tanstaaftanstaaf", pass, sizeof pass) > 0);
	assert_int_equal(smtp_auth_step(&x, pass, strlen(pass), ch, sizeof ch), SMTP_AUTH_DONE);
	assert_true(smtp_users_check(u, &x));
	smtp_auth_exchange_clear(&x);
	smtp_users_free(u);
}

static void test_cram_md5(void **state)
{
	struct smtp_users *u = users_file();
	char resp[600], ch[200];
	struct smtp_auth_exchange x;
	/* RFC 2195 2: the example challenge and answer. */
	assert_true(smtp_auth_client_cram("tim", "tanstaaftanstaaf",
	                                  "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", resp,
	                                  sizeof resp) > 0);
	assert_string_equal(resp, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	/* Against the server's own challenge. */
	assert_int_equal(smtp_auth_start(&x, SMTP_AUTH_CRAM_MD5, NULL, "mx.test", 42, 1700000000, ch, sizeof ch),
	                 SMTP_AUTH_CONTINUE);
	assert_true(smtp_auth_client_cram("tim", "tanstaaftanstaaf", ch, resp, sizeof resp) > 0);
	assert_int_equal(smtp_auth_step(&x, resp, strlen(resp), ch, sizeof ch), SMTP_AUTH_DONE);
	assert_true(smtp_users_check(u, &x));
	smtp_auth_exchange_clear(&x);
	/* A challenge that is not base64. */
	assert_int_equal(smtp_auth_client_cram("tim", "x", "not base64!", resp, sizeof resp), -1);
	smtp_users_free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain),
	        cmocka_unit_test(test_login),
	        cmocka_unit_test(test_cram_md5),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
