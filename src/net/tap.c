/*
 * TAP file descriptors for virtio-net: creating them through /dev/net/tun,
 * adopting one passed with --tap-fd, configuring the host side of the link
 * and the per-TAP offload and virtio-net header settings.
 *
 * A TAP here is always in IFF_TAP | IFF_NO_PI mode (Ethernet frames, no
 * packet-information prefix) and, when we create it, IFF_VNET_HDR, so that
 * every frame carries the virtio-net header the guest exchanges with the
 * device and checksum/segmentation offloads pass straight through. Each
 * queue pair of the device gets its own fd on the same interface
 * (IFF_MULTI_QUEUE). Interface configuration uses the old SIOCSIF* ioctls on
 * an AF_INET datagram socket rather than netlink: four fixed requests do not
 * justify a netlink client.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fd.h"
#include "net/net.h"

#define TUN_DEVICE "/dev/net/tun"

/* Copies an interface name or pattern into an ifreq-sized buffer. */
static int copy_ifname(char dst[IFNAMSIZ], const char *name)
{
	if (!name)
		return -EINVAL;
	size_t len = strnlen(name, IFNAMSIZ);
	if (len == 0)
		return -EINVAL;
	if (len >= IFNAMSIZ)
		return -ENAMETOOLONG;
	memset(dst, 0, IFNAMSIZ);
	memcpy(dst, name, len);
	return 0;
}

/* Opens one queue fd on the TAP `name` (already a valid ifname or %d
 * pattern) with `flags`; the kernel's resolved name goes to `resolved`.
 * Returns the fd or -errno. */
static int open_queue(const char *name, short flags, char resolved[IFNAMSIZ])
{
	int fd SCOPED_FD = open(TUN_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int r = copy_ifname(ifr.ifr_name, name);
	if (r < 0)
		return r;
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(resolved, ifr.ifr_name, IFNAMSIZ);
	resolved[IFNAMSIZ - 1] = '\0';
	int out = fd;
	fd = -1; /* ownership moves to the caller */
	return out;
}

static void close_all(int fds[], unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fd_close(&fds[i]);
}

/* Opens fds[first..n-1] on `name` with `flags`; on failure closes those it
 * opened (and only those) and returns -errno. */
static int open_more(const char *name, short flags, int fds[], unsigned first, unsigned n)
{
	char resolved[IFNAMSIZ];
	for (unsigned i = first; i < n; i++) {
		int fd = open_queue(name, flags, resolved);
		if (fd < 0) {
			close_all(fds + first, i - first);
			return fd;
		}
		fds[i] = fd;
	}
	return 0;
}

int tap_open(const char *name, unsigned queues, int fds_out[], char ifname_out[IFNAMSIZ])
{
	if (queues == 0 || queues > TAP_MAX_QUEUES)
		return -EINVAL;
	for (unsigned i = 0; i < queues; i++)
		fds_out[i] = -1;
	char req[IFNAMSIZ];
	int r = copy_ifname(req, name ? name : TAP_NAME_PATTERN);
	if (r < 0)
		return r;
	short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (queues > 1)
		flags |= IFF_MULTI_QUEUE;

	/* The first open resolves a %d pattern; the others attach to that
	 * exact interface so all queues share it. */
	char resolved[IFNAMSIZ];
	int fd = open_queue(req, flags, resolved);
	if (fd < 0)
		return fd;
	fds_out[0] = fd;
	r = open_more(resolved, flags, fds_out, 1, queues);
	if (r < 0) {
		fd_close(&fds_out[0]);
		return r;
	}
	if (ifname_out)
		memcpy(ifname_out, resolved, IFNAMSIZ);
	return 0;
}

/* Reads /sys/class/net/<ifname>/<attr> into buf as a string without its
 * trailing newline. Returns 0 or -errno. */
static int read_sysfs_attr(const char *ifname, const char *attr, char *buf, size_t size)
{
	char path[64];
	int n = snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int fd SCOPED_FD = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t got;
	do
		got = read(fd, buf, size - 1);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	buf[got] = '\0';
	if (got > 0 && buf[got - 1] == '\n')
		buf[got - 1] = '\0';
	return 0;
}

/*
 * The TUN/TAP flags of the device behind `fd` (named `ifname`) as sysfs
 * shows them. sysfs shows the network namespace it was mounted in, which
 * need not be the device's, so an interface of the same name there could be
 * another device: the MAC address read through the fd must match too.
 * Returns false when sysfs cannot tell (not mounted, other namespace).
 */
static bool sysfs_tun_flags(int fd, const char *ifname, unsigned *flags)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return false;
	char buf[32];
	uint8_t mac[NET_MAC_LEN];
	if (read_sysfs_attr(ifname, "address", buf, sizeof(buf)) < 0 ||
	    net_parse_mac(buf, mac) < 0 || memcmp(mac, ifr.ifr_hwaddr.sa_data, NET_MAC_LEN) != 0)
		return false;
	if (read_sysfs_attr(ifname, "tun_flags", buf, sizeof(buf)) < 0)
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(buf, &end, 16);
	if (end == buf || *end != '\0' || errno != 0 || v > UINT_MAX)
		return false;
	*flags = (unsigned)v;
	return true;
}

int tap_from_fd(int fd, struct tap_info *info)
{
	if (fd < 0)
		return -EBADF;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0)
		return -errno;

	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		/* Pipes, files and sockets do not know the request; some drivers
		 * answer EINVAL rather than ENOTTY. Both mean "not a TUN/TAP". */
		if (errno == ENOTTY || errno == EINVAL)
			return -ENOTTY;
		return -errno;
	}
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	unsigned flags = (unsigned short)ifr.ifr_flags;
	if ((flags & (IFF_TUN | IFF_TAP)) != IFF_TAP)
		return -EINVAL;
	/* TUNGETIFF also sets IFF_NOFILTER, the same bit as IFF_NO_PI, when
	 * no socket filter is attached, so its NO_PI bit proves little; sysfs
	 * has the device's own flags when it shows this device. */
	unsigned real;
	if (sysfs_tun_flags(fd, ifr.ifr_name, &real))
		flags = (flags & ~(unsigned)IFF_NO_PI) | (real & IFF_NO_PI);
	if (!(flags & IFF_NO_PI))
		return -EINVAL;
	/* The device both reads (tx) and writes (rx) frames on it. */
	if ((fl & O_ACCMODE) != O_RDWR)
		return -EBADF;

	/* Validated: only now change the fd, so a refusal leaves it as it was. */
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -errno;

	memcpy(info->ifname, ifr.ifr_name, IFNAMSIZ);
	info->ifname[IFNAMSIZ - 1] = '\0';
	info->vnet_hdr = (flags & IFF_VNET_HDR) != 0;
	info->multi_queue = (flags & IFF_MULTI_QUEUE) != 0;
	return 0;
}

int tap_add_queues(const struct tap_info *info, unsigned count, int fds_out[])
{
	if (count == 0 || count > TAP_MAX_QUEUES - 1)
		return -EINVAL;
	for (unsigned i = 0; i < count; i++)
		fds_out[i] = -1;
	if (!info->multi_queue)
		return -EINVAL;
	/* TUNSETIFF on an existing TAP rewrites its NO_PI/VNET_HDR flags for
	 * every queue, so repeat exactly what the TAP already has. */
	short flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	if (info->vnet_hdr)
		flags |= IFF_VNET_HDR;
	char name[IFNAMSIZ];
	int r = copy_ifname(name, info->ifname);
	if (r < 0)
		return r;
	return open_more(name, flags, fds_out, 0, count);
}

/* Runs one SIOC[GS]IF* request on a throwaway AF_INET socket: the request
 * names the interface, the socket only selects the IPv4 handlers. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s SCOPED_FD = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr) < 0)
		return -errno;
	return 0;
}

static int set_inet(const char *ifname, unsigned long req, struct in_addr addr)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int r = copy_ifname(ifr.ifr_name, ifname);
	if (r < 0)
		return r;
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr = addr;
	/* ifr_addr and ifr_netmask share the union's storage. */
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return if_ioctl(req, &ifr);
}

int tap_set_ipv4_addr(const char *ifname, struct in_addr addr)
{
	if (addr.s_addr == htonl(INADDR_ANY))
		return -EINVAL;
	return set_inet(ifname, SIOCSIFADDR, addr);
}

int tap_set_netmask(const char *ifname, struct in_addr mask)
{
	if (net_netmask_prefix(mask) < 0)
		return -EINVAL;
	return set_inet(ifname, SIOCSIFNETMASK, mask);
}

int tap_set_mac(const char *ifname, const uint8_t mac[NET_MAC_LEN])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int r = copy_ifname(ifr.ifr_name, ifname);
	if (r < 0)
		return r;
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, NET_MAC_LEN);
	return if_ioctl(SIOCSIFHWADDR, &ifr);
}

int tap_set_up(const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int r = copy_ifname(ifr.ifr_name, ifname);
	if (r < 0)
		return r;
	int s SCOPED_FD = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	/* Read-modify-write so flags set by others (e.g. IFF_PROMISC) survive. */
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

int tap_get_mtu(const char *ifname)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	int r = copy_ifname(ifr.ifr_name, ifname);
	if (r < 0)
		return r;
	r = if_ioctl(SIOCGIFMTU, &ifr);
	if (r < 0)
		return r;
	if (ifr.ifr_mtu <= 0)
		return -EINVAL;
	return ifr.ifr_mtu;
}

int tap_set_offload(int fd, unsigned flags)
{
	if (flags & ~(unsigned)TAP_OFFLOAD_MASK)
		return -EINVAL;
	/* TUNSETOFFLOAD takes the flags by value, not through a pointer. */
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	return 0;
}

int tap_set_vnet_hdr_size(int fd, int size)
{
	if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
		return -errno;
	return 0;
}
