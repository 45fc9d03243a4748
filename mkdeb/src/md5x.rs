//! The MD5 of every file in the tar stream, several files at once.
//!
//! One MD5 is a chain: each 64-byte block needs the state the block before
//! it left, so a single file hashes no faster than that chain runs
//! (md-5: about 0.6 GB/s here). A virtualenv holds thousands of files,
//! though, so the [`Hasher`] hashes [`LANES`] of them side by side, one per
//! lane of a `wide::u32x8` (SSE2 on every x86-64, no `unsafe`): one
//! instruction advances eight chains. On the benchmark tree that is about
//! five times md-5's speed on one core, which matters on a 2-core machine
//! where the hasher competes with the compressor for CPU.
//!
//! The stream arrives in chunks, with each file's place in it announced
//! before the chunk holding its start. Lanes take files in stream order; a
//! batch runs once every lane has a block to hash (a batch costs the same
//! with one busy lane as with eight), and a lane whose file ends hashes the
//! last one or two padded blocks alone. Chunks are dropped once every lane
//! and queued file has moved past them.

use std::collections::VecDeque;
use std::ops::{BitAnd, BitOr, BitXor, Not};
use std::sync::Arc;

use wide::u32x8;

use crate::compress::Chunk;

/// Files hashed side by side.
pub const LANES: usize = 8;

/// An MD5 digest.
pub type Digest = [u8; 16];

/// MD5's initial state (RFC 1321, 3.3).
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD5's additive constants, `floor(abs(sin(i + 1)) * 2^32)` (RFC 1321, 3.4).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// A 32-bit word, or a vector of them, as MD5's rounds need it.
trait Word:
    Copy + BitAnd<Output = Self> + BitOr<Output = Self> + BitXor<Output = Self> + Not<Output = Self>
{
    fn splat(k: u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn rotl<const S: u32>(self) -> Self;
}

impl Word for u32 {
    fn splat(k: u32) -> Self {
        k
    }
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn rotl<const S: u32>(self) -> Self {
        self.rotate_left(S)
    }
}

impl Word for u32x8 {
    fn splat(k: u32) -> Self {
        u32x8::splat(k)
    }
    fn add(self, o: Self) -> Self {
        self + o // wraps
    }
    fn rotl<const S: u32>(self) -> Self {
        (self << S) | (self >> (32 - S))
    }
}

/// MD5's 64 steps on one block `w` (16 little-endian words per lane),
/// added into `state` (RFC 1321, 3.4). Always inlined, so that each
/// caller gets the steps unrolled for its word type; `a`-`d` are the RFC's.
#[allow(clippy::inline_always, clippy::many_single_char_names)]
#[inline(always)]
fn rounds<W: Word>(state: &mut [W; 4], w: &[W; 16]) {
    let [mut a, mut b, mut c, mut d] = *state;
    // One step: a = b + ((a + f(b, c, d) + K[i] + w[g]) <<< s), then the
    // four words rotate. The literals keep shifts and indices constant.
    macro_rules! step {
        ($f:ident, $i:literal, $g:literal, $s:literal) => {{
            let f = $f(b, c, d);
            let t = a.add(f).add(W::splat(K[$i]).add(w[$g]));
            let nb = b.add(t.rotl::<$s>());
            a = d;
            d = c;
            c = b;
            b = nb;
        }};
    }
    let ff = |b: W, c: W, d: W| d ^ (b & (c ^ d));
    let gg = |b: W, c: W, d: W| c ^ (d & (b ^ c));
    let hh = |b: W, c: W, d: W| b ^ c ^ d;
    let ii = |b: W, c: W, d: W| c ^ (b | !d);
    step!(ff, 0, 0, 7);
    step!(ff, 1, 1, 12);
    step!(ff, 2, 2, 17);
    step!(ff, 3, 3, 22);
    step!(ff, 4, 4, 7);
    step!(ff, 5, 5, 12);
    step!(ff, 6, 6, 17);
    step!(ff, 7, 7, 22);
    step!(ff, 8, 8, 7);
    step!(ff, 9, 9, 12);
    step!(ff, 10, 10, 17);
    step!(ff, 11, 11, 22);
    step!(ff, 12, 12, 7);
    step!(ff, 13, 13, 12);
    step!(ff, 14, 14, 17);
    step!(ff, 15, 15, 22);
    step!(gg, 16, 1, 5);
    step!(gg, 17, 6, 9);
    step!(gg, 18, 11, 14);
    step!(gg, 19, 0, 20);
    step!(gg, 20, 5, 5);
    step!(gg, 21, 10, 9);
    step!(gg, 22, 15, 14);
    step!(gg, 23, 4, 20);
    step!(gg, 24, 9, 5);
    step!(gg, 25, 14, 9);
    step!(gg, 26, 3, 14);
    step!(gg, 27, 8, 20);
    step!(gg, 28, 13, 5);
    step!(gg, 29, 2, 9);
    step!(gg, 30, 7, 14);
    step!(gg, 31, 12, 20);
    step!(hh, 32, 5, 4);
    step!(hh, 33, 8, 11);
    step!(hh, 34, 11, 16);
    step!(hh, 35, 14, 23);
    step!(hh, 36, 1, 4);
    step!(hh, 37, 4, 11);
    step!(hh, 38, 7, 16);
    step!(hh, 39, 10, 23);
    step!(hh, 40, 13, 4);
    step!(hh, 41, 0, 11);
    step!(hh, 42, 3, 16);
    step!(hh, 43, 6, 23);
    step!(hh, 44, 9, 4);
    step!(hh, 45, 12, 11);
    step!(hh, 46, 15, 16);
    step!(hh, 47, 2, 23);
    step!(ii, 48, 0, 6);
    step!(ii, 49, 7, 10);
    step!(ii, 50, 14, 15);
    step!(ii, 51, 5, 21);
    step!(ii, 52, 12, 6);
    step!(ii, 53, 3, 10);
    step!(ii, 54, 10, 15);
    step!(ii, 55, 1, 21);
    step!(ii, 56, 8, 6);
    step!(ii, 57, 15, 10);
    step!(ii, 58, 6, 15);
    step!(ii, 59, 13, 21);
    step!(ii, 60, 4, 6);
    step!(ii, 61, 11, 10);
    step!(ii, 62, 2, 15);
    step!(ii, 63, 9, 21);
    state[0] = state[0].add(a);
    state[1] = state[1].add(b);
    state[2] = state[2].add(c);
    state[3] = state[3].add(d);
}

/// The 16 little-endian words of a 64-byte block.
fn words(block: &[u8]) -> impl Iterator<Item = u32> + '_ {
    block
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// One block into one state.
fn compress_one(state: &mut [u32; 4], block: &[u8]) {
    let mut w = [0u32; 16];
    for (slot, word) in w.iter_mut().zip(words(block)) {
        *slot = word;
    }
    rounds(state, &w);
}

/// The lanes' states: `state[j][l]` is word `j` of lane `l`.
type States = [[u32; LANES]; 4];

/// `n` blocks in every lane whose slice in `blocks` holds `64 * n` bytes;
/// the other lanes (empty slices) keep their state.
fn compress_lanes(state: &mut States, blocks: &[&[u8]; LANES], n: usize) {
    let mut v = state.map(u32x8::from);
    for b in 0..n {
        let mut w = [[0u32; LANES]; 16];
        for (l, data) in blocks.iter().enumerate() {
            if let Some(block) = data.get(64 * b..64 * b + 64) {
                for (j, word) in words(block).enumerate() {
                    w[j][l] = word;
                }
            }
        }
        rounds(&mut v, &w.map(u32x8::from));
    }
    let out = v.map(u32x8::to_array);
    for (l, data) in blocks.iter().enumerate() {
        if data.len() >= 64 * n {
            for (row, new) in state.iter_mut().zip(&out) {
                row[l] = new[l];
            }
        }
    }
}

/// A file: its index in the results and its bytes `start..end` in the stream.
#[derive(Debug, Clone, Copy)]
struct File {
    index: usize,
    start: u64,
    end: u64,
}

/// A lane at work: its file, how far it got, and room for a block that
/// straddles two chunks.
#[derive(Debug)]
struct Lane {
    file: File,
    pos: u64,
    buf: [u8; 64],
}

/// What a lane can do next.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Nothing: it is free, or its next block has not arrived.
    Wait,
    /// `n` blocks, contiguous in chunk `chunk` of the window from `off`.
    Blocks { chunk: usize, off: usize, n: usize },
    /// One block, copied into the lane's `buf`: it straddles two chunks.
    /// Not in mkdeb's own stream (chunks are a multiple of 512 bytes and
    /// file data starts on a 512-byte boundary), but any cut works.
    Buffered,
    /// Less than a block is left and it has arrived: pad and finish.
    Finish,
}

/// MD5s of the files in a stream that arrives in chunks (see the module
/// documentation).
#[derive(Debug, Default)]
pub struct Hasher {
    state: States,
    lanes: [Option<Lane>; LANES],
    queue: VecDeque<File>,
    /// Chunks still needed, with the stream offset each starts at.
    window: VecDeque<(u64, Arc<Chunk>)>,
    /// Stream bytes received.
    end: u64,
    digests: Vec<Option<Digest>>,
}

impl Hasher {
    /// A hasher with nothing announced.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announce the next file: `len` bytes from `start` in the stream.
    /// Files come in stream order, each before the chunk where it starts.
    /// Returns the file's index among the results. A file announced too
    /// late (its start already dropped) gets no digest: `finish` says so.
    pub fn file(&mut self, start: u64, len: u64) -> usize {
        let index = self.digests.len();
        let file = File {
            index,
            start,
            end: start + len,
        };
        let first = self.window.front().map_or(self.end, |(s, _)| *s);
        if start < first {
            self.digests.push(None);
        } else if len == 0 {
            let mut state = INIT;
            self.digests.push(Some(pad_and_finish(&mut state, &[], 0)));
        } else {
            self.digests.push(None);
            self.queue.push_back(file);
        }
        index
    }

    /// The next chunk of the stream.
    pub fn chunk(&mut self, chunk: Arc<Chunk>) {
        let len = chunk.len() as u64;
        self.window.push_back((self.end, chunk));
        self.end += len;
    }

    /// Bytes of the stream held in the window.
    pub fn held(&self) -> u64 {
        self.end - self.window.front().map_or(self.end, |(s, _)| *s)
    }

    /// Hash what has arrived. Unless `drain`, stop as soon as a lane has
    /// nothing to do, to wait for more input; with `drain` (no more input
    /// is coming, or too much is held), run partial batches too.
    pub fn run(&mut self, drain: bool) {
        loop {
            for (l, slot) in self.lanes.iter_mut().enumerate() {
                if slot.is_none()
                    && let Some(file) = self.queue.pop_front()
                {
                    *slot = Some(Lane {
                        file,
                        pos: file.start,
                        buf: [0; 64],
                    });
                    for (row, init) in self.state.iter_mut().zip(INIT) {
                        row[l] = init;
                    }
                }
            }
            let mut next = [Next::Wait; LANES];
            let mut freed = false;
            for (l, slot) in self.lanes.iter_mut().enumerate() {
                let Some(lane) = slot else { continue };
                next[l] = plan(&self.window, self.end, lane);
                if let Next::Finish = next[l] {
                    let mut state = self.state.map(|row| row[l]);
                    let mut tail = [0u8; 64];
                    // Less than a block is left.
                    #[allow(clippy::cast_possible_truncation)]
                    let tail = &mut tail[..(lane.file.end - lane.pos) as usize];
                    copy_out(&self.window, lane.pos, tail);
                    let len = lane.file.end - lane.file.start;
                    self.digests[lane.file.index] = Some(pad_and_finish(&mut state, tail, len));
                    *slot = None;
                    freed = true;
                }
            }
            if freed && !self.queue.is_empty() {
                continue;
            }
            let ready = next
                .iter()
                .filter(|n| matches!(n, Next::Blocks { .. } | Next::Buffered))
                .count();
            if ready == 0 || (ready < LANES && !drain) {
                break;
            }
            let n = next
                .iter()
                .filter_map(|n| match n {
                    Next::Blocks { n, .. } => Some(*n),
                    Next::Buffered => Some(1),
                    Next::Wait | Next::Finish => None,
                })
                .min()
                .unwrap_or(1);
            let mut blocks: [&[u8]; LANES] = [&[]; LANES];
            for (l, lane) in self.lanes.iter().enumerate() {
                blocks[l] = match (next[l], lane) {
                    (Next::Blocks { chunk, off, .. }, _) => {
                        &self.window[chunk].1[off..off + 64 * n]
                    }
                    (Next::Buffered, Some(lane)) => &lane.buf,
                    _ => &[],
                };
            }
            compress_lanes(&mut self.state, &blocks, n);
            for (l, slot) in self.lanes.iter_mut().enumerate() {
                if let (Next::Blocks { .. } | Next::Buffered, Some(lane)) = (next[l], slot) {
                    lane.pos += 64 * n as u64;
                }
            }
        }
        self.release();
    }

    /// Drop the chunks that no lane or queued file needs any more.
    fn release(&mut self) {
        let low = self
            .lanes
            .iter()
            .flatten()
            .map(|l| l.pos)
            .chain(self.queue.front().map(|f| f.start))
            .min()
            .unwrap_or(self.end);
        while let Some((start, chunk)) = self.window.front() {
            if start + chunk.len() as u64 > low {
                break;
            }
            self.window.pop_front();
        }
    }

    /// Hash the rest; the digests in announcement order, or `None` if a
    /// file runs past the end of the stream.
    pub fn finish(mut self) -> Option<Vec<Digest>> {
        self.run(true);
        self.digests.into_iter().collect()
    }
}

/// What `lane` can do next, with `end` bytes of the stream received and
/// `window` holding the chunks from its position on.
fn plan(window: &VecDeque<(u64, Arc<Chunk>)>, end: u64, lane: &mut Lane) -> Next {
    let left = lane.file.end - lane.pos;
    if left < 64 {
        return if lane.file.end <= end {
            Next::Finish
        } else {
            Next::Wait
        };
    }
    if lane.pos + 64 > end {
        return Next::Wait;
    }
    let Some(chunk) = window
        .partition_point(|(s, _)| *s <= lane.pos)
        .checked_sub(1)
    else {
        return Next::Wait;
    };
    let (start, data) = &window[chunk];
    // Offsets inside a chunk are below its length, a usize.
    #[allow(clippy::cast_possible_truncation)]
    let off = (lane.pos - start) as usize;
    #[allow(clippy::cast_possible_truncation)]
    let run = (data.len() - off).min(usize::try_from(left).unwrap_or(usize::MAX)) / 64;
    if run > 0 {
        Next::Blocks { chunk, off, n: run }
    } else {
        copy_out(window, lane.pos, &mut lane.buf);
        Next::Buffered
    }
}

/// Copy the stream's bytes from offset `from` into `out`; they must be in
/// `window`.
fn copy_out(window: &VecDeque<(u64, Arc<Chunk>)>, from: u64, out: &mut [u8]) {
    let mut pos = from;
    let mut done = 0;
    let first = window
        .partition_point(|(s, _)| *s <= from)
        .saturating_sub(1);
    for (start, data) in window.iter().skip(first) {
        if done == out.len() {
            break;
        }
        // In this chunk: pos - start < data.len().
        #[allow(clippy::cast_possible_truncation)]
        let off = (pos - start) as usize;
        let n = (data.len() - off).min(out.len() - done);
        out[done..done + n].copy_from_slice(&data[off..off + n]);
        done += n;
        pos += n as u64;
    }
}

/// Finish a message of `len` bytes whose last `tail.len()` (< 64) bytes
/// are `tail`, from `state`: MD5's padding and length, then the digest.
fn pad_and_finish(state: &mut [u32; 4], tail: &[u8], len: u64) -> Digest {
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let blocks = if tail.len() < 56 { 1 } else { 2 };
    last[64 * blocks - 8..64 * blocks].copy_from_slice(&len.wrapping_mul(8).to_le_bytes());
    for block in last.chunks_exact(64).take(blocks) {
        compress_one(state, block);
    }
    let mut digest = [0u8; 16];
    for (out, word) in digest.chunks_exact_mut(4).zip(state.iter()) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use md5::Digest as _;

    fn md5(data: &[u8]) -> Digest {
        md5::Md5::digest(data).into()
    }

    /// Pseudo-random bytes.
    fn bytes(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect()
    }

    #[test]
    fn constants_are_the_sines() {
        for (i, k) in K.iter().enumerate() {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let want = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0).floor() as u32;
            assert_eq!(*k, want, "K[{i}]");
        }
    }

    #[test]
    fn one_message_matches_md5_at_every_padding_boundary() {
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
            let data = bytes(len, 7);
            let mut state = INIT;
            let whole = len / 64 * 64;
            for block in data[..whole].chunks_exact(64) {
                compress_one(&mut state, block);
            }
            assert_eq!(
                pad_and_finish(&mut state, &data[whole..], len as u64),
                md5(&data),
                "len {len}"
            );
        }
    }

    #[test]
    fn lanes_match_one_at_a_time_and_idle_lanes_keep_their_state() {
        let data: Vec<Vec<u8>> = (0..LANES)
            .map(|l| bytes(64 * 3, l.try_into().unwrap()))
            .collect();
        let mut state: States = [[0; LANES]; 4];
        for (j, row) in state.iter_mut().enumerate() {
            *row = [INIT[j]; LANES];
        }
        let mut blocks: [&[u8]; LANES] = std::array::from_fn(|l| &data[l][..]);
        blocks[5] = &[];
        compress_lanes(&mut state, &blocks, 3);
        for (l, d) in data.iter().enumerate() {
            let mut one = INIT;
            if l != 5 {
                for block in d.chunks_exact(64) {
                    compress_one(&mut one, block);
                }
            }
            let got: Vec<u32> = state.iter().map(|row| row[l]).collect();
            assert_eq!(got, one, "lane {l}");
        }
    }

    /// Feed `files` as one stream cut into chunks of the given sizes
    /// (cycled), running the hasher after each chunk.
    fn hash_stream(files: &[Vec<u8>], cuts: &[usize], hold: u64) -> Vec<Digest> {
        let mut stream = Vec::new();
        let mut places = Vec::new();
        for f in files {
            stream.extend_from_slice(&bytes(3, f.len().try_into().unwrap())); // a "header"
            places.push((stream.len() as u64, f.len() as u64));
            stream.extend_from_slice(f);
        }
        stream.extend_from_slice(&[0; 5]);
        let mut h = Hasher::new();
        let mut announced = 0;
        let mut pos = 0;
        for cut in cuts.iter().cycle() {
            if pos == stream.len() {
                break;
            }
            let to = (pos + cut).min(stream.len());
            while announced < places.len() && places[announced].0 < to as u64 {
                let (s, n) = places[announced];
                assert_eq!(h.file(s, n), announced);
                announced += 1;
            }
            h.chunk(Arc::new(Chunk::copy_of(&stream[pos..to])));
            h.run(h.held() > hold);
            pos = to;
        }
        while announced < places.len() {
            let (s, n) = places[announced];
            h.file(s, n);
            announced += 1;
        }
        h.finish().unwrap()
    }

    #[test]
    fn stream_of_files_gives_every_files_md5() {
        let mut files: Vec<Vec<u8>> = [0, 1, 63, 64, 65, 0, 55, 56, 200, 4096, 70_000, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| bytes(n, u32::try_from(i).unwrap() + 100))
            .collect();
        // A big file followed by many small ones: the lanes run ahead of it.
        files.push(bytes(300_000, 1));
        files.extend((0..40u32).map(|i| bytes(100 + 37 * i as usize, i)));
        let want: Vec<Digest> = files.iter().map(|f| md5(f)).collect();
        for cuts in [&[1 << 20][..], &[7, 64, 1000], &[4096], &[65_536, 13]] {
            for hold in [0, 10_000, u64::MAX] {
                assert_eq!(hash_stream(&files, cuts, hold), want, "{cuts:?} {hold}");
            }
        }
        // Byte by byte (every block straddles chunks), on the small files.
        assert_eq!(hash_stream(&files[..12], &[1], 100), want[..12]);
    }

    #[test]
    fn file_past_the_end_gives_none() {
        let mut h = Hasher::new();
        h.file(0, 100);
        h.chunk(Arc::new(Chunk::copy_of(&[1; 50])));
        assert!(h.finish().is_none());
    }

    #[test]
    fn file_announced_after_its_chunk_was_dropped_gives_none() {
        let mut h = Hasher::new();
        h.chunk(Arc::new(Chunk::copy_of(&[7; 100])));
        h.run(true);
        assert_eq!(h.held(), 0);
        h.file(20, 10);
        h.chunk(Arc::new(Chunk::copy_of(&[8; 100])));
        assert!(h.finish().is_none());
    }

    #[test]
    fn chunks_are_released_once_hashed() {
        let mut h = Hasher::new();
        h.file(0, 640);
        h.file(650, 100);
        h.chunk(Arc::new(Chunk::copy_of(&[1; 640])));
        h.chunk(Arc::new(Chunk::copy_of(&[2; 64])));
        h.run(true);
        // The first file is done; the second starts in the second chunk.
        assert_eq!(h.held(), 64);
        h.chunk(Arc::new(Chunk::copy_of(&[3; 100])));
        let mut second = vec![2; 54];
        second.extend_from_slice(&[3; 46]);
        assert_eq!(h.finish().unwrap(), vec![md5(&[1; 640]), md5(&second)]);
    }
}
