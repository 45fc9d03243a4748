#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats are literal
# End-to-end test of debpipe: build the example app's package and a signed
# flat apt repository with `make`, then install, upgrade and purge it with
# apt in a fresh Debian 12 root that has no Rust, no pip and no build tools.
# With DIST set (a codename of releases.tsv), `make DIST=...` builds for that
# release in its build root, into the pool/ + dists/DIST layout, and the
# fresh root is of that release.
#
#   tests/e2e/run.sh [--bin DIR] [--keep]
#
#   --bin DIR   the built tools (gen-uwsgi, mkvenv, ...): passed to make as
#               T=DIR (default: the Makefile's own, target/release); or set
#               DEBPIPE_BIN
#   --keep      keep the work directory (root, repo, logs) after the run; or
#               set KEEP=1 (mounts and processes are cleaned up all the same)
#
# Environment:
#   DIST           the Debian release to build for and install on (default:
#                  none: this host's release, the flat repository layout)
#   DEBPIPE_CACHE  cache directory (default $HOME/.cache/debpipe); the test
#                  keeps under e2e/: the debootstrap tarball (mkroot.sh), the
#                  wheelhouse (wheels/, made once with `make wheels`) and the
#                  .debs apt downloaded from the Debian mirror (apt-archives/)
#   E2E_APT_CACHE=0  do not bind-mount e2e/apt-archives into the root: every
#                  run downloads python3, nginx... from the mirror again
#   MAKE           make program (default make)
#   TMPDIR         where the work directory goes (default /tmp)
#
# Steps (each prints PASS or FAIL with its time):
#   0. a throwaway gpg key; `make` builds wechat-api 1.0.0 into a signed repo;
#      with its signatures removed, `make sign` signs it again; `make serve`
#      serves it on a free port of 127.0.0.1;
#   1. in a fresh root (mkroot.sh): the repo in apt's sources with
#      signed-by (no trusted=yes); apt-get install wechat-api pulls python3,
#      nginx... from the mirror, and no maintainer script fails;
#   2. the package started its service (SysV script through invoke-rc.d:
#      the root has no systemd) and nginx answers GET /api/wechat/ping on
#      port 80 with the greeting of /etc/wechat/wechat.yaml;
#   3. the admin edits the conffile; `make` builds 1.0.1 (only `version`
#      changed); apt-get upgrade, with requests going through nginx all the
#      while (load.py), fails none of them, keeps the edit, replaces every
#      worker through a graceful reload and serves 1.0.1 with the edited
#      greeting from each; the same load across a plain stop/start does
#      fail (the negative control); make refuses to build a broken 1.0.2
#      (its views raise: the build-time preflight), and one built anyway is
#      refused by postinst while 1.0.1 keeps serving, and 1.0.3 completes;
#   4. apt-get remove stops the service and removes the program, but keeps
#      the conffiles (and the log); the init script left behind is a no-op;
#   5. apt-get purge leaves none of the package's files, its log or its
#      runtime directory.
# Every process the test started (the HTTP server; in the root, nginx and
# uWSGI, found by their pidfiles and by their root directory) is killed by
# pid, and every mount is undone, also when a step fails.
#
# Needs root (chroot, mount), port 80 free (the root shares the host's
# network), debootstrap, zstd, gpg, curl, python3, and what `make` needs.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
example=$top/examples/wechat

package=wechat-api
venv=/opt/www/venvs/$package
dist=${DIST:-}
# The version suffix, the units' directory and the root's release
# (releases.tsv; without DIST, this host's).
target_dist "$dist"
host=wechat.example.com
LOAD_PATH=/api/wechat/ping

# Commands in the root (inroot, pidfile_pid...), check_apt_log, and the
# root's cleanup on exit.
suite=e2e${dist:+-$dist}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

# ping until it answers {"status": "ok"} (lib.sh), at most ~15 s.
ping_until_ok() { ping_field_until status ok; }

oneline() { tr '\n' ' ' <<<"$1"; }
# The pids of the uWSGI master's workers, sorted.
workers_of() {
	# A process that exits between the glob and the read makes cat fail
	# (pipefail): that is no failure of the service's.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v m="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($2 == m) print pid }' | sort
}

# --- step 0: the repository --------------------------------------------------

begin 0 "build wechat-api 1.0.0 into a signed repository with make, serve it"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
for c in debootstrap zstd gpg gpgv curl chroot mount flock "$make" "$py"; do
	command -v "$c" >/dev/null || fail "$c is not installed (scripts/install-deps)"
done
lock_e2e
need_port_80
ok "port 80 is free"

new_work e2e
app=$work/app repo=$work/repo gnupg=$work/gnupg
mkdir -p "$repo"
if [ -n "$dist" ]; then
	release_dir=$repo/dists/$dist index_dir=$repo/dists/$dist/main/binary-$arch apt_suite="$dist main"
else
	release_dir=$repo index_dir=$repo apt_suite=./
fi

logged mkroot "$here/mkroot.sh" "$root" "$root_dist"
ok "fresh Debian $root_dist minbase root in $root"

signing_key
ok "throwaway signing key $fpr"

# The app: a copy of examples/wechat (mtimes kept), with the cached wheelhouse.
mkdir "$app"
tar -C "$example" --exclude=./wheels --exclude=__pycache__ --exclude=./config/generated.json \
	-cf - . | tar -C "$app" -xpf -
mkdir -p "$cache/wheels"
ln -s "$cache/wheels" "$app/wheels"
MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "BUILD=$work/build" "REPO_KEY=$fpr" "GNUPGHOME=$gnupg")
[ -z "$bin" ] || MAKEARGS+=("T=$bin")
wheels_filled=$cache/wheels/.filled
if [ -n "$dist" ]; then
	MAKEARGS+=("DIST=$dist")
	wheels_filled=$cache/wheels/$dist-$arch/.filled
fi
if [ ! -e "$wheels_filled" ]; then
	logged make-wheels "$make" "${MAKEARGS[@]}" wheels
fi

logged make-1.0.0 "$make" "${MAKEARGS[@]}"
grep -E '==>|^\[.*\] (deb|.*: deb) ' "$logs/make-1.0.0.log" | sed 's/^/    /'
grep -qE '(^|[: ])deb (\[[^]]*\] )?https?://' "$logs/make-1.0.0.log" \
	|| fail "make printed no sources.list \`deb\` line (log: $logs/make-1.0.0.log)"
for f in "$index_dir/Packages" "$index_dir/Packages.gz" "$release_dir/Release" \
	"$release_dir/InRelease" "$release_dir/Release.gpg"; do
	[ -s "$f" ] || fail "the repository has no ${f#"$repo/"} (make REPO_KEY=... must sign it)"
done
gpgv --keyring "$work/debpipe.gpg" "$release_dir/InRelease" 2>"$logs/gpgv.log" \
	|| fail "InRelease does not verify with the key (log: $logs/gpgv.log)"
gpgv --keyring "$work/debpipe.gpg" "$release_dir/Release.gpg" "$release_dir/Release" 2>>"$logs/gpgv.log" \
	|| fail "Release.gpg does not verify with the key (log: $logs/gpgv.log)"
grep -qx "Version: 1.0.0$suffix" "$index_dir/Packages" || fail "Packages does not list version 1.0.0$suffix"
ok "repository $repo: Packages, Packages.gz, Release, InRelease, Release.gpg${dist:+ of dists/$dist} (signatures verify)"
# `make sign`, as a user who built unsigned and signs afterwards would run it.
rm -f "$release_dir/InRelease" "$release_dir/Release.gpg"
logged make-sign "$make" "${MAKEARGS[@]}" sign
gpgv --keyring "$work/debpipe.gpg" "$release_dir/InRelease" 2>>"$logs/gpgv.log" \
	|| fail "make sign wrote no InRelease that verifies (log: $logs/gpgv.log)"
gpgv --keyring "$work/debpipe.gpg" "$release_dir/Release.gpg" "$release_dir/Release" 2>>"$logs/gpgv.log" \
	|| fail "make sign wrote no Release.gpg that verifies (log: $logs/gpgv.log)"
ok "make sign signed the repository again (InRelease, Release.gpg verify)"
deb=$(cat "$work/build/deb-path")
lintian --fail-on error "$deb" >"$logs/lintian.log" 2>&1 \
	|| fail "lintian reports errors on $deb: $(grep '^E:' "$logs/lintian.log" | head -3 | tr '\n' ' ')"
ok "lintian: no error on $(basename "$deb") ($(grep -c '^W:' "$logs/lintian.log" || true) warnings, log: $logs/lintian.log)"

port=$(free_port)
# `make serve` (python3 -m http.server in the repository; cleanup stops it
# and make).
"$make" "${MAKEARGS[@]}" PORT="$port" serve </dev/null >"$logs/http.log" 2>&1 9>&- &
http_pid=$!
# (make checks the build is up to date first: allow it 30 s.)
for _ in $(seq 1 300); do
	curl -sf -o /dev/null "http://127.0.0.1:$port${release_dir#"$repo"}/Release" && break
	kill -0 "$http_pid" 2>/dev/null || fail "the HTTP server died (log: $logs/http.log)"
	sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port${release_dir#"$repo"}/Release" || fail "the HTTP server does not answer on port $port"
ok "make serve: http://127.0.0.1:$port/ (make pid $http_pid)"
pass

# --- step 1: install -----------------------------------------------------------

begin 1 "apt-get install $package in the fresh root: signed repo, dependencies from the mirror"
# The fresh root's directories, to check that the purge takes none of them.
snapshot_dirs
mount_root "$cache"
[ ! -d "$root/run/systemd/system" ] || fail "systemd runs in the root"
for tool in cargo rustc pip pip3 gcc make; do
	! inroot sh -c "command -v $tool" >/dev/null || fail "the root has $tool: it must be a target machine"
done
ok "the root has no systemd, no Rust, no pip, no build tools"

apt_source "http://127.0.0.1:$port/" "$apt_suite"
grep -q "127.0.0.1:$port ${apt_suite%% *} InRelease" "$logs/apt-update-1.log" \
	|| fail "apt did not fetch the repository's InRelease (log: $logs/apt-update-1.log)"
ok "apt-get update verified the signed repository"

install_package "1.0.0$suffix"
for dep in python3 nginx; do
	v=$(inroot dpkg-query -W -f='${Version}' "$dep" 2>/dev/null) || fail "apt did not install $dep"
	ok "dependency $dep $v installed from the mirror"
done
note "Depends: $(inroot dpkg-query -W -f='${Depends}' "$package")"
note "$(grep -c '^\[.*\] Setting up ' "$logs/apt-install.log") packages set up; every maintainer script succeeded"
pass

# --- step 2: service and nginx -------------------------------------------------

begin 2 "the package started its service (SysV, invoke-rc.d) and nginx serves /api/wechat/ping"
master1=$(pidfile_pid "/run/$package.pid") || fail "no live process in /run/$package.pid: the service is not running"
exe=$(readlink "/proc/$master1/exe")
[ "$exe" = "$root$venv/bin/uwsgi" ] || fail "pid $master1 runs $exe, not the venv's uwsgi"
ok "uWSGI master $master1 runs $venv/bin/uwsgi as $(stat -c %U "/proc/$master1")"
ls "$root"/etc/rc2.d/S*"$package" >/dev/null 2>&1 || fail "no /etc/rc2.d/S*$package: update-rc.d was not run"
ok "enabled with update-rc.d ($(cd "$root/etc/rc2.d" && ls S*"$package"))"
# And for systemd, should the machine boot with it: deb-systemd-helper works
# without a running systemd (the unit's WantedBy=multi-user.target).
wants=/etc/systemd/system/multi-user.target.wants/$package.service
# (trixie's deb-systemd-helper names a /usr/lib unit by its /lib alias)
case $(readlink "$root$wants") in "/lib/systemd/system/$package.service" | "$unit_dir/$package.service") true ;; *) false ;; esac \
	|| fail "$wants is not a link to the unit: deb-systemd-helper did not enable it"
[ -f "$root/var/lib/systemd/deb-systemd-helper-enabled/$package.service.dsh-also" ] \
	|| fail "deb-systemd-helper keeps no state for $package.service (purge must remove it)"
ok "enabled for systemd too: $wants"
[ -S "$root/run/$package/$package.sock" ] || fail "no socket /run/$package/$package.sock"
ok "socket /run/$package/$package.sock"
nginx_pid=$(pidfile_pid /run/nginx.pid) || fail "nginx is not running in the root"
ok "nginx master $nginx_pid"
[ -f "$root/var/log/uwsgi/wechat.log" ] || fail "no log /var/log/uwsgi/wechat.log"
out=$(ping_until_ok) || fail "GET /api/wechat/ping (Host: $host) did not answer: $out"
note "GET http://127.0.0.1/api/wechat/ping -> $out"
[ "$(json greeting <<<"$out")" = "hello from the installed config" ] \
	|| fail "the greeting is not the one of /etc/wechat/wechat.yaml: $out"
[ "$(json version <<<"$out")" = "1.0.0$suffix" ] || fail "version is not 1.0.0$suffix: $out"
[ "$(json master_pid <<<"$out")" = "$master1" ] || fail "answered by another uWSGI than pid $master1: $out"
ok "the greeting comes from /etc/wechat/wechat.yaml through the config hook; version 1.0.0"
pass

# --- step 3: upgrade -----------------------------------------------------------

begin 3 "edit the conffile, make 1.0.1, apt-get upgrade under load: no request fails, new code in every worker, edit kept"
sed -i 's/^greeting:.*/greeting: edited by the admin/' "$root/etc/wechat/wechat.yaml"
cp "$root/etc/wechat/wechat.yaml" "$work/wechat.yaml.edited"
grep -q '^greeting: edited by the admin$' "$work/wechat.yaml.edited" || fail "could not edit the conffile"
nginx_conf=/etc/nginx/sites-available/$package.conf
echo "# edited by the admin" >>"$root$nginx_conf"
cp "$root$nginx_conf" "$work/nginx.conf.edited"
ok "edited /etc/wechat/wechat.yaml and $nginx_conf"
make_version 1.0.0 1.0.1
grep -qx "Version: 1.0.1$suffix" "$index_dir/Packages" || fail "Packages does not list version 1.0.1$suffix"
logged apt-update-2 inroot apt-get -q --error-on=any update
workers1=$(workers_of "$master1")
[ -n "$workers1" ] || fail "no uWSGI worker under master $master1"
upgrade_under_load
note "under load through nginx during apt-get upgrade ($t_up s): $sent requests, $failed failed, $nginx_502 answered 502 in nginx's log"
[ "$sent" -gt 0 ] || fail "the load generator sent no request during the upgrade"
if [ "$failed" -ne 0 ] || [ "$nginx_502" -ne 0 ]; then fail "$failed of $sent requests failed during the upgrade ($nginx_502 502s): $(cat "$logs/upgrade.load-errors")"; fi
ok "no request failed during the upgrade: $sent sent"
note "$(grep -m1 "$package: reloaded gracefully" "$logs/apt-upgrade.log" || echo "postinst did not report its reload")"
if grep -q 'Reloading nginx' "$logs/apt-upgrade.log"; then
	fail "the upgrade reloaded nginx, though its file did not change (a reload drops idle keep-alive connections)"
fi
ok "nginx was not reloaded: its file did not change"
check_apt_log "$logs/apt-upgrade.log"
grep -q "Setting up $package (1.0.1$suffix)" "$logs/apt-upgrade.log" || fail "$package was not upgraded to 1.0.1"
[ "$(inroot dpkg-query -W -f='${Version}' "$package")" = "1.0.1$suffix" ] || fail "dpkg does not have 1.0.1$suffix installed"
ok "upgraded to 1.0.1"
cmp -s "$work/wechat.yaml.edited" "$root/etc/wechat/wechat.yaml" || fail "the edited conffile was changed by the upgrade"
cmp -s "$work/nginx.conf.edited" "$root$nginx_conf" || fail "the edited $nginx_conf was changed by the upgrade"
ok "the edited conffiles survived"
master2=$(pidfile_pid "/run/$package.pid") || fail "the service is not running after the upgrade"
[ "$master2" = "$master1" ] || note "the uWSGI master changed: $master1 -> $master2"
workers2=$(workers_of "$master2")
[ "$(grep -c . <<<"$workers2")" -ge "$(grep -c . <<<"$workers1")" ] \
	|| fail "fewer workers after the upgrade: $(oneline "$workers1") -> $(oneline "$workers2")"
[ -z "$(comm -12 <(echo "$workers1") <(echo "$workers2"))" ] \
	|| fail "old workers still run after the upgrade: $(comm -12 <(echo "$workers1") <(echo "$workers2") | tr '\n' ' ')"
ok "graceful reload: master $master2 kept the socket, every worker replaced ($(oneline "$workers1") -> $(oneline "$workers2"))"
answered=""
for _ in $(seq 1 40); do
	out=$(ping_app) || fail "GET /api/wechat/ping failed after the upgrade: $out"
	[ "$(json version <<<"$out")" = "1.0.1$suffix" ] || fail "a worker still answers with the old version: $out"
	answered="$answered $(json pid <<<"$out")"
done
for p in $answered; do
	grep -qx "$p" <<<"$workers2" || fail "pid $p answered but is not one of the new workers ($(oneline "$workers2"))"
done
ok "40 requests after the upgrade: all 1.0.1, from workers $(tr ' ' '\n' <<<"$answered" | sort -u | grep . | tr '\n' ' ')"
out=$(ping_until_ok) || fail "GET /api/wechat/ping did not answer after the upgrade: $out"
note "GET http://127.0.0.1/api/wechat/ping -> $out"
[ "$(json version <<<"$out")" = "1.0.1$suffix" ] || fail "the app does not report version 1.0.1$suffix: $out"
[ "$(json greeting <<<"$out")" = "edited by the admin" ] || fail "the edited greeting is not served: $out"
[ "$(json master_pid <<<"$out")" = "$master2" ] || fail "answered by another uWSGI than pid $master2: $out"
ok "serves version 1.0.1 with the admin's greeting"
# Only `version` changed: no conffile may differ, or every upgrade asks the
# admins who edited one (dpkg keeps theirs and leaves the new one beside it).
dist=$(find "$root/etc" \( -name '*.dpkg-dist' -o -name '*.dpkg-new' \) | sed "s|^$root||")
if [ -n "$dist" ]; then
	soft_fail "conffiles changed by a version bump alone (dpkg left ${dist//$'\n'/, }): a generated conffile must not embed the version"
else
	ok "no conffile changed with the version (no .dpkg-dist)"
fi
# Negative control: the same load across a plain stop and start (what an
# upgrade did before) must show failures, or this step could not fail.
load_start restart
logged plain-restart inroot sh -c "/etc/init.d/$package stop && /etc/init.d/$package start"
sleep 1
load_stop restart
read -r sent_r failed_r <"$logs/restart.load"
note "the same load across a plain stop and start: $sent_r requests, $failed_r failed"
[ "$failed_r" -gt 0 ] || fail "no request failed across a plain stop/start: the load cannot see downtime"
ok "negative control: a plain stop/start fails $failed_r of $sent_r requests"
master2=$(pidfile_pid "/run/$package.pid") || fail "the service is not running after the stop/start"

# A broken version (its views raise at import): postinst's preflight stops
# it before it takes traffic. The upgrade fails naming the error, requests
# keep succeeding, no worker is replaced, the old code still answers; then a
# fixed version completes the upgrade.
cp "$app/wechat/views.py" "$work/views.py.good"
echo 'raise RuntimeError("broken on purpose")' >>"$app/wechat/views.py"
set_version 1.0.1 1.0.2
# make runs the preflight postinst runs: it refuses to build it, naming the
# error, and writes no package...
if "$make" "${MAKEARGS[@]}" >"$logs/make-1.0.2-refused.log" 2>&1; then
	fail "make built the broken 1.0.2 (log: $logs/make-1.0.2-refused.log)"
fi
grep -q "stage-django: error: .*preflight failed: .*broken on purpose" "$logs/make-1.0.2-refused.log" \
	|| fail "make's refusal does not name the error (log: $logs/make-1.0.2-refused.log)"
if compgen -G "$repo/*wechat-api_1.0.2*.deb" >/dev/null || compgen -G "$repo/pool/main/w/wechat-api/*_1.0.2*.deb" >/dev/null; then
	fail "make wrote a .deb of the broken 1.0.2"
fi
ok "make refuses the broken 1.0.2: $(grep -m1 -o 'preflight failed: .*' "$logs/make-1.0.2-refused.log")"
# ...and one built anyway (the preflight skipped) is refused by postinst.
logged make-1.0.2 "$make" "${MAKEARGS[@]}" STAGE_DJANGO_FLAGS=--no-check
logged apt-update-3 inroot apt-get -q --error-on=any update
workers_b=$(workers_of "$master2")
uwsgi_log=$root/var/log/uwsgi/wechat.log
log_b=$(stat -c %s "$uwsgi_log")
load_start broken
if inroot "${APT[@]}" -o Dpkg::Options::=--force-confold upgrade >"$logs/apt-broken.log" 2>&1; then
	fail "the upgrade to the broken 1.0.2 succeeded (log: $logs/apt-broken.log)"
fi
load_stop broken
read -r sent_b failed_b <"$logs/broken.load"
grep -q "$package: the new version does not import.*broken on purpose" "$logs/apt-broken.log" \
	|| fail "postinst did not name the error (log: $logs/apt-broken.log)"
note "$(grep -m1 "$package: the new version does not import" "$logs/apt-broken.log")"
[ "$failed_b" -eq 0 ] || fail "$failed_b of $sent_b requests failed while the broken upgrade ran: $(cat "$logs/broken.load-errors")"
# No reload may have happened. A worker may still have been recycled by
# max_requests (the load sends tens of thousands of requests): uWSGI says so
# of each ("The work of process PID is done"), and only those may be gone.
log_broken=$(tail -c +"$((log_b + 1))" "$uwsgi_log")
if grep -qi 'gracefully killing worker' <<<"$log_broken"; then
	fail "the broken upgrade reloaded uWSGI: $(grep -i -m1 'gracefully killing worker' <<<"$log_broken")"
fi
workers_a=$(workers_of "$master2") recycled=0
for pid in $(comm -23 <(echo "$workers_b") <(echo "$workers_a")); do
	grep -q "The work of process $pid is done" <<<"$log_broken" \
		|| fail "the broken version replaced workers: $(oneline "$workers_b") -> $(oneline "$workers_a") ($pid was not recycled by max_requests)"
	recycled=$((recycled + 1))
done
out=$(ping_app) || fail "GET /api/wechat/ping failed after the broken upgrade: $out"
[ "$(json version <<<"$out")" = "1.0.1$suffix" ] || fail "not the old version answering after the broken upgrade: $out"
[ "$(inroot dpkg-query -W -f='${Status}' "$package")" = "install ok half-configured" ] \
	|| fail "dpkg status after the broken upgrade: $(inroot dpkg-query -W -f='${Status}' "$package")"
ok "broken 1.0.2 refused by postinst: $sent_b requests, none failed, 1.0.1 still serves from the same workers (no reload; $recycled recycled by max_requests)"
cp "$work/views.py.good" "$app/wechat/views.py"
set_version 1.0.2 1.0.3
logged make-1.0.3 "$make" "${MAKEARGS[@]}"
logged apt-update-4 inroot apt-get -q --error-on=any update
logged apt-fixed inroot "${APT[@]}" -o Dpkg::Options::=--force-confold upgrade
out=$(ping_until_ok) || fail "GET /api/wechat/ping did not answer after the fixed upgrade: $out"
[ "$(json version <<<"$out")" = "1.0.3$suffix" ] || fail "the fixed 1.0.3$suffix does not answer: $out"
ok "the fixed 1.0.3 completes the upgrade and answers"
pass

# --- step 4: remove ------------------------------------------------------------

begin 4 "apt-get remove $package: service stopped, program gone, conffiles kept"
inroot dpkg -L "$package" >"$work/files.txt"
inroot dpkg-query -W -f='${Conffiles}\n' "$package" | awk 'NF { print $1 }' >"$work/conffiles.txt"
[ -s "$work/conffiles.txt" ] || fail "dpkg lists no conffiles for $package"
pids=$(uwsgi_pids | tr '\n' ' ')
[ -n "$pids" ] || fail "no uWSGI process before the removal"
note "$(wc -l <"$work/files.txt") paths in dpkg -L, $(wc -l <"$work/conffiles.txt") conffiles; uWSGI pids: $pids"
logged apt-remove inroot "${APT[@]}" remove "$package"
check_apt_log "$logs/apt-remove.log"
st=$(inroot dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
[ "$st" = config-files ] || fail "dpkg status of $package after remove: $st (want config-files)"
ok "dpkg: $package removed, its conffiles kept (status config-files)"
left=$(uwsgi_pids | tr '\n' ' ')
[ -z "$left" ] || fail "uWSGI processes left after remove: $left"
ok "the service stopped: no uWSGI process left"
missing=$(while IFS= read -r f; do [ -e "$root$f" ] || echo "$f"; done <"$work/conffiles.txt")
[ -z "$missing" ] || fail "conffiles gone after remove (only purge may take them): ${missing//$'\n'/, }"
ok "every conffile is still there: $(tr '\n' ' ' <"$work/conffiles.txt")"
# Files and symlinks: -L first, as a dangling link is a leftover too; but a
# link to a directory (/lib -> usr/lib, merged /usr) is the system's.
kept=$(grep -vxF -f "$work/conffiles.txt" "$work/files.txt" | while IFS= read -r f; do
	if [ -L "$root$f" ]; then
		[ -d "$root$f" ] || echo "$f"
	elif [ -f "$root$f" ]; then
		echo "$f"
	fi
done)
[ -z "$kept" ] || fail "files of the package left after remove: $(head -5 <<<"$kept" | tr '\n' ' ')"
[ ! -e "$root$venv/bin/uwsgi" ] || fail "$venv/bin/uwsgi is still there"
ok "no file of the package is left but its conffiles"
[ -f "$root/var/log/uwsgi/wechat.log" ] || fail "the log went with remove (only purge may take it)"
ok "the log is kept"
inroot "/etc/init.d/$package" start >"$logs/init-after-remove.log" 2>&1 \
	|| fail "/etc/init.d/$package start fails once the package is removed (log: $logs/init-after-remove.log)"
[ -z "$(uwsgi_pids)" ] || fail "/etc/init.d/$package start started something after the removal"
ok "the init script left behind exits 0 and starts nothing (the program is gone)"
inroot nginx -t >"$logs/nginx-t-remove.log" 2>&1 || fail "nginx -t fails after remove (log: $logs/nginx-t-remove.log)"
ok "nginx -t still passes"
pass

# --- step 5: purge -------------------------------------------------------------

begin 5 "apt-get purge $package: no file, log or socket left"
purge_package
ok "dpkg: $package not installed"

# Every path the package had, plus what its scripts and service made, is
# gone, but for directories that other packages own (/etc, /opt, ...).
{
	cat "$work/files.txt"
	printf '%s\n' /var/log/uwsgi/wechat.log "/run/$package" "/run/$package.pid" \
		/etc/wechat /opt/www/wechat "$venv" "/etc/default/$package" \
		"/etc/systemd/system/multi-user.target.wants/$package.service" \
		"/var/lib/systemd/deb-systemd-helper-enabled/$package.service.dsh-also" \
		"/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/$package.service"
	find "$root/etc" -path "$root/etc/rc?.d/*$package" | sed "s|^$root||"
} | sort -u >"$work/expected-gone.txt"
left=$(purge_leftovers "$work/expected-gone.txt")
[ -z "$left" ] || fail "left behind after purge: $(tr '\n' ' ' <<<"$left")"
ok "none of the $(wc -l <"$work/expected-gone.txt") paths is left (but directories other packages own)"
inroot nginx -t >"$logs/nginx-t.log" 2>&1 || fail "nginx -t fails after the purge (log: $logs/nginx-t.log)"
ok "nginx -t still passes"
# Directories of the fresh system that are gone: dpkg itself removes an
# empty directory the package listed when no other package owns it (base-files
# makes /opt in its postinst but does not own it); a package built by
# dpkg-deb behaves the same, and mkdeb matches dpkg-deb. Anything else gone
# was removed by our maintainer scripts: that fails.
by_us=$(dirs_gone)
if [ -n "$by_us" ]; then
	soft_fail "the purge removed directories the fresh system had: ${by_us//$'\n'/, }"
else
	ok "every directory of the fresh system is still there, but for empty unowned ones the package listed, which dpkg removes: ${gone:-none}"
fi
pass
