//! The data member: the tar stream of the tree, compressed.
//!
//! Three stages run at once. The reader thread walks the tree, writes tar
//! headers and reads every file once, straight into buffers reused through
//! a pool: for gzip one member's worth, cut where [`cut`](crate::cut)
//! says; else [`CHUNK`] bytes. Each full buffer goes, shared, to the compressor
//! (the calling thread, which feeds the multi-threaded encoders) and to the
//! hasher thread, which computes each regular file's MD5 from the same
//! buffers ([`md5x`], several files at once), given where each file starts
//! in the stream.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use debpipe_core::{Error, Result};

use crate::cache::Cache;
use crate::compress::{CHUNK, Chunk, Encoder, Params, Pool, Reuse};
use crate::cut::Limits;
use crate::md5x::{self, Hasher};
use crate::spool::Spool;
use crate::tar;
use crate::tree::{self, Entry};

/// One tar entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Path in the tree (no `./`), to read a regular file's content.
    pub rel: Vec<u8>,
    /// Name in the archive.
    pub name: Vec<u8>,
    /// What to write.
    pub kind: tar::Kind,
    /// Permission bits.
    pub mode: u32,
    /// Clamped mtime.
    pub mtime: u64,
}

/// Each regular file's path (no `./`, hard links included) and MD5.
pub type Sums = Vec<(Vec<u8>, [u8; 16])>;

/// Turns tree entries into tar entries: the second and later names of a
/// hard-linked file become links to the first, as GNU tar writes them.
#[derive(Debug, Default)]
pub struct Planner {
    first: HashMap<(u64, u64), Vec<u8>>,
}

impl Planner {
    /// The tar entry for `e`, its mtime clamped with `clamp`.
    pub fn member(&mut self, e: &Entry, clamp: impl Fn(i64) -> u64) -> Member {
        let name = e.tar_name();
        let kind = match &e.kind {
            tree::Kind::Dir => tar::Kind::Dir,
            tree::Kind::Symlink { target } => tar::Kind::Symlink {
                target: target.clone(),
            },
            tree::Kind::File { size, id, nlink } => match self.first.get(id) {
                Some(t) if *nlink > 1 => tar::Kind::HardLink { target: t.clone() },
                _ => {
                    if *nlink > 1 {
                        self.first.insert(*id, name.clone());
                    }
                    tar::Kind::File { size: *size }
                }
            },
        };
        Member {
            rel: e.rel.clone(),
            name,
            kind,
            mode: e.mode,
            mtime: clamp(e.mtime),
        }
    }
}

/// What the data member holds, besides its bytes.
#[derive(Debug)]
pub struct Written {
    /// The compressed member.
    pub spool: Spool,
    /// Its members, and how many came from the cache.
    pub reuse: Reuse,
    /// The tree's entries, in archive order.
    pub entries: Vec<Entry>,
    /// Each regular file's MD5.
    pub sums: Sums,
}

/// The exact length of the tar stream of the tree at `root`, trailer
/// included: a walk without reading files, to size xz blocks.
pub fn tar_len(root: &Path) -> Result<u64> {
    let mut planner = Planner::default();
    let mut len = 0;
    tree::walk_each(root, |e| {
        let m = planner.member(&e, |_| 0);
        len += tar::entry_len(m.name.len(), &m.kind);
        Ok::<(), Error>(())
    })?;
    Ok(len + tar::trailer_len(len))
}

/// Walk the tree at `root`, write its tar (mtimes clamped with `clamp`)
/// compressed with `params` to `spool`; `input_len` is the tar's length if
/// known; `cache` holds members of earlier builds. Errors on `spool` carry
/// an empty path.
pub fn write(
    root: &Path,
    params: Params,
    input_len: Option<u64>,
    clamp: impl Fn(i64) -> u64 + Send + Copy,
    cache: Option<&Arc<Cache>>,
    spool: Spool,
) -> Result<Written> {
    let (to_enc, enc_rx) = sync_channel::<Arc<Chunk>>(4);
    let (to_hash, hash_rx) = sync_channel::<Batch>(64);
    let limits = Limits::of(params.format);
    std::thread::scope(|s| {
        let reader = s.spawn(move || produce(root, clamp, limits, &to_enc, &to_hash));
        let hasher = s.spawn(move || hash(hash_rx));
        let compressed = compress(enc_rx, params, input_len, cache, spool);
        let read = reader.join();
        let digests = hasher.join();
        let panicked = || Error::file(root, "a worker thread panicked");
        match (compressed, read.map_err(|_| panicked())?) {
            (Err(e), _) | (Ok(_), Err(Stop::Fail(e))) => Err(e),
            // The hasher is the only other receiver: if it panicked, say so.
            (Ok(_), Err(Stop::Hangup)) if digests.is_err() => Err(panicked()),
            (Ok(_), Err(Stop::Hangup)) => Err(Error::file(root, "compressor stopped early")),
            (Ok((spool, reuse)), Ok((entries, files))) => {
                let digests = digests
                    .map_err(|_| panicked())?
                    .ok_or_else(|| Error::file(root, "a file ran past the end of the stream"))?;
                let by_index = |i: usize| digests.get(i).copied().ok_or_else(panicked);
                let sums = files
                    .into_iter()
                    .map(|(rel, i)| by_index(i).map(|d| (rel, d)))
                    .collect::<Result<Sums>>()?;
                Ok(Written {
                    spool,
                    reuse,
                    entries,
                    sums,
                })
            }
        }
    })
}

/// Why the reader thread stopped early.
enum Stop {
    /// The compressor or hasher went away (the compressor reports why).
    Hangup,
    /// Reading a file failed.
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Fail(e)
    }
}

/// What the hasher receives, in stream order: the regular files that
/// start in the next chunk (their start and length), and that chunk.
struct Batch {
    files: Vec<(u64, u64)>,
    chunk: Arc<Chunk>,
}

/// Cuts the tar stream into chunks for the compressor and the hasher.
struct Chunker<'a> {
    buf: Vec<u8>,
    pool: Pool,
    /// Size of the buffers: a chunk never holds more.
    cap: usize,
    /// Where members end (gzip); `None`: chunks of `cap` bytes.
    limits: Option<Limits>,
    len: usize,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// Files announced since the last chunk went out.
    files: Vec<(u64, u64)>,
    to_enc: &'a SyncSender<Arc<Chunk>>,
    to_hash: &'a SyncSender<Batch>,
}

impl Chunker<'_> {
    fn pos(&self) -> u64 {
        self.offset + self.len as u64
    }

    /// An entry of `len` bytes named `name` comes next: end the member
    /// here if the cut rule says so.
    fn entry(&mut self, len: u64, name: &[u8]) -> std::result::Result<(), Stop> {
        match self.limits {
            Some(l) if l.cut_before(self.len, len, name) => self.flush(),
            _ => Ok(()),
        }
    }

    fn push(&mut self, mut data: &[u8]) -> std::result::Result<(), Stop> {
        while !data.is_empty() {
            let n = (self.cap - self.len).min(data.len());
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len == self.cap {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn zeros(&mut self, n: u64) -> std::result::Result<(), Stop> {
        const Z: [u8; tar::BLOCK] = [0; tar::BLOCK];
        let mut left = n;
        while left > 0 {
            let k = left.min(Z.len() as u64);
            // k <= 512.
            #[allow(clippy::cast_possible_truncation)]
            self.push(&Z[..k as usize])?;
            left -= k;
        }
        Ok(())
    }

    /// Copy the `size` bytes of the file at `path` into the stream.
    fn copy_file(&mut self, path: &Path, size: u64) -> std::result::Result<(), Stop> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        self.files.push((self.pos(), size));
        let mut left = size;
        while left > 0 {
            let room = self.cap - self.len;
            // `want` <= cap.
            #[allow(clippy::cast_possible_truncation)]
            let want = left.min(room as u64) as usize;
            let n = match f.read(&mut self.buf[self.len..self.len + want]) {
                Ok(0) => return Err(Error::file(path, "file shrank while being read").into()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(path, e).into()),
            };
            self.len += n;
            left -= n as u64;
            if self.len == self.cap {
                self.flush()?;
            }
        }
        // A file that grew is stored as it was at `size` bytes, which is
        // consistent (and MD5 and tar agree): no need to probe for more.
        Ok(())
    }

    fn flush(&mut self) -> std::result::Result<(), Stop> {
        // Empty only at the very end, after the trailer's zeros (at least
        // two blocks) went out with the files announced before them.
        if self.len == 0 {
            return Ok(());
        }
        let next = Chunk::buffer(&self.pool, self.cap);
        let full = std::mem::replace(&mut self.buf, next);
        let full = Chunk::new(full, self.len, Some(Arc::clone(&self.pool)));
        self.offset += self.len as u64;
        self.len = 0;
        let full = Arc::new(full);
        let batch = Batch {
            files: std::mem::take(&mut self.files),
            chunk: Arc::clone(&full),
        };
        self.to_hash.send(batch).map_err(|_| Stop::Hangup)?;
        self.to_enc.send(full).map_err(|_| Stop::Hangup)
    }
}

/// The reader thread: walk the tree at `root` and stream its tar. Returns
/// the entries, and each regular file's path with its index in the
/// hasher's results.
#[allow(clippy::type_complexity)]
fn produce(
    root: &Path,
    clamp: impl Fn(i64) -> u64,
    limits: Option<Limits>,
    to_enc: &SyncSender<Arc<Chunk>>,
    to_hash: &SyncSender<Batch>,
) -> std::result::Result<(Vec<Entry>, Vec<(Vec<u8>, usize)>), Stop> {
    let cap = limits.map_or(CHUNK, |l| l.max);
    let mut out = Chunker {
        buf: vec![0; cap],
        pool: Pool::default(),
        cap,
        limits,
        len: 0,
        offset: 0,
        files: Vec::new(),
        to_enc,
        to_hash,
    };
    let mut planner = Planner::default();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    let mut index_of: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut head = Vec::with_capacity(4 * tar::BLOCK);
    let mut hashed = 0;
    tree::walk_each(root, |e| {
        let m = planner.member(&e, &clamp);
        head.clear();
        tar::push_header(&mut head, &m.name, &m.kind, m.mode, m.mtime);
        out.entry(tar::entry_len(m.name.len(), &m.kind), &m.name)?;
        out.push(&head)?;
        match &m.kind {
            tar::Kind::File { size } => {
                out.copy_file(&root.join(OsStr::from_bytes(&m.rel)), *size)?;
                out.zeros(tar::padding(*size) as u64)?;
                let i = hashed;
                hashed += 1;
                if let tree::Kind::File { nlink, .. } = e.kind
                    && nlink > 1
                {
                    index_of.insert(m.name, i);
                }
                files.push((m.rel, i));
            }
            tar::Kind::HardLink { target } => {
                if let Some(&i) = index_of.get(target) {
                    files.push((m.rel, i));
                }
            }
            tar::Kind::Dir | tar::Kind::Symlink { .. } => {}
        }
        entries.push(e);
        Ok::<(), Stop>(())
    })?;
    out.zeros(tar::trailer_len(out.pos()))?;
    out.flush()?;
    Ok((entries, files))
}

/// Stream bytes the hasher may hold before it runs partial batches
/// rather than wait for lanes to fill (a big file keeps one lane, and the
/// chunks from its start, while the others run ahead).
const HOLD: u64 = 16 << 20;

/// The hasher thread: the MD5 of each file announced, in order; `None` if
/// a file ran past the end of the stream.
fn hash(rx: Receiver<Batch>) -> Option<Vec<md5x::Digest>> {
    let mut hasher = Hasher::new();
    for batch in rx {
        for (start, len) in batch.files {
            hasher.file(start, len);
        }
        hasher.chunk(batch.chunk);
        hasher.run(hasher.held() > HOLD);
    }
    hasher.finish()
}

/// The compressor side: takes `rx` by value so that an error drops it and
/// stops the reader.
fn compress(
    rx: Receiver<Arc<Chunk>>,
    params: Params,
    input_len: Option<u64>,
    cache: Option<&Arc<Cache>>,
    spool: Spool,
) -> Result<(Spool, Reuse)> {
    let io = |e| Error::io("", e);
    let mut enc = Encoder::new(params, input_len, cache, spool).map_err(io)?;
    for chunk in rx {
        enc.put(chunk).map_err(io)?;
    }
    enc.finish().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_thread_hashes_files_across_chunks() {
        use md5::Digest as _;
        let (tx, rx) = sync_channel(16);
        let a = vec![b'a'; 10];
        let b = vec![b'b'; 3];
        // Stream: 2 bytes of header, a (10), empty file, b (3), 1 byte.
        let mut stream = vec![0u8; 2];
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b);
        stream.push(0);
        let chunk = |r: std::ops::Range<usize>| Arc::new(Chunk::copy_of(&stream[r]));
        let batches = [
            (vec![(2, 10)], chunk(0..5)),
            (vec![], chunk(5..12)),
            (vec![(12, 0), (12, 3)], chunk(12..16)),
        ];
        for (files, chunk) in batches {
            tx.send(Batch { files, chunk }).unwrap();
        }
        drop(tx);
        let got = hash(rx).unwrap();
        let md5 = |d: &[u8]| -> [u8; 16] { md5::Md5::digest(d).into() };
        assert_eq!(got, vec![md5(&a), md5(b""), md5(&b)]);
    }

    #[test]
    fn second_name_of_an_inode_is_a_hard_link() {
        let file = |rel: &str, ino| Entry {
            rel: rel.as_bytes().to_vec(),
            kind: tree::Kind::File {
                size: 5,
                id: (1, ino),
                nlink: 2,
            },
            mode: 0o644,
            mtime: 9,
        };
        let mut p = Planner::default();
        let clamp = |t: i64| u64::try_from(t).unwrap();
        let kinds: Vec<tar::Kind> = [file("a", 7), file("b", 7), file("c", 8)]
            .iter()
            .map(|e| p.member(e, clamp).kind)
            .collect();
        assert_eq!(kinds[0], tar::Kind::File { size: 5 });
        assert_eq!(
            kinds[1],
            tar::Kind::HardLink {
                target: b"./a".to_vec()
            }
        );
        assert_eq!(kinds[2], tar::Kind::File { size: 5 });
    }

    #[test]
    fn tar_len_is_exact() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("DEBIAN")).unwrap();
        std::fs::write(d.path().join("a"), vec![1u8; 700]).unwrap();
        std::fs::write(d.path().join("b".repeat(120)), "x").unwrap();
        let root = d.path().to_path_buf();
        let (tx, rx) = sync_channel(64);
        let (htx, hrx) = sync_channel(64);
        let reader = std::thread::spawn(move || produce(&root, |_| 0, None, &tx, &htx).is_ok());
        let _hashes = std::thread::spawn(move || hash(hrx));
        let written: usize = rx.iter().map(|c: Arc<Chunk>| c.len()).sum();
        assert!(reader.join().unwrap());
        assert_eq!(tar_len(d.path()).unwrap(), written as u64);
        assert_eq!(written as u64 % tar::RECORD, 0);
    }
}
