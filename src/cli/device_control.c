/*
 * Control requests a device answers itself (see vm.h, struct device_ctl):
 * the balloon's target and statistics, a disk's resize. One handler table
 * per device type serves both homes a device can have: called directly
 * for a device in crosvm's process, and as the handler table of its
 * device process's control channel (vm_control/dispatch.h) for a jailed
 * one, where crosvm forwards the request and relays the reply. Either way
 * the same code acts and words the errors.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm.h"
#include "virtio/balloon/balloon.h"
#include "virtio/block/block.h"
#include "vm_control/client.h"
#include "vm_control/server.h"

/* How long balloon_stats waits for the guest to answer. */
#define BALLOON_STATS_TIMEOUT_MS 2000
/* How long crosvm waits for a device process's reply: longer than the
 * slowest request it serves (balloon_stats above). */
#define FORWARD_TIMEOUT_MS 5000

/* ---- the handlers (ctx: the device) ---- */

static int balloon_target(void *ctx, uint64_t bytes)
{
	return virtio_balloon_set_target(ctx, bytes);
}

static int balloon_stats(void *ctx, struct vmc_balloon_stats *out)
{
	uint64_t gen;
	int r = virtio_balloon_request_stats(ctx, &gen);
	if (r < 0)
		return r;
	if ((r = virtio_balloon_wait_stats(ctx, gen, BALLOON_STATS_TIMEOUT_MS, &out->stats)) < 0)
		return r;
	out->actual_bytes = virtio_balloon_actual(ctx);
	return 0;
}

static int disk_resize(void *ctx, uint32_t index, uint64_t new_size, char *err, size_t errlen)
{
	int r = virtio_blk_resize(ctx, new_size);
	if (r == -EINVAL)
		snprintf(err, errlen, "disk %u: the new size must be a non-zero multiple of 512 bytes", index);
	else if (r == -ENOTSUP)
		snprintf(err, errlen, "disk %u: a host block device cannot be resized", index);
	else if (r < 0)
		snprintf(err, errlen, "disk %u: cannot resize the image: %s", index, strerror(-r));
	return r;
}

static const struct vmc_handlers balloon_handlers = { .balloon = balloon_target, .balloon_stats = balloon_stats };
static const struct vmc_handlers disk_handlers = { .disk_resize = disk_resize };

const struct vmc_handlers *device_control_handlers(const struct virtio_device *d, void **ctx)
{
	switch (d->ops->device_id) {
	case VIRTIO_ID_BALLOON:
		*ctx = virtio_balloon_from_device(d);
		return &balloon_handlers;
	case VIRTIO_ID_BLOCK:
		*ctx = d->dev;
		return &disk_handlers;
	default:
		*ctx = NULL;
		return NULL;
	}
}

/* ---- calling them, wherever the device is ---- */

/* Sends req to t's device process and returns its answer's status, with
 * its message in err (when given). */
static int forward(const struct device_ctl *t, const struct vmc_request *req, struct vmc_reply *rep, char *err,
		   size_t errlen)
{
	int r = vmc_call_connected(t->fd, req, rep, FORWARD_TIMEOUT_MS);
	if (r < 0) {
		if (err)
			snprintf(err, errlen, "%s: the device process did not answer: %s", vmc_type_name(req->type),
				 strerror(-r));
		return r;
	}
	if (err && rep->status < 0)
		snprintf(err, errlen, "%s", rep->msg);
	return rep->status;
}

int device_ctl_balloon(const struct device_ctl *t, uint64_t bytes)
{
	if (t->dev)
		return balloon_target(t->dev, bytes);
	if (t->fd < 0)
		return -ENODEV;
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = bytes };
	struct vmc_reply rep;
	return forward(t, &req, &rep, NULL, 0);
}

int device_ctl_balloon_stats(const struct device_ctl *t, struct vmc_balloon_stats *out)
{
	if (t->dev)
		return balloon_stats(t->dev, out);
	if (t->fd < 0)
		return -ENODEV;
	struct vmc_request req = { .type = VMC_REQ_BALLOON_STATS };
	struct vmc_reply rep;
	int r = forward(t, &req, &rep, NULL, 0);
	if (r == 0)
		*out = rep.balloon_stats;
	return r;
}

int device_ctl_disk_resize(const struct device_ctl *t, uint32_t index, uint64_t new_size, char *err, size_t errlen)
{
	if (t->dev)
		return disk_resize(t->dev, index, new_size, err, errlen);
	if (t->fd < 0)
		return -ENODEV;
	struct vmc_request req = { .type = VMC_REQ_DISK_RESIZE, .u.disk_resize = { index, new_size } };
	struct vmc_reply rep;
	return forward(t, &req, &rep, err, errlen);
}
