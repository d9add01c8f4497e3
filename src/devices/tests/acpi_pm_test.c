/* Unit tests for the ACPI PM1a registers: SCI_EN always set, S5 power-off
 * through word and byte writes, other sleep types ignored, write-1-to-clear
 * status, enable register, access widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "devices/acpi_pm.h"

#define S5 5

struct fixture {
	struct acpi_pm pm;
	int off;
};

static int setup(void **state)
{
	static struct fixture f;
	f.off = evfd_create();
	if (f.off < 0 || acpi_pm_init(&f.pm, f.off, S5) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	acpi_pm_destroy(&f->pm);
	close(f->off);
	return 0;
}

static uint16_t rd16(const struct bus_device_ops *ops, void *dev, uint64_t off)
{
	uint8_t b[2] = { 0xaa, 0xaa };
	ops->read(dev, off, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void wr16(const struct bus_device_ops *ops, void *dev, uint64_t off, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	ops->write(dev, off, b, 2);
}

static uint16_t slp(unsigned typ)
{
	return (uint16_t)(typ << ACPI_PM1_CNT_SLP_TYP_SHIFT);
}

static void test_sci_en(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd16(&acpi_pm_cnt_ops, &f->pm, 0), ACPI_PM1_CNT_SCI_EN);
	wr16(&acpi_pm_cnt_ops, &f->pm, 0, 0);
	assert_true(rd16(&acpi_pm_cnt_ops, &f->pm, 0) & ACPI_PM1_CNT_SCI_EN);
	uint8_t b = 0xaa;
	acpi_pm_cnt_ops.read(&f->pm, 0, &b, 1);
	assert_int_equal(b, ACPI_PM1_CNT_SCI_EN);
}

static void test_s5_word(void **state)
{
	struct fixture *f = *state;
	/* SLP_TYP alone does nothing. */
	wr16(&acpi_pm_cnt_ops, &f->pm, 0, slp(S5));
	assert_int_equal(evfd_drain(f->off), 0);
	uint16_t v = rd16(&acpi_pm_cnt_ops, &f->pm, 0);
	assert_int_equal(v & ACPI_PM1_CNT_SLP_TYP_MASK, slp(S5));
	assert_int_equal(v & ACPI_PM1_CNT_SLP_EN, 0); /* write-only */
	/* With SLP_EN: power off. */
	wr16(&acpi_pm_cnt_ops, &f->pm, 0, slp(S5) | ACPI_PM1_CNT_SLP_EN | ACPI_PM1_CNT_SCI_EN);
	assert_int_equal(evfd_drain(f->off), 1);
}

static void test_other_sleep_types(void **state)
{
	struct fixture *f = *state;
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == S5)
			continue;
		wr16(&acpi_pm_cnt_ops, &f->pm, 0, slp(typ) | ACPI_PM1_CNT_SLP_EN);
		assert_int_equal(evfd_drain(f->off), 0);
	}
}

static void test_s5_bytes(void **state)
{
	struct fixture *f = *state;
	/* Low byte then high byte carrying SLP_EN. */
	uint8_t lo = ACPI_PM1_CNT_SCI_EN;
	acpi_pm_cnt_ops.write(&f->pm, 0, &lo, 1);
	assert_int_equal(evfd_drain(f->off), 0);
	uint8_t hi = (uint8_t)((slp(S5) | ACPI_PM1_CNT_SLP_EN) >> 8);
	acpi_pm_cnt_ops.write(&f->pm, 1, &hi, 1);
	assert_int_equal(evfd_drain(f->off), 1);
	/* A later low-byte write does not re-trigger (SLP_EN is not kept). */
	acpi_pm_cnt_ops.write(&f->pm, 0, &lo, 1);
	assert_int_equal(evfd_drain(f->off), 0);
	/* A 4-byte write clamps to the 2-byte window. */
	uint8_t w[4] = { 0, hi, 0xff, 0xff };
	acpi_pm_cnt_ops.write(&f->pm, 0, w, 4);
	assert_int_equal(evfd_drain(f->off), 1);
}

static void test_status_w1c(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0), 0);
	/* Set some status bits as the hardware would (white-box). */
	f->pm.sts = ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS | ACPI_PM1_TMR;
	/* Writing 0 changes nothing; writing 1 clears. */
	wr16(&acpi_pm_evt_ops, &f->pm, 0, 0);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0),
			 ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS | ACPI_PM1_TMR);
	wr16(&acpi_pm_evt_ops, &f->pm, 0, ACPI_PM1_PWRBTN);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0), ACPI_PM1_WAK_STS | ACPI_PM1_TMR);
	/* Byte write to the high half clears WAK_STS only. */
	uint8_t hi = ACPI_PM1_WAK_STS >> 8;
	acpi_pm_evt_ops.write(&f->pm, 1, &hi, 1);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0), ACPI_PM1_TMR);
	wr16(&acpi_pm_evt_ops, &f->pm, 0, 0xffff);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0), 0);
}

static void test_enable_and_widths(void **state)
{
	struct fixture *f = *state;
	wr16(&acpi_pm_evt_ops, &f->pm, 2, ACPI_PM1_PWRBTN | ACPI_PM1_TMR);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 2), ACPI_PM1_PWRBTN | ACPI_PM1_TMR);
	/* Reserved enable bits stay 0. */
	wr16(&acpi_pm_evt_ops, &f->pm, 2, 0xffff);
	uint16_t en = rd16(&acpi_pm_evt_ops, &f->pm, 2);
	assert_int_equal(en & 0x8000, 0);
	assert_true(en & ACPI_PM1_GBL);
	/* A dword read returns STS then EN, little-endian. */
	f->pm.sts = ACPI_PM1_PWRBTN;
	uint8_t b[4];
	acpi_pm_evt_ops.read(&f->pm, 0, b, 4);
	assert_int_equal(b[0] | b[1] << 8, ACPI_PM1_PWRBTN);
	assert_int_equal(b[2] | b[3] << 8, en);
	/* A dword write: clears status, sets enable. */
	uint8_t w[4] = { 0x00, 0x01, 0x00, 0x00 };
	acpi_pm_evt_ops.write(&f->pm, 0, w, 4);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 0), 0);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 2), 0);
	/* Byte at offset 3 only touches EN's high byte. */
	uint8_t one = 0x01;
	acpi_pm_evt_ops.write(&f->pm, 3, &one, 1);
	assert_int_equal(rd16(&acpi_pm_evt_ops, &f->pm, 2), ACPI_PM1_PWRBTN);
	/* Out-of-window accesses: zero reads, ignored writes. */
	uint8_t z[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	acpi_pm_evt_ops.read(&f->pm, 4, z, 4);
	assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
	acpi_pm_evt_ops.read(&f->pm, 3, z, 4); /* partially inside */
	assert_int_equal(z[0], 0x01);
	assert_int_equal(z[1] | z[2] | z[3], 0);
	acpi_pm_evt_ops.write(&f->pm, UINT64_MAX, z, 4);
	acpi_pm_cnt_ops.read(&f->pm, 2, z, 2);
	assert_int_equal(z[0] | z[1], 0);
	acpi_pm_cnt_ops.write(&f->pm, 7, z, 2);
	assert_int_equal(evfd_drain(f->off), 0);
}

static void test_no_fd(void **state)
{
	(void)state;
	struct acpi_pm pm;
	assert_int_equal(acpi_pm_init(&pm, -1, S5), 0);
	wr16(&acpi_pm_cnt_ops, &pm, 0, slp(S5) | ACPI_PM1_CNT_SLP_EN);
	acpi_pm_destroy(&pm);
	acpi_pm_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sci_en, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sleep_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s5_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_w1c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_and_widths, setup, teardown),
		cmocka_unit_test(test_no_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
