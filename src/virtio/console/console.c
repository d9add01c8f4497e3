/*
 * virtio-console device (see console.h): one port, no MULTIPORT, no SIZE,
 * no EMERG_WRITE, so the configuration space is all zeros.
 *
 * Everything runs on the device's worker thread, which watches the two
 * queues' kick eventfds, the input fd and, through a private epoll fd, the
 * output fd's writability:
 *
 * - Receive. The input fd is watched only while the guest has receive
 *   buffers posted. When one is readable the worker pops a buffer and
 *   readv()s straight into it; when the ring runs dry it stops watching the
 *   fd (whatever is unread stays in the fd: nothing is lost or buffered on
 *   the host) and waits for the receive queue's kick, which the queue loop
 *   re-enabled. A regular file cannot be polled; it is read on each
 *   receive kick instead, which is enough since it is always readable.
 *
 * - Transmit. Each chain's readable part is writev()ed to the output fd,
 *   straight from guest memory. If the fd would block, the chain is put
 *   back into the ring (VIRTIO_CHAIN_STOP) with a note of how much of it
 *   was written, transmit kicks are ignored, and the output fd's private
 *   epoll fd (readable when the output fd is writable) is watched instead.
 *   When it fires, the same chain is popped again and writing resumes where
 *   it stopped. The guest cannot make us skip or repeat anything but its
 *   own data by changing a chain it already made available.
 *
 * Epoll's level-triggered nesting is what makes the second point work
 * with the worker's read-only watch interface: an epoll fd polls readable
 * exactly while one of its fds is ready.
 */
#include "virtio/console/console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"
#include "virtio/core/queue.h"
#include "virtio/core/worker.h"

#define CONSOLE_QUEUE_SIZE 256
/* Bytes moved per receive chain and per writev: bounds the time one chain
 * keeps the worker, whatever the guest's buffer sizes. */
#define CONSOLE_MAX_READ (64 * 1024)
#define CONSOLE_MAX_WRITE (64 * 1024)
/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
#define CONSOLE_CFG_SIZE 12

_Static_assert(VIRTQ_MAX_CHAIN <= IOV_MAX, "a whole chain must fit in one readv/writev");

enum { TOKEN_RX_KICK, TOKEN_TX_KICK, TOKEN_IN, TOKEN_OUT };

struct virtio_console {
	int in_fd;	 /* owned; -1: no input */
	int out_fd;	 /* owned; -1: output discarded */
	int in_flags;	 /* in_fd's status flags before create, -1 if none */
	int out_flags;	 /* likewise for out_fd */
	bool in_pollable; /* epoll can watch in_fd (not a regular file) */
	/* Owned epoll fd holding out_fd for EPOLLOUT, so the worker can wait
	 * for writability as for readability. -1 when out_fd cannot be
	 * polled (a regular file, which never blocks) or there is none. */
	int out_poll_fd;

	bool active;
	const struct guest_memory *gm; /* borrowed while active */
	struct virtio_queue rxq, txq;
	int error_fd; /* borrowed while active */
	struct virtio_worker worker;

	/* Worker thread only (and activate/reset, with the worker stopped). */
	bool broken;	 /* a ring is broken: wait for reset */
	bool in_done;	 /* end of input (or a read error): never read again */
	bool in_watched; /* in_fd is in the worker's epoll set */
	bool out_dead;	 /* a write failed for good: discard output */
	bool tx_blocked; /* out_fd would block: wait for TOKEN_OUT */
	bool tx_resume;	 /* tx_resume_off bytes of chain tx_resume_head are out */
	uint16_t tx_resume_head;
	uint64_t tx_resume_off;
	struct log_ratelimit io_log;
	struct iovec iov[VIRTQ_MAX_CHAIN];
	struct vq_chain chain; /* scratch for the queue loop */
};

static unsigned console_num_queues(void *dev)
{
	(void)dev;
	return 2;
}

static uint16_t console_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return CONSOLE_QUEUE_SIZE;
}

static uint64_t console_features(void *dev)
{
	(void)dev;
	return VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
}

/* No feature gives the configuration fields a meaning: all zeros. */
static void console_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0, len);
}

/* emerg_wr is writable only with VIRTIO_CONSOLE_F_EMERG_WRITE, which we do
 * not offer. */
static void console_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

/* Stops waiting for out_fd to be writable. Failing is harmless (at worst
 * one more TOKEN_OUT, which finds nothing blocked) but worth a log line. */
static void unwatch_out(struct virtio_console *c)
{
	int r = virtio_worker_watch(&c->worker, c->out_poll_fd, TOKEN_OUT, false);
	if (r < 0)
		log_ratelimited(&c->io_log, LOG_LVL_WARN, "virtio console: unwatching output: %s", strerror(-r));
}

static void mark_broken(struct virtio_console *c)
{
	if (c->broken)
		return;
	c->broken = true;
	/* Once per activation: no rate limit needed. */
	log_warn("virtio console: the driver broke a virtqueue; stopped until reset");
	/* Stop watching the data fds so a ready fd cannot spin the worker;
	 * kicks are still drained and ignored until the driver resets. */
	if (c->in_watched && virtio_worker_watch(&c->worker, c->in_fd, TOKEN_IN, false) == 0)
		c->in_watched = false;
	if (c->tx_blocked)
		unwatch_out(c);
	(void)evfd_signal(c->error_fd);
}

/* ---- receive: host input into the guest ---- */

static int rx_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_console *c = ctx;
	(void)q;
	if (chain->writable_len == 0)
		return 0; /* nowhere to put input: hand it back empty */
	struct vq_writer w;
	vq_writer_init(&w, c->gm, chain);
	size_t len = chain->writable_len < CONSOLE_MAX_READ ? (size_t)chain->writable_len : CONSOLE_MAX_READ;
	int n = vq_writer_iov(&w, len, c->iov, (int)ARRAY_SIZE(c->iov));
	if (n < 0)
		return 0; /* cannot happen for a validated chain */
	ssize_t got;
	do
		got = readv(c->in_fd, c->iov, n);
	while (got < 0 && errno == EINTR);
	if (got > 0)
		return (int)got;
	if (got < 0 && errno == EAGAIN)
		return VIRTIO_CHAIN_STOP; /* nothing to read: keep the buffer */
	if (got < 0)
		log_ratelimited(&c->io_log, LOG_LVL_WARN, "virtio console: reading input: %s; input stopped",
				strerror(errno));
	/* End of input: the buffer goes back to the ring for nobody. */
	c->in_done = true;
	return VIRTIO_CHAIN_STOP;
}

/* Watches in_fd exactly while there is input to wait for and a receive
 * buffer to put it in. */
static void update_in_watch(struct virtio_console *c)
{
	bool want = c->in_pollable && !c->in_done && !c->broken && vq_has_avail(&c->rxq.vq);
	if (want == c->in_watched)
		return;
	int r = virtio_worker_watch(&c->worker, c->in_fd, TOKEN_IN, want);
	if (r < 0) {
		log_ratelimited(&c->io_log, LOG_LVL_WARN, "virtio console: watching input: %s", strerror(-r));
		return;
	}
	c->in_watched = want;
}

static void process_rx(struct virtio_console *c)
{
	if (!c->broken && c->in_fd >= 0 && !c->in_done &&
	    virtio_queue_process(&c->rxq, "console", &c->chain, rx_chain, c) < 0)
		mark_broken(c);
	update_in_watch(c);
}

/* ---- transmit: guest output to the host ---- */

static int tx_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_console *c = ctx;
	(void)q;
	if (c->out_fd < 0 || c->out_dead)
		return 0;
	struct vq_reader r;
	vq_reader_init(&r, c->gm, chain);
	if (c->tx_resume) {
		/* The chain we stopped in the middle of, popped again. */
		c->tx_resume = false;
		if (chain->head == c->tx_resume_head && vq_reader_skip(&r, c->tx_resume_off) < 0)
			return 0; /* the guest shrank it meanwhile: done */
	}
	while (vq_reader_remaining(&r) > 0) {
		size_t len = vq_reader_remaining(&r) < CONSOLE_MAX_WRITE ? (size_t)vq_reader_remaining(&r)
									  : CONSOLE_MAX_WRITE;
		struct vq_reader before = r;
		int n = vq_reader_iov(&r, len, c->iov, (int)ARRAY_SIZE(c->iov));
		if (n < 0)
			return 0; /* cannot happen for a validated chain */
		ssize_t put = writev(c->out_fd, c->iov, n);
		if (put < 0 && errno == EINTR) {
			r = before;
			continue;
		}
		if ((put == 0 || (put < 0 && errno == EAGAIN)) && c->out_poll_fd >= 0) {
			/* Full: put the chain back and wait until writable. */
			c->tx_resume = true;
			c->tx_resume_head = chain->head;
			c->tx_resume_off = chain->readable_len - vq_reader_remaining(&before);
			c->tx_blocked = true;
			return VIRTIO_CHAIN_STOP;
		}
		if (put <= 0) {
			log_ratelimited(&c->io_log, LOG_LVL_WARN, "virtio console: writing output: %s; output discarded",
					put < 0 ? strerror(errno) : "nothing written");
			c->out_dead = true;
			return 0;
		}
		if ((size_t)put < len) {
			r = before;
			if (vq_reader_skip(&r, (size_t)put) < 0)
				return 0;
		}
	}
	return 0;
}

static void process_tx(struct virtio_console *c)
{
	if (c->broken || c->tx_blocked)
		return;
	if (virtio_queue_process(&c->txq, "console", &c->chain, tx_chain, c) < 0) {
		mark_broken(c);
		return;
	}
	if (!c->tx_blocked)
		return;
	int r = virtio_worker_watch(&c->worker, c->out_poll_fd, TOKEN_OUT, true);
	if (r < 0) {
		/* Without a way to wait, output would stall for good; give it
		 * up instead and let the guest go on. */
		log_ratelimited(&c->io_log, LOG_LVL_WARN, "virtio console: watching output: %s; output discarded",
				strerror(-r));
		c->tx_blocked = false;
		c->tx_resume = false;
		c->out_dead = true;
		if (virtio_queue_process(&c->txq, "console", &c->chain, tx_chain, c) < 0)
			mark_broken(c);
	}
}

static void console_handle(void *ctx, uint32_t token)
{
	struct virtio_console *c = ctx;
	switch (token) {
	case TOKEN_RX_KICK:
		(void)evfd_drain(c->rxq.kick_fd);
		process_rx(c);
		break;
	case TOKEN_TX_KICK:
		/* While blocked, new chains wait in the ring for TOKEN_OUT. */
		(void)evfd_drain(c->txq.kick_fd);
		process_tx(c);
		break;
	case TOKEN_IN:
		process_rx(c);
		break;
	case TOKEN_OUT:
		unwatch_out(c);
		c->tx_blocked = false;
		process_tx(c);
		break;
	default:
		break;
	}
}

/* ---- life cycle ---- */

static int console_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_console *c = dev;
	if (act->nr_queues < 2)
		return -EINVAL;
	int r = virtio_queue_setup(&c->rxq, act->gm, &act->queues[VIRTIO_CONSOLE_RX_QUEUE]);
	if (r < 0)
		return r;
	if ((r = virtio_queue_setup(&c->txq, act->gm, &act->queues[VIRTIO_CONSOLE_TX_QUEUE])) < 0)
		return r;
	/* Port 0's two queues are mandatory (5.3.6). */
	if (!c->rxq.ready || !c->txq.ready)
		return -EINVAL;
	c->gm = act->gm;
	c->error_fd = act->error_fd;
	c->broken = false;
	c->out_dead = false;
	c->tx_blocked = false;
	c->tx_resume = false;
	c->io_log = (struct log_ratelimit)LOG_RATELIMIT_INIT;

	/* The input fd starts watched: if the guest posted no buffers yet, the
	 * first event just takes it out again. */
	struct virtio_worker_fd fds[3] = {
		{ c->rxq.kick_fd, TOKEN_RX_KICK },
		{ c->txq.kick_fd, TOKEN_TX_KICK },
		{ c->in_fd, TOKEN_IN },
	};
	bool watch_in = c->in_fd >= 0 && c->in_pollable && !c->in_done;
	if ((r = virtio_worker_start(&c->worker, "v_console", fds, watch_in ? 3 : 2, console_handle, c)) < 0)
		return r;
	c->in_watched = watch_in;
	c->active = true;
	return 0;
}

static void console_reset(void *dev)
{
	struct virtio_console *c = dev;
	if (!c->active)
		return;
	virtio_worker_stop(&c->worker);
	/* A partly written chain is dropped with the rings. */
	c->in_watched = false;
	c->tx_blocked = false;
	c->tx_resume = false;
	c->gm = NULL;
	c->error_fd = -1;
	c->active = false;
}

/* Puts back the status flags create changed, then closes. */
static void release_fd(int *fd, int flags)
{
	if (*fd >= 0 && flags >= 0 && !(flags & O_NONBLOCK))
		(void)fcntl(*fd, F_SETFL, flags);
	fd_close(fd);
}

void virtio_console_disown_fds(void *dev)
{
	struct virtio_console *c = dev;
	c->in_flags = c->out_flags = -1;
}

static void console_destroy(void *dev)
{
	struct virtio_console *c = dev;
	if (!c)
		return;
	console_reset(c);
	fd_close(&c->out_poll_fd);
	release_fd(&c->in_fd, c->in_flags);
	release_fd(&c->out_fd, c->out_flags);
	free(c);
}

static const struct virtio_device_ops console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = console_num_queues,
	.queue_max_size = console_queue_max_size,
	.features = console_features,
	.config_read = console_config_read,
	.config_write = console_config_write,
	.activate = console_activate,
	.reset = console_reset,
	.destroy = console_destroy,
};

/* Makes fd non-blocking; *saved gets the flags it had. */
static int set_nonblock(int fd, int *saved)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return errno == EBADF ? -EINVAL : -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	*saved = flags;
	return 0;
}

/* Whether epoll can watch fd for `events`: 1 yes, 0 no (a regular file or
 * directory: always ready), or -errno. With ep >= 0 the fd is added to ep
 * and stays there. */
static int try_epoll(int ep, int fd, uint32_t events)
{
	int tmp SCOPED_FD = -1;
	if (ep < 0) {
		tmp = epoll_create1(EPOLL_CLOEXEC);
		if (tmp < 0)
			return -errno;
		ep = tmp;
	}
	struct epoll_event ev = { .events = events };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 1;
	return errno == EPERM ? 0 : -errno;
}

int virtio_console_create(int in_fd, int out_fd, struct virtio_device *out)
{
	if (in_fd >= 0 && in_fd == out_fd) {
		fd_close(&in_fd);
		return -EINVAL;
	}
	struct virtio_console *c = calloc(1, sizeof(*c));
	if (!c) {
		fd_close(&in_fd);
		fd_close(&out_fd);
		return -ENOMEM;
	}
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->in_flags = c->out_flags = -1;
	c->out_poll_fd = -1;
	c->error_fd = -1;
	c->io_log = (struct log_ratelimit)LOG_RATELIMIT_INIT;

	int r;
	if (c->in_fd >= 0) {
		if ((r = set_nonblock(c->in_fd, &c->in_flags)) < 0)
			goto err_dev;
		if ((r = try_epoll(-1, c->in_fd, EPOLLIN)) < 0)
			goto err_dev;
		c->in_pollable = r == 1;
	}
	if (c->out_fd >= 0) {
		if ((r = set_nonblock(c->out_fd, &c->out_flags)) < 0)
			goto err_dev;
		c->out_poll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (c->out_poll_fd < 0) {
			r = -errno;
			goto err_dev;
		}
		if ((r = try_epoll(c->out_poll_fd, c->out_fd, EPOLLOUT)) < 0)
			goto err_dev;
		if (r == 0)
			fd_close(&c->out_poll_fd); /* never blocks: nothing to wait for */
	}
	*out = (struct virtio_device){ .ops = &console_ops, .dev = c };
	return 0;

err_dev:
	console_destroy(c);
	return r;
}
