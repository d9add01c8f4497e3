/*
 * libFuzzer target for the virtio-blk request parser (block_request.c):
 * the input is what a hostile driver controls once the ring itself has
 * been validated, a chain of guest buffers and the bytes in them, plus the
 * disk's size and options.
 *
 *   byte 0       bit 0 read-only, bit 1 sparse, bits 2..6 id length (0..20)
 *   bytes 1..8   disk size in bytes (le64, any value)
 *   byte 9       readable segments (0..15), byte 10 writable ones (0..15)
 *   then         5 bytes per segment: GPA (le24, modulo the memory size)
 *                and length (le16), clamped the way vq_pop guarantees:
 *                non-zero and inside one region
 *   the rest     guest memory from GPA 0 (a 64 KiB region, then a 4 KiB
 *                one right after it, so buffers meet at a region edge)
 *
 * The chain is handed to blk_request_parse as block.c does, then the data
 * iovecs or the GET_ID answer are produced. Besides ASan/UBSan, the
 * parser's promises are checked: an accepted request lies inside the disk
 * in whole sectors, within the announced maxima, never writes to a
 * read-only disk, its data iovecs are exactly the chain's data part (so
 * never the status byte), and the status byte is the chain's last
 * writable byte.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/checked.h"
#include "fuzz_common.h"
#include "virtio/block/block_request.h"
#include "vm_memory/vm_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION_A 0x10000
#define REGION_B 0x1000
#define MEM (REGION_A + REGION_B)
#define HDR 11
#define SEG_BYTES 5
#define MAX_IOV 32

static void check_data_iov(const struct guest_memory *gm, const struct vq_chain *c, const struct blk_request *req)
{
	struct iovec iov[MAX_IOV];
	int n = blk_request_data_iov(gm, c, req, iov, MAX_IOV);
	fuzz_check(n >= 0 || n == -E2BIG);
	if (n < 0)
		return;
	uint64_t total = 0;
	volatile uint8_t sink = 0;
	for (int i = 0; i < n; i++) {
		fuzz_check(iov[i].iov_len > 0);
		total += iov[i].iov_len;
		/* Touch both ends: ASan catches a pointer outside the mapping. */
		sink ^= ((volatile uint8_t *)iov[i].iov_base)[0];
		sink ^= ((volatile uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1];
	}
	(void)sink;
	fuzz_check(total == req->len);
	/* Exactly the data part of the chain, piece by piece: for a read the
	 * writable part less its last byte (the status), for a write the
	 * readable part after the header. The driver may make buffers
	 * overlap; that is its own business, so compare positions in the
	 * chain, not addresses. */
	unsigned first = req->op == BLK_REQ_READ ? c->nr_readable : 0;
	unsigned last = req->op == BLK_REQ_READ ? c->nr_readable + c->nr_writable : c->nr_readable;
	uint64_t skip = req->op == BLK_REQ_READ ? 0 : VIRTIO_BLK_HEADER_SIZE, want = req->len;
	int k = 0;
	for (unsigned i = first; i < last && want > 0; i++) {
		uint64_t len = c->segs[i].len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		uint64_t take = len - skip < want ? len - skip : want;
		fuzz_check(k < n);
		fuzz_check(iov[k].iov_base == gm_get_slice(gm, gpa_add(c->segs[i].addr, skip), take));
		fuzz_check(iov[k].iov_len == take);
		k++;
		want -= take;
		skip = 0;
	}
	fuzz_check(k == n && want == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	struct virtio_blk_options opts = { .read_only = data[0] & 1, .sparse = data[0] & 2, .block_size = 512 };
	unsigned id_len = (data[0] >> 2) % (VIRTIO_BLK_ID_BYTES + 1);
	for (unsigned i = 0; i < id_len; i++)
		opts.id[i] = (char)('a' + i);
	uint64_t disk_bytes = fuzz_get_le(data + 1, 8);
	unsigned nr = data[9] % 16, nw = data[10] % 16;
	size_t pos = HDR;
	if (size - pos < (size_t)(nr + nw) * SEG_BYTES)
		return 0;

	struct guest_memory gm;
	struct gm_range ranges[] = { { GPA(0), REGION_A }, { GPA(REGION_A), REGION_B } };
	if (gm_create(&gm, ranges, 2) < 0)
		abort(); /* the harness itself is broken */
	struct vq_chain *c = calloc(1, sizeof(*c));
	if (!c)
		abort();

	/* The chain, as vq_pop would hand it over. */
	c->head = 0;
	c->nr_readable = (uint16_t)nr;
	c->nr_writable = (uint16_t)nw;
	for (unsigned i = 0; i < nr + nw; i++, pos += SEG_BYTES) {
		uint64_t addr = fuzz_get_le(data + pos, 3) % MEM;
		uint64_t end = addr < REGION_A ? REGION_A : MEM;
		uint32_t len = (uint32_t)(1 + fuzz_get_le(data + pos + 3, 2) % (end - addr));
		c->segs[i] = (struct vq_seg){ GPA(addr), len };
		if (i < nr)
			c->readable_len += len;
		else
			c->writable_len += len;
	}
	size_t mem = size - pos < MEM ? size - pos : MEM;
	size_t in_a = mem < REGION_A ? mem : REGION_A;
	if (gm_write(&gm, GPA(0), data + pos, in_a) < 0 ||
	    (mem > in_a && gm_write(&gm, GPA(REGION_A), data + pos + in_a, mem - in_a) < 0))
		abort();

	struct blk_request req;
	uint8_t status = blk_request_parse(&gm, c, disk_bytes, &opts, &req);
	fuzz_check(status == VIRTIO_BLK_S_OK || status == VIRTIO_BLK_S_IOERR || status == VIRTIO_BLK_S_UNSUPP);

	/* The status byte: the last byte of the last writable segment, or no
	 * answer possible (and then never success). */
	if (nw > 0) {
		const struct vq_seg *last = &c->segs[nr + nw - 1];
		fuzz_check(req.status_addr_valid);
		fuzz_check(gpa_val(req.status_addr) == gpa_val(last->addr) + last->len - 1);
		fuzz_check(gm_range_valid(&gm, req.status_addr, 1));
	} else {
		fuzz_check(!req.status_addr_valid);
		fuzz_check(status != VIRTIO_BLK_S_OK);
	}
	if (status != VIRTIO_BLK_S_OK) {
		fuzz_check(req.op == BLK_REQ_NONE);
		goto out;
	}

	uint64_t end;
	switch (req.op) {
	case BLK_REQ_READ:
	case BLK_REQ_WRITE:
		fuzz_check(req.op == BLK_REQ_READ || !opts.read_only);
		fuzz_check(req.len % VIRTIO_BLK_SECTOR_SIZE == 0 && req.offset % VIRTIO_BLK_SECTOR_SIZE == 0);
		fuzz_check(ck_add_u64(req.offset, req.len, &end) && end <= disk_bytes);
		fuzz_check(req.len == (req.op == BLK_REQ_READ ? c->writable_len - 1
							     : c->readable_len - VIRTIO_BLK_HEADER_SIZE));
		check_data_iov(&gm, c, &req);
		break;
	case BLK_REQ_DISCARD:
	case BLK_REQ_WRITE_ZEROES:
		fuzz_check(!opts.read_only && (req.op == BLK_REQ_WRITE_ZEROES || opts.sparse));
		fuzz_check(req.len % VIRTIO_BLK_SECTOR_SIZE == 0 && req.offset % VIRTIO_BLK_SECTOR_SIZE == 0);
		fuzz_check(ck_add_u64(req.offset, req.len, &end) && end <= disk_bytes);
		fuzz_check(req.len <= (uint64_t)VIRTIO_BLK_SECTOR_SIZE * (req.op == BLK_REQ_DISCARD
										  ? VIRTIO_BLK_MAX_DISCARD_SECTORS
										  : VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS));
		break;
	case BLK_REQ_GET_ID: {
		int n = blk_request_write_id(&gm, c, &opts, &req);
		fuzz_check(n >= 0 && n <= VIRTIO_BLK_ID_BYTES && (uint64_t)n <= c->writable_len - 1);
		break;
	}
	case BLK_REQ_FLUSH:
		break;
	default:
		fuzz_check(false);
	}
out:
	free(c);
	gm_destroy(&gm);
	return 0;
}
