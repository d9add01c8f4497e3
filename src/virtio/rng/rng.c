/*
 * virtio-rng device. The driver queues writable buffers; each kick fills
 * them with getrandom() output. A request is capped at 64 KiB so one guest
 * buffer cannot keep the worker busy arbitrarily long; the driver simply
 * asks again.
 */
#include "virtio/rng/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/eventfd.h"
#include "virtio/core/queue.h"
#include "virtio/core/worker.h"

#define RNG_QUEUE_SIZE 256
#define RNG_MAX_REQUEST (64 * 1024)

struct virtio_rng {
	bool active;
	bool broken;
	const struct guest_memory *gm;
	struct virtio_queue q;
	int error_fd;
	struct virtio_worker worker;
	struct vq_chain chain;
};

static unsigned rng_num_queues(void *dev)
{
	(void)dev;
	return 1;
}

static uint16_t rng_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return RNG_QUEUE_SIZE;
}

static uint64_t rng_features(void *dev)
{
	(void)dev;
	return VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
}

/* No configuration space. */
static void rng_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0, len);
}

static void rng_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

static int fill_chain(void *ctx, struct virtio_queue *q, const struct vq_chain *chain)
{
	struct virtio_rng *rng = ctx;
	(void)q;
	struct vq_writer w;
	vq_writer_init(&w, rng->gm, chain);
	uint8_t buf[4096];
	while (vq_writer_remaining(&w) > 0 && vq_writer_written(&w) < RNG_MAX_REQUEST) {
		size_t n = vq_writer_remaining(&w) < sizeof(buf) ? (size_t)vq_writer_remaining(&w) : sizeof(buf);
		ssize_t got = getrandom(buf, n, 0);
		if (got <= 0)
			break;
		if (vq_write(&w, buf, (size_t)got) < 0)
			break;
	}
	return (int)vq_writer_written(&w);
}

static void rng_handle(void *ctx, uint32_t token)
{
	struct virtio_rng *rng = ctx;
	(void)token;
	(void)evfd_drain(rng->q.kick_fd);
	/* A broken ring is reported once; later kicks are drained and
	 * ignored until the driver resets the device. */
	if (!rng->broken && virtio_queue_process(&rng->q, "rng", &rng->chain, fill_chain, rng) < 0) {
		rng->broken = true;
		(void)evfd_signal(rng->error_fd);
	}
}

static int rng_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_rng *rng = dev;
	int r = virtio_queue_setup(&rng->q, act->gm, &act->queues[0]);
	if (r < 0)
		return r;
	if (!rng->q.ready)
		return -EINVAL;
	rng->gm = act->gm;
	rng->error_fd = act->error_fd;
	rng->broken = false;
	struct virtio_worker_fd fd = { rng->q.kick_fd, 0 };
	if ((r = virtio_worker_start(&rng->worker, "v_rng", &fd, 1, rng_handle, rng)) < 0)
		return r;
	rng->active = true;
	return 0;
}

static void rng_reset(void *dev)
{
	struct virtio_rng *rng = dev;
	if (!rng->active)
		return;
	virtio_worker_stop(&rng->worker);
	rng->active = false;
}

static void rng_destroy(void *dev)
{
	if (!dev)
		return;
	rng_reset(dev);
	free(dev);
}

static const struct virtio_device_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = rng_num_queues,
	.queue_max_size = rng_queue_max_size,
	.features = rng_features,
	.config_read = rng_config_read,
	.config_write = rng_config_write,
	.activate = rng_activate,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

int virtio_rng_create(struct virtio_device *out)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	rng->error_fd = -1;
	*out = (struct virtio_device){ .ops = &rng_ops, .dev = rng };
	return 0;
}
