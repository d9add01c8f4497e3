/*
 * Kernel vhost ioctl wrappers (see vhost.h). Every ioctl goes through
 * xioctl(), which retries on EINTR and records the ioctl's name on failure,
 * as the KVM wrappers do. The memory table and ring addresses are computed
 * by pure helpers so they can be tested without a vhost device.
 */
#include "vhost/vhost.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/checked.h"
#include "base/fd.h"

static int real_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	(void)ctx;
	int r;
	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

const struct vhost_kernel_ops vhost_kernel_ioctl_ops = { .ioctl = real_ioctl };

#define XIOCTL(vk, req, arg) xioctl((vk), #req, (req), (arg))

static int xioctl(struct vhost_kernel *vk, const char *name, unsigned long req, void *arg)
{
	if (vk->fd < 0) {
		vk->failed_ioctl = name;
		return -EBADF;
	}
	int r = vk->ops->ioctl(vk->ops_ctx, vk->fd, req, arg);
	if (r < 0)
		vk->failed_ioctl = name;
	return r;
}

void vhost_kernel_init_ops(struct vhost_kernel *vk, int fd, const struct vhost_kernel_ops *ops, void *ctx)
{
	*vk = (struct vhost_kernel){ .fd = fd, .ops = ops, .ops_ctx = ctx, .failed_ioctl = NULL };
}

void vhost_kernel_init(struct vhost_kernel *vk, int fd)
{
	vhost_kernel_init_ops(vk, fd, &vhost_kernel_ioctl_ops, NULL);
}

void vhost_kernel_close(struct vhost_kernel *vk)
{
	if (vk && vk->ops)
		fd_close(&vk->fd);
}

int vhost_kernel_set_owner(struct vhost_kernel *vk)
{
	return XIOCTL(vk, VHOST_SET_OWNER, NULL);
}

int vhost_kernel_get_features(struct vhost_kernel *vk, uint64_t *features)
{
	uint64_t f = 0;
	int r = XIOCTL(vk, VHOST_GET_FEATURES, &f);
	if (r < 0)
		return r;
	*features = f;
	return 0;
}

int vhost_kernel_set_features(struct vhost_kernel *vk, uint64_t features)
{
	uint64_t f = features;
	return XIOCTL(vk, VHOST_SET_FEATURES, &f);
}

int vhost_mem_table_build(const struct guest_memory *gm, struct vhost_memory **out)
{
	*out = NULL;
	if (gm->nr_regions == 0 || gm->nr_regions > GM_MAX_REGIONS)
		return -EINVAL;
	for (size_t i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *rg = &gm->regions[i];
		uint64_t last;
		if (rg->size == 0 || !rg->host || !ck_add_u64(gpa_val(rg->base), rg->size - 1, &last) ||
		    !ck_add_u64((uintptr_t)rg->host, rg->size - 1, &last))
			return -EINVAL;
	}
	/* At most GM_MAX_REGIONS entries: not sized by anything outside. */
	struct vhost_memory *m =
		calloc(1, sizeof(*m) + gm->nr_regions * sizeof(struct vhost_memory_region));
	if (!m)
		return -ENOMEM;
	m->nregions = (uint32_t)gm->nr_regions;
	for (size_t i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *rg = &gm->regions[i];
		m->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = gpa_val(rg->base),
			.memory_size = rg->size,
			.userspace_addr = (uint64_t)(uintptr_t)rg->host,
			.flags_padding = 0,
		};
	}
	*out = m;
	return 0;
}

int vhost_kernel_set_mem_table(struct vhost_kernel *vk, const struct guest_memory *gm)
{
	struct vhost_memory *m;
	int r = vhost_mem_table_build(gm, &m);
	if (r < 0) {
		vk->failed_ioctl = "VHOST_SET_MEM_TABLE";
		return r;
	}
	r = XIOCTL(vk, VHOST_SET_MEM_TABLE, m);
	free(m);
	return r;
}

int vhost_kernel_set_vring_num(struct vhost_kernel *vk, unsigned idx, uint16_t num)
{
	struct vhost_vring_state s = { .index = idx, .num = num };
	return XIOCTL(vk, VHOST_SET_VRING_NUM, &s);
}

int vhost_kernel_set_vring_base(struct vhost_kernel *vk, unsigned idx, uint16_t base)
{
	struct vhost_vring_state s = { .index = idx, .num = base };
	return XIOCTL(vk, VHOST_SET_VRING_BASE, &s);
}

int vhost_kernel_get_vring_base(struct vhost_kernel *vk, unsigned idx, uint16_t *base)
{
	struct vhost_vring_state s = { .index = idx, .num = 0 };
	int r = XIOCTL(vk, VHOST_GET_VRING_BASE, &s);
	if (r < 0)
		return r;
	*base = (uint16_t)s.num;
	return 0;
}

int vhost_kernel_set_vring_addr(struct vhost_kernel *vk, const struct vhost_vring_addr *addr)
{
	struct vhost_vring_addr a = *addr;
	return XIOCTL(vk, VHOST_SET_VRING_ADDR, &a);
}

int vhost_kernel_set_vring_kick(struct vhost_kernel *vk, unsigned idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };
	return XIOCTL(vk, VHOST_SET_VRING_KICK, &f);
}

int vhost_kernel_set_vring_call(struct vhost_kernel *vk, unsigned idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };
	return XIOCTL(vk, VHOST_SET_VRING_CALL, &f);
}

int vhost_kernel_set_vring_err(struct vhost_kernel *vk, unsigned idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };
	return XIOCTL(vk, VHOST_SET_VRING_ERR, &f);
}

int vhost_kernel_vsock_set_guest_cid(struct vhost_kernel *vk, uint64_t cid)
{
	uint64_t c = cid;
	return XIOCTL(vk, VHOST_VSOCK_SET_GUEST_CID, &c);
}

int vhost_kernel_vsock_set_running(struct vhost_kernel *vk, bool running)
{
	int on = running ? 1 : 0;
	return XIOCTL(vk, VHOST_VSOCK_SET_RUNNING, &on);
}

/* The host address of [addr, addr + len) if it lies inside one region. */
static int host_addr(const struct guest_memory *gm, gpa_t addr, uint64_t len, uint64_t *out)
{
	/* SAFETY: only the address is taken; the kernel accesses it through
	 * the owner's mapping, which lives as long as gm. */
	void *p = gm_get_slice(gm, addr, len);
	if (!p)
		return -EFAULT;
	*out = (uint64_t)(uintptr_t)p;
	return 0;
}

int vhost_vring_addr_from_gpa(const struct guest_memory *gm, unsigned idx, uint16_t size, gpa_t desc, gpa_t avail,
			      gpa_t used, struct vhost_vring_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (size == 0 || (size & (size - 1)) || size > 32768)
		return -EINVAL;
	if ((gpa_val(desc) & 15) || (gpa_val(avail) & 1) || (gpa_val(used) & 3))
		return -EINVAL;
	/* Sizes with the event-index fields (used_event after the available
	 * ring, avail_event after the used ring): the kernel may touch them
	 * whether or not EVENT_IDX is negotiated later. size <= 32768, so
	 * none of these overflows. */
	uint64_t n = size;
	uint64_t desc_len = 16 * n, avail_len = 6 + 2 * n, used_len = 6 + 8 * n;
	uint64_t d, a, u;
	int r;
	if ((r = host_addr(gm, desc, desc_len, &d)) < 0 || (r = host_addr(gm, avail, avail_len, &a)) < 0 ||
	    (r = host_addr(gm, used, used_len, &u)) < 0)
		return r;
	out->desc_user_addr = d;
	out->avail_user_addr = a;
	out->used_user_addr = u;
	out->index = idx;
	out->flags = 0; /* no dirty logging */
	out->log_guest_addr = 0;
	return 0;
}
