/* Unit tests for the PCI root and config-space helper: CONFIG_ADDRESS
 * decode and the enable bit, absent devices, host bridge identity, partial
 * CONFIG_DATA accesses, ECAM decode, write masks, BAR sizing, capability
 * list, slot registration, reset control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "devices/pci/pci_config.h"
#include "devices/pci/pci_root.h"

/* A test device: a pci_config plus a log of the accesses it saw. */
struct test_dev {
	struct pci_config cfg;
	uint32_t last_reg, last_len;
	uint32_t touched;
	int accesses;
};

static void td_read(void *dev, uint32_t reg, uint8_t *data, uint32_t len)
{
	struct test_dev *t = dev;
	t->accesses++;
	t->last_reg = reg;
	t->last_len = len;
	pci_config_read(&t->cfg, reg, data, len);
}

static void td_write(void *dev, uint32_t reg, const uint8_t *data, uint32_t len)
{
	struct test_dev *t = dev;
	t->accesses++;
	t->last_reg = reg;
	t->last_len = len;
	t->touched |= pci_config_write(&t->cfg, reg, data, len);
}

static const struct pci_device_ops td_ops = { .config_read = td_read, .config_write = td_write };

static const struct pci_header td_hdr = {
	.vendor_id = 0x1af4,
	.device_id = 0x1041,
	.subsystem_vendor_id = 0x1af4,
	.subsystem_id = 0x0001,
	.revision_id = 1,
	.class_code = 0x02,
	.subclass = 0x00,
	.prog_if = 0x00,
	.header_type = PCI_HEADER_TYPE_NORMAL,
	.interrupt_pin = 1,
};

static void io_wr32(struct pci_root *r, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	pci_root_io_ops.write(r, off, b, 4);
}

static uint32_t io_rd(struct pci_root *r, uint64_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };
	pci_root_io_ops.read(r, off, b, len);
	uint32_t v = 0;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void io_wr(struct pci_root *r, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	pci_root_io_ops.write(r, off, b, len);
}

static uint32_t cfg_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t reg)
{
	return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 |
	       (reg & 0xfcu);
}

/* Mechanism #1 dword read of bus/dev/fn/reg. */
static uint32_t conf1_read32(struct pci_root *r, uint8_t bus, uint8_t dev, uint8_t fn,
			     uint8_t reg)
{
	io_wr32(r, 0, cfg_addr(bus, dev, fn, reg));
	return io_rd(r, 4, 4);
}

static uint64_t ecam_off(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg)
{
	return (uint64_t)bus << 20 | (uint64_t)dev << 15 | (uint64_t)fn << 12 | reg;
}

static uint32_t ecam_rd(struct pci_root *r, uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	pci_root_ecam_ops.read(r, off, b, len);
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void ecam_wr(struct pci_root *r, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	pci_root_ecam_ops.write(r, off, b, len);
}

struct fixture {
	struct pci_root root;
	struct test_dev dev;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f.dev, 0, sizeof(f.dev));
	if (pci_root_init(&f.root) < 0)
		return -1;
	if (pci_config_init(&f.dev.cfg, &td_hdr, true) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	pci_root_destroy(&f->root);
	return 0;
}

static void test_config_address(void **state)
{
	struct fixture *f = *state;
	/* Linux's mechanism #1 probe. */
	io_wr(&f->root, 3, 0x01, 1); /* byte to 0xcfb: not CONFIG_ADDRESS */
	io_wr32(&f->root, 0, 0x80000000);
	assert_int_equal(io_rd(&f->root, 0, 4), 0x80000000);
	/* Reserved bits read 0. */
	io_wr32(&f->root, 0, 0xffffffff);
	assert_int_equal(io_rd(&f->root, 0, 4), 0x80fffffc);
	/* Byte/word accesses do not change CONFIG_ADDRESS. */
	io_wr(&f->root, 0, 0x00, 1);
	io_wr(&f->root, 2, 0x0000, 2);
	assert_int_equal(io_rd(&f->root, 0, 4), 0x80fffffc);
	assert_int_equal(io_rd(&f->root, 0, 1), 0xff);
	assert_int_equal(io_rd(&f->root, 2, 2), 0xffff);
}

static void test_host_bridge(void **state)
{
	struct fixture *f = *state;
	uint32_t id = conf1_read32(&f->root, 0, 0, 0, PCI_VENDOR_ID);
	assert_int_equal(id & 0xffff, PCI_HOST_BRIDGE_VENDOR_ID);
	assert_int_equal(id >> 16, PCI_HOST_BRIDGE_DEVICE_ID);
	uint32_t class = conf1_read32(&f->root, 0, 0, 0, PCI_REVISION_ID);
	assert_int_equal(class >> 8, 0x060000);
	uint32_t hdr = conf1_read32(&f->root, 0, 0, 0, PCI_CACHE_LINE_SIZE);
	assert_int_equal((hdr >> 16) & 0xff, PCI_HEADER_TYPE_NORMAL);
	/* IDs are read-only. */
	io_wr32(&f->root, 0, cfg_addr(0, 0, 0, 0));
	io_wr(&f->root, 4, 0x12345678, 4);
	assert_int_equal(conf1_read32(&f->root, 0, 0, 0, 0), id);
	/* No BARs: sizing reads back 0. */
	io_wr32(&f->root, 0, cfg_addr(0, 0, 0, PCI_BAR0));
	io_wr(&f->root, 4, 0xffffffff, 4);
	assert_int_equal(io_rd(&f->root, 4, 4), 0);
	/* The same through ECAM. */
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 0, 0, 0), 4), id);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 0, 0, 0x0b), 1), 0x06);
	/* Extended space of the host bridge reads 0, not all-ones. */
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 0, 0, 0x100), 4), 0);
}

static void test_disabled_and_absent(void **state)
{
	struct fixture *f = *state;
	/* Enable bit clear: CONFIG_DATA reads all-ones, writes ignored. */
	io_wr32(&f->root, 0, cfg_addr(0, 0, 0, 0) & ~0x80000000u);
	assert_int_equal(io_rd(&f->root, 4, 4), 0xffffffff);
	assert_int_equal(io_rd(&f->root, 6, 2), 0xffff);
	io_wr32(&f->root, 0, cfg_addr(0, 0, 0, PCI_COMMAND) & ~0x80000000u);
	io_wr(&f->root, 4, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(conf1_read32(&f->root, 0, 0, 0, PCI_COMMAND) & 0xffff, 0);

	/* Absent slots, functions and buses. */
	assert_int_equal(conf1_read32(&f->root, 0, 1, 0, 0), 0xffffffff);
	assert_int_equal(conf1_read32(&f->root, 0, 31, 0, 0), 0xffffffff);
	assert_int_equal(conf1_read32(&f->root, 0, 0, 1, 0), 0xffffffff);
	assert_int_equal(conf1_read32(&f->root, 1, 0, 0, 0), 0xffffffff);
	assert_int_equal(conf1_read32(&f->root, 255, 31, 7, 0xfc), 0xffffffff);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 5, 0, 0), 4), 0xffffffff);
	assert_int_equal(ecam_rd(&f->root, ecam_off(3, 0, 0, 0), 2), 0xffff);
	/* Writes to absent devices go nowhere (and do not crash). */
	io_wr32(&f->root, 0, cfg_addr(0, 7, 0, 4));
	io_wr(&f->root, 4, 0xffffffff, 4);
	ecam_wr(&f->root, ecam_off(9, 1, 2, 0x10), 0xffffffff, 4);
}

static void test_add_device(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pci_root_add_device(&f->root, 0, &td_ops, &f->dev), -EEXIST);
	assert_int_equal(pci_root_add_device(&f->root, 32, &td_ops, &f->dev), -EINVAL);
	assert_int_equal(pci_root_add_device(&f->root, 3, NULL, &f->dev), -EINVAL);
	assert_int_equal(pci_root_add_device(&f->root, 3, &td_ops, &f->dev), 0);
	assert_int_equal(pci_root_add_device(&f->root, 3, &td_ops, &f->dev), -EEXIST);
	uint32_t id = conf1_read32(&f->root, 0, 3, 0, 0);
	assert_int_equal(id, 0x10411af4);
	assert_int_equal(f->dev.last_reg, 0);
	assert_int_equal(f->dev.last_len, 4);
	assert_int_equal(conf1_read32(&f->root, 0, 3, 0, PCI_REVISION_ID), 0x02000001);
	assert_int_equal(conf1_read32(&f->root, 0, 3, 0, PCI_SUBSYSTEM_VENDOR_ID), 0x00011af4);
	assert_int_equal((conf1_read32(&f->root, 0, 3, 0, PCI_INTERRUPT_LINE) >> 8) & 0xff, 1);
	/* Function 1 of a present device is absent. */
	assert_int_equal(conf1_read32(&f->root, 0, 3, 1, 0), 0xffffffff);
}

static void test_partial_data_access(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pci_root_add_device(&f->root, 2, &td_ops, &f->dev), 0);
	io_wr32(&f->root, 0, cfg_addr(0, 2, 0, 0));
	/* Bytes at 0xcfc..0xcff are register + (port & 3). */
	assert_int_equal(io_rd(&f->root, 4, 1), 0xf4);
	assert_int_equal(io_rd(&f->root, 5, 1), 0x1a);
	assert_int_equal(f->dev.last_reg, 1);
	assert_int_equal(f->dev.last_len, 1);
	assert_int_equal(io_rd(&f->root, 6, 1), 0x41);
	assert_int_equal(io_rd(&f->root, 7, 1), 0x10);
	assert_int_equal(io_rd(&f->root, 6, 2), 0x1041);
	assert_int_equal(f->dev.last_reg, 2);
	/* Misaligned word at 0xcfd stays inside the dword. */
	assert_int_equal(io_rd(&f->root, 5, 2), 0x411a);
	assert_int_equal(f->dev.last_reg, 1);
	assert_int_equal(f->dev.last_len, 2);
	/* Crossing the end of CONFIG_DATA: refused (all-ones), device not
	 * called. */
	int before = f->dev.accesses;
	uint8_t b[4];
	pci_root_io_ops.read(&f->root, 6, b, 4);
	assert_int_equal(b[0] & b[1] & b[2] & b[3], 0xff);
	assert_int_equal(f->dev.accesses, before);

	/* Command register via a word write at 0xcfc (reg 4). */
	io_wr32(&f->root, 0, cfg_addr(0, 2, 0, PCI_COMMAND));
	io_wr(&f->root, 4, 0xffff, 2);
	assert_int_equal(io_rd(&f->root, 4, 2), 0x0547);
	assert_true(f->dev.touched & PCI_CONFIG_TOUCHED_COMMAND);
	/* Interrupt line via a byte at 0xcfc with reg 0x3c. */
	io_wr32(&f->root, 0, cfg_addr(0, 2, 0, PCI_INTERRUPT_LINE));
	io_wr(&f->root, 4, 11, 1);
	io_wr(&f->root, 5, 3, 1); /* interrupt pin is read-only */
	assert_int_equal(io_rd(&f->root, 4, 2), 0x010b);
	/* Low address bits of CONFIG_ADDRESS are ignored. */
	io_wr32(&f->root, 0, cfg_addr(0, 2, 0, 0) | 3);
	assert_int_equal(io_rd(&f->root, 4, 4), 0x10411af4);
}

static void test_ecam_decode(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pci_root_add_device(&f->root, 17, &td_ops, &f->dev), 0);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 0, 0), 4), 0x10411af4);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 0, 2), 2), 0x1041);
	assert_int_equal(f->dev.last_reg, 2);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 0, 0x0b), 1), 0x02);
	/* Extended config register numbers reach the device. */
	ecam_rd(&f->root, ecam_off(0, 17, 0, 0xffc), 4);
	assert_int_equal(f->dev.last_reg, 0xffc);
	/* Other buses/functions alias nothing. */
	assert_int_equal(ecam_rd(&f->root, ecam_off(1, 17, 0, 0), 4), 0xffffffff);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 1, 0), 4), 0xffffffff);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 16, 0, 0), 4), 0xffffffff);
	/* Past 256 buses. */
	assert_int_equal(ecam_rd(&f->root, PCI_ECAM_SIZE_FOR_BUSES(256), 4), 0xffffffff);
	assert_int_equal(ecam_rd(&f->root, UINT64_MAX - 1, 4), 0xffffffff);
	/* Misaligned dword: split into bytes. */
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 0, 1), 4), 0x0010411a);
	assert_int_equal(f->dev.last_len, 1);
	/* 8-byte read: split, both dwords correct. */
	uint8_t b[8];
	pci_root_ecam_ops.read(&f->root, ecam_off(0, 17, 0, 0), b, 8);
	assert_int_equal(b[0] | b[1] << 8, 0x1af4);
	assert_int_equal(b[2] | b[3] << 8, 0x1041);
	assert_int_equal(b[4] | b[5] | b[6] | b[7], 0); /* command, status */
	/* A read running off the end of a function's space into the next
	 * (absent) one: the tail bytes are all-ones. */
	pci_root_ecam_ops.read(&f->root, ecam_off(0, 17, 0, 0xffe), b, 4);
	assert_int_equal(b[2] & b[3], 0xff);
	/* ECAM write of the interrupt line. */
	ecam_wr(&f->root, ecam_off(0, 17, 0, PCI_INTERRUPT_LINE), 5, 1);
	assert_int_equal(ecam_rd(&f->root, ecam_off(0, 17, 0, PCI_INTERRUPT_LINE), 1), 5);
}

static void test_write_masks(void **state)
{
	struct fixture *f = *state;
	struct pci_config *c = &f->dev.cfg;
	uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t b[4];
	/* Vendor/device, class, header type, subsystem: read-only. */
	pci_config_write(c, 0, ones, 4);
	pci_config_write(c, PCI_REVISION_ID, ones, 4);
	pci_config_write(c, PCI_SUBSYSTEM_VENDOR_ID, ones, 4);
	pci_config_write(c, PCI_CAPABILITY_LIST, ones, 1);
	assert_int_equal(pci_config_get_u32(c, 0), 0x10411af4);
	assert_int_equal(pci_config_get_u32(c, PCI_REVISION_ID), 0x02000001);
	assert_int_equal(pci_config_get_u32(c, PCI_SUBSYSTEM_VENDOR_ID), 0x00011af4);
	assert_int_equal(pci_config_get_u8(c, PCI_CAPABILITY_LIST), 0);
	/* Header type / BIST / latency read-only, cache line writable. */
	pci_config_write(c, PCI_CACHE_LINE_SIZE, ones, 4);
	pci_config_read(c, PCI_CACHE_LINE_SIZE, b, 4);
	assert_int_equal(b[0], 0xff);
	assert_int_equal(b[1] | b[2] | b[3], 0);
	/* Status: error bits are write-1-to-clear, others read-only. */
	pci_config_set_u16(c, PCI_STATUS, 0xf900 | PCI_STATUS_INTERRUPT);
	uint8_t clr[2] = { 0x00, 0x81 }; /* clear bits 8 and 15 */
	pci_config_write(c, PCI_STATUS, clr, 2);
	assert_int_equal(pci_config_get_u16(c, PCI_STATUS), 0x7800 | PCI_STATUS_INTERRUPT);
	pci_config_write(c, PCI_STATUS, ones, 2);
	assert_int_equal(pci_config_get_u16(c, PCI_STATUS), PCI_STATUS_INTERRUPT);
	/* Out of range reads are 0, writes dropped; 256-byte spaces too. */
	pci_config_read(c, PCIE_CONFIG_SIZE - 2, b, 4);
	assert_int_equal(b[2] | b[3], 0);
	pci_config_write(c, UINT32_MAX - 1, ones, 4);
	struct pci_config small;
	assert_int_equal(pci_config_init(&small, &td_hdr, false), 0);
	pci_config_read(&small, 0x100, b, 4);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	/* Device-specific masks. */
	pci_config_set_wmask(c, 0x100, 4, 0x0f);
	pci_config_write(c, 0x100, ones, 4);
	assert_int_equal(pci_config_get_u32(c, 0x100), 0x0f0f0f0f);
	/* Bit 0 becomes write-1-to-clear: writing 1 there clears it while
	 * the writable bits 1..3 take the written value. */
	pci_config_set_wmask(c, 0x100, 1, 0x0e);
	pci_config_set_w1c(c, 0x100, 1, 0x01);
	uint8_t v = 0x0b;
	pci_config_write(c, 0x100, &v, 1);
	assert_int_equal(pci_config_get_u8(c, 0x100), 0x0a);
	v = 0x00;
	pci_config_set_u8(c, 0x100, 0x01);
	pci_config_write(c, 0x100, &v, 1); /* writing 0 leaves it set */
	assert_int_equal(pci_config_get_u8(c, 0x100), 0x01);
	/* Bad headers. */
	struct pci_header bad = td_hdr;
	bad.header_type = 1;
	assert_int_equal(pci_config_init(&small, &bad, false), -EINVAL);
	bad = td_hdr;
	bad.interrupt_pin = 5;
	assert_int_equal(pci_config_init(&small, &bad, false), -EINVAL);
}

/* Sizes a BAR the way an OS does: save, write all-ones, read, restore. */
static uint32_t size_probe(struct pci_config *c, unsigned idx)
{
	uint32_t reg = PCI_BAR0 + 4 * idx;
	uint8_t save[4], ones[4] = { 0xff, 0xff, 0xff, 0xff }, b[4];
	pci_config_read(c, reg, save, 4);
	pci_config_write(c, reg, ones, 4);
	pci_config_read(c, reg, b, 4);
	pci_config_write(c, reg, save, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void test_bar_sizing(void **state)
{
	struct fixture *f = *state;
	struct pci_config *c = &f->dev.cfg;
	assert_int_equal(pci_config_add_bar(c, 0, PCI_BAR_MEM32, 0x1000, false), 0);
	assert_int_equal(pci_config_add_bar(c, 1, PCI_BAR_IO, 0x20, false), 0);
	assert_int_equal(pci_config_add_bar(c, 2, PCI_BAR_MEM64, GiB(8), true), 0);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_MEM64, 0x4000, false), 0);

	assert_int_equal(size_probe(c, 0), 0xfffff000);
	assert_int_equal(size_probe(c, 1), 0xffffffe1);
	/* 8 GiB 64-bit prefetchable: low dword has no address bits. */
	assert_int_equal(size_probe(c, 2), 0x0000000c);
	assert_int_equal(size_probe(c, 3), 0xfffffffe);
	assert_int_equal(size_probe(c, 4), 0xffffc004);
	assert_int_equal(size_probe(c, 5), 0xffffffff);

	/* Programmed addresses, masked to the size. */
	uint8_t a[4] = { 0x34, 0x12, 0x00, 0xc0 }; /* 0xc0001234 */
	uint32_t touched = pci_config_write(c, PCI_BAR0, a, 4);
	assert_int_equal(touched, 1u << 0);
	assert_int_equal(pci_config_bar_addr(c, 0), 0xc0001000);
	uint8_t io[4] = { 0x41, 0xc0, 0, 0 };
	pci_config_write(c, PCI_BAR0 + 4, io, 4);
	assert_int_equal(pci_config_bar_addr(c, 1), 0xc040);
	assert_int_equal(pci_config_get_u32(c, PCI_BAR0 + 4), 0xc041);
	uint8_t hi[4] = { 0x02, 0, 0, 0 };
	touched = pci_config_write(c, PCI_BAR0 + 12, hi, 4); /* BAR3 = upper of BAR2 */
	assert_int_equal(touched, 1u << 2);
	uint8_t lo[4] = { 0xff, 0xff, 0xff, 0xff };
	pci_config_write(c, PCI_BAR0 + 8, lo, 4);
	assert_int_equal(pci_config_bar_addr(c, 2), 0x200000000ULL);
	assert_int_equal(pci_config_bar_size(c, 2), GiB(8));
	assert_int_equal(pci_config_bar_size(c, 3), 0);
	assert_int_equal(pci_config_bar_addr(c, 3), 0);
	assert_int_equal(pci_config_bar_addr(c, 9), 0);
	assert_int_equal(pci_config_bar_size(c, 9), 0);

	/* Registration errors. */
	assert_int_equal(pci_config_add_bar(c, 0, PCI_BAR_MEM32, 0x1000, false), -EBUSY);
	assert_int_equal(pci_config_add_bar(c, 3, PCI_BAR_MEM32, 0x1000, false), -EBUSY);
	struct pci_config d;
	assert_int_equal(pci_config_init(&d, &td_hdr, false), 0);
	assert_int_equal(pci_config_add_bar(&d, 6, PCI_BAR_MEM32, 0x1000, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 5, PCI_BAR_MEM64, 0x1000, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_MEM32, 0x1800, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_MEM32, 8, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_MEM32, GiB(4), false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_IO, 512, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_IO, 16, true), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_NONE, 16, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(&d, 1, PCI_BAR_MEM32, 16, false), 0);
	/* A MEM64 whose upper half would be taken. */
	assert_int_equal(pci_config_add_bar(&d, 0, PCI_BAR_MEM64, 16, false), -EBUSY);
	/* Unused BARs stay read-only zero. */
	assert_int_equal(size_probe(&d, 0), 0);
	assert_int_equal(size_probe(&d, 2), 0);
}

static void test_bar_sizing_through_root(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pci_config_add_bar(&f->dev.cfg, 0, PCI_BAR_MEM32, 0x100000, false), 0);
	assert_int_equal(pci_root_add_device(&f->root, 4, &td_ops, &f->dev), 0);
	io_wr32(&f->root, 0, cfg_addr(0, 4, 0, PCI_BAR0));
	io_wr(&f->root, 4, 0xffffffff, 4);
	assert_int_equal(io_rd(&f->root, 4, 4), 0xfff00000);
	ecam_wr(&f->root, ecam_off(0, 4, 0, PCI_BAR0), 0xd0000000, 4);
	assert_int_equal(pci_config_bar_addr(&f->dev.cfg, 0), 0xd0000000);
	assert_true(f->dev.touched & 1);
}

static void test_capabilities(void **state)
{
	struct fixture *f = *state;
	struct pci_config *c = &f->dev.cfg;
	const uint8_t body1[6] = { 1, 2, 3, 4, 5, 6 };
	const uint8_t wm1[6] = { 0, 0xff, 0, 0, 0, 0 };
	int off1 = pci_config_add_capability(c, 0x09, body1, wm1, sizeof(body1));
	assert_int_equal(off1, 0x40);
	assert_true(pci_config_get_u16(c, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	assert_int_equal(pci_config_get_u8(c, PCI_CAPABILITY_LIST), 0x40);
	assert_int_equal(pci_config_get_u8(c, 0x40), 0x09);
	assert_int_equal(pci_config_get_u8(c, 0x41), 0);
	assert_int_equal(pci_config_get_u8(c, 0x42), 1);
	int off2 = pci_config_add_capability(c, 0x11, NULL, NULL, 10);
	assert_int_equal(off2, 0x48); /* 0x40 + 8, dword aligned */
	assert_int_equal(pci_config_get_u8(c, 0x41), 0x48);
	/* Writes respect the body mask; header bytes are read-only. */
	uint8_t v[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	pci_config_write(c, 0x40, v, 4);
	assert_int_equal(pci_config_get_u32(c, 0x40), 0xaa014809u);
	/* Fill up the space; then -ENOSPC. */
	int r;
	int n = 0;
	while ((r = pci_config_add_capability(c, 0x09, NULL, NULL, 14)) >= 0) {
		assert_true(r % 4 == 0 && r + 16 <= 256);
		n++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(n > 0);
	/* A smaller one still fits in the remaining room, then nothing. */
	r = pci_config_add_capability(c, 0x05, NULL, NULL, 2);
	assert_true(r > 0 && r + 4 <= 256);
	n++;
	while (pci_config_add_capability(c, 0x05, NULL, NULL, 0) >= 0)
		n++;
	assert_int_equal(pci_config_add_capability(c, 0x09, NULL, NULL, 0), -ENOSPC);
	/* Walk the list: terminates, all in range. */
	uint8_t p = pci_config_get_u8(c, PCI_CAPABILITY_LIST);
	int count = 0;
	while (p) {
		assert_true(p >= 0x40);
		p = pci_config_get_u8(c, p + 1);
		count++;
		assert_true(count < 64);
	}
	assert_int_equal(count, n + 2);
	struct pci_config big;
	assert_int_equal(pci_config_init(&big, &td_hdr, false), 0);
	assert_int_equal(pci_config_add_capability(&big, 0x09, NULL, NULL, 255), -ENOSPC);
	assert_int_equal(pci_config_add_capability(&big, 0x09, NULL, NULL, 190), 0x40);
}

static void test_reset_control(void **state)
{
	struct fixture *f = *state;
	int evt = evfd_create();
	assert_true(evt >= 0);
	io_wr(&f->root, 1, 0x06, 1); /* no fd yet: nothing, no crash */
	pci_root_set_reset_evt(&f->root, evt);
	io_wr(&f->root, 1, 0x02, 1);
	assert_int_equal(evfd_drain(evt), 0);
	assert_int_equal(io_rd(&f->root, 1, 1), 0x02);
	io_wr(&f->root, 1, 0x06, 1);
	assert_int_equal(evfd_drain(evt), 1);
	assert_int_equal(io_rd(&f->root, 1, 1), 0x02); /* RST_CPU self-clears */
	/* A dword write to 0xcf8 is CONFIG_ADDRESS, not a reset. */
	io_wr32(&f->root, 0, 0x80000400);
	assert_int_equal(evfd_drain(evt), 0);
	pci_root_set_reset_evt(&f->root, -1);
	close(evt);
}

static void test_odd_io(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8];
	memset(b, 0, sizeof(b));
	pci_root_io_ops.read(&f->root, 8, b, 1);
	assert_int_equal(b[0], 0xff);
	pci_root_io_ops.read(&f->root, 0, b, 8);
	pci_root_io_ops.write(&f->root, 0, b, 8);
	pci_root_io_ops.write(&f->root, UINT64_MAX, b, 4);
	pci_root_io_ops.read(&f->root, UINT64_MAX, b, 4);
	pci_root_io_ops.read(&f->root, 4, b, 0);
	pci_root_ecam_ops.read(&f->root, 0, b, 0);
	pci_root_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_and_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_data_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecam_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_through_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_io, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
