/*
 * Bump allocators for BAR windows and MSI GSIs (see resources.h). Every
 * step is overflow-checked: sizes come from device models, and a bad one
 * must fail the allocation rather than wrap around into RAM.
 */
#include "resources/resources.h"

#include <errno.h>

#include "base/checked.h"

void addr_allocator_init(struct addr_allocator *a, uint64_t base, uint64_t end)
{
	a->next = base;
	a->end = end;
}

int addr_allocator_alloc(struct addr_allocator *a, uint64_t size, uint64_t align, uint64_t *out)
{
	if (size == 0 || align == 0 || (align & (align - 1)) != 0)
		return -EINVAL;
	uint64_t start, last;
	if (!ck_add_u64(a->next, align - 1, &start))
		return -ENOSPC;
	start &= ~(align - 1);
	if (!ck_add_u64(start, size - 1, &last) || last >= a->end)
		return -ENOSPC;
	*out = start;
	a->next = last + 1;
	return 0;
}

void gsi_allocator_init(struct gsi_allocator *g, uint32_t first, uint32_t end)
{
	g->next = first;
	g->end = end;
}

int gsi_allocator_alloc(struct gsi_allocator *g, uint32_t *out)
{
	if (g->next >= g->end)
		return -ENOSPC;
	*out = g->next++;
	return 0;
}
