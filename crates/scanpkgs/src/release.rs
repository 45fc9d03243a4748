//! Release files: the fields, rendering the checksum lists and reading them back.

use crate::deb::hex;
use debpipe_core::date;
use md5::Digest as _;
use std::fmt::Write as _;

/// Fields of the Release file that the user chooses.
#[derive(Debug, Clone, Default)]
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
    /// `Architectures` (default in the dists layout: the `binary-*` found)
    pub architectures: Option<String>,
    /// `Components` (default in the dists layout: the components found)
    pub components: Option<String>,
    /// `Description`
    pub description: Option<String>,
    /// `Acquire-By-Hash: yes` (the dists layout, whose indexes have by-hash
    /// copies)
    pub acquire_by_hash: bool,
}

/// One index file as the Release lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSum {
    /// Path relative to the Release file's directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex digests: MD5, SHA-1, SHA-256, SHA-512.
    pub sums: [String; 4],
}

impl IndexSum {
    /// Hash `data`, reusing the sums of `old` (the previous Release's
    /// entries) when its size and SHA-256 match: SHA-256 is the cheap one.
    pub fn of_with_old(path: String, data: &[u8], old: &[IndexSum]) -> Self {
        if let Some(o) = old
            .iter()
            .find(|o| o.path == path && o.size == data.len() as u64)
            && o.sums[2] == hex(&sha2::Sha256::digest(data))
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
                hex(&md5::Md5::digest(data)),
                hex(&sha1::Sha1::digest(data)),
                hex(&sha2::Sha256::digest(data)),
                hex(&sha2::Sha512::digest(data)),
            ],
        }
    }
}

/// Render a Release file. `date` is the full `Date` value.
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
    for (i, section) in ["MD5Sum", "SHA1", "SHA256", "SHA512"].iter().enumerate() {
        let _ = writeln!(s, "{section}:");
        for f in files {
            let _ = writeln!(s, " {} {:>16} {}", f.sums[i], f.size, f.path);
        }
    }
    s
}

/// The entries of a Release file's hash sections (those with all four).
pub fn parse_release_sums(release: &str) -> Vec<IndexSum> {
    let mut by_path: Vec<IndexSum> = Vec::new();
    let mut section = None;
    for line in release.lines() {
        if !line.starts_with(' ') {
            section = ["MD5Sum:", "SHA1:", "SHA256:", "SHA512:"]
                .iter()
                .position(|s| line.trim_end() == *s);
            continue;
        }
        let Some(i) = section else { continue };
        let mut w = line.split_ascii_whitespace();
        let (Some(sum), Some(size), Some(path), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let Ok(size) = size.parse() else { continue };
        let slot = if let Some(e) = by_path
            .iter_mut()
            .find(|e| e.path == path && e.size == size)
        {
            e
        } else {
            by_path.push(IndexSum {
                path: path.to_string(),
                size,
                sums: Default::default(),
            });
            by_path.last_mut().expect("just pushed")
        };
        slot.sums[i] = sum.to_string();
    }
    by_path.retain(|e| e.sums.iter().all(|s| !s.is_empty()));
    by_path
}

/// The Release text without its `Date:` line, and that date, for comparing
/// with a new one.
pub(crate) fn split_date(release: &str) -> (String, Option<i64>) {
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
