/*
 * The byte checksum used by the MP and ACPI tables: a table is valid when
 * all its bytes, checksum field included, sum to zero modulo 256.
 */
#ifndef CROSVM_ARCH_X86_64_CHECKSUM_H
#define CROSVM_ARCH_X86_64_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Sum of len bytes modulo 256. */
static inline uint8_t x86_byte_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum;
}

/* The value to store in a zeroed checksum field so the bytes sum to 0. */
static inline uint8_t x86_checksum_fix(const void *p, size_t len)
{
	return (uint8_t)(0x100 - x86_byte_sum(p, len));
}

#endif
