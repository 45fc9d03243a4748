#!/usr/bin/env bash
# The whole flow (venv to indexed repository) against the seed's route on the
# same app and wheelhouse, measured in the same run:
#   seed:    dpkg-buildpackage -b with dh-virtualenv (the seed's debian/rules),
#            then dpkg-scanpackages | gzip -9c > Packages.gz
#   debpipe: make APP=... REPO=... (tools already built), cold, and again after
#            a version bump; with the Makefile's defaults (gzip, no pip in the
#            venv) and with the seed package's format (xz, pip in the venv).
# Prints the times and the ratios. Needs root (installs dh-virtualenv, debhelper).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
APP_SRC=${APP:-examples/wechat}
RUNS=${RUNS:-3}
scripts/install-deps
missing=""
for p in dh-virtualenv debhelper dpkg-dev; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "bench/flow.sh: needs:$missing (apt-get install as root)" >&2; exit 1; }
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

make -s tools
make -s APP="$APP_SRC" wheels
T=$ROOT/target/release
work=$(mktemp -d /tmp/debpipe-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
best() { sort -g | head -1; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# --- the seed's route -------------------------------------------------------
pkg=$("$T/appspec" get package "$APP_SRC/app.json")
ver=$("$T/appspec" get version "$APP_SRC/app.json")
seed_times=()
for _ in $(seq "$RUNS"); do
    src=$work/seed/src
    rm -rf "$work/seed"; mkdir -p "$src"
    cp -a "$APP_SRC/." "$src/"
    mkdir -p "$src/debian"
    cat > "$src/debian/control" <<CONTROL
Source: $pkg
Section: python
Priority: optional
Maintainer: Bench <bench@example.com>
Build-Depends: debhelper-compat (= 13), dh-virtualenv
Standards-Version: 4.6.2

Package: $pkg
Architecture: any
Depends: \${misc:Depends}, \${python3:Depends}
Description: $pkg
 Built the seed's way for comparison.
CONTROL
    printf '%s (%s) unstable; urgency=medium\n\n  * Bench.\n\n -- Bench <bench@example.com>  Thu, 01 Jan 2026 00:00:00 +0000\n' "$pkg" "$ver" > "$src/debian/changelog"
    cat > "$src/debian/rules" <<RULES
#!/usr/bin/make -f
export DH_VIRTUALENV_INSTALL_ROOT=/opt/www/venvs/
%:
	dh \$@ --with python-virtualenv

override_dh_virtualenv:
	dh_virtualenv --builtin-venv --python /usr/bin/python3 --skip-install --extra-pip-arg --no-index --extra-pip-arg --find-links=$ROOT/$APP_SRC/wheels --requirements requirements.txt

override_dh_strip:
	true

override_dh_shlibdeps:
	true
RULES
    chmod +x "$src/debian/rules"
    t0=$(now)
    (cd "$src" && PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS='' dpkg-buildpackage -b -uc -us >"$work/seed.log" 2>&1) \
        || { tail -20 "$work/seed.log"; exit 1; }
    mkdir -p "$work/seed/repo"; mv "$work/seed/"*.deb "$work/seed/repo/"
    (cd "$work/seed/repo" && dpkg-scanpackages . 2>/dev/null | gzip -9c > Packages.gz)
    seed_times+=("$(since "$t0")")
done
seed=$(printf '%s\n' "${seed_times[@]}" | best)

# --- debpipe ----------------------------------------------------------------
# flow ARGS...: best cold time and best version-bump time of make ARGS.
flow() {
    local cold_times=() bump_times=() app=$work/app
    for _ in $(seq "$RUNS"); do
        rm -rf "$app" "$work/build" "$work/repo"
        cp -a "$APP_SRC" "$app"
        t0=$(now)
        make -s APP="$app" REPO="$work/repo" BUILD="$work/build" "$@" >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
        cold_times+=("$(since "$t0")")
        sed -i 's/"version": *"[^"]*"/"version": "9.9.9"/' "$app/app.json"
        t0=$(now)
        make -s APP="$app" REPO="$work/repo" BUILD="$work/build" "$@" >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
        bump_times+=("$(since "$t0")")
    done
    printf '%s %s\n' "$(printf '%s\n' "${cold_times[@]}" | best)" "$(printf '%s\n' "${bump_times[@]}" | best)"
}
read -r cold bump < <(flow)
read -r cold_xz bump_xz < <(flow MKDEB_FLAGS=-Zxz MKVENV_FLAGS=)

printf '\nflow, best of %s runs (app %s, same wheelhouse)\n' "$RUNS" "$APP_SRC"
printf '  seed route (dpkg-buildpackage + dh-virtualenv + scanpackages): %6.2f s\n' "$seed"
printf '  debpipe make, cold (venv to indexed repo):                    %6.2f s  ratio %s (goal <= 0.2)\n' "$cold" "$(ratio "$cold" "$seed")"
printf '  debpipe make, after a version bump:                           %6.2f s  ratio %s\n' "$bump" "$(ratio "$bump" "$seed")"
printf '  debpipe make with the seed package'"'"'s format (xz, pip in the venv):\n'
printf '    cold:                                                        %6.2f s  ratio %s\n' "$cold_xz" "$(ratio "$cold_xz" "$seed")"
printf '    after a version bump:                                        %6.2f s  ratio %s\n' "$bump_xz" "$(ratio "$bump_xz" "$seed")"
