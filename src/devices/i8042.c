/*
 * i8042 keyboard controller without a keyboard or mouse attached.
 *
 * What matters to a guest is: the controller answers its own commands
 * (command byte, self-tests, port enables, output port) immediately so
 * Linux's probe never waits for a timeout; bytes sent to the keyboard or
 * the aux port are answered the way a controller with an empty socket
 * answers, 0xFE with the time-out status bit, so the atkbd and psmouse
 * drivers give up at once instead of retrying; and the reset line (command
 * 0xFE, or writing the output port with bit 0 clear) signals the VMM's
 * reset eventfd, which is how Linux's default `reboot` path resets a PC.
 *
 * Replies queue in a small output buffer. Each byte that reaches the head
 * of the queue raises IRQ 1 (or IRQ 12 for aux data) if the command byte
 * enables it; as with the UART, the IRQ outputs are modelled as levels and
 * signalled on rising edges into edge-triggered irqfds.
 */
#include "devices/i8042.h"

#include <string.h>

#include "base/eventfd.h"

/* Reply from a port with no device behind it ("resend"/no answer). */
#define NO_DEVICE_REPLY 0xfe

static void signal_evt(int fd)
{
	if (fd >= 0)
		(void)evfd_signal(fd); /* nothing useful to do on failure */
}

static void update_irqs(struct i8042 *d)
{
	bool kbd = false, aux = false;
	if (d->out_count > 0) {
		bool is_aux = d->out[d->out_head].status & I8042_STR_AUXDATA;
		kbd = !is_aux && (d->ram[0] & I8042_CTR_KBDINT);
		aux = is_aux && (d->ram[0] & I8042_CTR_AUXINT);
	}
	if (kbd && !d->kbd_line)
		signal_evt(d->kbd_irq_evt);
	if (aux && !d->aux_line)
		signal_evt(d->aux_irq_evt);
	d->kbd_line = kbd;
	d->aux_line = aux;
}

/* Queues a reply; silently dropped when the buffer is full (only a guest
 * that never reads could fill it). */
static void push_out(struct i8042 *d, uint8_t byte, uint8_t status)
{
	if (d->out_count >= I8042_OUTBUF_CAP)
		return;
	d->out[(d->out_head + d->out_count) % I8042_OUTBUF_CAP] =
		(struct i8042_out){ .byte = byte, .status = status };
	d->out_count++;
	update_irqs(d);
}

static uint8_t pop_out(struct i8042 *d)
{
	if (d->out_count == 0)
		return 0;
	uint8_t b = d->out[d->out_head].byte;
	d->out_head = (d->out_head + 1) % I8042_OUTBUF_CAP;
	d->out_count--;
	/* OBF drops when the byte is read and rises again for the next one,
	 * which is a fresh edge on the IRQ line. */
	d->kbd_line = d->aux_line = false;
	update_irqs(d);
	return b;
}

static uint8_t status(const struct i8042 *d)
{
	uint8_t s = I8042_STR_KEYLOCK;
	if (d->ram[0] & I8042_CTR_SYSFLAG)
		s |= I8042_STR_SYSFLAG;
	if (d->last_cmd)
		s |= I8042_STR_CMDDAT;
	if (d->out_count > 0) {
		s |= I8042_STR_OBF;
		s |= d->out[d->out_head].status & (I8042_STR_AUXDATA | I8042_STR_TIMEOUT);
	}
	return s;
}

int i8042_init(struct i8042 *d, int reset_evt)
{
	memset(d, 0, sizeof(*d));
	int r = pthread_mutex_init(&d->lock, NULL);
	if (r)
		return -r;
	d->reset_evt = reset_evt;
	d->kbd_irq_evt = -1;
	d->aux_irq_evt = -1;
	/* As a PC BIOS leaves it: both port interrupts on, POST passed,
	 * scan-code translation on. */
	d->ram[0] = I8042_CTR_KBDINT | I8042_CTR_AUXINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE;
	/* Reset line high (not in reset), A20 enabled. */
	d->outp = 0x03;
	return 0;
}

void i8042_set_irq_evts(struct i8042 *d, int kbd_irq_evt, int aux_irq_evt)
{
	pthread_mutex_lock(&d->lock);
	d->kbd_irq_evt = kbd_irq_evt;
	d->aux_irq_evt = aux_irq_evt;
	pthread_mutex_unlock(&d->lock);
}

void i8042_destroy(struct i8042 *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
}

static void command(struct i8042 *d, uint8_t cmd)
{
	d->last_cmd = true;
	d->pending = 0; /* a new command abandons one awaiting data */

	if (cmd >= 0x20 && cmd <= 0x3f) { /* read RAM byte (0x20: command byte) */
		push_out(d, d->ram[cmd & 0x1f], 0);
		return;
	}
	if (cmd >= 0x60 && cmd <= 0x7f) { /* write RAM byte: data follows */
		d->pending = cmd;
		return;
	}
	if (cmd >= 0xf0) {
		/* Pulse output lines whose bit is 0; bit 0 is the CPU reset. */
		if (!(cmd & 1))
			signal_evt(d->reset_evt);
		return;
	}
	switch (cmd) {
	case 0xa7: /* disable aux port */
		d->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case 0xa8: /* enable aux port */
		d->ram[0] &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: 0 = ok */
	case 0xab: /* keyboard interface test: 0 = ok */
		push_out(d, 0x00, 0);
		break;
	case 0xaa: /* controller self-test */
		d->ram[0] |= I8042_CTR_SYSFLAG;
		push_out(d, 0x55, 0);
		break;
	case 0xad: /* disable keyboard port */
		d->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case 0xae: /* enable keyboard port */
		d->ram[0] &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case 0xc0: /* read input port: keyboard not inhibited */
		push_out(d, 0x80, 0);
		break;
	case 0xd0: /* read output port */
		push_out(d, d->outp, 0);
		break;
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer (aux loopback) */
	case 0xd4: /* send next byte to the aux device */
		d->pending = cmd;
		break;
	default:
		/* Unknown or unsupported: ignored, as many real parts do. */
		break;
	}
}

static void data_write(struct i8042 *d, uint8_t v)
{
	uint8_t cmd = d->pending;
	d->last_cmd = false;
	d->pending = 0;

	if (cmd >= 0x60 && cmd <= 0x7f) {
		d->ram[cmd & 0x1f] = v;
		update_irqs(d); /* the interrupt enables may have changed */
		return;
	}
	switch (cmd) {
	case 0xd1:
		d->outp = v;
		if (!(v & 1))
			signal_evt(d->reset_evt);
		break;
	case 0xd2:
		push_out(d, v, 0);
		break;
	case 0xd3:
		push_out(d, v, I8042_STR_AUXDATA);
		break;
	case 0xd4:
		push_out(d, NO_DEVICE_REPLY, I8042_STR_AUXDATA | I8042_STR_TIMEOUT);
		break;
	default:
		/* A byte for the keyboard, which is not there. */
		push_out(d, NO_DEVICE_REPLY, I8042_STR_TIMEOUT);
		break;
	}
}

static void data_read_op(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8042 *d = dev;
	if (len == 0)
		return;
	memset(data, 0, len);
	if (offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	data[0] = pop_out(d);
	pthread_mutex_unlock(&d->lock);
}

static void data_write_op(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8042 *d = dev;
	if (len == 0 || offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	data_write(d, data[0]);
	pthread_mutex_unlock(&d->lock);
}

static void cmd_read_op(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8042 *d = dev;
	if (len == 0)
		return;
	memset(data, 0, len);
	if (offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	data[0] = status(d);
	pthread_mutex_unlock(&d->lock);
}

static void cmd_write_op(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8042 *d = dev;
	if (len == 0 || offset != 0)
		return;
	pthread_mutex_lock(&d->lock);
	command(d, data[0]);
	pthread_mutex_unlock(&d->lock);
}

const struct bus_device_ops i8042_data_ops = {
	.read = data_read_op,
	.write = data_write_op,
};

const struct bus_device_ops i8042_cmd_ops = {
	.read = cmd_read_op,
	.write = cmd_write_op,
};
