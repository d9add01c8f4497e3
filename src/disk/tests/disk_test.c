/*
 * Unit tests for disk/: every I/O test runs twice, once on the io_uring
 * engine (where the host allows it) and once forced onto the synchronous
 * one, through the same submit / poll / reap path the block device uses.
 * Images are temporary files; the fallback and ENOSPC tests mount small
 * tmpfs instances inside a private mount namespace, and the block device
 * test attaches a loop device; each skips with a message where it cannot.
 * Resizing (disk_set_size) is checked for the file and disk_size, for
 * requests on both sides of the old and new ends, for requests a shrink
 * overtakes, and for every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"

/* More segments per request than the library keeps inline. */
#define TEST_IOVECS 10

struct env {
	uint32_t engine_flags; /* 0 (io_uring if possible) or DISK_F_NO_IO_URING */
	bool can_mount;        /* main() entered a private mount namespace */
};

/* A temporary image of `size` bytes (a hole) in dir; returns its path. */
static char *make_image(const char *dir, uint64_t size)
{
	char *path;
	assert_true(asprintf(&path, "%s/disk_test.XXXXXX", dir) > 0);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return path;
}

static const char *tmp_dir(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

static void drop_image(char *path)
{
	unlink(path);
	free(path);
}

static struct disk *open_ok(const struct env *e, const char *path, uint32_t flags)
{
	struct disk *d = NULL;
	int r = disk_open(path, flags | e->engine_flags, &d);
	assert_int_equal(r, 0);
	assert_non_null(d);
	return d;
}

/* Polls the completion fd and reaps until n completions have arrived. */
static void wait_reap(struct disk *d, struct disk_completion *out, unsigned int n)
{
	unsigned int got = 0;
	while (got < n) {
		struct pollfd p = { .fd = disk_completion_fd(d), .events = POLLIN };
		assert_int_equal(poll(&p, 1, 10000), 1);
		int r = disk_reap(d, out + got, n - got);
		assert_true(r >= 0);
		got += (unsigned int)r;
	}
}

/* Submits one request and returns its completion result. */
static int64_t run1(struct disk *d, struct disk_request req)
{
	int tag;
	req.user = &tag;
	assert_int_equal(disk_submit(d, &req), 0);
	struct disk_completion c;
	wait_reap(d, &c, 1);
	assert_ptr_equal(c.user, &tag);
	return c.result;
}

static int64_t do_rw(struct disk *d, enum disk_op op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	return run1(d, (struct disk_request){ .op = op, .offset = off, .iov = &iov, .iovcnt = 1 });
}

static int64_t do_range(struct disk *d, enum disk_op op, uint64_t off, uint64_t len)
{
	return run1(d, (struct disk_request){ .op = op, .offset = off, .len = len });
}

static bool all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != v)
			return false;
	}
	return true;
}

static uint64_t blocks_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks;
}

/* Whether the filesystem holding dir can punch holes. */
static bool can_punch(const char *dir)
{
	char *p = make_image(dir, 65536);
	int fd = open(p, O_RDWR | O_CLOEXEC);
	bool ok = fd >= 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	if (fd >= 0)
		close(fd);
	drop_image(p);
	return ok;
}

/* Mounts a tmpfs of the given size on a new directory; NULL if impossible. */
static char *mount_tmpfs(const struct env *e, const char *size_opt)
{
	if (!e->can_mount)
		return NULL;
	char *dir;
	assert_true(asprintf(&dir, "%s/disk_test_mnt.XXXXXX", tmp_dir()) > 0);
	assert_non_null(mkdtemp(dir));
	if (mount("tmpfs", dir, "tmpfs", 0, size_opt) < 0) {
		rmdir(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

static void unmount_tmpfs(char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	free(dir);
}

static void test_engine(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 4096);
	struct disk *d = open_ok(e, path, 0);
	const char *name = disk_engine_name(d);
	disk_close(d);
	drop_image(path);
	if (e->engine_flags & DISK_F_NO_IO_URING) {
		assert_string_equal(name, "sync");
	} else if (strcmp(name, "io_uring") != 0) {
		print_message("io_uring unavailable on this host: the io_uring pass runs the sync engine\n");
		skip();
	}
}

static void test_roundtrip(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), MiB(1));
	struct disk *d = open_ok(e, path, 0);
	assert_int_equal(disk_size(d), MiB(1));

	/* Odd segment sizes at an unaligned offset, read back split differently. */
	uint8_t a[1000], b[3000], c[17];
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	memset(c, 0x33, sizeof(c));
	struct iovec wv[] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	const uint64_t off = 4096 + 123;
	struct disk_request w = { .op = DISK_OP_WRITE, .offset = off, .iov = wv, .iovcnt = 3 };
	assert_int_equal(run1(d, w), sizeof(a) + sizeof(b) + sizeof(c));

	uint8_t r1[2500], r2[1517];
	struct iovec rv[] = { { r1, sizeof(r1) }, { NULL, 0 }, { r2, sizeof(r2) } };
	struct disk_request rd = { .op = DISK_OP_READ, .offset = off, .iov = rv, .iovcnt = 3 };
	assert_int_equal(run1(d, rd), sizeof(r1) + sizeof(r2));
	assert_true(all_bytes(r1, 1000, 0x11));
	assert_true(all_bytes(r1 + 1000, 1500, 0x22));
	assert_true(all_bytes(r2, 1500, 0x22));
	assert_true(all_bytes(r2 + 1500, 17, 0x33));

	/* The bytes really are in the file, and the last byte is reachable. */
	uint8_t check[4017];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(pread(fd, check, sizeof(check), (off_t)off), (ssize_t)sizeof(check));
	close(fd);
	assert_memory_equal(check, r1, sizeof(r1));
	uint8_t last = 0x5a;
	assert_int_equal(do_rw(d, DISK_OP_WRITE, MiB(1) - 1, &last, 1), 1);
	last = 0;
	assert_int_equal(do_rw(d, DISK_OP_READ, MiB(1) - 1, &last, 1), 1);
	assert_int_equal(last, 0x5a);

	/* Zero-length requests complete with 0. */
	assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_READ, .offset = MiB(1) }), 0);
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, 0, 0), 0);

	disk_close(d);
	drop_image(path);
}

static void test_long_iovec(void **state)
{
	/* More segments than fit inline: the copy goes to the heap. */
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), MiB(1));
	struct disk *d = open_ok(e, path, 0);
	enum { N = DISK_MAX_IOVECS };
	static uint8_t buf[N * 3];
	struct iovec *iov = calloc(N, sizeof(*iov));
	for (unsigned int i = 0; i < N; i++) {
		memset(buf + 3 * i, (int)(i & 0xff), 3);
		iov[i] = (struct iovec){ buf + 3 * i, 3 };
	}
	struct disk_request w = { .op = DISK_OP_WRITE, .offset = 7, .iov = iov, .iovcnt = N };
	assert_int_equal(disk_submit(d, &w), 0);
	memset(iov, 0, N * sizeof(*iov)); /* the array was copied */
	struct disk_completion c;
	wait_reap(d, &c, 1);
	assert_int_equal(c.result, sizeof(buf));

	uint8_t back[sizeof(buf)];
	assert_int_equal(do_rw(d, DISK_OP_READ, 7, back, sizeof(back)), sizeof(back));
	assert_memory_equal(back, buf, sizeof(buf));

	w.iov = iov;
	w.iovcnt = N + 1;
	assert_int_equal(disk_submit(d, &w), -EINVAL);
	free(iov);
	disk_close(d);
	drop_image(path);
}

static void test_flush(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 65536);
	struct disk *d = open_ok(e, path, 0);
	uint8_t buf[512];
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 0, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_FLUSH }), 0);
	disk_close(d);
	drop_image(path);
}

static void fill_file(struct disk *d, uint64_t size, uint8_t v)
{
	uint8_t *buf = malloc(size);
	memset(buf, v, size);
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 0, buf, size), (int64_t)size);
	assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_FLUSH }), 0);
	free(buf);
}

/* Reads the whole image and checks [lo, hi) is zero and the rest is v. */
static void expect_zero_range(struct disk *d, uint64_t size, uint64_t lo, uint64_t hi, uint8_t v)
{
	uint8_t *buf = malloc(size);
	assert_int_equal(do_rw(d, DISK_OP_READ, 0, buf, size), (int64_t)size);
	assert_true(all_bytes(buf, lo, v));
	assert_true(all_bytes(buf + lo, hi - lo, 0));
	assert_true(all_bytes(buf + hi, size - hi, v));
	free(buf);
}

static void test_discard(void **state)
{
	const struct env *e = *state;
	if (!can_punch(tmp_dir())) {
		print_message("%s cannot punch holes: skipping\n", tmp_dir());
		skip();
	}
	const uint64_t size = MiB(1);
	char *path = make_image(tmp_dir(), size);
	struct disk *d = open_ok(e, path, DISK_F_SPARSE);
	fill_file(d, size, 0xab);
	uint64_t before = blocks_of(path);
	assert_true(before >= size / 512);

	assert_int_equal(do_range(d, DISK_OP_DISCARD, KiB(256), KiB(512)), 0);
	uint64_t after = blocks_of(path);
	assert_true(after + KiB(512) / 512 <= before);
	expect_zero_range(d, size, KiB(256), KiB(768), 0xab);
	disk_close(d);

	/* Without DISK_F_SPARSE discard succeeds and keeps the data. */
	d = open_ok(e, path, 0);
	fill_file(d, size, 0xcd);
	before = blocks_of(path);
	assert_int_equal(do_range(d, DISK_OP_DISCARD, 0, size), 0);
	assert_int_equal(blocks_of(path), before);
	expect_zero_range(d, size, 0, 0, 0xcd);
	disk_close(d);
	drop_image(path);
}

static void test_write_zeroes(void **state)
{
	const struct env *e = *state;
	const uint64_t size = MiB(1);
	char *path = make_image(tmp_dir(), size);
	for (int sparse = 0; sparse < 2; sparse++) {
		struct disk *d = open_ok(e, path, sparse ? DISK_F_SPARSE : 0);
		fill_file(d, size, 0x5c);
		/* Unaligned range, so a filesystem has to zero partial blocks. */
		assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, 1000, 300000), 0);
		expect_zero_range(d, size, 1000, 301000, 0x5c);
		disk_close(d);
	}
	drop_image(path);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes must fall back to punching
 * a hole (sparse) or writing zeros (not sparse). */
static void test_write_zeroes_fallback(void **state)
{
	const struct env *e = *state;
	char *dir = mount_tmpfs(e, "size=4m");
	if (!dir) {
		print_message("cannot mount a tmpfs (needs root): skipping\n");
		skip();
	}
	const uint64_t size = MiB(1);
	char *path = make_image(dir, size);

	struct disk *d = open_ok(e, path, DISK_F_SPARSE);
	fill_file(d, size, 0x42);
	uint64_t before = blocks_of(path);
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, KiB(64), KiB(512)), 0);
	assert_true(blocks_of(path) + KiB(512) / 512 <= before); /* punched */
	expect_zero_range(d, size, KiB(64), KiB(576), 0x42);
	disk_close(d);

	d = open_ok(e, path, 0);
	fill_file(d, size, 0x43);
	before = blocks_of(path);
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, 3, KiB(200)), 0);
	assert_int_equal(blocks_of(path), before); /* written, still allocated */
	expect_zero_range(d, size, 3, 3 + KiB(200), 0x43);
	disk_close(d);

	drop_image(path);
	unmount_tmpfs(dir);
}

static void test_read_only(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 65536);
	struct disk *d = open_ok(e, path, 0);
	uint8_t buf[512];
	memset(buf, 0x99, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 512, buf, sizeof(buf)), sizeof(buf));
	disk_close(d);

	d = open_ok(e, path, DISK_F_READ_ONLY);
	struct iovec iov = { buf, sizeof(buf) };
	struct disk_request w = { .op = DISK_OP_WRITE, .offset = 0, .iov = &iov, .iovcnt = 1 };
	assert_int_equal(disk_submit(d, &w), -EROFS);
	struct disk_request z = { .op = DISK_OP_WRITE_ZEROES, .offset = 0, .len = 512 };
	assert_int_equal(disk_submit(d, &z), -EROFS);
	z.op = DISK_OP_DISCARD;
	assert_int_equal(disk_submit(d, &z), -EROFS);
	/* Refusals produce no completion. */
	struct disk_completion c;
	assert_int_equal(disk_reap(d, &c, 1), 0);

	memset(buf, 0, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_READ, 512, buf, sizeof(buf)), sizeof(buf));
	assert_true(all_bytes(buf, sizeof(buf), 0x99));
	assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_FLUSH }), 0);
	disk_close(d);
	drop_image(path);
}

static void test_lock(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 4096);
	struct disk *other = NULL;

	struct disk *rw = open_ok(e, path, 0);
	assert_int_equal(disk_open(path, e->engine_flags, &other), -EAGAIN);
	assert_null(other);
	assert_int_equal(disk_open(path, DISK_F_READ_ONLY | e->engine_flags, &other), -EAGAIN);
	disk_close(rw);

	struct disk *ro1 = open_ok(e, path, DISK_F_READ_ONLY);
	struct disk *ro2 = open_ok(e, path, DISK_F_READ_ONLY);
	assert_int_equal(disk_open(path, e->engine_flags, &other), -EAGAIN);
	disk_close(ro1);
	disk_close(ro2);

	rw = open_ok(e, path, 0);
	disk_close(rw);
	drop_image(path);
}

static void test_size_and_errors(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 12345);
	struct disk *d = open_ok(e, path, 0);
	assert_int_equal(disk_size(d), 12345);
	disk_close(d);

	struct disk *x = NULL;
	assert_int_equal(disk_open(path, 1u << 30, &x), -EINVAL);
	assert_int_equal(disk_open("/nonexistent/disk.img", e->engine_flags, &x), -ENOENT);
	assert_int_equal(disk_open(tmp_dir(), DISK_F_READ_ONLY | e->engine_flags, &x), -EISDIR);
	assert_int_equal(disk_open("/dev/null", e->engine_flags, &x), -EINVAL);
	assert_null(x);
	disk_close(NULL);
	drop_image(path);
}

static void test_bounds(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 8192);
	struct disk *d = open_ok(e, path, 0);
	uint8_t buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	struct disk_request r = { .op = DISK_OP_READ, .offset = 8192 - 511, .iov = &iov, .iovcnt = 1 };
	assert_int_equal(disk_submit(d, &r), -EINVAL);
	r.offset = UINT64_MAX - 10;
	assert_int_equal(disk_submit(d, &r), -EINVAL);
	r.op = DISK_OP_WRITE;
	assert_int_equal(disk_submit(d, &r), -EINVAL);
	r.offset = 0;
	r.iov = NULL;
	assert_int_equal(disk_submit(d, &r), -EINVAL);
	struct iovec huge[2] = { { buf, UINT64_MAX / 2 + 1 }, { buf, UINT64_MAX / 2 + 1 } };
	r.iov = huge;
	r.iovcnt = 2;
	assert_int_equal(disk_submit(d, &r), -EINVAL);
	struct disk_request z = { .op = DISK_OP_DISCARD, .offset = 4096, .len = 4097 };
	assert_int_equal(disk_submit(d, &z), -EINVAL);
	z.op = DISK_OP_WRITE_ZEROES;
	z.offset = 1;
	z.len = UINT64_MAX;
	assert_int_equal(disk_submit(d, &z), -EINVAL);
	z.op = (enum disk_op)42;
	assert_int_equal(disk_submit(d, &z), -EINVAL);
	struct disk_completion c;
	assert_int_equal(disk_reap(d, &c, 1), 0);
	disk_close(d);
	drop_image(path);
}

static void test_in_flight_cap(void **state)
{
	const struct env *e = *state;
	enum { N = DISK_MAX_IN_FLIGHT, SZ = 4096 };
	char *path = make_image(tmp_dir(), (uint64_t)N * SZ);
	struct disk *d = open_ok(e, path, 0);
	uint8_t *buf = malloc((size_t)N * SZ);
	for (unsigned int i = 0; i < N; i++)
		memset(buf + (size_t)i * SZ, (int)(i & 0xff), SZ);
	struct iovec *iov = calloc(N, sizeof(*iov));
	bool *seen = calloc(N, sizeof(*seen));
	struct disk_completion *c = calloc(N, sizeof(*c));

	for (int pass = 0; pass < 2; pass++) {
		enum disk_op op = pass == 0 ? DISK_OP_WRITE : DISK_OP_READ;
		if (op == DISK_OP_READ)
			memset(buf, 0xee, (size_t)N * SZ);
		for (unsigned int i = 0; i < N; i++) {
			iov[i] = (struct iovec){ buf + (size_t)i * SZ, SZ };
			struct disk_request r = { .op = op, .offset = (uint64_t)i * SZ, .iov = &iov[i],
						  .iovcnt = 1, .user = &seen[i] };
			assert_int_equal(disk_submit(d, &r), 0);
		}
		/* The cap counts unreaped requests, finished or not. */
		struct disk_request fl = { .op = DISK_OP_FLUSH };
		assert_int_equal(disk_submit(d, &fl), -EAGAIN);

		/* Reap a few at a time: leftovers must keep the fd readable. */
		unsigned int got = 0;
		while (got < N) {
			struct pollfd p = { .fd = disk_completion_fd(d), .events = POLLIN };
			assert_int_equal(poll(&p, 1, 10000), 1);
			int n = disk_reap(d, c + got, 7);
			assert_true(n >= 0 && n <= 7);
			got += (unsigned int)n;
		}
		memset(seen, 0, N * sizeof(*seen));
		for (unsigned int i = 0; i < N; i++) {
			bool *s = c[i].user;
			assert_true(s >= seen && s < seen + N);
			assert_false(*s);
			*s = true;
			assert_int_equal(c[i].result, SZ);
		}
		assert_int_equal(disk_reap(d, c, N), 0);
		assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_FLUSH }), 0);
	}
	for (unsigned int i = 0; i < N; i++)
		assert_true(all_bytes(buf + (size_t)i * SZ, SZ, (uint8_t)i));

	free(c);
	free(seen);
	free(iov);
	free(buf);
	disk_close(d);
	drop_image(path);
}

static void test_close_in_flight(void **state)
{
	/* Closing with submitted, unreaped requests waits and leaks nothing. */
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), MiB(1));
	struct disk *d = open_ok(e, path, 0);
	static uint8_t buf[16][4096];
	struct iovec iov[16][TEST_IOVECS];
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < TEST_IOVECS; j++)
			iov[i][j] = (struct iovec){ buf[i] + j * 256, 256 };
		struct disk_request r = { .op = i % 2 ? DISK_OP_WRITE : DISK_OP_READ,
					  .offset = (uint64_t)i * 4096, .iov = iov[i],
					  .iovcnt = TEST_IOVECS };
		assert_int_equal(disk_submit(d, &r), 0);
	}
	disk_close(d);
	drop_image(path);
}

static void test_shrunk_under_us(void **state)
{
	/* The image shrinks after open: reads past the new end must fail
	 * rather than return a short count as success. */
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 65536);
	struct disk *d = open_ok(e, path, 0);
	assert_int_equal(truncate(path, 4096 + 100), 0);
	uint8_t buf[8192];
	assert_int_equal(do_rw(d, DISK_OP_READ, 0, buf, sizeof(buf)), -EIO);
	assert_int_equal(do_rw(d, DISK_OP_READ, 0, buf, 4096), 4096);
	disk_close(d);
	drop_image(path);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void test_resize_grow_shrink(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), KiB(64));
	struct disk *d = open_ok(e, path, 0);
	assert_false(disk_read_only(d));
	assert_false(disk_is_block_device(d));
	uint8_t buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_WRITE, KiB(60), buf, sizeof(buf)), sizeof(buf));
	/* Past the end: refused before the grow. */
	struct iovec iov = { buf, sizeof(buf) };
	struct disk_request past = { .op = DISK_OP_READ, .offset = KiB(64), .iov = &iov, .iovcnt = 1 };
	assert_int_equal(disk_submit(d, &past), -EINVAL);

	/* Grow: the file and disk_size follow, the new range reads as zeros
	 * and takes writes up to the new last byte. */
	assert_int_equal(disk_set_size(d, KiB(128)), 0);
	assert_int_equal(disk_size(d), KiB(128));
	assert_int_equal(file_size(path), KiB(128));
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_READ, KiB(64), buf, sizeof(buf)), sizeof(buf));
	assert_true(all_bytes(buf, sizeof(buf), 0));
	memset(buf, 0x6b, sizeof(buf));
	assert_int_equal(do_rw(d, DISK_OP_WRITE, KiB(124), buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, KiB(120), KiB(4)), 0);
	past.offset = KiB(128) - 511;
	assert_int_equal(disk_submit(d, &past), -EINVAL);

	/* Shrink: the tail is gone, requests past the new end are refused,
	 * what lies before it is intact. */
	assert_int_equal(disk_set_size(d, KiB(62)), 0);
	assert_int_equal(disk_size(d), KiB(62));
	assert_int_equal(file_size(path), KiB(62));
	past.offset = KiB(62) - 512;
	assert_int_equal(disk_submit(d, &past), -EINVAL);
	struct disk_request z = { .op = DISK_OP_WRITE_ZEROES, .offset = KiB(62), .len = 512 };
	assert_int_equal(disk_submit(d, &z), -EINVAL);
	struct disk_completion c;
	assert_int_equal(disk_reap(d, &c, 1), 0);
	assert_int_equal(do_rw(d, DISK_OP_READ, KiB(60), buf, 2048), 2048);
	assert_true(all_bytes(buf, 2048, 0x5a));

	/* Grow again: the cut tail does not come back. */
	assert_int_equal(disk_set_size(d, KiB(64)), 0);
	assert_int_equal(do_rw(d, DISK_OP_READ, KiB(60), buf, sizeof(buf)), sizeof(buf));
	assert_true(all_bytes(buf, 2048, 0x5a));
	assert_true(all_bytes(buf + 2048, 2048, 0));
	/* The same size again is fine and changes nothing. */
	assert_int_equal(disk_set_size(d, KiB(64)), 0);
	assert_int_equal(disk_size(d), KiB(64));
	disk_close(d);

	/* A fresh open sees the resized file. */
	d = open_ok(e, path, 0);
	assert_int_equal(disk_size(d), KiB(64));
	disk_close(d);
	drop_image(path);
}

static void test_resize_refused(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 12345);
	struct disk *d = open_ok(e, path, 0);
	/* Bad sizes: zero, not whole sectors, beyond off_t. */
	const uint64_t bad[] = { 0, 1, 511, 513, KiB(64) + 100, UINT64_MAX - 511, (UINT64_C(1) << 63) };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(disk_set_size(d, bad[i]), -EINVAL);
	assert_int_equal(disk_size(d), 12345);
	assert_int_equal(file_size(path), 12345);

	/* A host refusal (here the file size limit) leaves the size alone,
	 * growing or shrinking. */
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	struct rlimit lim = { .rlim_cur = KiB(8), .rlim_max = old.rlim_max };
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = disk_set_size(d, KiB(16));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_int_equal(r, -EFBIG);
	assert_int_equal(disk_size(d), 12345);
	assert_int_equal(file_size(path), 12345);
	disk_close(d);

	/* Read-only: -EROFS first, whatever the size. */
	d = open_ok(e, path, DISK_F_READ_ONLY);
	assert_true(disk_read_only(d));
	assert_int_equal(disk_set_size(d, KiB(64)), -EROFS);
	assert_int_equal(disk_set_size(d, 0), -EROFS);
	assert_int_equal(disk_size(d), 12345);
	assert_int_equal(file_size(path), 12345);
	disk_close(d);
	drop_image(path);
}

/* Requests accepted before a shrink that then lie past the end complete
 * with -EIO; a write that extended the file again is cut back. Only the
 * io_uring engine completes after submit returns: the sync one finished
 * them before the shrink, and they report what happened then. */
static void test_resize_overtaken(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), KiB(64));
	struct disk *d = open_ok(e, path, 0);
	bool uring = strcmp(disk_engine_name(d), "io_uring") == 0;
	static uint8_t wbuf[4096], rbuf[4096], low[4096];
	memset(wbuf, 0x4d, sizeof(wbuf));
	struct iovec wv = { wbuf, sizeof(wbuf) }, rv = { rbuf, sizeof(rbuf) }, lv = { low, sizeof(low) };
	int tw, tr, tl;
	struct disk_request w = { .op = DISK_OP_WRITE, .offset = KiB(60), .iov = &wv, .iovcnt = 1, .user = &tw };
	struct disk_request rd = { .op = DISK_OP_READ, .offset = KiB(56), .iov = &rv, .iovcnt = 1, .user = &tr };
	struct disk_request lo = { .op = DISK_OP_READ, .offset = 0, .iov = &lv, .iovcnt = 1, .user = &tl };
	assert_int_equal(disk_submit(d, &w), 0);
	assert_int_equal(disk_submit(d, &rd), 0);
	assert_int_equal(disk_submit(d, &lo), 0);
	assert_int_equal(disk_set_size(d, KiB(32)), 0);
	/* As if the kernel ran the write only now, after the cut. */
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, wbuf, sizeof(wbuf), (off_t)KiB(60)), (ssize_t)sizeof(wbuf));
	close(fd);

	struct disk_completion c[3];
	wait_reap(d, c, 3);
	for (int i = 0; i < 3; i++) {
		if (c[i].user == &tl)
			assert_int_equal(c[i].result, sizeof(low)); /* inside: unaffected */
		else if (uring)
			assert_int_equal(c[i].result, -EIO);
		else
			assert_int_equal(c[i].result, 4096);
	}
	assert_int_equal(disk_size(d), KiB(32));
	if (uring) {
		assert_int_equal(file_size(path), KiB(32));
	} else {
		/* Nothing raced: the stray write is the test's own. */
		assert_int_equal(file_size(path), KiB(64));
		assert_int_equal(truncate(path, (off_t)KiB(32)), 0);
	}
	disk_close(d);
	drop_image(path);
}

static void test_open_fd(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), 65536);
	struct disk *d = NULL;

	/* A read-only fd cannot back a writable disk; the fd is consumed. */
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(disk_open_fd(fd, e->engine_flags, &d), -EBADF);
	assert_int_equal(fcntl(fd, F_GETFD), -1);

	/* Made close-on-exec; O_APPEND no longer redirects writes to the end. */
	fd = open(path, O_RDWR | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(disk_open_fd(fd, e->engine_flags, &d), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(fd, F_GETFL) & O_APPEND);
	assert_int_equal(disk_size(d), 65536);
	uint8_t b = 0x7e;
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 10, &b, 1), 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 65536);

	/* The lock is held through the received fd too. */
	struct disk *other = NULL;
	assert_int_equal(disk_open(path, e->engine_flags, &other), -EAGAIN);
	disk_close(d);
	drop_image(path);
}

static void test_o_direct(void **state)
{
	const struct env *e = *state;
	char *path = make_image(tmp_dir(), MiB(1));
	struct disk *d = NULL;
	int r = disk_open(path, DISK_F_O_DIRECT | e->engine_flags, &d);
	if (r == -EINVAL) {
		drop_image(path);
		print_message("%s does not support O_DIRECT: skipping\n", tmp_dir());
		skip();
	}
	assert_int_equal(r, 0);
	uint8_t *buf = aligned_alloc(4096, 3 * 4096);
	memset(buf, 0x3c, 2 * 4096);
	struct iovec wv[] = { { buf, 4096 }, { buf + 4096, 4096 } };
	struct disk_request w = { .op = DISK_OP_WRITE, .offset = 8192, .iov = wv, .iovcnt = 2 };
	assert_int_equal(run1(d, w), 8192);
	memset(buf, 0, 3 * 4096);
	assert_int_equal(do_rw(d, DISK_OP_READ, 8192, buf, 8192), 8192);
	assert_true(all_bytes(buf, 8192, 0x3c));
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, 8192, 4096), 0);
	assert_int_equal(do_rw(d, DISK_OP_READ, 8192, buf, 8192), 8192);
	assert_true(all_bytes(buf, 4096, 0));
	assert_true(all_bytes(buf + 4096, 4096, 0x3c));
	free(buf);
	disk_close(d);
	drop_image(path);
}

static void test_enospc(void **state)
{
	const struct env *e = *state;
	char *dir = mount_tmpfs(e, "size=64k");
	if (!dir) {
		print_message("cannot mount a tmpfs (needs root): skipping\n");
		skip();
	}
	/* A 1 MiB hole on a 64 KiB filesystem: writing it fills the disk. */
	char *path = make_image(dir, MiB(1));
	struct disk *d = open_ok(e, path, 0);
	const size_t len = KiB(256);
	uint8_t *buf = malloc(len);
	memset(buf, 0xfe, len);
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 0, buf, len), -ENOSPC);
	/* Still usable: reads work, and so do writes into allocated space. */
	assert_int_equal(do_rw(d, DISK_OP_READ, 0, buf, 4096), 4096);
	assert_int_equal(do_rw(d, DISK_OP_WRITE, 0, buf, 4096), 4096);
	free(buf);
	disk_close(d);
	drop_image(path);
	unmount_tmpfs(dir);
}

/* Attaches path to a free loop device (auto-cleared on last close); returns
 * the device's fd and name, or -1. */
static int attach_loop(const char *path, char *name, size_t name_len)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	int backing = open(path, O_RDWR | O_CLOEXEC);
	int dev = -1;
	for (int attempt = 0; attempt < 5 && dev < 0 && backing >= 0; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(name, name_len, "/dev/loop%d", n);
		dev = open(name, O_RDWR | O_CLOEXEC);
		if (dev < 0)
			break;
		struct loop_config cfg = { .fd = (uint32_t)backing };
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(dev, LOOP_CONFIGURE, &cfg) < 0) {
			close(dev);
			dev = -1; /* raced with another user: try the next one */
		}
	}
	if (backing >= 0)
		close(backing);
	close(ctl);
	return dev;
}

static void test_block_device(void **state)
{
	const struct env *e = *state;
	const uint64_t size = MiB(4);
	char *path = make_image(tmp_dir(), size);
	char name[64];
	int hold = attach_loop(path, name, sizeof(name));
	if (hold < 0) {
		drop_image(path);
		print_message("cannot attach a loop device (needs root): skipping\n");
		skip();
	}
	struct disk *d = open_ok(e, name, DISK_F_SPARSE);
	assert_int_equal(disk_size(d), size);
	/* A host block device is the host's to resize. */
	assert_true(disk_is_block_device(d));
	assert_int_equal(disk_set_size(d, 2 * size), -ENOTSUP);
	assert_int_equal(disk_size(d), size);
	uint8_t *buf = malloc(MiB(1));
	memset(buf, 0x6d, MiB(1));
	assert_int_equal(do_rw(d, DISK_OP_WRITE, MiB(1), buf, MiB(1)), MiB(1));
	assert_int_equal(run1(d, (struct disk_request){ .op = DISK_OP_FLUSH }), 0);
	memset(buf, 0, MiB(1));
	assert_int_equal(do_rw(d, DISK_OP_READ, MiB(1), buf, MiB(1)), MiB(1));
	assert_true(all_bytes(buf, MiB(1), 0x6d));

	/* BLKDISCARD on a loop device punches the backing file. */
	uint64_t before = blocks_of(path);
	assert_int_equal(do_range(d, DISK_OP_DISCARD, MiB(1), KiB(512)), 0);
	assert_true(blocks_of(path) < before);
	assert_int_equal(do_range(d, DISK_OP_WRITE_ZEROES, MiB(1) + KiB(512), KiB(4)), 0);
	assert_int_equal(do_rw(d, DISK_OP_READ, MiB(1), buf, MiB(1)), MiB(1));
	assert_true(all_bytes(buf, KiB(516), 0));
	assert_true(all_bytes(buf + KiB(516), MiB(1) - KiB(516), 0x6d));
	free(buf);
	disk_close(d);
	close(hold);
	drop_image(path);
}

/* Each test twice, named for the engine it asks for. */
#define BOTH(f)                                                 \
	{ "io_uring/" #f, f, NULL, NULL, &uring_env },         \
	{ "sync/" #f, f, NULL, NULL, &sync_env }

int main(void)
{
	/* A private mount namespace keeps the test's tmpfs mounts invisible
	 * to the host and gone when the test exits, even on failure. It must
	 * be entered before any io_uring worker thread shares our fs state. */
	bool can_mount = unshare(CLONE_NEWNS) == 0 &&
			 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	struct env uring_env = { .engine_flags = 0, .can_mount = can_mount };
	struct env sync_env = { .engine_flags = DISK_F_NO_IO_URING, .can_mount = can_mount };
	const struct CMUnitTest tests[] = {
		BOTH(test_engine),
		BOTH(test_roundtrip),
		BOTH(test_long_iovec),
		BOTH(test_flush),
		BOTH(test_discard),
		BOTH(test_write_zeroes),
		BOTH(test_write_zeroes_fallback),
		BOTH(test_read_only),
		BOTH(test_lock),
		BOTH(test_size_and_errors),
		BOTH(test_bounds),
		BOTH(test_in_flight_cap),
		BOTH(test_close_in_flight),
		BOTH(test_shrunk_under_us),
		BOTH(test_resize_grow_shrink),
		BOTH(test_resize_refused),
		BOTH(test_resize_overtaken),
		BOTH(test_open_fd),
		BOTH(test_o_direct),
		BOTH(test_enospc),
		BOTH(test_block_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
