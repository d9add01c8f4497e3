/*
 * The control socket of `crosvm run -s PATH`: the handlers that the
 * vm_control server thread calls for each client request, acting on the
 * running VM. stop asks for the same orderly exit a power-off takes;
 * balloon and balloon_stats drive the virtio-balloon device. Requests
 * whose devices or features are not built yet (suspend, resume, disk
 * resize, real-time, USB, battery) are answered with an error by the
 * server (NULL handlers).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm.h"
#include "virtio/balloon/balloon.h"
#include "vm_control/server.h"

/* How long balloon_stats waits for the guest to answer. */
#define BALLOON_STATS_TIMEOUT_MS 2000

static int handle_stop(void *ctx)
{
	vm_request_exit(ctx, VM_EXIT_STOP);
	return 0;
}

static int handle_balloon(void *ctx, uint64_t bytes)
{
	struct vm *vm = ctx;
	if (!vm->balloon)
		return -ENODEV;
	return virtio_balloon_set_target(vm->balloon, bytes);
}

static int handle_balloon_stats(void *ctx, struct vmc_balloon_stats *out)
{
	struct vm *vm = ctx;
	if (!vm->balloon)
		return -ENODEV;
	uint64_t gen;
	int r = virtio_balloon_request_stats(vm->balloon, &gen);
	if (r < 0)
		return r;
	if ((r = virtio_balloon_wait_stats(vm->balloon, gen, BALLOON_STATS_TIMEOUT_MS, &out->stats)) < 0)
		return r;
	out->actual_bytes = virtio_balloon_actual(vm->balloon);
	return 0;
}

static const struct vmc_handlers handlers = {
	.stop = handle_stop,
	.balloon = handle_balloon,
	.balloon_stats = handle_balloon_stats,
};

int control_open(struct vm *vm, char *err, size_t errlen)
{
	if (!vm->cfg->socket_path)
		return 0;
	int r = vmc_server_open(vm->cfg->socket_path, &handlers, vm, NULL, &vm->control);
	if (r < 0) {
		snprintf(err, errlen, "cannot open the control socket %s: %s%s", vm->cfg->socket_path, strerror(-r),
			 r == -EADDRINUSE ? " (another VM is listening there)" : "");
		return r;
	}
	return 0;
}

void control_close(struct vm *vm)
{
	vmc_server_close(vm->control);
	vm->control = NULL;
}
