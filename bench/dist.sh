#!/usr/bin/env bash
# A build for another Debian release against a build for this host, from
# the same run: the example app (or APP) built from scratch (venv, stage,
# package, index) with the build root and the wheelhouses already cached,
# `make DIST=$DIST` and plain `make` taking turns, RUNS times each. Prints
# each time, the best of each and their ratio (goal: at most 1.5), and how
# long the root took to make the first time when this run made it. Reports,
# never fails on the time.
#
#   bench/dist.sh                  DIST=trixie, RUNS=3
#   DIST=bullseye RUNS=5 bench/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=${DIST:-trixie}
RUNS=${RUNS:-3}
APP=${APP:-examples/wechat}
GOAL=1.5
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

work=$(mktemp -d "${TMPDIR:-/tmp}/debpipe-bench-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture)
root=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/roots/$DIST-$arch

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

if [ ! -e "$root/.debpipe-root" ]; then
	s=$(date +%s.%N)
	scripts/build-root "$DIST" >/dev/null
	echo "dist: first creation of the $DIST root: $(sub "$(date +%s.%N)" "$s") s"
fi
# Warm: tools, wheelhouses, root (not timed).
make -s APP="$APP" REPO="$work/repo-host" BUILD="$work/host" >/dev/null
make -s APP="$APP" REPO="$work/repo-dist" BUILD="$work/dist" DIST="$DIST" >/dev/null

t() { # t ARGS...: seconds of one build from scratch
	local s
	rm -rf "$work/host" "$work/dist"
	s=$(date +%s.%N)
	make -s APP="$APP" "$@" >/dev/null 2>&1
	sub "$(date +%s.%N)" "$s"
}
host=() dist=()
for i in $(seq 1 "$RUNS"); do
	host+=("$(t REPO="$work/repo-host" BUILD="$work/host")")
	dist+=("$(t REPO="$work/repo-dist" BUILD="$work/dist" DIST="$DIST")")
	echo "dist: run $i: host ${host[-1]} s, DIST=$DIST ${dist[-1]} s"
done
best() { printf '%s\n' "$@" | sort -g | head -n1; }
bh=$(best "${host[@]}") bd=$(best "${dist[@]}")
printf 'dist: best of %d: host %.2f s, DIST=%s %.2f s, ratio %.2f (goal <= %s)\n' \
	"$RUNS" "$bh" "$DIST" "$bd" "$(awk -v a="$bd" -v b="$bh" 'BEGIN { print a / b }')" "$GOAL"
