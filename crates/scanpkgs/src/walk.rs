//! Finding the .deb files: the directory walk and the file-name filter.

use crate::scan::{Found, ScanOptions};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub(crate) fn matches_filter(name: &[u8], opts: &ScanOptions) -> bool {
    let suffix = [b".", opts.pkg_type.as_bytes()].concat();
    let Some(stem) = name.strip_suffix(suffix.as_slice()) else {
        return false;
    };
    let arch_ok = match &opts.arch {
        None => true,
        Some(arch) => stem.ends_with(b"_all") || stem.ends_with(&[b"_", arch.as_bytes()].concat()),
    };
    arch_ok
        && opts.version_suffix.as_ref().is_none_or(|suffix| {
            // <package>_<version>_<arch>: neither name nor version has a `_`
            stem.split(|&b| b == b'_')
                .nth(1)
                .is_some_and(|v| v.ends_with(suffix.as_bytes()))
        })
}

/// Walk `top` the way `File::Find` (with symlinks followed) names things:
/// `top` without one trailing slash, then `/name` per level; a file operand
/// is named by its absolute path. Entries are visited in byte order of their
/// names; a directory already visited (by device and inode) is skipped.
pub fn walk(
    top: &Path,
    opts: &ScanOptions,
    messages: &mut Vec<String>,
    errors: &mut usize,
) -> crate::Result<Vec<Found>> {
    let meta = fs::metadata(top).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            debpipe_core::Error::file(top, "binary path not found")
        } else {
            debpipe_core::Error::io(top, e)
        }
    })?;
    let mut out = Vec::new();
    if !meta.is_dir() {
        let abs = fs::canonicalize(top).map_err(|e| debpipe_core::Error::io(top, e))?;
        if matches_filter(abs.as_os_str().as_bytes(), opts) {
            out.push(Found { path: abs, meta });
        }
        return Ok(out);
    }
    let mut name = top.as_os_str().as_bytes().to_vec();
    if name.len() > 1 && name.ends_with(b"/") {
        name.pop();
    }
    if name == b"/" {
        name.clear();
    }
    let mut seen = HashSet::new();
    seen.insert((meta.dev(), meta.ino()));
    walk_dir(&name, opts, &mut seen, &mut out, messages, errors);
    Ok(out)
}

pub(crate) fn walk_dir(
    dir: &[u8],
    opts: &ScanOptions,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Found>,
    messages: &mut Vec<String>,
    errors: &mut usize,
) {
    let dir_path = if dir.is_empty() {
        Path::new("/")
    } else {
        Path::new(std::ffi::OsStr::from_bytes(dir))
    };
    let rd = match fs::read_dir(dir_path) {
        Ok(rd) => rd,
        Err(e) => {
            messages.push(format!(
                "warning: {}: cannot read directory: {e}",
                dir_path.display()
            ));
            *errors += 1;
            return;
        }
    };
    let mut names: Vec<OsString> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for n in names {
        let mut full = dir.to_vec();
        full.push(b'/');
        full.extend_from_slice(n.as_bytes());
        let path = PathBuf::from(OsString::from_vec(full));
        let wanted = matches_filter(n.as_bytes(), opts);
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                if seen.insert((m.dev(), m.ino())) {
                    walk_dir(
                        path.as_os_str().as_bytes(),
                        opts,
                        seen,
                        out,
                        messages,
                        errors,
                    );
                }
            }
            Ok(meta) => {
                if wanted {
                    out.push(Found { path, meta });
                }
            }
            Err(e) => {
                if wanted {
                    messages.push(format!("warning: {}: skipped: {e}", path.display()));
                    *errors += 1;
                }
            }
        }
    }
}
