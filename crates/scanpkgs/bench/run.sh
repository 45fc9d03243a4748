#!/bin/sh
# Benchmark scanpkgs against dpkg-scanpackages and apt-ftparchive on ~1,200
# real Debian packages (~85 MB), all measured in this run, and print ratios.
#
#   crates/scanpkgs/bench/run.sh            # RUNS=5 DPKG_RUNS=1 by default
#   RUNS=9 DPKG_RUNS=3 crates/scanpkgs/bench/run.sh
#
# The package list is bench/packages.txt (every 41st package of 1-400 KB,
# amd64 or all, from bookworm main, sorted by name). Missing packages are
# fetched with `apt-get download` into ${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/debs.
# "Cold" means no scanpkgs cache; the files themselves are in the page cache
# for every tool (each is read once before timing). "Cached" is a re-index
# with --out-dir and nothing changed. Needs dpkg-dev, apt-utils, python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}
debs=$cache/debs
runs=${RUNS:-5}
dpkg_runs=${DPKG_RUNS:-1}

mkdir -p "$debs"
missing=$(cd "$debs" && while read -r p; do
    [ -z "$p" ] && continue
    set -- "${p}"_*.deb
    [ -e "$1" ] || echo "$p"
done < "$here/packages.txt")
if [ -n "$missing" ]; then
    n=$(echo "$missing" | wc -l)
    echo "fetching $n packages into $debs ..." >&2
    # shellcheck disable=SC2086
    (cd "$debs" && echo "$missing" | xargs -n 200 apt-get download -q >/dev/null) || {
        echo "run.sh: apt-get download failed (try apt-get update)" >&2
        exit 1
    }
fi

target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p scanpkgs)
bin=$target/release/scanpkgs

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
ln -s "$debs" "$work/debs"
cd "$work"
count=$(find -L debs -name '*.deb' | wc -l)
mb=$(du -smL debs | cut -f1)
cat debs/*.deb >/dev/null

# ms CMD...: wall time of one run of CMD in milliseconds (output discarded).
ms() {
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}

# Same output as dpkg-scanpackages, or the figures mean nothing.
dpkg-scanpackages debs >ref.txt 2>/dev/null
"$bin" --no-cache debs >ours.txt 2>/dev/null
cmp -s ref.txt ours.txt || { echo "run.sh: scanpkgs output differs from dpkg-scanpackages" >&2; exit 1; }

# Interleaved, so that load from other processes hits every tool alike.
mkdir repo
"$bin" --out-dir repo --xz debs >/dev/null 2>&1
: >cold.txt
: >aft.txt
: >dsp.txt
: >cached.txt
i=0
while [ "$i" -lt "$runs" ]; do
    ms "$bin" --no-cache debs >>cold.txt
    ms apt-ftparchive packages debs >>aft.txt
    ms "$bin" --out-dir repo --xz debs >>cached.txt
    if [ "$i" -lt "$dpkg_runs" ]; then ms dpkg-scanpackages debs >>dsp.txt; fi
    i=$((i + 1))
done

echo "$count packages, $mb MB, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); $runs runs ($dpkg_runs of dpkg-scanpackages)"
python3 - <<'EOF'
import statistics

runs = {n: [int(x) for x in open(n + ".txt").read().split()] for n in ("cold", "aft", "dsp", "cached")}
for label, pick in (("median", statistics.median_low), ("best", min)):
    cold, aft, dsp, cached = (pick(runs[n]) for n in ("cold", "aft", "dsp", "cached"))
    print(f"{label} of runs:")
    print(f"  scanpkgs (cold, no cache)              {cold:>7} ms")
    print(f"  apt-ftparchive packages                {aft:>7} ms")
    print(f"  dpkg-scanpackages                      {dsp:>7} ms")
    print(f"  scanpkgs --out-dir (cached, no change)  {cached:>7} ms")
    print(f"  scanpkgs / apt-ftparchive    = {cold / aft:.2f}  (target <= 0.50: {'ok' if cold <= aft / 2 else 'MISSED'})")
    print(f"  scanpkgs / dpkg-scanpackages = {cold / dsp:.3f} ({dsp / cold:.0f}x faster)")
    print(f"  cached re-index              = {cached} ms (target < 50: {'ok' if cached < 50 else 'MISSED'})")
EOF
