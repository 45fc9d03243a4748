#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats are literal
# End-to-end test of debpipe: build the example app's package and a signed
# flat apt repository with `make`, then install, upgrade and purge it with
# apt in a fresh Debian 12 root that has no Rust, no pip and no build tools.
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
#      changed); apt-get upgrade keeps the edit, the service restarts (new
#      master pid) and serves version 1.0.1 with the edited greeting;
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
set -eEuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
example=$top/examples/wechat

bin=${DEBPIPE_BIN:-}
keep=${KEEP:-0}
while [ $# -gt 0 ]; do
	case $1 in
		--bin) bin=${2:?--bin needs a directory}; shift 2 ;;
		--bin=*) bin=${1#--bin=}; shift ;;
		--keep) keep=1; shift ;;
		-h|--help) sed -n '3,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
		*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -z "$bin" ] || bin=$(cd "$bin" && pwd)

cache=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/e2e
make=${MAKE:-make}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

package=wechat-api
venv=/opt/www/venvs/$package
host=wechat.example.com

# --- reporting ---------------------------------------------------------------

t_start=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
STEP="" STEP_DESC="" STEP_T="" FAILED=0 err_cmd="" err_line=""
RESULTS=()
trap 'err_cmd=$BASH_COMMAND; err_line=$LINENO' ERR

begin() {
	STEP=$1 STEP_DESC=$2 STEP_T=$EPOCHREALTIME
	echo
	echo "=== step $STEP: $STEP_DESC"
}
pass() {
	local line
	if [ ${#SOFT[@]} -gt 0 ]; then
		line="FAIL step $STEP: $STEP_DESC ($(since "$STEP_T")s): $(printf '%s; ' "${SOFT[@]}")"
		line=${line%; }
		echo "$line" >&2
		FAILED=1 SOFT=()
	else
		line="PASS step $STEP: $STEP_DESC ($(since "$STEP_T")s)"
		echo "$line"
	fi
	RESULTS+=("$line")
	STEP=""
}
# A failed check that leaves the root usable: the step fails, the next run.
SOFT=()
soft_fail() {
	echo "    FAILED: $*" >&2
	SOFT+=("$*")
}
fail() {
	local line
	line="FAIL step $STEP: $STEP_DESC ($(since "$STEP_T")s): $*"
	echo "$line" >&2
	RESULTS+=("$line")
	FAILED=1 STEP=""
	exit 1
}
note() { echo "    $*"; }
ok() { echo "    ok: $*"; }

# Run a command with its output in logs/NAME.log, each line stamped with the
# time since the command started; on failure show the log's tail and fail.
logged() {
	local name=$1 log s rc=0
	shift
	log=$logs/$name.log
	s=$EPOCHREALTIME
	# In the background and waited for, so that a signal is handled at once
	# (cleanup then stops the command: it is one of the test's descendants).
	("$@" </dev/null 9>&- 2>&1 | stamp "$s" >"$log") &
	wait $! || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "    --- last lines of $log:" >&2
		tail -n 40 "$log" | sed 's/^/    | /' >&2
		fail "\`$*\` exited $rc (log: $log)"
	fi
	note "$name: $(since "$s")s (log: $log)"
}
stamp() {
	local line
	while IFS= read -r line; do
		printf '[%6.1fs] %s\n' "$(since "$1")" "$line"
	done
}

# --- the root ----------------------------------------------------------------

# A command in the root, with a clean environment (nothing of the host's
# Python, Rust or pyenv set-up leaks in).
inroot() {
	chroot "$root" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@" 9>&-
}
APT=(apt-get -q -y -o Dpkg::Use-Pty=0 -o APT::Color=0)

# Pids of the processes whose root directory is the test's root.
root_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
	done
	return 0
}
# Pids of processes running the package's uWSGI (also once deleted).
uwsgi_pids() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case $exe in "$root$venv/bin/uwsgi"*) echo "${p#/proc/}" ;; esac
	done
	return 0
}
# The pid in a pidfile of the root, if that process lives in the root.
pidfile_pid() {
	local pid
	pid=$(cat "$root$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] || return 1
	echo "$pid"
}

ping_app() {
	curl -sS --max-time 10 -H "Host: $host" "http://127.0.0.1:80/api/wechat/ping"
}
# ping until it answers 200 (the service may still be loading), at most ~15 s.
ping_until_ok() {
	local i out
	for i in $(seq 1 30); do
		if out=$(ping_app 2>&1) && [ "$(printf '%s' "$out" | json status 2>/dev/null)" = ok ]; then
			printf '%s' "$out"
			return 0
		fi
		sleep 0.5
	done
	printf '%s' "$out"
	return 1
}
json() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Problems a maintainer script or apt reports without failing the run.
check_apt_log() {
	local bad
	bad=$(grep -E 'dpkg: error|returned error exit status|Errors were encountered|^\S* *E: |nginx reload failed|Traceback|called with unknown argument|invoke-rc.d: .*(failed|denied)|initscript .* exited with|updateconfig: error|No such file or directory' "$1" || true)
	[ -z "$bad" ] || fail "errors in $1:"$'\n'"$bad"
	grep -iE 'warning' "$1" | sed 's/^/    note: /' || true
}

# --- cleanup -----------------------------------------------------------------

work="" root="" http_pid="" gnupg=""
MOUNTS=()

stop_pid() { # stop_pid PID: TERM, wait up to 10 s, then KILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# Pids of every process below PID (children, their children...).
descendants() {
	ps -e -o pid= -o ppid= | awk -v top="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			queue = top
			while (queue != "") {
				n = split(queue, q, " "); queue = ""
				for (i = 1; i <= n; i++) {
					m = split(kids[q[i]], k, " ")
					for (j = 1; j <= m; j++) { print k[j]; queue = queue " " k[j] }
				}
			}
		}'
}

cleanup() {
	local rc=$? m pid left
	set +e
	trap - ERR INT TERM
	# A command still running when a signal came (make, apt-get...).
	for pid in $(descendants $$); do
		[ "$pid" = "$http_pid" ] || stop_pid "$pid"
	done
	if [ -n "$STEP" ]; then # a command failed (set -e) or a signal came
		local line
		case $err_cmd in
			interrupted*) line="FAIL step $STEP: $STEP_DESC ($(since "$STEP_T")s): $err_cmd" ;;
			*) line="FAIL step $STEP: $STEP_DESC ($(since "$STEP_T")s): \`$err_cmd\` failed (line $err_line)" ;;
		esac
		echo "$line" >&2
		RESULTS+=("$line")
		FAILED=1
	fi
	[ "$FAILED" = 0 ] || rc=1
	if [ -n "$root" ] && [ -d "$root" ]; then
		# The package's uWSGI and nginx by their pidfiles, then whatever else
		# still runs in the root (every process there is the test's doing).
		for m in /run/$package.pid /run/nginx.pid; do
			pid=$(pidfile_pid "$m") && { echo "cleanup: stopping pid $pid ($m)"; stop_pid "$pid"; }
		done
		for pid in $(root_pids); do
			echo "cleanup: stopping pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"
			stop_pid "$pid"
		done
	fi
	if [ -n "$http_pid" ]; then
		echo "cleanup: stopping the HTTP server (pid $http_pid)"
		stop_pid "$http_pid"
	fi
	if [ -n "$gnupg" ] && [ -d "$gnupg" ]; then
		gpgconf --homedir "$gnupg" --kill all 2>/dev/null
	fi
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		umount "$m" 2>/dev/null || umount -l "$m" || echo "cleanup: could not unmount $m" >&2
	done
	if [ -n "$work" ] && [ -d "$work" ]; then
		left=$(awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts)
		if [ -n "$left" ]; then
			echo "cleanup: still mounted, not removing $work:"$'\n'"$left" >&2
			rc=1
		elif [ "$keep" = 1 ]; then
			echo "cleanup: kept $work (root, repo, logs)"
		elif [ "$rc" != 0 ]; then
			rm -rf --one-file-system "$root"
			echo "cleanup: kept $work (logs, repo, app; the root is removed: --keep keeps it)"
		else
			rm -rf --one-file-system "$work"
		fi
	fi
	echo
	echo "=== e2e summary ($(since "$t_start")s)"
	for m in "${RESULTS[@]}"; do echo "$m"; done
	if [ "$rc" = 0 ]; then echo "e2e: PASS"; else echo "e2e: FAIL"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'err_cmd="interrupted by SIGINT"; exit 130' INT
trap 'err_cmd="interrupted by SIGTERM"; exit 143' TERM

# --- step 0: the repository --------------------------------------------------

begin 0 "build wechat-api 1.0.0 into a signed repository with make, serve it"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
for c in debootstrap zstd gpg gpgv curl chroot mount flock "$make" "$py"; do
	command -v "$c" >/dev/null || fail "$c is not installed (scripts/install-deps)"
done
mkdir -p "$cache"
exec 9>"$cache/lock"
flock -n 9 || fail "another e2e run holds $cache/lock"
# (fd 9 is closed for every command the test starts: a daemon must not keep
# the lock after the run.)
if busy=$(ss -Hltn 'sport = :80' 2>/dev/null) && [ -n "$busy" ]; then
	fail "port 80 is taken on this machine (the root's nginx needs it):"$'\n'"$busy"
fi
ok "port 80 is free"

work=$(mktemp -d "${TMPDIR:-/tmp}/debpipe-e2e.XXXXXX")
work=$(realpath "$work")
root=$work/root logs=$work/logs app=$work/app repo=$work/repo gnupg=$work/gnupg
mkdir -p "$logs" "$repo"
note "work directory: $work"

logged mkroot "$here/mkroot.sh" "$root"
ok "fresh Debian 12 minbase root in $root"

mkdir -m 0700 "$gnupg"
logged gpg-key gpg --batch --homedir "$gnupg" --passphrase '' \
	--quick-gen-key 'debpipe e2e <e2e@debpipe.invalid>' ed25519 sign 1d
fpr=$(gpg --homedir "$gnupg" --with-colons --list-secret-keys 2>>"$logs/gpg-key.log" | awk -F: '$1 == "fpr" { print $10; exit }')
[ -n "$fpr" ] || fail "no key in $gnupg"
gpg --homedir "$gnupg" --export "$fpr" >"$work/debpipe.gpg"
ok "throwaway signing key $fpr"

# The app: a copy of examples/wechat (mtimes kept), with the cached wheelhouse.
mkdir "$app"
tar -C "$example" --exclude=./wheels --exclude=__pycache__ --exclude=./config/generated.json \
	-cf - . | tar -C "$app" -xpf -
mkdir -p "$cache/wheels"
ln -s "$cache/wheels" "$app/wheels"
MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "BUILD=$work/build" "REPO_KEY=$fpr" "GNUPGHOME=$gnupg")
[ -z "$bin" ] || MAKEARGS+=("T=$bin")
if [ ! -e "$cache/wheels/.filled" ]; then
	logged make-wheels "$make" "${MAKEARGS[@]}" wheels
fi

logged make-1.0.0 "$make" "${MAKEARGS[@]}"
grep -E '==>|^\[.*\] (deb|.*: deb) ' "$logs/make-1.0.0.log" | sed 's/^/    /'
grep -qE '(^|[: ])deb (\[[^]]*\] )?https?://' "$logs/make-1.0.0.log" \
	|| fail "make printed no sources.list \`deb\` line (log: $logs/make-1.0.0.log)"
for f in Packages Packages.gz Release InRelease Release.gpg; do
	[ -s "$repo/$f" ] || fail "the repository has no $f (make REPO_KEY=... must sign it)"
done
gpgv --keyring "$work/debpipe.gpg" "$repo/InRelease" 2>"$logs/gpgv.log" \
	|| fail "InRelease does not verify with the key (log: $logs/gpgv.log)"
gpgv --keyring "$work/debpipe.gpg" "$repo/Release.gpg" "$repo/Release" 2>>"$logs/gpgv.log" \
	|| fail "Release.gpg does not verify with the key (log: $logs/gpgv.log)"
grep -q '^Version: 1.0.0$' "$repo/Packages" || fail "Packages does not list version 1.0.0"
ok "repository $repo: Packages, Packages.gz, Release, InRelease, Release.gpg (signatures verify)"
# `make sign`, as a user who built unsigned and signs afterwards would run it.
rm -f "$repo/InRelease" "$repo/Release.gpg"
logged make-sign "$make" "${MAKEARGS[@]}" sign
gpgv --keyring "$work/debpipe.gpg" "$repo/InRelease" 2>>"$logs/gpgv.log" \
	|| fail "make sign wrote no InRelease that verifies (log: $logs/gpgv.log)"
gpgv --keyring "$work/debpipe.gpg" "$repo/Release.gpg" "$repo/Release" 2>>"$logs/gpgv.log" \
	|| fail "make sign wrote no Release.gpg that verifies (log: $logs/gpgv.log)"
ok "make sign signed the repository again (InRelease, Release.gpg verify)"
deb=$(cat "$work/build/deb-path")
lintian --fail-on error "$deb" >"$logs/lintian.log" 2>&1 \
	|| fail "lintian reports errors on $deb: $(grep '^E:' "$logs/lintian.log" | head -3 | tr '\n' ' ')"
ok "lintian: no error on $(basename "$deb") ($(grep -c '^W:' "$logs/lintian.log" || true) warnings, log: $logs/lintian.log)"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# `make serve` (python3 -m http.server in the repository; cleanup stops it
# and make).
"$make" "${MAKEARGS[@]}" PORT="$port" serve </dev/null >"$logs/http.log" 2>&1 9>&- &
http_pid=$!
# (make checks the build is up to date first: allow it 30 s.)
for _ in $(seq 1 300); do
	curl -sf -o /dev/null "http://127.0.0.1:$port/Release" && break
	kill -0 "$http_pid" 2>/dev/null || fail "the HTTP server died (log: $logs/http.log)"
	sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$port/Release" || fail "the HTTP server does not answer on port $port"
ok "make serve: http://127.0.0.1:$port/ (make pid $http_pid)"
pass

# --- step 1: install -----------------------------------------------------------

begin 1 "apt-get install $package in the fresh root: signed repo, dependencies from the mirror"
# The fresh root's directories, to check that the purge takes none of them.
(cd "$root" && find . -xdev -type d ! -path './run/*' ! -path './tmp/*' | sed 's|^\.||' | sort) >"$work/dirs-before.txt"
mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
mount -t sysfs -o ro sysfs "$root/sys" && MOUNTS+=("$root/sys")
mount --bind /dev/pts "$root/dev/pts" && MOUNTS+=("$root/dev/pts")
if [ "${E2E_APT_CACHE:-1}" = 1 ]; then
	mkdir -p "$cache/apt-archives/partial"
	rm -f "$cache/apt-archives/${package}_"*.deb
	mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" \
		&& MOUNTS+=("$root/var/cache/apt/archives")
	note "apt's .deb cache: $cache/apt-archives (E2E_APT_CACHE=0 turns it off)"
fi
[ ! -d "$root/run/systemd/system" ] || fail "systemd runs in the root"
for tool in cargo rustc pip pip3 gcc make; do
	! inroot sh -c "command -v $tool" >/dev/null || fail "the root has $tool: it must be a target machine"
done
ok "the root has no systemd, no Rust, no pip, no build tools"

install -d -m 0755 "$root/etc/apt/keyrings"
install -m 0644 "$work/debpipe.gpg" "$root/etc/apt/keyrings/debpipe.gpg"
echo "deb [signed-by=/etc/apt/keyrings/debpipe.gpg] http://127.0.0.1:$port/ ./" \
	>"$root/etc/apt/sources.list.d/debpipe.list"
note "sources: $(cat "$root/etc/apt/sources.list.d/debpipe.list")"
logged apt-update-1 inroot apt-get -q --error-on=any update
grep -q "127.0.0.1:$port ./ InRelease" "$logs/apt-update-1.log" \
	|| fail "apt did not fetch the repository's InRelease (log: $logs/apt-update-1.log)"
ok "apt-get update verified the signed repository"

logged apt-install inroot "${APT[@]}" install "$package"
check_apt_log "$logs/apt-install.log"
grep -q "Setting up $package (1.0.0)" "$logs/apt-install.log" || fail "$package 1.0.0 was not set up"
notok=$(inroot dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | grep -v '^ii ' || true)
[ -z "$notok" ] || fail "packages not fully installed:"$'\n'"$notok"
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
[ "$(readlink "$root$wants")" = "/lib/systemd/system/$package.service" ] \
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
[ "$(json version <<<"$out")" = 1.0.0 ] || fail "version is not 1.0.0: $out"
[ "$(json master_pid <<<"$out")" = "$master1" ] || fail "answered by another uWSGI than pid $master1: $out"
ok "the greeting comes from /etc/wechat/wechat.yaml through the config hook; version 1.0.0"
pass

# --- step 3: upgrade -----------------------------------------------------------

begin 3 "edit the conffile, make 1.0.1, apt-get upgrade: restart on the new code, edit kept"
sed -i 's/^greeting:.*/greeting: edited by the admin/' "$root/etc/wechat/wechat.yaml"
cp "$root/etc/wechat/wechat.yaml" "$work/wechat.yaml.edited"
grep -q '^greeting: edited by the admin$' "$work/wechat.yaml.edited" || fail "could not edit the conffile"
nginx_conf=/etc/nginx/conf.d/$package.conf
echo "# edited by the admin" >>"$root$nginx_conf"
cp "$root$nginx_conf" "$work/nginx.conf.edited"
ok "edited /etc/wechat/wechat.yaml and $nginx_conf"
sed -i 's/"version": *"1\.0\.0"/"version": "1.0.1"/' "$app/app.json"
grep -q '"version": "1.0.1"' "$app/app.json" || fail "could not set version 1.0.1 in $app/app.json"
logged make-1.0.1 "$make" "${MAKEARGS[@]}"
grep -E '==>' "$logs/make-1.0.1.log" | sed 's/^/    /'
grep -q '^Version: 1.0.1$' "$repo/Packages" || fail "Packages does not list version 1.0.1"
logged apt-update-2 inroot apt-get -q --error-on=any update
logged apt-upgrade inroot "${APT[@]}" -o Dpkg::Options::=--force-confold upgrade
check_apt_log "$logs/apt-upgrade.log"
grep -q "Setting up $package (1.0.1)" "$logs/apt-upgrade.log" || fail "$package was not upgraded to 1.0.1"
[ "$(inroot dpkg-query -W -f='${Version}' "$package")" = 1.0.1 ] || fail "dpkg does not have 1.0.1 installed"
ok "upgraded to 1.0.1"
cmp -s "$work/wechat.yaml.edited" "$root/etc/wechat/wechat.yaml" || fail "the edited conffile was changed by the upgrade"
cmp -s "$work/nginx.conf.edited" "$root$nginx_conf" || fail "the edited $nginx_conf was changed by the upgrade"
ok "the edited conffiles survived"
master2=$(pidfile_pid "/run/$package.pid") || fail "the service is not running after the upgrade"
[ "$master2" != "$master1" ] || fail "the uWSGI master is still pid $master1: the service was not restarted"
! kill -0 "$master1" 2>/dev/null || [ "$(readlink "/proc/$master1/root")" != "$root" ] \
	|| fail "the old uWSGI master $master1 still runs"
ok "restarted: uWSGI master $master1 -> $master2"
out=$(ping_until_ok) || fail "GET /api/wechat/ping did not answer after the upgrade: $out"
note "GET http://127.0.0.1/api/wechat/ping -> $out"
[ "$(json version <<<"$out")" = 1.0.1 ] || fail "the app does not report version 1.0.1: $out"
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
logged apt-purge inroot "${APT[@]}" purge "$package"
check_apt_log "$logs/apt-purge.log"
st=$(inroot dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
[ -z "$st" ] || [ "$st" = not-installed ] || fail "dpkg status of $package after purge: $st"
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
existing=()
while IFS= read -r p; do
	if [ -z "$p" ] || [ "$p" = /. ]; then continue; fi
	if [ -e "$root$p" ] || [ -L "$root$p" ]; then existing+=("$p"); fi
done <"$work/expected-gone.txt"
leftovers=()
if [ ${#existing[@]} -gt 0 ]; then
	owned=$(inroot dpkg-query -S "${existing[@]}" 2>/dev/null | sed -n 's|^.*: /|/|p' || true)
	for p in "${existing[@]}"; do
		if [ -d "$root$p" ] && grep -qxF "$p" <<<"$owned"; then
			continue # a directory another package owns
		fi
		leftovers+=("$p")
	done
fi
[ ${#leftovers[@]} -eq 0 ] || fail "left behind after purge:"$'\n'"$(printf '  %s\n' "${leftovers[@]}")"
ok "none of the $(wc -l <"$work/expected-gone.txt") paths is left (but directories other packages own)"
inroot nginx -t >"$logs/nginx-t.log" 2>&1 || fail "nginx -t fails after the purge (log: $logs/nginx-t.log)"
ok "nginx -t still passes"
# Directories of the fresh system that are gone: dpkg itself removes an
# empty directory the package listed when no other package owns it (base-files
# makes /opt in its postinst but does not own it); a package built by
# dpkg-deb behaves the same, and mkdeb matches dpkg-deb. Anything else gone
# was removed by our maintainer scripts: that fails.
gone=$(while IFS= read -r d; do [ -d "$root$d" ] || echo "$d"; done <"$work/dirs-before.txt")
by_us=$(grep -vxF -f "$work/files.txt" <<<"$gone" || true)
if [ -n "$by_us" ]; then
	soft_fail "the purge removed directories the fresh system had: ${by_us//$'\n'/, }"
else
	ok "every directory of the fresh system is still there, but for empty unowned ones the package listed, which dpkg removes: ${gone:-none}"
fi
pass
