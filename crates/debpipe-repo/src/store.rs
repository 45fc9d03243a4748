//! The store a repository lives in, as a small synchronous trait: keys are
//! relative to the repository root (`dists/...`, `pool/...`), and every
//! write says what it expects to find ([`Put`]), which is what makes
//! pushrepo's lock and its final `InRelease` write safe. Repository
//! features are written once against [`Store`].
//!
//! The stores: [`dir::DirStore`] (a local directory, as scanpkgs
//! publishes), [`mem::MemStore`] (memory, for tests), and pushrepo's S3
//! bucket (`pushrepo::s3::S3Store`).

use crate::Result;

/// What a write expects of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// The key must not exist (`If-None-Match: *`).
    Create,
    /// The key must still have this ETag (`If-Match`).
    Update(String),
    /// Whatever is there: for a store whose writers all take one lock
    /// first (scanpkgs' `flock` on a local directory).
    Replace,
}

impl Put {
    /// `Update(etag)` when the key was read with that ETag, else `Create`.
    pub fn expecting(etag: Option<&str>) -> Self {
        etag.map_or(Self::Create, |e| Self::Update(e.to_string()))
    }
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written; the object's new ETag.
    Done(String),
    /// The condition did not hold: the key exists (for `Create`) or has
    /// changed (for `Update`). Nothing was written.
    Conflict,
}

/// An object read back: its bytes and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The contents.
    pub data: Vec<u8>,
    /// The ETag (quoted, as the store sends it).
    pub etag: String,
}

/// An S3-like store. Failures are one line naming the object (see
/// [`Store::url`]).
pub trait Store: Sync {
    /// The object's full name for messages (`s3://bucket/prefix/key`).
    fn url(&self, key: &str) -> String;
    /// Read `key`; `None` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Object>>;
    /// The ETag of `key`; `None` when it does not exist.
    fn head(&self, key: &str) -> Result<Option<String>>;
    /// Write `key` if `mode` holds.
    fn put(&self, key: &str, data: &[u8], mode: &Put) -> Result<Written>;
    /// Delete `key` (no error when it is already gone).
    fn delete(&self, key: &str) -> Result<()>;
    /// The keys under `prefix` (a directory: `dists/stable/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
}

pub mod dir;

/// A store that keeps everything in memory, for tests: it honours
/// conditions unless built with [`mem::MemStore::ignoring_conditions`].
#[allow(clippy::unwrap_used)] // a poisoned lock is a test that already failed
pub mod mem {
    use super::{Object, Put, Store, Written};
    use crate::Result;
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Objects by key, with a write counter.
    #[derive(Debug, Default)]
    pub struct MemStore {
        /// key -> (data, etag number)
        pub objects: Mutex<BTreeMap<String, (Vec<u8>, usize)>>,
        next: AtomicUsize,
        /// Writes and deletes so far.
        pub writes: AtomicUsize,
        ignore_conditions: bool,
    }

    impl MemStore {
        /// A store that accepts every write, as some S3 look-alikes do.
        pub fn ignoring_conditions() -> Self {
            Self {
                ignore_conditions: true,
                ..Self::default()
            }
        }

        /// The keys, sorted.
        pub fn keys(&self) -> Vec<String> {
            self.objects.lock().unwrap().keys().cloned().collect()
        }

        /// The contents of `key`.
        pub fn data(&self, key: &str) -> Option<Vec<u8>> {
            self.objects.lock().unwrap().get(key).map(|o| o.0.clone())
        }

        /// Writes and deletes so far.
        pub fn write_count(&self) -> usize {
            self.writes.load(Ordering::SeqCst)
        }
    }

    impl Store for MemStore {
        fn url(&self, key: &str) -> String {
            format!("mem://{key}")
        }
        fn get(&self, key: &str) -> Result<Option<Object>> {
            Ok(self.objects.lock().unwrap().get(key).map(|(d, e)| Object {
                data: d.clone(),
                etag: format!("\"{e}\""),
            }))
        }
        fn head(&self, key: &str) -> Result<Option<String>> {
            Ok(self.get(key)?.map(|o| o.etag))
        }
        fn put(&self, key: &str, data: &[u8], mode: &Put) -> Result<Written> {
            let mut objects = self.objects.lock().unwrap();
            let current = objects.get(key).map(|(_, e)| format!("\"{e}\""));
            let ok = self.ignore_conditions
                || match mode {
                    Put::Create => current.is_none(),
                    Put::Update(etag) => current.as_deref() == Some(etag.as_str()),
                    Put::Replace => true,
                };
            if !ok {
                return Ok(Written::Conflict);
            }
            let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            objects.insert(key.to_string(), (data.to_vec(), n));
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(Written::Done(format!("\"{n}\"")))
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.objects.lock().unwrap().remove(key);
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>> {
            Ok(self
                .objects
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }
    }
}
