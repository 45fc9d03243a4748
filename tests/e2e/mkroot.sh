#!/bin/bash
# mkroot.sh DIR [DIST]: lay a fresh Debian minbase root of DIST (a codename
# of releases.tsv; default: this machine's release) in DIR.
#
# The root is made once with `debootstrap --variant=minbase DIST` from the
# mirror that this machine's own apt sources name (scripts/debian-mirror),
# and cached as a tarball:
#   ${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/e2e/DIST-minbase.tar.zst
# Every call extracts a fresh copy of it into DIR (which must be missing or
# empty), so a test never sees what an earlier run left behind.
#
# The copy gets a /usr/sbin/policy-rc.d that allows service actions: a chroot
# has no init system, and invoke-rc.d must be allowed to start the package's
# service. It has no Rust, no pip and no build tools (checked at the end).
#
# Environment:
#   DEBPIPE_CACHE   cache directory (default $HOME/.cache/debpipe)
#   DEBPIPE_MIRROR  Debian mirror URL (default: the one in /etc/apt/sources*)
#   REBUILD=1       rebuild the cached tarball even if it exists
set -euo pipefail

die() { echo "mkroot: error: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: mkroot.sh DIR [DIST]" >&2; exit 2; fi
dir=$1
dist=${2:-$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)}
scripts=$(cd "$(dirname "$0")/../../scripts" && pwd)
"$scripts/release.sh" number "$dist" >/dev/null || exit 1
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mknod, chroot)"

cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/e2e
tarball=$cache/$dist-minbase.tar.zst

build_tarball() {
	local mirror tmp
	mirror=$("$scripts/debian-mirror") || die "no Debian mirror in /etc/apt/sources*; set DEBPIPE_MIRROR"
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	command -v zstd >/dev/null || die "zstd is not installed (apt-get install zstd)"
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the trap must remove this dir
	trap "rm -rf '$tmp'" EXIT
	echo "mkroot: debootstrap --variant=minbase $dist from $mirror (once; cached in $tarball)" >&2
	debootstrap --variant=minbase "$dist" "$tmp/root" "$mirror" >"$tmp/log" 2>&1 \
		|| { tail -n 30 "$tmp/log" >&2; die "debootstrap of $dist from $mirror failed (log above)"; }
	# Nothing of the build host: drop the downloaded .debs and apt lists.
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*_* \
		"$tmp/root/etc/hostname"
	tar --numeric-owner --xattrs -C "$tmp/root" -cf - . | zstd -q -T0 -o "$tmp/root.tar.zst"
	mv "$tmp/root.tar.zst" "$tarball"
	rm -rf "$tmp"
	trap - EXIT
}

if [ ! -s "$tarball" ] || [ "${REBUILD:-0}" = 1 ]; then
	build_tarball
fi

mkdir -p "$dir"
[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
zstd -q -dc "$tarball" | tar --numeric-owner --xattrs -C "$dir" -xpf -

# Allow service actions in the chroot (invoke-rc.d asks policy-rc.d first).
printf '#!/bin/sh\n# debpipe e2e: allow every service action in this chroot.\nexit 0\n' \
	>"$dir/usr/sbin/policy-rc.d"
chmod 0755 "$dir/usr/sbin/policy-rc.d"
# dpkg without fsync per file, as Debian's container images do: the root is
# thrown away after the run, and unpacking the venv's thousands of files
# otherwise waits on the disk.
echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/debpipe-e2e-unsafe-io"
# Name resolution for apt: the chroot shares the host's network.
cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
echo debpipe-e2e >"$dir/etc/hostname"

# A target machine, not a build machine.
for tool in cargo rustc pip pip3 gcc cc make dpkg-dev dpkg-buildpackage; do
	if chroot "$dir" sh -c "command -v $tool" >/dev/null 2>&1; then
		die "the fresh root has $tool: it must have no build tools"
	fi
done
echo "$dir"
