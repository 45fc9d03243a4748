//! gen-nginx as users run it, and its output as real nginx reads and serves
//! it. One test binary; where new tests go:
//! - here: the command-line contract, and the helpers the topics share
//!   (a site: the app under real uWSGI behind real nginx in its own network
//!   namespace; curl in that namespace);
//! - `serve.rs`: `nginx -t`, and the app and its static files served
//!   through a snippet and a server block;
//! - `goldens.rs`: the outputs of the specs in `tests/specs/`, and `nginx -t`
//!   on every golden file;
//! - `client.rs`: the app's view of the client (forged `X-Forwarded-*`,
//!   `trusted_proxies`);
//! - `static_files.rs`: caching of hashed names and precompressed files;
//! - `tls.rs`: HTTPS with a test CA, the redirect from HTTP;
//! - `websocket.rs`: an ASGI app under gunicorn's uvicorn worker: HTTP and a
//!   websocket echo through the generated locations, and a reload's close.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

mod client;
mod goldens;
mod serve;
mod static_files;
mod tls;
mod websocket;

use std::path::{Path, PathBuf};

use debpipe_testkit::{
    Generator, KillOnDrop, NetNs, NginxWrapper, ScratchApp, start_uwsgi_as_www_data, wait_until,
};

fn tool() -> Generator {
    Generator {
        tool: "gen-nginx",
        bin: assert_cmd::cargo::cargo_bin!("gen-nginx").to_path_buf(),
        args: vec![],
        golden_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        ext: "conf",
        example_install_path: "/etc/nginx/sites-available/wechat-api.conf",
        mode: 0o644,
        specs: "specs",
    }
}

debpipe_testkit::generator_contract_tests!(tool());

fn generate(spec: &Path, out: &Path) {
    let st = tool().cmd().arg("-o").arg(out).arg(spec).status().unwrap();
    assert!(st.success());
}

/// How the site's nginx holds the generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The spec has `server`: the file is included at http level.
    Server,
    /// No `server`: the snippet is included in a server block of the
    /// admin's on port 80.
    Snippet,
}

/// The scratch app under real uWSGI (as www-data, with gen-uwsgi's ini)
/// behind real nginx running the generated file in a network namespace of
/// its own, where it may listen on 80 and 443. Fields drop in order: nginx,
/// uWSGI, the namespace, then the files.
struct Site {
    _nginx: KillOnDrop,
    _uwsgi: KillOnDrop,
    ns: NetNs,
    nginx: NginxWrapper,
    _app: ScratchApp,
    package: String,
}

impl Site {
    /// Start the site for `package` with the spec fields `extra(app)` (a
    /// JSON object's inner fields; it may make files in the app's
    /// directory), and wait until nginx answers for the app.
    fn start(package: &str, mode: Mode, extra: impl Fn(&ScratchApp) -> String) -> Self {
        let app = ScratchApp::new();
        let spec = app.dir.path().join("app.json");
        // uWSGI runs as www-data here (these tests are about what nginx
        // passes on, not accounts): the socket is then www-data's own.
        let fields = extra(&app);
        let sep = if fields.trim().is_empty() { "" } else { "," };
        let fields = format!(r#""user":"www-data","group":"www-data"{sep}{fields}"#);
        std::fs::write(&spec, app.spec(package, &fields)).unwrap();
        let parsed =
            debpipe_core::AppSpec::from_json(&spec, &std::fs::read(&spec).unwrap()).unwrap();
        assert_eq!(parsed.server.is_some(), mode == Mode::Server, "{mode:?}");
        let ini = app.dir.path().join("app.ini");
        std::fs::write(&ini, gen_uwsgi::render(&parsed)).unwrap();
        let uwsgi = start_uwsgi_as_www_data(&ini, package);
        let conf = app.dir.path().join("nginx.conf");
        generate(&spec, &conf);
        let http = match mode {
            Mode::Server => format!("include {};", conf.display()),
            Mode::Snippet => format!(
                "server {{ listen 80; server_name app.test; include {}; }}",
                conf.display()
            ),
        };
        let nginx = NginxWrapper::new(&http);
        nginx.test().unwrap();
        let ns = NetNs::new();
        let running = nginx.start_in(&ns);
        let site = Self {
            _nginx: running,
            _uwsgi: uwsgi,
            ns,
            nginx,
            _app: app,
            package: package.to_string(),
        };
        site.wait_for_app();
        site
    }

    /// Wait for a 200 from the app, over HTTPS when nginx redirects.
    fn wait_for_app(&self) {
        let ok = wait_until(20, || {
            let r = self.curl(&["http://app.test/api/scratch/ping"]);
            r.status == 200 || r.status == 301
        });
        let errors =
            std::fs::read_to_string(self.nginx.dir.path().join("error.log")).unwrap_or_default();
        assert!(ok, "no answer through nginx:\n{errors}");
    }

    /// Run curl in the namespace with `args` (app.test resolves to
    /// 127.0.0.1 on ports 80 and 443).
    fn curl(&self, args: &[&str]) -> Reply {
        let out = tempfile::tempdir().unwrap();
        let (head, body) = (out.path().join("head"), out.path().join("body"));
        let st = self
            .ns
            .command("curl")
            .args(["-sS", "--max-time", "20"])
            .args(["--resolve", "app.test:80:127.0.0.1"])
            .args(["--resolve", "app.test:443:127.0.0.1"])
            .arg("-D")
            .arg(&head)
            .arg("-o")
            .arg(&body)
            .args(args)
            .output()
            .unwrap();
        // With -L the file holds every answer's head: keep the last.
        let heads = std::fs::read_to_string(&head).unwrap_or_default();
        let head = heads
            .split("\r\n\r\n")
            .filter(|h| h.starts_with("HTTP/"))
            .last()
            .unwrap_or_default()
            .to_string();
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Reply {
            status,
            head,
            body: std::fs::read(&body).unwrap_or_default(),
            curl: String::from_utf8_lossy(&st.stderr).into_owned(),
        }
    }

    /// The app's WSGI environ for a request made with curl `args` (the URL
    /// among them), asserting a 200.
    fn environ(&self, args: &[&str]) -> serde_json::Map<String, serde_json::Value> {
        let r = self.curl(args);
        assert_eq!(r.status, 200, "{args:?}: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["environ"].as_object().unwrap().clone()
    }

    /// The app's static directory (made empty by [`Site::static_spec`]).
    fn static_dir(app: &ScratchApp) -> PathBuf {
        app.dir.path().join("static")
    }

    /// Spec fields for a static directory at `/static/`, made here.
    fn static_spec(app: &ScratchApp) -> String {
        let dir = Self::static_dir(app);
        std::fs::create_dir_all(&dir).unwrap();
        format!(r#""static":{{"url":"/static/","dir":"{}"}}"#, dir.display())
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new("/run").join(&self.package));
    }
}

/// One curl answer.
#[derive(Debug)]
struct Reply {
    /// HTTP status, 0 when there was no answer.
    status: u16,
    /// The status line and headers (of the last answer, with `-L`).
    head: String,
    body: Vec<u8>,
    /// curl's complaint, if any (shown by `{:?}`).
    #[allow(dead_code)]
    curl: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive), if present once or more
    /// (the first).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}
