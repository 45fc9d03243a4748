//! Helpers the repository tools' tests share (scanpkgs, pushrepo).

use std::path::Path;
use std::process::Command;

use crate::{assert_golden, assert_success};

/// `bin --help` at 100 columns is `manifest_dir/tests/golden/help.txt`;
/// returns the help text.
pub fn assert_help_golden(bin: &Path, manifest_dir: &str) -> Vec<u8> {
    let out = Command::new(bin)
        .env("COLUMNS", "100")
        .arg("--help")
        .output()
        .expect("run --help");
    assert_success(&out);
    assert_golden(
        Path::new(manifest_dir).join("tests/golden/help.txt"),
        &out.stdout,
    );
    out.stdout
}
