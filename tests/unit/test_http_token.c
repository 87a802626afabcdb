/*
 * The API token check is constant-time: http_token_equal() hashes the given
 * token and compares SHA-256 digests with OpenSSL's CRYPTO_memcmp, always
 * over the whole digest, whatever the token, its length or where it differs.
 *
 * This test defines CRYPTO_memcmp itself: the executable's definition is the
 * one the library's call binds to, so every comparison the check makes is
 * seen here (its length, how many calls). The stand-in is constant-time too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_internal.h"

int CRYPTO_memcmp(const void *a, const void *b, size_t len);

static unsigned memcmp_calls;
static size_t memcmp_last_len;

int CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	unsigned char diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	memcmp_calls++;
	memcmp_last_len = len;
	return diff != 0;
}

static int check(const char *token, const char *given)
{
	unsigned char want[HTTP_TOKEN_DIGEST_LEN];
	http_token_digest(token, want);
	memcmp_calls = 0;
	memcmp_last_len = 0;
	return http_token_equal(want, given);
}

static void test_right_token(void **state)
{
	(void)state;
	assert_int_equal(check("s3cret-token", "s3cret-token"), 1);
	assert_int_equal(memcmp_calls, 1);
	assert_int_equal(memcmp_last_len, HTTP_TOKEN_DIGEST_LEN);
}

/* Wrong at the first byte, at the last, shorter, longer, empty: one full-length CRYPTO_memcmp each. */
static void test_wrong_tokens_take_the_same_path(void **state)
{
	(void)state;
	static const char *const wrong[] = {"x3cret-token", "s3cret-tokex", "s3cret", "s3cret-token-and-more", "",
	                                    "S3CRET-TOKEN"};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		assert_int_equal(check("s3cret-token", wrong[i]), 0);
		assert_int_equal(memcmp_calls, 1);
		assert_int_equal(memcmp_last_len, HTTP_TOKEN_DIGEST_LEN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_right_token),
	        cmocka_unit_test(test_wrong_tokens_take_the_same_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
