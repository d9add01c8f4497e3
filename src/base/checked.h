/*
 * Overflow-checked arithmetic. Every length or address derived from guest or
 * client input is combined with these, never with bare + or *.
 */
#ifndef CROSVM_BASE_CHECKED_H
#define CROSVM_BASE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

/* Each returns true and stores the result on success, false on overflow. */
static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool ck_add_u32(uint32_t a, uint32_t b, uint32_t *out) { return !__builtin_add_overflow(a, b, out); }

/* True when [start, start+len) lies wholly inside [base, base+size). */
static inline bool ck_range_within(uint64_t start, uint64_t len, uint64_t base, uint64_t size)
{
	if (start < base)
		return false;
	uint64_t off = start - base;
	return off <= size && len <= size - off;
}

static inline uint64_t align_up_u64(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }
static inline uint64_t align_down_u64(uint64_t v, uint64_t align) { return v & ~(align - 1); }

#endif
