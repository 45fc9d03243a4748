//! Member compressors. The tar stream arrives in chunks (for gzip, one
//! chunk per member, cut where [`cut`](crate::cut) says; else of [`CHUNK`]
//! bytes); every compressor is deterministic: the same stream and
//! level give the same bytes whatever `threads` is, and whether members
//! come from the [`cache`](crate::cache) or not.
//!
//! - gzip: each chunk becomes an independent gzip member, compressed on a
//!   pool of worker threads and written in order (as pigz does with
//!   `--independent`); gzip readers, zlib's `gzread` that dpkg uses
//!   included, read concatenated members as one stream.
//! - xz: liblzma's multi-threaded encoder, as dpkg-deb uses, with blocks
//!   of about dpkg-deb's size that share the input evenly (see
//!   [`xz_block_size`]).
//! - zstd: libzstd's worker threads, as dpkg-deb uses, with a checksum:
//!   one frame. Independent frames would be as easy to cache as gzip
//!   members, but dpkg reads only the first frame of a zstd member
//!   (1.21.22 and 1.22.22, tested: `dpkg-deb --fsys-tarfile` stops there,
//!   and lintian does not notice).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crate::cache::Cache;

/// Size of the chunks the tar stream is cut into for xz and no compression.
pub const CHUNK: usize = 1 << 20;

/// Buffers of one size to reuse (fresh ones cost page faults).
pub type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

/// A piece of the stream, shared by the compressor and the hasher; its
/// buffer goes back to its pool when the last holder drops it.
#[derive(Debug)]
pub struct Chunk {
    buf: Vec<u8>,
    len: usize,
    pool: Option<Pool>,
}

impl Chunk {
    /// The first `len` bytes of `buf`, returned to `pool` when dropped.
    pub fn new(buf: Vec<u8>, len: usize, pool: Option<Pool>) -> Self {
        Self { buf, len, pool }
    }

    /// A chunk holding a copy of `data`.
    pub fn copy_of(data: &[u8]) -> Self {
        Self::new(data.to_vec(), data.len(), None)
    }

    /// A buffer of `cap` bytes from `pool` (which holds only such), or a
    /// new one.
    pub fn buffer(pool: &Pool, cap: usize) -> Vec<u8> {
        let reused = pool.lock().ok().and_then(|mut p| p.pop());
        reused.unwrap_or_else(|| vec![0; cap])
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool
            && let Ok(mut p) = pool.lock()
        {
            p.push(std::mem::take(&mut self.buf));
        }
    }
}

/// A compression format for the tar members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// gzip (`.gz`), default level 9
    Gzip,
    /// xz (`.xz`), default level 6
    Xz,
    /// zstd (`.zst`), default level 3; needs dpkg >= 1.21.18 to install
    Zstd,
    /// no compression
    None,
}

impl Format {
    /// dpkg-deb's default level.
    pub fn default_level(self) -> u32 {
        match self {
            Self::Gzip => 9,
            Self::Xz => 6,
            Self::Zstd => 3,
            Self::None => 0,
        }
    }

    /// The highest level accepted.
    pub fn max_level(self) -> u32 {
        match self {
            Self::Gzip | Self::Xz => 9,
            Self::Zstd => 22,
            Self::None => 0,
        }
    }

    /// The oldest dpkg that reads members in this format: zstd came with
    /// dpkg 1.21.18 (Debian 12; Debian 11 has 1.20), the others long before.
    pub fn min_dpkg(self) -> Option<&'static str> {
        match self {
            Self::Zstd => Some("1.21.18"),
            _ => None,
        }
    }

    /// Refuse a format the target's dpkg (version `dpkg`) cannot unpack.
    pub fn check_target_dpkg(self, dpkg: &str) -> Result<(), String> {
        match self.min_dpkg() {
            Some(min)
                if debpipe_core::version::compare(dpkg.as_bytes(), min.as_bytes())
                    == std::cmp::Ordering::Less =>
            {
                // The newest release whose dpkg does not read it (releases.tsv).
                let newest = debpipe_core::release::all()
                    .iter()
                    .rfind(|r| !r.reads(self.name()))
                    .map_or(String::new(), |r| {
                        format!(" (Debian {} and older)", r.number)
                    });
                Err(format!(
                    "{} members need dpkg >= {min} to install, and the target's dpkg is {dpkg}{newest}: use -Zxz or -Zgzip",
                    self.extension().trim_start_matches('.')
                ))
            }
            _ => Ok(()),
        }
    }

    /// The name `-Z` takes and releases.tsv's `compressions` use: `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
            Self::None => "none",
        }
    }

    /// The member name suffix: `.gz`, `.xz`, `.zst` or nothing.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Zstd => ".zst",
            Self::None => "",
        }
    }
}

/// How to compress: format, level and worker threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The format.
    pub format: Format,
    /// The level (already checked against the format's range).
    pub level: u32,
    /// Worker threads (at least 1). Changes speed, never the output.
    pub threads: usize,
}

#[cfg(test)]
mod target_tests {
    use super::Format;

    #[test]
    fn zstd_needs_a_dpkg_that_reads_it() {
        let e = Format::Zstd.check_target_dpkg("1.20.13").unwrap_err();
        assert!(
            e.contains("dpkg >= 1.21.18") && e.contains("1.20.13"),
            "{e}"
        );
        assert!(Format::Zstd.check_target_dpkg("1.21.18").is_ok());
        assert!(Format::Zstd.check_target_dpkg("1.22.22").is_ok());
        assert!(Format::Xz.check_target_dpkg("1.20.13").is_ok());
        assert!(e.contains("(Debian 11 and older)"), "{e}");
    }

    /// releases.tsv's `compressions` of each release are what this check
    /// lets through for its dpkg: a new row that disagrees fails here.
    #[test]
    fn the_release_table_agrees_with_the_target_check() {
        for r in debpipe_core::release::all() {
            for format in [Format::Gzip, Format::Xz, Format::Zstd] {
                assert_eq!(
                    format.check_target_dpkg(r.dpkg).is_ok(),
                    r.reads(format.name()),
                    "{} (dpkg {}) and {}",
                    r.codename,
                    r.dpkg,
                    format.name()
                );
            }
        }
    }
}

impl Params {
    /// `format` at `level` (default when `None`); gzip level 0 means no
    /// compression, as for dpkg-deb. Errors name the bad level.
    pub fn new(format: Format, level: Option<u32>, threads: usize) -> Result<Self, String> {
        let level = level.unwrap_or_else(|| format.default_level());
        if format != Format::None && level > format.max_level() {
            return Err(format!(
                "compression level {level} is out of range for {} (0-{})",
                format.extension().trim_start_matches('.'),
                format.max_level()
            ));
        }
        let format = if format == Format::Gzip && level == 0 {
            Format::None
        } else {
            format
        };
        Ok(Self {
            format,
            level,
            threads: threads.max(1),
        })
    }
}

/// The preset's LZMA2 dictionary size, at least 1 MiB.
fn xz_dict_size(level: u32) -> u64 {
    match level {
        0..=1 => 1 << 20,
        2 => 2 << 20,
        3 | 4 => 4 << 20,
        5 | 6 => 8 << 20,
        7 => 16 << 20,
        8 => 32 << 20,
        _ => 64 << 20,
    }
}

/// The xz block size for a stream of `input_len` bytes (`None`: unknown).
///
/// Blocks are compressed in parallel, one per thread, and each starts with
/// an empty dictionary: its first dictionary's worth of input compresses
/// worse. dpkg-deb leaves the size to liblzma's multi-threaded encoder,
/// which cuts blocks of three dictionaries (24 MiB at level 6, what dpkg-deb
/// uses), the last one short. Blocks of two dictionaries cost 0.4-1.0 % in
/// size on the benchmark trees and 3.2 % on a 10.6k-file venv of many
/// similar files, so no block here restarts the dictionary more often than
/// dpkg-deb's do: as many equal blocks as dpkg-deb has (the same restarts,
/// and no short last block to wait for), or one fewer when dpkg-deb's last
/// block is under a dictionary (then that restart cost dpkg-deb less than a
/// whole dictionary, and ours would cost a whole one). Equal blocks keep
/// every thread busy to the end as far as the count allows. Measured, whole
/// .deb against `dpkg-deb -Zxz` 1.21.22: 0.9992-1.0000 on a 2 MB tree, a
/// Django venv (44 MB) and the three trees of `crates/mkdeb/bench/run.sh`
/// (118-239 MB). It depends on the level and length only, so the output
/// does not depend on the number of threads.
pub fn xz_block_size(level: u32, input_len: Option<u64>) -> u64 {
    let dict = xz_dict_size(level);
    let dpkg = 3 * dict;
    let Some(len) = input_len else {
        return dpkg;
    };
    let mut blocks = len.div_ceil(dpkg).max(1);
    if blocks > 1 && len - (blocks - 1) * dpkg < dict {
        blocks -= 1;
    }
    len.div_ceil(blocks).max(1 << 20)
}

/// Where compressed bytes go: a writer that can also take whole members
/// without a copy.
pub trait Sink: Write {
    /// Append `member`.
    fn push(&mut self, member: Vec<u8>) -> io::Result<()> {
        self.write_all(&member)
    }
}

impl Sink for Vec<u8> {}

/// A compressor writing to `W`.
pub enum Encoder<W: Sink> {
    /// Pass-through.
    None(W),
    /// Independent gzip members, one per chunk, compressed on a pool of
    /// threads.
    Gzip(ParGz<W>),
    /// Multi-threaded xz.
    Xz(xz2::write::XzEncoder<W>),
    /// Multi-threaded zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Sink> Encoder<W> {
    /// A compressor for `params`, writing to `out`; `input_len`, the
    /// length of the stream when known, sizes xz blocks; `cache`, if any,
    /// holds members already compressed.
    pub fn new(
        params: Params,
        input_len: Option<u64>,
        cache: Option<&Arc<Cache>>,
        out: W,
    ) -> io::Result<Self> {
        let threads = u32::try_from(params.threads).unwrap_or(u32::MAX);
        Ok(match params.format {
            Format::None => Self::None(out),
            Format::Gzip => Self::Gzip(ParGz::new(out, params.level, params.threads, cache)),
            Format::Xz => {
                let stream = xz2::stream::MtStreamBuilder::new()
                    .threads(threads)
                    .preset(params.level)
                    .block_size(xz_block_size(params.level, input_len))
                    .check(xz2::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Self::Xz(xz2::write::XzEncoder::new_stream(out, stream))
            }
            Format::Zstd => {
                let level = i32::try_from(params.level).unwrap_or(3);
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                enc.include_checksum(true)?;
                // Always at least one worker: zstd's output with workers
                // does not depend on their number, but differs from its
                // single-threaded mode.
                enc.multithread(threads)?;
                Self::Zstd(enc)
            }
        })
    }

    /// Compress one chunk of the stream (for gzip, one member).
    pub fn put(&mut self, chunk: Arc<Chunk>) -> io::Result<()> {
        match self {
            Self::None(w) => w.write_all(&chunk),
            Self::Gzip(g) => g.put(chunk),
            Self::Xz(x) => x.write_all(&chunk),
            Self::Zstd(z) => z.write_all(&chunk),
        }
    }

    /// Finish the stream and return the writer, with how many members
    /// there were and how many came from the cache.
    pub fn finish(self) -> io::Result<(W, Reuse)> {
        match self {
            Self::None(w) => Ok((w, Reuse::default())),
            Self::Gzip(g) => g.finish(),
            Self::Xz(x) => Ok((x.finish()?, Reuse::default())),
            Self::Zstd(z) => Ok((z.finish()?, Reuse::default())),
        }
    }
}

/// Members written, and how many of them came from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reuse {
    /// Members in the data member.
    pub members: u64,
    /// Of them, taken from the cache.
    pub reused: u64,
}

/// Compress `data` in one go (the control member): one member.
pub fn compress_bytes(params: Params, data: &[u8]) -> io::Result<Vec<u8>> {
    if params.format == Format::Gzip {
        return gzip_member(data, params.level);
    }
    let mut enc = Encoder::new(params, Some(data.len() as u64), None, Vec::new())?;
    for chunk in data.chunks(CHUNK) {
        enc.put(Arc::new(Chunk::copy_of(chunk)))?;
    }
    enc.finish().map(|(w, _)| w)
}

/// One gzip member for `data`, with the header zlib's `gzdopen` writes
/// (no name, mtime 0, OS Unix).
pub fn gzip_member(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let out = Vec::with_capacity(data.len() / 2 + 64);
    let mut enc = flate2::GzBuilder::new()
        .operating_system(3)
        .write(out, flate2::Compression::new(level));
    enc.write_all(data)?;
    enc.finish()
}

type Job = (u64, Arc<Chunk>);
type Done = (u64, io::Result<(Vec<u8>, bool)>);

/// Independent gzip members compressed (or taken from the cache) by a pool
/// of threads, written in order.
pub struct ParGz<W: Sink> {
    out: W,
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    done: BTreeMap<u64, (Vec<u8>, bool)>,
    submitted: u64,
    written: u64,
    reused: u64,
    max_in_flight: u64,
}

impl<W: Sink> ParGz<W> {
    fn new(out: W, level: u32, threads: usize, cache: Option<&Arc<Cache>>) -> Self {
        let (jobs, job_rx) = sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, results) = mpsc::channel();
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let res_tx = res_tx.clone();
            let cache = cache.cloned();
            workers.push(std::thread::spawn(move || {
                loop {
                    // A poisoned lock means another worker panicked:
                    // stop; `finish` reports the missing member.
                    let Ok(job) = job_rx.lock().map(|rx| rx.recv()) else {
                        return;
                    };
                    let Ok((seq, data)) = job else { return };
                    let member = member(level, cache.as_deref(), &data);
                    if res_tx.send((seq, member)).is_err() {
                        return;
                    }
                }
            }));
        }
        Self {
            out,
            jobs: Some(jobs),
            results,
            workers,
            done: BTreeMap::new(),
            submitted: 0,
            written: 0,
            reused: 0,
            max_in_flight: 2 * threads as u64 + 2,
        }
    }

    fn put(&mut self, chunk: Arc<Chunk>) -> io::Result<()> {
        while self.submitted - self.written >= self.max_in_flight {
            self.collect_one()?;
        }
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send((self.submitted, chunk)).map_err(|_| gone())?;
        self.submitted += 1;
        // Write whatever is ready without waiting.
        while let Ok((seq, member)) = self.results.try_recv() {
            self.done.insert(seq, member?);
        }
        self.write_ready()
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, member) = self.results.recv().map_err(|_| gone())?;
        self.done.insert(seq, member?);
        self.write_ready()
    }

    fn write_ready(&mut self) -> io::Result<()> {
        while let Some((member, hit)) = self.done.remove(&self.written) {
            self.out.push(member)?;
            self.written += 1;
            self.reused += u64::from(hit);
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<(W, Reuse)> {
        self.jobs = None;
        while self.written < self.submitted {
            self.collect_one()?;
        }
        for w in self.workers.drain(..) {
            w.join().map_err(|_| gone())?;
        }
        let reuse = Reuse {
            members: self.written,
            reused: self.reused,
        };
        Ok((self.out, reuse))
    }
}

/// One member: from the cache when it has `data`'s, else compressed (and
/// offered to the cache). The flag says it came from the cache.
fn member(level: u32, cache: Option<&Cache>, data: &[u8]) -> io::Result<(Vec<u8>, bool)> {
    let Some(cache) = cache else {
        return Ok((gzip_member(data, level)?, false));
    };
    let key = Cache::key(data);
    if let Some(m) = cache.get(&key) {
        return Ok((m, true));
    }
    let m = gzip_member(data, level)?;
    // A cache that cannot be written costs the next build time, not this one.
    let _ = cache.put(&key, &m);
    Ok((m, false))
}

fn gone() -> io::Error {
    io::Error::other("compression worker thread failed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        let mut x: u32 = 1;
        while v.len() < 3 * CHUNK + 12_345 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            v.extend_from_slice(format!("line {} {}\n", x >> 16, x % 7).as_bytes());
        }
        v
    }

    /// `data` through an encoder, in chunks of 300,000 bytes (for gzip, one
    /// member each).
    fn encode(
        format: Format,
        data: &[u8],
        threads: usize,
        cache: Option<&Arc<Cache>>,
    ) -> (Vec<u8>, Reuse) {
        let p = Params::new(format, Some(1), threads).unwrap();
        let mut enc = Encoder::new(p, Some(data.len() as u64), cache, Vec::new()).unwrap();
        for c in data.chunks(300_000) {
            enc.put(Arc::new(Chunk::copy_of(c))).unwrap();
        }
        enc.finish().unwrap()
    }

    fn decode(format: Format, data: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        match format {
            Format::Gzip => flate2::read::MultiGzDecoder::new(data).read_to_end(&mut back),
            Format::Xz => xz2::read::XzDecoder::new(data).read_to_end(&mut back),
            Format::Zstd => zstd::stream::read::Decoder::new(data)
                .unwrap()
                .read_to_end(&mut back),
            Format::None => return data.to_vec(),
        }
        .unwrap();
        back
    }

    #[test]
    fn members_decode_as_one_stream_and_ignore_thread_count() {
        let data = sample();
        for f in [Format::Gzip, Format::Zstd, Format::Xz] {
            let (one, reuse) = encode(f, &data, 1, None);
            assert_eq!(one, encode(f, &data, 3, None).0, "{f:?}");
            assert_eq!(decode(f, &one), data, "{f:?}");
            let members = if f == Format::Gzip {
                data.len().div_ceil(300_000) as u64
            } else {
                0
            };
            assert_eq!(reuse, Reuse { members, reused: 0 }, "{f:?}");
        }
        assert_eq!(
            &encode(Format::Gzip, &data, 1, None).0[..4],
            &[0x1f, 0x8b, 8, 0]
        );
    }

    #[test]
    fn cached_members_give_the_same_bytes() {
        let d = tempfile::tempdir().unwrap();
        let data = sample();
        let gz = Format::Gzip;
        let cache = Arc::new(Cache::open(d.path(), 1, 1 << 30).unwrap());
        let (cold, _) = encode(gz, &data, 2, None);
        let (first, r1) = encode(gz, &data, 2, Some(&cache));
        let mut changed = data.clone();
        changed[700_000] ^= 1;
        let (second, r2) = encode(gz, &changed, 2, Some(&cache));
        assert_eq!(first, cold);
        assert_eq!(r1.reused, 0);
        // Only the third member's bytes changed.
        assert_eq!(r2.reused, r2.members - 1);
        assert_eq!(second, encode(gz, &changed, 1, None).0);
        assert_eq!(decode(gz, &second), changed);
    }

    #[test]
    fn levels_follow_dpkg_deb() {
        let p = Params::new(Format::Xz, None, 0).unwrap();
        assert_eq!((p.level, p.threads), (6, 1));
        assert_eq!(Params::new(Format::Gzip, None, 2).unwrap().level, 9);
        assert_eq!(
            Params::new(Format::Gzip, Some(0), 2).unwrap().format,
            Format::None
        );
        assert!(Params::new(Format::Xz, Some(10), 2).is_err());
        assert!(Params::new(Format::Zstd, Some(19), 2).is_ok());
    }

    #[test]
    fn xz_blocks_restart_the_dictionary_no_more_often_than_dpkg_deb() {
        const M: u64 = 1 << 20;
        assert_eq!(xz_block_size(6, None), 24 * M);
        assert_eq!(xz_block_size(6, Some(5 * M)), 5 * M);
        assert_eq!(xz_block_size(6, Some(24 * M)), 24 * M);
        // 25 MiB: dpkg-deb's second block would be 1 MiB: one block.
        assert_eq!(xz_block_size(6, Some(25 * M)), 25 * M);
        // 33 MiB: dpkg-deb has 24 + 9, two restarts: two equal blocks.
        assert_eq!(xz_block_size(6, Some(33 * M)), (33 * M).div_ceil(2));
        // 117 MiB: dpkg-deb has 4 x 24 + 21: 5 blocks of 23.4 MiB.
        assert_eq!(xz_block_size(6, Some(117 * M)), (117 * M).div_ceil(5));
        // 241 MiB: 10 x 24 + 1: 10 blocks of 24.1 MiB.
        assert_eq!(xz_block_size(6, Some(241 * M)), (241 * M).div_ceil(10));
        assert_eq!(xz_block_size(0, Some(M / 2)), M);
        assert_eq!(xz_block_size(9, Some(500 * M)), (500 * M).div_ceil(3));
    }
}
