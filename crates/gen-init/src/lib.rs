//! gen-init: app spec -> service definition: a systemd unit or a SysV init
//! script, both running uWSGI in the foreground with the generated ini.
//!
//! Stopping: the ini maps SIGTERM to `gracefully_kill_them_all` (with
//! `die-on-term` alone, uWSGI 2.0 would cut in-flight requests), so both
//! service kinds stop with SIGTERM, wait for the workers to finish, and only
//! then kill. Reload is uWSGI's graceful reload (`r` on the master FIFO, or
//! SIGHUP): the socket stays open, so requests queue instead of failing; the
//! SysV script's `restart` is the same reload when the master runs.
//!
//! The unit is hardened to systemd's "OK" band (`systemd-analyze security`
//! at most 2.0): nothing writable but its runtime and state directories (and
//! `writable_paths`), no capabilities, `@system-service` system calls.
//!
//! The environment, everywhere: the package's `debpipe.env`, then the
//! operator's `env_file` (which wins); uWSGI's ini sets none of it.
//!
//! Modules: this file is the CLI and the web service (unit, socket unit,
//! SysV script, hardening); [`jobs`] the daemons, timers, cron file, the
//! runner of the SysV and cron side, and logrotate.
//!
//! Every value comes from a validated spec whose paths and names hold no
//! character that systemd (`%`, `$`, `\`, `;`) or the shell would expand;
//! the SysV script still single-quotes them.

use std::fmt::Write as _;

use debpipe_core::cli::GenArgs;
use debpipe_core::shell::{Block, Template, Var};
use debpipe_core::{AppSpec, Error, Result};

pub mod jobs;

/// Which service definition to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// systemd unit (`Type=notify`), installed in --unit-dir
    Systemd,
    /// systemd socket unit holding uWSGI's socket across service restarts
    Socket,
    /// LSB init script for start-stop-daemon, installed in /etc/init.d
    Sysv,
    /// systemd unit of the daemon --name, PACKAGE-NAME.service
    Daemon,
    /// SysV script of the daemon --name, /etc/init.d/PACKAGE-NAME
    DaemonSysv,
    /// systemd timer of the timer --name, PACKAGE-NAME.timer
    Timer,
    /// oneshot systemd unit the timer --name starts, PACKAGE-NAME.service
    TimerService,
    /// /etc/cron.d/PACKAGE: the timers when systemd does not run
    Cron,
    /// /usr/libexec/PACKAGE/run-job, which runs a command of the app as
    /// its user with its environment (for the cron lines and SysV daemons)
    Runner,
    /// /etc/logrotate.d/PACKAGE: the SysV logs of uWSGI and the daemons
    Logrotate,
    /// with --root: every file of every daemon and timer (units, SysV
    /// scripts, cron file, runner), one path a line; none without jobs
    Jobs,
}

/// Generate the service definition for an app spec.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Generate the systemd unit or SysV init script for an app spec",
    long_about = "Generate the service definition that runs the app's uWSGI (JSON spec, see README).\n\n\
--kind systemd: a Type=notify unit with the socket directory as RuntimeDirectory, \
hardening, and a graceful stop. --kind sysv: an LSB init script (start, stop, \
restart, reload, force-reload, status) using start-stop-daemon and a pidfile. \
The app's daemons and timers: --kind jobs --root DIR writes every unit, SysV \
script, the cron file and the runner they use; --kind daemon|daemon-sysv|timer|timer-service \
--name NAME writes one. --kind logrotate: the SysV logs' rotation.",
    after_help = "Examples:\n  gen-init app.json > wechat-api.service\n  gen-init --kind sysv -o wechat-api.init app.json\n  gen-init --kind sysv --root stage app.json   # writes stage/etc/init.d/<package>, prints the path\n  gen-init --kind jobs --root stage app.json   # every daemon's and timer's file, one path a line\n  gen-init --kind daemon --name worker app.json > wechat-api-worker.service"
)]
pub struct Cli {
    /// Kind of service definition
    #[arg(short, long, value_enum, default_value_t = Kind::Systemd)]
    pub kind: Kind,
    /// The Debian release the units are for (a codename of releases.tsv):
    /// they go to its unit directory, /usr/lib/systemd/system from Debian 13
    /// on, where /lib is only an alias of /usr/lib (`make DIST=...` passes it)
    #[arg(long, value_name = "DIST", value_parser = debpipe_core::release::parse_dist)]
    pub dist: Option<&'static debpipe_core::release::Release>,
    /// Where the systemd units are installed instead of the --dist one's
    /// [default: /lib/systemd/system]
    #[arg(long, value_name = "DIR", value_parser = unit_dir, conflicts_with = "dist")]
    pub unit_dir: Option<String>,
    /// The daemon or timer (its name in the spec) for --kind daemon,
    /// daemon-sysv, timer, timer-service
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub args: GenArgs,
}

impl Cli {
    /// Where the systemd units go: --unit-dir, else the --dist release's,
    /// else /lib/systemd/system (which every release reads).
    pub fn unit_dir(&self) -> &str {
        match (&self.unit_dir, self.dist) {
            (Some(dir), _) => dir,
            (None, Some(release)) => release.unit_dir,
            (None, None) => debpipe_core::release::DEFAULT_UNIT_DIR,
        }
    }
}

fn unit_dir(v: &str) -> std::result::Result<String, String> {
    debpipe_core::validate::abs_path(v)?;
    Ok(v.trim_end_matches('/').to_string())
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = cli.args.spec()?;
    match cli.kind {
        Kind::Systemd => cli.args.emit(
            &spec.systemd_unit_path(cli.unit_dir()),
            &render_systemd(&spec),
            0o644,
        ),
        Kind::Socket => cli.args.emit(
            &spec.systemd_socket_path(cli.unit_dir()),
            &render_socket(&spec),
            0o644,
        ),
        Kind::Sysv => cli
            .args
            .emit(&spec.sysv_script_path(), &render_sysv(&spec), 0o755),
        Kind::Daemon | Kind::DaemonSysv | Kind::Timer | Kind::TimerService => {
            let Some(name) = &cli.name else {
                return Err(Error::Usage(format!(
                    "--kind {} needs --name NAME (a daemon or timer of the spec); --kind jobs --root DIR writes them all",
                    clap::ValueEnum::to_possible_value(&cli.kind)
                        .map(|v| v.get_name().to_string())
                        .unwrap_or_default()
                )));
            };
            let (path, text, mode) = job_file(cli, &spec, name)?;
            cli.args.emit(&path, &text, mode)
        }
        Kind::Cron => cli
            .args
            .emit(&jobs::cron_path(&spec), &jobs::render_cron(&spec), 0o644),
        Kind::Runner => cli.args.emit(
            &jobs::runner_path(&spec),
            &jobs::render_runner(&spec),
            0o755,
        ),
        Kind::Logrotate => cli.args.emit(
            &jobs::logrotate_path(&spec),
            &jobs::render_logrotate(&spec),
            0o644,
        ),
        Kind::Jobs => {
            if cli.args.root.is_none() {
                return Err(Error::Usage(
                    "--kind jobs writes several files: it needs --root DIR".into(),
                ));
            }
            for (path, text, mode) in all_job_files(cli, &spec) {
                cli.args.emit(&path, &text, mode)?;
            }
            Ok(())
        }
    }
}

/// One daemon's or timer's file, for the kinds that take `--name`.
fn job_file(cli: &Cli, spec: &AppSpec, name: &str) -> Result<(String, String, u32)> {
    let unit = |suffix: &str| format!("{}/{}.{suffix}", cli.unit_dir(), spec.job_unit(name));
    Ok(match cli.kind {
        Kind::Daemon => (
            unit("service"),
            jobs::render_daemon(spec, jobs::daemon(spec, name)?),
            0o644,
        ),
        Kind::DaemonSysv => {
            let d = jobs::daemon(spec, name)?;
            (
                jobs::daemon_sysv_path(spec, d),
                jobs::render_daemon_sysv(spec, d),
                0o755,
            )
        }
        Kind::Timer => (
            unit("timer"),
            jobs::render_timer(spec, jobs::timer(spec, name)?),
            0o644,
        ),
        _ => (
            unit("service"),
            jobs::render_timer_service(spec, jobs::timer(spec, name)?),
            0o644,
        ),
    })
}

/// Every file of the app's daemons and timers: (install path, text, mode).
/// Nothing when the spec has neither.
pub fn all_job_files(cli: &Cli, spec: &AppSpec) -> Vec<(String, String, u32)> {
    let mut files = Vec::new();
    let unit =
        |name: &str, suffix: &str| format!("{}/{}.{suffix}", cli.unit_dir(), spec.job_unit(name));
    for d in &spec.daemons {
        files.push((
            unit(&d.name, "service"),
            jobs::render_daemon(spec, d),
            0o644,
        ));
        files.push((
            jobs::daemon_sysv_path(spec, d),
            jobs::render_daemon_sysv(spec, d),
            0o755,
        ));
    }
    for t in &spec.timers {
        files.push((unit(&t.name, "timer"), jobs::render_timer(spec, t), 0o644));
        files.push((
            unit(&t.name, "service"),
            jobs::render_timer_service(spec, t),
            0o644,
        ));
    }
    if !spec.timers.is_empty() {
        files.push((jobs::cron_path(spec), jobs::render_cron(spec), 0o644));
    }
    if !spec.daemons.is_empty() || !spec.timers.is_empty() {
        files.push((jobs::runner_path(spec), jobs::render_runner(spec), 0o755));
    }
    files
}

/// Seconds to wait for a graceful stop before killing: a worker may run up
/// to `harakiri`, then uWSGI gives it `reload_mercy` more.
pub fn stop_timeout(spec: &AppSpec) -> u32 {
    spec.harakiri + spec.reload_mercy + 5
}

/// Render the systemd unit.
pub fn render_systemd(spec: &AppSpec) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "# systemd unit of {pkg} {ver}, generated by gen-init from the app spec.\n\
         [Unit]\n\
         Description={pkg} ({server} application server)\n\
         Requires={pkg}.socket\n\
         After=network.target {pkg}.socket\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess={notify}\n\
         User={user}\n\
         Group={group}\n\
         RuntimeDirectory={pkg}\n\
         RuntimeDirectoryMode=0711\n\
         RuntimeDirectoryPreserve=yes\n{state}\
         WorkingDirectory={app}\n\
         {env}\
         ExecStart={bin} {flag} {conf}\n\
         ExecReload=/bin/kill -HUP $MAINPID\n\
         {stop}\
         SyslogIdentifier={pkg}\n\
         {hardening}\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        pkg = spec.package,
        ver = spec.version,
        user = spec.user,
        group = spec.group,
        app = spec.project_root(),
        env = environment_files(spec),
        server = spec.app_server.display(),
        // uWSGI's workers report too; gunicorn's master alone says READY.
        notify = if spec.app_server.is_gunicorn() {
            "main"
        } else {
            "all"
        },
        bin = spec.server_bin(),
        flag = spec.server_config_flag(),
        conf = spec.server_config_path(),
        stop = stop_and_restart(stop_timeout(spec), "on-failure"),
        hardening = hardening(spec),
        state = state_directory(spec),
    );
    s
}

/// How a long-running unit (the web service, a daemon) stops and comes
/// back: SIGTERM to the main process only (`KillMode=mixed`: it stops its
/// own children), SIGKILL after `stop` seconds, and `Restart=restart`
/// after [`jobs::RESTART_SEC`].
pub(crate) fn stop_and_restart(stop: u32, restart: &str) -> String {
    format!(
        "KillSignal=SIGTERM\n\
         KillMode=mixed\n\
         TimeoutStopSec={stop}\n\
         Restart={restart}\n\
         RestartSec={}\n",
        jobs::RESTART_SEC
    )
}

/// `StateDirectory=` (systemd makes it, owned by the user) when `state_dir`
/// is under /var/lib, else the directory made writable.
pub(crate) fn state_directory(spec: &AppSpec) -> String {
    match spec.state_directory_name() {
        Some(d) => format!("StateDirectory={d}\nStateDirectoryMode=0750\n"),
        None => format!("ReadWritePaths={}\n", spec.state_dir),
    }
}

/// The app's environment, one precedence everywhere: the package's
/// `debpipe.env` first, then the operator's `env_file` when it exists
/// (`-`), whose values win (systemd: "variables set in a later file
/// override those of an earlier one"). uWSGI's ini sets none of them.
pub fn environment_files(spec: &AppSpec) -> String {
    format!(
        "EnvironmentFile={}\nEnvironmentFile=-{}\n",
        spec.service_env_file(),
        spec.env_file
    )
}

/// Render the socket unit. systemd makes and holds the listening socket,
/// `user:www-data` 0660 (nginx reaches it through the socket's group, not
/// through the app's group, which reads the secrets),
/// at the same path as the ini's `socket` (which uWSGI needs to take an
/// inherited socket over), so requests queue while the service restarts;
/// the service's runtime directory is preserved across restarts, so the
/// socket's path stays.
pub fn render_socket(spec: &AppSpec) -> String {
    format!(
        "# systemd socket unit of {pkg}, generated by gen-init from the app spec.\n\
         [Unit]\n\
         Description={pkg} ({server} socket, held across service restarts)\n\
         \n\
         [Socket]\n\
         ListenStream={sock}\n\
         SocketUser={user}\n\
         SocketGroup={socket_group}\n\
         SocketMode=0660\n\
         DirectoryMode=0755\n\
         Backlog={backlog}\n\
         \n\
         [Install]\n\
         WantedBy=sockets.target\n",
        pkg = spec.package,
        server = spec.app_server.display(),
        sock = spec.socket(),
        user = spec.user,
        socket_group = AppSpec::SOCKET_GROUP,
        backlog = AppSpec::LISTEN_BACKLOG,
    )
}

/// The unit's sandbox: read-only system and no home, private /tmp and
/// devices, no capabilities, the system calls of `@system-service`, and
/// only the paths the app writes made writable (runtime and state
/// directories, `media.dir`, `writable_paths`).
pub fn hardening(spec: &AppSpec) -> String {
    let mut writable: Vec<&str> = Vec::new();
    if spec.state_directory_name().is_none() {
        writable.push(&spec.state_dir);
    }
    if let Some(m) = &spec.media
        && !(m.dir == spec.state_dir || m.dir.starts_with(&format!("{}/", spec.state_dir)))
    {
        writable.push(&m.dir);
    }
    writable.extend(spec.writable_paths.iter().map(String::as_str));
    let mut s = String::from(
        "NoNewPrivileges=yes\n\
         UMask=0027\n\
         ProtectSystem=strict\n",
    );
    if !writable.is_empty() {
        let _ = writeln!(s, "ReadWritePaths={}", writable.join(" "));
    }
    s.push_str(
        "ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         PrivateMounts=yes\n\
         PrivateUsers=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         ProtectClock=yes\n\
         ProtectHostname=yes\n\
         ProtectProc=invisible\n\
         ProcSubset=pid\n\
         RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n\
         RestrictNamespaces=yes\n\
         RestrictRealtime=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         RemoveIPC=yes\n\
         KeyringMode=private\n\
         DevicePolicy=closed\n\
         CapabilityBoundingSet=\n\
         AmbientCapabilities=\n\
         SystemCallArchitectures=native\n\
         SystemCallFilter=@system-service\n",
    );
    // limit-as is a setrlimit (@resources).
    if spec.limit_as.is_none() {
        s.push_str("SystemCallFilter=~@privileged @resources\n");
    } else {
        s.push_str("SystemCallFilter=~@privileged\n");
    }
    s.push_str("SystemCallErrorNumber=EPERM\n");
    if !spec.allow_write_execute {
        s.push_str("MemoryDenyWriteExecute=yes\n");
    }
    s
}

/// The SysV init script, as a shell file beside this crate (shellcheck reads
/// it as it is); [`Template`] writes the spec's values into its variable
/// block, and the package's name into its LSB header (`@PACKAGE@`).
const INIT: &str = include_str!("../scripts/init.sh");

/// What the SysV scripts (the web service's and the daemons') share: the
/// environment, the LSB functions, whether the pidfile's process runs, and
/// the `start`, `stop` and `restart` actions around each script's own
/// `do_start` and `do_stop`.
const LSB: &str = include_str!("../scripts/lsb.sh");

/// A SysV script's `# @lsb` block: `scripts/lsb.sh`, without its own
/// comment, so that the installed script stands alone.
pub(crate) fn lsb_block() -> Block {
    Block::Replace(
        Template::new("lsb.sh", LSB)
            .block("about", Block::Replace(String::new()))
            .fill(),
    )
}

/// Render the SysV init script. It is a conffile (/etc/init.d), so it holds
/// nothing that changes with the version alone.
pub fn render_sysv(spec: &AppSpec) -> String {
    let set = |k: &'static str, v: String| Var::Set(k, v);
    let vars = vec![
        set("PACKAGE", spec.package.clone()),
        set("SERVER", spec.app_server.program().to_string()),
        set("DAEMON", spec.server_bin()),
        set("CONFIG_FLAG", spec.server_config_flag().to_string()),
        set("CONFIG", spec.server_config_path()),
        set("APP_DIR", spec.project_root()),
        set("APP_USER", spec.user.clone()),
        set("APP_GROUP", spec.group.clone()),
        set("SOCKET_GROUP", AppSpec::SOCKET_GROUP.to_string()),
        set("SERVICE_ENV", spec.service_env_file()),
        set("ENV_FILE", spec.env_file.clone()),
        set("RUN_DIR", spec.runtime_dir()),
        // gunicorn has no master FIFO: its reload is SIGHUP.
        set(
            "FIFO",
            if spec.app_server.is_gunicorn() {
                String::new()
            } else {
                spec.master_fifo()
            },
        ),
        set("READY_DIR", spec.ready_dir().unwrap_or_default()),
        set("PIDFILE", spec.pidfile()),
        set("LOG_DIR", spec.log_dir.clone()),
        set("LOG_FILE", spec.log_file()),
        set("START_TIMEOUT", (spec.harakiri + 30).to_string()),
        set("STOP_TIMEOUT", stop_timeout(spec).to_string()),
    ];
    Template::new("init.sh", INIT)
        .word("PACKAGE", spec.package.as_str())
        .word("SERVER", spec.app_server.display())
        .block("lsb", lsb_block())
        .vars(vars)
        .fill()
}

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::spec;

    debpipe_testkit::verify_cli!(Cli);

    #[test]
    fn unit_runs_foreground_uwsgi_as_user() {
        let u = render_systemd(&spec(r#"{"module":"a","version":"1","user":"app"}"#));
        assert!(u.contains("Type=notify\n"));
        // The group defaults to the user's (never nginx's www-data).
        assert!(u.contains("User=app\nGroup=app\n"));
        assert!(u.contains("RuntimeDirectory=a-api\n"));
        assert!(
            u.contains("ExecStart=/opt/www/venvs/a-api/bin/uwsgi --ini /opt/www/uwsgi/a.ini\n")
        );
        assert!(u.contains("TimeoutStopSec=75\n"));
        let u = render_systemd(&spec(r#"{"module":"a","version":"1"}"#));
        assert!(u.contains("User=a-api\nGroup=a-api\n"));
    }

    #[test]
    fn sysv_quotes_values_and_provides_the_package() {
        let s = render_sysv(&spec(r#"{"module":"a","version":"1"}"#));
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("# Provides:          a-api\n"));
        assert!(s.contains("DAEMON='/opt/www/venvs/a-api/bin/uwsgi'\n"));
        assert!(s.contains("PIDFILE='/run/a-api.pid'\n"));
        assert!(!s.contains("killall"));
    }

    #[test]
    fn regression_6_sysv_script_does_not_change_with_the_version_alone() {
        let a = render_sysv(&spec(r#"{"module":"a","version":"1.0.0"}"#));
        let b = render_sysv(&spec(r#"{"module":"a","version":"1.0.1"}"#));
        assert_eq!(a, b);
    }
}
