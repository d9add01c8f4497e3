/*
 * Intel MultiProcessor Specification 1.4 structures (chapter 4), shared by
 * mptable.c and its tests. All multi-byte fields are little-endian.
 */
#ifndef CROSVM_ARCH_X86_64_MPTABLE_DEFS_H
#define CROSVM_ARCH_X86_64_MPTABLE_DEFS_H

#include <stdint.h>

#include "base/types.h"

#define MP_FLOATING_SIGNATURE "_MP_"
#define MP_CONFIG_SIGNATURE "PCMP"
#define MP_SPEC_REV_1_4 4

enum mp_entry_type {
	MP_ENTRY_PROCESSOR = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IO_INTERRUPT = 3,
	MP_ENTRY_LOCAL_INTERRUPT = 4,
};

enum mp_interrupt_type { MP_INT = 0, MP_NMI = 1, MP_SMI = 2, MP_EXTINT = 3 };

/* Interrupt entry flags: polarity in bits 1:0, trigger mode in bits 3:2;
 * 0 means "conforms to the bus" (ISA: edge, active high). */
#define MP_IRQ_POLARITY_HIGH 0x1
#define MP_IRQ_TRIGGER_LEVEL 0xc
#define MP_IRQ_CONFORMS 0x0

#define MP_CPU_ENABLED 0x1
#define MP_CPU_BSP 0x2
#define MP_IOAPIC_ENABLED 0x1

struct mp_floating_pointer {
	char signature[4];
	le32_t config_addr;
	uint8_t length; /* in 16-byte paragraphs: 1 */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5]; /* all 0: config table present, no IMCR (virtual wire) */
} __attribute__((packed));

struct mp_config_header {
	char signature[4];
	le16_t base_length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	le32_t oem_table_addr;
	le16_t oem_table_size;
	le16_t entry_count;
	le32_t lapic_addr;
	le16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t flags;
	le32_t signature;
	le32_t feature_flags;
	uint8_t reserved[8];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;
	le32_t addr;
} __attribute__((packed));

/* Used for both I/O (type 3) and local (type 4) interrupt assignments. */
struct mp_interrupt {
	uint8_t type;
	uint8_t irq_type;
	le16_t flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_id;  /* IOAPIC ID, or LAPIC ID (0xff = all) */
	uint8_t dst_pin; /* IOAPIC INTIN#, or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating_pointer) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mp_config_header) == 44, "MP config header");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry");
_Static_assert(sizeof(struct mp_interrupt) == 8, "MP interrupt entry");

#endif
