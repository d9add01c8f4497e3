/*
 * libFuzzer target for the split-virtqueue device side: the input is what
 * a hostile driver controls, the queue configuration and the contents of
 * guest memory (descriptor table, available ring, indirect tables, data).
 *
 *   bytes 0      queue size 2^(b & 7), 1..128
 *   byte 1       bit 0 event-idx, bit 1 indirect descriptors negotiated,
 *                bit 2 toggle notification suppression while running
 *   bytes 2..7   desc, avail and used ring offsets (le16 each), aligned
 *                down as the transport requires; the rings may overlap
 *   bytes 8..11  next_avail and next_used start values (le16 each)
 *   the rest     guest memory from GPA 0 (64 KiB region, then a 4 KiB
 *                region right after it, so buffers crossing regions occur)
 *
 * The device pops every chain, reads the readable part and writes the
 * writable part through the reader/writer (copies, skips and iovecs),
 * pushes it and asks whether to notify, until nothing is left or the
 * queue is broken. Besides ASan/UBSan, the chain invariants are checked:
 * segments inside guest memory, non-empty, lengths adding up, bounded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "virtio/core/virtq.h"
#include "vm_memory/vm_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION_A 0x10000
#define REGION_B 0x1000
#define HDR 12

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void check_chain(const struct guest_memory *gm, const struct virtq *q, const struct vq_chain *c)
{
	uint32_t max = q->cfg.size < VIRTQ_MAX_CHAIN ? q->cfg.size : VIRTQ_MAX_CHAIN;
	check(c->head < q->cfg.size);
	check((uint32_t)c->nr_readable + c->nr_writable <= max);
	uint64_t r = 0, w = 0;
	for (unsigned i = 0; i < (unsigned)c->nr_readable + c->nr_writable; i++) {
		check(c->segs[i].len > 0);
		check(gm_range_valid(gm, c->segs[i].addr, c->segs[i].len));
		if (i < c->nr_readable)
			r += c->segs[i].len;
		else
			w += c->segs[i].len;
	}
	check(r == c->readable_len && w == c->writable_len);
	check(r <= UINT32_MAX && w <= UINT32_MAX);
}

/* Consumes the readable part in a few differently shaped steps. */
static void drain_reader(const struct guest_memory *gm, const struct vq_chain *c)
{
	struct vq_reader r;
	vq_reader_init(&r, gm, c);
	uint8_t buf[64];
	uint64_t left = vq_reader_remaining(&r);
	check(vq_read(&r, buf, 1) == (left >= 1 ? 0 : -EMSGSIZE));
	left = vq_reader_remaining(&r);
	check(vq_reader_skip(&r, 3) == (left >= 3 ? 0 : -EMSGSIZE));
	struct iovec iov[4];
	left = vq_reader_remaining(&r);
	size_t want = left < 200 ? (size_t)left : 200;
	int n = vq_reader_iov(&r, want, iov, 4);
	check(n >= 0 || n == -E2BIG);
	if (n > 0) {
		size_t total = 0;
		volatile uint8_t sink = 0;
		for (int i = 0; i < n; i++) {
			total += iov[i].iov_len;
			/* Touch both ends: ASan catches a pointer outside the mapping. */
			sink ^= ((uint8_t *)iov[i].iov_base)[0];
			sink ^= ((uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1];
		}
		(void)sink;
		check(total == want);
	}
	check(vq_read(&r, buf, vq_reader_remaining(&r) + 1) == -EMSGSIZE);
	while (vq_reader_remaining(&r) > 0) {
		uint64_t rem = vq_reader_remaining(&r);
		size_t step = rem < sizeof(buf) ? (size_t)rem : sizeof(buf);
		check(vq_read(&r, buf, step) == 0);
		check(vq_reader_remaining(&r) == rem - step);
	}
}

/* Fills the writable part, returning what was written. */
static uint32_t fill_writer(const struct guest_memory *gm, const struct vq_chain *c)
{
	struct vq_writer w;
	vq_writer_init(&w, gm, c);
	static const uint8_t hdr[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	if (vq_writer_remaining(&w) >= 2)
		check(vq_writer_skip(&w, 2) == 0);
	uint64_t left = vq_writer_remaining(&w);
	check(vq_write(&w, hdr, sizeof(hdr)) == (left >= sizeof(hdr) ? 0 : -EMSGSIZE));
	struct iovec iov[3];
	left = vq_writer_remaining(&w);
	size_t want = left < 300 ? (size_t)left : 300;
	int n = vq_writer_iov(&w, want, iov, 3);
	check(n >= 0 || n == -E2BIG);
	for (int i = 0; i < n; i++)
		memset(iov[i].iov_base, 0x5a, iov[i].iov_len);
	check(vq_writer_written(&w) <= c->writable_len);
	check(vq_writer_written(&w) + vq_writer_remaining(&w) == c->writable_len);
	return (uint32_t)vq_writer_written(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	struct guest_memory gm;
	struct gm_range ranges[] = { { GPA(0), REGION_A }, { GPA(REGION_A), REGION_B } };
	if (gm_create(&gm, ranges, 2) < 0)
		abort(); /* the harness itself is broken */
	struct vq_chain *chain = malloc(sizeof(*chain));
	if (!chain)
		abort();

	size_t mem = size - HDR;
	if (mem > REGION_A + REGION_B)
		mem = REGION_A + REGION_B;
	size_t in_a = mem < REGION_A ? mem : REGION_A;
	if (gm_write(&gm, GPA(0), data + HDR, in_a) < 0 ||
	    (mem > in_a && gm_write(&gm, GPA(REGION_A), data + HDR + in_a, mem - in_a) < 0))
		abort();

	struct virtq_config cfg = {
		.size = (uint16_t)(1u << (data[0] & 7)),
		.desc = GPA(get16(data + 2) & ~15u),
		.avail = GPA(get16(data + 4) & ~1u),
		.used = GPA(get16(data + 6) & ~3u),
		.event_idx = data[1] & 1,
		.indirect = data[1] & 2,
		.next_avail = get16(data + 8),
		.next_used = get16(data + 10),
	};
	bool toggle = data[1] & 4;
	struct virtq q;
	if (vq_init(&q, &gm, &cfg) < 0)
		goto out;

	/* Our own used-ring writes can land on the avail ring when the driver
	 * made them overlap, so bound the loop instead of trusting the ring. */
	unsigned budget = 4u * cfg.size + 16;
	bool notify_on = true;
	while (budget-- > 0) {
		bool has = vq_has_avail(&q);
		int rc = vq_pop(&q, chain);
		if (rc == 0 || rc == -EIO) {
			check(rc == 0 || q.broken);
			check(rc != 0 || !q.broken);
			check(has || rc == 0);
			break;
		}
		if (rc == -EBADMSG) {
			check(chain->head < cfg.size);
			check(chain->nr_readable == 0 && chain->nr_writable == 0);
			check(vq_push(&q, chain->head, 0) == 0);
			continue;
		}
		check(rc == 1);
		check_chain(&gm, &q, chain);
		drain_reader(&gm, chain);
		uint32_t written = fill_writer(&gm, chain);
		check(vq_push(&q, chain->head, written) == 0);
		(void)vq_needs_notify(&q);
		if (toggle) {
			notify_on = !notify_on;
			vq_set_notification(&q, notify_on);
		}
	}
	(void)vq_needs_notify(&q);
	vq_set_notification(&q, true);
	(void)vq_has_avail(&q);
out:
	free(chain);
	gm_destroy(&gm);
	return 0;
}
