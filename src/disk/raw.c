/*
 * Raw image format: the virtual disk is the host file byte for byte, so a
 * request goes to the engine unchanged, and resizing the disk is resizing
 * the file. Other formats (qcow2, ...) will translate offsets and split
 * requests here instead.
 */
#include "disk/disk_internal.h"

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

static int raw_open(struct disk *d)
{
	disk_store_size(d, d->host_size);
	return 0;
}

/*
 * The order keeps every request the worker validates against the size it
 * loads inside the file: growing, the file is extended before the larger
 * size is published (so a read up to the new end never meets end of file);
 * shrinking, the smaller size is published first (so new requests past the
 * new end are refused) and the file cut afterwards. A shrink that fails
 * puts the old size back.
 */
static int raw_set_size(struct disk *d, uint64_t new_size)
{
	uint64_t old = disk_load_size(d);
	if (new_size >= old) {
		if (ftruncate(d->fd, (off_t)new_size) < 0)
			return -errno;
		d->host_size = new_size;
		disk_store_size(d, new_size);
		return 0;
	}
	disk_store_size(d, new_size);
	if (ftruncate(d->fd, (off_t)new_size) < 0) {
		int r = -errno;
		disk_store_size(d, old);
		return r;
	}
	d->host_size = new_size;
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
	.set_size = raw_set_size,
	.submit = raw_submit,
	.close = raw_close,
};
