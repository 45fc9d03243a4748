//! The one rule for the modes of shipped files: 0755 for what runs, 0644
//! for everything else, decided from what a file is rather than from the
//! bits it arrived with (pip keeps a wheel's executable bits on shared
//! libraries and data; a project's checkout may have stray ones). lintian
//! flags both directions: `executable-not-elf-or-script`,
//! `shared-library-is-executable`, `script-not-executable`.

/// Directories, ELF executables and scripts.
pub const EXECUTABLE: u32 = 0o755;
/// Everything else.
pub const DATA: u32 = 0o644;

/// The mode of a regular file with contents starting `data`:
/// [`EXECUTABLE`] for an ELF executable, and for a `#!` script where
/// scripts may run (`may_run`: a venv's `bin/`, or a project file that had
/// an executable bit, like `manage.py`); [`DATA`] for the rest: shared
/// libraries, extension modules, Python modules with or without a `#!`
/// line, data.
pub fn file_mode(data: &[u8], executable_elf: bool, may_run: bool) -> u32 {
    if executable_elf || (may_run && data.starts_with(b"#!")) {
        EXECUTABLE
    } else {
        DATA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_runs_is_0755() {
        assert_eq!(file_mode(b"\x7fELF...", true, false), 0o755);
        assert_eq!(file_mode(b"#!/bin/sh\n", false, true), 0o755);
        assert_eq!(file_mode(b"#!/usr/bin/python3\n", false, false), 0o644);
        assert_eq!(file_mode(b"\x7fELF...", false, true), 0o644);
        assert_eq!(file_mode(b"data", false, true), 0o644);
    }
}
