/*
 * vhost-user back-end (see backend.h for the model).
 *
 * Every request goes through handle_one(): vhu_msg_recv has already
 * checked its shape, dispatch() checks what depends on our state (order,
 * ring index, values) and applies it, and the reply or REPLY_ACK status
 * goes back. A change that touches what the running device borrowed
 * (memory, features, a ring's size, addresses, base, fds or enable state)
 * stops the device first (stop_device records where each ring got to),
 * applies the change, then reconcile() starts it again if the rings say
 * so. Activation translates the front-end's ring addresses into guest
 * physical addresses through the memory table and lets vq_init check the
 * rings against guest memory.
 */
#include "vhost/user/backend.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/checked.h"
#include "base/eventfd.h"
#include "base/fd.h"

#define PROTOCOL_FEATURES_BIT VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)

_Static_assert(VHU_MAX_MEM_REGIONS <= GM_MAX_REGIONS, "a memory table must fit a struct guest_memory");

/* ---- ring state ---- */

static bool ring_enabled(const struct vhu_backend *b, const struct vhu_ring *r)
{
	/* Without protocol features a ring is enabled from the start; with
	 * them it waits for SET_VRING_ENABLE (vhost-user.rst, "Ring states"). */
	return !(b->acked_features & PROTOCOL_FEATURES_BIT) || r->enabled;
}

static bool ring_configured(const struct vhu_ring *r)
{
	return r->num != 0 && r->have_addr;
}

static bool ring_ready(const struct vhu_backend *b, const struct vhu_ring *r)
{
	return r->started && ring_enabled(b, r) && ring_configured(r);
}

/* Half-way to ready: the device waits for it. A started ring the
 * front-end explicitly disabled (e.g. a virtio-net queue pair the driver
 * does not use) is left out instead. */
static bool ring_pending(const struct vhu_backend *b, const struct vhu_ring *r)
{
	if (ring_ready(b, r) || (!ring_configured(r) && !r->started))
		return false;
	return !(r->started && r->enable_set && !ring_enabled(b, r));
}

static void ring_forget(struct vhu_ring *r)
{
	fd_close(&r->kick_fd);
	fd_close(&r->call_fd);
	fd_close(&r->err_fd);
	int spare_kick = r->spare_kick, spare_call = r->spare_call;
	memset(r, 0, sizeof(*r));
	r->kick_fd = r->call_fd = r->err_fd = -1;
	r->spare_kick = spare_kick;
	r->spare_call = spare_call;
}

/* ---- address translation ---- */

/* [va, va + len) of the front-end's address space as a guest physical
 * address: the range must lie in one region of the memory table. */
static int va_to_gpa(const struct vhu_backend *b, uint64_t va, uint64_t len, gpa_t *out)
{
	for (size_t i = 0; i < b->nr_mem; i++) {
		const struct vhu_mem_region *m = &b->mem[i];
		if (ck_range_within(va, len, m->userspace_addr, m->memory_size)) {
			*out = GPA(m->guest_phys_addr + (va - m->userspace_addr));
			return 0;
		}
	}
	return -EFAULT;
}

/* The ring's addresses as guest physical ones, each part wholly inside
 * one region and aligned as virtio requires. */
static int ring_translate(const struct vhu_backend *b, const struct vhu_ring *r, struct virtq_config *cfg)
{
	uint64_t n = r->num;
	if (va_to_gpa(b, r->addr.desc, 16 * n, &cfg->desc) < 0 || va_to_gpa(b, r->addr.avail, 6 + 2 * n, &cfg->avail) < 0 ||
	    va_to_gpa(b, r->addr.used, 6 + 8 * n, &cfg->used) < 0)
		return -EFAULT;
	if ((gpa_val(cfg->desc) & 15) || (gpa_val(cfg->avail) & 1) || (gpa_val(cfg->used) & 3))
		return -EINVAL;
	if (!gm_range_valid(&b->gm, cfg->desc, 16 * n) || !gm_range_valid(&b->gm, cfg->avail, 6 + 2 * n) ||
	    !gm_range_valid(&b->gm, cfg->used, 6 + 8 * n))
		return -EFAULT;
	cfg->size = r->num;
	return 0;
}

/* ---- device life cycle ---- */

static int ensure_spare(int *fd)
{
	if (*fd >= 0)
		return 0;
	int r = evfd_create();
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

static bool want_active(const struct vhu_backend *b)
{
	if (!b->have_mem || !b->features_set)
		return false;
	bool any = false;
	for (unsigned q = 0; q < b->nr_queues; q++) {
		if (ring_pending(b, &b->rings[q]))
			return false;
		any |= ring_ready(b, &b->rings[q]);
	}
	return any;
}

static int start_device(struct vhu_backend *b)
{
	struct virtio_activation *act = &b->act;
	memset(act, 0, sizeof(*act));
	act->gm = &b->gm;
	act->features = b->acked_features & ~PROTOCOL_FEATURES_BIT;
	act->nr_queues = b->nr_queues;
	act->config_fd = b->config_fd;
	act->error_fd = b->error_fd;
	for (unsigned q = 0; q < b->nr_queues; q++) {
		struct vhu_ring *r = &b->rings[q];
		struct virtio_queue_setup *qs = &act->queues[q];
		bool ready = ring_ready(b, r);
		/* A ring not handed over still gets valid fds nobody else
		 * signals, so a device may watch every queue's kick fd. */
		if (!ready || r->call_fd < 0) {
			int err = ensure_spare(&r->spare_call);
			if (err < 0)
				return err;
		}
		if (!ready) {
			int err = ensure_spare(&r->spare_kick);
			if (err < 0)
				return err;
		}
		qs->kick_fd = ready ? r->kick_fd : r->spare_kick;
		qs->call_fd = ready && r->call_fd >= 0 ? r->call_fd : r->spare_call;
		if (!ready)
			continue;
		int err = ring_translate(b, r, &qs->cfg);
		if (err < 0)
			return err;
		/* Where the used ring stands: the front-end may resume a ring
		 * whose used index is behind its base (requests in flight). */
		uint16_t used_idx;
		if (gm_load_acquire_u16(&b->gm, gpa_add(qs->cfg.used, 2), &used_idx) < 0)
			return -EFAULT;
		qs->cfg.next_avail = r->base;
		qs->cfg.next_used = used_idx;
		qs->cfg.event_idx = act->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
		qs->cfg.indirect = act->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	}
	int err = b->vdev->ops->activate(b->vdev->dev, act);
	if (err < 0)
		return err;
	for (unsigned q = 0; q < b->nr_queues; q++) {
		struct vhu_ring *r = &b->rings[q];
		r->active = act->queues[q].cfg.size != 0;
		r->used_gpa = act->queues[q].cfg.used;
	}
	b->active = true;
	return 0;
}

/* Resets the device and records where each of its rings got to. The
 * device has completed (or dropped) every chain it popped once reset
 * returns, so the used index is where a restart must resume: dropped
 * requests are offered again. */
static void stop_device(struct vhu_backend *b)
{
	if (!b->active)
		return;
	b->vdev->ops->reset(b->vdev->dev);
	for (unsigned q = 0; q < b->nr_queues; q++) {
		struct vhu_ring *r = &b->rings[q];
		uint16_t used_idx;
		if (r->active && gm_load_acquire_u16(&b->gm, gpa_add(r->used_gpa, 2), &used_idx) == 0)
			r->base = used_idx;
		r->active = false;
	}
	b->active = false;
	b->device_broken = false;
	/* Signals of the stopped activation are stale now. */
	(void)evfd_drain(b->error_fd);
}

/* Starts the device if it should run and does not. Returns 0 or the
 * activation error (the device then stays stopped). */
static int reconcile(struct vhu_backend *b)
{
	if (b->active || !want_active(b))
		return 0;
	int r = start_device(b);
	if (r < 0) {
		b->last_error = r;
		b->last_error_request = 0;
	}
	return r;
}

/* ---- request handlers ---- */

struct ctx {
	struct vhu_backend *b;
	const struct vhu_msg *m;
	int *fds;
	size_t nfds;
	struct vhu_msg *reply;
	bool has_reply;
	int act_err; /* activation result after the change */
};

static void reply_u64(struct ctx *c, uint64_t v)
{
	c->reply->hdr.size = sizeof(uint64_t);
	c->reply->p.u64 = v;
	c->has_reply = true;
}

/* Takes fds[0] (the request's only fd), or -1. */
static int take_fd(struct ctx *c)
{
	if (c->nfds == 0)
		return -1;
	int fd = c->fds[0];
	c->fds[0] = -1;
	return fd;
}

static struct vhu_ring *ring_of(struct ctx *c, uint32_t index)
{
	return index < c->b->nr_queues ? &c->b->rings[index] : NULL;
}

/* A change the running device depends on goes: begin_change(), change,
 * end_change(): stop the device, change, start it again if it should run. */
static void begin_change(struct ctx *c)
{
	stop_device(c->b);
}

static void end_change(struct ctx *c)
{
	c->act_err = reconcile(c->b);
}

static int set_features(struct ctx *c)
{
	uint64_t v = c->m->p.u64;
	if (v & ~c->b->offered_features)
		return -EINVAL;
	begin_change(c);
	c->b->acked_features = v;
	c->b->features_set = true;
	end_change(c);
	return 0;
}

static int set_protocol_features(struct ctx *c)
{
	uint64_t v = c->m->p.u64;
	if (v & ~(uint64_t)VHU_BACKEND_PROTOCOL_FEATURES)
		return -EINVAL;
	c->b->protocol_features = v;
	return 0;
}

static void reset_rings(struct vhu_backend *b)
{
	stop_device(b);
	for (unsigned q = 0; q < b->nr_queues; q++)
		ring_forget(&b->rings[q]);
	b->acked_features = 0;
	b->features_set = false;
}

static int set_mem_table(struct ctx *c)
{
	struct vhu_backend *b = c->b;
	const struct vhu_mem_table *t = &c->m->p.mem;
	struct gm_fd_region fr[VHU_MAX_MEM_REGIONS];
	/* vhu_msg_check: 1..VHU_MAX_MEM_REGIONS regions, one fd each. */
	for (uint32_t i = 0; i < t->nregions; i++) {
		const struct vhu_mem_region *m = &t->regions[i];
		uint64_t end;
		if (!ck_add_u64(m->userspace_addr, m->memory_size, &end))
			return -EINVAL;
		fr[i] = (struct gm_fd_region){ GPA(m->guest_phys_addr), m->memory_size, c->fds[i], m->mmap_offset };
	}
	struct guest_memory gm;
	int r = gm_create_from_fds(&gm, fr, t->nregions);
	if (r < 0)
		return r;
	begin_change(c);
	gm_destroy(&b->gm);
	b->gm = gm;
	b->nr_mem = t->nregions;
	memcpy(b->mem, t->regions, sizeof(t->regions[0]) * t->nregions);
	b->have_mem = true;
	end_change(c);
	return 0;
}

static int set_vring_num(struct ctx *c)
{
	const struct vhu_vring_state *s = &c->m->p.state;
	struct vhu_ring *r = ring_of(c, s->index);
	if (!r)
		return -EINVAL;
	uint32_t max = c->b->vdev->ops->queue_max_size(c->b->vdev->dev, s->index);
	if (max > VIRTQ_MAX_SIZE)
		max = VIRTQ_MAX_SIZE;
	if (s->num == 0 || s->num > max || (s->num & (s->num - 1)))
		return -EINVAL;
	begin_change(c);
	r->num = (uint16_t)s->num;
	end_change(c);
	return 0;
}

static int set_vring_addr(struct ctx *c)
{
	const struct vhu_vring_addr *a = &c->m->p.addr;
	struct vhu_ring *r = ring_of(c, a->index);
	if (!r)
		return -EINVAL;
	if (a->flags & VHU_VRING_F_LOG)
		return -EOPNOTSUPP; /* no dirty logging: VHOST_F_LOG_ALL is never offered */
	if (a->flags)
		return -EINVAL;
	/* Checked now when possible so the front-end hears about it here;
	 * checked again at activation against the memory table then. */
	if (c->b->have_mem && r->num) {
		struct vhu_ring probe = *r;
		struct virtq_config cfg;
		probe.addr = *a;
		int err = ring_translate(c->b, &probe, &cfg);
		if (err < 0)
			return err;
	}
	begin_change(c);
	r->addr = *a;
	r->have_addr = true;
	end_change(c);
	return 0;
}

static int set_vring_base(struct ctx *c)
{
	const struct vhu_vring_state *s = &c->m->p.state;
	struct vhu_ring *r = ring_of(c, s->index);
	if (!r || s->num > UINT16_MAX) /* split rings only: no packed-ring wrap bits */
		return -EINVAL;
	begin_change(c);
	r->base = (uint16_t)s->num;
	end_change(c);
	return 0;
}

static int get_vring_base(struct ctx *c)
{
	const struct vhu_vring_state *s = &c->m->p.state;
	struct vhu_ring *r = ring_of(c, s->index);
	if (!r)
		return -EINVAL;
	/* The ring stops, and with it the device (see backend.h). */
	begin_change(c);
	r->started = false;
	fd_close(&r->kick_fd);
	end_change(c);
	c->reply->hdr.size = sizeof(struct vhu_vring_state);
	c->reply->p.state = (struct vhu_vring_state){ s->index, r->base };
	c->has_reply = true;
	return 0;
}

static int set_vring_fd(struct ctx *c)
{
	uint64_t v = c->m->p.u64;
	struct vhu_ring *r = ring_of(c, (uint32_t)(v & VHU_VRING_IDX_MASK));
	if (!r)
		return -EINVAL;
	switch (c->m->hdr.request) {
	case VHU_SET_VRING_KICK:
		/* Without a kick fd the back-end would have to poll the ring. */
		if (v & VHU_VRING_NOFD)
			return -EOPNOTSUPP;
		begin_change(c);
		fd_close(&r->kick_fd);
		r->kick_fd = take_fd(c);
		r->started = true;
		end_change(c);
		return 0;
	case VHU_SET_VRING_CALL:
		begin_change(c);
		fd_close(&r->call_fd);
		r->call_fd = take_fd(c);
		end_change(c);
		return 0;
	default: /* VHU_SET_VRING_ERR: only we use it, the device needs no restart */
		fd_close(&r->err_fd);
		r->err_fd = take_fd(c);
		return 0;
	}
}

static int set_vring_enable(struct ctx *c)
{
	const struct vhu_vring_state *s = &c->m->p.state;
	struct vhu_ring *r = ring_of(c, s->index);
	if (!r || s->num > 1 || !(c->b->acked_features & PROTOCOL_FEATURES_BIT))
		return -EINVAL;
	begin_change(c);
	r->enabled = s->num;
	r->enable_set = true;
	end_change(c);
	return 0;
}

static int get_config(struct ctx *c)
{
	const struct vhu_config *in = &c->m->p.config;
	struct vhu_config *out = &c->reply->p.config;
	/* vhu_msg_check: 0 < size <= 256 - offset. */
	out->offset = in->offset;
	out->size = in->size;
	out->flags = 0;
	c->b->vdev->ops->config_read(c->b->vdev->dev, in->offset, out->data, in->size);
	c->reply->hdr.size = VHU_CONFIG_HDR_SIZE + in->size;
	c->has_reply = true;
	return 0;
}

static int set_config(struct ctx *c)
{
	const struct vhu_config *in = &c->m->p.config;
	c->b->vdev->ops->config_write(c->b->vdev->dev, in->offset, in->data, in->size);
	return 0;
}

static int set_backend_req_fd(struct ctx *c)
{
	if (!(c->b->protocol_features & VIRTIO_BIT(VHU_PROTOCOL_F_BACKEND_REQ)))
		return -EINVAL;
	fd_close(&c->b->backend_req_fd);
	c->b->backend_req_fd = take_fd(c);
	return 0;
}

static bool needs_owner(uint32_t request)
{
	switch (request) {
	case VHU_SET_FEATURES:
	case VHU_SET_MEM_TABLE:
	case VHU_SET_VRING_NUM:
	case VHU_SET_VRING_ADDR:
	case VHU_SET_VRING_BASE:
	case VHU_GET_VRING_BASE:
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
	case VHU_SET_VRING_ENABLE:
	case VHU_SET_BACKEND_REQ_FD:
		return true;
	default:
		return false;
	}
}

static int dispatch(struct ctx *c)
{
	struct vhu_backend *b = c->b;
	uint32_t req = c->m->hdr.request;
	if (needs_owner(req) && !b->owner)
		return -EPERM;
	switch (req) {
	case VHU_GET_FEATURES:
		reply_u64(c, b->offered_features);
		return 0;
	case VHU_SET_FEATURES:
		return set_features(c);
	case VHU_SET_OWNER:
		b->owner = true;
		return 0;
	case VHU_RESET_OWNER:
	case VHU_RESET_DEVICE:
		reset_rings(b);
		return 0;
	case VHU_GET_PROTOCOL_FEATURES:
		reply_u64(c, VHU_BACKEND_PROTOCOL_FEATURES);
		return 0;
	case VHU_SET_PROTOCOL_FEATURES:
		return set_protocol_features(c);
	case VHU_GET_QUEUE_NUM:
		reply_u64(c, b->nr_queues);
		return 0;
	case VHU_GET_MAX_MEM_SLOTS:
		reply_u64(c, VHU_MAX_MEM_REGIONS);
		return 0;
	case VHU_SET_MEM_TABLE:
		return set_mem_table(c);
	case VHU_SET_VRING_NUM:
		return set_vring_num(c);
	case VHU_SET_VRING_ADDR:
		return set_vring_addr(c);
	case VHU_SET_VRING_BASE:
		return set_vring_base(c);
	case VHU_GET_VRING_BASE:
		return get_vring_base(c);
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		return set_vring_fd(c);
	case VHU_SET_VRING_ENABLE:
		return set_vring_enable(c);
	case VHU_GET_CONFIG:
		return get_config(c);
	case VHU_SET_CONFIG:
		return set_config(c);
	case VHU_SET_BACKEND_REQ_FD:
		return set_backend_req_fd(c);
	default:
		return -ENOSYS;
	}
}

/* ---- the connection ---- */


static bool can_ack(const struct vhu_backend *b, const struct vhu_msg_hdr *hdr)
{
	return (hdr->flags & VHU_FLAG_NEED_REPLY) && (b->protocol_features & VIRTIO_BIT(VHU_PROTOCOL_F_REPLY_ACK)) &&
	       !vhu_request_has_own_reply(hdr->request);
}

static int send_reply(struct vhu_backend *b, uint32_t request, struct vhu_msg *reply)
{
	reply->hdr.request = request;
	reply->hdr.flags = VHU_VERSION | VHU_FLAG_REPLY;
	return vhu_msg_send(b->sock, reply, NULL, 0);
}

/* REPLY_ACK status: 0 for success, else the positive errno. */
static int send_ack(struct vhu_backend *b, uint32_t request, int err)
{
	struct vhu_msg reply = { .hdr.size = sizeof(uint64_t) };
	reply.p.u64 = (uint64_t)(err < 0 ? -err : 0);
	return send_reply(b, request, &reply);
}

/* A request failed: answer it if the front-end asked, else give up on
 * the connection. Returns 1 (go on) or -errno. */
static int refuse(struct vhu_backend *b, const struct vhu_msg_hdr *hdr, int err)
{
	b->last_error = err;
	b->last_error_request = hdr->request;
	if (!can_ack(b, hdr))
		return err;
	int r = send_ack(b, hdr->request, err);
	return r < 0 ? r : 1;
}

int vhu_backend_handle_one(struct vhu_backend *b)
{
	struct vhu_msg m;
	int fds[VHU_MAX_FDS];
	size_t nfds = 0;
	int r = vhu_msg_recv(b->sock, &m, fds, &nfds);
	if (r == 0)
		return 0;
	if (r == -EBADMSG)
		return refuse(b, &m.hdr, r);
	if (r < 0) {
		b->last_error = r;
		b->last_error_request = m.hdr.request;
		return r;
	}
	if (m.hdr.flags & VHU_FLAG_REPLY) {
		/* Only the front-end gets replies. */
		vhu_close_fds(fds, nfds);
		b->last_error = -EPROTO;
		b->last_error_request = m.hdr.request;
		return -EPROTO;
	}
	struct vhu_msg reply;
	memset(&reply.hdr, 0, sizeof(reply.hdr));
	struct ctx c = { .b = b, .m = &m, .fds = fds, .nfds = nfds, .reply = &reply };
	r = dispatch(&c);
	vhu_close_fds(fds, nfds);
	if (r < 0)
		return refuse(b, &m.hdr, r);
	if (c.has_reply)
		r = send_reply(b, m.hdr.request, &reply);
	else if (can_ack(b, &m.hdr))
		r = send_ack(b, m.hdr.request, c.act_err);
	else
		r = 0;
	return r < 0 ? r : 1;
}

static int notify_config_change(struct vhu_backend *b)
{
	if (b->backend_req_fd < 0 || !(b->protocol_features & VIRTIO_BIT(VHU_PROTOCOL_F_BACKEND_REQ)))
		return 0;
	struct vhu_msg m = { .hdr = { VHU_BACKEND_CONFIG_CHANGE_MSG, VHU_VERSION, 0 } };
	int r = vhu_msg_send(b->backend_req_fd, &m, NULL, 0);
	if (r < 0)
		fd_close(&b->backend_req_fd); /* the front-end went away from it */
	return r;
}

int vhu_backend_handle_device_events(struct vhu_backend *b)
{
	if (evfd_drain(b->error_fd) > 0 && b->active) {
		b->device_broken = true;
		for (unsigned q = 0; q < b->nr_queues; q++)
			if (b->rings[q].active && b->rings[q].err_fd >= 0)
				(void)evfd_signal(b->rings[q].err_fd);
	}
	if (evfd_drain(b->config_fd) > 0)
		return notify_config_change(b);
	return 0;
}

int vhu_backend_run(struct vhu_backend *b)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = b->sock, .events = POLLIN },
			{ .fd = b->config_fd, .events = POLLIN },
			{ .fd = b->error_fd, .events = POLLIN },
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A failure here is the back-end request channel's (now
		 * closed); the connection itself goes on. */
		if ((p[1].revents || p[2].revents) && vhu_backend_handle_device_events(b) < 0)
			b->last_error = -EPIPE;
		if (p[0].revents) {
			int r = vhu_backend_handle_one(b);
			if (r <= 0)
				return r;
		}
	}
}

int vhu_backend_init(struct vhu_backend *b, struct virtio_device *vdev, int sock)
{
	memset(b, 0, sizeof(*b));
	b->sock = sock;
	b->config_fd = b->error_fd = b->backend_req_fd = -1;
	b->gm.memfd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct vhu_ring *r = &b->rings[q];
		r->kick_fd = r->call_fd = r->err_fd = r->spare_kick = r->spare_call = -1;
	}
	b->vdev = vdev;
	b->nr_queues = vdev->ops->num_queues(vdev->dev);
	if (b->nr_queues == 0 || b->nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	b->offered_features = vdev->ops->features(vdev->dev) | PROTOCOL_FEATURES_BIT;
	int r;
	if ((r = b->config_fd = evfd_create()) < 0 || (r = b->error_fd = evfd_create()) < 0)
		return r;
	return 0;
}

void vhu_backend_destroy(struct vhu_backend *b)
{
	if (!b)
		return;
	stop_device(b);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct vhu_ring *r = &b->rings[q];
		ring_forget(r);
		fd_close(&r->spare_kick);
		fd_close(&r->spare_call);
	}
	gm_destroy(&b->gm);
	b->have_mem = false;
	fd_close(&b->config_fd);
	fd_close(&b->error_fd);
	fd_close(&b->backend_req_fd);
	fd_close(&b->sock);
}
