/*
 * A bounded builder for the guest kernel command line.
 *
 * The command line is assembled from pieces (the user's parameters, then
 * whatever the VMM adds such as console= or root=) into a fixed buffer whose
 * capacity is chosen once at init: the boot protocol gives the kernel's own
 * limit (setup_header.cmdline_size) and the zero page reserves
 * X86_CMDLINE_MAX bytes for it. Every append either succeeds whole or leaves
 * the builder unchanged, so a caller can report the failing piece and keep
 * going or stop, never ending up with half a parameter.
 */
#ifndef CROSVM_KERNEL_CMDLINE_H
#define CROSVM_KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/types.h"

/* Largest capacity a builder can have, terminating NUL included. Equal to
 * X86_CMDLINE_MAX (checked in kernel_cmdline.c). */
#define KCMD_MAX_CAP 4096

struct kernel_cmdline {
	char buf[KCMD_MAX_CAP]; /* always NUL-terminated at buf[len] */
	size_t len;             /* bytes before the NUL */
	size_t cap;             /* capacity including the NUL, 1..KCMD_MAX_CAP */
};

/*
 * Starts an empty command line that may hold at most cap - 1 characters
 * plus the NUL. cap is clamped to [1, KCMD_MAX_CAP], so passing the boot
 * protocol's cmdline_size + 1 or X86_CMDLINE_MAX both work.
 */
void kcmd_init(struct kernel_cmdline *c, size_t cap);

/*
 * Appends s, separated from what is already there by a single space.
 * s may hold several space-separated parameters; leading and trailing
 * spaces are dropped. Returns 0, or:
 *   -EINVAL  s is NULL, empty (or only spaces), or contains a control
 *            character (bytes 0x01-0x1f or 0x7f, e.g. '\n' or '\t'): the
 *            kernel would split or truncate such a line in surprising ways;
 *   -E2BIG   the result (with the NUL) would exceed the capacity.
 * On failure the builder is unchanged.
 */
int kcmd_append(struct kernel_cmdline *c, const char *s) MUST_USE;

/*
 * Appends "key=value". key must be non-empty and contain no space, '=',
 * '"' or control character. value may be empty ("key=") and may contain
 * spaces, in which case it is written quoted (key="a b"), the form the
 * kernel's parameter parser understands; a value containing '"' or a
 * control character is refused. Returns 0, -EINVAL or -E2BIG as
 * kcmd_append, leaving the builder unchanged on failure.
 */
int kcmd_append_kv(struct kernel_cmdline *c, const char *key, const char *value) MUST_USE;

/*
 * True when a parameter named key ("key" or "key=...") is present among the
 * kernel's parameters, i.e. before a lone "--" (what follows goes to init).
 * Quoted values are skipped as a whole and, as in the kernel, '-' and '_'
 * in names compare equal. Lets the CLI avoid adding console= when the user
 * already gave one.
 */
bool kcmd_has_key(const struct kernel_cmdline *c, const char *key);

/* The NUL-terminated command line; borrowed, valid while c is. */
const char *kcmd_str(const struct kernel_cmdline *c);

/* Length including the terminating NUL: the number of bytes to copy into
 * guest memory. */
size_t kcmd_len_with_nul(const struct kernel_cmdline *c);

#endif
