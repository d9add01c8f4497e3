/*
 * The control socket server: a unix SOCK_SEQPACKET socket served by its
 * own thread, which decodes requests (protocol.h) and calls the caller's
 * handlers. Handlers therefore run on the server thread, one at a time;
 * they must be safe to call concurrently with the VM's other threads. The
 * thread blocks every signal, so signalfd-based main loops are unaffected.
 *
 * Wiring it into `crosvm run`: open it after the VM is built, with a
 * handler table whose stop handler requests the VM exit (the main poll()
 * loop then sees its exit eventfd as for any other cause), and close it
 * on the way out before the VM is torn down.
 */
#ifndef CROSVM_VM_CONTROL_SERVER_H
#define CROSVM_VM_CONTROL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "vm_control/protocol.h"

/*
 * What the VM can do. Each returns 0 or -errno; a NULL member answers its
 * request with -ENOTSUP and a "no such device" style message. Where a
 * handler gets `err`, it may put a one-line NUL-terminated reason there
 * (errlen bytes, VMC_ERR_MAX + 1); otherwise the server words one from
 * the errno. `ctx` is the caller's, passed through untouched.
 */
struct vmc_handlers {
	int (*stop)(void *ctx);
	int (*suspend)(void *ctx);
	int (*resume)(void *ctx);
	int (*balloon)(void *ctx, uint64_t bytes);
	int (*balloon_stats)(void *ctx, struct vmc_balloon_stats *out);
	int (*disk_resize)(void *ctx, uint32_t index, uint64_t new_size, char *err, size_t errlen);
	int (*make_rt)(void *ctx, char *err, size_t errlen);
	int (*usb_list)(void *ctx, char *err, size_t errlen);
	int (*usb_attach)(void *ctx, const struct vmc_usb_attach *a, char *err, size_t errlen);
	int (*usb_detach)(void *ctx, uint8_t port, char *err, size_t errlen);
	int (*battery)(void *ctx, const struct vmc_battery *b, char *err, size_t errlen);
};

#define VMC_DEFAULT_MAX_CLIENTS 32
#define VMC_DEFAULT_IDLE_TIMEOUT_MS 5000

struct vmc_server_options {
	/* Concurrent connections served; further ones are accepted and closed
	 * at once. 0: VMC_DEFAULT_MAX_CLIENTS; at most 1024. */
	unsigned max_clients;
	/* A connection with no complete request for this long is closed (the
	 * clock restarts after each reply). 0: VMC_DEFAULT_IDLE_TIMEOUT_MS. */
	unsigned idle_timeout_ms;
};

struct vmc_server;

/*
 * Binds the control socket at `path` and starts the server thread. If
 * `path` is an existing directory the socket is `<path>/crosvm-<pid>.sock`.
 * The socket file has mode 0600. An existing socket nobody listens on
 * (a stale one from a dead VM) is replaced; a live one is -EADDRINUSE and
 * anything else at the path -EEXIST. -ENAMETOOLONG if the path does not
 * fit a sockaddr_un.
 *
 * `handlers` and `ctx` are borrowed and must outlive the server; `opts`
 * may be NULL (defaults) and is copied. On success *out owns the server:
 * release it with vmc_server_close. Returns 0 or -errno.
 */
int vmc_server_open(const char *path, const struct vmc_handlers *handlers, void *ctx,
		    const struct vmc_server_options *opts, struct vmc_server **out) MUST_USE;

/* The socket's path (borrowed, valid until vmc_server_close). */
const char *vmc_server_path(const struct vmc_server *s);

/* Stops the thread, closes every connection, unlinks the socket and frees
 * s. Accepts NULL. Must not be called from a handler. */
void vmc_server_close(struct vmc_server *s);

#endif
