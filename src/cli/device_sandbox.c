/*
 * Moving a virtio device into its own jailed process (the default; not
 * with --disable-sandbox): the device is created here as usual, then
 * device_process_spawn gives a child a copy of it serving vhost-user, our
 * copy is destroyed, and a proxy device stands in for it behind the
 * virtio-pci transport.
 *
 * Which fds are the device's: the difference of this process's fd table
 * before and after the device was created (start-up is single-threaded,
 * so nothing else opens fds meanwhile). That is exactly what the device
 * opened or duplicated: its image, TAP queues, console fds, eventfds.
 *
 * The balloon and virtio-blk also answer control requests (`crosvm
 * balloon`, `disk resize`): their processes get a control channel served
 * with the device's own handlers (device_control.c). vhost-vsock is the
 * kernel's and stays as it is.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "cli/vm.h"
#include "device_process/device_process.h"
#include "virtio/console/console.h"
#include "vhost/user/proxy_device.h"
#include "vhost/user/protocol.h"

/* How long a dying device process gets to be reaped before we report it. */
#define DEATH_WAIT_MS 1000

/* How a device process ended, waiting a little for it to finish dying
 * (its socket closes just before its exit is visible). */
static void describe_soon(struct device_process *p, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = device_process_pidfd(p), .events = POLLIN };
	(void)poll(&pfd, 1, DEATH_WAIT_MS);
	if (device_process_describe_exit(p, buf, len) < 0)
		snprintf(buf, len, "stopped answering (process %d)", (int)device_process_pid(p));
}

int fd_snapshot_take(struct fd_snapshot *s)
{
	int n = device_process_list_fds(s->fds, FD_SNAPSHOT_MAX);
	s->n = n < 0 ? 0 : n;
	return n < 0 ? n : 0;
}

static bool jailed_type(uint32_t device_id)
{
	return device_id == VIRTIO_ID_RNG || device_id == VIRTIO_ID_NET || device_id == VIRTIO_ID_CONSOLE ||
	       device_id == VIRTIO_ID_BLOCK || device_id == VIRTIO_ID_BALLOON;
}

bool device_sandbox_wanted(const struct vm *vm, const struct virtio_device *d)
{
	return !vm->cfg->disable_sandbox && jailed_type(d->ops->device_id);
}

int device_sandbox_move(struct vm *vm, struct virtio_device *vdev, const struct fd_snapshot *before, int *ctl_fd,
			char *err, size_t errlen)
{
	*ctl_fd = -1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *name = vdev->ops->name;
	struct fd_snapshot now;
	int keep[DEVICE_PROCESS_MAX_FDS];
	size_t nkeep = 0;
	int r = fd_snapshot_take(&now);
	if (r < 0) {
		snprintf(err, errlen, "device %s: cannot list its fds: %s", name, strerror(-r));
		goto destroy_dev;
	}
	for (int i = 0, j = 0; i < now.n; i++) {
		while (j < before->n && before->fds[j] < now.fds[i])
			j++;
		if (j < before->n && before->fds[j] == now.fds[i])
			continue;
		if (nkeep == DEVICE_PROCESS_MAX_FDS) {
			snprintf(err, errlen, "device %s: too many fds to hand to its process", name);
			r = -E2BIG;
			goto destroy_dev;
		}
		keep[nkeep++] = now.fds[i];
	}
	if (vm->nr_procs >= MAX_VIRTIO_DEVICES) {
		snprintf(err, errlen, "device %s: too many device processes", name);
		r = -ENOSPC;
		goto destroy_dev;
	}
	char policy[48];
	snprintf(policy, sizeof(policy), "%s_device", name);
	struct device_process_config c = {
		.name = name,
		.policy_dir = vm->cfg->seccomp_policy_dir,
		.policy_name = policy,
		.log_failures = vm->cfg->seccomp_log_failures,
		.keep_fds = keep,
		.nkeep_fds = nkeep,
	};
	/* The handlers' ctx points into vdev's device, which the child gets
	 * a copy of at the same address. */
	c.control = device_control_handlers(vdev, &c.control_ctx);
	struct vhu_proxy_info info = {
		.device_id = vdev->ops->device_id,
		.num_queues = vdev->ops->num_queues(vdev->dev),
		.queue_max_size = vdev->ops->queue_max_size(vdev->dev, 0),
		/* The device reads zeros past its own configuration. */
		.config_size = VHU_MAX_CONFIG_SIZE,
	};
	for (unsigned q = 0; q < info.num_queues && q < VIRTIO_MAX_QUEUES; q++)
		info.queue_max_sizes[q] = vdev->ops->queue_max_size(vdev->dev, q);
	struct device_process *p;
	r = device_process_spawn(&c, vdev, &p, err, errlen);
	/* The child has its own copy now (or none: start-up fails). The open
	 * files are shared with it: ours must go without changing them. */
	if (vdev->ops->device_id == VIRTIO_ID_CONSOLE)
		virtio_console_disown_fds(vdev->dev);
	vdev->ops->destroy(vdev->dev);
	if (r < 0)
		return r;
	struct virtio_device proxy;
	if ((r = vhu_proxy_create(device_process_take_socket(p), &info, &proxy)) < 0) {
		char why[160];
		describe_soon(p, why, sizeof(why));
		snprintf(err, errlen, "device %s: its process did not start serving: %s", name, why);
		device_process_destroy(p);
		return r;
	}
	vm->procs[vm->nr_procs++] = (struct vm_device_proc){ .proc = p, .dead_fd = vhu_proxy_dead_fd(&proxy), .proxy = proxy };
	*ctl_fd = device_process_control_fd(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* What sandboxing costs at start-up (bench/blk prints it). */
	log_info("device %s: jailed in process %d, spawned and connected in %.2f ms", name, (int)device_process_pid(p),
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	*vdev = proxy;
	return 0;
destroy_dev:
	vdev->ops->destroy(vdev->dev);
	return r;
}

bool device_sandbox_check(struct vm *vm, int fd)
{
	for (unsigned i = 0; i < vm->nr_procs; i++) {
		struct vm_device_proc *d = &vm->procs[i];
		if (fd != device_process_pidfd(d->proc) && fd != d->dead_fd)
			continue;
		char why[200];
		describe_soon(d->proc, why, sizeof(why));
		/* A process that ended cleanly was told to: by our side giving up
		 * on the connection, whose reason is the one to report. */
		int conn = vhu_proxy_error(&d->proxy);
		if (conn < 0)
			log_error("device %s: %s (connection: %s)", device_process_name(d->proc), why, strerror(-conn));
		else
			log_error("device %s: %s", device_process_name(d->proc), why);
		return true;
	}
	return false;
}

void device_sandbox_destroy_all(struct vm *vm)
{
	while (vm->nr_procs > 0) {
		vm->nr_procs--;
		device_process_destroy(vm->procs[vm->nr_procs].proc);
	}
}
