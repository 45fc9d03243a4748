//! The dists layout: which index directories a Release covers, and their checksums.

use crate::repo::{OurIndex, RepoOptions, read_if_exists, xz};
use crate::{Error, Result};
use debpipe_core::io::gzip9n;
use debpipe_repo::release::IndexSum;
use std::fs;
use std::path::Path;

pub(crate) fn sorted_subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        if e.file_type().is_ok_and(|t| t.is_dir())
            && let Some(n) = e.file_name().to_str()
        {
            out.push(n.to_string());
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) const INDEX_NAMES: [&str; 3] = ["Packages", "Packages.gz", "Packages.xz"];

/// The sums of every index under a dists/SUITE directory (ours from
/// memory, the others from disk), with the architectures and components.
pub(crate) fn dists_sums(
    opts: &RepoOptions,
    release_dir: &Path,
    rel_index: &Path,
    ours: &[OurIndex<'_>],
    old_sums: &[IndexSum],
) -> Result<(Vec<IndexSum>, Vec<String>, Vec<String>)> {
    let mut sums = Vec::new();
    let mut archs = Vec::new();
    let mut comps = Vec::new();
    let mut dirs: Vec<(String, String)> = Vec::new();
    for comp in sorted_subdirs(release_dir)? {
        for sub in sorted_subdirs(&release_dir.join(&comp))? {
            if sub.starts_with("binary-") {
                dirs.push((comp.clone(), sub));
            }
        }
    }
    let our = (
        opts.component.clone(),
        format!("binary-{}", opts.arch.as_deref().unwrap_or_default()),
    );
    if !dirs.contains(&our) {
        dirs.push(our);
        dirs.sort();
    }
    for (comp, sub) in dirs {
        let rel = Path::new(&comp).join(&sub);
        if !comps.contains(&comp) {
            comps.push(comp.clone());
        }
        let arch = sub["binary-".len()..].to_string();
        if !archs.contains(&arch) {
            archs.push(arch);
        }
        for name in INDEX_NAMES {
            let relpath = rel.join(name).to_string_lossy().into_owned();
            if rel == rel_index {
                if let Some((_, data, _)) = ours.iter().find(|(n, _, _)| *n == name) {
                    sums.push(IndexSum::of_with_old(relpath, data, old_sums));
                }
            } else if let Some(data) = read_if_exists(&release_dir.join(&relpath))? {
                sums.push(IndexSum::of_with_old(relpath, &data, old_sums));
            }
        }
    }
    archs.sort();
    Ok((sums, archs, comps))
}

/// Our index files: Packages, Packages.gz and (if asked) Packages.xz,
/// reusing the compressed ones on disk when Packages is unchanged
/// (compressing is the slow part of a no-op run).
pub(crate) fn our_indices<'a>(
    opts: &RepoOptions,
    index_dir: &Path,
    packages: &[u8],
) -> Result<Vec<OurIndex<'a>>> {
    let old_packages = read_if_exists(&index_dir.join("Packages"))?;
    let same = old_packages.as_deref() == Some(packages);
    let mut ours: Vec<OurIndex<'a>> = vec![("Packages", packages.to_vec(), !same)];
    for name in ["Packages.gz", "Packages.xz"] {
        if name == "Packages.xz" && !opts.xz {
            continue;
        }
        let path = index_dir.join(name);
        let existing = if same { read_if_exists(&path)? } else { None };
        let entry = match existing {
            Some(b) => (name, b, false),
            None if name == "Packages.gz" => (name, gzip9n(packages), true),
            None => (name, xz(packages, &path)?, true),
        };
        ours.push(entry);
    }
    Ok(ours)
}
