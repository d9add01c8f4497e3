/*
 * libFuzzer target for the PCI root complex and the config-space helper.
 * The input is a stream of operations, each decoded from a few bytes:
 *
 *   byte 0       bit 0: read (0) or write (1); bit 1: port I/O (0) or ECAM (1);
 *                bit 2: aim the access near the interesting ranges
 *   I/O:         1 byte port offset from 0xcf0 (so misses around the
 *                0xcf8 window are exercised too)
 *   ECAM:        4 bytes offset from the ECAM base (beyond the window too)
 *   then         1 byte length (0..8), 8 bytes value (for writes)
 *
 * Accesses go through a real struct bus, so bus dispatch and the
 * straddling rules are covered as well. Bus 0 holds the host bridge and a
 * device with 32-bit, I/O and 64-bit BARs and a capability list. After each
 * input the invariants a guest cannot break are checked: read-only IDs
 * stay, programmed BAR addresses stay aligned to their size.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_root.h"

#define IO_BASE 0xcf8
#define ECAM_BASE 0xe0000000ULL
#define ECAM_SIZE PCI_ECAM_SIZE_FOR_BUSES(256)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dev {
	struct pci_config cfg;
};

static void fd_read(void *dev, uint32_t reg, uint8_t *data, uint32_t len)
{
	struct fuzz_dev *d = dev;
	/* The root promises dword-contained 1/2/4-byte accesses. */
	if (!(len == 1 || len == 2 || len == 4) || (reg & 3) + len > 4 || reg >= PCIE_CONFIG_SIZE)
		__builtin_trap();
	pci_config_read(&d->cfg, reg, data, len);
}

static void fd_write(void *dev, uint32_t reg, const uint8_t *data, uint32_t len)
{
	struct fuzz_dev *d = dev;
	if (!(len == 1 || len == 2 || len == 4) || (reg & 3) + len > 4 || reg >= PCIE_CONFIG_SIZE)
		__builtin_trap();
	(void)pci_config_write(&d->cfg, reg, data, len);
}

static const struct pci_device_ops fd_ops = { .config_read = fd_read, .config_write = fd_write };

static int make_dev(struct fuzz_dev *d)
{
	const struct pci_header hdr = {
		.vendor_id = 0x1af4, .device_id = 0x1042, .class_code = 0x01,
		.subclass = 0x00, .header_type = PCI_HEADER_TYPE_NORMAL, .interrupt_pin = 1,
	};
	if (pci_config_init(&d->cfg, &hdr, true) < 0 ||
	    pci_config_add_bar(&d->cfg, 0, PCI_BAR_MEM32, 0x1000, false) < 0 ||
	    pci_config_add_bar(&d->cfg, 1, PCI_BAR_IO, 0x40, false) < 0 ||
	    pci_config_add_bar(&d->cfg, 2, PCI_BAR_MEM64, 0x4000, true) < 0)
		return -1;
	const uint8_t body[14] = { 0 };
	const uint8_t wmask[14] = { 0xff, 0xff, 0, 0, 0x0f };
	if (pci_config_add_capability(&d->cfg, 0x09, body, wmask, sizeof(body)) < 0 ||
	    pci_config_add_capability(&d->cfg, 0x11, body, NULL, 10) < 0)
		return -1;
	return 0;
}

static void check_invariants(struct pci_root *root, struct fuzz_dev *d)
{
	uint8_t b[4];
	pci_root_config_read(root, 0, 0, 0, 0, b, 4);
	if ((b[0] | b[1] << 8) != PCI_HOST_BRIDGE_VENDOR_ID ||
	    (b[2] | b[3] << 8) != PCI_HOST_BRIDGE_DEVICE_ID)
		__builtin_trap();
	if (pci_config_get_u16(&d->cfg, PCI_VENDOR_ID) != 0x1af4)
		__builtin_trap();
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t sz = pci_config_bar_size(&d->cfg, i);
		if (sz && (pci_config_bar_addr(&d->cfg, i) & (sz - 1)))
			__builtin_trap();
	}
	/* Type bits of the BARs are read-only. */
	if ((pci_config_get_u32(&d->cfg, PCI_BAR0 + 4) & 1) != 1 ||
	    (pci_config_get_u32(&d->cfg, PCI_BAR0 + 8) & 0xf) != 0xc)
		__builtin_trap();
	/* The capability list still terminates inside the header. */
	unsigned p = pci_config_get_u8(&d->cfg, PCI_CAPABILITY_LIST), n = 0;
	while (p) {
		if (p < PCI_CAP_START || p > 0xfc || ++n > 48)
			__builtin_trap();
		p = pci_config_get_u8(&d->cfg, p + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pci_root *root = malloc(sizeof(*root));
	struct fuzz_dev *dev = malloc(sizeof(*dev));
	struct bus io, mmio;
	if (!root || !dev)
		goto out_free;
	if (pci_root_init(root) < 0)
		goto out_free;
	if (make_dev(dev) < 0 || pci_root_add_device(root, 3, &fd_ops, dev) < 0)
		goto out_root;
	if (bus_init(&io) < 0)
		goto out_root;
	if (bus_init(&mmio) < 0)
		goto out_io;
	if (bus_insert(&io, IO_BASE, PCI_ROOT_IO_LEN, &pci_root_io_ops, root, "pci") < 0 ||
	    bus_insert(&mmio, ECAM_BASE, ECAM_SIZE, &pci_root_ecam_ops, root, "ecam") < 0)
		goto out_mmio;

	size_t pos = 0;
	while (pos < size) {
		uint8_t kind = data[pos++];
		bool write = kind & 1, ecam = kind & 2, aim = kind & 4;
		uint64_t addr;
		if (!ecam) {
			if (pos + 1 > size)
				break;
			addr = 0xcf0 + data[pos++] % 24;
		} else {
			if (pos + 4 > size)
				break;
			uint32_t off;
			memcpy(&off, &data[pos], 4);
			pos += 4;
			/* Aimed accesses land on bus 0 slots 0..3, where the
			 * devices are; others roam the whole 4 GiB above. */
			if (aim)
				off &= (3u << 15) | (7u << 12) | 0xfffu;
			addr = ECAM_BASE + off;
		}
		if (pos + 1 > size)
			break;
		uint32_t len = data[pos++] % 9;
		uint8_t val[8] = { 0 };
		size_t n = size - pos < 8 ? size - pos : 8;
		memcpy(val, &data[pos], n);
		pos += n;

		if (!ecam && aim && write && len == 4 && addr == IO_BASE) {
			/* Steer CONFIG_ADDRESS at a present function. */
			val[3] |= 0x80;
			val[2] = 0;
			val[1] &= 0x1f;
		}
		uint8_t out[8];
		if (write) {
			if (ecam)
				(void)bus_write(&mmio, addr, val, len);
			else
				(void)bus_write(&io, addr, val, len);
		} else {
			if (ecam)
				(void)bus_read(&mmio, addr, out, len);
			else
				(void)bus_read(&io, addr, out, len);
		}
	}
	check_invariants(root, dev);

out_mmio:
	bus_destroy(&mmio);
out_io:
	bus_destroy(&io);
out_root:
	pci_root_destroy(root);
out_free:
	free(dev);
	free(root);
	return 0;
}
