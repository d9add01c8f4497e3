/*
 * libFuzzer target for the virtio-pci transport as a hostile driver sees
 * it: any sequence of PCI configuration accesses (through
 * virtio_pci_config_ops, with the PCI root's promises: 1/2/4 bytes inside
 * one dword) and BAR 0 MMIO accesses (common configuration, ISR, device
 * configuration, notifications, MSI-X table and PBA, and the gaps between)
 * through a real MMIO bus, against a function wrapping a trivial fake
 * device and a fake host (no KVM).
 *
 *   byte 0       fake-host failure mode: every (b & 7)th host call fails
 *                (0: none); bit 3: the device refuses activation; bit 4:
 *                the device signals its call/config/error eventfds when
 *                activated
 *   then         operations, one byte of kind then its operands:
 *     0 config read   reg (le16 % 4096), len (1 byte)
 *     1 config write  reg, len, value (le32)
 *     2 BAR read      area (1 byte), offset (le16), len (1 byte)
 *     3 BAR write     area, offset, len, value (le64)
 *     4 common write  register index (1 byte), value (le32): the right width
 *     5 driver init   queue count (1 byte), queue size (le16), features
 *                     (le32 low word): the usual status dance, rings at
 *                     fixed addresses, MSI-X on or off
 *     6 kick          queue (1 byte): a 2-byte notify write
 *     7 device event  which (1 byte): the active device signals an eventfd
 *
 * The transport's own interrupt thread runs meanwhile, as in a VM. Checked
 * besides ASan/UBSan/LeakSanitizer: the device is never activated twice
 * nor destroyed while active, sees only offered features, queue sizes it
 * allows and valid eventfds; the host never gets an eventfd attached
 * twice, nor one detached that was not attached; and after
 * virtio_pci_destroy every ioeventfd, irqfd and MSI route is gone.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/eventfd.h"
#include "devices/bus.h"
#include "devices/pci/pci_config.h"
#include "fuzz_common.h"
#include "virtio/core/virtio.h"
#include "virtio/transport/virtio_pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BAR_ADDR 0xc0000000ULL
#define OTHER_ADDR 0xd0000000ULL /* another device, for BARs moved onto it */
#define NR_QUEUES 3
#define MAX_SLOTS 128

/* ---- the fake host: records registrations ---- */

struct slot {
	bool used;
	uint64_t key; /* ioeventfd: address; irqfd: fd */
	int fd;
	uint32_t gsi;
};

struct fake_host {
	pthread_mutex_t lock; /* the interrupt thread calls in too */
	unsigned fail_every, calls;
	uint32_t next_gsi;
	struct slot ioeventfds[MAX_SLOTS], irqfds[MAX_SLOTS];
	bool routed[256];
	bool intx;
};

static bool host_fails(struct fake_host *h)
{
	h->calls++;
	return h->fail_every && h->calls % h->fail_every == 0;
}

static struct slot *find(struct slot *t, uint64_t key)
{
	for (unsigned i = 0; i < MAX_SLOTS; i++)
		if (t[i].used && t[i].key == key)
			return &t[i];
	return NULL;
}

static struct slot *add(struct slot *t)
{
	for (unsigned i = 0; i < MAX_SLOTS; i++)
		if (!t[i].used) {
			t[i].used = true;
			return &t[i];
		}
	__builtin_trap(); /* more registrations than a function can make */
}

static int h_ioeventfd(void *ctx, uint64_t addr, int fd, bool assign)
{
	struct fake_host *h = ctx;
	int r = 0;
	pthread_mutex_lock(&h->lock);
	struct slot *s = find(h->ioeventfds, addr);
	if (assign) {
		fuzz_check(fd >= 0);
		/* KVM refuses a second eventfd on the same address. */
		if (s)
			r = -EEXIST;
		else if (host_fails(h))
			r = -ENOMEM;
		else
			*add(h->ioeventfds) = (struct slot){ true, addr, fd, 0 };
	} else if (!s || s->fd != fd) {
		r = -ENOENT; /* e.g. its registration had failed */
	} else {
		s->used = false;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int h_alloc_gsi(void *ctx, uint32_t *gsi)
{
	struct fake_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	fuzz_check(h->next_gsi < 256);
	*gsi = h->next_gsi++;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int h_msi_route_set(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct fake_host *h = ctx;
	(void)addr, (void)data;
	int r = 0;
	pthread_mutex_lock(&h->lock);
	fuzz_check(gsi >= 24 && gsi < h->next_gsi);
	/* A failed update is modelled as the route being gone. */
	h->routed[gsi] = !host_fails(h);
	if (!h->routed[gsi])
		r = -ENOSPC;
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int h_msi_route_clear(void *ctx, uint32_t gsi)
{
	struct fake_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	fuzz_check(gsi < 256 && h->routed[gsi]);
	h->routed[gsi] = false;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int h_irqfd(void *ctx, int fd, uint32_t gsi, bool assign)
{
	struct fake_host *h = ctx;
	int r = 0;
	pthread_mutex_lock(&h->lock);
	struct slot *s = find(h->irqfds, (uint64_t)fd);
	if (assign) {
		fuzz_check(!s); /* KVM: -EBUSY; the transport must never try */
		fuzz_check(gsi < 256 && h->routed[gsi]);
		if (host_fails(h))
			r = -ENOMEM;
		else
			*add(h->irqfds) = (struct slot){ true, (uint64_t)fd, fd, gsi };
	} else {
		fuzz_check(s && s->gsi == gsi); /* only what is attached is detached */
		s->used = false;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int h_intx(void *ctx, uint32_t irq, bool level)
{
	struct fake_host *h = ctx;
	pthread_mutex_lock(&h->lock);
	fuzz_check(irq == 5);
	h->intx = level;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static const struct virtio_pci_host_ops host_ops = {
	.ioeventfd = h_ioeventfd,
	.alloc_gsi = h_alloc_gsi,
	.msi_route_set = h_msi_route_set,
	.msi_route_clear = h_msi_route_clear,
	.irqfd = h_irqfd,
	.intx = h_intx,
};

/* ---- the fake device ---- */

#define FD_FEATURES (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(0) | VIRTIO_BIT(5))
#define FD_CONFIG 24

struct fake_dev {
	bool refuse, signal_on_activate;
	bool active;
	uint8_t config[FD_CONFIG];
	int call_fd[NR_QUEUES], config_fd, error_fd; /* borrowed while active */
};

static unsigned fd_num_queues(void *dev)
{
	(void)dev;
	return NR_QUEUES;
}

static uint16_t fd_queue_max(void *dev, unsigned q)
{
	(void)dev;
	fuzz_check(q < NR_QUEUES);
	return (uint16_t)(64u << q); /* 64, 128, 256 */
}

static uint64_t fd_features(void *dev)
{
	(void)dev;
	return FD_FEATURES;
}

static void fd_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct fake_dev *d = dev;
	fuzz_check(len >= 1 && len <= 8 && off < VIRTIO_PCI_DEVICE_LEN && len <= VIRTIO_PCI_DEVICE_LEN - off);
	memset(data, 0, len);
	if (off < FD_CONFIG)
		memcpy(data, d->config + off, len < FD_CONFIG - off ? len : FD_CONFIG - off);
}

static void fd_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct fake_dev *d = dev;
	fuzz_check(len >= 1 && len <= 8 && off < VIRTIO_PCI_DEVICE_LEN && len <= VIRTIO_PCI_DEVICE_LEN - off);
	if (off < FD_CONFIG)
		memcpy(d->config + off, data, len < FD_CONFIG - off ? len : FD_CONFIG - off);
}

static int fd_activate(void *dev, const struct virtio_activation *act)
{
	struct fake_dev *d = dev;
	fuzz_check(!d->active);
	fuzz_check(act->gm != NULL && act->nr_queues == NR_QUEUES);
	fuzz_check(!(act->features & ~FD_FEATURES) && (act->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)));
	fuzz_check(act->config_fd >= 0 && act->error_fd >= 0);
	for (unsigned q = 0; q < NR_QUEUES; q++) {
		const struct virtio_queue_setup *s = &act->queues[q];
		fuzz_check(s->kick_fd >= 0 && s->call_fd >= 0);
		/* A size the device did not allow never reaches it. */
		fuzz_check(s->cfg.size <= fd_queue_max(d, q));
		d->call_fd[q] = s->call_fd;
	}
	d->config_fd = act->config_fd;
	d->error_fd = act->error_fd;
	if (d->refuse)
		return -EINVAL;
	d->active = true;
	if (d->signal_on_activate) {
		(void)evfd_signal(d->call_fd[0]);
		(void)evfd_signal(d->config_fd);
	}
	return 0;
}

static void fd_reset(void *dev)
{
	struct fake_dev *d = dev;
	fuzz_check(d->active); /* the transport resets only an active device */
	d->active = false;
}

static void fd_destroy(void *dev)
{
	struct fake_dev *d = dev;
	if (!d)
		return;
	fuzz_check(!d->active);
	free(d);
}

static const struct virtio_device_ops fake_dev_ops = {
	.name = "fuzz",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = fd_num_queues,
	.queue_max_size = fd_queue_max,
	.features = fd_features,
	.config_read = fd_config_read,
	.config_write = fd_config_write,
	.activate = fd_activate,
	.reset = fd_reset,
	.destroy = fd_destroy,
};

/* ---- the guest side ---- */

struct guest {
	struct virtio_pci *vp;
	struct bus *mmio;
	struct fake_dev *dev; /* borrowed: the transport owns it */
};

static void cfg_read(struct guest *g, uint32_t reg, uint8_t *out, uint32_t len)
{
	virtio_pci_config_ops.config_read(g->vp, reg, out, len);
}

static void cfg_write(struct guest *g, uint32_t reg, uint64_t val, uint32_t len)
{
	uint8_t b[4];
	for (unsigned i = 0; i < 4; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	virtio_pci_config_ops.config_write(g->vp, reg, b, len);
}

/* Where the guest has BAR 0 now, as it would read it back. */
static uint64_t bar_base(struct guest *g)
{
	uint8_t lo[4], hi[4];
	cfg_read(g, PCI_BAR0, lo, 4);
	cfg_read(g, PCI_BAR0 + 4, hi, 4);
	return (fuzz_get_le(lo, 4) & ~0xfULL) | fuzz_get_le(hi, 4) << 32;
}

static void mmio_write(struct guest *g, uint64_t off, uint64_t val, uint32_t len)
{
	uint8_t b[8];
	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	uint64_t base = bar_base(g);
	(void)bus_write(g->mmio, base + off, b, len);
}

static uint64_t mmio_read(struct guest *g, uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t base = bar_base(g);
	if (!bus_read(g->mmio, base + off, b, len))
		return ~0ULL;
	return fuzz_get_le(b, len);
}

/* Common-configuration registers and their widths. */
static const struct {
	uint8_t off, width;
} common_regs[] = {
	{ 0x00, 4 }, { 0x04, 4 }, { 0x08, 4 }, { 0x0c, 4 }, { 0x10, 2 }, { 0x12, 2 }, { 0x14, 1 },
	{ 0x15, 1 }, { 0x16, 2 }, { 0x18, 2 }, { 0x1a, 2 }, { 0x1c, 2 }, { 0x1e, 2 }, { 0x20, 4 },
	{ 0x24, 4 }, { 0x28, 4 }, { 0x2c, 4 }, { 0x30, 4 }, { 0x34, 4 },
};

/* BAR 0 areas an offset is taken relative to, with their span. */
static const struct {
	uint32_t base, span;
} areas[] = {
	{ VIRTIO_PCI_COMMON_OFF, 0x40 },     { VIRTIO_PCI_ISR_OFF, 8 },	     { VIRTIO_PCI_DEVICE_OFF, 0x1000 },
	{ VIRTIO_PCI_NOTIFY_OFF, 0x20 },     { VIRTIO_PCI_MSIX_TABLE_OFF, 0x60 }, { VIRTIO_PCI_MSIX_PBA_OFF, 0x10 },
	{ 0, VIRTIO_PCI_BAR_SIZE },
};

/* The usual driver bring-up: what Linux's virtio_pci_modern does. */
static void driver_init(struct guest *g, uint8_t nq, uint16_t qsize, uint32_t features, bool msix)
{
	cfg_write(g, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	mmio_write(g, 0x14, 0, 1); /* reset */
	mmio_write(g, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	mmio_write(g, 0x08, 0, 4);
	mmio_write(g, 0x0c, features, 4);
	mmio_write(g, 0x08, 1, 4);
	mmio_write(g, 0x0c, 1, 4); /* VERSION_1 */
	mmio_write(g, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	if (msix) {
		/* Enable MSI-X (capability found by walking the list), unmask
		 * the vectors with a message each. */
		uint8_t p;
		cfg_read(g, PCI_CAPABILITY_LIST, &p, 1);
		for (unsigned n = 0; p && n < 16; n++) {
			uint8_t id;
			cfg_read(g, p, &id, 1);
			if (id == 0x11) {
				cfg_write(g, p + 2u, 0x8000, 2);
				break;
			}
			cfg_read(g, p + 1u, &p, 1);
		}
		for (unsigned v = 0; v <= NR_QUEUES; v++) {
			uint64_t e = VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v;
			mmio_write(g, e, 0xfee00000u, 4);
			mmio_write(g, e + 4, 0, 4);
			mmio_write(g, e + 8, 0x30 + v, 4);
			mmio_write(g, e + 12, 0, 4);
		}
		mmio_write(g, 0x10, 0, 2);
	}
	for (unsigned q = 0; q < nq % (NR_QUEUES + 1); q++) {
		mmio_write(g, 0x16, q, 2);
		mmio_write(g, 0x18, qsize, 2);
		if (msix)
			mmio_write(g, 0x1a, q + 1, 2);
		uint64_t base = 0x10000 * (q + 1);
		mmio_write(g, 0x20, base, 4);
		mmio_write(g, 0x28, base + 0x4000, 4);
		mmio_write(g, 0x30, base + 0x8000, 4);
		mmio_write(g, 0x1c, 1, 2);
	}
	mmio_write(g, 0x14,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			   VIRTIO_STATUS_DRIVER_OK,
		   1);
	(void)mmio_read(g, 0x14, 1);
}

static void other_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0, len);
}

static void other_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

static const struct bus_device_ops other_ops = { .read = other_read, .write = other_write };

static void run(struct guest *g, const uint8_t *data, size_t size)
{
	static const uint32_t lens[] = { 1, 2, 4, 8 };
	size_t pos = 0;
	/* Decoding on from the start, so most inputs reach BAR 0. */
	cfg_write(g, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	while (pos < size) {
		uint8_t kind = data[pos++] & 7;
		const uint8_t *p = data + pos;
		size_t left = size - pos;
		switch (kind) {
		case 0:
		case 1: {
			if (left < (kind ? 7u : 3u))
				return;
			uint32_t reg = (uint32_t)fuzz_get_le(p, 2) % PCIE_CONFIG_SIZE;
			uint32_t len = 1u << (p[2] % 3);
			reg &= ~(len - 1); /* the root never crosses a dword */
			if (kind == 0) {
				uint8_t out[4];
				cfg_read(g, reg, out, len);
			} else {
				cfg_write(g, reg, fuzz_get_le(p + 3, 4), len);
			}
			pos += kind ? 7 : 3;
			break;
		}
		case 2:
		case 3: {
			if (left < (kind == 3 ? 12u : 4u))
				return;
			unsigned a = p[0] % ARRAY_SIZE(areas);
			uint64_t off = areas[a].base + fuzz_get_le(p + 1, 2) % areas[a].span;
			uint32_t len = lens[p[3] % 4];
			if (off + len > VIRTIO_PCI_BAR_SIZE)
				off = VIRTIO_PCI_BAR_SIZE - len;
			if (kind == 2)
				(void)mmio_read(g, off, len);
			else
				mmio_write(g, off, fuzz_get_le(p + 4, 8), len);
			pos += kind == 3 ? 12 : 4;
			break;
		}
		case 4: {
			if (left < 5)
				return;
			unsigned r = p[0] % ARRAY_SIZE(common_regs);
			uint32_t val = (uint32_t)fuzz_get_le(p + 1, 4);
			mmio_write(g, common_regs[r].off, val, common_regs[r].width);
			if (common_regs[r].off == 0x10 || common_regs[r].off == 0x1a) {
				/* A vector reads back as written if it can be mapped
				 * (4 vectors here), else as NO_VECTOR. */
				uint64_t back = mmio_read(g, common_regs[r].off, 2);
				bool ours = bar_base(g) != OTHER_ADDR; /* else the other device answered */
				fuzz_check(!ours || back == ~0ULL /* BAR not mapped */ || back == VIRTIO_MSI_NO_VECTOR ||
					   (back == (val & 0xffff) && back <= NR_QUEUES));
			}
			pos += 5;
			break;
		}
		case 5: {
			if (left < 7)
				return;
			driver_init(g, p[0], (uint16_t)fuzz_get_le(p + 1, 2), (uint32_t)fuzz_get_le(p + 3, 4),
				    p[0] & 0x80);
			pos += 7;
			break;
		}
		case 6:
			if (left < 1)
				return;
			mmio_write(g, VIRTIO_PCI_NOTIFY_OFF + (uint64_t)(p[0] % (NR_QUEUES + 2)) * 4, 0, 2);
			pos += 1;
			break;
		default: {
			if (left < 1)
				return;
			struct fake_dev *d = g->dev;
			/* The device's own threads signal these while active; the
			 * transport's lock is not held, as in real life. */
			if (d->active) {
				unsigned w = p[0] % (NR_QUEUES + 2);
				int fd = w < NR_QUEUES ? d->call_fd[w] : w == NR_QUEUES ? d->config_fd : d->error_fd;
				(void)evfd_signal(fd);
				/* Give the interrupt thread a chance to take it
				 * before the next access. */
				sched_yield();
			}
			pos += 1;
			break;
		}
		}
	}
}

static void check_identity(struct guest *g)
{
	uint8_t id[4];
	cfg_read(g, PCI_VENDOR_ID, id, 4);
	fuzz_check(fuzz_get_le(id, 2) == VIRTIO_PCI_VENDOR_ID &&
		   fuzz_get_le(id + 2, 2) == VIRTIO_PCI_DEVICE_ID_BASE + VIRTIO_ID_RNG);
	/* BAR 0 stays 64-bit memory and aligned to its size. */
	uint8_t lo[4];
	cfg_read(g, PCI_BAR0, lo, 4);
	fuzz_check((lo[0] & 0xf) == PCI_BAR_MEM_TYPE_64);
	fuzz_check((bar_base(g) & (VIRTIO_PCI_BAR_SIZE - 1)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fake_host *h = calloc(1, sizeof(*h));
	struct bus *mmio = calloc(1, sizeof(*mmio));
	struct fake_dev *d = calloc(1, sizeof(*d));
	struct guest_memory gm;
	struct gm_range ranges[] = { { GPA(0), 0x100000 } };
	if (!h || !mmio || !d || pthread_mutex_init(&h->lock, NULL) || bus_init(mmio) < 0 ||
	    gm_create(&gm, ranges, 1) < 0)
		abort(); /* the harness itself is broken */
	h->fail_every = data[0] & 7;
	h->next_gsi = 24;
	d->refuse = data[0] & 8;
	d->signal_on_activate = data[0] & 16;
	for (unsigned i = 0; i < FD_CONFIG; i++)
		d->config[i] = (uint8_t)i;
	if (bus_insert(mmio, OTHER_ADDR, VIRTIO_PCI_BAR_SIZE, &other_ops, NULL, "other") < 0)
		abort();

	struct virtio_pci_host host = { .ops = &host_ops, .ctx = h, .mmio_bus = mmio, .gm = &gm };
	struct guest g = { .mmio = mmio, .dev = d };
	struct virtio_device vdev = { .ops = &fake_dev_ops, .dev = d };
	if (virtio_pci_create(&g.vp, vdev, &host, BAR_ADDR, 5) == 0) {
		run(&g, data + 1, size - 1);
		check_identity(&g);
		virtio_pci_destroy(g.vp);
		/* Nothing of the function is left registered with the host. */
		for (unsigned i = 0; i < MAX_SLOTS; i++)
			fuzz_check(!h->ioeventfds[i].used && !h->irqfds[i].used);
		for (unsigned i = 0; i < 256; i++)
			fuzz_check(!h->routed[i]);
	}
	gm_destroy(&gm);
	bus_destroy(mmio);
	pthread_mutex_destroy(&h->lock);
	free(mmio);
	free(h);
	return 0;
}
