/*
 * Device processes: one virtio device moved into a jailed child process
 * (sandbox/jail.h) that serves it as a vhost-user back-end over a
 * socketpair. The main process keeps the other end and puts a proxy
 * device (vhost/user/proxy_device.h) behind its virtio-pci transport.
 *
 * The device is created in the main process, with its host resources
 * already open (disk image, TAP, console fds), then spawned: the child
 * inherits a copy of the device with exactly the fds it needs (the rest
 * are closed by the jail) and compiles nothing: the seccomp policy
 * `<policy_name>.policy` in policy_dir is compiled by the parent first, so
 * a missing or malformed policy stops start-up with "FILE:LINE: problem".
 * The parent then destroys its own copy of the device.
 *
 * The child's end is watched through a pidfd; device_process_describe_exit
 * says how it ended, naming the syscall of a seccomp violation (the filter
 * traps and the jail's reporter records it), unless log_failures asked for
 * violations to be logged (SCMP_ACT_LOG) and allowed instead.
 */
#ifndef CROSVM_DEVICE_PROCESS_DEVICE_PROCESS_H
#define CROSVM_DEVICE_PROCESS_DEVICE_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/types.h"
#include "virtio/core/virtio.h"

#define DEVICE_PROCESS_MAX_FDS 48

struct vmc_handlers;

struct device_process_config {
	const char *name;	 /* borrowed: "block", "net", ...: for messages */
	const char *policy_dir;	 /* borrowed: where <policy_name>.policy lives */
	const char *policy_name; /* borrowed: e.g. "block_device" */
	bool log_failures;	 /* --seccomp-log-failures */
	bool keep_net;		 /* share the host's network namespace */
	const int *keep_fds;	 /* borrowed: the device's own fds */
	size_t nkeep_fds;	 /* <= DEVICE_PROCESS_MAX_FDS */
	/* Optional: control requests (vm_control's, e.g. balloon or disk
	 * resize) the device answers in its process, over a second
	 * socketpair (device_process_control_fd). Called on a thread of the
	 * child with control_ctx, which must point into the device copy the
	 * child works on (the caller's pointer to dev->dev is). NULL: none. */
	const struct vmc_handlers *control;
	void *control_ctx;
};

struct device_process;

/*
 * Spawns the jailed child serving dev (borrowed: the child works on its
 * copy; the caller destroys its own afterwards). Returns 0 with *out
 * owned by the caller, or -errno with a one-line message in err naming
 * the device (and the policy file and line for a policy error).
 */
int device_process_spawn(const struct device_process_config *cfg, struct virtio_device *dev,
			 struct device_process **out, char *err, size_t errlen) MUST_USE;

/* The main process's end of the vhost-user connection; ownership moves
 * to the caller (a second call returns -1). */
int device_process_take_socket(struct device_process *p);
/* The main process's end of the control channel (borrowed; -1 without
 * config.control): a connected SOCK_SEQPACKET socket for
 * vmc_call_connected, one caller at a time. */
int device_process_control_fd(const struct device_process *p);
/* Readable once the child has ended (borrowed). */
int device_process_pidfd(const struct device_process *p);
pid_t device_process_pid(const struct device_process *p);
const char *device_process_name(const struct device_process *p);

/*
 * After the pidfd became readable: reaps the child (once) and writes one
 * line, e.g. "killed by signal SIGKILL (Killed)" or "blocked by seccomp:
 * syscall openat (257)". Returns 0, or -EAGAIN while the child still runs.
 */
int device_process_describe_exit(struct device_process *p, char *buf, size_t len) MUST_USE;

/* Kills the child if it still runs, reaps it and frees p. Accepts NULL. */
void device_process_destroy(struct device_process *p);

/* The fds of this process, ascending, into fds (at most max): the caller
 * diffs two snapshots to find what a device opened. Returns the count or
 * -errno (-E2BIG if there are more than max). */
int device_process_list_fds(int *fds, size_t max) MUST_USE;

#endif
