/* Dispatch of a vCPU's I/O-port and MMIO exits to the buses. */
#ifndef CROSVM_CLI_VCPU_EXIT_H
#define CROSVM_CLI_VCPU_EXIT_H

#include "devices/bus.h"
#include "hypervisor/kvm/kvm.h"

/* Handles v->run's KVM_EXIT_IO (including string I/O with count > 1). */
void vcpu_exit_io(struct bus *io_bus, struct kvm_vcpu *v);
/* Handles v->run's KVM_EXIT_MMIO. */
void vcpu_exit_mmio(struct bus *mmio_bus, struct kvm_vcpu *v);

#endif
