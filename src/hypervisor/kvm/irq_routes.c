/*
 * GSI routing table management (see irq_routes.h). The table is small
 * (tens of entries), so a linear search and a full re-apply per change are
 * simpler than anything cleverer and fast enough: guests reprogram MSI-X
 * vectors at driver probe, not per interrupt.
 */
#include "hypervisor/kvm/irq_routes.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"

int kvm_irq_routes_init(struct kvm_irq_routes *r, struct kvm_vm *vm)
{
	memset(r, 0, sizeof(*r));
	r->vm = vm;
	int e = pthread_mutex_init(&r->lock, NULL);
	if (e)
		return -e;
	r->nr = kvm_default_x86_routing(r->entries, KVM_IRQ_ROUTES_MAX);
	return kvm_vm_set_gsi_routing(vm, r->entries, r->nr);
}

void kvm_irq_routes_destroy(struct kvm_irq_routes *r)
{
	if (r && r->vm) {
		pthread_mutex_destroy(&r->lock);
		r->vm = NULL;
	}
}

static int find_msi(const struct kvm_irq_routes *r, uint32_t gsi)
{
	for (uint32_t i = 0; i < r->nr; i++)
		if (r->entries[i].gsi == gsi && r->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return (int)i;
	return -1;
}

int kvm_irq_routes_set_msi(struct kvm_irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data)
{
	if (gsi < X86_IOAPIC_PINS)
		return -EINVAL;
	struct kvm_irq_routing_entry e = {
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data },
	};
	pthread_mutex_lock(&r->lock);
	int i = find_msi(r, gsi);
	struct kvm_irq_routing_entry old = { 0 };
	int err;
	if (i >= 0) {
		old = r->entries[i];
		r->entries[i] = e;
	} else if (r->nr < KVM_IRQ_ROUTES_MAX) {
		r->entries[r->nr++] = e;
	} else {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;
	}
	err = kvm_vm_set_gsi_routing(r->vm, r->entries, r->nr);
	if (err < 0) {
		/* Keep our copy equal to what KVM has. */
		if (i >= 0)
			r->entries[i] = old;
		else
			r->nr--;
	}
	pthread_mutex_unlock(&r->lock);
	return err < 0 ? err : 0;
}

int kvm_irq_routes_clear_msi(struct kvm_irq_routes *r, uint32_t gsi)
{
	pthread_mutex_lock(&r->lock);
	int i = find_msi(r, gsi);
	int err = 0;
	if (i >= 0) {
		r->entries[i] = r->entries[r->nr - 1];
		r->nr--;
		err = kvm_vm_set_gsi_routing(r->vm, r->entries, r->nr);
	}
	pthread_mutex_unlock(&r->lock);
	return err < 0 ? err : 0;
}
