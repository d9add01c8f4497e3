/*
 * libFuzzer target for the 16550A UART model. The input is a stream of
 * operations, each decoded from a few bytes:
 *
 *   byte 0   low 2 bits: 0 = register read, 1 = register write,
 *            2 = host input, 3 = flow-control query / room-fd drain
 *   read/write: 1 byte offset (0..15, so past-the-window offsets occur),
 *            1 byte length (0..8), 8 bytes value
 *   input:   1 byte count, then that many bytes (as far as the input goes)
 *
 * The guest side of the UART is what a hostile guest controls; the input
 * side is what a console user controls. After each operation the register
 * invariants are checked: THR is always empty, IIR reports a defined
 * interrupt ID, DR matches whether a byte can be read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "devices/serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_sink(void *ctx, const uint8_t *buf, size_t len)
{
	size_t *n = ctx;
	(void)buf;
	*n += len;
}

static void check(struct serial *s)
{
	/* White-box: read the state without side effects. */
	if (s->rx_count > SERIAL_RX_CAPACITY || s->rx_head >= SERIAL_RX_CAPACITY)
		__builtin_trap();
	if (s->ier & 0xf0 || s->mcr & 0xe0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int irq = evfd_create();
	int room = evfd_create();
	struct serial *s = malloc(sizeof(*s));
	size_t sent = 0;
	if (irq < 0 || room < 0 || !s)
		goto out;
	if (serial_init(s, irq, (struct serial_sink){ .write = count_sink, .ctx = &sent }) < 0)
		goto out;
	serial_set_room_evt(s, room);

	size_t pos = 0;
	while (pos < size) {
		uint8_t kind = data[pos++];
		switch (kind & 3) {
		case 0:
		case 1: {
			if (pos + 2 > size)
				goto done;
			uint64_t off = data[pos++] % 16;
			uint32_t len = data[pos++] % 9;
			uint8_t val[8] = { 0 };
			size_t n = size - pos < 8 ? size - pos : 8;
			memcpy(val, &data[pos], n);
			pos += n;
			if (kind & 1) {
				serial_bus_ops.write(s, off, val, len);
			} else {
				uint8_t out[8];
				serial_bus_ops.read(s, off, out, len);
				if (len >= 1 && off == SERIAL_LSR &&
				    (out[0] & (SERIAL_LSR_THRE | SERIAL_LSR_TEMT)) !=
					    (SERIAL_LSR_THRE | SERIAL_LSR_TEMT))
					__builtin_trap();
				if (len >= 1 && off == SERIAL_IIR_FCR && (out[0] & 0x30))
					__builtin_trap();
			}
			break;
		}
		case 2: {
			if (pos + 1 > size)
				goto done;
			size_t want = data[pos++];
			/* Occasionally push a lot to reach the full queue. */
			if (kind & 4)
				want *= 64;
			size_t n = size - pos < want ? size - pos : want;
			size_t total = 0;
			/* Repeat the slice so large counts need few input bytes. */
			for (size_t k = 0; k < want && n > 0; k += n) {
				size_t chunk = want - k < n ? want - k : n;
				size_t got = serial_queue_input(s, &data[pos], chunk);
				if (got > chunk)
					__builtin_trap();
				total += got;
				if (got < chunk)
					break;
			}
			(void)total;
			pos += n;
			break;
		}
		default:
			(void)serial_input_has_room(s);
			(void)evfd_drain(room);
			(void)evfd_drain(irq);
			break;
		}
		check(s);
	}
done:
	serial_destroy(s);
out:
	free(s);
	if (irq >= 0)
		close(irq);
	if (room >= 0)
		close(room);
	return 0;
}
