/*
 * Device processes (see device_process.h): compile the device's policy,
 * make the socketpair, jail the child, and keep a pidfd to watch it.
 *
 * The child's program is short: serve the vhost-user connection with the
 * back-end (vhost/user/backend.h) until the main process closes it, and,
 * when the device takes control requests, answer them on a thread of its
 * own (vm_control/dispatch.h) over a second socketpair. Every fd it needs
 * is either the device's own (listed by the caller) or made here (its
 * socket ends, the violation pipe); the jail closes the rest, so it holds
 * no KVM fd, no other device's fd and not crosvm's control socket.
 *
 * Test hook (debug builds only, CROSVM_TEST_HOOKS): when the environment
 * variable CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL names this device, the
 * child opens a host path first thing, a call no device policy allows, so
 * tests can watch a violation be reported (or logged and survived).
 */
#include "device_process/device_process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fd.h"
#include "sandbox/sandbox.h"
#include "vhost/user/backend.h"
#include "vm_control/dispatch.h"

/* Enough for a device's threads, rings and mappings; small enough that a
 * runaway device cannot exhaust the host. */
#define CHILD_NOFILE 256

struct device_process {
	char name[32];
	pid_t pid;
	int pidfd;	/* owned */
	int sock;	/* owned: the main process's end, -1 once taken */
	int ctl;	/* owned: our end of the control channel, or -1 */
	int vio_rd;	/* owned: the violation reporter's pipe */
	bool reaped;
	int wstatus;
};

struct child_arg {
	struct virtio_device *dev;
	int sock;
	int ctl; /* -1: no control channel */
	const struct vmc_handlers *control;
	void *control_ctx;
	bool forbidden_call;
};

static void *control_main(void *argp)
{
	const struct child_arg *a = argp;
	/* Ends when crosvm closes its end (or the channel breaks): control
	 * requests stop, the device goes on. */
	(void)!vmc_serve_connection(a->ctl, a->control, a->control_ctx);
	return NULL;
}

/* The control thread, with every signal blocked like the device's
 * workers (signals are for the process's exit, not for it). */
static int start_control(struct child_arg *a)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int r = -pthread_create(&t, NULL, control_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		pthread_detach(t);
	return r;
}

static int child_main(void *argp)
{
	struct child_arg *a = argp;
	if (a->forbidden_call) {
		/* Allowed only under --seccomp-log-failures, where it fails
		 * harmlessly: the jail's root holds no host files. */
		long fd = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			close((int)fd);
	}
	if (a->ctl >= 0 && start_control(a) < 0)
		return 1;
	struct vhu_backend b;
	int r = vhu_backend_init(&b, a->dev, a->sock);
	if (r == 0)
		r = vhu_backend_run(&b);
	vhu_backend_destroy(&b);
	return r < 0 ? 1 : 0;
}

static bool wants_forbidden_call(const char *name)
{
#ifdef CROSVM_TEST_HOOKS
	const char *v = getenv("CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL");
	return v && strcmp(v, name) == 0;
#else
	(void)name;
	return false;
#endif
}

static int compile_policy(const struct device_process_config *cfg, struct sandbox_bpf *bpf, char *err,
			  size_t errlen)
{
	char perr[512];
	scmp_filter_ctx ctx;
	enum sandbox_violation v = cfg->log_failures ? SANDBOX_VIOLATION_LOG : SANDBOX_VIOLATION_TRAP;
	int r = sandbox_policy_compile(cfg->policy_dir, cfg->policy_name, v, &ctx, perr, sizeof(perr));
	if (r < 0) {
		if (perr[0] && r == -EINVAL)
			snprintf(err, errlen, "device %s: seccomp policy: %s", cfg->name, perr);
		else
			snprintf(err, errlen, "device %s: seccomp policy %s/%s.policy: %s", cfg->name, cfg->policy_dir,
				 cfg->policy_name, strerror(-r));
		return r;
	}
	r = sandbox_bpf_export(ctx, bpf);
	seccomp_release(ctx);
	if (r < 0)
		snprintf(err, errlen, "device %s: cannot export the seccomp filter: %s", cfg->name, strerror(-r));
	return r;
}

int device_process_spawn(const struct device_process_config *cfg, struct virtio_device *dev,
			 struct device_process **out, char *err, size_t errlen)
{
	if (!cfg || !cfg->name || !cfg->policy_dir || !cfg->policy_name || !dev ||
	    cfg->nkeep_fds > DEVICE_PROCESS_MAX_FDS) {
		snprintf(err, errlen, "device process: invalid configuration");
		return -EINVAL;
	}
	struct device_process *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return -ENOMEM;
	}
	snprintf(p->name, sizeof(p->name), "%s", cfg->name);
	p->pidfd = p->sock = p->ctl = p->vio_rd = -1;
	int socks[2] = { -1, -1 }, vio[2] = { -1, -1 }, ctl[2] = { -1, -1 };
	struct sandbox_bpf bpf = { 0 };
	int r = compile_policy(cfg, &bpf, err, errlen);
	if (r < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks) < 0 || pipe2(vio, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "device %s: %s", cfg->name, strerror(errno));
		goto fail;
	}
	if (cfg->control && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		r = -errno;
		snprintf(err, errlen, "device %s: %s", cfg->name, strerror(errno));
		goto fail;
	}
	/* The child's write end must block (it reports, then dies). */
	if (fcntl(vio[1], F_SETFL, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "device %s: %s", cfg->name, strerror(errno));
		goto fail;
	}
	int keep[DEVICE_PROCESS_MAX_FDS + 2];
	size_t nkeep = 0;
	for (size_t i = 0; i < cfg->nkeep_fds; i++)
		keep[nkeep++] = cfg->keep_fds[i];
	keep[nkeep++] = socks[1];
	if (ctl[1] >= 0)
		keep[nkeep++] = ctl[1];
	struct rlimit cur;
	rlim_t nproc = RLIM_INFINITY;
	if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY)
		nproc = cur.rlim_cur;
	const struct jail_rlimit limits[] = {
		{ RLIMIT_NOFILE, CHILD_NOFILE, CHILD_NOFILE },
		{ RLIMIT_CORE, 0, 0 },
		{ RLIMIT_NPROC, nproc, nproc },
	};
	struct jail_config jc = {
		.name = cfg->name,
		.keep_net = cfg->keep_net,
		.keep_fds = keep,
		.nkeep_fds = nkeep,
		.rlimits = limits,
		.nrlimits = sizeof(limits) / sizeof(limits[0]),
		.seccomp = &bpf,
		.violation_fd = vio[1],
	};
	struct child_arg arg = { .dev = dev,
				 .sock = socks[1],
				 .ctl = ctl[1],
				 .control = cfg->control,
				 .control_ctx = cfg->control_ctx,
				 .forbidden_call = wants_forbidden_call(cfg->name) };
	r = sandbox_jail_spawn(&jc, child_main, &arg, &p->pid, err, errlen);
	if (r < 0)
		goto fail;
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		r = -errno;
		snprintf(err, errlen, "device %s: pidfd_open: %s", cfg->name, strerror(errno));
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		goto fail;
	}
	fd_close(&socks[1]);
	fd_close(&ctl[1]);
	fd_close(&vio[1]);
	sandbox_bpf_free(&bpf);
	p->sock = socks[0];
	p->ctl = ctl[0];
	p->vio_rd = vio[0];
	*out = p;
	return 0;
fail:
	fd_close(&socks[0]);
	fd_close(&socks[1]);
	fd_close(&ctl[0]);
	fd_close(&ctl[1]);
	fd_close(&vio[0]);
	fd_close(&vio[1]);
	sandbox_bpf_free(&bpf);
	fd_close(&p->pidfd);
	free(p);
	return r;
}

int device_process_take_socket(struct device_process *p)
{
	int s = p->sock;
	p->sock = -1;
	return s;
}

int device_process_control_fd(const struct device_process *p)
{
	return p->ctl;
}

int device_process_pidfd(const struct device_process *p)
{
	return p->pidfd;
}

pid_t device_process_pid(const struct device_process *p)
{
	return p->pid;
}

const char *device_process_name(const struct device_process *p)
{
	return p->name;
}

static int reap(struct device_process *p, bool block)
{
	if (p->reaped)
		return 0;
	pid_t r;
	do
		r = waitpid(p->pid, &p->wstatus, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -EAGAIN;
	if (r < 0)
		return -errno;
	p->reaped = true;
	return 0;
}

int device_process_describe_exit(struct device_process *p, char *buf, size_t len)
{
	int r = reap(p, false);
	if (r < 0)
		return r;
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int got = sandbox_violation_read(p->vio_rd, &si);
	return sandbox_describe_exit(p->wstatus, got > 0 ? &si : NULL, buf, len);
}

void device_process_destroy(struct device_process *p)
{
	if (!p)
		return;
	if (!p->reaped) {
		kill(p->pid, SIGKILL);
		(void)reap(p, true);
	}
	fd_close(&p->sock);
	fd_close(&p->ctl);
	fd_close(&p->pidfd);
	fd_close(&p->vio_rd);
	free(p);
}

int device_process_list_fds(int *fds, size_t max)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	int self = dirfd(d);
	size_t n = 0;
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || v == self)
			continue;
		if (n == max) {
			r = -E2BIG;
			break;
		}
		/* Insertion keeps them ascending. */
		size_t i = n++;
		for (; i > 0 && fds[i - 1] > v; i--)
			fds[i] = fds[i - 1];
		fds[i] = (int)v;
	}
	closedir(d);
	return r < 0 ? r : (int)n;
}
