/*
 * The client subcommands that talk to a running VM's control socket, with
 * crosvm's syntax: stop, suspend, resume, make_rt, balloon, balloon_stats,
 * disk resize, usb and battery. They are thin: each parses its arguments
 * and calls libcrosvm_control, the same library C programs use, so the
 * CLI and the library cannot drift apart. Each error is one line naming
 * the command, the socket and the cause; the status is non-zero if any VM
 * failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/parse.h"
#include "cli/commands.h"
#include "libcrosvm_control/crosvm_control.h"

static int usage_error(const char *cmd, const char *args)
{
	log_error("usage: crosvm %s %s", cmd, args);
	return 1;
}

static int wants_help(int argc, char **argv, const char *cmd, const char *args, const char *what)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: crosvm %s %s\n%s\n", cmd, args, what);
		return 1;
	}
	return 0;
}

/* Reports a failed library call on one socket; returns 1 so callers can
 * OR the results. */
static int failed(const char *cmd, const char *socket, bool ok)
{
	if (ok)
		return 0;
	log_error("%s: %s: %s", cmd, socket, crosvm_client_last_error());
	return 1;
}

/* The commands that take only VM sockets: one call per socket. */
static int for_each_vm(int argc, char **argv, const char *cmd, const char *what, bool (*call)(const char *))
{
	if (wants_help(argc, argv, cmd, "VM_SOCKET...", what))
		return 0;
	if (argc < 2)
		return usage_error(cmd, "VM_SOCKET...");
	int status = 0;
	for (int i = 1; i < argc; i++)
		status |= failed(cmd, argv[i], call(argv[i]));
	return status;
}

int cmd_stop(int argc, char **argv)
{
	return for_each_vm(argc, argv, "stop", "Stop running VMs through their control sockets.",
			   crosvm_client_stop_vm);
}

int cmd_suspend(int argc, char **argv)
{
	return for_each_vm(argc, argv, "suspend", "Pause every vCPU of running VMs.", crosvm_client_suspend_vm);
}

int cmd_resume(int argc, char **argv)
{
	return for_each_vm(argc, argv, "resume", "Let suspended VMs run again.", crosvm_client_resume_vm);
}

int cmd_make_rt(int argc, char **argv)
{
	return for_each_vm(argc, argv, "make_rt",
			   "Move the --rt-cpus vCPUs of VMs started with --delay-rt to real-time scheduling.",
			   crosvm_client_make_rt_vm);
}

int cmd_balloon(int argc, char **argv)
{
	if (wants_help(argc, argv, "balloon", "SIZE VM_SOCKET...",
		       "Set the balloon of running VMs to SIZE bytes (memory taken from the guest)."))
		return 0;
	if (argc < 3)
		return usage_error("balloon", "SIZE VM_SOCKET...");
	uint64_t bytes;
	if (parse_size(argv[1], &bytes) < 0) {
		log_error("balloon: invalid SIZE '%s': expected a number of bytes", argv[1]);
		return 1;
	}
	int status = 0;
	for (int i = 2; i < argc; i++)
		status |= failed("balloon", argv[i], crosvm_client_balloon_vms(argv[i], bytes));
	return status;
}

/* One statistic as JSON: the guest did not report the -1 ones. */
static void print_stat(const char *name, int64_t v, bool first)
{
	printf("%s\"%s\":", first ? "" : ",", name);
	if (v < 0)
		printf("null");
	else
		printf("%" PRId64, v);
}

int cmd_balloon_stats(int argc, char **argv)
{
	if (wants_help(argc, argv, "balloon_stats", "VM_SOCKET", "Print a running VM's balloon statistics."))
		return 0;
	if (argc != 2)
		return usage_error("balloon_stats", "VM_SOCKET");
	struct BalloonStatsFfi s;
	uint64_t actual;
	if (failed("balloon_stats", argv[1], crosvm_client_balloon_stats(argv[1], &s, &actual)))
		return 1;
	/* JSON with crosvm's field names. */
	printf("{\"BalloonStats\":{\"stats\":{");
	print_stat("swap_in", s.swap_in, true);
	print_stat("swap_out", s.swap_out, false);
	print_stat("major_faults", s.major_faults, false);
	print_stat("minor_faults", s.minor_faults, false);
	print_stat("free_memory", s.free_memory, false);
	print_stat("total_memory", s.total_memory, false);
	print_stat("available_memory", s.available_memory, false);
	print_stat("disk_caches", s.disk_caches, false);
	print_stat("hugetlb_allocations", s.hugetlb_allocations, false);
	print_stat("hugetlb_failures", s.hugetlb_failures, false);
	print_stat("shared_memory", s.shared_memory, false);
	print_stat("unevictable_memory", s.unevictable_memory, false);
	printf("},\"balloon_actual\":%" PRIu64 "}}\n", actual);
	return 0;
}

int cmd_disk(int argc, char **argv)
{
	static const char args[] = "resize DISK_INDEX NEW_SIZE VM_SOCKET";
	if (wants_help(argc, argv, "disk", args,
		       "Resize a writable disk of a running VM to NEW_SIZE bytes; DISK_INDEX counts the disk\n"
		       "options (--root, --rwroot, --disk, --rwdisk) of `crosvm run` from 0."))
		return 0;
	if (argc != 5 || strcmp(argv[1], "resize") != 0)
		return usage_error("disk", args);
	uint64_t index, size;
	if (parse_u64_range(argv[2], 0, UINT32_MAX, &index) < 0) {
		log_error("disk resize: invalid DISK_INDEX '%s': expected a disk number from 0", argv[2]);
		return 1;
	}
	if (parse_size(argv[3], &size) < 0 || size == 0) {
		log_error("disk resize: invalid NEW_SIZE '%s': expected a size in bytes", argv[3]);
		return 1;
	}
	return failed("disk resize", argv[4], crosvm_client_resize_disk(argv[4], index, size));
}

/* BUS_ID:ADDR:VID:PID, the first two decimal and the ids hexadecimal as
 * lsusb prints them. */
static int parse_usb_id(const char *s, uint8_t *bus, uint8_t *addr, uint16_t *vid, uint16_t *pid)
{
	char copy[64];
	if (strlen(s) >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, s);
	char *field[4], *save = NULL, *p = copy;
	for (int i = 0; i < 4; i++, p = NULL)
		if (!(field[i] = strtok_r(p, ":", &save)))
			return -EINVAL;
	if (strtok_r(NULL, ":", &save))
		return -EINVAL;
	uint64_t v[4];
	for (int i = 0; i < 4; i++) {
		char hex[24];
		const char *f = field[i];
		if (i >= 2) {
			if (strlen(f) > 4 || strncmp(f, "0x", 2) == 0)
				return -EINVAL;
			snprintf(hex, sizeof(hex), "0x%s", f);
			f = hex;
		}
		if (parse_u64_range(f, 0, i < 2 ? UINT8_MAX : UINT16_MAX, &v[i]) < 0)
			return -EINVAL;
	}
	*bus = (uint8_t)v[0];
	*addr = (uint8_t)v[1];
	*vid = (uint16_t)v[2];
	*pid = (uint16_t)v[3];
	return 0;
}

static int usb_attach(int argc, char **argv)
{
	if (argc != 5)
		return usage_error("usb", "attach BUS_ID:ADDR:VID:PID DEV_PATH VM_SOCKET");
	uint8_t bus, addr, port = 0;
	uint16_t vid, pid;
	if (parse_usb_id(argv[2], &bus, &addr, &vid, &pid) < 0) {
		log_error("usb attach: invalid device '%s': expected BUS_ID:ADDR:VID:PID like 1:3:18d1:4ee7", argv[2]);
		return 1;
	}
	if (failed("usb attach", argv[4], crosvm_client_usb_attach(argv[4], bus, addr, vid, pid, argv[3], &port)))
		return 1;
	printf("ok %u\n", port);
	return 0;
}

static int usb_detach(int argc, char **argv)
{
	if (argc != 4)
		return usage_error("usb", "detach PORT VM_SOCKET");
	uint64_t port;
	if (parse_u64_range(argv[2], 0, UINT8_MAX, &port) < 0) {
		log_error("usb detach: invalid PORT '%s': expected a port number from 0 to 255", argv[2]);
		return 1;
	}
	if (failed("usb detach", argv[3], crosvm_client_usb_detach(argv[3], (uint8_t)port)))
		return 1;
	printf("ok %u\n", (unsigned)port);
	return 0;
}

static int usb_list(int argc, char **argv)
{
	if (argc != 3)
		return usage_error("usb", "list VM_SOCKET");
	size_t max = crosvm_client_max_usb_devices();
	struct UsbDeviceEntry *e = calloc(max ? max : 1, sizeof(*e));
	if (!e) {
		log_error("usb list: out of memory");
		return 1;
	}
	ssize_t n = crosvm_client_usb_list(argv[2], e, (ssize_t)max);
	int status = failed("usb list", argv[2], n >= 0);
	if (!status) {
		printf("devices");
		for (ssize_t i = 0; i < n && (size_t)i < max; i++)
			printf(" %u %04x %04x", e[i].port, e[i].vendor_id, e[i].product_id);
		printf("\n");
	}
	free(e);
	return status;
}

int cmd_usb(int argc, char **argv)
{
	static const char args[] =
		"attach BUS_ID:ADDR:VID:PID DEV_PATH VM_SOCKET | detach PORT VM_SOCKET | list VM_SOCKET";
	if (wants_help(argc, argv, "usb", args, "Manage the USB devices passed through to a running VM."))
		return 0;
	if (argc >= 2 && strcmp(argv[1], "attach") == 0)
		return usb_attach(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "detach") == 0)
		return usb_detach(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return usb_list(argc, argv);
	return usage_error("usb", args);
}

int cmd_battery(int argc, char **argv)
{
	static const char args[] = "TYPE PROPERTY TARGET VM_SOCKET";
	if (wants_help(argc, argv, "battery", args,
		       "Change the emulated battery's state: TYPE goldfish, PROPERTY status, health,\n"
		       "present, capacity or aconline, TARGET its new value."))
		return 0;
	if (argc != 5)
		return usage_error("battery", args);
	return failed("battery", argv[4], crosvm_client_modify_battery(argv[4], argv[1], argv[2], argv[3]));
}
