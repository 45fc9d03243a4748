//! The scan cache: what each .deb yielded, keyed by its path and its stat
//! (device, inode, size, mtime and ctime to the nanosecond), so a file
//! replaced within the same second, or renamed over, is read again.
//!
//! One binary file, written atomically, ending in the SHA-256 of everything
//! before it. A file that does not check out is ignored as a whole (and
//! rebuilt); an entry whose key differs from the file's stat is not used.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::Digest as _;

use crate::deb::DebInfo;

const MAGIC: &[u8] = b"scanpkgs-cache 1\n";

/// A file's identity for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    ctime: i64,
    ctime_ns: i64,
}

impl Key {
    /// The key of a file from its (followed) metadata.
    pub fn of(m: &Metadata) -> Self {
        Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }
}

/// Cached scan results by path.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<Vec<u8>, (Key, DebInfo)>,
}

impl Cache {
    /// The cached result for `path` if its key still matches.
    pub fn get(&self, path: &Path, key: &Key) -> Option<&DebInfo> {
        match self.entries.get(path.as_os_str().as_bytes()) {
            Some((k, info)) if k == key => Some(info),
            _ => None,
        }
    }

    /// Record a result.
    pub fn insert(&mut self, path: &Path, key: Key, info: DebInfo) {
        self.entries
            .insert(path.as_os_str().as_bytes().to_vec(), (key, info));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialise, entries sorted by path so equal caches are equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let mut paths: Vec<&Vec<u8>> = self.entries.keys().collect();
        paths.sort();
        put_u64(&mut out, paths.len() as u64);
        for p in paths {
            let (k, info) = &self.entries[p];
            put_bytes(&mut out, p);
            for v in [k.dev, k.ino, k.size] {
                put_u64(&mut out, v);
            }
            for v in [k.mtime, k.mtime_ns, k.ctime, k.ctime_ns] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_u64(&mut out, info.size);
            out.extend_from_slice(&info.md5);
            out.extend_from_slice(&info.sha1);
            out.extend_from_slice(&info.sha256);
            put_bytes(&mut out, &info.control);
        }
        let sum = sha2::Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Parse a cache file; `Err` says why it cannot be trusted.
    pub fn from_bytes(data: &[u8]) -> Result<Self, &'static str> {
        if !data.starts_with(MAGIC) {
            return Err("not a scanpkgs cache of this version");
        }
        if data.len() < MAGIC.len() + 8 + 32 {
            return Err("truncated");
        }
        let (body, sum) = data.split_at(data.len() - 32);
        if sha2::Sha256::digest(body).as_slice() != sum {
            return Err("checksum mismatch");
        }
        let mut r = Reader {
            data: &body[MAGIC.len()..],
        };
        let n = r.u64()?;
        let mut entries = HashMap::new();
        for _ in 0..n {
            let path = r.bytes()?.to_vec();
            let key = Key {
                dev: r.u64()?,
                ino: r.u64()?,
                size: r.u64()?,
                mtime: r.i64()?,
                mtime_ns: r.i64()?,
                ctime: r.i64()?,
                ctime_ns: r.i64()?,
            };
            let size = r.u64()?;
            let md5 = r.array::<16>()?;
            let sha1 = r.array::<20>()?;
            let sha256 = r.array::<32>()?;
            let control = r.bytes()?.to_vec();
            entries.insert(
                path,
                (
                    key,
                    DebInfo {
                        control,
                        size,
                        md5,
                        sha1,
                        sha256,
                    },
                ),
            );
        }
        if !r.data.is_empty() {
            return Err("trailing data");
        }
        Ok(Self { entries })
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.data.len() < n {
            return Err("truncated");
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, &'static str> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = usize::try_from(self.u64()?).map_err(|_| "bad length")?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cache {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, b"x").unwrap();
        let key = Key::of(&std::fs::metadata(&f).unwrap());
        let mut c = Cache::default();
        c.insert(
            Path::new("./a_1_all.deb"),
            key,
            DebInfo {
                control: b"Package: a\n".to_vec(),
                size: 1,
                md5: [1; 16],
                sha1: [2; 20],
                sha256: [3; 32],
            },
        );
        c
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let bytes = c.to_bytes();
        let back = Cache::from_bytes(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn corrupt_or_truncated_is_refused() {
        let bytes = sample().to_bytes();
        for n in [0, 5, MAGIC.len() + 3, bytes.len() - 1] {
            assert!(Cache::from_bytes(&bytes[..n]).is_err(), "{n}");
        }
        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 20] ^= 1;
        assert_eq!(
            Cache::from_bytes(&flipped).unwrap_err(),
            "checksum mismatch"
        );
    }

    #[test]
    fn key_mismatch_misses() {
        let c = sample();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("b");
        std::fs::write(&f, b"y").unwrap();
        let other = Key::of(&std::fs::metadata(&f).unwrap());
        assert!(c.get(Path::new("./a_1_all.deb"), &other).is_none());
    }
}
