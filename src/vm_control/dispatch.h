/*
 * Answering control requests, wherever they arrive: the control socket's
 * server thread (server.h) and a device process's control channel (a
 * jailed balloon or disk answers the requests crosvm forwards to it) both
 * turn one received datagram into one reply here, with the same handler
 * table and the same error wording.
 */
#ifndef CROSVM_VM_CONTROL_DISPATCH_H
#define CROSVM_VM_CONTROL_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "vm_control/protocol.h"

struct vmc_handlers;

/*
 * Decodes the `len` bytes at `in` as a request, runs it through h (with
 * ctx) and encodes the reply into out (cap >= VMC_MAX_MSG). A message that
 * does not decode gets a reply naming the defect and *keep = false (the
 * connection should be closed); otherwise *keep = true. Returns the
 * reply's length, or -errno if it could not be encoded.
 */
int vmc_answer(const struct vmc_handlers *h, void *ctx, const void *in, size_t len, bool *keep, void *out,
	       size_t cap) MUST_USE;

/*
 * Serves a connected SOCK_SEQPACKET socket (blocking) until the peer hangs
 * up: one reply per datagram. Returns 0 at the end of the connection, or
 * -errno when the socket fails or a message did not decode (after
 * answering it).
 */
int vmc_serve_connection(int fd, const struct vmc_handlers *h, void *ctx) MUST_USE;

#endif
