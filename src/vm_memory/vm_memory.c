/*
 * Guest memory backed by a single memfd. Lookups are a linear scan over at
 * most GM_MAX_REGIONS regions; x86 guests have two or three.
 */
#include "vm_memory/vm_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/fd.h"

void gm_destroy(struct guest_memory *gm)
{
	if (!gm)
		return;
	for (size_t i = 0; i < gm->nr_regions; i++)
		if (gm->regions[i].host)
			munmap(gm->regions[i].host, gm->regions[i].size);
	gm->nr_regions = 0;
	if (gm->memfd >= 0)
		fd_close(&gm->memfd);
	gm->memfd = -1;
	gm->total_size = 0;
}

static bool ranges_ok(const struct gm_range *ranges, size_t n)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (n == 0 || n > GM_MAX_REGIONS)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t base = gpa_val(ranges[i].base), end;
		if (ranges[i].size == 0 || (base | ranges[i].size) & (page - 1))
			return false;
		if (!ck_add_u64(base, ranges[i].size, &end))
			return false;
		if (i + 1 < n && end > gpa_val(ranges[i + 1].base))
			return false;
	}
	return true;
}

int gm_create(struct guest_memory *gm, const struct gm_range *ranges, size_t n)
{
	memset(gm, 0, sizeof(*gm));
	gm->memfd = -1;
	if (!ranges_ok(ranges, n))
		return -EINVAL;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (!ck_add_u64(total, ranges[i].size, &total))
			return -EINVAL;

	gm->memfd = memfd_create("crosvm_guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (gm->memfd < 0)
		return -errno;
	if (ftruncate(gm->memfd, (off_t)total) < 0)
		goto fail;
	/* The size is fixed from now on: device processes that map the memfd
	 * can rely on it never shrinking under them. */
	if (fcntl(gm->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto fail;
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		void *p = mmap(NULL, ranges[i].size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			       gm->memfd, (off_t)off);
		if (p == MAP_FAILED)
			goto fail;
		gm->regions[i] = (struct gm_region){ ranges[i].base, ranges[i].size, p, off };
		gm->nr_regions = i + 1;
		off += ranges[i].size;
	}
	gm->total_size = total;
	return 0;
fail:;
	int err = -errno;
	gm_destroy(gm);
	return err;
}

const struct gm_region *gm_find_region(const struct guest_memory *gm, gpa_t addr)
{
	for (size_t i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (gpa_val(addr) >= gpa_val(r->base) && gpa_val(addr) - gpa_val(r->base) < r->size)
			return r;
	}
	return NULL;
}

uint64_t gm_end(const struct guest_memory *gm)
{
	if (gm->nr_regions == 0)
		return 0;
	const struct gm_region *r = &gm->regions[gm->nr_regions - 1];
	return gpa_val(r->base) + r->size;
}

void *gm_get_slice(const struct guest_memory *gm, gpa_t addr, uint64_t len)
{
	const struct gm_region *r = gm_find_region(gm, addr);
	if (!r || !ck_range_within(gpa_val(addr), len, gpa_val(r->base), r->size))
		return NULL;
	return r->host + (gpa_val(addr) - gpa_val(r->base));
}

bool gm_range_valid(const struct guest_memory *gm, gpa_t addr, uint64_t len)
{
	return gm_get_slice(gm, addr, len) != NULL;
}

int gm_read(const struct guest_memory *gm, gpa_t addr, void *dst, size_t len)
{
	const void *p = gm_get_slice(gm, addr, len);
	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gm_write(const struct guest_memory *gm, gpa_t addr, const void *src, size_t len)
{
	void *p = gm_get_slice(gm, addr, len);
	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int gm_fill(const struct guest_memory *gm, gpa_t addr, uint8_t byte, size_t len)
{
	void *p = gm_get_slice(gm, addr, len);
	if (!p)
		return -EFAULT;
	memset(p, byte, len);
	return 0;
}

int gm_read_from_fd(const struct guest_memory *gm, gpa_t addr, int fd, uint64_t off, uint64_t len)
{
	void *p = gm_get_slice(gm, addr, len);
	if (!p)
		return -EFAULT;
	return fd_pread_full(fd, p, len, off);
}

/* Guest memory regions start on page boundaries in both address spaces, so
 * a 2-aligned GPA is a 2-aligned host pointer, as the atomics require. */
static uint16_t *atomic_u16_ptr(const struct guest_memory *gm, gpa_t addr, int *err)
{
	void *p = gm_get_slice(gm, addr, sizeof(uint16_t));
	if (!p) {
		*err = -EFAULT;
		return NULL;
	}
	if ((uintptr_t)p & (sizeof(uint16_t) - 1)) {
		*err = -EINVAL;
		return NULL;
	}
	return p;
}

int gm_load_acquire_u16(const struct guest_memory *gm, gpa_t addr, uint16_t *out)
{
	int err = 0;
	uint16_t *p = atomic_u16_ptr(gm, addr, &err);
	if (!p)
		return err;
	*out = le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
	return 0;
}

int gm_store_release_u16(const struct guest_memory *gm, gpa_t addr, uint16_t v)
{
	int err = 0;
	uint16_t *p = atomic_u16_ptr(gm, addr, &err);
	if (!p)
		return err;
	__atomic_store_n(p, htole16(v), __ATOMIC_RELEASE);
	return 0;
}

int gm_discard(const struct guest_memory *gm, gpa_t addr, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (len == 0 || (gpa_val(addr) | len) & (page - 1))
		return -EINVAL;
	const struct gm_region *r = gm_find_region(gm, addr);
	if (!r || !ck_range_within(gpa_val(addr), len, gpa_val(r->base), r->size))
		return -EFAULT;
	uint64_t off = gpa_val(addr) - gpa_val(r->base);
	/* Punching the memfd frees the pages and zaps them from every mapping
	 * of the file, whichever process holds it. KEEP_SIZE: the memfd is
	 * sealed against shrinking. Kernels or filesystems without hole
	 * punching get the same effect for our shared mapping from
	 * MADV_REMOVE. Regions are page-aligned, so both offsets are too. */
	if (fallocate(gm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(r->fd_offset + off),
		      (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -errno;
	return madvise(r->host + off, len, MADV_REMOVE) < 0 ? -errno : 0;
}

/* ---- guest memory from someone else's fds (gm_create_from_fds) ---- */

static int fd_region_check(const struct gm_fd_region *r, uint64_t page, struct stat *st)
{
	uint64_t end;
	if (r->size == 0 || (gpa_val(r->base) | r->size | r->fd_offset) & (page - 1))
		return -EINVAL;
	if (!ck_add_u64(gpa_val(r->base), r->size, &end) || !ck_add_u64(r->fd_offset, r->size, &end))
		return -EINVAL;
	if (fstat(r->fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -ENODEV;
	/* Mapping past the end of the file would turn accesses into SIGBUS. */
	if (st->st_size < 0 || end > (uint64_t)st->st_size)
		return -EINVAL;
	return 0;
}

int gm_create_from_fds(struct guest_memory *gm, const struct gm_fd_region *regions, size_t n)
{
	memset(gm, 0, sizeof(*gm));
	gm->memfd = -1;
	if (n == 0 || n > GM_MAX_REGIONS)
		return -EINVAL;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	/* Sort a copy by base (insertion sort: n <= GM_MAX_REGIONS), then
	 * the same checks as gm_create's ranges. */
	struct gm_fd_region sorted[GM_MAX_REGIONS];
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		while (j > 0 && gpa_val(sorted[j - 1].base) > gpa_val(regions[i].base)) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = regions[i];
	}
	bool one_file = true;
	struct stat first = { 0 };
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		int r = fd_region_check(&sorted[i], page, &st);
		if (r < 0)
			return r;
		if (i + 1 < n && gpa_val(sorted[i].base) + sorted[i].size > gpa_val(sorted[i + 1].base))
			return -EINVAL;
		if (i == 0)
			first = st;
		else if (st.st_dev != first.st_dev || st.st_ino != first.st_ino)
			one_file = false;
		if (!ck_add_u64(total, sorted[i].size, &total))
			return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = mmap(NULL, sorted[i].size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, sorted[i].fd,
			       (off_t)sorted[i].fd_offset);
		if (p == MAP_FAILED)
			goto fail;
		gm->regions[i] = (struct gm_region){ sorted[i].base, sorted[i].size, p, sorted[i].fd_offset };
		gm->nr_regions = i + 1;
	}
	if (one_file && (gm->memfd = fcntl(sorted[0].fd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	gm->total_size = total;
	return 0;
fail:;
	int err = -errno;
	gm_destroy(gm);
	return err;
}
