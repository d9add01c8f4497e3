/* Unit tests for the x86_64 boot state: RAM split, e820, zero page, page
 * tables, GDT and the initial register, FPU, MSR and LAPIC state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "arch/x86_64/x86_64.h"

static void make_gm(struct guest_memory *gm, uint64_t mem)
{
	struct gm_range r[2];
	size_t n;
	assert_int_equal(x86_memory_ranges(mem, r, &n), 0);
	assert_int_equal(gm_create(gm, r, n), 0);
}

static void test_memory_ranges(void **state)
{
	(void)state;
	struct gm_range r[2];
	size_t n;

	assert_int_equal(x86_memory_ranges(MiB(64), r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(gpa_val(r[0].base), 0);
	assert_int_equal(r[0].size, MiB(64));

	assert_int_equal(x86_memory_ranges(GiB(3), r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].size, GiB(3));

	assert_int_equal(x86_memory_ranges(GiB(4), r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].size, X86_MMIO_HOLE_START);
	assert_int_equal(gpa_val(r[1].base), X86_FOUR_GIB);
	assert_int_equal(r[1].size, GiB(1));

	assert_int_equal(x86_memory_ranges(GiB(8), r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].size, GiB(3));
	assert_int_equal(gpa_val(r[1].base), GiB(4));
	assert_int_equal(r[1].size, GiB(5));

	assert_int_equal(x86_memory_ranges(MiB(1), r, &n), 0);
	assert_int_equal(x86_memory_ranges(0, r, &n), -EINVAL);
	assert_int_equal(x86_memory_ranges(MiB(1) - 4096, r, &n), -EINVAL);
	assert_int_equal(x86_memory_ranges(MiB(64) + 1, r, &n), -EINVAL);
	assert_int_equal(x86_memory_ranges(MiB(64) + 2048, r, &n), -EINVAL);
	assert_int_equal(x86_memory_ranges(UINT64_MAX & ~4095ULL, r, &n), -EINVAL);
}

static void check_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static void test_e820_low_only(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, MiB(64));
	struct boot_e820_entry e[8];
	size_t n;
	assert_int_equal(x86_build_e820(&gm, e, 8, &n), 0);
	assert_int_equal(n, 4);
	check_entry(&e[0], 0, X86_EBDA_START, X86_E820_RAM);
	check_entry(&e[1], X86_EBDA_START, MiB(1) - X86_EBDA_START, X86_E820_RESERVED);
	check_entry(&e[2], MiB(1), MiB(63), X86_E820_RAM);
	check_entry(&e[3], X86_PCIE_ECAM_ADDR, X86_PCIE_ECAM_SIZE, X86_E820_RESERVED);
	/* Too small an output array is an error, not a truncation. */
	assert_int_equal(x86_build_e820(&gm, e, 3, &n), -ENOSPC);
	gm_destroy(&gm);
}

static void test_e820_high(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, GiB(8));
	struct boot_e820_entry e[8];
	size_t n;
	assert_int_equal(x86_build_e820(&gm, e, 8, &n), 0);
	assert_int_equal(n, 5);
	check_entry(&e[0], 0, X86_EBDA_START, X86_E820_RAM);
	check_entry(&e[1], X86_EBDA_START, MiB(1) - X86_EBDA_START, X86_E820_RESERVED);
	check_entry(&e[2], MiB(1), GiB(3) - MiB(1), X86_E820_RAM);
	check_entry(&e[3], X86_PCIE_ECAM_ADDR, X86_PCIE_ECAM_SIZE, X86_E820_RESERVED);
	check_entry(&e[4], GiB(4), GiB(5), X86_E820_RAM);
	gm_destroy(&gm);
}

static void test_e820_bad_layout(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r = { .base = GPA(MiB(1)), .size = MiB(16) };
	assert_int_equal(gm_create(&gm, &r, 1), 0);
	struct boot_e820_entry e[8];
	size_t n;
	assert_int_equal(x86_build_e820(&gm, e, 8, &n), -EINVAL); /* RAM must start at 0 */
	gm_destroy(&gm);
}

static struct setup_header fake_header(void)
{
	struct setup_header h;
	memset(&h, 0, sizeof(h));
	h.setup_sects = 27;
	h.boot_flag = 0xaa55;
	/* Header ends at 0x202 + 0x6a = 0x26c: the whole struct. */
	h.jump = 0x6aeb;
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.init_size = 0x1234000;
	return h;
}

static void write_cmdline(struct guest_memory *gm, const char *s)
{
	assert_int_equal(gm_write(gm, GPA(X86_CMDLINE_ADDR), s, strlen(s) + 1), 0);
}

static void test_zero_page_bzimage(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, MiB(256));
	const char *cmdline = "console=ttyS0 reboot=k panic=1";
	write_cmdline(&gm, cmdline);
	struct setup_header hdr = fake_header();
	struct x86_boot_config cfg = {
		.cmdline_addr = X86_CMDLINE_ADDR,
		.cmdline_size = (uint32_t)strlen(cmdline) + 1,
		.initrd_addr = MiB(128),
		.initrd_size = MiB(3) + 17,
		.rsdp_addr = X86_ACPI_ADDR,
		.hdr = &hdr,
	};
	assert_int_equal(x86_write_zero_page(&gm, &cfg), 0);

	struct boot_params bp;
	assert_int_equal(gm_read_obj(&gm, GPA(X86_ZERO_PAGE_ADDR), &bp), 0);
	/* Copied from the image. */
	assert_int_equal(bp.hdr.setup_sects, 27);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.init_size, 0x1234000);
	assert_int_equal(bp.hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp.hdr.cmdline_size, 2047);
	assert_int_equal(bp.hdr.xloadflags, XLF_KERNEL_64);
	/* Loader fields. */
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_true(bp.hdr.loadflags & LOADED_HIGH);
	assert_false(bp.hdr.loadflags & CAN_USE_HEAP);
	assert_int_equal(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	assert_int_equal(bp.ext_cmd_line_ptr, 0);
	assert_int_equal(bp.hdr.ramdisk_image, MiB(128));
	assert_int_equal(bp.hdr.ramdisk_size, MiB(3) + 17);
	assert_int_equal(bp.ext_ramdisk_image, 0);
	assert_int_equal(bp.ext_ramdisk_size, 0);
	assert_int_equal(bp.acpi_rsdp_addr, X86_ACPI_ADDR);
	assert_int_equal(bp.sentinel, 0);
	/* e820 as built alone. */
	struct boot_e820_entry e[8];
	size_t n;
	assert_int_equal(x86_build_e820(&gm, e, 8, &n), 0);
	assert_int_equal(bp.e820_entries, n);
	assert_memory_equal(bp.e820_table, e, n * sizeof(e[0]));
	gm_destroy(&gm);
}

static void test_zero_page_elf(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, GiB(6));
	write_cmdline(&gm, "quiet");
	/* An ELF vmlinux has no setup header; the initrd may live above 4G. */
	struct x86_boot_config cfg = {
		.cmdline_addr = X86_CMDLINE_ADDR,
		.cmdline_size = 6,
		.initrd_addr = GiB(5) + 0x1000,
		.initrd_size = MiB(1),
	};
	assert_int_equal(x86_write_zero_page(&gm, &cfg), 0);
	struct boot_params bp;
	assert_int_equal(gm_read_obj(&gm, GPA(X86_ZERO_PAGE_ADDR), &bp), 0);
	assert_int_equal(bp.hdr.header, 0x53726448);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_int_equal(bp.hdr.kernel_alignment, X86_KERNEL_MIN_LOAD);
	assert_int_equal(bp.hdr.ramdisk_image, 0x40001000); /* 5 GiB + 4 KiB, low half */
	assert_int_equal(bp.ext_ramdisk_image, 1);
	assert_int_equal(bp.hdr.ramdisk_size, MiB(1));
	assert_int_equal(bp.acpi_rsdp_addr, 0);
	assert_int_equal(bp.e820_entries, 5);
	assert_int_equal(bp.e820_table[4].addr, GiB(4));
	assert_int_equal(bp.e820_table[4].size, GiB(3));
	gm_destroy(&gm);
}

static void test_zero_page_errors(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, MiB(64));
	write_cmdline(&gm, "abc");
	struct setup_header hdr = fake_header();
	struct x86_boot_config cfg = { .cmdline_addr = X86_CMDLINE_ADDR, .cmdline_size = 4, .hdr = &hdr };
	assert_int_equal(x86_write_zero_page(&gm, &cfg), 0);

	/* Size not ending at the NUL. */
	cfg.cmdline_size = 3;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -EINVAL);
	/* Longer than the kernel accepts. */
	cfg.cmdline_size = 4;
	hdr.cmdline_size = 2;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -E2BIG);
	hdr = fake_header();
	/* Command line outside RAM. */
	cfg.cmdline_addr = MiB(64) - 2;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -EINVAL);
	cfg.cmdline_addr = X86_CMDLINE_ADDR;
	/* Initrd outside RAM, and wrapping around. */
	cfg.initrd_addr = MiB(60);
	cfg.initrd_size = MiB(8);
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -EINVAL);
	cfg.initrd_addr = UINT64_MAX - 10;
	cfg.initrd_size = 100;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -EINVAL);
	/* Initrd above the kernel's initrd_addr_max. */
	cfg.initrd_addr = MiB(32);
	cfg.initrd_size = MiB(1);
	hdr.initrd_addr_max = MiB(32);
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -ERANGE);
	hdr.xloadflags |= XLF_CAN_BE_LOADED_ABOVE_4G;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), 0);
	/* Not a setup header. */
	hdr.header = 0;
	assert_int_equal(x86_write_zero_page(&gm, &cfg), -EINVAL);
	gm_destroy(&gm);
}

static void test_zero_page_short_header(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, MiB(64));
	struct setup_header hdr = fake_header();
	/* A protocol 2.02-era header ends at 0x202 + 0x30 = 0x232; anything
	 * beyond (here init_size) is setup code and must not be copied. */
	hdr.jump = 0x30eb;
	hdr.version = 0x0202;
	struct x86_boot_config cfg = { .hdr = &hdr };
	assert_int_equal(x86_write_zero_page(&gm, &cfg), 0);
	struct boot_params bp;
	assert_int_equal(gm_read_obj(&gm, GPA(X86_ZERO_PAGE_ADDR), &bp), 0);
	assert_int_equal(bp.hdr.setup_sects, 27);
	assert_int_equal(bp.hdr.init_size, 0);
	assert_int_equal(bp.hdr.cmd_line_ptr, 0);
	gm_destroy(&gm);
}

static uint64_t read_u64(struct guest_memory *gm, uint64_t addr)
{
	uint64_t v;
	assert_int_equal(gm_read(gm, GPA(addr), &v, sizeof(v)), 0);
	return v;
}

static void test_page_tables(void **state)
{
	(void)state;
	struct guest_memory gm;
	make_gm(&gm, MiB(64));
	/* Stale bytes must be overwritten by zeroed entries. */
	assert_int_equal(gm_fill(&gm, GPA(X86_PML4_ADDR), 0xaa, 4096 * 6), 0);
	assert_int_equal(x86_write_page_tables(&gm), 0);

	assert_int_equal(read_u64(&gm, X86_PML4_ADDR), X86_PDPT_ADDR | 0x3);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(read_u64(&gm, X86_PML4_ADDR + i * 8), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(read_u64(&gm, X86_PDPT_ADDR + i * 8), (X86_PD_ADDR + i * 4096) | 0x3);
	for (unsigned i = 4; i < 512; i++)
		assert_int_equal(read_u64(&gm, X86_PDPT_ADDR + i * 8), 0);
	for (uint64_t i = 0; i < 2048; i++) {
		uint64_t e = read_u64(&gm, X86_PD_ADDR + i * 8);
		assert_int_equal(e, (i << 21) | 0x83); /* present, writable, 2 MiB page */
	}
	/* The last PD entry maps the 2 MiB page just below 4 GiB. */
	assert_int_equal(read_u64(&gm, X86_PD_ADDR + 2047 * 8) & ~0xfffULL, GiB(4) - MiB(2));
	gm_destroy(&gm);
}

static void test_gdt(void **state)
{
	(void)state;
	/* Round trip of the classic encodings. */
	assert_int_equal(x86_gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffULL);
	assert_int_equal(x86_gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffULL);
	assert_int_equal(x86_gdt_entry(0x808b, 0x12345678, 0xabcde), 0x128a8b345678bcdeULL);

	struct kvm_segment s;
	x86_segment_from_gdt(0x128a8b345678bcdeULL, 0x28, &s);
	assert_int_equal(s.base, 0x12345678);
	assert_int_equal(s.limit, 0xabcdefff);
	assert_int_equal(s.selector, 0x28);
	assert_int_equal(s.type, 0xb);
	assert_int_equal(s.present, 1);
	assert_int_equal(s.s, 0);
	assert_int_equal(s.g, 1);
	assert_int_equal(s.unusable, 0);

	struct guest_memory gm;
	make_gm(&gm, MiB(64));
	assert_int_equal(gm_fill(&gm, GPA(X86_BOOT_IDT_ADDR), 0xcc, 16), 0);
	assert_int_equal(x86_write_gdt(&gm), 0);
	uint64_t gdt[X86_BOOT_GDT_ENTRIES];
	assert_int_equal(gm_read(&gm, GPA(X86_BOOT_GDT_ADDR), gdt, sizeof(gdt)), 0);
	assert_int_equal(gdt[0], 0);

	x86_segment_from_gdt(gdt[X86_BOOT_CS_SEL / 8], X86_BOOT_CS_SEL, &s);
	assert_int_equal(s.base, 0);
	assert_int_equal(s.limit, 0xffffffff);
	assert_int_equal(s.type, 0xb); /* execute/read, accessed */
	assert_int_equal(s.s, 1);
	assert_int_equal(s.l, 1);
	assert_int_equal(s.db, 0);
	assert_int_equal(s.dpl, 0);
	assert_int_equal(s.present, 1);

	x86_segment_from_gdt(gdt[X86_BOOT_DS_SEL / 8], X86_BOOT_DS_SEL, &s);
	assert_int_equal(s.base, 0);
	assert_int_equal(s.limit, 0xffffffff);
	assert_int_equal(s.type, 0x3); /* read/write, accessed */
	assert_int_equal(s.s, 1);
	assert_int_equal(s.l, 0);
	assert_int_equal(s.db, 1);

	x86_segment_from_gdt(gdt[X86_BOOT_TSS_SEL / 8], X86_BOOT_TSS_SEL, &s);
	assert_int_equal(s.type, 0xb); /* busy 64-bit TSS */
	assert_int_equal(s.s, 0);
	assert_int_equal(s.present, 1);
	assert_true(s.limit >= 0x67);

	uint8_t idt[16], zero[16] = { 0 };
	assert_int_equal(gm_read(&gm, GPA(X86_BOOT_IDT_ADDR), idt, sizeof(idt)), 0);
	assert_memory_equal(idt, zero, sizeof(idt));
	gm_destroy(&gm);
}

static void test_sregs(void **state)
{
	(void)state;
	struct kvm_sregs sr;
	memset(&sr, 0, sizeof(sr));
	sr.cr0 = 0x60000010; /* reset value: CD | NW | ET */
	sr.apic_base = 0xfee00900;
	x86_init_sregs(&sr);

	assert_int_equal(sr.cs.selector, 0x10);
	assert_int_equal(sr.cs.l, 1);
	assert_int_equal(sr.cs.present, 1);
	assert_int_equal(sr.ds.selector, 0x18);
	assert_int_equal(sr.es.selector, 0x18);
	assert_int_equal(sr.fs.selector, 0x18);
	assert_int_equal(sr.gs.selector, 0x18);
	assert_int_equal(sr.ss.selector, 0x18);
	assert_int_equal(sr.ss.type, 0x3);
	assert_int_equal(sr.tr.selector, X86_BOOT_TSS_SEL);
	assert_int_equal(sr.tr.type, 0xb);
	assert_int_equal(sr.gdt.base, X86_BOOT_GDT_ADDR);
	assert_int_equal(sr.gdt.limit, 31);
	assert_int_equal(sr.idt.base, X86_BOOT_IDT_ADDR);
	assert_int_equal(sr.idt.limit, 15);
	assert_int_equal(sr.cr0 & 0x80000001, 0x80000001); /* PG | PE */
	assert_int_equal(sr.cr0 & 0x60000000, 0);          /* caches on */
	assert_int_equal(sr.cr0 & 0x30, 0x30);             /* ET | NE */
	assert_int_equal(sr.cr3, X86_PML4_ADDR);
	assert_int_equal(sr.cr4 & 0x620, 0x620); /* PAE | OSFXSR | OSXMMEXCPT */
	assert_int_equal(sr.efer & 0x500, 0x500); /* LME | LMA */
	assert_int_equal(sr.apic_base, 0xfee00900); /* untouched */
}

static void test_regs_fpu(void **state)
{
	(void)state;
	struct kvm_regs r;
	memset(&r, 0x5a, sizeof(r));
	x86_init_regs(&r, 0x1000000, X86_ZERO_PAGE_ADDR);
	assert_int_equal(r.rip, 0x1000000);
	assert_int_equal(r.rsi, X86_ZERO_PAGE_ADDR);
	assert_int_equal(r.rflags, 2);
	assert_int_equal(r.rsp, X86_BOOT_STACK_TOP);
	assert_int_equal(r.rbp, X86_BOOT_STACK_TOP);
	assert_int_equal(r.rax, 0);
	assert_int_equal(r.rdi, 0);
	/* The stack page must not overlap the zero page or the page tables. */
	assert_true(X86_BOOT_STACK_TOP - 4096 >= X86_ZERO_PAGE_ADDR + 4096);
	assert_true(X86_BOOT_STACK_TOP <= X86_PML4_ADDR);

	struct kvm_fpu f;
	memset(&f, 0x5a, sizeof(f));
	x86_init_fpu(&f);
	assert_int_equal(f.fcw, 0x37f);
	assert_int_equal(f.mxcsr, 0x1f80);
	assert_int_equal(f.fsw, 0);
	assert_int_equal(f.ftwx, 0);
}

static void test_msrs(void **state)
{
	(void)state;
	struct kvm_msr_entry m[16];
	memset(m, 0x5a, sizeof(m));
	size_t n = x86_boot_msrs(m, 16);
	assert_int_equal(n, X86_BOOT_MSR_COUNT);
	bool misc = false, mtrr = false, lstar = false;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].reserved, 0);
		assert_int_not_equal(m[i].index, 0x10); /* never the TSC */
		if (m[i].index == 0x1a0) {
			assert_int_equal(m[i].data, 1);
			misc = true;
		} else if (m[i].index == 0x2ff) {
			assert_int_equal(m[i].data, 0x806);
			mtrr = true;
		} else {
			assert_int_equal(m[i].data, 0);
			lstar |= m[i].index == 0xc0000082;
		}
	}
	assert_true(misc && mtrr && lstar);
	assert_int_equal(x86_boot_msrs(m, 3), 3);
	assert_int_equal(x86_boot_msrs(m, 0), 0);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, size_t off)
{
	uint32_t v;
	memcpy(&v, &l->regs[off], 4);
	return v;
}

static void test_lapic(void **state)
{
	(void)state;
	struct kvm_lapic_state l;
	memset(&l, 0, sizeof(l));
	uint32_t masked = 0x10000 | 0x700; /* masked, stale delivery mode */
	memcpy(&l.regs[0x350], &masked, 4);
	memcpy(&l.regs[0x360], &masked, 4);
	x86_init_lapic(&l);
	assert_int_equal(lapic_reg(&l, 0x350), 0x10700); /* ExtINT, mask kept */
	assert_int_equal(lapic_reg(&l, 0x360), 0x10400); /* NMI */
	assert_int_equal(lapic_reg(&l, 0x340), 0);
	assert_int_equal(lapic_reg(&l, 0x370), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_ranges),
		cmocka_unit_test(test_e820_low_only),
		cmocka_unit_test(test_e820_high),
		cmocka_unit_test(test_e820_bad_layout),
		cmocka_unit_test(test_zero_page_bzimage),
		cmocka_unit_test(test_zero_page_elf),
		cmocka_unit_test(test_zero_page_errors),
		cmocka_unit_test(test_zero_page_short_header),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_gdt),
		cmocka_unit_test(test_sregs),
		cmocka_unit_test(test_regs_fpu),
		cmocka_unit_test(test_msrs),
		cmocka_unit_test(test_lapic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
