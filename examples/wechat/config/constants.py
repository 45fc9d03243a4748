"""Fixed facts about the app: names and paths (not configuration)."""

from pathlib import Path

APP_NAME = "wechat"
PACKAGE = "wechat-api"

# The app's directory: /opt/www/wechat once installed, the checkout otherwise.
APP_DIR = Path(__file__).resolve().parent.parent

# The admin's config file (a conffile of the package); $WECHAT_CONFIG overrides.
DEFAULT_CONFIG_FILE = "/etc/wechat/wechat.yaml"
CONFIG_ENV = "WECHAT_CONFIG"

# What scripts/updateconfig.py writes and globalconf.py reads.
GENERATED_FILE = APP_DIR / "config" / "generated.json"

# Used only when no config was generated (a developer's checkout).
DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-deploy"
DEV_GREETING = "hello from the development defaults"
