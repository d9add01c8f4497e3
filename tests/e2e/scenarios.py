#!/usr/bin/python3
"""End-to-end scenarios: a real Linux guest (Debian's cloud kernel and the
e2e initramfs) booted by the VMM inside the test host. Each scenario is one
CTest test (tests/e2e/CMakeLists.txt); run one by hand with

    tools/testhost -- /usr/bin/python3 tests/e2e/scenarios.py \\
        --crosvm build/debug/src/cli/crosvm boot_bzimage
    tools/testhost -- /usr/bin/python3 tests/e2e/scenarios.py --vmm qemu all

Exit status: 0 passed, 1 failed (no /dev/kvm or no crosvm binary is a failure:
these tests must never pass by not running).
"""

import argparse
import os
import random
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest as G  # noqa: E402
from guest import Guest, GuestError  # noqa: E402

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def check(cond, what):
    if not cond:
        raise GuestError("check failed: " + what)
    print("ok: " + what, flush=True)


def boot_and_check(vmm, assets, kernel):
    with Guest(vmm, kernel=kernel) as g:
        print("booted to user space in %.2f s" % g.boot_seconds, flush=True)
        check(G.READY_MARKER in g.console_text(), "userspace marker on the console")
        out = g.run_ok("uname -r").strip()
        check(out == assets["KERNEL_RELEASE"], "guest runs kernel %s (uname -r: %s)" % (assets["KERNEL_RELEASE"], out))
        check(g.run("echo hello; exit 3") == (3, "hello\n"), "agent returns output and exit status")


@scenario
def boot_bzimage(vmm, assets):
    boot_and_check(vmm, assets, assets["KERNEL_BZIMAGE"])


@scenario
def boot_vmlinux(vmm, assets):
    boot_and_check(vmm, assets, assets["KERNEL_VMLINUX"])


@scenario
def cpus_2(vmm, assets):
    with Guest(vmm, cpus=2) as g:
        n = g.run_ok("nproc").strip()
        check(n == "2", "nproc == 2 (got %s)" % n)
        n = g.run_ok("grep -c ^processor /proc/cpuinfo").strip()
        check(n == "2", "2 processors in /proc/cpuinfo (got %s)" % n)


@scenario
def mem_4096(vmm, assets):
    with Guest(vmm, mem=4096) as g:
        out = g.run_ok("grep MemTotal /proc/meminfo")
        kib = int(out.split()[1])
        gib = kib / (1024 * 1024)
        check(3.5 <= gib <= 4.1, "MemTotal %.2f GiB within 3.5-4.1 GiB" % gib)


@scenario
def mem_96(vmm, assets):
    # A small guest. Not 64 MiB: Debian's cloud kernel needs 16 MiB (its
    # load address) + 51 MiB (init_size) before it can run at all, and
    # does not boot in 64 MiB under QEMU either (80 MiB is its minimum).
    with Guest(vmm, mem=96) as g:
        kib = int(g.run_ok("grep MemTotal /proc/meminfo").split()[1])
        check(kib <= 96 * 1024, "MemTotal %d KiB <= 96 MiB" % kib)


@scenario
def serial_stdout(vmm, assets):
    # Guest() passes --serial type=stdout,console,stdin and waits for the
    # marker on the VMM's stdout. Default loglevel: the banner is KERN_NOTICE.
    with Guest(vmm, console="stdout", params=()) as g:
        check(G.READY_MARKER in g.console_text(), "console (with the marker) on stdout")
        check("Linux version" in g.console_text(), "kernel boot messages on stdout")


@scenario
def serial_default(vmm, assets):
    # No --serial at all: COM1 must default to stdout + stdin + console.
    with Guest(vmm, console=None, agent=False) as g:
        check(G.READY_MARKER in g.console_text(), "marker on stdout with the default serial")
        g.console_write("poweroff -f\n")
        check(g.wait_exit(10) == 0, "guest powered off through the console shell on stdin")


@scenario
def serial_file(vmm, assets):
    with Guest(vmm, console="file") as g:
        with open(g.console_file) as f:
            text = f.read()
        check(G.READY_MARKER in text, "console written to %s" % g.console_file)


@scenario
def stdin_to_guest(vmm, assets):
    # The console shell reads the VMM's stdin; the agent sees the result.
    nonce = "stdin-ok-%08x" % random.getrandbits(32)
    with Guest(vmm) as g:
        g.console_write("echo %s > /tmp/got\n" % nonce)
        out = g.run_ok("for i in $(seq 100); do [ -s /tmp/got ] && break; sleep 0.1; done; cat /tmp/got")
        check(out.strip() == nonce, "line written to stdin reached the guest console shell")


@scenario
def poweroff(vmm, assets):
    with Guest(vmm) as g:
        g.send("poweroff -f")
        t0 = time.monotonic()
        st = g.wait_exit(5)
        check(st == 0, "VMM exited with 0 within 5 s of poweroff -f (status %s after %.2f s)"
              % (st, time.monotonic() - t0))


@scenario
def reboot(vmm, assets):
    with Guest(vmm) as g:
        g.send("reboot -f")
        t0 = time.monotonic()
        st = g.wait_exit(5)
        check(st == 0, "VMM exited with 0 within 5 s of reboot -f (status %s after %.2f s)"
              % (st, time.monotonic() - t0))


@scenario
def clock(vmm, assets):
    with Guest(vmm) as g:
        guest_now = int(g.run_ok("date +%s").strip())
        host_now = time.time()
        check(abs(guest_now - host_now) <= 2, "guest clock %d within 2 s of host %.1f" % (guest_now, host_now))


@scenario
def mem_64(vmm, assets):
    # 64 MiB needs the tiny kernel (tools/build-tiny-kernel, everything built
    # in): Debian's cloud kernel cannot even unpack itself there (mem_96).
    kernel = assets.get("TINY_KERNEL_BZIMAGE")
    if not kernel or not os.path.exists(kernel):
        raise GuestError("no tiny kernel (TINY_KERNEL_BZIMAGE=%r): run tools/fetch-assets" % kernel)
    with Guest(vmm, kernel=kernel, mem=64) as g:
        print("booted to user space in %.2f s" % g.boot_seconds, flush=True)
        rel = g.run_ok("uname -r").strip()
        check(rel.endswith("-crosvm-tiny"), "guest runs the tiny kernel (uname -r: %s)" % rel)
        kib = int(g.run_ok("grep MemTotal /proc/meminfo").split()[1])
        check(kib <= 64 * 1024, "MemTotal %d KiB <= 64 MiB" % kib)
        g.send("poweroff -f")
        t0 = time.monotonic()
        st = g.wait_exit(5)
        check(st == 0, "VMM exited with 0 within 5 s of poweroff -f (status %s after %.2f s)"
              % (st, time.monotonic() - t0))


# Virtio device scenarios live in their own module and register here.
import virtio_scenarios  # noqa: E402
virtio_scenarios.register(scenario, check)
import control_scenarios  # noqa: E402
control_scenarios.register(scenario, check)
import sandbox_scenarios  # noqa: E402
sandbox_scenarios.register(scenario, check)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmm", default=os.environ.get("E2E_VMM", "crosvm"),
                    choices=["crosvm", "qemu", "qemu-pc"])
    ap.add_argument("--crosvm", default=os.environ.get("CROSVM"))
    ap.add_argument("--in-process", action="store_true",
                    help="run crosvm with --disable-sandbox (every device in its main process)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    if a.list:
        print("\n".join(SCENARIOS))
        return 0
    names = list(SCENARIOS) if a.names in ([], ["all"]) else a.names
    for n in names:
        if n not in SCENARIOS:
            ap.error("unknown scenario %s" % n)
    if not os.path.exists("/dev/kvm"):
        print("FAIL: no /dev/kvm here (run inside tools/testhost)")
        return 1
    if a.vmm == "crosvm":
        if not a.crosvm or not os.access(a.crosvm, os.X_OK):
            print("FAIL: crosvm binary %s is missing" % a.crosvm)
            return 1
        vmm = G.CrosvmVmm(a.crosvm, ["--disable-sandbox"] if a.in_process else [])
    else:
        vmm = G.QemuVmm("microvm" if a.vmm == "qemu" else "pc")
    assets = G.load_assets()
    failed = []
    for n in names:
        print("=== %s (%s)" % (n, vmm.name), flush=True)
        t0 = time.monotonic()
        try:
            SCENARIOS[n](vmm, assets)
            print("=== %s: PASS (%.1f s)" % (n, time.monotonic() - t0), flush=True)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            print("=== %s: FAIL (%.1f s)" % (n, time.monotonic() - t0), flush=True)
            failed.append(n)
    if len(names) > 1:
        print("%d passed, %d failed" % (len(names) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
