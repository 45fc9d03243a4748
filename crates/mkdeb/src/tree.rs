//! Walking the staging tree in dpkg-deb's order.
//!
//! dpkg-deb feeds tar the names from a depth-first walk whose siblings are
//! sorted by `strcmp` of their names (so `a/x` comes before `a-b`, and `B`
//! before `a`), every directory before its contents, the top-level `DEBIAN`
//! left out, and every symlink moved after all other entries (in walk
//! order) so that no link comes before its target.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use debpipe_core::{Error, Result};

/// The control directory inside the staging tree.
pub const CONTROL_DIR: &str = "DEBIAN";

/// What a tree entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Its length.
        size: u64,
        /// Device and inode, to find hard links.
        id: (u64, u64),
        /// Link count.
        nlink: u64,
    },
    /// A symbolic link.
    Symlink {
        /// Its target.
        target: Vec<u8>,
    },
}

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the tree root, without `./`; empty for the root.
    pub rel: Vec<u8>,
    /// What it is.
    pub kind: Kind,
    /// Permission bits, with setuid, setgid and sticky.
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

impl Entry {
    /// The name in the tar member: `./` + path, `/` after a directory.
    pub fn tar_name(&self) -> Vec<u8> {
        let mut n = Vec::with_capacity(self.rel.len() + 3);
        n.extend_from_slice(b"./");
        n.extend_from_slice(&self.rel);
        if self.kind == Kind::Dir && !self.rel.is_empty() {
            n.push(b'/');
        }
        n
    }

    /// The path of this entry under `root`.
    pub fn path(&self, root: &Path) -> PathBuf {
        if self.rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(OsStr::from_bytes(&self.rel))
        }
    }
}

/// Read the entry at `path` (without following a symlink). `rel` is its
/// name in the package. Sockets, FIFOs and devices are refused: a web
/// app's package has no use for them and tar cannot store a socket.
pub fn stat(path: &Path, rel: Vec<u8>) -> Result<Entry> {
    let md = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File {
            size: md.len(),
            id: (md.dev(), md.ino()),
            nlink: md.nlink(),
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| Error::io(path, e))?;
        Kind::Symlink {
            target: target.into_os_string().into_encoded_bytes(),
        }
    } else {
        let what = if ft.is_socket() {
            "a socket"
        } else if ft.is_fifo() {
            "a FIFO"
        } else {
            "a device"
        };
        return Err(Error::file(
            path,
            format!("is {what}; only directories, regular files and symlinks can be packaged"),
        ));
    };
    if rel.contains(&b'\n') {
        return Err(Error::file(path, "newline not allowed in a file name"));
    }
    Ok(Entry {
        rel,
        kind,
        mode: md.mode() & 0o7777,
        mtime: md.mtime(),
    })
}

/// The sorted names in directory `dir`.
pub fn sorted_names(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut names = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| {
            e.map(|e| e.file_name().into_encoded_bytes())
                .map_err(|err| Error::io(dir, err))
        })
        .collect::<Result<Vec<_>>>()?;
    names.sort_unstable();
    Ok(names)
}

/// Every entry of the tree at `root` but `DEBIAN/`, in dpkg-deb's order.
pub fn walk(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    walk_each(root, |e| {
        out.push(e);
        Ok::<(), Error>(())
    })?;
    Ok(out)
}

/// Call `f` on every entry of the tree at `root` but `DEBIAN/`, in
/// dpkg-deb's order, as the walk goes (symlinks at the end).
pub fn walk_each<E: From<Error>>(
    root: &Path,
    mut f: impl FnMut(Entry) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let top = stat(root, Vec::new())?;
    if top.kind != Kind::Dir {
        return Err(Error::file(root, "not a directory").into());
    }
    f(top)?;
    let mut links = Vec::new();
    walk_dir(root, &[], &mut f, &mut links)?;
    links.into_iter().try_for_each(f)
}

fn walk_dir<E: From<Error>>(
    root: &Path,
    rel: &[u8],
    f: &mut impl FnMut(Entry) -> std::result::Result<(), E>,
    links: &mut Vec<Entry>,
) -> std::result::Result<(), E> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    };
    for name in sorted_names(&dir)? {
        if rel.is_empty() && name == CONTROL_DIR.as_bytes() {
            continue;
        }
        let mut child = Vec::with_capacity(rel.len() + 1 + name.len());
        if !rel.is_empty() {
            child.extend_from_slice(rel);
            child.push(b'/');
        }
        child.extend_from_slice(&name);
        let e = stat(&dir.join(OsStr::from_bytes(&name)), child)?;
        match e.kind {
            Kind::Symlink { .. } => links.push(e),
            Kind::Dir => {
                let sub = e.rel.clone();
                f(e)?;
                walk_dir(root, &sub, f, links)?;
            }
            Kind::File { .. } => f(e)?,
        }
    }
    Ok(())
}

/// Installed-Size as dpkg-gencontrol computes it, in KiB: each regular file
/// and symlink counts its size rounded up to KiB (a symlink's size is the
/// length of its target), a hard-linked file once; every other object
/// (each directory, the root included) counts 1.
pub fn installed_size<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> u64 {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .map(|e| match &e.kind {
            Kind::Dir => 1,
            Kind::File { size, id, nlink } => {
                if *nlink > 1 && !seen.insert(*id) {
                    0
                } else {
                    size.div_ceil(1024)
                }
            }
            Kind::Symlink { target } => (target.len() as u64).div_ceil(1024),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8(e.tar_name()).unwrap())
            .collect()
    }

    #[test]
    fn walk_order_is_dpkg_debs() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for dir in ["DEBIAN", "a/x", "a-b", "B", "_z"] {
            fs::create_dir_all(r.join(dir)).unwrap();
        }
        for f in ["a/x/f", "a-b/f", "B/f", "af", "sp ace", "DEBIAN/control"] {
            fs::write(r.join(f), "x").unwrap();
        }
        symlink("af", r.join("a0link")).unwrap();
        symlink("a/x", r.join("a/lnk")).unwrap();
        let got = names(&walk(r).unwrap());
        let want = [
            "./", "./B/", "./B/f", "./_z/", "./a/", "./a/x/", "./a/x/f", "./a-b/", "./a-b/f",
            "./af", "./sp ace", "./a/lnk", "./a0link",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn installed_size_counts_like_dpkg_gencontrol() {
        let e = |kind| Entry {
            rel: b"x".to_vec(),
            kind,
            mode: 0o644,
            mtime: 0,
        };
        let file = |size, ino, nlink| {
            e(Kind::File {
                size,
                id: (1, ino),
                nlink,
            })
        };
        let entries = [
            e(Kind::Dir),
            file(0, 1, 1),
            file(1, 2, 1),
            file(1024, 3, 1),
            file(1025, 4, 2),
            file(1025, 4, 2),
            e(Kind::Symlink {
                target: b"t".to_vec(),
            }),
        ];
        assert_eq!(installed_size(&entries), 1 + 1 + 1 + 2 + 1);
    }

    #[test]
    fn sockets_are_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
        let err = stat(&p, b"sock".to_vec()).unwrap_err().to_string();
        assert!(err.contains("sock: is a socket"), "{err}");
    }
}
