/*
 * Unit tests for the virtio-pci transport's device life cycle as a driver
 * sees it through BAR 0, with a fake host (no KVM) and a fake device: an
 * error the device reports sets DEVICE_NEEDS_RESET, and a report (or a
 * queue interrupt) of a device that is being reset never reaches the
 * fresh device after the reset; a queue enabled with a bad size is
 * refused the same way.
 *
 * The second was found by the e2e test virtio_hostile_driver (scenario
 * resetrace): a driver that kicked a broken ring and reset the device at
 * once got a "fresh" device that already had NEEDS_RESET set, which then
 * refused DRIVER_OK. The interrupt thread drained the error eventfd before
 * taking the lock, so a report read before the reset was applied after it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/eventfd.h"
#include "devices/bus.h"
#include "devices/pci/pci_config.h"
#include "virtio/core/virtio.h"
#include "fakes/fake_pci_host.h"
#include "virtio/transport/virtio_pci.h"

#define BAR_ADDR 0xc0000000ULL
#define QMAX 16


/* ---- fake device: one queue; its reset can report an error or an
 * interrupt just before it stops, as a worker racing the reset does ---- */

struct fake_dev {
	bool active;
	unsigned activations;
	bool error_on_reset, call_on_reset;
	int error_fd, call_fd; /* borrowed while active */
};

static unsigned fd_num_queues(void *dev)
{
	(void)dev;
	return 1;
}

static uint16_t fd_queue_max(void *dev, unsigned q)
{
	(void)dev, (void)q;
	return QMAX;
}

static uint64_t fd_features(void *dev)
{
	(void)dev;
	return VIRTIO_BIT(VIRTIO_F_VERSION_1);
}

static void fd_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0, len);
}

static void fd_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)dev, (void)off, (void)data, (void)len;
}

static int fd_activate(void *dev, const struct virtio_activation *act)
{
	struct fake_dev *d = dev;
	assert_false(d->active);
	d->error_fd = act->error_fd;
	d->call_fd = act->queues[0].call_fd;
	d->active = true;
	d->activations++;
	return 0;
}

static void fd_reset(void *dev)
{
	struct fake_dev *d = dev;
	if (d->error_on_reset)
		assert_int_equal(evfd_signal(d->error_fd), 0);
	if (d->call_on_reset)
		assert_int_equal(evfd_signal(d->call_fd), 0);
	d->active = false;
}

static void fd_destroy(void *dev) { free(dev); }

static const struct virtio_device_ops fake_ops = {
	.name = "fake",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = fd_num_queues,
	.queue_max_size = fd_queue_max,
	.features = fd_features,
	.config_read = fd_config_read,
	.config_write = fd_config_write,
	.activate = fd_activate,
	.reset = fd_reset,
	.destroy = fd_destroy,
};

/* ---- fixture ---- */

struct t {
	struct fake_pci_host host;
	struct bus mmio;
	struct guest_memory gm;
	struct fake_dev *dev; /* owned by the transport */
	struct virtio_pci *vp;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	assert_int_equal(pthread_mutex_init(&t->host.lock, NULL), 0);
	t->host.next_gsi = 24;
	assert_int_equal(bus_init(&t->mmio), 0);
	struct gm_range r = { GPA(0), 0x100000 };
	assert_int_equal(gm_create(&t->gm, &r, 1), 0);
	t->dev = calloc(1, sizeof(*t->dev));
	assert_non_null(t->dev);
	t->dev->error_fd = t->dev->call_fd = -1;
	struct virtio_pci_host host = { .ops = &fake_pci_host_ops, .ctx = &t->host, .mmio_bus = &t->mmio, .gm = &t->gm };
	struct virtio_device vdev = { .ops = &fake_ops, .dev = t->dev };
	assert_int_equal(virtio_pci_create(&t->vp, vdev, &host, BAR_ADDR, 5), 0);
	/* Memory decoding on: BAR 0 appears on the bus. */
	uint8_t cmd[2] = { PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0 };
	virtio_pci_config_ops.config_write(t->vp, PCI_COMMAND, cmd, 2);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	virtio_pci_destroy(t->vp);
	gm_destroy(&t->gm);
	bus_destroy(&t->mmio);
	pthread_mutex_destroy(&t->host.lock);
	free(t);
	return 0;
}

static void wr(struct t *t, uint64_t off, uint32_t val, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16), (uint8_t)(val >> 24) };
	assert_true(bus_write(&t->mmio, BAR_ADDR + off, b, len));
}

static uint32_t rd(struct t *t, uint64_t off, uint32_t len)
{
	uint8_t b[4] = { 0 };
	assert_true(bus_read(&t->mmio, BAR_ADDR + off, b, len));
	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_CFGGENERATION 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_ENABLE 0x1c
#define CC_Q_DESCLO 0x20
#define CC_Q_AVAILLO 0x28
#define CC_Q_USEDLO 0x30

#define ALL_OK                                                                                        \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

/* The usual bring-up, without MSI-X (INTx), queue 0 of qsize entries. */
static void bring_up_sized(struct t *t, uint16_t qsize)
{
	wr(t, CC_STATUS, 0, 1);
	wr(t, CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(t, CC_GFSELECT, 1, 4);
	wr(t, CC_GF, 1, 4); /* VERSION_1 */
	wr(t, CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	wr(t, CC_Q_SELECT, 0, 2);
	wr(t, CC_Q_SIZE, qsize, 2);
	wr(t, CC_Q_DESCLO, 0x1000, 4);
	wr(t, CC_Q_AVAILLO, 0x2000, 4);
	wr(t, CC_Q_USEDLO, 0x3000, 4);
	wr(t, CC_Q_ENABLE, 1, 2);
	wr(t, CC_STATUS, ALL_OK, 1);
}

static void bring_up(struct t *t) { bring_up_sized(t, QMAX); }

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Polls the status byte for up to 5 s until (status & mask) == want. */
static uint8_t wait_status(struct t *t, uint8_t mask, uint8_t want)
{
	uint8_t st = 0;
	for (int i = 0; i < 500; i++) {
		st = (uint8_t)rd(t, CC_STATUS, 1);
		if ((st & mask) == want)
			break;
		sleep_ms(10);
	}
	return st;
}

/* A device that breaks says so: NEEDS_RESET, a new config generation and
 * a config interrupt (INTx with the ISR's config bit, MSI-X being off). */
static void test_error_sets_needs_reset(void **state)
{
	struct t *t = *state;
	bring_up(t);
	assert_int_equal(t->dev->activations, 1);
	assert_int_equal(rd(t, CC_STATUS, 1), ALL_OK);
	uint8_t gen = (uint8_t)rd(t, CC_CFGGENERATION, 1);
	assert_int_equal(evfd_signal(t->dev->error_fd), 0);
	uint8_t st = wait_status(t, VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(st, ALL_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_not_equal(rd(t, CC_CFGGENERATION, 1), gen);
	/* The config interrupt follows the status (the thread raises it
	 * under the same lock). */
	uint32_t isr = 0;
	for (int i = 0; i < 500 && !(isr & 2); i++) {
		isr = rd(t, VIRTIO_PCI_ISR_OFF, 1);
		if (!(isr & 2))
			sleep_ms(10);
	}
	assert_int_equal(isr & 2, 2);
	/* A reset clears it and the device comes up again. */
	wr(t, CC_STATUS, 0, 1);
	assert_int_equal(rd(t, CC_STATUS, 1), 0);
	bring_up(t);
	assert_int_equal(t->dev->activations, 2);
	assert_int_equal(rd(t, CC_STATUS, 1), ALL_OK);
}

/* An error reported while the device is being reset (its worker saw the
 * broken ring just before it was stopped) belongs to the old device: the
 * fresh one stays clean and accepts DRIVER_OK. Repeated, as the interrupt
 * thread may take the event at any point. */
static void test_error_racing_reset_is_dropped(void **state)
{
	struct t *t = *state;
	for (int round = 0; round < 20; round++) {
		bring_up(t);
		assert_int_equal(t->dev->activations, (unsigned)(2 * round + 1));
		t->dev->error_on_reset = true;
		wr(t, CC_STATUS, 0, 1);
		t->dev->error_on_reset = false;
		/* Give the interrupt thread time to handle whatever it got. */
		sleep_ms(round % 4 == 0 ? 20 : round % 4);
		assert_int_equal(rd(t, CC_STATUS, 1), 0);
		bring_up(t);
		assert_int_equal(t->dev->activations, (unsigned)(2 * round + 2));
		sleep_ms(round % 4 == 0 ? 20 : 1);
		assert_int_equal(rd(t, CC_STATUS, 1), ALL_OK);
		/* No config interrupt for the old device either. */
		assert_int_equal(rd(t, VIRTIO_PCI_ISR_OFF, 1) & 2, 0);
	}
}

/* Likewise a queue interrupt the device raised as it was being reset:
 * no ISR bit and no INTx on the fresh device. */
static void test_interrupt_racing_reset_is_dropped(void **state)
{
	struct t *t = *state;
	for (int round = 0; round < 20; round++) {
		bring_up(t);
		t->dev->call_on_reset = true;
		wr(t, CC_STATUS, 0, 1);
		t->dev->call_on_reset = false;
		sleep_ms(round % 4 == 0 ? 20 : round % 4);
		assert_false(fake_pci_host_intx(&t->host));
		assert_int_equal(rd(t, VIRTIO_PCI_ISR_OFF, 1), 0);
	}
	/* A live device's interrupt still arrives. */
	bring_up(t);
	assert_int_equal(evfd_signal(t->dev->call_fd), 0);
	uint32_t isr = 0;
	for (int i = 0; i < 500 && !(isr & 1); i++) {
		isr = rd(t, VIRTIO_PCI_ISR_OFF, 1);
		if (!(isr & 1))
			sleep_ms(10);
	}
	assert_int_equal(isr & 1, 1);
}

/* A queue enabled with size 0 (which tells a device "not in use") or
 * above the maximum is the driver's error: the device is not activated
 * and asks for a reset; after one, a proper bring-up works. */
static void test_bad_queue_size_needs_reset(void **state)
{
	struct t *t = *state;
	static const uint16_t sizes[] = { 0, 2 * QMAX, 0xffff };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		bring_up_sized(t, sizes[i]);
		assert_int_equal(t->dev->activations, 0);
		assert_int_equal(rd(t, CC_STATUS, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
				 VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		wr(t, CC_STATUS, 0, 1);
	}
	bring_up(t);
	assert_int_equal(t->dev->activations, 1);
	assert_int_equal(rd(t, CC_STATUS, 1), ALL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_error_sets_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_racing_reset_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_racing_reset_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queue_size_needs_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
