/*
 * The I/O-port and MMIO buses: a sorted array of device windows, searched
 * by binary search under a read lock so that all vCPU threads can dispatch
 * at once. Insertions and removals (set-up, PCI BAR moves) take the write
 * lock. A window is kept as [base, last] rather than [base, base+len) so a
 * window may end at the very top of the 64-bit space without overflowing.
 *
 * Dispatch copies the matching entry and releases the lock before calling
 * the device: a device's handler may itself move its windows (a BAR write
 * arriving through ECAM relocates an MMIO window on the same bus), which
 * would deadlock if the read lock were still held. The price is that an
 * access racing with bus_remove may still reach the device once; devices
 * outlive the bus (bus.h), so that access is harmless.
 */
#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"

/* Last address covered by an entry; never overflows (checked on insert). */
static uint64_t entry_last(const struct bus_entry *e)
{
	return e->base + (e->len - 1);
}

/* Index of the first entry whose base is greater than addr (0..nr). */
static size_t upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->entries[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_init(struct bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	int r = pthread_rwlock_init(&bus->lock, NULL);
	return r ? -r : 0;
}

void bus_destroy(struct bus *bus)
{
	if (!bus)
		return;
	free(bus->entries);
	bus->entries = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

static int grow(struct bus *bus)
{
	if (bus->nr < bus->cap)
		return 0;
	size_t cap = bus->cap ? bus->cap * 2 : 16;
	if (cap < bus->cap || cap > SIZE_MAX / sizeof(struct bus_entry))
		return -ENOMEM;
	struct bus_entry *e = realloc(bus->entries, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	bus->entries = e;
	bus->cap = cap;
	return 0;
}

int bus_insert(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
	       void *dev, const char *name)
{
	uint64_t last;
	if (len == 0 || !ops || !ck_add_u64(base, len - 1, &last))
		return -EINVAL;

	pthread_rwlock_wrlock(&bus->lock);
	int ret = 0;
	size_t pos = upper_bound(bus, base);
	/* Only the neighbours can overlap: the previous entry starts at or
	 * below base, the next one above it, and entries are disjoint. */
	if (pos > 0 && entry_last(&bus->entries[pos - 1]) >= base) {
		ret = -EEXIST;
		goto out;
	}
	if (pos < bus->nr && bus->entries[pos].base <= last) {
		ret = -EEXIST;
		goto out;
	}
	ret = grow(bus);
	if (ret < 0)
		goto out;
	memmove(&bus->entries[pos + 1], &bus->entries[pos],
		(bus->nr - pos) * sizeof(bus->entries[0]));
	bus->entries[pos] = (struct bus_entry){
		.base = base, .len = len, .ops = ops, .dev = dev, .name = name,
	};
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_remove(struct bus *bus, uint64_t base)
{
	pthread_rwlock_wrlock(&bus->lock);
	int ret = -ENOENT;
	size_t pos = upper_bound(bus, base);
	if (pos > 0 && bus->entries[pos - 1].base == base) {
		pos--;
		memmove(&bus->entries[pos], &bus->entries[pos + 1],
			(bus->nr - pos - 1) * sizeof(bus->entries[0]));
		bus->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

/* Finds the window holding all of [addr, addr+len) and copies it to *out.
 * Returns false when no single window covers the whole access. */
static bool lookup(struct bus *bus, uint64_t addr, uint32_t len, struct bus_entry *out)
{
	if (len == 0 || len > 8)
		return false;
	bool found = false;
	pthread_rwlock_rdlock(&bus->lock);
	size_t pos = upper_bound(bus, addr);
	if (pos > 0) {
		const struct bus_entry *e = &bus->entries[pos - 1];
		uint64_t off = addr - e->base; /* addr >= e->base here */
		/* off <= len-1 of the window, and the access's last byte
		 * (off + len - 1) must not pass the window's last byte. */
		if (off <= e->len - 1 && len - 1 <= (e->len - 1) - off) {
			*out = *e;
			found = true;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

bool bus_read(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct bus_entry e;
	if (!lookup(bus, addr, len, &e))
		return false;
	if (e.ops->read)
		e.ops->read(e.dev, addr - e.base, data, len);
	else
		memset(data, 0, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len)
{
	struct bus_entry e;
	if (!lookup(bus, addr, len, &e))
		return false;
	if (e.ops->write)
		e.ops->write(e.dev, addr - e.base, data, len);
	return true;
}
