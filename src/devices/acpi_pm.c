/*
 * ACPI PM1a event and control registers, so that an ACPI guest can power
 * the VM off (S5). The VM has no SMI handler to switch between legacy and
 * ACPI mode, so SCI_EN always reads 1: the guest finds the platform
 * already in ACPI mode and never writes SMI_CMD. Status bits are
 * write-1-to-clear; nothing currently sets them (there is no PM timer or
 * power button here), but the guest's writes behave as the specification
 * says. Sleep states other than S5 are not supported: such a request is
 * recorded in SLP_TYP and otherwise ignored, so the guest keeps running.
 *
 * Accesses of any width are split into bytes; a 16-bit register is
 * updated from the bytes of one access before its side effects are
 * evaluated, so a byte write of PM1_CNT's upper half triggers the sleep
 * just as a word write does.
 */
#include "devices/acpi_pm.h"

#include <string.h>

#include "base/eventfd.h"

/* Status bits the hardware defines; others read 0. */
#define STS_MASK                                                                          \
	(ACPI_PM1_TMR | ACPI_PM1_BM_STS | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | \
	 ACPI_PM1_RTC | ACPI_PM1_PCIEXP_WAKE | ACPI_PM1_WAK_STS)
#define EN_MASK \
	(ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_SLPBTN | ACPI_PM1_RTC | \
	 ACPI_PM1_PCIEXP_WAKE)
/* PM1_CNT bits kept in the register; GBL_RLS and SLP_EN are write-only. */
#define CNT_KEEP (ACPI_PM1_CNT_BM_RLD | ACPI_PM1_CNT_SLP_TYP_MASK)

int acpi_pm_init(struct acpi_pm *pm, int poweroff_evt, uint8_t s5_slp_typ)
{
	memset(pm, 0, sizeof(*pm));
	int r = pthread_mutex_init(&pm->lock, NULL);
	if (r)
		return -r;
	pm->poweroff_evt = poweroff_evt;
	pm->s5_slp_typ = s5_slp_typ & 7;
	return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
}

/* Byte-access clamp: the part of [offset, offset+len) inside the window. */
static uint32_t clamp(uint64_t offset, uint32_t len, uint32_t window)
{
	if (offset >= window)
		return 0;
	return len < window - offset ? len : (uint32_t)(window - offset);
}

static void evt_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	memset(data, 0, len);
	uint32_t n = clamp(offset, len, ACPI_PM1_EVT_LEN);
	pthread_mutex_lock(&pm->lock);
	uint8_t regs[ACPI_PM1_EVT_LEN] = {
		(uint8_t)pm->sts, (uint8_t)(pm->sts >> 8), (uint8_t)pm->en, (uint8_t)(pm->en >> 8),
	};
	pthread_mutex_unlock(&pm->lock);
	if (n)
		memcpy(data, regs + offset, n);
}

static void evt_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint32_t n = clamp(offset, len, ACPI_PM1_EVT_LEN);
	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = offset + i;
		unsigned shift = (unsigned)(at & 1) * 8;
		uint16_t v = (uint16_t)(data[i] << shift);
		if (at < 2) {
			pm->sts &= (uint16_t)~(v & STS_MASK); /* write 1 to clear */
		} else {
			uint16_t byte_mask = (uint16_t)(0xff << shift);
			pm->en = (uint16_t)((pm->en & ~byte_mask) | (v & byte_mask & EN_MASK));
		}
	}
	pthread_mutex_unlock(&pm->lock);
}

static void cnt_read(void *dev, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	memset(data, 0, len);
	uint32_t n = clamp(offset, len, ACPI_PM1_CNT_LEN);
	pthread_mutex_lock(&pm->lock);
	uint16_t v = pm->cnt | ACPI_PM1_CNT_SCI_EN;
	pthread_mutex_unlock(&pm->lock);
	uint8_t regs[ACPI_PM1_CNT_LEN] = { (uint8_t)v, (uint8_t)(v >> 8) };
	if (n)
		memcpy(data, regs + offset, n);
}

static void cnt_write(void *dev, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = dev;
	uint32_t n = clamp(offset, len, ACPI_PM1_CNT_LEN);
	if (n == 0)
		return;
	pthread_mutex_lock(&pm->lock);
	/* Merge the written bytes into the current value; write-only bits
	 * are not stored, so unwritten bytes never carry SLP_EN. */
	uint16_t v = pm->cnt;
	for (uint32_t i = 0; i < n; i++) {
		unsigned shift = (unsigned)(offset + i) * 8;
		v = (uint16_t)((v & ~(0xff << shift)) | (data[i] << shift));
	}
	pm->cnt = v & CNT_KEEP;
	bool sleep = v & ACPI_PM1_CNT_SLP_EN;
	uint8_t typ = (uint8_t)((v & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT);
	bool poweroff = sleep && typ == pm->s5_slp_typ && pm->poweroff_evt >= 0;
	int evt = pm->poweroff_evt;
	pthread_mutex_unlock(&pm->lock);
	if (poweroff)
		(void)evfd_signal(evt); /* nothing useful to do on failure */
}

const struct bus_device_ops acpi_pm_evt_ops = {
	.read = evt_read,
	.write = evt_write,
};

const struct bus_device_ops acpi_pm_cnt_ops = {
	.read = cnt_read,
	.write = cnt_write,
};
