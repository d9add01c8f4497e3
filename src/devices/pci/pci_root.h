/*
 * The PCI root complex: bus 0 with up to 32 device slots (function 0
 * only), reachable through the legacy configuration mechanism #1 (ports
 * 0xcf8..0xcff on x86: CONFIG_ADDRESS + CONFIG_DATA) and through PCIe
 * ECAM (MMIO, 4 KiB per function). The root itself is a host bridge at
 * 00:00.0. Reads of absent devices return all-ones.
 */
#ifndef CROSVM_DEVICES_PCI_PCI_ROOT_H
#define CROSVM_DEVICES_PCI_PCI_ROOT_H

#include <pthread.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/bus.h"
#include "devices/pci/pci_config.h"

#define PCI_ROOT_SLOTS 32
#define PCI_ROOT_IO_LEN 8 /* CONFIG_ADDRESS (4 ports) + CONFIG_DATA (4 ports) */
/* ECAM span for buses 0..255: 1 MiB per bus. */
#define PCI_ECAM_SIZE_FOR_BUSES(n) ((uint64_t)(n) << 20)

/* Host bridge identity: Red Hat's ID for a generic virtual PCIe host
 * bridge. A neutral ID keeps the guest from running chipset quirks meant
 * for a real Intel northbridge (Linux has quirks keyed on the 440FX and
 * Q35 IDs that poke chipset registers we do not have). */
#define PCI_HOST_BRIDGE_VENDOR_ID 0x1b36
#define PCI_HOST_BRIDGE_DEVICE_ID 0x0008

/* A device on the root. reg is a byte offset in the function's config
 * space (0..4095); len is 1, 2 or 4 and [reg, reg+len) never crosses a
 * dword boundary (the root splits anything else into bytes). config_read
 * must fill all len bytes. Both are called without any root lock held, from
 * vCPU threads: the device serialises its own state. */
struct pci_device_ops {
	void (*config_read)(void *dev, uint32_t reg, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t reg, const uint8_t *data, uint32_t len);
};

struct pci_root_slot {
	const struct pci_device_ops *ops; /* borrowed, static; NULL = empty */
	void *dev;			  /* borrowed: outlives the root */
};

struct pci_host_bridge {
	pthread_mutex_t lock;
	struct pci_config cfg;
};

struct pci_root {
	pthread_mutex_t lock; /* config_address, reset_control, slots */
	uint32_t config_address;
	uint8_t reset_control;
	int reset_evt; /* borrowed; -1 for none */
	struct pci_root_slot slots[PCI_ROOT_SLOTS];
	struct pci_host_bridge host_bridge; /* in slot 0 */
};

/* Initialises the root with its host bridge in slot 0. Returns 0 or
 * -errno. */
int pci_root_init(struct pci_root *root) MUST_USE;
/* Accepts NULL. Plugged devices are not touched (they are borrowed). */
void pci_root_destroy(struct pci_root *root);
/* Plugs dev into bus 0, device `slot` (0..31), function 0. ops and dev
 * are borrowed. Returns 0, -EINVAL (slot out of range or NULL ops) or
 * -EEXIST (slot taken; slot 0 is the host bridge). */
int pci_root_add_device(struct pci_root *root, uint8_t slot, const struct pci_device_ops *ops,
			void *dev) MUST_USE;
/* Optional (borrowed; -1 for none): signalled when the guest writes the
 * reset control register at port 0xcf9 (offset 1 of the I/O window) with
 * RST_CPU (bit 2) set, which Linux uses for reboot=pci. */
void pci_root_set_reset_evt(struct pci_root *root, int reset_evt);

/* Direct config-space access by bus/device/function, as both mechanisms
 * use internally; absent functions read all-ones and ignore writes. */
void pci_root_config_read(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn,
			  uint32_t reg, uint8_t *data, uint32_t len);
void pci_root_config_write(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn,
			   uint32_t reg, const uint8_t *data, uint32_t len);

/* dev is the struct pci_root for both. */
extern const struct bus_device_ops pci_root_io_ops;   /* PCI_ROOT_IO_LEN ports at 0xcf8 */
extern const struct bus_device_ops pci_root_ecam_ops; /* ECAM window, up to 256 MiB */

#endif
