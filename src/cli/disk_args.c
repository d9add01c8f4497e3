/*
 * Parsing of the disk options -r/--root, --rwroot, -d/--disk and --rwdisk:
 * `PATH[,sparse=BOOL][,block_size=BYTES][,id=STRING][,o_direct=BOOL]`,
 * crosvm's syntax and defaults (sparse on, 512-byte blocks).
 */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/parse.h"

int disk_arg_parse(char *value, bool read_only, bool root, struct run_config *cfg, char *err, size_t errlen)
{
	const char *opt = root ? (read_only ? "--root" : "--rwroot") : (read_only ? "--disk" : "--rwdisk");
	if (cfg->nr_disks >= MAX_DISKS)
		return args_fail(err, errlen, opt, "too many disks (at most %d)", MAX_DISKS);
	if (root)
		for (size_t i = 0; i < cfg->nr_disks; i++)
			if (cfg->disks[i].root)
				return args_fail(err, errlen, opt, "only one root disk may be given");
	struct disk_config d = {
		.read_only = read_only,
		.root = root,
		.sparse = true,
		.block_size = 512,
	};
	char *comma = strchr(value, ',');
	if (comma)
		*comma = '\0';
	if (!*value)
		return args_fail(err, errlen, opt, "no image path");
	d.path = value;
	if (comma) {
		struct kv_iter it;
		char *k, *v;
		kv_init(&it, comma + 1);
		while (kv_next(&it, &k, &v)) {
			if (strcmp(k, "sparse") == 0) {
				if (parse_bool(v, &d.sparse) < 0)
					return args_fail(err, errlen, opt, "sparse must be true or false, not '%s'", v);
			} else if (strcmp(k, "o_direct") == 0) {
				if (parse_bool(v, &d.o_direct) < 0)
					return args_fail(err, errlen, opt, "o_direct must be true or false, not '%s'", v);
			} else if (strcmp(k, "block_size") == 0) {
				uint64_t bs;
				if (parse_u64_range(v, 512, 65536, &bs) < 0 || (bs & (bs - 1)))
					return args_fail(err, errlen, opt,
						    "block_size must be a power of two from 512 to 65536, not '%s'", v);
				d.block_size = (uint32_t)bs;
			} else if (strcmp(k, "id") == 0) {
				size_t n = strlen(v);
				if (n > DISK_ID_MAX)
					return args_fail(err, errlen, opt, "id '%s' is longer than %d characters", v,
						    DISK_ID_MAX);
				for (size_t i = 0; i < n; i++)
					if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
						return args_fail(err, errlen, opt, "id must be printable ASCII");
				memcpy(d.id, v, n + 1);
			} else {
				return args_fail(err, errlen, opt,
					    "unknown key '%s' (sparse, block_size, id or o_direct)", k);
			}
		}
	}
	cfg->disks[cfg->nr_disks++] = d;
	return 0;
}
