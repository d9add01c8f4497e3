/* Unit tests for the CMOS/RTC: clock registers in BCD and binary, 12- and
 * 24-hour modes, century, status registers, memory-size fields, NVRAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "devices/cmos.h"

static time_t fixed_now(void *ctx)
{
	return *(const time_t *)ctx;
}

static uint8_t cmos_rd(struct cmos *c, uint8_t idx)
{
	uint8_t v = 0xaa;
	cmos_bus_ops.write(c, 0, &idx, 1);
	cmos_bus_ops.read(c, 1, &v, 1);
	return v;
}

static void cmos_wr(struct cmos *c, uint8_t idx, uint8_t v)
{
	cmos_bus_ops.write(c, 0, &idx, 1);
	cmos_bus_ops.write(c, 1, &v, 1);
}

static time_t make_time(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = s,
	};
	return timegm(&tm);
}

static void test_bcd_time(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	time_t t = make_time(2026, 11, 25, 12, 34, 56);
	cmos_set_time_source(&c, fixed_now, &t);
	assert_int_equal(cmos_rd(&c, CMOS_SECONDS), 0x56);
	assert_int_equal(cmos_rd(&c, CMOS_MINUTES), 0x34);
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 0x12);
	assert_int_equal(cmos_rd(&c, CMOS_WEEKDAY), 4); /* Wednesday; Sunday = 1 */
	assert_int_equal(cmos_rd(&c, CMOS_DAY), 0x25);
	assert_int_equal(cmos_rd(&c, CMOS_MONTH), 0x11);
	assert_int_equal(cmos_rd(&c, CMOS_YEAR), 0x26);
	assert_int_equal(cmos_rd(&c, CMOS_CENTURY), 0x20);
	/* The NMI-disable bit of the index is ignored. */
	assert_int_equal(cmos_rd(&c, 0x80 | CMOS_SECONDS), 0x56);
	cmos_destroy(&c);
}

static void test_binary_time(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	time_t t = make_time(2026, 11, 25, 12, 34, 56);
	cmos_set_time_source(&c, fixed_now, &t);
	cmos_wr(&c, CMOS_REG_B, CMOS_REG_B_DM | CMOS_REG_B_24H);
	assert_int_equal(cmos_rd(&c, CMOS_REG_B), CMOS_REG_B_DM | CMOS_REG_B_24H);
	assert_int_equal(cmos_rd(&c, CMOS_SECONDS), 56);
	assert_int_equal(cmos_rd(&c, CMOS_MINUTES), 34);
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 12);
	assert_int_equal(cmos_rd(&c, CMOS_DAY), 25);
	assert_int_equal(cmos_rd(&c, CMOS_MONTH), 11);
	assert_int_equal(cmos_rd(&c, CMOS_YEAR), 26);
	assert_int_equal(cmos_rd(&c, CMOS_CENTURY), 20);
	cmos_destroy(&c);
}

static void test_12_hour(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	time_t t = make_time(1999, 12, 31, 23, 59, 58);
	cmos_set_time_source(&c, fixed_now, &t);
	cmos_wr(&c, CMOS_REG_B, 0); /* BCD, 12-hour */
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 0x80 | 0x11);
	assert_int_equal(cmos_rd(&c, CMOS_CENTURY), 0x19);
	assert_int_equal(cmos_rd(&c, CMOS_YEAR), 0x99);
	t = make_time(2000, 1, 1, 0, 0, 0);
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 0x12); /* midnight = 12 AM */
	assert_int_equal(cmos_rd(&c, CMOS_CENTURY), 0x20);
	assert_int_equal(cmos_rd(&c, CMOS_YEAR), 0x00);
	assert_int_equal(cmos_rd(&c, CMOS_WEEKDAY), 7); /* Saturday */
	t = make_time(2000, 1, 2, 12, 0, 0);
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 0x80 | 0x12); /* noon = 12 PM */
	assert_int_equal(cmos_rd(&c, CMOS_WEEKDAY), 1);	 /* Sunday */
	cmos_wr(&c, CMOS_REG_B, CMOS_REG_B_DM); /* binary, 12-hour */
	t = make_time(2000, 1, 2, 13, 0, 0);
	assert_int_equal(cmos_rd(&c, CMOS_HOURS), 0x80 | 1);
	cmos_destroy(&c);
}

static void test_status_regs(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	assert_int_equal(cmos_rd(&c, CMOS_REG_A) & CMOS_REG_A_UIP, 0);
	cmos_wr(&c, CMOS_REG_A, 0xff); /* UIP is read-only */
	assert_int_equal(cmos_rd(&c, CMOS_REG_A), 0x7f);
	assert_int_equal(cmos_rd(&c, CMOS_REG_B), CMOS_REG_B_24H);
	assert_int_equal(cmos_rd(&c, CMOS_REG_C), 0);
	assert_int_equal(cmos_rd(&c, CMOS_REG_D), CMOS_REG_D_VRT);
	cmos_wr(&c, CMOS_REG_D, 0);
	assert_int_equal(cmos_rd(&c, CMOS_REG_D), CMOS_REG_D_VRT);
	cmos_destroy(&c);
}

static void test_clock_writes_ignored(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	time_t t = make_time(2026, 11, 25, 12, 34, 56);
	cmos_set_time_source(&c, fixed_now, &t);
	cmos_wr(&c, CMOS_SECONDS, 0x01);
	cmos_wr(&c, CMOS_CENTURY, 0x19);
	assert_int_equal(cmos_rd(&c, CMOS_SECONDS), 0x56);
	assert_int_equal(cmos_rd(&c, CMOS_CENTURY), 0x20);
	/* Alarm registers are plain storage. */
	cmos_wr(&c, CMOS_SECONDS_ALARM, 0x42);
	assert_int_equal(cmos_rd(&c, CMOS_SECONDS_ALARM), 0x42);
	/* Back to the host clock. */
	cmos_set_time_source(&c, NULL, NULL);
	uint8_t century = cmos_rd(&c, CMOS_CENTURY);
	assert_true(century == 0x20 || century == 0x21);
	cmos_destroy(&c);
}

static void test_memory_fields(void **state)
{
	(void)state;
	struct cmos c;
	/* 3 GiB below 4G, 5 GiB above. */
	assert_int_equal(cmos_init(&c, GiB(3), GiB(5)), 0);
	uint64_t above16 = (GiB(3) - MiB(16)) >> 16; /* 0xbf00 */
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_LO), above16 & 0xff);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_HI), above16 >> 8);
	uint64_t above4g = GiB(5) >> 16; /* 0x14000 */
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_4G_LO), above4g & 0xff);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_4G_MID), (above4g >> 8) & 0xff);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_4G_HI), above4g >> 16);
	/* Extended memory in KiB saturates at 0xffff. */
	assert_int_equal(cmos_rd(&c, 0x30), 0xff);
	assert_int_equal(cmos_rd(&c, 0x31), 0xff);
	/* Base memory: 640 KiB. */
	assert_int_equal(cmos_rd(&c, 0x15) | cmos_rd(&c, 0x16) << 8, 640);
	cmos_destroy(&c);

	/* Less than 16 MiB: zero above 16 MiB. */
	assert_int_equal(cmos_init(&c, MiB(8), 0), 0);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_LO), 0);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_HI), 0);
	assert_int_equal(cmos_rd(&c, 0x30) | cmos_rd(&c, 0x31) << 8, 7 * 1024);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_4G_LO), 0);
	cmos_destroy(&c);

	/* Capped: more than 16 bits of 64 KiB units below 4G cannot happen
	 * for real RAM below 4 GiB, but a bogus value must saturate. */
	assert_int_equal(cmos_init(&c, GiB(8), UINT64_MAX), 0);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_LO), 0xff);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_16M_HI), 0xff);
	assert_int_equal(cmos_rd(&c, CMOS_MEM_ABOVE_4G_HI), 0xff);
	cmos_destroy(&c);
}

static void test_nvram_and_odd(void **state)
{
	(void)state;
	struct cmos c;
	assert_int_equal(cmos_init(&c, MiB(512), 0), 0);
	cmos_wr(&c, 0x7f, 0x99);
	assert_int_equal(cmos_rd(&c, 0x7f), 0x99);
	cmos_wr(&c, 0x40, 0x11);
	assert_int_equal(cmos_rd(&c, 0x40), 0x11);
	uint8_t idx;
	cmos_bus_ops.read(&c, 0, &idx, 1);
	assert_int_equal(idx, 0x40);
	/* Wide and out-of-window accesses: first byte only, never crash. */
	uint8_t buf[4] = { 0x41, 0, 0, 0 };
	cmos_bus_ops.write(&c, 0, buf, 4);
	cmos_bus_ops.read(&c, 1, buf, 4);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	cmos_bus_ops.read(&c, 2, buf, 1);
	assert_int_equal(buf[0], 0);
	cmos_bus_ops.write(&c, 7, buf, 1);
	cmos_bus_ops.write(&c, 0, buf, 0);
	cmos_destroy(&c);
	cmos_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bcd_time),
		cmocka_unit_test(test_binary_time),
		cmocka_unit_test(test_12_hour),
		cmocka_unit_test(test_status_regs),
		cmocka_unit_test(test_clock_writes_ignored),
		cmocka_unit_test(test_memory_fields),
		cmocka_unit_test(test_nvram_and_odd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
