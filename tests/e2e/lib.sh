# shellcheck shell=bash
# Shared by the end-to-end tests that install a package into a fresh Debian
# root (tests/e2e/run.sh, tests/template-app/run.sh): step reporting, logged
# commands, commands in the root, and the cleanup that stops every process
# the test started and undoes every mount, also when a step fails.
#
# Source it after setting:
#   suite     the test's name, in the summary (`<suite>: PASS`)
#   package   the Debian package under test; venv, its venv's path
#   keep      1 keeps the work directory after the run
# then set, as the test goes: work (the work directory), root (the fresh
# root in it), logs, http_pid (the repository's HTTP server), gnupg (a
# throwaway GNUPGHOME), and add each mount to MOUNTS.
# shellcheck disable=SC2154 # the variables above are the caller's
# shellcheck disable=SC2034 # APT, ... are used by the callers

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
# Fail unless port 80 is free (the root shares the host's network).
need_port_80() {
	local busy
	if busy=$(ss -Hltn 'sport = :80' 2>/dev/null) && [ -n "$busy" ]; then
		fail "port 80 is taken on this machine (the root's nginx needs it):"$'\n'"$busy"
	fi
}
# A free TCP port on 127.0.0.1; a field of the JSON on stdin.
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
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
	echo "=== $suite summary ($(since "$t_start")s)"
	for m in "${RESULTS[@]}"; do echo "$m"; done
	if [ "$rc" = 0 ]; then echo "$suite: PASS"; else echo "$suite: FAIL"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'err_cmd="interrupted by SIGINT"; exit 130' INT
trap 'err_cmd="interrupted by SIGTERM"; exit 143' TERM
