/*
 * File-descriptor helpers: scoped close for locals, and a close that keeps
 * errno and accepts -1 so destructors can call it unconditionally.
 */
#ifndef CROSVM_BASE_FD_H
#define CROSVM_BASE_FD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

static inline void fd_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
		*fd = -1;
	}
}

/* `int fd __attribute__((cleanup(fd_close))) = -1;` closes on scope exit. */
#define SCOPED_FD __attribute__((cleanup(fd_close)))

/* Reads/writes the whole buffer, retrying on EINTR and short counts.
 * Return 0, or -errno (-EIO for an unexpected end of file). */
int fd_read_full(int fd, void *buf, size_t len) __attribute__((warn_unused_result));
int fd_write_full(int fd, const void *buf, size_t len) __attribute__((warn_unused_result));
/* Like fd_read_full / fd_write_full at an absolute offset. */
int fd_pread_full(int fd, void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));
int fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off) __attribute__((warn_unused_result));

#endif
