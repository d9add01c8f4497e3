/*
 * libFuzzer target for the kernel loaders: the input is the kernel file.
 * It is written to a memfd and loaded with kl_load_kernel() into a fresh
 * 64 MiB guest (enough for a bzImage at 16 MiB plus a few MiB of
 * init_size; MAP_NORESERVE keeps untouched memory free), then the same
 * bytes are placed as an initrd. Any outcome but a crash or sanitizer
 * report is fine; on success the reported ranges must be self-consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fd.h"
#include "kernel_loader/kernel_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd SCOPED_FD = memfd_create("kl_fuzz", MFD_CLOEXEC);
	if (fd < 0 || fd_write_full(fd, data, size) < 0)
		return 0;
	struct guest_memory gm;
	struct gm_range r = { GPA(0), MiB(64) };
	if (gm_create(&gm, &r, 1) < 0)
		return 0;

	struct kl_kernel k;
	uint64_t max_addr = KL_DEFAULT_INITRD_ADDR_MAX, kernel_end = 0;
	if (kl_load_kernel(&gm, fd, &k) == 0) {
		/* Invariants the arch code relies on. */
		if (k.load_start < 0x100000 || k.load_end <= k.load_start || k.load_end > gm_end(&gm) ||
		    k.entry < k.load_start || k.entry >= k.load_end || k.cmdline_max > 4095)
			abort();
		max_addr = k.initrd_addr_max;
		kernel_end = k.load_end;
	}

	uint64_t addr;
	if (kl_load_initrd(&gm, fd, size, max_addr, kernel_end, &addr) == 0) {
		if (addr < kernel_end || addr % 4096 || addr + size > gm_end(&gm) || addr + size - 1 > max_addr)
			abort();
	}
	gm_destroy(&gm);
	return 0;
}
