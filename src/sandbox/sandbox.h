/*
 * sandbox/: the jail each device process runs in (jail.h) and the seccomp
 * policy compiler and loader (policy.h).
 */
#ifndef CROSVM_SANDBOX_SANDBOX_H
#define CROSVM_SANDBOX_SANDBOX_H

#include "sandbox/jail.h"
#include "sandbox/policy.h"

#endif
