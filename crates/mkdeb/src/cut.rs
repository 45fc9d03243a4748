//! Where the tar stream is cut into independent gzip members.
//!
//! gzip readers read concatenated members as one stream, so the data
//! member can be a row of members compressed apart: in parallel,
//! and, with a [`cache`](crate::cache), reused from an earlier build when
//! their bytes did not change. Reuse needs the same cuts wherever the bytes
//! are the same, so a cut depends on the entries near it, not on its offset
//! in the stream (content-defined chunking, at tar-entry granularity):
//!
//! - before an entry whose name hashes to an *anchor* (one name in
//!   [`Limits::anchor_every`]), once the member holds [`Limits::min`] bytes;
//! - before an entry that would take the member past [`Limits::max`];
//! - before a big entry (half of `max` or more), which so starts its own
//!   member(s): it is then cut every `max` bytes from its header on, the same
//!   places whatever came before it;
//! - when the member holds `max` bytes (inside a big entry only).
//!
//! A changed file (other bytes, another length) changes its member; the
//! next anchor past `min` in both builds, or the next big entry, puts the
//! cuts back in step, so a version bump recompresses a member or two around
//! each changed file. The rule depends on the names, lengths and format
//! only: a build with a cache writes the same bytes as a build without.

use crate::compress::Format;

/// Member sizes for a format, in bytes of tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// No anchor cut before a member holds this much.
    pub min: usize,
    /// A member never holds more.
    pub max: usize,
    /// One entry name in this many (a power of two) is an anchor.
    pub anchor_every: u64,
}

impl Limits {
    /// The limits of a format written as independent members: gzip, whose
    /// 32 KiB window makes members of 0.5-1 MiB cost little (the size stays
    /// within 1% of dpkg-deb's one stream). `None` for the others, which
    /// are one stream: xz and no compression, and zstd, whose frames dpkg
    /// does not read past the first (see [`compress`](crate::compress)).
    pub fn of(format: Format) -> Option<Self> {
        match format {
            Format::Gzip => Some(Self {
                min: 512 << 10,
                max: 1 << 20,
                anchor_every: 16,
            }),
            Format::Xz | Format::Zstd | Format::None => None,
        }
    }

    /// Whether to end the member, holding `held` bytes, before an entry of
    /// `len` bytes (header, content and padding) named `name`.
    pub fn cut_before(&self, held: usize, len: u64, name: &[u8]) -> bool {
        let (held64, max) = (held as u64, self.max as u64);
        held > 0
            && (len >= max / 2
                || held64 + len > max
                || (held >= self.min && anchor(name).is_multiple_of(self.anchor_every)))
    }
}

/// FNV-1a of an entry's name: stable across builds and versions, so that
/// cuts (and cached members) stay where they were.
fn anchor(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cuts of a stream of entries `(name, len)`: member lengths, with
    /// big entries cut every `max` bytes as the chunker does.
    fn members(l: &Limits, entries: &[(String, u64)]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut held = 0u64;
        for (name, len) in entries {
            if l.cut_before(usize::try_from(held).unwrap(), *len, name.as_bytes()) {
                out.push(held);
                held = 0;
            }
            held += len;
            while held >= l.max as u64 {
                out.push(l.max as u64);
                held -= l.max as u64;
            }
        }
        if held > 0 {
            out.push(held);
        }
        out
    }

    fn tree(n: usize, len: impl Fn(usize) -> u64) -> Vec<(String, u64)> {
        (0..n)
            .map(|i| (format!("./opt/venvs/app/lib/f{i:05}.py"), len(i)))
            .collect()
    }

    /// How many members at the end of `a` and `b` are the same: past a
    /// change, the two streams hold the same entries again.
    fn shared(a: &[u64], b: &[u64]) -> usize {
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
    }

    #[test]
    fn members_stay_within_limits() {
        let l = Limits::of(Format::Gzip).unwrap();
        let t = tree(4000, |i| 512 + (i as u64 * 7919) % 40_000);
        let m = members(&l, &t);
        assert_eq!(m.iter().sum::<u64>(), t.iter().map(|e| e.1).sum::<u64>());
        assert!(m.iter().all(|&x| x <= l.max as u64), "{m:?}");
        // All but the last reach min (no anchor cut before it).
        assert!(m[..m.len() - 1].iter().all(|&x| x >= l.min as u64), "{m:?}");
    }

    #[test]
    fn a_changed_entry_changes_only_the_members_around_it() {
        let format = Format::Gzip;
        let l = Limits::of(format).unwrap();
        let t = tree(20_000, |i| 512 + (i as u64 * 7919) % 20_000);
        let mut bumped = t.clone();
        bumped[300].1 += 4096;
        let (a, b) = (members(&l, &t), members(&l, &bumped));
        let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let tail = shared(&a, &b);
        // The member holding entry 300 changes, and at most the next
        // one or two; all others are the same.
        assert!(
            head + tail + 3 >= a.len(),
            "{format:?}: {head} + {tail} of {}",
            a.len()
        );
        assert!(a.len() > 10, "{format:?}: {}", a.len());
    }

    #[test]
    fn big_entries_are_cut_at_the_same_places_whatever_precedes_them() {
        let l = Limits::of(Format::Gzip).unwrap();
        let big = ("./big.so".to_string(), 5 * l.max as u64 + 1234);
        let a = members(&l, &[("./a".into(), 1000), big.clone()]);
        let b = members(&l, &[("./a".into(), 3000), big]);
        assert_eq!(a[1..], b[1..]);
        assert_eq!(a[1], l.max as u64);
    }

    #[test]
    fn anchors_are_stable() {
        // The cut rule is part of the output: a new hash would move every
        // cut (and miss every cached member).
        assert_eq!(anchor(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(anchor(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
