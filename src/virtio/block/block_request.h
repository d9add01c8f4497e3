/*
 * Parsing and checking one virtio-blk request chain: the pure part of the
 * block device, separate so it can be unit-tested and fuzzed without a
 * disk. Nothing here trusts the guest: the header is copied once, every
 * length and sector is checked against the chain and the capacity with
 * overflow-checked math.
 */
#ifndef CROSVM_VIRTIO_BLOCK_BLOCK_REQUEST_H
#define CROSVM_VIRTIO_BLOCK_BLOCK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/block/block.h"
#include "virtio/core/virtq.h"

#define VIRTIO_BLK_SECTOR_SIZE 512

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

/* The most sectors one DISCARD / WRITE_ZEROES may cover (the device's
 * max_discard_sectors / max_write_zeroes_sectors): zeroing may fall back to
 * writing zeros synchronously in the worker, so one request stays short. */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 21)	 /* 1 GiB */
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS (1u << 17) /* 64 MiB */

#define VIRTIO_BLK_HEADER_SIZE 16
#define VIRTIO_BLK_DWZ_SEGMENT_SIZE 16 /* struct virtio_blk_discard_write_zeroes */
#define VIRTIO_BLK_WZ_FLAG_UNMAP 1

enum blk_req_op {
	BLK_REQ_NONE,
	BLK_REQ_READ,
	BLK_REQ_WRITE,
	BLK_REQ_FLUSH,
	BLK_REQ_GET_ID,
	BLK_REQ_DISCARD,
	BLK_REQ_WRITE_ZEROES,
};

struct blk_request {
	enum blk_req_op op;
	uint64_t offset; /* bytes into the disk */
	uint64_t len;	 /* bytes of data (READ/WRITE) or of the range */
	bool status_addr_valid;
	gpa_t status_addr; /* the chain's last writable byte */
	uint32_t written_without_io; /* data bytes written when answered at once (0) */
};

/* Parses chain against a disk of disk_bytes. Returns VIRTIO_BLK_S_OK with
 * out->op saying what to do, or the error status to answer with (at
 * out->status_addr when out->status_addr_valid; a chain without a writable
 * byte cannot be answered). */
uint8_t blk_request_parse(const struct guest_memory *gm, const struct vq_chain *chain, uint64_t disk_bytes,
			  const struct virtio_blk_options *opts, struct blk_request *out);

/* Host iovecs of a READ's or WRITE's data. Returns the count or -errno. */
int blk_request_data_iov(const struct guest_memory *gm, const struct vq_chain *chain, const struct blk_request *req,
			 struct iovec *iov, int max_iov) MUST_USE;

/* Writes the GET_ID answer (up to 20 bytes, NUL-padded). Returns the bytes
 * written or -errno. */
int blk_request_write_id(const struct guest_memory *gm, const struct vq_chain *chain,
			 const struct virtio_blk_options *opts, const struct blk_request *req) MUST_USE;

#endif
