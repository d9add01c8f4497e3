/*
 * The jail (see jail.h for the sequence and the choices). The parent does
 * everything that can allocate or format — paths under the old root, the
 * uid/gid map lines, the sorted list of fds to keep, the seccomp BPF —
 * into one `struct prep`; the child of the raw clone3 only reads that copy
 * and makes syscalls, reporting the first failing step through a CLOEXEC
 * pipe. glibc's state in the child is that of a fork without atfork
 * handlers: a caller spawning while other threads may hold malloc's locks
 * must not let child_main allocate (crosvm spawns its devices before it
 * starts vCPU threads).
 */
#include "sandbox/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "base/fd.h"

#ifndef SYS_SECCOMP /* si_code of a seccomp SIGSYS: uapi asm-generic/siginfo.h, not in glibc */
#define SYS_SECCOMP 1
#endif

/* Where the tmpfs that becomes the root is first mounted, and where the old
 * root sits (inside the new one) between pivot_root and its unmount. Any
 * existing directory would do; /tmp is what bubblewrap uses. Sources are
 * read through OLD_ROOT, so a bind source under /tmp is not shadowed. */
#define STAGING "/tmp"
#define OLD_ROOT "/.old"

enum step {
	STEP_NONE,
	STEP_PDEATHSIG,
	STEP_PARENT_GONE,
	STEP_SETGROUPS,
	STEP_UID_MAP,
	STEP_GID_MAP,
	STEP_MOUNT_PRIVATE,
	STEP_MOUNT_ROOT,
	STEP_PIVOT_ROOT,
	STEP_BIND,
	STEP_BIND_RO,
	STEP_MOUNT_PROC,
	STEP_UMOUNT_OLD,
	STEP_ROOT_RO,
	STEP_CLOSE_FDS,
	STEP_STDIO,
	STEP_RLIMIT,
	STEP_SECUREBITS,
	STEP_BOUNDING,
	STEP_AMBIENT,
	STEP_CAPSET,
	STEP_NO_NEW_PRIVS,
	STEP_SIGNALS,
	STEP_REPORTER,
	STEP_SECCOMP,
	STEP_COUNT,
};

static const char *const step_names[STEP_COUNT] = {
	[STEP_NONE] = "?",
	[STEP_PDEATHSIG] = "set parent-death signal",
	[STEP_PARENT_GONE] = "parent exited during spawn",
	[STEP_SETGROUPS] = "deny setgroups",
	[STEP_UID_MAP] = "write uid_map",
	[STEP_GID_MAP] = "write gid_map",
	[STEP_MOUNT_PRIVATE] = "make mounts private",
	[STEP_MOUNT_ROOT] = "mount tmpfs root",
	[STEP_PIVOT_ROOT] = "pivot_root",
	[STEP_BIND] = "bind mount",
	[STEP_BIND_RO] = "remount bind read-only",
	[STEP_MOUNT_PROC] = "mount /proc",
	[STEP_UMOUNT_OLD] = "unmount old root",
	[STEP_ROOT_RO] = "remount root read-only",
	[STEP_CLOSE_FDS] = "close fds",
	[STEP_STDIO] = "standard fds",
	[STEP_RLIMIT] = "setrlimit",
	[STEP_SECUREBITS] = "lock securebits",
	[STEP_BOUNDING] = "clear capability bounding set",
	[STEP_AMBIENT] = "clear ambient capabilities",
	[STEP_CAPSET] = "drop capabilities",
	[STEP_NO_NEW_PRIVS] = "set no_new_privs",
	[STEP_SIGNALS] = "reset signal handlers",
	[STEP_REPORTER] = "install seccomp violation reporter",
	[STEP_SECCOMP] = "load seccomp filter",
};

struct report {
	int32_t step;
	int32_t index; /* bind or rlimit index, -1 */
	int32_t err;   /* positive errno */
};

struct prep {
	const struct jail_config *c;
	int (*child_main)(void *);
	void *arg;
	int report_rd;
	int report_wr;
	char uid_map[64];
	char gid_map[64];
	char *old_src[SANDBOX_JAIL_MAX_BINDS]; /* OLD_ROOT + src, owned */
	const char *dst[SANDBOX_JAIL_MAX_BINDS];
	int keep[SANDBOX_JAIL_MAX_KEEP_FDS + 3]; /* sorted, unique */
	size_t nkeep;
	bool have_stderr; /* the caller's fd 2 is open and kept */
};

/* ---- Child side: syscalls only, no allocation ---- */

static __attribute__((noreturn)) void child_fail(const struct prep *pp, enum step step, int index, int err)
{
	struct report r = { .step = step, .index = index, .err = err ? err : EIO };
	(void)!write(pp->report_wr, &r, sizeof(r));
	_exit(127);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	int e = w < 0 ? -errno : (size_t)w == n ? 0 : -EIO;
	close(fd);
	return e;
}

/* mkdir -p of path's directories (all of them when `last`, else up to the
 * final component). */
static int mkdir_p(const char *path, bool last)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i] == '\0' && !last)
			break;
		char save = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = save;
	}
	return 0;
}

static int bind_one(const struct prep *pp, size_t i)
{
	struct stat st;
	if (stat(pp->old_src[i], &st) < 0)
		return -errno;
	int r;
	if (S_ISDIR(st.st_mode)) {
		r = mkdir_p(pp->dst[i], true);
	} else {
		r = mkdir_p(pp->dst[i], false);
		if (r == 0) {
			int fd = open(pp->dst[i], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
			if (fd < 0)
				r = -errno;
			else
				close(fd);
		}
	}
	if (r < 0)
		return r;
	if (mount(pp->old_src[i], pp->dst[i], NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	return 0;
}

/* Read-only remount of a bind; the flags locked by a less privileged mount
 * namespace (nosuid, nodev, noexec, atime) must be kept or it is EPERM. */
static int bind_ro(const char *dst)
{
	struct statvfs sv;
	if (statvfs(dst, &sv) < 0)
		return -errno;
	unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;
	if (sv.f_flag & ST_NOSUID)
		fl |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		fl |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		fl |= MS_RELATIME;
	if (mount(NULL, dst, NULL, fl, NULL) < 0)
		return -errno;
	return 0;
}

static int close_gap(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return 0;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Pre-5.9 kernels: close one by one up to the fd limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	unsigned top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20 ? 1u << 20 : (unsigned)rl.rlim_cur;
	for (unsigned fd = lo; fd <= hi && fd < top; fd++)
		close((int)fd);
	return 0;
}

static int close_fds(const struct prep *pp)
{
	unsigned lo = 0;
	for (size_t i = 0; i < pp->nkeep; i++) {
		unsigned k = (unsigned)pp->keep[i];
		if (k > lo) {
			int r = close_gap(lo, k - 1);
			if (r < 0)
				return r;
		}
		lo = k + 1;
	}
	return close_gap(lo, ~0u);
}

/* Fills whichever of fds 0-2 close_fds left closed: 0 reads EOF (an empty
 * pipe whose write end is gone), 1 and 2 write to the caller's stderr or,
 * without one, fail (that pipe's read end). Left closed, the next fd the
 * child gets (one passed over a socket) would take one of these numbers
 * and its log lines would go down that fd. Stdout is not passed on: it
 * may carry a guest's console. */
static int fill_stdio(const struct prep *pp)
{
	int p[2];
	if (pipe2(p, 0) < 0)
		return -errno;
	close(p[1]);
	int err_src = pp->have_stderr ? STDERR_FILENO : p[0];
	for (int fd = 0; fd <= STDERR_FILENO; fd++) {
		if (fd == p[0] || fcntl(fd, F_GETFD) >= 0)
			continue;
		if (dup2(fd == STDIN_FILENO ? p[0] : err_src, fd) < 0)
			return -errno;
	}
	if (p[0] > STDERR_FILENO)
		close(p[0]);
	return 0;
}

static int drop_caps(const struct prep *pp)
{
	/* With these locked, uid 0 gains nothing on execve and nothing can
	 * raise ambient capabilities again. */
	unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
			     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
			     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
		child_fail(pp, STEP_SECUREBITS, -1, errno);
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			child_fail(pp, STEP_BOUNDING, -1, errno);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(pp, STEP_AMBIENT, -1, errno);
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail(pp, STEP_CAPSET, -1, errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(pp, STEP_NO_NEW_PRIVS, -1, errno);
	return 0;
}

static void reset_signals(const struct prep *pp)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		(void)sigaction(sig, &sa, NULL); /* EINVAL for libc's reserved signals */
	}
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(pp, STEP_SIGNALS, -1, errno);
}

static __attribute__((noreturn)) void child_run(const struct prep *pp)
{
	const struct jail_config *c = pp->c;
	close(pp->report_rd);

	/* The parent-death signal, then the race check: getppid() is 0 in a new
	 * PID namespace whether or not the parent lives, so ask the pipe
	 * instead: its read end is only in the parent, and POLLERR on the
	 * write end means the parent has exited. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(pp, STEP_PDEATHSIG, -1, errno);
	struct pollfd pfd = { .fd = pp->report_wr, .events = POLLOUT };
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		_exit(127);

	int r;
	if ((r = write_file("/proc/self/setgroups", "deny")) < 0)
		child_fail(pp, STEP_SETGROUPS, -1, -r);
	if ((r = write_file("/proc/self/uid_map", pp->uid_map)) < 0)
		child_fail(pp, STEP_UID_MAP, -1, -r);
	if ((r = write_file("/proc/self/gid_map", pp->gid_map)) < 0)
		child_fail(pp, STEP_GID_MAP, -1, -r);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(pp, STEP_MOUNT_PRIVATE, -1, errno);
	if (mount("tmpfs", STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
		child_fail(pp, STEP_MOUNT_ROOT, -1, errno);
	if (mkdir(STAGING OLD_ROOT, 0700) < 0 || chdir(STAGING) < 0)
		child_fail(pp, STEP_MOUNT_ROOT, -1, errno);
	if (syscall(SYS_pivot_root, ".", "." OLD_ROOT) < 0 || chdir("/") < 0)
		child_fail(pp, STEP_PIVOT_ROOT, -1, errno);
	for (size_t i = 0; i < c->nbinds; i++) {
		if ((r = bind_one(pp, i)) < 0)
			child_fail(pp, STEP_BIND, (int)i, -r);
		if (!c->binds[i].writable && (r = bind_ro(pp->dst[i])) < 0)
			child_fail(pp, STEP_BIND_RO, (int)i, -r);
	}
	/* Before the old root goes: the kernel lets a user namespace mount proc
	 * only while a fully visible proc is in the mount namespace. */
	if (c->mount_proc) {
		if ((mkdir("/proc", 0555) < 0 && errno != EEXIST) ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			child_fail(pp, STEP_MOUNT_PROC, -1, errno);
	}
	if (umount2(OLD_ROOT, MNT_DETACH) < 0 || rmdir(OLD_ROOT) < 0)
		child_fail(pp, STEP_UMOUNT_OLD, -1, errno);
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		child_fail(pp, STEP_ROOT_RO, -1, errno);

	if ((r = close_fds(pp)) < 0)
		child_fail(pp, STEP_CLOSE_FDS, -1, -r);
	if ((r = fill_stdio(pp)) < 0)
		child_fail(pp, STEP_STDIO, -1, -r);
	for (size_t i = 0; i < c->nrlimits; i++) {
		struct rlimit rl = { .rlim_cur = c->rlimits[i].cur, .rlim_max = c->rlimits[i].max };
		if (setrlimit((__rlimit_resource_t)c->rlimits[i].resource, &rl) < 0)
			child_fail(pp, STEP_RLIMIT, (int)i, errno);
	}
	drop_caps(pp);
	reset_signals(pp);
	if (c->violation_fd >= 0 && (r = sandbox_violation_reporter(c->violation_fd)) < 0)
		child_fail(pp, STEP_REPORTER, -1, -r);
	if (c->seccomp && (r = sandbox_bpf_load(c->seccomp)) < 0)
		child_fail(pp, STEP_SECCOMP, -1, -r);
	/* The jail is complete: say so (an EOF without this record means the
	 * child died in setup, e.g. its policy lacks write), then let go. */
	struct report ready = { .step = STEP_NONE, .index = -1, .err = 0 };
	(void)!write(pp->report_wr, &ready, sizeof(ready));
	close(pp->report_wr);
	_exit(pp->child_main(pp->arg) & 0xff);
}

/* ---- Parent side ---- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static void prep_free(struct prep *pp)
{
	for (size_t i = 0; i < SANDBOX_JAIL_MAX_BINDS; i++)
		free(pp->old_src[i]);
	fd_close(&pp->report_rd);
	fd_close(&pp->report_wr);
}

static int config_error(char *err, size_t errlen, const char *name, const char *msg, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "jail %s: %s%s%s", name, msg, what ? ": " : "", what ? what : "");
	return -EINVAL;
}

static int prep_init(struct prep *pp, const struct jail_config *c, char *err, size_t errlen)
{
	const char *name = c->name ? c->name : "?";
	if (c->nbinds > SANDBOX_JAIL_MAX_BINDS)
		return config_error(err, errlen, name, "too many bind mounts", NULL);
	if (c->nkeep_fds > SANDBOX_JAIL_MAX_KEEP_FDS)
		return config_error(err, errlen, name, "too many fds to keep", NULL);
	for (size_t i = 0; i < c->nbinds; i++) {
		const struct jail_bind *b = &c->binds[i];
		const char *dst = b->dst ? b->dst : b->src;
		if (!b->src || b->src[0] != '/' || dst[0] != '/' || strcmp(dst, "/") == 0 ||
		    strlen(b->src) + sizeof(OLD_ROOT) > PATH_MAX || strlen(dst) >= PATH_MAX)
			return config_error(err, errlen, name, "bind paths must be absolute, not /",
					    b->src ? b->src : "(null)");
		if (strstr(dst, "/..") || strncmp(dst, OLD_ROOT, sizeof(OLD_ROOT) - 1) == 0)
			return config_error(err, errlen, name, "bad bind destination", dst);
		if (asprintf(&pp->old_src[i], "%s%s", OLD_ROOT, b->src) < 0) {
			pp->old_src[i] = NULL;
			return -ENOMEM;
		}
		pp->dst[i] = dst;
	}
	for (size_t i = 0; i < c->nkeep_fds; i++) {
		if (c->keep_fds[i] < 0)
			return config_error(err, errlen, name, "negative fd in keep list", NULL);
		pp->keep[pp->nkeep++] = c->keep_fds[i];
	}
	if (c->violation_fd >= 0)
		pp->keep[pp->nkeep++] = c->violation_fd;
	/* Device logs go where crosvm's own go. */
	pp->have_stderr = fcntl(STDERR_FILENO, F_GETFD) >= 0;
	if (pp->have_stderr)
		pp->keep[pp->nkeep++] = STDERR_FILENO;
	snprintf(pp->uid_map, sizeof(pp->uid_map), "0 %u 1\n", (unsigned)geteuid());
	snprintf(pp->gid_map, sizeof(pp->gid_map), "0 %u 1\n", (unsigned)getegid());
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pp->report_rd = fds[0];
	pp->report_wr = fds[1];
	pp->keep[pp->nkeep++] = pp->report_wr;
	qsort(pp->keep, pp->nkeep, sizeof(pp->keep[0]), cmp_int);
	size_t u = 0;
	for (size_t i = 0; i < pp->nkeep; i++) {
		if (u == 0 || pp->keep[u - 1] != pp->keep[i])
			pp->keep[u++] = pp->keep[i];
	}
	pp->nkeep = u;
	return 0;
}

static pid_t do_clone(uint64_t flags)
{
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = flags;
	args.exit_signal = SIGCHLD;
	long r = syscall(SYS_clone3, &args, sizeof(args));
	if (r < 0 && errno == ENOSYS) /* pre-5.3: clone with fork semantics */
		r = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, 0);
	return (pid_t)r;
}

int sandbox_jail_spawn(const struct jail_config *c, int (*child_main)(void *), void *arg,
		       pid_t *pid_out, char *err, size_t errlen)
{
	*pid_out = -1;
	if (err && errlen)
		err[0] = '\0';
	struct prep pp;
	memset(&pp, 0, sizeof(pp));
	pp.report_rd = pp.report_wr = -1;
	pp.c = c;
	pp.child_main = child_main;
	pp.arg = arg;
	const char *name = c->name ? c->name : "?";
	int r = prep_init(&pp, c, err, errlen);
	if (r < 0)
		goto out;

	uint64_t flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
	if (!c->keep_net)
		flags |= CLONE_NEWNET;
	pid_t pid = do_clone(flags);
	if (pid < 0) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "jail %s: clone: %s%s", name, strerror(-r),
				 r == -EPERM || r == -ENOSPC ? " (user namespaces unavailable?)" : "");
		goto out;
	}
	if (pid == 0)
		child_run(&pp); /* never returns */

	fd_close(&pp.report_wr);
	struct report rep;
	ssize_t n;
	do {
		n = read(pp.report_rd, &rep, sizeof(rep));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(rep) && rep.step == STEP_NONE) {
		*pid_out = pid;
		r = 0;
		goto out;
	}
	int e = n < 0 ? errno : EIO;
	if (n == 0) {
		/* Died before reporting either way: say how. */
		int ws = 0;
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		char how[160];
		sandbox_describe_exit(ws, NULL, how, sizeof(how));
		if (err && errlen)
			snprintf(err, errlen, "jail %s: child died during setup: %s", name, how);
		r = -ECHILD;
		goto out;
	} else if (n != (ssize_t)sizeof(rep)) {
		kill(pid, SIGKILL);
		r = -e;
		if (err && errlen)
			snprintf(err, errlen, "jail %s: reading the setup report: %s", name, strerror(e));
	} else {
		r = rep.err > 0 && rep.err < 4096 ? -rep.err : -EIO;
		const char *step = rep.step > 0 && rep.step < STEP_COUNT ? step_names[rep.step] : "?";
		const char *what = "";
		if (rep.step == STEP_BIND || rep.step == STEP_BIND_RO) {
			if (rep.index >= 0 && (size_t)rep.index < c->nbinds)
				what = c->binds[rep.index].src;
		}
		if (err && errlen)
			snprintf(err, errlen, "jail %s: setup step '%s%s%s' failed: %s", name, step,
				 *what ? " " : "", what, strerror(-r));
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	prep_free(&pp);
	return r;
}

/* ---- Seccomp violation reports ---- */

#define VIOLATION_MAGIC 0x5359534bu /* "SYSK" */

struct violation_record {
	uint32_t magic;
	int32_t syscall;
	uint32_t arch;
	uint32_t reserved;
	uint64_t call_addr;
};

/* The one piece of mutable file-scope state: a signal handler has no
 * context argument. Written once, before the filter is loaded. */
static volatile int violation_fd = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	if (si->si_code != SYS_SECCOMP)
		return; /* SA_RESETHAND: a second SIGSYS is fatal */
	struct violation_record rec = {
		.magic = VIOLATION_MAGIC,
		.syscall = si->si_syscall,
		.arch = si->si_arch,
		.call_addr = (uint64_t)(uintptr_t)si->si_call_addr,
	};
	(void)!write(violation_fd, &rec, sizeof(rec));
#if defined(__x86_64__)
	/* The kernel rolled the registers back to the syscall's entry with RIP
	 * just past the 2-byte `syscall` instruction. Step back over it: on
	 * return the same syscall runs again, traps again, and with SIGSYS now
	 * SIG_DFL (SA_RESETHAND) the process dies of SIGSYS. */
	ucontext_t *uc = uctx;
	uc->uc_mcontext.gregs[REG_RIP] -= 2;
#else
#error "sandbox: on_sigsys needs the syscall instruction length for this architecture"
#endif
}

int sandbox_violation_reporter(int fd)
{
	if (fd < 0)
		return -EINVAL;
	violation_fd = fd;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int sandbox_violation_read(int fd, siginfo_t *si)
{
	struct violation_record rec;
	ssize_t n;
	do {
		n = read(fd, &rec, sizeof(rec));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(rec) || rec.magic != VIOLATION_MAGIC)
		return -EIO;
	memset(si, 0, sizeof(*si));
	si->si_signo = SIGSYS;
	si->si_code = SYS_SECCOMP;
	si->si_syscall = rec.syscall;
	si->si_arch = rec.arch;
	si->si_call_addr = (void *)(uintptr_t)rec.call_addr;
	return 1;
}

int sandbox_wstatus_from_siginfo(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED: return (si->si_status & 0xff) << 8;
	case CLD_KILLED: return si->si_status & 0x7f;
	case CLD_DUMPED: return (si->si_status & 0x7f) | 0x80;
	case CLD_STOPPED:
	case CLD_TRAPPED: return ((si->si_status & 0xff) << 8) | 0x7f;
	default: return 0;
	}
}

int sandbox_describe_exit(int wstatus, const siginfo_t *sys, char *buf, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (WIFEXITED(wstatus)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
		return 0;
	}
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		if (sig == SIGSYS && sys && sys->si_signo == SIGSYS && sys->si_code == SYS_SECCOMP) {
			char *nm = seccomp_syscall_resolve_num_arch(sys->si_arch, sys->si_syscall);
			snprintf(buf, len, "blocked by seccomp: syscall %s (%d)", nm ? nm : "?",
				 sys->si_syscall);
			free(nm);
			return 0;
		}
		const char *abbrev = sigabbrev_np(sig);
		const char *descr = sigdescr_np(sig);
		snprintf(buf, len, "killed by signal %s%s (%s)%s%s", abbrev ? "SIG" : "",
			 abbrev ? abbrev : "?", descr ? descr : "unknown",
			 WCOREDUMP(wstatus) ? ", core dumped" : "",
			 sig == SIGSYS ? ": a seccomp violation, syscall not reported" : "");
		return 0;
	}
	if (WIFSTOPPED(wstatus)) {
		const char *abbrev = sigabbrev_np(WSTOPSIG(wstatus));
		snprintf(buf, len, "stopped by signal SIG%s", abbrev ? abbrev : "?");
		return 0;
	}
	snprintf(buf, len, "unknown wait status 0x%x", (unsigned)wstatus);
	return 0;
}
