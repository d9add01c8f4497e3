/*
 * Tests of net/ against the real /dev/net/tun: creating single- and
 * multi-queue TAPs, configuring address, netmask, MAC and link state,
 * adopting fds the way --tap-fd does, offloads and the virtio-net header
 * size, and one ARP exchange through the TAP to check the header framing.
 *
 * They need /dev/net/tun and CAP_NET_ADMIN and skip with a message without
 * them. When allowed (root), the process first moves into a private network
 * namespace (and a mount namespace with its own sysfs) so nothing it does
 * is visible on the host; otherwise the TAPs
 * live briefly in the current namespace with TEST-NET-1 (192.0.2.0/30)
 * addresses. Every TAP here is non-persistent and vanishes with its fds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"

static const uint8_t host_mac[NET_MAC_LEN] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t guest_mac[NET_MAC_LEN] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
#define HOST_IP 0xc0000201u  /* 192.0.2.1 */
#define GUEST_IP 0xc0000202u /* 192.0.2.2 */
#define NETMASK 0xfffffffcu  /* /30 */

/* Skips the calling test unless a TAP can be created here. Failures that
 * are about this machine (no tun device or module, no privilege) skip;
 * anything else is a real failure. */
static void require_tap(void)
{
	int fd = -1;
	int r = tap_open(NULL, 1, &fd, NULL);
	if (r == -ENOENT || r == -ENODEV || r == -ENXIO || r == -EPERM || r == -EACCES) {
		print_message("skipped: cannot create a TAP here (%s); "
			      "these tests need /dev/net/tun and CAP_NET_ADMIN\n",
			      strerror(-r));
		skip();
	}
	assert_int_equal(r, 0);
	close(fd);
}

static int raw_tun(int oflags, short flags, char name[IFNAMSIZ])
{
	int fd = open("/dev/net/tun", oflags);
	assert_true(fd >= 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	if (name)
		memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

static short tun_flags(int fd, char name[IFNAMSIZ])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	assert_int_equal(ioctl(fd, TUNGETIFF, &ifr), 0);
	if (name)
		memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return ifr.ifr_flags;
}

static void if_get(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", ifname);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	if (ioctl(s, req, ifr) != 0)
		fail_msg("ioctl %#lx on %s: %s", req, ifname, strerror(errno));
	close(s);
}

static uint32_t if_get_inet(const char *ifname, unsigned long req)
{
	struct ifreq ifr;
	if_get(ifname, req, &ifr);
	struct sockaddr_in sin;
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	assert_int_equal(sin.sin_family, AF_INET);
	return ntohl(sin.sin_addr.s_addr);
}

static struct in_addr in4(uint32_t host_order)
{
	struct in_addr a = { htonl(host_order) };
	return a;
}

static void configure(const char *ifname)
{
	assert_int_equal(tap_set_ipv4_addr(ifname, in4(HOST_IP)), 0);
	assert_int_equal(tap_set_netmask(ifname, in4(NETMASK)), 0);
	assert_int_equal(tap_set_mac(ifname, host_mac), 0);
	assert_int_equal(tap_set_up(ifname), 0);
}

static void test_open_and_configure(void **state)
{
	(void)state;
	require_tap();
	int fd = -1;
	char name[IFNAMSIZ] = "";
	assert_int_equal(tap_open(NULL, 1, &fd, name), 0);
	assert_true(fd >= 0);
	assert_int_equal(strncmp(name, "vmtap", 5), 0);
	assert_true(if_nametoindex(name) > 0);

	char got[IFNAMSIZ];
	short fl = tun_flags(fd, got);
	assert_string_equal(got, name);
	assert_int_equal(fl & (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE),
			 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	int oflags = fcntl(fd, F_GETFL);
	assert_true(oflags & O_NONBLOCK);
	assert_int_equal(oflags & O_ACCMODE, O_RDWR);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* Order matters to the kernel: no netmask without an address. */
	assert_int_equal(tap_set_netmask(name, in4(NETMASK)), -EADDRNOTAVAIL);
	configure(name);
	assert_int_equal(if_get_inet(name, SIOCGIFADDR), HOST_IP);
	assert_int_equal(if_get_inet(name, SIOCGIFNETMASK), NETMASK);
	struct ifreq ifr;
	if_get(name, SIOCGIFHWADDR, &ifr);
	assert_int_equal(ifr.ifr_hwaddr.sa_family, ARPHRD_ETHER);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, host_mac, NET_MAC_LEN);
	if_get(name, SIOCGIFFLAGS, &ifr);
	assert_true(ifr.ifr_flags & IFF_UP);
	/* Carrier is on while an fd is attached, so the link runs. */
	assert_true(ifr.ifr_flags & IFF_RUNNING);
	assert_int_equal(tap_get_mtu(name), 1500);
	/* Up twice is fine. */
	assert_int_equal(tap_set_up(name), 0);

	/* Refusals: ours first, then the kernel's. */
	assert_int_equal(tap_set_ipv4_addr(name, in4(0)), -EINVAL);
	assert_int_equal(tap_set_netmask(name, in4(0xff00ff00)), -EINVAL);
	assert_int_equal(if_get_inet(name, SIOCGIFNETMASK), NETMASK);
	static const uint8_t mcast[NET_MAC_LEN] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	assert_int_equal(tap_set_mac(name, mcast), -EADDRNOTAVAIL);
	assert_int_equal(tap_set_up(""), -EINVAL);
	assert_int_equal(tap_set_up("0123456789abcdef"), -ENAMETOOLONG);
	assert_int_equal(tap_set_up("nosuchif0"), -ENODEV);
	assert_int_equal(tap_set_ipv4_addr("nosuchif0", in4(HOST_IP)), -ENODEV);
	assert_int_equal(tap_set_mac("nosuchif0", host_mac), -ENODEV);
	assert_int_equal(tap_get_mtu("nosuchif0"), -ENODEV);

	/* Closing the only fd of a non-persistent TAP removes it. */
	close(fd);
	assert_int_equal(if_nametoindex(name), 0);
}

static void test_open_named(void **state)
{
	(void)state;
	require_tap();
	int fd = -1;
	char name[IFNAMSIZ] = "";
	assert_int_equal(tap_open("cvmtest0", 1, &fd, name), 0);
	assert_string_equal(name, "cvmtest0");
	close(fd);
	assert_int_equal(if_nametoindex("cvmtest0"), 0);

	/* A pattern of our own; ifname_out may be NULL. */
	assert_int_equal(tap_open("cvmt%d", 1, &fd, name), 0);
	assert_int_equal(strncmp(name, "cvmt", 4), 0);
	int fd2 = -1;
	assert_int_equal(tap_open("cvmt%d", 1, &fd2, NULL), 0);
	close(fd2);
	close(fd);

	/* A non-multi-queue TAP refuses a second queue... */
	assert_int_equal(tap_open("cvmsingle", 1, &fd, NULL), 0);
	assert_int_equal(tap_open("cvmsingle", 1, &fd2, NULL), -EBUSY);
	assert_int_equal(fd2, -1);
	/* ...and asking for several queues on it is a flag mismatch. */
	int fds[2] = { 7, 7 };
	assert_int_equal(tap_open("cvmsingle", 2, fds, NULL), -EINVAL);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[1], -1);
	close(fd);

	/* The name of a non-TAP interface. */
	assert_int_equal(tap_open("lo", 1, &fd, NULL), -EINVAL);
	assert_int_equal(fd, -1);
	/* Arguments we refuse ourselves. */
	assert_int_equal(tap_open("", 1, &fd, NULL), -EINVAL);
	assert_int_equal(tap_open("0123456789abcdef", 1, &fd, NULL), -ENAMETOOLONG);
	assert_int_equal(tap_open(NULL, 0, &fd, NULL), -EINVAL);
	int many[TAP_MAX_QUEUES + 1];
	assert_int_equal(tap_open(NULL, TAP_MAX_QUEUES + 1, many, NULL), -EINVAL);
}

static void test_multiqueue(void **state)
{
	(void)state;
	require_tap();
	int fds[2] = { -1, -1 };
	char name[IFNAMSIZ] = "";
	assert_int_equal(tap_open(NULL, 2, fds, name), 0);
	assert_true(fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1]);
	for (int i = 0; i < 2; i++) {
		char got[IFNAMSIZ];
		short fl = tun_flags(fds[i], got);
		assert_string_equal(got, name);
		assert_true(fl & IFF_MULTI_QUEUE);
		assert_true(fl & IFF_VNET_HDR);
		assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
	}
	configure(name);

	/* Adopt one queue as --tap-fd would, then attach two more. */
	struct tap_info info;
	assert_int_equal(tap_from_fd(fds[1], &info), 0);
	assert_string_equal(info.ifname, name);
	assert_true(info.multi_queue);
	assert_true(info.vnet_hdr);
	int more[2] = { -1, -1 };
	assert_int_equal(tap_add_queues(&info, 2, more), 0);
	for (int i = 0; i < 2; i++) {
		char got[IFNAMSIZ];
		assert_true(tun_flags(more[i], got) & IFF_MULTI_QUEUE);
		assert_string_equal(got, name);
		assert_true(fcntl(more[i], F_GETFD) & FD_CLOEXEC);
	}
	int none[1] = { 7 };
	assert_int_equal(tap_add_queues(&info, 0, none), -EINVAL);
	assert_int_equal(tap_add_queues(&info, TAP_MAX_QUEUES, none), -EINVAL);
	struct tap_info single = info;
	single.multi_queue = false;
	assert_int_equal(tap_add_queues(&single, 1, none), -EINVAL);
	assert_int_equal(none[0], -1);
	for (int i = 0; i < 2; i++) {
		close(more[i]);
		close(fds[i]);
	}
	assert_int_equal(if_nametoindex(name), 0);

	/* The most queues we allow. */
	int all[TAP_MAX_QUEUES];
	assert_int_equal(tap_open(NULL, TAP_MAX_QUEUES, all, name), 0);
	for (int i = 0; i < TAP_MAX_QUEUES; i++) {
		assert_true(all[i] >= 0);
		close(all[i]);
	}
	assert_int_equal(if_nametoindex(name), 0);
}

/* tap_from_fd refuses `fd` with `err` and leaves its flags alone. */
static void assert_refused(int fd, int err, const char *what)
{
	int before = fcntl(fd, F_GETFL);
	int before_fd = fcntl(fd, F_GETFD);
	struct tap_info info;
	int r = tap_from_fd(fd, &info);
	if (r != err)
		fail_msg("%s: tap_from_fd gave %d (%s), want %d", what, r, strerror(-r), err);
	assert_int_equal(fcntl(fd, F_GETFL), before);
	assert_int_equal(fcntl(fd, F_GETFD), before_fd);
}

static void test_from_fd(void **state)
{
	(void)state;
	require_tap();
	char name[IFNAMSIZ];
	struct tap_info info;

	/* A TAP as another program would pass it: blocking, inheritable. */
	int fd = raw_tun(O_RDWR, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, name);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tap_from_fd(fd, &info), 0);
	assert_string_equal(info.ifname, name);
	assert_true(info.vnet_hdr);
	assert_false(info.multi_queue);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Adopting twice is harmless. */
	assert_int_equal(tap_from_fd(fd, &info), 0);
	assert_int_equal(tap_add_queues(&info, 1, (int[1]){ -1 }), -EINVAL);
	close(fd);

	/* Without IFF_VNET_HDR: accepted, and reported. */
	fd = raw_tun(O_RDWR | O_CLOEXEC, IFF_TAP | IFF_NO_PI, NULL);
	assert_int_equal(tap_from_fd(fd, &info), 0);
	assert_false(info.vnet_hdr);
	close(fd);

	/* Not TUN/TAP fds at all. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_refused(p[0], -ENOTTY, "pipe read end");
	assert_refused(p[1], -ENOTTY, "pipe write end");
	close(p[0]);
	close(p[1]);
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_refused(fileno(f), -ENOTTY, "regular file");
	fclose(f);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_refused(fd, -ENOTTY, "/dev/null");
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_refused(fd, -ENOTTY, "UDP socket");
	close(fd);

	/* /dev/net/tun that was never attached to an interface. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_refused(fd, -EBADFD, "unattached /dev/net/tun");
	close(fd);
	/* Layer-3 TUN, and a TAP with the packet-information prefix. */
	fd = raw_tun(O_RDWR | O_CLOEXEC, IFF_TUN | IFF_NO_PI, NULL);
	assert_refused(fd, -EINVAL, "TUN device");
	close(fd);
	/* TUNGETIFF cannot tell this one (its NO_PI bit doubles as
	 * IFF_NOFILTER); sysfs can, when it shows this namespace. */
	fd = raw_tun(O_RDWR | O_CLOEXEC, IFF_TAP | IFF_VNET_HDR, name);
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	if (access(path, R_OK) == 0) {
		assert_refused(fd, -EINVAL, "TAP without IFF_NO_PI");
	} else {
		print_message("note: no %s, so a TAP without IFF_NO_PI cannot be told apart\n",
			      path);
		assert_int_equal(tap_from_fd(fd, &info), 0);
	}
	close(fd);
	/* A socket filter makes TUNGETIFF's bit mean NO_PI again; either way
	 * a TAP with IFF_NO_PI passes. */
	fd = raw_tun(O_RDWR | O_CLOEXEC, IFF_TAP | IFF_NO_PI, NULL);
	struct sock_filter accept_all = BPF_STMT(BPF_RET | BPF_K, 0xffff);
	struct sock_fprog prog = { .len = 1, .filter = &accept_all };
	assert_int_equal(ioctl(fd, TUNATTACHFILTER, &prog), 0);
	assert_true(tun_flags(fd, NULL) & IFF_NO_PI);
	assert_int_equal(tap_from_fd(fd, &info), 0);
	close(fd);
	/* A TAP the device could not write frames to. */
	fd = raw_tun(O_RDONLY | O_CLOEXEC, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, NULL);
	assert_refused(fd, -EBADF, "read-only TAP fd");
	close(fd);

	/* Not fds. */
	assert_int_equal(tap_from_fd(-1, &info), -EBADF);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tap_from_fd(fd, &info), -EBADF);
}

static void test_offload_and_vnet_hdr(void **state)
{
	(void)state;
	require_tap();
	int fd = -1;
	assert_int_equal(tap_open(NULL, 1, &fd, NULL), 0);

	int sz = 0;
	assert_int_equal(ioctl(fd, TUNGETVNETHDRSZ, &sz), 0);
	assert_int_equal(sz, 10); /* the kernel's default: no num_buffers */
	assert_int_equal(tap_set_vnet_hdr_size(fd, TAP_VNET_HDR_V1_SIZE), 0);
	assert_int_equal(ioctl(fd, TUNGETVNETHDRSZ, &sz), 0);
	assert_int_equal(sz, TAP_VNET_HDR_V1_SIZE);
	assert_int_equal(tap_set_vnet_hdr_size(fd, 4), -EINVAL);
	assert_int_equal(ioctl(fd, TUNGETVNETHDRSZ, &sz), 0);
	assert_int_equal(sz, TAP_VNET_HDR_V1_SIZE);

	/* Everything a guest can negotiate, nothing, and the usual set. */
	assert_int_equal(tap_set_offload(fd, tap_offload_from_virtio_features(~0ULL)), 0);
	assert_int_equal(tap_set_offload(fd, 0), 0);
	assert_int_equal(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO), 0);
	assert_int_equal(tap_set_offload(fd, TUN_F_CSUM), 0);
	/* Bits we do not know, and mixes the kernel refuses. */
	assert_int_equal(tap_set_offload(fd, 0x100), -EINVAL);
	assert_int_equal(tap_set_offload(fd, TUN_F_TSO4), -EINVAL);
	assert_int_equal(tap_set_offload(fd, TUN_F_UFO), -EINVAL);
	assert_int_equal(tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO_ECN), -EINVAL);

	/* On something that is not a TAP. */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(tap_set_offload(p[0], TUN_F_CSUM), -ENOTTY);
	assert_int_equal(tap_set_vnet_hdr_size(p[0], TAP_VNET_HDR_V1_SIZE), -ENOTTY);
	close(p[0]);
	close(p[1]);
	close(fd);
}

/* Ethernet + ARP for IPv4 over Ethernet, as on the wire. */
struct __attribute__((packed)) arp_frame {
	uint8_t dst[6], src[6];
	uint16_t ethertype;
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The guest side of one ARP exchange: ask who has HOST_IP, and expect the
 * host's answer, behind a 12-byte virtio-net header, from host_mac. */
static void test_arp_through_tap(void **state)
{
	(void)state;
	require_tap();
	int fd = -1;
	char name[IFNAMSIZ];
	assert_int_equal(tap_open(NULL, 1, &fd, name), 0);
	assert_int_equal(tap_set_vnet_hdr_size(fd, TAP_VNET_HDR_V1_SIZE), 0);
	configure(name);

	uint8_t buf[TAP_VNET_HDR_V1_SIZE + 2048];
	memset(buf, 0, sizeof(buf)); /* header: no checksum, no GSO */
	struct arp_frame req = {
		.ethertype = htons(0x0806),
		.htype = htons(1),
		.ptype = htons(0x0800),
		.hlen = 6,
		.plen = 4,
		.op = htons(1),
		.spa = htonl(GUEST_IP),
		.tpa = htonl(HOST_IP),
	};
	memset(req.dst, 0xff, 6);
	memcpy(req.src, guest_mac, 6);
	memcpy(req.sha, guest_mac, 6);
	memcpy(buf + TAP_VNET_HDR_V1_SIZE, &req, sizeof(req));
	/* Ethernet frames are at least 60 bytes before the FCS. */
	size_t len = TAP_VNET_HDR_V1_SIZE + 60;
	assert_int_equal(write(fd, buf, len), (ssize_t)len);

	/* The kernel may also send IPv6 neighbour discovery or MLD frames as
	 * the link comes up; skip anything that is not our reply. */
	int64_t deadline = now_ms() + 5000;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			fail_msg("no ARP reply from %s within 5 s", name);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		assert_true(pr >= 0);
		if (pr == 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n >= TAP_VNET_HDR_V1_SIZE);
		if ((size_t)n < TAP_VNET_HDR_V1_SIZE + sizeof(struct arp_frame))
			continue;
		struct arp_frame rep;
		memcpy(&rep, buf + TAP_VNET_HDR_V1_SIZE, sizeof(rep));
		if (rep.ethertype != htons(0x0806) || rep.op != htons(2))
			continue;
		/* A plain frame from the stack: no offload flags, no GSO. */
		assert_int_equal(buf[0], 0);
		assert_int_equal(buf[1], 0);
		assert_memory_equal(rep.dst, guest_mac, 6);
		assert_memory_equal(rep.src, host_mac, 6);
		assert_memory_equal(rep.sha, host_mac, 6);
		assert_int_equal(ntohl(rep.spa), HOST_IP);
		assert_int_equal(ntohl(rep.tpa), GUEST_IP);
		break;
	}
	close(fd);
	assert_int_equal(if_nametoindex(name), 0);
}

/* A private network namespace keeps our TAPs and addresses off the host;
 * being allowed to is not required (see the file comment). sysfs shows the
 * namespace it was mounted in, so a private mount namespace gets a fresh
 * one for tap_from_fd's IFF_NO_PI check to see our TAPs. */
static void isolate(void)
{
	if (unshare(CLONE_NEWNET) != 0) {
		print_message("tap_test: no private network namespace (%s); using the current one\n",
			      strerror(errno));
		return;
	}
	print_message("tap_test: running in a private network namespace\n");
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		print_message("tap_test: no sysfs of our own (%s)\n", strerror(errno));
}

int main(void)
{
	isolate();

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_and_configure),
		cmocka_unit_test(test_open_named),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_from_fd),
		cmocka_unit_test(test_offload_and_vnet_hdr),
		cmocka_unit_test(test_arp_through_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
