/*
 * Unit tests for virtio-vsock and the kernel vhost wrappers.
 *
 * Everything that needs no /dev/vhost-vsock runs everywhere: CID
 * validation, the memory-table builder, ring address translation, the
 * configuration space, and the whole ioctl sequence of creation,
 * activation, failed activation and reset against a fake kernel that
 * records what it is told and refuses what the real one refuses (ioctls
 * before SET_OWNER, ring changes while running). The last test talks to
 * the real kernel: it activates the device over rings of the mock driver,
 * connects a host AF_VSOCK socket to the guest CID and sees the kernel put
 * the connection request into the rx ring. It is skipped, saying so, where
 * /dev/vhost-vsock is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "fakes/device_harness.h"
#include "vhost/vhost.h"
#include "virtio/vsock/vsock.h"

#define RX_RING 0x1000    /* rx ring; tx and event rings follow */
#define RING_STRIDE 0xf000 /* at RX_RING + q * RING_STRIDE */
#define RX_BUFS 0x40000
#define REGION0 MiB(1)
#define REGION1_BASE MiB(2)
#define REGION1 MiB(1)

/* ---- the fake kernel ---- */

struct fake_ring {
	unsigned num, base;
	struct vhost_vring_addr addr;
	int kick, call, err;
};

struct fake_kernel {
	uint64_t features; /* what GET_FEATURES reports */
	unsigned long fail_req; /* this ioctl fails with fail_errno (0: none) */
	int fail_errno;
	unsigned fail_index; /* ...on this ring only, for ring ioctls */

	bool owner;
	uint64_t acked;
	uint32_t nregions;
	struct vhost_memory_region regions[GM_MAX_REGIONS];
	struct fake_ring rings[3];
	uint64_t cid;
	bool running;
	unsigned calls;
	unsigned long last_req;
};

static bool is_ring_req(unsigned long req)
{
	return req == VHOST_SET_VRING_NUM || req == VHOST_SET_VRING_BASE || req == VHOST_SET_VRING_ADDR ||
	       req == VHOST_SET_VRING_KICK || req == VHOST_SET_VRING_CALL || req == VHOST_SET_VRING_ERR ||
	       req == VHOST_GET_VRING_BASE;
}

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct fake_kernel *k = ctx;
	(void)fd;
	k->calls++;
	k->last_req = req;
	unsigned idx = 0;
	if (is_ring_req(req)) {
		idx = *(unsigned *)arg; /* every ring argument starts with its index */
		if (idx >= 3)
			return -ENOBUFS;
	}
	if (req == k->fail_req && (!is_ring_req(req) || idx == k->fail_index))
		return -k->fail_errno;
	if (req != VHOST_SET_OWNER && req != VHOST_GET_FEATURES && !k->owner)
		return -EPERM;
	struct fake_ring *ring = &k->rings[idx];
	if (req == VHOST_SET_OWNER) {
		if (k->owner)
			return -EBUSY;
		k->owner = true;
	} else if (req == VHOST_GET_FEATURES) {
		*(uint64_t *)arg = k->features;
	} else if (req == VHOST_SET_FEATURES) {
		uint64_t f = *(uint64_t *)arg;
		if (f & ~k->features)
			return -EOPNOTSUPP;
		k->acked = f;
	} else if (req == VHOST_SET_MEM_TABLE) {
		const struct vhost_memory *m = arg;
		if (m->nregions > GM_MAX_REGIONS || m->padding)
			return -E2BIG;
		k->nregions = m->nregions;
		memcpy(k->regions, m->regions, m->nregions * sizeof(m->regions[0]));
	} else if (req == VHOST_SET_VRING_NUM || req == VHOST_SET_VRING_BASE || req == VHOST_SET_VRING_ADDR) {
		/* The kernel refuses to move a ring under a running backend. */
		if (k->running)
			return -EBUSY;
		if (req == VHOST_SET_VRING_NUM)
			ring->num = ((struct vhost_vring_state *)arg)->num;
		else if (req == VHOST_SET_VRING_BASE)
			ring->base = ((struct vhost_vring_state *)arg)->num;
		else
			ring->addr = *(struct vhost_vring_addr *)arg;
	} else if (req == VHOST_SET_VRING_KICK) {
		ring->kick = ((struct vhost_vring_file *)arg)->fd;
	} else if (req == VHOST_SET_VRING_CALL) {
		ring->call = ((struct vhost_vring_file *)arg)->fd;
	} else if (req == VHOST_SET_VRING_ERR) {
		ring->err = ((struct vhost_vring_file *)arg)->fd;
	} else if (req == VHOST_VSOCK_SET_GUEST_CID) {
		k->cid = *(uint64_t *)arg;
	} else if (req == VHOST_VSOCK_SET_RUNNING) {
		int on = *(int *)arg;
		if (on && (!k->rings[0].num || !k->rings[1].num || k->rings[0].kick < 0 || k->rings[1].kick < 0))
			return -EFAULT;
		k->running = on;
	} else {
		return -ENOTTY;
	}
	return 0;
}

static const struct vhost_kernel_ops fake_ops = { .ioctl = fake_ioctl };

static void fake_init(struct fake_kernel *k)
{
	memset(k, 0, sizeof(*k));
	k->features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		      VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM) |
		      VIRTIO_BIT(24) /* NOTIFY_ON_EMPTY */ | VIRTIO_BIT(26) /* VHOST_F_LOG_ALL */ |
		      VIRTIO_BIT(1) /* VIRTIO_VSOCK_F_SEQPACKET */;
	for (unsigned i = 0; i < 3; i++)
		k->rings[i].kick = k->rings[i].call = k->rings[i].err = -1;
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* ---- a guest: memory, three rings, the transport's eventfds ---- */

/* The harness with an activation as a driver that takes VERSION_1 and
 * EVENT_IDX would hand over; the tests activate with it (or altered
 * copies) themselves. */
static struct device_harness *guest_new(uint16_t size)
{
	struct device_harness *g = calloc(1, sizeof(*g));
	assert_non_null(g);
	const struct gm_range r[] = { { GPA(0), REGION0 }, { GPA(REGION1_BASE), REGION1 } };
	vdh_init(g, &(struct vdh_layout){ .ranges = r, .nr_ranges = 2, .nr_queues = 3, .ring_base = GPA(RX_RING),
					  .ring_stride = RING_STRIDE, .queue_size = size });
	(void)vdh_activation(g, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 3);
	return g;
}

static void guest_free(struct device_harness *g)
{
	vdh_destroy(g);
	free(g);
}

static uint64_t host_of(const struct device_harness *g, gpa_t a)
{
	return (uint64_t)(uintptr_t)gm_get_slice(&g->gm, a, 1);
}

static struct virtio_device make_fake_device(struct fake_kernel *k, int *fd_out)
{
	int fd = evfd_create(); /* stands in for the vhost fd: something to close */
	assert_true(fd >= 0);
	if (fd_out)
		*fd_out = fd;
	struct virtio_device dev;
	const char *failed = "unset";
	assert_int_equal(virtio_vsock_create_with_ops(42, fd, &fake_ops, k, &dev, &failed), 0);
	assert_null(failed);
	return dev;
}

/* ---- tests ---- */

static void test_cid_validation(void **state)
{
	(void)state;
	assert_false(virtio_vsock_cid_valid(0));
	assert_false(virtio_vsock_cid_valid(1));
	assert_false(virtio_vsock_cid_valid(2));
	assert_true(virtio_vsock_cid_valid(3));
	assert_true(virtio_vsock_cid_valid(0xfffffffeULL));
	assert_false(virtio_vsock_cid_valid(0xffffffffULL)); /* VMADDR_CID_ANY */
	assert_false(virtio_vsock_cid_valid(1ULL << 32));
	assert_false(virtio_vsock_cid_valid(UINT64_MAX));
}

/* A refused CID never reaches the kernel, and the fd is closed anyway. */
static void test_create_bad_cid_closes_fd(void **state)
{
	(void)state;
	const uint64_t bad[] = { 0, 1, 2, 0xffffffffULL, 1ULL << 32 };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct fake_kernel k;
		fake_init(&k);
		int fd = evfd_create();
		assert_true(fd >= 0);
		struct virtio_device dev;
		assert_int_equal(virtio_vsock_create_with_ops(bad[i], fd, &fake_ops, &k, &dev, NULL), -EINVAL);
		assert_false(fd_is_open(fd));
		assert_int_equal(k.calls, 0);
	}
	struct virtio_device dev;
	assert_int_equal(virtio_vsock_create(3, -1, &dev, NULL), -EBADF);
}

static void test_create_programs_kernel(void **state)
{
	(void)state;
	struct fake_kernel k;
	fake_init(&k);
	int fd;
	struct virtio_device dev = make_fake_device(&k, &fd);
	assert_true(k.owner);
	assert_int_equal(k.cid, 42);
	assert_int_equal(dev.ops->device_id, VIRTIO_ID_VSOCK);
	assert_int_equal(dev.ops->num_queues(dev.dev), 3);
	for (unsigned q = 0; q < 3; q++)
		assert_int_equal(dev.ops->queue_max_size(dev.dev, q), VIRTIO_VSOCK_QUEUE_SIZE);
	/* The kernel's features, less ACCESS_PLATFORM and what we do not
	 * pass on. */
	assert_int_equal(dev.ops->features(dev.dev), VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
							     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	dev.ops->destroy(dev.dev);
	assert_false(fd_is_open(fd));

	/* A kernel without some of them: only what it has is offered. */
	fake_init(&k);
	k.features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	dev = make_fake_device(&k, NULL);
	assert_int_equal(dev.ops->features(dev.dev), VIRTIO_BIT(VIRTIO_F_VERSION_1));
	dev.ops->destroy(dev.dev);
	dev.ops->destroy(NULL);
}

static void test_create_failures(void **state)
{
	(void)state;
	struct fake_kernel k;
	struct virtio_device dev;
	const char *failed;

	fake_init(&k);
	k.fail_req = VHOST_VSOCK_SET_GUEST_CID;
	k.fail_errno = EADDRINUSE;
	int fd = evfd_create();
	assert_int_equal(virtio_vsock_create_with_ops(7, fd, &fake_ops, &k, &dev, &failed), -EADDRINUSE);
	assert_string_equal(failed, "VHOST_VSOCK_SET_GUEST_CID");
	assert_false(fd_is_open(fd));

	fake_init(&k);
	k.fail_req = VHOST_SET_OWNER;
	k.fail_errno = EBUSY;
	fd = evfd_create();
	assert_int_equal(virtio_vsock_create_with_ops(7, fd, &fake_ops, &k, &dev, &failed), -EBUSY);
	assert_string_equal(failed, "VHOST_SET_OWNER");
	assert_false(fd_is_open(fd));

	/* A legacy-only kernel cannot back a modern-only device. */
	fake_init(&k);
	k.features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	fd = evfd_create();
	assert_int_equal(virtio_vsock_create_with_ops(7, fd, &fake_ops, &k, &dev, &failed), -ENOTSUP);
	assert_string_equal(failed, "VHOST_GET_FEATURES");
	assert_false(fd_is_open(fd));

	/* Not a vhost fd at all: the real ioctl says so. */
	fd = evfd_create();
	assert_int_equal(virtio_vsock_create(7, fd, &dev, &failed), -ENOTTY);
	assert_string_equal(failed, "VHOST_SET_OWNER");
	assert_false(fd_is_open(fd));
}

static void test_config_space(void **state)
{
	(void)state;
	struct fake_kernel k;
	fake_init(&k);
	int fd = evfd_create();
	struct virtio_device dev;
	assert_int_equal(virtio_vsock_create_with_ops(0xfedcba98ULL, fd, &fake_ops, &k, &dev, NULL), 0);
	uint8_t b[8];
	dev.ops->config_read(dev.dev, 0, b, 8);
	const uint8_t want[8] = { 0x98, 0xba, 0xdc, 0xfe, 0, 0, 0, 0 };
	assert_memory_equal(b, want, 8);
	dev.ops->config_read(dev.dev, 0, b, 4);
	assert_memory_equal(b, want, 4);
	dev.ops->config_read(dev.dev, 4, b, 4); /* upper half: zero */
	assert_memory_equal(b, want + 4, 4);
	dev.ops->config_read(dev.dev, 2, b, 2);
	assert_memory_equal(b, want + 2, 2);
	/* Straddling the end, and past it: zeros. */
	memset(b, 0xff, sizeof(b));
	dev.ops->config_read(dev.dev, 6, b, 4);
	const uint8_t tail[4] = { 0, 0, 0, 0 };
	assert_memory_equal(b, tail, 4);
	memset(b, 0xff, sizeof(b));
	dev.ops->config_read(dev.dev, 8, b, 8);
	assert_memory_equal(b, (uint8_t[8]){ 0 }, 8);
	dev.ops->config_read(dev.dev, UINT32_MAX, b, 4);
	assert_memory_equal(b, tail, 4);
	/* Read-only. */
	const uint8_t junk[4] = { 1, 2, 3, 4 };
	dev.ops->config_write(dev.dev, 0, junk, 4);
	dev.ops->config_read(dev.dev, 0, b, 8);
	assert_memory_equal(b, want, 8);
	dev.ops->destroy(dev.dev);
}

static void test_mem_table(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range r[] = { { GPA(0), MiB(1) }, { GPA(GiB(4)), MiB(2) } };
	assert_int_equal(gm_create(&gm, r, 2), 0);
	struct vhost_memory *m;
	assert_int_equal(vhost_mem_table_build(&gm, &m), 0);
	assert_int_equal(m->nregions, 2);
	assert_int_equal(m->padding, 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(m->regions[i].guest_phys_addr, gpa_val(r[i].base));
		assert_int_equal(m->regions[i].memory_size, r[i].size);
		assert_int_equal(m->regions[i].userspace_addr, (uint64_t)(uintptr_t)gm.regions[i].host);
		assert_int_equal(m->regions[i].flags_padding, 0);
		/* The kernel requires 4 KiB granularity. */
		assert_int_equal(m->regions[i].userspace_addr % VHOST_PAGE_SIZE, 0);
	}
	free(m);

	/* What a zeroed or broken guest memory yields: refused. */
	struct guest_memory empty = { .memfd = -1 };
	assert_int_equal(vhost_mem_table_build(&empty, &m), -EINVAL);
	assert_null(m);
	struct guest_memory bad = gm;
	bad.regions[1].host = NULL;
	assert_int_equal(vhost_mem_table_build(&bad, &m), -EINVAL);
	bad = gm;
	bad.regions[0].size = 0;
	assert_int_equal(vhost_mem_table_build(&bad, &m), -EINVAL);
	bad = gm;
	bad.regions[1].base = GPA(UINT64_MAX - 4095);
	assert_int_equal(vhost_mem_table_build(&bad, &m), -EINVAL);
	gm_destroy(&gm);
}

static void test_vring_addr_translation(void **state)
{
	(void)state;
	struct guest_memory gm;
	/* Two regions back to back in guest physical space: a ring must not
	 * straddle them, as their host mappings are not contiguous. */
	struct gm_range r[] = { { GPA(0), MiB(1) }, { GPA(MiB(1)), MiB(1) } };
	assert_int_equal(gm_create(&gm, r, 2), 0);
	struct vhost_vring_addr a;
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 1, 256, GPA(0x1000), GPA(0x2000), GPA(0x3000), &a), 0);
	assert_int_equal(a.index, 1);
	assert_int_equal(a.flags, 0);
	assert_int_equal(a.desc_user_addr, (uint64_t)(uintptr_t)gm_get_slice(&gm, GPA(0x1000), 1));
	assert_int_equal(a.avail_user_addr, (uint64_t)(uintptr_t)gm_get_slice(&gm, GPA(0x2000), 1));
	assert_int_equal(a.used_user_addr, (uint64_t)(uintptr_t)gm_get_slice(&gm, GPA(0x3000), 1));
	assert_int_equal(a.log_guest_addr, 0);

	/* In the second region. */
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 8, GPA(MiB(1)), GPA(MiB(1) + 0x80), GPA(MiB(1) + 0x100), &a),
			 0);
	assert_int_equal(a.desc_user_addr, (uint64_t)(uintptr_t)gm.regions[1].host);

	/* Sizes and alignment. */
	const uint16_t bad_sizes[] = { 0, 3, 48, 65535 };
	for (size_t i = 0; i < ARRAY_SIZE(bad_sizes); i++)
		assert_int_equal(
			vhost_vring_addr_from_gpa(&gm, 0, bad_sizes[i], GPA(0x1000), GPA(0x2000), GPA(0x3000), &a),
			-EINVAL);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 32768, GPA(0), GPA(0x80000), GPA(0x90000), &a), 0);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1008), GPA(0x2000), GPA(0x3000), &a), -EINVAL);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(0x2001), GPA(0x3000), &a), -EINVAL);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(0x2000), GPA(0x3002), &a), -EINVAL);
	assert_int_equal(a.desc_user_addr, 0); /* nothing half-filled */

	/* Bounds, event-index fields included: the used ring of 16 entries
	 * takes 6 + 128 bytes. */
	uint64_t end = MiB(2);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(0x2000), GPA(end - 136), &a), 0);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(0x2000), GPA(end - 132), &a), -EFAULT);
	/* The available ring of 16 takes 6 + 32 bytes. */
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(end - 38), GPA(0x3000), &a), 0);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(0x1000), GPA(end - 36), GPA(0x3000), &a), -EFAULT);
	/* Descriptors straddling the two regions. */
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(MiB(1) - 128), GPA(0x2000), GPA(0x3000), &a),
			 -EFAULT);
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(MiB(1) - 256), GPA(0x2000), GPA(0x3000), &a), 0);
	/* Outside guest memory, and wrapping. */
	assert_int_equal(vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(GiB(1)), GPA(0x2000), GPA(0x3000), &a), -EFAULT);
	assert_int_equal(
		vhost_vring_addr_from_gpa(&gm, 0, 16, GPA(UINT64_MAX - 15), GPA(0x2000), GPA(0x3000), &a), -EFAULT);
	gm_destroy(&gm);
}

static void check_rings_unbound(const struct fake_kernel *k)
{
	for (unsigned q = 0; q < 3; q++) {
		assert_int_equal(k->rings[q].kick, -1);
		assert_int_equal(k->rings[q].call, -1);
		assert_int_equal(k->rings[q].err, -1);
	}
}

static void test_activate_and_reset(void **state)
{
	(void)state;
	struct fake_kernel k;
	fake_init(&k);
	struct virtio_device dev = make_fake_device(&k, NULL);
	struct device_harness *g = guest_new(128);
	g->act.queues[0].cfg.next_avail = 5; /* handed on as the ring base */

	for (int round = 0; round < 2; round++) {
		assert_int_equal(dev.ops->activate(dev.dev, &g->act), 0);
		assert_true(k.running);
		assert_int_equal(k.acked, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
		assert_int_equal(k.nregions, 2);
		assert_int_equal(k.regions[0].guest_phys_addr, 0);
		assert_int_equal(k.regions[0].memory_size, REGION0);
		assert_int_equal(k.regions[0].userspace_addr, (uint64_t)(uintptr_t)g->gm.regions[0].host);
		assert_int_equal(k.regions[1].guest_phys_addr, REGION1_BASE);
		assert_int_equal(k.regions[1].userspace_addr, (uint64_t)(uintptr_t)g->gm.regions[1].host);
		for (unsigned q = 0; q < 2; q++) {
			const struct fake_ring *r = &k.rings[q];
			assert_int_equal(r->num, 128);
			assert_int_equal(r->base, q == 0 ? 5 : 0);
			assert_int_equal(r->addr.index, q);
			assert_int_equal(r->addr.desc_user_addr, host_of(g, g->d[q].desc));
			assert_int_equal(r->addr.avail_user_addr, host_of(g, g->d[q].avail));
			assert_int_equal(r->addr.used_user_addr, host_of(g, g->d[q].used));
			assert_int_equal(r->kick, g->act.queues[q].kick_fd);
			assert_int_equal(r->call, g->act.queues[q].call_fd);
			assert_int_equal(r->err, g->act.error_fd);
		}
		/* The event queue stays ours. */
		assert_int_equal(k.rings[2].num, 0);
		assert_int_equal(k.rings[2].kick, -1);
		/* Activating twice is refused; the kernel keeps running. */
		assert_int_equal(dev.ops->activate(dev.dev, &g->act), -EBUSY);
		assert_true(k.running);

		dev.ops->reset(dev.dev);
		assert_false(k.running);
		check_rings_unbound(&k);
		dev.ops->reset(dev.dev); /* no-op when inactive */
		assert_false(k.running);
	}
	/* Destroying an active device stops the kernel first. */
	assert_int_equal(dev.ops->activate(dev.dev, &g->act), 0);
	dev.ops->destroy(dev.dev);
	assert_false(k.running);
	check_rings_unbound(&k);
	guest_free(g);
}

/* Activations the driver's setup makes impossible: refused before the
 * kernel hears of them. */
static void test_activate_refused(void **state)
{
	(void)state;
	struct fake_kernel k;
	fake_init(&k);
	struct virtio_device dev = make_fake_device(&k, NULL);
	struct device_harness *g = guest_new(64);
	unsigned before = k.calls;

	struct virtio_activation a = g->act;
	a.queues[0].cfg.size = 0; /* rx not enabled */
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EINVAL);
	a = g->act;
	a.queues[1].cfg.size = 512; /* above our maximum */
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EINVAL);
	a = g->act;
	a.queues[1].cfg.used = GPA(REGION0 - 8); /* past the end of its region */
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EFAULT);
	a = g->act;
	a.queues[0].cfg.desc = GPA(RX_RING + 8); /* misaligned */
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EINVAL);
	a = g->act;
	a.queues[2].cfg.avail = GPA(GiB(8)); /* a broken event queue */
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EINVAL);
	a = g->act;
	a.nr_queues = 2;
	assert_int_equal(dev.ops->activate(dev.dev, &a), -EINVAL);
	assert_int_equal(k.calls, before);

	/* A disabled event queue is fine. */
	a = g->act;
	a.queues[2].cfg.size = 0;
	assert_int_equal(dev.ops->activate(dev.dev, &a), 0);
	assert_true(k.running);
	dev.ops->destroy(dev.dev);
	guest_free(g);
}

/* A kernel that fails part-way: the device takes back every eventfd it
 * had handed over, and a later activation succeeds. */
static void test_activate_unwinds(void **state)
{
	(void)state;
	const struct {
		unsigned long req;
		unsigned ring;
	} steps[] = {
		{ VHOST_SET_FEATURES, 0 },   { VHOST_SET_MEM_TABLE, 0 },  { VHOST_SET_VRING_NUM, 0 },
		{ VHOST_SET_VRING_ADDR, 1 }, { VHOST_SET_VRING_KICK, 0 }, { VHOST_SET_VRING_CALL, 1 },
		{ VHOST_SET_VRING_ERR, 1 },  { VHOST_VSOCK_SET_RUNNING, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct fake_kernel k;
		fake_init(&k);
		struct virtio_device dev = make_fake_device(&k, NULL);
		struct device_harness *g = guest_new(64);
		k.fail_req = steps[i].req;
		k.fail_index = steps[i].ring;
		k.fail_errno = EIO;
		assert_int_equal(dev.ops->activate(dev.dev, &g->act), -EIO);
		assert_false(k.running);
		check_rings_unbound(&k);
		k.fail_req = 0;
		assert_int_equal(dev.ops->activate(dev.dev, &g->act), 0);
		assert_true(k.running);
		dev.ops->destroy(dev.dev);
		guest_free(g);
	}
	/* Without an error eventfd, none is bound. */
	struct fake_kernel k;
	fake_init(&k);
	struct virtio_device dev = make_fake_device(&k, NULL);
	struct device_harness *g = guest_new(64);
	struct virtio_activation a = g->act;
	a.error_fd = -1;
	assert_int_equal(dev.ops->activate(dev.dev, &a), 0);
	assert_int_equal(k.rings[0].err, -1);
	dev.ops->destroy(dev.dev);
	guest_free(g);
}

/* ---- against the real kernel ---- */

#define VSOCK_HDR_SIZE 44
#define VSOCK_OP_REQUEST 1

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static void test_real_vhost_vsock(void **state)
{
	(void)state;
	int fd = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		print_message("skipped: /dev/vhost-vsock is not usable here (%s)\n", strerror(errno));
		skip();
	}
	/* A CID no other test run is likely to hold. */
	uint64_t cid = 0x10000u + (uint64_t)getpid();
	struct virtio_device dev;
	const char *failed = NULL;
	int r = virtio_vsock_create(cid, fd, &dev, &failed);
	if (r == -EADDRINUSE) {
		cid += 0x1000000u;
		fd = open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC);
		assert_true(fd >= 0);
		r = virtio_vsock_create(cid, fd, &dev, &failed);
	}
	if (r < 0)
		print_message("virtio_vsock_create: %s: %s\n", failed ? failed : "?", strerror(-r));
	assert_int_equal(r, 0);
	uint64_t f = dev.ops->features(dev.dev);
	assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_false(f & VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM));

	struct device_harness *g = guest_new(64);
	(void)vdh_activation(g, f, 3); /* the driver takes everything */

	for (int round = 0; round < 2; round++) {
		/* Receive buffers, as the guest driver posts them. */
		int heads[4];
		for (unsigned i = 0; i < 4; i++) {
			struct vqd_buf b = { GPA(RX_BUFS + i * 0x1000), 0x1000, true };
			assert_true((heads[i] = vqd_add(&g->d[0], &b, 1)) >= 0);
		}
		(void)vqd_publish(&g->d[0]);
		(void)evfd_drain(g->act.queues[0].call_fd);

		r = dev.ops->activate(dev.dev, &g->act); /* ends with VHOST_VSOCK_SET_RUNNING 1 */
		assert_int_equal(r, 0);

		/* A host socket connecting to the guest: the kernel writes a
		 * connection request into the rx ring and interrupts. */
		int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s < 0) {
			print_message("no AF_VSOCK socket (%s): only activation checked\n", strerror(errno));
		} else {
			unsigned port = 1234u + (unsigned)round;
			struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid, .svm_port = port };
			int c = connect(s, (struct sockaddr *)&sa, sizeof(sa));
			assert_true(c == 0 || errno == EINPROGRESS);
			/* Every element is one of our buffers with a packet in
			 * it; the request is among the first few. */
			bool seen = false;
			while (!seen) {
				uint16_t id;
				uint32_t len;
				vdh_next_used(g, 0, &id, &len);
				assert_true(len >= VSOCK_HDR_SIZE && len <= 0x1000);
				unsigned b = 0;
				while (b < 4 && heads[b] != id)
					b++;
				assert_true(b < 4);
				uint8_t h[VSOCK_HDR_SIZE];
				vdh_get(g, RX_BUFS + (uint64_t)b * 0x1000, h, sizeof(h));
				seen = get_le(h, 8) == 2 /* VMADDR_CID_HOST */ && get_le(h + 8, 8) == cid &&
				       get_le(h + 20, 4) == port && get_le(h + 30, 2) == VSOCK_OP_REQUEST;
			}
			close(s);
		}

		dev.ops->reset(dev.dev); /* VHOST_VSOCK_SET_RUNNING 0 */
		/* The next round's rings start afresh, as after a driver reset. */
		vdh_queue_init(g, 0, 64);
	}
	dev.ops->destroy(dev.dev);
	guest_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cid_validation),
		cmocka_unit_test(test_create_bad_cid_closes_fd),
		cmocka_unit_test(test_create_programs_kernel),
		cmocka_unit_test(test_create_failures),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_mem_table),
		cmocka_unit_test(test_vring_addr_translation),
		cmocka_unit_test(test_activate_and_reset),
		cmocka_unit_test(test_activate_refused),
		cmocka_unit_test(test_activate_unwinds),
		cmocka_unit_test(test_real_vhost_vsock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
