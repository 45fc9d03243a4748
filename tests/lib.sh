# shellcheck shell=bash
# The prologue of every end-to-end suite (tests/*/run.sh): strict mode,
# where things are, the options they all take, the target release's facts
# (releases.tsv), step reporting and logged commands, and the cleanup that
# stops every process the test started, also when a step fails. What a
# suite needs for a fresh Debian root (mounts, commands in the root, its
# processes) is in tests/e2e/lib.sh, sourced after this.
#
# Source it first, where the suite's header comment ends:
#   . "$(dirname "$0")/../lib.sh"
#   parse_options "$@"
# It sets: here (the suite's directory), top (the repository), e2e
# (tests/e2e), cache_top (DEBPIPE_CACHE) and e2e_cache (its e2e/: the lock,
# the root tarballs, apt's .debs; also cache, which a suite may change), make (MAKE), py, arch, host_dist (this
# machine's codename); parse_options sets bin (--bin DIR, DEBPIPE_BIN) and
# keep (--keep, KEEP=1). Then the suite sets suite (its name in the
# summary) and, as the test goes, work (the work directory), root (the
# fresh root in it, removed after a failure unless --keep), logs,
# http_pid (the repository's HTTP server) and gnupg (a throwaway GNUPGHOME).
# shellcheck disable=SC2034 # make, arch, ... are used by the suites
set -eEuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
e2e=$top/tests/e2e
cache_top=${DEBPIPE_CACHE:-$HOME/.cache/debpipe}
e2e_cache=$cache_top/e2e
cache=$e2e_cache
make=${MAKE:-make}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
arch=$(dpkg --print-architecture)
host_dist=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
bin=${DEBPIPE_BIN:-}
keep=${KEEP:-0}
suite=$(basename "$here")

# --- options -----------------------------------------------------------------

# The suite's header comment, without the shebang and shellcheck lines.
usage() { sed -n '2,/^[^#]/{/^[^#]/d;/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0"; }
parse_options() {
	while [ $# -gt 0 ]; do
		case $1 in
			--bin) bin=${2:?--bin needs a directory}; shift 2 ;;
			--bin=*) bin=${1#--bin=}; shift ;;
			--keep) keep=1; shift ;;
			-h|--help) usage; exit 0 ;;
			*) echo "$suite/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
		esac
	done
	[ -z "$bin" ] || bin=$(cd "$bin" && pwd)
}

# --- the run ---------------------------------------------------------------

# Take the e2e lock: the suites share port 80 and the e2e cache. (fd 9 is
# closed for every command the test starts: a daemon must not keep the lock
# after the run.)
lock_e2e() {
	mkdir -p "$e2e_cache"
	exec 9>"$e2e_cache/lock"
	flock -n 9 || fail "another e2e run holds $e2e_cache/lock"
}
# new_work NAME: the work directory, work (${TMPDIR:-/tmp}/debpipe-NAME.*),
# with logs (its logs/) and root (its root/, made by mkroot.sh).
new_work() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/debpipe-$1.XXXXXX")
	work=$(realpath "$work")
	logs=$work/logs root=$work/root
	mkdir -p "$logs"
	note "work directory: $work"
}

# lintian_start DEB: lintian --fail-on error in the background (~40 s of
# one core, while the test goes on); lintian_wait fails the step on its
# errors, counted by tag. Its output: $logs/lintian.log.
lintian_start() {
	lintian --fail-on error "$1" </dev/null >"$logs/lintian.log" 2>&1 9>&- &
	lintian_pid=$!
	note "lintian runs in the background (pid $lintian_pid)"
}
lintian_wait() {
	local rc=0
	wait "$lintian_pid" || rc=$?
	if [ "$rc" != 0 ]; then
		grep -E '^E: ' "$logs/lintian.log" | awk '{ print $3 }' | sort | uniq -c | sort -rn | sed 's/^/    E /' >&2
		fail "lintian exits $rc: $(grep -c '^E: ' "$logs/lintian.log" || true) errors (log: $logs/lintian.log)"
	fi
}

# A throwaway ed25519 signing key (a day) in gnupg (the suite's
# $work/gnupg): its fingerprint in fpr, its public key in $work/debpipe.gpg.
signing_key() {
	mkdir -m 0700 "$gnupg"
	logged gpg-key gpg --batch --homedir "$gnupg" --passphrase '' \
		--quick-gen-key "debpipe $suite <$suite@debpipe.invalid>" ed25519 sign 1d
	fpr=$(gpg --homedir "$gnupg" --with-colons --list-secret-keys 2>>"$logs/gpg-key.log" | awk -F: '$1 == "fpr" { print $10; exit }')
	[ -n "$fpr" ] || fail "no key in $gnupg"
	gpg --homedir "$gnupg" --export "$fpr" >"$work/debpipe.gpg"
}

# set_version FROM TO: the "version" of $app/app.json, FROM before.
# shellcheck disable=SC2154 # app and MAKEARGS are the suite's
set_version() {
	sed -i "s/\"version\": *\"${1//./\\.}\"/\"version\": \"$2\"/" "$app/app.json"
	grep -q "\"version\": \"$2\"" "$app/app.json" || fail "could not set version $2 in $app/app.json"
}
# make_version FROM TO: set_version, then make (MAKEARGS; its log: make-TO),
# showing its stages.
make_version() {
	set_version "$1" "$2"
	logged "make-$2" "$make" "${MAKEARGS[@]}"
	grep -E '==>' "$logs/make-$2.log" | sed 's/^/    /'
}

# --- releases ----------------------------------------------------------------

# release FIELD DIST: a fact of DIST from releases.tsv (scripts/release.sh).
release() { "$top/scripts/release.sh" "$@"; }
# target_dist DIST: for a build with `make DIST=DIST` (none: the host's
# flat build), set suffix (the Version's), unit_dir (the units') and
# root_dist (the fresh root's release); exits 2 on an unknown DIST.
target_dist() {
	root_dist=${1:-$host_dist}
	suffix=""
	if [ -n "$1" ]; then suffix=$(release suffix "$1") || exit 2; fi
	unit_dir=/lib/systemd/system
	if [ -n "$1" ]; then unit_dir=$(release unit_dir "$1"); fi
}

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

# --- cleanup -----------------------------------------------------------------

work="" root="" logs="" http_pid="" gnupg=""
# Functions the cleanup calls first (tests/e2e/lib.sh adds the root's).
CLEANUP_HOOKS=()
# A free TCP port on 127.0.0.1.
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

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
	local rc=$? m pid left hook
	set +e
	trap - ERR INT TERM
	# Before the first step (--help, a usage error) there is nothing to do.
	if [ -z "$STEP" ] && [ ${#RESULTS[@]} -eq 0 ] && [ -z "$work" ]; then exit "$rc"; fi
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
	for hook in "${CLEANUP_HOOKS[@]}"; do "$hook"; done
	if [ -n "$http_pid" ]; then
		echo "cleanup: stopping the HTTP server (pid $http_pid)"
		stop_pid "$http_pid"
	fi
	if [ -n "$gnupg" ] && [ -d "$gnupg" ]; then
		gpgconf --homedir "$gnupg" --kill all 2>/dev/null
	fi
	if [ -n "$work" ] && [ -d "$work" ]; then
		left=$(awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts)
		if [ -n "$left" ]; then
			echo "cleanup: still mounted, not removing $work:"$'\n'"$left" >&2
			rc=1
		elif [ "$keep" = 1 ]; then
			echo "cleanup: kept $work (root, repo, logs)"
		elif [ "$rc" != 0 ]; then
			[ -z "$root" ] || rm -rf --one-file-system "$root"
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
