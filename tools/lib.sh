# Shared shell helpers for tools/*: logging, the asset cache location,
# installing missing host tools through apt, and deciding whether this
# machine's /dev/kvm can boot a stock Linux kernel directly.
# Source it from bash:  . "$(dirname "$0")/lib.sh"

TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The git top-level of the source tree (tools/ lives directly below it).
SRC_ROOT=$(cd "$TOOLS_DIR/.." && pwd)
CROSVM_CACHE=${CROSVM_CACHE:-/var/cache/crosvm-c}
# Debian's python, not a pyenv shim: it is what the test host sees through
# its 9p view of the host's root file system.
PYTHON3=/usr/bin/python3

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

_apt_updated=0
apt_update_once() {
	if [ "$_apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get update -qq >&2 || die "apt-get update failed"
		_apt_updated=1
	fi
}

# ensure_packages PKG...: install the Debian packages that are not installed
# yet; apt-get update runs only when something has to be installed.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	apt_update_once
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# ensure_host_tools: the programs the tools and tests run on this machine.
# Checked by command first so that a tool installed some other way counts.
ensure_host_tools() {
	local need=()
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	command -v lz4 >/dev/null || need+=(lz4)
	command -v cpio >/dev/null || need+=(cpio)
	command -v xz >/dev/null || need+=(xz-utils)
	[ -x "$PYTHON3" ] || need+=(python3)
	command -v flock >/dev/null || need+=(util-linux)
	[ ${#need[@]} = 0 ] && return 0
	ensure_packages "${need[@]}"
}

# kvm_can_boot_linux [-v]: exit status 0 when /dev/kvm is hardware-backed
# (kvm_intel / kvm_amd) and can run a stock Linux kernel; 1 when it is
# missing or is the paravirtual nested kvm_pvm, whose instruction emulator
# cannot get a stock kernel to user space. With -v, says why on stderr.
kvm_can_boot_linux() {
	local verbose=0 why= rc=1
	[ "${1:-}" = -v ] && verbose=1
	if [ ! -c /dev/kvm ]; then
		why="/dev/kvm is missing"
	elif ! { : <>/dev/kvm; } 2>/dev/null; then
		why="/dev/kvm cannot be opened read-write"
	elif [ -d /sys/module/kvm_pvm ]; then
		why="/dev/kvm is the paravirtual nested kvm_pvm (kernel-mode guest code is emulated)"
	elif [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
		why="/dev/kvm is hardware-backed ($(cd /sys/module && ls -d kvm_intel kvm_amd 2>/dev/null | tr '\n' ' ' | sed 's/ $//'))"
		rc=0
	elif grep -qwE 'vmx|svm' /proc/cpuinfo 2>/dev/null; then
		why="/dev/kvm is present and the CPU has vmx/svm"
		rc=0
	else
		why="/dev/kvm is present but no hardware virtualisation module or CPU flag was found"
	fi
	[ "$verbose" = 1 ] && printf 'kvm-can-boot-linux: %s: %s\n' \
		"$([ $rc = 0 ] && echo yes || echo no)" "$why" >&2
	return $rc
}

# assets_env: make sure the cached assets exist and load their paths
# (KERNEL_BZIMAGE, KERNEL_VMLINUX, GUEST_INITRD, TESTHOST_* ...).
assets_env() {
	"$TOOLS_DIR/fetch-assets" >/dev/null || die "tools/fetch-assets failed"
	# shellcheck disable=SC1091
	. "$CROSVM_CACHE/assets.env"
}

# resolve_modules MODDIR NAME...: print, one per line and in load order
# (dependencies first), the paths relative to MODDIR of the .ko files needed
# for the named modules. Names built into the kernel (modules.builtin) and
# names the package does not have are skipped silently. Dependencies come
# from each module's .modinfo "depends=" entry (what `modinfo -F depends`
# prints), read directly so that kmod need not be installed.
resolve_modules() {
	local moddir=$1; shift
	local -A path_of=() builtin=() seen=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}; n=${n%%.ko*}; n=${n//-/_}
		path_of[$n]=$f
	done < <(cd "$moddir" && find . -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' | sed 's|^\./||')
	if [ -f "$moddir/modules.builtin" ]; then
		while IFS= read -r f; do
			n=${f##*/}; n=${n%.ko}; builtin[${n//-/_}]=1
		done <"$moddir/modules.builtin"
	fi
	_visit() {
		local m=${1//-/_} deps d
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		[ -n "${builtin[$m]:-}" ] && return 0
		[ -n "${path_of[$m]:-}" ] || return 0
		deps=$(ko_cat "$moddir/${path_of[$m]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1)
		for d in ${deps//,/ }; do _visit "$d"; done
		echo "${path_of[$m]}"
	}
	for n in "$@"; do _visit "$n"; done
	unset -f _visit
}

# ko_cat FILE: a module's contents, decompressed if it is .ko.xz/.zst/.gz.
ko_cat() {
	case "$1" in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# cpio_pack DIR OUT: pack DIR as a gzip'ed newc initramfs, atomically.
cpio_pack() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
		gzip -6 >"$2.tmp"
	mv "$2.tmp" "$2"
}
