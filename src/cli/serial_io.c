/*
 * The host side of the four COM ports: where their output goes (stdout, a
 * file, syslog or nowhere) and where their input comes from (crosvm's
 * stdin or an input file/FIFO, read by one thread per port). Input is fed
 * to the UART only as fast as its receive buffer drains, so nothing typed
 * is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "base/eventfd.h"
#include "base/fd.h"
#include "base/log.h"
#include "cli/vm.h"

static const uint16_t com_ports[SERIAL_PORTS] = { X86_COM1_PORT, X86_COM2_PORT, X86_COM3_PORT, X86_COM4_PORT };

static void sink_fd_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct serial_port *p = ctx;
	/* A full disk or closed stdout must not stop the guest; drop output. */
	if (fd_write_full(p->out_fd, buf, len) < 0)
		return;
}

static void sink_syslog_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct serial_port *p = ctx;
	for (size_t i = 0; i < len; i++) {
		bool flush = buf[i] == '\n' || p->line_len == sizeof(p->line) - 1;
		if (buf[i] != '\n' && buf[i] != '\r')
			p->line[p->line_len++] = (char)buf[i];
		if (flush) {
			p->line[p->line_len] = '\0';
			syslog(LOG_INFO, "%s", p->line);
			p->line_len = 0;
		}
	}
}

static int open_input(const char *path)
{
	struct stat st;
	/* A FIFO is opened read-write so it never reports end-of-file when a
	 * writer closes: the next writer's data still reaches the guest. */
	int flags = (stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) ? O_RDWR : O_RDONLY;
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int serial_ports_init(struct vm *vm, char *err, size_t errlen)
{
	bool opened_log = false;
	for (int i = 0; i < SERIAL_PORTS; i++) {
		struct serial_port *p = &vm->serial[i];
		const struct serial_config *c = &vm->cfg->serial[i];
		p->vm = vm;
		p->out_fd = p->in_fd = p->irq_evt = -1;
		struct serial_sink sink = { NULL, NULL };
		if (c->configured && c->type == SERIAL_STDOUT) {
			p->out_fd = STDOUT_FILENO;
			sink = (struct serial_sink){ sink_fd_write, p };
		} else if (c->configured && c->type == SERIAL_FILE) {
			p->out_fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (p->out_fd < 0) {
				snprintf(err, errlen, "serial port %d: cannot open output file '%s': %s", i + 1, c->path,
					 strerror(errno));
				return -errno;
			}
			sink = (struct serial_sink){ sink_fd_write, p };
		} else if (c->configured && c->type == SERIAL_SYSLOG) {
			/* The ident must outlive every syslog() call: it is the
			 * borrowed argv string or a literal. */
			if (!opened_log)
				openlog(vm->cfg->syslog_tag ? vm->cfg->syslog_tag : "crosvm", LOG_PID, LOG_USER);
			opened_log = true;
			p->syslog = true;
			sink = (struct serial_sink){ sink_syslog_write, p };
		}
		if (c->configured && c->input) {
			p->in_fd = open_input(c->input);
			if (p->in_fd < 0) {
				snprintf(err, errlen, "serial port %d: cannot open input file '%s': %s", i + 1, c->input,
					 strerror(-p->in_fd));
				return p->in_fd;
			}
		} else if (c->configured && c->stdin_input) {
			p->in_fd = STDIN_FILENO;
		}
		p->irq_evt = evfd_create();
		if (p->irq_evt < 0) {
			snprintf(err, errlen, "serial port %d: eventfd: %s", i + 1, strerror(-p->irq_evt));
			return p->irq_evt;
		}
		int r = serial_init(&p->uart, p->irq_evt, sink);
		if (r < 0) {
			snprintf(err, errlen, "serial port %d: %s", i + 1, strerror(-r));
			return r;
		}
		r = bus_insert(&vm->io_bus, com_ports[i], 8, &serial_bus_ops, &p->uart, "serial");
		if (r < 0) {
			snprintf(err, errlen, "serial port %d: I/O port 0x%x: %s", i + 1, com_ports[i], strerror(-r));
			return r;
		}
		uint32_t gsi = (i == 0 || i == 2) ? X86_COM13_IRQ : X86_COM24_IRQ;
		r = kvm_vm_irqfd(&vm->kvm_vm, p->irq_evt, gsi);
		if (r < 0) {
			snprintf(err, errlen, "serial port %d: KVM_IRQFD: %s", i + 1, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Waits up to timeout_ms for the stop event; true if the VM is stopping. */
static bool wait_stop(struct vm *vm, int timeout_ms)
{
	struct pollfd pfd = { .fd = vm->stop_evt, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) > 0 || atomic_load(&vm->stopping);
}

static void *input_main(void *arg)
{
	struct serial_port *p = arg;
	struct vm *vm = p->vm;
	uint8_t buf[256];
	for (;;) {
		struct pollfd pfd[2] = { { .fd = p->in_fd, .events = POLLIN }, { .fd = vm->stop_evt, .events = POLLIN } };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents || atomic_load(&vm->stopping))
			break;
		ssize_t n = read(p->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) /* end of input: the port simply gets no more */
			break;
		size_t done = 0;
		while (done < (size_t)n) {
			done += serial_queue_input(&p->uart, buf + done, (size_t)n - done);
			/* The guest has not drained the UART yet: retry shortly. */
			if (done < (size_t)n && wait_stop(vm, 2))
				return NULL;
		}
	}
	return NULL;
}

int serial_ports_start_input(struct vm *vm)
{
	for (int i = 0; i < SERIAL_PORTS; i++) {
		struct serial_port *p = &vm->serial[i];
		if (p->in_fd < 0)
			continue;
		int r = pthread_create(&p->in_thread, NULL, input_main, p);
		if (r)
			return -r;
		p->in_thread_started = true;
	}
	return 0;
}

void serial_ports_destroy(struct vm *vm)
{
	if (vm->stop_evt >= 0)
		evfd_signal(vm->stop_evt);
	for (int i = 0; i < SERIAL_PORTS; i++) {
		struct serial_port *p = &vm->serial[i];
		if (p->in_thread_started)
			pthread_join(p->in_thread, NULL);
		p->in_thread_started = false;
		if (p->out_fd > STDERR_FILENO)
			fd_close(&p->out_fd);
		if (p->in_fd > STDERR_FILENO)
			fd_close(&p->in_fd);
		if (p->irq_evt >= 0) {
			serial_destroy(&p->uart);
			fd_close(&p->irq_evt);
		}
	}
}

int serial_ports_cmdline(const struct run_config *cfg, struct kernel_cmdline *cmd)
{
	for (int i = 0; i < SERIAL_PORTS; i++) {
		const struct serial_config *c = &cfg->serial[i];
		char v[64];
		if (!c->configured)
			continue;
		snprintf(v, sizeof(v), "ttyS%d", i);
		if (c->console && !kcmd_has_key(cmd, "console")) {
			int r = kcmd_append_kv(cmd, "console", v);
			if (r < 0)
				return r;
		}
		snprintf(v, sizeof(v), "uart8250,io,0x%x", com_ports[i]);
		if (c->earlycon && !kcmd_has_key(cmd, "earlycon")) {
			int r = kcmd_append_kv(cmd, "earlycon", v);
			if (r < 0)
				return r;
		}
	}
	/* Virtio consoles become hvc0, hvc1, ... in the order their PCI
	 * functions are probed, which is num order (virtio_devices.c). */
	int hvc = 0;
	for (int i = 0; i < SERIAL_PORTS; i++) {
		const struct serial_config *c = &cfg->virtio_consoles[i];
		if (!c->configured)
			continue;
		char v[16];
		snprintf(v, sizeof(v), "hvc%d", hvc++);
		if (c->console && !kcmd_has_key(cmd, "console")) {
			int r = kcmd_append_kv(cmd, "console", v);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* A descriptor of crosvm's own stdin/stdout for a virtio console, which
 * sets O_NONBLOCK on what it gets: a fresh open file description (through
 * /proc/self/fd) so the flag does not leak into crosvm's own stdio or the
 * terminal it shares, except for a regular file, which needs its shared
 * offset and never blocks anyway. */
static int reopen_stdio(int fd, int flags)
{
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return fcntl(fd, F_DUPFD_CLOEXEC, 3);
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, flags | O_CLOEXEC);
}

int virtio_console_open_fds(const struct serial_config *c, int *in_fd, int *out_fd, char *err, size_t errlen)
{
	*in_fd = *out_fd = -1;
	int fd = -1;
	if (c->type == SERIAL_STDOUT)
		fd = reopen_stdio(STDOUT_FILENO, O_WRONLY);
	else if (c->type == SERIAL_FILE)
		fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	else if (c->type == SERIAL_SINK)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	else {
		snprintf(err, errlen, "virtio-console %u: output type not supported", c->num);
		return -EINVAL;
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "virtio-console %u: cannot open its output%s%s: %s", c->num,
			 c->path ? " " : "", c->path ? c->path : "", strerror(e));
		return -e;
	}
	*out_fd = fd;
	if (c->stdin_input)
		fd = reopen_stdio(STDIN_FILENO, O_RDONLY);
	else if (c->input)
		fd = open_input(c->input);
	else
		return 0;
	if (fd < 0) {
		int e = fd == -1 ? errno : -fd;
		snprintf(err, errlen, "virtio-console %u: cannot open its input %s: %s", c->num,
			 c->input ? c->input : "(stdin)", strerror(e));
		fd_close(out_fd);
		return -e;
	}
	*in_fd = fd;
	return 0;
}
