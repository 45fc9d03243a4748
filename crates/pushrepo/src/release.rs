//! The dist's `Release`: rendering it with `Acquire-By-Hash: yes` and
//! reading back the one (or the `InRelease`) found on the remote.
//!
//! The checksum sections are `MD5Sum` and `SHA256`, as Debian's archive writes
//! them: apt fetches `by-hash/` with the strongest hash listed, so listing
//! SHA256 as the strongest means `by-hash/SHA256/<hex>` is what it asks for.
//! (scanpkgs' Release also lists SHA1 and SHA512, so its by-hash copies,
//! in the dists layout, are under `by-hash/SHA512/`.)

use std::fmt::Write as _;

use debpipe_core::{date, hex};
use md5::Digest as _;

/// One index as a Release lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    /// Path relative to `dists/<dist>/`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5, hex ("" when the Release had none).
    pub md5: String,
    /// SHA-256, hex.
    pub sha256: String,
}

impl Sum {
    /// Hash `data` stored at `path`.
    pub fn of(path: String, data: &[u8]) -> Self {
        Self {
            path,
            size: data.len() as u64,
            md5: hex::encode(&md5::Md5::digest(data)),
            sha256: sha256_hex(data),
        }
    }

    /// The by-hash key of this index, relative to `dists/<dist>/`.
    pub fn by_hash(&self) -> String {
        let dir = self.path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/by-hash/SHA256/{}", self.sha256)
    }
}

/// SHA-256 of `data` in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&sha2::Sha256::digest(data))
}

/// What pushrepo reads from a Release (or InRelease).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The indexes with a SHA256.
    pub sums: Vec<Sum>,
    /// `Date`, as Unix time.
    pub date: Option<i64>,
}

/// Read a Release or the cleartext of an InRelease. Lines inside the PGP
/// armour do not start with a space, so they never look like sums.
pub fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut md5: Vec<(String, u64, String)> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if line.starts_with("-----BEGIN PGP SIGNATURE") {
            break;
        }
        if !line.starts_with(' ') {
            section = line.trim_end();
            if let Some(v) = line.strip_prefix("Date:") {
                p.date = date::parse(v);
            }
            continue;
        }
        let mut w = line.split_ascii_whitespace();
        let (Some(sum), Some(size), Some(path), None) = (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let Ok(size) = size.parse() else { continue };
        match section {
            "SHA256:" => p.sums.push(Sum {
                path: path.into(),
                size,
                md5: String::new(),
                sha256: sum.into(),
            }),
            "MD5Sum:" => md5.push((path.into(), size, sum.into())),
            _ => {}
        }
    }
    for s in &mut p.sums {
        if let Some((_, _, m)) = md5.iter().find(|(p, n, _)| *p == s.path && *n == s.size) {
            s.md5.clone_from(m);
        }
    }
    p
}

/// The fields of a dist's Release.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    /// `Origin`
    pub origin: Option<String>,
    /// `Label`
    pub label: Option<String>,
    /// `Suite` and `Codename`
    pub dist: String,
}

/// `main/binary-amd64/Packages` -> (`main`, `amd64`).
pub fn component_arch(path: &str) -> Option<(&str, &str)> {
    let mut parts = path.split('/');
    let comp = parts.next()?;
    let arch = parts.next()?.strip_prefix("binary-")?;
    Some((comp, arch))
}

/// Render the Release for `sums` (sorted by path here). Architectures and
/// Components are those of the listed indexes.
pub fn render(fields: &Fields, date: i64, sums: &[Sum]) -> String {
    let mut sums = sums.to_vec();
    sums.sort_by(|a, b| a.path.cmp(&b.path));
    let mut archs: Vec<&str> = Vec::new();
    let mut comps: Vec<&str> = Vec::new();
    for s in &sums {
        if let Some((c, a)) = component_arch(&s.path) {
            if !comps.contains(&c) {
                comps.push(c);
            }
            if !archs.contains(&a) {
                archs.push(a);
            }
        }
    }
    archs.sort_unstable();
    let mut out = String::new();
    for (name, v) in [("Origin", &fields.origin), ("Label", &fields.label)] {
        if let Some(v) = v {
            let _ = writeln!(out, "{name}: {v}");
        }
    }
    let _ = writeln!(out, "Suite: {}", fields.dist);
    let _ = writeln!(out, "Codename: {}", fields.dist);
    let _ = writeln!(out, "Date: {}", date::format(date));
    let _ = writeln!(out, "Architectures: {}", archs.join(" "));
    let _ = writeln!(out, "Components: {}", comps.join(" "));
    out.push_str("Acquire-By-Hash: yes\n");
    out.push_str("MD5Sum:\n");
    for s in sums.iter().filter(|s| !s.md5.is_empty()) {
        let _ = writeln!(out, " {} {:>16} {}", s.md5, s.size, s.path);
    }
    out.push_str("SHA256:\n");
    for s in &sums {
        let _ = writeln!(out, " {} {:>16} {}", s.sha256, s.size, s.path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip_with_by_hash() {
        let sums = vec![
            Sum::of("main/binary-amd64/Packages".into(), b"x\n"),
            Sum::of("contrib/binary-arm64/Packages.gz".into(), b"y"),
        ];
        let text = render(
            &Fields {
                dist: "stable".into(),
                ..Fields::default()
            },
            1_800_000_000,
            &sums,
        );
        assert!(text.contains("Acquire-By-Hash: yes\n"), "{text}");
        assert!(text.contains("Architectures: amd64 arm64\n"), "{text}");
        assert!(text.contains("Components: contrib main\n"), "{text}");
        let back = parse(&text);
        assert_eq!(back.date, Some(1_800_000_000));
        assert_eq!(back.sums.len(), 2);
        assert_eq!(back.sums[1], sums[0]);
        assert_eq!(
            sums[0].by_hash(),
            format!("main/binary-amd64/by-hash/SHA256/{}", sha256_hex(b"x\n"))
        );
    }

    #[test]
    fn inrelease_armour_is_skipped() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nDate: Thu, 01 Jan 1970 00:00:10 UTC\nSHA256:\n 00 1 main/binary-all/Packages\n-----BEGIN PGP SIGNATURE-----\n\n 11 2 not/a/sum\n-----END PGP SIGNATURE-----\n";
        let p = parse(text);
        assert_eq!(p.date, Some(10));
        assert_eq!(p.sums.len(), 1);
    }
}
