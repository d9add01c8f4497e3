/*
 * libFuzzer target for virtio-net's guest-facing pure logic: the check of
 * the virtio_net_hdr_v1 a driver sends with each frame, the mapping of
 * negotiated features to TAP offloads, and the control-command parser.
 *
 *   bytes 0..7    negotiated features (le64)
 *   bytes 8..10   frame length after the header (le24, so lengths around
 *                 and beyond VIRTIO_NET_MAX_FRAME occur)
 *   bytes 11..22  the header, as guest memory holds it
 *   byte 23       max_pairs - 1 (low 4 bits)
 *   bytes 24, 25  control class and command
 *   the rest      control command data
 *
 * Besides ASan/UBSan, what an accepted header promises is re-derived from
 * scratch (length range, flags, checksum inside the frame, GSO type
 * negotiated), the offloads are checked to be something TUNSETOFFLOAD
 * accepts and no more than the guest asked for, and the parser never
 * grants more pairs than exist.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/net.h"
#include "virtio/net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool has(uint64_t f, unsigned bit) { return (f & VIRTIO_BIT(bit)) != 0; }

static void check_hdr(const struct virtio_net_hdr12 *h, uint64_t features, uint64_t frame_len)
{
	int r = virtio_net_hdr_check_tx(h, features, frame_len);
	check(r == 0 || r == -EINVAL || r == -EMSGSIZE);
	check(r == virtio_net_hdr_check_tx(h, features, frame_len)); /* pure */
	if (r != 0)
		return;
	check(frame_len >= VIRTIO_NET_MIN_FRAME && frame_len <= VIRTIO_NET_MAX_FRAME);
	check((h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0);
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		check(has(features, VIRTIO_NET_F_CSUM));
		check((uint64_t)le16_get(h->csum_start) + le16_get(h->csum_offset) + 2 <= frame_len);
	}
	check(le16_get(h->hdr_len) <= frame_len);
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (type == VIRTIO_NET_HDR_GSO_NONE) {
		check(h->gso_type == 0);
		return;
	}
	check((type == VIRTIO_NET_HDR_GSO_TCPV4 && has(features, VIRTIO_NET_F_HOST_TSO4)) ||
	      (type == VIRTIO_NET_HDR_GSO_TCPV6 && has(features, VIRTIO_NET_F_HOST_TSO6)));
	check(!(h->gso_type & VIRTIO_NET_HDR_GSO_ECN) || has(features, VIRTIO_NET_F_HOST_ECN));
	check((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && le16_get(h->gso_size) > 0);
}

static void check_offloads(uint64_t features)
{
	unsigned f = virtio_net_tap_offloads(features);
	check((f & ~(unsigned)TAP_OFFLOAD_MASK) == 0);
	/* What the kernel insists on, and nothing the guest did not accept. */
	check(!(f & (TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO)) || (f & TUN_F_CSUM));
	check(!(f & TUN_F_TSO_ECN) || (f & (TUN_F_TSO4 | TUN_F_TSO6)));
	check(!!(f & TUN_F_CSUM) == has(features, VIRTIO_NET_F_GUEST_CSUM));
	check(!(f & TUN_F_TSO4) || has(features, VIRTIO_NET_F_GUEST_TSO4));
	check(!(f & TUN_F_TSO6) || has(features, VIRTIO_NET_F_GUEST_TSO6));
	check(!(f & TUN_F_TSO_ECN) || has(features, VIRTIO_NET_F_GUEST_ECN));
	check(!(f & TUN_F_UFO) || has(features, VIRTIO_NET_F_GUEST_UFO));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t in[26];
	memset(in, 0, sizeof(in));
	memcpy(in, data, size < sizeof(in) ? size : sizeof(in));
	uint64_t features = 0;
	for (int i = 7; i >= 0; i--)
		features = features << 8 | in[i];
	uint64_t frame_len = (uint64_t)in[8] | (uint64_t)in[9] << 8 | (uint64_t)in[10] << 16;
	struct virtio_net_hdr12 h;
	memcpy(&h, in + 11, sizeof(h));

	check_hdr(&h, features, frame_len);
	check_hdr(&h, UINT64_MAX, frame_len);
	check_offloads(features);

	unsigned max_pairs = (in[23] & 15) + 1, pairs = 12345;
	/* The command data is the tail of libFuzzer's exactly sized input, so
	 * an over-read trips ASan. */
	size_t len = size > sizeof(in) ? size - sizeof(in) : 0;
	const uint8_t *cmd = len ? data + sizeof(in) : NULL;
	uint8_t ack = virtio_net_ctrl_parse(in[24], in[25], cmd, len, features, max_pairs, &pairs);
	check(ack == VIRTIO_NET_OK || ack == VIRTIO_NET_ERR);
	check(pairs <= max_pairs);
	check(pairs == 0 || (ack == VIRTIO_NET_OK && in[24] == VIRTIO_NET_CTRL_MQ && has(features, VIRTIO_NET_F_MQ)));
	return 0;
}
