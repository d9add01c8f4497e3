/*
 * vhost-user back-end: serves one front-end connection for one virtio
 * device (struct virtio_device, the same interface the in-process
 * transport drives), in a jailed device process or as `crosvm device`.
 *
 * The front-end negotiates features, hands over its guest memory (one fd
 * per region, mapped here MAP_SHARED and bounds-checked into a struct
 * guest_memory), and programs each ring: size, base, addresses (in the
 * front-end's address space, translated here into guest physical
 * addresses through the memory table), kick and call eventfds. The device
 * is activated with all of that as one struct virtio_activation, and runs
 * on its own worker threads taking kicks and raising calls directly: the
 * data path never crosses this socket.
 *
 * When the device runs. virtio devices start and stop as a whole, while
 * vhost-user starts and stops rings one at a time, so the back-end keeps
 * the device running with exactly the rings that are ready, restarting it
 * (reset, then activate again with the ring positions it reached) when
 * that set or a ring's fds or the memory table change. A ring is ready
 * once it has a size and addresses, has been started (SET_VRING_KICK) and
 * is enabled (from the start without VHOST_USER_F_PROTOCOL_FEATURES, else
 * by SET_VRING_ENABLE). The device is activated when at least one ring is
 * ready and no other ring is half-way there (configured but not started,
 * or started but not yet told whether it is enabled), so a front-end that
 * programs all rings and then enables them in turn gets one activation
 * with all of them; a started ring explicitly disabled is left out.
 * GET_VRING_BASE stops the device and returns where the ring got to (the
 * used index: a device completes or forgets what it popped when reset,
 * and forgotten requests are offered again); the device stays stopped
 * until that ring is started again.
 *
 * Errors. A malformed message, or a request that fails (out of order, a
 * bad ring index, a memory region outside its fd, rings outside guest
 * memory, the device refusing to activate), is answered with an error
 * status when the front-end asked for a reply (REPLY_ACK); when it cannot
 * be reported, the back-end closes the connection. Nothing the front-end
 * sends can crash it. When the device reports a broken ring (its error
 * eventfd), every ring's SET_VRING_ERR eventfd is signalled. A device's
 * configuration change is announced on the back-end request channel
 * (SET_BACKEND_REQ_FD) when the front-end set one up.
 *
 * One thread serves a connection; the device's own threads run beside it.
 */
#ifndef CROSVM_VHOST_USER_BACKEND_H
#define CROSVM_VHOST_USER_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/user/protocol.h"
#include "virtio/core/virtio.h"
#include "vm_memory/vm_memory.h"

/* Protocol features the back-end offers. */
#define VHU_BACKEND_PROTOCOL_FEATURES                                                                     \
	(VIRTIO_BIT(VHU_PROTOCOL_F_MQ) | VIRTIO_BIT(VHU_PROTOCOL_F_REPLY_ACK) |                            \
	 VIRTIO_BIT(VHU_PROTOCOL_F_BACKEND_REQ) | VIRTIO_BIT(VHU_PROTOCOL_F_CONFIG) |                      \
	 VIRTIO_BIT(VHU_PROTOCOL_F_RESET_DEVICE))

struct vhu_ring {
	uint16_t num;		   /* 0 until SET_VRING_NUM */
	uint16_t base;		   /* next available index to process */
	bool have_addr;
	struct vhu_vring_addr addr; /* front-end virtual addresses, as sent */
	gpa_t used_gpa;		   /* the used ring while the device runs */
	bool started;		   /* SET_VRING_KICK since the last stop */
	bool enabled;		   /* SET_VRING_ENABLE's value */
	bool enable_set;	   /* SET_VRING_ENABLE received */
	bool active;		   /* handed to the running device */
	int kick_fd;		   /* owned; -1 when unset */
	int call_fd;		   /* owned; -1 when unset */
	int err_fd;		   /* owned; -1 when unset */
	int spare_kick, spare_call; /* owned placeholders for missing fds; -1 until needed */
};

struct vhu_backend {
	int sock;		      /* owned: the connection */
	struct virtio_device *vdev;   /* borrowed: not reset at destroy, just stopped */
	unsigned nr_queues;
	uint64_t offered_features;    /* the device's plus VHOST_USER_F_PROTOCOL_FEATURES */
	uint64_t acked_features;
	bool features_set;
	uint64_t protocol_features;   /* acked by SET_PROTOCOL_FEATURES */
	bool owner;
	bool have_mem;
	struct guest_memory gm;	      /* owned: the front-end's memory, mapped here */
	size_t nr_mem;
	struct vhu_mem_region mem[VHU_MAX_MEM_REGIONS]; /* for address translation */
	struct vhu_ring rings[VIRTIO_MAX_QUEUES];
	bool active;		      /* the device is activated */
	bool device_broken;	      /* the device signalled its error_fd */
	int config_fd;		      /* owned eventfd the device signals config changes on */
	int error_fd;		      /* owned eventfd the device signals a broken ring on */
	int backend_req_fd;	      /* owned: back-end request channel, -1 if none */
	int last_error;		      /* -errno of the last refused request, 0 if none */
	uint32_t last_error_request;  /* its request */
	struct virtio_activation act; /* scratch for activate() */
};

/*
 * Prepares to serve connection sock (ownership moves to b, closed by
 * vhu_backend_destroy even on failure) for vdev (borrowed; must outlive b
 * and not be active). Returns 0, -EINVAL (device with no or too many
 * queues) or -errno creating eventfds. On failure b is safe to destroy.
 */
int vhu_backend_init(struct vhu_backend *b, struct virtio_device *vdev, int sock) MUST_USE;

/*
 * Receives and handles one message (blocking). Returns 1 when the
 * connection goes on, 0 when the front-end closed it, or -errno when the
 * back-end gave up on it (a protocol error it could not report, or a
 * socket error); b->last_error says which request failed.
 */
int vhu_backend_handle_one(struct vhu_backend *b) MUST_USE;

/* Handles what the device signalled (config change, broken ring): call
 * when b->config_fd or b->error_fd is readable. Returns 0 or -errno from
 * the back-end request channel. */
int vhu_backend_handle_device_events(struct vhu_backend *b) MUST_USE;

/*
 * Serves the connection until the front-end closes it: waits on the
 * socket and the device's eventfds. Returns 0 for a clean close, or the
 * -errno vhu_backend_handle_one gave up with.
 */
int vhu_backend_run(struct vhu_backend *b) MUST_USE;

/* Stops the device if it runs, unmaps guest memory and closes every fd.
 * Does not destroy the device. Accepts b after a failed init and a
 * destroyed b (not a zeroed one: fd 0 is a valid fd). */
void vhu_backend_destroy(struct vhu_backend *b);

#endif
