/* Unit tests for `crosvm run` argument parsing and the --serial syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "cli/config.h"

struct parsed {
	struct run_config cfg;
	char err[256];
	char storage[16][128];
};

/* Copies the words into writable storage (getopt and --serial parsing
 * modify argv) and parses them as `run` arguments. */
static int parse(struct parsed *p, const char *const *words)
{
	char *argv[17];
	int argc = 0;
	argv[argc++] = "run";
	for (; words[argc - 1]; argc++) {
		strcpy(p->storage[argc - 1], words[argc - 1]);
		argv[argc] = p->storage[argc - 1];
	}
	argv[argc] = NULL;
	p->err[0] = '\0';
	return run_args_parse(argc, argv, &p->cfg, p->err, sizeof(p->err));
}

#define PARSE(p, ...) parse((p), (const char *const[]){ __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "vmlinux"), 0);
	assert_string_equal(p.cfg.kernel, "vmlinux");
	assert_int_equal(p.cfg.mem_mib, 256);
	assert_int_equal(p.cfg.cpus, 1);
	assert_string_equal(p.cfg.kvm_device, "/dev/kvm");
	assert_true(p.cfg.serial[0].configured);
	assert_int_equal(p.cfg.serial[0].type, SERIAL_STDOUT);
	assert_true(p.cfg.serial[0].console);
	assert_true(p.cfg.serial[0].stdin_input);
	assert_false(p.cfg.serial[1].configured);
}

static void test_core_options(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "-m", "4096", "--cpus=2", "-p", "a=1", "--params", "b", "-i", "rd",
			       "--disable-sandbox", "--kvm-device", "/dev/x", "bz"),
			 0);
	assert_int_equal(p.cfg.mem_mib, 4096);
	assert_int_equal(p.cfg.cpus, 2);
	assert_int_equal(p.cfg.nr_params, 2);
	assert_string_equal(p.cfg.params[1], "b");
	assert_string_equal(p.cfg.initrd, "rd");
	assert_true(p.cfg.disable_sandbox);
	assert_string_equal(p.cfg.kvm_device, "/dev/x");
}

static void test_bad_values(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "-m", "0", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "--mem"));
	assert_int_equal(PARSE(&p, "-c", "0", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "--cpus"));
	assert_int_equal(PARSE(&p, "-m", "12x", "k"), -EINVAL);
	assert_int_equal(PARSE(&p, "--bogus", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "unknown option '--bogus'"));
	assert_int_equal(PARSE(&p, "-Z", "k"), -EINVAL);
	assert_int_equal(PARSE(&p, "-m"), -EINVAL);
	assert_non_null(strstr(p.err, "needs a value"));
	assert_int_equal(PARSE(&p, "-m", "64"), -EINVAL);
	assert_non_null(strstr(p.err, "missing KERNEL"));
	assert_int_equal(PARSE(&p, "k1", "k2"), -EINVAL);
	assert_int_equal(PARSE(&p, "-s", "/run/vm.sock", "k"), 0);
	assert_string_equal(p.cfg.socket_path, "/run/vm.sock");
	assert_int_equal(PARSE(&p, "--socket=/run/d", "k"), 0);
	assert_string_equal(p.cfg.socket_path, "/run/d");
	assert_int_equal(PARSE(&p, "--socket=", "k"), -EINVAL);
	assert_int_equal(PARSE(&p, "--vhost-user-blk", "x.sock", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "not supported"));
	assert_int_equal(PARSE(&p, "--help"), 1);
}

static void test_rt_cpus(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "-c", "4", "--rt-cpus", "1,2-3", "--delay-rt", "k"), 0);
	assert_true(p.cfg.rt_cpus[0] == 0xe);
	assert_true(p.cfg.delay_rt);
	assert_int_equal(PARSE(&p, "k"), 0);
	assert_true(p.cfg.rt_cpus[0] == 0 && !p.cfg.delay_rt);
	/* vCPU 1 of a one-vCPU VM does not exist. */
	assert_int_equal(PARSE(&p, "--rt-cpus=1", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "vCPU 1 does not exist"));
	assert_int_equal(PARSE(&p, "--rt-cpus", "1-", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "invalid --rt-cpus '1-'"));
	assert_int_equal(PARSE(&p, "--rt-cpus", "254", "k"), -EINVAL);
}

static void test_seccomp_options(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "k"), 0);
	assert_string_equal(p.cfg.seccomp_policy_dir, CROSVM_POLICY_DIR);
	assert_false(p.cfg.seccomp_log_failures);
	assert_int_equal(PARSE(&p, "--seccomp-policy-dir", "/p", "--seccomp-log-failures", "k"), 0);
	assert_string_equal(p.cfg.seccomp_policy_dir, "/p");
	assert_true(p.cfg.seccomp_log_failures);
	assert_int_equal(PARSE(&p, "--seccomp-policy-dir=", "k"), -EINVAL);
}

static void test_disks(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "-r", "root.img", "--rwdisk", "a.img,sparse=false,block_size=4096,id=abc",
			       "-d", "b.img,o_direct=true", "k"),
			 0);
	assert_int_equal(p.cfg.nr_disks, 3);
	const struct disk_config *d = p.cfg.disks;
	assert_string_equal(d[0].path, "root.img");
	assert_true(d[0].root && d[0].read_only && d[0].sparse);
	assert_int_equal(d[0].block_size, 512);
	assert_string_equal(d[1].path, "a.img");
	assert_true(!d[1].root && !d[1].read_only && !d[1].sparse);
	assert_int_equal(d[1].block_size, 4096);
	assert_string_equal(d[1].id, "abc");
	assert_true(d[2].read_only && d[2].o_direct);
	assert_int_equal(PARSE(&p, "--rwroot", "r.img", "k"), 0);
	assert_true(p.cfg.disks[0].root && !p.cfg.disks[0].read_only);
}

static void test_disk_errors(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "-r", "a.img", "--rwroot", "b.img", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "only one root"));
	assert_int_equal(PARSE(&p, "--rwdisk", ",sparse=true", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "no image path"));
	assert_int_equal(PARSE(&p, "--rwdisk", "a.img,block_size=1000", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "block_size"));
	assert_int_equal(PARSE(&p, "--rwdisk", "a.img,block_size=256", "k"), -EINVAL);
	assert_int_equal(PARSE(&p, "--disk", "a.img,id=123456789012345678901", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "longer than 20"));
	assert_int_equal(PARSE(&p, "--disk", "a.img,sparse=maybe", "k"), -EINVAL);
	assert_int_equal(PARSE(&p, "--disk", "a.img,color=red", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "unknown key 'color'"));
}

static void test_serial(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "--serial", "type=file,path=/tmp/o,num=2,input=/tmp/i", "k"), 0);
	const struct serial_config *s = &p.cfg.serial[1];
	assert_true(s->configured);
	assert_int_equal(s->type, SERIAL_FILE);
	assert_string_equal(s->path, "/tmp/o");
	assert_string_equal(s->input, "/tmp/i");
	/* Only port: console defaults to it; it has its own input so stdin is not added. */
	assert_true(s->console);
	assert_false(s->stdin_input);
	assert_false(p.cfg.serial[0].configured);

	assert_int_equal(PARSE(&p, "--serial", "type=sink", "--serial", "type=stdout,num=2,console,stdin", "k"), 0);
	assert_false(p.cfg.serial[0].console);
	assert_true(p.cfg.serial[1].console);
	assert_false(p.cfg.serial[0].stdin_input);

	assert_int_equal(PARSE(&p, "--serial", "type=syslog,earlycon=true", "k"), 0);
	assert_true(p.cfg.serial[0].earlycon);
	assert_true(p.cfg.serial[0].stdin_input);
}

static void test_serial_errors(void **state)
{
	(void)state;
	struct parsed p;
	const char *bad[] = {
		"type=bogus", "num=9", "num=0", "type=file", "type=stdout,path=/x", "num=1", "type=stdout,foo=1",
		"type=stdout,console=maybe", "type=stdout,hardware=nope", "type=stdout,input=",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(PARSE(&p, "--serial", bad[i], "k"), -EINVAL);
		assert_non_null(strstr(p.err, "--serial"));
		assert_null(strchr(p.err, '\n'));
	}
	assert_int_equal(PARSE(&p, "--serial", "type=stdout", "--serial", "type=sink", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "twice"));
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,console", "--serial", "type=sink,num=2,console", "k"),
			 -EINVAL);
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,stdin", "--serial", "type=sink,num=2,stdin", "k"),
			 -EINVAL);
}

static void test_net(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "k"), 0);
	assert_false(net_config_creates_tap(&p.cfg.net));
	assert_int_equal(p.cfg.net.vq_pairs, 1);
	assert_int_equal(p.cfg.cid, 0);
	assert_string_equal(p.cfg.vhost_vsock_device, "/dev/vhost-vsock");

	assert_int_equal(PARSE(&p, "--host_ip", "192.168.10.1", "--netmask", "255.255.255.0", "--mac",
			       "02:00:00:12:34:56", "--net-vq-pairs", "2", "k"),
			 0);
	const struct net_config *n = &p.cfg.net;
	assert_true(net_config_creates_tap(n));
	const uint8_t *ip = (const uint8_t *)&n->host_ip, *mask = (const uint8_t *)&n->netmask;
	assert_int_equal(ip[0], 192);
	assert_int_equal(ip[3], 1);
	assert_int_equal(mask[2], 255);
	assert_int_equal(mask[3], 0);
	assert_int_equal(n->mac[5], 0x56);
	assert_int_equal(n->vq_pairs, 2);

	assert_int_equal(PARSE(&p, "--tap-fd", "5", "--tap-fd", "7", "--cid", "3", "--vhost-vsock-device", "/dev/v",
			       "k"),
			 0);
	assert_int_equal(p.cfg.net.nr_tap_fds, 2);
	assert_int_equal(p.cfg.net.tap_fds[1], 7);
	assert_int_equal(p.cfg.cid, 3);
	assert_string_equal(p.cfg.vhost_vsock_device, "/dev/v");
}

static void test_net_errors(void **state)
{
	(void)state;
	struct parsed p;
	const char *const bad[][3] = {
		{ "--host_ip", "300.1.1.1", "host_ip" },  { "--host_ip", "0.0.0.0", "host_ip" },
		{ "--netmask", "255.0.255.0", "netmask" }, { "--mac", "02:00:00:12:34", "mac" },
		{ "--mac", "ff:ff:ff:ff:ff:ff", "unicast" }, { "--tap-fd", "1", "tap-fd" },
		{ "--tap-fd", "x", "tap-fd" },		  { "--net-vq-pairs", "0", "net-vq-pairs" },
		{ "--net-vq-pairs", "17", "net-vq-pairs" }, { "--cid", "2", "--cid" },
		{ "--cid", "4294967295", "--cid" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(PARSE(&p, bad[i][0], bad[i][1], "k"), -EINVAL);
		assert_non_null(strstr(p.err, bad[i][2]));
		assert_null(strchr(p.err, '\n'));
	}
	assert_int_equal(PARSE(&p, "--host_ip", "10.0.0.1", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "together"));
	assert_int_equal(PARSE(&p, "--tap-fd", "5", "--tap-fd", "5", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "twice"));
	assert_int_equal(PARSE(&p, "--mac", "02:00:00:00:00:01", "--mac", "02:00:00:00:00:02", "k"), -EINVAL);
}

static void test_virtio_console(void **state)
{
	(void)state;
	struct parsed p;
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,hardware=virtio-console,console,stdin", "--serial",
			       "type=file,path=/tmp/o,num=2", "k"),
			 0);
	const struct serial_config *v = &p.cfg.virtio_consoles[0];
	assert_true(v->configured && v->console && v->stdin_input);
	assert_int_equal(v->hardware, SERIAL_HW_VIRTIO_CONSOLE);
	assert_true(p.cfg.serial[1].configured);
	assert_false(p.cfg.serial[1].console);
	assert_false(p.cfg.serial[0].configured);
	/* Only virtio consoles: the first one is the console by default. */
	assert_int_equal(PARSE(&p, "--serial", "type=sink,hardware=virtio-console,num=2", "k"), 0);
	assert_true(p.cfg.virtio_consoles[1].console);
	/* The same num on both kinds of hardware is two different ports. */
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,hardware=virtio-console", "--serial", "type=sink", "k"), 0);
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,hardware=virtio-console", "--serial",
			       "type=sink,hardware=virtio-console", "k"),
			 -EINVAL);
	assert_non_null(strstr(p.err, "twice"));
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,hardware=virtio-console,earlycon", "k"), -EINVAL);
	assert_non_null(strstr(p.err, "earlycon"));
	assert_int_equal(PARSE(&p, "--serial", "type=stdout,hardware=virtio-console,console", "--serial",
			       "type=sink,console", "k"),
			 -EINVAL);
	assert_non_null(strstr(p.err, "more than one port has console"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),   cmocka_unit_test(test_core_options),
		cmocka_unit_test(test_bad_values), cmocka_unit_test(test_serial),
		cmocka_unit_test(test_serial_errors),
		cmocka_unit_test(test_rt_cpus), cmocka_unit_test(test_seccomp_options), cmocka_unit_test(test_disks),
		cmocka_unit_test(test_disk_errors),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_net_errors),
		cmocka_unit_test(test_virtio_console),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
