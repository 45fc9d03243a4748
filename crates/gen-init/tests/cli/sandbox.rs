//! The unit's file-system sandbox (emulated by `tests/sandbox.sh` from the
//! unit's own directives) around a running app: what it may write, and what
//! it may not.

use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{KillOnDrop, ScratchApp, uwsgi_request, wait_until};

use super::{own_socket_as_the_unit_does, sysv_runtime_dir, write};

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
