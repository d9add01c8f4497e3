/*
 * Address-space and interrupt allocators for the devices the VMM creates at
 * start-up: PCI BARs in the MMIO windows and GSIs for MSI routes. Devices
 * are never unplugged, so both are bump allocators: simple, and the layout
 * is the same from one run to the next for the same command line.
 */
#ifndef CROSVM_RESOURCES_RESOURCES_H
#define CROSVM_RESOURCES_RESOURCES_H

#include <stdint.h>

#include "base/types.h"

struct addr_allocator {
	uint64_t next; /* lowest free address */
	uint64_t end;  /* exclusive */
};

/* A window [base, end); base < end. */
void addr_allocator_init(struct addr_allocator *a, uint64_t base, uint64_t end);
/* Allocates size bytes aligned to align (a power of two; size > 0).
 * Returns 0 with *out set, -EINVAL for a bad size/alignment, or -ENOSPC
 * when the window is full. */
int addr_allocator_alloc(struct addr_allocator *a, uint64_t size, uint64_t align, uint64_t *out) MUST_USE;

struct gsi_allocator {
	uint32_t next;
	uint32_t end; /* exclusive */
};

void gsi_allocator_init(struct gsi_allocator *g, uint32_t first, uint32_t end);
/* Returns 0 with *out set or -ENOSPC. */
int gsi_allocator_alloc(struct gsi_allocator *g, uint32_t *out) MUST_USE;

#endif
