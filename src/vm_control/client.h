/*
 * The control socket client: one request, one reply, over a fresh
 * connection (or one already made). libcrosvm_control and the cli subcommands build on this.
 */
#ifndef CROSVM_VM_CONTROL_CLIENT_H
#define CROSVM_VM_CONTROL_CLIENT_H

#include "base/types.h"
#include "vm_control/protocol.h"

/*
 * Connects to the control socket at socket_path, sends req and waits up to
 * timeout_ms (< 0: no limit) in all for the reply, which lands in *reply
 * (its status is the VM's answer; the return value only says whether the
 * exchange worked). Returns 0, or:
 *   -ENOENT        no such file
 *   -ENOTSOCK      the path is not a socket
 *   -ECONNREFUSED  a socket nobody listens on (the VM is gone)
 *   -ETIMEDOUT     no reply in time
 *   -ECONNRESET    the server closed the connection without replying
 *   -EPROTO        the reply answers a different request
 *   -ENAMETOOLONG  the path does not fit a sockaddr_un
 *   other -errno from the socket calls or vmc_decode_reply / vmc_encode_request.
 * Both pointers are borrowed.
 */
int vmc_client_call(const char *socket_path, const struct vmc_request *req, struct vmc_reply *reply,
		    int timeout_ms) MUST_USE;

/*
 * The same exchange on fd, an already connected SOCK_SEQPACKET socket
 * (e.g. a device process's control channel, served by
 * vmc_serve_connection): replies left over from an earlier request that
 * timed out are dropped first (a few: more is -EPROTO). One caller at a
 * time per fd. Returns 0, -ETIMEDOUT, -ECONNRESET (the peer is gone),
 * -EPROTO (a reply to another request, or a flood of them), or -errno.
 */
int vmc_call_connected(int fd, const struct vmc_request *req, struct vmc_reply *reply, int timeout_ms) MUST_USE;

#endif
