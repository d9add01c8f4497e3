/*
 * libFuzzer target for vhost-user message handling: what a hostile
 * front-end (or back-end) controls is every byte of every message and the
 * fds that come with them.
 *
 * 1. vhu_msg_check and vhu_breq_check on the input as one message:
 *      byte 0       number of fds claimed (0..15)
 *      bytes 1..12  header {request, flags, size} (host order)
 *      the rest     payload (its length is passed as received, which
 *                   need not match hdr.size)
 *    and, for a message accepted as a request, the invariants the
 *    back-end relies on (memory-table counts, config ranges).
 *
 * 2. A back-end session: the input is a sequence of records, each
 *      byte 0       bits 0-2 fds to attach, bit 3 eventfds instead of the
 *                   guest memfd (a 128 KiB memfd of one 64 KiB region at
 *                   GPA 0 and one at GPA 1 MiB)
 *      bytes 1..12  header, sent as is
 *      then         min(hdr.size, what is left, 512) payload bytes
 *    all written into one end of a socketpair, which is then shut down;
 *    a vhu_backend serves the other end for a fake two-queue device
 *    until it closes the connection. The device's activate() sets the
 *    queues up with vq_init (rings checked against the mapped memory) and
 *    pops and completes a few chains, so ring translation and the
 *    fd-backed guest memory view are exercised too. ASan/UBSan and
 *    leaked fds (the process would run out) are what the target finds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "fuzz_common.h"
#include "vhost/user/backend.h"
#include "vhost/user/protocol.h"
#include "virtio/core/queue.h"
#include "vm_memory/vm_memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORD_PAYLOAD 512
#define MAX_INPUT 16384 /* stays well inside the socket buffer */

/* ---- part 1: the pure check ---- */

static void fuzz_msg(const uint8_t *data, size_t size)
{
	if (size < 1 + sizeof(struct vhu_msg_hdr))
		return;
	size_t nfds = data[0] & 15;
	struct vhu_msg_hdr hdr;
	memcpy(&hdr, data + 1, sizeof(hdr));
	const uint8_t *payload = data + 1 + sizeof(hdr);
	size_t len = size - 1 - sizeof(hdr);
	int r = vhu_msg_check(&hdr, len ? payload : NULL, len, nfds);
	fuzz_check(r == 0 || r == -EPROTO || r == -ENOSYS || r == -EBADMSG || r == -E2BIG);
	if (r == 0) {
		fuzz_check(len == hdr.size && len <= VHU_MAX_PAYLOAD && nfds <= VHU_MAX_FDS);
		fuzz_check((hdr.flags & VHU_FLAG_VERSION_MASK) == VHU_VERSION);
		bool reply = hdr.flags & VHU_FLAG_REPLY;
		if (!reply && hdr.request == VHU_SET_MEM_TABLE) {
			uint32_t n;
			memcpy(&n, payload, sizeof(n));
			fuzz_check(n >= 1 && n <= VHU_MAX_MEM_REGIONS && nfds == n);
			fuzz_check(len == VHU_MEM_TABLE_HDR_SIZE + n * sizeof(struct vhu_mem_region));
		}
		if (hdr.request == VHU_GET_CONFIG || (!reply && hdr.request == VHU_SET_CONFIG)) {
			struct vhu_config c;
			memcpy(&c, payload, len < sizeof(c) ? len : sizeof(c));
			fuzz_check(c.size >= 1 && c.size <= VHU_MAX_CONFIG_SIZE && c.offset + c.size <= VHU_MAX_CONFIG_SIZE);
			fuzz_check(len == VHU_CONFIG_HDR_SIZE + c.size);
		}
		if (reply)
			fuzz_check(nfds == 0);
	}
	r = vhu_breq_check(&hdr, len ? payload : NULL, len, nfds);
	fuzz_check(r == 0 || r == -EPROTO || r == -ENOSYS || r == -EBADMSG || r == -E2BIG);
	if (r == 0)
		fuzz_check(len == 0 && nfds == 0 && hdr.request == VHU_BACKEND_CONFIG_CHANGE_MSG);
}

/* ---- part 2: a back-end session ---- */

#define FAKE_QUEUES 2
#define FAKE_CONFIG 16

struct fake_dev {
	bool active;
	const struct guest_memory *gm;
	struct virtio_queue q[FAKE_QUEUES];
	uint8_t config[FAKE_CONFIG];
	struct vq_chain chain; /* large: 16 KiB */
};

static unsigned fake_num_queues(void *dev)
{
	(void)dev;
	return FAKE_QUEUES;
}

static uint16_t fake_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return 64;
}

static uint64_t fake_features(void *dev)
{
	(void)dev;
	return VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
}

static void fake_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake_dev *d = dev;
	fuzz_check(off <= VHU_MAX_CONFIG_SIZE && len <= VHU_MAX_CONFIG_SIZE - off);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < FAKE_CONFIG ? d->config[off + i] : 0;
}

static void fake_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct fake_dev *d = dev;
	fuzz_check(off <= VHU_MAX_CONFIG_SIZE && len <= VHU_MAX_CONFIG_SIZE - off);
	for (uint32_t i = 0; i < len && off + i < FAKE_CONFIG; i++)
		d->config[off + i] = data[i];
}

static int fake_activate(void *dev, const struct virtio_activation *act)
{
	struct fake_dev *d = dev;
	fuzz_check(!d->active && act->nr_queues == FAKE_QUEUES);
	bool any = false;
	for (unsigned i = 0; i < FAKE_QUEUES; i++) {
		fuzz_check(act->queues[i].kick_fd >= 0 && act->queues[i].call_fd >= 0);
		int r = virtio_queue_setup(&d->q[i], act->gm, &act->queues[i]);
		if (r < 0)
			return r;
		any |= d->q[i].ready;
	}
	fuzz_check(any);
	/* Walk a few chains through the fd-backed memory view. */
	for (unsigned i = 0; i < FAKE_QUEUES; i++) {
		if (!d->q[i].ready)
			continue;
		for (int n = 0; n < 4; n++) {
			int r = vq_pop(&d->q[i].vq, &d->chain);
			if (r == 0 || r == -EIO)
				break;
			if (r == 1 && d->chain.nr_readable > 0) {
				uint8_t b;
				fuzz_check(gm_read(act->gm, d->chain.segs[0].addr, &b, 1) == 0);
			}
			fuzz_check(vq_push(&d->q[i].vq, d->chain.head, 0) == 0);
		}
	}
	d->gm = act->gm;
	d->active = true;
	return 0;
}

static void fake_reset(void *dev)
{
	struct fake_dev *d = dev;
	d->active = false;
	d->gm = NULL;
}

static void fake_destroy(void *dev)
{
	free(dev);
}

static const struct virtio_device_ops fake_ops = {
	.name = "fuzz",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = fake_num_queues,
	.queue_max_size = fake_queue_max_size,
	.features = fake_features,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
	.destroy = fake_destroy,
};

static bool send_record(int sock, const uint8_t *hdr_and_payload, size_t len, int memfd, uint8_t spec)
{
	size_t nfds = spec & 7;
	int fds[8];
	bool evfds = spec & 8;
	for (size_t i = 0; i < nfds; i++)
		fds[i] = evfds ? evfd_create() : memfd;
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = { (void *)hdr_and_payload, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	bool fds_ok = true;
	for (size_t i = 0; i < nfds; i++)
		fds_ok &= fds[i] >= 0;
	if (nfds && fds_ok) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	bool ok = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len;
	if (evfds)
		for (size_t i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	return ok;
}

/* Reads and drops whatever the back-end answered so far. */
static void drain_replies(int sock)
{
	uint8_t buf[4096];
	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
	}
}

static void fuzz_session(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return;
	struct guest_memory gm;
	struct gm_range ranges[] = { { GPA(0), KiB(64) }, { GPA(MiB(1)), KiB(64) } };
	if (gm_create(&gm, ranges, 2) < 0)
		abort(); /* the harness itself is broken */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	struct fake_dev *fdev = calloc(1, sizeof(*fdev));
	struct vhu_backend *b = malloc(sizeof(*b));
	if (!fdev || !b)
		abort();
	struct virtio_device dev = { &fake_ops, fdev };
	if (vhu_backend_init(b, &dev, sv[1]) < 0)
		abort();

	size_t pos = 0;
	while (pos + 1 + sizeof(struct vhu_msg_hdr) <= size) {
		uint8_t spec = data[pos++];
		struct vhu_msg_hdr hdr;
		memcpy(&hdr, data + pos, sizeof(hdr));
		size_t avail = size - pos - sizeof(hdr);
		size_t plen = hdr.size < avail ? hdr.size : avail;
		if (plen > MAX_RECORD_PAYLOAD)
			plen = MAX_RECORD_PAYLOAD;
		if (!send_record(sv[0], data + pos, sizeof(hdr) + plen, gm.memfd, spec))
			break;
		pos += sizeof(hdr) + plen;
	}
	shutdown(sv[0], SHUT_WR);

	/* Everything is queued and the stream ends, so the back-end cannot
	 * block on a short message: it sees the end instead. */
	for (int guard = 0; guard < 4096; guard++) {
		int r = vhu_backend_handle_one(b);
		drain_replies(sv[0]);
		/* Simulate the device signalling now and then. */
		if (guard % 3 == 1) {
			(void)evfd_signal(b->error_fd);
			(void)evfd_signal(b->config_fd);
			if (vhu_backend_handle_device_events(b) < 0)
				drain_replies(sv[0]);
		}
		if (r <= 0)
			break;
	}
	vhu_backend_destroy(b);
	fuzz_check(!fdev->active);
	free(b);
	close(sv[0]);
	fake_destroy(fdev);
	gm_destroy(&gm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_msg(data, size);
	fuzz_session(data, size);
	return 0;
}
