//! Real services for tests: processes killed on drop, a scratch WSGI app
//! and venv, uWSGI and HTTP clients, a private nginx, `www-data`.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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
/// `/slow` sleeps 2 s before answering; `/write?to=PATH` appends to PATH
/// and says whether it could (`written`, and the OS's `error`); `/environ`
/// adds the WSGI environ's string values (`environ`); every answer is JSON
/// naming the path, the settings module, the pid, and the variables of the
/// app's environment whose names start with `DPT_` (`env`).
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
    /// Create it (readable by www-data) in the temporary directory.
    pub fn new() -> Self {
        Self::new_in(&std::env::temp_dir())
    }

    /// Create it in `parent` (a test of a private /tmp needs the app
    /// elsewhere, as a package would install it).
    pub fn new_in(parent: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("debpipe-app")
            .tempdir_in(parent)
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let app_dir = dir.path().join("scratch");
        std::fs::create_dir_all(app_dir.join("pro_setting")).unwrap();
        std::fs::write(app_dir.join("pro_setting/__init__.py"), "").unwrap();
        std::fs::write(
            app_dir.join("pro_setting/wsgi.py"),
            "import json, os, time, urllib.parse\n\
             def application(env, start_response):\n\
             \x20   path = env.get('PATH_INFO', '')\n\
             \x20   if path.endswith('/slow'):\n\
             \x20       time.sleep(2)\n\
             \x20   body = {'path': path, 'settings': os.environ.get('DJANGO_SETTINGS_MODULE'), 'pid': os.getpid(),\n\
             \x20           'env': {k: v for k, v in os.environ.items() if k.startswith('DPT_')}}\n\
             \x20   if path.endswith('/environ'):\n\
             \x20       body['environ'] = {k: v for k, v in env.items() if isinstance(v, str)}\n\
             \x20   if path.endswith('/write'):\n\
             \x20       to = urllib.parse.parse_qs(env.get('QUERY_STRING', ''))['to'][0]\n\
             \x20       try:\n\
             \x20           with open(to, 'a') as f:\n\
             \x20               f.write('x')\n\
             \x20           body['written'] = True\n\
             \x20       except OSError as e:\n\
             \x20           body['written'] = False\n\
             \x20           body['error'] = e.strerror\n\
             \x20   start_response('200 OK', [('Content-Type', 'application/json')])\n\
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

    /// gunicorn in this app's venv, with the other PyPI projects `extra`
    /// (import names, e.g. `uvicorn`): copied from the tools venv that
    /// `scripts/install-deps --tools` fills (pure Python, the same
    /// interpreter), since the app's user cannot read the cache in root's
    /// home. Returns `<venv>/bin/gunicorn`.
    pub fn with_gunicorn(&self, extra: &[&str]) -> PathBuf {
        let tools = crate::cache_dir().join("tools-venv/lib/python3.11/site-packages");
        assert!(
            tools.join("gunicorn").is_dir(),
            "{}: no gunicorn; run scripts/install-deps --tools",
            tools.display()
        );
        let site = self.venv.join("lib/python3.11/site-packages");
        for p in std::iter::once(&"gunicorn").chain(extra) {
            let st = Command::new("cp")
                .arg("-r")
                .arg(tools.join(p))
                .arg(&site)
                .status()
                .unwrap();
            assert!(st.success(), "copying {p} from {}", tools.display());
        }
        let bin = self.venv.join("bin/gunicorn");
        std::fs::write(
            &bin,
            format!(
                "#!{}/bin/python3\nfrom gunicorn.app.wsgiapp import run\nrun()\n",
                self.venv.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
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
    let (path_info, query) = path.split_once('?').unwrap_or((path, ""));
    let vars = [
        ("REQUEST_METHOD", "GET"),
        ("REQUEST_URI", path),
        ("PATH_INFO", path_info),
        ("QUERY_STRING", query),
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
        Self::spawn(self.command())
    }

    /// [`NginxWrapper::start`] inside the network namespace `ns`.
    pub fn start_in(&self, ns: &crate::NetNs) -> KillOnDrop {
        Self::spawn(ns.wrap(&self.command()))
    }

    fn spawn(mut c: Command) -> KillOnDrop {
        KillOnDrop(
            c.stdout(std::process::Stdio::null())
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
