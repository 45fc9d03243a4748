#!/bin/sh
# Time pushrepo against a local SeaweedFS (weed mini on free 127.0.0.1
# ports): publishing one package into a repository that already holds 1,200
# packages (the held index is read, merged and rewritten, with by-hash
# copies, Release and InRelease signed), and re-publishing it unchanged.
#
#   crates/pushrepo/bench/run.sh          # RUNS=5 by default
#   RUNS=9 N=1200 crates/pushrepo/bench/run.sh
#
# The 1,200 packages are small .debs built here with dpkg-deb, with
# stanzas of a real package's size (Depends, a long Description), so the
# index is ~1 MB as for 1,200 real packages. weed comes from
# scripts/install-deps (${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/tools-venv),
# $WEED or PATH. Needs dpkg-deb, gpg, curl, python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}
runs=${RUNS:-5}
n=${N:-1200}
weed=${WEED:-$cache/tools-venv/bin/weed}
[ -x "$weed" ] || weed=$(command -v weed) || {
    echo "run.sh: weed not found: run scripts/install-deps" >&2
    exit 1
}

target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p pushrepo)
bin=$target/release/pushrepo

work=$(mktemp -d)
pid=
gpghome=$work/g
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    gpgconf --homedir "$gpghome" --kill all 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Free ports, and weed mini on them with one identity that may write.
# shellcheck disable=SC2046 # twelve port numbers, split on purpose
set -- $(python3 -c '
import socket
ss=[socket.socket() for _ in range(12)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
s3=$1
cat >"$work/s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"bench-secret"}],"actions":["Admin","Read","Write","List"]},{"name":"anonymous","actions":["Read"]}]}
JSON
mkdir -p "$work/data"
"$weed" mini -dir="$work/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$work/s3.json" \
    -bucket=repo -admin.ui=false -webdav=false -s3.port="$1" -master.port="$2" \
    -master.port.grpc="$3" -volume.port="$4" -volume.port.grpc="$5" -filer.port="$6" \
    -filer.port.grpc="$7" -s3.port.grpc="$8" -s3.port.iceberg="$9" -s3.port.lance="${10}" \
    -admin.port="${11}" -admin.port.grpc="${12}" >"$work/weed.log" 2>&1 &
pid=$!
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/repo/none")" = 404 ]; do
    i=$((i + 1))
    [ $i -lt 120 ] || { echo "run.sh: weed did not start; $work/weed.log:" >&2; tail "$work/weed.log" >&2; exit 1; }
    sleep 0.5
done

mkdir -p "$gpghome" && chmod 700 "$gpghome"
gpg --homedir "$gpghome" --batch --quiet --passphrase '' --quick-gen-key 'bench <bench@example.invalid>' ed25519 sign never 2>/dev/null
export GNUPGHOME="$gpghome" AWS_ENDPOINT_URL="http://127.0.0.1:$s3" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret

# deb NAME VERSION: a small package with a real-sized stanza.
deb() {
    d=$work/tree/$1
    mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$1"
    echo "$1 $2" >"$d/usr/share/doc/$1/README"
    cat >"$d/DEBIAN/control" <<CTL
Package: $1
Version: $2
Architecture: amd64
Maintainer: Bench Maintainers <bench@example.invalid>
Installed-Size: 1234
Depends: libc6 (>= 2.34), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0), python3 (>= 3.11~), adduser
Section: misc
Priority: optional
Homepage: https://example.invalid/$1
Description: benchmark package $1 for pushrepo
 This package exists to give the repository index the size of a real one:
 Debian's stanzas are 600 to 1,000 bytes, most of it the long description,
 the dependencies and the checksums that scanpkgs and pushrepo add.
 .
 It installs a single README.
CTL
    dpkg-deb -Zgzip --root-owner-group --build "$d" "$work/debs/$1_$2_amd64.deb" >/dev/null
    rm -rf "$d"
}

mkdir -p "$work/debs" "$work/new"
echo "building $n packages ..." >&2
i=0
while [ $i -lt "$n" ]; do
    deb "pkg$i" "1.$i-1"
    i=$((i + 1))
done
i=1
while [ $i -le "$runs" ]; do
    deb "new$i" "2.0-$i"
    mv "$work/debs/new${i}_2.0-${i}_amd64.deb" "$work/new/"
    i=$((i + 1))
done

# ms CMD...: wall time of CMD in milliseconds; its stderr to $work/last.
ms() {
    t0=$(date +%s%N)
    "$@" >/dev/null 2>"$work/last" || { cat "$work/last" >&2; exit 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
url=s3://repo/bench
flags="--dist bench --sign-key bench@example.invalid"
# shellcheck disable=SC2086
seed=$(ms "$bin" $flags "$url" "$work"/debs/*.deb)
echo "seeded $n packages in $seed ms: $(cat "$work/last")" >&2
size=$(curl -s "http://127.0.0.1:$s3/repo/bench/dists/bench/main/binary-amd64/Packages" | wc -c)

one=""
same=""
i=1
while [ $i -le "$runs" ]; do
    # shellcheck disable=SC2086
    one="$one $(ms "$bin" $flags "$url" "$work/new/new${i}_2.0-${i}_amd64.deb")"
    grep -q "published 1 new" "$work/last" || { cat "$work/last" >&2; exit 1; }
    # shellcheck disable=SC2086
    same="$same $(ms "$bin" $flags "$url" "$work/new/new${i}_2.0-${i}_amd64.deb")"
    grep -q "nothing written" "$work/last" || { cat "$work/last" >&2; exit 1; }
    i=$((i + 1))
done

stats() { echo "$@" | tr ' ' '\n' | sort -n | awk 'NF{a[n++]=$1} END{printf "best %d ms, median %d ms (%d runs)", a[0], a[int((n-1)/2)], n}'; }
echo "index: $n+ packages, Packages $size bytes"
echo "publish one package into it (signed): $(stats "$one")"
echo "unchanged re-publish:                 $(stats "$same")"
