/*
 * KVM ioctl wrappers. Every ioctl goes through xioctl(), which retries on
 * EINTR where the ioctl is restartable and records its name on failure.
 */
#include "hypervisor/kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/fd.h"

#define XIOCTL(obj, fd, req, arg) xioctl(&(obj)->failed_ioctl, #req, (fd), (req), (arg))

static int xioctl(const char **failed, const char *name, int fd, unsigned long req, unsigned long arg)
{
	int r;
	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR && req != KVM_RUN);
	if (r < 0) {
		*failed = name;
		return -errno;
	}
	return r;
}

int kvm_open(struct kvm *kvm, const char *path)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		kvm->failed_ioctl = "open";
		return -errno;
	}
	int v = XIOCTL(kvm, kvm->fd, KVM_GET_API_VERSION, 0);
	if (v < 0)
		goto fail;
	if (v != KVM_API_VERSION) {
		kvm->failed_ioctl = "KVM_GET_API_VERSION";
		v = -ENOTSUP;
		goto fail;
	}
	int sz = XIOCTL(kvm, kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < 0) {
		v = sz;
		goto fail;
	}
	kvm->vcpu_mmap_size = (size_t)sz;
	return 0;
fail:
	fd_close(&kvm->fd);
	return v;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm)
		fd_close(&kvm->fd);
}

int kvm_check_extension(struct kvm *kvm, long cap)
{
	return XIOCTL(kvm, kvm->fd, KVM_CHECK_EXTENSION, (unsigned long)cap);
}

int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out)
{
	/* Grow the buffer until KVM stops answering E2BIG. */
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		int r = XIOCTL(kvm, kvm->fd, KVM_GET_SUPPORTED_CPUID, (unsigned long)c);
		if (r == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (r != -E2BIG)
			return r;
	}
	return -E2BIG;
}

int kvm_vm_create(struct kvm *kvm, struct kvm_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	int fd = XIOCTL(kvm, kvm->fd, KVM_CREATE_VM, 0);
	vm->fd = fd < 0 ? -1 : fd;
	if (fd < 0)
		vm->failed_ioctl = kvm->failed_ioctl;
	return fd < 0 ? fd : 0;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	if (vm)
		fd_close(&vm->fd);
}

int kvm_vm_set_user_memory(struct kvm_vm *vm, uint32_t slot, gpa_t gpa, uint64_t size, void *host,
			   bool readonly)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa_val(gpa),
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return XIOCTL(vm, vm->fd, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r);
}

int kvm_vm_set_tss_addr(struct kvm_vm *vm, uint64_t addr)
{
	return XIOCTL(vm, vm->fd, KVM_SET_TSS_ADDR, (unsigned long)addr);
}

int kvm_vm_set_identity_map_addr(struct kvm_vm *vm, uint64_t addr)
{
	return XIOCTL(vm, vm->fd, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&addr);
}

int kvm_vm_create_irqchip(struct kvm_vm *vm) { return XIOCTL(vm, vm->fd, KVM_CREATE_IRQCHIP, 0); }

int kvm_vm_create_pit2(struct kvm_vm *vm)
{
	/* The dummy speaker port keeps port 0x61 in the kernel too. */
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };
	return XIOCTL(vm, vm->fd, KVM_CREATE_PIT2, (unsigned long)&cfg);
}

int kvm_vm_irqfd(struct kvm_vm *vm, int fd, uint32_t gsi)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi };
	return XIOCTL(vm, vm->fd, KVM_IRQFD, (unsigned long)&i);
}

int kvm_vm_irqfd_remove(struct kvm_vm *vm, int fd, uint32_t gsi)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
	return XIOCTL(vm, vm->fd, KVM_IRQFD, (unsigned long)&i);
}

int kvm_vm_irq_line(struct kvm_vm *vm, uint32_t irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level ? 1 : 0 };
	return XIOCTL(vm, vm->fd, KVM_IRQ_LINE, (unsigned long)&l);
}

int kvm_vm_ioeventfd(struct kvm_vm *vm, int fd, uint64_t addr, uint32_t len, bool pio, bool assign)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	struct kvm_ioeventfd e = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	return XIOCTL(vm, vm->fd, KVM_IOEVENTFD, (unsigned long)&e);
}

int kvm_vm_signal_msi(struct kvm_vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data };
	return XIOCTL(vm, vm->fd, KVM_SIGNAL_MSI, (unsigned long)&m);
}

int kvm_vm_set_gsi_routing(struct kvm_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t n)
{
	if (n > 4096)
		return -E2BIG;
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + n * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	r->nr = n;
	memcpy(r->entries, entries, n * sizeof(r->entries[0]));
	int ret = XIOCTL(vm, vm->fd, KVM_SET_GSI_ROUTING, (unsigned long)r);
	free(r);
	return ret;
}

uint32_t kvm_default_x86_routing(struct kvm_irq_routing_entry *e, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		/* On the PICs, line 2 is the cascade to the slave, so GSI 2
		 * reaches only IOAPIC pin 2. The PIT raises GSI 0, wired to
		 * IOAPIC pin 0 (the ACPI/MP tables declare no IRQ0 override). */
		if (gsi < 16 && gsi != 2 && n < max)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
		if (n < max)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
			};
	}
	return n;
}

int kvm_vcpu_create(struct kvm *kvm, struct kvm_vm *vm, uint32_t id, struct kvm_vcpu *vcpu)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->id = id;
	int fd = XIOCTL(vm, vm->fd, KVM_CREATE_VCPU, id);
	if (fd < 0) {
		vcpu->fd = -1;
		vcpu->failed_ioctl = vm->failed_ioctl;
		return fd;
	}
	vcpu->fd = fd;
	void *p = mmap(NULL, kvm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		vcpu->failed_ioctl = "mmap(kvm_run)";
		fd_close(&vcpu->fd);
		return err;
	}
	vcpu->run = p;
	vcpu->run_size = kvm->vcpu_mmap_size;
	return 0;
}

void kvm_vcpu_destroy(struct kvm_vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	fd_close(&vcpu->fd);
}

int kvm_vcpu_run(struct kvm_vcpu *v) { return XIOCTL(v, v->fd, KVM_RUN, 0); }
int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct kvm_regs *r) { return XIOCTL(v, v->fd, KVM_GET_REGS, (unsigned long)r); }
int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct kvm_regs *r) { return XIOCTL(v, v->fd, KVM_SET_REGS, (unsigned long)r); }
int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct kvm_sregs *s) { return XIOCTL(v, v->fd, KVM_GET_SREGS, (unsigned long)s); }
int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct kvm_sregs *s) { return XIOCTL(v, v->fd, KVM_SET_SREGS, (unsigned long)s); }
int kvm_vcpu_set_fpu(struct kvm_vcpu *v, const struct kvm_fpu *f) { return XIOCTL(v, v->fd, KVM_SET_FPU, (unsigned long)f); }
int kvm_vcpu_set_cpuid2(struct kvm_vcpu *v, const struct kvm_cpuid2 *c) { return XIOCTL(v, v->fd, KVM_SET_CPUID2, (unsigned long)c); }
int kvm_vcpu_get_lapic(struct kvm_vcpu *v, struct kvm_lapic_state *l) { return XIOCTL(v, v->fd, KVM_GET_LAPIC, (unsigned long)l); }
int kvm_vcpu_set_lapic(struct kvm_vcpu *v, const struct kvm_lapic_state *l) { return XIOCTL(v, v->fd, KVM_SET_LAPIC, (unsigned long)l); }
int kvm_vcpu_get_mp_state(struct kvm_vcpu *v, struct kvm_mp_state *m) { return XIOCTL(v, v->fd, KVM_GET_MP_STATE, (unsigned long)m); }
int kvm_vcpu_set_mp_state(struct kvm_vcpu *v, const struct kvm_mp_state *m) { return XIOCTL(v, v->fd, KVM_SET_MP_STATE, (unsigned long)m); }
int kvm_vcpu_set_tsc_khz(struct kvm_vcpu *v, uint32_t khz) { return XIOCTL(v, v->fd, KVM_SET_TSC_KHZ, khz); }

int kvm_vcpu_kvmclock_ctrl(struct kvm_vcpu *v) { return XIOCTL(v, v->fd, KVM_KVMCLOCK_CTRL, 0); }

int kvm_vcpu_set_msrs(struct kvm_vcpu *v, const struct kvm_msr_entry *msrs, uint32_t n)
{
	if (n > 256)
		return -E2BIG;
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	memcpy(m->entries, msrs, n * sizeof(m->entries[0]));
	int r = XIOCTL(v, v->fd, KVM_SET_MSRS, (unsigned long)m);
	free(m);
	if (r >= 0 && (uint32_t)r != n) {
		v->failed_ioctl = "KVM_SET_MSRS";
		return -EIO;
	}
	return r < 0 ? r : 0;
}

const char *kvm_exit_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",	      [KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",		      [KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",	      [KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",	      [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",     [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",	      [KVM_EXIT_SET_TPR] = "SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	};
	if (reason < ARRAY_SIZE(names) && names[reason])
		return names[reason];
	return "other";
}
