//! by-hash copies of the indexes in a local repository (dists layout only;
//! what they are and where they go: [`debpipe_repo::byhash`]). The copies
//! are written before the canonical files and the Release; those of the
//! previous Release are kept (one old generation, as aptly does), older
//! ones removed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::dists::INDEX_NAMES;
use crate::repo::OurIndex;
use crate::{Error, Result};
use debpipe_repo::release::IndexSum;

pub use debpipe_repo::byhash::DIR;

/// The SHA-512 (hex) the Release `sums` give our index `name` in the index
/// directory `rel_index` (relative to the Release's directory).
fn sha512_of<'a>(sums: &'a [IndexSum], rel_index: &Path, name: &str) -> Option<&'a str> {
    let path = rel_index.join(name);
    let path = path.to_string_lossy();
    sums.iter()
        .find(|s| s.path == path)
        .map(|s| s.sums[3].as_str())
}

/// True when a copy of one of `ours` is missing.
pub(crate) fn missing(
    index_dir: &Path,
    rel_index: &Path,
    ours: &[OurIndex<'_>],
    sums: &[IndexSum],
) -> bool {
    ours.iter().any(|(name, _, _)| {
        sha512_of(sums, rel_index, name).is_none_or(|h| !index_dir.join(DIR).join(h).is_file())
    })
}

/// Write the copies of `ours` that are missing; return what was written.
pub(crate) fn write(
    index_dir: &Path,
    rel_index: &Path,
    ours: &[OurIndex<'_>],
    sums: &[IndexSum],
) -> Result<Vec<PathBuf>> {
    let dir = index_dir.join(DIR);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut wrote = Vec::new();
    for (name, data, _) in ours {
        let Some(h) = sha512_of(sums, rel_index, name) else {
            continue;
        };
        let p = dir.join(h);
        if !p.is_file() {
            debpipe_core::io::write_atomic(&p, data, 0o644)?;
            wrote.push(p);
        }
    }
    Ok(wrote)
}

/// Remove the copies in `index_dir` that neither the new Release (`sums`)
/// nor the previous one (`old`) names for it.
pub(crate) fn prune(
    index_dir: &Path,
    rel_index: &Path,
    sums: &[IndexSum],
    old: &[IndexSum],
) -> Result<()> {
    let keep: BTreeSet<&str> = INDEX_NAMES
        .iter()
        .flat_map(|n| [sha512_of(sums, rel_index, n), sha512_of(old, rel_index, n)])
        .flatten()
        .collect();
    let dir = index_dir.join(DIR);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(&dir, e))?;
        let name = e.file_name();
        if !keep.contains(name.to_string_lossy().as_ref()) {
            let p = e.path();
            fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}
