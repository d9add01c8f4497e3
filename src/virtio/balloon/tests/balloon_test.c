/*
 * Unit tests for virtio-balloon, the device on its worker thread and the
 * mock driver of tests/fakes as the guest: inflation punches the pages out
 * of guest memory (they read back as zeros, neighbours are untouched),
 * PFNs outside guest RAM (in the MMIO-style hole, past the end, huge) are
 * skipped, malformed chains do not stop the queue, deflation is accepted,
 * the target reaches num_pages and raises a config change, the guest's
 * `actual` reaches the host, and statistics are parsed, held and handed
 * back on request with a generation that moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/eventfd.h"
#include "fakes/device_harness.h"
#include "virtio/balloon/balloon.h"

#define QSIZE 16
#define NQ 3
#define DATA 0x20000 /* chain buffers, first region */
#define HI MiB(2)    /* second region: [2 MiB, 3 MiB) */
#define PAGE 4096u

struct fixture {
	struct device_harness h;
	struct virtio_device dev;
	struct virtio_balloon *b;
};

static struct fixture *fixture_new(bool stats)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	/* Two regions with a hole between, like RAM around the MMIO gap. */
	const struct gm_range r[] = { { GPA(0), MiB(1) }, { GPA(HI), MiB(1) } };
	vdh_init(&f->h, &(struct vdh_layout){ .ranges = r, .nr_ranges = 2, .nr_queues = NQ, .ring_base = GPA(0x1000),
					      .ring_stride = 0x3000, .queue_size = QSIZE });
	struct virtio_balloon_options o = { .stats = stats, .deflate_on_oom = true };
	assert_int_equal(virtio_balloon_create(&o, &f->dev), 0);
	f->b = virtio_balloon_from_device(&f->dev);
	assert_non_null(f->b);
	return f;
}

static void fixture_activate(struct fixture *f) { vdh_activate(&f->h, &f->dev, f->dev.ops->features(f->dev.dev)); }

static void fixture_free(struct fixture *f)
{
	f->dev.ops->destroy(f->dev.dev);
	vdh_expect_no_error(&f->h);
	vdh_destroy(&f->h);
	free(f);
}

static struct vqd_buf rbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, false }; }

/* Writes the PFN array to guest memory at addr. */
static void put_pfns(struct fixture *f, uint64_t addr, const uint32_t *pfns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		le32_t v = le32_make(pfns[i]);
		vdh_put(&f->h, addr + 4 * i, &v, sizeof(v));
	}
}

static uint32_t pfn_of(uint64_t gpa) { return (uint32_t)(gpa / PAGE); }

static void fill_page(struct fixture *f, uint64_t gpa, uint8_t v) { vdh_fill(&f->h, gpa, v, PAGE); }

/* Whether every byte of the page at gpa is v. */
static bool page_is(struct fixture *f, uint64_t gpa, uint8_t v)
{
	uint8_t buf[PAGE];
	vdh_get(&f->h, gpa, buf, PAGE);
	for (unsigned i = 0; i < PAGE; i++)
		if (buf[i] != v)
			return false;
	return true;
}

static void test_inflate_punches(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	fixture_activate(f);
	for (unsigned i = 0; i < 8; i++)
		fill_page(f, HI + i * PAGE, 0xaa);
	fill_page(f, KiB(512), 0xbb);
	fill_page(f, KiB(512) + PAGE, 0xbb);
	/* Pages 1, 0, 2 (a run grown both ways), 5, one in the first region,
	 * and bad ones: in the hole, at the end of RAM, the largest PFN. */
	uint32_t pfns[] = { pfn_of(HI + PAGE), pfn_of(HI), pfn_of(HI + 2 * PAGE), pfn_of(MiB(1) + KiB(512)),
			    pfn_of(HI + 5 * PAGE), pfn_of(MiB(3)), pfn_of(KiB(512)), UINT32_MAX };
	put_pfns(f, DATA, pfns, 8);
	/* Split mid-PFN over two descriptors, with 2 stray bytes at the end. */
	struct vqd_buf b[] = { rbuf(DATA, 6), rbuf(DATA + 6, 8 * 4 - 6 + 2) };
	int head = vdh_add_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, b, 2);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, head, 0);
	assert_true(page_is(f, HI, 0));
	assert_true(page_is(f, HI + PAGE, 0));
	assert_true(page_is(f, HI + 2 * PAGE, 0));
	assert_true(page_is(f, HI + 3 * PAGE, 0xaa));
	assert_true(page_is(f, HI + 4 * PAGE, 0xaa));
	assert_true(page_is(f, HI + 5 * PAGE, 0));
	assert_true(page_is(f, HI + 6 * PAGE, 0xaa));
	assert_true(page_is(f, KiB(512), 0));
	assert_true(page_is(f, KiB(512) + PAGE, 0xbb));
	fixture_free(f);
}

static void test_bad_chains_then_ok(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	fixture_activate(f);
	fill_page(f, HI, 0xcc);
	/* Only bad PFNs; a buffer straddling the end of a region; a
	 * write-only chain with no PFNs at all. All complete, nothing
	 * changes, the queue goes on. */
	uint32_t bad[] = { pfn_of(MiB(1)), pfn_of(MiB(3)), pfn_of(MiB(3)) + 1000, 0x7fffffff, UINT32_MAX };
	put_pfns(f, DATA, bad, 5);
	struct vqd_buf b1[] = { rbuf(DATA, sizeof(bad)) };
	int h1 = vdh_add_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, b1, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, h1, 0);
	struct vqd_buf b2[] = { rbuf(MiB(1) - 8, 16) };
	int h2 = vdh_add_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, b2, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, h2, 0);
	struct vqd_buf b3[] = { { GPA(DATA + 0x100), 64, true } };
	int h3 = vdh_add_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, b3, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, h3, 0);
	assert_true(page_is(f, HI, 0xcc));

	uint32_t good = pfn_of(HI);
	put_pfns(f, DATA + 0x200, &good, 1);
	struct vqd_buf b4[] = { rbuf(DATA + 0x200, 4) };
	int h4 = vdh_add_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, b4, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE, h4, 0);
	assert_true(page_is(f, HI, 0));
	fixture_free(f);
}

static void test_deflate(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false);
	fixture_activate(f);
	assert_int_equal(f->dev.ops->num_queues(f->dev.dev), 2);
	fill_page(f, HI, 0xdd);
	uint32_t pfn = pfn_of(HI);
	put_pfns(f, DATA, &pfn, 1);
	struct vqd_buf b[] = { rbuf(DATA, 4) };
	int h = vdh_add_kick(&f->h, VIRTIO_BALLOON_DEFLATE_QUEUE, b, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_DEFLATE_QUEUE, h, 0);
	/* Deflating leaves memory alone. */
	assert_true(page_is(f, HI, 0xdd));
	/* Without the option there are no statistics. */
	uint64_t gen;
	assert_int_equal(virtio_balloon_request_stats(f->b, &gen), -EOPNOTSUPP);
	uint64_t feat = f->dev.ops->features(f->dev.dev);
	assert_false(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ));
	assert_true(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
	assert_true(feat & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	fixture_free(f);
}

static uint32_t cfg_le32(struct fixture *f, uint32_t off)
{
	uint8_t v[4];
	f->dev.ops->config_read(f->dev.dev, off, v, 4);
	return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
}

static void test_target_and_actual(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	assert_int_equal(f->dev.ops->device_id, VIRTIO_ID_BALLOON);
	assert_int_equal(cfg_le32(f, 0), 0);
	/* Before activation: num_pages changes, nobody is signalled. */
	assert_int_equal(virtio_balloon_set_target(f->b, MiB(1)), 0);
	assert_int_equal(cfg_le32(f, 0), 256);
	assert_int_equal(evfd_drain(f->h.config_fd), 0);

	fixture_activate(f);
	assert_int_equal(virtio_balloon_set_target(f->b, MiB(2) + 100), 0);
	assert_int_equal(cfg_le32(f, 0), 512);
	assert_int_equal(virtio_balloon_target(f->b), MiB(2));
	assert_int_equal(evfd_drain(f->h.config_fd), 1);
	/* The same target again is no change. */
	assert_int_equal(virtio_balloon_set_target(f->b, MiB(2)), 0);
	assert_int_equal(evfd_drain(f->h.config_fd), 0);
	/* Too many pages for 32 bits: refused, nothing changes. */
	assert_int_equal(virtio_balloon_set_target(f->b, (UINT64_C(1) << 32) * PAGE), -ERANGE);
	assert_int_equal(cfg_le32(f, 0), 512);
	assert_int_equal(virtio_balloon_set_target(f->b, (uint64_t)UINT32_MAX * PAGE), 0);
	assert_int_equal(cfg_le32(f, 0), UINT32_MAX);
	assert_int_equal(evfd_drain(f->h.config_fd), 1);

	/* The guest writes actual, whole or a byte at a time; num_pages is
	 * not the guest's to write. */
	uint8_t v[4] = { 0x00, 0x01, 0, 0 }; /* 256 */
	f->dev.ops->config_write(f->dev.dev, 4, v, 4);
	assert_int_equal(virtio_balloon_actual(f->b), 256 * PAGE);
	uint8_t one = 0x02;
	f->dev.ops->config_write(f->dev.dev, 5, &one, 1); /* 512 */
	assert_int_equal(virtio_balloon_actual(f->b), 512 * PAGE);
	assert_int_equal(cfg_le32(f, 4), 512);
	f->dev.ops->config_write(f->dev.dev, 0, v, 4);
	assert_int_equal(cfg_le32(f, 0), UINT32_MAX);
	/* Reads past the fields are zeros; odd offsets and lengths work. */
	uint8_t big[12];
	memset(big, 0xff, sizeof(big));
	f->dev.ops->config_read(f->dev.dev, 3, big, sizeof(big));
	assert_int_equal(big[0], 0xff);
	assert_int_equal(big[1], 0x00);
	assert_int_equal(big[2], 0x02);
	for (int i = 5; i < 12; i++)
		assert_int_equal(big[i], 0);
	f->dev.ops->config_write(f->dev.dev, UINT32_MAX, v, 4);
	assert_int_equal(virtio_balloon_actual(f->b), 512 * PAGE);

	/* Reset: the guest's balloon is gone, the host's target stays. */
	f->dev.ops->reset(f->dev.dev);
	assert_int_equal(virtio_balloon_actual(f->b), 0);
	assert_int_equal(cfg_le32(f, 0), UINT32_MAX);
	assert_int_equal(virtio_balloon_set_target(f->b, 0), 0);
	assert_int_equal(evfd_drain(f->h.config_fd), 0);
	fixture_free(f);
}

/* Writes a stats entry (le16 tag, le64 value, packed) at addr. */
static void put_stat(struct fixture *f, uint64_t addr, uint16_t tag, uint64_t val)
{
	uint8_t e[10];
	e[0] = (uint8_t)tag;
	e[1] = (uint8_t)(tag >> 8);
	for (int i = 0; i < 8; i++)
		e[2 + i] = (uint8_t)(val >> (8 * i));
	vdh_put(&f->h, addr, e, sizeof(e));
}

static void test_stats(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	uint64_t gen = 99;
	assert_int_equal(virtio_balloon_request_stats(f->b, &gen), -ENOTCONN);
	fixture_activate(f);
	struct virtio_balloon_stats s;
	virtio_balloon_get_stats(f->b, &s);
	assert_int_equal(s.generation, 0);
	assert_int_equal(s.valid, 0);
	assert_int_equal(virtio_balloon_wait_stats(f->b, 0, 0, &s), -ETIMEDOUT);

	/* A malformed stats chain is completed, not held. */
	struct vqd_buf bad[] = { rbuf(MiB(1) - 5, 10) };
	int hb = vdh_add_kick(&f->h, VIRTIO_BALLOON_STATS_QUEUE, bad, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_STATS_QUEUE, hb, 0);

	/* The first report: split over descriptors mid-entry, an unknown tag,
	 * a repeated one, and 3 stray bytes. */
	put_stat(f, DATA + 0, VIRTIO_BALLOON_S_MEMFREE, 1);
	put_stat(f, DATA + 10, VIRTIO_BALLOON_S_MEMTOT, UINT64_C(1) << 40);
	put_stat(f, DATA + 20, 99, 5);
	put_stat(f, DATA + 30, VIRTIO_BALLOON_S_MEMFREE, 123456789);
	put_stat(f, DATA + 40, VIRTIO_BALLOON_S_DIRECT_RECLAIM, 7);
	struct vqd_buf b1[] = { rbuf(DATA, 13), rbuf(DATA + 13, 50 - 13 + 3) };
	int h1 = vdh_add_kick(&f->h, VIRTIO_BALLOON_STATS_QUEUE, b1, 2);
	assert_int_equal(virtio_balloon_wait_stats(f->b, 0, VDH_WAIT_MS, &s), 0);
	assert_int_equal(s.generation, 1);
	assert_true(s.timestamp_ns > 0);
	assert_int_equal(s.valid, (1u << VIRTIO_BALLOON_S_MEMFREE) | (1u << VIRTIO_BALLOON_S_MEMTOT) |
					  (1u << VIRTIO_BALLOON_S_DIRECT_RECLAIM));
	assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMFREE], 123456789);
	assert_int_equal(s.val[VIRTIO_BALLOON_S_MEMTOT], UINT64_C(1) << 40);
	assert_int_equal(s.val[VIRTIO_BALLOON_S_DIRECT_RECLAIM], 7);
	/* The buffer is held until the host asks. */
	vdh_expect_no_used(&f->h, VIRTIO_BALLOON_STATS_QUEUE);

	/* Asking hands it back; the guest answers with a new report. */
	assert_int_equal(virtio_balloon_request_stats(f->b, &gen), 0);
	assert_int_equal(gen, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_STATS_QUEUE, h1, 0);
	/* Asking again before the answer: no buffer, nothing happens. */
	assert_int_equal(virtio_balloon_request_stats(f->b, NULL), 0);
	vdh_expect_no_used(&f->h, VIRTIO_BALLOON_STATS_QUEUE);
	assert_int_equal(virtio_balloon_wait_stats(f->b, gen, 20, &s), -ETIMEDOUT);
	assert_int_equal(s.generation, 1);
	uint64_t t1 = s.timestamp_ns;

	put_stat(f, DATA + 0x100, VIRTIO_BALLOON_S_AVAIL, 42);
	struct vqd_buf b2[] = { rbuf(DATA + 0x100, 10) };
	int h2 = vdh_add_kick(&f->h, VIRTIO_BALLOON_STATS_QUEUE, b2, 1);
	assert_int_equal(virtio_balloon_wait_stats(f->b, gen, VDH_WAIT_MS, &s), 0);
	assert_int_equal(s.generation, 2);
	assert_true(s.timestamp_ns >= t1);
	/* A report replaces the last one entirely. */
	assert_int_equal(s.valid, 1u << VIRTIO_BALLOON_S_AVAIL);
	assert_int_equal(s.val[VIRTIO_BALLOON_S_AVAIL], 42);

	/* A second buffer while one is held: the older goes back. */
	struct vqd_buf b3[] = { rbuf(DATA + 0x200, 0x40) };
	vdh_fill(&f->h, DATA + 0x200, 0xff, 0x40);
	(void)vdh_add_kick(&f->h, VIRTIO_BALLOON_STATS_QUEUE, b3, 1);
	vdh_wait_used(&f->h, VIRTIO_BALLOON_STATS_QUEUE, h2, 0);
	assert_int_equal(virtio_balloon_wait_stats(f->b, 2, VDH_WAIT_MS, &s), 0);
	assert_int_equal(s.generation, 3);
	assert_int_equal(s.valid, 0); /* tag 0xffff: unknown */

	/* Reset forgets the buffer; requests need an active device again. */
	f->dev.ops->reset(f->dev.dev);
	assert_int_equal(virtio_balloon_request_stats(f->b, NULL), -ENOTCONN);
	virtio_balloon_get_stats(f->b, &s);
	assert_int_equal(s.generation, 3);
	fixture_free(f);
}

static void test_broken_ring(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	fixture_activate(f);
	vqd_set_avail_idx(&f->h.d[VIRTIO_BALLOON_INFLATE_QUEUE], QSIZE + 1);
	vdh_kick(&f->h, VIRTIO_BALLOON_INFLATE_QUEUE);
	vdh_expect_error(&f->h);
	/* Later kicks and requests are ignored without a second report. */
	vdh_kick(&f->h, VIRTIO_BALLOON_DEFLATE_QUEUE);
	assert_int_equal(virtio_balloon_request_stats(f->b, NULL), 0);
	vdh_expect_no_used(&f->h, VIRTIO_BALLOON_DEFLATE_QUEUE);
	vdh_expect_no_error(&f->h);
	fixture_free(f);
}

static void test_from_device(void **state)
{
	(void)state;
	static const struct virtio_device_ops other = { .name = "other" };
	struct virtio_device d = { .ops = &other, .dev = NULL };
	assert_null(virtio_balloon_from_device(&d));
	assert_null(virtio_balloon_from_device(NULL));
	/* Destroy without activation, and with NULL. */
	struct virtio_device bd;
	assert_int_equal(virtio_balloon_create(NULL, &bd), 0);
	assert_int_equal(bd.ops->num_queues(bd.dev), 2);
	bd.ops->destroy(bd.dev);
	bd.ops->destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_punches),
		cmocka_unit_test(test_bad_chains_then_ok),
		cmocka_unit_test(test_deflate),
		cmocka_unit_test(test_target_and_actual),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_from_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
