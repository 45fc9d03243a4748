//! scanpkgs against the real thing: dpkg-scanpackages on real packages from
//! the Debian archive, and apt-get on a repository it publishes.
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
            let out = Command::new("apt-get")
                .arg("download")
                .arg("-q")
                .args(&missing)
                .current_dir(&dir)
                .output()
                .expect("run apt-get download");
            assert!(
                out.status.success(),
                "apt-get download {missing:?} failed (run apt-get update?): {}",
                String::from_utf8_lossy(&out.stderr)
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

fn dpkg_scanpackages(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new("dpkg-scanpackages")
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .output()
        .expect("run dpkg-scanpackages (apt-get install dpkg-dev)");
    assert!(
        out.status.success(),
        "dpkg-scanpackages {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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
    let st = Command::new("dpkg-deb")
        .args(["-b", "--root-owner-group", &format!("-Z{compression}")])
        .arg(&root)
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
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
    let st = Command::new("dpkg-deb")
        .args(["-b", &format!("-Z{compression}")])
        .arg(&root)
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

#[test]
fn real_packages_byte_identical_to_dpkg_scanpackages() {
    let dir = pool();
    let out = assert_same_as_dpkg(dir.path(), &["pool"]);
    assert_eq!(out.matches("\nPackage: ").count() + 1, TEST_PACKAGES.len());
    assert!(out.contains("Version: 1:4.4.33-2\n"), "epoch kept");
    assert!(
        out.contains("Filename: pool/python3-six_"),
        "relative Filename"
    );
    // Other spellings of the directory and a path prefix.
    assert_same_as_dpkg(dir.path(), &["./pool/"]);
    assert_same_as_dpkg(&dir.path().join("pool"), &["."]);
    assert_same_as_dpkg(dir.path(), &["pool", "/dev/null", "debian/"]);
    assert_same_as_dpkg(dir.path(), &["-h", "sha256,md5", "-M", "disc1", "pool"]);
}

#[test]
fn arch_and_type_filters_match_dpkg_scanpackages() {
    let dir = pool();
    let pool = dir.path().join("pool");
    fs::copy(&test_debs()[0], pool.join("other_1.0_arm64.deb")).unwrap();
    fs::copy(&test_debs()[0], pool.join("installer_1.0_all.udeb")).unwrap();
    let out = assert_same_as_dpkg(dir.path(), &["-a", "amd64", "pool"]);
    assert!(!out.contains("other_1.0_arm64.deb"));
    assert_same_as_dpkg(dir.path(), &["--arch", "arm64", "pool"]);
    let udeb = assert_same_as_dpkg(dir.path(), &["-t", "udeb", "pool"]);
    assert!(
        udeb.contains("Filename: pool/installer_1.0_all.udeb\n"),
        "{udeb}"
    );
}

#[test]
fn multiversion_and_every_control_compression_match_dpkg_scanpackages() {
    let dir = pool();
    let pool = dir.path().join("pool");
    let six = test_debs()
        .iter()
        .find(|p| p.to_string_lossy().contains("python3-six_"))
        .unwrap();
    let hostname = test_debs()
        .iter()
        .find(|p| p.to_string_lossy().contains("/hostname_"))
        .unwrap();
    let old = dir.path().join("old");
    fs::create_dir(&old).unwrap();
    repack_with_version(
        six,
        "1.15.0-1",
        "gzip",
        &old.join("python3-six_1.15.0-1_all.deb"),
    );
    repack_with_version(
        six,
        "1:0.9-1",
        "zstd",
        &old.join("python3-six_1:0.9-1_all.deb"),
    );
    repack_with_version(
        hostname,
        "3.23~rc1",
        "none",
        &old.join("hostname_3.23~rc1_amd64.deb"),
    );
    let both = assert_same_as_dpkg(dir.path(), &["-m", "."]);
    assert_eq!(both.matches("Package: python3-six\n").count(), 3);
    assert!(both.contains("Version: 1:0.9-1\n"));
    // Without -m the newest by dpkg's ordering wins (the epoch one), with a warning.
    let one = assert_same_as_dpkg(dir.path(), &["."]);
    assert_eq!(one.matches("Package: python3-six\n").count(), 1);
    assert!(one.contains("Version: 1:0.9-1\n"));
    let err = scanpkgs(dir.path()).arg(".").output().unwrap().stderr;
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("multiple instances"), "{err}");
    assert!(pool.exists());
}

#[test]
fn override_files_match_dpkg_scanpackages() {
    let dir = pool();
    fs::write(
        dir.path().join("override"),
        "# comment\n\
         python3-six optional web # trailing comment\n\
         hostname important admin Michael Meskes <meskes@debian.org> => New Maint <new@example.com>\n\
         init required admin Someone Else <x@example.com> => Nobody <n@example.com>\n\
         apcalc extra math\n\
         roundcube\n\
         not-in-archive optional misc\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("extra"),
        "python3-six Bugs https://bugs.example.com/\nhostname X-Custom-Field some value\nnone-such Foo bar\n",
    )
    .unwrap();
    let out = assert_same_as_dpkg(dir.path(), &["pool", "override"]);
    assert!(out.contains("Section: web\nPriority: optional\n"), "{out}");
    assert_same_as_dpkg(dir.path(), &["-e", "extra", "pool", "override"]);
    // A compressed override file reads the same.
    let gz = Command::new("gzip")
        .args(["-k", "override"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(gz.success());
    let a = scanpkgs(dir.path())
        .args(["pool", "override.gz"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(a.stdout).unwrap(), out);
}

#[test]
fn release_hashes_match_the_files_flat_and_dists() {
    let dir = pool();
    scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--xz",
            "--origin",
            "Acme",
            "--label",
            "Acme apps",
            "--suite",
            "stable",
            "pool",
        ])
        .assert()
        .success();
    check_release(dir.path(), &["Packages", "Packages.gz", "Packages.xz"]);
    let rel = fs::read_to_string(dir.path().join("Release")).unwrap();
    assert!(
        rel.starts_with("Origin: Acme\nLabel: Acme apps\nSuite: stable\nDate: "),
        "{rel}"
    );
    assert_eq!(
        fs::read(dir.path().join("Packages")).unwrap(),
        dpkg_scanpackages(dir.path(), &["pool"]).stdout
    );
    for f in ["Packages", "Packages.gz", "Packages.xz", "Release"] {
        let mode = fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }

    scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--dist",
            "stable",
            "--codename",
            "acme1",
            "-a",
            "amd64",
            "pool",
        ])
        .assert()
        .success();
    scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--dist",
            "stable",
            "--codename",
            "acme1",
            "-a",
            "arm64",
            "--component",
            "extra",
            "pool",
        ])
        .assert()
        .success();
    let suite = dir.path().join("dists/stable");
    check_release(
        &suite,
        &[
            "extra/binary-arm64/Packages",
            "extra/binary-arm64/Packages.gz",
            "main/binary-amd64/Packages",
            "main/binary-amd64/Packages.gz",
        ],
    );
    let rel = fs::read_to_string(suite.join("Release")).unwrap();
    assert!(rel.contains("Codename: acme1\n"), "{rel}");
    assert!(
        rel.contains("Architectures: amd64 arm64\nComponents: extra main\n"),
        "{rel}"
    );
    let amd64 = fs::read(suite.join("main/binary-amd64/Packages")).unwrap();
    assert_eq!(
        amd64,
        dpkg_scanpackages(dir.path(), &["-a", "amd64", "pool"]).stdout
    );
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
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(home)
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
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

#[test]
fn apt_updates_and_installs_from_signed_flat_and_dists_repos() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("gnupg");
    let _agent = AgentGuard(home.clone());
    let (fpr, key) = make_key(&home);

    // Flat repository with one package, dists repository with another.
    let flat = t.path().join("www/flat");
    fs::create_dir_all(&flat).unwrap();
    let control = |name: &str| {
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: scanpkgs test\n long text\n"
        )
    };
    build_deb(
        t.path(),
        &control("scanpkgs-flat-test"),
        "xz",
        &flat.join("scanpkgs-flat-test_1.0-1_all.deb"),
    );
    let dists = t.path().join("www/repo");
    fs::create_dir_all(dists.join("pool/main")).unwrap();
    build_deb(
        t.path(),
        &control("scanpkgs-dists-test"),
        "zstd",
        &dists.join("pool/main/scanpkgs-dists-test_1.0-1_all.deb"),
    );
    let home_s = home.to_str().unwrap();
    scanpkgs(&flat)
        .args([
            "--out-dir",
            ".",
            "--sign-key",
            &fpr,
            "--gpg-homedir",
            home_s,
            "--origin",
            "scanpkgs-test",
            ".",
        ])
        .assert()
        .success();
    scanpkgs(&dists)
        .args([
            "--out-dir",
            ".",
            "--dist",
            "stable",
            "-a",
            "amd64",
            "--xz",
            "--sign-key",
            &fpr,
            "--gpg-homedir",
            home_s,
            "pool",
        ])
        .assert()
        .success();
    for d in [&flat, &dists.join("dists/stable")] {
        let names = listing(d);
        assert!(
            names.contains(&"InRelease".to_string()) && names.contains(&"Release.gpg".to_string()),
            "{names:?}"
        );
    }

    let (_server, url) = serve(&t.path().join("www"));
    let key = key.display();
    let sources = format!(
        "deb [signed-by={key}] {url}/flat/ ./\ndeb [signed-by={key}] {url}/repo stable main\n"
    );
    let apt = AptSandbox::new(t.path(), &sources);
    let apt_get = |args: &[&str]| apt.run(args);
    let root = apt.root.clone();
    let update = apt_get(&["update"]);
    assert!(!update.contains("W:") && !update.contains("E:"), "{update}");
    apt_get(&["install", "-y", "scanpkgs-flat-test", "scanpkgs-dists-test"]);
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert_eq!(
        status.matches("Status: install ok installed").count(),
        2,
        "{status}"
    );
    assert!(
        root.join("usr/share/doc/scanpkgs-flat-test/README")
            .exists()
    );
    assert!(
        root.join("usr/share/doc/scanpkgs-dists-test/README")
            .exists()
    );
}

#[test]
fn bad_files_are_named_skipped_and_exit_1() {
    let dir = pool();
    let good = dpkg_scanpackages(dir.path(), &["pool"]).stdout;
    let pool = dir.path().join("pool");
    let six = fs::read(
        test_debs()
            .iter()
            .find(|p| p.to_string_lossy().contains("python3-six_"))
            .unwrap(),
    )
    .unwrap();
    fs::write(pool.join("empty_1_all.deb"), b"").unwrap();
    fs::write(pool.join("text_1_all.deb"), b"this is not a package\n").unwrap();
    fs::write(pool.join("trunc-data_1_all.deb"), &six[..six.len() - 100]).unwrap();
    fs::write(pool.join("trunc-head_1_all.deb"), &six[..40]).unwrap();
    let mut corrupt = six.clone();
    for b in &mut corrupt[200..400] {
        *b = 0x55;
    }
    fs::write(pool.join("corrupt-control_1_all.deb"), &corrupt).unwrap();
    let a = scanpkgs(dir.path()).arg("pool").assert().code(1);
    let out = a.get_output();
    assert_eq!(out.stdout, good, "the good ones are still indexed");
    let err = String::from_utf8_lossy(&out.stderr);
    for (f, why) in [
        ("empty_1_all.deb", "empty file"),
        ("text_1_all.deb", "not a Debian package"),
        ("trunc-data_1_all.deb", "truncated"),
        ("trunc-head_1_all.deb", "truncated"),
        ("corrupt-control_1_all.deb", "control.tar.xz"),
    ] {
        assert!(
            err.contains(&format!("pool/{f}: skipped: {why}")),
            "{f}: {err}"
        );
    }
    assert!(err.contains("error: pool: 5 file(s) not indexed"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("skipped")).count(),
        5,
        "one line each: {err}"
    );

    // With --out-dir the index is still published, nothing half-written.
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .code(1);
    assert_eq!(fs::read(dir.path().join("Packages")).unwrap(), good);
    assert!(
        !listing(dir.path())
            .iter()
            .any(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"))
    );
}

#[test]
fn same_package_version_in_two_different_files_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    fs::create_dir(&pool).unwrap();
    let control = "Package: dup\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: d\n";
    build_deb(dir.path(), control, "gzip", &pool.join("dup_1.0_all.deb"));
    build_deb(
        dir.path(),
        control,
        "xz",
        &pool.join("dup-again_1.0_all.deb"),
    );
    // An identical copy is only dpkg-scanpackages' "repeat" warning.
    fs::copy(
        pool.join("dup_1.0_all.deb"),
        pool.join("dup-copy_1.0_all.deb"),
    )
    .unwrap();
    let a = scanpkgs(dir.path()).arg("pool").assert().code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("warning: pool/dup_1.0_all.deb: package dup 1.0 (all) is also pool/dup-again_1.0_all.deb, with different contents"),
        "{err}"
    );
    // dup-copy differs from dup-again too (it is dup's twin).
    assert_eq!(err.matches("different contents").count(), 2, "{err}");
    assert!(
        err.contains("error: pool: 2 file(s) with the package and version of a different file"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("Package: dup\n").count(), 1);
}

#[test]
fn cache_rereads_a_file_replaced_within_the_same_second() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    fs::create_dir(&pool).unwrap();
    let a = "Package: a\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: first\n";
    let b = "Package: a\nVersion: 1.0\nArchitecture: all\nMaintainer: T <t@example.invalid>\nDescription: other\n";
    let target = pool.join("a_1.0_all.deb");
    build_deb(dir.path(), a, "none", &target);
    let caches = tempfile::tempdir().unwrap();
    let scanpkgs = |cwd: &Path| {
        let mut cmd = scanpkgs(cwd);
        cmd.env("DEBPIPE_CACHE", caches.path());
        cmd
    };
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let mtime = fs::metadata(&target).unwrap().modified().unwrap();
    let size = fs::metadata(&target).unwrap().len();

    // Same size, same mtime (to the nanosecond): only ctime and the inode say.
    let other = dir.path().join("other.deb");
    build_deb(dir.path(), b, "none", &other);
    assert_eq!(fs::metadata(&other).unwrap().len(), size);
    fs::rename(&other, &target).unwrap();
    fs::File::options()
        .write(true)
        .open(&target)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let packages = fs::read(dir.path().join("Packages")).unwrap();
    assert_eq!(packages, dpkg_scanpackages(dir.path(), &["pool"]).stdout);
    assert!(String::from_utf8_lossy(&packages).contains("Description: other\n"));

    // A corrupt cache is rebuilt, never trusted.
    let cache = only_cache_file(caches.path());
    let mut bytes = fs::read(&cache).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs::write(&cache, &bytes).unwrap();
    let out = scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains(&format!(
            "{}: checksum mismatch; rebuilding the cache",
            cache.display()
        )),
        "{err}"
    );
    assert_eq!(fs::read(dir.path().join("Packages")).unwrap(), packages);
    assert_ne!(fs::read(&cache).unwrap(), bytes);
}

/// The one cache file under the cache directory `root` (`$DEBPIPE_CACHE`).
fn only_cache_file(root: &Path) -> PathBuf {
    let files = listing(&root.join("scanpkgs"));
    assert_eq!(files.len(), 1, "{files:?}");
    root.join("scanpkgs").join(&files[0])
}

/// Issue 13: the cache was written into the repository, so serving the
/// directory (`make serve`) published it. It now lives under
/// `$DEBPIPE_CACHE/scanpkgs/`, and one left in the repository by an older
/// scanpkgs is removed.
#[test]
fn regression_13_cache_is_never_inside_the_served_tree() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = pool();
    let repo = dir.path();
    let caches = tempfile::tempdir().unwrap();
    fs::write(repo.join(".scanpkgs-cache"), b"left by an older scanpkgs").unwrap();
    let run = || {
        let a = scanpkgs(repo)
            .env("DEBPIPE_CACHE", caches.path())
            .args(["--out-dir", ".", "."])
            .assert()
            .success();
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    let err = run();
    assert!(err.contains("removed ./.scanpkgs-cache"), "{err}");
    // What is served: the index, Release and the packages, nothing else.
    assert_eq!(
        listing(repo),
        ["Packages", "Packages.gz", "Release", "pool"]
    );
    assert_eq!(listing(&repo.join("pool")).len(), test_debs().len());
    check_release(repo, &["Packages", "Packages.gz"]);

    // The cache: one file for this repository, with every package in it.
    let file = only_cache_file(caches.path());
    let before = fs::metadata(&file).unwrap();
    assert_eq!(before.permissions().mode() & 0o777, 0o644);
    let cache = scanpkgs::cache::Cache::from_bytes(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(cache.len(), test_debs().len());

    // A second run takes every package from the cache: it reads none, so it
    // leaves the cache as it was (any file read would rewrite it, renaming a
    // new file into place).
    let err = run();
    assert!(!err.contains("cache"), "{err}");
    let after = fs::metadata(only_cache_file(caches.path())).unwrap();
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    assert_eq!(
        listing(repo),
        ["Packages", "Packages.gz", "Release", "pool"]
    );
}

#[test]
fn unchanged_repository_is_not_rewritten_and_date_never_goes_back() {
    let dir = pool();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .env("SOURCE_DATE_EPOCH", "2000000000")
        .assert()
        .success();
    let release = fs::read_to_string(dir.path().join("Release")).unwrap();
    assert!(
        release.contains("Date: Wed, 18 May 2033 03:33:20 UTC\n"),
        "{release}"
    );
    let before = fs::metadata(dir.path().join("Release"))
        .unwrap()
        .modified()
        .unwrap();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .assert()
        .success();
    assert_eq!(
        fs::metadata(dir.path().join("Release"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    fs::remove_file(
        dir.path()
            .join("pool")
            .join(test_debs()[0].file_name().unwrap()),
    )
    .unwrap();
    scanpkgs(dir.path())
        .args(["--out-dir", ".", "pool"])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .assert()
        .success();
    let release = fs::read_to_string(dir.path().join("Release")).unwrap();
    assert!(
        release.contains("Date: Wed, 18 May 2033 03:33:20 UTC\n"),
        "{release}"
    );
    check_release(dir.path(), &["Packages", "Packages.gz"]);
}

/// A second run waits while another holds the repository's lock, says so
/// on stderr, and publishes only once it is released.
#[test]
fn second_run_waits_for_the_repository_lock() {
    use std::io::BufRead as _;
    let dir = pool();
    // What another run holds: a lock on the repository's directory.
    let lock = fs::File::open(dir.path()).unwrap();
    lock.lock().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("scanpkgs"))
        .args(["--out-dir", ".", "pool"])
        .current_dir(dir.path())
        .env("DEBPIPE_CACHE", scratch_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("scanpkgs: info: .: another scanpkgs run") && line.contains("waiting"),
        "{line}"
    );
    // Still waiting a while later, having published nothing.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "did not wait");
    assert!(
        !dir.path().join("Packages").exists(),
        "published while another run held the lock"
    );
    lock.unlock().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    check_release(dir.path(), &["Packages", "Packages.gz"]);
}

#[test]
fn failed_signing_writes_nothing() {
    let dir = pool();
    let home = dir.path().join("gnupg");
    let _agent = AgentGuard(home.clone());
    fs::create_dir(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    let a = scanpkgs(dir.path())
        .args([
            "--out-dir",
            ".",
            "--sign-key",
            "nobody@example.invalid",
            "--gpg-homedir",
            home.to_str().unwrap(),
            "pool",
        ])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.starts_with("scanpkgs: info:") || err.contains("scanpkgs: error: ./Release.gpg: gpg"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{err}"
    );
    assert_eq!(listing(dir.path()), ["gnupg", "pool"]);
}

#[test]
fn missing_directory_exits_1_and_unknown_flag_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = scanpkgs(dir.path()).arg("nope").assert().code(1);
    assert_eq!(
        String::from_utf8_lossy(&a.get_output().stderr),
        "scanpkgs: error: nope: binary path not found\n"
    );
    assert!(a.get_output().stdout.is_empty());
    scanpkgs(dir.path())
        .args(["--frobnicate", "."])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args([".", "a", "b", "c"])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args(["-h", "sha512", "."])
        .assert()
        .code(2);
    scanpkgs(dir.path())
        .args(["--out-dir", "out", "--dist", "stable", "."])
        .assert()
        .code(2);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn help_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let out = scanpkgs(dir.path())
        .env("COLUMNS", "100")
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    debpipe_testkit::assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt"),
        &out.stdout,
    );
    let q = scanpkgs(dir.path())
        .env("COLUMNS", "100")
        .arg("-?")
        .output()
        .unwrap();
    assert_eq!(q.stdout, out.stdout);
}

#[test]
fn dash_dash_version_prints_version() {
    let mut s = String::new();
    let out = scanpkgs(Path::new("/")).arg("--version").output().unwrap();
    out.stdout.as_slice().read_to_string(&mut s).unwrap();
    assert_eq!(s, format!("scanpkgs {}\n", env!("CARGO_PKG_VERSION")));
}

/// `-o` is a file in the other tools, so the repository directory is
/// `--out-dir`; `-o` and `--output` still work until 0.2.0, with one
/// warning line naming the new form.
#[test]
fn out_dir_and_its_old_spellings_publish_the_same_index() {
    let mut indexes = Vec::new();
    for flag in ["--out-dir", "--output", "-o"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(assert_cmd::cargo::cargo_bin!("scanpkgs"))
            .current_dir(dir.path())
            .args([flag, ".", "."])
            .env("DEBPIPE_CACHE", dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let warned: Vec<&str> = err.lines().filter(|l| l.contains("deprecated")).collect();
        if flag == "--out-dir" {
            assert!(warned.is_empty(), "{err}");
        } else {
            assert_eq!(warned.len(), 1, "{err}");
            assert_eq!(
                warned[0],
                "scanpkgs: warning: -o/--output DIR is deprecated, use --out-dir DIR \
                 (it goes away in 0.2.0)",
                "{err}"
            );
        }
        indexes.push(std::fs::read(dir.path().join("Packages")).unwrap());
    }
    assert!(indexes.windows(2).all(|w| w[0] == w[1]));
}
