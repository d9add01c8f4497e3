/* The fake virtio-pci host of fake_pci_host.h. */
#include "fakes/fake_pci_host.h"

static int h_ioeventfd(void *ctx, uint64_t addr, int fd, bool assign)
{
	(void)ctx, (void)addr, (void)fd, (void)assign;
	return 0;
}

static int h_alloc_gsi(void *ctx, uint32_t *gsi)
{
	struct fake_pci_host *h = ctx;
	*gsi = h->next_gsi++;
	return 0;
}

static int h_msi_route_set(void *ctx, uint32_t gsi, uint64_t addr, uint32_t data)
{
	(void)ctx, (void)gsi, (void)addr, (void)data;
	return 0;
}

static int h_msi_route_clear(void *ctx, uint32_t gsi)
{
	(void)ctx, (void)gsi;
	return 0;
}

static int h_irqfd(void *ctx, int fd, uint32_t gsi, bool assign)
{
	(void)ctx, (void)fd, (void)gsi, (void)assign;
	return 0;
}

static int h_intx(void *ctx, uint32_t irq, bool level)
{
	struct fake_pci_host *h = ctx;
	(void)irq;
	pthread_mutex_lock(&h->lock);
	h->intx = level;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

const struct virtio_pci_host_ops fake_pci_host_ops = {
	.ioeventfd = h_ioeventfd,
	.alloc_gsi = h_alloc_gsi,
	.msi_route_set = h_msi_route_set,
	.msi_route_clear = h_msi_route_clear,
	.irqfd = h_irqfd,
	.intx = h_intx,
};

bool fake_pci_host_intx(struct fake_pci_host *h)
{
	pthread_mutex_lock(&h->lock);
	bool v = h->intx;
	pthread_mutex_unlock(&h->lock);
	return v;
}
