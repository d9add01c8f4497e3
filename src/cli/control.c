/*
 * The control socket of `crosvm run -s PATH`: the handlers that the
 * vm_control server thread calls for each client request, acting on the
 * running VM. stop asks for the same orderly exit a power-off takes;
 * suspend and resume park and release the vCPUs; make_rt moves the
 * --rt-cpus vCPUs to real-time scheduling; balloon and balloon_stats
 * drive the virtio-balloon device; disk resize grows or shrinks a
 * writable disk and interrupts the guest so it rereads the capacity
 * (those act on the device where it lives: device_control.c).
 * Requests whose devices are not built yet (USB, battery) are answered
 * with an error by the server (NULL handlers).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm.h"
#include "vm_control/server.h"

static int handle_stop(void *ctx)
{
	vm_request_exit(ctx, VM_EXIT_STOP);
	return 0;
}

static int handle_suspend(void *ctx)
{
	return vcpus_suspend(ctx);
}

static int handle_resume(void *ctx)
{
	vcpus_resume(ctx);
	return 0;
}

static int handle_make_rt(void *ctx, char *err, size_t errlen)
{
	return vcpus_make_rt(ctx, err, errlen);
}

static int handle_balloon(void *ctx, uint64_t bytes)
{
	return device_ctl_balloon(&((struct vm *)ctx)->balloon, bytes);
}

static int handle_balloon_stats(void *ctx, struct vmc_balloon_stats *out)
{
	return device_ctl_balloon_stats(&((struct vm *)ctx)->balloon, out);
}

static int handle_disk_resize(void *ctx, uint32_t index, uint64_t new_size, char *err, size_t errlen)
{
	struct vm *vm = ctx;
	if (index >= vm->nr_disks) {
		snprintf(err, errlen, "no such disk: index %u (the VM has %u)", index, vm->nr_disks);
		return -ENODEV;
	}
	if (vm->disk_read_only[index]) {
		snprintf(err, errlen, "disk %u is read-only", index);
		return -EROFS;
	}
	return device_ctl_disk_resize(&vm->disks[index], index, new_size, err, errlen);
}

static const struct vmc_handlers handlers = {
	.stop = handle_stop,
	.suspend = handle_suspend,
	.resume = handle_resume,
	.make_rt = handle_make_rt,
	.disk_resize = handle_disk_resize,
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
