/*
 * Direct /dev/kvm tests: tiny purpose-built guests (no Linux) that check the
 * KVM wrappers, the I/O and MMIO exit decoding and the bus dispatch against
 * the real kernel KVM. They run on any host with a usable /dev/kvm, even
 * this project's nested paravirtual one, and skip where there is none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/serial.h"
#include "tiny_guest.h"
#include "hypervisor/kvm/kvm.h"
#include "vm_memory/vm_memory.h"

/* An MMIO scratch device: remembers the last byte written, reads 'Z'. */
struct scratch {
	uint8_t last;
	uint64_t last_off;
};
static void scratch_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 'Z', len);
}
static void scratch_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct scratch *s = dev;
	(void)len;
	s->last = data[0];
	s->last_off = off;
}
static const struct bus_device_ops scratch_ops = { scratch_read, scratch_write };

/* Real-mode guest at 0x1000: "hello" via rep outsb to COM1, '!' via out,
 * an MMIO write of 0x42 to 0xd010 and an MMIO read from 0xd000 echoed to
 * COM1, an IN from an unclaimed port echoed too, then hlt. */
static const uint8_t guest_code[] = {
	0xba, 0xf8, 0x03,		/* mov dx, 0x3f8 */
	0xbe, 0x00, 0x11,		/* mov si, 0x1100 */
	0xb9, 0x05, 0x00,		/* mov cx, 5 */
	0xf3, 0x6e,			/* rep outsb */
	0xb0, 0x21,			/* mov al, '!' */
	0xee,				/* out dx, al */
	0xc6, 0x06, 0x10, 0xd0, 0x42,	/* mov byte [0xd010], 0x42 */
	0xa0, 0x00, 0xd0,		/* mov al, [0xd000] */
	0xee,				/* out dx, al */
	0xba, 0x34, 0x12,		/* mov dx, 0x1234 */
	0xec,				/* in al, dx */
	0xba, 0xf8, 0x03,		/* mov dx, 0x3f8 */
	0xee,				/* out dx, al */
	0xf4,				/* hlt */
};

static void test_real_mode_io_and_mmio(void **state)
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
	/* 32 KiB of RAM: 0xd000 is outside it, so accesses there exit as MMIO. */
	struct gm_range range = { GPA(0), 0x8000 };
	struct guest_memory gm;
	assert_int_equal(gm_create(&gm, &range, 1), 0);
	assert_int_equal(kvm_vm_set_tss_addr(&vm, 0xfffbd000), 0);
	assert_int_equal(kvm_vm_set_user_memory(&vm, 0, GPA(0), 0x8000, gm.regions[0].host, false), 0);
	assert_int_equal(gm_write(&gm, GPA(0x1000), guest_code, sizeof(guest_code)), 0);
	assert_int_equal(gm_write(&gm, GPA(0x1100), "hello", 5), 0);

	struct bus io, mmio;
	assert_int_equal(bus_init(&io), 0);
	assert_int_equal(bus_init(&mmio), 0);
	struct tiny_console con;
	assert_int_equal(tiny_console_attach(&con, &io), 0);
	struct scratch scratch = { 0 };
	assert_int_equal(bus_insert(&mmio, 0xd000, 0x100, &scratch_ops, &scratch, "scratch"), 0);

	struct kvm_vcpu vcpu;
	assert_int_equal(kvm_vcpu_create(&kvm, &vm, 0, &vcpu), 0);
	struct kvm_sregs sregs;
	assert_int_equal(kvm_vcpu_get_sregs(&vcpu, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	assert_int_equal(kvm_vcpu_set_sregs(&vcpu, &sregs), 0);
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	assert_int_equal(kvm_vcpu_set_regs(&vcpu, &regs), 0);

	assert_int_equal(tiny_guest_run(&vcpu, &io, &mmio, 64), KVM_EXIT_HLT);
	/* Unclaimed port reads as 0xff. */
	assert_int_equal(con.len, 8);
	assert_memory_equal(con.buf, "hello!Z\xff", 8);
	assert_int_equal(scratch.last, 0x42);
	assert_int_equal(scratch.last_off, 0x10);

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
		cmocka_unit_test(test_real_mode_io_and_mmio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
