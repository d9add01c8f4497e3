/*
 * The transport-agnostic virtio device interface.
 *
 * A device is its configuration space, its feature bits and the handlers of
 * its queues. The transport (virtio-pci in the main process today, a
 * vhost-user frontend once devices move into jailed processes) negotiates
 * features and programs the queues, then activates the device with
 * everything it needs to run on its own: guest memory (the memfd mapping),
 * per queue the ring addresses, a kick eventfd (readable when the driver
 * notifies) and a call eventfd (written to interrupt the driver). A device
 * therefore never calls into KVM or the transport: that is what lets the
 * same device code run in-process or behind vhost-user unchanged.
 */
#ifndef CROSVM_VIRTIO_CORE_VIRTIO_H
#define CROSVM_VIRTIO_CORE_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "vm_memory/vm_memory.h"
#include "virtio/core/virtq.h"

/* Device IDs (virtio 1.2, 5 "Device Types"). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_9P 9
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_FS 26

/* Device-independent feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_BIT(n) (1ULL << (n))

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* The most queues any of our devices has (virtio-net with 16 pairs + ctrl). */
#define VIRTIO_MAX_QUEUES 33

struct virtio_queue_setup {
	struct virtq_config cfg; /* cfg.size == 0: the driver did not enable it */
	int kick_fd;		 /* borrowed until reset: readable on driver notify */
	int call_fd;		 /* borrowed until reset: write 1 to interrupt */
};

/* Everything a device needs to run; handed over by activate(). */
struct virtio_activation {
	const struct guest_memory *gm; /* borrowed until reset */
	uint64_t features;	       /* what the driver accepted */
	unsigned nr_queues;	       /* == ops->num_queues(dev) */
	struct virtio_queue_setup queues[VIRTIO_MAX_QUEUES];
	/* Borrowed until reset. Write 1 to config_fd after a change of the
	 * device's configuration space the driver must see (balloon target,
	 * console size). Write 1 to error_fd when the device stops because the
	 * driver broke the protocol (malformed ring): the transport then sets
	 * DEVICE_NEEDS_RESET and tells the driver. */
	int config_fd;
	int error_fd;
};

struct virtio_device_ops {
	const char *name; /* "block", "net", ...: for logs */
	uint32_t device_id;
	unsigned (*num_queues)(void *dev);
	/* Largest size the driver may give queue q (a power of two). */
	uint16_t (*queue_max_size)(void *dev, unsigned q);
	/* Offered feature bits, VIRTIO_F_VERSION_1 included. */
	uint64_t (*features)(void *dev);
	/* Device configuration space (virtio 1.x layout, little-endian).
	 * Out-of-range reads return zeros; writes to read-only fields are
	 * ignored. Called from vCPU threads; the device locks what it shares
	 * with its workers. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* Starts processing (typically: worker threads waiting on the kick
	 * fds). Returns 0 or -errno; on failure the device stays inactive and
	 * the transport reports the failure to the driver (DEVICE_NEEDS_RESET). */
	int (*activate)(void *dev, const struct virtio_activation *act);
	/* Stops processing and forgets the activation (fds and memory stop
	 * being borrowed). No-op when not active. */
	void (*reset)(void *dev);
	/* Frees the device; reset first if active. Accepts NULL. */
	void (*destroy)(void *dev);
};

/* A device instance as the transport holds it. */
struct virtio_device {
	const struct virtio_device_ops *ops; /* borrowed, static */
	void *dev;			     /* owned: ops->destroy frees it */
};

/* Interrupt the driver for queue q if the ring's suppression state asks
 * for it (vq_needs_notify). Returns 0 or the eventfd write's -errno. */
int virtio_queue_notify(struct virtq *q, int call_fd);

/* A config_read over a configuration space kept as cfg_size bytes (already
 * little-endian): the bytes at [off, off + len) that lie inside it, zeros
 * for the rest. */
void virtio_config_read_bytes(const uint8_t *cfg, size_t cfg_size, uint32_t off, uint8_t *data, uint32_t len);

#endif
