#!/bin/bash
# shellcheck disable=SC2016 # dpkg-query ${Field} formats and psql's SQL are literal
# The PyPI-application test: pretalx (https://pretalx.com), a real Django
# application installed from PyPI, packaged by debpipe from an app directory
# that holds only app.json, requirements.txt and etc/pretalx/pretalx.cfg (no
# manage.py, no project code: settings module pretalx.settings, WSGI entry
# pretalx.wsgi:application). Built with make into a signed repository,
# installed with apt on a fresh Debian root beside a PostgreSQL and a Redis
# that the test starts there, used through nginx (pages, the organiser login,
# static files, uploads), with its Celery worker (a debpipe daemon) and its
# periodic task (a debpipe timer), upgraded under load and purged.
#
#   tests/pretalx-app/run.sh [--bin DIR] [--keep]
#
#   --bin DIR   the built tools: passed to make as T=DIR (default: the
#               Makefile's own, target/release); or set DEBPIPE_BIN
#   --keep      keep the work directory (root, app, repo, logs) after the
#               run; or set KEEP=1 (mounts and processes are cleaned up all
#               the same)
#
# Environment:
#   DIST           bookworm (default: this host's release, the flat
#                  repository) or trixie (make DIST=trixie, its build root,
#                  the pool/ + dists/ layout, a trixie root)
#   DEBPIPE_CACHE  cache directory (default $HOME/.cache/debpipe); the test
#                  keeps under pretalx-app/ the wheelhouse per release
#                  (wheels/<dist>: made by `make wheels` when missing or when
#                  requirements.txt or no_binary change) and the npm cache of
#                  the build (npm/, see below); it shares e2e/ with
#                  tests/e2e/run.sh: its lock (both need port 80), the
#                  debootstrap tarballs (mkroot.sh) and apt's .debs
#   E2E_APT_CACHE=0  do not bind-mount e2e/apt-archives into the root
#   MAKE           make program (default make)
#   TMPDIR         where the work directory goes (default /tmp)
#
# The app directory is tests/pretalx-app/app/ (app.json, requirements.txt,
# etc/pretalx/pretalx.cfg), copied into the work directory. requirements.txt
# pins two sets by python version: pretalx 2025.2.2 (Django 5.2) for
# bookworm's python 3.11 (2026.1 needs 3.12, 2026.2 needs 3.13), pretalx
# 2026.2.1 (Django 6.0) for trixie's 3.13. app.json's version is set here to
# <pretalx version>-1 for the release built (one app.json serves both).
# psycopg2-binary is built from source (no_binary) against Debian's libpq.
# On bookworm, pretalx's `rebuild` (a build command) runs `npm ci` and a Vite
# build of the schedule editor (pretalx 2025.2 ships its sources only), so
# the build needs npm and the npm registry, or an npm cache that holds the
# packages; from 2026.1 on the wheel ships the built editor and `rebuild` is
# offline.
#
# Steps (each prints ok: lines, then PASS or FAIL with its time):
#   1. the app directory, the wheelhouse (cached), make builds pretalx
#      <v>-1 into a repository signed with a throwaway key; the build did not
#      leave pretalx's build-time data directory (its generated .secret) or
#      node_modules in the package, and shipped the compiled translations and
#      the schedule editor's Vite manifest;
#   2. in a fresh root (mkroot.sh, laid while step 1 builds): PostgreSQL and
#      Redis from the mirror, not started by apt (policy-rc.d says no while
#      they install), configured on free 127.0.0.1 ports and started by
#      hand as their users; a role and database for pretalx; the operator's
#      environment file /etc/pretalx/pretalx.env (database password, ports:
#      pretalx reads PRETALX_* variables after pretalx.cfg and they win);
#   3. apt-get install pretalx from the signed repository: postinst creates
#      the pretalx system user, migrates (as pretalx, password from the
#      environment file), starts the web service, the worker daemon
#      (pretalx-worker) and installs the timers (pretalx-periodic,
#      pretalx-clearsessions); nginx runs; lintian --fail-on error (run in the
#      background since step 1);
#   4. an organiser and an event (`manage init`, `manage shell`); through
#      nginx on port 80 (Host: pretalx.example.com): /, the event page, its
#      CfP, /orga/login/ answer 200; a collected static file under its hashed
#      name (staticfiles.json) and the Vite bundle (pretalx-manifest.json)
#      answer 200 with the built bytes; the organiser login POST ends in 302
#      and the schedule editor page (Vite asset tag) answers 200;
#   5. the worker (celery, as pretalx) runs one task from the web side's
#      queue and its result comes back through Redis; the periodic task, run
#      as its timer runs it, leaves its mark (pretalx's minimum_interval
#      result in the cache) and its task is processed by the worker;
#   6. secrets: the database password is in no file readable by others;
#      pretalx's own secret key (<state>/.secret) is mode 0600, pretalx's;
#      pretalx.cfg is 0640 root:pretalx;
#   7. an upload served from /media/; make <v>-2; apt-get upgrade while
#      tests/e2e/load.py keeps requests going through nginx (none may fail);
#      the web service reloaded gracefully, the worker restarted on the new
#      code, database (login), upload, secret key and the edited conffile
#      kept;
#   8. apt-get purge: the package's files, state directory, app directory,
#      venv, units and timers are gone, the operator's environment file and
#      the system user stay.
# Every process the test started is stopped by pid, and every mount undone,
# also when a step fails (tests/e2e/lib.sh).
#
# Needs root (chroot, mount), port 80 free, network access to PyPI and (for
# bookworm's build) the npm registry, and to the Debian mirror; debootstrap,
# zstd, gpg, curl, lintian, python3, and what `make` needs.
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
cache=$cache_top/pretalx-app

dist=${DIST:-trixie}
# The version suffix, the units' directory, the root's release.
target_dist "$dist"
# The test's matrix: pretalx's release per target python (requirements.txt's
# markers) and the release's PostgreSQL.
case $root_dist in
	bookworm) pretalx_version=2025.2.2 pg_version=15 ;;
	trixie) pretalx_version=2026.2.1 pg_version=17 ;;
	*) echo "run.sh: DIST '$dist': pretalx is built for bookworm or trixie only" >&2; exit 2 ;;
esac

package=pretalx
user=pretalx
venv=/opt/www/venvs/$package
app_dir=/opt/www/pretalx
state=/var/lib/$package
static_dir=$app_dir/staticfiles
media_dir=$state/media
env_file=/etc/pretalx/pretalx.env
cfg=/etc/pretalx/pretalx.cfg
host=pretalx.example.com
event=democon
# The page load.py asks for during the upgrade: the event's start page (a
# database read through the ORM, templates, the session middleware, Redis).
LOAD_PATH=/$event/

suite=pretalx-app${dist:+-$dist}
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
. "$e2e/lib.sh"

# --- helpers ------------------------------------------------------------------

# http_get and get_until_ok (tests/e2e/lib.sh): pretalx's pages take longer.
HTTP_TIMEOUT=30 HTTP_TRIES=60
# A value of a JSON file of the root: json_get FILE KEY [KEY...].
json_get() {
	"$py" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

# The admin helper as the operator runs it (root; it switches to pretalx).
manage() { inroot "$venv/bin/manage" "$@"; }
# Python in pretalx's context: `manage shell` with scopes off (pretalx's
# shell refuses to start without --event or --unsafe-disable-scopes).
pretalx_py() { manage shell --unsafe-disable-scopes -c "$1"; }

# Log in as the organiser: prints the POST's status and Location. pretalx's
# CSRF cookie is Secure (CSRF_COOKIE_SECURE), so curl's cookie jar would not
# send it back over plain http: the cookie goes back by hand, with the
# Referer of the login page (pretalx's CSRF check). The session cookie
# (pretalx_session, not Secure on an http site) is left in $work/session.
orga_login() {
	local csrf token code
	code=$(http_get /orga/login/ "$work/login-form.html" -D "$work/login-form.headers")
	[ "$code" = 200 ] || { echo "GET /orga/login/: HTTP $code"; return 1; }
	csrf=$(sed -n 's/^[Ss]et-[Cc]ookie: *\(pretalx_csrftoken=[^;]*\).*/\1/p' "$work/login-form.headers" | tr -d '\r')
	[ -n "$csrf" ] || { echo "no pretalx_csrftoken cookie"; return 1; }
	# (django-minify-html drops the attribute quotes: value=abc or value="abc")
	token=$(grep -o 'name="\{0,1\}csrfmiddlewaretoken[^>]*' "$work/login-form.html" | head -n1 \
		| sed 's/.*value="\{0,1\}\([^" >]*\).*/\1/')
	[ -n "$token" ] || { echo "no csrfmiddlewaretoken in the login form"; return 1; }
	code=$(http_get /orga/login/ "$work/login-post.html" -D "$work/login-post.headers" -b "$csrf" \
		-H "Referer: http://$host/orga/login/" \
		--data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode "login_email=$admin_email" \
		--data-urlencode "login_password=$password")
	sed -n 's/^[Ss]et-[Cc]ookie: *\(pretalx_session=[^;]*\).*/\1/p' "$work/login-post.headers" | tr -d '\r' >"$work/session"
	echo "$code $(sed -n 's/^[Ll]ocation: *\([^[:space:]]*\).*/\1/p' "$work/login-post.headers")"
}
# The login works: 302 to /orga/event/ (or /orga/), then the organiser area
# and the schedule editor (its Vite bundle named in the page) answer 200.
check_login() {
	local out code
	out=$(orga_login) || fail "organiser login ($1): $out"
	case $out in
		"302 /orga/"* | "302 http://$host/orga/"*) ;;
		*) fail "login POST ($1) answered \"$out\", not 302 to /orga/ (body: $work/login-post.html)" ;;
	esac
	[ -s "$work/session" ] || fail "the login ($1) set no pretalx_session cookie"
	ok "login POST to /orga/login/ with the CSRF token: ${out% *} to ${out#* }"
	code=$(http_get /orga/event/ "$work/orga-$1.html" -b "$(cat "$work/session")")
	[ "$code" = 200 ] || fail "GET /orga/event/ with the session ($1): HTTP $code, not 200"
	grep -q DemoCon "$work/orga-$1.html" || fail "GET /orga/event/ ($1) does not list the event"
	code=$(http_get "/orga/event/$event/schedule/" "$work/editor-$1.html" -b "$(cat "$work/session")")
	[ "$code" = 200 ] || fail "GET /orga/event/$event/schedule/ ($1): HTTP $code, not 200 (the Vite manifest?)"
	grep -qF "/static/$vite_main" "$work/editor-$1.html" \
		|| fail "the schedule editor page ($1) does not load /static/$vite_main"
	ok "GET /orga/event/ and the schedule editor with the session: 200, the editor loads /static/$vite_main"
}

# The worker: the pid of the Celery main process running in the root as
# pretalx (its pool processes have it as parent).
worker_pid() {
	local p ppid
	for p in $(root_pids); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'celery .*pretalx\.celery_app.* worker' || continue
		ppid=$(awk '{ print $4 }' "/proc/$p/stat")
		tr '\0' ' ' <"/proc/$ppid/cmdline" 2>/dev/null | grep -q 'celery .* worker' && continue
		echo "$p"
		return 0
	done
	return 1
}
worker_until() { # worker_until NOT_PID: a worker pid other than NOT_PID, ~30 s
	local p
	for _ in $(seq 1 60); do
		if p=$(worker_pid) && [ "$p" != "$1" ]; then echo "$p"; return 0; fi
		sleep 0.5
	done
	return 1
}

# Run what the timer NAME runs, as cron runs it in this root (no systemd):
# its line of /etc/cron.d/<package> (m h dom mon dow user command), the
# command as that user (root: the line's runner drops to the service user).
run_timer() {
	local name=$1 cron=/etc/cron.d/$package unit line cmd u
	if [ -f "$root$cron" ]; then
		line=$(grep -F "/run/$package-$name.lock" "$root$cron" | head -n1)
		[ -n "$line" ] || fail "timer $name: no line in $cron"
		u=$(awk '{ print $6 }' <<<"$line")
		cmd=$(cut -d' ' -f7- <<<"$(tr -s ' \t' ' ' <<<"$line")")
		note "timer $name: $cron runs \`$cmd\` as $u"
		inroot setpriv --reuid="$u" --regid="$u" --init-groups sh -c "$cmd"
		return
	fi
	unit=$unit_dir/$package-$name.service
	[ -f "$root$unit" ] || fail "timer $name: neither $cron nor $unit"
	cmd=$(sed -n 's/^ExecStart=-\{0,1\}//p' "$root$unit" | head -n1)
	u=$(sed -n 's/^User=//p' "$root$unit" | head -n1)
	note "timer $name: $unit runs \`$cmd\`${u:+ as $u}"
	# (manage switches from root to the service user itself)
	inroot sh -c "$cmd"
}

# The secret key pretalx generates in its data directory, its mode and owner.
secret_mode() { inroot stat -c '%a %U' "$state/.secret"; }

# --- step 1: build ------------------------------------------------------------

begin 1 "the app directory (app.json, requirements.txt, etc/); make builds $package $pretalx_version-1 into a signed repository"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
for c in debootstrap zstd gpg gpgv curl chroot mount flock lintian setpriv "$make" "$py"; do
	command -v "$c" >/dev/null || fail "$c is not installed (scripts/install-deps)"
done
mkdir -p "$cache"
lock_e2e
need_port_80

new_work pretalx
app=$work/pretalx repo=$work/repo gnupg=$work/gnupg
mkdir -p "$repo"

mkroot_start "$root_dist"

# The app: app.json, requirements.txt, etc/ (pretalx.cfg is 0644 in git, as any
# checkout leaves it: /etc/pretalx is private_config's default, so it ships 0640).
mkdir "$app"
tar -C "$here/app" -cf - app.json requirements.txt etc | tar -C "$app" -xpf -
sed -i "s/\"version\": *\"[^\"]*\"/\"version\": \"$pretalx_version-1\"/" "$app/app.json"
grep -q "\"version\": \"$pretalx_version-1\"" "$app/app.json" || fail "could not set version $pretalx_version-1 in $app/app.json"
[ ! -e "$app/manage.py" ] || fail "the app directory has a manage.py: this test is about an app from PyPI"
grep -q "^pretalx==$pretalx_version;" "$app/requirements.txt" || fail "requirements.txt does not pin pretalx==$pretalx_version"
ok "app directory $app: $(cd "$app" && find . -type f | sort | tr '\n' ' ')"

MAKEARGS=(-C "$top" "APP=$app" "REPO=$repo" "BUILD=$work/build")
[ -z "$bin" ] || MAKEARGS+=("T=$bin")
wheelhouse=$app/wheels
if [ -n "$dist" ]; then
	MAKEARGS+=("DIST=$dist")
	wheelhouse=$app/wheels/$dist-$arch
fi
# The build's npm cache (bookworm's rebuild runs `npm ci`), kept across
# runs: in the environment, which the build commands inherit.
mkdir -p "$cache/npm"
export npm_config_cache=$cache/npm

# The wheelhouse: make wheels once per requirements.txt, no_binary and
# release; then copied in, and the build is offline (but for npm).
key=$({ cat "$app/requirements.txt"; "$py" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("no_binary"))' "$app/app.json"; echo "$root_dist"; } | sha256sum | cut -c1-16)
wcache=$cache/wheels/$root_dist-$arch
if [ "$(cat "$wcache/.filled" 2>/dev/null)" != "$key" ]; then
	t_w=$EPOCHREALTIME
	logged make-wheels "$make" "${MAKEARGS[@]}" wheels
	note "make wheels: $(since "$t_w") s, $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1)"
	rm -rf "$wcache.new"
	mkdir -p "$wcache.new"
	cp "$wheelhouse"/*.whl "$wcache.new/"
	echo "$key" >"$wcache.new/.filled"
	rm -rf "$wcache"
	mv "$wcache.new" "$wcache"
else
	mkdir -p "$wheelhouse"
	cp "$wcache"/*.whl "$wheelhouse/"
	touch "$wheelhouse/.filled"
fi
ls "$wheelhouse"/pretalx-"$pretalx_version"-*.whl >/dev/null 2>&1 || fail "no pretalx $pretalx_version wheel in $wheelhouse"
ls "$wheelhouse"/psycopg2_binary-*-linux_*.whl >/dev/null 2>&1 \
	|| fail "psycopg2-binary was not built from source (no_binary): $(cd "$wheelhouse" && ls psycopg2* 2>/dev/null)"
ok "wheelhouse $wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1) (psycopg2-binary built against libpq)"

signing_key
MAKEARGS+=("REPO_KEY=$fpr" "GNUPGHOME=$gnupg")

version=$pretalx_version-1$suffix
t_b=$EPOCHREALTIME
logged make-1 "$make" "${MAKEARGS[@]}"
grep -E '==>' "$logs/make-1.log" | sed 's/^/    /'
note "make: $(since "$t_b") s"
if [ -n "$dist" ]; then
	index=$repo/dists/$dist/main/binary-$arch/Packages release=$repo/dists/$dist apt_suite="$dist main"
else
	index=$repo/Packages release=$repo apt_suite=./
fi
gpgv --keyring "$work/debpipe.gpg" "$release/InRelease" 2>"$logs/gpgv.log" \
	|| fail "InRelease does not verify with the key (log: $logs/gpgv.log)"
grep -qx "Version: $version" "$index" || fail "Packages does not list version $version"
deb=$(cat "$work/build/deb-path")
ok "built $(basename "$deb") ($(du -h "$deb" | cut -f1)), repository signed"

# What the build must and must not have put in the package.
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/contents.txt"
dpkg-deb -I "$deb" control >"$work/control"
site=$(grep -m1 -o "^$venv/lib/python3\.[0-9]*/site-packages/" "$work/contents.txt") \
	|| fail "no site-packages under $venv in the package"
leaked=$(grep -E '/\.secret$|/node_modules/|/pretalx-build-data/|/site-packages/data/' "$work/contents.txt" | head -n5 || true)
[ -z "$leaked" ] || fail "the package ships build-time files: ${leaked//$'\n'/, }"
mos=$(grep -c "^${site}pretalx/locale/.*/LC_MESSAGES/django\.mo$" "$work/contents.txt" || true)
[ "$mos" -ge 20 ] || fail "the package ships $mos compiled translations (rebuild's compilemessages, needs gettext)"
grep -qx "$static_dir/pretalx-manifest.json" "$work/contents.txt" \
	|| fail "no $static_dir/pretalx-manifest.json: the schedule editor was not built (rebuild)"
grep -qx "$static_dir/staticfiles.json" "$work/contents.txt" || fail "no $static_dir/staticfiles.json (collectstatic)"
grep -qx "$cfg" "$work/contents.txt" || fail "the package does not ship $cfg"
dpkg-deb -e "$deb" "$work/DEBIAN"
grep -qx "$cfg" "$work/DEBIAN/conffiles" || fail "$cfg is not a conffile"
grep -q '^Depends:.*libpq5' "$work/control" || fail "Depends has no libpq5 (psycopg2 built against it): $(grep ^Depends "$work/control")"
grep -q '^Recommends:.*postgresql' "$work/control" || fail "no Recommends: postgresql"
ok "no .secret, node_modules or build data dir in the package; $mos .mo files, the Vite and staticfiles manifests, $cfg a conffile"
note "$(grep -E '^(Depends|Recommends):' "$work/control" | tr '\n' ' ')"
for u in "$package-worker.service" "$package-periodic.service" "$package-periodic.timer" "$package-clearsessions.timer"; do
	grep -qx "$unit_dir/$u" "$work/contents.txt" || fail "no $unit_dir/$u in the package"
done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$unit_dir/$package-periodic.timer" >"$work/periodic.timer"
grep -qE '^(OnUnitActiveSec=5min|OnCalendar=.*(\*|[0-9]+)/5(:00)?$)' "$work/periodic.timer" \
	|| fail "$package-periodic.timer does not run every 5 minutes: $(grep -E '^On' "$work/periodic.timer" | tr '\n' ' ')"
ok "units: $package-worker.service, $package-{periodic,clearsessions}.{service,timer} (every 5 min, daily)"

lintian_start "$deb"
pass

# --- step 2: the root, PostgreSQL, Redis, the environment file ------------------

begin 2 "a fresh $root_dist root with PostgreSQL and Redis started by hand on free ports; the operator's $env_file"
serve_repo "$repo" "${index#"$repo"}"
mkroot_wait
snapshot_dirs
mount_root "$e2e_cache"
logged apt-update-0 inroot apt-get -q --error-on=any update
# PostgreSQL and Redis must not start on their default ports (the root shares
# the host's network): policy-rc.d refuses every start while they install.
cp -p "$root/usr/sbin/policy-rc.d" "$work/policy-rc.d.allow"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
logged apt-install-services inroot "${APT[@]}" install postgresql redis-server
cp -p "$work/policy-rc.d.allow" "$root/usr/sbin/policy-rc.d"
[ -z "$(root_pids)" ] || fail "processes run in the root after installing PostgreSQL and Redis: $(root_pids | tr '\n' ' ')"
pg_port=$(free_port) redis_port=$(free_port)
[ "$pg_port" != "$redis_port" ] || redis_port=$(free_port)
pg_conf=/etc/postgresql/$pg_version/main
[ -d "$root$pg_conf" ] || fail "no cluster $pg_conf (postgresql-common did not create 'main')"
sed -i "s/^#\{0,1\}port = .*/port = $pg_port/; s/^#\{0,1\}listen_addresses = .*/listen_addresses = '127.0.0.1'/" "$root$pg_conf/postgresql.conf"
logged pg-start inroot pg_ctlcluster "$pg_version" main start
sed -i "s/^port .*/port $redis_port/; s/^bind .*/bind 127.0.0.1/; s/^daemonize .*/daemonize yes/" "$root/etc/redis/redis.conf"
grep -q '^daemonize yes' "$root/etc/redis/redis.conf" || echo 'daemonize yes' >>"$root/etc/redis/redis.conf"
install -d -o "$(stat -c %u "$root/var/lib/redis")" -m 0755 "$root/run/redis"
logged redis-start inroot setpriv --reuid=redis --regid=redis --init-groups redis-server /etc/redis/redis.conf
for _ in $(seq 1 50); do
	inroot redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
	sleep 0.2
done
inroot redis-cli -p "$redis_port" ping | grep -q PONG || fail "Redis does not answer on 127.0.0.1:$redis_port"
ok "PostgreSQL $pg_version on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port (started by hand, as postgres and redis)"
db_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
logged pg-role inroot runuser -u postgres -- psql -v ON_ERROR_STOP=1 -p "$pg_port" \
	-c "CREATE ROLE pretalx LOGIN PASSWORD '$db_password'" -c 'CREATE DATABASE pretalx OWNER pretalx'
# The operator's file: written before the package is installed (postinst's
# migrate needs the password); root's alone until the package made its user
# (debpipe reads it as root).
install -d -m 0755 "$root/etc/pretalx"
(umask 077 && cat >"$root$env_file" <<-EOF
	# pretalx's secrets and the local services' ports (the operator's file).
	PRETALX_DB_PASS=$db_password
	PRETALX_DB_HOST=127.0.0.1
	PRETALX_DB_PORT=$pg_port
	PRETALX_REDIS=redis://127.0.0.1:$redis_port/0
	PRETALX_CELERY_BROKER=redis://127.0.0.1:$redis_port/1
	PRETALX_CELERY_BACKEND=redis://127.0.0.1:$redis_port/2
	PRETALX_SITE_URL=http://$host
EOF
)
ok "$env_file (mode $(stat -c %a "$root$env_file")): the database password, the ports of PostgreSQL and Redis"
pass

# --- step 3: install ----------------------------------------------------------

begin 3 "apt-get install $package: user, migrate, web service, worker, timers, nginx; lintian"
apt_source "http://127.0.0.1:$port/" "$apt_suite"
install_package "$version"
ok "installed with apt ($(grep -c '^\[.*\] Setting up ' "$logs/apt-install.log") packages set up)"
inroot getent passwd "$user" >/dev/null || fail "postinst made no user $user"
[ "$(inroot getent passwd "$user" | cut -d: -f3)" -lt 1000 ] || fail "$user is not a system user"
ok "system user $user: $(inroot getent passwd "$user")"
inroot runuser -u postgres -- psql -p "$pg_port" -d pretalx -tAc 'SELECT count(*) FROM django_migrations' >"$work/migrations" \
	|| fail "no django_migrations table: postinst did not migrate"
ok "postinst migrated: $(cat "$work/migrations") migrations applied (password from $env_file)"
master1=$(pidfile_pid "/run/$package.pid") || fail "no live process in /run/$package.pid: the web service is not running"
[ "$(readlink "/proc/$master1/exe")" = "$root$venv/bin/uwsgi" ] || fail "pid $master1 is not the venv's uwsgi"
# (the user is the root's: compare uids, the host has no such name)
uid=$(inroot id -u "$user")
[ "$(stat -c %u "/proc/$master1")" = "$uid" ] || fail "uWSGI runs as uid $(stat -c %u "/proc/$master1"), not $user ($uid)"
ok "uWSGI master $master1 runs as $user"
worker1=$(worker_until none) || fail "no Celery worker (pretalx.celery_app) runs in the root: the worker daemon did not start"
[ "$(stat -c %u "/proc/$worker1")" = "$uid" ] || fail "the worker runs as uid $(stat -c %u "/proc/$worker1"), not $user ($uid)"
tr '\0' '\n' <"/proc/$worker1/environ" | grep -qx "PRETALX_DB_PASS=$db_password" \
	|| fail "the worker's environment lacks PRETALX_DB_PASS from $env_file"
ok "worker $worker1: $(tr '\0' ' ' <"/proc/$worker1/cmdline"), as $user, with $env_file's environment"
pidfile_pid /run/nginx.pid >/dev/null || fail "nginx is not running in the root"
ok "nginx runs"
note "$state: $(inroot stat -c '%U:%G %a' "$state")"
lintian_wait
# No warning may come from a file debpipe generated or normalised: only
# third-party files inside the venv (or collected from it) may be warned of.
ours=$(grep -E '^W: ' "$logs/lintian.log" | grep -vE "\[(${venv#/}|${static_dir#/})/" || true)
[ -z "$ours" ] || fail "lintian warns of debpipe's own files: ${ours//$'\n'/; }"
ok "lintian: no error, no warning of debpipe's files ($(grep -c '^W: ' "$logs/lintian.log" || true) warnings in all, log: $logs/lintian.log)"
{ grep -E '^W: ' "$logs/lintian.log" || true; } | awk '{ print $3 }' | sort | uniq -c | sort -rn | head -n 15 | sed 's/^/    W /'
pass

# --- step 4: pages, static files, login ---------------------------------------

begin 4 "an organiser and an event; through nginx: pages, static files, the organiser login, the schedule editor"
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
admin_email=admin@example.com
logged init inroot env DJANGO_SUPERUSER_EMAIL="$admin_email" DJANGO_SUPERUSER_PASSWORD="$password" \
	PRETALX_INIT_ORGANISER_NAME="DemoCon Organisers" PRETALX_INIT_ORGANISER_SLUG=democon-org \
	"$venv/bin/manage" init --noinput
# An event as the organiser UI makes one (with its creation log entry, which
# the periodic task reads), without the "event created" mail to organisers;
# no update check with pretalx.com (the periodic task would send one).
logged event pretalx_py "
import datetime as dt
from django_scopes import scope
from pretalx.common.models.settings import GlobalSettings
from pretalx.event.models import Event, Organiser
GlobalSettings().settings.set('update_check_enabled', False)
today = dt.date.today()
ev, _ = Event.objects.get_or_create(slug='$event', defaults=dict(
    name='DemoCon', organiser=Organiser.objects.get(slug='democon-org'),
    date_from=today, date_to=today + dt.timedelta(days=2), email='orga@example.com',
    timezone='UTC', locale='en', is_public=True))
with scope(event=ev):
    try:  # pretalx 2026.2: what the organiser UI gives a new event (its CfP...)
        from pretalx.event.domain.event import initialise_event
        initialise_event(ev)
    except ImportError:  # 2025.2 builds it when the event is saved
        pass
    if not ev.log_entries.exists():
        ev.log_action('pretalx.event.create')
    ev.settings.sent_mail_event_created = True
print('event', ev.slug)
"
ok "manage init (superuser $admin_email, organiser) and event /$event/"
for p in / "/$event/" "/$event/cfp" /orga/login/; do
	code=$(get_until_ok "$p" "$work/page.html")
	[ "$code" = 200 ] || fail "GET $p answered HTTP $code, not 200 (body: $work/page.html)"
	case $p in "/$event/"*) grep -q DemoCon "$work/page.html" || fail "GET $p answered 200 without the event's name" ;; esac
	ok "GET $p: 200 ($(wc -c <"$work/page.html") bytes)"
done
# A collected static file under its hashed name, and the Vite bundle.
manifest=$root$static_dir/staticfiles.json
css=$(json_get "$manifest" paths common/css/forms/base.css) || fail "no common/css/forms/base.css in $static_dir/staticfiles.json"
[ -n "$css" ] || fail "no CSS file in $static_dir/staticfiles.json"
code=$(http_get "/static/$css" "$work/static.out")
[ "$code" = 200 ] || fail "GET /static/$css answered HTTP $code, not 200"
cmp -s "$work/static.out" "$root$static_dir/$css" || fail "GET /static/$css is not the collected file"
ok "GET /static/$css: 200, the collected bytes"
# (the schedule editor's entry: src/main.js in pretalx 2025.2, whose build
# step makes it; schedule-editor/src/main.js in 2026.2, which ships it)
vite_main=$(json_get "$root$static_dir/pretalx-manifest.json" schedule-editor/src/main.js file 2>/dev/null \
	|| json_get "$root$static_dir/pretalx-manifest.json" src/main.js file) \
	|| fail "no schedule editor entry in $static_dir/pretalx-manifest.json"
code=$(http_get "/static/$vite_main" "$work/vite.out")
[ "$code" = 200 ] || fail "GET /static/$vite_main (the schedule editor) answered HTTP $code"
cmp -s "$work/vite.out" "$root$static_dir/$vite_main" || fail "GET /static/$vite_main is not the built bundle"
ok "GET /static/$vite_main (Vite bundle of the schedule editor): 200"
check_login 1
pass

# --- step 5: worker and periodic task -----------------------------------------

begin 5 "the worker runs a task from the queue; the periodic timer's command runs and its task is processed"
logged task pretalx_py "
try:
    from pretalx.event.tasks import task_periodic_event_services as t  # 2026.2
except ImportError:
    from pretalx.event.services import task_periodic_event_services as t  # 2025.2
r = t.apply_async(args=('$event',))
r.get(timeout=60)
print('task', r.id, r.status)
"
grep -q 'task .* SUCCESS' "$logs/task.log" || fail "the task did not come back SUCCESS (log: $logs/task.log)"
ok "pretalx.event.periodic_event_services ran on the worker: $(grep -o 'task .* SUCCESS' "$logs/task.log")"
logged periodic run_timer periodic
logged periodic-mark pretalx_py "
from django.core.cache import cache
print('mark', cache.get('pretalx_periodic_pretalx.common.update_check.run_update_check_result'))
"
grep -q 'mark success' "$logs/periodic-mark.log" || fail "runperiodic left no result in the cache (log: $logs/periodic-mark.log)"
ok "runperiodic ran: pretalx's run_update_check marked success in Redis"
# Its event task went to the worker: the queue drains.
for _ in $(seq 1 60); do
	[ "$(inroot redis-cli -p "$redis_port" -n 1 llen celery)" = 0 ] && break
	sleep 0.5
done
[ "$(inroot redis-cli -p "$redis_port" -n 1 llen celery)" = 0 ] || fail "the worker left tasks in the queue"
ok "the queue is empty: the worker took the periodic task's jobs"
logged clearsessions run_timer clearsessions
ok "the clearsessions timer's command runs"
pass

# --- step 6: secrets ----------------------------------------------------------

begin 6 "the database password is in no file others may read; pretalx's secret key and pretalx.cfg modes"
[ -f "$root$state/.secret" ] || fail "no $state/.secret (pretalx generates its key in its data directory)"
read -r smode sowner <<<"$(secret_mode)"
[ "$smode $sowner" = "600 $user" ] || fail "$state/.secret is mode $smode, owner $sowner (want 600 $user)"
ok "$state/.secret: mode 0600, owner $user"
cp -p "$root$state/.secret" "$work/secret.1"
[ "$(inroot stat -c '%a %U %G' "$cfg")" = "640 root $user" ] || fail "$cfg is $(inroot stat -c '%a %U %G' "$cfg"), not 640 root $user"
ok "$cfg: 0640 root:$user"
[ "$(stat -c %a "$root$env_file")" = 600 ] || [ "$(inroot stat -c '%a %G' "$env_file")" = "640 $user" ] \
	|| fail "$env_file is $(inroot stat -c '%a %U %G' "$env_file") after the install"
for f in "$env_file" "$state/.secret" "$cfg"; do
	if inroot setpriv --reuid=www-data --regid=www-data --init-groups cat "$f" >/dev/null 2>&1; then
		fail "nginx's user www-data can read $f"
	fi
done
ok "nginx's user www-data can read none of $env_file, $state/.secret, $cfg"
find "$root" \( -path "$root/proc" -o -path "$root/sys" -o -path "$root/dev" \
	-o -path "$root/var/cache/apt/archives" \) -prune -o -type f -perm -o=r -print0 >"$work/readable.lst"
leaks=$(xargs -0 -r grep -lF -e "$db_password" -e "$(cat "$work/secret.1")" -- <"$work/readable.lst" | sed "s|^$root||" || true)
[ -z "$leaks" ] || fail "files readable by others hold the database password or the secret key: ${leaks//$'\n'/, }"
ok "none of the $(tr -cd '\0' <"$work/readable.lst" | wc -c) files readable by others holds the password or the key"
pass

# --- step 7: upgrade under load -------------------------------------------------

begin 7 "an upload; make $pretalx_version-2; apt-get upgrade under load: no request fails, worker restarted, state kept"
upload=$media_dir/$event/upload-test.txt
upload_served "$user" "$upload" "/media/$event/upload-test.txt"
ok "an upload by $user in $media_dir is served at /media/"
echo "# edited by the admin" >>"$root$cfg"
cp "$root$cfg" "$work/cfg.edited"
make_version "$pretalx_version-1" "$pretalx_version-2"
version=$pretalx_version-2$suffix
grep -qx "Version: $version" "$index" || fail "Packages does not list version $version"
logged apt-update-2 inroot apt-get -q --error-on=any update
upgrade_under_load
note "GET $LOAD_PATH through nginx during apt-get upgrade ($t_up s): $sent requests, $failed failed, $nginx_502 answered 502"
[ "$sent" -gt 0 ] || fail "the load generator sent no request during the upgrade"
if [ "$failed" -ne 0 ] || [ "$nginx_502" -ne 0 ]; then
	fail "$failed of $sent requests failed during the upgrade ($nginx_502 502s): $(cat "$logs/upgrade.load-errors")"
fi
ok "no request failed during the upgrade: $sent sent"
check_apt_log "$logs/apt-upgrade.log"
[ "$(inroot dpkg-query -W -f='${Version}' "$package")" = "$version" ] || fail "$package $version is not installed"
grep -q "$package: reloaded gracefully" "$logs/apt-upgrade.log" || fail "postinst did not reload the web service gracefully"
master2=$(pidfile_pid "/run/$package.pid") || fail "the web service is not running after the upgrade"
ok "upgraded to $version; uWSGI master $master1 -> $master2"
worker2=$(worker_until "$worker1") || fail "the worker was not restarted by the upgrade (still pid $worker1)"
ok "worker restarted: $worker1 -> $worker2"
cmp -s "$work/cfg.edited" "$root$cfg" || fail "the edited $cfg was changed by the upgrade"
ok "the edited conffile $cfg is kept"
check_login 2
ok "the database kept the organiser"
upload_still_served "/media/$event/upload-test.txt" "after the upgrade"
cmp -s "$work/secret.1" "$root$state/.secret" || fail "the secret key changed with the upgrade"
ok "the upload and the secret key are kept"
logged task-2 pretalx_py "
try:
    from pretalx.event.tasks import task_periodic_event_services as t  # 2026.2
except ImportError:
    from pretalx.event.services import task_periodic_event_services as t  # 2025.2
r = t.apply_async(args=('$event',))
r.get(timeout=60)
print('task', r.id, r.status)
"
grep -q 'task .* SUCCESS' "$logs/task-2.log" || fail "the new worker did not run a task (log: $logs/task-2.log)"
ok "the new worker runs tasks"
pass

# --- step 8: purge ------------------------------------------------------------

begin 8 "apt-get purge $package: its files, state, app dir, venv, units and $env_file are gone"
inroot dpkg -L "$package" >"$work/files.txt"
purge_package
pidfile_pid "/run/$package.pid" >/dev/null && fail "the web service still runs after the purge"
w=$(worker_pid) && fail "the worker (pid $w) still runs after the purge"
{
	cat "$work/files.txt"
	printf '%s\n' "$state" "$app_dir" "$venv" "$cfg" "/run/$package" "/run/$package.pid" \
		"/etc/systemd/system/multi-user.target.wants/$package-worker.service" \
		"/etc/systemd/system/timers.target.wants/$package-periodic.timer" \
		"/etc/cron.d/$package" "/etc/init.d/$package-worker" "$env_file"
} | sort -u >"$work/expected-gone.txt"
left=$(purge_leftovers "$work/expected-gone.txt")
[ -z "$left" ] || fail "left behind after purge: $(tr '\n' ' ' <<<"$left")"
ok "none of the $(wc -l <"$work/expected-gone.txt") paths is left ($state, $app_dir, $venv, $cfg, the units)"
inroot getent passwd "$user" >/dev/null || note "the purge removed the system user $user"
by_us=$(dirs_gone)
[ -z "$by_us" ] || fail "the purge removed directories the fresh system had: ${by_us//$'\n'/, }"
ok "every directory of the fresh system is still there"
rm -f "$e2e_cache/apt-archives/${package}_"*.deb
pass
