/*
 * The boot GDT and IDT. The 64-bit boot protocol (boot.rst) enters the
 * kernel with CS = __BOOT_CS (0x10, flat execute/read) and DS/ES/SS =
 * __BOOT_DS (0x18, flat read/write) loaded from a GDT in guest memory.
 * KVM takes the hidden segment state from KVM_SET_SREGS, so the table in
 * memory matters only if the guest reloads a selector before installing
 * its own GDT; regs.c derives the sregs from the same descriptors so the
 * two always agree.
 */
#include "arch/x86_64/x86_64.h"

#include <string.h>

/* Descriptor bits 40..55: access byte, then AVL/L/D/G in the top nibble. */
#define GDT_CODE64 0xa09bU /* G, L; present, DPL 0, code, execute/read, accessed */
#define GDT_DATA 0xc093U   /* G, D/B; present, DPL 0, data, read/write, accessed */
#define GDT_TSS64 0x008bU  /* present, DPL 0, system, 64-bit TSS (busy) */
/* A 64-bit TSS is 104 bytes; the guest never uses this one (interrupts
 * are off and it stays at CPL 0 until it loads its own TR). */
#define TSS_LIMIT 0x67U
#define IDT_GATE_SIZE 16U

_Static_assert(X86_BOOT_GDT_ADDR + X86_BOOT_GDT_ENTRIES * 8 <= X86_BOOT_IDT_ADDR, "GDT fits below the IDT");
_Static_assert(X86_BOOT_IDT_ADDR + IDT_GATE_SIZE <= X86_ZERO_PAGE_ADDR, "IDT fits below the zero page");
_Static_assert(X86_BOOT_IDT_LIMIT == IDT_GATE_SIZE - 1, "IDTR limit covers one gate");

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000U) << 32) | ((uint64_t)(flags & 0xf0ffU) << 40) |
	       ((uint64_t)(limit & 0x000f0000U) << 32) | ((uint64_t)(base & 0x00ffffffU) << 16) |
	       (uint64_t)(limit & 0x0000ffffU);
}

void x86_segment_from_gdt(uint64_t entry, uint16_t selector, struct kvm_segment *seg)
{
	uint32_t limit = (uint32_t)((entry & 0xffffU) | ((entry >> 32) & 0xf0000U));
	uint8_t g = (entry >> 55) & 1;
	memset(seg, 0, sizeof(*seg));
	seg->base = ((entry >> 16) & 0xffffffU) | ((entry >> 32) & 0xff000000U);
	/* KVM (like the VMCS) holds the byte-granular limit. */
	seg->limit = g ? (limit << 12) | 0xfffU : limit;
	seg->selector = selector;
	seg->type = (entry >> 40) & 0xf;
	seg->s = (entry >> 44) & 1;
	seg->dpl = (entry >> 45) & 3;
	seg->present = (entry >> 47) & 1;
	seg->avl = (entry >> 52) & 1;
	seg->l = (entry >> 53) & 1;
	seg->db = (entry >> 54) & 1;
	seg->g = g;
	seg->unusable = !seg->present;
}

void x86_boot_gdt(uint64_t out[X86_BOOT_GDT_ENTRIES])
{
	out[0] = 0;
	out[X86_BOOT_TSS_SEL / 8] = x86_gdt_entry(GDT_TSS64, 0, TSS_LIMIT);
	out[X86_BOOT_CS_SEL / 8] = x86_gdt_entry(GDT_CODE64, 0, 0xfffff);
	out[X86_BOOT_DS_SEL / 8] = x86_gdt_entry(GDT_DATA, 0, 0xfffff);
}

int x86_write_gdt(const struct guest_memory *gm)
{
	uint64_t gdt[X86_BOOT_GDT_ENTRIES];
	le64_t raw[X86_BOOT_GDT_ENTRIES];
	x86_boot_gdt(gdt);
	for (size_t i = 0; i < X86_BOOT_GDT_ENTRIES; i++)
		raw[i] = le64_make(gdt[i]);
	int err = gm_write(gm, GPA(X86_BOOT_GDT_ADDR), raw, sizeof(raw));
	if (err < 0)
		return err;
	/* A single not-present gate: any exception before the kernel loads
	 * its IDT escalates to a triple fault (a clean VM exit) instead of
	 * jumping through whatever bytes happened to be there. */
	return gm_fill(gm, GPA(X86_BOOT_IDT_ADDR), 0, IDT_GATE_SIZE);
}
