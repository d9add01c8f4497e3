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
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "cli/vm.h"
#include "base/fd.h"
#include "disk/disk.h"
#include "net/net.h"
#include "virtio/balloon/balloon.h"
#include "virtio/block/block.h"
#include "virtio/console/console.h"
#include "virtio/net/net.h"
#include "virtio/rng/rng.h"
#include "virtio/vsock/vsock.h"
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

/* The fd table before a device is made: what it opens is what its
 * process keeps (device_sandbox.c). */
static int snapshot(struct fd_snapshot *s, char *err, size_t errlen)
{
	int r = fd_snapshot_take(s);
	if (r < 0)
		snprintf(err, errlen, "cannot list this process's fds: %s", strerror(-r));
	return r;
}

/* Puts vdev (owned; freed on failure too) on the next PCI slot; first into
 * its own process when the VM is sandboxed and `before` (the fd table from
 * before the device was made) is given. With ctl, says where its control
 * requests go (device_control.c). */
static int add_device(struct vm *vm, struct virtio_device vdev, const struct fd_snapshot *before,
		      struct device_ctl *ctl, char *err, size_t errlen)
{
	const char *name = vdev.ops->name;
	int r, ctl_fd = -1;
	void *ctl_dev = NULL;
	if (before && device_sandbox_wanted(vm, &vdev)) {
		if ((r = device_sandbox_move(vm, &vdev, before, &ctl_fd, err, errlen)) < 0)
			return r;
	} else {
		(void)device_control_handlers(&vdev, &ctl_dev);
	}
	if (ctl)
		*ctl = (struct device_ctl){ .dev = ctl_dev, .fd = ctl_fd };
	if (vm->nr_virtio >= MAX_VIRTIO_DEVICES) {
		vdev.ops->destroy(vdev.dev);
		snprintf(err, errlen, "too many virtio devices (at most %d)", MAX_VIRTIO_DEVICES);
		return -ENOSPC;
	}
	uint64_t bar;
	r = addr_allocator_alloc(&vm->mmio32, VIRTIO_PCI_BAR_SIZE, VIRTIO_PCI_BAR_SIZE, &bar);
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
	struct fd_snapshot before;
	int r = snapshot(&before, err, errlen);
	if (r < 0)
		return r;
	struct disk *disk;
	r = disk_open(dc->path, flags, &disk);
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
	if ((r = add_device(vm, d, &before, &vm->disks[vm->nr_disks], err, errlen)) < 0)
		return r;
	vm->disk_read_only[vm->nr_disks++] = dc->read_only;
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fd_close(&fds[i]);
}

/* A NIC over queue fds (owned; closed on failure too). */
static int add_nic(struct vm *vm, int *fds, unsigned pairs, const char *what, const struct fd_snapshot *before,
		   char *err, size_t errlen)
{
	struct virtio_net_options o = { .nr_pairs = pairs };
	struct virtio_device d;
	int r = virtio_net_create(fds, &o, &d);
	if (r < 0) {
		snprintf(err, errlen, "virtio net on %s: %s", what, strerror(-r));
		return r;
	}
	return add_device(vm, d, before, NULL, err, errlen);
}

/* --host_ip/--netmask/--mac: a new TAP, configured on the host side the
 * way crosvm does it (the MAC is the TAP's own; the guest picks its own). */
static int add_created_tap(struct vm *vm, char *err, size_t errlen)
{
	const struct net_config *n = &vm->cfg->net;
	int fds[TAP_MAX_QUEUES];
	char ifname[IFNAMSIZ];
	struct fd_snapshot before;
	int r = snapshot(&before, err, errlen);
	if (r < 0)
		return r;
	r = tap_open(NULL, n->vq_pairs, fds, ifname);
	if (r < 0) {
		snprintf(err, errlen, "cannot create a TAP device: %s%s", strerror(-r),
			 r == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		return r;
	}
	/* In this order: an address first (it resets the netmask), the MAC
	 * before the link comes up. */
	const char *step = "configure it";
	if ((r = tap_set_ipv4_addr(ifname, (struct in_addr){ n->host_ip })) < 0)
		step = "set its address";
	else if ((r = tap_set_netmask(ifname, (struct in_addr){ n->netmask })) < 0)
		step = "set its netmask";
	else if ((r = tap_set_mac(ifname, n->mac)) < 0)
		step = "set its MAC";
	else if ((r = tap_set_up(ifname)) < 0)
		step = "bring it up";
	if (r < 0) {
		snprintf(err, errlen, "TAP %s: cannot %s: %s", ifname, step, strerror(-r));
		close_fds(fds, n->vq_pairs);
		return r;
	}
	return add_nic(vm, fds, n->vq_pairs, ifname, &before, err, errlen);
}

/* --tap-fd FD: the fd stays crosvm's parent's; the device gets duplicates
 * (and more queues of the same TAP for --net-vq-pairs). */
static int add_tap_fd(struct vm *vm, int tap_fd, char *err, size_t errlen)
{
	unsigned pairs = vm->cfg->net.vq_pairs;
	struct tap_info info;
	struct fd_snapshot before;
	int r = snapshot(&before, err, errlen);
	if (r < 0)
		return r;
	r = tap_from_fd(tap_fd, &info);
	if (r < 0) {
		snprintf(err, errlen, "--tap-fd %d: %s", tap_fd,
			 r == -ENOTTY ? "not a TAP device" : r == -EBADF ? "not an open read-write fd" : strerror(-r));
		return r;
	}
	if (!info.vnet_hdr) {
		snprintf(err, errlen, "--tap-fd %d: TAP %s was opened without IFF_VNET_HDR", tap_fd, info.ifname);
		return -EINVAL;
	}
	int fds[TAP_MAX_QUEUES];
	for (unsigned i = 0; i < pairs; i++)
		fds[i] = -1;
	if ((fds[0] = fcntl(tap_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		r = -errno;
		snprintf(err, errlen, "--tap-fd %d: %s", tap_fd, strerror(-r));
		return r;
	}
	if (pairs > 1 && (r = tap_add_queues(&info, pairs - 1, fds + 1)) < 0) {
		snprintf(err, errlen, "--tap-fd %d: cannot add %u queues to TAP %s: %s", tap_fd, pairs - 1,
			 info.ifname, r == -EINVAL ? "it is not multi-queue" : strerror(-r));
		close_fds(fds, 1);
		return r;
	}
	char what[64];
	snprintf(what, sizeof(what), "--tap-fd %d", tap_fd);
	return add_nic(vm, fds, pairs, what, &before, err, errlen);
}

static int add_console(struct vm *vm, const struct serial_config *c, char *err, size_t errlen)
{
	int in_fd, out_fd;
	struct fd_snapshot before;
	int r = snapshot(&before, err, errlen);
	if (r < 0)
		return r;
	r = virtio_console_open_fds(c, &in_fd, &out_fd, err, errlen);
	if (r < 0)
		return r;
	struct virtio_device d;
	if ((r = virtio_console_create(in_fd, out_fd, &d)) < 0) {
		snprintf(err, errlen, "virtio-console %u: %s", c->num, strerror(-r));
		return r;
	}
	return add_device(vm, d, &before, NULL, err, errlen);
}

/* --cid: vsock through the kernel's vhost-vsock, opened here so the device
 * itself never needs a path. */
static int add_vsock(struct vm *vm, char *err, size_t errlen)
{
	const char *path = vm->cfg->vhost_vsock_device;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "--cid: cannot open %s: %s%s", path, strerror(e),
			 e == ENOENT ? " (is the vhost_vsock module loaded?)" : "");
		return -e;
	}
	const char *ioctl_name = NULL;
	struct virtio_device d;
	int r = virtio_vsock_create(vm->cfg->cid, fd, &d, &ioctl_name);
	if (r < 0) {
		if (r == -EADDRINUSE)
			snprintf(err, errlen, "--cid %llu: another VM on this host already has that CID",
				 (unsigned long long)vm->cfg->cid);
		else
			snprintf(err, errlen, "virtio vsock on %s: %s%s%s", path, ioctl_name ? ioctl_name : "",
				 ioctl_name ? ": " : "", strerror(-r));
		return r;
	}
	return add_device(vm, d, NULL, NULL, err, errlen);
}

/* Like crosvm, every VM gets a balloon; the control socket drives it. */
static int add_balloon(struct vm *vm, char *err, size_t errlen)
{
	struct fd_snapshot before;
	int r = snapshot(&before, err, errlen);
	if (r < 0)
		return r;
	struct virtio_balloon_options o = { .deflate_on_oom = true, .stats = true };
	struct virtio_device d;
	if ((r = virtio_balloon_create(&o, &d)) < 0) {
		snprintf(err, errlen, "virtio balloon: %s", strerror(-r));
		return r;
	}
	return add_device(vm, d, &before, &vm->balloon, err, errlen);
}

int virtio_devices_init(struct vm *vm, char *err, size_t errlen)
{
	int r;
	vm->balloon = (struct device_ctl){ .fd = -1 };
	addr_allocator_init(&vm->mmio32, X86_PCI_MMIO32_START, X86_PCI_MMIO32_END);
	gsi_allocator_init(&vm->msi_gsis, X86_IOAPIC_PINS, KVM_IRQ_ROUTES_MAX);

	struct virtio_device d;
	struct fd_snapshot before;
	if ((r = snapshot(&before, err, errlen)) < 0)
		return r;
	/* Like crosvm, every VM gets an entropy source. */
	if ((r = virtio_rng_create(&d)) < 0) {
		snprintf(err, errlen, "virtio rng: %s", strerror(-r));
		return r;
	}
	if ((r = add_device(vm, d, &before, NULL, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < vm->cfg->nr_disks; i++)
		if ((r = add_disk(vm, &vm->cfg->disks[i], err, errlen)) < 0)
			return r;
	if (net_config_creates_tap(&vm->cfg->net) && (r = add_created_tap(vm, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < vm->cfg->net.nr_tap_fds; i++)
		if ((r = add_tap_fd(vm, vm->cfg->net.tap_fds[i], err, errlen)) < 0)
			return r;
	/* In num order: they become hvc0, hvc1, ... (serial_ports_cmdline). */
	for (int i = 0; i < SERIAL_PORTS; i++)
		if (vm->cfg->virtio_consoles[i].configured &&
		    (r = add_console(vm, &vm->cfg->virtio_consoles[i], err, errlen)) < 0)
			return r;
	if (vm->cfg->cid && (r = add_vsock(vm, err, errlen)) < 0)
		return r;
	return add_balloon(vm, err, errlen);
}

void virtio_devices_destroy(struct vm *vm)
{
	while (vm->nr_virtio > 0) {
		vm->nr_virtio--;
		virtio_pci_destroy(vm->virtio[vm->nr_virtio]);
		vm->virtio[vm->nr_virtio] = NULL;
	}
	vm->balloon = (struct device_ctl){ .fd = -1 };
	vm->nr_disks = 0;
	/* After the proxies, whose dead fds the list borrows. */
	device_sandbox_destroy_all(vm);
}
