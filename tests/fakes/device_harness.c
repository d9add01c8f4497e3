/*
 * The virtio device harness of device_harness.h: the guest memory,
 * drivers, eventfds and activation a transport would give a device, and
 * the driver-side waits and checks the device tests share. Waiting for a
 * completion polls the call eventfd with a short timeout rather than
 * sleeping on it alone: with event-idx the device may rightly not
 * interrupt for every element, so the used ring is what is checked.
 */
#include "fakes/device_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "base/fd.h"

void vdh_init(struct device_harness *h, const struct vdh_layout *layout)
{
	assert_true(layout->nr_queues <= VIRTIO_MAX_QUEUES);
	memset(h, 0, sizeof(*h));
	h->nr_queues = layout->nr_queues;
	h->ring_base = layout->ring_base;
	h->ring_stride = layout->ring_stride;
	h->config_fd = h->error_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		h->kick[q] = h->call[q] = -1;
	assert_int_equal(gm_create(&h->gm, layout->ranges, layout->nr_ranges), 0);
	for (unsigned q = 0; q < h->nr_queues; q++) {
		assert_true((h->kick[q] = evfd_create()) >= 0);
		assert_true((h->call[q] = evfd_create()) >= 0);
		vdh_queue_init(h, q, layout->queue_size);
	}
	assert_true((h->config_fd = evfd_create()) >= 0);
	assert_true((h->error_fd = evfd_create()) >= 0);
}

void vdh_destroy(struct device_harness *h)
{
	for (unsigned q = 0; q < h->nr_queues; q++) {
		vqd_destroy(&h->d[q]);
		fd_close(&h->kick[q]);
		fd_close(&h->call[q]);
	}
	fd_close(&h->config_fd);
	fd_close(&h->error_fd);
	gm_destroy(&h->gm);
}

void vdh_queue_init(struct device_harness *h, unsigned q, uint16_t size)
{
	assert_true(q < h->nr_queues);
	vqd_destroy(&h->d[q]);
	memset(&h->d[q], 0, sizeof(h->d[q]));
	if (size == 0)
		return;
	/* A ring running into the next queue's would be a layout bug. */
	assert_true(q + 1 == h->nr_queues || vqd_layout_bytes(size) <= h->ring_stride);
	assert_int_equal(vqd_init(&h->d[q], &h->gm, gpa_add(h->ring_base, q * h->ring_stride), size), 0);
}

struct virtio_activation *vdh_activation(struct device_harness *h, uint64_t features, unsigned nr_queues)
{
	assert_true(nr_queues <= h->nr_queues);
	struct virtio_activation *act = &h->act;
	memset(act, 0, sizeof(*act));
	act->gm = &h->gm;
	act->features = features;
	act->nr_queues = nr_queues;
	bool event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	bool indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	for (unsigned q = 0; q < nr_queues; q++) {
		if (h->d[q].size)
			act->queues[q].cfg = vqd_config(&h->d[q], event_idx, indirect);
		act->queues[q].kick_fd = h->kick[q];
		act->queues[q].call_fd = h->call[q];
	}
	act->config_fd = h->config_fd;
	act->error_fd = h->error_fd;
	return act;
}

void vdh_activate(struct device_harness *h, const struct virtio_device *dev, uint64_t features)
{
	const struct virtio_activation *act = vdh_activation(h, features, dev->ops->num_queues(dev->dev));
	assert_int_equal(dev->ops->activate(dev->dev, act), 0);
}

int vdh_add_kick(struct device_harness *h, unsigned q, const struct vqd_buf *bufs, size_t n)
{
	int head = vqd_add(&h->d[q], bufs, n);
	assert_true(head >= 0);
	vqd_publish(&h->d[q]);
	vdh_kick(h, q);
	return head;
}

void vdh_kick(struct device_harness *h, unsigned q) { assert_int_equal(evfd_signal(h->kick[q]), 0); }

int64_t vdh_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void vdh_next_used(struct device_harness *h, unsigned q, uint16_t *id, uint32_t *len)
{
	int64_t end = vdh_now_ms() + VDH_WAIT_MS;
	while (vqd_get_used(&h->d[q], id, len) == 0) {
		if (vdh_now_ms() >= end)
			fail_msg("queue %u: no used element within %d ms", q, VDH_WAIT_MS);
		struct pollfd p = { .fd = h->call[q], .events = POLLIN };
		(void)poll(&p, 1, 50);
		(void)evfd_drain(h->call[q]);
	}
}

void vdh_wait_used(struct device_harness *h, unsigned q, int head, uint32_t len)
{
	uint16_t id;
	uint32_t got;
	vdh_next_used(h, q, &id, &got);
	assert_int_equal(id, head);
	assert_int_equal(got, len);
}

void vdh_expect_no_used(struct device_harness *h, unsigned q)
{
	usleep(VDH_QUIET_MS * 1000);
	assert_int_equal(vqd_used_idx(&h->d[q]), h->d[q].last_used);
}

void vdh_expect_error(struct device_harness *h)
{
	struct pollfd p = { .fd = h->error_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, VDH_WAIT_MS), 1);
	assert_int_equal(evfd_drain(h->error_fd), 1);
}

void vdh_expect_no_error(struct device_harness *h) { assert_int_equal(evfd_drain(h->error_fd), 0); }

void vdh_put(struct device_harness *h, uint64_t addr, const void *src, size_t len)
{
	assert_int_equal(gm_write(&h->gm, GPA(addr), src, len), 0);
}

void vdh_get(struct device_harness *h, uint64_t addr, void *dst, size_t len)
{
	assert_int_equal(gm_read(&h->gm, GPA(addr), dst, len), 0);
}

void vdh_fill(struct device_harness *h, uint64_t addr, uint8_t byte, size_t len)
{
	assert_int_equal(gm_fill(&h->gm, GPA(addr), byte, len), 0);
}
