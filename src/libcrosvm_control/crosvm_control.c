/*
 * libcrosvm_control: the stable C API (crosvm_control.h) over the control
 * socket client in vm_control/.
 *
 * Each function checks its arguments, builds one struct vmc_request, sends
 * it with vmc_client_call over a fresh connection and turns the outcome
 * into a bool (or a count). Failures are worded once, here, into the
 * calling thread's last-error buffer: exchange failures as the CLI words
 * them ("no such socket", ...), VM refusals with the VM's own message. The
 * message never names the socket, so a caller can prefix it with whatever
 * it calls the VM.
 *
 * Only the crosvm_client_* functions are exported from the shared library
 * (crosvm_control.map); vm_control and base are linked in privately.
 */
#include "libcrosvm_control/crosvm_control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vm_control/client.h"
#include "vm_control/protocol.h"

#define CALL_TIMEOUT_MS 5000

/* What crosvm_client_max_usb_devices promises: the most entries one
 * usb_list can fill. */
#define MAX_USB_DEVICES 16

/* Room for a VM's message (VMC_ERR_MAX) plus our own prefix. */
#define LAST_ERROR_SIZE (VMC_ERR_MAX + 128)

/*
 * The calling thread's last failure. This is per-thread state, not a
 * mutable global in the DESIGN.md sense: no two threads ever see the same
 * buffer, so no call can disturb another thread's message, and the API
 * (a bool plus "why") has no context struct to carry it in.
 */
static _Thread_local char last_error[LAST_ERROR_SIZE];

__attribute__((format(printf, 1, 2))) static void set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	/* One line, whatever a VM put in its message. */
	for (char *p = last_error; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static void set_errno_error(const char *what, int err)
{
	char eb[128];
	/* _GNU_SOURCE: the GNU strerror_r, which returns the string. */
	const char *s = strerror_r(err, eb, sizeof(eb));
	if (what)
		set_error("%s: %s", what, s);
	else
		set_error("%s", s);
}

/* Words a failed exchange as control_cmds.c does. */
static void set_call_error(int r)
{
	switch (r) {
	case -ENOENT: set_error("no such socket"); break;
	case -ENOTSOCK: set_error("not a socket"); break;
	case -ECONNREFUSED: set_error("no VM is listening (it is gone)"); break;
	case -ETIMEDOUT: set_error("the VM did not answer in time"); break;
	default: set_errno_error(NULL, -r); break;
	}
}

/* Sends req to the VM at socket_path; *rep receives the reply. True when
 * the exchange worked and the VM said yes; otherwise the last error says
 * why. socket_path must not be NULL (callers check). */
static bool call(const char *socket_path, const struct vmc_request *req, struct vmc_reply *rep)
{
	int r = vmc_client_call(socket_path, req, rep, CALL_TIMEOUT_MS);
	if (r < 0) {
		set_call_error(r);
		return false;
	}
	if (rep->status != 0) {
		if (rep->msg[0])
			set_error("%s", rep->msg);
		else
			set_errno_error(NULL, rep->status < 0 ? -rep->status : EIO);
		return false;
	}
	return true;
}

static bool check_socket(const char *socket_path)
{
	if (!socket_path) {
		set_error("invalid argument: socket_path is NULL");
		return false;
	}
	return true;
}

/* A request that carries nothing but its type. */
static bool simple_call(const char *socket_path, uint16_t type)
{
	if (!check_socket(socket_path))
		return false;
	struct vmc_request req = { .type = type };
	struct vmc_reply rep;
	return call(socket_path, &req, &rep);
}

/* Copies a battery string into its wire field; false (with the error set)
 * if it is NULL, empty or does not fit with its terminator. */
static bool copy_battery_str(char dst[VMC_BATTERY_STR], const char *src, const char *name)
{
	if (!src) {
		set_error("invalid argument: %s is NULL", name);
		return false;
	}
	size_t n = strnlen(src, VMC_BATTERY_STR);
	if (n == 0 || n >= VMC_BATTERY_STR) {
		set_error("invalid argument: %s must be 1 to %d bytes", name, VMC_BATTERY_STR - 1);
		return false;
	}
	memcpy(dst, src, n + 1);
	return true;
}

/* A statistic as the FFI struct has it: -1 when the guest did not report
 * it, values past INT64_MAX clamped. */
static int64_t stat_value(const struct virtio_balloon_stats *s, unsigned tag)
{
	if (!(s->valid & (1u << tag)))
		return -1;
	return s->val[tag] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)s->val[tag];
}

uintptr_t crosvm_client_max_usb_devices(void)
{
	return MAX_USB_DEVICES;
}

bool crosvm_client_stop_vm(const char *socket_path)
{
	return simple_call(socket_path, VMC_REQ_STOP);
}

bool crosvm_client_suspend_vm(const char *socket_path)
{
	return simple_call(socket_path, VMC_REQ_SUSPEND);
}

bool crosvm_client_resume_vm(const char *socket_path)
{
	return simple_call(socket_path, VMC_REQ_RESUME);
}

bool crosvm_client_make_rt_vm(const char *socket_path)
{
	return simple_call(socket_path, VMC_REQ_MAKE_RT);
}

bool crosvm_client_balloon_vms(const char *socket_path, uint64_t num_bytes)
{
	if (!check_socket(socket_path))
		return false;
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = num_bytes };
	struct vmc_reply rep;
	return call(socket_path, &req, &rep);
}

bool crosvm_client_balloon_stats(const char *socket_path, struct BalloonStatsFfi *stats, uint64_t *actual)
{
	if (!check_socket(socket_path))
		return false;
	struct vmc_request req = { .type = VMC_REQ_BALLOON_STATS };
	struct vmc_reply rep;
	if (!call(socket_path, &req, &rep))
		return false;
	const struct virtio_balloon_stats *s = &rep.balloon_stats.stats;
	if (stats) {
		*stats = (struct BalloonStatsFfi){
			.swap_in = stat_value(s, VIRTIO_BALLOON_S_SWAP_IN),
			.swap_out = stat_value(s, VIRTIO_BALLOON_S_SWAP_OUT),
			.major_faults = stat_value(s, VIRTIO_BALLOON_S_MAJFLT),
			.minor_faults = stat_value(s, VIRTIO_BALLOON_S_MINFLT),
			.free_memory = stat_value(s, VIRTIO_BALLOON_S_MEMFREE),
			.total_memory = stat_value(s, VIRTIO_BALLOON_S_MEMTOT),
			.available_memory = stat_value(s, VIRTIO_BALLOON_S_AVAIL),
			.disk_caches = stat_value(s, VIRTIO_BALLOON_S_CACHES),
			.hugetlb_allocations = stat_value(s, VIRTIO_BALLOON_S_HTLB_PGALLOC),
			.hugetlb_failures = stat_value(s, VIRTIO_BALLOON_S_HTLB_PGFAIL),
			/* virtio-balloon has no tags for these two. */
			.shared_memory = -1,
			.unevictable_memory = -1,
		};
	}
	if (actual)
		*actual = rep.balloon_stats.actual_bytes;
	return true;
}

bool crosvm_client_resize_disk(const char *socket_path, uint64_t disk_index, uint64_t new_size)
{
	if (!check_socket(socket_path))
		return false;
	if (disk_index > UINT32_MAX) {
		set_error("invalid argument: disk index %" PRIu64 " is out of range", disk_index);
		return false;
	}
	struct vmc_request req = {
		.type = VMC_REQ_DISK_RESIZE,
		.u.disk_resize = { .index = (uint32_t)disk_index, .new_size = new_size },
	};
	struct vmc_reply rep;
	return call(socket_path, &req, &rep);
}

ssize_t crosvm_client_usb_list(const char *socket_path, struct UsbDeviceEntry *entries, ssize_t entries_length)
{
	if (!check_socket(socket_path))
		return -1;
	if (entries_length < 0 || (!entries && entries_length > 0)) {
		set_error("invalid argument: entries");
		return -1;
	}
	struct vmc_request req = { .type = VMC_REQ_USB_LIST };
	struct vmc_reply rep;
	if (!call(socket_path, &req, &rep))
		return -1;
	/* Protocol version 1 carries no device list in the usb_list reply
	 * (no VM has a USB controller yet), so a VM that says yes has none
	 * to report. */
	return 0;
}

bool crosvm_client_usb_attach(const char *socket_path, uint8_t bus, uint8_t addr, uint16_t vid, uint16_t pid,
			      const char *dev_path, uint8_t *out_port)
{
	if (!check_socket(socket_path))
		return false;
	if (!dev_path) {
		set_error("invalid argument: dev_path is NULL");
		return false;
	}
	size_t n = strnlen(dev_path, VMC_PATH_MAX + 1);
	if (n == 0 || n > VMC_PATH_MAX) {
		set_error("invalid argument: dev_path must be 1 to %d bytes", VMC_PATH_MAX);
		return false;
	}
	struct vmc_request req = {
		.type = VMC_REQ_USB_ATTACH,
		.u.usb_attach = { .bus = bus, .addr = addr, .vid = vid, .pid = pid },
	};
	memcpy(req.u.usb_attach.path, dev_path, n + 1);
	struct vmc_reply rep;
	if (!call(socket_path, &req, &rep))
		return false;
	/* Protocol version 1 has no port in the usb_attach reply, and no VM
	 * accepts the request yet; should one, report port 0. */
	if (out_port)
		*out_port = 0;
	return true;
}

bool crosvm_client_usb_detach(const char *socket_path, uint8_t port)
{
	if (!check_socket(socket_path))
		return false;
	struct vmc_request req = { .type = VMC_REQ_USB_DETACH, .u.usb_detach.port = port };
	struct vmc_reply rep;
	return call(socket_path, &req, &rep);
}

bool crosvm_client_modify_battery(const char *socket_path, const char *battery_type, const char *property,
				  const char *target)
{
	if (!check_socket(socket_path))
		return false;
	struct vmc_request req = { .type = VMC_REQ_BATTERY };
	if (!copy_battery_str(req.u.battery.type, battery_type, "battery_type") ||
	    !copy_battery_str(req.u.battery.property, property, "property") ||
	    !copy_battery_str(req.u.battery.target, target, "target"))
		return false;
	struct vmc_reply rep;
	return call(socket_path, &req, &rep);
}

const char *crosvm_client_last_error(void)
{
	return last_error;
}
