/*
 * Split virtqueues (virtio 1.x, 2.7) as the device side sees them.
 *
 * The driver owns the descriptor table and the available ring and may change
 * them at any time, so everything read from them is copied once and checked
 * before use: a head below the queue size, at most `size` new entries since
 * the last pop, every descriptor index in range, chains no longer than the
 * queue (which also stops loops), indirect tables only where negotiated,
 * non-empty, a multiple of 16 bytes, not nested, and every buffer wholly
 * inside guest memory with length sums checked for overflow. A device sees
 * a chain only as a list of checked segments, read through a vq_reader (the
 * device-readable part) and written through a vq_writer (the
 * device-writable part).
 *
 * A struct virtq is used by one thread at a time (the device's worker).
 */
#ifndef CROSVM_VIRTIO_CORE_VIRTQ_H
#define CROSVM_VIRTIO_CORE_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/types.h"
#include "vm_memory/vm_memory.h"

#define VIRTQ_MAX_SIZE 32768
/* Longest chain a device accepts, direct and indirect descriptors counted
 * together (and never more than the queue size). */
#define VIRTQ_MAX_CHAIN 1024

/* Descriptor flags (2.7.5). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* used->flags / avail->flags. */
#define VIRTQ_USED_F_NO_NOTIFY 1
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* What the driver programmed for a queue: the same facts vhost-user's
 * SET_VRING_NUM/ADDR/BASE carry. */
struct virtq_config {
	uint16_t size; /* power of two, 1..VIRTQ_MAX_SIZE */
	gpa_t desc;    /* 16-byte aligned, 16 * size bytes */
	gpa_t avail;   /* 2-byte aligned, 6 + 2 * size bytes */
	gpa_t used;    /* 4-byte aligned, 6 + 8 * size bytes */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */
	uint16_t next_avail; /* where to start (0 after reset; vhost-user BASE) */
	uint16_t next_used;
};

struct virtq {
	const struct guest_memory *gm; /* borrowed */
	struct virtq_config cfg;
	uint16_t next_avail; /* next avail ring entry to consume */
	uint16_t next_used;  /* used->idx as we last published it */
	/* For event-idx suppression: used->idx at the last interrupt. */
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool broken; /* the driver broke the ring protocol; stop using it */
};

/* One checked guest buffer of a chain. */
struct vq_seg {
	gpa_t addr;
	uint32_t len;
};

/* A popped, validated chain: the device-readable segments first, then the
 * device-writable ones (a chain with a readable descriptor after a writable
 * one is refused, as 2.7.4.2 lets the device do). */
struct vq_chain {
	uint16_t head;
	uint16_t nr_readable, nr_writable;
	uint64_t readable_len, writable_len; /* byte totals */
	struct vq_seg segs[VIRTQ_MAX_CHAIN];
};

/* Checks cfg (size a power of two <= VIRTQ_MAX_SIZE, alignment, all three
 * rings inside guest memory) and initialises q. Returns 0 or -EINVAL. */
int vq_init(struct virtq *q, const struct guest_memory *gm, const struct virtq_config *cfg) MUST_USE;

/* Whether the driver has made chains available that were not popped yet.
 * False once the queue is broken. */
bool vq_has_avail(struct virtq *q);

/* Takes the next available chain.
 *   1        *chain holds a valid chain.
 *   0        nothing available.
 *   -EBADMSG the chain at chain->head is malformed; it is consumed: the
 *            device should complete it with vq_push(q, chain->head, 0) and
 *            go on (the request fails, the queue keeps working).
 *   -EIO     the ring itself is broken (avail index moved by more than the
 *            queue size, a head out of range, rings no longer in guest
 *            memory): q->broken is set, nothing more is popped; the device
 *            should signal its error_fd. */
int vq_pop(struct virtq *q, struct vq_chain *chain) MUST_USE;

/* Gives back the chain the last vq_pop returned (1), e.g. a receive
 * buffer when no packet is waiting, so the next vq_pop returns it again. */
static inline void vq_unpop(struct virtq *q) { q->next_avail--; }

/* Publishes `head` as used with `written` bytes written into its
 * device-writable part: the element first, then used->idx with release
 * ordering. Returns 0, or -EIO if the queue is broken. */
int vq_push(struct virtq *q, uint16_t head, uint32_t written) MUST_USE;

/* One completion for vq_push_batch. */
struct vq_used {
	uint16_t head;
	uint32_t written;
};
/* Publishes n (1..size) chains with one used->idx update, so the driver
 * sees them all at once (a merged virtio-net receive buffer must not be
 * seen in part). Returns 0, -EINVAL (a head out of range, bad n: a device
 * bug, nothing written) or -EIO if the queue is broken. */
int vq_push_batch(struct virtq *q, const struct vq_used *used, unsigned n) MUST_USE;

/* Whether the driver wants an interrupt for what was pushed since the last
 * time this returned true (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with
 * event-idx). Call after vq_push; a true answer records the point. */
bool vq_needs_notify(struct virtq *q);

/* Tells the driver whether to kick us: clears/sets VIRTQ_USED_F_NO_NOTIFY,
 * or with event-idx writes avail_event = next_avail. After enabling, the
 * caller must check vq_has_avail() again (a chain may have arrived while
 * notifications were off). */
void vq_set_notification(struct virtq *q, bool enable);

/* Sequential access to the readable part of a chain. */
struct vq_reader {
	const struct guest_memory *gm; /* borrowed */
	const struct vq_seg *segs;     /* borrowed from the chain */
	uint16_t nr, idx;
	uint32_t off;	     /* inside segs[idx] */
	uint64_t remaining; /* bytes left */
};

/* Sequential access to the writable part; counts what was written, which
 * is what vq_push reports. */
struct vq_writer {
	const struct guest_memory *gm; /* borrowed */
	const struct vq_seg *segs;     /* borrowed from the chain */
	uint16_t nr, idx;
	uint32_t off;
	uint64_t remaining;
	uint64_t written;
};

void vq_reader_init(struct vq_reader *r, const struct guest_memory *gm, const struct vq_chain *c);
void vq_writer_init(struct vq_writer *w, const struct guest_memory *gm, const struct vq_chain *c);

/* Copies exactly len bytes out of the chain. Returns 0, or -EMSGSIZE if
 * fewer than len bytes remain (nothing consumed). */
int vq_read(struct vq_reader *r, void *dst, size_t len) MUST_USE;
/* Skips len bytes. Returns 0 or -EMSGSIZE. */
int vq_reader_skip(struct vq_reader *r, size_t len) MUST_USE;
/* Host iovecs for the next len bytes (consumed), for readv/writev/io_uring.
 * Returns the number of iovecs used, or -EMSGSIZE (not enough bytes) /
 * -E2BIG (more than max_iov needed); nothing is consumed on error.
 * SAFETY: the iovecs point into guest memory that the driver can change
 * at any time; use them only for bulk data, never for parsing. */
int vq_reader_iov(struct vq_reader *r, size_t len, struct iovec *iov, int max_iov) MUST_USE;

/* Copies exactly len bytes into the chain. Returns 0 or -EMSGSIZE. */
int vq_write(struct vq_writer *w, const void *src, size_t len) MUST_USE;
/* As vq_reader_iov, for the writable part; counts the bytes as written. */
int vq_writer_iov(struct vq_writer *w, size_t len, struct iovec *iov, int max_iov) MUST_USE;
/* Moves forward len bytes without writing (e.g. past a header filled
 * later); counted as written. Returns 0 or -EMSGSIZE. */
int vq_writer_skip(struct vq_writer *w, size_t len) MUST_USE;

static inline uint64_t vq_reader_remaining(const struct vq_reader *r) { return r->remaining; }
static inline uint64_t vq_writer_remaining(const struct vq_writer *w) { return w->remaining; }
static inline uint64_t vq_writer_written(const struct vq_writer *w) { return w->written; }

#endif
