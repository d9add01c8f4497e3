/*
 * virtio-vsock over vhost-vsock (see vsock.h).
 *
 * Creation claims the vhost device for this process (VHOST_SET_OWNER: the
 * kernel will reach guest memory through our mappings), reads the
 * kernel's features and registers the guest CID, so a CID already in use
 * fails at start-up rather than when the guest boots. Activation checks
 * the rings the driver programmed, then programs the kernel in the order
 * it expects: features, memory table, per ring size, base, addresses and
 * eventfds, then SET_RUNNING. Reset stops the kernel and unbinds the
 * eventfds (they are only borrowed until reset); the kernel accepts new
 * ring parameters once stopped, so a later activation starts afresh.
 *
 * The transport calls activate and reset with its lock held and never
 * concurrently; config reads only see immutable state. No lock is needed.
 */
#include "virtio/vsock/vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fd.h"
#include "base/log.h"
#include "vhost/vhost.h"
#include "virtio/core/queue.h"

/* The two rings the kernel runs. */
#define VHOST_RINGS 2

struct virtio_vsock {
	struct vhost_kernel vhost; /* owns the vhost-vsock fd */
	uint64_t cid;
	uint64_t features; /* offered: the kernel's, restricted to what we support */
	uint8_t config[VIRTIO_VSOCK_CONFIG_SIZE];

	bool active;
	unsigned nr_bound;	    /* rings whose eventfds the kernel holds */
	struct virtio_queue event_q; /* checked and held, never popped */
	struct log_ratelimit log;
};

/* Device-independent features a vhost-vsock kernel may offer that we pass
 * on. Never ACCESS_PLATFORM (no IOMMU here) nor the packed ring. */
#define VSOCK_SUPPORTED_FEATURES                                                                              \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

bool virtio_vsock_cid_valid(uint64_t cid)
{
	return cid >= 3 && cid < 0xffffffffULL;
}

static unsigned vsock_num_queues(void *dev)
{
	(void)dev;
	return VIRTIO_VSOCK_NUM_QUEUES;
}

static uint16_t vsock_queue_max_size(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return VIRTIO_VSOCK_QUEUE_SIZE;
}

static uint64_t vsock_features(void *dev)
{
	struct virtio_vsock *v = dev;
	return v->features;
}

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *v = dev;
	virtio_config_read_bytes(v->config, VIRTIO_VSOCK_CONFIG_SIZE, off, data, len);
}

/* guest_cid is read-only. */
static void vsock_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

/* Takes the eventfds of the first n rings back from the kernel. Returns 0
 * or the first error (the others are still attempted). */
static int unbind_rings(struct virtio_vsock *v, unsigned n)
{
	int first = 0;
	for (unsigned q = 0; q < n; q++) {
		int r[3] = {
			vhost_kernel_set_vring_kick(&v->vhost, q, VHOST_FILE_UNBIND),
			vhost_kernel_set_vring_call(&v->vhost, q, VHOST_FILE_UNBIND),
			vhost_kernel_set_vring_err(&v->vhost, q, VHOST_FILE_UNBIND),
		};
		for (unsigned i = 0; i < 3; i++)
			if (r[i] < 0 && first == 0)
				first = r[i];
	}
	return first;
}

static int setup_ring(struct virtio_vsock *v, const struct virtio_activation *act, unsigned q,
		      const struct vhost_vring_addr *addr)
{
	const struct virtio_queue_setup *s = &act->queues[q];
	int r;
	if ((r = vhost_kernel_set_vring_num(&v->vhost, q, s->cfg.size)) < 0 ||
	    (r = vhost_kernel_set_vring_base(&v->vhost, q, s->cfg.next_avail)) < 0 ||
	    (r = vhost_kernel_set_vring_addr(&v->vhost, addr)) < 0)
		return r;
	/* From here the kernel may hold an eventfd of this ring. */
	v->nr_bound = q + 1;
	if ((r = vhost_kernel_set_vring_kick(&v->vhost, q, s->kick_fd)) < 0 ||
	    (r = vhost_kernel_set_vring_call(&v->vhost, q, s->call_fd)) < 0)
		return r;
	/* A ring the driver breaks makes the kernel signal this: the
	 * transport then sets DEVICE_NEEDS_RESET. */
	if (act->error_fd >= 0 && (r = vhost_kernel_set_vring_err(&v->vhost, q, act->error_fd)) < 0)
		return r;
	return 0;
}

static int vsock_activate(void *dev, const struct virtio_activation *act)
{
	struct virtio_vsock *v = dev;
	if (v->active)
		return -EBUSY;
	if (act->nr_queues != VIRTIO_VSOCK_NUM_QUEUES)
		return -EINVAL;

	/* Check everything the driver programmed before the kernel sees any
	 * of it. The kernel needs both of its rings. */
	struct vhost_vring_addr addr[VHOST_RINGS];
	int r;
	for (unsigned q = 0; q < VHOST_RINGS; q++) {
		const struct virtio_queue_setup *s = &act->queues[q];
		if (s->cfg.size == 0 || s->cfg.size > VIRTIO_VSOCK_QUEUE_SIZE || s->kick_fd < 0 || s->call_fd < 0)
			return -EINVAL;
		if ((r = vhost_vring_addr_from_gpa(act->gm, q, s->cfg.size, s->cfg.desc, s->cfg.avail, s->cfg.used,
						   &addr[q])) < 0)
			return r;
	}
	/* The event queue is optional for us; if enabled it must be sound. */
	if ((r = virtio_queue_setup(&v->event_q, act->gm, &act->queues[VIRTIO_VSOCK_QUEUE_EVENT])) < 0)
		return r;

	v->vhost.failed_ioctl = NULL;
	if ((r = vhost_kernel_set_features(&v->vhost, act->features & v->features)) < 0 ||
	    (r = vhost_kernel_set_mem_table(&v->vhost, act->gm)) < 0)
		goto fail;
	for (unsigned q = 0; q < VHOST_RINGS; q++)
		if ((r = setup_ring(v, act, q, &addr[q])) < 0)
			goto fail_unbind;
	if ((r = vhost_kernel_vsock_set_running(&v->vhost, true)) < 0)
		goto fail_unbind;
	v->active = true;
	return 0;

fail_unbind: {
	/* Keep the name of the ioctl that failed, not of the unwinding. */
	const char *failed = v->vhost.failed_ioctl;
	int u = unbind_rings(v, v->nr_bound);
	(void)u;
	v->nr_bound = 0;
	v->vhost.failed_ioctl = failed;
}
fail:
	log_ratelimited(&v->log, LOG_LVL_WARN, "vsock: activation failed: %s: %s",
			v->vhost.failed_ioctl ? v->vhost.failed_ioctl : "?", strerror(-r));
	return r;
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	if (!v->active)
		return;
	/* Stopping waits for the kernel's worker to finish with the rings;
	 * it fails only if we are not the owner, which cannot happen here. */
	int r = vhost_kernel_vsock_set_running(&v->vhost, false);
	if (r < 0)
		log_ratelimited(&v->log, LOG_LVL_ERROR, "vsock: VHOST_VSOCK_SET_RUNNING 0: %s", strerror(-r));
	r = unbind_rings(v, v->nr_bound);
	if (r < 0)
		log_ratelimited(&v->log, LOG_LVL_ERROR, "vsock: unbinding eventfds: %s: %s",
				v->vhost.failed_ioctl ? v->vhost.failed_ioctl : "?", strerror(-r));
	v->nr_bound = 0;
	memset(&v->event_q, 0, sizeof(v->event_q));
	v->active = false;
}

static void vsock_destroy(void *dev)
{
	struct virtio_vsock *v = dev;
	if (!v)
		return;
	vsock_reset(v);
	/* Closing the fd releases the CID and everything left in the kernel. */
	vhost_kernel_close(&v->vhost);
	free(v);
}

static const struct virtio_device_ops vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = vsock_num_queues,
	.queue_max_size = vsock_queue_max_size,
	.features = vsock_features,
	.config_read = vsock_config_read,
	.config_write = vsock_config_write,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
};

int virtio_vsock_create_with_ops(uint64_t cid, int vhost_fd, const struct vhost_kernel_ops *ops, void *ops_ctx,
				 struct virtio_device *out, const char **failed_ioctl)
{
	if (failed_ioctl)
		*failed_ioctl = NULL;
	if (!virtio_vsock_cid_valid(cid) || vhost_fd < 0) {
		int e = vhost_fd < 0 ? -EBADF : -EINVAL;
		fd_close(&vhost_fd);
		return e;
	}
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	if (!v) {
		fd_close(&vhost_fd);
		return -ENOMEM;
	}
	vhost_kernel_init_ops(&v->vhost, vhost_fd, ops, ops_ctx);
	v->cid = cid;
	v->log = (struct log_ratelimit)LOG_RATELIMIT_INIT;

	uint64_t kernel_features = 0;
	int r;
	if ((r = vhost_kernel_set_owner(&v->vhost)) < 0 ||
	    (r = vhost_kernel_get_features(&v->vhost, &kernel_features)) < 0)
		goto fail;
	if (!(kernel_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		/* A modern-only device cannot run on a legacy-only kernel. */
		v->vhost.failed_ioctl = "VHOST_GET_FEATURES";
		r = -ENOTSUP;
		goto fail;
	}
	v->features = kernel_features & VSOCK_SUPPORTED_FEATURES;
	if ((r = vhost_kernel_vsock_set_guest_cid(&v->vhost, cid)) < 0)
		goto fail;
	for (unsigned i = 0; i < VIRTIO_VSOCK_CONFIG_SIZE; i++)
		v->config[i] = (uint8_t)(cid >> (8 * i));
	*out = (struct virtio_device){ .ops = &vsock_ops, .dev = v };
	return 0;
fail:
	if (failed_ioctl)
		*failed_ioctl = v->vhost.failed_ioctl;
	vhost_kernel_close(&v->vhost);
	free(v);
	return r;
}

int virtio_vsock_create(uint64_t cid, int vhost_fd, struct virtio_device *out, const char **failed_ioctl)
{
	return virtio_vsock_create_with_ops(cid, vhost_fd, &vhost_kernel_ioctl_ops, NULL, out, failed_ioctl);
}
