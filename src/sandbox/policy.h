/*
 * Seccomp policy files: the parser (text -> rule list, no side effects) and
 * the compiler (rule list -> libseccomp filter -> BPF).
 *
 * The format is minijail's, as crosvm's seccomp/<arch>/ policy files use it,
 * one rule per line:
 *
 *   # comment                     (a '#' starts a comment anywhere on a line)
 *   @include common_device.policy (relative to the policy dir; absolute as is)
 *   read: 1                       (allow)
 *   getpid: return EPERM          (fail with an errno, by name or number)
 *   mmap: arg2 in ~PROT_EXEC      (allow when (arg2 & ~mask) == 0)
 *   ioctl: arg1 == FIONBIO || arg1 == TUNSETOFFLOAD
 *   fcntl: arg1 == F_SETFL && arg2 & O_NONBLOCK
 *
 * A condition is an `||` of `&&`-groups of `argN OP VALUE` (N 0..5, OP one
 * of == != < <= > >= & in). `argN & M` is true when (argN & M) != 0. VALUE
 * is a decimal or 0x number, a named constant from the one table in
 * policy.c, or several joined by `|`, each optionally negated with `~`.
 * Inside one `&&`-group an argument may be compared once (libseccomp's
 * rule model). When the syscall's condition is false the default action
 * applies (kill).
 *
 * Several rules for the same syscall are merged: allow conditions are
 * or-ed, an unconditional allow absorbs them; allow and `return` for the
 * same syscall, or two different errnos, are an error naming both lines.
 * A file included a second time (not in a cycle) is skipped.
 *
 * Every error is one line, "FILE:LINE: problem", returned as -EINVAL
 * (-ENOMEM for allocation failure, -ENOENT/-E... for an unreadable
 * top-level file) with the text in the caller's buffer.
 */
#ifndef CROSVM_SANDBOX_POLICY_H
#define CROSVM_SANDBOX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SANDBOX_POLICY_DIR_DEFAULT "/usr/share/policy/crosvm"

/* Bounds on what a policy may make us allocate or nest. */
#define SANDBOX_POLICY_MAX_ARGS 6        /* arg0..arg5 */
#define SANDBOX_POLICY_MAX_CLAUSES 64    /* ||-terms per line */
#define SANDBOX_POLICY_MAX_RULES 4096    /* lines with a rule, all files */
#define SANDBOX_POLICY_MAX_FILES 64      /* distinct files */
#define SANDBOX_POLICY_MAX_DEPTH 8       /* @include nesting */
#define SANDBOX_POLICY_MAX_LINE 1024     /* bytes per line */
#define SANDBOX_POLICY_MAX_FILE (1u << 20) /* bytes per file */
#define SANDBOX_POLICY_MAX_NAME 64       /* syscall name length */

enum sandbox_cmp_op {
	SANDBOX_CMP_EQ,
	SANDBOX_CMP_NE,
	SANDBOX_CMP_LT,
	SANDBOX_CMP_LE,
	SANDBOX_CMP_GT,
	SANDBOX_CMP_GE,
	SANDBOX_CMP_MASK_ANY, /* `argN & v`:  (arg & v) != 0 */
	SANDBOX_CMP_MASK_IN,  /* `argN in v`: (arg & ~v) == 0 */
};

struct sandbox_cmp {
	uint8_t arg; /* 0..5 */
	uint8_t op;  /* enum sandbox_cmp_op */
	uint64_t value;
};

/* An &&-group: at most one comparison per argument. */
struct sandbox_clause {
	uint8_t ncmp;
	struct sandbox_cmp cmp[SANDBOX_POLICY_MAX_ARGS];
};

enum sandbox_rule_action { SANDBOX_RULE_ALLOW, SANDBOX_RULE_ERRNO };

struct sandbox_rule {
	char syscall[SANDBOX_POLICY_MAX_NAME];
	enum sandbox_rule_action action;
	int errno_val;                  /* SANDBOX_RULE_ERRNO: 0..4095 */
	uint32_t nclauses;              /* 0: unconditional */
	struct sandbox_clause *clauses; /* owned; an || of the groups */
	const char *file;               /* borrowed from sandbox_policy.files */
	unsigned line;                  /* 1-based */
};

struct sandbox_policy {
	struct sandbox_rule *rules; /* owned, in file order */
	size_t nrules;
	size_t rules_cap;
	char **files; /* owned: every file read, as named */
	size_t nfiles;
};

/*
 * Where the parser gets file text: read(ctx, name) returns a malloc'ed
 * buffer (*text, owned by the caller afterwards) of *len bytes, or -errno.
 * `name` is as written in @include, or the top-level name.
 */
struct sandbox_policy_source {
	int (*read)(void *ctx, const char *name, char **text, size_t *len);
	void *ctx;
};

/* The filesystem source: names relative to `dir` (borrowed, must outlive
 * the source), absolute names as is; refuses files over the size cap. */
struct sandbox_policy_source sandbox_policy_dir_source(const char *dir);

/*
 * Parses `name` and everything it includes into `out` (initialised by this
 * call; free with sandbox_policy_free even on failure). Pure: touches
 * nothing but the source and memory. Returns 0, -EINVAL with a message in
 * err, -ENOMEM, or the source's error for the top-level file.
 */
int sandbox_policy_parse(const char *name, const struct sandbox_policy_source *src,
			 struct sandbox_policy *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Parses one in-memory text as if it were the file `name`; @include is an
 * error unless `src` is given. For tests and the fuzz target. */
int sandbox_policy_parse_text(const char *name, const char *text, size_t len,
			      const struct sandbox_policy_source *src, struct sandbox_policy *out,
			      char *err, size_t errlen) __attribute__((warn_unused_result));

void sandbox_policy_free(struct sandbox_policy *p);

/* Looks up a named constant from the table; returns true and sets *v. */
bool sandbox_policy_constant(const char *name, uint64_t *v);

/* --- Compiling to seccomp-BPF (libseccomp). --- */

#include <linux/filter.h>
#include <seccomp.h>

/* What a syscall the policy does not allow does. */
enum sandbox_violation {
	SANDBOX_VIOLATION_KILL, /* SCMP_ACT_KILL_PROCESS: the default */
	SANDBOX_VIOLATION_TRAP, /* SCMP_ACT_TRAP: SIGSYS, so a jailed child can report the
				 * syscall before it dies (see sandbox_violation_reporter) */
	SANDBOX_VIOLATION_LOG,  /* SCMP_ACT_LOG: --seccomp-log-failures, allow and log */
};

/*
 * Parses `name` in `dir` (".policy" is appended unless already there) and
 * builds a libseccomp filter for the native architecture whose default
 * action is `on_violation`. *out is owned by the caller (seccomp_release).
 * Returns 0, or -EINVAL with "FILE:LINE: problem" in err (unknown syscall,
 * bad syntax, unknown constant, missing include, include cycle, a rule
 * libseccomp refuses), -ENOMEM, or -errno for an unreadable policy file.
 */
int sandbox_policy_compile(const char *dir, const char *name, enum sandbox_violation on_violation,
			   scmp_filter_ctx *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The same from an already parsed policy (borrowed). */
int sandbox_policy_compile_parsed(const struct sandbox_policy *p, enum sandbox_violation on_violation,
				  scmp_filter_ctx *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Loads the filter on the calling thread (libseccomp also sets
 * no_new_privs). For in-process use; a jailed child loads exported BPF. */
int sandbox_policy_load(scmp_filter_ctx ctx) __attribute__((warn_unused_result));

/* A filter as BPF, exported in the parent so the child of a clone can load
 * it without allocating (libseccomp generates BPF lazily with malloc). */
struct sandbox_bpf {
	struct sock_filter *insns; /* owned */
	unsigned short len;
};
int sandbox_bpf_export(scmp_filter_ctx ctx, struct sandbox_bpf *out) __attribute__((warn_unused_result));
void sandbox_bpf_free(struct sandbox_bpf *b);
/* seccomp(SECCOMP_SET_MODE_FILTER) with the program: no allocation, safe in
 * a child of clone. no_new_privs (or CAP_SYS_ADMIN) must already be set. */
int sandbox_bpf_load(const struct sandbox_bpf *b) __attribute__((warn_unused_result));

#endif
