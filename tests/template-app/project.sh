# shellcheck shell=bash
# The Wagtail project of the template-app test, shared with bench/rebuild.sh:
# sourced, it defines make_project.
#
# make_project APP WHEELS PY TOOLS: `wagtail start mysite` in APP (created),
# from the wheelhouse WHEELS (tests/template-app/run.sh's fill_wheels), in a
# throwaway venv TOOLS made with PY (no bytecode: the venv lives for one
# command); then uWSGI appended to its requirements.txt (WHEELS holds the
# list the wheelhouse was made from), the app.json of the test, and the
# wheelhouse copied into APP/wheels. Only app.json is written by us.
make_project() {
	local app=$1 wheels=$2 py=$3 tools=$4
	"$py" -m venv --without-pip "$tools"
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS='' "$py" -m pip --disable-pip-version-check \
		--python "$tools/bin/python" install -q --no-compile --no-index --no-deps \
		--find-links "$wheels" wagtail Django asgiref sqlparse
	mkdir "$app"
	(cd "$app" && "$tools/bin/wagtail" start mysite .)
	[ -z "$(tail -c1 "$app/requirements.txt")" ] || echo >>"$app/requirements.txt"
	grep '^uWSGI==' "$wheels/requirements.txt" >>"$app/requirements.txt"
	cat >"$app/app.json" <<-'JSON'
		{"module": "mysite", "version": "1.0.0", "maintainer": "Mysite Team <mysite@example.com>",
		 "wsgi": "mysite.wsgi:application", "settings": "mysite.settings.production",
		 "location": "/", "migrate": true,
		 "static": {"url": "/static/"}, "media": {"url": "/media/"},
		 "server": {"listen": "80", "server_name": ["mysite.example.com"]}}
	JSON
	mkdir "$app/wheels"
	cp "$wheels"/*.whl "$app/wheels/"
	touch "$app/wheels/.filled"
}
