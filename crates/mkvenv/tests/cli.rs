//! Integration tests of mkvenv: real venvs built with /usr/bin/python3 from
//! a wheelhouse (Django, uWSGI built from source, psycopg2-binary with its
//! bundled libraries, pip) that is built once from `PyPI` and cached under
//! `${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/wheels-test`, and a binary-only
//! one (Pillow's manylinux wheel, with `pillow.libs/`) cached beside it in
//! `wheels-test-binary`, and psycopg2-binary built from its sdist against
//! Debian's libpq (`pip wheel --no-binary`, needs libpq-dev) in
//! `wheels-test-source`.

// Test helpers panic on failure by design (clippy's allow-unwrap-in-tests
// only covers the #[test] functions themselves).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::cargo::cargo_bin_cmd;
use debpipe_testkit::assert_golden;

/// What the test wheelhouse holds (its dependencies come along).
const WHEELS: [&str; 4] = [
    "Django==4.2.30",
    "uWSGI==2.0.31",
    "psycopg2-binary==2.9.13",
    "pip==24.3.1",
];
const REQUIREMENTS: &str = "Django==4.2.30\nuWSGI==2.0.31\npsycopg2-binary==2.9.13\n";
/// Wheels taken as published, never built here (`--only-binary=:all:`).
const BINARY_WHEELS: [&str; 1] = ["pillow==13.0.0"];

use debpipe_testkit::cache_dir;

/// The cached wheelhouse, (re)built with `pip wheel` when missing or stale.
fn wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| cached_wheelhouse("wheels-test", &WHEELS, &[]))
}

/// The cached wheelhouse of [`BINARY_WHEELS`].
fn binary_wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        cached_wheelhouse(
            "wheels-test-binary",
            &BINARY_WHEELS,
            &["--only-binary=:all:"],
        )
    })
}

/// Pillow 12's manylinux wheel, whose bundled `pillow.libs/libfreetype`
/// finds its sibling `libpng16-…` only through the loading extension's
/// `DT_RPATH` (Pillow 13 gives its libraries their own).
const PILLOW12_WHEELS: [&str; 1] = ["pillow==12.0.0"];

/// The cached wheelhouse of [`PILLOW12_WHEELS`].
fn pillow12_wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        cached_wheelhouse(
            "wheels-test-pillow12",
            &PILLOW12_WHEELS,
            &["--only-binary=:all:"],
        )
    })
}

/// psycopg2-binary built here from source (a `linux_<arch>` wheel linking
/// Debian's libpq), as `make wheels` builds a `no_binary` project.
const SOURCE_WHEELS: [&str; 1] = ["psycopg2-binary==2.9.13"];

/// The cached wheelhouse of [`SOURCE_WHEELS`].
fn source_wheelhouse() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        cached_wheelhouse(
            "wheels-test-source",
            &SOURCE_WHEELS,
            &["--no-binary", "psycopg2-binary"],
        )
    })
}

/// `cache_dir()/name`, holding `wheels` and their dependencies, (re)built
/// with `pip wheel ARGS` when missing or made from another list.
fn cached_wheelhouse(name: &str, wheels: &[&str], args: &[&str]) -> PathBuf {
    let dir = cache_dir().join(name);
    let stamp = wheels
        .iter()
        .chain(args)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if fs::read_to_string(dir.join(".complete")).is_ok_and(|s| s == stamp) {
        return dir;
    }
    fs::create_dir_all(cache_dir()).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{name}."))
        .tempdir_in(cache_dir())
        .unwrap();
    let out = Command::new("/usr/bin/python3")
        .args(["-m", "pip", "wheel", "--disable-pip-version-check", "-q"])
        .args(args)
        .arg("--wheel-dir")
        .arg(tmp.path())
        .args(wheels)
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_NO_INDEX")
        .output()
        .expect("run pip wheel");
    assert!(
        out.status.success(),
        "building the test wheelhouse {name} failed (needs PyPI, gcc, python3-dev): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(tmp.path().join(".complete"), &stamp).unwrap();
    let _ = fs::remove_dir_all(&dir);
    let built = tmp.keep();
    if fs::rename(&built, &dir).is_err() {
        // another test run got there first
        let _ = fs::remove_dir_all(&built);
        assert!(fs::read_to_string(dir.join(".complete")).is_ok_and(|s| s == stamp));
    }
    dir
}

fn mkvenv() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("mkvenv");
    for v in [
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "SOURCE_DATE_EPOCH",
    ] {
        c.env_remove(v);
    }
    c
}

fn write_spec(dir: &Path, venv: &Path) -> PathBuf {
    write_spec_with(dir, venv, "")
}

/// A spec with more fields (`extra` is `,"field":value...`).
fn write_spec_with(dir: &Path, venv: &Path, extra: &str) -> PathBuf {
    let spec = dir.join("app.json");
    let json = format!(
        r#"{{"module":"wechat","version":"1.0.0-1","venv":"{}"{extra}}}"#,
        venv.display()
    );
    fs::write(&spec, json).unwrap();
    spec
}

fn write_requirements(dir: &Path, text: &str) -> PathBuf {
    let req = dir.join("requirements.txt");
    fs::write(&req, text).unwrap();
    req
}

/// The staged venv of `install` under `stage`.
fn staged(stage: &Path, install: &Path) -> PathBuf {
    stage.join(install.strip_prefix("/").unwrap())
}

/// Every file and symlink target under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let data = if m.file_type().is_symlink() {
                fs::read_link(&p).unwrap().as_os_str().as_bytes().to_vec()
            } else if m.is_dir() {
                todo.push(p);
                continue;
            } else {
                fs::read(&p).unwrap()
            };
            if memchr::memmem::find(&data, needle).is_some() {
                hits.push(p);
            }
        }
    }
    hits
}

fn assert_no_trace(venv: &Path, stage: &Path) {
    let hits = files_containing(venv, stage.as_os_str().as_bytes());
    assert!(hits.is_empty(), "staging path left in {hits:?}");
    // grep, as a packager would check it (binary files included)
    let grep = Command::new("grep")
        .arg("-rlaF")
        .arg(stage)
        .arg(venv)
        .output()
        .unwrap();
    assert_eq!(
        grep.status.code(),
        Some(1),
        "grep found the staging path: {}",
        String::from_utf8_lossy(&grep.stdout)
    );
    let pyc = Command::new("find")
        .arg(venv)
        .args([
            "(",
            "-name",
            "__pycache__",
            "-o",
            "-name",
            "*.pyc",
            ")",
            "-print",
        ])
        .output()
        .unwrap();
    assert!(
        pyc.stdout.is_empty(),
        "bytecode left: {}",
        String::from_utf8_lossy(&pyc.stdout)
    );
}

/// Copy the staged venv to its install path (`cp -a`), remove the staging
/// tree, and use the venv from there.
fn install_and_use(stage: &Path, install: &Path) {
    fs::create_dir_all(install.parent().unwrap()).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(staged(stage, install))
        .arg(install)
        .status()
        .unwrap();
    assert!(cp.success());
    fs::remove_dir_all(stage).unwrap();
    let run = |prog: PathBuf, args: &[&str]| {
        let out = Command::new(&prog)
            .args(args)
            .env_remove("PYTHONPATH")
            .env_remove("VIRTUAL_ENV")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", prog.display()));
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            prog.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let bin = install.join("bin");
    let prefix = run(
        bin.join("python"),
        &["-c", "import sys, django, psycopg2; print(sys.prefix)"],
    );
    assert_eq!(Path::new(&prefix), install);
    assert_eq!(run(bin.join("uwsgi"), &["--version"]), "2.0.31");
    // through its shebang (or sh wrapper), not through `python SCRIPT`
    assert_eq!(run(bin.join("django-admin"), &["--version"]), "4.2.30");
}

fn python_version() -> String {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn facts(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).expect("facts are JSON")
}

fn assert_python_depends(f: &serde_json::Value) {
    let v = python_version();
    let (major, minor) = v.split_once('.').unwrap();
    let next = minor.parse::<u32>().unwrap() + 1;
    assert_eq!(f["python"], v.as_str());
    assert_eq!(
        f["python_depends"],
        serde_json::json!([
            format!("python3 (>= {v})"),
            format!("python3 (<< {major}.{next})")
        ])
    );
}

fn dpkg_arch() -> String {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn head(path: &Path, n: usize) -> String {
    let data = fs::read(path).unwrap();
    String::from_utf8_lossy(&data[..n.min(data.len())]).into_owned()
}

#[test]
fn relocated_venv_works_at_its_install_path() {
    let tmp = tempfile::tempdir().unwrap();
    // a staging path over 127 bytes (pip writes its sh wrapper there) and a
    // short install path (so the result is a plain shebang)
    let stage = tmp.path().join("s".repeat(120));
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = mkvenv()
        .arg(&spec)
        .arg("--requirements")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--no-index")
        .args(["--preinstall", "asgiref"])
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = facts(&out.stdout);
    assert_eq!(f["venv"], install.to_str().unwrap());
    assert_python_depends(&f);
    assert_eq!(f["architecture"], dpkg_arch());
    assert_eq!(f["compiled"], true);
    let shlibs: Vec<&str> = f["shlib_depends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // uWSGI links libpython and libc from the system...
    assert!(
        shlibs.iter().any(|d| d.starts_with("libpython3")),
        "{shlibs:?}"
    );
    assert!(
        shlibs.iter().any(|d| d.starts_with("libc6 (>= ")),
        "{shlibs:?}"
    );
    // ...psycopg2-binary bundles libpq in psycopg2_binary.libs: no libpq5,
    // although libpq5 may well be installed here
    assert!(!shlibs.iter().any(|d| d.starts_with("libpq")), "{shlibs:?}");

    let venv = staged(&stage, &install);
    assert_no_trace(&venv, &stage);
    assert_eq!(
        head(&venv.join("bin/django-admin"), 200)
            .lines()
            .next()
            .unwrap(),
        format!("#!{}/bin/python", install.display())
    );
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "command = /usr/bin/python3 -m venv {}\n",
            install.display()
        )),
        "{cfg}"
    );
    let mode = fs::metadata(&venv).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    // nothing but the venv in its parent (no temporary directory left)
    assert_eq!(fs::read_dir(venv.parent().unwrap()).unwrap().count(), 1);
    install_and_use(&stage, &install);
}

#[test]
fn long_install_path_gets_the_sh_wrapper_and_works() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("l".repeat(130)).join("venv-wechat");
    assert!(install.as_os_str().len() > 127);
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = mkvenv()
        .arg(&spec)
        .args(["-r".as_ref(), req.as_os_str()])
        .arg("--find-links")
        .arg(wheelhouse())
        .args(["--no-index", "--upgrade-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_python_depends(&facts(&out.stdout));
    let venv = staged(&stage, &install);
    assert_no_trace(&venv, &stage);
    for script in ["django-admin", "pip"] {
        assert!(
            head(&venv.join("bin").join(script), 400).starts_with(&format!(
                "#!/bin/sh\n'''exec' {}/bin/python \"$0\" \"$@\"\n' '''\n",
                install.display()
            )),
            "{script}"
        );
    }
    install_and_use(&stage, &install);
    let pip = Command::new(install.join("bin/pip"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pip.stdout).starts_with("pip 24.3.1 "));
}

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
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
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
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(
        tmp.path(),
        "Django==4.2.30\nuWSGI==2.0.31\npsycopg2-binary==2.9.13\n",
    );
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venv = staged(&stage, &install);
    assert!(!venv.join("bin/pip").exists(), "pip was installed");
    assert_no_trace(&venv, &stage);
    install_and_use(&stage, &install);
}

#[test]
fn pip_failure_exits_1_with_pips_error_and_stages_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let spec = write_spec(tmp.path(), &tmp.path().join("venv-wechat"));
    let req = write_requirements(tmp.path(), "no-such-package==1.0\n");
    let out = mkvenv()
        .arg(&spec)
        .arg("--requirements")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--no-index")
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
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

#[test]
fn pyenv_python_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let spec = write_spec(tmp.path(), &tmp.path().join("venv-wechat"));
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
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
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let spec = write_spec(tmp.path(), &tmp.path().join("venv-wechat"));
    let out = mkvenv()
        .arg(&spec)
        .args(["--requirements", "no-such-requirements.txt", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
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
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--root")
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.contains(&spec.display().to_string()) && stderr.contains("`venv`"),
        "{stderr}"
    );
    // and the shared corpus, where there is one
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bad-specs");
    for bad in fs::read_dir(corpus).into_iter().flatten() {
        let bad = bad.unwrap().path();
        let out = mkvenv()
            .arg(&bad)
            .arg("-r")
            .arg(&req)
            .arg("--root")
            .arg(&stage)
            .output()
            .unwrap();
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

/// Every regular file under `dir` (symlinks left out), sorted.
fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p);
            } else if m.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Each file's path under `venv`, with its mode in octal (`0644`).
fn named_modes<'a>(venv: &Path, files: impl Iterator<Item = &'a PathBuf>) -> Vec<(String, String)> {
    files
        .map(|p| {
            let name = p.strip_prefix(venv).unwrap().display().to_string();
            (name, format!("{:04o}", mode_of(p)))
        })
        .collect()
}

/// True when `data` starts with the shebang lintian's
/// `script-uses-unversioned-python-in-shebang` looks for: `python` or
/// `/usr/bin/python`, maybe after `/usr/bin/env`.
fn unversioned_python_shebang(data: &[u8]) -> bool {
    let Some(rest) = data.strip_prefix(b"#!") else {
        return false;
    };
    let line = String::from_utf8_lossy(rest.split(|&b| b == b'\n').next().unwrap());
    let line = line.trim();
    let line = line
        .strip_prefix("/usr/bin/env")
        .filter(|l| l.starts_with(char::is_whitespace))
        .map_or(line, str::trim_start);
    let interp = line.split_whitespace().next().unwrap_or("");
    interp == "python" || interp == "/usr/bin/python"
}

/// Write the wheel of `tests/fixtures/modedemo-wheel.py` into `dir`.
fn modedemo_wheel(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/modedemo-wheel.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Build a venv at `install` (staged under `stage`) from the requirements,
/// Pillow's manylinux wheel and the modedemo wheel, without pip.
fn build_with_pillow_and_modedemo(tmp: &Path, stage: &Path, install: &Path) {
    let spec = write_spec(tmp, install);
    let demo = tmp.join("demo-wheels");
    modedemo_wheel(&demo);
    let req = write_requirements(
        tmp,
        &format!("{REQUIREMENTS}pillow==13.0.0\nmodedemo==1.0\n"),
    );
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--find-links")
        .arg(binary_wheelhouse())
        .arg("--find-links")
        .arg(&demo)
        .args(["--no-index", "--without-pip", "--root"])
        .arg(stage)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 20: pretalx's venv failed with "libfreetype-….so.6.20.4 needs
/// libpng16-….so.16.50.0, which is neither in the venv nor installed":
/// auditwheel's libraries in `pillow.libs/` carry no search path of their
/// own, and ld.so finds their siblings through the extension module that
/// loads them (its `DT_RPATH`, and the objects it already loaded).
#[test]
fn regression_20_bundled_libraries_resolve_through_their_loader() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), "pillow==12.0.0\n");
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(pillow12_wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deps = facts["shlib_depends"].to_string();
    assert!(
        !deps.contains("libpng") && !deps.contains("libfreetype"),
        "{deps}"
    );
}

/// Issue 13: lintian failed a Pillow project's package with 21
/// `shared-library-is-executable`, a `script-uses-unversioned-python-in-shebang`
/// and `executable-not-elf-or-script` on `.po`/`.mo` files, because pip keeps
/// the executable bits of the wheels' zip entries.
#[test]
fn regression_13_only_programs_and_bin_scripts_are_executable() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    build_with_pillow_and_modedemo(tmp.path(), &stage, &install);
    let venv = staged(&stage, &install);
    let bin = venv.join("bin");
    let files = regular_files(&venv);

    // Pillow's and psycopg2's bundled libraries, and the extension modules
    let libs = named_modes(
        &venv,
        files.iter().filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".so") || n.contains(".so.")
        }),
    );
    assert!(
        libs.iter()
            .filter(|(n, _)| n.contains("/pillow.libs/"))
            .count()
            >= 10,
        "Pillow's bundled libraries are missing: {libs:?}"
    );
    assert!(
        libs.iter().all(|(_, mode)| mode == "0644"),
        "shared libraries not 0644: {libs:?}"
    );

    // no unversioned python shebang with an x bit in site-packages, nor
    // without one anywhere (lintian reads it whatever the mode)
    let unversioned: Vec<&PathBuf> = files
        .iter()
        .filter(|p| unversioned_python_shebang(&fs::read(p).unwrap()))
        .collect();
    let in_site_and_executable =
        |p: &&PathBuf| p.to_string_lossy().contains("/site-packages/") && mode_of(p) & 0o111 != 0;
    let site = named_modes(
        &venv,
        unversioned.iter().copied().filter(in_site_and_executable),
    );
    assert!(
        site.is_empty(),
        "executable with an unversioned python shebang: {site:?}"
    );
    let all = named_modes(&venv, unversioned.into_iter());
    assert!(all.is_empty(), "unversioned python shebangs: {all:?}");

    // anything else executable is an ELF file or a bin/ script: not data,
    // not a module, not a script outside bin/
    let odd = named_modes(
        &venv,
        files.iter().filter(|p| {
            let data = fs::read(p).unwrap();
            mode_of(p) & 0o111 != 0
                && !(data.starts_with(b"\x7fELF")
                    || (p.parent() == Some(&bin) && data.starts_with(b"#!")))
        }),
    );
    assert!(odd.is_empty(), "executable data: {odd:?}");
    let demo = named_modes(
        &venv,
        files
            .iter()
            .filter(|p| p.components().any(|c| c.as_os_str() == "modedemo")),
    );
    assert_eq!(demo.len(), 7, "{demo:?}");
    assert!(demo.iter().all(|(_, mode)| mode == "0644"), "{demo:?}");

    // bin/: programs and scripts run, the rest does not
    for script in ["uwsgi", "django-admin", "modedemo-env", "modedemo-plain"] {
        assert_eq!(mode_of(&bin.join(script)), 0o755, "bin/{script}");
    }
    for data in ["activate", "modedemo.conf"] {
        assert_eq!(mode_of(&bin.join(data)), 0o644, "bin/{data}");
    }
    assert_eq!(
        head(&bin.join("modedemo-env"), 200).lines().next().unwrap(),
        format!("#!{}/bin/python", install.display())
    );

    // and the venv works at its install path: the libraries load without an
    // x bit, the rewritten script runs
    install_and_use(&stage, &install);
    let pil = "from PIL import Image, features; print(Image.new('RGB', (1, 1)).size, features.check('jpg'))";
    let out = Command::new(install.join("bin/python"))
        .args(["-c", pil])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "(1, 1) True",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(install.join("bin/modedemo-env"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "env\n");
}

/// The `bundled_libraries` of the facts, as (project, dir, libraries).
fn bundles(f: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    f["bundled_libraries"]
        .as_array()
        .expect("facts list bundled_libraries")
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_string();
            let libs = b["libraries"].as_array().unwrap();
            let libs = libs.iter().map(|l| l.as_str().unwrap().to_string());
            (s("project"), s("dir"), libs.collect())
        })
        .collect()
}

/// Issue 20: a wheel bundling OpenSSL, libcurl and krb5 (`pycurl.libs/`)
/// went in silently. psycopg2-binary's and Pillow's manylinux wheels bundle
/// theirs in `<name>.libs/` the same way.
#[test]
fn regression_20_bundled_libraries_are_in_the_facts_with_one_warning_per_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    let req = write_requirements(tmp.path(), "psycopg2-binary==2.9.13\npillow==13.0.0\n");
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--find-links")
        .arg(binary_wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let f = facts(&out.stdout);
    let found = bundles(&f);
    let projects: Vec<(&str, &str)> = found
        .iter()
        .map(|(p, d, _)| (p.as_str(), d.as_str()))
        .collect();
    assert_eq!(
        projects,
        [
            ("pillow", "pillow.libs"),
            ("psycopg2-binary", "psycopg2_binary.libs")
        ],
        "{f}"
    );
    // the very files in the directories, sorted
    let venv = staged(&stage, &install);
    let site = venv.join(format!("lib/python{}/site-packages", python_version()));
    for (_, dir, libs) in &found {
        let mut on_disk: Vec<String> = fs::read_dir(site.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".so"))
            .collect();
        on_disk.sort();
        assert_eq!(libs, &on_disk, "{dir}");
    }
    let psycopg_libs = &found[1].2;
    for lib in ["libpq-", "libssl-", "libcrypto-"] {
        assert!(
            psycopg_libs.iter().any(|l| l.starts_with(lib)),
            "{lib} in {psycopg_libs:?}"
        );
    }
    // one warning line per wheel, naming the wheel and its libraries
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mkvenv: warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    // named as the wheelhouse names the file
    let wheel = fs::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("psycopg2_binary-"))
        .unwrap();
    let psycopg = warnings
        .iter()
        .find(|l| l.starts_with(&format!("mkvenv: warning: {wheel} bundles its own ")))
        .unwrap_or_else(|| panic!("no warning naming {wheel}: {stderr}"));
    assert!(
        psycopg_libs.iter().all(|l| psycopg.contains(l.as_str())),
        "{psycopg}"
    );
    assert!(
        psycopg.contains("manylinux")
            && psycopg.contains("security updates never reach")
            && psycopg.contains(r#""no_binary": ["psycopg2-binary"]"#),
        "{psycopg}"
    );
    // the same venv gives the same facts
    let again = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--find-links")
        .arg(binary_wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        facts(&again.stdout)["bundled_libraries"],
        f["bundled_libraries"]
    );
}

/// A `no_binary` project whose wheel in the wheelhouse is a manylinux one
/// (the wheelhouse was filled before `no_binary` named it) is refused before
/// pip runs, naming the wheel.
#[test]
fn no_binary_refuses_a_manylinux_wheel_naming_it_and_stages_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let spec = write_spec_with(
        tmp.path(),
        &tmp.path().join("venv-wechat"),
        r#","no_binary":["psycopg2-binary"]"#,
    );
    let req = write_requirements(tmp.path(), REQUIREMENTS);
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let wheel = fs::read_dir(wheelhouse())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("psycopg2_binary-"))
        .unwrap();
    assert!(
        stderr.starts_with(&format!(
            "mkvenv: error: {}: a binary wheel (manylinux",
            wheel.display()
        )) && stderr.contains("rerun `make wheels`"),
        "{stderr}"
    );
    let parent = staged(&stage, tmp.path());
    assert!(
        fs::read_dir(&parent).map_or(true, |mut d| d.next().is_none()),
        "staged something"
    );
    // uWSGI's wheel is a source build (linux_<arch>): accepted
    let spec = write_spec_with(
        tmp.path(),
        &tmp.path().join("venv-wechat"),
        r#","no_binary":["uwsgi"]"#,
    );
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Built from source (as `make wheels` does for a `no_binary` project),
/// psycopg2-binary links Debian's libpq: no bundled copy, no warning, and
/// `libpq5` in the shared-library Depends.
#[test]
fn no_binary_source_build_depends_on_debians_library() {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec_with(tmp.path(), &install, r#","no_binary":["psycopg2_binary"]"#);
    let req = write_requirements(tmp.path(), "psycopg2-binary==2.9.13\n");
    let out = mkvenv()
        .arg(&spec)
        .arg("-r")
        .arg(&req)
        .arg("--find-links")
        .arg(source_wheelhouse())
        .args(["--no-index", "--without-pip", "--root"])
        .arg(&stage)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let f = facts(&out.stdout);
    assert_eq!(f["bundled_libraries"], serde_json::json!([]), "{f}");
    let shlibs: Vec<&str> = f["shlib_depends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        shlibs.iter().any(|d| d.starts_with("libpq5 (>= ")),
        "{shlibs:?}"
    );
    // and it loads Debian's libpq from the staged venv
    let venv = staged(&stage, &install);
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", "import psycopg2; print(psycopg2.__libpq_version__)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
