"""Django settings of the wechat API.

Everything an admin may change lives in /etc/wechat/wechat.yaml (a conffile);
the package's postinst runs scripts/updateconfig.py, which turns it into
config/generated.json, read here through config.globalconf.

No database: the API is stateless, so DATABASES is empty and INSTALLED_APPS
holds no app with models, and no migration ever has to run.
"""

from config import constants, globalconf

BASE_DIR = constants.APP_DIR

# From the config (updateconfig.py generates one per machine when the YAML
# leaves it empty). Without a generated config (a developer's checkout), a
# fixed value that is only fit for development.
SECRET_KEY = globalconf.SECRET_KEY

DEBUG = False

ALLOWED_HOSTS = [
    "wechat.example.com",
    "localhost",
    "127.0.0.1",
    "[::1]",
    *globalconf.ALLOWED_HOSTS,
]

INSTALLED_APPS = [
    "wechat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pro_setting.urls"
WSGI_APPLICATION = "pro_setting.wsgi.application"

DATABASES = {}

TEMPLATES = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# nginx terminates HTTP; uWSGI passes the client's Host through uwsgi_params.
USE_X_FORWARDED_HOST = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # uWSGI writes the process's stderr to its log (/var/log/uwsgi/wechat.log).
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
