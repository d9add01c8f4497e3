/*
 * Unit tests for the vhost-user proxy device: a proxy in front of a real
 * vhu_backend serving a real device on its own thread over a socketpair,
 * driven as a transport drives a device: by the device harness (mock
 * driver, real memfd guest memory) and, once, by the virtio-pci transport
 * itself through BAR 0 with a fake host.
 *
 * The devices behind the back-end: virtio-rng for the data path, and a
 * small fake with a configuration space ("cfgdev") for configuration
 * forwarding, config-change notices and ring selection. The back-end's
 * thread can be told to stop answering (a hung device process) or to
 * return leaving its fds open, so death by timeout, by a closed socket
 * and by a closed request channel can each be staged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "devices/bus.h"
#include "devices/pci/pci_config.h"
#include "fakes/device_harness.h"
#include "vhost/user/backend.h"
#include "vhost/user/proxy_device.h"
#include "vhost/user/protocol.h"
#include "virtio/rng/rng.h"
#include "fakes/fake_pci_host.h"
#include "virtio/transport/virtio_pci.h"

#define WAIT_MS 5000
#define QUIET_MS 100
#define QSIZE 16
#define RING_BASE MiB(1)
#define BUF_BASE 0x10000
#define SHORT_TIMEOUT_MS 300

/* ---- cfgdev: two queues, 24 bytes of configuration (the last 8 writable) ---- */

#define CFG_SIZE 24
#define CFG_RW_OFF 16
#define CFGDEV_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

/* Touched on the back-end thread; the test reads it after a request the
 * back-end acked (the socket round trip orders the two). */
struct cfgdev {
	uint8_t cfg[CFG_SIZE];
	unsigned writes;
	uint32_t last_write_len;
	unsigned activations;
	unsigned ready_mask;
	uint64_t features;
	bool active;
	int activate_err; /* what activate returns instead of starting */
};

static unsigned cd_num_queues(void *dev) { (void)dev; return 2; }
static uint16_t cd_queue_max(void *dev, unsigned q) { (void)dev, (void)q; return 64; }
static uint64_t cd_features(void *dev) { (void)dev; return CFGDEV_FEATURES; }

static void cd_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct cfgdev *d = dev;
	virtio_config_read_bytes(d->cfg, sizeof(d->cfg), off, data, len);
}

static void cd_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct cfgdev *d = dev;
	d->writes++;
	d->last_write_len = len;
	for (uint32_t i = 0; i < len; i++)
		if (off + i >= CFG_RW_OFF && off + i < CFG_SIZE)
			d->cfg[off + i] = data[i];
}

static int cd_activate(void *dev, const struct virtio_activation *act)
{
	struct cfgdev *d = dev;
	if (d->active)
		return -EBUSY;
	if (d->activate_err)
		return d->activate_err;
	d->ready_mask = 0;
	for (unsigned q = 0; q < act->nr_queues; q++)
		if (act->queues[q].cfg.size)
			d->ready_mask |= 1u << q;
	d->features = act->features;
	d->activations++;
	d->active = true;
	return 0;
}

static void cd_reset(void *dev) { ((struct cfgdev *)dev)->active = false; }
static void cd_destroy(void *dev) { (void)dev; }

static const struct virtio_device_ops cfgdev_ops = {
	.name = "cfgdev",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = cd_num_queues,
	.queue_max_size = cd_queue_max,
	.features = cd_features,
	.config_read = cd_config_read,
	.config_write = cd_config_write,
	.activate = cd_activate,
	.reset = cd_reset,
	.destroy = cd_destroy,
};

/* ---- the back-end side: a device, a vhu_backend and its thread ---- */

struct be {
	struct virtio_device dev;
	bool own_dev; /* dev.ops->destroy at the end (rng) */
	struct vhu_backend b;
	pthread_t thread;
	bool running;
	int result;
	atomic_bool hang; /* stop answering requests */
	int stop_fd;	  /* eventfd: the thread returns, leaving every fd open */
};

/* vhu_backend_run, plus the hang and stop controls. */
static void *be_main(void *arg)
{
	struct be *be = arg;
	struct vhu_backend *b = &be->b;
	for (;;) {
		bool hang = atomic_load(&be->hang);
		struct pollfd p[4] = {
			{ .fd = be->stop_fd, .events = POLLIN },
			{ .fd = hang ? -1 : b->sock, .events = POLLIN },
			{ .fd = b->config_fd, .events = POLLIN },
			{ .fd = b->error_fd, .events = POLLIN },
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			be->result = -errno;
			return NULL;
		}
		if (p[0].revents) {
			be->result = 0;
			return NULL;
		}
		/* A failure is the request channel's (closed by a test). */
		if ((p[2].revents || p[3].revents) && vhu_backend_handle_device_events(b) < 0)
			b->last_error = -EPIPE;
		/* Hung since poll returned: leave the request unread. */
		if (p[1].revents && !atomic_load(&be->hang)) {
			int r = vhu_backend_handle_one(b);
			if (r <= 0) {
				be->result = r;
				return NULL;
			}
		}
	}
}

static void be_start(struct be *be, int sock)
{
	atomic_init(&be->hang, false);
	assert_true((be->stop_fd = evfd_create()) >= 0);
	assert_int_equal(vhu_backend_init(&be->b, &be->dev, sock), 0);
	assert_int_equal(pthread_create(&be->thread, NULL, be_main, be), 0);
	be->running = true;
}

/* Makes the thread return (if it has not) and joins it. */
static void be_stop(struct be *be)
{
	if (!be->running)
		return;
	assert_int_equal(evfd_signal(be->stop_fd), 0);
	pthread_join(be->thread, NULL);
	be->running = false;
}

static void be_destroy(struct be *be)
{
	be_stop(be);
	vhu_backend_destroy(&be->b);
	if (be->own_dev)
		be->dev.ops->destroy(be->dev.dev);
	fd_close(&be->stop_fd);
}

/* ---- fixture ---- */

struct fx {
	struct device_harness h;
	struct cfgdev cd;
	struct be be;
	struct virtio_device pdev; /* the proxy; ops NULL when none */
};

static const struct gm_range ranges[] = { { GPA(0), KiB(256) }, { GPA(MiB(1)), KiB(64) } };

static struct fx *fx_new(bool rng, unsigned nr_queues)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	struct vdh_layout l = {
		.ranges = ranges,
		.nr_ranges = ARRAY_SIZE(ranges),
		.nr_queues = nr_queues,
		.ring_base = GPA(RING_BASE),
		.ring_stride = 0x2000,
		.queue_size = 0,
	};
	vdh_init(&fx->h, &l);
	vdh_queue_init(&fx->h, 0, QSIZE); /* queue 0 only: any further queue stays disabled */
	if (rng) {
		assert_int_equal(virtio_rng_create(&fx->be.dev), 0);
		fx->be.own_dev = true;
	} else {
		for (unsigned i = 0; i < CFG_SIZE; i++)
			fx->cd.cfg[i] = (uint8_t)(0xa0 + i);
		fx->be.dev = (struct virtio_device){ &cfgdev_ops, &fx->cd };
	}
	return fx;
}

static const struct vhu_proxy_info rng_info = { .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = QSIZE };
static const struct vhu_proxy_info cfg_info = { .device_id = VIRTIO_ID_BLOCK, .num_queues = 2, .queue_max_size = 64,
						 .config_size = CFG_SIZE, .reply_timeout_ms = SHORT_TIMEOUT_MS };

/* A back-end on one end of a socketpair, a proxy on the other. */
static void fx_connect(struct fx *fx, const struct vhu_proxy_info *info)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	be_start(&fx->be, sv[1]);
	assert_int_equal(vhu_proxy_create(sv[0], info, &fx->pdev), 0);
}

static int setup_rng(void **state)
{
	struct fx *fx = fx_new(true, 1);
	fx_connect(fx, &rng_info);
	*state = fx;
	return 0;
}

static int setup_cfg(void **state)
{
	struct fx *fx = fx_new(false, 2);
	fx_connect(fx, &cfg_info);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* A hung back-end never answers the proxy's reset: let it go. */
	if (fx->pdev.ops)
		fx->pdev.ops->destroy(fx->pdev.dev);
	be_destroy(&fx->be);
	vdh_destroy(&fx->h);
	free(fx);
	return 0;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void cfg_read(struct fx *fx, uint32_t off, void *data, uint32_t len)
{
	fx->pdev.ops->config_read(fx->pdev.dev, off, data, len);
}

static void cfg_write(struct fx *fx, uint32_t off, const void *data, uint32_t len)
{
	fx->pdev.ops->config_write(fx->pdev.dev, off, data, len);
}

static void expect_zeros(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(b[i], 0);
}

/* Queues one 64-byte writable buffer at slot's place and kicks. */
static int add_rng_buffer(struct fx *fx, unsigned slot)
{
	uint64_t a = BUF_BASE + 64 * slot;
	vdh_fill(&fx->h, a, 0, 64);
	struct vqd_buf buf = { GPA(a), 64, true };
	return vdh_add_kick(&fx->h, 0, &buf, 1);
}

/* The kick reaches the device behind the back-end, which fills the buffer
 * and interrupts on the transport's call eventfd. */
static void expect_rng_served(struct fx *fx, unsigned slot, int head)
{
	assert_true(readable(fx->h.call[0], WAIT_MS));
	vdh_wait_used(&fx->h, 0, head, 64);
	uint8_t data[64], zero[64] = { 0 };
	vdh_get(&fx->h, BUF_BASE + 64 * slot, data, sizeof(data));
	/* 64 random bytes are all zero with probability 2^-512. */
	assert_memory_not_equal(data, zero, sizeof(data));
}

static void expect_dead(struct fx *fx, int err)
{
	int dfd = vhu_proxy_dead_fd(&fx->pdev);
	assert_true(dfd >= 0);
	assert_true(readable(dfd, WAIT_MS));
	if (err)
		assert_int_equal(vhu_proxy_error(&fx->pdev), err);
	else
		assert_true(vhu_proxy_error(&fx->pdev) < 0);
}

/* ---- identity, features, configuration ---- */

static void test_identity(void **state)
{
	struct fx *fx = *state;
	const struct virtio_device *d = &fx->pdev;
	assert_true(vhu_proxy_is_proxy(d));
	assert_false(vhu_proxy_is_proxy(&fx->be.dev));
	assert_int_equal(vhu_proxy_dead_fd(&fx->be.dev), -EINVAL);
	assert_int_equal(vhu_proxy_error(&fx->be.dev), -EINVAL);
	assert_string_equal(d->ops->name, "block");
	assert_int_equal(d->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(d->ops->num_queues(d->dev), 2);
	assert_int_equal(d->ops->queue_max_size(d->dev, 0), 64);
	assert_int_equal(d->ops->queue_max_size(d->dev, 1), 64);
	assert_int_equal(d->ops->queue_max_size(d->dev, 2), 0);
	/* The back-end's offer, without vhost-user's own bit. */
	assert_int_equal(d->ops->features(d->dev), CFGDEV_FEATURES);
	assert_int_equal(vhu_proxy_error(d), 0);
	assert_false(readable(vhu_proxy_dead_fd(d), 0));
}

static void test_config_forwarded(void **state)
{
	struct fx *fx = *state;
	uint8_t b[8];
	memset(b, 0xff, sizeof(b));
	cfg_read(fx, 0, b, 4);
	assert_int_equal(b[0], 0xa0);
	assert_int_equal(b[3], 0xa3);
	assert_int_equal(b[4], 0xff); /* untouched beyond len */
	/* Straddling the end of the space: clipped, zeros beyond. */
	memset(b, 0xff, sizeof(b));
	cfg_read(fx, 20, b, 8);
	assert_int_equal(b[0], 0xa0 + 20);
	assert_int_equal(b[3], 0xa0 + 23);
	expect_zeros(b + 4, 4);
	/* Wholly outside it: zeros, and no request at all. */
	memset(b, 0xff, sizeof(b));
	cfg_read(fx, CFG_SIZE, b, 4);
	expect_zeros(b, 4);
	cfg_read(fx, 4000, b, 8);
	expect_zeros(b, 8);

	uint8_t w[4] = { 1, 2, 3, 4 };
	cfg_write(fx, CFG_RW_OFF, w, 4);
	assert_int_equal(fx->cd.writes, 1);
	memset(b, 0, sizeof(b));
	cfg_read(fx, CFG_RW_OFF, b, 4);
	assert_memory_equal(b, w, 4);
	/* Writes past the space are dropped; straddling ones clipped. */
	cfg_write(fx, CFG_SIZE, w, 4);
	assert_int_equal(fx->cd.writes, 1);
	cfg_write(fx, CFG_SIZE - 2, w, 4);
	assert_int_equal(fx->cd.writes, 2);
	assert_int_equal(fx->cd.last_write_len, 2);
	cfg_read(fx, CFG_SIZE - 2, b, 2);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[1], 2);
	assert_int_equal(vhu_proxy_error(&fx->pdev), 0);
}

/* Several vCPUs reading the configuration at once: each gets its own
 * answer (interleaved requests would break the stream and kill it). */
struct reader {
	struct fx *fx;
	unsigned seed;
	int mismatches;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	for (int i = 0; i < 300; i++) {
		uint32_t off = (r->seed + (unsigned)i * 7) % (CFG_RW_OFF - 4);
		uint8_t b[4];
		r->fx->pdev.ops->config_read(r->fx->pdev.dev, off, b, 4);
		for (unsigned j = 0; j < 4; j++)
			if (b[j] != (uint8_t)(0xa0 + off + j))
				r->mismatches++;
	}
	return NULL;
}

static void test_concurrent_config_reads(void **state)
{
	struct fx *fx = *state;
	struct reader r[4];
	pthread_t t[4];
	for (unsigned i = 0; i < 4; i++) {
		r[i] = (struct reader){ fx, i * 3, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].mismatches, 0);
	}
	assert_int_equal(vhu_proxy_error(&fx->pdev), 0);
}

/* ---- activation ---- */

static void test_rng_data_path(void **state)
{
	struct fx *fx = *state;
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(fx->be.b.active);
	int head = add_rng_buffer(fx, 0);
	expect_rng_served(fx, 0, head);
	head = add_rng_buffer(fx, 1);
	expect_rng_served(fx, 1, head);
	vdh_expect_no_error(&fx->h);
}

static void test_reset_then_activate_again(void **state)
{
	struct fx *fx = *state;
	const struct virtio_device *d = &fx->pdev;
	vdh_activate(&fx->h, d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	int head = add_rng_buffer(fx, 0);
	expect_rng_served(fx, 0, head);

	d->ops->reset(d->dev);
	assert_false(fx->be.b.active);
	/* Stopped: a kick is not served. */
	(void)add_rng_buffer(fx, 1);
	vdh_expect_no_used(&fx->h, 0);
	d->ops->reset(d->dev); /* not active: nothing */

	/* The driver starts over with a fresh ring, with event-idx now. */
	vdh_queue_init(&fx->h, 0, QSIZE);
	(void)evfd_drain(fx->h.call[0]);
	(void)evfd_drain(fx->h.kick[0]);
	vdh_activate(&fx->h, d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	assert_true(fx->be.b.active);
	assert_int_equal(fx->be.b.acked_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX), VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	head = add_rng_buffer(fx, 2);
	expect_rng_served(fx, 2, head);
	/* A second activation without a reset is refused. */
	assert_int_equal(d->ops->activate(d->dev, &fx->h.act), -EBUSY);
	d->ops->reset(d->dev);
	assert_false(fx->be.b.active);
	assert_int_equal(vhu_proxy_error(d), 0);
}

/* The device finds the ring broken: the transport's error eventfd hears
 * it straight from the back-end (SET_VRING_ERR). */
static void test_broken_ring_reaches_error_fd(void **state)
{
	struct fx *fx = *state;
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vqd_set_avail_idx(&fx->h.d[0], QSIZE + 5);
	vdh_kick(&fx->h, 0);
	vdh_expect_error(&fx->h);
	assert_int_equal(vhu_proxy_error(&fx->pdev), 0);
}

static void test_only_enabled_rings(void **state)
{
	struct fx *fx = *state;
	/* Queue 1 was never initialised: not enabled in the activation. */
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5));
	assert_int_equal(fx->cd.activations, 1);
	assert_int_equal(fx->cd.ready_mask, 1);
	assert_int_equal(fx->cd.features, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5));
	fx->pdev.ops->reset(fx->pdev.dev);
	assert_false(fx->cd.active);
	/* Both rings now: one activation with both. */
	vdh_queue_init(&fx->h, 1, QSIZE);
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(fx->cd.activations, 2);
	assert_int_equal(fx->cd.ready_mask, 3);
}

/* An activation the back-end refuses fails, and leaves the back-end reset
 * so the next one starts clean. */
static void test_refused_activation(void **state)
{
	struct fx *fx = *state;
	const struct virtio_device *d = &fx->pdev;
	/* A ring outside guest memory: the front-end's own check. */
	struct virtio_activation act = *vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
	act.queues[0].cfg.desc = GPA(MiB(64));
	assert_int_equal(d->ops->activate(d->dev, &act), -EFAULT);
	/* A feature the back-end does not offer. */
	act = *vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(7), 2);
	assert_int_equal(d->ops->activate(d->dev, &act), -EINVAL);
	/* A ring larger than the queue allows. */
	act = *vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
	act.queues[0].cfg.size = 128;
	assert_int_equal(d->ops->activate(d->dev, &act), -EINVAL);
	assert_int_equal(fx->cd.activations, 0);
	assert_false(fx->be.b.features_set);
	/* Still alive, and a good activation works. */
	assert_int_equal(vhu_proxy_error(d), 0);
	vdh_activate(&fx->h, d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(fx->cd.activations, 1);
}

/* A refusal the back-end acks is the request's failure, not the
 * connection's, whatever its status says: one that reads like a broken
 * stream (EPROTO, EMSGSIZE: what a device's activation may return for a
 * guest's bad ring) must not end the device. */
static void test_refusal_is_not_death(void **state)
{
	struct fx *fx = *state;
	const struct virtio_device *d = &fx->pdev;
	static const int errs[] = { -EPROTO, -EMSGSIZE, -ETIMEDOUT, -EINVAL };
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		fx->cd.activate_err = errs[i];
		const struct virtio_activation *act = vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
		assert_int_equal(d->ops->activate(d->dev, act), errs[i]);
		assert_int_equal(vhu_proxy_error(d), 0);
	}
	fx->cd.activate_err = 0;
	vdh_activate(&fx->h, d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(fx->cd.activations, 1);
}

/* Queues may have different maximum sizes (virtio-net's control queue):
 * each is reported, and each is enforced at activation. */
static void test_per_queue_max_size(void **state)
{
	(void)state;
	struct fx *fx = fx_new(false, 2);
	struct vhu_proxy_info info = cfg_info;
	info.queue_max_sizes[1] = 16;
	fx_connect(fx, &info);
	const struct virtio_device *d = &fx->pdev;
	assert_int_equal(d->ops->queue_max_size(d->dev, 0), 64);
	assert_int_equal(d->ops->queue_max_size(d->dev, 1), 16);
	struct virtio_activation *act = vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
	act->queues[1].cfg.size = 32;
	assert_int_equal(d->ops->activate(d->dev, act), -EINVAL);
	assert_int_equal(fx->cd.activations, 0);
	vdh_queue_init(&fx->h, 1, 16);
	vdh_activate(&fx->h, d, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(fx->cd.activations, 1);
	assert_int_equal(fx->cd.ready_mask, 3);
	/* A per-queue size must be valid too. */
	info.queue_max_sizes[1] = 24;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct virtio_device bad;
	assert_int_equal(vhu_proxy_create(sv[0], &info, &bad), -EINVAL);
	close(sv[1]);
	void *st = fx;
	assert_int_equal(teardown(&st), 0);
}

static void test_config_change(void **state)
{
	struct fx *fx = *state;
	/* Not active: a change announced now goes nowhere. */
	assert_int_equal(evfd_signal(fx->be.b.config_fd), 0);
	assert_false(readable(fx->h.config_fd, QUIET_MS));
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* The device signals its config_fd (the back-end's): the back-end
	 * announces it on its request channel, the proxy signals ours. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(evfd_signal(fx->be.b.config_fd), 0);
		assert_true(readable(fx->h.config_fd, WAIT_MS));
		assert_true(evfd_drain(fx->h.config_fd) > 0);
	}
	fx->pdev.ops->reset(fx->pdev.dev);
	assert_int_equal(evfd_signal(fx->be.b.config_fd), 0);
	assert_false(readable(fx->h.config_fd, QUIET_MS));
	assert_int_equal(vhu_proxy_error(&fx->pdev), 0);
}

/* ---- death ---- */

/* Everything on a dead proxy returns at once, with nothing. */
static void expect_fails_fast(struct fx *fx)
{
	const struct virtio_device *d = &fx->pdev;
	uint8_t b[8];
	memset(b, 0xff, sizeof(b));
	int64_t t0 = vdh_now_ms();
	cfg_read(fx, 0, b, sizeof(b));
	expect_zeros(b, sizeof(b));
	cfg_write(fx, CFG_RW_OFF, b, 4);
	d->ops->reset(d->dev);
	vdh_queue_init(&fx->h, 0, QSIZE);
	assert_int_equal(d->ops->activate(d->dev, vdh_activation(&fx->h, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2)),
			 -ENOTCONN);
	assert_true(vdh_now_ms() - t0 < 1000);
}

/* The device process goes away while nothing is asked of it: the socket's
 * hang-up is noticed (only the socket closes here, the request channel
 * stays open). */
static void test_backend_closes(void **state)
{
	struct fx *fx = *state;
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	be_stop(&fx->be);
	fd_close(&fx->be.b.sock);
	expect_dead(fx, -ECONNRESET);
	expect_fails_fast(fx);
	/* Signalled once and for all. */
	assert_int_equal(evfd_drain(vhu_proxy_dead_fd(&fx->pdev)), 1);
}

/* Only the request channel closes (the socket stays open, unread). */
static void test_request_channel_closes(void **state)
{
	struct fx *fx = *state;
	be_stop(&fx->be);
	fd_close(&fx->be.b.backend_req_fd);
	expect_dead(fx, -ECONNRESET);
	expect_fails_fast(fx);
}

/* The device process dies while a vCPU waits for its reply: the request
 * returns at once, long before the timeout. */
struct pending_read {
	struct fx *fx;
	uint8_t b[4];
	int64_t took;
};

static void *pending_read_main(void *arg)
{
	struct pending_read *r = arg;
	int64_t t0 = vdh_now_ms();
	r->fx->pdev.ops->config_read(r->fx->pdev.dev, 0, r->b, sizeof(r->b));
	r->took = vdh_now_ms() - t0;
	return NULL;
}

static void test_backend_dies_mid_request(void **state)
{
	(void)state;
	struct fx *fx = fx_new(false, 2);
	struct vhu_proxy_info info = cfg_info;
	info.reply_timeout_ms = 20000;
	fx_connect(fx, &info);
	atomic_store(&fx->be.hang, true);
	struct pending_read r = { .fx = fx, .b = { 0xff, 0xff, 0xff, 0xff } };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, pending_read_main, &r), 0);
	usleep(QUIET_MS * 1000);
	assert_int_equal(shutdown(fx->be.b.sock, SHUT_RDWR), 0);
	pthread_join(t, NULL);
	assert_true(r.took < 5000);
	expect_zeros(r.b, sizeof(r.b));
	expect_dead(fx, 0);
	assert_int_not_equal(vhu_proxy_error(&fx->pdev), -ETIMEDOUT);
	void *st = fx;
	assert_int_equal(teardown(&st), 0);
}

/* A back-end that stops answering: the request returns after the reply
 * timeout, and the proxy is dead. */
static void test_hung_backend(void **state)
{
	struct fx *fx = *state;
	vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	atomic_store(&fx->be.hang, true);
	uint8_t b[4];
	memset(b, 0xff, sizeof(b));
	int64_t t0 = vdh_now_ms();
	cfg_read(fx, 0, b, sizeof(b));
	int64_t took = vdh_now_ms() - t0;
	assert_true(took >= SHORT_TIMEOUT_MS - 20);
	assert_true(took < SHORT_TIMEOUT_MS + 2000);
	expect_zeros(b, sizeof(b));
	expect_dead(fx, -ETIMEDOUT);
	expect_fails_fast(fx);
}

/* A back-end that says nothing at all: the handshake times out. */
static void *silent_peer(void *arg)
{
	int s = *(int *)arg;
	char buf[256];
	/* Read (and ignore) until the proxy gives up and shuts down. */
	while (read(s, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void test_handshake_timeout(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, silent_peer, &sv[1]), 0);
	struct vhu_proxy_info info = rng_info;
	info.reply_timeout_ms = 200;
	struct virtio_device d;
	int64_t t0 = vdh_now_ms();
	assert_int_equal(vhu_proxy_create(sv[0], &info, &d), -ETIMEDOUT);
	assert_true(vdh_now_ms() - t0 < 2000);
	assert_null(d.ops);
	/* The proxy closed its end: the peer saw the end of the stream. */
	pthread_join(t, NULL);
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	close(sv[1]);
}

static void test_bad_info(void **state)
{
	(void)state;
	struct vhu_proxy_info bad[] = {
		{ .device_id = 99, .num_queues = 1, .queue_max_size = 16 }, /* unknown device */
		{ .device_id = VIRTIO_ID_RNG, .num_queues = 0, .queue_max_size = 16 }, /* no queue */
		{ .device_id = VIRTIO_ID_RNG, .num_queues = VIRTIO_MAX_QUEUES + 1, .queue_max_size = 16 },
		{ .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = 0 }, /* queue size 0 */
		{ .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = 12 }, /* not a power of two */
		{ .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = 16, .config_size = VHU_MAX_CONFIG_SIZE + 1 },
		{ .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = 16, .reply_timeout_ms = -1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		struct virtio_device d;
		assert_int_equal(vhu_proxy_create(sv[0], &bad[i], &d), -EINVAL);
		assert_int_equal(fcntl(sv[0], F_GETFD), -1); /* closed */
		close(sv[1]);
	}
}

/* A back-end serving fewer queues than the proxy is told about. */
static void test_queue_count_mismatch(void **state)
{
	(void)state;
	struct fx *fx = fx_new(true, 1);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	be_start(&fx->be, sv[1]);
	struct vhu_proxy_info info = rng_info;
	info.num_queues = 2;
	assert_int_equal(vhu_proxy_create(sv[0], &info, &fx->pdev), -EPROTO);
	assert_null(fx->pdev.ops);
	void *st = fx;
	assert_int_equal(teardown(&st), 0);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A whole life (handshake, activation, reset, death, destroy) leaves no
 * fd and no thread behind (the sanitizer build checks the memory). */
static void test_no_fd_left(void **state)
{
	(void)state;
	int fds = count_entries("/proc/self/fd"), threads = count_entries("/proc/self/task");
	for (int i = 0; i < 2; i++) {
		void *st;
		assert_int_equal(setup_rng(&st), 0);
		struct fx *fx = st;
		vdh_activate(&fx->h, &fx->pdev, VIRTIO_BIT(VIRTIO_F_VERSION_1));
		if (i == 1) {
			/* Dead while active this time. */
			assert_int_equal(shutdown(fx->be.b.sock, SHUT_RDWR), 0);
			expect_dead(fx, 0);
		} else {
			fx->pdev.ops->reset(fx->pdev.dev);
		}
		assert_int_equal(teardown(&st), 0);
	}
	assert_int_equal(count_entries("/proc/self/fd"), fds);
	assert_int_equal(count_entries("/proc/self/task"), threads);
}

/* ---- through the virtio-pci transport ---- */

#define BAR_ADDR 0xc0000000ULL


static void wr(struct bus *mmio, uint64_t off, uint32_t val, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16), (uint8_t)(val >> 24) };
	assert_true(bus_write(mmio, BAR_ADDR + off, b, len));
}

static uint32_t rd(struct bus *mmio, uint64_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };
	assert_true(bus_read(mmio, BAR_ADDR + off, b, len));
	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_ENABLE 0x1c
#define CC_Q_DESCLO 0x20
#define CC_Q_AVAILLO 0x28
#define CC_Q_USEDLO 0x30
#define DRIVER_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define ALL_OK (DRIVER_BITS | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

static bool intx_raised(struct fake_pci_host *host, int ms)
{
	for (int64_t end = vdh_now_ms() + ms; vdh_now_ms() < end; usleep(5000)) {
		if (fake_pci_host_intx(host))
			return true;
	}
	return false;
}

/* The transport drives the proxy as it drives an in-process device: a
 * driver brings the device up through BAR 0, its kick is served by the
 * device behind the back-end, whose interrupt raises INTx; a reset stops
 * it; a config read goes through. */
static void test_through_virtio_pci(void **state)
{
	struct fx *fx = *state;
	struct fake_pci_host host = { .next_gsi = 24 };
	assert_int_equal(pthread_mutex_init(&host.lock, NULL), 0);
	struct bus mmio;
	assert_int_equal(bus_init(&mmio), 0);
	struct virtio_pci_host vh = { .ops = &fake_pci_host_ops, .ctx = &host, .mmio_bus = &mmio, .gm = &fx->h.gm };
	struct virtio_pci *vp;
	assert_int_equal(virtio_pci_create(&vp, fx->pdev, &vh, BAR_ADDR, 5), 0);
	fx->pdev.ops = NULL; /* the transport's now */
	uint8_t cmd[2] = { PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0 };
	virtio_pci_config_ops.config_write(vp, PCI_COMMAND, cmd, 2);

	struct virtq_driver *d = &fx->h.d[0];
	wr(&mmio, CC_STATUS, 0, 1);
	wr(&mmio, CC_STATUS, DRIVER_BITS, 1);
	wr(&mmio, CC_GFSELECT, 1, 4);
	wr(&mmio, CC_GF, 1, 4); /* VERSION_1 */
	wr(&mmio, CC_STATUS, DRIVER_BITS | VIRTIO_STATUS_FEATURES_OK, 1);
	wr(&mmio, CC_Q_SELECT, 0, 2);
	assert_int_equal(rd(&mmio, CC_Q_SIZE, 2), QSIZE);
	wr(&mmio, CC_Q_DESCLO, (uint32_t)gpa_val(d->desc), 4);
	wr(&mmio, CC_Q_AVAILLO, (uint32_t)gpa_val(d->avail), 4);
	wr(&mmio, CC_Q_USEDLO, (uint32_t)gpa_val(d->used), 4);
	wr(&mmio, CC_Q_ENABLE, 1, 2);
	wr(&mmio, CC_STATUS, ALL_OK, 1);
	assert_int_equal(rd(&mmio, CC_STATUS, 1), ALL_OK); /* no NEEDS_RESET: activated */
	assert_true(fx->be.b.active);

	vdh_fill(&fx->h, BUF_BASE, 0, 64);
	struct vqd_buf buf = { GPA(BUF_BASE), 64, true };
	int head = vqd_add(d, &buf, 1);
	assert_true(head >= 0);
	vqd_publish(d);
	wr(&mmio, VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_true(intx_raised(&host, WAIT_MS));
	uint16_t id;
	uint32_t len;
	assert_int_equal(vqd_get_used(d, &id, &len), 1);
	assert_int_equal(id, head);
	assert_int_equal(len, 64);
	/* rng has no configuration space: zeros. */
	assert_int_equal(rd(&mmio, VIRTIO_PCI_DEVICE_OFF, 4), 0);

	wr(&mmio, CC_STATUS, 0, 1);
	assert_false(fx->be.b.active);
	virtio_pci_destroy(vp); /* destroys the proxy */
	bus_destroy(&mmio);
	pthread_mutex_destroy(&host.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_config_forwarded, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_config_reads, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_rng_data_path, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_reset_then_activate_again, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_broken_ring_reaches_error_fd, setup_rng, teardown),
		cmocka_unit_test_setup_teardown(test_only_enabled_rings, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_refused_activation, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_is_not_death, setup_cfg, teardown),
		cmocka_unit_test(test_per_queue_max_size),
		cmocka_unit_test_setup_teardown(test_config_change, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_backend_closes, setup_cfg, teardown),
		cmocka_unit_test_setup_teardown(test_request_channel_closes, setup_cfg, teardown),
		cmocka_unit_test(test_backend_dies_mid_request),
		cmocka_unit_test_setup_teardown(test_hung_backend, setup_cfg, teardown),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_bad_info),
		cmocka_unit_test(test_queue_count_mismatch),
		cmocka_unit_test(test_no_fd_left),
		cmocka_unit_test_setup_teardown(test_through_virtio_pci, setup_rng, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
