/*
 * `crosvm run` argument parsing: argv to struct run_config, with crosvm's
 * option names and value syntax. Pure (no I/O besides usage text) so it is
 * unit-tested directly. Options crosvm has that this build does not
 * implement yet are recognised by name and refused with a clear message,
 * rather than being reported as unknown.
 */
#include "cli/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/parse.h"

enum {
	OPT_SERIAL = 1000,
	OPT_KVM_DEVICE,
	OPT_DISABLE_SANDBOX,
	OPT_SYSLOG_TAG,
	OPT_NO_SMT,
	OPT_ROOT,
	OPT_RWROOT,
	OPT_DISK,
	OPT_RWDISK,
	OPT_VHOST_VSOCK_DEVICE,
	OPT_SOCKET,
	OPT_RT_CPUS,
	OPT_SECCOMP_POLICY_DIR,
	OPT_SECCOMP_LOG_FAILURES,
	OPT_DELAY_RT,
	OPT_NET, /* OPT_NET + i: net_options[i], parsed by net_args.c */
	OPT_UNSUPPORTED = OPT_NET + 100, /* every option from here on is recognised but refused */
};

/* crosvm options this build recognises but does not implement yet. */
static const struct {
	const char *name;
	int has_arg;
} unsupported[] = {
	{ "pmem-device", required_argument }, { "rw-pmem-device", required_argument },
	{ "pstore", required_argument },
	{ "vhost-net", no_argument },
	{ "shared-dir", required_argument },
	{ "vhost-user-blk", required_argument },
	{ "vhost-user-net", required_argument },
	{ "vhost-user-console", required_argument },
	{ "vhost-user-fs", required_argument },
	{ "vhost-user-wl", required_argument },
	{ "vhost-user-mac80211-hwsim", required_argument },
	{ "vhost-net-device", required_argument },
	{ "cpu-affinity", required_argument },
	{ "cpu-cluster", required_argument }, { "cpu-capacity", required_argument },
	{ "hugepages", no_argument },	      { "split-irqchip", no_argument },
	{ "bios", required_argument },	      { "no-legacy", no_argument },
	{ "acpi-table", required_argument },  { "dmi", required_argument },
	{ "protected-vm", no_argument },      { "swiotlb", required_argument },
	{ "android-fstab", required_argument },
	{ "wayland-sock", required_argument },
	{ "no-wl", no_argument },	      { "x-display", required_argument },
	{ "display-window-keyboard", no_argument },
	{ "display-window-mouse", no_argument },
	{ "gpu", optional_argument },	      { "gpu-display", required_argument },
	{ "evdev", required_argument },	      { "single-touch", required_argument },
	{ "multi-touch", required_argument }, { "trackpad", required_argument },
	{ "mouse", required_argument },	      { "keyboard", required_argument },
	{ "switches", required_argument },    { "ac97", required_argument },
	{ "sound", required_argument },	      { "video-decoder", no_argument },
	{ "video-encoder", no_argument },     { "software-tpm", no_argument },
	{ "battery", optional_argument },     { "vfio", required_argument },
	{ "balloon_bias_mib", required_argument },
	{ "direct-pmio", required_argument }, { "direct-level-irq", required_argument },
	{ "direct-edge-irq", required_argument },
	{ "gdb", required_argument },	      { "plugin", required_argument },
	{ "plugin-root", required_argument }, { "plugin-mount", required_argument },
	{ "plugin-mount-file", required_argument },
	{ "plugin-gid-map", required_argument },
	{ "plugin-gid-map-file", required_argument },
};

/* Options net_args.c parses (all take a value). */
static const char *const net_options[] = { "host_ip", "netmask", "mac", "tap-fd", "net-vq-pairs", "cid" };

static const struct option supported[] = {
	{ "mem", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "params", required_argument, NULL, 'p' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "kvm-device", required_argument, NULL, OPT_KVM_DEVICE },
	{ "disable-sandbox", no_argument, NULL, OPT_DISABLE_SANDBOX },
	{ "syslog-tag", required_argument, NULL, OPT_SYSLOG_TAG },
	/* Our CPU topology already has one thread per core, which is what
	 * --no-smt asks for. */
	{ "no-smt", no_argument, NULL, OPT_NO_SMT },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "rwroot", required_argument, NULL, OPT_RWROOT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rwdisk", required_argument, NULL, OPT_RWDISK },
	{ "vhost-vsock-device", required_argument, NULL, OPT_VHOST_VSOCK_DEVICE },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "rt-cpus", required_argument, NULL, OPT_RT_CPUS },
	{ "seccomp-policy-dir", required_argument, NULL, OPT_SECCOMP_POLICY_DIR },
	{ "seccomp-log-failures", no_argument, NULL, OPT_SECCOMP_LOG_FAILURES },
	{ "delay-rt", no_argument, NULL, OPT_DELAY_RT },
	{ "help", no_argument, NULL, 'h' },
};

#define NR_OPTIONS (ARRAY_SIZE(supported) + ARRAY_SIZE(net_options) + ARRAY_SIZE(unsupported) + 1)
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static void build_options(struct option *opts)
{
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(supported); i++)
		opts[n++] = supported[i];
	for (size_t i = 0; i < ARRAY_SIZE(net_options); i++)
		opts[n++] = (struct option){ net_options[i], required_argument, NULL, OPT_NET + (int)i };
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		opts[n++] = (struct option){ unsupported[i].name, unsupported[i].has_arg, NULL,
					     OPT_UNSUPPORTED + (int)i };
	opts[n] = (struct option){ 0 };
}

/* crosvm's short options -r, -d and -s are its long --root, --disk and
 * --socket. */
static int short_to_long(int c)
{
	if (c == 'r')
		return OPT_ROOT;
	if (c == 'd')
		return OPT_DISK;
	return OPT_SOCKET;
}

int run_args_parse(int argc, char **argv, struct run_config *cfg, char *err, size_t errlen)
{
	struct option opts[NR_OPTIONS];
	build_options(opts);
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_mib = 256;
	cfg->cpus = 1;
	cfg->kvm_device = "/dev/kvm";
	cfg->seccomp_policy_dir = CROSVM_POLICY_DIR;
	cfg->vhost_vsock_device = "/dev/vhost-vsock";
	cfg->net.vq_pairs = 1;
	for (int i = 0; i < SERIAL_PORTS; i++)
		cfg->serial[i].num = cfg->virtio_consoles[i].num = (uint8_t)(i + 1);

	optind = 0; /* reset getopt (GNU: 0 also re-initialises) */
	opterr = 0;
	int c;
	/* '+': stop at the first non-option, the kernel path. */
	while ((c = getopt_long(argc, argv, "+:m:c:p:i:r:d:s:h", opts, NULL)) != -1) {
		if (c == 'r' || c == 'd' || c == 's')
			c = short_to_long(c);
		uint64_t v;
		switch (c) {
		case 'm':
			if (parse_u64_range(optarg, 1, MAX_MEM_MIB, &v) < 0)
				return args_fail(err, errlen, NULL, "invalid --mem '%s': expected a size in MiB from 1 to %llu",
					    optarg, (unsigned long long)MAX_MEM_MIB);
			cfg->mem_mib = v;
			break;
		case 'c':
			if (parse_u64_range(optarg, 1, MAX_VCPUS, &v) < 0)
				return args_fail(err, errlen, NULL, "invalid --cpus '%s': expected a count from 1 to %d", optarg,
					    MAX_VCPUS);
			cfg->cpus = (uint32_t)v;
			break;
		case 'p':
			if (cfg->nr_params >= MAX_KERNEL_PARAMS)
				return args_fail(err, errlen, NULL, "too many --params (at most %d)", MAX_KERNEL_PARAMS);
			cfg->params[cfg->nr_params++] = optarg;
			break;
		case 'i':
			cfg->initrd = optarg;
			break;
		case OPT_SERIAL: {
			int r = serial_arg_parse(optarg, cfg, err, errlen);
			if (r < 0)
				return r;
			break;
		}
		case OPT_KVM_DEVICE:
			cfg->kvm_device = optarg;
			break;
		case OPT_DISABLE_SANDBOX:
			cfg->disable_sandbox = true;
			break;
		case OPT_SYSLOG_TAG:
			cfg->syslog_tag = optarg;
			break;
		case OPT_NO_SMT:
			break;
		case OPT_ROOT:
		case OPT_RWROOT:
		case OPT_DISK:
		case OPT_RWDISK: {
			int r = disk_arg_parse(optarg, c == OPT_ROOT || c == OPT_DISK, c == OPT_ROOT || c == OPT_RWROOT,
					       cfg, err, errlen);
			if (r < 0)
				return r;
			break;
		}
		case OPT_SOCKET:
			if (!*optarg)
				return args_fail(err, errlen, NULL, "--socket needs a path");
			cfg->socket_path = optarg;
			break;
		case OPT_RT_CPUS:
			if (parse_cpu_set(optarg, MAX_VCPUS, cfg->rt_cpus, RT_CPU_WORDS) < 0)
				return args_fail(err, errlen, NULL,
						 "invalid --rt-cpus '%s': expected vCPU numbers and ranges like 0,2-3",
						 optarg);
			break;
		case OPT_SECCOMP_POLICY_DIR:
			if (!*optarg)
				return args_fail(err, errlen, NULL, "--seccomp-policy-dir needs a path");
			cfg->seccomp_policy_dir = optarg;
			break;
		case OPT_SECCOMP_LOG_FAILURES:
			cfg->seccomp_log_failures = true;
			break;
		case OPT_DELAY_RT:
			cfg->delay_rt = true;
			break;
		case OPT_VHOST_VSOCK_DEVICE:
			if (!*optarg)
				return args_fail(err, errlen, NULL, "--vhost-vsock-device needs a path");
			cfg->vhost_vsock_device = optarg;
			break;
		case 'h':
			return 1;
		case ':':
			return args_fail(err, errlen, NULL, "option '%s' needs a value", argv[optind - 1]);
		case '?':
			if (optopt)
				return args_fail(err, errlen, NULL, "unknown option '-%c'", optopt);
			return args_fail(err, errlen, NULL, "unknown option '%s'", argv[optind - 1]);
		default:
			if (c >= OPT_NET && c < OPT_NET + (int)ARRAY_SIZE(net_options)) {
				int r = net_arg_parse(net_options[c - OPT_NET], optarg, cfg, err, errlen);
				if (r < 0)
					return r;
				break;
			}
			if (c >= OPT_UNSUPPORTED && c < OPT_UNSUPPORTED + (int)ARRAY_SIZE(unsupported))
				return args_fail(err, errlen, NULL, "option --%s is not supported by this crosvm yet",
					    unsupported[c - OPT_UNSUPPORTED].name);
			return args_fail(err, errlen, NULL, "unexpected option");
		}
	}
	if (optind >= argc)
		return args_fail(err, errlen, NULL, "missing KERNEL: usage: crosvm run [OPTIONS] KERNEL");
	if (argc - optind > 1)
		return args_fail(err, errlen, NULL, "unexpected argument '%s' after KERNEL '%s'", argv[optind + 1],
			    argv[optind]);
	cfg->kernel = argv[optind];
	for (unsigned n = cfg->cpus; n < MAX_VCPUS; n++)
		if (cfg->rt_cpus[n / 64] & (1ULL << (n % 64)))
			return args_fail(err, errlen, NULL, "invalid --rt-cpus: vCPU %u does not exist (the VM has %u)",
					 n, cfg->cpus);
	serial_apply_defaults(cfg);
	return net_args_check(cfg, err, errlen);
}

void run_args_usage(int fd)
{
	dprintf(fd,
		"Usage: crosvm run [OPTIONS] KERNEL\n"
		"Boot a virtual machine with KERNEL, an ELF vmlinux or a bzImage.\n"
		"\n"
		"Options:\n"
		"  -m, --mem N            guest memory in MiB (default 256)\n"
		"  -c, --cpus N           number of vCPUs (default 1)\n"
		"  -p, --params STRING    extra kernel command line (repeatable)\n"
		"  -i, --initrd PATH      initial ramdisk\n"
		"  --serial type=TYPE[,hardware=serial|virtio-console,num=1..4,path=PATH,input=PATH,console,earlycon,stdin]\n"
		"                         configure a serial port (repeatable); TYPE is stdout, syslog,\n"
		"                         sink or file; default: COM1 to stdout, console, stdin\n"
		"  -r, --root PATH[,OPTS] read-only root disk (adds root=/dev/vdX ro)\n"
		"  --rwroot PATH[,OPTS]   writable root disk (adds root=/dev/vdX rw)\n"
		"  -d, --disk PATH[,OPTS] read-only disk\n"
		"  --rwdisk PATH[,OPTS]   writable disk\n"
		"                         OPTS: sparse=BOOL (default true), block_size=BYTES (512),\n"
		"                         id=STRING (up to 20 characters), o_direct=BOOL\n"
		"  --host_ip IP --netmask MASK --mac MAC\n"
		"                         create a TAP with this host address and MAC for a virtio NIC\n"
		"  --tap-fd FD            a virtio NIC on this open TAP fd (repeatable)\n"
		"  --net-vq-pairs N       queue pairs per NIC (default 1)\n"
		"  --cid CID              a virtio vsock device with this guest CID (3 or more)\n"
		"  --vhost-vsock-device PATH  vhost-vsock device (default /dev/vhost-vsock)\n"
		"  -s, --socket PATH      control socket (a directory gets crosvm-PID.sock)\n"
		"  --rt-cpus CPUSET       vCPUs to run with real-time scheduling (e.g. 0,2-3)\n"
		"  --delay-rt             make them real-time only on `crosvm make_rt`\n"
		"  --syslog-tag TAG       tag for syslog output\n"
		"  --kvm-device PATH      KVM device (default /dev/kvm)\n"
		"  --disable-sandbox      run every device in the main process\n"
		"  --seccomp-policy-dir DIR  device policies (default " CROSVM_POLICY_DIR ")\n"
		"  --seccomp-log-failures log a device's forbidden syscalls instead of killing it\n"
		"  --no-smt               one thread per core (always the case)\n"
		"  -h, --help             show this help\n");
}
