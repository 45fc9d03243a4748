//! The mutator: a seeded xorshift generator and byte-level mutations aimed
//! at the formats' weak spots (decimal ar sizes, octal tar sizes, lengths,
//! separators).

/// xorshift64* (Vigna): fast, seeded, enough for choosing mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }
}

/// Bytes the parsers treat specially.
const INTERESTING: &[u8] = b"\0\xff\x7f\x80 \n\t:/`.09#-";

/// Sizes that hit boundaries: zero, odd, a header, a block, and too big.
const NUMBERS: &[u64] = &[
    0,
    1,
    2,
    59,
    60,
    61,
    511,
    512,
    513,
    65_535,
    1 << 24,
    1 << 32,
    9_999_999_999,
    10_000_000_000,
    u64::MAX,
];

/// Fill `out` with the next input: usually one to eight mutations of a
/// corpus entry, sometimes random bytes.
pub fn next_input(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if corpus.is_empty() || rng.below(16) == 0 {
        let len = rng.below(4096);
        out.extend((0..len).map(|_| rng.byte()));
        return;
    }
    out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    for _ in 0..=rng.below(8) {
        mutate(rng, corpus, out);
    }
}

/// Apply one mutation to `data`.
pub fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], data: &mut Vec<u8>) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(11) {
        0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => data[at.min(len - 1)] = rng.byte(),
        2 if len > 0 => data[at.min(len - 1)] = INTERESTING[rng.below(INTERESTING.len())],
        3 => {
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            data.splice(at..at, bytes);
        }
        4 => {
            let end = (at + 1 + rng.below(64)).min(len);
            data.drain(at..end);
        }
        5 if len > 0 => {
            // Copy a slice of the input over another place.
            let from = rng.below(len);
            let n = (1 + rng.below(256)).min(len - from);
            let piece = data[from..from + n].to_vec();
            let to = rng.below(len);
            let end = (to + n).min(len);
            data.splice(to..end, piece);
        }
        6 | 7 => {
            // A number over a size field: decimal (ar) or octal (tar).
            let n = if rng.below(4) == 0 {
                rng.next_u64() >> rng.below(64)
            } else {
                NUMBERS[rng.below(NUMBERS.len())]
            };
            let text = if rng.below(2) == 0 {
                format!("{n}")
            } else {
                format!("{n:011o}")
            };
            let end = (at + text.len()).min(len);
            data.splice(at..end, text.bytes());
        }
        8 => data.truncate(at),
        9 if !corpus.is_empty() => {
            // Splice: our head, another entry's tail.
            let other = &corpus[rng.below(corpus.len())];
            let from = rng.below(other.len() + 1);
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        _ => {
            let n = 1 + rng.below(8);
            data.splice(
                at..at,
                (0..n).map(|_| INTERESTING[rng.below(INTERESTING.len())]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let corpus = vec![
            b"!<arch>\ndebian-binary   0".to_vec(),
            b"Package: p\n".to_vec(),
        ];
        let inputs = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            (0..200)
                .map(|_| {
                    next_input(&mut rng, &corpus, &mut out);
                    out.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(inputs(7), inputs(7));
        assert_ne!(inputs(7), inputs(8));
        // The mutations change something most of the time.
        let changed = inputs(7).iter().filter(|i| !corpus.contains(i)).count();
        assert!(changed > 150, "{changed}");
    }
}
