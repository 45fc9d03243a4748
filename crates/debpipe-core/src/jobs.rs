//! The app's companion processes and its management commands, as the spec
//! names them: `daemons` (long-running, supervised), `timers` (periodic
//! commands), the `schedule` syntax that both systemd timers and cron can
//! express, and the `build_commands`/`release_commands` argument vectors.
//!
//! A command is an argument vector, never a shell string: each word lands
//! unquoted in a systemd unit, a crontab line and a shell script, so words
//! are checked against [`crate::validate::safe_value`] and may not hold
//! whitespace.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::validate::safe_value;

/// How long a daemon gets between SIGTERM and SIGKILL when `stop_timeout`
/// is not set.
pub const DEFAULT_STOP_TIMEOUT: u32 = 30;

/// A long-running companion of the app (`daemons.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Daemon {
    /// Unit-safe name: the systemd unit is `<package>-<name>.service`.
    pub name: String,
    /// Argument vector; the first word is a program in the venv's `bin/`.
    pub command: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL at stop.
    pub stop_timeout: u32,
}

/// A periodic command (`timers.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timer {
    /// Unit-safe name: `<package>-<name>.timer` and `.service`.
    pub name: String,
    /// Argument vector; the first word is a program in the venv's `bin/`.
    pub command: Vec<String>,
    /// When it runs.
    pub schedule: Schedule,
}

/// `daemons.<name>` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    command: Vec<String>,
    stop_timeout: Option<u32>,
}

/// `timers.<name>` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimer {
    command: Vec<String>,
    schedule: String,
}

/// When a timer runs. One syntax, each form of which systemd's
/// `OnCalendar=` and a cron line express alike (cron's `@weekly` is Sunday
/// while systemd's `weekly` is Monday, so weekly is spelled out for both):
///
/// | `schedule` | systemd `OnCalendar=` | cron |
/// |---|---|---|
/// | `every Nm` (N = 1..59) | `*-*-* *:00/N:00` | `*/N * * * *` |
/// | `hourly` | `*-*-* *:00:00` | `0 * * * *` |
/// | `daily` | `*-*-* 00:00:00` | `0 0 * * *` |
/// | `HH:MM` (daily at) | `*-*-* HH:MM:00` | `MM HH * * *` |
/// | `weekly` (Monday 00:00) | `Mon *-*-* 00:00:00` | `0 0 * * 1` |
/// | `monthly` (the 1st, 00:00) | `*-*-01 00:00:00` | `0 0 1 * *` |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Every N minutes from the top of each hour.
    EveryMinutes(u8),
    /// At minute 0 of every hour.
    Hourly,
    /// At 00:00.
    Daily,
    /// Every day at the hour and minute.
    At(u8, u8),
    /// Mondays at 00:00.
    Weekly,
    /// The first of each month at 00:00.
    Monthly,
}

impl Schedule {
    /// Parse the spec's `schedule`; the error lists the accepted forms.
    pub fn parse(v: &str) -> std::result::Result<Self, String> {
        let bad = || {
            format!(
                "must be `every Nm` (N from 1 to 59), `hourly`, `daily`, `HH:MM`, `weekly` or `monthly`, which both systemd timers and cron express, got {v:?}"
            )
        };
        if let Some(named) = [Self::Hourly, Self::Daily, Self::Weekly, Self::Monthly]
            .into_iter()
            .find(|s| s.as_spec() == v)
        {
            return Ok(named);
        }
        if let Some(n) = v.strip_prefix("every ").and_then(|r| r.strip_suffix('m')) {
            return match n.parse::<u8>() {
                Ok(k @ 1..=59) if !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(Self::EveryMinutes(k))
                }
                _ => Err(bad()),
            };
        }
        if let Some((h, m)) = v.split_once(':')
            && h.len() == 2
            && m.len() == 2
            && let (Ok(h @ 0..=23), Ok(m @ 0..=59)) = (h.parse::<u8>(), m.parse::<u8>())
            && v.bytes().all(|b| b.is_ascii_digit() || b == b':')
        {
            return Ok(Self::At(h, m));
        }
        Err(bad())
    }

    /// The schedule as the spec spells it.
    pub fn as_spec(&self) -> String {
        self.spellings().spec
    }

    /// systemd's `OnCalendar=` value.
    pub fn on_calendar(&self) -> String {
        self.spellings().on_calendar
    }

    /// The five time fields of a cron line.
    pub fn cron(&self) -> String {
        self.spellings().cron
    }

    /// How the spec, systemd and cron spell the schedule: one arm a row of
    /// the table above.
    fn spellings(self) -> Spellings {
        let row = |spec: String, on_calendar: String, cron: String| Spellings {
            spec,
            on_calendar,
            cron,
        };
        let fixed = |spec: &str, on_calendar: &str, cron: &str| {
            row(spec.into(), on_calendar.into(), cron.into())
        };
        match self {
            Self::EveryMinutes(n) => row(
                format!("every {n}m"),
                every_minutes_on_calendar(n),
                format!("*/{n} * * * *"),
            ),
            Self::Hourly => fixed("hourly", "*-*-* *:00:00", "0 * * * *"),
            Self::Daily => fixed("daily", "*-*-* 00:00:00", "0 0 * * *"),
            Self::At(h, m) => row(
                format!("{h:02}:{m:02}"),
                format!("*-*-* {h:02}:{m:02}:00"),
                format!("{m} {h} * * *"),
            ),
            Self::Weekly => fixed("weekly", "Mon *-*-* 00:00:00", "0 0 * * 1"),
            Self::Monthly => fixed("monthly", "*-*-01 00:00:00", "0 0 1 * *"),
        }
    }
}

/// A [`Schedule`] as the spec, systemd's `OnCalendar=` and cron spell it.
struct Spellings {
    spec: String,
    on_calendar: String,
    cron: String,
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_spec())
    }
}

/// A daemon or timer name: it becomes part of a unit name, a file name and
/// a shell word (`[a-z0-9][a-z0-9-]*`, at most 32).
fn job_name(v: &str) -> std::result::Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    must(
        ok,
        "must be safe in a unit name ([a-z0-9][a-z0-9-]*, at most 32)",
        v,
    )
}

/// `Ok` when `ok`, else `why` and the value `v` it does not hold for.
fn must(ok: bool, why: &str, v: &str) -> std::result::Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{why}, got {v:?}"))
    }
}

/// One word of a command: a safe value without whitespace.
fn word(v: &str) -> std::result::Result<(), String> {
    safe_value(v)?;
    if v.contains(' ') {
        return Err(format!(
            "a command is an argument vector: one word per entry, no spaces, got {v:?}"
        ));
    }
    Ok(())
}

/// A program in the venv's `bin/` (`manage` is debpipe's admin helper).
fn program(v: &str) -> std::result::Result<(), String> {
    let ok = !v.is_empty()
        && !v.starts_with('.')
        && !v.starts_with('-')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    must(
        ok,
        "the first word must name a program in the venv's bin/ (no `/`)",
        v,
    )
}

/// A Django management command's name (its module's name).
fn command_name(v: &str) -> std::result::Result<(), String> {
    let ok = v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    must(
        ok,
        "the first word must be a Django management command ([a-z_][a-z0-9_]*)",
        v,
    )
}

fn argv(
    field: &str,
    words: Vec<String>,
    first: fn(&str) -> std::result::Result<(), String>,
) -> Result<Vec<String>> {
    let Some(head) = words.first() else {
        return Err(Error::invalid(field, "must not be empty"));
    };
    first(head).map_err(|r| Error::invalid(format!("{field}[0]"), r))?;
    for (i, w) in words.iter().enumerate() {
        word(w).map_err(|r| Error::invalid(format!("{field}[{i}]"), r))?;
    }
    Ok(words)
}

/// `build_commands` or `release_commands`: Django management commands, in
/// order.
pub(crate) fn management_commands(
    field: &str,
    raw: Option<Vec<Vec<String>>>,
) -> Result<Vec<Vec<String>>> {
    raw.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| argv(&format!("{field}[{i}]"), c, command_name))
        .collect()
}

/// `daemons`, sorted by name.
pub(crate) fn daemons(
    raw: Option<std::collections::BTreeMap<String, RawDaemon>>,
) -> Result<Vec<Daemon>> {
    let mut out = Vec::new();
    for (name, d) in raw.unwrap_or_default() {
        let field = format!("daemons.{name}");
        job_name(&name).map_err(|r| Error::invalid(&field, r))?;
        let stop_timeout = match d.stop_timeout {
            Some(t @ 1..=3600) => t,
            Some(t) => {
                return Err(Error::invalid(
                    format!("{field}.stop_timeout"),
                    format!("must be between 1 and 3600, got {t}"),
                ));
            }
            None => DEFAULT_STOP_TIMEOUT,
        };
        out.push(Daemon {
            command: argv(&format!("{field}.command"), d.command, program)?,
            name,
            stop_timeout,
        });
    }
    Ok(out)
}

/// `timers`, sorted by name; a name a daemon has is refused (both would be
/// `<package>-<name>.service`).
pub(crate) fn timers(
    raw: Option<std::collections::BTreeMap<String, RawTimer>>,
    daemons: &[Daemon],
) -> Result<Vec<Timer>> {
    let mut out = Vec::new();
    for (name, t) in raw.unwrap_or_default() {
        let field = format!("timers.{name}");
        job_name(&name).map_err(|r| Error::invalid(&field, r))?;
        if daemons.iter().any(|d| d.name == name) {
            return Err(Error::invalid(
                &field,
                format!(
                    "a daemon has this name too (both would be the unit `<package>-{name}.service`)"
                ),
            ));
        }
        let schedule = Schedule::parse(&t.schedule)
            .map_err(|r| Error::invalid(format!("{field}.schedule"), r))?;
        out.push(Timer {
            command: argv(&format!("{field}.command"), t.command, program)?,
            name,
            schedule,
        });
    }
    Ok(out)
}

/// `OnCalendar=` of "every N minutes", firing when cron's `*/N` does (at
/// minutes 0, N, 2N... of every hour). systemd 252 skips midnight's 00:00
/// after 23:56 for `*:00/7` (a step that does not divide 60: seen with
/// `systemd-analyze calendar --base-time`), so such a step is spelled as
/// the list of its minutes, which it gets right.
fn every_minutes_on_calendar(n: u8) -> String {
    if 60 % n == 0 {
        return format!("*-*-* *:00/{n}:00");
    }
    let minutes: Vec<String> = (0..60)
        .step_by(n as usize)
        .map(|m| format!("{m:02}"))
        .collect();
    format!("*-*-* *:{}:00", minutes.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_render_for_both_sides() {
        let s = Schedule::parse("every 15m").unwrap();
        assert_eq!(s.on_calendar(), "*-*-* *:00/15:00");
        assert_eq!(s.cron(), "*/15 * * * *");
        let s = Schedule::parse("03:30").unwrap();
        assert_eq!(s.on_calendar(), "*-*-* 03:30:00");
        assert_eq!(s.cron(), "30 3 * * *");
        assert_eq!(Schedule::parse("weekly").unwrap().cron(), "0 0 * * 1");
        for ok in [
            "every 1m",
            "every 59m",
            "hourly",
            "daily",
            "00:00",
            "23:59",
            "monthly",
        ] {
            assert_eq!(Schedule::parse(ok).unwrap().as_spec(), ok);
        }
    }

    #[test]
    fn schedules_one_side_cannot_express_are_refused() {
        for bad in [
            "every 0m",
            "every 60m",
            "every 05m",
            "every +5m",
            "every 1h",
            "24:00",
            "3:30",
            "12:60",
            "*/5 * * * *",
            "Mon..Fri 10:00",
            "@reboot",
            "minutely",
            "",
            "daily ",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains("both systemd timers and cron"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn names_and_words() {
        assert!(job_name("worker-1").is_ok());
        for bad in ["", "Worker", "a_b", "a.b", "-a", "a/b", "a b", "a@b"] {
            assert!(job_name(bad).is_err(), "{bad:?}");
        }
        assert!(program("celery").is_ok());
        for bad in ["/usr/bin/x", "../x", ".x", "a;b", "$x"] {
            assert!(program(bad).is_err(), "{bad:?}");
        }
        for bad in ["a b", "a;b", "$(id)", "`id`", "a|b", "a&b", "a>b"] {
            assert!(word(bad).is_err(), "{bad:?}");
        }
    }
}
