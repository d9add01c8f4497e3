/*
 * The thread each active virtio device runs its queues on. It blocks in
 * epoll_wait on the fds the device named (kick eventfds, a TAP fd, ...)
 * plus a private stop eventfd, and calls the device's handler with the
 * token of whichever fd is readable. Everything is level-triggered, so a
 * handler that leaves data unread is simply called again.
 *
 * Disabling an fd removes it from the epoll set (EPOLL_CTL_DEL) rather than
 * keeping it registered with no events: epoll always reports EPOLLHUP and
 * EPOLLERR, so a hung-up socket kept "disabled" that way would spin the
 * thread. Enabling adds it back. Events are taken one per epoll_wait call:
 * epoll rotates its ready list, so this stays fair, and a handler that
 * disables an fd is never called for it again from a stale batch.
 */
#include "virtio/core/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"

/* epoll_data of the stop fd: outside the range of the 32-bit tokens. */
#define STOP_KEY (1ULL << 32)

static void *worker_main(void *arg)
{
	struct virtio_worker *w = arg;
	/* Named by the thread itself: naming another thread goes through
	 * /proc, which a jailed device process has no access to. Best
	 * effort: the name is only for ps, top and gdb. */
	(void)prctl(PR_SET_NAME, w->name);
	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(w->epoll_fd, &ev, 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Only a bug (bad epoll fd) gets here; nothing to retry. */
			log_error("virtio worker %s: epoll_wait: %s", w->name, strerror(errno));
			return NULL;
		}
		if (n == 0)
			continue;
		if (ev.data.u64 == STOP_KEY)
			return NULL;
		w->handle(w->ctx, (uint32_t)ev.data.u64);
	}
}

static int epoll_add(int epfd, int fd, uint64_t key)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = key };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int virtio_worker_start(struct virtio_worker *w, const char *name, const struct virtio_worker_fd *fds, size_t n,
			virtio_worker_fn handle, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->epoll_fd = -1;
	w->stop_fd = -1;
	if (!handle || n > VIRTIO_WORKER_MAX_FDS || (n > 0 && !fds))
		return -EINVAL;
	w->handle = handle;
	w->ctx = ctx;
	/* pthread names are at most 15 characters plus the NUL. */
	snprintf(w->name, sizeof(w->name), "%s", name ? name : "virtio");

	int rc;
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epoll_fd < 0) {
		rc = -errno;
		goto err_fds;
	}
	w->stop_fd = evfd_create();
	if (w->stop_fd < 0) {
		rc = w->stop_fd;
		w->stop_fd = -1;
		goto err_fds;
	}
	rc = epoll_add(w->epoll_fd, w->stop_fd, STOP_KEY);
	if (rc < 0)
		goto err_fds;
	for (size_t i = 0; i < n; i++) {
		rc = epoll_add(w->epoll_fd, fds[i].fd, fds[i].token);
		if (rc < 0)
			goto err_fds;
	}

	/* The thread starts with every signal blocked, so process-directed
	 * signals (SIGCHLD, SIGTERM, ...) go to the threads meant for them,
	 * never to a device worker. Not the synchronous ones: a blocked
	 * SIGSYS from a seccomp trap would kill the process before the
	 * jail's reporter could name the syscall. */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Set before the thread exists: its handler may call
	 * virtio_worker_watch, which checks it. */
	w->started = true;
	rc = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		w->started = false;
		goto err_fds;
	}
	return 0;

err_fds:
	fd_close(&w->stop_fd);
	fd_close(&w->epoll_fd);
	return rc;
}

int virtio_worker_watch(struct virtio_worker *w, int fd, uint32_t token, bool enable)
{
	if (!w->started)
		return -EINVAL;
	if (!enable) {
		/* Already not watched is fine: disabling is idempotent. */
		if (epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	int rc = epoll_add(w->epoll_fd, fd, token);
	if (rc == -EEXIST) {
		/* Already watched: update the token. */
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };
		rc = epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	return rc;
}

void virtio_worker_stop(struct virtio_worker *w)
{
	/* A worker that never started (or whose start failed) owns nothing;
	 * its fds may be zero-initialised, so they are not touched. */
	if (!w || !w->started)
		return;
	/* The stop fd stays readable (level-triggered) until we close it, so
	 * the thread sees it however many events it handles first. Signalling
	 * our own eventfd cannot fail (a saturated counter still reads as
	 * readable). */
	(void)evfd_signal(w->stop_fd);
	pthread_join(w->thread, NULL);
	fd_close(&w->stop_fd);
	fd_close(&w->epoll_fd);
	w->started = false;
}
