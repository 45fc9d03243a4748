//! The service's account and environment as a test host needs them: the
//! system user a spec names (it defaults to one named after the package),
//! the package's `debpipe.env`, and environment files read by systemd's own
//! parser.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Make the system user `name` with a group of the same name, as postinst
/// does (no home, no login shell), unless it exists. Left in place: tests
/// running at the same time may use it.
pub fn ensure_system_user(name: &str) {
    let exists = || {
        Command::new("id")
            .args(["-u", name])
            .output()
            .unwrap()
            .status
            .success()
    };
    if exists() {
        return;
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output()
        .unwrap();
    // Another test may have made it meanwhile (useradd exits 9).
    assert!(
        out.status.success() || exists(),
        "useradd {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// uid and gid of `name`.
pub fn ids(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        crate::run_ok("id", &[flag.as_ref(), name.as_ref()])
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

/// The package's `debpipe.env` as stage-django writes it: the service's
/// environment as `KEY=VALUE` lines.
pub fn service_env_text(spec: &debpipe_core::AppSpec) -> String {
    let mut text = String::new();
    for (k, v) in spec.service_env() {
        let _ = writeln!(text, "{k}={v}");
    }
    text
}

/// Write `debpipe.env` at the spec's path (under the test's `app_dir`).
pub fn write_service_env(spec: &debpipe_core::AppSpec) -> PathBuf {
    let path = PathBuf::from(spec.service_env_file());
    std::fs::write(&path, service_env_text(spec)).unwrap();
    path
}

/// The environment that `files` give, read in order by systemd's own
/// parser of environment files (the one `EnvironmentFile=` uses:
/// `systemd-environment-d-generator` reads `environment.d/*.conf` in name
/// order with it, later files winning); a missing file is skipped, as
/// `EnvironmentFile=-FILE` does. `KEY=VALUE` pairs in systemd's output
/// form (values with spaces double-quoted).
pub fn systemd_environment(files: &[&Path]) -> Vec<(String, String)> {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("environment.d");
    std::fs::create_dir(&dir).unwrap();
    for (i, f) in files.iter().enumerate() {
        if f.exists() {
            std::fs::copy(f, dir.join(format!("{:02}-file.conf", i + 10))).unwrap();
        }
    }
    let out = Command::new(
        "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator",
    )
    .env_clear()
    .env("XDG_CONFIG_HOME", home.path())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "environment-d-generator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
