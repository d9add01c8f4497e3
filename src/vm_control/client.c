/*
 * Control socket client (see client.h).
 *
 * Nothing blocks (the socket is non-blocking, and sends and receives say
 * MSG_DONTWAIT for a caller's connected socket too) so that one deadline
 * bounds the whole exchange: a unix connect only waits when the server's
 * backlog is full (it then fails with EAGAIN and is retried), and the
 * reply is awaited with poll. The path is checked with stat first so that "not a
 * socket" is told apart from "nobody listening", which connect reports
 * alike.
 */
#include "vm_control/client.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "base/fd.h"

/* Replies of timed-out requests vmc_call_connected drops before giving up. */
#define VMC_MAX_STALE_REPLIES 16

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline (-1: none), at least 0. */
static int left_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static int connect_until(int fd, const struct sockaddr_un *addr, int64_t deadline)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EINPROGRESS)
			return -errno;
		if (left_ms(deadline) == 0)
			return -ETIMEDOUT;
		/* The backlog is full: the server is busy; retry shortly. */
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* Sends the n-byte request msg on connected fd and reads its reply, all
 * before deadline. */
static int exchange(int fd, const uint8_t *msg, int n, uint16_t type, struct vmc_reply *reply, int64_t deadline)
{
	for (;;) {
		ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == n)
			break;
		if (w >= 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == EPIPE ? -ECONNRESET : -errno;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int pr = poll(&p, 1, left_ms(deadline));
		if (pr == 0)
			return -ETIMEDOUT;
		if (pr < 0 && errno != EINTR)
			return -errno;
	}

	uint8_t in[VMC_MAX_MSG + 1];
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int pr = poll(&p, 1, left_ms(deadline));
		if (pr == 0)
			return -ETIMEDOUT;
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		size_t len = (mh.msg_flags & MSG_TRUNC) ? sizeof(in) : (size_t)r;
		int rc = vmc_decode_reply(in, len, reply);
		if (rc < 0)
			return rc;
		/* Type 0 answers a request the server could not parse. */
		if (reply->type != type && reply->type != 0)
			return -EPROTO;
		return 0;
	}
}

int vmc_client_call(const char *socket_path, const struct vmc_request *req, struct vmc_reply *reply,
		    int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t plen = strlen(socket_path);
	if (plen == 0)
		return -ENOENT;
	if (plen >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, socket_path, plen + 1);

	uint8_t msg[VMC_MAX_MSG];
	int n = vmc_encode_request(req, msg, sizeof(msg));
	if (n < 0)
		return n;

	struct stat st;
	if (stat(socket_path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;

	int fd SCOPED_FD = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int rc = connect_until(fd, &addr, deadline);
	if (rc < 0)
		return rc == -EPROTOTYPE ? -ECONNREFUSED : rc;
	return exchange(fd, msg, n, req->type, reply, deadline);
}

int vmc_call_connected(int fd, const struct vmc_request *req, struct vmc_reply *reply, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t msg[VMC_MAX_MSG];
	int n = vmc_encode_request(req, msg, sizeof(msg));
	if (n < 0)
		return n;
	/* A reply to an earlier request that timed out would otherwise be
	 * taken for this one's. There is at most one per such request; a
	 * peer that keeps sending unasked-for replies is out of step. */
	uint8_t stale[VMC_MAX_MSG + 1];
	ssize_t r;
	int dropped = 0;
	while ((r = recv(fd, stale, sizeof(stale), MSG_DONTWAIT)) > 0)
		if (++dropped > VMC_MAX_STALE_REPLIES)
			return -EPROTO;
	if (r == 0)
		return -ECONNRESET;
	return exchange(fd, msg, n, req->type, reply, deadline);
}
