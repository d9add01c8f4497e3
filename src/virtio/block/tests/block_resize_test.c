/*
 * Unit tests for resizing a running virtio-blk device (virtio_blk_resize):
 * the device on its worker thread over a real temporary image, the mock
 * driver of tests/fakes as the guest. After a grow or a shrink the
 * capacity read through config_read follows, the driver is told through
 * the config eventfd (at once while active, at activation otherwise, never
 * for no change), requests are judged by the new capacity, and every
 * refusal (read-only, bad size) leaves size, file and guest untouched.
 * One test resizes from a second thread, as the control server does,
 * while the guest keeps reading and the vCPU side reads the capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "fakes/device_harness.h"
#include "virtio/block/block.h"
#include "virtio/block/block_request.h"

#define QSIZE 16
#define HDR 0x10000    /* request header */
#define DATA 0x20000   /* data buffer */
#define STATUS 0x30000 /* status byte */
#define IMAGE KiB(64)  /* 128 sectors */
#define SECTOR VIRTIO_BLK_SECTOR_SIZE

struct fixture {
	struct device_harness h;
	struct virtio_device dev;
	char *path;
};

static const char *tmp_dir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* A device over a fresh IMAGE-byte image; the disk opened read-only if
 * disk_ro, the guest told read-only if opt_ro. */
static struct fixture *fixture_new(bool disk_ro, bool opt_ro)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_true(asprintf(&f->path, "%s/block_resize_test.XXXXXX", tmp_dir()) > 0);
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)IMAGE), 0);
	close(fd);
	struct disk *disk;
	assert_int_equal(disk_open(f->path, disk_ro ? DISK_F_READ_ONLY : 0, &disk), 0);

	const struct gm_range r[] = { { GPA(0), MiB(1) } };
	vdh_init(&f->h, &(struct vdh_layout){ .ranges = r, .nr_ranges = 1, .nr_queues = 1,
					      .ring_base = GPA(0x1000), .queue_size = QSIZE });
	struct virtio_blk_options o = { .read_only = opt_ro, .block_size = 512 };
	assert_int_equal(virtio_blk_create(disk, &o, &f->dev), 0);
	assert_true(virtio_blk_is_block(&f->dev));
	return f;
}

/* Without EVENT_IDX: the mock driver never moves used_event, so with it
 * every completion after the first would wait out a poll timeout. */
static void fixture_activate(struct fixture *f)
{
	vdh_activate(&f->h, &f->dev, f->dev.ops->features(f->dev.dev) & ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
}

static void fixture_free(struct fixture *f)
{
	f->dev.ops->destroy(f->dev.dev);
	vdh_expect_no_error(&f->h);
	vdh_destroy(&f->h);
	unlink(f->path);
	free(f->path);
	free(f);
}

static uint64_t le64_bytes(const uint8_t *c)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)c[i] << (8 * i);
	return v;
}

/* The capacity field (sectors) in one 8-byte read. */
static uint64_t capacity(struct fixture *f)
{
	uint8_t c[8];
	f->dev.ops->config_read(f->dev.dev, 0, c, 8);
	return le64_bytes(c);
}

/* The same read as a driver without 64-bit accesses does it: two 32-bit
 * halves (only meaningful while nobody resizes). */
static uint64_t capacity_halves(struct fixture *f)
{
	uint8_t c[8];
	f->dev.ops->config_read(f->dev.dev, 0, c, 4);
	f->dev.ops->config_read(f->dev.dev, 4, c + 4, 4);
	return le64_bytes(c);
}

/* Config change interrupts the device asked for since the last look. */
static int64_t config_signals(struct fixture *f) { return evfd_drain(f->h.config_fd); }

/* Runs one READ (type VIRTIO_BLK_T_IN) or WRITE of `len` bytes at
 * `sector` through the queue; returns the status byte and checks the used
 * length (data + status on success, the status alone on error). */
static uint8_t rw(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len)
{
	struct {
		le32_t type, reserved;
		le64_t sector;
	} hdr = { le32_make(type), le32_make(0), le64_make(sector) };
	vdh_put(&f->h, HDR, &hdr, sizeof(hdr));
	uint8_t poison = 0xff;
	vdh_put(&f->h, STATUS, &poison, 1);
	bool read = type == VIRTIO_BLK_T_IN;
	struct vqd_buf b[] = {
		{ GPA(HDR), sizeof(hdr), false },
		{ GPA(DATA), len, read },
		{ GPA(STATUS), 1, true },
	};
	int head = vdh_add_kick(&f->h, 0, b, 3);
	uint16_t id;
	uint32_t used;
	vdh_next_used(&f->h, 0, &id, &used);
	assert_int_equal(id, head);
	uint8_t status;
	vdh_get(&f->h, STATUS, &status, 1);
	assert_int_equal(used, (status == VIRTIO_BLK_S_OK && read ? len : 0) + 1);
	return status;
}

static void test_grow(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	assert_false(virtio_blk_read_only(f->dev.dev));
	fixture_activate(f);
	assert_int_equal(capacity(f), IMAGE / SECTOR);
	/* The sector just past the end is refused... */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR, 4096), VIRTIO_BLK_S_IOERR);

	assert_int_equal(virtio_blk_resize(f->dev.dev, 2 * IMAGE), 0);
	assert_int_equal(capacity(f), 2 * IMAGE / SECTOR);
	assert_int_equal(capacity_halves(f), 2 * IMAGE / SECTOR);
	assert_int_equal(config_signals(f), 1);
	assert_int_equal(file_size(f->path), 2 * IMAGE);

	/* ... and after the grow it reads (as zeros) and takes writes up to
	 * the new last sector, which really land in the file. */
	vdh_fill(&f->h, DATA, 0xee, 4096);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR, 4096), VIRTIO_BLK_S_OK);
	uint8_t got[4096];
	vdh_get(&f->h, DATA, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	vdh_fill(&f->h, DATA, 0x3c, 4096);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 2 * IMAGE / SECTOR - 8, 4096), VIRTIO_BLK_S_OK);
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, sizeof(got), (off_t)(2 * IMAGE - 4096)), (ssize_t)sizeof(got));
	close(fd);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0x3c);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 2 * IMAGE / SECTOR - 7, 4096), VIRTIO_BLK_S_IOERR);

	/* Beyond 32 bits of sectors: both halves move. */
	assert_int_equal(virtio_blk_resize(f->dev.dev, (UINT64_C(1) << 32) * SECTOR + 2 * IMAGE), 0);
	assert_int_equal(capacity_halves(f), (UINT64_C(1) << 32) + 2 * IMAGE / SECTOR);
	assert_int_equal(config_signals(f), 1);
	assert_int_equal(virtio_blk_resize(f->dev.dev, 2 * IMAGE), 0);
	assert_int_equal(config_signals(f), 1);

	/* The same size again is no change: no interrupt. */
	assert_int_equal(virtio_blk_resize(f->dev.dev, 2 * IMAGE), 0);
	assert_int_equal(config_signals(f), 0);
	fixture_free(f);
}

static void test_shrink(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	fixture_activate(f);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR - 8, 4096), VIRTIO_BLK_S_OK);

	assert_int_equal(virtio_blk_resize(f->dev.dev, IMAGE / 2), 0);
	assert_int_equal(capacity(f), IMAGE / 2 / SECTOR);
	assert_int_equal(config_signals(f), 1);
	assert_int_equal(file_size(f->path), IMAGE / 2);
	/* What was inside is now past the end; the new last sectors work. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR - 8, 4096), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, IMAGE / 2 / SECTOR, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / 2 / SECTOR - 1, 1024), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / 2 / SECTOR - 8, 4096), VIRTIO_BLK_S_OK);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, IMAGE / 2 / SECTOR - 1, 512), VIRTIO_BLK_S_OK);
	assert_int_equal(file_size(f->path), IMAGE / 2);
	fixture_free(f);
}

static void test_inactive(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	/* Before DRIVER_OK the config fd is not the device's to write; the
	 * capacity changes at once, and the driver hears of it on activation. */
	assert_int_equal(virtio_blk_resize(f->dev.dev, 4 * IMAGE), 0);
	assert_int_equal(capacity(f), 4 * IMAGE / SECTOR);
	assert_int_equal(config_signals(f), 0);
	fixture_activate(f);
	assert_int_equal(config_signals(f), 1);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 4 * IMAGE / SECTOR - 8, 4096), VIRTIO_BLK_S_OK);

	/* After a reset: silent again, and a fresh activation with nothing
	 * changed meanwhile raises nothing. */
	f->dev.ops->reset(f->dev.dev);
	assert_int_equal(virtio_blk_resize(f->dev.dev, IMAGE), 0);
	assert_int_equal(config_signals(f), 0);
	assert_int_equal(capacity(f), IMAGE / SECTOR);
	vdh_queue_init(&f->h, 0, QSIZE);
	fixture_activate(f);
	assert_int_equal(config_signals(f), 1);
	f->dev.ops->reset(f->dev.dev);
	vdh_queue_init(&f->h, 0, QSIZE);
	fixture_activate(f);
	assert_int_equal(config_signals(f), 0);
	fixture_free(f);
}

static void test_bad_size(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	fixture_activate(f);
	const uint64_t bad[] = { 0, 100, IMAGE + 1, 2 * IMAGE - 256, UINT64_MAX - 511 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(virtio_blk_resize(f->dev.dev, bad[i]), -EINVAL);
	assert_int_equal(capacity(f), IMAGE / SECTOR);
	assert_int_equal(config_signals(f), 0);
	assert_int_equal(file_size(f->path), IMAGE);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR - 8, 4096), VIRTIO_BLK_S_OK);
	fixture_free(f);
}

static void test_read_only(void **state)
{
	(void)state;
	/* A read-only disk, or a writable one the guest sees read-only. */
	for (int opt_only = 0; opt_only < 2; opt_only++) {
		struct fixture *f = fixture_new(!opt_only, true);
		assert_true(virtio_blk_read_only(f->dev.dev));
		fixture_activate(f);
		assert_int_equal(virtio_blk_resize(f->dev.dev, 2 * IMAGE), -EROFS);
		assert_int_equal(virtio_blk_resize(f->dev.dev, 0), -EROFS);
		assert_int_equal(capacity(f), IMAGE / SECTOR);
		assert_int_equal(config_signals(f), 0);
		assert_int_equal(file_size(f->path), IMAGE);
		assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR, 512), VIRTIO_BLK_S_IOERR);
		fixture_free(f);
	}
}

struct resizer {
	void *dev;
	_Atomic bool stop;
	int rounds;
};

static void *resize_loop(void *arg)
{
	struct resizer *z = arg;
	while (!atomic_load(&z->stop)) {
		if (virtio_blk_resize(z->dev, z->rounds % 2 ? IMAGE : 2 * IMAGE) != 0)
			return "resize failed";
		z->rounds++;
		/* Not flat out: a resize takes the inode lock the guest's I/O
		 * needs, and a spinning resizer would starve it. */
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	fixture_activate(f);
	struct resizer z = { .dev = f->dev.dev };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, resize_loop, &z), 0);
	/* Inside both sizes: always fine. Straddling the smaller end: fine
	 * or IOERR, never anything else. The capacity is always one of the
	 * two, never a mix. */
	for (int i = 0; i < 300; i++) {
		assert_int_equal(rw(f, i % 3 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, IMAGE / SECTOR - 8, 4096),
				 VIRTIO_BLK_S_OK);
		uint8_t st = rw(f, VIRTIO_BLK_T_IN, IMAGE / SECTOR - 4, 4096);
		assert_true(st == VIRTIO_BLK_S_OK || st == VIRTIO_BLK_S_IOERR);
		uint64_t c = capacity(f);
		assert_true(c == IMAGE / SECTOR || c == 2 * IMAGE / SECTOR);
	}
	atomic_store(&z.stop, true);
	void *res;
	assert_int_equal(pthread_join(t, &res), 0);
	assert_null(res);
	assert_true(z.rounds > 0);
	/* The last resize's size is what everyone ends up with. */
	uint64_t want = z.rounds % 2 ? 2 * IMAGE : IMAGE;
	assert_int_equal(capacity(f), want / SECTOR);
	assert_int_equal(file_size(f->path), want);
	assert_true(config_signals(f) >= 1);
	fixture_free(f);
}

static void no_destroy(void *dev) { (void)dev; }

static void test_is_block(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false, false);
	assert_true(virtio_blk_is_block(&f->dev));
	assert_false(virtio_blk_is_block(NULL));
	/* Same name and id, other ops: not ours. */
	const struct virtio_device_ops other = { .name = "block", .device_id = VIRTIO_ID_BLOCK, .destroy = no_destroy };
	const struct virtio_device d = { .ops = &other, .dev = f->dev.dev };
	assert_false(virtio_blk_is_block(&d));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_inactive),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_is_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
