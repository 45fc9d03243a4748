"""Collect the project's static files into the staging tree (stage-django).

Run with the build root's python, in the staged project's directory, with
the build steps' environment (DJANGO_SETTINGS_MODULE is debpipe's overlay)
and DEBPIPE_STATIC_ROOT naming a fresh directory. Prints `collected N` or `no-staticfiles` on stdout.
"""
import sys

import django
from django.conf import settings

django.setup()
if "django.contrib.staticfiles" not in settings.INSTALLED_APPS:
    print("no-staticfiles")
    sys.exit(0)

from django.core.management import call_command  # noqa: E402

call_command("collectstatic", interactive=False, verbosity=0)
import os  # noqa: E402

n = sum(len(files) for _, _, files in os.walk(settings.STATIC_ROOT))
print(f"collected {n}")
