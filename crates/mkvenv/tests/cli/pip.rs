//! pip: hash-pinned requirements, the system pip (--without-pip), pip's failures.

use super::*;

/// `name==version --hash=sha256:...` for every wheel in the wheelhouse
/// but pip (the hash-checking mode wants every dependency pinned).
fn hash_pinned_requirements() -> String {
    let mut lines = Vec::new();
    let mut wheels: Vec<_> = fs::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    wheels.sort();
    for w in wheels {
        let file = w.file_name().unwrap().to_str().unwrap().to_string();
        let mut parts = file.split('-');
        let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
        if name == "pip" {
            continue;
        }
        let sum = Command::new("sha256sum").arg(&w).output().unwrap();
        let sum = String::from_utf8(sum.stdout).unwrap();
        let hash = sum.split_whitespace().next().unwrap();
        lines.push(format!("{name}=={version} \\\n    --hash=sha256:{hash}"));
    }
    lines.join("\n") + "\n"
}

#[test]
fn hash_pinned_requirements_install_and_a_bad_hash_fails_keeping_the_venv() {
    let (tmp, stage, install, spec) = scratch();
    let pinned = hash_pinned_requirements();
    let req = write_requirements(tmp.path(), &pinned);
    let facts_file = tmp.path().join("facts.json");
    let args = |req: &Path| {
        let mut c = mkvenv();
        c.arg("-")
            .arg("--requirements")
            .arg(req)
            .arg("--find-links")
            .arg(wheelhouse())
            .arg("--no-index")
            .arg("--root")
            .arg(&stage)
            .pipe_stdin(&spec)
            .unwrap();
        c
    };
    let out = args(&req).arg("-o").arg(&facts_file).output().unwrap();
    assert_success(&out);
    assert!(out.stdout.is_empty());
    let mode = fs::metadata(&facts_file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
    assert_python_depends(&facts(&fs::read(&facts_file).unwrap()));
    let venv = staged(&stage, &install);
    assert_no_trace(&venv, &stage);

    // one wrong hash: pip refuses, the earlier venv stays as it was
    let bad = pinned.replacen("--hash=sha256:", "--hash=sha256:0000", 1);
    let bad_req = tmp.path().join("bad-requirements.txt");
    fs::write(&bad_req, bad).unwrap();
    let out = args(&bad_req).output().unwrap();
    let stderr = assert_fails(&out, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad-requirements.txt"), "{stderr}");
    assert!(
        stderr.contains("ERROR:") && stderr.to_lowercase().contains("hash"),
        "{stderr}"
    );
    assert!(venv.join("bin/django-admin").is_file());
    assert_eq!(fs::read_dir(venv.parent().unwrap()).unwrap().count(), 1);
    install_and_use(&stage, &install);
}

/// `--without-pip`: no pip in the venv (the interpreter's own pip installs
/// into it), and the venv still works at its install path.
#[test]
fn without_pip_installs_with_the_system_pip_and_works() {
    let (tmp, stage, install, spec) = scratch();
    let req = write_requirements(
        tmp.path(),
        "Django==4.2.30\nuWSGI==2.0.31\npsycopg2-binary==2.9.13\n",
    );
    let out = build_offline(&spec, &req, &[wheelhouse()], &stage);
    assert_success(&out);
    let venv = staged(&stage, &install);
    assert!(!venv.join("bin/pip").exists(), "pip was installed");
    assert_no_trace(&venv, &stage);
    install_and_use(&stage, &install);
}

#[test]
fn pip_failure_exits_1_with_pips_error_and_stages_nothing() {
    let (tmp, stage, _, spec) = scratch();
    let req = write_requirements(tmp.path(), "no-such-package==1.0\n");
    let out = from_wheelhouse(&spec, &req)
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = assert_fails(&out, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "mkvenv: error: {}: pip install failed",
            req.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("ERROR: No matching distribution found for no-such-package==1.0"),
        "{stderr}"
    );
    let parent = staged(&stage, tmp.path());
    assert_eq!(fs::read_dir(parent).unwrap().count(), 0, "left a directory");
}
