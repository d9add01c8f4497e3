/*
 * Helpers shared by every virtio device, whatever its transport. Today the
 * only one raises a queue's interrupt through its call eventfd, which the
 * VMM registered as a KVM irqfd (or a vhost-user frontend forwards), so a
 * device never needs to know how the interrupt reaches the guest.
 */
#include "virtio/core/virtio.h"

#include "base/eventfd.h"

int virtio_queue_notify(struct virtq *q, int call_fd)
{
	if (!vq_needs_notify(q))
		return 0;
	return evfd_signal(call_fd);
}
