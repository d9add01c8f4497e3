/*
 * Strict parsers for numbers, sizes and booleans from the command line and
 * other untrusted text: the whole string must be consumed, no sign tricks,
 * no silent overflow. Each returns 0 or -EINVAL / -ERANGE.
 */
#ifndef CROSVM_BASE_PARSE_H
#define CROSVM_BASE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal, or hexadecimal with 0x. */
int parse_u64(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* parse_u64 plus a range check: min <= value <= max. */
int parse_u64_range(const char *s, uint64_t min, uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
/* A byte count with an optional K/M/G/T suffix (binary units). */
int parse_size(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* true/false/yes/no/on/off/1/0; the empty string is true (a bare flag). */
int parse_bool(const char *s, bool *out) __attribute__((warn_unused_result));

/*
 * A CPU set as crosvm writes one: comma-separated numbers and inclusive
 * ranges ("0,2-3,5"). Sets bit n of bits[] (nwords 64-bit words) for each
 * listed n; every n must be < limit and < 64 * nwords, else -ERANGE.
 * Empty items, reversed ranges and anything else are -EINVAL. bits[] is
 * not cleared first.
 */
int parse_cpu_set(const char *s, unsigned limit, uint64_t *bits, unsigned nwords) __attribute__((warn_unused_result));

/*
 * A key=value,key=value list as crosvm's options use. Iterate with
 * kv_next(): it splits the buffer in place; `key` and `value` point into it
 * (value is "" for a bare key). Returns 1 for a pair, 0 at the end.
 */
struct kv_iter {
	char *p;
};
void kv_init(struct kv_iter *it, char *buf);
int kv_next(struct kv_iter *it, char **key, char **value);

#endif
