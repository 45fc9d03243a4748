//! The SysV script: the generator contract for `--kind sysv`, shellcheck, and a real start/status/reload/stop cycle
//! of uWSGI as the spec's user, with its environment and socket checked.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use debpipe_testkit::{assert_shellcheck, uwsgi_request, wait_until};

use super::{EnvFile, SysvApp, tool};

debpipe_testkit::generator_contract_tests!(super::tool("sysv"));

/// shellcheck passes the SysV scripts of the example and minimal specs.
#[test]
fn shellcheck_passes_the_sysv_script() {
    for case in ["example", "minimal"] {
        assert_shellcheck(&tool("sysv").golden_dir.join(format!("{case}.init")));
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
    let pkg = "dpt-gen-init-sysv";
    let SysvApp {
        app, spec, script, ..
    } = SysvApp::new(
        pkg,
        r#""processes":2,"env":{"DPT_KEY":"from-env","DPT_ONLY_ENV":"kept"}"#,
    );
    assert_eq!(spec.user, pkg);
    let _env_file = EnvFile::new(
        &spec,
        "# the operator's\nDPT_KEY=from-env-file\nDPT_SPACED='two words'\n",
    );
    let sock = PathBuf::from(spec.socket());

    script.assert_not_started();
    script.expect("start", 0);
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
