/*
 * Logging for cli/ and worker loops (library code returns errors instead).
 * Messages go to stderr with a "crosvm: " prefix, one line each.
 * log_ratelimited() is for anything a guest can trigger repeatedly.
 */
#ifndef CROSVM_BASE_LOG_H
#define CROSVM_BASE_LOG_H

#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the most verbose level printed (default LOG_LVL_WARN, or from
 * CROSVM_LOG=error|warn|info|debug in the environment). */
void log_set_level(enum log_level level);
void log_init_from_env(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A token bucket for guest-triggerable messages: at most `burst` messages,
 * then one per `interval_ms`. Zero-initialise with LOG_RATELIMIT_INIT. */
struct log_ratelimit {
	uint64_t last_ms;
	uint32_t burst;
	uint32_t used;
	uint32_t interval_ms;
	uint32_t suppressed;
};
#define LOG_RATELIMIT_INIT { 0, 10, 0, 1000, 0 }
void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
