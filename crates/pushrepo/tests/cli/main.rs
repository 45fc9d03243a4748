//! pushrepo against a real SeaweedFS (S3 gateway on 127.0.0.1), run as the
//! real binary. Every repository is read back the way apt reads it:
//! anonymously over plain HTTP, InRelease -> by-hash indexes -> pool files.
//!
//! Where a new test goes (one module per topic):
//! - `usage.rs`: the command line (--help, usage errors);
//! - `publish.rs`: what a publish lists (merging, concurrency, --keep,
//!   --grace, apt reading it);
//! - `safety.rs`: readers never see a torn repository (killed servers and
//!   holders, lock takeover, stores that ignore conditional writes);
//! - this file: the helpers the topics share (a helper scanpkgs' tests need
//!   too goes into `debpipe-testkit`).
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;
use debpipe_testkit::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Weed, http_get_bytes};
use sha2::Digest as _;

mod publish;
mod safety;
mod usage;

fn sha256(data: &[u8]) -> String {
    debpipe_core::hex::encode(&sha2::Sha256::digest(data))
}

fn sha512(data: &[u8]) -> String {
    debpipe_core::hex::encode(&sha2::Sha512::digest(data))
}

/// A repository under its own prefix of a SeaweedFS bucket, and a scratch
/// directory for .debs.
struct Repo {
    s3_port: u16,
    prefix: String,
    dir: tempfile::TempDir,
    gpg: Option<GpgHome>,
}

impl Repo {
    fn new(prefix: &str) -> Self {
        Self::on(Weed::shared(), prefix)
    }

    /// Start publishing `deb` with `args` in the background (stderr piped).
    fn spawn(&self, args: &[&str], deb: &Path) -> std::process::Child {
        self.cmd()
            .args(args)
            .arg(self.url())
            .arg(deb)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn on(weed: &Weed, prefix: &str) -> Self {
        Self {
            s3_port: weed.s3_port,
            prefix: prefix.to_string(),
            dir: tempfile::tempdir().unwrap(),
            gpg: None,
        }
    }

    fn signed(mut self) -> Self {
        self.gpg = Some(GpgHome::new());
        self
    }

    fn url(&self) -> String {
        format!("s3://{BUCKET}/{}", self.prefix)
    }

    /// `pushrepo --dist stable [--sign-key K] URL` with the publisher's
    /// credentials (and nothing else from the environment's AWS_*).
    fn cmd(&self) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin!("pushrepo"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", self.s3_port),
        )
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .args(["--dist", "stable"]);
        if let Some(g) = &self.gpg {
            c.env("GNUPGHOME", g.dir.path())
                .args(["--sign-key", GpgHome::UID_EMAIL]);
        }
        c
    }

    fn publish(&self, extra: &[&str], debs: &[&Path]) -> Output {
        self.cmd()
            .args(extra)
            .arg(self.url())
            .args(debs)
            .output()
            .unwrap()
    }

    fn publish_ok(&self, extra: &[&str], debs: &[&Path]) -> String {
        let out = self.publish(extra, debs);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "pushrepo failed: {err}");
        assert!(out.stdout.is_empty());
        err
    }

    /// A tiny real .deb built with dpkg-deb.
    fn deb(&self, name: &str, version: &str, payload: &str) -> PathBuf {
        build_deb(self.dir.path(), name, version, payload)
    }

    /// Anonymous GET of a key of this repository.
    fn get(&self, key: &str) -> (u16, Vec<u8>) {
        http_get_bytes(self.s3_port, &format!("/{BUCKET}/{}/{key}", self.prefix)).unwrap()
    }

    fn exists(&self, key: &str) -> bool {
        self.get(key).0 == 200
    }

    /// The packages a reader sees, checked end to end (panics on a mismatch).
    fn listed(&self) -> Vec<String> {
        check(self.s3_port, &self.prefix, "stable").unwrap_or_else(|e| panic!("{e}"))
    }
}

fn build_deb(dir: &Path, name: &str, version: &str, payload: &str) -> PathBuf {
    let root = tempfile::tempdir_in(dir).unwrap();
    std::fs::create_dir_all(root.path().join("DEBIAN")).unwrap();
    let share = root.path().join("usr/share").join(name);
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("payload"), payload).unwrap();
    std::fs::write(
        root.path().join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: Test <t@example.invalid>\nDescription: test package {name}\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!(
        "{name}_{version}_{}.deb",
        &sha256(payload.as_bytes())[..8]
    ));
    let st = Command::new("dpkg-deb")
        .args(["-Zgzip", "--root-owner-group", "--build"])
        .arg(root.path())
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// A throwaway gpg home with one signing key; its agent is stopped on drop.
struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    const UID_EMAIL: &'static str = "pushrepo-test@example.invalid";

    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("g")
            .tempdir_in("/tmp")
            .unwrap();
        let st = Command::new("gpg")
            .arg("--homedir")
            .arg(dir.path())
            .args(["--batch", "--quiet", "--passphrase", "", "--quick-gen-key"])
            .arg(format!("pushrepo test <{}>", Self::UID_EMAIL))
            .args(["ed25519", "sign", "never"])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        Self { dir }
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// Read the dist as apt does: InRelease (else Release), every index through
/// its by-hash copy under SHA512 (the strongest of the four hashes every
/// index must be listed with), every package's pool file; check every size,
/// SHA512 and SHA256.
/// Returns `package=version` of the packages listed, or what did not match.
fn check(port: u16, prefix: &str, dist: &str) -> Result<Vec<String>, String> {
    let get = |key: &str| {
        http_get_bytes(port, &format!("/{BUCKET}/{prefix}/{key}"))
            .map_err(|e| format!("GET {key}: {e}"))
    };
    let base = format!("dists/{dist}");
    let (mut code, mut release) = get(&format!("{base}/InRelease"))?;
    if code == 404 {
        (code, release) = get(&format!("{base}/Release"))?;
    }
    if code == 404 {
        return Ok(Vec::new());
    }
    if code != 200 {
        return Err(format!("{base}/InRelease: HTTP {code}"));
    }
    let release = String::from_utf8_lossy(&release).into_owned();
    if !release.contains("\nAcquire-By-Hash: yes\n") {
        return Err("Release without Acquire-By-Hash: yes".into());
    }
    // path -> (size, sum per section)
    let mut sums: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    let mut section = String::new();
    for line in release.lines() {
        if !line.starts_with(' ') {
            section = line.trim_end().to_string();
            continue;
        }
        if !["MD5Sum:", "SHA1:", "SHA256:", "SHA512:"].contains(&section.as_str()) {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let [sum, size, path] = w[..] else {
            return Err(format!("bad {section} line {line:?}"));
        };
        let e = sums.entry(path.to_string()).or_default();
        e.0 = size.to_string();
        e.1.insert(section.clone(), sum.to_string());
    }
    let mut listed = Vec::new();
    for (path, (size, by)) in &sums {
        if by.len() != 4 {
            return Err(format!("{path} listed under {:?} only", by.keys()));
        }
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let key = format!("{base}/{dir}/by-hash/SHA512/{}", by["SHA512:"]);
        let (code, data) = get(&key)?;
        if code != 200
            || sha512(&data) != by["SHA512:"]
            || sha256(&data) != by["SHA256:"]
            || data.len().to_string() != *size
        {
            return Err(format!(
                "{key}: HTTP {code}, {} bytes, SHA256 {}; Release says {size} bytes",
                data.len(),
                sha256(&data)
            ));
        }
        if !path.ends_with("/Packages") {
            continue;
        }
        for stanza in String::from_utf8_lossy(&data)
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
        {
            let field = |n: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{n}: ")).map(str::to_string))
                    .unwrap_or_default()
            };
            let file = field("Filename");
            let (code, deb) = get(&file)?;
            if code != 200
                || sha256(&deb) != field("SHA256")
                || deb.len().to_string() != field("Size")
            {
                return Err(format!(
                    "{file}: HTTP {code}, SHA256 {}; index says {}",
                    sha256(&deb),
                    field("SHA256")
                ));
            }
            listed.push(format!("{}={}", field("Package"), field("Version")));
        }
    }
    listed.sort();
    Ok(listed)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Start publishing `deb` with `--lock-ttl ttl` through a stand-in gpg
/// (the script `gpg(mark)` writes, which creates `mark`), and wait until it
/// signs: it then holds the lock. Returns the publisher and `mark`.
fn spawn_signing(
    repo: &Repo,
    gpg: impl Fn(&Path) -> String,
    ttl: &str,
    deb: &Path,
    stderr: Stdio,
) -> (std::process::Child, PathBuf) {
    let bin = repo.dir.path().join("gpg-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = repo.dir.path().join("signing");
    std::fs::write(bin.join("gpg"), gpg(&mark)).unwrap();
    std::fs::set_permissions(
        bin.join("gpg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let child = repo
        .cmd()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .args(["--lock-ttl", ttl])
        .arg(repo.url())
        .arg(deb)
        .stderr(stderr)
        .spawn()
        .unwrap();
    assert!(
        debpipe_testkit::wait_until(20, || mark.exists()),
        "the publisher never signed"
    );
    (child, mark)
}
