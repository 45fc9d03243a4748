#!/bin/sh
# release.sh: the facts of a Debian release, from releases.tsv (the one
# table of what differs between releases; Rust reads it too).
#
#   scripts/release.sh list                 the codenames, oldest first, one a line
#   scripts/release.sh supported            the codenames as a sentence
#   scripts/release.sh FIELD DIST           one fact of DIST, e.g.
#   scripts/release.sh suffix trixie        +deb13
#
# FIELD: a column of releases.tsv (codename, number, python, pip, unit_dir,
# dpkg, compressions, suffix). An unknown DIST or FIELD exits 1 naming the
# supported ones. RELEASES_TSV names another table (default: the one beside
# this script's directory).
set -eu

table=${RELEASES_TSV:-$(dirname "$0")/../releases.tsv}
[ -r "$table" ] || { echo "release.sh: error: cannot read $table" >&2; exit 1; }

rows() { awk -F '\t' '!/^#/ && NF { if (seen++) print $1 }' "$table"; }

case ${1:-} in
list)
	[ $# -eq 1 ] || { echo "usage: release.sh list" >&2; exit 2; }
	rows
	;;
supported)
	[ $# -eq 1 ] || { echo "usage: release.sh supported" >&2; exit 2; }
	rows | awk '{ n[NR] = $0 } END { s = n[1]; for (i = 2; i <= NR; i++) s = s (i < NR ? ", " : " and ") n[i]; print s }'
	;;
"" | -h | --help)
	sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"
	[ $# -eq 1 ] || exit 2
	;;
*)
	[ $# -eq 2 ] || { echo "usage: release.sh FIELD DIST (see --help)" >&2; exit 2; }
	# shellcheck disable=SC2016 # awk's own $ fields
	awk -F '\t' -v field="$1" -v dist="$2" -v supported="$("$0" supported)" '
		/^#/ || !NF { next }
		!header { for (i = 1; i <= NF; i++) col[$i] = i; header = 1
			if (!(field in col)) { h = $0; gsub(/\t/, ", ", h); print "release.sh: error: unknown FIELD \x27" field "\x27: one of " h > "/dev/stderr"; bad = 1; exit 1 }
			next }
		$1 == dist { print $col[field]; found = 1; exit }
		END { if (!found && !bad) { print "release.sh: error: unknown DIST \x27" dist "\x27: supported are " supported > "/dev/stderr"; exit 1 } }
	' "$table"
	;;
esac
