/*
 * Disk front end: open, lock and size the image, pick the format and the
 * I/O engine, and own what both share: request slots, the in-flight cap and
 * the queue of finished requests that disk_reap hands back. Validation lives
 * here so a format or engine only ever sees a request that fits the image.
 */
#include "disk/disk_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/eventfd.h"
#include "base/fd.h"

#define DISK_F_ALL (DISK_F_READ_ONLY | DISK_F_O_DIRECT | DISK_F_SPARSE | DISK_F_NO_IO_URING)

int disk_open(const char *path, uint32_t flags, struct disk **out)
{
	*out = NULL;
	if (flags & ~DISK_F_ALL)
		return -EINVAL;
	int oflags = O_CLOEXEC | O_NOCTTY | ((flags & DISK_F_READ_ONLY) ? O_RDONLY : O_RDWR);
	if (flags & DISK_F_O_DIRECT)
		oflags |= O_DIRECT;
	int fd = open(path, oflags);
	if (fd < 0)
		return -errno;
	return disk_open_fd(fd, flags, out);
}

/* Makes a received fd behave like one disk_open would have opened. */
static int prepare_fd(int fd, uint32_t flags)
{
	int fdflags = fcntl(fd, F_GETFD);
	if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0)
		return -errno;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(flags & DISK_F_READ_ONLY) && (fl & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	/* pwrite on an O_APPEND fd appends on Linux, ignoring the offset. */
	int want = fl & ~O_APPEND;
	if (flags & DISK_F_O_DIRECT)
		want |= O_DIRECT;
	if (want != fl && fcntl(fd, F_SETFL, want) < 0)
		return -errno;
	return 0;
}

/* Shared for readers, exclusive for a writer, so two VMs never write one
 * image and nobody reads an image another VM is writing. */
static int lock_fd(int fd, uint32_t flags)
{
	int op = ((flags & DISK_F_READ_ONLY) ? LOCK_SH : LOCK_EX) | LOCK_NB;
	for (;;) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static int query_size(int fd, bool *is_blockdev, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode)) {
		*is_blockdev = false;
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		*is_blockdev = true;
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

int disk_open_fd(int fd, uint32_t flags, struct disk **out)
{
	SCOPED_FD int owned = fd;
	*out = NULL;
	if (flags & ~DISK_F_ALL)
		return -EINVAL;
	int r = prepare_fd(owned, flags);
	if (r < 0)
		return r;
	bool is_blockdev;
	uint64_t host_size;
	r = query_size(owned, &is_blockdev, &host_size);
	if (r < 0)
		return r;
	r = lock_fd(owned, flags);
	if (r < 0)
		return r;

	struct disk *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	if ((r = -pthread_mutex_init(&d->resize_lock, NULL)) < 0)
		goto free_disk;
	d->flags = flags;
	d->is_blockdev = is_blockdev;
	d->host_size = host_size;
	d->free_head = 0;
	for (int i = 0; i < DISK_MAX_IN_FLIGHT; i++)
		d->slots[i].next_free = i + 1 < DISK_MAX_IN_FLIGHT ? i + 1 : -1;
	d->completion_fd = evfd_create();
	if (d->completion_fd < 0) {
		r = d->completion_fd;
		goto destroy_lock;
	}
	/* Formats are probed in order; raw accepts anything, so it is last. */
	d->ops = &disk_raw_ops;
	d->fd = owned;
	r = d->ops->open(d);
	if (r < 0)
		goto close_evfd;
	if ((flags & DISK_F_NO_IO_URING) || disk_uring_engine.init(d) < 0) {
		r = disk_sync_engine.init(d);
		if (r < 0)
			goto close_format;
		d->engine = &disk_sync_engine;
	} else {
		d->engine = &disk_uring_engine;
	}
	owned = -1; /* now d->fd */
	*out = d;
	return 0;

close_format:
	d->ops->close(d);
close_evfd:
	fd_close(&d->completion_fd);
destroy_lock:
	pthread_mutex_destroy(&d->resize_lock);
free_disk:
	free(d);
	return r;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	d->engine->fini(d);
	for (int i = 0; i < DISK_MAX_IN_FLIGHT; i++) {
		if (d->slots[i].iov_store != d->slots[i].inline_iov)
			free(d->slots[i].iov_store);
	}
	d->ops->close(d);
	fd_close(&d->completion_fd);
	fd_close(&d->fd); /* last reference: releases the flock */
	free(d->zero_buf);
	pthread_mutex_destroy(&d->resize_lock);
	free(d);
}

uint64_t disk_size(const struct disk *d)
{
	return disk_load_size(d);
}

bool disk_read_only(const struct disk *d)
{
	return d->flags & DISK_F_READ_ONLY;
}

bool disk_is_block_device(const struct disk *d)
{
	return d->is_blockdev;
}

int disk_set_size(struct disk *d, uint64_t new_size)
{
	if (d->flags & DISK_F_READ_ONLY)
		return -EROFS;
	/* A host block device's size is the host's business, not ours. */
	if (d->is_blockdev || !d->ops->set_size)
		return -ENOTSUP;
	if (new_size == 0 || new_size % DISK_SECTOR_SIZE || new_size > INT64_MAX)
		return -EINVAL;
	pthread_mutex_lock(&d->resize_lock);
	int r = d->ops->set_size(d, new_size);
	pthread_mutex_unlock(&d->resize_lock);
	return r;
}

int disk_completion_fd(const struct disk *d)
{
	return d->completion_fd;
}

const char *disk_engine_name(const struct disk *d)
{
	return d->engine->name;
}

void disk_io_advance(struct disk_io *io, uint64_t n)
{
	io->offset += n;
	io->remaining -= n;
	while (io->iovcnt > 0 && n >= io->iov->iov_len) {
		n -= io->iov->iov_len;
		io->iov++;
		io->iovcnt--;
	}
	if (io->iovcnt > 0) {
		io->iov->iov_base = (char *)io->iov->iov_base + n;
		io->iov->iov_len -= n;
	}
}

/*
 * A write-type request the worker validated before a shrink may have run
 * after the file was cut and extended it again. Cut it back to the size
 * now in force, so the image never ends up longer than disk_size says
 * (and a later grow does not expose the stray bytes). Under resize_lock,
 * so a concurrent grow cannot slip between the look and the cut.
 */
static void trim_after_shrink(struct disk *d)
{
	pthread_mutex_lock(&d->resize_lock);
	uint64_t size = disk_load_size(d);
	struct stat st;
	if (fstat(d->fd, &st) == 0 && (uint64_t)st.st_size > size && ftruncate(d->fd, (off_t)size) == 0)
		d->host_size = size;
	pthread_mutex_unlock(&d->resize_lock);
}

void disk_io_complete(struct disk *d, struct disk_io *io, int64_t result)
{
	/* Finished, but no longer wholly inside the disk: it raced a shrink
	 * (disk_set_size). Whatever the host did, the guest's data past the
	 * new end is gone, so this is an I/O error, never a success. */
	if (io->len > 0 && io->vend > disk_load_size(d)) {
		if (result >= 0)
			result = -EIO;
		if (io->op != DISK_OP_READ && !d->is_blockdev)
			trim_after_shrink(d);
	}

	/* At most in_flight completions are queued, and in_flight is capped at
	 * the ring size, so this cannot overflow. */
	assert(d->done_count < DISK_MAX_IN_FLIGHT);
	unsigned int tail = (d->done_head + d->done_count) % DISK_MAX_IN_FLIGHT;
	d->done[tail] = (struct disk_completion){ .user = io->user, .result = result };
	d->done_count++;

	if (io->iov_store != io->inline_iov)
		free(io->iov_store);
	io->iov_store = NULL;
	io->iov = NULL;
	io->iovcnt = 0;
	int idx = (int)(io - d->slots);
	io->next_free = d->free_head;
	d->free_head = idx;
}

static struct disk_io *slot_alloc(struct disk *d)
{
	/* Slots in use never exceed in_flight, checked against the same cap. */
	assert(d->free_head >= 0);
	struct disk_io *io = &d->slots[d->free_head];
	d->free_head = io->next_free;
	return io;
}

static void slot_release(struct disk *d, struct disk_io *io)
{
	if (io->iov_store != io->inline_iov)
		free(io->iov_store);
	io->iov_store = NULL;
	io->next_free = d->free_head;
	d->free_head = (int)(io - d->slots);
}

/* Checks req and computes its byte length. */
static int validate(const struct disk *d, const struct disk_request *req, uint64_t *len)
{
	bool writes = false;
	switch (req->op) {
	case DISK_OP_FLUSH:
		*len = 0;
		return 0;
	case DISK_OP_WRITE:
		writes = true;
		__attribute__((fallthrough));
	case DISK_OP_READ:
		if (req->iovcnt > DISK_MAX_IOVECS || (req->iovcnt > 0 && !req->iov))
			return -EINVAL;
		*len = 0;
		for (unsigned int i = 0; i < req->iovcnt; i++) {
			if (!ck_add_u64(*len, req->iov[i].iov_len, len))
				return -EINVAL;
		}
		/* Completion results are int64_t byte counts. */
		if (*len > INT64_MAX)
			return -EINVAL;
		break;
	case DISK_OP_DISCARD:
	case DISK_OP_WRITE_ZEROES:
		writes = true;
		*len = req->len;
		break;
	default:
		return -EINVAL;
	}
	if (writes && (d->flags & DISK_F_READ_ONLY))
		return -EROFS;
	/* The size as of now: a concurrent disk_set_size may move it, and a
	 * request it overtakes is caught again when it completes
	 * (disk_io_complete). */
	if (!ck_range_within(req->offset, *len, 0, disk_load_size(d)))
		return -EINVAL;
	return 0;
}

int disk_submit(struct disk *d, const struct disk_request *req)
{
	if (d->in_flight >= DISK_MAX_IN_FLIGHT)
		return -EAGAIN;
	uint64_t len;
	int r = validate(d, req, &len);
	if (r < 0)
		return r;

	struct disk_io *io = slot_alloc(d);
	*io = (struct disk_io){
		.op = req->op,
		.user = req->user,
		.offset = req->offset,
		.len = len,
		.remaining = len,
		.vend = req->op == DISK_OP_FLUSH ? 0 : req->offset + len, /* validated: no overflow */
		.iovcnt = 0,
		.iov_store = io->inline_iov,
		.next_free = -1,
	};
	if (req->op == DISK_OP_READ || req->op == DISK_OP_WRITE) {
		/* Copied so short transfers can advance it after the caller's
		 * array is gone. */
		if (req->iovcnt > DISK_INLINE_IOVECS) {
			io->iov_store = malloc(req->iovcnt * sizeof(struct iovec));
			if (!io->iov_store) {
				io->iov_store = io->inline_iov;
				slot_release(d, io);
				return -ENOMEM;
			}
		}
		if (req->iovcnt > 0)
			memcpy(io->iov_store, req->iov, req->iovcnt * sizeof(struct iovec));
		io->iov = io->iov_store;
		io->iovcnt = req->iovcnt;
	}

	unsigned int queued = d->done_count;
	bool noop = (req->op != DISK_OP_FLUSH && len == 0) ||
		    (req->op == DISK_OP_FLUSH && (d->flags & DISK_F_READ_ONLY));
	if (noop) {
		disk_io_complete(d, io, 0);
	} else {
		r = d->ops->submit(d, io);
		if (r < 0) {
			slot_release(d, io);
			return r;
		}
	}
	d->in_flight++;
	/* The sync engine, and the synchronous operations of the io_uring one,
	 * finish inside submit: tell the caller as io_uring would. */
	if (d->done_count > queued)
		(void)evfd_signal(d->completion_fd);
	return 0;
}

int disk_reap(struct disk *d, struct disk_completion *out, unsigned int max)
{
	if (max == 0)
		return 0;
	/* Drain before looking, so a completion arriving after the look
	 * leaves the fd readable. */
	(void)evfd_drain(d->completion_fd);
	d->engine->poll(d);
	unsigned int n = 0;
	while (n < max && d->done_count > 0) {
		out[n++] = d->done[d->done_head];
		d->done_head = (d->done_head + 1) % DISK_MAX_IN_FLIGHT;
		d->done_count--;
	}
	d->in_flight -= n;
	if (d->done_count > 0)
		(void)evfd_signal(d->completion_fd);
	return (int)n;
}
