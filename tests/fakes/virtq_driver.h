/*
 * A mock virtio driver for tests: it lays out a split virtqueue in guest
 * memory and plays the guest's part, as Linux's virtio_ring would, so that
 * device-side code (vq_pop, devices) can be driven from a unit test.
 *
 * Normal use: vqd_init() a queue, vqd_config() the virtq_config a device
 * gets, vqd_add() chains of (gpa, len, writable) buffers (or
 * vqd_add_indirect() through an indirect table), vqd_publish() them, let
 * the device run, then vqd_get_used() the completions. Descriptors come
 * from a free list and return to it when their chain is used.
 *
 * Malformed rings for negative tests: vqd_write_desc() writes any
 * descriptor, vqd_put_head() puts any head into the available ring and
 * vqd_set_avail_idx() writes any avail->idx; these bypass the free list.
 *
 * Not thread-safe; one test thread plays the driver.
 */
#ifndef CROSVM_TESTS_FAKES_VIRTQ_DRIVER_H
#define CROSVM_TESTS_FAKES_VIRTQ_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "virtio/core/virtq.h"
#include "vm_memory/vm_memory.h"

/* One buffer of a chain as the driver describes it. */
struct vqd_buf {
	gpa_t addr;
	uint32_t len;
	bool writable;
};

struct virtq_driver {
	const struct guest_memory *gm; /* borrowed */
	uint16_t size;
	gpa_t desc, avail, used;
	uint16_t avail_idx;  /* avail->idx including added, unpublished heads */
	uint16_t published;  /* avail->idx as last published */
	uint16_t last_used;  /* next used ring entry to read */
	uint16_t start;	     /* where both indices started (vqd_start_at) */
	uint16_t free_head;  /* first free descriptor */
	uint16_t num_free;
	uint16_t *next;	     /* owned: size entries, free-list and chain links */
	uint16_t *chain_len; /* owned: size entries, descriptors per in-flight head */
};

/* Bytes the three rings of a queue of `size` take from vqd_init's base
 * (descriptor table, then available ring, then the used ring 4-aligned). */
uint64_t vqd_layout_bytes(uint16_t size);

/* Lays the queue out at base (16-aligned) and zeroes its rings. size must be
 * a power of two <= VIRTQ_MAX_SIZE. Returns 0, -EINVAL, -EFAULT (rings not
 * in guest memory) or -ENOMEM. */
int vqd_init(struct virtq_driver *d, const struct guest_memory *gm, gpa_t base, uint16_t size);
/* Frees the host-side state. Accepts NULL and a zeroed struct. */
void vqd_destroy(struct virtq_driver *d);

/* Makes a fresh queue start with avail->idx = used->idx = idx instead of 0,
 * as after a vhost-user SET_VRING_BASE, e.g. to test index wrap-around. */
void vqd_start_at(struct virtq_driver *d, uint16_t idx);

/* The config a transport would hand the device for this queue; event_idx
 * and indirect are what the test wants negotiated. next_avail/next_used
 * are where the queue started (0, or vqd_start_at's idx). */
struct virtq_config vqd_config(const struct virtq_driver *d, bool event_idx, bool indirect);

/* Adds a chain of n >= 1 direct descriptors (NEXT-linked, WRITE where
 * writable) and puts its head in the available ring, unpublished. Returns
 * the head, or -ENOSPC (not enough free descriptors), -EINVAL, -EFAULT. */
int vqd_add(struct virtq_driver *d, const struct vqd_buf *bufs, size_t n);
/* Same through an indirect table written at `table` (16-aligned, n * 16
 * bytes, owned by the test): one direct descriptor with
 * VIRTQ_DESC_F_INDIRECT. Returns the head or -errno. */
int vqd_add_indirect(struct virtq_driver *d, gpa_t table, const struct vqd_buf *bufs, size_t n);
/* Makes everything added so far visible: avail->idx with a release store.
 * Returns the new avail->idx. */
uint16_t vqd_publish(struct virtq_driver *d);

/* Takes the next used element: 1 with *id and *len set (its descriptors are
 * freed if it was added through vqd_add*), 0 if none. */
int vqd_get_used(struct virtq_driver *d, uint16_t *id, uint32_t *len);
/* used->idx as the device last published it. */
uint16_t vqd_used_idx(const struct virtq_driver *d);

/* Notification state as the driver sees it. */
void vqd_set_avail_flags(struct virtq_driver *d, uint16_t flags); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
void vqd_set_used_event(struct virtq_driver *d, uint16_t v);
uint16_t vqd_used_flags(const struct virtq_driver *d); /* VIRTQ_USED_F_NO_NOTIFY */
uint16_t vqd_avail_event(const struct virtq_driver *d);
/* Whether the driver must kick after publishing from old_idx to the
 * current avail->idx (2.7.10: flags, or avail_event with event-idx). */
bool vqd_kick_needed(const struct virtq_driver *d, bool event_idx, uint16_t old_idx);

/* Raw access for malformed rings; no free-list bookkeeping. */
int vqd_write_desc(struct virtq_driver *d, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Writes entry j of an indirect table at table. */
int vqd_write_table_desc(const struct guest_memory *gm, gpa_t table, uint32_t j, uint64_t addr, uint32_t len,
			 uint16_t flags, uint16_t next);
/* Puts head (any value) into the next available ring slot, unpublished. */
void vqd_put_head(struct virtq_driver *d, uint16_t head);
/* Writes avail->idx as is (release store), e.g. to move it by more than size. */
void vqd_set_avail_idx(struct virtq_driver *d, uint16_t idx);

#endif
