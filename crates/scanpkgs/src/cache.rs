//! The scan cache: what each .deb yielded, keyed by its path and its stat
//! (device, inode, size, mtime and ctime to the nanosecond), so a file
//! replaced within the same second, or renamed over, is read again.
//!
//! One binary file, written atomically, ending in the SHA-256 of everything
//! before it. A file that does not check out is ignored as a whole (and
//! rebuilt); an entry whose key differs from the file's stat is not used.
//!
//! With `--out-dir` and no `--cache`, the file lives outside the repository
//! (which is served as it is): under [`default_dir`], one file per index
//! directory, named by [`file_for`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use debpipe_core::hex::encode as hex;
use debpipe_repo::deb::DebInfo;

const MAGIC: &[u8] = b"scanpkgs-cache 1\n";

/// Where earlier versions kept the cache: beside `Packages`, so it was
/// published with the repository. A run with `--out-dir` removes it.
pub const LEGACY_NAME: &str = ".scanpkgs-cache";

/// The directory of the default cache files: `$DEBPIPE_CACHE/scanpkgs`, else
/// `$XDG_CACHE_HOME/debpipe/scanpkgs`, else `$HOME/.cache/debpipe/scanpkgs`.
/// `var` reads the environment. An empty variable counts as unset, and a
/// relative `XDG_CACHE_HOME` is ignored (the XDG base directory spec says
/// so). `None` when none is set.
pub fn default_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = set("DEBPIPE_CACHE") {
        return Some(d.join("scanpkgs"));
    }
    if let Some(d) = set("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return Some(d.join("debpipe").join("scanpkgs"));
    }
    set("HOME").map(|h| h.join(".cache").join("debpipe").join("scanpkgs"))
}

/// The default cache file in `dir` of the index directory
/// `canonical_index_dir` (canonical, so that one directory reached by two
/// paths has one cache): named by the SHA-256 of that path (its first 128
/// bits, in hex).
pub fn file_for(dir: &Path, canonical_index_dir: &Path) -> PathBuf {
    let sum = sha2::Sha256::digest(canonical_index_dir.as_os_str().as_bytes());
    dir.join(hex(&sum[..16]))
}

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
    fn default_dir_prefers_debpipe_cache_then_xdg_then_home() {
        fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
            move |k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        }
        let all = [
            ("DEBPIPE_CACHE", "/c"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(default_dir(env(&all)), Some(PathBuf::from("/c/scanpkgs")));
        assert_eq!(
            default_dir(env(&all[1..])),
            Some(PathBuf::from("/x/debpipe/scanpkgs"))
        );
        assert_eq!(
            default_dir(env(&all[2..])),
            Some(PathBuf::from("/h/.cache/debpipe/scanpkgs"))
        );
        // Empty is unset; a relative XDG_CACHE_HOME is ignored.
        assert_eq!(
            default_dir(env(&[
                ("DEBPIPE_CACHE", ""),
                ("XDG_CACHE_HOME", "rel"),
                ("HOME", "/h")
            ])),
            Some(PathBuf::from("/h/.cache/debpipe/scanpkgs"))
        );
        assert_eq!(default_dir(env(&[("HOME", "")])), None);
    }

    #[test]
    fn file_for_is_per_directory_and_stable() {
        let a = file_for(Path::new("/c"), Path::new("/srv/repo"));
        assert_eq!(a, file_for(Path::new("/c"), Path::new("/srv/repo")));
        assert_ne!(a, file_for(Path::new("/c"), Path::new("/srv/repo2")));
        assert_eq!(a.parent(), Some(Path::new("/c")));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 32);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
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
