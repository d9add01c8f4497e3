/*
 * libFuzzer target for net/'s option parsers (MAC address, IPv4 address,
 * netmask). The input, NUL-terminated in an exactly sized buffer so any
 * over-read trips ASan, goes to each parser. Round trips are checked: an
 * accepted MAC formats back to a string the parser reads as the same
 * bytes, an accepted netmask is exactly the mask of its prefix length, and
 * an accepted MAC is unicast and not all zeros.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	uint8_t mac[NET_MAC_LEN];
	if (net_parse_mac(s, mac) == 0) {
		if ((mac[0] & 1) || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)
			__builtin_trap();
		char back[18];
		snprintf(back, sizeof(back), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5]);
		uint8_t again[NET_MAC_LEN];
		if (net_parse_mac(back, again) != 0 || memcmp(mac, again, NET_MAC_LEN) != 0)
			__builtin_trap();
	}

	struct in_addr a;
	(void)net_parse_ipv4(s, &a);

	struct in_addr m;
	if (net_parse_netmask(s, &m) == 0) {
		int len = net_netmask_prefix(m);
		if (len < 0 || len > 32)
			__builtin_trap();
		uint32_t want = len ? ~0u << (32 - len) : 0;
		if (ntohl(m.s_addr) != want)
			__builtin_trap();
	}
	free(s);
	return 0;
}
