/* Unit tests for net/'s pure parts: MAC, IPv4 and netmask parsing, and the
 * virtio-net feature to TUN_F_* offload mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "net/net.h"

static void test_mac_ok(void **state)
{
	(void)state;
	uint8_t mac[NET_MAC_LEN];
	assert_int_equal(net_parse_mac("aa:bb:cc:dd:ee:ff", mac), 0);
	static const uint8_t want1[] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	assert_memory_equal(mac, want1, NET_MAC_LEN);
	assert_int_equal(net_parse_mac("02:00:5E:10:0A:9c", mac), 0);
	static const uint8_t want2[] = { 0x02, 0x00, 0x5e, 0x10, 0x0a, 0x9c };
	assert_memory_equal(mac, want2, NET_MAC_LEN);
	/* Single-digit groups, as crosvm accepts. */
	assert_int_equal(net_parse_mac("2:0:0:0:a:1", mac), 0);
	static const uint8_t want3[] = { 0x02, 0, 0, 0, 0x0a, 0x01 };
	assert_memory_equal(mac, want3, NET_MAC_LEN);
	assert_int_equal(net_parse_mac("3c:70:eb:61:1a:91", mac), 0);
}

static void test_mac_refused(void **state)
{
	(void)state;
	uint8_t mac[NET_MAC_LEN];
	memset(mac, 0x5a, sizeof(mac));
	static const char *const malformed[] = {
		"",
		":",
		"aa:bb:cc:dd:ee",
		"aa:bb:cc:dd:ee:",
		"aa:bb:cc:dd:ee:ff:",
		"aa:bb:cc:dd:ee:ff:00",
		"aa:bb:cc:dd:ee:fff",
		"aaa:bb:cc:dd:ee:ff",
		"aa-bb-cc-dd-ee-ff",
		"aa:bb:cc:dd:ee:fg",
		"aa:bb:cc:dd::ff",
		" aa:bb:cc:dd:ee:ff",
		"aa:bb:cc:dd:ee:ff ",
		"aa:bb:cc:dd:ee:ff\n",
		"+a:bb:cc:dd:ee:ff",
		"aabbccddeeff",
		"0xaa:bb:cc:dd:ee:ff",
	};
	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
		if (net_parse_mac(malformed[i], mac) != -EINVAL)
			fail_msg("\"%s\" was not refused as malformed", malformed[i]);
	}
	assert_int_equal(net_parse_mac(NULL, mac), -EINVAL);
	/* Well formed but not a unicast station address. */
	assert_int_equal(net_parse_mac("ff:ff:ff:ff:ff:ff", mac), -EADDRNOTAVAIL);
	assert_int_equal(net_parse_mac("01:00:5e:00:00:01", mac), -EADDRNOTAVAIL);
	assert_int_equal(net_parse_mac("33:33:00:00:00:01", mac), -EADDRNOTAVAIL);
	/* crosvm's own test example: 0x3d has the group bit set. */
	assert_int_equal(net_parse_mac("3d:70:eb:61:1a:91", mac), -EADDRNOTAVAIL);
	assert_int_equal(net_parse_mac("00:00:00:00:00:00", mac), -EADDRNOTAVAIL);
	/* Nothing was written by any refusal. */
	static const uint8_t untouched[NET_MAC_LEN] = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
	assert_memory_equal(mac, untouched, NET_MAC_LEN);
}

static void test_ipv4(void **state)
{
	(void)state;
	struct in_addr a;
	assert_int_equal(net_parse_ipv4("192.168.10.1", &a), 0);
	assert_int_equal(ntohl(a.s_addr), 0xc0a80a01);
	assert_int_equal(net_parse_ipv4("0.0.0.0", &a), 0);
	assert_int_equal(a.s_addr, 0);
	assert_int_equal(net_parse_ipv4("255.255.255.255", &a), 0);
	assert_int_equal(a.s_addr, 0xffffffff);

	a.s_addr = htonl(0x01020304);
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "0x1.2.3.4",
		"1.2.3.-4", "10.1", "16909060", "1..2.3", "a.b.c.d", "::1", "1.2.3.4/24",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (net_parse_ipv4(bad[i], &a) != -EINVAL)
			fail_msg("\"%s\" was not refused", bad[i]);
	}
	assert_int_equal(net_parse_ipv4(NULL, &a), -EINVAL);
	assert_int_equal(ntohl(a.s_addr), 0x01020304);
}

static void test_netmask(void **state)
{
	(void)state;
	struct in_addr m;
	assert_int_equal(net_parse_netmask("255.255.255.0", &m), 0);
	assert_int_equal(ntohl(m.s_addr), 0xffffff00);
	assert_int_equal(net_netmask_prefix(m), 24);
	assert_int_equal(net_parse_netmask("255.255.255.252", &m), 0);
	assert_int_equal(net_netmask_prefix(m), 30);
	assert_int_equal(net_parse_netmask("255.255.255.255", &m), 0);
	assert_int_equal(net_netmask_prefix(m), 32);
	assert_int_equal(net_parse_netmask("128.0.0.0", &m), 0);
	assert_int_equal(net_netmask_prefix(m), 1);
	assert_int_equal(net_parse_netmask("0.0.0.0", &m), 0);
	assert_int_equal(net_netmask_prefix(m), 0);

	m.s_addr = htonl(0xffff0000);
	static const char *const bad[] = {
		"255.0.255.0", "0.255.255.255", "255.255.255.253", "255.255.254.255",
		"1.0.0.0",     "255.255.255",	"",		   "255.255.255.0.",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (net_parse_netmask(bad[i], &m) != -EINVAL)
			fail_msg("\"%s\" was not refused", bad[i]);
	}
	assert_int_equal(ntohl(m.s_addr), 0xffff0000);

	/* Every prefix length round-trips, every single-hole mask is refused. */
	for (int len = 0; len <= 32; len++) {
		uint32_t mask = len ? ~0u << (32 - len) : 0;
		struct in_addr a = { htonl(mask) };
		assert_int_equal(net_netmask_prefix(a), len);
		if (len >= 2) {
			/* Clear one bit inside the ones (not the last one). */
			a.s_addr = htonl(mask & ~(1u << (32 - len + 1)));
			assert_int_equal(net_netmask_prefix(a), -EINVAL);
		}
	}
}

static void test_offload_mapping(void **state)
{
	(void)state;
	assert_int_equal(tap_offload_from_virtio_features(0), 0);
	assert_int_equal(tap_offload_from_virtio_features(1ULL << 1), TUN_F_CSUM);
	assert_int_equal(tap_offload_from_virtio_features(1ULL << 7), TUN_F_TSO4);
	assert_int_equal(tap_offload_from_virtio_features(1ULL << 8), TUN_F_TSO6);
	assert_int_equal(tap_offload_from_virtio_features(1ULL << 9), TUN_F_TSO_ECN);
	assert_int_equal(tap_offload_from_virtio_features(1ULL << 10), TUN_F_UFO);
	uint64_t guest_all = (1ULL << 1) | (1ULL << 7) | (1ULL << 8) | (1ULL << 9) | (1ULL << 10);
	assert_int_equal(tap_offload_from_virtio_features(guest_all), TAP_OFFLOAD_MASK);
	/* Host-side (device receives) offloads and others do not map:
	 * CSUM 0, HOST_TSO4 11, HOST_UFO 14, MRG_RXBUF 15, VERSION_1 32. */
	uint64_t others = (1ULL << 0) | (1ULL << 11) | (1ULL << 14) | (1ULL << 15) | (1ULL << 32) |
			  (1ULL << 63);
	assert_int_equal(tap_offload_from_virtio_features(others), 0);
	assert_int_equal(tap_offload_from_virtio_features(~0ULL), TAP_OFFLOAD_MASK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_ok),	 cmocka_unit_test(test_mac_refused),
		cmocka_unit_test(test_ipv4),	 cmocka_unit_test(test_netmask),
		cmocka_unit_test(test_offload_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
