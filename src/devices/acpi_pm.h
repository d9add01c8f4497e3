/*
 * ACPI fixed-hardware power management registers: the PM1a event block
 * (PM1_STS, PM1_EN; 4 bytes) and the PM1a control block (PM1_CNT;
 * 2 bytes), each its own bus window. Writing SLP_EN with the S5 sleep type
 * requests power-off by signalling an eventfd.
 */
#ifndef CROSVM_DEVICES_ACPI_PM_H
#define CROSVM_DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdint.h>

#include "base/types.h"
#include "devices/bus.h"

#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_LEN 2

/* PM1_STS / PM1_EN bits. */
#define ACPI_PM1_TMR 0x0001
#define ACPI_PM1_BM_STS 0x0010
#define ACPI_PM1_GBL 0x0020
#define ACPI_PM1_PWRBTN 0x0100
#define ACPI_PM1_SLPBTN 0x0200
#define ACPI_PM1_RTC 0x0400
#define ACPI_PM1_PCIEXP_WAKE 0x4000
#define ACPI_PM1_WAK_STS 0x8000

/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN 0x0001
#define ACPI_PM1_CNT_BM_RLD 0x0002
#define ACPI_PM1_CNT_GBL_RLS 0x0004
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK 0x1c00
#define ACPI_PM1_CNT_SLP_EN 0x2000

struct acpi_pm {
	pthread_mutex_t lock;
	int poweroff_evt; /* borrowed; -1 for none */
	uint8_t s5_slp_typ;
	uint16_t sts, en, cnt;
};

/* poweroff_evt (borrowed; -1 for none) is signalled when the guest writes
 * PM1_CNT with SLP_EN set and SLP_TYP == s5_slp_typ (the value the DSDT's
 * \_S5 object announces). Returns 0 or -errno. */
int acpi_pm_init(struct acpi_pm *pm, int poweroff_evt, uint8_t s5_slp_typ) MUST_USE;
/* Accepts NULL. */
void acpi_pm_destroy(struct acpi_pm *pm);

/* dev is the struct acpi_pm for both; 1-, 2- and 4-byte accesses at any
 * offset inside the window are handled byte by byte, little-endian. */
extern const struct bus_device_ops acpi_pm_evt_ops; /* ACPI_PM1_EVT_LEN ports */
extern const struct bus_device_ops acpi_pm_cnt_ops; /* ACPI_PM1_CNT_LEN ports */

#endif
