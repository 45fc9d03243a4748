//! The command line: refused interpreters, missing files, bad specs, usage errors, --help.

use super::*;

#[test]
fn pyenv_python_is_refused_unless_forced() {
    let (tmp, stage, _, spec) = scratch();
    let req = write_requirements(tmp.path(), "");
    // a pyenv python 3.10+ when this machine has one (it has venv and ensurepip)
    let pyenv = fs::read_dir("/root/.pyenv/versions")
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("3.1"))
        .map(|p| p.join("bin/python3"))
        .find(|p| p.exists());
    let python = pyenv
        .clone()
        .unwrap_or_else(|| PathBuf::from("/root/.pyenv/versions/3.11.7/bin/python3"));
    let cmd = |python: &Path| {
        let mut c = mkvenv();
        c.arg(&spec)
            .arg("--requirements")
            .arg(&req)
            .arg("--no-index")
            .arg("--python")
            .arg(python)
            .arg("--root")
            .arg(&stage);
        c
    };
    let out = cmd(&python).output().unwrap();
    let stderr = assert_fails(&out, 1);
    assert!(
        stderr.starts_with(&format!("mkvenv: error: {}: refused", python.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--force-python"), "{stderr}");
    assert!(!stage.exists(), "staged something");

    // forced, a missing interpreter is just missing...
    let missing = tmp.path().join("no/bin/python3");
    let out = cmd(&missing).arg("--force-python").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("refused") && stderr.contains("No such file"),
        "{stderr}"
    );
    // ...and a real one builds a venv, without a Debian python dependency
    if let Some(python) = pyenv {
        let out = cmd(&python).arg("--force-python").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("warning"), "{stderr}");
        let f = facts(&out.stdout);
        assert_eq!(f["python_depends"], serde_json::json!([]));
        assert_eq!(f["architecture"], "all");
    }
}

#[test]
fn missing_requirements_file_exits_1_naming_it() {
    let (_tmp, stage, _, spec) = scratch();
    let out = mkvenv()
        .arg(&spec)
        .args(["--requirements", "no-such-requirements.txt", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = assert_fails(&out, 1);
    assert_eq!(
        stderr.trim_end(),
        "mkvenv: error: no-such-requirements.txt: No such file or directory (os error 2)"
    );
    assert!(!stage.exists());
}

#[test]
fn bad_spec_exits_1_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let req = write_requirements(tmp.path(), "");
    let spec = tmp.path().join("bad.json");
    fs::write(
        &spec,
        r#"{"module":"wechat","version":"1","venv":"opt/venv"}"#,
    )
    .unwrap();
    // mkvenv SPEC -r REQ --root STAGE
    let run = |spec: &Path| {
        mkvenv()
            .arg(spec)
            .arg("-r")
            .arg(&req)
            .arg("--root")
            .arg(&stage)
            .output()
            .unwrap()
    };
    let stderr = assert_fails(&run(&spec), 1);
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.contains(&spec.display().to_string()) && stderr.contains("`venv`"),
        "{stderr}"
    );
    // and the shared corpus, where there is one
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bad-specs");
    for bad in fs::read_dir(corpus).into_iter().flatten() {
        let bad = bad.unwrap().path();
        let out = run(&bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", bad.display());
        assert!(out.stdout.is_empty());
        assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    }
    assert!(!stage.exists());
}

#[test]
fn unknown_flag_is_usage_error_2() {
    let out = mkvenv().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn help_matches_golden() {
    let out = mkvenv()
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt"),
        &out.stdout,
    );
}
