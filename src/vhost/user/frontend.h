/*
 * vhost-user front-end: the main process's end of a connection to a
 * device process (or any vhost-user back-end), for a proxy transport that
 * keeps the guest-visible virtio-pci state itself and forwards what the
 * device needs.
 *
 * vhu_frontend_connect() does the handshake (SET_OWNER, features,
 * protocol features, queue count, the back-end request channel). Then,
 * when the driver is ready: set_features, set_mem_table (the guest memfd,
 * one entry per region, at this process's mapping addresses), and per ring
 * set_vring_num/base/addr/kick/call and set_vring_enable; get_vring_base
 * stops a ring and says where it got to. Ring addresses are given as guest
 * physical addresses and translated here through the memory table last
 * sent. Every request asks for a REPLY_ACK when the back-end supports it,
 * so a refused request comes back as its -errno (the back-end's positive
 * status negated, -EIO if it is not an errno).
 *
 * Not thread-safe: one thread talks to the back-end at a time. The one
 * exception is vhu_frontend_backend_req, which uses only the request
 * channel (and fields fixed at connect): one other thread may call it
 * beside the one making requests.
 */
#ifndef CROSVM_VHOST_USER_FRONTEND_H
#define CROSVM_VHOST_USER_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "vhost/user/protocol.h"
#include "vm_memory/vm_memory.h"

/* Protocol features the front-end asks for when offered. */
#define VHU_FRONTEND_PROTOCOL_FEATURES                                                                    \
	((1ULL << VHU_PROTOCOL_F_MQ) | (1ULL << VHU_PROTOCOL_F_REPLY_ACK) | (1ULL << VHU_PROTOCOL_F_CONFIG) | \
	 (1ULL << VHU_PROTOCOL_F_BACKEND_REQ) | (1ULL << VHU_PROTOCOL_F_RESET_DEVICE))

struct vhu_frontend {
	int sock;		       /* owned: the connection */
	int backend_req_fd;	       /* owned: our end of the back-end request channel, -1 if none */
	uint64_t features;	       /* offered by the back-end, VHOST_USER_F_PROTOCOL_FEATURES included */
	uint64_t protocol_features;    /* negotiated */
	unsigned nr_queues;	       /* GET_QUEUE_NUM (needs MQ), else 0: unknown */
	const struct guest_memory *gm; /* borrowed: the memory table last sent */
	/* Whether the last request failed by the back-end's REPLY_ACK
	 * refusal: the connection is fine, whatever the status says. */
	bool last_refused;
};

/*
 * Takes connected stream socket sock (ownership moves to f; closed by
 * vhu_frontend_close even on failure) and does the handshake. Returns 0,
 * -EPROTO (the back-end broke the protocol) or -errno.
 */
int vhu_frontend_connect(struct vhu_frontend *f, int sock) MUST_USE;
/* Closes the connection. Accepts f after a failed connect and a closed f. */
void vhu_frontend_close(struct vhu_frontend *f);

/* The features the driver accepted (must be a subset of f->features;
 * VHOST_USER_F_PROTOCOL_FEATURES is added when offered). */
int vhu_frontend_set_features(struct vhu_frontend *f, uint64_t features) MUST_USE;
/* Sends every region of gm (borrowed until the next call or close: ring
 * addresses are translated through it) with its memfd. */
int vhu_frontend_set_mem_table(struct vhu_frontend *f, const struct guest_memory *gm) MUST_USE;

int vhu_frontend_set_vring_num(struct vhu_frontend *f, unsigned idx, uint16_t num) MUST_USE;
int vhu_frontend_set_vring_base(struct vhu_frontend *f, unsigned idx, uint16_t base) MUST_USE;
/* Ring parts as guest physical addresses, of a ring of `num` entries;
 * -EFAULT when a part is not inside one region of the memory table sent. */
int vhu_frontend_set_vring_addr(struct vhu_frontend *f, unsigned idx, uint16_t num, gpa_t desc, gpa_t avail,
				gpa_t used) MUST_USE;
/* fd is borrowed (the back-end gets its own copy); -1 sends "no fd". */
int vhu_frontend_set_vring_kick(struct vhu_frontend *f, unsigned idx, int fd) MUST_USE;
int vhu_frontend_set_vring_call(struct vhu_frontend *f, unsigned idx, int fd) MUST_USE;
int vhu_frontend_set_vring_err(struct vhu_frontend *f, unsigned idx, int fd) MUST_USE;
/* Needs VHOST_USER_F_PROTOCOL_FEATURES negotiated (-EOPNOTSUPP). */
int vhu_frontend_set_vring_enable(struct vhu_frontend *f, unsigned idx, bool enable) MUST_USE;
/* Stops ring idx; *base is the next available index it would process. */
int vhu_frontend_get_vring_base(struct vhu_frontend *f, unsigned idx, uint16_t *base) MUST_USE;

/* Device configuration space, 1..VHU_MAX_CONFIG_SIZE bytes at off (the
 * range inside it). Need PROTOCOL_F_CONFIG (-EOPNOTSUPP). */
int vhu_frontend_get_config(struct vhu_frontend *f, uint32_t off, void *data, uint32_t len) MUST_USE;
int vhu_frontend_set_config(struct vhu_frontend *f, uint32_t off, const void *data, uint32_t len) MUST_USE;

/* Resets the device (RESET_DEVICE, or RESET_OWNER without it): rings and
 * features are forgotten. */
int vhu_frontend_reset_device(struct vhu_frontend *f) MUST_USE;

/*
 * Reads one request from the back-end request channel (f->backend_req_fd,
 * when readable). Returns 1 with *request set (VHU_BACKEND_CONFIG_CHANGE_MSG:
 * the device's configuration changed), 0 when the back-end closed the
 * channel, -EBADMSG for a refused request (the channel goes on), or
 * another -errno. -ENOTCONN without a channel.
 */
int vhu_frontend_backend_req(struct vhu_frontend *f, uint32_t *request) MUST_USE;

#endif
