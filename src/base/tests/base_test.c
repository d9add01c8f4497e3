/* Unit tests for base/: strict parsers, key=value lists, checked math. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/eventfd.h"
#include "base/parse.h"

static void test_parse_u64(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_u64("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_u64("0x1f", &v), 0);
	assert_int_equal(v, 31);
	assert_int_equal(parse_u64("", &v), -EINVAL);
	assert_int_equal(parse_u64("-1", &v), -EINVAL);
	assert_int_equal(parse_u64(" 1", &v), -EINVAL);
	assert_int_equal(parse_u64("12abc", &v), -EINVAL);
	assert_int_equal(parse_u64("0x", &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_u64_range("0", 1, 10, &v), -ERANGE);
	assert_int_equal(parse_u64_range("10", 1, 10, &v), 0);
}

static void test_parse_cpu_set(void **state)
{
	(void)state;
	uint64_t bits[2] = { 0 };
	assert_int_equal(parse_cpu_set("0,2-3,70", 128, bits, 2), 0);
	assert_true(bits[0] == 0xdULL && bits[1] == 1ULL << 6);
	uint64_t b = 0;
	assert_int_equal(parse_cpu_set("4-4", 8, &b, 1), 0);
	assert_true(b == 0x10);
	assert_int_equal(parse_cpu_set("8", 8, &b, 1), -ERANGE);
	assert_int_equal(parse_cpu_set("64", 100, &b, 1), -ERANGE);
	assert_int_equal(parse_cpu_set("3-1", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("1,", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set(",1", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("1-", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("-1", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("1 ", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("0x1", 8, &b, 1), -EINVAL);
	assert_int_equal(parse_cpu_set("99999999999", 8, &b, 1), -ERANGE);
}

static void test_parse_size(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("2g", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("100", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(parse_size("K", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
}

static void test_parse_bool(void **state)
{
	(void)state;
	bool b = false;
	assert_int_equal(parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(parse_bool("", &b), 0);
	assert_true(b);
	assert_int_equal(parse_bool("maybe", &b), -EINVAL);
}

static void test_kv(void **state)
{
	(void)state;
	char buf[] = "type=file,path=/tmp/x,console,num=2";
	struct kv_iter it;
	char *k, *v;
	kv_init(&it, buf);
	assert_int_equal(kv_next(&it, &k, &v), 1);
	assert_string_equal(k, "type");
	assert_string_equal(v, "file");
	assert_int_equal(kv_next(&it, &k, &v), 1);
	assert_string_equal(k, "path");
	assert_string_equal(v, "/tmp/x");
	assert_int_equal(kv_next(&it, &k, &v), 1);
	assert_string_equal(k, "console");
	assert_string_equal(v, "");
	assert_int_equal(kv_next(&it, &k, &v), 1);
	assert_string_equal(k, "num");
	assert_int_equal(kv_next(&it, &k, &v), 0);
}

static void test_range(void **state)
{
	(void)state;
	assert_true(ck_range_within(0x1000, 0x1000, 0x1000, 0x1000));
	assert_false(ck_range_within(0x1000, 0x1001, 0x1000, 0x1000));
	assert_false(ck_range_within(0xfff, 1, 0x1000, 0x1000));
	assert_false(ck_range_within(UINT64_MAX, 2, 0, UINT64_MAX));
	assert_true(ck_range_within(0x1fff, 1, 0x1000, 0x1000));
	assert_true(ck_range_within(0x2000, 0, 0x1000, 0x1000));
}

static void test_eventfd(void **state)
{
	(void)state;
	int fd = evfd_create();
	assert_true(fd >= 0);
	assert_int_equal(evfd_drain(fd), 0);
	assert_int_equal(evfd_signal(fd), 0);
	assert_int_equal(evfd_signal(fd), 0);
	assert_int_equal(evfd_drain(fd), 2);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64), cmocka_unit_test(test_parse_size), cmocka_unit_test(test_parse_cpu_set),
		cmocka_unit_test(test_parse_bool), cmocka_unit_test(test_kv),
		cmocka_unit_test(test_range),     cmocka_unit_test(test_eventfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
