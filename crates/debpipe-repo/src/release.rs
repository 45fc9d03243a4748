//! The Release file: its fields, the one hash set every index is listed
//! with (`MD5Sum`, `SHA1`, `SHA256`, `SHA512`: dpkg-scanpackages' and Debian's
//! archive's), rendering, and reading one back (a `Release`, or the
//! cleartext of an `InRelease`).
//!
//! A Release that older publishers wrote may list fewer hashes (pushrepo
//! before 0.2 wrote `MD5Sum` and `SHA256` only): [`parse_release`] keeps what it
//! finds, [`IndexSum::is_complete`] tells, and [`IndexSum::by_hash`] names
//! the copy under the strongest hash listed, which is where apt looks.

use std::fmt::Write as _;

use debpipe_core::{date, hex};
use md5::Digest as _;

/// The hash sections of a Release, weakest first, as apt reads them.
pub const HASHES: [&str; 4] = ["MD5Sum", "SHA1", "SHA256", "SHA512"];

/// Fields of the Release file that the publisher chooses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseFields {
    /// `Origin`
    pub origin: Option<String>,
    /// `Label`
    pub label: Option<String>,
    /// `Suite`
    pub suite: Option<String>,
    /// `Version`
    pub version: Option<String>,
    /// `Codename`
    pub codename: Option<String>,
    /// `Architectures`
    pub architectures: Option<String>,
    /// `Components`
    pub components: Option<String>,
    /// `Description`
    pub description: Option<String>,
    /// `Acquire-By-Hash: yes` (indexes have [`crate::byhash`] copies)
    pub acquire_by_hash: bool,
}

/// One index file as the Release lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSum {
    /// Path relative to the Release file's directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex digests in [`HASHES`] order: MD5, SHA-1, SHA-256, SHA-512 (""
    /// for one the Release did not list).
    pub sums: [String; 4],
}

impl IndexSum {
    /// Hash `data`, reusing the sums of `old` (the previous Release's
    /// entries) when it has all four and its size and SHA-256 match:
    /// SHA-256 is the cheap one.
    pub fn of_with_old(path: String, data: &[u8], old: &[IndexSum]) -> Self {
        if let Some(o) = old
            .iter()
            .find(|o| o.path == path && o.size == data.len() as u64 && o.is_complete())
            && o.sums[2] == sha256_hex(data)
        {
            return o.clone();
        }
        Self::of(path, data)
    }

    /// Hash `data`.
    pub fn of(path: String, data: &[u8]) -> Self {
        Self {
            path,
            size: data.len() as u64,
            sums: [
                hex::encode(&md5::Md5::digest(data)),
                hex::encode(&sha1::Sha1::digest(data)),
                sha256_hex(data),
                hex::encode(&sha2::Sha512::digest(data)),
            ],
        }
    }

    /// The SHA-256 (hex; "" when not listed).
    pub fn sha256(&self) -> &str {
        &self.sums[2]
    }

    /// Every hash of [`HASHES`] is listed.
    pub fn is_complete(&self) -> bool {
        self.sums.iter().all(|s| !s.is_empty())
    }

    /// The strongest hash listed: its section name and hex digest.
    pub fn strongest(&self) -> Option<(&'static str, &str)> {
        HASHES
            .iter()
            .zip(&self.sums)
            .rev()
            .find(|(_, s)| !s.is_empty())
            .map(|(n, s)| (*n, s.as_str()))
    }

    /// The key of this index's by-hash copy, relative to the Release's
    /// directory: `<dir>/by-hash/<strongest hash>/<hex>`, what apt fetches.
    pub fn by_hash(&self) -> String {
        let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
        let (name, sum) = self.strongest().unwrap_or(("SHA512", ""));
        let sub = crate::byhash::dir_for(name);
        if dir.is_empty() {
            format!("{sub}/{sum}")
        } else {
            format!("{dir}/{sub}/{sum}")
        }
    }
}

/// SHA-256 of `data` in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(data))
}

/// Render a Release file. `date` is the full `Date` value; `files` are
/// listed in the order given, each in every hash section it has a sum for.
pub fn render_release(fields: &ReleaseFields, date: &str, files: &[IndexSum]) -> String {
    let mut s = String::new();
    let header = [
        ("Origin", &fields.origin),
        ("Label", &fields.label),
        ("Suite", &fields.suite),
        ("Version", &fields.version),
        ("Codename", &fields.codename),
    ];
    for (name, v) in header {
        if let Some(v) = v {
            let _ = writeln!(s, "{name}: {v}");
        }
    }
    let _ = writeln!(s, "Date: {date}");
    if fields.acquire_by_hash {
        s.push_str("Acquire-By-Hash: yes\n");
    }
    for (name, v) in [
        ("Architectures", &fields.architectures),
        ("Components", &fields.components),
        ("Description", &fields.description),
    ] {
        if let Some(v) = v {
            let _ = writeln!(s, "{name}: {v}");
        }
    }
    for (i, section) in HASHES.iter().enumerate() {
        let _ = writeln!(s, "{section}:");
        for f in files.iter().filter(|f| !f.sums[i].is_empty()) {
            let _ = writeln!(s, " {} {:>16} {}", f.sums[i], f.size, f.path);
        }
    }
    s
}

/// What a Release (or InRelease) says about its indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    /// The indexes listed in any hash section, in the order first seen.
    pub sums: Vec<IndexSum>,
    /// `Date`, as Unix time (`None`: absent or unreadable).
    pub date: Option<i64>,
}

/// Read a Release, or the cleartext of an InRelease (the PGP armour's
/// lines do not start with a space, and reading stops at the signature).
/// A line of a hash section that is not `<hex> <size> <path>` is an error,
/// as in apt; lines of other multi-line fields are skipped.
pub fn parse_release(bytes: &[u8]) -> Result<Release, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut r = Release::default();
    let mut section = None;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("-----BEGIN PGP SIGNATURE") {
            break;
        }
        if !line.starts_with(' ') {
            section = HASHES.iter().position(|s| {
                line.strip_prefix(s)
                    .is_some_and(|rest| rest.trim_end() == ":")
            });
            if let Some(v) = line.strip_prefix("Date:") {
                r.date = date::parse(v);
            }
            continue;
        }
        let Some(i) = section else { continue };
        let bad = || {
            format!(
                "Release line {}: not `<hash> <size> <path>`: {line:?}",
                n + 1
            )
        };
        let mut w = line.split_ascii_whitespace();
        let (Some(sum), Some(size), Some(path), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            return Err(bad());
        };
        let size: u64 = size.parse().map_err(|_| bad())?;
        if sum.is_empty() || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let slot = if let Some(e) = r.sums.iter_mut().find(|e| e.path == path && e.size == size) {
            e
        } else {
            r.sums.push(IndexSum {
                path: path.to_string(),
                size,
                sums: Default::default(),
            });
            r.sums.last_mut().expect("just pushed")
        };
        slot.sums[i] = sum.to_ascii_lowercase();
    }
    Ok(r)
}

/// The Release text without its `Date:` line, and that date, for comparing
/// with a new one.
pub fn split_date(release: &str) -> (String, Option<i64>) {
    let mut rest = String::with_capacity(release.len());
    let mut when = None;
    for line in release.split_inclusive('\n') {
        if let Some(v) = line.strip_prefix("Date:") {
            when = date::parse(v);
        } else {
            rest.push_str(line);
        }
    }
    (rest, when)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip_with_four_hashes() {
        let sums = vec![
            IndexSum::of("contrib/binary-arm64/Packages.gz".into(), b"y"),
            IndexSum::of("main/binary-amd64/Packages".into(), b"x\n"),
        ];
        let fields = ReleaseFields {
            suite: Some("stable".into()),
            acquire_by_hash: true,
            ..ReleaseFields::default()
        };
        let text = render_release(&fields, &date::format(1_800_000_000), &sums);
        assert!(text.contains("Acquire-By-Hash: yes\n"), "{text}");
        for h in HASHES {
            assert!(text.contains(&format!("\n{h}:\n")), "{text}");
        }
        let back = parse_release(text.as_bytes()).unwrap();
        assert_eq!(back.date, Some(1_800_000_000));
        assert_eq!(back.sums, sums);
        assert_eq!(
            sums[1].by_hash(),
            format!(
                "main/binary-amd64/by-hash/SHA512/{}",
                hex::encode(&sha2::Sha512::digest(b"x\n"))
            )
        );
    }

    #[test]
    fn an_old_pushrepo_release_reads_with_by_hash_under_sha256() {
        let text = "Suite: s\nDate: Thu, 01 Jan 1970 00:00:10 UTC\nAcquire-By-Hash: yes\nMD5Sum:\n aa 2 main/binary-all/Packages\nSHA256:\n 00 2 main/binary-all/Packages\n";
        let r = parse_release(text.as_bytes()).unwrap();
        assert_eq!(r.sums.len(), 1);
        assert!(!r.sums[0].is_complete());
        assert_eq!(r.sums[0].sums[0], "aa");
        assert_eq!(r.sums[0].by_hash(), "main/binary-all/by-hash/SHA256/00");
        // An incomplete entry is hashed again, never reused.
        let again = IndexSum::of_with_old("main/binary-all/Packages".into(), b"x\n", &r.sums);
        assert!(again.is_complete());
        // and renders in the sections it has.
        let out = render_release(&ReleaseFields::default(), "d", &r.sums);
        assert!(
            out.ends_with(
                "SHA1:\nSHA256:\n 00                2 main/binary-all/Packages\nSHA512:\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn inrelease_armour_is_skipped_and_bad_sum_lines_are_errors() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nDate: Thu, 01 Jan 1970 00:00:10 UTC\nSHA256:\n 00 1 main/binary-all/Packages\n-----BEGIN PGP SIGNATURE-----\n\n 11 2 not/a/sum\n-----END PGP SIGNATURE-----\n";
        let p = parse_release(text.as_bytes()).unwrap();
        assert_eq!(p.date, Some(10));
        assert_eq!(p.sums.len(), 1);
        for bad in [
            "SHA256:\n 00 x p\n",
            "SHA256:\n 00 1\n",
            "SHA256:\n zz 1 p\n",
        ] {
            assert!(
                parse_release(bad.as_bytes())
                    .unwrap_err()
                    .contains("line 2"),
                "{bad}"
            );
        }
        // Other multi-line fields are not sums.
        assert!(parse_release(b"Description: d\n more words here\n").is_ok());
    }
}
