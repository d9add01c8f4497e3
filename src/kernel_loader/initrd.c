/*
 * Initrd placement. Boot loaders conventionally put the initrd as high as
 * the kernel allows (initrd_addr_max) so it stays clear of the kernel's
 * decompression and early allocations, which grow upward from the load
 * address. We do the same, and also keep it below the 32-bit MMIO hole so
 * the zero page's 32-bit ramdisk_image/ramdisk_size fields describe it
 * without the ext_ramdisk_* extension.
 */
#include <errno.h>

#include "arch/x86_64/layout.h"
#include "base/checked.h"
#include "kernel_loader/kernel_loader.h"

#define INITRD_ALIGN 4096ULL

/* Highest INITRD_ALIGN-aligned start in region r for `size` bytes ending at
 * or below `limit` and starting at or above `floor`; false if none. */
static bool place_in_region(const struct gm_region *r, uint64_t size, uint64_t limit, uint64_t floor,
			    uint64_t *addr)
{
	uint64_t base = gpa_val(r->base), end;
	if (!ck_add_u64(base, r->size, &end))
		return false;
	uint64_t top = end < limit ? end : limit;
	if (top <= base || size > top - base)
		return false;
	uint64_t a = align_down_u64(top - size, INITRD_ALIGN);
	if (a < base || a < floor)
		return false;
	*addr = a;
	return true;
}

int kl_load_initrd(const struct guest_memory *gm, int fd, uint64_t size, uint64_t max_addr, uint64_t kernel_end,
		   uint64_t *addr_out)
{
	if (size == 0)
		return -EINVAL;
	/* max_addr is inclusive; cap the exclusive limit at the MMIO hole. */
	uint64_t limit = X86_MMIO_HOLE_START;
	if (max_addr < limit - 1)
		limit = max_addr + 1;
	uint64_t floor = kernel_end > X86_HIGH_MEM_START ? kernel_end : X86_HIGH_MEM_START;

	/* Regions are sorted by address, so the first fit from the top is the
	 * highest one. */
	uint64_t addr = 0;
	bool found = false;
	for (size_t i = gm->nr_regions; i-- > 0 && !found;)
		found = place_in_region(&gm->regions[i], size, limit, floor, &addr);
	if (!found)
		return -E2BIG;

	int r = gm_read_from_fd(gm, GPA(addr), fd, 0, size);
	if (r < 0)
		return r;
	*addr_out = addr;
	return 0;
}
