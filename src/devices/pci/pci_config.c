/*
 * PCI configuration space image with write masks (see pci_config.h).
 *
 * Every guest write goes byte by byte through
 *     new = (old & ~wmask) | (val & wmask);  new &= ~(val & w1c)
 * which is all that read-only IDs, write-1-to-clear status bits and the BAR
 * sizing protocol need: a BAR's writable bits are exactly its address bits
 * above the size, so writing all-ones reads back ~(size-1) plus the
 * read-only type bits, and the guest derives the size from that. A 64-bit
 * BAR's upper dword is masked the same way, so sizing BARs larger than
 * 4 GiB works too.
 */
#include "devices/pci/pci_config.h"

#include <errno.h>
#include <string.h>

static bool in_range(const struct pci_config *cfg, uint32_t reg, uint32_t len)
{
	return reg < cfg->size && len <= cfg->size - reg;
}

uint8_t pci_config_get_u8(const struct pci_config *cfg, uint32_t reg)
{
	return in_range(cfg, reg, 1) ? cfg->data[reg] : 0;
}

uint16_t pci_config_get_u16(const struct pci_config *cfg, uint32_t reg)
{
	if (!in_range(cfg, reg, 2))
		return 0;
	return (uint16_t)(cfg->data[reg] | cfg->data[reg + 1] << 8);
}

uint32_t pci_config_get_u32(const struct pci_config *cfg, uint32_t reg)
{
	if (!in_range(cfg, reg, 4))
		return 0;
	return (uint32_t)cfg->data[reg] | (uint32_t)cfg->data[reg + 1] << 8 |
	       (uint32_t)cfg->data[reg + 2] << 16 | (uint32_t)cfg->data[reg + 3] << 24;
}

static void put_le(uint8_t *arr, uint32_t reg, uint64_t v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		arr[reg + i] = (uint8_t)(v >> (8 * i));
}

void pci_config_set_u8(struct pci_config *cfg, uint32_t reg, uint8_t v)
{
	if (in_range(cfg, reg, 1))
		cfg->data[reg] = v;
}

void pci_config_set_u16(struct pci_config *cfg, uint32_t reg, uint16_t v)
{
	if (in_range(cfg, reg, 2))
		put_le(cfg->data, reg, v, 2);
}

void pci_config_set_u32(struct pci_config *cfg, uint32_t reg, uint32_t v)
{
	if (in_range(cfg, reg, 4))
		put_le(cfg->data, reg, v, 4);
}

void pci_config_set_wmask(struct pci_config *cfg, uint32_t reg, uint32_t len, uint8_t mask)
{
	for (uint32_t i = 0; i < len && reg < cfg->size && i < cfg->size - reg; i++)
		cfg->wmask[reg + i] = mask;
}

void pci_config_set_w1c(struct pci_config *cfg, uint32_t reg, uint32_t len, uint8_t mask)
{
	for (uint32_t i = 0; i < len && reg < cfg->size && i < cfg->size - reg; i++)
		cfg->w1c[reg + i] = mask;
}

int pci_config_init(struct pci_config *cfg, const struct pci_header *hdr, bool pcie_extended)
{
	if ((hdr->header_type & 0x7f) != PCI_HEADER_TYPE_NORMAL || hdr->interrupt_pin > 4)
		return -EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = pcie_extended ? PCIE_CONFIG_SIZE : PCI_CONFIG_SIZE;
	cfg->next_free = PCI_CAP_START;

	pci_config_set_u16(cfg, PCI_VENDOR_ID, hdr->vendor_id);
	pci_config_set_u16(cfg, PCI_DEVICE_ID, hdr->device_id);
	pci_config_set_u8(cfg, PCI_REVISION_ID, hdr->revision_id);
	pci_config_set_u8(cfg, PCI_CLASS_PROG, hdr->prog_if);
	pci_config_set_u8(cfg, PCI_CLASS_DEVICE, hdr->subclass);
	pci_config_set_u8(cfg, PCI_CLASS_DEVICE + 1, hdr->class_code);
	pci_config_set_u8(cfg, PCI_HEADER_TYPE, hdr->header_type);
	pci_config_set_u16(cfg, PCI_SUBSYSTEM_VENDOR_ID, hdr->subsystem_vendor_id);
	pci_config_set_u16(cfg, PCI_SUBSYSTEM_ID, hdr->subsystem_id);
	pci_config_set_u8(cfg, PCI_INTERRUPT_PIN, hdr->interrupt_pin);

	/* Command: I/O, memory, bus master, parity response, SERR#, INTx
	 * disable. The other bits are hard-wired 0 on a virtual device. */
	uint16_t cmd_mask = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			    PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	put_le(cfg->wmask, PCI_COMMAND, cmd_mask, 2);
	/* Status: the error bits (8, 11..15) are write-1-to-clear. */
	put_le(cfg->w1c, PCI_STATUS, 0xf900, 2);
	cfg->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	cfg->wmask[PCI_INTERRUPT_LINE] = 0xff;
	return 0;
}

static bool bar_size_ok(enum pci_bar_type type, uint64_t size)
{
	if (size == 0 || (size & (size - 1)))
		return false;
	switch (type) {
	case PCI_BAR_IO:
		return size >= 4 && size <= 256;
	case PCI_BAR_MEM32:
		return size >= 16 && size <= GiB(2);
	case PCI_BAR_MEM64:
		return size >= 16 && size <= (1ULL << 63);
	default:
		return false;
	}
}

/* True if BAR register idx is in use, as a BAR or as a MEM64 upper half. */
static bool bar_slot_used(const struct pci_config *cfg, unsigned idx)
{
	if (cfg->bars[idx].type != PCI_BAR_NONE)
		return true;
	return idx > 0 && cfg->bars[idx - 1].type == PCI_BAR_MEM64;
}

int pci_config_add_bar(struct pci_config *cfg, unsigned idx, enum pci_bar_type type,
		       uint64_t size, bool prefetchable)
{
	if (idx >= PCI_NUM_BARS || !bar_size_ok(type, size))
		return -EINVAL;
	if (type == PCI_BAR_MEM64 && idx + 1 >= PCI_NUM_BARS)
		return -EINVAL;
	if (type == PCI_BAR_IO && prefetchable)
		return -EINVAL;
	if (bar_slot_used(cfg, idx) || (type == PCI_BAR_MEM64 && bar_slot_used(cfg, idx + 1)))
		return -EBUSY;

	uint32_t reg = PCI_BAR0 + 4 * idx;
	uint32_t flags;
	uint64_t addr_mask;
	if (type == PCI_BAR_IO) {
		flags = PCI_BAR_SPACE_IO;
		addr_mask = ~(size - 1) & 0xfffffffcULL;
	} else {
		flags = (type == PCI_BAR_MEM64 ? PCI_BAR_MEM_TYPE_64 : 0) |
			(prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
		addr_mask = ~(size - 1) & ~0xfULL;
		if (type == PCI_BAR_MEM32)
			addr_mask &= 0xffffffffULL;
	}
	put_le(cfg->data, reg, flags, 4);
	put_le(cfg->wmask, reg, (uint32_t)addr_mask, 4);
	if (type == PCI_BAR_MEM64) {
		put_le(cfg->data, reg + 4, 0, 4);
		put_le(cfg->wmask, reg + 4, (uint32_t)(addr_mask >> 32), 4);
	}
	cfg->bars[idx] = (struct pci_bar_info){
		.type = type, .size = size, .prefetchable = prefetchable,
	};
	return 0;
}

uint64_t pci_config_bar_addr(const struct pci_config *cfg, unsigned idx)
{
	if (idx >= PCI_NUM_BARS)
		return 0;
	uint32_t reg = PCI_BAR0 + 4 * idx;
	uint32_t lo = pci_config_get_u32(cfg, reg);
	switch (cfg->bars[idx].type) {
	case PCI_BAR_IO:
		return lo & ~0x3u;
	case PCI_BAR_MEM32:
		return lo & ~0xfu;
	case PCI_BAR_MEM64:
		return ((uint64_t)pci_config_get_u32(cfg, reg + 4) << 32) | (lo & ~0xfu);
	default:
		return 0;
	}
}

uint64_t pci_config_bar_size(const struct pci_config *cfg, unsigned idx)
{
	return idx < PCI_NUM_BARS ? cfg->bars[idx].size : 0;
}

int pci_config_add_capability(struct pci_config *cfg, uint8_t cap_id, const uint8_t *body,
			      const uint8_t *body_wmask, uint8_t body_len)
{
	uint32_t off = cfg->next_free;
	uint32_t total = 2u + body_len;
	/* Capabilities live in the first 256 bytes; next_free is already
	 * dword-aligned. */
	if (off < PCI_CAP_START || off > PCI_CONFIG_SIZE || total > PCI_CONFIG_SIZE - off)
		return -ENOSPC;

	cfg->data[off] = cap_id;
	cfg->data[off + 1] = 0; /* end of list until another is added */
	cfg->wmask[off] = cfg->wmask[off + 1] = 0;
	for (uint32_t i = 0; i < body_len; i++) {
		cfg->data[off + 2 + i] = body ? body[i] : 0;
		cfg->wmask[off + 2 + i] = body_wmask ? body_wmask[i] : 0;
	}
	if (cfg->last_cap)
		cfg->data[cfg->last_cap + 1] = (uint8_t)off;
	else
		cfg->data[PCI_CAPABILITY_LIST] = (uint8_t)off;
	cfg->last_cap = (uint8_t)off;
	/* align_up on at most 256 + 3: no overflow. */
	uint32_t next = (off + total + 3) & ~3u;
	/* 0 = full: later adds fail the offset check above. */
	cfg->next_free = next >= PCI_CONFIG_SIZE ? 0 : (uint8_t)next;
	uint16_t status = pci_config_get_u16(cfg, PCI_STATUS);
	pci_config_set_u16(cfg, PCI_STATUS, status | PCI_STATUS_CAP_LIST);
	return (int)off;
}

void pci_config_read(const struct pci_config *cfg, uint32_t reg, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint32_t r = reg + i;
		data[i] = (r >= reg && r < cfg->size) ? cfg->data[r] : 0;
	}
}

/* Which BAR (0..5) owns config register byte r, or -1. */
static int bar_of(const struct pci_config *cfg, uint32_t r)
{
	if (r < PCI_BAR0 || r >= PCI_BAR0 + 4 * PCI_NUM_BARS)
		return -1;
	int idx = (int)((r - PCI_BAR0) / 4);
	if (cfg->bars[idx].type != PCI_BAR_NONE)
		return idx;
	if (idx > 0 && cfg->bars[idx - 1].type == PCI_BAR_MEM64)
		return idx - 1;
	return -1;
}

uint32_t pci_config_write(struct pci_config *cfg, uint32_t reg, const uint8_t *data, uint32_t len)
{
	uint32_t touched = 0;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t r = reg + i;
		if (r < reg || r >= cfg->size)
			break;
		uint8_t wm = cfg->wmask[r], w1c = cfg->w1c[r], v = data[i];
		uint8_t nv = (uint8_t)((cfg->data[r] & ~wm) | (v & wm));
		nv &= (uint8_t)~(v & w1c);
		cfg->data[r] = nv;
		if (r == PCI_COMMAND || r == PCI_COMMAND + 1)
			touched |= PCI_CONFIG_TOUCHED_COMMAND;
		int bar = bar_of(cfg, r);
		if (bar >= 0)
			touched |= 1u << bar;
	}
	return touched;
}
