/*
 * An i8042 PS/2 keyboard controller with nothing plugged into its ports:
 * enough for Linux's i8042 driver to probe quickly and for `reboot` through
 * the controller's reset line. Two bus windows of one port each: the data
 * port (0x60 on x86) and the command/status port (0x64).
 */
#ifndef CROSVM_DEVICES_I8042_H
#define CROSVM_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/bus.h"

#define I8042_WINDOW_LEN 1
#define I8042_OUTBUF_CAP 16

/* Status register bits. */
#define I8042_STR_OBF 0x01     /* output buffer full: data to read at 0x60 */
#define I8042_STR_IBF 0x02     /* input buffer full (never: writes apply at once) */
#define I8042_STR_SYSFLAG 0x04 /* mirrors command byte bit 2 */
#define I8042_STR_CMDDAT 0x08  /* last write went to the command port */
#define I8042_STR_KEYLOCK 0x10 /* set = keyboard not inhibited */
#define I8042_STR_AUXDATA 0x20 /* output buffer byte came from the aux port */
#define I8042_STR_TIMEOUT 0x40 /* the device the last byte was sent to did not answer */

/* Command byte (controller RAM byte 0) bits. */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYSFLAG 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE 0x40

struct i8042_out {
	uint8_t byte;
	uint8_t status; /* I8042_STR_AUXDATA / I8042_STR_TIMEOUT to report with it */
};

struct i8042 {
	pthread_mutex_t lock;
	int reset_evt;	  /* borrowed; -1 for none */
	int kbd_irq_evt;  /* borrowed; -1 for none (ISA IRQ 1) */
	int aux_irq_evt;  /* borrowed; -1 for none (ISA IRQ 12) */
	uint8_t ram[32];  /* ram[0] is the command byte */
	uint8_t outp;	  /* output port (bit 0 = reset line, high = running) */
	uint8_t pending;  /* command waiting for its data byte, 0 = none */
	bool last_cmd;	  /* I8042_STR_CMDDAT */
	bool kbd_line, aux_line; /* levels of the modelled IRQ outputs */
	struct i8042_out out[I8042_OUTBUF_CAP];
	uint32_t out_head, out_count;
};

/* Initialises the controller as firmware would leave it. reset_evt
 * (borrowed; -1 for none) is signalled when the guest pulses the reset
 * line (command 0xFE, or 0xD1 with bit 0 clear). Returns 0 or -errno. */
int i8042_init(struct i8042 *d, int reset_evt) MUST_USE;
/* Optional IRQ 1 / IRQ 12 eventfds (borrowed; -1 for none), registered by
 * the VMM as edge-triggered irqfds. Without them Linux's probe still works
 * but waits out its timeouts for the (absent) keyboard and mouse to
 * answer; with them the controller's immediate "no device" replies reach
 * the driver at once. */
void i8042_set_irq_evts(struct i8042 *d, int kbd_irq_evt, int aux_irq_evt);
/* Accepts NULL. */
void i8042_destroy(struct i8042 *d);

/* dev is the struct i8042 for both. Wider accesses use the first byte. */
extern const struct bus_device_ops i8042_data_ops; /* 1 port at 0x60 */
extern const struct bus_device_ops i8042_cmd_ops;  /* 1 port at 0x64 */

#endif
