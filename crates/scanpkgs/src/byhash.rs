//! by-hash copies of the indexes in a local repository (dists layout only;
//! what they are and where they go: [`debpipe_repo::byhash`]). The copies
//! are written before the canonical files and the Release
//! ([`debpipe_repo::publish`]); those of the previous Release are kept (one
//! old generation, as aptly does), older ones removed after the Release.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

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

/// The copies of `ours` (keys under the index directory `index_key`),
/// written create-only: one already there is the same.
pub(crate) fn copies<'a>(
    index_key: &str,
    rel_index: &Path,
    ours: &'a [OurIndex<'_>],
    sums: &[IndexSum],
) -> Vec<(String, &'a [u8])> {
    ours.iter()
        .filter_map(|(name, data, _)| {
            let h = sha512_of(sums, rel_index, name)?;
            Some((format!("{index_key}{DIR}/{h}"), data.as_slice()))
        })
        .collect()
}

/// The keys of the copies in `index_dir` (key prefix `index_key`) that
/// neither the new Release (`sums`) nor the previous one (`old`) names.
pub(crate) fn stale(
    index_dir: &Path,
    index_key: &str,
    rel_index: &Path,
    sums: &[IndexSum],
    old: &[IndexSum],
) -> Result<Vec<String>> {
    let keep: BTreeSet<&str> = INDEX_NAMES
        .iter()
        .flat_map(|n| [sha512_of(sums, rel_index, n), sha512_of(old, rel_index, n)])
        .flatten()
        .collect();
    let dir = index_dir.join(DIR);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(&dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !keep.contains(name.as_ref()) {
            out.push(format!("{index_key}{DIR}/{name}"));
        }
    }
    out.sort();
    Ok(out)
}
