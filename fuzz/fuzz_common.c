/*
 * The shared fuzz target helpers of fuzz_common.h. A failed check traps
 * rather than aborting through assert, so it fires in every build type
 * and the fuzzer saves the input that caused it.
 */
#include "fuzz_common.h"

void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

uint64_t fuzz_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}
