//! [`Store`] on a local directory: keys are paths under the root, files
//! are written atomically (`debpipe_core::io::write_atomic`: a temporary
//! file beside the target, renamed), mode 0644, directories made as needed.
//!
//! An object's ETag is the SHA-256 of its bytes, quoted. Conditions
//! ([`Put`]) are checked before the rename: they hold against writers that
//! take the repository's lock first (scanpkgs' `flock` on the root); a
//! `Create` is also atomic on its own (a hard link that never replaces).

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::{Object, Put, Store, Written};
use crate::release::sha256_hex;
use crate::{Error, Result};

/// A repository in a local directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The store rooted at `root` (made on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The path of `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    fn etag(data: &[u8]) -> String {
        format!("\"{}\"", sha256_hex(data))
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(key);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::IsADirectory => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }
}

impl Store for DirStore {
    fn url(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        Ok(self.read(key)?.map(|data| Object {
            etag: Self::etag(&data),
            data,
        }))
    }

    fn head(&self, key: &str) -> Result<Option<String>> {
        Ok(self.get(key)?.map(|o| o.etag))
    }

    fn put(&self, key: &str, data: &[u8], mode: &Put) -> Result<Written> {
        let p = self.path(key);
        let ok = match mode {
            // `persist_noclobber` below is what makes it safe; this saves a write.
            Put::Create => !p.is_file(),
            Put::Update(etag) => self.head(key)?.as_deref() == Some(etag.as_str()),
            Put::Replace => true,
        };
        if !ok {
            return Ok(Written::Conflict);
        }
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        if *mode == Put::Create {
            let dir = p.parent().unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp")
                .tempfile_in(dir)
                .map_err(|e| Error::io(dir, e))?;
            std::io::Write::write_all(&mut tmp, data).map_err(|e| Error::io(&p, e))?;
            let f = tmp.as_file();
            f.set_permissions(std::fs::Permissions::from_mode(0o644))
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(&p, e))?;
            return match tmp.persist_noclobber(&p) {
                Ok(_) => Ok(Written::Done(Self::etag(data))),
                Err(e) if e.error.kind() == ErrorKind::AlreadyExists => Ok(Written::Conflict),
                Err(e) => Err(Error::io(&p, e.error)),
            };
        }
        debpipe_core::io::write_atomic(&p, data, 0o644)?;
        Ok(Written::Done(Self::etag(data)))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let p = self.path(key);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // The directory part of the prefix is walked; the rest filters.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let mut out = Vec::new();
        let mut todo = vec![dir.to_string()];
        while let Some(rel) = todo.pop() {
            let p = self.path(&rel);
            let rd = match std::fs::read_dir(&p) {
                Ok(rd) => rd,
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                    continue;
                }
                Err(e) => return Err(Error::io(&p, e)),
            };
            for e in rd {
                let e = e.map_err(|e| Error::io(&p, e))?;
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let key = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(key);
                } else if key.starts_with(prefix) {
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_writes_list_and_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let s = DirStore::new(tmp.path().join("repo"));
        assert_eq!(s.get("dists/x/Release").unwrap(), None);
        let Written::Done(etag) = s.put("dists/x/Release", b"a", &Put::Create).unwrap() else {
            panic!("not written");
        };
        assert_eq!(
            s.put("dists/x/Release", b"b", &Put::Create).unwrap(),
            Written::Conflict
        );
        let stale = Put::Update("\"0\"".into());
        assert_eq!(
            s.put("dists/x/Release", b"b", &stale).unwrap(),
            Written::Conflict
        );
        assert!(matches!(
            s.put("dists/x/Release", b"b", &Put::Update(etag)).unwrap(),
            Written::Done(_)
        ));
        assert_eq!(s.get("dists/x/Release").unwrap().unwrap().data, b"b");
        let mode = std::fs::metadata(s.path("dists/x/Release"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        s.put("dists/y/Packages", b"p", &Put::Create).unwrap();
        s.put("pool/a.deb", b"d", &Put::Create).unwrap();
        assert_eq!(
            s.list("dists/").unwrap(),
            ["dists/x/Release", "dists/y/Packages"]
        );
        assert_eq!(s.list("").unwrap().len(), 3);
        s.delete("pool/a.deb").unwrap();
        s.delete("pool/a.deb").unwrap();
        assert_eq!(s.head("pool/a.deb").unwrap(), None);
    }
}
