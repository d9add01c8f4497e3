/*
 * Unit tests for vm_control/: encode/decode round trips and every class of
 * malformed message; a server with fake handlers in a temporary directory
 * (socket mode, generated name, requests reaching the handlers, hostile
 * clients of every kind); the client's errors for paths that are
 * missing, not sockets, stale or silent; and the same requests over a
 * connected socketpair (a device process's control channel).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include "vm_control/client.h"
#include "vm_control/dispatch.h"
#include "vm_control/protocol.h"
#include "vm_control/server.h"

/* ---- protocol ---- */

static int roundtrip_req(const struct vmc_request *in, struct vmc_request *out)
{
	uint8_t buf[VMC_MAX_MSG];
	int n = vmc_encode_request(in, buf, sizeof(buf));
	if (n < 0)
		return n;
	return vmc_decode_request(buf, (size_t)n, out);
}

static void test_request_roundtrip(void **state)
{
	(void)state;
	struct vmc_request in, out;
	for (uint16_t t = VMC_REQ_STOP; t <= VMC_REQ_MAX; t++) {
		memset(&in, 0, sizeof(in));
		in.type = t;
		switch (t) {
		case VMC_REQ_BALLOON: in.u.balloon.bytes = 0x123456789abcdef0ull; break;
		case VMC_REQ_DISK_RESIZE:
			in.u.disk_resize.index = 7;
			in.u.disk_resize.new_size = 1ull << 40;
			break;
		case VMC_REQ_USB_ATTACH:
			in.u.usb_attach = (struct vmc_usb_attach){ .bus = 1, .addr = 2, .vid = 0x1234, .pid = 0xabcd };
			strcpy(in.u.usb_attach.path, "/dev/bus/usb/001/002");
			break;
		case VMC_REQ_USB_DETACH: in.u.usb_detach.port = 3; break;
		case VMC_REQ_BATTERY:
			strcpy(in.u.battery.type, "goldfish");
			strcpy(in.u.battery.property, "status");
			strcpy(in.u.battery.target, "charging");
			break;
		default: break;
		}
		assert_int_equal(roundtrip_req(&in, &out), 0);
		assert_int_equal(out.type, t);
		assert_memory_equal(&in, &out, sizeof(in));
	}
	/* Encoding refuses what decoding would refuse. */
	memset(&in, 0, sizeof(in));
	in.type = 0;
	assert_int_equal(roundtrip_req(&in, &out), -EBADRQC);
	in.type = VMC_REQ_USB_ATTACH;
	assert_int_equal(roundtrip_req(&in, &out), -EINVAL); /* empty path */
	in.type = VMC_REQ_BATTERY;
	assert_int_equal(roundtrip_req(&in, &out), -EINVAL);
	uint8_t small[VMC_HDR_SIZE + 4];
	in.type = VMC_REQ_BALLOON;
	assert_int_equal(vmc_encode_request(&in, small, sizeof(small)), -ENOBUFS);
	in.type = VMC_REQ_STOP;
	assert_int_equal(vmc_encode_request(&in, small, sizeof(small)), VMC_HDR_SIZE);
}

static void test_reply_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[VMC_MAX_MSG];
	struct vmc_reply in = { .type = VMC_REQ_BALLOON_STATS }, out;
	in.balloon_stats.stats.generation = 3;
	in.balloon_stats.stats.timestamp_ns = 99;
	in.balloon_stats.stats.valid = 0x8011;
	for (unsigned i = 0; i < VIRTIO_BALLOON_S_NR; i++)
		in.balloon_stats.stats.val[i] = 1000 + i;
	in.balloon_stats.actual_bytes = 1 << 20;
	int n = vmc_encode_reply(&in, buf, sizeof(buf));
	assert_int_equal(n, VMC_HDR_SIZE + 8 + VMC_BALLOON_STATS_SIZE);
	assert_int_equal(vmc_decode_reply(buf, (size_t)n, &out), 0);
	assert_int_equal(out.type, VMC_REQ_BALLOON_STATS);
	assert_int_equal(out.status, 0);
	assert_memory_equal(&out.balloon_stats, &in.balloon_stats, sizeof(in.balloon_stats));

	/* An error: the message travels, no statistics. */
	memset(&in, 0, sizeof(in));
	in.type = VMC_REQ_BALLOON_STATS;
	in.status = -ENODEV;
	strcpy(in.msg, "no balloon device");
	n = vmc_encode_reply(&in, buf, sizeof(buf));
	assert_int_equal(n, VMC_HDR_SIZE + 8 + 17);
	assert_int_equal(vmc_decode_reply(buf, (size_t)n, &out), 0);
	assert_int_equal(out.status, -ENODEV);
	assert_string_equal(out.msg, "no balloon device");

	/* Long messages are cut; success drops the message. */
	memset(in.msg, 'x', sizeof(in.msg) - 1);
	n = vmc_encode_reply(&in, buf, sizeof(buf));
	assert_int_equal(vmc_decode_reply(buf, (size_t)n, &out), 0);
	assert_int_equal(strlen(out.msg), VMC_ERR_MAX);
	in.status = 0;
	in.type = VMC_REQ_STOP;
	n = vmc_encode_reply(&in, buf, sizeof(buf));
	assert_int_equal(vmc_decode_reply(buf, (size_t)n, &out), 0);
	assert_string_equal(out.msg, "");

	in.status = 1;
	assert_int_equal(vmc_encode_reply(&in, buf, sizeof(buf)), -EINVAL);
	in.status = -5000;
	assert_int_equal(vmc_encode_reply(&in, buf, sizeof(buf)), -EINVAL);
	in.status = 0;
	in.type = VMC_REQ_MAX + 1;
	assert_int_equal(vmc_encode_reply(&in, buf, sizeof(buf)), -EINVAL);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Builds a header by hand. */
static void hdr(uint8_t *p, uint32_t magic, uint16_t version, uint16_t type, uint32_t plen)
{
	put32(p, magic);
	p[4] = (uint8_t)version;
	p[5] = (uint8_t)(version >> 8);
	p[6] = (uint8_t)type;
	p[7] = (uint8_t)(type >> 8);
	put32(p + 8, plen);
}

static void test_request_malformed(void **state)
{
	(void)state;
	static uint8_t b[VMC_MAX_MSG + 16];
	struct vmc_request r;
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BALLOON, 8);
	assert_int_equal(vmc_decode_request(b, 20, &r), 0);
	assert_int_equal(vmc_decode_request(b, 0, &r), -ENODATA);
	assert_int_equal(vmc_decode_request(b, 5, &r), -EBADMSG);  /* short header */
	assert_int_equal(vmc_decode_request(b, 19, &r), -EBADMSG); /* short payload */
	assert_int_equal(vmc_decode_request(b, 21, &r), -E2BIG);   /* trailing byte */
	assert_int_equal(vmc_decode_request(b, VMC_MAX_MSG + 1, &r), -EMSGSIZE);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BALLOON, VMC_MAX_MSG);
	assert_int_equal(vmc_decode_request(b, 20, &r), -EMSGSIZE); /* declared too big */
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BALLOON, UINT32_MAX);
	assert_int_equal(vmc_decode_request(b, 20, &r), -EMSGSIZE);
	hdr(b, 0x12345678, VMC_VERSION, VMC_REQ_BALLOON, 8);
	assert_int_equal(vmc_decode_request(b, 20, &r), -EPROTO);
	hdr(b, VMC_MAGIC, 2, VMC_REQ_BALLOON, 8);
	assert_int_equal(vmc_decode_request(b, 20, &r), -EPROTONOSUPPORT);
	hdr(b, VMC_MAGIC, 0, VMC_REQ_BALLOON, 8);
	assert_int_equal(vmc_decode_request(b, 20, &r), -EPROTONOSUPPORT);
	hdr(b, VMC_MAGIC, VMC_VERSION, 0, 0);
	assert_int_equal(vmc_decode_request(b, 12, &r), -EBADRQC);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_MAX + 1, 0);
	assert_int_equal(vmc_decode_request(b, 12, &r), -EBADRQC);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 0);
	assert_int_equal(vmc_decode_request(b, 12, &r), -EBADRQC); /* a reply is not a request */
	/* Payload size not matching the type. */
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BALLOON, 4);
	assert_int_equal(vmc_decode_request(b, 16, &r), -EINVAL);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_STOP, 1);
	assert_int_equal(vmc_decode_request(b, 13, &r), -EINVAL);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_DISK_RESIZE, 16);
	assert_int_equal(vmc_decode_request(b, 28, &r), -EINVAL);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_USB_ATTACH, 4);
	assert_int_equal(vmc_decode_request(b, 16, &r), -EINVAL);
	/* USB attach: path_len must account for the rest; path non-empty, no NUL. */
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_USB_ATTACH, 8 + 3);
	b[12 + 6] = 3;
	memcpy(b + 20, "abc", 3);
	assert_int_equal(vmc_decode_request(b, 23, &r), 0);
	assert_string_equal(r.u.usb_attach.path, "abc");
	b[21] = 0;
	assert_int_equal(vmc_decode_request(b, 23, &r), -EILSEQ);
	b[12 + 6] = 4;
	assert_int_equal(vmc_decode_request(b, 23, &r), -EINVAL);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_USB_ATTACH, 8);
	b[12 + 6] = 0;
	assert_int_equal(vmc_decode_request(b, 20, &r), -EILSEQ);
	/* Battery strings: terminated, non-empty, zero padding. */
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BATTERY, 3 * VMC_BATTERY_STR);
	size_t blen = VMC_HDR_SIZE + 3 * VMC_BATTERY_STR;
	assert_int_equal(vmc_decode_request(b, blen, &r), -EILSEQ); /* empty */
	memcpy(b + 12, "goldfish", 8);
	memcpy(b + 12 + 32, "status", 6);
	memcpy(b + 12 + 64, "full", 4);
	assert_int_equal(vmc_decode_request(b, blen, &r), 0);
	assert_string_equal(r.u.battery.target, "full");
	b[12 + 40] = 'z'; /* junk after the terminator */
	assert_int_equal(vmc_decode_request(b, blen, &r), -EILSEQ);
	b[12 + 40] = 0;
	memset(b + 12 + 64, 'a', 32); /* unterminated */
	assert_int_equal(vmc_decode_request(b, blen, &r), -EILSEQ);
}

static void test_reply_malformed(void **state)
{
	(void)state;
	uint8_t b[VMC_MAX_MSG + 16];
	struct vmc_reply r;
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), 0);
	assert_int_equal(vmc_decode_reply(b, 0, &r), -ENODATA);
	assert_int_equal(vmc_decode_reply(b, 11, &r), -EBADMSG);
	assert_int_equal(vmc_decode_reply(b, 19, &r), -EBADMSG);
	assert_int_equal(vmc_decode_reply(b, 21, &r), -E2BIG);
	assert_int_equal(vmc_decode_reply(b, VMC_MAX_MSG + 1, &r), -EMSGSIZE);
	hdr(b, VMC_MAGIC ^ 1, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), -EPROTO);
	hdr(b, VMC_MAGIC, 9, VMC_REPLY_FLAG | VMC_REQ_STOP, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), -EPROTONOSUPPORT);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_STOP, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), -EBADRQC);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | 99, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), -EBADRQC);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG, 8); /* generic error reply */
	assert_int_equal(vmc_decode_reply(b, 20, &r), 0);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 4);
	assert_int_equal(vmc_decode_reply(b, 16, &r), -EINVAL);
	/* Success must not carry a message; status in range; reserved zero. */
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 10);
	b[16] = 2;
	b[20] = 'h';
	b[21] = 'i';
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EILSEQ);
	put32(b + 12, (uint32_t)-EIO);
	assert_int_equal(vmc_decode_reply(b, 22, &r), 0);
	assert_string_equal(r.msg, "hi");
	b[21] = 0;
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EILSEQ); /* embedded NUL */
	b[21] = 'i';
	b[16] = 3; /* message longer than the payload */
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EINVAL);
	b[16] = 2;
	b[18] = 1;
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EILSEQ);
	b[18] = 0;
	put32(b + 12, 1);
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EILSEQ);
	put32(b + 12, (uint32_t)-4096);
	assert_int_equal(vmc_decode_reply(b, 22, &r), -EILSEQ);
	/* Stats reply without its data. */
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_BALLOON_STATS, 8);
	assert_int_equal(vmc_decode_reply(b, 20, &r), -EINVAL);
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_BALLOON_STATS, 8 + VMC_BALLOON_STATS_SIZE);
	assert_int_equal(vmc_decode_reply(b, 20 + VMC_BALLOON_STATS_SIZE, &r), 0);
	b[20 + 20] = 1; /* reserved field */
	assert_int_equal(vmc_decode_reply(b, 20 + VMC_BALLOON_STATS_SIZE, &r), -EILSEQ);
	/* Message too long. */
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REPLY_FLAG | VMC_REQ_STOP, 8 + VMC_ERR_MAX + 1);
	put32(b + 12, (uint32_t)-EIO);
	b[16] = (uint8_t)(VMC_ERR_MAX + 1);
	b[17] = (uint8_t)((VMC_ERR_MAX + 1) >> 8);
	memset(b + 20, 'a', VMC_ERR_MAX + 1);
	assert_int_equal(vmc_decode_reply(b, 20 + VMC_ERR_MAX + 1, &r), -EINVAL);
}

/* ---- server ---- */

static void set_sun_path(struct sockaddr_un *a, const char *path)
{
	size_t n = strlen(path);
	assert_true(n < sizeof(a->sun_path));
	memcpy(a->sun_path, path, n + 1);
}

struct fake {
	int stops, suspends, balloons, resizes;
	uint64_t balloon_bytes, resize_size;
	uint32_t resize_index;
};

static int fake_stop(void *ctx)
{
	((struct fake *)ctx)->stops++;
	return 0;
}

static int fake_suspend(void *ctx)
{
	((struct fake *)ctx)->suspends++;
	return -EBUSY;
}

static int fake_balloon(void *ctx, uint64_t bytes)
{
	struct fake *f = ctx;
	f->balloons++;
	f->balloon_bytes = bytes;
	return 0;
}

static int fake_stats(void *ctx, struct vmc_balloon_stats *out)
{
	(void)ctx;
	out->stats.generation = 5;
	out->stats.valid = 1u << VIRTIO_BALLOON_S_MEMFREE;
	out->stats.val[VIRTIO_BALLOON_S_MEMFREE] = 123456;
	out->actual_bytes = 4096;
	return 0;
}

static int fake_resize(void *ctx, uint32_t index, uint64_t size, char *err, size_t errlen)
{
	struct fake *f = ctx;
	f->resizes++;
	f->resize_index = index;
	f->resize_size = size;
	if (index > 0) {
		snprintf(err, errlen, "disk %u does not exist", index);
		return -ENODEV;
	}
	return 0;
}

static const struct vmc_handlers fake_handlers = {
	.stop = fake_stop,
	.suspend = fake_suspend,
	.balloon = fake_balloon,
	.balloon_stats = fake_stats,
	.disk_resize = fake_resize,
};

struct fixture {
	char dir[64];
	char sock[128];
	struct fake fake;
	struct vmc_server *srv;
};

static struct fixture *fixture_new(unsigned idle_ms, unsigned max_clients)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/vmc-test-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	struct vmc_server_options o = { .idle_timeout_ms = idle_ms, .max_clients = max_clients };
	assert_int_equal(vmc_server_open(fx->dir, &fake_handlers, &fx->fake, &o, &fx->srv), 0);
	snprintf(fx->sock, sizeof(fx->sock), "%s", vmc_server_path(fx->srv));
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	vmc_server_close(fx->srv);
	assert_int_equal(access(fx->sock, F_OK), -1); /* unlinked */
	assert_int_equal(rmdir(fx->dir), 0);
	free(fx);
}

static int call(struct fixture *fx, const struct vmc_request *req, struct vmc_reply *rep)
{
	return vmc_client_call(fx->sock, req, rep, 5000);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	set_sun_path(&a, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Waits up to ms for a datagram: its length, 0 at end of stream, -errno. */
static ssize_t raw_recv(int fd, void *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
	return n < 0 ? -errno : n;
}

static void test_server_requests(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0);
	char want[128];
	snprintf(want, sizeof(want), "%s/crosvm-%ld.sock", fx->dir, (long)getpid());
	assert_string_equal(fx->sock, want);
	struct stat st;
	assert_int_equal(lstat(fx->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	struct vmc_reply rep;
	struct vmc_request req = { .type = VMC_REQ_STOP };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.type, VMC_REQ_STOP);
	assert_int_equal(fx->fake.stops, 1);

	req = (struct vmc_request){ .type = VMC_REQ_BALLOON, .u.balloon.bytes = 3ull << 30 };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(fx->fake.balloon_bytes, 3ull << 30);

	req = (struct vmc_request){ .type = VMC_REQ_BALLOON_STATS };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.balloon_stats.stats.generation, 5);
	assert_int_equal(rep.balloon_stats.stats.val[VIRTIO_BALLOON_S_MEMFREE], 123456);
	assert_int_equal(rep.balloon_stats.actual_bytes, 4096);

	req = (struct vmc_request){ .type = VMC_REQ_DISK_RESIZE,
				    .u.disk_resize = { .index = 0, .new_size = 1ull << 33 } };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(fx->fake.resize_index, 0);
	assert_int_equal(fx->fake.resize_size, 1ull << 33);
	req.u.disk_resize.index = 4;
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, -ENODEV);
	assert_string_equal(rep.msg, "disk 4 does not exist");
	assert_int_equal(fx->fake.resize_index, 4);

	/* A handler error without a message gets one from the errno. */
	req = (struct vmc_request){ .type = VMC_REQ_SUSPEND };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, -EBUSY);
	assert_non_null(strstr(rep.msg, "suspend failed"));

	/* Missing handlers: -ENOTSUP with a device-style message. */
	req = (struct vmc_request){ .type = VMC_REQ_RESUME };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, -ENOTSUP);
	req = (struct vmc_request){ .type = VMC_REQ_USB_DETACH, .u.usb_detach.port = 1 };
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, -ENOTSUP);
	assert_string_equal(rep.msg, "usb detach: no USB controller");

	/* Several requests over one connection. */
	int fd = raw_connect(fx->sock);
	uint8_t buf[VMC_MAX_MSG + 1];
	req = (struct vmc_request){ .type = VMC_REQ_STOP };
	int n = vmc_encode_request(&req, buf, sizeof(buf));
	assert_true(n > 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
		ssize_t r = raw_recv(fd, buf + 64, sizeof(buf) - 64, 5000);
		assert_true(r > 0);
		assert_int_equal(vmc_decode_reply(buf + 64, (size_t)r, &rep), 0);
		assert_int_equal(rep.status, 0);
	}
	close(fd);
	assert_int_equal(fx->fake.stops, 4);
	fixture_free(fx);
}

/* Sends one hostile message on a fresh connection; expects an error reply
 * with `want` and then the connection closed. */
static void hostile(struct fixture *fx, const void *msg, size_t len, int want)
{
	int fd = raw_connect(fx->sock);
	assert_int_equal(send(fd, msg, len, MSG_NOSIGNAL), (ssize_t)len);
	uint8_t buf[VMC_MAX_MSG];
	ssize_t r = raw_recv(fd, buf, sizeof(buf), 5000);
	assert_true(r > 0);
	struct vmc_reply rep;
	assert_int_equal(vmc_decode_reply(buf, (size_t)r, &rep), 0);
	assert_int_equal(rep.status, want);
	assert_true(rep.msg[0] != '\0');
	assert_int_equal(raw_recv(fd, buf, sizeof(buf), 5000), 0);
	close(fd);
}

static void test_server_hostile(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0);
	static uint8_t b[VMC_MAX_MSG + 1000];
	memset(b, 0, sizeof(b));
	hdr(b, VMC_MAGIC, VMC_VERSION, VMC_REQ_BALLOON, 8);
	hostile(fx, b, 15, -EBADMSG);                         /* truncated */
	hostile(fx, b, sizeof(b), -EMSGSIZE);                 /* oversized */
	hostile(fx, b, 0, -ENODATA);                          /* zero-length */
	hostile(fx, b, 21, -E2BIG);                           /* trailing garbage */
	hostile(fx, "\xde\xad\xbe\xef garbage!", 13, -EPROTO); /* garbage */
	hdr(b, VMC_MAGIC, VMC_VERSION, 0x7777, 0);
	hostile(fx, b, 12, -EBADRQC); /* unknown type */
	hdr(b, VMC_MAGIC, 3, VMC_REQ_STOP, 0);
	hostile(fx, b, 12, -EPROTONOSUPPORT);
	assert_int_equal(fx->fake.balloons, 0);

	/* Clients that send and go away before the reply. */
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = 4096 };
	int n = vmc_encode_request(&req, b, sizeof(b));
	for (int i = 0; i < 20; i++) {
		int fd = raw_connect(fx->sock);
		assert_int_equal(send(fd, b, (size_t)n, MSG_NOSIGNAL), n);
		close(fd);
	}
	/* The server is still there and answers. */
	struct vmc_reply rep;
	req.u.balloon.bytes = 8192;
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(fx->fake.balloon_bytes, 8192);
	assert_true(fx->fake.balloons >= 1 && fx->fake.balloons <= 21);
	fixture_free(fx);
}

static void test_server_idle_timeout(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(300, 0);
	int idle = raw_connect(fx->sock);
	/* Another client is served while the idle one sits there. */
	struct vmc_request req = { .type = VMC_REQ_STOP };
	struct vmc_reply rep;
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	/* The idle one is dropped after its timeout: end of stream, no reply. */
	uint8_t buf[64];
	assert_int_equal(raw_recv(idle, buf, sizeof(buf), 5000), 0);
	close(idle);
	assert_int_equal(call(fx, &req, &rep), 0);
	fixture_free(fx);
}

static void test_server_many_clients(void **state)
{
	(void)state;
	enum { N = 100 };
	struct fixture *fx = fixture_new(5000, 32);
	int fds[N];
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(fx->sock);
	uint8_t buf[VMC_MAX_MSG];
	struct vmc_request req = { .type = VMC_REQ_STOP };
	int n = vmc_encode_request(&req, buf, sizeof(buf));
	for (int i = 0; i < N; i++) /* a dropped client's send may fail */
		(void)send(fds[i], buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	int replies = 0;
	for (int i = 0; i < N; i++) {
		ssize_t r = raw_recv(fds[i], buf, sizeof(buf), 5000);
		assert_true(r >= 0 || r == -ECONNRESET); /* a reply or dropped, never stuck */
		if (r > 0) {
			struct vmc_reply rep;
			assert_int_equal(vmc_decode_reply(buf, (size_t)r, &rep), 0);
			assert_int_equal(rep.status, 0);
			replies++;
		}
		close(fds[i]);
	}
	assert_true(replies >= 1 && replies <= 32 + N);
	assert_int_equal(fx->fake.stops, replies);
	struct vmc_reply rep;
	assert_int_equal(call(fx, &req, &rep), 0);
	assert_int_equal(rep.status, 0);
	fixture_free(fx);
}

static void test_server_path_rules(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0);
	struct vmc_server *s = NULL;
	/* A live socket is not clobbered. */
	assert_int_equal(vmc_server_open(fx->sock, &fake_handlers, &fx->fake, NULL, &s), -EADDRINUSE);
	/* Nor a regular file. */
	char file[128];
	snprintf(file, sizeof(file), "%s/file", fx->dir);
	int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vmc_server_open(file, &fake_handlers, &fx->fake, NULL, &s), -EEXIST);
	unlink(file);
	/* A stale socket is replaced. */
	char stale[128];
	snprintf(stale, sizeof(stale), "%s/stale.sock", fx->dir);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	set_sun_path(&a, stale);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(vmc_server_open(stale, &fake_handlers, &fx->fake, NULL, &s), 0);
	assert_string_equal(vmc_server_path(s), stale);
	struct vmc_request req = { .type = VMC_REQ_STOP };
	struct vmc_reply rep;
	assert_int_equal(vmc_client_call(stale, &req, &rep, 5000), 0);
	vmc_server_close(s);
	vmc_server_close(NULL);
	/* Too long for sun_path. */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(vmc_server_open(longp, &fake_handlers, &fx->fake, NULL, &s), -ENAMETOOLONG);
	fixture_free(fx);
}

/* ---- client ---- */

static void test_client_errors(void **state)
{
	(void)state;
	char dir[] = "/tmp/vmc-client-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[128];
	struct vmc_request req = { .type = VMC_REQ_STOP };
	struct vmc_reply rep;

	snprintf(p, sizeof(p), "%s/missing.sock", dir);
	assert_int_equal(vmc_client_call(p, &req, &rep, 1000), -ENOENT);

	snprintf(p, sizeof(p), "%s/file", dir);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vmc_client_call(p, &req, &rep, 1000), -ENOTSOCK);
	unlink(p);

	/* A stale socket file: the VM is gone. */
	snprintf(p, sizeof(p), "%s/stale.sock", dir);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	set_sun_path(&a, p);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	assert_int_equal(vmc_client_call(p, &req, &rep, 1000), -ECONNREFUSED);

	/* A listener that never answers: timeout. */
	unlink(p);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(vmc_client_call(p, &req, &rep, 100), -ETIMEDOUT);
	close(fd);
	unlink(p);

	/* An invalid request is refused before any I/O. */
	req.type = 0;
	assert_int_equal(vmc_client_call(p, &req, &rep, 100), -EBADRQC);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- a connected channel (a device process's): vmc_serve_connection on
 * one end of a socketpair, vmc_call_connected on the other ---- */

struct served {
	int fd;
	struct fake fake;
	int rc;
};

static void *serve_main(void *arg)
{
	struct served *sv = arg;
	sv->rc = vmc_serve_connection(sv->fd, &fake_handlers, &sv->fake);
	return NULL;
}

static void test_connected_channel(void **state)
{
	(void)state;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	struct served sv = { .fd = sp[1] };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, serve_main, &sv), 0);
	struct vmc_reply rep;
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = 1 << 20 };
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(sv.fake.balloon_bytes, 1 << 20);
	req = (struct vmc_request){ .type = VMC_REQ_BALLOON_STATS };
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.balloon_stats.stats.val[VIRTIO_BALLOON_S_MEMFREE], 123456);
	assert_int_equal(rep.balloon_stats.actual_bytes, 4096);
	/* A handler's own message and a missing handler's, as on the socket. */
	req = (struct vmc_request){ .type = VMC_REQ_DISK_RESIZE, .u.disk_resize = { 3, 1 << 20 } };
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), 0);
	assert_int_equal(rep.status, -ENODEV);
	assert_string_equal(rep.msg, "disk 3 does not exist");
	req = (struct vmc_request){ .type = VMC_REQ_MAKE_RT };
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), 0);
	assert_int_equal(rep.status, -ENOTSUP);
	/* A stale reply (from a request whose caller gave up) is not taken
	 * for the next one's: two requests' worth queued, one call. */
	uint8_t msg[VMC_MAX_MSG];
	req = (struct vmc_request){ .type = VMC_REQ_STOP };
	int n = vmc_encode_request(&req, msg, sizeof(msg));
	assert_true(n > 0);
	assert_int_equal(send(sp[0], msg, (size_t)n, 0), n);
	struct pollfd p = { .fd = sp[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1); /* the stop's reply is waiting */
	req = (struct vmc_request){ .type = VMC_REQ_BALLOON, .u.balloon.bytes = 7 << 20 };
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), 0);
	assert_int_equal(rep.type, VMC_REQ_BALLOON);
	assert_int_equal(sv.fake.balloon_bytes, 7 << 20);
	assert_int_equal(sv.fake.stops, 1);
	/* Garbage: answered as malformed, then the server gives up. */
	assert_int_equal(send(sp[0], "garbage!", 8, 0), 8);
	uint8_t in[VMC_MAX_MSG + 1];
	ssize_t r = recv(sp[0], in, sizeof(in), 0);
	assert_true(r > 0);
	assert_int_equal(vmc_decode_reply(in, (size_t)r, &rep), 0);
	assert_true(rep.status < 0 && strstr(rep.msg, "malformed"));
	pthread_join(t, NULL);
	assert_int_equal(sv.rc, -EBADMSG);
	/* The other end gone: the caller hears it. */
	close(sp[1]);
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), -ECONNRESET);
	close(sp[0]);
	/* A peer that hangs up ends the server cleanly. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	sv = (struct served){ .fd = sp[1] };
	assert_int_equal(pthread_create(&t, NULL, serve_main, &sv), 0);
	close(sp[0]);
	pthread_join(t, NULL);
	assert_int_equal(sv.rc, 0);
	close(sp[1]);
}

/* The peer on a connected channel is a device process, which may be
 * compromised: a reply to another request, a reply that does not decode,
 * and a flood of unasked-for replies each fail the call, never hang it. */
struct bad_peer {
	int fd;
	const void *answer; /* sent once the request has arrived */
	size_t len;
};

static void *bad_peer_main(void *arg)
{
	struct bad_peer *bp = arg;
	uint8_t in[VMC_MAX_MSG + 1];
	if (recv(bp->fd, in, sizeof(in), 0) > 0)
		(void)!send(bp->fd, bp->answer, bp->len, 0);
	return NULL;
}

static int call_bad_peer(int sp[2], const void *answer, size_t len)
{
	struct bad_peer bp = { .fd = sp[1], .answer = answer, .len = len };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, bad_peer_main, &bp), 0);
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = 1 };
	struct vmc_reply rep;
	int r = vmc_call_connected(sp[0], &req, &rep, 5000);
	pthread_join(t, NULL);
	return r;
}

static void test_connected_channel_hostile_peer(void **state)
{
	(void)state;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	uint8_t msg[VMC_MAX_MSG];
	struct vmc_reply other = { .type = VMC_REQ_STOP };
	int n = vmc_encode_reply(&other, msg, sizeof(msg));
	assert_true(n > 0);
	assert_int_equal(call_bad_peer(sp, msg, (size_t)n), -EPROTO); /* answers another request */
	assert_true(call_bad_peer(sp, "garbage!", 8) < 0);	       /* does not decode */
	/* A flood of replies nobody asked for: out of step, at once. */
	for (int i = 0; i < 17; i++)
		assert_int_equal(send(sp[1], msg, (size_t)n, 0), n);
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = 1 };
	struct vmc_reply rep;
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 5000), -EPROTO);
	/* A peer that never answers: the deadline. */
	uint8_t in[VMC_MAX_MSG + 1];
	while (recv(sp[1], in, sizeof(in), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(vmc_call_connected(sp[0], &req, &rep, 50), -ETIMEDOUT);
	close(sp[0]);
	close(sp[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),  cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_request_malformed),  cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_server_requests),    cmocka_unit_test(test_server_hostile),
		cmocka_unit_test(test_server_idle_timeout), cmocka_unit_test(test_server_many_clients),
		cmocka_unit_test(test_server_path_rules),  cmocka_unit_test(test_client_errors),
		cmocka_unit_test(test_connected_channel),
		cmocka_unit_test(test_connected_channel_hostile_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
