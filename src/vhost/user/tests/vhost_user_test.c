/*
 * Unit tests for vhost-user: the front-end and the back-end over a
 * socketpair, the back-end serving the real virtio-rng device on its own
 * thread, the test thread playing both the front-end (through
 * vhu_frontend_*) and the guest driver (through the mock virtq driver)
 * on a memfd guest memory. Then malformed and out-of-order messages sent
 * raw: each is refused with an error status or a closed connection, never
 * a crash or a leaked fd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "fakes/virtq_driver.h"
#include "vhost/user/backend.h"
#include "vhost/user/frontend.h"
#include "vhost/user/protocol.h"
#include "virtio/rng/rng.h"

#define WAIT_MS 5000
#define QUIET_MS 100
#define QSIZE 16
#define RING_BASE GPA(MiB(1)) /* the rings in the second region */
#define BUF_BASE GPA(0x10000) /* the buffers in the first */

struct fixture {
	int sv[2]; /* [0] front-end end, [1] back-end end (owned by b) */
	struct guest_memory gm;
	struct virtio_device dev;
	struct vhu_backend b;
	pthread_t thread;
	bool running;
	int run_result;
	struct vhu_frontend f;
	bool connected;
};

static void *backend_thread(void *arg)
{
	struct fixture *fx = arg;
	fx->run_result = vhu_backend_run(&fx->b);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	struct gm_range r[] = { { GPA(0), KiB(256) }, { GPA(MiB(1)), KiB(64) } };
	assert_int_equal(gm_create(&fx->gm, r, 2), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fx->sv), 0);
	assert_int_equal(virtio_rng_create(&fx->dev), 0);
	assert_int_equal(vhu_backend_init(&fx->b, &fx->dev, fx->sv[1]), 0);
	assert_int_equal(pthread_create(&fx->thread, NULL, backend_thread, fx), 0);
	fx->running = true;
	*state = fx;
	return 0;
}

/* Closes the front-end's end and waits for the back-end to finish. */
static int join_backend(struct fixture *fx)
{
	if (fx->connected) {
		vhu_frontend_close(&fx->f);
		fx->connected = false;
		fx->sv[0] = -1;
	}
	fd_close(&fx->sv[0]);
	if (fx->running) {
		pthread_join(fx->thread, NULL);
		fx->running = false;
	}
	return fx->run_result;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	(void)join_backend(fx);
	vhu_backend_destroy(&fx->b);
	fx->dev.ops->destroy(fx->dev.dev);
	gm_destroy(&fx->gm);
	free(fx);
	return 0;
}

static void connect_frontend(struct fixture *fx)
{
	assert_int_equal(vhu_frontend_connect(&fx->f, fx->sv[0]), 0);
	fx->connected = true;
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Programs queue 0 of the rng through the front-end. */
static void setup_queue(struct fixture *fx, struct virtq_driver *d, int kick, int call, int err)
{
	struct vhu_frontend *f = &fx->f;
	assert_int_equal(vqd_init(d, &fx->gm, RING_BASE, QSIZE), 0);
	assert_int_equal(vhu_frontend_set_vring_num(f, 0, QSIZE), 0);
	assert_int_equal(vhu_frontend_set_vring_base(f, 0, 0), 0);
	assert_int_equal(vhu_frontend_set_vring_addr(f, 0, QSIZE, d->desc, d->avail, d->used), 0);
	assert_int_equal(vhu_frontend_set_vring_kick(f, 0, kick), 0);
	assert_int_equal(vhu_frontend_set_vring_call(f, 0, call), 0);
	assert_int_equal(vhu_frontend_set_vring_err(f, 0, err), 0);
	/* Started but not enabled: the device waits. */
	assert_false(fx->b.active);
	assert_int_equal(vhu_frontend_set_vring_enable(f, 0, true), 0);
}

/* Queues one 64-byte writable buffer at BUF_BASE + slot * 64 and kicks. */
static void add_buffer(struct fixture *fx, struct virtq_driver *d, unsigned slot, int kick)
{
	gpa_t a = gpa_add(BUF_BASE, 64 * slot);
	assert_int_equal(gm_fill(&fx->gm, a, 0, 64), 0);
	struct vqd_buf buf = { a, 64, true };
	assert_true(vqd_add(d, &buf, 1) >= 0);
	vqd_publish(d);
	assert_int_equal(evfd_signal(kick), 0);
}

static void expect_used(struct fixture *fx, struct virtq_driver *d, unsigned slot, int call)
{
	uint16_t id;
	uint32_t len;
	int got = 0;
	for (int i = 0; i < WAIT_MS / 10 && !(got = vqd_get_used(d, &id, &len)); i++) {
		(void)wait_readable(call, 10);
		(void)evfd_drain(call);
	}
	assert_int_equal(got, 1);
	assert_int_equal(len, 64);
	uint8_t data[64], zero[64] = { 0 };
	assert_int_equal(gm_read(&fx->gm, gpa_add(BUF_BASE, 64 * slot), data, sizeof(data)), 0);
	/* 64 random bytes are all zero with probability 2^-512. */
	assert_memory_not_equal(data, zero, sizeof(data));
}

static void test_rng_over_vhost_user(void **state)
{
	struct fixture *fx = *state;
	connect_frontend(fx);
	struct vhu_frontend *f = &fx->f;
	assert_true(f->features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(f->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	assert_int_equal(f->protocol_features, VHU_FRONTEND_PROTOCOL_FEATURES & VHU_BACKEND_PROTOCOL_FEATURES);
	assert_int_equal(f->nr_queues, 1);
	assert_true(f->backend_req_fd >= 0);

	/* Features the device does not offer are refused on our side. */
	assert_int_equal(vhu_frontend_set_features(f, VIRTIO_BIT(VIRTIO_F_RING_PACKED)), -EINVAL);
	assert_int_equal(vhu_frontend_set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), 0);
	assert_int_equal(vhu_frontend_set_mem_table(f, &fx->gm), 0);

	int kick = evfd_create(), call = evfd_create(), err = evfd_create();
	assert_true(kick >= 0 && call >= 0 && err >= 0);
	struct virtq_driver d;
	setup_queue(fx, &d, kick, call, err);
	assert_true(fx->b.active);

	add_buffer(fx, &d, 0, kick);
	expect_used(fx, &d, 0, call);
	add_buffer(fx, &d, 1, kick);
	expect_used(fx, &d, 1, call);

	/* rng has no configuration space: zeros. */
	uint8_t cfg[8];
	memset(cfg, 0xff, sizeof(cfg));
	assert_int_equal(vhu_frontend_get_config(f, 0, cfg, sizeof(cfg)), 0);
	for (size_t i = 0; i < sizeof(cfg); i++)
		assert_int_equal(cfg[i], 0);
	assert_int_equal(vhu_frontend_set_config(f, 0, cfg, 4), 0);
	assert_int_equal(vhu_frontend_get_config(f, 250, cfg, 8), -EINVAL);

	/* A broken ring reported by the device reaches the ring's err fd. */
	assert_int_equal(evfd_signal(fx->b.error_fd), 0);
	assert_true(wait_readable(err, WAIT_MS));
	assert_true(evfd_drain(err) > 0);
	/* A configuration change comes on the back-end request channel. */
	assert_int_equal(evfd_signal(fx->b.config_fd), 0);
	assert_true(wait_readable(f->backend_req_fd, WAIT_MS));
	uint32_t breq = 0;
	assert_int_equal(vhu_frontend_backend_req(f, &breq), 1);
	assert_int_equal(breq, VHU_BACKEND_CONFIG_CHANGE_MSG);

	/* Stopping the ring returns how far it got and stops the device. */
	uint16_t base = 0;
	assert_int_equal(vhu_frontend_get_vring_base(f, 0, &base), 0);
	assert_int_equal(base, 2);
	assert_false(fx->b.active);
	(void)evfd_drain(call); /* interrupts from before the stop */
	add_buffer(fx, &d, 2, kick);
	assert_false(wait_readable(call, QUIET_MS));
	assert_int_equal(vqd_used_idx(&d), 2);

	/* Started again where it stopped, it serves the waiting buffer. */
	assert_int_equal(vhu_frontend_set_vring_base(f, 0, base), 0);
	assert_int_equal(vhu_frontend_set_vring_kick(f, 0, kick), 0);
	assert_true(fx->b.active);
	expect_used(fx, &d, 2, call);

	/* A new memory table while running: the device restarts on it. */
	assert_int_equal(vhu_frontend_set_mem_table(f, &fx->gm), 0);
	assert_true(fx->b.active);
	add_buffer(fx, &d, 3, kick);
	expect_used(fx, &d, 3, call);

	/* Reset forgets the rings. */
	assert_int_equal(vhu_frontend_reset_device(f), 0);
	assert_false(fx->b.active);
	assert_int_equal(join_backend(fx), 0);
	vqd_destroy(&d);
	close(kick);
	close(call);
	close(err);
}

/* ---- raw messages ---- */

static void raw_send(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds,
		     size_t nfds)
{
	struct vhu_msg_hdr hdr = { req, flags, size };
	uint8_t buf[sizeof(hdr) + 512];
	assert_true(size <= 512);
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { buf, sizeof(hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	assert_true(nfds <= 16);
	if (nfds) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

#define NR (VHU_VERSION | VHU_FLAG_NEED_REPLY)

/* Reads the reply to req and returns its u64 (the REPLY_ACK status). */
static uint64_t raw_reply(int sock, uint32_t req)
{
	struct vhu_msg m;
	int fds[VHU_MAX_FDS];
	size_t nfds;
	assert_int_equal(vhu_msg_recv(sock, &m, fds, &nfds), 1);
	assert_true(m.hdr.flags & VHU_FLAG_REPLY);
	assert_int_equal(m.hdr.request, req);
	assert_int_equal(nfds, 0);
	return m.p.u64;
}

static void raw_u64(int sock, uint32_t req, uint32_t flags, uint64_t v)
{
	raw_send(sock, req, flags, &v, sizeof(v), NULL, 0);
}

/* SET_OWNER and REPLY_ACK, by hand. */
static void raw_handshake(int sock)
{
	raw_send(sock, VHU_SET_OWNER, VHU_VERSION, NULL, 0, NULL, 0);
	raw_u64(sock, VHU_SET_PROTOCOL_FEATURES, VHU_VERSION, VIRTIO_BIT(VHU_PROTOCOL_F_REPLY_ACK));
}

static void expect_still_serving(int sock)
{
	raw_send(sock, VHU_GET_QUEUE_NUM, VHU_VERSION, NULL, 0, NULL, 0);
	assert_int_equal(raw_reply(sock, VHU_GET_QUEUE_NUM), 1);
}

static void test_malformed_refused(void **state)
{
	struct fixture *fx = *state;
	int s = fx->sv[0];
	/* Before SET_OWNER: refused as out of order. */
	raw_u64(s, VHU_SET_PROTOCOL_FEATURES, VHU_VERSION, VIRTIO_BIT(VHU_PROTOCOL_F_REPLY_ACK));
	struct vhu_vring_state st = { 0, 16 };
	raw_send(s, VHU_SET_VRING_NUM, NR, &st, sizeof(st), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), EPERM);
	raw_send(s, VHU_SET_OWNER, VHU_VERSION, NULL, 0, NULL, 0);
	int before = count_fds();

	/* Wrong size for the request. */
	raw_send(s, VHU_SET_VRING_NUM, NR, &st, 4, NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), EBADMSG);
	/* Unknown request. */
	raw_send(s, 99, NR, &st, sizeof(st), NULL, 0);
	assert_int_equal(raw_reply(s, 99), EBADMSG);
	/* Unknown flag bits. */
	raw_send(s, VHU_SET_VRING_NUM, NR | 0x100, &st, sizeof(st), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), EBADMSG);
	/* Bad values: ring index, size not a power of two, too big. */
	struct vhu_vring_state bad[] = { { 1, 16 }, { 0, 12 }, { 0, 512 }, { 0, 0 } };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		raw_send(s, VHU_SET_VRING_NUM, NR, &bad[i], sizeof(bad[i]), NULL, 0);
		assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), EINVAL);
	}
	/* Too many fds: two for a kick, then more than a message may carry. */
	int e[12];
	for (size_t i = 0; i < ARRAY_SIZE(e); i++)
		assert_true((e[i] = evfd_create()) >= 0);
	uint64_t idx0 = 0;
	raw_send(s, VHU_SET_VRING_KICK, NR, &idx0, sizeof(idx0), e, 2);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_KICK), EBADMSG);
	raw_send(s, VHU_SET_VRING_KICK, NR, &idx0, sizeof(idx0), e, ARRAY_SIZE(e));
	assert_int_equal(raw_reply(s, VHU_SET_VRING_KICK), EBADMSG);
	/* A kick without its fd. */
	raw_send(s, VHU_SET_VRING_KICK, NR, &idx0, sizeof(idx0), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_KICK), EBADMSG);
	/* Polling instead of a kick fd is not supported. */
	uint64_t nofd = VHU_VRING_NOFD;
	raw_send(s, VHU_SET_VRING_KICK, NR, &nofd, sizeof(nofd), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_KICK), EOPNOTSUPP);

	/* Memory tables: a region past the end of its fd, an fd that is not
	 * memory, a count that does not match the fds, too many regions. */
	struct vhu_mem_table t = { .nregions = 1 };
	t.regions[0] = (struct vhu_mem_region){ 0, KiB(512), 0x7f0000000000, 0 };
	size_t tsize = VHU_MEM_TABLE_HDR_SIZE + sizeof(t.regions[0]);
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, (uint32_t)tsize, &fx->gm.memfd, 1);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), EINVAL);
	t.regions[0].memory_size = KiB(4);
	t.regions[0].mmap_offset = KiB(512);
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, (uint32_t)tsize, &fx->gm.memfd, 1);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), EINVAL);
	t.regions[0].mmap_offset = 0;
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, (uint32_t)tsize, e, 1);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), ENODEV);
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, (uint32_t)tsize, e, 2);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), EBADMSG);
	t.nregions = 9;
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, (uint32_t)tsize, e, 1);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), EBADMSG);
	assert_false(fx->b.have_mem);

	/* Config ranges outside the 256-byte space. */
	struct vhu_config c = { .offset = 250, .size = 8 };
	raw_send(s, VHU_GET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR_SIZE + 8, NULL, 0);
	/* GET_CONFIG has its own reply, so a refusal closes the connection:
	 * checked last, below. Everything else left no fd behind. */
	for (size_t i = 0; i < ARRAY_SIZE(e); i++)
		close(e[i]);
	assert_int_equal(join_backend(fx), -EBADMSG);
	assert_int_equal(count_fds() + 1, before); /* sv[0] closed by join */
}

static void test_malformed_still_serving(void **state)
{
	struct fixture *fx = *state;
	int s = fx->sv[0];
	raw_handshake(s);
	struct vhu_vring_state st = { 0, 16 };
	raw_send(s, VHU_SET_VRING_NUM, NR, &st, 4, NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), EBADMSG);
	expect_still_serving(s);
	/* SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES acked. */
	raw_send(s, VHU_SET_VRING_ENABLE, NR, &st, sizeof(st), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_ENABLE), EINVAL);
	/* Features the device does not offer. */
	raw_u64(s, VHU_SET_FEATURES, NR, VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	assert_int_equal(raw_reply(s, VHU_SET_FEATURES), EINVAL);
	/* Ring addresses outside the memory table. */
	struct vhu_vring_addr a = { .index = 0, .desc = 0x1000, .used = 0x2000, .avail = 0x3000 };
	raw_send(s, VHU_SET_VRING_NUM, NR, &st, sizeof(st), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_NUM), 0);
	struct vhu_mem_table t = { .nregions = 1 };
	t.regions[0] = (struct vhu_mem_region){ 0, KiB(256), 0x7f0000000000, 0 };
	raw_send(s, VHU_SET_MEM_TABLE, NR, &t, VHU_MEM_TABLE_HDR_SIZE + sizeof(t.regions[0]), &fx->gm.memfd, 1);
	assert_int_equal(raw_reply(s, VHU_SET_MEM_TABLE), 0);
	raw_send(s, VHU_SET_VRING_ADDR, NR, &a, sizeof(a), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_ADDR), EFAULT);
	/* Inside it but misaligned. */
	a = (struct vhu_vring_addr){ .index = 0, .desc = 0x7f0000000008, .used = 0x7f0000002000, .avail = 0x7f0000003000 };
	raw_send(s, VHU_SET_VRING_ADDR, NR, &a, sizeof(a), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_ADDR), EINVAL);
	/* Straddling the end of the region. */
	a.desc = 0x7f0000000000 + KiB(256) - 128;
	raw_send(s, VHU_SET_VRING_ADDR, NR, &a, sizeof(a), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_ADDR), EFAULT);
	a.desc = 0x7f0000001000;
	raw_send(s, VHU_SET_VRING_ADDR, NR, &a, sizeof(a), NULL, 0);
	assert_int_equal(raw_reply(s, VHU_SET_VRING_ADDR), 0);
	expect_still_serving(s);
	assert_int_equal(join_backend(fx), 0);
}

/* Failures the back-end cannot report end the connection cleanly. */
static void test_unreportable_closes(void **state)
{
	struct fixture *fx = *state;
	/* A refused request without NEED_REPLY. */
	raw_send(fx->sv[0], VHU_SET_OWNER, VHU_VERSION, NULL, 0, NULL, 0);
	struct vhu_vring_state st = { 7, 16 };
	raw_send(fx->sv[0], VHU_SET_VRING_NUM, VHU_VERSION, &st, sizeof(st), NULL, 0);
	assert_int_equal(join_backend(fx), -EINVAL);
	assert_int_equal(fx->b.last_error_request, VHU_SET_VRING_NUM);
}

static void test_short_header_closes(void **state)
{
	struct fixture *fx = *state;
	uint8_t half[6] = { 1, 0, 0, 0, 1, 0 };
	assert_int_equal(write(fx->sv[0], half, sizeof(half)), (ssize_t)sizeof(half));
	assert_int_equal(shutdown(fx->sv[0], SHUT_WR), 0);
	pthread_join(fx->thread, NULL);
	fx->running = false;
	assert_int_equal(fx->run_result, -ECONNRESET);
}

static void test_oversized_closes(void **state)
{
	struct fixture *fx = *state;
	struct vhu_msg_hdr hdr = { VHU_SET_FEATURES, VHU_VERSION, VHU_MAX_PAYLOAD + 1 };
	assert_int_equal(write(fx->sv[0], &hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	pthread_join(fx->thread, NULL);
	fx->running = false;
	assert_int_equal(fx->run_result, -EMSGSIZE);
}

static void test_reply_flag_closes(void **state)
{
	struct fixture *fx = *state;
	raw_u64(fx->sv[0], VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, 0);
	assert_int_equal(join_backend(fx), -EPROTO);
}

/* ---- vhu_msg_check directly ---- */

static int check(uint32_t req, uint32_t flags, const void *p, uint32_t size, size_t nfds)
{
	struct vhu_msg_hdr h = { req, flags, size };
	return vhu_msg_check(&h, p, size, nfds);
}

static void test_msg_check(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_int_equal(check(VHU_GET_FEATURES, VHU_VERSION, NULL, 0, 0), 0);
	assert_int_equal(check(VHU_GET_FEATURES, 0, NULL, 0, 0), -EPROTO);
	assert_int_equal(check(VHU_GET_FEATURES, 2, NULL, 0, 0), -EPROTO);
	assert_int_equal(check(VHU_GET_FEATURES, VHU_VERSION, &v, 8, 0), -EBADMSG);
	assert_int_equal(check(VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY, &v, 8, 0), 0);
	assert_int_equal(check(VHU_GET_FEATURES, VHU_VERSION | VHU_FLAG_REPLY | VHU_FLAG_NEED_REPLY, &v, 8, 0),
			 -EPROTO);
	assert_int_equal(check(VHU_SET_FEATURES, VHU_VERSION, &v, 8, 1), -E2BIG);
	assert_int_equal(check(VHU_SET_LOG_BASE, VHU_VERSION, &v, 8, 1), -ENOSYS);
	assert_int_equal(check(1000, VHU_VERSION, NULL, 0, 0), -ENOSYS);
	assert_int_equal(check(VHU_SET_VRING_CALL, VHU_VERSION, &v, 8, 1), 0);
	assert_int_equal(check(VHU_SET_VRING_CALL, VHU_VERSION, &v, 8, VHU_MAX_FDS + 1), -E2BIG);
	v = VHU_VRING_NOFD;
	assert_int_equal(check(VHU_SET_VRING_CALL, VHU_VERSION, &v, 8, 0), 0);
	assert_int_equal(check(VHU_SET_VRING_CALL, VHU_VERSION, &v, 8, 1), -E2BIG);
	v = 0x200;
	assert_int_equal(check(VHU_SET_VRING_CALL, VHU_VERSION, &v, 8, 1), -EBADMSG);

	struct vhu_mem_table t = { .nregions = 2 };
	uint32_t two = VHU_MEM_TABLE_HDR_SIZE + 2 * sizeof(struct vhu_mem_region);
	assert_int_equal(check(VHU_SET_MEM_TABLE, VHU_VERSION, &t, two, 2), 0);
	assert_int_equal(check(VHU_SET_MEM_TABLE, VHU_VERSION, &t, two, 1), -EBADMSG);
	assert_int_equal(check(VHU_SET_MEM_TABLE, VHU_VERSION, &t, two - 1, 2), -EBADMSG);
	assert_int_equal(check(VHU_SET_MEM_TABLE, VHU_VERSION, &t, 4, 0), -EBADMSG);
	t.nregions = 0;
	assert_int_equal(check(VHU_SET_MEM_TABLE, VHU_VERSION, &t, VHU_MEM_TABLE_HDR_SIZE, 0), -EBADMSG);

	struct vhu_config c = { .offset = 0, .size = 256 };
	assert_int_equal(check(VHU_GET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR_SIZE + 256, 0), 0);
	assert_int_equal(check(VHU_GET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR_SIZE + 255, 0), -EBADMSG);
	c.offset = 1;
	assert_int_equal(check(VHU_GET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR_SIZE + 256, 0), -EBADMSG);
	c = (struct vhu_config){ .offset = UINT32_MAX, .size = 2 };
	assert_int_equal(check(VHU_SET_CONFIG, VHU_VERSION, &c, VHU_CONFIG_HDR_SIZE + 2, 0), -EBADMSG);
	/* The header's size must be what was received. */
	struct vhu_msg_hdr h = { VHU_SET_FEATURES, VHU_VERSION, 8 };
	assert_int_equal(vhu_msg_check(&h, &v, 7, 0), -EBADMSG);

	/* The back-end request channel. */
	struct vhu_msg_hdr b = { VHU_BACKEND_CONFIG_CHANGE_MSG, VHU_VERSION, 0 };
	assert_int_equal(vhu_breq_check(&b, NULL, 0, 0), 0);
	assert_int_equal(vhu_breq_check(&b, NULL, 0, 1), -E2BIG);
	b.request = 1;
	assert_int_equal(vhu_breq_check(&b, NULL, 0, 0), -ENOSYS);
}

/* The front-end refuses a back-end that breaks the protocol. */
static void *bad_backend(void *arg)
{
	int s = *(int *)arg;
	struct vhu_msg m;
	int fds[VHU_MAX_FDS];
	size_t nfds;
	/* SET_OWNER (no reply), then GET_FEATURES answered as if it were
	 * another request. */
	if (vhu_msg_recv(s, &m, fds, &nfds) == 1 && vhu_msg_recv(s, &m, fds, &nfds) == 1) {
		struct vhu_msg r = { .hdr = { VHU_GET_QUEUE_NUM, VHU_VERSION | VHU_FLAG_REPLY, 8 } };
		r.p.u64 = 1;
		if (vhu_msg_send(s, &r, NULL, 0) < 0)
			return NULL;
	}
	return NULL;
}

static void test_frontend_refuses_bad_reply(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bad_backend, &sv[1]), 0);
	struct vhu_frontend f;
	assert_int_equal(vhu_frontend_connect(&f, sv[0]), -EPROTO);
	vhu_frontend_close(&f);
	pthread_join(t, NULL);
	close(sv[1]);
}

/* ---- when the device runs: a two-queue fake device ---- */

struct fake2 {
	int activations;
	unsigned ready_mask; /* queues with rings in the last activation */
	bool active;
};

static unsigned fake2_num_queues(void *dev) { (void)dev; return 2; }
static uint16_t fake2_queue_max_size(void *dev, unsigned q) { (void)dev, (void)q; return 64; }
static uint64_t fake2_features(void *dev) { (void)dev; return VIRTIO_BIT(VIRTIO_F_VERSION_1); }
static void fake2_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0x5a, len);
}
static void fake2_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}
static int fake2_activate(void *dev, const struct virtio_activation *act)
{
	struct fake2 *d = dev;
	assert_false(d->active);
	d->ready_mask = 0;
	for (unsigned q = 0; q < act->nr_queues; q++) {
		assert_true(act->queues[q].kick_fd >= 0 && act->queues[q].call_fd >= 0);
		if (act->queues[q].cfg.size)
			d->ready_mask |= 1u << q;
	}
	d->activations++;
	d->active = true;
	return 0;
}
static void fake2_reset(void *dev) { ((struct fake2 *)dev)->active = false; }
static void fake2_destroy(void *dev) { (void)dev; }

static const struct virtio_device_ops fake2_ops = {
	.name = "fake2",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = fake2_num_queues,
	.queue_max_size = fake2_queue_max_size,
	.features = fake2_features,
	.config_read = fake2_config_read,
	.config_write = fake2_config_write,
	.activate = fake2_activate,
	.reset = fake2_reset,
	.destroy = fake2_destroy,
};

static void test_ring_set_activation(void **state)
{
	(void)state;
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	struct gm_range r[] = { { GPA(0), KiB(64) } };
	assert_int_equal(gm_create(&fx->gm, r, 1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fx->sv), 0);
	struct fake2 dev = { 0 };
	fx->dev = (struct virtio_device){ &fake2_ops, &dev };
	assert_int_equal(vhu_backend_init(&fx->b, &fx->dev, fx->sv[1]), 0);
	assert_int_equal(pthread_create(&fx->thread, NULL, backend_thread, fx), 0);
	fx->running = true;
	connect_frontend(fx);
	struct vhu_frontend *f = &fx->f;
	assert_int_equal(vhu_frontend_set_features(f, VIRTIO_BIT(VIRTIO_F_VERSION_1)), 0);
	assert_int_equal(vhu_frontend_set_mem_table(f, &fx->gm), 0);
	int kick[2], call[2];
	for (unsigned q = 0; q < 2; q++) {
		assert_true((kick[q] = evfd_create()) >= 0 && (call[q] = evfd_create()) >= 0);
		gpa_t base = GPA(0x1000 * (q + 1));
		assert_int_equal(vhu_frontend_set_vring_num(f, q, 16), 0);
		assert_int_equal(vhu_frontend_set_vring_addr(f, q, 16, base, gpa_add(base, 0x100), gpa_add(base, 0x200)),
				 0);
		assert_int_equal(vhu_frontend_set_vring_kick(f, q, kick[q]), 0);
		assert_int_equal(vhu_frontend_set_vring_call(f, q, call[q]), 0);
	}
	/* Ring 1 started but not yet enabled: wait for it. */
	assert_int_equal(vhu_frontend_set_vring_enable(f, 0, true), 0);
	assert_int_equal(dev.activations, 0);
	assert_int_equal(vhu_frontend_set_vring_enable(f, 1, true), 0);
	assert_int_equal(dev.activations, 1);
	assert_int_equal(dev.ready_mask, 3);
	/* Config through the device's ops. */
	uint8_t cfg[4];
	assert_int_equal(vhu_frontend_get_config(f, 8, cfg, sizeof(cfg)), 0);
	assert_int_equal(cfg[3], 0x5a);
	/* Stopping ring 0 stops the device until ring 0 starts again. */
	uint16_t base;
	assert_int_equal(vhu_frontend_get_vring_base(f, 0, &base), 0);
	assert_int_equal(base, 0);
	assert_false(dev.active);
	assert_int_equal(vhu_frontend_set_vring_base(f, 1, 0), 0);
	assert_int_equal(dev.activations, 1);
	assert_int_equal(vhu_frontend_set_vring_kick(f, 0, kick[0]), 0);
	assert_int_equal(dev.activations, 2);
	assert_int_equal(dev.ready_mask, 3);
	/* A ring explicitly disabled is left out, the rest keep running. */
	assert_int_equal(vhu_frontend_set_vring_enable(f, 1, false), 0);
	assert_true(dev.active);
	assert_int_equal(dev.activations, 3);
	assert_int_equal(dev.ready_mask, 1);
	/* A new call fd restarts the device with it. */
	assert_int_equal(vhu_frontend_set_vring_call(f, 0, call[1]), 0);
	assert_int_equal(dev.activations, 4);
	/* Rings outside the memory table are refused up front. */
	assert_int_equal(vhu_frontend_set_vring_addr(f, 0, 16, GPA(KiB(64) - 0x80), GPA(0x100), GPA(0x200)), -EFAULT);
	assert_int_equal(join_backend(fx), 0);
	vhu_backend_destroy(&fx->b);
	assert_false(dev.active);
	for (unsigned q = 0; q < 2; q++) {
		close(kick[q]);
		close(call[q]);
	}
	gm_destroy(&fx->gm);
	free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_check),
		cmocka_unit_test_setup_teardown(test_rng_over_vhost_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_still_serving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreportable_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_header_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_flag_closes, setup, teardown),
		cmocka_unit_test(test_frontend_refuses_bad_reply),
		cmocka_unit_test(test_ring_set_activation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
