/*
 * The Linux "zero page" (struct boot_params, Documentation/arch/x86/
 * zero-page.rst) and the e820 memory map inside it. The VMM enters the
 * kernel directly at its 64-bit entry point, skipping the real-mode setup
 * code and the BIOS, so everything they would have filled in (loader
 * identity, command line and initrd pointers, memory map, RSDP) is
 * written here. The kernel's own setup header, when it came from a
 * bzImage, is copied first so the kernel sees its own fields unchanged.
 */
#include "arch/x86_64/x86_64.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/checked.h"

_Static_assert(sizeof(struct boot_params) == 4096, "zero page is one page");
_Static_assert(sizeof(struct boot_e820_entry) == 20, "e820 entry layout");

/* "HdrS": the setup header magic of boot protocol 2.00 and later. */
#define SETUP_HDR_MAGIC 0x53726448U
#define SETUP_BOOT_FLAG 0xaa55U
/* type_of_loader 0xff: "undefined" boot loader, the value for loaders
 * without an assigned ID (boot.rst). */
#define LOADER_TYPE_UNDEFINED 0xffU
/* Offset of the setup header in the boot sector; the header's length is
 * given by the jump instruction at 0x200: it ends at 0x202 + jump[1]. */
#define SETUP_HDR_OFFSET 0x1f1U
#define SETUP_HDR_JUMP_END 0x202U
/* Protocol < 2.03 has no initrd_addr_max field; the limit was fixed. */
#define INITRD_ADDR_MAX_OLD 0x37ffffffULL
/* Protocol < 2.06 has no cmdline_size field; the limit was 255 chars. */
#define CMDLINE_MAX_OLD 255U
/* Only used when the image gives none (ELF vmlinux): our kernels load at
 * X86_KERNEL_MIN_LOAD, a multiple of every usual CONFIG_PHYSICAL_ALIGN. */
#define DEFAULT_KERNEL_ALIGNMENT X86_KERNEL_MIN_LOAD
/* Size of an ACPI 2.0+ RSDP, which must lie in guest RAM. */
#define RSDP_SIZE 36

static int e820_add(struct boot_e820_entry *out, size_t max, size_t *n, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (size == 0)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[*n] = (struct boot_e820_entry){ .addr = addr, .size = size, .type = type };
	(*n)++;
	return 0;
}

static bool overlaps_ecam(uint64_t base, uint64_t end)
{
	return base < X86_PCIE_ECAM_ADDR + X86_PCIE_ECAM_SIZE && end > X86_PCIE_ECAM_ADDR;
}

int x86_build_e820(const struct guest_memory *gm, struct boot_e820_entry *out, size_t max, size_t *n)
{
	*n = 0;
	if (gm->nr_regions == 0 || gm->nr_regions > GM_MAX_REGIONS)
		return -EINVAL;
	const struct gm_region *low = &gm->regions[0];
	/* The BIOS-area split below only makes sense for RAM starting at 0
	 * and reaching past 1 MiB; x86_memory_ranges() guarantees both. */
	if (gpa_val(low->base) != 0 || low->size < X86_HIGH_MEM_START)
		return -EINVAL;
	if (overlaps_ecam(0, low->size))
		return -EINVAL;

	int err;
	if ((err = e820_add(out, max, n, 0, X86_EBDA_START, X86_E820_RAM)) < 0 ||
	    (err = e820_add(out, max, n, X86_EBDA_START, X86_HIGH_MEM_START - X86_EBDA_START,
			    X86_E820_RESERVED)) < 0 ||
	    (err = e820_add(out, max, n, X86_HIGH_MEM_START, low->size - X86_HIGH_MEM_START,
			    X86_E820_RAM)) < 0)
		return err;

	/* Linux only trusts the MCFG's ECAM window if firmware reserved it
	 * (in e820 or as an ACPI motherboard resource); keep the map sorted
	 * by emitting it before the first region above it. */
	bool ecam_done = false;
	for (size_t i = 1; i < gm->nr_regions; i++) {
		uint64_t base = gpa_val(gm->regions[i].base), end;
		if (!ck_add_u64(base, gm->regions[i].size, &end) || overlaps_ecam(base, end))
			return -EINVAL;
		if (!ecam_done && base >= X86_PCIE_ECAM_ADDR + X86_PCIE_ECAM_SIZE) {
			if ((err = e820_add(out, max, n, X86_PCIE_ECAM_ADDR, X86_PCIE_ECAM_SIZE,
					    X86_E820_RESERVED)) < 0)
				return err;
			ecam_done = true;
		}
		if ((err = e820_add(out, max, n, base, gm->regions[i].size, X86_E820_RAM)) < 0)
			return err;
	}
	if (!ecam_done)
		return e820_add(out, max, n, X86_PCIE_ECAM_ADDR, X86_PCIE_ECAM_SIZE, X86_E820_RESERVED);
	return 0;
}

/* Copies the kernel's setup header, but only as many bytes as the kernel
 * says it has: past its end, an older image has setup code, not fields. */
static int copy_setup_header(struct boot_params *bp, const struct setup_header *hdr)
{
	if (hdr->header != SETUP_HDR_MAGIC || hdr->boot_flag != SETUP_BOOT_FLAG)
		return -EINVAL;
	size_t end = SETUP_HDR_JUMP_END + (hdr->jump >> 8);
	size_t len = end - SETUP_HDR_OFFSET;
	if (len > sizeof(bp->hdr))
		len = sizeof(bp->hdr);
	memcpy(&bp->hdr, hdr, len);
	return 0;
}

static int set_cmdline(const struct guest_memory *gm, struct boot_params *bp, const struct x86_boot_config *cfg)
{
	if (cfg->cmdline_size == 0)
		return 0; /* cmd_line_ptr 0: the kernel runs without a command line */
	if (!gm_range_valid(gm, GPA(cfg->cmdline_addr), cfg->cmdline_size))
		return -EINVAL;
	uint8_t last;
	if (gm_read(gm, GPA(cfg->cmdline_addr + cfg->cmdline_size - 1), &last, 1) < 0 || last != 0)
		return -EINVAL;
	if (cfg->hdr) {
		uint32_t max = cfg->hdr->version >= 0x206 ? cfg->hdr->cmdline_size : CMDLINE_MAX_OLD;
		if (cfg->cmdline_size - 1 > max)
			return -E2BIG;
	}
	bp->hdr.cmd_line_ptr = (uint32_t)cfg->cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(cfg->cmdline_addr >> 32);
	return 0;
}

static int set_initrd(const struct guest_memory *gm, struct boot_params *bp, const struct x86_boot_config *cfg)
{
	if (cfg->initrd_size == 0)
		return 0;
	uint64_t last;
	if (!ck_add_u64(cfg->initrd_addr, cfg->initrd_size - 1, &last) ||
	    !gm_range_valid(gm, GPA(cfg->initrd_addr), cfg->initrd_size))
		return -EINVAL;
	if (cfg->hdr && !(cfg->hdr->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)) {
		uint64_t max = cfg->hdr->version >= 0x203 ? cfg->hdr->initrd_addr_max : INITRD_ADDR_MAX_OLD;
		if (last > max)
			return -ERANGE;
	}
	bp->hdr.ramdisk_image = (uint32_t)cfg->initrd_addr;
	bp->ext_ramdisk_image = (uint32_t)(cfg->initrd_addr >> 32);
	bp->hdr.ramdisk_size = (uint32_t)cfg->initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(cfg->initrd_size >> 32);
	return 0;
}

int x86_write_zero_page(const struct guest_memory *gm, const struct x86_boot_config *cfg)
{
	/* Zero first: boot.rst requires every field the loader does not set
	 * to be zero, and the sentinel at 0x1ef must not read 0xff. */
	struct boot_params bp;
	memset(&bp, 0, sizeof(bp));
	int err;
	if (cfg->hdr && (err = copy_setup_header(&bp, cfg->hdr)) < 0)
		return err;

	bp.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp.hdr.boot_flag = SETUP_BOOT_FLAG;
	bp.hdr.header = SETUP_HDR_MAGIC;
	/* The protected-mode kernel sits above 1 MiB. CAN_USE_HEAP and
	 * heap_end_ptr only matter to the real-mode setup code, which a
	 * 64-bit entry never runs, so they stay clear. */
	bp.hdr.loadflags |= LOADED_HIGH;
	bp.hdr.loadflags &= (uint8_t)~CAN_USE_HEAP;
	if (bp.hdr.kernel_alignment == 0)
		bp.hdr.kernel_alignment = (uint32_t)DEFAULT_KERNEL_ALIGNMENT;

	if ((err = set_cmdline(gm, &bp, cfg)) < 0 || (err = set_initrd(gm, &bp, cfg)) < 0)
		return err;
	if (cfg->rsdp_addr && !gm_range_valid(gm, GPA(cfg->rsdp_addr), RSDP_SIZE))
		return -EINVAL;
	bp.acpi_rsdp_addr = cfg->rsdp_addr;

	size_t n;
	if ((err = x86_build_e820(gm, bp.e820_table, E820_MAX_ENTRIES_ZEROPAGE, &n)) < 0)
		return err;
	bp.e820_entries = (uint8_t)n;

	return gm_write_obj(gm, GPA(X86_ZERO_PAGE_ADDR), &bp);
}
