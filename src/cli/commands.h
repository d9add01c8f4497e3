/* The subcommands: each takes its own argv (argv[0] is the command name)
 * and returns the process exit status. */
#ifndef CROSVM_CLI_COMMANDS_H
#define CROSVM_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_version(int argc, char **argv);
/* control_cmds.c: clients of a running VM's control socket. */
int cmd_stop(int argc, char **argv);
int cmd_suspend(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_make_rt(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_balloon_stats(int argc, char **argv);
int cmd_disk(int argc, char **argv);
int cmd_usb(int argc, char **argv);
int cmd_battery(int argc, char **argv);

#endif
