//! The maintainer scripts run for real on this host, as dpkg runs them (no
//! `DPKG_ROOT`), for a throwaway package: a real system user and group,
//! real ownership, real `dpkg-statoverride`. The service tools
//! (`deb-systemd-*`, `invoke-rc.d`, `update-rc.d`, `systemctl`) are stubs
//! first on `PATH` that log their calls, and `manage` is a stub that logs
//! each command with the environment it got, so the order of the steps and
//! the precedence of the environment can be read back. Everything the
//! package made on the host is removed when the test ends, even on failure.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{assert_success, cmd};

/// A throwaway package installed on this host by running its maintainer
/// scripts.
pub struct HostPkg {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub area: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
    pub app: PathBuf,
    pub etc: PathBuf,
    pub env_file: PathBuf,
    pub site_link: PathBuf,
    pub init_d: Vec<PathBuf>,
}

fn write(p: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The stubs' log: one line per call.
const STUB: &str = "#!/bin/sh\nprintf '%s\\n' \"${0##*/} $*\" >>\"$STUB_LOG\"\nexit 0\n";

impl HostPkg {
    /// `tag` makes the package name unique to a test; `extra` adds fields
    /// to the spec (a JSON object's inner fields).
    #[allow(clippy::too_many_lines)] // one tree, set up in the order dpkg would
    pub fn new(tag: &str, extra: &str) -> Self {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .unwrap()
                .stdout
                .starts_with(b"0\n"),
            "these tests run the scripts as dpkg does: as root"
        );
        let name = format!("dpc{tag}-{}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("debpipe-ctl")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = dir.path();
        let app = d.join("dpc-app");
        let venv = d.join("venv-dpc");
        let state = d.join(format!("lib/{name}"));
        let log = d.join("log");
        let etc = PathBuf::from(format!("/etc/{name}"));
        let staging = d.join("stage");
        // The conffile only its group may read, as the app ships it.
        write(
            &staging.join(format!("etc/{name}/local.cfg")),
            "[db]\npassword = x\n",
            0o640,
        );
        write(
            &staging.join(format!("etc/nginx/sites-available/{name}.conf")),
            "server {}\n",
            0o644,
        );
        let spec = d.join("app.json");
        let sep = if extra.is_empty() { "" } else { "," };
        std::fs::write(
            &spec,
            format!(
                r#"{{"module":"dpc","version":"1.0","package":"{name}","maintainer":"A <a@example.com>",
                "app_dir":"{}","venv":"{}","state_dir":"{}","log_dir":"{}",
                "media":{{"url":"/media/"}},"migrate":true,
                "env":{{"FOO":"from-spec","GREETING":"hello world"}}{sep}{extra}}}"#,
                app.display(),
                venv.display(),
                state.display(),
                log.display(),
            ),
        )
        .unwrap();
        let out = cmd()
            .arg(&spec)
            .arg("--root")
            .arg(&staging)
            .output()
            .unwrap();
        assert_success(&out);
        let area = staging.join("DEBIAN");
        // The installed tree, as dpkg would have unpacked it.
        std::fs::create_dir_all(&app).unwrap();
        // A fake Django: setup() logs the environment and user it runs with
        // (postinst imports the entry point as the service user, in a
        // directory that user may write), and fails while `fail-preflight`
        // exists; the entry point is a module of the app.
        std::fs::create_dir_all(d.join("pylog")).unwrap();
        std::fs::set_permissions(d.join("pylog"), std::fs::Permissions::from_mode(0o777)).unwrap();
        write(
            &venv.join("lib/fake/django/__init__.py"),
            &format!(
                "import os, pwd\n\
                 def setup():\n\
                 \x20   e = os.environ.get\n\
                 \x20   with open('{d}/pylog/imports', 'a') as f:\n\
                 \x20       f.write('import as %s FOO=%s GREETING=%s SETTINGS=%s\\n' % (pwd.getpwuid(os.getuid()).pw_name, e('FOO', 'unset'), e('GREETING', 'unset'), e('DJANGO_SETTINGS_MODULE', 'unset')))\n\
                 \x20   if os.path.exists('{d}/fail-preflight'):\n\
                 \x20       raise RuntimeError('django.core.exceptions.ImproperlyConfigured: DB_PASSWORD is not set')\n",
                d = d.display()
            ),
            0o644,
        );
        write(
            &venv.join("lib/fake/debpipe_wsgi.py"),
            "application = object()\n",
            0o644,
        );
        write(
            &venv.join("bin/python3"),
            &format!(
                "#!/bin/sh\nPYTHONPATH={}/lib/fake exec /usr/bin/python3 \"$@\"\n",
                venv.display()
            ),
            0o755,
        );
        // manage: logs its command, the environment and the user; `fail_me`
        // fails, and so does the preflight while `fail-preflight` exists.
        write(
            &venv.join("bin/manage"),
            &format!(
                "#!/bin/sh\nd={}\n\
                 printf '%s\\n' \"manage $* FOO=${{FOO-unset}} GREETING=${{GREETING-unset}} SETTINGS=${{DJANGO_SETTINGS_MODULE-unset}}\" >>\"$d/calls\"\n\
                 case \"$1\" in\n\
                 shell|check) if [ -e \"$d/fail-preflight\" ]; then echo 'django.core.exceptions.ImproperlyConfigured: DB_PASSWORD is not set'; exit 1; fi ;;\n\
                 fail_me) exit 3 ;;\n\
                 migrate|clearsessions|never_run) echo \"$1\" >>\"$d/db\" ;;\n\
                 esac\n",
                d.display()
            ),
            0o755,
        );
        let bin = d.join("bin");
        for tool in [
            "deb-systemd-helper",
            "deb-systemd-invoke",
            "invoke-rc.d",
            "update-rc.d",
            "systemctl",
        ] {
            write(&bin.join(tool), STUB, 0o755);
        }
        // The conffile as dpkg unpacks it: root:root, its staged mode.
        write(&etc.join("local.cfg"), "[db]\npassword = x\n", 0o640);
        let site = PathBuf::from(format!("/etc/nginx/sites-available/{name}.conf"));
        let site_link = PathBuf::from(format!("/etc/nginx/sites-enabled/{name}.conf"));
        std::fs::create_dir_all("/etc/nginx/sites-enabled").unwrap();
        write(&site, "server {}\n", 0o644);
        Self {
            env_file: etc.join(format!("{name}.env")),
            name,
            area,
            state,
            log,
            app,
            etc,
            site_link,
            init_d: Vec::new(),
            dir,
        }
    }

    /// A SysV script for the daemon `name` (what gen-init would ship).
    pub fn ship_init_script(&mut self, daemon: &str) {
        let p = PathBuf::from(format!("/etc/init.d/{}-{daemon}", self.name));
        write(&p, "#!/bin/sh\nexit 0\n", 0o755);
        self.init_d.push(p);
    }

    /// Run a maintainer script with dpkg's arguments: exit code and output.
    pub fn run(&self, script: &str, args: &[&str]) -> (i32, String) {
        let d = self.dir.path();
        let out = Command::new(self.area.join(script))
            .args(args)
            .env_remove("DPKG_ROOT")
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    d.join("bin").display()
                ),
            )
            .env("STUB_LOG", d.join("calls"))
            .env_remove("FOO")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    pub fn ok(&self, script: &str, args: &[&str]) -> String {
        let (code, out) = self.run(script, args);
        assert_eq!(code, 0, "{script} {args:?}: {out}");
        out
    }

    /// The calls logged since the last `take_calls`.
    pub fn take_calls(&self) -> Vec<String> {
        let p = self.dir.path().join("calls");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let _ = std::fs::remove_file(&p);
        text.lines().map(str::to_string).collect()
    }

    pub fn db(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("db")).unwrap_or_default()
    }

    pub fn fail_preflight(&self, on: bool) {
        let p = self.dir.path().join("fail-preflight");
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for HostPkg {
    fn drop(&mut self) {
        let _ = Command::new("dpkg-statoverride")
            .args(["--remove", "--quiet"])
            .arg(self.etc.join("local.cfg"))
            .status();
        let _ = std::fs::remove_dir_all(&self.etc);
        let _ = std::fs::remove_file(&self.site_link);
        let _ = std::fs::remove_file(format!("/etc/nginx/sites-available/{}.conf", self.name));
        for p in &self.init_d {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_file(format!("/run/{}.pid", self.name));
        let _ = std::fs::remove_dir_all(format!("/run/{}", self.name));
        let _ = Command::new("deluser")
            .args(["--quiet", "--system", &self.name])
            .output();
        let _ = Command::new("delgroup")
            .args(["--quiet", "--system", &self.name])
            .output();
    }
}

fn owner(p: &Path) -> String {
    let m = std::fs::symlink_metadata(p).unwrap();
    let name = |flag: &str, id: u32| {
        let out = Command::new("getent")
            .arg(flag)
            .arg(id.to_string())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    format!("{}:{}", name("passwd", m.uid()), name("group", m.gid()))
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chown_www_data(p: &Path) {
    let (uid, gid) = debpipe_testkit::www_data();
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

/// A process running as `user`, standing for the service's uWSGI master
/// (the SysV pidfile names it); killed on drop.
fn fake_master(pkg: &HostPkg, user: &str) -> debpipe_testkit::KillOnDrop {
    let child = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--clear-groups",
            "sleep",
            "300",
        ])
        .spawn()
        .unwrap();
    std::fs::write(
        format!("/run/{}.pid", pkg.name),
        format!("{}\n", child.id()),
    )
    .unwrap();
    assert!(debpipe_testkit::wait_until(5, || {
        std::fs::metadata(format!("/proc/{}", child.id())).is_ok_and(|m| {
            let (uid, _) = if user == "www-data" {
                debpipe_testkit::www_data()
            } else {
                (m.uid(), 0)
            };
            m.uid() == uid
        })
    }));
    debpipe_testkit::KillOnDrop(child)
}

/// An upgrade from a version whose service ran as www-data: the package's
/// own user and group are made (nginx's user is not in the group), what
/// www-data owned in the state directory, media, secret key and logs moves
/// over, a file owned by someone else and the target of a symlink stay as
/// they were, and the master running as www-data is restarted (a reload
/// would keep its user).
#[test]
fn upgrade_from_www_data_moves_ownership_over_without_following_symlinks() {
    let pkg = HostPkg::new("u", "");
    let outside = pkg.dir.path().join("outside");
    std::fs::write(&outside, "not the package's").unwrap();
    chown_www_data(&outside);
    let media = pkg.state.join("media");
    std::fs::create_dir_all(&media).unwrap();
    for (p, m) in [
        (pkg.state.clone(), 0o750),
        (media.clone(), 0o750),
        (pkg.state.join("db.sqlite3"), 0o640),
        (pkg.state.join("secret_key"), 0o600),
        (media.join("upload.png"), 0o644),
    ] {
        if !p.exists() {
            std::fs::write(&p, "x").unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        chown_www_data(&p);
    }
    std::os::unix::fs::symlink(&outside, pkg.state.join("link")).unwrap();
    chown_www_data(&pkg.state.join("link"));
    std::fs::write(pkg.state.join("roots"), "root's").unwrap();
    std::fs::create_dir_all(&pkg.log).unwrap();
    for f in ["dpc.log", "dpc.log.1"] {
        std::fs::write(pkg.log.join(f), "log").unwrap();
        chown_www_data(&pkg.log.join(f));
    }
    let _master = fake_master(&pkg, "www-data");
    // An older version with this group had added nginx's user to it.
    for args in [
        vec!["addgroup", "--system", "--quiet", pkg.name.as_str()],
        vec!["adduser", "--quiet", "www-data", pkg.name.as_str()],
    ] {
        debpipe_testkit::run_ok(
            args[0],
            &args[1..]
                .iter()
                .map(std::ffi::OsStr::new)
                .collect::<Vec<_>>(),
        );
    }

    let out = pkg.ok("postinst", &["configure", "0.9"]);
    let me = format!("{0}:{0}", pkg.name);
    for p in [
        pkg.state.clone(),
        pkg.state.join("db.sqlite3"),
        pkg.state.join("secret_key"),
        pkg.state.join("link"),
        pkg.log.join("dpc.log"),
        pkg.log.join("dpc.log.1"),
    ] {
        assert_eq!(owner(&p), me, "{}", p.display());
    }
    // Uploads stay in nginx's group: it serves them.
    for p in [media.clone(), media.join("upload.png")] {
        assert_eq!(
            owner(&p),
            format!("{}:www-data", pkg.name),
            "{}",
            p.display()
        );
    }
    assert_eq!(mode(&pkg.state.join("secret_key")), 0o600);
    assert_eq!(owner(&outside), "www-data:www-data", "followed a symlink");
    assert_eq!(owner(&pkg.state.join("roots")), "root:root");
    let groups = Command::new("id")
        .args(["-nG", "www-data"])
        .output()
        .unwrap()
        .stdout;
    assert!(
        !String::from_utf8_lossy(&groups)
            .split_whitespace()
            .any(|g| g == pkg.name),
        "www-data is in the app's group"
    );
    // A reload keeps the master's user: it is stopped and started instead.
    assert!(out.contains("ran as www-data; restarting it as"), "{out}");
    let calls = pkg.take_calls();
    let stop = calls
        .iter()
        .position(|c| *c == format!("invoke-rc.d {} stop", pkg.name));
    let start = calls
        .iter()
        .position(|c| *c == format!("invoke-rc.d {} start", pkg.name));
    assert!(stop.is_some() && stop < start, "{calls:#?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.ends_with(" restart") && c.contains(&format!("invoke-rc.d {} ", pkg.name))),
        "{calls:#?}"
    );
    // An upgrade never makes the operator's file.
    assert!(!pkg.env_file.exists());
}

/// A first install: `env_file` made 0640 root:group with its header and the
/// package's variables as comments; the conffile readable by its group
/// alone gets the service's group (dpkg-statoverride); the steps run in the
/// documented order, each through manage with `debpipe.env` then `env_file`;
/// daemons restarted, the site linked and nginx reloaded. An upgrade keeps
/// the operator's file and values; remove stops the daemons and takes the
/// site away (nginx reloaded), a new install brings it back, purge leaves
/// nothing.
#[test]
#[allow(clippy::too_many_lines)] // one package's life, step by step
fn first_install_upgrade_remove_and_purge_for_real() {
    let mut pkg = HostPkg::new(
        "f",
        r#""release_commands":[["clearsessions"],["remove_stale_contenttypes","--no-input"]],
        "daemons":{"worker":{"command":["celery","worker"]}},
        "timers":{"tidy":{"command":["manage","tidy"],"schedule":"daily"}}"#,
    );
    pkg.ship_init_script("worker");
    // The package's own environment file, as stage-django ships it.
    write(
        &pkg.app.join("debpipe.env"),
        "DJANGO_SETTINGS_MODULE=debpipe_settings\nFOO=from-debpipe-env\nGREETING='hello world'\n",
        0o644,
    );
    pkg.ok("postinst", &["configure", ""]);
    let n = &pkg.name;

    let env = std::fs::read_to_string(&pkg.env_file).unwrap();
    assert_eq!(mode(&pkg.env_file), 0o640);
    assert_eq!(owner(&pkg.env_file), format!("root:{n}"));
    assert!(env.starts_with(&format!(
        "# {}: the operator's configuration of {n}.\n",
        pkg.env_file.display()
    )));
    assert!(
        env.contains("KEY=VALUE") && env.contains("single quotes"),
        "{env}"
    );
    assert!(
        env.contains("\n# FOO=from-spec\n# GREETING='hello world'\n"),
        "{env}"
    );
    assert!(
        env.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "{env}"
    );
    // sh reads the file as it is (all comments): nothing set, no error.
    assert!(
        Command::new("sh")
            .arg("-ec")
            .arg(format!(". {}", pkg.env_file.display()))
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(owner(&pkg.etc.join("local.cfg")), format!("root:{n}"));
    assert_eq!(mode(&pkg.etc.join("local.cfg")), 0o640);
    assert_eq!(owner(&pkg.state), format!("{n}:{n}"));
    // nginx passes through to the media inside it, and lists nothing.
    assert_eq!(mode(&pkg.state), 0o751);
    let media = pkg.state.join("media");
    assert_eq!(owner(&media), format!("{n}:www-data"));
    assert_eq!(mode(&media), 0o2750);
    assert_eq!(
        owner(&PathBuf::from(format!("/run/{n}"))),
        format!("{n}:www-data")
    );

    let calls = pkg.take_calls();
    let manage: Vec<_> = calls.iter().filter(|c| c.starts_with("manage ")).collect();
    let env_seen = " FOO=from-debpipe-env GREETING=hello world SETTINGS=debpipe_settings";
    assert_eq!(
        manage,
        [
            &format!("manage check --deploy{env_seen}"),
            &format!("manage migrate --noinput{env_seen}"),
            &format!("manage clearsessions{env_seen}"),
            &format!("manage remove_stale_contenttypes --no-input{env_seen}"),
        ],
        "{calls:#?}"
    );
    let imports = std::fs::read_to_string(pkg.dir.path().join("pylog/imports")).unwrap_or_default();
    assert_eq!(
        imports.lines().next(),
        Some(format!("import as {n}{env_seen}").as_str()),
        "the preflight imports the entry point as the service user with the app's environment"
    );
    let at = |want: &str| {
        calls
            .iter()
            .position(|c| c == want)
            .unwrap_or_else(|| panic!("no `{want}` in {calls:#?}"))
    };
    let last_manage = calls
        .iter()
        .rposition(|c| c.starts_with("manage "))
        .unwrap();
    assert!(at(&format!("invoke-rc.d {n}-worker restart")) > last_manage);
    at(&format!("update-rc.d {n}-worker defaults"));
    at(&format!("deb-systemd-helper enable {n}-worker.service"));
    at(&format!("deb-systemd-helper enable {n}-tidy.timer"));
    assert!(at("invoke-rc.d nginx reload") > last_manage);
    assert_eq!(
        std::fs::read_link(&pkg.site_link).unwrap(),
        PathBuf::from(format!("../sites-available/{n}.conf"))
    );

    // The operator configures; an upgrade keeps the file and its values win.
    let mine = format!("{env}FOO=from-operator\n");
    std::fs::write(&pkg.env_file, &mine).unwrap();
    pkg.ok("postinst", &["configure", "1.0"]);
    assert_eq!(std::fs::read_to_string(&pkg.env_file).unwrap(), mine);
    assert_eq!(owner(&pkg.env_file), format!("root:{n}"));
    let calls = pkg.take_calls();
    assert!(
        calls.contains(
            &"manage clearsessions FOO=from-operator GREETING=hello world SETTINGS=debpipe_settings"
                .to_string()
        ),
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c == "invoke-rc.d nginx reload"),
        "same nginx file: no reload"
    );

    pkg.ok("prerm", &["remove"]);
    pkg.ok("postrm", &["remove"]);
    let calls = pkg.take_calls();
    assert!(
        calls.contains(&format!("invoke-rc.d {n}-worker stop")),
        "{calls:#?}"
    );
    assert!(
        calls.contains(&"invoke-rc.d nginx reload".to_string()),
        "{calls:#?}"
    );
    assert!(!pkg.site_link.exists() && std::fs::symlink_metadata(&pkg.site_link).is_err());
    assert!(pkg.env_file.exists(), "remove keeps the operator's file");

    // Installed again after the remove: the site is back, nginx reloaded.
    pkg.ok("postinst", &["configure", "1.0"]);
    assert!(
        std::fs::symlink_metadata(&pkg.site_link).is_ok(),
        "site not enabled again"
    );
    assert!(
        pkg.take_calls()
            .contains(&"invoke-rc.d nginx reload".to_string())
    );

    // An admin who disables the site keeps it disabled across upgrades.
    std::fs::remove_file(&pkg.site_link).unwrap();
    pkg.ok("postinst", &["configure", "1.0"]);
    assert!(
        std::fs::symlink_metadata(&pkg.site_link).is_err(),
        "re-enabled"
    );
    std::os::unix::fs::symlink(format!("../sites-available/{n}.conf"), &pkg.site_link).unwrap();

    pkg.ok("prerm", &["remove"]);
    pkg.ok("postrm", &["remove"]);
    // dpkg removes the conffiles before postrm purge.
    std::fs::remove_file(pkg.etc.join("local.cfg")).unwrap();
    pkg.take_calls();
    pkg.ok("postrm", &["purge"]);
    assert!(
        !pkg.env_file.exists() && !pkg.etc.exists(),
        "env_file or its directory left"
    );
    assert!(!pkg.state.exists());
    assert!(std::fs::symlink_metadata(&pkg.site_link).is_err());
    let listed = Command::new("dpkg-statoverride")
        .arg("--list")
        .arg(pkg.etc.join("local.cfg"))
        .status()
        .unwrap();
    assert!(!listed.success(), "statoverride left");
    let calls = pkg.take_calls();
    assert!(
        calls.contains(&format!("update-rc.d {n}-worker remove")),
        "{calls:#?}"
    );
    assert!(
        calls.contains(&format!("deb-systemd-helper purge {n}-tidy.timer")),
        "{calls:#?}"
    );
    assert!(
        calls.contains(&format!("deb-systemd-helper purge {n}-worker.service")),
        "{calls:#?}"
    );
}

/// A refused preflight: nothing has written to the database (no migrate, no
/// release command). At a first install the message says the configuration
/// is the likely cause and names `env_file`; with the old version running, it
/// says that one keeps serving. A failing release command fails postinst
/// naming it, and nothing after it runs, nor any restart.
#[test]
fn refused_preflight_writes_nothing_and_failing_release_command_is_named() {
    let pkg = HostPkg::new(
        "r",
        r#""release_commands":[["clearsessions"],["fail_me","--now"],["never_run"]],
        "daemons":{"worker":{"command":["celery","worker"]}}"#,
    );
    // `postinst configure OLD` fails (exit 1) saying `says`; all it said.
    let fails = |old: &str, says: &str| {
        let (code, out) = pkg.run("postinst", &["configure", old]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(says), "{out}");
        out
    };
    pkg.fail_preflight(true);
    let out = fails("", "ImproperlyConfigured: DB_PASSWORD is not set");
    assert!(
        out.contains("the likely cause is the configuration")
            && out.contains(&pkg.env_file.display().to_string()),
        "{out}"
    );
    assert!(!out.contains("keeps the old version"), "{out}");
    assert_eq!(pkg.db(), "", "wrote to the database before the preflight");
    assert!(!pkg.take_calls().iter().any(|c| c.contains("restart")));

    let _master = fake_master(&pkg, &pkg.name);
    fails("0.9", "the running service keeps the old version");
    assert_eq!(pkg.db(), "");

    pkg.fail_preflight(false);
    pkg.take_calls();
    fails("0.9", "the release command 'manage fail_me --now' failed");
    assert_eq!(pkg.db(), "migrate\nclearsessions\n");
    let calls = pkg.take_calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("restart") || c.contains("reload")),
        "{calls:#?}"
    );
}
