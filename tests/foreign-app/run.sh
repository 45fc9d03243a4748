#!/usr/bin/env bash
# The flow on an app directory debpipe did not write: a fresh
# `django-admin startproject` with its own layout (mysite/settings.py,
# mysite/wsgi.py), an app.json naming its modules, and the wheelhouse.
# It runs as its own user and group (created by postinst; nginx's www-data
# is not in that group: it reaches the socket through the socket's group,
# www-data). Builds it with make, checks the package with lintian, installs
# it with apt in a fresh Debian root of this machine's release (mkroot.sh:
# its dependencies from the mirror), where postinst starts it through
# invoke-rc.d; restarts it with its SysV script, asks Django's admin login
# page through the uWSGI socket and through nginx (a private instance in the
# root on a free 127.0.0.1 port, workers as www-data, with the package's
# snippet in a server block: www-data reaches the socket only through the
# socket's group, and cannot read the secret key), then purges it and
# checks that nothing of it is left. Needs root (chroot, mount), port 80
# free (the root's own nginx, a dependency, starts on it), debootstrap,
# zstd, lintian, and what `make` needs.
#
#   tests/foreign-app/run.sh [--bin DIR] [--keep]
#
#   --bin DIR   the built tools: passed to make as T=DIR; or set DEBPIPE_BIN
#   --keep      keep the work directory (root, app, logs); or set KEEP=1
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
parse_options "$@"
suite=foreign-app
pkg=mysite-api
package=$pkg
venv=/opt/www/venvs/$pkg
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
. "$e2e/lib.sh"

begin 1 "a startproject app built with make (a second make does nothing), lintian-clean"
[ "$(id -u)" = 0 ] || fail "must run as root (chroot, mount)"
lock_e2e
new_work foreign
mkroot_start "$host_dist"

# The wheelhouse of the example app has Django and uWSGI (make wheels fills it).
logged make-wheels "$make" -s -C "$top" wheels APP="$top/examples/wechat" ${bin:+"T=$bin"}
wheels=$top/examples/wechat/wheels
version_of() { find "$wheels" -maxdepth 1 -iname "$1-*.whl" -printf '%f\n' | head -1 | cut -d- -f2; }
django=$(version_of django)
uwsgi=$(version_of uwsgi)
if [ -z "$django" ] || [ -z "$uwsgi" ]; then fail "no Django or uWSGI wheel in $wheels"; fi

app=$work/mysite
mkdir -p "$app"
"$py" -m venv "$work/tools"
logged pip-django "$work/tools/bin/pip" install -q --no-index --find-links "$wheels" "Django==$django"
(cd "$app" && "$work/tools/bin/django-admin" startproject mysite .)
printf 'Django==%s\nuWSGI==%s\n' "$django" "$uwsgi" >"$app/requirements.txt"
cat >"$app/app.json" <<JSON
{"module": "mysite", "version": "0.1.0", "wsgi": "mysite.wsgi:application",
 "settings": "mysite.settings", "maintainer": "Someone <someone@example.com>",
 "location": "/", "user": "mysite", "group": "mysite"}
JSON
mkdir "$app/wheels"
cp "$wheels"/*.whl "$app/wheels/"
touch "$app/wheels/.filled"

args=(-C "$top" "APP=$app" "REPO=$work/repo" "BUILD=$work/build")
[ -z "$bin" ] || args+=("T=$bin")
logged make "$make" -s "${args[@]}"
deb=$(cat "$work/build/deb-path")
# A second make with nothing changed does nothing.
logged make-again "$make" "${args[@]}"
if grep -q '\] ==> \[' "$logs/make-again.log"; then
	fail "a second make with nothing changed ran stages again (log: $logs/make-again.log)"
fi
ok "a second make with nothing changed does nothing"
logged lintian lintian --fail-on error "$deb"
ok "built and lintian-clean: $(basename "$deb")"
pass

begin 2 "apt-get install in a fresh $host_dist root: postinst starts it, the SysV script restarts it"
mkroot_wait
mount_root "$cache"
need_port_80
cp "$deb" "$root/tmp/"
logged apt-update inroot apt-get -q --error-on=any update
install_package 0.1.0 "/tmp/$(basename "$deb")"
inroot dpkg -L "$pkg" >"$work/files.txt"
inroot getent passwd mysite >/dev/null || fail "postinst did not create the user mysite"
! inroot id -nG www-data | grep -qw mysite || fail "postinst added www-data (nginx) to the group mysite, which reads the secrets"
logged sysv-restart inroot "/etc/init.d/$pkg" restart
sock=/run/$pkg/$pkg.sock
for _ in $(seq 1 50); do
	[ -S "$root$sock" ] && break
	sleep 0.1
done
# Owners as the root names them (its passwd, not the host's).
owner=$(inroot stat -c %U:%G "$sock") || fail "no socket $sock after the restart"
[ "$owner" = mysite:www-data ] || fail "socket owned by $owner, not mysite:www-data"
secret=/var/lib/$pkg/secret_key
[ -s "$root$secret" ] || fail "no secret key $secret"
if inroot setpriv --reuid=www-data --regid=www-data --init-groups cat "$secret" >/dev/null 2>&1; then
	fail "www-data (nginx) can read $secret"
fi
ok "socket mysite:www-data; www-data cannot read $secret"
pass

begin 3 "Django's admin login page through the uWSGI socket and through nginx"
resp=$(inroot "$venv/bin/python3" - <<'PY'
import socket, struct
path = "/admin/login/"
pairs = [("REQUEST_METHOD", "GET"), ("PATH_INFO", path), ("REQUEST_URI", path),
         ("QUERY_STRING", ""), ("SERVER_PROTOCOL", "HTTP/1.1"), ("SERVER_NAME", "localhost"),
         ("SERVER_PORT", "80"), ("HTTP_HOST", "localhost")]
body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
                for k, v in pairs)
s = socket.socket(socket.AF_UNIX)
s.connect("/run/mysite-api/mysite-api.sock")
s.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
out = b""
while chunk := s.recv(65536):
    out += chunk
print(out.split(b"\r\n", 1)[0].decode())
PY
)
[ "$resp" = "HTTP/1.1 200 OK" ] || fail "admin login page: $resp"
ok "Django's admin login page answers 200 through the socket"

# A private nginx in the root (its paths are the root's), on a free port.
ngx=/tmp/nginx
mkdir -p "$root$ngx"
cp "$root/etc/nginx/uwsgi_params" "$root$ngx/"
port=$(free_port)
snippet=/opt/www/nginx/mysite.conf
grep -qxF "$snippet" "$work/files.txt" || fail "the package has no nginx snippet $snippet"
cat >"$root$ngx/nginx.conf" <<NGINX
user www-data;
worker_processes 1;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $ngx/body;
    proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi;
    uwsgi_temp_path $ngx/uwsgi;
    scgi_temp_path $ngx/scgi;
    server {
        listen 127.0.0.1:$port;
        include $snippet;
    }
}
NGINX
nginx_cmd=(inroot nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf")
logged nginx-t "${nginx_cmd[@]}" -t
# (not logged: the daemon must not hold the log's pipe)
"${nginx_cmd[@]}" </dev/null >"$logs/nginx.log" 2>&1 9>&- || fail "nginx did not start: $(cat "$logs/nginx.log" "$root$ngx/error.log")"
code=""
for _ in $(seq 1 50); do
	code=$(curl -s -o "$work/admin.html" -w '%{http_code}' "http://127.0.0.1:$port/admin/login/" || true)
	[ "$code" = 000 ] || break
	sleep 0.1
done
[ "$code" = 200 ] || fail "GET /admin/login/ through nginx: HTTP $code: $(cat "$root$ngx/error.log")"
grep -q 'csrfmiddlewaretoken' "$work/admin.html" || fail "nginx answered 200 without Django's login form"
ok "Django's admin login page answers 200 through nginx (workers as www-data, socket mysite:www-data 0660)"
kill -QUIT "$(cat "$root$ngx/nginx.pid")"
pass

begin 4 "stop, purge: nothing of it is left"
logged sysv-stop inroot "/etc/init.d/$pkg" stop
purge_package
left=()
while IFS= read -r f; do
	[ -e "$root$f" ] && [ ! -d "$root$f" ] && left+=("$f")
done < <(cat "$work/files.txt"; printf '%s\n' /var/log/uwsgi/mysite.log "/run/$pkg.pid")
for d in "/run/$pkg" /opt/www/mysite "$venv"; do
	[ -e "$root$d" ] && left+=("$d")
done
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
ok "purged, nothing of it left"
pass
