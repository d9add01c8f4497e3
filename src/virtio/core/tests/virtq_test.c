/*
 * Unit tests for split virtqueues: the validated chain walk (every refusal
 * listed in virtq.h), the used ring, notification suppression with and
 * without event-idx, index wrap-around, and the chain reader/writer. The
 * mock driver of tests/fakes plays the guest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "fakes/virtq_driver.h"
#include "virtio/core/virtio.h"
#include "virtio/core/virtq.h"

#define RING_BASE 0x1000
#define TABLE 0x80000 /* indirect tables */
#define DATA 0x90000  /* buffers */

struct fixture {
	struct guest_memory gm;
	struct virtq_driver d;
	struct virtq q;
	struct vq_chain *c; /* 16 KiB: on the heap */
};

/* A queue of `size` at RING_BASE in 1 MiB of guest memory at GPA 0, both
 * indices starting at `start`. */
static struct fixture *fixture_new_at(uint16_t size, bool event_idx, bool indirect, uint16_t start)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->c);
	struct gm_range r[] = { { GPA(0), MiB(1) } };
	assert_int_equal(gm_create(&f->gm, r, 1), 0);
	assert_int_equal(vqd_init(&f->d, &f->gm, GPA(RING_BASE), size), 0);
	vqd_start_at(&f->d, start);
	struct virtq_config cfg = vqd_config(&f->d, event_idx, indirect);
	assert_int_equal(vq_init(&f->q, &f->gm, &cfg), 0);
	return f;
}

static struct fixture *fixture_new(uint16_t size, bool event_idx, bool indirect)
{
	return fixture_new_at(size, event_idx, indirect, 0);
}

static void fixture_free(struct fixture *f)
{
	vqd_destroy(&f->d);
	gm_destroy(&f->gm);
	free(f->c);
	free(f);
}

static struct vqd_buf rbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, false }; }
static struct vqd_buf wbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, true }; }

/* Pops a chain expected to be malformed, checks the contract (head set,
 * nothing usable, consumed, queue not broken) and completes it. */
static void expect_bad(struct fixture *f, int head)
{
	assert_int_equal(vq_pop(&f->q, f->c), -EBADMSG);
	assert_int_equal(f->c->head, head);
	assert_int_equal(f->c->nr_readable + f->c->nr_writable, 0);
	assert_int_equal(f->c->readable_len + f->c->writable_len, 0);
	assert_false(f->q.broken);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), 0);
	assert_int_equal(vq_push(&f->q, (uint16_t)head, 0), 0);
}

/* Puts a raw head into the ring and publishes it. */
static void publish_head(struct fixture *f, uint16_t head)
{
	vqd_put_head(&f->d, head);
	vqd_publish(&f->d);
}

static void test_init_checks(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r[] = { { GPA(0), MiB(1) } };
	assert_int_equal(gm_create(&gm, r, 1), 0);
	struct virtq q;
	struct virtq_config ok = { .size = 256, .desc = GPA(0x1000), .avail = GPA(0x2000), .used = GPA(0x3000) };
	assert_int_equal(vq_init(&q, &gm, &ok), 0);
	assert_false(q.broken);

	struct virtq_config c = ok;
	c.size = 0;
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	assert_true(q.broken);
	c.size = 3;
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c.size = 65535;
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c = ok;
	c.desc = GPA(0x1008);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c = ok;
	c.avail = GPA(0x2001);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c = ok;
	c.used = GPA(0x3002);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	/* Each ring must fit, trailing event fields included. */
	c = ok;
	c.desc = GPA(MiB(1) - 16 * 255);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c = ok;
	c.avail = GPA(MiB(1) - (6 + 2 * 256) + 2);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c.avail = GPA(MiB(1) - (6 + 2 * 256));
	assert_int_equal(vq_init(&q, &gm, &c), 0);
	c = ok;
	c.used = GPA(MiB(1) - (6 + 8 * 256) + 4);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	c = ok;
	c.used = GPA(UINT64_MAX - 3);
	assert_int_equal(vq_init(&q, &gm, &c), -EINVAL);
	/* A queue that failed to initialise is never used. */
	struct vq_chain *ch = malloc(sizeof(*ch));
	assert_non_null(ch);
	assert_int_equal(vq_pop(&q, ch), -EIO);
	assert_false(vq_has_avail(&q));
	assert_int_equal(vq_push(&q, 0, 0), -EIO);
	free(ch);
	c = ok;
	c.size = VIRTQ_MAX_SIZE;
	c.desc = GPA(0);
	c.avail = GPA(0x80000);
	c.used = GPA(0x90000);
	assert_int_equal(vq_init(&q, &gm, &c), 0);
	gm_destroy(&gm);
}

static void test_simple_chain(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(16, false, false);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), 0);

	struct vqd_buf b[] = { rbuf(DATA, 16), wbuf(DATA + 0x100, 100), wbuf(DATA + 0x200, 28) };
	int head = vqd_add(&f->d, b, 3);
	assert_true(head >= 0);
	/* Not published yet. */
	assert_false(vq_has_avail(&f->q));
	vqd_publish(&f->d);
	assert_true(vq_has_avail(&f->q));

	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, head);
	assert_int_equal(f->c->nr_readable, 1);
	assert_int_equal(f->c->nr_writable, 2);
	assert_int_equal(f->c->readable_len, 16);
	assert_int_equal(f->c->writable_len, 128);
	assert_int_equal(gpa_val(f->c->segs[0].addr), DATA);
	assert_int_equal(f->c->segs[0].len, 16);
	assert_int_equal(gpa_val(f->c->segs[1].addr), DATA + 0x100);
	assert_int_equal(f->c->segs[1].len, 100);
	assert_int_equal(gpa_val(f->c->segs[2].addr), DATA + 0x200);
	assert_int_equal(f->c->segs[2].len, 28);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), 0);

	/* Only readable, only writable. */
	struct vqd_buf r1[] = { rbuf(DATA, 1) };
	struct vqd_buf w1[] = { wbuf(DATA, 4096) };
	int h1 = vqd_add(&f->d, r1, 1), h2 = vqd_add(&f->d, w1, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, h1);
	assert_int_equal(f->c->nr_readable, 1);
	assert_int_equal(f->c->nr_writable, 0);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, h2);
	assert_int_equal(f->c->nr_readable, 0);
	assert_int_equal(f->c->nr_writable, 1);
	assert_int_equal(f->c->writable_len, 4096);
	fixture_free(f);
}

static void test_push_used_ring(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	struct vqd_buf b[] = { wbuf(DATA, 64) };
	int h[3];
	for (int i = 0; i < 3; i++)
		h[i] = vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	/* Completed out of order, as devices may. */
	int order[3] = { 1, 0, 2 };
	uint16_t heads[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&f->q, f->c), 1);
		heads[i] = f->c->head;
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_push(&f->q, heads[order[i]], (uint32_t)(10 + i)), 0);
	assert_int_equal(vqd_used_idx(&f->d), 3);
	assert_int_equal(f->q.next_used, 3);
	for (int i = 0; i < 3; i++) {
		uint16_t id;
		uint32_t len;
		assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
		assert_int_equal(id, h[order[i]]);
		assert_int_equal(len, 10 + i);
	}
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 0);
	/* A head the device could not have popped is a device bug. */
	assert_int_equal(vq_push(&f->q, 8, 0), -EINVAL);
	fixture_free(f);
}

static void test_indirect(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(16, false, true);
	struct vqd_buf b[] = { rbuf(DATA, 10), rbuf(DATA + 0x100, 20), wbuf(DATA + 0x200, 30),
			       wbuf(DATA + 0x300, 40) };
	int head = vqd_add_indirect(&f->d, GPA(TABLE), b, 4);
	assert_true(head >= 0);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, head);
	assert_int_equal(f->c->nr_readable, 2);
	assert_int_equal(f->c->nr_writable, 2);
	assert_int_equal(f->c->readable_len, 30);
	assert_int_equal(f->c->writable_len, 70);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gpa_val(f->c->segs[i].addr), gpa_val(b[i].addr));
		assert_int_equal(f->c->segs[i].len, b[i].len);
	}
	assert_int_equal(vq_push(&f->q, f->c->head, 70), 0);

	/* Direct descriptors followed by one indirect one (2.7.5.3.2), with the
	 * indirect table entries linked out of order, and WRITE on the pointing
	 * descriptor ignored. */
	assert_int_equal(vqd_write_desc(&f->d, 5, DATA, 8, VIRTQ_DESC_F_NEXT, 9), 0);
	assert_int_equal(vqd_write_desc(&f->d, 9, TABLE + 0x100, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0),
			 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), 0, DATA + 0x10, 8, VIRTQ_DESC_F_NEXT, 2),
			 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), 2, DATA + 0x20, 8,
					      VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1),
			 0);
	assert_int_equal(
		vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), 1, DATA + 0x30, 8, VIRTQ_DESC_F_WRITE, 0), 0);
	publish_head(f, 5);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, 5);
	assert_int_equal(f->c->nr_readable, 2);
	assert_int_equal(f->c->nr_writable, 2);
	assert_int_equal(gpa_val(f->c->segs[0].addr), DATA);
	assert_int_equal(gpa_val(f->c->segs[1].addr), DATA + 0x10);
	assert_int_equal(gpa_val(f->c->segs[2].addr), DATA + 0x20);
	assert_int_equal(gpa_val(f->c->segs[3].addr), DATA + 0x30);
	fixture_free(f);
}

/* A chain may not exceed the queue size, even through an indirect table,
 * nor VIRTQ_MAX_CHAIN. */
static void test_chain_length_limits(void **state)
{
	(void)state;
	/* Size 4: an indirect table of 5 entries is longer than the queue. */
	struct fixture *f = fixture_new(4, false, true);
	struct vqd_buf b[5];
	for (int i = 0; i < 5; i++)
		b[i] = rbuf(DATA + 16 * (uint64_t)i, 16);
	int head = vqd_add_indirect(&f->d, GPA(TABLE), b, 5);
	vqd_publish(&f->d);
	expect_bad(f, head);
	head = vqd_add_indirect(&f->d, GPA(TABLE), b, 4);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->nr_readable, 4);
	/* Direct descriptors and indirect entries are counted together. */
	assert_int_equal(vqd_write_desc(&f->d, 0, DATA, 4, VIRTQ_DESC_F_NEXT, 1), 0);
	assert_int_equal(vqd_write_desc(&f->d, 1, TABLE + 0x100, 64, VIRTQ_DESC_F_INDIRECT, 0), 0);
	for (uint32_t j = 0; j < 4; j++)
		assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), j, DATA, 4,
						      j < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(j + 1)),
				 0);
	publish_head(f, 0);
	expect_bad(f, 0);
	fixture_free(f);

	/* Size 2048: VIRTQ_MAX_CHAIN caps a direct chain below the queue size. */
	f = fixture_new(2048, false, false);
	struct vqd_buf *many = calloc(VIRTQ_MAX_CHAIN + 1, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i <= VIRTQ_MAX_CHAIN; i++)
		many[i] = i < 600 ? rbuf(DATA, 1) : wbuf(DATA + 1, 2);
	head = vqd_add(&f->d, many, VIRTQ_MAX_CHAIN);
	assert_true(head >= 0);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->nr_readable, 600);
	assert_int_equal(f->c->nr_writable, VIRTQ_MAX_CHAIN - 600);
	assert_int_equal(f->c->readable_len, 600);
	assert_int_equal(f->c->writable_len, 2 * (VIRTQ_MAX_CHAIN - 600));
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	head = vqd_add(&f->d, many, VIRTQ_MAX_CHAIN + 1);
	assert_true(head >= 0);
	vqd_publish(&f->d);
	expect_bad(f, head);
	free(many);
	fixture_free(f);
}

static void test_loops(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	/* 0 -> 1 -> 0 ... */
	assert_int_equal(vqd_write_desc(&f->d, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1), 0);
	assert_int_equal(vqd_write_desc(&f->d, 1, DATA, 8, VIRTQ_DESC_F_NEXT, 0), 0);
	publish_head(f, 0);
	expect_bad(f, 0);
	/* A descriptor pointing at itself, zero-length so it adds no bytes. */
	assert_int_equal(vqd_write_desc(&f->d, 3, 0, 0, VIRTQ_DESC_F_NEXT, 3), 0);
	publish_head(f, 3);
	expect_bad(f, 3);
	/* A loop inside an indirect table. */
	assert_int_equal(vqd_write_desc(&f->d, 2, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 1, DATA, 8, VIRTQ_DESC_F_NEXT, 0), 0);
	publish_head(f, 2);
	expect_bad(f, 2);
	fixture_free(f);
}

static void test_index_out_of_range(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	/* next beyond the table. */
	assert_int_equal(vqd_write_desc(&f->d, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 8), 0);
	publish_head(f, 0);
	expect_bad(f, 0);
	assert_int_equal(vqd_write_desc(&f->d, 0, DATA, 8, VIRTQ_DESC_F_NEXT, 0xffff), 0);
	publish_head(f, 0);
	expect_bad(f, 0);
	/* next beyond an indirect table of 2 entries. */
	assert_int_equal(vqd_write_desc(&f->d, 1, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 0, DATA, 8, VIRTQ_DESC_F_NEXT, 2), 0);
	publish_head(f, 1);
	expect_bad(f, 1);
	fixture_free(f);
}

static void test_head_out_of_range_breaks(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	struct vqd_buf b[] = { rbuf(DATA, 8) };
	vqd_add(&f->d, b, 1);
	vqd_put_head(&f->d, 8);
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	assert_int_equal(vq_pop(&f->q, f->c), -EIO);
	assert_true(f->q.broken);
	/* Nothing more happens on a broken queue. */
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), -EIO);
	assert_int_equal(vq_push(&f->q, 0, 0), -EIO);
	assert_false(vq_needs_notify(&f->q));
	vq_set_notification(&f->q, false);
	assert_int_equal(vqd_used_flags(&f->d), 0);
	assert_int_equal(vqd_used_idx(&f->d), 1);
	fixture_free(f);
}

static void test_avail_delta_breaks(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	struct vqd_buf b[] = { rbuf(DATA, 8) };
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	/* Exactly size outstanding is fine... */
	vqd_set_avail_idx(&f->d, 1 + 8);
	assert_true(vq_has_avail(&f->q));
	assert_false(f->q.broken);
	/* ...one more is not, nor is the index moving backwards. */
	vqd_set_avail_idx(&f->d, 1 + 9);
	assert_int_equal(vq_pop(&f->q, f->c), -EIO);
	assert_true(f->q.broken);
	assert_int_equal(vq_pop(&f->q, f->c), -EIO);
	fixture_free(f);

	f = fixture_new(8, false, false);
	vqd_set_avail_idx(&f->d, 0xffff);
	assert_int_equal(vq_pop(&f->q, f->c), -EIO);
	assert_true(f->q.broken);
	fixture_free(f);
}

static void test_buffer_outside_memory(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	struct vqd_buf bad[][2] = {
		{ rbuf(DATA, 8), wbuf(MiB(1), 1) },		   /* just past the end */
		{ rbuf(MiB(1) - 16, 17), wbuf(DATA, 1) },	   /* crosses the end */
		{ rbuf(DATA, 8), wbuf(MiB(1) - 1, 0xffffffff) },  /* way past */
		{ rbuf(UINT64_MAX - 7, 16), wbuf(DATA, 1) },	   /* wraps the address space */
		{ rbuf(GiB(64), 4), wbuf(DATA, 1) },		   /* nowhere near */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int head = vqd_add(&f->d, bad[i], 2);
		assert_true(head >= 0);
		vqd_publish(&f->d);
		expect_bad(f, head);
		uint16_t id;
		uint32_t len;
		assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
		assert_int_equal(id, head);
		/* The same inside an indirect table. */
		head = vqd_add_indirect(&f->d, GPA(TABLE), bad[i], 2);
		vqd_publish(&f->d);
		expect_bad(f, head);
		assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	}
	/* The last byte of memory is fine. */
	struct vqd_buf edge[] = { rbuf(MiB(1) - 1, 1) };
	vqd_add(&f->d, edge, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	/* The indirect table itself outside memory, or crossing its end. */
	assert_int_equal(vqd_write_desc(&f->d, 7, MiB(1) - 16, 32, VIRTQ_DESC_F_INDIRECT, 0), 0);
	publish_head(f, 7);
	expect_bad(f, 7);
	assert_int_equal(vqd_write_desc(&f->d, 7, MiB(2), 16, VIRTQ_DESC_F_INDIRECT, 0), 0);
	publish_head(f, 7);
	expect_bad(f, 7);
	fixture_free(f);
}

/* Two regions back to back in GPA are still two regions: a buffer must lie
 * inside one. */
static void test_buffer_crossing_regions(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r[] = { { GPA(0), MiB(1) }, { GPA(MiB(1)), MiB(1) } };
	assert_int_equal(gm_create(&gm, r, 2), 0);
	struct virtq_driver d;
	assert_int_equal(vqd_init(&d, &gm, GPA(RING_BASE), 8), 0);
	struct virtq_config cfg = vqd_config(&d, false, false);
	struct virtq q;
	assert_int_equal(vq_init(&q, &gm, &cfg), 0);
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);
	struct vqd_buf cross[] = { rbuf(MiB(1) - 8, 16) };
	struct vqd_buf inside[] = { rbuf(MiB(1) - 8, 8), rbuf(MiB(1), 8) };
	int h1 = vqd_add(&d, cross, 1);
	vqd_add(&d, inside, 2);
	vqd_publish(&d);
	assert_int_equal(vq_pop(&q, c), -EBADMSG);
	assert_int_equal(c->head, h1);
	assert_int_equal(vq_pop(&q, c), 1);
	assert_int_equal(c->readable_len, 16);
	/* The reader crosses the two segments, hence the regions, fine. */
	uint8_t pattern[16], out[16];
	for (int i = 0; i < 16; i++)
		pattern[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(gm_write(&gm, GPA(MiB(1) - 8), pattern, 8), 0);
	assert_int_equal(gm_write(&gm, GPA(MiB(1)), pattern + 8, 8), 0);
	struct vq_reader rd;
	vq_reader_init(&rd, &gm, c);
	assert_int_equal(vq_read(&rd, out, 16), 0);
	assert_memory_equal(out, pattern, 16);
	free(c);
	vqd_destroy(&d);
	gm_destroy(&gm);
}

static void test_zero_length(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	/* Zero-length descriptors count towards the chain but are not stored,
	 * and their address is not looked at. */
	struct vqd_buf b[] = { rbuf(DATA, 4), rbuf(GiB(100), 0), wbuf(0, 0), wbuf(DATA + 0x10, 4), wbuf(DATA, 0) };
	int head = vqd_add(&f->d, b, 5);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, head);
	assert_int_equal(f->c->nr_readable, 1);
	assert_int_equal(f->c->nr_writable, 1);
	assert_int_equal(gpa_val(f->c->segs[1].addr), DATA + 0x10);
	/* A chain of nothing but a zero-length buffer is an empty chain. */
	struct vqd_buf z[] = { wbuf(DATA, 0) };
	vqd_add(&f->d, z, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->nr_readable + f->c->nr_writable, 0);
	struct vq_reader r;
	vq_reader_init(&r, &f->gm, f->c);
	uint8_t x;
	assert_int_equal(vq_read(&r, &x, 1), -EMSGSIZE);
	assert_int_equal(vq_read(&r, &x, 0), 0);
	/* Zero-length entries in an indirect table too. */
	vqd_add_indirect(&f->d, GPA(TABLE), b, 5);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->nr_readable, 1);
	assert_int_equal(f->c->nr_writable, 1);
	fixture_free(f);
}

/* Lengths whose sum does not fit 32 bits (what vq_push can report). The
 * memory is a sparse memfd: nothing is touched. */
static void test_length_overflow(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r[] = { { GPA(0), MiB(1) }, { GPA(GiB(4)), GiB(4) } };
	assert_int_equal(gm_create(&gm, r, 2), 0);
	struct virtq_driver d;
	assert_int_equal(vqd_init(&d, &gm, GPA(RING_BASE), 8), 0);
	struct virtq_config cfg = vqd_config(&d, false, true);
	struct virtq q;
	assert_int_equal(vq_init(&q, &gm, &cfg), 0);
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);

	struct vqd_buf fits[] = { rbuf(GiB(4), 0x7fffffff), rbuf(GiB(6), 0x80000000), wbuf(GiB(4), 0xffffffff) };
	int h_f = vqd_add(&d, fits, 3);
	struct vqd_buf over_r[] = { rbuf(GiB(4), 0x80000000), rbuf(GiB(6), 0x80000000) };
	int h_r = vqd_add(&d, over_r, 2);
	struct vqd_buf over_w[] = { rbuf(0, 1), wbuf(GiB(4), 0xffffffff), wbuf(GiB(4), 1) };
	int h_w = vqd_add(&d, over_w, 3);
	vqd_publish(&d);
	assert_int_equal(vq_pop(&q, c), 1);
	assert_int_equal(c->readable_len, 0xffffffffULL);
	assert_int_equal(c->writable_len, 0xffffffffULL);
	assert_int_equal(vq_pop(&q, c), -EBADMSG);
	assert_int_equal(c->head, h_r);
	assert_int_equal(vq_pop(&q, c), -EBADMSG);
	assert_int_equal(c->head, h_w);
	/* Give the driver its descriptors back. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_push(&q, (uint16_t)(i == 0 ? h_f : i == 1 ? h_r : h_w), 0), 0);
	uint16_t id;
	uint32_t len;
	while (vqd_get_used(&d, &id, &len) == 1)
		;
	/* And inside an indirect table. */
	int h_i = vqd_add_indirect(&d, GPA(TABLE), over_r, 2);
	vqd_publish(&d);
	assert_int_equal(vq_pop(&q, c), -EBADMSG);
	assert_int_equal(c->head, h_i);
	assert_false(q.broken);
	free(c);
	vqd_destroy(&d);
	gm_destroy(&gm);
}

static void test_indirect_refusals(void **state)
{
	(void)state;
	struct vqd_buf b[] = { rbuf(DATA, 8), wbuf(DATA + 8, 8) };

	/* Not negotiated. */
	struct fixture *f = fixture_new(8, false, false);
	int head = vqd_add_indirect(&f->d, GPA(TABLE), b, 2);
	vqd_publish(&f->d);
	expect_bad(f, head);
	fixture_free(f);

	f = fixture_new(8, false, true);
	/* Nested: an indirect table entry pointing to another table. */
	assert_int_equal(vqd_write_desc(&f->d, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 0, DATA, 8, VIRTQ_DESC_F_NEXT, 1), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 1, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), 0, DATA, 8, 0, 0), 0);
	publish_head(f, 0);
	expect_bad(f, 0);
	/* INDIRECT together with NEXT. */
	assert_int_equal(vqd_write_desc(&f->d, 1, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 2),
			 0);
	assert_int_equal(vqd_write_desc(&f->d, 2, DATA, 8, VIRTQ_DESC_F_WRITE, 0), 0);
	publish_head(f, 1);
	expect_bad(f, 1);
	/* Empty table. */
	assert_int_equal(vqd_write_desc(&f->d, 3, TABLE + 0x100, 0, VIRTQ_DESC_F_INDIRECT, 0), 0);
	publish_head(f, 3);
	expect_bad(f, 3);
	/* Length not a multiple of 16. */
	uint32_t odd[] = { 1, 15, 17, 24, 40 };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		assert_int_equal(vqd_write_desc(&f->d, 3, TABLE + 0x100, odd[i], VIRTQ_DESC_F_INDIRECT, 0), 0);
		publish_head(f, 3);
		expect_bad(f, 3);
	}
	/* More than VIRTQ_MAX_CHAIN entries, even if the chain in it is short. */
	assert_int_equal(vqd_write_desc(&f->d, 4, TABLE, 16 * (VIRTQ_MAX_CHAIN + 1), VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE), 0, DATA, 8, 0, 0), 0);
	publish_head(f, 4);
	expect_bad(f, 4);
	/* ...while a table of exactly VIRTQ_MAX_CHAIN entries is fine. */
	assert_int_equal(vqd_write_desc(&f->d, 4, TABLE, 16 * VIRTQ_MAX_CHAIN, VIRTQ_DESC_F_INDIRECT, 0), 0);
	publish_head(f, 4);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->readable_len, 8);
	fixture_free(f);
}

static void test_readable_after_writable(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	struct vqd_buf b[] = { rbuf(DATA, 8), wbuf(DATA + 8, 8), rbuf(DATA + 16, 8) };
	int head = vqd_add(&f->d, b, 3);
	vqd_publish(&f->d);
	expect_bad(f, head);
	head = vqd_add_indirect(&f->d, GPA(TABLE), b, 3);
	vqd_publish(&f->d);
	expect_bad(f, head);
	/* Writable direct descriptor then an indirect table with a readable
	 * entry: still readable after writable. */
	assert_int_equal(vqd_write_desc(&f->d, 6, DATA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7), 0);
	assert_int_equal(vqd_write_desc(&f->d, 7, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0), 0);
	assert_int_equal(vqd_write_table_desc(&f->gm, GPA(TABLE + 0x100), 0, DATA, 8, 0, 0), 0);
	publish_head(f, 6);
	expect_bad(f, 6);
	fixture_free(f);
}

/* After a malformed chain the queue goes on: the next chains pop fine. */
static void test_bad_chain_then_good(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	struct vqd_buf good[] = { rbuf(DATA, 8) };
	struct vqd_buf bad[] = { wbuf(DATA, 8), rbuf(DATA, 8) };
	int h1 = vqd_add(&f->d, bad, 2);
	int h2 = vqd_add(&f->d, good, 1);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), -EBADMSG);
	assert_int_equal(f->c->head, h1);
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(f->c->head, h2);
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	assert_int_equal(id, h1);
	assert_int_equal(len, 0);
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	assert_int_equal(id, h2);
	fixture_free(f);
}

/* Both 16-bit indices wrap; the ring positions are taken modulo size. */
static void test_index_wrap(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r[] = { { GPA(0), MiB(1) } };
	assert_int_equal(gm_create(&gm, r, 1), 0);
	struct virtq_driver d;
	assert_int_equal(vqd_init(&d, &gm, GPA(RING_BASE), 4), 0);
	vqd_start_at(&d, 65533);
	struct virtq_config cfg = vqd_config(&d, true, false);
	struct virtq q;
	assert_int_equal(vq_init(&q, &gm, &cfg), 0);
	struct vq_chain *c = malloc(sizeof(*c));
	assert_non_null(c);
	for (int round = 0; round < 5; round++) {
		struct vqd_buf b[] = { rbuf(DATA + 16 * (uint64_t)round, 4), wbuf(DATA + 0x100, 8) };
		int h1 = vqd_add(&d, b, 2), h2 = vqd_add(&d, b, 1);
		assert_true(h1 >= 0 && h2 >= 0);
		vqd_publish(&d);
		assert_int_equal(vq_pop(&q, c), 1);
		assert_int_equal(c->head, h1);
		assert_int_equal(gpa_val(c->segs[0].addr), DATA + 16 * (uint64_t)round);
		assert_int_equal(vq_push(&q, c->head, (uint32_t)round), 0);
		assert_int_equal(vq_pop(&q, c), 1);
		assert_int_equal(c->head, h2);
		assert_int_equal(vq_push(&q, c->head, 100), 0);
		assert_int_equal(vq_pop(&q, c), 0);
		uint16_t id;
		uint32_t len;
		assert_int_equal(vqd_get_used(&d, &id, &len), 1);
		assert_int_equal(id, h1);
		assert_int_equal(len, round);
		assert_int_equal(vqd_get_used(&d, &id, &len), 1);
		assert_int_equal(id, h2);
		assert_int_equal(len, 100);
	}
	assert_int_equal(q.next_avail, (uint16_t)(65533 + 10));
	assert_int_equal(vqd_used_idx(&d), (uint16_t)(65533 + 10));
	/* Across the wrap, `size` outstanding is still fine and one more not. */
	vqd_set_avail_idx(&d, (uint16_t)(q.next_avail + 4));
	assert_true(vq_has_avail(&q));
	vqd_set_avail_idx(&d, (uint16_t)(q.next_avail + 5));
	assert_int_equal(vq_pop(&q, c), -EIO);
	free(c);
	vqd_destroy(&d);
	gm_destroy(&gm);
}

static void complete_one(struct fixture *f)
{
	struct vqd_buf b[] = { wbuf(DATA, 8) };
	assert_true(vqd_add(&f->d, b, 1) >= 0);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(vq_push(&f->q, f->c->head, 8), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
}

static void test_notify_flags(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	/* Interrupts: the driver's NO_INTERRUPT flag. */
	complete_one(f);
	assert_true(vq_needs_notify(&f->q));
	vqd_set_avail_flags(&f->d, VIRTQ_AVAIL_F_NO_INTERRUPT);
	complete_one(f);
	assert_false(vq_needs_notify(&f->q));
	vqd_set_avail_flags(&f->d, 0);
	assert_true(vq_needs_notify(&f->q));

	/* Kicks: our NO_NOTIFY flag. */
	assert_int_equal(vqd_used_flags(&f->d), 0);
	uint16_t old = f->d.published;
	struct vqd_buf b[] = { rbuf(DATA, 1) };
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_true(vqd_kick_needed(&f->d, false, old));
	vq_set_notification(&f->q, false);
	assert_int_equal(vqd_used_flags(&f->d), VIRTQ_USED_F_NO_NOTIFY);
	old = f->d.published;
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_false(vqd_kick_needed(&f->d, false, old));
	vq_set_notification(&f->q, true);
	assert_int_equal(vqd_used_flags(&f->d), 0);
	/* The re-check after enabling finds what arrived meanwhile. */
	assert_true(vq_has_avail(&f->q));

	/* virtio_queue_notify raises the call eventfd only when due. */
	int call = evfd_create();
	assert_true(call >= 0);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	assert_int_equal(virtio_queue_notify(&f->q, call), 0);
	assert_int_equal(evfd_drain(call), 1);
	vqd_set_avail_flags(&f->d, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(vq_push(&f->q, f->c->head, 0), 0);
	assert_int_equal(virtio_queue_notify(&f->q, call), 0);
	assert_int_equal(evfd_drain(call), 0);
	close(call);
	fixture_free(f);
}

static void test_notify_event_idx(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, true, false);
	/* First check after start: no reference point, so interrupt. */
	complete_one(f); /* used idx 1 */
	assert_true(vq_needs_notify(&f->q));
	/* Nothing new since the last check. */
	assert_false(vq_needs_notify(&f->q));
	/* The driver wants an interrupt once entry 2 is used (idx passes 2). */
	vqd_set_used_event(&f->d, 2);
	complete_one(f); /* idx 2 */
	assert_false(vq_needs_notify(&f->q));
	complete_one(f); /* idx 3: entry 2 used */
	assert_true(vq_needs_notify(&f->q));
	/* Several pushes between checks: the event anywhere in the window. */
	vqd_set_used_event(&f->d, 4);
	complete_one(f); /* 4 */
	complete_one(f); /* 5 */
	complete_one(f); /* 6 */
	assert_true(vq_needs_notify(&f->q));
	/* An event behind the window: no interrupt. */
	vqd_set_used_event(&f->d, 5);
	complete_one(f); /* 7 */
	assert_false(vq_needs_notify(&f->q));
	/* NO_INTERRUPT is ignored with event-idx. */
	vqd_set_avail_flags(&f->d, VIRTQ_AVAIL_F_NO_INTERRUPT);
	vqd_set_used_event(&f->d, 7);
	complete_one(f); /* 8 */
	assert_true(vq_needs_notify(&f->q));
	fixture_free(f);

	/* The window across the 16-bit wrap. */
	f = fixture_new_at(8, true, false, 65534);
	complete_one(f); /* 65535 */
	assert_true(vq_needs_notify(&f->q));
	vqd_set_used_event(&f->d, 65535);
	complete_one(f); /* 0 */
	complete_one(f); /* 1 */
	assert_true(vq_needs_notify(&f->q));
	vqd_set_used_event(&f->d, 3);
	complete_one(f); /* 2 */
	assert_false(vq_needs_notify(&f->q));
	fixture_free(f);
}

static void test_kick_event_idx(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, true, false);
	struct vqd_buf b[] = { rbuf(DATA, 1) };
	/* Fresh ring: avail_event 0, the first chain kicks. */
	uint16_t old = f->d.published;
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_true(vqd_kick_needed(&f->d, true, old));
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	/* Disabled: avail_event stays where it was, so no kick. */
	vq_set_notification(&f->q, false);
	assert_int_equal(vqd_used_flags(&f->d), 0);
	old = f->d.published;
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_false(vqd_kick_needed(&f->d, true, old));
	/* Enabled: avail_event = next_avail (1), the pending chain is seen by
	 * the re-check. */
	vq_set_notification(&f->q, true);
	assert_int_equal(vqd_avail_event(&f->d), 1);
	assert_true(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	/* A device that never enables notifications still gets kicked: finding
	 * the ring empty arms avail_event. */
	assert_int_equal(vq_pop(&f->q, f->c), 0);
	assert_int_equal(vqd_avail_event(&f->d), 2);
	old = f->d.published;
	vqd_add(&f->d, b, 1);
	vqd_publish(&f->d);
	assert_true(vqd_kick_needed(&f->d, true, old));
	/* vq_has_avail arms it just the same. */
	assert_true(vq_has_avail(&f->q));
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_false(vq_has_avail(&f->q));
	assert_int_equal(vqd_avail_event(&f->d), 3);
	fixture_free(f);
}

/* A chain whose readable part is 3 + 5 + 8 bytes and writable part 4 + 6,
 * with the readable bytes 0..15. */
static void setup_rw_chain(struct fixture *f)
{
	uint8_t bytes[16];
	for (int i = 0; i < 16; i++)
		bytes[i] = (uint8_t)i;
	assert_int_equal(gm_write(&f->gm, GPA(DATA), bytes, 3), 0);
	assert_int_equal(gm_write(&f->gm, GPA(DATA + 0x100), bytes + 3, 5), 0);
	assert_int_equal(gm_write(&f->gm, GPA(DATA + 0x200), bytes + 8, 8), 0);
	assert_int_equal(gm_fill(&f->gm, GPA(DATA + 0x300), 0xee, 0x200), 0);
	struct vqd_buf b[] = { rbuf(DATA, 3), rbuf(DATA + 0x100, 5), rbuf(DATA + 0x200, 8), wbuf(DATA + 0x300, 4),
			       wbuf(DATA + 0x400, 6) };
	vqd_add(&f->d, b, 5);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
}

static void test_reader(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	setup_rw_chain(f);
	struct vq_reader r;
	vq_reader_init(&r, &f->gm, f->c);
	assert_int_equal(vq_reader_remaining(&r), 16);
	uint8_t buf[32];
	/* Across the first boundary. */
	assert_int_equal(vq_read(&r, buf, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(buf[i], i);
	assert_int_equal(vq_reader_remaining(&r), 12);
	/* Too much: nothing consumed. */
	assert_int_equal(vq_read(&r, buf, 13), -EMSGSIZE);
	assert_int_equal(vq_reader_skip(&r, 13), -EMSGSIZE);
	assert_int_equal(vq_reader_remaining(&r), 12);
	/* Skip to exactly the end of segment 1, then read the rest. */
	assert_int_equal(vq_reader_skip(&r, 4), 0);
	assert_int_equal(vq_read(&r, buf, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], 8 + i);
	assert_int_equal(vq_reader_remaining(&r), 0);
	assert_int_equal(vq_read(&r, buf, 1), -EMSGSIZE);
	assert_int_equal(vq_read(&r, buf, 0), 0);

	/* iovecs: split over segments, the E2BIG and EMSGSIZE cases consume
	 * nothing. */
	vq_reader_init(&r, &f->gm, f->c);
	assert_int_equal(vq_reader_skip(&r, 1), 0);
	struct iovec iov[4];
	assert_int_equal(vq_reader_iov(&r, 10, iov, 2), -E2BIG);
	assert_int_equal(vq_reader_iov(&r, 10, iov, 0), -E2BIG);
	assert_int_equal(vq_reader_iov(&r, 16, iov, 4), -EMSGSIZE);
	assert_int_equal(vq_reader_remaining(&r), 15);
	assert_int_equal(vq_reader_iov(&r, 0, iov, 0), 0);
	assert_int_equal(vq_reader_iov(&r, 10, iov, 3), 3);
	assert_int_equal(iov[0].iov_len, 2);
	assert_int_equal(iov[1].iov_len, 5);
	assert_int_equal(iov[2].iov_len, 3);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 1);
	assert_int_equal(((uint8_t *)iov[1].iov_base)[0], 3);
	assert_int_equal(((uint8_t *)iov[2].iov_base)[2], 10);
	assert_ptr_equal(iov[0].iov_base, gm_get_slice(&f->gm, GPA(DATA + 1), 2));
	assert_int_equal(vq_reader_remaining(&r), 5);
	assert_int_equal(vq_reader_iov(&r, 5, iov, 1), 1);
	assert_int_equal(iov[0].iov_len, 5);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[4], 15);
	assert_int_equal(vq_reader_remaining(&r), 0);
	fixture_free(f);
}

static void test_writer(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, false);
	setup_rw_chain(f);
	struct vq_writer w;
	vq_writer_init(&w, &f->gm, f->c);
	assert_int_equal(vq_writer_remaining(&w), 10);
	assert_int_equal(vq_writer_written(&w), 0);
	/* Skip a header to fill later, then write across the boundary. */
	assert_int_equal(vq_writer_skip(&w, 2), 0);
	const uint8_t msg[] = { 1, 2, 3, 4, 5 };
	assert_int_equal(vq_write(&w, msg, 5), 0);
	assert_int_equal(vq_writer_written(&w), 7);
	assert_int_equal(vq_writer_remaining(&w), 3);
	assert_int_equal(vq_write(&w, msg, 4), -EMSGSIZE);
	assert_int_equal(vq_writer_skip(&w, 4), -EMSGSIZE);
	assert_int_equal(vq_writer_written(&w), 7);
	uint8_t out[6];
	assert_int_equal(gm_read(&f->gm, GPA(DATA + 0x300), out, 4), 0);
	assert_int_equal(out[0], 0xee);
	assert_int_equal(out[1], 0xee);
	assert_int_equal(out[2], 1);
	assert_int_equal(out[3], 2);
	assert_int_equal(gm_read(&f->gm, GPA(DATA + 0x400), out, 6), 0);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[2], 5);
	assert_int_equal(out[3], 0xee);
	/* The rest through iovecs. */
	struct iovec iov[2];
	assert_int_equal(vq_writer_iov(&w, 4, iov, 2), -EMSGSIZE);
	assert_int_equal(vq_writer_iov(&w, 3, iov, 2), 1);
	assert_int_equal(iov[0].iov_len, 3);
	memset(iov[0].iov_base, 0x77, 3);
	assert_int_equal(vq_writer_written(&w), 10);
	assert_int_equal(vq_writer_remaining(&w), 0);
	assert_int_equal(gm_read(&f->gm, GPA(DATA + 0x400), out, 6), 0);
	assert_int_equal(out[5], 0x77);
	/* The readable bytes were not touched by the writer. */
	uint8_t r0;
	assert_int_equal(gm_read_obj(&f->gm, GPA(DATA), &r0), 0);
	assert_int_equal(r0, 0);

	/* A fresh writer: iovecs across both segments, E2BIG. */
	vq_writer_init(&w, &f->gm, f->c);
	assert_int_equal(vq_writer_iov(&w, 5, iov, 1), -E2BIG);
	assert_int_equal(vq_writer_written(&w), 0);
	assert_int_equal(vq_writer_iov(&w, 5, iov, 2), 2);
	assert_int_equal(iov[0].iov_len, 4);
	assert_int_equal(iov[1].iov_len, 1);
	assert_int_equal(vq_writer_written(&w), 5);
	assert_int_equal(vq_push(&f->q, f->c->head, (uint32_t)vq_writer_written(&w)), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	assert_int_equal(len, 5);
	fixture_free(f);
}

/* A reader and writer on a chain popped from an indirect table. */
static void test_reader_writer_indirect(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(8, false, true);
	const char hello[] = "hello, virtio";
	assert_int_equal(gm_write(&f->gm, GPA(DATA), hello, 6), 0);
	assert_int_equal(gm_write(&f->gm, GPA(DATA + 0x100), hello + 6, sizeof(hello) - 6), 0);
	struct vqd_buf b[] = { rbuf(DATA, 6), rbuf(DATA + 0x100, sizeof(hello) - 6), wbuf(DATA + 0x200, 1),
			       wbuf(DATA + 0x300, 63) };
	vqd_add_indirect(&f->d, GPA(TABLE), b, 4);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	struct vq_reader r;
	struct vq_writer w;
	vq_reader_init(&r, &f->gm, f->c);
	vq_writer_init(&w, &f->gm, f->c);
	char got[sizeof(hello)];
	assert_int_equal(vq_read(&r, got, sizeof(hello)), 0);
	assert_string_equal(got, hello);
	assert_int_equal(vq_write(&w, got, sizeof(hello)), 0);
	char back[sizeof(hello)];
	assert_int_equal(gm_read(&f->gm, GPA(DATA + 0x200), back, 1), 0);
	assert_int_equal(gm_read(&f->gm, GPA(DATA + 0x300), back + 1, sizeof(hello) - 1), 0);
	assert_string_equal(back, hello);
	assert_int_equal(vq_writer_written(&w), sizeof(hello));
	fixture_free(f);
}

/* The mock driver's own bookkeeping: descriptors come back when used. */
static void test_driver_free_list(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(4, false, false);
	struct vqd_buf b[] = { rbuf(DATA, 1), rbuf(DATA, 1), wbuf(DATA, 1) };
	assert_true(vqd_add(&f->d, b, 3) >= 0);
	assert_int_equal(vqd_add(&f->d, b, 2), -ENOSPC);
	vqd_publish(&f->d);
	assert_int_equal(vq_pop(&f->q, f->c), 1);
	assert_int_equal(vq_push(&f->q, f->c->head, 1), 0);
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(&f->d, &id, &len), 1);
	assert_int_equal(f->d.num_free, 4);
	assert_true(vqd_add(&f->d, b, 2) >= 0);
	assert_true(vqd_add(&f->d, b, 2) >= 0);
	assert_int_equal(f->d.num_free, 0);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_checks),
		cmocka_unit_test(test_simple_chain),
		cmocka_unit_test(test_push_used_ring),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_chain_length_limits),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_index_out_of_range),
		cmocka_unit_test(test_head_out_of_range_breaks),
		cmocka_unit_test(test_avail_delta_breaks),
		cmocka_unit_test(test_buffer_outside_memory),
		cmocka_unit_test(test_buffer_crossing_regions),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_length_overflow),
		cmocka_unit_test(test_indirect_refusals),
		cmocka_unit_test(test_readable_after_writable),
		cmocka_unit_test(test_bad_chain_then_good),
		cmocka_unit_test(test_index_wrap),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_notify_event_idx),
		cmocka_unit_test(test_kick_event_idx),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_reader_writer_indirect),
		cmocka_unit_test(test_driver_free_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
