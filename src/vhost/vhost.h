/*
 * Kernel vhost: thin wrappers around the vhost ioctls (Linux uapi
 * <linux/vhost.h>) on an fd the caller opened, e.g. /dev/vhost-vsock. This
 * is the only code in crosvm that issues them.
 *
 * The kernel runs the data path of a virtio device itself: it reads the
 * rings and buffers through the VMM's own mapping of guest memory, waits on
 * the kick eventfds and writes the call eventfds. So it needs the memory
 * table (guest physical address -> VMM virtual address of every region,
 * used for the buffer addresses found in descriptors) and, per ring, the
 * VMM virtual addresses of the three ring parts, which
 * vhost_vring_addr_from_gpa() translates with bounds checks.
 *
 * Like the KVM wrappers, a struct vhost_kernel records the name of the last
 * ioctl that failed so the caller can say "VHOST_VSOCK_SET_GUEST_CID:
 * Address already in use". Functions return 0 (or a non-negative value) on
 * success and -errno on failure.
 */
#ifndef CROSVM_VHOST_VHOST_H
#define CROSVM_VHOST_VHOST_H

#include <linux/vhost.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "vm_memory/vm_memory.h"

/* How the wrapper reaches the kernel: vhost_kernel_ioctl_ops is ioctl(2);
 * tests substitute a fake kernel. ioctl returns >= 0 or -errno. */
struct vhost_kernel_ops {
	int (*ioctl)(void *ctx, int fd, unsigned long req, void *arg);
};
extern const struct vhost_kernel_ops vhost_kernel_ioctl_ops;

struct vhost_kernel {
	int fd;					/* owned; -1 when closed */
	const struct vhost_kernel_ops *ops;	/* borrowed, static */
	void *ops_ctx;				/* borrowed */
	const char *failed_ioctl;		/* static string: the last ioctl that failed */
};

/* Wraps fd (ownership moves to vk). No ioctl is issued. */
void vhost_kernel_init(struct vhost_kernel *vk, int fd);
/* Same with another way to the kernel (tests). */
void vhost_kernel_init_ops(struct vhost_kernel *vk, int fd, const struct vhost_kernel_ops *ops, void *ctx);
/* Closes the fd: the kernel then stops the device and drops everything
 * bound to it. Accepts a closed or zeroed struct. */
void vhost_kernel_close(struct vhost_kernel *vk);

/* Makes the calling process the owner: the kernel will access guest
 * memory through this process's address space. Must come first. */
int vhost_kernel_set_owner(struct vhost_kernel *vk) MUST_USE;
int vhost_kernel_get_features(struct vhost_kernel *vk, uint64_t *features) MUST_USE;
int vhost_kernel_set_features(struct vhost_kernel *vk, uint64_t features) MUST_USE;
/* Hands the kernel the regions of gm (see vhost_mem_table_build). */
int vhost_kernel_set_mem_table(struct vhost_kernel *vk, const struct guest_memory *gm) MUST_USE;

/* Per ring `idx`. num: the queue size. base: the next available index to
 * process. */
int vhost_kernel_set_vring_num(struct vhost_kernel *vk, unsigned idx, uint16_t num) MUST_USE;
int vhost_kernel_set_vring_base(struct vhost_kernel *vk, unsigned idx, uint16_t base) MUST_USE;
int vhost_kernel_get_vring_base(struct vhost_kernel *vk, unsigned idx, uint16_t *base) MUST_USE;
/* addr->index selects the ring; addresses as vhost_vring_addr_from_gpa
 * makes them. */
int vhost_kernel_set_vring_addr(struct vhost_kernel *vk, const struct vhost_vring_addr *addr) MUST_USE;
/* Binds eventfd fd (borrowed: the kernel takes its own reference) as the
 * ring's kick (the kernel waits on it), call (the kernel writes it to
 * interrupt the driver) or error (written when the driver breaks the ring)
 * eventfd. fd = VHOST_FILE_UNBIND (-1) unbinds. */
int vhost_kernel_set_vring_kick(struct vhost_kernel *vk, unsigned idx, int fd) MUST_USE;
int vhost_kernel_set_vring_call(struct vhost_kernel *vk, unsigned idx, int fd) MUST_USE;
int vhost_kernel_set_vring_err(struct vhost_kernel *vk, unsigned idx, int fd) MUST_USE;

/* vhost-vsock. The CID is refused with -EADDRINUSE when another device
 * has it. Running: start (true) or stop (false) processing the rings. */
int vhost_kernel_vsock_set_guest_cid(struct vhost_kernel *vk, uint64_t cid) MUST_USE;
int vhost_kernel_vsock_set_running(struct vhost_kernel *vk, bool running) MUST_USE;

/* ---- pure helpers (no ioctl) ---- */

/*
 * Builds the VHOST_SET_MEM_TABLE argument: one entry per region of gm
 * (guest_phys_addr = region base, memory_size = size, userspace_addr =
 * the region's mapping in this process). *out is allocated (free() it).
 * Returns 0, -EINVAL for a guest memory without regions or with a region
 * that is empty, unmapped or wraps, or -ENOMEM.
 */
int vhost_mem_table_build(const struct guest_memory *gm, struct vhost_memory **out) MUST_USE;

/*
 * Translates the guest physical addresses of ring `idx` of `size` entries
 * (a power of two, 1..32768) into the VMM virtual addresses
 * VHOST_SET_VRING_ADDR wants. Each part must be aligned as virtio requires
 * (descriptors 16, available ring 2, used ring 4) and lie wholly inside one
 * guest memory region, event-index fields included. Returns 0, -EINVAL
 * (size or alignment) or -EFAULT (not guest memory).
 */
int vhost_vring_addr_from_gpa(const struct guest_memory *gm, unsigned idx, uint16_t size, gpa_t desc, gpa_t avail,
			      gpa_t used, struct vhost_vring_addr *out) MUST_USE;

#endif
