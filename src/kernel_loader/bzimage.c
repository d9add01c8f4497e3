/*
 * bzImage loader (Linux/x86 boot protocol, Documentation/x86/boot.rst).
 *
 * A bzImage is a real-mode setup area of (setup_sects + 1) sectors,
 * carrying the setup header at 0x1f1, followed by the protected-mode
 * kernel (the decompressor plus the compressed vmlinux). We skip the
 * real-mode code entirely: the protected-mode part is copied to a
 * 64-bit-capable address at or above 16 MiB and entered at its 64-bit
 * entry point, load + 0x200, with the zero page built by the arch code
 * from the header returned here.
 *
 * Where it goes: a relocatable kernel is placed at max(16 MiB,
 * pref_address) rounded up to kernel_alignment. Not going below
 * pref_address matters because the decompressor itself never runs below
 * its configured LOAD_PHYSICAL_ADDR (= pref_address) and init_size is
 * counted from where it runs; starting there makes load + init_size an
 * honest bound. A non-relocatable kernel goes exactly at pref_address.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "base/checked.h"
#include "base/fd.h"
#include "kernel_loader/kl_internal.h"

#define BOOT_FLAG_MAGIC 0xaa55
#define HDRS_MAGIC 0x53726448u /* "HdrS" little-endian */
#define SECTOR_SIZE 512
/* setup_sects == 0 means 4 for compatibility with ancient images. */
#define DEFAULT_SETUP_SECTS 4

_Static_assert(offsetof(struct setup_header, header) == KL_BZIMAGE_MAGIC_OFF - KL_SETUP_HEADER_OFF,
	       "setup_header layout");
_Static_assert(offsetof(struct setup_header, init_size) == 0x260 - KL_SETUP_HEADER_OFF, "setup_header layout");

/* The header's own length is given by the short jump at 0x200: it ends at
 * 0x202 + the jump's displacement byte (at 0x201). Fields past that end
 * belong to a newer protocol than the image speaks and hold code, so they
 * are cleared rather than handed on to the zero page as if meaningful. */
static void clear_past_header_end(struct setup_header *h)
{
	uint64_t end = 0x202 + (uint64_t)(h->jump >> 8);
	uint64_t have = KL_SETUP_HEADER_OFF + sizeof(*h);
	if (end < have) {
		size_t from = (size_t)(end - KL_SETUP_HEADER_OFF);
		memset((uint8_t *)h + from, 0, sizeof(*h) - from);
	}
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Chooses the load address; see the file comment. */
static int choose_load_addr(const struct setup_header *h, uint64_t *load)
{
	if (!h->relocatable_kernel) {
		if (h->pref_address < X86_HIGH_MEM_START)
			return -EINVAL;
		*load = h->pref_address;
		return 0;
	}
	if (!is_pow2(h->kernel_alignment))
		return -EINVAL;
	uint64_t base = h->pref_address > X86_KERNEL_MIN_LOAD ? h->pref_address : X86_KERNEL_MIN_LOAD;
	uint64_t bumped;
	if (!ck_add_u64(base, (uint64_t)h->kernel_alignment - 1, &bumped))
		return -E2BIG;
	*load = align_down_u64(bumped, h->kernel_alignment);
	return 0;
}

int kl_load_bzimage(const struct guest_memory *gm, int fd, uint64_t file_size, struct kl_kernel *out)
{
	struct setup_header h;
	int r;

	if (file_size < KL_SETUP_HEADER_OFF + sizeof(h))
		return -EIO;
	r = fd_pread_full(fd, &h, sizeof(h), KL_SETUP_HEADER_OFF);
	if (r < 0)
		return r;
	if (h.header != HDRS_MAGIC)
		return -ENOEXEC;
	if (h.boot_flag != BOOT_FLAG_MAGIC)
		return -EINVAL;
	clear_past_header_end(&h);
	/* 2.12 is where xloadflags (and so a declared 64-bit entry) begins;
	 * it also covers cmdline_size (2.06), pref_address/init_size (2.10). */
	if (h.version < KL_BZIMAGE_MIN_VERSION)
		return -EINVAL;
	if (!(h.loadflags & LOADED_HIGH) || !(h.xloadflags & XLF_KERNEL_64))
		return -EINVAL;

	uint64_t setup_sects = h.setup_sects ? h.setup_sects : DEFAULT_SETUP_SECTS;
	uint64_t kernel_off = (setup_sects + 1) * SECTOR_SIZE; /* <= 256 * 512 */
	uint64_t payload = (uint64_t)h.syssize * 16;            /* < 2^36 */
	/* The 64-bit entry is 0x200 bytes in: a payload that does not reach
	 * past it cannot be a 64-bit kernel. */
	if (payload <= KL_BZIMAGE_ENTRY64_OFFSET)
		return -EINVAL;
	/* Both terms are small (see above), so the sum cannot overflow. Bytes
	 * after the payload (e.g. an appended signature) are ignored. */
	if (file_size < kernel_off + payload)
		return -EIO;

	uint64_t load;
	r = choose_load_addr(&h, &load);
	if (r < 0)
		return r;
	uint64_t need = h.init_size > payload ? h.init_size : payload;
	if (!kl_fits_low_ram(gm, load, need))
		return -E2BIG;

	r = gm_read_from_fd(gm, GPA(load), fd, kernel_off, payload);
	if (r < 0)
		return r;

	memset(out, 0, sizeof(*out));
	out->kind = KL_BZIMAGE;
	out->entry = load + KL_BZIMAGE_ENTRY64_OFFSET;
	out->load_start = load;
	out->load_end = load + need; /* checked by kl_fits_low_ram */
	out->has_setup_header = true;
	out->hdr = h;
	out->cmdline_max = h.cmdline_size < X86_CMDLINE_MAX - 1 ? h.cmdline_size : (uint32_t)(X86_CMDLINE_MAX - 1);
	out->initrd_addr_max = h.initrd_addr_max ? h.initrd_addr_max : KL_DEFAULT_INITRD_ADDR_MAX;
	return 0;
}
