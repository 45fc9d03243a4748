#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats are literal
# Builds for several Debian releases from this one machine (`make DIST=...`),
# into one repository, and a dist-upgrade that moves the app to its build for
# the new release.
#
#   tests/dist/run.sh [--keep]
#
# Steps (each prints PASS or FAIL with its time):
#   0. bad input: an unknown DIST (make and scripts/build-root list the
#      supported ones); a root that cannot be made names the mirror and the
#      failing step, and an interrupted root build leaves nothing a later
#      build uses; a wheelhouse built for another python is refused naming
#      the wheel;
#   1. the example app built for every release of releases.tsv (bullseye,
#      bookworm, trixie...) into one signed repository: each dists/DIST
#      lists its own build only (1.0.0+deb11, +deb12, +deb13..., each pinned
#      to its release's python), the pool holds one file a release, and no
#      build dropped another's
#      entries; zstd asked for bullseye is refused, saying why;
#   2. dist-upgrade: a fresh bookworm root installs the bookworm build from
#      the repository and serves it through nginx; its sources are switched
#      to trixie (Debian's and the repository's), `apt-get dist-upgrade`
#      installs the trixie build, whose venv runs python 3.13 with no 3.11
#      left in it, and the app answers with the new build through nginx.
#
# Environment: DEBPIPE_CACHE (the build roots, wheelhouses, the e2e root
# tarballs and apt's .debs are cached there), KEEP=1 (as --keep), MAKE.
# Needs root, port 80 free, and the Debian mirror (see scripts/debian-mirror).
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
example=$top/examples/wechat
export DEBPIPE_CACHE=$cache_top
package=wechat-api
venv=/opt/www/venvs/$package
host=wechat.example.com
LOAD_PATH=/api/wechat/ping

suite=dist
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
. "$e2e/lib.sh"

# expect_fail NAME PATTERN CMD...: CMD must exit non-zero with PATTERN in its
# output (one line of it is shown).
expect_fail() {
	local name=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1 </dev/null 9>&-); then
		fail "$name: \`$*\` succeeded"
	fi
	printf '%s\n' "$out" >"$logs/$name.log"
	grep -qE "$pattern" <<<"$out" || fail "$name: no /$pattern/ in the error (log: $logs/$name.log)"
	ok "$name: $(grep -E "$pattern" <<<"$out" | head -n1)"
}

# --- step 0 ------------------------------------------------------------------

begin 0 "bad input: unknown DIST, a root that cannot be made, an interrupted root build, foreign wheels"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
lock_e2e
new_work dist
app=$work/app repo=$work/repo gnupg=$work/gnupg
mkdir -p "$repo"

# Every release of releases.tsv, oldest first (the builds of step 1).
mapfile -t dists < <(release list)
expect_fail make-sid "DIST=sid is not supported: use one of ${dists[*]}" \
	"$make" -C "$top" DIST=sid
expect_fail build-root-sid "unknown DIST 'sid': supported are $(release supported)" \
	"$top/scripts/build-root" sid

# An interrupted root build: killed during debootstrap, it leaves its
# temporary directory, never a root at the final path; the next run removes
# the leftover first (here that run fails: its mirror does not answer, and
# the error names the mirror and the step).
scratch=$work/cache
(DEBPIPE_CACHE=$scratch setsid "$top/scripts/build-root" bookworm >"$logs/interrupted.log" 2>&1 9>&-) &
bpid=$!
for _ in $(seq 1 100); do
	compgen -G "$scratch/roots/.tmp-bookworm-$arch.*/root/debootstrap" >/dev/null && break
	sleep 0.1
done
compgen -G "$scratch/roots/.tmp-bookworm-$arch.*" >/dev/null || fail "the root build did not start (log: $logs/interrupted.log)"
kill -KILL -- "-$bpid" 2>/dev/null || kill -KILL "$bpid"
wait "$bpid" 2>/dev/null || true
[ ! -e "$scratch/roots/bookworm-$arch" ] || fail "a killed root build left $scratch/roots/bookworm-$arch"
ok "killed during debootstrap: no root at $scratch/roots/bookworm-$arch, only $(basename "$(compgen -G "$scratch/roots/.tmp-bookworm-$arch.*" | head -n1)")"
expect_fail build-root-mirror 'debootstrap of bookworm from http://127\.0\.0\.1:9/debian failed' \
	env DEBPIPE_CACHE="$scratch" DEBPIPE_MIRROR=http://127.0.0.1:9/debian "$top/scripts/build-root" bookworm
! compgen -G "$scratch/roots/.tmp-bookworm-$arch.*" >/dev/null || fail "the next run left a temporary root: $(compgen -G "$scratch/roots/.tmp-*")"
[ ! -e "$scratch/roots/bookworm-$arch" ] || fail "a failed root build left a root"
ok "the next run removed the interrupted build's leftovers, and its own"
rm -rf "$scratch"

# A wheelhouse for another python: bookworm's (3.11) used for trixie (3.13).
for d in bookworm trixie; do
	logged "root-$d" "$top/scripts/build-root" "$d"
done
mkdir -p "$app"
tar -C "$example" --exclude=./wheels --exclude=__pycache__ --exclude=./config/generated.json \
	-cf - . | tar -C "$app" -xpf -
ln -s "$cache_top/wheels" "$app/wheels"
MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "REPO_KEY=" "GNUPGHOME=$gnupg")
logged make-wheels-bookworm "$make" "${MAKEARGS[@]}" BUILD="$work/build/bookworm" DIST=bookworm wheels
troot=$cache_top/roots/trixie-$arch
mkdir -p "$work/foreign/stage"
expect_fail foreign-wheel '/[^ /]+-cp311-[^ /]+\.whl: built for CPython 3\.11, but the venv.s python is 3\.13' \
	"$top/scripts/in-root" "$troot" "$app" "$work/foreign" "$cache_top/wheels" -- \
	"$top/target/release/mkvenv" --sysroot "$troot" "$app/app.json" -r "$app/requirements.txt" \
	--find-links "$app/wheels/bookworm-$arch" --no-index --without-pip --root "$work/foreign/stage"
[ -z "$(ls -A "$work/foreign/stage")" ] || fail "the refused build left files in its stage: $(ls -A "$work/foreign/stage")"
pass

# --- step 1 ------------------------------------------------------------------

begin 1 "one signed repository, every release: each dist lists its own build, the pool has one file a release"
signing_key
MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "REPO_KEY=$fpr" "GNUPGHOME=$gnupg")
declare -A number=() python=()
for d in "${dists[@]}"; do
	number[$d]=$(release number "$d") python[$d]=$(release python "$d")
	logged "make-$d" "$make" "${MAKEARGS[@]}" BUILD="$work/build/$d" DIST="$d"
done
for d in "${dists[@]}"; do
	packages=$repo/dists/$d/main/binary-$arch/Packages
	[ "$(grep -c '^Package: ' "$packages")" = 1 ] || fail "dists/$d lists $(grep -c '^Package: ' "$packages") packages, not its one build"
	grep -qx "Version: 1.0.0+deb${number[$d]}" "$packages" || fail "dists/$d does not list 1.0.0+deb${number[$d]}"
	depends=$(grep '^Depends: ' "$packages")
	[[ $depends == *"python3 (>= ${python[$d]})"* ]] || fail "the $d build does not depend on python3 ${python[$d]}: $depends"
	gpgv --keyring "$work/debpipe.gpg" "$repo/dists/$d/InRelease" 2>>"$logs/gpgv.log" \
		|| fail "dists/$d/InRelease does not verify"
	grep -qx "Suite: $d" "$repo/dists/$d/Release" || fail "dists/$d/Release has no Suite: $d"
	ok "dists/$d: 1.0.0+deb${number[$d]}, python3 ${python[$d]}, signed"
done
pool=$(cd "$repo" && find pool -name '*.deb' | sort)
[ "$(wc -l <<<"$pool")" = ${#dists[@]} ] || fail "the pool does not hold ${#dists[@]} files: $pool"
ok "pool: $(tr '\n' ' ' <<<"$pool")"
[ ! -e "$repo/Packages" ] || fail "a DIST build wrote the flat layout's Packages"
order=()
for d in "${dists[@]}"; do
	suffix=$(release suffix "$d")
	grep -q -- "$suffix" <<<"$pool" || fail "no $suffix build in the pool"
	order+=("1.0.0$suffix")
done
# dpkg's order of the builds: by release, and all before the next version's.
order+=("1.0.1$(release suffix "${dists[0]}")")
for ((i = 1; i < ${#order[@]}; i++)); do
	dpkg --compare-versions "${order[i-1]}" lt "${order[i]}" || fail "${order[i-1]} does not sort before ${order[i]}"
done
ok "$(printf '%s < ' "${order[@]}" | sed 's/ < $//') (dpkg --compare-versions)"
rm -f "$work/build/bullseye/deb-path"
expect_fail zstd-bullseye 'zst members need dpkg >= 1\.21\.18 to install, and the target.s dpkg is 1\.20' \
	"$make" "${MAKEARGS[@]}" BUILD="$work/build/bullseye" DIST=bullseye MKDEB_FLAGS=-Zzstd
pass

# --- step 2 ------------------------------------------------------------------

begin 2 "dist-upgrade bookworm -> trixie moves the app to its trixie build, which answers"
logged mkroot "$e2e/mkroot.sh" "$root" bookworm
mount_root "$cache"
need_port_80
serve_repo "$repo" /dists/trixie/Release
apt_source "http://127.0.0.1:$port/" "bookworm main" apt-update-bookworm
install_package ""
out=$(ping_until 1.0.0+deb12) || fail "the bookworm build does not answer through nginx: $out"
[ "$(inroot "$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ] \
	|| fail "the bookworm build's venv does not run python 3.11"
ok "bookworm: $package 1.0.0+deb12 answers through nginx, venv on python 3.11"

sed -i 's/\bbookworm\b/trixie/g' "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/debpipe.list"
note "sources: $(cat "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/debpipe.list" | tr '\n' ';')"
logged apt-update-trixie inroot apt-get -q --error-on=any update
# Under load through nginx: the upgrade replaces python 3.11 by 3.13 and the
# venv's uWSGI binary, and nginx itself. No request may fail because of the
# app: nginx answers no 502, and a failed request is allowed only in the
# second around nginx's own binary upgrade (its old workers close idle
# keep-alive connections as they exit: "using inherited sockets" in its
# error log), which is nginx's doing, not debpipe's.
nginx_502_before=$(grep -c '" 502 ' "$root/var/log/nginx/access.log" || true)
export LOAD_FAILURE_TIMES=$logs/dist-upgrade.failure-times
load_start dist-upgrade
logged apt-dist-upgrade inroot "${APT[@]}" -o Dpkg::Options::=--force-confold dist-upgrade
load_stop dist-upgrade
unset LOAD_FAILURE_TIMES
read -r sent failed <"$logs/dist-upgrade.load"
nginx_502=$(( $(grep -c '" 502 ' "$root/var/log/nginx/access.log" || true) - nginx_502_before ))
note "under load through nginx during the dist-upgrade: $sent requests, $failed failed, $nginx_502 answered 502 in nginx's log"
[ "$nginx_502" -eq 0 ] || fail "$nginx_502 requests answered 502 during the dist-upgrade: $(head -c 600 "$logs/dist-upgrade.load-errors")"
if [ "$failed" -gt 0 ]; then
	swaps=$(sed -n 's|^\([0-9/]* [0-9:]*\) .*using inherited sockets.*|\1|p' "$root/var/log/nginx/error.log" \
		| while read -r when; do date -u -d "$when" +%s; done)
	[ -n "$swaps" ] || fail "$failed requests failed and nginx did not upgrade its binary: $(head -c 600 "$logs/dist-upgrade.load-errors")"
	outside=$(awk -v swaps="$swaps" 'BEGIN { n = split(swaps, s, "\n") }
		{ near = 0; for (i = 1; i <= n; i++) if ($1 >= s[i] - 1 && $1 < s[i] + 2) near = 1; if (!near) print }' \
		"$logs/dist-upgrade.failure-times")
	[ -z "$outside" ] || fail "requests failed away from nginx's binary upgrade (at $(date -u -d "@${swaps%%$'\n'*}" +%T)): $(head -c 600 "$logs/dist-upgrade.load-errors")"
	ok "the $failed failed requests all fell in the second of nginx's own binary upgrade ($(date -u -d "@${swaps%%$'\n'*}" +%T): idle keep-alive connections closed); none was a 502"
else
	ok "no request failed"
fi
check_apt_log "$logs/apt-dist-upgrade.log"
grep "$package: " "$logs/apt-dist-upgrade.log" | sed 's/^/    postinst: /' || true
[ "$(inroot dpkg-query -W -f='${Version}' "$package")" = 1.0.0+deb13 ] \
	|| fail "dist-upgrade did not install the trixie build: $(inroot dpkg-query -W -f='${Version}' "$package")"
grep -q '^13' "$root/etc/debian_version" || fail "the root is not trixie after dist-upgrade: $(cat "$root/etc/debian_version")"
[ "$(inroot "$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.13 ] \
	|| fail "the trixie build's venv does not run python 3.13"
[ ! -e "$root$venv/lib/python3.11" ] || fail "the old venv's lib/python3.11 is left behind"
notok=$(inroot dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | grep -v '^ii ' | grep -v '^rc ' || true)
[ -z "$notok" ] || fail "packages not fully installed after dist-upgrade:"$'\n'"$notok"
ok "dist-upgrade: $package 1.0.0+deb13 installed, Debian $(cat "$root/etc/debian_version"), venv on python 3.13, no python3.11 tree left"
out=$(ping_until 1.0.0+deb13) || fail "the trixie build does not answer through nginx after dist-upgrade: $out"
ok "the app answers through nginx: $out"
pass
