/*
 * virtio-console (virtio 1.2, 5.3) with a single port and no optional
 * features: receiveq (queue 0) carries host input to the guest, transmitq
 * (queue 1) carries guest output to the host. Input comes from one fd and
 * output goes to another, e.g. dup()s of stdin and stdout, a FIFO, a pipe,
 * a pty or a file.
 *
 * Input is read straight into the guest's receive buffers and only while
 * the guest has some posted, so nothing is buffered on the host and
 * nothing is lost: input the guest has no room for stays in the fd until
 * it posts buffers. Output is written completely and in order; when the
 * output fd would block, the device stops taking transmit chains until it
 * is writable again (the guest sees its transmit queue fill up).
 */
#ifndef CROSVM_VIRTIO_CONSOLE_CONSOLE_H
#define CROSVM_VIRTIO_CONSOLE_CONSOLE_H

#include "virtio/core/virtio.h"

/* Queue indices. */
#define VIRTIO_CONSOLE_RX_QUEUE 0
#define VIRTIO_CONSOLE_TX_QUEUE 1

/*
 * Creates the device.
 *
 * in_fd:  owned. Host input for the guest, or -1 for none. Anything
 *         readable: a pipe, FIFO, tty, socket or regular file. At end of
 *         file (or a read error) the device stops reading it for good;
 *         open a FIFO O_RDWR if writers may come and go.
 * out_fd: owned. Where guest output goes, or -1 to discard it. After a
 *         write error other than EAGAIN (e.g. EPIPE) output is discarded.
 *
 * The two fds must be different descriptors (dup() one if they name the
 * same file). Both are switched to O_NONBLOCK, which is a property of the
 * open file description and so also affects other descriptors sharing it
 * (dup()s, a parent shell's terminal); their original status flags are put
 * back when the device is destroyed. Callers that cannot tolerate that for
 * the lifetime of the device should pass a fresh open file description,
 * e.g. open("/proc/self/fd/0", O_RDONLY | O_CLOEXEC) for stdin.
 *
 * Both fds are owned from the call on: closed by ops->destroy, or before
 * returning on failure. Returns 0, -EINVAL (in_fd == out_fd >= 0, or an fd
 * that cannot be made non-blocking) or -ENOMEM / -errno.
 */
int virtio_console_create(int in_fd, int out_fd, struct virtio_device *out) MUST_USE;

/* A copy of the device now runs elsewhere with the same open files (a
 * device process): destroying this copy must not put their status flags
 * back, which would make the other copy's non-blocking reads block. dev is
 * the `dev` of a console's virtio_device. */
void virtio_console_disown_fds(void *dev);

#endif
