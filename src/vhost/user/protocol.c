/*
 * vhost-user message validation and socket I/O (see protocol.h).
 *
 * vhu_msg_check is the one place that knows what each request may carry;
 * it is pure so the fuzzer can drive it directly. vhu_msg_recv frames a
 * message off the stream (header, then exactly `size` payload bytes), picks
 * up SCM_RIGHTS fds wherever in the message they arrive, and hands the
 * result to vhu_msg_check. A message it refuses is still consumed whole,
 * so the connection stays in step and the caller can answer with an error.
 */
#include "vhost/user/protocol.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/fd.h"

void vhu_close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fd_close(&fds[i]);
}

const char *vhu_request_name(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES: return "GET_FEATURES";
	case VHU_SET_FEATURES: return "SET_FEATURES";
	case VHU_SET_OWNER: return "SET_OWNER";
	case VHU_RESET_OWNER: return "RESET_OWNER";
	case VHU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHU_SET_LOG_BASE: return "SET_LOG_BASE";
	case VHU_SET_LOG_FD: return "SET_LOG_FD";
	case VHU_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHU_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHU_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHU_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHU_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHU_SET_VRING_ERR: return "SET_VRING_ERR";
	case VHU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHU_SET_BACKEND_REQ_FD: return "SET_BACKEND_REQ_FD";
	case VHU_GET_CONFIG: return "GET_CONFIG";
	case VHU_SET_CONFIG: return "SET_CONFIG";
	case VHU_RESET_DEVICE: return "RESET_DEVICE";
	case VHU_GET_MAX_MEM_SLOTS: return "GET_MAX_MEM_SLOTS";
	default: return "unknown";
	}
}

/* Exact payload size and fd count. */
static int want(size_t len, size_t nfds, size_t want_len, size_t want_fds)
{
	if (len != want_len)
		return -EBADMSG;
	if (nfds > want_fds)
		return -E2BIG;
	return nfds == want_fds ? 0 : -EBADMSG;
}

/* GET_CONFIG/SET_CONFIG payload (request and reply alike): a 12-byte
 * header whose size field accounts for the rest, all inside the 256-byte
 * configuration space. */
static int check_config(const void *payload, size_t len)
{
	if (len < VHU_CONFIG_HDR_SIZE)
		return -EBADMSG;
	uint32_t off, size;
	memcpy(&off, (const uint8_t *)payload + offsetof(struct vhu_config, offset), sizeof(off));
	memcpy(&size, (const uint8_t *)payload + offsetof(struct vhu_config, size), sizeof(size));
	if (size == 0 || size > VHU_MAX_CONFIG_SIZE || off > VHU_MAX_CONFIG_SIZE - size)
		return -EBADMSG;
	return len == VHU_CONFIG_HDR_SIZE + (size_t)size ? 0 : -EBADMSG;
}

static int check_request(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds)
{
	switch (hdr->request) {
	case VHU_GET_FEATURES:
	case VHU_SET_OWNER:
	case VHU_RESET_OWNER:
	case VHU_GET_PROTOCOL_FEATURES:
	case VHU_GET_QUEUE_NUM:
	case VHU_RESET_DEVICE:
	case VHU_GET_MAX_MEM_SLOTS:
		return want(len, nfds, 0, 0);
	case VHU_SET_FEATURES:
	case VHU_SET_PROTOCOL_FEATURES:
		return want(len, nfds, sizeof(uint64_t), 0);
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_BASE:
	case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_ENABLE:
		return want(len, nfds, sizeof(struct vhu_vring_state), 0);
	case VHU_SET_VRING_ADDR:
		return want(len, nfds, sizeof(struct vhu_vring_addr), 0);
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR: {
		if (len != sizeof(uint64_t))
			return -EBADMSG;
		uint64_t v;
		memcpy(&v, payload, sizeof(v));
		if (v & ~(uint64_t)(VHU_VRING_IDX_MASK | VHU_VRING_NOFD))
			return -EBADMSG;
		return want(len, nfds, sizeof(uint64_t), (v & VHU_VRING_NOFD) ? 0 : 1);
	}
	case VHU_SET_MEM_TABLE: {
		if (len < VHU_MEM_TABLE_HDR_SIZE)
			return -EBADMSG;
		uint32_t n;
		memcpy(&n, payload, sizeof(n));
		if (n == 0 || n > VHU_MAX_MEM_REGIONS)
			return -EBADMSG;
		return want(len, nfds, VHU_MEM_TABLE_HDR_SIZE + n * sizeof(struct vhu_mem_region), n);
	}
	case VHU_SET_BACKEND_REQ_FD:
		return want(len, nfds, 0, 1);
	case VHU_GET_CONFIG:
	case VHU_SET_CONFIG:
		if (nfds)
			return -E2BIG;
		return check_config(payload, len);
	default:
		/* Includes the logging, postcopy, inflight and memory-slot
		 * requests: we never offer the features they belong to. */
		return -ENOSYS;
	}
}

static int check_reply(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds)
{
	if (hdr->flags & VHU_FLAG_NEED_REPLY)
		return -EPROTO;
	switch (hdr->request) {
	case VHU_GET_VRING_BASE:
		return want(len, nfds, sizeof(struct vhu_vring_state), 0);
	case VHU_GET_CONFIG:
		if (nfds)
			return -E2BIG;
		return check_config(payload, len);
	default:
		/* A GET_* value or a REPLY_ACK status: one u64 either way. A
		 * back-end acks even requests it does not know (refusing
		 * them), so any request number may come back here; the
		 * front-end matches it against what it sent. */
		return want(len, nfds, sizeof(uint64_t), 0);
	}
}

int vhu_msg_check(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds)
{
	if (len != hdr->size || len > VHU_MAX_PAYLOAD || (len && !payload))
		return -EBADMSG;
	if ((hdr->flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION ||
	    (hdr->flags & ~(VHU_FLAG_VERSION_MASK | VHU_FLAG_REPLY | VHU_FLAG_NEED_REPLY)))
		return -EPROTO;
	if (nfds > VHU_MAX_FDS)
		return -E2BIG;
	if (hdr->flags & VHU_FLAG_REPLY)
		return check_reply(hdr, payload, len, nfds);
	return check_request(hdr, payload, len, nfds);
}

/* One recvmsg of at most len bytes. Received fds go to fds while there is
 * room; the rest are closed and *overflow is set (as it is when the kernel
 * had to truncate the control data). Returns the byte count or -errno. */
static ssize_t recv_part(int sock, void *buf, size_t len, int *fds, size_t *nfds, bool *overflow)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *data = CMSG_DATA(c);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, data + i * sizeof(int), sizeof(fd));
			if (*nfds < VHU_MAX_FDS) {
				fds[(*nfds)++] = fd;
			} else {
				fd_close(&fd);
				*overflow = true;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		*overflow = true;
	return n;
}

/* Reads exactly len bytes (len > 0). Returns 0, 1 for EOF before the
 * first byte, -ECONNRESET for EOF after it, or -errno. */
static int recv_full(int sock, void *buf, size_t len, int *fds, size_t *nfds, bool *overflow)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv_part(sock, (uint8_t *)buf + got, len - got, fds, nfds, overflow);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return got == 0 ? 1 : -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

typedef int (*check_fn)(const struct vhu_msg_hdr *, const void *, size_t, size_t);

static int recv_checked(int sock, struct vhu_msg *m, int *fds, size_t *nfds, check_fn check)
{
	bool overflow = false;
	*nfds = 0;
	memset(&m->hdr, 0, sizeof(m->hdr));
	int r = recv_full(sock, &m->hdr, sizeof(m->hdr), fds, nfds, &overflow);
	if (r == 1) {
		vhu_close_fds(fds, *nfds);
		*nfds = 0;
		return 0;
	}
	if (r < 0)
		goto fail;
	if (m->hdr.size > VHU_MAX_PAYLOAD) {
		r = -EMSGSIZE;
		goto fail;
	}
	if (m->hdr.size > 0) {
		r = recv_full(sock, m->p.raw, m->hdr.size, fds, nfds, &overflow);
		if (r != 0) {
			r = r == 1 ? -ECONNRESET : r;
			goto fail;
		}
	}
	if (overflow || check(&m->hdr, m->p.raw, m->hdr.size, *nfds) < 0) {
		r = -EBADMSG;
		goto fail;
	}
	return 1;
fail:
	vhu_close_fds(fds, *nfds);
	*nfds = 0;
	return r;
}

int vhu_msg_recv(int sock, struct vhu_msg *m, int *fds, size_t *nfds)
{
	return recv_checked(sock, m, fds, nfds, vhu_msg_check);
}

int vhu_breq_check(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds)
{
	(void)payload;
	if (len != hdr->size || len > VHU_MAX_PAYLOAD)
		return -EBADMSG;
	if ((hdr->flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION ||
	    (hdr->flags & ~(VHU_FLAG_VERSION_MASK | VHU_FLAG_NEED_REPLY)))
		return -EPROTO;
	if (hdr->request != VHU_BACKEND_CONFIG_CHANGE_MSG)
		return -ENOSYS;
	return want(len, nfds, 0, 0);
}

int vhu_breq_recv(int sock, struct vhu_msg *m, int *fds, size_t *nfds)
{
	return recv_checked(sock, m, fds, nfds, vhu_breq_check);
}

int vhu_msg_send(int sock, const struct vhu_msg *m, const int *fds, size_t nfds)
{
	if (m->hdr.size > VHU_MAX_PAYLOAD || nfds > VHU_MAX_FDS)
		return -EINVAL;
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov[2] = {
		{ .iov_base = (void *)&m->hdr, .iov_len = sizeof(m->hdr) },
		{ .iov_base = (void *)m->p.raw, .iov_len = m->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = m->hdr.size ? 2 : 1 };
	if (nfds > 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	size_t total = sizeof(m->hdr) + m->hdr.size, sent = 0;
	/* The fds ride on the first sendmsg; a short send (rare on a Unix
	 * socket) is finished without them. */
	while (sent < total) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent += (size_t)n;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		/* Advance the iovecs past what went out. */
		size_t adv = (size_t)n;
		while (adv > 0 && mh.msg_iovlen > 0) {
			if (adv >= mh.msg_iov[0].iov_len) {
				adv -= mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + adv;
				mh.msg_iov[0].iov_len -= adv;
				adv = 0;
			}
		}
	}
	return 0;
}

bool vhu_request_has_own_reply(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES:
	case VHU_GET_PROTOCOL_FEATURES:
	case VHU_GET_VRING_BASE:
	case VHU_GET_QUEUE_NUM:
	case VHU_GET_CONFIG:
	case VHU_GET_MAX_MEM_SLOTS:
		return true;
	default:
		return false;
	}
}
