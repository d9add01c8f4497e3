/*
 * The mock virtio driver of virtq_driver.h: builds split-ring chains in
 * guest memory through vm_memory the way a guest driver would, and reads
 * back what the device completed. Ring layout and index arithmetic follow
 * virtio 1.2, 2.7; the free list is a host-side shadow, as in a real
 * driver, so the device's view (the rings) is never trusted for it.
 */
#include "fakes/virtq_driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"

struct drv_desc {
	le64_t addr;
	le32_t len;
	le16_t flags;
	le16_t next;
};

struct drv_used_elem {
	le32_t id;
	le32_t len;
};

static uint64_t avail_off(uint16_t size) { return 16ULL * size; }
static uint64_t used_off(uint16_t size) { return align_up_u64(avail_off(size) + 6ULL + 2ULL * size, 4); }

uint64_t vqd_layout_bytes(uint16_t size) { return used_off(size) + 6ULL + 8ULL * size; }

/* The test owns the memory; a failed access in a helper is a test bug. */
static void must(int rc)
{
	if (rc < 0)
		abort();
}

int vqd_init(struct virtq_driver *d, const struct guest_memory *gm, gpa_t base, uint16_t size)
{
	memset(d, 0, sizeof(*d));
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) || (gpa_val(base) & 15))
		return -EINVAL;
	if (!gm_range_valid(gm, base, vqd_layout_bytes(size)))
		return -EFAULT;
	d->gm = gm;
	d->size = size;
	d->desc = base;
	d->avail = gpa_add(base, avail_off(size));
	d->used = gpa_add(base, used_off(size));
	d->next = calloc(size, sizeof(*d->next));
	d->chain_len = calloc(size, sizeof(*d->chain_len));
	if (!d->next || !d->chain_len) {
		vqd_destroy(d);
		return -ENOMEM;
	}
	for (uint16_t i = 0; i < size; i++)
		d->next[i] = (uint16_t)(i + 1);
	d->free_head = 0;
	d->num_free = size;
	must(gm_fill(gm, base, 0, vqd_layout_bytes(size)));
	return 0;
}

void vqd_destroy(struct virtq_driver *d)
{
	if (!d)
		return;
	free(d->next);
	free(d->chain_len);
	d->next = d->chain_len = NULL;
}

void vqd_start_at(struct virtq_driver *d, uint16_t idx)
{
	d->start = d->avail_idx = d->published = d->last_used = idx;
	must(gm_store_release_u16(d->gm, gpa_add(d->avail, 2), idx));
	must(gm_store_release_u16(d->gm, gpa_add(d->used, 2), idx));
}

struct virtq_config vqd_config(const struct virtq_driver *d, bool event_idx, bool indirect)
{
	return (struct virtq_config){
		.size = d->size,
		.desc = d->desc,
		.avail = d->avail,
		.used = d->used,
		.event_idx = event_idx,
		.indirect = indirect,
		.next_avail = d->start,
		.next_used = d->start,
	};
}

int vqd_write_desc(struct virtq_driver *d, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	if (idx >= d->size)
		return -EINVAL;
	return vqd_write_table_desc(d->gm, d->desc, idx, addr, len, flags, next);
}

int vqd_write_table_desc(const struct guest_memory *gm, gpa_t table, uint32_t j, uint64_t addr, uint32_t len,
			 uint16_t flags, uint16_t next)
{
	struct drv_desc e = { le64_make(addr), le32_make(len), le16_make(flags), le16_make(next) };
	return gm_write_obj(gm, gpa_add(table, 16ULL * j), &e);
}

void vqd_put_head(struct virtq_driver *d, uint16_t head)
{
	le16_t v = le16_make(head);
	gpa_t slot = gpa_add(d->avail, 4ULL + 2ULL * (d->avail_idx & (d->size - 1)));
	must(gm_write_obj(d->gm, slot, &v));
	d->avail_idx++;
}

void vqd_set_avail_idx(struct virtq_driver *d, uint16_t idx)
{
	must(gm_store_release_u16(d->gm, gpa_add(d->avail, 2), idx));
}

/* Takes n descriptors off the free list, links them in order and returns
 * the first; the caller fills addr/len/flags. */
static int alloc_chain(struct virtq_driver *d, size_t n, uint16_t *out)
{
	if (n == 0 || n > d->size)
		return -EINVAL;
	if (n > d->num_free)
		return -ENOSPC;
	uint16_t head = d->free_head, idx = head;
	for (size_t i = 1; i < n; i++)
		idx = d->next[idx];
	d->free_head = d->next[idx];
	d->num_free = (uint16_t)(d->num_free - n);
	d->chain_len[head] = (uint16_t)n;
	*out = head;
	return 0;
}

int vqd_add(struct virtq_driver *d, const struct vqd_buf *bufs, size_t n)
{
	uint16_t head;
	int rc = alloc_chain(d, n, &head);
	if (rc < 0)
		return rc;
	uint16_t idx = head;
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;
		uint16_t flags = (uint16_t)((last ? 0 : VIRTQ_DESC_F_NEXT) | (bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0));
		rc = vqd_write_desc(d, idx, gpa_val(bufs[i].addr), bufs[i].len, flags, last ? 0 : d->next[idx]);
		if (rc < 0)
			return rc;
		idx = d->next[idx];
	}
	vqd_put_head(d, head);
	return head;
}

int vqd_add_indirect(struct virtq_driver *d, gpa_t table, const struct vqd_buf *bufs, size_t n)
{
	if (n == 0 || n > VIRTQ_MAX_CHAIN || (gpa_val(table) & 15))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;
		uint16_t flags = (uint16_t)((last ? 0 : VIRTQ_DESC_F_NEXT) | (bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0));
		int rc = vqd_write_table_desc(d->gm, table, (uint32_t)i, gpa_val(bufs[i].addr), bufs[i].len, flags,
					      last ? 0 : (uint16_t)(i + 1));
		if (rc < 0)
			return rc;
	}
	uint16_t head;
	int rc = alloc_chain(d, 1, &head);
	if (rc < 0)
		return rc;
	rc = vqd_write_desc(d, head, gpa_val(table), (uint32_t)(16 * n), VIRTQ_DESC_F_INDIRECT, 0);
	if (rc < 0)
		return rc;
	vqd_put_head(d, head);
	return head;
}

uint16_t vqd_publish(struct virtq_driver *d)
{
	/* Release: the ring entries and descriptors written before are visible
	 * to the device before the index that announces them. */
	must(gm_store_release_u16(d->gm, gpa_add(d->avail, 2), d->avail_idx));
	d->published = d->avail_idx;
	return d->published;
}

uint16_t vqd_used_idx(const struct virtq_driver *d)
{
	uint16_t v;
	must(gm_load_acquire_u16(d->gm, gpa_add(d->used, 2), &v));
	return v;
}

int vqd_get_used(struct virtq_driver *d, uint16_t *id, uint32_t *len)
{
	/* Acquire: the element is read after the index that announced it. */
	if (vqd_used_idx(d) == d->last_used)
		return 0;
	struct drv_used_elem e;
	must(gm_read_obj(d->gm, gpa_add(d->used, 4ULL + 8ULL * (d->last_used & (d->size - 1))), &e));
	d->last_used++;
	*id = (uint16_t)le32_get(e.id);
	*len = le32_get(e.len);
	/* Give the chain's descriptors back if we handed them out. */
	if (*id < d->size && d->chain_len[*id] > 0) {
		uint16_t n = d->chain_len[*id], tail = *id;
		for (uint16_t i = 1; i < n; i++)
			tail = d->next[tail];
		d->next[tail] = d->free_head;
		d->free_head = *id;
		d->num_free = (uint16_t)(d->num_free + n);
		d->chain_len[*id] = 0;
	}
	return 1;
}

void vqd_set_avail_flags(struct virtq_driver *d, uint16_t flags)
{
	must(gm_store_release_u16(d->gm, d->avail, flags));
}

void vqd_set_used_event(struct virtq_driver *d, uint16_t v)
{
	must(gm_store_release_u16(d->gm, gpa_add(d->avail, 4ULL + 2ULL * d->size), v));
}

uint16_t vqd_used_flags(const struct virtq_driver *d)
{
	uint16_t v;
	must(gm_load_acquire_u16(d->gm, d->used, &v));
	return v;
}

uint16_t vqd_avail_event(const struct virtq_driver *d)
{
	uint16_t v;
	must(gm_load_acquire_u16(d->gm, gpa_add(d->used, 4ULL + 8ULL * d->size), &v));
	return v;
}

bool vqd_kick_needed(const struct virtq_driver *d, bool event_idx, uint16_t old_idx)
{
	/* The driver's side of the store-load handshake with the device. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!event_idx)
		return !(vqd_used_flags(d) & VIRTQ_USED_F_NO_NOTIFY);
	uint16_t event = vqd_avail_event(d), new_idx = d->published;
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}
