/*
 * A device's worker thread: waits (epoll) on the fds the device names,
 * typically its queues' kick eventfds plus e.g. a TAP fd or an io_uring
 * completion eventfd, and calls the device back with the fd's token. One
 * worker serves one device activation; reset stops and joins it. The
 * handler runs on the worker thread only, so the device's queue state
 * needs no lock against itself.
 */
#ifndef CROSVM_VIRTIO_CORE_WORKER_H
#define CROSVM_VIRTIO_CORE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"

#define VIRTIO_WORKER_MAX_FDS 64

struct virtio_worker_fd {
	int fd;		/* borrowed; must stay open while the worker runs */
	uint32_t token; /* passed to the handler */
};

/* Called on the worker thread when fd with `token` is readable (level
 * triggered: the handler must drain it or disable it). */
typedef void (*virtio_worker_fn)(void *ctx, uint32_t token);

struct virtio_worker {
	pthread_t thread;
	bool started;
	int epoll_fd; /* owned, -1 when stopped */
	int stop_fd;  /* owned eventfd, -1 when stopped */
	virtio_worker_fn handle;
	void *ctx; /* borrowed */
	char name[16];
};

/* Starts a thread named `name` (truncated to 15 chars) that watches the n
 * fds (all enabled). Returns 0 or -errno (nothing started). */
int virtio_worker_start(struct virtio_worker *w, const char *name, const struct virtio_worker_fd *fds,
			size_t n, virtio_worker_fn handle, void *ctx) MUST_USE;
/* Adds, enables or disables watching fd (e.g. stop polling a TAP fd while
 * the guest has no receive buffers). Callable from the handler. Returns 0
 * or -errno. */
int virtio_worker_watch(struct virtio_worker *w, int fd, uint32_t token, bool enable) MUST_USE;
/* Stops and joins the thread (not from the handler). Accepts a worker that
 * never started. */
void virtio_worker_stop(struct virtio_worker *w);

#endif
