/*
 * virtio-blk device (see block.h).
 *
 * A request is a chain: a 16-byte header (type, sector) in the readable
 * part, data (readable for writes, writable for reads), and one writable
 * status byte at the very end. The worker parses and checks each chain
 * (block_request.c), hands reads, writes and flushes to the disk engine
 * with iovecs straight into guest memory, and completes the chain when the
 * engine's completion arrives. Requests that need no I/O (GET_ID, errors)
 * complete at once.
 *
 * Threads: the worker owns the queue and the disk's I/O. vCPU threads read
 * the configuration space (config_read, under the transport's lock) and the
 * control server thread resizes the disk (virtio_blk_resize). What those
 * share is under `lock`: the configuration bytes (the capacity changes on
 * a resize) and the activation's config_fd. The worker never takes it: it
 * checks each request against disk_size(), an atomic the resize moves, so
 * a request is always judged by the capacity of the moment. Lock order:
 * the transport's lock before ours; we never take the transport's.
 */
#include "virtio/block/block.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/eventfd.h"
#include "base/log.h"
#include "virtio/block/block_request.h"
#include "virtio/core/queue.h"
#include "virtio/core/worker.h"

#define BLK_QUEUE_SIZE 256
/* Data segments per request (seg_max): the queue size less header and
 * status, so one request can always fit in the ring. */
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2)
/* Discards are cheap (a hole punched); zeroing may fall back to writing
 * zeros synchronously in the worker, so keep one request short. */

#define TOKEN_KICK 0
#define TOKEN_DISK 1

/* virtio_blk_config offsets. */
#define CFG_CAPACITY 0
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20
#define CFG_NUM_QUEUES 34
#define CFG_MAX_DISCARD_SECTORS 36
#define CFG_MAX_DISCARD_SEG 40
#define CFG_DISCARD_ALIGNMENT 44
#define CFG_MAX_WRITE_ZEROES_SECTORS 48
#define CFG_MAX_WRITE_ZEROES_SEG 52
#define CFG_WRITE_ZEROES_MAY_UNMAP 56
#define CFG_SIZE 60

/* A request handed to the disk engine. */
struct blk_inflight {
	bool used;
	uint16_t head;
	gpa_t status_addr;
	uint32_t data_written; /* bytes the device writes on success (reads) */
	uint64_t expected;     /* result that means success */
};

struct virtio_blk {
	struct disk *disk; /* owned */
	struct virtio_blk_options opts;
	uint64_t features;

	pthread_mutex_t lock;
	/* Under lock. */
	uint8_t config[CFG_SIZE];
	int config_fd; /* borrowed while active, else -1 */
	/* The configuration changed while no config_fd was ours: a driver
	 * that read it before DRIVER_OK may hold the old capacity, so tell
	 * it as soon as it is running (a needless reread is harmless). */
	bool config_changed;

	/* The transport's threads (activate/reset) and, while active, the
	 * worker. */
	bool active;
	const struct guest_memory *gm;
	struct virtio_queue q;
	int error_fd;
	bool broken;
	struct virtio_worker worker;
	unsigned nr_inflight;
	struct blk_inflight inflight[DISK_MAX_IN_FLIGHT];
	struct iovec iov[DISK_MAX_IOVECS];
	struct vq_chain chain;
};

static void put_le(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static unsigned blk_num_queues(void *dev)
{
	(void)dev;
	return 1;
}

static uint16_t blk_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return BLK_QUEUE_SIZE;
}

static uint64_t blk_features(void *dev)
{
	struct virtio_blk *b = dev;
	return b->features;
}

static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = dev;
	/* Under the lock, so a read never sees a capacity half updated. A
	 * driver reading the 64-bit capacity in two halves across a resize
	 * may still mix old and new: the config interrupt that follows every
	 * change (and the generation it bumps) makes it read again. */
	pthread_mutex_lock(&b->lock);
	virtio_config_read_bytes(b->config, CFG_SIZE, off, data, len);
	pthread_mutex_unlock(&b->lock);
}

/* writeback is the only writable field, and only with CONFIG_WCE, which
 * we do not offer: the configuration is read-only. */
static void blk_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

static void write_status(struct virtio_blk *b, gpa_t addr, uint8_t status)
{
	/* The address was checked when the chain was popped; a failure here
	 * means the memory map changed, and there is nobody left to tell. */
	if (gm_write(b->gm, addr, &status, 1) < 0)
		return;
}

static struct blk_inflight *alloc_inflight(struct virtio_blk *b)
{
	for (unsigned i = 0; i < DISK_MAX_IN_FLIGHT; i++)
		if (!b->inflight[i].used) {
			b->inflight[i].used = true;
			return &b->inflight[i];
		}
	return NULL;
}

static int handle_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_blk *b = ctx;
	(void)q;
	struct blk_request req;
	/* Whole sectors only: a trailing partial sector is not the guest's. */
	uint64_t bytes = disk_size(b->disk) / VIRTIO_BLK_SECTOR_SIZE * VIRTIO_BLK_SECTOR_SIZE;
	uint8_t status = blk_request_parse(b->gm, chain, bytes, &b->opts, &req);
	if (req.status_addr_valid == false)
		return 0; /* no status byte to answer with: complete, write nothing */
	if (status != VIRTIO_BLK_S_OK || req.op == BLK_REQ_NONE) {
		write_status(b, req.status_addr, status);
		return (int)req.written_without_io + 1;
	}
	if (req.op == BLK_REQ_GET_ID) {
		int r = blk_request_write_id(b->gm, chain, &b->opts, &req);
		write_status(b, req.status_addr, r < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
		return (r < 0 ? 0 : r) + 1;
	}

	struct blk_inflight *f = alloc_inflight(b);
	if (!f)
		return VIRTIO_CHAIN_STOP; /* engine full: retry after completions */
	struct disk_request d = { .offset = req.offset, .len = req.len, .user = f };
	int niov = 0;
	if (req.op == BLK_REQ_READ || req.op == BLK_REQ_WRITE) {
		niov = blk_request_data_iov(b->gm, chain, &req, b->iov, DISK_MAX_IOVECS);
		if (niov < 0) {
			f->used = false;
			write_status(b, req.status_addr, VIRTIO_BLK_S_IOERR);
			return 1;
		}
	}
	switch (req.op) {
	case BLK_REQ_READ:
		d.op = DISK_OP_READ;
		break;
	case BLK_REQ_WRITE:
		d.op = DISK_OP_WRITE;
		break;
	case BLK_REQ_FLUSH:
		d.op = DISK_OP_FLUSH;
		break;
	case BLK_REQ_DISCARD:
		d.op = DISK_OP_DISCARD;
		break;
	default:
		d.op = DISK_OP_WRITE_ZEROES;
		break;
	}
	d.iov = b->iov;
	d.iovcnt = (unsigned)niov;
	f->head = chain->head;
	f->status_addr = req.status_addr;
	f->data_written = req.op == BLK_REQ_READ ? (uint32_t)req.len : 0;
	f->expected = (req.op == BLK_REQ_READ || req.op == BLK_REQ_WRITE) ? req.len : 0;
	int r = disk_submit(b->disk, &d);
	if (r == -EAGAIN) {
		f->used = false;
		return VIRTIO_CHAIN_STOP;
	}
	if (r < 0) {
		f->used = false;
		write_status(b, req.status_addr, VIRTIO_BLK_S_IOERR);
		return 1;
	}
	b->nr_inflight++;
	return VIRTIO_CHAIN_KEPT;
}

static void mark_broken(struct virtio_blk *b)
{
	if (b->broken)
		return;
	/* Kicks are still drained, but nothing is popped until a reset. */
	b->broken = true;
	(void)evfd_signal(b->error_fd);
}

static void process_queue(struct virtio_blk *b)
{
	if (!b->broken && virtio_queue_process(&b->q, "block", &b->chain, handle_chain, b) < 0)
		mark_broken(b);
}

/* Completes what the engine finished. Returns how many. */
static unsigned reap(struct virtio_blk *b, bool publish)
{
	struct disk_completion done[32];
	unsigned total = 0;
	int n;
	bool pushed = false;
	while ((n = disk_reap(b->disk, done, 32)) > 0) {
		for (int i = 0; i < n; i++) {
			struct blk_inflight *f = done[i].user;
			bool ok = done[i].result >= 0 && (uint64_t)done[i].result == f->expected;
			if (publish && !b->broken) {
				write_status(b, f->status_addr, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
				if (vq_push(&b->q.vq, f->head, (ok ? f->data_written : 0) + 1) < 0)
					mark_broken(b);
				else
					pushed = true;
			}
			f->used = false;
			b->nr_inflight--;
		}
		total += (unsigned)n;
	}
	if (pushed)
		(void)virtio_queue_notify(&b->q.vq, b->q.call_fd);
	return total;
}

static void blk_handle(void *ctx, uint32_t token)
{
	struct virtio_blk *b = ctx;
	if (token == TOKEN_KICK) {
		(void)evfd_drain(b->q.kick_fd);
		process_queue(b);
		return;
	}
	/* Completions free engine slots: requests held back may go now. */
	if (reap(b, true) > 0)
		process_queue(b);
}

static int blk_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_blk *b = dev;
	int r = virtio_queue_setup(&b->q, act->gm, &act->queues[0]);
	if (r < 0)
		return r;
	if (!b->q.ready)
		return -EINVAL;
	b->gm = act->gm;
	b->error_fd = act->error_fd;
	b->broken = false;
	struct virtio_worker_fd fds[2] = {
		{ b->q.kick_fd, TOKEN_KICK },
		{ disk_completion_fd(b->disk), TOKEN_DISK },
	};
	if ((r = virtio_worker_start(&b->worker, "v_blk", fds, 2, blk_handle, b)) < 0)
		return r;
	b->active = true;
	pthread_mutex_lock(&b->lock);
	b->config_fd = act->config_fd;
	if (b->config_changed)
		(void)evfd_signal(b->config_fd);
	b->config_changed = false;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void blk_reset(void *dev)
{
	struct virtio_blk *b = dev;
	/* First: config_fd stops being ours to write with the reset. */
	pthread_mutex_lock(&b->lock);
	b->config_fd = -1;
	pthread_mutex_unlock(&b->lock);
	if (!b->active)
		return;
	virtio_worker_stop(&b->worker);
	/* Requests still in the engine write into guest memory; wait for
	 * them, and drop their results (the rings are gone). */
	while (b->nr_inflight > 0) {
		struct pollfd p = { .fd = disk_completion_fd(b->disk), .events = POLLIN };
		(void)poll(&p, 1, 100);
		reap(b, false);
	}
	b->active = false;
}

static void blk_destroy(void *dev)
{
	struct virtio_blk *b = dev;
	if (!b)
		return;
	blk_reset(b);
	disk_close(b->disk);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct virtio_device_ops blk_ops = {
	.name = "block",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = blk_num_queues,
	.queue_max_size = blk_queue_max_size,
	.features = blk_features,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

static void build_config(struct virtio_blk *b)
{
	uint8_t *c = b->config;
	put_le(c + CFG_CAPACITY, disk_size(b->disk) / VIRTIO_BLK_SECTOR_SIZE, 8);
	put_le(c + CFG_SEG_MAX, BLK_SEG_MAX, 4);
	put_le(c + CFG_BLK_SIZE, b->opts.block_size, 4);
	put_le(c + CFG_NUM_QUEUES, 1, 2);
	if (b->features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)) {
		put_le(c + CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
		put_le(c + CFG_MAX_DISCARD_SEG, 1, 4);
		put_le(c + CFG_DISCARD_ALIGNMENT, b->opts.block_size / VIRTIO_BLK_SECTOR_SIZE, 4);
	}
	if (b->features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)) {
		put_le(c + CFG_MAX_WRITE_ZEROES_SECTORS, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS, 4);
		put_le(c + CFG_MAX_WRITE_ZEROES_SEG, 1, 4);
		c[CFG_WRITE_ZEROES_MAY_UNMAP] = b->opts.sparse;
	}
}

int virtio_blk_create(struct disk *disk, const struct virtio_blk_options *opts, struct virtio_device *out)
{
	uint32_t bs = opts->block_size;
	if (bs < VIRTIO_BLK_SECTOR_SIZE || (bs & (bs - 1)) || bs > 65536 ||
	    strnlen(opts->id, sizeof(opts->id)) > VIRTIO_BLK_ID_BYTES) {
		disk_close(disk);
		return -EINVAL;
	}
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b) {
		disk_close(disk);
		return -ENOMEM;
	}
	int r = -pthread_mutex_init(&b->lock, NULL);
	if (r < 0) {
		free(b);
		disk_close(disk);
		return r;
	}
	b->disk = disk;
	b->opts = *opts;
	b->error_fd = -1;
	b->config_fd = -1;
	b->features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		      VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
		      VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (opts->read_only)
		b->features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		b->features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
			       (opts->sparse ? VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) : 0);
	build_config(b);
	*out = (struct virtio_device){ .ops = &blk_ops, .dev = b };
	return 0;
}

bool virtio_blk_is_block(const struct virtio_device *d)
{
	return d && d->ops == &blk_ops;
}

bool virtio_blk_read_only(const void *dev)
{
	const struct virtio_blk *b = dev;
	return b->opts.read_only || disk_read_only(b->disk);
}

int virtio_blk_resize(void *dev, uint64_t new_size)
{
	struct virtio_blk *b = dev;
	if (virtio_blk_read_only(b))
		return -EROFS;
	/* Not under our lock: ftruncate may take a while, and vCPUs reading
	 * the configuration would wait for it. The disk serialises resizes
	 * itself, and the capacity below is read back from the disk under
	 * our lock, so after concurrent resizes the last to publish writes
	 * the size the disk ended at. */
	int r = disk_set_size(b->disk, new_size);
	if (r < 0)
		return r;
	pthread_mutex_lock(&b->lock);
	/* Whole sectors only, as handle_chain counts them. */
	uint64_t sectors = disk_size(b->disk) / VIRTIO_BLK_SECTOR_SIZE;
	bool changed = get_le64(b->config + CFG_CAPACITY) != sectors;
	put_le(b->config + CFG_CAPACITY, sectors, 8);
	/* Under the lock: config_fd is only borrowed while active. Signalling
	 * an eventfd cannot block. */
	if (changed && b->config_fd >= 0)
		(void)evfd_signal(b->config_fd);
	else if (changed)
		b->config_changed = true;
	pthread_mutex_unlock(&b->lock);
	return 0;
}
