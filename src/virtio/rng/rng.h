/*
 * virtio-rng (virtio 1.2, 5.4): one queue of device-writable buffers that
 * the device fills from the host's getrandom().
 */
#ifndef CROSVM_VIRTIO_RNG_RNG_H
#define CROSVM_VIRTIO_RNG_RNG_H

#include "virtio/core/virtio.h"

/* Creates the device. Returns 0 or -ENOMEM. */
int virtio_rng_create(struct virtio_device *out) MUST_USE;

#endif
