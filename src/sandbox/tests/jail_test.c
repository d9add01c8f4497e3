/*
 * Unit tests for the jail: a spawned child is PID 1 of its namespace, sees
 * an empty root holding only its bind mounts (read-only unless asked),
 * runs with no_new_privs, no capabilities and a seccomp filter, holds only
 * the fds it was given (and stdin at EOF, stdout and stderr on our
 * stderr), has its rlimits; a failing setup step is reported
 * by name; the shipped common_device.policy carries an epoll + eventfd
 * loop; a violation in a jailed child is named. Needs user namespaces:
 * without them every test skips, saying why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static char userns_skip_reason[400];

static int child_exit0(void *arg)
{
	(void)arg;
	return 0;
}

/* Probes once whether a minimal jail can be made here. */
static int group_setup(void **state)
{
	(void)state;
	struct jail_config c = { .name = "probe", .violation_fd = -1 };
	pid_t pid;
	char err[256];
	int r = sandbox_jail_spawn(&c, child_exit0, NULL, &pid, err, sizeof(err));
	if (r < 0) {
		snprintf(userns_skip_reason, sizeof(userns_skip_reason),
			 "user namespaces unavailable here, jail tests skipped: %s", err);
		return 0;
	}
	int ws;
	waitpid(pid, &ws, 0);
	return 0;
}

static void require_userns(void)
{
	if (userns_skip_reason[0]) {
		print_message("[  SKIP    ] %s\n", userns_skip_reason);
		skip();
	}
}

/* Compiles `extra` plus an @include of the shipped common policy. */
static void compile_with_common(const char *extra, enum sandbox_violation act, struct sandbox_bpf *out)
{
	char text[1024];
	snprintf(text, sizeof(text), "@include %s/common_device.policy\n%s", CROSVM_SECCOMP_DIR, extra);
	struct sandbox_policy_source src = sandbox_policy_dir_source(CROSVM_SECCOMP_DIR);
	struct sandbox_policy p;
	char err[256];
	int r = sandbox_policy_parse_text("test.policy", text, strlen(text), &src, &p, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	scmp_filter_ctx ctx;
	r = sandbox_policy_compile_parsed(&p, act, &ctx, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	sandbox_policy_free(&p);
	assert_int_equal(sandbox_bpf_export(ctx, out), 0);
	seccomp_release(ctx);
}

/* Waits for the child and describes its end, naming a reported syscall. */
static int wait_child(pid_t pid, int vio_rd, char *desc, size_t len)
{
	int ws = 0;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int got = vio_rd >= 0 ? sandbox_violation_read(vio_rd, &si) : 0;
	assert_true(got >= 0);
	sandbox_describe_exit(ws, got ? &si : NULL, desc, len);
	return ws;
}

/* ---- What the child sees ---- */

struct inspect_arg {
	int out_fd;
	int extra_fd;
};

static void status_field(FILE *out, const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) {
		fprintf(out, "%s=open:%d\n", key, errno);
		return;
	}
	char line[256];
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			char *v = line + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			fprintf(out, "%s=%s", key, v);
		}
	}
	fclose(f);
}

static void list_dir(FILE *out, const char *key, const char *path, int skip_fd_of_dir)
{
	DIR *d = opendir(path);
	if (!d) {
		fprintf(out, "%s=opendir:%d\n", key, errno);
		return;
	}
	/* Collect, sort, print: readdir order is arbitrary. */
	char names[32][64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 32) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (skip_fd_of_dir && atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(names[n++], sizeof(names[0]), "%.63s", e->d_name);
	}
	closedir(d);
	for (int i = 1; i < n; i++) {
		for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			memcpy(t, names[j], sizeof(t));
			memcpy(names[j], names[j - 1], sizeof(t));
			memcpy(names[j - 1], t, sizeof(t));
		}
	}
	fprintf(out, "%s=", key);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "," : "", names[i]);
	fprintf(out, "\n");
}

static int child_inspect(void *argp)
{
	struct inspect_arg *a = argp;
	/* Buffer everything and write it once: the fd list must not include
	 * a FILE's own fd, and one write keeps the report whole. */
	static char buf[4096];
	FILE *out = fmemopen(buf, sizeof(buf), "w");
	if (!out)
		return 10;
	fprintf(out, "pid=%d\n", (int)getpid());
	fprintf(out, "uid=%d gid=%d\n", (int)getuid(), (int)getgid());
	list_dir(out, "root", "/", 0);
	list_dir(out, "fds", "/proc/self/fd", 1);
	status_field(out, "NoNewPrivs");
	status_field(out, "CapEff");
	status_field(out, "CapPrm");
	status_field(out, "CapBnd");
	status_field(out, "Seccomp");
	char hello[16] = "";
	int fd = open("/data/hello", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, hello, sizeof(hello) - 1) : -1;
	if (n > 0)
		hello[n] = '\0';
	if (fd >= 0)
		close(fd);
	fprintf(out, "hello=%s\n", hello);
	fd = open("/data/new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	fprintf(out, "ro_create=%d\n", fd < 0 ? errno : 0);
	fd = open("/rw/new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	fprintf(out, "rw_create=%d\n", fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	fd = open("/newfile", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	fprintf(out, "root_create=%d\n", fd < 0 ? errno : 0);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	fprintf(out, "nofile=%llu/%llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	uint64_t one = 1;
	fprintf(out, "extra_write=%d\n", write(a->extra_fd, &one, sizeof(one)) == sizeof(one));
	char c;
	fprintf(out, "stdin_read=%zd\n", read(STDIN_FILENO, &c, 1));
	for (int sfd = STDOUT_FILENO; sfd <= STDERR_FILENO; sfd++) {
		struct stat st;
		if (fstat(sfd, &st) == 0)
			fprintf(out, "file%d=%lu:%lu\n", sfd, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
		else
			fprintf(out, "file%d=fstat:%d\n", sfd, errno);
	}
	static const char *const ns[] = { "user", "pid", "mnt", "ipc", "net" };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char link[64], target[64] = "";
		snprintf(link, sizeof(link), "/proc/self/ns/%s", ns[i]);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		fprintf(out, "ns_%s=%s\n", ns[i], k > 0 ? target : "?");
	}
	fclose(out);
	size_t len = strlen(buf);
	return write(a->out_fd, buf, len) == (ssize_t)len ? 0 : 11;
}

static const char *field(const char *report, const char *key, char *val, size_t len)
{
	char k[64];
	snprintf(k, sizeof(k), "\n%s=", key);
	const char *p = strstr(report, k);
	if (!p)
		return NULL;
	p += strlen(k);
	size_t n = strcspn(p, "\n");
	snprintf(val, len, "%.*s", (int)n, p);
	return val;
}

static void test_jail_view(void **state)
{
	(void)state;
	require_userns();
	char data[] = "/tmp/sandbox_jail_test.XXXXXX";
	assert_non_null(mkdtemp(data));
	char rw[] = "/tmp/sandbox_jail_rw.XXXXXX";
	assert_non_null(mkdtemp(rw));
	char path[256];
	snprintf(path, sizeof(path), "%s/hello", data);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("world", f);
	fclose(f);

	struct sandbox_bpf bpf;
	compile_with_common("openat: 1\ngetdents64: 1\ngetuid: 1\ngetgid: 1\ngetrlimit: 1\nprlimit64: 1\nreadlink: 1\nreadlinkat: 1\n",
			    SANDBOX_VIOLATION_TRAP, &bpf);
	int out[2], vio[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(vio, O_CLOEXEC), 0);
	int extra = eventfd(0, EFD_CLOEXEC);
	int stray = open("/dev/null", O_RDONLY); /* not CLOEXEC, not kept: must be closed */
	assert_true(extra >= 0 && stray >= 0);
	struct jail_bind binds[] = {
		{ .src = data, .dst = "/data" },
		{ .src = rw, .dst = "/rw", .writable = true },
	};
	int keep[] = { out[1], extra };
	struct jail_rlimit rl[] = { { RLIMIT_NOFILE, 64, 128 } };
	struct jail_config c = {
		.name = "inspect",
		.mount_proc = true,
		.binds = binds,
		.nbinds = 2,
		.keep_fds = keep,
		.nkeep_fds = 2,
		.rlimits = rl,
		.nrlimits = 1,
		.seccomp = &bpf,
		.violation_fd = vio[1],
	};
	struct inspect_arg a = { .out_fd = out[1], .extra_fd = extra };
	pid_t pid;
	char err[256];
	int r = sandbox_jail_spawn(&c, child_inspect, &a, &pid, err, sizeof(err));
	if (r)
		fail_msg("spawn: %s", err);
	close(out[1]);
	close(vio[1]);
	char report[4096] = "\n";
	size_t got = 1;
	ssize_t n;
	while ((n = read(out[0], report + got, sizeof(report) - 1 - got)) > 0)
		got += (size_t)n;
	report[got] = '\0';
	char desc[160];
	int ws = wait_child(pid, vio[0], desc, sizeof(desc));
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail_msg("child %s; report:%s", desc, report);

	char v[256], want[128];
	assert_string_equal(field(report, "pid", v, sizeof(v)), "1");
	assert_string_equal(field(report, "uid", v, sizeof(v)), "0 gid=0");
	assert_string_equal(field(report, "root", v, sizeof(v)), "data,proc,rw");
	/* Stdin..stderr, the kept fds and the violation fd; nothing else (not `stray`). */
	enum { NFDS = 6 };
	int fds[NFDS] = { 0, 1, 2, out[1], extra, vio[1] };
	/* /proc/self/fd lists names sorted as strings by our child. */
	char fdlist[NFDS][16];
	for (int i = 0; i < NFDS; i++)
		snprintf(fdlist[i], sizeof(fdlist[i]), "%d", fds[i]);
	for (int i = 1; i < NFDS; i++)
		for (int j = i; j > 0 && strcmp(fdlist[j - 1], fdlist[j]) > 0; j--) {
			char t[16];
			memcpy(t, fdlist[j], 16);
			memcpy(fdlist[j], fdlist[j - 1], 16);
			memcpy(fdlist[j - 1], t, 16);
		}
	snprintf(want, sizeof(want), "%s,%s,%s,%s,%s,%s", fdlist[0], fdlist[1], fdlist[2], fdlist[3], fdlist[4],
		 fdlist[5]);
	assert_string_equal(field(report, "fds", v, sizeof(v)), want);
	/* Stdin reads EOF; stdout and stderr are our stderr, not our stdout. */
	assert_string_equal(field(report, "stdin_read", v, sizeof(v)), "0");
	struct stat st;
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(want, sizeof(want), "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	assert_string_equal(field(report, "file1", v, sizeof(v)), want);
	assert_string_equal(field(report, "file2", v, sizeof(v)), want);
	assert_string_equal(field(report, "NoNewPrivs", v, sizeof(v)), "1");
	assert_string_equal(field(report, "CapEff", v, sizeof(v)), "0000000000000000");
	assert_string_equal(field(report, "CapPrm", v, sizeof(v)), "0000000000000000");
	assert_string_equal(field(report, "CapBnd", v, sizeof(v)), "0000000000000000");
	assert_string_equal(field(report, "Seccomp", v, sizeof(v)), "2");
	assert_string_equal(field(report, "hello", v, sizeof(v)), "world");
	snprintf(want, sizeof(want), "%d", EROFS);
	assert_string_equal(field(report, "ro_create", v, sizeof(v)), want);
	assert_string_equal(field(report, "rw_create", v, sizeof(v)), "0");
	assert_string_equal(field(report, "root_create", v, sizeof(v)), want);
	assert_string_equal(field(report, "nofile", v, sizeof(v)), "64/128");
	assert_string_equal(field(report, "extra_write", v, sizeof(v)), "1");
	/* Every namespace is new, network included (keep_net is false). */
	static const char *const ns[] = { "user", "pid", "mnt", "ipc", "net" };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		char key[16], link[64], mine[64] = "";
		snprintf(key, sizeof(key), "ns_%s", ns[i]);
		snprintf(link, sizeof(link), "/proc/self/ns/%s", ns[i]);
		assert_true(readlink(link, mine, sizeof(mine) - 1) > 0);
		assert_non_null(field(report, key, v, sizeof(v)));
		assert_true(strncmp(v, ns[i], strlen(ns[i])) == 0);
		if (strcmp(v, mine) == 0)
			fail_msg("%s namespace not new: %s", ns[i], v);
	}
	uint64_t cnt = 0;
	assert_int_equal(read(extra, &cnt, sizeof(cnt)), sizeof(cnt));
	assert_true(cnt == 1);
	/* The writable bind really was the host directory. */
	snprintf(path, sizeof(path), "%s/new", rw);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	rmdir(rw);

	close(out[0]);
	close(vio[0]);
	close(extra);
	close(stray);
	sandbox_bpf_free(&bpf);
	snprintf(path, sizeof(path), "%s/hello", data);
	unlink(path);
	rmdir(data);
}

static void test_jail_setup_failure(void **state)
{
	(void)state;
	require_userns();
	struct jail_bind binds[] = { { .src = "/nonexistent/sandbox-test" } };
	struct jail_config c = { .name = "broken", .binds = binds, .nbinds = 1, .violation_fd = -1 };
	pid_t pid = 123;
	char err[256];
	assert_int_equal(sandbox_jail_spawn(&c, child_exit0, NULL, &pid, err, sizeof(err)), -ENOENT);
	assert_int_equal(pid, -1);
	assert_string_equal(err, "jail broken: setup step 'bind mount /nonexistent/sandbox-test' failed: "
				 "No such file or directory");

	/* Config errors are caught in the parent. */
	struct jail_bind rel[] = { { .src = "relative/path" } };
	c.binds = rel;
	assert_int_equal(sandbox_jail_spawn(&c, child_exit0, NULL, &pid, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "jail broken: bind paths must be absolute, not /: relative/path");

	/* An rlimit above the hard limit: reported with the step. */
	struct jail_rlimit rl[] = { { RLIMIT_NOFILE, 10, 5 } };
	struct jail_config c2 = { .name = "rl", .rlimits = rl, .nrlimits = 1, .violation_fd = -1 };
	assert_int_equal(sandbox_jail_spawn(&c2, child_exit0, NULL, &pid, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "jail rl: setup step 'setrlimit' failed: Invalid argument");

	/* A policy without write: the child dies before its ready record. */
	struct sandbox_policy p;
	static const char text[] = "exit_group: 1\nclose: 1\n";
	assert_int_equal(sandbox_policy_parse_text("nowrite", text, sizeof(text) - 1, NULL, &p, err, sizeof(err)), 0);
	scmp_filter_ctx ctx;
	assert_int_equal(sandbox_policy_compile_parsed(&p, SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), 0);
	sandbox_policy_free(&p);
	struct sandbox_bpf bpf;
	assert_int_equal(sandbox_bpf_export(ctx, &bpf), 0);
	seccomp_release(ctx);
	struct jail_config c3 = { .name = "nowrite", .seccomp = &bpf, .violation_fd = -1 };
	assert_int_equal(sandbox_jail_spawn(&c3, child_exit0, NULL, &pid, err, sizeof(err)), -ECHILD);
	assert_non_null(strstr(err, "jail nowrite: child died during setup: killed by signal SIGSYS"));
	sandbox_bpf_free(&bpf);
}

/* A device-like loop using only what common_device.policy allows. */
static int child_event_loop(void *argp)
{
	int out_fd = *(int *)argp;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep < 0 || ev < 0)
		return 20;
	struct epoll_event e = { .events = EPOLLIN, .data.u32 = 7 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0)
		return 21;
	uint64_t total = 0;
	for (int i = 1; i <= 1000; i++) {
		uint64_t v = (uint64_t)i;
		if (write(ev, &v, sizeof(v)) != sizeof(v))
			return 22;
		struct epoll_event got;
		if (epoll_wait(ep, &got, 1, 1000) != 1 || got.data.u32 != 7)
			return 23;
		if (read(ev, &v, sizeof(v)) != sizeof(v))
			return 24;
		total += v;
		void *m = malloc(4096 + (size_t)i); /* brk/mmap under the PROT filter */
		if (!m)
			return 25;
		free(m);
	}
	close(ev);
	close(ep);
	return write(out_fd, &total, sizeof(total)) == sizeof(total) ? 0 : 26;
}

static void test_jail_common_policy_event_loop(void **state)
{
	(void)state;
	require_userns();
	struct sandbox_bpf bpf;
	compile_with_common("", SANDBOX_VIOLATION_TRAP, &bpf);
	int out[2], vio[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(vio, O_CLOEXEC), 0);
	struct jail_config c = {
		.name = "loop",
		.keep_fds = &out[1],
		.nkeep_fds = 1,
		.seccomp = &bpf,
		.violation_fd = vio[1],
	};
	pid_t pid;
	char err[256];
	int r = sandbox_jail_spawn(&c, child_event_loop, &out[1], &pid, err, sizeof(err));
	if (r)
		fail_msg("spawn: %s", err);
	close(out[1]);
	close(vio[1]);
	uint64_t total = 0;
	ssize_t n = read(out[0], &total, sizeof(total));
	char desc[160];
	int ws = wait_child(pid, vio[0], desc, sizeof(desc));
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail_msg("event loop child %s", desc);
	assert_int_equal(n, sizeof(total));
	assert_true(total == 1000 * 1001 / 2);
	close(out[0]);
	close(vio[0]);
	sandbox_bpf_free(&bpf);
}

static int child_violate(void *arg)
{
	(void)arg;
	syscall(SYS_acct, NULL);
	return 0;
}

static void test_jail_violation_named(void **state)
{
	(void)state;
	require_userns();
	struct sandbox_bpf bpf;
	compile_with_common("", SANDBOX_VIOLATION_TRAP, &bpf);
	int vio[2];
	assert_int_equal(pipe2(vio, O_CLOEXEC), 0);
	struct jail_config c = { .name = "bad", .seccomp = &bpf, .violation_fd = vio[1] };
	pid_t pid;
	char err[256];
	int r = sandbox_jail_spawn(&c, child_violate, NULL, &pid, err, sizeof(err));
	if (r)
		fail_msg("spawn: %s", err);
	close(vio[1]);
	/* Peek with waitid(WNOWAIT) as a supervisor would, then reap. */
	siginfo_t cld;
	memset(&cld, 0, sizeof(cld));
	assert_int_equal(waitid(P_PID, (id_t)pid, &cld, WEXITED | WNOWAIT), 0);
	int ws = sandbox_wstatus_from_siginfo(&cld);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGSYS);
	char desc[160];
	ws = wait_child(pid, vio[0], desc, sizeof(desc));
	assert_string_equal(desc, "blocked by seccomp: syscall acct (163)");
	close(vio[0]);
	sandbox_bpf_free(&bpf);
}

static int child_file_bind(void *argp)
{
	int out_fd = *(int *)argp;
	/* The bound file is there; nothing else of the host is. */
	int v = (access("/etc/hostname", R_OK) == 0) | (access("/sys", F_OK) < 0) << 1 |
		(access("/etc/passwd", F_OK) < 0) << 2;
	return write(out_fd, &v, sizeof(v)) == sizeof(v) ? 0 : 30;
}

static void test_jail_file_bind_no_filter(void **state)
{
	(void)state;
	require_userns();
	if (access("/etc/hostname", R_OK) < 0)
		skip();
	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	struct jail_bind binds[] = { { .src = "/etc/hostname" } };
	struct jail_config c = {
		.name = "nofilter",
		.keep_net = true,
		.binds = binds,
		.nbinds = 1,
		.keep_fds = &out[1],
		.nkeep_fds = 1,
		.violation_fd = -1,
	};
	pid_t pid;
	char err[256];
	int r = sandbox_jail_spawn(&c, child_file_bind, &out[1], &pid, err, sizeof(err));
	if (r)
		fail_msg("spawn: %s", err);
	close(out[1]);
	int v = -1;
	assert_int_equal(read(out[0], &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 7);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(out[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jail_view),
		cmocka_unit_test(test_jail_setup_failure),
		cmocka_unit_test(test_jail_common_policy_event_loop),
		cmocka_unit_test(test_jail_violation_named),
		cmocka_unit_test(test_jail_file_bind_no_filter),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
