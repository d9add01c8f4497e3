/*
 * The one-line error every `crosvm run` option parser reports: the
 * message, optionally after "invalid OPTION: ", into the caller's buffer.
 */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int args_fail(char *err, size_t errlen, const char *opt, const char *fmt, ...)
{
	int n = opt ? snprintf(err, errlen, "invalid %s: ", opt) : 0;
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
