#!/usr/bin/env bash
# A do-nothing `make`: the time the Makefile takes to find that nothing
# changed (parsing, its find calls, the deps check), after one full `make`.
# Best and median of RUNS runs, with hyperfine when installed (install-deps
# installs it), else a loop timed with `date +%s.%N`. Reports, never fails
# on the time: the goal (under 0.3 s) is printed beside it.
#
#   bench/noop-make.sh                    the example app, RUNS=10
#   RUNS=20 bench/noop-make.sh APP=path/to/app REPO=dir
#   HYPERFINE= bench/noop-make.sh         the date loop even with hyperfine
#
# Arguments are passed to every make (variables or targets).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
HYPERFINE=${HYPERFINE-hyperfine}
GOAL=0.3

# Run under `make bench`: the flags of that make (-s, -j, its variables)
# are not this benchmark's.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

echo "==> noop-make: one full make $*" >&2
make -s "$@" >/dev/null

# Nothing may be left to do: a stage line means something changed (an edit
# during the run, say), and the numbers would measure that stage.
if again=$(make "$@" 2>&1) && grep -q '^==> \[' <<<"$again"; then
    echo "noop-make: a second make still ran a stage; not a do-nothing build:" >&2
    grep '^==> \[' <<<"$again" >&2
    exit 1
fi

work=$(mktemp -d /tmp/debpipe-noop-make.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ -n "$HYPERFINE" ] && command -v "$HYPERFINE" >/dev/null; then
    how="hyperfine, $RUNS runs after 2 warm-ups"
    cmd="make"
    for a in "$@"; do cmd+=" $(printf %q "$a")"; done
    "$HYPERFINE" -N --style none --warmup 2 --runs "$RUNS" --export-json "$work/h.json" "$cmd" >/dev/null
    "${PYTHON:-python3}" - "$work/h.json" >"$work/times" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print(t)
PY
else
    how="date +%s.%N, $RUNS runs after 2 warm-ups"
    for i in $(seq $((RUNS + 2))); do
        a=$(date +%s.%N)
        make "$@" >/dev/null 2>&1
        b=$(date +%s.%N)
        [ "$i" -gt 2 ] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f\n", b - a }' >>"$work/times"
    done
fi

sort -g "$work/times" | awk -v how="$how" -v goal="$GOAL" '
    { t[NR] = $1 }
    END {
        best = t[1]; median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
        printf "do-nothing make (%s):\n", how
        printf "  best   %.3f s\n  median %.3f s\n  worst  %.3f s\n", best, median, t[NR]
        printf "  goal   < %s s: %s\n", goal, (best < goal ? "ok" : "MISSED")
    }'
