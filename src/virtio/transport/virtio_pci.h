/*
 * The virtio-pci (modern, virtio 1.x) transport: puts a transport-agnostic
 * virtio device on the PCI bus.
 *
 * BAR 0 (64-bit memory) holds the common configuration, ISR, device
 * configuration and notification structures and the MSI-X table and PBA;
 * vendor capabilities point the driver at them. Queue notifications become
 * ioeventfds (KVM signals the device's kick eventfd without an exit) and
 * interrupts irqfds on MSI routes (the device's call eventfd raises the
 * guest interrupt without passing through this process). Where the driver
 * uses no MSI-X, or masks a vector, an interrupt thread of the transport
 * watches the call eventfds instead and drives the ISR and INTx line or the
 * pending bits.
 *
 * The transport reaches KVM only through the host operations it is given,
 * so it can be unit-tested with fakes.
 */
#ifndef CROSVM_VIRTIO_TRANSPORT_VIRTIO_PCI_H
#define CROSVM_VIRTIO_TRANSPORT_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/bus.h"
#include "devices/pci/pci_root.h"
#include "virtio/core/virtio.h"

/* BAR 0 layout. */
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x38
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_DEVICE_LEN 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x5000

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* What the transport needs from the VMM. Each returns 0 or -errno. */
struct virtio_pci_host_ops {
	/* Register / unregister fd for 2-byte guest writes at MMIO addr. */
	int (*ioeventfd)(void *ctx, uint64_t addr, int fd, bool assign);
	/* A GSI for an MSI route (called at creation, once per vector). */
	int (*alloc_gsi)(void *ctx, uint32_t *gsi);
	int (*msi_route_set)(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data);
	int (*msi_route_clear)(void *ctx, uint32_t gsi);
	/* Attach / detach eventfd fd as an irqfd of gsi. */
	int (*irqfd)(void *ctx, int fd, uint32_t gsi, bool assign);
	/* Drive the INTx line (an ISA IRQ number). */
	int (*intx)(void *ctx, uint32_t irq, bool level);
};

struct virtio_pci_host {
	const struct virtio_pci_host_ops *ops; /* borrowed, static */
	void *ctx;			       /* borrowed */
	struct bus *mmio_bus;		       /* borrowed: BAR 0 is mapped here */
	const struct guest_memory *gm;	       /* borrowed */
};

struct virtio_pci;

/* Wraps vdev (ownership moves to the transport, also on failure) in a PCI
 * function with BAR 0 pre-assigned at bar_addr (VIRTIO_PCI_BAR_SIZE
 * aligned) and INTx on `intx_irq`. The device is not reachable until
 * plugged into the PCI root with virtio_pci_config_ops. Returns 0 or
 * -errno. */
int virtio_pci_create(struct virtio_pci **out, struct virtio_device vdev, const struct virtio_pci_host *host,
		      uint64_t bar_addr, uint8_t intx_irq) MUST_USE;
/* Resets and frees the device, unmaps BAR 0, stops the interrupt thread.
 * Accepts NULL. */
void virtio_pci_destroy(struct virtio_pci *vp);

/* dev = the struct virtio_pci. */
extern const struct pci_device_ops virtio_pci_config_ops;

#endif
