/*
 * PCI root complex: decodes the two configuration access mechanisms into
 * (bus, device, function, register) and forwards the access to the device
 * plugged into that slot, or answers all-ones when nothing is there, which
 * is how a guest's bus scan learns a slot is empty.
 *
 * Mechanism #1 (x86 ports): a dword write to CONFIG_ADDRESS (0xcf8) with
 * bit 31 set selects bus[23:16] device[15:11] function[10:8] and the dword
 * register[7:2]; CONFIG_DATA (0xcfc..0xcff) then reads or writes that
 * dword, with byte and word accesses landing at register + (port & 3).
 * Only dword accesses reach CONFIG_ADDRESS, as on real chipsets: Linux's
 * probe for mechanism #2 writes a byte to 0xcfb and expects it not to
 * disturb CONFIG_ADDRESS. Port 0xcf9 inside the same window is the
 * chipset's reset control register, modelled so `reboot=pci` works.
 *
 * ECAM (MMIO): offset = bus << 20 | device << 15 | function << 12 | reg,
 * giving each function 4 KiB of config space.
 *
 * CONFIG_ADDRESS is shared by all vCPUs (guests serialise their use of it),
 * so it sits under the root's lock; the lock is dropped before calling a
 * device so devices may take their own locks and touch the buses freely.
 */
#include "devices/pci/pci_root.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"
#include "base/eventfd.h"

#define CONFIG_ADDRESS_ENABLE 0x80000000u
/* Writable bits of CONFIG_ADDRESS: enable, bus, device, function, dword
 * register. Reserved bits 30:24 and 1:0 read 0. */
#define CONFIG_ADDRESS_MASK 0x80fffffcu
#define RESET_CONTROL_OFFSET 1 /* port 0xcf9 */
#define RESET_CONTROL_SYS_RST 0x02
#define RESET_CONTROL_RST_CPU 0x04
#define RESET_CONTROL_FULL_RST 0x08

/* Host bridge: a type 0 header with no BARs. */

static void host_bridge_read(void *dev, uint32_t reg, uint8_t *data, uint32_t len)
{
	struct pci_host_bridge *hb = dev;
	pthread_mutex_lock(&hb->lock);
	pci_config_read(&hb->cfg, reg, data, len);
	pthread_mutex_unlock(&hb->lock);
}

static void host_bridge_write(void *dev, uint32_t reg, const uint8_t *data, uint32_t len)
{
	struct pci_host_bridge *hb = dev;
	pthread_mutex_lock(&hb->lock);
	(void)pci_config_write(&hb->cfg, reg, data, len); /* nothing to react to */
	pthread_mutex_unlock(&hb->lock);
}

static const struct pci_device_ops host_bridge_ops = {
	.config_read = host_bridge_read,
	.config_write = host_bridge_write,
};

int pci_root_init(struct pci_root *root)
{
	memset(root, 0, sizeof(*root));
	root->reset_evt = -1;
	int r = pthread_mutex_init(&root->lock, NULL);
	if (r)
		return -r;
	r = pthread_mutex_init(&root->host_bridge.lock, NULL);
	if (r) {
		r = -r;
		goto err_root_lock;
	}
	const struct pci_header hdr = {
		.vendor_id = PCI_HOST_BRIDGE_VENDOR_ID,
		.device_id = PCI_HOST_BRIDGE_DEVICE_ID,
		.class_code = 0x06, /* bridge */
		.subclass = 0x00,   /* host bridge */
		.prog_if = 0x00,
		.header_type = PCI_HEADER_TYPE_NORMAL,
	};
	r = pci_config_init(&root->host_bridge.cfg, &hdr, true);
	if (r < 0)
		goto err_hb_lock;
	root->slots[0] = (struct pci_root_slot){ .ops = &host_bridge_ops, .dev = &root->host_bridge };
	return 0;

err_hb_lock:
	pthread_mutex_destroy(&root->host_bridge.lock);
err_root_lock:
	pthread_mutex_destroy(&root->lock);
	return r;
}

void pci_root_destroy(struct pci_root *root)
{
	if (!root)
		return;
	pthread_mutex_destroy(&root->host_bridge.lock);
	pthread_mutex_destroy(&root->lock);
}

int pci_root_add_device(struct pci_root *root, uint8_t slot, const struct pci_device_ops *ops,
			void *dev)
{
	if (slot >= PCI_ROOT_SLOTS || !ops || !ops->config_read || !ops->config_write)
		return -EINVAL;
	int ret = 0;
	pthread_mutex_lock(&root->lock);
	if (root->slots[slot].ops)
		ret = -EEXIST;
	else
		root->slots[slot] = (struct pci_root_slot){ .ops = ops, .dev = dev };
	pthread_mutex_unlock(&root->lock);
	return ret;
}

void pci_root_set_reset_evt(struct pci_root *root, int reset_evt)
{
	pthread_mutex_lock(&root->lock);
	root->reset_evt = reset_evt;
	pthread_mutex_unlock(&root->lock);
}

/* The device at bus/dev/fn, copied out under the lock; false if absent. */
static bool find(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn,
		 struct pci_root_slot *out)
{
	if (bus != 0 || fn != 0 || dev >= PCI_ROOT_SLOTS)
		return false;
	pthread_mutex_lock(&root->lock);
	*out = root->slots[dev];
	pthread_mutex_unlock(&root->lock);
	return out->ops != NULL;
}

/* True when [reg, reg+len) is a 1/2/4-byte access inside one dword of a
 * 4 KiB config space: the shape devices are promised. */
static bool dword_contained(uint32_t reg, uint32_t len)
{
	return (len == 1 || len == 2 || len == 4) && reg < PCIE_CONFIG_SIZE &&
	       (reg & 3) + len <= 4;
}

/* Routes one config access to its device: a read into rdata, or a write
 * from wdata (exactly one is non-NULL). Dword-contained 1/2/4-byte accesses
 * pass through; odd shapes go byte by byte so devices only ever see simple
 * accesses. */
static void config_access(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg,
			  uint8_t *rdata, const uint8_t *wdata, uint32_t len)
{
	struct pci_root_slot s;
	if (!find(root, bus, dev, fn, &s))
		return;
	uint32_t step = dword_contained(reg, len) ? len : 1;
	for (uint32_t i = 0; i < len; i += step) {
		uint32_t r = reg + i;
		if (r < reg || r >= PCIE_CONFIG_SIZE)
			break;
		if (wdata)
			s.ops->config_write(s.dev, r, &wdata[i], step);
		else
			s.ops->config_read(s.dev, r, &rdata[i], step);
	}
}

void pci_root_config_read(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn,
			  uint32_t reg, uint8_t *data, uint32_t len)
{
	memset(data, 0xff, len);
	config_access(root, bus, dev, fn, reg, data, NULL, len);
}

void pci_root_config_write(struct pci_root *root, uint8_t bus, uint8_t dev, uint8_t fn,
			   uint32_t reg, const uint8_t *data, uint32_t len)
{
	config_access(root, bus, dev, fn, reg, NULL, data, len);
}

static uint32_t le32_from(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void le32_to(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

/* Splits CONFIG_ADDRESS into its fields; false when disabled. */
static bool decode_config_address(uint32_t addr, uint8_t *bus, uint8_t *dev, uint8_t *fn,
				  uint32_t *reg)
{
	if (!(addr & CONFIG_ADDRESS_ENABLE))
		return false;
	*bus = (uint8_t)(addr >> 16);
	*dev = (uint8_t)((addr >> 11) & 0x1f);
	*fn = (uint8_t)((addr >> 8) & 0x7);
	*reg = addr & 0xfc;
	return true;
}

/* For an access to CONFIG_DATA (port offsets 4..7): the function and
 * register that CONFIG_ADDRESS currently selects, plus the byte offset
 * inside the data dword. False when the access leaves the dword or the
 * address register is disabled. */
static bool data_port_target(struct pci_root *root, uint64_t offset, uint32_t len, uint8_t *bus, uint8_t *dev,
			     uint8_t *fn, uint32_t *reg)
{
	uint32_t in_dword = (uint32_t)offset - 4;
	if (in_dword + len > 4)
		return false;
	pthread_mutex_lock(&root->lock);
	uint32_t addr = root->config_address;
	pthread_mutex_unlock(&root->lock);
	if (!decode_config_address(addr, bus, dev, fn, reg))
		return false;
	*reg += in_dword;
	return true;
}

static void io_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;
	memset(data, 0xff, len);
	if (offset >= PCI_ROOT_IO_LEN || len > PCI_ROOT_IO_LEN - offset)
		return;

	if (offset < 4) {
		pthread_mutex_lock(&root->lock);
		if (offset == 0 && len == 4)
			le32_to(data, root->config_address);
		else if (offset == RESET_CONTROL_OFFSET && len == 1)
			data[0] = root->reset_control;
		pthread_mutex_unlock(&root->lock);
		return;
	}

	uint8_t bus, dev, fn;
	uint32_t reg;
	if (data_port_target(root, offset, len, &bus, &dev, &fn, &reg))
		pci_root_config_read(root, bus, dev, fn, reg, data, len);
}

static void io_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;
	if (offset >= PCI_ROOT_IO_LEN || len > PCI_ROOT_IO_LEN - offset)
		return;

	if (offset < 4) {
		bool reset = false;
		int evt;
		pthread_mutex_lock(&root->lock);
		if (offset == 0 && len == 4) {
			root->config_address = le32_from(data) & CONFIG_ADDRESS_MASK;
		} else if (offset == RESET_CONTROL_OFFSET && len == 1) {
			/* RST_CPU self-clears; the reset type bits stick. */
			root->reset_control =
				data[0] & (RESET_CONTROL_SYS_RST | RESET_CONTROL_FULL_RST);
			reset = data[0] & RESET_CONTROL_RST_CPU;
		}
		evt = root->reset_evt;
		pthread_mutex_unlock(&root->lock);
		if (reset && evt >= 0)
			(void)evfd_signal(evt); /* nothing useful to do on failure */
		return;
	}

	uint8_t bus, dev, fn;
	uint32_t reg;
	if (data_port_target(root, offset, len, &bus, &dev, &fn, &reg))
		pci_root_config_write(root, bus, dev, fn, reg, data, len);
}

/* ECAM offset fields. Offsets beyond 256 buses cannot name a function. */
static bool decode_ecam(uint64_t offset, uint8_t *bus, uint8_t *dev, uint8_t *fn, uint32_t *reg)
{
	if (offset >= PCI_ECAM_SIZE_FOR_BUSES(256))
		return false;
	*bus = (uint8_t)(offset >> 20);
	*dev = (uint8_t)((offset >> 15) & 0x1f);
	*fn = (uint8_t)((offset >> 12) & 0x7);
	*reg = (uint32_t)(offset & 0xfff);
	return true;
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;
	uint8_t bus, dev, fn;
	uint32_t reg;
	memset(data, 0xff, len);
	if (decode_ecam(offset, &bus, &dev, &fn, &reg) && dword_contained(reg, len)) {
		pci_root_config_read(root, bus, dev, fn, reg, data, len);
		return;
	}
	/* Wider or misaligned (e.g. 8-byte) accesses: each byte on its own,
	 * decoded separately since it may belong to the next function. */
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o;
		if (!ck_add_u64(offset, i, &o) || !decode_ecam(o, &bus, &dev, &fn, &reg))
			break;
		pci_root_config_read(root, bus, dev, fn, reg, &data[i], 1);
	}
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_root *root = opaque;
	uint8_t bus, dev, fn;
	uint32_t reg;
	if (decode_ecam(offset, &bus, &dev, &fn, &reg) && dword_contained(reg, len)) {
		pci_root_config_write(root, bus, dev, fn, reg, data, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o;
		if (!ck_add_u64(offset, i, &o) || !decode_ecam(o, &bus, &dev, &fn, &reg))
			break;
		pci_root_config_write(root, bus, dev, fn, reg, &data[i], 1);
	}
}

const struct bus_device_ops pci_root_io_ops = {
	.read = io_read,
	.write = io_write,
};

const struct bus_device_ops pci_root_ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};
