//! The repository lock: two runs publishing one repository take turns.

use std::path::Path;

use debpipe_core::error::{Status, status};

use crate::{Error, Result};

/// Lock the repository at `out` for this run (`flock` on the directory
/// itself: no lock file is left in it), waiting for another run that holds
/// it and saying so on `stderr`. Without it, two runs that scan while the
/// other publishes could each write an index that lacks the other's new
/// package.
pub fn lock_repo(out: &Path, stderr: &mut impl std::io::Write) -> Result<Option<std::fs::File>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let dir = std::fs::File::open(out).map_err(|e| Error::io(out, e))?;
    let e = match dir.try_lock() {
        Ok(()) => return Ok(Some(dir)),
        Err(std::fs::TryLockError::WouldBlock) => {
            status(
                stderr,
                "scanpkgs",
                Status::Info,
                format_args!(
                    "{}: another scanpkgs run is publishing this repository; waiting",
                    out.display()
                ),
            );
            let _ = stderr.flush();
            match dir.lock() {
                Ok(()) => return Ok(Some(dir)),
                Err(e) => e,
            }
        }
        Err(std::fs::TryLockError::Error(e)) => e,
    };
    // Where the file system cannot lock (NFS turns flock into POSIX locks,
    // which a read-only descriptor cannot take: EBADF, or ENOLCK without a
    // lock daemon), run unlocked, as dpkg-scanpackages always does.
    if e.kind() == std::io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOLCK))
    {
        status(
            stderr,
            "scanpkgs",
            Status::Warning,
            format_args!(
                "{}: cannot lock ({e}); running without the lock",
                out.display()
            ),
        );
        return Ok(None);
    }
    Err(Error::io(out, e))
}
