/*
 * The MSI-X capability, vector table and pending-bit array of one PCI
 * function (PCI Local Bus 3.0, 6.8.2). This is the register model only: the
 * owning device decides what a vector change means (re-route an interrupt,
 * deliver a pending one). Accesses are serialised by the owner's lock.
 */
#ifndef CROSVM_DEVICES_PCI_MSIX_H
#define CROSVM_DEVICES_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/pci/pci_config.h"

#define PCI_CAP_ID_MSIX 0x11
#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FUNC_MASK 0x4000
#define MSIX_VECTOR_CTRL_MASK 0x1

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, vector_ctrl;
};

struct msix {
	uint16_t nr_vectors;
	uint8_t cap_off; /* capability offset in config space */
	bool enabled, func_masked;
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pending; /* PBA: bit v = vector v pending */
};

/* Adds the capability to cfg: nr_vectors (1..MSIX_MAX_VECTORS) with the
 * table at table_off and the PBA at pba_off of BAR `bar`. Every vector
 * starts masked, MSI-X disabled. Returns 0 or -EINVAL / -ENOSPC. */
int msix_init(struct msix *m, struct pci_config *cfg, uint16_t nr_vectors, uint8_t bar, uint32_t table_off,
	      uint32_t pba_off) MUST_USE;
/* Re-reads Enable and Function Mask after a config write. Returns true if
 * either changed. */
bool msix_update_control(struct msix *m, const struct pci_config *cfg);
/* Table and PBA accesses at an offset inside each structure. Only aligned
 * 4- and 8-byte accesses do anything (the spec allows no others); others
 * read as zero / are dropped. A table write returns the vector it changed,
 * or -1. The PBA is read-only. */
void msix_table_read(const struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
int msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len);
void msix_pba_read(const struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
/* Whether vector v may be delivered now (enabled, not function-masked,
 * not masked itself). */
bool msix_vector_deliverable(const struct msix *m, uint16_t v);
/* The message of vector v. */
void msix_vector_message(const struct msix *m, uint16_t v, uint64_t *addr, uint32_t *data);
/* Table bytes the table and PBA occupy. */
static inline uint32_t msix_table_size(uint16_t nr) { return (uint32_t)nr * MSIX_ENTRY_SIZE; }
static inline uint32_t msix_pba_size(uint16_t nr) { return ((uint32_t)nr + 63) / 64 * 8; }

#endif
