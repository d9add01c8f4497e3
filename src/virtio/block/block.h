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

#endif
