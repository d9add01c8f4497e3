/*
 * The x86_64 guest physical and I/O-port address map. Every fixed address
 * the VMM places in the guest is defined here so the loaders, the table
 * builders and the device set-up agree.
 *
 *   0x0000_0000  real-mode IVT / BDA (RAM, left zero)
 *   0x0000_0500  boot GDT, then boot IDT
 *   0x0000_7000  zero page (struct boot_params)
 *   0x0000_8000  initial stack page (rsp starts at 0x9000 and grows down)
 *   0x0000_9000  identity page tables: PML4, PDPT, 4 PDs (2 MiB pages, 4 GiB)
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA start: RAM below this is usable
 *   0x000e_0000  ACPI tables (RSDP first), up to 0xf0000
 *   0x000f_0000  MP table
 *   0x0010_0000  1 MiB: start of high RAM, kernels load at or above 16 MiB
 *   0xc000_0000  32-bit MMIO hole: PCI BARs up to ECAM
 *   0xe000_0000  PCI ECAM (256 buses)
 *   0xfec0_0000  IOAPIC, 0xfee0_0000 LAPIC
 *   0x1_0000_0000  RAM above 4 GiB when the guest has more than 3 GiB
 */
#ifndef CROSVM_ARCH_X86_64_LAYOUT_H
#define CROSVM_ARCH_X86_64_LAYOUT_H

#define X86_BOOT_GDT_ADDR 0x500ULL
#define X86_BOOT_IDT_ADDR 0x520ULL
#define X86_ZERO_PAGE_ADDR 0x7000ULL
/* Initial rsp: the stack grows down into the free page 0x8000..0x8fff, so
 * a push before the kernel switches stacks cannot clobber the zero page. */
#define X86_BOOT_STACK_TOP 0x9000ULL
#define X86_PML4_ADDR 0x9000ULL
#define X86_PDPT_ADDR 0xa000ULL
#define X86_PD_ADDR 0xb000ULL /* four consecutive pages */
#define X86_CMDLINE_ADDR 0x20000ULL
#define X86_CMDLINE_MAX 4096ULL
#define X86_EBDA_START 0x9fc00ULL
#define X86_ACPI_ADDR 0xe0000ULL
#define X86_ACPI_MAX 0x10000ULL
#define X86_MPTABLE_ADDR 0xf0000ULL
#define X86_HIGH_MEM_START 0x100000ULL
#define X86_KERNEL_MIN_LOAD 0x1000000ULL

#define X86_MMIO_HOLE_START 0xc0000000ULL
#define X86_PCI_MMIO32_START X86_MMIO_HOLE_START
#define X86_PCI_MMIO32_END 0xe0000000ULL
#define X86_PCIE_ECAM_ADDR 0xe0000000ULL
#define X86_PCIE_ECAM_SIZE 0x10000000ULL
#define X86_IOAPIC_ADDR 0xfec00000ULL
#define X86_TSS_ADDR 0xfffbd000ULL
#define X86_LAPIC_ADDR 0xfee00000ULL
#define X86_FOUR_GIB 0x100000000ULL

/* I/O ports and ISA IRQs of the legacy devices. */
#define X86_COM1_PORT 0x3f8
#define X86_COM2_PORT 0x2f8
#define X86_COM3_PORT 0x3e8
#define X86_COM4_PORT 0x2e8
#define X86_COM13_IRQ 4
#define X86_COM24_IRQ 3
#define X86_I8042_DATA_PORT 0x60
#define X86_I8042_CMD_PORT 0x64
#define X86_CMOS_PORT 0x70
#define X86_PCI_CONFIG_PORT 0xcf8
/* ACPI fixed hardware: PM1a event block (4 bytes) then PM1a control (2). */
#define X86_ACPI_PM1A_EVT_PORT 0x600
#define X86_ACPI_PM1A_CNT_PORT 0x604
#define X86_ACPI_SCI_IRQ 9
/* IOAPIC pin (= ACPI GSI) wired to ISA IRQ0, the 8254 timer. KVM's default
 * GSI routing sends GSI 0, which its in-kernel PIT raises, to IOAPIC pin 0,
 * so IRQ0 is identity-mapped and the MP table and MADT announce no IRQ0
 * override. A VMM that installs PC-style routing (GSI 0 -> IOAPIC pin 2)
 * sets this to 2 and both tables follow. */
#define X86_TIMER_GSI 0
/* SLP_TYP value the DSDT's \_S5 package announces; writing it with SLP_EN
 * to PM1a_CNT powers the VM off. */
#define X86_ACPI_S5_SLP_TYP 5

/* KVM's in-kernel IOAPIC has 24 pins; GSIs above that are MSI routes. */
#define X86_IOAPIC_PINS 24

#endif
