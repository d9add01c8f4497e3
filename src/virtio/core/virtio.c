/*
 * Helpers shared by every virtio device, whatever its transport: raising a
 * queue's interrupt through its call eventfd, which the VMM registered as a
 * KVM irqfd (or a vhost-user frontend forwards), so a device never needs to
 * know how the interrupt reaches the guest; and reading a configuration
 * space kept as bytes.
 */
#include "virtio/core/virtio.h"

#include <string.h>

#include "base/eventfd.h"

void virtio_config_read_bytes(const uint8_t *cfg, size_t cfg_size, uint32_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (off < cfg_size)
		memcpy(data, cfg + off, len < cfg_size - off ? len : cfg_size - off);
}

int virtio_queue_notify(struct virtq *q, int call_fd)
{
	if (!vq_needs_notify(q))
		return 0;
	return evfd_signal(call_fd);
}
