/*
 * A virtio-pci host (virtio_pci_host_ops) for unit tests: every call
 * succeeds, GSIs are handed out from next_gsi, and the INTx line's level
 * is recorded for the test to read (under lock: the transport's interrupt
 * thread sets it).
 */
#ifndef CROSVM_TESTS_FAKES_FAKE_PCI_HOST_H
#define CROSVM_TESTS_FAKES_FAKE_PCI_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/transport/virtio_pci.h"

struct fake_pci_host {
	pthread_mutex_t lock;
	uint32_t next_gsi;
	bool intx;
};

/* The ops; their ctx is a struct fake_pci_host. */
extern const struct virtio_pci_host_ops fake_pci_host_ops;

/* The INTx level last set, read under the lock. */
bool fake_pci_host_intx(struct fake_pci_host *h);

#endif
