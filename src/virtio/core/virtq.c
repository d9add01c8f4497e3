/*
 * The device side of a split virtqueue (virtio 1.2, 2.7): popping and
 * validating descriptor chains, publishing used elements, interrupt and
 * kick suppression, and the reader/writer devices use to move bytes in and
 * out of a chain.
 *
 * Everything in the rings belongs to the driver and may change while we
 * look at it, so each ring entry and descriptor is copied exactly once into
 * a local, checked, and only the copy is used. A chain is flattened into a
 * list of segments (guest address, length) that were each checked to lie
 * wholly inside one guest memory region, so the reader and writer never
 * see a raw descriptor. A malformed chain fails only that request
 * (-EBADMSG); a malformed ring (the avail index or a head out of range)
 * stops the queue (-EIO, q->broken).
 *
 * The ring indices and flags that both sides update concurrently are read
 * and written with 16-bit atomics from vm_memory; each barrier below says
 * which accesses it orders against which.
 */
#include "virtio/core/virtq.h"

#include <errno.h>
#include <string.h>

#include "base/checked.h"

/* A descriptor as the driver lays it out (2.7.5). */
struct virtq_desc {
	le64_t addr;
	le32_t len;
	le16_t flags;
	le16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");

/* An element of the used ring (2.7.8). */
struct virtq_used_elem {
	le32_t id;
	le32_t len;
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem is 8 bytes");

/* Offsets inside the available ring: flags, idx, ring[size], used_event. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
/* Offsets inside the used ring: flags, idx, ring[size], avail_event. */
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

static uint64_t desc_bytes(uint16_t size) { return 16ULL * size; }
static uint64_t avail_bytes(uint16_t size) { return 6ULL + 2ULL * size; }
static uint64_t used_bytes(uint16_t size) { return 6ULL + 8ULL * size; }

static gpa_t used_event_addr(const struct virtq *q) { return gpa_add(q->cfg.avail, AVAIL_RING + 2ULL * q->cfg.size); }
static gpa_t avail_event_addr(const struct virtq *q) { return gpa_add(q->cfg.used, USED_RING + 8ULL * q->cfg.size); }

int vq_init(struct virtq *q, const struct guest_memory *gm, const struct virtq_config *cfg)
{
	memset(q, 0, sizeof(*q));
	/* A queue that failed to initialise must not be usable by accident. */
	q->broken = true;
	uint16_t size = cfg->size;
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) != 0)
		return -EINVAL;
	if ((gpa_val(cfg->desc) & 15) || (gpa_val(cfg->avail) & 1) || (gpa_val(cfg->used) & 3))
		return -EINVAL;
	/* The avail ring includes used_event and the used ring avail_event
	 * whether or not event-idx is negotiated: drivers always allocate them. */
	if (!gm_range_valid(gm, cfg->desc, desc_bytes(size)) || !gm_range_valid(gm, cfg->avail, avail_bytes(size)) ||
	    !gm_range_valid(gm, cfg->used, used_bytes(size)))
		return -EINVAL;
	q->gm = gm;
	q->cfg = *cfg;
	q->next_avail = cfg->next_avail;
	q->next_used = cfg->next_used;
	q->signalled_used = cfg->next_used;
	q->signalled_used_valid = false;
	q->broken = false;
	return 0;
}

/* Reads avail->idx. The acquire pairs with the driver's write barrier
 * before it publishes avail->idx: every ring entry and descriptor the
 * driver wrote before bumping the index is visible to the reads we do
 * after this load. */
static int load_avail_idx(struct virtq *q, uint16_t *idx)
{
	if (gm_load_acquire_u16(q->gm, gpa_add(q->cfg.avail, AVAIL_IDX), idx) < 0) {
		q->broken = true;
		return -EIO;
	}
	return 0;
}

/* Event-idx only: the driver kicks when its avail->idx passes
 * avail_event, which nobody moves unless we do. A device that finds the
 * ring empty therefore asks to be kicked for the next chain (as
 * vq_set_notification(q, true) would), so a device that never touches
 * notifications still gets its kicks. Then it looks at avail->idx again,
 * for a chain published before the driver could see the new avail_event. */
static int arm_if_empty(struct virtq *q, uint16_t *idx)
{
	if (!q->cfg.event_idx || *idx != q->next_avail)
		return 0;
	uint16_t cur;
	/* avail_event is written only by us; reading it back saves the store
	 * and the fence when nothing was consumed since the last time. */
	if (gm_load_acquire_u16(q->gm, avail_event_addr(q), &cur) < 0)
		goto broken;
	if (cur == q->next_avail)
		return 0;
	if (gm_store_release_u16(q->gm, avail_event_addr(q), q->next_avail) < 0)
		goto broken;
	/* Full fence: the avail_event store must be visible before we re-read
	 * avail->idx (store-load ordering; see vq_set_notification). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load_avail_idx(q, idx);
broken:
	q->broken = true;
	return -EIO;
}

/* The number of chains the driver made available that we did not pop. */
static int avail_pending(struct virtq *q, uint16_t *pending)
{
	uint16_t idx;
	if (load_avail_idx(q, &idx) < 0 || arm_if_empty(q, &idx) < 0)
		return -EIO;
	*pending = (uint16_t)(idx - q->next_avail);
	return 0;
}

bool vq_has_avail(struct virtq *q)
{
	uint16_t pending;
	if (q->broken || avail_pending(q, &pending) < 0)
		return false;
	return pending != 0;
}

/* The state of one chain walk. */
struct walk {
	const struct virtq *q;
	struct vq_chain *c;
	uint32_t max;	  /* longest chain accepted: min(size, VIRTQ_MAX_CHAIN) */
	uint32_t count;	  /* buffer descriptors seen, direct and indirect */
	uint32_t rlen, wlen; /* byte totals so far */
};

/* Takes one buffer descriptor (a checked local copy) into the chain.
 * Every buffer descriptor counts against the chain length, which bounds
 * the walk and so stops loops. Zero-length buffers hold no bytes: they
 * are counted but neither checked nor stored, so the reader and writer
 * never meet an empty segment. Byte totals are kept in 32 bits because
 * vq_push reports the written length in 32 bits. */
static int take_buffer(struct walk *w, const struct virtq_desc *d, uint16_t flags)
{
	if (++w->count > w->max)
		return -EBADMSG;
	uint32_t len = le32_get(d->len);
	if (len == 0)
		return 0;
	gpa_t addr = GPA(le64_get(d->addr));
	if (!gm_range_valid(w->q->gm, addr, len))
		return -EBADMSG;
	struct vq_chain *c = w->c;
	/* count <= max <= VIRTQ_MAX_CHAIN, so the slot is inside segs[]. */
	struct vq_seg *seg = &c->segs[c->nr_readable + c->nr_writable];
	if (flags & VIRTQ_DESC_F_WRITE) {
		if (!ck_add_u32(w->wlen, len, &w->wlen))
			return -EBADMSG;
		c->nr_writable++;
	} else {
		/* 2.7.4.2: readable buffers come before writable ones. */
		if (c->nr_writable > 0)
			return -EBADMSG;
		if (!ck_add_u32(w->rlen, len, &w->rlen))
			return -EBADMSG;
		c->nr_readable++;
	}
	*seg = (struct vq_seg){ .addr = addr, .len = len };
	return 0;
}

/* Walks the indirect table `d` points to (2.7.5.3); it ends the chain. */
static int walk_indirect(struct walk *w, const struct virtq_desc *d, uint16_t flags)
{
	/* 2.7.5.3.1: only when negotiated, and never together with NEXT. The
	 * WRITE flag of the pointing descriptor is ignored, as the spec says. */
	if (!w->q->cfg.indirect || (flags & VIRTQ_DESC_F_NEXT))
		return -EBADMSG;
	uint32_t len = le32_get(d->len);
	if (len == 0 || len % sizeof(struct virtq_desc) != 0 || len / sizeof(struct virtq_desc) > VIRTQ_MAX_CHAIN)
		return -EBADMSG;
	gpa_t table = GPA(le64_get(d->addr));
	if (!gm_range_valid(w->q->gm, table, len))
		return -EBADMSG;
	uint32_t n = len / sizeof(struct virtq_desc);
	uint32_t j = 0;
	for (;;) {
		struct virtq_desc e;
		/* j < n and the whole table is inside one region. */
		if (gm_read_obj(w->q->gm, gpa_add(table, (uint64_t)j * sizeof(e)), &e) < 0)
			return -EBADMSG;
		uint16_t ef = le16_get(e.flags);
		if (ef & VIRTQ_DESC_F_INDIRECT)
			return -EBADMSG; /* nested tables */
		int rc = take_buffer(w, &e, ef);
		if (rc < 0)
			return rc;
		if (!(ef & VIRTQ_DESC_F_NEXT))
			return 0;
		j = le16_get(e.next);
		if (j >= n)
			return -EBADMSG;
	}
}

/* Walks the chain starting at head (< size). Returns 0, -EBADMSG for a
 * malformed chain, or -EIO if the descriptor table cannot be read. */
static int walk_chain(struct walk *w, uint16_t head)
{
	const struct virtq *q = w->q;
	uint16_t idx = head;
	for (;;) {
		struct virtq_desc d;
		/* idx < size: inside the table vq_init checked. */
		if (gm_read_obj(q->gm, gpa_add(q->cfg.desc, (uint64_t)idx * sizeof(d)), &d) < 0)
			return -EIO;
		uint16_t flags = le16_get(d.flags);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(w, &d, flags);
		int rc = take_buffer(w, &d, flags);
		if (rc < 0)
			return rc;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = le16_get(d.next);
		if (idx >= q->cfg.size)
			return -EBADMSG;
	}
}

static void chain_reset(struct vq_chain *c, uint16_t head)
{
	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->readable_len = c->writable_len = 0;
}

int vq_pop(struct virtq *q, struct vq_chain *chain)
{
	if (q->broken)
		return -EIO;
	uint16_t pending;
	if (avail_pending(q, &pending) < 0)
		return -EIO;
	if (pending == 0)
		return 0;
	if (pending > q->cfg.size) {
		/* The driver cannot have more than `size` chains outstanding. */
		q->broken = true;
		return -EIO;
	}
	/* Ordered after the acquire load of avail->idx above. */
	le16_t head_le;
	gpa_t slot = gpa_add(q->cfg.avail, AVAIL_RING + 2ULL * (q->next_avail & (q->cfg.size - 1)));
	if (gm_read_obj(q->gm, slot, &head_le) < 0) {
		q->broken = true;
		return -EIO;
	}
	q->next_avail++;
	uint16_t head = le16_get(head_le);
	chain_reset(chain, head);
	if (head >= q->cfg.size) {
		/* No valid head to complete the request with: the ring is lost. */
		q->broken = true;
		return -EIO;
	}

	struct walk w = {
		.q = q,
		.c = chain,
		.max = q->cfg.size < VIRTQ_MAX_CHAIN ? q->cfg.size : VIRTQ_MAX_CHAIN,
	};
	int rc = walk_chain(&w, head);
	if (rc == -EIO) {
		q->broken = true;
		chain_reset(chain, head);
		return -EIO;
	}
	if (rc < 0) {
		/* Hand the device nothing it could use by mistake. */
		chain_reset(chain, head);
		return -EBADMSG;
	}
	chain->readable_len = w.rlen;
	chain->writable_len = w.wlen;
	return 1;
}

int vq_push_batch(struct virtq *q, const struct vq_used *used, unsigned n)
{
	if (q->broken)
		return -EIO;
	if (n == 0 || n > q->cfg.size)
		return -EINVAL;
	/* Only a device bug gets here: heads come from vq_pop. */
	for (unsigned i = 0; i < n; i++)
		if (used[i].head >= q->cfg.size)
			return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct virtq_used_elem e = { .id = le32_make(used[i].head), .len = le32_make(used[i].written) };
		uint16_t idx = (uint16_t)(q->next_used + i);
		gpa_t slot = gpa_add(q->cfg.used, USED_RING + 8ULL * (idx & (q->cfg.size - 1)));
		if (gm_write_obj(q->gm, slot, &e) < 0) {
			q->broken = true;
			return -EIO;
		}
	}
	/* Release: the used elements written above (and the data the device
	 * wrote into the chains' buffers before calling us) are visible to the
	 * driver before the new used->idx that announces them. */
	uint16_t next = (uint16_t)(q->next_used + n);
	if (gm_store_release_u16(q->gm, gpa_add(q->cfg.used, USED_IDX), next) < 0) {
		q->broken = true;
		return -EIO;
	}
	q->next_used = next;
	return 0;
}

int vq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	struct vq_used u = { head, written };
	return vq_push_batch(q, &u, 1);
}

/* 2.7.10 (and 2.7.7.2): an interrupt is due when used_event lies in the
 * window of used indices published since the last check, [old, new),
 * computed modulo 2^16. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool vq_needs_notify(struct virtq *q)
{
	if (q->broken)
		return false;
	/* Full fence: our store of used->idx (vq_push) must be globally
	 * visible before we load avail->flags / used_event below. The driver
	 * does the mirror image (writes used_event or flags, fences, re-reads
	 * used->idx); with both fences at least one side sees the other's
	 * update, so an interrupt is never lost. Release/acquire alone would
	 * allow the store-load reordering that loses it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->cfg.event_idx) {
		uint16_t flags;
		if (gm_load_acquire_u16(q->gm, gpa_add(q->cfg.avail, AVAIL_FLAGS), &flags) < 0) {
			q->broken = true;
			return false;
		}
		return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	uint16_t event;
	if (gm_load_acquire_u16(q->gm, used_event_addr(q), &event) < 0) {
		q->broken = true;
		return false;
	}
	/* The window restarts at every check, true or false, as the spec's
	 * vring_need_event() is meant to be used: an event index the driver
	 * sets after a check is compared only with what is published after
	 * it (the driver re-reads used->idx itself after setting it). */
	uint16_t old_idx = q->signalled_used;
	bool valid = q->signalled_used_valid;
	q->signalled_used = q->next_used;
	q->signalled_used_valid = true;
	/* No reference point yet (fresh or restored queue): interrupt. */
	if (!valid)
		return true;
	return need_event(event, q->next_used, old_idx);
}

void vq_set_notification(struct virtq *q, bool enable)
{
	if (q->broken)
		return;
	int rc;
	if (q->cfg.event_idx) {
		/* With event-idx the driver ignores used->flags. Disabling needs no
		 * write: once the driver's avail->idx has moved past the stale
		 * avail_event, it does not kick. Enabling asks for a kick as soon
		 * as anything beyond what we consumed is made available. Finding
		 * the ring empty enables too (arm_if_empty), so "disabled" lasts
		 * while the device is busy draining the ring, which is its use. */
		if (!enable)
			return;
		rc = gm_store_release_u16(q->gm, avail_event_addr(q), q->next_avail);
	} else {
		rc = gm_store_release_u16(q->gm, gpa_add(q->cfg.used, USED_FLAGS), enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	if (rc < 0) {
		q->broken = true;
		return;
	}
	/* Full fence: the store above must be visible to the driver before the
	 * caller re-reads avail->idx (vq_has_avail). The driver publishes
	 * avail->idx, fences, then reads our flags/avail_event; without this
	 * store-load ordering both sides could miss each other and a chain
	 * would sit unprocessed with no kick coming. */
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- reader / writer ---------------------------------------------------- */

/* A position inside a list of non-empty segments. The reader and writer
 * work on a copy and commit it only on success, so failures consume
 * nothing. Invariant: remaining > 0 implies idx < nr and off < segs[idx].len. */
struct cursor {
	const struct vq_seg *segs;
	uint16_t nr, idx;
	uint32_t off;
	uint64_t remaining;
};

enum xfer { XFER_READ, XFER_WRITE, XFER_SKIP };

/* The bytes left in the current segment, or 0 if the cursor is
 * inconsistent (only possible if a device built a chain by hand). */
static uint32_t cursor_piece(const struct cursor *c)
{
	if (c->idx >= c->nr || c->off >= c->segs[c->idx].len)
		return 0;
	return c->segs[c->idx].len - c->off;
}

static void cursor_advance(struct cursor *c, uint32_t n)
{
	c->off += n;
	c->remaining -= n;
	if (c->off == c->segs[c->idx].len) {
		c->idx++;
		c->off = 0;
	}
}

/* Moves len bytes: into dst (XFER_READ), from src (XFER_WRITE) or nowhere
 * (XFER_SKIP). */
static int cursor_xfer(const struct guest_memory *gm, struct cursor *c, enum xfer op, uint8_t *dst,
		       const uint8_t *src, size_t len)
{
	if (len > c->remaining)
		return -EMSGSIZE;
	struct cursor t = *c;
	while (len > 0) {
		uint32_t piece = cursor_piece(&t);
		if (piece == 0)
			return -EMSGSIZE;
		uint32_t n = len < piece ? (uint32_t)len : piece;
		gpa_t a = gpa_add(t.segs[t.idx].addr, t.off);
		int rc = 0;
		if (op == XFER_READ) {
			rc = gm_read(gm, a, dst, n);
			dst += n;
		} else if (op == XFER_WRITE) {
			rc = gm_write(gm, a, src, n);
			src += n;
		}
		if (rc < 0)
			return rc;
		len -= n;
		cursor_advance(&t, n);
	}
	*c = t;
	return 0;
}

static int cursor_iov(const struct guest_memory *gm, struct cursor *c, size_t len, struct iovec *iov, int max_iov)
{
	if (len > c->remaining)
		return -EMSGSIZE;
	struct cursor t = *c;
	int n = 0;
	while (len > 0) {
		uint32_t piece = cursor_piece(&t);
		if (piece == 0)
			return -EMSGSIZE;
		if (n >= max_iov)
			return -E2BIG;
		uint32_t take = len < piece ? (uint32_t)len : piece;
		/* SAFETY: the segment was checked to lie in one region at pop
		 * time and regions live as long as the guest memory. */
		void *h = gm_get_slice(gm, gpa_add(t.segs[t.idx].addr, t.off), take);
		if (!h)
			return -EFAULT;
		iov[n].iov_base = h;
		iov[n].iov_len = take;
		n++;
		len -= take;
		cursor_advance(&t, take);
	}
	*c = t;
	return n;
}

#define CURSOR_OF(x) ((struct cursor){ (x)->segs, (x)->nr, (x)->idx, (x)->off, (x)->remaining })
#define CURSOR_STORE(x, c)                     \
	do {                                   \
		(x)->idx = (c).idx;            \
		(x)->off = (c).off;            \
		(x)->remaining = (c).remaining; \
	} while (0)

void vq_reader_init(struct vq_reader *r, const struct guest_memory *gm, const struct vq_chain *c)
{
	*r = (struct vq_reader){
		.gm = gm,
		.segs = c->segs,
		.nr = c->nr_readable,
		.remaining = c->readable_len,
	};
}

void vq_writer_init(struct vq_writer *w, const struct guest_memory *gm, const struct vq_chain *c)
{
	*w = (struct vq_writer){
		.gm = gm,
		.segs = c->segs + c->nr_readable,
		.nr = c->nr_writable,
		.remaining = c->writable_len,
	};
}

int vq_read(struct vq_reader *r, void *dst, size_t len)
{
	struct cursor c = CURSOR_OF(r);
	int rc = cursor_xfer(r->gm, &c, XFER_READ, dst, NULL, len);
	if (rc == 0)
		CURSOR_STORE(r, c);
	return rc;
}

int vq_reader_skip(struct vq_reader *r, size_t len)
{
	struct cursor c = CURSOR_OF(r);
	int rc = cursor_xfer(r->gm, &c, XFER_SKIP, NULL, NULL, len);
	if (rc == 0)
		CURSOR_STORE(r, c);
	return rc;
}

int vq_reader_iov(struct vq_reader *r, size_t len, struct iovec *iov, int max_iov)
{
	struct cursor c = CURSOR_OF(r);
	int rc = cursor_iov(r->gm, &c, len, iov, max_iov);
	if (rc >= 0)
		CURSOR_STORE(r, c);
	return rc;
}

int vq_write(struct vq_writer *w, const void *src, size_t len)
{
	struct cursor c = CURSOR_OF(w);
	int rc = cursor_xfer(w->gm, &c, XFER_WRITE, NULL, src, len);
	if (rc == 0) {
		CURSOR_STORE(w, c);
		w->written += len;
	}
	return rc;
}

int vq_writer_iov(struct vq_writer *w, size_t len, struct iovec *iov, int max_iov)
{
	struct cursor c = CURSOR_OF(w);
	int rc = cursor_iov(w->gm, &c, len, iov, max_iov);
	if (rc >= 0) {
		CURSOR_STORE(w, c);
		w->written += len;
	}
	return rc;
}

int vq_writer_skip(struct vq_writer *w, size_t len)
{
	struct cursor c = CURSOR_OF(w);
	int rc = cursor_xfer(w->gm, &c, XFER_SKIP, NULL, NULL, len);
	if (rc == 0) {
		CURSOR_STORE(w, c);
		w->written += len;
	}
	return rc;
}
