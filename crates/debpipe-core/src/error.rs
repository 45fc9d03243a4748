//! One error type for every tool, and the exit-code convention.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success, `--help`, `--version`, reader closed the pipe |
//! | 1 | any failure: I/O, bad JSON, invalid spec, corrupt input |
//! | 2 | usage: bad flags (clap), or flags that parse but conflict |

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure a debpipe tool reports. Each message fits on one line and
/// names the file or the spec field it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        err: std::io::Error,
    },
    /// A JSON document that does not parse or does not fit the schema.
    #[error("{}: {msg}", path.display())]
    Json {
        /// The file (`<stdin>` for stdin).
        path: PathBuf,
        /// serde's message, with the field path in front when known.
        msg: String,
    },
    /// A spec value that parsed but is not allowed.
    #[error("spec field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field, e.g. `env.DEBUG` or `static.dir`.
        field: String,
        /// Why, quoting the value.
        reason: String,
    },
    /// A file whose content is wrong (corrupt archive, bad control file...).
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An environment variable whose value is not allowed.
    #[error("{name}: {reason}")]
    Env {
        /// The variable, e.g. `SOURCE_DATE_EPOCH`.
        name: String,
        /// Why, quoting the value.
        reason: String,
    },
    /// A program debpipe runs (dpkg, python...) that failed.
    #[error("{command}: {reason}")]
    Command {
        /// The command line, short: `dpkg --print-architecture`.
        command: String,
        /// What it said or how it ended.
        reason: String,
    },
    /// Flags that parse but conflict, or a missing operand: exit code 2.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            err,
        }
    }

    /// A content error on `path`.
    pub fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A bad value of the environment variable `name`.
    pub fn env(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Env {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// A failed run of `command`.
    pub fn command(command: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Command {
            command: command.into(),
            reason: reason.into(),
        }
    }

    /// An invalid spec field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The process exit code for this error: 2 for usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if matches!(self, Self::Usage(_)) { 2 } else { 1 }
    }

    /// True when the reader of our stdout went away (`tool | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io { err, .. } if err.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Attach `path` to an error raised while handling that file, unless the
    /// error already names one.
    #[must_use]
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::File {
                path: path.to_path_buf(),
                reason: format!("spec field `{field}`: {reason}"),
            },
            other => other,
        }
    }
}

/// Turn a tool's result into its exit code, printing `TOOL: error: MSG` for
/// failures. A closed pipe on stdout is success, as for `head`.
pub fn report(tool: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            let _ = writeln!(std::io::stderr().lock(), "{tool}: error: {msg}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// What a status line is: the tools' one format for lines that are not
/// the final error, `<tool>: <kind>: <message>` on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Progress or a decision worth knowing (`info`).
    Info,
    /// Something is wrong but the tool goes on (`warning`).
    Warning,
}

/// Write one status line to `out` (stderr in the tools): `<tool>: info: ...`
/// or `<tool>: warning: ...`, newlines in `msg` folded to spaces, as
/// [`report`] writes errors. A failed write is ignored: a status line never
/// fails a run.
pub fn status(out: &mut impl Write, tool: &str, kind: Status, msg: impl std::fmt::Display) {
    let kind = match kind {
        Status::Info => "info",
        Status::Warning => "warning",
    };
    let msg = msg.to_string().replace('\n', " ");
    let _ = writeln!(out, "{tool}: {kind}: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_tool_and_kind_on_one_line() {
        let mut out = Vec::new();
        status(&mut out, "t", Status::Warning, "a\nb");
        status(&mut out, "t", Status::Info, 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t: warning: a b\nt: info: 3\n"
        );
    }

    #[test]
    fn usage_is_2_everything_else_1() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::invalid("module", "bad").exit_code(), 1);
        assert_eq!(Error::io("f", std::io::Error::other("boom")).exit_code(), 1);
    }

    #[test]
    fn messages_name_field_and_file() {
        assert_eq!(
            Error::invalid("module", "must be x").to_string(),
            "spec field `module`: must be x"
        );
        assert_eq!(
            Error::invalid("module", "must be x")
                .in_file(Path::new("app.json"))
                .to_string(),
            "app.json: spec field `module`: must be x"
        );
    }

    #[test]
    fn broken_pipe_is_detected() {
        let e = Error::io(
            "<stdout>",
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        );
        assert!(e.is_broken_pipe());
    }
}
