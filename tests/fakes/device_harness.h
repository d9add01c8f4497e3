/*
 * A test harness for virtio devices: everything a transport would give a
 * device, so that a unit test can run one on its worker thread with the
 * mock driver of virtq_driver.h as the guest. It owns guest memory, one
 * mock driver per queue, each queue's kick and call eventfds and the
 * config and error eventfds, and builds the struct virtio_activation.
 *
 * Normal use: vdh_init() with the memory and ring layout, create the
 * device, vdh_activate() it, then vdh_put() data, vdh_add_kick() chains
 * (or vqd_add()/vqd_publish() on h->d[q] and vdh_kick()), vdh_wait_used()
 * for the completions and vdh_get() what the device wrote; destroy the
 * device, then vdh_destroy(). A test that activates the device itself
 * (to hand it an altered activation) takes vdh_activation() instead.
 *
 * The helpers assert with cmocka: a failed step fails the test. The
 * device is the test's; the harness never creates, resets or destroys it.
 * Not thread-safe; one test thread plays the driver.
 */
#ifndef CROSVM_TESTS_FAKES_DEVICE_HARNESS_H
#define CROSVM_TESTS_FAKES_DEVICE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "fakes/virtq_driver.h"
#include "virtio/core/virtio.h"
#include "vm_memory/vm_memory.h"

/* How long vdh_wait_used() and vdh_expect_error() wait, and how long
 * vdh_expect_no_used() gives the worker to do what it should not. */
#define VDH_WAIT_MS 5000
#define VDH_QUIET_MS 100

/* Guest memory and where the queues' rings go. */
struct vdh_layout {
	const struct gm_range *ranges; /* borrowed for vdh_init only */
	size_t nr_ranges;
	unsigned nr_queues; /* <= VIRTIO_MAX_QUEUES */
	/* Queue q's rings start at ring_base + q * ring_stride. */
	gpa_t ring_base;
	uint64_t ring_stride;
	/* The size vdh_init gives every queue; 0 leaves them all to
	 * vdh_queue_init (e.g. once the device says its maximum). */
	uint16_t queue_size;
};

struct device_harness {
	struct guest_memory gm;
	unsigned nr_queues;
	gpa_t ring_base;
	uint64_t ring_stride;
	struct virtq_driver d[VIRTIO_MAX_QUEUES]; /* size 0: not initialised */
	int kick[VIRTIO_MAX_QUEUES];		  /* owned */
	int call[VIRTIO_MAX_QUEUES];		  /* owned */
	int config_fd, error_fd;		  /* owned */
	/* As vdh_activation last built it; its fds and gm are the fields
	 * above, borrowed. */
	struct virtio_activation act;
};

/* Creates the guest memory and the eventfds and, where layout->queue_size
 * is not 0, initialises every queue's driver. h is overwritten. */
void vdh_init(struct device_harness *h, const struct vdh_layout *layout);
/* Frees everything vdh_init and vdh_queue_init made. Destroy the device
 * first: it borrows the memory and the fds while active. */
void vdh_destroy(struct device_harness *h);

/* (Re)initialises queue q's driver with a fresh ring of `size` at its
 * place in the layout, as a driver does after a reset; size 0 leaves the
 * queue uninitialised (not enabled in the activation). */
void vdh_queue_init(struct device_harness *h, unsigned q, uint16_t size);

/* Fills h->act as a transport hands it over at DRIVER_OK: guest memory,
 * `features` as accepted, nr_queues queues with their kick and call
 * eventfds and, for those initialised, vqd_config() with event-idx and
 * indirect descriptors as features says (a zeroed config for the rest:
 * not enabled), and the config and error eventfds. Returns &h->act, for
 * the test to activate with, or to copy and alter first. */
struct virtio_activation *vdh_activation(struct device_harness *h, uint64_t features, unsigned nr_queues);
/* vdh_activation() for as many queues as the device has, then activates
 * dev with it; asserts that both succeed. */
void vdh_activate(struct device_harness *h, const struct virtio_device *dev, uint64_t features);

/* Adds a chain to queue q (asserting it fits), publishes it and kicks.
 * Returns the head. */
int vdh_add_kick(struct device_harness *h, unsigned q, const struct vqd_buf *bufs, size_t n);
/* Notifies queue q (its kick eventfd), publishing nothing. */
void vdh_kick(struct device_harness *h, unsigned q);

/* Waits up to VDH_WAIT_MS for the next used element of queue q and takes
 * it; fails the test on timeout. */
void vdh_next_used(struct device_harness *h, unsigned q, uint16_t *id, uint32_t *len);
/* vdh_next_used(), asserting the element is (head, len). */
void vdh_wait_used(struct device_harness *h, unsigned q, int head, uint32_t len);
/* Gives the worker VDH_QUIET_MS to do what it should not, then asserts it
 * completed nothing more on queue q. */
void vdh_expect_no_used(struct device_harness *h, unsigned q);

/* Waits up to VDH_WAIT_MS for the device to report a broken ring on the
 * error eventfd, and asserts it did so once. */
void vdh_expect_error(struct device_harness *h);
/* Asserts the device has reported no broken ring (since the last check). */
void vdh_expect_no_error(struct device_harness *h);

/* Guest memory access, asserting the range is guest RAM. */
void vdh_put(struct device_harness *h, uint64_t addr, const void *src, size_t len);
void vdh_get(struct device_harness *h, uint64_t addr, void *dst, size_t len);
void vdh_fill(struct device_harness *h, uint64_t addr, uint8_t byte, size_t len);

/* CLOCK_MONOTONIC in milliseconds, for a test's own deadlines. */
int64_t vdh_now_ms(void);

#endif
