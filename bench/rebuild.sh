#!/usr/bin/env bash
# The rebuild after a version bump (issue 15): `make` of a real project,
# then "version" changed in app.json and `make` again, with mkdeb's member
# cache and stage-django's collected-static cache (the Makefile's defaults)
# and without them (MKDEB_CACHE= STATIC_CACHE=), alternating.
# Prints the whole make and each stage's time (scripts/timed), best of RUNS.
#
#   bench/rebuild.sh                 the Wagtail project of tests/template-app
#                                    (when its wheelhouse is cached), else the
#                                    example app
#   APP=path/to/app bench/rebuild.sh any app laid out as the README says
#   RUNS=5 bench/rebuild.sh
#
# The project is built once cold first (venv, stage, package, index); each
# run then bumps the version and times `make`. Every build's package is
# checked to be the same bytes with and without the cache (same version,
# same tree, same SOURCE_DATE_EPOCH).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cache_top=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}

make -s tools
work=$(mktemp -d /tmp/debpipe-rebuild.XXXXXX)
trap 'rm -rf "$work"' EXIT

app=$work/app
if [ -n "${APP:-}" ]; then
    cp -a "$APP" "$app"
elif [ -f "$cache_top/template-app/wheels/.filled" ]; then
    # shellcheck source-path=SCRIPTDIR source=../tests/template-app/project.sh
    . tests/template-app/project.sh
    make_project "$app" "$cache_top/template-app/wheels" /usr/bin/python3 "$work/tools" >/dev/null
else
    echo "bench/rebuild.sh: no template-app wheelhouse (run tests/template-app/run.sh once); using examples/wechat" >&2
    cp -a examples/wechat "$app"
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
min() { if [ -z "$1" ] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(b < a) }'; then echo "$2"; else echo "$1"; fi; }

export SOURCE_DATE_EPOCH=1700000000
mcache=$work/mkdeb-cache scache=$work/static-cache
margs=(-s APP="$app" REPO="$work/repo" BUILD="$work/build")
make "${margs[@]}" MKDEB_CACHE="$mcache" STATIC_CACHE="$scache" >"$work/cold.log" 2>&1 || { cat "$work/cold.log"; exit 1; }
venv_mb=$(du -sm --apparent-size "$work/build/venv" | cut -f1)
stage_files=$(find "$work/build/stage" | wc -l)
echo "app $(basename "${APP:-$(grep -o '"module": *"[^"]*"' "$app/app.json")}"): venv $venv_mb MB, stage $stage_files entries; best of $RUNS"

# bump N MKDEB_CACHE STATIC_CACHE: set version 1.0.N, make with the caches
# given; prints the make time and the stages' times (label=seconds).
bump() {
    sed -i "s/\"version\": *\"[^\"]*\"/\"version\": \"1.0.$1\"/" "$app/app.json"
    local t0 t
    t0=$(now)
    make "${margs[@]}" MKDEB_CACHE="$2" STATIC_CACHE="$3" >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
    t=$(since "$t0")
    printf 'make=%s ' "$t"
    sed -n 's/^    \(.*\): \([0-9.]*\) s$/\1=\2/p' "$work/make.log" | tr ' \n' '_ '
    echo
}

declare -A best_with best_without
n=1
for _ in $(seq "$RUNS"); do
    for mode in with without; do
        n=$((n + 1))
        if [ $mode = with ]; then line=$(bump $n "$mcache" "$scache"); else line=$(bump $n "" ""); fi
        deb=$(cat "$work/build/deb-path")
        cp "$deb" "$work/$mode.deb"
        for kv in $line; do
            k=${kv%%=*} v=${kv#*=}
            if [ $mode = with ]; then best_with[$k]=$(min "${best_with[$k]:-}" "$v"); else best_without[$k]=$(min "${best_without[$k]:-}" "$v"); fi
        done
    done
    # The same version again with mkdeb's cache: byte for byte the uncached
    # build (collectstatic's files are new in both, their mtimes clamped).
    touch "$app/app.json"
    make "${margs[@]}" MKDEB_CACHE="$mcache" STATIC_CACHE= >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
    cmp -s "$(cat "$work/build/deb-path")" "$work/without.deb" \
        || { echo "bench/rebuild.sh: the cached build of 1.0.$n differs from the uncached one" >&2; exit 1; }
done

printf '%-22s %10s %10s\n' stage "cache/s" "no cache/s"
for k in make mkdeb stage_venv stage-app stage-django gen-control scanpkgs; do
    [ -n "${best_with[$k]:-}" ] || continue
    printf '%-22s %10s %10s\n' "${k//_/ }" "${best_with[$k]}" "${best_without[$k]}"
done
