# bench/iobench.sh: what bench/blk and bench/net share (sourced, not run).
#
#   iobench_main NAME INNER.py ARGS...
#       parses --crosvm PATH and --wait-idle SECS, builds the Release crosvm,
#       installs fio / iperf3 if missing, builds (or reuses) the guest tools
#       disk, prints the header and runs INNER.py in one test host with the
#       remaining ARGS, again on a fresh test host when it dies (status 125).
#
# The guest tools disk: the guest is a busybox initramfs, so fio and iperf3
# travel to it as an ext4 image holding the two binaries, every library
# `ldd` lists for them and the dynamic loader (bin/, lib/), plus run-fio and
# run-iperf3 wrappers that start them through that loader. The guest
# mounts it read-only at /mnt/tools. Cached in $CROSVM_CACHE/bench/, named
# after the fio and iperf3 package versions and a hash of the library set.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$BENCH_DIR/.." && pwd)
. "$SRC_ROOT/tools/lib.sh"

# bench_deps: fio and iperf3 on this machine (bench-only dependencies; the
# guest runs these very binaries from the tools disk).
bench_deps() {
	local need=()
	command -v fio >/dev/null || need+=(fio)
	command -v iperf3 >/dev/null || need+=(iperf3)
	command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
	[ ${#need[@]} = 0 ] && return 0
	apt_update_once
	log "installing ${need[*]} (bench only)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
}

# Bump when the layout of the tools disk changes (invalidates the cache).
TOOLS_LAYOUT=1

# tools_image: prints the path of the guest tools disk, building it first
# when the cached one does not fit the installed fio / iperf3.
tools_image() {
	local fio iperf3 libs key ver out root f size
	fio=$(command -v fio) iperf3=$(command -v iperf3)
	# Every library either binary needs, resolved, plus the loader.
	libs=$(ldd "$fio" "$iperf3" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u)
	[ -n "$libs" ] || die "ldd found no libraries for $fio / $iperf3"
	ver=$(dpkg-query -W -f '${Version}' fio 2>/dev/null || "$fio" --version)
	ver=${ver}-iperf3_$(dpkg-query -W -f '${Version}' iperf3 2>/dev/null || "$iperf3" --version | head -n1)
	key=$( { readlink -f "$fio" "$iperf3"; for f in $libs; do f=$(readlink -f "$f"); echo "$f $(stat -c '%s %Y' "$f")"; done
		echo "layout $TOOLS_LAYOUT"; } | sha256sum | cut -c1-12)
	out="$CROSVM_CACHE/bench/tools-fio_${ver//[^A-Za-z0-9.+_-]/_}-$key.ext4"
	if [ -f "$out" ]; then
		echo "$out"
		return 0
	fi
	log "building the guest tools disk $out"
	mkdir -p "$CROSVM_CACHE/bench"
	root=$(mktemp -d)
	mkdir -p "$root/bin" "$root/lib"
	cp "$(readlink -f "$fio")" "$root/bin/fio"
	cp "$(readlink -f "$iperf3")" "$root/bin/iperf3"
	for f in $libs; do
		# Under the name the binaries ask for (the soname), not the target.
		cp "$(readlink -f "$f")" "$root/lib/${f##*/}"
	done
	[ -f "$root/lib/libaio.so.1" ] || die "fio does not link libaio.so.1: its libaio engine would be missing"
	cat >"$root/bin/run-fio" <<'EOF'
#!/bin/sh
exec /mnt/tools/lib/ld-linux-x86-64.so.2 --library-path /mnt/tools/lib /mnt/tools/bin/fio "$@"
EOF
	cat >"$root/bin/run-iperf3" <<'EOF'
#!/bin/sh
exec /mnt/tools/lib/ld-linux-x86-64.so.2 --library-path /mnt/tools/lib /mnt/tools/bin/iperf3 "$@"
EOF
	chmod 755 "$root/bin/run-fio" "$root/bin/run-iperf3"
	# Size: the files plus a quarter and 8 MiB for the file system itself.
	size=$(du -sm "$root" | cut -f1)
	size=$((size + size / 4 + 8))
	rm -f "$out.tmp"
	mkfs.ext4 -q -F -O ^has_journal -L bench-tools -d "$root" "$out.tmp" "${size}M" >&2 ||
		{ rm -rf "$root"; die "mkfs.ext4 -d failed"; }
	rm -rf "$root"
	mv "$out.tmp" "$out"
	echo "$out"
}

# wait_idle SECS: wait (up to SECS) until no qemu-system process runs here.
wait_idle() {
	local left=$1 n
	while n=$(pgrep -c -f '^(/usr/bin/)?qemu-system-' || true); [ "$n" -gt 0 ]; do
		if [ "$left" -le 0 ]; then
			log "still $n other QEMU process(es) after waiting; measuring anyway"
			return 0
		fi
		[ "$left" = "$1" ] && log "waiting up to $1 s for $n other QEMU process(es) to end"
		sleep 5
		left=$((left - 5))
	done
}

iobench_main() {
	local name=$1 inner=$2; shift 2
	local crosvm='' wait=0 args=() build tools others rc th attempt p
	while [ $# -gt 0 ]; do
		case "$1" in
		--crosvm) crosvm=${2:?--crosvm needs a path}; shift ;;
		--crosvm=*) crosvm=${1#--crosvm=} ;;
		--wait-idle) wait=${2:?--wait-idle needs seconds}; shift ;;
		-h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
			"$PYTHON3" "$inner" --help | sed -n '/^options:/,$p'; exit 0 ;;
		*) args+=("$1") ;;
		esac
		shift
	done

	if [ -z "$crosvm" ]; then
		build="$SRC_ROOT/build/release"
		crosvm="$build/src/cli/crosvm"
		if [ ! -x "$crosvm" ]; then
			log "building a Release crosvm in $build"
			cmake -S "$SRC_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
				-DCROSVM_TESTS=OFF >/dev/null
		fi
		ninja -C "$build" -j 2 >/dev/null || die "building $crosvm failed"
	fi
	[ -x "$crosvm" ] || die "no crosvm at $crosvm"
	crosvm=$(readlink -f "$crosvm")

	ensure_host_tools
	bench_deps
	assets_env
	tools=$(tools_image)
	[ "$wait" -gt 0 ] && wait_idle "$wait"

	others=$(pgrep -c -f '^(/usr/bin/)?qemu-system-' || true)
	echo "bench/$name $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) CPU, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "crosvm:   $crosvm ($("$crosvm" version 2>/dev/null | head -n1 || echo '?'); source tree at $(git -C "$SRC_ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
	echo "tools:    $tools (fio $(dpkg-query -W -f '${Version}' fio 2>/dev/null), iperf3 $(dpkg-query -W -f '${Version}' iperf3 2>/dev/null))"
	[ "$others" -gt 0 ] && echo "warning: $others other QEMU process(es) running on this machine: figures will be noisy"

	# As bench/boot: the test host sometimes dies on its own (exit 125);
	# then the whole measurement runs again on a fresh one.
	local intruders=()
	for attempt in $(seq 1 "${BENCH_ATTEMPTS:-3}"); do
		"$SRC_ROOT/tools/testhost" -- "$PYTHON3" "$inner" \
			--crosvm "$crosvm" --kernel "$KERNEL_BZIMAGE" --initrd "$GUEST_INITRD" \
			--tools "$tools" "${args[@]}" &
		th=$!
		intruders=()
		while kill -0 "$th" 2>/dev/null; do
			for p in $(pgrep -f '^(/usr/bin/)?qemu-system-' || true); do
				[ "$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')" = "$th" ] && continue
				case " ${intruders[*]} " in *" $p "*) ;; *) intruders+=("$p") ;; esac
			done
			sleep 2
		done
		rc=0
		wait "$th" || rc=$?
		[ "$rc" = 125 ] || break
		echo "bench/$name: the test host failed (attempt $attempt of ${BENCH_ATTEMPTS:-3}); figures above are void"
	done
	[ ${#intruders[@]} -gt 0 ] && echo "warning: ${#intruders[@]} other QEMU process(es) ran during the measurement: figures are noisy"
	return "$rc"
}
