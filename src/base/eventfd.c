/* Thin eventfd wrappers that retry on EINTR and treat EAGAIN as "nothing". */
#include "base/eventfd.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

int evfd_create(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int evfd_signal(int fd)
{
	uint64_t one = 1;
	for (;;) {
		ssize_t n = write(fd, &one, sizeof(one));
		if (n == (ssize_t)sizeof(one))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN: the counter is saturated, the reader will still wake. */
		return (n < 0 && errno != EAGAIN) ? -errno : 0;
	}
}

int64_t evfd_drain(int fd)
{
	uint64_t v;
	for (;;) {
		ssize_t n = read(fd, &v, sizeof(v));
		if (n == (ssize_t)sizeof(v))
			return (int64_t)(v & INT64_MAX);
		if (n < 0 && errno == EINTR)
			continue;
		return (n < 0 && errno != EAGAIN) ? -errno : 0;
	}
}
