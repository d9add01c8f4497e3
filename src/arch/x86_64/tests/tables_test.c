/* Unit tests for the firmware tables: the AML encoder, the ACPI tables and
 * the MP table. With ACPI_DUMP_DIR set, the ACPI tables of a guest with
 * ACPI_DUMP_CPUS (default 4) vCPUs are also written there as <SIG>.dat for
 * checking with `iasl -d` or `acpiexec`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/acpi_aml.h"
#include "arch/x86_64/acpi_defs.h"
#include "arch/x86_64/checksum.h"
#include "arch/x86_64/mptable_defs.h"
#include "arch/x86_64/x86_64.h"

/* ---- AML encoder ---------------------------------------------------------- */

static void test_pkg_length(void **state)
{
	(void)state;
	uint8_t out[4];
	assert_int_equal(aml_pkg_length_encode(0, out), 1);
	assert_int_equal(out[0], 1);
	assert_int_equal(aml_pkg_length_encode(62, out), 1);
	assert_int_equal(out[0], 63);
	/* 63 + 1 = 64 no longer fits 6 bits: two bytes, value 65. */
	assert_int_equal(aml_pkg_length_encode(63, out), 2);
	assert_int_equal(out[0], 0x41);
	assert_int_equal(out[1], 0x04);
	assert_int_equal(aml_pkg_length_encode(0xfff - 2, out), 2);
	assert_int_equal(out[0], 0x4f);
	assert_int_equal(out[1], 0xff);
	assert_int_equal(aml_pkg_length_encode(0xfff - 1, out), 3);
	assert_int_equal(out[0], 0x81); /* 4097 = 0x1001 */
	assert_int_equal(out[1], 0x00);
	assert_int_equal(out[2], 0x01);
	assert_int_equal(aml_pkg_length_encode(0x100000, out), 4);
	assert_int_equal(out[0], 0xc4);
	assert_int_equal(out[1], 0x00);
	assert_int_equal(out[2], 0x00);
	assert_int_equal(out[3], 0x01);
	assert_int_equal(aml_pkg_length_encode((1U << 28) - 5, out), 4);
	assert_int_equal(aml_pkg_length_encode((1U << 28) - 4, out), -E2BIG);
}

static void test_aml_names(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml_buf b;

	aml_init(&b, buf, sizeof(buf));
	aml_name_string(&b, "_S5");
	assert_int_equal(aml_finish(&b), 4);
	assert_memory_equal(buf, "_S5_", 4);

	aml_init(&b, buf, sizeof(buf));
	aml_name_string(&b, "\\_SB_.PCI0");
	assert_int_equal(aml_finish(&b), 10);
	assert_memory_equal(buf, "\\\x2e_SB_PCI0", 10);

	aml_init(&b, buf, sizeof(buf));
	aml_name_string(&b, "^^A.B.C");
	assert_int_equal(aml_finish(&b), 2 + 2 + 12);
	assert_memory_equal(buf, "^^\x2f\x03"
				 "A___B___C___",
			    16);

	aml_init(&b, buf, sizeof(buf));
	aml_name_string(&b, "\\");
	assert_int_equal(aml_finish(&b), 2);
	assert_memory_equal(buf, "\\\0", 2);

	const char *bad[] = { "abcd", "0ABC", "TOOLONG", "A..B", "A.", "A-B" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&b, buf, sizeof(buf));
		aml_name_string(&b, bad[i]);
		assert_int_equal(aml_finish(&b), -EINVAL);
	}
}

static void test_aml_integers_strings(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct aml_buf b;
	aml_init(&b, buf, sizeof(buf));
	aml_integer(&b, 0);
	aml_integer(&b, 1);
	aml_integer(&b, 5);
	aml_integer(&b, 0x1234);
	aml_integer(&b, 0xc0000000);
	aml_integer(&b, 0x100000000ULL);
	static const uint8_t want[] = { 0x00, 0x01, 0x0a, 0x05, 0x0b, 0x34, 0x12, 0x0c, 0x00, 0x00, 0x00, 0xc0,
					0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00 };
	assert_int_equal(aml_finish(&b), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	aml_init(&b, buf, sizeof(buf));
	aml_string(&b, "ACPI0007");
	assert_int_equal(aml_finish(&b), 10);
	assert_memory_equal(buf, "\x0d" "ACPI0007\0", 10);

	uint32_t id;
	assert_true(aml_eisa_id_value("PNP0A03", &id));
	assert_int_equal(id, 0x030ad041);
	assert_true(aml_eisa_id_value("PNP0A08", &id));
	assert_int_equal(id, 0x080ad041);
	assert_true(aml_eisa_id_value("PNP0C02", &id));
	assert_int_equal(id, 0x020cd041);
	assert_false(aml_eisa_id_value("PNP0A0", &id));
	assert_false(aml_eisa_id_value("pnp0A03", &id));
	assert_false(aml_eisa_id_value("PNP0G03", &id));
}

static void test_aml_package_nesting(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct aml_buf b;
	aml_init(&b, buf, sizeof(buf));
	/* Name(_S5_, Package(){5, 5, 0, 0}) as iasl encodes it. */
	aml_name_decl(&b, "_S5_");
	size_t p = aml_package_begin(&b, 4);
	aml_integer(&b, 5);
	aml_integer(&b, 5);
	aml_integer(&b, 0);
	aml_integer(&b, 0);
	aml_pkg_end(&b, p);
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	assert_int_equal(aml_finish(&b), sizeof(s5));
	assert_memory_equal(buf, s5, sizeof(s5));

	/* A device whose body needs a two-byte PkgLength around a small
	 * inner package: the inner one must be compacted correctly too. */
	aml_init(&b, buf, sizeof(buf));
	size_t dev = aml_device_begin(&b, "DEV0");
	aml_name_decl(&b, "BUF0");
	uint8_t data[70];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	aml_buffer(&b, data, sizeof(data));
	aml_pkg_end(&b, dev);
	assert_true(aml_finish(&b) > 0);
	assert_int_equal(buf[0], 0x5b);
	assert_int_equal(buf[1], 0x82);
	/* body: name 4 + NameOp 1 + BUF0 4 + BufferOp 1 + pkglen 2 + size 2 + 70 */
	size_t body = 4 + 1 + 4 + 1 + 2 + 2 + 70;
	assert_int_equal(buf[2], 0x40 | ((body + 2) & 0xf));
	assert_int_equal(buf[3], (body + 2) >> 4);
	assert_memory_equal(buf + 4, "DEV0\x08" "BUF0\x11", 10);
	assert_int_equal(buf[14], 0x40 | ((2 + 2 + 70) & 0xf));
	assert_int_equal(buf[15], (2 + 2 + 70) >> 4);
	assert_int_equal(buf[16], 0x0a);
	assert_int_equal(buf[17], 70);
	assert_memory_equal(buf + 18, data, sizeof(data));
	assert_int_equal(aml_finish(&b), 4 + body);
}

static void test_aml_overflow(void **state)
{
	(void)state;
	uint8_t buf[8];
	struct aml_buf b;
	aml_init(&b, buf, sizeof(buf));
	size_t d = aml_device_begin(&b, "ABCD");
	aml_integer(&b, 0x123456789ULL); /* does not fit */
	aml_pkg_end(&b, d);
	assert_int_equal(aml_finish(&b), -ENOSPC);
	assert_true(b.len <= sizeof(buf));
}

static void test_aml_resources(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct aml_buf b;
	aml_init(&b, buf, sizeof(buf));
	aml_res_io(&b, 0xcf8, 0xcf8, 1, 8);
	aml_res_word_bus_number(&b, 0, 255);
	aml_res_dword_memory(&b, 0xc0000000, 0xdfffffff);
	aml_res_memory32_fixed(&b, 0xe0000000, 0x10000000, true);
	aml_res_end(&b);
	assert_int_equal(aml_finish(&b), 8 + 16 + 26 + 12 + 2);
	static const uint8_t io[] = { 0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08 };
	assert_memory_equal(buf, io, sizeof(io));
	static const uint8_t bus[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00,
				       0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01 };
	assert_memory_equal(buf + 8, bus, sizeof(bus));
	assert_int_equal(buf[24], 0x87);
	assert_int_equal(buf[24 + 3], 0); /* memory */
	uint32_t len;
	memcpy(&len, buf + 24 + 22, 4);
	assert_int_equal(len, 0x20000000);
	assert_int_equal(buf[50], 0x86);
	assert_int_equal(buf[62], 0x79);
}

/* ---- ACPI tables ---------------------------------------------------------- */

struct acpi_ctx {
	struct guest_memory gm;
	uint8_t *blob; /* copy of [X86_ACPI_ADDR, +X86_ACPI_MAX) */
	uint64_t rsdp;
};

static void acpi_setup(struct acpi_ctx *c, uint32_t nr_cpus)
{
	struct gm_range r = { .base = GPA(0), .size = MiB(16) };
	assert_int_equal(gm_create(&c->gm, &r, 1), 0);
	assert_int_equal(x86_write_acpi_tables(&c->gm, nr_cpus, &c->rsdp), 0);
	c->blob = malloc(X86_ACPI_MAX);
	assert_non_null(c->blob);
	assert_int_equal(gm_read(&c->gm, GPA(X86_ACPI_ADDR), c->blob, X86_ACPI_MAX), 0);
}

static void acpi_teardown(struct acpi_ctx *c)
{
	free(c->blob);
	gm_destroy(&c->gm);
}

/* Returns the table at a guest address after checking it lies within the
 * ACPI area, its length is sane and its checksum is right. */
static const uint8_t *table_at(struct acpi_ctx *c, uint64_t addr, const char *sig)
{
	assert_true(addr >= X86_ACPI_ADDR && addr + sizeof(struct acpi_table_header) <= X86_ACPI_ADDR + X86_ACPI_MAX);
	const uint8_t *t = c->blob + (addr - X86_ACPI_ADDR);
	struct acpi_table_header h;
	memcpy(&h, t, sizeof(h));
	assert_memory_equal(h.signature, sig, 4);
	uint32_t len = le32_get(h.length);
	assert_true(len >= sizeof(h));
	assert_true(addr + len <= X86_ACPI_ADDR + X86_ACPI_MAX);
	assert_int_equal(x86_byte_sum(t, len), 0);
	assert_memory_equal(h.oem_id, "CROSVM", 6);
	return t;
}

static uint32_t table_len(const uint8_t *t)
{
	struct acpi_table_header h;
	memcpy(&h, t, sizeof(h));
	return le32_get(h.length);
}

static const uint8_t *find_in_xsdt(struct acpi_ctx *c, const char *sig)
{
	struct acpi_rsdp r;
	memcpy(&r, c->blob + (c->rsdp - X86_ACPI_ADDR), sizeof(r));
	const uint8_t *x = table_at(c, le64_get(r.xsdt_addr), "XSDT");
	size_t n = (table_len(x) - sizeof(struct acpi_table_header)) / 8;
	for (size_t i = 0; i < n; i++) {
		uint64_t a;
		memcpy(&a, x + sizeof(struct acpi_table_header) + i * 8, 8);
		if (!memcmp(c->blob + (a - X86_ACPI_ADDR), sig, 4))
			return table_at(c, a, sig);
	}
	fail_msg("%s not in XSDT", sig);
	return NULL;
}

static void test_acpi_rsdp_xsdt_rsdt(void **state)
{
	(void)state;
	struct acpi_ctx c;
	acpi_setup(&c, 4);
	assert_int_equal(c.rsdp, X86_ACPI_ADDR);
	assert_int_equal(c.rsdp % 16, 0);

	struct acpi_rsdp r;
	memcpy(&r, c.blob, sizeof(r));
	assert_memory_equal(r.signature, "RSD PTR ", 8);
	assert_int_equal(r.revision, 2);
	assert_int_equal(le32_get(r.length), 36);
	assert_int_equal(x86_byte_sum(&r, 20), 0);
	assert_int_equal(x86_byte_sum(&r, 36), 0);

	const char *want[] = { "FACP", "APIC", "MCFG" };
	const uint8_t *x = table_at(&c, le64_get(r.xsdt_addr), "XSDT");
	const uint8_t *rs = table_at(&c, le32_get(r.rsdt_addr), "RSDT");
	assert_int_equal(table_len(x), 36 + 3 * 8);
	assert_int_equal(table_len(rs), 36 + 3 * 4);
	for (size_t i = 0; i < 3; i++) {
		uint64_t a64;
		uint32_t a32;
		memcpy(&a64, x + 36 + i * 8, 8);
		memcpy(&a32, rs + 36 + i * 4, 4);
		assert_int_equal(a64, a32);
		table_at(&c, a64, want[i]);
	}
	acpi_teardown(&c);
}

static void test_acpi_fadt_facs_dsdt(void **state)
{
	(void)state;
	struct acpi_ctx c;
	acpi_setup(&c, 2);
	struct acpi_fadt f;
	const uint8_t *t = find_in_xsdt(&c, "FACP");
	assert_int_equal(table_len(t), sizeof(f));
	memcpy(&f, t, sizeof(f));
	assert_int_equal(f.header.revision, 6);
	assert_int_equal(le16_get(f.sci_int), X86_ACPI_SCI_IRQ);
	assert_int_equal(le32_get(f.smi_cmd), 0);
	assert_int_equal(le32_get(f.pm1a_evt_blk), X86_ACPI_PM1A_EVT_PORT);
	assert_int_equal(le32_get(f.pm1a_cnt_blk), X86_ACPI_PM1A_CNT_PORT);
	assert_int_equal(f.pm1_evt_len, 4);
	assert_int_equal(f.pm1_cnt_len, 2);
	assert_int_equal(f.x_pm1a_evt_blk.space_id, ACPI_GAS_SYSTEM_IO);
	assert_int_equal(f.x_pm1a_evt_blk.bit_width, 32);
	assert_int_equal(le64_get(f.x_pm1a_evt_blk.address), X86_ACPI_PM1A_EVT_PORT);
	assert_int_equal(f.x_pm1a_cnt_blk.bit_width, 16);
	assert_int_equal(le64_get(f.x_pm1a_cnt_blk.address), X86_ACPI_PM1A_CNT_PORT);
	uint32_t flags = le32_get(f.flags);
	assert_false(flags & ACPI_FADT_HW_REDUCED);
	assert_false(flags & ACPI_FADT_RESET_REG_SUP);
	assert_true(flags & ACPI_FADT_PROC_C1);
	uint16_t boot = le16_get(f.iapc_boot_arch);
	assert_true(boot & ACPI_IAPC_8042);
	assert_true(boot & ACPI_IAPC_VGA_NOT_PRESENT);

	/* FACS: 32-bit pointer only, 64-byte aligned, in the ACPI area. */
	assert_int_equal(le64_get(f.x_firmware_ctrl), 0);
	uint32_t facs = le32_get(f.firmware_ctrl);
	assert_int_equal(facs % 64, 0);
	assert_true(facs >= X86_ACPI_ADDR && facs + 64 <= X86_ACPI_ADDR + X86_ACPI_MAX);
	struct acpi_facs fc;
	memcpy(&fc, c.blob + (facs - X86_ACPI_ADDR), sizeof(fc));
	assert_memory_equal(fc.signature, "FACS", 4);
	assert_int_equal(le32_get(fc.length), 64);

	/* DSDT by both pointers; contains \_S5 and the PCI root bridge. */
	assert_int_equal(le64_get(f.x_dsdt), le32_get(f.dsdt));
	const uint8_t *d = table_at(&c, le64_get(f.x_dsdt), "DSDT");
	assert_int_equal(d[8], 2);
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, X86_ACPI_S5_SLP_TYP,
				      0x0a, X86_ACPI_S5_SLP_TYP, 0x00, 0x00 };
	size_t dlen = table_len(d);
	assert_non_null(memmem(d, dlen, s5, sizeof(s5)));
	static const uint8_t hid_pci[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };
	assert_non_null(memmem(d, dlen, hid_pci, sizeof(hid_pci)));
	assert_non_null(memmem(d, dlen, "PCI0", 4));
	assert_non_null(memmem(d, dlen, "C000", 4));
	assert_non_null(memmem(d, dlen, "C001", 4));
	assert_null(memmem(d, dlen, "C002", 4));
	/* The 32-bit MMIO window: min and max as a DWord memory descriptor. */
	static const uint8_t win[] = { 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf };
	assert_non_null(memmem(d, dlen, win, sizeof(win)));
	acpi_teardown(&c);
}

static void test_acpi_madt(void **state)
{
	(void)state;
	for (uint32_t nr = 1; nr <= X86_MAX_VCPUS; nr += 63) {
		struct acpi_ctx c;
		acpi_setup(&c, nr);
		const uint8_t *t = find_in_xsdt(&c, "APIC");
		struct acpi_madt m;
		memcpy(&m, t, sizeof(m));
		assert_int_equal(le32_get(m.lapic_addr), X86_LAPIC_ADDR);
		assert_int_equal(le32_get(m.flags), ACPI_MADT_PCAT_COMPAT);
		uint32_t lapics = 0, ioapics = 0, isos = 0, nmis = 0;
		bool sci = false;
		for (size_t off = sizeof(m); off < table_len(t);) {
			uint8_t type = t[off], len = t[off + 1];
			assert_true(len >= 2 && off + len <= table_len(t));
			if (type == ACPI_MADT_LAPIC) {
				struct acpi_madt_lapic l;
				memcpy(&l, t + off, sizeof(l));
				assert_int_equal(l.apic_id, lapics);
				assert_int_equal(l.processor_uid, lapics);
				assert_int_equal(le32_get(l.flags), ACPI_MADT_ENABLED);
				lapics++;
			} else if (type == ACPI_MADT_IOAPIC) {
				struct acpi_madt_ioapic io;
				memcpy(&io, t + off, sizeof(io));
				assert_int_equal(io.id, nr);
				assert_int_equal(le32_get(io.addr), X86_IOAPIC_ADDR);
				assert_int_equal(le32_get(io.gsi_base), 0);
				ioapics++;
			} else if (type == ACPI_MADT_INT_SRC_OVERRIDE) {
				struct acpi_madt_int_src_override iso;
				memcpy(&iso, t + off, sizeof(iso));
				if (iso.source == X86_ACPI_SCI_IRQ) {
					assert_int_equal(le32_get(iso.gsi), X86_ACPI_SCI_IRQ);
					assert_int_equal(le16_get(iso.flags), 0xd);
					sci = true;
				} else {
					assert_int_equal(iso.source, 0);
					assert_int_equal(le32_get(iso.gsi), X86_TIMER_GSI);
				}
				isos++;
			} else if (type == ACPI_MADT_LAPIC_NMI) {
				struct acpi_madt_lapic_nmi n;
				memcpy(&n, t + off, sizeof(n));
				assert_int_equal(n.processor_uid, 0xff);
				assert_int_equal(n.lint, 1);
				nmis++;
			}
			off += len;
		}
		assert_int_equal(lapics, nr);
		assert_int_equal(ioapics, 1);
		assert_int_equal(isos, X86_TIMER_GSI != 0 ? 2 : 1);
		assert_true(sci);
		assert_int_equal(nmis, 1);
		acpi_teardown(&c);
	}
}

static void test_acpi_mcfg(void **state)
{
	(void)state;
	struct acpi_ctx c;
	acpi_setup(&c, 1);
	const uint8_t *t = find_in_xsdt(&c, "MCFG");
	assert_int_equal(table_len(t), 44 + 16);
	struct acpi_mcfg_alloc a;
	memcpy(&a, t + 44, sizeof(a));
	assert_int_equal(le64_get(a.base), X86_PCIE_ECAM_ADDR);
	assert_int_equal(le16_get(a.segment), 0);
	assert_int_equal(a.start_bus, 0);
	assert_int_equal(a.end_bus, 255);
	/* 256 buses x 32 devices x 8 functions x 4 KiB = the ECAM window. */
	assert_int_equal((a.end_bus - a.start_bus + 1) * (1ULL << 20), X86_PCIE_ECAM_SIZE);
	acpi_teardown(&c);
}

static void test_acpi_errors(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r = { .base = GPA(0), .size = MiB(16) };
	assert_int_equal(gm_create(&gm, &r, 1), 0);
	uint64_t rsdp = 0;
	assert_int_equal(x86_write_acpi_tables(&gm, 0, &rsdp), -EINVAL);
	assert_int_equal(x86_write_acpi_tables(&gm, X86_MAX_VCPUS + 1, &rsdp), -E2BIG);
	assert_int_equal(rsdp, 0);
	gm_destroy(&gm);
	/* Guest memory not covering the ACPI area. */
	r.base = GPA(MiB(1));
	assert_int_equal(gm_create(&gm, &r, 1), 0);
	assert_int_equal(x86_write_acpi_tables(&gm, 1, &rsdp), -EFAULT);
	gm_destroy(&gm);
}

/* Writes each table to $ACPI_DUMP_DIR for `iasl -d` (not a test by itself). */
static void dump_table(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
}

static void test_acpi_dump(void **state)
{
	(void)state;
	const char *dir = getenv("ACPI_DUMP_DIR");
	if (!dir)
		skip();
	const char *cpus = getenv("ACPI_DUMP_CPUS");
	struct acpi_ctx c;
	acpi_setup(&c, cpus ? (uint32_t)atoi(cpus) : 4);
	struct acpi_rsdp r;
	memcpy(&r, c.blob, sizeof(r));
	dump_table(dir, "RSDP", &r, sizeof(r));
	const char *sigs[] = { "FACP", "APIC", "MCFG" };
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		const uint8_t *t = find_in_xsdt(&c, sigs[i]);
		dump_table(dir, sigs[i], t, table_len(t));
	}
	const uint8_t *x = table_at(&c, le64_get(r.xsdt_addr), "XSDT");
	dump_table(dir, "XSDT", x, table_len(x));
	const uint8_t *rs = table_at(&c, le32_get(r.rsdt_addr), "RSDT");
	dump_table(dir, "RSDT", rs, table_len(rs));
	struct acpi_fadt f;
	memcpy(&f, find_in_xsdt(&c, "FACP"), sizeof(f));
	const uint8_t *d = table_at(&c, le64_get(f.x_dsdt), "DSDT");
	dump_table(dir, "DSDT", d, table_len(d));
	dump_table(dir, "FACS", c.blob + (le32_get(f.firmware_ctrl) - X86_ACPI_ADDR), 64);
	acpi_teardown(&c);
}

/* ---- MP table ------------------------------------------------------------- */

static void test_mptable(void **state)
{
	(void)state;
	for (uint32_t nr = 1; nr <= X86_MAX_VCPUS; nr += 51) {
		struct guest_memory gm;
		struct gm_range r = { .base = GPA(0), .size = MiB(2) };
		assert_int_equal(gm_create(&gm, &r, 1), 0);
		assert_int_equal(x86_write_mptable(&gm, nr), 0);

		uint8_t buf[0x10000];
		assert_int_equal(gm_read(&gm, GPA(X86_MPTABLE_ADDR), buf, X86_HIGH_MEM_START - X86_MPTABLE_ADDR), 0);
		struct mp_floating_pointer fp;
		memcpy(&fp, buf, sizeof(fp));
		assert_memory_equal(fp.signature, "_MP_", 4);
		assert_int_equal(fp.length, 1);
		assert_int_equal(fp.spec_rev, 4);
		assert_int_equal(x86_byte_sum(&fp, sizeof(fp)), 0);

		uint32_t cfg = le32_get(fp.config_addr);
		assert_true(cfg >= X86_MPTABLE_ADDR && cfg < X86_HIGH_MEM_START);
		const uint8_t *t = buf + (cfg - X86_MPTABLE_ADDR);
		struct mp_config_header h;
		memcpy(&h, t, sizeof(h));
		assert_memory_equal(h.signature, "PCMP", 4);
		uint16_t len = le16_get(h.base_length);
		assert_true(cfg + len <= X86_HIGH_MEM_START);
		assert_int_equal(x86_byte_sum(t, len), 0);
		assert_int_equal(le32_get(h.lapic_addr), X86_LAPIC_ADDR);

		uint32_t cpus = 0, bsp = 0, buses = 0, ioapics = 0, io_ints = 0, extint = 0, nmi = 0;
		bool irq0 = false, sci = false;
		size_t off = sizeof(h);
		for (uint16_t i = 0; i < le16_get(h.entry_count); i++) {
			assert_true(off < len);
			switch (t[off]) {
			case MP_ENTRY_PROCESSOR: {
				struct mp_processor p;
				memcpy(&p, t + off, sizeof(p));
				assert_int_equal(p.lapic_id, cpus);
				assert_true(p.flags & MP_CPU_ENABLED);
				bsp += !!(p.flags & MP_CPU_BSP);
				if (p.flags & MP_CPU_BSP)
					assert_int_equal(p.lapic_id, 0);
				cpus++;
				off += sizeof(p);
				break;
			}
			case MP_ENTRY_BUS: {
				struct mp_bus bus;
				memcpy(&bus, t + off, sizeof(bus));
				assert_memory_equal(bus.bus_type, "ISA   ", 6);
				buses++;
				off += sizeof(bus);
				break;
			}
			case MP_ENTRY_IOAPIC: {
				struct mp_ioapic io;
				memcpy(&io, t + off, sizeof(io));
				assert_int_equal(io.id, nr);
				assert_int_equal(le32_get(io.addr), X86_IOAPIC_ADDR);
				assert_true(io.flags & MP_IOAPIC_ENABLED);
				ioapics++;
				off += sizeof(io);
				break;
			}
			case MP_ENTRY_IO_INTERRUPT: {
				struct mp_interrupt e;
				memcpy(&e, t + off, sizeof(e));
				assert_int_equal(e.dst_id, nr);
				if (e.src_irq == 0) {
					assert_int_equal(e.dst_pin, X86_TIMER_GSI);
					irq0 = true;
				} else {
					assert_int_equal(e.dst_pin, e.src_irq);
				}
				if (e.src_irq == X86_ACPI_SCI_IRQ) {
					assert_int_equal(le16_get(e.flags), 0xd);
					sci = true;
				}
				io_ints++;
				off += sizeof(e);
				break;
			}
			case MP_ENTRY_LOCAL_INTERRUPT: {
				struct mp_interrupt e;
				memcpy(&e, t + off, sizeof(e));
				assert_int_equal(e.dst_id, 0xff);
				if (e.irq_type == MP_EXTINT) {
					assert_int_equal(e.dst_pin, 0);
					extint++;
				} else {
					assert_int_equal(e.irq_type, MP_NMI);
					assert_int_equal(e.dst_pin, 1);
					nmi++;
				}
				off += sizeof(e);
				break;
			}
			default:
				fail_msg("unknown MP entry type %u", t[off]);
			}
		}
		assert_int_equal(off, len);
		assert_int_equal(cpus, nr);
		assert_int_equal(bsp, 1);
		assert_int_equal(buses, 1);
		assert_int_equal(ioapics, 1);
		assert_int_equal(io_ints, X86_TIMER_GSI == 2 ? 15 : 16);
		assert_true(irq0 && sci);
		assert_int_equal(extint, 1);
		assert_int_equal(nmi, 1);
		gm_destroy(&gm);
	}
}

static void test_mptable_errors(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r = { .base = GPA(0), .size = MiB(2) };
	assert_int_equal(gm_create(&gm, &r, 1), 0);
	assert_int_equal(x86_write_mptable(&gm, 0), -EINVAL);
	assert_int_equal(x86_write_mptable(&gm, X86_MAX_VCPUS + 1), -E2BIG);
	assert_int_equal(x86_write_mptable(&gm, X86_MAX_VCPUS), 0);
	gm_destroy(&gm);
	r.base = GPA(MiB(1));
	assert_int_equal(gm_create(&gm, &r, 1), 0);
	assert_int_equal(x86_write_mptable(&gm, 1), -EFAULT);
	gm_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkg_length),
		cmocka_unit_test(test_aml_names),
		cmocka_unit_test(test_aml_integers_strings),
		cmocka_unit_test(test_aml_package_nesting),
		cmocka_unit_test(test_aml_overflow),
		cmocka_unit_test(test_aml_resources),
		cmocka_unit_test(test_acpi_rsdp_xsdt_rsdt),
		cmocka_unit_test(test_acpi_fadt_facs_dsdt),
		cmocka_unit_test(test_acpi_madt),
		cmocka_unit_test(test_acpi_mcfg),
		cmocka_unit_test(test_acpi_errors),
		cmocka_unit_test(test_acpi_dump),
		cmocka_unit_test(test_mptable),
		cmocka_unit_test(test_mptable_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
