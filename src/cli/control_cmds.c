/*
 * The client subcommands that talk to a running VM's control socket:
 * `crosvm stop VM_SOCKET...`, `crosvm balloon SIZE VM_SOCKET...` and
 * `crosvm balloon_stats VM_SOCKET`. Each error is one line naming the
 * socket and the cause; the status is non-zero if any VM failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/parse.h"
#include "cli/commands.h"
#include "vm_control/client.h"

#define CALL_TIMEOUT_MS 5000

static const char *call_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "no such socket";
	case -ENOTSOCK:
		return "not a socket";
	case -ECONNREFUSED:
		return "no VM is listening (it is gone)";
	case -ETIMEDOUT:
		return "the VM did not answer in time";
	default:
		return strerror(-r);
	}
}

/* Sends req to one VM; reports any failure. Returns 0 or -1. */
static int call_one(const char *cmd, const char *socket, const struct vmc_request *req, struct vmc_reply *rep)
{
	int r = vmc_client_call(socket, req, rep, CALL_TIMEOUT_MS);
	if (r < 0) {
		log_error("%s: %s: %s", cmd, socket, call_error(r));
		return -1;
	}
	if (rep->status < 0) {
		log_error("%s: %s: %s", cmd, socket, rep->msg[0] ? rep->msg : strerror(-rep->status));
		return -1;
	}
	return 0;
}

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

int cmd_stop(int argc, char **argv)
{
	if (wants_help(argc, argv, "stop", "VM_SOCKET...", "Stop running VMs through their control sockets."))
		return 0;
	if (argc < 2)
		return usage_error("stop", "VM_SOCKET...");
	struct vmc_request req = { .type = VMC_REQ_STOP };
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		struct vmc_reply rep;
		failed |= call_one("stop", argv[i], &req, &rep);
	}
	return failed ? 1 : 0;
}

int cmd_balloon(int argc, char **argv)
{
	if (wants_help(argc, argv, "balloon", "SIZE VM_SOCKET...",
		       "Set the balloon of running VMs to SIZE bytes (memory taken from the guest)."))
		return 0;
	if (argc < 3)
		return usage_error("balloon", "SIZE VM_SOCKET...");
	uint64_t bytes;
	if (parse_u64_range(argv[1], 0, UINT64_MAX, &bytes) < 0) {
		log_error("balloon: invalid SIZE '%s': expected a number of bytes", argv[1]);
		return 1;
	}
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = bytes };
	int failed = 0;
	for (int i = 2; i < argc; i++) {
		struct vmc_reply rep;
		failed |= call_one("balloon", argv[i], &req, &rep);
	}
	return failed ? 1 : 0;
}

/* The guest's statistics as JSON, with crosvm's field names. */
static void print_stats(const struct vmc_balloon_stats *s)
{
	static const struct {
		unsigned tag;
		const char *name;
	} fields[] = {
		{ VIRTIO_BALLOON_S_SWAP_IN, "swap_in" },	  { VIRTIO_BALLOON_S_SWAP_OUT, "swap_out" },
		{ VIRTIO_BALLOON_S_MAJFLT, "major_faults" },	  { VIRTIO_BALLOON_S_MINFLT, "minor_faults" },
		{ VIRTIO_BALLOON_S_MEMFREE, "free_memory" },	  { VIRTIO_BALLOON_S_MEMTOT, "total_memory" },
		{ VIRTIO_BALLOON_S_AVAIL, "available_memory" }, { VIRTIO_BALLOON_S_CACHES, "disk_caches" },
		{ VIRTIO_BALLOON_S_HTLB_PGALLOC, "hugetlb_allocations" },
		{ VIRTIO_BALLOON_S_HTLB_PGFAIL, "hugetlb_failures" },
	};
	printf("{\"BalloonStats\":{\"stats\":{");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		printf("%s\"%s\":", i ? "," : "", fields[i].name);
		if (s->stats.valid & (1U << fields[i].tag))
			printf("%llu", (unsigned long long)s->stats.val[fields[i].tag]);
		else
			printf("null");
	}
	printf("},\"balloon_actual\":%llu}}\n", (unsigned long long)s->actual_bytes);
}

int cmd_balloon_stats(int argc, char **argv)
{
	if (wants_help(argc, argv, "balloon_stats", "VM_SOCKET", "Print a running VM's balloon statistics."))
		return 0;
	if (argc != 2)
		return usage_error("balloon_stats", "VM_SOCKET");
	struct vmc_request req = { .type = VMC_REQ_BALLOON_STATS };
	struct vmc_reply rep;
	if (call_one("balloon_stats", argv[1], &req, &rep) < 0)
		return 1;
	print_stats(&rep.balloon_stats);
	return 0;
}
