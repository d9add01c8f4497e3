/* Unit tests for the i8042 controller: status, controller commands and
 * their replies, command byte read/write, reset line, "no device" replies
 * and IRQ edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "devices/i8042.h"

struct fixture {
	struct i8042 d;
	int reset, kbd, aux;
};

static int setup(void **state)
{
	static struct fixture f;
	f.reset = evfd_create();
	f.kbd = evfd_create();
	f.aux = evfd_create();
	if (f.reset < 0 || f.kbd < 0 || f.aux < 0)
		return -1;
	if (i8042_init(&f.d, f.reset) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	i8042_destroy(&f->d);
	close(f->reset);
	close(f->kbd);
	close(f->aux);
	return 0;
}

static uint8_t status(struct i8042 *d)
{
	uint8_t v = 0;
	i8042_cmd_ops.read(d, 0, &v, 1);
	return v;
}

static uint8_t data(struct i8042 *d)
{
	uint8_t v = 0xaa;
	i8042_data_ops.read(d, 0, &v, 1);
	return v;
}

static void cmd(struct i8042 *d, uint8_t c)
{
	i8042_cmd_ops.write(d, 0, &c, 1);
}

static void put(struct i8042 *d, uint8_t v)
{
	i8042_data_ops.write(d, 0, &v, 1);
}

static void test_status_idle(void **state)
{
	struct fixture *f = *state;
	uint8_t s = status(&f->d);
	assert_int_equal(s & I8042_STR_OBF, 0);
	assert_int_equal(s & I8042_STR_IBF, 0);
	assert_true(s & I8042_STR_SYSFLAG);
	assert_true(s & I8042_STR_KEYLOCK);
	assert_int_equal(data(&f->d), 0); /* empty output buffer */
}

static void test_self_tests(void **state)
{
	struct fixture *f = *state;
	cmd(&f->d, 0xaa);
	assert_true(status(&f->d) & I8042_STR_OBF);
	assert_true(status(&f->d) & I8042_STR_CMDDAT);
	assert_int_equal(data(&f->d), 0x55);
	assert_int_equal(status(&f->d) & I8042_STR_OBF, 0);
	cmd(&f->d, 0xab);
	assert_int_equal(data(&f->d), 0x00);
	cmd(&f->d, 0xa9);
	assert_int_equal(data(&f->d), 0x00);
	/* Replies queue in order. */
	cmd(&f->d, 0xaa);
	cmd(&f->d, 0xab);
	assert_int_equal(data(&f->d), 0x55);
	assert_true(status(&f->d) & I8042_STR_OBF);
	assert_int_equal(data(&f->d), 0x00);
	assert_int_equal(status(&f->d) & I8042_STR_OBF, 0);
}

static void test_command_byte(void **state)
{
	struct fixture *f = *state;
	cmd(&f->d, 0x20);
	uint8_t ctr = data(&f->d);
	assert_true(ctr & I8042_CTR_SYSFLAG);
	cmd(&f->d, 0x60);
	put(&f->d, 0x65);
	assert_int_equal(status(&f->d) & I8042_STR_CMDDAT, 0);
	cmd(&f->d, 0x20);
	assert_int_equal(data(&f->d), 0x65);
	/* Port enables flip the disable bits. */
	cmd(&f->d, 0xa7);
	cmd(&f->d, 0xad);
	cmd(&f->d, 0x20);
	assert_int_equal(data(&f->d), 0x65 | I8042_CTR_AUXDIS | I8042_CTR_KBDDIS);
	cmd(&f->d, 0xa8);
	cmd(&f->d, 0xae);
	cmd(&f->d, 0x20);
	assert_int_equal(data(&f->d) & (I8042_CTR_AUXDIS | I8042_CTR_KBDDIS), 0);
	/* Other RAM bytes. */
	cmd(&f->d, 0x65);
	put(&f->d, 0x42);
	cmd(&f->d, 0x25);
	assert_int_equal(data(&f->d), 0x42);
	/* Clearing the system flag shows in the status register. */
	cmd(&f->d, 0x60);
	put(&f->d, 0x00);
	assert_int_equal(status(&f->d) & I8042_STR_SYSFLAG, 0);
}

static void test_reset_fe(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(evfd_drain(f->reset), 0);
	cmd(&f->d, 0xfe);
	assert_int_equal(evfd_drain(f->reset), 1);
	cmd(&f->d, 0xff); /* pulses nothing */
	assert_int_equal(evfd_drain(f->reset), 0);
	cmd(&f->d, 0xf0); /* bit 0 clear: reset pulsed too */
	assert_int_equal(evfd_drain(f->reset), 1);
}

static void test_output_port(void **state)
{
	struct fixture *f = *state;
	cmd(&f->d, 0xd0);
	uint8_t outp = data(&f->d);
	assert_true(outp & 1);
	cmd(&f->d, 0xd1);
	put(&f->d, 0xdf); /* A20 on, reset high */
	assert_int_equal(evfd_drain(f->reset), 0);
	cmd(&f->d, 0xd0);
	assert_int_equal(data(&f->d), 0xdf);
	cmd(&f->d, 0xd1);
	put(&f->d, 0xde); /* reset line low */
	assert_int_equal(evfd_drain(f->reset), 1);
	/* A command abandons a pending one: the next data byte goes to the
	 * keyboard, not the output port. */
	cmd(&f->d, 0xd1);
	cmd(&f->d, 0xaa);
	assert_int_equal(data(&f->d), 0x55);
	put(&f->d, 0x00);
	assert_int_equal(evfd_drain(f->reset), 0);
}

static void test_no_device_replies(void **state)
{
	struct fixture *f = *state;
	/* A byte to the keyboard: 0xFE with the time-out bit. */
	put(&f->d, 0xf2);
	uint8_t s = status(&f->d);
	assert_true(s & I8042_STR_OBF);
	assert_true(s & I8042_STR_TIMEOUT);
	assert_int_equal(s & I8042_STR_AUXDATA, 0);
	assert_int_equal(data(&f->d), 0xfe);
	assert_int_equal(status(&f->d) & (I8042_STR_OBF | I8042_STR_TIMEOUT), 0);
	/* A byte to the aux device. */
	cmd(&f->d, 0xd4);
	put(&f->d, 0xff);
	s = status(&f->d);
	assert_true(s & I8042_STR_AUXDATA);
	assert_true(s & I8042_STR_TIMEOUT);
	assert_int_equal(data(&f->d), 0xfe);
}

static void test_loopbacks(void **state)
{
	struct fixture *f = *state;
	/* Linux's AUX detection echoes a byte through 0xD3. */
	cmd(&f->d, 0xd3);
	put(&f->d, 0x5a);
	uint8_t s = status(&f->d);
	assert_true(s & I8042_STR_AUXDATA);
	assert_int_equal(s & I8042_STR_TIMEOUT, 0);
	assert_int_equal(data(&f->d), 0x5a);
	cmd(&f->d, 0xd2);
	put(&f->d, 0x33);
	assert_int_equal(status(&f->d) & I8042_STR_AUXDATA, 0);
	assert_int_equal(data(&f->d), 0x33);
}

static void test_irqs(void **state)
{
	struct fixture *f = *state;
	i8042_set_irq_evts(&f->d, f->kbd, f->aux);
	/* Default command byte enables both interrupts. */
	cmd(&f->d, 0xaa);
	assert_int_equal(evfd_drain(f->kbd), 1);
	cmd(&f->d, 0xab); /* queued behind: no new edge yet */
	assert_int_equal(evfd_drain(f->kbd), 0);
	data(&f->d);
	assert_int_equal(evfd_drain(f->kbd), 1); /* next byte reaches the head */
	data(&f->d);
	assert_int_equal(evfd_drain(f->kbd), 0);

	cmd(&f->d, 0xd3);
	put(&f->d, 0xa5);
	assert_int_equal(evfd_drain(f->aux), 1);
	assert_int_equal(evfd_drain(f->kbd), 0);
	assert_int_equal(data(&f->d), 0xa5);

	/* Interrupts off in the command byte: nothing. */
	cmd(&f->d, 0x60);
	put(&f->d, I8042_CTR_SYSFLAG);
	put(&f->d, 0xf4);
	assert_int_equal(evfd_drain(f->kbd), 0);
	/* Turning them back on with a byte waiting raises the line. */
	cmd(&f->d, 0x60);
	put(&f->d, I8042_CTR_SYSFLAG | I8042_CTR_KBDINT);
	assert_int_equal(evfd_drain(f->kbd), 1);
	assert_int_equal(data(&f->d), 0xfe);
}

static void test_overflow_and_odd(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 3 * I8042_OUTBUF_CAP; i++)
		cmd(&f->d, 0xaa);
	for (int i = 0; i < I8042_OUTBUF_CAP; i++)
		assert_int_equal(data(&f->d), 0x55);
	assert_int_equal(status(&f->d) & I8042_STR_OBF, 0);
	/* Unknown commands are ignored. */
	cmd(&f->d, 0x01);
	cmd(&f->d, 0xc1);
	assert_int_equal(status(&f->d) & I8042_STR_OBF, 0);
	/* Wide and out-of-window accesses never crash. */
	uint8_t buf[4] = { 0xaa, 0xbb, 0xcc, 0xdd };
	i8042_cmd_ops.write(&f->d, 0, buf, 4); /* command 0xaa */
	i8042_cmd_ops.read(&f->d, 0, buf, 4);
	assert_true(buf[0] & I8042_STR_OBF);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	i8042_data_ops.read(&f->d, 1, buf, 1);
	assert_int_equal(buf[0], 0);
	i8042_data_ops.read(&f->d, 0, buf, 2);
	assert_int_equal(buf[0], 0x55);
	i8042_data_ops.write(&f->d, 5, buf, 1);
	i8042_cmd_ops.write(&f->d, 5, buf, 1);
	i8042_cmd_ops.write(&f->d, 0, buf, 0);
	i8042_destroy(NULL);
}

static void test_no_fds(void **state)
{
	(void)state;
	struct i8042 d;
	assert_int_equal(i8042_init(&d, -1), 0);
	cmd(&d, 0xfe);
	cmd(&d, 0xd1);
	put(&d, 0);
	put(&d, 0xff);
	assert_int_equal(data(&d), 0xfe);
	i8042_destroy(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_fe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_device_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_and_odd, setup, teardown),
		cmocka_unit_test(test_no_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
