/*
 * Unit tests for virtio-blk request parsing (block_request.c): chains are
 * built by the mock driver and popped through the real virtqueue code, so
 * the parser sees them exactly as the device does. Each request type that
 * should work parses to the right operation, range and status byte; every
 * malformed or forbidden request comes back with the status the spec asks
 * for (IOERR for bad ranges, sizes and writes to a read-only disk, UNSUPP
 * for types and flags we do not offer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fakes/virtq_driver.h"
#include "virtio/block/block_request.h"
#include "virtio/core/virtq.h"

#define RING 0x1000
#define HDR 0x10000   /* request headers */
#define DATA 0x20000  /* data buffers */
#define STATUS 0x80000
#define DISK_BYTES MiB(1) /* 2048 sectors */

struct fixture {
	struct guest_memory gm;
	struct virtq_driver d;
	struct virtq q;
	struct vq_chain *c;
	struct virtio_blk_options opts;
	struct blk_request req;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->c);
	struct gm_range r[] = { { GPA(0), MiB(1) } };
	assert_int_equal(gm_create(&f->gm, r, 1), 0);
	assert_int_equal(vqd_init(&f->d, &f->gm, GPA(RING), 64), 0);
	struct virtq_config cfg = vqd_config(&f->d, false, true);
	assert_int_equal(vq_init(&f->q, &f->gm, &cfg), 0);
	f->opts = (struct virtio_blk_options){ .read_only = false, .sparse = true, .block_size = 512 };
	strcpy(f->opts.id, "disk-serial");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	vqd_destroy(&f->d);
	gm_destroy(&f->gm);
	free(f->c);
	free(f);
	return 0;
}

static struct vqd_buf rbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, false }; }
static struct vqd_buf wbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, true }; }

static void put_header(struct fixture *f, uint32_t type, uint64_t sector)
{
	struct {
		le32_t type, reserved;
		le64_t sector;
	} h = { le32_make(type), le32_make(0), le64_make(sector) };
	assert_int_equal(gm_write_obj(&f->gm, GPA(HDR), &h), 0);
}

static void put_dwz(struct fixture *f, uint64_t addr, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct {
		le64_t sector;
		le32_t num, flags;
	} s = { le64_make(sector), le32_make(num), le32_make(flags) };
	assert_int_equal(gm_write_obj(&f->gm, GPA(addr), &s), 0);
}

/* Puts the chain in the ring, pops it as the device would (with indirect
 * descriptors for long chains) and parses it. */
static uint8_t parse_bufs(struct fixture *f, const struct vqd_buf *bufs, size_t n, uint64_t disk_bytes)
{
	int head = n > 8 ? vqd_add_indirect(&f->d, GPA(0xc0000), bufs, n) : vqd_add(&f->d, bufs, n);
	assert_true(head >= 0);
	(void)vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, head);
	/* Complete it so the ring never fills up. */
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	return blk_request_parse(&f->gm, f->c, disk_bytes, &f->opts, &f->req);
}

/* Header, then n data buffers (writable or not), then the status byte. */
static uint8_t parse_rw(struct fixture *f, uint32_t type, uint64_t sector, const uint32_t *lens, size_t n,
			bool writable)
{
	put_header(f, type, sector);
	struct vqd_buf b[16];
	assert_true(n + 2 <= ARRAY_SIZE(b));
	b[0] = rbuf(HDR, 16);
	uint64_t at = DATA;
	for (size_t i = 0; i < n; i++) {
		b[1 + i] = writable ? wbuf(at, lens[i]) : rbuf(at, lens[i]);
		at += lens[i];
	}
	b[1 + n] = wbuf(STATUS, 1);
	return parse_bufs(f, b, n + 2, DISK_BYTES);
}

static uint64_t iov_total(const struct iovec *iov, int n)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static void expect_status_at(const struct fixture *f, uint64_t addr)
{
	assert_true(f->req.status_addr_valid);
	assert_int_equal(gpa_val(f->req.status_addr), addr);
}

/* ---- requests that work ---- */

static void test_read(void **state)
{
	struct fixture *f = *state;
	const uint32_t lens[] = { 512, 1024 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, 4, lens, 2, true), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_READ);
	assert_int_equal(f->req.offset, 4 * 512);
	assert_int_equal(f->req.len, 1536);
	expect_status_at(f, STATUS);
	struct iovec iov[4];
	int n = blk_request_data_iov(&f->gm, f->c, &f->req, iov, 4);
	assert_int_equal(n, 2);
	assert_int_equal(iov_total(iov, n), 1536);
	assert_ptr_equal(iov[0].iov_base, gm_get_slice(&f->gm, GPA(DATA), 1));
	/* Too few iovecs: refused, not truncated. */
	assert_int_equal(blk_request_data_iov(&f->gm, f->c, &f->req, iov, 1), -E2BIG);

	/* Data and status in one writable buffer; the header split in two;
	 * the last sector of the disk. */
	put_header(f, VIRTIO_BLK_T_IN, DISK_BYTES / 512 - 1);
	const struct vqd_buf b[] = { rbuf(HDR, 8), rbuf(HDR + 8, 8), wbuf(DATA, 513) };
	assert_int_equal(parse_bufs(f, b, 3, DISK_BYTES), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_READ);
	assert_int_equal(f->req.offset, DISK_BYTES - 512);
	assert_int_equal(f->req.len, 512);
	expect_status_at(f, DATA + 512);
	n = blk_request_data_iov(&f->gm, f->c, &f->req, iov, 4);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 512); /* the status byte is not data */

	/* Many segments, through an indirect table. */
	const uint32_t many[12] = { 512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 512, 512 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, 0, many, 12, true), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.len, 12 * 512);
}

static void test_write(void **state)
{
	struct fixture *f = *state;
	const uint32_t lens[] = { 1024, 512, 2048 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_OUT, 100, lens, 3, false), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_WRITE);
	assert_int_equal(f->req.offset, 100 * 512);
	assert_int_equal(f->req.len, 3584);
	expect_status_at(f, STATUS);
	struct iovec iov[4];
	int n = blk_request_data_iov(&f->gm, f->c, &f->req, iov, 4);
	assert_int_equal(n, 3);
	assert_int_equal(iov_total(iov, n), 3584);
	/* The header is not data. */
	assert_ptr_equal(iov[0].iov_base, gm_get_slice(&f->gm, GPA(DATA), 1));

	/* Header and data in one readable buffer. */
	put_header(f, VIRTIO_BLK_T_OUT, 0);
	const struct vqd_buf b[] = { rbuf(HDR, 16 + 512), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, b, 2, DISK_BYTES), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.len, 512);
	n = blk_request_data_iov(&f->gm, f->c, &f->req, iov, 4);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].iov_base, gm_get_slice(&f->gm, GPA(HDR + 16), 1));
}

static void test_flush_and_get_id(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_FLUSH);
	expect_status_at(f, STATUS);
	struct iovec iov[2];
	assert_int_equal(blk_request_data_iov(&f->gm, f->c, &f->req, iov, 2), 0); /* no data */

	const uint32_t id_len[] = { 20 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_GET_ID, 0, id_len, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_GET_ID);
	assert_int_equal(gm_fill(&f->gm, GPA(DATA), 0xee, 20), 0);
	assert_int_equal(gm_fill(&f->gm, GPA(STATUS), 0xaa, 1), 0);
	assert_int_equal(blk_request_write_id(&f->gm, f->c, &f->opts, &f->req), 20);
	uint8_t got[20], want[20] = { 0 };
	memcpy(want, "disk-serial", 11);
	assert_int_equal(gm_read(&f->gm, GPA(DATA), got, 20), 0);
	assert_memory_equal(got, want, 20); /* NUL-padded */
	uint8_t status = 0;
	assert_int_equal(gm_read(&f->gm, GPA(STATUS), &status, 1), 0);
	assert_int_equal(status, 0xaa); /* the status byte is the caller's */

	/* A 20-character id has no terminator; a short buffer gets what fits. */
	memset(f->opts.id, 'x', 20);
	f->opts.id[20] = 0;
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_GET_ID, 0, id_len, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(blk_request_write_id(&f->gm, f->c, &f->opts, &f->req), 20);
	assert_int_equal(gm_read(&f->gm, GPA(DATA), got, 20), 0);
	memset(want, 'x', 20);
	assert_memory_equal(got, want, 20);
	const uint32_t short_len[] = { 6 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_GET_ID, 0, short_len, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(blk_request_write_id(&f->gm, f->c, &f->opts, &f->req), 6);
}

static uint8_t parse_dwz_req(struct fixture *f, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags,
			     uint64_t disk_bytes)
{
	put_header(f, type, 0);
	put_dwz(f, DATA, sector, num, flags);
	const struct vqd_buf b[] = { rbuf(HDR, 16), rbuf(DATA, 16), wbuf(STATUS, 1) };
	return parse_bufs(f, b, 3, disk_bytes);
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 8, 16, 0, DISK_BYTES), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_DISCARD);
	assert_int_equal(f->req.offset, 8 * 512);
	assert_int_equal(f->req.len, 16 * 512);
	expect_status_at(f, STATUS);

	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 2048, 0, DISK_BYTES), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_WRITE_ZEROES);
	assert_int_equal(f->req.len, DISK_BYTES);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 1, 1, VIRTIO_BLK_WZ_FLAG_UNMAP, DISK_BYTES),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.op, BLK_REQ_WRITE_ZEROES);

	/* The limits announced in the configuration space are accepted. */
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS, 0, GiB(8)),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(
		parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS, 0, GiB(8)),
		VIRTIO_BLK_S_OK);
	/* A zero-sector range is nothing to do, and harmless. */
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 2048, 0, 0, DISK_BYTES), VIRTIO_BLK_S_OK);
	assert_int_equal(f->req.len, 0);
}

/* ---- requests that are refused ---- */

static void test_short_or_missing_parts(void **state)
{
	struct fixture *f = *state;
	put_header(f, VIRTIO_BLK_T_IN, 0);
	/* A header of 15 bytes. */
	const struct vqd_buf shorthdr[] = { rbuf(HDR, 15), wbuf(DATA, 512), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, shorthdr, 3, DISK_BYTES), VIRTIO_BLK_S_IOERR);
	expect_status_at(f, STATUS);
	assert_int_equal(f->req.op, BLK_REQ_NONE);
	/* No readable part at all. */
	const struct vqd_buf nohdr[] = { wbuf(DATA, 512), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, nohdr, 2, DISK_BYTES), VIRTIO_BLK_S_IOERR);
	expect_status_at(f, STATUS);
	/* No writable byte: no status to answer with. */
	const struct vqd_buf nostatus[] = { rbuf(HDR, 16), rbuf(DATA, 512) };
	assert_int_equal(parse_bufs(f, nostatus, 2, DISK_BYTES), VIRTIO_BLK_S_IOERR);
	assert_false(f->req.status_addr_valid);
	assert_int_equal(f->req.op, BLK_REQ_NONE);
	put_header(f, VIRTIO_BLK_T_FLUSH, 0);
	const struct vqd_buf hdronly[] = { rbuf(HDR, 16) };
	assert_int_equal(parse_bufs(f, hdronly, 1, DISK_BYTES), VIRTIO_BLK_S_IOERR);
	assert_false(f->req.status_addr_valid);
}

static void test_bad_ranges(void **state)
{
	struct fixture *f = *state;
	const uint32_t two[] = { 1024 };
	const uint64_t cap = DISK_BYTES / 512;
	const uint64_t bad_sectors[] = { cap - 1, cap, cap + 1, UINT64_MAX / 512, UINT64_MAX / 512 + 1, UINT64_MAX };
	for (size_t i = 0; i < ARRAY_SIZE(bad_sectors); i++) {
		assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, bad_sectors[i], two, 1, true), VIRTIO_BLK_S_IOERR);
		assert_int_equal(f->req.op, BLK_REQ_NONE);
		expect_status_at(f, STATUS);
		assert_int_equal(parse_rw(f, VIRTIO_BLK_T_OUT, bad_sectors[i], two, 1, false), VIRTIO_BLK_S_IOERR);
		assert_int_equal(f->req.op, BLK_REQ_NONE);
		if (bad_sectors[i] >= cap - 1) {
			assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, bad_sectors[i], 2, 0, DISK_BYTES),
					 VIRTIO_BLK_S_IOERR);
			assert_int_equal(
				parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, bad_sectors[i], 2, 0, DISK_BYTES),
				VIRTIO_BLK_S_IOERR);
		}
	}
	/* Past the announced maxima, even on a disk big enough. */
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0, GiB(8)),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(
		parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS + 1, 0, GiB(8)),
		VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, UINT32_MAX, 0, UINT64_MAX),
			 VIRTIO_BLK_S_IOERR);
	/* A disk smaller than one sector has no sectors. */
	const uint32_t one[] = { 512 };
	put_header(f, VIRTIO_BLK_T_IN, 0);
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, 0, one, 1, true), VIRTIO_BLK_S_OK);
	const struct vqd_buf b[] = { rbuf(HDR, 16), wbuf(DATA, 512), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, b, 3, 511), VIRTIO_BLK_S_IOERR);
}

static void test_not_sector_multiples(void **state)
{
	struct fixture *f = *state;
	const uint32_t odd[][2] = { { 511, 0 }, { 513, 0 }, { 512, 1 }, { 1, 0 }, { 256, 255 } };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		size_t n = odd[i][1] ? 2 : 1;
		assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, 0, odd[i], n, true), VIRTIO_BLK_S_IOERR);
		assert_int_equal(parse_rw(f, VIRTIO_BLK_T_OUT, 0, odd[i], n, false), VIRTIO_BLK_S_IOERR);
	}
	/* A two-part sector is fine: only the total counts. */
	const uint32_t halves[] = { 256, 256 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_OUT, 0, halves, 2, false), VIRTIO_BLK_S_OK);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	f->opts.read_only = true;
	const uint32_t one[] = { 512 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_OUT, 0, one, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->req.op, BLK_REQ_NONE);
	expect_status_at(f, STATUS);
	/* Not offered on a read-only disk: unsupported. */
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, 1, 0, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->req.op, BLK_REQ_NONE);
	/* What does not write still works. */
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_IN, 0, one, 1, true), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false), VIRTIO_BLK_S_OK);
	const uint32_t id_len[] = { 20 };
	assert_int_equal(parse_rw(f, VIRTIO_BLK_T_GET_ID, 0, id_len, 1, true), VIRTIO_BLK_S_OK);
}

static void test_unsupported(void **state)
{
	struct fixture *f = *state;
	/* Discard is offered only for sparse disks. */
	f->opts.sparse = false;
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, 1, 0, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0, DISK_BYTES), VIRTIO_BLK_S_OK);
	f->opts.sparse = true;
	/* Unmap makes no sense for discard; other flag bits are reserved. */
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, 1, VIRTIO_BLK_WZ_FLAG_UNMAP, DISK_BYTES),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 2, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz_req(f, VIRTIO_BLK_T_DISCARD, 0, 1, 0x80000000u, DISK_BYTES),
			 VIRTIO_BLK_S_UNSUPP);
	/* We announce one segment per request, of exactly 16 bytes. */
	put_header(f, VIRTIO_BLK_T_DISCARD, 0);
	put_dwz(f, DATA, 0, 1, 0);
	put_dwz(f, DATA + 16, 8, 1, 0);
	const struct vqd_buf two_segs[] = { rbuf(HDR, 16), rbuf(DATA, 32), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, two_segs, 3, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	const struct vqd_buf short_seg[] = { rbuf(HDR, 16), rbuf(DATA, 8), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, short_seg, 3, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	const struct vqd_buf no_seg[] = { rbuf(HDR, 16), wbuf(STATUS, 1) };
	assert_int_equal(parse_bufs(f, no_seg, 2, DISK_BYTES), VIRTIO_BLK_S_UNSUPP);
	/* Types we do not know, including legacy ones. */
	const uint32_t types[] = { 2, 3, 5, 7, 9, 10, 12, 14, 0x80000000u, 0x80000001u, UINT32_MAX };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		assert_int_equal(parse_rw(f, types[i], 0, NULL, 0, false), VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(f->req.op, BLK_REQ_NONE);
		expect_status_at(f, STATUS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_or_missing_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_sector_multiples, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
