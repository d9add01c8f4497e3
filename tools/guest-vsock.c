/*
 * guest-vsock: a tiny AF_VSOCK client/server for the e2e guest (busybox
 * has none). It copies stdin to the stream and the stream to stdout, both
 * ways at once, and half-closes the stream when stdin ends, so a test can
 * push data through a vsock connection and read what comes back.
 *
 *   crosvm-vsock connect CID PORT
 *   crosvm-vsock listen PORT        (accepts one connection)
 *
 * Built statically into the guest initramfs by tools/build-guest-initramfs.
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pump(int s)
{
	static char buf[65536];
	struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { s, POLLIN, 0 } };
	int open_in = 1;
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (open_in && fds[0].revents) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				open_in = 0;
				fds[0].fd = -1;
				shutdown(s, SHUT_WR);
			} else if (write_all(s, buf, (size_t)n) < 0) {
				perror("vsock write");
				return 1;
			}
		}
		if (fds[1].revents) {
			ssize_t n = read(s, buf, sizeof(buf));
			if (n == 0)
				return 0;
			if (n < 0 || write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
				perror("vsock read");
				return 1;
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0) {
		perror("socket(AF_VSOCK)");
		return 1;
	}
	if (argc == 4 && strcmp(argv[1], "connect") == 0) {
		a.svm_cid = (unsigned)strtoul(argv[2], NULL, 0);
		a.svm_port = (unsigned)strtoul(argv[3], NULL, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			perror("connect");
			return 1;
		}
		return pump(s);
	}
	if (argc == 3 && strcmp(argv[1], "listen") == 0) {
		a.svm_cid = VMADDR_CID_ANY;
		a.svm_port = (unsigned)strtoul(argv[2], NULL, 0);
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0) {
			perror("bind/listen");
			return 1;
		}
		int c = accept(s, NULL, NULL);
		if (c < 0) {
			perror("accept");
			return 1;
		}
		close(s);
		return pump(c);
	}
	fprintf(stderr, "usage: crosvm-vsock connect CID PORT | listen PORT\n");
	return 2;
}
