/*
 * One activated queue as a device's worker drives it, and the loop every
 * device runs on a kick: pop each available chain, hand it to the device,
 * publish the result, with notifications suppressed while the loop runs and
 * one interrupt at the end if the driver wants it.
 */
#ifndef CROSVM_VIRTIO_CORE_QUEUE_H
#define CROSVM_VIRTIO_CORE_QUEUE_H

#include <stdbool.h>

#include "base/log.h"
#include "virtio/core/virtio.h"
#include "virtio/core/virtq.h"

struct virtio_queue {
	struct virtq vq;
	int kick_fd; /* borrowed from the activation */
	int call_fd; /* borrowed from the activation */
	bool ready;  /* enabled by the driver and accepted by vq_init */
	struct log_ratelimit bad_chain_log;
};

/* Takes queue setup s. A queue the driver did not enable is left not
 * ready (0 returned). Returns -EINVAL for rings vq_init refuses: the device
 * should then fail its activation. */
int virtio_queue_setup(struct virtio_queue *q, const struct guest_memory *gm, const struct virtio_queue_setup *s) MUST_USE;

/* What a chain handler returns besides a byte count (>= 0, the bytes it
 * wrote into the chain; the chain is then published as used). */
#define VIRTIO_CHAIN_STOP (-1)	/* not handled now: put it back and stop */
#define VIRTIO_CHAIN_KEPT (-2)	/* the device completes it later (async) */

typedef int (*virtio_chain_fn)(void *ctx, struct virtio_queue *q, const struct vq_chain *chain);

/* Runs fn on every available chain (see above); malformed chains are
 * completed with 0 bytes and logged at a limited rate. chain is scratch
 * space (large: keep it in the device, not on the stack). Interrupts the
 * driver once at the end if needed. Returns 0, or -EIO when the ring is
 * broken: the device must stop using the queue and signal its error_fd. */
int virtio_queue_process(struct virtio_queue *q, const char *dev_name, struct vq_chain *chain, virtio_chain_fn fn,
			 void *ctx) MUST_USE;

/* Publishes one chain completed asynchronously and interrupts the driver if
 * needed. Returns 0 or -EIO. */
int virtio_queue_complete(struct virtio_queue *q, uint16_t head, uint32_t written) MUST_USE;

#endif
