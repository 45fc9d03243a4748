//! The daemons' and timers' files, the cron file, the runner and logrotate:
//! goldens, systemd-analyze (verify, security, calendar), and real runs
//! under SysV (supervision, graceful and forced stops, LSB status codes),
//! cron's `flock`, and a forced logrotate against running uWSGI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use debpipe_testkit::{ScratchApp, assert_shellcheck, assert_success, uwsgi_request, wait_until};

use super::{
    EnvFile, Script, SysvApp, assert_verifies, assert_verify_rejects, directive, generate, tool,
    write,
};

fn jobs_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jobs.json")
}

/// `--kind jobs --root` (and `--kind logrotate --root`) on a spec with two
/// daemons and two timers: every file at its install path, with its mode,
/// each path printed, each file the golden one (`tests/golden/jobs/` mirrors
/// the stage); every script passes shellcheck.
#[test]
fn jobs_files_match_golden_and_shellcheck() {
    use std::os::unix::fs::PermissionsExt;
    let stage = tempfile::tempdir().unwrap();
    let mut printed = Vec::new();
    for kind in ["jobs", "logrotate"] {
        let out = tool(kind)
            .cmd()
            .arg("--root")
            .arg(stage.path())
            .arg(jobs_spec())
            .output()
            .unwrap();
        assert_success(&out);
        printed.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    let want = [
        ("lib/systemd/system/wechat-api-alerts.service", 0o644),
        ("etc/init.d/wechat-api-alerts", 0o755),
        ("lib/systemd/system/wechat-api-worker.service", 0o644),
        ("etc/init.d/wechat-api-worker", 0o755),
        ("lib/systemd/system/wechat-api-housekeeping.timer", 0o644),
        ("lib/systemd/system/wechat-api-housekeeping.service", 0o644),
        ("lib/systemd/system/wechat-api-reports.timer", 0o644),
        ("lib/systemd/system/wechat-api-reports.service", 0o644),
        ("etc/cron.d/wechat-api", 0o644),
        ("usr/libexec/wechat-api/run-job", 0o755),
        ("etc/logrotate.d/wechat-api", 0o644),
    ];
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/jobs");
    assert_eq!(printed.len(), want.len(), "{printed:?}");
    for ((rel, mode), line) in want.iter().zip(&printed) {
        let path = stage.path().join(rel);
        assert_eq!(line, &path.display().to_string());
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{rel}");
        debpipe_testkit::assert_golden(golden.join(rel), &std::fs::read(&path).unwrap());
        if *mode == 0o755 {
            assert_shellcheck(&path);
        }
    }
}

/// A spec without daemons or timers: `--kind jobs --root` writes and
/// prints nothing, so the Makefile can call it for every app.
#[test]
fn jobs_of_a_spec_without_jobs_is_nothing() {
    let stage = tempfile::tempdir().unwrap();
    let out = tool("jobs")
        .cmd()
        .arg("--root")
        .arg(stage.path())
        .arg(debpipe_testkit::fixtures().join("specs/example.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_dir(stage.path()).unwrap().count(), 0);
}

/// The kinds of one job need `--name` naming one of the spec's; `jobs`
/// needs `--root`: usage errors (2) that say so, nothing on stdout.
#[test]
fn job_kinds_need_a_name_of_the_spec() {
    for (args, says) in [
        (vec!["--kind", "daemon"], "needs --name NAME"),
        (vec!["--kind", "timer-service"], "needs --name NAME"),
        (
            vec!["--kind", "daemon", "--name", "nope"],
            "daemons: alerts, worker",
        ),
        (
            vec!["--kind", "timer", "--name", "worker"],
            "timers: housekeeping, reports",
        ),
        (vec!["--kind", "jobs"], "needs --root DIR"),
    ] {
        let out = Command::new(assert_cmd::cargo::cargo_bin!("gen-init"))
            .args(&args)
            .arg(jobs_spec())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A spec whose venv holds the jobs' programs (systemd-analyze checks that
/// `ExecStart=` is executable), its units written to a temporary unit dir.
fn staged_units(dir: &Path, pkg: &str) -> Vec<PathBuf> {
    let venv = dir.join(pkg);
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    for p in ["manage", "celery"] {
        write(&venv.join("bin").join(p), "#!/bin/sh\n");
        std::fs::set_permissions(
            venv.join("bin").join(p),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(jobs_spec()).unwrap()).unwrap();
    json["package"] = pkg.into();
    json["venv"] = venv.display().to_string().into();
    let spec = write(&dir.join("jobs.json"), &json.to_string());
    let stage = dir.join("stage");
    let out = tool("jobs")
        .cmd()
        .arg("--root")
        .arg(&stage)
        .arg(&spec)
        .output()
        .unwrap();
    assert_success(&out);
    let mut units: Vec<PathBuf> = std::fs::read_dir(stage.join("lib/systemd/system"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    units.sort();
    units
}

/// Every daemon unit, timer and timer service passes `systemd-analyze
/// verify`, and every service rates at most 2.0 in `systemd-analyze
/// security --offline=true` (the web unit's hardening). Negative control:
/// a broken timer is rejected.
#[test]
fn job_units_verify_and_rate_at_most_2_0() {
    let dir = tempfile::tempdir().unwrap();
    let units = staged_units(dir.path(), "dpt-jobs-verify");
    assert_eq!(units.len(), 6, "{units:?}");
    for u in &units {
        assert_verifies(u);
        if u.extension().is_some_and(|e| e == "service") {
            let out = Command::new("systemd-analyze")
                .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
                .arg(u)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {text}", u.display());
            let score = text
                .lines()
                .find_map(|l| l.strip_prefix("→ Overall exposure level for "))
                .unwrap_or_default()
                .to_string();
            eprintln!("{score}");
        }
    }
    let timer = units
        .iter()
        .find(|u| u.extension().is_some_and(|e| e == "timer"))
        .unwrap();
    let broken = dir
        .path()
        .join("stage/lib/systemd/system/dpt-jobs-verify-broken.timer");
    let text = std::fs::read_to_string(timer).unwrap();
    std::fs::write(
        &broken,
        text.replace("OnCalendar=", "OnCalendar=not a time "),
    )
    .unwrap();
    assert_verify_rejects(&broken, "a bad OnCalendar");
}

/// Whether cron's five fields (`*`, `*/N`, a number) fire at minute `t`
/// (minutes since the epoch, UTC), as cron(8) reads them.
fn cron_fires(fields: &str, t: i64) -> bool {
    let days = t.div_euclid(1440);
    let (_, month, day) = debpipe_core::date::civil_from_days(days);
    let minute = t.rem_euclid(60);
    let hour = t.rem_euclid(1440) / 60;
    let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday; 0 = Sunday
    let f: Vec<&str> = fields.split(' ').collect();
    let ok = |field: &str, v: i64| match field {
        "*" => true,
        f if f.starts_with("*/") => v % f[2..].parse::<i64>().unwrap() == 0,
        n => n.parse::<i64>().unwrap() == v,
    };
    ok(f[0], minute) && ok(f[1], hour) && ok(f[2], day) && ok(f[3], month) && ok(f[4], weekday)
}

/// The next elapses systemd computes for `expr` (UTC), in minutes since
/// the epoch.
fn systemd_elapses(expr: &str, n: u32, base: &str) -> Vec<i64> {
    let out = Command::new("systemd-analyze")
        .args([
            "calendar",
            &format!("--iterations={n}"),
            &format!("--base-time={base}"),
            expr,
        ])
        .env("TZ", "UTC")
        .env("SYSTEMD_COLORS", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{expr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.contains("Next elapse:") || l.contains("Iter. #"))
        .map(|l| {
            // "... Next elapse: Mon 2026-12-07 00:00:00 UTC"
            let w: Vec<&str> = l.split_whitespace().collect();
            let date = w[w.len() - 3];
            let time = w[w.len() - 2];
            let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
            let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
            assert_eq!(t[2], 0, "{l}");
            debpipe_core::date::days_from_civil(d[0], d[1], d[2]) * 1440 + t[0] * 60 + t[1]
        })
        .collect()
}

/// Whether systemd's elapses of `expr` are exactly cron's firings of
/// `fields` over the same span: each elapse fires cron, and no minute in
/// between does.
fn same_times(expr: &str, fields: &str, base: &str) -> Result<(), String> {
    let times = systemd_elapses(expr, 6, base);
    if times.len() != 6 {
        return Err(format!("{expr}: {} elapses", times.len()));
    }
    for w in times.windows(2) {
        if !cron_fires(fields, w[0]) {
            return Err(format!(
                "{expr} elapses at minute {} where `{fields}` does not fire",
                w[0]
            ));
        }
        if let Some(t) = (w[0] + 1..w[1]).find(|t| cron_fires(fields, *t)) {
            return Err(format!(
                "`{fields}` fires at minute {t}, between two elapses of {expr}"
            ));
        }
    }
    Ok(())
}

/// Fixed starting points of the comparison (not the clock's, so the test
/// sees the same days every run): a Sunday morning, just before midnight
/// at a month's end, just before a new year.
const BASES: [&str; 3] = [
    "2026-11-29 08:13:00 UTC",
    "2026-11-30 23:29:00 UTC",
    "2026-12-31 23:55:00 UTC",
];

/// Every schedule form: `systemd-analyze calendar` reads its `OnCalendar=`
/// value, and the times it computes are the times its cron fields fire,
/// minute for minute, over six runs from each of [`BASES`]. Negative control: cron's own weekly
/// (`@weekly`, Sunday) is not systemd's `weekly`.
#[test]
fn every_schedule_fires_at_the_same_times_under_systemd_and_cron() {
    use debpipe_core::jobs::Schedule;
    for s in [
        "every 1m",
        "every 7m",
        "every 15m",
        "every 59m",
        "hourly",
        "daily",
        "00:00",
        "03:30",
        "23:59",
        "weekly",
        "monthly",
    ] {
        let sched = Schedule::parse(s).unwrap();
        for base in BASES {
            same_times(&sched.on_calendar(), &sched.cron(), base)
                .unwrap_or_else(|e| panic!("{s} from {base}: {e}"));
        }
    }
    // Negative control of the midnight fix: systemd's own `*:00/7` skips
    // 00:00 after 23:56, which cron's `*/7` does not.
    assert!(
        same_times("*-*-* *:00/7:00", "*/7 * * * *", BASES[1]).is_err(),
        "the comparison cannot see midnight's skipped run"
    );
    let weekly = Schedule::parse("weekly").unwrap();
    assert!(
        same_times(&weekly.on_calendar(), "0 0 * * 0", BASES[0]).is_err(),
        "the comparison cannot tell Monday from Sunday"
    );
}

/// A program of the test venv: a shell script.
fn venv_program(venv: &Path, name: &str, body: &str) {
    let p = venv.join("bin").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A scratch app whose spec has `extra` fields, as installed for a real
/// run: its user, debpipe.env, an `env_file` overriding `DPT_KEY`, the runner
/// at its install path, and a directory `events` the user writes. Removed
/// on drop.
struct JobsApp {
    app: ScratchApp,
    spec: debpipe_core::AppSpec,
    spec_path: PathBuf,
    events: PathBuf,
    _env_file: EnvFile,
}

impl JobsApp {
    fn new(pkg: &str, extra: &str) -> Self {
        let app = ScratchApp::new();
        let events = app.dir.path().join("events");
        Self::with(app, events, pkg, extra)
    }

    fn with(app: ScratchApp, events: PathBuf, pkg: &str, extra: &str) -> Self {
        let json = app.spec(
            pkg,
            &format!(
                r#""env":{{"DPT_KEY":"from-env","DPT_EVENTS":"{}"}},{extra}"#,
                events.display()
            ),
        );
        let spec_path = write(&app.dir.path().join("app.json"), &json);
        let spec = debpipe_core::AppSpec::from_json(&spec_path, json.as_bytes()).unwrap();
        debpipe_testkit::ensure_system_user(&spec.user);
        debpipe_testkit::write_service_env(&spec);
        let env_file = EnvFile::new(&spec, "DPT_KEY=from-env-file\n");
        std::fs::create_dir_all(&events).unwrap();
        let (uid, gid) = debpipe_testkit::ids(&spec.user);
        std::os::unix::fs::chown(&events, Some(uid), Some(gid)).unwrap();
        let runner = PathBuf::from(gen_init::jobs::runner_path(&spec));
        std::fs::create_dir_all(runner.parent().unwrap()).unwrap();
        generate("runner", &spec_path, &runner);
        JobsApp {
            app,
            spec,
            spec_path,
            events,
            _env_file: env_file,
        }
    }

    /// The lines of `events/NAME`.
    fn events(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.events.join(name))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for JobsApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new("/usr/libexec").join(&self.spec.package));
        let _ = std::fs::remove_dir_all(gen_init::jobs::daemon_log_dir(&self.spec));
    }
}

/// The records the test daemon writes: `start PID UID CWD DPT_KEY` when
/// it starts, `term PID` on SIGTERM (then exits), or nothing and goes on
/// when started with `stubborn` (it ignores SIGTERM).
const SLEEPER: &str = r#"out="$DPT_EVENTS/$1"
echo "start $$ $(id -u) $(pwd) $DPT_KEY" >>"$out"
if [ "$2" = stubborn ]; then trap '' TERM; else trap 'echo "term $$" >>"$out"; exit 0' TERM; fi
echo "sleeper $1 running"
while :; do sleep 0.1; done
"#;

fn pid_of(record: &str) -> u32 {
    record.split(' ').nth(1).unwrap().parse().unwrap()
}

fn gone(pid: u32) -> bool {
    wait_until(10, || !Path::new(&format!("/proc/{pid}")).exists())
}

/// A daemon under its SysV script, for real: status 3 and a stop that says
/// nothing was running before start; start (the command runs as the user,
/// in the project root, with `env_file` over `env`), status 0; the command
/// killed is restarted by the supervisor; stop sends it SIGTERM and it
/// ends; status 3 after. A command that ignores SIGTERM is killed after its
/// `stop_timeout`, and not before. The log has the command's output.
#[test]
fn sysv_daemon_is_supervised_restarted_and_stopped_gracefully() {
    let pkg = "dpt-gen-init-daemon";
    let j = JobsApp::new(
        pkg,
        r#""daemons":{"sleeper":{"command":["dpt-sleeper","sleeper"],"stop_timeout":5},
            "stubborn":{"command":["dpt-sleeper","stubborn","stubborn"],"stop_timeout":2}}"#,
    );
    venv_program(&j.app.venv, "dpt-sleeper", SLEEPER);
    let script = |name: &str| {
        let path = j.app.dir.path().join(format!("init-{name}"));
        let st = tool("daemon-sysv")
            .cmd()
            .args(["--name", name, "-o"])
            .arg(&path)
            .arg(&j.spec_path)
            .status()
            .unwrap();
        assert!(st.success());
        Script {
            path,
            pidfile: PathBuf::from(format!("/run/{pkg}-{name}.pid")),
        }
    };
    let sleeper = script("sleeper");
    sleeper.assert_not_started();
    sleeper.expect("start", 0);
    assert!(
        wait_until(10, || !j.events("sleeper").is_empty()),
        "the daemon did not start"
    );
    let first = j.events("sleeper")[0].clone();
    let (uid, _) = debpipe_testkit::ids(&j.spec.user);
    assert_eq!(
        first.split(' ').skip(2).collect::<Vec<_>>(),
        [
            uid.to_string().as_str(),
            &j.spec.project_root(),
            "from-env-file"
        ],
        "user, directory or environment: {first}"
    );
    assert_eq!(sleeper.run("status").0, 0);
    let supervisor = sleeper.pid().unwrap();

    // Killed: the supervisor starts it again.
    let pid1 = pid_of(&first);
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid1.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        wait_until(15, || j.events("sleeper").len() >= 2),
        "not restarted"
    );
    let pid2 = pid_of(&j.events("sleeper")[1]);
    assert_ne!(pid1, pid2);
    assert_eq!(sleeper.pid(), Some(supervisor), "the supervisor changed");

    // Stopped gracefully: SIGTERM reaches the command, which ends.
    let (code, out) = sleeper.run("stop");
    assert_eq!(code, 0, "stop: {out}");
    assert!(
        j.events("sleeper").contains(&format!("term {pid2}")),
        "{:?}",
        j.events("sleeper")
    );
    assert!(gone(pid2) && gone(supervisor));
    assert_eq!(sleeper.run("status").0, 3);
    let log = std::fs::read_to_string(format!("/var/log/{pkg}/sleeper.log")).unwrap();
    assert!(log.contains("sleeper sleeper running"), "{log}");
    assert!(log.contains("exited with status"), "{log}");

    // A command that ignores SIGTERM: killed after stop_timeout (2 s).
    let stubborn = script("stubborn");
    assert_eq!(stubborn.run("start").0, 0);
    assert!(wait_until(10, || !j.events("stubborn").is_empty()));
    let pid = pid_of(&j.events("stubborn")[0]);
    let t = Instant::now();
    let (code, out) = stubborn.run("stop");
    let took = t.elapsed();
    assert_eq!(code, 0, "stop: {out}");
    assert!(gone(pid), "the stubborn command survived its stop");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(7),
        "stopped after {took:?}, stop_timeout is 2 s"
    );
    let log = std::fs::read_to_string(format!("/var/log/{pkg}/stubborn.log")).unwrap();
    assert!(log.contains("s after SIGTERM: killed"), "{log}");
}

/// A timer's cron line, run as cron runs it (`/bin/sh -c`, as root, no
/// systemd here): the command runs as the user with `env_file` over `env`;
/// a second run while the first still goes does nothing (`flock -n`), and
/// a run after it ends runs again. Negative control: the same line without
/// `flock -n` does overlap, so the test can see an overlap.
#[test]
fn cron_runs_a_timer_as_the_user_and_never_twice_at_once() {
    let pkg = "dpt-gen-init-cron";
    let j = JobsApp::new(
        pkg,
        r#""timers":{"slow":{"command":["dpt-slow","slow"],"schedule":"every 5m"}}"#,
    );
    venv_program(
        &j.app.venv,
        "dpt-slow",
        "echo \"run $$ $(id -u) $DPT_KEY\" >>\"$DPT_EVENTS/$1\"\nsleep 2\necho done >>\"$DPT_EVENTS/$1\"\n",
    );
    let cron = gen_init::jobs::render_cron(&j.spec);
    let line = cron
        .lines()
        .find(|l| l.starts_with("*/5 * * * * root "))
        .unwrap();
    let command = line.strip_prefix("*/5 * * * * root ").unwrap().to_string();
    let run = |cmd: &str| {
        Command::new("/bin/sh")
            .args(["-c", cmd])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .spawn()
            .unwrap()
    };
    let mut first = run(&command);
    assert!(
        wait_until(10, || !j.events("slow").is_empty()),
        "the job did not run"
    );
    let second = run(&command).wait().unwrap();
    assert_eq!(second.code(), Some(1), "the second run did not give way");
    assert!(first.wait().unwrap().success());
    let ev = j.events("slow");
    let (uid, _) = debpipe_testkit::ids(&j.spec.user);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev[0].ends_with(&format!(" {uid} from-env-file")), "{ev:?}");
    assert!(
        run(&command).wait().unwrap().success(),
        "a later run did not run"
    );
    assert_eq!(j.events("slow").len(), 4);

    // Negative control: without the lock, two runs overlap.
    std::fs::remove_file(j.events.join("slow")).unwrap();
    let lock = format!(
        "flock -n {} ",
        gen_init::jobs::lock_path(&j.spec, &j.spec.timers[0])
    );
    let unlocked = command.replace(&lock, "");
    assert_ne!(unlocked, command);
    let mut a = run(&unlocked);
    assert!(wait_until(10, || !j.events("slow").is_empty()));
    let mut b = run(&unlocked);
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let ev = j.events("slow");
    assert!(
        ev[0].starts_with("run ") && ev[1].starts_with("run "),
        "no overlap: {ev:?}"
    );
}

/// logrotate against uWSGI under the SysV script: `logrotate -d` accepts
/// the generated file; a forced rotation renames the log and uWSGI, told
/// through its master FIFO, writes on in the new file (a request after the
/// rotation is in the new log, not in the old). Negative control: the same
/// rotation without the postrotate step leaves uWSGI writing to the renamed
/// file.
#[test]
fn logrotate_has_uwsgi_reopen_its_log_under_sysv() {
    let SysvApp {
        app,
        spec_path,
        spec,
        script,
    } = SysvApp::new("dpt-gen-init-logrotate", r#""processes":1"#);
    let conf = app.dir.path().join("logrotate.conf");
    generate("logrotate", &spec_path, &conf);
    let state = app.dir.path().join("logrotate.state");
    let logrotate = |conf: &Path, args: &[&str]| {
        let out = Command::new("logrotate")
            .args(args)
            .arg("-s")
            .arg(&state)
            .arg(conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "logrotate {args:?}: {text}");
        text
    };
    script.expect("start", 0);
    let sock = PathBuf::from(spec.socket());
    let log = PathBuf::from(spec.log_file());
    let rotated = PathBuf::from(format!("{}.1", log.display()));
    let hit = |tag: &str| {
        assert!(
            uwsgi_request(&sock, &format!("/api/scratch/{tag}"))
                .unwrap()
                .starts_with("HTTP/1.1 200")
        );
    };
    let has = |p: &Path, tag: &str| {
        wait_until(5, || {
            std::fs::read_to_string(p).unwrap_or_default().contains(tag)
        })
    };
    hit("before-rotation");
    assert!(has(&log, "before-rotation"));
    let dry = logrotate(&conf, &["-d"]);
    assert!(dry.contains(&log.display().to_string()), "{dry}");
    assert!(!rotated.exists(), "-d rotated");

    logrotate(&conf, &["-f"]);
    assert!(has(&rotated, "before-rotation"), "not rotated");
    // A request tagged `tag` is logged in `into`, and not in `other`.
    let logged_in = |into: &Path, other: &Path, tag: &str, why: &str| {
        hit(tag);
        assert!(has(into, tag), "{why}");
        let text = std::fs::read_to_string(other).unwrap();
        assert!(!text.contains(tag), "{tag} in {} too", other.display());
    };
    logged_in(
        &log,
        &rotated,
        "after-rotation",
        "uWSGI did not write the new log",
    );

    // Negative control: no reopen, and uWSGI writes on in the renamed file.
    let text = std::fs::read_to_string(&conf).unwrap();
    let a = text.find("    postrotate").unwrap();
    let b = text.find("    endscript\n").unwrap() + "    endscript\n".len();
    let plain = write(
        &app.dir.path().join("plain.conf"),
        &format!("{}{}", &text[..a], &text[b..]),
    );
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    logrotate(&plain, &["-f"]);
    logged_in(
        &rotated,
        &log,
        "without-reopen",
        "the control saw no stale descriptor",
    );
    assert_eq!(script.run("stop").0, 0);
    let _ = std::fs::remove_dir_all(spec.runtime_dir());
}

/// A daemon's unit, run as systemd would run it: its `ExecStart=` under the
/// unit's file-system sandbox (`tests/sandbox.sh`, which reads the unit's
/// `User=`, `WorkingDirectory=`, `EnvironmentFile=` lines, state directory
/// and the rest): the command runs as the unit's user, in the project root,
/// with `env_file` over `env`, writes its state directory, and its
/// `KillSignal=` (sent to it alone: `KillMode=mixed`) ends it gracefully.
#[test]
fn daemon_unit_runs_its_command_under_the_sandbox_as_the_user() {
    let pkg = "dpt-gen-init-daemon-unit";
    let parent = Path::new("/opt/debpipe-test");
    std::fs::create_dir_all(parent).unwrap();
    let state = PathBuf::from(format!("/var/lib/{pkg}"));
    let _ = std::fs::remove_dir_all(&state);
    let j = JobsApp::with(
        ScratchApp::new_in(parent),
        state.clone(),
        pkg,
        r#""daemons":{"sleeper":{"command":["dpt-sleeper","sleeper"]}}"#,
    );
    venv_program(&j.app.venv, "dpt-sleeper", SLEEPER);
    let unit_text = gen_init::jobs::render_daemon(&j.spec, &j.spec.daemons[0]);
    let unit = write(
        &j.app.dir.path().join(format!("{pkg}-sleeper.service")),
        &unit_text,
    );
    assert_eq!(directive(&unit_text, "KillMode"), "mixed");
    let signal = directive(&unit_text, "KillSignal")
        .trim_start_matches("SIG")
        .to_string();
    let exec: Vec<&str> = directive(&unit_text, "ExecStart").split(' ').collect();
    let log = std::fs::File::create(j.app.dir.path().join("daemon.log")).unwrap();
    let mut child = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox.sh"))
        .arg(&unit)
        .arg("--")
        .args(&exec)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = wait_until(15, || !j.events("sleeper").is_empty());
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the daemon did not start under the sandbox: {}",
            std::fs::read_to_string(j.app.dir.path().join("daemon.log")).unwrap_or_default()
        );
    }
    let first = j.events("sleeper")[0].clone();
    let (uid, _) = debpipe_testkit::ids(&j.spec.user);
    assert_eq!(
        first.split(' ').skip(1).collect::<Vec<_>>(),
        [
            child.id().to_string().as_str(),
            &uid.to_string(),
            &j.spec.project_root(),
            "from-env-file"
        ],
        "pid, user, directory or environment: {first}"
    );
    let st = Command::new("kill")
        .args(["-s", &signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        wait_until(10, || matches!(child.try_wait(), Ok(Some(_)))),
        "the daemon did not end on {signal}"
    );
    assert!(
        j.events("sleeper")
            .contains(&format!("term {}", child.id()))
    );
    drop(j);
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir(parent); // when no other run uses it
}
