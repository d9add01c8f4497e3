/*
 * vhost-user proxy device (see proxy_device.h).
 *
 * Every request to the back-end goes through REQ(): it fails fast once the
 * proxy is dead, arms the watchdog, makes the front-end call and looks at
 * what it returned: an error that leaves the connection unusable (see
 * conn_error) kills the proxy; a refusal the back-end acked (e.g. EINVAL
 * for a bad ring) is just returned. Callers hold p->lock, so at most one
 * request is in flight.
 *
 * The watchdog. The front-end blocks in recvmsg for a reply, and a socket
 * timeout (SO_RCVTIMEO) would bound each recvmsg rather than the request:
 * a back-end could trickle a reply a byte at a time. Instead each request
 * stores its deadline and (re)arms a timerfd; the helper thread, woken by
 * the timerfd, compares the clock with the deadline of the request in
 * flight (0 when none) and, past it, marks the proxy dead, which shuts the
 * socket down: the blocked recvmsg (or sendmsg) returns at once. The timer
 * is not disarmed when a request ends (that would be a second syscall per
 * request); its later expiry finds no deadline and does nothing.
 *
 * The helper thread also reads the back-end request channel (made
 * non-blocking, so a back-end sending half a message cannot stall it) and
 * watches the socket for a hang-up, which is how a device process that
 * dies while nobody talks to it is noticed. It never takes p->lock, which
 * a vCPU holds while it waits for a reply the watchdog may have to cut
 * short; the activation's config_fd has its own small lock instead. The
 * helper uses the front-end only through vhu_frontend_backend_req, which
 * touches only the request channel (see frontend.h).
 */
#include "vhost/user/proxy_device.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "vhost/user/frontend.h"
#include "vhost/user/protocol.h"

#define PROTOCOL_FEATURES_BIT VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)

_Static_assert(VIRTIO_MAX_QUEUES <= 64, "ring masks are 64-bit");

struct vhu_proxy {
	/* From vhu_proxy_info and the handshake; constant after create. */
	unsigned num_queues;
	uint16_t queue_max_size[VIRTIO_MAX_QUEUES];
	uint32_t config_size;
	int64_t timeout_ns;
	uint64_t features; /* offered, VHOST_USER_F_PROTOCOL_FEATURES removed */

	pthread_mutex_t lock; /* serialises front-end traffic; guards f, active, rings */
	struct vhu_frontend f;
	bool connected; /* f owns the socket (vhu_frontend_connect was called) */
	bool active;
	uint64_t rings; /* rings handed to the back-end by activate */

	pthread_mutex_t cfg_lock; /* guards config_fd (the helper signals it) */
	int config_fd;		  /* borrowed from the activation; -1 while inactive */

	int sock;	  /* == f.sock: for the helper's poll and shutdown() */
	int dead_fd;	  /* owned eventfd: signalled once, at death */
	int wake_fd;	  /* owned eventfd: wakes the helper (stop, new fd to watch) */
	int timer_fd;	  /* owned timerfd: the watchdog */
	atomic_int error; /* 0 while alive, else the -errno the proxy died of */
	atomic_bool stopping;
	atomic_int_least64_t deadline_ns; /* of the request in flight; 0 = none */
	atomic_int req_fd;		  /* f.backend_req_fd once the helper may read it, else -1 */

	pthread_t helper;
	char helper_name[16];
	bool helper_started;
	bool locks_init;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- death ---- */

static bool is_dead(struct vhu_proxy *p)
{
	return atomic_load(&p->error) != 0;
}

/* The first caller records why and tells the main loop; the socket is shut
 * down so a request blocked on it returns and the device process sees
 * the end of the connection. Any thread. */
static void mark_dead(struct vhu_proxy *p, int err)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&p->error, &expected, err))
		return;
	(void)shutdown(p->sock, SHUT_RDWR);
	(void)evfd_signal(p->dead_fd);
}

/* Errors after which the connection cannot be used: the socket failed or
 * was closed, or the stream is out of step (a reply that does not belong,
 * a message too big to frame). Not when the back-end acked the request
 * with such a status (req_end): that is a refusal on a working stream. */
static bool conn_error(int r)
{
	switch (r) {
	case -EPIPE:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -ENOTCONN:
	case -ESHUTDOWN:
	case -EPROTO:
	case -EMSGSIZE:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -EBADF:
		return true;
	default:
		return false;
	}
}

/* ---- requests (p->lock held, except during create) ---- */

static void watchdog_arm(struct vhu_proxy *p)
{
	/* The deadline first: a stale expiry of the previous request's
	 * timer, handled between the two, then sees a deadline still ahead. */
	atomic_store(&p->deadline_ns, now_ns() + p->timeout_ns);
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(p->timeout_ns / 1000000000),
						.tv_nsec = (long)(p->timeout_ns % 1000000000) } };
	(void)timerfd_settime(p->timer_fd, 0, &its, NULL);
}

/* The request is over with result r: returns it, or why the proxy died
 * if it died meanwhile (a watchdog timeout shows up here as the
 * ECONNRESET of the socket it shut down). */
static int req_end(struct vhu_proxy *p, int r)
{
	atomic_store(&p->deadline_ns, 0);
	if (r < 0 && !p->f.last_refused && conn_error(r))
		mark_dead(p, r);
	if (r < 0 && is_dead(p))
		r = atomic_load(&p->error);
	return r;
}

/* One front-end call as a request: -ENOTCONN at once when dead, else the
 * call bounded by the watchdog. */
#define REQ(p, call) (is_dead(p) ? -ENOTCONN : req_end((p), (watchdog_arm(p), (call))))

static void set_config_fd(struct vhu_proxy *p, int fd)
{
	pthread_mutex_lock(&p->cfg_lock);
	p->config_fd = fd;
	pthread_mutex_unlock(&p->cfg_lock);
}

/* ---- the helper thread ---- */

static void watchdog_expired(struct vhu_proxy *p)
{
	uint64_t n;
	/* Non-blocking: nothing to read is fine. */
	if (read(p->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	int64_t deadline = atomic_load(&p->deadline_ns);
	if (deadline != 0 && now_ns() >= deadline)
		mark_dead(p, -ETIMEDOUT);
}

static void handle_backend_req(struct vhu_proxy *p)
{
	uint32_t request = 0;
	int r = vhu_frontend_backend_req(&p->f, &request);
	if (r == 1) {
		if (request == VHU_BACKEND_CONFIG_CHANGE_MSG) {
			pthread_mutex_lock(&p->cfg_lock);
			if (p->config_fd >= 0)
				(void)evfd_signal(p->config_fd);
			pthread_mutex_unlock(&p->cfg_lock);
		}
		return;
	}
	if (r == -EBADMSG)
		return; /* refused, consumed whole: the channel goes on */
	/* EOF, or a socket error; EAGAIN is half a message (the back-end
	 * sends each whole), i.e. a broken protocol. */
	mark_dead(p, r == 0 ? -ECONNRESET : r == -EAGAIN ? -EPROTO : r);
}

static void *helper_main(void *arg)
{
	struct vhu_proxy *p = arg;
	/* Best effort, for ps, top and gdb. */
	(void)prctl(PR_SET_NAME, p->helper_name);
	for (;;) {
		/* After death nothing but the stop request matters; the socket
		 * and the channel would only report their hang-up forever. */
		bool alive = !is_dead(p);
		struct pollfd pf[4] = {
			{ .fd = p->wake_fd, .events = POLLIN },
			{ .fd = p->timer_fd, .events = POLLIN },
			{ .fd = alive ? atomic_load(&p->req_fd) : -1, .events = POLLIN },
			/* Not POLLIN: replies are the requesting thread's to read. */
			{ .fd = alive ? p->sock : -1, .events = POLLRDHUP },
		};
		if (poll(pf, ARRAY_SIZE(pf), -1) < 0)
			continue; /* EINTR (signals are blocked) or ENOMEM: retry */
		if (pf[0].revents) {
			(void)evfd_drain(p->wake_fd);
			if (atomic_load(&p->stopping))
				return NULL;
		}
		if (pf[1].revents)
			watchdog_expired(p);
		if (pf[2].revents)
			handle_backend_req(p);
		if (pf[3].revents)
			mark_dead(p, -ECONNRESET);
	}
}

static int helper_start(struct vhu_proxy *p, const char *name)
{
	snprintf(p->helper_name, sizeof(p->helper_name), "vhu-%s", name);
	/* Signals blocked, as on the device workers: process-directed ones go
	 * to the threads meant for them. Not the synchronous ones, which
	 * would kill the process silently if blocked. */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = -pthread_create(&p->helper, NULL, helper_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	p->helper_started = true;
	return 0;
}

static void helper_stop(struct vhu_proxy *p)
{
	if (!p->helper_started)
		return;
	atomic_store(&p->stopping, true);
	(void)evfd_signal(p->wake_fd);
	pthread_join(p->helper, NULL);
	p->helper_started = false;
}

/* ---- virtio_device_ops ---- */

static unsigned proxy_num_queues(void *dev)
{
	return ((struct vhu_proxy *)dev)->num_queues;
}

static uint16_t proxy_queue_max_size(void *dev, unsigned q)
{
	struct vhu_proxy *p = dev;
	return q < p->num_queues ? p->queue_max_size[q] : 0;
}

static uint64_t proxy_features(void *dev)
{
	return ((struct vhu_proxy *)dev)->features;
}

/* The part of [off, off + len) inside the configuration space: its
 * length, 0 if none. */
static uint32_t config_clip(const struct vhu_proxy *p, uint32_t off, uint32_t len)
{
	if (off >= p->config_size)
		return 0;
	return len < p->config_size - off ? len : p->config_size - off;
}

static void proxy_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct vhu_proxy *p = dev;
	memset(data, 0, len);
	uint32_t n = config_clip(p, off, len);
	if (n == 0)
		return;
	pthread_mutex_lock(&p->lock);
	if (REQ(p, vhu_frontend_get_config(&p->f, off, data, n)) < 0)
		memset(data, 0, n);
	pthread_mutex_unlock(&p->lock);
}

static void proxy_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct vhu_proxy *p = dev;
	uint32_t n = config_clip(p, off, len);
	if (n == 0)
		return;
	pthread_mutex_lock(&p->lock);
	/* A refused or lost write is dropped, as a device drops a write to a
	 * read-only field. */
	(void)REQ(p, vhu_frontend_set_config(&p->f, off, data, n));
	pthread_mutex_unlock(&p->lock);
}

/* Programs the back-end with act. *rings gets the rings handed over so
 * far. Returns 0 or the first failure. */
static int program(struct vhu_proxy *p, const struct virtio_activation *act, uint64_t *rings)
{
	struct vhu_frontend *f = &p->f;
	int r;
	if ((r = REQ(p, vhu_frontend_set_features(f, act->features))) < 0 ||
	    (r = REQ(p, vhu_frontend_set_mem_table(f, act->gm))) < 0)
		return r;
	/* Every ring fully described first, then started (kick), then
	 * enabled: the back-end starts the device once, with all of them,
	 * when the last one is enabled (see backend.h), and its ack of that
	 * request carries the device's activation result. */
	for (unsigned q = 0; q < p->num_queues; q++) {
		const struct virtio_queue_setup *qs = &act->queues[q];
		const struct virtq_config *c = &qs->cfg;
		if (c->size == 0)
			continue;
		if (c->size > p->queue_max_size[q])
			return -EINVAL;
		*rings |= 1ULL << q;
		if ((r = REQ(p, vhu_frontend_set_vring_num(f, q, c->size))) < 0 ||
		    (r = REQ(p, vhu_frontend_set_vring_base(f, q, c->next_avail))) < 0 ||
		    (r = REQ(p, vhu_frontend_set_vring_addr(f, q, c->size, c->desc, c->avail, c->used))) < 0 ||
		    (r = REQ(p, vhu_frontend_set_vring_call(f, q, qs->call_fd))) < 0 ||
		    /* A ring the device finds broken reaches the transport
		     * directly, as from an in-process device. */
		    (r = REQ(p, vhu_frontend_set_vring_err(f, q, act->error_fd))) < 0)
			return r;
	}
	for (unsigned q = 0; q < p->num_queues; q++)
		if ((*rings & (1ULL << q)) && (r = REQ(p, vhu_frontend_set_vring_kick(f, q, act->queues[q].kick_fd))) < 0)
			return r;
	/* Without protocol features rings are enabled once started. */
	if (f->features & PROTOCOL_FEATURES_BIT)
		for (unsigned q = 0; q < p->num_queues; q++)
			if ((*rings & (1ULL << q)) && (r = REQ(p, vhu_frontend_set_vring_enable(f, q, true))) < 0)
				return r;
	return 0;
}

static int proxy_activate(void *dev, const struct virtio_activation *act)
{
	struct vhu_proxy *p = dev;
	pthread_mutex_lock(&p->lock);
	int r;
	if (p->active)
		r = -EBUSY;
	else if (act->nr_queues != p->num_queues)
		r = -EINVAL;
	else if (is_dead(p))
		r = -ENOTCONN;
	else
		r = 0;
	if (r < 0)
		goto out;
	/* Set first: a change the device announces while it starts counts. */
	set_config_fd(p, act->config_fd);
	uint64_t rings = 0;
	r = program(p, act, &rings);
	if (r < 0) {
		set_config_fd(p, -1);
		/* The transport does not reset a device whose activation
		 * failed: leave the back-end as reset leaves it (device
		 * stopped, rings and features forgotten) ourselves. */
		(void)REQ(p, vhu_frontend_reset_device(&p->f));
		p->f.gm = NULL; /* act->gm is not ours to keep */
		goto out;
	}
	p->active = true;
	p->rings = rings;
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void proxy_reset(void *dev)
{
	struct vhu_proxy *p = dev;
	pthread_mutex_lock(&p->lock);
	if (p->active) {
		/* No config change reaches the transport after this. */
		set_config_fd(p, -1);
		/* Stopping each ring stops the device: it no longer uses the
		 * transport's eventfds or guest memory once this returns.
		 * Failures are the back-end's death (later requests then
		 * fail at once) or a refusal, and there is nothing more to
		 * do about either here. */
		for (unsigned q = 0; q < p->num_queues; q++) {
			uint16_t base;
			if (p->rings & (1ULL << q))
				(void)REQ(p, vhu_frontend_get_vring_base(&p->f, q, &base));
		}
		(void)REQ(p, vhu_frontend_reset_device(&p->f));
		p->f.gm = NULL; /* the activation's memory stops being borrowed */
		p->active = false;
		p->rings = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Frees p in whatever state create left it. */
static void proxy_free(struct vhu_proxy *p)
{
	helper_stop(p);
	if (p->connected)
		vhu_frontend_close(&p->f); /* closes p->sock */
	else
		fd_close(&p->sock);
	fd_close(&p->dead_fd);
	fd_close(&p->wake_fd);
	fd_close(&p->timer_fd);
	if (p->locks_init) {
		pthread_mutex_destroy(&p->lock);
		pthread_mutex_destroy(&p->cfg_lock);
	}
	free(p);
}

static void proxy_destroy(void *dev)
{
	if (!dev)
		return;
	/* While the helper still runs: the watchdog bounds the reset. */
	proxy_reset(dev);
	proxy_free(dev);
}

/* One static table per device type, so ops stay static (their name is
 * read even after destroy, e.g. for an error message) while a proxy still
 * looks like the in-process device it stands for. */
#define PROXY_OPS(nm, id)                                                                                     \
	{                                                                                                     \
		.name = nm, .device_id = id, .num_queues = proxy_num_queues,                                  \
		.queue_max_size = proxy_queue_max_size, .features = proxy_features,                           \
		.config_read = proxy_config_read, .config_write = proxy_config_write,                         \
		.activate = proxy_activate, .reset = proxy_reset, .destroy = proxy_destroy,                   \
	}

static const struct virtio_device_ops proxy_ops[] = {
	PROXY_OPS("net", VIRTIO_ID_NET),	 PROXY_OPS("block", VIRTIO_ID_BLOCK),
	PROXY_OPS("console", VIRTIO_ID_CONSOLE), PROXY_OPS("rng", VIRTIO_ID_RNG),
	PROXY_OPS("balloon", VIRTIO_ID_BALLOON), PROXY_OPS("9p", VIRTIO_ID_9P),
	PROXY_OPS("vsock", VIRTIO_ID_VSOCK),	 PROXY_OPS("fs", VIRTIO_ID_FS),
};

static const struct virtio_device_ops *ops_for(uint32_t device_id)
{
	for (size_t i = 0; i < ARRAY_SIZE(proxy_ops); i++)
		if (proxy_ops[i].device_id == device_id)
			return &proxy_ops[i];
	return NULL;
}

static uint16_t info_queue_max(const struct vhu_proxy_info *info, unsigned q)
{
	return info->queue_max_sizes[q] ? info->queue_max_sizes[q] : info->queue_max_size;
}

static bool info_valid(const struct vhu_proxy_info *info)
{
	if (info->num_queues < 1 || info->num_queues > VIRTIO_MAX_QUEUES || info->config_size > VHU_MAX_CONFIG_SIZE ||
	    info->reply_timeout_ms < 0)
		return false;
	for (unsigned q = 0; q < info->num_queues; q++) {
		uint16_t qmax = info_queue_max(info, q);
		if (qmax == 0 || qmax > VIRTQ_MAX_SIZE || (qmax & (qmax - 1)))
			return false;
	}
	return true;
}

/* The handshake and what it must have said. */
static int handshake(struct vhu_proxy *p, int sock, const struct vhu_proxy_info *info)
{
	watchdog_arm(p); /* one deadline for the whole handshake */
	int r = vhu_frontend_connect(&p->f, sock);
	p->connected = true;
	if ((r = req_end(p, r)) < 0)
		return r;
	const struct vhu_frontend *f = &p->f;
	if ((f->nr_queues != 0 && f->nr_queues < info->num_queues) || !(f->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return -EPROTO;
	if (info->config_size > 0 && !(f->protocol_features & VIRTIO_BIT(VHU_PROTOCOL_F_CONFIG)))
		return -EOPNOTSUPP;
	p->features = f->features & ~PROTOCOL_FEATURES_BIT;
	if (f->backend_req_fd >= 0) {
		int fl = fcntl(f->backend_req_fd, F_GETFL);
		if (fl < 0 || fcntl(f->backend_req_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		/* Hand the channel to the helper (p->f is settled now). */
		atomic_store(&p->req_fd, f->backend_req_fd);
		(void)evfd_signal(p->wake_fd);
	}
	/* The watchdog may have fired just as the last reply came. */
	return atomic_load(&p->error);
}

int vhu_proxy_create(int sock, const struct vhu_proxy_info *info, struct virtio_device *out)
{
	*out = (struct virtio_device){ NULL, NULL };
	const struct virtio_device_ops *ops = ops_for(info->device_id);
	if (!ops || !info_valid(info)) {
		fd_close(&sock);
		return -EINVAL;
	}
	struct vhu_proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		fd_close(&sock);
		return -ENOMEM;
	}
	p->sock = sock;
	p->dead_fd = p->wake_fd = p->timer_fd = p->config_fd = -1;
	atomic_init(&p->error, 0);
	atomic_init(&p->stopping, false);
	atomic_init(&p->deadline_ns, 0);
	atomic_init(&p->req_fd, -1);
	p->num_queues = info->num_queues;
	for (unsigned q = 0; q < info->num_queues; q++)
		p->queue_max_size[q] = info_queue_max(info, q);
	p->config_size = info->config_size;
	p->timeout_ns = (int64_t)(info->reply_timeout_ms ? info->reply_timeout_ms : VHU_PROXY_DEFAULT_TIMEOUT_MS) *
			1000000;

	int r = pthread_mutex_init(&p->lock, NULL);
	if (r == 0 && (r = pthread_mutex_init(&p->cfg_lock, NULL)) != 0)
		pthread_mutex_destroy(&p->lock);
	if (r != 0) {
		proxy_free(p);
		return -r;
	}
	p->locks_init = true;
	if ((r = p->dead_fd = evfd_create()) < 0 || (r = p->wake_fd = evfd_create()) < 0)
		goto fail;
	if ((p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		r = -errno;
		goto fail;
	}
	/* Started before the handshake, which its watchdog bounds. */
	if ((r = helper_start(p, ops->name)) < 0 || (r = handshake(p, sock, info)) < 0)
		goto fail;
	*out = (struct virtio_device){ ops, p };
	return 0;
fail:
	proxy_free(p);
	return r;
}

bool vhu_proxy_is_proxy(const struct virtio_device *d)
{
	return d && d->ops && d->ops->destroy == proxy_destroy;
}

int vhu_proxy_dead_fd(const struct virtio_device *d)
{
	if (!vhu_proxy_is_proxy(d))
		return -EINVAL;
	return ((struct vhu_proxy *)d->dev)->dead_fd;
}

int vhu_proxy_error(const struct virtio_device *d)
{
	if (!vhu_proxy_is_proxy(d))
		return -EINVAL;
	return atomic_load(&((struct vhu_proxy *)d->dev)->error);
}
