//! stage-app as the Makefile runs it.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{
    PACKAGER_ENV, assert_bad_specs_rejected, assert_golden, assert_prints_path, assert_success,
    scrubbed, write, write_mode,
};

fn cmd() -> Command {
    let mut c = scrubbed(assert_cmd::cargo::cargo_bin!("stage-app"));
    c.envs(PACKAGER_ENV);
    c
}

/// A `SOURCE_DATE_EPOCH` for the stages whose dates are checked.
const EPOCH: &str = "1795562488";

/// `stage-app APP/app.json --root STAGE` run by `cmd` succeeds and prints
/// the stage.
#[track_caller]
fn staged(cmd: &mut Command, app: &Path, stage: &Path) {
    let out = cmd
        .arg(app.join("app.json"))
        .arg("--root")
        .arg(stage)
        .output()
        .unwrap();
    assert_prints_path(&out, stage);
}

/// A scratch directory with an app directory `app/` whose `app.json` is
/// `json`: the directory, and the app directory.
fn app_with_spec(json: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write(&app.join("app.json"), json);
    (dir, app)
}

/// A scratch directory holding `app.json`, the spec of the app `demo` 1.0
/// with nothing else set: the directory, and the spec.
fn demo_spec() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("app.json");
    write(&spec, r#"{"module":"demo","version":"1.0"}"#);
    (dir, spec)
}

/// No `maintainer` and no DEBFULLNAME/DEBEMAIL: one line naming the field
/// and the variables, and nothing staged (the changelog would need it).
#[test]
fn missing_maintainer_exits_1_naming_field_and_variables_and_stages_nothing() {
    let (dir, spec) = demo_spec();
    let stage = dir.path().join("stage");
    let mut c = cmd();
    for (k, _) in PACKAGER_ENV {
        c.env_remove(k);
    }
    let out = c.arg(&spec).arg("--root").arg(&stage).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("stage-app: error: ")
            && err.contains("spec field `maintainer`")
            && err.contains("DEBFULLNAME")
            && err.contains("DEBEMAIL"),
        "{err}"
    );
    assert!(!stage.exists(), "staged something");
}

#[test]
fn stages_project_etc_docs_and_overrides() {
    let (dir, app) =
        app_with_spec(r#"{"module":"demo","version":"2.0-1","maintainer":"D <d@example.com>"}"#);
    write(&app.join("pro_setting/wsgi.py"), "application = None\n");
    write_mode(&app.join("scripts/run.sh"), "#!/bin/sh\n", 0o700);
    // a stray executable bit on data goes; a script without one stays data
    write_mode(&app.join("static/logo.svg"), "<svg/>\n", 0o775);
    write(&app.join("tools/lib.py"), "#!/usr/bin/python3\n");
    write(&app.join("etc/demo/demo.yaml"), "a: 1\n");
    // Under the package's own /etc directory (private_config's default) a
    // file checked out 0644, as git leaves every file, is staged 0640.
    write(&app.join("etc/demo-api/demo-api.cfg"), "password = x\n");
    // Conffiles keep the read bits they withhold: readable by their group
    // alone (postinst gives them the service's group), or by root alone.
    for (f, m) in [
        ("etc/demo/secret.cfg", 0o640),
        ("etc/demo/root-only.cfg", 0o600),
        ("etc/demo/hook.sh", 0o750),
    ] {
        write(
            &app.join(f),
            if Path::new(f).extension().is_some_and(|e| e == "sh") {
                "#!/bin/sh\n"
            } else {
                "k = v\n"
            },
        );
        std::fs::set_permissions(app.join(f), std::fs::Permissions::from_mode(m)).unwrap();
    }
    write(&app.join("wheels/x.whl"), "");
    write(
        &app.join("pro_setting/__pycache__/wsgi.cpython-311.pyc"),
        "",
    );
    write(&app.join("LICENSE"), "MIT\n");
    write(&app.join(".env"), "SECRET=1\n");
    write(&app.join("config/.gitignore"), "generated.json\n");
    let stage = dir.path().join("stage");
    staged(cmd().env("SOURCE_DATE_EPOCH", EPOCH), &app, &stage);
    let mut files = Vec::new();
    collect(&stage, &stage, &mut files);
    files.sort();
    assert_eq!(
        files,
        [
            "etc/demo-api/demo-api.cfg 640",
            "etc/demo/demo.yaml 644",
            "etc/demo/hook.sh 750",
            "etc/demo/root-only.cfg 600",
            "etc/demo/secret.cfg 640",
            "opt/www/demo/LICENSE 644",
            "opt/www/demo/pro_setting/wsgi.py 644",
            "opt/www/demo/scripts/run.sh 755",
            "opt/www/demo/static/logo.svg 644",
            "opt/www/demo/tools/lib.py 644",
            "usr/share/doc/demo-api/changelog.Debian.gz 644",
            "usr/share/doc/demo-api/copyright 644",
            "usr/share/lintian/overrides/demo-api 644",
        ]
    );
    let gz = std::fs::read(stage.join("usr/share/doc/demo-api/changelog.Debian.gz")).unwrap();
    assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip carries a timestamp");
    let text = Command::new("zcat")
        .arg(stage.join("usr/share/doc/demo-api/changelog.Debian.gz"))
        .output()
        .unwrap()
        .stdout;
    assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/changelog"),
        &text,
    );
    assert_eq!(
        std::fs::read_to_string(stage.join("usr/share/doc/demo-api/copyright")).unwrap(),
        "MIT\n"
    );
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            out.push(format!(
                "{} {mode:o}",
                p.strip_prefix(root).unwrap().display()
            ));
        }
    }
}

/// `private_config` names other files or directories: their files lose
/// others' bits (an executable keeps its owner's and group's); the rest of
/// `etc/` keeps its modes.
#[test]
fn private_config_withholds_others_bits() {
    let (dir, app) = app_with_spec(
        r#"{"module":"demo","version":"1.0","private_config":["/etc/demo/secrets","/etc/demo/token"]}"#,
    );
    write(&app.join("etc/demo/demo.yaml"), "a: 1\n");
    write(&app.join("etc/demo/token"), "t\n");
    write(&app.join("etc/demo/secrets/db.cfg"), "p\n");
    write_mode(&app.join("etc/demo/secrets/hook.sh"), "#!/bin/sh\n", 0o755);
    write(&app.join("etc/demo-api/public.cfg"), "a\n");
    let stage = dir.path().join("stage");
    staged(&mut cmd(), &app, &stage);
    let mut files = Vec::new();
    collect(&stage.join("etc"), &stage.join("etc"), &mut files);
    files.sort();
    assert_eq!(
        files,
        [
            "demo-api/public.cfg 644",
            "demo/demo.yaml 644",
            "demo/secrets/db.cfg 640",
            "demo/secrets/hook.sh 750",
            "demo/token 640",
        ]
    );
}

#[test]
fn bad_source_date_epoch_exits_1_naming_it_and_stages_nothing() {
    let (dir, spec) = demo_spec();
    let stage = dir.path().join("stage");
    let out = cmd()
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .arg(&spec)
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("stage-app: error: SOURCE_DATE_EPOCH: "),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `stage-app app.json --app . --root stage`, as --help shows: the stage
/// inside the app directory is not copied into itself.
#[test]
fn regression_stage_inside_the_app_dir_is_not_copied() {
    let (dir, _) = demo_spec();
    write(&dir.path().join("pro_setting/wsgi.py"), "");
    let out = cmd()
        .current_dir(dir.path())
        .args(["app.json", "--app", ".", "--root", "stage"])
        .output()
        .unwrap();
    assert_success(&out);
    let staged = dir.path().join("stage/opt/www/demo");
    assert!(staged.join("pro_setting/wsgi.py").exists());
    assert!(
        !staged.join("stage").exists(),
        "the stage was copied into itself"
    );
}

#[test]
fn print_shows_resolved_values() {
    let (_dir, spec) = demo_spec();
    for (field, want) in [
        ("venv", "/opt/www/venvs/demo-api\n"),
        ("package", "demo-api\n"),
        ("app-dir", "/opt/www/demo\n"),
        ("version", "1.0\n"),
    ] {
        let out = cmd().args(["--print", field]).arg(&spec).output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
        // Deprecated: one warning line naming appspec's form and the release.
        let field = field.replace('-', "_");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "stage-app: warning: --print is deprecated, use `appspec get {field} SPEC` (it goes away in 0.2.0)\n"
            )
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(cmd().arg("--frobnicate").status().unwrap().code(), Some(2));
    assert_eq!(
        cmd().arg("app.json").status().unwrap().code(),
        Some(2),
        "--root is required"
    );
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    assert_bad_specs_rejected("stage-app", |out| {
        let mut c = cmd();
        c.arg("--root").arg(out);
        c
    });
}

#[test]
fn help_matches_golden() {
    let out = cmd().arg("--help").output().unwrap();
    assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt"),
        &out.stdout,
    );
}

/// The real lintian on a package holding stage-app's overrides: the
/// third-party files inside the venv (an IEEE OUI copy, a template naming an
/// external resource, a bundled JavaScript library) are overridden, each
/// override with its comment, and the same files outside the venv, the
/// package's own, are still reported.
#[test]
fn lintian_overrides_cover_the_venv_only() {
    let (dir, app) =
        app_with_spec(r#"{"module":"demo","version":"1.0-1","maintainer":"D <d@example.com>"}"#);
    let stage = dir.path().join("stage");
    staged(cmd().env("SOURCE_DATE_EPOCH", EPOCH), &app, &stage);
    let page = "<html><head><link rel=\"stylesheet\" href=\"https://cdn.example.com/x.css\"></head><body></body></html>\n";
    let jquery = "/*! jQuery v3.6.0 | (c) OpenJS Foundation and other contributors | jquery.org/license */\n";
    for base in [
        "opt/www/venvs/demo-api/lib/python3/site-packages/thirdparty",
        "opt/www/demo/own",
    ] {
        write(
            &stage.join(base).join("oui.txt"),
            "00-00-00   (hex)\t\tXEROX CORPORATION\n",
        );
        write(&stage.join(base).join("page.html"), page);
        write(&stage.join(base).join("jquery.js"), jquery);
    }
    write(
        &stage.join("DEBIAN/control"),
        "Package: demo-api\nVersion: 1.0-1\nArchitecture: all\nMaintainer: D <d@example.com>\n\
         Section: web\nPriority: optional\nDescription: demo web application\n A demo.\n",
    );
    let deb = dir.path().join("demo-api_1.0-1_all.deb");
    let built = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&stage)
        .arg(&deb)
        .output()
        .unwrap();
    assert_success(&built);
    let out = Command::new("lintian")
        .args(["--no-cfg", "--show-overrides", "--tags"])
        .arg("package-installs-ieee-data,privacy-breach-generic,embedded-javascript-library,mismatched-override,unused-override")
        .arg(&deb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for tag in [
        "package-installs-ieee-data",
        "privacy-breach-generic",
        "embedded-javascript-library",
    ] {
        let (venv, own): (Vec<_>, Vec<_>) = text
            .lines()
            .filter(|l| l.contains(&format!(" {tag} ")))
            .partition(|l| l.contains("opt/www/venvs/demo-api/"));
        assert!(
            !venv.is_empty() && venv.iter().all(|l| l.starts_with("O: ")),
            "{tag} in the venv not overridden:\n{text}"
        );
        assert!(
            own.iter()
                .any(|l| !l.starts_with("O: ") && l.contains("opt/www/demo/own/")),
            "{tag} on the package's own file not reported:\n{text}"
        );
    }
    assert!(!text.contains("mismatched-override"), "{text}");
    let overrides =
        std::fs::read_to_string(stage.join("usr/share/lintian/overrides/demo-api")).unwrap();
    let lines: Vec<_> = overrides.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if !l.starts_with('#') {
            let comment = lines[..i].iter().rev().find(|p| p.starts_with('#'));
            assert!(comment.is_some(), "override without a comment: {l}");
        }
    }
}
