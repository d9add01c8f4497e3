/*
 * Disk images for block devices: open (with an advisory lock), size, and
 * asynchronous I/O whose completions are signalled on an eventfd.
 *
 * Usage, identical whichever I/O engine runs underneath:
 *
 *   disk_submit(d, &req)              0: exactly one completion will follow
 *   poll disk_completion_fd(d)        readable when completions may be ready
 *   disk_reap(d, out, max)            returns {user, result} pairs
 *
 * The engine is io_uring where the kernel allows it; otherwise (setup fails,
 * e.g. seccomp or kernel.io_uring_disabled) each request is performed
 * synchronously inside disk_submit and its completion is queued and
 * signalled the same way. DISCARD and WRITE_ZEROES always run synchronously
 * inside disk_submit (fallocate/BLKDISCARD); their completion is still
 * delivered through disk_reap.
 *
 * Threads: one thread (the block device's worker) submits and reaps, and
 * everything not listed here belongs to it. Three functions may also be
 * called from any other thread (the control server's) at any time between
 * open and close, concurrently with the worker and with each other:
 *   disk_size             lock-free; a concurrent disk_set_size may move it
 *   disk_read_only, disk_is_block_device   constant after open
 *   disk_set_size         serialised internally; resizes the image under
 *                         the worker's feet (see there for what in-flight
 *                         requests then see)
 * Only disk_close must not run concurrently with any of them. Only raw
 * images are supported so far.
 */
#ifndef CROSVM_DISK_DISK_H
#define CROSVM_DISK_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/types.h"

struct disk;

/* Flags for disk_open / disk_open_fd. */
#define DISK_F_READ_ONLY   (1u << 0) /* O_RDONLY + shared lock; writes are refused with -EROFS */
#define DISK_F_O_DIRECT    (1u << 1) /* bypass the host page cache: offsets, lengths and buffers
                                        must then suit the host's alignment, else results are -EINVAL */
#define DISK_F_SPARSE      (1u << 2) /* DISCARD punches holes and WRITE_ZEROES may; without it
                                        DISCARD is a successful no-op */
#define DISK_F_NO_IO_URING (1u << 3) /* use the synchronous engine even if io_uring works */

#define DISK_SECTOR_SIZE   512  /* disk_set_size sizes are multiples of this */
#define DISK_MAX_IN_FLIGHT 256  /* requests submitted and not yet returned by disk_reap */
#define DISK_MAX_IOVECS    1024 /* per READ/WRITE, the kernel's IOV_MAX */

enum disk_op {
	DISK_OP_READ,
	DISK_OP_WRITE,
	DISK_OP_FLUSH,        /* fdatasync: all completed writes are durable */
	DISK_OP_DISCARD,      /* contents of the range become unspecified (zeros on raw sparse files) */
	DISK_OP_WRITE_ZEROES, /* range reads back as zeros */
};

struct disk_request {
	enum disk_op op;
	uint64_t offset;          /* byte offset in the image; ignored by FLUSH */
	uint64_t len;             /* DISCARD/WRITE_ZEROES byte count; READ/WRITE use the iovecs */
	const struct iovec *iov;  /* borrowed, READ/WRITE only: the array itself until disk_submit
	                             returns (it is copied); the memory it points at until the
	                             completion is returned by disk_reap or disk_close returns */
	unsigned int iovcnt;      /* <= DISK_MAX_IOVECS */
	void *user;               /* caller's cookie, returned unchanged in the completion */
};

struct disk_completion {
	void *user;
	int64_t result; /* READ/WRITE: bytes transferred, always the full request length;
	                   FLUSH/DISCARD/WRITE_ZEROES: 0; or -errno (-EIO for a host I/O error
	                   or an unexpected end of file, -ENOSPC, ...). A partial transfer is
	                   never reported as success. */
};

/*
 * Opens the image at path (O_CLOEXEC; O_RDONLY or O_RDWR; O_DIRECT if asked)
 * and takes an advisory lock: flock LOCK_EX for read-write, LOCK_SH for
 * read-only, non-blocking. On success stores an owned disk in *out.
 * Returns 0 or -errno; -EAGAIN means exactly "the image is locked by another
 * process" (or by another open of it in this one). -EINVAL for unknown flags
 * or a file that is neither a regular file nor a block device (-EISDIR for a
 * directory).
 */
int disk_open(const char *path, uint32_t flags, struct disk **out) MUST_USE;

/*
 * Like disk_open for an already-open fd (a jailed device receives one).
 * Always consumes fd: it is owned by the disk on success and closed on
 * failure. The fd is made close-on-exec, O_APPEND is cleared and O_DIRECT is
 * set if DISK_F_O_DIRECT asks for it. -EBADF if the fd is not open for
 * writing and DISK_F_READ_ONLY is not given. Locking as for disk_open; a lock
 * this fd's open file description already holds is simply converted.
 */
int disk_open_fd(int fd, uint32_t flags, struct disk **out) MUST_USE;

/*
 * Waits for requests the kernel is still working on (so no buffer is touched
 * afterwards), discards unreaped completions, releases the lock and frees
 * the disk. Accepts NULL.
 */
void disk_close(struct disk *d);

/* Image (virtual disk) size in bytes: the host file's at open, then
 * whatever disk_set_size last made it. Any thread (an atomic load with
 * acquire: once a grown size is seen, the host file has grown). */
uint64_t disk_size(const struct disk *d);

/* Whether the disk was opened DISK_F_READ_ONLY. Constant; any thread. */
bool disk_read_only(const struct disk *d);

/* Whether the image is a host block device (rather than a regular file).
 * Constant; any thread. */
bool disk_is_block_device(const struct disk *d);

/*
 * Resizes a writable regular-file image to new_size bytes (growing:
 * ftruncate adds a hole that reads as zeros; shrinking: the tail is cut
 * off and lost) and makes disk_size report it. Any thread, concurrently
 * with the worker's submit and reap; calls are serialised internally.
 * Returns 0 or -errno, and on failure the size is unchanged:
 *   -EROFS    the disk is read-only (checked first)
 *   -ENOTSUP  the image is a host block device, or the format cannot resize
 *   -EINVAL   new_size is 0, not a multiple of DISK_SECTOR_SIZE, or > INT64_MAX
 *   other     ftruncate's error (-EFBIG, -ENOSPC, -EIO, ...)
 * Requests submitted after it returns are checked against new_size. A
 * request accepted earlier whose range is no longer wholly inside the disk
 * when it completes (it raced a shrink) completes with -EIO, whatever the
 * host did; should such a write have extended the host file again, the
 * worker cuts the file back to disk_size when it takes the completion.
 */
int disk_set_size(struct disk *d, uint64_t new_size) MUST_USE;

/* Borrowed eventfd, readable when disk_reap may return completions. The
 * caller need not read it: disk_reap drains it. */
int disk_completion_fd(const struct disk *d);

/* "io_uring" or "sync": the engine chosen at open, for logs and tests. */
const char *disk_engine_name(const struct disk *d);

/*
 * Starts one request. Returns 0 when accepted (exactly one completion will
 * carry req->user), or -errno when refused (no completion):
 *   -EAGAIN  DISK_MAX_IN_FLIGHT requests are already submitted and unreaped
 *   -EINVAL  bad op, iovcnt > DISK_MAX_IOVECS, iov NULL with iovcnt > 0,
 *            total length overflow, or a range not wholly inside
 *            [0, disk_size) as of this call (the device checks bounds too;
 *            this is the backstop)
 *   -EROFS   WRITE, DISCARD or WRITE_ZEROES on a read-only disk
 *   -ENOMEM  out of memory copying a long iovec array
 * Zero-length requests are accepted and complete with result 0.
 */
int disk_submit(struct disk *d, const struct disk_request *req) MUST_USE;

/*
 * Moves up to max finished requests into out[] and returns how many (>= 0,
 * never fails). Drains the completion eventfd first; if completions remain
 * after filling out[] the eventfd is signalled again, so a caller that reaps
 * only when the fd is readable never misses one.
 */
int disk_reap(struct disk *d, struct disk_completion *out, unsigned int max);

#endif
