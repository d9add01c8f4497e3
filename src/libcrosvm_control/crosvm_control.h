/*
 * libcrosvm_control: the stable C API for controlling running crosvm VMs
 * through their control sockets (`crosvm run -s PATH`).
 *
 * Every function takes the path of one VM's control socket, sends one
 * request over a fresh connection and waits (up to 5 seconds) for the
 * VM's answer. Functions returning bool return true when the VM carried
 * the request out; on false, crosvm_client_last_error() says why in one
 * line. The functions are safe to call from several threads at once (the
 * last error is per thread). No function keeps a pointer it was given.
 *
 * Link with `pkg-config --cflags --libs crosvm_control`.
 */
#ifndef CROSVM_CONTROL_H
#define CROSVM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The guest's memory statistics, as its balloon driver last reported
 * them, in bytes (the fault and allocation counts are plain counts).
 * A statistic the guest did not report is -1. */
struct BalloonStatsFfi {
	int64_t swap_in;
	int64_t swap_out;
	int64_t major_faults;
	int64_t minor_faults;
	int64_t free_memory;
	int64_t total_memory;
	int64_t available_memory;
	int64_t disk_caches;
	int64_t hugetlb_allocations;
	int64_t hugetlb_failures;
	int64_t shared_memory;
	int64_t unevictable_memory;
};

/* One attached USB device, as crosvm_client_usb_list fills them. */
struct UsbDeviceEntry {
	uint8_t port;
	uint16_t vendor_id;
	uint16_t product_id;
};

/* The most USB devices crosvm_client_usb_list can report. */
uintptr_t crosvm_client_max_usb_devices(void);

/* Stops the VM in order: vCPUs stop, devices flush, crosvm exits 0. */
bool crosvm_client_stop_vm(const char *socket_path);

/* Pauses every vCPU (the guest's clock is told it was paused). */
bool crosvm_client_suspend_vm(const char *socket_path);

/* Lets a suspended VM run again. */
bool crosvm_client_resume_vm(const char *socket_path);

/* Moves the VM's vCPU threads to real-time scheduling (the VM must have
 * been started with --delay-rt). */
bool crosvm_client_make_rt_vm(const char *socket_path);

/* Sets the balloon to num_bytes: the memory taken from the guest. */
bool crosvm_client_balloon_vms(const char *socket_path, uint64_t num_bytes);

/* Asks the guest for fresh statistics and fills *stats (if not NULL) and
 * *actual (if not NULL: bytes the balloon holds now). */
bool crosvm_client_balloon_stats(const char *socket_path, struct BalloonStatsFfi *stats, uint64_t *actual);

/* Resizes the disk at disk_index (command-line order of the disk options,
 * from 0) to new_size bytes; the guest is told at once. Read-only disks
 * are refused. */
bool crosvm_client_resize_disk(const char *socket_path, uint64_t disk_index, uint64_t new_size);

/* Fills up to entries_length entries with the attached USB devices and
 * returns how many there are, or -1 on failure. */
ssize_t crosvm_client_usb_list(const char *socket_path, struct UsbDeviceEntry *entries, ssize_t entries_length);

/* Attaches the USB device at dev_path (bus, addr, vid and pid as found on
 * the host); *out_port (if not NULL) receives the port it got. */
bool crosvm_client_usb_attach(const char *socket_path, uint8_t bus, uint8_t addr, uint16_t vid, uint16_t pid,
			      const char *dev_path, uint8_t *out_port);

/* Detaches the USB device at port. */
bool crosvm_client_usb_detach(const char *socket_path, uint8_t port);

/* Sets a property of the VM's battery: battery_type "goldfish", property
 * "status", "health", "present", "capacity" or "aconline", target its new
 * value. */
bool crosvm_client_modify_battery(const char *socket_path, const char *battery_type, const char *property,
				  const char *target);

/* Why the calling thread's last failed call failed: one line, never NULL,
 * empty when nothing failed yet. Valid until the thread's next call. */
const char *crosvm_client_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
