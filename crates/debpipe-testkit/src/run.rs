//! Checking a finished command: it succeeded, or the test fails showing
//! what it said on stderr; and it printed the path it wrote.

use std::path::Path;
use std::process::Output;

/// Assert that `out` is a success; the failure message is its stderr.
#[track_caller]
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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
}
