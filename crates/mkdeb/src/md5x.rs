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
//! with two busy lanes as with eight; one busy lane runs scalar rounds),
//! and a lane whose file ends hashes the last one or two padded blocks
//! alone. Chunks are dropped once every lane
//! and queued file has moved past them.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::compress::Chunk;

pub use crate::md5lanes::{Digest, LANES};
use crate::md5lanes::{INIT, States, compress_lanes, pad_and_finish};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::md5lanes::{K, compress_one};
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
