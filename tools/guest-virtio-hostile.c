/*
 * guest-virtio-hostile: a deliberately hostile virtio-pci driver for the
 * e2e guest. It takes a virtio-pci device away from the kernel (unbind),
 * drives it from user space through BAR 0 (sysfs resource0) and offers it
 * malformed split virtqueues, to show that the VMM neither crashes nor
 * lets the abuse reach other devices.
 *
 *   crosvm-virtio-hostile /sys/bus/pci/devices/BDF SCENARIO...
 *
 * Scenarios: loop oob zero huge badhead badidx indirect badring badsize
 * resetrace good. Each malformed one prints a line per case
 *
 *   scenario NAME: requests N status 0x.. used_idx N isr 0x.. [usedI ID/LEN]... [followup ok|FAILED]
 *
 * (status is the device status byte ~200 ms after the kick, after waiting
 * up to 3 s for the device to complete the requests or ask for a reset;
 * isr the ISR read then, which also lowers INTx), then resets the device.
 * Where the device did not ask for a reset, a valid request is sent on the
 * same queue afterwards ("followup") to show the queue still works.
 * `resetrace` resets the device right behind a broken-ring kick, 40 times,
 * and prints "scenario resetrace: rounds 40 stale_needs_reset K good M":
 * the fresh device must never show NEEDS_RESET (K 0) and must work (M 40).
 * `good` sends one valid request to a freshly reset device and checks that
 * random bytes arrived ("bytes ok"). Exit status 0 unless the setup failed
 * or a good request, a followup or resetrace failed.
 *
 * Runs as root (PFNs in /proc/self/pagemap are shown to root only).
 * Built statically into the guest initramfs by tools/build-guest-initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Common configuration (virtio 1.2, 4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESCLO 0x20
#define CC_Q_DESCHI 0x24
#define CC_Q_AVAILLO 0x28
#define CC_Q_AVAILHI 0x2c
#define CC_Q_USEDLO 0x30
#define CC_Q_USEDHI 0x34

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80

#define F_INDIRECT_DESC 28
#define F_VERSION_1 32

#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

#define QSIZE 16
#define PAGE 4096
#define NPAGES 8
#define FAR_AWAY 0x0000100000000000ULL /* 16 TiB: far outside guest RAM */

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* The driver's pages: page 0 holds the rings, the others buffers and
 * indirect tables. Each page has its own guest-physical address. */
static uint8_t *pages;
static uint64_t gpa[NPAGES];
#define RING_DESC 0x000
#define RING_AVAIL 0x400
#define RING_USED 0x800

static volatile uint8_t *bar;
static uint64_t common_off, notify_off, isr_off;
static uint32_t notify_mult;
static int failures;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "crosvm-virtio-hostile: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---- BAR 0 accessors: exact widths, as the common configuration wants */

static uint8_t rd8(uint64_t off) { return *(volatile uint8_t *)(bar + off); }
static uint16_t rd16(uint64_t off) { return *(volatile uint16_t *)(bar + off); }
static uint32_t rd32(uint64_t off) { return *(volatile uint32_t *)(bar + off); }
static void wr8(uint64_t off, uint8_t v) { *(volatile uint8_t *)(bar + off) = v; }
static void wr16(uint64_t off, uint16_t v) { *(volatile uint16_t *)(bar + off) = v; }
static void wr32(uint64_t off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }

static uint8_t status(void) { return rd8(common_off + CC_STATUS); }
static void set_status(uint8_t s) { wr8(common_off + CC_STATUS, s); }

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- PCI plumbing through sysfs */

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write %s: %s", path, strerror(errno));
	close(fd);
}

static void unbind(const char *dev)
{
	char path[512], bdf[256];
	snprintf(path, sizeof(path), "%s/driver", dev);
	if (access(path, F_OK) != 0)
		return; /* no driver bound */
	snprintf(bdf, sizeof(bdf), "%s", dev);
	const char *name = basename(bdf);
	snprintf(path, sizeof(path), "%s/driver/unbind", dev);
	write_file(path, name);
}

/* Finds the virtio vendor capabilities in config space. */
static void find_caps(int cfd)
{
	uint8_t cfg[256];
	if (pread(cfd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg))
		die("cannot read 256 bytes of config space (root?)");
	/* Memory decoding and bus mastering on (the unbound driver turned
	 * bus mastering off). */
	uint16_t cmd = (uint16_t)(cfg[4] | cfg[5] << 8);
	cmd |= 0x6;
	if (pwrite(cfd, &cmd, 2, 4) != 2)
		die("cannot write the command register");
	if (!(cfg[6] & 0x10))
		die("no capability list");
	int found = 0, guard = 0;
	for (uint8_t p = cfg[0x34] & 0xfc; p && guard < 48; p = cfg[p + 1] & 0xfc, guard++) {
		if (cfg[p] != 0x09 || p > 256 - 20)
			continue;
		uint8_t type = cfg[p + 3], b = cfg[p + 4];
		uint32_t off, mult;
		memcpy(&off, cfg + p + 8, 4);
		memcpy(&mult, cfg + p + 16, 4);
		if (b != 0)
			continue;
		if (type == 1)
			common_off = off, found |= 1;
		else if (type == 2)
			notify_off = off, notify_mult = mult, found |= 2;
		else if (type == 3)
			isr_off = off, found |= 4;
	}
	if ((found & 7) != 7)
		die("virtio capabilities not found (mask %d)", found);
}

static void map_bar(const char *dev)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/resource0", dev);
	int fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < 0x4000)
		die("%s: unexpected size", path);
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %s", path, strerror(errno));
	bar = p;
	close(fd);
}

/* Locked pages and their guest-physical addresses. */
static void alloc_pages(void)
{
	pages = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pages == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(pages, 0, NPAGES * PAGE);
	if (mlock(pages, NPAGES * PAGE) < 0)
		die("mlock: %s", strerror(errno));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		die("open /proc/self/pagemap: %s", strerror(errno));
	for (int i = 0; i < NPAGES; i++) {
		uint64_t e;
		off_t off = (off_t)(((uintptr_t)pages + (uintptr_t)i * PAGE) / PAGE * 8);
		if (pread(fd, &e, 8, off) != 8)
			die("read pagemap: %s", strerror(errno));
		uint64_t pfn = e & ((1ULL << 55) - 1);
		if (!(e >> 63) || pfn == 0)
			die("page %d not present or PFN hidden (not root?)", i);
		gpa[i] = pfn * PAGE;
	}
	close(fd);
}

/* ---- the queue */

static struct desc *descs(void) { return (struct desc *)(pages + RING_DESC); }
static volatile uint16_t *avail_idx(void) { return (volatile uint16_t *)(pages + RING_AVAIL + 2); }
static volatile uint16_t *avail_ring(void) { return (volatile uint16_t *)(pages + RING_AVAIL + 4); }
static volatile uint16_t *used_idx(void) { return (volatile uint16_t *)(pages + RING_USED + 2); }
static volatile uint32_t *used_elem(unsigned i) { return (volatile uint32_t *)(pages + RING_USED + 4 + 8 * (i % QSIZE)); }
static uint8_t *buf(int page) { return pages + page * PAGE; }

static void reset(void)
{
	set_status(0);
	for (int i = 0; i < 1000 && status() != 0; i++)
		sleep_ms(1);
	if (status() != 0)
		die("the device does not reset (status 0x%02x)", status());
	(void)rd8(isr_off); /* clear the ISR, lower INTx */
}

struct qlayout {
	uint16_t size;
	uint64_t desc, avail, used;
};

static uint64_t default_desc(void) { return gpa[0] + RING_DESC; }
static uint64_t default_avail(void) { return gpa[0] + RING_AVAIL; }
static uint64_t default_used(void) { return gpa[0] + RING_USED; }

/* Reset, negotiate, program queue 0, DRIVER_OK. Returns the status read
 * back after DRIVER_OK. */
static uint8_t bring_up(const struct qlayout *l)
{
	reset();
	set_status(S_ACKNOWLEDGE);
	set_status(S_ACKNOWLEDGE | S_DRIVER);
	wr32(common_off + CC_DFSELECT, 1);
	uint32_t hi = rd32(common_off + CC_DF);
	wr32(common_off + CC_DFSELECT, 0);
	uint32_t lo = rd32(common_off + CC_DF);
	if (!(hi & 1))
		die("the device does not offer VERSION_1");
	wr32(common_off + CC_GFSELECT, 1);
	wr32(common_off + CC_GF, 1); /* VERSION_1 */
	wr32(common_off + CC_GFSELECT, 0);
	wr32(common_off + CC_GF, lo & (1u << F_INDIRECT_DESC));
	set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(status() & S_FEATURES_OK))
		die("FEATURES_OK refused");
	wr16(common_off + CC_Q_SELECT, 0);
	wr16(common_off + CC_Q_SIZE, l->size);
	wr32(common_off + CC_Q_DESCLO, (uint32_t)l->desc);
	wr32(common_off + CC_Q_DESCHI, (uint32_t)(l->desc >> 32));
	wr32(common_off + CC_Q_AVAILLO, (uint32_t)l->avail);
	wr32(common_off + CC_Q_AVAILHI, (uint32_t)(l->avail >> 32));
	wr32(common_off + CC_Q_USEDLO, (uint32_t)l->used);
	wr32(common_off + CC_Q_USEDHI, (uint32_t)(l->used >> 32));
	wr16(common_off + CC_Q_ENABLE, 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	set_status(S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return status();
}

static void notify(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t noff = rd16(common_off + CC_Q_NOFF);
	wr16(notify_off + (uint64_t)noff * notify_mult, 0);
}

/* Waits until the used index reaches `want` or the device asks for a
 * reset, at most 3 s, then 200 ms more for anything late. */
static void settle(uint16_t want)
{
	double end = now() + 3.0;
	while (now() < end) {
		if (*used_idx() == want || (status() & S_NEEDS_RESET))
			break;
		sleep_ms(5);
	}
	sleep_ms(200);
}

/* Fresh rings: everything zero. */
static void clear_rings(void)
{
	memset(pages, 0, PAGE);
}

static void publish(uint16_t slot, uint16_t head)
{
	avail_ring()[slot % QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*avail_idx() = (uint16_t)(slot + 1);
}

/* A valid one-descriptor request at descriptor `d`, buffer page `page`,
 * at avail slot `slot`. Returns 0 when it completed with random bytes. */
static int good_request(uint16_t slot, uint16_t d, int page, uint32_t len, const char **why)
{
	memset(buf(page), 0xa5, len);
	descs()[d] = (struct desc){ gpa[page], len, D_WRITE, 0 };
	uint16_t before = *used_idx();
	publish(slot, d);
	notify();
	settle((uint16_t)(before + 1));
	if (*used_idx() != (uint16_t)(before + 1)) {
		*why = "not completed";
		return -1;
	}
	uint32_t id = used_elem(before)[0], wlen = used_elem(before)[1];
	if (id != d || wlen != len) {
		*why = "wrong used element";
		return -1;
	}
	unsigned same = 0;
	for (uint32_t i = 0; i < len; i++)
		same += buf(page)[i] == 0xa5;
	if (same == len) {
		*why = "no bytes written";
		return -1;
	}
	return 0;
}

/* Prints what the device did with the scenario's requests (published at
 * avail slots 0..n-1), tries a followup request where the queue should
 * still work, and resets. */
static void report(const char *name, uint16_t n)
{
	uint8_t st = status();
	uint16_t u = *used_idx();
	uint8_t isr = rd8(isr_off);
	printf("scenario %s: requests %u status 0x%02x used_idx %u isr 0x%02x", name, n, st, u, isr);
	for (uint16_t i = 0; i < u && i < n && i < 4; i++)
		printf(" used%u %u/%u", i, used_elem(i)[0], used_elem(i)[1]);
	if (!(st & S_NEEDS_RESET) && (st & S_DRIVER_OK) && n < QSIZE - 1) {
		const char *why = "";
		/* Descriptor 15, buffer page 7: untouched by every scenario. */
		if (good_request(n, QSIZE - 1, 7, 256, &why) == 0) {
			printf(" followup ok");
		} else {
			printf(" followup FAILED (%s)", why);
			failures++;
		}
	}
	printf("\n");
	fflush(stdout);
	reset();
}

static struct qlayout std_layout(void)
{
	return (struct qlayout){ QSIZE, default_desc(), default_avail(), default_used() };
}

/* Sets up the rings with the given descriptors published at slots
 * 0..n-1 (heads[i]), brings the device up and kicks it. */
static void run_chains(const char *name, const struct qlayout *l, const uint16_t *heads, uint16_t n, uint16_t idx)
{
	for (uint16_t i = 0; i < n; i++)
		avail_ring()[i % QSIZE] = heads[i];
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*avail_idx() = idx;
	(void)bring_up(l);
	notify();
	settle(n);
	report(name, n);
}

static void scenario(const char *name)
{
	struct qlayout l = std_layout();
	struct desc *d = descs();
	clear_rings();
	if (!strcmp(name, "loop")) {
		/* 0 -> 1 -> 2 -> 0 ... */
		for (int i = 0; i < 3; i++)
			d[i] = (struct desc){ gpa[1] + (uint64_t)i * 64, 64, D_WRITE | D_NEXT, (uint16_t)((i + 1) % 3) };
		uint16_t h[] = { 0 };
		run_chains(name, &l, h, 1, 1);
	} else if (!strcmp(name, "oob")) {
		d[0] = (struct desc){ FAR_AWAY, 64, D_WRITE, 0 };
		/* A chain whose second buffer is out of guest RAM. */
		d[1] = (struct desc){ gpa[1], 64, D_WRITE | D_NEXT, 2 };
		d[2] = (struct desc){ 0xfffffffffffff000ULL, 4096, D_WRITE, 0 };
		uint16_t h[] = { 0, 1 };
		run_chains(name, &l, h, 2, 2);
	} else if (!strcmp(name, "zero")) {
		d[0] = (struct desc){ gpa[1], 0, D_WRITE, 0 };
		/* Zero-length buffer at an address outside RAM. */
		d[1] = (struct desc){ FAR_AWAY, 0, D_WRITE, 0 };
		uint16_t h[] = { 0, 1 };
		run_chains(name, &l, h, 2, 2);
	} else if (!strcmp(name, "huge")) {
		d[0] = (struct desc){ gpa[1], 0xffffffffu, D_WRITE, 0 };
		/* Two 2 GiB buffers: together 4 GiB, more than guest RAM and 32 bits. */
		d[1] = (struct desc){ gpa[2], 0x80000000u, D_WRITE | D_NEXT, 2 };
		d[2] = (struct desc){ gpa[3], 0x80000000u, D_WRITE, 0 };
		uint16_t h[] = { 0, 1 };
		run_chains(name, &l, h, 2, 2);
	} else if (!strcmp(name, "badhead")) {
		d[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
		uint16_t h[] = { QSIZE + 3 };
		run_chains(name, &l, h, 1, 1);
	} else if (!strcmp(name, "badidx")) {
		d[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
		uint16_t h[] = { 0 };
		run_chains(name, &l, h, 1, QSIZE + 5);
	} else if (!strcmp(name, "indirect")) {
		/* Tables on page 2: bad length, nested, with NEXT, outside RAM,
		 * and one whose entries loop. */
		struct desc *t = (struct desc *)buf(2);
		t[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
		t[1] = (struct desc){ gpa[2] + 512, 32, D_INDIRECT, 0 }; /* nested */
		/* A two-entry table at t[2]: its entries 0 <-> 1 loop. */
		t[2] = (struct desc){ gpa[1] + 64, 64, D_WRITE | D_NEXT, 1 };
		t[3] = (struct desc){ gpa[1] + 128, 64, D_WRITE | D_NEXT, 0 };
		d[0] = (struct desc){ gpa[2], 24, D_INDIRECT, 0 };	     /* not a multiple of 16 */
		d[1] = (struct desc){ gpa[2] + 16, 16, D_INDIRECT, 0 };      /* points at a nested table */
		d[2] = (struct desc){ gpa[2], 16, D_INDIRECT | D_NEXT, 5 };  /* INDIRECT with NEXT */
		d[3] = (struct desc){ FAR_AWAY, 64, D_INDIRECT, 0 };	     /* table outside RAM */
		d[4] = (struct desc){ gpa[2] + 32, 32, D_INDIRECT, 0 };      /* entries loop */
		d[5] = (struct desc){ gpa[2], 0, D_INDIRECT, 0 };	     /* empty table */
		d[6] = (struct desc){ gpa[2], 0x100000u * 16, D_INDIRECT, 0 }; /* 1 Mi entries */
		uint16_t h[] = { 0, 1, 2, 3, 4, 5, 6 };
		run_chains(name, &l, h, 7, 7);
	} else if (!strcmp(name, "badring")) {
		static const char *what[] = { "desc", "avail", "used", "used-straddles" };
		for (int k = 0; k < 4; k++) {
			clear_rings();
			struct qlayout b = std_layout();
			if (k == 0)
				b.desc = FAR_AWAY;
			else if (k == 1)
				b.avail = 0xfffffffffffff000ULL;
			else if (k == 2)
				b.used = FAR_AWAY + 0x800;
			else
				b.used = 0xfffffffffffffffcULL; /* wraps the address space */
			d[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
			uint16_t h[] = { 0 };
			char nm[64];
			snprintf(nm, sizeof(nm), "badring-%s", what[k]);
			run_chains(nm, &b, h, 1, 1);
		}
	} else if (!strcmp(name, "badsize")) {
		static const uint16_t sizes[] = { 0, 3, 512, 0xffff };
		for (int k = 0; k < 4; k++) {
			clear_rings();
			struct qlayout b = std_layout();
			b.size = sizes[k];
			d[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
			uint16_t h[] = { 0 };
			char nm[64];
			snprintf(nm, sizeof(nm), "badsize-%u", sizes[k]);
			run_chains(nm, &b, h, 1, 1);
		}
	} else if (!strcmp(name, "resetrace")) {
		/* A broken ring kicked and the device reset at once, before the
		 * device's error report can have been handled: the fresh device
		 * must come up clean (no stale NEEDS_RESET) and work. */
		unsigned stale = 0, ok = 0, rounds = 40;
		for (unsigned k = 0; k < rounds; k++) {
			clear_rings();
			d[0] = (struct desc){ gpa[1], 64, D_WRITE, 0 };
			avail_ring()[0] = QSIZE + 1;
			*avail_idx() = 1;
			(void)bring_up(&l);
			notify();
			if (k % 4)
				sleep_ms(k % 4 == 1 ? 0 : (long)(k % 4));
			set_status(0); /* no wait: reset right behind the kick */
			clear_rings();
			uint8_t st = bring_up(&l);
			if (st & S_NEEDS_RESET)
				stale++;
			const char *why = "";
			if (good_request(0, 0, 1, 64, &why) == 0)
				ok++;
			/* Late reports land here if they are not dropped. */
			if (status() & S_NEEDS_RESET)
				stale++;
			reset();
		}
		printf("scenario resetrace: rounds %u stale_needs_reset %u good %u\n", rounds, stale, ok);
		if (stale || ok != rounds)
			failures++;
	} else if (!strcmp(name, "good")) {
		(void)bring_up(&l);
		const char *why = "";
		int r = good_request(0, 0, 1, 4096, &why);
		uint8_t st = status();
		printf("scenario good: requests 1 status 0x%02x used_idx %u used0 %u/%u bytes %s%s%s\n", st, *used_idx(),
		       used_elem(0)[0], used_elem(0)[1], r == 0 ? "ok" : "FAILED (", r == 0 ? "" : why,
		       r == 0 ? "" : ")");
		fflush(stdout);
		if (r != 0)
			failures++;
		reset();
	} else {
		die("unknown scenario %s", name);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3)
		die("usage: %s /sys/bus/pci/devices/BDF SCENARIO...", argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *dev = argv[1];
	char path[512];
	unbind(dev);
	snprintf(path, sizeof(path), "%s/config", dev);
	int cfd = open(path, O_RDWR);
	if (cfd < 0)
		die("open %s: %s", path, strerror(errno));
	find_caps(cfd);
	close(cfd);
	map_bar(dev);
	alloc_pages();
	for (int i = 2; i < argc; i++)
		scenario(argv[i]);
	return failures ? 1 : 0;
}
