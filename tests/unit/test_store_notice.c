/* The PostgreSQL store's notification payloads (store_pg_notice_parse): what the writer sends, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/store_pg_internal.h"

static void test_notice_message(void **state)
{
	struct store_pg_notice n;
	assert_int_equal(store_pg_notice_parse("3 7350114229190164480\talice@example.com\tbob@example.org", &n), 0);
	assert_int_equal(n.node, 3);
	assert_true(n.id == UINT64_C(7350114229190164480));
	assert_int_equal(n.deleted, 0);
	assert_int_equal(n.nrcpt, 2);
	assert_int_equal(store_pg_notice_parse("0 1", &n), 0);
	assert_int_equal(n.nrcpt, 0);
	assert_int_equal(store_pg_notice_parse("255 9223372036854775807\t*", &n), 0); /* the inbox list was cut */
}

static void test_notice_delete(void **state)
{
	struct store_pg_notice n;
	assert_int_equal(store_pg_notice_parse("7 d 42", &n), 0);
	assert_int_equal(n.node, 7);
	assert_true(n.id == 42 && n.deleted);
	assert_int_equal(store_pg_notice_parse("7 d 0", &n), 0); /* a bulk delete */
	assert_true(n.id == 0 && n.deleted);
}

static void test_notice_refused(void **state)
{
	static const char *const bad[] = {
	        "",
	        "1",
	        "1 ",
	        "256 1",
	        "-1 5",
	        "1 0",
	        "1 -5",
	        "1 12x",
	        "x 1",
	        "1  2",
	        "1 d",
	        "1 d 5\tx",
	        "1 d5",
	        " 1 2",
	        "1 2 3",
	        "01x 2",
	        "1 9223372036854775808", /* past BIGINT */
	        "1 99999999999999999999999",
	};
	struct store_pg_notice n;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (store_pg_notice_parse(bad[i], &n) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_notice_message),
	        cmocka_unit_test(test_notice_delete),
	        cmocka_unit_test(test_notice_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
