"""WSGI entry point, `pro_setting.wsgi:application` (uWSGI's `module`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pro_setting.settings")

application = get_wsgi_application()
