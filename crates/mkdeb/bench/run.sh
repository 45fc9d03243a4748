#!/bin/sh
# Benchmark mkdeb against dpkg-deb on real virtualenv staging trees.
#
#   crates/mkdeb/bench/run.sh                 # build the trees if missing, then time gzip, xz, zstd
#   MKDEB=path/to/mkdeb crates/mkdeb/bench/run.sh
#   RUNS=3 FORMATS="gzip xz" TREES="text" crates/mkdeb/bench/run.sh
#
# Three trees (TREES, default all), each a venv from PyPI cached in
# ${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/bench-<tree> and rebuilt when missing:
#   venv      Django plus a few common pure and compiled packages (about
#             10,000 files, 115 MB): the tree the first figures came from;
#   compiled  numpy, pandas, scipy and Pillow: mostly shared libraries;
#   text      Django, Django REST framework, Sphinx, docutils, Pygments and
#             friends, with Django's documentation (from its sdist): mostly
#             Python, templates, locale and reST text.
# Each format is built with both tools at the same level (dpkg-deb's
# default), alternating the two tools, best wall time of $RUNS runs, warm
# page cache, same SOURCE_DATE_EPOCH; the script prints mkdeb/dpkg-deb time
# and size ratios per tree. Each tree carries DEBIAN/md5sums as dh_md5sums
# writes it, so both packages hold the same files (mkdeb regenerates
# md5sums).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}
runs=${RUNS:-3}
formats=${FORMATS:-gzip xz zstd}
trees=${TREES:-venv compiled text}
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1700000000}"

if [ -z "${MKDEB:-}" ]; then
    (cd "$repo" && cargo build --release -p mkdeb >&2)
    MKDEB=${CARGO_TARGET_DIR:-$repo/target}/release/mkdeb
fi

# The packages of each tree.
packages() {
    case $1 in
        venv) echo "Django>=5,<6 djangorestframework celery redis requests psycopg[binary] pillow PyYAML gunicorn SQLAlchemy pydantic Jinja2" ;;
        compiled) echo "numpy pandas scipy pillow" ;;
        text) echo "Django>=5,<6 djangorestframework django-filter django-extensions Markdown Sphinx docutils Pygments" ;;
        *) echo "bench: unknown tree $1 (venv, compiled, text)" >&2; exit 2 ;;
    esac
}

# build_tree NAME DIR: the staging tree, /opt/venvs/debpipe-bench (a venv)
# + DEBIAN/control, made in DIR.tmp and renamed into place.
build_tree() {
    name=$1 tree=$2
    echo "bench: building the $name tree in $tree (needs PyPI)" >&2
    rm -rf "$tree.tmp"
    mkdir -p "$tree.tmp/opt/venvs" "$tree.tmp/DEBIAN"
    venv=$tree.tmp/opt/venvs/debpipe-bench
    /usr/bin/python3 -m venv "$venv"
    # shellcheck disable=SC2046 # the package list splits on purpose
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir $(packages "$name") >&2
    if [ "$name" = text ]; then
        # Django's own documentation, as a docs package would ship it.
        "$venv/bin/pip" download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
            --no-binary :all: -d "$tree.tmp/sdist" 'Django>=5,<6' >&2
        mkdir -p "$tree.tmp/usr/share/doc/debpipe-bench"
        tar -xzf "$tree.tmp"/sdist/*.tar.gz -C "$tree.tmp/usr/share/doc/debpipe-bench" \
            --strip-components=1 --wildcards '*/docs/*'
        rm -rf "$tree.tmp/sdist"
    fi
    find "$venv" -name __pycache__ -type d -prune -exec rm -rf {} +
    cat > "$tree.tmp/DEBIAN/control" <<CTL
Package: debpipe-bench
Version: 1.0-1
Architecture: amd64
Maintainer: debpipe <debpipe@example.invalid>
Description: benchmark virtualenv for mkdeb ($name)
 A virtualenv of real packages.
CTL
    chmod 0755 "$tree.tmp/DEBIAN"
    mv "$tree.tmp" "$tree"
}

# time_of CMD...: wall time of one run, in seconds.
time_of() {
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# min A B
min() {
    if [ -z "$1" ] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(b < a) }'; then echo "$2"; else echo "$1"; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for name in $trees; do
    [ "$name" = venv ] && tree=$cache/bench-venv || tree=$cache/bench-$name
    [ -f "$tree/DEBIAN/control" ] || build_tree "$name" "$tree"
    # dh_md5sums' output, so that dpkg-deb's package holds the same md5sums
    # that mkdeb generates (mkdeb regenerates it): sizes compare like for like.
    if [ ! -f "$tree/DEBIAN/md5sums" ]; then
        (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
            LC_ALL=C sort -z | xargs -0 md5sum) > "$tree/DEBIAN/md5sums.tmp"
        mv "$tree/DEBIAN/md5sums.tmp" "$tree/DEBIAN/md5sums"
    fi

    files=$(find "$tree" -path "$tree/DEBIAN" -prune -o -print | wc -l)
    mb=$(du -sm --apparent-size "$tree" | cut -f1)
    find "$tree" -type f -exec cat {} + >/dev/null   # warm the page cache

    echo "tree $name: $tree ($files entries, $mb MB), $(nproc) cores, best of $runs"
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
            "$(ratio "$tm" "$td")" "$sd" "$sm" "$(ratio "$sm" "$sd")"
    done
done
