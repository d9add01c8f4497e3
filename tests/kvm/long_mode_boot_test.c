/*
 * Boots our x86_64 boot state on the real /dev/kvm: identity page tables,
 * GDT, long-mode segment and control registers, boot MSRs, FPU, CPUID and a
 * zero page. The guest is a few 64-bit instructions at 16 MiB that prove
 * each piece: it runs at all (long mode, paging, code segment), rsi points
 * at the zero page (reads boot_flag), and memory above the first 2 MiB page
 * is identity-mapped (reads a marker at 48 MiB).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/x86_64.h"
#include "devices/bus.h"
#include "devices/serial.h"
#include "tiny_guest.h"
#include "hypervisor/kvm/kvm.h"
#include "vm_memory/vm_memory.h"

static const uint8_t guest_code[] = {
	0x66, 0xba, 0xf8, 0x03,			  /* mov dx, 0x3f8 */
	0xb0, 'L',				  /* mov al, 'L' */
	0xee,					  /* out dx, al */
	0x8a, 0x86, 0xfe, 0x01, 0x00, 0x00,	  /* mov al, [rsi + 0x1fe]: boot_flag low byte 0x55 'U' */
	0xee,					  /* out dx, al */
	0x8a, 0x04, 0x25, 0x00, 0x00, 0x00, 0x03, /* mov al, [0x3000000] */
	0xee,					  /* out dx, al */
	0xf4,					  /* hlt */
};

static void test_long_mode_boot_state(void **state)
{
	(void)state;
	struct kvm kvm;
	int r = kvm_open(&kvm, "/dev/kvm");
	if (r < 0) {
		print_message("skipped: /dev/kvm is not usable here (%s)\n", strerror(-r));
		skip();
	}
	struct kvm_vm vm;
	assert_int_equal(kvm_vm_create(&kvm, &vm), 0);
	struct gm_range ranges[2];
	size_t n;
	assert_int_equal(x86_memory_ranges(MiB(64), ranges, &n), 0);
	struct guest_memory gm;
	assert_int_equal(gm_create(&gm, ranges, n), 0);
	assert_int_equal(kvm_vm_set_tss_addr(&vm, X86_TSS_ADDR), 0);
	assert_int_equal(kvm_vm_set_user_memory(&vm, 0, gm.regions[0].base, gm.regions[0].size, gm.regions[0].host,
						false),
			 0);

	const uint64_t entry = X86_KERNEL_MIN_LOAD;
	assert_int_equal(gm_write(&gm, GPA(entry), guest_code, sizeof(guest_code)), 0);
	assert_int_equal(gm_write(&gm, GPA(0x3000000), "P", 1), 0);
	assert_int_equal(gm_write(&gm, GPA(X86_CMDLINE_ADDR), "x", 2), 0);
	struct x86_boot_config boot = { .cmdline_addr = X86_CMDLINE_ADDR, .cmdline_size = 2 };
	assert_int_equal(x86_write_zero_page(&gm, &boot), 0);
	assert_int_equal(x86_write_page_tables(&gm), 0);
	assert_int_equal(x86_write_gdt(&gm), 0);

	struct kvm_vcpu vcpu;
	assert_int_equal(kvm_vcpu_create(&kvm, &vm, 0, &vcpu), 0);
	struct kvm_cpuid2 *cpuid;
	assert_int_equal(kvm_get_supported_cpuid(&kvm, &cpuid), 0);
	assert_int_equal(x86_cpuid_configure(cpuid, 0, 1), 0);
	assert_int_equal(kvm_vcpu_set_cpuid2(&vcpu, cpuid), 0);
	free(cpuid);
	struct kvm_msr_entry msrs[32];
	size_t nmsrs = x86_boot_msrs(msrs, 32);
	assert_int_equal(kvm_vcpu_set_msrs(&vcpu, msrs, (uint32_t)nmsrs), 0);
	struct kvm_fpu fpu;
	x86_init_fpu(&fpu);
	assert_int_equal(kvm_vcpu_set_fpu(&vcpu, &fpu), 0);
	struct kvm_sregs sregs;
	assert_int_equal(kvm_vcpu_get_sregs(&vcpu, &sregs), 0);
	x86_init_sregs(&sregs);
	assert_int_equal(kvm_vcpu_set_sregs(&vcpu, &sregs), 0);
	struct kvm_regs regs;
	x86_init_regs(&regs, entry, X86_ZERO_PAGE_ADDR);
	assert_int_equal(kvm_vcpu_set_regs(&vcpu, &regs), 0);

	struct bus io, mmio;
	assert_int_equal(bus_init(&io), 0);
	assert_int_equal(bus_init(&mmio), 0);
	struct tiny_console con;
	assert_int_equal(tiny_console_attach(&con, &io), 0);

	assert_int_equal(tiny_guest_run(&vcpu, &io, &mmio, 16), KVM_EXIT_HLT);
	assert_string_equal(con.buf, "LUP");

	kvm_vcpu_destroy(&vcpu);
	tiny_console_detach(&con);
	bus_destroy(&io);
	bus_destroy(&mmio);
	kvm_vm_destroy(&vm);
	gm_destroy(&gm);
	kvm_close(&kvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_mode_boot_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
