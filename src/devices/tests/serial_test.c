/* Unit tests for the 16550A model: divisor latch, transmit to the sink,
 * LSR, THRE interrupt and its acknowledgement, receive path, flow control,
 * loopback, scratch register, odd accesses. Interrupts are observed as the
 * counter of the irq eventfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "devices/serial.h"

struct capture {
	uint8_t buf[256];
	size_t len;
};

static void capture_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct capture *c = ctx;
	for (size_t i = 0; i < len && c->len < sizeof(c->buf); i++)
		c->buf[c->len++] = buf[i];
}

struct fixture {
	struct serial s;
	struct capture out;
	int irq;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f.out, 0, sizeof(f.out));
	f.irq = evfd_create();
	if (f.irq < 0)
		return -1;
	struct serial_sink sink = { .write = capture_write, .ctx = &f.out };
	if (serial_init(&f.s, f.irq, sink) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	serial_destroy(&f->s);
	close(f->irq);
	return 0;
}

static uint8_t rd(struct serial *s, uint64_t off)
{
	uint8_t v = 0xaa;
	serial_bus_ops.read(s, off, &v, 1);
	return v;
}

static void wr(struct serial *s, uint64_t off, uint8_t v)
{
	serial_bus_ops.write(s, off, &v, 1);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;
	wr(&f->s, SERIAL_IER, 0x05);
	wr(&f->s, SERIAL_LCR, SERIAL_LCR_DLAB | 0x03);
	wr(&f->s, SERIAL_RBR_THR, 0x0c); /* DLL: 9600 baud */
	wr(&f->s, SERIAL_IER, 0x01);	 /* DLM */
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 0x0c);
	assert_int_equal(rd(&f->s, SERIAL_IER), 0x01);
	assert_int_equal(rd(&f->s, SERIAL_LCR), 0x83);
	/* The DLL write did not transmit anything. */
	assert_int_equal(f->out.len, 0);
	wr(&f->s, SERIAL_LCR, 0x03);
	assert_int_equal(rd(&f->s, SERIAL_IER), 0x05); /* IER kept its value */
	wr(&f->s, SERIAL_LCR, SERIAL_LCR_DLAB);
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 0x0c);
	assert_int_equal(rd(&f->s, SERIAL_IER), 0x01);
}

static void test_thr_to_sink_and_lsr(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(&f->s, SERIAL_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
	const char *msg = "hello\n";
	for (const char *p = msg; *p; p++)
		wr(&f->s, SERIAL_RBR_THR, (uint8_t)*p);
	assert_int_equal(f->out.len, strlen(msg));
	assert_memory_equal(f->out.buf, msg, strlen(msg));
	assert_int_equal(rd(&f->s, SERIAL_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
	/* No interrupt was enabled, so none was raised. */
	assert_int_equal(evfd_drain(f->irq), 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
}

static void test_null_sink(void **state)
{
	(void)state;
	struct serial s;
	assert_int_equal(serial_init(&s, -1, (struct serial_sink){ 0 }), 0);
	wr(&s, SERIAL_IER, SERIAL_IER_ETBEI);
	wr(&s, SERIAL_RBR_THR, 'x'); /* discarded, no irq fd: must not crash */
	assert_int_equal(rd(&s, SERIAL_IIR_FCR), SERIAL_IIR_THRE);
	serial_destroy(&s);
	serial_destroy(NULL);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;
	/* Enabling ETBEI with THR empty raises THRE. */
	wr(&f->s, SERIAL_IER, SERIAL_IER_ETBEI);
	assert_int_equal(evfd_drain(f->irq), 1);
	/* Reading IIR reports THRE and acknowledges it. */
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_THRE);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
	/* Each transmitted byte raises it again: one edge per byte. */
	wr(&f->s, SERIAL_RBR_THR, 'a');
	assert_int_equal(evfd_drain(f->irq), 1);
	wr(&f->s, SERIAL_RBR_THR, 'b');
	wr(&f->s, SERIAL_RBR_THR, 'c');
	assert_int_equal(evfd_drain(f->irq), 2);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_THRE);
	/* Writing IER again with ETBEI still set is not a new rising edge. */
	wr(&f->s, SERIAL_IER, SERIAL_IER_ETBEI);
	assert_int_equal(evfd_drain(f->irq), 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
	/* Disable then re-enable: Linux's THRE probe expects it again. */
	wr(&f->s, SERIAL_IER, 0);
	wr(&f->s, SERIAL_IER, SERIAL_IER_ETBEI);
	assert_int_equal(evfd_drain(f->irq), 1);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_THRE);
	/* With ETBEI off, writes raise nothing. */
	wr(&f->s, SERIAL_IER, 0);
	wr(&f->s, SERIAL_RBR_THR, 'd');
	assert_int_equal(evfd_drain(f->irq), 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
}

static void test_fifo_iir_bits(void **state)
{
	struct fixture *f = *state;
	wr(&f->s, SERIAL_IIR_FCR, SERIAL_FCR_ENABLE);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_FIFO | SERIAL_IIR_NO_INT);
	wr(&f->s, SERIAL_IER, SERIAL_IER_ETBEI);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_FIFO | SERIAL_IIR_THRE);
	wr(&f->s, SERIAL_IIR_FCR, 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
}

static void test_rx_path(void **state)
{
	struct fixture *f = *state;
	wr(&f->s, SERIAL_IER, SERIAL_IER_ERBFI);
	assert_int_equal(evfd_drain(f->irq), 0);
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);

	const uint8_t in[] = { 'a', 'b', 'c' };
	assert_int_equal(serial_queue_input(&f->s, in, sizeof(in)), 3);
	assert_int_equal(evfd_drain(f->irq), 1);
	assert_true(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_RDA);
	/* IIR read does not acknowledge received data. */
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_RDA);
	/* More input while the line is already high: no new edge. */
	const uint8_t more = 'd';
	assert_int_equal(serial_queue_input(&f->s, &more, 1), 1);
	assert_int_equal(evfd_drain(f->irq), 0);

	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 'a');
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 'b');
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 'c');
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 'd');
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 0); /* empty RBR */
	/* Drained: the next byte is a fresh edge. */
	assert_int_equal(serial_queue_input(&f->s, &more, 1), 1);
	assert_int_equal(evfd_drain(f->irq), 1);
	assert_int_equal(serial_queue_input(&f->s, in, 0), 0);
}

static void test_rx_priority(void **state)
{
	struct fixture *f = *state;
	/* RX data outranks THRE, which outranks modem status. */
	wr(&f->s, SERIAL_IER, SERIAL_IER_ERBFI | SERIAL_IER_ETBEI | SERIAL_IER_EDSSI);
	const uint8_t b = 'z';
	assert_int_equal(serial_queue_input(&f->s, &b, 1), 1);
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_LOOP); /* modem lines change */
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_RDA);
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 'z');
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_THRE);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_MSR);
	uint8_t msr = rd(&f->s, SERIAL_MSR);
	assert_int_equal(msr & 0x0f, SERIAL_MSR_DCTS | SERIAL_MSR_DDSR | SERIAL_MSR_DDCD);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
}

static void test_rx_full(void **state)
{
	struct fixture *f = *state;
	static uint8_t big[SERIAL_RX_CAPACITY + 100];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	int room = evfd_create();
	assert_true(room >= 0);
	serial_set_room_evt(&f->s, room);

	assert_true(serial_input_has_room(&f->s));
	assert_int_equal(serial_queue_input(&f->s, big, sizeof(big)), SERIAL_RX_CAPACITY);
	assert_false(serial_input_has_room(&f->s));
	assert_int_equal(serial_queue_input(&f->s, big, 1), 0);
	assert_int_equal(evfd_drain(room), 0);
	/* The guest reads one byte: room for one, and the input thread is
	 * woken. */
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 0);
	assert_int_equal(evfd_drain(room), 1);
	assert_true(serial_input_has_room(&f->s));
	assert_int_equal(serial_queue_input(&f->s, big + SERIAL_RX_CAPACITY, 100), 1);
	/* Order is preserved through the ring wrap. */
	for (size_t i = 1; i < SERIAL_RX_CAPACITY; i++)
		assert_int_equal(rd(&f->s, SERIAL_RBR_THR), (uint8_t)i);
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), (uint8_t)SERIAL_RX_CAPACITY);
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);
	/* The room fd fires only after a refusal. */
	assert_int_equal(evfd_drain(room), 1);
	serial_set_room_evt(&f->s, -1);
	close(room);
}

static void test_fcr_clear(void **state)
{
	struct fixture *f = *state;
	const uint8_t in[] = { 1, 2 };
	wr(&f->s, SERIAL_IIR_FCR, SERIAL_FCR_ENABLE);
	assert_int_equal(serial_queue_input(&f->s, in, 2), 2);
	wr(&f->s, SERIAL_IIR_FCR, SERIAL_FCR_ENABLE | SERIAL_FCR_CLEAR_RX);
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	/* Linux's probe: MCR = LOOP | RTS | OUT2 must show CTS | DCD. */
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_LOOP | SERIAL_MCR_RTS | SERIAL_MCR_OUT2);
	assert_int_equal(rd(&f->s, SERIAL_MSR) & 0xf0, 0x90);
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_LOOP | SERIAL_MCR_DTR | SERIAL_MCR_OUT1);
	uint8_t msr = rd(&f->s, SERIAL_MSR);
	assert_int_equal(msr & 0xf0, SERIAL_MSR_DSR | SERIAL_MSR_RI);
	assert_int_equal(msr & 0x0f, SERIAL_MSR_DCTS | SERIAL_MSR_DDSR | SERIAL_MSR_DDCD);
	/* RI falling edge sets TERI. */
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_LOOP);
	assert_true(rd(&f->s, SERIAL_MSR) & SERIAL_MSR_TERI);

	wr(&f->s, SERIAL_IER, SERIAL_IER_ERBFI);
	wr(&f->s, SERIAL_RBR_THR, 0x5a);
	assert_int_equal(f->out.len, 0); /* nothing leaves in loopback */
	assert_int_equal(evfd_drain(f->irq), 1);
	assert_true(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR);
	assert_int_equal(rd(&f->s, SERIAL_RBR_THR), 0x5a);
	/* Host input is disconnected in loopback (accepted and dropped). */
	const uint8_t h = 'h';
	assert_int_equal(serial_queue_input(&f->s, &h, 1), 1);
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);

	/* Back to normal: the peer is always ready. */
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_OUT2);
	assert_int_equal(rd(&f->s, SERIAL_MSR) & 0xf0,
			 SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD);
	wr(&f->s, SERIAL_RBR_THR, 'o');
	assert_int_equal(f->out.len, 1);
}

static void test_loopback_overrun(void **state)
{
	struct fixture *f = *state;
	wr(&f->s, SERIAL_MCR, SERIAL_MCR_LOOP);
	wr(&f->s, SERIAL_IER, SERIAL_IER_ELSI);
	for (int i = 0; i < SERIAL_RX_CAPACITY; i++)
		wr(&f->s, SERIAL_RBR_THR, (uint8_t)i);
	assert_int_equal(evfd_drain(f->irq), 0);
	wr(&f->s, SERIAL_RBR_THR, 0xff); /* one too many */
	assert_int_equal(evfd_drain(f->irq), 1);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_RLS);
	uint8_t lsr = rd(&f->s, SERIAL_LSR);
	assert_true(lsr & SERIAL_LSR_OE);
	assert_true(lsr & SERIAL_LSR_DR);
	/* Reading LSR cleared the error. */
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_OE, 0);
	assert_int_equal(rd(&f->s, SERIAL_IIR_FCR), SERIAL_IIR_NO_INT);
}

static void test_scratch(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(rd(&f->s, SERIAL_SCR), 0);
	wr(&f->s, SERIAL_SCR, 0xa5);
	assert_int_equal(rd(&f->s, SERIAL_SCR), 0xa5);
	wr(&f->s, SERIAL_LCR, SERIAL_LCR_DLAB);
	assert_int_equal(rd(&f->s, SERIAL_SCR), 0xa5);
}

static void test_ier_readback(void **state)
{
	struct fixture *f = *state;
	/* Linux's probe writes 0x0f and expects 0x0f; upper bits reserved. */
	wr(&f->s, SERIAL_IER, 0xff);
	assert_int_equal(rd(&f->s, SERIAL_IER), 0x0f);
	wr(&f->s, SERIAL_IER, 0);
	assert_int_equal(rd(&f->s, SERIAL_IER), 0);
	wr(&f->s, SERIAL_MCR, 0xff);
	assert_int_equal(rd(&f->s, SERIAL_MCR), 0x1f);
}

static void test_odd_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8];
	memset(buf, 0xee, sizeof(buf));
	/* Offsets past the window read zero, writes are ignored. */
	serial_bus_ops.read(&f->s, 8, buf, 1);
	assert_int_equal(buf[0], 0);
	serial_bus_ops.read(&f->s, UINT64_MAX, buf, 1);
	assert_int_equal(buf[0], 0);
	serial_bus_ops.write(&f->s, 9, buf, 1);
	serial_bus_ops.write(&f->s, 7, buf, 0);
	serial_bus_ops.read(&f->s, 7, buf, 0);
	/* A word write acts on the first byte only. */
	const uint8_t w[2] = { 0x11, 0x22 };
	serial_bus_ops.write(&f->s, SERIAL_SCR, w, 2);
	assert_int_equal(rd(&f->s, SERIAL_SCR), 0x11);
	memset(buf, 0xee, sizeof(buf));
	serial_bus_ops.read(&f->s, SERIAL_SCR, buf, 8);
	assert_int_equal(buf[0], 0x11);
	for (int i = 1; i < 8; i++)
		assert_int_equal(buf[i], 0);
	/* A wide THR write sends one byte. */
	serial_bus_ops.write(&f->s, SERIAL_RBR_THR, w, 2);
	assert_int_equal(f->out.len, 1);
	assert_int_equal(f->out.buf[0], 0x11);
	/* LSR/MSR writes are ignored. */
	wr(&f->s, SERIAL_LSR, 0);
	assert_int_equal(rd(&f->s, SERIAL_LSR), SERIAL_LSR_THRE | SERIAL_LSR_TEMT);
}

/* An input thread pushing far more than the queue holds, retrying when it
 * is full and sleeping on the room eventfd, while the "guest" drains RBR
 * from another thread: every byte arrives, in order. */
#define STRESS_BYTES (SERIAL_RX_CAPACITY * 25 + 7)

struct stress {
	struct serial *s;
	int room;
};

static void *stress_input(void *arg)
{
	struct stress *st = arg;
	uint8_t chunk[1000];
	size_t sent = 0;
	while (sent < STRESS_BYTES) {
		size_t n = STRESS_BYTES - sent < sizeof(chunk) ? STRESS_BYTES - sent : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((sent + i) * 7);
		size_t got = serial_queue_input(st->s, chunk, n);
		sent += got;
		if (got < n) {
			/* Full: wait for the room signal (with a timeout in
			 * case the drain raced ahead of the refusal). */
			struct pollfd p = { .fd = st->room, .events = POLLIN };
			if (poll(&p, 1, 10) > 0)
				(void)evfd_drain(st->room);
		}
	}
	return NULL;
}

static void test_rx_threaded(void **state)
{
	struct fixture *f = *state;
	struct stress st = { .s = &f->s, .room = evfd_create() };
	assert_true(st.room >= 0);
	serial_set_room_evt(&f->s, st.room);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stress_input, &st), 0);
	size_t got = 0;
	while (got < STRESS_BYTES) {
		if (!(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR))
			continue;
		uint8_t b = rd(&f->s, SERIAL_RBR_THR);
		if (b != (uint8_t)(got * 7))
			fail_msg("byte %zu: got %u", got, b);
		got++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rd(&f->s, SERIAL_LSR) & SERIAL_LSR_DR, 0);
	serial_set_room_evt(&f->s, -1);
	close(st.room);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thr_to_sink_and_lsr, setup, teardown),
		cmocka_unit_test(test_null_sink),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_iir_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_threaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fcr_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ier_readback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_accesses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
