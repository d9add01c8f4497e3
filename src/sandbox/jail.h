/*
 * The jail: runs a function in a child process confined the way every
 * crosvm device process is. In order, the child
 *
 *   1. is cloned into new user, PID, mount and IPC namespaces, and a new
 *      network namespace unless keep_net;
 *   2. sets PR_SET_PDEATHSIG(SIGKILL) and checks the parent is still there;
 *   3. maps the caller's uid and gid to 0 inside (one id each, nothing else
 *      mapped; setgroups denied);
 *   4. makes every mount private, mounts a tmpfs as the new root, bind-mounts
 *      the configured paths into it (read-only unless writable), optionally
 *      mounts a /proc for its PID namespace, pivot_roots into it, detaches the
 *      old root and remounts the root read-only;
 *   5. closes every fd not in keep_fds (close_range) except stderr, and
 *      fills fds 0-2: stdin reads EOF, stdout and stderr are the caller's
 *      stderr (so device logs land where crosvm's do, never on a stdout
 *      that may carry a guest console, and no fd received later takes
 *      their numbers);
 *   6. sets the configured rlimits;
 *   7. locks the securebits, clears the bounding and ambient sets, empties
 *      its capability sets and sets no_new_privs;
 *   8. installs the violation reporter (if violation_fd >= 0) and loads the
 *      seccomp BPF (compiled and exported by the parent beforehand, so
 *      policy errors surface in the parent and the child does not allocate);
 *   9. calls child_main(arg) and _exits with its return value.
 *
 * Why uid 0 inside: exactly one id is mapped, so the child can never become
 * another id; host access checks use the caller's real uid whatever it is
 * called inside; with the capability sets empty, the bounding set cleared,
 * SECBIT_NOROOT locked and no_new_privs, being "root" in the namespace
 * grants nothing, not even across execve. And it is what crosvm's devices
 * (p9, virtio-fs with the default `0 <euid> 1` maps) expect to be.
 *
 * A failure in steps 2-8 is written by the child to a CLOEXEC pipe as
 * (step, errno); the parent reaps the child and sandbox_jail_spawn returns
 * -errno with "jail NAME: setup step 'STEP' failed: cause" in err. A
 * successful setup writes a "ready" record after the filter is loaded
 * (so the policy must allow write, as common_device.policy does); a child
 * that dies before either record makes spawn return -ECHILD with how it
 * died.
 *
 * The child is made with a raw clone3 (fork semantics, no atfork handlers):
 * between clone and child_main it only makes syscalls on memory prepared by
 * the parent, so a multi-threaded caller is safe. PR_SET_PDEATHSIG fires
 * when the *thread* that spawned the child exits: spawn from a long-lived
 * thread (crosvm's main thread).
 */
#ifndef CROSVM_SANDBOX_JAIL_H
#define CROSVM_SANDBOX_JAIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "sandbox/policy.h"

#define SANDBOX_JAIL_MAX_BINDS 32
#define SANDBOX_JAIL_MAX_KEEP_FDS 64

struct jail_bind {
	const char *src; /* borrowed; absolute host path (directory or file) */
	const char *dst; /* borrowed; absolute path inside, NULL = same as src */
	bool writable;   /* default read-only */
};

struct jail_rlimit {
	int resource; /* RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_AS, ... */
	rlim_t cur;
	rlim_t max;
};

struct jail_config {
	const char *name;    /* borrowed; the device name, for messages */
	bool keep_net;       /* share the host's network namespace (net device with a TAP fd
			      * does not need it; a device opening host sockets does) */
	bool mount_proc;     /* mount a /proc of the new PID namespace at /proc */
	const struct jail_bind *binds; /* borrowed, nbinds <= SANDBOX_JAIL_MAX_BINDS */
	size_t nbinds;
	const int *keep_fds; /* borrowed: fds the child keeps, same numbers */
	size_t nkeep_fds;    /* <= SANDBOX_JAIL_MAX_KEEP_FDS */
	const struct jail_rlimit *rlimits; /* borrowed */
	size_t nrlimits;
	const struct sandbox_bpf *seccomp; /* borrowed; NULL = no filter (tests only) */
	int violation_fd;    /* -1, or the write end of a pipe (kept in the child) the
			      * SIGSYS reporter writes to: see sandbox_violation_read */
};

/*
 * Spawns child_main(arg) in a jail described by c (borrowed; only needed
 * during the call). On success *pid_out is the child's PID (the caller
 * reaps it) and 0 is returned once the child's setup is complete. On
 * failure returns -errno: -EINVAL for a bad config, or the child's failing
 * step's errno after it has been reaped, -ECHILD if it died in setup
 * (reaped too); err says which step and why.
 *
 * The child is PID 1 of its namespace: it must reap any children it
 * forks, and from the parent only SIGKILL (or signals it handles) reach it.
 */
int sandbox_jail_spawn(const struct jail_config *c, int (*child_main)(void *), void *arg,
		       pid_t *pid_out, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Seccomp violations. A SECCOMP_RET_KILL_PROCESS death is visible to the
 * parent only as "killed by SIGSYS": waitid(P_PID, pid, &si, WEXITED |
 * WNOWAIT) gives a SIGCHLD siginfo (si_code CLD_KILLED/CLD_DUMPED,
 * si_status SIGSYS) that has no si_syscall — that field exists only in the
 * SIGSYS siginfo the kernel delivers to the dying process itself. So for
 * the syscall's name, compile with SANDBOX_VIOLATION_TRAP and give the jail
 * a violation_fd: the child's SIGSYS handler writes (syscall, arch) there,
 * then re-executes the syscall with SIGSYS reset to default, so the child
 * still dies of SIGSYS (it never continues past a blocked syscall). The
 * parent reads the record with sandbox_violation_read into a siginfo_t.
 *
 * sandbox_violation_reporter installs that handler in the calling process
 * (the jail does it for violation_fd; usable after a plain fork too).
 */
int sandbox_violation_reporter(int fd) __attribute__((warn_unused_result));

/* Reads one report from fd (non-blocking use is fine). Returns 1 and fills
 * si (si_signo SIGSYS, si_code SYS_SECCOMP, si_syscall, si_arch), 0 if
 * there is none (EOF, EAGAIN), or -errno. */
int sandbox_violation_read(int fd, siginfo_t *si) __attribute__((warn_unused_result));

/* Converts a waitid() siginfo (CLD_EXITED/KILLED/DUMPED) to a wait status. */
int sandbox_wstatus_from_siginfo(const siginfo_t *si);

/*
 * One line describing a child's end, e.g. "exited with status 1", "killed
 * by signal SIGSEGV (Segmentation fault), core dumped", "blocked by seccomp:
 * syscall acct (163)". `sys` is NULL or a SIGSYS siginfo from
 * sandbox_violation_read; with it a SIGSYS death names the syscall. Always
 * NUL-terminates buf (len > 0). Returns 0 or -EINVAL (len == 0).
 */
int sandbox_describe_exit(int wstatus, const siginfo_t *sys, char *buf, size_t len);

#endif
