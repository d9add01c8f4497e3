/* The shared scaffolding of tests/kvm: see tiny_guest.h. */
#include "tiny_guest.h"

#include <stdio.h>

#include "cli/vcpu_exit.h"

static void capture_write(void *ctx, const uint8_t *b, size_t n)
{
	struct tiny_console *c = ctx;
	for (size_t i = 0; i < n && c->len < sizeof(c->buf) - 1; i++)
		c->buf[c->len++] = (char)b[i];
	c->buf[c->len] = '\0';
}

int tiny_console_attach(struct tiny_console *c, struct bus *io)
{
	c->len = 0;
	c->buf[0] = '\0';
	int r = serial_init(&c->uart, -1, (struct serial_sink){ capture_write, c });
	if (r < 0)
		return r;
	return bus_insert(io, 0x3f8, SERIAL_WINDOW_LEN, &serial_bus_ops, &c->uart, "serial");
}

void tiny_console_detach(struct tiny_console *c) { serial_destroy(&c->uart); }

int tiny_guest_run(struct kvm_vcpu *vcpu, struct bus *io, struct bus *mmio, int max_exits)
{
	uint32_t reason = 0;
	for (int i = 0; i < max_exits; i++) {
		int r = kvm_vcpu_run(vcpu);
		if (r < 0)
			return r;
		reason = vcpu->run->exit_reason;
		if (reason == KVM_EXIT_IO)
			vcpu_exit_io(io, vcpu);
		else if (reason == KVM_EXIT_MMIO)
			vcpu_exit_mmio(mmio, vcpu);
		else
			break;
	}
	if (reason != KVM_EXIT_HLT) {
		struct kvm_regs regs;
		if (kvm_vcpu_get_regs(vcpu, &regs) == 0)
			fprintf(stderr, "guest stopped with exit %s at rip 0x%llx\n", kvm_exit_reason_name(reason),
				(unsigned long long)regs.rip);
	}
	return (int)reason;
}
