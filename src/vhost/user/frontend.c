/*
 * vhost-user front-end (see frontend.h).
 *
 * Every request goes through transact(): send it (asking for a REPLY_ACK
 * when the back-end offers them and the request has no reply of its own),
 * then read the reply, which must be a reply to that very request in the
 * shape vhu_msg_check expects. The back-end may only ever answer on the
 * main socket; its own requests come on the separate back-end request
 * channel, so replies cannot interleave with anything.
 */
#include "vhost/user/frontend.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "base/fd.h"

#define BIT(n) (1ULL << (n))

static bool has_protocol(const struct vhu_frontend *f, unsigned feature)
{
	return f->protocol_features & BIT(feature);
}


/* A REPLY_ACK status as -errno. */
static int ack_to_errno(uint64_t status)
{
	if (status == 0)
		return 0;
	return status < 4096 ? -(int)status : -EIO;
}

/*
 * Sends m (hdr.request and hdr.size set by the caller) with fds, and reads
 * the reply into *reply if the request has one or an ack was asked for.
 * Returns 0, the back-end's refusal as -errno, -EPROTO for a reply that
 * does not belong to the request, or the socket error.
 */
static int transact(struct vhu_frontend *f, struct vhu_msg *m, const int *fds, size_t nfds, struct vhu_msg *reply)
{
	f->last_refused = false;
	bool own = vhu_request_has_own_reply(m->hdr.request);
	bool ack = !own && has_protocol(f, VHU_PROTOCOL_F_REPLY_ACK);
	m->hdr.flags = VHU_VERSION | (ack ? VHU_FLAG_NEED_REPLY : 0);
	int r = vhu_msg_send(f->sock, m, fds, nfds);
	if (r < 0)
		return r;
	if (!own && !ack)
		return 0;
	int rfds[VHU_MAX_FDS];
	size_t nrfds = 0;
	r = vhu_msg_recv(f->sock, reply, rfds, &nrfds);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return r == -EBADMSG ? -EPROTO : r;
	/* vhu_msg_check allows no fds in a reply: nrfds is 0. */
	if (!(reply->hdr.flags & VHU_FLAG_REPLY) || reply->hdr.request != m->hdr.request)
		return -EPROTO;
	if (!ack || reply->p.u64 == 0)
		return 0;
	f->last_refused = true;
	return ack_to_errno(reply->p.u64);
}

static int send_u64(struct vhu_frontend *f, uint32_t request, uint64_t v, const int *fds, size_t nfds)
{
	struct vhu_msg m = { .hdr = { .request = request, .size = sizeof(uint64_t) } }, reply;
	m.p.u64 = v;
	return transact(f, &m, fds, nfds, &reply);
}

static int send_empty(struct vhu_frontend *f, uint32_t request)
{
	struct vhu_msg m = { .hdr = { .request = request, .size = 0 } }, reply;
	return transact(f, &m, NULL, 0, &reply);
}

static int get_u64(struct vhu_frontend *f, uint32_t request, uint64_t *out)
{
	struct vhu_msg m = { .hdr = { .request = request, .size = 0 } }, reply;
	int r = transact(f, &m, NULL, 0, &reply);
	if (r < 0)
		return r;
	*out = reply.p.u64;
	return 0;
}

static int send_state(struct vhu_frontend *f, uint32_t request, unsigned idx, uint32_t num)
{
	struct vhu_msg m = { .hdr = { .request = request, .size = sizeof(struct vhu_vring_state) } }, reply;
	m.p.state = (struct vhu_vring_state){ idx, num };
	return transact(f, &m, NULL, 0, &reply);
}

/* Sets up the back-end request channel: a socketpair whose other end the
 * back-end gets. */
static int setup_backend_req(struct vhu_frontend *f)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct vhu_msg m = { .hdr = { .request = VHU_SET_BACKEND_REQ_FD, .size = 0 } }, reply;
	int r = transact(f, &m, &sv[1], 1, &reply);
	fd_close(&sv[1]);
	if (r < 0) {
		fd_close(&sv[0]);
		return r;
	}
	f->backend_req_fd = sv[0];
	return 0;
}

int vhu_frontend_connect(struct vhu_frontend *f, int sock)
{
	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->backend_req_fd = -1;
	int r;
	if ((r = send_empty(f, VHU_SET_OWNER)) < 0 || (r = get_u64(f, VHU_GET_FEATURES, &f->features)) < 0)
		return r;
	if (f->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		uint64_t offered;
		if ((r = get_u64(f, VHU_GET_PROTOCOL_FEATURES, &offered)) < 0)
			return r;
		uint64_t want = offered & VHU_FRONTEND_PROTOCOL_FEATURES;
		/* Sent before REPLY_ACK is in force, without asking for an
		 * ack, as QEMU does: back-ends differ on whether this very
		 * request would be acked. */
		if ((r = send_u64(f, VHU_SET_PROTOCOL_FEATURES, want, NULL, 0)) < 0)
			return r;
		f->protocol_features = want;
	}
	if (has_protocol(f, VHU_PROTOCOL_F_MQ)) {
		uint64_t n;
		if ((r = get_u64(f, VHU_GET_QUEUE_NUM, &n)) < 0)
			return r;
		if (n == 0 || n > 256)
			return -EPROTO;
		f->nr_queues = (unsigned)n;
	}
	if (has_protocol(f, VHU_PROTOCOL_F_BACKEND_REQ) && (r = setup_backend_req(f)) < 0)
		return r;
	return 0;
}

void vhu_frontend_close(struct vhu_frontend *f)
{
	if (!f)
		return;
	fd_close(&f->backend_req_fd);
	fd_close(&f->sock);
	f->gm = NULL;
}

int vhu_frontend_set_features(struct vhu_frontend *f, uint64_t features)
{
	if (features & ~f->features)
		return -EINVAL;
	features |= f->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	return send_u64(f, VHU_SET_FEATURES, features, NULL, 0);
}

int vhu_frontend_set_mem_table(struct vhu_frontend *f, const struct guest_memory *gm)
{
	if (gm->memfd < 0 || gm->nr_regions == 0 || gm->nr_regions > VHU_MAX_MEM_REGIONS)
		return -EINVAL;
	struct vhu_msg m = { .hdr = { .request = VHU_SET_MEM_TABLE } }, reply;
	int fds[VHU_MAX_MEM_REGIONS];
	m.p.mem.nregions = (uint32_t)gm->nr_regions;
	m.p.mem.padding = 0;
	for (size_t i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		m.p.mem.regions[i] = (struct vhu_mem_region){
			.guest_phys_addr = gpa_val(r->base),
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
			.mmap_offset = r->fd_offset,
		};
		fds[i] = gm->memfd;
	}
	m.hdr.size = (uint32_t)(VHU_MEM_TABLE_HDR_SIZE + gm->nr_regions * sizeof(struct vhu_mem_region));
	int r = transact(f, &m, fds, gm->nr_regions, &reply);
	if (r == 0)
		f->gm = gm;
	return r;
}

int vhu_frontend_set_vring_num(struct vhu_frontend *f, unsigned idx, uint16_t num)
{
	return send_state(f, VHU_SET_VRING_NUM, idx, num);
}

int vhu_frontend_set_vring_base(struct vhu_frontend *f, unsigned idx, uint16_t base)
{
	return send_state(f, VHU_SET_VRING_BASE, idx, base);
}

/* Our virtual address of [gpa, gpa + len): what the memory table says
 * the region is mapped at (its userspace_addr). */
static int host_addr(const struct vhu_frontend *f, gpa_t gpa, uint64_t len, uint64_t *out)
{
	void *p = f->gm ? gm_get_slice(f->gm, gpa, len) : NULL;
	if (!p)
		return -EFAULT;
	*out = (uint64_t)(uintptr_t)p;
	return 0;
}

int vhu_frontend_set_vring_addr(struct vhu_frontend *f, unsigned idx, uint16_t num, gpa_t desc, gpa_t avail,
				gpa_t used)
{
	struct vhu_msg m = { .hdr = { .request = VHU_SET_VRING_ADDR, .size = sizeof(struct vhu_vring_addr) } }, reply;
	struct vhu_vring_addr *a = &m.p.addr;
	memset(a, 0, sizeof(*a));
	a->index = idx;
	uint64_t n = num;
	if (host_addr(f, desc, 16 * n, &a->desc) < 0 || host_addr(f, avail, 6 + 2 * n, &a->avail) < 0 ||
	    host_addr(f, used, 6 + 8 * n, &a->used) < 0)
		return -EFAULT;
	return transact(f, &m, NULL, 0, &reply);
}

static int set_vring_fd(struct vhu_frontend *f, uint32_t request, unsigned idx, int fd)
{
	if (idx > VHU_VRING_IDX_MASK)
		return -EINVAL;
	uint64_t v = idx | (fd < 0 ? VHU_VRING_NOFD : 0);
	return send_u64(f, request, v, &fd, fd < 0 ? 0 : 1);
}

int vhu_frontend_set_vring_kick(struct vhu_frontend *f, unsigned idx, int fd)
{
	return set_vring_fd(f, VHU_SET_VRING_KICK, idx, fd);
}

int vhu_frontend_set_vring_call(struct vhu_frontend *f, unsigned idx, int fd)
{
	return set_vring_fd(f, VHU_SET_VRING_CALL, idx, fd);
}

int vhu_frontend_set_vring_err(struct vhu_frontend *f, unsigned idx, int fd)
{
	return set_vring_fd(f, VHU_SET_VRING_ERR, idx, fd);
}

int vhu_frontend_set_vring_enable(struct vhu_frontend *f, unsigned idx, bool enable)
{
	if (!(f->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		return -EOPNOTSUPP;
	return send_state(f, VHU_SET_VRING_ENABLE, idx, enable ? 1 : 0);
}

int vhu_frontend_get_vring_base(struct vhu_frontend *f, unsigned idx, uint16_t *base)
{
	struct vhu_msg m = { .hdr = { .request = VHU_GET_VRING_BASE, .size = sizeof(struct vhu_vring_state) } }, reply;
	m.p.state = (struct vhu_vring_state){ idx, 0 };
	int r = transact(f, &m, NULL, 0, &reply);
	if (r < 0)
		return r;
	if (reply.p.state.index != idx || reply.p.state.num > UINT16_MAX)
		return -EPROTO;
	*base = (uint16_t)reply.p.state.num;
	return 0;
}

static bool config_range_ok(uint32_t off, uint32_t len)
{
	return len > 0 && len <= VHU_MAX_CONFIG_SIZE && off <= VHU_MAX_CONFIG_SIZE - len;
}

int vhu_frontend_get_config(struct vhu_frontend *f, uint32_t off, void *data, uint32_t len)
{
	if (!has_protocol(f, VHU_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	if (!config_range_ok(off, len))
		return -EINVAL;
	struct vhu_msg m = { .hdr = { .request = VHU_GET_CONFIG, .size = VHU_CONFIG_HDR_SIZE + len } }, reply;
	m.p.config.offset = off;
	m.p.config.size = len;
	m.p.config.flags = 0;
	memset(m.p.config.data, 0, len);
	int r = transact(f, &m, NULL, 0, &reply);
	if (r < 0)
		return r;
	/* vhu_msg_check made the reply's size consistent; it must also be
	 * the range we asked for. */
	if (reply.p.config.offset != off || reply.p.config.size != len)
		return -EPROTO;
	memcpy(data, reply.p.config.data, len);
	return 0;
}

int vhu_frontend_set_config(struct vhu_frontend *f, uint32_t off, const void *data, uint32_t len)
{
	if (!has_protocol(f, VHU_PROTOCOL_F_CONFIG))
		return -EOPNOTSUPP;
	if (!config_range_ok(off, len))
		return -EINVAL;
	struct vhu_msg m = { .hdr = { .request = VHU_SET_CONFIG, .size = VHU_CONFIG_HDR_SIZE + len } }, reply;
	m.p.config.offset = off;
	m.p.config.size = len;
	m.p.config.flags = 0;
	memcpy(m.p.config.data, data, len);
	return transact(f, &m, NULL, 0, &reply);
}

int vhu_frontend_reset_device(struct vhu_frontend *f)
{
	return send_empty(f, has_protocol(f, VHU_PROTOCOL_F_RESET_DEVICE) ? VHU_RESET_DEVICE : VHU_RESET_OWNER);
}

int vhu_frontend_backend_req(struct vhu_frontend *f, uint32_t *request)
{
	if (f->backend_req_fd < 0)
		return -ENOTCONN;
	struct vhu_msg m;
	int fds[VHU_MAX_FDS];
	size_t nfds = 0;
	int r = vhu_breq_recv(f->backend_req_fd, &m, fds, &nfds);
	if (r <= 0)
		return r;
	*request = m.hdr.request;
	if ((m.hdr.flags & VHU_FLAG_NEED_REPLY) && has_protocol(f, VHU_PROTOCOL_F_REPLY_ACK)) {
		struct vhu_msg ack = { .hdr = { m.hdr.request, VHU_VERSION | VHU_FLAG_REPLY, sizeof(uint64_t) } };
		ack.p.u64 = 0;
		if ((r = vhu_msg_send(f->backend_req_fd, &ack, NULL, 0)) < 0)
			return r;
	}
	return 1;
}
