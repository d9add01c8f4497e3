/*
 * virtio-vsock (virtio 1.2, 5.10) through the kernel's vhost-vsock.
 *
 * The kernel runs the data path: on activation the device hands it the
 * memory table, the rx (0) and tx (1) rings and their kick and call
 * eventfds, and starts it; sockets on the host then reach the guest's CID
 * without passing through crosvm. The event queue (2) stays here: its
 * buffers are only held (it carries transport-reset events, which we never
 * need to send). The configuration space is the guest's CID (le64).
 *
 * The device never opens paths: the VMM opens /dev/vhost-vsock (or what
 * --vhost-vsock-device names) and hands the fd over.
 */
#ifndef CROSVM_VIRTIO_VSOCK_VSOCK_H
#define CROSVM_VIRTIO_VSOCK_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/core/virtio.h"

struct vhost_kernel_ops; /* vhost/vhost.h */

#define VIRTIO_VSOCK_QUEUE_RX 0
#define VIRTIO_VSOCK_QUEUE_TX 1
#define VIRTIO_VSOCK_QUEUE_EVENT 2
#define VIRTIO_VSOCK_NUM_QUEUES 3
#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_CONFIG_SIZE 8 /* le64 guest_cid */

/* Whether cid may be a guest's: not 0 (hypervisor), 1 (local), 2 (host),
 * not VMADDR_CID_ANY (0xffffffff), and with the upper 32 bits zero (the
 * spec reserves them; the kernel takes 32-bit CIDs). */
bool virtio_vsock_cid_valid(uint64_t cid);

/*
 * Creates the device for guest CID `cid` over the open vhost-vsock fd
 * `vhost_fd` (ownership moves to the device, also on failure): takes
 * ownership of the vhost device for this process, reads its features and
 * claims the CID. Returns 0, -EINVAL for an invalid CID, -ENOTSUP when the
 * kernel lacks VIRTIO_F_VERSION_1, -ENOMEM, or the failed ioctl's -errno
 * (-EADDRINUSE: another VM has the CID); *failed_ioctl (nullable) then
 * names it ("VHOST_VSOCK_SET_GUEST_CID") for the error message.
 */
int virtio_vsock_create(uint64_t cid, int vhost_fd, struct virtio_device *out, const char **failed_ioctl) MUST_USE;

/* The same with another way to the kernel than ioctl(2) (tests). */
int virtio_vsock_create_with_ops(uint64_t cid, int vhost_fd, const struct vhost_kernel_ops *ops, void *ops_ctx,
				 struct virtio_device *out, const char **failed_ioctl) MUST_USE;

#endif
