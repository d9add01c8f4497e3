/*
 * Synchronous host operations, and the engine built from them.
 *
 * The functions here loop until a request is wholly done (short counts,
 * EINTR) and turn every failure into a -errno result, so a host error can
 * reach the guest but never crash us. The sync engine runs them inside
 * disk_submit and queues the completion; it is the fallback where io_uring
 * cannot be set up, and the io_uring engine uses it for DISCARD and
 * WRITE_ZEROES, which are metadata operations (or an ioctl) anyway.
 */
#include "disk/disk_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/fd.h"

int64_t disk_host_rw(struct disk *d, struct disk_io *io)
{
	while (io->remaining > 0) {
		/* Segments left are at most DISK_MAX_IOVECS, i.e. IOV_MAX. */
		ssize_t n = io->op == DISK_OP_READ
				    ? preadv(d->fd, io->iov, (int)io->iovcnt, (off_t)io->offset)
				    : pwritev(d->fd, io->iov, (int)io->iovcnt, (off_t)io->offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* End of file inside the image: someone shrank it under us. */
		if (n == 0 || (uint64_t)n > io->remaining)
			return -EIO;
		disk_io_advance(io, (uint64_t)n);
	}
	return (int64_t)io->len;
}

int64_t disk_host_flush(struct disk *d)
{
	while (fdatasync(d->fd) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int falloc(int fd, int mode, uint64_t offset, uint64_t len)
{
	while (fallocate(fd, mode, (off_t)offset, (off_t)len) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int64_t disk_host_discard(struct disk *d, uint64_t offset, uint64_t len)
{
	/* Without the sparse flag the user asked us to keep the image fully
	 * allocated; discard is only a hint, so ignoring it is correct. */
	if (!(d->flags & DISK_F_SPARSE))
		return 0;
	int r;
	if (d->is_blockdev) {
		uint64_t range[2] = { offset, len };
		r = ioctl(d->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	} else {
		r = falloc(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
	}
	/* A host that cannot deallocate has still honoured a hint. */
	return r == -EOPNOTSUPP ? 0 : r;
}

/* Writes zeros from a shared zeroed buffer, aligned for O_DIRECT. */
static int64_t write_zero_bytes(struct disk *d, uint64_t offset, uint64_t len)
{
	if (!d->zero_buf) {
		d->zero_buf = aligned_alloc(4096, DISK_ZERO_BUF_SIZE);
		if (!d->zero_buf)
			return -ENOMEM;
		memset(d->zero_buf, 0, DISK_ZERO_BUF_SIZE);
	}
	while (len > 0) {
		size_t chunk = len < DISK_ZERO_BUF_SIZE ? (size_t)len : DISK_ZERO_BUF_SIZE;
		int r = fd_pwrite_full(d->fd, d->zero_buf, chunk, offset);
		if (r < 0)
			return r;
		offset += chunk;
		len -= chunk;
	}
	return 0;
}

int64_t disk_host_write_zeroes(struct disk *d, uint64_t offset, uint64_t len)
{
	/* KEEP_SIZE: block devices require it, and the range is inside the
	 * image anyway. ZERO_RANGE keeps the blocks allocated. */
	int r = falloc(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, len);
	if (r != -EOPNOTSUPP)
		return r;
	if (d->flags & DISK_F_SPARSE) {
		r = falloc(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
		if (r != -EOPNOTSUPP)
			return r;
	}
	return write_zero_bytes(d, offset, len);
}

/* Runs io to the end and returns its completion result. */
static int64_t run(struct disk *d, struct disk_io *io)
{
	switch (io->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		return disk_host_rw(d, io);
	case DISK_OP_FLUSH:
		return disk_host_flush(d);
	case DISK_OP_DISCARD:
		return disk_host_discard(d, io->offset, io->len);
	case DISK_OP_WRITE_ZEROES:
		return disk_host_write_zeroes(d, io->offset, io->len);
	}
	return -EINVAL;
}

static int sync_init(struct disk *d)
{
	(void)d;
	return 0;
}

static void sync_fini(struct disk *d)
{
	(void)d;
}

static int sync_start(struct disk *d, struct disk_io *io)
{
	disk_io_complete(d, io, run(d, io));
	return 0;
}

static void sync_poll(struct disk *d)
{
	/* Everything finished inside sync_start. */
	(void)d;
}

const struct disk_engine_ops disk_sync_engine = {
	.name = "sync",
	.init = sync_init,
	.fini = sync_fini,
	.start = sync_start,
	.poll = sync_poll,
};
