/*
 * The per-kick queue loop shared by every device (see queue.h).
 *
 * Notifications from the driver are switched off while the loop drains
 * the ring and back on before it stops; a chain that arrives in between is
 * caught by the second look at the ring after re-enabling (the fence for
 * that is inside vq_set_notification).
 */
#include "virtio/core/queue.h"

#include <errno.h>
#include <string.h>

int virtio_queue_setup(struct virtio_queue *q, const struct guest_memory *gm, const struct virtio_queue_setup *s)
{
	memset(q, 0, sizeof(*q));
	q->kick_fd = s->kick_fd;
	q->call_fd = s->call_fd;
	q->bad_chain_log = (struct log_ratelimit)LOG_RATELIMIT_INIT;
	if (s->cfg.size == 0)
		return 0;
	int r = vq_init(&q->vq, gm, &s->cfg);
	if (r < 0)
		return r;
	q->ready = true;
	return 0;
}

int virtio_queue_process(struct virtio_queue *q, const char *dev_name, struct vq_chain *chain, virtio_chain_fn fn,
			 void *ctx)
{
	if (!q->ready || q->vq.broken)
		return -EIO;
	bool pushed = false, stop = false;
	int err = 0;
	while (!stop && !err) {
		vq_set_notification(&q->vq, false);
		for (;;) {
			int r = vq_pop(&q->vq, chain);
			if (r == 0)
				break;
			if (r == -EBADMSG) {
				log_ratelimited(&q->bad_chain_log, LOG_LVL_WARN,
						"virtio %s: malformed descriptor chain (head %u) refused", dev_name,
						(unsigned)chain->head);
				if ((err = vq_push(&q->vq, chain->head, 0)) < 0)
					break;
				pushed = true;
				continue;
			}
			if (r < 0) {
				err = -EIO;
				break;
			}
			int n = fn(ctx, q, chain);
			if (n == VIRTIO_CHAIN_STOP) {
				vq_unpop(&q->vq);
				stop = true;
				break;
			}
			if (n == VIRTIO_CHAIN_KEPT)
				continue;
			if ((err = vq_push(&q->vq, chain->head, (uint32_t)(n < 0 ? 0 : n))) < 0)
				break;
			pushed = true;
		}
		if (stop || err)
			break;
		vq_set_notification(&q->vq, true);
		if (!vq_has_avail(&q->vq))
			break;
	}
	if (stop)
		vq_set_notification(&q->vq, true);
	if (pushed)
		(void)virtio_queue_notify(&q->vq, q->call_fd);
	return err < 0 ? -EIO : 0;
}

int virtio_queue_complete(struct virtio_queue *q, uint16_t head, uint32_t written)
{
	int r = vq_push(&q->vq, head, written);
	if (r < 0)
		return -EIO;
	(void)virtio_queue_notify(&q->vq, q->call_fd);
	return 0;
}
