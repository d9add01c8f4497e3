/*
 * Helpers every libFuzzer target here shares: a check that stops the run
 * where a promise of the code under test does not hold, and little-endian
 * field extraction from the fuzzer's input bytes.
 */
#ifndef CROSVM_FUZZ_FUZZ_COMMON_H
#define CROSVM_FUZZ_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>

/* Traps (a crash libFuzzer reports with its input) unless ok. */
void fuzz_check(bool ok);

/* The n <= 8 bytes at p as a little-endian number. */
uint64_t fuzz_get_le(const uint8_t *p, unsigned n);

#endif
