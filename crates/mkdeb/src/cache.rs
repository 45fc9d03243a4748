//! The member cache (`--cache DIR`, gzip only): compressed members kept
//! under the SHA-256 of their tar bytes, so that a rebuild compresses only
//! the members whose bytes changed ([`cut`](crate::cut) puts the cuts back in
//! the same places).
//!
//! - **Same bytes as a cold build.** Members are cached per level and
//!   codec: the namespace holds the SHA-256 of a fixed sample compressed by
//!   this build of mkdeb, so another zlib-rs (whose output may differ)
//!   starts a new namespace instead of mixing its members in.
//! - **Nothing half-written is used.** An entry is written to a temporary
//!   file and renamed into place, and ends with the SHA-256 of its key and
//!   member, checked on every read: a torn, corrupt or misnamed entry is a
//!   miss (and is removed), never a bad package.
//! - **The cache is only a cache.** A failure to read or write it (full
//!   disk, no permission) costs speed, never the build.
//! - **Bounded.** After a build, the least recently used entries (by mtime,
//!   set on every hit) go until the cache holds at most its limit. Only
//!   files named as this cache names them are counted or removed, so DIR may
//!   be shared (with stage-django's cache, or `$DEBPIPE_CACHE` itself).
//!
//! Layout: `DIR/gzip-<level>-<codec>/<2 hex>/<64 hex>`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use debpipe_core::hex;
use sha2::{Digest, Sha256};

use crate::compress::gzip_member;

/// A member's key: the SHA-256 of its tar bytes.
pub type Key = [u8; 32];

/// An open cache for gzip members of one level.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    dir: PathBuf,
    max_bytes: u64,
}

impl Cache {
    /// The cache in `root` for gzip members of `level`, created if
    /// missing, holding at most `max_bytes` after [`prune`](Self::prune).
    pub fn open(root: &Path, level: u32, max_bytes: u64) -> io::Result<Self> {
        let name = format!("gzip-{level}-{}", codec_fingerprint(level)?);
        let dir = root.join(name);
        fs::create_dir_all(&dir)?;
        Ok(Self {
            root: root.to_path_buf(),
            dir,
            max_bytes,
        })
    }

    /// The key of a member's tar bytes.
    pub fn key(data: &[u8]) -> Key {
        Sha256::digest(data).into()
    }

    fn path(&self, key: &Key) -> PathBuf {
        let name = hex::encode(key);
        self.dir.join(&name[..2]).join(name)
    }

    /// The member cached under `key`, if any and intact; a hit marks the
    /// entry used.
    pub fn get(&self, key: &Key) -> Option<Vec<u8>> {
        let path = self.path(key);
        let mut f = File::open(&path).ok()?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        let split = data.len().checked_sub(32);
        let Some(split) = split.filter(|&n| check(key, &data[..n])[..] == data[n..]) else {
            let _ = fs::remove_file(&path);
            return None;
        };
        data.truncate(split);
        let _ = f.set_modified(SystemTime::now());
        Some(data)
    }

    /// Keep `member` under `key`; errors are the caller's to ignore.
    pub fn put(&self, key: &Key, member: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        tmp.write_all(member)?;
        tmp.write_all(&check(key, member))?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Remove the least recently used entries (of every namespace) until
    /// the cache holds at most its limit, and temporary files an
    /// interrupted build left over an hour ago.
    pub fn prune(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        let mut total = 0;
        let hour_ago = SystemTime::now() - std::time::Duration::from_hours(1);
        // Only what this cache made: `gzip-<level>-<16 hex>/<2 hex>/<64
        // hex>` and `.tmp-*` beside them; anything else in DIR is left
        // alone. Files another build removes meanwhile are skipped.
        for (ns, ns_name) in children(&self.root) {
            if !is_namespace(&ns_name) {
                continue;
            }
            for (fan, fan_name) in children(&ns) {
                if !(fan_name.len() == 2 && hex::is_lower(fan_name.as_bytes())) {
                    continue;
                }
                for (f, name) in children(&fan) {
                    let Ok(meta) = fs::symlink_metadata(&f) else {
                        continue;
                    };
                    let Ok(used) = meta.modified() else { continue };
                    if !meta.is_file() {
                        continue;
                    }
                    if name.starts_with(".tmp-") {
                        if used < hour_ago {
                            let _ = fs::remove_file(&f);
                        }
                    } else if name.len() == 64 && hex::is_lower(name.as_bytes()) {
                        total += meta.len();
                        entries.push((used, meta.len(), f));
                    }
                }
            }
        }
        if total <= self.max_bytes {
            return Ok(());
        }
        entries.sort_unstable();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        Ok(())
    }
}

/// The entries of `dir` with their names (as text; others are skipped):
/// none when it cannot be read.
fn children(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name().into_string().ok()?;
        Some((e.path(), name))
    })
    .collect()
}

/// `gzip-<level>-<16 hex>`, as [`Cache::open`] names them.
fn is_namespace(name: &str) -> bool {
    let mut parts = name.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("gzip"), Some(level), Some(fp), None)
            if !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit()) && fp.len() == 16 && hex::is_lower(fp.as_bytes())
    )
}

/// The check an entry ends with: the SHA-256 of its key and member, so
/// that a member under another key's name is not used either.
fn check(key: &Key, member: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(member);
    h.finalize().into()
}

/// A short hash of a fixed sample compressed at `level` by this build: it
/// changes when the codec's output does.
fn codec_fingerprint(level: u32) -> io::Result<String> {
    let mut sample = Vec::with_capacity(256 << 10);
    let mut x: u32 = 12_345;
    while sample.len() < 256 << 10 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let word = ["def ", "self", ".py\n", "\0\0\0\0", "import ", "os"][(x >> 16) as usize % 6];
        sample.extend_from_slice(word.as_bytes());
        sample.extend_from_slice(&x.to_le_bytes()[..(x as usize >> 8) % 3]);
    }
    let member = gzip_member(&sample, level)?;
    Ok(hex::encode(&Sha256::digest(&member)[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_comes_back_and_a_torn_entry_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path(), 9, 1 << 30).unwrap();
        let k = Cache::key(b"tar bytes");
        assert_eq!(c.get(&k), None);
        c.put(&k, b"compressed").unwrap();
        assert_eq!(c.get(&k).as_deref(), Some(&b"compressed"[..]));
        // A flipped byte, then a truncated file: both misses, both removed.
        let p = c.path(&k);
        let mut raw = fs::read(&p).unwrap();
        raw[0] ^= 1;
        fs::write(&p, &raw).unwrap();
        assert_eq!(c.get(&k), None);
        assert!(!p.exists());
        c.put(&k, b"compressed").unwrap();
        fs::write(&p, &fs::read(&p).unwrap()[..20]).unwrap();
        assert_eq!(c.get(&k), None);
    }

    #[test]
    fn levels_do_not_share_entries() {
        let d = tempfile::tempdir().unwrap();
        let k = Cache::key(b"x");
        let gz = Cache::open(d.path(), 9, 1 << 30).unwrap();
        gz.put(&k, b"gz").unwrap();
        let gz1 = Cache::open(d.path(), 1, 1 << 30).unwrap();
        assert_eq!(gz1.get(&k), None);
        assert_eq!(gz.get(&k).as_deref(), Some(&b"gz"[..]));
        assert_ne!(gz.dir, gz1.dir);
    }

    #[test]
    fn prune_drops_the_least_recently_used_first() {
        let d = tempfile::tempdir().unwrap();
        // Each entry: 1000 bytes + the 32-byte check.
        let c = Cache::open(d.path(), 9, 2100).unwrap();
        let keys: Vec<Key> = (0u8..3).map(|i| Cache::key(&[i])).collect();
        let old = SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, k) in keys.iter().enumerate() {
            c.put(k, &[0; 1000]).unwrap();
            let f = File::options().write(true).open(c.path(k)).unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        // Files that are not entries, old as they are, stay: DIR may be
        // shared ($DEBPIPE_CACHE's roots, another tool's cache).
        let foreign = [
            d.path().join("roots/bookworm/usr/bin/python3"),
            d.path().join("ab/cdef"),
            c.dir.join("zz/notes.txt"),
        ];
        for f in &foreign {
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, [0; 5000]).unwrap();
            File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        // Using the oldest makes it the newest.
        assert!(c.get(&keys[0]).is_some());
        c.prune().unwrap();
        let left: Vec<bool> = keys.iter().map(|k| c.path(k).exists()).collect();
        assert_eq!(left, [true, false, true]);
        assert!(foreign.iter().all(|f| f.exists()));
    }
}
