#!/usr/bin/python3
"""Bad command lines and bad input files: crosvm must refuse them quickly,
with exactly one line on stderr that names the problem, and must not crash.
These need no guest and no test host: they run directly on this machine.

    tests/e2e/cli_errors.py --crosvm build/debug/src/cli/crosvm [CASE...]

Exit status: 0 passed, 1 failed (a missing crosvm binary is a failure).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest as G  # noqa: E402

TIME_LIMIT = 10  # seconds: "within a few seconds", with room for a sanitizer build
CRASH_WORDS = ("Sanitizer", "Segmentation", "Aborted", "core dumped", "panicked", "Assertion")


def cases(tmp, assets):
    """name -> (argv after `crosvm`, words of which the message must
    contain at least one, case-insensitive)."""
    bz = assets["KERNEL_BZIMAGE"]
    text = os.path.join(tmp, "not-a-kernel.txt")
    with open(text, "w") as f:
        f.write("this is not a kernel\n" * 200)
    trunc = os.path.join(tmp, "truncated-bzImage")
    with open(bz, "rb") as src, open(trunc, "wb") as dst:
        dst.write(src.read(1 << 20))
    # Larger than guest memory. -m 128, not 64: Debian's cloud kernel alone
    # needs 67 MiB (16 MiB load address + 51 MiB init_size), so with -m 64
    # the kernel, not the initrd, is what does not fit.
    big = os.path.join(tmp, "initrd-200M")
    with open(big, "wb") as f:
        f.truncate(200 << 20)
    missing = os.path.join(tmp, "no-such-kernel")
    # A socket nobody listens on: what a VM that died leaves behind.
    gone = os.path.join(tmp, "gone.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(gone)
    s.close()
    # Device policy directories: the source tree's with one policy broken.
    def policy_dir(name, extra):
        d = os.path.join(tmp, name)
        shutil.copytree(G.POLICY_DIR, d)
        with open(os.path.join(d, "rng_device.policy"), "a") as f:
            f.write(extra)
        return d
    unknown_sys = policy_dir("pol-unknown", "no_such_syscall: 1\n")
    malformed = policy_dir("pol-malformed", "read 1\n")
    runs = {
        "missing_kernel": ([missing], ["no-such-kernel"]),
        "not_a_kernel": ([text], ["not-a-kernel.txt", "kernel"]),
        "truncated_bzimage": ([trunc], ["truncated-bzImage", "kernel", "truncat", "bzimage"]),
        "initrd_too_big": (["-m", "128", "-i", big, bz], ["initrd"]),
        "mem_zero": (["-m", "0", bz], ["mem", "-m"]),
        "cpus_zero": (["-c", "0", bz], ["cpu", "-c"]),
        "unknown_option": (["--bogus-option", bz], ["--bogus-option", "bogus-option"]),
        "serial_bad_type": (["--serial", "type=bogus", bz], ["bogus", "type"]),
        "serial_bad_num": (["--serial", "type=stdout,num=9", bz], ["num", "9"]),
        "serial_virtio_earlycon": (["--serial", "type=stdout,hardware=virtio-console,earlycon", bz],
                                   ["earlycon"]),
        "disk_missing": (["--rwdisk", missing + ".img", bz], ["no-such-kernel.img"]),
        "net_bad_mac": (["--host_ip", "192.168.222.1", "--netmask", "255.255.255.0", "--mac", "zz", bz],
                        ["--mac"]),
        "net_partial": (["--host_ip", "192.168.222.1", bz], ["together"]),
        "tap_fd_not_open": (["--tap-fd", "99", bz], ["--tap-fd 99"]),
        "cid_reserved": (["--cid", "2", bz], ["--cid"]),
        "vsock_device_missing": (["--cid", "3", "--vhost-vsock-device", missing + "-vsock", bz],
                                 ["no-such-kernel-vsock"]),
        "rt_cpus_bad": (["-c", "2", "--rt-cpus", "2", bz], ["--rt-cpus"]),
        "policy_missing": (["--seccomp-policy-dir", missing + "-policies", bz], ["rng_device.policy"]),
        "policy_unknown_syscall": (["--seccomp-policy-dir", unknown_sys, bz], ["no_such_syscall"]),
        "policy_malformed": (["--seccomp-policy-dir", malformed, bz], ["rng_device.policy:"]),
    }
    # The source tree's device policies, as the e2e tier runs crosvm; the
    # policy cases give their own directory after it (the last one wins).
    table = {name: (["run", "--seccomp-policy-dir", G.POLICY_DIR] + argv, words) for name, (argv, words) in runs.items()}
    # The control-socket clients, with no VM behind the socket.
    table.update({
        "client_no_socket": (["stop", missing + ".sock"], ["no such socket"]),
        "client_not_a_socket": (["suspend", text], ["not a socket"]),
        "client_vm_gone": (["resume", gone], ["gone"]),
        "client_bad_size": (["balloon", "lots", gone], ["SIZE"]),
        "client_disk_usage": (["disk", "grow", "0", "1M", gone], ["usage"]),
        "client_bad_disk_size": (["disk", "resize", "0", "huge", gone], ["NEW_SIZE"]),
        "client_missing_socket_arg": (["make_rt"], ["usage"]),
        "client_bad_usb_id": (["usb", "attach", "1:2:zz:4", "/dev/null", gone], ["BUS_ID"]),
        "unknown_command": (["frobnicate"], ["frobnicate"]),
    })
    return table


def run_case(crosvm, name, argv, words):
    cmd = [crosvm] + argv
    print("=== %s: %s" % (name, " ".join(cmd)), flush=True)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIME_LIMIT, errors="replace", text=True)
    except subprocess.TimeoutExpired:
        print("FAIL: still running after %d s" % TIME_LIMIT)
        return False
    dt = time.monotonic() - t0
    lines = p.stderr.splitlines()
    print("exit %d after %.2f s; stderr: %r" % (p.returncode, dt, p.stderr), flush=True)
    problems = []
    if p.returncode == 0:
        problems.append("exit status 0")
    if p.returncode < 0:
        problems.append("killed by signal %d" % -p.returncode)
    if len(lines) != 1:
        problems.append("%d lines on stderr, want exactly 1" % len(lines))
    if any(w in p.stderr for w in CRASH_WORDS):
        problems.append("stderr looks like a crash")
    if not any(w.lower() in p.stderr.lower() for w in words):
        problems.append("message mentions none of %s" % (words,))
    if problems:
        print("FAIL: " + "; ".join(problems))
        return False
    print("PASS")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crosvm", default=os.environ.get("CROSVM"))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-errors.") as tmp:
        if a.list:
            print("\n".join(cases(tmp, {"KERNEL_BZIMAGE": "/dev/null"})))
            return 0
        if not a.crosvm or not os.access(a.crosvm, os.X_OK):
            print("FAIL: crosvm binary %s is missing" % a.crosvm)
            return 1
        # Make sure the cached kernel exists (quick when it does).
        subprocess.run([os.path.join(G.SRC_ROOT, "tools", "fetch-assets"), "--env"],
                       check=True, stdout=subprocess.DEVNULL)
        table = cases(tmp, G.load_assets())
        names = a.names or list(table)
        failed = [n for n in names if not run_case(a.crosvm, n, *table[n])]
        if len(names) > 1:
            print("%d passed, %d failed" % (len(names) - len(failed), len(failed)))
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
