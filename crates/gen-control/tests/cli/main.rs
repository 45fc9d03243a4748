//! gen-control as users run it; its maintainer scripts checked by shellcheck
//! and run with every argument dpkg may pass, in a scratch root.
//!
//! Where a new test goes (one module per topic):
//! - `usage.rs`: The command line: flags and their deprecated spellings, --help, stdin, bad specs and facts, the maintainer.
//! - `area.rs`: The control area written: goldens and modes, conffiles from the stage, the seed's hook.
//! - `scripts.rs`: The maintainer scripts: shellcheck and sh -n, and runs with every argument dpkg may pass in a scratch root.
//! - `host.rs`: the scripts run on this host as root (accounts, services).
//! - this file: the helpers the topics share (a helper two crates need goes
//!   into `debpipe-testkit`).
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{
    Generator, assert_fails, assert_golden, assert_prints_path, assert_shellcheck, assert_success,
    fixtures, scrubbed,
};

mod area;
mod scripts;
mod usage;

/// The maintainer scripts run for real on this host (a throwaway package).
mod host;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The generator contract, on the printed control file.
fn tool() -> Generator {
    Generator {
        tool: "gen-control",
        bin: assert_cmd::cargo::cargo_bin!("gen-control").to_path_buf(),
        args: vec![],
        golden_dir: golden_dir(),
        ext: "control",
        example_install_path: "",
        mode: 0o644,
        specs: "specs",
    }
}

fn cmd() -> Command {
    scrubbed(assert_cmd::cargo::cargo_bin!("gen-control"))
}

const SCRIPTS: [&str; 3] = ["postinst", "prerm", "postrm"];

/// Write the example's control area with mkvenv-like facts into `dir`.
fn example_area(dir: &Path) -> PathBuf {
    let area = dir.join("DEBIAN");
    let out = cmd()
        .arg(fixtures().join("specs/example.json"))
        .arg("--facts")
        .arg(fixtures().join("facts/django-uwsgi.json"))
        .arg("--out-dir")
        .arg(&area)
        .output()
        .unwrap();
    assert_prints_path(&out, &area);
    area
}

/// The secret key postinst made: 96 hex digits, mode 0600, the same after
/// every configure.
fn check_secret(root: &Path, first_key: &mut Option<String>) {
    let secret = root.join("var/lib/wechat-api/secret_key");
    let key = std::fs::read_to_string(&secret).unwrap();
    assert!(
        key.len() == 96 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key:?}"
    );
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "secret key mode");
    let first = first_key.get_or_insert_with(|| key.clone());
    assert_eq!(*first, key, "a second configure changed the secret key");
}

fn run_script(area: &Path, root: &Path, script: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(area.join(script))
        .args(args)
        .env("DPKG_ROOT", root)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Every call dpkg may make, in an order a real life could have.
#[rustfmt::skip] // one call a line, as dpkg makes them
const DPKG_CALLS: &[(&str, &[&str])] = &[
    ("postinst", &["configure", ""]),
    ("postinst", &["configure", "0.9"]),
    ("postinst", &["abort-upgrade", "1.1"]),
    ("postinst", &["abort-remove"]),
    ("postinst", &["abort-remove", "in-favour", "other", "2.0"]),
    ("postinst", &["abort-deconfigure", "in-favour", "other", "2.0", "removing", "x", "1"]),
    ("postinst", &["triggered", "/usr/lib/python3"]),
    ("prerm", &["upgrade", "1.1"]),
    ("prerm", &["failed-upgrade", "1.1"]),
    ("prerm", &["deconfigure", "in-favour", "other", "2.0", "removing", "x", "1"]),
    ("postrm", &["upgrade", "1.1"]),
    ("postrm", &["failed-upgrade", "0.9"]),
    ("postrm", &["abort-install"]),
    ("postrm", &["abort-install", "0.9"]),
    ("postrm", &["abort-upgrade", "0.9"]),
    ("postrm", &["disappear", "other", "2.0"]),
    ("prerm", &["remove"]),
    ("postrm", &["remove"]),
    ("postinst", &["configure", "1.0"]),
    ("prerm", &["remove"]),
    ("postrm", &["remove"]),
    ("postrm", &["purge"]),
];
