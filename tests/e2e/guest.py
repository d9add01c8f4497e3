"""Boot a Linux guest under a VMM and talk to it: the e2e test harness.

A Guest starts the VMM (our crosvm, or QEMU as a reference through the same
interface) on the cached Debian cloud kernel and the e2e guest initramfs
(tools/build-guest-initramfs). The guest's console (COM1) is the VMM's
stdout/stdin, captured here; the guest agent listens on COM2, whose input is
a FIFO we write and whose output is a file the VMM writes. Protocol strings
come from tools/guest-protocol.env, the one place they are defined.

    with Guest(CrosvmVmm(path), mem=256) as g:   # waits for the marker
        rc, out = g.run("nproc")                  # through the agent
        g.send("poweroff -f")                     # no reply expected
        assert g.wait_exit(5) == 0

Runs inside the test host (tools/testhost), under Debian's /usr/bin/python3,
standard library only.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(os.path.dirname(E2E_DIR))
PROTOCOL_ENV = os.path.join(SRC_ROOT, "tools", "guest-protocol.env")
POLICY_DIR = os.path.join(SRC_ROOT, "seccomp", "x86_64")


def parse_env_file(path):
    """KEY='value' / KEY=value lines of a shell env file, as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            out[key] = shlex.split(value)[0] if value else ""
    return out


PROTOCOL = parse_env_file(PROTOCOL_ENV)
READY_MARKER = PROTOCOL["GUEST_READY_MARKER"]
AGENT_READY = PROTOCOL["AGENT_READY_MARKER"]
DONE_RE = re.compile(
    re.escape("\n" + PROTOCOL["AGENT_DONE_PREFIX"]).encode()
    + rb"(-?\d+)"
    + re.escape(PROTOCOL["AGENT_DONE_SUFFIX"] + "\n").encode())


def load_assets():
    """The paths tools/fetch-assets wrote to $CROSVM_CACHE/assets.env."""
    cache = os.environ.get("CROSVM_CACHE", "/var/cache/crosvm-c")
    path = os.path.join(cache, "assets.env")
    if not os.path.exists(path):
        raise GuestError("%s missing: run tools/fetch-assets" % path)
    return parse_env_file(path)


class GuestError(Exception):
    pass


def host_run(argv, timeout=30, input=None, env=None):
    """Run a host command; returns (rc, stdout, stderr) as text. rc is None
    when it timed out (it is killed then)."""
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=timeout, env=env, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err
    return p.returncode, p.stdout, p.stderr


def host_run_ok(argv, timeout=30):
    rc, out, err = host_run(argv, timeout)
    if rc != 0:
        raise GuestError("%s: exit %s\n%s%s" % (" ".join(argv), rc, out, err))
    return out


# --- VMM adapters: how to start a VMM with the console on stdio and the
# --- agent on COM2 (input FIFO agent_in, output file agent_out).

class CrosvmVmm:
    """Our crosvm. console: "stdout" (COM1 on stdout+stdin, the default),
    "file" (COM1 to console_file), or None (no --serial for COM1: crosvm's
    default, which is also stdout+stdin)."""

    name = "crosvm"

    def __init__(self, binary, extra_args=()):
        self.binary = binary
        self.extra_args = list(extra_args)

    def argv(self, g):
        a = [self.binary, "run", "-m", str(g.mem), "-c", str(g.cpus)]
        # The device policies of this source tree, not an installed set.
        a += ["--seccomp-policy-dir", POLICY_DIR]
        if g.console == "stdout":
            a += ["--serial", "type=stdout,console,stdin"]
        elif g.console == "file":
            a += ["--serial", "type=file,path=%s,console" % g.console_file]
        if g.agent:
            a += ["--serial", "type=file,path=%s,input=%s,num=2" % (g.agent_out, g.agent_in)]
        for p in g.params:
            a += ["-p", p]
        if g.initrd:
            a += ["-i", g.initrd]
        a += self.extra_args + g.extra_args
        a.append(g.kernel)
        return a

    def prepare(self, g):
        pass

    def cleanup(self, g):
        pass


class QemuVmm:
    """QEMU with KVM, as a stand-in and reference: the same guest, console on
    stdio, agent on a second 16550 at 0x2f8. QEMU's file chardev cannot take
    input, so the agent uses a pipe chardev (FIFOs BASE.in / BASE.out) and a
    thread copies BASE.out into agent_out, which makes the rest identical.
    machine: "microvm" (qboot, fastest) or "pc" (SeaBIOS)."""

    name = "qemu"

    def __init__(self, machine="microvm", binary="qemu-system-x86_64", extra_args=()):
        self.machine = machine
        self.binary = binary
        self.extra_args = list(extra_args)

    def argv(self, g):
        cmdline = " ".join(["console=ttyS0"] + list(g.params))
        a = [self.binary, "-enable-kvm", "-cpu", "host", "-m", str(g.mem),
             "-smp", str(g.cpus), "-nodefaults", "-no-user-config",
             "-display", "none", "-no-reboot", "-kernel", g.kernel,
             "-append", cmdline]
        if self.machine == "microvm":
            a += ["-M", "microvm,acpi=on,rtc=on,pit=on,pic=on,isa-serial=on"]
        else:
            a += ["-M", self.machine]
        if g.initrd:
            a += ["-initrd", g.initrd]
        if g.console == "file":
            a += ["-chardev", "file,id=con,path=%s" % g.console_file]
        else:
            a += ["-chardev", "stdio,id=con,signal=off"]
        if self.machine == "microvm":
            a += ["-device", "isa-serial,chardev=con,iobase=0x3f8,irq=4"]
        else:
            a += ["-serial", "chardev:con"]
        if g.agent:
            a += ["-chardev", "pipe,id=agent,path=%s" % self._base(g)]
            if self.machine == "microvm":
                a += ["-device", "isa-serial,chardev=agent,iobase=0x2f8,irq=3"]
            else:
                a += ["-serial", "chardev:agent"]
        a += self.extra_args + g.extra_args
        return a

    def _base(self, g):
        return os.path.join(g.workdir, "qemu-agent")

    def prepare(self, g):
        if not g.agent:
            return
        base = self._base(g)
        # QEMU reads BASE.in and writes BASE.out; the harness writes
        # agent_in, so make BASE.in that same FIFO.
        os.symlink(g.agent_in, base + ".in")
        os.mkfifo(base + ".out")
        fd = os.open(base + ".out", os.O_RDWR)
        self._stop = False

        def pump():
            with open(g.agent_out, "ab", buffering=0) as out:
                while True:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    out.write(chunk)

        self._fd = fd
        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def cleanup(self, g):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            self._fd = None
            os.close(fd)


def default_vmm():
    """The VMM named by $E2E_VMM ("crosvm", "qemu", "qemu-pc"); crosvm's
    path comes from $CROSVM."""
    kind = os.environ.get("E2E_VMM", "crosvm")
    if kind == "crosvm":
        binary = os.environ.get("CROSVM")
        if not binary:
            raise GuestError("$CROSVM (path of the crosvm binary) is not set")
        return CrosvmVmm(binary)
    if kind == "qemu":
        return QemuVmm("microvm")
    if kind == "qemu-pc":
        return QemuVmm("pc")
    raise GuestError("unknown E2E_VMM %r" % kind)


# How long a guest may take to reach user space. Not a speed goal (bench/boot
# measures that): on these 2-core machines a guest in the emulated test host
# boots in 30-80 s with two scenarios running side by side, slower while
# anything else competes for the CPUs, and a slow boot is not a failure.
BOOT_TIMEOUT = 240


class Guest:
    """One VMM process running the e2e guest. Use as a context manager;
    leaving it kills the VMM (if still running) and removes its work dir
    unless E2E_KEEP=1."""

    def __init__(self, vmm=None, kernel=None, initrd=None, mem=256, cpus=1,
                 params=("loglevel=4",), extra_args=(), console="stdout",
                 agent=True, wait_ready=True, boot_timeout=BOOT_TIMEOUT, pass_fds=()):
        assets = None
        if kernel is None or initrd is None:
            assets = load_assets()
        self.vmm = vmm or default_vmm()
        self.kernel = kernel or assets["KERNEL_BZIMAGE"]
        self.initrd = initrd if initrd is not None else assets["GUEST_INITRD"]
        if self.initrd == "":
            self.initrd = None
        self.mem, self.cpus = mem, cpus
        self.params = list(params)
        self.extra_args = list(extra_args)
        self.console = console
        self.agent = agent
        self.wait_ready = wait_ready
        self.boot_timeout = boot_timeout
        self.pass_fds = tuple(pass_fds)  # fds the VMM inherits (e.g. --tap-fd)
        self.proc = None
        self.workdir = None
        self.boot_seconds = None
        self._console = bytearray()
        self._console_lock = threading.Condition()
        self._agent_pos = 0
        self._agent_fd = None

    # --- lifecycle

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            # __exit__ does not run when __enter__ fails: show why and clean up here.
            self.dump(sys.stdout)
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.dump(sys.stdout)
        self.close()
        return False

    def start(self):
        self.workdir = tempfile.mkdtemp(prefix="e2e-guest.")
        self.agent_in = os.path.join(self.workdir, "agent.in")
        self.agent_out = os.path.join(self.workdir, "agent.out")
        self.console_file = os.path.join(self.workdir, "console.out")
        self.stderr_file = os.path.join(self.workdir, "vmm.stderr")
        if self.agent:
            os.mkfifo(self.agent_in)
            # O_RDWR: does not block without a reader, and the VMM never
            # sees EOF on the agent's input while we hold it.
            self._agent_fd = os.open(self.agent_in, os.O_RDWR)
            open(self.agent_out, "wb").close()
        self.vmm.prepare(self)
        self.argv = self.vmm.argv(self)
        self._stderr = open(self.stderr_file, "wb")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     start_new_session=True, pass_fds=self.pass_fds)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        if self.wait_ready:
            self.wait_console(READY_MARKER, self.boot_timeout)
            self.boot_seconds = time.monotonic() - self.t_start
            print("guest: %s reached user space in %.2f s" % (self.vmm.name, self.boot_seconds), flush=True)
            if self.agent:
                self.wait_agent(self.boot_timeout)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.vmm.cleanup(self)
        if self._agent_fd is not None:
            os.close(self._agent_fd)
            self._agent_fd = None
        if getattr(self, "_stderr", None):
            self._stderr.close()
        if self.workdir and os.environ.get("E2E_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def wait_exit(self, timeout):
        """The VMM's exit status, or None if it is still running after
        timeout seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # --- console (COM1 on the VMM's stdout / stdin)

    def _read_console(self):
        fd = self.proc.stdout.fileno()
        with open(self.console_file if self.console != "file" else os.devnull, "ab", buffering=0) as log:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                log.write(chunk)
                with self._console_lock:
                    self._console += chunk
                    self._console_lock.notify_all()
        with self._console_lock:
            self._console_eof = True
            self._console_lock.notify_all()

    def console_text(self):
        """Everything the VMM wrote to stdout so far (or the console file)."""
        return self._console_bytes().decode(errors="replace")

    def _console_bytes(self):
        if self.console == "file":
            try:
                with open(self.console_file, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""
        with self._console_lock:
            return bytes(self._console)

    def wait_console(self, text, timeout):
        """Wait until text appears in the console output; raises GuestError
        on timeout or if the VMM exits first."""
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while True:
            if needle in self._console_bytes():
                return
            if self.proc.poll() is not None and (self.console == "file" or not self._reader.is_alive()):
                if needle in self._console_bytes():
                    return
                raise GuestError("%s exited (status %s) before %r appeared on the console"
                                 % (self.vmm.name, self.proc.returncode, text))
            if time.monotonic() > deadline:
                raise GuestError("%r did not appear on the console within %s s" % (text, timeout))
            with self._console_lock:
                self._console_lock.wait(0.05)

    def console_write(self, text):
        """Write text to the VMM's stdin (the guest console's input)."""
        self.proc.stdin.write(text.encode() if isinstance(text, str) else text)
        self.proc.stdin.flush()

    # --- agent (COM2)

    def _agent_data(self):
        with open(self.agent_out, "rb") as f:
            return f.read()

    def wait_agent(self, timeout):
        deadline = time.monotonic() + timeout
        needle = (AGENT_READY + "\n").encode()
        while True:
            data = self._agent_data()
            i = data.find(needle)
            if i >= 0:
                self._agent_pos = i + len(needle)
                return
            if self.proc.poll() is not None:
                raise GuestError("%s exited (status %s) before the guest agent was ready"
                                 % (self.vmm.name, self.proc.returncode))
            if time.monotonic() > deadline:
                raise GuestError("the guest agent was not ready within %s s" % timeout)
            time.sleep(0.05)

    def send(self, cmd):
        """Send one command line to the agent without waiting for it."""
        if "\n" in cmd:
            raise ValueError("agent commands are single lines")
        os.write(self._agent_fd, (cmd + "\n").encode())

    def run(self, cmd, timeout=30):
        """Run cmd (a shell command line) in the guest; returns (rc, output)
        with stdout and stderr together, as text."""
        self.send(cmd)
        deadline = time.monotonic() + timeout
        while True:
            data = self._agent_data()
            m = DONE_RE.search(data, self._agent_pos)
            if m:
                out = data[self._agent_pos:m.start()]
                self._agent_pos = m.end()
                return int(m.group(1)), out.decode(errors="replace")
            if self.proc.poll() is not None:
                raise GuestError("%s exited (status %s) while running %r"
                                 % (self.vmm.name, self.proc.returncode, cmd))
            if time.monotonic() > deadline:
                raise GuestError("%r did not finish within %s s" % (cmd, timeout))
            time.sleep(0.02)

    def run_ok(self, cmd, timeout=30):
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestError("guest: %r exited %d:\n%s" % (cmd, rc, out))
        return out

    def stderr_text(self):
        with open(self.stderr_file, "rb") as f:
            return f.read().decode(errors="replace")

    def dump(self, f=sys.stderr, lines=60):
        """Print the command line, the console tail and the VMM's stderr."""
        print("--- %s command: %s" % (self.vmm.name, " ".join(shlex.quote(a) for a in getattr(self, "argv", []))), file=f)
        text = self.console_text().splitlines()
        print("--- console (last %d lines):" % lines, file=f)
        for line in text[-lines:]:
            print("    " + line, file=f)
        try:
            err = self.stderr_text().splitlines()
        except OSError:
            err = []
        print("--- %s stderr (last %d lines):" % (self.vmm.name, lines), file=f)
        for line in err[-lines:]:
            print("    " + line, file=f)
        f.flush()
