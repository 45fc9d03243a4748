"""The app's configuration, as scripts/updateconfig.py last generated it.

The package's postinst runs updateconfig.py, which reads the admin's YAML
(/etc/wechat/wechat.yaml) and writes config/generated.json. This module only
reads that JSON, so the running app needs neither the YAML file nor PyYAML;
without it (a developer's checkout) it falls back to development defaults.
"""

import json

from . import constants


def _load():
    try:
        with open(constants.GENERATED_FILE, encoding="utf-8") as f:
            return json.load(f), str(constants.GENERATED_FILE)
    except FileNotFoundError:
        return {}, "development defaults"


_CONF, SOURCE = _load()

GREETING = _CONF.get("greeting", constants.DEV_GREETING)
VERSION = _CONF.get("version", "unknown")
SECRET_KEY = _CONF.get("secret_key") or constants.DEV_SECRET_KEY
ALLOWED_HOSTS = list(_CONF.get("allowed_hosts", []))
