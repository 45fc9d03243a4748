#!/bin/sh
# Benchmark mkdeb against dpkg-deb on a real virtualenv staging tree.
#
#   crates/mkdeb/bench/run.sh                 # build the tree if missing, then time gzip, xz, zstd
#   MKDEB=path/to/mkdeb crates/mkdeb/bench/run.sh
#   RUNS=3 FORMATS="gzip xz" crates/mkdeb/bench/run.sh
#
# The tree (Django plus a few common pure and compiled packages from PyPI,
# about 10,000 files, 115 MB) is cached in ${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/bench-venv
# and rebuilt when missing. Each format is built with both tools at the same
# level (dpkg-deb's default), best wall time of $RUNS alternated runs, warm
# page cache, same SOURCE_DATE_EPOCH; the script prints mkdeb/dpkg-deb time
# and size ratios. The tree carries DEBIAN/md5sums as dh_md5sums writes it,
# so both packages hold the same files (mkdeb regenerates md5sums).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}
tree=$cache/bench-venv
runs=${RUNS:-3}
formats=${FORMATS:-gzip xz zstd}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

if [ -z "${MKDEB:-}" ]; then
    (cd "$repo" && cargo build --release -p mkdeb >&2)
    MKDEB=${CARGO_TARGET_DIR:-$repo/target}/release/mkdeb
fi

# The staging tree: /opt/venvs/debpipe-bench (a venv) + DEBIAN/control.
if [ ! -f "$tree/DEBIAN/control" ]; then
    echo "bench: building the venv tree in $tree (needs PyPI)" >&2
    rm -rf "$tree.tmp"
    mkdir -p "$tree.tmp/opt/venvs" "$tree.tmp/DEBIAN"
    venv=$tree.tmp/opt/venvs/debpipe-bench
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
        'Django>=5,<6' djangorestframework celery redis requests \
        'psycopg[binary]' pillow PyYAML gunicorn SQLAlchemy pydantic Jinja2 >&2
    find "$venv" -name __pycache__ -type d -prune -exec rm -rf {} +
    cat > "$tree.tmp/DEBIAN/control" <<CTL
Package: debpipe-bench
Version: 1.0-1
Architecture: amd64
Maintainer: debpipe <debpipe@example.invalid>
Description: benchmark virtualenv for mkdeb
 Django and friends in a virtualenv.
CTL
    chmod 0755 "$tree.tmp/DEBIAN"
    mv "$tree.tmp" "$tree"
fi

# dh_md5sums' output, so that dpkg-deb's package holds the same md5sums
# that mkdeb generates (mkdeb regenerates it): sizes compare like for like.
if [ ! -f "$tree/DEBIAN/md5sums" ]; then
    (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
        LC_ALL=C sort -z | xargs -0 md5sum) > "$tree/DEBIAN/md5sums.tmp"
    mv "$tree/DEBIAN/md5sums.tmp" "$tree/DEBIAN/md5sums"
fi

files=$(find "$tree" -path "$tree/DEBIAN" -prune -o -print | wc -l)
mb=$(du -sm --apparent-size "$tree" | cut -f1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
find "$tree" -type f -exec cat {} + >/dev/null   # warm the page cache

# time_of CMD...: wall time of one run, in seconds.
time_of() {
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# min A B
min() {
    if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi
}

echo "tree: $tree ($files entries, $mb MB), $(nproc) cores, best of $runs"
printf '%-6s %5s %10s %10s %7s %12s %12s %7s\n' format level dpkg-deb/s mkdeb/s ratio dpkg-deb/B mkdeb/B size
for fmt in $formats; do
    case $fmt in gzip) lvl=9 ;; xz) lvl=6 ;; zstd) lvl=3 ;; *) lvl=0 ;; esac
    # Alternate the two tools so that load from elsewhere hits both alike.
    td=
    tm=
    i=0
    while [ "$i" -lt "$runs" ]; do
        td=$(min "$td" "$(time_of dpkg-deb --root-owner-group "-Z$fmt" "-z$lvl" --build "$tree" "$out/dpkg.deb")")
        tm=$(min "$tm" "$(time_of "$MKDEB" "-Z$fmt" "-z$lvl" "$tree" "$out/mkdeb.deb")")
        i=$((i + 1))
    done
    sd=$(stat -c %s "$out/dpkg.deb")
    sm=$(stat -c %s "$out/mkdeb.deb")
    printf '%-6s %5s %10.2f %10.2f %7.3f %12s %12s %7.4f\n' "$fmt" "$lvl" "$td" "$tm" \
        "$(echo "$tm / $td" | bc -l)" "$sd" "$sm" "$(echo "$sm / $sd" | bc -l)"
done
