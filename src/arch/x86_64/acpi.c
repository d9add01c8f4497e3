/*
 * ACPI tables for a PC-like (not hardware-reduced) machine: RSDP, RSDT,
 * XSDT, FADT, FACS, DSDT, MADT and MCFG, laid out back to back from
 * X86_ACPI_ADDR, which is inside the e820-reserved BIOS area Linux also
 * scans for the RSDP. They describe the same machine as the MP table
 * (mptable.c): CPUs with APIC IDs 0..n-1, one IOAPIC with ID n, the ISA
 * IRQs on the pins X86_TIMER_GSI implies, the SCI level-triggered and
 * active high, and the PM1a event/control blocks the ACPI PM device
 * implements at X86_ACPI_PM1A_*_PORT. SMI_CMD is 0, which tells the guest
 * ACPI mode is always on (the PM device must then report SCI_EN set).
 */
#include "arch/x86_64/x86_64.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/acpi_aml.h"
#include "arch/x86_64/acpi_defs.h"
#include "arch/x86_64/checksum.h"

#define OEM_ID "CROSVM"
#define OEM_TABLE_ID "CROSVM  "
#define OEM_REVISION 1
#define CREATOR_ID "CRVM"
#define CREATOR_REVISION 1

/* Revisions of ACPI 6.0. */
#define RSDP_REVISION 2
#define RSDT_REVISION 1
#define XSDT_REVISION 1
#define FADT_REVISION 6
#define FADT_MINOR_REVISION 0
#define FACS_VERSION 2
#define DSDT_REVISION 2 /* 2+: integers are 64 bits wide */
#define MADT_REVISION 4
#define MCFG_REVISION 1

#define PM1_EVT_LEN 4 /* PM1_STS + PM1_EN, 16 bits each */
#define PM1_CNT_LEN 2
/* Latencies above 100 us (C2) / 1000 us (C3) mean "not supported". */
#define C2_NOT_SUPPORTED 101
#define C3_NOT_SUPPORTED 1001

#define LAPIC_NMI_ALL_CPUS 0xff
#define LAPIC_NMI_LINT 1
#define PCI_BUS_MAX 255
#define NR_SDT_ENTRIES 3 /* FADT, MADT, MCFG */

_Static_assert(X86_ACPI_ADDR + X86_ACPI_MAX <= X86_MPTABLE_ADDR, "ACPI tables end before the MP table");
_Static_assert(X86_ACPI_ADDR % 16 == 0, "RSDP must be 16-byte aligned to be found by scanning");
_Static_assert(X86_PCI_MMIO32_END <= X86_PCIE_ECAM_ADDR, "MMIO window below ECAM");

struct blob {
	uint8_t *buf; /* owned by x86_write_acpi_tables */
	size_t cap;
	size_t len;
};

static int blob_alloc(struct blob *b, size_t size, size_t align, size_t *off)
{
	size_t start = (b->len + align - 1) & ~(align - 1);
	if (start > b->cap || size > b->cap - start)
		return -ENOSPC;
	*off = start;
	b->len = start + size;
	return 0;
}

static uint64_t blob_addr(size_t off)
{
	return X86_ACPI_ADDR + off;
}

static struct acpi_table_header make_header(const char sig[4], uint8_t revision)
{
	struct acpi_table_header h = { .revision = revision,
				       .oem_revision = le32_make(OEM_REVISION),
				       .creator_revision = le32_make(CREATOR_REVISION) };
	memcpy(h.signature, sig, 4);
	memcpy(h.oem_id, OEM_ID, 6);
	memcpy(h.oem_table_id, OEM_TABLE_ID, 8);
	memcpy(h.creator_id, CREATOR_ID, 4);
	return h;
}

/* Stores the length and the checksum of the table at off. */
static void table_finish(struct blob *b, size_t off, size_t len)
{
	struct acpi_table_header h;
	memcpy(&h, b->buf + off, sizeof(h));
	h.length = le32_make((uint32_t)len);
	h.checksum = 0;
	memcpy(b->buf + off, &h, sizeof(h));
	b->buf[off + offsetof(struct acpi_table_header, checksum)] = x86_checksum_fix(b->buf + off, len);
}

static struct acpi_gas io_gas(uint16_t port, uint8_t bytes)
{
	return (struct acpi_gas){ .space_id = ACPI_GAS_SYSTEM_IO,
				  .bit_width = (uint8_t)(bytes * 8),
				  .access_size = ACPI_GAS_ACCESS_WORD,
				  .address = le64_make(port) };
}

static int build_facs(struct blob *b, size_t *off)
{
	/* 64-byte alignment is required; the FACS has no checksum. */
	int err = blob_alloc(b, sizeof(struct acpi_facs), 64, off);
	if (err < 0)
		return err;
	struct acpi_facs facs = { .length = le32_make(sizeof(facs)), .version = FACS_VERSION };
	memcpy(facs.signature, "FACS", 4);
	memcpy(b->buf + *off, &facs, sizeof(facs));
	return 0;
}

static int build_pci_crs(struct aml_buf *a)
{
	uint8_t tmp[128];
	struct aml_buf r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_word_bus_number(&r, 0, PCI_BUS_MAX);
	/* The configuration ports are the bridge's own; the I/O windows are
	 * everything else (legacy devices below are decoded there too). */
	aml_res_io(&r, X86_PCI_CONFIG_PORT, X86_PCI_CONFIG_PORT, 1, 8);
	aml_res_word_io(&r, 0x0000, X86_PCI_CONFIG_PORT - 1);
	aml_res_word_io(&r, X86_PCI_CONFIG_PORT + 8, 0xffff);
	aml_res_dword_memory(&r, (uint32_t)X86_PCI_MMIO32_START, (uint32_t)(X86_PCI_MMIO32_END - 1));
	aml_res_end(&r);
	int err = aml_finish(&r);
	if (err < 0)
		return err;
	aml_name_decl(a, "_CRS");
	aml_buffer(a, tmp, r.len);
	return 0;
}

static int build_ecam_reservation(struct aml_buf *a)
{
	/* A motherboard-resource device claiming the ECAM window: Linux
	 * accepts the MCFG region when it is reserved here or in e820. */
	uint8_t tmp[32];
	struct aml_buf r;
	aml_init(&r, tmp, sizeof(tmp));
	aml_res_memory32_fixed(&r, (uint32_t)X86_PCIE_ECAM_ADDR, (uint32_t)X86_PCIE_ECAM_SIZE, true);
	aml_res_end(&r);
	int err = aml_finish(&r);
	if (err < 0)
		return err;
	size_t dev = aml_device_begin(a, "MRES");
	aml_name_decl(a, "_HID");
	aml_eisa_id(a, "PNP0C02");
	aml_name_decl(a, "_CRS");
	aml_buffer(a, tmp, r.len);
	aml_pkg_end(a, dev);
	return 0;
}

static int build_dsdt_body(struct aml_buf *a, uint32_t nr_cpus)
{
	int err;
	/* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved. Writing SLP_TYPa with
	 * SLP_EN to PM1a_CNT is how the guest powers off. */
	aml_name_decl(a, "_S5_");
	size_t pkg = aml_package_begin(a, 4);
	aml_integer(a, X86_ACPI_S5_SLP_TYP);
	aml_integer(a, X86_ACPI_S5_SLP_TYP);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_pkg_end(a, pkg);

	size_t sb = aml_scope_begin(a, "\\_SB_");

	size_t pci = aml_device_begin(a, "PCI0");
	aml_name_decl(a, "_HID");
	aml_eisa_id(a, "PNP0A08"); /* PCI Express root bridge */
	aml_name_decl(a, "_CID");
	aml_eisa_id(a, "PNP0A03"); /* compatible: PCI root bridge */
	/* No _ADR: a device has a _HID or an _ADR, not both (ACPI 6.1). */
	aml_name_decl(a, "_SEG");
	aml_integer(a, 0);
	aml_name_decl(a, "_UID");
	aml_integer(a, 0);
	if ((err = build_pci_crs(a)) < 0)
		return err;
	aml_pkg_end(a, pci);

	if ((err = build_ecam_reservation(a)) < 0)
		return err;

	/* Processor devices whose _UID matches the MADT's processor UID, so
	 * the guest's ACPI processor driver binds to each CPU. */
	for (uint32_t i = 0; i < nr_cpus; i++) {
		char name[8];
		snprintf(name, sizeof(name), "C%03X", (unsigned)(i & 0xfff));
		size_t dev = aml_device_begin(a, name);
		aml_name_decl(a, "_HID");
		aml_string(a, "ACPI0007");
		aml_name_decl(a, "_UID");
		aml_integer(a, i);
		aml_pkg_end(a, dev);
	}

	aml_pkg_end(a, sb);
	return aml_finish(a);
}

static int build_dsdt(struct blob *b, uint32_t nr_cpus, size_t *off)
{
	int err = blob_alloc(b, sizeof(struct acpi_table_header), 16, off);
	if (err < 0)
		return err;
	struct acpi_table_header h = make_header("DSDT", DSDT_REVISION);
	memcpy(b->buf + *off, &h, sizeof(h));

	struct aml_buf a;
	aml_init(&a, b->buf + b->len, b->cap - b->len);
	int len = build_dsdt_body(&a, nr_cpus);
	if (len < 0)
		return len;
	b->len += (size_t)len;
	table_finish(b, *off, b->len - *off);
	return 0;
}

static int build_fadt(struct blob *b, size_t facs_off, size_t dsdt_off, size_t *off)
{
	int err = blob_alloc(b, sizeof(struct acpi_fadt), 16, off);
	if (err < 0)
		return err;
	struct acpi_fadt f = {
		.header = make_header("FACP", FADT_REVISION),
		/* The 32-bit FACS pointer only: the spec wants X_FIRMWARE_CTRL
		 * zero when FIRMWARE_CTRL is set. The DSDT is given both ways. */
		.firmware_ctrl = le32_make((uint32_t)blob_addr(facs_off)),
		.dsdt = le32_make((uint32_t)blob_addr(dsdt_off)),
		.x_dsdt = le64_make(blob_addr(dsdt_off)),
		.sci_int = le16_make(X86_ACPI_SCI_IRQ),
		/* No SMI command port: the platform is always in ACPI mode. */
		.smi_cmd = le32_make(0),
		.pm1a_evt_blk = le32_make(X86_ACPI_PM1A_EVT_PORT),
		.pm1a_cnt_blk = le32_make(X86_ACPI_PM1A_CNT_PORT),
		.pm1_evt_len = PM1_EVT_LEN,
		.pm1_cnt_len = PM1_CNT_LEN,
		.x_pm1a_evt_blk = io_gas(X86_ACPI_PM1A_EVT_PORT, PM1_EVT_LEN),
		.x_pm1a_cnt_blk = io_gas(X86_ACPI_PM1A_CNT_PORT, PM1_CNT_LEN),
		.p_lvl2_lat = le16_make(C2_NOT_SUPPORTED),
		.p_lvl3_lat = le16_make(C3_NOT_SUPPORTED),
		/* Legacy ISA devices (COM ports, CMOS) and an i8042 exist but
		 * are not enumerated in the DSDT; there is no VGA. */
		.iapc_boot_arch = le16_make(ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT),
		/* WBINVD works and C1 (HLT) is supported; the power and sleep
		 * buttons are not fixed features and RTC wake is absent. No
		 * reset register: Linux reboots through the i8042. */
		.flags = le32_make(ACPI_FADT_WBINVD | ACPI_FADT_PROC_C1 | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
				   ACPI_FADT_FIX_RTC),
		.minor_version = FADT_MINOR_REVISION,
	};
	memcpy(b->buf + *off, &f, sizeof(f));
	table_finish(b, *off, sizeof(f));
	return 0;
}

static void madt_put(struct blob *b, size_t *pos, const void *entry, size_t len)
{
	memcpy(b->buf + *pos, entry, len);
	*pos += len;
}

static int build_madt(struct blob *b, uint32_t nr_cpus, size_t *off)
{
	const bool timer_override = X86_TIMER_GSI != 0;
	size_t size = sizeof(struct acpi_madt) + nr_cpus * sizeof(struct acpi_madt_lapic) +
		      sizeof(struct acpi_madt_ioapic) +
		      (timer_override ? 2 : 1) * sizeof(struct acpi_madt_int_src_override) +
		      sizeof(struct acpi_madt_lapic_nmi);
	int err = blob_alloc(b, size, 16, off);
	if (err < 0)
		return err;

	struct acpi_madt m = {
		.header = make_header("APIC", MADT_REVISION),
		.lapic_addr = le32_make((uint32_t)X86_LAPIC_ADDR),
		/* There are 8259 PICs too: the guest must mask them. */
		.flags = le32_make(ACPI_MADT_PCAT_COMPAT),
	};
	size_t pos = *off;
	madt_put(b, &pos, &m, sizeof(m));
	for (uint32_t i = 0; i < nr_cpus; i++) {
		struct acpi_madt_lapic l = { .type = ACPI_MADT_LAPIC,
					     .length = sizeof(l),
					     .processor_uid = (uint8_t)i,
					     .apic_id = (uint8_t)i,
					     .flags = le32_make(ACPI_MADT_ENABLED) };
		madt_put(b, &pos, &l, sizeof(l));
	}
	struct acpi_madt_ioapic io = { .type = ACPI_MADT_IOAPIC,
				       .length = sizeof(io),
				       .id = (uint8_t)nr_cpus,
				       .addr = le32_make((uint32_t)X86_IOAPIC_ADDR),
				       .gsi_base = le32_make(0) };
	madt_put(b, &pos, &io, sizeof(io));
	if (timer_override) {
		struct acpi_madt_int_src_override iso = { .type = ACPI_MADT_INT_SRC_OVERRIDE,
							  .length = sizeof(iso),
							  .bus = 0,
							  .source = 0,
							  .gsi = le32_make(X86_TIMER_GSI) };
		madt_put(b, &pos, &iso, sizeof(iso));
	}
	/* Without this override Linux would configure the SCI active low,
	 * and KVM's IOAPIC would invert the line the PM device raises. */
	struct acpi_madt_int_src_override sci = { .type = ACPI_MADT_INT_SRC_OVERRIDE,
						  .length = sizeof(sci),
						  .bus = 0,
						  .source = X86_ACPI_SCI_IRQ,
						  .gsi = le32_make(X86_ACPI_SCI_IRQ),
						  .flags = le16_make(ACPI_INTI_POLARITY_HIGH | ACPI_INTI_TRIGGER_LEVEL) };
	madt_put(b, &pos, &sci, sizeof(sci));
	struct acpi_madt_lapic_nmi nmi = { .type = ACPI_MADT_LAPIC_NMI,
					   .length = sizeof(nmi),
					   .processor_uid = LAPIC_NMI_ALL_CPUS,
					   .lint = LAPIC_NMI_LINT };
	madt_put(b, &pos, &nmi, sizeof(nmi));

	table_finish(b, *off, size);
	return 0;
}

static int build_mcfg(struct blob *b, size_t *off)
{
	size_t size = sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_alloc);
	int err = blob_alloc(b, size, 16, off);
	if (err < 0)
		return err;
	struct acpi_mcfg m = { .header = make_header("MCFG", MCFG_REVISION) };
	struct acpi_mcfg_alloc a = { .base = le64_make(X86_PCIE_ECAM_ADDR),
				     .segment = le16_make(0),
				     .start_bus = 0,
				     .end_bus = PCI_BUS_MAX };
	memcpy(b->buf + *off, &m, sizeof(m));
	memcpy(b->buf + *off + sizeof(m), &a, sizeof(a));
	table_finish(b, *off, size);
	return 0;
}

/* RSDT (32-bit pointers) for ACPI 1.0 readers, XSDT (64-bit) for the rest. */
static int build_sdt(struct blob *b, const char sig[4], uint8_t revision, size_t entry_size,
		     const size_t *tables, size_t n, size_t *off)
{
	size_t size = sizeof(struct acpi_table_header) + n * entry_size;
	int err = blob_alloc(b, size, 16, off);
	if (err < 0)
		return err;
	struct acpi_table_header h = make_header(sig, revision);
	memcpy(b->buf + *off, &h, sizeof(h));
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = b->buf + *off + sizeof(h) + i * entry_size;
		if (entry_size == 4) {
			le32_t v = le32_make((uint32_t)blob_addr(tables[i]));
			memcpy(p, &v, sizeof(v));
		} else {
			le64_t v = le64_make(blob_addr(tables[i]));
			memcpy(p, &v, sizeof(v));
		}
	}
	table_finish(b, *off, size);
	return 0;
}

static void fill_rsdp(struct blob *b, size_t rsdp_off, size_t rsdt_off, size_t xsdt_off)
{
	struct acpi_rsdp r = { .revision = RSDP_REVISION,
			       .rsdt_addr = le32_make((uint32_t)blob_addr(rsdt_off)),
			       .length = le32_make(sizeof(r)),
			       .xsdt_addr = le64_make(blob_addr(xsdt_off)) };
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, OEM_ID, 6);
	/* The first checksum covers the ACPI 1.0 structure (20 bytes), the
	 * extended one the whole RSDP including the first checksum. */
	r.checksum = x86_checksum_fix(&r, offsetof(struct acpi_rsdp, length));
	r.ext_checksum = x86_checksum_fix(&r, sizeof(r));
	memcpy(b->buf + rsdp_off, &r, sizeof(r));
}

int x86_write_acpi_tables(const struct guest_memory *gm, uint32_t nr_cpus, uint64_t *rsdp_addr)
{
	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > X86_MAX_VCPUS)
		return -E2BIG;

	struct blob b = { .buf = calloc(1, X86_ACPI_MAX), .cap = X86_ACPI_MAX };
	if (!b.buf)
		return -ENOMEM;
	size_t rsdp, facs, dsdt, fadt, madt, mcfg, rsdt, xsdt;
	int err;
	if ((err = blob_alloc(&b, sizeof(struct acpi_rsdp), 16, &rsdp)) < 0 ||
	    (err = build_facs(&b, &facs)) < 0 || (err = build_dsdt(&b, nr_cpus, &dsdt)) < 0 ||
	    (err = build_fadt(&b, facs, dsdt, &fadt)) < 0 || (err = build_madt(&b, nr_cpus, &madt)) < 0 ||
	    (err = build_mcfg(&b, &mcfg)) < 0)
		goto out;
	const size_t tables[NR_SDT_ENTRIES] = { fadt, madt, mcfg };
	if ((err = build_sdt(&b, "RSDT", RSDT_REVISION, 4, tables, NR_SDT_ENTRIES, &rsdt)) < 0 ||
	    (err = build_sdt(&b, "XSDT", XSDT_REVISION, 8, tables, NR_SDT_ENTRIES, &xsdt)) < 0)
		goto out;
	fill_rsdp(&b, rsdp, rsdt, xsdt);

	if ((err = gm_write(gm, GPA(X86_ACPI_ADDR), b.buf, b.len)) < 0)
		goto out;
	*rsdp_addr = blob_addr(rsdp);
out:
	free(b.buf);
	return err;
}
