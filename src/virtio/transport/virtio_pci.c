/*
 * virtio-pci modern transport (see virtio_pci.h).
 *
 * State lives in one struct under one mutex: the PCI config image, the
 * common-configuration registers, the MSI-X model and the interrupt
 * routing. The device itself runs on its own threads and talks to us only
 * through eventfds: kick (guest -> device, an ioeventfd), call (device ->
 * guest, one per queue), and config/error (device -> transport).
 *
 * Interrupt routing. Every interrupt source (each queue's call eventfd, and
 * our own config-change eventfd) is either attached to KVM as an irqfd of
 * the MSI route of its vector, when MSI-X is on and the vector is
 * deliverable, or else watched by our interrupt thread, which sets a
 * pending bit (masked vector), drops the event (no vector) or raises INTx
 * with the ISR bits (MSI-X off). update_routing() recomputes that after
 * every change the driver makes to vectors, masks or the enable bit.
 */
#include "virtio/transport/virtio_pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/eventfd.h"
#include "base/fd.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_config.h"
#include "virtio/core/worker.h"

#define PCI_CAP_ID_VENDOR 0x09
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2

/* Interrupt-thread tokens beyond the sources (0..nr_queues = queues, then
 * the config source). */
#define TOKEN_DEV_CONFIG 0x1000
#define TOKEN_DEV_ERROR 0x1001

/* Common configuration register offsets (virtio 1.2, 4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGENERATION = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOFF = 0x1e,
	CC_Q_DESCLO = 0x20,
	CC_Q_DESCHI = 0x24,
	CC_Q_AVAILLO = 0x28,
	CC_Q_AVAILHI = 0x2c,
	CC_Q_USEDLO = 0x30,
	CC_Q_USEDHI = 0x34,
};

struct vp_queue {
	uint16_t max_size, size;
	bool enabled;
	uint64_t desc, avail, used;
	int kick_fd; /* owned eventfd: registered as an ioeventfd */
};

/* An interrupt source: a queue's call eventfd or the config eventfd. */
struct vp_irq_source {
	int fd;		 /* owned eventfd */
	uint16_t vector; /* VIRTIO_MSI_NO_VECTOR when none */
	bool attached;	 /* an irqfd of attached_gsi */
	uint32_t attached_gsi;
};

struct vp_vector_route {
	uint32_t gsi;
	bool routed;
	uint64_t addr;
	uint32_t data;
};

struct virtio_pci {
	pthread_mutex_t lock;
	struct virtio_device vdev;
	struct virtio_pci_host host;
	struct pci_config cfg;
	struct msix msix;
	uint8_t pci_cfg_cap; /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
	uint8_t intx_irq;
	bool intx_level;

	uint64_t mapped_addr; /* BAR 0 as mapped on the bus; 0 = unmapped */

	uint64_t device_features;
	uint32_t device_feature_select, driver_feature_select;
	uint64_t driver_features;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t queue_select;
	bool active;

	unsigned nr_queues;
	struct vp_queue queues[VIRTIO_MAX_QUEUES];
	unsigned nr_sources; /* nr_queues + 1: the config source is last */
	struct vp_irq_source sources[VIRTIO_MAX_QUEUES + 1];
	struct vp_vector_route routes[MSIX_MAX_VECTORS];

	int dev_config_fd; /* owned: the device signals config changes */
	int dev_error_fd;  /* owned: the device signals it broke */
	struct virtio_worker irq_worker;
};

static struct vp_irq_source *config_source(struct virtio_pci *vp) { return &vp->sources[vp->nr_queues]; }

/* ---- interrupt routing (lock held) ---- */

static bool vector_valid(const struct virtio_pci *vp, uint16_t v)
{
	return v != VIRTIO_MSI_NO_VECTOR && v < vp->msix.nr_vectors;
}

static void update_routing(struct virtio_pci *vp)
{
	const struct virtio_pci_host_ops *ops = vp->host.ops;
	void *ctx = vp->host.ctx;

	/* Routes follow the table for every deliverable vector. */
	for (uint16_t v = 0; v < vp->msix.nr_vectors; v++) {
		struct vp_vector_route *r = &vp->routes[v];
		if (!msix_vector_deliverable(&vp->msix, v))
			continue;
		uint64_t addr;
		uint32_t data;
		msix_vector_message(&vp->msix, v, &addr, &data);
		if (r->routed && r->addr == addr && r->data == data)
			continue;
		r->routed = ops->msi_route_set(ctx, r->gsi, addr, data) == 0;
		r->addr = addr;
		r->data = data;
	}

	for (unsigned s = 0; s < vp->nr_sources; s++) {
		struct vp_irq_source *src = &vp->sources[s];
		uint16_t v = src->vector;
		bool want = vp->msix.enabled && vector_valid(vp, v) && msix_vector_deliverable(&vp->msix, v) &&
			    vp->routes[v].routed;
		uint32_t gsi = want ? vp->routes[v].gsi : 0;
		if (src->attached && (!want || src->attached_gsi != gsi)) {
			(void)ops->irqfd(ctx, src->fd, src->attached_gsi, false);
			src->attached = false;
		}
		if (want && !src->attached && ops->irqfd(ctx, src->fd, gsi, true) == 0) {
			src->attached = true;
			src->attached_gsi = gsi;
		}
		/* Whatever KVM does not consume, the interrupt thread must.
		 * epoll_ctl on a live eventfd fails only without memory; the
		 * source then stays as it was. */
		int r = virtio_worker_watch(&vp->irq_worker, src->fd, s, !src->attached);
		(void)r;
	}

	/* Deliver what was held back while a vector was masked: signalling an
	 * attached source makes KVM inject it. */
	for (uint16_t v = 0; v < vp->msix.nr_vectors; v++) {
		if (!(vp->msix.pending & (1ULL << v)) || !msix_vector_deliverable(&vp->msix, v))
			continue;
		vp->msix.pending &= ~(1ULL << v);
		for (unsigned s = 0; s < vp->nr_sources; s++)
			if (vp->sources[s].attached && vp->sources[s].vector == v) {
				(void)evfd_signal(vp->sources[s].fd);
				break;
			}
	}
}

static void set_intx(struct virtio_pci *vp, bool level)
{
	if (vp->intx_level == level)
		return;
	if (vp->host.ops->intx(vp->host.ctx, vp->intx_irq, level) == 0)
		vp->intx_level = level;
}

/* An event on a source the thread watches (lock held). */
static void source_fired(struct virtio_pci *vp, unsigned s)
{
	struct vp_irq_source *src = &vp->sources[s];
	if (src->attached) {
		/* Attached after we read it: hand the event back to KVM. */
		(void)evfd_signal(src->fd);
		return;
	}
	if (vp->msix.enabled) {
		if (vector_valid(vp, src->vector))
			vp->msix.pending |= 1ULL << src->vector;
		return;
	}
	vp->isr |= s == vp->nr_queues ? ISR_CONFIG : ISR_QUEUE;
	set_intx(vp, true);
}

static void irq_thread_handle(void *ctx, uint32_t token)
{
	struct virtio_pci *vp = ctx;
	if (token == TOKEN_DEV_CONFIG || token == TOKEN_DEV_ERROR) {
		/* Drained under the lock: a reset (reset_device) drains the
		 * error eventfd too, so an error the device reported before it
		 * was reset is either handled before the reset (which then
		 * clears NEEDS_RESET) or dropped by it, never set on the fresh
		 * device. The config interrupt is raised under the lock for
		 * the same reason (reset drains the sources). */
		pthread_mutex_lock(&vp->lock);
		if (evfd_drain(token == TOKEN_DEV_CONFIG ? vp->dev_config_fd : vp->dev_error_fd) > 0) {
			if (token == TOKEN_DEV_ERROR)
				vp->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
			vp->config_generation++;
			(void)evfd_signal(config_source(vp)->fd);
		}
		pthread_mutex_unlock(&vp->lock);
		return;
	}
	if (token >= vp->nr_sources)
		return;
	/* Under the lock too: reset_device drains the sources, so an
	 * interrupt of the old incarnation never reaches the fresh device. */
	pthread_mutex_lock(&vp->lock);
	if (evfd_drain(vp->sources[token].fd) > 0)
		source_fired(vp, token);
	pthread_mutex_unlock(&vp->lock);
}

/* ---- device life cycle (lock held) ---- */

static void reset_device(struct virtio_pci *vp)
{
	if (vp->active) {
		vp->vdev.ops->reset(vp->vdev.dev);
		vp->active = false;
	}
	/* The device is stopped: an error it reported and the interrupt
	 * thread has not handled yet belongs to the old incarnation (see
	 * irq_thread_handle). */
	(void)evfd_drain(vp->dev_error_fd);
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->driver_features = 0;
	vp->status = 0;
	vp->queue_select = 0;
	vp->isr = 0;
	set_intx(vp, false);
	vp->msix.pending = 0;
	for (unsigned q = 0; q < vp->nr_queues; q++) {
		struct vp_queue *vq = &vp->queues[q];
		vq->size = vq->max_size;
		vq->enabled = false;
		vq->desc = vq->avail = vq->used = 0;
		(void)evfd_drain(vq->kick_fd);
	}
	for (unsigned s = 0; s < vp->nr_sources; s++) {
		vp->sources[s].vector = VIRTIO_MSI_NO_VECTOR;
		(void)evfd_drain(vp->sources[s].fd);
	}
	update_routing(vp);
}

static void activate_device(struct virtio_pci *vp)
{
	struct virtio_activation *act = calloc(1, sizeof(*act));
	int r = -ENOMEM;
	if (act) {
		bool sizes_ok = true;
		act->gm = vp->host.gm;
		act->features = vp->driver_features;
		act->nr_queues = vp->nr_queues;
		act->config_fd = vp->dev_config_fd;
		act->error_fd = vp->dev_error_fd;
		for (unsigned q = 0; q < vp->nr_queues; q++) {
			const struct vp_queue *vq = &vp->queues[q];
			struct virtio_queue_setup *qs = &act->queues[q];
			qs->kick_fd = vq->kick_fd;
			qs->call_fd = vp->sources[q].fd;
			if (!vq->enabled)
				continue;
			/* The driver may shrink a queue, never grow it past
			 * what the device allows (its rings, seg_max and vhost
			 * limits are sized for that), nor enable it empty:
			 * size 0 tells devices the queue is not in use. */
			if (vq->size == 0 || vq->size > vq->max_size)
				sizes_ok = false;
			qs->cfg.size = vq->size;
			qs->cfg.desc = GPA(vq->desc);
			qs->cfg.avail = GPA(vq->avail);
			qs->cfg.used = GPA(vq->used);
			qs->cfg.event_idx = vp->driver_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
			qs->cfg.indirect = vp->driver_features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
		}
		r = sizes_ok ? vp->vdev.ops->activate(vp->vdev.dev, act) : -EINVAL;
		free(act);
	}
	if (r == 0) {
		vp->active = true;
		return;
	}
	/* The driver learns through NEEDS_RESET and a config interrupt. */
	vp->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	vp->config_generation++;
	(void)evfd_signal(config_source(vp)->fd);
}

static void write_status(struct virtio_pci *vp, uint8_t val)
{
	if (val == 0) {
		reset_device(vp);
		return;
	}
	uint8_t old = vp->status;
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse (by not keeping FEATURES_OK) a driver that accepted
		 * something we did not offer, or a legacy driver. */
		bool ok = !(vp->driver_features & ~vp->device_features) &&
			  (vp->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) && !vp->active;
		if (!ok)
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	vp->status = (uint8_t)(val | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	if ((val & VIRTIO_STATUS_DRIVER_OK) && (vp->status & VIRTIO_STATUS_FEATURES_OK) && !vp->active &&
	    !(vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		activate_device(vp);
}

/* ---- common configuration (lock held) ---- */

static struct vp_queue *selected_queue(struct virtio_pci *vp)
{
	return vp->queue_select < vp->nr_queues ? &vp->queues[vp->queue_select] : NULL;
}

static uint32_t common_read(struct virtio_pci *vp, uint64_t off)
{
	struct vp_queue *q = selected_queue(vp);
	switch (off) {
	case CC_DFSELECT:
		return vp->device_feature_select;
	case CC_DF:
		return vp->device_feature_select < 2 ? (uint32_t)(vp->device_features >> (32 * vp->device_feature_select)) : 0;
	case CC_GFSELECT:
		return vp->driver_feature_select;
	case CC_GF:
		return vp->driver_feature_select < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->driver_feature_select)) : 0;
	case CC_MSIX:
		return config_source(vp)->vector;
	case CC_NUMQ:
		return vp->nr_queues;
	case CC_STATUS:
		return vp->status;
	case CC_CFGGENERATION:
		return vp->config_generation;
	case CC_Q_SELECT:
		return vp->queue_select;
	case CC_Q_SIZE:
		return q ? q->size : 0;
	case CC_Q_MSIX:
		return q ? vp->sources[vp->queue_select].vector : VIRTIO_MSI_NO_VECTOR;
	case CC_Q_ENABLE:
		return q ? q->enabled : 0;
	case CC_Q_NOFF:
		return q ? vp->queue_select : 0;
	case CC_Q_DESCLO:
		return q ? (uint32_t)q->desc : 0;
	case CC_Q_DESCHI:
		return q ? (uint32_t)(q->desc >> 32) : 0;
	case CC_Q_AVAILLO:
		return q ? (uint32_t)q->avail : 0;
	case CC_Q_AVAILHI:
		return q ? (uint32_t)(q->avail >> 32) : 0;
	case CC_Q_USEDLO:
		return q ? (uint32_t)q->used : 0;
	case CC_Q_USEDHI:
		return q ? (uint32_t)(q->used >> 32) : 0;
	default:
		return 0;
	}
}

/* A vector the driver writes to config_msix_vector / queue_msix_vector.
 * One beyond the table cannot be mapped, and reads back as NO_VECTOR: that
 * is how the driver learns (4.1.5.1.2.1; Linux checks by reading back). */
static uint16_t mapped_vector(const struct virtio_pci *vp, uint32_t val)
{
	return vector_valid(vp, (uint16_t)val) ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
}

static void set_lo(uint64_t *v, uint32_t lo) { *v = (*v & 0xffffffff00000000ULL) | lo; }
static void set_hi(uint64_t *v, uint32_t hi) { *v = (*v & 0xffffffffULL) | (uint64_t)hi << 32; }

static void common_write(struct virtio_pci *vp, uint64_t off, uint32_t val)
{
	struct vp_queue *q = selected_queue(vp);
	/* Queue registers may change only before the driver enables the
	 * queue or the device is live (4.1.4.3.2). */
	bool q_writable = q && !q->enabled && !vp->active;
	switch (off) {
	case CC_DFSELECT:
		vp->device_feature_select = val;
		break;
	case CC_GFSELECT:
		vp->driver_feature_select = val;
		break;
	case CC_GF:
		if (vp->status & VIRTIO_STATUS_FEATURES_OK)
			break;
		if (vp->driver_feature_select == 0)
			set_lo(&vp->driver_features, val);
		else if (vp->driver_feature_select == 1)
			set_hi(&vp->driver_features, val);
		break;
	case CC_MSIX:
		config_source(vp)->vector = mapped_vector(vp, val);
		update_routing(vp);
		break;
	case CC_STATUS:
		write_status(vp, (uint8_t)val);
		break;
	case CC_Q_SELECT:
		vp->queue_select = (uint16_t)val;
		break;
	case CC_Q_SIZE:
		if (q_writable)
			q->size = (uint16_t)val;
		break;
	case CC_Q_MSIX:
		if (q) {
			vp->sources[vp->queue_select].vector = mapped_vector(vp, val);
			update_routing(vp);
		}
		break;
	case CC_Q_ENABLE:
		if (q && val == 1 && !vp->active)
			q->enabled = true;
		break;
	case CC_Q_DESCLO:
		if (q_writable)
			set_lo(&q->desc, val);
		break;
	case CC_Q_DESCHI:
		if (q_writable)
			set_hi(&q->desc, val);
		break;
	case CC_Q_AVAILLO:
		if (q_writable)
			set_lo(&q->avail, val);
		break;
	case CC_Q_AVAILHI:
		if (q_writable)
			set_hi(&q->avail, val);
		break;
	case CC_Q_USEDLO:
		if (q_writable)
			set_lo(&q->used, val);
		break;
	case CC_Q_USEDHI:
		if (q_writable)
			set_hi(&q->used, val);
		break;
	default:
		break; /* read-only or reserved */
	}
}

/* Register widths of the common configuration: accesses must match. */
static uint32_t common_width(uint64_t off)
{
	if (off == CC_STATUS || off == CC_CFGGENERATION)
		return 1;
	if (off >= CC_MSIX && off < CC_Q_DESCLO)
		return 2;
	return 4;
}

/* ---- BAR 0 ---- */

static uint64_t load_le(const uint8_t *d, uint32_t len)
{
	uint64_t v = 0;
	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static void store_le(uint8_t *d, uint64_t v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		d[i] = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	memset(data, 0, len);
	if (off < VIRTIO_PCI_COMMON_LEN) {
		if (common_width(off) != len)
			return;
		pthread_mutex_lock(&vp->lock);
		store_le(data, common_read(vp, off), len);
		pthread_mutex_unlock(&vp->lock);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		/* Reading the ISR clears it and lowers INTx (4.1.4.5). */
		pthread_mutex_lock(&vp->lock);
		data[0] = vp->isr;
		vp->isr = 0;
		set_intx(vp, false);
		pthread_mutex_unlock(&vp->lock);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off - VIRTIO_PCI_DEVICE_OFF < VIRTIO_PCI_DEVICE_LEN) {
		uint32_t doff = (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF);
		if (len <= VIRTIO_PCI_DEVICE_LEN - doff)
			vp->vdev.ops->config_read(vp->vdev.dev, doff, data, len);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		pthread_mutex_lock(&vp->lock);
		msix_table_read(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
		pthread_mutex_unlock(&vp->lock);
	} else if (off >= VIRTIO_PCI_MSIX_PBA_OFF) {
		pthread_mutex_lock(&vp->lock);
		msix_pba_read(&vp->msix, off - VIRTIO_PCI_MSIX_PBA_OFF, data, len);
		pthread_mutex_unlock(&vp->lock);
	}
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	if (off < VIRTIO_PCI_COMMON_LEN) {
		if (common_width(off) != len)
			return;
		pthread_mutex_lock(&vp->lock);
		common_write(vp, off, (uint32_t)load_le(data, len));
		pthread_mutex_unlock(&vp->lock);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off - VIRTIO_PCI_DEVICE_OFF < VIRTIO_PCI_DEVICE_LEN) {
		uint32_t doff = (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF);
		if (len <= VIRTIO_PCI_DEVICE_LEN - doff)
			vp->vdev.ops->config_write(vp->vdev.dev, doff, data, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_MSIX_TABLE_OFF) {
		/* Reached only when the ioeventfd did not take the write (other
		 * width, or registration failed): kick by hand. */
		uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULTIPLIER;
		if (q < vp->nr_queues)
			(void)evfd_signal(vp->queues[q].kick_fd);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		pthread_mutex_lock(&vp->lock);
		if (msix_table_write(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len) >= 0)
			update_routing(vp);
		pthread_mutex_unlock(&vp->lock);
	}
}

static const struct bus_device_ops bar_ops = { .read = bar_read, .write = bar_write };

static uint64_t notify_addr(uint64_t bar, unsigned q)
{
	return bar + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULTIPLIER;
}

static void unmap_bar(struct virtio_pci *vp)
{
	if (!vp->mapped_addr)
		return;
	for (unsigned q = 0; q < vp->nr_queues; q++)
		(void)vp->host.ops->ioeventfd(vp->host.ctx, notify_addr(vp->mapped_addr, q), vp->queues[q].kick_fd,
					      false);
	(void)bus_remove(vp->host.mmio_bus, vp->mapped_addr);
	vp->mapped_addr = 0;
}

/* Puts BAR 0 where the guest programmed it, if memory decoding is on. */
static void remap_bar(struct virtio_pci *vp)
{
	uint64_t addr = pci_config_bar_addr(&vp->cfg, 0), last;
	bool decode = pci_config_get_u16(&vp->cfg, PCI_COMMAND) & PCI_COMMAND_MEMORY;
	bool want = decode && addr != 0 && ck_add_u64(addr, VIRTIO_PCI_BAR_SIZE - 1, &last);
	if (want && vp->mapped_addr == addr)
		return;
	unmap_bar(vp);
	if (!want || bus_insert(vp->host.mmio_bus, addr, VIRTIO_PCI_BAR_SIZE, &bar_ops, vp, "virtio-pci") < 0)
		return; /* a BAR over another device stays unmapped */
	vp->mapped_addr = addr;
	for (unsigned q = 0; q < vp->nr_queues; q++)
		(void)vp->host.ops->ioeventfd(vp->host.ctx, notify_addr(addr, q), vp->queues[q].kick_fd, true);
}

/* ---- PCI configuration space ---- */

/* VIRTIO_PCI_CAP_PCI_CFG: a window onto BAR 0 through config space. Body
 * offsets from the capability start. */
#define PCICFG_BAR 4
#define PCICFG_OFFSET 8
#define PCICFG_LENGTH 12
#define PCICFG_DATA 16

static bool overlaps(uint32_t reg, uint32_t len, uint32_t start, uint32_t n)
{
	return reg < start + n && start < reg + len;
}

/* Access through the PCI_CFG window (lock held on entry; dropped around
 * the BAR access, which takes it itself). */
static void pci_cfg_window(struct virtio_pci *vp, bool write, uint8_t *data_field)
{
	uint32_t c = vp->pci_cfg_cap;
	uint8_t bar = pci_config_get_u8(&vp->cfg, c + PCICFG_BAR);
	uint32_t off = pci_config_get_u32(&vp->cfg, c + PCICFG_OFFSET);
	uint32_t len = pci_config_get_u32(&vp->cfg, c + PCICFG_LENGTH);
	if (bar != 0 || (len != 1 && len != 2 && len != 4) || off % len || off >= VIRTIO_PCI_BAR_SIZE)
		return;
	pthread_mutex_unlock(&vp->lock);
	if (write)
		bar_write(vp, off, data_field, len);
	else
		bar_read(vp, off, data_field, len);
	pthread_mutex_lock(&vp->lock);
}

static void config_read(void *opaque, uint32_t reg, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->lock);
	uint32_t d = vp->pci_cfg_cap + PCICFG_DATA;
	if (overlaps(reg, len, d, 4)) {
		uint8_t field[4] = { 0 };
		pci_cfg_window(vp, false, field);
		pci_config_set_u32(&vp->cfg, d, (uint32_t)load_le(field, 4));
	}
	pci_config_read(&vp->cfg, reg, data, len);
	pthread_mutex_unlock(&vp->lock);
}

static void config_write(void *opaque, uint32_t reg, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->lock);
	uint32_t touched = pci_config_write(&vp->cfg, reg, data, len);
	if (touched & (PCI_CONFIG_TOUCHED_COMMAND | 1u))
		remap_bar(vp);
	if (overlaps(reg, len, vp->msix.cap_off, 4) && msix_update_control(&vp->msix, &vp->cfg))
		update_routing(vp);
	uint32_t d = vp->pci_cfg_cap + PCICFG_DATA;
	if (overlaps(reg, len, d, 4)) {
		uint8_t field[4];
		store_le(field, pci_config_get_u32(&vp->cfg, d), 4);
		pci_cfg_window(vp, true, field);
	}
	pthread_mutex_unlock(&vp->lock);
}

const struct pci_device_ops virtio_pci_config_ops = { .config_read = config_read, .config_write = config_write };

/* ---- creation ---- */

static int add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len, const uint8_t *extra,
			  const uint8_t *extra_wmask, uint8_t extra_len)
{
	/* Body after cap_vndr and cap_next: cap_len, cfg_type, bar, id,
	 * padding[2], offset, length, then type-specific fields. */
	uint8_t body[24] = { 0 }, wmask[24] = { 0 };
	uint8_t n = (uint8_t)(14 + extra_len);
	body[0] = (uint8_t)(n + 2);
	body[1] = type;
	body[2] = 0; /* BAR 0 */
	store_le(body + 6, off, 4);
	store_le(body + 10, len, 4);
	if (extra_len) {
		memcpy(body + 14, extra, extra_len);
		if (extra_wmask)
			memcpy(wmask + 14, extra_wmask, extra_len);
	}
	return pci_config_add_capability(&vp->cfg, PCI_CAP_ID_VENDOR, body, wmask, n);
}

static void class_of(uint32_t device_id, uint8_t *cls, uint8_t *sub)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		*cls = 0x02, *sub = 0x00; /* Ethernet controller */
		break;
	case VIRTIO_ID_BLOCK:
		*cls = 0x01, *sub = 0x80; /* other mass storage */
		break;
	case VIRTIO_ID_CONSOLE:
		*cls = 0x07, *sub = 0x80; /* other communication */
		break;
	default:
		*cls = 0xff, *sub = 0x00; /* unclassified */
		break;
	}
}

static int build_config(struct virtio_pci *vp, uint64_t bar_addr)
{
	uint8_t cls, sub;
	class_of(vp->vdev.ops->device_id, &cls, &sub);
	struct pci_header h = {
		.vendor_id = VIRTIO_PCI_VENDOR_ID,
		.device_id = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + vp->vdev.ops->device_id),
		.subsystem_vendor_id = VIRTIO_PCI_VENDOR_ID,
		.subsystem_id = 0x1100,
		.revision_id = 1, /* modern-only device */
		.class_code = cls,
		.subclass = sub,
		.header_type = PCI_HEADER_TYPE_NORMAL,
		.interrupt_pin = 1,
	};
	int r;
	if ((r = pci_config_init(&vp->cfg, &h, false)) < 0 ||
	    (r = pci_config_add_bar(&vp->cfg, 0, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false)) < 0)
		return r;
	pci_config_set_u32(&vp->cfg, PCI_BAR0, (uint32_t)bar_addr | PCI_BAR_MEM_TYPE_64);
	pci_config_set_u32(&vp->cfg, PCI_BAR0 + 4, (uint32_t)(bar_addr >> 32));
	pci_config_set_u8(&vp->cfg, PCI_INTERRUPT_LINE, vp->intx_irq);

	uint8_t mult[4];
	store_le(mult, VIRTIO_PCI_NOTIFY_MULTIPLIER, 4);
	static const uint8_t pcicfg_wmask[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t zero[4] = { 0 };
	if ((r = add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, NULL, NULL,
				0)) < 0 ||
	    (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, NULL, NULL, 0)) < 0 ||
	    (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, VIRTIO_PCI_DEVICE_LEN, NULL, NULL,
				0)) < 0 ||
	    (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				vp->nr_queues * VIRTIO_PCI_NOTIFY_MULTIPLIER, mult, NULL, 4)) < 0 ||
	    (r = add_virtio_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, zero, pcicfg_wmask, 4)) < 0)
		return r < 0 ? r : -ENOSPC;
	vp->pci_cfg_cap = (uint8_t)r;
	/* The window's bar, offset and length fields are the driver's. */
	pci_config_set_wmask(&vp->cfg, vp->pci_cfg_cap + PCICFG_BAR, 1, 0xff);
	pci_config_set_wmask(&vp->cfg, vp->pci_cfg_cap + PCICFG_OFFSET, 8, 0xff);
	/* One vector per queue plus one for configuration changes. */
	return msix_init(&vp->msix, &vp->cfg, (uint16_t)(vp->nr_queues + 1), 0, VIRTIO_PCI_MSIX_TABLE_OFF,
			 VIRTIO_PCI_MSIX_PBA_OFF);
}

int virtio_pci_create(struct virtio_pci **out, struct virtio_device vdev, const struct virtio_pci_host *host,
		      uint64_t bar_addr, uint8_t intx_irq)
{
	*out = NULL;
	unsigned nq = vdev.ops->num_queues(vdev.dev);
	if (nq == 0 || nq > VIRTIO_MAX_QUEUES || nq + 1 > MSIX_MAX_VECTORS || (bar_addr & (VIRTIO_PCI_BAR_SIZE - 1))) {
		vdev.ops->destroy(vdev.dev);
		return -EINVAL;
	}
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	if (!vp) {
		vdev.ops->destroy(vdev.dev);
		return -ENOMEM;
	}
	vp->vdev = vdev;
	vp->host = *host;
	vp->intx_irq = intx_irq;
	vp->nr_queues = nq;
	vp->nr_sources = nq + 1;
	vp->dev_config_fd = vp->dev_error_fd = -1;
	vp->irq_worker.epoll_fd = vp->irq_worker.stop_fd = -1;
	for (unsigned q = 0; q < nq; q++)
		vp->queues[q].kick_fd = -1;
	for (unsigned s = 0; s < vp->nr_sources; s++) {
		vp->sources[s].fd = -1;
		vp->sources[s].vector = VIRTIO_MSI_NO_VECTOR;
	}
	int r = pthread_mutex_init(&vp->lock, NULL);
	if (r) {
		vdev.ops->destroy(vdev.dev);
		free(vp);
		return -r;
	}
	vp->device_features = vdev.ops->features(vdev.dev) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	/* Ring layouts we do not implement are never offered. */
	vp->device_features &= ~(VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM));

	for (unsigned q = 0; q < nq; q++) {
		uint16_t max = vdev.ops->queue_max_size(vdev.dev, q);
		if (max == 0 || max > VIRTQ_MAX_SIZE || (max & (max - 1))) {
			r = -EINVAL;
			goto fail;
		}
		vp->queues[q].max_size = vp->queues[q].size = max;
		if ((r = vp->queues[q].kick_fd = evfd_create()) < 0)
			goto fail;
	}
	for (unsigned s = 0; s < vp->nr_sources; s++)
		if ((r = vp->sources[s].fd = evfd_create()) < 0)
			goto fail;
	if ((r = vp->dev_config_fd = evfd_create()) < 0 || (r = vp->dev_error_fd = evfd_create()) < 0)
		goto fail;
	if ((r = build_config(vp, bar_addr)) < 0)
		goto fail;
	for (uint16_t v = 0; v < vp->msix.nr_vectors; v++)
		if ((r = host->ops->alloc_gsi(host->ctx, &vp->routes[v].gsi)) < 0)
			goto fail;

	struct virtio_worker_fd fds[VIRTIO_MAX_QUEUES + 3];
	size_t n = 0;
	for (unsigned s = 0; s < vp->nr_sources; s++)
		fds[n++] = (struct virtio_worker_fd){ vp->sources[s].fd, s };
	fds[n++] = (struct virtio_worker_fd){ vp->dev_config_fd, TOKEN_DEV_CONFIG };
	fds[n++] = (struct virtio_worker_fd){ vp->dev_error_fd, TOKEN_DEV_ERROR };
	if ((r = virtio_worker_start(&vp->irq_worker, "virtio-irq", fds, n, irq_thread_handle, vp)) < 0)
		goto fail;
	*out = vp;
	return 0;
fail:
	virtio_pci_destroy(vp);
	return r;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	/* The interrupt thread takes the lock: stop it first. */
	virtio_worker_stop(&vp->irq_worker);
	pthread_mutex_lock(&vp->lock);
	if (vp->active) {
		vp->vdev.ops->reset(vp->vdev.dev);
		vp->active = false;
	}
	unmap_bar(vp);
	for (unsigned s = 0; s < vp->nr_sources; s++)
		if (vp->sources[s].attached)
			(void)vp->host.ops->irqfd(vp->host.ctx, vp->sources[s].fd, vp->sources[s].attached_gsi, false);
	for (uint16_t v = 0; v < vp->msix.nr_vectors; v++)
		if (vp->routes[v].routed)
			(void)vp->host.ops->msi_route_clear(vp->host.ctx, vp->routes[v].gsi);
	pthread_mutex_unlock(&vp->lock);
	vp->vdev.ops->destroy(vp->vdev.dev);
	for (unsigned q = 0; q < vp->nr_queues; q++)
		fd_close(&vp->queues[q].kick_fd);
	for (unsigned s = 0; s < vp->nr_sources; s++)
		fd_close(&vp->sources[s].fd);
	fd_close(&vp->dev_config_fd);
	fd_close(&vp->dev_error_fd);
	pthread_mutex_destroy(&vp->lock);
	free(vp);
}
