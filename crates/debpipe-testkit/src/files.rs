//! Writing a test's input files: parents made as needed, a mode when one
//! matters.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Write `text` to `path`, making its parent directories.
pub fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// [`write()`](fn@write), then give the file `mode`.
pub fn write_mode(path: &Path, text: &str, mode: u32) {
    write(path, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_mode_makes_parents_and_sets_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/run.sh");
        write_mode(&p, "#!/bin/sh\n", 0o700);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "#!/bin/sh\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o700
        );
    }
}
