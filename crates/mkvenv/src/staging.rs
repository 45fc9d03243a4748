//! The build directory beside the staging path, and its move into place:
//! a failure leaves nothing at `STAGE/<venv>`.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use debpipe_core::{Error, Result};

/// A hidden temporary directory beside `target` (same file system, so it
/// can be renamed into place), after checking `target` may be replaced.
pub(crate) fn make_build_dir(target: &Path) -> Result<tempfile::TempDir> {
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(Error::invalid("venv", "must name a directory"));
    };
    fs::DirBuilder::new()
        .recursive(true)
        .create(parent)
        .map_err(|e| Error::io(parent, e))?;
    check_target(target)?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".mkvenv-");
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))
}

/// The staging path may hold a venv from an earlier run (replaced) or
/// nothing; anything else is not ours to delete.
pub(crate) fn check_target(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(target, e)),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(target)
                .map_err(|e| Error::io(target, e))?
                .next()
                .is_none();
            if empty || target.join("pyvenv.cfg").is_file() {
                Ok(())
            } else {
                Err(Error::file(
                    target,
                    "exists and is not a virtualenv; remove it first",
                ))
            }
        }
        Ok(_) => Err(Error::file(target, "exists and is not a directory")),
    }
}

/// Rename the finished build directory to the staging path, replacing an
/// earlier venv there.
pub(crate) fn put_in_place(build: tempfile::TempDir, target: &Path) -> Result<()> {
    let parent = target.parent().unwrap_or(Path::new("/"));
    let old = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(".mkvenv-old-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(parent, e))?;
        fs::rename(target, aside.path().join("venv")).map_err(|e| Error::io(target, e))?;
        Some(aside)
    } else {
        None
    };
    let dir = build.keep();
    fs::rename(&dir, target).map_err(|e| Error::io(target, e))?;
    if let Some(old) = old {
        old.close().map_err(|e| Error::io(target, e))?;
    }
    Ok(())
}
