/*
 * Control socket server (see server.h).
 *
 * One thread polls an eventfd (the stop signal), the listening socket and
 * up to max_clients connections, all non-blocking. Each datagram is one
 * request: it is decoded, dispatched to the caller's handler table and
 * answered with one reply. Everything a client can do is bounded: the
 * number of connections, how long a connection may sit without a request
 * (the poll timeout is the earliest deadline), and the size of a message
 * (one fixed buffer of VMC_MAX_MSG + 1 bytes; MSG_TRUNC marks anything
 * longer). A malformed message gets an error reply and the connection is
 * closed; a client that is gone or does not read its replies is dropped
 * (sends use MSG_NOSIGNAL | MSG_DONTWAIT). Nothing a client sends can stop
 * or crash the server thread.
 *
 * The socket file is created with mode 0600: the socket inode's mode is
 * set with fchmod before bind, which bind applies to the new file, and the
 * file's mode is verified (and fixed) before listen, so no client can
 * connect through a wider mode.
 */
#include "vm_control/server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"
#include "vm_control/dispatch.h"

#define MAX_CLIENTS_LIMIT 1024
#define LISTEN_BACKLOG 128
/* Requests served from one client per wake-up, so a fast client cannot
 * starve the others. */
#define BURST 16
/* How long accepting pauses when the process is out of fds or memory
 * (the pending connection would otherwise wake poll in a busy loop). */
#define ACCEPT_PAUSE_MS 100

struct client {
	int fd;
	uint64_t deadline_ms;
};

struct vmc_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct vmc_handlers *h; /* borrowed */
	void *ctx;                    /* borrowed */
	unsigned max_clients;
	unsigned idle_ms;
	int listen_fd;
	int stop_fd;
	bool thread_started;
	uint64_t accept_paused_until_ms;
	pthread_t thread;
	unsigned nclients;
	struct client *clients;  /* owned, max_clients entries */
	struct pollfd *pfds;     /* owned, max_clients + 2 entries */
	uint8_t buf[VMC_MAX_MSG + 1];
	uint8_t out[VMC_MAX_MSG];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Builds the socket path: the directory form gets the pid name. */
static int make_path(const char *path, char *out, size_t cap)
{
	struct stat st;
	int n;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(out, cap, "%s/crosvm-%ld.sock", path, (long)getpid());
	else
		n = snprintf(out, cap, "%s", path);
	if (n < 0)
		return -EINVAL;
	if (n == 0)
		return -ENOENT;
	return (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/* Clears the way for bind: nothing there, or a stale socket (removed). */
static int clear_stale(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd SCOPED_FD = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		return -EADDRINUSE;
	/* Only a refused connection proves nobody listens; anything else
	 * (EPROTOTYPE: another program's stream socket, EAGAIN: a full
	 * backlog) may be alive, so leave it alone. */
	if (errno != ECONNREFUSED)
		return -EADDRINUSE;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int bind_socket(struct vmc_server *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	memcpy(addr.sun_path, s->path, strlen(s->path) + 1);
	int rc = clear_stale(s->path, &addr);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		goto err_close;
	}
	struct stat st;
	if (lstat(s->path, &st) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	if ((st.st_mode & 07777) != 0600) {
		if (chmod(s->path, 0600) < 0 || lstat(s->path, &st) < 0) {
			rc = -errno;
			goto err_unlink;
		}
		if ((st.st_mode & 07777) != 0600) {
			rc = -EPERM;
			goto err_unlink;
		}
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	s->listen_fd = fd;
	return 0;
err_unlink:
	unlink(s->path);
err_close:
	close(fd);
	return rc;
}

/* Sends one encoded reply without blocking. Returns 0, or -errno if the
 * client must be dropped (gone, or not reading its replies). */
static int send_reply(int fd, const uint8_t *msg, int n)
{
	if (n < 0)
		return n;
	ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EIO;
}

/* True when the peer has shut down its side. */
static bool peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) != 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Serves what client c has sent. Returns false when it is to be closed. */
static bool serve_client(struct vmc_server *s, struct client *c, short revents)
{
	for (unsigned served = 0; served < BURST; served++) {
		struct iovec iov = { .iov_base = s->buf, .iov_len = sizeof(s->buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return !(revents & (POLLHUP | POLLERR | POLLNVAL));
			return false;
		}
		/* No fds are part of the protocol; any that came are closed by
		 * the kernel since we passed no control buffer (MSG_CTRUNC). */
		/* A zero-length datagram and end of stream look alike; only the
		 * peer's shutdown state tells them apart. */
		if (n == 0 && peer_gone(c->fd))
			return false;
		size_t len = (mh.msg_flags & MSG_TRUNC) ? sizeof(s->buf) : (size_t)n;
		bool keep;
		int out = vmc_answer(s->h, s->ctx, s->buf, len, &keep, s->out, sizeof(s->out));
		if (send_reply(c->fd, s->out, out) < 0 || !keep)
			return false;
		c->deadline_ms = now_ms() + s->idle_ms;
	}
	return true; /* more may be queued: poll reports it again */
}

static void accept_clients(struct vmc_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->accept_paused_until_ms = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (s->nclients >= s->max_clients) {
			close(fd);
			continue;
		}
		s->clients[s->nclients++] = (struct client){ .fd = fd, .deadline_ms = now_ms() + s->idle_ms };
	}
}

static void *server_thread(void *arg)
{
	struct vmc_server *s = arg;
	for (;;) {
		uint64_t now = now_ms();
		int timeout = -1;
		s->pfds[0] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		/* A negative fd is ignored by poll: accepting is paused. */
		s->pfds[1] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		if (s->accept_paused_until_ms > now) {
			s->pfds[1].fd = -1;
			timeout = (int)(s->accept_paused_until_ms - now);
		}
		for (unsigned i = 0; i < s->nclients; i++) {
			s->pfds[2 + i] = (struct pollfd){ .fd = s->clients[i].fd, .events = POLLIN };
			uint64_t left = s->clients[i].deadline_ms > now ? s->clients[i].deadline_ms - now : 0;
			if (left > INT32_MAX)
				left = INT32_MAX;
			if (timeout < 0 || (int)left < timeout)
				timeout = (int)left;
		}
		unsigned polled = s->nclients;
		if (poll(s->pfds, 2 + polled, timeout) < 0) {
			if (errno == EINTR)
				continue;
			/* Only EFAULT/EINVAL/ENOMEM: wait a little and retry. */
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (s->pfds[0].revents)
			break;
		now = now_ms();
		unsigned kept = 0;
		for (unsigned i = 0; i < polled; i++) {
			struct client c = s->clients[i];
			bool keep = true;
			short rev = s->pfds[2 + i].revents;
			if (rev)
				keep = serve_client(s, &c, rev);
			if (keep && c.deadline_ms <= now_ms())
				keep = false;
			if (keep)
				s->clients[kept++] = c;
			else
				close(c.fd);
		}
		s->nclients = kept;
		if (s->pfds[1].revents)
			accept_clients(s);
	}
	return NULL;
}

int vmc_server_open(const char *path, const struct vmc_handlers *handlers, void *ctx,
		    const struct vmc_server_options *opts, struct vmc_server **out)
{
	struct vmc_server_options o = opts ? *opts : (struct vmc_server_options){ 0 };
	if (o.max_clients == 0)
		o.max_clients = VMC_DEFAULT_MAX_CLIENTS;
	if (o.idle_timeout_ms == 0)
		o.idle_timeout_ms = VMC_DEFAULT_IDLE_TIMEOUT_MS;
	if (o.max_clients > MAX_CLIENTS_LIMIT || !handlers || !path)
		return -EINVAL;

	int rc = -ENOMEM;
	struct vmc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->h = handlers;
	s->ctx = ctx;
	s->max_clients = o.max_clients;
	s->idle_ms = o.idle_timeout_ms;
	s->listen_fd = -1;
	s->stop_fd = -1;
	s->clients = calloc(o.max_clients, sizeof(*s->clients));
	s->pfds = calloc(o.max_clients + 2, sizeof(*s->pfds));
	if (!s->clients || !s->pfds)
		goto err_free;
	if ((rc = make_path(path, s->path, sizeof(s->path))) < 0)
		goto err_free;
	if ((rc = evfd_create()) < 0)
		goto err_free;
	s->stop_fd = rc;
	if ((rc = bind_socket(s)) < 0)
		goto err_stop_fd;
	/* Signals are the main loop's business: the server thread starts
	 * (and stays) with every signal blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thread, NULL, server_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		goto err_socket;
	s->thread_started = true;
	*out = s;
	return 0;

err_socket:
	fd_close(&s->listen_fd);
	unlink(s->path);
err_stop_fd:
	fd_close(&s->stop_fd);
err_free:
	free(s->pfds);
	free(s->clients);
	free(s);
	return rc;
}

const char *vmc_server_path(const struct vmc_server *s)
{
	return s->path;
}

void vmc_server_close(struct vmc_server *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		/* The eventfd cannot overflow here; if the write failed the
		 * join would hang, so fall back to cancelling. */
		if (evfd_signal(s->stop_fd) < 0)
			pthread_cancel(s->thread);
		pthread_join(s->thread, NULL);
	}
	for (unsigned i = 0; i < s->nclients; i++)
		fd_close(&s->clients[i].fd);
	unlink(s->path);
	fd_close(&s->listen_fd);
	fd_close(&s->stop_fd);
	free(s->pfds);
	free(s->clients);
	free(s);
}
