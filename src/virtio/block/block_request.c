/*
 * virtio-blk request parsing (see block_request.h). The layout of a chain
 * is fixed by the spec (5.2.6): header in the readable part, then data,
 * then the status byte as the last writable byte. Everything else is the
 * guest's to get wrong, and each mistake maps to IOERR or UNSUPP.
 */
#include "virtio/block/block_request.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "base/checked.h"

struct blk_header {
	le32_t type;
	le32_t reserved;
	le64_t sector;
};

struct blk_dwz_segment {
	le64_t sector;
	le32_t num_sectors;
	le32_t flags;
};

/* Whether [sector, sector + bytes) lies inside the disk; sets *offset. */
static bool range_ok(uint64_t sector, uint64_t bytes, uint64_t disk_bytes, uint64_t *offset)
{
	uint64_t off;
	if (!ck_mul_u64(sector, VIRTIO_BLK_SECTOR_SIZE, &off))
		return false;
	*offset = off;
	return ck_range_within(off, bytes, 0, disk_bytes);
}

static uint8_t parse_dwz(const struct guest_memory *gm, const struct vq_chain *chain, struct vq_reader *r,
			 uint64_t disk_bytes, bool discard, struct blk_request *out)
{
	/* We announce max_discard_seg = max_write_zeroes_seg = 1. */
	if (chain->readable_len - VIRTIO_BLK_HEADER_SIZE != VIRTIO_BLK_DWZ_SEGMENT_SIZE)
		return VIRTIO_BLK_S_UNSUPP;
	(void)gm;
	struct blk_dwz_segment seg;
	if (vq_read(r, &seg, sizeof(seg)) < 0)
		return VIRTIO_BLK_S_IOERR;
	uint32_t flags = le32_get(seg.flags);
	/* Unmap is meaningless for discard; other bits are reserved. */
	if ((flags & ~(uint32_t)VIRTIO_BLK_WZ_FLAG_UNMAP) || (discard && flags))
		return VIRTIO_BLK_S_UNSUPP;
	/* More than we announced in the configuration space: refused as
	 * IOERR, as other devices do, rather than tying up the worker. */
	uint32_t sectors = le32_get(seg.num_sectors);
	if (sectors > (discard ? VIRTIO_BLK_MAX_DISCARD_SECTORS : VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS))
		return VIRTIO_BLK_S_IOERR;
	uint64_t bytes = (uint64_t)sectors * VIRTIO_BLK_SECTOR_SIZE;
	if (!range_ok(le64_get(seg.sector), bytes, disk_bytes, &out->offset))
		return VIRTIO_BLK_S_IOERR;
	out->len = bytes;
	out->op = discard ? BLK_REQ_DISCARD : BLK_REQ_WRITE_ZEROES;
	return VIRTIO_BLK_S_OK;
}

uint8_t blk_request_parse(const struct guest_memory *gm, const struct vq_chain *chain, uint64_t disk_bytes,
			  const struct virtio_blk_options *opts, struct blk_request *out)
{
	memset(out, 0, sizeof(*out));
	out->op = BLK_REQ_NONE;
	if (chain->nr_writable == 0 || chain->writable_len == 0)
		return VIRTIO_BLK_S_IOERR;
	/* Zero-length segments never reach a chain, so the last writable
	 * segment holds the status byte. */
	const struct vq_seg *last = &chain->segs[chain->nr_readable + chain->nr_writable - 1];
	if (last->len == 0)
		return VIRTIO_BLK_S_IOERR;
	out->status_addr = gpa_add(last->addr, last->len - 1);
	out->status_addr_valid = true;

	if (chain->readable_len < VIRTIO_BLK_HEADER_SIZE)
		return VIRTIO_BLK_S_IOERR;
	struct vq_reader r;
	vq_reader_init(&r, gm, chain);
	struct blk_header h;
	if (vq_read(&r, &h, sizeof(h)) < 0)
		return VIRTIO_BLK_S_IOERR;
	uint64_t sector = le64_get(h.sector);
	uint64_t in_data = chain->writable_len - 1;
	uint64_t out_data = chain->readable_len - VIRTIO_BLK_HEADER_SIZE;

	switch (le32_get(h.type)) {
	case VIRTIO_BLK_T_IN:
		if (in_data % VIRTIO_BLK_SECTOR_SIZE || !range_ok(sector, in_data, disk_bytes, &out->offset))
			return VIRTIO_BLK_S_IOERR;
		out->op = BLK_REQ_READ;
		out->len = in_data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (opts->read_only || out_data % VIRTIO_BLK_SECTOR_SIZE ||
		    !range_ok(sector, out_data, disk_bytes, &out->offset))
			return VIRTIO_BLK_S_IOERR;
		out->op = BLK_REQ_WRITE;
		out->len = out_data;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		out->op = BLK_REQ_FLUSH;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		out->op = BLK_REQ_GET_ID;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
		if (opts->read_only || !opts->sparse)
			return VIRTIO_BLK_S_UNSUPP;
		return parse_dwz(gm, chain, &r, disk_bytes, true, out);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (opts->read_only)
			return VIRTIO_BLK_S_UNSUPP;
		return parse_dwz(gm, chain, &r, disk_bytes, false, out);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int blk_request_data_iov(const struct guest_memory *gm, const struct vq_chain *chain, const struct blk_request *req,
			 struct iovec *iov, int max_iov)
{
	if (req->len == 0)
		return 0;
	if (req->op == BLK_REQ_READ) {
		struct vq_writer w;
		vq_writer_init(&w, gm, chain);
		return vq_writer_iov(&w, req->len, iov, max_iov);
	}
	if (req->op == BLK_REQ_WRITE) {
		struct vq_reader r;
		vq_reader_init(&r, gm, chain);
		int e = vq_reader_skip(&r, VIRTIO_BLK_HEADER_SIZE);
		return e < 0 ? e : vq_reader_iov(&r, req->len, iov, max_iov);
	}
	return -EINVAL;
}

int blk_request_write_id(const struct guest_memory *gm, const struct vq_chain *chain,
			 const struct virtio_blk_options *opts, const struct blk_request *req)
{
	(void)req;
	uint8_t id[VIRTIO_BLK_ID_BYTES] = { 0 };
	memcpy(id, opts->id, strnlen(opts->id, VIRTIO_BLK_ID_BYTES));
	uint64_t room = chain->writable_len - 1;
	size_t n = room < VIRTIO_BLK_ID_BYTES ? (size_t)room : VIRTIO_BLK_ID_BYTES;
	struct vq_writer w;
	vq_writer_init(&w, gm, chain);
	int e = vq_write(&w, id, n);
	return e < 0 ? e : (int)n;
}
