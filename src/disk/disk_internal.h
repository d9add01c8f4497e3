/*
 * Internals of the disk library, shared by its files only.
 *
 * Two tables split the work. A format (struct disk_ops: raw now, qcow2
 * later) maps the virtual disk onto the host file and decides which host
 * operations a request needs. An engine (struct disk_engine_ops: io_uring or
 * sync) performs host operations and finishes requests by queueing their
 * completion with disk_io_complete. disk.c owns the request slots, the
 * in-flight cap and the completion queue, so neither table can let a guest
 * make us allocate without bound.
 */
#ifndef CROSVM_DISK_DISK_INTERNAL_H
#define CROSVM_DISK_DISK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "disk/disk.h"

/* Most guest requests have few segments; longer arrays go to the heap. */
#define DISK_INLINE_IOVECS 8

/* One accepted request while an engine works on it. */
struct disk_io {
	enum disk_op op;
	void *user;
	uint64_t offset;     /* host offset of the next byte to transfer */
	uint64_t len;        /* READ/WRITE: total bytes; DISCARD/WRITE_ZEROES: range length */
	uint64_t remaining;  /* READ/WRITE: bytes still to transfer */
	uint64_t vend;       /* end of the virtual range (offset + len at submit) */
	struct iovec *iov;   /* next segment, inside iov_store; advanced on short transfers */
	unsigned int iovcnt; /* segments left from iov */
	unsigned int retries;
	struct iovec *iov_store; /* inline_iov or owned heap array */
	struct iovec inline_iov[DISK_INLINE_IOVECS];
	int next_free;       /* free-list link while unused */
};

/* An image format. */
struct disk_ops {
	const char *name;
	/* Sets d->size from the host file (d->host_size). Returns 0 or -errno. */
	int (*open)(struct disk *d);
	/* Makes the virtual disk new_size bytes (already checked: a non-zero
	 * multiple of 512, <= INT64_MAX, writable regular file) and publishes
	 * it in d->size. Called by disk_set_size with d->resize_lock held, on
	 * any thread, concurrently with submit: on failure d->size must be
	 * left as it was. NULL: the format cannot resize (-ENOTSUP). */
	int (*set_size)(struct disk *d, uint64_t new_size);
	/* Starts io; 0 means it will be completed through disk_io_complete,
	 * -errno means nothing was started and io is still the caller's. */
	int (*submit)(struct disk *d, struct disk_io *io);
	/* Frees format state. */
	void (*close)(struct disk *d);
};

/* An I/O engine performing host operations on d->fd. */
struct disk_engine_ops {
	const char *name;
	int (*init)(struct disk *d);
	/* Waits until the kernel holds no request, then frees engine state. */
	void (*fini)(struct disk *d);
	/* Like disk_ops.submit, with io->offset a host offset. */
	int (*start)(struct disk *d, struct disk_io *io);
	/* Completes (disk_io_complete) whatever host I/O has finished. */
	void (*poll)(struct disk *d);
};

struct disk {
	int fd;                 /* owned, holds the flock */
	uint32_t flags;         /* DISK_F_* */
	bool is_blockdev;
	/* Held by disk_set_size around the format's set_size, and by the
	 * worker when it cuts the host file back after a write that outran a
	 * shrink (disk_io_complete): the two ways the file's length changes,
	 * so they never interleave. Never held on the ordinary I/O path. */
	pthread_mutex_t resize_lock;
	uint64_t host_size;     /* bytes in the host file or device; under
	                           resize_lock once the disk is open */
	/* Virtual disk size, set by the format at open and by set_size from
	 * the control thread while the worker submits. Stored with release,
	 * loaded with acquire (disk_load_size): a submitter that sees a grown
	 * size also sees the host file already grown, since the format grows
	 * the file before it stores the size. */
	_Atomic uint64_t size;
	int completion_fd;      /* owned eventfd */

	const struct disk_ops *ops;
	void *format_state;     /* owned by ops */
	const struct disk_engine_ops *engine;
	void *engine_state;     /* owned by engine */

	void *zero_buf;         /* owned, lazily allocated DISK_ZERO_BUF_SIZE zeros */

	unsigned int in_flight; /* accepted and not yet reaped */
	int free_head;          /* first free slot, -1 when none */
	struct disk_io slots[DISK_MAX_IN_FLIGHT];

	/* Finished requests waiting for disk_reap: a ring, never more than
	 * in_flight entries so it cannot overflow. */
	unsigned int done_head, done_count;
	struct disk_completion done[DISK_MAX_IN_FLIGHT];
};

#define DISK_ZERO_BUF_SIZE (64u * 1024u)

/* The current virtual size, for the I/O path and disk_size. */
static inline uint64_t disk_load_size(const struct disk *d)
{
	return atomic_load_explicit(&d->size, memory_order_acquire);
}

static inline void disk_store_size(struct disk *d, uint64_t size)
{
	atomic_store_explicit(&d->size, size, memory_order_release);
}

extern const struct disk_ops disk_raw_ops;
extern const struct disk_engine_ops disk_uring_engine;
extern const struct disk_engine_ops disk_sync_engine;

/* Queues io's completion and returns its slot to the free list. */
void disk_io_complete(struct disk *d, struct disk_io *io, int64_t result);
/* Consumes n (<= io->remaining) transferred bytes from io's segments. */
void disk_io_advance(struct disk_io *io, uint64_t n);

/* Synchronous host operations (aio_sync.c), used by both engines.
 * Each returns the completion result: bytes, 0, or -errno. */
int64_t disk_host_rw(struct disk *d, struct disk_io *io);
int64_t disk_host_flush(struct disk *d);
int64_t disk_host_discard(struct disk *d, uint64_t offset, uint64_t len);
int64_t disk_host_write_zeroes(struct disk *d, uint64_t offset, uint64_t len);

#endif
