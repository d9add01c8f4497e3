/*
 * The Intel MultiProcessor Specification 1.4 table. Linux prefers the ACPI
 * MADT; the MP table is what it falls back to with acpi=off (and what
 * older or minimal guests understand). It must describe the same machine
 * as the MADT: CPUs with APIC IDs 0..n-1, one IOAPIC with ID n, ISA IRQs
 * on the IOAPIC pins the MADT announces, and LINT0/LINT1 as ExtINT/NMI.
 * The floating pointer sits at X86_MPTABLE_ADDR inside the BIOS area
 * [0xf0000, 1 MiB) Linux scans, the configuration table right after it.
 */
#include "arch/x86_64/x86_64.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/checksum.h"
#include "arch/x86_64/mptable_defs.h"

/* Values KVM's in-kernel LAPIC and IOAPIC report in their version
 * registers; the MP table should not contradict the hardware. */
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
/* CPU signature (family 6) and CPUID.1 EDX features (FPU, APIC) for the
 * processor entries; Linux only looks at the APIC ID and flags. */
#define CPU_SIGNATURE (6U << 8)
#define CPU_FEATURES ((1U << 0) | (1U << 9))
#define ISA_BUS_ID 0
#define NR_ISA_IRQS 16
#define LAPIC_ALL 0xff

#define MP_TABLE_MAX                                                                                  \
	(sizeof(struct mp_floating_pointer) + sizeof(struct mp_config_header) +                      \
	 X86_MAX_VCPUS * sizeof(struct mp_processor) + sizeof(struct mp_bus) + sizeof(struct mp_ioapic) + \
	 (NR_ISA_IRQS + 2) * sizeof(struct mp_interrupt))

_Static_assert(X86_MPTABLE_ADDR + MP_TABLE_MAX <= X86_HIGH_MEM_START, "MP table stays below 1 MiB");
_Static_assert(X86_MPTABLE_ADDR % 16 == 0, "floating pointer is paragraph aligned");

struct mp_builder {
	uint8_t *buf;
	size_t len;
	uint16_t entries;
};

static void put(struct mp_builder *b, const void *entry, size_t size)
{
	memcpy(b->buf + b->len, entry, size);
	b->len += size;
	b->entries++;
}

static void put_interrupt(struct mp_builder *b, uint8_t entry_type, uint8_t irq_type, uint16_t flags,
			  uint8_t src_irq, uint8_t dst_id, uint8_t dst_pin)
{
	struct mp_interrupt e = {
		.type = entry_type,
		.irq_type = irq_type,
		.flags = le16_make(flags),
		.src_bus = ISA_BUS_ID,
		.src_irq = src_irq,
		.dst_id = dst_id,
		.dst_pin = dst_pin,
	};
	put(b, &e, sizeof(e));
}

int x86_write_mptable(const struct guest_memory *gm, uint32_t nr_cpus)
{
	if (nr_cpus == 0)
		return -EINVAL;
	if (nr_cpus > X86_MAX_VCPUS)
		return -E2BIG;

	uint8_t buf[MP_TABLE_MAX];
	memset(buf, 0, sizeof(buf));
	const size_t cfg_off = sizeof(struct mp_floating_pointer);
	struct mp_builder b = { .buf = buf, .len = cfg_off + sizeof(struct mp_config_header) };
	const uint8_t ioapic_id = (uint8_t)nr_cpus;

	for (uint32_t i = 0; i < nr_cpus; i++) {
		struct mp_processor p = {
			.type = MP_ENTRY_PROCESSOR,
			.lapic_id = (uint8_t)i,
			.lapic_version = LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = le32_make(CPU_SIGNATURE),
			.feature_flags = le32_make(CPU_FEATURES),
		};
		put(&b, &p, sizeof(p));
	}
	struct mp_bus bus = { .type = MP_ENTRY_BUS, .bus_id = ISA_BUS_ID };
	memcpy(bus.bus_type, "ISA   ", sizeof(bus.bus_type));
	put(&b, &bus, sizeof(bus));
	struct mp_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC,
		.id = ioapic_id,
		.version = IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED,
		.addr = le32_make((uint32_t)X86_IOAPIC_ADDR),
	};
	put(&b, &ioapic, sizeof(ioapic));

	for (uint8_t irq = 0; irq < NR_ISA_IRQS; irq++) {
		uint8_t pin = irq == 0 ? X86_TIMER_GSI : irq;
		/* With PC-style wiring, pin 2 belongs to the timer and IRQ2 (the
		 * 8259 cascade) never reaches the IOAPIC. */
		if (irq == 2 && X86_TIMER_GSI == 2)
			continue;
		/* The SCI is level-triggered, active high, as the MADT's
		 * override says (KVM's IOAPIC would invert an active-low line). */
		uint16_t flags = irq == X86_ACPI_SCI_IRQ ? MP_IRQ_POLARITY_HIGH | MP_IRQ_TRIGGER_LEVEL : MP_IRQ_CONFORMS;
		put_interrupt(&b, MP_ENTRY_IO_INTERRUPT, MP_INT, flags, irq, ioapic_id, pin);
	}
	/* Virtual wire mode: the 8259 reaches every CPU's LINT0 as ExtINT,
	 * NMI arrives on LINT1 (as x86_init_lapic() programs). */
	put_interrupt(&b, MP_ENTRY_LOCAL_INTERRUPT, MP_EXTINT, MP_IRQ_CONFORMS, 0, LAPIC_ALL, 0);
	put_interrupt(&b, MP_ENTRY_LOCAL_INTERRUPT, MP_NMI, MP_IRQ_CONFORMS, 0, LAPIC_ALL, 1);

	struct mp_config_header hdr = {
		.base_length = le16_make((uint16_t)(b.len - cfg_off)),
		.spec_rev = MP_SPEC_REV_1_4,
		.entry_count = le16_make(b.entries),
		.lapic_addr = le32_make((uint32_t)X86_LAPIC_ADDR),
	};
	memcpy(hdr.signature, MP_CONFIG_SIGNATURE, 4);
	memcpy(hdr.oem_id, "CROSVM  ", 8);
	memcpy(hdr.product_id, "CROSVM-C    ", 12);
	memcpy(buf + cfg_off, &hdr, sizeof(hdr));
	buf[cfg_off + offsetof(struct mp_config_header, checksum)] = x86_checksum_fix(buf + cfg_off, b.len - cfg_off);

	struct mp_floating_pointer fp = {
		.config_addr = le32_make((uint32_t)(X86_MPTABLE_ADDR + cfg_off)),
		.length = 1,
		.spec_rev = MP_SPEC_REV_1_4,
	};
	memcpy(fp.signature, MP_FLOATING_SIGNATURE, 4);
	fp.checksum = x86_checksum_fix(&fp, sizeof(fp));
	memcpy(buf, &fp, sizeof(fp));

	return gm_write(gm, GPA(X86_MPTABLE_ADDR), buf, b.len);
}
