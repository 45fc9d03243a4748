#!/usr/bin/env python3
"""Turn the admin's YAML config into the app's config/generated.json.

The package's postinst runs this on every configure (install, upgrade,
dpkg-reconfigure) with the venv's python:

    /opt/www/venvs/wechat-api/bin/python3 /opt/www/wechat/scripts/updateconfig.py

It reads $WECHAT_CONFIG (default /etc/wechat/wechat.yaml, a conffile, so the
admin's edits survive upgrades) and writes config/generated.json in the app
directory, which config/globalconf.py loads when the app starts. The service
is (re)started after the hook, so the new values are served at once.

Recorded besides the YAML's values:
  version     the package version: `version` of the app.json staged beside
              the app if there is one, else what dpkg says is installed
  secret_key  the YAML's, or else the one generated on the first run (kept
              across runs, so sessions survive upgrades)

Options (for a developer's checkout): --config FILE, --output FILE.
Exit status: 0 written, 1 unreadable or invalid config (nothing written).
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR))

import yaml  # noqa: E402  (after the path set-up, like the app's own imports)

from config import constants  # noqa: E402

KEYS = {"greeting": str, "secret_key": str, "allowed_hosts": list}


class ConfigError(Exception):
    pass


def read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        print(f"updateconfig: warning: {path} not found, using the defaults", file=sys.stderr)
        return {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values")
    for key, value in data.items():
        want = KEYS.get(key)
        if want is None:
            raise ConfigError(f"{path}: unknown key `{key}` (known: {', '.join(sorted(KEYS))})")
        if not isinstance(value, want):
            raise ConfigError(f"{path}: `{key}` must be a {want.__name__}, got {value!r}")
    hosts = data.get("allowed_hosts", [])
    if not all(isinstance(h, str) and h for h in hosts):
        raise ConfigError(f"{path}: `allowed_hosts` must be a list of host names")
    return data


def package_version():
    """The version being configured: app.json's, else the installed package's."""
    spec = APP_DIR / "app.json"
    try:
        with open(spec, encoding="utf-8") as f:
            version = json.load(f).get("version")
        if isinstance(version, str) and version:
            return version
    except (OSError, ValueError):
        pass
    try:
        out = subprocess.run(
            ["dpkg-query", "--showformat=${Version}", "--show", constants.PACKAGE],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown"


def previous(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_atomic(path, data):
    """Write JSON next to its target then rename: the app never reads half a file.

    Readable by the service's group only (it holds the secret key).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".generated.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        if os.geteuid() == 0:
            import grp

            try:
                os.chown(tmp, 0, grp.getgrnam(os.environ.get("WECHAT_GROUP", "www-data")).gr_gid)
                os.chmod(tmp, 0o640)
            except KeyError:
                os.chmod(tmp, 0o644)
        else:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        default=os.environ.get(constants.CONFIG_ENV, constants.DEFAULT_CONFIG_FILE),
        help=f"YAML config (default: ${constants.CONFIG_ENV} or {constants.DEFAULT_CONFIG_FILE})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=constants.GENERATED_FILE,
        help=f"JSON file to write (default: {constants.GENERATED_FILE})",
    )
    args = parser.parse_args(argv)
    try:
        conf = read_yaml(args.config)
    except ConfigError as e:
        print(f"updateconfig: error: {e}", file=sys.stderr)
        return 1
    old = previous(args.output)
    data = {
        "greeting": conf.get("greeting", constants.DEV_GREETING),
        "allowed_hosts": conf.get("allowed_hosts", []),
        "secret_key": conf.get("secret_key") or old.get("secret_key") or secrets.token_urlsafe(50),
        "version": package_version(),
        "source": str(args.config),
    }
    write_atomic(args.output, data)
    print(f"updateconfig: wrote {args.output} (version {data['version']}, from {args.config})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
