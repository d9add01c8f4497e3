/* `crosvm version`: prints the version this binary was built from. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#ifndef CROSVM_VERSION
#define CROSVM_VERSION "0.0.0"
#endif

int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: crosvm version\nPrint the version of crosvm.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "crosvm: version takes no arguments\n");
		return 1;
	}
	printf("crosvm %s\n", CROSVM_VERSION);
	return 0;
}
