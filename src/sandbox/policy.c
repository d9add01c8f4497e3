/*
 * The seccomp policy compiler: a parsed policy (policy_parse.c) becomes a
 * libseccomp filter for the native architecture, and that filter becomes
 * BPF the jail can load in a freshly cloned child without allocating.
 *
 * Each rule's `||` terms become separate libseccomp rules with the same
 * action (libseccomp or-s rules of one syscall). `argN & M` (true when any
 * bit of M is set) has no single libseccomp comparison, so it expands to
 * one SCMP_CMP_MASKED_EQ(bit, bit) per bit of M, multiplied out across the
 * `&&` group; the expansion is capped per syscall. `argN in M` is a single
 * SCMP_CMP_MASKED_EQ(~M, 0).
 */
#include "sandbox/policy.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fd.h"

/* Cap on libseccomp rules one syscall may expand to. */
#define MAX_EXPANDED 256

struct emit {
	scmp_filter_ctx ctx;
	const struct sandbox_rule *rule;
	int nr;
	unsigned count;
	char *err;
	size_t errlen;
};

static int emit_fail(struct emit *e, const char *what, int r)
{
	if (e->err && e->errlen)
		snprintf(e->err, e->errlen, "%s:%u: '%s': %s%s%s", e->rule->file, e->rule->line,
			 e->rule->syscall, what, r ? ": " : "", r ? strerror(-r) : "");
	return -EINVAL;
}

static enum scmp_compare scmp_op(enum sandbox_cmp_op op)
{
	switch (op) {
	case SANDBOX_CMP_EQ: return SCMP_CMP_EQ;
	case SANDBOX_CMP_NE: return SCMP_CMP_NE;
	case SANDBOX_CMP_LT: return SCMP_CMP_LT;
	case SANDBOX_CMP_LE: return SCMP_CMP_LE;
	case SANDBOX_CMP_GT: return SCMP_CMP_GT;
	case SANDBOX_CMP_GE: return SCMP_CMP_GE;
	default: return SCMP_CMP_MASKED_EQ;
	}
}

/* Emits the clause from comparison i on, with out[0..i) already built. */
static int emit_clause(struct emit *e, const struct sandbox_clause *c, unsigned i,
		       struct scmp_arg_cmp *out)
{
	if (i == c->ncmp) {
		if (++e->count > MAX_EXPANDED)
			return emit_fail(e, "condition expands to more than 256 filter rules", 0);
		int r = seccomp_rule_add_array(e->ctx, SCMP_ACT_ALLOW, e->nr, c->ncmp, out);
		if (r == -EEXIST)
			return 0;
		if (r < 0)
			return emit_fail(e, "libseccomp rejected the rule", r);
		return 0;
	}
	const struct sandbox_cmp *k = &c->cmp[i];
	out[i].arg = k->arg;
	if (k->op == SANDBOX_CMP_MASK_ANY) {
		/* An empty mask is never true: the group allows nothing. */
		for (unsigned b = 0; b < 64; b++) {
			uint64_t bit = 1ull << b;
			if (!(k->value & bit))
				continue;
			out[i].op = SCMP_CMP_MASKED_EQ;
			out[i].datum_a = bit;
			out[i].datum_b = bit;
			int r = emit_clause(e, c, i + 1, out);
			if (r < 0)
				return r;
		}
		return 0;
	}
	out[i].op = scmp_op(k->op);
	if (k->op == SANDBOX_CMP_MASK_IN) {
		out[i].datum_a = ~k->value;
		out[i].datum_b = 0;
	} else {
		out[i].datum_a = k->value;
		out[i].datum_b = 0;
	}
	return emit_clause(e, c, i + 1, out);
}

static uint32_t default_action(enum sandbox_violation v)
{
	switch (v) {
	case SANDBOX_VIOLATION_TRAP: return SCMP_ACT_TRAP;
	case SANDBOX_VIOLATION_LOG: return SCMP_ACT_LOG;
	default: return SCMP_ACT_KILL_PROCESS;
	}
}

int sandbox_policy_compile_parsed(const struct sandbox_policy *p, enum sandbox_violation on_violation,
				  scmp_filter_ctx *out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	scmp_filter_ctx ctx = seccomp_init(default_action(on_violation));
	if (!ctx)
		return -ENOMEM;
	int r = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct sandbox_rule *rule = &p->rules[i];
		struct emit e = { .ctx = ctx, .rule = rule, .err = err, .errlen = errlen };
		e.nr = seccomp_syscall_resolve_name(rule->syscall);
		/* Negative numbers other than the error are libseccomp's pseudo
		 * syscalls: names of other architectures (socketcall, _llseek). */
		if (e.nr < 0) {
			if (err && errlen)
				snprintf(err, errlen, "%s:%u: unknown syscall '%s'%s", rule->file, rule->line,
					 rule->syscall,
					 e.nr == __NR_SCMP_ERROR ? "" : " (not on this architecture)");
			r = -EINVAL;
			goto fail;
		}
		if (rule->action == SANDBOX_RULE_ERRNO || rule->nclauses == 0) {
			uint32_t act = rule->action == SANDBOX_RULE_ERRNO
					       ? SCMP_ACT_ERRNO((uint32_t)rule->errno_val)
					       : SCMP_ACT_ALLOW;
			r = seccomp_rule_add_array(ctx, act, e.nr, 0, NULL);
			if (r < 0 && r != -EEXIST) {
				r = emit_fail(&e, "libseccomp rejected the rule", r);
				goto fail;
			}
			r = 0;
			continue;
		}
		for (uint32_t k = 0; k < rule->nclauses; k++) {
			struct scmp_arg_cmp cmps[SANDBOX_POLICY_MAX_ARGS];
			if ((r = emit_clause(&e, &rule->clauses[k], 0, cmps)) < 0)
				goto fail;
		}
	}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return r;
}

int sandbox_policy_compile(const char *dir, const char *name, enum sandbox_violation on_violation,
			   scmp_filter_ctx *out, char *err, size_t errlen)
{
	*out = NULL;
	char file[512];
	size_t n = strlen(name);
	const char *ext = (n >= 7 && strcmp(name + n - 7, ".policy") == 0) ? "" : ".policy";
	int k = snprintf(file, sizeof(file), "%s%s", name, ext);
	if (k < 0 || (size_t)k >= sizeof(file)) {
		if (err && errlen)
			snprintf(err, errlen, "policy name too long");
		return -ENAMETOOLONG;
	}
	struct sandbox_policy_source src = sandbox_policy_dir_source(dir);
	struct sandbox_policy p;
	int r = sandbox_policy_parse(file, &src, &p, err, errlen);
	if (r == 0)
		r = sandbox_policy_compile_parsed(&p, on_violation, out, err, errlen);
	sandbox_policy_free(&p);
	return r;
}

int sandbox_policy_load(scmp_filter_ctx ctx)
{
	return seccomp_load(ctx);
}

int sandbox_bpf_export(scmp_filter_ctx ctx, struct sandbox_bpf *out)
{
	out->insns = NULL;
	out->len = 0;
	/* libseccomp 2.5 exports only to an fd (seccomp_export_bpf_mem is 2.6). */
	int fd SCOPED_FD = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	size_t len = (size_t)st.st_size;
	if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	struct sock_filter *insns = malloc(len);
	if (!insns)
		return -ENOMEM;
	if ((r = fd_pread_full(fd, insns, len, 0)) < 0) {
		free(insns);
		return r;
	}
	out->insns = insns;
	out->len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

void sandbox_bpf_free(struct sandbox_bpf *b)
{
	if (!b)
		return;
	free(b->insns);
	b->insns = NULL;
	b->len = 0;
}

int sandbox_bpf_load(const struct sandbox_bpf *b)
{
	/* SAFETY: the kernel copies the program during the call; the cast only
	 * drops const for the uapi struct, which is never written. */
	struct sock_fprog prog = { .len = b->len, .filter = (struct sock_filter *)b->insns };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}
