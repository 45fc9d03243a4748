# shellcheck shell=bash
# Shared by the end-to-end tests that install a package into a fresh Debian
# root (every tests/*/run.sh), after tests/lib.sh (the prologue, reporting
# and the cleanup): load through nginx, the root's mounts, commands in the
# root, its processes, what a purge left, apt's log; and the cleanup's part
# that stops every process in the root and undoes every mount.
#
# Source it after setting package (the Debian package under test) and venv
# (its venv's path); then set root (the fresh root) and add each mount to
# MOUNTS as the test goes.
# shellcheck disable=SC2154 # the variables above are the caller's
# shellcheck disable=SC2034 # APT, ... are used by the callers

# --- load --------------------------------------------------------------------

# Load through nginx while something happens (load.py: 8 keep-alive
# connections, a 60 s timeout, so a request that waits in the socket's
# backlog is not a failure but a refused or failed one is), on
# http://127.0.0.1$LOAD_PATH with Host: $host.
# load_start NAME; ...; load_stop NAME leaves "SENT FAILED" in $logs/NAME.load.
lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
load_start() {
	rm -f "$work/$1.stop"
	"$py" "$lib_dir/load.py" "http://127.0.0.1$LOAD_PATH" "$host" 8 "$work/$1.stop" \
		>"$logs/$1.load" 2>"$logs/$1.load-errors" &
	load_pid=$!
	sleep 1
}
load_stop() {
	touch "$work/$1.stop"
	wait "$load_pid" || fail "the load generator failed: $(cat "$logs/$1.load-errors")"
}

# --- the root ----------------------------------------------------------------

# /proc, /sys and /dev/pts in the root, and (unless E2E_APT_CACHE=0) the
# .debs apt downloads kept in DIR/apt-archives across runs, minus the
# package under test's own; every mount goes to MOUNTS for the cleanup.
mount_root() {
	local cache_dir=$1
	mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
	mount -t sysfs -o ro sysfs "$root/sys" && MOUNTS+=("$root/sys")
	mount --bind /dev/pts "$root/dev/pts" && MOUNTS+=("$root/dev/pts")
	# A booted Debian has a tmpfs /dev/shm open to all (1777): POSIX
	# semaphores live there (Celery's prefork pool makes them).
	mkdir -p "$root/dev/shm"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm" && MOUNTS+=("$root/dev/shm")
	if [ "${E2E_APT_CACHE:-1}" = 1 ]; then
		mkdir -p "$cache_dir/apt-archives/partial"
		rm -f "$cache_dir/apt-archives/${package}_"*.deb
		mount --bind "$cache_dir/apt-archives" "$root/var/cache/apt/archives" \
			&& MOUNTS+=("$root/var/cache/apt/archives")
		note "apt's .deb cache: $cache_dir/apt-archives (E2E_APT_CACHE=0 turns it off)"
	fi
}
# mkroot_start DIST: lay the fresh root of DIST in $root (mkroot.sh) in the
# background, while the package builds; mkroot_wait waits for it.
mkroot_start() {
	mkroot_dist=$1
	("$lib_dir/mkroot.sh" "$root" "$1" </dev/null >"$logs/mkroot.log" 2>&1 9>&-) &
	mkroot_pid=$!
}
mkroot_wait() {
	wait "$mkroot_pid" || fail "mkroot.sh failed (log: $logs/mkroot.log)"
	ok "fresh Debian $mkroot_dist minbase root in $root"
}
# serve_repo DIR PATH: python's http.server (as `make serve` runs it) in DIR
# on a free port of 127.0.0.1 (sets port and http_pid), once it serves PATH.
serve_repo() {
	port=$(free_port)
	(cd "$1" && exec "$py" -m http.server --bind 127.0.0.1 "$port") </dev/null >"$logs/http.log" 2>&1 9>&- &
	http_pid=$!
	for _ in $(seq 1 300); do
		curl -sf -o /dev/null "http://127.0.0.1:$port$2" && break
		kill -0 "$http_pid" 2>/dev/null || fail "the HTTP server died (log: $logs/http.log)"
		sleep 0.1
	done
	curl -sf -o /dev/null "http://127.0.0.1:$port$2" || fail "the HTTP server does not answer on port $port"
	ok "the repository is served on http://127.0.0.1:$port/"
}
# Fail unless port 80 is free (the root shares the host's network).
need_port_80() {
	local busy
	if busy=$(ss -Hltn 'sport = :80' 2>/dev/null) && [ -n "$busy" ]; then
		fail "port 80 is taken on this machine (the root's nginx needs it):"$'\n'"$busy"
	fi
}
# GET PATH through the root's nginx (Host: $host): the body in FILE, the
# status on stdout; more curl arguments may follow. HTTP_TIMEOUT: seconds
# (default 20).
http_get() {
	curl -sS --max-time "${HTTP_TIMEOUT:-20}" -H "Host: $host" -o "$2" -w '%{http_code}' "${@:3}" "http://127.0.0.1:80$1"
}
# GET PATH until it answers 200 (the service may still be loading): the
# last status. HTTP_TRIES: how many, 0.5 s apart (default 30).
get_until_ok() {
	local code=""
	for _ in $(seq 1 "${HTTP_TRIES:-30}"); do
		code=$(http_get "$@" 2>/dev/null) || code=000
		[ "$code" != 200 ] || break
		sleep 0.5
	done
	echo "$code"
}
# upload_served USER FILE URL: FILE of the root, written by USER (the
# service user, as the app writes its media), is served by nginx at URL
# with its bytes ($work/upload.txt).
upload_served() {
	local code
	echo "uploaded before the upgrade $$" >"$work/upload.txt"
	# shellcheck disable=SC2016 # the inner script's own arguments
	inroot setpriv --reuid="$1" --regid="$1" --init-groups sh -c \
		'mkdir -p "${1%/*}" && cat >"$1"' sh "$2" <"$work/upload.txt" \
		|| fail "$1 cannot write $2"
	upload_still_served "$3" "(nginx cannot read ${2%/*}?)"
}
# upload_still_served URL [WHEN]: GET URL answers 200 with the upload's bytes.
upload_still_served() {
	local code
	code=$(http_get "$1" "$work/upload.out")
	[ "$code" = 200 ] || fail "GET $1 answered HTTP $code, not 200 ${2:-}"
	cmp -s "$work/upload.out" "$work/upload.txt" || fail "GET $1 is not the upload ${2:-}"
}
# A field of the JSON on stdin.
# GET $LOAD_PATH through nginx (Host: $host).
ping_app() { curl -sS --max-time 10 -H "Host: $host" "http://127.0.0.1:80$LOAD_PATH"; }
# ping_field_until FIELD VALUE: the app's answer once its JSON FIELD is VALUE
# (the service may still be loading), within ~15 s.
ping_field_until() {
	local out
	for _ in $(seq 1 30); do
		if out=$(ping_app 2>&1) && [ "$(printf '%s' "$out" | json "$1" 2>/dev/null)" = "$2" ]; then
			printf '%s' "$out"
			return 0
		fi
		sleep 0.5
	done
	printf '%s' "$out"
	return 1
}
# The app's answer once it reports version VERSION.
ping_until() { ping_field_until version "$1"; }
json() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

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

# The fresh root's directories ($work/dirs-before.txt), to check after the
# purge that it took none of them: dirs_gone lists those gone that the
# package (dpkg -L, $work/files.txt) did not list.
snapshot_dirs() { (cd "$root" && find . -xdev -type d ! -path './run/*' ! -path './tmp/*' | sed 's|^\.||' | sort) >"$work/dirs-before.txt"; }
dirs_gone() {
	local d gone
	gone=$(while IFS= read -r d; do [ -d "$root$d" ] || echo "$d"; done <"$work/dirs-before.txt")
	grep -vxF -f "$work/files.txt" <<<"$gone" || true
}

# The paths listed in FILE (one per line) that still exist in the root, but
# for directories another package owns (/etc, /opt, ...): what a purge left.
purge_leftovers() {
	local p owned existing=()
	while IFS= read -r p; do
		if [ -z "$p" ] || [ "$p" = /. ]; then continue; fi
		if [ -e "$root$p" ] || [ -L "$root$p" ]; then existing+=("$p"); fi
	done <"$1"
	[ ${#existing[@]} -gt 0 ] || return 0
	owned=$(inroot dpkg-query -S "${existing[@]}" 2>/dev/null | sed -n 's|^.*: /|/|p' || true)
	for p in "${existing[@]}"; do
		if [ -d "$root$p" ] && grep -qxF "$p" <<<"$owned"; then
			continue # a directory another package owns
		fi
		echo "$p"
	done
}

# Problems a maintainer script or apt reports without failing the run.
check_apt_log() {
	local bad
	bad=$(grep -E 'dpkg: error|returned error exit status|Errors were encountered|^\S* *E: |nginx reload failed|Traceback|called with unknown argument|invoke-rc.d: .*(failed|denied)|initscript .* exited with|updateconfig: error|No such file or directory' "$1" || true)
	[ -z "$bad" ] || fail "errors in $1:"$'\n'"$bad"
	grep -iE 'warning' "$1" | sed 's/^/    note: /' || true
}

# --- apt in the root ---------------------------------------------------------

# apt_source URL SUITE [NAME]: the test's repository (signed by the key in
# $work/debpipe.gpg) in the root's apt sources with signed-by, no
# trusted=yes; then apt-get update (its log: NAME, default apt-update-1).
apt_source() {
	install -d -m 0755 "$root/etc/apt/keyrings"
	install -m 0644 "$work/debpipe.gpg" "$root/etc/apt/keyrings/debpipe.gpg"
	echo "deb [signed-by=/etc/apt/keyrings/debpipe.gpg] $1 $2" >"$root/etc/apt/sources.list.d/debpipe.list"
	note "sources: $(cat "$root/etc/apt/sources.list.d/debpipe.list")"
	logged "${3:-apt-update-1}" inroot apt-get -q --error-on=any update
}

# install_package [VERSION [WHAT]]: apt-get install WHAT (default: the
# package) from the sources, no error in apt's log; with VERSION, the
# package was set up at VERSION and every package is fully installed.
install_package() {
	local notok
	logged apt-install inroot "${APT[@]}" install "${2:-$package}"
	check_apt_log "$logs/apt-install.log"
	[ -n "${1:-}" ] || return 0
	grep -q "Setting up $package ($1)" "$logs/apt-install.log" || fail "$package $1 was not set up"
	# shellcheck disable=SC2016 # a dpkg-query format
	notok=$(inroot dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | grep -v '^ii ' || true)
	[ -z "$notok" ] || fail "packages not fully installed:"$'\n'"$notok"
}

# apt-get purge the package: no error in apt's log, dpkg knows it no more.
purge_package() {
	local st
	logged apt-purge inroot "${APT[@]}" purge "$package"
	check_apt_log "$logs/apt-purge.log"
	# shellcheck disable=SC2016 # a dpkg-query format
	st=$(inroot dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
	[ -z "$st" ] || [ "$st" = not-installed ] || fail "dpkg status of $package after purge: $st"
}

# apt-get upgrade (keeping edited conffiles) while load.py sends requests
# through nginx: sets sent and failed (load.py's), nginx_502 (the 502s in
# nginx's log meanwhile) and t_up (the upgrade's seconds).
upgrade_under_load() {
	local before
	before=$(grep -c '" 502 ' "$root/var/log/nginx/access.log" || true)
	load_start upgrade
	t_up=$EPOCHREALTIME
	logged apt-upgrade inroot "${APT[@]}" -o Dpkg::Options::=--force-confold upgrade
	t_up=$(since "$t_up")
	load_stop upgrade
	read -r sent failed <"$logs/upgrade.load"
	nginx_502=$(( $(grep -c '" 502 ' "$root/var/log/nginx/access.log" || true) - before ))
}

# --- cleanup -----------------------------------------------------------------

MOUNTS=()

# The package's uWSGI and nginx by their pidfiles, then whatever else still
# runs in the root (every process there is the test's doing); then the
# mounts, last first.
cleanup_root() {
	local m pid i
	if [ -n "$root" ] && [ -d "$root" ]; then
		for m in /run/$package.pid /run/nginx.pid; do
			pid=$(pidfile_pid "$m") && { echo "cleanup: stopping pid $pid ($m)"; stop_pid "$pid"; }
		done
		for pid in $(root_pids); do
			echo "cleanup: stopping pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"
			stop_pid "$pid"
		done
	fi
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		umount "$m" 2>/dev/null || umount -l "$m" || echo "cleanup: could not unmount $m" >&2
	done
}
CLEANUP_HOOKS+=(cleanup_root)
