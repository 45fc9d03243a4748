//! gen-init as users run it; its unit checked by systemd-analyze, its SysV
//! script by shellcheck and by a real start/status/reload/stop cycle of uWSGI.
//!
//! Where tests go (one binary, a module per topic):
//! - here: the generator contract of `--kind systemd` and `socket`, the flags that place
//!   units (`--unit-dir`, `--dist`), and the helpers the modules share;
//! - `unit`: the web service's unit and socket unit as systemd-analyze and
//!   systemd's environment parser read them;
//! - `sysv`: the SysV script, by shellcheck and against real uWSGI;
//! - `serve`: uWSGI run as the unit runs it (notify, socket activation,
//!   graceful reloads under load through nginx);
//! - `gunicorn`: gunicorn run as the unit runs it (the held socket, SIGHUP
//!   reloads under load through nginx, the graceful stop);
//! - `sandbox`: the unit's file-system sandbox around a running app;
//! - `jobs`: the daemons, timers, cron, runner and logrotate.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use debpipe_testkit::{Generator, ScratchApp, assert_success, wait_until};

mod gunicorn;
mod jobs;
mod sandbox;
mod serve;
mod sysv;
mod unit;

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
        assert_success(&out);
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

/// `systemd-analyze verify` on `unit`.
fn verify_unit(unit: &Path) -> Output {
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .unwrap()
}

/// `systemd-analyze verify` accepts `unit`: it succeeds and says nothing.
#[track_caller]
fn assert_verifies(unit: &Path) {
    let out = verify_unit(unit);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        unit.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `systemd-analyze verify` finds fault with `unit`, which holds `what`:
/// the check can fail.
#[track_caller]
fn assert_verify_rejects(unit: &Path, what: &str) {
    assert!(
        !verify_unit(unit).stderr.is_empty(),
        "systemd-analyze missed {what}"
    );
}

/// A SysV init script (the web service's or a daemon's) and its pidfile; it
/// is stopped when dropped.
struct Script {
    path: PathBuf,
    pidfile: PathBuf,
}

impl Script {
    /// `sh SCRIPT ACTION`: its exit code and what it said (stdout, stderr).
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
    /// `sh SCRIPT ACTION` exits `code`; what it said.
    #[track_caller]
    fn expect(&self, action: &str, code: i32) -> String {
        let (got, out) = self.run(action);
        assert_eq!(got, code, "{action}: {out}");
        out
    }

    /// Before the first start: `status` says not running (LSB 3), and
    /// `stop` succeeds saying nothing was running.
    #[track_caller]
    fn assert_not_started(&self) {
        self.expect("status", 3);
        let out = self.expect("stop", 0);
        assert!(out.contains("was not running"), "stop before start: {out}");
    }

    /// The pid in the pidfile, if there is one.
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

/// A scratch app as its generated SysV script runs it: the spec (`extra`
/// fields, and its uWSGI ini and log directory in the app's directory), the
/// spec's user made and its debpipe.env written as postinst does, the ini,
/// and the script.
struct SysvApp {
    app: ScratchApp,
    spec_path: PathBuf,
    spec: debpipe_core::AppSpec,
    script: Script,
}

impl SysvApp {
    fn new(pkg: &str, extra: &str) -> Self {
        let app = ScratchApp::new();
        let ini = app.dir.path().join("app.ini");
        let extra = format!(
            r#""uwsgi_ini":"{}","log_dir":"{}",{extra}"#,
            ini.display(),
            app.dir.path().join("log").display()
        );
        let spec_path = write(&app.dir.path().join("app.json"), &app.spec(pkg, &extra));
        let spec =
            debpipe_core::AppSpec::from_json(&spec_path, &std::fs::read(&spec_path).unwrap())
                .unwrap();
        debpipe_testkit::ensure_system_user(&spec.user);
        debpipe_testkit::write_service_env(&spec);
        std::fs::write(&ini, gen_uwsgi::render(&spec)).unwrap();
        let script = Script {
            path: app.dir.path().join("init"),
            pidfile: PathBuf::from(spec.pidfile()),
        };
        generate("sysv", &spec_path, &script.path);
        SysvApp {
            app,
            spec_path,
            spec,
            script,
        }
    }
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

/// The value of `key=` in a unit's text (the last one, as systemd reads it).
fn directive<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
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

/// The runtime directory as the unit's `RuntimeDirectory=` makes it: made
/// afresh, owned by the user, with the unit's `RuntimeDirectoryMode=`.
fn unit_runtime_dir(spec: &debpipe_core::AppSpec) -> PathBuf {
    let run = PathBuf::from(spec.runtime_dir());
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    let (uid, gid) = debpipe_testkit::ids(&spec.user);
    std::os::unix::fs::chown(&run, Some(uid), Some(gid)).unwrap();
    let unit = gen_init::render_systemd(spec);
    let mode = u32::from_str_radix(directive(&unit, "RuntimeDirectoryMode"), 8).unwrap();
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    run
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
