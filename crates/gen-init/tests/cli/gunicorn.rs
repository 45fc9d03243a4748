//! gunicorn run as the unit runs it, behind nginx with the generated server
//! block: the socket held by `systemd-socket-activate` (as the socket unit
//! holds it), a SIGHUP reload (the unit's `ExecReload`, what postinst asks
//! for on an upgrade) that fails no request and leaves only workers that
//! serve the new code, and the unit's stop signal letting a request finish.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use debpipe_testkit::{KillOnDrop, ScratchApp, wait_until};

use super::serve::{assert_none_failed, finish, load};
use super::{directive, own_socket_as_the_unit_does, write};

/// The scratch app with gunicorn in its venv (copied from the tools venv
/// `scripts/install-deps` fills: pure Python, the same interpreter), served
/// with gen-gunicorn's config through nginx.
struct Site {
    app: ScratchApp,
    spec: debpipe_core::AppSpec,
    conf: PathBuf,
    log: PathBuf,
    run: PathBuf,
    port: u16,
    _nginx: KillOnDrop,
    _nginx_dir: debpipe_testkit::NginxWrapper,
}

impl Site {
    fn new(pkg: &str) -> Self {
        let app = ScratchApp::new();
        app.with_gunicorn(&[]);
        let port = debpipe_testkit::free_port();
        let json = format!(
            r#"{{"module":"scratch","version":"1.0","package":"{pkg}","app_dir":"{}","venv":"{}","app_server":"gunicorn","processes":2,"harakiri":10,"server":{{"listen":"127.0.0.1:{port}","server_name":["_"]}}}}"#,
            app.app_dir.display(),
            app.venv.display()
        );
        let spec_path = write(&app.dir.path().join("app.json"), &json);
        let spec = debpipe_core::AppSpec::from_json(&spec_path, json.as_bytes()).unwrap();
        let conf = write(
            &app.dir.path().join("gunicorn.conf.py"),
            &gen_gunicorn::render(&spec),
        );
        debpipe_testkit::ensure_system_user(&spec.user);
        let run = super::unit_runtime_dir(&spec);
        let nginx_dir = debpipe_testkit::NginxWrapper::new(&gen_nginx::render(&spec));
        let nginx = nginx_dir.start();
        Site {
            log: app.dir.path().join("gunicorn.log"),
            app,
            spec,
            conf,
            run,
            port,
            _nginx: nginx,
            _nginx_dir: nginx_dir,
        }
    }

    /// The unit's `ExecStart` as the unit's user, under
    /// `systemd-socket-activate` holding the socket (`held`), or alone,
    /// binding its own.
    fn start(&self, held: bool) -> KillOnDrop {
        let unit = gen_init::render_systemd(&self.spec);
        let exec = directive(&unit, "ExecStart");
        let sock = PathBuf::from(self.spec.socket());
        let mut c = if held {
            let mut c = Command::new("systemd-socket-activate");
            c.arg("-l").arg(&sock).arg("setpriv");
            c
        } else {
            Command::new("setpriv")
        };
        let log = || {
            std::fs::File::options()
                .append(true)
                .create(true)
                .open(&self.log)
                .unwrap()
        };
        c.arg(format!("--reuid={}", directive(&unit, "User")))
            .arg(format!("--regid={}", directive(&unit, "Group")))
            .arg("--init-groups")
            .args(exec.split(' ').map(|w| {
                w.replace(
                    &self.spec.gunicorn_conf_path(),
                    &self.conf.display().to_string(),
                )
            }))
            .current_dir(&self.app.app_dir)
            .stdout(log())
            .stderr(log());
        let child = KillOnDrop(c.spawn().unwrap());
        if held {
            own_socket_as_the_unit_does(&sock, &gen_init::render_socket(&self.spec));
        }
        child
    }

    /// One GET through nginx: the worker's pid on a 200, else what went wrong.
    fn get(&self) -> impl Fn() -> Result<(), String> + Send + Copy + 'static {
        let port = self.port;
        move || match debpipe_testkit::http_get(port, "localhost", "/api/scratch/ping") {
            Ok(r) if r.starts_with("HTTP/1.1 200") => Ok(()),
            Ok(r) => Err(r.lines().next().unwrap_or("").to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The workers' ready marks (their pids), sorted.
    fn ready(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = std::fs::read_dir(self.spec.ready_dir().unwrap())
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort_unstable();
        pids
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run);
    }
}

/// The scratch app's entry point with a header saying it is the new code.
const NEW_CODE: &str = "from pro_setting.wsgi import application as _app\n\n\n\
def application(env, start_response):\n    \
    return _app(env, lambda s, h, *a: start_response(s, h + [('X-Version', 'v2')], *a))\n";

/// One GET through nginx, the response as it came.
fn version(site: &Site) -> String {
    debpipe_testkit::http_get(site.port, "localhost", "/api/scratch/ping").unwrap()
}

/// Whether `user` can connect to the unix socket `sock`.
fn reaches(user: &str, sock: &std::path::Path) -> bool {
    Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
        ])
        .arg("/usr/bin/python3")
        .args([
            "-c",
            "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
        ])
        .arg(sock)
        .status()
        .unwrap()
        .success()
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -s {sig} {pid}");
}

/// Under systemd's socket, through nginx: SIGHUP (the unit's `ExecReload`)
/// under load fails no request, and afterwards every ready worker is a new
/// one; the unit's `KillSignal` lets a slow request finish and gunicorn
/// exits. Negative control: the same load across a stop and a fresh start
/// with no one holding the socket does fail requests.
#[test]
fn gunicorn_takes_systemds_socket_and_a_sighup_reload_fails_no_request() {
    let site = Site::new("dpt-gen-init-gunicorn");
    let get = site.get();
    let mut master = site.start(true);
    let pid = master.0.id();
    assert!(
        wait_until(30, || get().is_ok() && site.ready().len() == 2),
        "no answer through nginx and the held socket, or not 2 ready workers: {}",
        site.log_text()
    );
    let before = site.ready();

    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(500));
    let unit = gen_init::render_systemd(&site.spec);
    assert_eq!(directive(&unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
    // The upgrade's new code, in place (as dpkg puts it): it says so.
    write(&site.app.app_dir.join("debpipe_wsgi.py"), NEW_CODE);
    assert!(
        !version(&site).contains("v2"),
        "the old workers run the new code"
    );
    signal(pid, "HUP");
    assert!(
        wait_until(30, || {
            let now = site.ready();
            now.len() == 2 && now.iter().all(|p| !before.contains(p))
        }),
        "the workers were not replaced: {:?} then {:?}: {}",
        before,
        site.ready(),
        site.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_none_failed(
        "SIGHUP under systemd's socket, through nginx",
        finish(&stop, threads),
    );
    for _ in 0..10 {
        assert!(
            version(&site).contains("X-Version: v2"),
            "the old code still answers"
        );
    }

    // The stop: a slow request in flight finishes, then gunicorn exits.
    let slow = std::thread::spawn({
        let port = site.port;
        move || debpipe_testkit::http_get(port, "localhost", "/api/scratch/slow")
    });
    std::thread::sleep(Duration::from_millis(500));
    signal(
        pid,
        directive(&unit, "KillSignal").trim_start_matches("SIG"),
    );
    let resp = slow.join().unwrap().unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "in-flight request cut: {resp:?}"
    );
    assert!(
        wait_until(20, || matches!(master.0.try_wait(), Ok(Some(_)))),
        "gunicorn did not exit on its stop signal: {}",
        site.log_text()
    );

    // Negative control: a start, then a stop and a fresh start, with no
    // one holding the socket, under the same load.
    let first = site.start(false);
    assert!(wait_until(30, || get().is_ok()), "{}", site.log_text());
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(300));
    signal(first.0.id(), "TERM");
    drop(first);
    let fresh = site.start(false);
    assert!(wait_until(30, || get().is_ok()));
    std::thread::sleep(Duration::from_millis(300));
    let (sent, failed, _) = finish(&stop, threads);
    eprintln!("stop and fresh start: {sent} requests, {failed} failed");
    assert!(
        failed > 0,
        "a stop and start failed no request: the load cannot see downtime"
    );
    drop(fresh);
}

/// The SysV script with gunicorn, as root runs it: start (gunicorn binds
/// the socket itself, 0666 in the 2710 user:www-data runtime directory, and
/// `start` returns once a worker has loaded the app), status, a second start
/// that keeps the master, reload (SIGHUP: the same master, new workers), a
/// stop that lets a slow request finish, and a broken app whose start fails
/// at once, leaving nothing running.
#[test]
fn sysv_script_starts_reloads_and_stops_gunicorn() {
    let pkg = "dpt-gen-init-gsysv";
    let app = ScratchApp::new();
    app.with_gunicorn(&[]);
    let json = format!(
        r#"{{"module":"scratch","version":"1.0","package":"{pkg}","app_dir":"{}","venv":"{}","app_server":"gunicorn","processes":2,"harakiri":10,"log_dir":"{}"}}"#,
        app.app_dir.display(),
        app.venv.display(),
        app.dir.path().join("log").display()
    );
    let spec_path = write(&app.dir.path().join("app.json"), &json);
    let spec = debpipe_core::AppSpec::from_json(&spec_path, json.as_bytes()).unwrap();
    debpipe_testkit::ensure_system_user(&spec.user);
    debpipe_testkit::write_service_env(&spec);
    // The config where the package puts it (gen-gunicorn's install path).
    let conf = PathBuf::from(spec.gunicorn_conf_path());
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, gen_gunicorn::render(&spec)).unwrap();
    let script = super::Script {
        path: app.dir.path().join("init"),
        pidfile: PathBuf::from(spec.pidfile()),
    };
    super::generate("sysv", &spec_path, &script.path);
    let sock = PathBuf::from(spec.socket());
    let ready = || {
        let mut v: Vec<String> = std::fs::read_dir(spec.ready_dir().unwrap())
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };

    script.assert_not_started();
    script.expect("start", 0);
    let master = script.pid().expect("pidfile after start");
    assert!(
        !ready().is_empty(),
        "start returned before a worker was ready"
    );
    assert_eq!(script.run("status").0, 0);
    // nginx's user reaches the socket gunicorn bound; another user does not.
    assert!(
        reaches("www-data", &sock),
        "www-data cannot reach the socket"
    );
    assert!(!reaches("nobody", &sock), "another user reaches the socket");
    let resp = debpipe_testkit::uwsgi_request(&sock, "/api/scratch/ping").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""settings": "debpipe_settings""#), "{resp}");
    script.expect("start", 0);
    assert_eq!(
        script.pid(),
        Some(master),
        "second start replaced the master"
    );

    let before = ready();
    script.expect("reload", 0);
    assert!(
        wait_until(30, || {
            let now = ready();
            now.len() == 2 && now.iter().all(|p| !before.contains(p))
        }),
        "reload did not replace the workers: {before:?} then {:?}",
        ready()
    );
    assert_eq!(script.pid(), Some(master), "reload replaced the master");

    let slow_sock = sock.clone();
    let slow = std::thread::spawn(move || debpipe_testkit::uwsgi_request(&slow_sock, "/slow"));
    std::thread::sleep(Duration::from_millis(500));
    script.expect("stop", 0);
    let resp = slow.join().unwrap().unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "stop cut the in-flight request: {resp:?}"
    );
    assert!(script.pid().is_none(), "pidfile left after stop");
    assert_eq!(script.run("status").0, 3);
    let log = std::fs::read_to_string(spec.log_file()).unwrap();
    assert!(log.contains("Booting worker"), "{log}");

    // An app that cannot load: start fails, nothing left running.
    write(
        &app.app_dir.join("debpipe_wsgi.py"),
        "from nope.wsgi import application\n",
    );
    let (code, out) = script.run("start");
    assert_eq!(code, 1, "start of a broken app: {out}");
    assert_eq!(script.run("status").0, 3);
    let _ = std::fs::remove_file(&conf);
    let _ = std::fs::remove_dir_all(spec.runtime_dir());
}
