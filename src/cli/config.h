/*
 * The parsed `crosvm run` configuration. Produced by run_args.c from argv,
 * consumed by run.c. Strings are borrowed from argv unless marked owned.
 */
#ifndef CROSVM_CLI_CONFIG_H
#define CROSVM_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_PORTS 4
#define MAX_KERNEL_PARAMS 64
#define MAX_VCPUS 254 /* one IOAPIC id above the APIC ids, all 8-bit */
#define MAX_MEM_MIB (1024ULL * 1024) /* 1 TiB */
#define RT_CPU_WORDS ((MAX_VCPUS + 63) / 64)

enum serial_type { SERIAL_SINK, SERIAL_STDOUT, SERIAL_SYSLOG, SERIAL_FILE };
enum serial_hw { SERIAL_HW_8250, SERIAL_HW_VIRTIO_CONSOLE };

struct serial_config {
	bool configured; /* given with --serial (else an unconnected sink) */
	enum serial_type type;
	enum serial_hw hardware;
	uint8_t num; /* 1..4 */
	const char *path;  /* type=file output */
	const char *input; /* optional input file */
	bool console, earlycon, stdin_input;
};

#define MAX_DISKS 16
#define DISK_ID_MAX 20

struct disk_config {
	const char *path;
	bool read_only;
	bool root;	     /* -r/--rwroot: root=/dev/vdX goes on the command line */
	bool sparse;	     /* default true: discard punches holes */
	bool o_direct;
	uint32_t block_size; /* default 512 */
	char id[DISK_ID_MAX + 1];
};

#define MAX_TAP_FDS 16
#define MAX_NET_VQ_PAIRS 16

/* Network options. crosvm's rules: --host_ip, --netmask and --mac together
 * create one TAP (the MAC is the host side's); each --tap-fd is one more
 * NIC; --net-vq-pairs applies to every NIC. */
struct net_config {
	bool has_host_ip, has_netmask, has_mac;
	uint32_t host_ip, netmask; /* network byte order */
	uint8_t mac[6];
	int tap_fds[MAX_TAP_FDS]; /* borrowed from crosvm's parent */
	size_t nr_tap_fds;
	uint32_t vq_pairs; /* 1..MAX_NET_VQ_PAIRS */
};

/* crosvm's rule for guest CIDs: 0-2 are reserved (hypervisor, local, host),
 * and the CID is a 32-bit value on the wire of every transport. */
#define VSOCK_MIN_GUEST_CID 3

struct run_config {
	const char *kernel;
	const char *initrd;
	uint64_t mem_mib;
	uint32_t cpus;
	const char *params[MAX_KERNEL_PARAMS];
	size_t nr_params;
	const char *kvm_device;
	const char *syslog_tag;
	bool disable_sandbox;
	const char *seccomp_policy_dir; /* default: the installed policies (CROSVM_POLICY_DIR) */
	bool seccomp_log_failures;
	struct serial_config serial[SERIAL_PORTS]; /* 8250 ports, index num-1 */
	struct serial_config virtio_consoles[SERIAL_PORTS]; /* hardware=virtio-console, index num-1 */
	struct disk_config disks[MAX_DISKS];	   /* in command-line order: vda, vdb, ... */
	size_t nr_disks;
	struct net_config net;
	uint64_t cid;		       /* --cid: 0 = no vsock device */
	const char *socket_path;       /* -s/--socket: control socket (file or directory), or NULL */
	const char *vhost_vsock_device; /* default /dev/vhost-vsock */
	uint64_t rt_cpus[RT_CPU_WORDS]; /* --rt-cpus: bit n = vCPU n runs SCHED_RR */
	bool delay_rt;		        /* --delay-rt: only from `crosvm make_rt` on */
};

/*
 * Parses the arguments after `run`. On failure returns -EINVAL and writes a
 * one-line message (no trailing newline) into err. On `--help` returns 1.
 */
int run_args_parse(int argc, char **argv, struct run_config *cfg, char *err, size_t errlen);
/* Parses one --serial value (modified in place) into cfg->serial. */
int serial_arg_parse(char *value, struct run_config *cfg, char *err, size_t errlen);
/* After all --serial options: fills defaults (COM1 stdout console stdin when
 * none given; console and stdin default to the first serial port). */
void serial_apply_defaults(struct run_config *cfg);
void run_args_usage(int fd);
/* Parses one -r/--rwroot/-d/--rwdisk value `PATH[,key=value...]` (modified
 * in place) and appends it to cfg->disks. */
int disk_arg_parse(char *value, bool read_only, bool root, struct run_config *cfg, char *err, size_t errlen);
/* Writes a one-line error (after "invalid OPT: " when opt is not NULL)
 * into err and returns -EINVAL (args_error.c). */
int args_fail(char *err, size_t errlen, const char *opt, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The network and vsock options (net_args.c): `opt` is the long option name
 * without dashes ("host_ip", "netmask", "mac", "tap-fd", "net-vq-pairs",
 * "cid"); net_args_check() applies the cross-option rules after parsing. */
int net_arg_parse(const char *opt, const char *value, struct run_config *cfg, char *err, size_t errlen);
int net_args_check(const struct run_config *cfg, char *err, size_t errlen);
/* Whether the configuration asks for a TAP to be created. */
static inline bool net_config_creates_tap(const struct net_config *n)
{
	return n->has_host_ip || n->has_netmask || n->has_mac;
}

#endif
