//! One `Packages` index as a publisher holds it: the stanzas read from the
//! store, kept byte for byte, plus new ones made from .debs; merging,
//! retention (`--keep`), pool paths and rendering in dpkg-scanpackages'
//! order. (scanpkgs renders a whole index from its scan with
//! [`crate::stanza::Stanza::render`], in the same field order.)

use std::cmp::Ordering;

use crate::deb::DebInfo;
use crate::stanza::Stanza;
use debpipe_core::hex::encode as hex;
use debpipe_core::version;

/// One stanza and the fields pushrepo decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `Package`
    pub package: String,
    /// `Version`
    pub version: String,
    /// `Architecture`
    pub arch: String,
    /// `Filename` (the pool key)
    pub filename: String,
    /// `SHA256` of the .deb
    pub sha256: String,
    /// The stanza's text, ending in one newline.
    pub text: Vec<u8>,
}

/// The identity of a package in an index.
pub type Id<'a> = (&'a str, &'a str, &'a str);

impl Entry {
    /// (package, version, architecture)
    pub fn id(&self) -> Id<'_> {
        (&self.package, &self.version, &self.arch)
    }

    /// The stanza for a .deb, stored in the pool of `component`.
    pub fn from_deb(info: &DebInfo, component: &str) -> Result<Self, String> {
        let mut st = Stanza::parse(&info.control)?;
        let field = |st: &Stanza, name: &str| -> Result<String, String> {
            let v = st.get_str(name);
            if v.is_empty() {
                Err(format!("control file has no {name} field"))
            } else {
                Ok(v)
            }
        };
        let package = field(&st, "Package")?;
        let version = field(&st, "Version")?;
        let arch = field(&st, "Architecture")?;
        for (what, v) in [
            ("Package", &package),
            ("Version", &version),
            ("Architecture", &arch),
        ] {
            if v.contains(['/', ' ', '\n']) || v.starts_with('.') {
                return Err(format!("control field {what} has an unusable value {v:?}"));
            }
        }
        let filename = pool_key(component, &package, &version, &arch);
        st.set(b"Filename", filename.as_bytes());
        st.set(b"Size", info.size.to_string());
        st.set(b"MD5sum", hex(&info.md5));
        st.set(b"SHA1", hex(&info.sha1));
        st.set(b"SHA256", hex(&info.sha256));
        let mut text = Vec::new();
        st.render(&mut text);
        Ok(Self {
            package,
            version,
            arch,
            filename,
            sha256: hex(&info.sha256),
            text,
        })
    }
}

/// Parse a Packages file into its stanzas, each kept byte for byte (as
/// UTF-8, invalid bytes replaced). A stanza without Package, Version or
/// Filename is an error (the index is not one we can merge).
pub fn parse_packages(text: &[u8]) -> Result<Vec<Entry>, String> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut lineno = 0;
    let mut flush = |cur: &mut String, lineno: usize| -> Result<(), String> {
        if cur.trim().is_empty() {
            cur.clear();
            return Ok(());
        }
        let get = |name: &str| {
            cur.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let e = Entry {
            package: get("Package"),
            version: get("Version"),
            arch: get("Architecture"),
            filename: get("Filename"),
            sha256: get("SHA256"),
            text: std::mem::take(cur).into_bytes(),
        };
        if e.package.is_empty() || e.version.is_empty() || e.filename.is_empty() {
            return Err(format!(
                "stanza ending at line {lineno} lacks Package, Version or Filename"
            ));
        }
        out.push(e);
        Ok(())
    };
    for line in text.split_inclusive('\n') {
        lineno += 1;
        if line.trim().is_empty() {
            flush(&mut cur, lineno)?;
        } else {
            cur.push_str(line);
            if !line.ends_with('\n') {
                cur.push('\n');
            }
        }
    }
    flush(&mut cur, lineno)?;
    Ok(out)
}

/// Order stanzas as dpkg-scanpackages -m: by package name, then version.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        a.package
            .cmp(&b.package)
            .then_with(|| version::compare(a.version.as_bytes(), b.version.as_bytes()))
            .then_with(|| a.arch.cmp(&b.arch))
    });
}

/// Render stanzas, blank line after each.
pub fn render(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.text.len() + 1).sum());
    for e in entries {
        out.extend_from_slice(&e.text);
        out.push(b'\n');
    }
    out
}

/// What adding one stanza did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// It was new.
    New,
    /// The same package, version and architecture with the same SHA256 was there.
    Same,
    /// The same identity with different contents: holds the listed SHA256.
    Different(String),
}

/// Add `e` unless its identity is listed.
pub fn add(entries: &mut Vec<Entry>, e: Entry) -> Added {
    if let Some(old) = entries.iter().find(|o| o.id() == e.id()) {
        return if old.sha256 == e.sha256 {
            Added::Same
        } else {
            Added::Different(old.sha256.clone())
        };
    }
    entries.push(e);
    Added::New
}

/// Keep the newest `keep` versions of each package (per architecture);
/// returns the stanzas dropped.
pub fn retain_newest(entries: &mut Vec<Entry>, keep: usize) -> Vec<Entry> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&entries[a], &entries[b]);
        (x.package.as_str(), x.arch.as_str())
            .cmp(&(y.package.as_str(), y.arch.as_str()))
            .then_with(|| version::compare(y.version.as_bytes(), x.version.as_bytes()))
    });
    let mut drop = vec![false; entries.len()];
    let mut run = 0;
    for (i, &idx) in order.iter().enumerate() {
        let same_group = i > 0 && {
            let (p, q) = (&entries[order[i - 1]], &entries[idx]);
            p.package == q.package && p.arch == q.arch
        };
        run = if same_group { run + 1 } else { 1 };
        if run > keep {
            drop[idx] = true;
        }
    }
    let mut dropped = Vec::new();
    let mut kept = Vec::with_capacity(entries.len());
    for (e, d) in std::mem::take(entries).into_iter().zip(drop) {
        if d { dropped.push(e) } else { kept.push(e) }
    }
    *entries = kept;
    dropped
}

/// `pool/<component>/<l>/<package>/<package>_<version>_<arch>.deb`, where
/// `<l>` is the first letter, or `libX` for `lib*`, and the version loses
/// its epoch, as in Debian's pool.
pub fn pool_key(component: &str, package: &str, version: &str, arch: &str) -> String {
    let ver = version.split_once(':').map_or(version, |(_, v)| v);
    format!(
        "{}/{package}_{ver}_{arch}.deb",
        debpipe_core::pool::dir(component, package)
    )
}

/// Is `a` newer than `b` (Debian version order)?
pub fn newer(a: &str, b: &str) -> bool {
    version::compare(a.as_bytes(), b.as_bytes()) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(p: &str, v: &str, sha: &str) -> Entry {
        let text = format!(
            "Package: {p}\nVersion: {v}\nArchitecture: amd64\nFilename: {}\nSHA256: {sha}\n",
            pool_key("main", p, v, "amd64")
        );
        parse_packages(text.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn parse_render_round_trips_bytes() {
        let text = b"Package: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nDescription: x\n y\n .\n z\nSHA256: 00\n\nPackage: b\nVersion: 2\nFilename: pool/b.deb\n\n";
        let entries = parse_packages(text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].arch, "all");
        assert_eq!(entries[0].sha256, "00");
        assert_eq!(render(&entries), text);
        assert!(
            parse_packages(b"Package: a\n\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn add_is_new_same_or_different() {
        let mut v = vec![e("a", "1", "aa")];
        assert_eq!(add(&mut v, e("a", "1", "aa")), Added::Same);
        assert_eq!(
            add(&mut v, e("a", "1", "bb")),
            Added::Different("aa".into())
        );
        assert_eq!(add(&mut v, e("a", "2", "cc")), Added::New);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn keep_newest_by_debian_version_order() {
        let mut v = vec![
            e("a", "1.10", "1"),
            e("a", "1.9", "2"),
            e("a", "1:0.1", "3"),
            e("a", "1.10~rc1", "4"),
            e("b", "1", "5"),
        ];
        let dropped = retain_newest(&mut v, 2);
        let kept: Vec<&str> = v.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(kept, ["1.10", "1:0.1", "1"]);
        let gone: Vec<&str> = dropped.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(gone, ["1.9", "1.10~rc1"]);
        sort(&mut v);
        assert_eq!(v[1].version, "1:0.1");
    }

    #[test]
    fn pool_keys_as_debian() {
        assert_eq!(
            pool_key("main", "hello", "1:2.0+b1", "amd64"),
            "pool/main/h/hello/hello_2.0+b1_amd64.deb"
        );
        assert_eq!(
            pool_key("main", "libfoo1", "1", "all"),
            "pool/main/libf/libfoo1/libfoo1_1_all.deb"
        );
        assert_eq!(
            pool_key("c", "lib", "1", "all"),
            "pool/c/l/lib/lib_1_all.deb"
        );
    }
}
