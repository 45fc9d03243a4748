//! Integration tests of mkvenv: real venvs built with /usr/bin/python3 from
//! a wheelhouse (Django, uWSGI built from source, psycopg2-binary with its
//! bundled libraries, pip) that is built once from `PyPI` and cached under
//! `${DEBPIPE_CACHE:-$HOME/.cache/debpipe}/wheels-test`, and a binary-only
//! one (Pillow's manylinux wheel, with `pillow.libs/`) cached beside it in
//! `wheels-test-binary`, and psycopg2-binary built from its sdist against
//! Debian's libpq (`pip wheel --no-binary`, needs libpq-dev) in
//! `wheels-test-source`.
//!
//! Where a new test goes (one module per topic):
//! - `relocation.rs`: A venv built and relocated: it works at its install path, whatever the path's length.
//! - `pip.rs`: pip: hash-pinned requirements, the system pip (--without-pip), pip's failures.
//! - `usage.rs`: The command line: refused interpreters, missing files, bad specs, usage errors, --help.
//! - `modes.rs`: Modes and shebangs of the shipped files, and bundled libraries loading through their loader.
//! - `bundled.rs`: Bundled libraries in the facts, and `no_binary` (built from source, a manylinux wheel refused).
//! - this file: the helpers the topics share (a helper two crates need goes
//!   into `debpipe-testkit`).

// Test helpers panic on failure by design (clippy's allow-unwrap-in-tests
// only covers the #[test] functions themselves).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use assert_cmd::cargo::cargo_bin_cmd;
use debpipe_testkit::{assert_fails, assert_golden, assert_success};

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

mod bundled;
mod modes;
mod pip;
mod relocation;
mod usage;

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

/// `mkvenv SPEC --requirements REQ --find-links WHEELHOUSE --no-index`, for
/// more arguments.
fn from_wheelhouse(spec: &Path, req: &Path) -> assert_cmd::Command {
    let mut c = mkvenv();
    c.arg(spec)
        .arg("--requirements")
        .arg(req)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--no-index");
    c
}

/// `mkvenv SPEC -r REQ --find-links LINK... --no-index --without-pip
/// --root STAGE`: a build from the wheelhouses alone, its output.
fn build_offline(spec: &Path, req: &Path, links: &[&Path], stage: &Path) -> Output {
    let mut c = mkvenv();
    c.arg(spec).arg("-r").arg(req);
    for l in links {
        c.arg("--find-links").arg(l);
    }
    c.args(["--no-index", "--without-pip", "--root"])
        .arg(stage)
        .output()
        .unwrap()
}

/// A test's scratch directory and its usual paths: the directory, `stage/`
/// (not made yet), the venv's install path `venv-wechat`, and `app.json`
/// naming it as the venv.
fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let stage = tmp.path().join("stage");
    let install = tmp.path().join("venv-wechat");
    let spec = write_spec(tmp.path(), &install);
    (tmp, stage, install, spec)
}

/// The `shlib_depends` of facts `f`.
fn shlib_depends(f: &serde_json::Value) -> Vec<&str> {
    f["shlib_depends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
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
    assert_success(&out);
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
    let out = build_offline(
        &spec,
        &req,
        &[wheelhouse(), binary_wheelhouse(), &demo],
        stage,
    );
    assert_success(&out);
}
