/* Unit tests for devices/bus.c: window insertion rules, dispatch with the
 * in-window offset, accesses straddling a window end, removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "devices/bus.h"

struct fake_dev {
	int id;
	uint64_t last_offset;
	uint32_t last_len;
	int reads, writes;
	uint8_t last_written[8];
};

static void fake_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct fake_dev *f = dev;
	f->reads++;
	f->last_offset = offset;
	f->last_len = len;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(f->id + offset + i);
}

static void fake_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct fake_dev *f = dev;
	f->writes++;
	f->last_offset = offset;
	f->last_len = len;
	memcpy(f->last_written, data, len);
}

static const struct bus_device_ops fake_ops = { .read = fake_read, .write = fake_write };

static int setup(void **state)
{
	static struct bus bus;
	if (bus_init(&bus) < 0)
		return -1;
	*state = &bus;
	return 0;
}

static int teardown(void **state)
{
	bus_destroy(*state);
	return 0;
}

static void test_insert_lookup(void **state)
{
	struct bus *bus = *state;
	struct fake_dev a = { .id = 0x10 }, b = { .id = 0x40 };
	assert_int_equal(bus_insert(bus, 0x3f8, 8, &fake_ops, &a, "a"), 0);
	assert_int_equal(bus_insert(bus, 0x60, 1, &fake_ops, &b, "b"), 0);

	uint8_t buf[4] = { 0 };
	assert_true(bus_read(bus, 0x3fd, buf, 1));
	assert_int_equal(a.last_offset, 5);
	assert_int_equal(a.last_len, 1);
	assert_int_equal(buf[0], 0x15);
	assert_true(bus_read(bus, 0x60, buf, 1));
	assert_int_equal(b.reads, 1);
	assert_int_equal(buf[0], 0x40);

	const uint8_t w[2] = { 0xab, 0xcd };
	assert_true(bus_write(bus, 0x3f8, w, 2));
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_offset, 0);
	assert_memory_equal(a.last_written, w, 2);

	/* Holes and edges. */
	assert_false(bus_read(bus, 0x3f7, buf, 1));
	assert_false(bus_read(bus, 0x400, buf, 1));
	assert_false(bus_read(bus, 0x61, buf, 1));
	assert_false(bus_read(bus, 0, buf, 1));
	assert_false(bus_write(bus, 0x5f, w, 1));
	/* Lengths outside 1..8 are refused. */
	assert_false(bus_read(bus, 0x3f8, buf, 0));
	uint8_t big[9];
	assert_false(bus_read(bus, 0x3f8, big, 9));
}

static void test_overlap(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { 0 };
	assert_int_equal(bus_insert(bus, 0x100, 0x10, &fake_ops, &d, "x"), 0);
	assert_int_equal(bus_insert(bus, 0x100, 0x10, &fake_ops, &d, "same"), -EEXIST);
	assert_int_equal(bus_insert(bus, 0x108, 0x10, &fake_ops, &d, "tail"), -EEXIST);
	assert_int_equal(bus_insert(bus, 0xf8, 0x9, &fake_ops, &d, "head"), -EEXIST);
	assert_int_equal(bus_insert(bus, 0x0, 0x1000, &fake_ops, &d, "around"), -EEXIST);
	assert_int_equal(bus_insert(bus, 0x104, 0x2, &fake_ops, &d, "inside"), -EEXIST);
	assert_int_equal(bus_insert(bus, 0x10f, 1, &fake_ops, &d, "last"), -EEXIST);
	assert_int_equal(bus->nr, 1);
}

static void test_adjacent(void **state)
{
	struct bus *bus = *state;
	struct fake_dev a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
	assert_int_equal(bus_insert(bus, 0x100, 0x10, &fake_ops, &a, "a"), 0);
	assert_int_equal(bus_insert(bus, 0x110, 0x10, &fake_ops, &b, "b"), 0);
	assert_int_equal(bus_insert(bus, 0xf0, 0x10, &fake_ops, &c, "c"), 0);
	uint8_t v;
	assert_true(bus_read(bus, 0x10f, &v, 1));
	assert_int_equal(a.reads, 1);
	assert_true(bus_read(bus, 0x110, &v, 1));
	assert_int_equal(b.reads, 1);
	assert_true(bus_read(bus, 0xff, &v, 1));
	assert_int_equal(c.reads, 1);
	assert_int_equal(c.last_offset, 0xf);
}

static void test_wrap_and_zero(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { 0 };
	assert_int_equal(bus_insert(bus, 0x100, 0, &fake_ops, &d, "empty"), -EINVAL);
	assert_int_equal(bus_insert(bus, UINT64_MAX, 2, &fake_ops, &d, "wrap"), -EINVAL);
	assert_int_equal(bus_insert(bus, 0x10, UINT64_MAX, &fake_ops, &d, "wrap2"), -EINVAL);
	assert_int_equal(bus_insert(bus, 0x10, 0x10, NULL, &d, "noops"), -EINVAL);
	/* A window ending exactly at the top of the space is fine. */
	assert_int_equal(bus_insert(bus, UINT64_MAX - 0xf, 0x10, &fake_ops, &d, "top"), 0);
	uint8_t buf[8];
	assert_true(bus_read(bus, UINT64_MAX, buf, 1));
	assert_int_equal(d.last_offset, 0xf);
	assert_true(bus_read(bus, UINT64_MAX - 7, buf, 8));
	/* An access running past the top does not wrap into address 0. */
	assert_false(bus_read(bus, UINT64_MAX, buf, 2));
	assert_false(bus_read(bus, UINT64_MAX - 6, buf, 8));
	/* A window covering everything but the last byte. */
	assert_int_equal(bus_insert(bus, 0, UINT64_MAX - 0xf, &fake_ops, &d, "all"), 0);
	assert_int_equal(bus_insert(bus, 5, 1, &fake_ops, &d, "dup"), -EEXIST);
	assert_true(bus_read(bus, UINT64_MAX - 0x10, buf, 1));
	/* Straddling the boundary between two windows is refused. */
	assert_false(bus_read(bus, UINT64_MAX - 0x10, buf, 2));
}

static void test_straddle(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { 0 };
	assert_int_equal(bus_insert(bus, 0xcf8, 8, &fake_ops, &d, "pci"), 0);
	uint8_t buf[8];
	assert_true(bus_read(bus, 0xcfc, buf, 4));
	assert_int_equal(d.last_offset, 4);
	assert_int_equal(d.last_len, 4);
	assert_false(bus_read(bus, 0xcfe, buf, 4));
	assert_false(bus_write(bus, 0xcff, buf, 2));
	assert_true(bus_write(bus, 0xcff, buf, 1));
	assert_false(bus_read(bus, 0xcf7, buf, 2));
	assert_true(bus_read(bus, 0xcf8, buf, 8));
}

static void test_remove(void **state)
{
	struct bus *bus = *state;
	struct fake_dev d = { 0 };
	assert_int_equal(bus_insert(bus, 0x100, 0x10, &fake_ops, &d, "a"), 0);
	assert_int_equal(bus_insert(bus, 0x200, 0x10, &fake_ops, &d, "b"), 0);
	assert_int_equal(bus_remove(bus, 0x104), -ENOENT); /* not a base */
	assert_int_equal(bus_remove(bus, 0x300), -ENOENT);
	assert_int_equal(bus_remove(bus, 0x100), 0);
	assert_int_equal(bus_remove(bus, 0x100), -ENOENT);
	uint8_t v;
	assert_false(bus_read(bus, 0x100, &v, 1));
	assert_true(bus_read(bus, 0x200, &v, 1));
	/* The freed range can be reused, with a different shape. */
	assert_int_equal(bus_insert(bus, 0xf0, 0x20, &fake_ops, &d, "c"), 0);
	assert_true(bus_read(bus, 0x10f, &v, 1));
	assert_int_equal(d.last_offset, 0x1f);
	assert_int_equal(bus_remove(bus, 0x200), 0);
	assert_int_equal(bus_remove(bus, 0xf0), 0);
	assert_int_equal(bus->nr, 0);
	assert_int_equal(bus_remove(bus, 0), -ENOENT);
}

static void test_many(void **state)
{
	struct bus *bus = *state;
	static struct fake_dev devs[100];
	/* Insert in a scrambled order to exercise sorting and growth. */
	for (int i = 0; i < 100; i++) {
		int k = (i * 37) % 100;
		devs[k].id = k;
		assert_int_equal(bus_insert(bus, 0x1000 + (uint64_t)k * 0x10, 8, &fake_ops,
					    &devs[k], "d"), 0);
	}
	for (size_t i = 1; i < bus->nr; i++)
		assert_true(bus->entries[i - 1].base < bus->entries[i].base);
	for (int k = 0; k < 100; k++) {
		uint8_t v;
		assert_true(bus_read(bus, 0x1000 + (uint64_t)k * 0x10 + 3, &v, 1));
		assert_int_equal(devs[k].reads, 1);
		assert_int_equal(devs[k].last_offset, 3);
		assert_false(bus_read(bus, 0x1000 + (uint64_t)k * 0x10 + 8, &v, 1));
	}
	for (int k = 0; k < 100; k += 2)
		assert_int_equal(bus_remove(bus, 0x1000 + (uint64_t)k * 0x10), 0);
	assert_int_equal(bus->nr, 50);
	uint8_t v;
	assert_false(bus_read(bus, 0x1000, &v, 1));
	assert_true(bus_read(bus, 0x1010, &v, 1));
}

static void test_null_ops_fields(void **state)
{
	struct bus *bus = *state;
	static const struct bus_device_ops none = { 0 };
	assert_int_equal(bus_insert(bus, 0x10, 4, &none, NULL, "none"), 0);
	uint8_t buf[4] = { 1, 2, 3, 4 };
	assert_true(bus_read(bus, 0x10, buf, 4));
	assert_int_equal(buf[0] | buf[1] | buf[2] | buf[3], 0);
	assert_true(bus_write(bus, 0x10, buf, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_insert_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adjacent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrap_and_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_ops_fields, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
