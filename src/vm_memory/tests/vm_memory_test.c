/* Unit tests for guest memory: region layout, bounds checks, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm_memory/vm_memory.h"

static void test_create_and_access(void **state)
{
	(void)state;
	struct gm_range r[] = { { GPA(0), 0x10000 }, { GPA(0x100000), 0x10000 } };
	struct guest_memory gm;
	assert_int_equal(gm_create(&gm, r, 2), 0);
	assert_int_equal(gm.total_size, 0x20000);
	assert_int_equal(gm_end(&gm), 0x110000);

	uint32_t v = 0xdeadbeef, out = 0;
	assert_int_equal(gm_write_obj(&gm, GPA(0x100010), &v), 0);
	assert_int_equal(gm_read_obj(&gm, GPA(0x100010), &out), 0);
	assert_int_equal(out, 0xdeadbeef);
	/* The second region is the memfd's second half. */
	assert_int_equal(gm.regions[1].fd_offset, 0x10000);

	/* Hole, straddling, end, overflow. */
	assert_int_equal(gm_read_obj(&gm, GPA(0x20000), &out), -EFAULT);
	assert_int_equal(gm_read_obj(&gm, GPA(0xfffe), &out), -EFAULT);
	assert_int_equal(gm_read_obj(&gm, GPA(0x10fffd), &out), -EFAULT);
	assert_int_equal(gm_read(&gm, GPA(0x100000), &out, SIZE_MAX), -EFAULT);
	assert_int_equal(gm_read_obj(&gm, GPA(UINT64_MAX - 1), &out), -EFAULT);
	assert_null(gm_get_slice(&gm, GPA(0x10000), 1));
	assert_non_null(gm_get_slice(&gm, GPA(0xffff), 1));
	assert_true(gm_range_valid(&gm, GPA(0x10000), 0) == false);
	assert_int_equal(gm_fill(&gm, GPA(0), 0xaa, 0x10000), 0);
	gm_destroy(&gm);
	gm_destroy(&gm);
}

static void test_bad_ranges(void **state)
{
	(void)state;
	struct guest_memory gm;
	struct gm_range overlap[] = { { GPA(0), 0x20000 }, { GPA(0x10000), 0x10000 } };
	assert_int_equal(gm_create(&gm, overlap, 2), -EINVAL);
	struct gm_range unaligned[] = { { GPA(0x10), 0x1000 } };
	assert_int_equal(gm_create(&gm, unaligned, 1), -EINVAL);
	struct gm_range empty[] = { { GPA(0), 0 } };
	assert_int_equal(gm_create(&gm, empty, 1), -EINVAL);
	struct gm_range wrap[] = { { GPA(UINT64_MAX - 0xfff), 0x2000 } };
	assert_int_equal(gm_create(&gm, wrap, 1), -EINVAL);
	assert_int_equal(gm_create(&gm, NULL, 0), -EINVAL);
	gm_destroy(&gm);
}

static void test_atomic_u16(void **state)
{
	(void)state;
	struct gm_range r[] = { { GPA(0), MiB(1) } };
	struct guest_memory gm;
	assert_int_equal(gm_create(&gm, r, 1), 0);

	/* Little-endian in guest memory whatever the host. */
	assert_int_equal(gm_store_release_u16(&gm, GPA(0x102), 0xbeef), 0);
	uint8_t raw[2];
	assert_int_equal(gm_read(&gm, GPA(0x102), raw, 2), 0);
	assert_int_equal(raw[0], 0xef);
	assert_int_equal(raw[1], 0xbe);
	uint16_t v = 0;
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(0x102), &v), 0);
	assert_int_equal(v, 0xbeef);
	uint8_t other[2] = { 0x34, 0x12 };
	assert_int_equal(gm_write(&gm, GPA(0x200), other, 2), 0);
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(0x200), &v), 0);
	assert_int_equal(v, 0x1234);

	/* Last aligned slot of the region works; past it, or straddling, not. */
	assert_int_equal(gm_store_release_u16(&gm, GPA(MiB(1) - 2), 7), 0);
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(MiB(1) - 2), &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(MiB(1)), &v), -EFAULT);
	assert_int_equal(gm_store_release_u16(&gm, GPA(MiB(1)), 1), -EFAULT);
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(MiB(1) - 1), &v), -EFAULT);
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(UINT64_MAX - 1), &v), -EFAULT);
	assert_int_equal(gm_store_release_u16(&gm, GPA(UINT64_MAX), 1), -EFAULT);

	/* Misaligned inside memory: refused, memory untouched. */
	v = 0x5555;
	assert_int_equal(gm_load_acquire_u16(&gm, GPA(0x103), &v), -EINVAL);
	assert_int_equal(v, 0x5555);
	assert_int_equal(gm_store_release_u16(&gm, GPA(0x101), 0xffff), -EINVAL);
	assert_int_equal(gm_read(&gm, GPA(0x100), raw, 2), 0);
	assert_int_equal(raw[0], 0);
	assert_int_equal(raw[1], 0);
	gm_destroy(&gm);
}

static uint64_t memfd_blocks(const struct guest_memory *gm)
{
	struct stat st;
	assert_int_equal(fstat(gm->memfd, &st), 0);
	return (uint64_t)st.st_blocks;
}

static void test_discard(void **state)
{
	(void)state;
	struct gm_range r[] = { { GPA(0), KiB(256) }, { GPA(MiB(1)), KiB(256) } };
	struct guest_memory gm;
	assert_int_equal(gm_create(&gm, r, 2), 0);
	assert_int_equal(gm_fill(&gm, GPA(0), 0xaa, KiB(256)), 0);
	assert_int_equal(gm_fill(&gm, GPA(MiB(1)), 0xbb, KiB(256)), 0);
	uint64_t before = memfd_blocks(&gm);

	/* Two pages of the second region: the memfd holds less (checked
	 * first: reading a hole of a shared memfd mapping faults a page back
	 * in), they read back as zeros, and their neighbours keep their
	 * contents. */
	assert_int_equal(gm_discard(&gm, GPA(MiB(1) + KiB(8)), KiB(8)), 0);
	assert_true(memfd_blocks(&gm) < before);
	uint8_t b[3];
	assert_int_equal(gm_read(&gm, GPA(MiB(1) + KiB(8) - 1), b, 1), 0);
	assert_int_equal(b[0], 0xbb);
	assert_int_equal(gm_read(&gm, GPA(MiB(1) + KiB(8)), b, 1), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(gm_read(&gm, GPA(MiB(1) + KiB(16) - 1), b, 2), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 0xbb);
	/* The first region (earlier in the memfd) is untouched. */
	assert_int_equal(gm_read(&gm, GPA(KiB(8)), b, 1), 0);
	assert_int_equal(b[0], 0xaa);
	/* Discarded memory is usable again (faults in fresh zero pages). */
	assert_int_equal(gm_fill(&gm, GPA(MiB(1) + KiB(8)), 0xcc, 1), 0);
	assert_int_equal(gm_read(&gm, GPA(MiB(1) + KiB(8)), b, 1), 0);
	assert_int_equal(b[0], 0xcc);
	/* A whole region, first page of guest memory included. */
	assert_int_equal(gm_discard(&gm, GPA(0), KiB(256)), 0);
	assert_int_equal(gm_read(&gm, GPA(KiB(256) - 1), b, 1), 0);
	assert_int_equal(b[0], 0);

	/* Refusals: misaligned, empty, outside or straddling regions,
	 * overflowing. Nothing is discarded. */
	assert_int_equal(gm_fill(&gm, GPA(MiB(1)), 0xdd, KiB(4)), 0);
	assert_int_equal(gm_discard(&gm, GPA(MiB(1) + 1), KiB(4)), -EINVAL);
	assert_int_equal(gm_discard(&gm, GPA(MiB(1)), 100), -EINVAL);
	assert_int_equal(gm_discard(&gm, GPA(MiB(1)), 0), -EINVAL);
	assert_int_equal(gm_discard(&gm, GPA(KiB(256)), KiB(4)), -EFAULT);
	assert_int_equal(gm_discard(&gm, GPA(KiB(252)), KiB(8)), -EFAULT);
	assert_int_equal(gm_discard(&gm, GPA(MiB(1)), KiB(260)), -EFAULT);
	assert_int_equal(gm_discard(&gm, GPA(MiB(1) + KiB(252)), UINT64_MAX - KiB(4) + 1), -EFAULT);
	assert_int_equal(gm_discard(&gm, GPA(UINT64_MAX - KiB(4) + 1), KiB(4)), -EFAULT);
	assert_int_equal(gm_read(&gm, GPA(MiB(1)), b, 1), 0);
	assert_int_equal(b[0], 0xdd);
	gm_destroy(&gm);
}

/* A view of someone else's memfd, as a vhost-user device process maps the
 * front-end's guest memory: same bytes, regions checked against the fd. */
static void test_create_from_fds(void **state)
{
	(void)state;
	struct gm_range r[] = { { GPA(0), KiB(64) }, { GPA(MiB(1)), KiB(64) } };
	struct guest_memory owner, view;
	assert_int_equal(gm_create(&owner, r, 2), 0);
	/* Given out of order: sorted by base. */
	struct gm_fd_region fr[] = {
		{ GPA(MiB(1)), KiB(64), owner.memfd, KiB(64) },
		{ GPA(0), KiB(64), owner.memfd, 0 },
	};
	assert_int_equal(gm_create_from_fds(&view, fr, 2), 0);
	assert_int_equal(view.nr_regions, 2);
	assert_int_equal(gpa_val(view.regions[0].base), 0);
	assert_int_equal(gm_end(&view), MiB(1) + KiB(64));
	assert_true(view.memfd >= 0 && view.memfd != owner.memfd);
	uint32_t v = 0x12345678, out = 0;
	assert_int_equal(gm_write_obj(&owner, GPA(MiB(1) + 8), &v), 0);
	assert_int_equal(gm_read_obj(&view, GPA(MiB(1) + 8), &out), 0);
	assert_int_equal(out, v);
	assert_int_equal(gm_read_obj(&view, GPA(KiB(64)), &out), -EFAULT);
	gm_destroy(&view);

	/* Refusals: past the end of the fd, offset overflow, misaligned,
	 * empty, overlapping, too many, not a regular file. */
	struct gm_fd_region past[] = { { GPA(0), KiB(128), owner.memfd, KiB(4) } };
	assert_int_equal(gm_create_from_fds(&view, past, 1), -EINVAL);
	struct gm_fd_region wrap[] = { { GPA(0), KiB(4), owner.memfd, UINT64_MAX - KiB(4) + 1 } };
	assert_int_equal(gm_create_from_fds(&view, wrap, 1), -EINVAL);
	struct gm_fd_region unaligned[] = { { GPA(0), KiB(4), owner.memfd, 512 } };
	assert_int_equal(gm_create_from_fds(&view, unaligned, 1), -EINVAL);
	struct gm_fd_region empty[] = { { GPA(0), 0, owner.memfd, 0 } };
	assert_int_equal(gm_create_from_fds(&view, empty, 1), -EINVAL);
	struct gm_fd_region overlap[] = { { GPA(0), KiB(64), owner.memfd, 0 }, { GPA(KiB(60)), KiB(4), owner.memfd, 0 } };
	assert_int_equal(gm_create_from_fds(&view, overlap, 2), -EINVAL);
	assert_int_equal(gm_create_from_fds(&view, fr, 0), -EINVAL);
	assert_int_equal(gm_create_from_fds(&view, fr, GM_MAX_REGIONS + 1), -EINVAL);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	struct gm_fd_region pipe_r[] = { { GPA(0), KiB(4), pfd[0], 0 } };
	assert_int_equal(gm_create_from_fds(&view, pipe_r, 1), -ENODEV);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(view.nr_regions, 0);
	assert_int_equal(view.memfd, -1);
	gm_destroy(&view);

	/* Regions of two different files: no single memfd to discard with. */
	struct guest_memory other;
	struct gm_range r2[] = { { GPA(0), KiB(4) } };
	assert_int_equal(gm_create(&other, r2, 1), 0);
	struct gm_fd_region two[] = { { GPA(0), KiB(4), owner.memfd, 0 }, { GPA(MiB(2)), KiB(4), other.memfd, 0 } };
	assert_int_equal(gm_create_from_fds(&view, two, 2), 0);
	assert_int_equal(view.memfd, -1);
	assert_int_equal(gm_discard(&view, GPA(0), KiB(4)), -EBADF);
	gm_destroy(&view);
	gm_destroy(&other);
	gm_destroy(&owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_access),
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_atomic_u16),
		cmocka_unit_test(test_create_from_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
