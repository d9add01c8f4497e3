/*
 * vCPU threads: one per vCPU, each looping on KVM_RUN and dispatching I/O
 * and MMIO exits to the buses. A vCPU never ends the VM by itself: it
 * records the cause with vm_request_exit() and the main loop tears down.
 *
 * Stopping: the main thread sets vm->stopping, sets immediate_exit in each
 * kvm_run page (so a thread about to enter KVM_RUN returns at once) and
 * sends SIGRTMIN to each thread (so one inside KVM_RUN returns EINTR).
 *
 * Suspending works the same way with vm->paused instead: each kicked
 * thread parks on pause_cond outside KVM_RUN, counting itself in
 * vcpus_parked, and tells the guest's kvmclock it was stopped (so the
 * guest's soft-lockup watchdog does not fire on resume). The flag is set
 * before the kick and checked after every KVM_RUN return, so a thread
 * either sees it or enters KVM_RUN with immediate_exit set: none can slip
 * back into the guest.
 *
 * Real time: the vCPUs listed in --rt-cpus run SCHED_RR at RT_PRIORITY,
 * from the start or, with --delay-rt, from `crosvm make_rt` on.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "cli/vcpu_exit.h"
#include "cli/vm.h"

#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)
/* crosvm's priority for real-time vCPUs: above ordinary RT helpers, far
 * below the kernel's own threads. */
#define RT_PRIORITY 6
/* How long suspend waits for every vCPU to leave the guest. */
#define SUSPEND_TIMEOUT_MS 2000

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

/* Waits, outside the guest, while the VM is suspended. */
static void park(struct vcpu_thread *t)
{
	struct vm *vm = t->vm;
	/* Not in KVM_RUN now: the one moment kvmclock_ctrl is allowed.
	 * -EINVAL only means the guest does not use kvmclock. */
	int r = kvm_vcpu_kvmclock_ctrl(&t->vcpu);
	if (r < 0 && r != -EINVAL)
		log_warn("vcpu %u: KVM_KVMCLOCK_CTRL: %s", t->vcpu.id, strerror(-r));
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->paused) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->vcpus_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
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
		if (atomic_load(&vm->paused)) {
			park(t);
			continue;
		}
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
	/* A thread that ended on its own no longer counts for suspend. */
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_live--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return NULL;
}

static bool is_rt_cpu(const struct run_config *cfg, uint32_t i)
{
	return cfg->rt_cpus[i / 64] & (1ULL << (i % 64));
}

/* Makes the --rt-cpus threads SCHED_RR; names the first failure. */
static int make_rt(struct vm *vm, char *err, size_t errlen)
{
	struct sched_param sp = { .sched_priority = RT_PRIORITY };
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		if (!is_rt_cpu(vm->cfg, i) || !vm->vcpus[i].started)
			continue;
		int r = pthread_setschedparam(vm->vcpus[i].thread, SCHED_RR, &sp);
		if (r) {
			snprintf(err, errlen, "cannot make vCPU %u real-time (SCHED_RR): %s", i, strerror(r));
			return -r;
		}
	}
	return 0;
}

/* Kicks every started vCPU out of KVM_RUN (see the top of the file). */
static void kick_all(struct vm *vm)
{
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		if (t->vcpu.run)
			t->vcpu.run->immediate_exit = 1;
		if (t->started)
			pthread_kill(t->thread, VCPU_KICK_SIGNAL);
	}
}

int vcpus_start(struct vm *vm, char *err, size_t errlen)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the point is to interrupt KVM_RUN. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0) {
		snprintf(err, errlen, "cannot install the vCPU kick signal: %s", strerror(errno));
		return -errno;
	}
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		t->vm = vm;
		pthread_mutex_lock(&vm->pause_lock);
		vm->vcpus_live++;
		pthread_mutex_unlock(&vm->pause_lock);
		int r = pthread_create(&t->thread, NULL, vcpu_main, t);
		if (r) {
			pthread_mutex_lock(&vm->pause_lock);
			vm->vcpus_live--;
			pthread_mutex_unlock(&vm->pause_lock);
			snprintf(err, errlen, "cannot start vCPU %u: %s", i, strerror(r));
			return -r;
		}
		t->started = true;
		char name[16];
		snprintf(name, sizeof(name), "crosvm_vcpu%u", i % 1000); /* i < MAX_VCPUS */
		pthread_setname_np(t->thread, name);
	}
	return vm->cfg->delay_rt ? 0 : make_rt(vm, err, errlen);
}

int vcpus_make_rt(struct vm *vm, char *err, size_t errlen)
{
	bool any = false;
	for (uint32_t i = 0; i < vm->cfg->cpus; i++)
		any |= is_rt_cpu(vm->cfg, i);
	if (!any) {
		snprintf(err, errlen, "the VM was started without --rt-cpus");
		return -ENOENT;
	}
	return make_rt(vm, err, errlen);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int vcpus_suspend(struct vm *vm)
{
	if (!vm->vcpus)
		return -ENODEV;
	atomic_store(&vm->paused, true);
	kick_all(vm);
	struct timespec deadline;
	deadline_in(&deadline, SUSPEND_TIMEOUT_MS);
	int r = 0;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->vcpus_parked < vm->vcpus_live && !atomic_load(&vm->stopping) && r == 0)
		r = -pthread_cond_clockwait(&vm->pause_cond, &vm->pause_lock, CLOCK_MONOTONIC, &deadline);
	bool all = vm->vcpus_parked >= vm->vcpus_live;
	pthread_mutex_unlock(&vm->pause_lock);
	return all ? 0 : -ETIMEDOUT;
}

void vcpus_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->paused, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpus_stop(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	atomic_store(&vm->stopping, true);
	/* Parked threads wake to see `stopping`. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	kick_all(vm);
	for (uint32_t i = 0; i < vm->cfg->cpus; i++) {
		struct vcpu_thread *t = &vm->vcpus[i];
		if (t->started)
			pthread_join(t->thread, NULL);
		t->started = false;
	}
}
