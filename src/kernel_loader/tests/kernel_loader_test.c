/*
 * Unit tests for the kernel loaders: synthetic ELF files and bzImages are
 * built in memory, written to memfds and loaded into a small guest memory,
 * covering each validation rule and the initrd placement policy.
 *
 * With KL_WRITE_CORPUS=<dir> in the environment the test also writes its
 * valid synthetic ELF and bzImage to <dir> as the fuzzer's seed corpus
 * (fuzz/corpus/kernel_loader/ was generated this way).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "base/fd.h"
#include "kernel_loader/kernel_loader.h"

#define GUEST_SIZE MiB(64)

/* ---- helpers ---- */

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("kl_test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(fd_write_full(fd, data, len), 0);
	return fd;
}

static void gm_setup(struct guest_memory *gm)
{
	struct gm_range r = { GPA(0), GUEST_SIZE };
	assert_int_equal(gm_create(gm, &r, 1), 0);
}

static int load_buf(const struct guest_memory *gm, const void *data, size_t len, struct kl_kernel *k)
{
	int fd = memfd_with(data, len);
	int r = kl_load_kernel(gm, fd, k);
	close(fd);
	return r;
}

static int load_buf_fresh(const void *data, size_t len)
{
	struct guest_memory gm;
	struct kl_kernel k;
	gm_setup(&gm);
	int r = load_buf(&gm, data, len, &k);
	gm_destroy(&gm);
	return r;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A minimal vmlinux-like ELF: header, program headers right after it,
 * then the file data of up to two segments. */
struct elf_img {
	uint8_t buf[4096];
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

#define SEG0_PADDR MiB(16)
#define SEG0_FILESZ 256
#define SEG0_MEMSZ 4096
#define SEG1_PADDR MiB(20)
#define SEG1_FILESZ 100
#define ELF_ENTRY (SEG0_PADDR + 0x40)

static void elf_build(struct elf_img *e)
{
	memset(e, 0, sizeof(*e));
	e->eh = (Elf64_Ehdr *)e->buf;
	e->ph = (Elf64_Phdr *)(e->buf + sizeof(Elf64_Ehdr));
	Elf64_Ehdr *eh = e->eh;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = ELF_ENTRY;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 3;

	size_t off = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);
	e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = off,
				 .p_vaddr = 0xffffffff81000000ULL, .p_paddr = SEG0_PADDR,
				 .p_filesz = SEG0_FILESZ, .p_memsz = SEG0_MEMSZ, .p_align = 4096 };
	fill_pattern(e->buf + off, SEG0_FILESZ, 1);
	off += SEG0_FILESZ;
	/* A non-load header must simply be skipped. */
	e->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0, .p_paddr = 0, .p_filesz = 16, .p_memsz = 16 };
	e->ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R, .p_offset = off,
				 .p_vaddr = 0xffffffff81400000ULL, .p_paddr = SEG1_PADDR,
				 .p_filesz = SEG1_FILESZ, .p_memsz = SEG1_FILESZ, .p_align = 4096 };
	fill_pattern(e->buf + off, SEG1_FILESZ, 99);
	off += SEG1_FILESZ;
	e->len = off;
}

static int elf_load_fresh(const struct elf_img *e)
{
	return load_buf_fresh(e->buf, e->len);
}

/* A minimal bzImage: setup sectors with the header at 0x1f1, then the
 * payload. */
struct bz_img {
	uint8_t *buf;
	size_t len;
	struct setup_header hdr; /* edited by tests, written by bz_finish */
	unsigned sects;          /* real setup_sects used for layout */
	size_t payload_len;
};

#define BZ_PAYLOAD 0x1000

static void bz_build(struct bz_img *b, uint8_t setup_sects, size_t payload_len)
{
	memset(b, 0, sizeof(*b));
	b->sects = setup_sects ? setup_sects : 4;
	b->payload_len = payload_len;
	b->len = (b->sects + 1) * 512 + payload_len;
	b->buf = calloc(1, b->len);
	assert_non_null(b->buf);
	fill_pattern(b->buf + (b->sects + 1) * 512, payload_len, 42);
	struct setup_header *h = &b->hdr;
	h->setup_sects = setup_sects;
	h->syssize = (uint32_t)((payload_len + 15) / 16);
	h->boot_flag = 0xaa55;
	h->jump = 0x6aeb; /* jmp to 0x26c: header covers every field we know */
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = 2047;
	h->pref_address = MiB(16);
	h->init_size = (uint32_t)MiB(8);
}

static void bz_finish(struct bz_img *b)
{
	memcpy(b->buf + 0x1f1, &b->hdr, sizeof(b->hdr));
}

static int bz_load_fresh(struct bz_img *b)
{
	bz_finish(b);
	return load_buf_fresh(b->buf, b->len);
}

static void bz_free(struct bz_img *b)
{
	free(b->buf);
	b->buf = NULL;
}

/* ---- ELF ---- */

static void test_elf_valid(void **state)
{
	(void)state;
	struct elf_img e;
	struct guest_memory gm;
	struct kl_kernel k;
	elf_build(&e);
	gm_setup(&gm);
	/* Dirty the bss so zeroing is observable. */
	assert_int_equal(gm_fill(&gm, GPA(SEG0_PADDR), 0xaa, SEG0_MEMSZ + 64), 0);

	assert_int_equal(load_buf(&gm, e.buf, e.len, &k), 0);
	assert_int_equal(k.kind, KL_ELF);
	assert_int_equal(k.entry, ELF_ENTRY);
	assert_int_equal(k.load_start, SEG0_PADDR);
	assert_int_equal(k.load_end, SEG1_PADDR + SEG1_FILESZ);
	assert_false(k.has_setup_header);
	assert_int_equal(k.cmdline_max, X86_CMDLINE_MAX - 1);
	assert_int_equal(k.initrd_addr_max, KL_DEFAULT_INITRD_ADDR_MAX);

	uint8_t got[SEG0_MEMSZ + 64];
	assert_int_equal(gm_read(&gm, GPA(SEG0_PADDR), got, sizeof(got)), 0);
	assert_memory_equal(got, e.buf + e.ph[0].p_offset, SEG0_FILESZ);
	for (size_t i = SEG0_FILESZ; i < SEG0_MEMSZ; i++)
		assert_int_equal(got[i], 0);
	assert_int_equal(got[SEG0_MEMSZ], 0xaa); /* past memsz: untouched */
	assert_int_equal(gm_read(&gm, GPA(SEG1_PADDR), got, SEG1_FILESZ), 0);
	assert_memory_equal(got, e.buf + e.ph[2].p_offset, SEG1_FILESZ);

	enum kl_kind kind = 0;
	int fd = memfd_with(e.buf, e.len);
	assert_int_equal(kl_detect(fd, &kind), 0);
	assert_int_equal(kind, KL_ELF);
	close(fd);
	gm_destroy(&gm);
}

static void test_elf_bad_ident(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.eh->e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_ident[EI_DATA] = ELFDATA2MSB;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_machine = EM_386;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_machine = EM_AARCH64;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_type = ET_DYN;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_version = 7;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
}

static void test_elf_phdr_table(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.eh->e_phnum = 0xffff; /* PN_XNUM: extended numbering, refused */
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_phnum = KL_ELF_MAX_PHNUM + 1;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_phnum = 0;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_phentsize = 32;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_phoff = e.len; /* table past the end of the file */
	assert_int_equal(elf_load_fresh(&e), -EIO);
	elf_build(&e);
	e.eh->e_phoff = UINT64_MAX - 8; /* offset + size wraps */
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	/* A table of 64 entries that is all PT_NULL but the first: accepted. */
	elf_build(&e);
	e.eh->e_phnum = 1;
	assert_int_equal(elf_load_fresh(&e), 0);
}

static void test_elf_segment_beyond_file(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.ph[2].p_filesz = e.ph[2].p_memsz = SEG1_FILESZ + 1;
	assert_int_equal(elf_load_fresh(&e), -EIO);
	elf_build(&e);
	e.ph[0].p_offset = e.len + 4096;
	assert_int_equal(elf_load_fresh(&e), -EIO);
	elf_build(&e);
	e.ph[0].p_offset = UINT64_MAX - 10; /* offset + filesz wraps */
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	/* A file cut in the middle of the last segment's data. */
	elf_build(&e);
	assert_int_equal(load_buf_fresh(e.buf, e.len - 1), -EIO);
}

static void test_elf_segment_beyond_ram(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.ph[2].p_paddr = GUEST_SIZE - 50; /* 100 bytes straddle the end */
	assert_int_equal(elf_load_fresh(&e), -E2BIG);
	elf_build(&e);
	e.ph[0].p_memsz = MiB(64);
	assert_int_equal(elf_load_fresh(&e), -E2BIG);
	elf_build(&e);
	e.ph[2].p_paddr = X86_FOUR_GIB;
	assert_int_equal(elf_load_fresh(&e), -E2BIG);
}

static void test_elf_segment_low(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.ph[2].p_paddr = X86_ZERO_PAGE_ADDR;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.ph[2].p_paddr = X86_HIGH_MEM_START - 1;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.ph[2].p_paddr = X86_HIGH_MEM_START; /* exactly 1 MiB is allowed */
	assert_int_equal(elf_load_fresh(&e), 0);
}

static void test_elf_filesz_gt_memsz(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.ph[0].p_memsz = SEG0_FILESZ - 1;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
}

static void test_elf_paddr_overflow(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.ph[2].p_paddr = UINT64_MAX - 10;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.ph[0].p_memsz = UINT64_MAX;
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
}

static void test_elf_entry_and_loads(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	e.eh->e_entry = MiB(30); /* not inside any segment */
	assert_int_equal(elf_load_fresh(&e), -EINVAL);
	elf_build(&e);
	e.eh->e_entry = SEG0_PADDR + SEG0_MEMSZ - 1; /* last bss byte: inside */
	assert_int_equal(elf_load_fresh(&e), 0);
	elf_build(&e);
	e.ph[0].p_type = PT_NOTE;
	e.ph[2].p_type = PT_DYNAMIC;
	assert_int_equal(elf_load_fresh(&e), -EINVAL); /* no PT_LOAD at all */
}

static void test_elf_truncated_header(void **state)
{
	(void)state;
	struct elf_img e;
	elf_build(&e);
	assert_int_equal(load_buf_fresh(e.buf, 40), -EIO);
	assert_int_equal(load_buf_fresh(e.buf, 4), -EIO);
	/* Whole ELF header but the program header table cut off. */
	assert_int_equal(load_buf_fresh(e.buf, sizeof(Elf64_Ehdr) + 10), -EIO);
}

/* ---- bzImage ---- */

static void test_bz_valid(void **state)
{
	(void)state;
	struct bz_img b;
	struct guest_memory gm;
	struct kl_kernel k;
	bz_build(&b, 4, BZ_PAYLOAD);
	bz_finish(&b);
	gm_setup(&gm);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.kind, KL_BZIMAGE);
	assert_int_equal(k.load_start, MiB(16));
	assert_int_equal(k.entry, MiB(16) + 0x200);
	assert_int_equal(k.load_end, MiB(16) + MiB(8));
	assert_true(k.has_setup_header);
	assert_memory_equal(&k.hdr, &b.hdr, sizeof(k.hdr));
	assert_int_equal(k.cmdline_max, 2047);
	assert_int_equal(k.initrd_addr_max, 0x7fffffff);

	uint8_t *got = malloc(BZ_PAYLOAD);
	assert_non_null(got);
	assert_int_equal(gm_read(&gm, GPA(MiB(16)), got, BZ_PAYLOAD), 0);
	assert_memory_equal(got, b.buf + 5 * 512, BZ_PAYLOAD);
	free(got);

	enum kl_kind kind = 0;
	int fd = memfd_with(b.buf, b.len);
	assert_int_equal(kl_detect(fd, &kind), 0);
	assert_int_equal(kind, KL_BZIMAGE);
	close(fd);
	gm_destroy(&gm);
	bz_free(&b);
}

static void test_bz_load_address(void **state)
{
	(void)state;
	struct bz_img b;
	struct guest_memory gm;
	struct kl_kernel k;
	gm_setup(&gm);

	/* Relocatable, pref_address above 16 MiB and unaligned: pref rounded
	 * up to kernel_alignment. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.pref_address = 0x1100000;
	bz_finish(&b);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.load_start, 0x1200000);
	assert_int_equal(k.entry, 0x1200200);
	bz_free(&b);

	/* Relocatable with a low pref_address: never below 16 MiB. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.pref_address = MiB(1);
	b.hdr.init_size = 0; /* payload size is then the bound */
	bz_finish(&b);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.load_start, MiB(16));
	assert_int_equal(k.load_end, MiB(16) + BZ_PAYLOAD);
	bz_free(&b);

	/* Not relocatable: exactly at pref_address. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.relocatable_kernel = 0;
	b.hdr.pref_address = MiB(32) + 0x1000;
	bz_finish(&b);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.load_start, MiB(32) + 0x1000);
	assert_int_equal(k.entry, MiB(32) + 0x1200);
	bz_free(&b);

	/* Not relocatable and wanting to sit on our boot structures. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.relocatable_kernel = 0;
	b.hdr.pref_address = X86_ZERO_PAGE_ADDR;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);

	gm_destroy(&gm);
}

static void test_bz_bad_magic(void **state)
{
	(void)state;
	struct bz_img b;
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.header = 0x53726449;
	assert_int_equal(bz_load_fresh(&b), -ENOEXEC);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.boot_flag = 0x55aa;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
}

static void test_bz_old_protocol(void **state)
{
	(void)state;
	static const uint16_t versions[] = { 0x0200, 0x0205, 0x0206, 0x020b };
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++) {
		struct bz_img b;
		bz_build(&b, 4, BZ_PAYLOAD);
		b.hdr.version = versions[i];
		assert_int_equal(bz_load_fresh(&b), -EINVAL);
		bz_free(&b);
	}
	struct bz_img b;
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.version = 0x020c;
	assert_int_equal(bz_load_fresh(&b), 0);
	bz_free(&b);
}

static void test_bz_flags(void **state)
{
	(void)state;
	struct bz_img b;
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G; /* 32-bit entry only */
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.loadflags = 0; /* zImage loaded low */
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.kernel_alignment = 0x300000;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.kernel_alignment = 0;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
}

static void test_bz_truncated(void **state)
{
	(void)state;
	struct bz_img b;
	bz_build(&b, 4, BZ_PAYLOAD);
	bz_finish(&b);
	/* Payload one byte short of syssize * 16. */
	assert_int_equal(load_buf_fresh(b.buf, b.len - 1), -EIO);
	/* Only the setup sectors. */
	assert_int_equal(load_buf_fresh(b.buf, 5 * 512), -EIO);
	/* Header itself cut in the middle. */
	assert_int_equal(load_buf_fresh(b.buf, 0x220), -EIO);
	bz_free(&b);

	/* syssize claims more than the file has. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.syssize = 0xffffffff;
	assert_int_equal(bz_load_fresh(&b), -EIO);
	bz_free(&b);

	/* Empty or too-short payloads cannot hold the 64-bit entry. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.syssize = 0;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.syssize = 0x200 / 16;
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
}

static void test_bz_trailing_bytes_ignored(void **state)
{
	(void)state;
	/* An appended signature after syssize*16 bytes is not loaded. */
	struct bz_img b;
	struct guest_memory gm;
	struct kl_kernel k;
	bz_build(&b, 4, BZ_PAYLOAD + 512);
	b.hdr.syssize = BZ_PAYLOAD / 16;
	b.hdr.init_size = 0;
	bz_finish(&b);
	gm_setup(&gm);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.load_end, MiB(16) + BZ_PAYLOAD);
	uint8_t after = 0xff;
	assert_int_equal(gm_read(&gm, GPA(MiB(16) + BZ_PAYLOAD), &after, 1), 0);
	assert_int_equal(after, 0);
	gm_destroy(&gm);
	bz_free(&b);
}

static void test_bz_setup_sects_zero(void **state)
{
	(void)state;
	struct bz_img b;
	struct guest_memory gm;
	struct kl_kernel k;
	bz_build(&b, 0, BZ_PAYLOAD); /* means 4: payload at 5 * 512 */
	bz_finish(&b);
	gm_setup(&gm);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.hdr.setup_sects, 0); /* returned as read */
	uint8_t got[64];
	assert_int_equal(gm_read(&gm, GPA(k.load_start), got, sizeof(got)), 0);
	assert_memory_equal(got, b.buf + 5 * 512, sizeof(got));
	gm_destroy(&gm);
	bz_free(&b);

	/* setup_sects 1: the header is still inside the setup area. */
	bz_build(&b, 1, BZ_PAYLOAD);
	assert_int_equal(bz_load_fresh(&b), 0);
	bz_free(&b);
}

static void test_bz_too_big(void **state)
{
	(void)state;
	struct bz_img b;
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.init_size = (uint32_t)MiB(48) + 1; /* 16 MiB + that > 64 MiB */
	assert_int_equal(bz_load_fresh(&b), -E2BIG);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.init_size = (uint32_t)MiB(48); /* exactly fills guest RAM */
	assert_int_equal(bz_load_fresh(&b), 0);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.pref_address = UINT64_MAX - 4096; /* alignment round-up wraps */
	assert_int_equal(bz_load_fresh(&b), -E2BIG);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.relocatable_kernel = 0;
	b.hdr.pref_address = UINT64_MAX - 4096; /* load + init_size wraps */
	assert_int_equal(bz_load_fresh(&b), -E2BIG);
	bz_free(&b);
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.kernel_alignment = 0x80000000; /* 16 MiB rounds up to 2 GiB */
	assert_int_equal(bz_load_fresh(&b), -E2BIG);
	bz_free(&b);
}

static void test_bz_header_fields(void **state)
{
	(void)state;
	struct bz_img b;
	struct guest_memory gm;
	struct kl_kernel k;
	gm_setup(&gm);

	/* A header that ends at 0x264 (protocol 2.12-2.14 shape): the bytes
	 * where kernel_info_offset would be are code and come back zeroed. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.version = 0x020c;
	b.hdr.jump = 0x62eb;
	b.hdr.kernel_info_offset = 0x12345678;
	b.hdr.cmdline_size = 100000;
	b.hdr.initrd_addr_max = 0;
	bz_finish(&b);
	assert_int_equal(load_buf(&gm, b.buf, b.len, &k), 0);
	assert_int_equal(k.hdr.kernel_info_offset, 0);
	assert_int_equal(k.hdr.init_size, MiB(8));
	assert_int_equal(k.cmdline_max, X86_CMDLINE_MAX - 1);
	assert_int_equal(k.initrd_addr_max, KL_DEFAULT_INITRD_ADDR_MAX);
	bz_free(&b);

	/* A header whose declared end stops before xloadflags: no 64-bit
	 * entry can be trusted. */
	bz_build(&b, 4, BZ_PAYLOAD);
	b.hdr.jump = 0x30eb; /* ends at 0x232 */
	assert_int_equal(bz_load_fresh(&b), -EINVAL);
	bz_free(&b);
	gm_destroy(&gm);
}

/* ---- detection ---- */

static void test_detect_not_kernel(void **state)
{
	(void)state;
	uint8_t junk[4096];
	srand(1234);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	junk[0] = 'M'; /* never the ELF magic */
	assert_int_equal(load_buf_fresh(junk, sizeof(junk)), -ENOEXEC);
	int fd = memfd_with(junk, sizeof(junk));
	enum kl_kind kind;
	assert_int_equal(kl_detect(fd, &kind), -ENOEXEC);
	close(fd);

	/* Text long enough to hold a bzImage header but holding none. */
	char text[1024];
	memset(text, 'x', sizeof(text));
	assert_int_equal(load_buf_fresh(text, sizeof(text)), -ENOEXEC);
}

static void test_detect_tiny(void **state)
{
	(void)state;
	/* Too short to hold any kernel header: reported as truncated. */
	assert_int_equal(load_buf_fresh("", 0), -EIO);
	assert_int_equal(load_buf_fresh("hello", 5), -EIO);
	uint8_t almost[0x205];
	memset(almost, 0, sizeof(almost));
	memcpy(almost + 0x202, "HdrS", 3);
	assert_int_equal(load_buf_fresh(almost, sizeof(almost)), -EIO);
	assert_int_equal(load_buf_fresh("\x7f" "ELF", 4), -EIO);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(kl_strerror(-ENOEXEC), "not an ELF vmlinux or bzImage");
	assert_string_equal(kl_strerror(-EINVAL), "malformed or unsupported kernel header");
	assert_string_equal(kl_strerror(-EIO), "truncated kernel image");
	assert_string_equal(kl_strerror(-E2BIG), "kernel does not fit in guest memory");
	assert_string_equal(kl_initrd_strerror(-E2BIG), "initrd does not fit in guest memory");
	assert_non_null(kl_strerror(-EBADF));
	assert_non_null(kl_initrd_strerror(-12345));
}

/* ---- initrd ---- */

#define INITRD_SIZE (MiB(1) + 123)

static uint8_t *initrd_data(void)
{
	uint8_t *d = malloc(INITRD_SIZE);
	assert_non_null(d);
	fill_pattern(d, INITRD_SIZE, 5);
	return d;
}

static void test_initrd_highest(void **state)
{
	(void)state;
	struct guest_memory gm;
	uint8_t *d = initrd_data();
	int fd = memfd_with(d, INITRD_SIZE);
	uint64_t addr = 0;
	gm_setup(&gm);

	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE, 0x37ffffff, MiB(24), &addr), 0);
	assert_int_equal(addr, (GUEST_SIZE - INITRD_SIZE) & ~4095ULL);
	assert_int_equal(addr % 4096, 0);
	uint8_t *got = malloc(INITRD_SIZE);
	assert_non_null(got);
	assert_int_equal(gm_read(&gm, GPA(addr), got, INITRD_SIZE), 0);
	assert_memory_equal(got, d, INITRD_SIZE);

	/* max_addr is inclusive: the initrd ends at or below max_addr + 1. */
	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE, MiB(40) - 1, MiB(24), &addr), 0);
	assert_int_equal(addr, (MiB(40) - INITRD_SIZE) & ~4095ULL);
	assert_true(addr + INITRD_SIZE <= MiB(40));

	/* No limit from the kernel: no overflow computing max_addr + 1. */
	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE, UINT64_MAX, 0, &addr), 0);
	assert_int_equal(addr, (GUEST_SIZE - INITRD_SIZE) & ~4095ULL);

	free(got);
	free(d);
	close(fd);
	gm_destroy(&gm);
}

static void test_initrd_no_room(void **state)
{
	(void)state;
	struct guest_memory gm;
	uint8_t *d = initrd_data();
	int fd = memfd_with(d, INITRD_SIZE);
	uint64_t addr = 0xdead;
	gm_setup(&gm);

	/* Bigger than RAM. */
	assert_int_equal(kl_load_initrd(&gm, fd, MiB(100), UINT64_MAX, MiB(24), &addr), -E2BIG);
	/* Fits in RAM but not above the kernel. */
	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE, UINT64_MAX, MiB(63), &addr), -E2BIG);
	/* Fits but not under max_addr. */
	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE, MiB(25), MiB(24), &addr), -E2BIG);
	/* max_addr below the guest's first megabyte. */
	assert_int_equal(kl_load_initrd(&gm, fd, 4096, 0xfff, 0, &addr), -E2BIG);
	assert_int_equal(kl_load_initrd(&gm, fd, UINT64_MAX, UINT64_MAX, 0, &addr), -E2BIG);
	/* Empty. */
	assert_int_equal(kl_load_initrd(&gm, fd, 0, UINT64_MAX, MiB(24), &addr), -EINVAL);
	/* Shorter file than announced. */
	assert_int_equal(kl_load_initrd(&gm, fd, INITRD_SIZE + 1, UINT64_MAX, MiB(24), &addr), -EIO);
	assert_int_equal(addr, 0xdead);

	/* kernel_end 0 still keeps the initrd above 1 MiB. */
	struct guest_memory small;
	struct gm_range r = { GPA(0), MiB(2) };
	assert_int_equal(gm_create(&small, &r, 1), 0);
	assert_int_equal(kl_load_initrd(&small, fd, INITRD_SIZE, UINT64_MAX, 0, &addr), -E2BIG);
	assert_int_equal(kl_load_initrd(&small, fd, 4096, UINT64_MAX, 0, &addr), 0);
	assert_int_equal(addr, MiB(2) - 4096);
	gm_destroy(&small);

	free(d);
	close(fd);
	gm_destroy(&gm);
}

static void test_initrd_below_hole(void **state)
{
	(void)state;
	/* The usual big-guest layout: RAM up to the MMIO hole, the rest above
	 * 4 GiB. The initrd stays in the low region. */
	struct guest_memory gm;
	struct gm_range r[2] = { { GPA(0), X86_MMIO_HOLE_START }, { GPA(X86_FOUR_GIB), MiB(64) } };
	assert_int_equal(gm_create(&gm, r, 2), 0);
	uint8_t data[8192];
	fill_pattern(data, sizeof(data), 3);
	int fd = memfd_with(data, sizeof(data));
	uint64_t addr = 0;
	assert_int_equal(kl_load_initrd(&gm, fd, sizeof(data), UINT64_MAX, MiB(64), &addr), 0);
	assert_int_equal(addr, X86_MMIO_HOLE_START - sizeof(data));
	assert_int_equal(kl_load_initrd(&gm, fd, sizeof(data), 0x7fffffff, MiB(64), &addr), 0);
	assert_int_equal(addr, 0x80000000ULL - sizeof(data));
	close(fd);
	gm_destroy(&gm);
}

/* ---- seed corpus ---- */

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fd_write_full(fd, data, len) < 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

/* Writes the valid synthetic images as the fuzzer's seed corpus. */
static int write_corpus(const char *dir)
{
	struct elf_img e;
	elf_build(&e);
	int r = write_file(dir, "elf_two_segments", e.buf, e.len);
	struct bz_img b;
	bz_build(&b, 1, 0x240);
	b.hdr.init_size = (uint32_t)MiB(1);
	bz_finish(&b);
	r |= write_file(dir, "bzimage_minimal", b.buf, b.len);
	bz_free(&b);
	return r;
}

int main(void)
{
	const char *corpus_dir = getenv("KL_WRITE_CORPUS");
	if (corpus_dir)
		return write_corpus(corpus_dir);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_valid),
		cmocka_unit_test(test_elf_bad_ident),
		cmocka_unit_test(test_elf_phdr_table),
		cmocka_unit_test(test_elf_segment_beyond_file),
		cmocka_unit_test(test_elf_segment_beyond_ram),
		cmocka_unit_test(test_elf_segment_low),
		cmocka_unit_test(test_elf_filesz_gt_memsz),
		cmocka_unit_test(test_elf_paddr_overflow),
		cmocka_unit_test(test_elf_entry_and_loads),
		cmocka_unit_test(test_elf_truncated_header),
		cmocka_unit_test(test_bz_valid),
		cmocka_unit_test(test_bz_load_address),
		cmocka_unit_test(test_bz_bad_magic),
		cmocka_unit_test(test_bz_old_protocol),
		cmocka_unit_test(test_bz_flags),
		cmocka_unit_test(test_bz_truncated),
		cmocka_unit_test(test_bz_trailing_bytes_ignored),
		cmocka_unit_test(test_bz_setup_sects_zero),
		cmocka_unit_test(test_bz_too_big),
		cmocka_unit_test(test_bz_header_fields),
		cmocka_unit_test(test_detect_not_kernel),
		cmocka_unit_test(test_detect_tiny),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_initrd_highest),
		cmocka_unit_test(test_initrd_no_room),
		cmocka_unit_test(test_initrd_below_hole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
