/*
 * TAP devices for virtio-net, and the parsers for their command-line options.
 *
 * A virtio-net device moves Ethernet frames between its virtqueues and TAP
 * file descriptors (one per queue pair). This library creates those
 * descriptors (tap_open), adopts one handed over with --tap-fd
 * (tap_from_fd), configures the host side of the link with the classic
 * SIOCSIF* ioctls, and sets the offloads the guest negotiated. Every fd it
 * creates is O_CLOEXEC | O_NONBLOCK. Functions return >= 0 on success and
 * -errno on failure; nothing prints.
 *
 * Privileges: creating a TAP and the tap_set_ipv4_addr/netmask/mac/up calls
 * need CAP_NET_ADMIN and act on the caller's network namespace, so the main
 * process does them before it starts any sandboxed device. tap_set_offload
 * and tap_set_vnet_hdr_size act on an fd and need no privilege: the device
 * calls them when the guest negotiates features.
 *
 * Which MAC address goes where (crosvm's behaviour): with
 * `--host_ip IP --netmask MASK --mac MAC` crosvm creates a TAP and gives MAC
 * to the TAP itself, i.e. the HOST side (tap_set_mac), and offers the guest
 * no MAC (VIRTIO_NET_F_MAC off; the guest driver picks a random one). With
 * `--net tap-name=NAME,mac=MAC` or `--net tap-fd=FD,mac=MAC` the MAC is the
 * GUEST's: it goes into the virtio-net config space with VIRTIO_NET_F_MAC and
 * the TAP is left alone. This library only provides the pieces; the caller
 * decides. Do not give the TAP and the guest the same MAC.
 */
#ifndef CROSVM_NET_NET_H
#define CROSVM_NET_NET_H

#include <linux/if_tun.h> /* TUN_F_* for tap_set_offload */
#include <net/if.h>	  /* IFNAMSIZ */
#include <netinet/in.h>	  /* struct in_addr */
#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"

/* Name pattern for TAPs we create; the kernel replaces %d with a free number. */
#define TAP_NAME_PATTERN "vmtap%d"
/* Most queues (fds) one TAP may have here: virtio-net's 16 queue pairs. */
#define TAP_MAX_QUEUES 16
/* Size of struct virtio_net_hdr_v1 (virtio 1.x; num_buffers always there). */
#define TAP_VNET_HDR_V1_SIZE 12
/* The TUN_F_* bits tap_set_offload accepts. */
#define TAP_OFFLOAD_MASK (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO)
#define NET_MAC_LEN 6

/* What tap_from_fd found out about an adopted TAP fd. */
struct tap_info {
	char ifname[IFNAMSIZ]; /* NUL-terminated */
	bool vnet_hdr;	       /* IFF_VNET_HDR: frames carry a virtio-net header */
	bool multi_queue;      /* IFF_MULTI_QUEUE: tap_add_queues can attach more */
};

/*
 * Opens `queues` (1..TAP_MAX_QUEUES) fds on one TAP in IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR mode, plus IFF_MULTI_QUEUE when queues > 1. `name` is an
 * interface name or a pattern with %d; NULL means TAP_NAME_PATTERN. A named
 * TAP that already exists (e.g. a persistent one from `ip tuntap add`) is
 * attached to; its IFF_MULTI_QUEUE setting must match or the kernel says
 * -EINVAL. The vnet header size is the kernel's default (10) until
 * tap_set_vnet_hdr_size.
 * On success fds_out[0..queues-1] are owned by the caller (O_CLOEXEC |
 * O_NONBLOCK) and ifname_out, if not NULL, receives the interface name. A TAP
 * we created (not persistent) disappears when its last fd is closed.
 * On failure every fds_out[i] is -1 and nothing stays open. Returns 0, or
 * -EINVAL (queues out of range, empty name), -ENAMETOOLONG (name of
 * IFNAMSIZ bytes or more), or the errno of open("/dev/net/tun") or
 * TUNSETIFF (-EPERM without CAP_NET_ADMIN, -ENOENT without /dev/net/tun,
 * -EINVAL for a name taken by a non-TAP interface or a flag mismatch).
 */
int tap_open(const char *name, unsigned queues, int fds_out[], char ifname_out[IFNAMSIZ]) MUST_USE;

/*
 * Adopts an fd given with --tap-fd: it must be a TUN/TAP fd attached to a
 * TAP (IFF_TAP) without packet information (IFF_NO_PI), open for reading
 * and writing. On success the fd gets O_NONBLOCK (this changes the open
 * file description, which the process that passed the fd shares) and
 * FD_CLOEXEC, and `info` is filled; check info->vnet_hdr before relying on
 * the virtio-net header. The fd stays the caller's; on failure it is not
 * modified.
 * IFF_NO_PI caveat: TUNGETIFF reports IFF_NOFILTER, the same bit, whenever
 * no socket filter is attached, so IFF_NO_PI is checked against
 * /sys/class/net/<name>/tun_flags when sysfs shows this very device (same
 * MAC); where it does not (sysfs absent or of another network namespace) a
 * TAP with packet information can pass, and its frames will be garbled.
 * Returns 0, -EBADF (not an open fd, or not open O_RDWR),
 * -ENOTTY (not a TUN/TAP fd: a pipe, file, socket...), -EBADFD
 * (/dev/net/tun not attached to any interface), -EINVAL (a TUN, i.e. layer 3,
 * or a TAP without IFF_NO_PI), or another -errno from fcntl/ioctl.
 */
int tap_from_fd(int fd, struct tap_info *info) MUST_USE;

/*
 * Attaches `count` more queue fds (1..TAP_MAX_QUEUES-1) to an existing
 * IFF_MULTI_QUEUE TAP described by `info` (from tap_from_fd), with the same
 * IFF_VNET_HDR setting, for --tap-fd with --net-vq-pairs > 1. Same
 * ownership and failure rules as tap_open. Returns 0, -EINVAL (count out of
 * range, or the TAP is not multi-queue) or the errno of open/TUNSETIFF.
 */
int tap_add_queues(const struct tap_info *info, unsigned count, int fds_out[]) MUST_USE;

/*
 * Host-side configuration by interface name (through a short-lived
 * AF_INET/SOCK_DGRAM socket). Set the address before the netmask (setting
 * an address also sets its classful default mask; the kernel refuses a
 * netmask on an interface without an address with -EADDRNOTAVAIL), the MAC
 * before bringing the link up. Each returns 0 or -errno (-ENODEV: no such
 * interface; -EPERM: no CAP_NET_ADMIN; -EINVAL/-ENAMETOOLONG: bad name).
 */
/* SIOCSIFADDR. 0.0.0.0 is refused with -EINVAL (the kernel would delete the address instead). */
int tap_set_ipv4_addr(const char *ifname, struct in_addr addr) MUST_USE;
/* SIOCSIFNETMASK. A mask whose ones are not contiguous is refused with -EINVAL. */
int tap_set_netmask(const char *ifname, struct in_addr mask) MUST_USE;
/* SIOCSIFHWADDR: the TAP's (host side's) own MAC, not the guest's. The
 * kernel refuses multicast and all-zero addresses with -EADDRNOTAVAIL. */
int tap_set_mac(const char *ifname, const uint8_t mac[NET_MAC_LEN]) MUST_USE;
/* SIOCGIFFLAGS then SIOCSIFFLAGS with IFF_UP | IFF_RUNNING added. */
int tap_set_up(const char *ifname) MUST_USE;
/* SIOCGIFMTU: returns the MTU (> 0), e.g. for virtio-net's config space, or -errno. */
int tap_get_mtu(const char *ifname) MUST_USE;

/*
 * TUNSETOFFLOAD: `flags` is a subset of TAP_OFFLOAD_MASK (else -EINVAL) and
 * says which offloaded frames the reader of this fd (the guest) accepts.
 * The kernel itself refuses (-EINVAL) TSO4/TSO6/UFO without CSUM and
 * TSO_ECN without TSO4 or TSO6; a guest can ask for such a mix through the
 * control queue, so the device must treat an error as VIRTIO_NET_ERR, not
 * as fatal. The setting belongs to the TAP, so any one queue fd will do.
 */
int tap_set_offload(int fd, unsigned flags) MUST_USE;
/*
 * TUNSETVNETHDRSZ: bytes of virtio-net header on every frame read or
 * written on this TAP; TAP_VNET_HDR_V1_SIZE for virtio 1.x. The kernel
 * refuses sizes below 10 with -EINVAL. Needs IFF_VNET_HDR to have effect.
 * (The header is little-endian, the host's order on x86, so no TUNSETVNETLE.)
 */
int tap_set_vnet_hdr_size(int fd, int size) MUST_USE;
/*
 * Maps negotiated virtio-net feature bits (or the bitmap of a
 * VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET command) to TUN_F_* flags:
 * GUEST_CSUM (bit 1) -> TUN_F_CSUM, GUEST_TSO4 (7) -> TSO4, GUEST_TSO6 (8)
 * -> TSO6, GUEST_ECN (9) -> TSO_ECN, GUEST_UFO (10) -> UFO; other bits are
 * ignored. No dependency fix-up (see tap_set_offload). Pure.
 */
unsigned tap_offload_from_virtio_features(uint64_t features);

/*
 * Pure parsers for option values; safe on any NUL-terminated input, and
 * they write *out only on success.
 */
/*
 * "aa:bb:cc:dd:ee:ff": six groups of one or two hex digits (either case)
 * separated by ':', nothing else. Returns 0; -EINVAL if malformed;
 * -EADDRNOTAVAIL if well formed but not a unicast station address
 * (multicast bit set, which includes broadcast, or all zeros), which
 * neither a TAP nor a guest's driver accepts. crosvm itself accepts those.
 */
int net_parse_mac(const char *s, uint8_t mac[NET_MAC_LEN]) MUST_USE;
/* Dotted-quad IPv4 address via inet_pton (exactly four decimal parts).
 * Returns 0 or -EINVAL. */
int net_parse_ipv4(const char *s, struct in_addr *out) MUST_USE;
/* A dotted-quad netmask whose ones are contiguous from the top (0.0.0.0 to
 * 255.255.255.255). Returns 0 or -EINVAL. */
int net_parse_netmask(const char *s, struct in_addr *out) MUST_USE;
/* The prefix length (0..32) of a netmask in network byte order, or -EINVAL
 * if its ones are not contiguous. */
int net_netmask_prefix(struct in_addr mask) MUST_USE;

#endif
