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

    /// One row a case: the file's first bytes, `executable_elf`, `may_run`
    /// (a venv's `bin/`: mkvenv; a project file with an executable bit:
    /// stage-app), and the mode.
    #[test]
    fn what_runs_is_0755_the_rest_0644() {
        for (data, executable_elf, may_run, mode) in [
            // an ELF program, and a `#!` script where scripts run
            (&b"\x7fELF..."[..], true, false, 0o755),
            (b"\x7fELF\x02", true, false, 0o755),
            (b"#!/bin/sh\n", false, true, 0o755),
            (b"#!/opt/v/bin/python3\n", false, true, 0o755),
            (b"#!/bin/sh\n'''exec' /x\n", false, true, 0o755),
            // a shared library, a module with a shebang, data, bin/activate
            (b"#!/usr/bin/python3\n", false, false, 0o644),
            (b"#!/usr/bin/env python3\n", false, false, 0o644),
            (b"\x7fELF...", false, true, 0o644),
            (b"\x7fELF\x02", false, false, 0o644),
            (b"\x7fELF\x02", false, true, 0o644),
            (b"data", false, true, 0o644),
            (b"\xde\x12\x04\x95", false, false, 0o644),
            (
                b"# This file must be used with source\n",
                false,
                true,
                0o644,
            ),
        ] {
            assert_eq!(
                file_mode(data, executable_elf, may_run),
                mode,
                "{:?} {executable_elf} {may_run}",
                String::from_utf8_lossy(data)
            );
        }
    }
}
