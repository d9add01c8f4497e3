/*
 * Unit tests for virtio-console: the device runs on its worker thread
 * against pipes, the mock driver of tests/fakes plays the guest. Covered:
 * transmit chains reach the output fd intact (split over descriptors,
 * indirect), output that would block is held back and delivered in order
 * once the fd drains, receive buffers get host input, input with no
 * buffers posted stays in the fd until there are some, end of input, no
 * fds at all, malformed chains on both queues, and destroying the device
 * while output is blocked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/fd.h"
#include "fakes/device_harness.h"
#include "virtio/console/console.h"

#define QSIZE 16
#define RX_RING 0x1000
#define TX_RING 0x8000
#define TABLE 0x10000
#define DATA 0x20000

struct fixture {
	struct device_harness h;
	int in_w;  /* test writes host input here */
	int out_r; /* test reads guest output here */
	int in_r, out_w; /* the device's ends (owned by it once created) */
	struct virtio_device dev;
	bool active;
};

static struct fixture *fixture_new_fds(bool with_in, bool with_out)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const struct gm_range r[] = { { GPA(0), MiB(1) } };
	vdh_init(&f->h, &(struct vdh_layout){ .ranges = r, .nr_ranges = 1, .nr_queues = 2, .ring_base = GPA(RX_RING),
					      .ring_stride = TX_RING - RX_RING, .queue_size = QSIZE });
	int p[2];
	f->in_r = f->in_w = f->out_r = f->out_w = -1;
	if (with_in) {
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		f->in_r = p[0], f->in_w = p[1];
	}
	if (with_out) {
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		f->out_r = p[0], f->out_w = p[1];
	}
	return f;
}

static void fixture_start(struct fixture *f)
{
	assert_int_equal(virtio_console_create(f->in_r, f->out_w, &f->dev), 0);
	assert_int_equal(f->dev.ops->num_queues(f->dev.dev), 2);
	vdh_activate(&f->h, &f->dev, f->dev.ops->features(f->dev.dev));
	f->active = true;
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = fixture_new_fds(true, true);
	fixture_start(f);
	return f;
}

static void fixture_free(struct fixture *f)
{
	if (f->active)
		f->dev.ops->destroy(f->dev.dev);
	/* No guest-triggered error in any test broke a ring. */
	vdh_expect_no_error(&f->h);
	vdh_destroy(&f->h);
	fd_close(&f->in_w);
	fd_close(&f->out_r);
	free(f);
}

static struct vqd_buf rbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, false }; }
static struct vqd_buf wbuf(uint64_t addr, uint32_t len) { return (struct vqd_buf){ GPA(addr), len, true }; }

/* Reads exactly len bytes of guest output, waiting up to VDH_WAIT_MS. */
static void read_out(struct fixture *f, void *buf, size_t len)
{
	int64_t end = vdh_now_ms() + VDH_WAIT_MS;
	size_t done = 0;
	while (done < len) {
		assert_true(vdh_now_ms() < end);
		struct pollfd p = { .fd = f->out_r, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = read(f->out_r, (uint8_t *)buf + done, len - done);
		assert_true(n > 0);
		done += (size_t)n;
	}
}

static void expect_out_empty(struct fixture *f)
{
	int n = -1;
	assert_int_equal(ioctl(f->out_r, FIONREAD, &n), 0);
	assert_int_equal(n, 0);
}

static int pending_input(struct fixture *f)
{
	int n = -1;
	assert_int_equal(ioctl(f->in_w, FIONREAD, &n), 0);
	return n;
}

static void write_in(struct fixture *f, const char *s)
{
	assert_int_equal(write(f->in_w, s, strlen(s)), (ssize_t)strlen(s));
}

static void expect_guest(struct fixture *f, uint64_t addr, const char *s)
{
	char buf[256];
	size_t n = strlen(s);
	assert_true(n < sizeof(buf));
	vdh_get(&f->h, addr, buf, n);
	assert_memory_equal(buf, s, n);
}

static void test_tx_split_chain(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	vdh_put(&f->h, DATA, "hello, ", 7);
	vdh_put(&f->h, DATA + 0x1000, "virtio ", 7);
	vdh_put(&f->h, DATA + 0x2ffc, "console!\n", 9); /* crosses a page */
	struct vqd_buf b[] = { rbuf(DATA, 7), rbuf(DATA + 0x1000, 7), rbuf(DATA + 0x2ffc, 9) };
	int head = vdh_add_kick(&f->h, 1, b, 3);
	char out[23];
	read_out(f, out, sizeof(out));
	assert_memory_equal(out, "hello, virtio console!\n", 23);
	vdh_wait_used(&f->h, 1, head, 0);

	/* Through an indirect table, and two chains in one kick, in order. */
	vdh_put(&f->h, DATA + 0x4000, "in", 2);
	vdh_put(&f->h, DATA + 0x4100, "direct", 6);
	struct vqd_buf ib[] = { rbuf(DATA + 0x4000, 2), rbuf(DATA + 0x4100, 6) };
	int h1 = vqd_add_indirect(&f->h.d[1], GPA(TABLE), ib, 2);
	assert_true(h1 >= 0);
	struct vqd_buf nb[] = { rbuf(DATA, 5) };
	int h2 = vqd_add(&f->h.d[1], nb, 1);
	assert_true(h2 >= 0);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);
	char out2[13];
	read_out(f, out2, sizeof(out2));
	assert_memory_equal(out2, "indirecthello", 13);
	vdh_wait_used(&f->h, 1, h1, 0);
	vdh_wait_used(&f->h, 1, h2, 0);
	expect_out_empty(f);
	fixture_free(f);
}

static void test_rx_after_buffers(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	struct vqd_buf b[] = { wbuf(DATA, 64) };
	int head = vdh_add_kick(&f->h, 0, b, 1);
	vdh_expect_no_used(&f->h, 0);
	write_in(f, "ping");
	vdh_wait_used(&f->h, 0, head, 4);
	expect_guest(f, DATA, "ping");

	/* A buffer split over two descriptors is filled across both. */
	struct vqd_buf s[] = { wbuf(DATA + 0x1000, 3), wbuf(DATA + 0x2000, 8) };
	head = vdh_add_kick(&f->h, 0, s, 2);
	write_in(f, "abcdefgh");
	vdh_wait_used(&f->h, 0, head, 8);
	expect_guest(f, DATA + 0x1000, "abc");
	expect_guest(f, DATA + 0x2000, "defgh");
	assert_int_equal(pending_input(f), 0);
	fixture_free(f);
}

static void test_rx_input_waits_for_buffers(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	/* No buffers: the input stays in the pipe. */
	write_in(f, "early input");
	vdh_expect_no_used(&f->h, 0);
	assert_int_equal(pending_input(f), 11);

	/* Two small buffers take what fits; the rest still waits. */
	struct vqd_buf b1[] = { wbuf(DATA, 4) };
	struct vqd_buf b2[] = { wbuf(DATA + 0x100, 4) };
	int h1 = vqd_add(&f->h.d[0], b1, 1);
	int h2 = vqd_add(&f->h.d[0], b2, 1);
	assert_true(h1 >= 0 && h2 >= 0);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	vdh_wait_used(&f->h, 0, h1, 4);
	vdh_wait_used(&f->h, 0, h2, 4);
	expect_guest(f, DATA, "earl");
	expect_guest(f, DATA + 0x100, "y in");
	vdh_expect_no_used(&f->h, 0);
	assert_int_equal(pending_input(f), 3);

	/* More input meanwhile queues behind it; a new buffer gets both. */
	write_in(f, "!");
	struct vqd_buf b3[] = { wbuf(DATA + 0x200, 16) };
	int h3 = vdh_add_kick(&f->h, 0, b3, 1);
	vdh_wait_used(&f->h, 0, h3, 4);
	expect_guest(f, DATA + 0x200, "put!");
	assert_int_equal(pending_input(f), 0);
	fixture_free(f);
}

static void test_tx_blocked_output(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	/* The smallest pipe: one page. */
	assert_true(fcntl(f->out_r, F_SETPIPE_SZ, 4096) >= 4096);
	int cap = fcntl(f->out_r, F_GETPIPE_SZ);
	enum { A = 9000, B = 7000, C = 4000, N = A + B + C };
	uint8_t *pat = malloc(N + 4);
	assert_non_null(pat);
	for (int i = 0; i < N; i++)
		pat[i] = (uint8_t)(i * 7 + i / 251);
	memcpy(pat + N, "tail", 4);
	vdh_put(&f->h, DATA, pat, A);
	vdh_put(&f->h, DATA + 0x10000, pat + A, B);
	vdh_put(&f->h, DATA + 0x20000, pat + A + B, C);
	vdh_put(&f->h, DATA + 0x30000, pat + N, 4);
	struct vqd_buf big[] = { rbuf(DATA, A), rbuf(DATA + 0x10000, B), rbuf(DATA + 0x20000, C) };
	struct vqd_buf tail[] = { rbuf(DATA + 0x30000, 4) };
	int h1 = vqd_add(&f->h.d[1], big, 3);
	int h2 = vqd_add(&f->h.d[1], tail, 1);
	assert_true(h1 >= 0 && h2 >= 0);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);

	/* The pipe fills; nothing completes; a kick while blocked changes
	 * nothing. */
	vdh_expect_no_used(&f->h, 1);
	vdh_kick(&f->h, 1);
	vdh_expect_no_used(&f->h, 1);
	int n = -1;
	assert_int_equal(ioctl(f->out_r, FIONREAD, &n), 0);
	assert_int_equal(n, cap);

	/* Draining the pipe lets everything out, intact and in order. */
	uint8_t *got = malloc(N + 4);
	assert_non_null(got);
	read_out(f, got, N + 4);
	assert_memory_equal(got, pat, N + 4);
	vdh_wait_used(&f->h, 1, h1, 0);
	vdh_wait_used(&f->h, 1, h2, 0);
	expect_out_empty(f);

	/* And the queue keeps working. */
	struct vqd_buf again[] = { rbuf(DATA + 0x30000, 4) };
	int h3 = vdh_add_kick(&f->h, 1, again, 1);
	char t[4];
	read_out(f, t, 4);
	assert_memory_equal(t, "tail", 4);
	vdh_wait_used(&f->h, 1, h3, 0);
	free(got);
	free(pat);
	fixture_free(f);
}

static void test_destroy_while_blocked(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	assert_true(fcntl(f->out_r, F_SETPIPE_SZ, 4096) >= 4096);
	struct vqd_buf big[] = { rbuf(DATA, 0x10000) };
	(void)vdh_add_kick(&f->h, 1, big, 1);
	vdh_expect_no_used(&f->h, 1);
	/* Reset and destroy do not wait for the output. */
	f->dev.ops->reset(f->dev.dev);
	f->dev.ops->destroy(f->dev.dev);
	f->active = false;
	fixture_free(f);
}

static void test_malformed_chains(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	/* Transmit: a buffer outside guest memory, then a looping chain
	 * written by hand (descriptor 15 pointing at itself). */
	struct vqd_buf bad[] = { rbuf(DATA, 4), rbuf(MiB(1) - 2, 4) };
	int hb = vdh_add_kick(&f->h, 1, bad, 2);
	vdh_wait_used(&f->h, 1, hb, 0);
	assert_int_equal(vqd_write_desc(&f->h.d[1], QSIZE - 1, DATA, 4, VIRTQ_DESC_F_NEXT, QSIZE - 1), 0);
	vqd_put_head(&f->h.d[1], QSIZE - 1);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);
	vdh_wait_used(&f->h, 1, QSIZE - 1, 0);
	/* A writable buffer on the transmit queue has nothing to send. */
	struct vqd_buf wr[] = { wbuf(DATA, 4) };
	int hw = vdh_add_kick(&f->h, 1, wr, 1);
	vdh_wait_used(&f->h, 1, hw, 0);
	expect_out_empty(f);
	vdh_put(&f->h, DATA + 0x100, "ok", 2);
	struct vqd_buf good[] = { rbuf(DATA + 0x100, 2) };
	int hg = vdh_add_kick(&f->h, 1, good, 1);
	char out[2];
	read_out(f, out, 2);
	assert_memory_equal(out, "ok", 2);
	vdh_wait_used(&f->h, 1, hg, 0);
	expect_out_empty(f);

	/* Receive: a buffer outside guest memory, and a read-only one, are
	 * handed back empty without touching the input. */
	write_in(f, "data");
	struct vqd_buf rbad[] = { wbuf(MiB(1) + 0x1000, 16) };
	int hrb = vdh_add_kick(&f->h, 0, rbad, 1);
	vdh_wait_used(&f->h, 0, hrb, 0);
	struct vqd_buf ro[] = { rbuf(DATA, 16) };
	int hro = vdh_add_kick(&f->h, 0, ro, 1);
	vdh_wait_used(&f->h, 0, hro, 0);
	assert_int_equal(pending_input(f), 4);
	struct vqd_buf rgood[] = { wbuf(DATA + 0x200, 16) };
	int hrg = vdh_add_kick(&f->h, 0, rgood, 1);
	vdh_wait_used(&f->h, 0, hrg, 4);
	expect_guest(f, DATA + 0x200, "data");
	fixture_free(f);
}

static void test_broken_ring(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	/* avail->idx jumps by more than the queue size: the device reports
	 * the broken ring once and stops using it, without crashing. */
	vqd_set_avail_idx(&f->h.d[1], QSIZE + 5);
	vdh_kick(&f->h, 1);
	vdh_expect_error(&f->h);
	vdh_kick(&f->h, 1);
	write_in(f, "x");
	vdh_expect_no_used(&f->h, 1);
	vdh_expect_no_error(&f->h);
	fixture_free(f);
}

static void test_end_of_input(void **state)
{
	(void)state;
	struct fixture *f = fixture_new();
	write_in(f, "last");
	fd_close(&f->in_w);
	struct vqd_buf b1[] = { wbuf(DATA, 64) };
	int h1 = vdh_add_kick(&f->h, 0, b1, 1);
	vdh_wait_used(&f->h, 0, h1, 4);
	expect_guest(f, DATA, "last");
	/* At end of file the next buffer is kept, not completed empty, and
	 * the hung-up pipe does not keep the worker busy. */
	struct vqd_buf b2[] = { wbuf(DATA + 0x100, 64) };
	(void)vdh_add_kick(&f->h, 0, b2, 1);
	vdh_expect_no_used(&f->h, 0);
	/* Output still works. */
	vdh_put(&f->h, DATA + 0x200, "bye", 3);
	struct vqd_buf t[] = { rbuf(DATA + 0x200, 3) };
	int ht = vdh_add_kick(&f->h, 1, t, 1);
	char out[3];
	read_out(f, out, 3);
	assert_memory_equal(out, "bye", 3);
	vdh_wait_used(&f->h, 1, ht, 0);
	fixture_free(f);
}

static void test_no_fds(void **state)
{
	(void)state;
	struct fixture *f = fixture_new_fds(false, false);
	fixture_start(f);
	/* Output is discarded, receive buffers wait for input that never
	 * comes. */
	vdh_put(&f->h, DATA, "void", 4);
	struct vqd_buf t[] = { rbuf(DATA, 4) };
	int ht = vdh_add_kick(&f->h, 1, t, 1);
	vdh_wait_used(&f->h, 1, ht, 0);
	struct vqd_buf r[] = { wbuf(DATA + 0x100, 64) };
	(void)vdh_add_kick(&f->h, 0, r, 1);
	vdh_expect_no_used(&f->h, 0);
	/* Config space: no feature gives it content. */
	uint8_t cfg[12];
	memset(cfg, 0xff, sizeof(cfg));
	f->dev.ops->config_read(f->dev.dev, 0, cfg, sizeof(cfg));
	for (size_t i = 0; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
	assert_int_equal(f->dev.ops->device_id, VIRTIO_ID_CONSOLE);
	fixture_free(f);
}

static void test_regular_file_io(void **state)
{
	(void)state;
	/* Regular files cannot be polled: input is read on receive kicks,
	 * output never blocks. */
	struct fixture *f = fixture_new_fds(false, false);
	char in_path[] = "/tmp/console_test_in_XXXXXX", out_path[] = "/tmp/console_test_out_XXXXXX";
	int in = mkstemp(in_path), outf = mkstemp(out_path);
	assert_true(in >= 0 && outf >= 0);
	unlink(in_path);
	unlink(out_path);
	assert_int_equal(write(in, "from a file", 11), 11);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	int check = dup(outf);
	assert_true(check >= 0);
	f->in_r = in;
	f->out_w = outf;
	fixture_start(f);
	struct vqd_buf b[] = { wbuf(DATA, 8) };
	struct vqd_buf b2[] = { wbuf(DATA + 0x100, 8) };
	int h1 = vdh_add_kick(&f->h, 0, b, 1);
	vdh_wait_used(&f->h, 0, h1, 8);
	int h2 = vdh_add_kick(&f->h, 0, b2, 1);
	vdh_wait_used(&f->h, 0, h2, 3);
	expect_guest(f, DATA, "from a f");
	expect_guest(f, DATA + 0x100, "ile");
	vdh_put(&f->h, DATA + 0x200, "to a file", 9);
	struct vqd_buf t[] = { rbuf(DATA + 0x200, 9) };
	int ht = vdh_add_kick(&f->h, 1, t, 1);
	vdh_wait_used(&f->h, 1, ht, 0);
	char got[9];
	assert_int_equal(pread(check, got, 9, 0), 9);
	assert_memory_equal(got, "to a file", 9);
	close(check);
	fixture_free(f);
}

static void test_create_errors(void **state)
{
	(void)state;
	struct virtio_device d;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* The same fd twice is refused (and closed). */
	assert_int_equal(virtio_console_create(p[0], p[0], &d), -EINVAL);
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	close(p[1]);
	/* A closed fd is refused. */
	assert_int_equal(virtio_console_create(p[0], -1, &d), -EINVAL);

	/* Flags come back at destroy. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int keep = dup(p[0]);
	assert_true(keep >= 0);
	assert_int_equal(virtio_console_create(p[0], p[1], &d), 0);
	assert_true(fcntl(keep, F_GETFL) & O_NONBLOCK);
	d.ops->destroy(d.dev);
	assert_false(fcntl(keep, F_GETFL) & O_NONBLOCK);
	close(keep);
	d.ops->destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_split_chain),
		cmocka_unit_test(test_rx_after_buffers),
		cmocka_unit_test(test_rx_input_waits_for_buffers),
		cmocka_unit_test(test_tx_blocked_output),
		cmocka_unit_test(test_destroy_while_blocked),
		cmocka_unit_test(test_malformed_chains),
		cmocka_unit_test(test_broken_ring),
		cmocka_unit_test(test_end_of_input),
		cmocka_unit_test(test_no_fds),
		cmocka_unit_test(test_regular_file_io),
		cmocka_unit_test(test_create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
