/*
 * Shared scaffolding for the direct /dev/kvm tests: a COM1 UART whose
 * output is captured, and a run loop that dispatches I/O and MMIO exits to
 * the buses until the guest exits some other way (normally HLT).
 */
#ifndef CROSVM_TESTS_KVM_TINY_GUEST_H
#define CROSVM_TESTS_KVM_TINY_GUEST_H

#include "devices/bus.h"
#include "devices/serial.h"
#include "hypervisor/kvm/kvm.h"

struct tiny_console {
	struct serial uart;
	char buf[64];
	size_t len;
};

/* Creates the UART with a capturing sink and puts it on io at 0x3f8. */
int tiny_console_attach(struct tiny_console *c, struct bus *io) MUST_USE;
void tiny_console_detach(struct tiny_console *c);

/* Runs the vCPU for at most max_exits exits; returns the last exit reason
 * (or -errno if KVM_RUN failed). Prints where the guest stopped when it
 * was anything but HLT, to make a failing test say why. */
int tiny_guest_run(struct kvm_vcpu *vcpu, struct bus *io, struct bus *mmio, int max_exits);

#endif
