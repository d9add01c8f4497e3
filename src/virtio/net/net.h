/*
 * virtio-net (virtio 1.2, 5.1) over TAP file descriptors.
 *
 * The main process opens the TAP (net/tap.c: one fd per queue pair,
 * O_NONBLOCK, IFF_VNET_HDR) and hands the fds to the device, which never
 * opens a path itself, so it can run in a jail that has no access to
 * /dev/net/tun. Frames cross between the virtqueues and the TAP with the
 * 12-byte virtio_net_hdr_v1 in front, in the same layout on both sides, so
 * checksum and segmentation offloads pass straight through: the device
 * checks every header a guest sends before the host kernel sees it, and
 * sets the TAP's offloads from what the driver accepted.
 *
 * Queues: receiveq0, transmitq0, receiveq1, transmitq1, ..., and a control
 * queue when there is more than one pair (VIRTIO_NET_F_CTRL_VQ and
 * VIRTIO_NET_F_MQ). The pure pieces (header validation, offload mapping,
 * control-command parsing) are exported for tests and fuzzing.
 */
#ifndef CROSVM_VIRTIO_NET_NET_H
#define CROSVM_VIRTIO_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "virtio/core/virtio.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_MQ 22

/* Configuration space (5.1.4): mac[6], status, max_virtqueue_pairs, mtu. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_CFG_SIZE 12
#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_hdr_v1 (5.1.6). */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO 4
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN 0x80

/* The header both queues and the TAP carry (TAP_VNET_HDR_V1_SIZE bytes).
 * Named apart from <linux/virtio_net.h>'s struct so both can coexist. */
struct virtio_net_hdr12 {
	uint8_t flags;
	uint8_t gso_type;
	le16_t hdr_len;
	le16_t gso_size;
	le16_t csum_start;
	le16_t csum_offset;
	le16_t num_buffers;
} __attribute__((packed));
#define VIRTIO_NET_HDR_SIZE 12
_Static_assert(sizeof(struct virtio_net_hdr12) == VIRTIO_NET_HDR_SIZE, "virtio_net_hdr_v1 is 12 bytes");

/* Largest frame (after the header) either way: 64 KiB of GSO payload and
 * headers plus an Ethernet header with one VLAN tag. Bigger TX frames are
 * dropped; the RX path sizes its bounce buffer from it. */
#define VIRTIO_NET_MAX_FRAME (65536 + 18)
/* Smallest frame the device transmits: an Ethernet header. */
#define VIRTIO_NET_MIN_FRAME 14
/* Most queue pairs (TAP_MAX_QUEUES; 2 * 16 + 1 == VIRTIO_MAX_QUEUES). */
#define VIRTIO_NET_MAX_PAIRS 16

/* Control queue (5.1.6.5): class, command, data..., then a writable ack. */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_VLAN 2
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5

/*
 * Checks a header a driver sent with a frame of frame_len bytes (what
 * follows the header in the chain) against the negotiated features, before
 * it goes to the TAP. Refused: a frame shorter than VIRTIO_NET_MIN_FRAME or
 * longer than VIRTIO_NET_MAX_FRAME (-EMSGSIZE); flags other than
 * NEEDS_CSUM (DATA_VALID and RSC_INFO are the device's to set); NEEDS_CSUM
 * without VIRTIO_NET_F_CSUM or with csum_start + csum_offset + 2 beyond the
 * frame; hdr_len beyond the frame; a GSO type that is unknown or not
 * negotiated (TCPV4 needs HOST_TSO4, TCPV6 HOST_TSO6, the ECN bit HOST_ECN;
 * UDP and UDP_L4 are never offered); GSO without NEEDS_CSUM or with
 * gso_size 0; the ECN bit without a GSO type (-EINVAL). num_buffers is
 * ignored (5.1.6.2). Pure. Returns 0 or the -errno above.
 */
int virtio_net_hdr_check_tx(const struct virtio_net_hdr12 *h, uint64_t features, uint64_t frame_len) MUST_USE;

/*
 * The TUN_F_* offloads (tap_set_offload) for negotiated features: what the
 * guest accepts in received frames. TUN_F_CSUM only with GUEST_CSUM; TSO4,
 * TSO6 and UFO only with GUEST_TSO4/GUEST_TSO6/GUEST_UFO and GUEST_CSUM
 * (which the kernel requires of them); TSO_ECN only with GUEST_ECN and TSO4
 * or TSO6. The result is therefore always accepted by TUNSETOFFLOAD. Pure.
 */
unsigned virtio_net_tap_offloads(uint64_t features);

/*
 * Parses and answers one control command (class, cmd and the data that
 * followed them) for a device with max_pairs queue pairs that negotiated
 * `features`: VIRTIO_NET_OK or VIRTIO_NET_ERR. *new_pairs is set to the
 * requested count for an accepted MQ_VQ_PAIRS_SET (1..max_pairs, only with
 * VIRTIO_NET_F_MQ), to 0 otherwise. RX PROMISC/ALLMULTI (one byte of data)
 * are answered OK: a TAP already delivers everything, so the driver loses
 * nothing. Everything else (MAC, VLAN, ANNOUNCE, RSS, GUEST_OFFLOADS,
 * unknown) is ERR: we offer none of their features. Pure.
 */
uint8_t virtio_net_ctrl_parse(uint8_t cls, uint8_t cmd, const uint8_t *data, size_t len, uint64_t features,
			      unsigned max_pairs, unsigned *new_pairs);

/*
 * The TAP settings the device makes, as a table so tests can run the device
 * over a socketpair or pipe; NULL in the options means the real ioctls
 * (tap_set_vnet_hdr_size, tap_set_offload, and TUNSETQUEUE for
 * set_queue_enabled). Each returns 0 or -errno and may be called from any
 * of the device's threads.
 */
struct virtio_net_tap_ops {
	int (*set_vnet_hdr_size)(int fd, int size);
	int (*set_offload)(int fd, unsigned tun_flags);
	/* Attaches (true) or detaches (false) a queue fd of a multi-queue TAP,
	 * so the kernel steers no frames to a pair the driver does not use.
	 * Errors are only logged: the device keeps working without it. */
	int (*set_queue_enabled)(int fd, bool enabled);
};

struct virtio_net_options {
	uint8_t mac[6];	  /* the guest's MAC, offered with VIRTIO_NET_F_MAC */
	bool has_mac;
	uint16_t mtu;	  /* 0: none; else 68..65535, offered with VIRTIO_NET_F_MTU */
	unsigned nr_pairs; /* 1..VIRTIO_NET_MAX_PAIRS; > 1 offers MQ and CTRL_VQ */
	const struct virtio_net_tap_ops *tap_ops; /* borrowed, static; NULL: real TAP */
};

/*
 * Creates a virtio-net device over nr_pairs TAP fds (tap_fds[i] serves
 * pair i; O_NONBLOCK, IFF_VNET_HDR, one multi-queue TAP when nr_pairs > 1).
 * The fds' ownership moves to the device, also on failure: reset() leaves
 * them open, destroy() closes them. Returns 0, -EINVAL (pair count, an fd
 * below 0, an MTU below 68) or -ENOMEM.
 */
int virtio_net_create(const int *tap_fds, const struct virtio_net_options *o, struct virtio_device *out) MUST_USE;

#endif
