//! Test helpers for the tools' integration tests (feature `test-support`).

use std::path::Path;

/// Compare `actual` with the golden file at `path`, byte for byte. With
/// `BLESS=1` in the environment, (re)write the golden file instead.
///
/// # Panics
/// When they differ, with both texts in the message.
pub fn assert_golden(path: impl AsRef<Path>, actual: &[u8]) {
    let path = path.as_ref();
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "golden file {}: {e} (run with BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from golden file {} (BLESS=1 rewrites it)\n--- expected\n{}\n--- actual\n{}",
            path.display(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual)
        );
    }
}

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The workspace's shared fixtures: `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The bad-spec corpus: each file `tests/fixtures/bad-specs/<field>__<case>.json`
/// with the field its error must name (`None` for `top__*`: a document that
/// is not a spec at all, whose error names the file).
pub fn bad_specs() -> Vec<(PathBuf, Option<String>)> {
    let dir = fixtures().join("bad-specs");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("read bad-specs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let field = stem.split_once("__").expect("name is FIELD__CASE.json").0;
            let field = (field != "top").then(|| field.to_string());
            (p, field)
        })
        .collect();
    out.sort();
    out
}

/// Run `cmd` (a generator, with its own flags) on every bad spec, with
/// `-o <tmp>/out`: each must exit 1, print nothing on stdout, one line on
/// stderr naming the field (or the file), and leave the directory empty.
///
/// # Panics
/// On the first spec that is not rejected that way.
pub fn assert_bad_specs_rejected(tool: &str, cmd: impl Fn() -> Command) {
    let cases = bad_specs();
    assert!(
        cases.len() >= 25,
        "bad-spec corpus too small: {}",
        cases.len()
    );
    for (spec, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out_file = dir.path().join("out");
        let out = cmd().arg("-o").arg(&out_file).arg(&spec).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = spec.display();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: stdout not empty");
        assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("{tool}: error: ")),
            "{name}: {stderr}"
        );
        assert!(
            stderr.contains(&*name.to_string()),
            "{name}: file not named: {stderr}"
        );
        if let Some(f) = field {
            assert!(
                stderr.contains(&format!("`{f}`")),
                "{name}: field `{f}` not named: {stderr}"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{name}: left a file behind"
        );
    }
}

/// A child process killed (and reaped) when dropped, so tests clean up even
/// when they fail.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tiny WSGI app in the spec's layout (`pro_setting/wsgi.py`) with a
/// virtualenv made by the system python, for running real uWSGI.
/// `/slow` sleeps 2 s before answering; every answer is JSON naming the
/// path, the settings module and the pid.
#[derive(Debug)]
pub struct ScratchApp {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The app dir (`app_dir`).
    pub app_dir: PathBuf,
    /// The venv (`venv`).
    pub venv: PathBuf,
}

impl ScratchApp {
    /// Create it (readable by www-data).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("debpipe-app")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let app_dir = dir.path().join("app");
        std::fs::create_dir_all(app_dir.join("pro_setting")).unwrap();
        std::fs::write(app_dir.join("pro_setting/__init__.py"), "").unwrap();
        std::fs::write(
            app_dir.join("pro_setting/wsgi.py"),
            "import json, os, time\n\
             def application(env, start_response):\n\
             \x20   path = env.get('PATH_INFO', '')\n\
             \x20   if path.endswith('/slow'):\n\
             \x20       time.sleep(2)\n\
             \x20   start_response('200 OK', [('Content-Type', 'application/json')])\n\
             \x20   body = {'path': path, 'settings': os.environ.get('DJANGO_SETTINGS_MODULE'), 'pid': os.getpid()}\n\
             \x20   return [json.dumps(body).encode()]\n",
        )
        .unwrap();
        let venv = dir.path().join("venv");
        let st = Command::new("/usr/bin/python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(st.success(), "python3 -m venv failed");
        Self { dir, app_dir, venv }
    }

    /// A spec (JSON text) for this app using Debian's uwsgi with its python3
    /// plugin, merged with `extra` (a JSON object's inner fields, e.g.
    /// `"harakiri": 5`), for package `package`.
    pub fn spec(&self, package: &str, extra: &str) -> String {
        let sep = if extra.trim().is_empty() { "" } else { "," };
        format!(
            r#"{{"module":"scratch","version":"1.0","package":"{package}","app_dir":"{}","venv":"{}","uwsgi_bin":"/usr/bin/uwsgi","uwsgi_plugins":["python3"]{sep}{extra}}}"#,
            self.app_dir.display(),
            self.venv.display()
        )
    }
}

impl Default for ScratchApp {
    fn default() -> Self {
        Self::new()
    }
}

/// Wait until `check` is true, up to `secs` seconds.
pub fn wait_until(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// Send one request over the uwsgi protocol to the unix socket `sock` and
/// return the raw HTTP response.
pub fn uwsgi_request(sock: &Path, path: &str) -> std::io::Result<String> {
    let vars = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", path),
        ("PATH_INFO", path),
        ("QUERY_STRING", ""),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("HTTP_HOST", "localhost"),
    ];
    let mut body = Vec::new();
    for (k, v) in vars {
        for s in [k, v] {
            body.extend_from_slice(&u16::try_from(s.len()).unwrap().to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
    }
    let mut pkt = vec![0u8];
    pkt.extend_from_slice(&u16::try_from(body.len()).unwrap().to_le_bytes());
    pkt.push(0);
    pkt.extend_from_slice(&body);
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(&pkt)?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp)
}

/// `GET path` with `Host: host` on 127.0.0.1:`port`; the raw response.
pub fn http_get(port: u16, host: &str, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp)
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The environment variables that change tools' output, to clear in tests.
pub const SCRUB_ENV: &[&str] = &["SOURCE_DATE_EPOCH", "TZ", "LC_ALL"];
