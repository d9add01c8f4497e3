/*
 * x86_64 platform set-up: pure builders for everything a Linux guest (or a
 * small purpose-built guest) expects to find when its first instruction
 * runs. Functions here either write fixed structures into guest memory
 * (through vm_memory) at the addresses of layout.h, or fill linux/kvm.h
 * structures the caller then hands to KVM. Nothing here issues an ioctl.
 *
 * Start-up order used by the VMM core:
 *   x86_memory_ranges()        -> gm_create()
 *   load kernel/initrd/cmdline -> x86_write_zero_page() (e820 inside)
 *   x86_write_page_tables(), x86_write_gdt()
 *   x86_write_mptable(), x86_write_acpi_tables() (rsdp -> zero page)
 *   per vCPU: x86_cpuid_configure(), x86_boot_msrs(), x86_init_lapic(),
 *             x86_init_fpu(); BSP also x86_init_sregs(), x86_init_regs().
 */
#ifndef CROSVM_ARCH_X86_64_H
#define CROSVM_ARCH_X86_64_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>
#include <linux/kvm.h>

#include "arch/x86_64/layout.h"
#include "base/types.h"
#include "vm_memory/vm_memory.h"

/* Most vCPUs the tables can describe: xAPIC IDs are 8 bits, 0xff is the
 * broadcast ID and the IOAPIC takes ID nr_cpus. */
#define X86_MAX_VCPUS 254

/* ---- memory_layout.c ---------------------------------------------------- */

/*
 * Splits mem_bytes of guest RAM into at most two ranges: [0, min(mem,
 * X86_MMIO_HOLE_START)) and, for the rest, a range starting at 4 GiB.
 * *n receives 1 or 2. Returns 0, or -EINVAL when mem_bytes is below 1 MiB,
 * not 4 KiB aligned or so large the high range would overflow.
 */
int x86_memory_ranges(uint64_t mem_bytes, struct gm_range out[2], size_t *n) MUST_USE;

/* ---- boot_params.c ------------------------------------------------------ */

#define X86_E820_RAM 1
#define X86_E820_RESERVED 2

struct x86_boot_config {
	uint64_t cmdline_addr;
	uint32_t cmdline_size; /* bytes including the NUL; 0 = no command line */
	uint64_t initrd_addr, initrd_size; /* size 0 = no initrd */
	uint64_t rsdp_addr; /* 0 = let the guest scan for it */
	const struct setup_header *hdr; /* borrowed; from the bzImage, NULL for an ELF vmlinux */
};

/*
 * Builds the e820 map from the guest memory regions: usable RAM below the
 * EBDA, the EBDA/BIOS area [X86_EBDA_START, 1 MiB) reserved (it holds the
 * ACPI tables and the MP table), usable RAM from 1 MiB to the end of the
 * low region, the PCIe ECAM window reserved, then every further region as
 * usable RAM. The first region must start at 0 and reach at least 1 MiB;
 * no region may overlap the ECAM window. Returns 0 with *n entries in out,
 * -EINVAL for an unsupported region layout, -ENOSPC when max is too small.
 */
int x86_build_e820(const struct guest_memory *gm, struct boot_e820_entry *out, size_t max,
		   size_t *n) MUST_USE;

/*
 * Writes struct boot_params at X86_ZERO_PAGE_ADDR: the kernel's setup
 * header (when cfg->hdr), loader fields, command line, initrd, RSDP and
 * the e820 map. The command line and initrd must lie in guest RAM, the
 * command line must end with its NUL and fit the kernel's cmdline_size,
 * the initrd must respect the kernel's initrd_addr_max. Returns 0,
 * -EINVAL/-E2BIG/-ERANGE for a bad configuration or -EFAULT if guest
 * memory does not cover the zero page.
 */
int x86_write_zero_page(const struct guest_memory *gm, const struct x86_boot_config *cfg) MUST_USE;

/* ---- page_tables.c ------------------------------------------------------ */

/*
 * Writes identity page tables for the first 4 GiB: PML4 at X86_PML4_ADDR,
 * one PDPT at X86_PDPT_ADDR, four page directories from X86_PD_ADDR, all
 * 2 MiB pages (1 GiB pages triple-fault on this project's nested KVM).
 * Returns 0 or -EFAULT.
 */
int x86_write_page_tables(const struct guest_memory *gm) MUST_USE;

/* ---- gdt.c -------------------------------------------------------------- */

/* Boot GDT: [0] null, [1] TSS (0x08), [2] 64-bit code (0x10), [3] data
 * (0x18). The Linux 64-bit boot protocol wants __BOOT_CS = 0x10 and
 * __BOOT_DS = 0x18, and only 32 bytes lie between X86_BOOT_GDT_ADDR and
 * X86_BOOT_IDT_ADDR, so the TSS takes the otherwise unused slot 1. */
#define X86_BOOT_GDT_ENTRIES 4
#define X86_BOOT_TSS_SEL 0x08
#define X86_BOOT_CS_SEL 0x10
#define X86_BOOT_DS_SEL 0x18

/* Encodes a segment descriptor. flags holds descriptor bits 40..55 (access
 * byte in 0..7, limit 19:16 ignored, AVL/L/D/G in 12..15) as in the usual
 * 0xa09b form; limit is the raw 20-bit limit. */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* Decodes a descriptor into the kvm_segment KVM expects (limit expanded to
 * bytes when G is set; unusable when not present). */
void x86_segment_from_gdt(uint64_t entry, uint16_t selector, struct kvm_segment *seg);
/* The boot GDT, X86_BOOT_GDT_ENTRIES descriptors. */
void x86_boot_gdt(uint64_t out[X86_BOOT_GDT_ENTRIES]);
/* Writes the boot GDT at X86_BOOT_GDT_ADDR and an IDT holding one empty
 * (not present) 16-byte gate at X86_BOOT_IDT_ADDR. Returns 0 or -EFAULT. */
int x86_write_gdt(const struct guest_memory *gm) MUST_USE;

/* ---- regs.c ------------------------------------------------------------- */

/* IDTR limit: one 16-byte gate; the guest runs with interrupts off until
 * its kernel loads a real IDT, any exception before that is fatal. */
#define X86_BOOT_IDT_LIMIT 15

/*
 * Modifies sregs read from the vCPU for 64-bit entry: segments from the
 * boot GDT, GDTR/IDTR, CR0 = PE|MP|ET|NE|PG (cache enabled), CR3 = PML4,
 * CR4 = PAE|OSFXSR|OSXMMEXCPT, EFER = LME|LMA. Other fields (apic_base,
 * interrupt bitmap, cr8) are left as read.
 */
void x86_init_sregs(struct kvm_sregs *sregs);
/* Zeroes regs, then rip = entry, rsi = zero_page, rflags = 0x2 (IF off),
 * rsp = rbp = X86_BOOT_STACK_TOP. */
void x86_init_regs(struct kvm_regs *regs, uint64_t entry, uint64_t zero_page);
/* Zeroes fpu, then the power-on x87 control word 0x37f and MXCSR 0x1f80. */
void x86_init_fpu(struct kvm_fpu *fpu);

#define X86_BOOT_MSR_COUNT 10
/* Writes min(max, X86_BOOT_MSR_COUNT) boot MSR values into out and returns
 * how many were written. See regs.c for why each value. */
size_t x86_boot_msrs(struct kvm_msr_entry *out, size_t max);
/* Modifies the LAPIC state read from the vCPU: LINT0 delivers ExtINT (the
 * 8259 PIC, virtual wire mode), LINT1 delivers NMI. */
void x86_init_lapic(struct kvm_lapic_state *lapic);

/* ---- cpuid.c ------------------------------------------------------------ */

/*
 * Adjusts, in place, a table from KVM_GET_SUPPORTED_CPUID for vCPU vcpu_id
 * of nr_vcpus. Topology: one socket, every vCPU a core, one thread per
 * core; APIC ID = x2APIC ID = vcpu_id. Sets the hypervisor bit, the APIC
 * IDs and counts of leaves 1, 4, 0xB, 0x1F (Intel) and 0x80000008,
 * 0x8000001D, 0x8000001E (AMD), hides the PMU (leaf 0xA zero, PDCM and
 * AMD PerfCtrExtCore clear) and makes 0x40000000 EAX name the highest KVM
 * leaf present. Entries are only modified, never added or removed.
 * Returns 0, or -EINVAL when vcpu_id >= nr_vcpus or nr_vcpus is 0 or above
 * X86_MAX_VCPUS.
 */
int x86_cpuid_configure(struct kvm_cpuid2 *cpuid, uint32_t vcpu_id, uint32_t nr_vcpus) MUST_USE;

/*
 * Announces the LAPIC TSC-deadline timer (leaf 1 ECX bit 24). KVM emulates
 * it whenever KVM_CAP_TSC_DEADLINE_TIMER is present but leaves the bit out
 * of KVM_GET_SUPPORTED_CPUID; without it Linux calibrates the LAPIC timer
 * in a busy loop of MSR reads, slow (and fragile) on nested KVM.
 */
void x86_cpuid_enable_tsc_deadline(struct kvm_cpuid2 *cpuid);

/* ---- mptable.c ---------------------------------------------------------- */

/*
 * Writes an Intel MP 1.4 floating pointer and configuration table at
 * X86_MPTABLE_ADDR: one processor per vCPU (APIC ID = index, 0 the BSP),
 * an ISA bus, the IOAPIC (ID nr_cpus), ISA IRQs 0..15 (IRQ0 on pin
 * X86_TIMER_GSI, the SCI level/active-high) and ExtINT/NMI on LINT0/LINT1.
 * Returns 0, -E2BIG above X86_MAX_VCPUS, -EINVAL for 0 CPUs, -EFAULT.
 */
int x86_write_mptable(const struct guest_memory *gm, uint32_t nr_cpus) MUST_USE;

/* ---- acpi.c ------------------------------------------------------------- */

/*
 * Writes ACPI 6.0 tables at X86_ACPI_ADDR (all within X86_ACPI_MAX): RSDP
 * (revision 2), RSDT, XSDT, FADT (full, not hardware-reduced), FACS, DSDT
 * (\_S5, PCI0 root bridge, ECAM reservation, processor devices), MADT and
 * MCFG. *rsdp_addr receives the RSDP address for the zero page. Returns 0,
 * -E2BIG above X86_MAX_VCPUS, -EINVAL for 0 CPUs, -ENOMEM, -ENOSPC if the
 * tables would not fit, -EFAULT.
 */
int x86_write_acpi_tables(const struct guest_memory *gm, uint32_t nr_cpus, uint64_t *rsdp_addr) MUST_USE;

#endif
