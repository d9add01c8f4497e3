"""End-to-end scenarios for the virtio devices (issue 3): block, rng, ...
Registered into scenarios.py's table; run like any other scenario."""

import hashlib
import os
import shutil
import subprocess
import tempfile

import guest as G
from guest import Guest, GuestError


def register(scenario, check):
    def disk_image(size_mib, from_rootfs=False):
        """A fresh image in a temp dir: a copy of the guest root file system
        (ext4) or an empty sparse file."""
        d = tempfile.mkdtemp(prefix="e2e-disk.")
        path = os.path.join(d, "disk.img")
        if from_rootfs:
            shutil.copyfile(G.load_assets()["GUEST_ROOTFS"], path)
        else:
            with open(path, "wb") as f:
                f.truncate(size_mib << 20)
        return path

    def debugfs_cat(img, path):
        r = subprocess.run(["debugfs", "-R", "cat " + path, img], capture_output=True, text=True)
        return r.stdout

    @scenario
    def virtio_rng(vmm, assets):
        with Guest(vmm) as g:
            cur = g.run_ok("cat /sys/class/misc/hw_random/rng_current").strip()
            check(cur.startswith("virtio_rng"), "hw_random uses virtio (rng_current: %s)" % cur)
            n = g.run_ok("dd if=/dev/hwrng bs=4096 count=16 2>/dev/null | wc -c").strip()
            check(n == "65536", "64 KiB read from /dev/hwrng (got %s bytes)" % n)
            distinct = int(g.run_ok("dd if=/dev/hwrng bs=4096 count=1 2>/dev/null | od -An -v -tx1 | "
                                    "tr -s ' ' '\\n' | sort -u | wc -l").strip())
            check(distinct > 200, "the bytes look random (%d distinct byte values in 4 KiB)" % distinct)

    @scenario
    def virtio_blk_rwroot(vmm, assets):
        img = disk_image(0, from_rootfs=True)
        nonce = "persist-%s" % os.urandom(4).hex()
        with Guest(vmm, extra_args=["--rwroot", img]) as g:
            root = g.run_ok("awk '$2 == \"/\" {print $1, $4}' /proc/mounts").split()
            check(root[0] == "/dev/vda" and root[1].startswith("rw"), "root is /dev/vda, read-write (%s)" % root)
            g.run_ok("echo %s > /persist.txt && sync" % nonce)
            g.send("poweroff -f")
            check(g.wait_exit(10) == 0, "VMM exited with 0 after poweroff")
        check(debugfs_cat(img, "/persist.txt").strip() == nonce, "the file the guest wrote is in the image")
        with Guest(vmm, extra_args=["--rwroot", img]) as g:
            check(g.run_ok("cat /persist.txt").strip() == nonce, "a second boot sees the file")

    @scenario
    def virtio_blk_root_ro(vmm, assets):
        img = disk_image(0, from_rootfs=True)
        with Guest(vmm, extra_args=["-r", img + ",id=rootdisk-01"]) as g:
            root = g.run_ok("awk '$2 == \"/\" {print $1, $4}' /proc/mounts").split()
            check(root[0] == "/dev/vda" and root[1].startswith("ro"), "root is /dev/vda, read-only (%s)" % root)
            rc, out = g.run("touch /newfile")
            check(rc != 0, "writing to the read-only root fails (%s)" % out.strip())
            ro = g.run_ok("cat /sys/block/vda/ro").strip()
            check(ro == "1", "the guest sees the disk as read-only")
            serial = g.run_ok("cat /sys/block/vda/serial").strip()
            check(serial == "rootdisk-01", "GET_ID returns the id= value (%s)" % serial)
            # Past the file system: the raw device refuses writes too.
            rc, out = g.run("dd if=/dev/zero of=/dev/vda bs=512 count=1 oflag=direct")
            check(rc != 0, "a raw write to the read-only disk fails")

    @scenario
    def virtio_blk_data(vmm, assets):
        img = disk_image(96)
        with Guest(vmm, mem=384, extra_args=["--rwdisk", img]) as g:
            size = int(g.run_ok("cat /sys/block/vda/size").strip())
            check(size == 96 * 2048, "capacity is 96 MiB (%d sectors)" % size)
            g.run_ok("dd if=/dev/urandom of=/tmp/data bs=1M count=64 2>/dev/null", timeout=300)
            g.run_ok("dd if=/tmp/data of=/dev/vda bs=1M oflag=direct 2>/dev/null && sync", timeout=300)
            gsum = g.run_ok("sha256sum /tmp/data", timeout=120).split()[0]
            vsum = g.run_ok("dd if=/dev/vda bs=1M count=64 iflag=direct 2>/dev/null | sha256sum",
                            timeout=300).split()[0]
            check(vsum == gsum, "the guest reads back what it wrote (%s)" % vsum[:16])
            g.send("poweroff -f")
            check(g.wait_exit(10) == 0, "VMM exited with 0 after poweroff")
        with open(img, "rb") as f:
            hsum = hashlib.sha256(f.read(64 << 20)).hexdigest()
        check(hsum == gsum, "the image on the host holds the same 64 MiB (%s)" % hsum[:16])

    @scenario
    def virtio_blk_discard(vmm, assets):
        img = disk_image(64)
        with Guest(vmm, extra_args=["--rwdisk", img + ",sparse=true"]) as g:
            g.run_ok("dd if=/dev/zero bs=1M count=16 2>/dev/null | tr '\\000' 'x' | "
                     "dd of=/dev/vda bs=1M oflag=direct 2>/dev/null; sync", timeout=120)
            before = os.stat(img).st_blocks * 512
            check(before >= 16 << 20, "16 MiB allocated on the host after writing (%d bytes)" % before)
            g.run_ok("blkdiscard /dev/vda")
            g.run_ok("sync")
            after = os.stat(img).st_blocks * 512
            check(after < before - (8 << 20), "blkdiscard freed host blocks (%d -> %d bytes)" % (before, after))

    @scenario
    def virtio_blk_several(vmm, assets):
        imgs = [disk_image(8 * (i + 1)) for i in range(3)]
        args = ["--rwdisk", imgs[0], "-d", imgs[1], "--rwdisk", imgs[2] + ",block_size=4096"]
        with Guest(vmm, extra_args=args) as g:
            sizes = g.run_ok("cat /sys/block/vda/size /sys/block/vdb/size /sys/block/vdc/size").split()
            check(sizes == [str(8 * 2048), str(16 * 2048), str(24 * 2048)], "three disks in order (%s)" % sizes)
            bs = g.run_ok("cat /sys/block/vdc/queue/logical_block_size").strip()
            check(bs == "4096", "block_size=4096 reaches the guest (%s)" % bs)
            rc, _ = g.run("dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct")
            check(rc != 0, "the -d disk refuses writes")
            g.run_ok("echo hello | dd of=/dev/vdc bs=4096 conv=sync oflag=direct 2>/dev/null")
        with open(imgs[2], "rb") as f:
            check(f.read(6) == b"hello\n", "the write to vdc reached the third image")

    _ = GuestError
