/*
 * A PCI configuration space image with per-bit write masks, shared by every
 * PCI device model (the host bridge here, virtio-pci devices later).
 *
 * The device builds its header once (pci_config_init), registers its BARs
 * and capabilities, then forwards the guest's config reads and writes to
 * pci_config_read / pci_config_write. Those apply the masks, so read-only
 * fields stay read-only, status bits are write-1-to-clear, and the BAR
 * sizing protocol (write all-ones, read back the size mask) works with no
 * device code. The struct has no lock: the owning device serialises access.
 */
#ifndef CROSVM_DEVICES_PCI_PCI_CONFIG_H
#define CROSVM_DEVICES_PCI_PCI_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"

#define PCI_CONFIG_SIZE 256    /* conventional */
#define PCIE_CONFIG_SIZE 4096  /* with PCIe extended space */
#define PCI_NUM_BARS 6

/* Type 0 header offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a /* subclass at 0x0a, base class at 0x0b */
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_START 0x40

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010

#define PCI_HEADER_TYPE_NORMAL 0x00
#define PCI_HEADER_TYPE_MULTIFUNCTION 0x80

#define PCI_BAR_SPACE_IO 0x01
#define PCI_BAR_MEM_TYPE_64 0x04
#define PCI_BAR_MEM_PREFETCH 0x08

enum pci_bar_type {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,    /* I/O ports; size 4..256 */
	PCI_BAR_MEM32, /* 32-bit memory; size 16 bytes..2 GiB */
	PCI_BAR_MEM64, /* 64-bit memory, occupies this BAR and the next */
};

struct pci_bar_info {
	enum pci_bar_type type; /* PCI_BAR_NONE also for the upper half of a MEM64 */
	uint64_t size;
	bool prefetchable;
};

/* What the header builder needs to know; see the PCI code and ID
 * assignment specification for class codes. */
struct pci_header {
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_id;
	uint8_t revision_id;
	uint8_t class_code, subclass, prog_if;
	uint8_t header_type;   /* PCI_HEADER_TYPE_NORMAL, optionally | MULTIFUNCTION */
	uint8_t interrupt_pin; /* 0 = none, 1..4 = INTA#..INTD# */
};

struct pci_config {
	uint32_t size;	   /* PCI_CONFIG_SIZE or PCIE_CONFIG_SIZE */
	uint8_t last_cap;  /* offset of the last capability, 0 = none */
	uint8_t next_free; /* where the next capability may go */
	struct pci_bar_info bars[PCI_NUM_BARS];
	uint8_t data[PCIE_CONFIG_SIZE];
	uint8_t wmask[PCIE_CONFIG_SIZE]; /* 1 = guest may write the bit */
	uint8_t w1c[PCIE_CONFIG_SIZE];	 /* 1 = guest writing 1 clears the bit */
};

/* Builds a type 0 header: IDs, class, command/status/cache-line/interrupt
 * line writable as the spec allows, everything else read-only and zero.
 * pcie_extended selects a 4096-byte space (else 256). Returns 0, or
 * -EINVAL for a header type other than normal or an interrupt pin > 4. */
int pci_config_init(struct pci_config *cfg, const struct pci_header *hdr,
		    bool pcie_extended) MUST_USE;

/* Registers BAR idx (0..5). size must be a power of two within the type's
 * range; a MEM64 BAR also takes idx+1. Returns 0, -EINVAL (bad index,
 * type or size) or -EBUSY (slot already used). */
int pci_config_add_bar(struct pci_config *cfg, unsigned idx, enum pci_bar_type type,
		       uint64_t size, bool prefetchable) MUST_USE;
/* The address the guest programmed into BAR idx (flag bits removed; both
 * halves for MEM64), or 0 for an unused BAR. */
uint64_t pci_config_bar_addr(const struct pci_config *cfg, unsigned idx);
/* The registered size of BAR idx, or 0 for an unused BAR. */
uint64_t pci_config_bar_size(const struct pci_config *cfg, unsigned idx);

/* Appends a capability to the list at a dword-aligned offset >= 0x40 in
 * the first 256 bytes: cap_id, next pointer (maintained here), then
 * body_len bytes of body. body_wmask (nullable = all read-only) says which
 * body bits the guest may write. Returns the capability's offset, or
 * -ENOSPC when it does not fit. */
int pci_config_add_capability(struct pci_config *cfg, uint8_t cap_id, const uint8_t *body,
			      const uint8_t *body_wmask, uint8_t body_len) MUST_USE;

/* Guest accesses. Bytes outside the space read as 0 / are dropped. len is
 * any size; the caller passes what the guest did (1, 2 or 4 bytes). */
void pci_config_read(const struct pci_config *cfg, uint32_t reg, uint8_t *data, uint32_t len);
/* Returns a mask saying what the write touched, so the device can react
 * (move a BAR window, enable decoding): bit n = BAR n's register(s)
 * (the upper half of a MEM64 BAR reports its lower index), and
 * PCI_CONFIG_TOUCHED_COMMAND for the command register. */
#define PCI_CONFIG_TOUCHED_COMMAND (1u << 6)
uint32_t pci_config_write(struct pci_config *cfg, uint32_t reg, const uint8_t *data, uint32_t len);

/* Device-side raw access, ignoring the masks (little-endian; out-of-range
 * reads return 0 and writes are dropped). */
uint8_t pci_config_get_u8(const struct pci_config *cfg, uint32_t reg);
uint16_t pci_config_get_u16(const struct pci_config *cfg, uint32_t reg);
uint32_t pci_config_get_u32(const struct pci_config *cfg, uint32_t reg);
void pci_config_set_u8(struct pci_config *cfg, uint32_t reg, uint8_t v);
void pci_config_set_u16(struct pci_config *cfg, uint32_t reg, uint16_t v);
void pci_config_set_u32(struct pci_config *cfg, uint32_t reg, uint32_t v);
/* Sets the guest write mask / write-1-to-clear mask of len bytes at reg
 * (for device-specific registers). Out-of-range bytes are ignored. A bit
 * should be in at most one of the two masks; if in both, clearing wins. */
void pci_config_set_wmask(struct pci_config *cfg, uint32_t reg, uint32_t len, uint8_t mask);
void pci_config_set_w1c(struct pci_config *cfg, uint32_t reg, uint32_t len, uint8_t mask);

#endif
