/*
 * stop_vm SOCKET: stops the VM at SOCKET through the installed
 * libcrosvm_control. Exits 0 when it stopped; otherwise prints the
 * library's reason and exits 1. check-install builds it against an
 * installed tree with nothing but pkg-config, as any client would.
 */
#include <stdio.h>

#include <crosvm_control.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stop_vm SOCKET\n");
		return 2;
	}
	if (!crosvm_client_stop_vm(argv[1])) {
		fprintf(stderr, "stop_vm: %s: %s\n", argv[1], crosvm_client_last_error());
		return 1;
	}
	return 0;
}
