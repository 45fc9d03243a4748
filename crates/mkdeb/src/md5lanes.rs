//! MD5 itself (RFC 1321), one block at a time for one file or eight files
//! at once, one per lane of a `wide::u32x8` (SSE2 on every x86-64, no
//! `unsafe`); [`crate::md5x`] schedules files onto the lanes.

use std::ops::{BitAnd, BitOr, BitXor, Not};
use wide::u32x8;

/// Files hashed side by side.
pub const LANES: usize = 8;

/// An MD5 digest.
pub type Digest = [u8; 16];

/// MD5's initial state (RFC 1321, 3.3).
pub(crate) const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD5's additive constants, `floor(abs(sin(i + 1)) * 2^32)` (RFC 1321, 3.4).
pub(crate) const K: [u32; 64] = [
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
pub(crate) trait Word:
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
pub(crate) fn rounds<W: Word>(state: &mut [W; 4], w: &[W; 16]) {
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
pub(crate) fn words(block: &[u8]) -> impl Iterator<Item = u32> + '_ {
    block
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// One block into one state.
pub(crate) fn compress_one(state: &mut [u32; 4], block: &[u8]) {
    let mut w = [0u32; 16];
    for (slot, word) in w.iter_mut().zip(words(block)) {
        *slot = word;
    }
    rounds(state, &w);
}

/// The lanes' states: `state[j][l]` is word `j` of lane `l`.
pub(crate) type States = [[u32; LANES]; 4];

/// `n` blocks in every lane whose slice in `blocks` holds `64 * n` bytes;
/// the other lanes (empty slices) keep their state.
pub(crate) fn compress_lanes(state: &mut States, blocks: &[&[u8]; LANES], n: usize) {
    // One busy lane (a big file the others ran out of work beside): the
    // scalar rounds cost less than eight lanes' worth for one (on the
    // benchmark's compiled tree, `mkdeb -Znone` took 0.23-0.33 s of user
    // time instead of 0.31-0.38 s).
    let mut busy = blocks.iter().enumerate().filter(|(_, d)| d.len() >= 64 * n);
    if let (Some((l, data)), None) = (busy.next(), busy.next()) {
        let mut one = [state[0][l], state[1][l], state[2][l], state[3][l]];
        for block in data[..64 * n].chunks_exact(64) {
            compress_one(&mut one, block);
        }
        for (row, new) in state.iter_mut().zip(one) {
            row[l] = new;
        }
        return;
    }
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

/// Finish a message of `len` bytes whose last `tail.len()` (< 64) bytes
/// are `tail`, from `state`: MD5's padding and length, then the digest.
pub(crate) fn pad_and_finish(state: &mut [u32; 4], tail: &[u8], len: u64) -> Digest {
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
