/*
 * eventfd helpers. Devices signal interrupts and receive kicks through
 * eventfds so the same code works in-process and in a jailed child.
 */
#ifndef CROSVM_BASE_EVENTFD_H
#define CROSVM_BASE_EVENTFD_H

#include <stdint.h>

/* Returns a non-blocking, close-on-exec eventfd, or -errno. */
int evfd_create(void) __attribute__((warn_unused_result));
/* Adds 1 to the counter. Returns 0 or -errno. */
int evfd_signal(int fd);
/* Reads and returns the counter (0 if it was zero), or -errno. */
int64_t evfd_drain(int fd);

#endif
