#!/bin/bash
# sandbox.sh UNIT -- COMMAND [ARG...]: run COMMAND with the file-system
# sandbox, user and privileges that the systemd service UNIT asks for, as far
# as unshare(1), mount(8) and setpriv(1) give them without systemd (systemd
# is not PID 1 on the test machines). An emulation, for tests only:
#   ProtectSystem=strict   every mount read-only but /dev, /proc and /sys
#   ReadWritePaths=        bind-mounted back read-write (must exist)
#   RuntimeDirectory=, StateDirectory= (and their *Mode=)
#                          made under /run and /var/lib, owned by User/Group,
#                          read-write
#   PrivateTmp=yes         a fresh tmpfs on /tmp and /var/tmp
#   ProtectHome=yes        /home, /root and /run/user empty and inaccessible
#   User=, Group=, NoNewPrivileges=yes, CapabilityBoundingSet= (empty),
#   UMask=                 through setpriv and umask
#   EnvironmentFile=       in order, later files winning, `-FILE` optional,
#                          read by systemd's own parser of environment files
#                          (systemd-environment-d-generator uses it)
#   WorkingDirectory=
# Other directives (system call filters, PrivateUsers, PrivateDevices...) are
# not emulated. COMMAND keeps this process's pid (every step execs), and the
# mounts vanish with it (a private mount namespace).
set -euo pipefail

if [ $# -lt 3 ] || [ "$2" != -- ]; then echo "usage: sandbox.sh UNIT -- COMMAND..." >&2; exit 2; fi
unit=$1
shift 2

# The last value of a directive in [Service] (systemd: the last one wins).
val() { sed -n '/^\[Service\]/,/^\[/p' "$unit" | sed -n "s/^$1=//p" | tail -n1; }
# Every value of a directive, words joined.
all() { sed -n '/^\[Service\]/,/^\[/p' "$unit" | sed -n "s/^$1=//p" | tr '\n' ' '; }

user=$(val User) group=$(val Group)
[ -n "$user" ] || { echo "sandbox.sh: $unit has no User=" >&2; exit 2; }
group=${group:-$user}
setpriv=(setpriv --reuid="$user" --regid="$group" --init-groups)
[ "$(val NoNewPrivileges)" != yes ] || setpriv+=(--no-new-privs)
if grep -qx 'CapabilityBoundingSet=' "$unit"; then setpriv+=(--bounding-set=-all); fi

# EnvironmentFile=: a missing file fails the unit unless its name starts
# with `-`; the files go through systemd's parser in their order.
envd=$(mktemp -d)
trap 'rm -rf "$envd"' EXIT
mkdir "$envd/environment.d"
n=10
while IFS= read -r f; do
	[ -n "$f" ] || continue
	case $f in
		-*) f=${f#-}; [ -e "$f" ] || continue ;;
		*) [ -e "$f" ] || { echo "sandbox.sh: EnvironmentFile=$f: no such file" >&2; exit 1; } ;;
	esac
	cp "$f" "$envd/environment.d/$n-file.conf"
	n=$((n + 1))
done < <(sed -n '/^\[Service\]/,/^\[/p' "$unit" | sed -n 's/^EnvironmentFile=//p')
if [ "$n" -gt 10 ]; then
	while IFS= read -r kv; do
		v=${kv#*=}
		# Values with spaces come back double-quoted; the env_file subset has
		# no `"`, `\` or `$`, so stripping the quotes is exact.
		case $v in \"*\") v=${v#\"}; v=${v%\"} ;; esac
		export "${kv%%=*}=$v"
	done < <(env -i XDG_CONFIG_HOME="$envd" /usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator)
fi
rm -rf "$envd"
trap - EXIT

export SB_USER=$user SB_GROUP=$group SB_STRICT SB_RW SB_RUNTIME SB_STATE SB_RUNTIME_MODE SB_STATE_MODE SB_TMP SB_HOME SB_UMASK
SB_STRICT=$(val ProtectSystem) SB_RW=$(all ReadWritePaths)
SB_RUNTIME=$(all RuntimeDirectory) SB_STATE=$(all StateDirectory)
SB_RUNTIME_MODE=$(val RuntimeDirectoryMode) SB_STATE_MODE=$(val StateDirectoryMode)
SB_TMP=$(val PrivateTmp) SB_HOME=$(val ProtectHome) SB_UMASK=$(val UMask)
SB_CWD=$(val WorkingDirectory)
export SB_CWD

# shellcheck disable=SC2016 # the inner script expands its own variables
exec unshare --mount --propagation private -- bash -c '
	set -euo pipefail
	rw=()
	for d in $SB_RUNTIME; do
		install -d -m "${SB_RUNTIME_MODE:-0755}" -o "$SB_USER" -g "$SB_GROUP" "/run/$d"
		rw+=("/run/$d")
	done
	for d in $SB_STATE; do
		install -d -m "${SB_STATE_MODE:-0755}" -o "$SB_USER" -g "$SB_GROUP" "/var/lib/$d"
		rw+=("/var/lib/$d")
	done
	for p in $SB_RW; do rw+=("${p#-}"); done
	if [ "$SB_STRICT" = strict ]; then
		awk "{ print \$5 }" /proc/self/mountinfo | sort -u | while read -r mp; do
			case $mp in /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) continue ;; esac
			mount -o remount,bind,ro "$mp" 2>/dev/null || true
		done
	fi
	if [ "$SB_TMP" = yes ]; then
		mount -t tmpfs -o mode=1777 tmpfs /tmp
		mount -t tmpfs -o mode=1777 tmpfs /var/tmp
	fi
	if [ "$SB_HOME" = yes ]; then
		for h in /home /root /run/user; do
			[ ! -d "$h" ] || mount -t tmpfs -o mode=000 tmpfs "$h"
		done
	fi
	for p in "${rw[@]}"; do
		mount --bind "$p" "$p"
		mount -o remount,bind,rw "$p"
	done
	[ -z "$SB_UMASK" ] || umask "$SB_UMASK"
	[ -z "$SB_CWD" ] || cd "$SB_CWD"
	exec "$@"
' sandbox "${setpriv[@]}" -- "$@"
