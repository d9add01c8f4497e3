/*
 * MC146818 real-time clock and CMOS RAM: an index port and a data port
 * (a 2-port bus window at 0x70 on x86). The clock reads the host's current
 * UTC time on every access; the RAM holds the firmware memory-size fields.
 */
#ifndef CROSVM_DEVICES_CMOS_H
#define CROSVM_DEVICES_CMOS_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/types.h"
#include "devices/bus.h"

#define CMOS_WINDOW_LEN 2
#define CMOS_NVRAM_SIZE 128

/* Register indexes. */
#define CMOS_SECONDS 0x00
#define CMOS_SECONDS_ALARM 0x01
#define CMOS_MINUTES 0x02
#define CMOS_MINUTES_ALARM 0x03
#define CMOS_HOURS 0x04
#define CMOS_HOURS_ALARM 0x05
#define CMOS_WEEKDAY 0x06
#define CMOS_DAY 0x07
#define CMOS_MONTH 0x08
#define CMOS_YEAR 0x09
#define CMOS_REG_A 0x0a
#define CMOS_REG_B 0x0b
#define CMOS_REG_C 0x0c
#define CMOS_REG_D 0x0d
#define CMOS_CENTURY 0x32
#define CMOS_MEM_ABOVE_16M_LO 0x34 /* 64 KiB units of RAM between 16 MiB and 4 GiB */
#define CMOS_MEM_ABOVE_16M_HI 0x35
#define CMOS_MEM_ABOVE_4G_LO 0x5b  /* 64 KiB units of RAM above 4 GiB, 24 bits */
#define CMOS_MEM_ABOVE_4G_MID 0x5c
#define CMOS_MEM_ABOVE_4G_HI 0x5d

#define CMOS_REG_A_UIP 0x80
#define CMOS_REG_B_SET 0x80
#define CMOS_REG_B_DM 0x04   /* binary (not BCD) data */
#define CMOS_REG_B_24H 0x02
#define CMOS_REG_D_VRT 0x80

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t nvram[CMOS_NVRAM_SIZE];
	time_t (*now)(void *ctx); /* clock source */
	void *now_ctx;		  /* borrowed */
};

/* Initialises the RTC (24-hour, BCD) and fills the memory-size fields:
 * mem_below_4g is the guest RAM below 4 GiB counted from address 0,
 * mem_above_4g the RAM at and above 4 GiB. Returns 0 or -errno. */
int cmos_init(struct cmos *c, uint64_t mem_below_4g, uint64_t mem_above_4g) MUST_USE;
/* Accepts NULL. */
void cmos_destroy(struct cmos *c);
/* Replaces the clock source (default: time(NULL)); now() returns seconds
 * since the epoch, interpreted as UTC. ctx is borrowed. For tests, or to
 * run the guest clock at an offset. */
void cmos_set_time_source(struct cmos *c, time_t (*now)(void *ctx), void *ctx);

/* Offset 0: index (bit 7, the NMI mask, is ignored); offset 1: data. */
extern const struct bus_device_ops cmos_bus_ops;

#endif
