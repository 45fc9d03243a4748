//! scanpkgs against the real thing: dpkg-scanpackages on real packages from
//! the Debian archive, and apt-get on a repository it publishes.
//!
//! Where a new test goes (one module per topic):
//! - `dpkg.rs`: output checked against dpkg-scanpackages (fields, filters,
//!   multiversion, compressions, overrides);
//! - `publish.rs`: publishing with --out-dir (Release, apt, no-op runs, the
//!   lock, signing);
//! - `cache.rs`: the scan cache;
//! - `usage.rs`: the command line (bad files, exit codes, --help, --version,
//!   deprecated spellings);
//! - this file: the helpers the topics share (a helper pushrepo's tests need
//!   too goes into `debpipe-testkit`).
// Helpers outside #[test] fns are test code too (clippy.toml's
// allow-unwrap-in-tests only covers the #[test] fns themselves).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read as _;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin_cmd;
use md5::Digest as _;

mod cache;
mod dpkg;
mod publish;
mod usage;

/// Small real packages covering the fields dpkg-scanpackages orders and
/// capitalises: Architecture all and amd64, Multi-Arch same/allowed/foreign,
/// Pre-Depends, epochs, Source with a version, Essential, Protected,
/// Important, Build-Essential, Built-Using, Enhances, Tag, Ruby-Versions,
/// Lua-Versions, Ghc-Package, Python-Egg-Name, Build-Ids, Gstreamer-*,
/// Cnf-Visible-Pkgname, long Descriptions.
const TEST_PACKAGES: &[&str] = &[
    "acpi-override-initramfs",
    "apcalc",
    "g++",
    "gobjc++-11-multilib-i686-linux-gnu",
    "gstreamer1.0-pocketsphinx",
    "hostname",
    "init",
    "libcrypt1",
    "libgcc-s1",
    "libghc-storable-complex-dev",
    "libkibi-dbg",
    "libmagickwand-dev",
    "libtinfo-dev",
    "lua-dbi-common",
    "python3-all",
    "python3-examples",
    "python3-nopie",
    "python3-six",
    "python3-whichcraft",
    "roundcube",
    "ruby-launchy-shim",
];

fn cache_root() -> PathBuf {
    match std::env::var_os("DEBPIPE_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/debpipe"),
    }
}

/// The real test packages, downloaded once into the cache directory
/// (again when one is missing).
fn test_debs() -> &'static [PathBuf] {
    static DEBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DEBS.get_or_init(|| {
        let dir = cache_root().join("test-debs");
        fs::create_dir_all(&dir).unwrap();
        let have = |name: &str| {
            fs::read_dir(&dir).unwrap().flatten().any(|e| {
                let f = e.file_name();
                let f = f.to_string_lossy();
                f.starts_with(&format!("{name}_")) && f.ends_with(".deb")
            })
        };
        let missing: Vec<&str> = TEST_PACKAGES.iter().copied().filter(|p| !have(p)).collect();
        if !missing.is_empty() {
            run_ok(
                Command::new("apt-get")
                    .arg("download")
                    .arg("-q")
                    .args(&missing)
                    .current_dir(&dir),
                &format!("apt-get download {missing:?} (run apt-get update?)"),
            );
        }
        let mut debs: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let f = p.file_name().unwrap().to_string_lossy().into_owned();
                p.extension().is_some_and(|e| e == "deb")
                    && TEST_PACKAGES
                        .iter()
                        .any(|n| f.starts_with(&format!("{n}_")))
            })
            .collect();
        debs.sort();
        debs
    })
}

/// A temporary directory with `pool/` holding copies of the test packages.
fn pool() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    fs::create_dir(&pool).unwrap();
    for d in test_debs() {
        fs::copy(d, pool.join(d.file_name().unwrap())).unwrap();
    }
    dir
}

/// The cache directory of runs that do not look at their cache: in cargo's
/// scratch directory for integration tests, never in the user's cache. The
/// files older than a day (left by earlier runs' temporary repositories)
/// are removed once per run.
fn scratch_cache() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scanpkgs-cache");
        let day = Duration::from_hours(24);
        for e in fs::read_dir(dir.join("scanpkgs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
        dir
    })
}

fn scanpkgs(cwd: &Path) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("scanpkgs");
    cmd.current_dir(cwd)
        .env("DEBPIPE_CACHE", scratch_cache())
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("TZ")
        .env("LC_ALL", "C");
    cmd
}

/// Run `cmd` (`what`, for messages); it must succeed.
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn dpkg_scanpackages(cwd: &Path, args: &[&str]) -> Output {
    run_ok(
        Command::new("dpkg-scanpackages")
            .args(args)
            .current_dir(cwd)
            .env("LC_ALL", "C"),
        &format!("dpkg-scanpackages {args:?} (apt-get install dpkg-dev)"),
    )
}

/// Run both with `args` in `cwd`; assert the same stdout and return it.
fn assert_same_as_dpkg(cwd: &Path, args: &[&str]) -> String {
    let want = dpkg_scanpackages(cwd, args);
    let got = scanpkgs(cwd).args(args).output().unwrap();
    assert!(
        got.status.success(),
        "scanpkgs {args:?}: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let (want, got) = (
        String::from_utf8(want.stdout).unwrap(),
        String::from_utf8(got.stdout).unwrap(),
    );
    assert!(
        want == got,
        "scanpkgs {args:?} differs from dpkg-scanpackages\n--- dpkg\n{want}\n--- scanpkgs\n{got}"
    );
    got
}

/// Build a package with dpkg-deb from a control file, with `compression`
/// for both tarballs (gzip, xz, zstd or none).
fn build_deb(dir: &Path, control: &str, compression: &str, out: &Path) {
    let root = dir.join(format!(
        "build-{}",
        out.file_name().unwrap().to_string_lossy()
    ));
    let name = control
        .lines()
        .find_map(|l| l.strip_prefix("Package: "))
        .unwrap();
    let doc = root.join("usr/share/doc").join(name);
    fs::create_dir_all(root.join("DEBIAN")).unwrap();
    fs::create_dir_all(&doc).unwrap();
    fs::write(root.join("DEBIAN/control"), control).unwrap();
    fs::write(doc.join("README"), control).unwrap();
    dpkg_deb_build(&["--root-owner-group"], compression, &root, out);
    fs::remove_dir_all(&root).unwrap();
}

/// Rebuild a real package with another version (its control otherwise as is).
fn repack_with_version(deb: &Path, version: &str, compression: &str, out: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("x");
    assert!(
        Command::new("dpkg-deb")
            .arg("-R")
            .arg(deb)
            .arg(&root)
            .status()
            .unwrap()
            .success()
    );
    let control = fs::read_to_string(root.join("DEBIAN/control")).unwrap();
    let control: String = control
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(root.join("DEBIAN/control"), control).unwrap();
    dpkg_deb_build(&[], compression, &root, out);
}

/// `dpkg-deb -b FLAGS -Z<compression> root out`, which must succeed.
fn dpkg_deb_build(flags: &[&str], compression: &str, root: &Path, out: &Path) {
    let st = Command::new("dpkg-deb")
        .arg("-b")
        .args(flags)
        .arg(format!("-Z{compression}"))
        .arg(root)
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

use debpipe_core::hex::encode as hex;

/// A child process killed and reaped when dropped, even on a failed assert.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serve `dir` on a free port of 127.0.0.1; returns the guard and the URL.
fn serve(dir: &Path) -> (KillOnDrop, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let guard = KillOnDrop(child);
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (guard, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("http.server did not start on port {port}");
}

/// A throwaway signing key in its own GNUPGHOME; returns its fingerprint
/// and the exported public key file.
fn make_key(home: &Path) -> (String, PathBuf) {
    fs::create_dir(home).unwrap();
    fs::set_permissions(home, fs::Permissions::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        run_ok(
            Command::new("gpg")
                .arg("--homedir")
                .arg(home)
                .args(["--batch", "--quiet"])
                .args(args),
            &format!("gpg {args:?}"),
        )
        .stdout
    };
    gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "scanpkgs test <test@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let colons = String::from_utf8(gpg(&["--with-colons", "--list-keys"])).unwrap();
    let fpr = colons
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    let key = home.with_extension("pub.gpg");
    fs::write(&key, gpg(&["--export", &fpr])).unwrap();
    (fpr, key)
}

/// apt-get with its own sources, lists, cache and dpkg root under a
/// directory, so the host's apt and dpkg state are not touched.
struct AptSandbox {
    root: PathBuf,
    opts: Vec<String>,
}

impl AptSandbox {
    fn new(dir: &Path, sources: &str) -> Self {
        let apt = dir.join("apt");
        let root = dir.join("root");
        for d in ["lists/partial", "cache/archives/partial", "etc"] {
            fs::create_dir_all(apt.join(d)).unwrap();
        }
        for d in ["var/lib/dpkg/updates", "var/lib/dpkg/info"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        fs::write(apt.join("etc/sources.list"), sources).unwrap();
        let p = |x: PathBuf| x.display().to_string();
        let opts = vec![
            format!("Dir::Etc::SourceList={}", p(apt.join("etc/sources.list"))),
            "Dir::Etc::SourceParts=/nonexistent".into(),
            "Dir::Etc::Parts=/nonexistent".into(),
            format!("Dir::State::Lists={}", p(apt.join("lists"))),
            format!("Dir::Cache={}", p(apt.join("cache"))),
            format!("Dir::State::status={}", p(root.join("var/lib/dpkg/status"))),
            format!("DPkg::Options::=--root={}", p(root.clone())),
            format!(
                "DPkg::Options::=--admindir={}",
                p(root.join("var/lib/dpkg"))
            ),
            "APT::Sandbox::User=root".into(),
            "APT::Architecture=amd64".into(),
            "Debug::NoLocking=1".into(),
        ];
        Self { root, opts }
    }

    /// Run apt-get; assert it succeeds; return its stdout and stderr.
    fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("apt-get");
        for o in &self.opts {
            cmd.arg("-o").arg(o);
        }
        let out = cmd
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "apt-get {args:?}:\n{text}");
        text
    }
}

/// Stop the gpg-agent that gpg started for `home`.
struct AgentGuard(PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.0)
            .args(["--kill", "all"])
            .status();
    }
}

/// Every hash line of `dir/Release` matches its file, and `want` are the files.
fn check_release(dir: &Path, want: &[&str]) {
    let rel = fs::read_to_string(dir.join("Release")).unwrap();
    let mut section = "";
    let mut seen = Vec::new();
    for line in rel.lines() {
        if !line.starts_with(' ') {
            section = line.split(':').next().unwrap();
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let data = fs::read(dir.join(parts[2])).unwrap();
        assert_eq!(parts[1], data.len().to_string(), "{line}");
        let sum = match section {
            "MD5Sum" => hex(&md5::Md5::digest(&data)),
            "SHA1" => hex(&sha1::Sha1::digest(&data)),
            "SHA256" => hex(&sha2::Sha256::digest(&data)),
            "SHA512" => hex(&sha2::Sha512::digest(&data)),
            other => panic!("unexpected section {other}"),
        };
        assert_eq!(parts[0], sum, "{section} {line}");
        seen.push(format!("{section} {}", parts[2]));
    }
    for s in ["MD5Sum", "SHA1", "SHA256", "SHA512"] {
        let files: Vec<&str> = seen
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{s} ")))
            .collect();
        assert_eq!(files, want, "{s} in {rel}");
    }
}
