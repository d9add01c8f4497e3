/*
 * vCPU threads: one per vCPU, each looping on KVM_RUN and dispatching I/O
 * and MMIO exits to the buses. A vCPU never ends the VM by itself: it
 * records the cause with vm_request_exit() and the main loop tears down.
 *
 * Stopping: the main thread sets vm->stopping, sets immediate_exit in each
 * kvm_run page (so a thread about to enter KVM_RUN returns at once) and
 * sends SIGRTMIN to each thread (so one inside KVM_RUN returns EINTR).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/vcpu_exit.h"
#include "cli/vm.h"

#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)

static void kick_handler(int sig) { (void)sig; }

/* Where a vCPU stopped, for messages about guest failures. */
static void log_vcpu_state(struct kvm_vcpu *v, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	if (kvm_vcpu_get_regs(v, &regs) < 0 || kvm_vcpu_get_sregs(v, &sregs) < 0) {
		log_warn("vcpu %u: %s", v->id, what);
		return;
	}
	log_warn("vcpu %u: %s at rip 0x%llx rsp 0x%llx cr0 0x%llx cr2 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx",
		 v->id, what, (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
		 (unsigned long long)sregs.cr0, (unsigned long long)sregs.cr2, (unsigned long long)sregs.cr3,
		 (unsigned long long)sregs.cr4, (unsigned long long)sregs.efer);
}

static void report_internal_error(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	unsigned long long rip = 0;
	if (kvm_vcpu_get_regs(v, &regs) == 0)
		rip = regs.rip;
	log_error("vcpu %u: KVM internal error (suberror %u) at rip 0x%llx", v->id, run->internal.suberror, rip);
}

/* Returns true to keep running. */
static bool handle_exit(struct vm *vm, struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_exit_io(&vm->io_bus, v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_exit_mmio(&vm->mmio_bus, v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		/* A triple fault: what a PC does is reset, and crosvm exits on reset. */
		log_vcpu_state(v, "triple fault (the VM resets, so crosvm exits)");
		vm_request_exit(vm, VM_EXIT_RESET);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_exit(vm, VM_EXIT_POWEROFF);
			return false;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_exit(vm, VM_EXIT_RESET);
			return false;
		default:
			log_error("vcpu %u: guest crashed (system event %u)", v->id, run->system_event.type);
			vm_request_exit(vm, VM_EXIT_ERROR);
			return false;
		}
	case KVM_EXIT_HLT:
		/* Only reachable without an in-kernel LAPIC; treat as power-off. */
		vm_request_exit(vm, VM_EXIT_POWEROFF);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		report_internal_error(v);
		vm_request_exit(vm, VM_EXIT_ERROR);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vcpu %u: KVM_RUN failed to enter the guest (hardware reason 0x%llx)", v->id,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm_request_exit(vm, VM_EXIT_ERROR);
		return false;
	default:
		log_error("vcpu %u: unexpected KVM exit %s (%u)", v->id, kvm_exit_reason_name(run->exit_reason),
			  run->exit_reason);
		vm_request_exit(vm, VM_EXIT_ERROR);
		return false;
	}
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thread *t = arg;
	struct vm *vm = t->vm;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&vm->stopping)) {
		int r = kvm_vcpu_run(&t->vcpu);
		if (r == -EINTR || r == -EAGAIN) {
			t->vcpu.run->immediate_exit = 0;
			continue;
		}
		if (r < 0) {
			log_error("vcpu %u: KVM_RUN: %s", t->vcpu.id, strerror(-r));
			vm_request_exit(vm, VM_EXIT_ERROR);
			break;
		}
		if (!handle_exit(vm, &t->vcpu))
			break;
	}
	return NULL;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the point is to interrupt KVM_RUN. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		t->vm = vm;
		int r = pthread_create(&t->thread, NULL, vcpu_main, t);
		if (r)
			return -r;
		t->started = true;
	}
	return 0;
}

void vcpus_stop(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	atomic_store(&vm->stopping, true);
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		if (t->vcpu.run)
			t->vcpu.run->immediate_exit = 1;
		if (t->started)
			pthread_kill(t->thread, VCPU_KICK_SIGNAL);
	}
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		if (t->started)
			pthread_join(t->thread, NULL);
		t->started = false;
	}
}
