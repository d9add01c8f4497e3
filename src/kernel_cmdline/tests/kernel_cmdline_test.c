/* Unit tests for the kernel command-line builder: separators, limits,
 * all-or-nothing failure, control-character refusal and key lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "kernel_cmdline/kernel_cmdline.h"

static void test_empty(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 4096);
	assert_string_equal(kcmd_str(&c), "");
	assert_int_equal(kcmd_len_with_nul(&c), 1);
	assert_false(kcmd_has_key(&c, "console"));
}

static void test_append_separator(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 4096);
	assert_int_equal(kcmd_append(&c, "panic=-1"), 0);
	assert_string_equal(kcmd_str(&c), "panic=-1");
	assert_int_equal(kcmd_append(&c, "  root=/dev/vda rw  "), 0);
	assert_string_equal(kcmd_str(&c), "panic=-1 root=/dev/vda rw");
	assert_int_equal(kcmd_append_kv(&c, "console", "ttyS0"), 0);
	assert_string_equal(kcmd_str(&c), "panic=-1 root=/dev/vda rw console=ttyS0");
	assert_int_equal(kcmd_len_with_nul(&c), strlen(kcmd_str(&c)) + 1);
}

static void test_reject_bad_strings(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 4096);
	assert_int_equal(kcmd_append(&c, "a"), 0);
	assert_int_equal(kcmd_append(&c, NULL), -EINVAL);
	assert_int_equal(kcmd_append(&c, ""), -EINVAL);
	assert_int_equal(kcmd_append(&c, "   "), -EINVAL);
	assert_int_equal(kcmd_append(&c, "x\ny"), -EINVAL);
	assert_int_equal(kcmd_append(&c, "x\ty"), -EINVAL);
	assert_int_equal(kcmd_append(&c, "\x7f"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "", "v"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "a b", "v"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "a=b", "v"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "k", "v\"w"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "k", "v\r"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, NULL, "v"), -EINVAL);
	assert_int_equal(kcmd_append_kv(&c, "k", NULL), -EINVAL);
	/* Nothing was changed by the refusals. */
	assert_string_equal(kcmd_str(&c), "a");
	/* Non-ASCII bytes are fine. */
	assert_int_equal(kcmd_append(&c, "name=caf\xc3\xa9"), 0);
}

static void test_kv_quoting(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 4096);
	assert_int_equal(kcmd_append_kv(&c, "init.args", "a b"), 0);
	assert_int_equal(kcmd_append_kv(&c, "empty", ""), 0);
	assert_string_equal(kcmd_str(&c), "init.args=\"a b\" empty=");
	assert_true(kcmd_has_key(&c, "init.args"));
	assert_true(kcmd_has_key(&c, "empty"));
	assert_false(kcmd_has_key(&c, "b"));
}

static void test_capacity_exact(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 8); /* 7 characters + NUL */
	assert_int_equal(kcmd_append(&c, "abc"), 0);
	assert_int_equal(kcmd_append(&c, "defg"), -E2BIG); /* "abc defg" = 8 chars */
	assert_string_equal(kcmd_str(&c), "abc");
	assert_int_equal(kcmd_append(&c, "def"), 0); /* "abc def" = 7 chars */
	assert_string_equal(kcmd_str(&c), "abc def");
	assert_int_equal(kcmd_len_with_nul(&c), 8);
	assert_int_equal(kcmd_append(&c, "x"), -E2BIG);
	assert_int_equal(kcmd_append_kv(&c, "k", ""), -E2BIG);
	assert_string_equal(kcmd_str(&c), "abc def");
}

static void test_capacity_kv(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 6);
	assert_int_equal(kcmd_append_kv(&c, "k", "a b"), -E2BIG); /* k="a b" is 7 */
	assert_string_equal(kcmd_str(&c), "");
	kcmd_init(&c, 8);
	assert_int_equal(kcmd_append_kv(&c, "k", "a b"), 0);
	assert_string_equal(kcmd_str(&c), "k=\"a b\"");
}

static void test_capacity_clamped(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 0);
	assert_int_equal(kcmd_append(&c, "a"), -E2BIG);
	assert_string_equal(kcmd_str(&c), "");

	kcmd_init(&c, 1u << 20); /* clamped to KCMD_MAX_CAP */
	char big[KCMD_MAX_CAP + 1];
	memset(big, 'x', sizeof(big));
	big[KCMD_MAX_CAP] = '\0';
	assert_int_equal(kcmd_append(&c, big), -E2BIG);
	big[KCMD_MAX_CAP - 1] = '\0'; /* 4095 characters: fits exactly */
	assert_int_equal(kcmd_append(&c, big), 0);
	assert_int_equal(kcmd_len_with_nul(&c), KCMD_MAX_CAP);
	assert_int_equal(kcmd_append(&c, "y"), -E2BIG);
}

static void test_has_key(void **state)
{
	(void)state;
	struct kernel_cmdline c;
	kcmd_init(&c, 4096);
	assert_int_equal(kcmd_append(&c, "quiet consoleblank=0 earlyprintk=serial foo=\"console=x y\""), 0);
	assert_true(kcmd_has_key(&c, "quiet"));
	assert_true(kcmd_has_key(&c, "consoleblank"));
	assert_true(kcmd_has_key(&c, "foo"));
	assert_false(kcmd_has_key(&c, "console"));  /* prefix and quoted value don't count */
	assert_false(kcmd_has_key(&c, "y\""));
	assert_false(kcmd_has_key(&c, ""));
	assert_false(kcmd_has_key(&c, NULL));
	assert_int_equal(kcmd_append(&c, "log-buf-len=1M \"rd.shell\""), 0);
	assert_true(kcmd_has_key(&c, "log_buf_len")); /* '-' and '_' are equal */
	assert_true(kcmd_has_key(&c, "rd.shell"));
	assert_int_equal(kcmd_append(&c, "-- console=ttyS0"), 0);
	assert_false(kcmd_has_key(&c, "console")); /* after "--": init's argument */
	assert_int_equal(kcmd_append(&c, "x"), 0);

	kcmd_init(&c, 4096);
	assert_int_equal(kcmd_append(&c, "root=/dev/vda console=hvc0"), 0);
	assert_true(kcmd_has_key(&c, "console"));
	assert_true(kcmd_has_key(&c, "root"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_append_separator),
		cmocka_unit_test(test_reject_bad_strings),
		cmocka_unit_test(test_kv_quoting),
		cmocka_unit_test(test_capacity_exact),
		cmocka_unit_test(test_capacity_kv),
		cmocka_unit_test(test_capacity_clamped),
		cmocka_unit_test(test_has_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
