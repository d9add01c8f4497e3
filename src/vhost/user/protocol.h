/*
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): message
 * layouts, constants, and a validated receive/send over a Unix stream
 * socket.
 *
 * A message is a 12-byte header {request, flags, size} followed by `size`
 * bytes of payload, in the host's byte order; file descriptors travel as
 * SCM_RIGHTS ancillary data with the message. Both ends of a connection are
 * untrusted by the other, so every message that arrives is checked against
 * what its request allows (vhu_msg_check) before anyone looks at it:
 * version, known flag bits, a known request, the payload size the request
 * takes (exact, or bounded and consistent with the payload's own counts),
 * and how many fds it may carry. Everything else is refused, and fds that
 * came with a refused message are closed.
 */
#ifndef CROSVM_VHOST_USER_PROTOCOL_H
#define CROSVM_VHOST_USER_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

/* Front-end requests. */
enum vhu_request {
	VHU_NONE = 0,
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
};

/* Back-end requests (on the channel SET_BACKEND_REQ_FD hands over). */
#define VHU_BACKEND_CONFIG_CHANGE_MSG 2

/* Header flags. */
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_VERSION 0x1u
#define VHU_FLAG_REPLY 0x4u
#define VHU_FLAG_NEED_REPLY 0x8u

/* Virtio feature bit that says GET/SET_PROTOCOL_FEATURES exist. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHU_PROTOCOL_F_MQ 0
#define VHU_PROTOCOL_F_LOG_SHMFD 1
#define VHU_PROTOCOL_F_REPLY_ACK 3
#define VHU_PROTOCOL_F_BACKEND_REQ 5
#define VHU_PROTOCOL_F_CONFIG 9
#define VHU_PROTOCOL_F_RESET_DEVICE 13
#define VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

/* The u64 payload of SET_VRING_KICK/CALL/ERR: ring index and "no fd". */
#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD 0x100u

/* SET_VRING_ADDR flags: dirty logging of the used ring (not supported). */
#define VHU_VRING_F_LOG 0x1u

/* Limits. */
#define VHU_MAX_MEM_REGIONS 8	/* per SET_MEM_TABLE (the protocol's baseline) */
#define VHU_MAX_CONFIG_SIZE 256 /* device configuration space */
#define VHU_MAX_FDS 8		/* per message */
/* No request we know takes more; anything larger cannot be framed safely. */
#define VHU_MAX_PAYLOAD 4096

struct vhu_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes after the header */
};

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Ring addresses in the front-end's virtual address space. */
struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /* where the front-end mapped it */
	uint64_t mmap_offset;	 /* offset of the region in its fd */
};

struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MAX_MEM_REGIONS];
};

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VHU_MAX_CONFIG_SIZE];
};

#define VHU_CONFIG_HDR_SIZE 12u
#define VHU_MEM_TABLE_HDR_SIZE 8u

union vhu_payload {
	uint64_t u64;
	struct vhu_vring_state state;
	struct vhu_vring_addr addr;
	struct vhu_mem_table mem;
	struct vhu_config config;
	uint8_t raw[VHU_MAX_PAYLOAD];
};

struct vhu_msg {
	struct vhu_msg_hdr hdr;
	union vhu_payload p; /* hdr.size bytes are valid */
};

/*
 * Checks a message: header, `len` bytes of payload (len must equal
 * hdr->size; payload may be NULL when len is 0) and the number of fds that
 * came with it. Requests (no REPLY flag) are checked as a back-end receives
 * them, replies (REPLY flag) as a front-end does. Pure: no I/O, no state.
 * Returns 0, -EPROTO (version or unknown flag bits), -ENOSYS (a request
 * this implementation does not know or support; a reply to any request
 * number is checked for the u64 shape of a REPLY_ACK instead), -EBADMSG
 * (size or payload counts wrong for the request) or -E2BIG (too many fds).
 */
int vhu_msg_check(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds) MUST_USE;

/*
 * Receives one message from stream socket sock (blocking): the header,
 * then hdr.size payload bytes into m->p, with any fds (O_CLOEXEC) into
 * fds[VHU_MAX_FDS] and their count into *nfds.
 * Returns 1 for a valid message (the caller owns the fds), 0 when the peer
 * closed the connection between messages, -EBADMSG when a whole message
 * arrived but was refused (vhu_msg_check failed, or it carried more than
 * VHU_MAX_FDS fds): m->hdr is filled in so the caller can send an error
 * reply, the fds are closed, *nfds is 0 and the stream is still in step.
 * Any other -errno means the connection cannot be used any more:
 * -ECONNRESET (closed inside a message), -EMSGSIZE (size above
 * VHU_MAX_PAYLOAD: the stream cannot be followed), or the socket error.
 * On every failure no received fd is left open.
 */
int vhu_msg_recv(int sock, struct vhu_msg *m, int *fds, size_t *nfds) MUST_USE;

/*
 * The same two for the back-end request channel (SET_BACKEND_REQ_FD),
 * where the back-end sends its own requests (VHU_BACKEND_*): only
 * CONFIG_CHANGE_MSG (no payload, no fds) is accepted. Returns as
 * vhu_msg_check / vhu_msg_recv.
 */
int vhu_breq_check(const struct vhu_msg_hdr *hdr, const void *payload, size_t len, size_t nfds) MUST_USE;
int vhu_breq_recv(int sock, struct vhu_msg *m, int *fds, size_t *nfds) MUST_USE;

/* Sends header + m->hdr.size bytes of payload with nfds fds (borrowed:
 * the peer gets its own copies). Returns 0 or -errno (-EINVAL for size or
 * nfds beyond the limits). */
int vhu_msg_send(int sock, const struct vhu_msg *m, const int *fds, size_t nfds) MUST_USE;

/* Closes fds[0..n) and sets them to -1. */
void vhu_close_fds(int *fds, size_t n);

/* A short name for a request, for logs ("SET_MEM_TABLE", "unknown"). */
const char *vhu_request_name(uint32_t request);

/* Whether a request's reply is its answer (GET_*), not a REPLY_ACK status:
 * such requests are never acked, whatever NEED_REPLY says. */
bool vhu_request_has_own_reply(uint32_t request);

#endif
