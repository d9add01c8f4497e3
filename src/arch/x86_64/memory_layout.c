/*
 * Guest RAM layout: how many bytes of RAM go below the 32-bit MMIO hole and
 * how many are relocated above 4 GiB. The hole [X86_MMIO_HOLE_START, 4 GiB)
 * holds PCI BARs, the PCIe ECAM window, the IOAPIC and the LAPIC, so RAM
 * must not be mapped there; the ranges returned here feed gm_create().
 */
#include "arch/x86_64/x86_64.h"

#include <errno.h>

#include "base/checked.h"

/* Guest RAM is mapped in host pages; the e820 map and KVM memory slots
 * both want page granularity. */
#define X86_PAGE_SIZE 4096ULL

int x86_memory_ranges(uint64_t mem_bytes, struct gm_range out[2], size_t *n)
{
	/* Below 1 MiB there would be no room for a kernel above the BIOS area. */
	if (mem_bytes < MiB(1) || (mem_bytes & (X86_PAGE_SIZE - 1)))
		return -EINVAL;

	uint64_t low = mem_bytes < X86_MMIO_HOLE_START ? mem_bytes : X86_MMIO_HOLE_START;
	uint64_t high = mem_bytes - low;
	uint64_t high_end;
	if (high && !ck_add_u64(X86_FOUR_GIB, high, &high_end))
		return -EINVAL;

	out[0] = (struct gm_range){ .base = GPA(0), .size = low };
	*n = 1;
	if (high) {
		out[1] = (struct gm_range){ .base = GPA(X86_FOUR_GIB), .size = high };
		*n = 2;
	}
	return 0;
}
