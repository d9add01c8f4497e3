/*
 * virtio-balloon device (see balloon.h).
 *
 * Three kinds of thread touch the device. The worker owns the queues:
 * inflate chains carry arrays of little-endian 32-bit PFNs, each checked
 * to name a 4 KiB page wholly inside one guest memory region (bad ones are
 * skipped and logged at a limited rate); runs of adjacent pages, in either
 * direction, are coalesced and punched out of the memfd with one
 * gm_discard() each. Deflate chains need no work: without
 * VIRTIO_BALLOON_F_MUST_TELL_HOST the guest may reuse the pages at once
 * and they fault back in as zeros. The stats queue follows 5.5.6.3: the
 * guest's report buffer is parsed and kept (VIRTIO_CHAIN_KEPT); handing it
 * back is how the host asks for the next report.
 *
 * vCPU threads read and write the configuration space (num_pages, and the
 * guest's `actual`), and the control socket thread sets the target, reads
 * `actual` and the statistics, and asks for new statistics. Everything
 * those share with the worker is under `lock`. A stats request from the
 * control thread reaches the worker through an eventfd of our own, since
 * only the worker may touch the queues. Lock order: the transport's lock
 * (held around config_read/config_write/reset) before ours; we never take
 * the transport's.
 */
#include "virtio/balloon/balloon.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"
#include "virtio/core/queue.h"
#include "virtio/core/worker.h"

#define BALLOON_QUEUE_SIZE 256
#define BALLOON_NR_QUEUES 3
#define BALLOON_PFN_SHIFT 12
/* PFNs looked at per inflate chain; Linux sends at most 256. The rest of a
 * longer chain is ignored, which bounds the worker's time per chain. */
#define BALLOON_MAX_PFNS (64 * 1024)
#define PFN_BATCH 256
/* Stats entries parsed per report (Linux sends 10 to 16). */
#define BALLOON_MAX_STATS 64
#define STAT_ENTRY_SIZE 10 /* le16 tag, le64 val, packed */

/* struct virtio_balloon_config: num_pages, actual; the rest (free page
 * hinting, page poisoning) belongs to features we do not offer. */
#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4
#define CFG_SIZE 8

#define TOKEN_STATS_REQ BALLOON_NR_QUEUES /* after the queues' kicks */

struct virtio_balloon {
	uint64_t features; /* offered; constant */
	int stats_req_fd;  /* owned eventfd: "hand the stats buffer back" */

	pthread_mutex_t lock;
	pthread_cond_t stats_cond; /* broadcast on each new report */
	/* Under lock. */
	uint32_t num_pages;	/* target, set by the host */
	uint32_t actual;	/* pages in the balloon, written by the guest */
	bool active;
	bool stats_enabled;	/* the driver took STATS_VQ and enabled queue 2 */
	int config_fd;		/* borrowed while active */
	struct virtio_balloon_stats stats;

	/* Worker thread only (and activate/reset, with the worker stopped). */
	const struct guest_memory *gm; /* borrowed while active */
	struct virtio_queue q[BALLOON_NR_QUEUES];
	unsigned nr_queues;
	int error_fd; /* borrowed while active */
	bool broken;
	bool stats_held; /* stats_head is the guest's report buffer, kept */
	uint16_t stats_head;
	struct virtio_worker worker;
	struct log_ratelimit log;
	struct vq_chain chain;
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static unsigned balloon_num_queues(void *dev)
{
	struct virtio_balloon *b = dev;
	return b->features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) ? 3 : 2;
}

static uint16_t balloon_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return BALLOON_QUEUE_SIZE;
}

static uint64_t balloon_features(void *dev)
{
	struct virtio_balloon *b = dev;
	return b->features;
}

/* The configuration space as the guest sees it (lock held). */
static void config_bytes(const struct virtio_balloon *b, uint8_t cfg[CFG_SIZE])
{
	put_le32(cfg + CFG_NUM_PAGES, b->num_pages);
	put_le32(cfg + CFG_ACTUAL, b->actual);
}

static void balloon_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = dev;
	uint8_t cfg[CFG_SIZE];
	pthread_mutex_lock(&b->lock);
	config_bytes(b, cfg);
	pthread_mutex_unlock(&b->lock);
	virtio_config_read_bytes(cfg, CFG_SIZE, off, data, len);
}

/* Only `actual` is the driver's to write; any byte of it may come alone. */
static void balloon_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_balloon *b = dev;
	uint8_t cfg[CFG_SIZE];
	pthread_mutex_lock(&b->lock);
	config_bytes(b, cfg);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t pos = (uint64_t)off + i;
		if (pos >= CFG_ACTUAL && pos < CFG_ACTUAL + 4)
			cfg[pos] = data[i];
	}
	b->actual = get_le32(cfg + CFG_ACTUAL);
	pthread_mutex_unlock(&b->lock);
}

static void mark_broken(struct virtio_balloon *b)
{
	if (b->broken)
		return;
	b->broken = true;
	/* Once per activation: no rate limit needed. */
	log_warn("virtio balloon: the driver broke a virtqueue; stopped until reset");
	(void)evfd_signal(b->error_fd);
}

/* ---- inflate and deflate ---- */

/* A run of adjacent guest pages inside one region. */
struct page_run {
	const struct gm_region *region; /* NULL: empty */
	uint64_t start, end;
};

static void run_flush(struct virtio_balloon *b, struct page_run *run)
{
	if (!run->region)
		return;
	int r = gm_discard(b->gm, GPA(run->start), run->end - run->start);
	if (r < 0)
		log_ratelimited(&b->log, LOG_LVL_WARN, "virtio balloon: releasing 0x%llx+0x%llx: %s",
				(unsigned long long)run->start, (unsigned long long)(run->end - run->start),
				strerror(-r));
	run->region = NULL;
}

static void run_add(struct virtio_balloon *b, struct page_run *run, const struct gm_region *region, uint64_t addr)
{
	if (run->region == region) {
		if (addr == run->end) {
			run->end += VIRTIO_BALLOON_PAGE_SIZE;
			return;
		}
		if (addr + VIRTIO_BALLOON_PAGE_SIZE == run->start) {
			run->start = addr;
			return;
		}
	}
	run_flush(b, run);
	*run = (struct page_run){ region, addr, addr + VIRTIO_BALLOON_PAGE_SIZE };
}

static int inflate_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_balloon *b = ctx;
	(void)q;
	struct vq_reader r;
	vq_reader_init(&r, b->gm, chain);
	/* A trailing partial PFN is ignored. */
	uint64_t left = chain->readable_len / sizeof(uint32_t);
	if (left > BALLOON_MAX_PFNS)
		left = BALLOON_MAX_PFNS;
	struct page_run run = { 0 };
	uint64_t bad = 0, first_bad = 0;
	uint8_t buf[PFN_BATCH * sizeof(uint32_t)];
	while (left > 0) {
		size_t n = left < PFN_BATCH ? (size_t)left : PFN_BATCH;
		if (vq_read(&r, buf, n * sizeof(uint32_t)) < 0)
			break; /* cannot happen: the length was checked at pop */
		left -= n;
		for (size_t i = 0; i < n; i++) {
			uint32_t pfn = get_le32(buf + i * sizeof(uint32_t));
			/* At most 2^44: no overflow. */
			uint64_t addr = (uint64_t)pfn << BALLOON_PFN_SHIFT;
			const struct gm_region *region = gm_find_region(b->gm, GPA(addr));
			if (!region || !gm_range_valid(b->gm, GPA(addr), VIRTIO_BALLOON_PAGE_SIZE)) {
				if (bad++ == 0)
					first_bad = pfn;
				continue;
			}
			run_add(b, &run, region, addr);
		}
	}
	run_flush(b, &run);
	if (bad > 0)
		log_ratelimited(&b->log, LOG_LVL_WARN,
				"virtio balloon: %llu inflated PFNs outside guest memory ignored (first 0x%llx)",
				(unsigned long long)bad, (unsigned long long)first_bad);
	return 0;
}

/* Deflated pages are simply the guest's again. */
static int deflate_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	(void)ctx, (void)q, (void)chain;
	return 0;
}

/* ---- statistics ---- */

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int stats_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_balloon *b = ctx;
	struct vq_reader r;
	vq_reader_init(&r, b->gm, chain);
	/* Copied out once, then decoded: a trailing partial entry and unknown
	 * tags are ignored; for a repeated tag the last value counts. */
	struct virtio_balloon_stats s = { .timestamp_ns = now_ns() };
	uint64_t n = chain->readable_len / STAT_ENTRY_SIZE;
	if (n > BALLOON_MAX_STATS)
		n = BALLOON_MAX_STATS;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t e[STAT_ENTRY_SIZE];
		if (vq_read(&r, e, sizeof(e)) < 0)
			break;
		uint16_t tag = (uint16_t)(e[0] | e[1] << 8);
		if (tag >= VIRTIO_BALLOON_S_NR)
			continue;
		s.val[tag] = get_le64(e + 2);
		s.valid |= 1u << tag;
	}

	/* The guest should have one report buffer out at a time; if it sends
	 * another while we hold one, the newer is kept and the older handed
	 * back. */
	if (b->stats_held && virtio_queue_complete(q, b->stats_head, 0) < 0)
		return 0; /* the ring broke: virtio_queue_process reports it */
	b->stats_held = true;
	b->stats_head = chain->head;

	pthread_mutex_lock(&b->lock);
	s.generation = b->stats.generation + 1;
	b->stats = s;
	pthread_cond_broadcast(&b->stats_cond);
	pthread_mutex_unlock(&b->lock);
	return VIRTIO_CHAIN_KEPT;
}

static void give_back_stats(struct virtio_balloon *b)
{
	if (b->broken || !b->stats_held)
		return; /* no buffer: the guest is still answering the last request */
	b->stats_held = false;
	if (virtio_queue_complete(&b->q[VIRTIO_BALLOON_STATS_QUEUE], b->stats_head, 0) < 0)
		mark_broken(b);
}

/* ---- worker ---- */

static const virtio_chain_fn chain_fns[BALLOON_NR_QUEUES] = { inflate_chain, deflate_chain, stats_chain };

static void balloon_handle(void *ctx, uint32_t token)
{
	struct virtio_balloon *b = ctx;
	if (token == TOKEN_STATS_REQ) {
		(void)evfd_drain(b->stats_req_fd);
		give_back_stats(b);
		return;
	}
	if (token >= b->nr_queues)
		return;
	struct virtio_queue *q = &b->q[token];
	(void)evfd_drain(q->kick_fd);
	if (!b->broken && q->ready && virtio_queue_process(q, "balloon", &b->chain, chain_fns[token], b) < 0)
		mark_broken(b);
}

static int balloon_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_balloon *b = dev;
	unsigned nq = balloon_num_queues(b);
	if (act->nr_queues < nq)
		return -EINVAL;
	int r;
	for (unsigned i = 0; i < nq; i++)
		if ((r = virtio_queue_setup(&b->q[i], act->gm, &act->queues[i])) < 0)
			return r;
	/* inflateq and deflateq are mandatory; statsq comes with STATS_VQ. */
	if (!b->q[VIRTIO_BALLOON_INFLATE_QUEUE].ready || !b->q[VIRTIO_BALLOON_DEFLATE_QUEUE].ready)
		return -EINVAL;
	bool stats = nq > VIRTIO_BALLOON_STATS_QUEUE && (act->features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)) &&
		     b->q[VIRTIO_BALLOON_STATS_QUEUE].ready;
	if (!stats && nq > VIRTIO_BALLOON_STATS_QUEUE)
		b->q[VIRTIO_BALLOON_STATS_QUEUE].ready = false;
	b->nr_queues = nq;
	b->gm = act->gm;
	b->error_fd = act->error_fd;
	b->broken = false;
	b->stats_held = false;
	b->log = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	/* A request made before this activation has no buffer to answer. */
	(void)evfd_drain(b->stats_req_fd);

	struct virtio_worker_fd fds[BALLOON_NR_QUEUES + 1];
	size_t n = 0;
	for (unsigned i = 0; i < nq; i++)
		if (b->q[i].ready)
			fds[n++] = (struct virtio_worker_fd){ b->q[i].kick_fd, i };
	fds[n++] = (struct virtio_worker_fd){ b->stats_req_fd, TOKEN_STATS_REQ };
	if ((r = virtio_worker_start(&b->worker, "v_balloon", fds, n, balloon_handle, b)) < 0)
		return r;

	pthread_mutex_lock(&b->lock);
	b->active = true;
	b->stats_enabled = stats;
	b->config_fd = act->config_fd;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void balloon_reset(void *dev)
{
	struct virtio_balloon *b = dev;
	pthread_mutex_lock(&b->lock);
	bool was_active = b->active;
	b->active = false;
	b->stats_enabled = false;
	b->config_fd = -1;
	/* A new driver starts with an empty balloon (all memory usable). The
	 * target stays: it is the host's. */
	b->actual = 0;
	pthread_mutex_unlock(&b->lock);
	if (!was_active)
		return;
	virtio_worker_stop(&b->worker);
	/* The held stats buffer went away with the rings. */
	b->stats_held = false;
	b->gm = NULL;
	b->error_fd = -1;
}

static void balloon_destroy(void *dev)
{
	struct virtio_balloon *b = dev;
	if (!b)
		return;
	balloon_reset(b);
	fd_close(&b->stats_req_fd);
	pthread_cond_destroy(&b->stats_cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct virtio_device_ops balloon_ops = {
	.name = "balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.num_queues = balloon_num_queues,
	.queue_max_size = balloon_queue_max_size,
	.features = balloon_features,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.activate = balloon_activate,
	.reset = balloon_reset,
	.destroy = balloon_destroy,
};

int virtio_balloon_create(const struct virtio_balloon_options *opts, struct virtio_device *out)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->config_fd = b->error_fd = -1;
	b->features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		      VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (opts && opts->stats)
		b->features |= VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
	if (opts && opts->deflate_on_oom)
		b->features |= VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);

	int r;
	b->stats_req_fd = evfd_create();
	if (b->stats_req_fd < 0) {
		r = b->stats_req_fd;
		goto err_free;
	}
	if ((r = -pthread_mutex_init(&b->lock, NULL)) < 0)
		goto err_fd;
	pthread_condattr_t ca;
	if ((r = -pthread_condattr_init(&ca)) < 0)
		goto err_mutex;
	/* Waits time out on the monotonic clock, like the stats timestamps. */
	r = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = -pthread_cond_init(&b->stats_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (r < 0)
		goto err_mutex;
	*out = (struct virtio_device){ .ops = &balloon_ops, .dev = b };
	return 0;

err_mutex:
	pthread_mutex_destroy(&b->lock);
err_fd:
	fd_close(&b->stats_req_fd);
err_free:
	free(b);
	return r;
}

struct virtio_balloon *virtio_balloon_from_device(const struct virtio_device *d)
{
	return d && d->ops == &balloon_ops ? d->dev : NULL;
}

int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes)
{
	uint64_t pages = bytes / VIRTIO_BALLOON_PAGE_SIZE;
	if (pages > UINT32_MAX)
		return -ERANGE;
	pthread_mutex_lock(&b->lock);
	bool changed = b->num_pages != (uint32_t)pages;
	b->num_pages = (uint32_t)pages;
	/* Under the lock: config_fd is only borrowed while active. Signalling
	 * an eventfd cannot block. */
	if (changed && b->active)
		(void)evfd_signal(b->config_fd);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

uint64_t virtio_balloon_target(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t v = (uint64_t)b->num_pages * VIRTIO_BALLOON_PAGE_SIZE;
	pthread_mutex_unlock(&b->lock);
	return v;
}

uint64_t virtio_balloon_actual(struct virtio_balloon *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t v = (uint64_t)b->actual * VIRTIO_BALLOON_PAGE_SIZE;
	pthread_mutex_unlock(&b->lock);
	return v;
}

int virtio_balloon_request_stats(struct virtio_balloon *b, uint64_t *generation)
{
	if (!(b->features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ)))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&b->lock);
	int r = !b->active ? -ENOTCONN : !b->stats_enabled ? -EOPNOTSUPP : 0;
	if (generation)
		*generation = b->stats.generation;
	pthread_mutex_unlock(&b->lock);
	if (r < 0)
		return r;
	/* The worker hands the buffer back; a saturated counter still wakes
	 * it, so this cannot fail in a way worth reporting. */
	(void)evfd_signal(b->stats_req_fd);
	return 0;
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->lock);
}

int virtio_balloon_wait_stats(struct virtio_balloon *b, uint64_t after_generation, int timeout_ms,
			      struct virtio_balloon_stats *out)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&b->lock);
	int rc = 0;
	while (b->stats.generation <= after_generation && rc == 0 && timeout_ms != 0) {
		if (timeout_ms < 0)
			rc = pthread_cond_wait(&b->stats_cond, &b->lock);
		else
			rc = pthread_cond_timedwait(&b->stats_cond, &b->lock, &deadline);
	}
	*out = b->stats;
	pthread_mutex_unlock(&b->lock);
	return out->generation > after_generation ? 0 : -ETIMEDOUT;
}
