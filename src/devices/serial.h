/*
 * A 16550A-compatible UART register model (8 registers). The guest sees it
 * through a bus window of SERIAL_WINDOW_LEN ports; bytes the guest
 * transmits go to a sink callback, bytes from the host are queued with
 * serial_queue_input. Interrupts are raised by signalling an eventfd that
 * the VMM registers as an edge-triggered irqfd: the device models the
 * UART's INTR output line and signals on each low-to-high transition.
 */
#ifndef CROSVM_DEVICES_SERIAL_H
#define CROSVM_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/bus.h"

#define SERIAL_WINDOW_LEN 8
/* Host-to-guest bytes buffered before serial_queue_input refuses more. */
#define SERIAL_RX_CAPACITY 4096

struct serial_sink {
	/* Receives bytes the guest transmits. Called WITHOUT the device lock
	 * held, from the vCPU thread doing the port write, so it may block
	 * (that stalls only that vCPU) but must not call back into this
	 * serial device's register handlers. NULL write = discard. */
	void (*write)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx; /* borrowed */
};

struct serial {
	pthread_mutex_t lock;
	int irq_evt;	/* borrowed; -1 for none */
	int room_evt;	/* borrowed; -1 for none */
	struct serial_sink sink;

	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t lsr_err;	/* LSR error bits (OE), cleared by reading LSR */
	uint8_t msr_delta;	/* MSR bits 0..3, cleared by reading MSR */
	bool thre_pending;	/* THR-empty interrupt armed */
	bool irq_line;		/* current level of the modelled INTR output */
	bool rx_refused;	/* input was refused since the last room signal */

	/* Receive queue: ring buffer of SERIAL_RX_CAPACITY bytes. */
	uint8_t rx_buf[SERIAL_RX_CAPACITY];
	size_t rx_head, rx_count;
};

/* Initialises the UART in its power-on state. irq_evt and sink.ctx are
 * borrowed and must outlive the device. Returns 0 or -errno. */
int serial_init(struct serial *s, int irq_evt, struct serial_sink sink) MUST_USE;
/* Releases the lock. Accepts NULL. */
void serial_destroy(struct serial *s);

/* Queues host input for the guest. Returns how many bytes of buf were
 * accepted (0..len); fewer than len means the receive queue is full and
 * the caller should wait (serial_input_has_room, or the room eventfd) and
 * retry with the rest. Raises the receive interrupt if the guest enabled
 * it. While the guest has the UART in loopback mode the receiver is
 * disconnected from the outside, so input is accepted and dropped, as on
 * real hardware. Thread-safe. */
size_t serial_queue_input(struct serial *s, const uint8_t *buf, size_t len);
/* True if serial_queue_input would accept at least one byte now. */
bool serial_input_has_room(struct serial *s);
/* Optional: an eventfd (borrowed; -1 to unset) signalled when the guest
 * drains the receive queue after serial_queue_input refused bytes, so an
 * input thread can block instead of polling. */
void serial_set_room_evt(struct serial *s, int room_evt);

/* Bus ops for the 8-port window; dev is the struct serial. Accesses wider
 * than one byte act on the first byte only (other bytes read as zero). */
extern const struct bus_device_ops serial_bus_ops;

/* Register offsets and bits, for tests and callers that poke registers. */
enum {
	SERIAL_RBR_THR = 0, /* DLL when LCR.DLAB */
	SERIAL_IER = 1,     /* DLM when LCR.DLAB */
	SERIAL_IIR_FCR = 2,
	SERIAL_LCR = 3,
	SERIAL_MCR = 4,
	SERIAL_LSR = 5,
	SERIAL_MSR = 6,
	SERIAL_SCR = 7,
};

#define SERIAL_IER_ERBFI 0x01 /* received data available */
#define SERIAL_IER_ETBEI 0x02 /* transmitter holding register empty */
#define SERIAL_IER_ELSI 0x04  /* receiver line status */
#define SERIAL_IER_EDSSI 0x08 /* modem status */

#define SERIAL_IIR_NO_INT 0x01
#define SERIAL_IIR_MSR 0x00
#define SERIAL_IIR_THRE 0x02
#define SERIAL_IIR_RDA 0x04
#define SERIAL_IIR_RLS 0x06
#define SERIAL_IIR_FIFO 0xc0

#define SERIAL_FCR_ENABLE 0x01
#define SERIAL_FCR_CLEAR_RX 0x02
#define SERIAL_FCR_CLEAR_TX 0x04

#define SERIAL_LCR_DLAB 0x80

#define SERIAL_MCR_DTR 0x01
#define SERIAL_MCR_RTS 0x02
#define SERIAL_MCR_OUT1 0x04
#define SERIAL_MCR_OUT2 0x08
#define SERIAL_MCR_LOOP 0x10

#define SERIAL_LSR_DR 0x01
#define SERIAL_LSR_OE 0x02
#define SERIAL_LSR_THRE 0x20
#define SERIAL_LSR_TEMT 0x40

#define SERIAL_MSR_DCTS 0x01
#define SERIAL_MSR_DDSR 0x02
#define SERIAL_MSR_TERI 0x04
#define SERIAL_MSR_DDCD 0x08
#define SERIAL_MSR_CTS 0x10
#define SERIAL_MSR_DSR 0x20
#define SERIAL_MSR_RI 0x40
#define SERIAL_MSR_DCD 0x80

#endif
