//! What the build steps must not leave in the stage: bytecode (lintian's
//! `package-installs-python-pycache-dir`; postinst compiles on the server),
//! and gzip files with timestamps (see [`crate::gz`]).
//!
//! The steps run with `PYTHONDONTWRITEBYTECODE=1`, but a build command may
//! compile on purpose or start a python of its own, so the trees are swept
//! afterwards. The gzip files a build command wrote are found by comparing
//! the trees' `.gz` files before and after it ([`GzSnapshot`]): those are
//! normalised, the package's others are left as they are.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// Remove every `__pycache__` directory and `.pyc`/`.pyo` file under each
/// of `dirs` (those that exist); how many were removed.
pub fn remove_bytecode(dirs: &[PathBuf]) -> io::Result<usize> {
    let mut removed = 0;
    for dir in dirs {
        if !dir.is_dir() {
            continue;
        }
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d)? {
                let e = e?;
                let (path, ft) = (e.path(), e.file_type()?);
                let name = e.file_name();
                if ft.is_dir() && name == "__pycache__" {
                    fs::remove_dir_all(&path)?;
                    removed += 1;
                } else if ft.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|x| x == "pyc" || x == "pyo") {
                    fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// The `.gz` files under some trees, each with what tells a rewritten file
/// (inode, size, mtime, ctime).
#[derive(Debug, Default)]
pub struct GzSnapshot {
    seen: BTreeMap<PathBuf, [i64; 6]>,
}

impl GzSnapshot {
    /// Record the `.gz` files under each of `dirs` (those that exist; a
    /// path under two of them counts once).
    pub fn take(dirs: &[PathBuf]) -> io::Result<Self> {
        let mut seen = BTreeMap::new();
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let mut stack = vec![dir.clone()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d)? {
                    let e = e?;
                    let ft = e.file_type()?;
                    let path = e.path();
                    if ft.is_dir() {
                        stack.push(path);
                    } else if ft.is_file() && path.extension().is_some_and(|x| x == "gz") {
                        let m = e.metadata()?;
                        #[allow(clippy::cast_possible_wrap)] // inode and size fit in i64
                        let id = [
                            m.ino() as i64,
                            m.size() as i64,
                            m.mtime(),
                            m.mtime_nsec(),
                            m.ctime(),
                            m.ctime_nsec(),
                        ];
                        seen.insert(path, id);
                    }
                }
            }
        }
        Ok(Self { seen })
    }

    /// The `.gz` files of `after` that are new or changed since `self`.
    pub fn written_since<'a>(&self, after: &'a Self) -> Vec<&'a Path> {
        after
            .seen
            .iter()
            .filter(|(p, id)| self.seen.get(*p) != Some(id))
            .map(|(p, _)| p.as_path())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::write;

    #[test]
    fn bytecode_goes_and_sources_stay() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("app");
        write(&a.join("pkg/__pycache__/m.cpython-311.pyc"), "");
        write(&a.join("pkg/m.py"), "");
        write(&a.join("pkg/old.pyc"), "");
        let n = remove_bytecode(&[a.clone(), d.path().join("absent")]).unwrap();
        assert_eq!(n, 2);
        assert!(a.join("pkg/m.py").exists() && !a.join("pkg/__pycache__").exists());
        assert!(!a.join("pkg/old.pyc").exists());
    }

    #[test]
    fn the_snapshot_names_new_and_rewritten_gz_files_only() {
        let d = tempfile::tempdir().unwrap();
        let dirs = [d.path().to_path_buf()];
        fs::write(d.path().join("kept.gz"), "a").unwrap();
        fs::write(d.path().join("rewritten.gz"), "a").unwrap();
        let before = GzSnapshot::take(&dirs).unwrap();
        fs::write(d.path().join("new.gz"), "b").unwrap();
        fs::write(d.path().join("new.txt"), "b").unwrap();
        fs::remove_file(d.path().join("rewritten.gz")).unwrap();
        fs::write(d.path().join("rewritten.gz"), "bb").unwrap();
        let after = GzSnapshot::take(&dirs).unwrap();
        let names: Vec<_> = before
            .written_since(&after)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["new.gz", "rewritten.gz"]);
    }
}
