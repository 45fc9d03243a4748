//! appspec as users run it.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{
    PACKAGER_ENV, assert_bad_specs_rejected, assert_fails, assert_golden, assert_success, fixtures,
    scrubbed,
};

fn cmd() -> Command {
    let mut c = scrubbed(assert_cmd::cargo::cargo_bin!("appspec"));
    c.envs(PACKAGER_ENV);
    c
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn check_prints_the_resolved_example_and_minimal_specs() {
    for case in ["example", "minimal"] {
        let out = cmd()
            .arg("check")
            .arg(fixtures().join(format!("specs/{case}.json")))
            .output()
            .unwrap();
        assert_success(&out);
        assert_golden(golden(&format!("{case}.json")), &out.stdout);
    }
}

/// `appspec ARGS... SPEC`: its exit code and stdout.
fn run(args: &[&str], spec: &Path) -> (Option<i32>, String) {
    let out = cmd().args(args).arg(spec).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// Exit 0 with `stdout`.
fn ok(stdout: &str) -> (Option<i32>, String) {
    (Some(0), stdout.to_string())
}

#[test]
fn get_lines_prints_a_list_one_item_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("app.json");
    std::fs::write(
        &spec,
        r#"{"module":"a","version":"1","maintainer":"A <a@example.com>","build_depends":["libpq-dev","libffi-dev"]}"#,
    )
    .unwrap();
    let lines = ["get", "--lines", "build_depends"];
    assert_eq!(run(&lines, &spec), ok("libpq-dev\nlibffi-dev\n"));
    // without --lines, JSON; an empty list prints nothing with --lines
    assert_eq!(
        run(&["get", "build_depends"], &spec),
        ok("[\"libpq-dev\",\"libffi-dev\"]\n")
    );
    let minimal = fixtures().join("specs/minimal.json");
    assert_eq!(run(&lines, &minimal), ok(""));
}

#[test]
fn get_prints_one_value_and_reads_stdin() {
    let out = cmd()
        .args(["get", "venv", "-"])
        .stdin(std::fs::File::open(fixtures().join("specs/minimal.json")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "/opt/www/venvs/wechat-api\n"
    );
    assert_eq!(
        run(
            &["get", "maintainer"],
            &fixtures().join("specs/minimal.json")
        ),
        ok("Pat Packager <pat@example.org>\n")
    );
}

/// `--dist`: the unit path is the release's (releases.tsv): /lib for
/// bookworm, /usr/lib from trixie on; /lib without a release.
#[test]
fn get_systemd_unit_is_the_dist_release_path() {
    // appspec ARGS... minimal.json: exit code and stdout.
    let minimal = fixtures().join("specs/minimal.json");
    let run = |args: &[&str]| run(args, &minimal);
    let unit = |dir: &str| ok(&format!("{dir}/wechat-api.service\n"));
    assert_eq!(run(&["get", "systemd_unit"]), unit("/lib/systemd/system"));
    let bookworm = run(&["get", "--dist", "bookworm", "systemd_unit"]);
    assert_eq!(bookworm, unit("/lib/systemd/system"));
    let trixie = run(&["get", "--dist", "trixie", "systemd_unit"]);
    assert_eq!(trixie, unit("/usr/lib/systemd/system"));
    for r in debpipe_core::release::all() {
        let got = run(&["get", "--dist", r.codename, "systemd_unit"]);
        assert_eq!(got, unit(r.unit_dir), "{}", r.codename);
    }
    let (code, check) = run(&["check", "--dist", "trixie"]);
    let v: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(
        v["systemd_unit"],
        "/usr/lib/systemd/system/wechat-api.service"
    );
    assert_eq!(
        run(&["get", "--dist", "sid", "systemd_unit"]),
        (Some(2), String::new())
    );
}

#[test]
fn unknown_field_and_flag_are_usage_errors_2() {
    let out = cmd()
        .args(["get", "vnev"])
        .arg(fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    let err = assert_fails(&out, 2);
    assert!(
        err.contains("no field `vnev`") && err.contains("venv"),
        "{err}"
    );
    assert_eq!(
        cmd().arg("--frobnicate").output().unwrap().status.code(),
        Some(2)
    );
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    assert_bad_specs_rejected("appspec", |_| {
        let mut c = cmd();
        c.arg("check");
        c
    });
}

#[test]
fn help_matches_golden() {
    let out = cmd().arg("--help").output().unwrap();
    assert_golden(golden("help.txt"), &out.stdout);
}
