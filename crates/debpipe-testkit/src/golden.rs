//! Golden files: compare a tool's output with the file under
//! `tests/golden/`, or rewrite it with `BLESS=1`; the shared `tests/fixtures/`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Compare `actual` with the golden file at `path`, byte for byte. With
/// `BLESS=1` in the environment, (re)write the golden file instead.
///
/// # Panics
/// When they differ, with both texts in the message.
pub fn assert_golden(path: impl AsRef<Path>, actual: &[u8]) {
    let path = path.as_ref();
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "golden file {}: {e} (run with BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from golden file {} (BLESS=1 rewrites it)\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

/// The workspace's shared fixtures: `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}
