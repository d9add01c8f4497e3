/*
 * An address bus (I/O ports or MMIO) that routes vCPU accesses to devices.
 *
 * Devices register a [base, base+len) window with an ops table; the bus
 * refuses overlapping windows. Lookups are by binary search under a
 * read lock, so many vCPUs can dispatch at once; each device serialises its
 * own state. The bus passes the offset inside the window, never the
 * absolute address, so a device can be placed anywhere.
 */
#ifndef CROSVM_DEVICES_BUS_H
#define CROSVM_DEVICES_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

struct bus_device_ops {
	/* Fill data[0..len) for a read at `offset` in the device window.
	 * len is 1..8. Must not fail: unknown registers read as the device
	 * chooses (usually zero). */
	void (*read)(void *dev, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *dev, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_entry {
	uint64_t base;
	uint64_t len;
	const struct bus_device_ops *ops; /* borrowed, static */
	void *dev;			  /* borrowed: the device outlives the bus */
	const char *name;		  /* borrowed, static string */
};

struct bus {
	pthread_rwlock_t lock;
	struct bus_entry *entries; /* owned; sorted by base */
	size_t nr, cap;
};

int bus_init(struct bus *bus) MUST_USE;
void bus_destroy(struct bus *bus);
/* Returns 0, -EINVAL for an empty or wrapping window, -EEXIST if it
 * overlaps a registered one, -ENOMEM. */
int bus_insert(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
	       void *dev, const char *name) MUST_USE;
/* Removes the window starting at base. Returns 0 or -ENOENT. */
int bus_remove(struct bus *bus, uint64_t base);
/* Dispatch an access. Return false when no device claims the whole access
 * (the caller then reads all-ones / drops the write). An access must fit
 * inside one window. */
bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
