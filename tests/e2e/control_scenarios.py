"""End-to-end scenarios for the control socket (issue 5): `crosvm run -s`
and the client subcommands. Registered into scenarios.py's table."""

import json
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
            deadline = time.monotonic() + 60
            while True:
                now = mem_kib(g, "MemAvailable")
                if before - now >= 120 * 1024 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            check(120 * 1024 <= before - now <= 140 * 1024,
                  "MemAvailable drops by about 128 MiB (%d -> %d KiB)" % (before, now))
            r = control(vmm, "balloon_stats", sock)
            check(r.returncode == 0, "crosvm balloon_stats exits 0 (%r)" % r.stderr.strip())
            st = json.loads(r.stdout)["BalloonStats"]
            check(st["balloon_actual"] == 128 << 20, "the guest reports the balloon at 128 MiB (%s)" % st["balloon_actual"])
            check((st["stats"]["total_memory"] or 0) > 400 << 20, "stats carry the guest's total memory (%s)"
                  % st["stats"]["total_memory"])
            r = control(vmm, "balloon", "0", sock)
            check(r.returncode == 0, "crosvm balloon 0 exits 0")
            deadline = time.monotonic() + 60
            while True:
                back = mem_kib(g, "MemAvailable")
                if back >= before - 16 * 1024 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            check(back >= before - 16 * 1024, "deflating gives the memory back (%d -> %d KiB)" % (before, back))
