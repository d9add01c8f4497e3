/*
 * Raw image format: the virtual disk is the host file byte for byte, so a
 * request goes to the engine unchanged. Other formats (qcow2, ...) will
 * translate offsets and split requests here instead.
 */
#include "disk/disk_internal.h"

static int raw_open(struct disk *d)
{
	d->size = d->host_size;
	return 0;
}

static int raw_submit(struct disk *d, struct disk_io *io)
{
	return d->engine->start(d, io);
}

static void raw_close(struct disk *d)
{
	(void)d;
}

const struct disk_ops disk_raw_ops = {
	.name = "raw",
	.open = raw_open,
	.submit = raw_submit,
	.close = raw_close,
};
