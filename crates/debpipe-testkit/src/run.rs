//! Checking a finished command: it succeeded, or the test fails showing
//! what it said on stderr.

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
}
