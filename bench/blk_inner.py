"""The measuring half of bench/blk; runs inside the test host (tools/testhost).

Creates a raw disk image on the test host's tmpfs (filled with data, so no
read hits a hole), and per round boots the e2e guest under crosvm
(`--rwdisk IMG`; sandboxed, as by default, and with --disable-sandbox) and
QEMU q35 (`-drive file=IMG,if=none,format=raw` +
`-device virtio-blk-pci`), both with the guest tools disk read-only, and
runs fio in the guest on the raw virtio disk (direct=1, libaio,
time_based): 4 KiB random reads at queue depth 1 and 32 (IOPS), 1 MiB
sequential reads and writes (MiB/s); for sandboxed crosvm also what
starting its device processes cost (ms, crosvm's own account). Prints
each, then the medians (min-max) per VMM and the ratios crosvm / QEMU and
sandboxed / in-process.
"""

import os
import re
import sys

import iobench as B

# (key, label, unit, digits) and the fio job of each.
FIGURES = [
    ("randread_qd1", "4k randread QD1", "IOPS", 0),
    ("randread_qd32", "4k randread QD32", "IOPS", 0),
    ("seqread", "1M seqread QD%(qd)d", "MiB/s", 1),
    ("seqwrite", "1M seqwrite QD%(qd)d", "MiB/s", 1),
    # Sandboxed crosvm only: the start-up time its device processes cost
    # (spawn, jail, vhost-user handshake; summed over the devices).
    ("spawn", "device processes start", "ms", 2),
]
SPAWN_LINE = re.compile(r"device \S+: jailed in process \d+, spawned and connected in ([0-9.]+) ms")


def jobs(a):
    return {
        "randread_qd1": "--rw=randread --bs=4k --iodepth=1 --norandommap --randrepeat=0",
        "randread_qd32": "--rw=randread --bs=4k --iodepth=32 --norandommap --randrepeat=0",
        "seqread": "--rw=read --bs=1M --iodepth=%d" % a.seq_qd,
        "seqwrite": "--rw=write --bs=1M --iodepth=%d" % a.seq_qd,
        "spawn": "(crosvm's own account, CROSVM_LOG=info)",
    }


def fio_cmd(dev, job, runtime, ramp):
    return ("/mnt/tools/bin/run-fio --name=bench --filename=/dev/%s --direct=1 --ioengine=libaio "
            "%s --time_based --runtime=%d --ramp_time=%d --output-format=terse --terse-version=3 "
            "--eta=never" % (dev, job, runtime, ramp))


def parse_terse(out, write):
    """(IOPS, KiB/s) from fio's terse v3 line: read bw/IOPS are fields 7/8,
    write bw/IOPS fields 48/49 (1-based)."""
    line = next((l for l in out.splitlines() if l.startswith("3;fio-")), None)
    if line is None:
        raise B.GuestError("no fio terse line in:\n%s" % out)
    f = line.split(";")
    if f[4] != "0":
        raise B.GuestError("fio reported error %s:\n%s" % (f[4], out))
    bw, iops = (f[47], f[48]) if write else (f[6], f[7])
    return float(iops), float(bw)


def make_image(path, mib):
    """A raw image of MIB MiB, every block written (a 4 MiB random pattern,
    repeated), so that tmpfs holds real pages rather than holes."""
    pattern = os.urandom(4 << 20)
    with open(path, "wb") as f:
        for _ in range(mib // 4):
            f.write(pattern)
        f.write(pattern[:(mib % 4) << 20])


def main():
    ap = B.common_args(__doc__.split("\n\n")[0], B.VMM_NAMES + [B.IN_PROCESS])
    ap.add_argument("--runtime", type=int, default=10, help="seconds per fio job (default 10)")
    ap.add_argument("--ramp", type=int, default=1, help="fio ramp_time, seconds before measuring (default 1)")
    ap.add_argument("--size", type=int, default=512, help="disk image MiB (default 512)")
    ap.add_argument("--seq-qd", type=int, default=8, help="queue depth of the 1 MiB jobs (default 8)")
    ap.add_argument("--only", action="append", choices=[k for k, *_ in FIGURES],
                    help="only these figures (repeatable)")
    a = ap.parse_args()
    figures = [(k, l % {"qd": a.seq_qd}, u, d) for k, l, u, d in FIGURES if not a.only or k in a.only]
    b = B.Bench(a, figures)
    os.environ["CROSVM_LOG"] = "info"  # crosvm then says what its device processes cost
    img = os.path.join(b.work, "disk.img")
    make_image(img, a.size)
    disks = [B.Disk(img, True, "d0"), B.Disk(a.tools, False, "tools")]
    job = jobs(a)
    lines = ["disk:     %d MiB raw image on the test host's tmpfs (%s), filled with data"
             % (a.size, os.path.dirname(img)),
             "fio:      direct=1 ioengine=libaio time_based runtime=%d s ramp_time=%d s, on the raw /dev/vdX"
             % (a.runtime, a.ramp)]
    for k, l, _, _ in figures:
        lines.append("  %-22s %s" % (l + ":", job[k]))
    for n in b.vmms:
        lines.append(B.argv_line(n, B.make_vmm(n, a, disks), b))
    b.header(lines)

    def session(n, i, record):
        with b.guest(B.make_vmm(n, a, disks)) as g:
            rw = B.mount_tools(g)
            if len(rw) != 1:
                raise B.GuestError("expected one writable virtio disk, got %s" % rw)
            if i == 0:
                B.cmdline_note(g, n)
                # Once per VMM: the fio binary and its libraries into the
                # guest's page cache, and a look that fio and libaio work.
                g.run_ok(fio_cmd(rw[0], job["randread_qd1"], 1, 0), timeout=300)
            spawns = [float(m) for m in SPAWN_LINE.findall(g.stderr_text())]
            if n == "crosvm" and "spawn" in [k for k, *_ in figures]:
                if not spawns:
                    raise B.GuestError("sandboxed crosvm reported no device process")
                record("spawn", sum(spawns))
            t = 2 * (a.runtime + a.ramp) + 120
            for k, _, _, _ in figures:
                if k == "spawn":
                    continue
                iops, kib = parse_terse(g.run_ok(fio_cmd(rw[0], job[k], a.runtime, a.ramp), timeout=t),
                                        write=k == "seqwrite")
                record(k, iops if k.startswith("randread") else kib / 1024)
            B.shutdown(g)

    return b.run(session)


if __name__ == "__main__":
    sys.exit(main())
