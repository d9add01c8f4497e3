"""The measuring half of bench/net; runs inside the test host (tools/testhost).

Per round, boots the e2e guest under crosvm (`--host_ip --netmask --mac`:
crosvm creates and configures the TAP) and QEMU q35 (`-netdev tap,...,
vhost=off -device virtio-net-pci`; the TAP is configured here once QEMU has
created it), both with the guest tools disk read-only, gives the guest's
NIC its address, starts an iperf3 server on the test host bound to the
TAP's address and runs the iperf3 client in the guest: TCP guest -> host
and, with -R, host -> guest. Every packet stays inside the test host (it
has no network card). Prints each figure, then the medians (min-max) per
VMM and the ratios crosvm / QEMU.
"""

import re
import subprocess
import sys
import time

import iobench as B

HOST_IP, GUEST_IP, MASK, PREFIX = "192.168.222.1", "192.168.222.2", "255.255.255.0", 24
MAC = "02:00:00:be:4c:01"
QEMU_TAP = "benchtap0"
PORT = 5201

FIGURES = [
    ("tx", "TCP guest->host", "Mbit/s", 0),
    ("rx", "TCP host->guest (-R)", "Mbit/s", 0),
]

RECEIVER_RE = re.compile(r"([\d.]+) Mbits/sec\s.*receiver")


def crosvm_net():
    return ["--host_ip", HOST_IP, "--netmask", MASK, "--mac", MAC]


def qemu_net():
    return ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=off" % QEMU_TAP,
            "-device", "virtio-net-pci,netdev=n0,mac=%s" % MAC]


def host_ok(argv):
    rc, out, err = B.host_run(argv)
    if rc != 0:
        raise B.GuestError("%s: exit %s: %s%s" % (" ".join(argv), rc, out, err))
    return out


def tap_of(name):
    """The test host's TAP of NAME's guest, with the host address on it."""
    if name != "crosvm":
        host_ok(["ip", "addr", "add", "%s/%d" % (HOST_IP, PREFIX), "dev", QEMU_TAP])
        host_ok(["ip", "link", "set", QEMU_TAP, "up"])
        return QEMU_TAP
    out = host_ok(["ip", "-o", "-4", "addr", "show", "to", HOST_IP])
    if not out.strip():
        raise B.GuestError("crosvm's TAP does not carry %s" % HOST_IP)
    return out.split()[1]


def iperf_once(g, seconds, reverse):
    cmd = "/mnt/tools/bin/run-iperf3 -c %s -p %d -t %d -i 0 -f m%s" % (
        HOST_IP, PORT, seconds, " -R" if reverse else "")
    out = g.run_ok(cmd, timeout=seconds + 120)
    m = RECEIVER_RE.search(out)
    if not m:
        raise B.GuestError("no iperf3 receiver line in:\n%s" % out)
    return float(m.group(1))


def main():
    ap = B.common_args(__doc__.split("\n\n")[0])
    ap.add_argument("--time", type=int, default=10, help="iperf3 -t, seconds per direction (default 10)")
    ap.add_argument("--warmup", type=int, default=2,
                    help="seconds of unmeasured iperf3 guest->host after each boot (default 2; 0: none)")
    a = ap.parse_args()
    b = B.Bench(a, FIGURES)
    disks = [B.Disk(a.tools, False, "tools")]
    lines = ["net:      guest %s/%d (MAC %s), test host TAP %s/%d; crosvm names its TAP vmtapN, QEMU %s"
             % (GUEST_IP, PREFIX, MAC, HOST_IP, PREFIX, QEMU_TAP),
             "iperf3:   server on the test host (-s -B %s), client in the guest: -c %s -t %d -i 0 [-R], TCP"
             % (HOST_IP, HOST_IP, a.time)]
    vmm = {"crosvm": lambda: B.make_vmm("crosvm", a, disks, crosvm_extra=crosvm_net()),
           "qemu-q35": lambda: B.make_vmm("qemu-q35", a, disks, qemu_extra=qemu_net())}
    for n in b.vmms:
        lines.append(B.argv_line(n, vmm[n](), b))
    b.header(lines)

    def session(n, i, record):
        server = None
        try:
            with b.guest(vmm[n]()) as g:
                B.mount_tools(g)
                tap = tap_of(n)
                dev = g.run_ok("ls /sys/class/net | grep -v '^lo$' | head -n 1").strip()
                g.run_ok("ip addr add %s/%d dev %s && ip link set %s up" % (GUEST_IP, PREFIX, dev, dev))
                g.run_ok("for i in $(seq 30); do ping -c 1 -W 1 %s >/dev/null && exit 0; done; exit 1"
                         % HOST_IP, timeout=90)
                if i == 0:
                    B.cmdline_note(g, n)
                    print("%-9s guest NIC %s, test host TAP %s" % (n, dev, tap), flush=True)
                server = subprocess.Popen(["iperf3", "-s", "-B", HOST_IP, "-p", str(PORT)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
                if a.warmup:
                    iperf_once(g, a.warmup, False)
                record("tx", iperf_once(g, a.time, False))
                record("rx", iperf_once(g, a.time, True))
                B.shutdown(g)
        finally:
            if server is not None:
                server.kill()
                server.wait()

    return b.run(session)


if __name__ == "__main__":
    sys.exit(main())
