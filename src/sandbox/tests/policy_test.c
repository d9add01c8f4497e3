/*
 * Unit tests for the seccomp policy parser and compiler: good files parse
 * to the expected rules, each kind of error names FILE:LINE, includes are
 * followed (once, with cycles and depth refused), and a compiled filter
 * really allows, fails and kills syscalls in a forked child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* ---- An in-memory policy source ---- */

struct mem_file {
	const char *name;
	const char *text;
};

static int mem_read(void *ctx, const char *name, char **text, size_t *len)
{
	for (const struct mem_file *f = ctx; f->name; f++) {
		if (strcmp(f->name, name) == 0) {
			*text = strdup(f->text);
			if (!*text)
				return -ENOMEM;
			*len = strlen(f->text);
			return 0;
		}
	}
	return -ENOENT;
}

static int parse_mem(const struct mem_file *files, const char *top, struct sandbox_policy *p, char *err,
		     size_t errlen)
{
	/* SAFETY: mem_read only reads the table. */
	struct sandbox_policy_source src = { .read = mem_read, .ctx = (void *)files };
	return sandbox_policy_parse(top, &src, p, err, errlen);
}

static int parse_str(const char *text, struct sandbox_policy *p, char *err, size_t errlen)
{
	return sandbox_policy_parse_text("t.policy", text, strlen(text), NULL, p, err, errlen);
}

static const struct sandbox_rule *rule(const struct sandbox_policy *p, const char *name)
{
	for (size_t i = 0; i < p->nrules; i++) {
		if (strcmp(p->rules[i].syscall, name) == 0)
			return &p->rules[i];
	}
	return NULL;
}

static void test_parse_good(void **state)
{
	(void)state;
	const char *text = "# a comment\n"
			   "\n"
			   "   read: 1   # trailing comment\n"
			   "getpid: return EPERM\n"
			   "gettid: return 38\n"
			   "mmap: arg2 in ~PROT_EXEC\n"
			   "ioctl: arg1 == FIONBIO || arg1 == 0x400454d0 || arg1 == TUNSETVNETHDRSZ\n"
			   "fcntl: arg1 == F_SETFL && arg2 & (O_NONBLOCK|O_CLOEXEC)\n"
			   "lseek: arg2 <= 1 && arg0 != 3 && arg1 < 10 && arg3 > 1 && arg4 >= 2 && arg5 == 0\n"
			   "ioctl: arg1 == TUNSETQUEUE\n"
			   "write: arg0 == 1\n"
			   "write: 1\n"
			   "write: arg0 == 2\n"
			   "getpid: return 1\r\n";
	struct sandbox_policy p;
	char err[256];
	/* "getpid: return 1" after "return EPERM" is the same errno: merged. */
	assert_int_equal(parse_str(text, &p, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(p.nrules, 8);

	const struct sandbox_rule *r = rule(&p, "read");
	assert_non_null(r);
	assert_int_equal(r->action, SANDBOX_RULE_ALLOW);
	assert_int_equal(r->nclauses, 0);
	assert_int_equal(r->line, 3);
	assert_string_equal(r->file, "t.policy");

	r = rule(&p, "getpid");
	assert_int_equal(r->action, SANDBOX_RULE_ERRNO);
	assert_int_equal(r->errno_val, EPERM);
	assert_int_equal(rule(&p, "gettid")->errno_val, 38);

	r = rule(&p, "mmap");
	assert_int_equal(r->nclauses, 1);
	assert_int_equal(r->clauses[0].ncmp, 1);
	assert_int_equal(r->clauses[0].cmp[0].arg, 2);
	assert_int_equal(r->clauses[0].cmp[0].op, SANDBOX_CMP_MASK_IN);
	assert_true(r->clauses[0].cmp[0].value == ~(uint64_t)4);

	r = rule(&p, "ioctl"); /* two lines merged: 3 + 1 clauses */
	assert_int_equal(r->nclauses, 4);
	assert_true(r->clauses[0].cmp[0].value == FIONBIO);
	assert_true(r->clauses[1].cmp[0].value == 0x400454d0);
	assert_true(r->clauses[3].cmp[0].value == 0x400454d9); /* TUNSETQUEUE */

	r = rule(&p, "fcntl");
	assert_int_equal(r->nclauses, 1);
	assert_int_equal(r->clauses[0].ncmp, 2);
	assert_int_equal(r->clauses[0].cmp[1].op, SANDBOX_CMP_MASK_ANY);
	assert_true(r->clauses[0].cmp[1].value == (O_NONBLOCK | O_CLOEXEC));

	r = rule(&p, "lseek");
	assert_int_equal(r->clauses[0].ncmp, 6);
	assert_int_equal(r->clauses[0].cmp[0].op, SANDBOX_CMP_LE);
	assert_int_equal(r->clauses[0].cmp[1].op, SANDBOX_CMP_NE);
	assert_int_equal(r->clauses[0].cmp[2].op, SANDBOX_CMP_LT);
	assert_int_equal(r->clauses[0].cmp[3].op, SANDBOX_CMP_GT);
	assert_int_equal(r->clauses[0].cmp[4].op, SANDBOX_CMP_GE);
	assert_int_equal(r->clauses[0].cmp[5].op, SANDBOX_CMP_EQ);

	/* An unconditional allow absorbs the conditions before and after it. */
	r = rule(&p, "write");
	assert_int_equal(r->nclauses, 0);
	sandbox_policy_free(&p);
	sandbox_policy_free(&p); /* idempotent */
}

struct bad_case {
	const char *text;
	const char *want; /* the whole message */
};

static void test_parse_errors(void **state)
{
	(void)state;
	char longline[SANDBOX_POLICY_MAX_LINE + 40];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	char big[SANDBOX_POLICY_MAX_LINE + 60];
	snprintf(big, sizeof(big), "read: 1\n%s: 1\n", longline);
	static const struct bad_case cases[] = {
		{ "read 1\n", "t.policy:1: expected ':' after 'read'" },
		{ "\nread:\n", "t.policy:2: 'read' has no action (1, return ERRNO or a condition)" },
		{ "read: 2\n", "t.policy:1: 'read: 2': the only bare number allowed is 1" },
		{ "read: 1 1\n", "t.policy:1: unexpected '1' after '1'" },
		{ "ioctl: arg1 == NOT_A_CONSTANT\n", "t.policy:1: unknown constant 'NOT_A_CONSTANT'" },
		{ "read: 1\nioctl: arg6 == 1\n", "t.policy:2: expected arg0..arg5, got 'arg6'" },
		{ "ioctl: arg1 = 1\n", "t.policy:1: unexpected character '='" },
		{ "ioctl: arg1 == 1 && arg1 == 2\n", "t.policy:1: arg1 compared twice in one && group" },
		{ "ioctl: arg1 == 0xZZ\n", "t.policy:1: bad number '0xZZ'" },
		{ "ioctl: arg1 == 1 ||\n", "t.policy:1: expected arg0..arg5, got 'end of line'" },
		{ "ioctl: arg1 == 1 arg2\n", "t.policy:1: expected '||', '&&' or end of line, got 'arg2'" },
		{ "ioctl: arg1 == 1; return EPERM\n", "t.policy:1: '; return' after a condition is not supported" },
		{ "ioctl: arg1 ~ 1\n",
		  "t.policy:1: expected a comparison (== != < <= > >= & in) after arg1, got '~'" },
		{ "getpid: return EWHATEVER\n", "t.policy:1: unknown errno 'EWHATEVER'" },
		{ "getpid: return 5000\n", "t.policy:1: errno 5000 out of range (0..4095)" },
		{ "@frequency x\n", "t.policy:1: unknown directive '@frequency'" },
		{ "@include\n", "t.policy:1: @include needs a file name" },
		{ "@include a.policy\n", "t.policy:1: @include a.policy: includes are not available here" },
		{ "read: 1\n\n# x\nread: return EPERM\n", "t.policy:4: 'read' conflicts with the rule at t.policy:1" },
		{ "getpid: return 1\ngetpid: return 2\n", "t.policy:2: 'getpid' conflicts with the rule at t.policy:1" },
		{ "read: 1\n\x01\n", "t.policy:2: unexpected byte 0x01" },
		{ "ioctl: arg1 == (1\n", "t.policy:1: expected ')', got 'end of line'" },
	};
	char err[256];
	struct sandbox_policy p;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse_str(cases[i].text, &p, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu: got %d '%s', want '%s'", i, r, err, cases[i].want);
		sandbox_policy_free(&p);
	}
	assert_int_equal(parse_str(big, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.policy:2: line longer than 1024 bytes");
	sandbox_policy_free(&p);

	/* A NUL byte inside the text. */
	static const char nul[] = "read: 1\nwri\0te: 1\n";
	assert_int_equal(sandbox_policy_parse_text("t.policy", nul, sizeof(nul) - 1, NULL, &p, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "t.policy:2: NUL byte in line");
	sandbox_policy_free(&p);

	/* A tiny error buffer is still terminated, never overrun. */
	char small[8];
	assert_int_equal(parse_str("read 1\n", &p, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "t.polic");
	sandbox_policy_free(&p);
}

static void test_includes(void **state)
{
	(void)state;
	static const struct mem_file files[] = {
		{ "main.policy", "@include a.policy\n@include b.policy\nread: 1\n" },
		{ "a.policy", "# a\n@include c.policy\nwrite: 1\n" },
		{ "b.policy", "@include c.policy\nclose: 1\n" }, /* c again: skipped */
		{ "c.policy", "getpid: return EPERM\nioctl: arg1 == FIONBIO\n" },
		{ "cyc1.policy", "read: 1\n@include cyc2.policy\n" },
		{ "cyc2.policy", "\n\n@include cyc3.policy\n" },
		{ "cyc3.policy", "@include cyc1.policy\n" },
		{ "self.policy", "@include self.policy\n" },
		{ "miss.policy", "read: 1\n@include nope.policy\n" },
		{ "bad_inner.policy", "read: 1\n@include bad.policy\nwrite: 1\n" },
		{ "bad.policy", "# x\nfoo: bar\n" },
		{ "d0", "@include d1\n" }, { "d1", "@include d2\n" }, { "d2", "@include d3\n" },
		{ "d3", "@include d4\n" }, { "d4", "@include d5\n" }, { "d5", "@include d6\n" },
		{ "d6", "@include d7\n" }, { "d7", "@include d8\n" }, { "d8", "@include d9\n" },
		{ "d9", "read: 1\n" },
		{ NULL, NULL },
	};
	struct sandbox_policy p;
	char err[256];
	assert_int_equal(parse_mem(files, "main.policy", &p, err, sizeof(err)), 0);
	assert_int_equal(p.nrules, 5);
	assert_int_equal(p.nfiles, 4);
	const struct sandbox_rule *r = rule(&p, "ioctl");
	assert_string_equal(r->file, "c.policy");
	assert_int_equal(r->line, 2);
	assert_string_equal(rule(&p, "read")->file, "main.policy");
	assert_int_equal(rule(&p, "read")->line, 3);
	sandbox_policy_free(&p);

	assert_int_equal(parse_mem(files, "cyc1.policy", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cyc3.policy:1: include cycle: cyc1.policy -> cyc2.policy -> cyc3.policy -> cyc1.policy");
	sandbox_policy_free(&p);
	assert_int_equal(parse_mem(files, "self.policy", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "self.policy:1: include cycle: self.policy -> self.policy");
	sandbox_policy_free(&p);
	assert_int_equal(parse_mem(files, "miss.policy", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "miss.policy:2: missing include 'nope.policy'");
	sandbox_policy_free(&p);
	/* An error in an included file names that file and its line. */
	assert_int_equal(parse_mem(files, "bad_inner.policy", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad.policy:2: expected arg0..arg5, got 'bar'");
	sandbox_policy_free(&p);
	assert_int_equal(parse_mem(files, "d0", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "d7:1: @include nested deeper than 8");
	sandbox_policy_free(&p);
	assert_int_equal(parse_mem(files, "absent.policy", &p, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "absent.policy: No such file or directory");
	sandbox_policy_free(&p);
}

static void test_constants(void **state)
{
	(void)state;
	uint64_t v;
	assert_true(sandbox_policy_constant("PROT_WRITE", &v));
	assert_true(v == 2);
	assert_true(sandbox_policy_constant("AF_VSOCK", &v));
	assert_true(v == 40);
	assert_true(sandbox_policy_constant("TUNSETOFFLOAD", &v));
	assert_true(v == 0x400454d0);
	assert_true(sandbox_policy_constant("EFD_NONBLOCK", &v));
	assert_true(v == 04000);
	assert_false(sandbox_policy_constant("PROT_NOPE", &v));
}

static void test_compile_errors(void **state)
{
	(void)state;
	struct sandbox_policy p;
	char err[256];
	scmp_filter_ctx ctx;
	assert_int_equal(parse_str("read: 1\nnot_a_syscall: 1\n", &p, err, sizeof(err)), 0);
	assert_int_equal(sandbox_policy_compile_parsed(&p, SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), -EINVAL);
	assert_null(ctx);
	assert_string_equal(err, "t.policy:2: unknown syscall 'not_a_syscall'");
	sandbox_policy_free(&p);

	assert_int_equal(parse_str("socketcall: 1\n", &p, err, sizeof(err)), 0);
	assert_int_equal(sandbox_policy_compile_parsed(&p, SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.policy:1: unknown syscall 'socketcall' (not on this architecture)");
	sandbox_policy_free(&p);

	/* Three 64-bit masks multiply out to 64^3 rules: refused. */
	assert_int_equal(parse_str("ioctl: arg0 & ~0 && arg1 & ~0 && arg2 & ~0\n", &p, err, sizeof(err)), 0);
	assert_int_equal(sandbox_policy_compile_parsed(&p, SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.policy:1: 'ioctl': condition expands to more than 256 filter rules");
	sandbox_policy_free(&p);
}

static void test_compile_dir(void **state)
{
	(void)state;
	char dir[] = "/tmp/sandbox_policy_test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/dev.policy", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "@include %s/common_device.policy\nopenat: 1\n", CROSVM_SECCOMP_DIR);
	fclose(f);
	snprintf(path, sizeof(path), "%s/broken.policy", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "@include dev.policy\n@include nothere.policy\n");
	fclose(f);

	scmp_filter_ctx ctx;
	char err[256];
	int r = sandbox_policy_compile(dir, "dev", SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	struct sandbox_bpf bpf;
	assert_int_equal(sandbox_bpf_export(ctx, &bpf), 0);
	assert_true(bpf.len > 10);
	sandbox_bpf_free(&bpf);
	sandbox_bpf_free(&bpf);
	seccomp_release(ctx);

	assert_int_equal(sandbox_policy_compile(dir, "dev.policy", SANDBOX_VIOLATION_LOG, &ctx, err, sizeof(err)), 0);
	seccomp_release(ctx);
	assert_int_equal(sandbox_policy_compile(dir, "broken", SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "broken.policy:2: missing include 'nothere.policy'");
	assert_int_equal(sandbox_policy_compile(dir, "absent", SANDBOX_VIOLATION_KILL, &ctx, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "absent.policy: No such file or directory");

	/* The shipped common policy compiles on its own. */
	assert_int_equal(sandbox_policy_compile(CROSVM_SECCOMP_DIR, "common_device", SANDBOX_VIOLATION_TRAP, &ctx,
						err, sizeof(err)),
			 0);
	seccomp_release(ctx);

	snprintf(path, sizeof(path), "%s/dev.policy", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/broken.policy", dir);
	unlink(path);
	rmdir(dir);
}

/* ---- Filters in a forked child ---- */

struct run {
	int wstatus;
	siginfo_t sys; /* si_signo 0 when nothing was reported */
	long results[8];
	int nresults;
};

/* Runs fn() in a fork under the filter `text`; fn writes longs to fd. */
static void run_filtered(const char *text, enum sandbox_violation act, void (*fn)(int fd), struct run *out)
{
	struct sandbox_policy p;
	char err[256];
	assert_int_equal(parse_str(text, &p, err, sizeof(err)), 0);
	scmp_filter_ctx ctx;
	int r = sandbox_policy_compile_parsed(&p, act, &ctx, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	sandbox_policy_free(&p);
	int res[2], vio[2];
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	assert_int_equal(pipe2(vio, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		if (act == SANDBOX_VIOLATION_TRAP && sandbox_violation_reporter(vio[1]) < 0)
			_exit(120);
		if (sandbox_policy_load(ctx) < 0)
			_exit(121);
		fn(res[1]);
		_exit(0);
	}
	seccomp_release(ctx);
	close(res[1]);
	close(vio[1]);
	memset(out, 0, sizeof(*out));
	ssize_t n;
	while (out->nresults < 8 && (n = read(res[0], &out->results[out->nresults], sizeof(long))) == sizeof(long))
		out->nresults++;
	assert_int_equal(waitpid(pid, &out->wstatus, 0), pid);
	assert_true(sandbox_violation_read(vio[0], &out->sys) >= 0);
	close(res[0]);
	close(vio[0]);
}

static void put(int fd, long v)
{
	(void)!write(fd, &v, sizeof(v));
}

static void fn_errno_then_violate(int fd)
{
	long r = syscall(SYS_getpid);
	put(fd, r);
	put(fd, errno);
	syscall(SYS_acct, NULL); /* unlisted */
	put(fd, 999);            /* never reached */
}

static const char base_policy[] = "write: 1\nexit_group: 1\nexit: 1\nrt_sigreturn: 1\n";

static void test_filter_errno_and_kill(void **state)
{
	(void)state;
	char text[512];
	snprintf(text, sizeof(text), "%sgetpid: return 1\n", base_policy);
	struct run run;
	run_filtered(text, SANDBOX_VIOLATION_KILL, fn_errno_then_violate, &run);
	assert_int_equal(run.nresults, 2);
	assert_int_equal(run.results[0], -1);
	assert_int_equal(run.results[1], EPERM);
	assert_true(WIFSIGNALED(run.wstatus));
	assert_int_equal(WTERMSIG(run.wstatus), SIGSYS);
	assert_int_equal(run.sys.si_signo, 0); /* KILL: nothing reported */
	char buf[160];
	assert_int_equal(sandbox_describe_exit(run.wstatus, NULL, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "killed by signal SIGSYS"));
	assert_non_null(strstr(buf, "seccomp violation, syscall not reported"));
}

static void test_filter_trap_names_syscall(void **state)
{
	(void)state;
	char text[512];
	snprintf(text, sizeof(text), "%sgetpid: return EPERM\n", base_policy);
	struct run run;
	run_filtered(text, SANDBOX_VIOLATION_TRAP, fn_errno_then_violate, &run);
	assert_int_equal(run.nresults, 2); /* the violating syscall did not come back */
	assert_true(WIFSIGNALED(run.wstatus));
	assert_int_equal(WTERMSIG(run.wstatus), SIGSYS);
	assert_int_equal(run.sys.si_signo, SIGSYS);
	assert_int_equal(run.sys.si_syscall, SYS_acct);
	char buf[160];
	assert_int_equal(sandbox_describe_exit(run.wstatus, &run.sys, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "blocked by seccomp: syscall acct (163)");
}

static void fn_conditions(int fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		_exit(122);
	/* lseek on a pipe: allowed calls fail with ESPIPE, not SIGSYS. */
	put(fd, syscall(SYS_lseek, p[0], 0, SEEK_SET) < 0 ? errno : 0);
	put(fd, syscall(SYS_lseek, p[0], 0, SEEK_CUR) < 0 ? errno : 0);
	/* fcntl: F_GETFD by ==, F_DUPFD_CLOEXEC (0x406) through the 0x400 mask. */
	put(fd, syscall(SYS_fcntl, p[0], F_GETFD) >= 0);
	put(fd, syscall(SYS_fcntl, p[0], F_DUPFD_CLOEXEC, 0) >= 0);
	syscall(SYS_lseek, p[0], 0, SEEK_END); /* arg2 == 2: not in 0x1 */
	put(fd, 999);
}

static void test_filter_conditions(void **state)
{
	(void)state;
	char text[512];
	snprintf(text, sizeof(text), "%spipe2: 1\nlseek: arg2 in 0x1\nfcntl: arg1 == F_GETFD || arg1 & 0x400\n",
		 base_policy);
	struct run run;
	run_filtered(text, SANDBOX_VIOLATION_TRAP, fn_conditions, &run);
	assert_int_equal(run.nresults, 4);
	assert_int_equal(run.results[0], ESPIPE);
	assert_int_equal(run.results[1], ESPIPE);
	assert_int_equal(run.results[2], 1);
	assert_int_equal(run.results[3], 1);
	assert_int_equal(WTERMSIG(run.wstatus), SIGSYS);
	assert_int_equal(run.sys.si_syscall, SYS_lseek);
}

static void fn_log_only(int fd)
{
	put(fd, syscall(SYS_getppid) > 0); /* unlisted, but LOG allows it */
}

static void test_filter_log(void **state)
{
	(void)state;
	struct run run;
	run_filtered(base_policy, SANDBOX_VIOLATION_LOG, fn_log_only, &run);
	assert_int_equal(run.nresults, 1);
	assert_int_equal(run.results[0], 1);
	assert_true(WIFEXITED(run.wstatus));
	assert_int_equal(WEXITSTATUS(run.wstatus), 0);
}

static void test_describe_exit(void **state)
{
	(void)state;
	char buf[160];
	assert_int_equal(sandbox_describe_exit(3 << 8, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "exited with status 3");
	assert_int_equal(sandbox_describe_exit(SIGSEGV | 0x80, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "killed by signal SIGSEGV (Segmentation fault), core dumped");
	assert_int_equal(sandbox_describe_exit(SIGKILL, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "killed by signal SIGKILL (Killed)");
	assert_int_equal(sandbox_describe_exit(0, NULL, buf, 0), -EINVAL);
	char tiny[6];
	assert_int_equal(sandbox_describe_exit(SIGKILL, NULL, tiny, sizeof(tiny)), 0);
	assert_string_equal(tiny, "kille");

	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = CLD_EXITED;
	si.si_status = 7;
	assert_int_equal(WEXITSTATUS(sandbox_wstatus_from_siginfo(&si)), 7);
	si.si_code = CLD_DUMPED;
	si.si_status = SIGSYS;
	int ws = sandbox_wstatus_from_siginfo(&si);
	assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGSYS && WCOREDUMP(ws));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_includes),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_compile_dir),
		cmocka_unit_test(test_filter_errno_and_kill),
		cmocka_unit_test(test_filter_trap_names_syscall),
		cmocka_unit_test(test_filter_conditions),
		cmocka_unit_test(test_filter_log),
		cmocka_unit_test(test_describe_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
