/*
 * Kernel loader entry points: format detection, dispatch to the ELF and
 * bzImage loaders (elf.c, bzimage.c), and the short messages the CLI shows
 * for their errors. Detection looks only at magic numbers; everything else
 * is the format loaders' job, so a file that is recognisably a bzImage but
 * broken reports "malformed" or "truncated" rather than "not a kernel".
 */
#include "kernel_loader/kernel_loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "arch/x86_64/layout.h"
#include "base/checked.h"
#include "base/fd.h"
#include "kernel_loader/kl_internal.h"

bool kl_fits_low_ram(const struct guest_memory *gm, uint64_t addr, uint64_t len)
{
	uint64_t end;
	if (!ck_add_u64(addr, len, &end) || end > X86_FOUR_GIB)
		return false;
	return gm_range_valid(gm, GPA(addr), len);
}

static int file_size_of(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Pipes and sockets report 0 and are then treated as empty: the
	 * loaders need pread anyway. */
	*size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int kl_detect_sized(int fd, uint64_t file_size, enum kl_kind *kind)
{
	uint8_t head[KL_BZIMAGE_MAGIC_END];
	size_t n = file_size < sizeof(head) ? (size_t)file_size : sizeof(head);
	int r = fd_pread_full(fd, head, n, 0);
	if (r < 0)
		return r;
	if (n >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0) {
		if (file_size < sizeof(Elf64_Ehdr))
			return -EIO;
		*kind = KL_ELF;
		return 0;
	}
	if (n < KL_BZIMAGE_MAGIC_END)
		return -EIO; /* too short to hold any kernel header */
	if (memcmp(head + KL_BZIMAGE_MAGIC_OFF, "HdrS", 4) != 0)
		return -ENOEXEC;
	*kind = KL_BZIMAGE;
	return 0;
}

int kl_detect(int fd, enum kl_kind *kind)
{
	uint64_t size;
	int r = file_size_of(fd, &size);
	if (r < 0)
		return r;
	return kl_detect_sized(fd, size, kind);
}

int kl_load_kernel(const struct guest_memory *gm, int fd, struct kl_kernel *out)
{
	uint64_t size;
	enum kl_kind kind;
	int r = file_size_of(fd, &size);
	if (r < 0)
		return r;
	r = kl_detect_sized(fd, size, &kind);
	if (r < 0)
		return r;
	if (kind == KL_ELF)
		return kl_load_elf(gm, fd, size, out);
	return kl_load_bzimage(gm, fd, size, out);
}

const char *kl_strerror(int err)
{
	switch (err) {
	case -ENOEXEC:
		return "not an ELF vmlinux or bzImage";
	case -EINVAL:
		return "malformed or unsupported kernel header";
	case -EIO:
		return "truncated kernel image";
	case -E2BIG:
		return "kernel does not fit in guest memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

const char *kl_initrd_strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "initrd is empty";
	case -EIO:
		return "initrd is shorter than expected";
	case -E2BIG:
		return "initrd does not fit in guest memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
