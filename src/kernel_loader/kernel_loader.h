/*
 * x86_64 Linux kernel and initrd loaders.
 *
 * Two kernel formats are accepted, both entered in 64-bit mode:
 *  - an uncompressed ELF vmlinux (ELFCLASS64, little-endian, EM_X86_64,
 *    ET_EXEC): every PT_LOAD segment is copied to its physical address
 *    p_paddr and its bss zeroed; the entry is e_entry, which for Linux's
 *    vmlinux is the physical address of startup_64;
 *  - a bzImage (Linux/x86 boot protocol >= 2.12 with XLF_KERNEL_64 and
 *    LOADED_HIGH): the protected-mode part is copied to a 16 MiB-or-higher
 *    address and entered at its 64-bit entry, load address + 0x200. The
 *    setup header is returned so the zero-page builder can copy it into
 *    boot_params.hdr.
 *
 * The file is untrusted input: every header field is validated before any
 * byte is written to guest memory, all arithmetic is overflow-checked, and
 * nothing is placed below 1 MiB where the VMM keeps its boot structures
 * (zero page, page tables, GDT, command line, ACPI and MP tables).
 *
 * Error codes (the CLI turns them into one-line messages with
 * kl_strerror / kl_initrd_strerror):
 *   -ENOEXEC  neither an ELF file nor a bzImage;
 *   -EINVAL   malformed or unsupported header (wrong class, byte order or
 *             machine, too many program headers, a segment below 1 MiB or
 *             with p_filesz > p_memsz, an entry outside the loaded
 *             segments, boot protocol older than 2.12, no 64-bit entry,
 *             not LOADED_HIGH, bad kernel_alignment, empty payload, ...);
 *   -EIO      truncated file (a header, a segment or the payload extends
 *             past the end of the file);
 *   -E2BIG    the kernel does not fit in guest RAM below 4 GiB (the boot
 *             page tables identity-map only the first 4 GiB);
 *   other -errno from fstat/pread.
 * On failure guest memory may have been partly written but *out is not
 * filled in and no success is claimed.
 */
#ifndef CROSVM_KERNEL_LOADER_H
#define CROSVM_KERNEL_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include <asm/bootparam.h> /* struct setup_header */

#include "base/types.h"
#include "vm_memory/vm_memory.h"

/* Limits applied to untrusted ELF headers. */
#define KL_ELF_MAX_PHNUM 64
/* Boot protocol 2.12 introduced xloadflags and with it XLF_KERNEL_64, the
 * 64-bit entry point we jump to; older kernels cannot be entered in long
 * mode. */
#define KL_BZIMAGE_MIN_VERSION 0x020c
/* initrd_addr_max for kernels that do not say (boot protocol default). */
#define KL_DEFAULT_INITRD_ADDR_MAX 0x37ffffffULL
/* Offset of the 64-bit entry point from the bzImage load address. */
#define KL_BZIMAGE_ENTRY64_OFFSET 0x200

enum kl_kind {
	KL_ELF = 1,
	KL_BZIMAGE = 2,
};

struct kl_kernel {
	enum kl_kind kind;
	uint64_t entry;      /* guest physical address of the 64-bit entry */
	uint64_t load_start; /* lowest byte written */
	/* One past the highest byte the kernel needs: highest p_paddr+p_memsz
	 * for ELF; load + max(init_size, payload) for bzImage. An initrd must
	 * start at or above this. */
	uint64_t load_end;
	bool has_setup_header; /* true for bzImage */
	/* The setup header as read from the file at 0x1f1 (bzImage only,
	 * zeroed for ELF). Bytes past the header's own declared end
	 * (0x202 + the byte at 0x201) are zeroed, since in older images they
	 * are code, not fields. */
	struct setup_header hdr;
	/* Longest command line the kernel accepts, NUL excluded:
	 * hdr.cmdline_size clamped to X86_CMDLINE_MAX - 1 for bzImage,
	 * X86_CMDLINE_MAX - 1 for ELF. */
	uint32_t cmdline_max;
	/* Highest address the initrd may occupy (inclusive):
	 * hdr.initrd_addr_max, or KL_DEFAULT_INITRD_ADDR_MAX for ELF kernels
	 * or headers that leave it 0. */
	uint64_t initrd_addr_max;
};

/*
 * Identifies the kernel format from the start of the file (read with
 * pread; the file offset is not used). Returns 0 with *kind set,
 * -ENOEXEC when the file is neither ELF nor bzImage, -EIO when the file
 * is too short to tell: it starts with the ELF magic but is shorter than
 * an ELF header, or it does not start with the ELF magic and is shorter
 * than the bzImage magic's end (0x206 bytes). So an empty or tiny file
 * reports "truncated", a large non-kernel file reports "not a kernel".
 */
int kl_detect(int fd, enum kl_kind *kind) MUST_USE;

/*
 * Detects the format of the open kernel file fd (borrowed) and loads it
 * into gm (borrowed). Returns 0 and fills *out, or a -errno from the list
 * at the top of this header.
 */
int kl_load_kernel(const struct guest_memory *gm, int fd, struct kl_kernel *out) MUST_USE;

/*
 * Loads `size` bytes from offset 0 of fd (borrowed) as the initrd, at the
 * highest 4 KiB-aligned address where it
 *   - ends at or below min(max_addr + 1, X86_MMIO_HOLE_START, the end of
 *     the RAM region it lands in): initrds stay below the 32-bit hole,
 *     where the boot protocol's 32-bit ramdisk fields can reach them;
 *   - starts at or above max(kernel_end, X86_HIGH_MEM_START).
 * Returns 0 with *addr_out set, or
 *   -EINVAL  size is 0 (an empty initrd is refused: it is almost certainly
 *            a mistake, and the zero page treats size 0 as "no initrd");
 *   -E2BIG   no such place exists (e.g. an initrd bigger than RAM);
 *   -EIO     the file is shorter than size;
 *   other -errno from pread.
 */
int kl_load_initrd(const struct guest_memory *gm, int fd, uint64_t size, uint64_t max_addr, uint64_t kernel_end,
		   uint64_t *addr_out) MUST_USE;

/* A short human phrase for a kl_load_kernel error ("truncated kernel
 * image", ...); for other codes, strerror's text. Never NULL; static. */
const char *kl_strerror(int err);
/* The same for kl_load_initrd errors ("initrd does not fit in guest
 * memory", ...). */
const char *kl_initrd_strerror(int err);

#endif
