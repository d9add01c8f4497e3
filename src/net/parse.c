/*
 * Parsers for the network options (--mac, --host_ip, --netmask and the
 * matching keys of --net and `crosvm device net`), plus the offload mapping.
 * They are pure functions of their input so the unit tests and the fuzzer
 * can hammer them; nothing here touches a device or prints.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/net.h"

/* virtio-net feature bits that say what the guest can receive (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net_parse_mac(const char *s, uint8_t mac[NET_MAC_LEN])
{
	uint8_t tmp[NET_MAC_LEN];
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < NET_MAC_LEN; i++) {
		/* One or two hex digits per group, as crosvm's parser allows. */
		int hi = hex_value(*s);
		if (hi < 0)
			return -EINVAL;
		s++;
		int lo = hex_value(*s);
		if (lo >= 0) {
			tmp[i] = (uint8_t)(hi << 4 | lo);
			s++;
		} else {
			tmp[i] = (uint8_t)hi;
		}
		char want = i + 1 < NET_MAC_LEN ? ':' : '\0';
		if (*s != want)
			return -EINVAL;
		s++;
	}
	/* The I/G bit marks group addresses; ff:ff:ff:ff:ff:ff has it too. */
	if (tmp[0] & 1)
		return -EADDRNOTAVAIL;
	static const uint8_t zero[NET_MAC_LEN];
	if (memcmp(tmp, zero, NET_MAC_LEN) == 0)
		return -EADDRNOTAVAIL;
	memcpy(mac, tmp, NET_MAC_LEN);
	return 0;
}

int net_parse_ipv4(const char *s, struct in_addr *out)
{
	struct in_addr tmp;
	/* inet_pton, unlike inet_aton, takes only the four-part decimal form:
	 * no "10.1", no hex or octal parts, no trailing garbage. */
	if (!s || inet_pton(AF_INET, s, &tmp) != 1)
		return -EINVAL;
	*out = tmp;
	return 0;
}

int net_netmask_prefix(struct in_addr mask)
{
	uint32_t m = ntohl(mask.s_addr);
	/* Contiguous ones from the top means the inverted mask is 2^k - 1,
	 * i.e. adding one to it leaves no bit in common with it. */
	uint32_t inv = ~m;
	if (inv & (inv + 1))
		return -EINVAL;
	return m ? 32 - __builtin_ctz(m) : 0;
}

int net_parse_netmask(const char *s, struct in_addr *out)
{
	struct in_addr tmp;
	int r = net_parse_ipv4(s, &tmp);
	if (r < 0)
		return r;
	r = net_netmask_prefix(tmp);
	if (r < 0)
		return r;
	*out = tmp;
	return 0;
}

unsigned tap_offload_from_virtio_features(uint64_t features)
{
	static const struct {
		unsigned bit;
		unsigned tun;
	} map[] = {
		{ VIRTIO_NET_F_GUEST_CSUM, TUN_F_CSUM }, { VIRTIO_NET_F_GUEST_TSO4, TUN_F_TSO4 },
		{ VIRTIO_NET_F_GUEST_TSO6, TUN_F_TSO6 }, { VIRTIO_NET_F_GUEST_ECN, TUN_F_TSO_ECN },
		{ VIRTIO_NET_F_GUEST_UFO, TUN_F_UFO },
	};
	unsigned flags = 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (features & (1ULL << map[i].bit))
			flags |= map[i].tun;
	return flags;
}
