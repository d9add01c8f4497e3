/*
 * MC146818 RTC/CMOS model. Firmware-visible RAM is a plain 128-byte array;
 * the clock registers are not stored but computed from the host clock on
 * every read, so the guest's wall clock needs no timer thread and never
 * drifts from the host's. The update cycle is never in progress (register
 * A's UIP bit reads 0) and register D always reports valid RAM and time,
 * so Linux reads the clock without waiting. Guest writes to the clock
 * registers are ignored (hwclock --systohc has no effect), and no RTC
 * interrupts are generated: Linux only needs the time at boot.
 *
 * Register B's DM bit selects binary or BCD and its 24/12 bit the hour
 * format, as the guest programs them; they default to BCD, 24-hour.
 */
#include "devices/cmos.h"

#include <string.h>

static time_t host_now(void *ctx)
{
	(void)ctx;
	return time(NULL);
}

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static void put16(uint8_t *nv, unsigned idx, uint64_t v)
{
	nv[idx] = (uint8_t)v;
	nv[idx + 1] = (uint8_t)(v >> 8);
}

int cmos_init(struct cmos *c, uint64_t mem_below_4g, uint64_t mem_above_4g)
{
	memset(c, 0, sizeof(*c));
	int r = pthread_mutex_init(&c->lock, NULL);
	if (r)
		return -r;
	c->now = host_now;

	c->nvram[CMOS_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	c->nvram[CMOS_REG_B] = CMOS_REG_B_24H;

	/* Conventional memory in KiB, then extended memory (above 1 MiB) in
	 * KiB, capped at what 16 bits hold; both as PC firmware lays out. */
	put16(c->nvram, 0x15, 640);
	uint64_t ext_kib = mem_below_4g > MiB(1) ? (mem_below_4g - MiB(1)) >> 10 : 0;
	if (ext_kib > 0xffff)
		ext_kib = 0xffff;
	put16(c->nvram, 0x17, ext_kib);
	put16(c->nvram, 0x30, ext_kib);

	uint64_t above16 = mem_below_4g > MiB(16) ? (mem_below_4g - MiB(16)) >> 16 : 0;
	if (above16 > 0xffff)
		above16 = 0xffff;
	put16(c->nvram, CMOS_MEM_ABOVE_16M_LO, above16);

	uint64_t above4g = mem_above_4g >> 16;
	if (above4g > 0xffffff)
		above4g = 0xffffff;
	c->nvram[CMOS_MEM_ABOVE_4G_LO] = (uint8_t)above4g;
	c->nvram[CMOS_MEM_ABOVE_4G_MID] = (uint8_t)(above4g >> 8);
	c->nvram[CMOS_MEM_ABOVE_4G_HI] = (uint8_t)(above4g >> 16);

	/* Standard checksum over 0x10..0x2d, big-endian at 0x2e. */
	unsigned sum = 0;
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += c->nvram[i];
	c->nvram[0x2e] = (uint8_t)(sum >> 8);
	c->nvram[0x2f] = (uint8_t)sum;
	return 0;
}

void cmos_destroy(struct cmos *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
}

void cmos_set_time_source(struct cmos *c, time_t (*now)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&c->lock);
	c->now = now ? now : host_now;
	c->now_ctx = now ? ctx : NULL;
	pthread_mutex_unlock(&c->lock);
}

static bool is_clock_reg(uint8_t idx)
{
	switch (idx) {
	case CMOS_SECONDS:
	case CMOS_MINUTES:
	case CMOS_HOURS:
	case CMOS_WEEKDAY:
	case CMOS_DAY:
	case CMOS_MONTH:
	case CMOS_YEAR:
	case CMOS_CENTURY:
		return true;
	default:
		return false;
	}
}

static uint8_t clock_read(const struct cmos *c, uint8_t idx)
{
	time_t t = c->now(c->now_ctx);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return 0;
	uint8_t regb = c->nvram[CMOS_REG_B];
	bool binary = regb & CMOS_REG_B_DM;
	unsigned v;

	switch (idx) {
	case CMOS_SECONDS:
		v = (unsigned)tm.tm_sec;
		break;
	case CMOS_MINUTES:
		v = (unsigned)tm.tm_min;
		break;
	case CMOS_HOURS: {
		if (regb & CMOS_REG_B_24H) {
			v = (unsigned)tm.tm_hour;
			break;
		}
		/* 12-hour: 12, 1..11, with bit 7 marking PM. */
		unsigned h = (unsigned)tm.tm_hour % 12;
		uint8_t pm = tm.tm_hour >= 12 ? 0x80 : 0;
		h = h ? h : 12;
		return (uint8_t)((binary ? h : to_bcd(h)) | pm);
	}
	case CMOS_WEEKDAY:
		v = (unsigned)tm.tm_wday + 1; /* 1 = Sunday */
		break;
	case CMOS_DAY:
		v = (unsigned)tm.tm_mday;
		break;
	case CMOS_MONTH:
		v = (unsigned)tm.tm_mon + 1;
		break;
	case CMOS_YEAR:
		v = (unsigned)((tm.tm_year + 1900) % 100);
		break;
	default: /* CMOS_CENTURY */
		v = (unsigned)((tm.tm_year + 1900) / 100);
		break;
	}
	return binary ? (uint8_t)v : to_bcd(v);
}

static uint8_t data_read(struct cmos *c)
{
	uint8_t idx = c->index;
	if (is_clock_reg(idx))
		return clock_read(c, idx);
	switch (idx) {
	case CMOS_REG_A:
		return c->nvram[idx] & (uint8_t)~CMOS_REG_A_UIP;
	case CMOS_REG_C:
		return 0; /* no interrupt flags: we raise no RTC interrupts */
	case CMOS_REG_D:
		return CMOS_REG_D_VRT;
	default:
		return c->nvram[idx];
	}
}

static void data_write(struct cmos *c, uint8_t v)
{
	uint8_t idx = c->index;
	if (is_clock_reg(idx))
		return; /* the clock follows the host */
	switch (idx) {
	case CMOS_REG_A:
		c->nvram[idx] = v & (uint8_t)~CMOS_REG_A_UIP;
		break;
	case CMOS_REG_C:
	case CMOS_REG_D:
		break; /* read-only */
	default:
		c->nvram[idx] = v;
		break;
	}
}

static void cmos_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct cmos *c = dev;
	if (len == 0)
		return;
	memset(data, 0, len);
	pthread_mutex_lock(&c->lock);
	if (offset == 0)
		data[0] = c->index;
	else if (offset == 1)
		data[0] = data_read(c);
	pthread_mutex_unlock(&c->lock);
}

static void cmos_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct cmos *c = dev;
	if (len == 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (offset == 0)
		c->index = data[0] & 0x7f; /* bit 7 masks NMIs: nothing to do */
	else if (offset == 1)
		data_write(c, data[0]);
	pthread_mutex_unlock(&c->lock);
}

const struct bus_device_ops cmos_bus_ops = {
	.read = cmos_read,
	.write = cmos_write,
};
