"""What bench/blk_inner.py and bench/net_inner.py share; runs inside the test
host (tools/testhost), standard library only.

Each benchmark boots the e2e guest (Debian's cloud kernel, the e2e guest
initramfs, tests/e2e/guest.py's harness: commands run through the guest
agent on COM2) once per VMM per round, in shuffled rounds, with the guest
tools disk (fio, iperf3 and their libraries, built by bench/iobench.sh)
attached read-only and mounted at /mnt/tools, runs its measurements there,
powers the guest off, and at the end prints per figure and VMM the median
(min-max) over the rounds and the ratio crosvm / QEMU.
"""

import argparse
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SRC_ROOT = os.path.dirname(BENCH_DIR)
QEMU = "/usr/bin/qemu-system-x86_64"

sys.path.insert(0, BENCH_DIR)
sys.path.insert(0, os.path.join(SRC_ROOT, "tests", "e2e"))
from guest import CrosvmVmm, Guest, GuestError, QemuVmm, host_run  # noqa: E402
from boot_inner import kernel_version  # noqa: E402

VMM_NAMES = ["crosvm", "qemu-q35"]
# crosvm with every device in its own process (--disable-sandbox): the
# benchmarks that compare it with the sandboxed default add it.
IN_PROCESS = "crosvm-in-process"
# Ratio columns of the summary: (numerator, denominator, heading, meaning),
# printed when both VMMs ran.
RATIOS = [
    ("crosvm", "qemu-q35", "crosvm/qemu", "crosvm's median over QEMU's (above 1: crosvm does more per second)"),
    ("crosvm", IN_PROCESS, "jailed/in-proc",
     "sandboxed crosvm's median over --disable-sandbox's (the goal for I/O: at least 0.95)"),
]


class Disk:
    """A disk for the guest: path, and whether the guest may write it."""

    def __init__(self, path, writable, ident):
        self.path, self.writable, self.ident = path, writable, ident


def crosvm_disk_args(disks):
    a = []
    for d in disks:
        a += ["--rwdisk" if d.writable else "-d", d.path]
    return a


def qemu_disk_args(disks):
    a = []
    for d in disks:
        a += ["-drive", "file=%s,if=none,format=raw,id=%s%s"
              % (d.path.replace(",", ",,"), d.ident, "" if d.writable else ",readonly=on"),
              "-device", "virtio-blk-pci,drive=%s" % d.ident]
    return a


def make_vmm(name, a, disks, crosvm_extra=(), qemu_extra=()):
    """The harness's VMM adapter for NAME with DISKS (in that order) and the
    extra arguments (the NIC)."""
    if name == "crosvm":
        return CrosvmVmm(a.crosvm, crosvm_disk_args(disks) + list(crosvm_extra))
    if name == IN_PROCESS:
        return CrosvmVmm(a.crosvm, crosvm_disk_args(disks) + ["--disable-sandbox"] + list(crosvm_extra))
    # QEMU's defaults for the drive: cache=writeback, aio=threads (the image
    # is on tmpfs, which has no O_DIRECT in this kernel either way).
    return QemuVmm("q35", QEMU, qemu_disk_args(disks) + list(qemu_extra))


def common_args(description, names=VMM_NAMES):
    ap = argparse.ArgumentParser(description=description)
    ap.set_defaults(vmm_names=list(names))
    ap.add_argument("--crosvm", required=True, help="crosvm binary")
    ap.add_argument("--kernel", required=True, help="bzImage")
    ap.add_argument("--initrd", required=True, help="guest initramfs (the e2e one)")
    ap.add_argument("--tools", required=True, help="the guest tools disk (bench/iobench.sh)")
    ap.add_argument("--runs", type=int, default=3, help="rounds: boots per VMM, each measuring every figure once (default 3)")
    ap.add_argument("--mem", type=int, default=512, help="guest MiB (default 512)")
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs (default 1)")
    ap.add_argument("--vmm", action="append", choices=names, help="only these VMMs (repeatable)")
    ap.add_argument("--seed", type=int, default=None, help="seed for the run order")
    ap.add_argument("--thp", choices=["always", "madvise", "never"],
                    help="set the test host's transparent huge pages mode first")
    ap.add_argument("--boot-timeout", type=int, default=180, help="seconds per boot")
    return ap


class Bench:
    """Set-up, rounds and the summary, around a benchmark's measure()."""

    def __init__(self, a, figures):
        """figures: [(key, label, unit, digits)] in print order."""
        self.a = a
        self.figures = figures
        self.vmms = [n for n in a.vmm_names if not a.vmm or n in a.vmm]
        self.seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.results = {n: {k: [] for k, *_ in figures} for n in self.vmms}
        # Inputs to tmpfs: the source tree is an uncached 9p share here.
        self.work = tempfile.mkdtemp(prefix="bench-io.")
        a.kernel_src = a.kernel
        a.kernel = shutil.copy(a.kernel, os.path.join(self.work, "bzImage"))
        a.initrd = shutil.copy(a.initrd, os.path.join(self.work, "initrd"))
        a.crosvm = shutil.copy(a.crosvm, os.path.join(self.work, "crosvm"))
        a.tools = shutil.copy(a.tools, os.path.join(self.work, "tools.ext4"))
        self.thp = self._thp(a.thp)

    @staticmethod
    def _thp(mode):
        path = "/sys/kernel/mm/transparent_hugepage/enabled"
        if mode:
            with open(path, "w") as f:
                f.write(mode)
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return "?"

    def header(self, lines):
        a = self.a
        qemu_version = subprocess.run([QEMU, "--version"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        print("kernel:   %s (%s)" % (kernel_version(a.kernel), a.kernel_src))
        print("guest:    %d MiB, %d vCPU, e2e initramfs, tools disk %d MiB read-only at /mnt/tools"
              % (a.mem, a.cpus, os.path.getsize(a.tools) >> 20))
        print("test host: %s, %d CPU, kernel %s, THP %s" % (model, os.cpu_count(), os.uname().release, self.thp))
        print("qemu:     %s" % qemu_version)
        for line in lines:
            print(line)
        print("runs:     %d per VMM (one boot each), shuffled rounds (seed %d)" % (a.runs, self.seed))
        print(flush=True)

    def guest(self, vmm):
        return Guest(vmm, kernel=self.a.kernel, initrd=self.a.initrd, mem=self.a.mem,
                     cpus=self.a.cpus, boot_timeout=self.a.boot_timeout)

    def run(self, session):
        """session(name, round_index, record) boots NAME's guest, measures
        and calls record(key, value) for each figure."""
        try:
            for i in range(self.a.runs):
                order = list(self.vmms)
                self.rng.shuffle(order)
                for n in order:
                    def record(key, value, n=n, i=i):
                        self.results[n][key].append(value)
                        label, unit, digits = next((l, u, d) for k, l, u, d in self.figures if k == key)
                        print("run %d  %-9s %-26s %10.*f %s" % (i + 1, n, label, digits, value, unit), flush=True)
                    session(n, i, record)
        except GuestError as e:
            print("bench: %s" % e, file=sys.stderr)
            return 1
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        self.summary()
        return 0

    def summary(self):
        print()
        cols = self.vmms
        ratios = [r for r in RATIOS if r[0] in cols and r[1] in cols]
        print("%-26s %-7s" % ("figure", "unit") + "".join("%30s" % ("%s (min-max)" % n) for n in cols)
              + "".join("%16s" % r[2] for r in ratios))
        for key, label, unit, digits in self.figures:
            row = "%-26s %-7s" % (label, unit)
            med = {}
            for n in cols:
                v = self.results[n][key]
                if not v:
                    row += "%30s" % "-"
                    continue
                med[n] = statistics.median(v)
                row += "%30s" % ("%.*f (%.*f-%.*f)" % (digits, med[n], digits, min(v), digits, max(v)))
            for num, den, _, _ in ratios:
                ok = num in med and den in med and med[den] > 0
                row += "%16s" % ("%.2fx" % (med[num] / med[den]) if ok else "-")
            print(row)
        if ratios:
            print()
        for _, _, head, meaning in ratios:
            print("%s: %s" % (head, meaning))


def mount_tools(g):
    """Mount the read-only virtio disk (the tools disk) at /mnt/tools;
    returns the names of the guest's other (writable) virtio disks."""
    out = g.run_ok("for d in /sys/block/vd*; do echo ${d##*/} $(cat $d/ro); done")
    disks = [l.split() for l in out.splitlines() if l.strip()]
    ro = [d for d, r in disks if r == "1"]
    if len(ro) != 1:
        raise GuestError("expected one read-only virtio disk (the tools disk), got %s" % disks)
    g.run_ok("mkdir -p /mnt/tools && mount -t ext4 -o ro /dev/%s /mnt/tools" % ro[0])
    return [d for d, r in disks if r != "1"]


def shutdown(g):
    """Power the guest off (the VMM exits; killed after 30 s otherwise)."""
    try:
        g.send("poweroff -f")
    except OSError:
        pass
    if g.wait_exit(30) is None:
        print("note: %s did not exit 30 s after poweroff; killed" % g.vmm.name)


def cmdline_note(g, name):
    print("%-9s guest /proc/cmdline: %s" % (name, g.run_ok("cat /proc/cmdline").strip()), flush=True)


def argv_line(name, vmm, b):
    """The VMM's command line as the harness builds it (for the header)."""
    g = b.guest(vmm)
    g.workdir, g.console_file = "DIR", "DIR/console.out"
    g.agent_in, g.agent_out = "DIR/agent.in", "DIR/agent.out"
    return "%-9s %s" % (name + ":", " ".join(shlex.quote(x) for x in vmm.argv(g)))

