/*
 * Guest memory: the only code that turns a guest physical address into a
 * host pointer.
 *
 * All guest RAM lives in one memfd (so it can later be shared with jailed
 * device processes) mapped as a few regions, e.g. below and above the 32-bit
 * MMIO hole. Every access names a gpa_t and a length; the range must lie
 * wholly inside one region, checked without overflow. Guest memory can
 * change under us at any time (other vCPUs, DMA), so callers copy a
 * structure once with gm_read_obj(), validate the copy, then use it.
 */
#ifndef CROSVM_VM_MEMORY_H
#define CROSVM_VM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

#define GM_MAX_REGIONS 8

struct gm_range {
	gpa_t base;
	uint64_t size;
};

struct gm_region {
	gpa_t base;
	uint64_t size;
	/* SAFETY: a MAP_SHARED mapping of exactly `size` bytes of the memfd at
	 * `fd_offset`, valid until gm_destroy(). */
	uint8_t *host;
	uint64_t fd_offset;
};

struct guest_memory {
	int memfd; /* owned; -1 when not created */
	size_t nr_regions;
	struct gm_region regions[GM_MAX_REGIONS];
	uint64_t total_size; /* sum of region sizes = memfd size */
};

/*
 * Creates a memfd holding all `ranges` back to back and maps each. Ranges
 * must be page-aligned, non-empty, sorted and non-overlapping.
 * Returns 0 or -errno (-EINVAL for bad ranges). On failure *gm is left
 * destroyed (safe to pass to gm_destroy).
 */
int gm_create(struct guest_memory *gm, const struct gm_range *ranges, size_t n) MUST_USE;
/* One region of memory someone else created, e.g. what a vhost-user
 * front-end hands a device process. */
struct gm_fd_region {
	gpa_t base;
	uint64_t size;
	int fd;		    /* borrowed: mapped, not kept */
	uint64_t fd_offset; /* where the region starts in fd */
};

/*
 * Maps regions of caller-provided fds as guest memory. Each region must be
 * non-empty, its base, size and fd_offset page-aligned, [fd_offset,
 * fd_offset + size) inside the fd (a regular file or memfd: fstat), and
 * the regions must not overlap in guest physical space (any order: they
 * are sorted here). 1..GM_MAX_REGIONS regions. gm->memfd becomes a
 * duplicate of the fd when every region is of the same file (so
 * gm_discard works), else -1 (gm_discard then fails with -EBADF).
 * Returns 0, -EINVAL (bad regions), -ENODEV (fd not a regular file) or the
 * fstat/mmap error. On failure *gm is left destroyed.
 */
int gm_create_from_fds(struct guest_memory *gm, const struct gm_fd_region *regions, size_t n) MUST_USE;
/* Unmaps and closes. Accepts a zeroed or already-destroyed struct. */
void gm_destroy(struct guest_memory *gm);

/* True when [addr, addr+len) lies inside one region. */
bool gm_range_valid(const struct guest_memory *gm, gpa_t addr, uint64_t len);
/* The region that contains addr, or NULL. */
const struct gm_region *gm_find_region(const struct guest_memory *gm, gpa_t addr);
/* One past the highest guest RAM address. */
uint64_t gm_end(const struct guest_memory *gm);

/* Copy to/from guest memory. Return 0 or -EFAULT if the range is invalid. */
int gm_read(const struct guest_memory *gm, gpa_t addr, void *dst, size_t len) MUST_USE;
int gm_write(const struct guest_memory *gm, gpa_t addr, const void *src, size_t len) MUST_USE;
int gm_fill(const struct guest_memory *gm, gpa_t addr, uint8_t byte, size_t len) MUST_USE;
#define gm_read_obj(gm, addr, objp) gm_read((gm), (addr), (objp), sizeof(*(objp)))
#define gm_write_obj(gm, addr, objp) gm_write((gm), (addr), (objp), sizeof(*(objp)))

/*
 * 16-bit atomic access for fields shared live with the guest (virtqueue
 * ring indices and flags), so that the ordering between them and the
 * plain gm_read/gm_write copies around them is explicit. addr must be
 * 2-byte aligned; the value is converted from/to little-endian inside.
 * gm_load_acquire_u16: later loads and stores are not moved before it.
 * gm_store_release_u16: earlier loads and stores are not moved after it.
 * Return 0, -EFAULT if [addr, addr+2) is not guest memory, or -EINVAL if
 * addr is misaligned (checked after the range).
 */
int gm_load_acquire_u16(const struct guest_memory *gm, gpa_t addr, uint16_t *out) MUST_USE;
int gm_store_release_u16(const struct guest_memory *gm, gpa_t addr, uint16_t v) MUST_USE;

/*
 * A host pointer to [addr, addr+len) for bulk I/O (e.g. reading a kernel
 * file straight into guest memory), or NULL if the range is invalid.
 * SAFETY: the memory is shared with the guest; the caller must not keep
 * the pointer past gm_destroy() and must not trust what it reads twice.
 */
void *gm_get_slice(const struct guest_memory *gm, gpa_t addr, uint64_t len);

/*
 * Gives the host back the memory behind [addr, addr+len) (virtio-balloon
 * inflation): the range is punched out of the memfd, so every mapping of
 * it (ours, KVM's, a device process's) reads zeros afterwards and the
 * host frees the pages. addr and len must be multiples of the host page
 * size, len > 0, and the range wholly inside one region.
 * Returns 0, -EINVAL (misaligned or empty), -EFAULT (not guest memory) or
 * the fallocate/madvise error.
 */
int gm_discard(const struct guest_memory *gm, gpa_t addr, uint64_t len) MUST_USE;

/* Reads exactly len bytes from fd at file offset off into guest memory.
 * Returns 0, -EFAULT for a bad range, or the read error (-EIO on EOF). */
int gm_read_from_fd(const struct guest_memory *gm, gpa_t addr, int fd, uint64_t off, uint64_t len) MUST_USE;

#endif
