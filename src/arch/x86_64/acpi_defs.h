/*
 * ACPI 6.0 table layouts (chapter 5.2) used by acpi.c and its tests. All
 * multi-byte fields are little-endian.
 */
#ifndef CROSVM_ARCH_X86_64_ACPI_DEFS_H
#define CROSVM_ARCH_X86_64_ACPI_DEFS_H

#include <stdint.h>

#include "base/types.h"

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* over the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision; /* 2: ACPI 2.0+ with XSDT */
	le32_t rsdt_addr;
	le32_t length;
	le64_t xsdt_addr;
	uint8_t ext_checksum; /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_table_header {
	char signature[4];
	le32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	le32_t oem_revision;
	char creator_id[4];
	le32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	le64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_GAS_ACCESS_WORD 2

struct acpi_fadt {
	struct acpi_table_header header;
	le32_t firmware_ctrl;
	le32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	le16_t sci_int;
	le32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	le32_t pm1a_evt_blk;
	le32_t pm1b_evt_blk;
	le32_t pm1a_cnt_blk;
	le32_t pm1b_cnt_blk;
	le32_t pm2_cnt_blk;
	le32_t pm_tmr_blk;
	le32_t gpe0_blk;
	le32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	le16_t p_lvl2_lat;
	le16_t p_lvl3_lat;
	le16_t flush_size;
	le16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	le16_t iapc_boot_arch;
	uint8_t reserved1;
	le32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	le16_t arm_boot_arch;
	uint8_t minor_version;
	le64_t x_firmware_ctrl;
	le64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	le64_t hypervisor_vendor_id;
} __attribute__((packed));

/* FADT flags (ACPI 6.0 table 5-35). */
#define ACPI_FADT_WBINVD (1U << 0)
#define ACPI_FADT_PROC_C1 (1U << 2)
#define ACPI_FADT_PWR_BUTTON (1U << 4) /* 1 = no fixed-feature power button */
#define ACPI_FADT_SLP_BUTTON (1U << 5) /* 1 = no fixed-feature sleep button */
#define ACPI_FADT_FIX_RTC (1U << 6)    /* 1 = no RTC wake status in PM1 */
#define ACPI_FADT_RESET_REG_SUP (1U << 10)
#define ACPI_FADT_HW_REDUCED (1U << 20)
/* IA-PC boot architecture flags. */
#define ACPI_IAPC_LEGACY_DEVICES (1U << 0)
#define ACPI_IAPC_8042 (1U << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT (1U << 2)

struct acpi_facs {
	char signature[4]; /* "FACS" */
	le32_t length;
	le32_t hardware_signature;
	le32_t firmware_waking_vector;
	le32_t global_lock;
	le32_t flags;
	le64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	le32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));

struct acpi_madt {
	struct acpi_table_header header;
	le32_t lapic_addr;
	le32_t flags;
} __attribute__((packed));

#define ACPI_MADT_PCAT_COMPAT 1U

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0,
	ACPI_MADT_IOAPIC = 1,
	ACPI_MADT_INT_SRC_OVERRIDE = 2,
	ACPI_MADT_LAPIC_NMI = 4,
};

struct acpi_madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	le32_t flags; /* bit 0: enabled */
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t id;
	uint8_t reserved;
	le32_t addr;
	le32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_int_src_override {
	uint8_t type;
	uint8_t length;
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	le32_t gsi;
	le16_t flags; /* MPS INTI flags: polarity bits 1:0, trigger bits 3:2 */
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid; /* 0xff: all processors */
	le16_t flags;
	uint8_t lint;
} __attribute__((packed));

#define ACPI_MADT_ENABLED 1U
#define ACPI_INTI_POLARITY_HIGH 0x1
#define ACPI_INTI_TRIGGER_LEVEL 0xc

struct acpi_mcfg {
	struct acpi_table_header header;
	uint8_t reserved[8];
} __attribute__((packed));

struct acpi_mcfg_alloc {
	le64_t base;
	le16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	le32_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
_Static_assert(sizeof(struct acpi_table_header) == 36, "SDT header");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT LAPIC");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT IOAPIC");
_Static_assert(sizeof(struct acpi_madt_int_src_override) == 10, "MADT ISO");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT LAPIC NMI");
_Static_assert(sizeof(struct acpi_mcfg) == 44, "MCFG");
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "MCFG allocation");

#endif
