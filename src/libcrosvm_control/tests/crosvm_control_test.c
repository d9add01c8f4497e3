/*
 * Unit tests for libcrosvm_control: every API function against a real
 * vm_control server (in a temporary directory) whose fake handlers record
 * what reached them; the wording of exchange failures (missing socket,
 * regular file, stale socket, silent listener); argument checks that
 * refuse before any I/O; and the last error being per thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libcrosvm_control/crosvm_control.h"
#include "vm_control/protocol.h"
#include "vm_control/server.h"

/* What reached the fake VM. The handlers run on the server thread, but
 * each client call returns only after its handler has replied. */
struct fake {
	int stops, suspends, resumes, make_rts, balloons, stats, resizes, batteries;
	uint64_t balloon_bytes, resize_size;
	uint32_t resize_index;
	struct vmc_battery battery;
};

static int fake_stop(void *ctx)
{
	((struct fake *)ctx)->stops++;
	return 0;
}

static int fake_suspend(void *ctx)
{
	((struct fake *)ctx)->suspends++;
	return 0;
}

static int fake_resume(void *ctx)
{
	((struct fake *)ctx)->resumes++;
	return 0;
}

static int fake_make_rt(void *ctx, char *err, size_t errlen)
{
	((struct fake *)ctx)->make_rts++;
	return 0;
}

static int fake_balloon(void *ctx, uint64_t bytes)
{
	struct fake *f = ctx;
	f->balloons++;
	f->balloon_bytes = bytes;
	/* No message: the server words one from the errno. */
	return bytes == UINT64_MAX ? -ERANGE : 0;
}

static int fake_stats(void *ctx, struct vmc_balloon_stats *out)
{
	((struct fake *)ctx)->stats++;
	out->stats.generation = 3;
	out->stats.valid = 1u << VIRTIO_BALLOON_S_SWAP_IN | 1u << VIRTIO_BALLOON_S_MAJFLT |
			   1u << VIRTIO_BALLOON_S_MEMFREE | 1u << VIRTIO_BALLOON_S_MEMTOT |
			   1u << VIRTIO_BALLOON_S_CACHES | 1u << VIRTIO_BALLOON_S_HTLB_PGFAIL |
			   1u << VIRTIO_BALLOON_S_OOM_KILL;
	out->stats.val[VIRTIO_BALLOON_S_SWAP_IN] = 0;
	out->stats.val[VIRTIO_BALLOON_S_SWAP_OUT] = 77; /* not valid: must not show */
	out->stats.val[VIRTIO_BALLOON_S_MAJFLT] = 12;
	out->stats.val[VIRTIO_BALLOON_S_MEMFREE] = 1ull << 30;
	out->stats.val[VIRTIO_BALLOON_S_MEMTOT] = UINT64_MAX; /* clamps */
	out->stats.val[VIRTIO_BALLOON_S_CACHES] = (uint64_t)INT64_MAX;
	out->stats.val[VIRTIO_BALLOON_S_HTLB_PGFAIL] = 5;
	out->stats.val[VIRTIO_BALLOON_S_OOM_KILL] = 9;
	out->actual_bytes = 0xfedcba9876543210ull;
	return 0;
}

static int fake_resize(void *ctx, uint32_t index, uint64_t size, char *err, size_t errlen)
{
	struct fake *f = ctx;
	f->resizes++;
	f->resize_index = index;
	f->resize_size = size;
	if (index != 0) {
		snprintf(err, errlen, "disk %u does not exist", index);
		return -ENODEV;
	}
	return 0;
}

static int fake_battery(void *ctx, const struct vmc_battery *b, char *err, size_t errlen)
{
	struct fake *f = ctx;
	f->batteries++;
	f->battery = *b;
	if (strcmp(b->property, "status") != 0) {
		snprintf(err, errlen, "battery: unknown property '%s'", b->property);
		return -EINVAL;
	}
	return 0;
}

/* No USB handlers: the server answers those with "no USB controller". */
static const struct vmc_handlers fake_handlers = {
	.stop = fake_stop,
	.suspend = fake_suspend,
	.resume = fake_resume,
	.make_rt = fake_make_rt,
	.balloon = fake_balloon,
	.balloon_stats = fake_stats,
	.disk_resize = fake_resize,
	.battery = fake_battery,
};

/* A VM whose only handler is stop, for a second server. */
static const struct vmc_handlers stop_only = { .stop = fake_stop };

struct fixture {
	char dir[64];
	char sock[128];
	struct fake fake;
	struct vmc_server *srv;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/crosvm-control-test-XXXXXX");
	if (!mkdtemp(fx->dir) || vmc_server_open(fx->dir, &fake_handlers, &fx->fake, NULL, &fx->srv) < 0) {
		free(fx);
		return -1;
	}
	snprintf(fx->sock, sizeof(fx->sock), "%s", vmc_server_path(fx->srv));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	vmc_server_close(fx->srv);
	int r = rmdir(fx->dir);
	free(fx);
	return r;
}

static void assert_error_has(const char *needle)
{
	const char *e = crosvm_client_last_error();
	assert_non_null(e);
	if (!strstr(e, needle))
		fail_msg("last error '%s' does not contain '%s'", e, needle);
	assert_null(strchr(e, '\n'));
}

/* ---- requests reaching the VM ---- */

static void test_simple_requests(void **state)
{
	struct fixture *fx = *state;
	assert_true(crosvm_client_stop_vm(fx->sock));
	assert_true(crosvm_client_suspend_vm(fx->sock));
	assert_true(crosvm_client_suspend_vm(fx->sock));
	assert_true(crosvm_client_resume_vm(fx->sock));
	assert_true(crosvm_client_make_rt_vm(fx->sock));
	assert_int_equal(fx->fake.stops, 1);
	assert_int_equal(fx->fake.suspends, 2);
	assert_int_equal(fx->fake.resumes, 1);
	assert_int_equal(fx->fake.make_rts, 1);
}

static void test_balloon(void **state)
{
	struct fixture *fx = *state;
	assert_true(crosvm_client_balloon_vms(fx->sock, 0x123456789ull));
	assert_int_equal(fx->fake.balloons, 1);
	assert_true(fx->fake.balloon_bytes == 0x123456789ull);
	assert_true(crosvm_client_balloon_vms(fx->sock, 0));
	assert_true(fx->fake.balloon_bytes == 0);

	/* A refusal without a message of the handler's: the server's words. */
	assert_false(crosvm_client_balloon_vms(fx->sock, UINT64_MAX));
	assert_int_equal(fx->fake.balloons, 3);
	assert_error_has("balloon failed");
	assert_error_has(strerror(ERANGE));
}

static void test_balloon_stats(void **state)
{
	struct fixture *fx = *state;
	struct BalloonStatsFfi s;
	memset(&s, 0x5a, sizeof(s));
	uint64_t actual = 0;
	assert_true(crosvm_client_balloon_stats(fx->sock, &s, &actual));
	assert_int_equal(fx->fake.stats, 1);
	assert_true(actual == 0xfedcba9876543210ull);
	assert_true(s.swap_in == 0);
	assert_true(s.swap_out == -1);
	assert_true(s.major_faults == 12);
	assert_true(s.minor_faults == -1);
	assert_true(s.free_memory == (int64_t)1 << 30);
	assert_true(s.total_memory == INT64_MAX);
	assert_true(s.available_memory == -1);
	assert_true(s.disk_caches == INT64_MAX);
	assert_true(s.hugetlb_allocations == -1);
	assert_true(s.hugetlb_failures == 5);
	assert_true(s.shared_memory == -1);
	assert_true(s.unevictable_memory == -1);

	/* Either output may be left out. */
	assert_true(crosvm_client_balloon_stats(fx->sock, NULL, NULL));
	actual = 0;
	assert_true(crosvm_client_balloon_stats(fx->sock, NULL, &actual));
	assert_true(actual == 0xfedcba9876543210ull);
	memset(&s, 0, sizeof(s));
	assert_true(crosvm_client_balloon_stats(fx->sock, &s, NULL));
	assert_true(s.major_faults == 12);
	assert_int_equal(fx->fake.stats, 4);
}

static void test_resize_disk(void **state)
{
	struct fixture *fx = *state;
	assert_true(crosvm_client_resize_disk(fx->sock, 0, 1ull << 40));
	assert_int_equal(fx->fake.resizes, 1);
	assert_int_equal(fx->fake.resize_index, 0);
	assert_true(fx->fake.resize_size == 1ull << 40);

	/* The handler's message comes back as the last error. */
	assert_false(crosvm_client_resize_disk(fx->sock, 4, 4096));
	assert_int_equal(fx->fake.resizes, 2);
	assert_int_equal(fx->fake.resize_index, 4);
	assert_true(fx->fake.resize_size == 4096);
	assert_string_equal(crosvm_client_last_error(), "disk 4 does not exist");

	/* The largest index the protocol carries still goes out. */
	assert_false(crosvm_client_resize_disk(fx->sock, UINT32_MAX, 1));
	assert_int_equal(fx->fake.resize_index, UINT32_MAX);

	/* Larger ones are refused here. */
	assert_false(crosvm_client_resize_disk(fx->sock, (uint64_t)UINT32_MAX + 1, 1));
	assert_error_has("disk index");
	assert_int_equal(fx->fake.resizes, 3);
}

static void test_battery(void **state)
{
	struct fixture *fx = *state;
	assert_true(crosvm_client_modify_battery(fx->sock, "goldfish", "status", "charging"));
	assert_int_equal(fx->fake.batteries, 1);
	assert_string_equal(fx->fake.battery.type, "goldfish");
	assert_string_equal(fx->fake.battery.property, "status");
	assert_string_equal(fx->fake.battery.target, "charging");

	assert_false(crosvm_client_modify_battery(fx->sock, "goldfish", "colour", "blue"));
	assert_string_equal(crosvm_client_last_error(), "battery: unknown property 'colour'");

	/* 31 bytes fit, 32 do not. */
	char s31[32], s32[33];
	memset(s31, 'a', 31);
	s31[31] = '\0';
	memset(s32, 'b', 32);
	s32[32] = '\0';
	assert_true(crosvm_client_modify_battery(fx->sock, "goldfish", "status", s31));
	assert_string_equal(fx->fake.battery.target, s31);
	assert_int_equal(fx->fake.batteries, 3);

	const char *bad[][3] = {
		{ NULL, "status", "x" }, { "goldfish", NULL, "x" }, { "goldfish", "status", NULL },
		{ "", "status", "x" },	 { "goldfish", "", "x" },   { "goldfish", "status", "" },
		{ s32, "status", "x" },	 { "goldfish", s32, "x" },  { "goldfish", "status", s32 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(crosvm_client_modify_battery(fx->sock, bad[i][0], bad[i][1], bad[i][2]));
		assert_error_has("invalid argument");
	}
	assert_int_equal(fx->fake.batteries, 3); /* none of them went out */
}

/* No USB handlers: every USB call fails with the server's message. */
static void test_usb_not_supported(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(crosvm_client_max_usb_devices(), 16);

	struct UsbDeviceEntry e[16];
	assert_int_equal(crosvm_client_usb_list(fx->sock, e, 16), -1);
	assert_error_has("no USB controller");

	/* Start from another message so each call is seen to set its own. */
	assert_false(crosvm_client_stop_vm(NULL));
	uint8_t port = 99;
	assert_false(crosvm_client_usb_attach(fx->sock, 1, 2, 0x1234, 0x5678, "/dev/bus/usb/001/002", &port));
	assert_error_has("no USB controller");
	assert_int_equal(port, 99); /* untouched on failure */

	assert_false(crosvm_client_stop_vm(NULL));
	assert_false(crosvm_client_usb_detach(fx->sock, 3));
	assert_error_has("no USB controller");
}

static void test_usb_argument_checks(void **state)
{
	struct fixture *fx = *state;
	char path[VMC_PATH_MAX + 2];
	memset(path, 'p', sizeof(path) - 1);
	path[VMC_PATH_MAX + 1] = '\0'; /* VMC_PATH_MAX + 1 bytes */
	assert_false(crosvm_client_usb_attach(fx->sock, 1, 2, 3, 4, path, NULL));
	assert_error_has("invalid argument");
	assert_false(crosvm_client_usb_attach(fx->sock, 1, 2, 3, 4, "", NULL));
	assert_error_has("invalid argument");
	assert_false(crosvm_client_usb_attach(fx->sock, 1, 2, 3, 4, NULL, NULL));
	assert_error_has("invalid argument");

	/* VMC_PATH_MAX bytes pass the check and reach the VM (which has no
	 * USB controller). */
	path[VMC_PATH_MAX] = '\0';
	assert_false(crosvm_client_usb_attach(fx->sock, 1, 2, 3, 4, path, NULL));
	assert_error_has("no USB controller");

	assert_int_equal(crosvm_client_usb_list(fx->sock, NULL, 1), -1);
	assert_error_has("invalid argument");
	assert_int_equal(crosvm_client_usb_list(fx->sock, NULL, -1), -1);
	assert_error_has("invalid argument");
	/* No room is fine: the VM is still asked. */
	assert_int_equal(crosvm_client_usb_list(fx->sock, NULL, 0), -1);
	assert_error_has("no USB controller");
}

static void test_null_socket(void **state)
{
	(void)state;
	struct BalloonStatsFfi s;
	uint64_t actual;
	struct UsbDeviceEntry e[1];
	assert_false(crosvm_client_stop_vm(NULL));
	assert_error_has("invalid argument");
	assert_false(crosvm_client_suspend_vm(NULL));
	assert_false(crosvm_client_resume_vm(NULL));
	assert_false(crosvm_client_make_rt_vm(NULL));
	assert_false(crosvm_client_balloon_vms(NULL, 1));
	assert_false(crosvm_client_balloon_stats(NULL, &s, &actual));
	assert_false(crosvm_client_resize_disk(NULL, 0, 1));
	assert_int_equal(crosvm_client_usb_list(NULL, e, 1), -1);
	assert_false(crosvm_client_usb_attach(NULL, 1, 2, 3, 4, "/dev/x", NULL));
	assert_false(crosvm_client_usb_detach(NULL, 1));
	assert_false(crosvm_client_modify_battery(NULL, "goldfish", "status", "charging"));
	assert_error_has("socket_path");
}

/* ---- exchange failures ---- */

static void bind_at(int fd, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof(a.sun_path));
	strcpy(a.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

static void test_exchange_errors(void **state)
{
	struct fixture *fx = *state;
	char p[192];

	snprintf(p, sizeof(p), "%s/missing.sock", fx->dir);
	assert_false(crosvm_client_stop_vm(p));
	assert_string_equal(crosvm_client_last_error(), "no such socket");

	snprintf(p, sizeof(p), "%s/file", fx->dir);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_false(crosvm_client_balloon_vms(p, 1));
	assert_string_equal(crosvm_client_last_error(), "not a socket");
	assert_int_equal(unlink(p), 0);

	/* A socket file nobody listens on: the VM is gone. */
	snprintf(p, sizeof(p), "%s/stale.sock", fx->dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	bind_at(fd, p);
	close(fd);
	assert_false(crosvm_client_resume_vm(p));
	assert_string_equal(crosvm_client_last_error(), "no VM is listening (it is gone)");
	assert_int_equal(unlink(p), 0);

	/* A listener that never answers: the library's 5 s deadline. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	bind_at(fd, p);
	assert_int_equal(listen(fd, 4), 0);
	assert_false(crosvm_client_suspend_vm(p));
	assert_string_equal(crosvm_client_last_error(), "the VM did not answer in time");
	close(fd);
	assert_int_equal(unlink(p), 0);

	/* A path too long for a unix socket: the errno's own words. */
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_false(crosvm_client_stop_vm(longp));
	assert_string_equal(crosvm_client_last_error(), strerror(ENAMETOOLONG));
	assert_int_equal(fx->fake.stops, 0);
}

/* A success leaves the last failure's message alone. */
static void test_success_keeps_error(void **state)
{
	struct fixture *fx = *state;
	assert_false(crosvm_client_resize_disk(fx->sock, 7, 1));
	assert_string_equal(crosvm_client_last_error(), "disk 7 does not exist");
	assert_true(crosvm_client_stop_vm(fx->sock));
	assert_string_equal(crosvm_client_last_error(), "disk 7 does not exist");
}

/* A second server, so one test can talk to two VMs. */
static void test_two_vms(void **state)
{
	struct fixture *fx = *state;
	struct fake other = { 0 };
	struct vmc_server *srv2;
	char path[192];
	snprintf(path, sizeof(path), "%s/other.sock", fx->dir);
	assert_int_equal(vmc_server_open(path, &stop_only, &other, NULL, &srv2), 0);
	assert_true(crosvm_client_stop_vm(path));
	assert_false(crosvm_client_suspend_vm(path));
	assert_error_has("not supported");
	assert_int_equal(other.stops, 1);
	assert_int_equal(fx->fake.stops, 0);
	vmc_server_close(srv2);
	assert_false(crosvm_client_stop_vm(path));
	assert_string_equal(crosvm_client_last_error(), "no such socket");
}

/* ---- per-thread last error ---- */

struct thread_arg {
	const char *sock;
	char first[256]; /* last error as the thread first saw it */
	char after[256]; /* after its own failure */
	bool failed_as_expected;
};

static void *other_thread(void *p)
{
	struct thread_arg *a = p;
	snprintf(a->first, sizeof(a->first), "%s", crosvm_client_last_error());
	a->failed_as_expected = !crosvm_client_resize_disk(a->sock, 9, 1);
	snprintf(a->after, sizeof(a->after), "%s", crosvm_client_last_error());
	return NULL;
}

static void test_last_error_per_thread(void **state)
{
	struct fixture *fx = *state;
	char missing[192];
	snprintf(missing, sizeof(missing), "%s/missing.sock", fx->dir);
	assert_false(crosvm_client_stop_vm(missing));
	assert_string_equal(crosvm_client_last_error(), "no such socket");

	struct thread_arg a = { .sock = fx->sock };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, other_thread, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(a.first, ""); /* a new thread starts clean */
	assert_true(a.failed_as_expected);
	assert_string_equal(a.after, "disk 9 does not exist");
	/* The other thread's failure did not touch ours. */
	assert_string_equal(crosvm_client_last_error(), "no such socket");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_battery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_not_supported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usb_argument_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exchange_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_keeps_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_vms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_error_per_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
