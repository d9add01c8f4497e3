/*
 * The virtio devices of a VM: which ones the configuration asks for, where
 * they sit on the PCI bus, and the glue that gives the virtio-pci transport
 * what it needs from KVM (ioeventfds, MSI routes, irqfds, the INTx line).
 *
 * Every device gets BAR 0 from the 32-bit PCI hole, MSI GSIs above the
 * IOAPIC's pins, and an ISA IRQ for INTx (used only by a guest without
 * MSI-X, e.g. booted with pci=nomsi). The INTx line of an IRQ shared by
 * several devices stays up while any of them holds it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "cli/vm.h"
#include "disk/disk.h"
#include "virtio/block/block.h"
#include "virtio/rng/rng.h"
#include "virtio/transport/virtio_pci.h"

/* ISA IRQs no legacy device uses, for INTx. */
static const uint8_t intx_irqs[] = { 5, 7, 10, 11, 14, 15 };

static int host_ioeventfd(void *ctx, uint64_t addr, int fd, bool assign)
{
	struct vm *vm = ctx;
	return kvm_vm_ioeventfd(&vm->kvm_vm, fd, addr, 2, false, assign);
}

static int host_alloc_gsi(void *ctx, uint32_t *gsi)
{
	struct vm *vm = ctx;
	return gsi_allocator_alloc(&vm->msi_gsis, gsi);
}

static int host_msi_route_set(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;
	return kvm_irq_routes_set_msi(&vm->irq_routes, gsi, addr, data);
}

static int host_msi_route_clear(void *ctx, uint32_t gsi)
{
	struct vm *vm = ctx;
	return kvm_irq_routes_clear_msi(&vm->irq_routes, gsi);
}

static int host_irqfd(void *ctx, int fd, uint32_t gsi, bool assign)
{
	struct vm *vm = ctx;
	return assign ? kvm_vm_irqfd(&vm->kvm_vm, fd, gsi) : kvm_vm_irqfd_remove(&vm->kvm_vm, fd, gsi);
}

static int host_intx(void *ctx, uint32_t irq, bool level)
{
	struct vm *vm = ctx;
	if (irq >= ARRAY_SIZE(vm->intx_asserted))
		return -EINVAL;
	pthread_mutex_lock(&vm->intx_lock);
	uint32_t *n = &vm->intx_asserted[irq];
	uint32_t before = *n;
	if (level)
		(*n)++;
	else if (*n > 0)
		(*n)--;
	int r = 0;
	if ((before == 0) != (*n == 0))
		r = kvm_vm_irq_line(&vm->kvm_vm, irq, *n > 0);
	pthread_mutex_unlock(&vm->intx_lock);
	return r < 0 ? r : 0;
}

static const struct virtio_pci_host_ops host_ops = {
	.ioeventfd = host_ioeventfd,
	.alloc_gsi = host_alloc_gsi,
	.msi_route_set = host_msi_route_set,
	.msi_route_clear = host_msi_route_clear,
	.irqfd = host_irqfd,
	.intx = host_intx,
};

/* Puts vdev (owned; freed on failure too) on the next PCI slot. */
static int add_device(struct vm *vm, struct virtio_device vdev, char *err, size_t errlen)
{
	const char *name = vdev.ops->name;
	if (vm->nr_virtio >= MAX_VIRTIO_DEVICES) {
		vdev.ops->destroy(vdev.dev);
		snprintf(err, errlen, "too many virtio devices (at most %d)", MAX_VIRTIO_DEVICES);
		return -ENOSPC;
	}
	uint64_t bar;
	int r = addr_allocator_alloc(&vm->mmio32, VIRTIO_PCI_BAR_SIZE, VIRTIO_PCI_BAR_SIZE, &bar);
	if (r < 0) {
		vdev.ops->destroy(vdev.dev);
		snprintf(err, errlen, "virtio %s: no room for its BAR in the PCI window", name);
		return r;
	}
	struct virtio_pci_host host = {
		.ops = &host_ops,
		.ctx = vm,
		.mmio_bus = &vm->mmio_bus,
		.gm = &vm->gm,
	};
	uint8_t slot = (uint8_t)(vm->nr_virtio + 1);
	uint8_t irq = intx_irqs[vm->nr_virtio % ARRAY_SIZE(intx_irqs)];
	struct virtio_pci *vp;
	if ((r = virtio_pci_create(&vp, vdev, &host, bar, irq)) < 0) {
		snprintf(err, errlen, "virtio %s: cannot create its PCI function: %s", name, strerror(-r));
		return r;
	}
	if ((r = pci_root_add_device(&vm->pci, slot, &virtio_pci_config_ops, vp)) < 0) {
		virtio_pci_destroy(vp);
		snprintf(err, errlen, "virtio %s: cannot plug into PCI slot %u: %s", name, slot, strerror(-r));
		return r;
	}
	vm->virtio[vm->nr_virtio++] = vp;
	return 0;
}

static int add_disk(struct vm *vm, const struct disk_config *dc, char *err, size_t errlen)
{
	uint32_t flags = (dc->read_only ? DISK_F_READ_ONLY : 0) | (dc->o_direct ? DISK_F_O_DIRECT : 0) |
			 (dc->sparse ? DISK_F_SPARSE : 0);
	struct disk *disk;
	int r = disk_open(dc->path, flags, &disk);
	if (r == -EAGAIN) {
		snprintf(err, errlen, "disk image '%s' is locked by another process", dc->path);
		return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot open disk image '%s': %s", dc->path, strerror(-r));
		return r;
	}
	struct virtio_blk_options o = {
		.read_only = dc->read_only,
		.sparse = dc->sparse,
		.block_size = dc->block_size,
	};
	memcpy(o.id, dc->id, sizeof(o.id));
	struct virtio_device d;
	if ((r = virtio_blk_create(disk, &o, &d)) < 0) {
		snprintf(err, errlen, "disk image '%s': %s", dc->path, strerror(-r));
		return r;
	}
	return add_device(vm, d, err, errlen);
}

int virtio_devices_init(struct vm *vm, char *err, size_t errlen)
{
	int r;
	addr_allocator_init(&vm->mmio32, X86_PCI_MMIO32_START, X86_PCI_MMIO32_END);
	gsi_allocator_init(&vm->msi_gsis, X86_IOAPIC_PINS, KVM_IRQ_ROUTES_MAX);

	struct virtio_device d;
	/* Like crosvm, every VM gets an entropy source. */
	if ((r = virtio_rng_create(&d)) < 0) {
		snprintf(err, errlen, "virtio rng: %s", strerror(-r));
		return r;
	}
	if ((r = add_device(vm, d, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < vm->cfg->nr_disks; i++)
		if ((r = add_disk(vm, &vm->cfg->disks[i], err, errlen)) < 0)
			return r;
	return 0;
}

void virtio_devices_destroy(struct vm *vm)
{
	while (vm->nr_virtio > 0) {
		vm->nr_virtio--;
		virtio_pci_destroy(vm->virtio[vm->nr_virtio]);
		vm->virtio[vm->nr_virtio] = NULL;
	}
}
