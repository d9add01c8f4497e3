/*
 * 16550A UART register model for the guest's serial console.
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the
 * sink, so THR and the transmit shift register are always empty (LSR.THRE
 * and LSR.TEMT always read 1) and the THR-empty interrupt re-arms after
 * every byte. Reception uses a bounded host-side queue instead of the
 * 16-byte FIFO: the host "sender" waits when the queue is full rather than
 * overrunning it, so nothing typed at the console is lost; the only overrun
 * possible is in loopback mode, where the guest feeds itself.
 *
 * Interrupts: the ISA IRQ is edge-triggered and delivered through an irqfd,
 * so the model keeps the level of the UART's INTR pin (any enabled cause
 * pending) and signals the eventfd on each rising edge, as the real pin
 * would clock an edge into the PIC/IOAPIC. Linux's 8250 interrupt handler
 * loops until IIR reads "no interrupt", which lowers the line, so every
 * later cause produces a fresh edge. OUT2 does not gate the line (on a PC
 * it drives a tri-state buffer; with an irqfd there is nothing to gate, and
 * IER is zero until a driver takes the port).
 *
 * Locking: one mutex per UART serialises the vCPU threads and the input
 * thread. The sink is called after the lock is dropped so a slow console
 * cannot block the input thread.
 */
#include "devices/serial.h"

#include <errno.h>
#include <string.h>

#include "base/eventfd.h"

/* Status bits the modem lines report: from MCR in loopback mode, and
 * otherwise a permanently connected, ready peer (CTS, DSR, DCD) so that
 * drivers waiting for carrier or clear-to-send proceed. */
static uint8_t msr_status(const struct serial *s)
{
	if (!(s->mcr & SERIAL_MCR_LOOP))
		return SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD;
	uint8_t v = 0;
	if (s->mcr & SERIAL_MCR_RTS)
		v |= SERIAL_MSR_CTS;
	if (s->mcr & SERIAL_MCR_DTR)
		v |= SERIAL_MSR_DSR;
	if (s->mcr & SERIAL_MCR_OUT1)
		v |= SERIAL_MSR_RI;
	if (s->mcr & SERIAL_MCR_OUT2)
		v |= SERIAL_MSR_DCD;
	return v;
}

/* The highest-priority enabled pending cause as an IIR interrupt ID, or
 * SERIAL_IIR_NO_INT. Priority: line status, received data, THR empty,
 * modem status. */
static uint8_t pending_id(const struct serial *s)
{
	if ((s->ier & SERIAL_IER_ELSI) && s->lsr_err)
		return SERIAL_IIR_RLS;
	if ((s->ier & SERIAL_IER_ERBFI) && s->rx_count > 0)
		return SERIAL_IIR_RDA;
	if ((s->ier & SERIAL_IER_ETBEI) && s->thre_pending)
		return SERIAL_IIR_THRE;
	if ((s->ier & SERIAL_IER_EDSSI) && s->msr_delta)
		return SERIAL_IIR_MSR;
	return SERIAL_IIR_NO_INT;
}

/* Recomputes the INTR line after a state change; a rising edge signals the
 * irqfd. Called with the lock held (an eventfd write never blocks). */
static void update_irq(struct serial *s)
{
	bool level = pending_id(s) != SERIAL_IIR_NO_INT;
	if (level && !s->irq_line && s->irq_evt >= 0)
		(void)evfd_signal(s->irq_evt); /* nothing to do on failure */
	s->irq_line = level;
}

static void rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

static bool rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count >= SERIAL_RX_CAPACITY)
		return false;
	s->rx_buf[(s->rx_head + s->rx_count) % SERIAL_RX_CAPACITY] = b;
	s->rx_count++;
	return true;
}

/* Pops one received byte (0 when empty, like reading an empty RBR), and
 * tells the input thread there is room again if it was refused. */
static uint8_t rx_pop(struct serial *s)
{
	if (s->rx_count == 0)
		return 0;
	uint8_t b = s->rx_buf[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_RX_CAPACITY;
	s->rx_count--;
	if (s->rx_refused) {
		s->rx_refused = false;
		if (s->room_evt >= 0)
			(void)evfd_signal(s->room_evt);
	}
	return b;
}

int serial_init(struct serial *s, int irq_evt, struct serial_sink sink)
{
	memset(s, 0, sizeof(*s));
	int r = pthread_mutex_init(&s->lock, NULL);
	if (r)
		return -r;
	s->irq_evt = irq_evt;
	s->room_evt = -1;
	s->sink = sink;
	/* Power-on: THR empty, but the THRE interrupt is armed only when the
	 * guest enables ETBEI. */
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
}

void serial_set_room_evt(struct serial *s, int room_evt)
{
	pthread_mutex_lock(&s->lock);
	s->room_evt = room_evt;
	pthread_mutex_unlock(&s->lock);
}

size_t serial_queue_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	if (s->mcr & SERIAL_MCR_LOOP) {
		/* Receiver disconnected from the line: the bytes vanish. */
		n = len;
	} else {
		while (n < len && rx_push(s, buf[n]))
			n++;
		if (n < len)
			s->rx_refused = true;
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool serial_input_has_room(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	bool room = (s->mcr & SERIAL_MCR_LOOP) || s->rx_count < SERIAL_RX_CAPACITY;
	pthread_mutex_unlock(&s->lock);
	return room;
}

static uint8_t reg_read(struct serial *s, uint64_t offset)
{
	bool dlab = s->lcr & SERIAL_LCR_DLAB;
	uint8_t v = 0;

	switch (offset) {
	case SERIAL_RBR_THR:
		if (dlab)
			return s->dll;
		v = rx_pop(s);
		break;
	case SERIAL_IER:
		return dlab ? s->dlm : s->ier;
	case SERIAL_IIR_FCR:
		v = pending_id(s);
		/* Reading IIR acknowledges a THR-empty interrupt, but only
		 * when IIR is the one reporting it. */
		if (v == SERIAL_IIR_THRE)
			s->thre_pending = false;
		if (s->fcr & SERIAL_FCR_ENABLE)
			v |= SERIAL_IIR_FIFO;
		break;
	case SERIAL_LCR:
		return s->lcr;
	case SERIAL_MCR:
		return s->mcr;
	case SERIAL_LSR:
		v = SERIAL_LSR_THRE | SERIAL_LSR_TEMT | s->lsr_err;
		if (s->rx_count > 0)
			v |= SERIAL_LSR_DR;
		s->lsr_err = 0;
		break;
	case SERIAL_MSR:
		v = msr_status(s) | s->msr_delta;
		s->msr_delta = 0;
		break;
	case SERIAL_SCR:
		return s->scr;
	default:
		return 0;
	}
	update_irq(s);
	return v;
}

/* Applies a register write. Returns true and sets *tx when a byte must be
 * sent to the sink once the lock is dropped. */
static bool reg_write(struct serial *s, uint64_t offset, uint8_t v, uint8_t *tx)
{
	bool dlab = s->lcr & SERIAL_LCR_DLAB;
	bool send = false;

	switch (offset) {
	case SERIAL_RBR_THR:
		if (dlab) {
			s->dll = v;
			return false;
		}
		/* Loading THR clears the THRE interrupt; the byte then leaves
		 * at once, emptying THR again and re-arming it. Updating the
		 * line in between yields one edge per byte when THRE is the
		 * only enabled cause. */
		s->thre_pending = false;
		update_irq(s);
		if (s->mcr & SERIAL_MCR_LOOP) {
			if (!rx_push(s, v))
				s->lsr_err |= SERIAL_LSR_OE;
		} else {
			*tx = v;
			send = true;
		}
		s->thre_pending = true;
		break;
	case SERIAL_IER: {
		if (dlab) {
			s->dlm = v;
			return false;
		}
		uint8_t old = s->ier;
		s->ier = v & 0x0f;
		/* Enabling ETBEI while THR is empty (always) raises THRE. */
		if (!(old & SERIAL_IER_ETBEI) && (s->ier & SERIAL_IER_ETBEI))
			s->thre_pending = true;
		break;
	}
	case SERIAL_IIR_FCR: {
		uint8_t old = s->fcr;
		/* Keep enable, DMA mode and trigger level; bits 1-2 act and
		 * self-clear, bits 4-5 are reserved on a 16550A. */
		s->fcr = v & 0xc9;
		if ((v & SERIAL_FCR_CLEAR_RX) ||
		    ((old ^ s->fcr) & SERIAL_FCR_ENABLE)) {
			rx_clear(s);
		}
		break;
	}
	case SERIAL_LCR:
		s->lcr = v;
		return false;
	case SERIAL_MCR: {
		uint8_t before = msr_status(s);
		s->mcr = v & 0x1f;
		uint8_t after = msr_status(s);
		uint8_t changed = before ^ after;
		if (changed & SERIAL_MSR_CTS)
			s->msr_delta |= SERIAL_MSR_DCTS;
		if (changed & SERIAL_MSR_DSR)
			s->msr_delta |= SERIAL_MSR_DDSR;
		if ((before & SERIAL_MSR_RI) && !(after & SERIAL_MSR_RI))
			s->msr_delta |= SERIAL_MSR_TERI;
		if (changed & SERIAL_MSR_DCD)
			s->msr_delta |= SERIAL_MSR_DDCD;
		break;
	}
	case SERIAL_LSR:
	case SERIAL_MSR:
		/* Factory-test writes on real parts; ignored. */
		return false;
	case SERIAL_SCR:
		s->scr = v;
		return false;
	default:
		return false;
	}
	update_irq(s);
	return send;
}

static void serial_bus_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct serial *s = dev;
	if (len == 0)
		return;
	memset(data, 0, len);
	pthread_mutex_lock(&s->lock);
	data[0] = reg_read(s, offset);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct serial *s = dev;
	if (len == 0)
		return;
	uint8_t tx = 0;
	pthread_mutex_lock(&s->lock);
	bool send = reg_write(s, offset, data[0], &tx);
	struct serial_sink sink = s->sink;
	pthread_mutex_unlock(&s->lock);
	if (send && sink.write)
		sink.write(sink.ctx, &tx, 1);
}

const struct bus_device_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};
