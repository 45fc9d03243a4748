//! The web service's unit and socket unit as systemd reads them:
//! `systemd-analyze verify` and `security`, and the environment its
//! `EnvironmentFile=` lines give, through systemd's own parser.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{EnvFile, assert_verifies, assert_verify_rejects, generate, write};

/// `systemd-analyze security --offline=true --threshold=20`: the unit is in
/// systemd's "OK" band (exposure at most 2.0) for the example, a gevent and a
/// threads spec, one that widens it (W+X memory, limit-as, an extra
/// writable path), and gunicorn's (WSGI and ASGI); the check fails on the
/// unhardened unit of before.
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
        (
            "dpt-sec-gunicorn",
            r#","app_server":"gunicorn","threads":4"#,
        ),
        (
            "dpt-sec-asgi",
            r#","app_server":"gunicorn-asgi","asgi":"m.asgi""#,
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
/// binary that exists here, and gunicorn's), and does reject a broken one,
/// so the check can fail.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    // gunicorn runs from the venv: a stand-in that exists, for verify.
    let venv = dir.path().join("venvs/dpt-unit-g");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::copy("/bin/true", venv.join("bin/gunicorn")).unwrap();
    let gunicorn = format!(
        r#""app_server":"gunicorn","venv":"{}","app_dir":"/opt/www/dpt-unit-g""#,
        venv.display()
    );
    for (name, extra) in [
        ("dpt-unit-a", r#""uwsgi_bin":"/usr/bin/uwsgi""#),
        (
            "dpt-unit-b",
            r#""uwsgi_bin":"/usr/bin/uwsgi","user":"appuser","group":"www-data","harakiri":5"#,
        ),
        ("dpt-unit-g", gunicorn.as_str()),
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
            assert_verifies(u);
        }
        let broken = dir.path().join("dpt-broken.service");
        let text = std::fs::read_to_string(&unit).unwrap();
        std::fs::write(&broken, text.replace("Type=notify", "Type=notifyy")).unwrap();
        assert_verify_rejects(&broken, "a bad Type");
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
