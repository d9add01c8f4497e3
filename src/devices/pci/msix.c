/*
 * MSI-X register model (see msix.h). The table is kept as host-endian
 * words and converted at the access, so the owner can read a vector's
 * message without caring about the guest's byte order.
 */
#include "devices/pci/msix.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

int msix_init(struct msix *m, struct pci_config *cfg, uint16_t nr_vectors, uint8_t bar, uint32_t table_off,
	      uint32_t pba_off)
{
	if (nr_vectors == 0 || nr_vectors > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_off & 7) ||
	    (pba_off & 7))
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->nr_vectors = nr_vectors;
	for (uint16_t v = 0; v < nr_vectors; v++)
		m->table[v].vector_ctrl = MSIX_VECTOR_CTRL_MASK;
	/* Body after ID and next pointer: Message Control, Table Offset/BIR,
	 * PBA Offset/BIR. Only Enable and Function Mask are writable. */
	uint8_t body[10] = { 0 }, wmask[10] = { 0 };
	uint16_t ctrl = htole16((uint16_t)(nr_vectors - 1));
	uint32_t table = htole32(table_off | bar), pba = htole32(pba_off | bar);
	memcpy(body, &ctrl, 2);
	memcpy(body + 2, &table, 4);
	memcpy(body + 6, &pba, 4);
	wmask[1] = (MSIX_CTRL_ENABLE | MSIX_CTRL_FUNC_MASK) >> 8;
	int off = pci_config_add_capability(cfg, PCI_CAP_ID_MSIX, body, wmask, sizeof(body));
	if (off < 0)
		return off;
	m->cap_off = (uint8_t)off;
	return 0;
}

bool msix_update_control(struct msix *m, const struct pci_config *cfg)
{
	uint16_t ctrl = pci_config_get_u16(cfg, m->cap_off + 2u);
	bool en = ctrl & MSIX_CTRL_ENABLE, fm = ctrl & MSIX_CTRL_FUNC_MASK;
	bool changed = en != m->enabled || fm != m->func_masked;
	m->enabled = en;
	m->func_masked = fm;
	return changed;
}

static bool aligned_access(uint64_t off, uint32_t len) { return (len == 4 || len == 8) && off % len == 0; }

void msix_table_read(const struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (!aligned_access(off, len) || off >= msix_table_size(m->nr_vectors))
		return;
	const struct msix_entry *e = &m->table[off / MSIX_ENTRY_SIZE];
	uint32_t words[4] = { htole32(e->addr_lo), htole32(e->addr_hi), htole32(e->data), htole32(e->vector_ctrl) };
	memcpy(data, (const uint8_t *)words + off % MSIX_ENTRY_SIZE, len);
}

int msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len)
{
	if (!aligned_access(off, len) || off >= msix_table_size(m->nr_vectors))
		return -1;
	uint16_t v = (uint16_t)(off / MSIX_ENTRY_SIZE);
	struct msix_entry *e = &m->table[v];
	uint32_t words[4] = { htole32(e->addr_lo), htole32(e->addr_hi), htole32(e->data), htole32(e->vector_ctrl) };
	memcpy((uint8_t *)words + off % MSIX_ENTRY_SIZE, data, len);
	e->addr_lo = le32toh(words[0]);
	e->addr_hi = le32toh(words[1]);
	e->data = le32toh(words[2]);
	/* Only the mask bit of Vector Control is defined; the rest reads 0. */
	e->vector_ctrl = le32toh(words[3]) & MSIX_VECTOR_CTRL_MASK;
	return v;
}

void msix_pba_read(const struct msix *m, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (!aligned_access(off, len) || off >= msix_pba_size(m->nr_vectors))
		return;
	/* At most 64 vectors: the whole PBA is one qword. */
	uint64_t pba = htole64(m->pending);
	memcpy(data, (const uint8_t *)&pba + off, len);
}

bool msix_vector_deliverable(const struct msix *m, uint16_t v)
{
	return v < m->nr_vectors && m->enabled && !m->func_masked &&
	       !(m->table[v].vector_ctrl & MSIX_VECTOR_CTRL_MASK);
}

void msix_vector_message(const struct msix *m, uint16_t v, uint64_t *addr, uint32_t *data)
{
	*addr = 0;
	*data = 0;
	if (v >= m->nr_vectors)
		return;
	*addr = ((uint64_t)m->table[v].addr_hi << 32) | m->table[v].addr_lo;
	*data = m->table[v].data;
}
