#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats are literal
# The template-project test (issue 13, test 1): a project made by Wagtail's
# project template (`wagtail start mysite`: a settings package
# mysite/settings/{base,dev,production}.py, ManifestStaticFilesStorage,
# STATIC_ROOT, MEDIA_ROOT and the SQLite database under BASE_DIR, Pillow
# among ~30 wheels), shipped unmodified: only app.json is written and uWSGI
# appended to its requirements.txt. Built with make into a signed repository,
# installed with apt on a fresh Debian 12 root, used through nginx, upgraded
# and purged.
#
#   tests/template-app/run.sh [--bin DIR] [--keep]
#
#   --bin DIR   the built tools: passed to make as T=DIR (default: the
#               Makefile's own, target/release); or set DEBPIPE_BIN
#   --keep      keep the work directory (root, app, repo, logs) after the
#               run; or set KEEP=1 (mounts and processes are cleaned up all
#               the same)
#
# Environment:
#   DEBPIPE_CACHE  cache directory (default $HOME/.cache/debpipe); the test
#                  keeps under template-app/ the wheelhouse (wheels/: pip
#                  wheel of the template's requirements.txt and uWSGI, made
#                  when missing or when the pins below change), and shares
#                  with tests/e2e/run.sh e2e/: its lock (both need port 80),
#                  the debootstrap tarball (mkroot.sh) and apt's .debs
#                  (apt-archives/, bind-mounted into the root)
#   E2E_APT_CACHE=0  do not bind-mount e2e/apt-archives into the root
#   MAKE           make program (default make)
#   TMPDIR         where the work directory goes (default /tmp)
#
# Wagtail 7.0, the LTS line: its template's requirements.txt (Django>=5.2,<5.3)
# installs unmodified on Debian 12's python3 (3.11), as 7.1's and 7.2's do;
# from 7.3 on the template asks for Django 6, which needs Python 3.12. uWSGI
# is pinned as in the example app (examples/wechat/requirements.txt).
#
# Steps (each prints ok: lines, then PASS or FAIL with its time):
#   1. generate the project from the cached wheels (a throwaway venv), write
#      app.json, copy the wheelhouse; `make` builds mysite-api 1.0.0 into a
#      repository signed with a throwaway key (served on 127.0.0.1 by
#      python's http.server from step 2 on);
#   2. in a fresh root (mkroot.sh, laid while step 1 builds): the repository
#      with signed-by; apt-get install mysite-api; its service started by
#      invoke-rc.d (no systemd in the root), nginx running;
#   3. lintian --fail-on error (run in the background during step 2); the
#      full output is kept in logs/, the remaining warnings are printed with
#      their counts;
#   4. through nginx on port 80 (Host: mysite.example.com): / and
#      /admin/login/ answer 200, and collected static files answer 200 under
#      their hashed manifest names (staticfiles.json), with the source bytes;
#   5. `manage createsuperuser` (the admin helper, as the service user);
#      a login POST with the CSRF token ends in 302 to /admin/, and /admin/
#      answers 200 with the session (migrate ran, the database is writable);
#   6. no file readable by others contains the secret key; the key file is
#      mode 0600 or 0640;
#   7. an upload in the media directory (as the service user) is served;
#      `make` builds 1.0.1 (only "version" changed); apt-get upgrade keeps the
#      database (the login works again), the upload and the secret key;
#  7b. a 1.0.2 with a system check error that only `check --deploy` runs is
#      refused by postinst, naming the check, while the same uWSGI master
#      keeps serving 1.0.1; the fixed 1.0.3 completes the upgrade;
#   8. apt-get purge leaves none of the package's files, its state
#      directory, app directory, venv or log.
# Every process the test started is stopped by pid, and every mount undone,
# also when a step fails (tests/e2e/lib.sh).
#
# Needs root (chroot, mount), port 80 free, network access to PyPI (once, for
# the wheelhouse) and to the Debian mirror, debootstrap, zstd, gpg, curl,
# lintian, python3 with pip, and what `make` needs.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
cache=$cache_top/template-app

wagtail_version=7.0.10
uwsgi_version=$(sed -n 's/^uWSGI==\([^ ;#]*\).*/\1/p' "$top/examples/wechat/requirements.txt")

package=mysite-api
venv=/opt/www/venvs/$package
app_dir=/opt/www/mysite
state=/var/lib/$package
static_dir=$app_dir/staticfiles
media_dir=$state/media
host=mysite.example.com

suite=template-app
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
. "$e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=project.sh
. "$here/project.sh"

# --- helpers ------------------------------------------------------------------

# pip as the Makefile's wheels target runs it: no user or site configuration.
pip_() { PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS='' "$py" -m pip --disable-pip-version-check "$@"; }

# What the wheelhouse was made from; another value makes it again.
wheels_key() { echo "wagtail==$wagtail_version uWSGI==$uwsgi_version $("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"; }

# The wheelhouse: wagtail's wheel first (its project template holds the
# requirements.txt that `wagtail start` writes), then `pip wheel` of that
# requirements.txt plus uWSGI. A uWSGI wheel compiled by an earlier run
# (e2e/wheels, the Makefile's wheels/) is reused.
fill_wheels() {
	local tmp links=() d
	rm -rf "$cache/wheels".*
	tmp=$(mktemp -d "$cache/wheels.XXXXXX")
	pip_ wheel -q --no-deps --wheel-dir "$tmp" "wagtail==$wagtail_version"
	"$py" - "$tmp"/wagtail-*.whl >"$tmp/requirements.txt" <<-'PY'
		import sys, zipfile
		text = zipfile.ZipFile(sys.argv[1]).read("wagtail/project_template/requirements.txt").decode()
		sys.stdout.write(text if text.endswith("\n") else text + "\n")
	PY
	echo "uWSGI==$uwsgi_version" >>"$tmp/requirements.txt"
	for d in "$e2e_cache/wheels" "$cache_top/wheels"; do
		if [ -d "$d" ]; then links+=(--find-links "$d"); fi
	done
	pip_ wheel -q --find-links "$tmp" "${links[@]}" --wheel-dir "$tmp" \
		-r "$tmp/requirements.txt" "wagtail==$wagtail_version"
	wheels_key >"$tmp/.filled"
	rm -rf "$cache/wheels"
	mv "$tmp" "$cache/wheels"
}

# The project: `wagtail start mysite`, app.json and the wheelhouse
# (tests/template-app/project.sh).
generate() { make_project "$app" "$wheels" "$py" "$work/tools"; }

# The hashed name of a static file in the installed staticfiles.json.
manifest_name() {
	"$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["paths"][sys.argv[2]])' \
		"$root$static_dir/staticfiles.json" "$1"
}

# Log in to the admin with a fresh cookie jar JAR: GET the login page for the
# csrftoken cookie and the form's token, POST the credentials. Prints the
# POST's status and Location header.
admin_login() {
	local jar=$1 token code
	rm -f "$jar"
	code=$(http_get /admin/login/ "$work/login-form.html" -c "$jar" -b "$jar")
	[ "$code" = 200 ] || { echo "GET /admin/login/: HTTP $code"; return 1; }
	token=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' "$work/login-form.html" | head -n1)
	[ -n "$token" ] || { echo "no csrfmiddlewaretoken in the login form"; return 1; }
	grep -q csrftoken "$jar" || { echo "no csrftoken cookie"; return 1; }
	code=$(http_get /admin/login/ "$work/login-post.html" -c "$jar" -b "$jar" -D "$work/login-post.headers" \
		--data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode username=admin \
		--data-urlencode "password=$password" --data-urlencode next=/admin/)
	echo "$code $(sed -n 's/^[Ll]ocation: *\([^[:space:]]*\).*/\1/p' "$work/login-post.headers")"
}
# The login works: 302 to /admin/, then /admin/ answers 200 with the session.
check_login() {
	local out code
	out=$(admin_login "$work/cookies-$1.txt") || fail "admin login ($1): $out"
	case $out in
		"302 /admin/" | "302 http://$host/admin/") ;;
		*) fail "admin login POST ($1) answered \"$out\", not 302 to /admin/ (body: $work/login-post.html)" ;;
	esac
	ok "login POST to /admin/login/ with the CSRF token: 302 to /admin/"
	code=$(http_get /admin/ "$work/admin-$1.html" -c "$work/cookies-$1.txt" -b "$work/cookies-$1.txt")
	[ "$code" = 200 ] || fail "GET /admin/ with the session ($1): HTTP $code, not 200"
	ok "GET /admin/ with the session: 200"
}

# The secret key, its mode and owner.
# (as the root names its owners: the service user is the root's, not the host's)
secret_mode() { inroot stat -c '%a %U' "$state/secret_key"; }

# --- step 1: build ------------------------------------------------------------

begin 1 "wagtail start mysite, app.json; make builds $package 1.0.0 into a signed repository"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
for c in debootstrap zstd gpg gpgv curl chroot mount flock lintian "$make" "$py"; do
	command -v "$c" >/dev/null || fail "$c is not installed (scripts/install-deps)"
done
[ -n "$uwsgi_version" ] || fail "no uWSGI==VERSION in $top/examples/wechat/requirements.txt"
mkdir -p "$cache"
# The e2e's lock: both tests need port 80 and share apt's .deb cache.
lock_e2e
need_port_80

new_work template
app=$work/mysite repo=$work/repo gnupg=$work/gnupg
wheels=$cache/wheels
mkdir -p "$repo"

# The fresh root is laid while the package builds (step 2 waits for it).
mkroot_start "$host_dist"

if [ "$(cat "$wheels/.filled" 2>/dev/null)" != "$(wheels_key)" ]; then
	logged fill-wheels fill_wheels
fi
ok "wheelhouse $wheels: $(find "$wheels" -name '*.whl' | wc -l) wheels ($(cat "$wheels/.filled"))"

logged generate generate
for f in settings/base.py settings/dev.py settings/production.py wsgi.py; do
	[ -f "$app/mysite/$f" ] || fail "wagtail start made no mysite/$f"
done
grep -q ManifestStaticFilesStorage "$app"/mysite/settings/*.py \
	|| fail "the template's settings do not use ManifestStaticFilesStorage"
ls "$wheels"/[Pp]illow-*.whl >/dev/null 2>&1 || fail "no Pillow wheel in $wheels"
if ! diff "$app/requirements.txt" "$wheels/requirements.txt" >"$logs/requirements.diff"; then
	fail "the template's requirements.txt (with uWSGI) is not the one the wheelhouse was made from (delete $wheels; diff: $logs/requirements.diff)"
fi
ok "wagtail $wagtail_version project in $app: requirements.txt $(paste -sd' ' "$app/requirements.txt"), app.json"

signing_key

MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "BUILD=$work/build" "REPO_KEY=$fpr" "GNUPGHOME=$gnupg")
[ -z "$bin" ] || MAKEARGS+=("T=$bin")
logged make-1.0.0 "$make" "${MAKEARGS[@]}"
grep -E '==>' "$logs/make-1.0.0.log" | sed 's/^/    /'
for f in Packages Packages.gz Release InRelease Release.gpg; do
	[ -s "$repo/$f" ] || fail "the repository has no $f"
done
gpgv --keyring "$work/debpipe.gpg" "$repo/InRelease" 2>"$logs/gpgv.log" \
	|| fail "InRelease does not verify with the key (log: $logs/gpgv.log)"
grep -q '^Version: 1.0.0$' "$repo/Packages" || fail "Packages does not list version 1.0.0"
deb=$(cat "$work/build/deb-path")
ok "built $(basename "$deb") ($(du -h "$deb" | cut -f1)), repository signed"
# lintian takes ~40 s of one core: it runs while step 2 installs the package,
# and step 3 reports it.
lintian_start "$deb"
pass

# --- step 2: install ----------------------------------------------------------

begin 2 "apt-get install $package in a fresh Debian 12 root: signed repo, service and nginx started"
# (python's http.server, as `make serve` runs it; tests/e2e/run.sh tests
# that target.)
serve_repo "$repo" /Release
mkroot_wait
snapshot_dirs
mount_root "$e2e_cache"
apt_source "http://127.0.0.1:$port/" ./
install_package 1.0.0
ok "installed with apt from the signed repository ($(grep -c '^\[.*\] Setting up ' "$logs/apt-install.log") packages set up)"
master1=$(pidfile_pid "/run/$package.pid") || fail "no live process in /run/$package.pid: the service is not running"
[ "$(readlink "/proc/$master1/exe")" = "$root$venv/bin/uwsgi" ] || fail "pid $master1 is not the venv's uwsgi"
ok "uWSGI master $master1 runs as uid $(stat -c %u "/proc/$master1") (started by invoke-rc.d)"
pidfile_pid /run/nginx.pid >/dev/null || fail "nginx is not running in the root"
ok "nginx runs"
[ "$(inroot stat -c %U "$state" 2>/dev/null)" = "$package" ] || fail "no $state owned by the service user $package"
ok "$state is $package's (the service's own user, not nginx's www-data)"
pass

# --- step 3: lintian ----------------------------------------------------------

begin 3 "lintian --fail-on error on $(basename "$deb")"
lintian_wait
ok "no lintian error (log: $logs/lintian.log)"
note "warnings: $(grep -c '^W: ' "$logs/lintian.log" || true), by tag (count, tag, first file):"
grep -E '^W: ' "$logs/lintian.log" | awk '
	{ n[$3]++; if (!($3 in first)) { f = $0; sub(/^[^[]*\[?/, "", f); sub(/\]$/, "", f); first[$3] = f } }
	END { for (t in n) printf "%6d  %s  %s\n", n[t], t, first[t] }' | sort -k1,1rn -k2 | sed 's/^/    /'
pass

# --- step 4: pages and static files -------------------------------------------

begin 4 "through nginx (Host: $host): /, /admin/login/, static files under hashed names"
code=$(get_until_ok / "$work/home.html")
[ "$code" = 200 ] || fail "GET / answered HTTP $code, not 200 (body: $work/home.html)"
grep -q 'Wagtail' "$work/home.html" || fail "GET / answered 200 without Wagtail's welcome page"
ok "GET /: 200 (Wagtail's welcome page)"
code=$(http_get /admin/login/ "$work/admin-login.html")
[ "$code" = 200 ] || fail "GET /admin/login/ answered HTTP $code, not 200"
grep -q csrfmiddlewaretoken "$work/admin-login.html" || fail "GET /admin/login/ answered 200 without a login form"
ok "GET /admin/login/: 200"
[ -f "$root$static_dir/staticfiles.json" ] || fail "no $static_dir/staticfiles.json (collectstatic's manifest)"
for f in css/mysite.css:mysite/static/css/mysite.css css/welcome_page.css:home/static/css/welcome_page.css; do
	name=${f%%:*} src=$app/${f#*:}
	hashed=$(manifest_name "$name") || fail "$name is not in $static_dir/staticfiles.json"
	[ "$hashed" != "$name" ] || fail "$name has no hashed name in the manifest"
	code=$(http_get "/static/$hashed" "$work/static.out")
	[ "$code" = 200 ] || fail "GET /static/$hashed answered HTTP $code, not 200"
	cmp -s "$work/static.out" "$src" || fail "GET /static/$hashed is not the project's ${f#*:}"
	ok "GET /static/$hashed: 200, the bytes of ${f#*:} ($(wc -c <"$src") bytes)"
done
# (hashed is welcome_page.css's, which the welcome page links.)
grep -qF "/static/$hashed" "$work/home.html" || fail "GET / does not link /static/$hashed (the manifest is not used at run time)"
ok "the page links the hashed name: the service reads the manifest"
pass

# --- step 5: admin login ------------------------------------------------------

begin 5 "manage createsuperuser; a login POST works (migrate ran, the database is writable)"
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
logged createsuperuser inroot env DJANGO_SUPERUSER_PASSWORD="$password" \
	"$venv/bin/manage" createsuperuser --noinput --username admin --email a@example.com
ok "$venv/bin/manage createsuperuser --noinput"
check_login 1.0.0
pass

# --- step 6: secrets ----------------------------------------------------------

begin 6 "no file readable by others holds the secret key"
[ -f "$root$state/secret_key" ] || fail "no secret key $state/secret_key"
secret=$(cat "$root$state/secret_key")
[ "${#secret}" -ge 32 ] || fail "the secret key has ${#secret} characters"
read -r mode owner <<<"$(secret_mode)"
case $mode in 600 | 640) ;; *) fail "$state/secret_key has mode $mode (want 0600 or 0640)" ;; esac
[ "$owner" = "$package" ] || fail "$state/secret_key is owned by $owner, not the service user $package"
env_file=/etc/$package/$package.env
[ -f "$root$env_file" ] || fail "postinst made no $env_file"
[ "$(inroot stat -c '%a %U %G' "$env_file")" = "640 root $package" ] || fail "$env_file is $(inroot stat -c '%a %U %G' "$env_file"), not 640 root $package"
for f in "$state/secret_key" "$env_file"; do
	if inroot setpriv --reuid=www-data --regid=www-data --init-groups cat "$f" >/dev/null 2>&1; then
		fail "nginx's user www-data can read $f"
	fi
done
ok "nginx's user www-data can read neither $state/secret_key nor $env_file (0640 root:$package)"
ok "$state/secret_key: ${#secret} characters, mode 0$mode, owner $owner"
cp -p "$root$state/secret_key" "$work/secret_key.1.0.0"
# Every file others may read (its mode alone: directories on the way are not
# taken into account), but for the kernel's and apt's download cache.
find "$root" \( -path "$root/proc" -o -path "$root/sys" -o -path "$root/dev" \
	-o -path "$root/var/cache/apt/archives" \) -prune -o -type f -perm -o=r -print0 >"$work/readable.lst"
leaks=$(xargs -0 -r grep -lF -e "$secret" -- <"$work/readable.lst" | sed "s|^$root||" || true)
[ -z "$leaks" ] || fail "files readable by others hold the secret key: ${leaks//$'\n'/, }"
ok "none of the $(tr -cd '\0' <"$work/readable.lst" | wc -c) files readable by others holds it"
pass

# --- step 7: upgrade ----------------------------------------------------------

begin 7 "an upload; make 1.0.1; apt-get upgrade keeps the database, the upload and the secret"
upload=$media_dir/original_images/x.txt
upload_served "$package" "$upload" /media/original_images/x.txt
ok "an upload by $package in $media_dir is served at /media/ (nginx passes through $state)"
make_version 1.0.0 1.0.1
grep -q '^Version: 1.0.1$' "$repo/Packages" || fail "Packages does not list version 1.0.1"
logged apt-update-2 inroot apt-get -q --error-on=any update
logged apt-upgrade inroot "${APT[@]}" upgrade
check_apt_log "$logs/apt-upgrade.log"
[ "$(inroot dpkg-query -W -f='${Version}' "$package")" = 1.0.1 ] || fail "$package 1.0.1 is not installed"
master2=$(pidfile_pid "/run/$package.pid") || fail "the service is not running after the upgrade"
reloaded=$(grep -m1 "$package: reloaded gracefully" "$logs/apt-upgrade.log") \
	|| fail "postinst did not reload the service gracefully (log: $logs/apt-upgrade.log)"
ok "upgraded to 1.0.1; ${reloaded#*] } (uWSGI master $master1 -> $master2)"
code=$(get_until_ok / "$work/home.html")
[ "$code" = 200 ] || fail "GET / answered HTTP $code after the upgrade"
check_login 1.0.1
ok "the database kept the admin user"
cmp -s "$root$upload" "$work/upload.txt" || fail "$upload changed with the upgrade"
upload_still_served /media/original_images/x.txt "after the upgrade"
ok "the upload is kept and served"
cmp -s "$work/secret_key.1.0.0" "$root$state/secret_key" || fail "the secret key changed with the upgrade"
[ "$(secret_mode)" = "$mode $owner" ] || fail "the secret key's mode or owner changed: $(secret_mode)"
ok "the secret key is byte-identical, mode 0$mode"
pass

# --- step 7b: a version whose deploy checks fail -------------------------------

begin 7b "a 1.0.2 whose manage.py check --deploy fails is refused by postinst; 1.0.1 keeps serving; 1.0.3 completes"
# A system check error that only --deploy runs, in a module Django imports
# at start-up: the code imports fine, so only the checks can catch it.
cp "$app/home/models.py" "$work/models.py.good"
cat >>"$app/home/models.py" <<'PY'


from django.core import checks


@checks.register(deploy=True)
def debpipe_broken_on_purpose(app_configs, **kwargs):
    return [checks.Error("broken on purpose", id="debpipe.E001")]
PY
set_version 1.0.1 1.0.2
# make's preflight runs `check` (the deploy checks need the server's
# services, so only postinst runs them): the release builds.
logged make-1.0.2 "$make" "${MAKEARGS[@]}"
logged apt-update-3 inroot apt-get -q --error-on=any update
if inroot "${APT[@]}" upgrade >"$logs/apt-broken.log" 2>&1; then
	fail "the upgrade to 1.0.2, whose deploy checks fail, succeeded (log: $logs/apt-broken.log)"
fi
grep -q "$package: manage.py check --deploy failed: .*broken on purpose" "$logs/apt-broken.log" \
	|| fail "postinst did not name the failed check (log: $logs/apt-broken.log)"
note "$(grep -m1 "$package: manage.py check --deploy failed" "$logs/apt-broken.log" | sed 's/^\[[^]]*\] //')"
[ "$(pidfile_pid "/run/$package.pid")" = "$master2" ] || fail "the uWSGI master changed with the refused upgrade"
code=$(get_until_ok / "$work/home.html")
[ "$code" = 200 ] || fail "GET / answered HTTP $code after the refused upgrade"
check_login 1.0.1
ok "refused: the same uWSGI master ($master2) still serves / and the admin login"
cp "$work/models.py.good" "$app/home/models.py"
set_version 1.0.2 1.0.3
logged make-1.0.3 "$make" "${MAKEARGS[@]}"
logged apt-update-4 inroot apt-get -q --error-on=any update
logged apt-fixed inroot "${APT[@]}" upgrade
check_apt_log "$logs/apt-fixed.log"
[ "$(inroot dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$package")" = "1.0.3 ii " ] \
	|| fail "$package 1.0.3 is not fully installed: $(inroot dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$package")"
code=$(get_until_ok / "$work/home.html")
[ "$code" = 200 ] || fail "GET / answered HTTP $code after the fixed upgrade"
ok "the fixed 1.0.3 completes the upgrade and serves /"
pass

# --- step 8: purge ------------------------------------------------------------

begin 8 "apt-get purge $package: its files, state, app dir, venv and log are gone"
inroot dpkg -L "$package" >"$work/files.txt"
purge_package
{
	cat "$work/files.txt"
	printf '%s\n' "$state" "$app_dir" "$venv" /var/log/uwsgi/mysite.log "/run/$package" "/run/$package.pid"
} | sort -u >"$work/expected-gone.txt"
left=$(purge_leftovers "$work/expected-gone.txt")
[ -z "$left" ] || fail "left behind after purge: $(tr '\n' ' ' <<<"$left")"
ok "none of the $(wc -l <"$work/expected-gone.txt") paths is left ($state, $app_dir, $venv, the log, every file dpkg listed)"
by_us=$(dirs_gone)
[ -z "$by_us" ] || fail "the purge removed directories the fresh system had: ${by_us//$'\n'/, }"
ok "every directory of the fresh system is still there"
rm -f "$e2e_cache/apt-archives/${package}_"*.deb
pass
