/*
 * The VM's GSI routing table, kept in userspace because KVM only takes it
 * whole (KVM_SET_GSI_ROUTING replaces everything). It starts as the default
 * x86 wiring (GSIs 0..23 to the IOAPIC, 0..15 also to the PICs) and gains
 * one MSI route per unmasked MSI-X vector; every change is applied at once.
 * Thread-safe: vCPU threads reprogram MSI-X tables concurrently.
 */
#ifndef CROSVM_HYPERVISOR_KVM_IRQ_ROUTES_H
#define CROSVM_HYPERVISOR_KVM_IRQ_ROUTES_H

#include <pthread.h>
#include <stdint.h>

#include "hypervisor/kvm/kvm.h"

#define KVM_IRQ_ROUTES_MAX 1024

struct kvm_irq_routes {
	pthread_mutex_t lock;
	struct kvm_vm *vm; /* borrowed */
	uint32_t nr;
	struct kvm_irq_routing_entry entries[KVM_IRQ_ROUTES_MAX];
};

/* Installs the default x86 routing. Returns 0 or -errno. */
int kvm_irq_routes_init(struct kvm_irq_routes *r, struct kvm_vm *vm) MUST_USE;
void kvm_irq_routes_destroy(struct kvm_irq_routes *r);
/* Routes gsi (>= 24) to the MSI address/data, replacing any route it had.
 * Returns 0, -EINVAL for a GSI of the IOAPIC, -ENOSPC or KVM's -errno (the
 * table is left as it was). */
int kvm_irq_routes_set_msi(struct kvm_irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data) MUST_USE;
/* Drops gsi's MSI route (no-op if none). Returns 0 or -errno. */
int kvm_irq_routes_clear_msi(struct kvm_irq_routes *r, uint32_t gsi) MUST_USE;

#endif
