"""End-to-end scenarios for the control socket (issue 5): `crosvm run -s`
and the client subcommands. Registered into scenarios.py's table."""

import json
import re
import os
import subprocess
import tempfile
import time

from guest import Guest


def register(scenario, check):
    def control(vmm, *args, timeout=30):
        """Runs a crosvm client subcommand (the same binary as the VMM)."""
        return subprocess.run([vmm.binary] + list(args), capture_output=True, text=True, timeout=timeout)

    def socket_in(d):
        names = [n for n in os.listdir(d) if n.endswith(".sock")]
        check(len(names) == 1, "crosvm made one socket in the -s directory (%s)" % names)
        return os.path.join(d, names[0])

    def mem_kib(g, field):
        for line in g.run_ok("cat /proc/meminfo").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError("no %s in /proc/meminfo" % field)

    @scenario
    def control_stop(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        with Guest(vmm, extra_args=["-s", d]) as g:
            sock = socket_in(d)
            mode = os.stat(sock).st_mode & 0o777
            check(mode == 0o600, "the socket is only for its owner (mode %o)" % mode)
            t0 = time.monotonic()
            r = control(vmm, "stop", sock)
            check(r.returncode == 0, "crosvm stop exits 0 (%r)" % r.stderr.strip())
            rc = g.wait_exit(2)
            check(rc == 0, "crosvm run exits 0 within 2 s of stop (status %s, %.2f s)" % (rc, time.monotonic() - t0))
            check(not os.path.exists(sock), "the socket file is gone")
        r = control(vmm, "stop", sock)
        check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "no such socket" in r.stderr,
              "stopping a VM that is gone: one line, non-zero (%r)" % r.stderr.strip())

    @scenario
    def control_balloon(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        with Guest(vmm, mem=512, extra_args=["-s", d]) as g:
            sock = socket_in(d)
            before = mem_kib(g, "MemAvailable")
            r = control(vmm, "balloon", str(128 << 20), sock)
            check(r.returncode == 0, "crosvm balloon 128 MiB exits 0 (%r)" % r.stderr.strip())
            # The guest inflates at its own pace (tens of seconds on a busy
            # test host): wait until it reports the whole balloon, then
            # look at what that cost it.
            deadline = time.monotonic() + 240
            while True:
                r = control(vmm, "balloon_stats", sock)
                if r.returncode != 0:
                    check(False, "crosvm balloon_stats exits 0 (%r)" % r.stderr.strip())
                st = json.loads(r.stdout)["BalloonStats"]
                if st["balloon_actual"] == 128 << 20 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            check(st["balloon_actual"] == 128 << 20, "the guest reports the balloon at 128 MiB (%s)" % st["balloon_actual"])
            now = mem_kib(g, "MemAvailable")
            check(120 * 1024 <= before - now <= 140 * 1024,
                  "MemAvailable drops by about 128 MiB (%d -> %d KiB)" % (before, now))
            check((st["stats"]["total_memory"] or 0) > 400 << 20, "stats carry the guest's total memory (%s)"
                  % st["stats"]["total_memory"])
            r = control(vmm, "balloon", "0", sock)
            check(r.returncode == 0, "crosvm balloon 0 exits 0")
            deadline = time.monotonic() + 240
            while True:
                back = mem_kib(g, "MemAvailable")
                if back >= before - 16 * 1024 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            check(back >= before - 16 * 1024, "deflating gives the memory back (%d -> %d KiB)" % (before, back))

    def last_tick(g):
        ticks = [int(w) for w in re.findall(r"tick (\d+)", g.console_text())]
        return ticks[-1] if ticks else 0

    @scenario
    def control_suspend_resume(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        with Guest(vmm, extra_args=["-s", d]) as g:
            sock = socket_in(d)
            # A counter on the console every 100 ms, from the guest's user space.
            g.run_ok("(i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done) >/dev/ttyS0 2>&1 &")
            deadline = time.monotonic() + 30
            while last_tick(g) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            check(last_tick(g) >= 5, "the guest's counter runs (%d)" % last_tick(g))
            r = control(vmm, "suspend", sock)
            check(r.returncode == 0, "crosvm suspend exits 0 (%r)" % r.stderr.strip())
            time.sleep(0.5)  # output already in flight reaches the console file
            frozen = last_tick(g)
            time.sleep(2)
            check(last_tick(g) == frozen, "suspended: the counter stops (%d -> %d)" % (frozen, last_tick(g)))
            r = control(vmm, "suspend", sock)
            check(r.returncode == 0, "suspending twice is harmless (%r)" % r.stderr.strip())
            r = control(vmm, "resume", sock)
            check(r.returncode == 0, "crosvm resume exits 0 (%r)" % r.stderr.strip())
            deadline = time.monotonic() + 10
            while last_tick(g) <= frozen + 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            check(last_tick(g) > frozen + 5, "resumed: the counter advances again (%d -> %d)" % (frozen, last_tick(g)))
            check(g.run_ok("echo alive").strip() == "alive", "the guest answers after resume")
            r = control(vmm, "make_rt", sock)
            check(r.returncode != 0 and "--rt-cpus" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
                  "make_rt without --rt-cpus is refused in one line (%r)" % r.stderr.strip())
            # stop works on a suspended VM too
            check(control(vmm, "suspend", sock).returncode == 0, "suspend again")
            r = control(vmm, "stop", sock)
            check(r.returncode == 0, "crosvm stop of a suspended VM exits 0 (%r)" % r.stderr.strip())
            rc = g.wait_exit(2)
            check(rc == 0, "crosvm run exits 0 within 2 s of stopping it suspended (status %s)" % rc)

    def vcpu_policies(pid):
        """{thread name: scheduling policy} of crosvm's vCPU threads."""
        out = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            if name.startswith("crosvm_vcpu"):
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    stat = f.read()
                # Fields after the ")" that closes comm: policy is field 41.
                out[name] = int(stat[stat.rindex(")") + 2:].split()[41 - 3])
        return out

    SCHED_OTHER, SCHED_RR = 0, 2

    @scenario
    def control_make_rt(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        # vCPU 1 only: a real-time vCPU 0 (the one that runs the boot) could
        # starve the test host's other work while the guest boots.
        with Guest(vmm, cpus=2, extra_args=["-s", d, "--rt-cpus", "1", "--delay-rt"]) as g:
            sock = socket_in(d)
            pol = vcpu_policies(g.proc.pid)
            check(pol == {"crosvm_vcpu0": SCHED_OTHER, "crosvm_vcpu1": SCHED_OTHER},
                  "with --delay-rt the vCPUs start as ordinary threads (%s)" % pol)
            r = control(vmm, "make_rt", sock)
            check(r.returncode == 0, "crosvm make_rt exits 0 (%r)" % r.stderr.strip())
            pol = vcpu_policies(g.proc.pid)
            check(pol == {"crosvm_vcpu0": SCHED_OTHER, "crosvm_vcpu1": SCHED_RR},
                  "make_rt moves the --rt-cpus vCPU to SCHED_RR (%s)" % pol)
            check(g.run_ok("echo alive").strip() == "alive", "the guest runs on")
            check(control(vmm, "stop", sock).returncode == 0, "stop")
            check(g.wait_exit(5) == 0, "crosvm exits 0")
        # Without --delay-rt vCPU 1 is real-time from the start. Checked as
        # soon as the threads exist, before the guest wakes vCPU 1: a
        # real-time vCPU spinning through the kernel's CPU bring-up starves
        # a one-CPU test host (real-time vCPUs want dedicated host CPUs).
        with Guest(vmm, cpus=2, extra_args=["--rt-cpus", "1"], wait_ready=False) as g:
            deadline = time.monotonic() + 30
            pol = {}
            while pol.get("crosvm_vcpu1") != SCHED_RR and time.monotonic() < deadline and g.proc.poll() is None:
                try:
                    pol = vcpu_policies(g.proc.pid)
                except FileNotFoundError:  # a thread came or went mid-scan
                    pass
                time.sleep(0.01)
            check(pol == {"crosvm_vcpu0": SCHED_OTHER, "crosvm_vcpu1": SCHED_RR},
                  "without --delay-rt the --rt-cpus vCPU is real-time from the start (%s)" % pol)
            g.kill()

    @scenario
    def control_disk_resize(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        rw, ro = os.path.join(d, "rw.img"), os.path.join(d, "ro.img")
        for p in (rw, ro):
            with open(p, "wb") as f:
                f.truncate(64 << 20)
        with Guest(vmm, extra_args=["-s", d, "--rwdisk", rw, "-d", ro]) as g:
            sock = socket_in(d)
            size = lambda: int(g.run_ok("cat /sys/block/vda/size").strip())
            check(size() == 64 << 11, "the guest sees 64 MiB (%d sectors)" % size())
            r = control(vmm, "disk", "resize", "0", str(128 << 20), sock)
            check(r.returncode == 0, "crosvm disk resize 0 128 MiB exits 0 (%r)" % r.stderr.strip())
            deadline = time.monotonic() + 15
            while size() != 128 << 11 and time.monotonic() < deadline:
                time.sleep(0.2)
            check(size() == 128 << 11, "the guest sees 128 MiB without a reboot (%d sectors)" % size())
            check(os.path.getsize(rw) == 128 << 20, "the image file grew (%d)" % os.path.getsize(rw))
            g.run_ok("dd if=/dev/zero of=/dev/vda bs=512 seek=%d count=1 conv=fsync 2>&1" % ((128 << 11) - 1))
            g.run_ok("dd if=/dev/vda of=/dev/null bs=512 skip=%d count=1 2>&1" % ((128 << 11) - 1))
            r = control(vmm, "disk", "resize", "1", str(128 << 20), sock)
            check(r.returncode != 0 and "read-only" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
                  "resizing the read-only disk is refused in one line (%r)" % r.stderr.strip())
            check(os.path.getsize(ro) == 64 << 20, "the read-only image is untouched")
            r = control(vmm, "disk", "resize", "7", str(128 << 20), sock)
            check(r.returncode != 0 and "no such disk" in r.stderr, "a disk index that does not exist is refused (%r)"
                  % r.stderr.strip())
            check(g.run_ok("cat /sys/block/vdb/size").strip() == str(64 << 11), "the guest's vdb is unchanged")

    @scenario
    def control_c_library(vmm, assets):
        """A C program built against the installed header and pkg-config
        file stops a VM (tests/install/check-install does the install and
        the build)."""
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(vmm.binary))))
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "install", "check-install")
        d = tempfile.mkdtemp(prefix="e2e-ctl.")
        with Guest(vmm, extra_args=["-s", d]) as g:
            sock = socket_in(d)
            r = subprocess.run([script, build_dir, sock], capture_output=True, text=True, timeout=300)
            check(r.returncode == 0, "check-install built stop_vm and it stopped the VM (%s)"
                  % (r.stdout + r.stderr).strip()[-800:])
            rc = g.wait_exit(5)
            check(rc == 0, "crosvm run exits 0 after the C program's stop (status %s)" % rc)
            check(not os.path.exists(sock), "the socket file is gone")
