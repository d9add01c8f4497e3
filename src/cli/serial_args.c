/*
 * Parsing of `--serial type=...,num=...` values and the serial defaults
 * crosvm users rely on: without --serial, COM1 goes to stdout, is the
 * console and takes stdin; console and stdin otherwise default to the
 * first configured port.
 */
#include "cli/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/parse.h"

static int parse_flag(const char *key, const char *value, bool *out, char *err, size_t errlen)
{
	if (parse_bool(value, out) < 0)
		return args_fail(err, errlen, "--serial", "%s must be true or false, not '%s'", key, value);
	return 0;
}

int serial_arg_parse(char *value, struct run_config *cfg, char *err, size_t errlen)
{
	struct serial_config s = { .configured = true, .num = 1 };
	bool have_type = false;
	struct kv_iter it;
	char *k, *v;
	kv_init(&it, value);
	while (kv_next(&it, &k, &v)) {
		if (strcmp(k, "type") == 0) {
			if (strcmp(v, "stdout") == 0)
				s.type = SERIAL_STDOUT;
			else if (strcmp(v, "syslog") == 0)
				s.type = SERIAL_SYSLOG;
			else if (strcmp(v, "sink") == 0)
				s.type = SERIAL_SINK;
			else if (strcmp(v, "file") == 0)
				s.type = SERIAL_FILE;
			else
				return args_fail(err, errlen, "--serial", "unknown type '%s' (stdout, syslog, sink or file)", v);
			have_type = true;
		} else if (strcmp(k, "hardware") == 0) {
			if (strcmp(v, "serial") == 0)
				s.hardware = SERIAL_HW_8250;
			else if (strcmp(v, "virtio-console") == 0)
				s.hardware = SERIAL_HW_VIRTIO_CONSOLE;
			else
				return args_fail(err, errlen, "--serial", "unknown hardware '%s' (serial or virtio-console)", v);
		} else if (strcmp(k, "num") == 0) {
			uint64_t n;
			if (parse_u64_range(v, 1, SERIAL_PORTS, &n) < 0)
				return args_fail(err, errlen, "--serial", "num must be 1 to %d, not '%s'", SERIAL_PORTS, v);
			s.num = (uint8_t)n;
		} else if (strcmp(k, "path") == 0) {
			if (!*v)
				return args_fail(err, errlen, "--serial", "path is empty");
			s.path = v;
		} else if (strcmp(k, "input") == 0) {
			if (!*v)
				return args_fail(err, errlen, "--serial", "input is empty");
			s.input = v;
		} else if (strcmp(k, "console") == 0) {
			if (parse_flag(k, v, &s.console, err, errlen) < 0)
				return -EINVAL;
		} else if (strcmp(k, "earlycon") == 0) {
			if (parse_flag(k, v, &s.earlycon, err, errlen) < 0)
				return -EINVAL;
		} else if (strcmp(k, "stdin") == 0) {
			if (parse_flag(k, v, &s.stdin_input, err, errlen) < 0)
				return -EINVAL;
		} else {
			return args_fail(err, errlen, "--serial", "unknown key '%s'", k);
		}
	}
	if (!have_type)
		return args_fail(err, errlen, "--serial", "type= is required");
	if (s.type == SERIAL_FILE && !s.path)
		return args_fail(err, errlen, "--serial", "type=file needs path=");
	if (s.type != SERIAL_FILE && s.path)
		return args_fail(err, errlen, "--serial", "path= is only valid with type=file");
	if (s.stdin_input && s.input)
		return args_fail(err, errlen, "--serial", "stdin and input= cannot both feed one port");
	bool virtio = s.hardware == SERIAL_HW_VIRTIO_CONSOLE;
	if (virtio && s.earlycon)
		return args_fail(err, errlen, "--serial", "earlycon needs hardware=serial (the kernel's early console is an 8250)");
	if (virtio && s.type == SERIAL_SYSLOG)
		return args_fail(err, errlen, "--serial", "type=syslog with hardware=virtio-console is not supported by this crosvm yet");
	struct serial_config *slot = virtio ? &cfg->virtio_consoles[s.num - 1] : &cfg->serial[s.num - 1];
	if (slot->configured)
		return args_fail(err, errlen, "--serial", "%s num=%u is configured twice", virtio ? "virtio-console" : "serial port",
			    s.num);
	for (int i = 0; i < 2 * SERIAL_PORTS; i++) {
		const struct serial_config *o =
			i < SERIAL_PORTS ? &cfg->serial[i] : &cfg->virtio_consoles[i - SERIAL_PORTS];
		if (!o->configured)
			continue;
		if (s.console && o->console)
			return args_fail(err, errlen, "--serial", "more than one port has console");
		if (s.earlycon && o->earlycon)
			return args_fail(err, errlen, "--serial", "more than one port has earlycon");
		if (s.stdin_input && o->stdin_input)
			return args_fail(err, errlen, "--serial", "more than one port has stdin");
	}
	*slot = s;
	return 0;
}

void serial_apply_defaults(struct run_config *cfg)
{
	struct serial_config *first = NULL;
	bool any_console = false, any_stdin = false;
	/* 8250 ports first, then virtio consoles: "first" is in that order. */
	for (int i = 0; i < 2 * SERIAL_PORTS; i++) {
		struct serial_config *s = i < SERIAL_PORTS ? &cfg->serial[i] : &cfg->virtio_consoles[i - SERIAL_PORTS];
		if (!s->configured)
			continue;
		if (!first)
			first = s;
		any_console |= s->console;
		any_stdin |= s->stdin_input;
	}
	if (!first) {
		cfg->serial[0] = (struct serial_config){
			.configured = true, .type = SERIAL_STDOUT, .num = 1, .console = true, .stdin_input = true,
		};
		return;
	}
	if (!any_console)
		first->console = true;
	/* stdin is claimed by default only by a port without its own input. */
	if (!any_stdin && !first->input)
		first->stdin_input = true;
}
