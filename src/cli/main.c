/*
 * crosvm's entry point: picks the subcommand and hands over to it. Each
 * subcommand lives in its own file; errors are reported here or in the
 * subcommand as one line on stderr with a non-zero exit status.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/commands.h"

static const struct {
	const char *name;
	const char *summary;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", "boot a virtual machine", cmd_run },
	{ "version", "print the version", cmd_version },
	{ "stop", "stop running VMs through their control sockets", cmd_stop },
	{ "suspend", "pause the vCPUs of running VMs", cmd_suspend },
	{ "resume", "let suspended VMs run again", cmd_resume },
	{ "balloon", "set the balloon size of running VMs", cmd_balloon },
	{ "balloon_stats", "print a running VM's balloon statistics", cmd_balloon_stats },
	{ "disk", "resize a writable disk of a running VM", cmd_disk },
	{ "make_rt", "make vCPUs real-time after --delay-rt", cmd_make_rt },
	{ "usb", "manage a running VM's USB devices", cmd_usb },
	{ "battery", "change a running VM's battery state", cmd_battery },
};

/* crosvm subcommands this build does not provide yet. */
static const char *const pending[] = {
	"create_qcow2", "create_composite", "device",
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: crosvm [--help] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSee 'crosvm COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	log_init_from_env();
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0)
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(pending) / sizeof(pending[0]); i++)
		if (strcmp(cmd, pending[i]) == 0) {
			log_error("the '%s' command is not supported by this crosvm yet", cmd);
			return 1;
		}
	log_error("unknown command '%s' (see 'crosvm --help')", cmd);
	return 1;
}
