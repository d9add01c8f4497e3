/*
 * virtio-blk (virtio 1.2, 5.2) over a disk image from disk/.
 *
 * One request queue; reads and writes go to the disk's asynchronous engine
 * (io_uring, or its synchronous fallback) straight from and into guest
 * memory, and complete when the engine reports back. Every request is
 * checked before it reaches the disk: header size, sector range against
 * the capacity, 512-byte multiples, a status byte to write. Host I/O
 * errors, a full host disk and writes to a read-only disk come back to the
 * guest as an error status; nothing the guest sends stops the device
 * except a broken ring.
 *
 * The host may resize a writable image while the guest runs
 * (virtio_blk_resize, for `crosvm disk resize`): the capacity in the
 * configuration space follows and the driver gets a configuration change
 * interrupt. Each request is checked against the capacity at the moment
 * it is taken, and one that a shrink overtook completes with IOERR.
 */
#ifndef CROSVM_VIRTIO_BLOCK_BLOCK_H
#define CROSVM_VIRTIO_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/disk.h"
#include "virtio/core/virtio.h"

#define VIRTIO_BLK_ID_BYTES 20

struct virtio_blk_options {
	bool read_only;
	bool sparse;	     /* offer DISCARD (and unmapping WRITE_ZEROES) */
	uint32_t block_size; /* logical block size the guest sees; power of two >= 512 */
	char id[VIRTIO_BLK_ID_BYTES + 1]; /* GET_ID answer; empty = none */
};

/* Creates a block device over disk (ownership moves to the device, also
 * on failure). Returns 0, -EINVAL for bad options, or -ENOMEM. */
int virtio_blk_create(struct disk *disk, const struct virtio_blk_options *opts, struct virtio_device *out) MUST_USE;

/* Whether d is a block device made by virtio_blk_create (so d->dev may be
 * passed to the functions below). False for NULL. */
bool virtio_blk_is_block(const struct virtio_device *d);

/*
 * The functions below take the `dev` of such a virtio_device (borrowed;
 * valid until its ops->destroy) and may be called from any thread (the
 * control server's) while vCPUs and the worker run, but not concurrently
 * with destroy.
 */

/* Whether the guest sees the disk read-only (the option, or a disk opened
 * DISK_F_READ_ONLY). */
bool virtio_blk_read_only(const void *dev);

/*
 * Resizes the disk image to new_size bytes (disk_set_size), sets the
 * capacity in the configuration space to new_size / 512 sectors and, if
 * that changed, interrupts the driver with a configuration change (at
 * once while the device is active, else as soon as it is activated), so
 * the guest picks up the new size without a reboot. Shrinking is allowed:
 * requests past the new end fail with IOERR from then on. Returns 0 or
 * -errno, leaving the old size in place on failure:
 *   -EROFS    the device or its disk is read-only
 *   -ENOTSUP  the image is a host block device
 *   -EINVAL   new_size is 0 or not a multiple of 512 (or > INT64_MAX)
 *   other     the host's ftruncate error (-EFBIG, -ENOSPC, -EIO, ...)
 * Resizes may run concurrently; the last to finish publishes the size the
 * disk ended at.
 */
int virtio_blk_resize(void *dev, uint64_t new_size) MUST_USE;

#endif
