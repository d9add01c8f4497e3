/*
 * The pure parts of virtio-net: checking the virtio_net_hdr_v1 a driver
 * puts in front of every transmitted frame, mapping negotiated features to
 * TAP offloads, and answering control-queue commands. Kept apart from the
 * device (net.c) so unit tests and the libFuzzer target reach them without
 * threads, queues or fds.
 *
 * Why check headers the host kernel checks again: the TAP takes the header
 * as the word of a trusted writer, and what it lets through becomes an skb
 * with offload metadata that the host stack (bridges, forwarding, real NICs
 * doing TSO) acts on. Refusing here everything the spec forbids the driver
 * to send, and everything not negotiated, keeps that surface to the cases
 * we offered.
 */
#include <errno.h>

#include "net/net.h"
#include "virtio/net/net.h"

static bool has(uint64_t features, unsigned bit) { return (features & VIRTIO_BIT(bit)) != 0; }

int virtio_net_hdr_check_tx(const struct virtio_net_hdr12 *h, uint64_t features, uint64_t frame_len)
{
	if (frame_len < VIRTIO_NET_MIN_FRAME || frame_len > VIRTIO_NET_MAX_FRAME)
		return -EMSGSIZE;
	/* 5.1.6.2.1: the driver MUST NOT set DATA_VALID or RSC_INFO. */
	if (h->flags & ~(unsigned)VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return -EINVAL;
	bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (csum) {
		if (!has(features, VIRTIO_NET_F_CSUM))
			return -EINVAL;
		/* 32-bit sums of 16-bit fields cannot overflow. */
		uint32_t end = (uint32_t)le16_get(h->csum_start) + le16_get(h->csum_offset) + 2;
		if (end > frame_len)
			return -EINVAL;
	}
	if (le16_get(h->hdr_len) > frame_len)
		return -EINVAL;

	uint8_t ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return ecn ? -EINVAL : 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!has(features, VIRTIO_NET_F_HOST_TSO4))
			return -EINVAL;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!has(features, VIRTIO_NET_F_HOST_TSO6))
			return -EINVAL;
		break;
	default:
		/* UDP (UFO) and UDP_L4 (USO) are never offered; the rest is
		 * unknown. */
		return -EINVAL;
	}
	if (ecn && !has(features, VIRTIO_NET_F_HOST_ECN))
		return -EINVAL;
	/* Segmentation rewrites checksums per segment, so it needs the
	 * partial-checksum description; a zero segment size means nothing. */
	if (!csum || le16_get(h->gso_size) == 0)
		return -EINVAL;
	return 0;
}

unsigned virtio_net_tap_offloads(uint64_t features)
{
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	unsigned f = TUN_F_CSUM;
	if (has(features, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (has(features, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (has(features, VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	/* ECN qualifies TCP segmentation: alone it means nothing to the TAP,
	 * which refuses it. */
	if (has(features, VIRTIO_NET_F_GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	return f;
}

uint8_t virtio_net_ctrl_parse(uint8_t cls, uint8_t cmd, const uint8_t *data, size_t len, uint64_t features,
			      unsigned max_pairs, unsigned *new_pairs)
{
	*new_pairs = 0;
	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		if ((cmd == VIRTIO_NET_CTRL_RX_PROMISC || cmd == VIRTIO_NET_CTRL_RX_ALLMULTI) && len >= 1)
			return VIRTIO_NET_OK;
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len < 2 || !has(features, VIRTIO_NET_F_MQ))
			return VIRTIO_NET_ERR;
		unsigned n = (unsigned)data[0] | (unsigned)data[1] << 8;
		if (n < 1 || n > max_pairs)
			return VIRTIO_NET_ERR;
		*new_pairs = n;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}
