"""The wechat API's views: JSON only."""

import os

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config import constants, globalconf

try:  # present only when running under uWSGI
    import uwsgi
except ImportError:  # pragma: no cover - development server, tests
    uwsgi = None


@require_GET
def ping(request):
    """Liveness check that shows the installed config reached the app.

    `greeting` comes from /etc/wechat/wechat.yaml through the config hook,
    `version` is the package version the hook recorded, and the pids tell a
    restart apart from a reload.
    """
    return JsonResponse(
        {
            "status": "ok",
            "app": constants.APP_NAME,
            "package": constants.PACKAGE,
            "version": globalconf.VERSION,
            "greeting": globalconf.GREETING,
            "config": globalconf.SOURCE,
            "pid": os.getpid(),
            "master_pid": uwsgi.masterpid() if uwsgi else None,
        }
    )
