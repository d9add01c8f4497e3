/*
 * Unit tests for device processes: a virtio-rng device spawned in its jail
 * answers the vhost-user handshake under its own policy; the child runs
 * with seccomp, no_new_privs and no capabilities in its own PID and mount
 * namespaces, holding no fd it was not given; a SIGKILL, a seccomp
 * violation (named) and a violation under log_failures (survived) are
 * told apart; control requests reach handlers in the child; a missing
 * or broken policy stops the spawn with the file named. Needs user namespaces: without them every test skips, saying so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device_process/device_process.h"
#include "fakes/device_harness.h"
#include "vhost/user/proxy_device.h"
#include "vhost/user/frontend.h"
#include "disk/disk.h"
#include "virtio/block/block.h"
#include "virtio/rng/rng.h"
#include "vm_control/client.h"
#include "vm_control/server.h"

static char skip_reason[640];

static void require_userns(void)
{
	if (skip_reason[0]) {
		print_message("[  SKIP    ] %s\n", skip_reason);
		skip();
	}
}

struct spawned {
	struct virtio_device dev;
	struct device_process *p;
	char err[512];
};

static int spawn(struct spawned *s, const char *dir, const char *policy, bool log_failures)
{
	assert_int_equal(virtio_rng_create(&s->dev), 0);
	struct device_process_config c = {
		.name = "rng",
		.policy_dir = dir,
		.policy_name = policy,
		.log_failures = log_failures,
	};
	s->err[0] = '\0';
	int r = device_process_spawn(&c, &s->dev, &s->p, s->err, sizeof(s->err));
	/* The child has its own copy: the parent's goes now, as crosvm's does. */
	s->dev.ops->destroy(s->dev.dev);
	return r;
}

static int group_setup(void **state)
{
	(void)state;
	struct spawned s;
	if (spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false) < 0) {
		snprintf(skip_reason, sizeof(skip_reason), "cannot make a jail here, device process tests skipped: %s",
			 s.err);
		return 0;
	}
	device_process_destroy(s.p);
	return 0;
}

static bool wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

/* "Key:\tvalue" from the child's /proc status. */
static void status_field(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	out[0] = '\0';
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			const char *v = line + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
		}
	fclose(f);
}

static bool same_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], la[128] = "", lb[128] = "";
	snprintf(a, sizeof(a), "/proc/self/ns/%s", ns);
	snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int)pid, ns);
	assert_true(readlink(a, la, sizeof(la) - 1) > 0);
	assert_true(readlink(b, lb, sizeof(lb) - 1) > 0);
	return strcmp(la, lb) == 0;
}

static void test_serves_under_its_policy(void **state)
{
	(void)state;
	require_userns();
	struct spawned s;
	if (spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false) < 0)
		fail_msg("spawn: %s", s.err);
	pid_t pid = device_process_pid(s.p);
	char v[64];
	status_field(pid, "Seccomp", v, sizeof(v));
	assert_string_equal(v, "2");
	status_field(pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");
	status_field(pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	assert_false(same_ns(pid, "pid"));
	assert_false(same_ns(pid, "mnt"));
	assert_false(same_ns(pid, "net"));
	int held = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(held >= 0);

	struct vhu_frontend f;
	assert_int_equal(vhu_frontend_connect(&f, device_process_take_socket(s.p)), 0);
	assert_true(f.features & (1ULL << 32)); /* VIRTIO_F_VERSION_1 from the rng device */
	/* Once it serves, its fds are the socket end, the violation pipe and
	 * what its back-end made (eventfds, the request channel's socket):
	 * nothing of ours, no host file. */
	char fddir[64];
	snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)pid);
	int nfds = 0;
	DIR *d = opendir(fddir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.') {
			char l[128] = "", fp[384];
			snprintf(fp, sizeof(fp), "%s/%s", fddir, e->d_name);
			(void)!readlink(fp, l, sizeof(l) - 1);
			/* No host file, no fd of ours: only its socket, the
			 * violation pipe and the eventfds its back-end made. */
			assert_true(strncmp(l, "anon_inode:[eventfd]", 20) == 0 || strncmp(l, "socket:", 7) == 0 ||
				    strncmp(l, "pipe:", 5) == 0);
			nfds++;
		}
	closedir(d);
	assert_true(nfds >= 2);
	assert_int_equal(device_process_take_socket(s.p), -1);
	assert_false(wait_readable(device_process_pidfd(s.p), 0));
	/* Closing our end ends the child cleanly. */
	vhu_frontend_close(&f);
	assert_true(wait_readable(device_process_pidfd(s.p), 5000));
	char desc[160];
	assert_int_equal(device_process_describe_exit(s.p, desc, sizeof(desc)), 0);
	assert_string_equal(desc, "exited with status 0");
	close(held);
	device_process_destroy(s.p);
}

static void test_killed(void **state)
{
	(void)state;
	require_userns();
	struct spawned s;
	if (spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false) < 0)
		fail_msg("spawn: %s", s.err);
	char desc[160];
	assert_int_equal(device_process_describe_exit(s.p, desc, sizeof(desc)), -EAGAIN);
	assert_int_equal(kill(device_process_pid(s.p), SIGKILL), 0);
	assert_true(wait_readable(device_process_pidfd(s.p), 5000));
	assert_int_equal(device_process_describe_exit(s.p, desc, sizeof(desc)), 0);
	assert_non_null(strstr(desc, "SIGKILL"));
	device_process_destroy(s.p);
}

static void test_violation_named_or_logged(void **state)
{
	(void)state;
	require_userns();
	setenv("CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL", "rng", 1);
	struct spawned s;
	int r = spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false);
	if (r < 0)
		fail_msg("spawn: %s", s.err);
	if (!wait_readable(device_process_pidfd(s.p), 2000)) {
		/* A build without the hook: the child just serves. */
		unsetenv("CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL");
		device_process_destroy(s.p);
		print_message("[  SKIP    ] this build has no test hooks (not a debug build)\n");
		skip();
	}
	char desc[160];
	assert_int_equal(device_process_describe_exit(s.p, desc, sizeof(desc)), 0);
	assert_string_equal(desc, "blocked by seccomp: syscall openat (257)");
	device_process_destroy(s.p);

	/* Logged instead: the child lives and serves. */
	if (spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", true) < 0)
		fail_msg("spawn: %s", s.err);
	unsetenv("CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL");
	struct vhu_frontend f;
	assert_int_equal(vhu_frontend_connect(&f, device_process_take_socket(s.p)), 0);
	assert_false(wait_readable(device_process_pidfd(s.p), 0));
	vhu_frontend_close(&f);
	device_process_destroy(s.p);
}

/* The whole stack: a jailed rng behind a proxy serves a guest buffer
 * with the data path straight between the harness's eventfds and the
 * child, through the memfd it mapped. */
static void test_jailed_data_path(void **state)
{
	(void)state;
	require_userns();
	static const struct gm_range ranges[] = { { GPA(0), 1 << 20 } };
	struct device_harness h;
	struct vdh_layout l = { .ranges = ranges, .nr_ranges = 1, .nr_queues = 1,
				.ring_base = GPA(0x10000), .ring_stride = 0x2000, .queue_size = 64 };
	vdh_init(&h, &l);
	struct spawned s;
	if (spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false) < 0)
		fail_msg("spawn: %s", s.err);
	struct vhu_proxy_info info = { .device_id = VIRTIO_ID_RNG, .num_queues = 1, .queue_max_size = 256 };
	struct virtio_device proxy;
	assert_int_equal(vhu_proxy_create(device_process_take_socket(s.p), &info, &proxy), 0);
	vdh_activate(&h, &proxy, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vdh_fill(&h, 0x40000, 0, 64);
	struct vqd_buf buf = { GPA(0x40000), 64, true };
	int head = vdh_add_kick(&h, 0, &buf, 1);
	vdh_wait_used(&h, 0, head, 64);
	uint8_t data[64], zero[64] = { 0 };
	vdh_get(&h, 0x40000, data, sizeof(data));
	assert_memory_not_equal(data, zero, sizeof(data));
	vdh_expect_no_error(&h);
	/* Killing the child: the proxy notices on its own. */
	assert_int_equal(kill(device_process_pid(s.p), SIGKILL), 0);
	assert_true(wait_readable(vhu_proxy_dead_fd(&proxy), 5000));
	proxy.ops->reset(proxy.dev);
	proxy.ops->destroy(proxy.dev);
	device_process_destroy(s.p);
	vdh_destroy(&h);
}

/* Control requests answered in the child: a balloon target set through
 * the channel comes back in the next stats reply, which the child fills
 * with its own PID (1, in its PID namespace) to show where it ran; a
 * request the device has no handler for is refused; a device spawned
 * without handlers has no channel. */
struct ctl_state {
	uint64_t target;
};

static int ctl_balloon(void *ctx, uint64_t bytes)
{
	((struct ctl_state *)ctx)->target = bytes;
	return 0;
}

static int ctl_stats(void *ctx, struct vmc_balloon_stats *out)
{
	out->actual_bytes = ((struct ctl_state *)ctx)->target;
	out->stats.val[0] = (uint64_t)getpid();
	out->stats.valid = 1;
	return 0;
}

static const struct vmc_handlers ctl_handlers = { .balloon = ctl_balloon, .balloon_stats = ctl_stats };

static void test_control_channel(void **state)
{
	(void)state;
	require_userns();
	struct spawned s;
	struct ctl_state cs = { 0 };
	assert_int_equal(virtio_rng_create(&s.dev), 0);
	struct device_process_config c = { .name = "rng", .policy_dir = CROSVM_SECCOMP_DIR,
					   .policy_name = "rng_device", .control = &ctl_handlers,
					   .control_ctx = &cs };
	int r = device_process_spawn(&c, &s.dev, &s.p, s.err, sizeof(s.err));
	s.dev.ops->destroy(s.dev.dev);
	if (r < 0)
		fail_msg("spawn: %s", s.err);
	int fd = device_process_control_fd(s.p);
	assert_true(fd >= 0);
	struct vmc_reply rep;
	struct vmc_request req = { .type = VMC_REQ_BALLOON, .u.balloon.bytes = 64 << 20 };
	assert_int_equal(vmc_call_connected(fd, &req, &rep, 5000), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(cs.target, 0); /* the child's copy changed, not ours */
	req = (struct vmc_request){ .type = VMC_REQ_BALLOON_STATS };
	assert_int_equal(vmc_call_connected(fd, &req, &rep, 5000), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.balloon_stats.actual_bytes, 64 << 20);
	assert_int_equal(rep.balloon_stats.stats.val[0], 1);
	req = (struct vmc_request){ .type = VMC_REQ_DISK_RESIZE, .u.disk_resize = { 0, 1 << 20 } };
	assert_int_equal(vmc_call_connected(fd, &req, &rep, 5000), 0);
	assert_int_equal(rep.status, -ENOTSUP);
	/* The device still serves vhost-user meanwhile, and dies as usual. */
	assert_int_equal(kill(device_process_pid(s.p), SIGKILL), 0);
	assert_true(wait_readable(device_process_pidfd(s.p), 5000));
	assert_int_equal(vmc_call_connected(fd, &req, &rep, 5000), -ECONNRESET);
	device_process_destroy(s.p);

	assert_int_equal(spawn(&s, CROSVM_SECCOMP_DIR, "rng_device", false), 0);
	assert_int_equal(device_process_control_fd(s.p), -1);
	device_process_destroy(s.p);
}

/* virtio-blk in its jail under block_device.policy: the image and the
 * disk's I/O engine were set up before the spawn (their fds found by
 * diffing the fd table around creation, as crosvm does), a read comes back
 * with the image's bytes. */
static void test_jailed_block(void **state)
{
	(void)state;
	require_userns();
	char img[] = "/tmp/devproc-img.XXXXXX";
	int ifd = mkstemp(img);
	assert_true(ifd >= 0);
	uint8_t sector[512];
	memset(sector, 0x5a, sizeof(sector));
	assert_int_equal(pwrite(ifd, sector, sizeof(sector), 512), 512);
	assert_int_equal(ftruncate(ifd, 1 << 20), 0);
	close(ifd);

	int before[256], after[256], keep[DEVICE_PROCESS_MAX_FDS];
	int n0 = device_process_list_fds(before, 256);
	assert_true(n0 >= 0);
	struct disk *disk;
	assert_int_equal(disk_open(img, 0, &disk), 0);
	struct virtio_blk_options o = { .block_size = 512 };
	struct virtio_device dev;
	assert_int_equal(virtio_blk_create(disk, &o, &dev), 0);
	int n1 = device_process_list_fds(after, 256);
	size_t nkeep = 0;
	for (int i = 0, j = 0; i < n1; i++) {
		while (j < n0 && before[j] < after[i])
			j++;
		if (j >= n0 || before[j] != after[i])
			keep[nkeep++] = after[i];
	}
	assert_true(nkeep >= 1);
	struct device_process_config c = { .name = "block", .policy_dir = CROSVM_SECCOMP_DIR,
					   .policy_name = "block_device", .keep_fds = keep, .nkeep_fds = nkeep };
	struct device_process *p;
	char err[512];
	int r = device_process_spawn(&c, &dev, &p, err, sizeof(err));
	dev.ops->destroy(dev.dev);
	if (r < 0)
		fail_msg("spawn: %s", err);

	static const struct gm_range ranges[] = { { GPA(0), 1 << 20 } };
	struct device_harness h;
	struct vdh_layout l = { .ranges = ranges, .nr_ranges = 1, .nr_queues = 1,
				.ring_base = GPA(0x10000), .ring_stride = 0x2000, .queue_size = 64 };
	vdh_init(&h, &l);
	struct vhu_proxy_info info = { .device_id = VIRTIO_ID_BLOCK, .num_queues = 1, .queue_max_size = 256,
				       .config_size = 60 };
	struct virtio_device proxy;
	assert_int_equal(vhu_proxy_create(device_process_take_socket(p), &info, &proxy), 0);
	uint8_t cap[8];
	proxy.ops->config_read(proxy.dev, 0, cap, 8);
	assert_int_equal(cap[0] | cap[1] << 8, 2048); /* 1 MiB in sectors, through GET_CONFIG */
	vdh_activate(&h, &proxy, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	/* IN (0), sector 1. */
	uint8_t hdr[16] = { 0 };
	hdr[8] = 1;
	vdh_put(&h, 0x40000, hdr, sizeof(hdr));
	vdh_fill(&h, 0x41000, 0, 512);
	vdh_fill(&h, 0x42000, 0xff, 1);
	struct vqd_buf bufs[] = { { GPA(0x40000), 16, false }, { GPA(0x41000), 512, true }, { GPA(0x42000), 1, true } };
	int head = vdh_add_kick(&h, 0, bufs, 3);
	vdh_wait_used(&h, 0, head, 513);
	uint8_t data[512], status = 0xff;
	vdh_get(&h, 0x41000, data, sizeof(data));
	vdh_get(&h, 0x42000, &status, 1);
	assert_int_equal(status, 0);
	assert_memory_equal(data, sector, sizeof(data));
	char desc[160];
	assert_int_equal(device_process_describe_exit(p, desc, sizeof(desc)), -EAGAIN);
	proxy.ops->reset(proxy.dev);
	proxy.ops->destroy(proxy.dev);
	device_process_destroy(p);
	vdh_destroy(&h);
	unlink(img);
}

static void test_bad_policies(void **state)
{
	(void)state;
	require_userns();
	char dir[] = "/tmp/devproc-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	struct spawned s;

	assert_int_equal(spawn(&s, dir, "missing_device", false) < 0, 1);
	assert_non_null(strstr(s.err, "missing_device"));
	assert_null(strchr(s.err, '\n'));

	snprintf(path, sizeof(path), "%s/unknown_device.policy", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("read: 1\nno_such_syscall: 1\n", f);
	fclose(f);
	assert_int_equal(spawn(&s, dir, "unknown_device", false), -EINVAL);
	assert_non_null(strstr(s.err, "unknown_device.policy:2"));
	assert_non_null(strstr(s.err, "no_such_syscall"));

	snprintf(path, sizeof(path), "%s/broken_device.policy", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# fine\nread 1\n", f);
	fclose(f);
	assert_int_equal(spawn(&s, dir, "broken_device", false), -EINVAL);
	assert_non_null(strstr(s.err, "broken_device.policy:2"));

	unlink(path);
	snprintf(path, sizeof(path), "%s/unknown_device.policy", dir);
	unlink(path);
	rmdir(dir);
}

static void test_list_fds(void **state)
{
	(void)state;
	int before[256], after[256];
	int n0 = device_process_list_fds(before, 256);
	assert_true(n0 >= 0);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int n1 = device_process_list_fds(after, 256);
	assert_int_equal(n1, n0 + 1);
	bool found = false;
	for (int i = 0; i < n1; i++) {
		found |= after[i] == fd;
		if (i)
			assert_true(after[i] > after[i - 1]);
	}
	assert_true(found);
	int one[1];
	assert_int_equal(device_process_list_fds(one, 1) == -E2BIG || n1 <= 1, 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_under_its_policy),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_violation_named_or_logged),
		cmocka_unit_test(test_jailed_data_path),
		cmocka_unit_test(test_jailed_block),
		cmocka_unit_test(test_control_channel),
		cmocka_unit_test(test_bad_policies),
		cmocka_unit_test(test_list_fds),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
