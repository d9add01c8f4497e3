/*
 * `crosvm run`: builds the VM from the parsed configuration and runs it
 * until the guest powers off or resets, or a fatal error.
 *
 * Start-up order: open the user's files first (so a missing kernel is
 * reported before anything else happens), then KVM and guest memory, the
 * kernel, initrd and boot tables, the devices and their irqfds, and last
 * the vCPUs. Each step unwinds through vm_destroy(), which accepts a
 * partly built VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/x86_64.h"
#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/vm.h"
#include "device_process/device_process.h"
#include "kernel_loader/kernel_loader.h"

#define ERRLEN 512

void vm_request_exit(struct vm *vm, enum vm_exit_cause cause)
{
	int none = VM_EXIT_NONE;
	atomic_compare_exchange_strong(&vm->cause, &none, (int)cause);
	evfd_signal(vm->exit_evt);
}

/* Guest memory, KVM VM, irqchip and memory slots. */
static int setup_kvm(struct vm *vm, char *err)
{
	const struct run_config *cfg = vm->cfg;
	int r = kvm_open(&vm->kvm, cfg->kvm_device);
	if (r < 0) {
		snprintf(err, ERRLEN, "cannot open KVM device '%s': %s", cfg->kvm_device, strerror(-r));
		return r;
	}
	r = kvm_vm_create(&vm->kvm, &vm->kvm_vm);
	if (r < 0)
		goto kvm_fail;
	struct gm_range ranges[2];
	size_t n;
	r = x86_memory_ranges(cfg->mem_mib << 20, ranges, &n);
	if (r < 0) {
		snprintf(err, ERRLEN, "cannot lay out %llu MiB of guest memory: %s",
			 (unsigned long long)cfg->mem_mib, strerror(-r));
		return r;
	}
	r = gm_create(&vm->gm, ranges, n);
	if (r < 0) {
		snprintf(err, ERRLEN, "cannot allocate %llu MiB of guest memory: %s",
			 (unsigned long long)cfg->mem_mib, strerror(-r));
		return r;
	}
	if ((r = kvm_vm_set_tss_addr(&vm->kvm_vm, X86_TSS_ADDR)) < 0 ||
	    (r = kvm_vm_set_identity_map_addr(&vm->kvm_vm, X86_TSS_ADDR - 0x1000)) < 0 ||
	    (r = kvm_vm_create_irqchip(&vm->kvm_vm)) < 0 || (r = kvm_vm_create_pit2(&vm->kvm_vm)) < 0)
		goto vm_fail;
	for (size_t i = 0; i < vm->gm.nr_regions; i++) {
		const struct gm_region *g = &vm->gm.regions[i];
		r = kvm_vm_set_user_memory(&vm->kvm_vm, (uint32_t)i, g->base, g->size, g->host, false);
		if (r < 0)
			goto vm_fail;
	}
	if ((r = kvm_irq_routes_init(&vm->irq_routes, &vm->kvm_vm)) < 0)
		goto vm_fail;
	vm->irq_routes_ready = true;
	return 0;
kvm_fail:
	snprintf(err, ERRLEN, "%s: %s", vm->kvm.failed_ioctl, strerror(-r));
	return r;
vm_fail:
	snprintf(err, ERRLEN, "%s: %s", vm->kvm_vm.failed_ioctl, strerror(-r));
	return r;
}

static int build_cmdline(struct vm *vm, const struct kl_kernel *k, struct kernel_cmdline *cmd, char *err)
{
	const struct run_config *cfg = vm->cfg;
	kcmd_init(cmd, (size_t)k->cmdline_max + 1);
	int r = 0;
	/* User parameters first, so ours are only defaults they can override. */
	for (size_t i = 0; i < cfg->nr_params && r >= 0; i++)
		r = kcmd_append(cmd, cfg->params[i]);
	if (r >= 0)
		r = serial_ports_cmdline(cfg, cmd);
	/* Disks become vda, vdb, ... in command-line order (their PCI slots
	 * follow that order). */
	for (size_t i = 0; i < cfg->nr_disks && r >= 0; i++) {
		if (!cfg->disks[i].root || kcmd_has_key(cmd, "root"))
			continue;
		char root[32];
		snprintf(root, sizeof(root), "root=/dev/vd%c", (char)('a' + i));
		r = kcmd_append(cmd, root);
		if (r >= 0)
			r = kcmd_append(cmd, cfg->disks[i].read_only ? "ro" : "rw");
	}
	/* A kernel panic reboots, so crosvm exits instead of hanging. */
	if (r >= 0 && !kcmd_has_key(cmd, "panic"))
		r = kcmd_append(cmd, "panic=-1");
	if (r < 0)
		snprintf(err, ERRLEN, "kernel command line is invalid or longer than the kernel accepts (%u bytes)",
			 k->cmdline_max);
	return r;
}

/* Kernel, initrd, command line and the boot tables the kernel reads. */
static int load_guest(struct vm *vm, int kernel_fd, int initrd_fd, uint64_t initrd_size, char *err)
{
	const struct run_config *cfg = vm->cfg;
	struct kl_kernel k;
	int r = kl_load_kernel(&vm->gm, kernel_fd, &k);
	if (r < 0) {
		snprintf(err, ERRLEN, "kernel '%s': %s", cfg->kernel, kl_strerror(r));
		return r;
	}
	struct x86_boot_config boot = { .hdr = k.has_setup_header ? &k.hdr : NULL };
	if (initrd_fd >= 0) {
		r = kl_load_initrd(&vm->gm, initrd_fd, initrd_size, k.initrd_addr_max, k.load_end, &boot.initrd_addr);
		if (r < 0) {
			snprintf(err, ERRLEN, "initrd '%s' (%llu bytes) with %llu MiB of guest memory: %s", cfg->initrd,
				 (unsigned long long)initrd_size, (unsigned long long)cfg->mem_mib,
				 kl_initrd_strerror(r));
			return r;
		}
		boot.initrd_size = initrd_size;
	}
	struct kernel_cmdline cmd;
	if ((r = build_cmdline(vm, &k, &cmd, err)) < 0)
		return r;
	log_info("kernel command line: %s", kcmd_str(&cmd));
	if ((r = gm_write(&vm->gm, GPA(X86_CMDLINE_ADDR), kcmd_str(&cmd), kcmd_len_with_nul(&cmd))) < 0)
		goto tables_fail;
	boot.cmdline_addr = X86_CMDLINE_ADDR;
	boot.cmdline_size = (uint32_t)kcmd_len_with_nul(&cmd);
	if ((r = x86_write_acpi_tables(&vm->gm, cfg->cpus, &boot.rsdp_addr)) < 0 ||
	    (r = x86_write_mptable(&vm->gm, cfg->cpus)) < 0 || (r = x86_write_zero_page(&vm->gm, &boot)) < 0 ||
	    (r = x86_write_page_tables(&vm->gm)) < 0 || (r = x86_write_gdt(&vm->gm)) < 0)
		goto tables_fail;
	vm->entry = k.entry;
	return 0;
tables_fail:
	snprintf(err, ERRLEN, "cannot write boot tables into guest memory: %s", strerror(-r));
	return r;
}

static int setup_devices(struct vm *vm, char *err)
{
	int r;
	if ((r = bus_init(&vm->io_bus)) < 0 || (r = bus_init(&vm->mmio_bus)) < 0) {
		snprintf(err, ERRLEN, "cannot create buses: %s", strerror(-r));
		return r;
	}
	vm->buses_ready = true;
	if ((r = serial_ports_init(vm, err, ERRLEN)) < 0)
		return r;
	uint64_t low = vm->gm.regions[0].size;
	uint64_t high = vm->gm.total_size - low;
	if ((r = i8042_init(&vm->i8042, vm->reset_evt)) < 0 || (r = cmos_init(&vm->cmos, low, high)) < 0 ||
	    (r = acpi_pm_init(&vm->acpi_pm, vm->poweroff_evt, X86_ACPI_S5_SLP_TYP)) < 0 ||
	    (r = pci_root_init(&vm->pci)) < 0)
		goto fail;
	vm->devices_ready = true;
	/* Keyboard and mouse IRQs let Linux's i8042 probe see "no device"
	 * answers at once instead of waiting out its timeouts. */
	for (int i = 0; i < 2; i++) {
		if ((r = vm->i8042_irq_evt[i] = evfd_create()) < 0 ||
		    (r = kvm_vm_irqfd(&vm->kvm_vm, vm->i8042_irq_evt[i], i == 0 ? 1 : 12)) < 0)
			goto fail;
	}
	i8042_set_irq_evts(&vm->i8042, vm->i8042_irq_evt[0], vm->i8042_irq_evt[1]);
	/* Port 0xcf9 resets the VM like the i8042 reset line does. */
	pci_root_set_reset_evt(&vm->pci, vm->reset_evt);
	if ((r = bus_insert(&vm->io_bus, X86_I8042_DATA_PORT, 1, &i8042_data_ops, &vm->i8042, "i8042")) < 0 ||
	    (r = bus_insert(&vm->io_bus, X86_I8042_CMD_PORT, 1, &i8042_cmd_ops, &vm->i8042, "i8042")) < 0 ||
	    (r = bus_insert(&vm->io_bus, X86_CMOS_PORT, 2, &cmos_bus_ops, &vm->cmos, "cmos")) < 0 ||
	    (r = bus_insert(&vm->io_bus, X86_ACPI_PM1A_EVT_PORT, 4, &acpi_pm_evt_ops, &vm->acpi_pm, "acpi_pm")) < 0 ||
	    (r = bus_insert(&vm->io_bus, X86_ACPI_PM1A_CNT_PORT, 2, &acpi_pm_cnt_ops, &vm->acpi_pm, "acpi_pm")) < 0 ||
	    (r = bus_insert(&vm->io_bus, X86_PCI_CONFIG_PORT, 8, &pci_root_io_ops, &vm->pci, "pci")) < 0 ||
	    (r = bus_insert(&vm->mmio_bus, X86_PCIE_ECAM_ADDR, X86_PCIE_ECAM_SIZE, &pci_root_ecam_ops, &vm->pci,
			    "pci-ecam")) < 0)
		goto fail;
	return virtio_devices_init(vm, err, ERRLEN);
fail:
	snprintf(err, ERRLEN, "cannot set up legacy devices: %s", strerror(-r));
	return r;
}

static int setup_vcpu(struct vm *vm, struct vcpu_thread *t, uint32_t id, const struct kvm_cpuid2 *supported,
		      char *err)
{
	struct kvm_vcpu *v = &t->vcpu;
	int r = kvm_vcpu_create(&vm->kvm, &vm->kvm_vm, id, v);
	if (r < 0)
		goto fail;
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *cpuid = malloc(sz);
	if (!cpuid)
		return -ENOMEM;
	memcpy(cpuid, supported, sz);
	r = x86_cpuid_configure(cpuid, id, vm->cfg->cpus);
	if (kvm_check_extension(&vm->kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		x86_cpuid_enable_tsc_deadline(cpuid);
	if (r >= 0)
		r = kvm_vcpu_set_cpuid2(v, cpuid);
	free(cpuid);
	if (r < 0)
		goto fail;
	struct kvm_msr_entry msrs[32];
	size_t nmsrs = x86_boot_msrs(msrs, 32);
	if ((r = kvm_vcpu_set_msrs(v, msrs, (uint32_t)nmsrs)) < 0)
		goto fail;
	struct kvm_fpu fpu;
	x86_init_fpu(&fpu);
	if ((r = kvm_vcpu_set_fpu(v, &fpu)) < 0)
		goto fail;
	struct kvm_lapic_state lapic;
	if ((r = kvm_vcpu_get_lapic(v, &lapic)) < 0)
		goto fail;
	x86_init_lapic(&lapic);
	if ((r = kvm_vcpu_set_lapic(v, &lapic)) < 0)
		goto fail;
	if (id != 0)
		return 0; /* APs wait for INIT/SIPI from the boot CPU */
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	if ((r = kvm_vcpu_get_sregs(v, &sregs)) < 0)
		goto fail;
	x86_init_sregs(&sregs);
	if ((r = kvm_vcpu_set_sregs(v, &sregs)) < 0)
		goto fail;
	x86_init_regs(&regs, vm->entry, X86_ZERO_PAGE_ADDR);
	if ((r = kvm_vcpu_set_regs(v, &regs)) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, ERRLEN, "vcpu %u: %s: %s", id, v->failed_ioctl ? v->failed_ioctl : "setup", strerror(-r));
	return r;
}

static int setup_vcpus(struct vm *vm, char *err)
{
	struct kvm_cpuid2 *supported = NULL;
	int r = kvm_get_supported_cpuid(&vm->kvm, &supported);
	if (r < 0) {
		snprintf(err, ERRLEN, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		return r;
	}
	vm->vcpus = calloc(vm->cfg->cpus, sizeof(vm->vcpus[0]));
	if (!vm->vcpus) {
		free(supported);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < vm->cfg->cpus; i++)
		vm->vcpus[i].vcpu.fd = -1;
	for (uint32_t i = 0; i < vm->cfg->cpus && r >= 0; i++)
		r = setup_vcpu(vm, &vm->vcpus[i], i, supported, err);
	free(supported);
	return r;
}

static void vm_destroy(struct vm *vm)
{
	/* First: its handlers act on the devices destroyed below. */
	control_close(vm);
	vcpus_stop(vm);
	serial_ports_destroy(vm);
	if (vm->vcpus)
		for (uint32_t i = 0; i < vm->cfg->cpus; i++)
			kvm_vcpu_destroy(&vm->vcpus[i].vcpu);
	free(vm->vcpus);
	vm->vcpus = NULL;
	virtio_devices_destroy(vm);
	if (vm->devices_ready) {
		pci_root_destroy(&vm->pci);
		cmos_destroy(&vm->cmos);
		i8042_destroy(&vm->i8042);
		acpi_pm_destroy(&vm->acpi_pm);
	}
	if (vm->buses_ready) {
		bus_destroy(&vm->io_bus);
		bus_destroy(&vm->mmio_bus);
	}
	if (vm->irq_routes_ready)
		kvm_irq_routes_destroy(&vm->irq_routes);
	kvm_vm_destroy(&vm->kvm_vm);
	gm_destroy(&vm->gm);
	kvm_close(&vm->kvm);
	fd_close(&vm->exit_evt);
	fd_close(&vm->stop_evt);
	fd_close(&vm->reset_evt);
	fd_close(&vm->poweroff_evt);
	fd_close(&vm->i8042_irq_evt[0]);
	fd_close(&vm->i8042_irq_evt[1]);
}

/* Opens a user-named file for reading; reports why it cannot be used. */
static int open_user_file(const char *what, const char *path, uint64_t *size, char *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		snprintf(err, ERRLEN, "cannot open %s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, ERRLEN, "%s '%s' is not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Main thread: wait until a vCPU or device asks the VM to end, a device
 * process dies, or a signal arrives. */
static void wait_for_exit(struct vm *vm, int sig_fd)
{
	enum { FIXED = 4 };
	struct pollfd p[FIXED + 2 * MAX_VIRTIO_DEVICES];
	for (;;) {
		p[0] = (struct pollfd){ .fd = vm->exit_evt, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = vm->reset_evt, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = vm->poweroff_evt, .events = POLLIN };
		p[3] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		nfds_t n = FIXED;
		for (unsigned i = 0; i < vm->nr_procs; i++) {
			p[n++] = (struct pollfd){ .fd = device_process_pidfd(vm->procs[i].proc), .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = vm->procs[i].dead_fd, .events = POLLIN };
		}
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			vm_request_exit(vm, VM_EXIT_ERROR);
			return;
		}
		if (p[1].revents)
			vm_request_exit(vm, VM_EXIT_RESET);
		if (p[2].revents)
			vm_request_exit(vm, VM_EXIT_POWEROFF);
		if (p[3].revents) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				log_info("received signal %u, stopping the VM", si.ssi_signo);
			vm_request_exit(vm, VM_EXIT_SIGNAL);
		}
		/* A device process gone: the VM cannot go on without it. */
		for (nfds_t i = FIXED; i < n; i++)
			if (p[i].revents && device_sandbox_check(vm, p[i].fd)) {
				vm_request_exit(vm, VM_EXIT_ERROR);
				break;
			}
		if (atomic_load(&vm->cause) != VM_EXIT_NONE)
			return;
	}
}

/* crosvm's stdin feeds a serial port raw (no echo, no line editing): the
 * guest's own tty does that. Restored on the way out. */
struct stdin_mode {
	bool changed;
	struct termios saved;
};

static void stdin_raw(const struct run_config *cfg, struct stdin_mode *m)
{
	bool used = false;
	for (int i = 0; i < SERIAL_PORTS; i++)
		used |= (cfg->serial[i].configured && cfg->serial[i].stdin_input) ||
			(cfg->virtio_consoles[i].configured && cfg->virtio_consoles[i].stdin_input);
	if (!used || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &m->saved) < 0)
		return;
	struct termios raw = m->saved;
	cfmakeraw(&raw);
	raw.c_oflag = m->saved.c_oflag; /* keep output post-processing for our logs */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		m->changed = true;
}

static void stdin_restore(struct stdin_mode *m)
{
	if (m->changed)
		tcsetattr(STDIN_FILENO, TCSANOW, &m->saved);
}

static int run_vm(const struct run_config *cfg)
{
	char err[ERRLEN] = "";
	struct vm vm = { .cfg = cfg,
			 .intx_lock = PTHREAD_MUTEX_INITIALIZER,
			 .pause_lock = PTHREAD_MUTEX_INITIALIZER,
			 .pause_cond = PTHREAD_COND_INITIALIZER };
	vm.exit_evt = vm.stop_evt = vm.reset_evt = vm.poweroff_evt = -1;
	vm.i8042_irq_evt[0] = vm.i8042_irq_evt[1] = -1;
	vm.kvm.fd = vm.kvm_vm.fd = vm.gm.memfd = -1;
	int sig_fd = -1, kernel_fd = -1, initrd_fd = -1, status = 1;
	struct stdin_mode stdin_mode = { 0 };

	uint64_t kernel_size, initrd_size = 0;
	if ((kernel_fd = open_user_file("kernel", cfg->kernel, &kernel_size, err)) < 0)
		goto out;
	if (cfg->initrd && (initrd_fd = open_user_file("initrd", cfg->initrd, &initrd_size, err)) < 0)
		goto out;

	if ((vm.exit_evt = evfd_create()) < 0 || (vm.stop_evt = evfd_create()) < 0 ||
	    (vm.reset_evt = evfd_create()) < 0 || (vm.poweroff_evt = evfd_create()) < 0) {
		snprintf(err, ERRLEN, "eventfd: %s", strerror(errno));
		goto out;
	}
	if (setup_kvm(&vm, err) < 0 || load_guest(&vm, kernel_fd, initrd_fd, initrd_size, err) < 0 ||
	    setup_devices(&vm, err) < 0 || setup_vcpus(&vm, err) < 0)
		goto out;

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	/* Blocked before any thread starts so every thread inherits it and
	 * only the signalfd sees these signals. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd < 0) {
		snprintf(err, ERRLEN, "signalfd: %s", strerror(errno));
		goto out;
	}
	if (control_open(&vm, err, ERRLEN) < 0)
		goto out;
	stdin_raw(cfg, &stdin_mode);
	int r = serial_ports_start_input(&vm);
	if (r < 0) {
		snprintf(err, ERRLEN, "cannot start the serial input threads: %s", strerror(-r));
		goto out;
	}
	if (vcpus_start(&vm, err, ERRLEN) < 0)
		goto out;
	wait_for_exit(&vm, sig_fd);
	switch (atomic_load(&vm.cause)) {
	case VM_EXIT_POWEROFF:
		log_info("guest powered off");
		status = 0;
		break;
	case VM_EXIT_RESET:
		log_info("guest reset; exiting");
		status = 0;
		break;
	case VM_EXIT_SIGNAL:
		status = 0;
		break;
	case VM_EXIT_STOP:
		log_info("stopped through the control socket");
		status = 0;
		break;
	default:
		status = 1;
		break;
	}
out:
	vm_destroy(&vm);
	stdin_restore(&stdin_mode);
	fd_close(&sig_fd);
	fd_close(&kernel_fd);
	fd_close(&initrd_fd);
	if (err[0])
		log_error("%s", err);
	return status;
}

int cmd_run(int argc, char **argv)
{
	struct run_config cfg;
	char err[ERRLEN];
	int r = run_args_parse(argc, argv, &cfg, err, sizeof(err));
	if (r == 1) {
		run_args_usage(STDOUT_FILENO);
		return 0;
	}
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	return run_vm(&cfg);
}
