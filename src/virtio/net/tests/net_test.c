/*
 * Unit tests for virtio-net: the pure header check, offload mapping and
 * control parser directly; the device end to end with the mock driver of
 * tests/fakes playing the guest and a SOCK_SEQPACKET socketpair playing
 * the TAP (one message = header + frame, as a TAP reads and writes them).
 * TAP ioctls go through a recording fake table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakes/device_harness.h"
#include "net/net.h"
#include "virtio/net/net.h"

#define B(n) VIRTIO_BIT(n)
#define MEM_SIZE MiB(8)
#define RING_BASE 0x10000ULL /* queue q's rings at RING_BASE + q * RING_STRIDE */
#define RING_STRIDE 0x4000ULL
#define DATA_BASE 0x100000ULL

/* Everything a Linux guest asks for, less MRG_RXBUF and MQ. */
#define FEAT_BASE                                                                                            \
	(B(VIRTIO_F_VERSION_1) | B(VIRTIO_F_EVENT_IDX) | B(VIRTIO_F_INDIRECT_DESC) | B(VIRTIO_NET_F_CSUM) |  \
	 B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_TSO4) | B(VIRTIO_NET_F_GUEST_TSO6) |              \
	 B(VIRTIO_NET_F_GUEST_ECN) | B(VIRTIO_NET_F_HOST_TSO4) | B(VIRTIO_NET_F_HOST_TSO6) |                 \
	 B(VIRTIO_NET_F_HOST_ECN) | B(VIRTIO_NET_F_STATUS) | B(VIRTIO_NET_F_MAC))
#define FEAT_MRG (FEAT_BASE | B(VIRTIO_NET_F_MRG_RXBUF))
#define FEAT_MQ (FEAT_MRG | B(VIRTIO_NET_F_CTRL_VQ) | B(VIRTIO_NET_F_MQ))

/* ---- fake TAP ioctls (called from device threads, hence the lock) ---- */

#define FAKE_FDS 1024
static struct {
	pthread_mutex_t lock;
	int hdr_size[FAKE_FDS];
	int offload[FAKE_FDS];	 /* -1: never set */
	int attached[FAKE_FDS];	 /* -1: never set, else 0/1 */
	unsigned queue_calls[FAKE_FDS];
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fake_hdr_size(int fd, int size)
{
	pthread_mutex_lock(&fake.lock);
	fake.hdr_size[fd] = size;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_offload(int fd, unsigned flags)
{
	pthread_mutex_lock(&fake.lock);
	fake.offload[fd] = (int)flags;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_queue(int fd, bool on)
{
	pthread_mutex_lock(&fake.lock);
	fake.attached[fd] = on;
	fake.queue_calls[fd]++;
	pthread_mutex_unlock(&fake.lock);
	return 0;
}

static int fake_get(int *arr, int fd)
{
	pthread_mutex_lock(&fake.lock);
	int v = arr[fd];
	pthread_mutex_unlock(&fake.lock);
	return v;
}

static const struct virtio_net_tap_ops fake_ops = {
	.set_vnet_hdr_size = fake_hdr_size,
	.set_offload = fake_offload,
	.set_queue_enabled = fake_queue,
};

static void fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	for (int i = 0; i < FAKE_FDS; i++) {
		fake.hdr_size[i] = 0;
		fake.offload[i] = -1;
		fake.attached[i] = -1;
		fake.queue_calls[i] = 0;
	}
	pthread_mutex_unlock(&fake.lock);
}

/* ---- fixture ---- */

struct fx {
	struct device_harness h;
	struct virtio_device dev;
	unsigned pairs;
	int dev_fd[4];	/* the device's "TAP" ends (owned by the device) */
	int peer_fd[4]; /* the host side of each "TAP" */
	unsigned nq;
	uint64_t features;
	uint64_t next_data;
};

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static uint64_t alloc_data(struct fx *f, uint64_t len)
{
	uint64_t a = f->next_data;
	f->next_data = (a + len + 15) & ~15ULL;
	assert_true(f->next_data <= MEM_SIZE);
	return a;
}

/* Activates with f->features over fresh rings of the device's maximum
 * size, for the queues those features put in use. */
static void fx_activate(struct fx *f)
{
	bool mq = f->features & B(VIRTIO_NET_F_MQ);
	unsigned used = mq ? f->pairs : 1;
	for (unsigned q = 0; q < f->nq; q++) {
		bool enabled = q < 2 * used || ((f->features & B(VIRTIO_NET_F_CTRL_VQ)) && q == 2 * used);
		vdh_queue_init(&f->h, q, enabled ? f->dev.ops->queue_max_size(f->dev.dev, q) : 0);
	}
	vdh_activate(&f->h, &f->dev, f->features);
}

/* A device with `pairs` pairs, of which the driver accepted `features`;
 * sndbuf > 0 shrinks the device side's socket send buffer. */
static struct fx *fx_new_opts(unsigned pairs, uint64_t features, int sndbuf, bool activate)
{
	fake_reset();
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->pairs = pairs;
	f->features = features;
	f->next_data = DATA_BASE;
	for (unsigned i = 0; i < pairs; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
		if (sndbuf > 0)
			assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
		f->dev_fd[i] = sv[0];
		f->peer_fd[i] = sv[1];
	}
	struct virtio_net_options o = { .has_mac = true, .mtu = 1500, .nr_pairs = pairs, .tap_ops = &fake_ops };
	memcpy(o.mac, test_mac, 6);
	assert_int_equal(virtio_net_create(f->dev_fd, &o, &f->dev), 0);
	assert_int_equal(features & ~f->dev.ops->features(f->dev.dev), 0);
	f->nq = f->dev.ops->num_queues(f->dev.dev);
	/* Rings come with each activation, sized as the device allows. */
	const struct gm_range r[] = { { GPA(0), MEM_SIZE } };
	vdh_init(&f->h, &(struct vdh_layout){ .ranges = r, .nr_ranges = 1, .nr_queues = f->nq,
					      .ring_base = GPA(RING_BASE), .ring_stride = RING_STRIDE });
	if (activate)
		fx_activate(f);
	return f;
}

static struct fx *fx_new(unsigned pairs, uint64_t features) { return fx_new_opts(pairs, features, 0, true); }

static void fx_free(struct fx *f)
{
	f->dev.ops->destroy(f->dev.dev);
	vdh_destroy(&f->h);
	for (unsigned i = 0; i < f->pairs; i++)
		close(f->peer_fd[i]);
	free(f);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* Receives one message from the host side of pair i (5 s timeout). */
static ssize_t peer_recv(struct fx *f, unsigned i, void *buf, size_t cap)
{
	assert_true(readable(f->peer_fd[i], 5000));
	return recv(f->peer_fd[i], buf, cap, MSG_DONTWAIT);
}

static void peer_send(struct fx *f, unsigned i, const void *buf, size_t len)
{
	assert_int_equal(send(f->peer_fd[i], buf, len, 0), (ssize_t)len);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static struct virtio_net_hdr12 hdr_none(void)
{
	struct virtio_net_hdr12 h;
	memset(&h, 0, sizeof(h));
	return h;
}

/* Writes hdr + frame into guest memory split into the given pieces and
 * adds the chain to queue q. Returns the head. */
static int add_tx(struct fx *f, unsigned q, const uint8_t *msg, size_t len, const size_t *pieces, size_t n)
{
	struct vqd_buf bufs[16];
	size_t off = 0;
	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = alloc_data(f, pieces[i]);
		vdh_put(&f->h, a, msg + off, pieces[i]);
		bufs[i] = (struct vqd_buf){ GPA(a), (uint32_t)pieces[i], false };
		off += pieces[i];
	}
	assert_int_equal(off, len);
	int head = vqd_add(&f->h.d[q], bufs, n);
	assert_true(head >= 0);
	return head;
}

/* Adds a one-descriptor writable chain of len bytes; returns its GPA. */
static uint64_t add_rx(struct fx *f, unsigned q, uint32_t len, int *head)
{
	uint64_t a = alloc_data(f, len);
	vdh_fill(&f->h, a, 0xee, len);
	struct vqd_buf b = { GPA(a), len, true };
	int h = vqd_add(&f->h.d[q], &b, 1);
	assert_true(h >= 0);
	if (head)
		*head = h;
	return a;
}

/* ---- pure functions ---- */

static void test_offloads(void **state)
{
	(void)state;
	assert_int_equal(virtio_net_tap_offloads(0), 0);
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_CSUM)), TUN_F_CSUM);
	/* Segmentation without checksum offload: the TAP would refuse it. */
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_TSO4) | B(VIRTIO_NET_F_GUEST_TSO6)), 0);
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_TSO4)),
			 TUN_F_CSUM | TUN_F_TSO4);
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_TSO6) |
						 B(VIRTIO_NET_F_GUEST_ECN)),
			 TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN);
	/* ECN alone qualifies nothing. */
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_ECN)), TUN_F_CSUM);
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_UFO)),
			 TUN_F_CSUM | TUN_F_UFO);
	/* Host-side (transmit) offloads are not the TAP's business. */
	assert_int_equal(virtio_net_tap_offloads(B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_HOST_TSO4) |
						 B(VIRTIO_NET_F_HOST_TSO6) | B(VIRTIO_NET_F_HOST_ECN)),
			 0);
	assert_int_equal(virtio_net_tap_offloads(FEAT_BASE), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
	assert_int_equal(virtio_net_tap_offloads(UINT64_MAX) & ~(unsigned)TAP_OFFLOAD_MASK, 0);
}

static struct virtio_net_hdr12 tso(uint8_t type, uint16_t gso_size)
{
	struct virtio_net_hdr12 h = hdr_none();
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = type;
	h.hdr_len = le16_make(54);
	h.gso_size = le16_make(gso_size);
	h.csum_start = le16_make(34);
	h.csum_offset = le16_make(16);
	return h;
}

static void test_hdr_check(void **state)
{
	(void)state;
	const uint64_t all = FEAT_BASE;
	struct virtio_net_hdr12 h = hdr_none();
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, 60), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, VIRTIO_NET_MIN_FRAME), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, VIRTIO_NET_MIN_FRAME - 1), -EMSGSIZE);
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, VIRTIO_NET_MAX_FRAME), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, VIRTIO_NET_MAX_FRAME + 1), -EMSGSIZE);
	/* num_buffers is the device's field on receive: ignored here. */
	h.num_buffers = le16_make(77);
	assert_int_equal(virtio_net_hdr_check_tx(&h, 0, 60), 0);

	/* Flags the driver must not set, and checksum offload not negotiated. */
	h = hdr_none();
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), -EINVAL);
	h.flags = VIRTIO_NET_HDR_F_RSC_INFO;
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), -EINVAL);
	h.flags = 0x80;
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), -EINVAL);
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = le16_make(34);
	h.csum_offset = le16_make(6);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all & ~B(VIRTIO_NET_F_CSUM), 60), -EINVAL);
	/* The checksum must lie inside the frame: 34 + 6 + 2 = 42. */
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 42), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 41), -EINVAL);
	h.csum_start = le16_make(0xffff);
	h.csum_offset = le16_make(0xffff);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, VIRTIO_NET_MAX_FRAME), -EINVAL);
	/* hdr_len inside the frame. */
	h = hdr_none();
	h.hdr_len = le16_make(61);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), -EINVAL);
	h.hdr_len = le16_make(60);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 60), 0);

	/* Segmentation. */
	h = tso(VIRTIO_NET_HDR_GSO_TCPV4, 1448);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 9000), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all & ~B(VIRTIO_NET_F_HOST_TSO4), 9000), -EINVAL);
	h = tso(VIRTIO_NET_HDR_GSO_TCPV6, 1428);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 9000), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all & ~B(VIRTIO_NET_F_HOST_TSO6), 9000), -EINVAL);
	h = tso(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 9000), 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all & ~B(VIRTIO_NET_F_HOST_ECN), 9000), -EINVAL);
	h = tso(VIRTIO_NET_HDR_GSO_TCPV4, 0);
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 9000), -EINVAL);
	h = tso(VIRTIO_NET_HDR_GSO_TCPV4, 1448);
	h.flags = 0;
	assert_int_equal(virtio_net_hdr_check_tx(&h, all, 9000), -EINVAL);
	/* Types never offered or unknown, and ECN on a non-GSO frame. */
	const uint8_t bad_types[] = { VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_UDP_L4, 2, 6, 0x7f, 0xff,
				      VIRTIO_NET_HDR_GSO_ECN };
	for (size_t i = 0; i < ARRAY_SIZE(bad_types); i++) {
		h = tso(bad_types[i], 1448);
		assert_int_equal(virtio_net_hdr_check_tx(&h, UINT64_MAX, 9000), -EINVAL);
	}
}

static void test_ctrl_parse(void **state)
{
	(void)state;
	unsigned n = 99;
	uint8_t two[2] = { 2, 0 }, zero[2] = { 0, 0 }, five[2] = { 5, 0 }, on[1] = { 1 };
	uint64_t mq = B(VIRTIO_NET_F_MQ) | B(VIRTIO_NET_F_CTRL_VQ);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 0, two, 2, mq, 4, &n), VIRTIO_NET_OK);
	assert_int_equal(n, 2);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 0, zero, 2, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(n, 0);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 0, five, 2, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 0, two, 1, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 0, two, 2, B(VIRTIO_NET_F_CTRL_VQ), 4, &n),
			 VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MQ, 1, two, 2, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, on, 1, mq, 4, &n),
			 VIRTIO_NET_OK);
	assert_int_equal(n, 0);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, on, 1, mq, 4, &n),
			 VIRTIO_NET_OK);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, on, 0, mq, 4, &n),
			 VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_RX, 2, on, 1, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_MAC, 1, two, 2, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_VLAN, 0, two, 2, mq, 4, &n), VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(VIRTIO_NET_CTRL_GUEST_OFFLOADS, 0, two, 2, mq, 4, &n),
			 VIRTIO_NET_ERR);
	assert_int_equal(virtio_net_ctrl_parse(200, 0, NULL, 0, mq, 4, &n), VIRTIO_NET_ERR);
}

/* ---- device: creation, features, configuration ---- */

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void test_config_space(void **state)
{
	(void)state;
	struct fx *f = fx_new_opts(2, 0, 0, false);
	const struct virtio_device_ops *ops = f->dev.ops;
	void *d = f->dev.dev;
	assert_int_equal(ops->device_id, VIRTIO_ID_NET);
	assert_int_equal(ops->num_queues(d), 5);
	assert_int_equal(ops->queue_max_size(d, 0), 256);
	assert_int_equal(ops->queue_max_size(d, 4), 64);
	uint64_t feat = ops->features(d);
	uint64_t want = FEAT_MQ | B(VIRTIO_NET_F_MTU);
	assert_int_equal(feat, want);

	uint8_t cfg[VIRTIO_NET_CFG_SIZE];
	ops->config_read(d, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, test_mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[8] | cfg[9] << 8, 2);
	assert_int_equal(cfg[10] | cfg[11] << 8, 1500);
	/* Partial and out-of-range reads; writes are ignored. */
	uint8_t b[4];
	ops->config_read(d, 10, b, 4);
	assert_int_equal(b[0] | b[1] << 8, 1500);
	assert_int_equal(b[2] | b[3], 0);
	ops->config_read(d, 100, b, 4);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	uint8_t zeros[6] = { 0 };
	ops->config_write(d, 0, zeros, 6);
	ops->config_read(d, 0, cfg, 6);
	assert_memory_equal(cfg, test_mac, 6);
	fx_free(f);

	/* One pair, no MAC, no MTU: none of their features. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	struct virtio_net_options o = { .nr_pairs = 1, .tap_ops = &fake_ops };
	struct virtio_device dev;
	assert_int_equal(virtio_net_create(sv, &o, &dev), 0);
	assert_int_equal(dev.ops->num_queues(dev.dev), 2);
	assert_int_equal(dev.ops->features(dev.dev), FEAT_MRG & ~B(VIRTIO_NET_F_MAC));
	dev.ops->config_read(dev.dev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, zeros, 6);
	assert_int_equal(cfg[8] | cfg[9] << 8, 1);
	assert_int_equal(cfg[10] | cfg[11] << 8, 0);
	dev.ops->destroy(dev.dev);
	assert_false(fd_open(sv[0]));
	close(sv[1]);
}

static void test_create_invalid(void **state)
{
	(void)state;
	struct virtio_device dev;
	struct { unsigned pairs; uint16_t mtu; bool bad_fd; } cases[] = {
		{ 0, 0, false }, { 17, 0, false }, { 1, 67, false }, { 2, 0, true },
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		int fds[17], peers[17];
		for (int i = 0; i < 17; i++)
			fds[i] = peers[i] = -1;
		unsigned n = cases[c].pairs ? cases[c].pairs : 1;
		for (unsigned i = 0; i < n; i++) {
			int sv[2];
			assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
			fds[i] = sv[0];
			peers[i] = sv[1];
		}
		int saved = fds[1];
		if (cases[c].bad_fd)
			fds[1] = -1;
		struct virtio_net_options o = { .nr_pairs = cases[c].pairs, .mtu = cases[c].mtu, .tap_ops = &fake_ops };
		assert_int_equal(virtio_net_create(fds, &o, &dev), -EINVAL);
		/* Ownership moved anyway: the given fds are closed. */
		for (unsigned i = 0; i < cases[c].pairs; i++)
			if (fds[i] >= 0)
				assert_false(fd_open(fds[i]));
		if (cases[c].pairs == 0)
			close(fds[0]);
		if (cases[c].bad_fd)
			close(saved);
		for (unsigned i = 0; i < n; i++)
			close(peers[i]);
		(void)saved;
	}
}

static void test_activate_programs_tap(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	int fd = f->dev_fd[0];
	assert_int_equal(fake_get(fake.hdr_size, fd), TAP_VNET_HDR_V1_SIZE);
	assert_int_equal(fake_get(fake.offload, fd), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
	/* A single pair never touches the TAP's queues. */
	assert_int_equal(fake_get(fake.attached, fd), -1);

	/* Reset keeps the fd; a driver that wants no receive offloads gets
	 * none on the next activation. */
	f->dev.ops->reset(f->dev.dev);
	assert_true(fd_open(fd));
	f->features = B(VIRTIO_F_VERSION_1) | B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_GUEST_TSO4);
	fx_activate(f);
	assert_int_equal(fake_get(fake.offload, fd), 0);

	/* ... and it still works: a frame goes out. */
	uint8_t msg[12 + 60];
	struct virtio_net_hdr12 h = hdr_none();
	memcpy(msg, &h, 12);
	fill_pattern(msg + 12, 60, 3);
	size_t pieces[] = { sizeof(msg) };
	int head = add_tx(f, 1, msg, sizeof(msg), pieces, 1);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, head);
	uint8_t got[256];
	assert_int_equal(peer_recv(f, 0, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	fx_free(f);
	assert_false(fd_open(fd));
}

/* ---- transmit ---- */

static void test_tx_split_frame(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	/* A TSO frame with a checksum request: header split over two
	 * descriptors, the frame over three. */
	uint8_t msg[12 + 3000];
	struct virtio_net_hdr12 h = tso(VIRTIO_NET_HDR_GSO_TCPV4, 1448);
	memcpy(msg, &h, 12);
	fill_pattern(msg + 12, 3000, 1);
	size_t pieces[] = { 5, 7 + 100, 1900, 1000 };
	int head = add_tx(f, 1, msg, sizeof(msg), pieces, 4);
	/* And a small plain frame in one descriptor. */
	uint8_t msg2[12 + 64];
	struct virtio_net_hdr12 h2 = hdr_none();
	memcpy(msg2, &h2, 12);
	fill_pattern(msg2 + 12, 64, 2);
	size_t p2[] = { sizeof(msg2) };
	int head2 = add_tx(f, 1, msg2, sizeof(msg2), p2, 1);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);

	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, head2);
	uint8_t got[4096];
	assert_int_equal(peer_recv(f, 0, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(peer_recv(f, 0, got, sizeof(got)), sizeof(msg2));
	assert_memory_equal(got, msg2, sizeof(msg2));
	fx_free(f);
}

static void test_tx_malformed_refused(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	uint8_t msg[12 + 100];
	fill_pattern(msg + 12, 100, 5);
	size_t one[] = { sizeof(msg) };
	struct virtio_net_hdr12 h = hdr_none();

	h.gso_type = 0x42; /* unknown GSO type */
	memcpy(msg, &h, 12);
	add_tx(f, 1, msg, sizeof(msg), one, 1);
	h = hdr_none(); /* checksum beyond the frame */
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = le16_make(90);
	h.csum_offset = le16_make(16);
	memcpy(msg, &h, 12);
	add_tx(f, 1, msg, sizeof(msg), one, 1);
	size_t shorty[] = { 8 }; /* not even a header */
	add_tx(f, 1, msg, 8, shorty, 1);
	/* Larger than 64 KiB + headers: gathered from guest memory. */
	uint64_t big = alloc_data(f, 70000);
	struct vqd_buf bb = { GPA(big), 70000, false };
	h = hdr_none();
	vdh_put(&f->h, big, &h, 12);
	assert_true(vqd_add(&f->h.d[1], &bb, 1) >= 0);
	/* Then a good one. */
	h = hdr_none();
	memcpy(msg, &h, 12);
	int good = add_tx(f, 1, msg, sizeof(msg), one, 1);
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);

	uint16_t id;
	uint32_t len;
	for (int i = 0; i < 5; i++) {
		vdh_next_used(&f->h, 1, &id, &len);
		assert_int_equal(len, 0);
	}
	assert_int_equal(id, good);
	uint8_t got[256];
	assert_int_equal(peer_recv(f, 0, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	/* Nothing else reached the TAP. */
	assert_false(readable(f->peer_fd[0], 50));
	vdh_expect_no_error(&f->h);
	fx_free(f);
}

static void test_tx_bad_chains(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	struct virtq_driver *d = &f->h.d[1];
	uint64_t a = alloc_data(f, 64);
	/* A descriptor that loops onto itself, and one outside guest memory. */
	assert_int_equal(vqd_write_desc(d, 250, a, 64, VIRTQ_DESC_F_NEXT, 250), 0);
	vqd_put_head(d, 250);
	assert_int_equal(vqd_write_desc(d, 251, 0xfffff0000ULL, 4096, 0, 0), 0);
	vqd_put_head(d, 251);
	vqd_publish(d);
	vdh_kick(&f->h, 1);
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, 250);
	assert_int_equal(len, 0);
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, 251);
	assert_int_equal(len, 0);
	assert_false(readable(f->peer_fd[0], 20));

	uint8_t msg[12 + 80];
	struct virtio_net_hdr12 h = hdr_none();
	memcpy(msg, &h, 12);
	fill_pattern(msg + 12, 80, 9);
	size_t pieces[] = { 12, 80 };
	int head = add_tx(f, 1, msg, sizeof(msg), pieces, 2);
	vqd_publish(d);
	vdh_kick(&f->h, 1);
	vdh_next_used(&f->h, 1, &id, &len);
	assert_int_equal(id, head);
	uint8_t got[256];
	assert_int_equal(peer_recv(f, 0, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	vdh_expect_no_error(&f->h);
	fx_free(f);
}

static void test_tx_waits_when_tap_full(void **state)
{
	(void)state;
	/* A tiny send buffer: the socket says EAGAIN after a few frames. */
	struct fx *f = fx_new_opts(1, FEAT_BASE, 1, true);
	enum { N = 40, LEN = 12 + 1500 };
	static uint8_t msgs[N][LEN];
	for (int i = 0; i < N; i++) {
		struct virtio_net_hdr12 h = hdr_none();
		memcpy(msgs[i], &h, 12);
		fill_pattern(msgs[i] + 12, LEN - 12, (unsigned)i);
		size_t pieces[] = { 12, LEN - 12 };
		add_tx(f, 1, msgs[i], LEN, pieces, 2);
	}
	vqd_publish(&f->h.d[1]);
	vdh_kick(&f->h, 1);
	usleep(100 * 1000);
	/* Stopped short, nothing dropped: the rest goes as the host reads. */
	uint16_t done = vqd_used_idx(&f->h.d[1]);
	assert_true(done < N);
	uint8_t got[2048];
	for (int i = 0; i < N; i++) {
		ssize_t n = peer_recv(f, 0, got, sizeof(got));
		assert_int_equal(n, LEN);
		assert_memory_equal(got, msgs[i], LEN);
	}
	uint16_t id;
	uint32_t len;
	for (int i = 0; i < N; i++)
		vdh_next_used(&f->h, 1, &id, &len);
	vdh_expect_no_error(&f->h);
	fx_free(f);
}

/* ---- receive ---- */

/* A host packet: header with the given flags, then len bytes of pattern. */
static size_t make_packet(uint8_t *buf, uint8_t flags, size_t len, unsigned seed)
{
	struct virtio_net_hdr12 h = hdr_none();
	h.flags = flags;
	h.num_buffers = le16_make(0xabcd); /* garbage the device must overwrite */
	memcpy(buf, &h, 12);
	fill_pattern(buf + 12, len, seed);
	return 12 + len;
}

static void check_rx_header(struct fx *f, uint64_t addr, uint8_t flags, uint16_t num_buffers)
{
	struct virtio_net_hdr12 h;
	vdh_get(&f->h, addr, &h, sizeof(h));
	assert_int_equal(h.flags, flags);
	assert_int_equal(le16_get(h.num_buffers), num_buffers);
}

static void test_rx_one_chain(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	/* One chain of two descriptors, 2048 bytes. */
	uint64_t a = alloc_data(f, 100), b = alloc_data(f, 1948);
	struct vqd_buf bufs[] = { { GPA(a), 100, true }, { GPA(b), 1948, true } };
	int head = vqd_add(&f->h.d[0], bufs, 2);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	static uint8_t pkt[2048], got[2048];
	size_t n = make_packet(pkt, VIRTIO_NET_HDR_F_DATA_VALID, 500, 4);
	peer_send(f, 0, pkt, n);
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, n);
	vdh_get(&f->h, a, got, 100);
	vdh_get(&f->h, b, got + 100, n - 100);
	check_rx_header(f, a, VIRTIO_NET_HDR_F_DATA_VALID, 1);
	assert_memory_equal(got + 12, pkt + 12, n - 12);
	fx_free(f);

	/* Without GUEST_CSUM the device clears the flags (5.1.6.4). */
	f = fx_new(1, FEAT_BASE & ~(B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_GUEST_TSO4) |
				    B(VIRTIO_NET_F_GUEST_TSO6) | B(VIRTIO_NET_F_GUEST_ECN)));
	a = add_rx(f, 0, 1600, &head);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	peer_send(f, 0, pkt, n);
	vdh_next_used(&f->h, 0, &id, &len);
	assert_int_equal(len, n);
	check_rx_header(f, a, 0, 1);
	fx_free(f);
}

static void test_rx_too_big_without_mrg(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	int head;
	uint64_t a = add_rx(f, 0, 256, &head);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	static uint8_t pkt[2048], got[256];
	/* Larger than the only buffer, and no merging: dropped, the buffer
	 * stays for the next packet. */
	peer_send(f, 0, pkt, make_packet(pkt, 0, 1000, 1));
	vdh_expect_no_used(&f->h, 0);
	size_t n = make_packet(pkt, 0, 100, 2);
	peer_send(f, 0, pkt, n);
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, n);
	vdh_get(&f->h, a, got, n);
	assert_memory_equal(got + 12, pkt + 12, n - 12);
	fx_free(f);
}

/* Checks that the next k used elements of rx queue 0 are the buffers at
 * addrs[0..k-1] (each of size bufsz) and hold pkt (n bytes). */
static void check_merged(struct fx *f, const uint64_t *addrs, const int *heads, unsigned k, uint32_t bufsz,
			 const uint8_t *pkt, size_t n)
{
	static uint8_t got[70000];
	size_t off = 0;
	for (unsigned i = 0; i < k; i++) {
		uint16_t id;
		uint32_t len;
		vdh_next_used(&f->h, 0, &id, &len);
		assert_int_equal(id, heads[i]);
		uint32_t want = n - off < bufsz ? (uint32_t)(n - off) : bufsz;
		assert_int_equal(len, want);
		vdh_get(&f->h, addrs[i], got + off, len);
		off += len;
	}
	assert_int_equal(off, n);
	check_rx_header(f, addrs[0], 0, (uint16_t)k);
	assert_memory_equal(got + 12, pkt + 12, n - 12);
}

static void test_rx_merged_bounce(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_MRG);
	uint64_t addrs[8];
	int heads[8];
	for (int i = 0; i < 8; i++)
		addrs[i] = add_rx(f, 0, 256, &heads[i]);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	static uint8_t pkt[2048];
	size_t n = make_packet(pkt, 0, 1000, 7); /* 1012 bytes: four buffers */
	peer_send(f, 0, pkt, n);
	check_merged(f, addrs, heads, 4, 256, pkt, n);
	n = make_packet(pkt, 0, 100, 8);
	peer_send(f, 0, pkt, n);
	check_merged(f, addrs + 4, heads + 4, 1, 256, pkt, n);
	fx_free(f);
}

static void test_rx_merged_direct(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_MRG);
	/* 20 x 4 KiB: room for the largest packet, so it is read in place. */
	uint64_t addrs[20];
	int heads[20];
	for (int i = 0; i < 20; i++)
		addrs[i] = add_rx(f, 0, 4096, &heads[i]);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	static uint8_t pkt[70000];
	size_t n = make_packet(pkt, 0, 10000, 3); /* three buffers */
	peer_send(f, 0, pkt, n);
	check_merged(f, addrs, heads, 3, 4096, pkt, n);
	/* A 60000-byte GSO-sized packet over fifteen of the remaining 17. */
	n = make_packet(pkt, 0, 60000, 4);
	peer_send(f, 0, pkt, n);
	check_merged(f, addrs + 3, heads + 3, 15, 4096, pkt, n);
	fx_free(f);
}

static void test_rx_waits_for_buffers(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_MRG);
	static uint8_t pkt[2048], peek[2048];
	size_t n = make_packet(pkt, 0, 300, 11);
	peer_send(f, 0, pkt, n);
	/* No buffers: nothing used, and the packet is still in the "TAP". */
	vdh_expect_no_used(&f->h, 0);
	assert_int_equal(recv(f->dev_fd[0], peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), n);
	uint64_t addrs[4];
	int heads[4];
	addrs[0] = add_rx(f, 0, 1024, &heads[0]);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	check_merged(f, addrs, heads, 1, 1024, pkt, n);

	/* A packet bigger than the buffers on offer waits in the device until
	 * the driver adds more, then arrives whole. */
	addrs[0] = add_rx(f, 0, 256, &heads[0]);
	addrs[1] = add_rx(f, 0, 256, &heads[1]);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	n = make_packet(pkt, 0, 1000, 12);
	peer_send(f, 0, pkt, n);
	vdh_expect_no_used(&f->h, 0);
	addrs[2] = add_rx(f, 0, 256, &heads[2]);
	addrs[3] = add_rx(f, 0, 256, &heads[3]);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	check_merged(f, addrs, heads, 4, 256, pkt, n);
	vdh_expect_no_error(&f->h);
	fx_free(f);
}

static void test_rx_bad_chains(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_MRG);
	struct virtq_driver *d = &f->h.d[0];
	uint64_t a = alloc_data(f, 64);
	assert_int_equal(vqd_write_desc(d, 250, a, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 250), 0);
	vqd_put_head(d, 250);
	/* Shorter than a header, and a readable buffer on the receive queue. */
	struct vqd_buf tiny = { GPA(a), 8, true }, ro = { GPA(a), 64, false };
	int h1 = vqd_add(d, &tiny, 1), h2 = vqd_add(d, &ro, 1);
	int good;
	uint64_t ga = add_rx(f, 0, 2048, &good);
	vqd_publish(d);
	vdh_kick(&f->h, 0);
	uint16_t id;
	uint32_t len;
	int want[] = { 250, h1, h2 };
	for (int i = 0; i < 3; i++) {
		vdh_next_used(&f->h, 0, &id, &len);
		assert_int_equal(id, want[i]);
		assert_int_equal(len, 0);
	}
	static uint8_t pkt[2048];
	size_t n = make_packet(pkt, 0, 200, 1);
	peer_send(f, 0, pkt, n);
	check_merged(f, &ga, &good, 1, 2048, pkt, n);
	vdh_expect_no_error(&f->h);
	fx_free(f);
}

/* ---- control queue and multi-queue ---- */

/* Sends one control command and returns the ack (and the used length). */
static uint8_t ctrl_cmd(struct fx *f, uint8_t cls, uint8_t cmd, const uint8_t *data, size_t len, uint32_t *used)
{
	unsigned q = 2 * f->pairs;
	uint64_t a = alloc_data(f, 2 + len), ack = alloc_data(f, 1);
	uint8_t head[2] = { cls, cmd };
	vdh_put(&f->h, a, head, 2);
	if (len)
		vdh_put(&f->h, a + 2, data, len);
	vdh_fill(&f->h, ack, 0x55, 1);
	struct vqd_buf bufs[] = { { GPA(a), (uint32_t)(2 + len), false }, { GPA(ack), 1, true } };
	int h = vqd_add(&f->h.d[q], bufs, 2);
	assert_true(h >= 0);
	vqd_publish(&f->h.d[q]);
	vdh_kick(&f->h, q);
	uint16_t id;
	uint32_t l;
	vdh_next_used(&f->h, q, &id, &l);
	assert_int_equal(id, h);
	if (used)
		*used = l;
	uint8_t v;
	vdh_get(&f->h, ack, &v, 1);
	return v;
}

static void test_mq_pairs_set(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, FEAT_MQ);
	int fd1 = f->dev_fd[1];
	/* Only the first pair is in use until the driver asks: queue 1 of the
	 * TAP is detached. */
	assert_int_equal(fake_get(fake.attached, fd1), 0);
	assert_int_equal(fake_get(fake.hdr_size, fd1), TAP_VNET_HDR_V1_SIZE);
	int heads[1];
	uint64_t addrs[1];
	addrs[0] = add_rx(f, 2, 2048, &heads[0]);
	vqd_publish(&f->h.d[2]);
	vdh_kick(&f->h, 2);
	static uint8_t pkt[2048];
	size_t n = make_packet(pkt, 0, 400, 21);
	peer_send(f, 1, pkt, n);
	vdh_expect_no_used(&f->h, 2);

	uint32_t used;
	uint8_t three[2] = { 3, 0 }, two[2] = { 2, 0 }, one[2] = { 1, 0 }, on[1] = { 1 };
	assert_int_equal(ctrl_cmd(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, three, 2, &used),
			 VIRTIO_NET_ERR);
	assert_int_equal(used, 1);
	assert_int_equal(ctrl_cmd(f, 77, 0, NULL, 0, NULL), VIRTIO_NET_ERR);
	assert_int_equal(ctrl_cmd(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, on, 1, NULL), VIRTIO_NET_OK);
	vdh_expect_no_used(&f->h, 2);
	assert_int_equal(ctrl_cmd(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, two, 2, &used),
			 VIRTIO_NET_OK);
	assert_int_equal(fake_get(fake.attached, fd1), 1);
	/* Pair 1 now receives the packet that waited in its TAP queue ... */
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 2, &id, &len);
	assert_int_equal(id, heads[0]);
	assert_int_equal(len, n);
	check_rx_header(f, addrs[0], 0, 1);
	/* ... and transmits. */
	uint8_t msg[12 + 50];
	struct virtio_net_hdr12 h = hdr_none();
	memcpy(msg, &h, 12);
	fill_pattern(msg + 12, 50, 1);
	size_t pieces[] = { sizeof(msg) };
	add_tx(f, 3, msg, sizeof(msg), pieces, 1);
	vqd_publish(&f->h.d[3]);
	vdh_kick(&f->h, 3);
	vdh_next_used(&f->h, 3, &id, &len);
	uint8_t got[256];
	assert_int_equal(peer_recv(f, 1, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));

	/* Back to one pair. */
	assert_int_equal(ctrl_cmd(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, one, 2, NULL),
			 VIRTIO_NET_OK);
	assert_int_equal(fake_get(fake.attached, fd1), 0);
	/* A command with no room for an ack is completed empty. */
	uint64_t a = alloc_data(f, 4);
	struct vqd_buf ro = { GPA(a), 4, false };
	int hh = vqd_add(&f->h.d[4], &ro, 1);
	vqd_publish(&f->h.d[4]);
	vdh_kick(&f->h, 4);
	vdh_next_used(&f->h, 4, &id, &len);
	assert_int_equal(id, hh);
	assert_int_equal(len, 0);
	vdh_expect_no_error(&f->h);

	/* Reset re-attaches the queue it detached. */
	f->dev.ops->reset(f->dev.dev);
	assert_int_equal(fake_get(fake.attached, fd1), 1);
	fx_free(f);
}

static void test_broken_ring_signals_error(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, FEAT_BASE);
	/* avail->idx moved by more than the queue size. */
	vqd_set_avail_idx(&f->h.d[1], 300);
	vdh_kick(&f->h, 1);
	vdh_expect_error(&f->h);
	/* The other queue keeps working until the reset. */
	int head;
	add_rx(f, 0, 2048, &head);
	vqd_publish(&f->h.d[0]);
	vdh_kick(&f->h, 0);
	static uint8_t pkt[256];
	size_t n = make_packet(pkt, 0, 100, 1);
	peer_send(f, 0, pkt, n);
	uint16_t id;
	uint32_t len;
	vdh_next_used(&f->h, 0, &id, &len);
	assert_int_equal(len, n);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offloads),
		cmocka_unit_test(test_hdr_check),
		cmocka_unit_test(test_ctrl_parse),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_activate_programs_tap),
		cmocka_unit_test(test_tx_split_frame),
		cmocka_unit_test(test_tx_malformed_refused),
		cmocka_unit_test(test_tx_bad_chains),
		cmocka_unit_test(test_tx_waits_when_tap_full),
		cmocka_unit_test(test_rx_one_chain),
		cmocka_unit_test(test_rx_too_big_without_mrg),
		cmocka_unit_test(test_rx_merged_bounce),
		cmocka_unit_test(test_rx_merged_direct),
		cmocka_unit_test(test_rx_waits_for_buffers),
		cmocka_unit_test(test_rx_bad_chains),
		cmocka_unit_test(test_mq_pairs_set),
		cmocka_unit_test(test_broken_ring_signals_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
