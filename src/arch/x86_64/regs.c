/*
 * Initial vCPU register state for the 64-bit boot protocol: long mode
 * with paging on (sregs), entry point and zero page (regs), a clean FPU,
 * the MSRs firmware would normally have programmed, and the local APIC's
 * LINT pins wired the way a PC BIOS leaves them. The VMM core reads the
 * current state from the vCPU, lets these functions adjust it and writes
 * it back.
 */
#include "arch/x86_64/x86_64.h"

#include <string.h>

#define CR0_PE (1ULL << 0)  /* protected mode */
#define CR0_MP (1ULL << 1)  /* WAIT honours TS: required with SSE */
#define CR0_EM (1ULL << 2)  /* x87 emulation: must be off for SSE */
#define CR0_TS (1ULL << 3)  /* task switched: would fault the first FPU use */
#define CR0_ET (1ULL << 4)  /* hard-wired 1 on anything with an FPU */
#define CR0_NE (1ULL << 5)  /* native x87 error reporting, required by VMX */
#define CR0_NW (1ULL << 29) /* not write-through */
#define CR0_CD (1ULL << 30) /* cache disable: set at reset */
#define CR0_PG (1ULL << 31) /* paging */
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)     /* FXSAVE/SSE allowed */
#define CR4_OSXMMEXCPT (1ULL << 10) /* SIMD exceptions raise #XM, not #UD */
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define RFLAGS_RESERVED_1 0x2ULL /* bit 1 always reads as 1; IF stays clear */

#define X87_FCW_INIT 0x37f /* FNINIT value: all exceptions masked, 64-bit precision */
#define MXCSR_INIT 0x1f80  /* all SIMD exceptions masked, round to nearest */

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRINGS (1ULL << 0)
#define MTRR_DEF_TYPE_E (1ULL << 11) /* MTRRs enabled */
#define MTRR_TYPE_WB 6ULL

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_DELIVERY_MASK (7U << 8)
#define APIC_DELIVERY_NMI (4U << 8)
#define APIC_DELIVERY_EXTINT (7U << 8)

void x86_init_sregs(struct kvm_sregs *sregs)
{
	uint64_t gdt[X86_BOOT_GDT_ENTRIES];
	x86_boot_gdt(gdt);

	struct kvm_segment code, data, tss;
	x86_segment_from_gdt(gdt[X86_BOOT_CS_SEL / 8], X86_BOOT_CS_SEL, &code);
	x86_segment_from_gdt(gdt[X86_BOOT_DS_SEL / 8], X86_BOOT_DS_SEL, &data);
	x86_segment_from_gdt(gdt[X86_BOOT_TSS_SEL / 8], X86_BOOT_TSS_SEL, &tss);
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = tss;

	sregs->gdt.base = X86_BOOT_GDT_ADDR;
	sregs->gdt.limit = X86_BOOT_GDT_ENTRIES * 8 - 1;
	sregs->idt.base = X86_BOOT_IDT_ADDR;
	sregs->idt.limit = X86_BOOT_IDT_LIMIT;

	/* The reset value has CD|NW set (caches off); start cached, with the
	 * FPU/SSE usable, as firmware would leave it. */
	sregs->cr0 &= ~(CR0_CD | CR0_NW | CR0_EM | CR0_TS);
	sregs->cr0 |= CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
	sregs->cr3 = X86_PML4_ADDR;
	/* OSFXSR/OSXMMEXCPT let small purpose-built guests use compiler-
	 * generated SSE code; Linux sets its own CR4 anyway. */
	sregs->cr4 |= CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs->efer |= EFER_LME | EFER_LMA;
}

void x86_init_regs(struct kvm_regs *regs, uint64_t entry, uint64_t zero_page)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rsi = zero_page; /* boot protocol: %rsi = struct boot_params */
	regs->rflags = RFLAGS_RESERVED_1;
	/* Linux switches to its own stack at once; the boot stack only has to
	 * be harmless for a guest that pushes before doing so. */
	regs->rsp = X86_BOOT_STACK_TOP;
	regs->rbp = X86_BOOT_STACK_TOP;
}

void x86_init_fpu(struct kvm_fpu *fpu)
{
	memset(fpu, 0, sizeof(*fpu));
	fpu->fcw = X87_FCW_INIT;
	fpu->mxcsr = MXCSR_INIT;
}

size_t x86_boot_msrs(struct kvm_msr_entry *out, size_t max)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[X86_BOOT_MSR_COUNT] = {
		/* No SYSENTER or SYSCALL entry point exists until the kernel
		 * installs one: zero them so a stale value from a previous
		 * run (or reset garbage) can never be jumped to. */
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		/* Firmware enables fast-string REP MOVS/STOS; Linux checks this
		 * bit before trusting REP string instructions to be fast. */
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRINGS },
		/* MTRRs enabled with write-back as the default type, as BIOS
		 * leaves RAM; with MTRRs disabled everything would be UC.
		 * The TSC is deliberately not written: KVM starts all vCPUs'
		 * TSCs in step, and per-vCPU writes made at slightly different
		 * times would skew them. */
		{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_TYPE_WB },
	};
	size_t n = max < X86_BOOT_MSR_COUNT ? max : X86_BOOT_MSR_COUNT;
	for (size_t i = 0; i < n; i++)
		out[i] = (struct kvm_msr_entry){ .index = msrs[i].index, .data = msrs[i].data };
	return n;
}

static void lvt_set_delivery(struct kvm_lapic_state *lapic, size_t reg, uint32_t mode)
{
	/* The register page is little-endian 32-bit registers, 16 bytes apart. */
	le32_t v;
	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = le32_make((le32_get(v) & ~APIC_DELIVERY_MASK) | mode);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

void x86_init_lapic(struct kvm_lapic_state *lapic)
{
	/* Virtual wire mode, as PC firmware leaves it: the 8259 PIC's
	 * output reaches the CPU through LINT0 as ExtINT, and LINT1 carries
	 * NMI. The mask bits are left as read; the kernel programs them. */
	lvt_set_delivery(lapic, APIC_LVT_LINT0, APIC_DELIVERY_EXTINT);
	lvt_set_delivery(lapic, APIC_LVT_LINT1, APIC_DELIVERY_NMI);
}
