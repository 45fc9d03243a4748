//! gen-uwsgi as users run it, and its ini as real uWSGI reads it.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use debpipe_core::testing::{
    KillOnDrop, SCRUB_ENV, ScratchApp, assert_bad_specs_rejected, assert_golden, fixtures,
    uwsgi_request, wait_until,
};

fn cmd() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("gen-uwsgi");
    for v in SCRUB_ENV {
        c.env_remove(v);
    }
    c
}

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn example_spec_matches_golden() {
    for case in ["example", "minimal"] {
        let out = cmd()
            .arg(fixtures().join(format!("specs/{case}.json")))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_golden(golden(&format!("{case}.ini")), &out.stdout);
    }
}

#[test]
fn help_matches_golden() {
    let out = cmd().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert_golden(golden("help.txt"), &out.stdout);
}

#[test]
fn dash_reads_stdin() {
    let spec = fixtures().join("specs/example.json");
    let from_file = cmd().arg(&spec).output().unwrap().stdout;
    cmd()
        .arg("-")
        .pipe_stdin(&spec)
        .unwrap()
        .assert()
        .success()
        .stdout(from_file.clone());
    cmd()
        .pipe_stdin(&spec)
        .unwrap()
        .assert()
        .success()
        .stdout(from_file);
}

#[test]
fn unknown_flag_is_usage_error_2() {
    cmd().arg("--frobnicate").assert().code(2);
    cmd()
        .args(["-o", "x", "--root", "y", "spec.json"])
        .assert()
        .code(2);
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    assert_bad_specs_rejected("gen-uwsgi", || {
        Command::new(assert_cmd::cargo::cargo_bin!("gen-uwsgi"))
    });
}

#[test]
fn missing_spec_file_is_named() {
    let out = cmd().arg("/nonexistent/app.json").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("gen-uwsgi: error: /nonexistent/app.json: "),
        "{err}"
    );
}

#[test]
fn dash_o_writes_0644_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.ini");
    cmd()
        .arg("-o")
        .arg(&out)
        .arg(fixtures().join("specs/example.json"))
        .assert()
        .success()
        .stdout("");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
    assert_golden(golden("example.ini"), &std::fs::read(&out).unwrap());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn root_writes_at_install_path_and_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = cmd()
        .arg("--root")
        .arg(dir.path())
        .arg(fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let want = dir.path().join("opt/www/uwsgi/wechat.ini");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", want.display())
    );
    assert_golden(golden("example.ini"), &std::fs::read(&want).unwrap());
}

/// uWSGI parses the example ini in strict mode (an unknown key is fatal):
/// the plain ini and a gevent/threads variant.
#[test]
fn uwsgi_accepts_generated_ini_strictly() {
    let dir = tempfile::tempdir().unwrap();
    for (name, spec, plugin) in [
        ("example", fixtures().join("specs/example.json"), "python3"),
        (
            "gevent",
            write(
                dir.path(),
                "g.json",
                r#"{"module":"g","version":"1","gevent":100,"limit_as":512,"uwsgi_options":[["max-fd","1024"]]}"#,
            ),
            "python3,gevent_python3",
        ),
        (
            "threads",
            write(
                dir.path(),
                "t.json",
                r#"{"module":"t","version":"1","threads":4}"#,
            ),
            "python3",
        ),
    ] {
        let ini = dir.path().join(format!("{name}.ini"));
        cmd().arg("-o").arg(&ini).arg(&spec).assert().success();
        let out = Command::new("uwsgi")
            .args(["--plugin", plugin, "--strict", "--ini"])
            .arg(&ini)
            .args(["--hook-asap", "exit:0"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: uwsgi rejected the ini: {}",
            String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The generated ini really loads a WSGI app and serves it on a 0660 socket
/// in the package's runtime directory, with the settings module set.
#[test]
fn uwsgi_serves_the_app_on_its_socket() {
    let app = ScratchApp::new();
    let pkg = "dpt-gen-uwsgi-serve";
    let spec = write(app.dir.path(), "app.json", &app.spec(pkg, ""));
    let ini = app.dir.path().join("app.ini");
    cmd().arg("-o").arg(&ini).arg(&spec).assert().success();
    let run = Path::new("/run").join(pkg);
    std::fs::create_dir_all(&run).unwrap();
    let sock = run.join(format!("{pkg}.sock"));
    let _uwsgi = KillOnDrop(
        Command::new("uwsgi")
            .arg("--ini")
            .arg(&ini)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(20, || uwsgi_request(&sock, "/api/scratch/ping").is_ok()),
        "no answer on {}",
        sock.display()
    );
    let resp = uwsgi_request(&sock, "/api/scratch/ping").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains(r#""settings": "pro_setting.settings""#),
        "{resp}"
    );
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    drop(_uwsgi);
    let _ = std::fs::remove_dir_all(&run);
}
