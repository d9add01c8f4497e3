/*
 * The control socket wire protocol (docs/control-protocol.md).
 *
 * One message per SOCK_SEQPACKET datagram: a 12-byte little-endian header
 * {magic u32, version u16, type u16, payload_len u32} and exactly
 * payload_len bytes of payload. Requests have types 1..VMC_REQ_MAX; the
 * reply to request type T has type VMC_REPLY_FLAG | T (VMC_REPLY_FLAG
 * alone answers a request whose type could not be read).
 *
 * The encoders and decoders here are pure (no I/O, no allocation) so the
 * fuzzer can drive them; the server and client do the socket work.
 */
#ifndef CROSVM_VM_CONTROL_PROTOCOL_H
#define CROSVM_VM_CONTROL_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "virtio/balloon/balloon.h"

#define VMC_MAGIC 0x434d5643u /* "CVMC" as little-endian bytes */
#define VMC_VERSION 1
#define VMC_HDR_SIZE 12
/* Largest datagram either side sends or accepts, header included. */
#define VMC_MAX_MSG 4096
/* Longest error message in a reply, bytes, no terminator on the wire. */
#define VMC_ERR_MAX 256
/* Longest USB device path in USB_ATTACH. */
#define VMC_PATH_MAX 1024
/* Battery strings: each a NUL-padded 32-byte field on the wire. */
#define VMC_BATTERY_STR 32

#define VMC_REPLY_FLAG 0x8000u

enum vmc_type {
	VMC_REQ_STOP = 1,
	VMC_REQ_SUSPEND = 2,
	VMC_REQ_RESUME = 3,
	VMC_REQ_BALLOON = 4,       /* payload: bytes u64 */
	VMC_REQ_BALLOON_STATS = 5, /* reply carries struct vmc_balloon_stats */
	VMC_REQ_DISK_RESIZE = 6,   /* payload: index u32, new_size u64 */
	VMC_REQ_MAKE_RT = 7,
	VMC_REQ_USB_LIST = 8,
	VMC_REQ_USB_ATTACH = 9, /* payload: bus u8, addr u8, vid u16, pid u16, path_len u16, path */
	VMC_REQ_USB_DETACH = 10, /* payload: port u8 */
	VMC_REQ_BATTERY = 11,    /* payload: type, property, target: 32-byte NUL-padded strings */
	VMC_REQ_MAX = VMC_REQ_BATTERY,
};

/* Wire size of the balloon statistics in a BALLOON_STATS reply. */
#define VMC_BALLOON_STATS_SIZE (8 + 8 + 4 + 4 + 8 * VIRTIO_BALLOON_S_NR + 8)

struct vmc_usb_attach {
	uint8_t bus, addr;
	uint16_t vid, pid;
	char path[VMC_PATH_MAX + 1]; /* 1..VMC_PATH_MAX bytes, NUL-terminated */
};

struct vmc_battery {
	/* Each 1..VMC_BATTERY_STR-1 bytes, NUL-terminated, e.g. "goldfish",
	 * "status", "charging". */
	char type[VMC_BATTERY_STR];
	char property[VMC_BATTERY_STR];
	char target[VMC_BATTERY_STR];
};

/* A decoded request. Only the member for `type` is meaningful. */
struct vmc_request {
	uint16_t type; /* enum vmc_type */
	union {
		struct {
			uint64_t bytes;
		} balloon;
		struct {
			uint32_t index;
			uint64_t new_size;
		} disk_resize;
		struct vmc_usb_attach usb_attach;
		struct {
			uint8_t port;
		} usb_detach;
		struct vmc_battery battery;
	} u;
};

struct vmc_balloon_stats {
	struct virtio_balloon_stats stats; /* as virtio_balloon_get_stats fills it */
	uint64_t actual_bytes;             /* memory the guest has handed back */
};

/* A decoded reply. */
struct vmc_reply {
	/* The request type this answers; 0 for a request the server could
	 * not parse far enough to know its type. */
	uint16_t type;
	/* 0 on success, -errno (>= -4095) on failure. */
	int32_t status;
	/* NUL-terminated; may be empty. Only failures carry one. */
	char msg[VMC_ERR_MAX + 1];
	/* Valid when type is VMC_REQ_BALLOON_STATS and status is 0. */
	struct vmc_balloon_stats balloon_stats;
};

/*
 * Decodes one received datagram of `len` bytes as a request. Returns 0 and
 * fills *out, or a distinct -errno per defect:
 *   -ENODATA          zero-length message
 *   -EMSGSIZE         longer than VMC_MAX_MSG, or payload_len says so
 *   -EBADMSG          truncated (shorter than the header or than payload_len)
 *   -EPROTO           bad magic
 *   -EPROTONOSUPPORT  version other than VMC_VERSION
 *   -EBADRQC          type is not a request we know
 *   -EINVAL           payload size does not match the type
 *   -E2BIG            trailing bytes after the payload
 *   -EILSEQ           a field's content is invalid (string not terminated,
 *                     empty, embedded NUL, non-zero padding)
 * `buf` is borrowed; *out holds no pointers into it.
 */
int vmc_decode_request(const void *buf, size_t len, struct vmc_request *out) MUST_USE;

/* Decodes a reply; the same error classes as vmc_decode_request, with
 * -EBADRQC for a type without VMC_REPLY_FLAG or an unknown request type
 * under it, and -EILSEQ also for a status outside [-4095, 0] or a message
 * on a successful reply. */
int vmc_decode_reply(const void *buf, size_t len, struct vmc_reply *out) MUST_USE;

/* Encodes req into buf (cap bytes). Returns the message length, -ENOBUFS
 * if cap is too small, or -EINVAL/-EBADRQC if req is not something
 * vmc_decode_request would accept (so encode then decode round-trips). */
int vmc_encode_request(const struct vmc_request *req, void *buf, size_t cap) MUST_USE;

/* Encodes rep into buf. rep->msg is cut at VMC_ERR_MAX bytes and dropped
 * for a successful reply; a status outside [-4095, 0] is -EINVAL, as is a
 * type other than 0 or a request type. Returns the length or -errno. */
int vmc_encode_reply(const struct vmc_reply *rep, void *buf, size_t cap) MUST_USE;

/* "stop", "balloon", ... or "unknown". Never NULL. */
const char *vmc_type_name(uint16_t type);

#endif
