/*
 * virtio-balloon (virtio 1.2, 5.5): the host asks the guest to give back
 * memory by raising the balloon's target (num_pages); the guest allocates
 * pages and sends their page frame numbers on the inflate queue, and the
 * device releases them to the host by punching them out of the guest
 * memory memfd. Deflating hands pages back to the guest, which simply
 * touches them again (they fault in as zeros). With
 * VIRTIO_BALLOON_F_STATS_VQ the guest reports memory statistics when asked.
 *
 * Queues: inflateq (0), deflateq (1), statsq (2). Pages are always 4 KiB
 * (VIRTIO_BALLOON_PFN_SHIFT), whatever the guest's page size.
 *
 * The control functions below are meant for the control socket server:
 * they may be called from any thread, at any time between create and
 * destroy, active device or not.
 */
#ifndef CROSVM_VIRTIO_BALLOON_BALLOON_H
#define CROSVM_VIRTIO_BALLOON_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/core/virtio.h"

/* Feature bits (5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2

#define VIRTIO_BALLOON_INFLATE_QUEUE 0
#define VIRTIO_BALLOON_DEFLATE_QUEUE 1
#define VIRTIO_BALLOON_STATS_QUEUE 2

#define VIRTIO_BALLOON_PAGE_SIZE 4096u

/* Statistics tags (5.5.6.3; 8 and up as Linux defines them). */
enum virtio_balloon_stat_tag {
	VIRTIO_BALLOON_S_SWAP_IN = 0,  /* bytes swapped in */
	VIRTIO_BALLOON_S_SWAP_OUT = 1, /* bytes swapped out */
	VIRTIO_BALLOON_S_MAJFLT = 2,   /* major page faults */
	VIRTIO_BALLOON_S_MINFLT = 3,   /* minor page faults */
	VIRTIO_BALLOON_S_MEMFREE = 4,  /* free memory, bytes */
	VIRTIO_BALLOON_S_MEMTOT = 5,   /* total memory, bytes */
	VIRTIO_BALLOON_S_AVAIL = 6,    /* available memory estimate, bytes */
	VIRTIO_BALLOON_S_CACHES = 7,   /* disk caches, bytes */
	VIRTIO_BALLOON_S_HTLB_PGALLOC = 8,
	VIRTIO_BALLOON_S_HTLB_PGFAIL = 9,
	VIRTIO_BALLOON_S_OOM_KILL = 10,
	VIRTIO_BALLOON_S_ALLOC_STALL = 11,
	VIRTIO_BALLOON_S_ASYNC_SCAN = 12,
	VIRTIO_BALLOON_S_DIRECT_SCAN = 13,
	VIRTIO_BALLOON_S_ASYNC_RECLAIM = 14,
	VIRTIO_BALLOON_S_DIRECT_RECLAIM = 15,
	VIRTIO_BALLOON_S_NR = 16
};

/* The statistics of the guest's last report. */
struct virtio_balloon_stats {
	/* 0 before the first report; +1 with each report the guest sends. */
	uint64_t generation;
	/* CLOCK_MONOTONIC nanoseconds when that report arrived (0: none). */
	uint64_t timestamp_ns;
	/* Bit t set: val[t] holds the guest's value for tag t. Tags the guest
	 * did not send (or that we do not know) are clear. */
	uint32_t valid;
	uint64_t val[VIRTIO_BALLOON_S_NR];
};

struct virtio_balloon_options {
	/* Offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM: the guest may deflate below
	 * the target when it runs out of memory. */
	bool deflate_on_oom;
	/* Offer VIRTIO_BALLOON_F_STATS_VQ. */
	bool stats;
};

/* The device state behind struct virtio_device.dev; opaque. */
struct virtio_balloon;

/* Creates the device with a target of 0 (an empty balloon). Returns 0 or
 * -ENOMEM / -errno. */
int virtio_balloon_create(const struct virtio_balloon_options *opts, struct virtio_device *out) MUST_USE;

/* The balloon behind a virtio_device, or NULL if d is not a balloon. The
 * result is borrowed: valid until d's ops->destroy. */
struct virtio_balloon *virtio_balloon_from_device(const struct virtio_device *d);

/*
 * Sets the balloon target: the guest should hand back `bytes` of its
 * memory (rounded down to 4 KiB pages). Updates num_pages in the
 * configuration space and, while the driver is running, tells it through
 * a configuration change interrupt. Returns 0, or -ERANGE if the page
 * count does not fit num_pages (32 bits).
 */
int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t bytes) MUST_USE;

/* The current target in bytes (num_pages * 4 KiB). */
uint64_t virtio_balloon_target(struct virtio_balloon *b);

/* How much memory the guest says the balloon holds (its `actual`
 * configuration field), in bytes. */
uint64_t virtio_balloon_actual(struct virtio_balloon *b);

/*
 * Asks the guest for fresh statistics: the stats buffer the guest last
 * sent is handed back to it, and it answers asynchronously with a new
 * report, which bumps the generation. *generation (may be NULL) gets the
 * generation current at the time of the call: a report with a larger one
 * is newer than the request (see virtio_balloon_wait_stats).
 * Returns 0; -EOPNOTSUPP if the driver did not take VIRTIO_BALLOON_F_STATS_VQ
 * (or the option is off); -ENOTCONN if the device is not active.
 * Asking again before the guest answered is harmless: the guest simply
 * answers once.
 */
int virtio_balloon_request_stats(struct virtio_balloon *b, uint64_t *generation) MUST_USE;

/* Copies the latest statistics (generation 0: the guest never reported). */
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out);

/*
 * Waits up to timeout_ms (< 0: forever) for statistics newer than
 * `after_generation`, then copies the latest into *out in any case.
 * Returns 0 when they are newer, -ETIMEDOUT otherwise.
 */
int virtio_balloon_wait_stats(struct virtio_balloon *b, uint64_t after_generation, int timeout_ms,
			      struct virtio_balloon_stats *out) MUST_USE;

#endif
