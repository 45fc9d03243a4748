//! The write sequence of a publication, once for every [`Store`] (a local
//! directory in scanpkgs, an S3 bucket in pushrepo).
//!
//! Everything is computed first (indexes, compressed indexes, Release,
//! signatures), so a failure (gpg, say) writes nothing; deciding that
//! nothing changed, and then writing nothing at all, is the caller's. Then
//! [`write()`] writes in the order that keeps every reader's view whole:
//!
//! 1. pool files, create-only: one already there must have the same bytes;
//! 2. the `by-hash` copies (content-addressed: one already there is the same);
//! 3. the canonical indexes, in the order given;
//! 4. `Release`, then `Release.gpg`, and `InRelease` last;
//! 5. the keys to remove (signatures no longer made, an index no longer
//!    asked for, by-hash copies past their time).
//!
//! A reader that fetched the old Release still finds everything it names
//! until step 5, and a new Release names nothing that is not there yet.
//! Each write says what it expects to find ([`Put`]); a conflict on the
//! canonical files is an error naming the file.

use std::path::Path;

use crate::gpg::Signed;
use crate::store::{Put, Store, Written};
use crate::{Error, Result};

/// A pool file to add (never replaced).
#[derive(Debug, Clone)]
pub struct PoolFile<'a> {
    /// Its key (`pool/main/a/app/app_1_amd64.deb`).
    pub key: String,
    /// Its bytes.
    pub data: &'a [u8],
    /// Where it was read from (for messages).
    pub from: &'a Path,
}

/// One publication, ready to write.
#[derive(Debug, Clone)]
pub struct Publication<'a> {
    /// Step 1: pool files.
    pub pool: Vec<PoolFile<'a>>,
    /// Step 2: by-hash copies, key and bytes.
    pub by_hash: Vec<(String, &'a [u8])>,
    /// Step 3: canonical indexes: key, bytes, condition.
    pub indexes: Vec<(String, &'a [u8], Put)>,
    /// The directory of the Release files, as a key prefix (`dists/stable/`,
    /// or empty for a flat repository).
    pub release_dir: String,
    /// Step 4: the Release.
    pub release: &'a [u8],
    /// Its signatures (`Release.gpg`, `InRelease`), when signed.
    pub signed: Option<&'a Signed>,
    /// The conditions for `Release`, `Release.gpg` and `InRelease`.
    pub release_puts: [Put; 3],
    /// Step 5: keys to remove.
    pub remove: Vec<String>,
}

/// The key of the Release file `name` in the directory `dir` (a key prefix).
pub fn release_key(dir: &str, name: &str) -> String {
    format!("{dir}{name}")
}

/// The error for a key that changed since it was read.
pub fn raced(store: &dyn Store, key: &str) -> Error {
    Error::file(
        store.url(key),
        "changed by another writer since it was read under the lock (a lock that does not hold?)",
    )
}

/// Write `p` in publishing order; `guard` runs before every write and
/// removal (pushrepo checks its lock there). Returns the keys written.
pub fn write(
    store: &dyn Store,
    p: &Publication<'_>,
    guard: &dyn Fn() -> Result<()>,
) -> Result<Vec<String>> {
    let mut wrote = Vec::new();
    let mut put = |key: &str, data: &[u8], mode: &Put| -> Result<Written> {
        guard()?;
        let w = store.put(key, data, mode)?;
        if matches!(w, Written::Done(_)) {
            wrote.push(key.to_string());
        }
        Ok(w)
    };
    for f in &p.pool {
        if put(&f.key, f.data, &Put::Create)? == Written::Conflict {
            let there = store.get(&f.key)?.map(|o| o.data);
            if there.as_deref() != Some(f.data) {
                return Err(Error::file(
                    store.url(&f.key),
                    format!(
                        "already in the pool with different contents than {}: pool files are never replaced; give it a new version",
                        f.from.display()
                    ),
                ));
            }
        }
    }
    for (key, data) in &p.by_hash {
        put(key, data, &Put::Create)?;
    }
    let [release_put, gpg_put, inrelease_put] = &p.release_puts;
    let mut last: Vec<(String, &[u8], &Put)> = p
        .indexes
        .iter()
        .map(|(k, d, m)| (k.clone(), *d, m))
        .collect();
    last.push((
        release_key(&p.release_dir, "Release"),
        p.release,
        release_put,
    ));
    if let Some(signed) = p.signed {
        last.push((
            release_key(&p.release_dir, "Release.gpg"),
            &signed.detached,
            gpg_put,
        ));
        last.push((
            release_key(&p.release_dir, "InRelease"),
            &signed.inline,
            inrelease_put,
        ));
    }
    for (key, data, mode) in last {
        if put(&key, data, mode)? == Written::Conflict {
            return Err(raced(store, &key));
        }
    }
    for key in &p.remove {
        guard()?;
        store.delete(key)?;
    }
    Ok(wrote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mem::MemStore;

    fn publication(signed: Option<&Signed>, remove: Vec<String>) -> Publication<'_> {
        Publication {
            pool: vec![PoolFile {
                key: "pool/a.deb".into(),
                data: b"deb",
                from: Path::new("a.deb"),
            }],
            by_hash: vec![("dists/s/by-hash/SHA512/x".into(), b"P")],
            indexes: vec![("dists/s/Packages".into(), b"P", Put::Replace)],
            release_dir: "dists/s/".into(),
            release: b"R",
            signed,
            release_puts: [Put::Replace, Put::Replace, Put::Replace],
            remove,
        }
    }

    #[test]
    fn writes_in_order_and_inrelease_last() {
        let s = MemStore::default();
        let signed = Signed {
            detached: b"D".to_vec(),
            inline: b"I".to_vec(),
        };
        let p = publication(Some(&signed), vec!["old".into()]);
        s.put("old", b"o", &Put::Create).unwrap();
        let wrote = write(&s, &p, &|| Ok(())).unwrap();
        assert_eq!(
            wrote,
            [
                "pool/a.deb",
                "dists/s/by-hash/SHA512/x",
                "dists/s/Packages",
                "dists/s/Release",
                "dists/s/Release.gpg",
                "dists/s/InRelease"
            ]
        );
        assert_eq!(s.data("old"), None);
        // Again: the pool file and the by-hash copy are there already.
        let wrote = write(&s, &p, &|| Ok(())).unwrap();
        assert_eq!(wrote[0], "dists/s/Packages");
    }

    #[test]
    fn a_different_pool_file_or_a_changed_index_is_an_error() {
        let s = MemStore::default();
        s.put("pool/a.deb", b"theirs", &Put::Create).unwrap();
        let e = write(&s, &publication(None, vec![]), &|| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool files are never replaced"), "{e}");
        let s = MemStore::default();
        let mut p = publication(None, vec![]);
        p.indexes[0].2 = Put::Create;
        s.put("dists/s/Packages", b"x", &Put::Create).unwrap();
        let e = write(&s, &p, &|| Ok(())).unwrap_err().to_string();
        assert!(e.contains("changed by another writer"), "{e}");
        assert_eq!(s.data("dists/s/Release"), None);
    }

    #[test]
    fn the_guard_stops_before_any_write() {
        let s = MemStore::default();
        let e = write(&s, &publication(None, vec![]), &|| {
            Err(Error::Usage("lost".into()))
        });
        assert!(e.is_err());
        assert!(s.keys().is_empty());
    }
}
