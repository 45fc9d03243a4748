//! gen-init as users run it; its unit checked by systemd-analyze, its SysV
//! script by shellcheck and by a real start/status/reload/stop cycle of uWSGI.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use debpipe_testkit::{Generator, KillOnDrop, ScratchApp, uwsgi_request, wait_until};

// Where tests go: the web service's unit, socket and SysV script here; the
// daemons, timers, cron, runner and logrotate in cli/jobs.rs.
#[path = "cli/jobs.rs"]
mod jobs;

fn tool(kind: &str) -> Generator {
    let (ext, example_install_path, mode) = match kind {
        "sysv" => ("init", "/etc/init.d/wechat-api", 0o755),
        "socket" => ("socket", "/lib/systemd/system/wechat-api.socket", 0o644),
        _ => ("service", "/lib/systemd/system/wechat-api.service", 0o644),
    };
    Generator {
        tool: "gen-init",
        bin: assert_cmd::cargo::cargo_bin!("gen-init").to_path_buf(),
        args: vec!["--kind".into(), kind.into()],
        golden_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        ext,
        example_install_path,
        mode,
        specs: "specs",
    }
}

mod systemd {
    debpipe_testkit::generator_contract_tests!(super::tool("systemd"));
}

mod sysv {
    debpipe_testkit::generator_contract_tests!(super::tool("sysv"));
}

mod socket {
    debpipe_testkit::generator_contract_tests!(super::tool("socket"));
}

#[test]
fn unknown_kind_is_usage_error_2() {
    let out = tool("systemd")
        .cmd()
        .args(["--kind", "upstart"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--unit-dir`: Debian 13's units go to /usr/lib/systemd/system (what
/// `make DIST=trixie` passes); a relative directory is refused.
#[test]
fn unit_dir_moves_both_units() {
    let spec = debpipe_testkit::fixtures().join("specs/example.json");
    for kind in ["systemd", "socket"] {
        let stage = tempfile::tempdir().unwrap();
        let out = tool(kind)
            .cmd()
            .args(["--unit-dir", "/usr/lib/systemd/system", "--root"])
            .arg(stage.path())
            .arg(&spec)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ext = if kind == "socket" {
            "socket"
        } else {
            "service"
        };
        let want = format!("/usr/lib/systemd/system/wechat-api.{ext}");
        assert!(stage.path().join(&want[1..]).is_file(), "{want} not staged");
        assert!(!stage.path().join("lib").exists());
    }
    let out = tool("systemd")
        .cmd()
        .args(["--unit-dir", "usr/lib/systemd/system"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute path"));
}

/// `--dist`: every unit, the web service's and the jobs', goes to the
/// release's unit directory (releases.tsv), /usr/lib from Debian 13 on;
/// with --unit-dir too it is a usage error.
#[test]
fn dist_puts_every_unit_in_the_release_unit_dir() {
    let example = debpipe_testkit::fixtures().join("specs/example.json");
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jobs.json");
    // gen-init --kind KIND ARGS... --root STAGE SPEC: its exit code.
    let run = |kind: &str, args: &[&str], stage: &Path| {
        let spec = if kind == "jobs" { &jobs } else { &example };
        let out = tool(kind)
            .cmd()
            .args(args)
            .arg("--root")
            .arg(stage)
            .arg(spec)
            .output();
        out.unwrap().status.code()
    };
    for r in debpipe_core::release::all() {
        for kind in ["systemd", "socket", "jobs"] {
            let stage = tempfile::tempdir().unwrap();
            assert_eq!(run(kind, &["--dist", r.codename], stage.path()), Some(0));
            let units = std::fs::read_dir(stage.path().join(&r.unit_dir[1..]));
            assert!(units.map_or(0, Iterator::count) > 0, "{kind} --dist {r:?}");
            let usr = r.unit_dir.starts_with("/usr/");
            assert!(
                !usr || !stage.path().join("lib").exists(),
                "{kind} --dist {r:?}"
            );
        }
    }
    let trixie = tempfile::tempdir().unwrap();
    assert_eq!(
        run("systemd", &["--dist", "trixie"], trixie.path()),
        Some(0)
    );
    assert!(
        trixie
            .path()
            .join("usr/lib/systemd/system/wechat-api.service")
            .is_file()
    );
    let both = ["--dist", "trixie", "--unit-dir", "/x"];
    assert_eq!(run("systemd", &both, trixie.path()), Some(2));
}

fn generate(kind: &str, spec: &Path, out: &Path) {
    let st = tool(kind)
        .cmd()
        .arg("-o")
        .arg(out)
        .arg(spec)
        .status()
        .unwrap();
    assert!(st.success());
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

fn verify_unit(unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .unwrap()
}

/// `systemd-analyze security --offline=true --threshold=20`: the unit is in
/// systemd's "OK" band (exposure at most 2.0) for the example, a gevent and a
/// threads spec, and one that widens it (W+X memory, limit-as, an extra
/// writable path); the check fails on the unhardened unit of before.
#[test]
fn unit_exposure_is_at_most_2_0() {
    let dir = tempfile::tempdir().unwrap();
    let security = |unit: &Path| {
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(unit)
            .output()
            .unwrap()
    };
    for (name, extra) in [
        ("dpt-sec-example", ""),
        ("dpt-sec-gevent", r#","gevent":100"#),
        ("dpt-sec-threads", r#","threads":8,"processes":2"#),
        (
            "dpt-sec-wide",
            r#","allow_write_execute":true,"limit_as":1024,"writable_paths":["/srv/uploads"]"#,
        ),
    ] {
        let spec = write(
            &dir.path().join("s.json"),
            &format!(r#"{{"module":"m","version":"1","package":"{name}"{extra}}}"#),
        );
        let unit = dir.path().join(format!("{name}.service"));
        generate("systemd", &spec, &unit);
        let out = security(&unit);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains(" OK "), "{name}: {text}");
    }
    // Negative control: the unit as it was hardened before issue 12.
    let old = dir.path().join("dpt-sec-old.service");
    std::fs::write(
        &old,
        "[Unit]\nDescription=x\n[Service]\nType=notify\nUser=www-data\nExecStart=/usr/bin/uwsgi\n\
         NoNewPrivileges=yes\nPrivateTmp=yes\nPrivateDevices=yes\nProtectSystem=full\nProtectHome=yes\n\
         ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectControlGroups=yes\nRestrictSUIDSGID=yes\n",
    )
    .unwrap();
    assert!(
        !security(&old).status.success(),
        "the threshold did not fail the old unit"
    );
}

/// systemd-analyze accepts the unit and its socket unit (with a uWSGI
/// binary that exists here), and does reject a broken one, so the check can
/// fail.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("dpt-unit-a", r#""uwsgi_bin":"/usr/bin/uwsgi""#),
        (
            "dpt-unit-b",
            r#""uwsgi_bin":"/usr/bin/uwsgi","user":"appuser","group":"www-data","harakiri":5"#,
        ),
    ] {
        let spec = write(
            &dir.path().join("s.json"),
            &format!(r#"{{"module":"m","version":"1","package":"{name}",{extra}}}"#),
        );
        let unit = dir.path().join(format!("{name}.service"));
        generate("systemd", &spec, &unit);
        let socket = dir.path().join(format!("{name}.socket"));
        generate("socket", &spec, &socket);
        for u in [&unit, &socket] {
            let out = verify_unit(u);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}: {}",
                u.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let broken = dir.path().join("dpt-broken.service");
        let text = std::fs::read_to_string(&unit).unwrap();
        std::fs::write(&broken, text.replace("Type=notify", "Type=notifyy")).unwrap();
        assert!(
            !verify_unit(&broken).stderr.is_empty(),
            "systemd-analyze missed a bad Type"
        );
    }
}

/// shellcheck passes the SysV scripts of the example and minimal specs.
#[test]
fn shellcheck_passes_the_sysv_script() {
    for case in ["example", "minimal"] {
        let out = Command::new("shellcheck")
            .arg(tool("sysv").golden_dir.join(format!("{case}.init")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

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

struct Script {
    path: PathBuf,
    pidfile: PathBuf,
}

impl Script {
    fn run(&self, action: &str) -> (i32, String) {
        let out = Command::new("sh")
            .arg(&self.path)
            .arg(action)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// The unit's environment as systemd reads it: its `EnvironmentFile=`
/// lines in their order (`-` for a file that may be missing), through
/// systemd's own parser: the operator's `env_file` wins over debpipe.env
/// (the spec's `env`), values the operator does not set stay, and a missing
/// `env_file` is skipped.
#[test]
fn the_units_env_file_overrides_the_specs_env() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = "dpt-gen-init-envfile";
    let json = format!(
        r#"{{"module":"m","version":"1","package":"{pkg}","app_dir":"{}","env":{{"DPT_KEY":"from-env","DPT_ONLY_ENV":"kept"}}}}"#,
        dir.path().join("m").display()
    );
    let spec = debpipe_core::AppSpec::from_json(Path::new("s.json"), json.as_bytes()).unwrap();
    std::fs::create_dir_all(&spec.app_dir).unwrap();
    debpipe_testkit::write_service_env(&spec);
    let unit = gen_init::render_systemd(&spec);
    let files: Vec<(bool, PathBuf)> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("EnvironmentFile="))
        .map(|f| match f.strip_prefix('-') {
            Some(f) => (true, PathBuf::from(f)),
            None => (false, PathBuf::from(f)),
        })
        .collect();
    assert_eq!(files.len(), 2, "{unit}");
    assert_eq!(files[0], (false, PathBuf::from(spec.service_env_file())));
    assert_eq!(files[1], (true, PathBuf::from(&spec.env_file)));
    let read = || {
        let paths: Vec<&Path> = files.iter().map(|(_, p)| p.as_path()).collect();
        debpipe_testkit::systemd_environment(&paths)
    };
    let has =
        |env: &[(String, String)], k: &str, v: &str| env.iter().any(|(a, b)| a == k && b == v);
    // No env_file yet: the spec's values.
    let env = read();
    assert!(has(&env, "DPT_KEY", "from-env"), "{env:?}");
    assert!(
        has(&env, "DJANGO_SETTINGS_MODULE", "debpipe_settings"),
        "{env:?}"
    );
    let _env_file = EnvFile::new(&spec, "# the operator's\nDPT_KEY=from-env-file\n");
    let env = read();
    assert!(has(&env, "DPT_KEY", "from-env-file"), "{env:?}");
    assert!(has(&env, "DPT_ONLY_ENV", "kept"), "{env:?}");
}

/// The operator's `env_file` of a test package, removed with its directory
/// on drop.
struct EnvFile(PathBuf);

impl EnvFile {
    fn new(spec: &debpipe_core::AppSpec, text: &str) -> Self {
        let path = PathBuf::from(&spec.env_file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        EnvFile(path)
    }
}

impl Drop for EnvFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

/// The environment of a running process, from /proc.
fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// Whether `user` can connect to the unix socket `sock` (and its
/// directory), checked as that user: Ok, or Python's error.
fn connect_as(user: &str, sock: &Path) -> Result<(), String> {
    let (_, gid) = debpipe_testkit::ids(user);
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "/usr/bin/python3",
            "-c",
            "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
        ])
        .arg(sock)
        .current_dir("/")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The SysV script's uWSGI master `master`: the spec's user, the
/// environment of debpipe.env then `env_file` (whose value wins), and a
/// socket that www-data reaches and another user does not, in a runtime
/// directory that holds nothing else readable.
fn check_sysv_account_and_environment(spec: &debpipe_core::AppSpec, master: u32) {
    let sock = PathBuf::from(spec.socket());
    let app = uwsgi_request(&sock, "/api/scratch/env").unwrap();
    // What the app itself sees (an ini `env =` line would win over the
    // inherited environment without showing in /proc/PID/environ).
    assert!(
        app.contains(r#""DPT_KEY": "from-env-file""#) && app.contains(r#""DPT_ONLY_ENV": "kept""#),
        "{app}"
    );

    // The environment: debpipe.env, then env_file, whose value wins.
    let env = environ(master);
    for want in [
        "DPT_KEY=from-env-file",
        "DPT_ONLY_ENV=kept",
        "DPT_SPACED=two words",
        "DJANGO_SETTINGS_MODULE=debpipe_settings",
    ] {
        assert!(env.iter().any(|v| v == want), "{want} not in {env:?}");
    }
    let status = std::fs::read_to_string(format!("/proc/{master}/status")).unwrap();
    let (uid, _) = debpipe_testkit::ids(&spec.user);
    assert!(
        status.contains(&format!("\nUid:\t{uid}\t")),
        "the master is not the spec's user: {status}"
    );

    // The socket is user:www-data 0660 in a directory www-data can search
    // but not list; another user cannot connect, www-data can.
    let (_, www) = debpipe_testkit::www_data();
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (uid, www, 0o660)
    );
    let run_meta = std::fs::metadata(Path::new(&spec.runtime_dir())).unwrap();
    assert_eq!(run_meta.gid(), www);
    assert_eq!(run_meta.mode() & 0o7777, 0o2710);
    assert_eq!(
        connect_as("www-data", &sock),
        Ok(()),
        "www-data cannot reach the socket"
    );
    let other = connect_as("nobody", &sock);
    assert!(
        other.as_ref().is_err_and(|e| e.contains("PermissionError")),
        "another user reached the socket: {other:?}"
    );
    let fifo = std::fs::metadata(spec.master_fifo()).unwrap();
    assert_eq!(fifo.mode() & 0o077, 0, "the master FIFO is open to others");
}

/// The SysV script against real uWSGI: start, status, a second start,
/// reload (same master, new workers), a stop that lets an in-flight request
/// finish, status after stop, a stop that says nothing was running, and a
/// start that fails fast when the app cannot load. uWSGI runs as the spec's
/// user (named after the package; made here as postinst makes it) with the
/// environment of debpipe.env and then the operator's `env_file`, which wins
/// over the spec's `env`; nginx's user reaches the socket, and nothing else
/// in the runtime directory.
#[test]
fn sysv_script_starts_reloads_and_stops_uwsgi() {
    let app = ScratchApp::new();
    let pkg = "dpt-gen-init-sysv";
    let log_dir = app.dir.path().join("log");
    let ini = app.dir.path().join("app.ini");
    let extra = format!(
        r#""uwsgi_ini":"{}","log_dir":"{}","processes":2,"env":{{"DPT_KEY":"from-env","DPT_ONLY_ENV":"kept"}}"#,
        ini.display(),
        log_dir.display()
    );
    let spec_path = write(&app.dir.path().join("app.json"), &app.spec(pkg, &extra));
    let spec =
        debpipe_core::AppSpec::from_json(&spec_path, &std::fs::read(&spec_path).unwrap()).unwrap();
    assert_eq!(spec.user, pkg);
    debpipe_testkit::ensure_system_user(&spec.user);
    debpipe_testkit::write_service_env(&spec);
    let _env_file = EnvFile::new(
        &spec,
        "# the operator's\nDPT_KEY=from-env-file\nDPT_SPACED='two words'\n",
    );
    std::fs::write(&ini, gen_uwsgi::render(&spec)).unwrap();
    let script = Script {
        path: app.dir.path().join("init"),
        pidfile: PathBuf::from(spec.pidfile()),
    };
    generate("sysv", &spec_path, &script.path);
    let sock = PathBuf::from(spec.socket());

    let (code, out) = script.run("status");
    assert_eq!(code, 3, "status before start: {out}");
    let (code, out) = script.run("stop");
    assert_eq!(code, 0, "stop before start: {out}");
    assert!(out.contains("was not running"), "stop before start: {out}");
    let (code, out) = script.run("start");
    assert_eq!(code, 0, "start: {out}");
    let master = script.pid().expect("pidfile after start");
    assert_eq!(script.run("status").0, 0);
    let resp = uwsgi_request(&sock, "/api/scratch/ping").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""settings": "debpipe_settings""#), "{resp}");
    check_sysv_account_and_environment(&spec, master);
    let (code, out) = script.run("start");
    assert_eq!(code, 0, "second start: {out}");
    assert_eq!(
        script.pid(),
        Some(master),
        "second start replaced the master"
    );

    let (code, out) = script.run("reload");
    assert_eq!(code, 0, "reload: {out}");
    // The reload is done when the new master has set up its SIGTERM hook
    // again (a stop during the reload itself would be abrupt).
    let hooks = || {
        std::fs::read_to_string(spec.log_file())
            .unwrap_or_default()
            .matches("gracefully_kill_them_all\" (master-start)")
            .count()
    };
    assert!(
        wait_until(60, || hooks() >= 2),
        "reload did not finish: {}",
        std::fs::read_to_string(spec.log_file()).unwrap_or_default()
    );
    assert!(
        uwsgi_request(&sock, "/")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(script.pid(), Some(master), "reload replaced the master");

    let slow_sock = sock.clone();
    let slow = std::thread::spawn(move || uwsgi_request(&slow_sock, "/slow"));
    std::thread::sleep(Duration::from_millis(500));
    let (code, out) = script.run("stop");
    assert_eq!(code, 0, "stop: {out}");
    let resp = slow.join().unwrap().unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "stop cut the in-flight request: {resp:?}"
    );
    assert!(script.pid().is_none(), "pidfile left after stop");
    assert!(!Path::new(&format!("/proc/{master}/exe")).exists() || zombie(master));
    assert_eq!(script.run("status").0, 3);

    // The log went where the script said.
    let mut log = String::new();
    std::fs::File::open(spec.log_file())
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("spawned uWSGI master process"), "{log}");

    // An app that cannot load: start fails at once, nothing left running.
    std::fs::write(
        app.app_dir.join("debpipe_wsgi.py"),
        "from nope.wsgi import application\n",
    )
    .unwrap();
    let t = Instant::now();
    let (code, out) = script.run("start");
    assert_eq!(code, 1, "start of a broken app: {out}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "failed start waited for the timeout"
    );
    assert_eq!(script.run("status").0, 3);
    let _ = std::fs::remove_dir_all(Path::new("/run").join(pkg));
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Requests sent in a loop by `n` threads until `stop` is set, each
/// `request()` telling whether it succeeded: (sent, failed, first failures).
type LoadThreads = Vec<std::thread::JoinHandle<(u32, u32, Vec<String>)>>;

fn load(
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

fn finish(
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

/// The value of `key=` in a unit's text (the last one, as systemd reads it).
fn directive<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
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

/// Once `systemd-socket-activate` has made the socket: its owner, group and
/// mode as the socket unit's `SocketUser=`, `SocketGroup=`, `SocketMode=`.
fn own_socket_as_the_unit_does(sock: &Path, socket_unit: &str) {
    assert!(
        wait_until(10, || sock.exists()),
        "no socket from systemd-socket-activate"
    );
    let (uid, _) = debpipe_testkit::ids(directive(socket_unit, "SocketUser"));
    let (_, gid) = debpipe_testkit::ids(directive(socket_unit, "SocketGroup"));
    std::os::unix::fs::chown(sock, Some(uid), Some(gid)).unwrap();
    let mode = u32::from_str_radix(directive(socket_unit, "SocketMode"), 8).unwrap();
    std::fs::set_permissions(sock, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// The runtime directory as the SysV script makes it: the user's, group
/// www-data, set-group-ID, mode 2710.
fn sysv_runtime_dir(spec: &debpipe_core::AppSpec) {
    let run = PathBuf::from(spec.runtime_dir());
    std::fs::create_dir_all(&run).unwrap();
    let (uid, _) = debpipe_testkit::ids(&spec.user);
    let (_, www) = debpipe_testkit::www_data();
    std::os::unix::fs::chown(&run, Some(uid), Some(www)).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o2710)).unwrap();
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
        let run = Path::new("/run").join(pkg);
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run).unwrap();
        let (uid, gid) = debpipe_testkit::ids(&spec.user);
        std::os::unix::fs::chown(&run, Some(uid), Some(gid)).unwrap();
        let unit = gen_init::render_systemd(&spec);
        let mode = u32::from_str_radix(directive(&unit, "RuntimeDirectoryMode"), 8).unwrap();
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
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
    let reloads = || site.masters_started();
    let before = reloads();

    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(4, &stop, get);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(spec.master_fifo(), "r").unwrap();
    assert!(
        wait_until(30, || reloads() > before),
        "the reload did not finish"
    );
    std::thread::sleep(Duration::from_millis(500));
    let (sent, failed, why) = finish(&stop, threads);
    eprintln!(
        "graceful reload under systemd's socket, through nginx: {sent} requests, {failed} failed"
    );
    assert!(sent > 0);
    assert_eq!(failed, 0, "requests failed across the reload: {why:?}");

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
    let (spec, log) = (&site.spec, &site.log);
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
    let reloads = || site.masters_started();
    let before = reloads();

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
    std::fs::write(spec.master_fifo(), "r").unwrap();
    assert!(
        wait_until(30, || reloads() > before),
        "the reload did not finish"
    );
    std::thread::sleep(Duration::from_millis(500));
    let (sent, failed, why) = finish(&stop, threads);
    eprintln!("reload onto a new uWSGI binary, through nginx: {sent} requests, {failed} failed");
    assert!(sent > 0);
    assert_eq!(failed, 0, "requests failed across the reload: {why:?}");
    assert_eq!(exe(master), bin, "the master does not run the new binary");
}

/// Write `cmd` to uWSGI's master FIFO without blocking: a FIFO that no
/// master reads (one left by a killed master) is an error, not a hang.
fn fifo_command(fifo: &str, cmd: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc_o_nonblock())
        .open(fifo)
        .unwrap_or_else(|e| panic!("{fifo}: no master reads it: {e}"));
    f.write_all(cmd.as_bytes()).unwrap();
}

/// `O_NONBLOCK` on Linux.
const fn libc_o_nonblock() -> i32 {
    0o4000
}

/// What the scratch app says when asked to append to `to`: written or the
/// OS's error.
fn probe_write(sock: &Path, to: &Path) -> Result<(), String> {
    let answer = uwsgi_request(sock, &format!("/api/scratch/write?to={}", to.display()))
        .map_err(|e| format!("no answer: {e}"))?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("{e}: {answer}"))?;
    if v["written"] == true {
        Ok(())
    } else {
        Err(v["error"].as_str().unwrap_or("?").to_string())
    }
}

/// The app cannot write `denied`.
fn assert_refused(sock: &Path, denied: &Path) {
    let r = probe_write(sock, denied);
    assert!(r.is_err(), "the app could write {}", denied.display());
    eprintln!("sandbox: {} refused: {}", denied.display(), r.unwrap_err());
}

/// The unit's file-system sandbox, emulated by `tests/sandbox.sh` from the
/// generated unit's own directives (systemd is not PID 1 here, so the real
/// one cannot run; system call filters and the rest are checked by
/// `systemd-analyze` only): uWSGI starts under it as the unit's user and
/// serves; the app can write its runtime and state directories and a private
/// /tmp, and nothing else: not a directory of the app's that the service
/// user owns (refused as a read-only file system, so by the sandbox, not by
/// permissions). Negative control: without the sandbox, that write succeeds.
#[test]
fn the_units_sandbox_lets_the_app_write_only_its_own_paths() {
    let pkg = "dpt-gen-init-sandbox";
    let parent = Path::new("/opt/debpipe-test");
    std::fs::create_dir_all(parent).unwrap();
    let app = ScratchApp::new_in(parent);
    let json = app.spec(pkg, "");
    let spec_path = write(&app.dir.path().join("app.json"), &json);
    let spec = debpipe_core::AppSpec::from_json(&spec_path, json.as_bytes()).unwrap();
    let ini = write(&app.dir.path().join("app.ini"), &gen_uwsgi::render(&spec));
    let unit = write(
        &app.dir.path().join(format!("{pkg}.service")),
        &gen_init::render_systemd(&spec),
    );
    // The unit's user, named after the package.
    debpipe_testkit::ensure_system_user(&spec.user);
    debpipe_testkit::write_service_env(&spec);
    let (uid, gid) = debpipe_testkit::ids(&spec.user);
    let owned = app.app_dir.join("media-by-mistake");
    std::fs::create_dir_all(&owned).unwrap();
    std::os::unix::fs::chown(&owned, Some(uid), Some(gid)).unwrap();
    let run = Path::new("/run").join(pkg);
    let state = PathBuf::from(&spec.state_dir);
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::remove_dir_all(&state);
    let sock = PathBuf::from(spec.socket());
    let log = app.dir.path().join("uwsgi.log");
    let start = |sandboxed: bool| {
        let out = std::fs::File::options()
            .append(true)
            .create(true)
            .open(&log)
            .unwrap();
        let mut c = if sandboxed {
            // The socket unit holds the socket (the unit Requires= it) and
            // makes its directory; the sandbox makes it the runtime directory.
            std::fs::create_dir_all(&run).unwrap();
            let mut c = Command::new("systemd-socket-activate");
            c.arg("-l")
                .arg(&sock)
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox.sh"))
                .arg(&unit)
                .arg("--");
            c
        } else {
            sysv_runtime_dir(&spec);
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", spec.user))
                .arg(format!("--regid={}", spec.group))
                .arg("--init-groups");
            c
        };
        c.arg("uwsgi")
            .arg("--ini")
            .arg(&ini)
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = KillOnDrop(c.spawn().unwrap());
        if sandboxed {
            own_socket_as_the_unit_does(&sock, &gen_init::render_socket(&spec));
        }
        child
    };

    let uwsgi = start(true);
    assert!(
        wait_until(20, || probe_write(&sock, &run.join("probe")).is_ok()),
        "uWSGI did not serve under the unit's sandbox: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let tmp_probe = Path::new("/tmp").join(format!("{pkg}-probe"));
    let _ = std::fs::remove_file(&tmp_probe);
    for ok in [run.join("probe"), state.join("probe"), tmp_probe.clone()] {
        assert_eq!(probe_write(&sock, &ok), Ok(()), "{}", ok.display());
    }
    assert!(
        !tmp_probe.exists(),
        "the app's /tmp is the host's, not private"
    );
    for denied in [
        owned.join("probe"),
        app.app_dir.join("probe"),
        app.venv.join("probe"),
        PathBuf::from("/etc/debpipe-sandbox-probe"),
        PathBuf::from("/var/log/debpipe-sandbox-probe"),
    ] {
        assert_refused(&sock, &denied);
    }
    assert_eq!(
        probe_write(&sock, &owned.join("probe")),
        Err("Read-only file system".to_string()),
        "refused by permissions, not by the sandbox"
    );
    // Stopped by its KillSignal (SIGTERM, graceful), as systemd stops it.
    drop(uwsgi);
    let _ = std::fs::remove_dir_all(&run);

    // Negative control: the same app without the sandbox writes there.
    let plain = start(false);
    assert!(wait_until(20, || uwsgi_request(&sock, "/api/scratch/ping").is_ok()));
    assert_eq!(probe_write(&sock, &owned.join("probe")), Ok(()));
    fifo_command(&spec.master_fifo(), "q");
    drop(plain);
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::remove_dir_all(&state);
    drop(app);
    let _ = std::fs::remove_dir(parent); // when no other run uses it
}
