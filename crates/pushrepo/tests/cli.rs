//! pushrepo against a real SeaweedFS (S3 gateway on 127.0.0.1), run as the
//! real binary. Every repository is read back the way apt reads it:
//! anonymously over plain HTTP, InRelease -> by-hash indexes -> pool files.
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

#[test]
fn help_matches_golden() {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("pushrepo"))
        .env("COLUMNS", "100")
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    debpipe_testkit::assert_golden(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt"),
        &out.stdout,
    );
}

#[test]
fn usage_errors_exit_2_and_missing_deb_names_it() {
    let repo = Repo::new("usage");
    repo.cmd().arg(repo.url()).assert().code(2);
    repo.cmd()
        .arg("--keep")
        .arg("0")
        .arg(repo.url())
        .arg("x.deb")
        .assert()
        .code(2);
    let out = repo.cmd().args(["bucket/x", "x.deb"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("must start with s3://"),
        "{}",
        stderr(&out)
    );
    let out = repo
        .cmd()
        .args(["--grace", "3x"])
        .arg(repo.url())
        .arg("x.deb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = repo.publish(&[], &[Path::new("/nonexistent/a.deb")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("pushrepo: error: /nonexistent/a.deb: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!repo.exists("pushrepo.lock"), "nothing written");
}

#[test]
fn publish_merges_packages_and_republish_writes_nothing() {
    let repo = Repo::new("merge");
    let a = repo.deb("hello", "1.0", "a");
    let b = repo.deb("world", "2.0+b1~rc1", "b");
    repo.publish_ok(&[], &[&a]);
    repo.publish_ok(&[], &[&b]);
    assert_eq!(repo.listed(), ["hello=1.0", "world=2.0+b1~rc1"]);
    assert!(repo.exists("pool/main/w/world/world_2.0+b1~rc1_amd64.deb"));
    let (_, release) = repo.get("dists/stable/Release");
    assert!(String::from_utf8_lossy(&release).contains("Acquire-By-Hash: yes"));

    // Unchanged: nothing written, not even the lock.
    let keys = [
        "dists/stable/Release",
        "dists/stable/main/binary-amd64/Packages",
        "dists/stable/main/binary-amd64/Packages.gz",
        "dists/stable/pushrepo-pending",
        "pushrepo.lock",
    ];
    let before: Vec<_> = keys.iter().map(|k| repo.get(k)).collect();
    let err = repo.publish_ok(&[], &[&a, &b]);
    assert!(
        err.contains("unchanged (2 packages listed); nothing written"),
        "{err}"
    );
    let after: Vec<_> = keys.iter().map(|k| repo.get(k)).collect();
    assert_eq!(before, after);

    // Same name, other bytes: an error naming the file; nothing changes.
    let a2 = repo.deb("hello", "1.0", "changed");
    let out = repo.publish(&[], &[&a2]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("s3://{BUCKET}/merge/pool/main/h/hello/hello_1.0_amd64.deb: already published with different contents")),
        "{err}"
    );
    assert_eq!(repo.listed(), ["hello=1.0", "world=2.0+b1~rc1"]);
}

#[test]
fn concurrent_publishers_are_all_listed() {
    let repo = Repo::new("concurrent");
    let debs: Vec<PathBuf> = (0..4)
        .map(|i| repo.deb(&format!("pkg{i}"), "1.0", "x"))
        .collect();
    let children: Vec<_> = debs
        .iter()
        .map(|d| {
            repo.cmd()
                .arg(repo.url())
                .arg(d)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut waited = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        waited += usize::from(err.contains("waiting for the lock"));
    }
    assert_eq!(
        repo.listed(),
        ["pkg0=1.0", "pkg1=1.0", "pkg2=1.0", "pkg3=1.0"]
    );
    eprintln!("{waited} of 4 publishers waited for the lock");
}

#[test]
fn readers_never_see_a_torn_repository() {
    let repo = Repo::new("torn").signed();
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (stop, checks, errors) = (stop.clone(), checks.clone(), errors.clone());
        let (port, prefix) = (repo.s3_port, repo.prefix.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match check(port, &prefix, "stable") {
                    Ok(_) => checks.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        errors.lock().unwrap().push(e);
                        0
                    }
                };
            }
        })
    };
    // 10 publishes: 4 alone, then 3 rounds of 2 at once; --keep 3 rewrites
    // the index on every one.
    let mut version = 0;
    let mut next = |repo: &Repo| {
        version += 1;
        let name = if version % 2 == 0 { "even" } else { "odd" };
        repo.deb(name, &format!("1.{version}"), "p")
    };
    for _ in 0..4 {
        let d = next(&repo);
        repo.publish_ok(&["--keep", "3"], &[&d]);
    }
    for _ in 0..3 {
        let (d1, d2) = (next(&repo), next(&repo));
        let c: Vec<_> = [d1, d2]
            .iter()
            .map(|d| {
                repo.cmd()
                    .args(["--keep", "3"])
                    .arg(repo.url())
                    .arg(d)
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in c {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let errors = errors.lock().unwrap();
    let n = checks.load(Ordering::SeqCst);
    eprintln!("reader: {n} full checks, {} mismatches", errors.len());
    assert!(
        errors.is_empty(),
        "{} mismatches, first: {}",
        errors.len(),
        errors[0]
    );
    assert!(n >= 10, "the reader ran only {n} checks");
    assert_eq!(
        repo.listed(),
        [
            "even=1.10",
            "even=1.6",
            "even=1.8",
            "odd=1.5",
            "odd=1.7",
            "odd=1.9"
        ]
    );
    // Signed: InRelease verifies with the key.
    let (_, inrelease) = repo.get("dists/stable/InRelease");
    let g = repo.gpg.as_ref().unwrap();
    let mut v = Command::new("gpg")
        .arg("--homedir")
        .arg(g.dir.path())
        .args(["--batch", "--verify"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    v.stdin.take().unwrap().write_all(&inrelease).unwrap();
    assert!(v.wait().unwrap().success(), "InRelease signature verifies");
}

#[test]
fn keep_2_prunes_the_index_now_and_the_pool_after_grace() {
    let repo = Repo::new("retention");
    let debs: Vec<PathBuf> = (1..=4)
        .map(|v| repo.deb("app", &format!("{v}.0"), "r"))
        .collect();
    let by_hash_of = |repo: &Repo| -> Vec<String> {
        let (_, r) = repo.get("dists/stable/Release");
        let r = String::from_utf8_lossy(&r).into_owned();
        let sha = r.split("SHA512:\n").nth(1).unwrap().to_string();
        sha.lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                format!("dists/stable/main/binary-amd64/by-hash/SHA512/{}", w[0])
            })
            .collect()
    };
    let mut old_by_hash = Vec::new();
    for d in &debs {
        repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[d]);
        old_by_hash.extend(by_hash_of(&repo));
    }
    let current = by_hash_of(&repo);
    old_by_hash.retain(|k| !current.contains(k));
    assert_eq!(repo.listed(), ["app=3.0", "app=4.0"]);
    let pool = |v: u32| format!("pool/main/a/app/app_{v}.0_amd64.deb");
    // Within the grace period, everything an older InRelease named is there.
    assert!((1..=4).all(|v| repo.exists(&pool(v))));
    assert!(
        old_by_hash.iter().all(|k| repo.exists(k)),
        "{old_by_hash:?}"
    );
    // Unchanged while grace runs: still nothing written.
    let err = repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[&debs[3]]);
    assert!(err.contains("nothing written"), "{err}");
    std::thread::sleep(Duration::from_secs(5));
    let err = repo.publish_ok(&["--keep", "2", "--grace", "4s"], &[&debs[3]]);
    assert!(err.contains("deleted after the grace period"), "{err}");
    assert!(!repo.exists(&pool(1)) && !repo.exists(&pool(2)));
    assert!(repo.exists(&pool(3)) && repo.exists(&pool(4)));
    assert!(old_by_hash.iter().all(|k| !repo.exists(k)));
    assert!(current.iter().all(|k| repo.exists(k)));
    assert_eq!(repo.listed(), ["app=3.0", "app=4.0"]);
}

#[test]
fn killed_lock_holder_is_taken_over_after_expiry() {
    let repo = Repo::new("takeover").signed();
    // A gpg that hangs: the first publisher holds the lock while "signing".
    let bin = repo.dir.path().join("hang-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = repo.dir.path().join("signing");
    std::fs::write(
        bin.join("gpg"),
        format!("#!/bin/sh\necho $$ > {}\nexec sleep 30\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("gpg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let a = repo.deb("first", "1", "a");
    let mut holder = repo
        .cmd()
        .env("PATH", path)
        .args(["--lock-ttl", "3s"])
        .arg(repo.url())
        .arg(&a)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        debpipe_testkit::wait_until(20, || mark.exists()),
        "first publisher never signed"
    );
    let lock = String::from_utf8_lossy(&repo.get("pushrepo.lock").1).into_owned();
    let who = format!("pid {}", holder.id());
    assert!(lock.contains(&who), "{lock}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    if let Ok(pid) = std::fs::read_to_string(&mark) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    // A publisher with a short --wait gives up, naming the holder.
    let b = repo.deb("second", "1", "b");
    let out = repo.publish(&["--wait", "0"], &[&b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("held by") && stderr(&out).contains(&who),
        "{}",
        stderr(&out)
    );
    // One that waits takes it over once it expires.
    let t = Instant::now();
    let err = repo.publish_ok(&["--wait", "30s"], &[&b]);
    assert!(
        err.contains("waiting for the lock") && err.contains(&who),
        "{err}"
    );
    assert!(err.contains("took over the expired lock"), "{err}");
    eprintln!("took over after {:?}", t.elapsed());
    assert_eq!(repo.listed(), ["second=1"]);
}

/// A .deb of about `kb` KB of incompressible payload (stored, so the upload
/// takes a while).
fn big_deb(dir: &Path, name: &str, kb: usize) -> PathBuf {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ name.len() as u64;
    let noise: String = (0..kb * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + u8::try_from(x % 90).unwrap())
        })
        .collect();
    build_deb(dir, name, "1.0", &noise)
}

/// Publish `debs` in the background, kill the cluster parts `kill` as soon
/// as the first of them is in the pool, and return pushrepo's exit status
/// and stderr.
fn publish_killing(
    repo: &Repo,
    weed: &mut Weed,
    debs: &[PathBuf],
    kill: &[&str],
) -> (bool, String) {
    let first = debs[0].file_name().unwrap().to_string_lossy().into_owned();
    let name = first.split('_').next().unwrap().to_string();
    let publisher = repo
        .cmd()
        .args(["--lock-ttl", "5s", "--wait", "60s"])
        .arg(repo.url())
        .args(debs)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let key = format!("pool/main/{}/{name}/{name}_1.0_amd64.deb", &name[..1]);
    assert!(
        debpipe_testkit::wait_until(60, || repo.exists(&key)),
        "the publish never started uploading"
    );
    for k in kill {
        weed.kill(k);
    }
    let out = publisher.wait_with_output().unwrap();
    (out.status.success(), stderr(&out))
}

/// Wait until a reader sees exactly `old` or `new` (the store may take a
/// moment to serve everything again after a restart); panic on a mix.
fn assert_old_or_new(repo: &Repo, old: &[String], new: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    let ok = debpipe_testkit::wait_until(60, || {
        seen = check(repo.s3_port, &repo.prefix, "stable").unwrap_or_else(|e| vec![e]);
        seen == old || seen == new
    });
    assert!(
        ok,
        "the repository is neither the old nor the new one: {seen:?}"
    );
    seen
}

#[test]
fn volume_servers_killed_mid_publish_leave_a_consistent_repository_and_a_rerun_completes() {
    // Enough data (N packages of 1 MB) that the uploads are still going
    // when the first pool file can be seen.
    const N: usize = 30;
    let mut weed = Weed::cluster();
    let repo = Repo::on(&weed, "fault");
    let base = repo.deb("base", "1.0", "b");
    repo.publish_ok(&[], &[&base]);
    let names =
        |prefix: &str| -> Vec<String> { (0..N).map(|i| format!("{prefix}{i:02}=1.0")).collect() };
    let mut listed = vec!["base=1.0".to_string()];

    // 1. One of three volume servers killed: the store may absorb it
    //    (retries land on the others) or the publish may fail.
    let debs1: Vec<PathBuf> = (0..N)
        .map(|i| big_deb(repo.dir.path(), &format!("one{i:02}"), 1024))
        .collect();
    let (ok, err) = publish_killing(&repo, &mut weed, &debs1, &["volume2"]);
    eprintln!("one volume server killed: success {ok}: {err}");
    weed.restart("volume2");
    let new: Vec<String> = listed.iter().cloned().chain(names("one")).collect();
    listed = assert_old_or_new(&repo, &listed, &new);
    if !ok {
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }

    // 2. All volume servers killed: writes cannot succeed; the publish
    //    fails, says which object and that readers still see the old one.
    let debs2: Vec<PathBuf> = (0..N)
        .map(|i| big_deb(repo.dir.path(), &format!("two{i:02}"), 1024))
        .collect();
    let (ok, err) = publish_killing(&repo, &mut weed, &debs2, &["volume1", "volume2", "volume3"]);
    eprintln!("all volume servers killed: success {ok}: {err}");
    assert!(!ok, "a publish with no volume server cannot succeed: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("pushrepo: error: s3://repo/fault/"),
        "names the object: {err}"
    );
    assert!(
        err.contains("readers still see the previous publication; run pushrepo again"),
        "{err}"
    );
    for v in ["volume1", "volume2", "volume3"] {
        weed.restart(v);
    }
    let seen = assert_old_or_new(&repo, &listed, &listed);
    assert_eq!(seen, listed);

    // 3. Reruns complete both publishes (the dead run's lock expires).
    let t = Instant::now();
    let all: Vec<&Path> = debs1.iter().chain(&debs2).map(PathBuf::as_path).collect();
    let err = repo.publish_ok(&["--lock-ttl", "5s", "--wait", "60s"], &all);
    eprintln!("rerun in {:?}: {err}", t.elapsed());
    let mut want: Vec<String> = std::iter::once("base=1.0".to_string())
        .chain(names("one"))
        .chain(names("two"))
        .collect();
    want.sort();
    assert_eq!(repo.listed(), want);
}

/// apt-get with its own lists, cache and sources, as root without the
/// `_apt` sandbox; `Debug::Acquire::http` shows the URLs it fetches.
fn apt(dir: &Path, args: &[&str]) -> Output {
    let opt = |k: &str, v: &Path| format!("-o{k}={}", v.display());
    for d in ["lists/partial", "cache/archives/partial", "parts", "prefs"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let status = dir.join("status");
    if !status.exists() {
        std::fs::write(&status, "").unwrap();
    }
    Command::new("apt-get")
        .current_dir(dir)
        .args(["-q", "-y"])
        .arg(opt("Dir::Etc::SourceList", &dir.join("sources.list")))
        .arg(opt("Dir::Etc::SourceParts", &dir.join("parts")))
        .arg(opt("Dir::Etc::PreferencesParts", &dir.join("prefs")))
        .arg(opt("Dir::State::Lists", &dir.join("lists")))
        .arg(opt("Dir::Cache", &dir.join("cache")))
        .arg(opt("Dir::State::status", &status))
        .args([
            "-oAPT::Sandbox::User=root",
            "-oAcquire::Languages=none",
            "-oAPT::Architecture=amd64",
            "-oAPT::Architectures::=amd64",
            "-oDebug::Acquire::http=true",
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn apt_reads_the_signed_repository_over_http_by_hash() {
    let repo = Repo::new("apt").signed();
    let a = repo.deb("hello", "1.0", "a");
    let b = repo.deb("world", "1:2.0+b1~rc1", "b");
    repo.publish_ok(&[], &[&a]);
    repo.publish_ok(&[], &[&b]);
    let d = repo.dir.path().join("apt");
    std::fs::create_dir_all(&d).unwrap();
    let g = repo.gpg.as_ref().unwrap();
    let key = Command::new("gpg")
        .arg("--homedir")
        .arg(g.dir.path())
        .args(["--export", GpgHome::UID_EMAIL])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(d.join("key.gpg"), key).unwrap();
    std::fs::write(
        d.join("sources.list"),
        format!(
            "deb [signed-by={}] http://127.0.0.1:{}/{BUCKET}/apt stable main\n",
            d.join("key.gpg").display(),
            repo.s3_port
        ),
    )
    .unwrap();
    let out = apt(&d, &["update"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("W:") && !text.contains("E:"), "{text}");
    assert!(text.contains("/dists/stable/InRelease"), "{text}");
    assert!(
        text.contains("/main/binary-amd64/by-hash/SHA512/"),
        "apt fetched by hash: {text}"
    );
    let out = apt(&d, &["download", "hello", "world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.join("hello_1.0_amd64.deb")).unwrap(),
        std::fs::read(&a).unwrap()
    );
    assert_eq!(
        // apt download names the file with the epoch, %-encoded.
        std::fs::read(d.join("world_1%3a2.0+b1~rc1_amd64.deb")).unwrap(),
        std::fs::read(&b).unwrap()
    );
}

/// Objects of the stand-in store, by request path.
type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

#[test]
fn a_stalled_holder_whose_lock_was_taken_over_cannot_publish() {
    let repo = Repo::new("stalled").signed();
    let base = repo.deb("base", "1", "x");
    repo.publish_ok(&[], &[&base]);
    // A gpg that takes 3 s: the first publisher holds the lock meanwhile.
    let bin = repo.dir.path().join("slow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = repo.dir.path().join("signing");
    let gpg = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v gpg"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        bin.join("gpg"),
        format!(
            "#!/bin/sh\ntouch {}\nsleep 3\nexec {} \"$@\"\n",
            mark.display(),
            gpg.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("gpg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let a = repo.deb("stalled", "1", "a");
    let stalled = repo
        .cmd()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .args(["--lock-ttl", "2s"])
        .arg(repo.url())
        .arg(&a)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        debpipe_testkit::wait_until(20, || mark.exists()),
        "never signed"
    );
    // Stall it (no renewal either) past its lock's expiry; B takes over.
    let pid = stalled.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(2500));
    let b = repo.deb("newer", "1", "b");
    let err = repo.publish_ok(&["--wait", "30s"], &[&b]);
    assert!(err.contains("took over the expired lock"), "{err}");
    let newer = repo.get("dists/stable/InRelease");
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = stalled.wait_with_output().unwrap();
    let err = stderr(&out);
    eprintln!("stalled publisher: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lock lost") || err.contains("changed by another writer"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        repo.get("dists/stable/InRelease"),
        newer,
        "the newer publication stays"
    );
    assert_eq!(repo.listed(), ["base=1", "newer=1"]);
}

/// An S3 look-alike that ignores If-None-Match and If-Match: it accepts
/// every PUT. Objects in memory; no authentication.
fn ignoring_store() -> (u16, Objects) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let objects = Objects::default();
    let store = objects.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || serve_ignoring(&conn, &store));
        }
    });
    (port, objects)
}

/// One keep-alive connection to the stand-in store.
fn serve_ignoring(conn: &std::net::TcpStream, store: &Objects) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let key = path.split('?').next().unwrap().to_string();
        let mut objs = store.lock().unwrap();
        let (code, etag, out) = match method.as_str() {
            "PUT" => {
                let e = sha256(&body);
                objs.insert(key, body);
                (200, e, Vec::new())
            }
            "GET" | "HEAD" => match objs.get(&key) {
                Some(b) if method == "GET" => (200, sha256(b), b.clone()),
                Some(b) => (200, sha256(b), Vec::new()),
                None => (
                    404,
                    String::new(),
                    b"<Error><Code>NoSuchKey</Code></Error>".to_vec(),
                ),
            },
            "DELETE" => {
                objs.remove(&key);
                (204, String::new(), Vec::new())
            }
            // object_store deletes through DeleteObjects.
            "POST" if path.ends_with("?delete") => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let mut done = String::new();
                for (k, _) in text
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|p| p.split_once("</Key>"))
                {
                    objs.remove(&format!("{key}/{k}"));
                    done += "<Deleted><Key>";
                    done += k;
                    done += "</Key></Deleted>";
                }
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>{done}</DeleteResult>"
                );
                (200, String::new(), xml.into_bytes())
            }
            _ => (400, String::new(), Vec::new()),
        };
        drop(objs);
        let reason = match code {
            200 => "OK",
            204 => "No Content",
            404 => "Not Found",
            _ => "Bad Request",
        };
        let head = format!(
            "HTTP/1.1 {code} {reason}\r\nETag: \"{etag}\"\r\nLast-Modified: Mon, 30 Nov 2026 00:00:00 GMT\r\nContent-Length: {}\r\n\r\n",
            out.len()
        );
        let _ = w.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = w.write_all(&out);
        }
    }
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused() {
    let (port, objects) = ignoring_store();
    let repo = Repo {
        s3_port: port,
        prefix: "ignoring".into(),
        dir: tempfile::tempdir().unwrap(),
        gpg: None,
    };
    let a = repo.deb("hello", "1.0", "a");
    let out = repo.publish(&[], &[&a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ignores conditional writes"), "{err}");
    assert!(
        err.contains("refusing to publish without a working lock"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let keys: Vec<String> = objects.lock().unwrap().keys().cloned().collect();
    assert!(
        keys.is_empty(),
        "nothing published, the probe removed: {keys:?}"
    );
}
