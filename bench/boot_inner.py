"""The measuring half of bench/boot; runs inside the test host (tools/testhost).

Boots the same kernel and initramfs with the same memory, vCPUs and kernel
command line under crosvm, QEMU's microvm machine and QEMU's q35 machine,
several times each in shuffled rounds, and prints per VMM the median (with
min and max) of:

  * the wall time from just before the VMM process is spawned to the moment
    the guest's /init line GUEST_READY_MARKER (tools/guest-protocol.env)
    arrives on the VMM's stdout (the guest console), and
  * the VMM's peak resident set size: ru_maxrss of the VMM process as
    returned by wait4() once it has exited (the kernel's own high-water mark,
    threads included; children it reaped count as a max, not a sum).

and, as a note, how much of the VMM's resident memory was on 2 MiB pages
(transparent huge pages) when the marker arrived; then the ratios
crosvm / QEMU. Standard library only: it runs under Debian's
/usr/bin/python3 seen through the test host's view of the host's root.
"""

import argparse
import os
import random
import re
import select
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(BENCH_DIR)
PROTOCOL_ENV = os.path.join(SRC_ROOT, "tools", "guest-protocol.env")
QEMU = "/usr/bin/qemu-system-x86_64"

# One parser for the shell env files, shared with the e2e harness.
sys.path.insert(0, os.path.join(SRC_ROOT, "tests", "e2e"))
from guest import parse_env_file  # noqa: E402


def kernel_version(path):
    """The version string a bzImage's setup header points at, or "?"."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x8000)
        if head[0x202:0x206] != b"HdrS":
            return "? (not a bzImage)"
        off = struct.unpack_from("<H", head, 0x20E)[0] + 0x200
        return head[off:head.index(b"\0", off)].decode(errors="replace")
    except (OSError, ValueError, struct.error):
        return "?"


# --- the three VMMs: each returns the argv that boots KERNEL with INITRD,
# --- MEM MiB, CPUS vCPUs and exactly CMDLINE, console (COM1) on stdio.

def crosvm_argv(a, kernel, initrd):
    # crosvm appends console=/panic= only when the command line lacks them;
    # ours has both, so the guest sees CMDLINE verbatim (checked in main()).
    return [a.crosvm, "run", "-m", str(a.mem), "-c", str(a.cpus),
            "-i", initrd, "-p", a.cmdline, kernel]


def qemu_common(a, kernel, initrd):
    return ["-accel", "kvm", "-cpu", "host", "-m", str(a.mem), "-smp", str(a.cpus),
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd, "-append", a.cmdline]


def microvm_argv(a, kernel, initrd):
    # The legacy devices crosvm also has (PIC, PIT, CMOS RTC, COM1, ACPI for
    # poweroff) switched on explicitly rather than left to "auto", and
    # auto-kernel-cmdline off so that QEMU adds nothing to CMDLINE.
    machine = "microvm,pic=on,pit=on,rtc=on,isa-serial=on,acpi=on,auto-kernel-cmdline=off"
    return [QEMU, "-M", machine] + qemu_common(a, kernel, initrd)


def q35_argv(a, kernel, initrd):
    return [QEMU, "-M", "q35"] + qemu_common(a, kernel, initrd)


VMMS = [
    ("crosvm", crosvm_argv),
    ("qemu-microvm", microvm_argv),
    ("qemu-q35", q35_argv),
]


class BootError(Exception):
    pass


def session_hwm_kib(sid):
    """(number of processes, sum of their VmHWM in KiB) for session SID:
    whether the VMM forked helpers, whose memory ru_maxrss would not add."""
    n = total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            # Fields after the parenthesised comm: state ppid pgrp session ...
            if int(stat.rsplit(")", 1)[1].split()[3]) != sid:
                continue
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
                        n += 1
        except (OSError, ValueError, IndexError):
            continue
    return n, total


CMDLINE_RE = re.compile(rb"@@CMDLINE@@(.*?)@@\r?\n")


def read_until(fd, log, buf, pattern, deadline):
    """Append console output to buf (and log) until pattern matches in it
    or the deadline passes; returns (match or None, eof)."""
    while True:
        m = pattern.search(buf)
        if m:
            return m, False
        left = deadline - time.monotonic()
        if left <= 0:
            return None, False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                return None, True
            log.write(chunk)
            buf += chunk


def huge_kib(pid):
    """KiB of PID's resident memory mapped with 2 MiB pages (transparent
    huge pages, anonymous or shmem), from /proc/PID/smaps_rollup; None if
    that cannot be read. Explains RSS: guest RAM on huge pages is resident
    in 2 MiB steps, however little of each the guest touched."""
    total = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("AnonHugePages:", "ShmemPmdMapped:", "FilePmdMapped:")):
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total


def boot_once(name, argv, marker, timeout, log_path, ask_cmdline=False):
    """One boot: returns a dict with seconds to the marker, ru_maxrss (KiB),
    how the VMM ended, and the session's process count / VmHWM sum. With
    ask_cmdline, also the guest's /proc/cmdline, asked for on its console
    after the marker (so it costs no boot time)."""
    needle = marker.encode()
    with open(log_path, "wb") as log, open(log_path + ".stderr", "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
        fd = proc.stdout.fileno()
        buf = bytearray()
        t1 = None
        deadline = t0 + timeout
        eof = False
        # Boot: read the console until the marker appears.
        while t1 is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                eof = True
                break
            now = time.monotonic()
            log.write(chunk)
            # Search only the tail that can hold a new match.
            start = max(0, len(buf) - len(needle))
            buf += chunk
            if buf.find(needle, start) >= 0:
                t1 = now
        procs, hwm = session_hwm_kib(proc.pid) if t1 is not None else (0, 0)
        huge = huge_kib(proc.pid) if t1 is not None else None
        # Shutdown: ask the guest's console shell to power off, keep draining
        # the console so the VMM never blocks on a full pipe, kill on timeout.
        ended = "poweroff"
        guest_cmdline = None
        if t1 is not None and ask_cmdline:
            # The tty echoes this command; only the output has "@@CMDLINE@@".
            try:
                proc.stdin.write(b"printf '%s%s\\n' '@@CMDLINE' \"@@$(cat /proc/cmdline)@@\"\n")
                proc.stdin.flush()
            except OSError:
                pass
            after = bytearray()
            m, eof = read_until(fd, log, after, CMDLINE_RE, time.monotonic() + 30)
            if m:
                guest_cmdline = m.group(1).decode(errors="replace").strip()
        if t1 is not None and not eof:
            try:
                proc.stdin.write(b"poweroff -f\n")
                proc.stdin.flush()
            except OSError:
                pass
            stop = time.monotonic() + 30
            while not eof and time.monotonic() < stop:
                r, _, _ = select.select([fd], [], [], max(0.0, stop - time.monotonic()))
                if r:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        eof = True
                    else:
                        log.write(chunk)
        if not eof or t1 is None:
            ended = "killed"
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # wait4, not Popen.wait: we want the child's rusage.
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if ended == "poweroff" and proc.returncode != 0:
            ended = "exit %d" % proc.returncode
    if t1 is None:
        with open(log_path + ".stderr", "rb") as f:
            err_tail = f.read()[-2000:].decode(errors="replace")
        raise BootError("%s: %r did not appear on the console within %d s (%s)\n"
                        "last console output: %r\nstderr: %s"
                        % (name, marker, timeout, "VMM exited, status %s" % proc.returncode
                           if eof else "timed out", bytes(buf[-500:]), err_tail))
    return {"seconds": t1 - t0, "maxrss_kib": ru.ru_maxrss, "ended": ended,
            "procs": procs, "hwm_sum_kib": hwm, "huge_kib": huge, "cmdline": guest_cmdline}


def fmt_stat(values, scale, digits):
    vals = [v / scale for v in values]
    return ("%.*f" % (digits, statistics.median(vals)),
            "%.*f-%.*f" % (digits, min(vals), digits, max(vals)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crosvm", required=True, help="crosvm binary")
    ap.add_argument("--kernel", required=True, help="bzImage")
    ap.add_argument("--initrd", required=True, help="guest initramfs")
    ap.add_argument("--runs", type=int, default=5, help="measured boots per VMM (default 5)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="unmeasured boots per VMM first, to warm caches (default 1)")
    ap.add_argument("--mem", type=int, default=256, help="guest MiB (default 256)")
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs (default 1)")
    ap.add_argument("--cmdline", default="console=ttyS0 panic=-1 loglevel=4 crosvm_guest.noagent",
                    help="the kernel command line every VMM gets")
    ap.add_argument("--timeout", type=int, default=180, help="seconds per boot before giving up")
    ap.add_argument("--seed", type=int, default=None, help="seed for the run order")
    ap.add_argument("--vmm", action="append", choices=[n for n, _ in VMMS],
                    help="only these VMMs (repeatable; default all three)")
    ap.add_argument("--thp", choices=["always", "madvise", "never"],
                    help="set the test host's transparent huge pages mode first "
                    "(default: leave it as it boots)")
    ap.add_argument("--log-dir", help="copy each boot's console log and VMM stderr here "
                    "(a directory the test host can write: under the source tree)")
    a = ap.parse_args()
    if a.runs < 1 or a.warmup < 0:
        ap.error("--runs must be at least 1 and --warmup at least 0")

    marker = parse_env_file(PROTOCOL_ENV)["GUEST_READY_MARKER"]
    vmms = [(n, f) for n, f in VMMS if not a.vmm or n in a.vmm]
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)

    # Everything the VMMs read at start into tmpfs: the source tree is an
    # uncached 9p share in the test host, and no VMM should pay for that.
    work = tempfile.mkdtemp(prefix="bench-boot.")
    kernel = shutil.copy(a.kernel, os.path.join(work, "bzImage"))
    initrd = shutil.copy(a.initrd, os.path.join(work, "initrd"))
    a.crosvm = shutil.copy(a.crosvm, os.path.join(work, "crosvm"))

    thp_path = "/sys/kernel/mm/transparent_hugepage/enabled"
    if a.thp:
        # The test host is a throw-away VM: changing its THP mode is harmless.
        with open(thp_path, "w") as f:
            f.write(a.thp)
    try:
        with open(thp_path) as f:
            thp = f.read().strip()
    except OSError:
        thp = "?"
    qemu_version = subprocess.run([QEMU, "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0]
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    print("kernel:   %s (%s, %d bytes)" % (kernel_version(kernel), a.kernel, os.path.getsize(kernel)))
    print("initrd:   %s (%d bytes)" % (a.initrd, os.path.getsize(initrd)))
    print("guest:    %d MiB, %d vCPU" % (a.mem, a.cpus))
    print("cmdline:  %s" % a.cmdline)
    print("marker:   %r" % marker)
    print("test host: %s, %d CPU, kernel %s, THP %s, %s"
          % (model, os.cpu_count(), os.uname().release, thp, qemu_version))
    print("runs:     %d per VMM after %d warm-up, shuffled rounds (seed %d)" % (a.runs, a.warmup, seed))
    for n, f in vmms:
        print("%-13s %s" % (n + ":", " ".join(shlex.quote(x) for x in f(a, kernel, initrd))))
    print(flush=True)

    results = {n: [] for n, _ in vmms}
    rounds = [("warm-up", i) for i in range(a.warmup)] + [("run", i) for i in range(a.runs)]
    try:
        for kind, i in rounds:
            order = list(vmms)
            rng.shuffle(order)
            for n, f in order:
                log = os.path.join(work, "%s-%s%d.log" % (n, kind, i + 1))
                # The first boot of each VMM (a warm-up one unless there are
                # none) checks that its guest got exactly the command line.
                first = i == 0 and kind == ("warm-up" if a.warmup else "run")
                r = boot_once(n, f(a, kernel, initrd), marker, a.timeout, log, first)
                if first and r["cmdline"] != a.cmdline:
                    print("warning: the %s guest's /proc/cmdline is %r, not %r"
                          % (n, r["cmdline"], a.cmdline))
                note = "  (guest /proc/cmdline as given)" if first and r["cmdline"] == a.cmdline else ""
                print("%-7s %d  %-13s %7.3f s  %7.1f MiB (%s on 2M pages)  %s%s" % (
                    kind, i + 1, n, r["seconds"], r["maxrss_kib"] / 1024,
                    "?" if r["huge_kib"] is None else "%.0f" % (r["huge_kib"] / 1024), r["ended"],
                    "  (%d processes, VmHWM sum %.1f MiB)" % (r["procs"], r["hwm_sum_kib"] / 1024)
                    if r["procs"] > 1 else "") + note, flush=True)
                if kind == "run":
                    results[n].append(r)
    except BootError as e:
        print("bench/boot: %s" % e, file=sys.stderr)
        return 1
    finally:
        if a.log_dir:
            os.makedirs(a.log_dir, exist_ok=True)
            for f in os.listdir(work):
                if ".log" in f:
                    shutil.copy(os.path.join(work, f), a.log_dir)
        shutil.rmtree(work, ignore_errors=True)

    print()
    print("%-13s %10s %13s %11s %13s %10s" % ("VMM", "boot s", "(min-max)", "peak MiB", "(min-max)",
                                              "2M pages"))
    med = {}
    for n, _ in vmms:
        rs = results[n]
        t_med, t_rng = fmt_stat([r["seconds"] for r in rs], 1, 3)
        m_med, m_rng = fmt_stat([r["maxrss_kib"] for r in rs], 1024, 1)
        med[n] = (statistics.median(r["seconds"] for r in rs),
                  statistics.median(r["maxrss_kib"] for r in rs))
        huge = [r["huge_kib"] for r in rs if r["huge_kib"] is not None]
        print("%-13s %10s %13s %11s %13s %10s" % (n, t_med, t_rng, m_med, m_rng,
              "%.0f" % (statistics.median(huge) / 1024) if huge else "?"))
    if "crosvm" in med and len(med) > 1:
        print()
        print("ratios of the medians (below 1: crosvm boots faster / uses less memory)")
        for n, _ in vmms:
            if n == "crosvm":
                continue
            print("crosvm / %-13s time %.2fx   peak RSS %.2fx" % (
                n, med["crosvm"][0] / med[n][0], med["crosvm"][1] / med[n][1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
