//! The interpreter policy: which python a venv may be built with (one the
//! target has at the same path), its version, and the `python3` relations.

use crate::pip::{apply_env, last_error_line};
use debpipe_core::sysroot::Sysroot;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use debpipe_core::{Error, Result};

/// Directories an interpreter may live in without `--force-python`.
pub const SYSTEM_BIN_DIRS: [&str; 2] = ["/usr/bin", "/usr/local/bin"];

/// Refuse an interpreter a target machine would not have at the same path.
/// `resolved` is its canonical path once known.
pub fn check_interpreter(
    given: &Path,
    resolved: Option<&Path>,
    force: bool,
) -> std::result::Result<(), String> {
    if !given.is_absolute() {
        return Err("the interpreter must be an absolute path, e.g. /usr/bin/python3".into());
    }
    if force {
        return Ok(());
    }
    let in_system_dir = |p: &Path| {
        p.parent()
            .is_some_and(|d| SYSTEM_BIN_DIRS.iter().any(|s| d == Path::new(s)))
    };
    let why = "a venv points at the interpreter it was made with, so one made from it would not run on a target machine (use --force-python to override)";
    if !in_system_dir(given) {
        return Err(format!(
            "refused: interpreter not under /usr/bin or /usr/local/bin: {why}"
        ));
    }
    if let Some(r) = resolved
        && !in_system_dir(r)
    {
        return Err(format!(
            "refused: interpreter resolves to {}, not under /usr/bin or /usr/local/bin: {why}",
            r.display()
        ));
    }
    Ok(())
}

/// The Debian relations on the interpreter: `python3 (>= X.Y), python3 (<< X.Y+1)`
/// for `/usr/bin/python3` (the venv breaks when the default python3 changes
/// minor version), `pythonX.Y` for `/usr/bin/pythonX.Y`, none for an
/// interpreter no Debian package provides.
pub fn python_depends(interpreter: &Path, (major, minor): (u32, u32)) -> Vec<String> {
    let name = interpreter
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("");
    if interpreter.parent() != Some(Path::new("/usr/bin")) {
        return Vec::new();
    }
    if name == format!("python{major}") {
        vec![
            format!("python{major} (>= {major}.{minor})"),
            format!("python{major} (<< {major}.{})", minor + 1),
        ]
    } else if name == format!("python{major}.{minor}") {
        vec![name.to_string()]
    } else {
        Vec::new()
    }
}

/// `(major, minor)` of the interpreter.
pub(crate) fn probe_python(
    sysroot: &Sysroot,
    python: &Path,
    env: &[(OsString, OsString)],
) -> Result<(u32, u32)> {
    let mut cmd = sysroot.command(python);
    cmd.args([
        "-I",
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    ]);
    apply_env(&mut cmd, env);
    let out = cmd.output().map_err(|e| Error::io(python, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = text
        .trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if out.status.success() => Ok(v),
        _ => Err(Error::file(
            python,
            format!(
                "cannot get the Python version: {}",
                last_error_line(&String::from_utf8_lossy(&out.stderr), &text)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn pyenv_python_is_refused_unless_forced() {
        let p = Path::new("/root/.pyenv/versions/3.11.7/bin/python3");
        let e = check_interpreter(p, None, false).unwrap_err();
        assert!(e.contains("refused") && e.contains("--force-python"), "{e}");
        assert!(check_interpreter(p, None, true).is_ok());
        assert!(check_interpreter(Path::new("/usr/bin/python3"), None, false).is_ok());
        assert!(check_interpreter(Path::new("/usr/local/bin/python3.12"), None, false).is_ok());
        assert!(check_interpreter(Path::new("python3"), None, true).is_err());
        // a /usr/bin symlink into pyenv is refused too
        let e = check_interpreter(Path::new("/usr/bin/python3"), Some(p), false).unwrap_err();
        assert!(e.contains("resolves to /root/.pyenv"), "{e}");
    }

    #[test]
    fn python_dependency_follows_the_interpreter() {
        assert_eq!(
            python_depends(Path::new("/usr/bin/python3"), (3, 11)),
            ["python3 (>= 3.11)", "python3 (<< 3.12)"]
        );
        assert_eq!(
            python_depends(Path::new("/usr/bin/python3.12"), (3, 12)),
            ["python3.12"]
        );
        assert!(python_depends(Path::new("/usr/local/bin/python3"), (3, 12)).is_empty());
    }
}
