/*
 * Thin wrappers around the KVM ioctls: the only code in crosvm that issues
 * them. Each object records the name of the last ioctl that failed so the
 * caller can report "KVM_CREATE_VM: Permission denied" without knowing which
 * ioctl a wrapper uses. Functions return 0 (or a non-negative value) on
 * success and -errno on failure.
 */
#ifndef CROSVM_HYPERVISOR_KVM_H
#define CROSVM_HYPERVISOR_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

struct kvm {
	int fd; /* owned, /dev/kvm */
	size_t vcpu_mmap_size;
	const char *failed_ioctl; /* static string: the last ioctl that failed */
};

struct kvm_vm {
	int fd; /* owned */
	const char *failed_ioctl;
};

struct kvm_vcpu {
	int fd; /* owned */
	uint32_t id;
	/* SAFETY: the shared kvm_run page(s) of this vCPU, vcpu_mmap_size bytes,
	 * mapped until kvm_vcpu_destroy(); written by KVM during KVM_RUN only. */
	struct kvm_run *run;
	size_t run_size;
	const char *failed_ioctl;
};

/* Opens the KVM device (path, usually /dev/kvm) and checks API version 12. */
int kvm_open(struct kvm *kvm, const char *path) MUST_USE;
void kvm_close(struct kvm *kvm);
/* Returns the KVM_CHECK_EXTENSION value (0 = unsupported) or -errno. */
int kvm_check_extension(struct kvm *kvm, long cap);
/* Allocates *out (free() it) with the host-supported CPUID table. */
int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out) MUST_USE;

int kvm_vm_create(struct kvm *kvm, struct kvm_vm *vm) MUST_USE;
void kvm_vm_destroy(struct kvm_vm *vm);
int kvm_vm_set_user_memory(struct kvm_vm *vm, uint32_t slot, gpa_t gpa, uint64_t size, void *host,
			   bool readonly) MUST_USE;
int kvm_vm_set_tss_addr(struct kvm_vm *vm, uint64_t addr) MUST_USE;
int kvm_vm_set_identity_map_addr(struct kvm_vm *vm, uint64_t addr) MUST_USE;
int kvm_vm_create_irqchip(struct kvm_vm *vm) MUST_USE;
int kvm_vm_create_pit2(struct kvm_vm *vm) MUST_USE;
/* Raises GSI `gsi` (edge: pulse) whenever eventfd `fd` is signalled. */
int kvm_vm_irqfd(struct kvm_vm *vm, int fd, uint32_t gsi) MUST_USE;
int kvm_vm_irqfd_remove(struct kvm_vm *vm, int fd, uint32_t gsi);
int kvm_vm_irq_line(struct kvm_vm *vm, uint32_t irq, bool level) MUST_USE;
/* Signals eventfd fd whenever the guest writes len (1, 2, 4 or 8) bytes
 * at addr, with any value, without an exit to userspace. pio selects the
 * I/O-port space instead of MMIO. assign=false removes the registration. */
int kvm_vm_ioeventfd(struct kvm_vm *vm, int fd, uint64_t addr, uint32_t len, bool pio, bool assign) MUST_USE;
/* Injects one MSI (address/data as the guest programmed them). Returns 1
 * if delivered, 0 if the guest blocked it, or -errno. */
int kvm_vm_signal_msi(struct kvm_vm *vm, uint64_t addr, uint32_t data) MUST_USE;
/* Replaces the whole GSI routing table. */
int kvm_vm_set_gsi_routing(struct kvm_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t n) MUST_USE;
/* Fills `entries` with the default x86 routing (GSI n to IOAPIC pin n for 0..23,
 * 0..15 also to the PICs except the cascade, GSI 2). Returns the count. */
uint32_t kvm_default_x86_routing(struct kvm_irq_routing_entry *entries, uint32_t max);

int kvm_vcpu_create(struct kvm *kvm, struct kvm_vm *vm, uint32_t id, struct kvm_vcpu *vcpu) MUST_USE;
void kvm_vcpu_destroy(struct kvm_vcpu *vcpu);
int kvm_vcpu_run(struct kvm_vcpu *vcpu); /* -EINTR when kicked */
int kvm_vcpu_get_regs(struct kvm_vcpu *vcpu, struct kvm_regs *regs) MUST_USE;
int kvm_vcpu_set_regs(struct kvm_vcpu *vcpu, const struct kvm_regs *regs) MUST_USE;
int kvm_vcpu_get_sregs(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs) MUST_USE;
int kvm_vcpu_set_sregs(struct kvm_vcpu *vcpu, const struct kvm_sregs *sregs) MUST_USE;
int kvm_vcpu_set_fpu(struct kvm_vcpu *vcpu, const struct kvm_fpu *fpu) MUST_USE;
int kvm_vcpu_set_cpuid2(struct kvm_vcpu *vcpu, const struct kvm_cpuid2 *cpuid) MUST_USE;
/* Sets `n` MSRs; fails with -EIO if KVM accepted fewer. */
int kvm_vcpu_set_msrs(struct kvm_vcpu *vcpu, const struct kvm_msr_entry *msrs, uint32_t n) MUST_USE;
int kvm_vcpu_get_lapic(struct kvm_vcpu *vcpu, struct kvm_lapic_state *lapic) MUST_USE;
int kvm_vcpu_set_lapic(struct kvm_vcpu *vcpu, const struct kvm_lapic_state *lapic) MUST_USE;
int kvm_vcpu_get_mp_state(struct kvm_vcpu *vcpu, struct kvm_mp_state *mp) MUST_USE;
int kvm_vcpu_set_mp_state(struct kvm_vcpu *vcpu, const struct kvm_mp_state *mp) MUST_USE;
int kvm_vcpu_set_tsc_khz(struct kvm_vcpu *vcpu, uint32_t khz) MUST_USE;
/* Tells the guest's kvmclock that the vCPU was paused (so its watchdogs do
 * not count the pause as a lockup). -EINVAL when the guest does not use
 * kvmclock. Call only while the vCPU is not in KVM_RUN. */
int kvm_vcpu_kvmclock_ctrl(struct kvm_vcpu *vcpu) MUST_USE;

/* Human-readable name of a KVM_EXIT_* reason, for error messages. */
const char *kvm_exit_reason_name(uint32_t reason);

#endif
