//! gen-control as users run it; its maintainer scripts checked by shellcheck
//! and run with every argument dpkg may pass, in a scratch root.
#![allow(clippy::unwrap_used)] // test helpers: a failed step should panic

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use debpipe_testkit::{Generator, SCRUB_ENV, assert_golden, fixtures};

/// The maintainer scripts run for real on this host (a throwaway package).
#[path = "cli/host.rs"]
mod host;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The generator contract, on the printed control file.
fn tool() -> Generator {
    Generator {
        tool: "gen-control",
        bin: assert_cmd::cargo::cargo_bin!("gen-control").to_path_buf(),
        args: vec![],
        golden_dir: golden_dir(),
        ext: "control",
        example_install_path: "",
        mode: 0o644,
    }
}

fn cmd() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("gen-control"));
    for v in SCRUB_ENV {
        c.env_remove(v);
    }
    c
}

const SCRIPTS: [&str; 3] = ["postinst", "prerm", "postrm"];

/// Write the example's control area with mkvenv-like facts into `dir`.
fn example_area(dir: &Path) -> PathBuf {
    let area = dir.join("DEBIAN");
    let out = cmd()
        .arg(fixtures().join("specs/example.json"))
        .arg("--facts")
        .arg(fixtures().join("facts/django-uwsgi.json"))
        .arg("--out-dir")
        .arg(&area)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", area.display())
    );
    area
}

/// `-o DIR` and `--out DIR`, deprecated spellings of `--out-dir DIR`,
/// still write the same area, with one warning line naming the new form.
#[test]
fn deprecated_out_spellings_warn_once_and_write_the_same_area() {
    let dir = tempfile::tempdir().unwrap();
    let want = example_area(dir.path());
    for flag in ["-o", "--out"] {
        let area = dir.path().join(flag.trim_start_matches('-'));
        let out = cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--facts")
            .arg(fixtures().join("facts/django-uwsgi.json"))
            .arg(flag)
            .arg(&area)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "gen-control: warning: -o/--out DIR is deprecated, use --out-dir DIR (it goes away in 0.2.0)\n",
            "{flag}"
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n", area.display())
        );
        for name in ["control", "conffiles", "postinst", "prerm", "postrm"] {
            assert_eq!(
                std::fs::read(area.join(name)).unwrap(),
                std::fs::read(want.join(name)).unwrap(),
                "{flag} {name}"
            );
        }
    }
    // Not both at once.
    let out = cmd()
        .args(["-o", "a", "--out-dir", "b"])
        .arg(fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn example_and_minimal_control_match_golden() {
    tool().golden_cases();
}

#[test]
fn example_control_area_matches_golden_with_modes() {
    let dir = tempfile::tempdir().unwrap();
    let area = example_area(dir.path());
    let mut names: Vec<_> = std::fs::read_dir(&area)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["conffiles", "control", "postinst", "postrm", "prerm"]
    );
    for name in &names {
        let path = area.join(name);
        assert_golden(
            golden_dir().join(format!("area/{name}")),
            &std::fs::read(&path).unwrap(),
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        let want = if SCRIPTS.contains(&name.as_str()) {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode, want, "{name}");
    }
}

#[test]
fn help_matches_golden() {
    tool().help_golden();
}

#[test]
fn dash_reads_stdin() {
    tool().dash_reads_stdin();
}

#[test]
fn unknown_flag_is_usage_error_2() {
    let out = cmd().arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_specs_exit_1_name_field_and_write_nothing() {
    tool().bad_specs_rejected();
}

#[test]
fn missing_spec_file_is_named() {
    tool().missing_file_named();
}

#[test]
fn bad_facts_exit_1_name_the_file_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("not-json.json", "{"),
        (
            "bad-relation.json",
            r#"{"shlib_depends":["libc6 (>= 2.36); rm -rf /"]}"#,
        ),
        (
            "bad-arch.json",
            r#"{"architecture":"amd64\nEssential: yes"}"#,
        ),
        ("wrong-type.json", r#"{"python_depends":"python3"}"#),
        // A renamed field is an error, not a silently empty Depends.
        ("unknown-field.json", r#"{"python_deps":["python3"]}"#),
    ] {
        let facts = dir.path().join(name);
        std::fs::write(&facts, text).unwrap();
        let area = dir.path().join("area");
        let out = cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--facts")
            .arg(&facts)
            .arg("--out-dir")
            .arg(&area)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(out.stdout.is_empty());
        assert!(err.contains(&*facts.display().to_string()), "{name}: {err}");
        assert!(!area.exists(), "{name}: wrote the area");
    }
}

/// With --root, conffiles lists every file under STAGE/etc and the area
/// lands in STAGE/DEBIAN; Depends has nginx only when its file is staged.
#[test]
fn root_lists_staged_etc_files_as_conffiles() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path();
    for f in [
        "etc/init.d/wechat-api",
        "etc/wechat/wechat.yaml",
        "etc/nginx/sites-available/wechat-api.conf",
    ] {
        let p = stage.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }
    let out = cmd()
        .arg(fixtures().join("specs/example.json"))
        .arg("--root")
        .arg(stage)
        .output()
        .unwrap();
    assert!(out.status.success());
    let area = stage.join("DEBIAN");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", area.display())
    );
    assert_eq!(
        std::fs::read_to_string(area.join("conffiles")).unwrap(),
        "/etc/init.d/wechat-api\n/etc/nginx/sites-available/wechat-api.conf\n/etc/wechat/wechat.yaml\n"
    );
    assert!(
        std::fs::read_to_string(area.join("control"))
            .unwrap()
            .contains("Depends: nginx, ")
    );

    std::fs::remove_file(stage.join("etc/nginx/sites-available/wechat-api.conf")).unwrap();
    assert!(
        cmd()
            .arg(fixtures().join("specs/example.json"))
            .arg("--root")
            .arg(stage)
            .status()
            .unwrap()
            .success()
    );
    let control = std::fs::read_to_string(area.join("control")).unwrap();
    let deps = control
        .lines()
        .find(|l| l.starts_with("Depends: "))
        .unwrap();
    assert!(!deps.contains("nginx"), "{deps}");
}

/// shellcheck and `sh -n` pass every maintainer script.
#[test]
fn maintainer_scripts_pass_shellcheck_and_sh_n() {
    let dir = tempfile::tempdir().unwrap();
    let area = example_area(dir.path());
    for s in SCRIPTS {
        let p = area.join(s);
        let out = Command::new("shellcheck").arg(&p).output().unwrap();
        assert!(
            out.status.success(),
            "{s}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
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

/// The secret key postinst made: 96 hex digits, mode 0600, the same after
/// every configure.
fn check_secret(root: &Path, first_key: &mut Option<String>) {
    let secret = root.join("var/lib/wechat-api/secret_key");
    let key = std::fs::read_to_string(&secret).unwrap();
    assert!(
        key.len() == 96 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key:?}"
    );
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "secret key mode");
    let first = first_key.get_or_insert_with(|| key.clone());
    assert_eq!(*first, key, "a second configure changed the secret key");
}

fn run_script(area: &Path, root: &Path, script: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(area.join(script))
        .args(args)
        .env("DPKG_ROOT", root)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Every call dpkg may make, in an order a real life could have.
const DPKG_CALLS: &[(&str, &[&str])] = &[
    ("postinst", &["configure", ""]),
    ("postinst", &["configure", "0.9"]),
    ("postinst", &["abort-upgrade", "1.1"]),
    ("postinst", &["abort-remove"]),
    ("postinst", &["abort-remove", "in-favour", "other", "2.0"]),
    (
        "postinst",
        &[
            "abort-deconfigure",
            "in-favour",
            "other",
            "2.0",
            "removing",
            "x",
            "1",
        ],
    ),
    ("postinst", &["triggered", "/usr/lib/python3"]),
    ("prerm", &["upgrade", "1.1"]),
    ("prerm", &["failed-upgrade", "1.1"]),
    (
        "prerm",
        &[
            "deconfigure",
            "in-favour",
            "other",
            "2.0",
            "removing",
            "x",
            "1",
        ],
    ),
    ("postrm", &["upgrade", "1.1"]),
    ("postrm", &["failed-upgrade", "0.9"]),
    ("postrm", &["abort-install"]),
    ("postrm", &["abort-install", "0.9"]),
    ("postrm", &["abort-upgrade", "0.9"]),
    ("postrm", &["disappear", "other", "2.0"]),
    ("prerm", &["remove"]),
    ("postrm", &["remove"]),
    ("postinst", &["configure", "1.0"]),
    ("prerm", &["remove"]),
    ("postrm", &["remove"]),
    ("postrm", &["purge"]),
];

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

/// A spec without `maintainer` takes it from DEBFULLNAME/DEBEMAIL; with
/// neither, the error names the field and the variables, and nothing is
/// written.
#[test]
fn maintainer_from_environment_or_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let area = dir.path().join("area");
    let minimal = fixtures().join("specs/minimal.json");
    let out = cmd()
        .arg(&minimal)
        .arg("--out-dir")
        .arg(&area)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`maintainer`") && err.contains("DEBFULLNAME") && err.contains("DEBEMAIL"),
        "{err}"
    );
    assert!(!area.exists(), "wrote the area");

    let out = cmd()
        .arg(&minimal)
        .env("DEBFULLNAME", "Jo Doe")
        .env("DEBEMAIL", "jo@example.org")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\nMaintainer: Jo Doe <jo@example.org>\n")
    );
}

/// The seed's convention: a staged app with scripts/updateconfig.py and no
/// `config_hook` in the spec gets it run by postinst; without the file,
/// postinst runs no hook.
#[test]
fn seed_hook_runs_by_default_when_the_app_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path();
    let spec = stage.join("app.json");
    std::fs::write(
        &spec,
        r#"{"module":"wechat","version":"1.0","maintainer":"A <a@example.com>"}"#,
    )
    .unwrap();
    let postinst = || {
        let out = cmd().arg(&spec).arg("--root").arg(stage).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(stage.join("DEBIAN/postinst")).unwrap()
    };
    assert!(postinst().contains("\nCONFIG_HOOK=''\n"));
    let hook = stage.join("opt/www/wechat/scripts/updateconfig.py");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "print('hi')\n").unwrap();
    assert!(postinst().contains("\nCONFIG_HOOK='scripts/updateconfig.py'\n"));
}

/// The script templates themselves, as shellcheck reads files: complete
/// scripts with example values in their variable block.
#[test]
fn script_files_pass_shellcheck() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    for s in SCRIPTS {
        let p = dir.join(format!("{s}.sh"));
        let out = Command::new("shellcheck").arg(&p).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stdout)
        );
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
