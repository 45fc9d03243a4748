//! Where tests keep slow inputs between runs (wheelhouses, debootstrap
//! roots, downloaded .debs): `$DEBPIPE_CACHE`, else `~/.cache/debpipe`, as
//! the Makefile and the end-to-end scripts resolve it.

use std::path::PathBuf;

/// The cache directory (not created).
///
/// # Panics
/// Without `DEBPIPE_CACHE` and `HOME`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("DEBPIPE_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/debpipe"),
    }
}
