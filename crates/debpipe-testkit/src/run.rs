//! Checking a finished command: it succeeded, or the test fails showing
//! what it said on stderr; it failed with a given code and wrote nothing
//! to stdout; it printed the path it wrote; shellcheck passes a script.

use std::path::Path;
use std::process::{Command, Output};

/// Assert that `out` is a success; the failure message is its stderr.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert that `out` exited `code` and wrote nothing to stdout (as the tools
/// fail); its stderr, for the checks of the message.
#[track_caller]
pub fn assert_fails(out: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty(), "{err}");
    err
}

/// Assert that `out` is a success whose stdout is `path` and a newline, as
/// the tools print what they wrote.
#[track_caller]
pub fn assert_prints_path(out: &Output, path: &Path) {
    assert_success(out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", path.display())
    );
}

/// Assert that shellcheck passes `script`; the failure shows its findings.
#[track_caller]
pub fn assert_shellcheck(script: &Path) {
    let out = Command::new("shellcheck")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("shellcheck: {e}"));
    assert!(
        out.status.success(),
        "shellcheck {}:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_passes() {
        assert_success(&Command::new("true").output().unwrap());
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn a_failure_shows_its_stderr() {
        assert_success(
            &Command::new("sh")
                .args(["-c", "echo boom >&2; exit 3"])
                .output()
                .unwrap(),
        );
    }

    #[test]
    fn a_printed_path_passes_and_another_fails() {
        let out = Command::new("echo").arg("/tmp/x.deb").output().unwrap();
        assert_prints_path(&out, Path::new("/tmp/x.deb"));
        let other = std::panic::catch_unwind(|| assert_prints_path(&out, Path::new("/tmp/y")));
        assert!(other.is_err());
    }

    #[test]
    fn a_failure_gives_its_stderr_and_a_wrong_code_or_stdout_fails() {
        let sh = |script: &str| Command::new("sh").args(["-c", script]).output().unwrap();
        assert_eq!(assert_fails(&sh("echo no >&2; exit 1"), 1), "no\n");
        for wrong in ["exit 2", "echo out; exit 1", "true"] {
            let out = sh(wrong);
            assert!(
                std::panic::catch_unwind(|| assert_fails(&out, 1)).is_err(),
                "{wrong}"
            );
        }
    }

    #[test]
    fn shellcheck_passes_a_clean_script_and_fails_a_broken_one() {
        let d = tempfile::tempdir().unwrap();
        let (good, bad) = (d.path().join("good.sh"), d.path().join("bad.sh"));
        std::fs::write(&good, "#!/bin/sh\necho \"$1\"\n").unwrap();
        std::fs::write(&bad, "#!/bin/sh\necho $1\n").unwrap();
        assert_shellcheck(&good);
        assert!(std::panic::catch_unwind(|| assert_shellcheck(&bad)).is_err());
    }
}
