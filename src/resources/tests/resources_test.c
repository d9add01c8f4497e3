/* Unit tests for resources/: BAR window and GSI allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "resources/resources.h"

static void test_addr_alignment_and_order(void **state)
{
	(void)state;
	struct addr_allocator a;
	addr_allocator_init(&a, 0xc0000000, 0xe0000000);
	uint64_t x, y, z;
	assert_int_equal(addr_allocator_alloc(&a, 0x100, 0x100, &x), 0);
	assert_int_equal(x, 0xc0000000);
	/* The next one is aligned to its own size, past the first. */
	assert_int_equal(addr_allocator_alloc(&a, 0x8000, 0x8000, &y), 0);
	assert_int_equal(y, 0xc0008000);
	assert_int_equal(addr_allocator_alloc(&a, 0x10, 0x10, &z), 0);
	assert_int_equal(z, 0xc0010000);
}

static void test_addr_full_and_bad_args(void **state)
{
	(void)state;
	struct addr_allocator a;
	uint64_t x;
	addr_allocator_init(&a, 0x1000, 0x3000);
	assert_int_equal(addr_allocator_alloc(&a, 0, 0x10, &x), -EINVAL);
	assert_int_equal(addr_allocator_alloc(&a, 0x10, 3, &x), -EINVAL);
	assert_int_equal(addr_allocator_alloc(&a, 0x10, 0, &x), -EINVAL);
	assert_int_equal(addr_allocator_alloc(&a, 0x2000, 0x1000, &x), 0);
	assert_int_equal(x, 0x1000);
	assert_int_equal(addr_allocator_alloc(&a, 1, 1, &x), -ENOSPC);
	/* Sizes and alignments near 2^64 fail instead of wrapping. */
	addr_allocator_init(&a, 0xfffffffffffff000ULL, UINT64_MAX);
	assert_int_equal(addr_allocator_alloc(&a, 0x2000, 0x1000, &x), -ENOSPC);
	assert_int_equal(addr_allocator_alloc(&a, 0x10, 1ULL << 63, &x), -ENOSPC);
	assert_int_equal(addr_allocator_alloc(&a, UINT64_MAX, 1, &x), -ENOSPC);
}

static void test_gsi(void **state)
{
	(void)state;
	struct gsi_allocator g;
	uint32_t v;
	gsi_allocator_init(&g, 24, 26);
	assert_int_equal(gsi_allocator_alloc(&g, &v), 0);
	assert_int_equal(v, 24);
	assert_int_equal(gsi_allocator_alloc(&g, &v), 0);
	assert_int_equal(v, 25);
	assert_int_equal(gsi_allocator_alloc(&g, &v), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_alignment_and_order),
		cmocka_unit_test(test_addr_full_and_bad_args),
		cmocka_unit_test(test_gsi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
