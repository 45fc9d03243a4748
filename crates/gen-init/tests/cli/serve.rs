//! uWSGI run as the systemd unit runs it: `NOTIFY_SOCKET` and its stop
//! signal, the socket held by `systemd-socket-activate`, and graceful
//! reloads (a new binary too) that fail no request through nginx.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use debpipe_testkit::{KillOnDrop, ScratchApp, uwsgi_request, wait_until};

use super::{directive, generate, own_socket_as_the_unit_does, sysv_runtime_dir, write};

/// Runs the spec's uWSGI the way the unit does (foreground, `NOTIFY_SOCKET`
/// set), checks it notifies READY=1, then stops it the way the unit does
/// (its `KillSignal` to the main process only: `KillMode=mixed`) while a slow
/// request is in flight: the request completes and uWSGI exits.
#[test]
fn systemd_style_run_notifies_ready_and_stop_lets_requests_finish() {
    use std::os::unix::net::UnixDatagram;
    let app = ScratchApp::new();
    let pkg = "dpt-gen-init-notify";
    let spec_path = write(&app.dir.path().join("app.json"), &app.spec(pkg, ""));
    let spec =
        debpipe_core::AppSpec::from_json(&spec_path, &std::fs::read(&spec_path).unwrap()).unwrap();
    debpipe_testkit::ensure_system_user(&spec.user); // the socket's owner
    let ini = write(&app.dir.path().join("app.ini"), &gen_uwsgi::render(&spec));
    let unit_path = app.dir.path().join("unit.service");
    generate("systemd", &spec_path, &unit_path);
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let kill_signal = unit
        .lines()
        .find_map(|l| l.strip_prefix("KillSignal=SIG"))
        .unwrap()
        .to_string();
    assert!(unit.contains("KillMode=mixed\n"));

    let notify = app.dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let run = Path::new("/run").join(pkg);
    std::fs::create_dir_all(&run).unwrap();
    let mut uwsgi = KillOnDrop(
        Command::new(&spec.uwsgi_bin)
            .arg("--ini")
            .arg(&ini)
            .env("NOTIFY_SOCKET", &notify)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !got.contains("READY=1") && Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        let n = listener.recv(&mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("READY=1"), "no READY=1, got {got:?}");

    let sock = run.join(format!("{pkg}.sock"));
    let slow = std::thread::spawn(move || uwsgi_request(&sock, "/slow"));
    std::thread::sleep(Duration::from_millis(500));
    let st = Command::new("kill")
        .args(["-s", &kill_signal, &uwsgi.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let resp = slow.join().unwrap().unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "in-flight request cut: {resp:?}"
    );
    assert!(
        wait_until(20, || matches!(uwsgi.0.try_wait(), Ok(Some(_)))),
        "uWSGI did not exit on {kill_signal}"
    );
    let _ = std::fs::remove_dir_all(&run);
}

/// Requests sent in a loop by `n` threads until `stop` is set, each
/// `request()` telling whether it succeeded: (sent, failed, first failures).
pub(super) type LoadThreads = Vec<std::thread::JoinHandle<(u32, u32, Vec<String>)>>;

pub(super) fn load(
    n: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    request: impl Fn() -> Result<(), String> + Send + Clone + 'static,
) -> LoadThreads {
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            let request = request.clone();
            std::thread::spawn(move || {
                let (mut sent, mut failed, mut why) = (0, 0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sent += 1;
                    if let Err(e) = request() {
                        failed += 1;
                        if why.len() < 3 {
                            why.push(e);
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                (sent, failed, why)
            })
        })
        .collect()
}

/// Stop the load and add up its threads: (sent, failed, first failures).
pub(super) fn finish(
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: LoadThreads,
) -> (u32, u32, Vec<String>) {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    threads.into_iter().map(|t| t.join().unwrap()).fold(
        (0, 0, Vec::new()),
        |(s, f, mut w), (s2, f2, w2)| {
            w.extend(w2);
            (s + s2, f + f2, w)
        },
    )
}

/// The load `what` sent some requests and none failed.
#[track_caller]
pub(super) fn assert_none_failed(what: &str, (sent, failed, why): (u32, u32, Vec<String>)) {
    eprintln!("{what}: {sent} requests, {failed} failed");
    assert!(sent > 0);
    assert_eq!(failed, 0, "requests failed across the reload: {why:?}");
}

/// uWSGI under `systemd-socket-activate`, which holds the socket as the
/// socket unit does (owner, group and mode as the generated socket unit's
/// `SocketUser=`, `SocketGroup=` and `SocketMode=` set them), running the
/// unit's `ExecStart` as the unit's user; `held: false` starts it alone,
/// binding its own socket.
fn start_socket_activated(site: &Site, held: bool) -> KillOnDrop {
    start_socket_activated_bin(site, Path::new("uwsgi"), held)
}

/// [`start_socket_activated`] with the uWSGI binary at `bin`.
fn start_socket_activated_bin(site: &Site, bin: &Path, held: bool) -> KillOnDrop {
    let (sock, log) = (&site.sock, &site.log);
    let unit = gen_init::render_systemd(&site.spec);
    let socket_unit = gen_init::render_socket(&site.spec);
    let mut c = if held {
        let mut c = Command::new("systemd-socket-activate");
        c.arg("-l").arg(sock).arg("setpriv");
        c
    } else {
        // uWSGI binds the socket itself, as under the SysV script: in a
        // set-group-ID www-data directory, so its chown-socket is allowed.
        sysv_runtime_dir(&site.spec);
        Command::new("setpriv")
    };
    let out = || {
        std::fs::File::options()
            .append(true)
            .create(true)
            .open(log)
            .unwrap()
    };
    c.arg(format!("--reuid={}", directive(&unit, "User")))
        .arg(format!("--regid={}", directive(&unit, "Group")))
        .arg("--init-groups")
        .arg(bin)
        .arg("--ini")
        .arg(&site.ini)
        .stdout(out())
        .stderr(out());
    let child = KillOnDrop(c.spawn().unwrap());
    if held {
        own_socket_as_the_unit_does(sock, &socket_unit);
    }
    child
}

/// A scratch app served as under systemd, behind nginx with the generated
/// server block: its ini, its runtime directory made as `RuntimeDirectory=`
/// makes it, its uWSGI log, and a GET through nginx. The runtime directory
/// goes when it is dropped.
struct Site {
    app: ScratchApp,
    spec: debpipe_core::AppSpec,
    ini: PathBuf,
    sock: PathBuf,
    log: PathBuf,
    run: PathBuf,
    port: u16,
    // Dropped in this order: nginx, then its directory.
    _nginx: KillOnDrop,
    _nginx_dir: debpipe_testkit::NginxWrapper,
}

impl Site {
    fn new(pkg: &str) -> Self {
        let app = ScratchApp::new();
        let port = debpipe_testkit::free_port();
        let json = app.spec(
            pkg,
            &format!(r#""server":{{"listen":"127.0.0.1:{port}","server_name":["_"]}}"#),
        );
        let spec_path = write(&app.dir.path().join("app.json"), &json);
        let spec = debpipe_core::AppSpec::from_json(&spec_path, json.as_bytes()).unwrap();
        let ini = app.dir.path().join("app.ini");
        std::fs::write(&ini, gen_uwsgi::render(&spec)).unwrap();
        // The unit's user (named after the package), and its runtime
        // directory as `RuntimeDirectory=` makes it: owned by the user, with
        // the unit's mode, through which nginx (www-data) reaches the socket.
        debpipe_testkit::ensure_system_user(&spec.user);
        let run = super::unit_runtime_dir(&spec);
        let nginx_dir = debpipe_testkit::NginxWrapper::new(&gen_nginx::render(&spec));
        let nginx = nginx_dir.start();
        Site {
            sock: PathBuf::from(spec.socket()),
            log: app.dir.path().join("uwsgi.log"),
            app,
            spec,
            ini,
            run,
            port,
            _nginx: nginx,
            _nginx_dir: nginx_dir,
        }
    }

    /// One GET through nginx: Ok on a 200, else what went wrong.
    fn get(&self) -> impl Fn() -> Result<(), String> + Send + Copy + 'static {
        let port = self.port;
        move || match debpipe_testkit::http_get(port, "localhost", "/api/scratch/ping") {
            Ok(r) if r.starts_with("HTTP/1.1 200") => Ok(()),
            Ok(r) => Err(r.lines().next().unwrap_or("").to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A graceful reload through the master FIFO (what postinst asks for on
    /// an upgrade), done when the master has started again.
    fn reload(&self) {
        let before = self.masters_started();
        std::fs::write(self.spec.master_fifo(), "r").unwrap();
        assert!(
            wait_until(30, || self.masters_started() > before),
            "the reload did not finish"
        );
    }

    /// How many times the master has (re)started, from its log.
    fn masters_started(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("gracefully_kill_them_all\" (master-start)")
            .count()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run);
    }
}

/// The systemd path, as systemd runs it, behind nginx with the generated
/// server block: `systemd-socket-activate` holds the socket (as the socket
/// unit does) and starts the unit's `ExecStart` as the unit's user; uWSGI
/// takes the inherited socket (the ini names the same path), and a graceful
/// reload through the master FIFO (what postinst asks for on an upgrade)
/// fails no request of a running load through nginx. Negative control: the
/// same load across a stop and a fresh start, with no one holding the
/// socket, does fail requests.
#[test]
fn uwsgi_takes_systemds_socket_and_a_reload_fails_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let site = Site::new("dpt-gen-init-sockact");
    let (spec, log) = (&site.spec, &site.log);
    let get = site.get();
    let holder = start_socket_activated(&site, true);
    let took_it = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("SystemD socket activation detected")
    };
    assert!(
        wait_until(30, || get().is_ok() && took_it()),
        "no answer through nginx and the held socket, or uWSGI did not take it: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        !text.contains("bound to UNIX address"),
        "uWSGI bound a socket of its own: {text}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(500));
    site.reload();
    std::thread::sleep(Duration::from_millis(500));
    assert_none_failed(
        "graceful reload under systemd's socket, through nginx",
        finish(&stop, threads),
    );

    // Negative control: stop, then start again with no socket held.
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(spec.master_fifo(), "q").unwrap();
    drop(holder);
    let fresh = start_socket_activated(&site, false);
    assert!(wait_until(20, || get().is_ok()));
    std::thread::sleep(Duration::from_millis(300));
    let (sent_r, failed_r, _) = finish(&stop, threads);
    eprintln!("stop and fresh start: {sent_r} requests, {failed_r} failed");
    assert!(
        failed_r > 0,
        "a stop and start failed no request: the load cannot see downtime"
    );
    drop(fresh);
}

/// An upgrade that brings a new uWSGI binary: dpkg puts the new file in
/// place under the same path (a new inode), and the graceful reload re-execs
/// the master from that path, so it runs the new binary, keeping the socket
/// systemd holds; no request through nginx fails meanwhile.
#[test]
fn a_reload_picks_up_a_new_uwsgi_binary_without_failing_a_request() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let site = Site::new("dpt-gen-init-newbin");
    let log = &site.log;
    let app = &site.app;
    // The "venv's" uWSGI: a copy of the system's, at a path of the app's.
    let bin_dir = app.dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("uwsgi");
    let system = std::fs::canonicalize(
        String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v uwsgi"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    )
    .unwrap();
    std::fs::copy(&system, &bin).unwrap();
    let get = site.get();
    let _holder = start_socket_activated_bin(&site, &bin, true);
    assert!(wait_until(30, || get().is_ok()), "no answer through nginx");
    // The master's logger writes the log asynchronously (log-master).
    let master_pid = || {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("spawned uWSGI master process (pid: "))
            .and_then(|r| r.trim_end_matches(')').parse::<u32>().ok())
    };
    assert!(wait_until(10, || master_pid().is_some()));
    let master = master_pid().expect("the master's pid in the log");
    let exe = |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let old_inode = inode(&bin);

    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(300));
    // As dpkg unpacks: the new file beside the old one, renamed over it.
    let new = bin_dir.join("uwsgi.dpkg-new");
    std::fs::copy(&system, &new).unwrap();
    std::fs::rename(&new, &bin).unwrap();
    assert_ne!(inode(&bin), old_inode);
    assert!(
        exe(master).to_string_lossy().ends_with(" (deleted)"),
        "{:?}",
        exe(master)
    );
    site.reload();
    std::thread::sleep(Duration::from_millis(500));
    assert_none_failed(
        "reload onto a new uWSGI binary, through nginx",
        finish(&stop, threads),
    );
    assert_eq!(exe(master), bin, "the master does not run the new binary");
}
