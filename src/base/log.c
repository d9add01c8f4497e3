/*
 * stderr logging with a level filter and a rate limiter. One write(2) per
 * line so lines from vCPU threads and device loops do not interleave.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one process-wide setting; atomic because any thread may log. */
static _Atomic int max_level = LOG_LVL_WARN;

void log_set_level(enum log_level level) { atomic_store(&max_level, (int)level); }

void log_init_from_env(void)
{
	const char *v = getenv("CROSVM_LOG");
	static const char *const names[] = { "error", "warn", "info", "debug" };
	if (!v)
		return;
	for (int i = 0; i < 4; i++)
		if (strcmp(v, names[i]) == 0)
			log_set_level((enum log_level)i);
}

static void vlog(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "crosvm: ");
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	(void)level;
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if ((int)level > atomic_load(&max_level))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	if ((int)level > atomic_load(&max_level))
		return;
	uint64_t now = now_ms();
	if (now - rl->last_ms >= rl->interval_ms) {
		if (rl->suppressed)
			log_msg(level, "(%u similar messages suppressed)", rl->suppressed);
		rl->used = 0;
		rl->suppressed = 0;
		rl->last_ms = now;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return;
	}
	rl->used++;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
