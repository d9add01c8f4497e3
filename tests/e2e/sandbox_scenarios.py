"""End-to-end scenarios for sandboxed devices (issue 4): the device
processes crosvm spawns, what they can do, and what happens when one dies.
Registered into scenarios.py's table."""

import os
import signal
import tempfile
import time

import guest as G
from guest import Guest


def register(scenario, check):
    def device_pids(crosvm_pid):
        """{pid: name} of crosvm's device processes (its children)."""
        with open("/proc/%d/task/%d/children" % (crosvm_pid, crosvm_pid)) as f:
            pids = [int(p) for p in f.read().split()]
        return pids

    def status(pid):
        out = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
        return out

    def kernel_log_seccomp():
        """The kernel log's seccomp audit records (type=1326)."""
        rc, out, _ = G.host_run(["dmesg"])
        return [l for l in out.splitlines() if "type=1326" in l] if rc == 0 else []

    @scenario
    def sandbox_device_processes(vmm, assets):
        d = tempfile.mkdtemp(prefix="e2e-sbx.")
        img = os.path.join(d, "disk.img")
        with open(img, "wb") as f:
            f.truncate(8 << 20)
        with Guest(vmm, extra_args=["--serial", "type=sink,hardware=virtio-console,num=1", "--rwdisk", img]) as g:
            pids = device_pids(g.proc.pid)
            # virtio-rng, virtio-blk, the virtio-console and the balloon run jailed.
            check(len(pids) == 4, "crosvm runs its 4 devices in child processes (%s)" % pids)
            holders = [p for p in pids if any(os.readlink("/proc/%d/fd/%s" % (p, fd)) == img
                                              for fd in os.listdir("/proc/%d/fd" % p))]
            check(len(holders) == 1, "one device process holds the disk image (%s)" % holders)
            me_pid_ns = os.readlink("/proc/self/ns/pid")
            me_mnt_ns = os.readlink("/proc/self/ns/mnt")
            for pid in pids:
                st = status(pid)
                check(st.get("Seccomp") == "2", "device %d: Seccomp 2 (%s)" % (pid, st.get("Seccomp")))
                check(st.get("NoNewPrivs") == "1", "device %d: NoNewPrivs 1" % pid)
                check(st.get("CapEff") == "0000000000000000", "device %d: no capabilities (%s)" % (pid, st.get("CapEff")))
                root = os.listdir("/proc/%d/root" % pid)
                check(root == [], "device %d: its root holds no host files (%s)" % (pid, root))
                links = [os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
                check(not any("kvm" in l for l in links), "device %d: holds no KVM fd (%s)" % (pid, links))
                check(os.readlink("/proc/%d/ns/pid" % pid) != me_pid_ns, "device %d: own PID namespace" % pid)
                check(os.readlink("/proc/%d/ns/mnt" % pid) != me_mnt_ns, "device %d: own mount namespace" % pid)
            check(g.run_ok("head -c 16 /dev/hwrng | wc -c").strip() == "16", "the jailed rng serves the guest")
            g.run_ok("echo jailed-disk | dd of=/dev/vda bs=512 conv=sync oflag=direct 2>/dev/null", timeout=60)
            with open(img, "rb") as f:
                check(f.read(11) == b"jailed-disk", "the jailed virtio-blk writes the image")
        os.unlink(img)
        os.rmdir(d)

    @scenario
    def sandbox_device_killed(vmm, assets):
        with Guest(vmm) as g:
            pids = device_pids(g.proc.pid)
            check(pids, "a device process runs (%s)" % pids)
            t0 = time.monotonic()
            os.kill(pids[0], signal.SIGKILL)
            rc = g.wait_exit(2)
            dt = time.monotonic() - t0
            check(rc is not None and rc != 0, "crosvm exits non-zero within 2 s of a device's death (%s, %.2f s)" % (rc, dt))
            err = g.stderr_text()
            check("device " in err and "SIGKILL" in err, "crosvm names the device and the signal (%r)" % err.strip()[-300:])

    @scenario
    def sandbox_crosvm_killed(vmm, assets):
        with Guest(vmm) as g:
            pids = device_pids(g.proc.pid)
            check(pids, "device processes run (%s)" % pids)
            os.kill(g.proc.pid, signal.SIGKILL)
            g.proc.wait()
            deadline = time.monotonic() + 5
            alive = pids
            while alive and time.monotonic() < deadline:
                alive = [p for p in pids if os.path.exists("/proc/%d" % p) and status(p).get("State", "")[:1] != "Z"]
                time.sleep(0.1)
            check(not alive, "no device process outlives crosvm (%s)" % alive)

    @scenario
    def sandbox_forbidden_call(vmm, assets):
        os.environ["CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL"] = "rng"
        try:
            g = Guest(vmm, wait_ready=False)
            g.start()
            rc = g.wait_exit(30)
            err = g.stderr_text()
            g.close()
            check(rc is not None and rc != 0, "crosvm stops with a non-zero status (%s)" % rc)
            check("device rng" in err and "openat" in err, "crosvm names the device and the syscall (%r)" % err.strip())
            # The kernel logs an allowed-but-logged call (SECCOMP_RET_LOG) as
            # an audit record of type 1326 naming the syscall (openat: 257).
            seen = set(kernel_log_seccomp())
            with Guest(vmm, extra_args=["--seccomp-log-failures"]) as g:
                check(g.run_ok("head -c 16 /dev/hwrng | wc -c").strip() == "16",
                      "with --seccomp-log-failures the call is allowed and the device lives")
                pid = device_pids(g.proc.pid)
                new = [l for l in kernel_log_seccomp() if l not in seen]
                check(any("syscall=257" in l and any(" pid=%d " % p in l for p in pid) for l in new),
                      "with --seccomp-log-failures the kernel logged the device's call (%s; device pids %s)"
                      % (new[-3:], pid))
        finally:
            del os.environ["CROSVM_TEST_DEVICE_FORBIDDEN_SYSCALL"]
