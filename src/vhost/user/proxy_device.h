/*
 * vhost-user proxy device: the main process's stand-in for a virtio device
 * that runs in a jailed device process as a vhost-user back-end.
 *
 * A proxy is a struct virtio_device like any in-process device, so the
 * virtio-pci transport drives it unchanged; its ops forward over the
 * connection with the vhost-user front-end (frontend.h). Feature bits come
 * from the handshake; the device configuration space is read and written
 * with GET_CONFIG/SET_CONFIG; activate() hands the back-end the guest
 * memory and each enabled ring with the transport's own kick, call and
 * error eventfds, so the data path runs between KVM and the device process
 * without this process; reset() stops the rings and resets the back-end.
 * A configuration change the back-end announces (on its request channel)
 * is signalled on the activation's config_fd.
 *
 * Death. The device process is untrusted and may crash or hang. Every
 * request is bounded by a reply timeout (a watchdog thread shuts the
 * socket down when one takes too long), so a vCPU in config_read never
 * waits longer than that. Once the connection fails (socket error or
 * hang-up, a protocol violation, a timeout, the request channel closing)
 * the proxy is dead for good: dead_fd becomes readable, configuration
 * reads return zeros, writes are dropped, activate fails with -ENOTCONN,
 * and reset does nothing more than forget the activation. Reporting the
 * death and reaping the process is the main loop's job.
 *
 * Threads. config_read/config_write may be called from several vCPU
 * threads at once and activate/reset from another: all front-end traffic
 * is serialised by one mutex. One helper thread per proxy watches the
 * request channel, the socket's hang-up and the watchdog timer.
 */
#ifndef CROSVM_VHOST_USER_PROXY_DEVICE_H
#define CROSVM_VHOST_USER_PROXY_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "virtio/core/virtio.h"

#define VHU_PROXY_DEFAULT_TIMEOUT_MS 2000

struct vhu_proxy_info {
	/* VIRTIO_ID_*: one of those virtio.h defines (it also picks the
	 * device's name for logs, the same as the in-process device's). */
	uint32_t device_id;
	unsigned num_queues;	 /* 1..VIRTIO_MAX_QUEUES; the back-end must serve at least these */
	uint16_t queue_max_size; /* every queue's; a power of two <= VIRTQ_MAX_SIZE */
	uint32_t config_size;	 /* bytes of device configuration space (<= VHU_MAX_CONFIG_SIZE);
				  * reads beyond it return zeros, writes beyond it are dropped */
	/* Bound on each request's round trip (a hung back-end must not hang
	 * a vCPU), and on the whole handshake; 0 = VHU_PROXY_DEFAULT_TIMEOUT_MS. */
	int reply_timeout_ms;
	/* Per queue, where non-zero: replaces queue_max_size for that queue
	 * (virtio-net's control queue is smaller than its data queues). */
	uint16_t queue_max_sizes[VIRTIO_MAX_QUEUES];
};

/*
 * Takes connected stream socket sock (owned from here: closed on failure
 * too), does the vhost-user handshake with the back-end on its other end,
 * and fills *out with a proxy device (out->dev owned: out->ops->destroy
 * frees it; out->ops is static). Returns 0, -EINVAL (bad info), -EPROTO
 * (the back-end broke the protocol, serves fewer queues or offers no
 * VIRTIO_F_VERSION_1), -EOPNOTSUPP (config_size > 0 and the back-end has
 * no PROTOCOL_F_CONFIG), -ETIMEDOUT (the handshake took longer than the
 * timeout) or -errno.
 */
int vhu_proxy_create(int sock, const struct vhu_proxy_info *info, struct virtio_device *out) MUST_USE;

/* Whether d is a proxy made by vhu_proxy_create. */
bool vhu_proxy_is_proxy(const struct virtio_device *d);

/* An eventfd (borrowed: valid until d is destroyed) that becomes readable,
 * and stays so, once the back-end is gone; for the main loop to watch.
 * -EINVAL when d is not a proxy. */
int vhu_proxy_dead_fd(const struct virtio_device *d);

/* 0 while the back-end lives, else the -errno that killed the connection
 * (-ETIMEDOUT, -ECONNRESET, -EPIPE, -EPROTO, ...), for the report.
 * -EINVAL when d is not a proxy. */
int vhu_proxy_error(const struct virtio_device *d);

#endif
