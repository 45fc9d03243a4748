//! gen-uwsgi as users run it, and its ini as real uWSGI reads it.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin_cmd;
use debpipe_testkit::{
    Generator, KillOnDrop, SCRUB_ENV, ScratchApp, fixtures, uwsgi_request, wait_until,
};

fn cmd() -> assert_cmd::Command {
    let mut c = cargo_bin_cmd!("gen-uwsgi");
    for v in SCRUB_ENV {
        c.env_remove(v);
    }
    c
}

fn tool() -> Generator {
    Generator {
        tool: "gen-uwsgi",
        bin: assert_cmd::cargo::cargo_bin!("gen-uwsgi").to_path_buf(),
        args: vec![],
        golden_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        ext: "ini",
        example_install_path: "/opt/www/uwsgi/wechat.ini",
        mode: 0o644,
        specs: "specs",
    }
}

debpipe_testkit::generator_contract_tests!(tool());

/// uWSGI parses the example ini in strict mode (an unknown key is fatal):
/// the plain ini and a gevent/threads variant.
#[test]
fn uwsgi_accepts_generated_ini_strictly() {
    let dir = tempfile::tempdir().unwrap();
    for (name, spec, plugin) in [
        ("example", fixtures().join("specs/example.json"), "python3"),
        (
            "gevent",
            write(
                dir.path(),
                "g.json",
                r#"{"module":"g","version":"1","gevent":100,"limit_as":512,"uwsgi_options":[["max-fd","1024"]]}"#,
            ),
            "python3,gevent_python3",
        ),
        (
            "threads",
            write(
                dir.path(),
                "t.json",
                r#"{"module":"t","version":"1","threads":4}"#,
            ),
            "python3",
        ),
    ] {
        let ini = dir.path().join(format!("{name}.ini"));
        cmd().arg("-o").arg(&ini).arg(&spec).assert().success();
        let out = Command::new("uwsgi")
            .args(["--plugin", plugin, "--strict", "--ini"])
            .arg(&ini)
            .args(["--hook-asap", "exit:0"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: uwsgi rejected the ini: {}",
            String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The ini gen-uwsgi makes for `extra` (spec fields) on the scratch app, run
/// by real uWSGI until it answers `path` on its socket in `/run/<pkg>`:
/// uWSGI (killed on drop), the socket, and the runtime directory to remove.
fn serve(app: &ScratchApp, pkg: &str, extra: &str, path: &str) -> (KillOnDrop, PathBuf, PathBuf) {
    let spec = write(app.dir.path(), "app.json", &app.spec(pkg, extra));
    let ini = app.dir.path().join(format!("{pkg}.ini"));
    cmd().arg("-o").arg(&ini).arg(&spec).assert().success();
    let parsed = debpipe_core::AppSpec::from_json(&spec, &std::fs::read(&spec).unwrap()).unwrap();
    // The socket's owner (`chown-socket`): the spec's user, named after the
    // package.
    debpipe_testkit::ensure_system_user(&parsed.user);
    let run = Path::new("/run").join(pkg);
    std::fs::create_dir_all(&run).unwrap();
    let sock = run.join(format!("{pkg}.sock"));
    // The environment comes from debpipe.env, as the unit and the SysV
    // script give it, not from the ini.
    let uwsgi = KillOnDrop(
        Command::new("uwsgi")
            .arg("--ini")
            .arg(&ini)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(parsed.service_env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_until(20, || uwsgi_request(&sock, path).is_ok()),
        "no answer on {}",
        sock.display()
    );
    (uwsgi, sock, run)
}

/// The generated ini really loads a WSGI app and serves it on a 0660 socket
/// in the package's runtime directory, with the settings module set.
#[test]
fn uwsgi_serves_the_app_on_its_socket() {
    let app = ScratchApp::new();
    let (uwsgi, sock, run) = serve(&app, "dpt-gen-uwsgi-serve", "", "/api/scratch/ping");
    let resp = uwsgi_request(&sock, "/api/scratch/ping").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""settings": "debpipe_settings""#), "{resp}");
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    // user:www-data: nginx reaches it through the socket's group.
    let (uid, _) = debpipe_testkit::ids("dpt-gen-uwsgi-serve");
    let (_, www) = debpipe_testkit::www_data();
    assert_eq!((meta.uid(), meta.gid()), (uid, www));
    drop(uwsgi);
    let _ = std::fs::remove_dir_all(&run);
}

/// `"mount": true`: uWSGI serves the app under `location` and moves the
/// prefix from `PATH_INFO` to `SCRIPT_NAME`, so a project whose URLs start at
/// `/` works under `/blog/`; without it the path is passed unchanged.
#[test]
fn mount_moves_the_location_prefix_out_of_path_info() {
    let app = ScratchApp::new();
    for (pkg, mount, want) in [
        ("dpt-gen-uwsgi-mount", true, "/ping"),
        ("dpt-gen-uwsgi-nomount", false, "/blog/ping"),
    ] {
        let extra = format!(r#""location":"/blog/","mount":{mount}"#);
        let (uwsgi, sock, run) = serve(&app, pkg, &extra, "/blog/ping");
        let resp = uwsgi_request(&sock, "/blog/ping").unwrap();
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.contains(&format!(r#""path": "{want}""#)),
            "mount={mount}: {resp}"
        );
        drop(uwsgi);
        let _ = std::fs::remove_dir_all(&run);
    }
}
