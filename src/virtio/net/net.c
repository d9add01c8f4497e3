/*
 * virtio-net device (see net.h): moves frames between queue pairs and TAP
 * fds, one pair per TAP queue.
 *
 * Threads. One worker thread per queue pair, each waiting on its pair's
 * rx and tx kicks, its TAP fd and two private fds (a wake eventfd and the
 * "TAP writable" epoll fd below); pair 0's worker also serves the control
 * queue. Per-pair workers are the point of multi-queue: the guest spreads
 * flows over pairs so that they are processed in parallel, and a pair's
 * state (rings, receive-buffer cache) is then touched by one thread only
 * and needs no lock. The only cross-thread state is each pair's `enabled`
 * flag (atomic), which MQ_VQ_PAIRS_SET on worker 0 changes before waking
 * the pair's worker through its eventfd. The configuration space is
 * constant after create, so vCPU threads read it without a lock.
 *
 * TX. A chain is a 12-byte header followed by the frame in any number of
 * descriptors. The header is copied out once, checked
 * (virtio_net_hdr_check_tx) and written from that copy; the frame goes to
 * the TAP with one writev straight from guest memory. Malformed or
 * oversized frames are completed with 0 and dropped (rate-limited log).
 * EAGAIN from the TAP puts the chain back and waits for the TAP to become
 * writable: the worker polls only for input, so the wait goes through a
 * private epoll fd holding the TAP with EPOLLOUT, which is itself readable
 * exactly when the TAP is writable. Retrying on the next kick instead
 * would stall: a driver whose tx ring is full waits for completions and
 * does not kick again. A pair transmits at most TX_BUDGET frames per turn,
 * then reschedules itself through its wake fd so its receive side (and,
 * on worker 0, the control queue) keep their turn.
 *
 * RX. Available receive chains are popped into a per-pair cache (head,
 * length, host iovecs) and stay there until a packet uses them, so a chain
 * is walked and checked once however many reads it waits through. When the
 * cached buffers at the front hold the largest packet a TAP can deliver
 * (header + VIRTIO_NET_MAX_FRAME), the packet is read with readv straight
 * into them; otherwise it is read into a bounce buffer and copied, because
 * a TAP read cannot be retried with more room: the kernel consumes the
 * packet and truncates it. With VIRTIO_NET_F_MRG_RXBUF a packet spans as
 * many buffers as it needs (num_buffers set in the first), and all its
 * buffers are published with one used->idx update so the driver never
 * sees the first without the rest. Without it a packet takes one buffer.
 * When no buffer is left the worker stops polling the TAP (packets wait
 * in the kernel, none is dropped) and asks for a kick on the rx queue; a
 * packet already read that does not fit waits in the bounce buffer for
 * more buffers, and is dropped (logged) only if the whole ring could not
 * hold it.
 *
 * Guest errors: a malformed chain fails its request; a broken ring stops
 * that queue and signals error_fd once (the transport then sets
 * DEVICE_NEEDS_RESET).
 */
#include "virtio/net/net.h"

#include <errno.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"
#include "net/net.h"
#include "virtio/core/queue.h"
#include "virtio/core/worker.h"

#define NET_QUEUE_SIZE 256 /* power of two: also the rx cache's size */
#define CTRL_QUEUE_SIZE 64
#define NET_MAX_IOV 1024 /* UIO_MAXIOV: most iovecs one readv/writev takes */
#define TX_BUDGET 256	 /* frames per turn before yielding */
#define RX_BUDGET 64	 /* packets per turn; the TAP stays readable */
/* Largest packet a read from the TAP returns (header included). */
#define RX_MAX_PACKET (VIRTIO_NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME)
/* One byte more, so a truncated (too large) packet is recognisable. */
#define RX_BOUNCE_SIZE (RX_MAX_PACKET + 1)
#define RX_CHAIN_MAX_IOV 64 /* iovecs one receive chain may need */
#define RX_POOL (2 * NET_MAX_IOV)
#define CTRL_MAX_DATA 64  /* command data looked at (VQ_PAIRS_SET needs 2) */
#define CTRL_MAX_ACK 4096 /* a writable part longer than this is not an ack */


enum { TOK_RX_KICK, TOK_TX_KICK, TOK_TAP, TOK_TX_POLL, TOK_WAKE, TOK_CTRL };

/* What one step of the receive loop came to. */
enum rx_step { RX_AGAIN, RX_EMPTY, RX_NEED_BUFS, RX_PAUSE, RX_DEAD, RX_BROKEN };

/* A receive chain popped and waiting for a packet. */
struct rx_buf {
	uint16_t head;
	uint16_t iov_cnt;
	uint32_t len;	  /* usable bytes (at most RX_MAX_PACKET) */
	uint32_t iov_off; /* first iovec in the pair's pool */
};


struct virtio_net;

struct net_pair {
	struct virtio_net *net; /* borrowed: the device that owns this pair */
	unsigned idx;
	int tap_fd;	/* borrowed from net->tap_fds */
	int wake_fd;	/* owned eventfd: enable changes, tx rescheduling */
	int tx_poll_fd; /* owned epoll fd: holds the TAP (EPOLLOUT) while tx waits */
	struct virtio_worker worker;
	bool running;
	atomic_bool enabled; /* the driver uses this pair (MQ_VQ_PAIRS_SET) */
	bool detached;	     /* its TAP queue is detached: re-attach at reset */

	struct virtio_queue rxq, txq;
	bool rx_broken, tx_broken;
	bool tap_watched; /* the worker polls the TAP for input */
	bool tap_dead;	  /* reading failed for good (EOF, error) */
	bool tx_blocked;  /* waiting for the TAP to become writable */
	bool tx_yield, tx_resume;
	unsigned tx_budget;

	/* Receive buffer cache: a ring of popped chains, their iovecs in
	 * pool[pool_lo, pool_hi) in the same order. */
	struct rx_buf cache[NET_QUEUE_SIZE];
	unsigned cache_first, cache_count;
	bool rx_full; /* the last refill stopped for lack of room */
	unsigned pool_lo, pool_hi;
	/* SAFETY: host mappings of guest ranges checked by vq_writer_iov,
	 * valid while the device is active (the guest memory outlives the
	 * activation); used only to copy packet data in. */
	struct iovec pool[RX_POOL];
	uint32_t pending_len; /* bytes of a packet waiting in bounce */
	uint8_t *bounce;      /* owned, RX_BOUNCE_SIZE bytes */
	struct vq_used used[NET_QUEUE_SIZE];

	struct iovec tx_iov[NET_MAX_IOV];
	struct vq_chain chain; /* scratch for both queues (one thread) */
	struct log_ratelimit rl;
};

struct virtio_net {
	int tap_fds[VIRTIO_NET_MAX_PAIRS]; /* owned */
	unsigned nr_pairs;
	const struct virtio_net_tap_ops *tap; /* borrowed, static */
	uint64_t offered;
	uint8_t config[VIRTIO_NET_CFG_SIZE];
	struct net_pair *pairs[VIRTIO_NET_MAX_PAIRS]; /* owned */

	bool active;
	const struct guest_memory *gm; /* borrowed while active */
	uint64_t features;
	unsigned used_pairs; /* pairs the driver can use: nr_pairs with MQ, else 1 */
	int error_fd;	     /* borrowed while active */
	atomic_bool error_sent;
	struct virtio_queue ctrlq;
	bool ctrl_broken;
	struct vq_chain ctrl_chain;
	struct log_ratelimit rl;
};

/* ---- the real TAP settings ---- */

/* TUNSETQUEUE: needs no privilege, only a multi-queue TAP. Lives here until
 * net/ grows it (tap_set_queue_enabled). */
static int tap_queue_enable(int fd, bool enabled)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

static const struct virtio_net_tap_ops real_tap_ops = {
	.set_vnet_hdr_size = tap_set_vnet_hdr_size,
	.set_offload = tap_set_offload,
	.set_queue_enabled = tap_queue_enable,
};

/* ---- helpers ---- */

static bool negotiated(const struct virtio_net *net, unsigned bit) { return (net->features & VIRTIO_BIT(bit)) != 0; }

static void signal_error(struct virtio_net *net)
{
	/* Once per activation, whichever queue broke first. */
	if (!atomic_exchange(&net->error_sent, true))
		(void)evfd_signal(net->error_fd);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Copies len bytes of src to byte offset `at` of the buffer the iovecs
 * describe; stops at its end. */
static void iov_put(const struct iovec *iov, unsigned cnt, size_t at, const void *src, size_t len)
{
	const uint8_t *s = src;
	for (unsigned i = 0; i < cnt && len > 0; i++) {
		if (at >= iov[i].iov_len) {
			at -= iov[i].iov_len;
			continue;
		}
		size_t n = iov[i].iov_len - at;
		if (n > len)
			n = len;
		/* SAFETY: iov[i] is a checked guest mapping (see pool). */
		memcpy((uint8_t *)iov[i].iov_base + at, s, n);
		s += n;
		len -= n;
		at = 0;
	}
}

/*
 * Publishes n used elements with a single used->idx update, so that the
 * driver never sees the first buffer of a merged packet before the others
 * (Linux counts a missing one as an rx error and loses sync). virtq.h only
 * has the one-element vq_push; this is the same protocol for n elements.
 */
/* ---- transmit ---- */

static void tap_watch(struct net_pair *p, bool on)
{
	if (p->tap_watched == on)
		return;
	int r = virtio_worker_watch(&p->worker, p->tap_fd, TOK_TAP, on);
	if (r < 0) {
		log_ratelimited(&p->rl, LOG_LVL_ERROR, "virtio net: pair %u: watching the TAP: %s", p->idx,
				strerror(-r));
		return;
	}
	p->tap_watched = on;
}

/* Arms the "TAP writable" fd. Returns 0 or -errno. */
static int tx_wait_writable(struct net_pair *p)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = 0 };
	if (epoll_ctl(p->tx_poll_fd, EPOLL_CTL_ADD, p->tap_fd, &ev) < 0 && errno != EEXIST)
		return -errno;
	p->tx_blocked = true;
	return 0;
}

static void tx_unblock(struct net_pair *p)
{
	/* Removing the TAP also empties tx_poll_fd's ready list, so it stops
	 * being readable until armed again. */
	(void)epoll_ctl(p->tx_poll_fd, EPOLL_CTL_DEL, p->tap_fd, NULL);
	p->tx_blocked = false;
}

static int tx_drop(struct net_pair *p, const char *why)
{
	log_ratelimited(&p->rl, LOG_LVL_WARN, "virtio net: pair %u: transmitted frame dropped: %s", p->idx, why);
	return 0;
}

static int tx_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct net_pair *p = ctx;
	(void)q;
	if (p->tx_budget == 0) {
		p->tx_yield = true;
		return VIRTIO_CHAIN_STOP;
	}
	p->tx_budget--;

	struct vq_reader r;
	vq_reader_init(&r, p->net->gm, chain);
	/* Copied once; the TAP gets this checked copy, not guest memory the
	 * driver could change after the check. */
	struct virtio_net_hdr12 hdr;
	if (vq_read(&r, &hdr, sizeof(hdr)) < 0)
		return tx_drop(p, "shorter than its header");
	uint64_t frame_len = vq_reader_remaining(&r);
	int rc = virtio_net_hdr_check_tx(&hdr, p->net->features, frame_len);
	if (rc == -EMSGSIZE)
		return tx_drop(p, "bad length");
	if (rc < 0)
		return tx_drop(p, "invalid virtio-net header");
	hdr.num_buffers = le16_make(0);

	p->tx_iov[0] = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	int n = vq_reader_iov(&r, (size_t)frame_len, p->tx_iov + 1, NET_MAX_IOV - 1);
	if (n < 0)
		return tx_drop(p, "too many segments");
	ssize_t w;
	do
		w = writev(p->tap_fd, p->tx_iov, n + 1);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		int e = tx_wait_writable(p);
		if (e == 0)
			return VIRTIO_CHAIN_STOP; /* put back; retried when writable */
		return tx_drop(p, "TAP full and not pollable");
	}
	if (w < 0)
		log_ratelimited(&p->rl, LOG_LVL_WARN, "virtio net: pair %u: writing to the TAP: %s", p->idx,
				strerror(errno));
	return 0;
}

static void mark_tx_broken(struct net_pair *p)
{
	p->tx_broken = true;
	signal_error(p->net);
}

static void tx_run(struct net_pair *p)
{
	if (!p->txq.ready || p->tx_broken || p->tx_blocked)
		return;
	p->tx_budget = TX_BUDGET;
	p->tx_yield = false;
	if (virtio_queue_process(&p->txq, "net", &p->chain, tx_chain, p) < 0) {
		mark_tx_broken(p);
		return;
	}
	if (p->tx_yield) {
		/* More is waiting: come back after the other fds had a turn. */
		p->tx_resume = true;
		(void)evfd_signal(p->wake_fd);
	}
}

/* ---- receive ---- */

static struct rx_buf *cache_at(struct net_pair *p, unsigned i)
{
	return &p->cache[(p->cache_first + i) & (NET_QUEUE_SIZE - 1)];
}

/* Moves the live iovecs to the start of the pool. */
static void pool_compact(struct net_pair *p)
{
	if (p->pool_lo == 0)
		return;
	memmove(p->pool, p->pool + p->pool_lo, (p->pool_hi - p->pool_lo) * sizeof(p->pool[0]));
	for (unsigned i = 0; i < p->cache_count; i++)
		cache_at(p, i)->iov_off -= p->pool_lo;
	p->pool_hi -= p->pool_lo;
	p->pool_lo = 0;
}

static void cache_consume(struct net_pair *p, unsigned k)
{
	p->cache_first = (p->cache_first + k) & (NET_QUEUE_SIZE - 1);
	p->cache_count -= k;
	if (p->cache_count == 0)
		p->pool_lo = p->pool_hi = 0;
	else
		p->pool_lo = cache_at(p, 0)->iov_off;
}

/* Pops every available receive chain into the cache while there is room.
 * Unusable chains (readable descriptors, shorter than a header, too
 * fragmented) are completed with 0 bytes. Returns 0 or -EIO (ring broken). */
static int rx_refill(struct net_pair *p, bool *pushed)
{
	struct virtq *vq = &p->rxq.vq;
	p->rx_full = false;
	for (;;) {
		if (p->cache_count >= NET_QUEUE_SIZE || p->cache_count >= vq->cfg.size) {
			p->rx_full = true;
			return 0;
		}
		if (p->pool_hi + RX_CHAIN_MAX_IOV > RX_POOL) {
			pool_compact(p);
			if (p->pool_hi + RX_CHAIN_MAX_IOV > RX_POOL) {
				p->rx_full = true;
				return 0;
			}
		}
		int r = vq_pop(vq, &p->chain);
		if (r == 0)
			return 0;
		if (r < 0 && r != -EBADMSG)
			return -EIO;
		const struct vq_chain *c = &p->chain;
		uint32_t len = 0;
		int n = -EINVAL;
		if (r == 1 && c->nr_readable == 0 && c->writable_len >= VIRTIO_NET_HDR_SIZE) {
			/* No packet needs more than RX_MAX_PACKET: fewer iovecs. */
			len = c->writable_len > RX_MAX_PACKET ? RX_MAX_PACKET : (uint32_t)c->writable_len;
			struct vq_writer w;
			vq_writer_init(&w, p->net->gm, c);
			n = vq_writer_iov(&w, len, &p->pool[p->pool_hi], RX_CHAIN_MAX_IOV);
		}
		if (n <= 0) {
			log_ratelimited(&p->rxq.bad_chain_log, LOG_LVL_WARN,
					"virtio net: pair %u: unusable receive buffer (head %u) refused", p->idx,
					(unsigned)c->head);
			if (vq_push(vq, c->head, 0) < 0)
				return -EIO;
			*pushed = true;
			continue;
		}
		if (p->cache_count == 0)
			p->pool_lo = p->pool_hi;
		*cache_at(p, p->cache_count) =
			(struct rx_buf){ .head = c->head, .iov_cnt = (uint16_t)n, .len = len, .iov_off = p->pool_hi };
		p->pool_hi += (unsigned)n;
		p->cache_count++;
	}
}

/* Lays n bytes over the cached buffers from the front into p->used.
 * Returns how many buffers they take, or 0 if they do not fit. */
static unsigned rx_split(struct net_pair *p, uint32_t n)
{
	unsigned max = negotiated(p->net, VIRTIO_NET_F_MRG_RXBUF) ? p->cache_count : (p->cache_count ? 1 : 0);
	uint32_t left = n;
	unsigned k = 0;
	while (left > 0 && k < max) {
		const struct rx_buf *b = cache_at(p, k);
		uint32_t take = b->len < left ? b->len : left;
		p->used[k] = (struct vq_used){ .head = b->head, .written = take };
		left -= take;
		k++;
	}
	return left == 0 ? k : 0;
}

/* Publishes the first k cached buffers (p->used) and drops them from the
 * cache. */
static enum rx_step rx_publish(struct net_pair *p, unsigned k, bool *pushed)
{
	int r = vq_push_batch(&p->rxq.vq, p->used, k);
	cache_consume(p, k);
	if (r < 0)
		return RX_BROKEN;
	*pushed = true;
	return RX_AGAIN;
}

/* The header fields the device owns: num_buffers, and flags when the
 * driver cannot take checksum hints (5.1.6.4: flags zero without
 * GUEST_CSUM). */
static void rx_fix_header(struct net_pair *p, uint8_t hdr[VIRTIO_NET_HDR_SIZE], unsigned k)
{
	put_le16(hdr + offsetof(struct virtio_net_hdr12, num_buffers), (uint16_t)k);
	if (!negotiated(p->net, VIRTIO_NET_F_GUEST_CSUM))
		hdr[offsetof(struct virtio_net_hdr12, flags)] = 0;
}

/* Copies the packet in the bounce buffer into the k buffers rx_split
 * chose, and publishes them. */
static enum rx_step rx_deliver_bounce(struct net_pair *p, unsigned k, bool *pushed)
{
	rx_fix_header(p, p->bounce, k);
	uint32_t off = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct rx_buf *b = cache_at(p, i);
		iov_put(&p->pool[b->iov_off], b->iov_cnt, 0, p->bounce + off, p->used[i].written);
		off += p->used[i].written;
	}
	return rx_publish(p, k, pushed);
}

static enum rx_step rx_drop(struct net_pair *p, const char *why, size_t n)
{
	log_ratelimited(&p->rl, LOG_LVL_WARN, "virtio net: pair %u: received packet of %zu bytes dropped: %s",
			p->idx, n, why);
	return RX_AGAIN;
}

/* Tries again to deliver the packet waiting in the bounce buffer. */
static enum rx_step rx_pending(struct net_pair *p, bool *pushed)
{
	uint32_t n = p->pending_len;
	unsigned k = rx_split(p, n);
	if (k == 0) {
		if (!p->rx_full)
			return RX_NEED_BUFS;
		/* The whole ring (or all we can track) is not enough. */
		p->pending_len = 0;
		return rx_drop(p, "larger than the receive queue can hold", n);
	}
	p->pending_len = 0;
	return rx_deliver_bounce(p, k, pushed);
}

/* Reads one packet from the TAP into the cached buffers. */
static enum rx_step rx_one(struct net_pair *p, bool *pushed)
{
	bool mrg = negotiated(p->net, VIRTIO_NET_F_MRG_RXBUF);
	unsigned limit = mrg ? p->cache_count : 1, iovs = 0;
	uint64_t space = 0;
	for (unsigned i = 0; i < limit && space < RX_MAX_PACKET; i++) {
		const struct rx_buf *b = cache_at(p, i);
		if (iovs + b->iov_cnt > NET_MAX_IOV)
			break;
		iovs += b->iov_cnt;
		space += b->len;
	}
	/* Room for any packet: read in place (the cached buffers' iovecs are
	 * contiguous in the pool, in cache order). */
	bool direct = space >= RX_MAX_PACKET;
	ssize_t n;
	do {
		if (direct)
			n = readv(p->tap_fd, &p->pool[cache_at(p, 0)->iov_off], (int)iovs);
		else
			n = read(p->tap_fd, p->bounce, RX_BOUNCE_SIZE);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return RX_EMPTY;
	/* A detached TAP queue (the pair is being disabled): stop polling it
	 * (it polls as an error) until the pair is enabled again. */
	if (n < 0 && errno == EBADFD)
		return RX_PAUSE;
	if (n <= 0) {
		log_ratelimited(&p->rl, LOG_LVL_ERROR, "virtio net: pair %u: reading the TAP: %s; receive stopped",
				p->idx, n == 0 ? "end of file" : strerror(errno));
		return RX_DEAD;
	}
	/* A TAP reports a truncated packet's full length. */
	if ((size_t)n > RX_MAX_PACKET)
		return rx_drop(p, "too large", (size_t)n);
	if ((size_t)n < VIRTIO_NET_HDR_SIZE)
		return rx_drop(p, "shorter than a header", (size_t)n);

	unsigned k = rx_split(p, (uint32_t)n);
	if (direct) {
		/* k > 0: space >= RX_MAX_PACKET >= n. */
		uint8_t hdr[VIRTIO_NET_HDR_SIZE];
		memset(hdr, 0, sizeof(hdr));
		const struct rx_buf *b = cache_at(p, 0);
		rx_fix_header(p, hdr, k);
		iov_put(&p->pool[b->iov_off], b->iov_cnt, offsetof(struct virtio_net_hdr12, num_buffers),
			hdr + offsetof(struct virtio_net_hdr12, num_buffers), 2);
		if (!negotiated(p->net, VIRTIO_NET_F_GUEST_CSUM))
			iov_put(&p->pool[b->iov_off], b->iov_cnt, 0, hdr, 1);
		return rx_publish(p, k, pushed);
	}
	if (k == 0) {
		if (!mrg)
			return rx_drop(p, "larger than the receive buffer", (size_t)n);
		p->pending_len = (uint32_t)n;
		return rx_pending(p, pushed);
	}
	return rx_deliver_bounce(p, k, pushed);
}

static void rx_run(struct net_pair *p)
{
	if (!p->rxq.ready || p->rx_broken || p->tap_dead || !atomic_load(&p->enabled)) {
		tap_watch(p, false);
		return;
	}
	bool pushed = false, waiting = false, paused = false;
	for (unsigned budget = RX_BUDGET; budget > 0; budget--) {
		enum rx_step s;
		if (rx_refill(p, &pushed) < 0)
			s = RX_BROKEN;
		else if (p->pending_len)
			s = rx_pending(p, &pushed);
		else if (p->cache_count == 0)
			s = RX_NEED_BUFS;
		else
			s = rx_one(p, &pushed);
		if (s == RX_AGAIN)
			continue;
		if (s == RX_NEED_BUFS) {
			/* Ask for a kick, then look again: buffers made available
			 * before the request took effect bring no kick. */
			vq_set_notification(&p->rxq.vq, true);
			if (vq_has_avail(&p->rxq.vq))
				continue;
			waiting = true;
		} else if (s == RX_PAUSE) {
			paused = true;
		} else if (s == RX_DEAD) {
			p->tap_dead = true;
		} else if (s == RX_BROKEN) {
			p->rx_broken = true;
		}
		break;
	}
	if (p->rxq.vq.broken && !p->rx_broken)
		p->rx_broken = true;
	if (p->rx_broken)
		signal_error(p->net);
	else if (pushed)
		(void)virtio_queue_notify(&p->rxq.vq, p->rxq.call_fd);
	if (!waiting && !p->rx_broken)
		vq_set_notification(&p->rxq.vq, false); /* buffers in hand: no kicks needed */
	tap_watch(p, !waiting && !paused && !p->tap_dead && !p->rx_broken);
}

/* ---- control queue ---- */

/* Applies an accepted MQ_VQ_PAIRS_SET. Returns the ack. */
static uint8_t set_pairs(struct virtio_net *net, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!net->pairs[i]->rxq.ready || !net->pairs[i]->txq.ready)
			return VIRTIO_NET_ERR;
	for (unsigned i = 1; i < net->used_pairs; i++) {
		struct net_pair *p = net->pairs[i];
		bool want = i < n;
		if (want == atomic_load(&p->enabled))
			continue;
		/* Steer the kernel's flows to the pairs in use. The pair stops
		 * reading before its queue goes, and has it back before it
		 * starts again (a detached queue reads as EBADFD). */
		if (!want) {
			atomic_store(&p->enabled, false);
			if (net->tap->set_queue_enabled(p->tap_fd, false) == 0)
				p->detached = true;
		} else {
			if (p->detached) {
				int r = net->tap->set_queue_enabled(p->tap_fd, true);
				if (r < 0)
					log_ratelimited(&net->rl, LOG_LVL_WARN,
							"virtio net: re-attaching TAP queue %u: %s", i, strerror(-r));
				else
					p->detached = false;
			}
			atomic_store(&p->enabled, true);
		}
		(void)evfd_signal(p->wake_fd);
	}
	return VIRTIO_NET_OK;
}

static int ctrl_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_net *net = ctx;
	(void)q;
	if (chain->writable_len < 1 || chain->writable_len > CTRL_MAX_ACK)
		return 0; /* nowhere sensible to answer */
	uint8_t ack = VIRTIO_NET_ERR;
	struct vq_reader r;
	vq_reader_init(&r, net->gm, chain);
	uint8_t cmd[2], data[CTRL_MAX_DATA];
	if (vq_read(&r, cmd, sizeof(cmd)) == 0) {
		size_t len = vq_reader_remaining(&r) < sizeof(data) ? (size_t)vq_reader_remaining(&r) : sizeof(data);
		unsigned pairs = 0;
		if (vq_read(&r, data, len) == 0)
			ack = virtio_net_ctrl_parse(cmd[0], cmd[1], data, len, net->features, net->used_pairs, &pairs);
		if (ack == VIRTIO_NET_OK && pairs > 0)
			ack = set_pairs(net, pairs);
	}
	/* The ack is the last byte of the writable part (5.1.6.5). */
	struct vq_writer w;
	vq_writer_init(&w, net->gm, chain);
	if (vq_writer_skip(&w, (size_t)chain->writable_len - 1) < 0 || vq_write(&w, &ack, 1) < 0)
		return 0;
	return (int)vq_writer_written(&w);
}

static void ctrl_run(struct virtio_net *net)
{
	if (!net->ctrlq.ready || net->ctrl_broken)
		return;
	if (virtio_queue_process(&net->ctrlq, "net", &net->ctrl_chain, ctrl_chain, net) < 0) {
		net->ctrl_broken = true;
		signal_error(net);
	}
}

/* ---- worker ---- */

static void pair_handle(void *ctx, uint32_t token)
{
	struct net_pair *p = ctx;
	switch (token) {
	case TOK_RX_KICK:
		(void)evfd_drain(p->rxq.kick_fd);
		rx_run(p);
		break;
	case TOK_TX_KICK:
		(void)evfd_drain(p->txq.kick_fd);
		tx_run(p);
		break;
	case TOK_TAP:
		rx_run(p);
		break;
	case TOK_TX_POLL:
		tx_unblock(p);
		tx_run(p);
		break;
	case TOK_WAKE:
		(void)evfd_drain(p->wake_fd);
		if (p->tx_resume) {
			p->tx_resume = false;
			tx_run(p);
		}
		rx_run(p);
		break;
	case TOK_CTRL:
		(void)evfd_drain(p->net->ctrlq.kick_fd);
		ctrl_run(p->net);
		break;
	default:
		break;
	}
}

static int pair_start(struct net_pair *p)
{
	struct virtio_worker_fd fds[6];
	size_t n = 0;
	if (p->rxq.ready)
		fds[n++] = (struct virtio_worker_fd){ p->rxq.kick_fd, TOK_RX_KICK };
	if (p->txq.ready)
		fds[n++] = (struct virtio_worker_fd){ p->txq.kick_fd, TOK_TX_KICK };
	fds[n++] = (struct virtio_worker_fd){ p->tx_poll_fd, TOK_TX_POLL };
	fds[n++] = (struct virtio_worker_fd){ p->wake_fd, TOK_WAKE };
	if (p->idx == 0 && p->net->ctrlq.ready)
		fds[n++] = (struct virtio_worker_fd){ p->net->ctrlq.kick_fd, TOK_CTRL };
	/* An enabled pair starts out polling the TAP; the first look at the
	 * (probably still empty) rx ring turns that off until buffers come. */
	p->tap_watched = atomic_load(&p->enabled) && p->rxq.ready;
	if (p->tap_watched)
		fds[n++] = (struct virtio_worker_fd){ p->tap_fd, TOK_TAP };
	char name[16];
	snprintf(name, sizeof(name), "v_net%u", p->idx);
	int r = virtio_worker_start(&p->worker, name, fds, n, pair_handle, p);
	if (r < 0)
		return r;
	p->running = true;
	return 0;
}

/* ---- device ops ---- */

static unsigned net_num_queues(void *dev)
{
	struct virtio_net *net = dev;
	return 2 * net->nr_pairs + (net->nr_pairs > 1 ? 1 : 0);
}

static uint16_t net_queue_max_size(void *dev, unsigned q)
{
	struct virtio_net *net = dev;
	return q == 2 * net->nr_pairs ? CTRL_QUEUE_SIZE : NET_QUEUE_SIZE;
}

static uint64_t net_features(void *dev)
{
	struct virtio_net *net = dev;
	return net->offered;
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *net = dev;
	virtio_config_read_bytes(net->config, VIRTIO_NET_CFG_SIZE, off, data, len);
}

/* mac is writable only for legacy drivers; everything else is read-only. */
static void net_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

static void pair_clear(struct net_pair *p)
{
	p->rx_broken = p->tx_broken = false;
	p->tap_watched = p->tap_dead = false;
	p->tx_blocked = p->tx_yield = p->tx_resume = false;
	p->cache_first = p->cache_count = 0;
	p->pool_lo = p->pool_hi = 0;
	p->pending_len = 0;
	p->rx_full = false;
	memset(&p->rxq, 0, sizeof(p->rxq));
	memset(&p->txq, 0, sizeof(p->txq));
}

/* Stops every worker and puts the TAP queues back as they were. */
static void stop_pairs(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = net->pairs[i];
		if (p->running) {
			virtio_worker_stop(&p->worker);
			p->running = false;
		}
		if (p->tx_blocked)
			tx_unblock(p);
		if (p->detached && net->tap->set_queue_enabled(p->tap_fd, true) == 0)
			p->detached = false;
		(void)evfd_drain(p->wake_fd);
		atomic_store(&p->enabled, false);
	}
}

static int net_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_net *net = dev;
	if (net->active)
		return -EBUSY;
	if (act->nr_queues < net_num_queues(net))
		return -EINVAL;
	net->gm = act->gm;
	net->features = act->features;
	net->error_fd = act->error_fd;
	atomic_store(&net->error_sent, false);
	net->ctrl_broken = false;
	memset(&net->ctrlq, 0, sizeof(net->ctrlq));
	bool mq = negotiated(net, VIRTIO_NET_F_MQ);
	net->used_pairs = mq ? net->nr_pairs : 1;

	/* The TAPs first: nothing to undo if they refuse. Every frame carries
	 * the 12-byte header; the offloads say what the guest accepts. */
	unsigned offloads = virtio_net_tap_offloads(net->features);
	for (unsigned i = 0; i < net->used_pairs; i++) {
		int r = net->tap->set_vnet_hdr_size(net->tap_fds[i], VIRTIO_NET_HDR_SIZE);
		if (r < 0)
			return r;
		if ((r = net->tap->set_offload(net->tap_fds[i], offloads)) < 0)
			return r;
	}

	/* 5.1.2: the control queue follows the pairs the driver uses. */
	if (negotiated(net, VIRTIO_NET_F_CTRL_VQ)) {
		unsigned ci = 2 * net->used_pairs;
		if (ci >= act->nr_queues)
			return -EINVAL;
		int r = virtio_queue_setup(&net->ctrlq, act->gm, &act->queues[ci]);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < net->nr_pairs; i++)
		pair_clear(net->pairs[i]);
	for (unsigned i = 0; i < net->used_pairs; i++) {
		struct net_pair *p = net->pairs[i];
		int r = virtio_queue_setup(&p->rxq, act->gm, &act->queues[2 * i]);
		if (r == 0)
			r = virtio_queue_setup(&p->txq, act->gm, &act->queues[2 * i + 1]);
		if (r < 0)
			return r;
		if (i == 0 && (!p->rxq.ready || !p->txq.ready))
			return -EINVAL;
	}

	/* 5.1.6.5.5: one pair until the driver asks for more. */
	int r = 0;
	for (unsigned i = 0; i < net->used_pairs; i++) {
		struct net_pair *p = net->pairs[i];
		atomic_store(&p->enabled, i == 0);
		if (i > 0 && net->tap->set_queue_enabled(p->tap_fd, false) == 0)
			p->detached = true;
	}
	for (unsigned i = 0; i < net->used_pairs && r == 0; i++) {
		struct net_pair *p = net->pairs[i];
		if (p->rxq.ready || p->txq.ready || i == 0)
			r = pair_start(p);
	}
	if (r < 0) {
		stop_pairs(net);
		return r;
	}
	net->active = true;
	return 0;
}

static void net_reset(void *dev)
{
	struct virtio_net *net = dev;
	if (!net->active)
		return;
	/* Cached receive buffers and a packet waiting for room are simply
	 * forgotten: the rings they belong to are gone. */
	stop_pairs(net);
	net->active = false;
}

static void pair_free(struct net_pair *p)
{
	if (!p)
		return;
	fd_close(&p->wake_fd);
	fd_close(&p->tx_poll_fd);
	free(p->bounce);
	free(p);
}

static void net_destroy(void *dev)
{
	struct virtio_net *net = dev;
	if (!net)
		return;
	net_reset(net);
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++) {
		pair_free(net->pairs[i]);
		fd_close(&net->tap_fds[i]);
	}
	free(net);
}

static const struct virtio_device_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = net_num_queues,
	.queue_max_size = net_queue_max_size,
	.features = net_features,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.destroy = net_destroy,
};

static struct net_pair *pair_new(struct virtio_net *net, unsigned idx)
{
	struct net_pair *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->net = net;
	p->idx = idx;
	p->tap_fd = net->tap_fds[idx];
	p->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	p->wake_fd = evfd_create();
	p->tx_poll_fd = epoll_create1(EPOLL_CLOEXEC);
	p->bounce = malloc(RX_BOUNCE_SIZE);
	if (p->wake_fd < 0 || p->tx_poll_fd < 0 || !p->bounce) {
		pair_free(p); /* fd_close skips the negative ones */
		return NULL;
	}
	return p;
}

static uint64_t offered_features(const struct virtio_net_options *o)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	static const unsigned net_bits[] = {
		VIRTIO_NET_F_CSUM,	 VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
		VIRTIO_NET_F_GUEST_ECN,	 VIRTIO_NET_F_HOST_TSO4,  VIRTIO_NET_F_HOST_TSO6,  VIRTIO_NET_F_HOST_ECN,
		VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS,
	};
	for (size_t i = 0; i < ARRAY_SIZE(net_bits); i++)
		f |= VIRTIO_BIT(net_bits[i]);
	if (o->has_mac)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MAC);
	if (o->mtu)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
	if (o->nr_pairs > 1)
		f |= VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_MQ);
	return f;
}

int virtio_net_create(const int *tap_fds, const struct virtio_net_options *o, struct virtio_device *out)
{
	unsigned n = o ? o->nr_pairs : 0;
	int fds[VIRTIO_NET_MAX_PAIRS];
	bool ok = o && tap_fds && n >= 1 && n <= VIRTIO_NET_MAX_PAIRS && (o->mtu == 0 || o->mtu >= 68);
	for (unsigned i = 0; ok && i < n; i++)
		ok = tap_fds[i] >= 0;
	if (!ok) {
		/* The fds are ours whatever happens: close what we were given. */
		for (unsigned i = 0; tap_fds && i < n; i++) {
			int fd = tap_fds[i];
			fd_close(&fd);
		}
		return -EINVAL;
	}
	for (unsigned i = 0; i < VIRTIO_NET_MAX_PAIRS; i++)
		fds[i] = i < n ? tap_fds[i] : -1;

	struct virtio_net *net = calloc(1, sizeof(*net));
	if (!net) {
		for (unsigned i = 0; i < n; i++)
			fd_close(&fds[i]);
		return -ENOMEM;
	}
	memcpy(net->tap_fds, fds, sizeof(fds));
	net->nr_pairs = n;
	net->tap = o->tap_ops ? o->tap_ops : &real_tap_ops;
	net->error_fd = -1;
	net->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	for (unsigned i = 0; i < n; i++) {
		net->pairs[i] = pair_new(net, i);
		if (!net->pairs[i]) {
			net_destroy(net);
			return -ENOMEM;
		}
	}
	net->offered = offered_features(o);
	if (o->has_mac)
		memcpy(net->config + VIRTIO_NET_CFG_MAC, o->mac, 6);
	put_le16(net->config + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	put_le16(net->config + VIRTIO_NET_CFG_MAX_PAIRS, (uint16_t)n);
	put_le16(net->config + VIRTIO_NET_CFG_MTU, o->mtu);
	*out = (struct virtio_device){ .ops = &net_ops, .dev = net };
	return 0;
}
