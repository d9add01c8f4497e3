/*
 * ELF vmlinux loader. Linux's uncompressed x86_64 vmlinux is an ET_EXEC
 * file whose PT_LOAD segments carry both a virtual address (the kernel's
 * high mapping) and a physical one (p_paddr, e.g. 16 MiB); we run with
 * paging identity-mapped, so segments go to p_paddr and e_entry — which
 * the kernel's linker script sets to the physical address of startup_64 —
 * is jumped to directly.
 *
 * The headers are read once into local copies and every segment is
 * validated before any byte reaches guest memory, so a bad segment late
 * in the table does not leave earlier ones half-loaded and then "succeed".
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "base/checked.h"
#include "base/fd.h"
#include "kernel_loader/kl_internal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ELF fields are read in host byte order");

static int check_ehdr(const Elf64_Ehdr *eh)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return -EINVAL;
	if (eh->e_type != ET_EXEC || eh->e_machine != EM_X86_64)
		return -EINVAL;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > KL_ELF_MAX_PHNUM)
		return -EINVAL;
	return 0;
}

/* Validates one PT_LOAD segment against the file and guest memory. */
static int check_segment(const struct guest_memory *gm, const Elf64_Phdr *ph, uint64_t file_size)
{
	uint64_t file_end, mem_end;
	if (ph->p_filesz > ph->p_memsz)
		return -EINVAL;
	if (!ck_add_u64(ph->p_offset, ph->p_filesz, &file_end))
		return -EINVAL;
	if (file_end > file_size)
		return -EIO;
	if (!ck_add_u64(ph->p_paddr, ph->p_memsz, &mem_end))
		return -EINVAL;
	/* Below 1 MiB live the zero page, page tables, GDT, command line and
	 * firmware tables we build; a kernel must not land on them. */
	if (ph->p_paddr < X86_HIGH_MEM_START)
		return -EINVAL;
	if (!kl_fits_low_ram(gm, ph->p_paddr, ph->p_memsz))
		return -E2BIG;
	return 0;
}

int kl_load_elf(const struct guest_memory *gm, int fd, uint64_t file_size, struct kl_kernel *out)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[KL_ELF_MAX_PHNUM];
	int r;

	if (file_size < sizeof(eh))
		return -EIO;
	r = fd_pread_full(fd, &eh, sizeof(eh), 0);
	if (r < 0)
		return r;
	r = check_ehdr(&eh);
	if (r < 0)
		return r;

	/* phnum <= 64 and phentsize == 56, so the table size cannot overflow;
	 * the offset can be anything. */
	uint64_t tab_len = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), tab_end;
	if (!ck_add_u64(eh.e_phoff, tab_len, &tab_end))
		return -EINVAL;
	if (tab_end > file_size)
		return -EIO;
	r = fd_pread_full(fd, ph, tab_len, eh.e_phoff);
	if (r < 0)
		return r;

	uint64_t lo = UINT64_MAX, hi = 0;
	bool entry_ok = false;
	size_t nr_load = 0;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		r = check_segment(gm, &ph[i], file_size);
		if (r < 0)
			return r;
		if (ph[i].p_memsz == 0)
			continue;
		nr_load++;
		uint64_t end = ph[i].p_paddr + ph[i].p_memsz; /* checked above */
		if (ph[i].p_paddr < lo)
			lo = ph[i].p_paddr;
		if (end > hi)
			hi = end;
		if (eh.e_entry >= ph[i].p_paddr && eh.e_entry < end)
			entry_ok = true;
	}
	/* An entry outside every segment would jump into memory we never
	 * wrote: refuse rather than boot into zeroes. */
	if (nr_load == 0 || !entry_ok)
		return -EINVAL;

	for (size_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		r = gm_read_from_fd(gm, GPA(ph[i].p_paddr), fd, ph[i].p_offset, ph[i].p_filesz);
		if (r < 0)
			return r;
		/* bss: guest RAM starts zeroed, but segments may overlap and the
		 * memory may be reused, so zero explicitly. */
		if (ph[i].p_memsz > ph[i].p_filesz) {
			r = gm_fill(gm, GPA(ph[i].p_paddr + ph[i].p_filesz), 0, ph[i].p_memsz - ph[i].p_filesz);
			if (r < 0)
				return r;
		}
	}

	memset(out, 0, sizeof(*out));
	out->kind = KL_ELF;
	out->entry = eh.e_entry;
	out->load_start = lo;
	out->load_end = hi;
	out->has_setup_header = false;
	out->cmdline_max = (uint32_t)(X86_CMDLINE_MAX - 1);
	out->initrd_addr_max = KL_DEFAULT_INITRD_ADDR_MAX;
	return 0;
}
