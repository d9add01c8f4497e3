/*
 * libFuzzer target for the seccomp policy parser (sandbox/policy_parse.c),
 * the pure layer only: no libseccomp, no files. The input is split at the
 * first two "\n@@@\n" separators into up to three in-memory files, main,
 * a.policy and b.policy, so @include, include-once, cycles and depth are
 * reachable. Every file is copied into an exactly sized buffer so an
 * over-read trips ASan. Checked: an error message, when set, starts with
 * a file name and a line; a parsed rule list respects the caps and its
 * comparisons name arg0..arg5 at most once per group.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct part {
	const char *name;
	char *text;
	size_t len;
};

static int fuzz_read(void *ctx, const char *name, char **text, size_t *len)
{
	const struct part *parts = ctx;
	for (int i = 0; i < 3; i++) {
		if (parts[i].text && strcmp(parts[i].name, name) == 0) {
			*text = malloc(parts[i].len ? parts[i].len : 1);
			if (!*text)
				return -12;
			memcpy(*text, parts[i].text, parts[i].len);
			*len = parts[i].len;
			return 0;
		}
	}
	return -2; /* -ENOENT */
}

static const char *find_sep(const char *s, size_t len)
{
	static const char sep[] = "\n@@@\n";
	for (size_t i = 0; i + sizeof(sep) - 1 <= len; i++) {
		if (memcmp(s + i, sep, sizeof(sep) - 1) == 0)
			return s + i;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct part parts[3] = { { "main.policy", NULL, 0 }, { "a.policy", NULL, 0 }, { "b.policy", NULL, 0 } };
	const char *s = (const char *)data;
	size_t left = size;
	for (int i = 0; i < 3; i++) {
		const char *sep = i < 2 ? find_sep(s, left) : NULL;
		size_t n = sep ? (size_t)(sep - s) : left;
		parts[i].text = malloc(n ? n : 1);
		if (!parts[i].text)
			goto out;
		memcpy(parts[i].text, s, n);
		parts[i].len = n;
		if (!sep)
			break;
		s = sep + 5;
		left -= n + 5;
	}

	struct sandbox_policy_source src = { .read = fuzz_read, .ctx = parts };
	struct sandbox_policy p;
	char err[256];
	int r = sandbox_policy_parse_text("main.policy", parts[0].text, parts[0].len, &src, &p, err, sizeof(err));
	if (r == 0) {
		if (err[0] || p.nrules > SANDBOX_POLICY_MAX_RULES || p.nfiles > SANDBOX_POLICY_MAX_FILES)
			__builtin_trap();
		for (size_t i = 0; i < p.nrules; i++) {
			const struct sandbox_rule *rule = &p.rules[i];
			if (rule->nclauses > SANDBOX_POLICY_MAX_CLAUSES || !rule->file || !rule->line ||
			    !rule->syscall[0] || (rule->action == SANDBOX_RULE_ERRNO && rule->nclauses))
				__builtin_trap();
			for (uint32_t k = 0; k < rule->nclauses; k++) {
				const struct sandbox_clause *c = &rule->clauses[k];
				unsigned seen = 0;
				if (c->ncmp == 0 || c->ncmp > SANDBOX_POLICY_MAX_ARGS)
					__builtin_trap();
				for (unsigned j = 0; j < c->ncmp; j++) {
					if (c->cmp[j].arg > 5 || (seen & (1u << c->cmp[j].arg)) ||
					    c->cmp[j].op > SANDBOX_CMP_MASK_IN)
						__builtin_trap();
					seen |= 1u << c->cmp[j].arg;
				}
			}
		}
	} else if (r == -22) {
		/* "FILE:LINE: ..." with a known file name. */
		const char *colon = strchr(err, ':');
		if (!colon || colon == err || colon[1] < '1' || colon[1] > '9')
			__builtin_trap();
	}
	sandbox_policy_free(&p);
out:
	for (int i = 0; i < 3; i++)
		free(parts[i].text);
	return 0;
}
