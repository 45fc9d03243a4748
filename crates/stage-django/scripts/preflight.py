"""The build-time preflight (stage-django): what postinst checks before a
new version takes traffic, run in the staging tree so that a release that
cannot import fails the build instead of the servers.

Run with the build root's python in the staged project's directory, with
the build steps' environment (DJANGO_SETTINGS_MODULE is debpipe's overlay).
Arguments: the WSGI entry's module and callable. It imports them after
django.setup() (postinst: `manage shell -c "import ..."`) and runs Django's
system checks (`manage check`), which fail on errors only. The deployment
checks (`check --deploy`) are left to postinst: apps register checks there
that need the running services (pretalx: "Could not reach the configured
redis server"), which a build root does not have. On success it prints `ok N` (N warnings) on stdout; on
failure its last line on stderr says what failed, on one line. Without
Django in the venv it prints `no-django` (postinst skips the preflight too).
"""
import importlib
import sys
import traceback


def fail(what, line):
    print(f"{what}: {line}".replace("\n", " "), file=sys.stderr)
    sys.exit(1)


try:
    import django
except ImportError:
    print("no-django")
    sys.exit(0)

module, name = sys.argv[1], sys.argv[2]
try:
    django.setup()
    getattr(importlib.import_module(module), name)
except Exception as e:  # noqa: BLE001 (any failure to import is the answer)
    traceback.print_exc()
    fail(f"{module}:{name} does not import", f"{type(e).__name__}: {e}")

from django.core import checks  # noqa: E402

try:
    found = checks.run_checks(include_deployment_checks=False)
except Exception as e:  # noqa: BLE001 (a check that raises fails too)
    traceback.print_exc()
    fail("manage.py check raised", f"{type(e).__name__}: {e}")
found = [m for m in found if not m.is_silenced()]
errors = [m for m in found if m.is_serious()]
for m in found:
    print(m, file=sys.stderr)
if errors:
    fail(
        f"manage.py check found {len(errors)} error(s)",
        str(errors[0]).splitlines()[0],
    )
print(f"ok {len(found)}")
