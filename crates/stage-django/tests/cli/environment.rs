//! debpipe.env and the operator's `env_file`, as the admin helper and the
//! build read them. The `env_file` is `/etc/opt/proj.env`, and /etc/opt a
//! scratch directory bind-mounted in a private mount namespace
//! (`unshare -m`, as root), so the host's /etc is never written.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use super::{Project, assert_success, cmd, write};

/// `argv` run in a mount namespace where /etc/opt is `etc_opt`.
fn with_etc_opt(etc_opt: &Path, argv: &Command) -> Output {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/opt && shift && exec \"$@\"")
        .arg("sh")
        .arg(etc_opt)
        .arg(argv.get_program())
        .args(argv.get_args());
    for (k, v) in argv.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output().unwrap()
}

const SHOW: &str = "import os; print(' '.join(os.environ.get(k, '-') for k in \
    ('E', 'ONLY_SPEC', 'OP', 'DJANGO_SETTINGS_MODULE')), os.getuid(), os.getcwd())";

/// The helper reads debpipe.env, then the operator's `env_file` over it, as
/// root (then switches to the service user) and as the service user (a
/// daemon or timer running `manage CMD`); the build reads `env_file` never.
#[test]
fn manage_reads_debpipe_env_then_env_file_and_the_build_never_does() {
    let p = Project::new("");
    std::fs::set_permissions(&p.top, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmds = p.app().join("site_app/management/commands");
    write(&p.app().join("site_app/management/__init__.py"), "");
    write(&cmds.join("__init__.py"), "");
    write(
        &cmds.join("showenv.py"),
        "import os\nfrom django.conf import settings\nfrom django.core.management.base import BaseCommand\n\
         class Command(BaseCommand):\n    def handle(self, **kw):\n        \
         open(os.path.join(settings.STATIC_ROOT, 'env.txt'), 'w').write(os.environ.get('E', '-') + ' ' + os.environ.get('OP', '-'))\n",
    );
    p.spec_with(
        r#""env":{"E":"from-spec","ONLY_SPEC":"s s"},"env_file":"/etc/opt/proj.env",
           "user":"nobody","group":"nogroup","build_commands":[["showenv"]]"#,
    );
    let etc_opt = tempfile::tempdir().unwrap();
    std::fs::set_permissions(etc_opt.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let env_file = etc_opt.path().join("proj.env");
    write(
        &env_file,
        "# the operator's\nE=from-operator\n\nOP='with space'\n",
    );
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&env_file, Some(0), Some(65534)).unwrap();
    // The build: the spec's env, never the operator's.
    let mut stage = cmd();
    stage
        .arg(&p.spec)
        .args(["--root", "/", "--python", "/usr/bin/python3"]);
    let out = with_etc_opt(etc_opt.path(), &stage);
    assert_success(&out);
    assert_eq!(
        std::fs::read_to_string(p.app().join("staticfiles/env.txt")).unwrap(),
        "from-spec -"
    );
    // The run time: a venv python and a secret key the service user reads.
    let venv_bin = p.top.join("proj-venv/bin");
    std::os::unix::fs::symlink("/usr/bin/python3", venv_bin.join("python3")).unwrap();
    let key = p.top.join("proj-state/secret_key");
    write(&key, "k3y\n");
    std::fs::set_permissions(
        p.top.join("proj-state"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let manage = venv_bin.join("manage");
    let app = p.app().display().to_string();
    let want = |e: &str, op: &str| format!("{e} s s {op} debpipe_settings 65534 {app}\n");
    let run = |as_user: bool, env: &[(&str, &str)]| {
        let mut c = if as_user {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--init-groups", "--"])
                .arg(&manage);
            c
        } else {
            Command::new(&manage)
        };
        c.args(["shell", "-c", SHOW])
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = with_etc_opt(etc_opt.path(), &c);
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    // root: both files read, the operator's values win.
    assert_eq!(
        run(false, &[("E", "from-root-shell")]),
        want("from-operator", "with space")
    );
    // The service user, with the environment a unit gives it: the same.
    assert_eq!(
        run(true, &[("E", "from-operator"), ("OP", "with space")]),
        want("from-operator", "with space")
    );
    // The service user from a bare shell: it reads env_file through its group.
    assert_eq!(run(true, &[]), want("from-operator", "with space"));
    // No env_file (a first install before postinst made it): the spec's.
    std::fs::remove_file(&env_file).unwrap();
    assert_eq!(run(false, &[]), want("from-spec", "-"));
}
