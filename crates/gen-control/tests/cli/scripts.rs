//! The maintainer scripts: shellcheck and sh -n, and runs with every argument dpkg may pass in a scratch root.

use super::*;

/// shellcheck and `sh -n` pass every maintainer script.
#[test]
fn maintainer_scripts_pass_shellcheck_and_sh_n() {
    let dir = tempfile::tempdir().unwrap();
    let area = example_area(dir.path());
    for s in SCRIPTS {
        let p = area.join(s);
        assert_shellcheck(&p);
        assert!(
            Command::new("sh")
                .arg("-n")
                .arg(&p)
                .status()
                .unwrap()
                .success(),
            "{s}"
        );
    }
}

/// Every argument dpkg may pass, run in a scratch root (`DPKG_ROOT`) that
/// holds a venv and the app with its config hook: all succeed, an unknown
/// argument fails, and the side effects are the documented ones.
#[test]
fn maintainer_scripts_handle_every_dpkg_argument_in_a_scratch_root() {
    let dir = tempfile::tempdir().unwrap();
    let area = example_area(dir.path());
    let root = dir.path().join("root");
    let venv = root.join("opt/www/venvs/wechat-api");
    let app = root.join("opt/www/wechat");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", venv.join("bin/python3")).unwrap();
    std::fs::create_dir_all(venv.join("lib/python3.11/site-packages/mod")).unwrap();
    std::fs::write(
        venv.join("lib/python3.11/site-packages/mod/__init__.py"),
        "X = 1\n",
    )
    .unwrap();
    std::fs::create_dir_all(app.join("scripts")).unwrap();
    std::fs::write(
        app.join("scripts/updateconfig.py"),
        "import os\nopen('hook-ran', 'w').write(os.environ['WECHAT_CONFIG'] + ' ' + os.environ['DJANGO_SETTINGS_MODULE'])\n",
    )
    .unwrap();

    let table = DPKG_CALLS;
    let mut first_key: Option<String> = None;
    for (script, args) in table {
        let (code, out) = run_script(&area, &root, script, args);
        assert_eq!(code, 0, "{script} {args:?}: {out}");
        match (*script, args[0]) {
            ("postinst", "configure") => {
                assert!(root.join("var/log/uwsgi/wechat.log").exists());
                check_secret(&root, &mut first_key);
                assert!(
                    venv.join("lib/python3.11/site-packages/mod/__pycache__")
                        .exists(),
                    "not compiled"
                );
                let hook = std::fs::read_to_string(app.join("hook-ran")).unwrap();
                assert_eq!(hook, "/etc/wechat/wechat.yaml debpipe_settings");
            }
            ("prerm", "remove" | "upgrade") => {
                assert!(
                    !venv
                        .join("lib/python3.11/site-packages/mod/__pycache__")
                        .exists(),
                    "bytecode left"
                );
            }
            ("postrm", "purge") => {
                assert!(!root.join("var/log/uwsgi/wechat.log").exists());
                assert!(!root.join("var/lib/wechat-api").exists(), "state dir left");
                assert!(!app.exists() && !venv.exists());
            }
            _ => {}
        }
    }
    for s in SCRIPTS {
        let (code, out) = run_script(&area, &root, s, &["bogus"]);
        assert_eq!(code, 1, "{s} bogus: {out}");
        assert!(out.contains("unknown argument 'bogus'"), "{out}");
    }
}

/// The script templates themselves, as shellcheck reads files: complete
/// scripts with example values in their variable block.
#[test]
fn script_files_pass_shellcheck() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    for s in SCRIPTS {
        let p = dir.join(format!("{s}.sh"));
        assert_shellcheck(&p);
    }
}

/// A spec with daemons, timers, release commands, `env` and a server block
/// shipped in sites-available: every argument dpkg may pass succeeds in a
/// scratch root (`DPKG_ROOT`: no service, user or database is touched), the
/// first configure makes `env_file` 0640 there and purge removes it with its
/// directory, and the site is linked and unlinked in the root.
#[test]
fn production_spec_scripts_handle_every_dpkg_argument_in_a_scratch_root() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let site = stage.join("etc/nginx/sites-available/prod.conf");
    std::fs::create_dir_all(site.parent().unwrap()).unwrap();
    std::fs::write(&site, "server {}\n").unwrap();
    let spec = dir.path().join("app.json");
    std::fs::write(
        &spec,
        r#"{"module":"prod","version":"1.0","package":"prod","maintainer":"A <a@example.com>",
        "env":{"SITE_URL":"https://prod.example.com"},"migrate":true,
        "release_commands":[["clearsessions"]],
        "daemons":{"worker":{"command":["celery","worker"]}},
        "timers":{"tidy":{"command":["manage","tidy"],"schedule":"every 5m"}}}"#,
    )
    .unwrap();
    let out = cmd().arg(&spec).arg("--root").arg(&stage).output().unwrap();
    assert_success(&out);
    let area = stage.join("DEBIAN");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/nginx/sites-available")).unwrap();
    std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
    std::fs::copy(&site, root.join("etc/nginx/sites-available/prod.conf")).unwrap();
    let env_file = root.join("etc/prod/prod.env");
    let link = root.join("etc/nginx/sites-enabled/prod.conf");
    for (script, args) in DPKG_CALLS {
        let (code, out) = run_script(&area, &root, script, args);
        assert_eq!(code, 0, "{script} {args:?}: {out}");
        match (*script, args[0], args.get(1)) {
            ("postinst", "configure", Some(&"")) => {
                let text = std::fs::read_to_string(&env_file).unwrap();
                assert!(
                    text.contains("\n# SITE_URL=https://prod.example.com\n"),
                    "{text}"
                );
                let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o640);
                assert!(std::fs::symlink_metadata(&link).is_ok(), "site not linked");
            }
            ("postrm", "remove", _) => {
                assert!(
                    std::fs::symlink_metadata(&link).is_err(),
                    "site still linked"
                );
                assert!(env_file.exists(), "remove took the operator's file");
            }
            ("postrm", "purge", _) => {
                assert!(!env_file.exists() && !root.join("etc/prod").exists());
            }
            _ => {}
        }
    }
}
