/* Whole-buffer read/write loops used wherever a short transfer is an error. */
#include "base/fd.h"

#include <errno.h>
#include <unistd.h>

enum xfer { XFER_READ, XFER_PREAD, XFER_WRITE, XFER_PWRITE };

/* The one loop behind all four: retry EINTR, continue after short counts,
 * and treat "no progress" (end of file, or a write of 0) as -EIO. */
static int xfer_full(enum xfer op, int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n;
		switch (op) {
		case XFER_READ:
			n = read(fd, p, len);
			break;
		case XFER_PREAD:
			n = pread(fd, p, len, (off_t)off);
			break;
		case XFER_WRITE:
			n = write(fd, p, len);
			break;
		default:
			n = pwrite(fd, p, len, (off_t)off);
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int fd_read_full(int fd, void *buf, size_t len) { return xfer_full(XFER_READ, fd, buf, len, 0); }

int fd_pread_full(int fd, void *buf, size_t len, uint64_t off) { return xfer_full(XFER_PREAD, fd, buf, len, off); }

/* The casts drop const only for the shared loop, which never writes
 * through the pointer for XFER_WRITE/XFER_PWRITE. */
int fd_write_full(int fd, const void *buf, size_t len) { return xfer_full(XFER_WRITE, fd, (uint8_t *)buf, len, 0); }

int fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	return xfer_full(XFER_PWRITE, fd, (uint8_t *)buf, len, off);
}
