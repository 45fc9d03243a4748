#!/usr/bin/env bash
# The flow on an app directory debpipe did not write: a fresh
# `django-admin startproject` with its own layout (mysite/settings.py,
# mysite/wsgi.py), an app.json naming its modules, and the wheelhouse.
# It runs as its own user and group (created by postinst; nginx's www-data
# is not in that group: it reaches the socket through the socket's group,
# www-data). Builds it with make, checks the package with lintian, installs it on this
# machine with dpkg -i, starts it with its SysV script (this machine's
# policy-rc.d forbids service starts from maintainer scripts), asks Django's
# admin login page through the uWSGI socket and through nginx (a private
# instance, workers as www-data, with the package's snippet in a server
# block: www-data reaches the socket only through the socket's group, and
# cannot read the secret key), then purges it
# and checks that nothing of it is left. Needs root.
#
#   tests/foreign-app/run.sh [--bin DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${DEBPIPE_BIN:-}
if [ "${1:-}" = --bin ]; then bin=$2; fi
if [ -n "$bin" ]; then bin=$(cd "$bin" && pwd); fi
work=$(mktemp -d /tmp/debpipe-foreign.XXXXXX)
pkg=mysite-api
cleanup() {
	local rc=$?
	if [ -s "$work/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; sleep 0.3; fi
	if dpkg-query -W "$pkg" >/dev/null 2>&1; then
		if [ -x "/etc/init.d/$pkg" ]; then "/etc/init.d/$pkg" stop >/dev/null 2>&1 || true; fi
		dpkg -P "$pkg" >/dev/null 2>&1 || true
	fi
	# Debian leaves system users behind on purge; this test removes its own.
	if getent passwd mysite >/dev/null; then deluser --quiet mysite >/dev/null 2>&1 || true; fi
	if getent group mysite >/dev/null; then delgroup --quiet mysite >/dev/null 2>&1 || true; fi
	rm -rf "$work"
	[ $rc -eq 0 ] && echo "foreign-app: PASS" || echo "foreign-app: FAIL" >&2
}
trap cleanup EXIT
fail() { echo "foreign-app: $*" >&2; exit 1; }

# The wheelhouse of the example app has Django and uWSGI (make wheels fills it).
make -s -C "$top" wheels APP="$top/examples/wechat" >/dev/null
wheels=$top/examples/wechat/wheels
version_of() { find "$wheels" -maxdepth 1 -iname "$1-*.whl" -printf '%f\n' | head -1 | cut -d- -f2; }
django=$(version_of django)
uwsgi=$(version_of uwsgi)
if [ -z "$django" ] || [ -z "$uwsgi" ]; then fail "no Django or uWSGI wheel in $wheels"; fi

app=$work/mysite
mkdir -p "$app"
/usr/bin/python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q --no-index --find-links "$wheels" "Django==$django"
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
make -s "${args[@]}" >"$work/make.log" 2>&1 || { cat "$work/make.log"; fail "make failed"; }
deb=$(cat "$work/build/deb-path")
# A second make with nothing changed does nothing.
make "${args[@]}" >"$work/make2.log" 2>&1 || { cat "$work/make2.log"; fail "second make failed"; }
if grep -q '^==> \[' "$work/make2.log"; then
	cat "$work/make2.log"
	fail "a second make with nothing changed ran stages again"
fi
echo "    ok: a second make with nothing changed does nothing"
lintian --fail-on error "$deb" >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail "lintian errors"; }
echo "    ok: built and lintian-clean: $(basename "$deb")"

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
dpkg -L "$pkg" >"$work/files.txt"
getent passwd mysite >/dev/null || fail "postinst did not create the user mysite"
! id -nG www-data | grep -qw mysite || fail "postinst added www-data (nginx) to the group mysite, which reads the secrets"
"/etc/init.d/$pkg" start >/dev/null || fail "the SysV script did not start it"
owner=$(stat -c %U:%G "/run/$pkg/$pkg.sock")
[ "$owner" = mysite:www-data ] || fail "socket owned by $owner, not mysite:www-data"
secret=/var/lib/$pkg/secret_key
[ -s "$secret" ] || fail "no secret key $secret"
if setpriv --reuid=www-data --regid=www-data --init-groups cat "$secret" >/dev/null 2>&1; then
	fail "www-data (nginx) can read $secret"
fi
echo "    ok: socket mysite:www-data; www-data cannot read $secret"
resp=$(/opt/www/venvs/$pkg/bin/python3 - <<'PY'
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
echo "    ok: installed, started, Django's admin login page answers 200 through the socket"

ngx=$work/nginx
mkdir -p "$ngx"
cp /etc/nginx/uwsgi_params "$ngx/"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
snippet=/opt/www/nginx/mysite.conf
grep -qxF "$snippet" "$work/files.txt" || fail "the package has no nginx snippet $snippet"
cat >"$ngx/nginx.conf" <<NGINX
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
nginx_cmd=(nginx -p "$ngx" -e "$ngx/error.log" -c "$ngx/nginx.conf")
"${nginx_cmd[@]}" -t >"$work/nginx-t.log" 2>&1 || { cat "$work/nginx-t.log"; fail "nginx -t rejects the snippet in a server block"; }
"${nginx_cmd[@]}" || { cat "$ngx/error.log"; fail "nginx did not start"; }
code=""
for _ in $(seq 1 50); do
	code=$(curl -s -o "$work/admin.html" -w '%{http_code}' "http://127.0.0.1:$port/admin/login/" || true)
	[ "$code" = 000 ] || break
	sleep 0.1
done
[ "$code" = 200 ] || { cat "$ngx/error.log"; fail "GET /admin/login/ through nginx: HTTP $code"; }
grep -q 'csrfmiddlewaretoken' "$work/admin.html" || fail "nginx answered 200 without Django's login form"
echo "    ok: Django's admin login page answers 200 through nginx (workers as www-data, socket mysite:www-data 0660)"
kill -QUIT "$(cat "$ngx/nginx.pid")"

"/etc/init.d/$pkg" stop >/dev/null || fail "the SysV script did not stop it"
dpkg -P "$pkg" >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P failed"; }
left=()
while IFS= read -r f; do
	[ -e "$f" ] && [ ! -d "$f" ] && left+=("$f")
done < <(cat "$work/files.txt"; printf '%s\n' /var/log/uwsgi/mysite.log /run/$pkg.pid)
for d in "/run/$pkg" /opt/www/mysite "/opt/www/venvs/$pkg"; do
	[ -e "$d" ] && left+=("$d")
done
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
echo "    ok: purged, nothing of it left"
