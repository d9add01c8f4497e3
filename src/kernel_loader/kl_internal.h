/*
 * Shared between the kernel loader's format-specific files; not part of
 * the public API.
 */
#ifndef CROSVM_KERNEL_LOADER_INTERNAL_H
#define CROSVM_KERNEL_LOADER_INTERNAL_H

#include <stdint.h>

#include "kernel_loader/kernel_loader.h"

/* Bytes kl_detect needs to see the bzImage magic "HdrS" at 0x202. */
#define KL_BZIMAGE_MAGIC_OFF 0x202
#define KL_BZIMAGE_MAGIC_END 0x206
#define KL_SETUP_HEADER_OFF 0x1f1

/* Each loader gets the file size from one fstat; out is filled only on
 * success. */
int kl_load_elf(const struct guest_memory *gm, int fd, uint64_t file_size, struct kl_kernel *out) MUST_USE;
int kl_load_bzimage(const struct guest_memory *gm, int fd, uint64_t file_size, struct kl_kernel *out) MUST_USE;
int kl_detect_sized(int fd, uint64_t file_size, enum kl_kind *kind) MUST_USE;

/* True when [addr, addr+len) is guest RAM in one region and below 4 GiB,
 * the part of memory the boot page tables identity-map. */
bool kl_fits_low_ram(const struct guest_memory *gm, uint64_t addr, uint64_t len);

#endif
