/*
 * Decoding of KVM_EXIT_IO and KVM_EXIT_MMIO into bus accesses. Separate
 * from the vCPU thread so direct-KVM tests can drive it with their own
 * tiny guests. Reads nobody claims return all-ones, like an open bus.
 */
#include "cli/vcpu_exit.h"

#include <string.h>

/* String I/O (rep ins/outs) exits carry `count` items of `size` bytes. */
void vcpu_exit_io(struct bus *io_bus, struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	if ((size != 1 && size != 2 && size != 4) || off > v->run_size ||
	    (uint64_t)size * count > v->run_size - off)
		return;
	uint8_t *data = (uint8_t *)run + off;
	for (uint32_t i = 0; i < count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			bus_write(io_bus, run->io.port, data, size);
		} else if (!bus_read(io_bus, run->io.port, data, size)) {
			memset(data, 0xff, size);
		}
	}
}

void vcpu_exit_mmio(struct bus *mmio_bus, struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (run->mmio.is_write)
		bus_write(mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	else if (!bus_read(mmio_bus, run->mmio.phys_addr, run->mmio.data, len))
		memset(run->mmio.data, 0xff, len);
}

