/*
 * io_uring engine: READ, WRITE and FLUSH go to the kernel as READV, WRITEV
 * and FSYNC(DATASYNC) and complete later; the completion eventfd is
 * registered with the ring, so the kernel signals it for every completion
 * and the caller's poll loop needs nothing io_uring-specific. A short
 * transfer is resubmitted for the rest from disk_reap, so the caller only
 * ever sees whole results. DISCARD and WRITE_ZEROES run synchronously (see
 * aio_sync.c).
 *
 * Ring sizing: DISK_MAX_IN_FLIGHT submission entries and the default of
 * twice as many completion entries. Each request owns at most one entry at
 * a time and the in-flight cap holds, so neither ring can fill.
 */
#include "disk/disk_internal.h"

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/eventfd.h"

/* Retries of a request the kernel bounced with EINTR/EAGAIN before we give
 * up and report the error, so a misbehaving host cannot make us spin. */
#define URING_MAX_RETRIES 16

struct uring {
	struct io_uring ring;
	unsigned int busy;  /* entries handed to the kernel, not yet completed */
	bool need_submit;   /* queued entries io_uring_enter has not accepted */
};

/* Hands queued entries to the kernel. Once an entry is in the ring the
 * kernel will consume it on some later io_uring_enter, so a failure here
 * cannot be undone: remember it and retry from disk_reap, and signal the
 * eventfd so the caller comes to reap. */
static void flush_sq(struct disk *d, struct uring *u)
{
	int r;
	do {
		r = io_uring_submit(&u->ring);
	} while (r == -EINTR);
	/* Also after a partial submit (r >= 0): whatever the kernel has not
	 * consumed is still pending. */
	u->need_submit = io_uring_sq_ready(&u->ring) > 0;
	if (u->need_submit)
		(void)evfd_signal(d->completion_fd);
}

static int queue(struct disk *d, struct uring *u, struct disk_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return -EBUSY; /* unreachable given the cap; refused, not lost */
	switch (io->op) {
	case DISK_OP_READ:
		io_uring_prep_readv(sqe, d->fd, io->iov, io->iovcnt, io->offset);
		break;
	case DISK_OP_WRITE:
		io_uring_prep_writev(sqe, d->fd, io->iov, io->iovcnt, io->offset);
		break;
	default: /* DISK_OP_FLUSH */
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	/* SAFETY: io is a slot inside d, alive until disk_io_complete, which
	 * only happens once its completion entry has been seen. */
	io_uring_sqe_set_data(sqe, io);
	u->busy++;
	flush_sq(d, u);
	return 0;
}

static int uring_init(struct disk *d)
{
	struct uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	int r = io_uring_queue_init(DISK_MAX_IN_FLIGHT, &u->ring, 0);
	if (r < 0)
		goto free_u;
	r = io_uring_register_eventfd(&u->ring, d->completion_fd);
	if (r < 0)
		goto exit_ring;
	d->engine_state = u;
	return 0;

exit_ring:
	io_uring_queue_exit(&u->ring);
free_u:
	free(u);
	return r;
}

static void uring_fini(struct disk *d)
{
	struct uring *u = d->engine_state;
	/* The kernel may still write into guest buffers: wait for every entry
	 * it holds. The results no longer matter. */
	if (u->need_submit)
		flush_sq(d, u);
	while (u->busy > 0 && !u->need_submit) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&u->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		io_uring_cqe_seen(&u->ring, cqe);
		u->busy--;
	}
	io_uring_queue_exit(&u->ring);
	free(u);
	d->engine_state = NULL;
}

static int uring_start(struct disk *d, struct disk_io *io)
{
	switch (io->op) {
	case DISK_OP_DISCARD:
		disk_io_complete(d, io, disk_host_discard(d, io->offset, io->len));
		return 0;
	case DISK_OP_WRITE_ZEROES:
		disk_io_complete(d, io, disk_host_write_zeroes(d, io->offset, io->len));
		return 0;
	default:
		return queue(d, d->engine_state, io);
	}
}

/* Handles one kernel completion: finish io or resubmit the rest of it. */
static void finish(struct disk *d, struct uring *u, struct disk_io *io, int res)
{
	if (res == -EINTR || res == -EAGAIN) {
		if (++io->retries <= URING_MAX_RETRIES && queue(d, u, io) == 0)
			return;
		disk_io_complete(d, io, -EIO);
		return;
	}
	if (res < 0 || io->op == DISK_OP_FLUSH) {
		disk_io_complete(d, io, res < 0 ? res : 0);
		return;
	}
	/* End of file inside the image (shrunk under us) or a count larger
	 * than asked: never report a partial transfer as success. */
	if ((res == 0 && io->remaining > 0) || (uint64_t)res > io->remaining) {
		disk_io_complete(d, io, -EIO);
		return;
	}
	disk_io_advance(io, (uint64_t)res);
	if (io->remaining == 0) {
		disk_io_complete(d, io, (int64_t)io->len);
		return;
	}
	io->retries = 0;
	int r = queue(d, u, io);
	if (r < 0)
		disk_io_complete(d, io, r);
}

static void uring_poll(struct disk *d)
{
	struct uring *u = d->engine_state;
	if (u->need_submit)
		flush_sq(d, u);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct disk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		u->busy--;
		finish(d, u, io, res);
	}
}

const struct disk_engine_ops disk_uring_engine = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.start = uring_start,
	.poll = uring_poll,
};
