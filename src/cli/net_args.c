/*
 * Parsing of the network and vsock options of `crosvm run`: --host_ip,
 * --netmask, --mac (together: create and configure a TAP), --tap-fd
 * (repeatable: one NIC per fd), --net-vq-pairs and --cid. Values are
 * checked here; whether an fd really is a TAP is checked when the VM is
 * built (net/tap.c), since that needs the fd itself.
 */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/parse.h"
#include "net/net.h"

int net_arg_parse(const char *opt, const char *value, struct run_config *cfg, char *err, size_t errlen)
{
	struct net_config *n = &cfg->net;
	uint64_t v;
	if (strcmp(opt, "host_ip") == 0) {
		struct in_addr a;
		if (n->has_host_ip)
			return args_fail(err, errlen, NULL, "--host_ip given twice");
		if (net_parse_ipv4(value, &a) < 0 || a.s_addr == 0)
			return args_fail(err, errlen, NULL, "invalid --host_ip '%s': expected an IPv4 address like 192.168.10.1",
				    value);
		n->host_ip = a.s_addr;
		n->has_host_ip = true;
	} else if (strcmp(opt, "netmask") == 0) {
		struct in_addr a;
		if (n->has_netmask)
			return args_fail(err, errlen, NULL, "--netmask given twice");
		if (net_parse_netmask(value, &a) < 0)
			return args_fail(err, errlen, NULL, "invalid --netmask '%s': expected a netmask like 255.255.255.0",
				    value);
		n->netmask = a.s_addr;
		n->has_netmask = true;
	} else if (strcmp(opt, "mac") == 0) {
		if (n->has_mac)
			return args_fail(err, errlen, NULL, "--mac given twice");
		int r = net_parse_mac(value, n->mac);
		if (r == -EADDRNOTAVAIL)
			return args_fail(err, errlen, NULL, "invalid --mac '%s': not a unicast address", value);
		if (r < 0)
			return args_fail(err, errlen, NULL, "invalid --mac '%s': expected six hex bytes like 02:00:00:12:34:56",
				    value);
		n->has_mac = true;
	} else if (strcmp(opt, "tap-fd") == 0) {
		if (n->nr_tap_fds >= MAX_TAP_FDS)
			return args_fail(err, errlen, NULL, "too many --tap-fd (at most %d)", MAX_TAP_FDS);
		if (parse_u64_range(value, 3, INT32_MAX, &v) < 0)
			return args_fail(err, errlen, NULL, "invalid --tap-fd '%s': expected a file descriptor number above 2",
				    value);
		for (size_t i = 0; i < n->nr_tap_fds; i++)
			if (n->tap_fds[i] == (int)v)
				return args_fail(err, errlen, NULL, "--tap-fd %d given twice", (int)v);
		n->tap_fds[n->nr_tap_fds++] = (int)v;
	} else if (strcmp(opt, "net-vq-pairs") == 0) {
		if (parse_u64_range(value, 1, MAX_NET_VQ_PAIRS, &v) < 0)
			return args_fail(err, errlen, NULL, "invalid --net-vq-pairs '%s': expected a count from 1 to %d", value,
				    MAX_NET_VQ_PAIRS);
		n->vq_pairs = (uint32_t)v;
	} else if (strcmp(opt, "cid") == 0) {
		if (parse_u64_range(value, VSOCK_MIN_GUEST_CID, UINT32_MAX - 1, &v) < 0)
			return args_fail(err, errlen, NULL, "invalid --cid '%s': expected a number from %d to %u", value,
				    VSOCK_MIN_GUEST_CID, UINT32_MAX - 1);
		cfg->cid = v;
	} else {
		return args_fail(err, errlen, NULL, "unexpected network option --%s", opt);
	}
	return 0;
}

int net_args_check(const struct run_config *cfg, char *err, size_t errlen)
{
	const struct net_config *n = &cfg->net;
	if (net_config_creates_tap(n) && !(n->has_host_ip && n->has_netmask && n->has_mac))
		return args_fail(err, errlen, NULL, "--host_ip, --netmask and --mac must be given together");
	return 0;
}
