/*
 * Identity-mapped page tables for the 64-bit boot protocol, which requires
 * paging on at entry with the kernel, zero page and command line mapped
 * 1:1. One PML4 entry points at one PDPT whose four entries point at four
 * page directories of 2 MiB pages, covering [0, 4 GiB). 1 GiB pages would
 * need only the PDPT, but they triple-fault on this project's nested KVM
 * (see ENVIRONMENT.md), so they are never used. The kernel replaces these
 * tables early in boot.
 */
#include "arch/x86_64/x86_64.h"

#include <string.h>

#define PAGE_SIZE 4096U
#define PTE_PRESENT (1ULL << 0)
#define PTE_WRITE (1ULL << 1)
#define PTE_PAGE_SIZE (1ULL << 7) /* in a PD entry: maps a 2 MiB page */
#define ENTRIES_PER_TABLE 512U
#define NR_PDS 4U

_Static_assert(X86_PDPT_ADDR >= X86_PML4_ADDR + PAGE_SIZE, "PDPT after PML4");
_Static_assert(X86_PD_ADDR >= X86_PDPT_ADDR + PAGE_SIZE, "PDs after PDPT");
_Static_assert(X86_PD_ADDR + NR_PDS * PAGE_SIZE <= X86_CMDLINE_ADDR, "PDs below the command line");

static int write_table(const struct guest_memory *gm, uint64_t addr, const le64_t table[ENTRIES_PER_TABLE])
{
	return gm_write(gm, GPA(addr), table, ENTRIES_PER_TABLE * sizeof(le64_t));
}

int x86_write_page_tables(const struct guest_memory *gm)
{
	le64_t table[ENTRIES_PER_TABLE];
	int err;

	memset(table, 0, sizeof(table));
	table[0] = le64_make(X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE);
	if ((err = write_table(gm, X86_PML4_ADDR, table)) < 0)
		return err;

	memset(table, 0, sizeof(table));
	for (unsigned i = 0; i < NR_PDS; i++)
		table[i] = le64_make((X86_PD_ADDR + i * PAGE_SIZE) | PTE_PRESENT | PTE_WRITE);
	if ((err = write_table(gm, X86_PDPT_ADDR, table)) < 0)
		return err;

	for (unsigned pd = 0; pd < NR_PDS; pd++) {
		for (unsigned i = 0; i < ENTRIES_PER_TABLE; i++) {
			uint64_t addr = ((uint64_t)pd * ENTRIES_PER_TABLE + i) << 21;
			table[i] = le64_make(addr | PTE_PRESENT | PTE_WRITE | PTE_PAGE_SIZE);
		}
		if ((err = write_table(gm, X86_PD_ADDR + pd * PAGE_SIZE, table)) < 0)
			return err;
	}
	return 0;
}
