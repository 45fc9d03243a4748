//! Test helpers for the tools' integration tests (feature `test-support`).
//!
//! Test code: a failed step panics with what went wrong, so `unwrap` is fine.
#![allow(clippy::unwrap_used)]

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
    assert!(
        expected == actual,
        "output differs from golden file {} (BLESS=1 rewrites it)\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
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

/// Run `cmd(out)` (a tool told to write `out`, a path in an empty temporary
/// directory) on every bad spec: each must exit 1, print nothing on stdout,
/// one line on stderr naming the field (or the file), and leave the
/// directory empty.
///
/// # Panics
/// On the first spec that is not rejected that way.
pub fn assert_bad_specs_rejected(tool: &str, cmd: impl Fn(&Path) -> Command) {
    let cases = bad_specs();
    assert!(
        cases.len() >= 25,
        "bad-spec corpus too small: {}",
        cases.len()
    );
    for (spec, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out_file = dir.path().join("out");
        let out = cmd(&out_file).arg(&spec).output().unwrap();
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
    /// SIGTERM first, so that a master (nginx, uWSGI) takes its workers
    /// down with it; SIGKILL after 10 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let gone = wait_until(10, || matches!(self.0.try_wait(), Ok(Some(_))));
        if !gone {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
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
        let app_dir = dir.path().join("scratch");
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
        // The entry point the ini names, as stage-django writes it for an app
        // without Django (its eager URLconf import is tested in stage-django).
        std::fs::write(
            app_dir.join("debpipe_wsgi.py"),
            "from pro_setting.wsgi import application\n",
        )
        .unwrap();
        let venv = dir.path().join("venv-scratch");
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
pub const SCRUB_ENV: &[&str] = &[
    "SOURCE_DATE_EPOCH",
    "TZ",
    "LC_ALL",
    "DEBFULLNAME",
    "DEBEMAIL",
    "EMAIL",
    "NAME",
];

/// The packager a generator's contract runs as (`DEBFULLNAME`, `DEBEMAIL`):
/// the maintainer of a spec that names none.
pub const PACKAGER_ENV: [(&str, &str); 2] = [
    ("DEBFULLNAME", "Pat Packager"),
    ("DEBEMAIL", "pat@example.org"),
];

/// The command-line contract every generator (gen-uwsgi, gen-nginx,
/// gen-init) keeps, checked against its real binary. Each method is one
/// test's worth; the tools call them from their own `tests/cli.rs`.
#[derive(Debug, Clone)]
pub struct Generator {
    /// Tool name, as in its messages.
    pub tool: &'static str,
    /// The built binary.
    pub bin: PathBuf,
    /// Flags given before the spec (e.g. `--kind sysv`).
    pub args: Vec<String>,
    /// `tests/golden` of the tool.
    pub golden_dir: PathBuf,
    /// Golden file name suffix, e.g. `ini`, `service`.
    pub ext: &'static str,
    /// Install path of the example spec's output (for `--root`).
    pub example_install_path: &'static str,
    /// Mode of the written file.
    pub mode: u32,
}

impl Generator {
    /// A command with the tool's flags and a scrubbed environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        for v in SCRUB_ENV {
            c.env_remove(v);
        }
        c.envs(PACKAGER_ENV);
        c.args(&self.args);
        c
    }

    fn golden(&self, case: &str) -> PathBuf {
        self.golden_dir.join(format!("{case}.{}", self.ext))
    }

    fn ok_stdout(&self, c: &mut Command) -> Vec<u8> {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{} failed: {}",
            self.tool,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The example and minimal specs give the golden outputs.
    pub fn golden_cases(&self) {
        for case in ["example", "minimal"] {
            let spec = fixtures().join(format!("specs/{case}.json"));
            let out = self.ok_stdout(self.cmd().arg(spec));
            assert_golden(self.golden(case), &out);
        }
    }

    /// `--help` is the golden `help.txt` (only once per tool: no extra args).
    pub fn help_golden(&self) {
        let out = self.ok_stdout(Command::new(&self.bin).arg("--help"));
        assert_golden(self.golden_dir.join("help.txt"), &out);
    }

    /// `-` and no argument read the spec from stdin.
    pub fn dash_reads_stdin(&self) {
        let spec = fixtures().join("specs/example.json");
        let want = std::fs::read(self.golden("example")).unwrap();
        for dash in [true, false] {
            let mut c = self.cmd();
            if dash {
                c.arg("-");
            }
            c.stdin(std::fs::File::open(&spec).unwrap());
            assert_eq!(self.ok_stdout(&mut c), want, "dash={dash}");
        }
    }

    /// An unknown flag, and `-o` with `--root`, exit 2.
    pub fn usage_errors_exit_2(&self) {
        let out = self.cmd().arg("--frobnicate").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let out = self
            .cmd()
            .args(["-o", "x", "--root", "y", "spec.json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    }

    /// The bad-spec corpus with `-o`: see [`assert_bad_specs_rejected`].
    pub fn bad_specs_rejected(&self) {
        assert_bad_specs_rejected(self.tool, |out| {
            let mut c = self.cmd();
            c.arg("-o").arg(out);
            c
        });
    }

    /// A missing spec file: exit 1, the file named, nothing on stdout.
    pub fn missing_file_named(&self) {
        let out = self.cmd().arg("/nonexistent/app.json").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}: error: /nonexistent/app.json: ", self.tool);
        assert!(err.starts_with(&want), "{err}");
    }

    /// `-o FILE` writes the golden bytes with the tool's mode, nothing else.
    pub fn dash_o_writes_atomically(&self) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let stdout = self.ok_stdout(
            self.cmd()
                .arg("-o")
                .arg(&out)
                .arg(fixtures().join("specs/example.json")),
        );
        assert!(stdout.is_empty());
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, self.mode, "mode of -o file");
        assert_golden(self.golden("example"), &std::fs::read(&out).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// `--root DIR` writes at the install path under DIR and prints it.
    pub fn root_writes_install_path(&self) {
        let dir = tempfile::tempdir().unwrap();
        let stdout = self.ok_stdout(
            self.cmd()
                .arg("--root")
                .arg(dir.path())
                .arg(fixtures().join("specs/example.json")),
        );
        let want = dir
            .path()
            .join(self.example_install_path.trim_start_matches('/'));
        assert_eq!(
            String::from_utf8(stdout).unwrap(),
            format!("{}\n", want.display())
        );
        assert_golden(self.golden("example"), &std::fs::read(&want).unwrap());
        let mode = std::fs::metadata(&want).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, self.mode);
    }
}

/// Run `prog args...`, panicking with its output unless it succeeds.
pub fn run_ok(prog: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(prog).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{prog} {args:?} failed: {text}");
    text
}

/// A private nginx configuration (its own prefix, pid, logs and temp paths,
/// workers as `www-data` like Debian's), wrapping `http_body` in `http {}`.
/// `uwsgi_params` is copied beside it so the generated
/// `include uwsgi_params;` resolves as in /etc/nginx.
#[derive(Debug)]
pub struct NginxWrapper {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The main configuration file.
    pub conf: PathBuf,
}

impl NginxWrapper {
    /// Write the wrapper around `http_body`.
    pub fn new(http_body: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("debpipe-nginx")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        std::fs::copy("/etc/nginx/uwsgi_params", dir.path().join("uwsgi_params")).unwrap();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "user www-data;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n\
                 access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
                 {http_body}\n}}\n"
            ),
        )
        .unwrap();
        Self { dir, conf }
    }

    fn command(&self) -> Command {
        let mut c = Command::new("nginx");
        c.arg("-p")
            .arg(self.dir.path())
            .arg("-e")
            .arg(self.dir.path().join("error.log"))
            .arg("-c")
            .arg(&self.conf);
        c
    }

    /// `nginx -t`: Ok, or nginx's complaint.
    pub fn test(&self) -> std::result::Result<(), String> {
        let out = self.command().args(["-t", "-q"]).output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Start nginx in the foreground; stopped when the guard drops.
    pub fn start(&self) -> KillOnDrop {
        KillOnDrop(
            self.command()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

/// uid and gid of `www-data`, the user nginx runs as.
pub fn www_data() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        run_ok("id", &[flag.as_ref(), "www-data".as_ref()])
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

/// Start real uWSGI on `ini` as www-data (as the service manager would run
/// it), with `/run/<package>` made for its socket; killed when dropped.
pub fn start_uwsgi_as_www_data(ini: &Path, package: &str) -> KillOnDrop {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = www_data();
    let run = Path::new("/run").join(package);
    std::fs::create_dir_all(&run).unwrap();
    std::os::unix::fs::chown(&run, Some(uid), Some(gid)).unwrap();
    KillOnDrop(
        Command::new("uwsgi")
            .arg("--ini")
            .arg(ini)
            .uid(uid)
            .gid(gid)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The [`Generator`] contract as named `#[test]` functions, for a tool's
/// `tests/cli.rs`: `generator_contract_tests!(tool());`
#[macro_export]
macro_rules! generator_contract_tests {
    ($tool:expr) => {
        #[test]
        fn example_and_minimal_specs_match_golden() {
            $tool.golden_cases();
        }
        #[test]
        fn help_matches_golden() {
            $tool.help_golden();
        }
        #[test]
        fn dash_reads_stdin() {
            $tool.dash_reads_stdin();
        }
        #[test]
        fn unknown_flag_and_conflicting_outputs_are_usage_error_2() {
            $tool.usage_errors_exit_2();
        }
        #[test]
        fn bad_specs_exit_1_name_field_and_write_nothing() {
            $tool.bad_specs_rejected();
        }
        #[test]
        fn missing_spec_file_is_named() {
            $tool.missing_file_named();
        }
        #[test]
        fn dash_o_writes_atomically_with_the_tools_mode() {
            $tool.dash_o_writes_atomically();
        }
        #[test]
        fn root_writes_at_install_path_and_prints_it() {
            $tool.root_writes_install_path();
        }
    };
}

/// A validated spec from JSON text, for unit tests of renderers.
pub fn spec(json: &str) -> crate::AppSpec {
    crate::AppSpec::from_json(Path::new("t.json"), json.as_bytes()).unwrap()
}
