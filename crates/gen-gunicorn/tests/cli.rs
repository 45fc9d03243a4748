//! gen-gunicorn as users run it, and its config as real gunicorn reads it.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{Generator, assert_success, cache_dir, fixtures, write};

fn tool() -> Generator {
    Generator {
        tool: "gen-gunicorn",
        bin: assert_cmd::cargo::cargo_bin!("gen-gunicorn").to_path_buf(),
        args: vec![],
        golden_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"),
        ext: "conf.py",
        example_install_path: "/opt/www/gunicorn/wechat.conf.py",
        mode: 0o644,
        specs: "specs/gunicorn",
    }
}

debpipe_testkit::generator_contract_tests!(tool());

/// gunicorn from PyPI, in the tools venv `scripts/install-deps` fills
/// (Debian's is 20.1, without the uwsgi protocol).
fn gunicorn() -> PathBuf {
    let g = cache_dir().join("tools-venv/bin/gunicorn");
    assert!(
        g.is_file(),
        "{} missing: run scripts/install-deps --tools",
        g.display()
    );
    g
}

/// `gunicorn --check-config` on a generated config: it reads every setting
/// (a bad value fails), loads the worker class and imports the entry point
/// from the config's `chdir`, which is pointed at a scratch project holding
/// `module` (the entry point's module) with `body`.
fn check_config(spec: &Path, module: &str, body: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("app.conf.py");
    assert_success(
        &tool()
            .cmd()
            .arg("-o")
            .arg(&conf)
            .arg(spec)
            .output()
            .unwrap(),
    );
    let project = dir.path().join("project");
    write(&project.join(format!("{module}.py")), body);
    let text = std::fs::read_to_string(&conf).unwrap();
    let chdir = text
        .lines()
        .find(|l| l.starts_with("chdir = "))
        .expect("the config sets chdir");
    let moved = text.replace(chdir, &format!("chdir = \"{}\"", project.display()));
    std::fs::write(&conf, moved).unwrap();
    Command::new(gunicorn())
        .arg("--check-config")
        .arg("--config")
        .arg(&conf)
        .env("PYTHONPATH", &project)
        .output()
        .unwrap()
}

const WSGI_APP: &str = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";
const ASGI_APP: &str = "async def application(scope, receive, send):\n    pass\n";

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn gunicorn_accepts_the_generated_configs() {
    for (spec, module, body) in [
        ("specs/gunicorn/example.json", "debpipe_wsgi", WSGI_APP),
        ("specs/gunicorn/minimal.json", "debpipe_asgi", ASGI_APP),
    ] {
        let out = check_config(&fixtures().join(spec), module, body);
        assert!(
            out.status.success(),
            "{spec}: gunicorn refused: {}",
            text(&out)
        );
    }
}

/// The negative control of the check above: gunicorn's check fails when the
/// entry point does not import, and when a setting has a bad value.
#[test]
fn gunicorn_check_fails_on_a_broken_app_or_a_bad_value() {
    let out = check_config(
        &fixtures().join("specs/gunicorn/example.json"),
        "debpipe_wsgi",
        "raise RuntimeError('broken release')\n",
    );
    assert!(!out.status.success(), "a broken app passed: {}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.json");
    write(
        &spec,
        r#"{"module":"wechat","version":"1","app_server":"gunicorn","gunicorn_options":[["keepalive","often"]]}"#,
    );
    let out = check_config(&spec, "debpipe_wsgi", WSGI_APP);
    assert!(
        !out.status.success(),
        "keepalive=often passed: {}",
        text(&out)
    );
}

#[test]
fn a_uwsgi_spec_is_refused_naming_app_server() {
    let out = tool()
        .cmd()
        .arg(fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`app_server`") && err.contains("gen-uwsgi"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
