/*
 * The running VM as the main process owns it: KVM objects, guest memory,
 * the buses and the legacy devices, the vCPU threads and the events that
 * end the VM. Built by run.c, driven by vcpu.c and serial_io.c.
 */
#ifndef CROSVM_CLI_VM_H
#define CROSVM_CLI_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cli/config.h"
#include "devices/acpi_pm.h"
#include "devices/bus.h"
#include "devices/cmos.h"
#include "devices/i8042.h"
#include "devices/pci/pci_root.h"
#include "devices/serial.h"
#include "hypervisor/kvm/irq_routes.h"
#include "hypervisor/kvm/kvm.h"
#include "kernel_cmdline/kernel_cmdline.h"
#include "resources/resources.h"
#include "virtio/core/virtio.h"
#include "vm_memory/vm_memory.h"

/* Why the VM ended; decides the exit status. */
enum vm_exit_cause { VM_EXIT_NONE, VM_EXIT_POWEROFF, VM_EXIT_RESET, VM_EXIT_SIGNAL, VM_EXIT_STOP, VM_EXIT_ERROR };

struct serial_port {
	struct serial uart;
	int irq_evt;	/* owned eventfd, registered as an irqfd */
	int out_fd;	/* owned (file) or borrowed (stdout: 1); -1 for sink/syslog */
	bool syslog;
	char line[512]; /* syslog line buffer */
	size_t line_len;
	int in_fd;	/* owned (input=) or borrowed (stdin: 0); -1 for none */
	bool in_thread_started;
	pthread_t in_thread;
	struct vm *vm;
};

/* The most virtio-pci devices a VM gets: PCI slots 1..31 of bus 0. */
#define MAX_VIRTIO_DEVICES 31

struct virtio_pci;
struct vmc_server;

struct device_process;

/* Where crosvm's control requests for a device go (device_control.c):
 * to the device in this process, or over its device process's control
 * channel. */
struct device_ctl {
	void *dev; /* borrowed: the in-process device (struct virtio_balloon, a virtio-blk dev), or NULL */
	int fd;	   /* borrowed from its device process: the control channel, or -1 */
};

/* A device moved into its own process (device_sandbox.c). */
struct vm_device_proc {
	struct device_process *proc; /* owned */
	int dead_fd;		     /* borrowed from the proxy: readable once it is gone */
	struct virtio_device proxy;  /* borrowed: why the connection ended */
};

struct vcpu_thread {
	struct kvm_vcpu vcpu;
	pthread_t thread;
	bool started;
	struct vm *vm;
};

struct vm {
	const struct run_config *cfg; /* borrowed */
	struct kvm kvm;
	struct kvm_vm kvm_vm;
	struct guest_memory gm;
	struct bus io_bus;
	struct bus mmio_bus;
	bool buses_ready;
	bool devices_ready;
	uint64_t entry; /* guest physical address of the kernel's 64-bit entry */
	struct serial_port serial[SERIAL_PORTS];
	struct i8042 i8042;
	struct cmos cmos;
	struct acpi_pm acpi_pm;
	struct pci_root pci;
	struct kvm_irq_routes irq_routes;
	bool irq_routes_ready;
	struct addr_allocator mmio32;	/* BARs in the 32-bit PCI hole */
	struct gsi_allocator msi_gsis;	/* GSIs for MSI routes */
	uint32_t intx_asserted[16];	/* per ISA IRQ: devices holding the line up */
	pthread_mutex_t intx_lock;
	struct virtio_pci *virtio[MAX_VIRTIO_DEVICES]; /* owned */
	unsigned nr_virtio;
	struct device_ctl balloon; /* neither dev nor fd: no balloon */
	/* The block devices in disk-option order (`crosvm disk resize` index). */
	struct device_ctl disks[MAX_DISKS];
	bool disk_read_only[MAX_DISKS];
	unsigned nr_disks;
	struct vmc_server *control;	/* owned: the -s control socket, or NULL */
	struct vm_device_proc procs[MAX_VIRTIO_DEVICES];
	unsigned nr_procs;
	struct vcpu_thread *vcpus; /* owned, cfg->cpus entries */
	int exit_evt;	/* owned: any thread signals it after setting `cause` */
	int stop_evt;	/* owned: tells the input threads to finish */
	int reset_evt;	/* owned: i8042 reset line */
	int poweroff_evt; /* owned: ACPI S5 */
	int i8042_irq_evt[2]; /* owned: keyboard (IRQ 1) and mouse (IRQ 12) */
	_Atomic int cause; /* enum vm_exit_cause; first writer wins */
	atomic_bool stopping;
	/* Suspension (vcpu.c): `paused` asks the vCPU threads to park; they
	 * count themselves in vcpus_parked and wait on pause_cond. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool paused;
	unsigned vcpus_parked; /* under pause_lock */
	unsigned vcpus_live;   /* threads started and not yet finished, under pause_lock */
};

/* Records why the VM ends (the first cause wins) and wakes the main loop. */
void vm_request_exit(struct vm *vm, enum vm_exit_cause cause);

/* vcpu.c: run every vCPU in its own thread (named crosvm_vcpuN; the
 * --rt-cpus ones on SCHED_RR unless --delay-rt); stop and join them.
 * Returns 0 or -errno with a one-line message in err. */
int vcpus_start(struct vm *vm, char *err, size_t errlen) MUST_USE;
void vcpus_stop(struct vm *vm);
/* Parks every vCPU outside KVM_RUN and returns once all are parked (the
 * guest's kvmclock is told); vcpus_resume lets them run again. Both are
 * idempotent and safe from any thread but a vCPU's. -ETIMEDOUT if a vCPU
 * does not park in time (it then parks later; resume still works). */
int vcpus_suspend(struct vm *vm) MUST_USE;
void vcpus_resume(struct vm *vm);
/* Moves the --rt-cpus vCPU threads to SCHED_RR. -ENOENT when --rt-cpus
 * listed none; -EPERM without the privilege. */
int vcpus_make_rt(struct vm *vm, char *err, size_t errlen) MUST_USE;

/* virtio_devices.c: create the virtio-pci devices the configuration asks
 * for and plug them into the PCI root; destroy them (after the vCPUs
 * stopped). */
int virtio_devices_init(struct vm *vm, char *err, size_t errlen) MUST_USE;
void virtio_devices_destroy(struct vm *vm);

/* device_sandbox.c: the fds of this process (ascending), to tell what a
 * device opened while being created. */
#define FD_SNAPSHOT_MAX 1024
struct fd_snapshot {
	int fds[FD_SNAPSHOT_MAX];
	int n;
};
int fd_snapshot_take(struct fd_snapshot *s) MUST_USE;
struct virtio_device;
/* Whether d goes into its own process (sandboxed VM, a device type that
 * can). */
bool device_sandbox_wanted(const struct vm *vm, const struct virtio_device *d);
/* Moves *vdev (created since `before`) into a jailed process and replaces
 * it with the proxy that stands in for it. *vdev's original is destroyed
 * either way; on failure *vdev is gone and err says why. A device that
 * answers control requests (device_control_handlers) gets its control
 * channel, whose fd goes to *ctl_fd (-1 for others). */
int device_sandbox_move(struct vm *vm, struct virtio_device *vdev, const struct fd_snapshot *before, int *ctl_fd,
			char *err, size_t errlen) MUST_USE;
/* If fd is a device process's pidfd or its proxy's dead fd: logs how the
 * device ended and returns true. */
bool device_sandbox_check(struct vm *vm, int fd);
/* Kills and reaps every device process (after the proxies are gone). */
void device_sandbox_destroy_all(struct vm *vm);

/* device_control.c: the control requests a device answers itself. The
 * handler table for d's type (NULL if it takes none), with *ctx the
 * pointer its handlers take, derived from d. */
struct vmc_handlers;
struct vmc_balloon_stats;
const struct vmc_handlers *device_control_handlers(const struct virtio_device *d, void **ctx);
/* Each acts on t's device where it lives; -ENODEV when t has none. */
int device_ctl_balloon(const struct device_ctl *t, uint64_t bytes) MUST_USE;
int device_ctl_balloon_stats(const struct device_ctl *t, struct vmc_balloon_stats *out) MUST_USE;
int device_ctl_disk_resize(const struct device_ctl *t, uint32_t index, uint64_t new_size, char *err,
			   size_t errlen) MUST_USE;

/* control.c: the -s control socket (a no-op without -s); close it before
 * the devices it drives are destroyed. */
int control_open(struct vm *vm, char *err, size_t errlen) MUST_USE;
void control_close(struct vm *vm);

/* serial_io.c: create the four UARTs with their sinks and input threads. */
int serial_ports_init(struct vm *vm, char *err, size_t errlen) MUST_USE;
int serial_ports_start_input(struct vm *vm) MUST_USE;
/* The host fds of a hardware=virtio-console port (owned by the caller,
 * O_CLOEXEC): *out_fd for its output, *in_fd for its input or -1. Returns 0
 * or -errno with a one-line message in err. */
int virtio_console_open_fds(const struct serial_config *c, int *in_fd, int *out_fd, char *err, size_t errlen) MUST_USE;
void serial_ports_destroy(struct vm *vm);
/* Appends the console= and earlycon= words the serial configuration asks
 * for, unless the user's -p already chose them. */
int serial_ports_cmdline(const struct run_config *cfg, struct kernel_cmdline *cmd) MUST_USE;

#endif
